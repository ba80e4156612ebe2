/*
 * access.c - whether a caller may use an address: the one place where
 * kind/ asks the policy (core/policy.c), used by connect (each address
 * tried, and bindhost/bindport), listen (each address tried, or the path),
 * send-to, the trust checks of unixsock.c, and policy-explain, so what
 * explain says and what the call does cannot differ.
 *
 * A call is judged in this order (access_judge):
 *   1. netd's own control sockets are refused to everyone, whatever a rule says;
 *   2. a deny rule or [policy] default = deny refuses;
 *   3. for a caller other than root (other than netd's own uid, for unix
 *      addresses), what it could not do alone needs a grant: an allow rule
 *      that names it (policy.c matches an allow rule to a privileged port,
 *      an abstract name or a unix path only when its ports, abstract or
 *      paths list it). A privileged port (listen/bind) or an abstract name
 *      without one is refused; a unix path without one is used as the
 *      caller (the kernel judges it with the caller's rights);
 *   4. with a grant, the one call that needs it (the bind, the connect or
 *      the send) is made with netd's own credentials; the socket, its
 *      options and everything else stay the caller's.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "kind.h"

/* Whether netd serves @uid with its own credentials (root, netd's own uid). */
static bool served_as_netd(uid_t uid)
{
    struct ident id = {.uid = uid};
    return ident_is_netd(&id);
}

/* What @sa is for a caller that could not use it alone. */
enum need { NEED_NONE, NEED_PORT, NEED_ABSTRACT, NEED_PATH };

static enum need need_of(uid_t uid, enum policy_op op, const struct sockaddr *sa, socklen_t len)
{
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
        int port = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                                  : ((const struct sockaddr_in6 *)sa)->sin6_port);
        bool binds = op == POLICY_LISTEN || op == POLICY_BIND;
        return binds && uid != 0 && port > 0 && port < netd_unprivileged_port_start() ? NEED_PORT
                                                                                      : NEED_NONE;
    }
    if (sa->sa_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path) ||
        served_as_netd(uid))
        return NEED_NONE;
    return ((const struct sockaddr_un *)sa)->sun_path[0] == '\0' ? NEED_ABSTRACT : NEED_PATH;
}

void access_judge(const struct policy_caller *c, enum policy_op op, const struct sockaddr *sa,
                  socklen_t len, struct access_verdict *v)
{
    struct policy_query q = {.caller = c, .op = op, .addr = sa, .addrlen = len};
    enum policy_verdict pv = policy_check(&q, &v->rule);
    v->allowed = false;
    v->grant = false;
    v->refused = NULL;
    /* netd's own control sockets first, whatever a rule says. */
    if (sa->sa_family == AF_UNIX && op != POLICY_LISTEN && op != POLICY_BIND &&
        netd_is_control_addr(sa, len)) {
        v->refused = "control socket";
        return;
    }
    if (pv == POLICY_DENY)
        return;
    enum need need = need_of(c->uid, op, sa, len);
    if (need != NEED_NONE && pv == POLICY_ALLOW)
        v->grant = true;
    else if (need == NEED_PORT)
        v->refused = "privileged port";
    else if (need == NEED_ABSTRACT)
        v->refused = "abstract name";
    v->allowed = v->refused == NULL;
}

bool access_port_grantable(const struct policy_caller *c, enum policy_op op, int port)
{
    return policy_grants_port(c, op, port);
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
                    const struct access_verdict *v, char *out, size_t n)
{
    char where[160];
    access_where(sa, len, where, sizeof where);
    if (v->refused && strcmp(v->refused, "privileged port") == 0) {
        int start = netd_unprivileged_port_start();
        snprintf(out, n,
                 "uid %u may not %s %s: the port is privileged (below "
                 "ip_unprivileged_port_start, %d); only root, or a rule that grants it, may "
                 "bind it through netd",
                 (unsigned)uid, doing[op], where, start);
    } else if (v->refused && strcmp(v->refused, "abstract name") == 0) {
        snprintf(out, n,
                 "%s %s: abstract unix names carry no permissions, so their services could only "
                 "see netd's credentials, not yours; use a socket path (or ask for a rule that "
                 "grants it)",
                 doing[op], where);
    } else if (v->refused) {
        snprintf(out, n, "%s %s: it is netd's own control socket, and netd is never its own client",
                 doing[op], where);
    } else if (strcmp(v->rule, "default") == 0) {
        snprintf(out, n, "policy: uid %u may not %s %s (no rule allows it; the default is deny)",
                 (unsigned)uid, doing[op], where);
    } else {
        snprintf(out, n, "policy: uid %u may not %s %s (rule '%s')", (unsigned)uid, doing[op],
                 where, v->rule);
    }
}

void access_fail(struct req *r, enum policy_op op, const struct sockaddr *sa, socklen_t len,
                 const struct access_verdict *v)
{
    char msg[400];
    access_message(r->uid, op, sa, len, v, msg, sizeof msg);
    req_fail(r, NETD_E_DENIED, json_pack("{s:s}", "rule", v->rule), "%s", msg);
}

int access_check(struct req *r, enum policy_op op, const struct sockaddr *sa, socklen_t len)
{
    struct policy_caller c = req_caller(r);
    struct access_verdict v;
    access_judge(&c, op, sa, len, &v);
    if (v.allowed)
        return v.grant ? 1 : 0;
    access_fail(r, op, sa, len, &v);
    return -1;
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
    struct access_verdict v;
    access_judge(&c, op, sa, sp->al.lens[i], &v);
    sp->granted = v.allowed && v.grant;
    if (v.allowed) {
        sp->any_allowed = true;
        return true;
    }
    if (!sp->deny_msg) {
        /* The first denial is the one reported if no address is allowed. */
        char msg[400];
        access_message(sp->uid, op, sa, sp->al.lens[i], &v, msg, sizeof msg);
        sp->deny_msg = strdup(msg);
        sp->deny_rule = strdup(v.rule);
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
