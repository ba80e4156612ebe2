/*
 * lean.h - the lean data path: a request or answer line whose one large
 * member, the data string, is taken out of the line by a scanner and never
 * becomes a jansson string. The rest of the line, which is small, is parsed
 * by jansson as usual, so every check on it stays jansson's and the
 * method table's.
 *
 * Only plain data takes this path: a string of printable ASCII without
 * escapes (what base64 and hex always are), whose characters are its value.
 * Anything else (escapes, UTF-8, control characters, a line whose shape the
 * scanner does not follow) makes the caller parse the whole line with
 * jansson, so both paths give the same result.
 */
#ifndef NETD_PROTO_LEAN_H
#define NETD_PROTO_LEAN_H

#include <jansson.h>
#include <stddef.h>

/**
 * Finds, in the JSON text @line (@len bytes), the string value of member
 * @inner of the object that is the value of member @outer of the top-level
 * object, e.g. params.data or result.data. It does not validate the line:
 * the caller parses the rest with jansson, which does. Returns 0 and sets
 * *off and *n to the characters between the quotes, or -1 when there is no
 * such member, when the value is not a plain string (see above), or when
 * a key on the way has an escape.
 */
int netd_lean_find(const char *line, size_t len, const char *outer, const char *inner, size_t *off,
                   size_t *n);

/**
 * Parses @line with @inner of @outer taken out: jansson sees the line with
 * that string's value empty (""). Returns the message (new reference) and
 * sets *off and *n as netd_lean_find does, or NULL when the line does not
 * take the lean path or jansson refuses the rest; the caller then parses
 * the whole line itself (which gives jansson's own error, column and all).
 * @flags are json_loadb's.
 */
json_t *netd_lean_load(const char *line, size_t len, const char *outer, const char *inner,
                       size_t flags, size_t *off, size_t *n);

/** An ordinary request line, as netd_lean_request() takes it apart. */
struct netd_lean_req {
    int has_id;
    json_int_t id;      /* an integer id of at most 18 digits */
    const char *method; /* in the line; plain characters */
    size_t method_len;
    json_t *params;  /* the params object (new reference), NULL when absent */
    int has_data;    /* params.data took the lean path: params holds "" there */
    size_t data_off; /* ... and these are its characters in the line */
    size_t data_n;
};

/**
 * The lean path for a whole request line of the ordinary shape: one object
 * with "jsonrpc": "2.0", "method" (a plain string), "id" (an integer,
 * optional) and "params" (an object, optional), nothing else, each once.
 * Only params is parsed by jansson (without its data string, as
 * netd_lean_load does). Returns 0 with @out filled, or -1 when the line is
 * of any other shape or does not parse: the caller then parses the whole
 * line with jansson, which gives the same request or jansson's own error.
 */
int netd_lean_request(const char *line, size_t len, size_t flags, struct netd_lean_req *out);

#endif
