/*
 * test_worker.c - core/worker.c: messages run on their worker's thread,
 * layer hooks run for every worker in the order they were registered, and
 * the check at stop finds a watcher nobody stopped, and a worker lets go
 * of a descriptor in the kernel at once before it is handed to another
 * thread (worker_release_fd).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Whether epoll descriptor @epfd watches @fd (its fdinfo lists "tfd: N"). */
static bool epoll_watches(int epfd, int fd)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", epfd);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    bool found = false;
    int t;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "tfd: %d", &t) == 1 && t == fd)
            found = true;
    fclose(f);
    return found;
}

struct watch_msg {
    struct msg hdr;
    int fd;
    bool release;
    int *done;
};
static ev_io watched;

static void on_readable(struct ev_loop *loop, ev_io *io, int revents) {}

static void on_watch(struct worker *w, struct msg *m)
{
    struct watch_msg *wm = (struct watch_msg *)m;
    if (!wm->release) {
        ev_io_init(&watched, on_readable, wm->fd, EV_READ);
        ev_io_start(w->loop, &watched);
    } else {
        ev_io_stop(w->loop, &watched);
        worker_release_fd(w, wm->fd);
    }
    __atomic_store_n(wm->done, 1, __ATOMIC_RELEASE);
    free(wm);
}

static void post_watch(int fd, bool release)
{
    int done = 0;
    struct watch_msg *wm = calloc(1, sizeof *wm);
    wm->hdr.fn = on_watch;
    wm->fd = fd;
    wm->release = release;
    wm->done = &done;
    worker_post(0, &wm->hdr);
    wait_for(&done, 1);
    assert_int_equal(done, 1);
}

static void test_release_fd_leaves_the_loop_at_once(void **state)
{
    assert_int_equal(workers_start(2), 0);
    int e0 = netd_workers[0].epfd, e1 = netd_workers[1].epfd;
    /* Each loop's epoll descriptor is found, and they are two. */
    assert_true(e0 >= 0 && e1 >= 0 && e0 != e1);
    char path[64], link[64] = "";
    snprintf(path, sizeof path, "/proc/self/fd/%d", e0);
    assert_true(readlink(path, link, sizeof link - 1) > 0);
    assert_string_equal(link, "anon_inode:[eventpoll]");

    int p[2];
    assert_int_equal(pipe(p), 0);
    post_watch(p[0], false);
    /* The loop registers the watcher before it next waits. */
    for (int i = 0; i < 2000 && !epoll_watches(e0, p[0]); i++)
        usleep(1000);
    assert_true(epoll_watches(e0, p[0]));
    assert_false(epoll_watches(e1, p[0]));
    /* Stopped and released: the kernel forgets it before the message ends
     * (libev alone would keep it registered until its next event). */
    post_watch(p[0], true);
    assert_false(epoll_watches(e0, p[0]));
    close(p[0]);
    close(p[1]);
    assert_int_equal(workers_stop(), 0);
}

int main(void)
{
    netd_cfg.log_level = LOG_ERR;
    worker_hook_add(&h1);
    worker_hook_add(&h2);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_run_on_their_worker),
        cmocka_unit_test(test_a_forgotten_watcher_is_found),
        cmocka_unit_test(test_release_fd_leaves_the_loop_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
