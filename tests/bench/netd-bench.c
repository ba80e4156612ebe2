/*
 * netd-bench.c - measures a running netd.
 *
 * Two figures, each measured here and never derived from the other:
 * (a) ping throughput: C threads, each with its own control connection,
 *     keep P ping requests in flight as raw JSON lines and count answers;
 * (b) echo round trip: write + read of SIZE bytes to a TCP echo server that
 *     this program runs on loopback, once through netd (connect, write,
 *     read, one request at a time) and once directly on a socket, giving the
 *     median, the 99th percentile and the ratio netd/direct.
 *
 * (c) TLS (bench_tls.c): handshakes per second and bulk throughput both
 *     ways through netd, and the same with a wolfSSL client of our own, as
 *     ratios netd/direct.
 * (e) the data plane (bench_relay.c): uploads to a local sink directly, through
 *     a socat unix-to-TCP relay, through attach (fd, upgrade) and splice, and
 *     TLS through attach against OpenSSL on both ends, as ratios to socat
 *     and to OpenSSL.
 * (d) connect rate: `connect` + `close` of a loopback TCP connection, one
 *     at a time, for S seconds; with --as-uid the whole run is another uid,
 *     so netd's work for a caller other than root is measured (issue 8).
 *
 * Every answer is checked (ids, results, echoed bytes), so a fast but wrong
 * netd fails instead of scoring well.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_plane.h"
#include "bench_relay.h"
#include "bench_tls.h"
#include "codec.h"
#include "line.h"
#include "netd.h"

/* A step that takes longer than this means netd (or the echo server) hangs. */
#define IO_TIMEOUT_MS 10000
/* Round trips before measuring, so connection set-up and cold caches do not count. */
#define WARMUP 50
/* Payloads are cycled so that each echo must carry this round trip's bytes. */
#define NPAYLOADS 4

struct options {
    const char *socket; /* NULL: NETD_SOCKET or @netd, as the client library decides */
    int clients;
    int depth;
    double seconds;
    size_t size;
    bool json;
    bool tls;         /* run the TLS benchmarks too */
    size_t tls_bulk;  /* bytes of each TLS transfer */
    long long as_uid; /* -1: stay who we are */
    bool relay;       /* run the data plane phases */
    bool only_relay;  /* ... and nothing else */
    size_t relay_bulk;
    bool plane;      /* the side-by-side table of bench_plane.c */
    bool plane_only; /* ... and nothing else but TLS and the relays */
    int inflight;    /* netd write calls in flight in that table */
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "netd-bench: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

/* Waits until @fd is ready for @events; works whether @fd blocks or not. */
static int fd_wait(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    while ((rc = poll(&p, 1, IO_TIMEOUT_MS)) < 0 && errno == EINTR)
        ;
    if (rc == 0)
        errno = ETIMEDOUT;
    return rc > 0 ? 0 : -1;
}

static int write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (errno == EAGAIN && fd_wait(fd, POLLOUT) < 0)
                return -1;
            continue;
        }
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads what is there (at least one byte); 0 means the peer closed. */
static ssize_t read_some(int fd, void *buf, size_t n)
{
    for (;;) {
        if (fd_wait(fd, POLLIN) < 0)
            return -1;
        ssize_t r = recv(fd, buf, n, 0);
        if (r >= 0 || (errno != EAGAIN && errno != EINTR))
            return r;
    }
}

static int read_exactly(int fd, uint8_t *buf, size_t n)
{
    for (size_t got = 0; got < n;) {
        ssize_t r = read_some(fd, buf + got, n - got);
        if (r <= 0) {
            if (r == 0)
                errno = ECONNRESET;
            return -1;
        }
        got += (size_t)r;
    }
    return 0;
}

/* ---- (a) ping throughput ---- */

struct pinger {
    const struct options *o;
    pthread_barrier_t *start;
    double *deadline; /* written by the main thread before the barrier opens */
    long long answered;
    const char *failure; /* static text; NULL on success */
    pthread_t tid;
};

/* Appends @n ping lines with ids *next, *next+1, ... and sends them in one write. */
static int send_pings(int fd, long long *next, int n)
{
    char line[80], *buf = malloc((size_t)n * sizeof line);
    size_t len = 0;
    if (!buf)
        return -1;
    for (int i = 0; i < n; i++)
        len +=
            (size_t)snprintf(buf + len, sizeof line,
                             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"ping\"}\n", (*next)++);
    int rc = write_all(fd, buf, len);
    free(buf);
    return rc;
}

