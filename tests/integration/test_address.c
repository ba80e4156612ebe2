/*
 * test_address.c - address handles against a real netd: blocking and
 * background resolution, multi, service names, unix and abstract paths,
 * address-unpack, resolver failures and the family filter.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

/* address-unpack of @handle; the caller json_decref()s it. */
static json_t *unpack(netd_client *c, const char *handle)
{
    return h_call(c, "address-unpack", json_pack("{s:s}", "handle", handle));
}

static void expect_inet(netd_client *c, const char *handle, const char *family, const char *host,
                        int port)
{
    json_t *r = unpack(c, handle);
    h_expect_str(r, "family", family);
    h_expect_str(r, "host", host);
    assert_int_equal(h_int(r, "port"), port);
    json_decref(r);
}

static void test_address_blocking(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    json_t *r = h_call(c, "address", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 8080));
    assert_null(json_object_get(r, "handles"));
    char *h = strdup(h_str(r, "handle"));
    json_decref(r);
    r = unpack(c, h);
    h_expect_str(r, "family", "inet");
    h_expect_str(r, "host", "127.0.0.1");
    assert_int_equal(h_int(r, "port"), 8080);
    h_expect_str(r, "hostname", "127.0.0.1");
    json_decref(r);
    r = h_call(c, "status", json_pack("{s:s}", "handle", h));
    h_expect_str(r, "kind", "address");
    h_expect_str(r, "state", "success");
    assert_false(json_is_true(json_object_get(r, "kept")));
    json_decref(r);
    h_close(c, h);
    free(h);
}

static void test_address_ipv6_and_service(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    char *h = h_new_handle(c, "address", json_pack("{s:s, s:i}", "host", "::1", "port", 443));
    expect_inet(c, h, "inet6", "::1", 443);
    free(h);
    h = h_new_handle(c, "address", json_pack("{s:s, s:s}", "host", "127.0.0.1", "port", "http"));
    expect_inet(c, h, "inet", "127.0.0.1", 80);
    free(h);
    /* A port given as a string of digits is a number, not a service name. */
    h = h_new_handle(c, "address", json_pack("{s:s, s:s}", "host", "127.0.0.1", "port", "8081"));
    expect_inet(c, h, "inet", "127.0.0.1", 8081);
    free(h);
}

static void test_address_background(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    char *h = h_new_handle(c, "address",
                           json_pack("{s:s, s:i, s:s, s:b}", "host", "localhost", "port", 22,
                                     "family", "inet", "wait", 0));
    json_t *st = h_call(
        c, "wait", json_pack("{s:s, s:s, s:f}", "handle", h, "for", "resolved", "timeout", 20.0));
    h_expect_str(st, "handle", h);
    h_expect_str(st, "kind", "address");
    h_expect_str(st, "state", "success");
    json_decref(st);
    expect_inet(c, h, "inet", "127.0.0.1", 22);
    json_t *r = unpack(c, h);
    h_expect_str(r, "hostname", "localhost");
    json_decref(r);
    free(h);

    /* A failure in the background shows in the handle's status. */
    h = h_new_handle(
        c, "address",
        json_pack("{s:s, s:i, s:b}", "host", "nothing-here.invalid", "port", 22, "wait", 0));
    st = h_call(c, "wait",
                json_pack("{s:s, s:s, s:f}", "handle", h, "for", "resolved", "timeout", 20.0));
    h_expect_str(st, "state", "failure");
    json_t *err = json_object_get(st, "error");
    assert_int_equal(h_int(err, "code"), -32007);
    assert_true(json_is_string(json_object_get(err, "message")));
    json_decref(st);
    free(h);
}

