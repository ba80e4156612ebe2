/*
 * test_lean.c - proto/lean.c against jansson. Whenever the lean path takes
 * a line, jansson must parse the whole line to the same message (with the
 * data string put back) and the data must be what jansson reads; lines of
 * the ordinary shape must take the lean path. Run on the bad-input table
 * of tests/integration/ and on random lines built to trip a scanner:
 * decoy "data" members, brackets and quotes inside strings, escapes,
 * whitespace, duplicates, and random damage. The same for the lean path
 * of a whole request (netd_lean_request), on lines near its shape.
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

static int lean_taken, request_taken;

/*
 * netd_lean_request and jansson on @line: when the lean path takes the
 * line, jansson parses it to an object with exactly jsonrpc "2.0", the
 * method, the id and the params the lean path found (data put back).
 */
static void check_request(const char *line, size_t len)
{
    struct netd_lean_req lr;
    if (netd_lean_request(line, len, FLAGS, &lr) < 0)
        return;
    json_t *full = json_loadb(line, len, FLAGS, NULL);
    if (!full)
        fail_msg("lean request path took a line jansson refuses: %.*s", (int)len, line);
    json_t *want = json_object();
    json_object_set_new(want, "jsonrpc", json_string("2.0"));
    json_object_set_new(want, "method", json_stringn(lr.method, lr.method_len));
    if (lr.has_id)
        json_object_set_new(want, "id", json_integer(lr.id));
    if (lr.params) {
        if (lr.has_data) {
            assert_int_equal(json_string_length(json_object_get(lr.params, "data")), 0);
            json_object_set_new(lr.params, "data", json_stringn(line + lr.data_off, lr.data_n));
        }
        json_object_set_new(want, "params", lr.params);
    }
    if (!json_equal(want, full))
        fail_msg("lean request path and jansson differ on: %.*s", (int)len, line);
    json_decref(want);
    json_decref(full);
    request_taken++;
}

/* The lean path and jansson on @line; returns 1 when the lean path took it. */
static int check_line(const char *line, size_t len)
{
    check_request(line, len);
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
    /* Lines of the ordinary shape, with and without params. */
    static const char *const requests[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
        "{\"method\":\"ping\",\"jsonrpc\":\"2.0\"}",
        " {\"id\" : -42 , \"jsonrpc\":\"2.0\",\"method\":\"read\",\"params\":{\"handle\":\"h0.1\","
        "\"nbytes\":10}} ",
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"write\",\"params\":{\"handle\":\"h0.1\","
        "\"data\":\"QUJD\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":999999999999999999,\"method\":\"x\",\"params\":{}}",
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        struct netd_lean_req lr;
        assert_int_equal(netd_lean_request(requests[i], strlen(requests[i]), FLAGS, &lr), 0);
        json_decref(lr.params);
        int before = request_taken;
        check_request(requests[i], strlen(requests[i]));
        assert_int_equal(request_taken, before + 1);
    }
    /* Shapes the lean path leaves to jansson. */
    static const char *const others[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1.0,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":01,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1234567890123456789,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"p\\u0069ng\"}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"extra\":1}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":[]}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":{\"a\":1,\"a\":2}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"} x",
        "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",}",
        "{\"jsonrpc\":\"1.0\",\"method\":\"ping\"}",
        "{\"id\":1,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1}",
    };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct netd_lean_req lr;
        if (netd_lean_request(others[i], strlen(others[i]), FLAGS, &lr) == 0)
            fail_msg("the lean path took %s", others[i]);
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
    for (int round = 0; round < 20000; round++) {
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
    print_message("lean path taken for %d of 20000 random lines (%d with damage too)\n", taken,
                  lean_taken);
    assert_true(taken > 1400);
}

/* A request line near the ordinary shape: its members in any order, ids
 * of every form, sometimes a member twice or one too many. */
