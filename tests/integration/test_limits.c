/*
 * test_limits.c - netd's configured limits, hit on purpose: --max-handles,
 * --max-read (for nbytes and for read "all"), and writes to a peer that
 * never reads (timed-out writes and partial writes into a full buffer).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

static void expect_limit(json_t *err, const char *name)
{
    assert_string_equal(h_err_data_str(err, "limit"), name);
    json_decref(err);
}

static json_t *address_params(int port)
{
    return json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", port);
}

static void test_max_handles(void **state)
{
    static const char *const args[] = {"--max-handles", "3", NULL};
    struct netd_proc *n = h_netd_start(args);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *a = h_client(n), *b = h_client(n);
    char *hs[3];
    for (int i = 0; i < 3; i++)
        hs[i] = h_new_handle(a, "address", address_params(i + 1));
    expect_limit(h_call_err(a, "address", address_params(9), -32006), "max_handles");
    expect_limit(h_call_err(a, "connect",
                            json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", h_peer_port(echo)),
                            -32006),
                 "max_handles");
    /* The limit is per uid, so another connection of ours is refused too. */
    expect_limit(h_call_err(b, "address", address_params(9), -32006), "max_handles");
    /* Closing one makes room for exactly one more. */
    h_close(a, hs[0]);
    free(hs[0]);
    hs[0] = h_connect(b, "127.0.0.1", h_peer_port(echo));
    h_write(b, hs[0], "room", 4);
    h_read_expect(b, hs[0], "room", 4, 10);
    expect_limit(
        h_call_err(a, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0), -32006),
        "max_handles");
    for (int i = 0; i < 3; i++)
        free(hs[i]);
}

static void test_max_read_nbytes(void **state)
{
    static const char *const args[] = {"--max-read", "1024", NULL};
    struct netd_proc *n = h_netd_start(args);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *h = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    expect_limit(
        h_call_err(c, "read", json_pack("{s:s, s:i}", "handle", h, "nbytes", 1025), -32006),
        "max_read");
    expect_limit(
        h_call_err(c, "chunk", json_pack("{s:s, s:i}", "handle", h, "nbytes", 4096), -32006),
        "max_read");
    /* Exactly the limit is allowed. */
    char data[1024];
    memset(data, 'm', sizeof data);
    h_write(c, h, data, sizeof data);
    json_t *r = h_call(c, "chunk",
                       json_pack("{s:s, s:i, s:s, s:f}", "handle", h, "nbytes", 1024, "encoding",
                                 "utf8", "timeout", 10.0));
    assert_int_equal(strlen(h_str(r, "data")), 1024);
    json_decref(r);
    free(h);
}

static void test_read_all_past_max_read(void **state)
{
    enum { N = 3000, MAX = 1024 };
    static const char *const args[] = {"--max-read", "1024", NULL};
    unsigned char want[N];
    for (int i = 0; i < N; i++)
        want[i] = (unsigned char)(i % 253);
    struct netd_proc *n = h_netd_start(args);
    struct peer *p = h_peer_tcp(PEER_PAYLOAD, AF_INET, want, N);
    netd_client *c = h_client(n);
    char *h = h_connect(c, h_peer_host(p), h_peer_port(p));
    expect_limit(
        h_call_err(c, "read",
                   json_pack("{s:s, s:s, s:f}", "handle", h, "nbytes", "all", "timeout", 30.0),
                   -32006),
        "max_read");
    /* Nothing was lost: reads within the limit return every byte, then eof. */
    size_t got = 0;
    int eof = 0;
    while (!eof) {
        size_t k;
        unsigned char *d = h_read(c, h, MAX, &k, &eof);
        assert_true(got + k <= N);
        assert_memory_equal(d, want + got, k);
        got += k;
        free(d);
    }
    assert_int_equal(got, N);
    free(h);
}

static void test_write_timeout(void **state)
{
    enum { BIG = 12 << 20 };
    static const char *const args[] = {"--max-request", "33554432", NULL};
    struct netd_proc *n = h_netd_start(args);
    struct peer *hole = h_peer_tcp(PEER_BLACKHOLE, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *h = h_connect(c, h_peer_host(hole), h_peer_port(hole));
    unsigned char *data = calloc(1, BIG);
    char *b64 = h_base64(data, BIG);
    free(data);
    json_t *e = h_call_err(
        c, "write", json_pack("{s:s, s:s, s:f}", "handle", h, "data", b64, "timeout", 1.0), -32001);
    free(b64);
    json_t *written = json_object_get(json_object_get(e, "data"), "written");
    assert_true(json_is_integer(written));
    assert_true(json_integer_value(written) >= 0 && json_integer_value(written) < BIG);
    json_decref(e);
    /* The handle is still there and answers. */
    json_t *r = h_call(c, "status", json_pack("{s:s}", "handle", h));
    h_expect_str(r, "kind", "stream");
    json_decref(r);
    free(h);
}

static void test_partial_write_fills(void **state)
{
    enum { PIECE = 65536, MAX_TRIES = 4096 };
    static const char *const args[] = {"--max-buffer", "65536", NULL};
    struct netd_proc *n = h_netd_start(args);
    struct peer *hole = h_peer_tcp(PEER_BLACKHOLE, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *h = h_connect(c, h_peer_host(hole), h_peer_port(hole));
    unsigned char *piece = calloc(1, PIECE);
    char *b64 = h_base64(piece, PIECE);
    free(piece);
    long long total = 0, w = -1;
    int tries;
    /* The kernel's buffers take some, then netd's bounded buffer, then nothing. */
    for (tries = 0; tries < MAX_TRIES && w != 0; tries++) {
        json_t *r = h_call(c, "write",
                           json_pack("{s:s, s:s, s:b}", "handle", h, "data", b64, "partial", 1));
        w = h_int(r, "written");
        assert_true(w >= 0 && w <= PIECE);
        total += w;
        json_decref(r);
    }
    assert_int_equal(w, 0);
    json_t *r = h_call(c, "pending", json_pack("{s:s}", "handle", h));
    assert_true(h_int(r, "bytes") > 0 && h_int(r, "bytes") <= 65536);
    json_decref(r);
    r = h_call(c, "write", json_pack("{s:s, s:s, s:b}", "handle", h, "data", b64, "partial", 1));
    assert_int_equal(h_int(r, "written"), 0);
    json_decref(r);
    print_message("%lld bytes accepted before the buffer was full\n", total);
    free(b64);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_max_handles, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_max_read_nbytes, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_read_all_past_max_read, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_write_timeout, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_partial_write_fills, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
