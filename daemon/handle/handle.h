/*
 * handle.h - handles: the per-worker handle table, names, ownership,
 * per-uid quotas, the one close path, waiting calls, and notifications to
 * a handle's owner.
 *
 * A handle is a common part (struct handle) followed by its kind's own part
 * (kind/): every kind gives an operations table, chosen once when the
 * handle is made, and generic code asks the handle to act through it
 * instead of asking which kind it is. The kind tests that remain live in
 * this layer's tables (handle_get_kind's mask, the kind names).
 *
 * A handle's name is "h<worker>.<seq in hex>" (proto/handlename.h, one
 * spelling only): the worker index routes a request without any shared
 * table, and seq comes from a per-worker counter that never goes back, so a
 * name is never reused in a netd process.
 */
#ifndef NETD_HANDLE_H
#define NETD_HANDLE_H

#include "core.h"
#include "req.h"

enum hkind { HK_ADDRESS = 0, HK_STREAM, HK_LISTENER, HK_DATAGRAM, HK__COUNT };
enum hstate { HS_WAITING = 0, HS_SUCCESS, HS_FAILURE, HS_CLOSED };
/* The conditions of the `wait` method. */
enum { WF_RESOLVED, WF_CONNECTED, WF_READABLE, WF_WRITABLE, WF_DRAINED, WF_ERROR };

struct handle;

/**
 * What a kind does for the generic operations. Every member but the
 * method-level ones at the end is required.
 */
struct handle_ops {
    enum hkind kind;
    size_t size;    /* of the kind's struct, which starts with struct handle */
    unsigned waits; /* the `wait` conditions it has (bit mask of 1 << WF_*) */
    /** An event (EV_READ/EV_WRITE in @revents) on its socket's watchers. */
    void (*io)(struct handle *h, int revents);
    /** Starts or stops watchers after anything changed (waiting calls, buffers). */
    void (*update)(struct handle *h);
    /** Whether the `wait` condition @wait_for (WF_*) holds now. */
    bool (*ready)(struct handle *h, int wait_for);
    /** Adds the kind's members to status object @st. */
    void (*status)(struct handle *h, json_t *st);
    /** Fails the kind's own waiting calls with `aborted` ("cancelled"); how many. */
    size_t (*cancel)(struct handle *h);
    /** Part of the close path: fails the kind's waiting calls with `aborted` (@why),
     * stops its own watchers and ends what it holds. The socket is the caller's. */
    void (*close)(struct handle *h, const char *why);
    /** Connection @conn_id has ended: the kind drops what it kept for it. */
    void (*conn_gone)(struct handle *h, uint64_t conn_id);
    /** Frees the kind's memory, after the close path has run and callbacks unwound. */
    void (*free)(struct handle *h);

    /* Method-level operations, NULL when the kind does not offer them. */
    /** `read`/`chunk`/`recv-from` on the handle. */
    void (*read)(struct handle *h, struct req *r);
    /** `write` of @data (taken). The handle is in state success. */
    void (*write)(struct handle *h, struct req *r, uint8_t *data, size_t len);
    /** `disconnect` dissolved the socket's association with its peer. */
    void (*disconnected)(struct handle *h);
    /** The resolved addresses the handle stands for (send-to's dest), or NULL. */
    const struct addrlist *(*address)(struct handle *h);
    /** Whether `release` (@dup: of a duplicate) may hand the descriptor out now;
     * if not, answers @r with why. */
    bool (*releasable)(struct handle *h, struct req *r, bool dup);

    /* Carrying a kept handle over a restart (service/restart.c); NULL: never carried. */
    /** Writes what the kind needs to make @h again into @rec and takes its descriptor for
     * the store into *@fd (-1: the kind has none). 0, or -ENOTSUP when @h cannot be carried
     * (a TLS session, a socket not connected yet); @h is untouched then. With @rec NULL it
     * only says which, touching nothing. */
    int (*save)(struct handle *h, json_t *rec, int *fd);
    /** Makes @h (new, its common part restored) again from @rec and @fd (taken; -1 if none),
     * in state success. 0, or -EINVAL when @rec is not what save wrote. */
    int (*restore)(struct handle *h, const json_t *rec, int fd);
};