/*
 * Checks one answer without a full JSON parse, which would cost the client
 * more than netd spends on a ping and so measure the client: the line must
 * be a result (no error) for an id this connection sent.
 */
static bool ping_answer_ok(const char *line, long long sent)
{
    const char *id = strstr(line, "\"id\"");
    if (!id || !strstr(line, "\"result\"") || strstr(line, "\"error\""))
        return false;
    id += 4;
    while (*id == ' ' || *id == ':')
        id++;
    char *end;
    long long v = strtoll(id, &end, 10);
    return end != id && v >= 1 && v <= sent;
}

/* Takes every complete answer from @lb; returns how many, or -1 on a bad one. */
static int take_answers(struct pinger *p, struct netd_line *lb, long long sent)
{
    char *line;
    size_t len;
    int n = 0, rc;
    while ((rc = netd_line_next(lb, &line, &len)) == NETD_LINE_OK) {
        if (!ping_answer_ok(line, sent)) {
            fprintf(stderr, "netd-bench: unexpected answer to ping: %.200s\n", line);
            p->failure = "bad answer";
            return -1;
        }
        n++;
    }
    if (rc != NETD_LINE_NONE) {
        p->failure = "answer line too long or out of memory";
        return -1;
    }
    return n;
}

/* Keeps depth requests in flight until the deadline, then collects the rest. */
static void ping_loop(struct pinger *p, int fd)
{
    struct netd_line lb;
    char buf[65536];
    long long next = 1;
    int inflight = p->o->depth;
    netd_line_init(&lb, 4096);
    if (send_pings(fd, &next, inflight) < 0)
        p->failure = "send failed";
    while (!p->failure && inflight > 0) {
        ssize_t r = read_some(fd, buf, sizeof buf);
        if (r <= 0 || netd_line_feed(&lb, buf, (size_t)r) < 0) {
            p->failure = r == 0 ? "netd closed the connection" : "receive failed";
            break;
        }
        int got = take_answers(p, &lb, next - 1);
        if (got < 0)
            break;
        inflight -= got;
        p->answered += got;
        if (got > 0 && now() < *p->deadline) {
            if (send_pings(fd, &next, got) < 0)
                p->failure = "send failed";
            inflight += got;
        }
    }
    netd_line_free(&lb);
}

static void *ping_thread(void *arg)
{
    struct pinger *p = arg;
    netd_client *c = netd_client_connect(p->o->socket);
    if (!c)
        p->failure = "cannot connect to netd";
    pthread_barrier_wait(p->start);
    if (c) {
        ping_loop(p, netd_client_fd(c));
        netd_client_free(c);
    }
    return NULL;
}

struct ping_result {
    long long answered;
    double elapsed;
};

static struct ping_result bench_ping(const struct options *o)
{
    struct pinger *p = calloc((size_t)o->clients, sizeof *p);
    pthread_barrier_t start;
    double deadline = 0, t0;
    if (!p)
        die("%s", "out of memory");
    pthread_barrier_init(&start, NULL, (unsigned)o->clients + 1);
    for (int i = 0; i < o->clients; i++) {
        p[i] = (struct pinger){.o = o, .start = &start, .deadline = &deadline};
        if (pthread_create(&p[i].tid, NULL, ping_thread, &p[i]) != 0)
            die("%s", "cannot start a client thread");
    }
    t0 = now();
    deadline = t0 + o->seconds;
    pthread_barrier_wait(&start);
    struct ping_result r = {0, 0};
    for (int i = 0; i < o->clients; i++)
        pthread_join(p[i].tid, NULL);
    r.elapsed = now() - t0;
    for (int i = 0; i < o->clients; i++) {
        if (p[i].failure)
            die("ping: %s", p[i].failure);
        r.answered += p[i].answered;
    }
    pthread_barrier_destroy(&start);
    free(p);
    return r;
}

/* The ping phase for bench_plane: @clients connections x @depth. */
static double ping_rate(const char *socket, int clients, int depth, double seconds)
{
    struct options o = {.socket = socket, .clients = clients, .depth = depth, .seconds = seconds};
    struct ping_result r = bench_ping(&o);
    return (double)r.answered / r.elapsed;
}

