/*
 * tls.c - TLS sessions: the TLS transport of streams, handshakes driven by
 * the worker's loop, and the one place where wolfSSL's error codes become
 * netd's errors.
 *
 * wolfSSL talks to the socket through our own I/O callbacks. Reading, they
 * first hand out ciphertext netd read before a STARTTLS upgrade, then read
 * the socket. Writing, they never report "would block": what the socket does
 * not take is kept in the session's out buffer and written when the socket
 * is writable, while sends take nothing new until it is empty. That keeps
 * wolfSSL's rule (retry a blocked write with the same bytes) out of
 * stream.c, whose queue may drop a segment on timeout or cancel.
 *
 * A handshake uses the session's own watchers; the handle's watchers (and
 * stream.c) take over once it has succeeded.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls_int.h" /* first: wolfssl/options.h must precede the other wolfSSL headers */

#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

/* Plaintext taken by one send: at most one burst of records waits in out. */
#define TLS_SEND_MAX (64 * 1024)
/* How long a closed stream may take to get its last records and close_notify out. */
#define LINGER_SECONDS 5.0

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_key_t thread_key;

/* Per worker (slot WS_TLS): closed streams still sending their last
 * records. Only the worker touches its list; netd's stop frees what is
 * left on it. */
struct tls_space {
    struct tls_sess *lingering;
};

static struct tls_space *space(struct worker *w)
{
    return w->slot[WS_TLS];
}

/* wolfSSL keeps a per-thread cache of precomputed ECC points (FP_ECC); a
 * thread must free it itself before it ends. */
static void thread_done(void *unused)
{
    wc_ecc_fp_free();
}

static void init_library(void)
{
    wolfSSL_Init();
    pthread_key_create(&thread_key, thread_done);
}

void tls_init(void)
{
    pthread_once(&init_once, init_library);
    if (!pthread_getspecific(thread_key))
        pthread_setspecific(thread_key, &thread_key);
}

/* ---- the socket under wolfSSL ---- */

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    struct tls_sess *s = ctx;
    size_t pre = buf_used(&s->pre);
    if (pre > 0) {
        size_t n = pre < (size_t)sz ? pre : (size_t)sz;
        memcpy(buf, s->pre.data + s->pre.off, n);
        buf_consume(&s->pre, n);
        if (buf_used(&s->pre) == 0)
            buf_free(&s->pre);
        return (int)n;
    }
    ssize_t k = recv(s->fd, buf, (size_t)sz, MSG_DONTWAIT);
    if (k > 0)
        return (int)k;
    if (k == 0) {
        s->peer_closed = true;
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    s->sys_err = errno;
    return WOLFSSL_CBIO_ERR_CONN_RST;
}

/* Writes what the socket takes of out. 0, or -errno when the socket failed. */
static int out_flush(struct tls_sess *s)
{
    while (buf_used(&s->out) > 0) {
        ssize_t k = creds_send(s->scm, s->fd, s->out.data + s->out.off, buf_used(&s->out),
                               MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k > 0) {
            buf_consume(&s->out, (size_t)k);
            continue;
        }
        if (k == -EAGAIN || k == -EWOULDBLOCK || k == -EINTR)
            return 0;
        s->sys_err = k < 0 ? (int)-k : EPIPE;
        return -s->sys_err;
    }
    if (s->out.cap > 4 * TLS_SEND_MAX)
        buf_free(&s->out);
    if (s->shut_after_flush) {
        s->shut_after_flush = false;
        shutdown(s->fd, SHUT_WR);
    }
    return 0;
}

