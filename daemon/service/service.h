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
 * waiting call with `aborted` and closes its handles (except those @spare
 * keeps, for the descriptor store), then writes the answers out (at most
 * one more second). @done runs on @loop when all of it is over.
 */
void stop_begin(struct ev_loop *loop, bool (*spare)(struct handle *h),
                void (*done)(struct ev_loop *loop));
/** A second signal: cut the current step short. */
void stop_hurry(void);

#endif
