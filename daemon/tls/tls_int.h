/*
 * tls_int.h - what the TLS files share among themselves (tls.c: sessions,
 * the transport, handshakes and error translation; tls_ctx.c: options,
 * wolfSSL contexts and trust stores; tls_accept.c: TLS listeners;
 * tls_starttls.c: starttls, tls-config, status). The layers above use tls.h.
 */
#ifndef NETD_TLS_INT_H
#define NETD_TLS_INT_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "kind.h"
#include "tls.h"

/*
 * What the TLS transport's recv and send return (negated) when TLS itself
 * failed (an alert, a bad record, a truncated stream), as opposed to the
 * socket (then the socket's own errno comes back). The transport's fail
 * turns it into a `tls` error that says what happened.
 */
#define TLS_EFAIL EPROTO

/* Puts ChaCha20-Poly1305 first in @ctx's cipher list when the running
 * wolfSSL has no hardware AES (tls_lib.c). 0, or -1 if wolfSSL refused. */
int tls_ctx_prefer(WOLFSSL_CTX *ctx);

extern const struct transport tls_transport;
extern const struct acceptor tls_acceptor;

/* Options of one TLS endpoint, as the caller gave them. Strings are
 * borrowed from the request's parameters. */
struct tls_opts {
    bool server;
    bool verify;        /* client: check the server's certificate (default true) */
    bool verify_client; /* server: ask for and check a client certificate */
    const char *servername, *cafile, *capath, *cert, *key;
    char alpn[512]; /* comma-separated protocol list, "" for none */
};

/* Why something failed, for a `tls` error: a message and, where it
 * applies, a short reason for error.data.verify. */
struct tls_why {
    char msg[400];
    const char *verify; /* certificate verification: "expired", "unknown_ca", ... */
    const char *alert;  /* the alert the peer sent: "bad_certificate", ... */
    bool truncated;     /* the peer ended TCP without close_notify */
    int sys_errno;      /* the socket failed with this errno */
    /* A file of the caller's that could not be used: the error is then of
     * this kind (os, with file_errno; limit, naming limit; params), not `tls`. */
    enum netd_err fail_as;
    int file_errno;
    const char *limit;
};

struct tls_server;

/*
 * One TLS connection. Ciphertext wolfSSL writes goes to the socket at
 * once; what the socket does not take waits in @out, so wolfSSL never sees
 * a partial write and never needs the same buffer again (its retry rule).
 * @out is bounded because a send takes no new bytes while it is not empty.
 */
struct tls_sess {
    WOLFSSL *ssl;
    struct worker *w;
    struct sock *sk;        /* the stream, once there is one */
    struct tls_server *srv; /* accepted and not handed over yet: the listener's state */
    int fd;
    bool server;
    bool verify;      /* the peer's certificate is checked */
    bool established; /* the handshake succeeded */
    bool peer_closed; /* recv() saw the TCP end */
    /* wolfSSL reported the peer's close_notify after a read that returned
     * bytes: the next recv returns the end (0), which buffered() counts
     * until then, since the socket may never become readable again. */
    bool end_pending, end_told;
    bool sent_close; /* close_notify is out (or in @out) */
    bool shut_after_flush;
    bool lingering; /* its handle closed; only @out is left to send */
    int sys_err;    /* errno of a failed recv/send: the connection is broken */
    /* On a caller's unix socket: whose credentials the ciphertext carries
     * (creds_send), a reference; NULL: netd's own. */
    struct ident *scm;
    char *peer_name;
    struct buf pre; /* ciphertext read before the upgrade (starttls), read first */
    struct buf out; /* ciphertext the socket has not taken yet */
    ev_io hs_io;    /* readability while handshaking */
    ev_io out_io;   /* writability while @out holds bytes */
    ev_timer timer; /* handshake limit of accepted connections; linger limit */
    void (*done)(struct sock *sk);
    struct tls_why io_why;        /* why recv/send failed with TLS_EFAIL */
    struct tls_sess *next, *prev; /* the listener's lists; the linger list */
};

/* tls.c */
void tls_init(void);
/**
 * Builds the session for @o (client: @name is the server name to expect,
 * NULL for none) and attaches it to stream @h. 0, or -1 with @r answered.
 */
int tls_attach(struct sock *sk, struct req *r, const struct tls_opts *o, const char *name);
struct tls_sess *tls_sess_new(struct worker *w, WOLFSSL_CTX *ctx, const struct tls_opts *o,
                              const char *name, struct tls_why *why);
void tls_sess_free(struct tls_sess *s);
/** Starts the handshake of @s on @fd; tls_hs_ended() (tls_accept.c) or the handle's @done follows.
 */
void tls_hs_begin(struct tls_sess *s, int fd, struct ident *owner);
/** The error.data of a failure (new reference, or NULL). */
json_t *tls_why_data(const struct tls_why *why);
/** Answers @r with the error @why describes (`tls`, or the file error of its kind). */
void tls_why_fail(struct req *r, const struct tls_why *why);

/* tls_ctx.c */
/**
 * Reads TLS options from @obj (a `tls` object, or with @flat the params of
 * starttls, whose other members are skipped). @prefix names the parameter in
 * messages ("tls." or ""). 0, or -1 with @r answered (invalid params).
 */
int tls_opts_parse(struct req *r, const json_t *obj, bool flat, const char *prefix,
                   struct tls_opts *o);
/**
 * A context for @o (client contexts are shared and cached; server contexts
 * are new), with one reference for the caller (wolfSSL_CTX_free). The trust
 * store is @o's cafile/capath, else the connection's tls-config (carried by
 * @r), else the system's. NULL with @why filled when it cannot be built.
 */
WOLFSSL_CTX *tls_ctx_get(const struct req *r, const struct tls_opts *o, struct tls_why *why);

/** status.tls of stream @sk (new reference), or NULL when it is not a finished TLS session. */
json_t *tls_status(struct sock *sk);

/* tls_accept.c */
void tls_hs_ended_accepted(struct tls_sess *s, bool ok);

#endif