static void out_watch(struct tls_sess *s)
{
    bool want = buf_used(&s->out) > 0 && !s->sys_err && s->fd >= 0;
    if (want != ev_is_active(&s->out_io))
        (want ? ev_io_start : ev_io_stop)(s->w->loop, &s->out_io);
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
    struct tls_sess *s = ctx;
    if (s->sys_err)
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    size_t sent = 0;
    if (buf_used(&s->out) == 0) {
        ssize_t k = creds_send(s->scm, s->fd, buf, (size_t)sz, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && k != -EAGAIN && k != -EWOULDBLOCK && k != -EINTR) {
            s->sys_err = (int)-k;
            return WOLFSSL_CBIO_ERR_CONN_CLOSE;
        }
        sent = k > 0 ? (size_t)k : 0;
    }
    if (sent < (size_t)sz) {
        if (buf_append(&s->out, buf + sent, (size_t)sz - sent) < 0) {
            s->sys_err = ENOMEM;
            return WOLFSSL_CBIO_ERR_GENERAL;
        }
        out_watch(s);
    }
    return sz;
}

static void linger_end(struct tls_sess *s);

static void on_out_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct tls_sess *s = io->data;
    out_flush(s);
    if (s->lingering && (buf_used(&s->out) == 0 || s->sys_err)) {
        linger_end(s);
        return;
    }
    out_watch(s);
    /* The last ciphertext left: `wait {for: "drained"}` may now hold. */
    if (buf_used(&s->out) == 0 && s->sk && s->sk->tp_state == s)
        handle_check_waiters(&s->sk->h);
}

/* ---- verification ---- */

static int on_verify(int ok, WOLFSSL_X509_STORE_CTX *store)
{
    int err = wolfSSL_X509_STORE_CTX_get_error(store);
    /* wolfSSL 5.5 tells the callback that an IP address does not match
     * but would go on with the handshake: a name check must end it. */
    if (ok && (err == IPADDR_MISMATCH || err == DOMAIN_NAME_MISMATCH))
        ok = 0;
    return ok;
}

/*
 * If @name is an IP address, writes into @out (64 bytes) the text wolfSSL
 * compares with the certificate's IP SANs, and returns true. wolfSSL 5.5
 * compares text, and writes an IPv6 SAN as eight groups of four hex digits,
 * so "::1" must become "0000:...:0001" to match.
 */
static bool ip_text(const char *name, char *out)
{
    unsigned char a[16];
    if (name && inet_pton(AF_INET, name, a) == 1)
        return inet_ntop(AF_INET, a, out, 64) != NULL;
    if (!name || inet_pton(AF_INET6, name, a) != 1)
        return false;
    for (int i = 0; i < 8; i++)
        snprintf(out + 5 * i, 6, "%02x%02x%s", a[2 * i], a[2 * i + 1], i < 7 ? ":" : "");
    return true;
}

/* Client: SNI and the name (or IP address) the certificate must carry. */
static int setup_client(struct tls_sess *s, const struct tls_opts *o, const char *name,
                        struct tls_why *why)
{
    char ip[64];
    bool is_ip = ip_text(name, ip);
    s->verify = o->verify;
    s->peer_name = name ? strdup(name) : NULL;
    /* An IP address is never sent as SNI (RFC 6066). */
    if (name && !is_ip &&
        wolfSSL_UseSNI(s->ssl, WOLFSSL_SNI_HOST_NAME, name, (unsigned short)strlen(name)) !=
            WOLFSSL_SUCCESS) {
        snprintf(why->msg, sizeof why->msg, "cannot use '%.200s' as the TLS server name", name);
        return -1;
    }
    if (!o->verify) {
        wolfSSL_set_verify(s->ssl, WOLFSSL_VERIFY_NONE, NULL);
        return 0;
    }
    wolfSSL_set_verify(s->ssl, WOLFSSL_VERIFY_PEER, on_verify);
    int rc = is_ip ? wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(wolfSSL_get0_param(s->ssl), ip)
                   : wolfSSL_check_domain_name(s->ssl, name);
    if (rc != WOLFSSL_SUCCESS) {
        snprintf(why->msg, sizeof why->msg, "cannot verify certificates against '%.200s'", name);
        return -1;
    }
    return 0;
}

