/*
 * test_sockaddr.c - addresses to and from the protocol's address objects,
 * port parameters, unix paths (abstract and filesystem), address lists, and
 * the handle names the daemon routes by.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>

#include "core.h"

static void test_inet_json(void **state)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(8080)};
    inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
    json_t *a = sockaddr_json((struct sockaddr *)&in, sizeof in);
    json_t *want = json_pack("{s:s,s:s,s:i}", "family", "inet", "host", "192.0.2.7", "port", 8080);
    assert_true(json_equal(a, want));
    json_decref(a);
    json_decref(want);

    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(443)};
    inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
    a = sockaddr_json((struct sockaddr *)&in6, sizeof in6);
    want = json_pack("{s:s,s:s,s:i}", "family", "inet6", "host", "2001:db8::1", "port", 443);
    assert_true(json_equal(a, want));
    json_decref(a);
    json_decref(want);
}

/* "@name" is abstract: sun_path[0] is NUL and the length covers exactly the
 * name, no trailing NULs (contract section 1); it comes back as "@name". */
static void test_unix_abstract_and_path(void **state)
{
    struct sockaddr_storage ss;
    socklen_t len;
    assert_int_equal(sockaddr_unix("@netd", &ss, &len), 0);
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    assert_int_equal(un->sun_path[0], '\0');
    assert_memory_equal(un->sun_path + 1, "netd", 4);
    assert_int_equal(len, offsetof(struct sockaddr_un, sun_path) + 5);
    json_t *a = sockaddr_json((struct sockaddr *)&ss, len);
    assert_string_equal(json_string_value(json_object_get(a, "path")), "@netd");
    json_decref(a);

    assert_int_equal(sockaddr_unix("/run/netd.sock", &ss, &len), 0);
    a = sockaddr_json((struct sockaddr *)&ss, len);
    assert_string_equal(json_string_value(json_object_get(a, "path")), "/run/netd.sock");
    assert_string_equal(json_string_value(json_object_get(a, "family")), "unix");
    json_decref(a);

    char longpath[200];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = '\0';
    assert_int_equal(sockaddr_unix(longpath, &ss, &len), -ENAMETOOLONG);
    assert_int_equal(sockaddr_unix("", &ss, &len), -EINVAL);
    assert_int_equal(sockaddr_unix("@", &ss, &len), -EINVAL);
}

static void test_ports(void **state)
{
    char buf[64];
    json_t *p = json_integer(80);
    assert_int_equal(port_string(p, buf, sizeof buf), 0);
    assert_string_equal(buf, "80");
    assert_int_equal(port_number(p, SOCK_STREAM), 80);
    json_decref(p);
    p = json_string("http");
    assert_int_equal(port_number(p, SOCK_STREAM), 80);
    json_decref(p);
    p = json_string("8443");
    assert_int_equal(port_number(p, SOCK_STREAM), 8443);
    json_decref(p);
    p = json_string("no-such-service-anywhere");
    assert_int_equal(port_number(p, SOCK_STREAM), -1);
    json_decref(p);
    p = json_integer(65536);
    assert_int_equal(port_string(p, buf, sizeof buf), -1);
    json_decref(p);
    p = json_integer(-1);
    assert_int_equal(port_string(p, buf, sizeof buf), -1);
    json_decref(p);
    p = json_string("");
    assert_int_equal(port_string(p, buf, sizeof buf), -1);
    json_decref(p);
}

static void add(struct addrlist *al, int family, const char *host)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        inet_pton(AF_INET, host, &in->sin_addr);
        len = sizeof *in;
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        inet_pton(AF_INET6, host, &in6->sin6_addr);
        len = sizeof *in6;
    }
    int st = SOCK_STREAM;
    struct addrlist one = {&ss, &len, &st, 1, NULL};
    struct addrlist both = {0};
    struct addrlist old = *al;
    both.count = old.count + 1;
    both.addrs = calloc(both.count, sizeof *both.addrs);
    both.lens = calloc(both.count, sizeof *both.lens);
    both.socktypes = calloc(both.count, sizeof *both.socktypes);
    for (size_t i = 0; i < old.count; i++) {
        both.addrs[i] = old.addrs[i];
        both.lens[i] = old.lens[i];
        both.socktypes[i] = old.socktypes[i];
    }
    both.addrs[old.count] = one.addrs[0];
    both.lens[old.count] = len;
    both.socktypes[old.count] = st;
    addrlist_free(al);
    *al = both;
}

/* listen without host tries "::" (dual stack) first; the order within a
 * family is kept. Port changes reach every inet address. */
static void test_addrlist_order_and_port(void **state)
{
    struct addrlist al = {0};
    add(&al, AF_INET, "0.0.0.0");
    add(&al, AF_INET, "192.0.2.1");
    add(&al, AF_INET6, "::");
    add(&al, AF_INET6, "2001:db8::2");
    addrlist_inet6_first(&al);
    const char *want[] = {"::", "2001:db8::2", "0.0.0.0", "192.0.2.1"};
    addrlist_set_port(&al, 9999);
    for (size_t i = 0; i < 4; i++) {
        json_t *a = sockaddr_json((struct sockaddr *)&al.addrs[i], al.lens[i]);
        assert_string_equal(json_string_value(json_object_get(a, "host")), want[i]);
        assert_int_equal(json_integer_value(json_object_get(a, "port")), 9999);
        json_decref(a);
    }
    struct addrlist copy;
    assert_int_equal(addrlist_copy(&copy, &al, 1, 2), 0);
    assert_int_equal(copy.count, 2);
    assert_int_equal(copy.addrs[0].ss_family, AF_INET6);
    assert_int_equal(copy.addrs[1].ss_family, AF_INET);
    addrlist_free(&copy);
    addrlist_free(&al);
}

int main(void)
{
    netd_cfg.log_level = LOG_ERR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inet_json),
        cmocka_unit_test(test_unix_abstract_and_path),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_addrlist_order_and_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
