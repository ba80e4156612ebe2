/*
 * fdpass.c - sockets that come from or go to the caller as descriptors:
 * `pair`, `release`, `assign`; and `local-addresses`.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netd.h"

void m_pair(struct worker *w, struct req *r)
{
    const char *t = param_str(r, "type");
    int type = t && strcmp(t, "datagram") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    int sv[2];
    if (socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        req_fail_errno(r, errno, "socketpair");
        return;
    }
    enum hkind kind = type == SOCK_DGRAM ? HK_DATAGRAM : HK_STREAM;
    struct handle *a =
        handle_create(w, r->conn_id, r->conn_worker, r->uid, param_bool(r, "keep", false), kind);
    struct handle *b =
        a ? handle_create(w, r->conn_id, r->conn_worker, r->uid, param_bool(r, "keep", false), kind)
          : NULL;
    if (!b) {
        if (a)
            handle_close(a, "limit");
        close(sv[0]);
        close(sv[1]);
        handle_fail_quota(r);
        return;
    }
    a->type = b->type = type;
    stream_start(a, sv[0]);
    stream_start(b, sv[1]);
    req_ok(r, json_pack("{s:[s,s]}", "handles", a->name, b->name));
}

/* The descriptor leaves netd with the answer; the handle ends quietly. */
void m_release(struct worker *w, struct req *r)
{
    unsigned kinds = (1u << HK_STREAM) | (1u << HK_LISTENER) | (1u << HK_DATAGRAM);
    struct handle *h = handle_get_kind(w, r, "handle", kinds);
    if (!h)
        return;
    if (h->tls) {
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", "tls"),
                 "a TLS stream cannot be released: its session state lives in netd");
        return;
    }
    if (h->fd < 0 || h->state != HS_SUCCESS) {
        req_fail_errno(r, ENOTCONN, "release");
        return;
    }
    if (param_bool(r, "dup", false) && h->kind == HK_LISTENER) {
        /* Another process accepting on the same listener could leave netd's
         * accept waiting on a connection that is gone. */
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", "listener"),
                 "a listener cannot be shared; release it without dup");
        return;
    }
    if (param_bool(r, "dup", false)) {
        /* lua-net's sock:fd(): the caller shares the socket, netd keeps it. */
        r->pass_fd = fcntl(h->fd, F_DUPFD_CLOEXEC, 0);
        if (r->pass_fd < 0)
            req_fail_errno(r, errno, "release");
        else
            req_ok(r, json_object());
        return;
    }
    /* Bytes netd read but did not deliver, or accepted but did not send,
     * cannot go with the descriptor: the caller takes them first. Calls
     * still waiting on the handle end with `aborted`, as in Asio. */
    if (buf_used(&h->rbuf) > 0 || h->wq_bytes > 0) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "%s has %zu bytes read but not delivered and %zu not yet sent; read them or "
                 "wait for \"drained\" first",
                 h->name, buf_used(&h->rbuf), h->wq_bytes);
        return;
    }
    ev_io_stop(w->loop, &h->rio);
    ev_io_stop(w->loop, &h->wio);
    int fd = h->fd;
    h->fd = -1;
    /* The caller gets a blocking descriptor, as a fresh socket would be. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    handle_close(h, "released");
    r->pass_fd = fd;
    req_ok(r, json_object());
}

void m_assign(struct worker *w, struct req *r)
{
    int fd = r->pass_fd;
    int type = 0, acc = 0;
    socklen_t len = sizeof type;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 fd < 0 ? "assign needs a socket descriptor passed with SCM_RIGHTS on the same "
                          "message"
                        : "the descriptor passed is not a socket");
        return;
    }
    len = sizeof acc;
    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
    enum hkind kind = acc ? HK_LISTENER : type == SOCK_DGRAM ? HK_DATAGRAM : HK_STREAM;
    if (type != SOCK_STREAM && type != SOCK_DGRAM) {
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", "other"),
                 "only stream and datagram sockets can be assigned");
        return;
    }
    struct handle *h = handle_new(w, r, kind);
    if (!h)
        return;
    r->pass_fd = -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    h->type = type;
    if (kind == HK_LISTENER)
        listener_start(h, fd);
    else
        stream_start(h, fd);
    req_ok(r, json_pack("{s:s}", "handle", h->name));
}

void m_local_addresses(struct worker *w, struct req *r)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) < 0) {
        req_fail_errno(r, errno, "getifaddrs");
        return;
    }
    json_t *list = json_array();
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        socklen_t len = i->ifa_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                          : sizeof(struct sockaddr_in6);
        json_t *a = sockaddr_json(i->ifa_addr, len);
        json_object_del(a, "port");
        json_object_set_new(a, "interface", json_string(i->ifa_name));
        json_object_set_new(a, "up", json_boolean(i->ifa_flags & IFF_UP));
        json_object_set_new(a, "loopback", json_boolean(i->ifa_flags & IFF_LOOPBACK));
        json_array_append_new(list, a);
    }
    freeifaddrs(ifa);
    req_ok(r, json_pack("{s:o}", "addresses", list));
}

/* Emilua's disconnect(): connect(2) to AF_UNSPEC dissolves the association
 * with the peer (a TCP connection is aborted). */
void m_disconnect(struct worker *w, struct req *r)
{
    struct handle *h = handle_get_kind(w, r, "handle", (1u << HK_STREAM) | (1u << HK_DATAGRAM));
    if (!h)
        return;
    if (h->tls) {
        req_fail(r, NETD_E_WRONG_KIND, json_pack("{s:s}", "kind", "tls"),
                 "a TLS stream ends with close (close_notify), not disconnect");
        return;
    }
    struct sockaddr sa = {.sa_family = AF_UNSPEC};
    if (h->fd < 0 || connect(h->fd, &sa, sizeof sa) < 0) {
        req_fail_errno(r, h->fd < 0 ? ENOTCONN : errno, "disconnect");
        return;
    }
    stream_disconnected(h);
    req_ok(r, json_object());
}
