/*
 * control.c - control connections: reading request lines, writing answers,
 * and backpressure.
 *
 * A connection lives on one worker. Answers are appended to its output
 * buffer and written once per loop turn (ev_prepare), so a burst of
 * pipelined requests is answered with few writes. When more than
 * out_high bytes of answers wait for a client that does not read them, netd
 * stops reading that client's requests until the backlog falls under out_low.
 *
 * The connection's own memory, its unfinished request line and its queued
 * answers, is charged to its uid (core/budget.c) and bounded by
 * --max-memory-conn. The first LINE_BASE bytes of a line are always read,
 * so that a client at its budget can still send the small requests that
 * read and close; past that, a line that would need memory the budget does
 * not have is not read further until the uid is under it again.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "lean.h"
#include "rpc.h"

/* Descriptors that travel together: with one answer going out (at an
 * offset of the output stream), or with one request line coming in. */
#define MAX_LINE_FDS 16

/* A line buffer this large is always granted (charged, never refused). */
#define LINE_BASE (LINE_SLACK + 4096u)
#define READ_SIZE 65536
/* How often a connection waiting for memory looks again. */
#define MEM_RETRY 0.05

struct fdset {
    int fds[MAX_LINE_FDS];
    int n, next; /* fds[next..n) not yet taken */
};

static void fdset_add(struct fdset *s, int fd)
{
    if (fd < 0)
        return;
    if (s->n < MAX_LINE_FDS)
        s->fds[s->n++] = fd;
    else
        close(fd); /* more than one answer line may carry (the client asked for them) */
}

static void fdset_close(struct fdset *s)
{
    while (s->next < s->n)
        close(s->fds[s->next++]);
}

int fdset_take(struct fdset *s)
{
    return s && s->next < s->n ? s->fds[s->next++] : -1;
}

struct batch {
    struct batch *next;
    uint64_t id;
    size_t n, remaining;
    char **slots;
    int *slot_fds; /* the descriptor of each element's answer, or -1 */
};

struct fdmark {
    struct fdmark *next;
    uint64_t at; /* offset in the stream (out: where its answer starts; in: where it came) */
    struct fdset set;
};

struct credit {
    struct credit *next;
    uint64_t at; /* paid once the output stream has been sent up to here */
    int worker;
    uint64_t seq;
};

struct notify_msg {
    struct msg hdr;
    uint64_t conn_id;
    char *line;
    int credit_worker;
    uint64_t credit_seq;
};

struct adopt_msg {
    struct msg hdr;
    int fd;
    uint64_t id;
    struct ident *ident;
};

struct gone_msg {
    struct msg hdr;
    uint64_t conn_id;
};

/* Per worker (slot WS_CONTROL): its connections, those with answers to
 * write this turn, and those closed and waiting to be freed. */
struct cspace {
    struct idmap conns;
    struct conn *dirty;
    struct conn *graveyard;
};

static struct cspace *space(struct worker *w)
{
    return w->slot[WS_CONTROL];
}

struct conn *control_find(struct worker *w, uint64_t id)
{
    return idmap_get(&space(w)->conns, id);
}

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);

static void on_conn_gone(struct worker *w, struct msg *m)
{
    handles_conn_gone(w, ((struct gone_msg *)m)->conn_id);
    free(m);
}

/* Every worker may hold handles of this connection, or requests it is
 * waiting on: tell them all. */
static void broadcast_gone(struct conn *c)
{
    for (int i = 0; i < netd_nworkers; i++) {
        if (i == c->w->index) {
            handles_conn_gone(c->w, c->id);
            continue;
        }
        struct gone_msg *m = calloc(1, sizeof *m);
        if (!m)
            continue;
        m->hdr.fn = on_conn_gone;
        m->conn_id = c->id;
        worker_post(i, &m->hdr);
    }
}

static void mark_dirty(struct conn *c)
{
    if (c->in_dirty)
        return;
    c->in_dirty = true;
    c->next_dirty = space(c->w)->dirty;
    space(c->w)->dirty = c;
}

