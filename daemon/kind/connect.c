/*
 * connect.c - connecting: resolve, then try every address in order until
 * one connects (non-blocking connect, completion seen as writability on the
 * worker's loop), then bring the stream's transport up (TLS: handshake).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kind.h"

static void connect_next(struct sock *s, int last_err);

/* Whatever path, link or address led there, a stream whose peer is one of
 * netd's own control sockets is not kept: netd is never its own client. */
static bool sock_peer_ok(struct sock *s)
{
    if (!unix_peer_is_control(s->h.fd))
        return true;
    s->spec.self_target = true;
    return false;
}

/* The attempt ended: answer a waiting caller. A handle the caller never
 * received (it waited) is closed on failure; one it holds (wait: false)
 * stays in state "failure" for `status` to show. */
static void connect_done(struct sock *s)
{
    struct handle *h = &s->h;
    if (h->state == HS_FAILURE) {
        /* A failed stream keeps no socket (a failed handshake's is done for). */
        int fd = handle_take_fd(h);
        if (fd >= 0)
            close(fd);
    }
    struct req *r = h->openers.head;
    if (r) {
        req_unpark(r);
        if (h->state == HS_SUCCESS) {
            req_ok(r, json_pack("{s:s}", "handle", h->name));
        } else {
            handle_fail_req(r, h);
            handle_close(h, "connect failed");
            return;
        }
    }
    handle_check_waiters(h);
}

/* The socket is connected: the transport comes up, then the stream is ready. */
static void connected(struct sock *s)
{
    s->tp->start(s, connect_done);
}

static void on_connect_ready(struct ev_loop *loop, ev_io *io, int revents)
{
    struct sock *s = io->data;
    ev_io_stop(loop, io);
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(s->h.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0 && sock_peer_ok(s)) {
        connected(s);
        return;
    }
    if (err == 0)
        err = EPERM;
    close(s->h.fd);
    s->h.fd = -1;
    connect_next(s, err);
}

/* Starts a connect to address i. 0: connected at once; 1: in progress; <0: -errno. */
static int connect_one(struct sock *s, size_t i)
{
    struct handle *h = &s->h;
    struct sockspec *sp = &s->spec;
    struct sockaddr *sa = (struct sockaddr *)&sp->al.addrs[i];
    if (sp->bind_len && sp->bind_addr.ss_family != sa->sa_family)
        return -EAFNOSUPPORT;
    /* The socket is the caller's (its owner for SO_REUSEPORT, netfilter and
     * uid routing); a bind and a unix connect are made as the caller too,
     * unless a rule grants them (access.c): then that call is netd's. */
    int fd = creds_socket(h->ident, sa->sa_family, h->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    int rc = sp->pre_opts ? sockopt_apply_pre(h->ident, sp, fd, sa->sa_family) : 0;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (sp->bind_len) {
        int one = 1;
        creds_setsockopt(h->ident, fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        /* A granted (privileged) source port is bound as netd: that call alone. */
        rc = creds_bind(sp->bind_granted ? NULL : h->ident, fd, (struct sockaddr *)&sp->bind_addr,
                        sp->bind_len);
        if (rc < 0) {
            close(fd);
            return rc;
        }
    }
    /* A granted unix address (an abstract name, a path) is connected as netd. */
    rc = creds_connect(sp->granted ? NULL : h->ident, fd, sa, sp->al.lens[i]);
    if (rc == 0) {
        h->fd = fd;
        if (sa->sa_family == AF_UNIX && !sock_peer_ok(s)) {
            h->fd = -1;
            close(fd);
            return -EPERM;
        }
        return 0;
    }
    if (rc != -EINPROGRESS) {
        close(fd);
        return rc;
    }
    h->fd = fd;
    ev_io_init(&h->wio, on_connect_ready, fd, EV_WRITE);
    h->wio.data = s;
    ev_io_start(h->w->loop, &h->wio);
    return 1;
}

static void connect_next(struct sock *s, int last_err)
{
    struct handle *h = &s->h;
    while (s->spec.al_next < s->spec.al.count) {
        size_t i = s->spec.al_next++;
        /* A denied address is passed over like an unreachable one. */
        if (!spec_allows(&s->spec, POLICY_CONNECT, i))
            continue;
        int rc = connect_one(s, i);
        if (rc == 1)
            return;
        if (rc == 0) {
            connected(s);
            return;
        }
        last_err = -rc;
    }
    if (spec_all_denied(&s->spec)) {
        handle_set_failure(h, NETD_E_DENIED, json_pack("{s:s}", "rule", s->spec.deny_rule), "%s",
                           s->spec.deny_msg);
        connect_done(s);
        return;
    }
    if (last_err == 0)
        last_err = EADDRNOTAVAIL;
    if (s->spec.self_target) {
        handle_set_failure(h, NETD_E_DENIED, NULL,
                           "connect to %s: it leads to netd's own control socket, and netd is "
                           "never its own client",
                           h->hostname ? h->hostname : "?");
        connect_done(s);
        return;
    }
    handle_set_failure(h, NETD_E_OS, json_pack("{s:s}", "errno", netd_errno_name(last_err)),
                       "connect to %s: %s", h->hostname ? h->hostname : "?", strerror(last_err));
    connect_done(s);
}

static void connect_resolved(struct handle *h, int gai, struct addrlist *al)
{
    struct sock *s = sock_of(h);
    if (gai != 0 || al->count == 0) {
        char why[256];
        resolve_why(gai, why, sizeof why);
        handle_set_failure(h, NETD_E_RESOLVE,
                           json_pack("{s:s}", "gai", netd_gai_name(gai ? gai : EAI_NONAME)),
                           "cannot resolve %s: %s", h->hostname ? h->hostname : "", why);
        connect_done(s);
        return;
    }
    s->spec.al = *al;
    memset(al, 0, sizeof *al);
    connect_next(s, 0);
}

static void connect_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "connect to %s took longer than the timeout",
             h->hostname ? h->hostname : "?");
    handle_close(h, "timeout");
}