struct tls_sess *tls_sess_new(struct worker *w, WOLFSSL_CTX *ctx, const struct tls_opts *o,
                              const char *name, struct tls_why *why)
{
    tls_init(); /* also on this thread, which may be new to wolfSSL */
    struct tls_sess *s = calloc(1, sizeof *s);
    if (!s || !(s->ssl = wolfSSL_new(ctx))) {
        free(s);
        snprintf(why->msg, sizeof why->msg, "cannot create a TLS session (out of memory?)");
        return NULL;
    }
    s->w = w;
    s->fd = -1;
    s->server = o->server;
    wolfSSL_SSLSetIORecv(s->ssl, io_recv);
    wolfSSL_SSLSetIOSend(s->ssl, io_send);
    wolfSSL_SetIOReadCtx(s->ssl, s);
    wolfSSL_SetIOWriteCtx(s->ssl, s);
    ev_init(&s->hs_io, NULL);
    ev_init(&s->out_io, on_out_io);
    ev_init(&s->timer, NULL);
    s->hs_io.data = s->out_io.data = s->timer.data = s;
    int rc = 0;
    if (o->server) {
        s->verify = o->verify_client;
        wolfSSL_set_verify(s->ssl,
                           o->verify_client
                               ? WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT
                               : WOLFSSL_VERIFY_NONE,
                           o->verify_client ? on_verify : NULL);
    } else {
        rc = setup_client(s, o, name, why);
    }
    char alpn[sizeof o->alpn];
    memcpy(alpn, o->alpn, sizeof alpn);
    if (rc == 0 && alpn[0] &&
        wolfSSL_UseALPN(s->ssl, alpn, (unsigned)strlen(alpn), WOLFSSL_ALPN_CONTINUE_ON_MISMATCH) !=
            WOLFSSL_SUCCESS) {
        snprintf(why->msg, sizeof why->msg, "cannot offer the ALPN protocols %.200s", o->alpn);
        rc = -1;
    }
    if (rc < 0) {
        tls_sess_free(s);
        return NULL;
    }
    return s;
}

void tls_sess_free(struct tls_sess *s)
{
    ev_io_stop(s->w->loop, &s->hs_io);
    ev_io_stop(s->w->loop, &s->out_io);
    ev_timer_stop(s->w->loop, &s->timer);
    if (s->ssl)
        wolfSSL_free(s->ssl);
    buf_free(&s->pre);
    buf_free(&s->out);
    free(s->peer_name);
    ident_unref(s->scm);
    free(s);
}

/* ---- from wolfSSL's codes to netd's errors ---- */

static const struct {
    int code;
    const char *verify;
    const char *text; /* may name the peer with one %s */
} verify_reasons[] = {
    {ASN_NO_SIGNER_E, "unknown_ca", "the certificate is not signed by a trusted CA"},
    {ASN_SELF_SIGNED_E, "self_signed", "the certificate is self-signed and not trusted"},
    {ASN_AFTER_DATE_E, "expired", "the certificate has expired"},
    {ASN_BEFORE_DATE_E, "not_yet_valid", "the certificate is not valid yet"},
    {DOMAIN_NAME_MISMATCH, "name_mismatch", "the certificate is not for '%s'"},
    {IPADDR_MISMATCH, "name_mismatch", "the certificate is not for the IP address %s"},
    {ASN_SIG_CONFIRM_E, "bad_signature", "the certificate's signature does not verify"},
    {NO_PEER_CERT, "no_certificate", "the peer sent no certificate"},
    {NO_PEER_VERIFY, "no_certificate", "the peer sent no certificate"},
    {VERIFY_CERT_ERROR, "invalid", "the certificate is not acceptable"},
};

static const struct {
    int code;
    const char *name;
} alerts[] = {
    {10, "unexpected_message"},
    {20, "bad_record_mac"},
    {40, "handshake_failure"},
    {42, "bad_certificate"},
    {43, "unsupported_certificate"},
    {44, "certificate_revoked"},
    {45, "certificate_expired"},
    {46, "certificate_unknown"},
    {47, "illegal_parameter"},
    {48, "unknown_ca"},
    {49, "access_denied"},
    {50, "decode_error"},
    {51, "decrypt_error"},
    {70, "protocol_version"},
    {71, "insufficient_security"},
    {80, "internal_error"},
    {86, "inappropriate_fallback"},
    {90, "user_canceled"},
    {109, "missing_extension"},
    {110, "unsupported_extension"},
    {112, "unrecognized_name"},
    {116, "certificate_required"},
    {120, "no_application_protocol"},
};