void control_send(struct conn *c, char *line)
{
    if (c->closing || !line) {
        free(line);
        return;
    }
    size_t n = strlen(line);
    /* An answer to a call netd took is never refused: the memory is
     * counted, and new work of the uid is refused while it is over. */
    if (buf_reserve(&c->out, n + 1) < 0) {
        netd_log(LOG_ERR, "conn %llu: out of memory for an answer; closing",
                 (unsigned long long)c->id);
        free(line);
        conn_close(c);
        return;
    }
    if (c->out.cap > c->out_charged) {
        mem_charge(c->uid, c->out.cap - c->out_charged, MEM_FORCE);
        c->out_charged = c->out.cap;
    }
    buf_append(&c->out, line, n);
    buf_append(&c->out, "\n", 1);
    c->out_total += n + 1;
    free(line);
    mark_dirty(c);
}

/* An answer that carries descriptors (@set, taken): they go out with the
 * answer's first byte, so the client can tell which answer they belong to. */
static void control_send_fds(struct conn *c, char *line, struct fdset *set)
{
    if (set->next == set->n || c->closing || !line) {
        fdset_close(set);
        control_send(c, line);
        return;
    }
    struct fdmark *mk = calloc(1, sizeof *mk), **p = &c->marks;
    mk->at = c->out_total;
    mk->set = *set;
    set->n = set->next = 0;
    while (*p)
        p = &(*p)->next;
    *p = mk;
    control_send(c, line);
}

static void control_send_fd(struct conn *c, char *line, int fd)
{
    struct fdset set = {.n = 0};
    fdset_add(&set, fd);
    control_send_fds(c, line, &set);
}

static ssize_t send_with_fds(struct conn *c, size_t n, const struct fdset *set)
{
    struct iovec iov = {c->out.data + c->out.off, n};
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_LINE_FDS)];
        struct cmsghdr align;
    } u;
    size_t k = (size_t)(set->n - set->next);
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = u.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * k)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * k);
    memcpy(CMSG_DATA(cm), set->fds + set->next, sizeof(int) * k);
    return sendmsg(c->fd, &mh, MSG_NOSIGNAL);
}

/* Writes what the kernel takes. Returns -1 when the connection is gone. */
static int conn_write(struct conn *c)
{
    while (buf_used(&c->out) > 0) {
        size_t len = buf_used(&c->out);
        struct fdmark *mk = c->marks;
        if (mk && mk->at > c->out_sent && mk->at - c->out_sent < len)
            len = (size_t)(mk->at - c->out_sent);
        bool with_fd = mk && mk->at == c->out_sent;
        ssize_t n = with_fd ? send_with_fds(c, len, &mk->set)
                            : send(c->fd, c->out.data + c->out.off, len, MSG_NOSIGNAL);
        if (n > 0) {
            if (with_fd) {
                c->marks = mk->next;
                fdset_close(&mk->set); /* the client has its own copies now */
                free(mk);
            }
            buf_consume(&c->out, (size_t)n);
            c->out_sent += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!ev_is_active(&c->wio))
                ev_io_start(c->w->loop, &c->wio);
            return 0;
        }
        netd_log(LOG_DEBUG, "conn %llu: write: %s", (unsigned long long)c->id, strerror(errno));
        conn_close(c);
        return -1;
    }
    if (ev_is_active(&c->wio))
        ev_io_stop(c->w->loop, &c->wio);
    if (c->out.cap > (1u << 20)) {
        buf_free(&c->out); /* give back the memory a burst took */
        mem_release(c->uid, c->out_charged);
        c->out_charged = 0;
    }
    return 0;
}

/* After writing: resume a paused reader, or end a connection whose client
 * has finished sending and has every answer. */
/* A notification's credit goes back to its listener only once the
 * notification has left for the kernel: a client that does not read holds
 * at most a window of them in netd's memory. */
static void pay_credits(struct conn *c)
{
    while (c->credits && c->credits->at <= c->out_sent) {
        struct credit *cr = c->credits;
        c->credits = cr->next;
        loop_credit(cr->worker, cr->seq);
        free(cr);
    }
}

static void on_notify(struct worker *w, struct msg *m)
{
    struct notify_msg *nm = (struct notify_msg *)m;
    struct conn *c = control_find(w, nm->conn_id);
    if (!c || c->closing) {
        free(nm->line);
        free(nm);
        return;
    }
    control_send(c, nm->line);
    if (nm->credit_seq) {
        struct credit *cr = calloc(1, sizeof *cr), **p = &c->credits;
        cr->at = c->out_total;
        cr->worker = nm->credit_worker;
        cr->seq = nm->credit_seq;
        while (*p)
            p = &(*p)->next;
        *p = cr;
    }
    free(nm);
}

