/*
 * test_concurrency.c - many requests, clients and streams at once against a
 * real netd: a thousand pipelined requests in one write, fifty control
 * connections from fifty threads, and two hundred streams driven through
 * one control connection with their requests interleaved.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "line.h"

static void test_pipelining(void **state)
{
    enum { N = 1000, BASE = 500000 };
    netd_client *c = h_client(h_netd_start(NULL));
    char *buf = malloc((size_t)N * 128), *o = buf;
    assert_non_null(buf);
    /* Three kinds in turn: cheap answers, a bigger one, and an error. */
    for (int i = 0; i < N; i++) {
        if (i % 3 == 0)
            o += sprintf(o, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}\n", BASE + i);
        else if (i % 3 == 1)
            o += sprintf(o, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"stats\"}\n", BASE + i);
        else
            o += sprintf(o,
                         "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"status\",\"params\":"
                         "{\"handle\":\"none-%d\"}}\n",
                         BASE + i, i);
    }
    assert_int_equal(netd_client_send_raw(c, buf, (size_t)(o - buf)), 0);
    free(buf);
    static char seen[N];
    memset(seen, 0, sizeof seen);
    for (int k = 0; k < N; k++) {
        json_t *msg = NULL;
        if (netd_client_next(c, H_ANSWER_MS, &msg) < 0)
            fail_msg("only %d of %d answers came: %s", k, N, strerror(errno));
        json_int_t id = json_integer_value(json_object_get(msg, "id"));
        int i = (int)(id - BASE);
        if (i < 0 || i >= N || seen[i]++)
            fail_msg("answer with an unexpected or repeated id %lld", (long long)id);
        if (i % 3 == 2)
            assert_int_equal(netd_error_code(json_object_get(msg, "error")), -32002);
        else
            assert_true(json_is_object(json_object_get(msg, "result")));
        json_decref(msg);
    }
    json_t *extra = NULL;
    assert_int_equal(netd_client_next(c, 200, &extra), -1);
    assert_int_equal(errno, ETIMEDOUT);
}

struct worker_arg {
    pthread_t thread;
    pthread_barrier_t *start;
    const char *socket;
    const char *host;
    int port, index;
    char error[256]; /* empty when the round trip succeeded */
};

/*
 * One call from a worker thread (no cmocka here): returns the result, or
 * NULL after describing the failure in a->error.
 */
static json_t *worker_call(struct worker_arg *a, netd_client *c, const char *method, json_t *params)
{
    json_t *res = NULL, *err = NULL;
    int rc = netd_call(c, method, params, &res, &err);
    if (rc == 0)
        return res;
    if (rc == 1)
        snprintf(a->error, sizeof a->error, "%s: error %d %s", method, netd_error_code(err),
                 netd_error_message(err));
    else
        snprintf(a->error, sizeof a->error, "%s: %s", method, strerror(errno));
    json_decref(err);
    return NULL;
}

/* ping, then connect, write, read back and close a stream to the echo peer. */
static int worker_round_trip(struct worker_arg *a, netd_client *c)
{
    char data[2048];
    int n = snprintf(data, sizeof data, "client %d:", a->index);
    for (; n < (int)sizeof data - 1; n++)
        data[n] = (char)('a' + (n * (a->index + 3)) % 26);
    data[n] = '\0';
    json_t *r = worker_call(a, c, "ping", NULL);
    if (!r)
        return -1;
    json_decref(r);
    r = worker_call(a, c, "connect", json_pack("{s:s, s:i}", "host", a->host, "port", a->port));
    if (!r)
        return -1;
    char *h = strdup(json_string_value(json_object_get(r, "handle")));
    json_decref(r);
    int ok = 0;
    r = worker_call(a, c, "write",
                    json_pack("{s:s, s:s, s:s}", "handle", h, "data", data, "encoding", "utf8"));
    if (r && json_integer_value(json_object_get(r, "written")) == n) {
        json_decref(r);
        r = worker_call(a, c, "chunk",
                        json_pack("{s:s, s:i, s:s, s:f}", "handle", h, "nbytes", n, "encoding",
                                  "utf8", "timeout", 30.0));
        const char *got = json_string_value(json_object_get(r, "data"));
        ok = got && strcmp(got, data) == 0;
        if (r && !ok)
            snprintf(a->error, sizeof a->error, "client %d read back other bytes", a->index);
    }
    json_decref(r);
    r = ok ? worker_call(a, c, "close", json_pack("{s:s}", "handle", h)) : NULL;
    json_decref(r);
    free(h);
    return r ? 0 : -1;
}

