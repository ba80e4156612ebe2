/*
 * stream.c - connected stream sockets: read, chunk, write, pending, flush,
 * shutdown, and the readiness `wait` conditions.
 *
 * Bytes move from the socket into h->rbuf only while some read waits, and
 * leave rbuf only when a read is answered, so a read that times out or is
 * cancelled loses nothing. Writes form one queue of segments: a whole write
 * is answered when its segment has gone to the kernel; bytes a partial
 * write accepted sit in the same queue (bounded by --max-buffer), so the
 * order on the wire is the order of the calls.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "netd.h"
#include "tls.h"

#define READ_CHUNK 65536

static ssize_t plain_recv(struct handle *h, void *buf, size_t n)
{
    ssize_t k = recv(h->fd, buf, n, MSG_DONTWAIT);
    if (k >= 0)
        return k;
    return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static ssize_t plain_send(struct handle *h, const void *buf, size_t n)
{
    ssize_t k = send(h->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k >= 0)
        return k;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
}

static size_t plain_buffered(struct handle *h)
{
    return 0;
}

static size_t plain_unsent(struct handle *h)
{
    return 0;
}

static int plain_shutdown_write(struct handle *h)
{
    return shutdown(h->fd, SHUT_WR) < 0 ? -errno : 0;
}

static void plain_close(struct handle *h) {}

const struct transport plain_transport = {
    .name = "plain",
    .recv = plain_recv,
    .send = plain_send,
    .buffered = plain_buffered,
    .unsent = plain_unsent,
    .shutdown_write = plain_shutdown_write,
    .close = plain_close,
};

static const char *const wait_names[] = {"resolved", "connected", "readable",
                                         "writable", "drained",   "error"};

int wait_for_parse(const char *s)
{
    for (int i = 0; i < 6; i++)
        if (s && strcmp(s, wait_names[i]) == 0)
            return i;
    return -1;
}

static short poll_now(int fd, short events)
{
    if (fd < 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

static size_t kernel_readable(int fd)
{
    int n = 0;
    if (fd < 0 || ioctl(fd, FIONREAD, &n) < 0 || n < 0)
        return 0;
    return (size_t)n;
}

/* How many bytes rbuf may hold for the read at the head of the queue. */
static size_t read_cap(const struct handle *h)
{
    const struct req *r = h->readers.head;
    size_t cap = netd_cfg.max_buffer;
    if (r && r->nbytes == 0)
        cap = netd_cfg.max_read + 1; /* "all": one byte past the limit tells it was passed */
    else if (r && r->exact && r->nbytes > cap)
        cap = r->nbytes;
    return cap;
}

/* Kept and looped streams are watched even when no read waits, so that
 * their client hears (`closed`) when the peer ends them. What arrives
 * meanwhile is buffered, up to --max-buffer. */
static bool watch_end(const struct handle *h)
{
    return (h->kept || h->looped) && h->kind == HK_STREAM && !h->eof && !h->rerr && !h->closed_told;
}

size_t stream_pending(struct handle *h)
{
    return h->wq_bytes + (h->tp ? h->tp->unsent(h) : 0);
}

bool stream_ready(struct handle *h, int wf)
{
    switch (wf) {
    case WF_RESOLVED:
    case WF_CONNECTED:
        return h->state != HS_WAITING;
    case WF_READABLE:
        if (h->state == HS_FAILURE)
            return true;
        return buf_used(&h->rbuf) > 0 || h->eof || h->rerr || (h->tp && h->tp->buffered(h) > 0) ||
               (poll_now(h->fd, POLLIN) & (POLLIN | POLLHUP | POLLERR));
    case WF_WRITABLE:
        if (h->state == HS_FAILURE || h->werr)
            return true;
        return h->state == HS_SUCCESS && h->wq_bytes == 0 &&
               (poll_now(h->fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP));
    case WF_DRAINED:
        return h->state != HS_WAITING && stream_pending(h) == 0;
    case WF_ERROR:
        return h->state == HS_FAILURE || h->rerr || h->werr || (poll_now(h->fd, 0) & POLLERR);
    }
    return false;
}

static bool waiter_wants(const struct handle *h, int wf)
{
    for (const struct req *r = h->waiters.head; r; r = r->next)
        if (r->wait_for == wf)
            return true;
    return false;
}

