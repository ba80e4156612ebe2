/*
 * monitor.c - seeing what netd does: the `monitor` method, which sends its
 * connection an `event` notification for every request netd finishes that
 * the caller may see, and the debug log's line per request.
 *
 * A monitor lives on its connection's worker. Every worker keeps its own
 * list of the monitors there are (told by message when one starts and
 * ends), so a request that finishes anywhere finds the monitors that want
 * its event without a lock, and posts the event, as plain data, to each
 * monitor's worker by the connection's id. When nobody monitors and the log
 * is not at debug, the whole cost of a finished request is one relaxed
 * atomic load.
 *
 * The queue is bounded twice. A worker may have at most MON_WINDOW events
 * on their way to one monitor; the monitor's worker gives the credit back
 * once per loop turn for the events it took. A monitor takes an event only
 * while its connection has less than MON_OUT_MAX bytes waiting to be sent.
 * Every event refused at either point is counted, and the count reaches
 * the client in the `dropped` member of the next event it gets.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "rpc.h"

/* Events one worker may have in flight to one monitor. */
#define MON_WINDOW 256
/* Bytes waiting on a monitor's connection past which its events are dropped. */
#define MON_OUT_MAX (256u << 10)
/* Monitors of non-root callers at once (root's are not counted). */
#define MON_MAX 64
/* Longest method or handle name an event carries (longer ones are cut). */
#define MON_NAME 64

/* Monitors that exist, and those of callers other than root. */
static atomic_int live;
static atomic_int live_unprivileged;

/** One finished request, as plain data: it crosses threads by value. */
struct mon_event {
    double time; /* when it finished, seconds since the epoch */
    int64_t duration_us;
    uid_t uid;
    pid_t pid;
    int code; /* the JSON-RPC error code; 0 when it succeeded */
    char method[MON_NAME + 1];
    char handle[MON_NAME + 1]; /* "" when the request named none */
};

/* A monitor as every worker knows it: whose events it wants, and how many
 * more this worker may send it before it hears back. */
struct peer {
    struct peer *next;
    uint64_t conn_id;
    int worker;
    uid_t uid;
    bool all; /* root: everyone's events */
    unsigned credit;
    uint64_t dropped; /* refused here since the last event sent */
};

/* A monitor on its own worker. */
struct mon {
    struct mon *next;
    uint64_t conn_id;
    uid_t uid;
    struct req *r; /* the monitor request, answered when the connection ends */
    uint64_t sent, dropped;
    bool owing;
    unsigned owed[]; /* credit to give back, by worker */
};

struct mspace {
    struct peer *peers;
    struct mon *mons;
};

struct add_msg {
    struct msg hdr;
    uint64_t conn_id;
    int worker;
    uid_t uid;
    bool all;
};

struct del_msg {
    struct msg hdr;
    uint64_t conn_id;
};

struct event_msg {
    struct msg hdr;
    uint64_t conn_id;
    int from;
    uint64_t dropped;
    struct mon_event ev;
};

struct credit_msg {
    struct msg hdr;
    uint64_t conn_id;
    unsigned n;
};

static struct mspace *mspace(struct worker *w)
{
    return w->slot[WS_MONITOR];
}

