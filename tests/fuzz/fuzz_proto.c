/*
 * fuzz_proto.c - libFuzzer target for everything in proto/ that reads
 * client bytes: line framing (line.c), the JSON-RPC envelope (rpc.c), the
 * parameter checks against the method table (methods.c), the data codecs
 * (codec.c) and handle names (handlename.c).
 *
 * The input is what a client could write to its control connection. It is
 * fed to a line splitter in pieces of varying size, as reads from a socket
 * would deliver it, and each line goes the way netd's control connection
 * sends it: parsed with the daemon's jansson flags, a batch split into its
 * requests, each request through netd_rpc_parse() and netd_params_check(),
 * its data decoded, and an answer serialised. Besides the sanitizers, the
 * target checks properties that must hold for any input and aborts when
 * one does not:
 *   - the splitter hands out every byte of a line once, never a '\n' inside
 *     a line, and never a line longer than its maximum;
 *   - a method found by name is exactly that name (a NUL never shortens it);
 *   - parameters that pass the check have the types the table promises;
 *   - decoded data encodes back to data that decodes to the same bytes;
 *   - netd_utf8_valid() agrees with jansson's own UTF-8 check;
 *   - a handle name that parses is exactly the canonical name of its value;
 *   - every answer is one line of JSON with the request's id;
 *   - the lean paths (lean.c) take only lines jansson parses, and give
 *     what jansson gives.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "codec.h"
#include "handlename.h"
#include "lean.h"
#include "line.h"
#include "methods.h"
#include "rpc.h"

/* Small, so that inputs of a few KiB reach the over-long path too. */
#define FUZZ_MAX_LINE 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_proto: property failed at %s:%d: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                                        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An answer line netd would write: one line, valid JSON, the right id. */
static void check_answer(char *line, const json_t *id)
{
    if (!line)
        return; /* out of memory: allowed */
    CHECK(strchr(line, '\n') == NULL);
    json_t *back = json_loads(line, JSON_ALLOW_NUL, NULL);
    CHECK(back != NULL);
    const json_t *bid = json_object_get(back, "id");
    CHECK(bid != NULL);
    CHECK(id ? json_equal(bid, id) : json_is_null(bid));
    json_decref(back);
    free(line);
}

/* The canonical-name property for any bytes offered as a handle name. */
static void check_handle_bytes(const char *s, size_t n)
{
    int worker;
    uint64_t seq;
    if (netd_handle_parse(s, n, &worker, &seq) != 0)
        return;
    char again[NETD_HANDLE_NAME_MAX + 1];
    int len = netd_handle_format(again, sizeof again, worker, seq);
    CHECK(len > 0 && (size_t)len == n && memcmp(again, s, n) == 0);
}

static void check_handle_name(const json_t *v)
{
    if (json_is_string(v))
        check_handle_bytes(json_string_value(v), json_string_length(v));
}

/* Decoding then encoding then decoding again gives the same bytes; a utf8
 * result that came back as utf8 is the very bytes. */
static void check_data(const json_t *datav, const json_t *encv)
{
    enum netd_encoding enc = NETD_ENC_BASE64;
    if (encv && !json_is_null(encv))
        CHECK(netd_encoding_parse(json_string_value(encv), &enc) == 0);
    uint8_t *bytes = NULL;
    size_t n = 0;
    if (netd_data_decode(json_string_value(datav), json_string_length(datav), enc, &bytes, &n) < 0)
        return;
    enum netd_encoding used;
    json_t *s = netd_data_encode(bytes, n, enc, &used);
    if (s) {
        uint8_t *again = NULL;
        size_t m = 0;
        CHECK(netd_data_decode(json_string_value(s), json_string_length(s), used, &again, &m) == 0);
        CHECK(m == n && (n == 0 || memcmp(again, bytes, n) == 0));
        free(again);
        json_decref(s);
    }
    free(bytes);
}

