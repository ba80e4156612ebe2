/*
 * stream.c - stream handles: reading, chunking and writing through the
 * stream's transport, pending/flush/shutdown, the readiness conditions of
 * `wait`, and the stream kind's operations table.
 *
 * Bytes move from the socket into rbuf only while some read waits, and
 * leave rbuf only when a read is answered, so a read that times out or is
 * cancelled loses nothing. Writes form one queue of segments: a whole write
 * is answered when its segment has gone to the kernel; bytes a partial
 * write accepted sit in the same queue (bounded by --max-buffer), so the
 * order on the wire is the order of the calls.
 *
 * Both are charged to the handle's uid (core/budget.c) before they grow: a
 * read whose bytes would not fit in the uid's budget fails with `limit`
 * "max_memory" (the bytes stay readable, in netd or the kernel), a whole
 * write that would not fit is refused before any byte is sent, and a
 * partial write takes only what fits. A read buffer that has been emptied
 * is given back when it had grown past READ_KEEP.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "relay.h"

#define READ_CHUNK 65536
#define READ_KEEP (2 * READ_CHUNK)

static size_t kernel_readable(int fd)
{
    int n = 0;
    if (fd < 0 || ioctl(fd, FIONREAD, &n) < 0 || n < 0)
        return 0;
    return (size_t)n;
}

/* How many bytes rbuf may hold for the read at the head of the queue. */
static size_t read_cap(const struct sock *s)
{
    const struct req *r = s->readers.head;
    size_t cap = netd_cfg.max_buffer;
    if (r && r->u.rd.nbytes == 0)
        cap = netd_cfg.max_read + 1; /* "all": one byte past the limit tells it was passed */
    else if (r && r->u.rd.exact && r->u.rd.nbytes > cap)
        cap = r->u.rd.nbytes;
    return cap;
}

/* Kept and looped streams are watched even when no read waits, so that
 * their client hears (`closed`) when the peer ends them. What arrives
 * meanwhile is buffered, up to --max-buffer. */
static bool watch_end(const struct sock *s)
{
    return (s->h.kept || s->h.looped) && !s->eof && !s->rerr && !s->h.closed_told;
}

size_t stream_pending(struct sock *s)
{
    return s->wq_bytes + s->tp->unsent(s);
}

static bool stream_ready(struct handle *h, int wf)
{
    struct sock *s = sock_of(h);
    switch (wf) {
    case WF_CONNECTED:
        return h->state != HS_WAITING;
    case WF_READABLE:
        if (h->state == HS_FAILURE)
            return true;
        return buf_used(&s->rbuf) > 0 || s->eof || s->rerr || s->tp->buffered(s) > 0 ||
               (fd_poll_now(h->fd, POLLIN) & (POLLIN | POLLHUP | POLLERR));
    case WF_WRITABLE:
        if (h->state == HS_FAILURE || s->werr)
            return true;
        return h->state == HS_SUCCESS && s->wq_bytes == 0 &&
               (fd_poll_now(h->fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP));
    case WF_DRAINED:
        return h->state != HS_WAITING && stream_pending(s) == 0;
    case WF_ERROR:
        return h->state == HS_FAILURE || s->rerr || s->werr || (fd_poll_now(h->fd, 0) & POLLERR);
    }
    return false;
}

static void stream_update(struct handle *h)
{
    struct sock *s = sock_of(h);
    if (s->relay) {
        relay_watch(s->relay); /* the relay decides what is watched */
        return;
    }
    if (h->state != HS_SUCCESS || h->fd < 0)
        return;
    bool rd = ((s->readers.count > 0 || (watch_end(s) && !s->mem_short)) && !s->eof && !s->rerr &&
               buf_used(&s->rbuf) < read_cap(s)) ||
              handle_waiter_wants(h, WF_READABLE) || handle_waiter_wants(h, WF_ERROR);
    bool wr = (s->wq_bytes > 0 && !s->werr) || s->writers.count > 0 ||
              handle_waiter_wants(h, WF_WRITABLE);
    rd = rd || (s->tp_want & TP_WANT_READ);
    wr = wr || (s->tp_want & TP_WANT_WRITE);
    if (rd != ev_is_active(&h->rio))
        (rd ? ev_io_start : ev_io_stop)(h->w->loop, &h->rio);
    if (wr != ev_is_active(&h->wio))
        (wr ? ev_io_start : ev_io_stop)(h->w->loop, &h->wio);
}

