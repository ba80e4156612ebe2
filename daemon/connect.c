/*
 * connect.c - the `connect` method: resolve, then try every address in
 * order until one connects (non-blocking connect, completion seen as
 * writability on the worker's loop).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netd.h"
#include "tls.h"

static void connect_next(struct handle *h, int last_err);

/* The attempt ended: answer a waiting caller. A handle the caller never
 * received (it waited) is closed on failure; one it holds (wait: false)
 * stays in state "failure" for `status` to show. */
static void connect_done(struct handle *h)
{
    struct req *r = h->connectors.head;
    if (r) {
        req_unpark(r);
        if (h->state == HS_SUCCESS) {
            req_ok(r, json_pack("{s:s}", "handle", h->name));
        } else {
            req_fail(r, h->fail_kind, json_incref(h->fail_data), "%s", h->fail_msg);
            handle_close(h, "connect failed");
            return;
        }
    }
    handle_check_waiters(h);
}

/* The socket is connected; a TLS stream is ready after its handshake (TLS hook). */
static void connected(struct handle *h, int fd)
{
    if (h->tls) {
        tls_handshake_start(h, fd, connect_done);
        return;
    }
    stream_start(h, fd);
    connect_done(h);
}

static void on_connect_ready(struct ev_loop *loop, ev_io *io, int revents)
{
    struct handle *h = io->data;
    ev_io_stop(loop, io);
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        int fd = h->fd;
        h->fd = -1;
        connected(h, fd);
        return;
    }
    close(h->fd);
    h->fd = -1;
    connect_next(h, err);
}

/* Starts a connect to address i. 0: connected at once; 1: in progress; <0: -errno. */
static int connect_one(struct handle *h, size_t i)
{
    struct sockaddr *sa = (struct sockaddr *)&h->al.addrs[i];
    if (h->bind_len && h->bind_addr.ss_family != sa->sa_family)
        return -EAFNOSUPPORT;
    int fd = socket(sa->sa_family, h->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = h->pre_opts ? sockopt_apply_pre(h, fd, sa->sa_family) : 0;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    if (h->bind_len) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&h->bind_addr, h->bind_len) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    if (connect(fd, sa, h->al.lens[i]) == 0) {
        h->fd = fd;
        return 0;
    }
    if (errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    h->fd = fd;
    ev_io_init(&h->wio, on_connect_ready, fd, EV_WRITE);
    h->wio.data = h;
    ev_io_start(h->w->loop, &h->wio);
    return 1;
}

static void connect_next(struct handle *h, int last_err)
{
    while (h->al_next < h->al.count) {
        int rc = connect_one(h, h->al_next++);
        if (rc == 1)
            return;
        if (rc == 0) {
            connected(h, h->fd);
            return;
        }
        last_err = -rc;
    }
    if (last_err == 0)
        last_err = EADDRNOTAVAIL;
    handle_set_failure(h, NETD_E_OS, json_pack("{s:s}", "errno", netd_errno_name(last_err)),
                       "connect to %s: %s", h->hostname ? h->hostname : "?", strerror(last_err));
    connect_done(h);
}

static void connect_resolved(struct handle *h, int gai, struct addrlist *al)
{
    if (gai != 0 || al->count == 0) {
        const char *why = gai == 0            ? "no address"
                          : gai == EAI_SYSTEM ? strerror(errno)
                                              : gai_strerror(gai);
        handle_set_failure(h, NETD_E_RESOLVE,
                           json_pack("{s:s}", "gai", netd_gai_name(gai ? gai : EAI_NONAME)),
                           "cannot resolve %s: %s", h->hostname ? h->hostname : "", why);
        connect_done(h);
        return;
    }
    h->al = *al;
    memset(al, 0, sizeof *al);
    connect_next(h, 0);
}

static void connect_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "connect to %s took longer than the timeout",
             h->hostname ? h->hostname : "?");
    handle_close(h, "timeout");
}

/* bindhost/bindport: numeric only, so binding never waits for DNS. */
static int parse_bind(struct req *r, struct handle *h)
{
    const char *bh = param_str(r, "bindhost");
    json_t *bp = param(r, "bindport");
    if (!bh && !bp)
        return 0;
    char service[64] = "0";
    if (bp && port_string(bp, service, sizeof service) < 0)
        return -1;
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICHOST, .ai_socktype = h->type};
    struct addrinfo *res = NULL;
    if (getaddrinfo(bh, service, &hints, &res) != 0 || !res)
        return -1;
    memcpy(&h->bind_addr, res->ai_addr, res->ai_addrlen);
    h->bind_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Copies the destination from an address handle on this worker. */