static void control_notify(int worker, uint64_t conn_id, char *line, int credit_worker,
                           uint64_t credit_seq)
{
    struct notify_msg *m = calloc(1, sizeof *m);
    m->hdr.fn = on_notify;
    m->conn_id = conn_id;
    m->line = line;
    m->credit_worker = credit_worker;
    m->credit_seq = credit_seq;
    struct worker *self = worker_self();
    if (self && self->index == worker)
        on_notify(self, &m->hdr);
    else
        worker_post(worker, &m->hdr);
}

/* The answer to attach "upgrade" is out: the socket and the bytes the
 * client sent after its request go to the relay, and the connection ends
 * without closing the socket. */
static void conn_handover(struct conn *c)
{
    const char *rest;
    size_t n = netd_line_rest(&c->lines, &rest);
    uint8_t *held = n ? malloc(n) : NULL;
    if (held)
        memcpy(held, rest, n);
    int fd = c->fd, worker = c->up_worker;
    uint64_t relay = c->up_relay;
    struct worker *w = c->w;
    c->fd = -1;
    c->up_relay = 0;
    conn_close(c);
    /* Its watchers are stopped; the relay's worker owns and closes the
     * socket from now on. */
    worker_release_fd(w, fd);
    relay_give_client(worker, relay, held || !n ? fd : -1, held, held ? n : 0);
    if (n && !held)
        close(fd);
}

bool control_upgrade_begin(struct conn *c, uint64_t batch_id)
{
    if (batch_id || c->batches || c->inflight > 1 || c->upgrading)
        return false;
    c->upgrading = true;
    ev_io_stop(c->w->loop, &c->rio);
    return true;
}

void control_upgrade(struct worker *w, uint64_t conn_id, int worker, uint64_t relay)
{
    struct conn *c = control_find(w, conn_id);
    if (!c || c->closing) {
        if (relay)
            relay_give_client(worker, relay, -1, NULL, 0);
        return;
    }
    if (relay) {
        c->up_worker = worker;
        c->up_relay = relay;
        mark_dirty(c);
        return;
    }
    /* It failed: the connection goes on speaking JSON-RPC. */
    c->upgrading = false;
    conn_process(c);
    if (!c->closing && !c->paused && !c->upgrading && !c->read_eof && !c->mem_wait)
        ev_io_start(c->w->loop, &c->rio);
}

static void conn_after_write(struct conn *c)
{
    if (c->up_relay && buf_used(&c->out) == 0) {
        conn_handover(c);
        return;
    }
    pay_credits(c);
    if (c->paused && buf_used(&c->out) <= netd_cfg.out_low) {
        c->paused = false;
        conn_process(c);
        if (!c->closing && !c->paused && !c->read_eof && !c->upgrading && !c->mem_wait)
            ev_io_start(c->w->loop, &c->rio);
    }
    if (!c->closing && c->read_eof && c->inflight == 0 && buf_used(&c->out) == 0)
        conn_close(c);
}

static void control_flush_dirty(struct worker *w)
{
    struct cspace *cs = space(w);
    while (cs->dirty) {
        struct conn *c = cs->dirty;
        cs->dirty = c->next_dirty;
        c->in_dirty = false;
        if (c->closing)
            continue;
        if (conn_write(c) == 0)
            conn_after_write(c);
    }
}

static void on_writable(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = io->data;
    if (conn_write(c) == 0)
        conn_after_write(c);
}

