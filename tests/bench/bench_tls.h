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
    char cipher[96];                   /* what the direct wolfSSL client negotiated */
};

/**
 * Runs the TLS benchmarks against the netd on @socket (NULL: the client
 * library's default): each handshake loop for @seconds, each bulk transfer
 * of @bulk bytes. Every transfer is checked byte for byte. Returns 0, or -1
 * after printing what went wrong.
 */
int bench_tls(const char *socket, double seconds, size_t bulk, struct tls_bench *out);

/** wolfCrypt alone, on 64 KiB buffers: encryption MB/s of the library linked,
 * per second of CPU time (as `openssl speed` counts) and of wall clock. */
struct crypt_bench {
    double aes128_gcm, chacha20_poly1305;
    double aes128_gcm_wall, chacha_wall;
    char library[4200]; /* its version and the file the loader mapped */
};

/** Measures each cipher for about @seconds. 0, or -1 if one could not run. */
int bench_wolfcrypt(double seconds, struct crypt_bench *out);

#endif
