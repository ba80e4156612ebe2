/*
 * test_rpc.c - the JSON-RPC envelope of proto/rpc.c: which requests are
 * accepted, what an invalid one's error can carry, and the lines netd
 * writes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc.h"

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    if (!v)
        fail_msg("test JSON does not parse: %s: %s", text, err.text);
    return v;
}

/* Parses @text as a request, expecting @kind and the id @id_json (JSON text;
 * NULL when no id may be reported). */
static void expect_parse(const char *text, enum netd_err kind, const char *id_json)
{
    json_t *msg = parse(text);
    struct netd_rpc_req rq;
    const char *why = NULL;
    enum netd_err got = netd_rpc_parse(msg, &rq, &why);
    if (got != kind)
        fail_msg("%s: kind %d, wanted %d (%s)", text, got, kind, why ? why : "");
    if (kind != NETD_OK) {
        assert_non_null(why);
        assert_true(strlen(why) > 5);
    }
    if (!id_json) {
        assert_null(rq.id);
    } else {
        json_t *want = parse(id_json);
        assert_non_null(rq.id);
        assert_true(json_equal(rq.id, want));
        json_decref(want);
    }
    json_decref(msg);
}

static void test_valid_request(void **state)
{
    (void)state;
    json_t *msg = parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"read\","
                        "\"params\":{\"handle\":\"h0.1\"}}");
    struct netd_rpc_req rq;
    const char *why = NULL;
    assert_int_equal(netd_rpc_parse(msg, &rq, &why), NETD_OK);
    assert_ptr_equal(rq.id, json_object_get(msg, "id"));
    assert_ptr_equal(rq.params, json_object_get(msg, "params"));
    assert_string_equal(rq.method, "read");
    json_decref(msg);
}

static void test_notification_and_absent_params(void **state)
{
    (void)state;
    json_t *msg = parse("{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}");
    struct netd_rpc_req rq;
    const char *why = NULL;
    assert_int_equal(netd_rpc_parse(msg, &rq, &why), NETD_OK);
    assert_null(rq.id);
    assert_null(rq.params);
    assert_string_equal(rq.method, "ping");
    json_decref(msg);
}

static void test_not_an_object(void **state)
{
    (void)state;
    static const char *const texts[] = {"[]", "\"ping\"", "42", "null", "true"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        expect_parse(texts[i], NETD_E_INVALID_REQUEST, NULL);
}

static void test_jsonrpc_member(void **state)
{
    (void)state;
    expect_parse("{\"id\":1,\"method\":\"ping\"}", NETD_E_INVALID_REQUEST, "1");
    expect_parse("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", NETD_E_INVALID_REQUEST, "1");
    expect_parse("{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", NETD_E_INVALID_REQUEST, "1");
    expect_parse("{\"jsonrpc\":\"2.0 \",\"id\":1,\"method\":\"ping\"}", NETD_E_INVALID_REQUEST,
                 "1");
    expect_parse("{\"jsonrpc\":null,\"id\":\"x\",\"method\":\"ping\"}", NETD_E_INVALID_REQUEST,
                 "\"x\"");
}

static void test_method_member(void **state)
{
    (void)state;
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":1}", NETD_E_INVALID_REQUEST, "1");
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", NETD_E_INVALID_REQUEST, "1");
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":null}", NETD_E_INVALID_REQUEST, "1");
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":[\"ping\"]}", NETD_E_INVALID_REQUEST,
                 "1");
}

static void test_id_types(void **state)
{
    (void)state;
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"ping\"}", NETD_OK, "\"abc\"");
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":-3,\"method\":\"ping\"}", NETD_OK, "-3");
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", NETD_OK, "1.5");
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", NETD_OK, "null");
    /* An id that cannot be echoed is not carried into the error. */
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", NETD_E_INVALID_REQUEST,
                 NULL);
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", NETD_E_INVALID_REQUEST,
                 NULL);
    expect_parse("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", NETD_E_INVALID_REQUEST,
                 NULL);
}

