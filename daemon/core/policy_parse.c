/*
 * policy_parse.c - building a rule set from the configuration file's
 * [policy] and [rule NAME] sections. options.c reads the file (libinih)
 * and hands every section header and every key of these sections here; a
 * mistake is reported with the line it is on, and the set being built is
 * then thrown away, so a file that does not parse never half-replaces the
 * running policy.
 *
 * Caps (max-handles, max-memory) count per uid, so a rule with one
 * selects callers by uid only; a rule may set only caps, without action.
 *
 * Values that are lists (uid, group, ops, addresses, ports, paths,
 * abstract) take their items separated by commas or blanks, and a key given
 * again adds to its list. User and group names are looked up when the file
 * is read: a name the system does not know is an error, and a user renamed
 * later keeps matching by the number it had.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

#define RULE_NAME_MAX 64
#define LIST_MAX 256 /* items of one list in one rule */

struct policy *policy_new(void)
{
    struct policy *p = calloc(1, sizeof *p);
    if (p) {
        p->cur = -1;
        /* The system's, read again (creds.c) so that a reload builds its rules
         * and the trust checks on what the sysctl says now. */
        creds_reload();
        p->unpriv_port = netd_unprivileged_port_start();
    }
    return p;
}

static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RULE_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
            return false;
    return true;
}

int policy_section(struct policy *p, const char *section, int line, char *why, size_t n)
{
    p->sect_line = line;
    if (strcmp(section, "policy") == 0) {
        p->cur = -1;
        return 0;
    }
    const char *name = section + 4; /* after "rule" */
    if (strncmp(section, "rule", 4) != 0 || (*name != ' ' && *name != '\0')) {
        snprintf(why, n, "unknown section [%s]", section);
        return -1;
    }
    while (*name == ' ')
        name++;
    if (!name_ok(name) || strcmp(name, "default") == 0) {
        snprintf(why, n,
                 "[%s]: a rule is [rule NAME], NAME of 1 to %d letters, digits, '-', '_' or '.' "
                 "and not \"default\"",
                 section, RULE_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->rules[i].name, name) == 0) {
            snprintf(why, n, "rule '%s' is given twice (first on line %d)", name, p->rules[i].line);
            return -1;
        }
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 8;
        struct policy_rule *r = realloc(p->rules, cap * sizeof *r);
        if (!r) {
            snprintf(why, n, "out of memory");
            return -1;
        }
        p->rules = r;
        p->cap = cap;
    }
    struct policy_rule *r = &p->rules[p->n];
    memset(r, 0, sizeof *r);
    r->name = strdup(name);
    r->line = line;
    r->ops = (1u << POLICY__OPS) - 1;
    p->cur = (int)p->n++;
    return r->name ? 0 : -1;
}

/* Grows list *@v of *@n items of @size bytes by one; the new item, or NULL. */
static void *grow(void *v, size_t *n, size_t size, char *why, size_t wn)
{
    void **list = v;
    if (*n >= LIST_MAX) {
        snprintf(why, wn, "more than %d items", LIST_MAX);
        return NULL;
    }
    char *bigger = realloc(*list, (*n + 1) * size);
    if (!bigger) {
        snprintf(why, wn, "out of memory");
        return NULL;
    }
    *list = bigger;
    memset(bigger + *n * size, 0, size);
    return bigger + (*n)++ * size;
}