void sock_fail_io(struct sock *s, struct req *r, int err, const char *what)
{
    if (!s->tp->fail(s, r, err, what))
        req_fail_errno(r, err, what);
}

/* ---- reading ---- */

/* base64 and hex need no JSON escaping: the result is written directly,
 * without building a jansson string that would be copied and scanned. */
static bool answer_read_raw(struct req *r, const uint8_t *p, size_t n, bool ended)
{
    if (r->u.rd.enc == NETD_ENC_UTF8)
        return false;
    bool b64 = r->u.rd.enc == NETD_ENC_BASE64;
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

/* The first unread byte of rbuf. An rbuf that never held a byte has no
 * memory at all (a stream that ended before it sent any), and even adding
 * 0 to a null pointer is undefined. */
static const uint8_t *rbuf_head(const struct sock *s)
{
    static const uint8_t none[1];
    return s->rbuf.data ? s->rbuf.data + s->rbuf.off : none;
}

/* Takes @n bytes off the front of rbuf; an emptied large buffer goes back. */
static void rbuf_consume(struct sock *s, size_t n)
{
    buf_consume(&s->rbuf, n);
    if (buf_used(&s->rbuf) == 0 && s->rbuf.cap > READ_KEEP)
        buf_free_for(&s->rbuf, s->h.uid);
    s->mem_short = false;
}

static void answer_read(struct req *r, struct sock *s, size_t n)
{
    enum netd_encoding used;
    /* eof: the peer has ended and these are its last bytes (maybe none). */
    bool ended = s->eof && buf_used(&s->rbuf) == n;
    bool consume = !r->u.rd.peek; /* @r is freed once answered */
    if (answer_read_raw(r, rbuf_head(s), n, ended)) {
        if (consume)
            rbuf_consume(s, n);
        return;
    }
    json_t *data = netd_data_encode(rbuf_head(s), n, r->u.rd.enc, &used);
    if (consume)
        rbuf_consume(s, n);
    req_ok(r, json_pack("{s:o,s:s,s:b}", "data", data, "encoding", netd_encoding_name(used), "eof",
                        ended));
}

/* Whether @r (not parked, or at the head of the readers) can be answered
 * with what rbuf holds now. */
static bool can_answer(const struct sock *s, const struct req *r)
{
    size_t used = buf_used(&s->rbuf);
    bool ended = s->eof || s->rerr;
    if (r->u.rd.nbytes == 0) /* "all" */
        return used > netd_cfg.max_read || ended;
    if (r->u.rd.exact)
        return used >= r->u.rd.nbytes || ended;
    return used > 0 || ended;
}

/* Answers @r from rbuf; can_answer() said it may. @r must not be parked. */
static void answer(struct sock *s, struct req *r)
{
    size_t used = buf_used(&s->rbuf);
    if (r->u.rd.nbytes == 0 && used > netd_cfg.max_read) {
        req_fail_limit(r, "max_read",
                       "more than %zu bytes before the end of the stream (netd --max-read); the "
                       "bytes stay readable",
                       netd_cfg.max_read);
        return;
    }
    if (used == 0 && s->rerr) {
        sock_fail_io(s, r, s->rerr, "read");
        return;
    }
    size_t n = r->u.rd.nbytes == 0 ? used : (used < r->u.rd.nbytes ? used : r->u.rd.nbytes);
    answer_read(r, s, n);
}

static void serve_readers(struct sock *s)
{
    while (s->readers.head && can_answer(s, s->readers.head)) {
        struct req *r = s->readers.head;
        req_unpark(r);
        answer(s, r);
    }
}

/* Reads what the socket has into rbuf, up to what the read @r (or the
 * head of the readers) may take. Returns true if bytes came. */
static bool fill_for(struct sock *s, const struct req *r)
{
    size_t used = buf_used(&s->rbuf), cap = netd_cfg.max_buffer;
    if (r && r->u.rd.nbytes == 0)
        cap = netd_cfg.max_read + 1;
    else if (r && r->u.rd.exact && r->u.rd.nbytes > cap)
        cap = r->u.rd.nbytes;
    if ((!r && !watch_end(s)) || s->eof || s->rerr || used >= cap)
        return false;
    size_t want = cap - used < READ_CHUNK ? cap - used : READ_CHUNK;
    int rc = buf_reserve_for(&s->rbuf, want, s->h.uid, MEM_NORMAL);
    if (rc == -ENOBUFS) {
        s->mem_short = true; /* the uid's budget is spent: the bytes wait in the kernel */
        return false;
    }
    if (rc < 0) {
        s->rerr = ENOMEM;
        return false;
    }
    s->mem_short = false;
    ssize_t n = s->tp->recv(s, s->rbuf.data + s->rbuf.len, want);
    if (n > 0) {
        s->rbuf.len += (size_t)n;
        s->bytes_in += (uint64_t)n;
        stat_add(&s->h.w->stats.bytes_in, n);
        IDENT_STAT_ADD(s->h.ident, bytes_in, n);
    } else if (n == 0) {
        s->eof = true;
    } else if (n != -EAGAIN) {
        s->rerr = (int)-n;
    }
    return n > 0;
}

static bool fill(struct sock *s)
{
    return fill_for(s, s->readers.head);
}

static void fail_memory(struct req *r)
{
    const char *rule;
    size_t cap = policy_max_memory(r->uid, netd_cfg.max_memory, &rule);
    req_fail_limit(r, "max_memory",
                   "netd cannot buffer more for uid %u (%s%s%s %zu, --max-memory-total %zu); "
                   "nothing was consumed",
                   (unsigned)r->uid, rule ? "max-memory of rule '" : "netd --max-memory",
                   rule ? rule : "", rule ? "'" : "", cap, netd_cfg.max_memory_total);
}

/* The read at the head needs more buffer than the uid's budget has left:
 * it fails (the bytes stay readable) rather than wait for memory. */
static void refuse_for_memory(struct sock *s)
{
    struct req *r = s->readers.head;
    if (!s->mem_short || !r || can_answer(s, r))
        return;
    req_unpark(r);
    fail_memory(r);
    s->mem_short = false;
}

static void flush_queue(struct sock *s);

/* Moves every direction forward after an event. Bytes a transport holds
 * already decrypted do not make the socket readable again, so reading goes
 * on while the transport still has some and a read wants them. */
static void progress(struct sock *s)
{
    while (fill(s)) {
        serve_readers(s);
        if (s->tp->buffered(s) == 0)
            break;
    }
    serve_readers(s);
    refuse_for_memory(s);
    if (s->wq_head)
        flush_queue(s);
    if (s->eof || s->rerr)
        handle_notify_closed(&s->h, s->rerr ? netd_errno_name(s->rerr) : "eof");
    handle_check_waiters(&s->h);
    stream_update(&s->h);
}

static void read_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "no data within the timeout; nothing was consumed");
    stream_update(h);
}

