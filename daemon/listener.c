/*
 * listener.c - `listen` and `accept`.
 *
 * The listening socket is watched only while an accept waits. When the
 * process is out of descriptors (EMFILE/ENFILE) the watcher is stopped and
 * retried after a pause instead of spinning on a socket that stays readable.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "netd.h"
#include "tls.h"

#define ACCEPT_RETRY_SECONDS 0.1

static bool poll_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void listener_update(struct handle *h)
{
    /* TLS hook: connections that finished their handshake go out first,
     * and no more are accepted while too many handshakes are under way. */
    if (h->tls)
        tls_listener_pump(h);
    bool want = (h->acceptors.count > 0 || h->waiters.count > 0 || loop_can_accept(h)) &&
                !ev_is_active(&h->retry) && (!h->tls || tls_accept_room(h));
    if (want && !ev_is_active(&h->rio))
        ev_io_start(h->w->loop, &h->rio);
    else if (!want && ev_is_active(&h->rio))
        ev_io_stop(h->w->loop, &h->rio);
}

static void on_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    listener_update(t->data);
}

/* Hands one accepted descriptor to the request at the head of the queue. */
static void give(struct handle *l, int fd)
{
    struct req *r = l->acceptors.head;
    req_unpark(r);
    struct handle *h = handle_new(l->w, r, HK_STREAM);
    if (!h) {
        close(fd);
        return;
    }
    accepted_start(l, h, fd);
    h->hostname = strdup(l->name);
    req_ok(r, json_pack("{s:s}", "handle", h->name));
}

void accepted_start(struct handle *l, struct handle *h, int fd)
{
    if (l->tls)
        tls_adopt(l, h); /* TLS hook: the session whose handshake succeeded */
    stream_start(h, fd);
}

void listener_deliver(struct handle *l, int fd)
{
    /* A waiting `accept` goes before the loop. */
    if (l->acceptors.count > 0)
        give(l, fd);
    else
        loop_accepted(l, fd);
}

static void accept_some(struct handle *l)
{
    struct ev_loop *loop = l->w->loop;
    while ((l->acceptors.count > 0 || loop_can_accept(l)) && (!l->tls || tls_accept_room(l))) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (l->tls)
                tls_accept(l, fd); /* TLS hook: handed on after its handshake */
            else
                listener_deliver(l, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            netd_log(LOG_WARN, "%s: accept: %s; pausing accepts for %.1fs", l->name,
                     strerror(errno), ACCEPT_RETRY_SECONDS);
            ev_timer_set(&l->retry, ACCEPT_RETRY_SECONDS, 0.);
            ev_timer_start(loop, &l->retry);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            netd_log(LOG_WARN, "%s: accept: %s", l->name, strerror(errno));
        }
        break;
    }
    handle_check_waiters(l);
    listener_update(l);
}

static void on_acceptable(struct ev_loop *loop, ev_io *io, int revents)
{
    accept_some(io->data);
}

void listener_start(struct handle *h, int fd)
{
    h->fd = fd;
    h->state = HS_SUCCESS;
    ev_io_init(&h->rio, on_acceptable, fd, EV_READ);
    h->rio.data = h;
    ev_init(&h->retry, on_retry);
    h->retry.data = h;
}

