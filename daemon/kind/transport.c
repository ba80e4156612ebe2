/*
 * transport.c - the plain transport: a stream's bytes go straight to and
 * from its socket. TLS (tls/) implements the same table.
 */
#include <errno.h>
#include <sys/socket.h>

#include "kind.h"

static ssize_t plain_recv(struct sock *s, void *buf, size_t n)
{
    ssize_t k = recv(s->h.fd, buf, n, MSG_DONTWAIT);
    if (k >= 0)
        return k;
    return errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static ssize_t plain_send(struct sock *s, const void *buf, size_t n)
{
    /* On a caller's unix socket the bytes carry its credentials (SCM_CREDENTIALS). */
    ssize_t k =
        creds_send(s->scm ? s->h.ident : NULL, s->h.fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k >= 0)
        return k;
    return k == -EAGAIN || k == -EWOULDBLOCK || k == -EINTR ? 0 : k;
}

static size_t plain_none(struct sock *s)
{
    return 0;
}

static int plain_shutdown_write(struct sock *s)
{
    return shutdown(s->h.fd, SHUT_WR) < 0 ? -errno : 0;
}

/* Nothing to negotiate: the stream is ready as soon as the socket is. */
static void plain_start(struct sock *s, void (*done)(struct sock *s))
{
    sock_start(s, s->h.fd);
    done(s);
}

static json_t *plain_status(struct sock *s)
{
    return NULL;
}

static bool plain_fail(struct sock *s, struct req *r, int err, const char *what)
{
    return false;
}

static void plain_close(struct sock *s) {}

const struct transport plain_transport = {
    .name = "plain",
    .caps = TP_CAN_RELEASE | TP_CAN_OOB | TP_CAN_DISCONNECT | TP_CAN_UPGRADE | TP_CAN_SPLICE,
    .recv = plain_recv,
    .send = plain_send,
    .buffered = plain_none,
    .unsent = plain_none,
    .shutdown_write = plain_shutdown_write,
    .start = plain_start,
    .status = plain_status,
    .fail = plain_fail,
    .close = plain_close,
};
