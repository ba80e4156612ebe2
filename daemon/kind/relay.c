/*
 * relay.c - the relay: a stream's bytes moved without JSON, both ways,
 * between two ends, for `attach` and `splice` (attach.c owns the relays and
 * says what happens when one ends).
 *
 * An end is a stream handle, whose bytes go through its transport, or a
 * bare descriptor (the client's side of an attach, or one end of the socket
 * pair that joins the two halves of a splice across workers). A direction
 * whose two ends both let the descriptor carry the bytes (a bare
 * descriptor, or a stream whose transport has TP_CAN_SPLICE) moves them
 * inside the kernel with splice(2) through a pipe of its own; any other
 * direction (a TLS side) copies through a buffer of RELAY_CHUNK bytes, so
 * the transport encrypts and decrypts. A direction into a caller's unix
 * socket copies too (splice(2) cannot attach the caller's SCM_CREDENTIALS),
 * through a buffer the size of the pipe it would have used. Either way a
 * direction holds at most a pipe or a chunk (plus, once, what the stream
 * had read ahead): memory per relay is bounded, and a stalled reader stops
 * the writer through the kernel's own flow control.
 *
 * What netd already held for a stream goes first, in order: bytes read
 * ahead into rbuf leave before any the relay reads, and the stream's queued
 * writes (answering their requests as they go) before any the relay writes.
 * The end of one direction (EOF) becomes a half-close of its destination
 * once everything before it is out; a failure (a reset, a refused write)
 * ends the relay and resets the other end. A stream's counters keep
 * counting.
 *
 * A relay is driven by its ends' watchers: the stream's own (stream.c sends
 * a stream's events and updates here while s->relay is set) and the
 * relay's own for bare descriptors. Each worker keeps its live relays by id
 * (slot WS_RELAY), so messages from other workers name a relay by id and
 * find out when it has gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"

/* What a copying direction reads at a time, and holds at most. */
#define RELAY_CHUNK (64 * 1024)
/* The pipe of a direction in the kernel (asked of F_SETPIPE_SZ; the
 * kernel's default of 64 KiB stays when it refuses). */
#define RELAY_PIPE_SIZE (256 * 1024)
/* Bytes one direction moves per event before the worker's other work. */
#define RELAY_BUDGET (2u << 20)

struct rspace {
    struct idmap relays;
    uint64_t next_id;
    size_t homes; /* splices answered from this worker, not yet ended (attach.c) */
};

static struct rspace *space(struct worker *w)
{
    return w->slot[WS_RELAY];
}

struct relay *relay_find(struct worker *w, uint64_t id)
{
    return space(w) ? idmap_get(&space(w)->relays, id) : NULL;
}

void relay_homes_add(struct worker *w, int delta)
{
    space(w)->homes += (size_t)delta;
}

/* ---- ends ---- */

static int end_fd(const struct rend *e)
{
    return e->type == RE_SOCK ? e->s->h.fd : e->fd;
}

/* Whether the descriptor alone carries the end's bytes (splice(2) may move them). */
static bool end_kernel(const struct rend *e)
{
    return e->type == RE_FD || (e->type == RE_SOCK && (e->s->tp->caps & TP_CAN_SPLICE));
}

/* Whether bytes sent into the end must carry a caller's credentials, which
 * splice(2) cannot attach (the kernel would give the peer netd's). */
static bool end_scm(const struct rend *e)
{
    return (e->type == RE_SOCK && e->s->scm) || (e->type == RE_FD && e->scm);
}

static void count_in(struct rend *e, size_t n)
{
    if (e->type != RE_SOCK)
        return;
    e->s->bytes_in += n;
    stat_add(&e->s->h.w->stats.bytes_in, (int64_t)n);
}

static void count_out(struct rend *e, size_t n)
{
    if (e->type != RE_SOCK)
        return;
    e->s->bytes_out += n;
    stat_add(&e->s->h.w->stats.bytes_out, (int64_t)n);
}

