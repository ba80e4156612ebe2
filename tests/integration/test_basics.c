/*
 * test_basics.c - a real netd: ping, rpc.discover, stats, handles, status,
 * keep, and the life of handles across control connections.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

static void test_ping(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    json_t *r = h_call(c, "ping", json_object());
    assert_true(json_is_object(r));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    /* No params at all is the same as {}. */
    r = h_call(c, "ping", NULL);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
}

static void test_discover(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    json_t *r = h_call(c, "rpc.discover", NULL);
    assert_non_null(strstr(h_str(r, "openrpc"), "1."));
    json_t *methods = json_object_get(r, "methods");
    assert_true(json_is_array(methods));
    int saw_read = 0, saw_ping = 0;
    size_t i;
    json_t *m;
    json_array_foreach(methods, i, m)
    {
        const char *name = h_str(m, "name");
        saw_read |= strcmp(name, "read") == 0;
        saw_ping |= strcmp(name, "ping") == 0;
    }
    assert_true(saw_read && saw_ping);
    json_decref(r);
}

/* stats.handles.<kind>, asserting every documented member is there. */
static long long stats_handles(netd_client *c, const char *kind)
{
    json_t *r = h_call(c, "stats", NULL);
    static const char *const ints[] = {"workers", "connections", "requests", "bytes_in",
                                       "bytes_out"};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        assert_true(h_int(r, ints[i]) >= 0);
    assert_true(h_int(r, "workers") >= 1);
    assert_true(json_is_number(json_object_get(r, "uptime")));
    json_t *h = json_object_get(r, "handles");
    static const char *const kinds[] = {"address", "stream", "listener", "datagram", "total"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        assert_true(h_int(h, kinds[i]) >= 0);
    long long v = h_int(h, kind);
    json_decref(r);
    return v;
}

static void test_stats(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *a = h_client(n), *b = h_client(n);
    assert_int_equal(stats_handles(a, "total"), 0);
    json_t *r = h_call(b, "stats", NULL);
    assert_true(h_int(r, "connections") >= 2);
    assert_true(h_int(r, "requests") >= 2);
    json_decref(r);
    char *h = h_connect(a, h_peer_host(echo), h_peer_port(echo));
    assert_int_equal(stats_handles(b, "stream"), 1);
    assert_int_equal(stats_handles(b, "total"), 1);
    h_write(a, h, "0123456789", 10);
    h_read_expect(a, h, "0123456789", 10, 10);
    r = h_call(b, "stats", NULL);
    assert_true(h_int(r, "bytes_in") >= 10);
    assert_true(h_int(r, "bytes_out") >= 10);
    json_decref(r);
    h_close(a, h);
    assert_int_equal(stats_handles(b, "total"), 0);
    free(h);
}

/* Checks a status object of a connected stream. */
static void check_stream_status(const json_t *st, const char *handle, int kept)
{
    h_expect_str(st, "handle", handle);
    h_expect_str(st, "kind", "stream");
    h_expect_str(st, "state", "success");
    assert_true(h_int(st, "readable") >= 0);
    assert_true(h_int(st, "pending") >= 0);
    assert_true(h_int(st, "bytes_in") >= 0);
    assert_true(h_int(st, "bytes_out") >= 0);
    assert_true(json_is_boolean(json_object_get(st, "kept")));
    assert_int_equal(json_is_true(json_object_get(st, "kept")), kept);
    h_expect_str(json_object_get(st, "local"), "family", "inet");
    h_expect_str(json_object_get(st, "remote"), "host", "127.0.0.1");
}

static void test_handles_and_status(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    json_t *r = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(r, "handles")), 0);
    json_decref(r);

    char *h = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    assert_true(strlen(h) >= 1 && strlen(h) <= 64);
    h_write(c, h, "abc", 3);
    h_read_expect(c, h, "abc", 3, 10);
    r = h_call(c, "status", json_pack("{s:s}", "handle", h));
    check_stream_status(r, h, 0);
    assert_int_equal(h_int(r, "bytes_out"), 3);
    assert_int_equal(h_int(r, "bytes_in"), 3);
    assert_int_equal(h_int(json_object_get(r, "remote"), "port"), h_peer_port(echo));
    json_decref(r);

    r = h_call(c, "handles", NULL);
    json_t *list = json_object_get(r, "handles");
    assert_int_equal(json_array_size(list), 1);
    check_stream_status(json_array_get(list, 0), h, 0);
    json_decref(r);
    h_close(c, h);
    free(h);
}

