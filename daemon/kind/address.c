/*
 * address.c - address handles: a resolved address (Janet's net/address,
 * Pragtical's net.resolve_address), and the address kind's table.
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "kind.h"

/* Answers a waiting `address`: one handle, or with multi one per result. */
static void address_answer(struct req *r, struct handle *h)
{
    struct address *a = address_of(h);
    if (!param_bool(r, "multi", false)) {
        req_ok(r, json_pack("{s:s}", "handle", h->name));
        return;
    }
    /* One handle per result: @h keeps the first. */
    struct addrlist all = a->al;
    memset(&a->al, 0, sizeof a->al);
    addrlist_copy(&a->al, &all, 0, 1);
    struct handle **made = calloc(all.count, sizeof *made);
    made[0] = h;
    for (size_t i = 1; i < all.count; i++) {
        made[i] = handle_new(h->w, r, &address_ops);
        if (!made[i]) {
            /* @r has been answered with `limit`: none of its handles survive. */
            for (size_t k = 0; k < i; k++)
                handle_close(made[k], "limit");
            free(made);
            addrlist_free(&all);
            return;
        }
        made[i]->hostname = h->hostname ? strdup(h->hostname) : NULL;
        addrlist_copy(&address_of(made[i])->al, &all, i, 1);
        made[i]->state = HS_SUCCESS;
    }
    json_t *names = json_array();
    for (size_t i = 0; i < all.count; i++)
        json_array_append_new(names, json_string(made[i]->name));
    free(made);
    addrlist_free(&all);
    req_ok(r, json_pack("{s:o}", "handles", names));
}

static void address_resolved(struct handle *h, int gai, struct addrlist *al)
{
    char why[256];
    if (gai != 0) {
        handle_set_failure(h, NETD_E_RESOLVE, json_pack("{s:s}", "gai", netd_gai_name(gai)),
                           "cannot resolve %s: %s", h->hostname ? h->hostname : "(none)",
                           resolve_why(gai, why, sizeof why));
    } else if (al->count == 0) {
        handle_set_failure(h, NETD_E_RESOLVE, json_pack("{s:s}", "gai", "EAI_NONAME"),
                           "cannot resolve %s: %s", h->hostname ? h->hostname : "",
                           resolve_why(0, why, sizeof why));
    } else {
        address_of(h)->al = *al;
        memset(al, 0, sizeof *al);
        h->state = HS_SUCCESS;
    }
    /* A caller that waits gets the handle or the error; a failed handle it
     * never saw is not left behind. */
    struct req *r = h->openers.head;
    if (r) {
        req_unpark(r);
        if (h->state == HS_SUCCESS) {
            address_answer(r, h);
        } else {
            handle_fail_req(r, h);
            handle_close(h, "resolution failed");
            return;
        }
    }
    handle_check_waiters(h);
}

static void address_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "resolving %s took longer than the timeout",
             h->hostname ? h->hostname : "");
    handle_close(h, "timeout");
}

void address_start(struct address *a, struct req *r, const char *host, const char *service,
                   int family, int flags, bool wait)
{
    struct handle *h = &a->h;
    h->hostname = host ? strdup(host) : NULL;
    if (wait)
        handle_park(r, h, &h->openers, WK_OPEN, address_timeout);
    else
        req_ok(r, json_pack("{s:s}", "handle", h->name));
    handle_resolve(h, address_resolved, h->hostname, service, family, h->type, flags);
}

/* address with a path: nothing to resolve. */
void address_path(struct address *a, struct req *r, const char *path)
{
    struct handle *h = &a->h;
    h->hostname = strdup(path);
    int rc = addrlist_unix(&a->al, path, h->type);
    if (rc < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'path': %s", strerror(-rc));
        handle_close(h, "bad path");
        return;
    }
    h->state = HS_SUCCESS;
    address_answer(r, h);
}

void address_unpack(struct address *ad, struct req *r)
{
    struct handle *h = &ad->h;
    if (h->state == HS_WAITING) {
        req_fail(r, NETD_E_RESOLVE, json_pack("{s:s}", "gai", "EAI_AGAIN"),
                 "%s is still being resolved; use wait {for: \"resolved\"} first",
                 h->hostname ? h->hostname : "the address");
        return;
    }
    if (h->state == HS_FAILURE) {
        handle_fail_req(r, h);
        return;
    }
    json_t *a = sockaddr_json((struct sockaddr *)&ad->al.addrs[0], ad->al.lens[0]);
    json_object_set_new(a, "hostname", json_string(h->hostname ? h->hostname : ""));
    if (ad->al.canonname)
        json_object_set_new(a, "canonname", json_string(ad->al.canonname));
    req_ok(r, a);
}

/* ---- the address kind: no socket, nothing to watch ---- */

static void address_io(struct handle *h, int revents) {}
static void address_update(struct handle *h) {}

static bool address_ready(struct handle *h, int wf)
{
    return wf == WF_RESOLVED && h->state != HS_WAITING;
}

static void address_status(struct handle *h, json_t *st)
{
    struct address *a = address_of(h);
    if (h->state == HS_SUCCESS && a->al.count > 0)
        json_object_set_new(st, "address",
                            sockaddr_json((struct sockaddr *)&a->al.addrs[0], a->al.lens[0]));
    json_object_set_new(st, "readable", json_integer(0));
    json_object_set_new(st, "pending", json_integer(0));
    json_object_set_new(st, "bytes_in", json_integer(0));
    json_object_set_new(st, "bytes_out", json_integer(0));
}

static size_t address_cancel(struct handle *h)
{
    return 0;
}

static void address_close(struct handle *h, const char *why) {}
static void address_conn_gone(struct handle *h, uint64_t conn_id) {}

static void address_free(struct handle *h)
{
    addrlist_free(&address_of(h)->al);
}

static const struct addrlist *address_addrs(struct handle *h)
{
    return h->state == HS_SUCCESS ? &address_of(h)->al : NULL;
}

/* ---- carried over a restart: no socket, only the address list ---- */

static int address_save(struct handle *h, json_t *rec, int *fd)
{
    if (!rec)
        return 0;
    json_object_set_new(rec, "address", carry_addrlist(&address_of(h)->al));
    *fd = -1;
    return 0;
}

static int address_restore(struct handle *h, const json_t *rec, int fd)
{
    struct address *a = address_of(h);
    if (fd >= 0 || carry_addrlist_get(json_object_get(rec, "address"), &a->al) < 0 ||
        a->al.count == 0)
        return -EINVAL;
    h->state = HS_SUCCESS;
    return 0;
}

const struct handle_ops address_ops = {
    .save = address_save,
    .restore = address_restore,
    .kind = HK_ADDRESS,
    .size = sizeof(struct address),
    .waits = 1u << WF_RESOLVED,
    .io = address_io,
    .update = address_update,
    .ready = address_ready,
    .status = address_status,
    .cancel = address_cancel,
    .close = address_close,
    .conn_gone = address_conn_gone,
    .free = address_free,
    .address = address_addrs,
};

bool lookup_failed(struct handle *h, struct req *r, int gai, const struct addrlist *al)
{
    bool failed = gai != 0 || al->count == 0;
    char why[256] = "";
    if (failed)
        resolve_why(gai, why, sizeof why); /* before anything can change errno */
    req_unpark(r);
    if (failed)
        req_fail(r, NETD_E_RESOLVE,
                 json_pack("{s:s}", "gai", netd_gai_name(gai ? gai : EAI_NONAME)),
                 "cannot resolve %s: %s", h->hostname ? h->hostname : "", why);
    return failed;
}
