/*
 * datagram.c - datagram sockets: `recv-from`, `send-to`, and `read`/`write`
 * on a connected datagram handle, one datagram per call.
 *
 * A datagram is read only when a receive waits for it, straight into that
 * receive's buffer; MSG_TRUNC tells its real size, so one larger than
 * nbytes is answered with "truncated": true and its full "size" instead of
 * being cut silently. A send that finds the socket buffer full waits for
 * writability and is retried whole: datagrams are never split.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "kind.h"
#include "rpc.h"

#define DGRAM_DEFAULT 65536

static bool is_recv_from(const struct req *r)
{
    return r->m->id == NETD_M_RECV_FROM;
}

/* Receives one datagram for the read at the head. false: nothing there. */
static bool dgram_serve_one(struct sock *s, struct req *r)
{
    struct handle *h = &s->h;
    uint8_t *buf = malloc(r->u.rd.nbytes ? r->u.rd.nbytes : 1);
    struct sockaddr_storage from;
    struct iovec iov = {buf, r->u.rd.nbytes};
    struct msghdr mh = {
        .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(h->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | (r->u.rd.peek ? MSG_PEEK : 0));
    if (n < 0) {
        int e = errno;
        free(buf);
        if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
            return false;
        if (r->list)
            req_unpark(r);
        req_fail_errno(r, e, is_recv_from(r) ? "recv-from" : "read");
        return true;
    }
    size_t got = (size_t)n < r->u.rd.nbytes ? (size_t)n : r->u.rd.nbytes;
    s->bytes_in += got;
    stat_add(&h->w->stats.bytes_in, (int64_t)got);
    IDENT_STAT_ADD(h->ident, bytes_in, (int64_t)got);
    enum netd_encoding used;
    json_t *res = json_pack("{s:o,s:s,s:b}", "data", netd_data_encode(buf, got, r->u.rd.enc, &used),
                            "encoding", "", "eof", 0);
    json_object_set_new(res, "encoding", json_string(netd_encoding_name(used)));
    free(buf);
    if ((size_t)n > r->u.rd.nbytes) {
        json_object_set_new(res, "truncated", json_true());
        json_object_set_new(res, "size", json_integer(n));
    }
    if (is_recv_from(r))
        json_object_set_new(res, "from",
                            mh.msg_namelen ? sockaddr_json((struct sockaddr *)&from, mh.msg_namelen)
                                           : json_null());
    if (r->list)
        req_unpark(r);
    req_ok(r, res);
    return true;
}

static void dgram_readable(struct sock *s)
{
    while (s->readers.head && dgram_serve_one(s, s->readers.head))
        ;
}

static void dgram_update(struct handle *h);

static void recv_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "no datagram arrived within the timeout");
    dgram_update(h);
}

/* recv-from, and read on a datagram handle: a datagram already there is
 * answered at once, without parking. */
void dgram_recv(struct sock *s, struct req *r)
{
    struct handle *h = &s->h;
    json_t *nb = param(r, "nbytes");
    r->u.rd.nbytes = json_is_integer(nb) ? (size_t)json_integer_value(nb) : DGRAM_DEFAULT;
    if (r->u.rd.nbytes > netd_cfg.max_read) {
        req_fail_limit(r, "max_read", "nbytes %zu is over the limit of %zu (netd --max-read)",
                       r->u.rd.nbytes, netd_cfg.max_read);
        return;
    }
    r->u.rd.enc = param_encoding(r);
    r->u.rd.peek = param_bool(r, "peek", false);
    if (s->readers.count == 0 && dgram_serve_one(s, r))
        return;
    if (req_timeout(r) == 0) {
        r->h = h;
        recv_timeout(r);
        return;
    }
    handle_park(r, h, &s->readers, WK_READ, recv_timeout);
    dgram_update(h);
}

static void dgram_read(struct handle *h, struct req *r)
{
    if (r->m->id == NETD_M_CHUNK || json_is_string(param(r, "nbytes"))) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "a datagram handle reads one datagram per call: use read with a number");
        return;
    }
    dgram_recv(sock_of(h), r);
}

