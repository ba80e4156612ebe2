/*
 * policy.c - the policy: which callers may connect, send, listen and bind
 * where. The rules come from the configuration file ([rule NAME] sections,
 * read by policy_parse.c); this file holds the running rule set, answers
 * queries against it, and prints it for --check-config.
 *
 * Evaluation is first match: the rules are tried in the order the file
 * gives them, and the first whose callers, operation and address all match
 * decides. When none matches, [policy] default decides (allow, unless the
 * file says deny), and the deciding rule is called "default". A deny rule
 * without address keys matches every address; an allow rule matches a
 * privileged port (for listen and bind), an abstract name or a unix path
 * only when it names them (ports, abstract, paths), so that a grant of
 * something the kernel or netd's trust checks would refuse is always
 * written out.
 *
 * A rule set is never changed once built. The running one is a plain
 * pointer that only the main thread writes: before the workers start, and
 * at a reload while every worker is parked (workers_quiesce), so workers
 * read it without a lock or an atomic. The set it replaced is freed by the
 * main thread after the workers go on: a worker uses what a query returns
 * only inside the callback that asked, never across loop turns.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "core.h"
#include "policy_int.h"

static struct policy *running;

static const char *const op_names[POLICY__OPS] = {"connect", "send-to", "listen", "bind"};

const char *policy_op_name(enum policy_op op)
{
    return op >= 0 && op < POLICY__OPS ? op_names[op] : "?";
}

int policy_op_parse(const char *s)
{
    for (int i = 0; i < POLICY__OPS; i++)
        if (strcmp(s, op_names[i]) == 0)
            return i;
    return -1;
}

/* ---- callers ---- */

struct policy_caller policy_caller_of(const struct ident *id, uid_t uid, gid_t gid)
{
    if (!id)
        return (struct policy_caller){.uid = uid, .gid = gid};
    return (struct policy_caller){
        .uid = id->uid, .gid = id->gid, .groups = id->groups, .ngroups = id->ngroups};
}

/* ---- the running set ---- */

const struct policy *policy_current(void)
{
    return running;
}

struct policy *policy_swap(struct policy *next)
{
    struct policy *old = running;
    running = next;
    return old;
}

void policy_free(struct policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct policy_rule *r = &p->rules[i];
        free(r->name);
        free(r->uids);
        free(r->gids);
        free(r->nets);
        free(r->ports);
        for (size_t k = 0; k < r->npaths; k++)
            free(r->paths[k].s);
        free(r->paths);
        for (size_t k = 0; k < r->nabstract; k++)
            free(r->abstract[k].s);
        free(r->abstract);
    }
    free(p->rules);
    free(p);
}

size_t policy_rule_count(const struct policy *p)
{
    return p ? p->n : 0;
}

/* ---- matching ---- */

static bool caller_matches(const struct policy_rule *r, const struct policy_caller *c)
{
    if (r->nuids == 0 && r->ngids == 0)
        return true;
    for (size_t i = 0; i < r->nuids; i++)
        if (r->uids[i] == c->uid)
            return true;
    for (size_t i = 0; i < r->ngids; i++) {
        if (r->gids[i] == c->gid)
            return true;
        for (int k = 0; k < c->ngroups; k++)
            if (c->groups[k] == r->gids[i])
                return true;
    }
    return false;
}

static bool port_listed(const struct policy_rule *r, int port)
{
    for (size_t i = 0; i < r->nports; i++)
        if (port >= r->ports[i].lo && port <= r->ports[i].hi)
            return true;
    return false;
}

static bool net_contains(const struct policy_net *n, int family, const uint8_t *a)
{
    if (n->family != family)
        return false;
    int full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(n->addr, a, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (n->addr[full] & mask) == (a[full] & mask);
}

static bool prefix_of(const struct policy_prefix *list, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].len <= len && memcmp(list[i].s, s, list[i].len) == 0)
            return true;
    return false;
}

/* What a query's address is, in the terms rules use. */
struct where {
    enum { W_INET, W_PATH, W_ABSTRACT, W_OTHER } what;
    int family; /* AF_INET (4 bytes in addr) or AF_INET6 (16) */
    uint8_t addr[16];
    int port;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 2]; /* room for a leading '/' */
    size_t path_len;
};

/* Removes "." and ".." segments and repeated slashes from absolute @p, so a
 * rule's prefix is compared with the place the path names (lexically:
 * symbolic links are not followed). */
