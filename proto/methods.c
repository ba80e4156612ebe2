/*
 * methods.c - the method table and the parameter checks every request
 * passes before it reaches a handler. Handlers may therefore read their
 * parameters without re-checking types or ranges; what they still check is
 * meaning (for example that an address has host and port, or path).
 */
#include "methods.h"
#include "rpc.h"
#include "path.h"
#include "port.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* JSON numbers are exact up to 2^53; larger byte counts make no sense. */
#define NBYTES_MAX 9007199254740992LL

static const char *const socket_types[] = {"stream", "datagram", NULL};
static const char *const families[] = {"inet", "inet6", NULL};
static const char *const encodings[] = {"base64", "utf8", "hex", NULL};
static const char *const shutdown_modes[] = {"r", "w", "rw", "wr", NULL};
static const char *const wait_events[] = {"resolved", "connected", "readable", "writable",
                                          "drained",  "error",     NULL};

/* Shorthands that keep each table row on one line. */
/* clang-format off */
#define REQ NETD_PF_REQUIRED
#define P_STR(n) {.name = (n), .type = NETD_P_STRING}
#define P_BOOL(n) {.name = (n), .type = NETD_P_BOOL}
#define P_PORT(n) {.name = (n), .type = NETD_P_PORT}
#define P_PATH {.name = "path", .type = NETD_P_PATH}
#define P_FILE(n) {.name = (n), .type = NETD_P_FILE}
#define P_TLS {.name = "tls", .type = NETD_P_TLS}
#define P_ENUM(n, c, f) {.name = (n), .type = NETD_P_ENUM, .flags = (f), .choices = (c)}
#define P_HANDLE(f) {.name = "handle", .type = NETD_P_HANDLE, .flags = (f)}
#define P_TIMEOUT {.name = "timeout", .type = NETD_P_TIMEOUT}
#define P_KEEP P_BOOL("keep")
#define P_ENCODING P_ENUM("encoding", encodings, 0)
#define P_END {.name = NULL}

static const struct netd_param p_none[] = {P_END};
static const struct netd_param p_handle[] = {P_HANDLE(REQ), P_END};

static const struct netd_param p_address[] = {
    P_STR("host"), P_PORT("port"), P_PATH,
    P_ENUM("type", socket_types, 0), P_ENUM("family", families, 0),
    P_BOOL("multi"), P_BOOL("wait"), P_TIMEOUT, P_KEEP, P_BOOL("passive"), P_BOOL("canonname"),
    P_BOOL("numeric"), P_END};

static const struct netd_param p_connect[] = {
    P_STR("host"), P_PORT("port"), P_PATH,
    {.name = "address", .type = NETD_P_HANDLE},
    P_ENUM("type", socket_types, 0), P_STR("bindhost"), P_PORT("bindport"),
    P_TLS, {.name = "options", .type = NETD_P_ANY}, P_BOOL("wait"), P_TIMEOUT, P_KEEP, P_END};

static const struct netd_param p_listen[] = {
    P_STR("host"), P_PORT("port"), P_PATH,
    P_ENUM("type", socket_types, 0),
    {.name = "backlog", .type = NETD_P_INT, .min = 1, .max = 65535},
    P_BOOL("reuseaddr"), P_BOOL("reuseport"), P_TLS, {.name = "options", .type = NETD_P_ANY}, P_KEEP, P_END};

static const struct netd_param p_accept[] = {P_HANDLE(REQ), P_TIMEOUT, P_KEEP, P_END};

static const struct netd_param p_read[] = {
    P_HANDLE(REQ), {.name = "nbytes", .type = NETD_P_NBYTES, .flags = REQ | NETD_PF_ALL},
    P_TIMEOUT, P_ENCODING, P_BOOL("peek"), P_END};

static const struct netd_param p_chunk[] = {
    P_HANDLE(REQ), {.name = "nbytes", .type = NETD_P_NBYTES, .flags = REQ},
    P_TIMEOUT, P_ENCODING, P_END};

