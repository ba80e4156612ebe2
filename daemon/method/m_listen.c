/*
 * m_listen.c - `listen`, `server`, `accept` and `accept-loop`.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "method.h"

/* What the caller may not bind: a privileged port (root's, or a grant's),
 * an abstract name (unless netd acts for it as itself, or a grant). -1: @r
 * answered. */
static int check_bind(struct req *r, const char *path, const char *host, json_t *port, int type)
{
    if (path) {
        struct sockaddr_storage ss;
        socklen_t len;
        if (sockaddr_unix(path, &ss, &len) < 0)
            return 0; /* listen_start says why */
        return unix_addr_check(r, r->ident, (struct sockaddr *)&ss, len, UNIX_BIND, "listen on");
    }
    char what[320];
    int p = port_number(port, type);
    snprintf(what, sizeof what, "listen on %.255s:%d", host ? host : "*", p);
    return port_bind_check(r, r->ident, POLICY_LISTEN, p, what);
}

static void listen_or_serve(struct worker *w, struct req *r)
{
    const char *path = param_str(r, "path");
    const char *host = param_str(r, "host");
    json_t *port = param(r, "port");
    char service[64];
    if (!path && !port) {
        req_fail(r, NETD_E_PARAMS, NULL, "listen needs port (and optionally host), or path");
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
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'tls' needs a stream listener");
        return;
    }
    if (check_bind(r, path, host, port, type) < 0)
        return;
    struct handle *h = handle_new(w, r, type == SOCK_DGRAM ? &dgram_ops : &listener_ops);
    if (!h)
        return;
    h->type = type;
    struct sockspec *spec = type == SOCK_DGRAM ? &sock_of(h)->spec : &listener_of(h)->spec;
    if (sockopt_prepare(r, h, spec) < 0) {
        handle_close(h, "bad options");
        return;
    }
    /* The server context lives on the listener, as its acceptor. */
    if (want_tls && tls_listen_prepare(listener_of(h), r, tls) < 0) {
        handle_close(h, "bad tls");
        return;
    }
    listen_start(h, spec, r, host, port ? service : NULL, path);
}

void m_listen(struct worker *w, struct req *r)
{
    listen_or_serve(w, r);
}

/* `server`: `listen`, then an accept loop; the answer comes at once and the
 * `accepted` notifications follow (kind/loop.c). */
void m_server(struct worker *w, struct req *r)
{
    const char *type = param_str(r, "type");
    if (type && strcmp(type, "datagram") == 0) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "server needs a stream listener; use listen for datagrams");
        return;
    }
    listen_or_serve(w, r);
}

void m_accept(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_LISTENER);
    if (h)
        listener_accept(listener_of(h), r);
}

void m_accept_loop(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_LISTENER);
    if (h && loop_start(listener_of(h), r) == 0)
        loop_park(listener_of(h), r);
}
