/*
 * path.c - the check of paths in requests (see path.h).
 */
#include "path.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

int netd_path_check(const char *s, size_t len, enum netd_path_kind kind, char *why, size_t whylen)
{
    size_t max = kind == NETD_PATH_SOCKET ? NETD_SOCKET_PATH_MAX : PATH_MAX - 1;
    const char *what = kind == NETD_PATH_SOCKET ? "an absolute path or @name" : "an absolute path";
    if (len == 0 || memchr(s, '\0', len)) {
        snprintf(why, whylen, "must be %s without NUL bytes", what);
        return -1;
    }
    if (s[0] != '/' && !(kind == NETD_PATH_SOCKET && s[0] == '@' && len > 1)) {
        snprintf(why, whylen,
                 "must be %s, not \"%.64s\": netd does not share the caller's working directory",
                 what, s);
        return -1;
    }
    if (len > max) {
        snprintf(why, whylen, "is %zu bytes long; the longest %s is %zu", len,
                 kind == NETD_PATH_SOCKET ? "unix socket name" : "path", max);
        return -1;
    }
    return 0;
}