static const struct netd_param p_write[] = {
    P_HANDLE(REQ), {.name = "data", .type = NETD_P_DATA, .flags = REQ},
    P_ENCODING, P_TIMEOUT, P_BOOL("partial"), P_BOOL("oob"), P_END};

static const struct netd_param p_shutdown[] = {
    P_HANDLE(REQ), P_ENUM("mode", shutdown_modes, 0), P_END};

static const struct netd_param p_wait[] = {
    P_HANDLE(REQ), P_ENUM("for", wait_events, REQ), P_TIMEOUT, P_END};

const char *const netd_sockopt_names[] = {
    "so-broadcast", "so-reuseaddr", "so-reuseport", "so-keepalive", "so-linger", "so-rcvbuf",
    "so-sndbuf", "so-rcvlowat", "so-sndlowat", "so-dontroute", "so-debug", "so-oobinline",
    "so-timestamp", "so-type", "so-error", "so-acceptconn", "tcp-nodelay", "tcp-cork",
    "tcp-keepidle", "tcp-keepintvl", "tcp-keepcnt", "ip-ttl", "ip-multicast-ttl",
    "ip-multicast-loop", "ip-add-membership", "ip-drop-membership", "ipv6-v6only",
    "ipv6-multicast-hops", "ipv6-unicast-hops", "ipv6-join-group", "ipv6-leave-group",
    "so-rcvtimeo", "so-sndtimeo", "ip-multicast-if", "ipv6-multicast-if", NULL};
static const char *const tls_roles[] = {"client", "server", NULL};

static const struct netd_param p_server[] = {
    P_STR("host"), P_PORT("port"), P_PATH,
    P_ENUM("type", socket_types, 0),
    {.name = "backlog", .type = NETD_P_INT, .min = 1, .max = 65535},
    P_BOOL("reuseaddr"), P_BOOL("reuseport"), P_TLS, {.name = "options", .type = NETD_P_ANY}, P_KEEP, P_END};

static const struct netd_param p_recv_from[] = {
    P_HANDLE(REQ), {.name = "nbytes", .type = NETD_P_NBYTES},
    P_TIMEOUT, P_ENCODING, P_BOOL("peek"), P_END};

static const struct netd_param p_release[] = {P_HANDLE(REQ), P_BOOL("dup"), P_END};

static const struct netd_param p_send_to[] = {
    P_HANDLE(REQ), {.name = "dest", .type = NETD_P_DEST, .flags = REQ},
    {.name = "data", .type = NETD_P_DATA, .flags = REQ},
    P_ENCODING, P_TIMEOUT, P_END};

static const struct netd_param p_setsockopt[] = {
    P_HANDLE(REQ), P_ENUM("option", netd_sockopt_names, REQ),
    {.name = "value", .type = NETD_P_ANY, .flags = REQ}, P_END};

static const struct netd_param p_getsockopt[] = {
    P_HANDLE(REQ), P_ENUM("option", netd_sockopt_names, REQ), P_END};

static const struct netd_param p_pair[] = {P_ENUM("type", socket_types, 0), P_KEEP, P_END};
static const struct netd_param p_assign[] = {P_KEEP, P_END};

static const struct netd_param p_starttls[] = {
    P_HANDLE(REQ), P_ENUM("role", tls_roles, 0), P_STR("servername"), P_BOOL("verify"),
    P_FILE("cafile"), P_FILE("capath"), {.name = "alpn", .type = NETD_P_ANY},
    P_FILE("cert"), P_FILE("key"), P_BOOL("verify_client"), P_TIMEOUT, P_KEEP, P_END};

static const struct netd_param p_tls_config[] = {P_FILE("cafile"), P_FILE("capath"), P_END};

static const char *const attach_modes[] = {"upgrade", "fd", NULL};
static const struct netd_param p_attach[] = {P_HANDLE(REQ), P_ENUM("mode", attach_modes, 0), P_END};
static const struct netd_param p_splice[] = {
    {.name = "a", .type = NETD_P_HANDLE, .flags = REQ}, {.name = "b", .type = NETD_P_HANDLE, .flags = REQ},
    P_BOOL("wait"), P_END};
