/*
 * req.h - a request's life on the worker that runs it: its parameters, the
 * one answer it gets, and waiting (parked on a list, with a timer).
 *
 * The layer above (rpc/) makes requests from request lines and registers a
 * sink through which answers and forwards leave; req/ never knows what a
 * control connection is. A request may wait on a handle: it only keeps the
 * handle's pointer for the layer that parked it, and never looks inside.
 */
#ifndef NETD_REQ_H
#define NETD_REQ_H

#include <time.h>

#include "core.h"

struct handle; /* handle/; opaque here */
struct reqlist;

enum wait_kind {
    WK_NONE,
    WK_READ,  /* read / chunk / recv-from */
    WK_WRITE, /* whole write, finished by the write queue */
    WK_ACCEPT,
    WK_OPEN, /* address/connect/listen/starttls until the handle is ready */
    WK_WAIT, /* the `wait` method */
};

/** A control connection's TLS trust store (tls-config): paths, NULL for the system's. */
struct trust {
    char *cafile, *capath;
};

struct req {
    /* Who asked, and where the answer goes. */
    uint64_t conn_id;
    int conn_worker;
    uint64_t batch_id;
    size_t batch_slot;
    json_t *id; /* NULL: a notification, nobody gets the answer */
    const struct netd_method *m;
    json_t *params; /* an object */
    uid_t uid;
    gid_t gid;
    struct ident *ident; /* the caller, as netd acts for it (a reference; NULL: netd's own) */
    pid_t pid;           /* the client's, from its control connection (SO_PEERCRED) */
    struct timespec t0;  /* when netd read the request (CLOCK_MONOTONIC) */
    int pass_fd;         /* a descriptor travelling with the request or its answer, or -1 */
    size_t
        charged; /* bytes of r->uid's memory budget this request holds (req_free gives them back) */
    struct trust trust; /* a copy of the connection's tls-config, for any worker */
    /* The connection's own tls-config, for a method that runs at once on
     * the connection's worker (tls-config changes it): good only during
     * the handler's first call, never after the request waited or moved. */
    struct trust *conn_trust;

    /* The "data" parameter, decoded on arrival when it came by the lean
     * path (params then holds it as ""); req_data hands it over. */
    uint8_t *data;
    size_t data_len;
    bool has_data, data_bad;

    /* The handle the "handle" parameter names, parsed once on arrival. */
    bool has_target;
    int target_worker;
    uint64_t target_seq;

    /* While waiting. */
    struct handle *h;
    enum wait_kind wk;
    struct req *prev, *next;
    struct reqlist *list; /* the list it is parked on */
    struct ev_loop *loop;
    ev_timer timer;
    bool timing;
    void (*ontimeout)(struct req *r);

    /* What one family of methods keeps while it runs. */
    union {
        struct {
            size_t nbytes; /* wanted; 0 for "all" */
            bool exact;    /* chunk */
            bool peek;     /* leave the bytes where they are */
            enum netd_encoding enc;
        } rd;
        struct {
            size_t written; /* bytes the kernel took */
            void *dgram;    /* a datagram waiting to be sent (kind/datagram.c) */
        } wr;
        struct {
            int wait_for; /* WF_* */
        } wait;
        struct {
            bool upgrade;   /* mode "upgrade": rpc/ hands its connection over */
            int worker;     /* set with relay when the handle is attached */
            uint64_t relay; /* the relay waiting for the connection's socket */
        } attach;
        struct {
            int phase; /* 1: a is reserved on a_worker, b's worker goes on */
            int a_worker;
            uint64_t a_relay;
        } splice;
        struct {
            uid_t uid; /* policy-explain: whom it asks about (its groups: r->ident) */
            gid_t gid;
            int op; /* enum policy_op */
        } explain;
        struct {
            int hop; /* worker + 1 to pass the request on to (send-to) */
            struct sockaddr_storage dest;
            socklen_t dest_len;
        } send;
    } u;
};