/* bindhost/bindport: numeric only, so binding never waits for DNS. The
 * policy is asked about the bind address here, before anything is made. */
int connect_parse_bind(struct req *r, struct sockspec *spec, int socktype)
{
    const char *bh = param_str(r, "bindhost");
    json_t *bp = param(r, "bindport");
    if (!bh && !bp)
        return 0;
    char service[64] = "0";
    if (bp && port_string(bp, service, sizeof service) < 0)
        return -1;
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST, .ai_socktype = socktype};
    struct addrinfo *res = NULL;
    if (getaddrinfo(bh, service, &hints, &res) != 0 || !res)
        return -1;
    memcpy(&spec->bind_addr, res->ai_addr, res->ai_addrlen);
    spec->bind_len = res->ai_addrlen;
    freeaddrinfo(res);
    int ok = access_check(r, POLICY_BIND, (struct sockaddr *)&spec->bind_addr, spec->bind_len);
    if (ok < 0)
        return -2;
    spec->bind_granted = ok == 1;
    return 0;
}

/* Copies the destination from an address handle on this worker. */
int connect_from_address(struct worker *w, struct req *r, struct sock *s)
{
    struct handle *ah = handle_get_kind(w, r, "address", 1u << HK_ADDRESS);
    if (!ah)
        return -1;
    if (ah->state != HS_SUCCESS) {
        req_fail(r, NETD_E_RESOLVE, json_pack("{s:s}", "gai", "EAI_AGAIN"),
                 "address %s is not resolved (state %s)", ah->name,
                 ah->state == HS_WAITING ? "waiting" : "failure");
        return -1;
    }
    struct address *a = address_of(ah);
    s->h.hostname = ah->hostname ? strdup(ah->hostname) : NULL;
    if (addrlist_copy(&s->spec.al, &a->al, 0, a->al.count) < 0) {
        req_fail(r, NETD_E_INTERNAL, NULL, "out of memory");
        return -1;
    }
    /* A port given with the address (Pragtical's open_tcp(address, port))
     * replaces the port the address was resolved with. */
    json_t *port = param(r, "port");
    if (port) {
        int p = port_number(port, s->h.type);
        if (p < 0) {
            req_fail(r, NETD_E_PARAMS, NULL, "parameter 'port': unknown service");
            return -1;
        }
        addrlist_set_port(&s->spec.al, p);
    }
    return 0;
}

void connect_start(struct sock *s, struct req *r, const char *host, const char *service, bool wait)
{
    struct handle *h = &s->h;
    if (!s->tp)
        s->tp = &plain_transport;
    /* Answering frees @r and its parameters: keep what resolution needs. */
    char *host_copy = host ? strdup(host) : NULL;
    if (wait)
        handle_park(r, h, &h->openers, WK_OPEN, connect_timeout);
    else
        req_ok(r, json_pack("{s:s}", "handle", h->name));
    if (!host_copy)
        connect_next(s, 0);
    else
        handle_resolve(h, connect_resolved, host_copy, service, AF_UNSPEC, h->type, 0);
    free(host_copy);
}
