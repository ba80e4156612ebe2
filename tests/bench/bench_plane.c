/*
 * bench_plane.c - the data-plane phases of netd-bench (see bench_plane.h).
 *
 * Uploads go to a TCP sink run here on loopback, which checks every byte
 * against the pattern sent (64 KiB of fixed pseudo-random bytes, repeated)
 * and counts them; a phase's figure is the bytes the sink received over
 * the time from the first byte sent to the last one received. Round trips
 * go to an echo server run here, and every echoed byte is compared.
 *
 * The relay baseline is what a user would pick instead of netd: socat from
 * a unix socket to the TCP target, with socat's default options; without
 * socat, a plain read/write relay in this process (one thread per
 * direction) stands in, and the row says so.
 *
 * Phases are the table at the end of this file; each fills rows. The
 * attach and splice phases of issue 11 belong there too: a function that
 * moves the same pattern to the same sink (or echo server) and names the
 * relay row as its baseline.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_plane.h"
#include "bench_relay.h"
#include "bench_tls.h"
#include "codec.h"
#include "netd.h"

extern char **environ;

#define CHUNK 65536
#define IO_TIMEOUT_MS 20000
#define WARMUP 50

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int wait_fd(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    while ((rc = poll(&p, 1, IO_TIMEOUT_MS)) < 0 && errno == EINTR)
        ;
    if (rc == 0)
        errno = ETIMEDOUT;
    return rc > 0 ? 0 : -1;
}

static int send_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            if (errno == EAGAIN && wait_fd(fd, POLLOUT) < 0)
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

static int recv_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        if (wait_fd(fd, POLLIN) < 0)
            return -1;
        ssize_t r = recv(fd, p, n, 0);
        if (r == 0)
            errno = ECONNRESET;
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static int tcp_listen(int *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

static int tcp_connect(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        close(fd);
        return -1;
    }
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the pattern, the sink and the echo server ---- */

static uint8_t pattern[CHUNK];

static void pattern_init(void)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < CHUNK; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        pattern[i] = (uint8_t)x;
    }
}

/* One server thread on a loopback port: a sink (reads, checks, counts) or
 * an echo server; one connection at a time, which is all a phase uses. */
struct server {
    int lfd, port;
    bool echo;
    pthread_t tid;
    _Atomic uint64_t received; /* by the sink, since the last reset */
    _Atomic uint64_t bad;      /* bytes that were not the pattern */
};

static void sink_conn(struct server *s, int fd)
{
    static _Thread_local uint8_t buf[4 * CHUNK];
    uint64_t off = 0;
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR)) {
        for (ssize_t i = 0; i < n;) {
            size_t at = (size_t)(off % CHUNK), k = CHUNK - at;
            if (k > (size_t)(n - i))
                k = (size_t)(n - i);
            if (memcmp(buf + i, pattern + at, k) != 0)
                atomic_fetch_add(&s->bad, k);
            i += (ssize_t)k;
            off += k;
        }
        if (n > 0)
            atomic_fetch_add(&s->received, (uint64_t)n);
    }
}

static void echo_conn(int fd)
{
    static _Thread_local char buf[CHUNK];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        if (send_all(fd, buf, (size_t)n) < 0)
            break;
}

static void *server_main(void *arg)
{
    struct server *s = arg;
    int one = 1;
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL; /* shut down */
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (s->echo)
            echo_conn(fd);
        else
            sink_conn(s, fd);
        close(fd);
    }
}

static int server_start(struct server *s, bool echo)
{
    s->echo = echo;
    s->lfd = tcp_listen(&s->port);
    if (s->lfd < 0 || pthread_create(&s->tid, NULL, server_main, s) != 0) {
        fprintf(stderr, "netd-bench: cannot start the %s: %s\n", echo ? "echo server" : "sink",
                strerror(errno));
        return -1;
    }
    return 0;
}

static void server_stop(struct server *s)
{
    shutdown(s->lfd, SHUT_RDWR);
    pthread_join(s->tid, NULL);
    close(s->lfd);
}