static void *worker_main(void *arg)
{
    struct worker_arg *a = arg;
    pthread_barrier_wait(a->start);
    netd_client *c = netd_client_connect(a->socket);
    if (!c) {
        snprintf(a->error, sizeof a->error, "cannot connect: %s", strerror(errno));
        return NULL;
    }
    worker_round_trip(a, c);
    netd_client_free(c);
    return NULL;
}

static void test_many_clients(void **state)
{
    enum { N = 50 };
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *watcher = h_client(n);
    json_decref(h_call(watcher, "ping", NULL));
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N);
    static struct worker_arg args[N];
    for (int i = 0; i < N; i++) {
        args[i] = (struct worker_arg){.start = &start,
                                      .socket = h_netd_socket(n),
                                      .host = h_peer_host(echo),
                                      .port = h_peer_port(echo),
                                      .index = i};
        assert_int_equal(pthread_create(&args[i].thread, NULL, worker_main, &args[i]), 0);
    }
    int failures = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(args[i].thread, NULL);
        if (args[i].error[0]) {
            print_error("client %d: %s\n", i, args[i].error);
            failures++;
        }
    }
    pthread_barrier_destroy(&start);
    assert_int_equal(failures, 0);
    assert_int_equal(h_peer_accepted(echo), N);
    json_t *r = h_call(watcher, "stats", NULL);
    assert_int_equal(h_int(json_object_get(r, "handles"), "total"), 0);
    json_decref(r);
}

/* Finds @id among @n ids; -1 if absent. */
static int index_of(const long long *ids, int n, long long id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return i;
    return -1;
}

static void stream_data(int i, char *buf, size_t len)
{
    int k = snprintf(buf, len, "stream %03d|", i);
    for (size_t j = k > 0 && (size_t)k < len ? (size_t)k : len; j < len; j++)
        buf[j] = (char)(' ' + (j * 31 + (size_t)i * 17) % 95);
}

/* Checks one answer of the interleaved phase: a write's count or a chunk's bytes. */
static void check_stream_answer(json_t *msg, const long long *wids, const long long *rids, int n,
                                size_t len, char *done)
{
    long long id = json_integer_value(json_object_get(msg, "id"));
    json_t *res = json_object_get(msg, "result");
    int w = index_of(wids, n, id), r = index_of(rids, n, id);
    if (!res)
        fail_msg("request %lld failed: %s", id, netd_error_message(json_object_get(msg, "error")));
    if (w >= 0) {
        assert_int_equal(h_int(res, "written"), len);
        assert_false(done[w]++ & 1);
    } else if (r >= 0) {
        char want[1024];
        stream_data(r, want, len);
        size_t got;
        unsigned char *d = h_data(res, &got);
        assert_int_equal(got, len);
        if (memcmp(d, want, len) != 0)
            fail_msg("stream %d read back bytes that are not its own", r);
        free(d);
        assert_false(done[r] & 2);
        done[r] |= 2;
    } else {
        fail_msg("an answer with an unknown id %lld", id);
    }
}