/* The envelope does not judge params: a method that does not exist is
 * -32601 whatever its params are (JSON-RPC's order of checks), and the
 * method table's check refuses params that are not an object. */
static void test_params_left_to_the_method(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":[]}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"read\",\"params\":[\"h0.1\",5]}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":\"x\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":3}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nosuch\",\"params\":[1,2]}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{}}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        json_t *msg = parse(texts[i]);
        struct netd_rpc_req rq;
        const char *why = NULL;
        assert_int_equal(netd_rpc_parse(msg, &rq, &why), NETD_OK);
        assert_ptr_equal(rq.params, json_object_get(msg, "params"));
        if (rq.m) {
            char buf[200];
            enum netd_err want = json_is_object(rq.params) ? NETD_OK : NETD_E_PARAMS;
            assert_int_equal(netd_params_check(rq.m, rq.params, buf, sizeof buf), want);
        } else {
            assert_string_equal(rq.method, "nosuch");
        }
        json_decref(msg);
    }
}

/* Parses @text (which may hold \u0000) as a request; returns the message. */
static json_t *parse_nul(const char *text, struct netd_rpc_req *rq, enum netd_err want)
{
    json_error_t err;
    json_t *msg = json_loads(text, JSON_ALLOW_NUL, &err);
    if (!msg)
        fail_msg("test JSON does not parse: %s: %s", text, err.text);
    const char *why = NULL;
    enum netd_err got = netd_rpc_parse(msg, rq, &why);
    if (got != want)
        fail_msg("%s: kind %d, wanted %d (%s)", text, got, want, why ? why : "");
    return msg;
}

/* The whole name is looked up: a NUL byte does not end it. */
static void test_method_found_by_whole_name(void **state)
{
    (void)state;
    struct netd_rpc_req rq;
    json_t *msg = parse_nul("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stats\"}", &rq, NETD_OK);
    assert_non_null(rq.m);
    assert_int_equal(rq.m->id, NETD_M_STATS);
    assert_int_equal(rq.method_len, 5);
    json_decref(msg);
    static const char *const unknown[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\u0000x\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"stats\\u0000evil\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\u0000\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\\u0000ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pin\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pingg\"}",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        msg = parse_nul(unknown[i], &rq, NETD_OK);
        if (rq.m)
            fail_msg("%s found method %s", unknown[i], rq.m->name);
        assert_int_equal(rq.method_len, json_string_length(json_object_get(msg, "method")));
        json_decref(msg);
    }
}

static void test_jsonrpc_with_nul(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "{\"jsonrpc\":\"2.0\\u0000x\",\"id\":1,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\\u0000\",\"id\":1,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2\\u0000.0\",\"id\":1,\"method\":\"ping\"}",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        struct netd_rpc_req rq;
        json_t *msg = parse_nul(texts[i], &rq, NETD_E_INVALID_REQUEST);
        assert_int_equal(json_integer_value(rq.id), 1);
        json_decref(msg);
    }
}

/* The -32601 message names the whole name, with the NUL shown. */
static void test_unknown_method_message(void **state)
{
    (void)state;
    struct netd_rpc_req rq;
    char buf[256];
    json_t *msg =
        parse_nul("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\\u0000x\\n\"}", &rq, NETD_OK);
    netd_rpc_unknown_method(&rq, buf, sizeof buf);
    assert_string_equal(buf, "method not found: ping\\u0000x\\u000a");
    /* Cut names end in "...": never a shorter name without a mark. */
    netd_rpc_unknown_method(&rq, buf, 25);
    assert_string_equal(buf, "method not found: pin...");
    netd_rpc_unknown_method(&rq, buf, 28);
    assert_string_equal(buf, "method not found: ping...");
    netd_rpc_unknown_method(&rq, buf, 10);
    assert_string_equal(buf, "method no");
    buf[0] = 'x';
    netd_rpc_unknown_method(&rq, buf, 1);
    assert_string_equal(buf, "");
    json_decref(msg);
    msg = parse_nul("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"n\\u00e9\"}", &rq, NETD_OK);
    netd_rpc_unknown_method(&rq, buf, sizeof buf);
    assert_string_equal(buf, "method not found: n\xc3\xa9");
    json_decref(msg);
    /* A long name shows its first 200 bytes, marked as cut. */
    char text[400];
    snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%0300d\"}", 0);
    msg = parse_nul(text, &rq, NETD_OK);
    netd_rpc_unknown_method(&rq, buf, sizeof buf);
    assert_int_equal(strlen(buf), 18 + 200 + 3);
    assert_string_equal(buf + 218, "...");
    json_decref(msg);
}