/* > 0 bytes, 0 the end, -EAGAIN nothing now, else -errno. */
static ssize_t end_recv(struct rend *e, void *buf, size_t n)
{
    if (e->type == RE_SOCK)
        return e->s->tp->recv(e->s, buf, n);
    ssize_t k = recv(e->fd, buf, n, MSG_DONTWAIT);
    if (k >= 0)
        return k;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

/* >= 0 bytes taken (0: none now), else -errno. */
static ssize_t end_send(struct rend *e, const void *buf, size_t n)
{
    if (e->type == RE_SOCK)
        return e->s->tp->send(e->s, buf, n);
    ssize_t k = creds_send(e->scm, e->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k >= 0)
        return k;
    return k == -EAGAIN || k == -EWOULDBLOCK || k == -EINTR ? 0 : k;
}

static void end_shut_write(struct rend *e)
{
    if (e->type == RE_SOCK)
        stream_shutdown(e->s, false, true); /* after its queue, as `shutdown "w"` */
    else if (e->type == RE_FD)
        shutdown(e->fd, SHUT_WR);
}

/* The other side failed: this end is ended at once. A TCP stream is reset
 * (connect to AF_UNSPEC aborts it with an RST and keeps the descriptor);
 * other sockets, which have no reset, are shut down both ways. */
static void end_reset(struct rend *e)
{
    int fd = end_fd(e);
    if (e->type == RE_NONE || fd < 0)
        return;
    struct sockaddr sa = {.sa_family = AF_UNSPEC};
    if (e->type != RE_SOCK || creds_connect(e->s->h.ident, fd, &sa, sizeof sa) < 0)
        shutdown(fd, SHUT_RDWR);
    if (e->type == RE_SOCK) {
        e->s->eof = true;
        if (!e->s->rerr)
            e->s->rerr = ECONNRESET;
        if (!e->s->werr)
            e->s->werr = ECONNRESET;
    }
}

/* Bytes the end's transport holds that do not make its socket readable. */
static bool end_buffered(const struct rend *e)
{
    return e->type == RE_SOCK && e->s->tp->buffered(e->s) > 0;
}

/* ---- one direction ---- */

/* Delivers what the direction holds (its buffer, then its pipe). Returns
 * 1 when all of it went, 0 when the destination is full, -errno. */
static int deliver(struct rdir *d, size_t *moved)
{
    while (buf_used(&d->buf) > 0) {
        ssize_t k = end_send(d->dst, d->buf.data + d->buf.off, buf_used(&d->buf));
        if (k < 0)
            return (int)k;
        if (k == 0)
            return 0;
        buf_consume(&d->buf, (size_t)k);
        count_out(d->dst, (size_t)k);
        d->moved += (uint64_t)k;
        *moved += (size_t)k;
    }
    if (d->buf.cap > 2 * d->chunk)
        buf_free(&d->buf); /* what a stream had read ahead; later reads need less */
    while (d->in_pipe > 0) {
        ssize_t k = splice(d->pipe[0], NULL, end_fd(d->dst), NULL, d->in_pipe,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (k <= 0)
            return k < 0 ? -errno : -EPIPE;
        d->in_pipe -= (size_t)k;
        count_out(d->dst, (size_t)k);
        d->moved += (uint64_t)k;
        *moved += (size_t)k;
    }
    return 1;
}

/* Whether the end of internal pair end @e means its other half ended
 * before this one (it closed the pair while bytes still flow its way): a
 * half-close of the other half leaves the pair open. */
static bool half_gone(const struct relay *rl, const struct rend *e)
{
    const struct rdir *back = &rl->dir[e == &rl->end[0] ? 1 : 0];
    struct pollfd p = {.fd = e->fd, .events = POLLIN};
    return rl->internal_fd && e->type == RE_FD && !back->done && poll(&p, 1, 0) == 1 &&
           (p.revents & POLLHUP);
}

/* Takes more from the source. Returns 1 when something came (or the end),
 * 0 when there is nothing now, -errno. */
static int take(const struct relay *rl, struct rdir *d)
{
    struct rend *src = d->src;
    if (src->type == RE_SOCK) {
        struct sock *s = src->s;
        if (buf_used(&s->rbuf) > 0) { /* read ahead before the relay: it goes first */
            buf_free(&d->buf);
            d->buf = s->rbuf;
            memset(&s->rbuf, 0, sizeof s->rbuf);
            return 1;
        }
        if (s->eof) {
            d->eof = true;
            return 1;
        }
        if (s->rerr)
            return -s->rerr;
    }
    ssize_t k;
    if (d->pipe[1] >= 0) {
        k = splice(end_fd(src), NULL, d->pipe[1], NULL, RELAY_PIPE_SIZE,
                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (k < 0)
            k = errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
        if (k > 0)
            d->in_pipe += (size_t)k;
    } else {
        if (buf_reserve(&d->buf, d->chunk) < 0)
            return -ENOMEM;
        k = end_recv(src, d->buf.data + d->buf.len, d->chunk);
        if (k > 0)
            d->buf.len += (size_t)k;
    }
    if (k == -EAGAIN)
        return 0;
    if (k < 0) {
        if (src->type == RE_SOCK)
            src->s->rerr = (int)-k;
        return (int)k;
    }
    if (k == 0 && half_gone(rl, src))
        return -EPIPE; /* not an end to pass on: the other half says what it is */
    if (k == 0) {
        d->eof = true;
        if (src->type == RE_SOCK)
            src->s->eof = true;
    }
    count_in(src, (size_t)k);
    return 1;
}

/* Moves what direction @d can now. Returns 0, or -errno with *failed set
 * to the end that failed. */
static int dir_step(const struct relay *rl, struct rdir *d, struct rend **failed)
{
    size_t moved = 0;
    d->want_read = d->want_write = false;
    while (!d->done) {
        /* A stream's writes queued before the relay go out before any byte
         * the relay holds. */
        if (d->dst->type == RE_SOCK && d->dst->s->wq_head) {
            stream_flush_queue(d->dst->s);
            if (d->dst->s->werr) {
                *failed = d->dst;
                return -d->dst->s->werr;
            }
            if (d->dst->s->wq_head) {
                d->want_write = true;
                return 0;
            }
        }
        int rc = deliver(d, &moved);
        if (rc < 0) {
            *failed = d->dst;
            return rc;
        }
        if (rc == 0) {
            d->want_write = true;
            return 0;
        }
        if (d->eof) {
            end_shut_write(d->dst);
            d->done = true;
            return 0;
        }
        /* Bytes inside a transport do not wake the loop: they are taken
         * even past the budget. */
        if (moved >= RELAY_BUDGET && !end_buffered(d->src)) {
            d->want_read = true; /* level-triggered: the next turn goes on */
            return 0;
        }
        rc = take(rl, d);
        if (rc < 0) {
            *failed = d->src;
            return rc;
        }
        if (rc == 0) {
            d->want_read = true;
            return 0;
        }
    }
    return 0;
}

/* ---- watchers ---- */

static void set_watch(struct ev_loop *loop, ev_io *io, bool on)
{
    if (on != ev_is_active(io))
        (on ? ev_io_start : ev_io_stop)(loop, io);
}

static void end_watch(struct relay *rl, struct rend *e)
{
    bool rd = false, wr = false;
    for (int i = 0; i < 2 && rl->started; i++) {
        const struct rdir *d = &rl->dir[i];
        rd = rd || (d->src == e && !d->done && d->want_read);
        wr = wr || (d->dst == e && !d->done && d->want_write);
    }
    if (e->type == RE_SOCK) {
        struct sock *s = e->s;
        if (s->h.fd < 0)
            return;
        bool live = rl->started && !rl->peer_wait;
        rd = rd || (live && (s->tp_want & TP_WANT_READ));
        wr = wr || (live && (s->tp_want & TP_WANT_WRITE));
        set_watch(rl->w->loop, &s->h.rio, rd);
        set_watch(rl->w->loop, &s->h.wio, wr);
    } else if (e->type == RE_FD) {
        set_watch(rl->w->loop, &e->rio, rd);
        set_watch(rl->w->loop, &e->wio, wr);
    }
}

void relay_watch(struct relay *rl)
{
    end_watch(rl, &rl->end[0]);
    end_watch(rl, &rl->end[1]);
}

/* ---- the life of a relay ---- */

static void on_fd_io(struct ev_loop *loop, ev_io *io, int revents)
{
    relay_run(io->data);
}

struct relay *relay_new(struct worker *w, void (*done)(struct relay *rl))
{
    struct rspace *sp = space(w);
    struct relay *rl = calloc(1, sizeof *rl);
    if (!rl || idmap_put(&sp->relays, sp->next_id + 1, rl) < 0) {
        free(rl);
        return NULL;
    }
    rl->id = ++sp->next_id;
    rl->w = w;
    rl->done = done;
    for (int i = 0; i < 2; i++) {
        rl->end[i].fd = -1;
        rl->dir[i].pipe[0] = rl->dir[i].pipe[1] = -1;
    }
    return rl;
}

void relay_add_sock(struct relay *rl, int i, struct sock *s)
{
    rl->end[i].type = RE_SOCK;
    rl->end[i].s = s;
    s->relay = rl;
    relay_watch(rl); /* nothing reads the stream now but the relay */
}

void relay_add_fd(struct relay *rl, int i, int fd, struct ident *scm)
{
    struct rend *e = &rl->end[i];
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    e->type = RE_FD;
    e->fd = fd;
    e->scm = creds_scm_wanted(scm, fd) ? ident_ref(scm) : NULL;
    ev_io_init(&e->rio, on_fd_io, fd, EV_READ);
    ev_io_init(&e->wio, on_fd_io, fd, EV_WRITE);
    e->rio.data = e->wio.data = rl;
}

void relay_hold(struct relay *rl, int from, uint8_t *data, size_t len)
{
    struct buf *b = &rl->dir[from].buf;
    buf_free(b);
    b->data = data;
    b->len = b->cap = len;
}

/* A direction into a stream whose writing side is already shut takes
 * nothing: it ends as soon as the stream's queue is out. */
static void dir_init(struct relay *rl, int i)
{
    struct rdir *d = &rl->dir[i];
    d->src = &rl->end[i];
    d->dst = &rl->end[1 - i];
    if (d->dst->type == RE_SOCK && (d->dst->s->shut_wr || d->dst->s->shut_wr_pending)) {
        d->eof = true;
        if (d->src->type == RE_FD)
            shutdown(d->src->fd, SHUT_RD);
    }
    /* Into a caller's unix socket the bytes are copied (sendmsg with its
     * credentials), never spliced: a peer that reads SCM_CREDENTIALS must
     * see the caller, not netd's uid 0. A chunk the size of the pipe makes
     * a quarter of the system calls of RELAY_CHUNK there (measured: 0.8 of
     * the spliced rate, against 0.4-0.5), and holds no more than the pipe
     * would. */
    d->chunk = RELAY_CHUNK;
    if (end_kernel(d->src) && end_kernel(d->dst) && end_scm(d->dst))
        d->chunk = RELAY_PIPE_SIZE;
    else if (end_kernel(d->src) && end_kernel(d->dst) &&
             pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) == 0)
        fcntl(d->pipe[1], F_SETPIPE_SZ, RELAY_PIPE_SIZE);
}

void relay_start(struct relay *rl)
{
    dir_init(rl, 0);
    dir_init(rl, 1);
    rl->started = true;
    relay_run(rl);
}

static void finish(struct relay *rl)
{
    idmap_del(&space(rl->w)->relays, rl->id);
    for (int i = 0; i < 2; i++) {
        struct rend *e = &rl->end[i];
        struct rdir *d = &rl->dir[i];
        if (e->type == RE_FD) {
            ev_io_stop(rl->w->loop, &e->rio);
            ev_io_stop(rl->w->loop, &e->wio);
            close(e->fd);
            ident_unref(e->scm);
        }
        if (e->type == RE_SOCK)
            e->s->relay = NULL;
        for (int k = 0; k < 2; k++)
            if (d->pipe[k] >= 0)
                close(d->pipe[k]);
        buf_free(&d->buf);
    }
    /* The streams are their own again: their watchers as they want them. */
    for (int i = 0; i < 2; i++)
        if (rl->end[i].type == RE_SOCK)
            rl->end[i].s->h.ops->update(&rl->end[i].s->h);
    if (!rl->reason)
        rl->reason = "eof";
    rl->done(rl);
    free(rl);
}

/* Ends @rl for @err, which @failed suffered: the other end is reset, unless
 * it is a pair the owner closes itself (a splice's halves tell each other). */
static void abort_for(struct relay *rl, int err, struct rend *failed)
{
    if (!rl->reason)
        rl->reason = netd_errno_name(err);
    rl->err = err;
    for (int i = 0; i < 2; i++) {
        struct rend *e = &rl->end[i];
        if (e == failed || (rl->internal_fd && e->type == RE_FD))
            continue;
        if (rl->internal_fd && failed && failed->type == RE_FD)
            continue; /* the other half ended; it says whether to reset */
        end_reset(e);
    }
    finish(rl);
}

void relay_run(struct relay *rl)
{
    if (!rl->started || rl->in_run || rl->peer_wait)
        return;
    rl->in_run = true;
    struct rend *failed = NULL;
    int err = 0;
    for (int i = 0; i < 2 && !err && !rl->stop; i++)
        if (!rl->dir[i].done)
            err = dir_step(rl, &rl->dir[i], &failed);
    rl->in_run = false;
    if (!rl->stop && err && rl->internal_fd && failed && failed->type == RE_FD) {
        /* The other half of a splice ended first: it tells this one (by a
         * message) whether to reset, stop or just end. */
        rl->peer_wait = true;
        if (rl->peer_ended) {
            finish(rl);
            return;
        }
        for (int i = 0; i < 2; i++)
            rl->dir[i].want_read = rl->dir[i].want_write = false;
        relay_watch(rl);
        return;
    }
    if (err || rl->stop_err) {
        abort_for(rl, err ? -err : rl->stop_err, failed);
        return;
    }
    if (rl->stop || (rl->dir[0].done && rl->dir[1].done)) {
        finish(rl);
        return;
    }
    relay_watch(rl);
    for (int i = 0; i < 2; i++)
        if (rl->end[i].type == RE_SOCK)
            handle_check_waiters(&rl->end[i].s->h);
}

void relay_end(struct relay *rl, const char *reason, int reset_err)
{
    if (!rl->reason)
        rl->reason = reason;
    if (rl->in_run) { /* relay_run ends it on its way out */
        rl->stop = true;
        rl->stop_err = reset_err;
        return;
    }
    if (reset_err)
        abort_for(rl, reset_err, NULL);
    else
        finish(rl);
}

void relay_sock_closed(struct sock *s)
{
    struct relay *rl = s->relay;
    for (int i = 0; i < 2; i++) {
        struct rend *e = &rl->end[i];
        if (e->type == RE_SOCK && e->s == s) {
            ev_io_stop(rl->w->loop, &s->h.rio);
            ev_io_stop(rl->w->loop, &s->h.wio);
            s->relay = NULL;
            e->type = RE_NONE;
            e->s = NULL;
            e->closed = true;
        }
    }
    relay_end(rl, "closed", 0);
}

bool relay_refuse(struct sock *s, struct req *r, const char *what)
{
    if (!s->relay)
        return false;
    req_fail(r, NETD_E_PARAMS, NULL,
             "%s: %s is %s; only status, close and setsockopt work on it until that ends", what,
             s->h.name, s->relay->spliced ? "spliced" : "attached");
    return true;
}

/* ---- the layer's part in each worker's life ---- */

static int space_init(struct worker *w)
{
    w->slot[WS_RELAY] = calloc(1, sizeof(struct rspace));
    return w->slot[WS_RELAY] ? 0 : -ENOMEM;
}

/* netd stops: the handles' close ended every relay of theirs; what is left
 * is a splice half that had not started (its request was still on another
 * worker), which ends here. */
static void space_stop(struct worker *w)
{
    size_t pos = 0;
    struct relay *rl;
    while ((rl = idmap_next(&space(w)->relays, &pos)))
        relay_end(rl, "closed", 0);
}

static size_t space_leaks(struct worker *w, FILE *out)
{
    struct rspace *sp = space(w);
    size_t n = 0, pos = 0;
    struct relay *rl;
    while ((rl = idmap_next(&sp->relays, &pos))) {
        fprintf(out, "netd: leak: worker %d: relay %llu is still running\n", w->index,
                (unsigned long long)rl->id);
        n++;
    }
    if (sp->homes) {
        fprintf(out, "netd: leak: worker %d: %zu splices were never answered\n", w->index,
                sp->homes);
        n += sp->homes;
    }
    return n;
}

static void space_fini(struct worker *w)
{
    struct rspace *sp = space(w);
    if (!sp)
        return;
    idmap_free(&sp->relays);
    free(sp);
    w->slot[WS_RELAY] = NULL;
}

static const struct worker_hook hook = {
    .init = space_init,
    .stop = space_stop,
    .fini = space_fini,
    .leaks = space_leaks,
};

void relay_layer_init(void)
{
    worker_hook_add(&hook);
}
