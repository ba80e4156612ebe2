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
#include <stdlib.h>
#include <string.h>

#include "netd.h"

#define DGRAM_DEFAULT 65536

static bool is_recv_from(const struct req *r)
{
    return r->m->id == NETD_M_RECV_FROM;
}

/* Receives one datagram for the read at the head. false: nothing there. */
static bool dgram_serve_one(struct handle *h)
{
    struct req *r = h->readers.head;
    uint8_t *buf = malloc(r->nbytes ? r->nbytes : 1);
    struct sockaddr_storage from;
    struct iovec iov = {buf, r->nbytes};
    struct msghdr mh = {
        .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(h->fd, &mh, MSG_DONTWAIT | MSG_TRUNC | (r->peek ? MSG_PEEK : 0));
    if (n < 0) {
        int e = errno;
        free(buf);
        if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR)
            return false;
        req_unpark(r);
        req_fail_errno(r, e, is_recv_from(r) ? "recv-from" : "read");
        return true;
    }
    size_t got = (size_t)n < r->nbytes ? (size_t)n : r->nbytes;
    h->bytes_in += got;
    stat_add(&h->w->stats.bytes_in, (int64_t)got);
    enum netd_encoding used;
    json_t *res = json_pack("{s:o,s:s,s:b}", "data", netd_data_encode(buf, got, r->enc, &used),
                            "encoding", "", "eof", 0);
    json_object_set_new(res, "encoding", json_string(netd_encoding_name(used)));
    free(buf);
    if ((size_t)n > r->nbytes) {
        json_object_set_new(res, "truncated", json_true());
        json_object_set_new(res, "size", json_integer(n));
    }
    if (is_recv_from(r))
        json_object_set_new(res, "from",
                            mh.msg_namelen ? sockaddr_json((struct sockaddr *)&from, mh.msg_namelen)
                                           : json_null());
    req_unpark(r);
    req_ok(r, res);
    return true;
}

void dgram_readable(struct handle *h)
{
    while (h->readers.head && dgram_serve_one(h))
        ;
}

static void recv_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "no datagram arrived within the timeout");
    stream_update(h);
}

/* read on a datagram handle, and recv-from. */
void dgram_read(struct handle *h, struct req *r)
{
    json_t *nb = param(r, "nbytes");
    r->nbytes = json_is_integer(nb) ? (size_t)json_integer_value(nb) : DGRAM_DEFAULT;
    if (r->nbytes > netd_cfg.max_read) {
        req_fail(r, NETD_E_LIMIT, json_pack("{s:s}", "limit", "max_read"),
                 "nbytes %zu is over the limit of %zu (netd --max-read)", r->nbytes,
                 netd_cfg.max_read);
        return;
    }
    const char *enc = param_str(r, "encoding");
    netd_encoding_parse(enc ? enc : "base64", &r->enc);
    r->peek = param_bool(r, "peek", false);
    req_park(r, h, &h->readers, WK_READ, recv_timeout);
    if (h->readers.head == r && !dgram_serve_one(h) && req_timeout(r) == 0) {
        req_unpark(r);
        recv_timeout(r);
        return;
    }
    stream_update(h);
}

void m_recv_from(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_DATAGRAM);
    if (h)
        dgram_read(h, r);
}

/* ---- sending ---- */

struct dgram_out {
    uint8_t *data;
    size_t len;
    struct sockaddr_storage to;
    socklen_t tolen; /* 0: the connected peer */
};

