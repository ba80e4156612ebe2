/*
 * bench_tls.c - TLS handshakes and bulk transfers through netd, next to the
 * same done directly with wolfSSL in this process.
 *
 * One wolfSSL server runs here on loopback (a few threads) with a
 * certificate made for the run by the openssl command. Both paths verify it
 * (against 127.0.0.1, its IP SAN) and talk to the same server, so the
 * ratio netd/direct is the cost of going through netd: the JSON round trips,
 * base64, and netd's own TLS work. After its handshake a connection says what
 * it wants in its first byte: 'U' (upload: the server reads and checks
 * everything until the end), 'D' plus 8 bytes of length (download: the
 * server sends that many bytes and close_notify); a connection that sends
 * nothing is a handshake only.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/ecc.h>

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_tls.h"
#include "codec.h"
#include "netd.h"

/* The byte pattern repeats every PERIOD bytes; CHUNK is a whole number of
 * periods, so every chunk of a transfer is the same bytes. */
#define PERIOD (251u * 256u)
#define CHUNK (16u * PERIOD)
#define IN_FLIGHT 4
#define SERVER_WAIT_S 60.0

/* The server: SERVER_THREADS threads that each accept and serve one
 * connection at a time. They live for the whole run: wolfSSL keeps a cache
 * of precomputed ECC points per thread, and a thread per connection would
 * rebuild it for every handshake. */
#define SERVER_THREADS 4

struct server {
    WOLFSSL_CTX *ctx;
    int lfd, port;
    pthread_t tids[SERVER_THREADS];
    int started;
    uint64_t received, bad, uploads; /* atomics */
};

static char direct_cipher[96]; /* what the direct client negotiated */
static uint8_t *chunk_bytes;   /* CHUNK bytes of the pattern */
static char *chunk_b64;        /* and their base64 */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_pattern(void)
{
    chunk_bytes = malloc(CHUNK);
    chunk_b64 = malloc(netd_base64_len(CHUNK) + 1);
    if (!chunk_bytes || !chunk_b64) {
        fprintf(stderr, "netd-bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < CHUNK; i++)
        chunk_bytes[i] = (uint8_t)(i * 7 + i / 251);
    netd_base64_encode(chunk_bytes, CHUNK, chunk_b64);
}

/* Whether @n bytes at stream offset @off are the pattern. */
static bool pattern_ok(const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        size_t at = (size_t)(off % CHUNK), k = CHUNK - at < n ? CHUNK - at : n;
        if (memcmp(p, chunk_bytes + at, k) != 0)
            return false;
        p += k;
        off += k;
        n -= k;
    }
    return true;
}

/* ---- the server ---- */

static int read_full(WOLFSSL *ssl, uint8_t *buf, int n)
{
    int got = 0;
    while (got < n) {
        int k = wolfSSL_read(ssl, buf + got, n - got);
        if (k <= 0)
            break;
        got += k;
    }
    return got;
}

static void serve_upload(struct server *srv, WOLFSSL *ssl)
{
    static __thread uint8_t buf[65536];
    uint64_t off = 0;
    int k;
    while ((k = wolfSSL_read(ssl, buf, sizeof buf)) > 0) {
        if (!pattern_ok(buf, (size_t)k, off))
            __atomic_add_fetch(&srv->bad, 1, __ATOMIC_RELAXED);
        off += (uint64_t)k;
        __atomic_add_fetch(&srv->received, (uint64_t)k, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&srv->uploads, 1, __ATOMIC_RELEASE);
}

static void serve_download(WOLFSSL *ssl, uint64_t len)
{
    for (uint64_t sent = 0; sent < len;) {
        size_t at = (size_t)(sent % CHUNK), k = CHUNK - at;
        if (k > len - sent)
            k = (size_t)(len - sent);
        int w = wolfSSL_write(ssl, chunk_bytes + at, (int)k);
        if (w <= 0)
            return;
        sent += (uint64_t)w;
    }
    wolfSSL_shutdown(ssl);
}

static void serve(struct server *srv, int fd)
{
    WOLFSSL *ssl = wolfSSL_new(srv->ctx);
    uint8_t cmd[9];
    if (ssl && wolfSSL_set_fd(ssl, fd) == WOLFSSL_SUCCESS &&
        wolfSSL_accept(ssl) == WOLFSSL_SUCCESS && read_full(ssl, cmd, 1) == 1) {
        if (cmd[0] == 'U') {
            serve_upload(srv, ssl);
        } else if (cmd[0] == 'D' && read_full(ssl, cmd + 1, 8) == 8) {
            uint64_t len = 0;
            for (int i = 1; i < 9; i++)
                len = len << 8 | cmd[i];
            serve_download(ssl, len);
        }
    }
    if (ssl)
        wolfSSL_free(ssl);
    close(fd);
}

/* Every path runs without Nagle's algorithm (netd's with the tcp-nodelay
 * option), so a handshake flight written in pieces is not held back. */
static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void *server_thread(void *arg)
{
    struct server *srv = arg;
    for (;;) {
        int fd = accept(srv->lfd, NULL, NULL);
        if (fd >= 0) {
            nodelay(fd);
            serve(srv, fd);
        } else if (errno != EINTR && errno != ECONNABORTED) {
            break; /* shut down */
        }
    }
    wc_ecc_fp_free();
    return NULL;
}

/* Starts the server; on failure nothing is left running and srv->ctx is NULL. */
static int server_start(struct server *srv, const char *cert, const char *key)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    srv->ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    srv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv->ctx && srv->lfd >= 0 &&
        wolfSSL_CTX_use_certificate_chain_file(srv->ctx, cert) == WOLFSSL_SUCCESS &&
        wolfSSL_CTX_use_PrivateKey_file(srv->ctx, key, WOLFSSL_FILETYPE_PEM) == WOLFSSL_SUCCESS &&
        bind(srv->lfd, (struct sockaddr *)&sin, sizeof sin) == 0 && listen(srv->lfd, 128) == 0 &&
        getsockname(srv->lfd, (struct sockaddr *)&sin, &len) == 0) {
        srv->port = ntohs(sin.sin_port);
        while (srv->started < SERVER_THREADS &&
               pthread_create(&srv->tids[srv->started], NULL, server_thread, srv) == 0)
            srv->started++;
        if (srv->started > 0)
            return 0;
    }
    if (srv->lfd >= 0)
        close(srv->lfd);
    if (srv->ctx)
        wolfSSL_CTX_free(srv->ctx);
    srv->ctx = NULL;
    return -1;
}

