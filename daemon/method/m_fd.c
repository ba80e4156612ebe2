/*
 * m_fd.c - sockets that come from or go to the caller as descriptors
 * (`pair`, `release`, `assign`), and `local-addresses`.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include "method.h"

void m_pair(struct worker *w, struct req *r)
{
    sock_pair(w, r, param_socktype(r));
}

void m_release(struct worker *w, struct req *r)
{
    unsigned kinds = (1u << HK_STREAM) | (1u << HK_LISTENER) | (1u << HK_DATAGRAM);
    struct handle *h = handle_get_kind(w, r, "handle", kinds);
    if (h)
        handle_release(h, r, param_bool(r, "dup", false));
}

void m_assign(struct worker *w, struct req *r)
{
    handle_assign(w, r, r->pass_fd);
}

void m_local_addresses(struct worker *w, struct req *r)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) < 0) {
        req_fail_errno(r, errno, "getifaddrs");
        return;
    }
    json_t *list = json_array();
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        socklen_t len = i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                          : sizeof(struct sockaddr_in6);
        json_t *a = sockaddr_json(i->ifa_addr, len);
        json_object_del(a, "port");
        json_object_set_new(a, "interface", json_string(i->ifa_name));
        json_object_set_new(a, "up", json_boolean(i->ifa_flags & IFF_UP));
        json_object_set_new(a, "loopback", json_boolean(i->ifa_flags & IFF_LOOPBACK));
        json_array_append_new(list, a);
    }
    freeifaddrs(ifa);
    req_ok(r, json_pack("{s:o}", "addresses", list));
}
