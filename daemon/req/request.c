/*
 * request.c - a request's life on the worker that runs it: waiting on a
 * list with a timeout, and the one answer it gets, which leaves through the
 * sink the layer above registered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "req.h"
#include "rpc.h"

static const struct req_sink *sink;

void req_set_sink(const struct req_sink *s)
{
    sink = s;
}

struct req *req_new(void)
{
    struct req *r = calloc(1, sizeof *r);
    if (r)
        r->pass_fd = -1;
    return r;
}

void req_forward(struct req *r, int worker)
{
    sink->forward(r, worker);
}

void reqlist_push(struct reqlist *l, struct req *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->count++;
}

void reqlist_remove(struct reqlist *l, struct req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
    l->count--;
}

void req_free(struct req *r)
{
    mem_release(r->uid, r->charged);
    if (r->pass_fd >= 0)
        close(r->pass_fd);
    json_decref(r->id);
    json_decref(r->params);
    free(r->data);
    free(r->trust.cafile);
    free(r->trust.capath);
    ident_unref(r->ident);
    free(r);
}

void req_ok(struct req *r, json_t *result)
{
    if (sink->finished)
        sink->finished(r, NETD_OK, result);
    char *line = r->id ? netd_rpc_result(r->id, result) : (json_decref(result), NULL);
    sink->reply(r, line);
    req_free(r);
}

void req_ok_raw(struct req *r, const char *result, size_t len)
{
    if (sink->finished)
        sink->finished(r, NETD_OK, NULL);
    sink->reply(r, r->id ? netd_rpc_result_raw(r->id, result, len) : NULL);
    req_free(r);
}

void req_fail(struct req *r, enum netd_err kind, json_t *data, const char *fmt, ...)
{
    /* An error answer carries no descriptor: one the request brought is closed. */
    if (r->pass_fd >= 0) {
        close(r->pass_fd);
        r->pass_fd = -1;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (sink->finished)
        sink->finished(r, kind, NULL);
    char *line = NULL;
    if (r->id)
        line = netd_rpc_error(r->id, kind, msg, data);
    else
        json_decref(data);
    sink->reply(r, line);
    req_free(r);
}

void req_fail_errno(struct req *r, int err, const char *what)
{
    req_fail(r, NETD_E_OS, json_pack("{s:s}", "errno", netd_errno_name(err)), "%s: %s", what,
             strerror(err));
}

void req_fail_limit(struct req *r, const char *name, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    req_fail(r, NETD_E_LIMIT, json_pack("{s:s}", "limit", name), "%s", msg);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct req *r = t->data;
    void (*fn)(struct req *) = r->ontimeout;
    req_unpark(r);
    fn(r);
}

void req_park(struct req *r, struct handle *h, struct ev_loop *loop, struct reqlist *l,
              enum wait_kind wk, double timeout, void (*ontimeout)(struct req *r))
{
    r->h = h;
    r->wk = wk;
    r->list = l;
    r->loop = loop;
    r->ontimeout = ontimeout;
    reqlist_push(l, r);
    if (timeout >= 0 && ontimeout) {
        ev_timer_init(&r->timer, on_timer, timeout, 0.);
        r->timer.data = r;
        ev_timer_start(loop, &r->timer);
        r->timing = true;
    }
}

void req_unpark(struct req *r)
{
    if (r->timing) {
        ev_timer_stop(r->loop, &r->timer);
        r->timing = false;
    }
    if (r->list) {
        reqlist_remove(r->list, r);
        r->list = NULL;
    }
}

size_t reqlist_abort(struct reqlist *l, const char *why)
{
    size_t n = 0;
    while (l->head) {
        struct req *r = l->head;
        req_unpark(r);
        req_fail(r, NETD_E_ABORTED,
                 r->wk == WK_WRITE ? json_pack("{s:I}", "written", (json_int_t)r->u.wr.written)
                                   : NULL,
                 "%s", why);
        n++;
    }
    return n;
}

void reqlist_drop_conn(struct reqlist *l, uint64_t conn_id)
{
    struct req *r = l->head;
    while (r) {
        struct req *next = r->next;
        if (r->conn_id == conn_id) {
            req_unpark(r);
            req_fail(r, NETD_E_ABORTED, NULL, "the control connection ended");
        }
        r = next;
    }
}
