/*
 * test_methods.c - the method table of proto/methods.c, the parameter
 * checks every request passes, and the agreement between the table and the
 * OpenRPC document (the file in proto/ and the copy built into netd).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"

#ifndef NETD_SOURCE_DIR
#error "NETD_SOURCE_DIR must name the source tree"
#endif

static const struct netd_method *method(const char *name)
{
    const struct netd_method *m = netd_method_find(name);
    if (!m)
        fail_msg("method %s is not in the table", name);
    return m;
}

/* Checks @params_json against @name's parameters, expecting @kind and, when
 * @why_want is given, exactly that message. */
static void check_params(const char *name, const char *params_json, enum netd_err kind,
                         const char *why_want)
{
    json_error_t err;
    json_t *params =
        params_json ? json_loads(params_json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err) : NULL;
    if (params_json && !params)
        fail_msg("test JSON does not parse: %s", params_json);
    char why[256];
    memset(why, 'x', sizeof why);
    enum netd_err got = netd_params_check(method(name), params, why, sizeof why);
    assert_non_null(memchr(why, '\0', sizeof why));
    if (got != kind)
        fail_msg("%s %s: got %d (%s), wanted %d", name, params_json ? params_json : "(none)", got,
                 why, kind);
    if (why_want)
        assert_string_equal(why, why_want);
    json_decref(params);
}

#define OK(name, params) check_params(name, params, NETD_OK, NULL)
#define BAD(name, params) check_params(name, params, NETD_E_PARAMS, NULL)
#define BAD_WHY(name, params, why) check_params(name, params, NETD_E_PARAMS, why)

static void test_table_is_indexed_by_id(void **state)
{
    (void)state;
    for (int i = 0; i < NETD_M__COUNT; i++) {
        const struct netd_method *m = &netd_methods[i];
        assert_non_null(m->name);
        assert_int_equal(m->id, i);
        assert_non_null(m->params);
        assert_non_null(m->summary);
        assert_true(strlen(m->summary) > 5);
        assert_ptr_equal(netd_method_find(m->name), m);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(netd_methods[j].name, m->name);
    }
}

static void test_find(void **state)
{
    (void)state;
    assert_int_equal(method("ping")->id, NETD_M_PING);
    assert_int_equal(method("rpc.discover")->id, NETD_M_DISCOVER);
    assert_int_equal(method("address-unpack")->id, NETD_M_ADDRESS_UNPACK);
    assert_null(netd_method_find("Ping"));
    assert_null(netd_method_find("ping "));
    assert_null(netd_method_find(""));
    assert_null(netd_method_find("tls"));
    assert_non_null(netd_method_find("tls-config"));
    assert_null(netd_method_find(NULL));
    assert_ptr_equal(netd_method_findn("ping", 4), method("ping"));
    assert_ptr_equal(netd_method_findn("pingx", 4), method("ping"));
    assert_null(netd_method_findn("ping\0x", 6));
    assert_null(netd_method_findn("stats\0evil", 10));
    assert_null(netd_method_findn("ping\0", 5));
    assert_null(netd_method_findn("ping", 3));
    assert_null(netd_method_findn("", 0));
    assert_null(netd_method_findn(NULL, 0));
}

static void test_param_specs_are_sane(void **state)
{
    (void)state;
    for (int i = 0; i < NETD_M__COUNT; i++) {
        const struct netd_method *m = &netd_methods[i];
        for (const struct netd_param *p = m->params; p->name; p++) {
            assert_ptr_equal(netd_param_find(m, p->name), p);
            if (p->type == NETD_P_ENUM)
                assert_true(p->choices && p->choices[0]);
            if (p->type == NETD_P_INT)
                assert_true(p->min <= p->max);
            if (p->flags & NETD_PF_ALL)
                assert_int_equal(p->type, NETD_P_NBYTES);
        }
        assert_null(netd_param_find(m, "no-such-parameter"));
    }
}

/* The parameters each method takes, written out independently of the table:
 * "name:type" with a trailing '*' for required ones. */
