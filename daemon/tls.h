/*
 * tls.h - TLS on netd's streams, with wolfSSL: the TLS transport, client
 * and server handshakes on a worker's loop, STARTTLS, the trust store of a
 * control connection (tls-config) and status.tls.
 *
 * Nothing outside daemon/tls*.c includes a wolfSSL header or sees a
 * wolfSSL error code: the rest of the daemon deals in the transport table
 * (struct transport), negative errno values and `tls` errors.
 *
 * A TLS stream's h->tls is its session (owned by the transport, freed by
 * tp->close). A TLS listener's h->tls is its server context together with
 * the accepted connections still in their handshake (freed by
 * tls_listener_close).
 */
#ifndef NETD_TLS_H
#define NETD_TLS_H

#include <errno.h>
#include <stdbool.h>

#include "netd.h"

/*
 * What the TLS transport's recv and send return (negated) when TLS itself
 * failed (an alert, a bad record, a truncated stream), as opposed to the
 * socket (then the socket's own errno comes back). tls_fail_req() turns it
 * into a `tls` error that says what happened.
 */
#define TLS_EFAIL EPROTO

extern const struct transport tls_transport;

/**
 * connect with a `tls` parameter @tls (true, or an object of client
 * options): checks it, builds the client session and attaches it to stream
 * @h (h->tls, h->tp). @name is the host the caller gave (the default server
 * name for SNI and verification), or NULL when there is none (a unix
 * path). Returns 0, or -1 when @r has been answered: invalid params, or a
 * `tls` error (for example no usable trust store). @h is not closed.
 */
int tls_connect_prepare(struct handle *h, struct req *r, const json_t *tls, const char *name);

/**
 * @h's socket @fd is connected: starts the client handshake of the session
 * tls_connect_prepare() attached. @h keeps state HS_WAITING and owns @fd
 * meanwhile. @done(h) runs once the handshake has ended, with h->state
 * HS_SUCCESS (the stream is started) or HS_FAILURE (a `tls` error, the
 * socket closed). If @h is closed first, @done never runs.
 */
void tls_handshake_start(struct handle *h, int fd, void (*done)(struct handle *h));

/**
 * listen/server with a `tls` parameter @tls (an object with cert and key):
 * loads the server context and keeps it on listener @l (l->tls). Returns 0,
 * or -1 when @r has been answered; @l is not closed.
 */
int tls_listen_prepare(struct handle *l, struct req *r, const json_t *tls);

/** Whether TLS listener @l may take one more connection into a handshake. */
bool tls_accept_room(const struct handle *l);

/**
 * TLS listener @l accepted @fd (taken over). Its server handshake runs on
 * its own; a connection that completes it is handed on with
 * listener_deliver() when an `accept` waits or the accept loop takes one,
 * and a failed or timed-out one is closed without anyone noticing.
 */
void tls_accept(struct handle *l, int fd);

/** Hands connections of @l that finished their handshake to waiting accepts and the loop. */
void tls_listener_pump(struct handle *l);

/**
 * Called while listener_deliver() sets up stream @h for a connection of TLS
 * listener @l, before stream_start(): @h takes over the session of the
 * connection being handed over.
 */
void tls_adopt(struct handle *l, struct handle *h);

/** TLS listener @l is closing: ends its handshakes and frees its context. */
void tls_listener_close(struct handle *l);

/** status.tls of stream @h (new reference), or NULL when it is not a finished TLS session. */
json_t *tls_status(struct handle *h);

/**
 * If @err is TLS_EFAIL from TLS stream @h, answers @r with the `tls` error
 * that tells why ("@what: ...") and returns true; otherwise returns false
 * and leaves @r alone.
 */
bool tls_fail_req(struct req *r, struct handle *h, int err, const char *what);

void m_starttls(struct worker *w, struct req *r);
void m_tls_config(struct worker *w, struct req *r);

#endif
