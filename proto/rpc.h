/*
 * rpc.h - the JSON-RPC 2.0 envelope (contract section 2): validating a
 * request object and writing responses, errors and notifications as single
 * lines. Every serialiser here returns a malloc'd string without the
 * trailing '\n' and never containing a raw newline; the caller frees it.
 */
#ifndef NETD_PROTO_RPC_H
#define NETD_PROTO_RPC_H

#include <stddef.h>
#include <jansson.h>
#include "errors.h"
#include "methods.h"

struct netd_rpc_req {
    json_t *id;         /* borrowed; NULL for a notification (no "id" member) */
    const char *method; /* borrowed from the message; may hold a NUL byte */
    size_t method_len;  /* bytes in method, which a NUL byte does not end */
    /* The table's entry for the whole name, NULL when no method has that
     * name (the caller answers -32601, or nothing for a notification). */
    const struct netd_method *m;
    json_t *params; /* borrowed; NULL when absent; any JSON value */
};

/**
 * Checks one request object @msg: "jsonrpc" is exactly "2.0", "method" a
 * string, "id" absent, null, a string or a number. Looks the method up by
 * its whole name (out->m) but does not look at "params": a method that
 * does not exist is -32601 whatever its params are, so the caller checks
 * them with netd_params_check() only once out->m is known, and that check
 * refuses params that are not an object. Fills @out (pointers borrowed from
 * @msg) and returns NETD_OK, or returns NETD_E_INVALID_REQUEST with *why
 * set to a static message. On error out->id is still the request's id if
 * that id itself was valid (so the error can carry it), or NULL.
 */
enum netd_err netd_rpc_parse(json_t *msg, struct netd_rpc_req *out, const char **why);

/**
 * Writes the message of the -32601 answer to @rq (whose m is NULL) to
 * @buf: "method not found: " and the name, with a NUL byte or another
 * control character in it shown as \u00XX, so the message never names a
 * shorter method than the one asked for. Cut to fit; always terminated
 * when @len > 0.
 */
void netd_rpc_unknown_method(const struct netd_rpc_req *rq, char *buf, size_t len);

/**
 * 1 when @v is a JSON string equal to @s in every byte and in length, so
 * that "all\u0000x" never equals "all"; else 0 (also for non-strings).
 */
int netd_json_str_is(const json_t *v, const char *s);

/** 1 when @v is a JSON string that holds no NUL byte, else 0. */
int netd_json_text(const json_t *v);

/** A response {"jsonrpc","id","result"}. Steals @result; @id borrowed (NULL → null). */
char *netd_rpc_result(json_t *id, json_t *result);

/**
 * An error response with code netd_err_code(@kind), @message, and "data"
 * when @data is not NULL (stolen). @id borrowed (NULL → null).
 */
char *netd_rpc_error(json_t *id, enum netd_err kind, const char *message, json_t *data);

/**
 * A response whose result is already serialised: @result (@len bytes) must
 * be one valid JSON value without a raw newline. For large results built
 * from text that needs no escaping (base64, hex), which jansson would
 * otherwise copy and scan character by character. @id borrowed.
 */
char *netd_rpc_result_raw(json_t *id, const char *result, size_t len);

/** A notification {"jsonrpc","method","params"}. Steals @params. */
char *netd_rpc_notification(const char *method, json_t *params);

/** A request with @id (borrowed; NULL makes a notification). Steals @params (NULL → {}). */
char *netd_rpc_request(json_t *id, const char *method, json_t *params);

/** Serialises @v compactly as one line (no raw newline). malloc'd; NULL on OOM. */
char *netd_json_line(const json_t *v);

#endif