static void random_envelope(struct out *o)
{
    static const char *const ids[] = {"0",
                                      "-0",
                                      "7",
                                      "-123",
                                      "999999999999999999",
                                      "1000000000000000000",
                                      "01",
                                      "1.5",
                                      "1e3",
                                      "\"s\"",
                                      "null",
                                      "-",
                                      "12a"};
    static const char *const versions[] = {"\"2.0\"",  "\"2.0\"", "\"2.0\"",
                                           "\"2.00\"", "2.0",     "\"2\\u002e0\""};
    static const char *const methods[] = {"\"ping\"",       "\"write\"",  "\"read\"", "\"\"",
                                          "\"p\\u0069ng\"", "\"nosuch\"", "42"};
    o->n = 0;
    ws(o);
    put(o, "{");
    int order[6] = {0, 1, 2, 3, 4, 5}, n = 3 + (int)(rng() % 4);
    for (int i = 5; i > 0; i--) {
        int j = (int)(rng() % (unsigned)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < n; i++) {
        if (i)
            put(o, ",");
        ws(o);
        switch (order[i]) {
        case 0:
            put(o, "\"jsonrpc\":%s", versions[rng() % 6]);
            break;
        case 1:
            put(o, "\"id\"");
            ws(o);
            put(o, ":");
            ws(o);
            put(o, "%s", ids[rng() % 13]);
            break;
        case 2:
            put(o, "\"method\":%s", methods[rng() % 7]);
            break;
        case 3:
            put(o, "\"params\":");
            ws(o);
            if (rng() % 2) {
                put(o, "{\"handle\":\"h0.1\",\"data\":");
                data_string(o);
                put(o, "}");
            } else {
                object(o, 1, (int)(rng() % 4));
            }
            break;
        case 4: /* a member given twice */
            put(o, rng() % 2 ? "\"id\":5" : "\"jsonrpc\":\"2.0\"");
            break;
        default: /* one too many */
            put(o, "\"x\":1");
            break;
        }
        ws(o);
    }
    put(o, "}");
    ws(o);
}

static void test_random_envelopes(void **state)
{
    (void)state;
    struct out o;
    request_taken = 0;
    for (int round = 0; round < 15000; round++) {
        random_envelope(&o);
        check_line(o.buf, o.n);
        if (o.n > 1) {
            static const char noise[] = "\"\\{}[],: 0-.e";
            o.buf[rng() % o.n] = noise[rng() % (sizeof noise - 1)];
            check_line(o.buf, o.n);
        }
    }
    print_message("lean request path taken for %d of 30000 lines near its shape\n", request_taken);
    assert_true(request_taken > 250);
}

/*
 * Every byte value at every place of a data string, before and after the
 * eight-byte steps of the plain check and across their lanes: the lean
 * path takes the line exactly when the byte is printable ASCII other than
 * a backslash, and then gives what jansson gives (check_line).
 */
static void test_each_byte_everywhere(void **state)
{
    (void)state;
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"write\","
                               "\"params\":{\"handle\":\"h0.1\",\"data\":\"";
    for (size_t len = 1; len <= 27; len++) {
        for (size_t at = 0; at < len; at++) {
            for (int v = 1; v < 256; v++) {
                if (v == '"')
                    continue; /* it would end the string there */
                char line[128];
                size_t n = sizeof head - 1;
                memcpy(line, head, n);
                memset(line + n, 'A', len);
                line[n + at] = (char)v;
                n += len;
                memcpy(line + n, "\"}}", 3);
                n += 3;
                bool plain = v >= 0x20 && v < 0x80 && v != '\\';
                size_t off, dn;
                bool found = netd_lean_find(line, n, "params", "data", &off, &dn) == 0;
                if (found != plain)
                    fail_msg("byte 0x%02x at %zu of %zu: lean path %s it", v, at, len,
                             found ? "took" : "declined");
                if (found)
                    assert_int_equal(dn, len);
                assert_int_equal(check_line(line, n), plain);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_badinput_rows),        cmocka_unit_test(test_ordinary_lines),
        cmocka_unit_test(test_random_lines),         cmocka_unit_test(test_random_envelopes),
        cmocka_unit_test(test_each_byte_everywhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