/* read and chunk. A read that can be answered at once, from what netd or
 * the kernel already holds, is answered without being parked. */
static void stream_read(struct handle *h, struct req *r)
{
    struct sock *s = sock_of(h);
    if (relay_refuse(s, r, r->m->name))
        return;
    json_t *nb = param(r, "nbytes");
    r->u.rd.exact = r->m->id == NETD_M_CHUNK;
    r->u.rd.peek = param_bool(r, "peek", false);
    r->u.rd.nbytes = json_is_string(nb) ? 0 : (size_t)json_integer_value(nb);
    if (json_is_integer(nb) && r->u.rd.nbytes > netd_cfg.max_read) {
        req_fail_limit(r, "max_read", "nbytes %zu is over the limit of %zu (netd --max-read)",
                       r->u.rd.nbytes, netd_cfg.max_read);
        return;
    }
    r->u.rd.enc = param_encoding(r);
    if (h->state == HS_WAITING) {
        req_fail(r, NETD_E_OS, json_pack("{s:s}", "errno", "ENOTCONN"),
                 "not connected yet; wait {for: \"connected\"} first");
        return;
    }
    if (h->state == HS_FAILURE) {
        handle_fail_req(r, h);
        return;
    }
    if (s->readers.count == 0) {
        /* Take what the kernel already has rather than wait a loop turn. */
        if (!can_answer(s, r))
            while (fill_for(s, r) && !can_answer(s, r) && s->tp->buffered(s) > 0)
                ;
        if (can_answer(s, r)) {
            answer(s, r);
            stream_update(h);
            return;
        }
        if (s->mem_short) {
            s->mem_short = false;
            fail_memory(r);
            stream_update(h);
            return;
        }
        if (req_timeout(r) == 0) {
            r->h = h;
            read_timeout(r);
            return;
        }
    }
    handle_park(r, h, &s->readers, WK_READ, read_timeout);
    stream_update(h);
}