static void send_error(struct conn *c, enum netd_err kind, const char *msg)
{
    control_send(c, netd_rpc_error(NULL, kind, msg, NULL));
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static struct batch *batch_find(struct conn *c, uint64_t id, struct batch ***link)
{
    struct batch **p = &c->batches;
    for (; *p; p = &(*p)->next)
        if ((*p)->id == id) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

/* A batch is answered with one array once all its requests are answered;
 * notifications leave no element, and a batch of notifications no answer. */
static void batch_finish(struct conn *c, struct batch *b, struct batch **link)
{
    *link = b->next;
    struct buf out = {0};
    buf_append(&out, "[", 1);
    bool first = true;
    for (size_t i = 0; i < b->n; i++) {
        if (!b->slots[i])
            continue;
        if (!first)
            buf_append(&out, ",", 1);
        buf_append(&out, b->slots[i], strlen(b->slots[i]));
        first = false;
        free(b->slots[i]);
    }
    buf_append(&out, "]", 2); /* the NUL too */
    /* Every element's descriptor travels with the batch's answer, in the
     * order of the elements. */
    struct fdset set = {.n = 0};
    for (size_t i = 0; i < b->n; i++)
        fdset_add(&set, b->slot_fds[i]);
    if (!first)
        control_send_fds(c, (char *)out.data, &set);
    else {
        buf_free(&out);
        fdset_close(&set);
    }
    free(b->slots);
    free(b->slot_fds);
    free(b);
}

void control_reply(struct worker *w, uint64_t conn_id, uint64_t batch_id, size_t slot, char *line,
                   int fd)
{
    struct conn *c = control_find(w, conn_id);
    if (!c || c->closing) {
        free(line);
        if (fd >= 0)
            close(fd);
        return;
    }
    c->inflight--;
    if (batch_id) {
        struct batch **link;
        struct batch *b = batch_find(c, batch_id, &link);
        if (!b) {
            free(line);
            return;
        }
        b->slots[slot] = line;
        b->slot_fds[slot] = fd; /* travels with the batch's answer */
        if (--b->remaining == 0)
            batch_finish(c, b, link);
    } else {
        control_send_fd(c, line, fd);
    }
    mark_dirty(c); /* also re-checks the end of a half-closed client */
}

static void conn_batch(struct conn *c, json_t *arr, struct fdset *fds)
{
    size_t n = json_array_size(arr);
    if (n == 0) {
        send_error(c, NETD_E_INVALID_REQUEST, "empty batch");
        json_decref(arr);
        return;
    }
    struct batch *b = calloc(1, sizeof *b);
    b->slots = calloc(n, sizeof *b->slots);
    b->slot_fds = malloc(n * sizeof *b->slot_fds);
    for (size_t i = 0; i < n; i++)
        b->slot_fds[i] = -1;
    b->id = ++c->next_batch;
    b->n = n;
    b->remaining = n + 1; /* held open until every element is dispatched */
    b->next = c->batches;
    c->batches = b;
    for (size_t i = 0; i < n; i++) {
        c->inflight++;
        dispatch_request(c, json_incref(json_array_get(arr, i)), b->id, i, fds, NULL, 0);
    }
    json_decref(arr);
    struct batch **link;
    if (batch_find(c, b->id, &link) && --b->remaining == 0)
        batch_finish(c, b, link);
}

static void conn_line(struct conn *c, char *line, size_t len, struct fdset *fds)
{
    if (blank(line, len))
        return;
    const size_t flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY;
    /* An ordinary request skips jansson but for its params, and a write's
     * data skips it altogether (proto/lean.h); any line the lean path does
     * not take is parsed whole, as before. */
    struct netd_lean_req lr;
    if (netd_lean_request(line, len, flags, &lr) == 0) {
        c->inflight++;
        dispatch_lean(c, &lr, line, fds);
        return;
    }
    size_t off, n;
    json_t *msg = netd_lean_load(line, len, "params", "data", flags, &off, &n);
    if (msg) {
        c->inflight++;
        dispatch_request(c, msg, 0, 0, fds, line + off, n);
        return;
    }
    json_error_t err;
    msg = json_loadb(line, len, flags, &err);
    if (!msg) {
        char why[256];
        snprintf(why, sizeof why, "parse error: %s (column %d)", err.text, err.column);
        send_error(c, NETD_E_PARSE, why);
        return;
    }
    if (json_is_array(msg)) {
        conn_batch(c, msg, fds);
        return;
    }
    c->inflight++;
    dispatch_request(c, msg, 0, 0, fds, NULL, 0);
}

/* Moves into @out the descriptors that arrived at stream offsets in
 * [from, to) (the line they came with); older ones, of lines already gone,
 * are closed. */
static void line_fds(struct conn *c, uint64_t from, uint64_t to, struct fdset *out)
{
    while (c->in_marks && c->in_marks->at < to) {
        struct fdmark *mk = c->in_marks;
        c->in_marks = mk->next;
        if (!c->in_marks)
            c->in_marks_tail = &c->in_marks;
        for (int i = mk->set.next; i < mk->set.n; i++) {
            if (mk->at >= from)
                fdset_add(out, mk->set.fds[i]);
            else
                close(mk->set.fds[i]);
        }
        free(mk);
    }
}

/* Serves complete lines until none is left or the client must wait for
 * its answers to drain. */
static void conn_process(struct conn *c)
{
    while (!c->closing && !c->paused && !c->upgrading) {
        if (buf_used(&c->out) > netd_cfg.out_high) {
            c->paused = true;
            ev_io_stop(c->w->loop, &c->rio);
            break;
        }
        char *line;
        size_t len;
        int rc = netd_line_next(&c->lines, &line, &len);
        if (rc == NETD_LINE_NONE)
            break;
        if (rc == NETD_LINE_TOOLONG) {
            struct fdset dropped = {.n = 0};
            line_fds(c, 0, netd_line_done(&c->lines), &dropped);
            fdset_close(&dropped);
            char why[128];
            snprintf(why, sizeof why, "request line exceeds %zu bytes (netd --max-request)",
                     netd_cfg.max_request);
            send_error(c, NETD_E_INVALID_REQUEST, why);
            continue;
        }
        if (rc < 0) {
            conn_close(c);
            return;
        }
        /* The descriptors sent with this line are its own: an `assign` in
         * it takes them in order, and those no request took are closed. */
        struct fdset fds = {.n = 0};
        line_fds(c, netd_line_done(&c->lines) - len - 1, netd_line_done(&c->lines), &fds);
        conn_line(c, line, len, &fds);
        fdset_close(&fds);
    }
}

/* Descriptors come with the first bytes of the client's sendmsg that
 * carried them. The kernel ends a read with the piece that carries
 * descriptors (it may glue earlier pieces before it, never later ones), so
 * they belong to the line holding the last byte read: offset @at of the
 * stream. A client sends a line and its descriptors in one sendmsg. */
static void conn_take_fds(struct conn *c, struct msghdr *mh, uint64_t at)
{
    struct fdmark *mk = NULL;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof fd);
            if (!mk && (mk = calloc(1, sizeof *mk)) != NULL)
                mk->at = at;
            if (mk)
                fdset_add(&mk->set, fd);
            else
                close(fd);
        }
    }
    if (mk) {
        *c->in_marks_tail = mk;
        c->in_marks_tail = &mk->next;
    }
}

