/*
 * test_badinput.c - malformed and hostile request lines sent raw to a real
 * netd. Every row names the error code and the id its answer must carry;
 * after every row netd must still answer a ping on the same connection and
 * on a second connection that stays open throughout, and must not have
 * exited.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

#define MAX_REQUEST 65536

struct row {
    const char *line;  /* %H: a stream of this connection; %O: one of another connection */
    size_t len;        /* 0: strlen(line); set for lines with a NUL byte */
    int code;          /* the expected error code; 0: a notification, nothing comes back */
    const char *id;    /* the answer's id, as JSON */
    const char *batch; /* an array answer: "code:id" items, code 0 for a result */
    int alt;           /* another code that is as right as @code, or 0 */
};

#define ERR(line, code, id)                                                                        \
    {                                                                                              \
        line, 0, code, id, NULL, 0                                                                 \
    }
#define RAW(lit, code, id)                                                                         \
    {                                                                                              \
        lit, sizeof(lit) - 1, code, id, NULL, 0                                                    \
    }
#define NOANSWER(line)                                                                             \
    {                                                                                              \
        line, 0, 0, NULL, NULL, 0                                                                  \
    }
#define BATCH(line, items)                                                                         \
    {                                                                                              \
        line, 0, 0, NULL, items, 0                                                                 \
    }
#define RQ(id, method, params)                                                                     \
    "{\"jsonrpc\":\"2.0\",\"id\":" #id ",\"method\":\"" method "\",\"params\":" params "}"

