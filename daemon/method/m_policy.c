/*
 * m_policy.c - `policy-explain`: who is asked about (the caller, or for
 * root any uid), which call, and its parameters checked as that method
 * checks them; kind/explain.c then answers as the call itself would decide.
 */
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "method.h"

/* The groups of user @uid from the user database (netd's view, not a live
 * process's): its passwd entry's gid and getgrouplist(). -1 if unknown. */
static int lookup_user(uid_t uid, gid_t *gid, struct ident **out)
{
    char buf[4096];
    struct passwd pw, *found = NULL;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0 || !found)
        return -1;
    *gid = pw.pw_gid;
    int n = 64;
    gid_t *g = NULL;
    for (int tries = 0; tries < 4; tries++) {
        free(g);
        g = malloc((size_t)n * sizeof *g);
        if (!g)
            return -1;
        int want = n;
        if (getgrouplist(pw.pw_name, pw.pw_gid, g, &want) >= 0) {
            n = want;
            break;
        }
        n = want > n ? want : 2 * n;
    }
    *out = ident_new(uid, pw.pw_gid, 0, g, n);
    free(g);
    return 0;
}

void m_policy_explain(struct worker *w, struct req *r)
{
    const char *method = param_str(r, "method");
    const struct netd_method *m = netd_method_find(method);
    json_t *inner = param(r, "params");
    char why[256];
    if (inner && !json_is_object(inner)) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'params' must be an object: %s's parameters",
                 method);
        return;
    }
    if (netd_params_check_present(m, inner, why, sizeof why) != NETD_OK) {
        req_fail(r, NETD_E_PARAMS, NULL, "params of %s: %s", method, why);
        return;
    }
    json_t *uidv = param(r, "uid");
    uid_t uid = uidv ? (uid_t)json_integer_value(uidv) : r->uid;
    if (uid != r->uid && r->uid != 0) {
        req_fail(r, NETD_E_DENIED, NULL,
                 "only root may ask about another uid (you are uid %u, asked about uid %u)",
                 (unsigned)r->uid, (unsigned)uid);
        return;
    }
    r->u.explain.uid = uid;
    r->u.explain.gid = r->gid;
    if (uid != r->uid) {
        /* Another user: its groups as the user database gives them. The
         * request only asks, never acts, so it may carry that identity. */
        struct ident *other = NULL;
        gid_t gid;
        if (lookup_user(uid, &gid, &other) == 0 && other) {
            r->u.explain.gid = gid;
        } else {
            r->u.explain.gid = (gid_t)-1; /* no such user: no groups to match */
            other = ident_new(uid, (gid_t)-1, 0, NULL, 0);
        }
        ident_unref(r->ident);
        r->ident = other;
    }
    r->u.explain.op = strcmp(method, "connect") == 0   ? POLICY_CONNECT
                      : strcmp(method, "send-to") == 0 ? POLICY_SEND_TO
                                                       : POLICY_LISTEN;
    policy_explain(w, r, inner);
}
