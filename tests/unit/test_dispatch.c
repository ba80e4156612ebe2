/*
 * test_dispatch.c - every method of proto's table (which test_methods.c
 * holds equal to proto/netd.openrpc.json) has a handler in netd: nothing is
 * documented but not implemented, or implemented but not documented.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "control.h"

static void test_every_method_has_a_handler(void **state)
{
    assert_int_equal(dispatch_complete(), 1);
    for (int i = 0; i < NETD_M__COUNT; i++) {
        assert_non_null(netd_methods[i].name);
        assert_int_equal(netd_methods[i].id, i);
    }
}

int main(void)
{
    netd_cfg.log_level = LOG_ERR;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_method_has_a_handler),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
