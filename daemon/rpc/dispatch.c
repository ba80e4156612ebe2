/*
 * dispatch.c - the request path: from one parsed JSON-RPC message to the
 * worker that runs it, and the answer back to the connection.
 *
 * A request about a handle runs on the worker that owns the handle (the
 * worker is named inside the handle's id, so routing needs no shared
 * table); a request that creates a socket runs on a worker picked round
 * robin; the rest run where the connection lives. Answers are serialised on
 * the worker that produced them and travel back as text.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "lean.h"
#include "handlename.h"
#include "rpc.h"

enum route { R_LOCAL, R_HANDLE, R_NEW, R_SPLICE };

static const struct {
    method_fn fn;
    enum route route;
} routes[NETD_M__COUNT] = {
    [NETD_M_PING] = {m_ping, R_LOCAL},
    [NETD_M_DISCOVER] = {m_discover, R_LOCAL},
    [NETD_M_ADDRESS] = {m_address, R_NEW},
    [NETD_M_ADDRESS_UNPACK] = {m_address_unpack, R_HANDLE},
    [NETD_M_CONNECT] = {m_connect, R_NEW},
    [NETD_M_LISTEN] = {m_listen, R_NEW},
    [NETD_M_ACCEPT] = {m_accept, R_HANDLE},
    [NETD_M_READ] = {m_read, R_HANDLE},
    [NETD_M_CHUNK] = {m_read, R_HANDLE},
    [NETD_M_WRITE] = {m_write, R_HANDLE},
    [NETD_M_PENDING] = {m_pending, R_HANDLE},
    [NETD_M_FLUSH] = {m_flush, R_HANDLE},
    [NETD_M_SHUTDOWN] = {m_shutdown, R_HANDLE},
    [NETD_M_CLOSE] = {m_close, R_HANDLE},
    [NETD_M_CANCEL] = {m_cancel, R_HANDLE},
    [NETD_M_LOCALNAME] = {m_localname, R_HANDLE},
    [NETD_M_PEERNAME] = {m_peername, R_HANDLE},
    [NETD_M_STATUS] = {m_status, R_HANDLE},
    [NETD_M_WAIT] = {m_wait, R_HANDLE},
    [NETD_M_KEEP] = {m_keep, R_HANDLE},
    [NETD_M_HANDLES] = {m_handles, R_LOCAL},
    [NETD_M_STATS] = {m_stats, R_LOCAL},
    [NETD_M_ACCEPT_LOOP] = {m_accept_loop, R_HANDLE},
    [NETD_M_SERVER] = {m_server, R_NEW},
    [NETD_M_RECV_FROM] = {m_recv_from, R_HANDLE},
    [NETD_M_SEND_TO] = {m_send_to, R_HANDLE},
    [NETD_M_SETSOCKOPT] = {m_setsockopt, R_HANDLE},
    [NETD_M_GETSOCKOPT] = {m_getsockopt, R_HANDLE},
    [NETD_M_PAIR] = {m_pair, R_NEW},
    [NETD_M_LOCAL_ADDRESSES] = {m_local_addresses, R_LOCAL},
    [NETD_M_RELEASE] = {m_release, R_HANDLE},
    [NETD_M_ASSIGN] = {m_assign, R_NEW},
    [NETD_M_STARTTLS] = {m_starttls, R_HANDLE},
    [NETD_M_TLS_CONFIG] = {m_tls_config, R_LOCAL},
    [NETD_M_DISCONNECT] = {m_disconnect, R_HANDLE},
    [NETD_M_ATTACH] = {m_attach, R_HANDLE},
    [NETD_M_SPLICE] = {m_splice, R_SPLICE},
    [NETD_M_POLICY_EXPLAIN] = {m_policy_explain, R_LOCAL},
    [NETD_M_MONITOR] = {m_monitor, R_LOCAL},
};

int dispatch_complete(void)
{
    for (int i = 0; i < NETD_M__COUNT; i++)
        if (!routes[i].fn)
            return 0;
    return 1;
}

/* Calls that make handles or queue bytes: refused once their uid's memory
 * budget is spent. The others (reads, close, status, ...) may still run,
 * within a small overdraft, so a client at its budget can drain and free. */