static void test_str_is_and_text(void **state)
{
    (void)state;
    json_t *all = json_string("all"), *num = json_integer(3);
    json_t *nul = json_stringn("all\0", 4), *mid = json_stringn("a\0l", 3);
    assert_true(netd_json_str_is(all, "all"));
    assert_false(netd_json_str_is(all, "al"));
    assert_false(netd_json_str_is(all, "alll"));
    assert_false(netd_json_str_is(nul, "all"));
    assert_false(netd_json_str_is(num, "3"));
    assert_false(netd_json_str_is(NULL, "all"));
    assert_true(netd_json_text(all));
    assert_false(netd_json_text(nul));
    assert_false(netd_json_text(mid));
    assert_false(netd_json_text(num));
    assert_false(netd_json_text(NULL));
    json_decref(all);
    json_decref(num);
    json_decref(nul);
    json_decref(mid);
}

/* Parses a line netd wrote, checking it is one compact line. */
static json_t *parse_line(char *line)
{
    assert_non_null(line);
    assert_null(strchr(line, '\n'));
    assert_null(strchr(line, '\r'));
    json_t *v = parse(line);
    free(line);
    assert_string_equal(json_string_value(json_object_get(v, "jsonrpc")), "2.0");
    return v;
}

static void test_result(void **state)
{
    (void)state;
    json_t *id = json_string("req-1");
    json_t *result = json_pack("{s:s}", "data", "two\nlines\r\tand \x01 control");
    json_incref(result);
    json_t *v = parse_line(netd_rpc_result(id, result));
    /* The id was borrowed and the result stolen. */
    assert_int_equal(id->refcount, 1);
    assert_int_equal(result->refcount, 1);
    assert_true(json_equal(json_object_get(v, "id"), id));
    assert_true(json_equal(json_object_get(v, "result"), result));
    assert_null(json_object_get(v, "error"));
    json_decref(v);
    json_decref(id);
    json_decref(result);
}

/* netd_rpc_result writes the very line jansson writes for the whole
 * envelope, for every kind of id and result. */
static void test_result_as_jansson_writes_it(void **state)
{
    (void)state;
    static const char *const ids[] = {"0",
                                      "1",
                                      "-7",
                                      "9007199254740993",
                                      "-9223372036854775808",
                                      "\"x\"",
                                      "\"a\\\"b\\u0001\\u00e9\"",
                                      "null",
                                      "1.5",
                                      "1e300"};
    static const char *const results[] = {
        "{}",
        "{\"a\":1}",
        "{\"data\":\"QUJD\",\"encoding\":\"base64\",\"eof\":false}",
        "{\"handles\":[{\"handle\":\"h0.1\"}],\"x\":null}",
        "[]",
        "\"s\\n\"",
        "42"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        for (size_t k = 0; k < sizeof results / sizeof results[0]; k++) {
            json_t *id = json_loads(ids[i], JSON_DECODE_ANY, NULL);
            json_t *res = json_loads(results[k], JSON_DECODE_ANY, NULL);
            assert_non_null(id);
            assert_non_null(res);
            json_t *env = json_pack("{s:s,s:O,s:O}", "jsonrpc", "2.0", "id", id, "result", res);
            char *want = json_dumps(env, JSON_COMPACT | JSON_ENCODE_ANY);
            char *got = netd_rpc_result(json_is_null(id) ? NULL : id, res);
            assert_string_equal(got, want);
            free(got);
            free(want);
            json_decref(env);
            json_decref(id);
        }
    }
}

