/*
 * tls.h - TLS on netd's streams, with wolfSSL: the layer between the kinds
 * and the methods. It implements kind/'s transport table (TLS streams,
 * client and server handshakes on a worker's loop) and acceptor table (TLS
 * listeners), and offers the methods STARTTLS, the trust store of a control
 * connection (tls-config) and status.tls.
 *
 * Nothing outside daemon/tls/ includes a wolfSSL header or sees a wolfSSL
 * error code: the rest of the daemon deals in the transport and acceptor
 * tables, negative errno values and `tls` errors. A TLS stream's session is
 * its transport state (freed by the transport's close); a TLS listener's
 * server context, with the accepted connections still in their handshake,
 * is its acceptor state (freed by the acceptor's close). Closed streams that
 * still send their last records linger on their worker, which frees them
 * at the latest when netd stops.
 */
#ifndef NETD_TLS_H
#define NETD_TLS_H

#include <stdbool.h>

#include "kind.h"

/** Registers the TLS layer with the workers (before workers_start). */
void tls_layer_init(void);

/**
 * connect with a `tls` parameter @tls (true, or an object of client
 * options): checks it, builds the client session and makes it stream @sk's
 * transport, so connecting ends with the handshake. @name is the host the
 * caller gave (the default server name for SNI and verification), or NULL
 * when there is none (a unix path). Returns 0, or -1 when @r has been
 * answered: invalid params, or a `tls` error (for example no usable trust
 * store). @sk is not closed.
 */
int tls_connect_prepare(struct sock *sk, struct req *r, const json_t *tls, const char *name);

/**
 * listen/server with a `tls` parameter @tls (an object with cert and key):
 * loads the server context and makes it listener @l's acceptor. Returns 0,
 * or -1 when @r has been answered; @l is not closed.
 */
int tls_listen_prepare(struct listener *l, struct req *r, const json_t *tls);

/** `starttls` on plain stream @old: answers @r with the new TLS handle once its handshake ends. */
void tls_starttls(struct sock *old, struct req *r);

/** `tls-config`: reads or sets the trust store of @r's connection (r->conn_trust). */
void tls_config(struct req *r);

/**
 * Which wolfSSL runs, as one line for `netd --version`: its version, whether
 * it is netd's own build with AES-NI or the system's, and the file the
 * loader mapped. Static storage.
 */
const char *tls_library(void);

/** The same for `stats`: {version, build ("netd" or "system"), path,
 * hardware_aes, preferred (the AEAD offered first)}. A new reference. */
json_t *tls_library_json(void);

#endif
