/*
 * rpc.h - the JSON-RPC 2.0 envelope (contract section 2): validating a
 * request object and writing responses, errors and notifications as single
 * lines. Every serialiser here returns a malloc'd string without the
 * trailing '\n' and never containing a raw newline; the caller frees it.
 */
#ifndef NETD_PROTO_RPC_H
#define NETD_PROTO_RPC_H

#include <jansson.h>
#include "errors.h"

struct netd_rpc_req {
    json_t *id;         /* borrowed; NULL for a notification (no "id" member) */
    const char *method; /* borrowed from the message */
    json_t *params;     /* borrowed; NULL when absent */
};

/**
 * Checks one request object @msg: "jsonrpc" is "2.0", "method" a string,
 * "id" absent, null, a string or a number, "params" absent or an object.
 * Fills @out (pointers borrowed from @msg) and returns NETD_OK, or returns
 * NETD_E_INVALID_REQUEST / NETD_E_PARAMS (params given but not an object)
 * with *why set to a static message. On error out->id is still the
 * request's id if that id itself was valid (so the error can carry it), or
 * NULL.
 */
enum netd_err netd_rpc_parse(json_t *msg, struct netd_rpc_req *out, const char **why);

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
