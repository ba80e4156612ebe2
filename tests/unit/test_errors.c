/*
 * test_errors.c - the error table of proto/errors.c against contract
 * section 5, and the errno / getaddrinfo names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netdb.h>
#include <string.h>

#include "errors.h"

/* Written out from the contract rather than from errors.c, so that a typo in
 * either one shows up as a difference. */
static const struct {
    enum netd_err kind;
    int code;
    const char *name;
} contract[] = {
    {NETD_E_PARSE, -32700, "parse error"},
    {NETD_E_INVALID_REQUEST, -32600, "invalid request"},
    {NETD_E_METHOD, -32601, "method not found"},
    {NETD_E_PARAMS, -32602, "invalid params"},
    {NETD_E_INTERNAL, -32603, "internal error"},
    {NETD_E_OS, -32000, "os"},
    {NETD_E_TIMEOUT, -32001, "timeout"},
    {NETD_E_UNKNOWN_HANDLE, -32002, "unknown handle"},
    {NETD_E_WRONG_KIND, -32003, "wrong kind"},
    {NETD_E_ABORTED, -32004, "aborted"},
    {NETD_E_DENIED, -32005, "denied"},
    {NETD_E_LIMIT, -32006, "limit"},
    {NETD_E_RESOLVE, -32007, "resolve"},
    {NETD_E_TLS, -32008, "tls"},
};
#define NCONTRACT (sizeof contract / sizeof contract[0])

static void test_every_kind_has_contract_code_and_name(void **state)
{
    (void)state;
    assert_int_equal(NCONTRACT, NETD_E__COUNT - 1);
    for (size_t i = 0; i < NCONTRACT; i++) {
        assert_int_equal(netd_err_code(contract[i].kind), contract[i].code);
        assert_string_equal(netd_err_name(contract[i].kind), contract[i].name);
    }
}

static void test_code_maps_back_to_kind(void **state)
{
    (void)state;
    for (size_t i = 0; i < NCONTRACT; i++)
        assert_int_equal(netd_err_from_code(contract[i].code), contract[i].kind);
    for (int k = 0; k < NETD_E__COUNT; k++)
        assert_int_equal(netd_err_from_code(netd_err_code((enum netd_err)k)), k);
}

static void test_codes_are_distinct(void **state)
{
    (void)state;
    for (int a = 0; a < NETD_E__COUNT; a++) {
        for (int b = a + 1; b < NETD_E__COUNT; b++) {
            assert_int_not_equal(netd_err_code((enum netd_err)a), netd_err_code((enum netd_err)b));
            assert_string_not_equal(netd_err_name((enum netd_err)a),
                                    netd_err_name((enum netd_err)b));
        }
    }
}

static void test_ok_and_foreign_codes(void **state)
{
    (void)state;
    assert_int_equal(netd_err_code(NETD_OK), 0);
    assert_int_equal(netd_err_from_code(0), NETD_OK);
    static const int foreign[] = {-32009, -32099, -32768, -32604, -31999, 1, 200, -1};
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        assert_int_equal(netd_err_from_code(foreign[i]), NETD_E_INTERNAL);
}

static void test_out_of_range_kind_is_internal(void **state)
{
    (void)state;
    assert_int_equal(netd_err_code(NETD_E__COUNT), -32603);
    assert_int_equal(netd_err_code((enum netd_err) - 1), -32603);
    assert_string_equal(netd_err_name((enum netd_err)1000), "internal error");
}

#define ERRNO_CASE(e)                                                                              \
    {                                                                                              \
        e, #e                                                                                      \
    }

