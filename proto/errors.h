/*
 * errors.h - netd's error kinds and their JSON-RPC codes (contract section 5).
 *
 * Inside the daemon every failure is one of these kinds; this file is the
 * only table that turns a kind into a JSON-RPC code and name. The client
 * library and netctl use the same table to turn a code back into a kind.
 */
#ifndef NETD_PROTO_ERRORS_H
#define NETD_PROTO_ERRORS_H

/* Installed as <netd/errors.h> for libnetd's users, hence the C++ guard. */
#ifdef __cplusplus
extern "C" {
#endif

enum netd_err {
    NETD_OK = 0,
    NETD_E_PARSE,           /* -32700 parse error */
    NETD_E_INVALID_REQUEST, /* -32600 invalid request */
    NETD_E_METHOD,          /* -32601 method not found */
    NETD_E_PARAMS,          /* -32602 invalid params */
    NETD_E_INTERNAL,        /* -32603 internal error */
    NETD_E_OS,              /* -32000 os */
    NETD_E_TIMEOUT,         /* -32001 timeout */
    NETD_E_UNKNOWN_HANDLE,  /* -32002 unknown handle */
    NETD_E_WRONG_KIND,      /* -32003 wrong kind */
    NETD_E_ABORTED,         /* -32004 aborted */
    NETD_E_DENIED,          /* -32005 denied */
    NETD_E_LIMIT,           /* -32006 limit */
    NETD_E_RESOLVE,         /* -32007 resolve */
    NETD_E_TLS,             /* -32008 tls */
    NETD_E__COUNT
};

/** The JSON-RPC code of @kind (e.g. -32002). 0 for NETD_OK. */
int netd_err_code(enum netd_err kind);

/** The contract's name of @kind ("unknown handle"); static storage. */
const char *netd_err_name(enum netd_err kind);

/** The kind for a JSON-RPC @code; NETD_E_INTERNAL for codes netd never sends. */
enum netd_err netd_err_from_code(int code);

/** Symbolic name of an errno value ("ECONNREFUSED"); "EUNKNOWN" if unknown. Static storage. */
const char *netd_errno_name(int errnum);

/** Symbolic name of a getaddrinfo() error ("EAI_NONAME"); "EAI_UNKNOWN" if unknown. */
const char *netd_gai_name(int gaierr);

#ifdef __cplusplus
}
#endif

#endif