static bool grows(enum netd_method_id id)
{
    switch (id) {
    case NETD_M_ADDRESS:
    case NETD_M_CONNECT:
    case NETD_M_LISTEN:
    case NETD_M_ACCEPT:
    case NETD_M_ACCEPT_LOOP:
    case NETD_M_SERVER:
    case NETD_M_WRITE:
    case NETD_M_SEND_TO:
    case NETD_M_PAIR:
    case NETD_M_ASSIGN:
    case NETD_M_STARTTLS:
    case NETD_M_MONITOR: /* holds up to 256 KiB of events on its connection */
        return true;
    default:
        return false;
    }
}

/* What a request in flight is charged: the request and its parameters
 * (the bytes of a write are charged where they wait, by the stream). */
#define REQ_COST (sizeof(struct req) + 512)

struct req_msg {
    struct msg hdr;
    struct req *r;
};

struct reply_msg {
    struct msg hdr;
    uint64_t conn_id, batch_id;
    size_t slot;
    char *line;
    int fd;
    bool upgrade; /* attach "upgrade": up_relay on up_worker, or 0 when it failed */
    int up_worker;
    uint64_t up_relay;
};

static void on_req(struct worker *w, struct msg *m)
{
    struct req *r = ((struct req_msg *)m)->r;
    free(m);
    request_run(w, r);
}

static void on_reply(struct worker *w, struct msg *m)
{
    struct reply_msg *rm = (struct reply_msg *)m;
    control_reply(w, rm->conn_id, rm->batch_id, rm->slot, rm->line, rm->fd);
    if (rm->upgrade)
        control_upgrade(w, rm->conn_id, rm->up_worker, rm->up_relay);
    free(rm);
}

/* Sends an answer line (NULL for a notification) to the connection of @r. */
static void dispatch_reply(struct req *r, char *line)
{
    /* A descriptor for the caller (release) leaves with the answer. */
    int fd = r->pass_fd;
    r->pass_fd = -1;
    if (fd >= 0 && !line) {
        close(fd);
        fd = -1;
    }
    bool upgrade = r->m->id == NETD_M_ATTACH && r->u.attach.upgrade;
    struct worker *self = worker_self();
    if (self && self->index == r->conn_worker) {
        control_reply(self, r->conn_id, r->batch_id, r->batch_slot, line, fd);
        if (upgrade)
            control_upgrade(self, r->conn_id, r->u.attach.worker, r->u.attach.relay);
        return;
    }
    struct reply_msg *m = malloc(sizeof *m);
    if (!m) {
        free(line);
        if (fd >= 0)
            close(fd);
        return;
    }
    m->hdr.fn = on_reply;
    m->conn_id = r->conn_id;
    m->batch_id = r->batch_id;
    m->slot = r->batch_slot;
    m->line = line;
    m->fd = fd;
    m->upgrade = upgrade;
    m->up_worker = r->u.attach.worker;
    m->up_relay = upgrade ? r->u.attach.relay : 0;
    worker_post(r->conn_worker, &m->hdr);
}

void request_run(struct worker *w, struct req *r)
{
    if (w->stopping) {
        req_fail(r, NETD_E_ABORTED, NULL, "netd is shutting down");
        return;
    }
    stat_add(&w->stats.requests, 1);
    IDENT_STAT_ADD(r->ident, requests, 1);
    routes[r->m->id].fn(w, r);
}

/* Answers a request that never reached a handler (@rq: the request,
 * NULL when the message was not one; monitors hear of it). */
static void early_error(struct conn *c, const struct netd_rpc_req *rq, json_t *id,
                        bool notification, uint64_t batch_id, size_t slot, enum netd_err kind,
                        json_t *data, const char *why, const struct timespec *t0)
{
    if (rq)
        monitor_early(c, rq->method, rq->method_len, rq->params, kind, t0);
    char *line = notification ? NULL : netd_rpc_error(id, kind, why, data);
    if (notification)
        json_decref(data);
    control_reply(c->w, c->id, batch_id, slot, line, -1);
}

static int parse_name(const json_t *v, int *wi, uint64_t *seq)
{
    const char *name = json_string_value(v);
    if (!name || netd_handle_parse(name, json_string_length(v), wi, seq) < 0 ||
        *wi >= netd_nworkers)
        return -1;
    return 0;
}

