/*
 * test_concurrency.c - many requests, clients and streams at once against a
 * real netd: a thousand pipelined requests in one write, fifty control
 * connections from fifty threads, and two hundred streams driven through
 * one control connection with their requests interleaved.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

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
    for (size_t j = (size_t)k; j < len; j++)
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pipelining, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_many_clients, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_many_streams, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
