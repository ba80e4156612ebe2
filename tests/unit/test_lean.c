/*
 * test_lean.c - proto/lean.c against jansson. Whenever the lean path takes
 * a line, jansson must parse the whole line to the same message (with the
 * data string put back) and the data must be what jansson reads; lines of
 * the ordinary shape must take the lean path. Run on the bad-input table
 * of tests/integration/ and on random lines built to trip a scanner:
 * decoy "data" members, brackets and quotes inside strings, escapes,
 * whitespace, duplicates, and random damage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../integration/badinput_rows.h"
#include "lean.h"

#define FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY)

/* Deterministic, so a failure can be reproduced. */
static uint32_t rng_state = 424242;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int lean_taken;

/* The lean path and jansson on @line; returns 1 when the lean path took it. */
static int check_line(const char *line, size_t len)
{
    json_t *full = json_loadb(line, len, FLAGS, NULL);
    size_t off = 0, n = 0;
    json_t *lean = netd_lean_load(line, len, "params", "data", FLAGS, &off, &n);
    if (!lean) {
        json_decref(full);
        return 0;
    }
    if (!full)
        fail_msg("lean path took a line jansson refuses: %.*s", (int)len, line);
    json_t *params = json_object_get(lean, "params");
    assert_true(json_is_string(json_object_get(params, "data")));
    assert_int_equal(json_string_length(json_object_get(params, "data")), 0);
    /* The data as jansson reads it is exactly the characters found. */
    json_t *want = json_object_get(json_object_get(full, "params"), "data");
    assert_true(json_is_string(want));
    assert_int_equal(json_string_length(want), n);
    assert_memory_equal(json_string_value(want), line + off, n);
    json_object_set_new(params, "data", json_stringn(line + off, n));
    if (!json_equal(lean, full))
        fail_msg("lean path and jansson differ on: %.*s", (int)len, line);
    json_decref(lean);
    json_decref(full);
    lean_taken++;
    return 1;
}

/* The rows of one table with every placeholder written as a real name. */
static int check_table(const struct row *t, size_t nrows)
{
    int taken = 0;
    for (size_t i = 0; i < nrows; i++) {
        size_t len = t[i].len ? t[i].len : strlen(t[i].line);
        char line[4096];
        size_t o = 0;
        for (size_t k = 0; k < len && o + 8 < sizeof line; k++) {
            if (t[i].line[k] == '%' && k + 1 < len && strchr("HEDOZXPST", t[i].line[k + 1])) {
                memcpy(line + o, "h0.1", 4);
                o += 4;
                k++;
            } else {
                line[o++] = t[i].line[k];
            }
        }
        taken += check_line(line, o);
    }
    return taken;
}

static void test_badinput_rows(void **state)
{
    (void)state;
    int taken = check_table(rows, sizeof rows / sizeof rows[0]) +
                check_table(pending_rows, sizeof pending_rows / sizeof pending_rows[0]);
    /* The table's well-formed writes with plain data are taken. */
    assert_true(taken >= 10);
}

/* The ordinary shape, as netctl and the client libraries send it. */
static void test_ordinary_lines(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"write\",\"params\":{\"handle\":\"h0.1\","
        "\"data\":\"aGVsbG8=\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"write\",\"params\":{\"data\":\"\","
        "\"handle\":\"h0.1\"}}",
        "{\"params\":{\"handle\":\"h0.1\",\"data\":\"6869\",\"encoding\":\"hex\"},\"method\":"
        "\"write\",\"id\":\"x\",\"jsonrpc\":\"2.0\"}",
        " { \"jsonrpc\" : \"2.0\" , \"id\" : 7 , \"method\" : \"send\" , \"params\" : { "
        "\"handle\" : \"h1.2\" , \"data\" : \"hi there\" , \"encoding\" : \"utf8\" } } ",
        "{\"jsonrpc\":\"2.0\",\"id\":[1,{\"data\":\"x\"}],\"params\":{\"tls\":{\"data\":\"no\"},"
        "\"x\":\"}{][\\\"data\\\":\",\"data\":\"QUJD\"},\"method\":\"write\"}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        size_t off, n;
        assert_int_equal(netd_lean_find(lines[i], strlen(lines[i]), "params", "data", &off, &n), 0);
        assert_int_equal(check_line(lines[i], strlen(lines[i])), 1);
    }
    /* The data member of a member of params is not params.data. */
    const char *nested = "{\"params\":{\"x\":{\"data\":\"QUJD\"}}}";
    size_t off, n;
    assert_int_equal(netd_lean_find(nested, strlen(nested), "params", "data", &off, &n), -1);
}