/* ---- the echo server ---- */

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        if (write_all(fd, buf, (size_t)n) < 0)
            break;
    close(fd);
    return NULL;
}

static void *echo_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg, one = 1;
    pthread_t t;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL; /* the listener was shut down */
        }
        /* Echo each piece at once: Nagle would hold back the tail of a reply. */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        else
            pthread_detach(t);
    }
}

/* Starts the echo server on 127.0.0.1 with a free port; returns the listener. */
static int echo_start(int *port, pthread_t *tid)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        die("echo server: %s", strerror(errno));
    *port = ntohs(sin.sin_port);
    if (pthread_create(tid, NULL, echo_accept, (void *)(intptr_t)fd) != 0)
        die("%s", "cannot start the echo server");
    return fd;
}

/* ---- (b) round trips ---- */

struct samples {
    double *us;
    size_t n, cap;
};

static void samples_add(struct samples *s, double us)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        s->us = realloc(s->us, s->cap * sizeof *s->us);
        if (!s->us)
            die("%s", "out of memory");
    }
    s->us[s->n++] = us;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile @q (0 < q <= 1) of the samples; sorts them. */
static double percentile(struct samples *s, double q)
{
    qsort(s->us, s->n, sizeof *s->us, cmp_double);
    size_t rank = (size_t)(q * (double)s->n + 0.999999);
    return s->us[rank ? rank - 1 : 0];
}

/* One round trip; 0, or -1 after saying what went wrong. */
typedef int (*round_trip_fn)(void *ctx, int which);

/* Runs WARMUP unmeasured round trips, then measured ones for o->seconds. */
static void measure(const struct options *o, round_trip_fn fn, void *ctx, struct samples *s)
{
    for (int i = 0; i < WARMUP; i++)
        if (fn(ctx, i % NPAYLOADS) < 0)
            exit(1);
    double end = now() + o->seconds;
    for (int i = 0; s->n < 10 || now() < end; i++) {
        double t = now();
        if (fn(ctx, i % NPAYLOADS) < 0)
            exit(1);
        samples_add(s, (now() - t) * 1e6);
    }
}

struct echo_ctx {
    size_t size;
    uint8_t *payload[NPAYLOADS];
    char *b64[NPAYLOADS]; /* the payloads, base64, for netd's write */
    uint8_t *back;        /* what came back */
    netd_client *c;       /* the netd path */
    const char *handle;
    int fd; /* the direct path */
};

/* A netd call whose failure ends the benchmark, unless @quiet: then NULL. */
static json_t *call(netd_client *c, const char *method, json_t *params, bool quiet)
{
    json_t *res = NULL, *err = NULL;
    int rc = netd_call(c, method, params, &res, &err);
    if (rc == 0)
        return res;
    if (!quiet && rc == 1)
        fprintf(stderr, "netd-bench: %s: %s (%d)\n", method, netd_error_message(err),
                netd_error_code(err));
    else if (!quiet)
        fprintf(stderr, "netd-bench: %s: %s\n", method, strerror(errno));
    json_decref(err);
    if (!quiet)
        exit(1);
    return NULL;
}

/* Reads from netd until @e->size bytes came back (read returns what is there). */
static int netd_read_back(struct echo_ctx *e)
{
    size_t got = 0;
    while (got < e->size) {
        json_t *res = call(
            e->c, "read",
            json_pack("{s:s, s:I}", "handle", e->handle, "nbytes", (json_int_t)(e->size - got)),
            false);
        const char *data = json_string_value(json_object_get(res, "data"));
        size_t n = 0, dlen = data ? strlen(data) : 0;
        if (!data || json_is_true(json_object_get(res, "eof")) ||
            dlen > netd_base64_len(e->size - got) ||
            netd_base64_decode(data, dlen, e->back + got, &n) < 0 || n == 0 || n > e->size - got) {
            fprintf(stderr, "netd-bench: bad read result after %zu of %zu bytes\n", got, e->size);
            json_decref(res);
            return -1;
        }
        got += n;
        json_decref(res);
    }
    return 0;
}