static void test_result_null_id(void **state)
{
    (void)state;
    json_t *v = parse_line(netd_rpc_result(NULL, json_object()));
    assert_true(json_is_null(json_object_get(v, "id")));
    assert_true(json_is_object(json_object_get(v, "result")));
    json_decref(v);
}

/* A handler that could not build its result still gets an answer out. */
static void test_result_missing_becomes_internal_error(void **state)
{
    (void)state;
    json_t *id = json_integer(4);
    json_t *v = parse_line(netd_rpc_result(id, NULL));
    assert_int_equal(json_integer_value(json_object_get(v, "id")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "error"), "code")),
                     -32603);
    json_decref(v);
    json_decref(id);
}

static void test_error_with_data(void **state)
{
    (void)state;
    json_t *id = json_integer(9);
    json_t *data = json_pack("{s:s}", "errno", "ECONNREFUSED");
    json_t *v = parse_line(netd_rpc_error(id, NETD_E_OS, "connect: refused", data));
    assert_int_equal(json_integer_value(json_object_get(v, "id")), 9);
    assert_null(json_object_get(v, "result"));
    json_t *err = json_object_get(v, "error");
    assert_int_equal(json_integer_value(json_object_get(err, "code")), -32000);
    assert_string_equal(json_string_value(json_object_get(err, "message")), "connect: refused");
    assert_string_equal(json_string_value(json_object_get(json_object_get(err, "data"), "errno")),
                        "ECONNREFUSED");
    json_decref(v);
    json_decref(id);
}

static void test_error_without_data_or_message(void **state)
{
    (void)state;
    json_t *v = parse_line(netd_rpc_error(NULL, NETD_E_UNKNOWN_HANDLE, NULL, NULL));
    assert_true(json_is_null(json_object_get(v, "id")));
    json_t *err = json_object_get(v, "error");
    assert_int_equal(json_integer_value(json_object_get(err, "code")), -32002);
    assert_string_equal(json_string_value(json_object_get(err, "message")), "unknown handle");
    assert_null(json_object_get(err, "data"));
    json_decref(v);
}

/* A message that is not UTF-8 cannot be a JSON string; the kind's name is
 * sent instead of losing the answer. */
static void test_error_message_not_utf8(void **state)
{
    (void)state;
    json_t *v = parse_line(netd_rpc_error(NULL, NETD_E_RESOLVE, "bad \xff name", NULL));
    json_t *err = json_object_get(v, "error");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "resolve");
    json_decref(v);
}

static void test_error_message_with_newline(void **state)
{
    (void)state;
    json_t *v = parse_line(netd_rpc_error(NULL, NETD_E_INVALID_REQUEST, "line\none", NULL));
    json_t *err = json_object_get(v, "error");
    assert_string_equal(json_string_value(json_object_get(err, "message")), "line\none");
    json_decref(v);
}

static void test_notification(void **state)
{
    (void)state;
    json_t *v = parse_line(netd_rpc_notification(
        "accepted", json_pack("{s:s,s:s}", "listener", "h0.1", "handle", "h0.2")));
    assert_null(json_object_get(v, "id"));
    assert_string_equal(json_string_value(json_object_get(v, "method")), "accepted");
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "params"), "handle")),
                        "h0.2");
    json_decref(v);
    v = parse_line(netd_rpc_notification("closed", NULL));
    assert_true(json_is_object(json_object_get(v, "params")));
    json_decref(v);
}

