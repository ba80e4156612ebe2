/*
 * test_worker.c - core/worker.c: messages run on their worker's thread,
 * layer hooks run for every worker in the order they were registered, and
 * the check at stop finds a watcher nobody stopped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "core.h"

static int order[16], n_order;
static int inits, stops, finis;

static int h1_init(struct worker *w)
{
    __atomic_add_fetch(&inits, 1, __ATOMIC_RELAXED);
    return 0;
}
static void h1_stop(struct worker *w)
{
    if (w->index == 0)
        order[n_order++] = 1;
    __atomic_add_fetch(&stops, 1, __ATOMIC_RELAXED);
}
static void h2_stop(struct worker *w)
{
    if (w->index == 0)
        order[n_order++] = 2;
}
static void h_fini(struct worker *w)
{
    finis++;
}

static const struct worker_hook h1 = {.init = h1_init, .stop = h1_stop, .fini = h_fini};
static const struct worker_hook h2 = {.stop = h2_stop};

struct probe {
    struct msg hdr;
    int *where;
    ev_timer t;
};

static void on_probe(struct worker *w, struct msg *m)
{
    struct probe *p = (struct probe *)m;
    __atomic_store_n(p->where, worker_self() == w ? w->index + 100 : -1, __ATOMIC_RELEASE);
    free(p);
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents) {}

/* Starts a timer on the worker's loop and never stops it: a leak. */
static void on_leak(struct worker *w, struct msg *m)
{
    static ev_timer t;
    ev_timer_init(&t, on_tick, 3600., 0.);
    ev_timer_start(w->loop, &t);
    free(m);
}

static void wait_for(int *v, int want)
{
    for (int i = 0; i < 2000 && __atomic_load_n(v, __ATOMIC_ACQUIRE) != want; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static void test_messages_run_on_their_worker(void **state)
{
    assert_int_equal(workers_start(2), 0);
    assert_int_equal(inits, 2);
    int got[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        struct probe *p = calloc(1, sizeof *p);
        p->hdr.fn = on_probe;
        p->where = &got[i];
        worker_post(i, &p->hdr);
    }
    wait_for(&got[0], 100);
    wait_for(&got[1], 101);
    assert_int_equal(got[0], 100);
    assert_int_equal(got[1], 101);
    assert_int_equal(workers_stop(), 0); /* nothing left behind */
    assert_int_equal(stops, 2);
    assert_int_equal(finis, 2);
    assert_int_equal(n_order, 2);
    assert_int_equal(order[0], 1); /* registration order */
    assert_int_equal(order[1], 2);
}

static void test_a_forgotten_watcher_is_found(void **state)
{
    assert_int_equal(workers_start(2), 0);
    struct msg *m = calloc(1, sizeof *m);
    m->fn = on_leak;
    worker_post(0, m);
    assert_int_equal(workers_stop(), 1);
}

int main(void)
{
    netd_cfg.log_level = LOG_ERR;
    worker_hook_add(&h1);
    worker_hook_add(&h2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_run_on_their_worker),
        cmocka_unit_test(test_a_forgotten_watcher_is_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