/* The worker that runs @r. The "handle" parameter is parsed here once and
 * kept in the request, so the handler need not parse it again. */
static int route_target(struct conn *c, struct req *r)
{
    int wi;
    uint64_t seq;
    switch (routes[r->m->id].route) {
    case R_LOCAL:
        return c->w->index;
    case R_HANDLE:
        if (parse_name(json_object_get(r->params, "handle"), &wi, &seq) < 0)
            return -1;
        r->has_target = true;
        r->target_worker = wi;
        r->target_seq = seq;
        break;
    case R_SPLICE:
        /* a's worker first; it passes the request on to b's (kind/attach.c) */
        if (parse_name(json_object_get(r->params, "a"), &wi, &seq) < 0)
            return -1;
        break;
    case R_NEW:
        /* A new socket lives where its connection lives: every later call
         * on it is then served without a hop between threads. Connections
         * are spread over the workers, and so are the sockets. */
        if (!json_object_get(r->params, "address"))
            return c->w->index;
        if (parse_name(json_object_get(r->params, "address"), &wi, &seq) < 0)
            return -1;
        break;
    }
    /* send-to with an address handle that lives elsewhere: the request
     * first visits the address's worker, which copies the address into it
     * and passes it on (datagram.c). */
    json_t *dest = r->m->id == NETD_M_SEND_TO ? json_object_get(r->params, "dest") : NULL;
    int dw;
    uint64_t dseq;
    if (json_is_string(dest) && parse_name(dest, &dw, &dseq) == 0 && dw != wi) {
        r->u.send.hop = wi + 1;
        return dw;
    }
    return wi;
}

static void dispatch_forward(struct req *r, int worker)
{
    struct req_msg *rm = malloc(sizeof *rm);
    rm->hdr.fn = on_req;
    rm->r = r;
    worker_post(worker, &rm->hdr);
}

/* The checks every request passes before it runs: a known method, params
 * as its table says, an upgrade alone, room in flight and in the uid's
 * memory budget. False after answering (or, for a notification, dropping)
 * it; *upgrade says whether it is an attach that upgrades. */
static bool dispatch_checks(struct conn *c, const struct netd_rpc_req *rq, uint64_t batch_id,
                            size_t slot, const struct timespec *t0, bool *upgrade)
{
    bool notification = rq->id == NULL;
    const struct netd_method *m = rq->m; /* looked up by the whole name, NULs and all */
    char buf[256];
    if (!m) {
        netd_rpc_unknown_method(rq, buf, sizeof buf);
        early_error(c, rq, rq->id, notification, batch_id, slot, NETD_E_METHOD, NULL, buf, t0);
        return false;
    }
    if (netd_params_check(m, rq->params, buf, sizeof buf) != NETD_OK) {
        early_error(c, rq, rq->id, notification, batch_id, slot, NETD_E_PARAMS, NULL, buf, t0);
        return false;
    }
    const char *mode = json_string_value(json_object_get(rq->params, "mode"));
    *upgrade = m->id == NETD_M_ATTACH && (!mode || strcmp(mode, "upgrade") == 0);
    if (*upgrade && !control_upgrade_begin(c, batch_id)) {
        snprintf(buf, sizeof buf,
                 "attach with mode \"upgrade\" must be the only request in flight on its "
                 "connection (not in a batch); wait for the other answers, or use mode \"fd\"");
        early_error(c, rq, rq->id, notification, batch_id, slot, NETD_E_PARAMS, NULL, buf, t0);
        return false;
    }
    if (c->inflight > netd_cfg.max_inflight) {
        snprintf(buf, sizeof buf, "more than %u requests in flight on this connection",
                 netd_cfg.max_inflight);
        early_error(c, rq, rq->id, notification, batch_id, slot, NETD_E_LIMIT,
                    json_pack("{s:s}", "limit", "max_inflight"), buf, t0);
        return false;
    }
    if (!mem_charge(c->uid, REQ_COST, grows(m->id) ? MEM_NORMAL : MEM_DRAIN)) {
        const char *rule;
        size_t cap = policy_max_memory(c->uid, netd_cfg.max_memory, &rule);
        snprintf(buf, sizeof buf,
                 "netd holds as much as it may for uid %u (%s%s%s %zu, --max-memory-total %zu); "
                 "read, close or wait",
                 (unsigned)c->uid, rule ? "max-memory of rule '" : "netd --max-memory",
                 rule ? rule : "", rule ? "'" : "", cap, netd_cfg.max_memory_total);
        early_error(c, rq, rq->id, notification, batch_id, slot, NETD_E_LIMIT,
                    json_pack("{s:s}", "limit", "max_memory"), buf, t0);
        return false;
    }
    return true;
}

