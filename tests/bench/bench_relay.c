/*
 * bench_relay.c - netd-bench's data plane phases (see bench_relay.h).
 *
 * Every plain phase uploads the same bytes into a sink thread that counts
 * them; the time runs from the first byte written to the end of stream
 * coming back (the sink closes once it has read everything, and each relay
 * passes that end on), so a relay that buffers is not credited for bytes
 * still in flight. The TLS phases time the same way, from after the
 * handshake, with a Python ssl sink; the "OpenSSL direct" client is Python
 * too, so both TLS runs share one sink.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_relay.h"
#include "netd.h"

extern char **environ;

#define CHUNK (256 * 1024)
#define RUNS 3

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int complain(const char *what, const char *why)
{
    fprintf(stderr, "netd-bench: relay: %s: %s\n", what, why);
    return -1;
}

/* ---- the sink ---- */

struct sink {
    int lfd, port;
    pthread_t t;
    size_t got;
};

static void *sink_main(void *arg)
{
    struct sink *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    char *buf = malloc(CHUNK);
    s->got = 0;
    for (ssize_t k; fd >= 0 && (k = read(fd, buf, CHUNK)) > 0;)
        s->got += (size_t)k;
    free(buf);
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int sink_open(struct sink *s)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(s->lfd, 8) < 0 || getsockname(s->lfd, (struct sockaddr *)&sa, &len) < 0)
        return complain("sink", strerror(errno));
    s->port = ntohs(sa.sin_port);
    return 0;
}

static void sink_arm(struct sink *s)
{
    pthread_create(&s->t, NULL, sink_main, s);
}

/* ---- one upload ---- */

/* Writes @n bytes into @fd, half-closes it, and waits for the end to come
 * back. Seconds, or -1. */
