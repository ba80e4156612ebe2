/*
 * sockopt.c - `setsockopt` and `getsockopt`: one table row per option of the
 * contract, with its level, value type, range and the sockets it applies to.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/time.h>
#include <string.h>

#include "kind.h"
#include "rpc.h"

enum vtype {
    V_BOOL,
    V_INT,    /* integer in [min, max] */
    V_LINGER, /* seconds, or null for off */
    V_GROUP4, /* "GROUP" or "GROUP@INTERFACE-ADDRESS"; set only */
    V_GROUP6, /* "GROUP" or "GROUP@INTERFACE" (name or index); set only */
    V_TIMEO,  /* seconds (a number), 0 = none: SO_RCVTIMEO/SO_SNDTIMEO */
    V_ADDR4,  /* an IPv4 address string: IP_MULTICAST_IF */
    V_TYPE,   /* read only: "stream" / "datagram" */
    V_ERROR,  /* read only: errno name or null */
};

/* Which sockets an option applies to. */
enum applies { A_ANY, A_TCP, A_INET, A_INET6, A_INET_DGRAM, A_INET6_DGRAM };

struct opt {
    const char *name;
    int level, optname;
    enum vtype type;
    long long min, max;
    enum applies applies;
    bool readonly;
};

#define INTMAXV 0x7fffffffLL

static const struct opt opts[] = {
    {"so-broadcast", SOL_SOCKET, SO_BROADCAST, V_BOOL, 0, 1, A_ANY, false},
    {"so-reuseaddr", SOL_SOCKET, SO_REUSEADDR, V_BOOL, 0, 1, A_ANY, false},
    {"so-reuseport", SOL_SOCKET, SO_REUSEPORT, V_BOOL, 0, 1, A_ANY, false},
    {"so-keepalive", SOL_SOCKET, SO_KEEPALIVE, V_BOOL, 0, 1, A_ANY, false},
    {"so-linger", SOL_SOCKET, SO_LINGER, V_LINGER, 0, 65535, A_ANY, false},
    {"so-rcvbuf", SOL_SOCKET, SO_RCVBUF, V_INT, 1, INTMAXV / 2, A_ANY, false},
    {"so-sndbuf", SOL_SOCKET, SO_SNDBUF, V_INT, 1, INTMAXV / 2, A_ANY, false},
    {"so-rcvlowat", SOL_SOCKET, SO_RCVLOWAT, V_INT, 1, INTMAXV, A_ANY, false},
    {"so-sndlowat", SOL_SOCKET, SO_SNDLOWAT, V_INT, 1, INTMAXV, A_ANY, false},
    {"so-dontroute", SOL_SOCKET, SO_DONTROUTE, V_BOOL, 0, 1, A_ANY, false},
    {"so-debug", SOL_SOCKET, SO_DEBUG, V_BOOL, 0, 1, A_ANY, false},
    {"so-oobinline", SOL_SOCKET, SO_OOBINLINE, V_BOOL, 0, 1, A_ANY, false},
    {"so-timestamp", SOL_SOCKET, SO_TIMESTAMP, V_BOOL, 0, 1, A_ANY, false},
    {"so-type", SOL_SOCKET, SO_TYPE, V_TYPE, 0, 0, A_ANY, true},
    {"so-error", SOL_SOCKET, SO_ERROR, V_ERROR, 0, 0, A_ANY, true},
    {"so-acceptconn", SOL_SOCKET, SO_ACCEPTCONN, V_BOOL, 0, 1, A_ANY, true},
    {"tcp-nodelay", IPPROTO_TCP, TCP_NODELAY, V_BOOL, 0, 1, A_TCP, false},
    {"tcp-cork", IPPROTO_TCP, TCP_CORK, V_BOOL, 0, 1, A_TCP, false},
    {"tcp-keepidle", IPPROTO_TCP, TCP_KEEPIDLE, V_INT, 1, 32767, A_TCP, false},
    {"tcp-keepintvl", IPPROTO_TCP, TCP_KEEPINTVL, V_INT, 1, 32767, A_TCP, false},
    {"tcp-keepcnt", IPPROTO_TCP, TCP_KEEPCNT, V_INT, 1, 127, A_TCP, false},
    {"ip-ttl", IPPROTO_IP, IP_TTL, V_INT, 1, 255, A_INET, false},
    {"ip-multicast-ttl", IPPROTO_IP, IP_MULTICAST_TTL, V_INT, 0, 255, A_INET_DGRAM, false},
    {"ip-multicast-loop", IPPROTO_IP, IP_MULTICAST_LOOP, V_BOOL, 0, 1, A_INET_DGRAM, false},
    {"ip-add-membership", IPPROTO_IP, IP_ADD_MEMBERSHIP, V_GROUP4, 0, 0, A_INET_DGRAM, false},
    {"ip-drop-membership", IPPROTO_IP, IP_DROP_MEMBERSHIP, V_GROUP4, 0, 0, A_INET_DGRAM, false},
    {"ipv6-v6only", IPPROTO_IPV6, IPV6_V6ONLY, V_BOOL, 0, 1, A_INET6, false},
    {"ipv6-multicast-hops", IPPROTO_IPV6, IPV6_MULTICAST_HOPS, V_INT, -1, 255, A_INET6_DGRAM,
     false},
    {"ipv6-unicast-hops", IPPROTO_IPV6, IPV6_UNICAST_HOPS, V_INT, -1, 255, A_INET6, false},
    {"ipv6-join-group", IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, V_GROUP6, 0, 0, A_INET6_DGRAM, false},
    {"ipv6-leave-group", IPPROTO_IPV6, IPV6_DROP_MEMBERSHIP, V_GROUP6, 0, 0, A_INET6_DGRAM, false},
    {"so-rcvtimeo", SOL_SOCKET, SO_RCVTIMEO, V_TIMEO, 0, 31536000, A_ANY, false},
    {"so-sndtimeo", SOL_SOCKET, SO_SNDTIMEO, V_TIMEO, 0, 31536000, A_ANY, false},
    {"ip-multicast-if", IPPROTO_IP, IP_MULTICAST_IF, V_ADDR4, 0, 0, A_INET_DGRAM, false},
    {"ipv6-multicast-if", IPPROTO_IPV6, IPV6_MULTICAST_IF, V_INT, 0, INTMAXV, A_INET6_DGRAM, false},
};