static const struct {
    const char *method;
    const char *params;
} expected_params[] = {
    {"ping", ""},
    {"rpc.discover", ""},
    {"address", "host:s port:p path:u type:e family:e multi:b wait:b timeout:t keep:b passive:b "
                "canonname:b numeric:b"},
    {"address-unpack", "handle:h*"},
    {"connect",
     "host:s port:p path:u address:h type:e bindhost:s bindport:p tls:l options:a wait:b "
     "timeout:t keep:b"},
    {"listen",
     "host:s port:p path:u type:e backlog:i reuseaddr:b reuseport:b tls:l options:a keep:b"},
    {"accept", "handle:h* timeout:t keep:b"},
    {"read", "handle:h* nbytes:n* timeout:t encoding:e peek:b"},
    {"chunk", "handle:h* nbytes:n* timeout:t encoding:e"},
    {"write", "handle:h* data:d* encoding:e timeout:t partial:b oob:b"},
    {"pending", "handle:h*"},
    {"flush", "handle:h*"},
    {"shutdown", "handle:h* mode:e"},
    {"close", "handle:h*"},
    {"cancel", "handle:h*"},
    {"localname", "handle:h*"},
    {"peername", "handle:h*"},
    {"status", "handle:h*"},
    {"wait", "handle:h* for:e* timeout:t"},
    {"keep", "handle:h*"},
    {"handles", ""},
    {"stats", ""},
    {"accept-loop", "handle:h*"},
    {"server",
     "host:s port:p path:u type:e backlog:i reuseaddr:b reuseport:b tls:l options:a keep:b"},
    {"recv-from", "handle:h* nbytes:n timeout:t encoding:e peek:b"},
    {"send-to", "handle:h* dest:x* data:d* encoding:e timeout:t"},
    {"setsockopt", "handle:h* option:e* value:a*"},
    {"getsockopt", "handle:h* option:e*"},
    {"pair", "type:e keep:b"},
    {"local-addresses", ""},
    {"release", "handle:h* dup:b"},
    {"assign", "keep:b"},
    {"starttls", "handle:h* role:e servername:s verify:b cafile:f capath:f alpn:a cert:f key:f "
                 "verify_client:b timeout:t keep:b"},
    {"tls-config", "cafile:f capath:f"},
    {"disconnect", "handle:h*"},
    {"attach", "handle:h* mode:e"},
    {"splice", "a:h* b:h* wait:b"},
    {"policy-explain", "uid:i method:e* params:a"},
    {"monitor", ""},
};

static char type_letter(enum netd_ptype t)
{
    static const char letters[] = {
        [NETD_P_STRING] = 's', [NETD_P_DATA] = 'd',    [NETD_P_HANDLE] = 'h', [NETD_P_PORT] = 'p',
        [NETD_P_BOOL] = 'b',   [NETD_P_TIMEOUT] = 't', [NETD_P_NBYTES] = 'n', [NETD_P_INT] = 'i',
        [NETD_P_ENUM] = 'e',   [NETD_P_ANY] = 'a',     [NETD_P_PATH] = 'u',   [NETD_P_FILE] = 'f',
        [NETD_P_TLS] = 'l',    [NETD_P_DEST] = 'x',
    };
    return letters[t];
}

static void test_every_method_has_its_parameters(void **state)
{
    (void)state;
    size_t n = sizeof expected_params / sizeof expected_params[0];
    assert_int_equal(n, NETD_M__COUNT);
    for (size_t i = 0; i < n; i++) {
        const struct netd_method *m = method(expected_params[i].method);
        char got[512] = "";
        size_t len = 0;
        for (const struct netd_param *p = m->params; p->name; p++) {
            len +=
                (size_t)snprintf(got + len, sizeof got - len, "%s%s:%c%s", len ? " " : "", p->name,
                                 type_letter(p->type), (p->flags & NETD_PF_REQUIRED) ? "*" : "");
        }
        assert_string_equal(got, expected_params[i].params);
    }
    assert_true(method("read")->params[1].flags & NETD_PF_ALL);
    assert_false(method("chunk")->params[1].flags & NETD_PF_ALL);
}

static void test_params_absent_empty_or_not_object(void **state)
{
    (void)state;
    OK("ping", NULL);
    OK("ping", "{}");
    OK("stats", "{}");
    BAD_WHY("ping", "[]",
            "params must be an object of named parameters (positional params are not supported)");
    BAD_WHY("read", "[\"h0.1\",1]",
            "params must be an object of named parameters (positional params are not supported)");
    BAD_WHY("ping", "\"x\"", "params must be an object of named parameters");
    BAD("ping", "7");
    BAD_WHY("status", NULL, "missing required parameter 'handle'");
    BAD_WHY("status", "{}", "missing required parameter 'handle'");
}