/** The request queue of one kind on a handle (FIFO). */
struct reqlist {
    struct req *head, *tail;
    size_t count;
};

void reqlist_push(struct reqlist *l, struct req *r);
void reqlist_remove(struct reqlist *l, struct req *r);

/** Where answers and forwarded requests go; registered once by the layer above. */
struct req_sink {
    /** Sends @line (taken; NULL when the request was a notification) to @r's connection. */
    void (*reply)(struct req *r, char *line);
    /** Moves @r to worker @worker, where it runs again. */
    void (*forward)(struct req *r, int worker);
    /**
     * Sees @r finish, just before its answer leaves: @code is NETD_OK or
     * the error's kind, @result the result (NULL for an error or a result
     * already serialised). Runs on the worker that answers; must be cheap
     * when nobody watches (monitors, the debug log). May be NULL.
     */
    void (*finished)(const struct req *r, enum netd_err code, const json_t *result);
};
void req_set_sink(const struct req_sink *sink);

/** A new request with no parameters yet; NULL on OOM. */
struct req *req_new(void);
void req_free(struct req *r);
/** Answers @r with @result (stolen) and frees it. */
void req_ok(struct req *r, json_t *result);
/** Answers @r with a result already serialised (see netd_rpc_result_raw) and frees it. */
void req_ok_raw(struct req *r, const char *result, size_t len);
/** Answers @r with an error of @kind, @data (stolen, may be NULL), message from @fmt; frees it. */
void req_fail(struct req *r, enum netd_err kind, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** Answers @r with an `os` error for errno @err: message "@what: strerror". */
void req_fail_errno(struct req *r, int err, const char *what);
/** Answers @r with `limit` for the limit @name; the message from @fmt. */
void req_fail_limit(struct req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Passes @r on to @worker (the request moves there). */
void req_forward(struct req *r, int worker);

/**
 * Parks @r on @l: it waits until taken off (req_unpark) or until its timer
 * fires after @timeout seconds (< 0: none), when @ontimeout answers it.
 * @h is remembered for the layer that parks (req/ does not look at it).
 */
void req_park(struct req *r, struct handle *h, struct ev_loop *loop, struct reqlist *l,
              enum wait_kind wk, double timeout, void (*ontimeout)(struct req *r));
/** Takes @r off the list it waits on and stops its timer (it is not answered). */
void req_unpark(struct req *r);
/** Fails every request on @l with `aborted`; returns how many. */
size_t reqlist_abort(struct reqlist *l, const char *why);
/** Fails the requests of @l issued by connection @conn_id (the answers go nowhere). */
void reqlist_drop_conn(struct reqlist *l, uint64_t conn_id);

/** Who @r is for, as the policy asks (valid while @r lives). */
static inline struct policy_caller req_caller(const struct req *r)
{
    return policy_caller_of(r->ident, r->uid, r->gid);
}

/* ---- parameters (params.c) ---- */

/** The parameter @name, or NULL when absent or null. */
json_t *param(const struct req *r, const char *name);
/** The string parameter @name, or NULL. */
const char *param_str(const struct req *r, const char *name);
bool param_bool(const struct req *r, const char *name, bool dflt);
/** Reads the timeout parameter: <0 none, else seconds. */
double req_timeout(const struct req *r);
/** The "encoding" parameter (base64 when absent). */
enum netd_encoding param_encoding(const struct req *r);
/** Decodes the "data" parameter in the request's "encoding" into a new
 * buffer the caller frees (once per request: a buffer the lean path
 * decoded is handed over), and drops it from the params. -1 after
 * answering @r (invalid params). */
int req_data(struct req *r, uint8_t **data, size_t *len);
/**
 * The lean data path: decodes @s (@n characters, the "data" parameter's
 * value, which @r's params hold as "") in @r's encoding now, while the
 * request line that holds them is still there; req_data then gives the
 * bytes, or the same error it gives for invalid data in params.
 */
void req_take_data(struct req *r, const char *s, size_t n);

#endif
