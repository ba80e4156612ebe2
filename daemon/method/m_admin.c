/*
 * m_admin.c - methods about handles and the daemon rather than bytes: ping,
 * rpc.discover, stats, handles, status, wait, keep, close, cancel.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "method.h"

static double started_at;

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The OpenRPC document as one line, made once at start and only read
 * afterwards, so every worker can answer rpc.discover without parsing it. */
static char *discover_line;

int method_init(void)
{
    started_at = now_mono();
    json_error_t err;
    json_t *doc = json_loadb(netd_openrpc_json, netd_openrpc_json_len, 0, &err);
    if (!doc) {
        netd_log(LOG_ERR, "the built-in OpenRPC document does not parse: %s", err.text);
        return -1;
    }
    discover_line = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return discover_line ? 0 : -1;
}

void method_fini(void)
{
    free(discover_line);
    discover_line = NULL;
}

void m_ping(struct worker *w, struct req *r)
{
    req_ok(r, json_object());
}

void m_discover(struct worker *w, struct req *r)
{
    req_ok_raw(r, discover_line, strlen(discover_line));
}

/* A caller other than root sees its own uid's figures: what it holds now
 * (connections, handles) and what it did since netd started (requests,
 * bytes through its handles). */
static void own_stats(const struct ident *id, uint64_t *conns, uint64_t *reqs, uint64_t *in,
                      uint64_t *out, uint64_t *kinds)
{
    const struct uid_stats *u = id->stats;
    if (!u)
        return; /* more uids than the table holds: nothing is counted for this one */
    *conns = stat_get(&u->connections);
    *reqs = stat_get(&u->requests);
    *in = stat_get(&u->bytes_in);
    *out = stat_get(&u->bytes_out);
    for (int k = 0; k < HK__COUNT; k++)
        kinds[k] = stat_get(&u->handles[k]);
}

void m_stats(struct worker *w, struct req *r)
{
    uint64_t conns = 0, reqs = 0, in = 0, out = 0, kinds[HK__COUNT] = {0};
    if (!ident_is_root(r->ident))
        own_stats(r->ident, &conns, &reqs, &in, &out, kinds);
    for (int i = 0; ident_is_root(r->ident) && i < netd_nworkers; i++) {
        struct worker_stats *s = &netd_workers[i].stats;
        conns += stat_get(&s->connections);
        reqs += stat_get(&s->requests);
        in += stat_get(&s->bytes_in);
        out += stat_get(&s->bytes_out);
        for (int k = 0; k < HK__COUNT; k++)
            kinds[k] += stat_get(&s->handles[k]);
    }
    json_t *h = json_object();
    uint64_t total = 0;
    for (int k = 0; k < HK__COUNT; k++) {
        json_object_set_new(h, handle_kind_name(k), json_integer((json_int_t)kinds[k]));
        total += kinds[k];
    }
    json_object_set_new(h, "total", json_integer((json_int_t)total));
    req_ok(r, json_pack("{s:i,s:I,s:I,s:o,s:I,s:I,s:f,s:o}", "workers", netd_nworkers,
                        "connections", (json_int_t)conns, "requests", (json_int_t)reqs, "handles",
                        h, "bytes_in", (json_int_t)in, "bytes_out", (json_int_t)out, "uptime",
                        now_mono() - started_at, "tls", tls_library_json()));
}

/* ---- handles: every worker lists the caller's handles it owns ---- */

struct gather {
    struct req *r; /* lives on the connection's worker */
    int remaining;
    json_t *list;
};

struct gather_msg {
    struct msg hdr;
    struct gather *g; /* only dereferenced on the connection's worker */
    int home;
    uint64_t conn_id;
    uid_t uid;
    json_t *part;
};

static void on_part(struct worker *w, struct msg *m)
{
    struct gather_msg *gm = (struct gather_msg *)m;
    struct gather *g = gm->g;
    json_array_extend(g->list, gm->part);
    json_decref(gm->part);
    free(gm);
    if (--g->remaining == 0) {
        req_ok(g->r, json_pack("{s:o}", "handles", g->list));
        free(g);
    }
}

static void on_collect(struct worker *w, struct msg *m)
{
    struct gather_msg *gm = (struct gather_msg *)m;
    gm->part = handles_list(w, gm->conn_id, gm->uid);
    gm->hdr.fn = on_part;
    if (gm->home == w->index)
        on_part(w, m);
    else
        worker_post(gm->home, m);
}

void m_handles(struct worker *w, struct req *r)
{
    struct gather *g = calloc(1, sizeof *g);
    g->r = r;
    g->list = json_array();
    g->remaining = netd_nworkers;
    for (int i = 0; i < netd_nworkers; i++) {
        struct gather_msg *gm = calloc(1, sizeof *gm);
        gm->hdr.fn = on_collect;
        gm->g = g;
        gm->home = w->index;
        gm->conn_id = r->conn_id;
        gm->uid = r->uid;
        worker_post(i, &gm->hdr);
    }
}

/* ---- per-handle ---- */

void m_status(struct worker *w, struct req *r)
{
    struct handle *h = handle_get(w, r, "handle");
    if (h)
        req_ok(r, handle_status(h));
}

static void wait_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "the condition did not hold within the timeout");
    h->ops->update(h);
}

void m_wait(struct worker *w, struct req *r)
{
    struct handle *h = handle_get(w, r, "handle");
    if (!h)
        return;
    const char *cond = param_str(r, "for");
    r->u.wait.wait_for = wait_for_parse(cond);
    if (r->u.wait.wait_for < 0 || !(h->ops->waits & (1u << r->u.wait.wait_for))) {
        const char *kind = handle_kind_name(h->ops->kind);
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", kind),
                 "cannot wait for \"%s\" on a%s %s handle", cond ? cond : "",
                 strchr("aeiou", kind[0]) ? "n" : "", kind);
        return;
    }
    if (h->ops->ready(h, r->u.wait.wait_for)) {
        req_ok(r, handle_status(h));
        return;
    }
    if (req_timeout(r) == 0) {
        req_fail(r, NETD_E_TIMEOUT, NULL, "the condition does not hold now");
        return;
    }
    handle_park(r, h, &h->waiters, WK_WAIT, wait_timeout);
    h->ops->update(h);
}

void m_keep(struct worker *w, struct req *r)
{
    struct handle *h = handle_get(w, r, "handle");
    if (!h)
        return;
    h->kept = true;
    h->ops->update(h); /* a kept stream is watched for its end */
    req_ok(r, json_object());
}

void m_close(struct worker *w, struct req *r)
{
    struct handle *h = handle_get(w, r, "handle");
    if (!h)
        return;
    handle_close(h, "the handle was closed");
    req_ok(r, json_object());
}

void m_cancel(struct worker *w, struct req *r)
{
    struct handle *h = handle_get(w, r, "handle");
    if (!h)
        return;
    size_t n = h->ops->cancel(h);
    n += reqlist_abort(&h->waiters, "cancelled");
    h->ops->update(h);
    req_ok(r, json_pack("{s:I}", "cancelled", (json_int_t)n));
}
