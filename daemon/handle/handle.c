/*
 * handle.c - handles: the per-worker table, names, ownership, status, and
 * the one close path every kind goes through.
 *
 * Each worker keeps its handles in an id map by seq (its WS_HANDLES slot);
 * only that worker touches them. A closed handle leaves the map at once, so
 * no request can reach it, and is freed from the graveyard after the
 * callbacks of the loop turn that closed it have returned.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handle.h"
#include "handlename.h"

struct hspace {
    struct idmap map;
    uint64_t next_seq;
    struct handle *graveyard;
};

static const char *const kind_names[HK__COUNT] = {"address", "stream", "listener", "datagram"};
static const char *const state_names[] = {"waiting", "success", "failure", "closed"};
static const char *const wait_names[] = {"resolved", "connected", "readable",
                                         "writable", "drained",   "error"};

static struct hspace *space(struct worker *w)
{
    return w->slot[WS_HANDLES];
}

const char *handle_kind_name(enum hkind k)
{
    return k < HK__COUNT ? kind_names[k] : "unknown";
}

bool handle_is(const struct handle *h, unsigned kinds)
{
    return (kinds & (1u << h->ops->kind)) != 0;
}

int wait_for_parse(const char *s)
{
    for (int i = 0; i < 6; i++)
        if (s && strcmp(s, wait_names[i]) == 0)
            return i;
    return -1;
}

struct handle *handle_create(struct worker *w, uint64_t conn_id, int conn_worker,
                             struct ident *owner, bool kept, const struct handle_ops *ops)
{
    struct hspace *sp = space(w);
    uid_t uid = owner ? owner->uid : 0;
    if (!quota_take(uid))
        return NULL;
    struct handle *h = calloc(1, ops->size);
    if (!h || idmap_put(&sp->map, sp->next_seq, h) < 0) {
        free(h);
        quota_release(uid);
        return NULL;
    }
    h->seq = sp->next_seq++;
    netd_handle_format(h->name, sizeof h->name, w->index, h->seq);
    h->w = w;
    h->ops = ops;
    h->state = HS_WAITING;
    h->owner_conn = conn_id;
    h->notify_worker = conn_worker;
    h->uid = uid;
    h->ident = ident_ref(owner);
    h->kept = kept;
    h->fd = -1;
    h->type = SOCK_STREAM;
    stat_add(&w->stats.handles[ops->kind], 1);
    IDENT_STAT_ADD(owner, handles[ops->kind], 1);
    return h;
}

void handle_fail_quota(struct req *r)
{
    const char *rule;
    size_t limit = policy_max_handles(r->uid, netd_cfg.max_handles, &rule);
    if (rule) {
        req_fail(r, NETD_E_LIMIT, json_pack("{s:s,s:s}", "limit", "max_handles", "rule", rule),
                 "uid %u holds %zu handles already (max-handles of rule '%s'); close some first",
                 (unsigned)r->uid, limit, rule);
        return;
    }
    req_fail_limit(r, "max_handles",
                   "uid %u holds %zu handles already (netd --max-handles); close some first",
                   (unsigned)r->uid, netd_cfg.max_handles);
}

struct handle *handle_new(struct worker *w, struct req *r, const struct handle_ops *ops)
{
    struct handle *h =
        handle_create(w, r->conn_id, r->conn_worker, r->ident, param_bool(r, "keep", false), ops);
    if (!h)
        handle_fail_quota(r);
    return h;
}

struct handle *handle_find(struct worker *w, uint64_t seq)
{
    struct handle *h = idmap_get(&space(w)->map, seq);
    return h && h->state != HS_CLOSED ? h : NULL;
}

/* The ownership check, the one security check on every handle a request
 * names: a kept handle is its uid's, any other its connection's. */
static bool owned_by(const struct handle *h, uint64_t conn_id, uid_t uid)
{
    return h->kept ? h->uid == uid : h->owner_conn == conn_id;
}

struct handle *handle_lookup(struct worker *w, const struct req *r, const char *pname)
{
    int wi = -1;
    uint64_t seq = 0;
    json_t *v = param(r, pname);
    const char *name = json_string_value(v);
    bool ok;
    if (r->has_target && strcmp(pname, "handle") == 0) {
        /* dispatch parsed it already, to route the request here */
        wi = r->target_worker;
        seq = r->target_seq;
        ok = true;
    } else {
        ok = name && netd_handle_parse(name, json_string_length(v), &wi, &seq) == 0;
    }
    struct handle *h = ok && wi == w->index ? handle_find(w, seq) : NULL;
    return h && owned_by(h, r->conn_id, r->uid) ? h : NULL;
}

