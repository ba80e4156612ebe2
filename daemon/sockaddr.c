/*
 * sockaddr.c - socket addresses to and from the protocol's address objects.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "netd.h"

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
    const char *s = json_string_value(port);
    if (!s || !*s || strlen(s) >= outlen)
        return -1;
    snprintf(out, outlen, "%s", s);
    return 0;
}