void stream_update(struct handle *h)
{
    if (h->state != HS_SUCCESS || h->fd < 0)
        return;
    if (h->kind == HK_LISTENER) {
        listener_update(h);
        return;
    }
    bool rd = ((h->readers.count > 0 || watch_end(h)) && !h->eof && !h->rerr &&
               buf_used(&h->rbuf) < read_cap(h)) ||
              waiter_wants(h, WF_READABLE) || waiter_wants(h, WF_ERROR);
    bool wr = (h->wq_bytes > 0 && !h->werr) || h->writers.count > 0 || waiter_wants(h, WF_WRITABLE);
    rd = rd || (h->tp_want & TP_WANT_READ);
    wr = wr || (h->tp_want & TP_WANT_WRITE);
    if (rd != ev_is_active(&h->rio))
        (rd ? ev_io_start : ev_io_stop)(h->w->loop, &h->rio);
    if (wr != ev_is_active(&h->wio))
        (wr ? ev_io_start : ev_io_stop)(h->w->loop, &h->wio);
}

/* ---- reading ---- */

/* base64 and hex need no JSON escaping: the result is written directly,
 * without building a jansson string that would be copied and scanned. */
static bool answer_read_raw(struct req *r, const uint8_t *p, size_t n, bool ended)
{
    if (r->enc == NETD_ENC_UTF8)
        return false;
    bool b64 = r->enc == NETD_ENC_BASE64;
    size_t enclen = b64 ? netd_base64_len(n) : 2 * n;
    char *buf = malloc(enclen + 64);
    if (!buf)
        return false;
    int k = sprintf(buf, "{\"data\":\"");
    if (b64)
        netd_base64_encode(p, n, buf + k);
    else
        netd_hex_encode(p, n, buf + k);
    k += (int)enclen;
    k += sprintf(buf + k, "\",\"encoding\":\"%s\",\"eof\":%s}", b64 ? "base64" : "hex",
                 ended ? "true" : "false");
    req_ok_raw(r, buf, (size_t)k);
    free(buf);
    return true;
}

static void answer_read(struct req *r, struct handle *h, size_t n)
{
    enum netd_encoding used;
    /* eof: the peer has ended and these are its last bytes (maybe none). */
    bool ended = h->eof && buf_used(&h->rbuf) == n;
    bool consume = !r->peek; /* @r is freed once answered */
    if (answer_read_raw(r, h->rbuf.data + h->rbuf.off, n, ended)) {
        if (consume)
            buf_consume(&h->rbuf, n);
        return;
    }
    json_t *data = netd_data_encode(h->rbuf.data + h->rbuf.off, n, r->enc, &used);
    if (consume)
        buf_consume(&h->rbuf, n);
    req_ok(r, json_pack("{s:o,s:s,s:b}", "data", data, "encoding", netd_encoding_name(used), "eof",
                        ended));
}

/* Tries to answer the read at the head; false if it must keep waiting. */
static bool serve_one(struct handle *h, struct req *r)
{
    size_t used = buf_used(&h->rbuf);
    bool ended = h->eof || h->rerr;
    if (r->nbytes == 0) { /* "all" */
        if (used > netd_cfg.max_read) {
            req_unpark(r);
            req_fail(r, NETD_E_LIMIT, json_pack("{s:s}", "limit", "max_read"),
                     "more than %zu bytes before the end of the stream (netd --max-read); the "
                     "bytes stay readable",
                     netd_cfg.max_read);
            return true;
        }
        if (!ended)
            return false;
    } else if (r->exact) {
        if (used < r->nbytes && !ended)
            return false;
    } else if (used == 0 && !ended) {
        return false;
    }
    req_unpark(r);
    if (used == 0 && h->rerr) {
        req_fail_errno(r, h->rerr, "read");
        return true;
    }
    size_t n = r->nbytes == 0 ? used : (used < r->nbytes ? used : r->nbytes);
    answer_read(r, h, n);
    return true;
}

static void serve_readers(struct handle *h)
{
    while (h->readers.head && serve_one(h, h->readers.head))
        ;
}

/* Reads what the socket has into rbuf, up to what the head read may take.
 * Returns true if bytes came. */
static bool fill(struct handle *h)
{
    size_t used = buf_used(&h->rbuf), cap = read_cap(h);
    if ((h->readers.count == 0 && !watch_end(h)) || h->eof || h->rerr || used >= cap)
        return false;
    size_t want = cap - used < READ_CHUNK ? cap - used : READ_CHUNK;
    if (buf_reserve(&h->rbuf, want) < 0) {
        h->rerr = ENOMEM;
        return false;
    }
    ssize_t n = h->tp->recv(h, h->rbuf.data + h->rbuf.len, want);
    if (n > 0) {
        h->rbuf.len += (size_t)n;
        h->bytes_in += (uint64_t)n;
        stat_add(&h->w->stats.bytes_in, n);
    } else if (n == 0) {
        h->eof = true;
    } else if (n != -EAGAIN) {
        h->rerr = (int)-n;
    }
    return n > 0;
}

