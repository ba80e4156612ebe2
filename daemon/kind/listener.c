/*
 * listener.c - listeners: binding (`listen`, also for datagram sockets),
 * `accept`, the plain acceptor, and the listener kind's operations table.
 *
 * The listening socket is watched only while an accept waits. When the
 * process is out of descriptors (EMFILE/ENFILE) the watcher is stopped and
 * retried after a pause instead of spinning on a socket that stays readable,
 * and the `accept`s that wait are answered with the error at once.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "kind.h"

#define ACCEPT_RETRY_SECONDS 0.1

/* ---- the plain acceptor: a connection is handed on as accept(2) gave it ---- */

static bool plain_room(struct listener *l)
{
    return true;
}

static void plain_pump(struct listener *l) {}
static void plain_adopt(struct listener *l, struct sock *s) {}
static void plain_close(struct listener *l) {}

const struct acceptor plain_acceptor = {
    .name = "plain",
    .releasable = true,
    .room = plain_room,
    .accepted = listener_deliver,
    .pump = plain_pump,
    .adopt = plain_adopt,
    .close = plain_close,
};

static bool wants_connection(const struct listener *l)
{
    return l->acceptors.count > 0 || loop_can_accept(l);
}

void listener_update(struct listener *l)
{
    struct handle *h = &l->h;
    /* Connections the acceptor finished go out first (TLS: handshakes). */
    l->acc->pump(l);
    if (h->state != HS_SUCCESS)
        return;
    bool want = (wants_connection(l) || h->waiters.count > 0) && !ev_is_active(&l->retry) &&
                l->acc->room(l);
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
static void give(struct listener *l, int fd)
{
    struct req *r = l->acceptors.head;
    req_unpark(r);
    struct handle *h = handle_new(l->h.w, r, &stream_ops);
    if (!h) {
        close(fd);
        return;
    }
    l->acc->adopt(l, sock_of(h));
    sock_start(sock_of(h), fd);
    h->hostname = strdup(l->h.name);
    req_ok(r, json_pack("{s:s}", "handle", h->name));
}

void listener_deliver(struct listener *l, int fd)
{
    /* A waiting `accept` goes before the loop. */
    if (l->acceptors.count > 0)
        give(l, fd);
    else
        loop_accepted(l, fd);
}

/* accept(2) failed for want of descriptors or memory (@err): the
 * connection stays in the backlog and is retried every
 * ACCEPT_RETRY_SECONDS. The waiting `accept`s are told now rather than
 * left to their timeouts; accept loops just wait. Logged once until an
 * accept succeeds again, not at every retry. */
static void starved(struct listener *l, int err)
{
    if (!l->starved)
        netd_log(LOG_WARN, "%s: accept: %s; connections wait in the backlog", l->h.name,
                 strerror(err));
    l->starved = true;
    while (l->acceptors.head) {
        struct req *r = l->acceptors.head;
        req_unpark(r);
        req_fail(r, NETD_E_OS, json_pack("{s:s}", "errno", netd_errno_name(err)),
                 "accept on %s: %s: netd has no %s for the connection, which waits in the "
                 "backlog; close handles, then accept again",
                 l->h.name, strerror(err),
                 err == EMFILE || err == ENFILE ? "descriptor free" : "memory");
    }
}

static void accept_some(struct listener *l)
{
    struct ev_loop *loop = l->h.w->loop;
    while (wants_connection(l) && l->acc->room(l)) {
        /* As the listener's owner: the accepted socket is then its. */
        int fd = creds_accept(l->h.ident, l->h.fd, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            if (l->starved)
                netd_log(LOG_INFO, "%s: accepting again", l->h.name);
            l->starved = false;
            l->acc->accepted(l, fd);
            continue;
        }
        errno = -fd;
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            starved(l, errno);
            ev_timer_set(&l->retry, ACCEPT_RETRY_SECONDS, 0.);
            ev_timer_start(loop, &l->retry);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            netd_log(LOG_WARN, "%s: accept: %s", l->h.name, strerror(errno));
        }
        break;
    }
    handle_check_waiters(&l->h);
    listener_update(l);
}

static void listener_io(struct handle *h, int revents)
{
    accept_some(listener_of(h));
}

void listener_start(struct listener *l, int fd)
{
    struct handle *h = &l->h;
    h->fd = fd;
    h->state = HS_SUCCESS;
    if (!l->acc)
        l->acc = &plain_acceptor;
    handle_watch(h, fd);
    ev_init(&l->retry, on_retry);
    l->retry.data = l;
}

/* ---- binding ---- */