static void test_unknown_parameter(void **state)
{
    (void)state;
    BAD_WHY("ping", "{\"foo\":1}", "unknown parameter 'foo'");
    BAD_WHY("status", "{\"handle\":\"h0.1\",\"foo\":null}", "unknown parameter 'foo'");
    BAD_WHY("connect", "{\"host\":\"x\",\"port\":1,\"tsl\":true}", "unknown parameter 'tsl'");
    /* Names are case-sensitive. */
    BAD_WHY("status", "{\"Handle\":\"h0.1\"}", "unknown parameter 'Handle'");
}

static void test_missing_required(void **state)
{
    (void)state;
    BAD_WHY("read", "{\"handle\":\"h0.1\"}", "missing required parameter 'nbytes'");
    BAD_WHY("read", "{\"nbytes\":4}", "missing required parameter 'handle'");
    BAD_WHY("write", "{\"handle\":\"h0.1\"}", "missing required parameter 'data'");
    BAD_WHY("wait", "{\"handle\":\"h0.1\"}", "missing required parameter 'for'");
    OK("wait", "{\"handle\":\"h0.1\",\"for\":\"readable\"}");
}

/* null means "not given": fine for optional parameters, not for required. */
static void test_null_is_absent(void **state)
{
    (void)state;
    OK("connect", "{\"host\":\"localhost\",\"port\":80,\"path\":null,\"type\":null,\"keep\":null}");
    OK("read", "{\"handle\":\"h0.1\",\"nbytes\":1,\"encoding\":null,\"timeout\":null}");
    BAD("status", "{\"handle\":null}");
    BAD("read", "{\"handle\":\"h0.1\",\"nbytes\":null}");
}

static void test_string(void **state)
{
    (void)state;
    OK("connect", "{\"host\":\"example.org\",\"port\":80}");
    OK("connect", "{\"host\":\"\",\"port\":80}");
    OK("write", "{\"handle\":\"h0.1\",\"data\":\"\"}");
    BAD_WHY("connect", "{\"host\":5}", "parameter 'host' must be a string");
    BAD("connect", "{\"bindhost\":true}");
    BAD("write", "{\"handle\":\"h0.1\",\"data\":[1]}");
    BAD("listen", "{\"path\":{}}");
}

static void test_handle(void **state)
{
    (void)state;
    char json[200];
    char h64[65];
    memset(h64, 'a', 64);
    h64[64] = '\0';
    OK("status", "{\"handle\":\"h\"}");
    snprintf(json, sizeof json, "{\"handle\":\"%s\"}", h64);
    OK("status", json);
    snprintf(json, sizeof json, "{\"handle\":\"%sa\"}", h64);
    BAD_WHY("status", json, "parameter 'handle' must be a handle (a string of 1 to 64 characters)");
    BAD("status", "{\"handle\":\"\"}");
    BAD("status", "{\"handle\":1}");
    BAD("status", "{\"handle\":\"h0\\u00001\"}");
    OK("connect", "{\"address\":\"h0.1\"}");
    BAD("connect", "{\"address\":7}");
}

