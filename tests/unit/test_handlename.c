/*
 * test_handlename.c - proto/handlename.c: every handle has exactly one
 * name. The parser takes what the formatter writes and nothing else; the
 * aliases strtoul() used to accept (sign, space, leading zeros) are refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlename.h"

/* Parses @len bytes of @s, expecting success with (@worker, @seq). */
static void expect_name(const char *s, size_t len, int worker, uint64_t seq)
{
    int w = -7;
    uint64_t q = 7;
    if (netd_handle_parse(s, len, &w, &q) != 0)
        fail_msg("'%.*s' (%zu bytes) was refused", (int)len, s, len);
    assert_int_equal(w, worker);
    assert_int_equal(q, seq);
}

/* Expects @len bytes of @s to be refused, with the outputs left alone. */
static void expect_refused(const char *s, size_t len)
{
    int w = -7;
    uint64_t q = 7;
    if (netd_handle_parse(s, len, &w, &q) == 0)
        fail_msg("'%.*s' (%zu bytes) was taken as worker %d seq %llx", (int)len, s, len, w,
                 (unsigned long long)q);
    assert_int_equal(w, -7);
    assert_int_equal(q, 7);
}

#define GOOD(s, w, q) expect_name((s), strlen(s), (w), (q))
#define BAD(s) expect_refused((s), strlen(s))
#define BAD_RAW(lit) expect_refused((lit), sizeof(lit) - 1)

static void test_canonical_names(void **state)
{
    (void)state;
    GOOD("h0.1", 0, 1);
    GOOD("h1.a", 1, 10);
    GOOD("h12.ff", 12, 255);
    GOOD("h255.10", 255, 16);
    GOOD("h9999.1", 9999, 1);
    GOOD("h0.ffffffffffffffff", 0, UINT64_MAX);
    GOOD("h9999.ffffffffffffffff", 9999, UINT64_MAX);
    GOOD("h7.123456789abcdef0", 7, 0x123456789abcdef0ull);
    assert_int_equal(strlen("h9999.ffffffffffffffff"), NETD_HANDLE_NAME_MAX);
}

/* The spellings of h0.1 that handle_parse's strtoul took. */
static void test_aliases_refused(void **state)
{
    (void)state;
    BAD("h+0.1");
    BAD("h 0.1");
    BAD("h00.1");
    BAD("h0.01");
    BAD("h-0.1");
    BAD("h\t0.1");
    BAD("h\n0.1");
    BAD("h000.1");
    BAD("h0.001");
    BAD("h01.a");
    BAD("h0x0.1");
    BAD("h0.0x1");
    BAD("h0.+1");
    BAD("h0. 1");
    BAD("h0 .1");
    BAD("h0.-1");
    BAD("h1e0.1");
}

static void test_empty_parts(void **state)
{
    (void)state;
    BAD("");
    BAD("h");
    BAD("h.");
    BAD("h.1");
    BAD("h0.");
    BAD("h0");
    BAD(".1");
    BAD("0.1");
    BAD("h..1");
    BAD("h0..1");
    expect_refused(NULL, 0);
    expect_refused(NULL, 4);
}

/* Sequence 0 is never given out, so no name has it. */
static void test_zero_sequence(void **state)
{
    (void)state;
    BAD("h0.0");
    BAD("h1.00");
    BAD("h1.0000000000000000");
}

static void test_overflow(void **state)
{
    (void)state;
    BAD("h10000.1");
    BAD("h99999.1");
    BAD("h4294967296.1");
    BAD("h18446744073709551617.1");
    BAD("h0.10000000000000000");    /* 17 digits: 2^64 */
    BAD("h0.fffffffffffffffff");    /* 17 digits */
    BAD("h0.1ffffffffffffffff");    /* would wrap to a valid-looking value */
    BAD("h9999.ffffffffffffffff0"); /* one byte past the longest name */
}

static void test_case_and_other_characters(void **state)
{
    (void)state;
    BAD("h0.A");
    BAD("h0.aB");
    BAD("h0.FFFF");
    BAD("H0.1");
    BAD("h0.g");
    BAD("h0.1g");
    BAD("h0,1");
    BAD("h0:1");
    BAD("h\xd9\xa0.1");     /* an Arabic-Indic zero */
    BAD("h0.\xef\xbc\x91"); /* a fullwidth one */
}

static void test_junk_around(void **state)
{
    (void)state;
    BAD("h0.1 ");
    BAD(" h0.1");
    BAD("h0.1\n");
    BAD("h0.1\r");
    BAD("h0.1x");
    BAD("h0.1.2");
    BAD("hh0.1");
    BAD("xh0.1");
    BAD("h0.1h0.1");
}