static const char *const explained[] = {"connect", "listen", "server", "send-to", NULL};
static const struct netd_param p_policy_explain[] = {
    {.name = "uid", .type = NETD_P_INT, .min = 0, .max = 4294967294LL},
    P_ENUM("method", explained, REQ), {.name = "params", .type = NETD_P_ANY}, P_END};

#define M(id, name, params, summary) [id] = {name, id, params, summary}

const struct netd_method netd_methods[NETD_M__COUNT] = {
    M(NETD_M_PING, "ping", p_none, "Check that netd answers."),
    M(NETD_M_DISCOVER, "rpc.discover", p_none, "Return this protocol's OpenRPC document."),
    M(NETD_M_ADDRESS, "address", p_address,
      "Resolve a host and port, or a unix path, into an address handle."),
    M(NETD_M_ADDRESS_UNPACK, "address-unpack", p_handle,
      "Show the address an address handle holds."),
    M(NETD_M_CONNECT, "connect", p_connect, "Open a stream or datagram connection."),
    M(NETD_M_LISTEN, "listen", p_listen, "Open a listening (or bound datagram) socket."),
    M(NETD_M_ACCEPT, "accept", p_accept, "Wait for and accept one connection on a listener."),
    M(NETD_M_READ, "read", p_read, "Read up to nbytes (or everything until end of stream)."),
    M(NETD_M_CHUNK, "chunk", p_chunk, "Read exactly nbytes unless the stream ends first."),
    M(NETD_M_WRITE, "write", p_write, "Write data to a stream or connected datagram socket."),
    M(NETD_M_PENDING, "pending", p_handle,
      "Bytes accepted by netd but not yet handed to the kernel."),
    M(NETD_M_FLUSH, "flush", p_handle, "Send buffered bytes now."),
    M(NETD_M_SHUTDOWN, "shutdown", p_shutdown, "Shut down the reading and/or writing side."),
    M(NETD_M_CLOSE, "close", p_handle, "Close a handle; calls waiting on it are aborted."),
    M(NETD_M_CANCEL, "cancel", p_handle, "Abort the calls waiting on a handle; it stays open."),
    M(NETD_M_LOCALNAME, "localname", p_handle, "The local address of a socket."),
    M(NETD_M_PEERNAME, "peername", p_handle, "The peer address of a connected socket."),
    M(NETD_M_STATUS, "status", p_handle, "State and counters of a handle."),
    M(NETD_M_WAIT, "wait", p_wait, "Wait until a handle reaches a state, then return its status."),
    M(NETD_M_KEEP, "keep", p_handle, "Keep a handle after this control connection ends."),
    M(NETD_M_HANDLES, "handles", p_none, "Status of every handle of the caller."),
    M(NETD_M_STATS, "stats", p_none, "Daemon-wide figures (root), or the caller's own."),
    M(NETD_M_ACCEPT_LOOP, "accept-loop", p_handle,
      "Accept every connection, announcing each with an `accepted` notification."),
    M(NETD_M_SERVER, "server", p_server, "listen and accept-loop in one call; answers at once."),
    M(NETD_M_RECV_FROM, "recv-from", p_recv_from,
      "Receive one datagram and the address it came from."),
    M(NETD_M_SEND_TO, "send-to", p_send_to, "Send one datagram to an address."),
    M(NETD_M_SETSOCKOPT, "setsockopt", p_setsockopt, "Set a socket option."),
    M(NETD_M_GETSOCKOPT, "getsockopt", p_getsockopt, "Read a socket option as the kernel reports it."),
    M(NETD_M_PAIR, "pair", p_pair, "Two connected unix sockets, as two handles."),
    M(NETD_M_LOCAL_ADDRESSES, "local-addresses", p_none, "The addresses of this host's interfaces."),
    M(NETD_M_RELEASE, "release", p_release,
      "Hand the socket's descriptor to the caller (SCM_RIGHTS); the handle ends."),
    M(NETD_M_ASSIGN, "assign", p_assign,
      "Make a handle of a socket descriptor passed with SCM_RIGHTS."),
    M(NETD_M_STARTTLS, "starttls", p_starttls,
      "Upgrade a plain stream to TLS; the old handle ends, a new one is returned."),
    M(NETD_M_TLS_CONFIG, "tls-config", p_tls_config,
      "Read or set the trust store this connection's TLS connects use."),
    M(NETD_M_DISCONNECT, "disconnect", p_handle,
      "Dissolve a socket's association with its peer (connect to AF_UNSPEC)."),
    M(NETD_M_ATTACH, "attach", p_attach,
      "Relay a stream to the caller without JSON: the control connection itself, or a socket pair."),
    M(NETD_M_SPLICE, "splice", p_splice,
      "Relay two streams into each other, both ways, until both directions end."),
    M(NETD_M_POLICY_EXPLAIN, "policy-explain", p_policy_explain,
      "Say whether the policy allows a call, and which rule decides, without making it."),
    M(NETD_M_MONITOR, "monitor", p_none,
      "Watch requests finish: an `event` notification for each, until the connection ends."),
};
/* clang-format on */

