/*
 * request.c - a request's life on the worker that runs it: parameters,
 * waiting on a handle with a timeout, and the one answer it gets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netd.h"
#include "rpc.h"
#include "tls.h"

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
    if (r->pass_fd >= 0)
        close(r->pass_fd);
    json_decref(r->id);
    json_decref(r->params);
    free(r->tls_cafile);
    free(r->tls_capath);
    free(r);
}

void req_ok(struct req *r, json_t *result)
{
    char *line = r->id ? netd_rpc_result(r->id, result) : (json_decref(result), NULL);
    dispatch_reply(r, line);
    req_free(r);
}

int req_data(struct req *r, uint8_t **data, size_t *len)
{
    const char *name = param_str(r, "encoding");
    enum netd_encoding enc = NETD_ENC_BASE64;
    netd_encoding_parse(name ? name : "base64", &enc);
    json_t *d = param(r, "data");
    if (netd_data_decode(json_string_value(d), json_string_length(d), enc, data, len) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'data' is not valid %s",
                 netd_encoding_name(enc));
        return -1;
    }
    return 0;
}

void req_ok_raw(struct req *r, const char *result, size_t len)
{
    dispatch_reply(r, r->id ? netd_rpc_result_raw(r->id, result, len) : NULL);
    req_free(r);
}

void req_fail(struct req *r, enum netd_err kind, json_t *data, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char *line = NULL;
    if (r->id)
        line = netd_rpc_error(r->id, kind, msg, data);
    else
        json_decref(data);
    dispatch_reply(r, line);
    req_free(r);
}

void req_fail_errno(struct req *r, int err, const char *what)
{
    /* TLS hook: a TLS stream's own failure is a `tls` error, told by tls.c. */
    if (err == TLS_EFAIL && tls_fail_req(r, r->h, err, what))
        return;
    req_fail(r, NETD_E_OS, json_pack("{s:s}", "errno", netd_errno_name(err)), "%s: %s", what,
             strerror(err));
}

json_t *param(const struct req *r, const char *name)
{
    json_t *v = json_object_get(r->params, name);
    return json_is_null(v) ? NULL : v;
}

const char *param_str(const struct req *r, const char *name)
{
    return json_string_value(param(r, name));
}

bool param_bool(const struct req *r, const char *name, bool dflt)
{
    json_t *v = param(r, name);
    return v ? json_is_true(v) : dflt;
}

double req_timeout(const struct req *r)
{
    json_t *v = param(r, "timeout");
    return v ? json_number_value(v) : -1.0;
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct req *r = t->data;
    void (*fn)(struct req *) = r->ontimeout;
    req_unpark(r);
    fn(r);
}

void req_park(struct req *r, struct handle *h, struct reqlist *l, enum wait_kind wk,
              void (*ontimeout)(struct req *r))
{
    r->h = h;
    r->wk = wk;
    r->list = l;
    r->ontimeout = ontimeout;
    reqlist_push(l, r);
    double t = req_timeout(r);
    if (t < 0) {
        /* so-rcvtimeo/so-sndtimeo set on the handle stand in for a missing timeout. */
        double dflt = wk == WK_READ || wk == WK_ACCEPT ? h->rcvtimeo
                      : wk == WK_WRITE                 ? h->sndtimeo
                                                       : 0;
        if (dflt > 0)
            t = dflt;
    }
    if (t >= 0 && ontimeout) {
        ev_timer_init(&r->timer, on_timer, t, 0.);
        r->timer.data = r;
        ev_timer_start(h->w->loop, &r->timer);
        r->timing = true;
    }
}

void req_unpark(struct req *r)
{
    if (r->timing) {
        ev_timer_stop(r->h->w->loop, &r->timer);
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
                 r->wk == WK_WRITE ? json_pack("{s:I}", "written", (json_int_t)r->written) : NULL,
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
