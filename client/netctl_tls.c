/*
 * netctl_tls.c - TLS in netctl: the --tls family of options of `connect`
 * and `nc`, the `starttls` command, the TLS lines of `status`, and the
 * hints that follow a -32008 tls error.
 *
 * netctl sends netd the same `tls` parameter a program would; it never
 * touches certificates itself, so every path given here is opened by netd.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netctl.h"

/* Splits "h2,http/1.1" into a JSON array of strings; NULL if a name is empty. */
static json_t *alpn_list(const char *s)
{
    json_t *list = json_array();
    for (;;) {
        size_t k = strcspn(s, ",");
        if (k == 0) {
            json_decref(list);
            return NULL;
        }
        json_array_append_new(list, json_stringn(s, k));
        if (s[k] == '\0')
            return list;
        s += k + 1;
    }
}

/* Sets @key of @obj to the file @path, made absolute for netd. 0, or -1 (reported). */
static int add_file(struct netctl *n, json_t *obj, const char *key, const char *path)
{
    json_t *v = path_json(path, false);
    if (!v) {
        fail(n, "--%s %s: cannot make it absolute: %s", key, path, strerror(errno));
        return -1;
    }
    json_object_set_new(obj, key, v);
    return 0;
}

/*
 * Adds the client side of TLS (servername, verify, cafile, alpn) from the
 * command's options to the object @tls. --insecure is announced on stderr
 * every time, because a connection that looks secure but is not is worse
 * than one that is plainly unencrypted.
 */
static int add_client_tls(struct netctl *n, const struct args *a, json_t *tls)
{
    const char *cafile = opt_get(a, "cafile"), *name = opt_get(a, "servername");
    const char *alpn = opt_get(a, "alpn");
    if (cafile && add_file(n, tls, "cafile", cafile) < 0)
        return EXIT_FAIL;
    if (name)
        json_object_set_new(tls, "servername", json_string(name));
    if (alpn) {
        json_t *list = alpn_list(alpn);
        if (!list)
            return usage_error(n, "--alpn needs protocol names separated by commas, not \"%s\"",
                               alpn);
        json_object_set_new(tls, "alpn", list);
    }
    if (opt_get(a, "insecure")) {
        static const char warning[] = "--insecure: the server's certificate is not verified, so "
                                      "anyone in between can read and change the connection";
        json_object_set_new(tls, "verify", json_false());
        /* Under --json it comes once the connection is made, so that a failure
         * leaves only its error object on stderr. */
        if (n->json)
            n->warning = warning;
        else
            fprintf(stderr, "netctl: %s: warning: %s\n", n->cmd->name, warning);
    }
    return 0;
}

int add_tls_opts(struct netctl *n, const struct args *a, json_t *params)
{
    static const char *const implying[] = {"cafile", "servername", "insecure", "alpn"};
    bool any = false;
    for (size_t i = 0; i < sizeof implying / sizeof *implying; i++)
        any = any || opt_get(a, implying[i]);
    if (!any && !opt_get(a, "tls"))
        return 0;
    if (opt_get(a, "datagram"))
        return usage_error(n, "TLS runs over streams only, not with --datagram");
    if (!any) {
        json_object_set_new(params, "tls", json_true());
        return 0;
    }
    json_t *tls = json_object();
    int rc = add_client_tls(n, a, tls);
    if (rc) {
        json_decref(tls);
        return rc;
    }
    json_object_set_new(params, "tls", tls);
    return 0;
}

/* The server role's parameters: a certificate and its key are required. */
static int add_server_tls(struct netctl *n, const struct args *a, json_t *p)
{
    const char *cert = opt_get(a, "cert"), *key = opt_get(a, "key");
    const char *cafile = opt_get(a, "cafile"), *alpn = opt_get(a, "alpn");
    if (!cert || !key)
        return usage_error(n, "--server needs --cert FILE and --key FILE");
    if (opt_get(a, "servername") || opt_get(a, "insecure"))
        return usage_error(n, "--servername and --insecure are for the client side");
    json_object_set_new(p, "role", json_string("server"));
    if (add_file(n, p, "cert", cert) < 0 || add_file(n, p, "key", key) < 0 ||
        (cafile && add_file(n, p, "cafile", cafile) < 0))
        return EXIT_FAIL;
    if (alpn) {
        json_t *list = alpn_list(alpn);
        if (!list)
            return usage_error(n, "--alpn needs protocol names separated by commas");
        json_object_set_new(p, "alpn", list);
    }
    return 0;
}