/* One try: bytes sent, -EAGAIN when the socket is full, or another -errno. */
static ssize_t dgram_send(struct handle *h, const struct dgram_out *o)
{
    ssize_t n = sendto(h->fd, o->data, o->len, MSG_DONTWAIT | MSG_NOSIGNAL,
                       o->tolen ? (const struct sockaddr *)&o->to : NULL, o->tolen);
    if (n >= 0)
        return n;
    return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static void dgram_answer(struct handle *h, struct req *r, struct dgram_out *o, ssize_t n)
{
    free(o->data);
    free(o);
    r->written = 0;
    if (n < 0) {
        req_fail_errno(r, (int)-n, r->m->id == NETD_M_SEND_TO ? "send-to" : "write");
        return;
    }
    h->bytes_out += (uint64_t)n;
    stat_add(&h->w->stats.bytes_out, n);
    req_ok(r, json_pack("{s:I}", "written", (json_int_t)n));
}

/* The datagram of a waiting send hangs off its request while it waits. */
static struct dgram_out *pending_out(struct req *r)
{
    return (struct dgram_out *)(uintptr_t)r->written;
}

static void send_timeout(struct req *r)
{
    struct handle *h = r->h;
    struct dgram_out *o = pending_out(r);
    free(o->data);
    free(o);
    req_fail(r, NETD_E_TIMEOUT, json_pack("{s:i}", "written", 0),
             "the socket could not take the datagram within the timeout");
    stream_update(h);
}

void dgram_writable(struct handle *h)
{
    while (h->writers.head) {
        struct req *r = h->writers.head;
        struct dgram_out *o = pending_out(r);
        ssize_t n = dgram_send(h, o);
        if (n == -EAGAIN)
            break;
        req_unpark(r);
        dgram_answer(h, r, o, n);
    }
}

size_t dgram_abort_writes(struct handle *h, const char *why)
{
    size_t n = 0;
    while (h->writers.head) {
        struct req *r = h->writers.head;
        struct dgram_out *o = pending_out(r);
        free(o->data);
        free(o);
        r->written = 0;
        req_unpark(r);
        req_fail(r, NETD_E_ABORTED, json_pack("{s:i}", "written", 0), "%s", why);
        n++;
    }
    return n;
}

void dgram_write(struct handle *h, struct req *r, uint8_t *data, size_t len,
                 const struct sockaddr_storage *to, socklen_t tolen)
{
    struct dgram_out *o = calloc(1, sizeof *o);
    o->data = data;
    o->len = len;
    if (tolen) {
        memcpy(&o->to, to, tolen);
        o->tolen = tolen;
    }
    if (h->writers.head == NULL) {
        ssize_t n = dgram_send(h, o);
        if (n != -EAGAIN) {
            dgram_answer(h, r, o, n);
            return;
        }
    }
    if (req_timeout(r) == 0) {
        free(o->data);
        free(o);
        req_fail(r, NETD_E_TIMEOUT, json_pack("{s:i}", "written", 0),
                 "the socket cannot take the datagram now");
        return;
    }
    r->written = (size_t)(uintptr_t)o;
    req_park(r, h, &h->writers, WK_WRITE, send_timeout);
    stream_update(h);
}

/* dest: an address handle on this worker, or {host, port} / {path}. */
static int dest_of(struct worker *w, struct req *r, struct sockaddr_storage *ss, socklen_t *len)
{
    json_t *d = param(r, "dest");
    if (json_is_string(d)) {
        int wi;
        uint64_t seq;
        struct handle *a = NULL;
        if (handle_parse(json_string_value(d), &wi, &seq) == 0 && wi == w->index)
            a = idmap_get(&w->handles, seq);
        bool mine = a && (a->kept ? a->uid == r->uid : a->owner_conn == r->conn_id);
        if (!mine || a->kind != HK_ADDRESS || a->state != HS_SUCCESS) {
            req_fail(r, NETD_E_UNKNOWN_HANDLE, NULL,
                     "dest %.64s is not a resolved address handle of yours; pass an address "
                     "object {host, port} instead",
                     json_string_value(d));
            return -1;
        }
        memcpy(ss, &a->al.addrs[0], a->al.lens[0]);
        *len = a->al.lens[0];
        return 0;
    }
    const char *path = json_string_value(json_object_get(d, "path"));
    if (path) {
        if (sockaddr_unix(path, ss, len) == 0)
            return 0;
    } else {
        const char *host = json_string_value(json_object_get(d, "host"));
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

void m_send_to(struct worker *w, struct req *r)
{
    if (r->hop) {
        /* On the worker of the dest handle: take its address along. */
        if (dest_of(w, r, &r->dest, &r->dest_len) < 0)
            return;
        int next = r->hop - 1;
        r->hop = 0;
        dispatch_forward(r, next);
        return;
    }
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_DATAGRAM);
    if (!h)
        return;
    struct sockaddr_storage ss;
    socklen_t len;
    if (r->dest_len) {
        ss = r->dest;
        len = r->dest_len;
    } else if (dest_of(w, r, &ss, &len) < 0) {
        return;
    }
    uint8_t *data;
    size_t n;
    if (req_data(r, &data, &n) < 0)
        return;
    dgram_write(h, r, data, n, &ss, len);
}