static int netd_round_trip(void *ctx, int which)
{
    struct echo_ctx *e = ctx;
    json_t *res = call(e->c, "write",
                       json_pack("{s:s, s:s}", "handle", e->handle, "data", e->b64[which]), false);
    json_int_t written = json_integer_value(json_object_get(res, "written"));
    json_decref(res);
    if (written != (json_int_t)e->size) {
        fprintf(stderr, "netd-bench: write reported %lld of %zu bytes\n", (long long)written,
                e->size);
        return -1;
    }
    if (netd_read_back(e) < 0)
        return -1;
    if (memcmp(e->back, e->payload[which], e->size) != 0) {
        fprintf(stderr, "netd-bench: the echo through netd differs from what was written\n");
        return -1;
    }
    return 0;
}

static int direct_round_trip(void *ctx, int which)
{
    struct echo_ctx *e = ctx;
    if (write_all(e->fd, e->payload[which], e->size) < 0 ||
        read_exactly(e->fd, e->back, e->size) < 0) {
        fprintf(stderr, "netd-bench: direct echo: %s\n", strerror(errno));
        return -1;
    }
    if (memcmp(e->back, e->payload[which], e->size) != 0) {
        fprintf(stderr, "netd-bench: the direct echo differs from what was written\n");
        return -1;
    }
    return 0;
}

/* Distinct random payloads, and their base64 for netd's write. */
static void echo_ctx_init(struct echo_ctx *e, size_t size)
{
    *e = (struct echo_ctx){.size = size, .fd = -1};
    /* Room past @size: base64 decoding writes whole 3-byte groups. */
    e->back = malloc(size + 8);
    for (int i = 0; i < NPAYLOADS; i++) {
        e->payload[i] = malloc(size);
        e->b64[i] = malloc(netd_base64_len(size) + 1);
        if (!e->payload[i] || !e->b64[i])
            die("%s", "out of memory");
        for (size_t k = 0; k < size; k++)
            e->payload[i][k] = (uint8_t)random();
        netd_base64_encode(e->payload[i], size, e->b64[i]);
    }
    if (!e->back)
        die("%s", "out of memory");
}

static void echo_ctx_free(struct echo_ctx *e)
{
    for (int i = 0; i < NPAYLOADS; i++) {
        free(e->payload[i]);
        free(e->b64[i]);
    }
    free(e->back);
}

/*
 * Connects to the echo server through netd. Nagle's algorithm is turned off
 * on both paths when netd supports setsockopt, and left on for both when it
 * does not, so the comparison stays like for like. Returns the handle
 * (owned by @res_out).
 */
static const char *netd_path_open(struct echo_ctx *e, int port, json_t **res_out, bool *nodelay)
{
    json_t *res =
        call(e->c, "connect", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", port), false);
    const char *h = json_string_value(json_object_get(res, "handle"));
    if (!h)
        die("%s", "connect: no handle in the result");
    json_t *ok =
        call(e->c, "setsockopt",
             json_pack("{s:s, s:s, s:b}", "handle", h, "option", "tcp-nodelay", "value", 1), true);
    *nodelay = ok != NULL;
    json_decref(ok);
    *res_out = res;
    return h;
}

static int direct_open(int port, bool nodelay)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("direct connect: %s", strerror(errno));
    if (nodelay)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

struct echo_result {
    size_t n_netd, n_direct;
    double med_netd, p99_netd, med_direct, p99_direct;
    bool nodelay;
};

static void summarize(struct samples *s, size_t *n, double *med, double *p99)
{
    *n = s->n;
    *med = percentile(s, 0.50);
    *p99 = percentile(s, 0.99);
    free(s->us);
}

static struct echo_result bench_echo(const struct options *o)
{
    struct echo_result r = {0};
    struct echo_ctx e;
    struct samples via = {0}, direct = {0};
    pthread_t tid;
    json_t *conn;
    int port, lfd = echo_start(&port, &tid);

    echo_ctx_init(&e, o->size);
    if (!(e.c = netd_client_connect(o->socket)))
        die("cannot connect to netd: %s", strerror(errno));
    e.handle = netd_path_open(&e, port, &conn, &r.nodelay);
    measure(o, netd_round_trip, &e, &via);
    json_decref(call(e.c, "close", json_pack("{s:s}", "handle", e.handle), false));
    json_decref(conn);
    netd_client_free(e.c);

    e.fd = direct_open(port, r.nodelay);
    measure(o, direct_round_trip, &e, &direct);
    close(e.fd);

    shutdown(lfd, SHUT_RDWR);
    pthread_join(tid, NULL);
    close(lfd);
    echo_ctx_free(&e);
    summarize(&via, &r.n_netd, &r.med_netd, &r.p99_netd);
    summarize(&direct, &r.n_direct, &r.med_direct, &r.p99_direct);
    return r;
}

/* ---- output and options ---- */

/* MB/s (10^6 bytes) of @bytes in @s seconds. */
/* ---- (d) connect rate ---- */

/* Accepts and closes connections until the listener is shut down. */
static void *drain_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd >= 0)
            close(fd);
        else if (errno != EINTR && errno != ECONNABORTED)
            return NULL;
    }
}

