/*
 * tls_accept.c - the TLS acceptor: the server context a listener keeps, and
 * the server handshakes of the connections it accepts.
 *
 * An accepted connection runs its handshake on its own, before anyone sees
 * it; only one that completes it is handed to a waiting `accept` or to the
 * accept loop (listener_deliver). So a client that fails the handshake, or
 * never finishes it, costs nothing but its own socket: no accept is answered
 * with its error, no handle is made, and other connections go on. At most
 * MAX_PENDING connections of a listener are between accept(2) and being
 * handed on; the kernel's backlog holds the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls_int.h"

#define MAX_PENDING 64
#define HANDSHAKE_SECONDS 10.0

struct tls_server {
    WOLFSSL_CTX *ctx;
    struct tls_opts opts; /* what each session needs (verify_client, alpn); no paths */
    struct listener *l;
    struct tls_sess *shaking;                 /* handshakes in progress */
    struct tls_sess *ready_head, *ready_tail; /* handshakes done, in order */
    unsigned count;                           /* shaking + ready */
    struct tls_sess *handing;                 /* the one listener_deliver() is handing on */
};

int tls_listen_prepare(struct listener *l, struct req *r, const json_t *tls)
{
    struct tls_opts o = {.server = true};
    if (tls_opts_parse(r, tls, false, "tls.", &o) < 0)
        return -1;
    struct tls_why why = {0};
    WOLFSSL_CTX *ctx = tls_ctx_get(r, &o, &why);
    struct tls_server *srv = ctx ? calloc(1, sizeof *srv) : NULL;
    if (!srv) {
        if (ctx)
            wolfSSL_CTX_free(ctx);
        if (ctx)
            snprintf(why.msg, sizeof why.msg, "out of memory");
        tls_why_fail(r, &why);
        return -1;
    }
    srv->ctx = ctx;
    srv->opts = o;
    srv->opts.servername = srv->opts.cafile = srv->opts.capath = NULL;
    srv->opts.cert = srv->opts.key = NULL; /* borrowed from the request, which ends */
    srv->l = l;
    l->acc_state = srv;
    l->acc = &tls_acceptor;
    return 0;
}

static bool tls_room(struct listener *l)
{
    const struct tls_server *srv = l->acc_state;
    return srv && srv->count < MAX_PENDING;
}

static void unlink_shaking(struct tls_server *srv, struct tls_sess *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->shaking = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

/* Drops a connection nobody has seen: its socket is closed, the session freed. */
static void drop(struct tls_server *srv, struct tls_sess *s)
{
    srv->count--;
    close(s->fd);
    tls_sess_free(s);
}

static void on_handshake_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct tls_sess *s = t->data;
    snprintf(s->io_why.msg, sizeof s->io_why.msg, "TLS handshake: not finished within %.0f seconds",
             HANDSHAKE_SECONDS);
    tls_hs_ended_accepted(s, false);
}

static void tls_accepted(struct listener *l, int fd)
{
    struct tls_server *srv = l->acc_state;
    struct tls_why why = {0};
    struct tls_sess *s = tls_sess_new(l->h.w, srv->ctx, &srv->opts, NULL, &why);
    if (!s) {
        netd_log(LOG_WARN, "%s: %s; closing an accepted connection", l->h.name, why.msg);
        close(fd);
        return;
    }
    s->srv = srv;
    s->next = srv->shaking;
    if (srv->shaking)
        srv->shaking->prev = s;
    srv->shaking = s;
    srv->count++;
    ev_timer_init(&s->timer, on_handshake_timeout, HANDSHAKE_SECONDS, 0.);
    ev_timer_start(l->h.w->loop, &s->timer);
    tls_hs_begin(s, fd, l->h.ident); /* may end at once, in tls_hs_ended_accepted() */
}

void tls_hs_ended_accepted(struct tls_sess *s, bool ok)
{
    struct tls_server *srv = s->srv;
    struct listener *l = srv->l;
    ev_timer_stop(s->w->loop, &s->timer);
    ev_io_stop(s->w->loop, &s->hs_io);
    unlink_shaking(srv, s);
    if (!ok) {
        /* Only this connection is affected; its client has had the alert. */
        netd_log(LOG_INFO, "%s: an accepted connection failed: %s", l->h.name, s->io_why.msg);
        drop(srv, s);
    } else {
        if (srv->ready_tail)
            srv->ready_tail->next = s;
        else
            srv->ready_head = s;
        srv->ready_tail = s;
    }
    listener_update(l); /* hands it on, and accepts more now that there is room */
}

static void tls_pump(struct listener *l)
{
    struct tls_server *srv = l->acc_state;
    while (srv && srv->ready_head && l->h.state == HS_SUCCESS &&
           (l->acceptors.count > 0 || loop_can_accept(l))) {
        struct tls_sess *s = srv->ready_head;
        srv->ready_head = s->next;
        if (!srv->ready_head)
            srv->ready_tail = NULL;
        s->next = NULL;
        s->srv = NULL;
        srv->count--;
        srv->handing = s;
        listener_deliver(l, s->fd);
        if (srv->handing) {
            /* No handle could be made (limit); the socket is closed already. */
            srv->handing = NULL;
            tls_sess_free(s);
        }
    }
}

static void tls_adopt(struct listener *l, struct sock *sk)
{
    struct tls_server *srv = l->acc_state;
    struct tls_sess *s = srv ? srv->handing : NULL;
    if (!s)
        return;
    srv->handing = NULL;
    s->sk = sk;
    sk->tp_state = s;
    sk->tp = &tls_transport;
}

static void tls_close_acceptor(struct listener *l)
{
    struct tls_server *srv = l->acc_state;
    if (!srv)
        return;
    l->acc_state = NULL;
    while (srv->shaking) {
        struct tls_sess *s = srv->shaking;
        unlink_shaking(srv, s);
        drop(srv, s);
    }
    while (srv->ready_head) {
        struct tls_sess *s = srv->ready_head;
        srv->ready_head = s->next;
        drop(srv, s);
    }
    wolfSSL_CTX_free(srv->ctx);
    free(srv);
}

const struct acceptor tls_acceptor = {
    .name = "tls",
    .releasable = false,
    .room = tls_room,
    .accepted = tls_accepted,
    .pump = tls_pump,
    .adopt = tls_adopt,
    .close = tls_close_acceptor,
};