const struct netd_method *netd_method_find(const char *name)
{
    return name ? netd_method_findn(name, strlen(name)) : NULL;
}

const struct netd_method *netd_method_findn(const char *name, size_t len)
{
    if (!name)
        return NULL;
    for (int i = 0; i < NETD_M__COUNT; i++) {
        const char *n = netd_methods[i].name;
        if (strlen(n) == len && memcmp(n, name, len) == 0)
            return &netd_methods[i];
    }
    return NULL;
}

const struct netd_param *netd_param_find(const struct netd_method *m, const char *name)
{
    for (const struct netd_param *p = m->params; p->name; p++) {
        if (strcmp(p->name, name) == 0)
            return p;
    }
    return NULL;
}

static int integer_in(const json_t *v, long long min, long long max)
{
    if (!json_is_integer(v))
        return 0;
    json_int_t i = json_integer_value(v);
    return i >= min && i <= max;
}

static int choice_ok(const struct netd_param *p, const json_t *v)
{
    for (const char *const *c = p->choices; *c; c++) {
        if (netd_json_str_is(v, *c))
            return 1;
    }
    return 0;
}

/* A handle is never longer than 64 bytes and never holds a NUL, so a value
 * that does is refused here rather than looked up. */
static int handle_ok(const json_t *v)
{
    size_t n = json_string_length(v);
    return netd_json_text(v) && n >= 1 && n <= 64;
}

static int value_ok(const struct netd_param *p, const json_t *v)
{
    switch (p->type) {
    case NETD_P_STRING:
        return netd_json_text(v);
    case NETD_P_DATA:
        return json_is_string(v);
    case NETD_P_HANDLE:
        return handle_ok(v);
    case NETD_P_PORT:
        return (json_is_integer(v) || netd_json_text(v)) &&
               netd_port_parse(v, 0, &(uint16_t){0}) == NETD_PORT_OK;
    case NETD_P_BOOL:
        return json_is_boolean(v);
    case NETD_P_TIMEOUT:
        return json_is_null(v) || (json_is_number(v) && json_number_value(v) >= 0 &&
                                   json_number_value(v) <= NETD_MAX_TIMEOUT);
    case NETD_P_NBYTES:
        return integer_in(v, 1, NBYTES_MAX) ||
               ((p->flags & NETD_PF_ALL) && netd_json_str_is(v, "all"));
    case NETD_P_INT:
        return integer_in(v, p->min, p->max);
    case NETD_P_ENUM:
        return choice_ok(p, v);
    case NETD_P_ANY:
    case NETD_P_PATH:
    case NETD_P_FILE:
    case NETD_P_TLS:
    case NETD_P_DEST:
        return 1; /* checked by check_nested(), which says what is wrong */
    }
    return 0;
}