size_t policy_path_normalize(char *p, size_t len)
{
    bool trailing = len > 0 && p[len - 1] == '/';
    size_t out = 0, i = 0;
    while (i < len) {
        while (i < len && p[i] == '/')
            i++;
        size_t start = i;
        while (i < len && p[i] != '/')
            i++;
        size_t seg = i - start;
        if (seg == 0 || (seg == 1 && p[start] == '.'))
            continue;
        if (seg == 2 && p[start] == '.' && p[start + 1] == '.') {
            while (out > 0 && p[out - 1] != '/')
                out--;
            if (out > 0)
                out--; /* the slash before the dropped segment */
            continue;
        }
        p[out++] = '/';
        memmove(p + out, p + start, seg);
        out += seg;
    }
    if (out == 0)
        p[out++] = '/';
    else if (trailing && p[out - 1] != '/')
        p[out++] = '/'; /* a trailing slash names a directory: keep it */
    p[out] = '\0';
    return out;
}

static void where_of(const struct sockaddr *sa, socklen_t len, struct where *w)
{
    memset(w, 0, sizeof *w);
    w->what = W_OTHER;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const void *)sa;
        w->what = W_INET;
        w->family = AF_INET;
        memcpy(w->addr, &in->sin_addr, 4);
        w->port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        w->what = W_INET;
        w->port = ntohs(in6->sin6_port);
        /* ::ffff:a.b.c.d reaches the IPv4 host a.b.c.d: an IPv4 rule decides. */
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            w->family = AF_INET;
            memcpy(w->addr, in6->sin6_addr.s6_addr + 12, 4);
        } else {
            w->family = AF_INET6;
            memcpy(w->addr, &in6->sin6_addr, 16);
        }
    } else if (sa->sa_family == AF_UNIX && len > offsetof(struct sockaddr_un, sun_path)) {
        const struct sockaddr_un *un = (const void *)sa;
        size_t n = len - offsetof(struct sockaddr_un, sun_path);
        if (n > sizeof un->sun_path)
            n = sizeof un->sun_path;
        if (un->sun_path[0] == '\0') {
            w->what = W_ABSTRACT;
            memcpy(w->path, un->sun_path + 1, n - 1);
            w->path_len = n - 1;
        } else {
            w->what = W_PATH;
            w->path_len = strnlen(un->sun_path, n);
            memcpy(w->path, un->sun_path, w->path_len);
            w->path_len = policy_path_normalize(w->path, w->path_len);
        }
    }
}

static bool address_matches(const struct policy_rule *r, const struct where *w, enum policy_op op,
                            int unpriv)
{
    bool has_inet = r->nnets || r->nports, none = !has_inet && !r->npaths && !r->nabstract;
    switch (w->what) {
    case W_INET: {
        bool privileged =
            (op == POLICY_LISTEN || op == POLICY_BIND) && w->port > 0 && w->port < unpriv;
        if (r->allow && privileged && !port_listed(r, w->port))
            return false;
        if (!has_inet)
            return none;
        if (r->nports && !port_listed(r, w->port))
            return false;
        if (r->nnets == 0)
            return true;
        for (size_t i = 0; i < r->nnets; i++)
            if (net_contains(&r->nets[i], w->family, w->addr))
                return true;
        return false;
    }
    case W_PATH:
        if (r->npaths)
            return prefix_of(r->paths, r->npaths, w->path, w->path_len);
        return none && !r->allow;
    case W_ABSTRACT:
        if (r->nabstract)
            return prefix_of(r->abstract, r->nabstract, w->path, w->path_len);
        return none && !r->allow;
    case W_OTHER:
        return none && !r->allow;
    }
    return false;
}

enum policy_verdict policy_check_in(const struct policy *p, const struct policy_query *q,
                                    const char **rule)
{
    *rule = "default";
    if (!p)
        return POLICY_DEFAULT;
    struct where w;
    where_of(q->addr, q->addrlen, &w);
    for (size_t i = 0; i < p->n; i++) {
        const struct policy_rule *r = &p->rules[i];
        if (!r->has_action || !(r->ops & (1u << q->op)) || !caller_matches(r, q->caller) ||
            !address_matches(r, &w, q->op, p->unpriv_port))
            continue;
        *rule = r->name;
        return r->allow ? POLICY_ALLOW : POLICY_DENY;
    }
    return p->default_deny ? POLICY_DENY : POLICY_DEFAULT;
}

