/*
 * explain.c - policy-explain: what connect, listen, server or send-to
 * would be allowed to do, asked of access_judge() exactly as the call
 * asks it, without making a socket.
 *
 * A host name is resolved as the call would resolve it (off the loop);
 * meanwhile the request waits on a private address handle of the caller's
 * connection, so a stop or the connection's end aborts it like any other
 * waiting call. The answer:
 *   {allowed, rule, grant, addresses: [{family, host, port | path, allowed, rule, grant,
 *    refused?}], bind?}
 * every address in the order the call would try it; bind (connect's
 * bindhost/bindport) the same shape. allowed: whether the call would go
 * ahead (bind allowed, and some address allowed); rule: the rule that
 * decides it — bind's if the bind is denied, else the first allowed
 * address's, else the first address's. grant: an allow rule grants what
 * the caller could not do alone (a privileged port, an abstract name, a
 * unix path), so netd makes that call with its own credentials; at the
 * top, whether the call would go ahead by a grant (its first allowed
 * address's, or its bind's). refused: what netd refuses whatever the
 * policy says ("privileged port" or "abstract name" without a grant,
 * "control socket").
 */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "kind.h"

static struct policy_caller asked(const struct req *r)
{
    /* The caller's identity, or (root asking about another uid) that user's. */
    struct policy_caller c = policy_caller_of(r->ident, r->u.explain.uid, r->u.explain.gid);
    c.uid = r->u.explain.uid;
    c.gid = r->u.explain.gid;
    return c;
}

static json_t *judge(const struct req *r, enum policy_op op, const struct sockaddr *sa,
                     socklen_t len)
{
    struct policy_caller c = asked(r);
    struct access_verdict v;
    access_judge(&c, op, sa, len, &v);
    json_t *o = sockaddr_json(sa, len);
    json_object_set_new(o, "allowed", json_boolean(v.allowed));
    json_object_set_new(o, "rule", json_string(v.rule));
    json_object_set_new(o, "grant", json_boolean(v.allowed && v.grant));
    if (v.refused)
        json_object_set_new(o, "refused", json_string(v.refused));
    return o;
}

/* connect's bindhost/bindport, as connect_parse_bind reads them. 1: none; 0: *out; -1: bad. */
static int bind_of(const json_t *inner, struct sockaddr_storage *ss, socklen_t *len)
{
    const char *bh = json_string_value(json_object_get(inner, "bindhost"));
    json_t *bp = json_object_get(inner, "bindport");
    if (!bh && (!bp || json_is_null(bp)))
        return 1;
    char service[64] = "0";
    if (bp && !json_is_null(bp) && port_string(bp, service, sizeof service) < 0)
        return -1;
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(bh, service, &hints, &res) != 0 || !res)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Judges every address of @al (and connect's bind) and answers @r. */
static void answer(struct req *r, const struct addrlist *al)
{
    enum policy_op op = (enum policy_op)r->u.explain.op;
    json_t *inner = param(r, "params");
    json_t *list = json_array(), *first_ok = NULL, *bind = NULL;
    for (size_t i = 0; i < al->count; i++) {
        json_t *a = judge(r, op, (const struct sockaddr *)&al->addrs[i], al->lens[i]);
        json_array_append_new(list, a);
        if (!first_ok && json_is_true(json_object_get(a, "allowed")))
            first_ok = a;
    }
    struct sockaddr_storage bss;
    socklen_t blen;
    if (op == POLICY_CONNECT && inner && bind_of(inner, &bss, &blen) == 0)
        bind = judge(r, POLICY_BIND, (const struct sockaddr *)&bss, blen);
    bool bind_ok = !bind || json_is_true(json_object_get(bind, "allowed"));
    json_t *decider = !bind_ok ? bind : first_ok ? first_ok : json_array_get(list, 0);
    bool allowed = bind_ok && first_ok != NULL;
    bool grant = allowed && (json_is_true(json_object_get(first_ok, "grant")) ||
                             (bind && json_is_true(json_object_get(bind, "grant"))));
    json_t *res = json_pack("{s:b,s:O,s:b,s:o}", "allowed", allowed, "rule",
                            json_object_get(decider, "rule"), "grant", grant, "addresses", list);
    if (bind)
        json_object_set_new(res, "bind", bind);
    req_ok(r, res);
}

static void explain_resolved(struct handle *h, int gai, struct addrlist *al)
{
    struct req *r = h->openers.head;
    if (!r) {
        handle_close(h, "caller gone");
        return;
    }
    if (!lookup_failed(h, r, gai, al)) {
        if (r->u.explain.op == POLICY_LISTEN && !json_object_get(param(r, "params"), "host"))
            addrlist_inet6_first(al); /* as listen orders "every address" */
        answer(r, al);
    }
    handle_close(h, "explained");
}

static void explain_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "resolving %s took longer than the timeout", h->hostname);
    handle_close(h, "timeout");
}

