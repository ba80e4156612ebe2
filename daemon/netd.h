/*
 * netd.h - the daemon's shared types: configuration, workers, control
 * connections, requests and handles.
 *
 * Threads: the main thread owns the control listener and signals; N worker
 * threads each run one libev loop and own the sockets (handles) and control
 * connections placed on them; resolver threads run getaddrinfo(). The only
 * way between threads is a worker's message queue (worker_post), and things
 * on another thread are named by id (connection id, handle id), never by
 * pointer.
 */
#ifndef NETD_DAEMON_H
#define NETD_DAEMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <ev.h>
#include <jansson.h>

#include "codec.h"
#include "errors.h"
#include "line.h"
#include "methods.h"

/* ---- configuration (written by main before the workers start, then read-only) ---- */

#define NETD_MAX_ALLOW 32

struct netd_config {
    const char *socket_name;
    int workers;
    size_t max_request;    /* longest request line */
    size_t max_handles;    /* handles per uid */
    size_t max_buffer;     /* bytes a handle buffers on its own (partial writes) */
    size_t max_read;       /* largest nbytes, and the bound of read "all" */
    size_t max_queued;     /* bytes of whole writes queued on one handle */
    unsigned max_inflight; /* requests in flight per control connection */
    size_t out_high;       /* answers queued for a client before netd stops reading it */
    size_t out_low;        /* ... and resumes */
    uid_t allow_uid[NETD_MAX_ALLOW];
    int n_allow_uid;
    gid_t allow_gid[NETD_MAX_ALLOW];
    int n_allow_gid;
    int log_level;
};

extern struct netd_config netd_cfg;

/* ---- logging (log.c) ---- */

enum { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
void netd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int netd_log_level_parse(const char *name);

/* ---- growable byte buffer (buf.c) ---- */

struct buf {
    uint8_t *data;
    size_t off; /* bytes already consumed from the front */
    size_t len; /* bytes in use, counting from data (off <= len) */
    size_t cap;
};

static inline size_t buf_used(const struct buf *b)
{
    return b->len - b->off;
}
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

/* ---- id maps: uint64 key -> pointer, owned by one thread (idmap.c) ---- */

struct idmap {
    uint64_t *keys;
    void **vals;
    size_t cap, count, tombs;
};
int idmap_put(struct idmap *m, uint64_t key, void *val);
void *idmap_get(const struct idmap *m, uint64_t key);
void *idmap_del(struct idmap *m, uint64_t key);
void idmap_free(struct idmap *m);
/* Iterates: start with *pos = 0; returns NULL at the end. Deleting the
 * returned entry while iterating is allowed. */
void *idmap_next(const struct idmap *m, size_t *pos);

/* ---- workers and messages (worker.c) ---- */

struct worker;
struct msg;
typedef void (*msg_fn)(struct worker *w, struct msg *m);

/* Every message starts with this header; the sender allocates, the receiving
 * worker's handler owns and frees it. */
struct msg {
    struct msg *next;
    msg_fn fn;
};

struct worker_stats {
    /* Written by the owning worker, read by any thread for `stats`. */
    uint64_t connections;
    uint64_t requests;
    uint64_t handles[4]; /* by enum hkind */
    uint64_t bytes_in, bytes_out;
};

struct worker {
    int index;
    struct ev_loop *loop;
    ev_async wake;
    ev_prepare flush; /* writes queued answers once per loop turn */
    ev_check reap;    /* frees closed objects after the callbacks that closed them */
    pthread_t thread;

    /* queue: taken under lock; the receiver swaps the whole list out */
    pthread_mutex_t lock;
    struct msg *head, **tail;

    struct idmap conns;   /* connection id -> struct conn */
    struct idmap handles; /* handle seq -> struct handle */
    uint64_t next_seq;
    struct conn *dirty;       /* connections with answers to write */
    struct handle *graveyard; /* closed handles to free */
    struct conn *conn_graveyard;
    bool stopping;