static bool explain_verify(struct tls_sess *s, int err, struct tls_why *why, const char *stage)
{
    for (size_t i = 0; i < sizeof verify_reasons / sizeof *verify_reasons; i++) {
        if (verify_reasons[i].code != err)
            continue;
        char text[256];
        snprintf(text, sizeof text, verify_reasons[i].text,
                 s->peer_name ? s->peer_name : "the peer");
        snprintf(why->msg, sizeof why->msg, "%sthe %s's certificate failed verification: %s", stage,
                 s->server ? "client" : "server", text);
        why->verify = verify_reasons[i].verify;
        return true;
    }
    return false;
}

static bool explain_alert(struct tls_sess *s, int err, struct tls_why *why, const char *stage)
{
    WOLFSSL_ALERT_HISTORY ah;
    if (err != FATAL_ERROR || wolfSSL_get_alert_history(s->ssl, &ah) != WOLFSSL_SUCCESS)
        return false;
    const char *name = "unknown";
    for (size_t i = 0; i < sizeof alerts / sizeof *alerts; i++)
        if (alerts[i].code == ah.last_rx.code)
            name = alerts[i].name;
    why->alert = name;
    snprintf(why->msg, sizeof why->msg, "%sthe peer sent the fatal alert %s (%d)%s", stage, name,
             ah.last_rx.code,
             ah.last_rx.code == 116 || ah.last_rx.code == 42
                 ? ": it wants a client certificate it trusts"
             : ah.last_rx.code == 48 || ah.last_rx.code == 45 || ah.last_rx.code == 46
                 ? ": it does not accept our certificate"
                 : "");
    return true;
}

/* Says in @why why the session failed with wolfSSL error @err during @stage. */
static void explain(struct tls_sess *s, int err, struct tls_why *why, const char *stage_name)
{
    /* The stage leads the message; I/O failures get theirs from the caller. */
    char stage[64];
    snprintf(stage, sizeof stage, "%s%s", stage_name ? stage_name : "", stage_name ? ": " : "");
    memset(why, 0, sizeof *why);
    if (s->sys_err) {
        why->sys_errno = s->sys_err;
        snprintf(why->msg, sizeof why->msg, "%s%s", stage, strerror(s->sys_err));
        return;
    }
    if (explain_verify(s, err, why, stage) || explain_alert(s, err, why, stage))
        return;
    if (s->peer_closed) {
        why->truncated = true;
        snprintf(why->msg, sizeof why->msg,
                 "%sthe peer closed the connection without a TLS close_notify%s", stage,
                 s->established ? "; the data may be truncated" : "");
        return;
    }
    char text[WOLFSSL_MAX_ERROR_SZ];
    wolfSSL_ERR_error_string_n((unsigned long)err, text, sizeof text);
    snprintf(why->msg, sizeof why->msg, "%s%s (wolfSSL error %d)", stage, text, err);
}

json_t *tls_why_data(const struct tls_why *why)
{
    if (why->verify)
        return json_pack("{s:s}", "verify", why->verify);
    if (why->alert)
        return json_pack("{s:s}", "alert", why->alert);
    if (why->truncated)
        return json_pack("{s:b}", "truncated", 1);
    if (why->sys_errno)
        return json_pack("{s:s}", "errno", netd_errno_name(why->sys_errno));
    return NULL;
}

void tls_why_fail(struct req *r, const struct tls_why *why)
{
    switch (why->fail_as) {
    case NETD_OK:
    case NETD_E_TLS:
        req_fail(r, NETD_E_TLS, tls_why_data(why), "%s", why->msg);
        break;
    case NETD_E_OS:
        req_fail(r, NETD_E_OS, json_pack("{s:s}", "errno", netd_errno_name(why->file_errno)), "%s",
                 why->msg);
        break;
    case NETD_E_LIMIT:
        req_fail(r, NETD_E_LIMIT, json_pack("{s:s}", "limit", why->limit), "%s", why->msg);
        break;
    default:
        req_fail(r, why->fail_as, NULL, "%s", why->msg);
    }
}

