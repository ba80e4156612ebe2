/*
 * test_stream.c - making stream connections with a real netd: connect over
 * IPv4, IPv6, unix paths and abstract names, via address handles, with a
 * bound local address, in the background; refused and timed-out connects;
 * listen and accept; names; wrong kinds and unknown handles.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "harness.h"

/* Writes a short message through @h and expects the echo back. */
static void round_trip(netd_client *c, const char *h, const char *msg)
{
    h_write(c, h, msg, strlen(msg));
    h_read_expect(c, h, msg, strlen(msg), 10);
}

static void test_connect_ipv4(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *h = h_connect(c, "127.0.0.1", h_peer_port(echo));
    round_trip(c, h, "over IPv4");
    assert_int_equal(h_peer_accepted(echo), 1);
    h_close(c, h);
    free(h);
}

static void test_connect_ipv6(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET6, NULL, 0);
    if (!echo) {
        print_message("no IPv6 loopback on this machine: skipped\n");
        skip();
    }
    netd_client *c = h_client(n);
    char *h = h_connect(c, "::1", h_peer_port(echo));
    round_trip(c, h, "over IPv6");
    json_t *r = h_call(c, "peername", json_pack("{s:s}", "handle", h));
    h_expect_str(r, "family", "inet6");
    h_expect_str(r, "host", "::1");
    assert_int_equal(h_int(r, "port"), h_peer_port(echo));
    json_decref(r);
    free(h);
}

static void test_connect_unix(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    for (int abstract = 0; abstract < 2; abstract++) {
        struct peer *echo = h_peer_unix(PEER_ECHO, abstract);
        char *h = h_new_handle(c, "connect", json_pack("{s:s}", "path", h_peer_path(echo)));
        round_trip(c, h, abstract ? "abstract unix" : "unix path");
        json_t *r = h_call(c, "peername", json_pack("{s:s}", "handle", h));
        h_expect_str(r, "family", "unix");
        h_expect_str(r, "path", h_peer_path(echo));
        json_decref(r);
        h_close(c, h);
        free(h);
    }
}

static void test_connect_via_address(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *a = h_new_handle(c, "address",
                           json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", h_peer_port(echo)));
    char *h1 = h_new_handle(c, "connect", json_pack("{s:s}", "address", a));
    char *h2 = h_new_handle(c, "connect", json_pack("{s:s}", "address", a));
    assert_string_not_equal(h1, h2);
    round_trip(c, h1, "first via an address handle");
    round_trip(c, h2, "second via the same address");
    free(h1);
    free(h2);
    free(a);
}

static void test_connect_bind(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    int port = h_free_port();
    char *h = h_new_handle(c, "connect",
                           json_pack("{s:s, s:i, s:s, s:i}", "host", "127.0.0.1", "port",
                                     h_peer_port(echo), "bindhost", "127.0.0.2", "bindport", port));
    round_trip(c, h, "from a chosen address");
    json_t *r = h_call(c, "localname", json_pack("{s:s}", "handle", h));
    h_expect_str(r, "host", "127.0.0.2");
    assert_int_equal(h_int(r, "port"), port);
    json_decref(r);
    char host[64];
    int rport;
    h_peer_last_remote(echo, host, sizeof host, &rport);
    assert_string_equal(host, "127.0.0.2");
    assert_int_equal(rport, port);
    free(h);
}

static void test_connect_background(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *h = h_new_handle(
        c, "connect",
        json_pack("{s:s, s:i, s:b}", "host", "127.0.0.1", "port", h_peer_port(echo), "wait", 0));
    json_t *st = h_call(
        c, "wait", json_pack("{s:s, s:s, s:f}", "handle", h, "for", "connected", "timeout", 10.0));
    h_expect_str(st, "kind", "stream");
    h_expect_str(st, "state", "success");
    json_decref(st);
    round_trip(c, h, "connected in the background");
    free(h);

    /* A background connect that fails records why in the status. */
    h = h_new_handle(
        c, "connect",
        json_pack("{s:s, s:i, s:b}", "host", "127.0.0.1", "port", h_refused_port(), "wait", 0));
    st = h_call(c, "wait",
                json_pack("{s:s, s:s, s:f}", "handle", h, "for", "connected", "timeout", 10.0));
    h_expect_str(st, "state", "failure");
    assert_int_equal(h_int(json_object_get(st, "error"), "code"), -32000);
    json_decref(st);
    free(h);
}

static void test_connect_refused(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    json_t *e =
        h_call_err(c, "connect",
                   json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", h_refused_port()), -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "ECONNREFUSED");
    json_decref(e);
    json_t *r = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(r, "handles")), 0);
    json_decref(r);
}

static void test_connect_timeout(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *full = h_peer_tcp(PEER_FULL, AF_INET, NULL, 0);
    if (!h_peer_is_full(full)) {
        print_message("cannot make a connect hang on this machine (backlog never full): skipped\n");
        skip();
    }
    netd_client *c = h_client(n);
    json_t *e = h_call_err(c, "connect",
                           json_pack("{s:s, s:i, s:f}", "host", "127.0.0.1", "port",
                                     h_peer_port(full), "timeout", 0.3),
                           -32001);
    json_decref(e);
    json_t *r = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(r, "handles")), 0);
    json_decref(r);
}