/* What netd_params_check() promises a handler about the values it let by. */
static void check_checked_params(const struct netd_method *m, const json_t *params)
{
    for (const struct netd_param *p = m->params; p->name; p++) {
        const json_t *v = json_object_get(params, p->name);
        if (!v || json_is_null(v))
            continue;
        switch (p->type) {
        case NETD_P_STRING:
        case NETD_P_HANDLE:
            CHECK(netd_json_text(v));
            if (p->type == NETD_P_HANDLE)
                check_handle_name(v);
            break;
        case NETD_P_ENUM: {
            int found = 0;
            for (const char *const *c = p->choices; *c; c++)
                found |= netd_json_str_is(v, *c);
            CHECK(found);
            break;
        }
        case NETD_P_NBYTES:
            CHECK(json_is_integer(v) || netd_json_str_is(v, "all"));
            break;
        default:
            break;
        }
    }
    const json_t *datav = json_object_get(params, "data");
    if (json_is_string(datav))
        check_data(datav, json_object_get(params, "encoding"));
    check_handle_name(json_object_get(params, "dest"));
}

/* One request object, as dispatch_request() takes it. */
static void one_request(json_t *msg)
{
    struct netd_rpc_req rq;
    const char *why = NULL;
    enum netd_err kind = netd_rpc_parse(msg, &rq, &why);
    if (kind != NETD_OK) {
        CHECK(why != NULL);
        check_answer(netd_rpc_error(rq.id, kind, why, NULL), rq.id);
        return;
    }
    CHECK(rq.method != NULL);
    if (!rq.m) {
        char buf[256];
        netd_rpc_unknown_method(&rq, buf, sizeof buf);
        check_answer(netd_rpc_error(rq.id, NETD_E_METHOD, buf, NULL), rq.id);
        return;
    }
    CHECK(strlen(rq.m->name) == rq.method_len && memcmp(rq.m->name, rq.method, rq.method_len) == 0);
    char why_buf[256];
    if (netd_params_check(rq.m, rq.params, why_buf, sizeof why_buf) != NETD_OK) {
        CHECK(memchr(why_buf, '\0', sizeof why_buf) != NULL && why_buf[0] != '\0');
        check_answer(netd_rpc_error(rq.id, NETD_E_PARAMS, why_buf, NULL), rq.id);
        return;
    }
    CHECK(!rq.params || json_is_object(rq.params));
    check_checked_params(rq.m, rq.params);
    check_answer(netd_rpc_result(rq.id, json_pack("{s:s}", "method", rq.m->name)), rq.id);
}

/* jansson builds a string only from valid UTF-8, and so must our check. */
static void check_utf8(const char *line, size_t len)
{
    json_t *s = json_stringn(line, len);
    CHECK(netd_utf8_valid((const uint8_t *)line, len) == (s != NULL));
    json_decref(s);
}

/* The decoders on raw text: a success re-encodes to something that decodes
 * to the same bytes. */
static void check_codecs(const char *line, size_t len)
{
    uint8_t *out = malloc(len + 4);
    if (!out)
        return;
    size_t n;
    if (netd_base64_decode(line, len, out, &n) == 0) {
        char *enc = malloc(netd_base64_len(n) + 1);
        uint8_t *again = malloc(n + 4);
        size_t m;
        if (enc && again) {
            netd_base64_encode(out, n, enc);
            CHECK(netd_base64_decode(enc, strlen(enc), again, &m) == 0);
            CHECK(m == n && memcmp(again, out, n) == 0);
        }
        free(enc);
        free(again);
    }
    if (netd_hex_decode(line, len, out, &n) == 0) {
        char *enc = malloc(2 * n + 1);
        if (enc) {
            netd_hex_encode(out, n, enc);
            CHECK(strlen(enc) == len);
            for (size_t i = 0; i < len; i++)
                CHECK(enc[i] == line[i] || enc[i] == (line[i] | 0x20));
        }
        free(enc);
    }
    free(out);
}

#define FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY)

/* The lean paths against jansson on @line (which jansson parsed to @full,
 * or refused: NULL). */