/*
 * Makes the request of method @m and runs it where its handle lives. @id
 * and @params are taken: the request holds the only references, so that
 * once it is posted to another worker nothing on this thread touches what
 * it holds (jansson's reference counts are not synchronised for us).
 * @data: see dispatch_request. Large write data is not copied.
 */
static void dispatch_run(struct conn *c, const struct netd_method *m, json_t *id, json_t *params,
                         bool upgrade, uint64_t batch_id, size_t slot, struct fdset *fds,
                         const char *data, size_t data_len, const struct timespec *t0)
{
    struct req *r = req_new();
    r->conn_id = c->id;
    r->conn_worker = c->w->index;
    r->batch_id = batch_id;
    r->batch_slot = slot;
    r->id = id;
    r->m = m;
    r->params = params ? params : json_object();
    r->uid = c->uid;
    r->charged = REQ_COST;
    r->gid = c->gid;
    r->ident = ident_ref(c->ident);
    r->pid = c->pid;
    r->t0 = *t0;
    /* The connection's trust store travels with the request. */
    r->trust.cafile = c->trust.cafile ? strdup(c->trust.cafile) : NULL;
    r->trust.capath = c->trust.capath ? strdup(c->trust.capath) : NULL;
    r->pass_fd = m->id == NETD_M_ASSIGN ? fdset_take(fds) : -1;
    if (upgrade)
        r->u.attach.upgrade = true;
    if (data)
        req_take_data(r, data, data_len);

    int target = route_target(c, r);
    if (target < 0) {
        req_fail(r, NETD_E_UNKNOWN_HANDLE, NULL, "unknown handle");
        return;
    }
    if (target == c->w->index) {
        /* tls-config changes its connection's setting, which lives here;
         * the pointer is good while the handler runs, on this thread. */
        r->conn_trust = &c->trust;
        request_run(c->w, r);
        return;
    }
    dispatch_forward(r, target);
}

void dispatch_request(struct conn *c, json_t *msg, uint64_t batch_id, size_t slot,
                      struct fdset *fds, const char *data, size_t data_len)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct netd_rpc_req rq;
    const char *why = NULL;
    enum netd_err kind = netd_rpc_parse(msg, &rq, &why);
    if (kind != NETD_OK) {
        /* Not a request: no method to report to monitors. */
        early_error(c, NULL, rq.id, false, batch_id, slot, kind, NULL, why, &t0);
        json_decref(msg);
        return;
    }
    bool upgrade = false;
    if (!dispatch_checks(c, &rq, batch_id, slot, &t0, &upgrade)) {
        json_decref(msg);
        return;
    }
    /* id and params move out of the message into the request. */
    json_t *id = json_incref(rq.id), *params = json_incref(rq.params);
    json_object_del(msg, "params");
    json_object_del(msg, "id");
    json_decref(msg);
    dispatch_run(c, rq.m, id, params, upgrade, batch_id, slot, fds, data, data_len, &t0);
}

void dispatch_lean(struct conn *c, struct netd_lean_req *lr, const char *line, struct fdset *fds)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct netd_rpc_req rq = {
        .id = lr->has_id ? json_integer(lr->id) : NULL,
        .method = lr->method,
        .method_len = lr->method_len,
        .m = netd_method_findn(lr->method, lr->method_len),
        .params = lr->params,
    };
    bool upgrade = false;
    if (!dispatch_checks(c, &rq, 0, 0, &t0, &upgrade)) {
        json_decref(rq.id);
        json_decref(rq.params);
        return;
    }
    dispatch_run(c, rq.m, rq.id, rq.params, upgrade, 0, 0, fds,
                 lr->has_data ? line + lr->data_off : NULL, lr->data_n, &t0);
}

const struct req_sink dispatch_sink = {
    .reply = dispatch_reply,
    .forward = dispatch_forward,
    .finished = monitor_finished,
};
