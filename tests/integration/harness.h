/*
 * harness.h - what the integration tests share: a real netd started on a
 * unique abstract socket, client connections to it, cmocka-checked calls,
 * and local peers (echo, close, reset, payload, drip, black hole, full
 * backlog, refused port) that run in threads of the test process.
 *
 * Everything a test starts through these helpers is registered with the
 * harness and torn down by h_teardown() even when an assertion fails half
 * way, so a failing test never leaves a netd or a peer thread behind. The
 * helpers that assert (everything named h_*, except the peer accessors) may
 * only be called from the test's main thread: cmocka's failures unwind with
 * longjmp, which cannot cross threads. Threads the tests start themselves
 * use the plain client library and report back by return value.
 */
#ifndef NETD_TEST_HARNESS_H
#define NETD_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <sys/types.h>

#include "netd.h"

/** Upper bound for an answer that should come quickly; only hangs hit it. */
#define H_ANSWER_MS 30000

/* ------------------------------------------------------------------ */
/* Test fixture                                                        */

/** cmocka setup: prepares an empty registry for the test. */
int h_setup(void **state);

/**
 * cmocka teardown: frees every registered client, stops every registered
 * netd (failing, with netd's stderr, when one did not stop cleanly: see
 * h_netd_stop) and stops every peer.
 */
int h_teardown(void **state);

/* ------------------------------------------------------------------ */
/* netd processes                                                      */

struct netd_proc;

/**
 * Starts NETD_BIN on a fresh abstract socket with the NULL-terminated
 * @extra arguments (NULL for none) and waits until it accepts connections.
 * Fails the test when netd does not come up within 5 s. The process is
 * owned by the harness and stopped at teardown.
 */
struct netd_proc *h_netd_start(const char *const *extra);

/** The socket name to pass to clients ("@netd-test-..."); owned by @n. */
const char *h_netd_socket(const struct netd_proc *n);

/** netd's process id (for /proc/PID/fd and the like). */
pid_t h_netd_pid(const struct netd_proc *n);

/** How many descriptors netd holds now (entries of /proc/PID/fd). */
int h_netd_fds(const struct netd_proc *n);

/** What netd wrote to its stderr so far (its last MiB; malloc'd, NUL-terminated). */
char *h_netd_stderr(const struct netd_proc *n);

/** Fails the test if netd has exited (crashed) since it started. */
void h_netd_assert_alive(struct netd_proc *n);

/**
 * Sends SIGTERM and waits for netd to exit. Returns 0 when it exited with
 * status 0 and printed no line beginning "netd: leak:" (its shutdown check
 * found nothing left); then netd's stderr is copied to ours. Otherwise
 * prints how it ended (status, signal, leak) followed by netd's stderr, and
 * returns -1. @n is freed either way. Called by h_teardown for the netds
 * still running, so every test that starts a netd checks how it stopped.
 */
int h_netd_stop(struct netd_proc *n);

/** Stops @n now and fails the test unless it exited 0. */
void h_netd_stop_ok(struct netd_proc *n);

/* ------------------------------------------------------------------ */
/* Clients                                                             */

/** A new control connection to @n, registered for teardown. Fails the test if it cannot connect. */
netd_client *h_client(struct netd_proc *n);

/** Frees a client from h_client() before teardown (e.g. to end its handles). */
void h_client_free(netd_client *c);

/* ------------------------------------------------------------------ */
/* Calls with assertions                                               */

/**
 * Calls @method (steals @params) and expects a result; returns it (the
 * caller json_decref()s it). Fails the test with the error otherwise.
 */
#define h_call(c, method, params) h_call_at((c), (method), (params), __FILE__, __LINE__)
json_t *h_call_at(netd_client *c, const char *method, json_t *params, const char *file, int line);

/**
 * Calls @method (steals @params) and expects an error with @code; returns
 * the error object (the caller json_decref()s it).
 */
#define h_call_err(c, method, params, code)                                                        \
    h_call_err_at((c), (method), (params), (code), __FILE__, __LINE__)
json_t *h_call_err_at(netd_client *c, const char *method, json_t *params, int code,
                      const char *file, int line);

/** Waits for the answer to an id from netd_client_send() and expects a result. */
#define h_wait(c, id) h_wait_at((c), (id), __FILE__, __LINE__)
json_t *h_wait_at(netd_client *c, long long id, const char *file, int line);

/** Waits for the answer to an id and expects an error with @code; returns it. */
#define h_wait_err(c, id, code) h_wait_err_at((c), (id), (code), __FILE__, __LINE__)
json_t *h_wait_err_at(netd_client *c, long long id, int code, const char *file, int line);

/** netd_client_send() that fails the test when sending fails. Steals @params. */
#define h_send(c, method, params) h_send_at((c), (method), (params), __FILE__, __LINE__)
long long h_send_at(netd_client *c, const char *method, json_t *params, const char *file, int line);

/** The string member @key of @obj; fails the test when it is missing. Borrowed. */
#define h_str(obj, key) h_str_at((obj), (key), __FILE__, __LINE__)
const char *h_str_at(const json_t *obj, const char *key, const char *file, int line);

/** Expects string member @key of @obj to equal @want; shows the whole object otherwise. */
#define h_expect_str(obj, key, want) h_expect_str_at((obj), (key), (want), __FILE__, __LINE__)
void h_expect_str_at(const json_t *obj, const char *key, const char *want, const char *file,
                     int line);

