/*
 * stop.c - how netd stops: in steps that every worker runs on its own, the
 * main thread only counting the workers that finished a step.
 *
 *   drain  the bytes writes accepted reach the kernel (so a partial write
 *          that answered `written` is not lost), for at most
 *          netd_cfg.drain_timeout seconds; control connections are served
 *          meanwhile;
 *   end    every waiting call is answered `aborted` (writes with
 *          data.written), and so are monitors; the handles close;
 *   flush  those answers are written to the clients (at most FLUSH_TIMEOUT).
 *
 * A step is a message to each worker; a worker that is not done at once
 * looks again every POLL seconds on its own loop, and reports with an
 * atomic count and an ev_async to the main loop. No lock is shared.
 */
#include <stdlib.h>

#include "service.h"

#define POLL 0.01
#define FLUSH_TIMEOUT 1.0

enum step { ST_DRAIN, ST_END, ST_FLUSH, ST_DONE, ST__COUNT };

struct wstop {
    ev_timer poll;
    enum step step;
};

struct step_msg {
    struct msg hdr;
    enum step step;
};

static struct ev_loop *main_loop;
static ev_async reported;
static ev_timer deadline;
static enum step cur;
static int left[ST__COUNT]; /* workers yet to finish each step */
static struct wstop *ws;    /* one per worker, each touched only by its worker */
static struct stop_keep keep_fns;
static void (*done_fn)(struct ev_loop *loop);

static void report(enum step s)
{
    if (__atomic_sub_fetch(&left[s], 1, __ATOMIC_ACQ_REL) == 0)
        ev_async_send(main_loop, &reported);
}

static bool step_done(struct worker *w, enum step s)
{
    return s == ST_DRAIN ? handles_undrained(w, keep_fns.carried) == 0 : control_unsent(w) == 0;
}

static void on_poll(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    struct wstop *st = &ws[w->index];
    if (!step_done(w, st->step))
        return;
    ev_timer_stop(loop, t);
    report(st->step);
}

static void on_step(struct worker *w, struct msg *m)
{
    enum step s = ((struct step_msg *)m)->step;
    free(m);
    struct wstop *st = &ws[w->index];
    ev_timer_stop(w->loop, &st->poll);
    st->step = s;
    if (s == ST_END) {
        /* From here on new requests are answered `aborted` (dispatch). */
        w->stopping = true;
        handles_stop(w, "netd is shutting down", keep_fns.spare);
        if (keep_fns.ended)
            keep_fns.ended(w);
        monitor_stop(w, "netd is shutting down");
    }
    if (s == ST_END || s == ST_DONE || step_done(w, s)) {
        report(s);
        return;
    }
    ev_timer_init(&st->poll, on_poll, POLL, POLL);
    st->poll.data = w;
    ev_timer_start(w->loop, &st->poll);
}

static void step_post(enum step s)
{
    cur = s;
    __atomic_store_n(&left[s], netd_nworkers, __ATOMIC_RELEASE);
    for (int i = 0; i < netd_nworkers; i++) {
        struct step_msg *m = calloc(1, sizeof *m);
        if (!m)
            abort();
        m->hdr.fn = on_step;
        m->step = s;
        worker_post(i, &m->hdr);
    }
    ev_timer_stop(main_loop, &deadline);
    double t = s == ST_DRAIN ? netd_cfg.drain_timeout : s == ST_FLUSH ? FLUSH_TIMEOUT : 0;
    if (t > 0) {
        ev_timer_set(&deadline, t, 0.);
        ev_timer_start(main_loop, &deadline);
    }
}

static void advance(struct ev_loop *loop)
{
    if (cur == ST_DONE) {
        ev_timer_stop(loop, &deadline);
        ev_async_stop(loop, &reported);
        free(ws); /* the workers are past ST_DONE: none touches it again */
        ws = NULL;
        done_fn(loop);
        return;
    }
    step_post(cur + 1);
}

static void on_reported(struct ev_loop *loop, ev_async *a, int revents)
{
    if (ws && __atomic_load_n(&left[cur], __ATOMIC_ACQUIRE) == 0)
        advance(loop);
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    int n = __atomic_load_n(&left[cur], __ATOMIC_ACQUIRE);
    if (cur == ST_DRAIN)
        netd_log(LOG_WARN, "stop: %d worker%s still had bytes to send after %g s; they are lost", n,
                 n == 1 ? "" : "s", netd_cfg.drain_timeout);
    else
        netd_log(LOG_WARN, "stop: answers to %d worker%s' clients could not all be written", n,
                 n == 1 ? "" : "s");
    advance(loop);
}

void stop_begin(struct ev_loop *loop, const struct stop_keep *keep,
                void (*done)(struct ev_loop *loop))
{
    main_loop = loop;
    keep_fns = keep ? *keep : (struct stop_keep){0};
    done_fn = done;
    ws = calloc((size_t)netd_nworkers, sizeof *ws);
    if (!ws)
        abort();
    ev_async_init(&reported, on_reported);
    ev_async_start(loop, &reported);
    ev_init(&deadline, on_deadline);
    step_post(ST_DRAIN);
}

void stop_hurry(void)
{
    if (ws && cur != ST_DONE && ev_is_active(&deadline)) {
        ev_timer_stop(main_loop, &deadline);
        ev_timer_set(&deadline, 0., 0.);
        ev_timer_start(main_loop, &deadline);
    }
}