/* ---- sending ---- */

struct dgram_out {
    uint8_t *data;
    size_t len;
    struct sockaddr_storage to;
    socklen_t tolen; /* 0: the connected peer */
    bool charged;    /* waiting: its bytes count in the uid's memory budget */
    bool granted;    /* a rule grants the destination (access.c): sent as netd */
};

static void out_free(struct sock *s, struct dgram_out *o)
{
    if (o->charged)
        mem_release(s->h.uid, o->len);
    free(o->data);
    free(o);
}

/* One try: bytes sent, -EAGAIN when the socket is full, or another -errno. */
static ssize_t dgram_send(struct sock *s, const struct dgram_out *o)
{
    /* To a unix path as the caller: the kernel checks its right to write there;
     * to a destination a rule grants, as netd. On a caller's unix socket
     * either way the datagram carries the caller's credentials. */
    const struct sockaddr *to = o->tolen ? (const struct sockaddr *)&o->to : NULL;
    ssize_t n;
    if (to && o->granted)
        n = creds_sendto_granted(s->h.ident, s->h.fd, o->data, o->len, MSG_DONTWAIT | MSG_NOSIGNAL,
                                 to, o->tolen);
    else if (to)
        n = creds_sendto(s->h.ident, s->h.fd, o->data, o->len, MSG_DONTWAIT | MSG_NOSIGNAL, to,
                         o->tolen);
    else
        n = creds_send(s->scm ? s->h.ident : NULL, s->h.fd, o->data, o->len,
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    return n == -EWOULDBLOCK || n == -EINTR ? -EAGAIN : n;
}

static void dgram_answer(struct sock *s, struct req *r, struct dgram_out *o, ssize_t n)
{
    out_free(s, o);
    r->u.wr.dgram = NULL;
    if (n < 0) {
        req_fail_errno(r, (int)-n, r->m->id == NETD_M_SEND_TO ? "send-to" : "write");
        return;
    }
    s->bytes_out += (uint64_t)n;
    stat_add(&s->h.w->stats.bytes_out, n);
    IDENT_STAT_ADD(s->h.ident, bytes_out, n);
    req_ok(r, json_pack("{s:I}", "written", (json_int_t)n));
}

/* The datagram of a waiting send hangs off its request while it waits. */
static struct dgram_out *pending_out(struct req *r)
{
    return r->u.wr.dgram;
}

static void send_timeout(struct req *r)
{
    struct handle *h = r->h;
    struct dgram_out *o = pending_out(r);
    out_free(sock_of(h), o);
    r->u.wr.dgram = NULL;
    req_fail(r, NETD_E_TIMEOUT, json_pack("{s:i}", "written", 0),
             "the socket could not take the datagram within the timeout");
    dgram_update(h);
}

static void dgram_writable(struct sock *s)
{
    while (s->writers.head) {
        struct req *r = s->writers.head;
        struct dgram_out *o = pending_out(r);
        ssize_t n = dgram_send(s, o);
        if (n == -EAGAIN)
            break;
        req_unpark(r);
        dgram_answer(s, r, o, n);
    }
}

static size_t dgram_abort_writes(struct sock *s, const char *why)
{
    size_t n = 0;
    while (s->writers.head) {
        struct req *r = s->writers.head;
        struct dgram_out *o = pending_out(r);
        out_free(s, o);
        r->u.wr.dgram = NULL;
        req_unpark(r);
        req_fail(r, NETD_E_ABORTED, json_pack("{s:i}", "written", 0), "%s", why);
        n++;
    }
    return n;
}

void dgram_send_to(struct sock *s, struct req *r, uint8_t *data, size_t len,
                   const struct sockaddr_storage *to, socklen_t tolen)
{
    struct handle *h = &s->h;
    int ok = tolen ? access_check(r, POLICY_SEND_TO, (const struct sockaddr *)to, tolen) : 0;
    if (ok < 0) {
        free(data);
        return;
    }
    struct dgram_out *o = calloc(1, sizeof *o);
    o->data = data;
    o->len = len;
    o->granted = ok == 1;
    if (tolen) {
        memcpy(&o->to, to, tolen);
        o->tolen = tolen;
    }
    if (s->writers.head == NULL) {
        ssize_t n = dgram_send(s, o);
        if (n != -EAGAIN) {
            dgram_answer(s, r, o, n);
            return;
        }
    }
    if (req_timeout(r) == 0) {
        out_free(s, o);
        req_fail(r, NETD_E_TIMEOUT, json_pack("{s:i}", "written", 0),
                 "the socket cannot take the datagram now");
        return;
    }
    if (!mem_charge(s->h.uid, len, MEM_NORMAL)) {
        out_free(s, o);
        req_fail(r, NETD_E_LIMIT, json_pack("{s:s,s:i}", "limit", "max_memory", "written", 0),
                 "netd cannot hold a %zu-byte datagram for uid %u until the socket takes it "
                 "(netd --max-memory)",
                 len, (unsigned)r->uid);
        return;
    }
    o->charged = true;
    r->u.wr.written = 0;
    r->u.wr.dgram = o;
    handle_park(r, h, &s->writers, WK_WRITE, send_timeout);
    dgram_update(h);
}

/* dest: an address handle on this worker, or {host, port} / {path}. */
int dgram_dest(struct worker *w, struct req *r, struct sockaddr_storage *ss, socklen_t *len)
{
    json_t *d = param(r, "dest");
    if (netd_json_text(d)) {
        struct handle *a = handle_lookup(w, r, "dest");
        const struct addrlist *al = a && a->ops->address ? a->ops->address(a) : NULL;
        if (!al || al->count == 0) {
            req_fail(r, NETD_E_UNKNOWN_HANDLE, NULL,
                     "dest %.64s is not a resolved address handle of yours; pass an address "
                     "object {host, port} instead",
                     json_string_value(d));
            return -1;
        }
        memcpy(ss, &al->addrs[0], al->lens[0]);
        *len = al->lens[0];
        return unix_addr_check(r, r->ident, (struct sockaddr *)ss, *len, UNIX_SEND, "send-to");
    }
    json_t *pv = json_object_get(d, "path"), *hv = json_object_get(d, "host");
    const char *path = netd_json_text(pv) ? json_string_value(pv) : NULL;
    if (path) {
        if (sockaddr_unix(path, ss, len) == 0)
            return unix_addr_check(r, r->ident, (struct sockaddr *)ss, *len, UNIX_SEND, "send-to");
    } else {
        const char *host = netd_json_text(hv) ? json_string_value(hv) : NULL;
        char service[64];
        json_t *port = json_object_get(d, "port");
        struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                                 .ai_socktype = SOCK_DGRAM};
        struct addrinfo *res = NULL;
        if (host && port && port_string(port, service, sizeof service) == 0 &&
            getaddrinfo(host, service, &hints, &res) == 0) {
            memcpy(ss, res->ai_addr, res->ai_addrlen);
            *len = res->ai_addrlen;
            freeaddrinfo(res);
            return 0;
        }
    }
    req_fail(r, NETD_E_PARAMS, NULL,
             "parameter 'dest' must be an address handle, {\"host\": numeric address, \"port\": "
             "number} or {\"path\": unix path}; resolve names with `address` first");
    return -1;
}