struct handle *handle_get(struct worker *w, struct req *r, const char *pname)
{
    struct handle *h = handle_lookup(w, r, pname);
    /* Another caller's handle is answered exactly like one that never existed. */
    if (!h) {
        const char *name = param_str(r, pname);
        req_fail(r, NETD_E_UNKNOWN_HANDLE, NULL, "unknown handle: %.64s", name ? name : "");
    }
    return h;
}

void handle_fail_kind(struct req *r, const char *kind_name, const char *what)
{
    bool vowel = strchr("aeiou", kind_name[0]) != NULL;
    req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", kind_name),
             "%s cannot be used on a%s %s handle", what, vowel ? "n" : "", kind_name);
}

struct handle *handle_get_kind(struct worker *w, struct req *r, const char *pname, unsigned kinds)
{
    struct handle *h = handle_get(w, r, pname);
    if (h && !handle_is(h, kinds)) {
        handle_fail_kind(r, kind_names[h->ops->kind], r->m->name);
        return NULL;
    }
    return h;
}

void handle_fail_req(struct req *r, struct handle *h)
{
    req_fail(r, h->fail_kind, json_incref(h->fail_data), "%s", h->fail_msg ? h->fail_msg : "");
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

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct handle *h = io->data;
    h->ops->io(h, revents);
}

void handle_watch(struct handle *h, int fd)
{
    ev_io_init(&h->rio, on_io, fd, EV_READ);
    ev_io_init(&h->wio, on_io, fd, EV_WRITE);
    h->rio.data = h->wio.data = h;
}

int handle_take_fd(struct handle *h)
{
    ev_io_stop(h->w->loop, &h->rio);
    ev_io_stop(h->w->loop, &h->wio);
    int fd = h->fd;
    h->fd = -1;
    return fd;
}

int handle_give_fd(struct handle *h)
{
    int fd = handle_take_fd(h);
    worker_release_fd(h->w, fd);
    return fd;
}

void handle_close(struct handle *h, const char *why)
{
    if (h->state == HS_CLOSED)
        return;
    h->state = HS_CLOSED;
    if (h->on_resolved) /* nobody waits for the lookup any more: it leaves the queue */
        resolve_cancel(h->w, h->seq);
    reqlist_abort(&h->openers, why);
    reqlist_abort(&h->waiters, why);
    h->ops->close(h, why);
    int fd = handle_take_fd(h);
    if (fd >= 0) /* not if handle_take_fd() gave it away before */
        close(fd);
    struct hspace *sp = space(h->w);
    idmap_del(&sp->map, h->seq);
    stat_add(&h->w->stats.handles[h->ops->kind], -1);
    IDENT_STAT_ADD(h->ident, handles[h->ops->kind], -1);
    quota_release(h->uid);
    h->next_grave = sp->graveyard;
    sp->graveyard = h;
}

static void handle_reap(struct worker *w)
{
    struct hspace *sp = space(w);
    while (sp->graveyard) {
        struct handle *h = sp->graveyard;
        sp->graveyard = h->next_grave;
        h->ops->free(h);
        free(h->fail_msg);
        json_decref(h->fail_data);
        free(h->hostname);
        ident_unref(h->ident);
        free(h);
    }
}

static void handles_close_all(struct worker *w)
{
    size_t pos = 0;
    struct handle *h;
    while ((h = idmap_next(&space(w)->map, &pos)))
        handle_close(h, "netd is shutting down");
}

size_t handles_undrained(struct worker *w, bool (*carried)(struct handle *h))
{
    size_t pos = 0, n = 0;
    struct handle *h;
    while ((h = idmap_next(&space(w)->map, &pos)))
        if (h->state == HS_SUCCESS && (h->ops->waits & 1u << WF_DRAINED) &&
            !h->ops->ready(h, WF_DRAINED) && !(carried && carried(h)))
            n++;
    return n;
}

void handles_stop(struct worker *w, const char *why, bool (*spare)(struct handle *h))
{
    size_t pos = 0;
    struct handle *h;
    while ((h = idmap_next(&space(w)->map, &pos))) {
        if (!spare || !spare(h)) {
            handle_close(h, why);
            continue;
        }
        h->ops->cancel(h);
        reqlist_abort(&h->openers, why);
        reqlist_abort(&h->waiters, why);
    }
}

void handles_conn_gone(struct worker *w, uint64_t conn_id)
{
    size_t pos = 0;
    struct handle *h;
    while ((h = idmap_next(&space(w)->map, &pos))) {
        if (!h->kept && h->owner_conn == conn_id) {
            handle_close(h, "the control connection ended");
            continue;
        }
        /* A kept handle outlives the connection, but the calls that
         * connection was waiting for must not take bytes nobody will see. */
        reqlist_drop_conn(&h->openers, conn_id);
        reqlist_drop_conn(&h->waiters, conn_id);
        h->ops->conn_gone(h, conn_id);
    }
}