/*
 * starttls takes its client options at the top level of the params, not
 * in a `tls` object, so the client side is built in an object and merged.
 */
int cmd_starttls(struct netctl *n, const struct args *a)
{
    json_t *p = json_pack("{s:s,s:b}", "handle", a->argv[0], "keep", 1);
    int rc;
    if (opt_get(a, "server")) {
        rc = add_server_tls(n, a, p);
    } else if (opt_get(a, "cert") || opt_get(a, "key")) {
        rc = usage_error(n, "--cert and --key are for --server");
    } else {
        json_t *client = json_object();
        rc = add_client_tls(n, a, client);
        json_object_update(p, client);
        json_decref(client);
    }
    if (rc) {
        json_decref(p);
        return rc;
    }
    return call_timed_and_print(n, a, "starttls", p, print_handle);
}

/* The TLS part of a status, one "tls KEY: value" line each, as print_fields() does. */
static void print_tls(const json_t *tls)
{
    const char *alpn = json_string_value(json_object_get(tls, "alpn"));
    const char *subject = json_string_value(json_object_get(tls, "peer_subject"));
    printf("tls version: %s\n", json_string_value(json_object_get(tls, "version")));
    printf("tls cipher: %s\n", json_string_value(json_object_get(tls, "cipher")));
    if (alpn)
        printf("tls alpn: %s\n", alpn);
    printf("tls verified: %s\n", json_is_true(json_object_get(tls, "verified")) ? "yes" : "no");
    if (subject)
        printf("tls peer: %s\n", subject);
}

void print_status(const json_t *res)
{
    const json_t *tls = json_object_get(res, "tls");
    if (!json_is_object(tls)) {
        print_fields(res);
        return;
    }
    json_t *rest = json_copy((json_t *)res);
    json_object_del(rest, "tls");
    print_fields(rest);
    json_decref(rest);
    print_tls(tls);
}

int cmd_status(struct netctl *n, const struct args *a)
{
    return call_and_print(n, "status", json_pack("{s:s}", "handle", a->argv[0]), print_status);
}

/* What to do about a certificate that failed verification, by data.verify. */
static const char *verify_hint(const char *reason)
{
    static const struct {
        const char *reason, *hint;
    } hints[] = {
        {"unknown_ca", "pass --cafile with the CA that signed the server's certificate, or "
                       "--insecure to skip verification (not recommended)"},
        {"self_signed", "the server's certificate signs itself: pass that certificate as "
                        "--cafile to trust it, or --insecure to skip verification (not "
                        "recommended)"},
        {"name_mismatch", "the certificate names another host: --servername NAME to verify "
                          "another name"},
        {"expired", "the server's certificate has expired"},
        {"not_yet_valid", "the server's certificate is not valid yet; check this machine's clock"},
        {"no_trust_store", "netd could not load the trust store; check the --cafile path"},
        {"bad_signature", "the certificate's signature is wrong: something in between may be "
                          "forging it"},
        {"no_certificate", "the peer sent no certificate"},
    };
    for (size_t i = 0; i < sizeof hints / sizeof *hints; i++)
        if (strcmp(hints[i].reason, reason) == 0)
            return hints[i].hint;
    return "the server's certificate was refused; --insecure skips verification (not "
           "recommended)";
}

const char *tls_hint(const struct netctl *n, const json_t *data, char *buf, size_t len)
{
    const char *reason = json_string_value(json_object_get(data, "verify"));
    const char *alert = json_string_value(json_object_get(data, "alert"));
    if (reason)
        return verify_hint(reason);
    if (json_is_true(json_object_get(data, "truncated")))
        return "the peer closed the connection without ending TLS; what came may be cut short";
    if (alert && strcmp(alert, "no_application_protocol") == 0)
        return "the server speaks none of the --alpn protocols offered";
    if (alert) {
        snprintf(buf, len, "the peer ended the handshake with the alert %s; its log may say why",
                 alert);
        return buf;
    }
    if (n->target[0] && !n->target_is_handle)
        snprintf(buf, len, "does %s speak TLS? `openssl s_client -connect %s` shows its side",
                 n->target, n->target);
    else
        snprintf(buf, len, "does the peer speak TLS?");
    return buf;
}