enum policy_verdict policy_check(const struct policy_query *q, const char **rule)
{
    return policy_check_in(running, q, rule);
}

bool policy_grants_port_in(const struct policy *p, const struct policy_caller *c, enum policy_op op,
                           int port)
{
    for (size_t i = 0; p && i < p->n; i++) {
        const struct policy_rule *r = &p->rules[i];
        if (r->has_action && r->allow && (r->ops & (1u << op)) && port_listed(r, port) &&
            caller_matches(r, c))
            return true;
    }
    return false;
}

bool policy_grants_port(const struct policy_caller *c, enum policy_op op, int port)
{
    return policy_grants_port_in(running, c, op, port);
}

/* The first rule (file order) selecting @uid whose cap at @off is set. */
static const struct policy_rule *cap_rule(uid_t uid, size_t off)
{
    const struct policy *p = running;
    struct policy_caller c = {.uid = uid, .gid = (gid_t)-1};
    for (size_t i = 0; p && i < p->n; i++) {
        const struct policy_rule *r = &p->rules[i];
        if (*(const size_t *)((const char *)r + off) && caller_matches(r, &c))
            return r;
    }
    return NULL;
}

size_t policy_max_handles(uid_t uid, size_t dflt, const char **rule)
{
    const struct policy_rule *r = cap_rule(uid, offsetof(struct policy_rule, max_handles));
    if (rule)
        *rule = r ? r->name : NULL;
    return r ? r->max_handles : dflt;
}

size_t policy_max_memory(uid_t uid, size_t dflt, const char **rule)
{
    const struct policy_rule *r = cap_rule(uid, offsetof(struct policy_rule, max_memory));
    if (rule)
        *rule = r ? r->name : NULL;
    return r ? r->max_memory : dflt;
}

/* ---- printing (--check-config) ---- */

static void print_net(FILE *f, const struct policy_net *n)
{
    char text[INET6_ADDRSTRLEN];
    inet_ntop(n->family, n->addr, text, sizeof text);
    fprintf(f, " %s/%d", text, n->bits);
}

void policy_print(FILE *f, const struct policy *p)
{
    fprintf(f, "\n[policy]\ndefault = %s\n", p && p->default_deny ? "deny" : "allow");
    for (size_t i = 0; p && i < p->n; i++) {
        const struct policy_rule *r = &p->rules[i];
        fprintf(f, "\n[rule %s]\n", r->name);
        if (r->has_action)
            fprintf(f, "action = %s\n", r->allow ? "allow" : "deny");
        if (r->nuids) {
            fprintf(f, "uid =");
            for (size_t k = 0; k < r->nuids; k++)
                fprintf(f, " %u", (unsigned)r->uids[k]);
            fprintf(f, "\n");
        }
        if (r->ngids) {
            fprintf(f, "group =");
            for (size_t k = 0; k < r->ngids; k++)
                fprintf(f, " %u", (unsigned)r->gids[k]);
            fprintf(f, "\n");
        }
        if (r->has_action) {
            fprintf(f, "ops =");
            for (int k = 0; k < POLICY__OPS; k++)
                if (r->ops & (1u << k))
                    fprintf(f, " %s", op_names[k]);
            fprintf(f, "\n");
        }
        if (r->nnets) {
            fprintf(f, "addresses =");
            for (size_t k = 0; k < r->nnets; k++)
                print_net(f, &r->nets[k]);
            fprintf(f, "\n");
        }
        if (r->nports) {
            fprintf(f, "ports =");
            for (size_t k = 0; k < r->nports; k++)
                fprintf(f, r->ports[k].lo == r->ports[k].hi ? " %u" : " %u-%u", r->ports[k].lo,
                        r->ports[k].hi);
            fprintf(f, "\n");
        }
        if (r->npaths) {
            fprintf(f, "paths =");
            for (size_t k = 0; k < r->npaths; k++)
                fprintf(f, " %s", r->paths[k].s);
            fprintf(f, "\n");
        }
        if (r->nabstract) {
            fprintf(f, "abstract =");
            for (size_t k = 0; k < r->nabstract; k++)
                fprintf(f, " @%s", r->abstract[k].s);
            fprintf(f, "\n");
        }
        if (r->max_handles)
            fprintf(f, "max-handles = %zu\n", r->max_handles);
        if (r->max_memory)
            fprintf(f, "max-memory = %zu\n", r->max_memory);
    }
}
