/*
 * test_relay.c - the data plane (contract section 8): `attach` in both
 * modes and `splice`, against a real netd and real peers.
 *
 * The peers are the test's own sockets (a TCP or unix listener it accepts
 * on, so it can read, write, half-close and reset them directly) and, for
 * TLS, tls_peer.py (Python's ssl module) and netd's own TLS listener. Bulk
 * transfers send 64 MiB of random bytes each way at once, from writer
 * threads, while the main thread reads both sides and compares every byte.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/un.h>

#include "tls_peers.h"

#define BIG (64u << 20)
#define EARLY "read ahead before the attach\n"

/* ------------------------------------------------------------------ */
/* The test's own peers                                                */

struct lsock {
    int fd;
    int port;       /* TCP */
    char path[108]; /* unix */
};

static struct lsock t_listen(bool unix_sock)
{
    struct lsock l = {.fd = -1};
    if (unix_sock) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(l.path, sizeof l.path, "/tmp/netd-relay-%d-%lld", (int)getpid(), h_now_ms());
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", l.path);
        l.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        unlink(l.path);
        assert_int_equal(bind(l.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    } else {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
        l.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(l.fd, (struct sockaddr *)&sa, sizeof sa), 0);
        socklen_t len = sizeof sa;
        getsockname(l.fd, (struct sockaddr *)&sa, &len);
        l.port = ntohs(sa.sin_port);
    }
    assert_int_equal(listen(l.fd, 16), 0);
    return l;
}

static void t_unlisten(struct lsock *l)
{
    close(l->fd);
    if (l->path[0])
        unlink(l->path);
}

/* connect {host, port | path} from @c (kept when @keep); the handle (malloc'd). */
static char *t_connect_to(netd_client *c, const struct lsock *l, bool keep)
{
    json_t *p =
        l->path[0] ? json_pack("{s:s,s:b}", "path", l->path, "keep", keep)
                   : json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", l->port, "keep", keep);
    return h_new_handle(c, "connect", p);
}

/* The peer's side of the connection netd just made to @l. */
static int t_accept(const struct lsock *l)
{
    struct pollfd p = {.fd = l->fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, H_ANSWER_MS), 1);
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static void fill_random(uint8_t *p, size_t n, unsigned seed)
{
    uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

/* A writer thread: sends all of data on fd (blocking); rc is 0 or an errno. */
struct writer {
    pthread_t t;
    int fd;
    const uint8_t *data;
    size_t n;
    int rc;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (size_t off = 0; off < w->n;) {
        ssize_t k = send(w->fd, w->data + off, w->n - off, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->rc = errno ? errno : EPIPE;
            return NULL;
        }
        off += (size_t)k;
    }
    return NULL;
}

static void writer_start(struct writer *w, int fd, const uint8_t *data, size_t n)
{
    *w = (struct writer){.fd = fd, .data = data, .n = n};
    assert_int_equal(pthread_create(&w->t, NULL, writer_main, w), 0);
}

static void writer_join(struct writer *w)
{
    pthread_join(w->t, NULL);
    if (w->rc)
        fail_msg("writing %zu bytes failed: %s", w->n, strerror(w->rc));
}

/* Reads exactly want[0]/want[1] bytes from fd[0]/fd[1] at once and compares
 * them; fails on an early end, an error, a mismatch, or no progress for a
 * minute. */
static void read_both(const int fd[2], const uint8_t *const want[2], const size_t n[2])
{
    size_t got[2] = {0, 0};
    uint8_t *buf = malloc(1 << 20);
    while (got[0] < n[0] || got[1] < n[1]) {
        struct pollfd p[2];
        for (int i = 0; i < 2; i++)
            p[i] = (struct pollfd){.fd = got[i] < n[i] ? fd[i] : -1, .events = POLLIN};
        if (poll(p, 2, 60000) <= 0)
            fail_msg("no bytes for a minute: %zu of %zu and %zu of %zu", got[0], n[0], got[1],
                     n[1]);
        for (int i = 0; i < 2; i++) {
            if (!p[i].revents)
                continue;
            size_t room = n[i] - got[i] < (1u << 20) ? n[i] - got[i] : (1u << 20);
            ssize_t k = recv(fd[i], buf, room, MSG_DONTWAIT);
            if (k < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (k <= 0)
                fail_msg("side %d ended after %zu of %zu bytes (%s)", i, got[i], n[i],
                         k < 0 ? strerror(errno) : "eof");
            if (memcmp(buf, want[i] + got[i], (size_t)k) != 0)
                fail_msg("side %d: the bytes differ near offset %zu", i, got[i]);
            got[i] += (size_t)k;
        }
    }
    free(buf);
}

/* 64 MiB each way at once: @x writes one stream and reads the other's. */
static void bulk_both_ways(int x, int y)
{
    uint8_t *a = malloc(BIG), *b = malloc(BIG);
    fill_random(a, BIG, 1);
    fill_random(b, BIG, 2);
    struct writer wa, wb;
    writer_start(&wa, x, a, BIG);
    writer_start(&wb, y, b, BIG);
    const int fds[2] = {y, x};
    const uint8_t *const want[2] = {a, b};
    const size_t n[2] = {BIG, BIG};
    read_both(fds, want, n);
    writer_join(&wa);
    writer_join(&wb);
    free(a);
    free(b);
}

/* Expects the end of stream on @fd within 30 s (after reading @expect, if any). */
static void expect_eof(int fd, const char *expect)
{
    if (expect)
        h_plain_read_expect(fd, expect, strlen(expect), H_ANSWER_MS);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, H_ANSWER_MS), 1);
    char c;
    ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
    if (k != 0)
        fail_msg("expected the end of stream, got %zd (%s)", k, k < 0 ? strerror(errno) : "data");
}