static void test_port(void **state)
{
    (void)state;
    OK("connect", "{\"host\":\"x\",\"port\":0}");
    OK("connect", "{\"host\":\"x\",\"port\":65535}");
    OK("connect", "{\"host\":\"x\",\"port\":\"http\"}");
    OK("connect", "{\"host\":\"x\",\"port\":\"8080\"}");
    BAD_WHY("connect", "{\"port\":-1}",
            "parameter 'port' must be an integer between 0 and 65535 or a service name");
    BAD("connect", "{\"port\":65536}");
    BAD("connect", "{\"port\":\"\"}");
    BAD("connect", "{\"port\":80.5}");
    BAD("connect", "{\"port\":true}");
    OK("connect", "{\"host\":\"x\",\"port\":1,\"bindport\":0}");
    BAD("connect", "{\"bindport\":70000}");
    /* Strings are held to the same range as numbers: none wraps. */
    BAD_WHY("listen", "{\"port\":\"65537\"}",
            "parameter 'port' must be an integer between 0 and 65535 or a service name");
    BAD("connect", "{\"host\":\"x\",\"port\":\"72543\"}");
    BAD("connect", "{\"host\":\"x\",\"port\":1,\"bindport\":\"65536\"}");
    BAD("address", "{\"host\":\"x\",\"port\":\"-1\"}");
    BAD("address", "{\"host\":\"x\",\"port\":\" 80\"}");
    BAD("address", "{\"host\":\"x\",\"port\":\"0x50\"}");
    BAD("address", "{\"host\":\"x\",\"port\":\"1e3\"}");
    OK("address", "{\"host\":\"x\",\"port\":\"65535\"}");
    BAD_WHY("address", "{\"host\":\"x\",\"port\":\"no-such-service\"}",
            "parameter 'port' must be an integer between 0 and 65535 or a service name");
    BAD_WHY("send-to",
            "{\"handle\":\"h0.1\",\"data\":\"\",\"dest\":{\"host\":\"x\",\"port\":\"65537\"}}",
            "parameter 'dest.port' must be an integer between 0 and 65535 or a service name");
    OK("send-to", "{\"handle\":\"h0.1\",\"data\":\"\",\"dest\":{\"host\":\"x\",\"port\":\"53\"}}");
    OK("send-to", "{\"handle\":\"h0.1\",\"data\":\"\",\"dest\":\"h0.2\"}");
    BAD("send-to", "{\"handle\":\"h0.1\",\"data\":\"\",\"dest\":7}");
}

/* Paths must be absolute (or @name for sockets): netd has its own working directory. */
static void test_path(void **state)
{
    (void)state;
    OK("listen", "{\"path\":\"/run/x.sock\"}");
    OK("connect", "{\"path\":\"@abstract\"}");
    BAD_WHY("listen", "{\"path\":\"rel.sock\"}",
            "parameter 'path' must be an absolute path or @name, not \"rel.sock\": netd does not "
            "share the caller's working directory");
    BAD("connect", "{\"path\":\"./x\"}");
    BAD("connect", "{\"path\":\"@\"}");
    BAD("connect", "{\"path\":\"\"}");
    BAD("address", "{\"path\":\"/a\\u0000b\"}");
    BAD("send-to", "{\"handle\":\"h0.1\",\"data\":\"\",\"dest\":{\"path\":\"x.sock\"}}");
    BAD_WHY("connect", "{\"host\":\"x\",\"port\":1,\"tls\":{\"cafile\":\"ca.pem\"}}",
            "parameter 'tls.cafile' must be an absolute path, not \"ca.pem\": netd does not "
            "share the caller's working directory");
    BAD("listen", "{\"port\":0,\"tls\":{\"cert\":\"c.pem\",\"key\":\"/k.pem\"}}");
    BAD("listen", "{\"port\":0,\"tls\":{\"cert\":\"/c.pem\",\"key\":\"k.pem\"}}");
    BAD("connect", "{\"host\":\"x\",\"port\":1,\"tls\":{\"capath\":\"certs\"}}");
    OK("connect", "{\"host\":\"x\",\"port\":1,\"tls\":{\"cafile\":\"/etc/ca.pem\"}}");
    OK("connect", "{\"host\":\"x\",\"port\":1,\"tls\":true}");
    BAD("connect", "{\"host\":\"x\",\"port\":1,\"tls\":3}");
    BAD("tls-config", "{\"cafile\":\"ca.pem\"}");
    OK("tls-config", "{\"capath\":\"/etc/ssl/certs\"}");
    BAD("starttls", "{\"handle\":\"h0.1\",\"key\":\"k.pem\"}");
    char longpath[200];
    memset(longpath, 'a', sizeof longpath);
    longpath[0] = '/';
    longpath[108] = '\0';
    char req[300];
    snprintf(req, sizeof req, "{\"path\":\"%s\"}", longpath);
    BAD("listen", req);
    longpath[107] = '\0';
    snprintf(req, sizeof req, "{\"path\":\"%s\"}", longpath);
    OK("listen", req);
}

static void test_bool(void **state)
{
    (void)state;
    OK("address", "{\"host\":\"x\",\"wait\":false,\"multi\":true,\"keep\":true}");
    BAD_WHY("address", "{\"wait\":1}", "parameter 'wait' must be true or false");
    BAD("address", "{\"multi\":\"true\"}");
    BAD("write", "{\"handle\":\"h0.1\",\"data\":\"\",\"partial\":0}");
}

