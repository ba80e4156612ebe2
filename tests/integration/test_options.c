/*
 * test_options.c - the "options" parameter of listen/connect/server: socket
 * options set before bind()/connect(), checked by real peers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static int try_connect(int family, const char *host, int port)
{
    int fd = socket(family, SOCK_STREAM, 0);
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, host, &in->sin_addr);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, host, &in6->sin6_addr);
        len = sizeof *in6;
    }
    int rc = connect(fd, (struct sockaddr *)&ss, len) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

static int listen_port(netd_client *c, const char *h)
{
    json_t *a = h_call(c, "localname", json_pack("{s:s}", "handle", h));
    int port = (int)h_int(a, "port");
    json_decref(a);
    return port;
}

static json_t *getopt_value(netd_client *c, const char *h, const char *opt)
{
    json_t *r = h_call(c, "getsockopt", json_pack("{s:s,s:s}", "handle", h, "option", opt));
    json_t *v = json_incref(json_object_get(r, "value"));
    json_decref(r);
    return v;
}

/* On "::" a listener is dual-stack unless ipv6-v6only is set before bind. */
static void test_v6only_before_bind(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    if (try_connect(AF_INET6, "::1", 9) == EADDRNOTAVAIL)
        skip();
    char *dual = h_new_handle(c, "listen", json_pack("{s:s,s:i}", "host", "::", "port", 0));
    assert_int_equal(try_connect(AF_INET, "127.0.0.1", listen_port(c, dual)), 0);

    char *only = h_new_handle(
        c, "listen",
        json_pack("{s:s,s:i,s:{s:b}}", "host", "::", "port", 0, "options", "ipv6-v6only", 1));
    int port = listen_port(c, only);
    json_t *v = getopt_value(c, only, "ipv6-v6only");
    assert_true(json_is_true(v));
    json_decref(v);
    assert_int_equal(try_connect(AF_INET, "127.0.0.1", port), ECONNREFUSED);
    assert_int_equal(try_connect(AF_INET6, "::1", port), 0);

    /* After bind the kernel refuses it, and netd says so. */
    json_t *e = h_call_err(
        c, "setsockopt",
        json_pack("{s:s,s:s,s:b}", "handle", dual, "option", "ipv6-v6only", "value", 1), -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "EINVAL");
    json_decref(e);
    free(dual);
    free(only);
}

static void test_buffer_sizes_before_connect(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct peer *p = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char *h =
        h_new_handle(c, "connect",
                     json_pack("{s:s,s:i,s:{s:i,s:b}}", "host", h_peer_host(p), "port",
                               h_peer_port(p), "options", "so-rcvbuf", 65536, "tcp-nodelay", 1));
    json_t *v = getopt_value(c, h, "so-rcvbuf");
    /* Linux doubles the value it is given. */
    assert_int_equal(json_integer_value(v), 131072);
    json_decref(v);
    v = getopt_value(c, h, "tcp-nodelay");
    assert_true(json_is_true(v));
    json_decref(v);
    h_write(c, h, "ping", 4);
    h_read_expect(c, h, "ping", 4, 5);
    free(h);
}

static void test_bad_options(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    json_decref(h_call_err(
        c, "listen",
        json_pack("{s:s,s:i,s:{s:i}}", "host", "127.0.0.1", "port", 0, "options", "so-type", 1),
        -32602));
    json_decref(h_call_err(c, "listen",
                           json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", 0, "options",
                                     "so-rcvbuf", "big"),
                           -32602));
    json_decref(h_call_err(c, "listen",
                           json_pack("{s:s,s:i,s:[]}", "host", "127.0.0.1", "port", 0, "options"),
                           -32602));
    json_decref(h_call_err(c, "listen",
                           json_pack("{s:s,s:i,s:s,s:{s:b}}", "host", "127.0.0.1", "port", 0,
                                     "type", "datagram", "options", "tcp-nodelay", 1),
                           -32003));
    /* An IPv6 option on an IPv4 address is skipped, not an error. */
    char *h = h_new_handle(c, "listen",
                           json_pack("{s:s,s:i,s:{s:b}}", "host", "127.0.0.1", "port", 0, "options",
                                     "ipv6-v6only", 1));
    free(h);
    /* Nothing leaked: only that listener exists. */
    json_t *st = h_call(c, "stats", NULL);
    assert_int_equal(h_int(json_object_get(st, "handles"), "total"), 1);
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_v6only_before_bind, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_buffer_sizes_before_connect, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_bad_options, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
