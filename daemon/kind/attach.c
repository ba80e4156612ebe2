/*
 * attach.c - `attach` and `splice`: the owners of relays (relay.c), what
 * each checks first, and what happens when a relay ends.
 *
 * attach "fd": the stream is relayed to one end of a new AF_UNIX socket
 * pair; the other end leaves with the answer. attach "upgrade": the relay
 * waits for the control connection's own socket, which rpc/ hands over
 * (relay_give_client) once the answer line is out, with the bytes the
 * client sent after its request. Either way the handle ends with its relay
 * (its owner hears `closed` when it is kept or looped).
 *
 * splice: when a and b live on the same worker one relay joins them. When
 * they do not, each worker runs a relay of its own handle to one end of a
 * socket pair, so the kernel carries the bytes between the threads and
 * neither handle's socket or TLS session moves: a's worker reserves a and
 * passes the request on to b's worker, which starts b's half, keeps the
 * request (the splice's "home") and sends a's worker the other end of the
 * pair. A half that ends reports to the home; a reset or a close on one
 * side is passed to the other half by a message, since a socket pair
 * cannot carry a reset. The home answers (or notifies `spliced`) once both
 * halves have reported. The handles stay open after a splice.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay.h"
#include "handlename.h"
#include "rpc.h"

/* What a relayed stream must be, for attach and splice; if not, @r is answered. */
static bool can_relay(struct sock *s, struct req *r)
{
    struct handle *h = &s->h;
    if (relay_refuse(s, r, r->m->name))
        return false;
    if (h->state == HS_FAILURE) {
        handle_fail_req(r, h);
        return false;
    }
    if (h->state != HS_SUCCESS || h->fd < 0) {
        req_fail(r, NETD_E_OS, json_pack("{s:s}", "errno", "ENOTCONN"),
                 "%s: %s is not connected yet; wait {for: \"connected\"} first", r->m->name,
                 h->name);
        return false;
    }
    if (s->readers.count > 0) {
        req_fail(r, NETD_E_PARAMS, NULL,
                 "%s: reads are waiting on %s; let them finish (or cancel them) first", r->m->name,
                 h->name);
        return false;
    }
    return true;
}

/* ---- attach ---- */

static void attach_done(struct relay *rl)
{
    struct sock *s = rl->end[0].s; /* NULL when the handle was closed */
    if (!s)
        return;
    handle_notify_closed(&s->h, rl->reason);
    handle_close(&s->h, "the attached stream ended");
}