/* Appends to a growing line. */
struct out {
    char buf[8192];
    size_t n;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(o->buf + o->n, sizeof o->buf - o->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        o->n += (size_t)k < sizeof o->buf - o->n ? (size_t)k : sizeof o->buf - o->n - 1;
}

static void ws(struct out *o)
{
    static const char *const spaces[] = {"", "", "", " ", "\t", "\r\n ", "  "};
    put(o, "%s", spaces[rng() % 7]);
}

/* A string value that may trip a scanner. */
static void tricky_string(struct out *o)
{
    static const char *const s[] = {
        "\"plain\"",       "\"QUJD\"",    "\"a\\\"b\"",   "\"\\\\\"", "\"}\"",
        "\"{\"",           "\"]\"",       "\"\\\\\\\"\"", "\"data\"", "\"\\\"data\\\":\\\"\"",
        "\"caf\xc3\xa9\"", "\"\\u0041\"", "\"\"",         "\",\"",
    };
    put(o, "%s", s[rng() % (sizeof s / sizeof s[0])]);
}

static void any_value(struct out *o, int depth);

static void object(struct out *o, int depth, int members)
{
    static const char *const keys[] = {"data", "x", "handle", "params", "d\\u0061ta", "", "}"};
    put(o, "{");
    for (int i = 0; i < members; i++) {
        if (i)
            put(o, ",");
        ws(o);
        put(o, "\"%s\"", keys[rng() % 7]);
        ws(o);
        put(o, ":");
        ws(o);
        any_value(o, depth + 1);
        ws(o);
    }
    put(o, "}");
}

static void any_value(struct out *o, int depth)
{
    switch (depth > 3 ? rng() % 4 : rng() % 7) {
    case 0:
        tricky_string(o);
        break;
    case 1:
        put(o, "%d", (int)(rng() % 2001) - 1000);
        break;
    case 2:
        put(o, "%s", rng() % 2 ? "true" : "null");
        break;
    case 3:
        put(o, "1.5e3");
        break;
    case 4:
        object(o, depth, (int)(rng() % 4));
        break;
    case 5:
        put(o, "[");
        for (int i = 0, k = (int)(rng() % 4); i < k; i++) {
            if (i)
                put(o, ",");
            ws(o);
            any_value(o, depth + 1);
        }
        put(o, "]");
        break;
    default:
        tricky_string(o);
        break;
    }
}

/* A data string: mostly base64-like, sometimes with what the lean path
 * must decline (escapes, UTF-8, control characters). */
static void data_string(struct out *o)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    put(o, "\"");
    int n = (int)(rng() % 40);
    bool plain = rng() % 2;
    for (int i = 0; i < n; i++) {
        uint32_t r = plain ? 0 : rng() % 100;
        if (r < 90)
            put(o, "%c", alphabet[rng() % 65]);
        else if (r < 93)
            put(o, "\\u00%02x", 0x30 + rng() % 10);
        else if (r < 95)
            put(o, "\\\"");
        else if (r < 97)
            put(o, "\xc3\xa9");
        else if (r < 98)
            put(o, "\x01");
        else
            put(o, " {}[],:");
    }
    put(o, "\"");
}

/* A request line with the parts in random order, decoys among them. */
static void random_request(struct out *o)
{
    o->n = 0;
    ws(o);
    put(o, "{");
    int parts = 3 + (int)(rng() % 4), first = 1;
    int where = (int)(rng() % parts);
    for (int i = 0; i < parts; i++) {
        if (!first)
            put(o, ",");
        first = 0;
        ws(o);
        if (i == where) {
            put(o, "\"params\"");
            ws(o);
            put(o, ":");
            ws(o);
            put(o, "{");
            int members = 1 + (int)(rng() % 4), at = (int)(rng() % members);
            for (int k = 0; k < members; k++) {
                if (k)
                    put(o, ",");
                ws(o);
                if (k == at) {
                    put(o, "\"data\"");
                    ws(o);
                    put(o, ":");
                    ws(o);
                    if (rng() % 8)
                        data_string(o);
                    else
                        any_value(o, 2);
                } else {
                    static const char *const keys[] = {"handle", "encoding", "x", "data",
                                                       "tls",    "timeout",  "y"};
                    put(o, "\"%s\"", keys[rng() % 7]);
                    ws(o);
                    put(o, ":");
                    ws(o);
                    any_value(o, 2);
                }
                ws(o);
            }
            put(o, "}");
        } else {
            static const char *const keys[] = {"jsonrpc", "id", "method", "x", "y", "z", "params"};
            put(o, "\"%s\"", keys[rng() % 7]);
            ws(o);
            put(o, ":");
            ws(o);
            any_value(o, 1);
        }
        ws(o);
    }
    put(o, "}");
    ws(o);
}

static void test_random_lines(void **state)
{
    (void)state;
    static const char noise[] = "\"\\{}[],: \x01\xc3\xa9"
                                "a0";
    struct out o;
    int taken = 0;
    lean_taken = 0;
    for (int round = 0; round < 200000; round++) {
        random_request(&o);
        taken += check_line(o.buf, o.n);
        /* Damaged copies: a character changed, inserted or removed. */
        for (int d = 0; d < 2 && o.n > 1; d++) {
            size_t at = rng() % o.n;
            switch (rng() % 3) {
            case 0:
                o.buf[at] = noise[rng() % (sizeof noise - 1)];
                break;
            case 1:
                if (o.n + 1 < sizeof o.buf) {
                    memmove(o.buf + at + 1, o.buf + at, o.n - at);
                    o.buf[at] = noise[rng() % (sizeof noise - 1)];
                    o.n++;
                }
                break;
            default:
                memmove(o.buf + at, o.buf + at + 1, o.n - at - 1);
                o.n--;
                break;
            }
            check_line(o.buf, o.n);
        }
    }
    /* Enough of them took the lean path for the comparison to mean something. */
    print_message("lean path taken for %d of 200000 random lines (%d with damage too)\n", taken,
                  lean_taken);
    assert_true(taken > 15000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_badinput_rows),
        cmocka_unit_test(test_ordinary_lines),
        cmocka_unit_test(test_random_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