/* ---- writing ---- */

static void wseg_unlink(struct sock *s, struct wseg *seg)
{
    struct wseg **p = &s->wq_head, *prev = NULL;
    while (*p && *p != seg) {
        prev = *p;
        p = &(*p)->next;
    }
    if (!*p)
        return;
    *p = seg->next;
    if (s->wq_tail == seg)
        s->wq_tail = prev;
    s->wq_bytes -= seg->len - seg->off;
    mem_release(s->h.uid, seg->len);
    free(seg->data);
    free(seg);
}

static struct wseg *wseg_of(struct sock *s, struct req *r)
{
    for (struct wseg *seg = s->wq_head; seg; seg = seg->next)
        if (seg->req == r)
            return seg;
    return NULL;
}

static void wseg_push(struct sock *s, uint8_t *data, size_t len, size_t off, struct req *r)
{
    struct wseg *seg = calloc(1, sizeof *seg);
    seg->data = data;
    seg->len = len;
    seg->off = off;
    seg->req = r;
    if (s->wq_tail)
        s->wq_tail->next = seg;
    else
        s->wq_head = seg;
    s->wq_tail = seg;
    s->wq_bytes += len - off;
}

/* Sends without blocking. Returns bytes sent, or -errno (not -EAGAIN: 0). */
static ssize_t send_some(struct sock *s, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    ssize_t k = s->tp->send(s, p, n);
    if (k > 0) {
        s->bytes_out += (uint64_t)k;
        stat_add(&s->h.w->stats.bytes_out, k);
        IDENT_STAT_ADD(s->h.ident, bytes_out, k);
    }
    return k;
}

/* The write side failed: every queued write learns it, with what it sent. */
static void writes_fail(struct sock *s, int err)
{
    s->werr = err;
    while (s->wq_head) {
        struct wseg *seg = s->wq_head;
        struct req *r = seg->req;
        if (r) {
            req_unpark(r);
            r->u.wr.written = seg->off;
            if (!s->tp->fail(s, r, err, "write"))
                req_fail(r, NETD_E_OS,
                         json_pack("{s:s,s:I}", "errno", netd_errno_name(err), "written",
                                   (json_int_t)seg->off),
                         "write: %s", strerror(err));
        }
        wseg_unlink(s, seg);
    }
}

static void after_drain(struct sock *s)
{
    if (s->wq_bytes == 0 && s->shut_wr_pending && !s->shut_wr) {
        s->tp->shutdown_write(s);
        s->shut_wr = true;
    }
}