struct connect_result {
    long long count;
    double elapsed;
};

static struct connect_result bench_connect(const struct options *o)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sin, &len) < 0)
        die("connect target: %s", strerror(errno));
    pthread_t tid;
    if (pthread_create(&tid, NULL, drain_accept, (void *)(intptr_t)lfd) != 0)
        die("%s", "cannot start the connect target");
    netd_client *c = netd_client_connect(o->socket);
    if (!c)
        die("cannot connect to netd: %s", strerror(errno));
    struct connect_result r = {0, 0};
    double t0 = now(), end = t0 + o->seconds;
    for (int i = 0; i < WARMUP || now() < end; i++) {
        if (i == WARMUP)
            t0 = now(), end = t0 + o->seconds;
        json_t *res =
            call(c, "connect",
                 json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", ntohs(sin.sin_port)), false);
        json_decref(
            call(c, "close", json_pack("{s:O}", "handle", json_object_get(res, "handle")), false));
        json_decref(res);
        if (i >= WARMUP)
            r.count++;
    }
    r.elapsed = now() - t0;
    netd_client_free(c);
    shutdown(lfd, SHUT_RDWR);
    pthread_join(tid, NULL);
    close(lfd);
    return r;
}

static double mbps(size_t bytes, double s)
{
    return (double)bytes / 1e6 / s;
}

static void print_tls_text(const struct tls_bench *t)
{
    double hn = (double)t->hs_netd / t->hs_netd_s, hd = (double)t->hs_direct / t->hs_direct_s;
    printf("tls handshakes via netd: %.0f/s, direct: %.0f/s, ratio netd/direct %.2f\n", hn, hd,
           hn / hd);
    printf("tls upload %.1f MiB via netd: %.1f MB/s, direct: %.1f MB/s, ratio netd/direct %.2f\n",
           (double)t->bulk / 1048576, mbps(t->bulk, t->up_netd_s), mbps(t->bulk, t->up_direct_s),
           t->up_direct_s / t->up_netd_s);
    printf("tls download %.1f MiB via netd: %.1f MB/s, direct: %.1f MB/s, ratio netd/direct %.2f\n",
           (double)t->bulk / 1048576, mbps(t->bulk, t->down_netd_s),
           mbps(t->bulk, t->down_direct_s), t->down_direct_s / t->down_netd_s);
}

static json_t *tls_json(const struct tls_bench *t)
{
    double hn = (double)t->hs_netd / t->hs_netd_s, hd = (double)t->hs_direct / t->hs_direct_s;
    return json_pack("{s:{s:f,s:f,s:f},s:I,s:{s:f,s:f,s:f},s:{s:f,s:f,s:f}}",
                     "handshakes_per_second", "netd", hn, "direct", hd, "ratio", hn / hd,
                     "bulk_bytes", (json_int_t)t->bulk, "upload_mb_per_second", "netd",
                     mbps(t->bulk, t->up_netd_s), "direct", mbps(t->bulk, t->up_direct_s), "ratio",
                     t->up_direct_s / t->up_netd_s, "download_mb_per_second", "netd",
                     mbps(t->bulk, t->down_netd_s), "direct", mbps(t->bulk, t->down_direct_s),
                     "ratio", t->down_direct_s / t->down_netd_s);
}