static void test_timeout(void **state)
{
    (void)state;
    static const char *const good[] = {"null", "0", "0.0", "0.001", "5", "31536000", "31535999.5"};
    static const char *const bad[] = {"-1",    "-0.001", "31536000.5", "31536001",
                                      "\"1\"", "true",   "[]"};
    char json[100];
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        snprintf(json, sizeof json, "{\"handle\":\"h0.1\",\"timeout\":%s}", good[i]);
        OK("accept", json);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(json, sizeof json, "{\"handle\":\"h0.1\",\"timeout\":%s}", bad[i]);
        BAD_WHY("accept", json,
                "parameter 'timeout' must be null or a number between 0 and 31536000");
    }
}

static void test_nbytes(void **state)
{
    (void)state;
    OK("read", "{\"handle\":\"h\",\"nbytes\":1}");
    OK("read", "{\"handle\":\"h\",\"nbytes\":9007199254740992}");
    OK("read", "{\"handle\":\"h\",\"nbytes\":\"all\"}");
    OK("chunk", "{\"handle\":\"h\",\"nbytes\":65536}");
    BAD_WHY("read", "{\"handle\":\"h\",\"nbytes\":0}",
            "parameter 'nbytes' must be an integer between 1 and 9007199254740992 or \"all\"");
    BAD("read", "{\"handle\":\"h\",\"nbytes\":-5}");
    BAD("read", "{\"handle\":\"h\",\"nbytes\":1.5}");
    BAD("read", "{\"handle\":\"h\",\"nbytes\":2.0}");
    BAD("read", "{\"handle\":\"h\",\"nbytes\":9007199254740993}");
    BAD("read", "{\"handle\":\"h\",\"nbytes\":\"ALL\"}");
    BAD("read", "{\"handle\":\"h\",\"nbytes\":\"12\"}");
    BAD_WHY("chunk", "{\"handle\":\"h\",\"nbytes\":\"all\"}",
            "parameter 'nbytes' must be an integer between 1 and 9007199254740992");
    BAD("chunk", "{\"handle\":\"h\",\"nbytes\":0}");
}

static void test_int(void **state)
{
    (void)state;
    OK("listen", "{\"port\":0,\"backlog\":1}");
    OK("listen", "{\"port\":0,\"backlog\":65535}");
    BAD_WHY("listen", "{\"port\":0,\"backlog\":0}",
            "parameter 'backlog' must be an integer between 1 and 65535");
    BAD("listen", "{\"port\":0,\"backlog\":65536}");
    BAD("listen", "{\"port\":0,\"backlog\":10.5}");
    BAD("listen", "{\"port\":0,\"backlog\":\"10\"}");
}

static void test_enum(void **state)
{
    (void)state;
    static const char *const modes[] = {"r", "w", "rw", "wr"};
    char json[100];
    for (size_t i = 0; i < 4; i++) {
        snprintf(json, sizeof json, "{\"handle\":\"h\",\"mode\":\"%s\"}", modes[i]);
        OK("shutdown", json);
    }
    BAD_WHY("shutdown", "{\"handle\":\"h\",\"mode\":\"x\"}",
            "parameter 'mode' must be one of \"r\", \"w\", \"rw\", \"wr\"");
    OK("connect", "{\"path\":\"@x\",\"type\":\"datagram\"}");
    BAD_WHY("connect", "{\"type\":\"STREAM\"}",
            "parameter 'type' must be one of \"stream\", \"datagram\"");
    OK("address", "{\"host\":\"x\",\"family\":\"inet6\"}");
    BAD("address", "{\"family\":\"unix\"}");
    OK("read", "{\"handle\":\"h\",\"nbytes\":1,\"encoding\":\"hex\"}");
    BAD_WHY("read", "{\"handle\":\"h\",\"nbytes\":1,\"encoding\":\"utf-8\"}",
            "parameter 'encoding' must be one of \"base64\", \"utf8\", \"hex\"");
    BAD("read", "{\"handle\":\"h\",\"nbytes\":1,\"encoding\":1}");
    static const char *const events[] = {"resolved", "connected", "readable",
                                         "writable", "drained",   "error"};
    for (size_t i = 0; i < 6; i++) {
        snprintf(json, sizeof json, "{\"handle\":\"h\",\"for\":\"%s\"}", events[i]);
        OK("wait", json);
    }
    BAD("wait", "{\"handle\":\"h\",\"for\":\"closed\"}");
}

