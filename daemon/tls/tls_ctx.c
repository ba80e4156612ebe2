/*
 * tls_ctx.c - TLS options and wolfSSL contexts: the `tls` parameter and
 * starttls's parameters, trust stores (a file, a directory, or the system's),
 * and our own certificate and key.
 *
 * Loading the system trust store parses a few hundred certificates, too slow
 * to repeat for every connect, so client contexts are shared by every worker
 * and cached by what went into them: each file's identity and modification
 * time as the caller's own descriptor shows it, so a changed file is loaded
 * again and nobody gets a context made of files it could not open. The
 * files are read by netd as the caller (core/creds.c) and given to wolfSSL
 * as buffers. A context is handed
 * out with a reference of its own, so evicting it from the cache never frees
 * it under a connection being set up. Server contexts belong to their
 * listener (or starttls call) and are not cached.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tls_int.h" /* first: wolfssl/options.h must precede the other wolfSSL headers */

#include "rpc.h"

#include <wolfssl/openssl/evp.h>
#include <wolfssl/openssl/pem.h>

#define CTX_CACHE_SLOTS 16

static struct {
    char *key;
    WOLFSSL_CTX *ctx;
    uint64_t used;
} cache[CTX_CACHE_SLOTS];
static uint64_t cache_clock;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- options ---- */

static int bad_param(struct req *r, const char *prefix, const char *name, const char *what)
{
    req_fail(r, NETD_E_PARAMS, NULL, "parameter '%s%s' %s", prefix, name, what);
    return -1;
}

static int parse_alpn(struct req *r, const json_t *v, const char *prefix, struct tls_opts *o)
{
    size_t i, len = 0;
    json_t *p;
    if (!json_is_array(v) || json_array_size(v) == 0)
        return bad_param(r, prefix, "alpn", "must be a non-empty array of protocol names");
    json_array_foreach(v, i, p)
    {
        const char *s = json_string_value(p);
        size_t n = s ? strlen(s) : 0;
        if (!s || n == 0 || n > 255 || n != json_string_length(p) || strchr(s, ','))
            return bad_param(r, prefix, "alpn", "must hold names of 1 to 255 bytes without ','");
        if (len + n + 2 > sizeof o->alpn)
            return bad_param(r, prefix, "alpn", "is too long");
        if (len)
            o->alpn[len++] = ',';
        memcpy(o->alpn + len, s, n + 1);
        len += n;
    }
    return 0;
}

/* One member of the options. 1: taken; 0: not a TLS option; -1: @r answered. */
static int parse_one(struct req *r, const char *k, const json_t *v, const char *prefix,
                     struct tls_opts *o)
{
    static const char *const strs[] = {"servername", "cafile", "capath", "cert", "key"};
    const char **dst[] = {&o->servername, &o->cafile, &o->capath, &o->cert, &o->key};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        if (strcmp(k, strs[i]) != 0)
            continue;
        if (!netd_json_text(v) || json_string_length(v) == 0)
            return bad_param(r, prefix, k, "must be a non-empty string without NUL bytes");
        *dst[i] = json_string_value(v);
        return 1;
    }
    bool *flag = strcmp(k, "verify") == 0          ? &o->verify
                 : strcmp(k, "verify_client") == 0 ? &o->verify_client
                                                   : NULL;
    if (flag) {
        if (!json_is_boolean(v))
            return bad_param(r, prefix, k, "must be true or false");
        *flag = json_is_true(v);
        return 1;
    }
    if (strcmp(k, "alpn") == 0)
        return parse_alpn(r, v, prefix, o) < 0 ? -1 : 1;
    return 0;
}

/* Options that make no sense for the side being set up are refused rather
 * than ignored, so a typo never silently weakens a connection. */
static int check_side(struct req *r, const json_t *obj, const char *prefix, struct tls_opts *o)
{
    if (o->server) {
        if (json_object_get(obj, "servername") || json_object_get(obj, "verify"))
            return bad_param(r, prefix, json_object_get(obj, "verify") ? "verify" : "servername",
                             "is for the client side (the server side has verify_client)");
        if (!o->cert || !o->key) {
            req_fail(r, NETD_E_PARAMS, NULL, "a TLS server needs '%scert' and '%skey' (PEM files)",
                     prefix, prefix);
            return -1;
        }
    } else if (json_object_get(obj, "verify_client")) {
        return bad_param(r, prefix, "verify_client", "is for the server side");
    }
    if (!o->cert != !o->key) {
        req_fail(r, NETD_E_PARAMS, NULL, "'%scert' and '%skey' go together", prefix, prefix);
        return -1;
    }
    return 0;
}