static bool peer_gone(struct conn *c)
{
    struct pollfd p = {.fd = c->fd, .events = POLLOUT};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

static void on_hup_check(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct conn *c = t->data;
    if (peer_gone(c))
        conn_close(c);
}

static bool peer_gone(struct conn *c);

/* The line buffer's allocation is charged as it is: what it holds now. */
static void line_settle(struct conn *c)
{
    size_t cap = netd_line_cap(&c->lines);
    if (cap < c->line_charged)
        mem_release(c->uid, c->line_charged - cap);
    else if (cap > c->line_charged)
        mem_charge(c->uid, cap - c->line_charged, MEM_FORCE);
    c->line_charged = cap;
}

/* Charges, before reading, what the line buffer may grow to with one more
 * read; false when the budget (the uid's, the daemon's or the
 * connection's share) refuses it. */
static bool line_room(struct conn *c)
{
    size_t want = netd_line_cap_after(&c->lines, READ_SIZE);
    if (want <= c->line_charged)
        return true;
    size_t more = want - c->line_charged;
    if (want <= LINE_BASE) {
        mem_charge(c->uid, more, MEM_FORCE);
    } else if (want + c->out_charged >
                   (netd_cfg.max_memory_conn ? netd_cfg.max_memory_conn : netd_cfg.max_memory) ||
               !mem_charge(c->uid, more, MEM_NORMAL)) {
        return false;
    }
    c->line_charged = want;
    return true;
}

static void on_mem_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct conn *c = t->data;
    if (peer_gone(c)) { /* not read meanwhile: nothing else would notice */
        conn_close(c);
        return;
    }
    if (!line_room(c))
        return;
    ev_timer_stop(loop, t);
    c->mem_wait = false;
    if (!c->closing && !c->paused && !c->read_eof && !c->upgrading)
        ev_io_start(loop, &c->rio);
}

