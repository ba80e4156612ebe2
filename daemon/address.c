/*
 * address.c - the `address` and `address-unpack` methods: resolved address
 * handles (Janet's net/address, Pragtical's net.resolve_address).
 */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "netd.h"

static int socktype_of(const struct req *r)
{
    const char *t = param_str(r, "type");
    return t && strcmp(t, "datagram") == 0 ? SOCK_DGRAM : SOCK_STREAM;
}

static int family_of(const struct req *r)
{
    const char *f = param_str(r, "family");
    if (!f)
        return AF_UNSPEC;
    return strcmp(f, "inet6") == 0 ? AF_INET6 : AF_INET;
}

static void fail_resolve(struct req *r, struct handle *h)
{
    req_fail(r, h->fail_kind, json_incref(h->fail_data), "%s", h->fail_msg);
}

/* Answers a waiting `address`: one handle, or with multi one per result. */
static void address_answer(struct req *r, struct handle *h)
{
    if (!param_bool(r, "multi", false)) {
        req_ok(r, json_pack("{s:s}", "handle", h->name));
        return;
    }
    /* One handle per result: @h keeps the first. */
    struct addrlist all = h->al;
    memset(&h->al, 0, sizeof h->al);
    addrlist_copy(&h->al, &all, 0, 1);
    struct handle **made = calloc(all.count, sizeof *made);
    made[0] = h;
    for (size_t i = 1; i < all.count; i++) {
        made[i] = handle_new(h->w, r, HK_ADDRESS);
        if (!made[i]) {
            /* @r has been answered with `limit`: none of its handles survive. */
            for (size_t k = 0; k < i; k++)
                handle_close(made[k], "limit");
            free(made);
            addrlist_free(&all);
            return;
        }
        made[i]->hostname = h->hostname ? strdup(h->hostname) : NULL;
        addrlist_copy(&made[i]->al, &all, i, 1);
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
    if (gai != 0) {
        const char *why = gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai);
        handle_set_failure(h, NETD_E_RESOLVE, json_pack("{s:s}", "gai", netd_gai_name(gai)),
                           "cannot resolve %s: %s", h->hostname ? h->hostname : "(none)", why);
    } else if (al->count == 0) {
        handle_set_failure(h, NETD_E_RESOLVE, json_pack("{s:s}", "gai", "EAI_NONAME"),
                           "cannot resolve %s: no address", h->hostname ? h->hostname : "");
    } else {
        h->al = *al;
        memset(al, 0, sizeof *al);
        h->state = HS_SUCCESS;
    }
    /* A caller that waits gets the handle or the error; a failed handle it
     * never saw is not left behind. */
    struct req *r = h->connectors.head;
    if (r) {
        req_unpark(r);
        if (h->state == HS_SUCCESS) {
            address_answer(r, h);
        } else {
            fail_resolve(r, h);
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

void m_address(struct worker *w, struct req *r)
{
    const char *path = param_str(r, "path");
    const char *host = param_str(r, "host");
    json_t *port = param(r, "port");
    bool wait = param_bool(r, "wait", true);
    char service[64];
    if (!path && !host && !port) {
        req_fail(r, NETD_E_PARAMS, NULL, "address needs host and port, or path");
        return;
    }
    if (port && port_string(port, service, sizeof service) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'port' must be 0..65535 or a service name");
        return;
    }
    if (param_bool(r, "multi", false) && !wait) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "multi needs wait: the number of handles is known only after resolution");
        return;
    }
    struct handle *h = handle_new(w, r, HK_ADDRESS);
    if (!h)
        return;
    h->type = socktype_of(r);
    if (path) {
        h->hostname = strdup(path);
        if (addrlist_unix(r, &h->al, path, h->type) < 0) {
            handle_close(h, "bad path");
            return;
        }
        h->state = HS_SUCCESS;
        address_answer(r, h);
        return;
    }
    h->hostname = host ? strdup(host) : NULL;
    h->on_resolved = address_resolved;
    int family = family_of(r); /* @r may be answered and freed below */
    int flags = (param_bool(r, "passive", false) ? AI_PASSIVE : 0) |
                (param_bool(r, "canonname", false) ? AI_CANONNAME : 0) |
                (param_bool(r, "numeric", false) ? AI_NUMERICHOST : 0);
    if (wait)
        req_park(r, h, &h->connectors, WK_CONNECT, address_timeout);
    else
        req_ok(r, json_pack("{s:s}", "handle", h->name));
    resolve_for(h, h->hostname, port ? service : NULL, family, h->type, flags);
}

void m_address_unpack(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_ADDRESS);
    if (!h)
        return;
    if (h->state == HS_WAITING) {
        req_fail(r, NETD_E_RESOLVE, json_pack("{s:s}", "gai", "EAI_AGAIN"),
                 "%s is still being resolved; use wait {for: \"resolved\"} first",
                 h->hostname ? h->hostname : "the address");
        return;
    }
    if (h->state == HS_FAILURE) {
        fail_resolve(r, h);
        return;
    }
    json_t *a = sockaddr_json((struct sockaddr *)&h->al.addrs[0], h->al.lens[0]);
    json_object_set_new(a, "hostname", json_string(h->hostname ? h->hostname : ""));
    if (h->al.canonname)
        json_object_set_new(a, "canonname", json_string(h->al.canonname));
    req_ok(r, a);
}
