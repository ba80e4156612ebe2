/*
 * worker.c - the worker threads: one libev loop each, and the message queue
 * that is the only way into a worker from another thread.
 *
 * A sender links its message into the queue under the worker's mutex and
 * wakes the loop with ev_async_send only when the queue goes from empty to
 * non-empty; the worker takes the whole list at once and works on it with
 * the lock released (ev_async sends merge, so every wake-up drains all).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core.h"

struct worker *netd_workers;
int netd_nworkers;
static __thread struct worker *self;

#define MAX_HOOKS 8
static const struct worker_hook *hooks[MAX_HOOKS];
static int nhooks;

void worker_hook_add(const struct worker_hook *h)
{
    if (nhooks < MAX_HOOKS)
        hooks[nhooks++] = h;
}

struct worker *worker_self(void)
{
    return self;
}

void stat_add(uint64_t *counter, int64_t delta)
{
    __atomic_add_fetch(counter, (uint64_t)delta, __ATOMIC_RELAXED);
}

uint64_t stat_get(const uint64_t *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void worker_post(int index, struct msg *m)
{
    struct worker *w = &netd_workers[index];
    m->next = NULL;
    pthread_mutex_lock(&w->lock);
    bool was_empty = w->head == NULL;
    *w->tail = m;
    w->tail = &m->next;
    pthread_mutex_unlock(&w->lock);
    if (was_empty)
        ev_async_send(w->loop, &w->wake);
}

static void on_wake(struct ev_loop *loop, ev_async *a, int revents)
{
    struct worker *w = a->data;
    pthread_mutex_lock(&w->lock);
    struct msg *m = w->head;
    w->head = NULL;
    w->tail = &w->head;
    pthread_mutex_unlock(&w->lock);
    while (m) {
        struct msg *next = m->next;
        m->fn(w, m);
        m = next;
    }
}

static void run_reap(struct worker *w)
{
    for (int i = 0; i < nhooks; i++)
        if (hooks[i]->reap)
            hooks[i]->reap(w);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *p, int revents)
{
    struct worker *w = p->data;
    for (int i = 0; i < nhooks; i++)
        if (hooks[i]->flush)
            hooks[i]->flush(w);
}

static void on_check(struct ev_loop *loop, ev_check *c, int revents)
{
    run_reap(c->data);
}

static void on_trim(struct ev_loop *loop, ev_timer *t, int revents)
{
    mem_trim();
}

/* Stopping: every layer closes what it holds on this worker, in the order
 * the layers registered (connections before handles), then the worker's
 * own watchers stop, so that the loop is left with nothing. Messages that
 * still arrive are run by workers_stop(): answers to connections that are
 * gone are dropped by id. */
static void on_stop(struct worker *w, struct msg *m)
{
    free(m);
    w->stopping = true;
    for (int i = 0; i < nhooks; i++)
        if (hooks[i]->stop)
            hooks[i]->stop(w);
    run_reap(w);
    ev_async_stop(w->loop, &w->wake);
    ev_prepare_stop(w->loop, &w->flush);
    ev_check_stop(w->loop, &w->reap);
    ev_timer_stop(w->loop, &w->trim);
    ev_break(w->loop, EVBREAK_ALL);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    self = w;
    /* Named, so ps, top and debuggers (and the watchdog test) can tell the workers apart. */
    char name[16];
    snprintf(name, sizeof name, "netd-w%d", w->index);
    pthread_setname_np(pthread_self(), name);
    ev_run(w->loop, 0);
    return NULL;
}

/* The epoll descriptors open now, as a bitmap of descriptor numbers below
 * @n (libev does not say which descriptor its loop uses). */
static void epoll_fds(unsigned char *map, int n)
{
    memset(map, 0, (size_t)(n + 7) / 8);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        char path[64], link[64];
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd >= n)
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(path, link, sizeof link - 1);
        if (len > 0 && (size_t)len == strlen("anon_inode:[eventpoll]") &&
            memcmp(link, "anon_inode:[eventpoll]", (size_t)len) == 0)
            map[fd / 8] |= (unsigned char)(1u << (fd % 8));
    }
    closedir(d);
}

/* Makes @w's loop, and finds its epoll descriptor: the one that is new
 * after ev_loop_new. Workers are made one after another on the main thread
 * before any of them runs, so no other loop appears meanwhile. */
static int loop_new(struct worker *w)
{
    enum { N = 1 << 16 }; /* beyond: not found, and libev's lazy way stays */
    static unsigned char before[N / 8], after[N / 8];
    w->epfd = -1;
    epoll_fds(before, N);
    w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!w->loop)
        return -ENOMEM;
    if (ev_backend(w->loop) != EVBACKEND_EPOLL)
        return 0;
    epoll_fds(after, N);
    for (int fd = 0; fd < N; fd++)
        if ((after[fd / 8] & ~before[fd / 8]) & (1u << (fd % 8))) {
            w->epfd = fd;
            break;
        }
    return 0;
}

void worker_release_fd(struct worker *w, int fd)
{
    /* ENOENT (never watched, or already gone) is what we want too. */
    if (w && w->epfd >= 0 && fd >= 0)
        (void)epoll_ctl(w->epfd, EPOLL_CTL_DEL, fd, &(struct epoll_event){0});
}