static void test_request(void **state)
{
    (void)state;
    json_t *id = json_integer(12);
    json_t *v = parse_line(netd_rpc_request(id, "ping", NULL));
    assert_int_equal(json_integer_value(json_object_get(v, "id")), 12);
    assert_string_equal(json_string_value(json_object_get(v, "method")), "ping");
    assert_int_equal(json_object_size(json_object_get(v, "params")), 0);
    json_decref(v);
    v = parse_line(netd_rpc_request(NULL, "keep", json_pack("{s:s}", "handle", "h1.2")));
    assert_null(json_object_get(v, "id"));
    json_decref(v);
    json_decref(id);
}

/* What netd writes must itself pass netd's own request check. */
static void test_request_parses_back(void **state)
{
    (void)state;
    json_t *id = json_string("x");
    char *line = netd_rpc_request(id, "status", json_pack("{s:s}", "handle", "h0.3"));
    json_t *msg = parse(line);
    free(line);
    struct netd_rpc_req rq;
    const char *why;
    assert_int_equal(netd_rpc_parse(msg, &rq, &why), NETD_OK);
    assert_string_equal(rq.method, "status");
    assert_true(json_equal(rq.id, id));
    json_decref(msg);
    json_decref(id);
}

static void test_json_line(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:[i,i],s:s}", "a", 1, 2, "b", "x\ny");
    char *line = netd_json_line(v);
    assert_string_equal(line, "{\"a\":[1,2],\"b\":\"x\\ny\"}");
    free(line);
    json_decref(v);
    v = json_string("scalar");
    line = netd_json_line(v);
    assert_string_equal(line, "\"scalar\"");
    free(line);
    json_decref(v);
}

/* A result serialised by the caller is spliced in as it is and parses back
 * to the same envelope as one built with jansson. */
static void test_result_raw(void **state)
{
    (void)state;
    json_t *id = json_string("r\"1");
    const char *raw = "{\"data\":\"aGk=\",\"encoding\":\"base64\",\"eof\":false}";
    char *line = netd_rpc_result_raw(id, raw, strlen(raw));
    assert_non_null(line);
    assert_null(strchr(line, '\n'));
    json_error_t err;
    json_t *got = json_loads(line, 0, &err);
    assert_non_null(got);
    json_t *want = json_pack("{s:s,s:O,s:{s:s,s:s,s:b}}", "jsonrpc", "2.0", "id", id, "result",
                             "data", "aGk=", "encoding", "base64", "eof", 0);
    assert_true(json_equal(got, want));
    json_decref(got);
    json_decref(want);
    free(line);
    line = netd_rpc_result_raw(NULL, "{}", 2);
    assert_string_equal(line, "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}");
    free(line);
    json_decref(id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_request),
        cmocka_unit_test(test_notification_and_absent_params),
        cmocka_unit_test(test_not_an_object),
        cmocka_unit_test(test_jsonrpc_member),
        cmocka_unit_test(test_method_member),
        cmocka_unit_test(test_id_types),
        cmocka_unit_test(test_params_left_to_the_method),
        cmocka_unit_test(test_method_found_by_whole_name),
        cmocka_unit_test(test_jsonrpc_with_nul),
        cmocka_unit_test(test_unknown_method_message),
        cmocka_unit_test(test_str_is_and_text),
        cmocka_unit_test(test_result),
        cmocka_unit_test(test_result_as_jansson_writes_it),
        cmocka_unit_test(test_result_null_id),
        cmocka_unit_test(test_result_missing_becomes_internal_error),
        cmocka_unit_test(test_error_with_data),
        cmocka_unit_test(test_error_without_data_or_message),
        cmocka_unit_test(test_error_message_not_utf8),
        cmocka_unit_test(test_error_message_with_newline),
        cmocka_unit_test(test_notification),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_request_parses_back),
        cmocka_unit_test(test_json_line),
        cmocka_unit_test(test_result_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