static void flush_queue(struct sock *s)
{
    while (s->wq_head) {
        struct wseg *seg = s->wq_head;
        ssize_t k = send_some(s, seg->data + seg->off, seg->len - seg->off);
        if (k < 0) {
            writes_fail(s, (int)-k);
            break;
        }
        seg->off += (size_t)k;
        s->wq_bytes -= (size_t)k;
        if (seg->off < seg->len)
            break;
        if (seg->req) {
            struct req *r = seg->req;
            req_unpark(r);
            req_ok(r, json_pack("{s:I}", "written", (json_int_t)seg->len));
        }
        seg->off = seg->len;
        wseg_unlink(s, seg);
    }
    after_drain(s);
}

void stream_flush_queue(struct sock *s)
{
    flush_queue(s);
}

static void stream_io(struct handle *h, int revents)
{
    struct sock *s = sock_of(h);
    if (s->relay) {
        relay_run(s->relay);
        return;
    }
    if ((revents & EV_WRITE) && (s->tp_want & TP_WANT_WRITE))
        fill(s); /* a TLS read that had to write first */
    progress(s);
}

static void write_timeout(struct req *r)
{
    struct sock *s = sock_of(r->h);
    struct wseg *seg = wseg_of(s, r);
    size_t written = seg ? seg->off : 0;
    if (seg)
        wseg_unlink(s, seg); /* the unsent rest is dropped: the caller is told how much went */
    req_fail(r, NETD_E_TIMEOUT, json_pack("{s:I}", "written", (json_int_t)written),
             "the peer did not take the data within the timeout; %zu bytes were sent", written);
    stream_update(&s->h);
}

/* Drops the segments of waiting writes, answering them with `aborted`. */
static size_t writes_abort(struct sock *s, const char *why)
{
    size_t n = 0;
    while (s->writers.head) {
        struct req *r = s->writers.head;
        struct wseg *seg = wseg_of(s, r);
        size_t written = seg ? seg->off : 0;
        if (seg)
            wseg_unlink(s, seg);
        req_unpark(r);
        req_fail(r, NETD_E_ABORTED, json_pack("{s:I}", "written", (json_int_t)written), "%s", why);
        n++;
    }
    return n;
}

/* With nothing queued, a write goes straight to the socket first. Returns
 * the bytes sent, or -1 after failing @r (and freeing @data). */
static ssize_t send_first(struct sock *s, struct req *r, uint8_t *data, size_t len)
{
    if (s->wq_bytes > 0)
        return 0;
    ssize_t k = send_some(s, data, len);
    if (k < 0) {
        free(data);
        s->werr = (int)-k;
        sock_fail_io(s, r, s->werr, "write");
        return -1;
    }
    return k;
}

static void write_partial(struct sock *s, struct req *r, uint8_t *data, size_t len)
{
    ssize_t k = send_first(s, r, data, len);
    if (k < 0)
        return;
    size_t taken = (size_t)k;
    size_t room = s->wq_bytes < netd_cfg.max_buffer ? netd_cfg.max_buffer - s->wq_bytes : 0;
    size_t more = len - taken < room ? len - taken : room;
    if (more > 0 && !mem_charge(s->h.uid, more, MEM_NORMAL))
        more = 0; /* the uid's budget is spent: the write takes what the kernel took */
    if (more > 0) {
        uint8_t *copy = malloc(more);
        memcpy(copy, data + taken, more);
        wseg_push(s, copy, more, 0, NULL);
    }
    free(data);
    req_ok(r, json_pack("{s:I}", "written", (json_int_t)(taken + more)));
    stream_update(&s->h);
}

