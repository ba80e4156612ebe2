/*
 * service.h - netd as a service: the control sockets' accept loop with the
 * peer check, the orderly stop (drain, end, flush, each step run by every
 * worker on its own), and the kept handles carried over a restart through
 * systemd's descriptor store.
 *
 * This layer sits above rpc/ and below main.c: it is what main.c drives
 * from its loop in answer to signals and systemd, built from the layers'
 * own operations (handles_undrained, handles_stop, control_unsent). It runs
 * on the main thread, and on workers only through messages.
 */
#ifndef NETD_SERVICE_H
#define NETD_SERVICE_H

#include "control.h"

/* ---- accepting control connections (accept.c) ---- */

/** Called on the main thread for every connection handed to a worker. */
typedef void (*adopted_fn)(int worker, uint64_t conn_id, uid_t uid);

/** Starts accepting on the @n sockets @socks (kept by the caller) on @loop. 0, or -1. */
int accept_start(struct ev_loop *loop, const struct ctlsock *socks, int n, adopted_fn adopted);
/** Stops accepting and ends the refused connections still waiting. */
void accept_stop(struct ev_loop *loop);

/* ---- stopping (stop.c) ---- */

/**
 * Starts the stop: every worker lets the bytes its handles accepted reach
 * the kernel (at most netd_cfg.drain_timeout seconds), then ends every
 * waiting call with `aborted` and closes its handles, then writes the
 * answers out (at most one more second). @keep (may be NULL) takes what goes
 * to the descriptor store on the way. @done runs on @loop when all of it is
 * over.
 */
/* What a stop keeps for the next netd (restart.c); every member may be NULL. */
struct stop_keep {
    bool (*carried)(struct handle *h); /* its bytes need not drain: they go with it */
    bool (*spare)(struct handle *h);   /* handles_stop's, at the end step */
    void (*ended)(struct worker *w);   /* on each worker once its handles have closed */
};

void stop_begin(struct ev_loop *loop, const struct stop_keep *keep,
                void (*done)(struct ev_loop *loop));
/** A second signal: cut the current step short. */
void stop_hurry(void);

/* ---- kept handles over a restart, through systemd's descriptor store (restart.c) ---- */

/* Descriptors netd stores at most: the unit's FileDescriptorStoreMax= (4096) less the state. */
#define RESTART_MAX_FDS 4095

/**
 * At start, before the workers: takes out of the @n descriptors systemd
 * passed (@p) those netd stored, named after a handle or "netd-state", and
 * reads the state; @p keeps the rest (the control sockets), in order, and
 * their number is returned.
 */
int restart_take(struct passed_fd *p, int n);
/** How many workers the handles taken need (the highest worker index in their names + 1), or 0. */
int restart_workers_needed(void);
/** After workers_start, before accepting: each worker makes its handles again under their
 * names; returns when all have, after asking systemd to forget what it passed. */
void restart_restore(void);
/** accept_start's adopted hook: a new connection of @uid hears `closed {handle, reason:
 * "restart"}` for each of its uid's kept handles that could not be carried. */
void restart_adopted(int worker, uint64_t conn_id, uid_t uid);
/** Before stop_begin: what this stop keeps for the next netd (its @keep), or NULL when kept
 * handles have nowhere to go (no NOTIFY_SOCKET). */
const struct stop_keep *restart_prepare(void);
/** Once the stop is over: sends the state and every descriptor taken to systemd's store. */
void restart_store(void);
void restart_fini(void);

#endif
