/*
 * netd-soak.c - a long, checked load on one netd.
 *
 * N client threads, each with its own control connection (the C client
 * library), run a seeded random mix of connect, write, read, close and ping
 * against TCP echo servers this program runs on loopback, plus a few bad
 * requests whose error code is known in advance. Every byte read back is
 * compared with what was written (each stream carries its own seeded byte
 * sequence, encoded and decoded here, not with netd's codec). About once a
 * second it prints requests/s, errors by code, and netd's RSS and
 * descriptor count from /proc. At the end every client closes its handles
 * and its connection, and netd's descriptor count must come back to what
 * it was before the clients connected.
 *
 * It fails (exit 1) on any error it did not ask for, any byte that differs,
 * a call that hangs, netd exiting, or descriptors that do not come back.
 *
 *     netd-soak --netd build/netd [--requests N] [--clients N] [--seed S]
 *     netd-soak --socket @netd --netd-pid PID ...
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "netd.h"

/* A call that takes longer than this means netd hangs. */
#define CALL_TIMEOUT_MS 30000
/* Open streams per client at most. */
#define MAX_STREAMS 8
/* Bytes written and not yet read back, per stream at most: well inside the
 * loopback socket buffers, so the echo server never blocks on a full one. */
#define MAX_OUTSTANDING 65536
/* Error codes counted one by one: -32700..-32600 and -32000..-32008. */
#define NCODES 16

struct options {
    const char *netd_bin; /* start this netd (when no --socket) */
    const char *socket;   /* use this netd's control socket */
    pid_t netd_pid;       /* its pid, for /proc figures; 0: unknown */
    long long requests;   /* in all, over every client */
    int clients, servers;
    uint64_t seed;
    bool quiet; /* no progress lines, only the summary */
};

static struct options opt = {
    .requests = 100000,
    .clients = 4,
    .servers = 2,
    .seed = 1,
};

/* ---- seeded randomness ---- */

static uint64_t splitmix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

struct rng {
    uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
    r->s = splitmix(r->s);
    return r->s;
}

static uint64_t rnd_below(struct rng *r, uint64_t n)
{
    return rnd(r) % n;
}

/* Byte @i of the sequence a stream with seed @s carries. */
static uint8_t stream_byte(uint64_t s, uint64_t i)
{
    return (uint8_t)(splitmix(s ^ (i >> 3) * 0x100000001b3ull) >> (8 * (i & 7)));
}

/* ---- encodings, our own so netd's codec is checked, not trusted ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const uint8_t *p, size_t n)
{
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

static int unbase64(const char *s, size_t n, uint8_t *out, size_t *len)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *c = memchr(b64, s[i], 64);
        if (!c)
            return -1;
        acc = acc << 6 | (uint32_t)(c - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *len = o;
    return 0;
}

static char *hex(const uint8_t *p, size_t n)
{
    char *out = malloc(2 * n + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    return out;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* netd writes lowercase */
}

static int unhex(const char *s, size_t n, uint8_t *out, size_t *len)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = nibble(s[i]), lo = nibble(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return 0;
}

/* ---- echo servers ---- */

struct echo_server {
    int fd, port;
    pthread_t tid;
};

static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    close(fd);
    return NULL;
}

/* Accepts until the listener is shut down; one thread per connection, so
 * a client that is slow to read back stalls only its own stream. */
static void *echo_accept(void *arg)
{
    struct echo_server *e = arg;
    for (;;) {
        int fd = accept(e->fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &a, echo_conn, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&a);
    }
}