static void dgram_write(struct handle *h, struct req *r, uint8_t *data, size_t len)
{
    if (param_bool(r, "oob", false)) {
        free(data);
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", "datagram"),
                 "oob (urgent data) is for plain TCP streams");
        return;
    }
    dgram_send_to(sock_of(h), r, data, len, NULL, 0);
}

/* ---- the datagram kind ---- */

static void dgram_io(struct handle *h, int revents)
{
    struct sock *s = sock_of(h);
    dgram_readable(s);
    dgram_writable(s);
    handle_check_waiters(h);
    dgram_update(h);
}

static void dgram_update(struct handle *h)
{
    struct sock *s = sock_of(h);
    if (h->state != HS_SUCCESS || h->fd < 0)
        return;
    bool rd = s->readers.count > 0 || handle_waiter_wants(h, WF_READABLE) ||
              handle_waiter_wants(h, WF_ERROR);
    bool wr = s->writers.count > 0 || handle_waiter_wants(h, WF_WRITABLE);
    if (rd != ev_is_active(&h->rio))
        (rd ? ev_io_start : ev_io_stop)(h->w->loop, &h->rio);
    if (wr != ev_is_active(&h->wio))
        (wr ? ev_io_start : ev_io_stop)(h->w->loop, &h->wio);
}