static int from_address_handle(struct worker *w, struct req *r, struct handle *h)
{
    struct handle *a = handle_get_kind(w, r, "address", 1u << HK_ADDRESS);
    if (!a)
        return -1;
    if (a->state != HS_SUCCESS) {
        req_fail(r, NETD_E_RESOLVE, json_pack("{s:s}", "gai", "EAI_AGAIN"),
                 "address %s is not resolved (state %s)", a->name,
                 a->state == HS_WAITING ? "waiting" : "failure");
        return -1;
    }
    h->hostname = a->hostname ? strdup(a->hostname) : NULL;
    if (addrlist_copy(&h->al, &a->al, 0, a->al.count) < 0) {
        req_fail(r, NETD_E_INTERNAL, NULL, "out of memory");
        return -1;
    }
    /* A port given with the address (Pragtical's open_tcp(address, port))
     * replaces the port the address was resolved with. */
    json_t *port = param(r, "port");
    if (port) {
        int p = port_number(port, h->type);
        if (p < 0) {
            req_fail(r, NETD_E_PARAMS, NULL, "parameter 'port': unknown service");
            return -1;
        }
        addrlist_set_port(&h->al, p);
    }
    return 0;
}

void m_connect(struct worker *w, struct req *r)
{
    const char *path = param_str(r, "path");
    const char *host = param_str(r, "host");
    json_t *port = param(r, "port");
    bool by_handle = param(r, "address") != NULL;
    char service[64];
    if (!path && !by_handle && !(host && port)) {
        req_fail(r, NETD_E_PARAMS, NULL, "connect needs host and port, path, or address");
        return;
    }
    if (port && port_string(port, service, sizeof service) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'port' must be 0..65535 or a service name");
        return;
    }
    const char *type = param_str(r, "type");
    struct handle *h =
        handle_new(w, r, type && strcmp(type, "datagram") == 0 ? HK_DATAGRAM : HK_STREAM);
    if (!h)
        return;
    h->type = h->kind == HK_DATAGRAM ? SOCK_DGRAM : SOCK_STREAM;
    if (parse_bind(r, h) < 0) {
        handle_close(h, "bad bind");
        req_fail(r, NETD_E_PARAMS, NULL, "bindhost must be a numeric address and bindport a port");
        return;
    }
    if (sockopt_prepare(r, h) < 0) {
        handle_close(h, "bad options");
        return;
    }
    if (by_handle) {
        if (from_address_handle(w, r, h) < 0) {
            handle_close(h, "bad address");
            return;
        }
    } else if (path) {
        h->hostname = strdup(path);
        if (addrlist_unix(r, &h->al, path, h->type) < 0) {
            handle_close(h, "bad path");
            return;
        }
    } else {
        h->hostname = malloc(strlen(host) + strlen(service) + 2);
        sprintf(h->hostname, "%s:%s", host, service);
    }

    /* TLS hook: the session is set up before connecting, so bad options
     * fail at once. The host given is its default server name. */
    bool unix_dest = path || (h->al.count > 0 && h->al.addrs[0].ss_family == AF_UNIX);
    const char *given = by_handle ? h->hostname : host;
    h->host = given && !unix_dest ? strdup(given) : NULL;
    json_t *tls = param(r, "tls");
    if (tls && !json_is_false(tls) && tls_connect_prepare(h, r, tls, h->host) < 0) {
        handle_close(h, "bad tls");
        return;
    }

    /* Answering frees @r and its parameters: keep what resolution needs. */
    char *host_copy = host ? strdup(host) : NULL;
    if (param_bool(r, "wait", true))
        req_park(r, h, &h->connectors, WK_CONNECT, connect_timeout);
    else
        req_ok(r, json_pack("{s:s}", "handle", h->name));
    if (by_handle || path) {
        connect_next(h, 0);
    } else {
        h->on_resolved = connect_resolved;
        resolve_for(h, host_copy, service, AF_UNSPEC, h->type, 0);
    }
    free(host_copy);
}