union optval {
    int i;
    struct linger l;
    struct ip_mreqn m4;
    struct ipv6_mreq m6;
    struct timeval tv;
    struct in_addr a4;
};

static const struct opt *opt_find(const char *name)
{
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

static int sock_family(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return AF_UNSPEC;
    return ss.ss_family;
}

/* NULL if @o applies to the socket of @h, else why not. */
static const char *not_applicable(const struct opt *o, struct handle *h)
{
    int fam = sock_family(h->fd), type = h->type;
    switch (o->applies) {
    case A_ANY:
        return NULL;
    case A_TCP:
        return (fam == AF_INET || fam == AF_INET6) && type == SOCK_STREAM
                   ? NULL
                   : "applies to TCP sockets only";
    case A_INET:
        return fam == AF_INET ? NULL : "applies to IPv4 sockets only";
    case A_INET6:
        return fam == AF_INET6 ? NULL : "applies to IPv6 sockets only";
    case A_INET_DGRAM:
        return fam == AF_INET && type == SOCK_DGRAM ? NULL
                                                    : "applies to IPv4 datagram sockets only";
    case A_INET6_DGRAM:
        return fam == AF_INET6 && type == SOCK_DGRAM ? NULL
                                                     : "applies to IPv6 datagram sockets only";
    }
    return NULL;
}

/* Splits "GROUP@INTERFACE" into @buf (the group) and *iface (or NULL). */
static int split_group(const char *s, char *buf, size_t n, char **iface)
{
    if (strlen(s) >= n)
        return -1;
    strcpy(buf, s);
    *iface = strchr(buf, '@');
    if (*iface)
        *(*iface)++ = '\0';
    return 0;
}

static int parse_group4(const char *s, struct ip_mreqn *mr)
{
    char buf[128], *at;
    memset(mr, 0, sizeof *mr);
    if (split_group(s, buf, sizeof buf, &at) < 0 ||
        inet_pton(AF_INET, buf, &mr->imr_multiaddr) != 1)
        return -1;
    if (at && inet_pton(AF_INET, at, &mr->imr_address) != 1)
        return -1;
    return 0;
}

static int parse_group6(const char *s, struct ipv6_mreq *mr)
{
    char buf[128], *at;
    memset(mr, 0, sizeof *mr);
    if (split_group(s, buf, sizeof buf, &at) < 0 ||
        inet_pton(AF_INET6, buf, &mr->ipv6mr_multiaddr) != 1)
        return -1;
    if (at) {
        char *end;
        unsigned long idx = strtoul(at, &end, 10);
        mr->ipv6mr_interface = *end == '\0' && end != at ? (unsigned)idx : if_nametoindex(at);
        if (mr->ipv6mr_interface == 0)
            return -1;
    }
    return 0;
}

/* Checks @v for @o and converts it to the kernel's form in @buf. Returns
 * the length, or -1 after answering @r with `invalid params`. */
static int value_in(struct req *r, const struct opt *o, json_t *v, void *buf)
{
    switch (o->type) {
    case V_BOOL:
        if (!json_is_boolean(v))
            break;
        *(int *)buf = json_is_true(v);
        return sizeof(int);
    case V_INT:
        if (!json_is_integer(v) || json_integer_value(v) < o->min || json_integer_value(v) > o->max)
            break;
        *(int *)buf = (int)json_integer_value(v);
        return sizeof(int);
    case V_LINGER: {
        struct linger *l = buf;
        if (json_is_null(v)) {
            *l = (struct linger){0, 0};
            return sizeof *l;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > o->max)
            break;
        *l = (struct linger){1, (int)json_integer_value(v)};
        return sizeof *l;
    }
    case V_GROUP4:
        if (!netd_json_text(v) || parse_group4(json_string_value(v), buf) < 0)
            break;
        return sizeof(struct ip_mreqn);
    case V_TIMEO: {
        if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > o->max)
            break;
        double t = json_number_value(v);
        struct timeval *tv = buf;
        tv->tv_sec = (time_t)t;
        tv->tv_usec = (suseconds_t)((t - (double)tv->tv_sec) * 1e6);
        return sizeof *tv;
    }
    case V_ADDR4:
        if (!netd_json_text(v) || inet_pton(AF_INET, json_string_value(v), buf) != 1)
            break;
        return sizeof(struct in_addr);
    case V_GROUP6:
        if (!netd_json_text(v) || parse_group6(json_string_value(v), buf) < 0)
            break;
        return sizeof(struct ipv6_mreq);
    default:
        break;
    }
    static const char *const expect[] = {
        [V_BOOL] = "a boolean",
        [V_INT] = "an integer",
        [V_LINGER] = "seconds (an integer 0..65535) or null for off",
        [V_GROUP4] = "\"GROUP\" or \"GROUP@INTERFACE-ADDRESS\" (IPv4 addresses)",
        [V_GROUP6] = "\"GROUP\" or \"GROUP@INTERFACE\" (IPv6 group, interface name or index)",
        [V_TIMEO] = "seconds (a number from 0, none, to 31536000)",
        [V_ADDR4] = "an IPv4 address (\"0.0.0.0\": the route's choice)",
    };
    if (!r)
        return -1;
    if (o->type == V_INT)
        req_fail(r, NETD_E_PARAMS, NULL, "%s takes an integer between %lld and %lld", o->name,
                 o->min, o->max);
    else
        req_fail(r, NETD_E_PARAMS, NULL, "%s takes %s", o->name, expect[o->type]);
    return -1;
}