static void write_whole(struct sock *s, struct req *r, uint8_t *data, size_t len)
{
    if (s->wq_bytes + len > netd_cfg.max_queued) {
        free(data);
        req_fail_limit(r, "max_queued",
                       "more than %zu bytes would wait to be sent on this handle; wait for "
                       "\"drained\" first",
                       netd_cfg.max_queued);
        return;
    }
    /* Charged before any byte goes, so that a refusal sends nothing. */
    if (!mem_charge(s->h.uid, len, MEM_NORMAL)) {
        free(data);
        req_fail(r, NETD_E_LIMIT, json_pack("{s:s,s:i}", "limit", "max_memory", "written", 0),
                 "netd cannot queue %zu more bytes for uid %u (netd --max-memory); nothing was "
                 "sent",
                 len, (unsigned)r->uid);
        return;
    }
    ssize_t k = send_first(s, r, data, len);
    if (k < 0) {
        mem_release(s->h.uid, len);
        return;
    }
    size_t sent = (size_t)k;
    if (sent == len) {
        mem_release(s->h.uid, len);
        free(data);
        req_ok(r, json_pack("{s:I}", "written", (json_int_t)len));
        return;
    }
    if (req_timeout(r) == 0) {
        mem_release(s->h.uid, len);
        free(data);
        req_fail(r, NETD_E_TIMEOUT, json_pack("{s:I}", "written", (json_int_t)sent),
                 "the peer did not take all the data at once; %zu bytes were sent", sent);
        return;
    }
    wseg_push(s, data, len, sent, r);
    handle_park(r, &s->h, &s->writers, WK_WRITE, write_timeout);
    stream_update(&s->h);
}

/* TCP urgent data (MSG_OOB): sent whole at once, never queued, since the
 * urgent mark goes with the last byte of the one send that carries it. */
static void write_oob(struct sock *s, struct req *r, uint8_t *data, size_t len)
{
    if (!(s->tp->caps & TP_CAN_OOB)) {
        free(data);
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", s->tp->name),
                 "oob (urgent data) is for plain TCP streams");
        return;
    }
    if (s->wq_bytes > 0) {
        free(data);
        req_fail_errno(r, EAGAIN,
                       "write oob: earlier bytes are still queued; wait for "
                       "\"drained\" first");
        return;
    }
    ssize_t k = creds_send(s->scm ? s->h.ident : NULL, s->h.fd, data, len,
                           MSG_OOB | MSG_DONTWAIT | MSG_NOSIGNAL);
    if (k < 0) {
        errno = (int)-k;
        k = -1;
    }
    free(data);
    if (k > 0) {
        s->bytes_out += (uint64_t)k;
        stat_add(&s->h.w->stats.bytes_out, k);
        IDENT_STAT_ADD(s->h.ident, bytes_out, k);
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

static void stream_write(struct handle *h, struct req *r, uint8_t *data, size_t len)
{
    struct sock *s = sock_of(h);
    if (param_bool(r, "oob", false))
        write_oob(s, r, data, len);
    else if (param_bool(r, "partial", false))
        write_partial(s, r, data, len);
    else
        write_whole(s, r, data, len);
}

void stream_flush(struct sock *s)
{
    if (s->h.state != HS_SUCCESS)
        return;
    /* Setting TCP_NODELAY pushes out what Nagle holds back; the old
     * value is put back so the flush is only "for the moment". */
    int old = 0, on = 1;
    socklen_t len = sizeof old;
    if (getsockopt(s->h.fd, IPPROTO_TCP, TCP_NODELAY, &old, &len) == 0 && !old) {
        creds_setsockopt(s->h.ident, s->h.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        creds_setsockopt(s->h.ident, s->h.fd, IPPROTO_TCP, TCP_NODELAY, &old, sizeof old);
    }
    flush_queue(s);
    stream_update(&s->h);
}

int stream_shutdown(struct sock *s, bool rd, bool wr)
{
    if (s->h.state != HS_SUCCESS)
        return -ENOTCONN;
    if (rd && shutdown(s->h.fd, SHUT_RD) < 0 && errno != ENOTCONN)
        return -errno;
    if (rd) {
        s->eof = true;
        serve_readers(s);
    }
    if (wr) {
        /* Bytes already accepted still go out first. */
        s->shut_wr_pending = true;
        after_drain(s);
    }
    handle_check_waiters(&s->h);
    stream_update(&s->h);
    return 0;
}

/* ---- the life of a socket with a peer (streams and datagram sockets) ---- */

void sock_start(struct sock *s, int fd)
{
    struct handle *h = &s->h;
    h->fd = fd;
    s->scm = creds_scm_wanted(h->ident, fd);
    if (!s->tp)
        s->tp = &plain_transport;
    h->state = HS_SUCCESS;
    handle_watch(h, fd);
    h->ops->update(h);
}

static void stream_close(struct handle *h, const char *why)
{
    struct sock *s = sock_of(h);
    if (s->relay)
        relay_sock_closed(s);
    reqlist_abort(&s->readers, why);
    writes_abort(s, why);
    while (s->wq_head)
        wseg_unlink(s, s->wq_head);
    if (s->tp)
        s->tp->close(s);
}

void sock_free(struct sock *s)
{
    buf_free_for(&s->rbuf, s->h.uid);
    free(s->host);
    addrlist_free(&s->spec.al);
    json_decref(s->spec.pre_opts);
    unix_unbind(s->h.ident, &s->spec, false); /* a datagram's file: dgram_close has run */
    spec_free_caller(&s->spec);
}

static void stream_free(struct handle *h)
{
    sock_free(sock_of(h));
}

/* After disconnect: a stream's peer is gone for good; reads end, writes fail. */
static void stream_disconnected(struct handle *h)
{
    struct sock *s = sock_of(h);
    s->eof = true;
    if (!s->werr)
        writes_fail(s, ENOTCONN);
    serve_readers(s);
    handle_check_waiters(h);
    stream_update(h);
}

static size_t stream_cancel(struct handle *h)
{
    struct sock *s = sock_of(h);
    size_t n = reqlist_abort(&s->readers, "cancelled") + writes_abort(s, "cancelled");
    stream_update(h);
    return n;
}

static void stream_conn_gone(struct handle *h, uint64_t conn_id)
{
    reqlist_drop_conn(&sock_of(h)->readers, conn_id);
}

static void add_name(json_t *st, const char *key, int fd,
                     int (*fn)(int, struct sockaddr *, socklen_t *))
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd >= 0 && fn(fd, (struct sockaddr *)&ss, &len) == 0)
        json_object_set_new(st, key, sockaddr_json((struct sockaddr *)&ss, len));
}