static void print_relay_text(const struct relay_bench *r)
{
    printf("upload %.0f MiB to a local TCP sink, MB/s (best of 3):\n", (double)r->bulk / 1048576);
    printf("  direct TCP %.0f; socat unix->TCP %.0f%s\n", r->direct, r->socat,
           r->have_socat ? "" : " (socat not installed)");
    double base = r->socat > 0 ? r->socat : 0;
    printf("  attach fd %.0f (%.2fx socat); attach upgrade %.0f (%.2fx); splice %.0f (%.2fx)\n",
           r->attach_fd, base ? r->attach_fd / base : 0, r->attach_upgrade,
           base ? r->attach_upgrade / base : 0, r->splice, base ? r->splice / base : 0);
    printf("  relay CPU s/GB: socat %.2f; attach fd %.2f (%.2fx less); attach upgrade %.2f "
           "(%.2fx less); splice %.2f (%.2fx less)\n",
           r->cpu_socat, r->cpu_attach_fd,
           r->cpu_attach_fd > 0 ? r->cpu_socat / r->cpu_attach_fd : 0, r->cpu_attach_upgrade,
           r->cpu_attach_upgrade > 0 ? r->cpu_socat / r->cpu_attach_upgrade : 0, r->cpu_splice,
           r->cpu_splice > 0 ? r->cpu_socat / r->cpu_splice : 0);
    if (r->have_python)
        printf("tls upload %.0f MiB, MB/s: OpenSSL both ends %.0f; through attach %.0f "
               "(%.2fx OpenSSL)\n",
               (double)r->tls_bulk / 1048576, r->tls_openssl, r->tls_attach,
               r->tls_openssl > 0 ? r->tls_attach / r->tls_openssl : 0);
}

static json_t *relay_json(const struct relay_bench *r)
{
    double base = r->socat;
    json_t *cpu =
        json_pack("{s:f,s:f,s:f,s:f}", "socat", r->cpu_socat, "attach_fd", r->cpu_attach_fd,
                  "attach_upgrade", r->cpu_attach_upgrade, "splice", r->cpu_splice);
    return json_pack("{s:o,s:I,s:{s:f,s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f},s:I,s:{s:f,s:f,s:f}}",
                     "relay_cpu_seconds_per_gb", cpu, "bulk_bytes", (json_int_t)r->bulk,
                     "upload_mb_per_second", "direct", r->direct, "socat", r->socat, "attach_fd",
                     r->attach_fd, "attach_upgrade", r->attach_upgrade, "splice", r->splice,
                     "ratio_to_socat", "attach_fd", base ? r->attach_fd / base : 0,
                     "attach_upgrade", base ? r->attach_upgrade / base : 0, "splice",
                     base ? r->splice / base : 0, "tls_bulk_bytes", (json_int_t)r->tls_bulk,
                     "tls_upload_mb_per_second", "openssl", r->tls_openssl, "attach", r->tls_attach,
                     "ratio", r->tls_openssl > 0 ? r->tls_attach / r->tls_openssl : 0);
}

static void print_text(const struct options *o, const struct ping_result *p,
                       const struct echo_result *e, const struct connect_result *k)
{
    printf("connect: %.0f connects/s through netd as uid %u (connect + close, one at a time, "
           "%lld in %.2f s)\n",
           (double)k->count / k->elapsed, (unsigned)geteuid(), k->count, k->elapsed);
    printf("ping: %.0f requests/s (%d clients x %d in flight, %lld answers in %.2f s)\n",
           (double)p->answered / p->elapsed, o->clients, o->depth, p->answered, p->elapsed);
    printf("echo %zu bytes via netd: median %.1f us, p99 %.1f us (%zu round trips)\n", o->size,
           e->med_netd, e->p99_netd, e->n_netd);
    printf("echo %zu bytes direct:   median %.1f us, p99 %.1f us (%zu round trips)\n", o->size,
           e->med_direct, e->p99_direct, e->n_direct);
    printf("echo ratio netd/direct: median %.2f, p99 %.2f (TCP_NODELAY %s, both paths)\n",
           e->med_netd / e->med_direct, e->p99_netd / e->p99_direct, e->nodelay ? "on" : "off");
}

