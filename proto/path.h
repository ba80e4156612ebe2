/*
 * path.h - paths in requests (contract section 9, "Paths"). netd does not
 * share its client's working directory, so a path it is given must be
 * absolute; a relative one is -32602 rather than a file in netd's own
 * working directory. Unix socket names may instead be "@name", a Linux
 * abstract name.
 */
#ifndef NETD_PROTO_PATH_H
#define NETD_PROTO_PATH_H

#include <stddef.h>

/** Longest unix socket path: sun_path holds 108 bytes with its NUL. */
#define NETD_SOCKET_PATH_MAX 107

enum netd_path_kind {
    NETD_PATH_SOCKET, /* a unix socket: "/abs/path" or "@abstract" */
    NETD_PATH_FILE,   /* a file or directory to open: "/abs/path" */
};

/**
 * Checks the @len bytes at @s as a path of @kind: absolute (or, for a
 * socket, "@" and at least one byte), no NUL inside, short enough for the
 * kernel (NETD_SOCKET_PATH_MAX, or PATH_MAX - 1 for files). Returns 0, or
 * -1 with what is wrong written to @why ("must be absolute ..."; always
 * NUL-terminated, no parameter name: the caller adds it).
 */
int netd_path_check(const char *s, size_t len, enum netd_path_kind kind, char *why, size_t whylen);

#endif