/* A NUL is a byte like any other, never the end of the name. */
static void test_embedded_nul(void **state)
{
    (void)state;
    BAD_RAW("h0.1\0");
    BAD_RAW("h0.1\0x");
    BAD_RAW("h0\0.1");
    BAD_RAW("h\0"
            "0.1");
    BAD_RAW("\0h0.1");
    BAD_RAW("h0.\0"
            "1");
    /* The length decides, not a NUL: a shorter len is a shorter name. */
    expect_name("h0.12", 4, 0, 1);
    expect_refused("h0.1", 3);
}

static void test_format(void **state)
{
    (void)state;
    char buf[NETD_HANDLE_NAME_MAX + 1];
    assert_int_equal(netd_handle_format(buf, sizeof buf, 0, 1), 4);
    assert_string_equal(buf, "h0.1");
    assert_int_equal(netd_handle_format(buf, sizeof buf, 31, 0xabc), 7);
    assert_string_equal(buf, "h31.abc");
    assert_int_equal(netd_handle_format(buf, sizeof buf, 9999, UINT64_MAX), NETD_HANDLE_NAME_MAX);
    assert_string_equal(buf, "h9999.ffffffffffffffff");
    assert_int_equal(netd_handle_format(buf, sizeof buf, 0, 0), -1);
    assert_string_equal(buf, "");
    assert_int_equal(netd_handle_format(buf, sizeof buf, -1, 1), -1);
    assert_int_equal(netd_handle_format(buf, sizeof buf, 10000, 1), -1);
    /* Too small a buffer: refused, never a cut name that is another handle's. */
    assert_int_equal(netd_handle_format(buf, 4, 0, 1), -1);
    assert_string_equal(buf, "");
    assert_int_equal(netd_handle_format(buf, 5, 0, 0x12), -1);
    assert_string_equal(buf, "");
    assert_int_equal(netd_handle_format(buf, 5, 0, 1), 4);
    assert_int_equal(netd_handle_format(NULL, 0, 0, 1), -1);
}

/* xorshift64*: a fixed sequence, so a failure repeats. */
static uint64_t next_random(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Every formatted name parses back to its values, and every string that
 * parses is exactly the formatted name of what it parsed to: one spelling. */
static void test_round_trip_and_uniqueness(void **state)
{
    (void)state;
    uint64_t rs = 0x9e3779b97f4a7c15ull;
    char buf[NETD_HANDLE_NAME_MAX + 1], again[NETD_HANDLE_NAME_MAX + 1];
    for (int i = 0; i < 100000; i++) {
        uint64_t r = next_random(&rs);
        int w = (int)(r % (NETD_HANDLE_WORKER_MAX + 1));
        uint64_t q = next_random(&rs) >> (r % 64);
        if (q == 0)
            q = 1;
        int n = netd_handle_format(buf, sizeof buf, w, q);
        assert_true(n > 0);
        expect_name(buf, (size_t)n, w, q);
    }
    /* Strings shaped like names (an 'h', digits, a dot, hex digits) with
     * a stray byte now and then, so that many parse and the rest come
     * close. */
    static const char digits[] = "0123456789", hex[] = "0123456789abcdef", stray[] = "0AF. +-x\0\n";
    int parsed = 0;
    for (int i = 0; i < 200000; i++) {
        char s[64];
        size_t len = 0, nd = next_random(&rs) % 6, nh = next_random(&rs) % 18;
        s[len++] = 'h';
        for (size_t k = 0; k < nd; k++)
            s[len++] = digits[next_random(&rs) % 10];
        s[len++] = '.';
        for (size_t k = 0; k < nh; k++)
            s[len++] = hex[next_random(&rs) % 16];
        if (next_random(&rs) % 4 == 0)
            s[next_random(&rs) % len] = stray[next_random(&rs) % (sizeof stray - 1)];
        int w;
        uint64_t q;
        if (netd_handle_parse(s, len, &w, &q) != 0)
            continue;
        parsed++;
        int n = netd_handle_format(again, sizeof again, w, q);
        if (n < 0 || (size_t)n != len || memcmp(again, s, len) != 0)
            fail_msg("'%.*s' parsed, but its name is '%s'", (int)len, s, again);
    }
    /* Enough of them parsed for the check to mean something. */
    if (parsed < 20000)
        fail_msg("only %d of 200000 names parsed", parsed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_names), cmocka_unit_test(test_aliases_refused),
        cmocka_unit_test(test_empty_parts),     cmocka_unit_test(test_zero_sequence),
        cmocka_unit_test(test_overflow),        cmocka_unit_test(test_case_and_other_characters),
        cmocka_unit_test(test_junk_around),     cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_format),          cmocka_unit_test(test_round_trip_and_uniqueness),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