static int parse_number(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int add_id(struct policy_rule *r, const char *item, bool group, char *why, size_t n)
{
    unsigned long v;
    if (parse_number(item, 0xfffffffeUL, &v) < 0) {
        if (group) {
            struct group *g = getgrnam(item);
            if (!g)
                goto unknown;
            v = g->gr_gid;
        } else {
            struct passwd *pw = getpwnam(item);
            if (!pw)
                goto unknown;
            v = pw->pw_uid;
        }
    }
    if (group) {
        gid_t *g = grow(&r->gids, &r->ngids, sizeof *g, why, n);
        if (!g)
            return -1;
        *g = (gid_t)v;
    } else {
        uid_t *u = grow(&r->uids, &r->nuids, sizeof *u, why, n);
        if (!u)
            return -1;
        *u = (uid_t)v;
    }
    return 0;
unknown:
    snprintf(why, n, "no %s '%s' on this system", group ? "group" : "user", item);
    return -1;
}

/* "10.0.0.0/8", "fd00::/8", "192.0.2.1" (a /32), "::1" (a /128), or "any". */
static int add_net(struct policy_rule *r, const char *item, char *why, size_t n)
{
    if (strcmp(item, "any") == 0) {
        struct policy_net *a = grow(&r->nets, &r->nnets, sizeof *a, why, n);
        struct policy_net *b = a ? grow(&r->nets, &r->nnets, sizeof *b, why, n) : NULL;
        if (!b)
            return -1;
        a = b - 1;
        a->family = AF_INET;
        b->family = AF_INET6;
        return 0;
    }
    char text[INET6_ADDRSTRLEN + 8];
    snprintf(text, sizeof text, "%s", item);
    char *slash = strchr(text, '/');
    unsigned long bits = 0;
    if (slash)
        *slash = '\0';
    struct policy_net net = {0};
    if (inet_pton(AF_INET, text, net.addr) == 1)
        net.family = AF_INET;
    else if (inet_pton(AF_INET6, text, net.addr) == 1)
        net.family = AF_INET6;
    else {
        snprintf(why, n, "'%s' is not an address or CIDR range (10.0.0.0/8, fd00::/8, any)", item);
        return -1;
    }
    int maxbits = net.family == AF_INET ? 32 : 128;
    if (!slash)
        bits = (unsigned long)maxbits;
    else if (parse_number(slash + 1, (unsigned long)maxbits, &bits) < 0) {
        snprintf(why, n, "'%s': the prefix length must be 0 to %d", item, maxbits);
        return -1;
    }
    net.bits = (int)bits;
    /* Bits past the prefix are a mistake the operator should see, not a
     * range netd guesses at. */
    for (int b = net.bits; b < maxbits; b++)
        if (net.addr[b / 8] & (0x80 >> (b % 8))) {
            snprintf(why, n, "'%s' has bits set past its prefix length /%d", item, net.bits);
            return -1;
        }
    struct policy_net *slot = grow(&r->nets, &r->nnets, sizeof *slot, why, n);
    if (!slot)
        return -1;
    *slot = net;
    return 0;
}

/* "443", "8000-8999". */
static int add_ports(struct policy_rule *r, const char *item, char *why, size_t n)
{
    char text[32];
    snprintf(text, sizeof text, "%s", item);
    char *dash = strchr(text, '-');
    if (dash)
        *dash = '\0';
    unsigned long lo, hi;
    if (parse_number(text, 65535, &lo) < 0 ||
        (dash ? parse_number(dash + 1, 65535, &hi) : (hi = lo, 0)) < 0 || hi < lo) {
        snprintf(why, n, "'%s' is not a port or a range LOW-HIGH of ports 0 to 65535", item);
        return -1;
    }
    struct policy_range *pr = grow(&r->ports, &r->nports, sizeof *pr, why, n);
    if (!pr)
        return -1;
    pr->lo = (uint16_t)lo;
    pr->hi = (uint16_t)hi;
    return 0;
}

static int add_prefix(struct policy_rule *r, const char *item, bool abstract, char *why, size_t n)
{
    size_t len = strlen(item);
    const size_t max = 107; /* a unix socket address's name */
    if (abstract ? item[0] != '@' : item[0] != '/') {
        snprintf(why, n,
                 abstract ? "'%s': an abstract name prefix starts with '@'"
                          : "'%s': a path prefix is absolute (starts with '/')",
                 item);
        return -1;
    }
    if (len > max) {
        snprintf(why, n, "'%.40s...' is longer than a unix socket name (%zu)", item, max);
        return -1;
    }
    struct policy_prefix *pp = abstract ? grow(&r->abstract, &r->nabstract, sizeof *pp, why, n)
                                        : grow(&r->paths, &r->npaths, sizeof *pp, why, n);
    if (!pp)
        return -1;
    pp->s = malloc(len + 2);
    if (!pp->s) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    if (abstract) {
        memcpy(pp->s, item + 1, len);
        pp->len = len - 1;
    } else {
        memcpy(pp->s, item, len + 1);
        pp->len = policy_path_normalize(pp->s, len);
    }
    return 0;
}

static int set_ops(struct policy_rule *r, const char *item, bool first, char *why, size_t n)
{
    if (first)
        r->ops = 0;
    if (strcmp(item, "all") == 0) {
        r->ops = (1u << POLICY__OPS) - 1;
        return 0;
    }
    int op = policy_op_parse(item);
    if (op < 0) {
        snprintf(why, n, "'%s' is not an operation (connect, send-to, listen, bind, all)", item);
        return -1;
    }
    r->ops |= 1u << op;
    return 0;
}

enum list_key { K_UID, K_GROUP, K_OPS, K_ADDRESSES, K_PORTS, K_PATHS, K_ABSTRACT };

static const char *const list_keys[] = {"uid",   "group", "ops",     "addresses",
                                        "ports", "paths", "abstract"};

/* Splits @value at commas and blanks, adding each item to the list @k. */
static int add_list(struct policy_rule *r, enum list_key k, const char *value, char *why, size_t n)
{
    char *copy = strdup(value), *save = NULL;
    int rc = 0, items = 0;
    if (!copy) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    /* ops given again adds to what the rule already lists, not to the default of all */
    bool ops_fresh = k == K_OPS && r->ops == (1u << POLICY__OPS) - 1;
    for (char *s = copy, *t; rc == 0 && (t = strtok_r(s, ", \t", &save)); s = NULL, items++) {
        switch (k) {
        case K_UID:
        case K_GROUP:
            rc = add_id(r, t, k == K_GROUP, why, n);
            break;
        case K_OPS:
            rc = set_ops(r, t, ops_fresh && items == 0, why, n);
            break;
        case K_ADDRESSES:
            rc = add_net(r, t, why, n);
            break;
        case K_PORTS:
            rc = add_ports(r, t, why, n);
            break;
        case K_PATHS:
        case K_ABSTRACT:
            rc = add_prefix(r, t, k == K_ABSTRACT, why, n);
            break;
        }
    }
    free(copy);
    if (rc == 0 && items == 0) {
        snprintf(why, n, "an empty list");
        rc = -1;
    }
    return rc;
}

static int policy_setting(struct policy *p, const char *key, const char *value, char *why, size_t n)
{
    if (strcmp(key, "default") != 0) {
        snprintf(why, n, "unknown key '%s' in [policy] (it has: default)", key);
        return -1;
    }
    if (strcmp(value, "allow") == 0)
        p->default_deny = false;
    else if (strcmp(value, "deny") == 0)
        p->default_deny = true;
    else {
        snprintf(why, n, "default is allow or deny, not '%s'", value);
        return -1;
    }
    return 0;
}

int policy_key(struct policy *p, const char *key, const char *value, char *why, size_t n)
{
    if (p->cur < 0)
        return policy_setting(p, key, value, why, n);
    struct policy_rule *r = &p->rules[p->cur];
    if (strcmp(key, "action") == 0) {
        if (strcmp(value, "allow") != 0 && strcmp(value, "deny") != 0) {
            snprintf(why, n, "action is allow or deny, not '%s'", value);
            return -1;
        }
        if (r->has_action) {
            snprintf(why, n, "rule '%s' has an action already", r->name);
            return -1;
        }
        r->allow = strcmp(value, "allow") == 0;
        r->has_action = true;
        return 0;
    }
    if (strcmp(key, "max-memory") == 0) {
        unsigned long v;
        if (parse_number(value, 1UL << 50, &v) < 0 || v == 0) {
            snprintf(why, n, "max-memory is a whole number of bytes, at least 1");
            return -1;
        }
        r->max_memory = v;
        return 0;
    }
    if (strcmp(key, "max-handles") == 0) {
        unsigned long v;
        if (parse_number(value, 1UL << 30, &v) < 0 || v == 0) {
            snprintf(why, n, "max-handles is a whole number of at least 1");
            return -1;
        }
        r->max_handles = v;
        return 0;
    }
    for (size_t k = 0; k < sizeof list_keys / sizeof *list_keys; k++)
        if (strcmp(key, list_keys[k]) == 0)
            return add_list(r, (enum list_key)k, value, why, n);
    snprintf(why, n,
             "unknown key '%s' in [rule %s] (it has: action, uid, group, ops, addresses, ports, "
             "paths, abstract, max-handles, max-memory)",
             key, r->name);
    return -1;
}

int policy_finish(struct policy *p, int *line, char *why, size_t n)
{
    for (size_t i = 0; i < p->n; i++) {
        const struct policy_rule *r = &p->rules[i];
        bool cap = r->max_handles || r->max_memory;
        if (cap && r->ngids) {
            *line = r->line;
            snprintf(why, n,
                     "rule '%s': max-handles and max-memory count per uid, so the rule selects "
                     "users by uid, not by group",
                     r->name);
            return -1;
        }
        if (!r->has_action && !cap) {
            *line = r->line;
            snprintf(why, n, "rule '%s' has no action (allow or deny)", r->name);
            return -1;
        }
        if (!r->has_action && (r->nnets || r->nports || r->npaths || r->nabstract ||
                               r->ops != (1u << POLICY__OPS) - 1)) {
            *line = r->line;
            snprintf(why, n, "rule '%s' names addresses or operations but has no action", r->name);
            return -1;
        }
    }
    return 0;
}