/* The status members of any socket with a peer. */
void sock_status(struct sock *s, json_t *st)
{
    add_name(st, "local", s->h.fd, getsockname);
    add_name(st, "remote", s->h.fd, getpeername);
    size_t readable =
        !s->tp ? 0 : buf_used(&s->rbuf) + s->tp->buffered(s) + kernel_readable(s->h.fd);
    json_object_set_new(st, "readable", json_integer((json_int_t)readable));
    json_object_set_new(st, "pending",
                        json_integer((json_int_t)(s->tp ? stream_pending(s) : s->wq_bytes)));
    json_object_set_new(st, "bytes_in", json_integer((json_int_t)s->bytes_in));
    json_object_set_new(st, "bytes_out", json_integer((json_int_t)s->bytes_out));
    if (s->eof)
        json_object_set_new(st, "eof", json_true());
}

static void stream_status(struct handle *h, json_t *st)
{
    struct sock *s = sock_of(h);
    sock_status(s, st);
    int mark = h->fd >= 0 ? sockatmark(h->fd) : -1;
    if (mark >= 0)
        json_object_set_new(st, "atmark", json_boolean(mark));
    json_t *tp = s->tp ? s->tp->status(s) : NULL;
    if (tp)
        json_object_set_new(st, "tls", tp);
    if (s->relay)
        json_object_set_new(st, "attached", json_true());
}

/* ---- carried over a restart ---- */

/* What a stream holds besides its socket: the bytes read ahead and not yet
 * delivered, and the bytes partial writes accepted and the kernel has not
 * taken (whole writes have been answered `aborted` with data.written by
 * then, so their rest is not the stream's any more). */