/* The common part of every handle. */
struct handle {
    uint64_t seq;
    char name[32];
    struct worker *w;
    const struct handle_ops *ops;
    enum hstate state;
    uint64_t owner_conn;
    int notify_worker; /* the worker of owner_conn, for notifications */
    uid_t uid;
    /* Its owner's identity (a reference), with which netd acts on the handle's
     * behalf: its sockets, its accepts, its socket file. NULL: netd's own. */
    struct ident *ident;
    bool kept;
    bool looped;      /* accepted by an accept loop: its owner hears when it ends */
    bool closed_told; /* a `closed` notification went out */
    int fd;
    int type; /* SOCK_STREAM / SOCK_DGRAM */
    ev_io rio, wio;
    struct reqlist openers; /* the call that waits for this handle to be ready */
    struct reqlist waiters; /* `wait` calls */

    /* failure (state HS_FAILURE) */
    enum netd_err fail_kind;
    char *fail_msg;
    json_t *fail_data;

    char *hostname;            /* what it was made for: "host:port", a path; in messages */
    double rcvtimeo, sndtimeo; /* default timeouts of calls without one; 0: none */
    /* A lookup under way (handle_resolve): its answer comes here. */
    void (*on_resolved)(struct handle *h, int gai, struct addrlist *al);

    struct handle *next_grave;
};

/** Registers the handle layer with the workers (before workers_start). */
void handle_layer_init(void);

/** Creates a handle with @ops on @w owned by connection @conn_id (or by @owner's uid when
 * @kept), acting as @owner (a new reference; NULL: uid 0, netd's own). NULL: the uid is at
 * --max-handles. */
struct handle *handle_create(struct worker *w, uint64_t conn_id, int conn_worker,
                             struct ident *owner, bool kept, const struct handle_ops *ops);
/** Answers @r with the max_handles `limit` error. */
void handle_fail_quota(struct req *r);
/** Creates a handle with @ops on @w for the caller of @r (keep from its params). NULL: @r failed
 * (limit). */
struct handle *handle_new(struct worker *w, struct req *r, const struct handle_ops *ops);
/** The handle named by @r's parameter @param if it is @r's caller's, else NULL (@r untouched). */
struct handle *handle_lookup(struct worker *w, const struct req *r, const char *param);
/** The handle named by @r's parameter @param, owned by @r's caller; NULL: @r was answered
 * (unknown handle). */
struct handle *handle_get(struct worker *w, struct req *r, const char *param);
/** Same, also answering `wrong kind` unless the handle's kind is in @kinds (bit mask of 1 <<
 * hkind). */
struct handle *handle_get_kind(struct worker *w, struct req *r, const char *param, unsigned kinds);
/** The live handle @seq of @w, or NULL (for messages that name a handle by id). */
struct handle *handle_find(struct worker *w, uint64_t seq);
/** Answers @r with `wrong kind` for @kind_name ("tls", a handle kind) and @what is refused. */
void handle_fail_kind(struct req *r, const char *kind_name, const char *what);
/** Answers @r with the failure @h is in. */
void handle_fail_req(struct req *r, struct handle *h);

/**
 * The one close path: fails the waiting calls (generic and the kind's) with
 * `aborted` (@why), lets the kind end what it holds, stops the watchers,
 * closes the socket unless handle_take_fd() took it, and frees the handle
 * after the current callbacks have unwound.
 */
void handle_close(struct handle *h, const char *why);
/** Sets @h's watchers up on @fd (not started): their events go to ops->io. */
void handle_watch(struct handle *h, int fd);
/** Takes @h's socket away from it (release, starttls): its watchers stop and the
 * close path will not close it. Returns the descriptor (-1 if none). */
int handle_take_fd(struct handle *h);
/** handle_take_fd() for a descriptor that leaves this worker (release, a
 * restart's store): the worker's loop also lets go of it in the kernel now
 * (worker_release_fd), so the thread that gets it may close it. */