static int worker_init(struct worker *w, int index)
{
    memset(w, 0, sizeof *w);
    w->index = index;
    int rc0 = loop_new(w);
    if (rc0)
        return rc0;
    pthread_mutex_init(&w->lock, NULL);
    w->tail = &w->head;
    ev_async_init(&w->wake, on_wake);
    w->wake.data = w;
    ev_async_start(w->loop, &w->wake);
    ev_prepare_init(&w->flush, on_prepare);
    w->flush.data = w;
    ev_prepare_start(w->loop, &w->flush);
    ev_check_init(&w->reap, on_check);
    w->reap.data = w;
    ev_check_start(w->loop, &w->reap);
    ev_timer_init(&w->trim, on_trim, 1.0, 1.0);
    ev_timer_start(w->loop, &w->trim);
    for (int i = 0; i < nhooks; i++) {
        int rc = hooks[i]->init ? hooks[i]->init(w) : 0;
        if (rc)
            return rc;
    }
    return 0;
}

int workers_start(int n)
{
    netd_workers = calloc((size_t)n, sizeof *netd_workers);
    if (!netd_workers)
        return -ENOMEM;
    netd_nworkers = n;
    for (int i = 0; i < n; i++) {
        int rc = worker_init(&netd_workers[i], i);
        if (rc)
            return rc;
    }
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&netd_workers[i].thread, NULL, worker_main, &netd_workers[i]);
        if (rc)
            return -rc;
    }
    return 0;
}

/* ---- parking every worker (reload) ---- */

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int parked;
static bool park_hold;

static void on_park(struct worker *w, struct msg *m)
{
    free(m);
    pthread_mutex_lock(&park_lock);
    parked++;
    pthread_cond_broadcast(&park_cond);
    while (park_hold)
        pthread_cond_wait(&park_cond, &park_lock);
    parked--;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
}

void workers_quiesce(void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&park_lock);
    park_hold = true;
    pthread_mutex_unlock(&park_lock);
    for (int i = 0; i < netd_nworkers; i++) {
        struct msg *m = calloc(1, sizeof *m);
        if (!m)
            abort();
        m->fn = on_park;
        worker_post(i, m);
    }
    pthread_mutex_lock(&park_lock);
    while (parked < netd_nworkers)
        pthread_cond_wait(&park_cond, &park_lock);
    fn(arg);
    park_hold = false;
    pthread_cond_broadcast(&park_cond);
    while (parked > 0)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
}

/* ---- liveness (watchdog) ---- */

static uint64_t ping_gen;

struct ping_msg {
    struct msg hdr;
    uint64_t gen;
};

static void on_ping(struct worker *w, struct msg *m)
{
    __atomic_store_n(&w->beat, ((struct ping_msg *)m)->gen, __ATOMIC_RELEASE);
    free(m);
}

bool workers_alive(void)
{
    for (int i = 0; i < netd_nworkers; i++)
        if (__atomic_load_n(&netd_workers[i].beat, __ATOMIC_ACQUIRE) != ping_gen)
            return false;
    return true;
}

void workers_ping(void)
{
    ping_gen++;
    for (int i = 0; i < netd_nworkers; i++) {
        struct ping_msg *m = calloc(1, sizeof *m);
        if (!m)
            return;
        m->hdr.fn = on_ping;
        m->gen = ping_gen;
        worker_post(i, &m->hdr);
    }
}

/* Runs on the worker after its loop has ended: messages that arrived after
 * the stop message (answers from other workers in flight) are freed by
 * running them; they find no connection and drop their payload. */
static bool worker_drain(struct worker *w)
{
    bool any = false;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        struct msg *m = w->head;
        w->head = NULL;
        w->tail = &w->head;
        pthread_mutex_unlock(&w->lock);
        if (!m)
            break;
        any = true;
        while (m) {
            struct msg *next = m->next;
            m->fn(w, m);
            m = next;
        }
    }
    return any;
}

/* What worker @w left behind: objects a layer still holds, and watchers
 * still active in its loop (ev_run returns true while any is). */
static size_t worker_leaks(struct worker *w)
{
    size_t n = 0;
    for (int i = 0; i < nhooks; i++)
        if (hooks[i]->leaks)
            n += hooks[i]->leaks(w, stderr);
    if (ev_run(w->loop, EVRUN_NOWAIT)) {
        fprintf(stderr, "netd: leak: worker %d: its event loop still has active watchers\n",
                w->index);
        n++;
    }
    return n;
}

size_t workers_stop(void)
{
    for (int i = 0; i < netd_nworkers; i++) {
        struct msg *m = calloc(1, sizeof *m);
        m->fn = on_stop;
        worker_post(i, m);
    }
    for (int i = 0; i < netd_nworkers; i++)
        pthread_join(netd_workers[i].thread, NULL);
    /* Every loop has stopped: drain what other workers sent late, with this
     * thread standing in for each worker in turn. */
    bool any;
    do {
        any = false;
        for (int i = 0; i < netd_nworkers; i++) {
            struct worker *w = &netd_workers[i];
            self = w;
            any |= worker_drain(w);
            run_reap(w);
            self = NULL;
        }
    } while (any);
    size_t leaks = 0;
    for (int i = 0; i < netd_nworkers; i++) {
        struct worker *w = &netd_workers[i];
        self = w;
        leaks += worker_leaks(w);
        for (int k = 0; k < nhooks; k++)
            if (hooks[k]->fini)
                hooks[k]->fini(w);
        self = NULL;
        ev_loop_destroy(w->loop);
        pthread_mutex_destroy(&w->lock);
    }
    free(netd_workers);
    netd_workers = NULL;
    netd_nworkers = 0;
    return leaks;
}
