/*
 * fd.c - handles whose socket comes from or goes to the caller as a
 * descriptor: `pair`, `release`, `assign`; and `disconnect`, which
 * dissolves a socket's association with its peer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kind.h"

int param_socktype(const struct req *r)
{
    const char *t = param_str(r, "type");
    return t && strcmp(t, "datagram") == 0 ? SOCK_DGRAM : SOCK_STREAM;
}

void sock_pair(struct worker *w, struct req *r, int type)
{
    int sv[2];
    /* As the caller: both ends belong to it and carry its credentials. */
    int rc = creds_socketpair(r->ident, AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
    if (rc < 0) {
        req_fail_errno(r, -rc, "socketpair");
        return;
    }
    const struct handle_ops *ops = type == SOCK_DGRAM ? &dgram_ops : &stream_ops;
    bool keep = param_bool(r, "keep", false);
    struct handle *a = handle_create(w, r->conn_id, r->conn_worker, r->ident, keep, ops);
    struct handle *b = a ? handle_create(w, r->conn_id, r->conn_worker, r->ident, keep, ops) : NULL;
    if (!b) {
        if (a)
            handle_close(a, "limit");
        close(sv[0]);
        close(sv[1]);
        handle_fail_quota(r);
        return;
    }
    a->type = b->type = type;
    sock_start(sock_of(a), sv[0]);
    sock_start(sock_of(b), sv[1]);
    req_ok(r, json_pack("{s:[s,s]}", "handles", a->name, b->name));
}

static bool refuse_held(struct req *r, const char *held, const char *kind)
{
    req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", held),
             "a %s %s cannot be released: its session state lives in netd", held, kind);
    return false;
}

/* The sock kinds' releasable: the transport must be one the descriptor
 * alone carries, and netd must hold no byte of the stream. */
bool sock_releasable(struct handle *h, struct req *r, bool dup)
{
    struct sock *s = sock_of(h);
    if (relay_refuse(s, r, "release"))
        return false;
    if (s->tp && !(s->tp->caps & TP_CAN_RELEASE))
        return refuse_held(r, s->tp->name, handle_kind_name(h->ops->kind));
    if (h->fd < 0 || h->state != HS_SUCCESS) {
        req_fail_errno(r, ENOTCONN, "release");
        return false;
    }
    /* Bytes netd read but did not deliver, or accepted but did not send,
     * cannot go with the descriptor: the caller takes them first. */
    if (!dup && (buf_used(&s->rbuf) > 0 || s->wq_bytes > 0)) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "%s has %zu bytes read but not delivered and %zu not yet sent; read them or "
                 "wait for \"drained\" first",
                 h->name, buf_used(&s->rbuf), s->wq_bytes);
        return false;
    }
    return true;
}

bool listener_releasable(struct handle *h, struct req *r, bool dup)
{
    struct listener *l = listener_of(h);
    if (l->acc && !l->acc->releasable)
        return refuse_held(r, l->acc->name, "listener");
    if (h->fd < 0 || h->state != HS_SUCCESS) {
        req_fail_errno(r, ENOTCONN, "release");
        return false;
    }
    if (dup) {
        /* Another process accepting on the same listener could leave netd's
         * accept waiting on a connection that is gone. */
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", "listener"),
                 "a listener cannot be shared; release it without dup");
        return false;
    }
    return true;
}

/* The descriptor leaves netd with the answer; the handle ends quietly,
 * and calls still waiting on it end with `aborted`, as in Asio. */
void handle_release(struct handle *h, struct req *r, bool dup)
{
    if (!h->ops->releasable(h, r, dup))
        return;
    if (dup) {
        /* lua-net's sock:fd(): the caller shares the socket, netd keeps it. */
        r->pass_fd = fcntl(h->fd, F_DUPFD_CLOEXEC, 0);
        if (r->pass_fd < 0)
            req_fail_errno(r, errno, "release");
        else
            req_ok(r, json_object());
        return;
    }
    int fd = handle_give_fd(h); /* sent, and closed, by the connection's worker */
    /* The caller gets a blocking descriptor, as a fresh socket would be. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    handle_close(h, "released");
    r->pass_fd = fd;
    req_ok(r, json_object());
}

void handle_assign(struct worker *w, struct req *r, int fd)
{
    int type = 0, acc = 0;
    socklen_t len = sizeof type;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 fd < 0 ? "assign needs a socket descriptor passed with SCM_RIGHTS on the same "
                          "message"
                        : "the descriptor passed is not a socket");
        return;
    }
    len = sizeof acc;
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
    if (type != SOCK_STREAM && type != SOCK_DGRAM) {
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", "other"),
                 "only stream and datagram sockets can be assigned");
        return;
    }
    /* A control connection's client end has netd's control socket as its peer. */
    if (unix_peer_is_control(fd)) {
        req_fail(r, NETD_E_DENIED, NULL,
                 "the descriptor passed is a connection to netd's own control socket; assign "
                 "takes sockets of yours");
        return;
    }
    const struct handle_ops *ops = acc                  ? &listener_ops
                                   : type == SOCK_DGRAM ? &dgram_ops
                                                        : &stream_ops;
    struct handle *h = handle_new(w, r, ops);
    if (!h)
        return;
    r->pass_fd = -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    h->type = type;
    if (acc)
        listener_start(listener_of(h), fd);
    else
        sock_start(sock_of(h), fd);
    req_ok(r, json_pack("{s:s}", "handle", h->name));
}

/* Emilua's disconnect(): connect(2) to AF_UNSPEC dissolves the association
 * with the peer (a TCP connection is aborted). */
void sock_disconnect(struct sock *s, struct req *r)
{
    struct handle *h = &s->h;
    if (relay_refuse(s, r, "disconnect"))
        return;
    if (s->tp && !(s->tp->caps & TP_CAN_DISCONNECT)) {
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", s->tp->name),
                 "a %s stream ends with close (close_notify), not disconnect", s->tp->name);
        return;
    }
    struct sockaddr sa = {.sa_family = AF_UNSPEC};
    int rc = h->fd < 0 ? -ENOTCONN : creds_connect(h->ident, h->fd, &sa, sizeof sa);
    if (rc < 0) {
        req_fail_errno(r, -rc, "disconnect");
        return;
    }
    h->ops->disconnected(h);
    req_ok(r, json_object());
}
