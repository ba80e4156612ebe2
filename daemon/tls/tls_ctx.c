/*
 * tls_ctx.c - TLS options and wolfSSL contexts: the `tls` parameter and
 * starttls's parameters, trust stores (a file, a directory, or the system's),
 * and our own certificate and key.
 *
 * Loading the system trust store parses a few hundred certificates, too slow
 * to repeat for every connect, so client contexts are shared by every worker
 * and cached by what went into them (paths, and each file's identity and
 * modification time, so a changed file is loaded again). A context is handed
 * out with a reference of its own, so evicting it from the cache never frees
 * it under a connection being set up. Server contexts belong to their
 * listener (or starttls call) and are not cached.
 */
#include <dirent.h>
#include <limits.h>
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

/* ---- trust stores ---- */

/* Loads every regular file in @dir that holds certificates; returns how
 * many did, or -1 with errno when the directory cannot be read. */
static int load_dir(WOLFSSL_CTX *ctx, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;
        if (e->d_name[0] == '.' ||
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
            stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (wolfSSL_CTX_load_verify_locations(ctx, path, NULL) == WOLFSSL_SUCCESS)
            n++;
    }
    closedir(d);
    return n;
}

static int no_trust(struct tls_why *why, const char *fmt, const char *path, int err)
{
    snprintf(why->msg, sizeof why->msg, fmt, path, err ? strerror(err) : "");
    why->verify = "no_trust_store";
    return -1;
}

/* Loads the trust store into @ctx: @cafile and/or @capath, or the system's. */
static int load_trust(WOLFSSL_CTX *ctx, const char *cafile, const char *capath, struct tls_why *why)
{
    if (!cafile && !capath) {
        if (wolfSSL_CTX_load_system_CA_certs(ctx) != WOLFSSL_SUCCESS)
            return no_trust(why, "no trust store: the system has no CA certificates%s%s", "", 0);
        return 0;
    }
    if (cafile && wolfSSL_CTX_load_verify_locations(ctx, cafile, NULL) != WOLFSSL_SUCCESS) {
        struct stat st;
        if (stat(cafile, &st) < 0)
            return no_trust(why, "no trust store: cafile %s: %s", cafile, errno);
        return no_trust(why, "no trust store: cafile %s holds no usable CA certificate%s", cafile,
                        0);
    }
    if (capath) {
        int n = load_dir(ctx, capath);
        if (n < 0)
            return no_trust(why, "no trust store: capath %s: %s", capath, errno);
        if (n == 0)
            return no_trust(why, "no trust store: capath %s holds no CA certificate%s", capath, 0);
    }
    return 0;
}

/*
 * Whether @key is the private key of the certificate in @cert. wolfSSL 5.5's
 * own check lets an EC key of another certificate through, so the key signs
 * a few bytes and the certificate's public key must verify them. Key types
 * that cannot sign this way are left to wolfSSL's check.
 */
static bool key_fits(const char *cert, const char *key)
{
    WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_file(cert, WOLFSSL_FILETYPE_PEM);
    WOLFSSL_EVP_PKEY *pub = x ? wolfSSL_X509_get_pubkey(x) : NULL;
    WOLFSSL_BIO *bio = wolfSSL_BIO_new_file(key, "r");
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
static int load_own(WOLFSSL_CTX *ctx, const struct tls_opts *o, struct tls_why *why)
{
    if (!o->cert)
        return 0;
    if (wolfSSL_CTX_use_certificate_chain_file(ctx, o->cert) != WOLFSSL_SUCCESS) {
        snprintf(why->msg, sizeof why->msg, "cannot load the certificate %s (a PEM file)", o->cert);
        return -1;
    }
    if (wolfSSL_CTX_use_PrivateKey_file(ctx, o->key, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
        snprintf(why->msg, sizeof why->msg, "cannot load the private key %s (a PEM file)", o->key);
        return -1;
    }
    if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS || !key_fits(o->cert, o->key)) {
        snprintf(why->msg, sizeof why->msg, "the key %s does not belong to the certificate %s",
                 o->key, o->cert);
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

static WOLFSSL_CTX *ctx_build(const struct req *r, const struct tls_opts *o, struct tls_why *why)
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
    const char *cafile, *capath;
    trust_of(r, o, &cafile, &capath);
    bool checks = o->server ? o->verify_client : o->verify;
    if ((checks && load_trust(ctx, cafile, capath, why) < 0) || load_own(ctx, o, why) < 0) {
        wolfSSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ---- the cache of client contexts ---- */

/* Appends "|path|identity" for @path to @key. */
static void key_add(char *key, size_t n, const char *path)
{
    struct stat st;
    size_t len = strlen(key);
    if (!path || stat(path, &st) < 0)
        snprintf(key + len, n - len, "|%s|-", path ? path : "");
    else
        snprintf(key + len, n - len, "|%s|%llu.%llu.%lld.%ld.%lld", path,
                 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)st.st_size);
}

static void client_key(const struct req *r, const struct tls_opts *o, char *key, size_t n)
{
    const char *cafile, *capath;
    trust_of(r, o, &cafile, &capath);
    snprintf(key, n, "%s", o->verify ? "verify" : "noverify");
    if (o->verify) {
        key_add(key, n, cafile);
        key_add(key, n, capath);
    }
    key_add(key, n, o->cert);
    key_add(key, n, o->key);
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
    if (o->server)
        return ctx_build(r, o, why);
    char key[4 * PATH_MAX + 256];
    client_key(r, o, key, sizeof key);
    WOLFSSL_CTX *ctx = cache_find(key);
    if (ctx)
        return ctx;
    ctx = ctx_build(r, o, why);
    if (ctx)
        cache_store(key, ctx);
    return ctx;
}
