/*
 * resolve.c - name resolution off the event loops.
 *
 * getaddrinfo() blocks, so lookups run on a small pool of resolver threads
 * fed by a job queue; the result goes back to the asking worker as a
 * message and reaches the caller through its callback and token (a caller
 * that has gone by then finds nothing under its token). Numeric hosts never leave the loop: they
 * are converted inline with AI_NUMERICHOST, which cannot block.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

struct job {
    struct msg hdr; /* reused as the answer message */
    struct job *next_job;
    int worker;
    uint64_t token;
    resolve_cb cb;
    char *host, *service;
    struct addrinfo hints;
    int gai;
    int sys; /* errno when gai == EAI_SYSTEM */
    struct addrlist al;
};

static pthread_mutex_t rlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rcond = PTHREAD_COND_INITIALIZER;
static struct job *rhead, **rtail = &rhead;
static bool rstop;
static pthread_t *rthreads;
static int nthreads;

static int addrlist_from(struct addrlist *al, const struct addrinfo *res)
{
    size_t n = 0;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        n++;
    memset(al, 0, sizeof *al);
    if (n == 0)
        return 0;
    al->addrs = calloc(n, sizeof *al->addrs);
    al->lens = calloc(n, sizeof *al->lens);
    al->socktypes = calloc(n, sizeof *al->socktypes);
    if (!al->addrs || !al->lens || !al->socktypes) {
        addrlist_free(al);
        return -ENOMEM;
    }
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        memcpy(&al->addrs[al->count], ai->ai_addr, ai->ai_addrlen);
        al->lens[al->count] = ai->ai_addrlen;
        al->socktypes[al->count] = ai->ai_socktype;
        al->count++;
    }
    if (res->ai_canonname)
        al->canonname = strdup(res->ai_canonname);
    return 0;
}

static void job_lookup(struct job *j, int extra_flags)
{
    struct addrinfo hints = j->hints, *res = NULL;
    hints.ai_flags |= extra_flags;
    j->gai = getaddrinfo(j->host, j->service, &hints, &res);
    j->sys = errno;
    if (j->gai == 0) {
        if (addrlist_from(&j->al, res) < 0) {
            j->gai = EAI_MEMORY;
        }
        freeaddrinfo(res);
    }
}

static void job_free(struct job *j)
{
    free(j->host);
    free(j->service);
    addrlist_free(&j->al);
    free(j);
}

static void job_deliver(struct worker *w, struct job *j)
{
    if (j->gai == EAI_SYSTEM)
        errno = j->sys;
    j->cb(w, j->token, j->gai, &j->al);
    job_free(j);
}

static void on_answer(struct worker *w, struct msg *m)
{
    job_deliver(w, (struct job *)m);
}

static void *resolver_main(void *arg)
{
    pthread_mutex_lock(&rlock);
    for (;;) {
        while (!rhead && !rstop)
            pthread_cond_wait(&rcond, &rlock);
        if (rstop)
            break; /* lookups not started yet are dropped by resolver_stop */
        struct job *j = rhead;
        rhead = j->next_job;
        if (!rhead)
            rtail = &rhead;
        pthread_mutex_unlock(&rlock);
        job_lookup(j, 0);
        j->hdr.fn = on_answer;
        worker_post(j->worker, &j->hdr);
        pthread_mutex_lock(&rlock);
    }
    pthread_mutex_unlock(&rlock);
    return NULL;
}

int resolver_start(int n)
{
    rthreads = calloc((size_t)n, sizeof *rthreads);
    if (!rthreads)
        return -ENOMEM;
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&rthreads[i], NULL, resolver_main, NULL);
        if (rc)
            return -rc;
        nthreads++;
    }
    return 0;
}

void resolver_stop(void)
{
    pthread_mutex_lock(&rlock);
    rstop = true;
    pthread_cond_broadcast(&rcond);
    pthread_mutex_unlock(&rlock);
    for (int i = 0; i < nthreads; i++)
        pthread_join(rthreads[i], NULL);
    while (rhead) {
        struct job *j = rhead;
        rhead = j->next_job;
        job_free(j);
    }
    rtail = &rhead;
    free(rthreads);
    rthreads = NULL;
    nthreads = 0;
}

void resolve_start(struct worker *w, uint64_t token, resolve_cb cb, const char *host,
                   const char *service, int family, int socktype, int flags)
{
    struct job *j = calloc(1, sizeof *j);
    j->worker = w->index;
    j->token = token;
    j->cb = cb;
    j->host = host ? strdup(host) : NULL;
    j->service = service ? strdup(service) : NULL;
    j->hints.ai_family = family;
    j->hints.ai_socktype = socktype;
    j->hints.ai_flags = flags;

    /* A numeric host (or none) with a numeric or well-known service
     * resolves without any network traffic, so it is done right here. */
    job_lookup(j, AI_NUMERICHOST);
    if (j->gai != EAI_NONAME || !host || (flags & AI_NUMERICHOST)) {
        job_deliver(w, j);
        return;
    }
    addrlist_free(&j->al);
    pthread_mutex_lock(&rlock);
    *rtail = j;
    rtail = &j->next_job;
    j->next_job = NULL;
    pthread_cond_signal(&rcond);
    pthread_mutex_unlock(&rlock);
}