/* Expects @fd to end, by EOF or reset, within 30 s, discarding what comes before. */
static int expect_end(int fd)
{
    char buf[65536];
    long long end = h_now_ms() + H_ANSWER_MS;
    while (h_now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 1000);
        ssize_t k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k == 0)
            return 0;
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return errno;
    }
    fail_msg("the stream did not end");
    return -1;
}

/* Waits until @h is gone (unknown handle) for @c. */
static void expect_gone(netd_client *c, const char *h)
{
    for (long long end = h_now_ms() + H_ANSWER_MS; h_now_ms() < end; h_sleep_ms(20)) {
        json_t *res = NULL, *err = NULL;
        netd_call(c, "status", json_pack("{s:s}", "handle", h), &res, &err);
        int code = err ? netd_error_code(err) : 0;
        json_decref(res);
        json_decref(err);
        if (code == -32002)
            return;
    }
    fail_msg("%s did not end", h);
}

static void reset_close(int fd)
{
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* attach                                                              */

/* attach {handle, mode: "fd"}; returns the descriptor that came with it. */
static int attach_fd(netd_client *c, const char *h)
{
    long long id = h_send(c, "attach", json_pack("{s:s,s:s}", "handle", h, "mode", "fd"));
    json_t *res = h_wait(c, id);
    h_expect_str(res, "mode", "fd");
    h_expect_str(res, "handle", h);
    json_decref(res);
    int fd = netd_client_take_fd(c, id);
    assert_true(fd >= 0);
    return fd;
}

/* A control connection of our own, for attach "upgrade": the answer line is
 * read byte by byte so that nothing after it is taken from the socket. */
static int raw_connect(struct netd_proc *n)
{
    const char *name = h_netd_socket(n);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name + 1);
    memcpy(sa.sun_path + 1, name + 1, len);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa,
                             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)),
                     0);
    return fd;
}

static json_t *raw_answer(int fd)
{
    char line[4096];
    size_t n = 0;
    while (n < sizeof line - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, H_ANSWER_MS), 1);
        assert_int_equal(recv(fd, line + n, 1, 0), 1);
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    json_t *msg = json_loads(line, 0, NULL);
    if (!msg)
        fail_msg("not JSON: %s", line);
    return msg;
}

/* Sends attach "upgrade" on raw connection @fd, with @after right behind the
 * request line in the same send; expects success. */
static void raw_upgrade(int fd, const char *h, const char *after)
{
    char req[512];
    int k = snprintf(req, sizeof req,
                     "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"attach\",\"params\":"
                     "{\"handle\":\"%s\"}}\n%s",
                     h, after ? after : "");
    h_plain_write(fd, req, (size_t)k);
    json_t *msg = raw_answer(fd);
    json_t *res = json_object_get(msg, "result");
    if (!res)
        fail_msg("attach failed: %s", json_dumps(msg, 0));
    h_expect_str(res, "mode", "upgrade");
    json_decref(msg);
}