static void flush_queue(struct handle *h);

/* Moves every direction forward after an event. Bytes a transport holds
 * already decrypted do not make the socket readable again, so reading goes
 * on while the transport still has some and a read wants them. */
static void progress(struct handle *h)
{
    while (fill(h)) {
        serve_readers(h);
        if (h->tp->buffered(h) == 0)
            break;
    }
    serve_readers(h);
    if (h->wq_head)
        flush_queue(h);
    if ((h->eof || h->rerr) && (h->kept || h->looped))
        loop_notify_closed(h, h->rerr ? netd_errno_name(h->rerr) : "eof");
    handle_check_waiters(h);
    stream_update(h);
}

/* Datagrams have no byte stream to move: each receive and send is whole. */
static void dgram_progress(struct handle *h)
{
    dgram_readable(h);
    dgram_writable(h);
    handle_check_waiters(h);
    stream_update(h);
}

static void on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
    struct handle *h = io->data;
    if (h->kind == HK_DATAGRAM)
        dgram_progress(h);
    else
        progress(h);
}

static void read_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "no data within the timeout; nothing was consumed");
    stream_update(h);
}

void m_read(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", (1u << HK_STREAM) | (1u << HK_DATAGRAM));
    if (!h)
        return;
    if (h->kind == HK_DATAGRAM) {
        if (r->m->id == NETD_M_CHUNK || json_is_string(param(r, "nbytes"))) {
            req_fail(r, NETD_E_PARAMS, NULL,
                     "a datagram handle reads one datagram per call: use read with a number");
            return;
        }
        dgram_read(h, r);
        return;
    }
    json_t *nb = param(r, "nbytes");
    r->exact = r->m->id == NETD_M_CHUNK;
    r->peek = param_bool(r, "peek", false);
    r->nbytes = json_is_string(nb) ? 0 : (size_t)json_integer_value(nb);
    if (json_is_integer(nb) && r->nbytes > netd_cfg.max_read) {
        req_fail(r, NETD_E_LIMIT, json_pack("{s:s}", "limit", "max_read"),
                 "nbytes %zu is over the limit of %zu (netd --max-read)", r->nbytes,
                 netd_cfg.max_read);
        return;
    }
    netd_encoding_parse(param_str(r, "encoding") ? param_str(r, "encoding") : "base64", &r->enc);
    if (h->state == HS_WAITING) {
        req_fail(r, NETD_E_OS, json_pack("{s:s}", "errno", "ENOTCONN"),
                 "not connected yet; wait {for: \"connected\"} first");
        return;
    }
    if (h->state == HS_FAILURE) {
        req_fail(r, h->fail_kind, json_incref(h->fail_data), "%s", h->fail_msg);
        return;
    }
    req_park(r, h, &h->readers, WK_READ, read_timeout);
    if (h->readers.head == r && !serve_one(h, r)) {
        /* Take what the kernel already has rather than wait a loop turn. */
        fill(h);
        if (!serve_one(h, r) && req_timeout(r) == 0) {
            req_unpark(r);
            read_timeout(r);
            return;
        }
    }
    stream_update(h);
}

/* ---- writing ---- */

static void wseg_unlink(struct handle *h, struct wseg *s)
{
    struct wseg **p = &h->wq_head, *prev = NULL;
    while (*p && *p != s) {
        prev = *p;
        p = &(*p)->next;
    }
    if (!*p)
        return;
    *p = s->next;
    if (h->wq_tail == s)
        h->wq_tail = prev;
    h->wq_bytes -= s->len - s->off;
    free(s->data);
    free(s);
}

static struct wseg *wseg_of(struct handle *h, struct req *r)
{
    for (struct wseg *s = h->wq_head; s; s = s->next)
        if (s->req == r)
            return s;
    return NULL;
}

static void wseg_push(struct handle *h, uint8_t *data, size_t len, size_t off, struct req *r)
{
    struct wseg *s = calloc(1, sizeof *s);
    s->data = data;
    s->len = len;
    s->off = off;
    s->req = r;
    if (h->wq_tail)
        h->wq_tail->next = s;
    else
        h->wq_head = s;
    h->wq_tail = s;
    h->wq_bytes += len - off;
}