static const struct row rows[] = {
    /* Not JSON at all: parse error, and the id cannot be known. */
    ERR("{", -32700, "null"),
    ERR("not json at all", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1}}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":1} "
        "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":2}",
        -32700, "null"),
    ERR("{'jsonrpc':'2.0','method':'ping','id':1}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"p\xff\xfeng\",\"id\":3}", -32700, "null"),
    RAW("{\"jsonrpc\":\"2.0\",\0\"method\":\"ping\",\"id\":4}", -32700, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":01}", -32700, "null"),
    /* JSON, but not a request. */
    ERR("42", -32600, "null"),
    ERR("\"ping\"", -32600, "null"),
    ERR("null", -32600, "null"),
    ERR("true", -32600, "null"),
    ERR("{}", -32600, "null"),
    ERR("[]", -32600, "null"),
    ERR("{\"jsonrpc\":\"1.0\",\"method\":\"ping\",\"id\":10}", -32600, "10"),
    ERR("{\"method\":\"ping\",\"id\":11}", -32600, "11"),
    ERR("{\"jsonrpc\":2.0,\"method\":\"ping\",\"id\":12}", -32600, "12"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":13}", -32600, "13"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":42,\"id\":14}", -32600, "14"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":15}", -32600, "15"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":{}}", -32600, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":[1]}", -32600, "null"),
    ERR("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":true}", -32600, "null"),
    BATCH("[1,2,3]", "-32600:null,-32600:null,-32600:null"),
    BATCH("[\"x\",{\"jsonrpc\":\"2.0\"}]", "-32600:null,-32600:null"),
    BATCH("[{\"jsonrpc\":\"2.0\",\"id\":16,\"method\":\"ping\"},5,{\"jsonrpc\":\"2.0\",\"id\":17,"
          "\"method\":\"nosuch\"}]",
          "0:16,-32600:null,-32601:17"),
    /* Methods that do not exist. */
    ERR("{\"jsonrpc\":\"2.0\",\"id\":20,\"method\":\"nosuch\"}", -32601, "20"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":21,\"method\":\"\"}", -32601, "21"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":22,\"method\":\"PING\"}", -32601, "22"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":23,\"method\":\"rpc.nosuch\"}", -32601, "23"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":24,\"method\":\"pi\\u0000ng\"}", -32601, "24"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":\"str-id\",\"method\":\"nosuch\"}", -32601, "\"str-id\""),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":-7,\"method\":\"nosuch\"}", -32601, "-7"),
    ERR("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"nosuch\"}", -32601, "null"),
    /* Parameters that are not an object, missing, unknown or of the wrong type. */
    ERR(RQ(30, "ping", "[]"), -32602, "30"),
    ERR(RQ(31, "ping", "7"), -32602, "31"),
    ERR(RQ(32, "ping", "\"x\""), -32602, "32"),
    ERR(RQ(33, "ping", "null"), -32602, "33"),
    ERR(RQ(34, "ping", "{\"extra\":1}"), -32602, "34"),
    ERR(RQ(35, "read", "{}"), -32602, "35"),
    ERR(RQ(36, "read", "{\"handle\":\"%H\"}"), -32602, "36"),
    ERR(RQ(37, "read", "{\"handle\":42,\"nbytes\":1}"), -32602, "37"),
    ERR(RQ(38, "read", "{\"handle\":\"\",\"nbytes\":1}"), -32602, "38"),
    ERR(RQ(39, "read",
           "{\"handle\":\"h0123456789012345678901234567890123456789012345678901234567890123\","
           "\"nbytes\":1}"),
        -32602, "39"),
    ERR(RQ(40, "read", "{\"handle\":\"%H\",\"nbytes\":0}"), -32602, "40"),
    ERR(RQ(41, "read", "{\"handle\":\"%H\",\"nbytes\":-5}"), -32602, "41"),
    ERR(RQ(42, "read", "{\"handle\":\"%H\",\"nbytes\":1.5}"), -32602, "42"),
    ERR(RQ(43, "read", "{\"handle\":\"%H\",\"nbytes\":\"ten\"}"), -32602, "43"),
    ERR(RQ(44, "read", "{\"handle\":\"%H\",\"nbytes\":1e300}"), -32602, "44"),
    ERR(RQ(45, "read", "{\"handle\":\"%H\",\"nbytes\":9007199254740993}"), -32602, "45"),
    ERR(RQ(46, "chunk", "{\"handle\":\"%H\",\"nbytes\":\"all\"}"), -32602, "46"),
    ERR(RQ(47, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":-1}"), -32602, "47"),
    ERR(RQ(48, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":\"1\"}"), -32602, "48"),
    ERR(RQ(49, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":31536001}"), -32602, "49"),
    ERR(RQ(50, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":1e308}"), -32602, "50"),
    ERR(RQ(51, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"timeout\":true}"), -32602, "51"),
    ERR(RQ(52, "read", "{\"handle\":\"%H\",\"nbytes\":1,\"encoding\":\"rot13\"}"), -32602, "52"),
    ERR(RQ(53, "write", "{\"handle\":\"%H\",\"data\":\"!!!!\"}"), -32602, "53"),
    ERR(RQ(54, "write", "{\"handle\":\"%H\",\"data\":\"ab=c\"}"), -32602, "54"),
    ERR(RQ(55, "write", "{\"handle\":\"%H\",\"data\":\"abc\",\"encoding\":\"hex\"}"), -32602, "55"),
    ERR(RQ(56, "write", "{\"handle\":\"%H\",\"data\":\"zz\",\"encoding\":\"hex\"}"), -32602, "56"),
    ERR(RQ(57, "write", "{\"handle\":\"%H\",\"data\":\"AA==\",\"encoding\":\"rot13\"}"), -32602,
        "57"),
    ERR(RQ(58, "write", "{\"handle\":\"%H\",\"data\":42}"), -32602, "58"),
    ERR(RQ(59, "write", "{\"handle\":\"%H\"}"), -32602, "59"),
    ERR(RQ(60, "shutdown", "{\"handle\":\"%H\",\"mode\":\"x\"}"), -32602, "60"),
    ERR(RQ(61, "wait", "{\"handle\":\"%H\",\"for\":\"nothing\"}"), -32602, "61"),
    ERR(RQ(62, "connect", "{\"host\":\"127.0.0.1\",\"port\":70000}"), -32602, "62"),
    ERR(RQ(63, "connect", "{\"host\":\"127.0.0.1\",\"port\":-1}"), -32602, "63"),
    ERR(RQ(64, "connect", "{\"host\":\"127.0.0.1\",\"port\":\"\"}"), -32602, "64"),
    ERR(RQ(65, "connect", "{\"host\":42,\"port\":80}"), -32602, "65"),
    ERR(RQ(66, "connect", "{\"host\":\"127.0.0.1\",\"port\":80,\"keep\":\"yes\"}"), -32602, "66"),
    ERR(RQ(67, "address", "{\"host\":\"127.0.0.1\",\"port\":80,\"multi\":1}"), -32602, "67"),
    ERR(RQ(68, "address", "{\"host\":\"127.0.0.1\",\"port\":80,\"family\":\"ipx\"}"), -32602, "68"),
    /* Handles that are not this caller's. */
    ERR(RQ(70, "read", "{\"handle\":\"nope\",\"nbytes\":1}"), -32002, "70"),
    ERR(RQ(71, "read", "{\"handle\":\"%O\",\"nbytes\":1,\"timeout\":0}"), -32002, "71"),
    ERR(RQ(72, "close", "{\"handle\":\"%O\"}"), -32002, "72"),
    /* A NUL inside must not cut the name short to a valid handle: unknown
     * handle, or invalid params for a name no handle can have. */
    {RQ(73, "read", "{\"handle\":\"%H\\u0000x\",\"nbytes\":1}"), 0, -32002, "73", NULL, -32602},
    ERR(RQ(74, "status", "{\"handle\":\"%H \"}"), -32002, "74"),
    /* Sizes past the configured limit. */
    ERR(RQ(75, "read", "{\"handle\":\"%H\",\"nbytes\":1099511627776}"), -32006, "75"),
    /* Notifications get no answer, whatever is wrong with them. */
    NOANSWER("{\"jsonrpc\":\"2.0\",\"method\":\"nosuch\"}"),
    NOANSWER(
        "{\"jsonrpc\":\"2.0\",\"method\":\"read\",\"params\":{\"handle\":\"nope\",\"nbytes\":1}}"),
    NOANSWER("{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":{\"bad\":true}}"),
    NOANSWER("[{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}]"),
};