    struct worker_stats stats;
};

extern struct worker *netd_workers;
extern int netd_nworkers;

int workers_start(int n);
void workers_stop(void);
/** Queues @m for worker @index and wakes it. Any thread. Takes ownership of @m. */
void worker_post(int index, struct msg *m);
/** The worker running on this thread, or NULL on other threads. */
struct worker *worker_self(void);
void stat_add(uint64_t *counter, int64_t delta);
uint64_t stat_get(const uint64_t *counter);

/* ---- control connections (control.c) ---- */

struct batch;

struct conn {
    uint64_t id;
    struct worker *w;
    int fd;
    uid_t uid;
    gid_t gid;
    pid_t pid;
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
     * stream), and come in with requests (taken by `assign`). */
    uint64_t out_total, out_sent;
    struct fdmark *marks;
    int in_fds[16];
    int n_in_fds;
    /* Credits owed to accept loops for notifications still queued here. */
    struct credit *credits;
    /* TLS: the trust store of this connection's connects (tls-config); NULL: the system's. */
    char *tls_cafile, *tls_capath;
};

/** Sends notification @line (taken) to connection @conn_id on worker @worker;
 * when @credit_seq is not 0, the listener @credit_seq on worker @credit_worker
 * gets a credit back once the client has caught up. Any thread. */
void control_notify(int worker, uint64_t conn_id, char *line, int credit_worker,
                    uint64_t credit_seq);
/** Gives listener @seq on @worker back one notification credit (loop.c). */
void loop_credit(int worker, uint64_t seq);

/** Message to a worker: adopt control connection @fd. */
void control_adopt(int worker_index, int fd, uint64_t id, uid_t uid, gid_t gid, pid_t pid);
/** Closes every control connection of @w (shutdown). */
void control_close_all(struct worker *w);
/** Appends one answer line (without '\n') to @c's output; takes @line. */
void control_send(struct conn *c, char *line);
void control_flush_dirty(struct worker *w);
void control_reap(struct worker *w);

/* ---- requests (request.c) ---- */

struct handle;

enum wait_kind {
    WK_NONE,
    WK_READ,  /* read / chunk */
    WK_WRITE, /* whole write, finished by the write queue */
    WK_ACCEPT,
    WK_CONNECT, /* connect/address with wait: true */
    WK_WAIT,    /* the `wait` method */
};

struct req {
    uint64_t conn_id;
    int conn_worker;
    uint64_t batch_id;
    size_t batch_slot;
    json_t *id; /* NULL: a notification, nobody gets the answer */
    const struct netd_method *m;
    json_t *params; /* an object */
    uid_t uid;
    gid_t gid;

    /* While waiting on a handle. */
    struct handle *h;
    enum wait_kind wk;
    struct req *prev, *next;
    struct reqlist *list; /* the list it is parked on */
    ev_timer timer;
    bool timing;
    void (*ontimeout)(struct req *r);

    /* Per-operation state. */
    size_t nbytes; /* read/chunk: wanted; 0 for "all" */
    bool exact;    /* chunk */
    bool peek;     /* read/recv-from: leave the bytes where they are */
    enum netd_encoding enc;
    int wait_for; /* the `wait` condition */
    bool keep;
    size_t written; /* write: bytes the kernel took */
    int pass_fd;    /* a descriptor travelling with the request or its answer, or -1 */
    int hop;        /* worker + 1 to pass the request on to after this one (send-to) */
    struct sockaddr_storage dest; /* send-to: the address taken from dest's worker */
    socklen_t dest_len;
    /* TLS: copies of the connection's tls-config, for whichever worker runs it. */
    char *tls_cafile, *tls_capath;
};

/** The request queue of one kind on a handle (FIFO). */
struct reqlist {
    struct req *head, *tail;
    size_t count;
};

void reqlist_push(struct reqlist *l, struct req *r);
void reqlist_remove(struct reqlist *l, struct req *r);

