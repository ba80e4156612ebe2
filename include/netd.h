/*
 * netd.h - the C client library of netd.
 *
 * One netd_client is one control connection. It is meant for one thread at
 * a time, and that thread may have any number of requests in flight:
 * netd_client_send() returns at once with the request's id, and
 * netd_client_wait() collects the answer to one id while keeping every other
 * message that arrives meanwhile (answers to other ids, notifications) for
 * later calls.
 *
 * Ownership follows jansson's rule: functions documented as "stealing" a
 * json_t take over the caller's reference; every json_t handed back to the
 * caller is a new reference the caller must json_decref().
 */
#ifndef NETD_H
#define NETD_H

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The control socket used when none is given and NETD_SOCKET is unset. */
#define NETD_DEFAULT_SOCKET "@netd"

typedef struct netd_client netd_client;

/**
 * Connects to netd's control socket @name: "@name" is a Linux abstract
 * socket, anything else a filesystem path. NULL means $NETD_SOCKET, or
 * NETD_DEFAULT_SOCKET when that is unset. Returns NULL with errno set on
 * failure. Free with netd_client_free().
 */
netd_client *netd_client_connect(const char *name);

/**
 * Closes the connection and frees everything the client holds, including
 * unclaimed messages and descriptors.
 */
void netd_client_free(netd_client *c);

/** The connection's descriptor (for poll()); owned by the client. */
int netd_client_fd(const netd_client *c);

/**
 * Sends a request and returns its id (> 0), or -1 with errno set.
 * Steals @params (NULL sends {}). The id is chosen by the client.
 * Blocks until the whole line is written; answers that arrive meanwhile are
 * read into the queue, so a writer never deadlocks against netd pausing a
 * client whose answers pile up. Never raises SIGPIPE (EPIPE instead).
 */
long long netd_client_send(netd_client *c, const char *method, json_t *params);

/**
 * Like netd_client_send(), and passes descriptor @fd with SCM_RIGHTS on the
 * same message (for "assign"). The caller keeps its own @fd.
 */
long long netd_client_send_fd(netd_client *c, const char *method, json_t *params, int fd);

/**
 * Sends `write {handle, data}` with the @n bytes at @data base64-encoded
 * straight into the request line (no JSON value is built for them, which
 * for large writes costs more than netd's whole work). @handle is copied.
 * Returns the id to wait for, as netd_client_send() does, or -1 with errno.
 */
long long netd_client_send_write(netd_client *c, const char *handle, const void *data, size_t n);

/** Sends a notification (no id, no answer). Steals @params. 0, or -1 with errno. */
int netd_client_notify(netd_client *c, const char *method, json_t *params);

/** Writes @n raw bytes as they are (for tests and tools that frame their own lines). 0 or -1. */
int netd_client_send_raw(netd_client *c, const void *data, size_t n);

/**
 * Waits up to @timeout_ms milliseconds (-1: forever) for the answer to @id.
 * Returns 0 with *result set (new reference), 1 with *error set to the
 * JSON-RPC error object (new reference), or -1 with errno set: ETIMEDOUT,
 * ECONNRESET when netd closed the connection, EPROTO for an unparseable line.
 * Either out-pointer may be NULL when the caller does not want it.
 * An unparseable (or over-long: 256 MiB) line is reported once, by the
 * first wait or next call that finds nothing it wants in the queue; the
 * connection stays usable. The @timeout_ms of 0 reads only what is there.
 * Messages for other ids that arrive meanwhile stay queued.
 */
int netd_client_wait(netd_client *c, long long id, int timeout_ms, json_t **result, json_t **error);

/**
 * Sends a request and waits for its answer: netd_client_send() followed by
 * netd_client_wait() with no time limit. Same returns.
 */
int netd_call(netd_client *c, const char *method, json_t *params, json_t **result, json_t **error);

/**
 * Returns the next message netd sent that no netd_client_wait() claimed, in
 * arrival order: a response (including batch arrays) or a notification.
 * Waits up to @timeout_ms (-1: forever). 0 with *msg (new reference), or -1
 * with errno (ETIMEDOUT, ECONNRESET, EPROTO).
 */
int netd_client_next(netd_client *c, int timeout_ms, json_t **msg);

/**
 * Like netd_client_next() but only for notifications (messages with a
 * "method"); responses stay queued for netd_client_wait().
 */
int netd_client_notification(netd_client *c, int timeout_ms, json_t **note);

/**
 * Takes the descriptor netd passed with the answer to @id (the "release"
 * method). Call after netd_client_wait() returned 0 for @id (or after
 * netd_client_next() handed out that answer). Returns the descriptor, now
 * owned by the caller (close-on-exec set), or -1 with errno ENOENT if none
 * came. Several descriptors on one answer come out one per call, in order;
 * @id 0 takes those that came with a message without an integer id.
 *
 * Descriptors travel beside the bytes, not in a line, so the library gives
 * the descriptors of one recvmsg() chunk to the last line that begins in
 * that chunk (or, when none begins there, to the line the chunk continues).
 * Linux ends a recvmsg() right after a message that carried descriptors,
 * so this is right as long as the sender attaches a descriptor to a
 * sendmsg() whose bytes are its answer line (or end with it); netd sends
 * such an answer on a sendmsg() of its own. Unclaimed descriptors are
 * closed by netd_client_free().
 */
int netd_client_take_fd(netd_client *c, long long id);

/**
 * How many messages are read and queued but not taken yet. poll() on
 * netd_client_fd() cannot see these, so an event loop takes them (with a
 * timeout of 0) before it sleeps in poll().
 */
size_t netd_client_queued(const netd_client *c);

/**
 * The "message" of a JSON-RPC error object, or a fixed text when it has
 * none. Borrowed from @error.
 */
const char *netd_error_message(const json_t *error);

/** The "code" of a JSON-RPC error object, or 0. */
int netd_error_code(const json_t *error);

#ifdef __cplusplus
}
#endif

#endif
