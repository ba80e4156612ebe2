/*
 * m_address.c - `address` and `address-unpack`.
 */
#include <netdb.h>
#include <string.h>

#include "method.h"

static int family_of(const struct req *r)
{
    const char *f = param_str(r, "family");
    if (!f)
        return AF_UNSPEC;
    return strcmp(f, "inet6") == 0 ? AF_INET6 : AF_INET;
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
    struct sockaddr_storage ss;
    socklen_t len;
    if (path && sockaddr_unix(path, &ss, &len) == 0 &&
        unix_addr_check(r, r->ident, (struct sockaddr *)&ss, len, UNIX_ADDRESS, "address") < 0)
        return;
    struct handle *h = handle_new(w, r, &address_ops);
    if (!h)
        return;
    h->type = param_socktype(r);
    if (path) {
        address_path(address_of(h), r, path);
        return;
    }
    int flags = (param_bool(r, "passive", false) ? AI_PASSIVE : 0) |
                (param_bool(r, "canonname", false) ? AI_CANONNAME : 0) |
                (param_bool(r, "numeric", false) ? AI_NUMERICHOST : 0);
    address_start(address_of(h), r, host, port ? service : NULL, family_of(r), flags, wait);
}

void m_address_unpack(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", 1u << HK_ADDRESS);
    if (h)
        address_unpack(address_of(h), r);
}