static int echo_start(struct echo_server *e)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    e->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (e->fd < 0 || bind(e->fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(e->fd, 256) < 0 ||
        getsockname(e->fd, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    e->port = ntohs(sa.sin_port);
    return pthread_create(&e->tid, NULL, echo_accept, e) == 0 ? 0 : -1;
}

static void echo_stop(struct echo_server *e)
{
    shutdown(e->fd, SHUT_RDWR);
    pthread_join(e->tid, NULL);
    close(e->fd);
}

/* ---- counters shared by the clients ---- */

static atomic_llong done_requests, mismatches, unexpected;
static atomic_llong by_code[NCODES + 1]; /* [NCODES]: codes outside the table */
static atomic_int running_clients;

static int code_slot(int code)
{
    static const int codes[NCODES] = {-32700, -32600, -32601, -32602, -32603, -32000,
                                      -32001, -32002, -32003, -32004, -32005, -32006,
                                      -32007, -32008, 0,      0};
    for (int i = 0; i < NCODES; i++)
        if (codes[i] == code && code != 0)
            return i;
    return NCODES;
}

static int slot_code(int slot)
{
    static const int codes[] = {-32700, -32600, -32601, -32602, -32603, -32000, -32001,
                                -32002, -32003, -32004, -32005, -32006, -32007, -32008};
    return slot < (int)(sizeof codes / sizeof codes[0]) ? codes[slot] : 0;
}

/* At most this many failures are described; the rest are only counted. */
static atomic_int reports_left = 20;

static void report(int client, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int client, const char *fmt, ...)
{
    if (atomic_fetch_sub(&reports_left, 1) <= 0)
        return;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "netd-soak: client %d: %s\n", client, msg);
}

/* ---- one client ---- */

struct stream {
    char *handle;
    uint64_t seed;
    uint64_t written, read; /* offsets in the stream's byte sequence */
};

struct client {
    int index;
    long long quota; /* requests this client makes */
    const struct echo_server *servers;
    struct rng rng;
    netd_client *c;
    struct stream streams[MAX_STREAMS];
    int nstreams;
    long long made;
    bool broken; /* the connection failed: stop */
    pthread_t tid;
};

/*
 * One call. @want_code 0 expects a result; otherwise that error code.
 * Returns the result (new reference) for a result that was wanted, NULL
 * otherwise; anything not wanted is counted and described.
 */
static json_t *call(struct client *cl, const char *method, json_t *params, int want_code)
{
    long long id = netd_client_send(cl->c, method, params);
    json_t *result = NULL, *error = NULL;
    int rc = id < 0 ? -1 : netd_client_wait(cl->c, id, CALL_TIMEOUT_MS, &result, &error);
    cl->made++;
    atomic_fetch_add(&done_requests, 1);
    if (rc < 0) {
        report(cl->index, "%s: %s", method, strerror(errno));
        atomic_fetch_add(&unexpected, 1);
        cl->broken = true;
        return NULL;
    }
    if (rc == 1) {
        int code = netd_error_code(error);
        atomic_fetch_add(&by_code[code_slot(code)], 1);
        if (code != want_code) {
            report(cl->index, "%s: error %d (%s), wanted %d", method, code,
                   netd_error_message(error), want_code);
            atomic_fetch_add(&unexpected, 1);
        }
        json_decref(error);
        return NULL;
    }
    if (want_code != 0) {
        report(cl->index, "%s: a result, wanted error %d", method, want_code);
        atomic_fetch_add(&unexpected, 1);
        json_decref(result);
        return NULL;
    }
    return result;
}

static void op_connect(struct client *cl)
{
    const struct echo_server *e = &cl->servers[rnd_below(&cl->rng, (uint64_t)opt.servers)];
    json_t *r =
        call(cl, "connect", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", e->port), 0);
    const char *h = json_string_value(json_object_get(r, "handle"));
    if (h) {
        struct stream *s = &cl->streams[cl->nstreams++];
        s->handle = strdup(h);
        s->seed = rnd(&cl->rng);
        s->written = s->read = 0;
    } else if (r) {
        report(cl->index, "connect: no handle in the result");
        atomic_fetch_add(&unexpected, 1);
    }
    json_decref(r);
}

static void close_stream(struct client *cl, int i);

static void op_write(struct client *cl, struct stream *s)
{
    size_t room = MAX_OUTSTANDING - (size_t)(s->written - s->read);
    size_t n = rnd_below(&cl->rng, 10) == 0 ? 1 + rnd_below(&cl->rng, 32768)
                                            : 1 + rnd_below(&cl->rng, 1024);
    if (n > room)
        n = room;
    uint8_t *bytes = malloc(n);
    for (size_t i = 0; i < n; i++)
        bytes[i] = stream_byte(s->seed, s->written + i);
    bool as_hex = rnd_below(&cl->rng, 2);
    char *text = as_hex ? hex(bytes, n) : base64(bytes, n);
    free(bytes);
    json_t *r = call(cl, "write",
                     json_pack("{s:s,s:s,s:s,s:f}", "handle", s->handle, "data", text, "encoding",
                               as_hex ? "hex" : "base64", "timeout", 20.0),
                     0);
    free(text);
    json_int_t w = json_integer_value(json_object_get(r, "written"));
    if (r && w != (json_int_t)n) {
        report(cl->index, "write of %zu bytes: written %lld", n, (long long)w);
        atomic_fetch_add(&unexpected, 1);
    }
    json_decref(r);
    s->written += n;
    /* After a failed write (already counted) the stream's bytes are not
     * known any more: close it rather than check reads against a guess. */
    if (!r || w != (json_int_t)n)
        close_stream(cl, (int)(s - cl->streams));
}

/* Compares what a read returned with the stream's sequence. */
static void check_read(struct client *cl, struct stream *s, const json_t *r)
{
    const json_t *d = json_object_get(r, "data");
    const char *enc = json_string_value(json_object_get(r, "encoding"));
    size_t len = json_string_length(d), n = 0;
    uint8_t *got = malloc(len + 4);
    int rc = -1;
    if (enc && strcmp(enc, "hex") == 0)
        rc = unhex(json_string_value(d), len, got, &n);
    else if (enc && strcmp(enc, "base64") == 0)
        rc = unbase64(json_string_value(d), len, got, &n);
    else if (enc && strcmp(enc, "utf8") == 0) {
        memcpy(got, json_string_value(d), len);
        n = len;
        rc = 0;
    }
    if (rc < 0 || !json_is_string(d) || n == 0 || s->read + n > s->written) {
        report(cl->index, "read on %s: %zu bytes in %s, %llu outstanding", s->handle, n,
               enc ? enc : "(no encoding)", (unsigned long long)(s->written - s->read));
        atomic_fetch_add(&mismatches, 1);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (got[i] != stream_byte(s->seed, s->read + i)) {
                report(cl->index, "read on %s: byte %llu is %02x, wrote %02x", s->handle,
                       (unsigned long long)(s->read + i), got[i],
                       stream_byte(s->seed, s->read + i));
                atomic_fetch_add(&mismatches, 1);
                break;
            }
        }
    }
    s->read += n;
    free(got);
}

static void op_read(struct client *cl, struct stream *s)
{
    static const char *const encodings[] = {"base64", "hex", "utf8"};
    uint64_t out = s->written - s->read;
    long long want = 1 + (long long)rnd_below(&cl->rng, out);
    json_t *r = call(cl, "read",
                     json_pack("{s:s,s:I,s:s,s:f}", "handle", s->handle, "nbytes", want, "encoding",
                               encodings[rnd_below(&cl->rng, 3)], "timeout", 20.0),
                     0);
    if (r)
        check_read(cl, s, r);
    json_decref(r);
}

static void close_stream(struct client *cl, int i)
{
    struct stream *s = &cl->streams[i];
    json_decref(call(cl, "close", json_pack("{s:s}", "handle", s->handle), 0));
    /* The closed handle is gone, and says so. */
    if (rnd_below(&cl->rng, 4) == 0)
        json_decref(call(cl, "status", json_pack("{s:s}", "handle", s->handle), -32002));
    free(s->handle);
    cl->streams[i] = cl->streams[--cl->nstreams];
}

/* A request with a known fault, and the code it must get. */
static void op_bad(struct client *cl)
{
    const char *h = cl->nstreams ? cl->streams[0].handle : "h0.1";
    switch (rnd_below(&cl->rng, 6)) {
    case 0:
        json_decref(call(cl, "no-such-method", NULL, -32601));
        break;
    case 1:
        json_decref(call(cl, "read", json_pack("{s:s,s:i}", "handle", h, "nbytes", 0), -32602));
        break;
    case 2:
        json_decref(call(cl, "write", json_pack("{s:s,s:s}", "handle", h, "data", "!!!!"), -32602));
        break;
    case 3:
        json_decref(call(cl, "status", json_pack("{s:s}", "handle", "h0.fffffffffffffff"), -32002));
        break;
    case 4:
        json_decref(call(cl, "ping", json_pack("{s:i}", "extra", 1), -32602));
        break;
    default:
        json_decref(call(cl, "connect", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 70000),
                         -32602));
        break;
    }
}