/* Stops accepting and waits for the server's threads to finish. */
static void server_stop(struct server *srv)
{
    shutdown(srv->lfd, SHUT_RDWR);
    for (int i = 0; i < srv->started; i++)
        pthread_join(srv->tids[i], NULL);
    close(srv->lfd);
    wolfSSL_CTX_free(srv->ctx);
}

/* Waits until the server has seen @n uploads end; false on timeout. */
static bool uploads_reach(struct server *srv, uint64_t n)
{
    for (double end = now_s() + SERVER_WAIT_S; now_s() < end; usleep(200))
        if (__atomic_load_n(&srv->uploads, __ATOMIC_ACQUIRE) >= n)
            return true;
    return false;
}

/* ---- the direct path: a wolfSSL client in this process ---- */

static WOLFSSL *direct_open(WOLFSSL_CTX *ctx, int port, int *fd)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (*fd < 0 || connect(*fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        return NULL;
    nodelay(*fd);
    WOLFSSL *ssl = wolfSSL_new(ctx);
    if (!ssl)
        return NULL;
    wolfSSL_set_verify(ssl, WOLFSSL_VERIFY_PEER, NULL);
    wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(wolfSSL_get0_param(ssl), "127.0.0.1");
    if (wolfSSL_set_fd(ssl, *fd) != WOLFSSL_SUCCESS || wolfSSL_connect(ssl) != WOLFSSL_SUCCESS) {
        wolfSSL_free(ssl);
        return NULL;
    }
    snprintf(direct_cipher, sizeof direct_cipher, "%s %s", wolfSSL_get_version(ssl),
             wolfSSL_get_cipher_name(ssl));
    return ssl;
}

static void direct_close(WOLFSSL *ssl, int fd)
{
    wolfSSL_shutdown(ssl);
    wolfSSL_free(ssl);
    close(fd);
}

static long long direct_handshakes(WOLFSSL_CTX *ctx, int port, double seconds, double *took)
{
    long long n = 0;
    double t0 = now_s();
    do {
        int fd;
        WOLFSSL *ssl = direct_open(ctx, port, &fd);
        if (!ssl) {
            fprintf(stderr, "netd-bench: direct TLS handshake failed\n");
            return -1;
        }
        direct_close(ssl, fd);
        n++;
    } while (now_s() - t0 < seconds);
    *took = now_s() - t0;
    return n;
}

static int direct_upload(WOLFSSL_CTX *ctx, struct server *srv, size_t bulk, double *took)
{
    int fd;
    uint64_t before = __atomic_load_n(&srv->uploads, __ATOMIC_ACQUIRE);
    WOLFSSL *ssl = direct_open(ctx, srv->port, &fd);
    if (!ssl || wolfSSL_write(ssl, "U", 1) != 1)
        return -1;
    double t0 = now_s();
    for (size_t sent = 0; sent < bulk; sent += CHUNK)
        if (wolfSSL_write(ssl, chunk_bytes, CHUNK) != (int)CHUNK)
            return -1;
    direct_close(ssl, fd);
    if (!uploads_reach(srv, before + 1))
        return -1;
    *took = now_s() - t0;
    return 0;
}

static int direct_download(WOLFSSL_CTX *ctx, int port, size_t bulk, double *took)
{
    int fd;
    uint8_t cmd[9] = {'D'}, *buf = malloc(65536);
    for (int i = 0; i < 8; i++)
        cmd[1 + i] = (uint8_t)((uint64_t)bulk >> (56 - 8 * i));
    WOLFSSL *ssl = direct_open(ctx, port, &fd);
    if (!ssl || !buf || wolfSSL_write(ssl, cmd, 9) != 9)
        return -1;
    double t0 = now_s();
    uint64_t got = 0;
    int k;
    while (got < bulk && (k = wolfSSL_read(ssl, buf, 65536)) > 0) {
        if (!pattern_ok(buf, (size_t)k, got))
            break;
        got += (uint64_t)k;
    }
    *took = now_s() - t0;
    direct_close(ssl, fd);
    free(buf);
    return got == bulk ? 0 : -1;
}

/* ---- the netd path ---- */

/* A netd call; NULL after printing the error. */
static json_t *ncall(netd_client *c, const char *method, json_t *params)
{
    json_t *res = NULL, *err = NULL;
    int rc = netd_call(c, method, params, &res, &err);
    if (rc == 0)
        return res;
    fprintf(stderr, "netd-bench: tls: %s: %s\n", method,
            rc == 1 ? netd_error_message(err) : strerror(errno));
    json_decref(err);
    return NULL;
}

/* connect with TLS, verifying against @ca; the handle (malloc'd) or NULL. */
static char *netd_open(netd_client *c, int port, const char *ca)
{
    json_t *r = ncall(c, "connect",
                      json_pack("{s:s,s:i,s:{s:s},s:{s:b}}", "host", "127.0.0.1", "port", port,
                                "tls", "cafile", ca, "options", "tcp-nodelay", 1));
    char *h = r ? strdup(json_string_value(json_object_get(r, "handle"))) : NULL;
    json_decref(r);
    return h;
}

static bool netd_close(netd_client *c, char *h)
{
    json_t *r = ncall(c, "close", json_pack("{s:s}", "handle", h));
    free(h);
    json_decref(r);
    return r != NULL;
}

static long long netd_handshakes(netd_client *c, int port, const char *ca, double seconds,
                                 double *took)
{
    long long n = 0;
    double t0 = now_s();
    do {
        char *h = netd_open(c, port, ca);
        if (!h || !netd_close(c, h))
            return -1;
        n++;
    } while (now_s() - t0 < seconds);
    *took = now_s() - t0;
    return n;
}

/* Writes @b64 (the base64 of @n bytes) to @h; waits for the answer. */
static bool netd_write(netd_client *c, const char *h, const char *b64, size_t n)
{
    json_t *r = ncall(c, "write", json_pack("{s:s,s:s}", "handle", h, "data", b64));
    bool ok = r && json_integer_value(json_object_get(r, "written")) == (json_int_t)n;
    json_decref(r);
    return ok;
}

/* Answers of pipelined requests, oldest first; false on an error. */
static bool collect(netd_client *c, long long id, json_t **res)
{
    json_t *err = NULL;
    int rc = netd_client_wait(c, id, 60000, res, &err);
    if (rc != 0)
        fprintf(stderr, "netd-bench: tls: %s\n",
                rc == 1 ? netd_error_message(err) : strerror(errno));
    json_decref(err);
    return rc == 0;
}

static int netd_upload(netd_client *c, struct server *srv, const char *ca, size_t bulk,
                       double *took)
{
    uint64_t before = __atomic_load_n(&srv->uploads, __ATOMIC_ACQUIRE);
    char *h = netd_open(c, srv->port, ca);
    if (!h || !netd_write(c, h, "VQ==", 1)) /* "U" */
        return -1;
    long long ids[IN_FLIGHT];
    size_t chunks = bulk / CHUNK, sent = 0, done = 0;
    double t0 = now_s();
    while (done < chunks) {
        while (sent < chunks && sent - done < IN_FLIGHT)
            ids[sent++ % IN_FLIGHT] = netd_client_send_write(c, h, chunk_bytes, CHUNK);
        json_t *r;
        if (!collect(c, ids[done++ % IN_FLIGHT], &r))
            return -1;
        bool whole = json_integer_value(json_object_get(r, "written")) == (json_int_t)CHUNK;
        json_decref(r);
        if (!whole)
            return -1;
    }
    if (!netd_close(c, h) || !uploads_reach(srv, before + 1))
        return -1;
    *took = now_s() - t0;
    return 0;
}

/* Checks one read answer against the pattern at *got; -1 on a bad one, 1 at the end. */
static int take_read(json_t *r, uint8_t *buf, uint64_t *got)
{
    const char *d = json_string_value(json_object_get(r, "data"));
    size_t len = d ? strlen(d) : 0, n = 0;
    if (!d || len > netd_base64_len(CHUNK) || netd_base64_decode(d, len, buf, &n) < 0 ||
        !pattern_ok(buf, n, *got))
        return -1;
    *got += n;
    return json_is_true(json_object_get(r, "eof")) ? 1 : 0;
}

static int netd_download(netd_client *c, int port, const char *ca, size_t bulk, double *took)
{
    uint8_t cmd[9] = {'D'}, *buf = malloc(CHUNK + 8);
    char b64[16];
    for (int i = 0; i < 8; i++)
        cmd[1 + i] = (uint8_t)((uint64_t)bulk >> (56 - 8 * i));
    netd_base64_encode(cmd, 9, b64);
    char *h = netd_open(c, port, ca);
    if (!h || !buf || !netd_write(c, h, b64, 9))
        return -1;
    long long ids[IN_FLIGHT];
    size_t asked = 0, answered = 0;
    uint64_t got = 0;
    int end = 0;
    double t0 = now_s();
    /* Reads stay in flight until the server's close_notify answers them with eof. */
    while (answered < asked || (!end && got < bulk)) {
        while (!end && got < bulk && asked - answered < IN_FLIGHT)
            ids[asked++ % IN_FLIGHT] = netd_client_send(
                c, "read", json_pack("{s:s,s:i}", "handle", h, "nbytes", (int)CHUNK));
        json_t *r;
        if (!collect(c, ids[answered++ % IN_FLIGHT], &r))
            return -1;
        int rc = take_read(r, buf, &got);
        json_decref(r);
        if (rc < 0)
            return -1;
        end |= rc;
    }
    *took = now_s() - t0;
    free(buf);
    return netd_close(c, h) && got == bulk ? 0 : -1;
}

/* ---- wolfCrypt alone ---- */

/* Seconds of CPU this thread has used. */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * MB/s of @fn over 64 KiB buffers for about @seconds of wall clock, per
 * second of this thread's CPU time, as `openssl speed` counts by default
 * (its divisor is user CPU time; -elapsed would take the wall clock). On a
 * shared machine the wall clock also counts the time other programs had
 * the CPU, which once made wolfCrypt look 3-4 times slower than OpenSSL
 * when it was not. *wall gets the wall-clock figure.
 */
static double crypt_rate(int (*fn)(void *ctx, uint8_t *buf, size_t n), void *ctx, double seconds,
                         double *wall)
{
    static uint8_t buf[65536];
    size_t bytes = 0;
    double t0 = now_s(), c0 = thread_cpu_s(), t;
    do {
        for (int i = 0; i < 16; i++) {
            if (fn(ctx, buf, sizeof buf) != 0)
                return -1;
            bytes += sizeof buf;
        }
        t = now_s();
    } while (t - t0 < seconds);
    double cpu = thread_cpu_s() - c0;
    *wall = (double)bytes / 1e6 / (t - t0);
    return cpu > 0 ? (double)bytes / 1e6 / cpu : -1;
}

static int aes_gcm_step(void *ctx, uint8_t *buf, size_t n)
{
    static const uint8_t iv[12], aad[13];
    uint8_t tag[16];
    return wc_AesGcmEncrypt(ctx, buf, buf, (word32)n, iv, sizeof iv, tag, sizeof tag, aad,
                            sizeof aad);
}

static int chacha_step(void *ctx, uint8_t *buf, size_t n)
{
    static const uint8_t iv[12], aad[13];
    uint8_t tag[16];
    return wc_ChaCha20Poly1305_Encrypt(ctx, iv, aad, sizeof aad, buf, (word32)n, buf, tag);
}

int bench_wolfcrypt(double seconds, struct crypt_bench *out)
{
    static const uint8_t key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    Aes aes;
    Dl_info dl;
    char real[PATH_MAX];
    *out = (struct crypt_bench){
        .aes128_gcm = -1, .chacha20_poly1305 = -1, .aes128_gcm_wall = -1, .chacha_wall = -1};
    snprintf(out->library, sizeof out->library, "wolfSSL %s, %s", wolfSSL_lib_version(),
             dladdr((void *)wc_AesGcmEncrypt, &dl) && realpath(dl.dli_fname, real) ? real : "?");
    if (wc_AesInit(&aes, NULL, INVALID_DEVID) == 0 && wc_AesGcmSetKey(&aes, key, 16) == 0)
        out->aes128_gcm = crypt_rate(aes_gcm_step, &aes, seconds, &out->aes128_gcm_wall);
    wc_AesFree(&aes);
    out->chacha20_poly1305 = crypt_rate(chacha_step, (void *)key, seconds, &out->chacha_wall);
    return out->aes128_gcm > 0 && out->chacha20_poly1305 > 0 ? 0 : -1;
}

/* ---- the run ---- */

/* A certificate for 127.0.0.1 and its key in a fresh directory @dir. */
static int make_cert(char *dir, char *cert, char *key, size_t n)
{
    if (!mkdtemp(dir))
        return -1;
    snprintf(cert, n, "%s/cert.pem", dir);
    snprintf(key, n, "%s/key.pem", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -keyout '%s' -out '%s' "
             ">/dev/null 2>&1",
             key, cert);
    return system(cmd) == 0 ? 0 : -1;
}

static int run(netd_client *c, struct server *srv, WOLFSSL_CTX *cctx, const char *ca,
               double seconds, struct tls_bench *out)
{
    out->hs_direct = direct_handshakes(cctx, srv->port, seconds, &out->hs_direct_s);
    out->hs_netd = netd_handshakes(c, srv->port, ca, seconds, &out->hs_netd_s);
    if (out->hs_direct < 0 || out->hs_netd < 0)
        return -1;
    if (direct_upload(cctx, srv, out->bulk, &out->up_direct_s) < 0 ||
        netd_upload(c, srv, ca, out->bulk, &out->up_netd_s) < 0) {
        fprintf(stderr, "netd-bench: TLS upload failed\n");
        return -1;
    }
    if (direct_download(cctx, srv->port, out->bulk, &out->down_direct_s) < 0 ||
        netd_download(c, srv->port, ca, out->bulk, &out->down_netd_s) < 0) {
        fprintf(stderr, "netd-bench: TLS download failed\n");
        return -1;
    }
    if (__atomic_load_n(&srv->bad, __ATOMIC_RELAXED) > 0) {
        fprintf(stderr, "netd-bench: the TLS server received wrong bytes\n");
        return -1;
    }
    return 0;
}

int bench_tls(const char *socket, double seconds, size_t bulk, struct tls_bench *out)
{
    char dir[] = "/tmp/netd-bench-XXXXXX", cert[128], key[128], cmd[160];
    struct server srv = {0};
    *out = (struct tls_bench){.bulk = bulk < CHUNK ? CHUNK : bulk / CHUNK * CHUNK};
    wolfSSL_Init();
    make_pattern();
    int rc = -1;
    netd_client *c = NULL;
    WOLFSSL_CTX *cctx = NULL;
    if (make_cert(dir, cert, key, sizeof cert) < 0 || server_start(&srv, cert, key) < 0) {
        fprintf(stderr, "netd-bench: cannot set up the TLS server (openssl, wolfSSL)\n");
    } else if (!(c = netd_client_connect(socket))) {
        fprintf(stderr, "netd-bench: cannot connect to netd: %s\n", strerror(errno));
    } else {
        cctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
        if (cctx && wolfSSL_CTX_SetMinVersion(cctx, WOLFSSL_TLSV1_2) == WOLFSSL_SUCCESS &&
            wolfSSL_CTX_load_verify_locations(cctx, cert, NULL) == WOLFSSL_SUCCESS)
            rc = run(c, &srv, cctx, cert, seconds, out);
    }
    netd_client_free(c);
    if (srv.ctx)
        server_stop(&srv);
    if (cctx)
        wolfSSL_CTX_free(cctx);
    snprintf(out->cipher, sizeof out->cipher, "%s", direct_cipher);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "netd-bench: could not remove %s\n", dir);
    free(chunk_bytes);
    free(chunk_b64);
    wolfSSL_Cleanup();
    return rc;
}