/* Waits until the sink has @want bytes; the time then, or < 0. */
static double sink_reaches(struct server *s, uint64_t want)
{
    double give_up = now_s() + IO_TIMEOUT_MS / 1000.0;
    while (atomic_load(&s->received) < want) {
        if (now_s() > give_up) {
            fprintf(stderr, "netd-bench: the sink got %llu of %llu bytes\n",
                    (unsigned long long)atomic_load(&s->received), (unsigned long long)want);
            return -1;
        }
        usleep(200);
    }
    return now_s();
}

/* ---- the relay: socat, or one of our own ---- */

struct relay {
    char dir[32], path[96]; /* path fits a sockaddr_un */
    pid_t pid;              /* socat, or 0 */
    int lfd;                /* our own relay's listener, or -1 */
    int target;
    pthread_t tid;
};

struct pump {
    int from, to;
};

static void *pump_main(void *arg)
{
    struct pump *p = arg;
    char buf[CHUNK];
    ssize_t n;
    while ((n = recv(p->from, buf, sizeof buf, 0)) > 0)
        if (send_all(p->to, buf, (size_t)n) < 0)
            break;
    shutdown(p->to, SHUT_WR);
    return NULL;
}

/* Our own relay: for each client, a TCP connection to the target and one
 * thread per direction, the way a small relay program would do it. */
static void *relay_main(void *arg)
{
    struct relay *r = arg;
    for (;;) {
        int fd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return NULL;
        int up = tcp_connect(r->target);
        if (up < 0) {
            close(fd);
            continue;
        }
        struct pump a = {fd, up}, b = {up, fd};
        pthread_t ta, tb;
        pthread_create(&ta, NULL, pump_main, &a);
        pthread_create(&tb, NULL, pump_main, &b);
        pthread_join(ta, NULL);
        pthread_join(tb, NULL);
        close(fd);
        close(up);
    }
}

static bool have_program(const char *name)
{
    const char *path = getenv("PATH");
    char buf[4096], file[4200];
    snprintf(buf, sizeof buf, "%s", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(file, sizeof file, "%s/%s", d, name);
        if (access(file, X_OK) == 0)
            return true;
    }
    return false;
}

static pid_t spawn(const char *const *argv, bool quiet)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (quiet) {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

/* Waits until a unix socket at @path accepts a connection. */
static int wait_listening(const char *path)
{
    for (int i = 0; i < 500; i++) {
        int fd = unix_connect(path);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(10000);
    }
    return -1;
}

static int relay_start(struct relay *r, int target, const char *name)
{
    *r = (struct relay){.lfd = -1, .target = target};
    snprintf(r->dir, sizeof r->dir, "/tmp/netd-bench-XXXXXX");
    if (!mkdtemp(r->dir))
        return -1;
    snprintf(r->path, sizeof r->path, "%s/%s.sock", r->dir, name);
    if (have_program("socat")) {
        char listen_arg[200], connect_arg[64];
        snprintf(listen_arg, sizeof listen_arg, "UNIX-LISTEN:%s,fork", r->path);
        snprintf(connect_arg, sizeof connect_arg, "TCP:127.0.0.1:%d", target);
        const char *argv[] = {"socat", listen_arg, connect_arg, NULL};
        r->pid = spawn(argv, true);
        if (r->pid > 0 && wait_listening(r->path) == 0)
            return 0;
        if (r->pid > 0) {
            kill(r->pid, SIGTERM);
            waitpid(r->pid, NULL, 0);
        }
        r->pid = 0;
    }
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", r->path);
    r->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->lfd < 0 || bind(r->lfd, (struct sockaddr *)&sun, sizeof sun) < 0 ||
        listen(r->lfd, 16) < 0 || pthread_create(&r->tid, NULL, relay_main, r) != 0) {
        fprintf(stderr, "netd-bench: cannot start a relay: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static const char *relay_name(const struct relay *r)
{
    return r->pid > 0 ? "socat" : "netd-bench's own read/write relay (no socat)";
}

static void relay_stop(struct relay *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGTERM);
        waitpid(r->pid, NULL, 0);
    } else if (r->lfd >= 0) {
        shutdown(r->lfd, SHUT_RDWR);
        pthread_join(r->tid, NULL);
        close(r->lfd);
    }
    unlink(r->path);
    rmdir(r->dir);
}

/* ---- the table ---- */

static struct plane_row *row_add(struct plane_table *t, const char *key, const char *what,
                                 const char *unit, const char *baseline)
{
    if (t->n >= PLANE_MAX_ROWS)
        return NULL;
    struct plane_row *r = &t->rows[t->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", key);
    snprintf(r->what, sizeof r->what, "%s", what);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    snprintf(r->baseline, sizeof r->baseline, "%s", baseline ? baseline : "");
    r->value = -1;
    r->lower_better = strcmp(unit, "us") == 0;
    return r;
}

static const struct plane_row *row_find(const struct plane_table *t, const char *key)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->rows[i].key, key) == 0)
            return &t->rows[i];
    return NULL;
}