/** The integer member @key of @obj; fails the test when it is missing. */
#define h_int(obj, key) h_int_at((obj), (key), __FILE__, __LINE__)
long long h_int_at(const json_t *obj, const char *key, const char *file, int line);

/** The "data" member of error @err (an object), member @key as a string. Borrowed. */
#define h_err_data_str(err, key) h_err_data_str_at((err), (key), __FILE__, __LINE__)
const char *h_err_data_str_at(const json_t *err, const char *key, const char *file, int line);

/* ------------------------------------------------------------------ */
/* Stream shortcuts (all assert)                                       */

/** Calls a handle-creating method and returns a malloc'd copy of result.handle. */
char *h_new_handle(netd_client *c, const char *method, json_t *params);

/** connect {host, port} and returns the handle (malloc'd). */
char *h_connect(netd_client *c, const char *host, int port);

/** write of @n bytes (sent as hex, so any bytes go); asserts written == n. */
void h_write(netd_client *c, const char *handle, const void *data, size_t n);

/**
 * Reads exactly @n bytes with repeated reads (timeout @timeout seconds per
 * read) and compares them with @expect. Fails on eof, error or mismatch.
 */
void h_read_expect(netd_client *c, const char *handle, const void *expect, size_t n,
                   double timeout);

/** One read of up to @nbytes; returns the decoded bytes (malloc'd), sets *n and *eof. */
unsigned char *h_read(netd_client *c, const char *handle, long long nbytes, size_t *n, int *eof);

/** close {handle}; expects {}. Does not free @handle. */
void h_close(netd_client *c, const char *handle);

/**
 * Decodes result member "data" according to result member "encoding"
 * (base64, utf8 or hex); returns a malloc'd buffer (NUL-terminated for
 * convenience) and sets *n.
 */
unsigned char *h_data(const json_t *result, size_t *n);

/* Encoders of the harness's own, so the tests do not share netd's codec. */
char *h_base64(const void *data, size_t n); /* malloc'd */
char *h_hex(const void *data, size_t n);    /* malloc'd, lowercase */

/* ------------------------------------------------------------------ */
/* Local peers                                                         */

enum peer_mode {
    PEER_ECHO,      /* writes back what it reads; closes after the client's EOF */
    PEER_CLOSE,     /* accepts and closes at once (FIN) */
    PEER_RESET,     /* resets (SO_LINGER 0) once the first bytes arrive */
    PEER_PAYLOAD,   /* sends the payload, then closes */
    PEER_DRIP,      /* sends the payload a few bytes at a time, then closes */
    PEER_BLACKHOLE, /* accepts and never reads (small SO_RCVBUF) */
    PEER_FULL,      /* a listener whose backlog is full: connects hang */
};

struct peer;

/**
 * Starts a TCP peer on loopback (@family AF_INET or AF_INET6), port 0.
 * @payload (copied) is for PEER_PAYLOAD and PEER_DRIP. Returns NULL only
 * for AF_INET6 when this machine has no IPv6 loopback (callers skip);
 * fails the test otherwise.
 */
struct peer *h_peer_tcp(enum peer_mode mode, int family, const void *payload, size_t n);

/** Starts a unix stream peer on a fresh path, or an abstract name when @abstract. */
struct peer *h_peer_unix(enum peer_mode mode, int abstract);

/** "127.0.0.1" or "::1"; owned by the peer. */
const char *h_peer_host(const struct peer *p);
int h_peer_port(const struct peer *p);
/** For unix peers: a path, or "@name" for an abstract one. Owned by the peer. */
const char *h_peer_path(const struct peer *p);

/** Connections the peer accepted so far (thread-safe). */
int h_peer_accepted(struct peer *p);

/**
 * Waits up to @timeout_ms until the peer has seen at least @n ends of stream
 * (EOF or reset) from its clients. Returns 1 if so, 0 on timeout.
 */
int h_peer_wait_eofs(struct peer *p, int n, int timeout_ms);

/** Host and port of the client of the last accepted TCP connection. */
void h_peer_last_remote(struct peer *p, char *host, size_t hostlen, int *port);

/** For PEER_FULL: 1 if the backlog could be filled so that connects hang, else 0. */
int h_peer_is_full(struct peer *p);

/** Stops the peer's thread and frees it (teardown does this for the rest). */
void h_peer_stop(struct peer *p);

/**
 * A TCP port on 127.0.0.1 that refuses connections: a socket bound to it
 * but not listening, kept by the harness until teardown so nobody else
 * takes the port meanwhile.
 */
int h_refused_port(void);

/** A free TCP port on 127.0.0.1 at the time of the call (bound and released). */
int h_free_port(void);

/* ------------------------------------------------------------------ */
/* Plain sockets (the test's own side of a connection)                 */

/** A blocking TCP connection to @host:@port; fails the test on error. Registered for teardown. */
int h_plain_connect(const char *host, int port);

/** Reads exactly @n bytes from @fd within @timeout_ms; fails the test otherwise. */
void h_plain_read_expect(int fd, const void *expect, size_t n, int timeout_ms);

/** Writes all of @data to @fd; fails the test on error. */
void h_plain_write(int fd, const void *data, size_t n);

/** Closes a descriptor from h_plain_connect() before teardown. */
void h_plain_close(int fd);

/** Milliseconds of a monotonic clock. */
long long h_now_ms(void);

/** Sleeps @ms milliseconds. */
void h_sleep_ms(int ms);

#endif
