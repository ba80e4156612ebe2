/*
 * relay.h - what relay.c (the relay between two ends) shares with attach.c
 * (attach and splice, which own relays) and stream.c (which hands a
 * relayed stream's events to its relay). The layers above use kind.h.
 */
#ifndef NETD_KIND_RELAY_H
#define NETD_KIND_RELAY_H

#include "kind.h"

enum rend_type { RE_NONE, RE_SOCK, RE_FD };

/* One end: a stream handle, or a bare descriptor the relay owns. */
struct rend {
    enum rend_type type;
    struct sock *s; /* RE_SOCK */
    int fd;         /* RE_FD: closed when the relay ends */
    ev_io rio, wio; /* RE_FD: the relay's own watchers */
    bool closed;    /* it was a stream whose handle closed while relaying */
    /* RE_FD: the caller whose credentials the bytes netd sends into it carry (an
     * attach's socket, which its caller may hand on), a reference; NULL: netd's own. */
    struct ident *scm;
};

/* One direction, from src to dst: a pipe when both ends are kernel
 * descriptors (splice(2)), else a buffer. */
struct rdir {
    struct rend *src, *dst;
    int pipe[2]; /* -1: copying through buf */
    size_t in_pipe;
    struct buf buf;
    size_t chunk; /* what a copy reads at a time (buf holds at most that) */
    bool eof;     /* the source ended: dst is shut once what is held is out */
    bool done;    /* ... and it is */
    bool want_read, want_write;
    uint64_t moved; /* bytes delivered into dst */
};

struct relay {
    uint64_t id; /* in its worker's table, for messages */
    struct worker *w;
    struct rend end[2];
    struct rdir dir[2]; /* dir[i] moves from end[i] to end[1 - i] */
    bool started, in_run, stop;
    bool spliced;       /* a splice's (refusals say so), not an attach's */
    bool internal_fd;   /* the RE_FD end joins a splice's halves: a failure there
                         * resets nothing (the other half says what happened) */
    bool upgrade;       /* attach "upgrade": end 1 comes from rpc/ later */
    const char *reason; /* how it ended: "eof", "closed", an errno name (static) */
    int err;
    int stop_err; /* relay_end during relay_run: the reset it asked for */
    /* The owner's: runs once when the relay has ended (the ends are
     * detached, the streams their own again); the relay is freed after. */
    void (*done)(struct relay *rl);
    void *owner;
    /* Splice halves (attach.c). */
    int peer_worker;
    uint64_t peer_id;
    bool peer_wait;       /* the pair ended under it: waits for the other half's word */
    bool peer_ended;      /* the other half ended normally ("eof") */
    struct sock *pending; /* a's half before it starts: a, if handle pending_seq still is */
    uint64_t pending_seq;
};

/** A relay on @w whose end runs @done; NULL when out of memory. */
struct relay *relay_new(struct worker *w, void (*done)(struct relay *rl));
/** The live relay @id of @w, or NULL. */
struct relay *relay_find(struct worker *w, uint64_t id);
/** Makes stream @s end @i of @rl: from now on only the relay moves its bytes. */
void relay_add_sock(struct relay *rl, int i, struct sock *s);
/** Makes descriptor @fd (taken) end @i of @rl. Bytes sent into it carry @scm's credentials
 * (creds_send) unless netd acts for @scm as itself; NULL: a pair only netd reads. */
void relay_add_fd(struct relay *rl, int i, int fd, struct ident *scm);
/** Bytes (taken, malloc'd) that go from end @from before anything it sends. */
void relay_hold(struct relay *rl, int from, uint8_t *data, size_t len);
/** Starts moving bytes; may end the relay (and run done) before it returns. */
void relay_start(struct relay *rl);
/** Moves what can be moved now (an event on an end). */
void relay_run(struct relay *rl);
/** Sets the watchers of @rl's ends for what it waits for. */
void relay_watch(struct relay *rl);
/** Ends @rl because of @reason; with @reset_err its streams are reset first. */
void relay_end(struct relay *rl, const char *reason, int reset_err);
/** Stream @s, an end of s->relay, is being closed: the relay ends ("closed"). */
void relay_sock_closed(struct sock *s);
/** Counts splices waiting for their answer on @w (for the check at stop). */
void relay_homes_add(struct worker *w, int delta);

#endif