static void test_address_multi(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    json_t *r = h_call(c, "address",
                       json_pack("{s:s, s:i, s:b}", "host", "localhost", "port", 7, "multi", 1));
    assert_null(json_object_get(r, "handle"));
    json_t *hs = json_object_get(r, "handles");
    assert_true(json_is_array(hs));
    assert_true(json_array_size(hs) >= 1);
    size_t i;
    json_t *h;
    json_array_foreach(hs, i, h)
    {
        assert_true(json_is_string(h));
        json_t *u = unpack(c, json_string_value(h));
        const char *fam = h_str(u, "family");
        assert_true(strcmp(fam, "inet") == 0 || strcmp(fam, "inet6") == 0);
        assert_int_equal(h_int(u, "port"), 7);
        json_decref(u);
    }
    json_decref(r);
    r = h_call(c, "address",
               json_pack("{s:s, s:i, s:b}", "host", "127.0.0.1", "port", 7, "multi", 1));
    assert_int_equal(json_array_size(json_object_get(r, "handles")), 1);
    json_decref(r);
}

static void test_address_unix(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    static const char *const paths[] = {"/tmp/netd-no-such.sock", "@netd-abstract-name"};
    for (int i = 0; i < 2; i++) {
        char *h = h_new_handle(c, "address", json_pack("{s:s}", "path", paths[i]));
        json_t *r = unpack(c, h);
        h_expect_str(r, "family", "unix");
        h_expect_str(r, "path", paths[i]);
        assert_true(json_is_string(json_object_get(r, "hostname")));
        json_decref(r);
        free(h);
    }
}

static void test_resolve_failure(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    json_t *e = h_call_err(
        c, "address", json_pack("{s:s, s:i}", "host", "no-such-host.invalid", "port", 80), -32007);
    assert_string_equal(h_err_data_str(e, "gai"), "EAI_NONAME");
    json_decref(e);
    /* connect resolves the same way and fails the same way. */
    e = h_call_err(c, "connect",
                   json_pack("{s:s, s:i}", "host", "no-such-host.invalid", "port", 80), -32007);
    assert_string_equal(h_err_data_str(e, "gai"), "EAI_NONAME");
    json_decref(e);
    json_t *r = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(r, "handles")), 0);
    json_decref(r);
}

static void test_family_filter(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    char *h = h_new_handle(
        c, "address",
        json_pack("{s:s, s:i, s:s}", "host", "localhost", "port", 80, "family", "inet"));
    expect_inet(c, h, "inet", "127.0.0.1", 80);
    free(h);
    h = h_new_handle(c, "address",
                     json_pack("{s:s, s:i, s:s}", "host", "::1", "port", 80, "family", "inet6"));
    expect_inet(c, h, "inet6", "::1", 80);
    free(h);
    /* A literal of the other family cannot satisfy the filter. */
    json_t *e = h_call_err(
        c, "address",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", 80, "family", "inet6"), -32007);
    assert_memory_equal(h_err_data_str(e, "gai"), "EAI_", 4);
    json_decref(e);
    e = h_call_err(c, "address",
                   json_pack("{s:s, s:i, s:s}", "host", "::1", "port", 80, "family", "inet"),
                   -32007);
    assert_memory_equal(h_err_data_str(e, "gai"), "EAI_", 4);
    json_decref(e);
}

static void test_unpack_wrong_kind(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *h = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    json_t *e = h_call_err(c, "address-unpack", json_pack("{s:s}", "handle", h), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "stream");
    json_decref(e);
    json_decref(h_call_err(c, "address-unpack", json_pack("{s:s}", "handle", "h-none"), -32002));
    free(h);
}

static void test_address_keep(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *a = h_client(n), *b = h_client(n);
    char *h = h_new_handle(
        a, "address", json_pack("{s:s, s:i, s:b}", "host", "127.0.0.1", "port", 99, "keep", 1));
    h_client_free(a);
    expect_inet(b, h, "inet", "127.0.0.1", 99);
    json_t *r = h_call(b, "status", json_pack("{s:s}", "handle", h));
    assert_true(json_is_true(json_object_get(r, "kept")));
    json_decref(r);
    h_close(b, h);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_address_blocking, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_address_ipv6_and_service, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_address_background, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_address_multi, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_address_unix, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_resolve_failure, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_family_filter, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_unpack_wrong_kind, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_address_keep, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