/* A NUL byte never ends a string early: the part before it is not what
 * was sent, so every name-like string holding one is refused, naming the
 * parameter; data may hold NUL (utf8), and the codec judges it. */
static void test_nul_bytes(void **state)
{
    (void)state;
    static const struct {
        const char *method, *params, *param;
    } bad[] = {
        {"read", "{\"handle\":\"h0.1\",\"nbytes\":\"all\\u0000\"}", "nbytes"},
        {"read", "{\"handle\":\"h0.1\",\"nbytes\":\"all\\u0000x\"}", "nbytes"},
        {"read", "{\"handle\":\"h0.1\",\"nbytes\":1,\"encoding\":\"hex\\u0000\"}", "encoding"},
        {"read", "{\"handle\":\"h0.1\",\"nbytes\":1,\"encoding\":\"utf8\\u0000x\"}", "encoding"},
        {"write", "{\"handle\":\"h0.1\",\"data\":\"\",\"encoding\":\"base64\\u0000\"}", "encoding"},
        {"shutdown", "{\"handle\":\"h0.1\",\"mode\":\"r\\u0000w\"}", "mode"},
        {"wait", "{\"handle\":\"h0.1\",\"for\":\"readable\\u0000\"}", "for"},
        {"connect", "{\"host\":\"x\",\"port\":1,\"type\":\"stream\\u0000\"}", "type"},
        {"address", "{\"host\":\"x\",\"family\":\"inet\\u00006\"}", "family"},
        {"starttls", "{\"handle\":\"h0.1\",\"role\":\"client\\u0000\"}", "role"},
        {"setsockopt", "{\"handle\":\"h0.1\",\"option\":\"so-rcvbuf\\u0000\",\"value\":1}",
         "option"},
        {"getsockopt", "{\"handle\":\"h0.1\",\"option\":\"tcp-nodelay\\u0000x\"}", "option"},
        {"status", "{\"handle\":\"h0.1\\u0000\"}", "handle"},
        {"connect", "{\"address\":\"h0.1\\u0000\"}", "address"},
        {"connect", "{\"host\":\"localhost\\u0000evil\",\"port\":80}", "host"},
        {"connect", "{\"host\":\"x\",\"port\":\"http\\u0000\"}", "port"},
        {"connect", "{\"host\":\"x\",\"port\":1,\"bindhost\":\"\\u0000\"}", "bindhost"},
        {"connect", "{\"host\":\"x\",\"port\":1,\"bindport\":\"1\\u00002\"}", "bindport"},
        {"connect", "{\"path\":\"/tmp/s\\u0000x\"}", "path"},
        {"listen", "{\"path\":\"@a\\u0000b\"}", "path"},
        {"starttls", "{\"handle\":\"h0.1\",\"servername\":\"a\\u0000b\"}", "servername"},
        {"starttls", "{\"handle\":\"h0.1\",\"cafile\":\"/etc/x\\u0000\"}", "cafile"},
        {"starttls", "{\"handle\":\"h0.1\",\"cert\":\"c\\u0000\",\"key\":\"k\"}", "cert"},
        {"tls-config", "{\"capath\":\"/etc/ssl\\u0000/x\"}", "capath"},
    };
    char want[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(want, sizeof want, "parameter '%s' must not hold a NUL byte (\\u0000)",
                 bad[i].param);
        BAD_WHY(bad[i].method, bad[i].params, want);
    }
    /* The same values without the NUL pass, so it is the NUL that fails. */
    OK("read", "{\"handle\":\"h0.1\",\"nbytes\":\"all\",\"encoding\":\"hex\"}");
    OK("connect", "{\"host\":\"localhost\",\"port\":\"http\",\"type\":\"stream\"}");
    /* Data is bytes: a NUL is fine there. */
    OK("write", "{\"handle\":\"h0.1\",\"data\":\"a\\u0000b\",\"encoding\":\"utf8\"}");
    OK("send-to", "{\"handle\":\"h0.1\",\"dest\":{},\"data\":\"\\u0000\"}");
    /* A NUL where a number belongs is just the wrong type. */
    BAD_WHY("accept", "{\"handle\":\"h0.1\",\"timeout\":\"1\\u0000\"}",
            "parameter 'timeout' must be null or a number between 0 and 31536000");
}