static int listen_one(struct handle *h, struct sockspec *spec, struct req *r, size_t i)
{
    struct sockaddr *sa = (struct sockaddr *)&spec->al.addrs[i];
    /* Made, set up and bound as the caller: the socket is its own, so the
     * kernel's SO_REUSEPORT group check and port privileges are the caller's. */
    int fd = creds_socket(h->ident, sa->sa_family, h->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    int on = 1;
    if (sa->sa_family != AF_UNIX) {
        if (param_bool(r, "reuseaddr", true))
            creds_setsockopt(h->ident, fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (param_bool(r, "reuseport", false))
            creds_setsockopt(h->ident, fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    }
    int rc = spec->pre_opts ? sockopt_apply_pre(h->ident, spec, fd, sa->sa_family) : 0;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    json_t *bl = param(r, "backlog");
    int backlog = bl ? (int)json_integer_value(bl) : SOMAXCONN;
    /* A granted address (a privileged port, an abstract name, a path) is bound as netd. */
    rc = unix_bind(spec->granted ? NULL : h->ident, fd, sa, spec->al.lens[i], spec);
    /* listen as the caller either way: a unix client's SO_PEERCRED of the
     * listener is then the caller. */
    if (rc == 0 && h->type == SOCK_STREAM)
        rc = creds_listen(sa->sa_family == AF_UNIX ? h->ident : NULL, fd, backlog);
    if (rc < 0) {
        unix_unbind(h->ident, spec, true);
        close(fd);
        return rc;
    }
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
    if (h->type == SOCK_DGRAM) {
        sock_start(sock_of(h), h->fd);
    } else {
        listener_start(listener_of(h), h->fd);
        if (r->m->id == NETD_M_SERVER)
            loop_start(listener_of(h), r);
    }
    req_ok(r, json_pack("{s:s}", "handle", h->name));
}

static struct sockspec *spec_of(struct handle *h)
{
    return h->type == SOCK_DGRAM ? &sock_of(h)->spec : &listener_of(h)->spec;
}

static void listen_resolved(struct handle *h, int gai, struct addrlist *al)
{
    struct sockspec *spec = spec_of(h);
    struct req *r = h->openers.head;
    if (!r) {
        /* Whoever asked has gone; nobody can learn this handle's name. */
        handle_close(h, "caller gone");
        return;
    }
    if (lookup_failed(h, r, gai, al)) {
        handle_close(h, "resolve failed");
        return;
    }
    spec->al = *al;
    memset(al, 0, sizeof *al);
    if (spec->any_host)
        addrlist_inet6_first(&spec->al); /* "::" is dual-stack: both families in one socket */
    int err = EADDRNOTAVAIL;
    for (size_t i = 0; i < spec->al.count; i++) {
        if (!spec_allows(spec, POLICY_LISTEN, i))
            continue;
        int rc = listen_one(h, spec, r, i);
        if (rc == 0) {
            err = 0;
            break;
        }
        err = -rc;
    }
    if (spec_all_denied(spec)) {
        req_fail(r, NETD_E_DENIED, json_pack("{s:s}", "rule", spec->deny_rule), "%s",
                 spec->deny_msg);
        handle_close(h, "denied");
        return;
    }
    listen_finish(h, r, err);
}

static void listen_timeout(struct req *r)
{
    struct handle *h = r->h;
    req_fail(r, NETD_E_TIMEOUT, NULL, "resolving %s took longer than the timeout", h->hostname);
    handle_close(h, "timeout");
}

void listen_start(struct handle *h, struct sockspec *spec, struct req *r, const char *host,
                  const char *service, const char *path)
{
    if (path) {
        h->hostname = strdup(path);
        int rc = addrlist_unix(&spec->al, path, h->type);
        if (rc < 0) {
            req_fail(r, NETD_E_PARAMS, NULL, "parameter 'path': %s", strerror(-rc));
            handle_close(h, "bad path");
            return;
        }
        int ok =
            access_check(r, POLICY_LISTEN, (struct sockaddr *)&spec->al.addrs[0], spec->al.lens[0]);
        if (ok < 0) {
            handle_close(h, "denied");
            return;
        }
        spec->granted = ok == 1;
        rc = listen_one(h, spec, r, 0);
        listen_finish(h, r, rc < 0 ? -rc : 0);
        return;
    }
    spec_set_caller(spec, r);
    h->hostname = malloc((host ? strlen(host) : 1) + strlen(service) + 2);
    sprintf(h->hostname, "%s:%s", host ? host : "*", service);
    spec->any_host = host == NULL;
    handle_park(r, h, &h->openers, WK_OPEN, listen_timeout);
    handle_resolve(h, listen_resolved, host, service, AF_UNSPEC, h->type, AI_PASSIVE);
}

/* ---- accept ---- */

static void accept_timeout(struct req *r)
{
    struct listener *l = listener_of(r->h);
    req_fail(r, NETD_E_TIMEOUT, NULL, "no connection arrived within the timeout");
    listener_update(l);
}

void listener_accept(struct listener *l, struct req *r)
{
    /* timeout 0: take a connection that is already queued, else fail now. */
    bool queued = (fd_poll_now(l->h.fd, POLLIN) & POLLIN) != 0;
    if (req_timeout(r) == 0 && (!queued || l->acceptors.count > 0)) {
        req_fail(r, NETD_E_TIMEOUT, NULL, "no connection is waiting");
        return;
    }
    handle_park(r, &l->h, &l->acceptors, WK_ACCEPT, accept_timeout);
    if (queued && !ev_is_active(&l->retry))
        accept_some(l);
    listener_update(l);
}

/* ---- the listener kind ---- */

static void listener_update_op(struct handle *h)
{
    listener_update(listener_of(h));
}

static bool listener_ready(struct handle *h, int wf)
{
    switch (wf) {
    case WF_CONNECTED:
    case WF_DRAINED:
        return h->state != HS_WAITING;
    case WF_READABLE:
        return h->state == HS_FAILURE ||
               (fd_poll_now(h->fd, POLLIN) & (POLLIN | POLLHUP | POLLERR));
    case WF_WRITABLE:
        return h->state == HS_FAILURE ||
               (h->state == HS_SUCCESS &&
                (fd_poll_now(h->fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP)));
    case WF_ERROR:
        return h->state == HS_FAILURE || (fd_poll_now(h->fd, 0) & POLLERR);
    }
    return false;
}

static void listener_status(struct handle *h, json_t *st)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (h->fd >= 0 && getsockname(h->fd, (struct sockaddr *)&ss, &len) == 0)
        json_object_set_new(st, "local", sockaddr_json((struct sockaddr *)&ss, len));
    json_object_set_new(st, "readable", json_integer(0));
    json_object_set_new(st, "pending", json_integer(0));
    json_object_set_new(st, "bytes_in", json_integer(0));
    json_object_set_new(st, "bytes_out", json_integer(0));
}

static size_t listener_cancel(struct handle *h)
{
    struct listener *l = listener_of(h);
    size_t n = reqlist_abort(&l->acceptors, "cancelled");
    listener_update(l);
    return n;
}

static void listener_close(struct handle *h, const char *why)
{
    struct listener *l = listener_of(h);
    reqlist_abort(&l->acceptors, why);
    loop_listener_closed(l);
    if (l->acc)
        l->acc->close(l);
    ev_timer_stop(h->w->loop, &l->retry);
    /* A released listener (its descriptor taken) keeps its file: the caller's
     * descriptor still takes connections there. */
    unix_unbind(h->ident, &l->spec, h->fd >= 0);
}

static void listener_conn_gone(struct handle *h, uint64_t conn_id)
{
    struct listener *l = listener_of(h);
    reqlist_drop_conn(&l->acceptors, conn_id);
    reqlist_drop_conn(&l->loopers, conn_id);
    loop_conn_gone(l, conn_id);
}

static void listener_free(struct handle *h)
{
    struct listener *l = listener_of(h);
    addrlist_free(&l->spec.al);
    json_decref(l->spec.pre_opts);
    spec_free_caller(&l->spec);
}

/* ---- carried over a restart: connections not yet accepted wait in the backlog ---- */

static int listener_save(struct handle *h, json_t *rec, int *fd)
{
    struct listener *l = listener_of(h);
    if ((l->acc && !l->acc->releasable) || h->fd < 0)
        return -ENOTSUP;
    if (!rec)
        return 0;
    carry_spec_save(&l->spec, rec);
    *fd = handle_give_fd(h);
    return 0;
}

static int listener_restore(struct handle *h, const json_t *rec, int fd)
{
    if (fd < 0)
        return -EINVAL;
    struct listener *l = listener_of(h);
    carry_spec_restore(&l->spec, rec);
    listener_start(l, fd);
    return 0;
}

const struct handle_ops listener_ops = {
    .save = listener_save,
    .restore = listener_restore,
    .kind = HK_LISTENER,
    .size = sizeof(struct listener),
    .waits = 1u << WF_CONNECTED | 1u << WF_READABLE | 1u << WF_WRITABLE | 1u << WF_DRAINED |
             1u << WF_ERROR,
    .io = listener_io,
    .update = listener_update_op,
    .ready = listener_ready,
    .status = listener_status,
    .cancel = listener_cancel,
    .close = listener_close,
    .conn_gone = listener_conn_gone,
    .free = listener_free,
    .releasable = listener_releasable,
};
