/*
 * test_path.c - proto/path.c: paths in requests are absolute (sockets may
 * also be @abstract), without NUL bytes, and short enough for the kernel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <string.h>

#include "path.h"

static int check(const char *s, enum netd_path_kind kind, char *why)
{
    return netd_path_check(s, strlen(s), kind, why, 256);
}

static void test_absolute_and_abstract(void **state)
{
    char why[256];
    assert_int_equal(check("/run/netd/x.sock", NETD_PATH_SOCKET, why), 0);
    assert_int_equal(check("@netd", NETD_PATH_SOCKET, why), 0);
    assert_int_equal(check("/etc/ssl/certs", NETD_PATH_FILE, why), 0);
    /* An abstract name is no file. */
    assert_int_equal(check("@ca.pem", NETD_PATH_FILE, why), -1);
    assert_non_null(strstr(why, "must be an absolute path"));
}

static void test_relative(void **state)
{
    static const char *const rel[] = {"x.sock", "./x.sock", "../x", "~/x", "@", ""};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        char why[256] = "";
        assert_int_equal(check(rel[i], NETD_PATH_SOCKET, why), -1);
        assert_true(why[0] != '\0');
        assert_int_equal(check(rel[i], NETD_PATH_FILE, why), -1);
    }
    char why[256];
    check("ca.pem", NETD_PATH_FILE, why);
    assert_string_equal(why, "must be an absolute path, not \"ca.pem\": netd does not share the "
                             "caller's working directory");
}

static void test_nul_and_length(void **state)
{
    char why[256];
    assert_int_equal(netd_path_check("/a\0b", 4, NETD_PATH_FILE, why, sizeof why), -1);
    assert_non_null(strstr(why, "NUL"));
    static char p[PATH_MAX + 2];
    memset(p, 'a', sizeof p - 1);
    p[0] = '/';
    assert_int_equal(netd_path_check(p, NETD_SOCKET_PATH_MAX, NETD_PATH_SOCKET, why, 256), 0);
    assert_int_equal(netd_path_check(p, NETD_SOCKET_PATH_MAX + 1, NETD_PATH_SOCKET, why, 256), -1);
    assert_non_null(strstr(why, "107"));
    assert_int_equal(netd_path_check(p, PATH_MAX - 1, NETD_PATH_FILE, why, 256), 0);
    assert_int_equal(netd_path_check(p, PATH_MAX, NETD_PATH_FILE, why, 256), -1);
    /* A short message buffer still ends in a NUL. */
    char tiny[8];
    assert_int_equal(netd_path_check("x", 1, NETD_PATH_FILE, tiny, sizeof tiny), -1);
    assert_int_equal(strlen(tiny), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absolute_and_abstract),
        cmocka_unit_test(test_relative),
        cmocka_unit_test(test_nul_and_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
