/*
 * bench_relay.h - the data plane part of netd-bench: uploads to a local TCP
 * sink directly, through a socat unix-to-TCP relay (what a user would pick
 * instead of netd), through netd's `attach` in both modes and its `splice`;
 * and TLS uploads through `attach` against OpenSSL on both ends (Python's
 * ssl module), all in one run, so the ratios compare like with like.
 */
#ifndef NETD_BENCH_RELAY_H
#define NETD_BENCH_RELAY_H

#include <stdbool.h>
#include <stddef.h>

struct relay_bench {
    size_t bulk, tls_bulk; /* bytes of each plain / TLS upload */
    /* Megabytes per second of the best of three runs; 0 when not measured. */
    double direct, socat, attach_fd, attach_upgrade, splice;
    double tls_openssl, tls_attach;
    bool have_socat, have_python;
};

/**
 * Runs the uploads against the netd on @socket (NULL: the client library's
 * default), @bulk bytes each (TLS ones @tls_bulk), every byte counted by the
 * sink. A phase whose tool is missing (socat, python3) is skipped and says
 * so. Returns 0, or -1 after printing what went wrong.
 */
int bench_relay(const char *socket, size_t bulk, size_t tls_bulk, struct relay_bench *out);

#endif