int tls_opts_parse(struct req *r, const json_t *obj, bool flat, const char *prefix,
                   struct tls_opts *o)
{
    bool server = o->server;
    memset(o, 0, sizeof *o);
    o->server = server;
    o->verify = true;
    if (json_is_true(obj))
        return check_side(r, NULL, prefix, o);
    if (!json_is_object(obj)) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'tls' must be true, false or an object");
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (json_is_null(v))
            continue;
        int rc = parse_one(r, k, v, prefix, o);
        if (rc < 0)
            return -1;
        if (rc == 0 && !flat) {
            req_fail(r, NETD_E_PARAMS, NULL, "unknown parameter '%s%.100s'", prefix, k);
            return -1;
        }
    }
    return check_side(r, obj, prefix, o);
}

/* ---- the caller's files ---- */

/*
 * What one context is made from. Every file is opened and read by netd as
 * the caller (core/creds.c), without blocking and up to a bound, and
 * wolfSSL gets buffers: it never opens a path itself. So a caller can use
 * only files it could read, and the answer for a file it cannot reach is
 * the kernel's (EACCES for an existing and a missing file alike).
 */
struct inputs {
    const char *cafile, *capath, *cert, *key; /* NULL: not used */
    struct filedata ca, crt, pk;
    struct filelist dir;
};

static int file_fail(struct tls_why *why, const char *what, const char *path, enum file_err e,
                     int err)
{
    switch (e) {
    case FILE_EOPEN:
    case FILE_EREAD:
        why->fail_as = NETD_E_OS;
        why->file_errno = err;
        snprintf(why->msg, sizeof why->msg, "%s %s: %s", what, path, strerror(err));
        break;
    case FILE_ENOTREG:
        why->fail_as = NETD_E_PARAMS;
        snprintf(why->msg, sizeof why->msg, "%s %s is not a regular file", what, path);
        break;
    case FILE_ENOTDIR:
        why->fail_as = NETD_E_PARAMS;
        snprintf(why->msg, sizeof why->msg, "%s %s is not a directory", what, path);
        break;
    case FILE_ETOOBIG:
        why->fail_as = NETD_E_LIMIT;
        why->limit = "tls_file_max";
        snprintf(why->msg, sizeof why->msg,
                 "%s %s is larger than netd reads for TLS (%u MiB a file; a directory: %u MiB "
                 "and %u entries)",
                 what, path, NETD_FILE_MAX >> 20, NETD_DIR_FILES_MAX >> 20, NETD_DIR_ENTRIES_MAX);
        break;
    case FILE_OK:
        break;
    }
    return -1;
}

static int read_inputs(const struct ident *id, struct inputs *in, struct tls_why *why)
{
    enum file_err e;
    if (in->cafile && (e = creds_read_file(id, in->cafile, NETD_FILE_MAX, &in->ca)) != FILE_OK)
        return file_fail(why, "cafile", in->cafile, e, in->ca.err);
    if (in->capath && (e = creds_read_dir(id, in->capath, &in->dir)) != FILE_OK)
        return file_fail(why, "capath", in->capath, e, in->dir.err);
    if (in->cert && (e = creds_read_file(id, in->cert, NETD_FILE_MAX, &in->crt)) != FILE_OK)
        return file_fail(why, "certificate", in->cert, e, in->crt.err);
    if (in->key && (e = creds_read_file(id, in->key, NETD_FILE_MAX, &in->pk)) != FILE_OK)
        return file_fail(why, "key", in->key, e, in->pk.err);
    return 0;
}

static void inputs_free(struct inputs *in)
{
    filedata_free(&in->ca);
    filedata_free(&in->crt);
    filedata_free(&in->pk);
    filelist_free(&in->dir);
}

/* ---- trust stores ---- */

static int no_trust(struct tls_why *why, const char *fmt, const char *path)
{
    snprintf(why->msg, sizeof why->msg, fmt, path);
    why->verify = "no_trust_store";
    return -1;
}

static bool load_ca(WOLFSSL_CTX *ctx, const struct filedata *f)
{
    return wolfSSL_CTX_load_verify_buffer(ctx, f->data, (long)f->len, WOLFSSL_FILETYPE_PEM) ==
           WOLFSSL_SUCCESS;
}

