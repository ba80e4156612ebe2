/*
 * test_idmap.c - the per-worker id map: put/get/del, growth, tombstones,
 * and iteration that tolerates deleting the current entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core.h"

static void test_put_get_del(void **state)
{
    struct idmap m = {0};
    int a, b;
    assert_null(idmap_get(&m, 1));
    assert_int_equal(idmap_put(&m, 1, &a), 0);
    assert_int_equal(idmap_put(&m, 2, &b), 0);
    assert_ptr_equal(idmap_get(&m, 1), &a);
    assert_ptr_equal(idmap_get(&m, 2), &b);
    assert_ptr_equal(idmap_del(&m, 1), &a);
    assert_null(idmap_get(&m, 1));
    assert_null(idmap_del(&m, 1));
    assert_ptr_equal(idmap_get(&m, 2), &b);
    assert_int_equal(m.count, 1);
    idmap_free(&m);
}

/* Ids are never reused in netd, so a long run of put/del leaves tombstones
 * that must not fill the table or break lookups. */
static void test_churn(void **state)
{
    struct idmap m = {0};
    static int vals[64];
    uint64_t next = 1;
    for (int round = 0; round < 10000; round++) {
        uint64_t id = next++;
        assert_int_equal(idmap_put(&m, id, &vals[id % 64]), 0);
        if (id > 32)
            assert_non_null(idmap_del(&m, id - 32));
    }
    assert_int_equal(m.count, 32);
    assert_true(m.cap <= 256);
    for (uint64_t id = next - 32; id < next; id++)
        assert_ptr_equal(idmap_get(&m, id), &vals[id % 64]);
    assert_null(idmap_get(&m, next - 33));
    idmap_free(&m);
}

static void test_many(void **state)
{
    struct idmap m = {0};
    static int v;
    for (uint64_t id = 1; id <= 100000; id++)
        assert_int_equal(idmap_put(&m, id * 7919, &v), 0);
    for (uint64_t id = 1; id <= 100000; id++)
        assert_ptr_equal(idmap_get(&m, id * 7919), &v);
    assert_null(idmap_get(&m, 3));
    idmap_free(&m);
}

static void test_iterate_and_delete(void **state)
{
    struct idmap m = {0};
    static int vals[100];
    for (int i = 0; i < 100; i++)
        idmap_put(&m, (uint64_t)i + 1, &vals[i]);
    size_t pos = 0, seen = 0;
    int *p;
    while ((p = idmap_next(&m, &pos))) {
        seen++;
        idmap_del(&m, (uint64_t)(p - vals) + 1);
    }
    assert_int_equal(seen, 100);
    assert_int_equal(m.count, 0);
    pos = 0;
    assert_null(idmap_next(&m, &pos));
    idmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_iterate_and_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