static int stream_save(struct handle *h, json_t *rec, int *fd)
{
    struct sock *s = sock_of(h);
    /* A relay (attach, splice) holds bytes of its own in pipes and buffers. */
    if (!s->tp || !(s->tp->caps & TP_CAN_RELEASE) || h->fd < 0 || s->relay)
        return -ENOTSUP;
    if (!rec)
        return 0;
    struct buf unsent = {0};
    for (struct wseg *seg = s->wq_head; seg; seg = seg->next)
        if (!seg->req && buf_append(&unsent, seg->data + seg->off, seg->len - seg->off) < 0) {
            buf_free(&unsent);
            return -ENOMEM;
        }
    json_object_set_new(rec, "rbuf", carry_bytes(rbuf_head(s), buf_used(&s->rbuf)));
    json_object_set_new(rec, "unsent", carry_bytes(unsent.data, buf_used(&unsent)));
    buf_free(&unsent);
    json_t *st =
        json_pack("{s:b,s:i,s:i,s:b,s:b,s:I,s:I}", "eof", s->eof, "rerr", s->rerr, "werr", s->werr,
                  "shut_wr", s->shut_wr, "shut_wr_pending", s->shut_wr_pending, "bytes_in",
                  (json_int_t)s->bytes_in, "bytes_out", (json_int_t)s->bytes_out);
    json_object_update(rec, st);
    json_decref(st);
    if (s->host)
        json_object_set_new(rec, "host", json_string(s->host));
    carry_spec_save(&s->spec, rec);
    *fd = handle_give_fd(h);
    return 0;
}

/* The counters and flags every socket with a peer carries. */
void sock_restore_common(struct sock *s, const json_t *rec)
{
    s->bytes_in = (uint64_t)json_integer_value(json_object_get(rec, "bytes_in"));
    s->bytes_out = (uint64_t)json_integer_value(json_object_get(rec, "bytes_out"));
    const char *host = json_string_value(json_object_get(rec, "host"));
    s->host = host ? strdup(host) : NULL;
    carry_spec_restore(&s->spec, rec);
}

static int stream_restore(struct handle *h, const json_t *rec, int fd)
{
    struct sock *s = sock_of(h);
    uint8_t *rb = NULL, *un = NULL;
    size_t rn, unn;
    /* The uid held these bytes before the restart: they are charged to it
     * again whatever its budget says now (MEM_FORCE), as they go when read. */
    if (fd < 0 || carry_bytes_get(rec, "rbuf", &rb, &rn) < 0 ||
        carry_bytes_get(rec, "unsent", &un, &unn) < 0 ||
        (rn && buf_reserve_for(&s->rbuf, rn, h->uid, MEM_FORCE) < 0)) {
        free(rb);
        free(un);
        return -EINVAL;
    }
    if (rn)
        buf_append(&s->rbuf, rb, rn); /* within what was reserved */
    free(rb);
    if (unn > 0) {
        (void)mem_charge(h->uid, unn, MEM_FORCE); /* never refused */
        wseg_push(s, un, unn, 0, NULL);
    } else {
        free(un);
    }
    s->eof = json_is_true(json_object_get(rec, "eof"));
    s->rerr = (int)json_integer_value(json_object_get(rec, "rerr"));
    s->werr = (int)json_integer_value(json_object_get(rec, "werr"));
    s->shut_wr = json_is_true(json_object_get(rec, "shut_wr"));
    s->shut_wr_pending = json_is_true(json_object_get(rec, "shut_wr_pending"));
    sock_restore_common(s, rec);
    s->tp = &plain_transport;
    sock_start(s, fd);
    return 0;
}

const struct handle_ops stream_ops = {
    .save = stream_save,
    .restore = stream_restore,
    .kind = HK_STREAM,
    .size = sizeof(struct sock),
    .update = stream_update,
    .ready = stream_ready,
    .status = stream_status,
    .cancel = stream_cancel,
    .close = stream_close,
    .conn_gone = stream_conn_gone,
    .free = stream_free,
    .read = stream_read,
    .write = stream_write,
    .io = stream_io,
    .disconnected = stream_disconnected,
    .releasable = sock_releasable,
    .waits = 1u << WF_CONNECTED | 1u << WF_READABLE | 1u << WF_WRITABLE | 1u << WF_DRAINED |
             1u << WF_ERROR,
};