/* Loads the trust store into @ctx: the caller's cafile and/or capath, or the system's. */
static int load_trust(WOLFSSL_CTX *ctx, const struct inputs *in, struct tls_why *why)
{
    if (!in->cafile && !in->capath) {
        /* The system's store: files every uid may read, at fixed places. */
        if (wolfSSL_CTX_load_system_CA_certs(ctx) != WOLFSSL_SUCCESS)
            return no_trust(why, "no trust store: the system has no CA certificates%s", "");
        return 0;
    }
    if (in->cafile && !load_ca(ctx, &in->ca))
        return no_trust(why, "no trust store: cafile %s holds no usable CA certificate",
                        in->cafile);
    if (in->capath) {
        size_t n = 0;
        for (size_t i = 0; i < in->dir.count; i++)
            n += load_ca(ctx, &in->dir.files[i]);
        if (n == 0)
            return no_trust(why, "no trust store: capath %s holds no CA certificate", in->capath);
    }
    return 0;
}

/*
 * Whether @key is the private key of the certificate in @cert. wolfSSL 5.5's
 * own check lets an EC key of another certificate through, so the key signs
 * a few bytes and the certificate's public key must verify them. Key types
 * that cannot sign this way are left to wolfSSL's check.
 */
static bool key_fits(const struct filedata *cert, const struct filedata *key)
{
    WOLFSSL_X509 *x =
        wolfSSL_X509_load_certificate_buffer(cert->data, (int)cert->len, WOLFSSL_FILETYPE_PEM);
    WOLFSSL_EVP_PKEY *pub = x ? wolfSSL_X509_get_pubkey(x) : NULL;
    WOLFSSL_BIO *bio = wolfSSL_BIO_new_mem_buf(key->data, (int)key->len);
    WOLFSSL_EVP_PKEY *priv = bio ? wolfSSL_PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    WOLFSSL_EVP_MD_CTX *sign = wolfSSL_EVP_MD_CTX_new(), *check = wolfSSL_EVP_MD_CTX_new();
    unsigned char sig[1024];
    size_t len = sizeof sig;
    bool fits = true;
    if (pub && priv && sign && check &&
        wolfSSL_EVP_DigestSignInit(sign, NULL, wolfSSL_EVP_sha256(), NULL, priv) == 1 &&
        wolfSSL_EVP_DigestSignUpdate(sign, "netd", 4) == 1 &&
        wolfSSL_EVP_DigestSignFinal(sign, sig, &len) == 1)
        fits = wolfSSL_EVP_DigestVerifyInit(check, NULL, wolfSSL_EVP_sha256(), NULL, pub) == 1 &&
               wolfSSL_EVP_DigestVerifyUpdate(check, "netd", 4) == 1 &&
               wolfSSL_EVP_DigestVerifyFinal(check, sig, len) == 1;
    wolfSSL_EVP_MD_CTX_free(sign);
    wolfSSL_EVP_MD_CTX_free(check);
    wolfSSL_EVP_PKEY_free(priv);
    wolfSSL_EVP_PKEY_free(pub);
    if (bio)
        wolfSSL_BIO_free(bio);
    wolfSSL_X509_free(x);
    return fits;
}