/* Sends without blocking. Returns bytes sent, or -errno (not -EAGAIN: 0). */
static ssize_t send_some(struct handle *h, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    ssize_t k = h->tp->send(h, p, n);
    if (k > 0) {
        h->bytes_out += (uint64_t)k;
        stat_add(&h->w->stats.bytes_out, k);
    }
    return k;
}

/* The write side failed: every queued write learns it, with what it sent. */
static void writes_fail(struct handle *h, int err)
{
    h->werr = err;
    while (h->wq_head) {
        struct wseg *s = h->wq_head;
        struct req *r = s->req;
        if (r && err == TLS_EFAIL && h->tls) {
            req_unpark(r);
            req_fail_errno(r, err, "write"); /* the TLS layer says what failed */
        } else if (r) {
            req_unpark(r);
            r->written = s->off;
            req_fail(r, NETD_E_OS,
                     json_pack("{s:s,s:I}", "errno", netd_errno_name(err), "written",
                               (json_int_t)s->off),
                     "write: %s", strerror(err));
        }
        wseg_unlink(h, s);
    }
}

static void after_drain(struct handle *h)
{
    if (h->wq_bytes == 0 && h->shut_wr_pending && !h->shut_wr) {
        h->tp->shutdown_write(h);
        h->shut_wr = true;
    }
}

static void flush_queue(struct handle *h)
{
    while (h->wq_head) {
        struct wseg *s = h->wq_head;
        ssize_t k = send_some(h, s->data + s->off, s->len - s->off);
        if (k < 0) {
            writes_fail(h, (int)-k);
            break;
        }
        s->off += (size_t)k;
        h->wq_bytes -= (size_t)k;
        if (s->off < s->len)
            break;
        if (s->req) {
            struct req *r = s->req;
            req_unpark(r);
            req_ok(r, json_pack("{s:I}", "written", (json_int_t)s->len));
        }
        s->off = s->len;
        wseg_unlink(h, s);
    }
    after_drain(h);
}

static void on_writable(struct ev_loop *loop, ev_io *io, int revents)
{
    struct handle *h = io->data;
    if (h->kind == HK_DATAGRAM) {
        dgram_progress(h);
        return;
    }
    if (h->tp_want & TP_WANT_WRITE)
        fill(h); /* a TLS read that had to write first */
    progress(h);
}

static void write_timeout(struct req *r)
{
    struct handle *h = r->h;
    struct wseg *s = wseg_of(h, r);
    size_t written = s ? s->off : 0;
    if (s)
        wseg_unlink(h, s); /* the unsent rest is dropped: the caller is told how much went */
    req_fail(r, NETD_E_TIMEOUT, json_pack("{s:I}", "written", (json_int_t)written),
             "the peer did not take the data within the timeout; %zu bytes were sent", written);
    stream_update(h);
}

/* Drops the segments of waiting writes, answering them with `aborted`. */
static size_t writes_abort(struct handle *h, const char *why)
{
    size_t n = 0;
    while (h->writers.head) {
        struct req *r = h->writers.head;
        struct wseg *s = wseg_of(h, r);
        size_t written = s ? s->off : 0;
        if (s)
            wseg_unlink(h, s);
        req_unpark(r);
        req_fail(r, NETD_E_ABORTED, json_pack("{s:I}", "written", (json_int_t)written), "%s", why);
        n++;
    }
    return n;
}

/* With nothing queued, a write goes straight to the socket first. Returns
 * the bytes sent, or -1 after failing @r (and freeing @data). */
static ssize_t send_first(struct handle *h, struct req *r, uint8_t *data, size_t len)
{
    if (h->wq_bytes > 0)
        return 0;
    ssize_t k = send_some(h, data, len);
    if (k < 0) {
        free(data);
        h->werr = (int)-k;
        req_fail_errno(r, h->werr, "write");
        return -1;
    }
    return k;
}

static void write_partial(struct handle *h, struct req *r, uint8_t *data, size_t len)
{
    ssize_t k = send_first(h, r, data, len);
    if (k < 0)
        return;
    size_t taken = (size_t)k;
    size_t room = h->wq_bytes < netd_cfg.max_buffer ? netd_cfg.max_buffer - h->wq_bytes : 0;
    size_t more = len - taken < room ? len - taken : room;
    if (more > 0) {
        uint8_t *copy = malloc(more);
        memcpy(copy, data + taken, more);
        wseg_push(h, copy, more, 0, NULL);
    }
    free(data);
    req_ok(r, json_pack("{s:I}", "written", (json_int_t)(taken + more)));
    stream_update(h);
}

