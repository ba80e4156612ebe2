/*
 * handlename.h - the one spelling of a handle's name.
 *
 * netd names a handle "h<worker>.<seq>": the worker that owns it in decimal
 * and its sequence number in lowercase hex, neither with leading zeros, the
 * sequence never 0. Clients treat the name as opaque (contract section 3),
 * but netd reads it back to route a request, so the parser accepts exactly
 * the names the formatter writes: "h00.1", "h0.01", "h+0.1", "h 0.1" or
 * "h0.A" never reach handle h0.1, they are names no handle has.
 */
#ifndef NETD_PROTO_HANDLENAME_H
#define NETD_PROTO_HANDLENAME_H

#include <stddef.h>
#include <stdint.h>

/** Largest worker number a name can carry (four decimal digits). */
#define NETD_HANDLE_WORKER_MAX 9999

/** Longest name, without the NUL: "h" + 4 digits + "." + 16 hex digits. */
#define NETD_HANDLE_NAME_MAX 22

/**
 * Parses the @len bytes at @s (a NUL among them is an error like any other
 * stray byte). Returns 0 and sets *worker and *seq when @s is exactly the
 * canonical name of (worker, seq) with 0 <= worker <= NETD_HANDLE_WORKER_MAX
 * and seq != 0; returns -1 and leaves both untouched otherwise.
 */
int netd_handle_parse(const char *s, size_t len, int *worker, uint64_t *seq);

/**
 * Writes the canonical name of (@worker, @seq) and a NUL to @buf (@len
 * bytes; NETD_HANDLE_NAME_MAX + 1 always suffice). Returns the name's
 * length, or -1 when @worker is out of range, @seq is 0 or @buf is too
 * small (then @buf holds "" if @len > 0).
 */
int netd_handle_format(char *buf, size_t len, int worker, uint64_t seq);

#endif