static bool tls_fail(struct sock *sk, struct req *r, int err, const char *what)
{
    struct tls_sess *s = sk->tp_state;
    if (err != TLS_EFAIL || !s || !s->io_why.msg[0])
        return false;
    req_fail(r, NETD_E_TLS, tls_why_data(&s->io_why), "%s: %s", what, s->io_why.msg);
    return true;
}

/* recv/send failed with wolfSSL error @err: a socket error is passed on as
 * it is, anything else is remembered for tls_fail(). */
static ssize_t io_failed(struct tls_sess *s, int err)
{
    if (s->sys_err)
        return -s->sys_err;
    explain(s, err, &s->io_why, NULL);
    return -TLS_EFAIL;
}

/* ---- handshakes ---- */

static void hs_step(struct tls_sess *s);

static void on_hs_io(struct ev_loop *loop, ev_io *io, int revents)
{
    hs_step(io->data);
}

/* The handshake of a stream's session ended (@err 0: it succeeded). The
 * handle's done callback may close the handle, and with it @s. */
static void hs_finish(struct tls_sess *s, int err)
{
    struct sock *sk = s->sk;
    ev_io_stop(s->w->loop, &s->hs_io);
    if (err == 0) {
        s->established = true;
        sock_start(sk, s->fd);
    } else {
        /* The socket is the handle's: whoever waits for the handshake
         * closes it with the handle (or keeps the failure to show). */
        explain(s, err, &s->io_why, "TLS handshake");
        handle_set_failure(&sk->h, NETD_E_TLS, tls_why_data(&s->io_why), "%s", s->io_why.msg);
        ev_io_stop(s->w->loop, &s->out_io);
        s->fd = -1;
    }
    void (*done)(struct sock *) = s->done;
    s->done = NULL;
    if (done)
        done(sk);
}

static void hs_ended(struct tls_sess *s, int err)
{
    if (s->sk) {
        hs_finish(s, err);
        return;
    }
    ev_io_stop(s->w->loop, &s->hs_io);
    s->established = err == 0;
    if (err)
        explain(s, err, &s->io_why, "TLS handshake");
    tls_hs_ended_accepted(s, err == 0);
}

static void hs_step(struct tls_sess *s)
{
    int rc = s->server ? wolfSSL_accept(s->ssl) : wolfSSL_connect(s->ssl);
    if (rc == WOLFSSL_SUCCESS) {
        hs_ended(s, 0);
        return;
    }
    int err = wolfSSL_get_error(s->ssl, rc);
    if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
        /* Writes never block (see io_send), so the handshake only ever
         * waits for the peer. */
        if (!ev_is_active(&s->hs_io))
            ev_io_start(s->w->loop, &s->hs_io);
        return;
    }
    hs_ended(s, err ? err : FATAL_ERROR);
}

void tls_hs_begin(struct tls_sess *s, int fd, struct ident *owner)
{
    s->fd = fd;
    if (!s->scm && creds_scm_wanted(owner, fd))
        s->scm = ident_ref(owner);
    ev_io_init(&s->hs_io, on_hs_io, fd, EV_READ);
    ev_io_set(&s->out_io, fd, EV_WRITE);
    hs_step(s);
}

/* The transport's start: the handshake on the handle's connected socket. */
static void tls_start(struct sock *sk, void (*done)(struct sock *sk))
{
    struct tls_sess *s = sk->tp_state;
    s->sk = sk;
    s->done = done;
    tls_hs_begin(s, sk->h.fd, sk->h.ident);
}

int tls_attach(struct sock *sk, struct req *r, const struct tls_opts *o, const char *name)
{
    const char *peer = o->servername ? o->servername : name;
    if (!o->server && o->verify && !peer) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "no server name to verify the certificate against: give 'servername' (or "
                 "verify: false)");
        return -1;
    }
    struct tls_why why = {0};
    WOLFSSL_CTX *ctx = tls_ctx_get(r, o, &why);
    struct tls_sess *s = ctx ? tls_sess_new(sk->h.w, ctx, o, peer, &why) : NULL;
    if (ctx)
        wolfSSL_CTX_free(ctx); /* the session holds its own reference */
    if (!s) {
        tls_why_fail(r, &why);
        return -1;
    }
    s->sk = sk;
    sk->tp_state = s;
    sk->tp = &tls_transport;
    return 0;
}