/* 1 when @p takes a string whose bytes are a name (not data), so a NUL in
 * it is an error of its own. */
static int takes_text(const struct netd_param *p)
{
    switch (p->type) {
    case NETD_P_STRING:
    case NETD_P_HANDLE:
    case NETD_P_PORT:
    case NETD_P_ENUM:
    case NETD_P_PATH:
    case NETD_P_FILE:
        return 1;
    case NETD_P_NBYTES:
        return (p->flags & NETD_PF_ALL) != 0;
    default:
        return 0;
    }
}

/* A string member @v as a path of @kind; writes "parameter 'NAME' ..." on failure. */
static int path_ok(const char *name, const json_t *v, enum netd_path_kind kind, char *why,
                   size_t whylen)
{
    char what[200];
    if (!json_is_string(v)) {
        snprintf(why, whylen, "parameter '%s' must be a string", name);
        return 0;
    }
    if (netd_path_check(json_string_value(v), json_string_length(v), kind, what, sizeof what) < 0) {
        snprintf(why, whylen, "parameter '%s' %s", name, what);
        return 0;
    }
    return 1;
}

/* The file members of a tls object; other members are the method's to check. */
static int tls_ok(const json_t *v, char *why, size_t whylen)
{
    static const char *const files[] = {"cafile", "capath", "cert", "key"};
    if (json_is_boolean(v))
        return 1;
    if (!json_is_object(v)) {
        snprintf(why, whylen, "parameter 'tls' must be true, false or an object");
        return 0;
    }
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        const json_t *f = json_object_get(v, files[i]);
        char name[16];
        snprintf(name, sizeof name, "tls.%s", files[i]);
        if (f && !json_is_null(f) && json_is_string(f) &&
            !path_ok(name, f, NETD_PATH_FILE, why, whylen))
            return 0;
    }
    return 1;
}

/* send-to's dest: a handle, or an address object with a strict port or an absolute path. */
static int dest_ok(const json_t *v, char *why, size_t whylen)
{
    if (json_is_string(v) && handle_ok(v))
        return 1;
    if (!json_is_object(v)) {
        snprintf(why, whylen,
                 "parameter 'dest' must be an address handle or an object {host, port} or {path}");
        return 0;
    }
    const json_t *path = json_object_get(v, "path"), *port = json_object_get(v, "port");
    if (path)
        return path_ok("dest.path", path, NETD_PATH_SOCKET, why, whylen);
    if (port && netd_port_parse(port, SOCK_DGRAM, &(uint16_t){0}) != NETD_PORT_OK) {
        snprintf(why, whylen, "parameter 'dest.port' must be %s", netd_port_rule());
        return 0;
    }
    return 1;
}

/* The types whose check has more to say than "must be X". 1: fine. */
static int check_nested(const struct netd_param *p, const json_t *v, char *why, size_t whylen)
{
    switch (p->type) {
    case NETD_P_PATH:
        return path_ok(p->name, v, NETD_PATH_SOCKET, why, whylen);
    case NETD_P_FILE:
        return path_ok(p->name, v, NETD_PATH_FILE, why, whylen);
    case NETD_P_TLS:
        return tls_ok(v, why, whylen);
    case NETD_P_DEST:
        return dest_ok(v, why, whylen);
    default:
        return 1;
    }
}

/* Writes "must be one of "a", "b"" for an enum; cut short if @len is small. */
static void describe_choices(const struct netd_param *p, char *out, size_t len)
{
    int n = snprintf(out, len, "one of");
    for (const char *const *c = p->choices; *c && n >= 0 && (size_t)n < len; c++) {
        const char *sep = c == p->choices ? " " : ", ";
        n += snprintf(out + n, len - (size_t)n, "%s\"%s\"", sep, *c);
    }
}

