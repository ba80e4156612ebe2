/*
 * loop.c - `accept-loop` and `server`: a listener that accepts on its own
 * and tells its client about each connection with an `accepted`
 * notification; and `closed` notifications for handles that end on their
 * own.
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

#include "netd.h"
#include "rpc.h"

#define NOTIFY_WINDOW 64

struct credit_msg {
    struct msg hdr;
    uint64_t seq;
};

static void on_credit(struct worker *w, struct msg *m)
{
    struct handle *l = idmap_get(&w->handles, ((struct credit_msg *)m)->seq);
    free(m);
    if (!l || l->state == HS_CLOSED || l->kind != HK_LISTENER)
        return;
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

bool loop_can_accept(const struct handle *l)
{
    return l->looping && l->loop_unacked < NOTIFY_WINDOW;
}

/* A connection accepted by the loop: its handle belongs to the loop's
 * connection (kept when the listener is kept) and the client hears of it. */
void loop_accepted(struct handle *l, int fd)
{
    struct handle *h =
        handle_create(l->w, l->loop_conn, l->loop_worker, l->uid, l->kept, HK_STREAM);
    if (!h) {
        netd_log(LOG_WARN, "%s: uid %u is at --max-handles; refusing an accepted connection",
                 l->name, (unsigned)l->uid);
        close(fd);
        return;
    }
    accepted_start(l, h, fd);
    h->looped = true;
    h->hostname = strdup(l->name);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    json_t *peer = getpeername(fd, (struct sockaddr *)&ss, &len) == 0
                       ? sockaddr_json((struct sockaddr *)&ss, len)
                       : json_null();
    char *line = netd_rpc_notification("accepted", json_pack("{s:s,s:s,s:o}", "listener", l->name,
                                                             "handle", h->name, "peer", peer));
    l->loop_unacked++;
    control_notify(l->loop_worker, l->loop_conn, line, l->w->index, l->seq);
    stream_update(h);
}

/* Tells the owner of @h that it ended without being asked to. */
void loop_notify_closed(struct handle *h, const char *reason)
{
    if (!(h->kept || h->looped) || h->closed_told)
        return;
    h->closed_told = true;
    char *line = netd_rpc_notification("closed",
                                       json_pack("{s:s,s:s}", "handle", h->name, "reason", reason));
    control_notify(h->notify_worker, h->owner_conn, line, -1, 0);
}

static int start_loop(struct handle *l, struct req *r)
{
    if (l->looping) {
        req_fail(r, NETD_E_PARAMS, NULL, "%s already has an accept loop", l->name);
        return -1;
    }
    l->looping = true;
    l->loop_conn = r->conn_id;
    l->loop_worker = r->conn_worker;
    l->loop_unacked = 0;
    listener_update(l);
    return 0;
}

void m_accept_loop(struct worker *w, struct req *r)
{
    struct handle *l = handle_get_kind(w, r, "handle", 1u << HK_LISTENER);
    if (!l || start_loop(l, r) < 0)
        return;
    /* The answer comes when the listener closes. */
    req_park(r, l, &l->loopers, WK_ACCEPT, NULL);
}

/* `server`: `listen`, and once it succeeds an accept loop; see listener.c. */
void loop_server_ready(struct handle *l, struct req *r)
{
    start_loop(l, r);
}

/* The loop's connection ended: the listener stops accepting for it. */
void loop_conn_gone(struct handle *l, uint64_t conn_id)
{
    if (l->looping && l->loop_conn == conn_id) {
        l->looping = false;
        listener_update(l);
    }
}

/* The listener closed: the accept-loop call is answered with its handle. */
void loop_listener_closed(struct handle *l)
{
    while (l->loopers.head) {
        struct req *r = l->loopers.head;
        req_unpark(r);
        req_ok(r, json_pack("{s:s}", "handle", l->name));
    }
    l->looping = false;
}
