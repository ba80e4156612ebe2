/*
 * netctl_policy.c - `netctl policy explain`: asks netd's policy-explain
 * what the policy would decide for a connect, listen or send-to, and
 * prints the verdict, the deciding rule and every address judged: "grant"
 * after one that a rule grants (netd makes that call with its own
 * credentials), and what netd refuses whatever the rules say.
 */
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "netctl.h"

/* --uid: a number or a user name. -1 when neither. */
static long long uid_arg(const char *s)
{
    char *end;
    if (*s >= '0' && *s <= '9') {
        unsigned long long v = strtoull(s, &end, 10);
        return *end || v > 4294967294ULL ? -1 : (long long)v;
    }
    struct passwd *pw = getpwnam(s);
    return pw ? (long long)pw->pw_uid : -1;
}

static void print_judged(const char *prefix, const json_t *a)
{
    char where[300], shown[320];
    format_address(a, where, sizeof where);
    snprintf(shown, sizeof shown, "%s%s", prefix, where);
    const char *refused = json_string_value(json_object_get(a, "refused"));
    printf("  %-40s %-8s %s%s%s\n", shown,
           json_is_true(json_object_get(a, "allowed")) ? "allowed" : "denied",
           json_string_value(json_object_get(a, "rule")),
           json_is_true(json_object_get(a, "grant")) ? "  grant"
           : refused                                 ? "  refused: "
                                                     : "",
           refused ? refused : "");
}

/* What netd's own checks refused in a denied answer: the bind's, else the first address's. */
static const char *refused_of(const json_t *res)
{
    const json_t *bind = json_object_get(res, "bind");
    if (bind && !json_is_true(json_object_get(bind, "allowed")))
        return json_string_value(json_object_get(bind, "refused"));
    return json_string_value(
        json_object_get(json_array_get(json_object_get(res, "addresses"), 0), "refused"));
}

static void print_verdict(const json_t *res)
{
    bool ok = json_is_true(json_object_get(res, "allowed"));
    const char *rule = json_string_value(json_object_get(res, "rule"));
    const char *refused = ok ? NULL : refused_of(res);
    if (refused)
        printf("denied: %s (%s)\n", refused,
               strcmp(refused, "control socket") == 0 ? "never, whatever the rules say"
                                                      : "no rule grants it");
    else if (rule && strcmp(rule, "default") == 0)
        printf("%s (no rule matched: the default)\n", ok ? "allowed" : "denied");
    else
        printf("%s by rule '%s'\n", ok ? "allowed" : "denied", rule ? rule : "?");
    if (json_is_true(json_object_get(res, "grant")))
        printf("a grant: netd makes the bind, connect or send with its own credentials\n");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(res, "addresses"), i, a) print_judged("", a);
    json_t *bind = json_object_get(res, "bind");
    if (bind)
        print_judged("bind ", bind);
}

int cmd_policy_explain(struct netctl *n, const struct args *a)
{
    const char *op = a->argv[0];
    if (strcmp(op, "connect") != 0 && strcmp(op, "listen") != 0 && strcmp(op, "send-to") != 0)
        return usage_error(n, "OP is connect, listen or send-to, not '%s'", op);
    bool connect = strcmp(op, "connect") == 0;
    if (!connect && (opt_get(a, "bind") || opt_get(a, "bind-port")))
        return usage_error(n, "--bind and --bind-port go with connect");
    struct args rest = *a;
    rest.argc--;
    rest.argv++;
    json_t *inner = json_object(), *dest = json_object();
    int rc = add_destination(n, &rest, strcmp(op, "send-to") == 0 ? dest : inner, !connect);
    if (!rc && strcmp(op, "send-to") == 0 && !json_object_get(dest, "path") &&
        !json_object_get(dest, "host"))
        rc = usage_error(n, "send-to needs HOST PORT (or --unix PATH)");
    const char *bind = opt_get(a, "bind"), *bind_port = opt_get(a, "bind-port");
    if (!rc && bind)
        json_object_set_new(inner, "bindhost", json_string(bind));
    json_t *bp = NULL;
    if (!rc && bind_port && (bp = port_arg(n, "--bind-port", bind_port, &rc)))
        json_object_set_new(inner, "bindport", bp);
    if (!rc && opt_get(a, "datagram"))
        json_object_set_new(inner, "type", json_string("datagram"));
    json_t *params = json_pack("{s:s}", "method", op);
    const char *uid = opt_get(a, "uid");
    long long u = uid ? uid_arg(uid) : 0;
    if (!rc && uid && u < 0)
        rc = usage_error(n, "--uid needs a uid or a user name, not '%s'", uid);
    if (rc) {
        json_decref(inner);
        json_decref(dest);
        json_decref(params);
        return rc;
    }
    if (uid)
        json_object_set_new(params, "uid", json_integer(u));
    if (json_object_size(dest))
        json_object_set_new(inner, "dest", dest);
    else
        json_decref(dest);
    json_object_set_new(params, "params", inner);
    json_t *res = NULL;
    rc = netctl_call(n, "policy-explain", params, &res);
    if (rc)
        return rc;
    if (n->json)
        print_json(res);
    else
        print_verdict(res);
    rc = json_is_true(json_object_get(res, "allowed")) ? EXIT_OK : EXIT_FAIL;
    json_decref(res);
    return rc;
}