/** Runs @r on the worker this thread is (the target of its routing). */
void request_run(struct worker *w, struct req *r);
/** Answers @r with @result (stolen) and frees it. */
void req_ok(struct req *r, json_t *result);
/** Answers @r with a result already serialised (see netd_rpc_result_raw) and frees it. */
void req_ok_raw(struct req *r, const char *result, size_t len);
/** Answers @r with an error of @kind, @data (stolen, may be NULL), message from @fmt; frees it. */
void req_fail(struct req *r, enum netd_err kind, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** Answers @r with an `os` error for errno @err: message "@what: strerror". */
void req_fail_errno(struct req *r, int err, const char *what);
void req_free(struct req *r);
/** Reads the timeout parameter: <0 none, else seconds. */
double req_timeout(const struct req *r);
/** Parks @r on @l of @h with kind @wk; starts its timer from the timeout parameter; @ontimeout
 * answers it. */
void req_park(struct req *r, struct handle *h, struct reqlist *l, enum wait_kind wk,
              void (*ontimeout)(struct req *r));
/** Takes @r off the list it waits on and stops its timer (it is not answered). */
void req_unpark(struct req *r);
void dispatch_reply(struct req *r, char *line);
/** Fails every request on @l with `aborted`; returns how many. */
size_t reqlist_abort(struct reqlist *l, const char *why);
/** Fails the requests of @l issued by connection @conn_id (the answers go nowhere). */
void reqlist_drop_conn(struct reqlist *l, uint64_t conn_id);
/** Decodes the "data" parameter in the request's "encoding" into a new
 * buffer the caller frees. -1 after answering @r (invalid params). */
int req_data(struct req *r, uint8_t **data, size_t *len);
/** The string parameter @name, or NULL. */
const char *param_str(const struct req *r, const char *name);
bool param_bool(const struct req *r, const char *name, bool dflt);
json_t *param(const struct req *r, const char *name);

/* ---- dispatch (dispatch.c): the request path from a parsed line ---- */

void dispatch_request(struct conn *c, json_t *msg, uint64_t batch_id, size_t slot);
/** 1 if every method of proto's table has a handler here, else 0 (a unit test checks it). */
int dispatch_complete(void);
/** Posts @r to run on @worker (the request moves there). */
void dispatch_forward(struct req *r, int worker);
void dispatch_reply_local(struct worker *w, uint64_t conn_id, uint64_t batch_id, size_t slot,
                          char *line, int fd);
/** Takes the oldest descriptor that came with @c's requests, or -1. */
int control_take_fd(struct conn *c);

/* ---- handles (handle.c) ---- */

enum hkind { HK_ADDRESS = 0, HK_STREAM, HK_LISTENER, HK_DATAGRAM };
enum hstate { HS_WAITING = 0, HS_SUCCESS, HS_FAILURE, HS_CLOSED };

struct addrlist {
    struct sockaddr_storage *addrs;
    socklen_t *lens;
    int *socktypes;
    size_t count;
    char *canonname; /* with AI_CANONNAME */
};

struct wseg {
    struct wseg *next;
    uint8_t *data;
    size_t len, off;
    struct req *req; /* NULL: bytes a partial write accepted */
};

/*
 * How a stream moves bytes: plain sockets and TLS (tls.c) offer the same
 * operations, so read/write/wait code never knows which it drives.
 */
struct transport {
    const char *name;
    /* > 0: bytes read; 0: orderly end; -EAGAIN: nothing now; else -errno. */
    ssize_t (*recv)(struct handle *h, void *buf, size_t n);
    /* >= 0: bytes taken (0: none now); else -errno. */
    ssize_t (*send)(struct handle *h, const void *buf, size_t n);
    /* Bytes already inside the transport that a recv would return at once. */
    size_t (*buffered)(struct handle *h);
    /* Bytes the transport took but the kernel has not (TLS ciphertext). */
    size_t (*unsent)(struct handle *h);
    /* Ends the sending direction (TLS: close_notify first). */
    int (*shutdown_write)(struct handle *h);
    /* Frees the transport's state; the socket is closed by the caller. */
    void (*close)(struct handle *h);
};

extern const struct transport plain_transport;

/* Set by a transport that needs the other direction to make progress
 * (TLS: a read that must write, a write that must read). */
#define TP_WANT_READ 0x1u
#define TP_WANT_WRITE 0x2u

struct handle {
    uint64_t seq;
    char name[32];
    struct worker *w;
    enum hkind kind;
    enum hstate state;
    uint64_t owner_conn;
    int notify_worker; /* the worker of owner_conn, for notifications */
    uid_t uid;
    bool kept;
    bool looped;      /* accepted by an accept loop */
    bool closed_told; /* a `closed` notification went out */
    int fd;
    int type; /* SOCK_STREAM / SOCK_DGRAM */
    ev_io rio, wio;
    ev_timer retry; /* listener: accept paused after EMFILE */

    struct reqlist readers, writers, acceptors, connectors, waiters, loopers;

    /* listeners with an accept loop (loop.c) */
    bool looping;
    uint64_t loop_conn;
    int loop_worker;
    unsigned loop_unacked;

    /* failure (state HS_FAILURE) */
    enum netd_err fail_kind;
    char *fail_msg;
    json_t *fail_data;

    /* streams */
    const struct transport *tp;
    void *tls;        /* TLS: a stream's session; a listener's server context (tls.h) */
    unsigned tp_want; /* TP_WANT_* */
    struct buf rbuf;
    bool eof; /* the peer ended its side and rbuf holds the rest */
    int rerr; /* read side failed with this errno */
    int werr; /* write side failed with this errno */
    bool shut_wr_pending, shut_wr;
    struct wseg *wq_head, *wq_tail;
    size_t wq_bytes;
    uint64_t bytes_in, bytes_out;

    /* address handles, and connect/listen while they resolve */
    char *hostname;
    char *host; /* the host connect was given: TLS's default server name */
    struct addrlist al;
    size_t al_next; /* connect: next address to try */
    struct sockaddr_storage bind_addr;
    socklen_t bind_len;
    char *unix_path; /* a path listener netd created, removed on close */
    void (*on_resolved)(struct handle *h, int gai, struct addrlist *al);
    json_t *pre_opts;          /* "options" to set before bind/connect (sockopt.c) */
    bool any_host;             /* listen without host: every local address */
    double rcvtimeo, sndtimeo; /* default timeouts of calls without one; 0: none */

    struct handle *next_grave;
};

/** Creates a handle of @kind on @w owned by connection @conn_id (or by @uid when @kept).
 * NULL: the uid is at --max-handles. */
struct handle *handle_create(struct worker *w, uint64_t conn_id, int conn_worker, uid_t uid,
                             bool kept, enum hkind kind);
/** Answers @r with the max_handles `limit` error. */
void handle_fail_quota(struct req *r);
/** Creates a handle of @kind on @w for the caller of @r (keep from its params). NULL: @r failed
 * (limit). */
struct handle *handle_new(struct worker *w, struct req *r, enum hkind kind);
/** The handle named by @r's "handle" parameter, owned by @r's caller; NULL: @r was answered
 * (unknown handle). */
struct handle *handle_get(struct worker *w, struct req *r, const char *param);
/** Same, also answering `wrong kind` unless the handle's kind is in @kinds (bit mask of 1 <<
 * hkind). */
struct handle *handle_get_kind(struct worker *w, struct req *r, const char *param, unsigned kinds);
/** The one close path: fails waiting calls with `aborted`, stops watchers, closes the socket, frees
 * later. */
void handle_close(struct handle *h, const char *why);
void handle_set_failure(struct handle *h, enum netd_err kind, json_t *data, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
json_t *handle_status(struct handle *h);
const char *handle_kind_name(enum hkind k);
void handle_reap(struct worker *w);
void handles_close_all(struct worker *w);
/** Closes @conn_id's handles on @w and drops its waiting requests. */
void handles_conn_gone(struct worker *w, uint64_t conn_id);
/** Parses a handle name into worker index and seq. 0, or -1 if it is not a handle name. */
int handle_parse(const char *name, int *worker, uint64_t *seq);
/** Answers requests waiting with `wait` on @h whose condition now holds. */
void handle_check_waiters(struct handle *h);
bool quota_take(uid_t uid);
void quota_release(uid_t uid);

void addrlist_free(struct addrlist *al);
int addrlist_copy(struct addrlist *dst, const struct addrlist *src, size_t from, size_t n);

/* ---- socket addresses (sockaddr.c) ---- */

/** An address object ({family, host, port} or {family:"unix", path}) for @sa. */
json_t *sockaddr_json(const struct sockaddr *sa, socklen_t len);
/** Fills @sun from a unix @path ("@name" is abstract). 0, or -ENAMETOOLONG / -EINVAL. */
int sockaddr_unix(const char *path, struct sockaddr_storage *ss, socklen_t *len);
/** Parses a port parameter (number or string) into @out (a service string). 0, or -1. */
int port_string(const json_t *port, char *out, size_t outlen);
/** The number of a port parameter (a number, or a numeric or service-name string); -1 if unknown.
 */
int port_number(const json_t *port, int socktype);
/** @al := the unix address @path; -1 after answering @r when the path is unusable. */
int addrlist_unix(struct req *r, struct addrlist *al, const char *path, int socktype);
/** Sets the port of every IPv4/IPv6 address in @al. */
void addrlist_set_port(struct addrlist *al, int port);
/** Moves IPv6 addresses before IPv4 ones, keeping the order within each. */
void addrlist_inet6_first(struct addrlist *al);

/* ---- name resolution (resolve.c) ---- */

int resolver_start(int nthreads);
void resolver_stop(void);
/**
 * Resolves @host/@service off the loop for handle @h; when done,
 * h->on_resolved runs on @h's worker (not at all if @h was closed).
 * Numeric hosts are answered at once, inline. @flags: AI_PASSIVE (listen),
 * AI_CANONNAME, AI_NUMERICHOST (a name is then refused, never looked up).
 */
void resolve_for(struct handle *h, const char *host, const char *service, int family, int socktype,
                 int flags);

/* ---- method handlers ---- */

void m_ping(struct worker *w, struct req *r);
void m_discover(struct worker *w, struct req *r);
void m_stats(struct worker *w, struct req *r);
void m_address(struct worker *w, struct req *r);
void m_address_unpack(struct worker *w, struct req *r);
void m_connect(struct worker *w, struct req *r);
void m_listen(struct worker *w, struct req *r);
void m_accept(struct worker *w, struct req *r);
void m_read(struct worker *w, struct req *r);
void m_write(struct worker *w, struct req *r);
void m_pending(struct worker *w, struct req *r);
void m_flush(struct worker *w, struct req *r);
void m_shutdown(struct worker *w, struct req *r);
void m_close(struct worker *w, struct req *r);
void m_cancel(struct worker *w, struct req *r);
void m_localname(struct worker *w, struct req *r);
void m_peername(struct worker *w, struct req *r);
void m_status(struct worker *w, struct req *r);
void m_wait(struct worker *w, struct req *r);
void m_keep(struct worker *w, struct req *r);
void m_handles(struct worker *w, struct req *r);
void m_server(struct worker *w, struct req *r);
void m_recv_from(struct worker *w, struct req *r);
void m_send_to(struct worker *w, struct req *r);
void m_setsockopt(struct worker *w, struct req *r);
void m_getsockopt(struct worker *w, struct req *r);
void m_pair(struct worker *w, struct req *r);
void m_local_addresses(struct worker *w, struct req *r);
void m_release(struct worker *w, struct req *r);
void m_assign(struct worker *w, struct req *r);
void m_starttls(struct worker *w, struct req *r);
void m_tls_config(struct worker *w, struct req *r);
void m_disconnect(struct worker *w, struct req *r);
void stream_disconnected(struct handle *h);
/** Fails the writes waiting on @h with `aborted`; returns how many. */
size_t stream_cancel(struct handle *h);

/* sockopt.c */
int sockopt_prepare(struct req *r, struct handle *h);
int sockopt_apply_pre(struct handle *h, int fd, int family);

/* datagram.c */
void dgram_read(struct handle *h, struct req *r);
void dgram_readable(struct handle *h);
void dgram_writable(struct handle *h);
size_t dgram_abort_writes(struct handle *h, const char *why);
void dgram_write(struct handle *h, struct req *r, uint8_t *data, size_t len,
                 const struct sockaddr_storage *to, socklen_t tolen);

/* listener.c */
void listener_start(struct handle *h, int fd);

/* loop.c */
bool loop_can_accept(const struct handle *l);
void loop_accepted(struct handle *l, int fd);
void loop_notify_closed(struct handle *h, const char *reason);
void loop_server_ready(struct handle *l, struct req *r);
void loop_listener_closed(struct handle *l);
void loop_conn_gone(struct handle *l, uint64_t conn_id);
void m_accept_loop(struct worker *w, struct req *r);

/* stream.c internals used by listener.c and connect.c */
void listener_update(struct handle *h);
/** Hands connection @fd accepted by @l to a waiting accept, else to its accept loop. */
void listener_deliver(struct handle *l, int fd);
/** Starts stream @h on @fd, a connection @l accepted (a TLS listener's brings its session). */
void accepted_start(struct handle *l, struct handle *h, int fd);
enum { WF_RESOLVED, WF_CONNECTED, WF_READABLE, WF_WRITABLE, WF_DRAINED, WF_ERROR };
int wait_for_parse(const char *s);
void stream_update(struct handle *h);
void stream_start(struct handle *h, int fd);
void stream_close(struct handle *h);
void stream_status(struct handle *h, json_t *st);
/** Bytes accepted for @h but not yet in the kernel: netd's queue and the transport's. */
size_t stream_pending(struct handle *h);
bool stream_ready(struct handle *h, int wait_for);

#endif
