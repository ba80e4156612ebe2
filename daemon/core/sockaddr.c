/*
 * sockaddr.c - socket addresses to and from the protocol's address objects.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "core.h"
#include "rpc.h"

json_t *sockaddr_json(const struct sockaddr *sa, socklen_t len)
{
    char host[INET6_ADDRSTRLEN];
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return json_pack("{s:s,s:s,s:i}", "family", "inet", "host", host, "port",
                         ntohs(in->sin_port));
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        return json_pack("{s:s,s:s,s:i}", "family", "inet6", "host", host, "port",
                         ntohs(in6->sin6_port));
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t n = len > offsetof(struct sockaddr_un, sun_path)
                       ? len - offsetof(struct sockaddr_un, sun_path)
                       : 0;
        char path[sizeof un->sun_path + 2];
        if (n > 0 && un->sun_path[0] == '\0') {
            /* Abstract: shown with a leading '@', covering exactly the name. */
            path[0] = '@';
            memcpy(path + 1, un->sun_path + 1, n - 1);
            path[n] = '\0';
        } else {
            size_t l = strnlen(un->sun_path, n);
            memcpy(path, un->sun_path, l);
            path[l] = '\0';
        }
        return json_pack("{s:s,s:s}", "family", "unix", "path", path);
    }
    default:
        return json_pack("{s:s}", "family", "unknown");
    }
}

int sockaddr_unix(const char *path, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_un *un = (struct sockaddr_un *)ss;
    size_t n = strlen(path);
    if (n == 0 || (path[0] == '@' && n == 1))
        return -EINVAL;
    if (n >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    memset(ss, 0, sizeof *ss);
    un->sun_family = AF_UNIX;
    if (path[0] == '@') {
        un->sun_path[0] = '\0';
        memcpy(un->sun_path + 1, path + 1, n - 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        memcpy(un->sun_path, path, n + 1);
        *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }
    return 0;
}

int port_string(const json_t *port, char *out, size_t outlen)
{
    if (json_is_integer(port)) {
        json_int_t p = json_integer_value(port);
        if (p < 0 || p > 65535)
            return -1;
        snprintf(out, outlen, "%lld", (long long)p);
        return 0;
    }
    const char *s = netd_json_text(port) ? json_string_value(port) : NULL;
    if (!s || !*s || strlen(s) >= outlen)
        return -1;
    snprintf(out, outlen, "%s", s);
    return 0;
}

int port_number(const json_t *port, int socktype)
{
    char service[64];
    if (port_string(port, service, sizeof service) < 0)
        return -1;
    char *end;
    long n = strtol(service, &end, 10);
    if (*end == '\0' && end != service)
        return n >= 0 && n <= 65535 ? (int)n : -1;
    /* A service name: /etc/services, a local file, so this never waits. */
    struct addrinfo hints = {
        .ai_family = AF_INET, .ai_socktype = socktype, .ai_flags = AI_NUMERICHOST | AI_PASSIVE};
    struct addrinfo *res = NULL;
    if (getaddrinfo(NULL, service, &hints, &res) != 0 || !res)
        return -1;
    int p = ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port);
    freeaddrinfo(res);
    return p;
}

void addrlist_set_port(struct addrlist *al, int port)
{
    for (size_t i = 0; i < al->count; i++) {
        struct sockaddr_storage *ss = &al->addrs[i];
        if (ss->ss_family == AF_INET)
            ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
        else if (ss->ss_family == AF_INET6)
            ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    }
}

static void addrlist_swap(struct addrlist *al, size_t a, size_t b)
{
    struct sockaddr_storage ss = al->addrs[a];
    socklen_t len = al->lens[a];
    int st = al->socktypes[a];
    al->addrs[a] = al->addrs[b];
    al->lens[a] = al->lens[b];
    al->socktypes[a] = al->socktypes[b];
    al->addrs[b] = ss;
    al->lens[b] = len;
    al->socktypes[b] = st;
}

void addrlist_inet6_first(struct addrlist *al)
{
    /* Lists are a handful of entries: bubble each IPv6 one forward. */
    for (size_t i = 1; i < al->count; i++)
        for (size_t k = i;
             k > 0 && al->addrs[k].ss_family == AF_INET6 && al->addrs[k - 1].ss_family != AF_INET6;
             k--)
            addrlist_swap(al, k, k - 1);
}

int addrlist_unix(struct addrlist *al, const char *path, int socktype)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = sockaddr_unix(path, &ss, &len);
    if (rc < 0)
        return rc;
    struct addrlist one = {&ss, &len, &socktype, 1, NULL};
    return addrlist_copy(al, &one, 0, 1);
}

void addrlist_free(struct addrlist *al)
{
    free(al->canonname);
    free(al->addrs);
    free(al->lens);
    free(al->socktypes);
    memset(al, 0, sizeof *al);
}

int addrlist_copy(struct addrlist *dst, const struct addrlist *src, size_t from, size_t n)
{
    memset(dst, 0, sizeof *dst);
    if (n == 0)
        return 0;
    dst->addrs = malloc(n * sizeof *dst->addrs);
    dst->lens = malloc(n * sizeof *dst->lens);
    dst->socktypes = malloc(n * sizeof *dst->socktypes);
    if (!dst->addrs || !dst->lens || !dst->socktypes) {
        addrlist_free(dst);
        return -ENOMEM;
    }
    memcpy(dst->addrs, src->addrs + from, n * sizeof *dst->addrs);
    memcpy(dst->lens, src->lens + from, n * sizeof *dst->lens);
    memcpy(dst->socktypes, src->socktypes + from, n * sizeof *dst->socktypes);
    dst->canonname = src->canonname ? strdup(src->canonname) : NULL;
    dst->count = n;
    return 0;
}