/* One step of the mix; the weights favour moving bytes. */
static void step(struct client *cl)
{
    uint64_t roll = rnd_below(&cl->rng, 100);
    struct stream *s =
        cl->nstreams ? &cl->streams[rnd_below(&cl->rng, (uint64_t)cl->nstreams)] : NULL;
    if (roll < 10 || !s) {
        if (cl->nstreams < MAX_STREAMS)
            op_connect(cl);
        else
            close_stream(cl, (int)rnd_below(&cl->rng, MAX_STREAMS));
    } else if (roll < 42) {
        if (s->written - s->read < MAX_OUTSTANDING)
            op_write(cl, s);
        else
            op_read(cl, s);
    } else if (roll < 74) {
        if (s->written > s->read)
            op_read(cl, s);
        else
            op_write(cl, s);
    } else if (roll < 80) {
        close_stream(cl, (int)(s - cl->streams));
    } else if (roll < 97) {
        json_decref(call(cl, "ping", NULL, 0));
    } else {
        op_bad(cl);
    }
}

static void *client_main(void *arg)
{
    struct client *cl = arg;
    while (cl->made < cl->quota && !cl->broken)
        step(cl);
    /* Reads back what is still outstanding, so every byte written is
     * checked, then closes every stream. */
    for (int i = 0; i < cl->nstreams && !cl->broken; i++)
        while (cl->streams[i].written > cl->streams[i].read && !cl->broken)
            op_read(cl, &cl->streams[i]);
    while (cl->nstreams > 0 && !cl->broken)
        close_stream(cl, cl->nstreams - 1);
    for (int i = 0; i < cl->nstreams; i++)
        free(cl->streams[i].handle);
    netd_client_free(cl->c);
    cl->c = NULL;
    atomic_fetch_sub(&running_clients, 1);
    return NULL;
}