static void test_many_streams(void **state)
{
    enum { N = 200, LEN = 1000 };
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    static long long ids[N], wids[N], rids[N];
    static char *hs[N];
    static char done[N];
    memset(done, 0, sizeof done);
    for (int i = 0; i < N; i++)
        ids[i] =
            h_send(c, "connect",
                   json_pack("{s:s, s:i}", "host", h_peer_host(echo), "port", h_peer_port(echo)));
    for (int i = N - 1; i >= 0; i--) { /* collected in the other order on purpose */
        json_t *r = h_wait(c, ids[i]);
        hs[i] = strdup(h_str(r, "handle"));
        json_decref(r);
    }
    char buf[LEN];
    for (int i = 0; i < N; i++) {
        stream_data(i, buf, LEN);
        char *hex = h_hex(buf, LEN);
        wids[i] =
            h_send(c, "write",
                   json_pack("{s:s, s:s, s:s}", "handle", hs[i], "data", hex, "encoding", "hex"));
        free(hex);
    }
    for (int i = 0; i < N; i++)
        rids[i] = h_send(c, "chunk",
                         json_pack("{s:s, s:i, s:s, s:f}", "handle", hs[i], "nbytes", LEN,
                                   "encoding", "hex", "timeout", 60.0));
    for (int k = 0; k < 2 * N; k++) {
        json_t *msg = NULL;
        if (netd_client_next(c, H_ANSWER_MS, &msg) < 0)
            fail_msg("only %d of %d answers came: %s", k, 2 * N, strerror(errno));
        check_stream_answer(msg, wids, rids, N, LEN, done);
        json_decref(msg);
    }
    for (int i = 0; i < N; i++)
        ids[i] = h_send(c, "close", json_pack("{s:s}", "handle", hs[i]));
    for (int i = 0; i < N; i++) {
        json_decref(h_wait(c, ids[i]));
        free(hs[i]);
    }
    assert_true(h_peer_wait_eofs(echo, N, 30000));
}

/* A plain non-blocking connection to netd's abstract socket, without the library. */
static int raw_connect(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name + 1);
    memcpy(sa.sun_path + 1, name + 1, len);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa,
                             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)),
                     0);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Sends requests (id 1, 2, ...) without reading until netd stops taking them
 * for half a second; returns the number of requests begun, and leaves the
 * unsent tail of a cut line in *rest and *restlen. A netd that never
 * stops reading fails the test once far more than it may queue was sent. */
static int flood(int fd, char *line, size_t cap, const char **rest, size_t *restlen)
{
    long long stuck_since = -1;
    for (int id = 1;; id++) {
        if (id > 200000)
            fail_msg("netd took 200000 requests without pausing a client that reads nothing");
        size_t n = (size_t)snprintf(
            line, cap, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"rpc.discover\"}\n", id);
        size_t off = 0;
        while (off < n) {
            ssize_t k = send(fd, line + off, n - off, MSG_NOSIGNAL);
            if (k > 0) {
                off += (size_t)k;
                stuck_since = -1;
                continue;
            }
            assert_true(k < 0 && (errno == EAGAIN || errno == EINTR));
            if (stuck_since < 0)
                stuck_since = h_now_ms();
            if (h_now_ms() - stuck_since > 500) {
                *rest = line + off;
                *restlen = n - off;
                return id; /* the last line is finished while reading */
            }
            struct pollfd pf = {fd, POLLOUT, 0};
            poll(&pf, 1, 50);
        }
    }
}

/*
 * A client that sends a flood of requests with big answers and reads none:
 * netd must stop reading it rather than queue without bound, keep serving
 * others meanwhile, and answer every request once the client reads.
 */
static void test_slow_reader(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *watcher = h_client(n);
    int fd = raw_connect(h_netd_socket(n));
    char line[128];
    const char *rest = NULL;
    size_t restlen = 0;
    int sent = flood(fd, line, sizeof line, &rest, &restlen);
    assert_true(sent > 0);
    json_decref(h_call(watcher, "ping", NULL));
    /* Now read everything, finishing the cut line as netd makes room. */
    struct netd_line lb;
    netd_line_init(&lb, 64u << 20);
    char *seen = calloc((size_t)sent + 1, 1), *buf = malloc(1 << 16);
    int answers = 0;
    long long deadline = h_now_ms() + 60000;
    while (answers < sent && h_now_ms() < deadline) {
        struct pollfd pf = {fd, POLLIN | (restlen ? POLLOUT : 0), 0};
        poll(&pf, 1, 1000);
        if ((pf.revents & POLLOUT) && restlen) {
            ssize_t k = send(fd, rest, restlen, MSG_NOSIGNAL);
            if (k > 0)
                rest += k, restlen -= (size_t)k;
        }
        ssize_t k = recv(fd, buf, 1 << 16, 0);
        if (k == 0)
            fail_msg("netd closed the connection after %d answers", answers);
        if (k > 0)
            assert_int_equal(netd_line_feed(&lb, buf, (size_t)k), 0);
        char *l;
        size_t len;
        while (netd_line_next(&lb, &l, &len) == NETD_LINE_OK) {
            json_t *msg = json_loadb(l, len, 0, NULL);
            json_int_t id = json_integer_value(json_object_get(msg, "id"));
            assert_true(json_is_object(json_object_get(msg, "result")));
            if (id < 1 || id > sent || seen[id]++)
                fail_msg("unexpected or repeated answer id %lld", (long long)id);
            answers++;
            json_decref(msg);
        }
    }
    assert_int_equal(answers, sent);
    print_message("%d requests were taken before netd paused the reader\n", sent);
    netd_line_free(&lb);
    free(seen);
    free(buf);
    close(fd);
}

