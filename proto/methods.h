/*
 * methods.h - every method netd implements, with its parameters, defined
 * once. The daemon validates requests against this table, netctl builds its
 * help from it, and a test checks it against proto/netd.openrpc.json.
 */
#ifndef NETD_PROTO_METHODS_H
#define NETD_PROTO_METHODS_H

#include <stddef.h>
#include <jansson.h>
#include "errors.h"

enum netd_method_id {
    NETD_M_PING,
    NETD_M_DISCOVER,
    NETD_M_ADDRESS,
    NETD_M_ADDRESS_UNPACK,
    NETD_M_CONNECT,
    NETD_M_LISTEN,
    NETD_M_ACCEPT,
    NETD_M_READ,
    NETD_M_CHUNK,
    NETD_M_WRITE,
    NETD_M_PENDING,
    NETD_M_FLUSH,
    NETD_M_SHUTDOWN,
    NETD_M_CLOSE,
    NETD_M_CANCEL,
    NETD_M_LOCALNAME,
    NETD_M_PEERNAME,
    NETD_M_STATUS,
    NETD_M_WAIT,
    NETD_M_KEEP,
    NETD_M_HANDLES,
    NETD_M_STATS,
    NETD_M_ACCEPT_LOOP,
    NETD_M_SERVER,
    NETD_M_RECV_FROM,
    NETD_M_SEND_TO,
    NETD_M_SETSOCKOPT,
    NETD_M_GETSOCKOPT,
    NETD_M_PAIR,
    NETD_M_LOCAL_ADDRESSES,
    NETD_M_RELEASE,
    NETD_M_ASSIGN,
    NETD_M_STARTTLS,
    NETD_M_TLS_CONFIG,
    NETD_M_DISCONNECT,
    NETD_M_ATTACH,
    NETD_M_SPLICE,
    NETD_M_POLICY_EXPLAIN,
    NETD_M_MONITOR,
    NETD_M__COUNT
};

enum netd_ptype {
    NETD_P_STRING, /* a string without NUL bytes (names, paths, hosts) */
    NETD_P_DATA,   /* any string: bytes in the request's encoding; utf8 data may hold NUL */
    NETD_P_HANDLE, /* a string of 1..64 characters, no NUL */
    NETD_P_PORT, /* integer 0..65535, or a string: digits up to 65535 or a service name (port.h) */
    NETD_P_BOOL, /* true/false */
    NETD_P_TIMEOUT, /* null, or a number 0 <= t <= NETD_MAX_TIMEOUT (seconds) */
    NETD_P_NBYTES,  /* integer 1..2^53, or the string "all" when NETD_PF_ALL is set */
    NETD_P_INT,     /* integer in [min, max] */
    NETD_P_ENUM,    /* one of the strings in choices */
    NETD_P_ANY,     /* any JSON value; the method checks it */
    NETD_P_PATH,    /* a unix socket: an absolute path or "@name" (path.h) */
    NETD_P_FILE,    /* a file or directory netd opens: an absolute path (path.h) */
    NETD_P_TLS,     /* true, false, or an object whose cafile/capath/cert/key are absolute paths */
    NETD_P_DEST,    /* an address handle, or {host, port} (a strict port) or {path} (NETD_P_PATH) */
};

#define NETD_PF_REQUIRED 0x1u
#define NETD_PF_ALL 0x2u /* NETD_P_NBYTES also takes "all" */

/** Largest accepted timeout: one year, in seconds. */
#define NETD_MAX_TIMEOUT 31536000.0

struct netd_param {
    const char *name;
    enum netd_ptype type;
    unsigned flags;
    long long min, max;         /* NETD_P_INT only */
    const char *const *choices; /* NETD_P_ENUM only; NULL-terminated */
};

struct netd_method {
    const char *name;
    enum netd_method_id id;
    const struct netd_param *params; /* terminated by an entry with name NULL */
    const char *summary;             /* one line, for netctl and the docs */
};

/** Every method, indexed by enum netd_method_id. */
extern const struct netd_method netd_methods[NETD_M__COUNT];

/** The method named @name (a C string), or NULL. */
const struct netd_method *netd_method_find(const char *name);

/**
 * The method whose name is exactly the @len bytes at @name, or NULL. A name
 * with a NUL byte in it matches no method ("ping\0x" is not "ping").
 */
const struct netd_method *netd_method_findn(const char *name, size_t len);

/**
 * Checks @params (an object, or NULL for none) against @m: every required
 * parameter present, every present one known and of the right type and
 * range. Strings are compared with their lengths: a NUL byte in any string
 * parameter but data is refused, never read as the end of the string.
 * Params that are not an object (positional params, a number...) are
 * refused too. Returns NETD_OK, or NETD_E_PARAMS with a message naming the
 * parameter written to @why (always NUL-terminated).
 */
enum netd_err netd_params_check(const struct netd_method *m, const json_t *params, char *why,
                                size_t whylen);

/**
 * As netd_params_check() for the members @params has, without asking for
 * the required ones: policy-explain's inner params, which describe a call
 * that is not made (a send-to without its handle and data).
 */
enum netd_err netd_params_check_present(const struct netd_method *m, const json_t *params,
                                        char *why, size_t whylen);

/** The parameter spec of @m named @name, or NULL. */
const struct netd_param *netd_param_find(const struct netd_method *m, const char *name);

/** Every socket option of the contract, NULL-terminated (setsockopt/getsockopt). */
extern const char *const netd_sockopt_names[];

/** The OpenRPC document (proto/netd.openrpc.json), NUL-terminated, built into the binary. */
extern const char netd_openrpc_json[];
extern const size_t netd_openrpc_json_len;

#endif