int tls_connect_prepare(struct sock *sk, struct req *r, const json_t *tls, const char *name)
{
    struct tls_opts o = {.server = false};
    if (tls_opts_parse(r, tls, false, "tls.", &o) < 0)
        return -1;
    return tls_attach(sk, r, &o, name);
}

/* ---- the transport ---- */

static ssize_t tls_recv(struct sock *sk, void *buf, size_t n)
{
    struct tls_sess *s = sk->tp_state;
    if (!s || !s->established)
        return -EAGAIN;
    sk->tp_want &= ~TP_WANT_WRITE;
    if (s->end_pending || s->end_told) {
        s->end_pending = false;
        s->end_told = true;
        return 0; /* the close_notify that came after the last bytes */
    }
    size_t got = 0;
    /* One wolfSSL_read gives at most one record; take as many as fit, as
     * one recv() on a plain socket would. */
    while (got < n) {
        size_t want = n - got < INT_MAX ? n - got : INT_MAX;
        int k = wolfSSL_read(s->ssl, (char *)buf + got, (int)want);
        if (k > 0) {
            got += (size_t)k;
            continue;
        }
        int err = wolfSSL_get_error(s->ssl, k);
        if (got > 0) {
            /* The end is remembered: wolfSSL may not report it again, and
             * the socket, drained, may not wake the loop for it. An error
             * comes again on the next call. */
            if (err == WOLFSSL_ERROR_ZERO_RETURN)
                s->end_pending = true;
            break;
        }
        if (err == WOLFSSL_ERROR_WANT_READ)
            return -EAGAIN;
        if (err == WOLFSSL_ERROR_WANT_WRITE) {
            sk->tp_want |= TP_WANT_WRITE;
            return -EAGAIN;
        }
        if (err == WOLFSSL_ERROR_ZERO_RETURN)
            return 0; /* close_notify: an orderly end */
        return io_failed(s, err);
    }
    return (ssize_t)got;
}

static ssize_t tls_send(struct sock *sk, const void *buf, size_t n)
{
    struct tls_sess *s = sk->tp_state;
    if (!s || !s->established)
        return 0;
    sk->tp_want &= ~TP_WANT_READ;
    if (s->sys_err || out_flush(s) < 0)
        return -s->sys_err;
    /* Like send() on a plain socket, take as much as the socket takes: a
     * burst at a time, until one of them does not fit (it waits in out). */
    size_t taken = 0;
    while (taken < n && buf_used(&s->out) == 0) {
        size_t burst = n - taken < TLS_SEND_MAX ? n - taken : TLS_SEND_MAX;
        int k = wolfSSL_write(s->ssl, (const char *)buf + taken, (int)burst);
        if (k > 0) {
            taken += (size_t)k;
            continue;
        }
        if (taken > 0)
            break;
        int err = wolfSSL_get_error(s->ssl, k);
        if (err == WOLFSSL_ERROR_WANT_WRITE)
            return 0;
        if (err == WOLFSSL_ERROR_WANT_READ) {
            sk->tp_want |= TP_WANT_READ;
            return 0;
        }
        return io_failed(s, err);
    }
    return (ssize_t)taken;
}

/* Decrypted bytes inside wolfSSL, ciphertext read before an upgrade, and
 * the end when close_notify came behind the last bytes (counted as one):
 * neither makes the socket readable, so stream.c asks for them. */
static size_t tls_unsent(struct sock *sk)
{
    struct tls_sess *s = sk->tp_state;
    return s ? buf_used(&s->out) : 0;
}