static json_t *value_out(const struct opt *o, const void *buf)
{
    int i = *(const int *)buf;
    switch (o->type) {
    case V_BOOL:
        return json_boolean(i);
    case V_INT:
        return json_integer(i);
    case V_LINGER: {
        const struct linger *l = buf;
        return l->l_onoff ? json_integer(l->l_linger) : json_null();
    }
    case V_TIMEO: {
        const struct timeval *tv = buf;
        return json_real((double)tv->tv_sec + (double)tv->tv_usec / 1e6);
    }
    case V_ADDR4: {
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, buf, a, sizeof a);
        return json_string(a);
    }
    case V_TYPE:
        return json_string(i == SOCK_STREAM ? "stream" : i == SOCK_DGRAM ? "datagram" : "other");
    case V_ERROR:
        return i ? json_string(netd_errno_name(i)) : json_null();
    default:
        return json_null();
    }
}

/* The option named by @r on a handle with a socket; NULL: @r was answered. */
static const struct opt *opt_for(struct worker *w, struct req *r, struct handle **hp)
{
    unsigned kinds = (1u << HK_STREAM) | (1u << HK_LISTENER) | (1u << HK_DATAGRAM);
    struct handle *h = handle_get_kind(w, r, "handle", kinds);
    if (!h)
        return NULL;
    const char *name = param_str(r, "option");
    const struct opt *o = opt_find(name);
    if (!o) {
        req_fail(r, NETD_E_PARAMS, NULL, "unknown option '%.64s' (see rpc.discover for the list)",
                 name);
        return NULL;
    }
    if (h->fd < 0) {
        req_fail_errno(r, ENOTCONN, o->name);
        return NULL;
    }
    const char *why = not_applicable(o, h);
    if (why) {
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", handle_kind_name(h->ops->kind)),
                 "%s %s", o->name, why);
        return NULL;
    }
    *hp = h;
    return o;
}