static void test_keep(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *a = h_client(n), *b = h_client(n);
    char *kept = h_new_handle(a, "connect",
                              json_pack("{s:s, s:i, s:b}", "host", h_peer_host(echo), "port",
                                        h_peer_port(echo), "keep", 1));
    char *plain = h_connect(a, h_peer_host(echo), h_peer_port(echo));
    char *later =
        h_new_handle(a, "address", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 80));
    json_decref(h_call(a, "keep", json_pack("{s:s}", "handle", later)));

    /* Another connection of the same uid may use kept handles only. */
    h_write(b, kept, "kept", 4);
    h_read_expect(b, kept, "kept", 4, 10);
    json_t *r = h_call(b, "status", json_pack("{s:s}", "handle", kept));
    check_stream_status(r, kept, 1);
    json_decref(r);
    r = h_call(b, "status", json_pack("{s:s}", "handle", later));
    assert_true(json_is_true(json_object_get(r, "kept")));
    json_decref(r);
    json_decref(
        h_call_err(b, "read", json_pack("{s:s, s:i}", "handle", plain, "nbytes", 1), -32002));
    json_decref(h_call_err(b, "status", json_pack("{s:s}", "handle", plain), -32002));

    /* The creator goes away: its plain handle ends, the kept ones live on. */
    h_client_free(a);
    assert_true(h_peer_wait_eofs(echo, 1, 10000));
    h_write(b, kept, "still", 5);
    h_read_expect(b, kept, "still", 5, 10);
    r = h_call(b, "address-unpack", json_pack("{s:s}", "handle", later));
    assert_int_equal(h_int(r, "port"), 80);
    json_decref(r);
    h_close(b, kept);
    h_close(b, later);
    free(kept);
    free(plain);
    free(later);
}

/* A kept handle is shared: closing it from one connection aborts a read
 * another connection has waiting on it. Keeping someone else's handle is
 * refused like any unknown handle. */
static void test_kept_handle_shared(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *a = h_client(n), *b = h_client(n);
    char *plain = h_connect(a, h_peer_host(echo), h_peer_port(echo));
    json_decref(h_call_err(b, "keep", json_pack("{s:s}", "handle", plain), -32002));
    char *kept = h_new_handle(a, "connect",
                              json_pack("{s:s, s:i, s:b}", "host", h_peer_host(echo), "port",
                                        h_peer_port(echo), "keep", 1));
    long long id = h_send(a, "read", json_pack("{s:s, s:i}", "handle", kept, "nbytes", 10));
    json_decref(h_call(a, "ping", NULL));
    h_close(b, kept);
    json_decref(h_wait_err(a, id, -32004));
    json_decref(h_call_err(a, "status", json_pack("{s:s}", "handle", kept), -32002));
    free(plain);
    free(kept);
}

static void test_handles_end_with_connection(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *a = h_client(n), *b = h_client(n);
    char *hs[3];
    for (int i = 0; i < 3; i++)
        hs[i] = h_connect(a, h_peer_host(echo), h_peer_port(echo));
    free(h_new_handle(a, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0)));
    assert_int_equal(stats_handles(b, "stream"), 3);
    assert_int_equal(stats_handles(b, "listener"), 1);
    h_client_free(a);
    /* The echo peer sees every stream end, and netd's count drops to zero. */
    assert_true(h_peer_wait_eofs(echo, 3, 10000));
    long long deadline = h_now_ms() + 10000;
    while (stats_handles(b, "total") != 0 && h_now_ms() < deadline)
        h_sleep_ms(20);
    assert_int_equal(stats_handles(b, "total"), 0);
    for (int i = 0; i < 3; i++) {
        json_decref(h_call_err(b, "status", json_pack("{s:s}", "handle", hs[i]), -32002));
        free(hs[i]);
    }
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static void test_handles_never_reused(void **state)
{
    enum { N = 200 };
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *seen[N];
    for (int i = 0; i < N; i++) {
        if (i % 4 == 0)
            seen[i] = h_connect(c, h_peer_host(echo), h_peer_port(echo));
        else
            seen[i] = h_new_handle(c, "address",
                                   json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", i + 1));
        h_close(c, seen[i]);
        /* A closed handle stays dead even though newer handles exist. */
        if (i > 0)
            json_decref(h_call_err(c, "status", json_pack("{s:s}", "handle", seen[i - 1]), -32002));
    }
    qsort(seen, N, sizeof seen[0], cmp_str);
    for (int i = 1; i < N; i++)
        if (strcmp(seen[i - 1], seen[i]) == 0)
            fail_msg("handle %s was given out twice", seen[i]);
    for (int i = 0; i < N; i++)
        free(seen[i]);
}

/*
 * SIGTERM while clients are connected, a read waits, a handle is kept and a
 * listener is open: netd must still stop cleanly (exit 0, and no sanitizer
 * report about what it tore down).
 */
static void test_stop_with_work_in_flight(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *h = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    free(h_new_handle(c, "connect",
                      json_pack("{s:s, s:i, s:b}", "host", h_peer_host(echo), "port",
                                h_peer_port(echo), "keep", 1)));
    free(h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0)));
    long long id = h_send(c, "read", json_pack("{s:s, s:i}", "handle", h, "nbytes", 10));
    json_decref(h_call(c, "ping", NULL));
    h_netd_stop_ok(n);
    /* The waiting read is either aborted on the way out or just sees the
     * connection end; it never gets a result. */
    json_t *res = NULL, *err = NULL;
    int rc = netd_client_wait(c, id, H_ANSWER_MS, &res, &err);
    if (rc == 1)
        assert_int_equal(netd_error_code(err), -32004);
    else
        assert_true(rc == -1 && errno == ECONNRESET);
    json_decref(err);
    assert_true(h_peer_wait_eofs(echo, 2, 10000));
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_discover, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_stats, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_handles_and_status, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_keep, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_kept_handle_shared, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_handles_end_with_connection, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_handles_never_reused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_stop_with_work_in_flight, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
