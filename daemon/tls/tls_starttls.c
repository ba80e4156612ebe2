/*
 * tls_starttls.c - `starttls` (upgrading a plain stream in either role),
 * `tls-config` (the trust store of a control connection) and status.tls.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls_int.h"

/* ---- starttls ---- */

static void starttls_done(struct sock *sk)
{
    struct handle *h = &sk->h;
    struct req *r = h->openers.head;
    bool ok = h->state == HS_SUCCESS;
    if (r) {
        req_unpark(r);
        if (ok)
            req_ok(r, json_pack("{s:s}", "handle", h->name));
        else
            handle_fail_req(r, h);
    }
    /* Nobody learned the name of a handle whose handshake failed. */
    if (!ok)
        handle_close(h, "TLS handshake failed");
}

static void starttls_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "the TLS handshake took longer than the timeout");
    handle_close(h, "timeout");
}

/* Whether @h can be upgraded now; if not, @r is answered. */
static bool can_upgrade(struct req *r, struct sock *sk)
{
    struct handle *h = &sk->h;
    if (relay_refuse(sk, r, "starttls"))
        return false;
    if (sk->tp && !(sk->tp->caps & TP_CAN_UPGRADE)) {
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", sk->tp->name),
                 "%s already speaks TLS", h->name);
        return false;
    }
    if (h->state == HS_FAILURE) {
        handle_fail_req(r, h);
        return false;
    }
    if (h->state != HS_SUCCESS || h->type != SOCK_STREAM) {
        req_fail_errno(r, ENOTCONN, "starttls");
        return false;
    }
    if (sk->readers.count > 0 || sk->writers.count > 0 || sk->wq_bytes > 0) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "starttls: reads or writes are waiting on %s; let them finish (or cancel them, "
                 "and wait for \"drained\") first",
                 h->name);
        return false;
    }
    if (sk->eof || sk->rerr || sk->werr || sk->shut_wr || sk->shut_wr_pending) {
        req_fail_errno(r, EPIPE, "starttls: the stream has ended");
        return false;
    }
    return true;
}

/* Moves the socket and the bytes netd read ahead (which may already be the
 * peer's first TLS records) from @old to the session of @sk; @old ends, by
 * the one close path, without its socket. */
static void take_over(struct sock *old, struct sock *sk)
{
    struct tls_sess *s = sk->tp_state;
    mem_release(old->h.uid, old->rbuf.cap); /* the session's pre-read bytes are not charged */
    s->pre = old->rbuf;
    memset(&old->rbuf, 0, sizeof old->rbuf);
    sk->h.fd = handle_take_fd(&old->h);
    sk->host = old->host ? strdup(old->host) : NULL;
    sk->h.hostname = old->h.hostname ? strdup(old->h.hostname) : NULL;
    sk->h.kept = sk->h.kept || old->h.kept;
    handle_close(&old->h, "the stream was upgraded to TLS (starttls)");
}

void tls_starttls(struct sock *old, struct req *r)
{
    if (!can_upgrade(r, old))
        return;
    const char *role = param_str(r, "role");
    struct tls_opts o = {.server = role && strcmp(role, "server") == 0};
    if (tls_opts_parse(r, r->params, true, "", &o) < 0)
        return;
    struct handle *h = handle_new(old->h.w, r, &stream_ops);
    if (!h)
        return;
    struct sock *sk = sock_of(h);
    if (tls_attach(sk, r, &o, old->host) < 0) {
        handle_close(h, "starttls failed");
        return;
    }
    take_over(old, sk);
    handle_park(r, h, &h->openers, WK_OPEN, starttls_timeout);
    sk->tp->start(sk, starttls_done);
}

/* ---- tls-config ---- */

/* The new value of @name: the request's (null or "" clears it), else @cur. */
static const char *new_value(const struct req *r, const char *name, const char *cur, bool *set)
{
    json_t *v = json_object_get(r->params, name);
    if (!v)
        return cur;
    *set = true;
    const char *s = json_string_value(v);
    return s && *s ? s : NULL;
}

static json_t *config_result(const struct trust *t)
{
    return json_pack("{s:s?,s:s?}", "cafile", t->cafile, "capath", t->capath);
}

static int replace(char **dst, const char *v)
{
    char *copy = v ? strdup(v) : NULL;
    if (v && !copy)
        return -1;
    free(*dst);
    *dst = copy;
    return 0;
}

void tls_config(struct req *r)
{
    struct trust *c = r->conn_trust;
    if (!c) {
        req_fail(r, NETD_E_ABORTED, NULL, "the control connection ended");
        return;
    }
    bool set = false;
    struct tls_opts o = {.verify = true};
    o.cafile = new_value(r, "cafile", c->cafile, &set);
    o.capath = new_value(r, "capath", c->capath, &set);
    if (!set) {
        req_ok(r, config_result(c));
        return;
    }
    /* Loading it now reports a missing or empty store here rather than at
     * every later connect, and leaves the context cached for them. The
     * request's copy of the old setting must not stand in for a cleared one. */
    free(r->trust.cafile);
    free(r->trust.capath);
    r->trust.cafile = r->trust.capath = NULL;
    struct tls_why why = {0};
    WOLFSSL_CTX *ctx = tls_ctx_get(r, &o, &why);
    if (!ctx) {
        tls_why_fail(r, &why);
        return;
    }
    wolfSSL_CTX_free(ctx);
    if (replace(&c->cafile, o.cafile) < 0 || replace(&c->capath, o.capath) < 0) {
        req_fail(r, NETD_E_INTERNAL, NULL, "out of memory");
        return;
    }
    req_ok(r, config_result(c));
}

/* ---- status.tls ---- */

static json_t *peer_subject(WOLFSSL *ssl)
{
    WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(ssl);
    if (!x)
        return NULL;
    json_t *v = NULL;
    WOLFSSL_BIO *bio = wolfSSL_BIO_new(wolfSSL_BIO_s_mem());
    if (bio && wolfSSL_X509_NAME_print_ex(bio, wolfSSL_X509_get_subject_name(x), 0,
                                          XN_FLAG_RFC2253) == WOLFSSL_SUCCESS) {
        char *p = NULL;
        long n = wolfSSL_BIO_get_mem_data(bio, &p);
        if (n > 0 && p)
            v = json_stringn(p, (size_t)n);
    }
    if (bio)
        wolfSSL_BIO_free(bio);
    wolfSSL_X509_free(x);
    return v;
}

json_t *tls_status(struct sock *sk)
{
    struct tls_sess *s = sk->tp_state;
    if (!s || !s->established || !s->ssl)
        return NULL;
    int suite = wolfSSL_get_current_cipher_suite(s->ssl);
    const char *cipher =
        wolfSSL_get_cipher_name_iana_from_suite((unsigned char)(suite >> 8), (unsigned char)suite);
    if (!cipher || !*cipher)
        cipher = wolfSSL_get_cipher_name(s->ssl);
    json_t *t = json_pack("{s:s,s:s,s:b}", "version", wolfSSL_get_version(s->ssl), "cipher",
                          cipher ? cipher : "", "verified", s->verify);
    char *proto = NULL;
    unsigned short len = 0;
    if (wolfSSL_ALPN_GetProtocol(s->ssl, &proto, &len) == WOLFSSL_SUCCESS && proto && len > 0)
        json_object_set_new(t, "alpn", json_stringn(proto, len));
    json_t *subject = peer_subject(s->ssl);
    if (subject)
        json_object_set_new(t, "peer_subject", subject);
    return t;
}