static size_t tls_buffered(struct sock *sk)
{
    struct tls_sess *s = sk->tp_state;
    if (!s || !s->established)
        return 0;
    int p = wolfSSL_pending(s->ssl);
    return (p > 0 ? (size_t)p : 0) + buf_used(&s->pre) + (s->end_pending ? 1 : 0);
}

static void send_close_notify(struct tls_sess *s)
{
    if (s->sent_close || !s->established || s->sys_err)
        return;
    s->sent_close = true;
    wolfSSL_shutdown(s->ssl); /* writes close_notify; the peer's answer is not awaited */
}

static int tls_shutdown_write(struct sock *sk)
{
    struct tls_sess *s = sk->tp_state;
    if (!s || s->fd < 0)
        return -ENOTCONN;
    send_close_notify(s);
    s->shut_after_flush = true;
    return out_flush(s);
}

/* A closed stream whose last records the socket has not taken yet keeps a
 * duplicate of its descriptor until they are out (or LINGER_SECONDS pass),
 * so a close right after a write loses nothing, as with a plain socket. */
static void on_linger_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    linger_end(t->data);
}

static bool linger(struct tls_sess *s)
{
    struct tls_space *sp = space(s->w);
    int fd = dup(s->fd);
    if (fd < 0)
        return false;
    wolfSSL_free(s->ssl);
    s->ssl = NULL;
    s->lingering = true;
    ev_io_stop(s->w->loop, &s->out_io);
    s->fd = fd;
    ev_io_set(&s->out_io, fd, EV_WRITE);
    ev_io_start(s->w->loop, &s->out_io);
    ev_timer_init(&s->timer, on_linger_timeout, LINGER_SECONDS, 0.);
    ev_timer_start(s->w->loop, &s->timer);
    s->prev = NULL;
    s->next = sp->lingering;
    if (sp->lingering)
        sp->lingering->prev = s;
    sp->lingering = s;
    return true;
}

static void linger_end(struct tls_sess *s)
{
    struct tls_space *sp = space(s->w);
    if (s->prev)
        s->prev->next = s->next;
    else
        sp->lingering = s->next;
    if (s->next)
        s->next->prev = s->prev;
    close(s->fd);
    tls_sess_free(s);
}

static void tls_close(struct sock *sk)
{
    struct tls_sess *s = sk->tp_state;
    if (!s)
        return;
    sk->tp_state = NULL;
    s->sk = NULL;
    s->done = NULL;
    if (s->fd >= 0 && s->established && !s->sys_err) {
        send_close_notify(s);
        out_flush(s);
        if (buf_used(&s->out) > 0 && !s->sys_err && linger(s))
            return;
    }
    tls_sess_free(s); /* the handle closes the socket */
}

const struct transport tls_transport = {
    .name = "tls",
    .caps = 0,
    .recv = tls_recv,
    .send = tls_send,
    .buffered = tls_buffered,
    .unsent = tls_unsent,
    .shutdown_write = tls_shutdown_write,
    .start = tls_start,
    .status = tls_status,
    .fail = tls_fail,
    .close = tls_close,
};

/* ---- the layer's part in each worker's life ---- */

static int space_init(struct worker *w)
{
    tls_init();
    w->slot[WS_TLS] = calloc(1, sizeof(struct tls_space));
    return w->slot[WS_TLS] ? 0 : -ENOMEM;
}

/* netd stops: closed streams still sending are given up on. */
static void space_stop(struct worker *w)
{
    while (space(w)->lingering)
        linger_end(space(w)->lingering);
}

static size_t space_leaks(struct worker *w, FILE *out)
{
    size_t n = 0;
    for (struct tls_sess *s = space(w)->lingering; s; s = s->next) {
        fprintf(out, "netd: leak: worker %d: a closed TLS stream is still lingering\n", w->index);
        n++;
    }
    return n;
}

static void space_fini(struct worker *w)
{
    free(w->slot[WS_TLS]);
    w->slot[WS_TLS] = NULL;
}

static const struct worker_hook hook = {
    .init = space_init,
    .stop = space_stop,
    .fini = space_fini,
    .leaks = space_leaks,
};

void tls_layer_init(void)
{
    worker_hook_add(&hook);
}