/* The row's ratio to its baseline (value/baseline), or < 0. */
static double row_ratio(const struct plane_table *t, const struct plane_row *r)
{
    const struct plane_row *b = r->baseline[0] ? row_find(t, r->baseline) : NULL;
    if (!b || b->value <= 0 || r->value < 0)
        return -1;
    return r->value / b->value;
}

/* ---- uploads ---- */

struct phase_env {
    const struct plane_opts *o;
    struct server sink, echo;
    struct plane_table *t;
};

/* Sends the pattern on @fd for the phase's time; sets *bytes and *took. */
static int upload_fd(struct phase_env *env, int fd, double *mbps)
{
    uint64_t start = atomic_load(&env->sink.received), sent = 0;
    double t0 = now_s(), end = t0 + env->o->seconds;
    while (now_s() < end) {
        if (send_all(fd, pattern, CHUNK) < 0)
            return -1;
        sent += CHUNK;
    }
    double t1 = sink_reaches(&env->sink, start + sent);
    if (t1 < 0)
        return -1;
    *mbps = (double)sent / 1e6 / (t1 - t0);
    return 0;
}

static int phase_direct(struct phase_env *env)
{
    struct plane_row *r =
        row_add(env->t, "direct", "upload, a TCP socket straight to the sink", "MB/s", NULL);
    int fd = tcp_connect(env->sink.port);
    if (fd < 0)
        return -1;
    int rc = upload_fd(env, fd, &r->value);
    close(fd);
    return rc;
}

static int phase_relay(struct phase_env *env)
{
    struct relay rl;
    if (relay_start(&rl, env->sink.port, "upload") < 0)
        return -1;
    struct plane_row *r =
        row_add(env->t, "relay", "upload, unix socket -> relay -> TCP", "MB/s", "direct");
    snprintf(r->note, sizeof r->note, "%s", relay_name(&rl));
    int fd = unix_connect(rl.path), rc = -1;
    if (fd >= 0) {
        rc = upload_fd(env, fd, &r->value);
        close(fd);
    }
    relay_stop(&rl);
    return rc;
}

/* A netd call that must succeed; NULL after saying why. */
static json_t *must(netd_client *c, const char *method, json_t *params)
{
    json_t *res = NULL, *err = NULL;
    int rc = netd_call(c, method, params, &res, &err);
    if (rc == 0)
        return res;
    fprintf(stderr, "netd-bench: %s: %s\n", method,
            rc == 1 ? netd_error_message(err) : strerror(errno));
    json_decref(err);
    return NULL;
}

