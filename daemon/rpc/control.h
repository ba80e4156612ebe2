/*
 * control.h - the top layer under main.c: control connections (reading
 * request lines, writing answers, backpressure, descriptors that travel
 * with them) and dispatch (from a parsed request to the worker and method
 * handler that serve it, and the answer back).
 *
 * rpc/ registers itself with the layers below: it is req/'s answer sink,
 * the handle layer's notification sink, and takes part in every worker's
 * loop turn (answers are written once per turn) and stop.
 */
#ifndef NETD_RPC_CONTROL_H
#define NETD_RPC_CONTROL_H

#include "method.h"

struct batch;
struct fdmark;
struct credit;

/* A control connection; it lives on one worker and only that worker touches it. */
struct conn {
    uint64_t id;
    struct worker *w;
    int fd;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    struct ident *ident; /* the peer, as netd acts for it (one reference) */
    ev_io rio, wio;
    ev_timer hup; /* after the client's EOF: has it gone entirely? */
    struct netd_line lines;
    struct buf out;
    unsigned inflight;
    bool read_eof, paused, closing, in_dirty;
    struct conn *next_dirty;
    struct conn *next_grave;
    struct batch *batches; /* batches still collecting answers */
    uint64_t next_batch;
    /* Descriptors: going out with an answer (at an offset of the output
     * stream), and come in with a request line (at an offset of the input
     * stream; taken by `assign` in that line). */
    uint64_t out_total, out_sent;
    struct fdmark *marks;
    uint64_t in_total;
    struct fdmark *in_marks, **in_marks_tail;
    /* Credits owed to accept loops for notifications still queued here. */
    struct credit *credits;
    struct trust trust; /* tls-config; NULL paths: the system's */
    /* attach "upgrade": no more requests are read while it runs; once it
     * succeeded and its answer is out, the socket goes to the relay. */
    bool upgrading;
    int up_worker;
    uint64_t up_relay;
    /* The memory of this connection's own buffers, charged to its uid: the
     * unfinished request line and the queued answers (--max-memory-conn). */
    size_t line_charged, out_charged;
    bool mem_wait; /* not read until the uid is under its budget again */
    ev_timer mem_retry;
};

/** Registers rpc/ with the layers below and the workers (before workers_start). */
void rpc_layer_init(void);

/**
 * Counts one more control connection of @uid (main thread, before
 * control_adopt); false past --max-connections-per-uid (root is never
 * refused). The count goes back when the connection closes.
 */
bool control_admit(uid_t uid);
/** Gives back what control_admit counted, for a connection that was never adopted. */
void control_unadmit(uid_t uid);

/** Message to a worker: adopt control connection @fd of peer @ident (taken). */
void control_adopt(int worker_index, int fd, uint64_t id, struct ident *ident);
/** Writes the answers waiting on @w's connections; returns the bytes that still wait (at a stop,
 * netd closes its connections once they are 0). */
size_t control_unsent(struct worker *w);
/** The connection @id on @w, or NULL when it has gone. */
struct conn *control_find(struct worker *w, uint64_t id);
/** Appends one answer line (without '\n') to @c's output; takes @line. */
void control_send(struct conn *c, char *line);
/** Delivers an answer for a request of connection @conn_id, on its worker @w. */
void control_reply(struct worker *w, uint64_t conn_id, uint64_t batch_id, size_t slot, char *line,
                   int fd);
struct fdset;
/** Takes the next descriptor of @set (those that came with a request line), or -1. */
int fdset_take(struct fdset *set);
/** Connection @c asks for attach "upgrade" (request not yet run): false if it may not now. */
bool control_upgrade_begin(struct conn *c, uint64_t batch_id);
/** The attach "upgrade" of connection @conn_id was answered: on @worker's relay @relay,
 * or failed (@relay 0) and the connection reads requests again. After control_reply. */
void control_upgrade(struct worker *w, uint64_t conn_id, int worker, uint64_t relay);

/**
 * Runs one parsed request message @msg of @c (taken); @fds came with its
 * line. @data, when not NULL, is the "data" parameter's characters
 * (@data_len) that the lean path took out of the line (msg holds "" there);
 * they are read before this returns.
 */
void dispatch_request(struct conn *c, json_t *msg, uint64_t batch_id, size_t slot,
                      struct fdset *fds, const char *data, size_t data_len);
struct netd_lean_req;
/** Runs a request line that the lean path took apart (proto/lean.h): @lr's
 * params are taken, its method and data are read from @line before this
 * returns. */
void dispatch_lean(struct conn *c, struct netd_lean_req *lr, const char *line, struct fdset *fds);
/** Runs @r on the worker this thread is (the target of its routing). */
void request_run(struct worker *w, struct req *r);
/** 1 if every method of proto's table has a handler here, else 0 (a unit test checks it). */
int dispatch_complete(void);
/** The sink through which requests answer and move (req_set_sink). */
extern const struct req_sink dispatch_sink;

/* ---- monitor.c: events of finished requests, the debug log's line per request ---- */

/** Registers the monitors' part in every worker's life (rpc_layer_init does). */
void monitor_layer_init(void);
/** The `monitor` method: runs on the connection's worker; answered when the connection ends. */
void m_monitor(struct worker *w, struct req *r);
/** Ends the monitor of @c, if it has one (its connection is closing). */
void monitor_conn_closed(struct worker *w, const struct conn *c);
/** Answers every monitor on @w with `aborted` (@why): netd is stopping. */
void monitor_stop(struct worker *w, const char *why);
/** The sink's `finished`: @r's event to the monitors that may see it, and the debug line. */
void monitor_finished(const struct req *r, enum netd_err code, const json_t *result);
/**
 * The same for a request of @c that never became a request (refused by
 * dispatch: unknown method, bad params, too many in flight): @method
 * (@method_len bytes, NUL bytes and all) is the name the client gave
 * (nothing is sent when it is NULL: the message was not a request),
 * @t0 when its line was read.
 */
void monitor_early(const struct conn *c, const char *method, size_t method_len,
                   const json_t *params, enum netd_err code, const struct timespec *t0);

#endif