/* Our own certificate (with its chain) and key, which must belong together. */
static int load_own(WOLFSSL_CTX *ctx, const struct inputs *in, struct tls_why *why)
{
    if (!in->cert)
        return 0;
    if (wolfSSL_CTX_use_certificate_chain_buffer_format(ctx, in->crt.data, (long)in->crt.len,
                                                        WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        snprintf(why->msg, sizeof why->msg, "cannot load the certificate %s (a PEM file)",
                 in->cert);
        return -1;
    }
    if (wolfSSL_CTX_use_PrivateKey_buffer(ctx, in->pk.data, (long)in->pk.len,
                                          WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        snprintf(why->msg, sizeof why->msg, "cannot load the private key %s (a PEM file)", in->key);
        return -1;
    }
    if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS || !key_fits(&in->crt, &in->pk)) {
        snprintf(why->msg, sizeof why->msg, "the key %s does not belong to the certificate %s",
                 in->key, in->cert);
        return -1;
    }
    return 0;
}

/* The trust store a request uses: its own, else its connection's. */
static void trust_of(const struct req *r, const struct tls_opts *o, const char **cafile,
                     const char **capath)
{
    *cafile = o->cafile;
    *capath = o->capath;
    if (!*cafile && !*capath) {
        *cafile = r->trust.cafile;
        *capath = r->trust.capath;
    }
}

/* The files @o needs, as @r's caller reads them. -1: @why says why not. */
static int inputs_of(const struct req *r, const struct tls_opts *o, struct inputs *in,
                     struct tls_why *why)
{
    memset(in, 0, sizeof *in);
    if (o->server ? o->verify_client : o->verify)
        trust_of(r, o, &in->cafile, &in->capath);
    in->cert = o->cert;
    in->key = o->key;
    return read_inputs(r->ident, in, why);
}

static WOLFSSL_CTX *ctx_build(const struct tls_opts *o, const struct inputs *in,
                              struct tls_why *why)
{
    tls_init();
    WOLFSSL_CTX *ctx =
        wolfSSL_CTX_new(o->server ? wolfSSLv23_server_method() : wolfSSLv23_client_method());
    if (!ctx) {
        snprintf(why->msg, sizeof why->msg, "cannot create a TLS context (out of memory?)");
        return NULL;
    }
    /* TLS 1.2 at least; the methods above offer 1.3 first. */
    wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);
    if (tls_ctx_prefer(ctx) < 0) {
        snprintf(why->msg, sizeof why->msg, "wolfSSL refused netd's cipher list");
        wolfSSL_CTX_free(ctx);
        return NULL;
    }
    bool checks = o->server ? o->verify_client : o->verify;
    if ((checks && load_trust(ctx, in, why) < 0) || load_own(ctx, in, why) < 0) {
        wolfSSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ---- the cache of client contexts ---- */

/* Appends the identity of file @f (what fstat showed on the caller's own
 * descriptor: device, inode, modification time, size) to the key @k. */
static void key_add(struct buf *k, const char *tag, const struct stat *st)
{
    char part[160];
    int n = snprintf(part, sizeof part, "|%s:%llu.%llu.%lld.%ld.%lld", tag,
                     (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
                     (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (long long)st->st_size);
    buf_append(k, part, (size_t)n);
}

/*
 * The cache key of a client context: what went into it, as the files the
 * caller has just opened show it. The cache is asked only after the caller
 * opened every file, so a context made of files it could not read is never
 * handed to it, and a changed file makes a new context.
 */
static char *client_key(const struct tls_opts *o, const struct inputs *in)
{
    struct buf k = {0};
    const char *mode = !o->verify ? "noverify" : in->cafile || in->capath ? "verify" : "system";
    buf_append(&k, mode, strlen(mode));
    if (in->cafile)
        key_add(&k, "cafile", &in->ca.st);
    if (in->capath) {
        key_add(&k, "capath", &in->dir.dir);
        for (size_t i = 0; i < in->dir.count; i++)
            key_add(&k, in->dir.names[i], &in->dir.files[i].st);
    }
    if (in->cert) {
        key_add(&k, "cert", &in->crt.st);
        key_add(&k, "key", &in->pk.st);
    }
    if (buf_append(&k, "", 1) < 0) {
        buf_free(&k);
        return NULL;
    }
    return (char *)k.data;
}

static WOLFSSL_CTX *cache_find(const char *key)
{
    WOLFSSL_CTX *ctx = NULL;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CTX_CACHE_SLOTS; i++) {
        if (cache[i].key && strcmp(cache[i].key, key) == 0) {
            ctx = cache[i].ctx;
            cache[i].used = ++cache_clock;
            wolfSSL_CTX_up_ref(ctx);
            break;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return ctx;
}

/* Stores @ctx under @key in the least recently used slot. Another worker
 * may have stored the same key meanwhile; both entries are valid. */
static void cache_store(const char *key, WOLFSSL_CTX *ctx)
{
    char *copy = strdup(key);
    if (!copy)
        return;
    pthread_mutex_lock(&cache_lock);
    int victim = 0;
    for (int i = 1; i < CTX_CACHE_SLOTS; i++)
        if (cache[i].used < cache[victim].used)
            victim = i;
    if (cache[victim].ctx)
        wolfSSL_CTX_free(cache[victim].ctx);
    free(cache[victim].key);
    wolfSSL_CTX_up_ref(ctx);
    cache[victim].key = copy;
    cache[victim].ctx = ctx;
    cache[victim].used = ++cache_clock;
    pthread_mutex_unlock(&cache_lock);
}

WOLFSSL_CTX *tls_ctx_get(const struct req *r, const struct tls_opts *o, struct tls_why *why)
{
    struct inputs in;
    if (inputs_of(r, o, &in, why) < 0) {
        inputs_free(&in);
        return NULL;
    }
    if (o->server) {
        WOLFSSL_CTX *ctx = ctx_build(o, &in, why);
        inputs_free(&in);
        return ctx;
    }
    char *key = client_key(o, &in);
    WOLFSSL_CTX *ctx = key ? cache_find(key) : NULL;
    if (!ctx) {
        ctx = ctx_build(o, &in, why);
        if (ctx && key)
            cache_store(key, ctx);
    }
    free(key);
    inputs_free(&in);
    return ctx;
}