/* connect to 127.0.0.1:@port through netd; the handle, malloc'd. */
static char *netd_connect(netd_client *c, int port)
{
    json_t *res = must(c, "connect", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", port));
    const char *h = json_string_value(json_object_get(res, "handle"));
    char *copy = h ? strdup(h) : NULL;
    json_decref(res);
    if (copy)
        json_decref(
            must(c, "setsockopt",
                 json_pack("{s:s,s:s,s:b}", "handle", copy, "option", "tcp-nodelay", "value", 1)));
    return copy;
}

/* Sends one request line made of @head, @data and @tail, as a client
 * library would write it, without copying the data into one buffer. */
static int send_line(netd_client *c, const char *head, const char *data, size_t dlen,
                     const char *tail)
{
    struct iovec iov[3] = {
        {(void *)head, strlen(head)}, {(void *)data, dlen}, {(void *)tail, strlen(tail)}};
    int fd = netd_client_fd(c), k = 0;
    while (k < 3) {
        ssize_t w = writev(fd, iov + k, 3 - k);
        if (w < 0 && (errno == EINTR || errno == EAGAIN)) {
            if (errno == EAGAIN && wait_fd(fd, POLLOUT) < 0)
                return -1;
            continue;
        }
        if (w < 0)
            return -1;
        while (k < 3 && (size_t)w >= iov[k].iov_len)
            w -= (ssize_t)iov[k++].iov_len;
        if (k < 3) {
            iov[k].iov_base = (char *)iov[k].iov_base + w;
            iov[k].iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Waits for the answer to @id; the result (new reference) or NULL. */
static json_t *answer(netd_client *c, long long id, const char *what)
{
    json_t *res = NULL, *err = NULL;
    int rc = netd_client_wait(c, id, IO_TIMEOUT_MS, &res, &err);
    if (rc == 0)
        return res;
    fprintf(stderr, "netd-bench: %s: %s\n", what,
            rc == 1 ? netd_error_message(err) : strerror(errno));
    json_decref(err);
    return NULL;
}

static bool wrote_all(json_t *res, size_t n)
{
    bool ok = res && json_integer_value(json_object_get(res, "written")) == (json_int_t)n;
    json_decref(res);
    return ok;
}

static int phase_netd_write(struct phase_env *env)
{
    char what[96];
    snprintf(what, sizeof what, "upload, netd write calls (64 KiB, %d in flight)",
             env->o->inflight);
    struct plane_row *r = row_add(env->t, "netd_write", what, "MB/s", "relay");
    r->goal = 0.3;
    netd_client *c = netd_client_connect(env->o->socket);
    char *h = c ? netd_connect(c, env->sink.port) : NULL;
    if (!h) {
        netd_client_free(c);
        return -1;
    }
    /* The client numbers its requests one after another: the writes in
     * flight are ids done .. next - 1. */
    uint64_t start = atomic_load(&env->sink.received), sent = 0;
    long long next = 0, done = 0;
    double t0 = now_s(), end = t0 + env->o->seconds;
    int rc = 0;
    while (rc == 0 && (now_s() < end || done < next)) {
        while (rc == 0 && next - done < env->o->inflight && now_s() < end) {
            long long id = netd_client_send_write(c, h, pattern, CHUNK);
            rc = id > 0 && (next == 0 || id == next) ? 0 : -1;
            done = next == 0 ? id : done;
            next = id + 1;
            sent += CHUNK;
        }
        if (rc == 0 && done < next && !wrote_all(answer(c, done++, "write"), CHUNK))
            rc = -1;
    }
    double t1 = rc == 0 ? sink_reaches(&env->sink, start + sent) : -1;
    if (t1 > 0)
        r->value = (double)sent / 1e6 / (t1 - t0);
    json_decref(must(c, "close", json_pack("{s:s}", "handle", h)));
    free(h);
    netd_client_free(c);
    return t1 > 0 ? 0 : -1;
}

/* ---- round trips ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs @fn for the phase's time after a warm-up; the median in us. */
static double median_us(struct phase_env *env, int (*fn)(void *ctx), void *ctx)
{
    for (int i = 0; i < WARMUP; i++)
        if (fn(ctx) < 0)
            return -1;
    size_t n = 0, cap = 1 << 16;
    double *us = malloc(cap * sizeof *us), end = now_s() + env->o->seconds;
    while (us && (n < 10 || now_s() < end)) {
        double t = now_s();
        if (fn(ctx) < 0) {
            free(us);
            return -1;
        }
        if (n == cap && !(us = realloc(us, (cap *= 2) * sizeof *us)))
            break;
        us[n++] = (now_s() - t) * 1e6;
    }
    if (!us)
        return -1;
    qsort(us, n, sizeof *us, cmp_double);
    double m = us[n / 2];
    free(us);
    return m;
}

struct rt {
    int fd;
    size_t size;
    uint8_t *back;
    netd_client *c;
    char *h, *b64;
    long long next;
};

static int fd_round_trip(void *ctx)
{
    struct rt *t = ctx;
    if (send_all(t->fd, pattern, t->size) < 0 || recv_all(t->fd, t->back, t->size) < 0 ||
        memcmp(t->back, pattern, t->size) != 0) {
        fprintf(stderr, "netd-bench: echo round trip failed or differs\n");
        return -1;
    }
    return 0;
}

/* write and read sent together in one send; a short read is followed by
 * another read for the rest. */
static int netd_round_trip(void *ctx)
{
    struct rt *t = ctx;
    char head[160], rd[200];
    long long w = t->next++, r = t->next++;
    snprintf(head, sizeof head,
             "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"write\",\"params\":{\"handle\":\"%s\","
             "\"data\":\"",
             w, t->h);
    snprintf(rd, sizeof rd,
             "\"}}\n{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"read\",\"params\":{\"handle\":"
             "\"%s\",\"nbytes\":%zu}}\n",
             r, t->h, t->size);
    if (send_line(t->c, head, t->b64, strlen(t->b64), rd) < 0 ||
        !wrote_all(answer(t->c, w, "write"), t->size))
        return -1;
    size_t got = 0;
    for (;;) {
        json_t *res = answer(t->c, r, "read");
        const char *d = json_string_value(json_object_get(res, "data"));
        size_t n = 0, dl = d ? strlen(d) : 0;
        bool ok = d && dl <= netd_base64_len(t->size - got) &&
                  netd_base64_decode(d, dl, t->back + got, &n) == 0 && n > 0;
        json_decref(res);
        if (!ok)
            return -1;
        got += n;
        if (got >= t->size)
            break;
        r = t->next++;
        snprintf(rd, sizeof rd,
                 "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"read\",\"params\":{\"handle\":"
                 "\"%s\",\"nbytes\":%zu}}\n",
                 r, t->h, t->size - got);
        if (netd_client_send_raw(t->c, rd, strlen(rd)) < 0)
            return -1;
    }
    if (got != t->size || memcmp(t->back, pattern, t->size) != 0) {
        fprintf(stderr, "netd-bench: the echo through netd differs\n");
        return -1;
    }
    return 0;
}

static int phase_echo(struct phase_env *env)
{
    size_t size = env->o->echo_size;
    char what[96];
    struct rt t = {.size = size, .back = malloc(size + 8), .next = 1};
    if (!t.back)
        return -1;
    snprintf(what, sizeof what, "echo round trip %zu B, a TCP socket", size);
    struct plane_row *d = row_add(env->t, "echo_direct", what, "us", NULL);
    t.fd = tcp_connect(env->echo.port);
    d->value = t.fd >= 0 ? median_us(env, fd_round_trip, &t) : -1;
    if (t.fd >= 0)
        close(t.fd);

    struct relay rl;
    snprintf(what, sizeof what, "echo round trip %zu B, through the relay", size);
    struct plane_row *r = row_add(env->t, "echo_relay", what, "us", "echo_direct");
    if (relay_start(&rl, env->echo.port, "echo") == 0) {
        snprintf(r->note, sizeof r->note, "%s", relay_name(&rl));
        t.fd = unix_connect(rl.path);
        r->value = t.fd >= 0 ? median_us(env, fd_round_trip, &t) : -1;
        if (t.fd >= 0)
            close(t.fd);
        relay_stop(&rl);
    }

    snprintf(what, sizeof what, "echo round trip %zu B, netd write+read pipelined", size);
    struct plane_row *n = row_add(env->t, "echo_netd", what, "us", "echo_relay");
    n->goal = 1.5;
    t.c = netd_client_connect(env->o->socket);
    t.h = t.c ? netd_connect(t.c, env->echo.port) : NULL;
    t.b64 = malloc(netd_base64_len(size) + 1);
    if (t.h && t.b64) {
        netd_base64_encode(pattern, size, t.b64);
        n->value = median_us(env, netd_round_trip, &t);
        json_decref(must(t.c, "close", json_pack("{s:s}", "handle", t.h)));
    }
    free(t.h);
    free(t.b64);
    free(t.back);
    netd_client_free(t.c);
    return d->value > 0 && r->value > 0 && n->value > 0 ? 0 : -1;
}

/* ---- ping against redis-benchmark ---- */

/* redis-benchmark's best requests/s for PING (inline or bulk), or < 0. */
static double redis_ping(struct phase_env *env, char *note, size_t notelen)
{
    char dir[64] = "/tmp/netd-bench-XXXXXX", sock[128], nreq[32], cmd[512];
    if (!have_program("redis-server") || !have_program("redis-benchmark")) {
        snprintf(note, notelen, "redis-server or redis-benchmark not installed");
        return -1;
    }
    if (!mkdtemp(dir))
        return -1;
    snprintf(sock, sizeof sock, "%s/redis.sock", dir);
    const char *argv[] = {"redis-server", "--port", "0", "--unixsocket",
                          sock,           "--save", "",  "--appendonly",
                          "no",           "--dir",  dir, NULL};
    pid_t pid = spawn(argv, true);
    double best = -1;
    if (pid > 0 && wait_listening(sock) == 0) {
        snprintf(nreq, sizeof nreq, "%.0f", 400000.0 * env->o->seconds);
        snprintf(cmd, sizeof cmd, "redis-benchmark -s %s -t ping -P 16 -c 50 -n %s --csv", sock,
                 nreq);
        FILE *p = popen(cmd, "r");
        char line[512];
        while (p && fgets(line, sizeof line, p)) {
            double v;
            if ((strncmp(line, "\"PING_INLINE\",\"", 15) == 0 &&
                 sscanf(line + 15, "%lf", &v) == 1) ||
                (strncmp(line, "\"PING_MBULK\",\"", 14) == 0 && sscanf(line + 14, "%lf", &v) == 1))
                best = v > best ? v : best;
        }
        if (p)
            pclose(p);
        snprintf(note, notelen, "redis-benchmark -t ping -P 16 -c 50, unix socket");
    }
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
    unlink(sock);
    rmdir(dir);
    return best;
}

static int phase_ping(struct phase_env *env)
{
    struct plane_row *b =
        row_add(env->t, "redis_ping", "ping, redis-benchmark 50 x 16 in flight", "req/s", NULL);
    b->value = redis_ping(env, b->note, sizeof b->note);
    struct plane_row *r =
        row_add(env->t, "netd_ping", "ping, netd 50 clients x 16 in flight", "req/s", "redis_ping");
    r->goal = 0.5;
    r->value = env->o->ping ? env->o->ping(env->o->socket, 50, 16, env->o->seconds) : -1;
    return r->value > 0 ? 0 : -1;
}

/* ---- TLS: OpenSSL as the baseline ---- */

/* Python's ssl (OpenSSL) on both ends of a loopback upload: tests/bench/openssl_upload.py. */
static int phase_openssl(struct phase_env *env)
{
    struct plane_row *r = row_add(env->t, "tls_openssl",
                                  "TLS upload, OpenSSL on both ends (Python ssl)", "MB/s", NULL);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "python3 '%s/tests/bench/openssl_upload.py' %.0f", NETD_SOURCE_DIR,
             env->o->seconds);
    FILE *p = popen(cmd, "r");
    char line[512] = "";
    if (p && fgets(line, sizeof line, p)) {
        json_t *v = json_loads(line, 0, NULL);
        r->value = json_number_value(json_object_get(v, "mb_per_second"));
        snprintf(r->note, sizeof r->note, "%s, %s",
                 json_string_value(json_object_get(v, "version")) ?: "?",
                 json_string_value(json_object_get(v, "cipher")) ?: "?");
        json_decref(v);
    }
    if (p)
        pclose(p);
    if (r->value <= 0)
        snprintf(r->note, sizeof r->note, "python3 with ssl could not run the upload");
    return 0;
}

/* `openssl speed` of one EVP cipher on 64 KiB blocks, MB/s per second of
 * user CPU time (its default divisor), or < 0. */
static double openssl_speed(const char *cipher)
{
    char cmd[200], line[512], name[64];
    double best = -1, k;
    snprintf(cmd, sizeof cmd, "openssl speed -seconds 1 -bytes 65536 -evp %s 2>/dev/null", cipher);
    FILE *p = popen(cmd, "r");
    /* The last line is "NAME  <1000s of bytes per second>k". */
    while (p && fgets(line, sizeof line, p))
        if (sscanf(line, "%63s %lfk", name, &k) == 2 && strncmp(line, "type", 4) != 0)
            best = k * 1000 / 1e6;
    if (p)
        pclose(p);
    return best;
}

/* wolfCrypt of the wolfSSL netd-bench links (the same build as netd's),
 * next to OpenSSL's own figures for the same ciphers. Both count MB per
 * second of CPU time, so other programs on a shared machine do not make
 * either look slower; the note gives wolfCrypt's wall-clock figure too. */
static int phase_wolfcrypt(struct phase_env *env)
{
    struct crypt_bench cb;
    int rc = bench_wolfcrypt(env->o->seconds / 3 > 1 ? env->o->seconds / 3 : 1, &cb);
    struct plane_row *oa = row_add(env->t, "openssl_aes128gcm",
                                   "AES-128-GCM, openssl speed (per CPU second)", "MB/s", NULL);
    oa->value = openssl_speed("aes-128-gcm");
    struct plane_row *wa =
        row_add(env->t, "wolfcrypt_aes128gcm", "AES-128-GCM, wolfCrypt (per CPU second)", "MB/s",
                "openssl_aes128gcm");
    wa->value = cb.aes128_gcm;
    snprintf(wa->note, sizeof wa->note, "%.0f MB/s by the wall clock; %.120s", cb.aes128_gcm_wall,
             cb.library);
    struct plane_row *oc =
        row_add(env->t, "openssl_chacha", "ChaCha20-Poly1305, openssl speed (per CPU second)",
                "MB/s", NULL);
    oc->value = openssl_speed("chacha20-poly1305");
    struct plane_row *wc =
        row_add(env->t, "wolfcrypt_chacha", "ChaCha20-Poly1305, wolfCrypt (per CPU second)", "MB/s",
                "openssl_chacha");
    wc->value = cb.chacha20_poly1305;
    snprintf(wc->note, sizeof wc->note, "%.0f MB/s by the wall clock", cb.chacha_wall);
    return rc;
}

void plane_add_tls(struct plane_table *t, const struct tls_bench *b)
{
    struct plane_row *d =
        row_add(t, "tls_wolfssl", "TLS upload, a direct wolfSSL client", "MB/s", "tls_openssl");
    d->value = (double)b->bulk / 1e6 / b->up_direct_s;
    snprintf(d->note, sizeof d->note, "%s", b->cipher);
    struct plane_row *n =
        row_add(t, "tls_netd_write", "TLS upload, netd write calls (1 MiB, 4 in flight)", "MB/s",
                "tls_openssl");
    n->value = (double)b->bulk / 1e6 / b->up_netd_s;
}

/*
 * The attach and splice figures are the best of three uploads of the same
 * size, so they are compared with bench_relay.c's socat and OpenSSL
 * uploads, measured the same way in the same run (alternating with them),
 * not with this table's relay and tls_openssl rows, which are one run each
 * and would flatter netd.
 */
void plane_add_relay(struct plane_table *t, const struct relay_bench *b)
{
    struct plane_row *s =
        row_add(t, "relay_best3", "upload, socat unix -> TCP (bench_relay.c)", "MB/s", NULL);
    if (!s)
        return;
    s->value = b->have_socat && b->socat > 0 ? b->socat : -1;
    snprintf(s->note, sizeof s->note, "%s",
             b->have_socat ? "best of 3, alternating with the rows below" : "socat not installed");
    struct plane_row *o = row_add(t, "tls_openssl_best3",
                                  "TLS upload, OpenSSL on both ends (bench_relay.c)", "MB/s", NULL);
    if (!o)
        return;
    o->value = b->have_python && b->tls_openssl > 0 ? b->tls_openssl : -1;
    snprintf(o->note, sizeof o->note, "%s",
             b->have_python ? "best of 3, alternating with TLS through attach"
                            : "python3 not installed");
    static const struct {
        const char *key, *what;
        size_t at;
        const char *baseline;
        double goal;
    } rows[] = {
        {"attach_fd", "upload, attach fd (bench_relay.c)", offsetof(struct relay_bench, attach_fd),
         "relay_best3", 1.0},
        {"attach_upgrade", "upload, attach upgrade (bench_relay.c)",
         offsetof(struct relay_bench, attach_upgrade), "relay_best3", 1.0},
        {"splice", "upload, splice (bench_relay.c)", offsetof(struct relay_bench, splice),
         "relay_best3", 1.5},
        {"tls_attach", "TLS upload through attach (bench_relay.c)",
         offsetof(struct relay_bench, tls_attach), "tls_openssl_best3", 0.5},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        double v = *(const double *)((const char *)b + rows[i].at);
        struct plane_row *r = row_add(t, rows[i].key, rows[i].what, "MB/s", rows[i].baseline);
        if (!r)
            return;
        r->value = v > 0 ? v : -1;
        r->goal = rows[i].goal;
        snprintf(r->note, sizeof r->note, "best of 3 of %zu MiB",
                 (rows[i].baseline[0] == 't' ? b->tls_bulk : b->bulk) >> 20);
    }
}

/* ---- the phases ---- */

struct phase {
    const char *name;
    int (*run)(struct phase_env *env);
    bool tls; /* skipped with --no-tls */
};

/* In the order they run. attach and splice (issue 11, items 1 and 2) go
 * after netd_write, as phases that upload the pattern to env->sink and
 * name "relay" as their baseline. */
static const struct phase phases[] = {
    {"direct TCP", phase_direct, false},
    {"relay", phase_relay, false},
    {"netd write calls", phase_netd_write, false},
    {"echo round trips", phase_echo, false},
    {"ping", phase_ping, false},
    {"wolfCrypt", phase_wolfcrypt, true},
    {"OpenSSL", phase_openssl, true},
};

int bench_plane(const struct plane_opts *o, struct plane_table *t)
{
    struct phase_env env = {.o = o, .t = t};
    signal(SIGPIPE, SIG_IGN);
    pattern_init();
    if (server_start(&env.sink, false) < 0 || server_start(&env.echo, true) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++) {
        if (phases[i].tls && !o->tls)
            continue;
        if (phases[i].run(&env) < 0) {
            fprintf(stderr, "netd-bench: the %s phase failed\n", phases[i].name);
            rc = -1;
            break;
        }
    }
    if (atomic_load(&env.sink.bad) > 0) {
        fprintf(stderr, "netd-bench: %llu bytes reached the sink wrong\n",
                (unsigned long long)atomic_load(&env.sink.bad));
        rc = -1;
    }
    server_stop(&env.sink);
    server_stop(&env.echo);
    return rc;
}

void plane_print(const struct plane_table *t)
{
    printf("data plane, each figure against a baseline measured in the same run:\n");
    for (int i = 0; i < t->n; i++) {
        const struct plane_row *r = &t->rows[i];
        char fig[48] = "not measured", ratio[96] = "";
        if (r->value >= 0)
            snprintf(fig, sizeof fig, "%.*f %s", r->value < 100 ? 1 : 0, r->value, r->unit);
        double q = row_ratio(t, r);
        if (q >= 0) {
            int k = snprintf(ratio, sizeof ratio, "%.3gx %s", q, r->baseline);
            if (r->goal > 0)
                snprintf(ratio + k, sizeof ratio - (size_t)k, " (goal %s %.2g)",
                         r->lower_better ? "<=" : ">=", r->goal);
        }
        printf("  %-58s %16s  %-34s%s%s\n", r->what, fig, ratio, r->note[0] ? "  " : "", r->note);
    }
}

json_t *plane_json(const struct plane_table *t)
{
    json_t *a = json_array();
    for (int i = 0; i < t->n; i++) {
        const struct plane_row *r = &t->rows[i];
        json_t *o = json_pack("{s:s,s:s,s:s}", "key", r->key, "what", r->what, "unit", r->unit);
        json_object_set_new(o, "value", r->value >= 0 ? json_real(r->value) : json_null());
        if (r->baseline[0]) {
            double q = row_ratio(t, r);
            json_object_set_new(o, "baseline", json_string(r->baseline));
            json_object_set_new(o, "ratio", q >= 0 ? json_real(q) : json_null());
        }
        if (r->goal > 0)
            json_object_set_new(
                o, "goal",
                json_pack("{s:s,s:f}", "ratio", r->lower_better ? "<=" : ">=", "value", r->goal));
        if (r->note[0])
            json_object_set_new(o, "note", json_string(r->note));
        json_array_append_new(a, o);
    }
    return a;
}
