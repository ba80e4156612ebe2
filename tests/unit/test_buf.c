/*
 * test_buf.c - the byte buffer: append, consume, reuse of consumed space
 * without growing, and growth when needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core.h"

static void test_append_consume(void **state)
{
    struct buf b = {0};
    assert_int_equal(buf_append(&b, "hello ", 6), 0);
    assert_int_equal(buf_append(&b, "world", 5), 0);
    assert_int_equal(buf_used(&b), 11);
    assert_memory_equal(b.data + b.off, "hello world", 11);
    buf_consume(&b, 6);
    assert_int_equal(buf_used(&b), 5);
    assert_memory_equal(b.data + b.off, "world", 5);
    buf_consume(&b, 5);
    assert_int_equal(buf_used(&b), 0);
    assert_int_equal(b.off, 0); /* empty: back to the start */
    buf_free(&b);
}

/* A buffer drained about as fast as it is filled reuses its memory. */
static void test_reuse_without_growth(void **state)
{
    struct buf b = {0};
    char chunk[1000];
    memset(chunk, 'x', sizeof chunk);
    buf_append(&b, chunk, sizeof chunk);
    size_t cap = b.cap;
    for (int i = 0; i < 1000; i++) {
        buf_append(&b, chunk, 700);
        buf_consume(&b, 700);
    }
    assert_int_equal(b.cap, cap);
    assert_int_equal(buf_used(&b), sizeof chunk);
    buf_free(&b);
}

static void test_growth_keeps_bytes(void **state)
{
    struct buf b = {0};
    uint8_t pattern[256];
    for (int i = 0; i < 256; i++)
        pattern[i] = (uint8_t)i;
    for (int i = 0; i < 1000; i++)
        buf_append(&b, pattern, sizeof pattern);
    buf_consume(&b, 128);
    assert_int_equal(buf_reserve(&b, 1 << 20), 0);
    assert_true(b.cap - b.len >= (1u << 20));
    assert_int_equal(buf_used(&b), 1000 * 256 - 128);
    assert_int_equal(b.data[b.off], 128);
    assert_int_equal(b.data[b.off + 128], 0);
    buf_free(&b);
    assert_null(b.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_consume),
        cmocka_unit_test(test_reuse_without_growth),
        cmocka_unit_test(test_growth_keeps_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