void stream_attach(struct sock *s, struct req *r, bool upgrade)
{
    if (!can_relay(s, r))
        return;
    int sv[2] = {-1, -1};
    int rc = upgrade ? 0 : creds_socketpair(r->ident, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    if (rc < 0) {
        req_fail_errno(r, -rc, "attach: socketpair");
        return;
    }
    struct relay *rl = relay_new(s->h.w, attach_done);
    if (!rl) {
        if (sv[0] >= 0) {
            close(sv[0]);
            close(sv[1]);
        }
        req_fail(r, NETD_E_INTERNAL, NULL, "attach: out of memory");
        return;
    }
    relay_add_sock(rl, 0, s);
    json_t *res = json_pack("{s:s,s:s}", "handle", s->h.name, "mode", upgrade ? "upgrade" : "fd");
    if (upgrade) {
        /* The connection will speak no more JSON-RPC: a handle it owns
         * belongs to the relay now, which alone ends it. */
        rl->upgrade = true;
        if (!s->h.kept)
            s->h.owner_conn = 0;
        r->u.attach.worker = s->h.w->index;
        r->u.attach.relay = rl->id;
        req_ok(r, res);
        return;
    }
    relay_add_fd(rl, 1, sv[0], s->h.ident); /* the caller's: it may hand it on */
    r->pass_fd = sv[1];                     /* blocking, as a fresh socket would be */
    req_ok(r, res);
    relay_start(rl);
}

struct give_msg {
    struct msg hdr;
    uint64_t relay;
    int fd;
    uint8_t *held;
    size_t len;
};

static void on_give(struct worker *w, struct msg *m)
{
    struct give_msg *gm = (struct give_msg *)m;
    struct relay *rl = relay_find(w, gm->relay);
    bool ok = rl && rl->upgrade && !rl->started && gm->fd >= 0 && !w->stopping;
    if (ok) {
        /* The client's control connection, the caller's own socket from now on. */
        relay_add_fd(rl, 1, gm->fd, rl->end[0].type == RE_SOCK ? rl->end[0].s->h.ident : NULL);
        if (gm->len)
            relay_hold(rl, 1, gm->held, gm->len);
        else
            free(gm->held);
        relay_start(rl);
    } else {
        if (gm->fd >= 0)
            close(gm->fd);
        free(gm->held);
        if (rl && rl->upgrade && !rl->started)
            relay_end(rl, "closed", 0); /* the connection went before it could be handed over */
    }
    free(gm);
}

void relay_give_client(int worker, uint64_t relay, int fd, uint8_t *held, size_t len)
{
    struct give_msg *gm = calloc(1, sizeof *gm);
    if (!gm) {
        if (fd >= 0)
            close(fd);
        free(held);
        return;
    }
    gm->hdr.fn = on_give;
    gm->relay = relay;
    gm->fd = fd;
    gm->held = held;
    gm->len = len;
    worker_post(worker, &gm->hdr);
}

/* ---- splice ---- */

/* Where a splice is answered from (b's worker, or the one of both). */
struct home {
    struct req *r; /* NULL once answered at once (wait: false) */
    int conn_worker;
    uint64_t conn_id;
    char a[32], b[32];
    uint64_t a_to_b, b_to_a;
    const char *reason;
    int halves; /* still to report */
};

/* How two reasons combine: a failure says more than a close, which says
 * more than the end of both streams. */
static int reason_rank(const char *reason)
{
    if (!reason || strcmp(reason, "eof") == 0)
        return 0;
    return strcmp(reason, "closed") == 0 ? 1 : 2;
}

static void home_report(struct worker *w, struct home *hm, bool into_a, uint64_t moved,
                        const char *reason)
{
    if (into_a)
        hm->b_to_a = moved;
    else
        hm->a_to_b = moved;
    if (reason_rank(reason) > reason_rank(hm->reason))
        hm->reason = reason;
    if (--hm->halves > 0)
        return;
    json_t *res = json_pack("{s:I,s:I,s:s}", "a_to_b", (json_int_t)hm->a_to_b, "b_to_a",
                            (json_int_t)hm->b_to_a, "reason", hm->reason ? hm->reason : "eof");
    if (hm->r) {
        req_ok(hm->r, res);
    } else {
        json_object_set_new(res, "a", json_string(hm->a));
        json_object_set_new(res, "b", json_string(hm->b));
        handle_notify(hm->conn_worker, hm->conn_id, netd_rpc_notification("spliced", res), -1, 0);
    }
    relay_homes_add(w, -1);
    free(hm);
}

static struct home *home_new(struct worker *w, struct req *r, const char *a, const char *b,
                             int halves)
{
    struct home *hm = calloc(1, sizeof *hm);
    if (!hm)
        return NULL;
    hm->conn_worker = r->conn_worker;
    hm->conn_id = r->conn_id;
    snprintf(hm->a, sizeof hm->a, "%s", a);
    snprintf(hm->b, sizeof hm->b, "%s", b);
    hm->halves = halves;
    relay_homes_add(w, 1);
    if (param_bool(r, "wait", true))
        hm->r = r;
    else
        req_ok(r, json_object());
    return hm;
}

/* One relay between a and b, both on this worker. */
static void whole_done(struct relay *rl)
{
    struct home *hm = rl->owner;
    if (!hm)
        return; /* never started */
    home_report(rl->w, hm, false, rl->dir[0].moved, rl->reason);
    home_report(rl->w, hm, true, rl->dir[1].moved, NULL);
}

static void splice_here(struct worker *w, struct req *r, struct sock *a, struct sock *b)
{
    struct relay *rl = relay_new(w, whole_done);
    struct home *hm = rl ? home_new(w, r, a->h.name, b->h.name, 2) : NULL;
    if (!hm) {
        if (rl)
            relay_end(rl, "closed", 0); /* never started, no ends yet */
        req_fail(r, NETD_E_INTERNAL, NULL, "splice: out of memory");
        return;
    }
    rl->owner = hm;
    rl->spliced = true;
    relay_add_sock(rl, 0, a);
    relay_add_sock(rl, 1, b);
    relay_start(rl);
}

/* Messages between the halves of a splice across workers. */
enum { SM_ABANDON, SM_GO, SM_EOF, SM_STOP, SM_RESET, SM_REPORT };

struct splice_msg {
    struct msg hdr;
    int what;
    uint64_t relay;    /* the relay it is for, on the receiving worker */
    int fd;            /* SM_GO: a's end of the pair */
    int from_worker;   /* SM_GO: where b's half runs */
    uint64_t from_id;  /* SM_GO: b's half */
    struct home *home; /* SM_GO, SM_REPORT: dereferenced on the home's worker only */
    uint64_t moved;    /* SM_REPORT: bytes into a */
    const char *reason;
    int err; /* SM_RESET */
};

static void on_splice_msg(struct worker *w, struct msg *m);

static void splice_post(int worker, struct splice_msg tmpl)
{
    struct splice_msg *sm = malloc(sizeof *sm);
    if (!sm) {
        if (tmpl.fd >= 0)
            close(tmpl.fd);
        return;
    }
    *sm = tmpl;
    sm->hdr.fn = on_splice_msg;
    worker_post(worker, &sm->hdr);
}

/* Tells the other half how this one ended: a failure resets it, a close
 * stops it, and an end of both directions lets it end once it has
 * delivered what the pair still holds. */
static void tell_peer(struct relay *rl)
{
    int rank = reason_rank(rl->reason);
    if (!rl->peer_id)
        return;
    splice_post(rl->peer_worker, (struct splice_msg){.what = rank == 2   ? SM_RESET
                                                             : rank == 1 ? SM_STOP
                                                                         : SM_EOF,
                                                     .relay = rl->peer_id,
                                                     .fd = -1,
                                                     .reason = rl->reason,
                                                     .err = rl->err});
}

/* a's half (on a's worker) ended. */
static void half_a_done(struct relay *rl)
{
    tell_peer(rl);
    if (rl->owner)
        splice_post(rl->peer_worker, (struct splice_msg){.what = SM_REPORT,
                                                         .fd = -1,
                                                         .home = rl->owner,
                                                         .moved = rl->dir[1].moved,
                                                         .reason = rl->reason});
}

/* b's half (on the home's worker) ended. */
static void half_b_done(struct relay *rl)
{
    if (!rl->owner)
        return; /* never started */
    tell_peer(rl);
    home_report(rl->w, rl->owner, false, rl->dir[1].moved, rl->reason);
}

/* Whether a, which the unstarted half @rl waits to relay, is still there
 * and free (it is only taken when the splice starts). */
static struct sock *pending_a(struct worker *w, struct relay *rl)
{
    struct sock *a = rl && !rl->started && !w->stopping ? rl->pending : NULL;
    if (!a || handle_find(w, rl->pending_seq) != &a->h)
        return NULL; /* closed meanwhile */
    bool free = !a->relay && a->h.state == HS_SUCCESS && a->readers.count == 0;
    return free ? a : NULL;
}

static void on_go(struct worker *w, struct splice_msg *sm)
{
    struct relay *rl = relay_find(w, sm->relay);
    struct sock *a = pending_a(w, rl);
    if (!a) {
        /* a was closed (or taken) meanwhile: b's half stops, the home hears it. */
        close(sm->fd);
        if (rl)
            relay_end(rl, "closed", 0);
        splice_post(sm->from_worker,
                    (struct splice_msg){.what = SM_STOP, .relay = sm->from_id, .fd = -1});
        splice_post(
            sm->from_worker,
            (struct splice_msg){.what = SM_REPORT, .fd = -1, .home = sm->home, .reason = "closed"});
        return;
    }
    rl->owner = sm->home;
    rl->peer_worker = sm->from_worker;
    rl->peer_id = sm->from_id;
    relay_add_sock(rl, 0, a);
    relay_add_fd(rl, 1, sm->fd, NULL); /* the pair between the halves: only netd reads it */
    relay_start(rl);
}

static void on_splice_msg(struct worker *w, struct msg *m)
{
    struct splice_msg *sm = (struct splice_msg *)m;
    struct relay *rl = sm->what == SM_GO || sm->what == SM_REPORT ? NULL : relay_find(w, sm->relay);
    switch (sm->what) {
    case SM_GO:
        on_go(w, sm);
        break;
    case SM_REPORT:
        home_report(w, sm->home, true, sm->moved, sm->reason);
        break;
    case SM_ABANDON:
        if (rl && !rl->started)
            relay_end(rl, "closed", 0);
        break;
    case SM_EOF:
        if (rl) {
            rl->peer_id = 0;
            rl->peer_ended = true;
            if (rl->peer_wait)
                relay_end(rl, "eof", 0);
        }
        break;
    case SM_STOP:
        if (rl) {
            rl->peer_id = 0; /* it knows */
            relay_end(rl, sm->reason ? sm->reason : "closed", 0);
        }
        break;
    case SM_RESET:
        if (rl) {
            rl->peer_id = 0;
            relay_end(rl, sm->reason, sm->err ? sm->err : ECONNRESET);
        }
        break;
    }
    free(sm);
}

/* On a's worker: a half that will relay a is made, not started; b's worker
 * goes on. a stays as it is until the half starts (a failure on b's side
 * then leaves nothing to undo that a caller could notice). */
static void splice_reserve_a(struct worker *w, struct req *r, struct sock *a, int b_worker)
{
    struct relay *rl = relay_new(w, half_a_done);
    if (!rl) {
        req_fail(r, NETD_E_INTERNAL, NULL, "splice: out of memory");
        return;
    }
    rl->spliced = rl->internal_fd = true;
    rl->pending = a;
    rl->pending_seq = a->h.seq;
    r->u.splice.phase = 1;
    r->u.splice.a_worker = w->index;
    r->u.splice.a_relay = rl->id;
    req_forward(r, b_worker);
}

/* On b's worker, with a reserved on its own. */
static void splice_start_b(struct worker *w, struct req *r, struct sock *b)
{
    int aw = r->u.splice.a_worker;
    uint64_t aid = r->u.splice.a_relay;
    int sv[2];
    struct relay *rl = NULL;
    struct home *hm = NULL;
    int prc = creds_socketpair(r->ident, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
    if (prc < 0) {
        req_fail_errno(r, -prc, "splice: socketpair");
    } else if (!(rl = relay_new(w, half_b_done)) ||
               !(hm = home_new(w, r, param_str(r, "a"), b->h.name, 2))) {
        if (rl)
            relay_end(rl, "closed", 0);
        close(sv[0]);
        close(sv[1]);
        req_fail(r, NETD_E_INTERNAL, NULL, "splice: out of memory");
    }
    if (!hm) {
        splice_post(aw, (struct splice_msg){.what = SM_ABANDON, .relay = aid, .fd = -1});
        return;
    }
    rl->owner = hm;
    rl->spliced = rl->internal_fd = true;
    rl->peer_worker = aw;
    rl->peer_id = aid;
    relay_add_sock(rl, 0, b);
    relay_add_fd(rl, 1, sv[1], NULL);
    splice_post(aw, (struct splice_msg){.what = SM_GO,
                                        .relay = aid,
                                        .fd = sv[0],
                                        .from_worker = w->index,
                                        .from_id = rl->id,
                                        .home = hm});
    relay_start(rl);
}

/* The stream handle named by @param, fit to be relayed; NULL: @r answered. */
static struct sock *splice_side(struct worker *w, struct req *r, const char *param)
{
    struct handle *h = handle_get_kind(w, r, param, 1u << HK_STREAM);
    if (!h)
        return NULL;
    struct sock *s = sock_of(h);
    return can_relay(s, r) ? s : NULL;
}

void stream_splice(struct worker *w, struct req *r)
{
    if (r->u.splice.phase == 1) {
        int aw = r->u.splice.a_worker; /* @r is gone once answered */
        uint64_t aid = r->u.splice.a_relay;
        struct sock *b = splice_side(w, r, "b");
        if (b)
            splice_start_b(w, r, b);
        else
            splice_post(aw, (struct splice_msg){.what = SM_ABANDON, .relay = aid, .fd = -1});
        return;
    }
    const char *an = param_str(r, "a"), *bn = param_str(r, "b");
    if (strcmp(an, bn) == 0) {
        req_fail(r, NETD_E_PARAMS, NULL, "splice: a and b are the same handle (%s)", an);
        return;
    }
    int bw;
    uint64_t bseq;
    if (netd_handle_parse(bn, strlen(bn), &bw, &bseq) < 0 || bw >= netd_nworkers) {
        req_fail(r, NETD_E_UNKNOWN_HANDLE, NULL, "unknown handle: %.64s", bn);
        return;
    }
    struct sock *a = splice_side(w, r, "a");
    if (!a)
        return;
    if (bw != w->index) {
        splice_reserve_a(w, r, a, bw);
        return;
    }
    struct sock *b = splice_side(w, r, "b");
    if (b)
        splice_here(w, r, a, b);
}