struct ctx {
    struct netd_proc *n;
    netd_client *raw, *watcher;
    char *own, *other;
};

/* Rows whose answer was wrong; the table goes on so one run shows them all. */
static int failed_rows;

static void row_fail(size_t i, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    print_error("row %zu (%.200s): %s\n", i, rows[i].line, msg);
    failed_rows++;
}

/* The row's line with %H and %O replaced and a newline added; malloc'd. */
static char *expand(const struct row *rw, const struct ctx *x, size_t *outlen)
{
    size_t len = rw->len ? rw->len : strlen(rw->line);
    char *out = malloc(len + 4 * 64 + 2), *o = out;
    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        if (rw->line[i] == '%' && i + 1 < len &&
            (rw->line[i + 1] == 'H' || rw->line[i + 1] == 'O')) {
            const char *h = rw->line[i + 1] == 'H' ? x->own : x->other;
            o += sprintf(o, "%s", h);
            i++;
            continue;
        }
        *o++ = rw->line[i];
    }
    *o++ = '\n';
    *outlen = (size_t)(o - out);
    return out;
}

/* Checks one answer object against an expected code (0: a result) and id. */
static void check_one(size_t i, const json_t *msg, int code, const char *idjson)
{
    int got = netd_error_code(json_object_get(msg, "error"));
    if (code && rows[i].alt && got == rows[i].alt)
        code = got;
    char *s = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *want = json_loads(idjson, JSON_DECODE_ANY, NULL);
    const json_t *id = json_object_get(msg, "id");
    const char *version = json_string_value(json_object_get(msg, "jsonrpc"));
    int ok = json_is_object(msg) && version && strcmp(version, "2.0") == 0;
    ok = ok && id && json_equal(id, want);
    if (ok && code == 0)
        ok = json_object_get(msg, "result") && !json_object_get(msg, "error");
    if (ok && code != 0)
        ok = netd_error_code(json_object_get(msg, "error")) == code &&
             json_is_string(json_object_get(json_object_get(msg, "error"), "message"));
    json_decref(want);
    if (!ok)
        row_fail(i, "expected code %d id %s, got %s", code, idjson, s);
    free(s);
}

/* A batch answer: every "code:id" item of the row matched by exactly one element, in any order. */
static void check_batch(size_t i, const json_t *msg)
{
    if (!json_is_array(msg)) {
        char *dump = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
        row_fail(i, "expected an array answer, got %s", dump);
        free(dump);
        return;
    }
    char *items = strdup(rows[i].batch), *save = NULL;
    size_t want = 0;
    for (char *it = strtok_r(items, ",", &save); it; it = strtok_r(NULL, ",", &save), want++) {
        int code = atoi(it);
        const char *idjson = strchr(it, ':') + 1;
        size_t k;
        json_t *el;
        int found = 0;
        json_array_foreach(msg, k, el)
        {
            json_t *wid = json_loads(idjson, JSON_DECODE_ANY, NULL);
            const json_t *err = json_object_get(el, "error");
            int match =
                json_equal(json_object_get(el, "id"), wid) &&
                (code ? netd_error_code(err) == code : json_object_get(el, "result") != NULL);
            json_decref(wid);
            if (match && ++found == 1)
                check_one(i, el, code, idjson);
        }
        if (found == 0)
            row_fail(i, "no element with code %d id %s", code, idjson);
    }
    if (json_array_size(msg) != want)
        row_fail(i, "expected %zu elements, got %zu", want, json_array_size(msg));
    free(items);
}

/* Both connections still work, nothing unexpected is queued, and netd lives. */
static void check_still_up(size_t i, struct ctx *x, int quiet_ms)
{
    json_decref(h_call(x->raw, "ping", NULL));
    json_t *extra = NULL;
    if (netd_client_next(x->raw, quiet_ms, &extra) == 0) {
        char *s = json_dumps(extra, JSON_COMPACT | JSON_ENCODE_ANY);
        row_fail(i, "an unexpected extra message: %s", s);
        free(s);
        json_decref(extra);
    }
    json_decref(h_call(x->watcher, "ping", NULL));
    h_netd_assert_alive(x->n);
}