int handle_give_fd(struct handle *h);
void handle_set_failure(struct handle *h, enum netd_err kind, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
json_t *handle_status(struct handle *h);
const char *handle_kind_name(enum hkind k);
/** Whether @h's kind is in @kinds (bit mask of 1 << hkind). */
bool handle_is(const struct handle *h, unsigned kinds);
/** How many of @w's handles hold bytes that writes accepted and the kernel has not taken, but
 * those @carried (may be NULL) returns true for (their bytes are carried over a restart). */
size_t handles_undrained(struct worker *w, bool (*carried)(struct handle *h));
/** netd is stopping: ends every call waiting on @w's handles with `aborted` (@why) and closes
 * each handle, except those @spare (may be NULL) returns true for, which stay open. */
void handles_stop(struct worker *w, const char *why, bool (*spare)(struct handle *h));
/* ---- carried over a restart (carry.c) ---- */

/** The common part of kept handle @h and its kind's (ops->save) as a new record in *@rec, its
 * descriptor taken into *@fd (-1: none). 0, or -ENOTSUP: @h cannot be carried, and is
 * untouched. @h's waiting calls must have ended (ops->cancel). */
int handle_carry_save(struct handle *h, json_t **rec, int *fd);
/** Makes again on @w (its own thread) the handle @rec describes, with @ops (its kind's) and
 * descriptor @fd (taken, closed on failure): its name, owner and seq stay. NULL with @why
 * filled when it cannot be (the record is bad, its seq is taken, the uid is at --max-handles). */
struct handle *handle_carry_restore(struct worker *w, const json_t *rec, int fd,
                                    const struct handle_ops *ops, char *why, size_t whylen);
/** Whether handle_carry_save() would carry @h (touches nothing). */
bool handle_carry_probe(struct handle *h);
/** The seq @w's next handle gets. */
uint64_t handles_next_seq(struct worker *w);
/** Makes @w's next handles get seqs of at least @seq (never lowers it). */
void handles_seq_from(struct worker *w, uint64_t seq);

/** Closes @conn_id's handles on @w and drops its waiting requests. */
void handles_conn_gone(struct worker *w, uint64_t conn_id);
/** The status of every handle on @w that connection @conn_id of @uid owns (new array). */
json_t *handles_list(struct worker *w, uint64_t conn_id, uid_t uid);
/** Whether a `wait` call on @h waits for condition @wait_for (WF_*). */
bool handle_waiter_wants(const struct handle *h, int wait_for);
/** Answers requests waiting with `wait` on @h whose condition now holds. */
void handle_check_waiters(struct handle *h);
/** Parks @r on @h's list @l; its timeout is its own, else the handle's so-rcvtimeo/so-sndtimeo. */
void handle_park(struct req *r, struct handle *h, struct reqlist *l, enum wait_kind wk,
                 void (*ontimeout)(struct req *r));
/** Looks @host/@service up for @h; @cb runs on @h's worker when done (not at all if @h has
 * closed by then). */
void handle_resolve(struct handle *h, void (*cb)(struct handle *, int, struct addrlist *),
                    const char *host, const char *service, int family, int socktype, int flags);
/** Parses a `wait` condition; -1 if unknown. */
int wait_for_parse(const char *s);

/* ---- notifications (notify.c) ---- */

/** Delivers notification @line (taken) to connection @conn_id on @worker; registered by rpc/. */
typedef void (*notify_fn)(int worker, uint64_t conn_id, char *line, int credit_worker,
                          uint64_t credit_seq);
void handle_set_notify(notify_fn fn);
/** Sends notification @line (taken) to @conn_id on @worker; when @credit_seq is not 0, handle
 * @credit_seq on @credit_worker gets a credit back once the client has taken it. Any thread. */
void handle_notify(int worker, uint64_t conn_id, char *line, int credit_worker,
                   uint64_t credit_seq);
/** Tells the owner of a kept or looped @h that it ended without being asked to (once). */
void handle_notify_closed(struct handle *h, const char *reason);

/* ---- per-uid quotas (quota.c): shared by every worker, lock-free ---- */

bool quota_take(uid_t uid);
void quota_release(uid_t uid);

#endif