static double upload(int fd, size_t n)
{
    static char buf[CHUNK];
    double t0 = now_s();
    for (size_t off = 0; off < n;) {
        size_t want = n - off < CHUNK ? n - off : CHUNK;
        ssize_t k = send(fd, buf, want, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        off += (size_t)k;
    }
    shutdown(fd, SHUT_WR);
    char c;
    while (read(fd, &c, 1) > 0)
        ;
    return now_s() - t0;
}

/* The upload's MB/s when the sink counted every byte, else -1. */
static double finish(struct sink *s, double secs, size_t n, const char *what)
{
    pthread_join(s->t, NULL);
    if (secs <= 0 || s->got != n) {
        fprintf(stderr, "netd-bench: relay: %s: the sink got %zu of %zu bytes\n", what, s->got, n);
        return -1;
    }
    return (double)n / 1e6 / secs;
}

static int tcp_connect(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static double run_direct(struct sink *s, size_t n)
{
    sink_arm(s);
    int fd = tcp_connect(s->port);
    double secs = fd >= 0 ? upload(fd, n) : -1;
    if (fd >= 0)
        close(fd);
    return finish(s, secs, n, "direct");
}

static pid_t spawn(const char *const *argv, int out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", 0, 0);
    if (out_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return rc == 0 ? pid : -1;
}

/* socat UNIX-LISTEN:PATH TCP:127.0.0.1:PORT, one connection, its defaults. */
static double run_socat(struct sink *s, size_t n)
{
    char path[108], listen_arg[160], target[64];
    snprintf(path, sizeof path, "/tmp/netd-bench-socat-%d.sock", (int)getpid());
    unlink(path);
    snprintf(listen_arg, sizeof listen_arg, "UNIX-LISTEN:%s", path);
    snprintf(target, sizeof target, "TCP:127.0.0.1:%d", s->port);
    const char *argv[] = {"socat", listen_arg, target, NULL};
    pid_t pid = spawn(argv, -1);
    if (pid < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    for (int i = 0; i < 200 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0; i++)
        usleep(10000);
    sink_arm(s);
    double secs = upload(fd, n);
    close(fd);
    waitpid(pid, NULL, 0);
    unlink(path);
    return finish(s, secs, n, "socat");
}

static json_t *call(netd_client *c, const char *method, json_t *params, long long *id_out)
{
    long long id = netd_client_send(c, method, params);
    json_t *res = NULL, *err = NULL;
    if (id < 0 || netd_client_wait(c, id, 30000, &res, &err) != 0) {
        fprintf(stderr, "netd-bench: relay: %s failed: %s\n", method,
                err ? netd_error_message(err) : strerror(errno));
        json_decref(err);
        return NULL;
    }
    if (id_out)
        *id_out = id;
    return res;
}

static char *new_handle(netd_client *c, const char *method, json_t *params)
{
    json_t *res = call(c, method, params, NULL);
    const char *h = json_string_value(json_object_get(res, "handle"));
    char *copy = h ? strdup(h) : NULL;
    json_decref(res);
    return copy;
}

static double run_attach_fd(const char *socket, struct sink *s, size_t n)
{
    netd_client *c = netd_client_connect(socket);
    if (!c)
        return complain("attach", strerror(errno));
    sink_arm(s);
    char *h =
        new_handle(c, "connect", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", s->port));
    long long id = 0;
    json_t *res =
        h ? call(c, "attach", json_pack("{s:s,s:s}", "handle", h, "mode", "fd"), &id) : NULL;
    int fd = res ? netd_client_take_fd(c, id) : -1;
    json_decref(res);
    double secs = fd >= 0 ? upload(fd, n) : -1;
    if (fd >= 0)
        close(fd);
    else
        shutdown(s->lfd, SHUT_RD); /* the sink's accept gives up */
    free(h);
    netd_client_free(c);
    return finish(s, secs, n, "attach fd");
}

/* Reads one answer line from @fd byte by byte (nothing after it is taken)
 * into @line; whether it is a result. */
static bool raw_answer(int fd, char *line, size_t size)
{
    size_t k = 0;
    while (k < size - 1 && read(fd, line + k, 1) == 1 && line[k] != '\n')
        k++;
    line[k] = '\0';
    return strstr(line, "\"result\"") != NULL;
}

static int raw_control(const char *name)
{
    if (!name)
        name = getenv("NETD_SOCKET") ? getenv("NETD_SOCKET") : NETD_DEFAULT_SOCKET;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    socklen_t salen;
    if (name[0] == '@') {
        memcpy(sa.sun_path + 1, name + 1, len - 1);
        salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", name);
        salen = sizeof sa;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, salen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* attach "upgrade" on a control connection of its own, spoken raw. */
static double run_attach_upgrade(const char *socket, struct sink *s, size_t n)
{
    int fd = raw_control(socket);
    if (fd < 0)
        return complain("attach upgrade", strerror(errno));
    sink_arm(s);
    char req[256], line[1024], h[40] = "";
    int k = snprintf(req, sizeof req,
                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"connect\",\"params\":{\"host\":"
                     "\"127.0.0.1\",\"port\":%d}}\n",
                     s->port);
    const char *at = NULL;
    if (write(fd, req, (size_t)k) == k && raw_answer(fd, line, sizeof line))
        at = strstr(line, "\"handle\":\"");
    if (at)
        sscanf(at + 10, "%39[^\"]", h);
    k = snprintf(req, sizeof req,
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"attach\",\"params\":{\"handle\":"
                 "\"%s\"}}\n",
                 h);
    double secs = -1;
    if (h[0] && write(fd, req, (size_t)k) == k && raw_answer(fd, line, sizeof line))
        secs = upload(fd, n);
    else
        shutdown(s->lfd, SHUT_RD);
    close(fd);
    return finish(s, secs, n, "attach upgrade");
}

static double run_splice(const char *socket, struct sink *s, size_t n)
{
    netd_client *c = netd_client_connect(socket);
    if (!c)
        return complain("splice", strerror(errno));
    sink_arm(s);
    double secs = -1;
    char *l = new_handle(c, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 0));
    json_t *ln = l ? call(c, "localname", json_pack("{s:s}", "handle", l), NULL) : NULL;
    int fd = ln ? tcp_connect((int)json_integer_value(json_object_get(ln, "port"))) : -1;
    json_decref(ln);
    char *a = fd >= 0 ? new_handle(c, "accept", json_pack("{s:s}", "handle", l)) : NULL;
    char *b =
        a ? new_handle(c, "connect", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", s->port))
          : NULL;
    json_t *res =
        b ? call(c, "splice", json_pack("{s:s,s:s,s:b}", "a", a, "b", b, "wait", 0), NULL) : NULL;
    if (res)
        secs = upload(fd, n);
    else
        shutdown(s->lfd, SHUT_RD);
    json_decref(res);
    if (fd >= 0)
        close(fd);
    free(l);
    free(a);
    free(b);
    netd_client_free(c);
    return finish(s, secs, n, "splice");
}

/* ---- TLS ---- */

/* A Python ssl sink: prints its port, then per connection the bytes it read. */
static const char py_sink[] =
    "import socket, ssl, sys\n"
    "ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
    "ctx.load_cert_chain(sys.argv[1], sys.argv[2])\n"
    "ls = socket.socket(); ls.bind(('127.0.0.1', 0)); ls.listen(8)\n"
    "print(ls.getsockname()[1], flush=True)\n"
    "while True:\n"
    "    c, _ = ls.accept(); t = ctx.wrap_socket(c, server_side=True); n = 0\n"
    "    while True:\n"
    "        d = t.recv(1 << 20)\n"
    "        if not d: break\n"
    "        n += len(d)\n"
    "    try:\n"
    "        t = t.unwrap()\n"
    "    except OSError:\n"
    "        pass\n"
    "    print(n, flush=True); t.close()\n";

/* OpenSSL on the client side too: prints MB/s of an upload timed as ours. */
static const char py_client[] =
    "import socket, ssl, sys, time\n"
    "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
    "n = int(sys.argv[3]); buf = b'x' * (1 << 18)\n"
    "t = ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1]))),\n"
    "                    server_hostname='127.0.0.1')\n"
    "t0 = time.monotonic(); sent = 0\n"
    "while sent < n:\n"
    "    sent += t.send(buf[:min(len(buf), n - sent)])\n"
    "s = t.unwrap(); s.shutdown(socket.SHUT_WR)\n"
    "while s.recv(65536): pass\n"
    "print(n / 1e6 / (time.monotonic() - t0), flush=True)\n";

struct pysink {
    pid_t pid;
    FILE *out;
    int port;
};

static int pysink_start(struct pysink *p, const char *cert, const char *key)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    const char *argv[] = {"python3", "-c", py_sink, cert, key, NULL};
    p->pid = spawn(argv, pfd[1]);
    close(pfd[1]);
    p->out = fdopen(pfd[0], "r");
    if (p->pid < 0 || !p->out || fscanf(p->out, "%d", &p->port) != 1)
        return -1;
    return 0;
}

static size_t pysink_count(struct pysink *p)
{
    unsigned long long n = 0;
    return fscanf(p->out, "%llu", &n) == 1 ? (size_t)n : 0;
}

static double run_tls_attach(const char *socket, struct pysink *p, const char *ca, size_t n)
{
    netd_client *c = netd_client_connect(socket);
    if (!c)
        return complain("tls attach", strerror(errno));
    char *h = new_handle(
        c, "connect",
        json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", p->port, "tls", "cafile", ca));
    long long id = 0;
    json_t *res =
        h ? call(c, "attach", json_pack("{s:s,s:s}", "handle", h, "mode", "fd"), &id) : NULL;
    int fd = res ? netd_client_take_fd(c, id) : -1;
    json_decref(res);
    double secs = fd >= 0 ? upload(fd, n) : -1;
    if (fd >= 0)
        close(fd);
    free(h);
    netd_client_free(c);
    size_t got = fd >= 0 ? pysink_count(p) : 0;
    if (secs <= 0 || got != n) {
        fprintf(stderr, "netd-bench: relay: tls attach: the sink got %zu of %zu bytes\n", got, n);
        return -1;
    }
    return (double)n / 1e6 / secs;
}

static double run_tls_openssl(struct pysink *p, const char *ca, size_t n)
{
    char port[16], size[32];
    snprintf(port, sizeof port, "%d", p->port);
    snprintf(size, sizeof size, "%zu", n);
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    const char *argv[] = {"python3", "-c", py_client, port, ca, size, NULL};
    pid_t pid = spawn(argv, pfd[1]);
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    double mb = -1;
    if (pid < 0 || !f || fscanf(f, "%lf", &mb) != 1)
        mb = -1;
    if (f)
        fclose(f);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    if (pysink_count(p) != n)
        return -1;
    return mb;
}

static bool have(const char *tool)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

static double best(double a, double b)
{
    return a > b ? a : b;
}

static int bench_tls_phases(const char *socket, struct relay_bench *out)
{
    char dir[] = "/tmp/netd-bench-relay-XXXXXX", cert[128], key[128], cmd[512];
    if (!mkdtemp(dir))
        return complain("tls", strerror(errno));
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s "
             ">/dev/null 2>&1",
             key, cert);
    struct pysink p = {.pid = -1};
    int rc = system(cmd) == 0 && pysink_start(&p, cert, key) == 0 ? 0 : -1;
    for (int i = 0; rc == 0 && i < RUNS; i++) {
        double a = run_tls_openssl(&p, cert, out->tls_bulk);
        double b = run_tls_attach(socket, &p, cert, out->tls_bulk);
        if (a < 0 || b < 0)
            rc = -1;
        out->tls_openssl = best(out->tls_openssl, a);
        out->tls_attach = best(out->tls_attach, b);
    }
    if (p.pid > 0) {
        kill(p.pid, SIGTERM);
        waitpid(p.pid, NULL, 0);
    }
    if (p.out)
        fclose(p.out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        rc = -1;
    return rc < 0 ? complain("tls", "a phase failed") : 0;
}

int bench_relay(const char *socket, size_t bulk, size_t tls_bulk, struct relay_bench *out)
{
    memset(out, 0, sizeof *out);
    out->bulk = bulk;
    out->tls_bulk = tls_bulk;
    out->have_socat = have("socat");
    out->have_python = have("python3");
    struct sink s;
    if (sink_open(&s) < 0)
        return -1;
    /* The phases take turns, so that a machine that gets busier midway
     * slows all of them alike; each keeps its best run. */
    int rc = 0;
    for (int i = 0; i < RUNS && rc == 0; i++) {
        double r[5] = {run_direct(&s, bulk), out->have_socat ? run_socat(&s, bulk) : 0,
                       run_attach_fd(socket, &s, bulk), run_attach_upgrade(socket, &s, bulk),
                       run_splice(socket, &s, bulk)};
        for (int k = 0; k < 5; k++)
            if (r[k] < 0)
                rc = -1;
        out->direct = best(out->direct, r[0]);
        out->socat = best(out->socat, r[1]);
        out->attach_fd = best(out->attach_fd, r[2]);
        out->attach_upgrade = best(out->attach_upgrade, r[3]);
        out->splice = best(out->splice, r[4]);
    }
    close(s.lfd);
    if (rc == 0 && out->have_python)
        rc = bench_tls_phases(socket, out);
    return rc;
}
