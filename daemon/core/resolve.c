/*
 * resolve.c - name resolution off the event loops.
 *
 * getaddrinfo() blocks, so lookups run on a pool of resolver threads fed
 * by a job queue; the result goes back to the asking worker as a message
 * and reaches the caller through its callback and token (a caller that has
 * gone by then finds nothing under its token). Numeric hosts never leave
 * the loop: they are converted inline with AI_NUMERICHOST, which cannot
 * block.
 *
 * One uid's slow lookups must not delay another's. A uid has at most
 * --max-lookups-per-uid lookups running; its further ones wait in the
 * queue while other uids' jobs pass them. A lookup cannot be stopped once
 * getaddrinfo() runs (glibc offers no cancellation that is safe here), so
 * one whose caller gave up keeps its thread until glibc's own timeout;
 * the pool therefore grows, up to RESOLVER_MAX threads, whenever a job
 * could run and no thread is free, and a job still queued when its caller
 * gives up is dropped (resolve_cancel). Staying with getaddrinfo() keeps
 * everything the system's NSS gives: /etc/hosts, nsswitch.conf, mDNS,
 * LDAP or systemd-resolved modules, and resolv.conf's options.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core.h"

struct job {
    struct msg hdr; /* reused as the answer message */
    struct job *next_job;
    int worker;
    uint64_t token;
    uid_t uid;
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
static pthread_t rthreads[RESOLVER_MAX];
static int nthreads, nidle;

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

/* Whether a lookup that failed failed for want of descriptors: glibc then
 * cannot open /etc/hosts or a socket to the DNS server, and says the name
 * does not exist (EAI_NONAME) or the server failed (EAI_AGAIN). @err is
 * errno after the lookup; a descriptor that cannot be opened now decides
 * when it says nothing. */
static int out_of_descriptors(int err)
{
    if (err == EMFILE || err == ENFILE)
        return err;
    int fd = eventfd(0, EFD_CLOEXEC); /* any new descriptor would do */
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return errno == EMFILE || errno == ENFILE ? errno : 0;
}

static void job_lookup(struct job *j, int extra_flags)
{
    struct addrinfo hints = j->hints, *res = NULL;
    hints.ai_flags |= extra_flags;
    errno = 0;
    j->gai = getaddrinfo(j->host, j->service, &hints, &res);
    j->sys = errno;
    /* A name netd could not look up is not a name that does not exist. */
    if (j->gai != 0 && j->gai != EAI_SYSTEM && !(hints.ai_flags & AI_NUMERICHOST)) {
        int fds = out_of_descriptors(j->sys);
        if (fds) {
            j->gai = EAI_SYSTEM;
            j->sys = fds;
        }
    }
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

/* The first queued job whose uid may start one more lookup, taken off
 * the queue; NULL if none. Under rlock. */
static struct job *job_next(void)
{
    for (struct job **p = &rhead; *p; p = &(*p)->next_job) {
        struct job *j = *p;
        if (!uid_take(j->uid, UC_LOOKUPS, netd_cfg.max_lookups_uid))
            continue;
        *p = j->next_job;
        if (!*p)
            rtail = p;
        return j;
    }
    return NULL;
}

static void *resolver_main(void *arg)
{
    pthread_mutex_lock(&rlock);
    for (;;) {
        struct job *j = NULL;
        while (!rstop && !(j = job_next())) {
            nidle++;
            pthread_cond_wait(&rcond, &rlock);
            nidle--;
        }
        if (rstop)
            break; /* lookups not started yet are dropped by resolver_stop */
        pthread_mutex_unlock(&rlock);
        job_lookup(j, 0);
        uid_t uid = j->uid;
        j->hdr.fn = on_answer;
        worker_post(j->worker, &j->hdr);
        pthread_mutex_lock(&rlock);
        uid_give(uid, UC_LOOKUPS);
        if (rhead)
            pthread_cond_broadcast(&rcond); /* a job of this uid may run now */
    }
    pthread_mutex_unlock(&rlock);
    return NULL;
}

/* Under rlock. */
static int spawn(void)
{
    if (nthreads == RESOLVER_MAX)
        return -EAGAIN;
    int rc = pthread_create(&rthreads[nthreads], NULL, resolver_main, NULL);
    if (rc)
        return -rc;
    nthreads++;
    return 0;
}

int resolver_start(int n)
{
    pthread_mutex_lock(&rlock);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = spawn();
    pthread_mutex_unlock(&rlock);
    return rc;
}

void resolver_stop(void)
{
    pthread_mutex_lock(&rlock);
    rstop = true;
    pthread_cond_broadcast(&rcond);
    int n = nthreads;
    pthread_mutex_unlock(&rlock);
    for (int i = 0; i < n; i++)
        pthread_join(rthreads[i], NULL);
    while (rhead) {
        struct job *j = rhead;
        rhead = j->next_job;
        job_free(j);
    }
    rtail = &rhead;
    nthreads = 0;
    rstop = false;
}

void resolve_cancel(struct worker *w, uint64_t token)
{
    struct job *gone = NULL;
    pthread_mutex_lock(&rlock);
    for (struct job **p = &rhead; *p; p = &(*p)->next_job) {
        if ((*p)->worker == w->index && (*p)->token == token) {
            gone = *p;
            *p = gone->next_job;
            if (!*p)
                rtail = p;
            break;
        }
    }
    pthread_mutex_unlock(&rlock);
    if (gone)
        job_free(gone);
}

void resolve_start(struct worker *w, uint64_t token, uid_t uid, resolve_cb cb, const char *host,
                   const char *service, int family, int socktype, int flags)
{
    struct job *j = calloc(1, sizeof *j);
    j->worker = w->index;
    j->uid = uid;
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
    /* Every thread may be held by lookups that hang (a dead DNS server):
     * a job that could run gets a new thread rather than wait for them. */
    if (nidle == 0 && uid_get(uid, UC_LOOKUPS) < netd_cfg.max_lookups_uid && spawn() < 0)
        netd_log(LOG_DEBUG, "resolver: all %d threads busy", nthreads);
    pthread_cond_broadcast(&rcond);
    pthread_mutex_unlock(&rlock);
}

const char *resolve_why(int gai, char *buf, size_t n)
{
    int err = errno;
    const char *what = gai == 0            ? "no address"
                       : gai == EAI_SYSTEM ? strerror(err)
                                           : gai_strerror(gai);
    const char *next = NULL;
    switch (gai) {
    case 0:
        next = "the name has no address of the family or type asked for";
        break;
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        next = "no such name: check its spelling, /etc/hosts and the DNS servers of "
               "/etc/resolv.conf";
        break;
    case EAI_AGAIN:
        next = "the DNS server failed or did not answer: try again later, or check the DNS "
               "servers of /etc/resolv.conf";
        break;
    case EAI_FAIL:
        next = "the DNS server refused the query: check the DNS servers of /etc/resolv.conf";
        break;
    case EAI_SERVICE:
        next = "give the port as a number";
        break;
    case EAI_MEMORY:
        next = "netd is short of memory: try again later";
        break;
    case EAI_SYSTEM:
        if (err == EMFILE || err == ENFILE)
            next = "netd is out of descriptors: close handles, then try again";
        break;
    default:
        break;
    }
    if (next)
        snprintf(buf, n, "%s (%s)", what, next);
    else
        snprintf(buf, n, "%s", what);
    return buf;
}