/* ---- netd: starting it, and its figures from /proc ---- */

static pid_t started_pid;
static char started_socket[64];

static int try_ping(const char *sock)
{
    netd_client *c = netd_client_connect(sock);
    if (!c)
        return -1;
    json_t *r = NULL;
    int rc = netd_call(c, "ping", NULL, &r, NULL);
    json_decref(r);
    netd_client_free(c);
    return rc == 0 ? 0 : -1;
}

static int netd_start(void)
{
    snprintf(started_socket, sizeof started_socket, "@netd-soak-%d", (int)getpid());
    started_pid = fork();
    if (started_pid < 0)
        return -1;
    if (started_pid == 0) {
        execl(opt.netd_bin, opt.netd_bin, "--socket", started_socket, "--log-level", "warn",
              (char *)NULL);
        perror(opt.netd_bin);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        if (try_ping(started_socket) == 0) {
            opt.socket = started_socket;
            opt.netd_pid = started_pid;
            return 0;
        }
        if (waitpid(started_pid, NULL, WNOHANG) == started_pid) {
            started_pid = 0;
            return -1;
        }
        usleep(50000);
    }
    return -1;
}

/* SIGTERM and wait; 0 when netd exited 0. */
static int netd_stop(void)
{
    if (started_pid <= 0)
        return 0;
    int status;
    kill(started_pid, SIGTERM);
    if (waitpid(started_pid, &status, 0) != started_pid)
        return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    fprintf(stderr, "netd-soak: netd ended with %s %d\n", WIFSIGNALED(status) ? "signal" : "status",
            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    return -1;
}

/* VmRSS or VmHWM of netd in KiB; -1 when unknown. */
static long proc_kib(const char *field)
{
    if (opt.netd_pid <= 0)
        return -1;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)opt.netd_pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t flen = strlen(field);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':')
            v = strtol(line + flen + 1, NULL, 10);
    }
    if (f)
        fclose(f);
    return v;
}