static void test_listen_accept(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    json_t *r = h_call(c, "localname", json_pack("{s:s}", "handle", l));
    int port = (int)h_int(r, "port");
    assert_true(port > 0);
    h_expect_str(r, "host", "127.0.0.1");
    json_decref(r);
    r = h_call(c, "status", json_pack("{s:s}", "handle", l));
    h_expect_str(r, "kind", "listener");
    json_decref(r);
    /* Nobody is connecting yet: a short accept times out. */
    json_decref(
        h_call_err(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 0.2), -32001));

    int fd = h_plain_connect("127.0.0.1", port);
    char *s = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
    h_plain_write(fd, "from outside", 12);
    h_read_expect(c, s, "from outside", 12, 10);
    h_write(c, s, "from netd", 9);
    h_plain_read_expect(fd, "from netd", 9, 10000);
    struct sockaddr_in me;
    socklen_t sl = sizeof me;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &sl), 0);
    r = h_call(c, "peername", json_pack("{s:s}", "handle", s));
    assert_int_equal(h_int(r, "port"), ntohs(me.sin_port));
    json_decref(r);
    h_close(c, s);
    h_close(c, l);
    free(s);
    free(l);
}

/* Two queued connections, two accepts; closing the listener aborts a waiting accept. */
static void test_accept_more(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    json_t *r = h_call(c, "localname", json_pack("{s:s}", "handle", l));
    int port = (int)h_int(r, "port");
    json_decref(r);
    int fd1 = h_plain_connect("127.0.0.1", port), fd2 = h_plain_connect("127.0.0.1", port);
    char *s1 = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
    char *s2 = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
    assert_string_not_equal(s1, s2);
    h_write(c, s1, "one", 3);
    h_write(c, s2, "two", 3);
    /* Which accept got which connection is the kernel's business; each got one. */
    char got1[4] = {0}, got2[4] = {0};
    assert_int_equal(recv(fd1, got1, 3, MSG_WAITALL), 3);
    assert_int_equal(recv(fd2, got2, 3, MSG_WAITALL), 3);
    assert_true((!strcmp(got1, "one") && !strcmp(got2, "two")) ||
                (!strcmp(got1, "two") && !strcmp(got2, "one")));
    long long id = h_send(c, "accept", json_pack("{s:s}", "handle", l));
    json_decref(h_call(c, "ping", NULL));
    h_close(c, l);
    json_decref(h_wait_err(c, id, -32004));
    /* The accepted streams outlive their listener. */
    h_plain_write(fd1, "x", 1);
    h_read_expect(c, strcmp(got1, "one") == 0 ? s1 : s2, "x", 1, 10);
    free(s1);
    free(s2);
    free(l);
}

static void test_names(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *h = h_connect(c, "127.0.0.1", h_peer_port(echo));
    round_trip(c, h, "names");
    json_t *local = h_call(c, "localname", json_pack("{s:s}", "handle", h));
    h_expect_str(local, "family", "inet");
    h_expect_str(local, "host", "127.0.0.1");
    json_t *peer = h_call(c, "peername", json_pack("{s:s}", "handle", h));
    h_expect_str(peer, "family", "inet");
    h_expect_str(peer, "host", "127.0.0.1");
    assert_int_equal(h_int(peer, "port"), h_peer_port(echo));
    char host[64];
    int rport;
    h_peer_last_remote(echo, host, sizeof host, &rport);
    assert_int_equal(h_int(local, "port"), rport);
    json_decref(local);
    json_decref(peer);
    free(h);
}

static void test_wrong_kind(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    char *s = h_connect(c, "127.0.0.1", h_peer_port(echo));
    char *a = h_new_handle(c, "address", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 1));
    json_t *e = h_call_err(c, "read", json_pack("{s:s, s:i}", "handle", l, "nbytes", 1), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "listener");
    json_decref(e);
    e = h_call_err(c, "write", json_pack("{s:s, s:s}", "handle", l, "data", "AA=="), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "listener");
    json_decref(e);
    e = h_call_err(c, "accept", json_pack("{s:s, s:f}", "handle", s, "timeout", 1.0), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "stream");
    json_decref(e);
    e = h_call_err(c, "read", json_pack("{s:s, s:i}", "handle", a, "nbytes", 1), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "address");
    json_decref(e);
    /* The stream still works after the refused calls. */
    round_trip(c, s, "still fine");
    free(l);
    free(s);
    free(a);
}

static void test_unknown_handle(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    static const char *const methods[] = {"read",      "write",    "close", "status",  "cancel",
                                          "localname", "peername", "flush", "shutdown"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        json_t *p = json_pack("{s:s}", "handle", "no-such-handle");
        if (strcmp(methods[i], "read") == 0)
            json_object_set_new(p, "nbytes", json_integer(1));
        if (strcmp(methods[i], "write") == 0)
            json_object_set_new(p, "data", json_string("AA=="));
        json_decref(h_call_err(c, methods[i], p, -32002));
    }
    char *h = h_connect(c, "127.0.0.1", h_peer_port(echo));
    h_close(c, h);
    json_decref(h_call_err(c, "read", json_pack("{s:s, s:i}", "handle", h, "nbytes", 1), -32002));
    json_decref(h_call_err(c, "close", json_pack("{s:s}", "handle", h), -32002));
    free(h);
}

static void test_os_errors(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    /* The echo peer holds this port already. */
    json_t *e = h_call_err(c, "listen",
                           json_pack("{s:s, s:i, s:b}", "host", "127.0.0.1", "port",
                                     h_peer_port(echo), "reuseaddr", 0),
                           -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "EADDRINUSE");
    json_decref(e);
    e = h_call_err(c, "connect", json_pack("{s:s}", "path", "/tmp/netd-test-no-such-socket"),
                   -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "ENOENT");
    json_decref(e);
    json_t *r = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(r, "handles")), 0);
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connect_ipv4, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connect_ipv6, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connect_unix, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connect_via_address, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connect_bind, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connect_background, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_listen_accept, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_accept_more, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_names, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_kind, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_unknown_handle, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_os_errors, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