static bool dgram_ready(struct handle *h, int wf)
{
    switch (wf) {
    case WF_CONNECTED:
        return h->state != HS_WAITING;
    case WF_READABLE:
        return h->state == HS_FAILURE ||
               (fd_poll_now(h->fd, POLLIN) & (POLLIN | POLLHUP | POLLERR));
    case WF_WRITABLE:
        return h->state == HS_FAILURE ||
               (h->state == HS_SUCCESS &&
                (fd_poll_now(h->fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP)));
    case WF_DRAINED:
        return h->state != HS_WAITING; /* datagrams are never queued in netd */
    case WF_ERROR:
        return h->state == HS_FAILURE || (fd_poll_now(h->fd, 0) & POLLERR);
    }
    return false;
}

static void dgram_status(struct handle *h, json_t *st)
{
    sock_status(sock_of(h), st);
}

static size_t dgram_cancel(struct handle *h)
{
    struct sock *s = sock_of(h);
    size_t n = reqlist_abort(&s->readers, "cancelled") + dgram_abort_writes(s, "cancelled");
    dgram_update(h);
    return n;
}

static void dgram_close(struct handle *h, const char *why)
{
    struct sock *s = sock_of(h);
    reqlist_abort(&s->readers, why);
    dgram_abort_writes(s, why);
    unix_unbind(h->ident, &s->spec, h->fd >= 0); /* released: the file stays */
}

static void dgram_conn_gone(struct handle *h, uint64_t conn_id)
{
    reqlist_drop_conn(&sock_of(h)->readers, conn_id);
}

static void dgram_free(struct handle *h)
{
    sock_free(sock_of(h));
}

/* A datagram socket has no stream to end: disconnect only unbinds its peer. */
static void dgram_disconnected(struct handle *h) {}

/* ---- carried over a restart: datagrams wait in the kernel, not in netd ---- */

static int dgram_save(struct handle *h, json_t *rec, int *fd)
{
    struct sock *s = sock_of(h);
    if (h->fd < 0)
        return -ENOTSUP;
    if (!rec)
        return 0;
    json_object_set_new(rec, "bytes_in", json_integer((json_int_t)s->bytes_in));
    json_object_set_new(rec, "bytes_out", json_integer((json_int_t)s->bytes_out));
    carry_spec_save(&s->spec, rec);
    *fd = handle_give_fd(h);
    return 0;
}

static int dgram_restore(struct handle *h, const json_t *rec, int fd)
{
    if (fd < 0)
        return -EINVAL;
    sock_restore_common(sock_of(h), rec);
    sock_start(sock_of(h), fd);
    return 0;
}

const struct handle_ops dgram_ops = {
    .save = dgram_save,
    .restore = dgram_restore,
    .kind = HK_DATAGRAM,
    .size = sizeof(struct sock),
    .waits = 1u << WF_CONNECTED | 1u << WF_READABLE | 1u << WF_WRITABLE | 1u << WF_DRAINED |
             1u << WF_ERROR,
    .io = dgram_io,
    .update = dgram_update,
    .ready = dgram_ready,
    .status = dgram_status,
    .cancel = dgram_cancel,
    .close = dgram_close,
    .conn_gone = dgram_conn_gone,
    .free = dgram_free,
    .read = dgram_read,
    .write = dgram_write,
    .disconnected = dgram_disconnected,
    .releasable = sock_releasable,
};
