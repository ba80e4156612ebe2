/*
 * notify.c - notifications to a handle's owner. Where a control
 * connection lives is rpc/'s business: it registers the function that
 * delivers a line, and kinds send through here.
 */
#include <stdlib.h>

#include "handle.h"
#include "rpc.h"

static notify_fn deliver;

void handle_set_notify(notify_fn fn)
{
    deliver = fn;
}

void handle_notify(int worker, uint64_t conn_id, char *line, int credit_worker, uint64_t credit_seq)
{
    if (!deliver || !line) {
        free(line);
        return;
    }
    deliver(worker, conn_id, line, credit_worker, credit_seq);
}

void handle_notify_closed(struct handle *h, const char *reason)
{
    if (!(h->kept || h->looped) || h->closed_told)
        return;
    h->closed_told = true;
    char *line = netd_rpc_notification("closed",
                                       json_pack("{s:s,s:s}", "handle", h->name, "reason", reason));
    handle_notify(h->notify_worker, h->owner_conn, line, -1, 0);
}
