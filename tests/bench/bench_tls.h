/*
 * bench_tls.h - the TLS part of netd-bench: handshakes per second and bulk
 * throughput (both directions) through netd, and the same done directly
 * with a wolfSSL client in this process, against one wolfSSL server that
 * this process runs on loopback.
 */
#ifndef NETD_BENCH_TLS_H
#define NETD_BENCH_TLS_H

#include <stddef.h>

struct tls_bench {
    long long hs_netd, hs_direct;      /* handshakes done */
    double hs_netd_s, hs_direct_s;     /* ... in this many seconds */
    size_t bulk;                       /* bytes moved each way */
    double up_netd_s, up_direct_s;     /* seconds to move them client -> server */
    double down_netd_s, down_direct_s; /* ... server -> client */
};

/**
 * Runs the TLS benchmarks against the netd on @socket (NULL: the client
 * library's default): each handshake loop for @seconds, each bulk transfer
 * of @bulk bytes. Every transfer is checked byte for byte. Returns 0, or -1
 * after printing what went wrong.
 */
int bench_tls(const char *socket, double seconds, size_t bulk, struct tls_bench *out);

#endif
