/*
 * access.c - whether a caller may use an address: the one place where
 * kind/ asks the policy (core/policy.c), used by connect (each address
 * tried, and bindhost/bindport), listen (each address tried, or the path),
 * send-to, and policy-explain, so what explain says and what the call does
 * cannot differ.
 *
 * The trust checks for callers other than root (abstract names, privileged
 * ports, netd's own sockets, paths the caller cannot use) live in
 * unixsock.c and run in method/ before these; they do not yet ask the
 * policy, so a grant (POLICY_ALLOW) does not lift them. They should apply
 * when the policy answers POLICY_DEFAULT and give way on POLICY_ALLOW.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "kind.h"

bool access_allowed(const struct policy_caller *c, enum policy_op op, const struct sockaddr *sa,
                    socklen_t len, const char **rule)
{
    struct policy_query q = {.caller = c, .op = op, .addr = sa, .addrlen = len};
    return policy_check(&q, rule) != POLICY_DENY;
}

void access_where(const struct sockaddr *sa, socklen_t len, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        snprintf(out, n, "%s port %u", host, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        snprintf(out, n, "%s port %u", host, ntohs(in6->sin6_port));
    } else if (sa->sa_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
        const struct sockaddr_un *un = (const void *)sa;
        int k = (int)(len - offsetof(struct sockaddr_un, sun_path));
        if (un->sun_path[0] == '\0')
            snprintf(out, n, "@%.*s", k - 1, un->sun_path + 1);
        else
            snprintf(out, n, "%.*s", k, un->sun_path);
    } else {
        snprintf(out, n, "an address of family %d", sa->sa_family);
    }
}

static const char *const doing[POLICY__OPS] = {"connect to", "send to", "listen on", "bind"};

void access_message(uid_t uid, enum policy_op op, const struct sockaddr *sa, socklen_t len,
                    const char *rule, char *out, size_t n)
{
    char where[160];
    access_where(sa, len, where, sizeof where);
    if (strcmp(rule, "default") == 0)
        snprintf(out, n, "policy: uid %u may not %s %s (no rule allows it; the default is deny)",
                 (unsigned)uid, doing[op], where);
    else
        snprintf(out, n, "policy: uid %u may not %s %s (rule '%s')", (unsigned)uid, doing[op],
                 where, rule);
}

void access_fail(struct req *r, enum policy_op op, const struct sockaddr *sa, socklen_t len,
                 const char *rule)
{
    char msg[300];
    access_message(r->uid, op, sa, len, rule, msg, sizeof msg);
    req_fail(r, NETD_E_DENIED, json_pack("{s:s}", "rule", rule), "%s", msg);
}

bool access_check(struct req *r, enum policy_op op, const struct sockaddr *sa, socklen_t len)
{
    struct policy_caller c = req_caller(r);
    const char *rule;
    if (access_allowed(&c, op, sa, len, &rule))
        return true;
    access_fail(r, op, sa, len, rule);
    return false;
}

/* ---- the caller a socket acts for, past its request ---- */

void spec_set_caller(struct sockspec *sp, const struct req *r)
{
    sp->uid = r->uid;
    ident_unref(sp->caller);
    sp->caller = ident_ref(r->ident);
}

bool spec_allows(struct sockspec *sp, enum policy_op op, size_t i)
{
    struct policy_caller c = policy_caller_of(sp->caller, sp->uid, (gid_t)-1);
    const struct sockaddr *sa = (const struct sockaddr *)&sp->al.addrs[i];
    const char *rule;
    if (access_allowed(&c, op, sa, sp->al.lens[i], &rule)) {
        sp->any_allowed = true;
        return true;
    }
    if (!sp->deny_msg) {
        /* The first denial is the one reported if no address is allowed. */
        char msg[300];
        access_message(sp->uid, op, sa, sp->al.lens[i], rule, msg, sizeof msg);
        sp->deny_msg = strdup(msg);
        sp->deny_rule = strdup(rule);
    }
    return false;
}

bool spec_all_denied(const struct sockspec *sp)
{
    return !sp->any_allowed && sp->deny_rule;
}

void spec_free_caller(struct sockspec *sp)
{
    ident_unref(sp->caller);
    sp->caller = NULL;
    free(sp->deny_rule);
    free(sp->deny_msg);
    sp->deny_rule = sp->deny_msg = NULL;
}