static void print_json(const struct options *o, const struct ping_result *p,
                       const struct echo_result *e, const struct connect_result *k,
                       const struct tls_bench *t, const struct relay_bench *r,
                       const struct plane_table *pt)
{
    json_t *doc = json_object();
    if (p) {
        json_object_set_new(doc, "ping",
                            json_pack("{s:i, s:i, s:I, s:f, s:f}", "clients", o->clients, "depth",
                                      o->depth, "answers", (json_int_t)p->answered, "seconds",
                                      p->elapsed, "per_second", (double)p->answered / p->elapsed));
        json_object_set_new(
            doc, "echo",
            json_pack("{s:I, s:b, s:{s:I, s:f, s:f}, s:{s:I, s:f, s:f}, s:{s:f, s:f}}", "size",
                      (json_int_t)o->size, "tcp_nodelay", e->nodelay, "netd", "round_trips",
                      (json_int_t)e->n_netd, "median_us", e->med_netd, "p99_us", e->p99_netd,
                      "direct", "round_trips", (json_int_t)e->n_direct, "median_us", e->med_direct,
                      "p99_us", e->p99_direct, "ratio", "median", e->med_netd / e->med_direct,
                      "p99", e->p99_netd / e->p99_direct));
        json_object_set_new(doc, "connect",
                            json_pack("{s:i,s:I,s:f,s:f}", "uid", (int)geteuid(), "connects",
                                      (json_int_t)k->count, "seconds", k->elapsed, "per_second",
                                      (double)k->count / k->elapsed));
    }
    if (t)
        json_object_set_new(doc, "tls", tls_json(t));
    if (r)
        json_object_set_new(doc, "data_plane", relay_json(r));
    if (pt)
        json_object_set_new(doc, "plane", plane_json(pt));
    if (!doc || (p && !json_object_get(doc, "echo")))
        die("%s", "cannot build the JSON output");
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    putchar('\n');
    json_decref(doc);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: netd-bench [--socket NAME] [--clients C] [--depth P] [--seconds S]\n"
               "                  [--size BYTES] [--tls-bulk BYTES] [--no-tls] [--as-uid UID]\n"
               "                  [--relay-bulk BYTES] [--no-relay] [--only-relay]\n"
               "                  [--no-plane | --plane-only] [--inflight N] [--json]\n"
               "Measures a running netd: ping requests/s with C clients keeping P requests\n"
               "in flight each, and the round trip of SIZE bytes to a loopback echo server\n"
               "through netd and directly. Each phase runs S seconds.\n"
               "Then TLS: handshakes/s for S seconds, and TLS-BULK bytes up and down,\n"
               "through netd and with a direct wolfSSL client (--no-tls skips this).\n"
               "And connects/s: connect + close of a loopback TCP connection through netd.\n"
               "--as-uid: run everything as that uid and its gid (needs root; netd must\n"
               "serve it: --allow-uid), to measure what netd does for other callers.\n"
               "Defaults: $NETD_SOCKET or @netd, 4 clients, depth 16, 3 s, 1024 bytes,\n"
               "64 MiB.\n"
               "The data plane: RELAY-BULK bytes (default 512 MiB) uploaded directly, through\n"
               "socat, attach (fd, upgrade) and splice, and TLS-BULK bytes through attach\n"
               "and with OpenSSL on both ends (python3); --no-relay skips this,\n"
               "--only-relay runs nothing else.\n"
               "Last, one table side by side with baselines of the same run: direct TCP,\n"
               "a relay (socat, else one of our own), netd write calls (--inflight N of\n"
               "64 KiB, default 4), the SIZE echo round trip with write and read\n"
               "pipelined, ping with 50 clients x 16 against redis-benchmark (when\n"
               "installed), wolfCrypt against openssl speed, TLS uploads against OpenSSL\n"
               "(Python's ssl), and the relay figures above against the same relay;\n"
               "--no-plane skips it, --plane-only runs only it (with TLS and the relays).\n");
}

