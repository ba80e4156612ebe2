/*
 * handle.c - handles: naming, ownership, per-uid quotas, status, and the one
 * close path every kind goes through.
 *
 * A handle's name is "h<worker>.<seq in hex>": the worker index routes a
 * request without any shared table, and seq comes from a per-worker counter
 * that never goes back, so a name is never reused in a netd process.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "netd.h"
#include "tls.h"

static const char *const kind_names[] = {"address", "stream", "listener", "datagram"};
static const char *const state_names[] = {"waiting", "success", "failure", "closed"};

const char *handle_kind_name(enum hkind k)
{
    return kind_names[k];
}

/* Per-uid handle counts, shared by all workers without a lock: a fixed
 * open-addressing table whose slots are claimed with compare-and-swap. */
#define QUOTA_SLOTS 4096
static struct {
    uint64_t key; /* uid + 1; 0 = free */
    uint64_t count;
} quota[QUOTA_SLOTS];

static uint64_t *quota_counter(uid_t uid)
{
    uint64_t key = (uint64_t)uid + 1;
    for (size_t i = 0, s = (key * 2654435761u) % QUOTA_SLOTS; i < QUOTA_SLOTS;
         i++, s = (s + 1) % QUOTA_SLOTS) {
        uint64_t cur = __atomic_load_n(&quota[s].key, __ATOMIC_ACQUIRE);
        if (cur == key)
            return &quota[s].count;
        if (cur == 0) {
            uint64_t expect = 0;
            if (__atomic_compare_exchange_n(&quota[s].key, &expect, key, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE) ||
                expect == key)
                return &quota[s].count;
        }
    }
    return NULL;
}

bool quota_take(uid_t uid)
{
    uint64_t *c = quota_counter(uid);
    if (!c)
        return false;
    uint64_t n = __atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
    if (n > netd_cfg.max_handles) {
        __atomic_sub_fetch(c, 1, __ATOMIC_RELAXED);
        return false;
    }
    return true;
}

void quota_release(uid_t uid)
{
    uint64_t *c = quota_counter(uid);
    if (c)
        __atomic_sub_fetch(c, 1, __ATOMIC_RELAXED);
}

int handle_parse(const char *name, int *worker, uint64_t *seq)
{
    if (!name || name[0] != 'h')
        return -1;
    char *end;
    errno = 0;
    unsigned long wi = strtoul(name + 1, &end, 10);
    if (end == name + 1 || *end != '.' || wi > 4096 || errno)
        return -1;
    const char *s = end + 1;
    if (!*s || strlen(s) > 16)
        return -1;
    for (const char *p = s; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return -1;
    *worker = (int)wi;
    *seq = strtoull(s, NULL, 16);
    return *seq ? 0 : -1;
}

struct handle *handle_create(struct worker *w, uint64_t conn_id, int conn_worker, uid_t uid,
                             bool kept, enum hkind kind)
{
    if (!quota_take(uid))
        return NULL;
    struct handle *h = calloc(1, sizeof *h);
    if (!h || idmap_put(&w->handles, w->next_seq, h) < 0) {
        free(h);
        quota_release(uid);
        return NULL;
    }
    h->seq = w->next_seq++;
    snprintf(h->name, sizeof h->name, "h%d.%llx", w->index, (unsigned long long)h->seq);
    h->w = w;
    h->kind = kind;
    h->state = HS_WAITING;
    h->owner_conn = conn_id;
    h->notify_worker = conn_worker;
    h->uid = uid;
    h->kept = kept;
    h->fd = -1;
    h->type = SOCK_STREAM;
    stat_add(&w->stats.handles[kind], 1);
    return h;
}

void handle_fail_quota(struct req *r)
{
    req_fail(r, NETD_E_LIMIT, json_pack("{s:s}", "limit", "max_handles"),
             "uid %u holds %zu handles already (netd --max-handles); close some first",
             (unsigned)r->uid, netd_cfg.max_handles);
}

struct handle *handle_new(struct worker *w, struct req *r, enum hkind kind)
{
    struct handle *h =
        handle_create(w, r->conn_id, r->conn_worker, r->uid, param_bool(r, "keep", false), kind);
    if (!h)
        handle_fail_quota(r);
    return h;
}

static bool owned_by(const struct handle *h, const struct req *r)
{
    return h->kept ? h->uid == r->uid : h->owner_conn == r->conn_id;
}

struct handle *handle_get(struct worker *w, struct req *r, const char *pname)
{
    int wi;
    uint64_t seq;
    const char *name = param_str(r, pname);
    struct handle *h = NULL;
    if (name && handle_parse(name, &wi, &seq) == 0 && wi == w->index)
        h = idmap_get(&w->handles, seq);
    /* Another caller's handle is answered exactly like one that never existed. */
    if (!h || h->state == HS_CLOSED || !owned_by(h, r)) {
        req_fail(r, NETD_E_UNKNOWN_HANDLE, NULL, "unknown handle: %.64s", name ? name : "");
        return NULL;
    }
    r->h = h; /* lets a failure be told in the handle's terms (TLS) */
    return h;
}

struct handle *handle_get_kind(struct worker *w, struct req *r, const char *pname, unsigned kinds)
{
    struct handle *h = handle_get(w, r, pname);
    if (h && !(kinds & (1u << h->kind))) {
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", kind_names[h->kind]),
                 "%s cannot be used on a %s handle", r->m->name, kind_names[h->kind]);
        return NULL;
    }
    return h;
}