/* Resolves @host/@service as the call would, then answers. */
static void resolve_then_answer(struct worker *w, struct req *r, const char *host,
                                const char *service, int socktype, int flags)
{
    struct handle *h = handle_new(w, r, &address_ops);
    if (!h)
        return;
    h->hostname = malloc((host ? strlen(host) : 1) + strlen(service) + 2);
    sprintf(h->hostname, "%s:%s", host ? host : "*", service);
    handle_park(r, h, &h->openers, WK_OPEN, explain_timeout);
    handle_resolve(h, explain_resolved, host, service, AF_UNSPEC, socktype, flags);
}

static void answer_path(struct req *r, const char *path, int socktype)
{
    struct addrlist al = {0};
    int rc = addrlist_unix(&al, path, socktype);
    if (rc < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "path: %s", strerror(-rc));
        return;
    }
    answer(r, &al);
    addrlist_free(&al);
}

/* send-to's dest: an address object. send-to takes a numeric host only (a
 * name goes through an address handle, whose addresses are its own); a name
 * here is resolved and every address judged, as for connect. */
static void explain_send_to(struct worker *w, struct req *r, const json_t *inner)
{
    json_t *d = json_object_get(inner, "dest");
    if (!json_is_object(d)) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "policy-explain of send-to needs params.dest as {host, port} or {path} (an "
                 "address handle: explain its address instead)");
        return;
    }
    const char *path = json_string_value(json_object_get(d, "path"));
    if (path) {
        answer_path(r, path, SOCK_DGRAM);
        return;
    }
    const char *host = json_string_value(json_object_get(d, "host"));
    char service[64];
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_DGRAM};
    struct addrinfo *res = NULL;
    if (!host || port_string(json_object_get(d, "port"), service, sizeof service) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "params.dest must be {\"host\": address, \"port\": port} or {\"path\": unix "
                 "path}");
        return;
    }
    if (getaddrinfo(host, service, &hints, &res) != 0) {
        resolve_then_answer(w, r, host, service, SOCK_DGRAM, 0);
        return;
    }
    struct addrlist al = {0};
    al.addrs = calloc(1, sizeof *al.addrs);
    al.lens = calloc(1, sizeof *al.lens);
    al.socktypes = calloc(1, sizeof *al.socktypes);
    memcpy(al.addrs, res->ai_addr, res->ai_addrlen);
    al.lens[0] = res->ai_addrlen;
    al.count = 1;
    freeaddrinfo(res);
    answer(r, &al);
    addrlist_free(&al);
}

void policy_explain(struct worker *w, struct req *r, const json_t *inner)
{
    enum policy_op op = (enum policy_op)r->u.explain.op;
    if (op == POLICY_SEND_TO) {
        explain_send_to(w, r, inner);
        return;
    }
    const char *type = json_string_value(json_object_get(inner, "type"));
    int socktype = type && strcmp(type, "datagram") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    const char *path = json_string_value(json_object_get(inner, "path"));
    const char *host = json_string_value(json_object_get(inner, "host"));
    json_t *port = json_object_get(inner, "port");
    char service[64];
    if (json_object_get(inner, "address")) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "policy-explain takes host and port or path, not an address handle");
        return;
    }
    if (op == POLICY_CONNECT &&
        bind_of(inner, &(struct sockaddr_storage){0}, &(socklen_t){0}) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "bindhost must be a numeric address and bindport a port");
        return;
    }
    if (path) {
        answer_path(r, path, socktype);
        return;
    }
    bool need_host = op == POLICY_CONNECT;
    if ((need_host && !host) || !port || json_is_null(port) ||
        port_string(port, service, sizeof service) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "params need %s, or path",
                 need_host ? "host and port" : "port (and optionally host)");
        return;
    }
    resolve_then_answer(w, r, host, service, socktype, op == POLICY_LISTEN ? AI_PASSIVE : 0);
}