static int listen_one(struct handle *h, struct req *r, size_t i)
{
    struct sockaddr *sa = (struct sockaddr *)&h->al.addrs[i];
    int fd = socket(sa->sa_family, h->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int on = 1;
    if (sa->sa_family != AF_UNIX) {
        if (param_bool(r, "reuseaddr", true))
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (param_bool(r, "reuseport", false))
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    }
    int rc = h->pre_opts ? sockopt_apply_pre(h, fd, sa->sa_family) : 0;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    json_t *bl = param(r, "backlog");
    int backlog = bl ? (int)json_integer_value(bl) : SOMAXCONN;
    if (bind(fd, sa, h->al.lens[i]) < 0 || (h->type == SOCK_STREAM && listen(fd, backlog) < 0)) {
        int e = errno;
        close(fd);
        return -e;
    }
    const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
    if (sa->sa_family == AF_UNIX && un->sun_path[0] != '\0')
        h->unix_path = strdup(un->sun_path);
    h->fd = fd;
    return 0;
}

static void listen_finish(struct handle *h, struct req *r, int err)
{
    if (err) {
        req_fail(r, NETD_E_OS, json_pack("{s:s}", "errno", netd_errno_name(err)),
                 "listen on %s: %s", h->hostname ? h->hostname : "?", strerror(err));
        handle_close(h, "listen failed");
        return;
    }
    if (h->kind == HK_DATAGRAM)
        stream_start(h, h->fd);
    else
        listener_start(h, h->fd);
    if (r->m->id == NETD_M_SERVER && h->kind == HK_LISTENER)
        loop_server_ready(h, r);
    req_ok(r, json_pack("{s:s}", "handle", h->name));
}

static void listen_resolved(struct handle *h, int gai, struct addrlist *al)
{
    struct req *r = h->connectors.head;
    if (!r) {
        /* Whoever asked has gone; nobody can learn this handle's name. */
        handle_close(h, "caller gone");
        return;
    }
    req_unpark(r);
    if (gai != 0 || al->count == 0) {
        req_fail(r, NETD_E_RESOLVE,
                 json_pack("{s:s}", "gai", netd_gai_name(gai ? gai : EAI_NONAME)),
                 "cannot resolve %s: %s", h->hostname, gai ? gai_strerror(gai) : "no address");
        handle_close(h, "resolve failed");
        return;
    }
    h->al = *al;
    memset(al, 0, sizeof *al);
    if (h->any_host)
        addrlist_inet6_first(&h->al); /* "::" is dual-stack: both families in one socket */
    int err = EADDRNOTAVAIL;
    for (size_t i = 0; i < h->al.count; i++) {
        int rc = listen_one(h, r, i);
        if (rc == 0) {
            err = 0;
            break;
        }
        err = -rc;
    }
    listen_finish(h, r, err);
}

static void listen_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "resolving %s took longer than the timeout", h->hostname);
    handle_close(h, "timeout");
}

void m_listen(struct worker *w, struct req *r)
{
    const char *path = param_str(r, "path");
    const char *host = param_str(r, "host");
    json_t *port = param(r, "port");
    char service[64];
    if (!path && !port) {
        req_fail(r, NETD_E_PARAMS, NULL, "listen needs port (and optionally host), or path");
        return;
    }
    if (port && port_string(port, service, sizeof service) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "parameter 'port' must be 0..65535 or a service name");
        return;
    }
    const char *type = param_str(r, "type");
    bool dgram = type && strcmp(type, "datagram") == 0;
    struct handle *h = handle_new(w, r, dgram ? HK_DATAGRAM : HK_LISTENER);
    if (!h)
        return;
    h->type = dgram ? SOCK_DGRAM : SOCK_STREAM;
    if (sockopt_prepare(r, h) < 0) {
        handle_close(h, "bad options");
        return;
    }
    json_t *tls = param(r, "tls");
    if (tls && !json_is_false(tls) && tls_listen_prepare(h, r, tls) < 0) {
        handle_close(h, "bad tls"); /* TLS hook: the server context lives on the listener */
        return;
    }
    if (path) {
        h->hostname = strdup(path);
        if (addrlist_unix(r, &h->al, path, h->type) < 0) {
            handle_close(h, "bad path");
            return;
        }
        int rc = listen_one(h, r, 0);
        listen_finish(h, r, rc < 0 ? -rc : 0);
        return;
    }
    h->hostname = malloc((host ? strlen(host) : 1) + strlen(service) + 2);
    sprintf(h->hostname, "%s:%s", host ? host : "*", service);
    h->on_resolved = listen_resolved;
    h->any_host = host == NULL;
    req_park(r, h, &h->connectors, WK_CONNECT, listen_timeout);
    resolve_for(h, host, service, AF_UNSPEC, h->type, AI_PASSIVE);
}

static void accept_timeout(struct req *r)
{
    struct handle *l = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "no connection arrived within the timeout");
    listener_update(l);
}

void m_accept(struct worker *w, struct req *r)
{
    struct handle *l = handle_get_kind(w, r, "handle", 1u << HK_LISTENER);
    if (!l)
        return;
    /* timeout 0: take a connection that is already queued, else fail now. */
    bool queued = poll_readable(l->fd);
    if (req_timeout(r) == 0 && (!queued || l->acceptors.count > 0)) {
        req_fail(r, NETD_E_TIMEOUT, NULL, "no connection is waiting");
        return;
    }
    req_park(r, l, &l->acceptors, WK_ACCEPT, accept_timeout);
    if (queued && !ev_is_active(&l->retry))
        accept_some(l);
    listener_update(l);
}

/* `server`: `listen`, then an accept loop; the answer comes at once and the
 * `accepted` notifications follow (loop.c). */
void m_server(struct worker *w, struct req *r)
{
    const char *type = param_str(r, "type");
    if (type && strcmp(type, "datagram") == 0) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "server needs a stream listener; use listen for datagrams");
        return;
    }
    m_listen(w, r);
}