/* The message is cut to fit but always terminated, even in a tiny buffer. */
static void test_short_message_buffer(void **state)
{
    (void)state;
    json_t *params = json_object();
    char why[8];
    assert_int_equal(netd_params_check(method("shutdown"), params, why, sizeof why), NETD_E_PARAMS);
    assert_string_equal(why, "missing");
    json_object_set_new(params, "handle", json_string("h"));
    json_object_set_new(params, "mode", json_string("bad"));
    assert_int_equal(netd_params_check(method("shutdown"), params, why, sizeof why), NETD_E_PARAMS);
    assert_string_equal(why, "paramet");
    assert_int_equal(netd_params_check(method("shutdown"), params, why, 0), NETD_E_PARAMS);
    json_decref(params);
}

/* ---- the OpenRPC document ---- */

static json_t *load_file_doc(void)
{
    json_error_t err;
    json_t *doc = json_load_file(NETD_SOURCE_DIR "/proto/netd.openrpc.json", 0, &err);
    if (!doc)
        fail_msg("proto/netd.openrpc.json: line %d: %s", err.line, err.text);
    return doc;
}

static json_t *load_embedded_doc(void)
{
    json_error_t err;
    assert_int_equal(strlen(netd_openrpc_json), netd_openrpc_json_len);
    json_t *doc = json_loadb(netd_openrpc_json, netd_openrpc_json_len, 0, &err);
    if (!doc)
        fail_msg("embedded OpenRPC document: line %d: %s", err.line, err.text);
    return doc;
}

static json_t *doc_method(json_t *doc, const char *name)
{
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(doc, "methods"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "name")), name) == 0)
            return m;
    }
    return NULL;
}

/* Follows a local "$ref" such as "#/components/schemas/Handle". */
static json_t *deref(json_t *doc, json_t *v)
{
    const char *ref = json_string_value(json_object_get(v, "$ref"));
    if (!ref)
        return v;
    assert_memory_equal(ref, "#/", 2);
    char path[256];
    snprintf(path, sizeof path, "%s", ref + 2);
    json_t *at = doc;
    for (char *save, *part = strtok_r(path, "/", &save); part; part = strtok_r(NULL, "/", &save))
        at = json_object_get(at, part);
    if (!at)
        fail_msg("dangling $ref %s", ref);
    return deref(doc, at);
}

/* An enum parameter's schema must list exactly the table's choices. */
static void check_enum(json_t *doc, const struct netd_param *p, json_t *schema, const char *mname)
{
    json_t *choices = json_object_get(deref(doc, schema), "enum");
    if (!json_is_array(choices))
        fail_msg("%s.%s: the document's schema has no enum", mname, p->name);
    size_t n = 0;
    for (; p->choices[n]; n++) {
        const char *got = json_string_value(json_array_get(choices, n));
        if (!got || strcmp(got, p->choices[n]) != 0)
            fail_msg("%s.%s: choice %zu differs", mname, p->name, n);
    }
    assert_int_equal(json_array_size(choices), n);
}

/* Every parameter of @m in the document, and nothing else, with the same
 * required flag. */
static void check_method_params(json_t *doc, const struct netd_method *m, json_t *dm)
{
    json_t *params = json_object_get(dm, "params");
    assert_true(json_is_array(params));
    size_t count = 0, i;
    json_t *dp;
    for (const struct netd_param *p = m->params; p->name; p++)
        count++;
    if (json_array_size(params) != count)
        fail_msg("%s: the document lists %zu parameters, the table %zu", m->name,
                 json_array_size(params), count);
    json_array_foreach(params, i, dp)
    {
        const char *name = json_string_value(json_object_get(dp, "name"));
        const struct netd_param *p = name ? netd_param_find(m, name) : NULL;
        if (!p)
            fail_msg("%s: documented parameter '%s' is not in the table", m->name, name);
        int required = json_is_true(json_object_get(dp, "required"));
        if (required != !!(p->flags & NETD_PF_REQUIRED))
            fail_msg("%s.%s: required flags differ", m->name, p->name);
        if (p->type == NETD_P_ENUM)
            check_enum(doc, p, json_object_get(dp, "schema"), m->name);
    }
}