void sockopt_set(struct worker *w, struct req *r)
{
    struct handle *h;
    const struct opt *o = opt_for(w, r, &h);
    if (!o)
        return;
    if (o->readonly) {
        req_fail(r, NETD_E_PARAMS, NULL, "%s is read-only", o->name);
        return;
    }
    union optval v;
    int len = value_in(r, o, param(r, "value") ? param(r, "value") : json_null(), &v);
    if (len < 0)
        return;
    /* As the handle's owner: options that need a capability need the caller's. */
    int rc = creds_setsockopt(h->ident, h->fd, o->level, o->optname, &v, (socklen_t)len);
    if (rc < 0) {
        req_fail_errno(r, -rc, o->name);
        return;
    }
    /* netd's own sockets never block: the kernel timeouts become the
     * defaults of calls on this handle that give no timeout. */
    if (o->optname == SO_RCVTIMEO && o->level == SOL_SOCKET)
        h->rcvtimeo = json_number_value(param(r, "value"));
    if (o->optname == SO_SNDTIMEO && o->level == SOL_SOCKET)
        h->sndtimeo = json_number_value(param(r, "value"));
    req_ok(r, json_object());
}

void sockopt_get(struct worker *w, struct req *r)
{
    struct handle *h;
    const struct opt *o = opt_for(w, r, &h);
    if (!o)
        return;
    if (o->type == V_GROUP4 || o->type == V_GROUP6) {
        req_fail(r, NETD_E_PARAMS, NULL, "%s can only be set", o->name);
        return;
    }
    union optval v;
    memset(&v, 0, sizeof v);
    socklen_t len = o->type == V_LINGER  ? sizeof v.l
                    : o->type == V_TIMEO ? sizeof v.tv
                    : o->type == V_ADDR4 ? sizeof v.a4
                                         : sizeof v.i;
    /* The kernel stores IP_MULTICAST_TTL/LOOP in a byte but answers an int. */
    if (getsockopt(h->fd, o->level, o->optname, &v, &len) < 0) {
        req_fail_errno(r, errno, o->name);
        return;
    }
    req_ok(r, json_pack("{s:o}", "value", value_out(o, &v)));
}

/* ---- options set between socket() and bind()/connect() ---- */

/*
 * Checks the "options" parameter of connect/listen/server: an object of
 * option -> value, for options that can be set. Some options only work
 * before the socket is bound (ipv6-v6only) or matter most then (so-rcvbuf
 * for window scaling, so-reuseport): this is the only place to set them.
 * Keeps the checked object in @spec for sockopt_apply_pre(). -1: @r answered.
 */
int sockopt_prepare(struct req *r, struct handle *h, struct sockspec *spec)
{
    json_t *all = param(r, "options");
    if (!all)
        return 0;
    if (!json_is_object(all)) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "parameter 'options' must be an object of socket options and values");
        return -1;
    }
    const char *name;
    json_t *v;
    json_object_foreach(all, name, v)
    {
        const struct opt *o = opt_find(name);
        union optval buf;
        if (!o || o->readonly) {
            req_fail(r, NETD_E_PARAMS, NULL, "options: '%.64s' is not a settable option", name);
            return -1;
        }
        bool tcp_only = o->applies == A_TCP,
             dgram_only = o->applies == A_INET_DGRAM || o->applies == A_INET6_DGRAM;
        if ((tcp_only && h->type != SOCK_STREAM) || (dgram_only && h->type != SOCK_DGRAM)) {
            req_fail(r, NETD_E_WRONG_KIND,
                     json_pack("{s:s}", "kind", handle_kind_name(h->ops->kind)),
                     "options: %s does not apply to a %s socket", o->name,
                     h->type == SOCK_STREAM ? "stream" : "datagram");
            return -1;
        }
        if (value_in(r, o, v, &buf) < 0)
            return -1;
    }
    spec->pre_opts = json_incref(all);
    return 0;
}

/* Sets the prepared options on a new socket of @family. Options for
 * another family (ipv6-* on an IPv4 address of a name that resolves to
 * both) are skipped. 0, or -errno. */
int sockopt_apply_pre(const struct ident *id, const struct sockspec *spec, int fd, int family)
{
    const char *name;
    json_t *v;
    json_object_foreach(spec->pre_opts, name, v)
    {
        const struct opt *o = opt_find(name);
        union optval buf;
        bool v4 = o->applies == A_INET || o->applies == A_INET_DGRAM;
        bool v6 = o->applies == A_INET6 || o->applies == A_INET6_DGRAM;
        bool tcp = o->applies == A_TCP;
        if ((v4 && family != AF_INET) || (v6 && family != AF_INET6) ||
            (tcp && family != AF_INET && family != AF_INET6))
            continue;
        int len = value_in(NULL, o, v, &buf);
        if (len < 0)
            return -EINVAL;
        int rc = creds_setsockopt(id, fd, o->level, o->optname, &buf, (socklen_t)len);
        if (rc < 0)
            return rc;
    }
    return 0;
}