static void run_row(size_t i, struct ctx *x)
{
    size_t len;
    char *line = expand(&rows[i], x, &len);
    if (netd_client_send_raw(x->raw, line, len) < 0)
        fail_msg("row %zu: send failed: %s", i, strerror(errno));
    free(line);
    if (rows[i].code || rows[i].batch) {
        json_t *msg = NULL;
        if (netd_client_next(x->raw, H_ANSWER_MS, &msg) < 0)
            fail_msg("row %zu (%.200s): no answer: %s", i, rows[i].line, strerror(errno));
        if (rows[i].batch)
            check_batch(i, msg);
        else
            check_one(i, msg, rows[i].code, rows[i].id);
        json_decref(msg);
    }
    check_still_up(i, x, rows[i].code || rows[i].batch ? 0 : 200);
}

static void ctx_open(struct ctx *x, struct peer *echo)
{
    static const char *const args[] = {"--max-request", "65536", NULL};
    x->n = h_netd_start(args);
    x->raw = h_client(x->n);
    x->watcher = h_client(x->n);
    x->own = h_connect(x->raw, h_peer_host(echo), h_peer_port(echo));
    x->other = h_connect(x->watcher, h_peer_host(echo), h_peer_port(echo));
}

static void test_table(void **state)
{
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    struct ctx x;
    ctx_open(&x, echo);
    size_t nrows = sizeof rows / sizeof rows[0];
    assert_true(nrows >= 40);
    failed_rows = 0;
    for (size_t i = 0; i < nrows; i++)
        run_row(i, &x);
    if (failed_rows)
        fail_msg("%d of %zu rows were answered wrongly (listed above)", failed_rows, nrows);
    /* The handles used by the rows are intact: both streams still echo. */
    h_write(x.raw, x.own, "intact", 6);
    h_read_expect(x.raw, x.own, "intact", 6, 10);
    h_write(x.watcher, x.other, "intact", 6);
    h_read_expect(x.watcher, x.other, "intact", 6, 10);
    free(x.own);
    free(x.other);
}

/* A line past --max-request is refused; the request right after it on the same send is served. */
static void test_overlong_line(void **state)
{
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    struct ctx x;
    ctx_open(&x, echo);
    size_t big = 2 * MAX_REQUEST + 1000;
    char *buf = malloc(big + 100);
    assert_non_null(buf);
    int k = sprintf(buf, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"x\":\"");
    memset(buf + k, 'a', big - (size_t)k);
    size_t len = big;
    len += (size_t)sprintf(buf + len, "\"}}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n");
    assert_int_equal(netd_client_send_raw(x.raw, buf, len), 0);
    free(buf);
    json_t *msg = NULL;
    assert_int_equal(netd_client_next(x.raw, H_ANSWER_MS, &msg), 0);
    json_t *err = json_object_get(msg, "error");
    assert_int_equal(netd_error_code(err), -32600);
    assert_true(json_is_null(json_object_get(msg, "id")));
    assert_non_null(strstr(netd_error_message(err), "65536"));
    json_decref(msg);
    assert_int_equal(netd_client_next(x.raw, H_ANSWER_MS, &msg), 0);
    assert_int_equal(json_integer_value(json_object_get(msg, "id")), 2);
    assert_non_null(json_object_get(msg, "result"));
    json_decref(msg);
    json_decref(h_call(x.watcher, "ping", NULL));
    free(x.own);
    free(x.other);
}

/* Nesting far deeper than any parser should follow: a parse error, not a crash. */
static void test_deep_nesting(void **state)
{
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    struct ctx x;
    ctx_open(&x, echo);
    enum { DEPTH = 30000 };
    char *buf = malloc(2 * DEPTH + 2);
    assert_non_null(buf);
    memset(buf, '[', DEPTH);
    memset(buf + DEPTH, ']', DEPTH);
    buf[2 * DEPTH] = '\n';
    assert_int_equal(netd_client_send_raw(x.raw, buf, 2 * DEPTH + 1), 0);
    free(buf);
    json_t *msg = NULL;
    assert_int_equal(netd_client_next(x.raw, H_ANSWER_MS, &msg), 0);
    assert_int_equal(netd_error_code(json_object_get(msg, "error")), -32700);
    json_decref(msg);
    json_decref(h_call(x.raw, "ping", NULL));
    json_decref(h_call(x.watcher, "ping", NULL));
    free(x.own);
    free(x.other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_table, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_overlong_line, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