/*
 * Every plain mode: TCP or unix, fd or upgrade. Before the attach the peer
 * sends bytes netd reads ahead (a peeking read) and netd queues bytes of a
 * partial write the peer does not read yet: both must come first. Then 64
 * MiB each way; the counters; half-closes both ways; the handle's end.
 */
static void attach_plain_case(bool unix_sock, bool upgrade)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct lsock l = t_listen(unix_sock);
    int rawc = upgrade ? raw_connect(n) : -1;
    /* With upgrade, the handle is made on the connection that becomes the stream. */
    char *h;
    if (upgrade) {
        char req[300];
        int k = l.path[0] ? snprintf(req, sizeof req,
                                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"connect\","
                                     "\"params\":{\"path\":\"%s\",\"keep\":true}}\n",
                                     l.path)
                          : snprintf(req, sizeof req,
                                     "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"connect\","
                                     "\"params\":{\"host\":\"127.0.0.1\",\"port\":%d,"
                                     "\"keep\":true}}\n",
                                     l.port);
        h_plain_write(rawc, req, (size_t)k);
        json_t *msg = raw_answer(rawc);
        h = strdup(h_str(json_object_get(msg, "result"), "handle"));
        json_decref(msg);
    } else {
        h = t_connect_to(c, &l, true);
    }
    int peer = t_accept(&l);
    /* Read ahead: a read that peeks leaves the bytes in netd's buffer. */
    h_plain_write(peer, EARLY, strlen(EARLY));
    json_t *res = h_call(c, "read",
                         json_pack("{s:s,s:i,s:b,s:s,s:f}", "handle", h, "nbytes", 4096, "peek", 1,
                                   "encoding", "utf8", "timeout", 30.0));
    h_expect_str(res, "data", EARLY);
    json_decref(res);
    /* Queued: more than the kernel takes at once while the peer reads nothing. */
    size_t qn = 6u << 20;
    uint8_t *q = malloc(qn);
    fill_random(q, qn, 3);
    char *qhex = h_hex(q, qn);
    res = h_call(
        c, "write",
        json_pack("{s:s,s:s,s:s,s:b}", "handle", h, "data", qhex, "encoding", "hex", "partial", 1));
    size_t queued = (size_t)h_int(res, "written");
    json_decref(res);
    free(qhex);
    assert_true(queued > 0);

    int x = upgrade ? (raw_upgrade(rawc, h, "sent behind the request\n"), rawc) : attach_fd(c, h);
    h_plain_read_expect(x, EARLY, strlen(EARLY), H_ANSWER_MS);
    h_plain_read_expect(peer, q, queued, H_ANSWER_MS);
    if (upgrade)
        h_plain_read_expect(peer, "sent behind the request\n", 24, H_ANSWER_MS);
    free(q);

    res = h_call(c, "status", json_pack("{s:s}", "handle", h));
    assert_true(json_is_true(json_object_get(res, "attached")));
    json_decref(res);

    bulk_both_ways(x, peer);

    res = h_call(c, "status", json_pack("{s:s}", "handle", h));
    assert_true(h_int(res, "bytes_in") >= (long long)(BIG + strlen(EARLY)));
    assert_true(h_int(res, "bytes_out") >= (long long)(BIG + queued));
    json_decref(res);

    /* Half-closes, both ways: each side can still send after the other ended. */
    shutdown(x, SHUT_WR);
    expect_eof(peer, NULL);
    h_plain_write(peer, "after your end\n", 15);
    shutdown(peer, SHUT_WR);
    expect_eof(x, "after your end\n");
    expect_gone(c, h);
    close(x);
    close(peer);
    t_unlisten(&l);
    free(h);
}

static void test_attach_fd_tcp(void **state)
{
    attach_plain_case(false, false);
}

static void test_attach_fd_unix(void **state)
{
    attach_plain_case(true, false);
}

static void test_attach_upgrade_tcp(void **state)
{
    attach_plain_case(false, true);
}

static void test_attach_upgrade_unix(void **state)
{
    attach_plain_case(true, true);
}

/* attach over TLS: the client reads and writes plaintext, 64 MiB each way
 * through Python's TLS echo server, which sees a clean end (close_notify). */