/* Says in words what @p accepts, for the error message. */
static void describe(const struct netd_param *p, char *out, size_t len)
{
    switch (p->type) {
    case NETD_P_STRING:
        snprintf(out, len, "a string");
        break;
    case NETD_P_DATA:
        snprintf(out, len, "a string of data");
        break;
    case NETD_P_HANDLE:
        snprintf(out, len, "a handle (a string of 1 to 64 characters)");
        break;
    case NETD_P_PORT:
        snprintf(out, len, "%s", netd_port_rule());
        break;
    case NETD_P_BOOL:
        snprintf(out, len, "true or false");
        break;
    case NETD_P_TIMEOUT:
        snprintf(out, len, "null or a number between 0 and %.0f", NETD_MAX_TIMEOUT);
        break;
    case NETD_P_NBYTES:
        snprintf(out, len, "an integer between 1 and %lld%s", NBYTES_MAX,
                 (p->flags & NETD_PF_ALL) ? " or \"all\"" : "");
        break;
    case NETD_P_INT:
        snprintf(out, len, "an integer between %lld and %lld", p->min, p->max);
        break;
    case NETD_P_ENUM:
        describe_choices(p, out, len);
        break;
    case NETD_P_ANY:
        snprintf(out, len, "any value");
        break;
    case NETD_P_PATH:
        snprintf(out, len, "an absolute path or @name");
        break;
    case NETD_P_FILE:
        snprintf(out, len, "an absolute path");
        break;
    case NETD_P_TLS:
        snprintf(out, len, "true, false or an object");
        break;
    case NETD_P_DEST:
        snprintf(out, len, "an address handle or an address object");
        break;
    }
}

/* Checks every member of @params against the table. A null member is taken
 * as absent, as the handlers read it, so only required ones fail on it. */
static enum netd_err check_present(const struct netd_method *m, const json_t *params, char *why,
                                   size_t whylen)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        const struct netd_param *p = netd_param_find(m, key);
        if (!p) {
            snprintf(why, whylen, "unknown parameter '%.100s'", key);
            return NETD_E_PARAMS;
        }
        if (json_is_null(v) && !(p->flags & NETD_PF_REQUIRED))
            continue;
        if (takes_text(p) && json_is_string(v) && !netd_json_text(v)) {
            /* Said apart: the part before the NUL may look right. */
            snprintf(why, whylen, "parameter '%s' must not hold a NUL byte (\\u0000)", p->name);
            return NETD_E_PARAMS;
        }
        if (!value_ok(p, v)) {
            char what[160];
            describe(p, what, sizeof what);
            snprintf(why, whylen, "parameter '%s' must be %s", p->name, what);
            return NETD_E_PARAMS;
        }
        if (!check_nested(p, v, why, whylen))
            return NETD_E_PARAMS;
    }
    return NETD_OK;
}

enum netd_err netd_params_check_present(const struct netd_method *m, const json_t *params,
                                        char *why, size_t whylen)
{
    if (whylen > 0)
        why[0] = '\0';
    if (params && !json_is_object(params)) {
        snprintf(why, whylen, "params must be an object of named parameters");
        return NETD_E_PARAMS;
    }
    return params ? check_present(m, params, why, whylen) : NETD_OK;
}

enum netd_err netd_params_check(const struct netd_method *m, const json_t *params, char *why,
                                size_t whylen)
{
    if (whylen > 0)
        why[0] = '\0';
    if (params && !json_is_object(params)) {
        snprintf(why, whylen, "params must be an object of named parameters%s",
                 json_is_array(params) ? " (positional params are not supported)" : "");
        return NETD_E_PARAMS;
    }
    if (params && check_present(m, params, why, whylen) != NETD_OK)
        return NETD_E_PARAMS;
    for (const struct netd_param *p = m->params; p->name; p++) {
        if ((p->flags & NETD_PF_REQUIRED) && !json_object_get(params, p->name)) {
            snprintf(why, whylen, "missing required parameter '%s'", p->name);
            return NETD_E_PARAMS;
        }
    }
    return NETD_OK;
}