/*
 * Clients that vanish with work in flight: a read waiting, a write just
 * sent, half a request line. netd must drop their answers quietly, close
 * their handles, and keep serving everybody else.
 */
static void test_abrupt_disconnects(void **state)
{
    enum { N = 100 };
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *watcher = h_client(n);
    for (int i = 0; i < N; i++) {
        netd_client *c = netd_client_connect(h_netd_socket(n));
        assert_non_null(c);
        json_t *res = NULL;
        assert_int_equal(
            netd_call(c, "connect",
                      json_pack("{s:s, s:i}", "host", h_peer_host(echo), "port", h_peer_port(echo)),
                      &res, NULL),
            0);
        const char *h = json_string_value(json_object_get(res, "handle"));
        assert_true(netd_client_send(c, "read", json_pack("{s:s, s:i}", "handle", h, "nbytes", 5)) >
                    0);
        assert_true(netd_client_send(c, "write",
                                     json_pack("{s:s, s:s}", "handle", h, "data", "aGVsbG8=")) > 0);
        static const char half[] = "{\"jsonrpc\":\"2.0\",\"id\":99,\"method\":\"pi";
        if (i % 2)
            assert_int_equal(netd_client_send_raw(c, half, sizeof half - 1), 0);
        json_decref(res);
        netd_client_free(c);
    }
    json_decref(h_call(watcher, "ping", NULL));
    assert_true(h_peer_wait_eofs(echo, N, 20000));
    long long deadline = h_now_ms() + 10000, total = -1;
    while (total != 0 && h_now_ms() < deadline) {
        json_t *r = h_call(watcher, "stats", NULL);
        total = h_int(json_object_get(r, "handles"), "total");
        json_decref(r);
        if (total)
            h_sleep_ms(20);
    }
    assert_int_equal(total, 0);
    h_netd_assert_alive(n);
}

/* A batch whose first element waits for what its second element writes:
 * its elements must be served concurrently, like separate requests. */
static void test_batch_elements_concurrent(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *h = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    char line[512];
    int len =
        snprintf(line, sizeof line,
                 "[{\"jsonrpc\":\"2.0\",\"id\":1001,\"method\":\"chunk\",\"params\":{\"handle\":"
                 "\"%s\",\"nbytes\":5,\"timeout\":20,\"encoding\":\"utf8\"}},"
                 "{\"jsonrpc\":\"2.0\",\"id\":1002,\"method\":\"write\",\"params\":{\"handle\":"
                 "\"%s\",\"data\":\"hello\",\"encoding\":\"utf8\"}}]\n",
                 h, h);
    assert_int_equal(netd_client_send_raw(c, line, (size_t)len), 0);
    json_t *msg = NULL;
    assert_int_equal(netd_client_next(c, H_ANSWER_MS, &msg), 0);
    assert_true(json_is_array(msg));
    assert_int_equal(json_array_size(msg), 2);
    size_t i;
    json_t *el;
    json_array_foreach(msg, i, el)
    {
        json_t *res = json_object_get(el, "result");
        if (!res) {
            char *dump = json_dumps(el, JSON_COMPACT);
            fail_msg("a batch element failed: %s", dump);
        }
        if (json_integer_value(json_object_get(el, "id")) == 1001)
            h_expect_str(res, "data", "hello");
        else
            assert_int_equal(h_int(res, "written"), 5);
    }
    json_decref(msg);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipelining, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_many_clients, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_many_streams, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_slow_reader, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_abrupt_disconnects, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_batch_elements_concurrent, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