static void attach_tls_case(bool upgrade)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    struct tproc *srv = t_py_server("echo", "server", &port, NULL);
    int x;
    char *h;
    if (upgrade) {
        x = raw_connect(n);
        char req[600];
        int k = snprintf(req, sizeof req,
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"connect\",\"params\":"
                         "{\"host\":\"127.0.0.1\",\"port\":%d,\"timeout\":60,\"tls\":"
                         "{\"cafile\":\"%s\",\"servername\":\"localhost\"}}}\n",
                         port, T("ca.pem"));
        h_plain_write(x, req, (size_t)k);
        json_t *msg = raw_answer(x);
        h = strdup(h_str(json_object_get(msg, "result"), "handle"));
        json_decref(msg);
        raw_upgrade(x, h, NULL);
    } else {
        h = t_connect(c, "127.0.0.1", port, t_tls(json_pack("{s:s}", "servername", "localhost")));
        x = attach_fd(c, h);
    }
    uint8_t *a = malloc(BIG);
    fill_random(a, BIG, 4);
    struct writer w;
    writer_start(&w, x, a, BIG);
    const int fds[2] = {x, -1};
    const uint8_t *const want[2] = {a, NULL};
    const size_t nn[2] = {BIG, 0};
    read_both(fds, want, nn);
    writer_join(&w);
    free(a);
    shutdown(x, SHUT_WR); /* close_notify towards the server */
    char *end = t_expect_line(srv, "END ");
    assert_string_equal(end, "clean 67108864");
    free(end);
    expect_eof(x, NULL);
    if (!upgrade)
        expect_gone(c, h);
    close(x);
    free(h);
}

static void test_attach_tls_fd(void **state)
{
    attach_tls_case(false);
}

static void test_attach_tls_upgrade(void **state)
{
    attach_tls_case(true);
}

/* What attach refuses, and what is refused while attached. */
static void test_attach_refusals(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct lsock l = t_listen(false);
    char *lh = h_new_handle(c, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 0));
    json_decref(
        h_call_err(c, "attach", json_pack("{s:s,s:s}", "handle", lh, "mode", "fd"), -32003));
    char *ah =
        h_new_handle(c, "address", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", l.port));
    json_decref(h_call_err(c, "attach", json_pack("{s:s}", "handle", ah), -32003));
    json_decref(
        h_call_err(c, "attach", json_pack("{s:s,s:s}", "handle", "h0.999", "mode", "fd"), -32002));
    json_decref(
        h_call_err(c, "attach", json_pack("{s:s,s:s}", "handle", lh, "mode", "pipe"), -32602));
    char *h = t_connect_to(c, &l, false);
    int peer = t_accept(&l);

    /* upgrade must be alone: here a read waits on the same connection. */
    long long rid = h_send(c, "read", json_pack("{s:s,s:i}", "handle", h, "nbytes", 10));
    json_t *err = h_call_err(c, "attach", json_pack("{s:s}", "handle", h), -32602);
    assert_non_null(strstr(netd_error_message(err), "only request in flight"));
    json_decref(err);
    /* ... and an attach with reads waiting is refused in either mode. */
    json_decref(h_call_err(c, "attach", json_pack("{s:s,s:s}", "handle", h, "mode", "fd"), -32602));
    h_plain_write(peer, "x", 1);
    json_decref(h_wait(c, rid));
    /* Not in a batch either; the connection goes on serving requests. */
    char batch[256];
    int k = snprintf(batch, sizeof batch,
                     "[{\"jsonrpc\":\"2.0\",\"id\":91,\"method\":\"attach\",\"params\":"
                     "{\"handle\":\"%s\"}}]\n",
                     h);
    assert_int_equal(netd_client_send_raw(c, batch, (size_t)k), 0);
    json_t *msg;
    assert_int_equal(netd_client_next(c, H_ANSWER_MS, &msg), 0);
    assert_int_equal(netd_error_code(json_object_get(json_array_get(msg, 0), "error")), -32602);
    json_decref(msg);
    json_decref(h_call(c, "ping", NULL));

    int x = attach_fd(c, h);
    json_decref(h_call_err(c, "attach", json_pack("{s:s,s:s}", "handle", h, "mode", "fd"), -32602));
    json_decref(h_call_err(c, "read", json_pack("{s:s,s:i}", "handle", h, "nbytes", 1), -32602));
    json_decref(h_call_err(c, "chunk", json_pack("{s:s,s:i}", "handle", h, "nbytes", 1), -32602));
    json_decref(
        h_call_err(c, "write", json_pack("{s:s,s:s}", "handle", h, "data", "eA=="), -32602));
    json_decref(h_call_err(c, "starttls", json_pack("{s:s}", "handle", h), -32602));
    json_decref(h_call_err(c, "shutdown", json_pack("{s:s}", "handle", h), -32602));
    json_decref(h_call_err(c, "release", json_pack("{s:s}", "handle", h), -32602));
    json_decref(
        h_call(c, "setsockopt",
               json_pack("{s:s,s:s,s:b}", "handle", h, "option", "tcp-nodelay", "value", 1)));
    json_t *st = h_call(c, "status", json_pack("{s:s}", "handle", h));
    assert_true(json_is_true(json_object_get(st, "attached")));
    json_decref(st);
    /* The relay still works after all that; close ends it, the client sees its end. */
    h_plain_write(x, "through\n", 8);
    h_plain_read_expect(peer, "through\n", 8, H_ANSWER_MS);
    h_close(c, h);
    assert_int_equal(expect_end(x), 0);
    expect_end(peer);
    close(x);
    close(peer);
    t_unlisten(&l);
    free(h);
    free(lh);
    free(ah);
}

