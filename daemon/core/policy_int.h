/*
 * policy_int.h - the inside of a rule set, shared by policy.c (queries),
 * policy_parse.c (building one from the configuration file) and their unit
 * test. Nothing outside core/ sees it: the rest of netd asks policy_check().
 */
#ifndef NETD_POLICY_INT_H
#define NETD_POLICY_INT_H

#include "core.h"

struct policy_net {
    int family; /* AF_INET: 4 bytes of addr; AF_INET6: 16 */
    uint8_t addr[16];
    int bits;
};

struct policy_range {
    uint16_t lo, hi;
};

struct policy_prefix {
    char *s; /* a path, or an abstract name without its '@' */
    size_t len;
};

struct policy_rule {
    char *name;
    int line; /* of its [rule NAME] in the file */
    bool allow;
    bool has_action;
    unsigned ops; /* 1u << enum policy_op */
    uid_t *uids;
    size_t nuids;
    gid_t *gids;
    size_t ngids;
    struct policy_net *nets;
    size_t nnets;
    struct policy_range *ports;
    size_t nports;
    struct policy_prefix *paths;
    size_t npaths;
    struct policy_prefix *abstract;
    size_t nabstract;
    size_t max_handles; /* 0: not set */
    size_t max_memory;  /* bytes; 0: not set */
};

struct policy {
    struct policy_rule *rules; /* in file order: the order of evaluation */
    size_t n, cap;
    bool default_deny;
    int unpriv_port; /* ports below it (not 0) are privileged for listen and bind */
    /* while building: the section the file is in */
    int cur;       /* index of the rule being read, -1 for [policy] */
    int sect_line; /* the line its header is on */
};

/** As policy_check(), against @p rather than the running set. */
enum policy_verdict policy_check_in(const struct policy *p, const struct policy_query *q,
                                    const char **rule);
/** As policy_grants_port(), against @p. */
bool policy_grants_port_in(const struct policy *p, const struct policy_caller *c, enum policy_op op,
                           int port);
/** Normalizes absolute path @p of @len bytes in place (".", "..", "//"); its new length. */
size_t policy_path_normalize(char *p, size_t len);

#endif