static void test_socket_errno_names(void **state)
{
    (void)state;
    static const struct {
        int value;
        const char *name;
    } cases[] = {
        ERRNO_CASE(ECONNREFUSED), ERRNO_CASE(ECONNRESET),      ERRNO_CASE(EPIPE),
        ERRNO_CASE(EADDRINUSE),   ERRNO_CASE(EADDRNOTAVAIL),   ERRNO_CASE(ENETUNREACH),
        ERRNO_CASE(EHOSTUNREACH), ERRNO_CASE(ETIMEDOUT),       ERRNO_CASE(EACCES),
        ERRNO_CASE(EPERM),        ERRNO_CASE(ENOENT),          ERRNO_CASE(EINVAL),
        ERRNO_CASE(EMFILE),       ERRNO_CASE(ENFILE),          ERRNO_CASE(ENOBUFS),
        ERRNO_CASE(ENOMEM),       ERRNO_CASE(EAGAIN),          ERRNO_CASE(EINPROGRESS),
        ERRNO_CASE(EALREADY),     ERRNO_CASE(EISCONN),         ERRNO_CASE(ENOTCONN),
        ERRNO_CASE(ENOTSOCK),     ERRNO_CASE(EAFNOSUPPORT),    ERRNO_CASE(EPROTONOSUPPORT),
        ERRNO_CASE(EOPNOTSUPP),   ERRNO_CASE(EMSGSIZE),        ERRNO_CASE(ENOPROTOOPT),
        ERRNO_CASE(EBADF),        ERRNO_CASE(EINTR),           ERRNO_CASE(ECONNABORTED),
        ERRNO_CASE(ENAMETOOLONG), ERRNO_CASE(ENOTDIR),         ERRNO_CASE(EROFS),
        ERRNO_CASE(EDESTADDRREQ), ERRNO_CASE(ESHUTDOWN),       ERRNO_CASE(EPROTOTYPE),
        ERRNO_CASE(ENETDOWN),     ERRNO_CASE(EHOSTDOWN),       ERRNO_CASE(ELOOP),
        ERRNO_CASE(EFAULT),       ERRNO_CASE(ESOCKTNOSUPPORT), ERRNO_CASE(ENETRESET),
        ERRNO_CASE(EIO),          ERRNO_CASE(ENOSPC),          ERRNO_CASE(ECANCELED),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(netd_errno_name(cases[i].value), cases[i].name);
}

/* Where a value has two names, the one socket man pages use wins. */
static void test_errno_aliases(void **state)
{
    (void)state;
    assert_string_equal(netd_errno_name(EWOULDBLOCK), "EAGAIN");
    assert_string_equal(netd_errno_name(ENOTSUP), "EOPNOTSUPP");
}

static void test_unknown_errno(void **state)
{
    (void)state;
    assert_string_equal(netd_errno_name(0), "EUNKNOWN");
    assert_string_equal(netd_errno_name(-1), "EUNKNOWN");
    assert_string_equal(netd_errno_name(99999), "EUNKNOWN");
}

/* glibc knows the name of every errno it defines: netd must name each one
 * the same way, so clients see the names they know from C. */
static void test_errno_names_agree_with_libc(void **state)
{
    (void)state;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    int checked = 0;
    for (int e = 1; e < 200; e++) {
        const char *libc = strerrorname_np(e);
        if (!libc)
            continue;
        assert_string_equal(netd_errno_name(e), libc);
        checked++;
    }
    assert_true(checked > 100);
#else
    skip();
#endif
}

#define GAI_CASE(e)                                                                                \
    {                                                                                              \
        e, #e                                                                                      \
    }

static void test_gai_names(void **state)
{
    (void)state;
    static const struct {
        int value;
        const char *name;
    } cases[] = {
        GAI_CASE(EAI_NONAME),     GAI_CASE(EAI_AGAIN),    GAI_CASE(EAI_FAIL),
        GAI_CASE(EAI_FAMILY),     GAI_CASE(EAI_SOCKTYPE), GAI_CASE(EAI_SERVICE),
        GAI_CASE(EAI_MEMORY),     GAI_CASE(EAI_SYSTEM),   GAI_CASE(EAI_OVERFLOW),
        GAI_CASE(EAI_BADFLAGS),
#ifdef EAI_NODATA
        GAI_CASE(EAI_NODATA),
#endif
#ifdef EAI_ADDRFAMILY
        GAI_CASE(EAI_ADDRFAMILY),
#endif
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(netd_gai_name(cases[i].value), cases[i].name);
}

static void test_unknown_gai(void **state)
{
    (void)state;
    assert_string_equal(netd_gai_name(0), "EAI_UNKNOWN");
    assert_string_equal(netd_gai_name(12345), "EAI_UNKNOWN");
    assert_string_equal(netd_gai_name(-12345), "EAI_UNKNOWN");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_kind_has_contract_code_and_name),
        cmocka_unit_test(test_code_maps_back_to_kind),
        cmocka_unit_test(test_codes_are_distinct),
        cmocka_unit_test(test_ok_and_foreign_codes),
        cmocka_unit_test(test_out_of_range_kind_is_internal),
        cmocka_unit_test(test_socket_errno_names),
        cmocka_unit_test(test_errno_aliases),
        cmocka_unit_test(test_unknown_errno),
        cmocka_unit_test(test_errno_names_agree_with_libc),
        cmocka_unit_test(test_gai_names),
        cmocka_unit_test(test_unknown_gai),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
