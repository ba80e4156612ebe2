/*
 * loop.c - accept loops (`accept-loop`, `server`): a listener that accepts
 * on its own and tells its client about each connection with an `accepted`
 * notification.
 *
 * Notifications are flow-controlled: a listener has at most NOTIFY_WINDOW
 * notifications its client has not yet taken off netd's hands. The
 * connection's worker gives a credit back for each one once the client's
 * answer backlog is under --out-low; a listener out of credit stops
 * accepting, and new connections wait in the kernel's backlog. So a client
 * that never reads its notifications costs netd at most NOTIFY_WINDOW
 * notifications per listener, and loses none.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kind.h"
#include "rpc.h"

#define NOTIFY_WINDOW 64

struct credit_msg {
    struct msg hdr;
    uint64_t seq;
};

static void on_credit(struct worker *w, struct msg *m)
{
    struct handle *h = handle_find(w, ((struct credit_msg *)m)->seq);
    free(m);
    /* Only listeners give credits out; seqs are never reused. */
    if (!h)
        return;
    struct listener *l = listener_of(h);
    if (l->loop_unacked > 0)
        l->loop_unacked--;
    listener_update(l);
}

void loop_credit(int worker, uint64_t seq)
{
    struct credit_msg *m = calloc(1, sizeof *m);
    m->hdr.fn = on_credit;
    m->seq = seq;
    worker_post(worker, &m->hdr);
}

bool loop_can_accept(const struct listener *l)
{
    return l->looping && l->loop_unacked < NOTIFY_WINDOW;
}

/* A connection accepted by the loop: its handle belongs to the loop's
 * connection (kept when the listener is kept) and the client hears of it. */
void loop_accepted(struct listener *l, int fd)
{
    struct handle *h =
        handle_create(l->h.w, l->loop_conn, l->loop_worker, l->h.ident, l->h.kept, &stream_ops);
    if (!h) {
        netd_log(LOG_WARN, "%s: uid %u is at --max-handles; refusing an accepted connection",
                 l->h.name, (unsigned)l->h.uid);
        close(fd);
        return;
    }
    l->acc->adopt(l, sock_of(h));
    h->looped = true;
    h->hostname = strdup(l->h.name);
    sock_start(sock_of(h), fd);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    json_t *peer = getpeername(fd, (struct sockaddr *)&ss, &len) == 0
                       ? sockaddr_json((struct sockaddr *)&ss, len)
                       : json_null();
    char *line = netd_rpc_notification("accepted", json_pack("{s:s,s:s,s:o}", "listener", l->h.name,
                                                             "handle", h->name, "peer", peer));
    l->loop_unacked++;
    handle_notify(l->loop_worker, l->loop_conn, line, l->h.w->index, l->h.seq);
}

int loop_start(struct listener *l, struct req *r)
{
    if (l->looping) {
        req_fail(r, NETD_E_PARAMS, NULL, "%s already has an accept loop", l->h.name);
        return -1;
    }
    l->looping = true;
    l->loop_conn = r->conn_id;
    l->loop_worker = r->conn_worker;
    l->loop_unacked = 0;
    listener_update(l);
    return 0;
}

/* `accept-loop`: the answer comes when the listener closes. */
void loop_park(struct listener *l, struct req *r)
{
    handle_park(r, &l->h, &l->loopers, WK_ACCEPT, NULL);
}

/* The loop's connection ended: the listener stops accepting for it. */
void loop_conn_gone(struct listener *l, uint64_t conn_id)
{
    if (l->looping && l->loop_conn == conn_id) {
        l->looping = false;
        listener_update(l);
    }
}

/* The listener closed: the accept-loop call is answered with its handle. */
void loop_listener_closed(struct listener *l)
{
    while (l->loopers.head) {
        struct req *r = l->loopers.head;
        req_unpark(r);
        req_ok(r, json_pack("{s:s}", "handle", l->h.name));
    }
    l->looping = false;
}