static void write_whole(struct handle *h, struct req *r, uint8_t *data, size_t len)
{
    if (h->wq_bytes + len > netd_cfg.max_queued) {
        free(data);
        req_fail(r, NETD_E_LIMIT, json_pack("{s:s}", "limit", "max_queued"),
                 "more than %zu bytes would wait to be sent on this handle; wait for "
                 "\"drained\" first",
                 netd_cfg.max_queued);
        return;
    }
    ssize_t k = send_first(h, r, data, len);
    if (k < 0)
        return;
    size_t sent = (size_t)k;
    if (sent == len) {
        free(data);
        req_ok(r, json_pack("{s:I}", "written", (json_int_t)len));
        return;
    }
    if (req_timeout(r) == 0) {
        free(data);
        req_fail(r, NETD_E_TIMEOUT, json_pack("{s:I}", "written", (json_int_t)sent),
                 "the peer did not take all the data at once; %zu bytes were sent", sent);
        return;
    }
    wseg_push(h, data, len, sent, r);
    req_park(r, h, &h->writers, WK_WRITE, write_timeout);
    stream_update(h);
}

/* TCP urgent data (MSG_OOB): sent whole at once, never queued, since the
 * urgent mark goes with the last byte of the one send that carries it. */
static void write_oob(struct handle *h, struct req *r, uint8_t *data, size_t len)
{
    if (h->kind != HK_STREAM || h->tls) {
        free(data);
        req_fail(r, NETD_E_WRONG_KIND,
                 json_pack("{s:s}", "kind", h->tls ? "tls" : handle_kind_name(h->kind)),
                 "oob (urgent data) is for plain TCP streams");
        return;
    }
    if (h->wq_bytes > 0) {
        free(data);
        req_fail_errno(r, EAGAIN,
                       "write oob: earlier bytes are still queued; wait for "
                       "\"drained\" first");
        return;
    }
    ssize_t k = send(h->fd, data, len, MSG_OOB | MSG_DONTWAIT | MSG_NOSIGNAL);
    free(data);
    if (k > 0) {
        h->bytes_out += (uint64_t)k;
        stat_add(&h->w->stats.bytes_out, k);
    }
    if (k == (ssize_t)len) {
        req_ok(r, json_pack("{s:I}", "written", (json_int_t)k));
        return;
    }
    int err = k < 0 ? errno : EAGAIN;
    req_fail(r, NETD_E_OS,
             json_pack("{s:s,s:I}", "errno", netd_errno_name(err), "written",
                       (json_int_t)(k > 0 ? k : 0)),
             "write oob: %s; wait for \"writable\" and send the rest", strerror(err));
}

void m_write(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", (1u << HK_STREAM) | (1u << HK_DATAGRAM));
    if (!h)
        return;
    uint8_t *data;
    size_t len;
    if (req_data(r, &data, &len) < 0)
        return;
    if (h->state != HS_SUCCESS || h->werr || h->shut_wr || h->shut_wr_pending) {
        free(data);
        if (h->state == HS_FAILURE)
            req_fail(r, h->fail_kind, json_incref(h->fail_data), "%s", h->fail_msg);
        else
            req_fail_errno(r,
                           h->state == HS_WAITING ? ENOTCONN
                           : h->werr              ? h->werr
                                                  : EPIPE,
                           "write");
        return;
    }
    if (param_bool(r, "oob", false))
        write_oob(h, r, data, len);
    else if (h->kind == HK_DATAGRAM)
        dgram_write(h, r, data, len, NULL, 0);
    else if (param_bool(r, "partial", false))
        write_partial(h, r, data, len);
    else
        write_whole(h, r, data, len);
}

void m_pending(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_STREAM);
    if (h)
        req_ok(r, json_pack("{s:I}", "bytes", (json_int_t)stream_pending(h)));
}

void m_flush(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_STREAM);
    if (!h)
        return;
    if (h->state == HS_SUCCESS) {
        /* Setting TCP_NODELAY pushes out what Nagle holds back; the old
         * value is put back so the flush is only "for the moment". */
        int old = 0, on = 1;
        socklen_t len = sizeof old;
        if (getsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &old, &len) == 0 && !old) {
            setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
            setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &old, sizeof old);
        }
        flush_queue(h);
        stream_update(h);
    }
    req_ok(r, json_object());
}