/* attach "upgrade" closes the connection's other handles unless they are kept. */
static void test_attach_upgrade_closes_the_rest(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct lsock l = t_listen(false);
    int x = raw_connect(n);
    char req[400];
    const char *keeps[3] = {"true", "false", "true"};
    char *hs[3];
    int peers[3];
    for (int i = 0; i < 3; i++) {
        int k = snprintf(req, sizeof req,
                         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"connect\",\"params\":"
                         "{\"host\":\"127.0.0.1\",\"port\":%d,\"keep\":%s}}\n",
                         i + 1, l.port, keeps[i]);
        h_plain_write(x, req, (size_t)k);
        json_t *msg = raw_answer(x);
        hs[i] = strdup(h_str(json_object_get(msg, "result"), "handle"));
        json_decref(msg);
        peers[i] = t_accept(&l);
    }
    raw_upgrade(x, hs[0], NULL);
    assert_int_equal(expect_end(peers[1]), 0); /* not kept: closed */
    json_t *st = h_call(c, "status", json_pack("{s:s}", "handle", hs[2]));
    h_expect_str(st, "state", "success");
    json_decref(st);
    h_plain_write(peers[0], "still here\n", 11);
    h_plain_read_expect(x, "still here\n", 11, H_ANSWER_MS);
    close(x); /* the client goes away: its end reaches the peer, */
    assert_int_equal(expect_end(peers[0]), 0);
    shutdown(peers[0], SHUT_WR); /* and once the peer ends too, the handle ends */
    expect_gone(c, hs[0]);
    for (int i = 0; i < 3; i++) {
        close(peers[i]);
        free(hs[i]);
    }
    t_unlisten(&l);
}

/* A reset of the stream ends the client's side at once; a client that goes
 * away while bytes still come resets the TCP stream. */
