/*
 * test_line.c - the line splitter of proto/line.c: lines however the bytes
 * are cut into reads, over-long lines, and the memory it keeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "line.h"

/* Takes the next line and checks it is @want (a C string). */
static void expect_line(struct netd_line *lb, const char *want)
{
    char *line = NULL;
    size_t len = 0;
    assert_int_equal(netd_line_next(lb, &line, &len), NETD_LINE_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(line, want, len);
    assert_int_equal(line[len], '\0');
}

static void expect_none(struct netd_line *lb)
{
    char *line;
    size_t len;
    assert_int_equal(netd_line_next(lb, &line, &len), NETD_LINE_NONE);
}

static void expect_toolong(struct netd_line *lb)
{
    char *line;
    size_t len;
    assert_int_equal(netd_line_next(lb, &line, &len), NETD_LINE_TOOLONG);
}

static void feed(struct netd_line *lb, const char *s)
{
    assert_int_equal(netd_line_feed(lb, s, strlen(s)), 0);
}

static void test_one_line(void **state)
{
    (void)state;
    struct netd_line lb;
    netd_line_init(&lb, 100);
    expect_none(&lb);
    feed(&lb, "{\"a\":1}\n");
    expect_line(&lb, "{\"a\":1}");
    expect_none(&lb);
    assert_int_equal(netd_line_buffered(&lb), 0);
    netd_line_free(&lb);
}

static void test_many_lines_in_one_feed(void **state)
{
    (void)state;
    struct netd_line lb;
    netd_line_init(&lb, 100);
    feed(&lb, "one\ntwo\n\nthree\r\nfour");
    expect_line(&lb, "one");
    expect_line(&lb, "two");
    expect_line(&lb, "");
    expect_line(&lb, "three\r");
    expect_none(&lb);
    assert_int_equal(netd_line_buffered(&lb), 4);
    feed(&lb, "\n");
    expect_line(&lb, "four");
    expect_none(&lb);
    netd_line_free(&lb);
}

/* Every way of cutting the input in two must give the same lines. */
static void test_every_split_point(void **state)
{
    (void)state;
    static const char input[] = "alpha\nbe\n\ngamma-delta\nz\n";
    static const char *const want[] = {"alpha", "be", "", "gamma-delta", "z"};
    size_t n = strlen(input);
    for (size_t cut = 0; cut <= n; cut++) {
        struct netd_line lb;
        netd_line_init(&lb, 64);
        char *line;
        size_t len, got = 0;
        assert_int_equal(netd_line_feed(&lb, input, cut), 0);
        while (netd_line_next(&lb, &line, &len) == NETD_LINE_OK) {
            assert_string_equal(line, want[got]);
            got++;
        }
        assert_int_equal(netd_line_feed(&lb, input + cut, n - cut), 0);
        while (netd_line_next(&lb, &line, &len) == NETD_LINE_OK) {
            assert_string_equal(line, want[got]);
            got++;
        }
        assert_int_equal(got, 5);
        netd_line_free(&lb);
    }
}

static void test_byte_by_byte(void **state)
{
    (void)state;
    static const char input[] = "{\"jsonrpc\":\"2.0\"}\n\nx\ny\r\n";
    static const char *const want[] = {"{\"jsonrpc\":\"2.0\"}", "", "x", "y\r"};
    struct netd_line lb;
    netd_line_init(&lb, 32);
    size_t got = 0;
    for (size_t i = 0; i < strlen(input); i++) {
        assert_int_equal(netd_line_feed(&lb, input + i, 1), 0);
        char *line;
        size_t len;
        int rc = netd_line_next(&lb, &line, &len);
        if (input[i] == '\n') {
            assert_int_equal(rc, NETD_LINE_OK);
            assert_string_equal(line, want[got++]);
        } else {
            assert_int_equal(rc, NETD_LINE_NONE);
        }
    }
    assert_int_equal(got, 4);
    netd_line_free(&lb);
}

/* A NUL inside a line is data, not its end; len tells the truth. */
static void test_embedded_nul(void **state)
{
    (void)state;
    struct netd_line lb;
    netd_line_init(&lb, 16);
    assert_int_equal(netd_line_feed(&lb, "a\0b\n", 4), 0);
    char *line;
    size_t len;
    assert_int_equal(netd_line_next(&lb, &line, &len), NETD_LINE_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(line, "a\0b", 3);
    netd_line_free(&lb);
}

static void test_exactly_max_is_accepted(void **state)
{
    (void)state;
    struct netd_line lb;
    netd_line_init(&lb, 4);
    feed(&lb, "abcd");
    expect_none(&lb);
    feed(&lb, "\nabcde\nok\n");
    expect_line(&lb, "abcd");
    expect_toolong(&lb);
    expect_line(&lb, "ok");
    expect_none(&lb);
    netd_line_free(&lb);
}

/* A line that is complete in the buffer but too long is skipped whole. */
static void test_toolong_then_good_lines(void **state)
{
    (void)state;
    struct netd_line lb;
    netd_line_init(&lb, 8);
    feed(&lb, "short\nthis line is too long\nafter\n\nlast");
    expect_line(&lb, "short");
    expect_toolong(&lb);
    expect_line(&lb, "after");
    expect_line(&lb, "");
    expect_none(&lb);
    feed(&lb, "\n");
    expect_line(&lb, "last");
    netd_line_free(&lb);
}

/* Reported as soon as it is past max, before its newline arrives, and only
 * once however many more pieces of it come. */
static void test_toolong_reported_early_and_once(void **state)
{
    (void)state;
    struct netd_line lb;
    netd_line_init(&lb, 8);
    feed(&lb, "0123456");
    expect_none(&lb);
    feed(&lb, "789");
    expect_toolong(&lb);
    expect_none(&lb);
    assert_int_equal(netd_line_buffered(&lb), 0);
    for (int i = 0; i < 100; i++) {
        feed(&lb, "more of the same long line");
        expect_none(&lb);
        assert_int_equal(netd_line_buffered(&lb), 0);
    }
    feed(&lb, "end of it\nnext\n");
    expect_line(&lb, "next");
    expect_none(&lb);
    netd_line_free(&lb);
}

/* The same, fed one byte at a time. */
static void test_toolong_byte_by_byte(void **state)
{
    (void)state;
    static const char input[] = "abcdefghijklmnop\nok\nxyzxyzxyzxyz\nfine\n";
    struct netd_line lb;
    netd_line_init(&lb, 5);
    int toolong = 0;
    const char *good[2] = {"ok", "fine"};
    size_t got = 0;
    for (size_t i = 0; i < strlen(input); i++) {
        assert_int_equal(netd_line_feed(&lb, input + i, 1), 0);
        char *line;
        size_t len;
        int rc;
        while ((rc = netd_line_next(&lb, &line, &len)) != NETD_LINE_NONE) {
            if (rc == NETD_LINE_TOOLONG) {
                toolong++;
                continue;
            }
            assert_int_equal(rc, NETD_LINE_OK);
            assert_string_equal(line, good[got++]);
        }
    }
    assert_int_equal(toolong, 2);
    assert_int_equal(got, 2);
    netd_line_free(&lb);
}

/* Megabytes of one over-long line must not make the buffer grow past max
 * plus one read. */
static void test_toolong_memory_bounded(void **state)
{
    (void)state;
    enum { MAX = 1024, CHUNK = 4096 };
    char chunk[CHUNK];
    memset(chunk, 'x', sizeof chunk);
    struct netd_line lb;
    netd_line_init(&lb, MAX);
    int toolong = 0;
    for (int i = 0; i < 4096; i++) {
        assert_int_equal(netd_line_feed(&lb, chunk, sizeof chunk), 0);
        assert_true(lb.len - lb.start <= MAX + CHUNK);
        assert_true(lb.cap <= 2 * (MAX + CHUNK));
        char *line;
        size_t len;
        if (netd_line_next(&lb, &line, &len) == NETD_LINE_TOOLONG)
            toolong++;
    }
    assert_int_equal(toolong, 1);
    feed(&lb, "\nafter\n");
    expect_line(&lb, "after");
    netd_line_free(&lb);
}

/* A long stream of lines, cut so that every read ends inside a line,
 * keeps the buffer small: consumed bytes are reclaimed. */
static void test_compaction(void **state)
{
    (void)state;
    enum { LINES = 20000 };
    static const char piece[] = "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}\n{\"jsonrpc\"";
    static const char rest[] = ":\"2.0\",\"method\":\"ping\",\"id\":2}\n";
    struct netd_line lb;
    netd_line_init(&lb, 1 << 20);
    size_t got = 0;
    for (int i = 0; i < LINES; i++) {
        feed(&lb, i % 2 == 0 ? piece : rest);
        char *line;
        size_t len;
        while (netd_line_next(&lb, &line, &len) == NETD_LINE_OK) {
            assert_true(len > 30);
            got++;
        }
        assert_true(lb.cap <= 4096);
    }
    assert_int_equal(got, LINES);
    netd_line_free(&lb);
}

/* After a large request the buffer shrinks back once it is empty, so an
 * idle connection does not keep megabytes. */
static void test_shrinks_after_big_line(void **state)
{
    (void)state;
    size_t big = 1 << 20;
    char *data = malloc(big + 1);
    assert_non_null(data);
    memset(data, 'a', big);
    data[big] = '\n';
    struct netd_line lb;
    netd_line_init(&lb, 2 << 20);
    assert_int_equal(netd_line_feed(&lb, data, big + 1), 0);
    char *line;
    size_t len;
    assert_int_equal(netd_line_next(&lb, &line, &len), NETD_LINE_OK);
    assert_int_equal(len, big);
    assert_true(lb.cap > big);
    feed(&lb, "small\n");
    assert_true(lb.cap <= 4096);
    expect_line(&lb, "small");
    free(data);
    netd_line_free(&lb);
}

static void test_buffered_counts_only_partial_line(void **state)
{
    (void)state;
    struct netd_line lb;
    netd_line_init(&lb, 100);
    assert_int_equal(netd_line_buffered(&lb), 0);
    feed(&lb, "abc");
    assert_int_equal(netd_line_buffered(&lb), 3);
    feed(&lb, "\nde");
    assert_int_equal(netd_line_buffered(&lb), 2);
    expect_line(&lb, "abc");
    assert_int_equal(netd_line_buffered(&lb), 2);
    feed(&lb, "f\n");
    assert_int_equal(netd_line_buffered(&lb), 0);
    netd_line_free(&lb);
}

static void test_size_overflow_is_nomem(void **state)
{
    (void)state;
    struct netd_line lb;
    netd_line_init(&lb, 100);
    feed(&lb, "x");
    assert_int_equal(netd_line_feed(&lb, "y", SIZE_MAX), NETD_LINE_NOMEM);
    feed(&lb, "\n");
    expect_line(&lb, "x");
    netd_line_free(&lb);
}

static void test_free_and_reuse(void **state)
{
    (void)state;
    struct netd_line lb;
    netd_line_init(&lb, 4);
    feed(&lb, "abcdefgh");
    expect_toolong(&lb);
    netd_line_free(&lb);
    assert_null(lb.buf);
    netd_line_init(&lb, 4);
    feed(&lb, "ok\n");
    expect_line(&lb, "ok");
    netd_line_free(&lb);
    netd_line_free(&lb);
}

/* Where each line sits in the byte stream, also across over-long lines
 * that were dropped: descriptors are matched to lines by these offsets. */
static void test_stream_offsets(void **state)
{
    struct netd_line lb;
    netd_line_init(&lb, 8);
    char *line;
    size_t len;
    assert_int_equal(netd_line_feed(&lb, "ab\ncd", 5), 0);
    assert_int_equal(netd_line_next(&lb, &line, &len), NETD_LINE_OK);
    assert_int_equal(netd_line_done(&lb), 3); /* "ab\n" */
    assert_int_equal(netd_line_next(&lb, &line, &len), NETD_LINE_NONE);
    assert_int_equal(netd_line_feed(&lb, "efghijkl", 8), 0); /* "cdefghijkl": too long */
    assert_int_equal(netd_line_next(&lb, &line, &len), NETD_LINE_TOOLONG);
    assert_int_equal(netd_line_done(&lb), 13); /* dropped up to here */
    assert_int_equal(netd_line_feed(&lb, "mn\nop\n", 6), 0);
    assert_int_equal(netd_line_done(&lb), 16); /* the rest of it, "mn\n", dropped */
    assert_int_equal(netd_line_next(&lb, &line, &len), NETD_LINE_OK);
    assert_string_equal(line, "op");
    assert_int_equal(netd_line_done(&lb), 19);
    netd_line_free(&lb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_offsets),
        cmocka_unit_test(test_one_line),
        cmocka_unit_test(test_many_lines_in_one_feed),
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_exactly_max_is_accepted),
        cmocka_unit_test(test_toolong_then_good_lines),
        cmocka_unit_test(test_toolong_reported_early_and_once),
        cmocka_unit_test(test_toolong_byte_by_byte),
        cmocka_unit_test(test_toolong_memory_bounded),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_shrinks_after_big_line),
        cmocka_unit_test(test_buffered_counts_only_partial_line),
        cmocka_unit_test(test_size_overflow_is_nomem),
        cmocka_unit_test(test_free_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
