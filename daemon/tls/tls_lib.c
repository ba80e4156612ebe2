/*
 * tls_lib.c - which wolfSSL netd runs, and the cipher order that suits it.
 *
 * The build links netd's own wolfSSL (Debian's, rebuilt with AES-NI and the
 * x86-64 assembly; cmake/wolfssl.cmake) when it could make one, else the
 * system's. Which file the loader really mapped is asked of the loader
 * (dladdr), so `netd --version` and `stats` tell the truth even when the
 * program was moved away from its private library.
 *
 * AES-GCM is the faster AEAD only when the running wolfSSL does AES in
 * hardware: the system's library does it in C, several times slower than
 * its ChaCha20-Poly1305. Without hardware AES, contexts offer ChaCha20
 * first (TLS 1.3 and 1.2 AEAD suites only); with it, wolfSSL's own order
 * (AES-GCM first) stays.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_int.h"

/* ChaCha20-Poly1305 first, then AES-GCM: the AEAD suites of TLS 1.3 and
 * 1.2 in wolfSSL's names. */
static const char chacha_first[] =
    "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "DHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384";

struct lib_info {
    char path[PATH_MAX];
    bool own;      /* netd's own build is the one mapped */
    bool hard_aes; /* it does AES with the CPU's instructions */
    char line[PATH_MAX + 160];
};

static pthread_once_t info_once = PTHREAD_ONCE_INIT;
static struct lib_info info;

/* The CPU's AES and carry-less multiply instructions (what AES-GCM with
 * AES-NI needs). NETD_CPU_AES=0 makes netd act as on a CPU without them. */
static bool cpu_has_aes(void)
{
    const char *force = getenv("NETD_CPU_AES");
    if (force && strcmp(force, "0") == 0)
        return false;
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
#else
    return false;
#endif
}

static void info_fill(void)
{
    /* The loader's own name for the file: the directory it found it in
     * (netd's RUNPATH or the system's) and the soname. Nothing here opens
     * or resolves a path: this is netd asking about itself. */
    Dl_info dl;
    if (dladdr((void *)wolfSSL_Init, &dl) && dl.dli_fname)
        snprintf(info.path, sizeof info.path, "%s", dl.dli_fname);
    else
        snprintf(info.path, sizeof info.path, "(unknown)");
#ifdef NETD_WOLFSSL_OWN_DIR
    size_t n = strlen(NETD_WOLFSSL_OWN_DIR);
    info.own = strncmp(info.path, NETD_WOLFSSL_OWN_DIR, n) == 0 && info.path[n] == '/';
#endif
#ifdef WOLFSSL_AESNI
    info.hard_aes = info.own && cpu_has_aes();
#else
    info.hard_aes = false;
#endif
    snprintf(info.line, sizeof info.line, "wolfSSL %s, %s, %s", wolfSSL_lib_version(),
             info.own ? "netd's own build with AES-NI and x86-64 assembly"
                      : "the system's library (no AES-NI)",
             info.path);
}

static const struct lib_info *lib(void)
{
    pthread_once(&info_once, info_fill);
    return &info;
}

const char *tls_library(void)
{
    return lib()->line;
}

json_t *tls_library_json(void)
{
    const struct lib_info *l = lib();
    return json_pack("{s:s,s:s,s:s,s:b,s:s}", "version", wolfSSL_lib_version(), "build",
                     l->own ? "netd" : "system", "path", l->path, "hardware_aes", l->hard_aes,
                     "preferred", l->hard_aes ? "AES-GCM" : "ChaCha20-Poly1305");
}

int tls_ctx_prefer(WOLFSSL_CTX *ctx)
{
    if (lib()->hard_aes)
        return 0;
    return wolfSSL_CTX_set_cipher_list(ctx, chacha_first) == WOLFSSL_SUCCESS ? 0 : -1;
}
