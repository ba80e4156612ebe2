/*
 * m_connect.c - `connect`: where to (host and port, a unix path, or an
 * address handle), how to bind, options, and TLS; kind/connect.c connects.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "method.h"

/* Where the stream goes: s->spec.al filled (path, address handle) or a name to resolve. -1: @r
 * answered. */
static int destination(struct worker *w, struct req *r, struct sock *s, const char *path,
                       const char *host, const char *service)
{
    struct handle *h = &s->h;
    if (param(r, "address"))
        return connect_from_address(w, r, s);
    if (path) {
        h->hostname = strdup(path);
        int rc = addrlist_unix(&s->spec.al, path, h->type);
        if (rc < 0) {
            req_fail(r, NETD_E_PARAMS, NULL, "parameter 'path': %s", strerror(-rc));
            return -1;
        }
        return 0;
    }
    h->hostname = malloc(strlen(host) + strlen(service) + 2);
    sprintf(h->hostname, "%s:%s", host, service);
    return 0;
}

/* Unix destinations the caller may not name (netd's own control sockets,
 * abstract names): refused before anything is tried. -1: @r answered. */
static int check_unix_dest(struct req *r, struct sock *s)
{
    for (size_t i = 0; i < s->spec.al.count; i++)
        if (unix_addr_check(r, r->ident, (struct sockaddr *)&s->spec.al.addrs[i],
                            s->spec.al.lens[i], UNIX_CONNECT, "connect to") < 0)
            return -1;
    return 0;
}

/* A source port below ip_unprivileged_port_start is root's, or a grant's. -1: @r answered. */
static int check_bindport(struct req *r, int type)
{
    json_t *bp = param(r, "bindport");
    if (!bp)
        return 0;
    char what[64];
    int port = port_number(bp, type);
    snprintf(what, sizeof what, "connect with bindport %d", port);
    return port_bind_check(r, r->ident, POLICY_BIND, port, what);
}

void m_connect(struct worker *w, struct req *r)
{
    const char *path = param_str(r, "path");
    const char *host = param_str(r, "host");
    json_t *port = param(r, "port");
    bool by_handle = param(r, "address") != NULL;
    char service[64];
    if (!path && !by_handle && !(host && port)) {
        req_fail(r, NETD_E_PARAMS, NULL, "connect needs host and port, path, or address");
        return;
    }
    if (port && port_string(port, service, sizeof service) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'port' must be 0..65535 or a service name");
        return;
    }
    int type = param_socktype(r);
    json_t *tls = param(r, "tls");
    bool want_tls = tls && !json_is_false(tls);
    if (want_tls && type != SOCK_STREAM) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'tls' needs a stream connection");
        return;
    }
    if (check_bindport(r, type) < 0)
        return;
    struct handle *h = handle_new(w, r, type == SOCK_DGRAM ? &dgram_ops : &stream_ops);
    if (!h)
        return;
    struct sock *s = sock_of(h);
    h->type = type;
    spec_set_caller(&s->spec, r);
    int brc = connect_parse_bind(r, &s->spec, type);
    if (brc < 0) {
        handle_close(h, "bad bind");
        if (brc == -1)
            req_fail(r, NETD_E_PARAMS, NULL,
                     "bindhost must be a numeric address and bindport a port");
        return;
    }
    if (sockopt_prepare(r, h, &s->spec) < 0 || destination(w, r, s, path, host, service) < 0 ||
        check_unix_dest(r, s) < 0) {
        handle_close(h, "bad parameters");
        return;
    }
    /* The TLS session is set up before connecting, so bad options fail at
     * once. The host given is its default server name. */
    bool unix_dest = path || (s->spec.al.count > 0 && s->spec.al.addrs[0].ss_family == AF_UNIX);
    const char *given = by_handle ? h->hostname : host;
    s->host = given && !unix_dest ? strdup(given) : NULL;
    if (want_tls && tls_connect_prepare(s, r, tls, s->host) < 0) {
        handle_close(h, "bad tls");
        return;
    }
    connect_start(s, r, by_handle || path ? NULL : host, service, param_bool(r, "wait", true));
}
