/*
 * rpc.c - the JSON-RPC 2.0 envelope.
 *
 * Every message netd writes goes through netd_json_line(): jansson escapes
 * control characters inside strings and JSON_COMPACT adds no whitespace
 * between tokens, so a message can never contain the '\n' that ends it.
 */
#include "rpc.h"

#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* An id is usable in a response when it is a string, a number or null. */
static int id_valid(const json_t *id)
{
    return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

int netd_json_str_is(const json_t *v, const char *s)
{
    size_t n = strlen(s);
    return json_is_string(v) && json_string_length(v) == n &&
           memcmp(json_string_value(v), s, n) == 0;
}

int netd_json_text(const json_t *v)
{
    return json_is_string(v) && memchr(json_string_value(v), '\0', json_string_length(v)) == NULL;
}

enum netd_err netd_rpc_parse(json_t *msg, struct netd_rpc_req *out, const char **why)
{
    out->id = NULL;
    out->method = NULL;
    out->method_len = 0;
    out->m = NULL;
    out->params = NULL;
    if (!json_is_object(msg)) {
        *why = "a request must be a JSON object";
        return NETD_E_INVALID_REQUEST;
    }
    /* The id is looked at first so that every later error can carry it. */
    json_t *id = json_object_get(msg, "id");
    if (id && !id_valid(id)) {
        *why = "\"id\" must be a string, a number or null";
        return NETD_E_INVALID_REQUEST;
    }
    out->id = id;
    json_t *version = json_object_get(msg, "jsonrpc");
    if (!netd_json_str_is(version, "2.0")) {
        *why = version ? "\"jsonrpc\" must be \"2.0\"" : "missing \"jsonrpc\": \"2.0\"";
        return NETD_E_INVALID_REQUEST;
    }
    json_t *method = json_object_get(msg, "method");
    if (!json_is_string(method)) {
        *why = method ? "\"method\" must be a string" : "missing \"method\"";
        return NETD_E_INVALID_REQUEST;
    }
    out->method = json_string_value(method);
    out->method_len = json_string_length(method);
    out->m = netd_method_findn(out->method, out->method_len);
    out->params = json_object_get(msg, "params");
    return NETD_OK;
}

/* Writes byte @c of a method name to @out (7 bytes) as itself, or as
 * \u00XX when it is a control character; returns the length. */
static size_t name_byte(unsigned char c, char *out)
{
    if (c >= 0x20 && c != 0x7f) {
        out[0] = (char)c;
        return 1;
    }
    return (size_t)snprintf(out, 7, "\\u%04x", c);
}

void netd_rpc_unknown_method(const struct netd_rpc_req *rq, char *buf, size_t len)
{
    if (len == 0)
        return;
    /* Long names are cut, and a cut name ends in "...", so that a message
     * can never show a shorter name that happens to be a method. */
    int o = snprintf(buf, len, "method not found: ");
    if (o < 0 || (size_t)o >= len)
        return;
    size_t at = (size_t)o, shown = rq->method_len < 200 ? rq->method_len : 200;
    int cut = shown < rq->method_len;
    for (size_t i = 0; i < shown; i++) {
        char esc[7];
        size_t n = name_byte((unsigned char)rq->method[i], esc);
        /* Room for this byte, the "..." that may follow and the NUL. */
        size_t after = i + 1 < shown || cut ? 4 : 1;
        if (at + n + after > len) {
            cut = 1;
            break;
        }
        memcpy(buf + at, esc, n);
        at += n;
    }
    if (cut && at + 4 <= len) {
        memcpy(buf + at, "...", 3);
        at += 3;
    }
    buf[at] = '\0';
}

char *netd_json_line(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Serialises @msg and drops it; NULL (out of memory) passes through. */
static char *line_and_free(json_t *msg)
{
    if (!msg)
        return NULL;
    char *line = netd_json_line(msg);
    json_decref(msg);
    return line;
}

/* A new object {"jsonrpc": "2.0"} followed by "id" when @with_id (@id
 * borrowed, NULL meaning null): the start of every message. */
static json_t *envelope(int with_id, json_t *id)
{
    json_t *msg = json_object();
    if (!msg)
        return NULL;
    if (json_object_set_new(msg, "jsonrpc", json_string("2.0")) < 0 ||
        (with_id && json_object_set(msg, "id", id ? id : json_null()) < 0)) {
        json_decref(msg);
        return NULL;
    }
    return msg;
}

/* Adds @value (stolen, even on failure, like json_object_set_new) under
 * @key and serialises the message. */
static char *finish(json_t *msg, const char *key, json_t *value)
{
    if (!msg) {
        json_decref(value);
        return NULL;
    }
    if (json_object_set_new(msg, key, value) < 0) {
        json_decref(msg);
        return NULL;
    }
    return line_and_free(msg);
}

/*
 * Every answer goes through here, so it avoids building an envelope object
 * only to serialise it: the result is serialised alone and put between the
 * envelope's fixed text. The line is the one jansson would write for the
 * whole envelope (a unit test compares them).
 */
char *netd_rpc_result(json_t *id, json_t *result)
{
    if (!result) {
        /* The handler ran out of memory building its result; the client
         * is still owed an answer. */
        return netd_rpc_error(id, NETD_E_INTERNAL, "out of memory building the result", NULL);
    }
    if (json_is_object(result) && json_object_size(result) == 0) {
        json_decref(result);
        return netd_rpc_result_raw(id, "{}", 2);
    }
    char *text = netd_json_line(result);
    json_decref(result);
    if (!text)
        return NULL;
    char *line = netd_rpc_result_raw(id, text, strlen(text));
    free(text);
    return line;
}

/* {"code", "message", "data"?}; steals @data. A message jansson refuses
 * (not valid UTF-8) is replaced by the kind's name rather than lost. */
static json_t *error_object(enum netd_err kind, const char *message, json_t *data)
{
    json_t *text = message ? json_string(message) : NULL;
    if (!text)
        text = json_string(netd_err_name(kind));
    json_t *err = json_object();
    if (!err) {
        json_decref(text);
        json_decref(data);
        return NULL;
    }
    /* No short-circuit: each call steals its value even when it fails, so
     * running all of them is what frees everything on the error path. */
    int rc = json_object_set_new(err, "code", json_integer(netd_err_code(kind)));
    rc |= json_object_set_new(err, "message", text);
    if (data)
        rc |= json_object_set_new(err, "data", data);
    if (rc != 0) {
        json_decref(err);
        return NULL;
    }
    return err;
}

char *netd_rpc_error(json_t *id, enum netd_err kind, const char *message, json_t *data)
{
    json_t *err = error_object(kind, message, data);
    if (!err)
        return NULL;
    return finish(envelope(1, id), "error", err);
}

/* {"jsonrpc", "id"?, "method", "params"}: a request when @with_id, else a
 * notification. Steals @params (NULL becomes {}). */
static char *call_line(int with_id, json_t *id, const char *method, json_t *params)
{
    if (!params)
        params = json_object();
    json_t *msg = method ? envelope(with_id, id) : NULL;
    if (msg && json_object_set_new(msg, "method", json_string(method)) < 0) {
        json_decref(msg);
        msg = NULL;
    }
    return finish(msg, "params", params);
}

char *netd_rpc_notification(const char *method, json_t *params)
{
    return call_line(0, NULL, method, params);
}

char *netd_rpc_request(json_t *id, const char *method, json_t *params)
{
    return call_line(id != NULL, id, method, params);
}

/* Writes @v in decimal to @out (at least 21 bytes) and NUL-terminates. */
static void format_int(char *out, json_int_t v)
{
    char digits[24];
    int n = 0;
    /* Negated digit by digit, so the most negative value needs no care. */
    bool neg = v < 0;
    do {
        int d = (int)(v % 10);
        digits[n++] = (char)('0' + (d < 0 ? -d : d));
        v /= 10;
    } while (v != 0);
    if (neg)
        *out++ = '-';
    while (n > 0)
        *out++ = digits[--n];
    *out = '\0';
}

char *netd_rpc_result_raw(json_t *id, const char *result, size_t len)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":", mid[] = ",\"result\":";
    /* An integer id, the usual kind, is printed here as jansson prints it
     * (decimal, '-' when negative), without printf's machinery. */
    char num[32], *ids = num;
    if (json_is_integer(id))
        format_int(num, json_integer_value(id));
    else
        ids = id ? json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("null");
    if (!ids)
        return NULL;
    size_t idlen = strlen(ids);
    char *out = malloc(sizeof head - 1 + idlen + sizeof mid - 1 + len + 2);
    if (out) {
        char *p = out;
        memcpy(p, head, sizeof head - 1);
        p += sizeof head - 1;
        memcpy(p, ids, idlen);
        p += idlen;
        memcpy(p, mid, sizeof mid - 1);
        p += sizeof mid - 1;
        memcpy(p, result, len);
        p += len;
        *p++ = '}';
        *p = '\0';
    }
    if (ids != num)
        free(ids);
    return out;
}