void handle_set_failure(struct handle *h, enum netd_err kind, json_t *data, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    free(h->fail_msg);
    json_decref(h->fail_data);
    h->fail_msg = strdup(msg);
    h->fail_data = data;
    h->fail_kind = kind;
    h->state = HS_FAILURE;
}

void handle_close(struct handle *h, const char *why)
{
    if (h->state == HS_CLOSED)
        return;
    h->state = HS_CLOSED;
    struct reqlist *lists[] = {&h->connectors, &h->readers, &h->acceptors, &h->waiters};
    for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
        reqlist_abort(lists[i], why);
    if (h->kind == HK_LISTENER)
        loop_listener_closed(h);
    if (h->kind == HK_LISTENER && h->tls)
        tls_listener_close(h); /* TLS hook: its handshakes and context */
    if (h->kind == HK_STREAM || h->kind == HK_DATAGRAM)
        stream_close(h);
    ev_io_stop(h->w->loop, &h->rio);
    ev_io_stop(h->w->loop, &h->wio);
    ev_timer_stop(h->w->loop, &h->retry);
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    if (h->unix_path) {
        unlink(h->unix_path);
    }
    idmap_del(&h->w->handles, h->seq);
    stat_add(&h->w->stats.handles[h->kind], -1);
    quota_release(h->uid);
    h->next_grave = h->w->graveyard;
    h->w->graveyard = h;
}

void handle_reap(struct worker *w)
{
    while (w->graveyard) {
        struct handle *h = w->graveyard;
        w->graveyard = h->next_grave;
        buf_free(&h->rbuf);
        free(h->fail_msg);
        json_decref(h->fail_data);
        free(h->hostname);
        free(h->host);
        free(h->unix_path);
        addrlist_free(&h->al);
        json_decref(h->pre_opts);
        free(h);
    }
}

void handles_close_all(struct worker *w)
{
    size_t pos = 0;
    struct handle *h;
    while ((h = idmap_next(&w->handles, &pos)))
        handle_close(h, "netd is shutting down");
}

void handles_conn_gone(struct worker *w, uint64_t conn_id)
{
    size_t pos = 0;
    struct handle *h;
    while ((h = idmap_next(&w->handles, &pos))) {
        if (!h->kept && h->owner_conn == conn_id) {
            handle_close(h, "the control connection ended");
            continue;
        }
        /* A kept handle outlives the connection, but the calls that
         * connection was waiting for must not take bytes nobody will see. */
        reqlist_drop_conn(&h->readers, conn_id);
        reqlist_drop_conn(&h->acceptors, conn_id);
        reqlist_drop_conn(&h->connectors, conn_id);
        reqlist_drop_conn(&h->waiters, conn_id);
        reqlist_drop_conn(&h->loopers, conn_id);
        if (h->kind == HK_LISTENER)
            loop_conn_gone(h, conn_id);
    }
}

json_t *handle_status(struct handle *h)
{
    json_t *st = json_pack("{s:s,s:s,s:s,s:b}", "handle", h->name, "kind", kind_names[h->kind],
                           "state", state_names[h->state], "kept", h->kept);
    if (h->state == HS_FAILURE) {
        json_t *err = json_pack("{s:i,s:s}", "code", netd_err_code(h->fail_kind), "message",
                                h->fail_msg ? h->fail_msg : "");
        if (h->fail_data)
            json_object_set(err, "data", h->fail_data);
        json_object_set_new(st, "error", err);
    }
    if (h->kind == HK_ADDRESS && h->state == HS_SUCCESS && h->al.count > 0)
        json_object_set_new(st, "address",
                            sockaddr_json((struct sockaddr *)&h->al.addrs[0], h->al.lens[0]));
    if (h->kind == HK_STREAM || h->kind == HK_DATAGRAM || h->kind == HK_LISTENER)
        stream_status(h, st);
    else {
        json_object_set_new(st, "readable", json_integer(0));
        json_object_set_new(st, "pending", json_integer(0));
        json_object_set_new(st, "bytes_in", json_integer(0));
        json_object_set_new(st, "bytes_out", json_integer(0));
    }
    json_t *tls = h->tls ? tls_status(h) : NULL; /* TLS hook */
    if (tls)
        json_object_set_new(st, "tls", tls);
    return st;
}

void handle_check_waiters(struct handle *h)
{
    struct req *r = h->waiters.head;
    while (r) {
        struct req *next = r->next;
        if (stream_ready(h, r->wait_for)) {
            req_unpark(r);
            req_ok(r, handle_status(h));
        }
        r = next;
    }
}

void addrlist_free(struct addrlist *al)
{
    free(al->canonname);
    free(al->addrs);
    free(al->lens);
    free(al->socktypes);
    memset(al, 0, sizeof *al);
}

int addrlist_copy(struct addrlist *dst, const struct addrlist *src, size_t from, size_t n)
{
    memset(dst, 0, sizeof *dst);
    if (n == 0)
        return 0;
    dst->addrs = malloc(n * sizeof *dst->addrs);
    dst->lens = malloc(n * sizeof *dst->lens);
    dst->socktypes = malloc(n * sizeof *dst->socktypes);
    if (!dst->addrs || !dst->lens || !dst->socktypes) {
        addrlist_free(dst);
        return -ENOMEM;
    }
    memcpy(dst->addrs, src->addrs + from, n * sizeof *dst->addrs);
    memcpy(dst->lens, src->lens + from, n * sizeof *dst->lens);
    memcpy(dst->socktypes, src->socktypes + from, n * sizeof *dst->socktypes);
    dst->canonname = src->canonname ? strdup(src->canonname) : NULL;
    dst->count = n;
    return 0;
}