/* netd's open descriptors; -1 when unknown. */
static int proc_fds(void)
{
    if (opt.netd_pid <= 0)
        return -1;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)opt.netd_pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Errors by code, as " -32602:12 -32002:3". */
static void format_codes(char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i <= NCODES && o < len; i++) {
        long long n = atomic_load(&by_code[i]);
        if (n == 0)
            continue;
        int k = i < NCODES ? snprintf(out + o, len - o, " %d:%lld", slot_code(i), n)
                           : snprintf(out + o, len - o, " other:%lld", n);
        o += k > 0 ? (size_t)k : 0;
    }
    if (o == 0)
        snprintf(out, len, " none");
}

/* ---- main ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: netd-soak (--netd PATH | --socket NAME [--netd-pid PID]) [options]\n"
               "  --netd PATH       start this netd on a private socket, stop it at the end\n"
               "  --socket NAME     use the netd listening on NAME (@name: abstract)\n"
               "  --netd-pid PID    that netd's pid, for RSS and descriptor figures and the\n"
               "                    descriptor check (without it both are skipped)\n"
               "  --requests N      requests in all, over every client (default 100000)\n"
               "  --clients N       client threads, one control connection each (default 4)\n"
               "  --servers N       echo servers on loopback (default 2)\n"
               "  --seed S          seed of the request mix (default 1)\n"
               "  --quiet           only the summary, no line per second\n");
}

static long long parse_num(const char *s, long long min, long long max)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "netd-soak: bad number '%s' (%lld..%lld)\n", s, min, max);
        exit(2);
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    static const struct option longs[] = {
        {"netd", required_argument, 0, 'n'},     {"socket", required_argument, 0, 's'},
        {"netd-pid", required_argument, 0, 'p'}, {"requests", required_argument, 0, 'r'},
        {"clients", required_argument, 0, 'c'},  {"servers", required_argument, 0, 'e'},
        {"seed", required_argument, 0, 'S'},     {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 'n':
            opt.netd_bin = optarg;
            break;
        case 's':
            opt.socket = optarg;
            break;
        case 'p':
            opt.netd_pid = (pid_t)parse_num(optarg, 1, 1 << 30);
            break;
        case 'r':
            opt.requests = parse_num(optarg, 1, 1LL << 40);
            break;
        case 'c':
            opt.clients = (int)parse_num(optarg, 1, 256);
            break;
        case 'e':
            opt.servers = (int)parse_num(optarg, 1, 64);
            break;
        case 'S':
            opt.seed = (uint64_t)parse_num(optarg, 0, INT64_MAX);
            break;
        case 'q':
            opt.quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            exit(2);
        }
    }
    if (optind < argc || (!opt.netd_bin == !opt.socket)) {
        usage(stderr);
        exit(2);
    }
}

/* Prints one progress line; returns the requests done so far. */
static long long progress(double t0, double *last_t, long long *last_n)
{
    double t = now();
    long long n = atomic_load(&done_requests);
    char codes[400];
    format_codes(codes, sizeof codes);
    if (!opt.quiet)
        printf("%7.1fs %9lld req %8.0f req/s  errors%s  unexpected %lld mismatches %lld  "
               "rss %ld KiB fds %d\n",
               t - t0, n, (double)(n - *last_n) / (t - *last_t), codes, atomic_load(&unexpected),
               atomic_load(&mismatches), proc_kib("VmRSS"), proc_fds());
    fflush(stdout);
    *last_t = t;
    *last_n = n;
    return n;
}

/* netd's descriptor count once it stops changing (the same in five samples
 * 50 ms apart, within 5 s): connections that just ended may not be closed
 * on netd's side yet. */
static int fds_stable(void)
{
    int n = proc_fds(), same = 0;
    for (int i = 0; i < 100 && same < 5; i++) {
        usleep(50000);
        int m = proc_fds();
        same = m == n ? same + 1 : 0;
        n = m;
    }
    return n;
}