static void on_readable(struct ev_loop *loop, ev_io *io, int revents)
{
    struct conn *c = io->data;
    if (!line_room(c)) {
        netd_log(LOG_DEBUG, "conn %llu: uid %u is at its memory budget; not reading",
                 (unsigned long long)c->id, (unsigned)c->uid);
        c->mem_wait = true;
        ev_io_stop(loop, &c->rio);
        ev_timer_again(loop, &c->mem_retry);
        return;
    }
    char chunk[READ_SIZE];
    union {
        char buf[CMSG_SPACE(16 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {chunk, sizeof chunk};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
    if (n > 0)
        conn_take_fds(c, &mh, c->in_total + (uint64_t)n - 1);
    if (n > 0)
        c->in_total += (uint64_t)n;
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_close(c);
        return;
    }
    if (n == 0) {
        /* A client that has gone away entirely is closed now, so that its
         * waiting calls stop taking bytes nobody will see. One that only
         * shut down its sending side (socat does) gets its answers first;
         * a timer notices if it goes away meanwhile. */
        if (peer_gone(c)) {
            conn_close(c);
            return;
        }
        c->read_eof = true;
        ev_io_stop(loop, &c->rio);
        ev_timer_start(loop, &c->hup);
        mark_dirty(c);
        return;
    }
    if (netd_line_feed(&c->lines, chunk, (size_t)n) < 0) {
        conn_close(c);
        return;
    }
    conn_process(c);
    if (c->closing)
        return;
    netd_line_trim(&c->lines);
    line_settle(c);
}

static void on_adopt(struct worker *w, struct msg *m)
{
    struct adopt_msg *am = (struct adopt_msg *)m;
    if (w->stopping) {
        control_unadmit(am->ident->uid);
        close(am->fd);
        ident_unref(am->ident);
        free(am);
        return;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c || idmap_put(&space(w)->conns, am->id, c) < 0) {
        free(c);
        control_unadmit(am->ident->uid);
        close(am->fd);
        ident_unref(am->ident);
        free(am);
        return;
    }
    c->id = am->id;
    c->w = w;
    c->fd = am->fd;
    c->ident = am->ident;
    c->uid = c->ident->uid;
    c->gid = c->ident->gid;
    c->pid = c->ident->pid;
    c->in_marks_tail = &c->in_marks;
    free(am);
    netd_line_init(&c->lines, netd_cfg.max_request);
    ev_io_init(&c->rio, on_readable, c->fd, EV_READ);
    ev_io_init(&c->wio, on_writable, c->fd, EV_WRITE);
    ev_timer_init(&c->hup, on_hup_check, 0.5, 0.5);
    c->hup.data = c;
    ev_init(&c->mem_retry, on_mem_retry);
    c->mem_retry.repeat = MEM_RETRY;
    c->mem_retry.data = c;
    c->rio.data = c->wio.data = c;
    ev_io_start(w->loop, &c->rio);
    stat_add(&w->stats.connections, 1);
    IDENT_STAT_ADD(c->ident, connections, 1);
    netd_log(LOG_DEBUG, "conn %llu: uid %u pid %d", (unsigned long long)c->id, (unsigned)c->uid,
             (int)c->pid);
}

bool control_admit(uid_t uid)
{
    if (uid == 0) {
        uid_take(uid, UC_CONNS, UINT64_MAX);
        return true;
    }
    return uid_take(uid, UC_CONNS, netd_cfg.max_conns_uid);
}

void control_unadmit(uid_t uid)
{
    uid_give(uid, UC_CONNS);
}

void control_adopt(int worker_index, int fd, uint64_t id, struct ident *ident)
{
    struct adopt_msg *m = calloc(1, sizeof *m);
    if (!m) {
        control_unadmit(ident->uid);
        close(fd);
        ident_unref(ident);
        return;
    }
    m->hdr.fn = on_adopt;
    m->fd = fd;
    m->id = id;
    m->ident = ident;
    worker_post(worker_index, &m->hdr);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    ev_io_stop(c->w->loop, &c->rio);
    ev_io_stop(c->w->loop, &c->wio);
    ev_timer_stop(c->w->loop, &c->hup);
    ev_timer_stop(c->w->loop, &c->mem_retry);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->up_relay) /* the relay waits for a socket that will not come */
        relay_give_client(c->up_worker, c->up_relay, -1, NULL, 0);
    c->up_relay = 0;
    idmap_del(&space(c->w)->conns, c->id);
    stat_add(&c->w->stats.connections, -1);
    monitor_conn_closed(c->w, c);
    uid_give(c->uid, UC_CONNS);
    IDENT_STAT_ADD(c->ident, connections, -1);
    broadcast_gone(c);
    while (c->batches) {
        struct batch *b = c->batches;
        c->batches = b->next;
        for (size_t i = 0; i < b->n; i++) {
            free(b->slots[i]);
            if (b->slot_fds[i] >= 0)
                close(b->slot_fds[i]);
        }
        free(b->slots);
        free(b->slot_fds);
        free(b);
    }
    while (c->marks) {
        struct fdmark *mk = c->marks;
        c->marks = mk->next;
        fdset_close(&mk->set);
        free(mk);
    }
    while (c->in_marks) {
        struct fdmark *mk = c->in_marks;
        c->in_marks = mk->next;
        fdset_close(&mk->set);
        free(mk);
    }
    while (c->credits) {
        struct credit *cr = c->credits;
        c->credits = cr->next;
        free(cr);
    }
    /* Freed in control_reap, after the callback that closed it returns. */
    c->next_grave = space(c->w)->graveyard;
    space(c->w)->graveyard = c;
    netd_log(LOG_DEBUG, "conn %llu: closed", (unsigned long long)c->id);
}

static void control_reap(struct worker *w)
{
    struct cspace *cs = space(w);
    /* A closed connection may still sit on the dirty list. */
    struct conn **p = &cs->dirty;
    while (*p) {
        if ((*p)->closing)
            *p = (*p)->next_dirty;
        else
            p = &(*p)->next_dirty;
    }
    while (cs->graveyard) {
        struct conn *c = cs->graveyard;
        cs->graveyard = c->next_grave;
        netd_line_free(&c->lines);
        buf_free(&c->out);
        mem_release(c->uid, c->line_charged + c->out_charged);
        free(c->trust.cafile);
        free(c->trust.capath);
        ident_unref(c->ident);
        free(c);
    }
}

size_t control_unsent(struct worker *w)
{
    control_flush_dirty(w);
    size_t pos = 0, n = 0;
    struct conn *c;
    while ((c = idmap_next(&space(w)->conns, &pos)))
        if (!c->closing)
            n += buf_used(&c->out);
    return n;
}

static void control_close_all(struct worker *w)
{
    size_t pos = 0;
    struct conn *c;
    while ((c = idmap_next(&space(w)->conns, &pos)))
        conn_close(c);
}

/* ---- the layer's part in each worker's life ---- */

static int space_init(struct worker *w)
{
    w->slot[WS_CONTROL] = calloc(1, sizeof(struct cspace));
    return w->slot[WS_CONTROL] ? 0 : -ENOMEM;
}

static size_t space_leaks(struct worker *w, FILE *out)
{
    struct cspace *cs = space(w);
    size_t n = 0, pos = 0;
    struct conn *c;
    while ((c = idmap_next(&cs->conns, &pos))) {
        fprintf(out, "netd: leak: worker %d: control connection %llu is still open\n", w->index,
                (unsigned long long)c->id);
        n++;
    }
    for (c = cs->graveyard; c; c = c->next_grave) {
        fprintf(out, "netd: leak: worker %d: closed control connection %llu was never freed\n",
                w->index, (unsigned long long)c->id);
        n++;
    }
    return n;
}

static void space_fini(struct worker *w)
{
    struct cspace *cs = space(w);
    if (!cs)
        return;
    idmap_free(&cs->conns);
    free(cs);
    w->slot[WS_CONTROL] = NULL;
}

static const struct worker_hook hook = {
    .init = space_init,
    .flush = control_flush_dirty,
    .reap = control_reap,
    .stop = control_close_all,
    .fini = space_fini,
    .leaks = space_leaks,
};

void rpc_layer_init(void)
{
    worker_hook_add(&hook);
    monitor_layer_init();
    req_set_sink(&dispatch_sink);
    handle_set_notify(control_notify);
}