static void test_attach_reset(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct lsock l = t_listen(false);
    char *h = t_connect_to(c, &l, true);
    int peer = t_accept(&l);
    int x = attach_fd(c, h);
    h_plain_write(peer, "bye\n", 4);
    h_plain_read_expect(x, "bye\n", 4, H_ANSWER_MS);
    reset_close(peer);
    expect_end(x);
    /* Both ways: writing to it fails too, soon. */
    int rc = 0;
    for (int i = 0; i < 100 && rc == 0; i++) {
        if (send(x, "z", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
            rc = errno;
        h_sleep_ms(10);
    }
    assert_int_equal(rc, EPIPE);
    expect_gone(c, h);
    close(x);
    free(h);

    h = t_connect_to(c, &l, true);
    peer = t_accept(&l);
    x = attach_fd(c, h);
    h_plain_write(peer, "unread", 6);
    h_sleep_ms(100);
    close(x); /* with bytes unread: netd's next write to it fails */
    uint8_t buf[65536] = {0};
    rc = 0;
    for (int i = 0; i < 2000 && rc == 0; i++) {
        if (send(peer, buf, sizeof buf, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno != EAGAIN)
            rc = errno;
        h_sleep_ms(5);
    }
    if (rc != ECONNRESET && rc != EPIPE)
        fail_msg("the peer was not reset: %s", strerror(rc));
    expect_gone(c, h);
    close(peer);
    free(h);
    t_unlisten(&l);
}

/* ------------------------------------------------------------------ */
/* splice                                                              */

/* Two clients whose kept handles live on different workers (netd spreads
 * connections, and a connection's sockets live where it does). */
static void two_workers(struct netd_proc *n, netd_client **c1, netd_client **c2,
                        const struct lsock *l, char **a, char **b)
{
    *c1 = h_client(n);
    *a = t_connect_to(*c1, l, true);
    for (int i = 0; i < 8; i++) {
        *c2 = h_client(n);
        *b = t_connect_to(*c2, l, true);
        if (strchr(*a, '.') - *a != strchr(*b, '.') - *b || strncmp(*a, *b, 3) != 0)
            return;
        h_close(*c2, *b);
        free(*b);
        h_client_free(*c2);
    }
    fail_msg("every connection's handles landed on one worker");
}

static void splice_bulk_case(bool across)
{
    const char *args[] = {"--workers", "2", NULL};
    struct netd_proc *n = h_netd_start(args);
    struct lsock l = t_listen(false);
    netd_client *c1, *c2;
    char *a, *b;
    if (across) {
        two_workers(n, &c1, &c2, &l, &a, &b);
    } else {
        c1 = h_client(n);
        a = t_connect_to(c1, &l, true);
        b = t_connect_to(c1, &l, true);
    }
    int pa = t_accept(&l), pb = t_accept(&l);
    h_plain_write(pa, EARLY, strlen(EARLY)); /* read ahead by a peek */
    json_decref(h_call(
        c1, "read",
        json_pack("{s:s,s:i,s:b,s:f}", "handle", a, "nbytes", 100, "peek", 1, "timeout", 30.0)));
    long long id = h_send(c1, "splice", json_pack("{s:s,s:s}", "a", a, "b", b));
    h_plain_read_expect(pb, EARLY, strlen(EARLY), H_ANSWER_MS);
    json_t *st = h_call(c1, "status", json_pack("{s:s}", "handle", b));
    assert_true(json_is_true(json_object_get(st, "attached")));
    json_decref(st);
    json_decref(h_call_err(c1, "read", json_pack("{s:s,s:i}", "handle", a, "nbytes", 1), -32602));
    bulk_both_ways(pa, pb);
    shutdown(pa, SHUT_WR);
    expect_eof(pb, NULL);
    h_plain_write(pb, "last\n", 5);
    shutdown(pb, SHUT_WR);
    expect_eof(pa, "last\n");
    json_t *res = h_wait(c1, id);
    assert_int_equal(h_int(res, "a_to_b"), (long long)(BIG + strlen(EARLY)));
    assert_int_equal(h_int(res, "b_to_a"), (long long)BIG + 5);
    h_expect_str(res, "reason", "eof");
    json_decref(res);
    /* The handles stay, with their ends seen, until closed. */
    st = h_call(c1, "status", json_pack("{s:s}", "handle", a));
    assert_true(json_is_true(json_object_get(st, "eof")));
    assert_null(json_object_get(st, "attached"));
    json_decref(st);
    h_close(c1, a);
    h_close(c1, b);
    close(pa);
    close(pb);
    free(a);
    free(b);
    t_unlisten(&l);
}

static void test_splice_one_worker(void **state)
{
    splice_bulk_case(false);
}

static void test_splice_across_workers(void **state)
{
    splice_bulk_case(true);
}

/* A reset on one side resets the other; close of either handle ends it
 * (wait: false, with the `spliced` notification). */
static void splice_end_case(bool across)
{
    const char *args[] = {"--workers", "2", NULL};
    struct netd_proc *n = h_netd_start(args);
    struct lsock l = t_listen(false);
    netd_client *c1, *c2;
    char *a, *b;
    if (across) {
        two_workers(n, &c1, &c2, &l, &a, &b);
    } else {
        c1 = h_client(n);
        a = t_connect_to(c1, &l, true);
        b = t_connect_to(c1, &l, true);
    }
    int pa = t_accept(&l), pb = t_accept(&l);
    long long id = h_send(c1, "splice", json_pack("{s:s,s:s}", "a", a, "b", b));
    h_plain_write(pa, "hi\n", 3);
    h_plain_read_expect(pb, "hi\n", 3, H_ANSWER_MS);
    reset_close(pa);
    assert_int_equal(expect_end(pb), ECONNRESET);
    json_t *res = h_wait(c1, id);
    h_expect_str(res, "reason", "ECONNRESET");
    assert_int_equal(h_int(res, "a_to_b"), 3);
    json_decref(res);
    h_close(c1, a);
    h_close(c1, b);
    close(pb);
    free(a);
    free(b);

    /* close ends it; the other handle stays. */
    a = t_connect_to(c1, &l, true);
    b = t_connect_to(across ? c2 : c1, &l, true);
    pa = t_accept(&l);
    pb = t_accept(&l);
    res = h_call(c1, "splice", json_pack("{s:s,s:s,s:b}", "a", a, "b", b, "wait", 0));
    assert_int_equal(json_object_size(res), 0);
    json_decref(res);
    h_plain_write(pb, "to a\n", 5);
    h_plain_read_expect(pa, "to a\n", 5, H_ANSWER_MS);
    h_close(c1, b);
    json_t *note;
    assert_int_equal(netd_client_notification(c1, H_ANSWER_MS, &note), 0);
    h_expect_str(note, "method", "spliced");
    json_t *p = json_object_get(note, "params");
    h_expect_str(p, "reason", "closed");
    h_expect_str(p, "a", a);
    h_expect_str(p, "b", b);
    assert_int_equal(h_int(p, "b_to_a"), 5);
    json_decref(note);
    assert_int_equal(expect_end(pb), 0);
    json_t *st = h_call(c1, "status", json_pack("{s:s}", "handle", a));
    assert_null(json_object_get(st, "attached"));
    json_decref(st);
    h_plain_write(pa, "alone\n", 6);
    h_read_expect(c1, a, "alone\n", 6, 30);
    h_close(c1, a);
    close(pa);
    free(a);
    free(b);
    t_unlisten(&l);
}

static void test_splice_ends_one_worker(void **state)
{
    splice_end_case(false);
}

static void test_splice_ends_across_workers(void **state)
{
    splice_end_case(true);
}

static void test_splice_refusals(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct lsock l = t_listen(false);
    char *a = t_connect_to(c, &l, false);
    int pa = t_accept(&l);
    char *lh = h_new_handle(c, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 0));
    json_decref(h_call_err(c, "splice", json_pack("{s:s,s:s}", "a", a, "b", a), -32602));
    json_decref(h_call_err(c, "splice", json_pack("{s:s,s:s}", "a", a, "b", lh), -32003));
    json_decref(h_call_err(c, "splice", json_pack("{s:s,s:s}", "a", lh, "b", a), -32003));
    json_decref(h_call_err(c, "splice", json_pack("{s:s,s:s}", "a", a, "b", "h0.777"), -32002));
    json_decref(h_call_err(c, "splice", json_pack("{s:s}", "a", a), -32602));
    /* a is still usable after the refusals. */
    h_write(c, a, "ok", 2);
    h_plain_read_expect(pa, "ok", 2, H_ANSWER_MS);
    close(pa);
    free(a);
    free(lh);
    t_unlisten(&l);
}

/* server {tls} + connect + splice terminates TLS as stunnel does: a TLS
 * client sends 64 MiB through netd to a plain echo peer and reads it back. */
struct echo {
    pthread_t t;
    int fd;
    uint64_t n;
};

static void *echo_main(void *arg)
{
    struct echo *e = arg;
    static __thread uint8_t buf[1 << 16];
    for (;;) {
        ssize_t k = recv(e->fd, buf, sizeof buf, 0);
        if (k <= 0)
            break;
        e->n += (uint64_t)k;
        for (ssize_t off = 0; off < k;) {
            ssize_t w = send(e->fd, buf + off, (size_t)(k - off), MSG_NOSIGNAL);
            if (w <= 0)
                return NULL;
            off += w;
        }
    }
    shutdown(e->fd, SHUT_WR);
    return NULL;
}

static void test_splice_terminates_tls(void **state)
{
    const char *args[] = {"--workers", "2", NULL};
    struct netd_proc *n = h_netd_start(args);
    netd_client *c = h_client(n);
    struct lsock l = t_listen(false);
    char *lh = h_new_handle(c, "listen",
                            json_pack("{s:s,s:i,s:{s:s,s:s}}", "host", "127.0.0.1", "port", 0,
                                      "tls", "cert", T("server.pem"), "key", T("server.key")));
    json_t *ln = h_call(c, "localname", json_pack("{s:s}", "handle", lh));
    int port = (int)h_int(ln, "port");
    json_decref(ln);
    char size[32];
    snprintf(size, sizeof size, "%u", BIG);
    const char *extra[] = {"--size", size, NULL};
    struct tproc *cl = t_py_client("bulk", port, extra);
    char *a = h_new_handle(c, "accept", json_pack("{s:s,s:f}", "handle", lh, "timeout", 60.0));
    char *b = t_connect_to(c, &l, false);
    struct echo e = {.fd = t_accept(&l)};
    assert_int_equal(pthread_create(&e.t, NULL, echo_main, &e), 0);
    long long id = h_send(c, "splice", json_pack("{s:s,s:s}", "a", a, "b", b));
    char *ok = t_expect_line(cl, "OK ");
    assert_int_equal(atoll(ok), (long long)BIG);
    free(ok);
    json_t *res = h_wait(c, id);
    assert_int_equal(h_int(res, "a_to_b"), (long long)BIG);
    assert_int_equal(h_int(res, "b_to_a"), (long long)BIG);
    json_decref(res);
    pthread_join(e.t, NULL);
    assert_int_equal(e.n, (uint64_t)BIG);
    close(e.fd);
    free(a);
    free(b);
    free(lh);
    t_unlisten(&l);
}

/* ------------------------------------------------------------------ */
/* Memory stays bounded while a peer stalls                            */

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static pid_t netd_pid(netd_client *c)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    assert_int_equal(getsockopt(netd_client_fd(c), SOL_SOCKET, SO_PEERCRED, &cr, &len), 0);
    return cr.pid;
}

/* Pushes bytes into @fd for @ms while the other side reads nothing; returns how many went. */
static size_t push_for(int fd, int ms)
{
    static uint8_t buf[1 << 16];
    size_t total = 0;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    for (long long end = h_now_ms() + ms; h_now_ms() < end;) {
        ssize_t k = send(fd, buf, sizeof buf, MSG_NOSIGNAL);
        if (k > 0) {
            total += (size_t)k;
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        poll(&p, 1, 50);
    }
    fcntl(fd, F_SETFL, fl);
    return total;
}

static void test_memory_bounded_while_stalled(void **state)
{
    const char *args[] = {"--workers", "2", NULL};
    struct netd_proc *n = h_netd_start(args);
    struct lsock l = t_listen(false);
    netd_client *c1, *c2;
    char *a, *b;
    two_workers(n, &c1, &c2, &l, &a, &b);
    int pa = t_accept(&l), pb = t_accept(&l);
    int small = 4096;
    setsockopt(pb, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    pid_t pid = netd_pid(c1);
    long before = rss_kib(pid);
    /* A splice across workers into a peer that reads nothing. */
    json_decref(h_call(c1, "splice", json_pack("{s:s,s:s,s:b}", "a", a, "b", b, "wait", 0)));
    size_t in_splice = push_for(pa, 2000);
    /* An attach whose client writes into a peer that reads nothing. */
    char *h = t_connect_to(c1, &l, true);
    int ph = t_accept(&l);
    setsockopt(ph, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    int x = attach_fd(c1, h);
    size_t in_attach = push_for(x, 2000);
    /* And a TLS attach (the copying path) into a TLS server that never reads. */
    int sport;
    t_py_server("stall", "server", &sport, NULL);
    char *th =
        t_connect(c1, "127.0.0.1", sport, t_tls(json_pack("{s:s}", "servername", "localhost")));
    int tx = attach_fd(c1, th);
    size_t in_tls = push_for(tx, 2000);
    long after = rss_kib(pid);
    if (in_tls > (24u << 20))
        fail_msg("netd took %zu bytes of a TLS attach while its server stalled", in_tls);
    close(tx);
    free(th);
    /* What went in is what the kernel's buffers and the relays' pipes hold. */
    if (in_splice > (24u << 20) || in_attach > (24u << 20))
        fail_msg("netd took %zu bytes of a splice and %zu of an attach while the peers stalled",
                 in_splice, in_attach);
    if (after - before > 16 * 1024)
        fail_msg("netd's RSS grew from %ld to %ld KiB while the peers stalled", before, after);
    close(x);
    close(pa);
    close(pb);
    close(ph);
    free(a);
    free(b);
    free(h);
    t_unlisten(&l);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (getenv("T_FILTER"))
        cmocka_set_test_filter(getenv("T_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_attach_fd_tcp, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attach_fd_unix, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attach_upgrade_tcp, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attach_upgrade_unix, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attach_tls_fd, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attach_tls_upgrade, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attach_refusals, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attach_upgrade_closes_the_rest, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attach_reset, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_splice_one_worker, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_splice_across_workers, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_splice_ends_one_worker, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_splice_ends_across_workers, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_splice_refusals, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_splice_terminates_tls, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_memory_bounded_while_stalled, h_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
