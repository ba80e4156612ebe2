/*
 * tls_methods.c - `starttls` (upgrading a plain stream in either role),
 * `tls-config` (the trust store of a control connection) and status.tls.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls_int.h"

/* ---- starttls ---- */

static void starttls_done(struct handle *h)
{
    struct req *r = h->connectors.head;
    bool ok = h->state == HS_SUCCESS;
    if (r) {
        req_unpark(r);
        if (ok)
            req_ok(r, json_pack("{s:s}", "handle", h->name));
        else
            req_fail(r, h->fail_kind, json_incref(h->fail_data), "%s", h->fail_msg);
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
static bool can_upgrade(struct req *r, struct handle *h)
{
    if (h->tls) {
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", "tls"), "%s already speaks TLS",
                 h->name);
        return false;
    }
    if (h->state == HS_FAILURE) {
        req_fail(r, h->fail_kind, json_incref(h->fail_data), "%s", h->fail_msg);
        return false;
    }
    if (h->state != HS_SUCCESS || h->type != SOCK_STREAM) {
        req_fail_errno(r, ENOTCONN, "starttls");
        return false;
    }
    if (h->readers.count > 0 || h->writers.count > 0 || h->wq_bytes > 0) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "starttls: reads or writes are waiting on %s; let them finish (or cancel them, "
                 "and wait for \"drained\") first",
                 h->name);
        return false;
    }
    if (h->eof || h->rerr || h->werr || h->shut_wr || h->shut_wr_pending) {
        req_fail_errno(r, EPIPE, "starttls: the stream has ended");
        return false;
    }
    return true;
}

/* Moves the socket and the bytes netd read ahead (which may already be the
 * peer's first TLS records) from @old to the session of @h; @old ends. */
static int take_over(struct handle *old, struct handle *h)
{
    struct tls_sess *s = h->tls;
    int fd = old->fd;
    s->pre = old->rbuf;
    memset(&old->rbuf, 0, sizeof old->rbuf);
    ev_io_stop(old->w->loop, &old->rio);
    ev_io_stop(old->w->loop, &old->wio);
    old->fd = -1;
    h->host = old->host ? strdup(old->host) : NULL;
    h->hostname = old->hostname ? strdup(old->hostname) : NULL;
    h->kept = h->kept || old->kept;
    handle_close(old, "the stream was upgraded to TLS (starttls)");
    return fd;
}

void m_starttls(struct worker *w, struct req *r)
{
    struct handle *old = handle_get_kind(w, r, "handle", 1u << HK_STREAM);
    if (!old || !can_upgrade(r, old))
        return;
    const char *role = param_str(r, "role");
    struct tls_opts o = {.server = role && strcmp(role, "server") == 0};
    if (tls_opts_parse(r, r->params, true, "", &o) < 0)
        return;
    struct handle *h = handle_new(w, r, HK_STREAM);
    if (!h)
        return;
    if (tls_attach(h, r, &o, old->host) < 0) {
        handle_close(h, "starttls failed");
        return;
    }
    int fd = take_over(old, h);
    req_park(r, h, &h->connectors, WK_CONNECT, starttls_timeout);
    tls_handshake_start(h, fd, starttls_done);
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

static json_t *config_result(const struct conn *c)
{
    return json_pack("{s:s?,s:s?}", "cafile", c->tls_cafile, "capath", c->tls_capath);
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

void m_tls_config(struct worker *w, struct req *r)
{
    struct conn *c = idmap_get(&w->conns, r->conn_id);
    if (!c) {
        req_fail(r, NETD_E_ABORTED, NULL, "the control connection ended");
        return;
    }
    bool set = false;
    struct tls_opts o = {.verify = true};
    o.cafile = new_value(r, "cafile", c->tls_cafile, &set);
    o.capath = new_value(r, "capath", c->tls_capath, &set);
    if (!set) {
        req_ok(r, config_result(c));
        return;
    }
    /* Loading it now reports a missing or empty store here rather than at
     * every later connect, and leaves the context cached for them. The
     * request's copy of the old setting must not stand in for a cleared one. */
    free(r->tls_cafile);
    free(r->tls_capath);
    r->tls_cafile = r->tls_capath = NULL;
    struct tls_why why = {0};
    WOLFSSL_CTX *ctx = tls_ctx_get(r, &o, &why);
    if (!ctx) {
        req_fail(r, NETD_E_TLS, tls_why_data(&why), "%s", why.msg);
        return;
    }
    wolfSSL_CTX_free(ctx);
    if (replace(&c->tls_cafile, o.cafile) < 0 || replace(&c->tls_capath, o.capath) < 0) {
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

json_t *tls_status(struct handle *h)
{
    struct tls_sess *s = h->kind == HK_STREAM ? h->tls : NULL;
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