static void check_doc_against_table(json_t *doc)
{
    assert_string_equal(json_string_value(json_object_get(doc, "openrpc")), "1.2.6");
    json_t *info = json_object_get(doc, "info");
    assert_string_equal(json_string_value(json_object_get(info, "title")), "netd");
    assert_string_equal(json_string_value(json_object_get(info, "version")), "0.1.0");
    for (int i = 0; i < NETD_M__COUNT; i++) {
        const struct netd_method *m = &netd_methods[i];
        json_t *dm = doc_method(doc, m->name);
        if (!dm)
            fail_msg("method %s is missing from the OpenRPC document", m->name);
        assert_non_null(json_object_get(dm, "result"));
        assert_string_equal(json_string_value(json_object_get(dm, "summary")), m->summary);
        check_method_params(doc, m, dm);
        /* Every request can fail (bad params, too many in flight, netd
         * stopping), and every method shows one example. */
        if (json_array_size(json_object_get(dm, "errors")) < 3)
            fail_msg("%s lists %zu errors", m->name,
                     json_array_size(json_object_get(dm, "errors")));
        json_t *ex = json_object_get(dm, "examples");
        if (json_array_size(ex) != 1 || !json_object_get(json_array_get(ex, 0), "result"))
            fail_msg("%s has no example with a result", m->name);
    }
    size_t i;
    json_t *dm;
    json_array_foreach(json_object_get(doc, "methods"), i, dm)
    {
        const char *name = json_string_value(json_object_get(dm, "name"));
        if (!name || !netd_method_find(name))
            fail_msg("documented method %s is not in the table", name ? name : "(no name)");
    }
    assert_int_equal(json_array_size(json_object_get(doc, "methods")), NETD_M__COUNT);
}

static void test_openrpc_file_matches_table(void **state)
{
    (void)state;
    json_t *doc = load_file_doc();
    check_doc_against_table(doc);
    json_decref(doc);
}

static void test_openrpc_embedded_matches_table_and_file(void **state)
{
    (void)state;
    json_t *doc = load_embedded_doc();
    check_doc_against_table(doc);
    json_t *file = load_file_doc();
    assert_true(json_equal(doc, file));
    json_decref(file);
    json_decref(doc);
}

/* The documented errors are those of the error table. */
static void test_openrpc_errors_match_error_table(void **state)
{
    (void)state;
    json_t *doc = load_file_doc();
    json_t *errors = json_object_get(json_object_get(doc, "components"), "errors");
    assert_int_equal(json_object_size(errors), NETD_E__COUNT - 1);
    for (int k = 1; k < NETD_E__COUNT; k++) {
        int found = 0;
        const char *key;
        json_t *e;
        json_object_foreach(errors, key, e)
        {
            if (json_integer_value(json_object_get(e, "code")) != netd_err_code((enum netd_err)k))
                continue;
            assert_string_equal(json_string_value(json_object_get(e, "message")),
                                netd_err_name((enum netd_err)k));
            found++;
        }
        if (found != 1)
            fail_msg("error code %d documented %d times", netd_err_code((enum netd_err)k), found);
    }
    json_decref(doc);
}

/* The limits of the daemon options are described under x-limits. */
static void test_openrpc_documents_limits(void **state)
{
    (void)state;
    static const char *const limits[] = {"max_request", "max_handles", "max_buffer",
                                         "max_read",    "max_queued",  "max_inflight"};
    json_t *doc = load_file_doc();
    json_t *x = json_object_get(doc, "x-limits");
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        json_t *l = json_object_get(x, limits[i]);
        if (!json_is_integer(json_object_get(l, "default")))
            fail_msg("x-limits.%s has no default", limits[i]);
        assert_true(json_is_string(json_object_get(l, "description")));
    }
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_indexed_by_id),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_param_specs_are_sane),
        cmocka_unit_test(test_every_method_has_its_parameters),
        cmocka_unit_test(test_params_absent_empty_or_not_object),
        cmocka_unit_test(test_unknown_parameter),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_null_is_absent),
        cmocka_unit_test(test_string),
        cmocka_unit_test(test_handle),
        cmocka_unit_test(test_port),
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_nbytes),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_nul_bytes),
        cmocka_unit_test(test_short_message_buffer),
        cmocka_unit_test(test_openrpc_file_matches_table),
        cmocka_unit_test(test_openrpc_embedded_matches_table_and_file),
        cmocka_unit_test(test_openrpc_errors_match_error_table),
        cmocka_unit_test(test_openrpc_documents_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