static struct peer *peer_find(struct worker *w, uint64_t conn_id, struct peer ***link)
{
    for (struct peer **p = &mspace(w)->peers; *p; p = &(*p)->next)
        if ((*p)->conn_id == conn_id) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

static struct mon *mon_find(struct worker *w, uint64_t conn_id, struct mon ***link)
{
    for (struct mon **p = &mspace(w)->mons; *p; p = &(*p)->next)
        if ((*p)->conn_id == conn_id) {
            if (link)
                *link = p;
            return *p;
        }
    return NULL;
}

/* ---- every worker's list of monitors ---- */

static void on_add(struct worker *w, struct msg *m)
{
    struct add_msg *am = (struct add_msg *)m;
    struct peer *p = calloc(1, sizeof *p);
    if (p) {
        p->conn_id = am->conn_id;
        p->worker = am->worker;
        p->uid = am->uid;
        p->all = am->all;
        p->credit = MON_WINDOW;
        p->next = mspace(w)->peers;
        mspace(w)->peers = p;
    }
    free(am);
}

static void on_del(struct worker *w, struct msg *m)
{
    struct peer **link, *p = peer_find(w, ((struct del_msg *)m)->conn_id, &link);
    if (p) {
        *link = p->next;
        free(p);
    }
    free(m);
}

static void on_credit(struct worker *w, struct msg *m)
{
    struct credit_msg *cm = (struct credit_msg *)m;
    struct peer *p = peer_find(w, cm->conn_id, NULL);
    if (p)
        p->credit += cm->n;
    free(cm);
}

/* Runs @fn with @m on worker @i: at once when that is this worker. */
static void post(struct worker *self, int i, struct msg *m)
{
    if (self && self->index == i)
        m->fn(self, m);
    else
        worker_post(i, m);
}

/* Tells every worker that the monitor of connection @conn_id (of @uid)
 * begins or ends. */
static void broadcast(struct worker *w, uint64_t conn_id, uid_t uid, bool add)
{
    for (int i = 0; i < netd_nworkers; i++) {
        if (add) {
            struct add_msg *m = calloc(1, sizeof *m);
            if (!m)
                continue;
            m->hdr.fn = on_add;
            m->conn_id = conn_id;
            m->worker = w->index;
            m->uid = uid;
            m->all = uid == 0;
            post(w, i, &m->hdr);
        } else {
            struct del_msg *m = calloc(1, sizeof *m);
            if (!m)
                continue;
            m->hdr.fn = on_del;
            m->conn_id = conn_id;
            post(w, i, &m->hdr);
        }
    }
}

/* ---- events arriving at a monitor ---- */

static char *event_line(const struct mon_event *e, uint64_t dropped)
{
    json_t *p =
        json_pack("{s:f, s:I, s:I, s:s, s:I, s:I}", "time", e->time, "uid", (json_int_t)e->uid,
                  "pid", (json_int_t)e->pid, "method", e->method, "duration_us",
                  (json_int_t)e->duration_us, "dropped", (json_int_t)dropped);
    if (!p)
        return NULL;
    if (e->handle[0])
        json_object_set_new(p, "handle", json_string(e->handle));
    if (e->code)
        json_object_set_new(p, "code", json_integer(e->code));
    return netd_rpc_notification("event", p);
}

static void on_event(struct worker *w, struct msg *m)
{
    struct event_msg *em = (struct event_msg *)m;
    struct mon *mon = mon_find(w, em->conn_id, NULL);
    if (!mon) {
        free(em);
        return;
    }
    mon->owed[em->from]++;
    mon->owing = true;
    mon->dropped += em->dropped;
    struct conn *c = control_find(w, em->conn_id);
    if (c && buf_used(&c->out) < MON_OUT_MAX) {
        control_send(c, event_line(&em->ev, mon->dropped));
        mon->sent++;
    } else {
        mon->dropped++;
    }
    free(em);
}

/* Once per loop turn: the credit for the events taken goes back. */
static void mon_flush(struct worker *w)
{
    struct mspace *ms = mspace(w);
    for (struct mon *mon = ms->mons; mon; mon = mon->next) {
        if (!mon->owing)
            continue;
        mon->owing = false;
        for (int i = 0; i < netd_nworkers; i++) {
            if (!mon->owed[i])
                continue;
            struct credit_msg *m = calloc(1, sizeof *m);
            if (!m)
                continue; /* that worker's window stays smaller */
            m->hdr.fn = on_credit;
            m->conn_id = mon->conn_id;
            m->n = mon->owed[i];
            mon->owed[i] = 0;
            post(w, i, &m->hdr);
        }
    }
}

/* ---- finished requests ---- */

/* Copies @n bytes of @s into @out as printable ASCII (others become '?'). */
static void copy_name(char out[MON_NAME + 1], const char *s, size_t n)
{
    if (n > MON_NAME)
        n = MON_NAME;
    for (size_t i = 0; i < n; i++)
        out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[n] = '\0';
}

static void event_fill(struct mon_event *e, const struct timespec *t0, int code, uid_t uid,
                       pid_t pid, const char *method, size_t method_len, const json_t *handle)
{
    struct timespec now, wall;
    clock_gettime(CLOCK_MONOTONIC, &now);
    clock_gettime(CLOCK_REALTIME, &wall);
    e->time = (double)wall.tv_sec + (double)(wall.tv_nsec / 1000) / 1e6;
    e->duration_us =
        (int64_t)(now.tv_sec - t0->tv_sec) * 1000000 + (now.tv_nsec - t0->tv_nsec) / 1000;
    e->uid = uid;
    e->pid = pid;
    e->code = code;
    copy_name(e->method, method, method_len);
    e->handle[0] = '\0';
    if (json_is_string(handle))
        copy_name(e->handle, json_string_value(handle), json_string_length(handle));
}

static void event_log(const struct mon_event *e)
{
    char outcome[96];
    if (e->code)
        snprintf(outcome, sizeof outcome, "error %d %s", e->code,
                 netd_err_name(netd_err_from_code(e->code)));
    else
        snprintf(outcome, sizeof outcome, "ok");
    netd_log(LOG_DEBUG, "request %s%s%s uid %u pid %d: %s, %lld us", e->method,
             e->handle[0] ? " " : "", e->handle, (unsigned)e->uid, (int)e->pid, outcome,
             (long long)e->duration_us);
}

/* Sends @e to every monitor that may see it, counting those with no
 * credit left. */
static void publish(struct worker *w, const struct mon_event *e)
{
    for (struct peer *p = mspace(w)->peers; p; p = p->next) {
        if (!p->all && p->uid != e->uid)
            continue;
        if (p->credit == 0) {
            p->dropped++;
            continue;
        }
        struct event_msg *m = malloc(sizeof *m);
        if (!m) {
            p->dropped++;
            continue;
        }
        p->credit--;
        m->hdr.fn = on_event;
        m->conn_id = p->conn_id;
        m->from = w->index;
        m->dropped = p->dropped;
        p->dropped = 0;
        m->ev = *e;
        post(w, p->worker, &m->hdr);
    }
}

static bool watched(void)
{
    return netd_cfg.log_level >= LOG_DEBUG || atomic_load_explicit(&live, memory_order_relaxed) > 0;
}

static void observe(const struct mon_event *e)
{
    if (netd_cfg.log_level >= LOG_DEBUG)
        event_log(e);
    struct worker *w = worker_self();
    if (w && mspace(w) && atomic_load_explicit(&live, memory_order_relaxed) > 0)
        publish(w, e);
}

void monitor_finished(const struct req *r, enum netd_err code, const json_t *result)
{
    if (!watched())
        return;
    const json_t *handle = json_object_get(r->params, "handle");
    if (!json_is_string(handle) && result)
        handle = json_object_get(result, "handle");
    struct mon_event e;
    event_fill(&e, &r->t0, netd_err_code(code), r->uid, r->pid, r->m->name, strlen(r->m->name),
               handle);
    observe(&e);
}

void monitor_early(const struct conn *c, const char *method, size_t method_len,
                   const json_t *params, enum netd_err code, const struct timespec *t0)
{
    if (!watched() || !method)
        return;
    struct mon_event e;
    event_fill(&e, t0, netd_err_code(code), c->uid, c->pid, method, method_len,
               json_is_object(params) ? json_object_get(params, "handle") : NULL);
    observe(&e);
}

/* ---- the method ---- */

void m_monitor(struct worker *w, struct req *r)
{
    struct conn *c = control_find(w, r->conn_id);
    if (!c) {
        req_fail(r, NETD_E_ABORTED, NULL, "the control connection ended");
        return;
    }
    if (mon_find(w, c->id, NULL)) {
        req_fail(r, NETD_E_LIMIT, json_pack("{s:s}", "limit", "monitors"),
                 "this connection already monitors (one monitor per connection)");
        return;
    }
    if (c->uid != 0 && atomic_fetch_add(&live_unprivileged, 1) >= MON_MAX) {
        atomic_fetch_sub(&live_unprivileged, 1);
        req_fail(r, NETD_E_LIMIT, json_pack("{s:s}", "limit", "monitors"),
                 "%d monitors are open already (root's are not counted)", MON_MAX);
        return;
    }
    struct mon *mon = calloc(1, sizeof *mon + (size_t)netd_nworkers * sizeof mon->owed[0]);
    if (!mon) {
        if (c->uid != 0)
            atomic_fetch_sub(&live_unprivileged, 1);
        req_fail_errno(r, ENOMEM, "monitor");
        return;
    }
    mon->conn_id = c->id;
    mon->uid = c->uid;
    mon->r = r;
    mon->next = mspace(w)->mons;
    mspace(w)->mons = mon;
    atomic_fetch_add(&live, 1);
    broadcast(w, c->id, c->uid, true);
}

/* Takes @mon (already off its list) out of every worker's list; it no
 * longer counts. Its request is the caller's to answer. */
static struct req *mon_end(struct worker *w, struct mon *mon)
{
    broadcast(w, mon->conn_id, 0, false);
    atomic_fetch_sub(&live, 1);
    if (mon->uid != 0)
        atomic_fetch_sub(&live_unprivileged, 1);
    struct req *r = mon->r;
    free(mon);
    return r;
}

void monitor_conn_closed(struct worker *w, const struct conn *c)
{
    struct mon **link, *mon = mon_find(w, c->id, &link);
    if (!mon)
        return;
    *link = mon->next;
    json_t *result = json_pack("{s:I, s:I}", "events", (json_int_t)mon->sent, "dropped",
                               (json_int_t)mon->dropped);
    /* Nobody reads this answer now; it still ends the request (and is an
     * event for whoever else monitors). */
    req_ok(mon_end(w, mon), result);
}

void monitor_stop(struct worker *w, const char *why)
{
    while (mspace(w)->mons) {
        struct mon *mon = mspace(w)->mons;
        mspace(w)->mons = mon->next;
        req_fail(mon_end(w, mon), NETD_E_ABORTED, NULL, "%s", why);
    }
}

/* ---- the layer's part in each worker's life ---- */

static int mon_init(struct worker *w)
{
    w->slot[WS_MONITOR] = calloc(1, sizeof(struct mspace));
    return w->slot[WS_MONITOR] ? 0 : -ENOMEM;
}

static size_t mon_leaks(struct worker *w, FILE *out)
{
    size_t n = 0;
    for (struct mon *mon = mspace(w)->mons; mon; mon = mon->next, n++)
        fprintf(out, "netd: leak: worker %d: the monitor of connection %llu never ended\n",
                w->index, (unsigned long long)mon->conn_id);
    for (struct peer *p = mspace(w)->peers; p; p = p->next, n++)
        fprintf(out, "netd: leak: worker %d: still knows the monitor of connection %llu\n",
                w->index, (unsigned long long)p->conn_id);
    return n;
}

static void mon_fini(struct worker *w)
{
    struct mspace *ms = mspace(w);
    if (!ms)
        return;
    while (ms->peers) {
        struct peer *p = ms->peers;
        ms->peers = p->next;
        free(p);
    }
    free(ms);
    w->slot[WS_MONITOR] = NULL;
}

static const struct worker_hook hook = {
    .init = mon_init,
    .flush = mon_flush,
    .fini = mon_fini,
    .leaks = mon_leaks,
};

void monitor_layer_init(void)
{
    worker_hook_add(&hook);
}