void m_shutdown(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_STREAM);
    if (!h)
        return;
    const char *mode = param_str(r, "mode");
    bool rd = !mode || strchr(mode, 'r'), wr = !mode || strchr(mode, 'w');
    if (h->state != HS_SUCCESS) {
        req_fail_errno(r, ENOTCONN, "shutdown");
        return;
    }
    if (rd && shutdown(h->fd, SHUT_RD) < 0 && errno != ENOTCONN) {
        req_fail_errno(r, errno, "shutdown");
        return;
    }
    if (rd) {
        h->eof = true;
        serve_readers(h);
    }
    if (wr) {
        /* Bytes already accepted still go out first. */
        h->shut_wr_pending = true;
        after_drain(h);
    }
    handle_check_waiters(h);
    stream_update(h);
    req_ok(r, json_object());
}

void stream_start(struct handle *h, int fd)
{
    h->fd = fd;
    if (!h->tp)
        h->tp = &plain_transport;
    h->state = HS_SUCCESS;
    if (h->kind == HK_LISTENER)
        return;
    ev_io_init(&h->rio, on_readable, fd, EV_READ);
    ev_io_init(&h->wio, on_writable, fd, EV_WRITE);
    h->rio.data = h->wio.data = h;
    stream_update(h);
}

void stream_close(struct handle *h)
{
    if (h->kind == HK_DATAGRAM)
        dgram_abort_writes(h, "the handle was closed");
    writes_abort(h, "the handle was closed");
    while (h->wq_head)
        wseg_unlink(h, h->wq_head);
    if (h->tp)
        h->tp->close(h);
}

/* After disconnect: a stream's peer is gone for good; reads end, writes fail. */
void stream_disconnected(struct handle *h)
{
    if (h->kind != HK_STREAM)
        return;
    h->eof = true;
    if (!h->werr)
        writes_fail(h, ENOTCONN);
    serve_readers(h);
    handle_check_waiters(h);
    stream_update(h);
}

size_t stream_cancel(struct handle *h)
{
    size_t n =
        h->kind == HK_DATAGRAM ? dgram_abort_writes(h, "cancelled") : writes_abort(h, "cancelled");
    stream_update(h);
    return n;
}

static void add_name(json_t *st, const char *key, int fd,
                     int (*fn)(int, struct sockaddr *, socklen_t *))
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd >= 0 && fn(fd, (struct sockaddr *)&ss, &len) == 0)
        json_object_set_new(st, key, sockaddr_json((struct sockaddr *)&ss, len));
}

void stream_status(struct handle *h, json_t *st)
{
    add_name(st, "local", h->fd, getsockname);
    if (h->kind != HK_LISTENER)
        add_name(st, "remote", h->fd, getpeername);
    size_t readable = h->kind == HK_LISTENER || !h->tp
                          ? 0
                          : buf_used(&h->rbuf) + h->tp->buffered(h) + kernel_readable(h->fd);
    json_object_set_new(st, "readable", json_integer((json_int_t)readable));
    json_object_set_new(st, "pending", json_integer((json_int_t)stream_pending(h)));
    json_object_set_new(st, "bytes_in", json_integer((json_int_t)h->bytes_in));
    json_object_set_new(st, "bytes_out", json_integer((json_int_t)h->bytes_out));
    if (h->eof)
        json_object_set_new(st, "eof", json_true());
    int mark = h->kind == HK_STREAM && h->fd >= 0 ? sockatmark(h->fd) : -1;
    if (mark >= 0)
        json_object_set_new(st, "atmark", json_boolean(mark));
}

static void name_of(struct worker *w, struct req *r, bool peer)
{
    unsigned kinds = (1u << HK_STREAM) | (1u << HK_DATAGRAM) | (peer ? 0 : 1u << HK_LISTENER);
    struct handle *h = handle_get_kind(w, r, "handle", kinds);
    if (!h)
        return;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int rc = h->fd < 0 ? (errno = ENOTCONN, -1)
             : peer    ? getpeername(h->fd, (struct sockaddr *)&ss, &len)
                       : getsockname(h->fd, (struct sockaddr *)&ss, &len);
    if (rc < 0) {
        req_fail_errno(r, errno, peer ? "peername" : "localname");
        return;
    }
    req_ok(r, sockaddr_json((struct sockaddr *)&ss, len));
}

void m_localname(struct worker *w, struct req *r)
{
    name_of(w, r, false);
}

void m_peername(struct worker *w, struct req *r)
{
    name_of(w, r, true);
}
