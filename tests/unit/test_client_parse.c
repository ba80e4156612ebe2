/*
 * test_client_parse.c - the client library's parsing of answer lines
 * (client/netd_client.c, included to reach its static client_parse): a
 * read answer's data takes the lean path, and every line, read answer or
 * not, well-formed or damaged, parses to what jansson alone makes of it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "../../client/netd_client.c"

static uint32_t rng_state = 97531;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* client_parse and jansson agree on @line: both refuse it, or both make
 * equal messages. Returns 1 when the line took the lean path. */
static int same_as_jansson(const char *line, size_t len)
{
    json_t *full = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    json_t *got = client_parse(line, len);
    size_t off, n;
    int lean = netd_lean_find(line, len, "result", "data", &off, &n) == 0;
    if (!full != !got || (full && !json_equal(full, got)))
        fail_msg("client_parse and jansson differ on: %.*s", (int)len, line);
    json_decref(full);
    json_decref(got);
    return lean && got != NULL;
}

static void test_read_answers(void **state)
{
    (void)state;
    char line[8192];
    int lean = 0;
    for (int round = 0; round < 5000; round++) {
        size_t n = rng() % 3000;
        char data[4096];
        static const char b64[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
        for (size_t i = 0; i < n; i++)
            data[i] = b64[rng() % 65];
        data[n] = '\0';
        /* Sometimes what the lean path must decline, or a duplicate key. */
        const char *extra = "";
        switch (rng() % 8) {
        case 0:
            if (n > 2)
                memcpy(data + n / 2, "\\u0041", 2); /* "\\u" then the data goes on */
            break;
        case 1:
            extra = ",\"data\":\"QUJD\"";
            break;
        case 2:
            if (n > 2)
                memcpy(data + n / 2, "\xc3\xa9", 2);
            break;
        default:
            break;
        }
        int len = snprintf(line, sizeof line,
                           "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{\"data\":\"%s\","
                           "\"encoding\":\"base64\",\"eof\":%s%s}}",
                           round, data, rng() % 2 ? "true" : "false", extra);
        lean += same_as_jansson(line, (size_t)len);
        /* A damaged copy: one character changed. */
        static const char noise[] = "\"\\{}[],: \x01"
                                    "a";
        line[rng() % (unsigned)len] = noise[rng() % (sizeof noise - 1)];
        same_as_jansson(line, (size_t)len);
    }
    assert_true(lean > 2000);
}

static void test_other_lines(void **state)
{
    (void)state;
    static const char *const lines[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"data\":42}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"x\":{\"data\":\"QUJD\"},\"data\":\"\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,\"message\":\"data\"}}",
        "{\"jsonrpc\":\"2.0\",\"method\":\"closed\",\"params\":{\"handle\":\"h0.1\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"data\":\"a\\u0000b\",\"encoding\":\"utf8\"}}",
        "{\"result\":{\"data\":\"QUJD\"},\"result\":{\"data\":\"RUZH\"}}",
        "[1,2]",
        "not json",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        same_as_jansson(lines[i], strlen(lines[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_answers),
        cmocka_unit_test(test_other_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