json_t *handles_list(struct worker *w, uint64_t conn_id, uid_t uid)
{
    json_t *list = json_array();
    size_t pos = 0;
    struct handle *h;
    while ((h = idmap_next(&space(w)->map, &pos))) {
        if (owned_by(h, conn_id, uid) && h->state != HS_CLOSED)
            json_array_append_new(list, handle_status(h));
    }
    return list;
}

json_t *handle_status(struct handle *h)
{
    json_t *st = json_pack("{s:s,s:s,s:s,s:b}", "handle", h->name, "kind", kind_names[h->ops->kind],
                           "state", state_names[h->state], "kept", h->kept);
    if (h->state == HS_FAILURE) {
        json_t *err = json_pack("{s:i,s:s}", "code", netd_err_code(h->fail_kind), "message",
                                h->fail_msg ? h->fail_msg : "");
        if (h->fail_data)
            json_object_set(err, "data", h->fail_data);
        json_object_set_new(st, "error", err);
    }
    h->ops->status(h, st);
    return st;
}

bool handle_waiter_wants(const struct handle *h, int wf)
{
    for (const struct req *r = h->waiters.head; r; r = r->next)
        if (r->u.wait.wait_for == wf)
            return true;
    return false;
}

void handle_check_waiters(struct handle *h)
{
    struct req *r = h->waiters.head;
    while (r) {
        struct req *next = r->next;
        if (h->ops->ready(h, r->u.wait.wait_for)) {
            req_unpark(r);
            req_ok(r, handle_status(h));
        }
        r = next;
    }
}

void handle_park(struct req *r, struct handle *h, struct reqlist *l, enum wait_kind wk,
                 void (*ontimeout)(struct req *r))
{
    double t = req_timeout(r);
    if (t < 0) {
        /* so-rcvtimeo/so-sndtimeo set on the handle stand in for a missing timeout. */
        double dflt = wk == WK_READ || wk == WK_ACCEPT ? h->rcvtimeo
                      : wk == WK_WRITE                 ? h->sndtimeo
                                                       : 0;
        if (dflt > 0)
            t = dflt;
    }
    req_park(r, h, h->w->loop, l, wk, t, ontimeout);
}

uint64_t handles_next_seq(struct worker *w)
{
    return space(w)->next_seq;
}

void handles_seq_from(struct worker *w, uint64_t seq)
{
    if (seq > space(w)->next_seq)
        space(w)->next_seq = seq;
}

/* ---- resolution: the resolver answers by token, here the handle's seq ---- */

static void on_resolved(struct worker *w, uint64_t seq, int gai, struct addrlist *al)
{
    struct handle *h = handle_find(w, seq);
    if (!h || !h->on_resolved)
        return;
    void (*cb)(struct handle *, int, struct addrlist *) = h->on_resolved;
    h->on_resolved = NULL;
    cb(h, gai, al);
}

void handle_resolve(struct handle *h, void (*cb)(struct handle *, int, struct addrlist *),
                    const char *host, const char *service, int family, int socktype, int flags)
{
    h->on_resolved = cb;
    resolve_start(h->w, h->seq, h->uid, on_resolved, host, service, family, socktype, flags);
}

/* ---- the layer's part in each worker's life ---- */

static int space_init(struct worker *w)
{
    struct hspace *sp = calloc(1, sizeof *sp);
    if (!sp)
        return -ENOMEM;
    sp->next_seq = 1;
    w->slot[WS_HANDLES] = sp;
    return 0;
}

static size_t space_leaks(struct worker *w, FILE *out)
{
    struct hspace *sp = space(w);
    size_t n = 0, pos = 0;
    struct handle *h;
    while ((h = idmap_next(&sp->map, &pos))) {
        fprintf(out, "netd: leak: worker %d: handle %s (%s) is still open\n", w->index, h->name,
                kind_names[h->ops->kind]);
        n++;
    }
    for (h = sp->graveyard; h; h = h->next_grave) {
        fprintf(out, "netd: leak: worker %d: closed handle %s was never freed\n", w->index,
                h->name);
        n++;
    }
    return n;
}

static void space_fini(struct worker *w)
{
    struct hspace *sp = space(w);
    if (!sp)
        return;
    idmap_free(&sp->map);
    free(sp);
    w->slot[WS_HANDLES] = NULL;
}

static const struct worker_hook hook = {
    .init = space_init,
    .reap = handle_reap,
    .stop = handles_close_all,
    .fini = space_fini,
    .leaks = space_leaks,
};

void handle_layer_init(void)
{
    worker_hook_add(&hook);
}