/* An integer option in [min, max], or exit with usage. */
static long long int_arg(const char *s, long long min, long long max, const char *name)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "netd-bench: --%s must be an integer from %lld to %lld\n", name, min, max);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv, struct options *o)
{
    static const struct option opts[] = {{"socket", required_argument, 0, 's'},
                                         {"clients", required_argument, 0, 'c'},
                                         {"depth", required_argument, 0, 'd'},
                                         {"seconds", required_argument, 0, 't'},
                                         {"size", required_argument, 0, 'z'},
                                         {"json", no_argument, 0, 'j'},
                                         {"tls-bulk", required_argument, 0, 'b'},
                                         {"no-tls", no_argument, 0, 'n'},
                                         {"as-uid", required_argument, 0, 'u'},
                                         {"relay-bulk", required_argument, 0, 'r'},
                                         {"no-relay", no_argument, 0, 'R'},
                                         {"only-relay", no_argument, 0, 'O'},
                                         {"no-plane", no_argument, 0, 'P'},
                                         {"plane-only", no_argument, 0, 'Q'},
                                         {"inflight", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 's')
            o->socket = optarg;
        else if (c == 'c')
            o->clients = (int)int_arg(optarg, 1, 1024, "clients");
        else if (c == 'd')
            o->depth = (int)int_arg(optarg, 1, 4096, "depth"); /* netd's max_inflight */
        else if (c == 't')
            o->seconds = (double)int_arg(optarg, 1, 3600, "seconds");
        else if (c == 'z')
            o->size = (size_t)int_arg(optarg, 1, 8 << 20, "size");
        else if (c == 'j')
            o->json = true;
        else if (c == 'b')
            o->tls_bulk = (size_t)int_arg(optarg, 1, 1ll << 34, "tls-bulk");
        else if (c == 'n')
            o->tls = false;
        else if (c == 'r')
            o->relay_bulk = (size_t)int_arg(optarg, 1, 1ll << 36, "relay-bulk");
        else if (c == 'R')
            o->relay = false;
        else if (c == 'O')
            o->only_relay = true;
        else if (c == 'u')
            o->as_uid = int_arg(optarg, 1, 0x7fffffff, "as-uid");
        else if (c == 'P')
            o->plane = false;
        else if (c == 'Q')
            o->plane_only = true;
        else if (c == 'i')
            o->inflight = (int)int_arg(optarg, 1, 64, "inflight");
        else {
            usage(c == 'h' ? stdout : stderr);
            exit(c == 'h' ? 0 : 2);
        }
    }
    if (optind < argc) {
        usage(stderr);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    struct options o = {.clients = 4,
                        .depth = 16,
                        .seconds = 3,
                        .size = 1024,
                        .tls = true,
                        .tls_bulk = 64u << 20,
                        .as_uid = -1,
                        .relay = true,
                        .relay_bulk = 512u << 20,
                        .plane = true,
                        .inflight = 4};
    parse_args(argc, argv, &o);
    srandom((unsigned)time(NULL));
    /* A peer that goes away is an error to report, not a reason to die. */
    signal(SIGPIPE, SIG_IGN);
    if (o.plane_only && !o.plane)
        die("%s", "--plane-only and --no-plane exclude each other");
    if (o.as_uid >= 0 &&
        (setgroups(0, NULL) < 0 || setgid((gid_t)o.as_uid) < 0 || setuid((uid_t)o.as_uid) < 0))
        die("--as-uid: %s", strerror(errno));

    struct relay_bench r;
    if (o.only_relay) {
        if (bench_relay(o.socket, o.relay_bulk, o.tls_bulk, &r) < 0)
            exit(1);
        if (o.json) {
            json_t *doc = json_pack("{s:o}", "data_plane", relay_json(&r));
            json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
            putchar('\n');
            json_decref(doc);
        } else {
            print_relay_text(&r);
        }
        return 0;
    }
    struct ping_result p = {0};
    struct echo_result e = {0};
    struct connect_result k = {0};
    if (!o.plane_only) {
        p = bench_ping(&o);
        e = bench_echo(&o);
        k = bench_connect(&o);
    }
    struct tls_bench t;
    if (o.tls && bench_tls(o.socket, o.seconds, o.tls_bulk, &t) < 0)
        exit(1);
    if (o.relay && bench_relay(o.socket, o.relay_bulk, o.tls_bulk, &r) < 0)
        exit(1);
    struct plane_table pt = {.n = 0};
    struct plane_opts po = {.socket = o.socket,
                            .seconds = o.seconds,
                            .inflight = o.inflight,
                            .echo_size = o.size,
                            .tls = o.tls,
                            .ping = ping_rate};
    if (o.plane && bench_plane(&po, &pt) < 0)
        exit(1);
    if (o.plane && o.tls)
        plane_add_tls(&pt, &t);
    if (o.plane && o.relay)
        plane_add_relay(&pt, &r);
    if (o.json) {
        print_json(&o, o.plane_only ? NULL : &p, &e, &k, o.tls ? &t : NULL, o.relay ? &r : NULL,
                   o.plane ? &pt : NULL);
    } else {
        if (!o.plane_only)
            print_text(&o, &p, &e, &k);
        if (o.tls)
            print_tls_text(&t);
        if (o.relay)
            print_relay_text(&r);
        if (o.plane)
            plane_print(&pt);
    }
    return 0;
}
