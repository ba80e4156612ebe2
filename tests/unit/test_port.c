/*
 * test_port.c - proto/port.c: ports are integers 0..65535 or service
 * names, strictly, as numbers and as strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <sys/socket.h>

#include "port.h"

static int parse_str(const char *s, int socktype, long *out)
{
    uint16_t p = 4242;
    int rc = netd_port_parse_str(s, socktype, &p);
    if (rc != NETD_PORT_OK)
        assert_int_equal(p, 4242); /* untouched on failure */
    *out = p;
    return rc;
}

static void test_numbers_as_strings(void **state)
{
    long p;
    assert_int_equal(parse_str("0", 0, &p), NETD_PORT_OK);
    assert_int_equal(p, 0);
    assert_int_equal(parse_str("80", SOCK_STREAM, &p), NETD_PORT_OK);
    assert_int_equal(p, 80);
    assert_int_equal(parse_str("65535", SOCK_DGRAM, &p), NETD_PORT_OK);
    assert_int_equal(p, 65535);
    assert_int_equal(parse_str("00080", 0, &p), NETD_PORT_OK);
    assert_int_equal(p, 80);
}

/* Each of these meant another port through getaddrinfo() or strtoul(). */
static void test_bad_strings(void **state)
{
    static const char *const bad[] = {
        "65536",
        "65537",
        "72543",
        "99999",
        "000080",
        "-1",
        "+80",
        " 80",
        "80 ",
        "8 0",
        "80.0",
        "",
        "-",
        "_x",
        "a b",
        "http\n",
        "a-very-long-service-name-beyond-32-chars",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        long p;
        int rc = parse_str(bad[i], SOCK_STREAM, &p);
        if (rc != NETD_PORT_BAD)
            fail_msg("\"%s\" gave %d, not NETD_PORT_BAD", bad[i], rc);
        json_t *v = json_string(bad[i]);
        assert_int_equal(netd_port_valid(v), 0);
        json_decref(v);
    }
    assert_int_equal(netd_port_parse_str(NULL, 0, &(uint16_t){0}), NETD_PORT_BAD);
}

static void test_service_names(void **state)
{
    long p;
    assert_int_equal(parse_str("http", SOCK_STREAM, &p), NETD_PORT_OK);
    assert_int_equal(p, 80);
    assert_int_equal(parse_str("domain", SOCK_DGRAM, &p), NETD_PORT_OK);
    assert_int_equal(p, 53);
    assert_int_equal(parse_str("https", 0, &p), NETD_PORT_OK);
    assert_int_equal(p, 443);
    /* Shaped like names (RFC 6335 lets a name begin with a digit, as in
     * "9pfs"), so they are looked up, and no services database has them. */
    static const char *const unknown[] = {"no-such-service-here", "0x50", "1e3", "80abc"};
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        assert_int_equal(parse_str(unknown[i], SOCK_STREAM, &p), NETD_PORT_UNKNOWN);
    json_t *v = json_string("no-such-service-here");
    assert_int_equal(netd_port_valid(v), 1);
    json_decref(v);
}

static void test_json_values(void **state)
{
    uint16_t p = 0;
    json_t *v = json_integer(443);
    assert_int_equal(netd_port_parse(v, SOCK_STREAM, &p), NETD_PORT_OK);
    assert_int_equal(p, 443);
    assert_int_equal(netd_port_valid(v), 1);
    json_decref(v);
    json_t *bad[] = {json_integer(65536),
                     json_integer(-1),
                     json_real(80.0),
                     json_true(),
                     json_null(),
                     json_object(),
                     json_array(),
                     json_string("65537"),
                     json_stringn("80\0"
                                  "1",
                                  4)};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = 7;
        assert_int_equal(netd_port_parse(bad[i], SOCK_STREAM, &p), NETD_PORT_BAD);
        assert_int_equal(p, 7);
        assert_int_equal(netd_port_valid(bad[i]), 0);
        json_decref(bad[i]);
    }
    v = json_string("8080");
    assert_int_equal(netd_port_parse(v, 0, &p), NETD_PORT_OK);
    assert_int_equal(p, 8080);
    json_decref(v);
    assert_non_null(strstr(netd_port_rule(), "65535"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_as_strings),
        cmocka_unit_test(test_bad_strings),
        cmocka_unit_test(test_service_names),
        cmocka_unit_test(test_json_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