static void check_lean(const char *line, size_t len, const json_t *full)
{
    size_t off, n;
    json_t *lean = netd_lean_load(line, len, "params", "data", FLAGS, &off, &n);
    if (lean) {
        CHECK(full != NULL);
        json_t *params = json_object_get(lean, "params");
        CHECK(json_string_length(json_object_get(params, "data")) == 0);
        json_object_set_new(params, "data", json_stringn(line + off, n));
        CHECK(json_equal(lean, full));
        json_decref(lean);
    }
    struct netd_lean_req lr;
    if (netd_lean_request(line, len, FLAGS, &lr) < 0)
        return;
    CHECK(full != NULL);
    json_t *want = json_pack("{s:s,s:s%}", "jsonrpc", "2.0", "method", lr.method, lr.method_len);
    if (lr.has_id)
        json_object_set_new(want, "id", json_integer(lr.id));
    if (lr.params) {
        if (lr.has_data)
            json_object_set_new(lr.params, "data", json_stringn(line + lr.data_off, lr.data_n));
        json_object_set_new(want, "params", lr.params);
    }
    CHECK(json_equal(want, full));
    json_decref(want);
}

static void one_line(char *line, size_t len)
{
    CHECK(len <= FUZZ_MAX_LINE);
    CHECK(memchr(line, '\n', len) == NULL);
    CHECK(line[len] == '\0');
    check_utf8(line, len);
    check_codecs(line, len);
    check_handle_bytes(line, len);
    json_error_t err;
    json_t *msg = json_loadb(line, len, FLAGS, &err);
    check_lean(line, len, msg);
    if (!msg) {
        check_answer(netd_rpc_error(NULL, NETD_E_PARSE, err.text, NULL), NULL);
        return;
    }
    if (json_is_array(msg)) {
        size_t i;
        json_t *el;
        json_array_foreach(msg, i, el) one_request(el);
    } else {
        one_request(msg);
    }
    json_decref(msg);
}

/* xorshift32 seeded by the input's length: piece sizes vary between
 * inputs but repeat for the same input, so a crash reproduces. */
static uint32_t next_piece(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Where the line starting at @pos ends: at its '\n', or at the end of the
 * input when it has none. */
static size_t line_end(const uint8_t *data, size_t size, size_t pos)
{
    const uint8_t *nl = memchr(data + pos, '\n', size - pos);
    return nl ? (size_t)(nl - data) : size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct netd_line lb;
    netd_line_init(&lb, FUZZ_MAX_LINE);
    uint32_t rs = (uint32_t)size * 2654435761u + 1;
    /* The splitter is checked against the input itself: @pos is where the
     * next line starts, so every line handed out must be the input's bytes
     * from there to the next '\n', and every line reported too long must
     * really be longer than the maximum. */
    size_t fed = 0, pos = 0;
    while (fed < size) {
        size_t piece = 1 + next_piece(&rs) % 700;
        if (piece > size - fed)
            piece = size - fed;
        if (netd_line_feed(&lb, (const char *)data + fed, piece) < 0)
            break;
        fed += piece;
        for (;;) {
            char *line;
            size_t len;
            int rc = netd_line_next(&lb, &line, &len);
            if (rc == NETD_LINE_NONE)
                break;
            size_t end = line_end(data, size, pos), next = end < size ? end + 1 : size;
            if (rc == NETD_LINE_TOOLONG) {
                CHECK(end - pos > FUZZ_MAX_LINE);
                pos = next;
                continue;
            }
            CHECK(rc == NETD_LINE_OK);
            CHECK(pos + len < size && data[pos + len] == '\n');
            CHECK(memcmp(line, data + pos, len) == 0);
            CHECK(pos + len < fed);
            pos = next;
            one_line(line, len);
        }
    }
    if (fed == size) {
        /* Every complete line came out; what is left is the last partial one. */
        CHECK(memchr(data + pos, '\n', size - pos) == NULL);
        CHECK(netd_line_buffered(&lb) == size - pos);
    }
    netd_line_free(&lb);
    return 0;
}