/* Waits up to 10 s for netd's descriptors to come back to @want. */
static int fds_settle(int want)
{
    int n = proc_fds();
    for (int i = 0; i < 200 && n != want; i++) {
        usleep(50000);
        n = proc_fds();
    }
    return n;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    if (opt.netd_bin && netd_start() < 0) {
        fprintf(stderr, "netd-soak: could not start %s\n", opt.netd_bin);
        return 1;
    }
    struct echo_server *servers = calloc((size_t)opt.servers, sizeof *servers);
    for (int i = 0; i < opt.servers; i++) {
        if (echo_start(&servers[i]) < 0) {
            perror("netd-soak: echo server");
            netd_stop();
            return 1;
        }
    }
    int fds0 = fds_stable();
    long rss0 = proc_kib("VmRSS");
    printf("netd-soak: %lld requests, %d clients, %d echo servers, seed %llu, netd %s (pid %d)\n",
           opt.requests, opt.clients, opt.servers, (unsigned long long)opt.seed, opt.socket,
           (int)opt.netd_pid);
    printf("netd at start: rss %ld KiB, fds %d\n", rss0, fds0);

    struct client *clients = calloc((size_t)opt.clients, sizeof *clients);
    int started = 0;
    for (int i = 0; i < opt.clients; i++) {
        struct client *cl = &clients[i];
        cl->index = i;
        cl->quota = opt.requests / opt.clients + (i < opt.requests % opt.clients);
        cl->servers = servers;
        cl->rng.s = splitmix(opt.seed * 1000003 + (uint64_t)i);
        cl->c = netd_client_connect(opt.socket);
        if (!cl->c) {
            fprintf(stderr, "netd-soak: client %d: connect to %s: %s\n", i, opt.socket,
                    strerror(errno));
            atomic_fetch_add(&unexpected, 1);
            break;
        }
        atomic_fetch_add(&running_clients, 1);
        if (pthread_create(&cl->tid, NULL, client_main, cl) != 0) {
            atomic_fetch_sub(&running_clients, 1);
            netd_client_free(cl->c);
            atomic_fetch_add(&unexpected, 1);
            break;
        }
        started++;
    }

    double t0 = now(), last_t = t0;
    long long last_n = 0;
    int fds_peak = fds0;
    while (atomic_load(&running_clients) > 0) {
        for (int i = 0; i < 20 && atomic_load(&running_clients) > 0; i++)
            usleep(50000);
        progress(t0, &last_t, &last_n);
        int f = proc_fds();
        if (f > fds_peak)
            fds_peak = f;
    }
    for (int i = 0; i < started; i++)
        pthread_join(clients[i].tid, NULL);
    double secs = now() - t0;
    long long total = atomic_load(&done_requests);

    int fds1 = fds_settle(fds0);
    long rss1 = proc_kib("VmRSS"), hwm = proc_kib("VmHWM");
    for (int i = 0; i < opt.servers; i++)
        echo_stop(&servers[i]);
    char codes[400];
    format_codes(codes, sizeof codes);
    printf("\n%lld requests in %.1f s: %.0f requests/s\n", total, secs, (double)total / secs);
    printf("errors by code (asked for):%s\n", codes);
    printf("unexpected errors %lld, byte mismatches %lld\n", atomic_load(&unexpected),
           atomic_load(&mismatches));
    printf("netd rss KiB: start %ld, peak %ld, end %ld\n", rss0, hwm, rss1);
    printf("netd fds: start %d, peak %d, end %d\n", fds0, fds_peak, fds1);

    int failed = atomic_load(&unexpected) > 0 || atomic_load(&mismatches) > 0;
    if (total < opt.requests) {
        printf("netd-soak: only %lld of %lld requests were made\n", total, opt.requests);
        failed = 1;
    }
    if (fds0 >= 0 && fds1 != fds0) {
        printf("netd-soak: netd holds %d descriptors after the clients left, %d before\n", fds1,
               fds0);
        failed = 1;
    }
    if (netd_stop() < 0)
        failed = 1;
    free(clients);
    free(servers);
    printf("%s\n", failed ? "FAILED" : "ok");
    return failed;
}
