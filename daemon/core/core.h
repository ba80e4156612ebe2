/*
 * core.h - the bottom layer of netd: configuration, the policy (which
 * callers may connect, send, listen and bind where), logging, byte buffers,
 * id maps, worker threads with their loops and message queues, statistics,
 * name resolution and socket addresses.
 *
 * Nothing in core/ knows what a request, a handle or a control connection
 * is. Upper layers keep their per-worker state in the worker's slots and
 * take part in a worker's loop turn (flush, reap) and in its stop through
 * hooks they register before the workers start; the resolver calls back
 * with the token it was given. So core/ links to nothing of netd above it.
 *
 * Threads: the main thread owns the control listeners and signals; N worker
 * threads each run one libev loop and own what is placed on them; resolver
 * threads run getaddrinfo(). The only way between threads is a worker's
 * message queue (worker_post), and things on another thread are named by
 * id, never by pointer.
 */
#ifndef NETD_CORE_H
#define NETD_CORE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <ev.h>
#include <jansson.h>

#include "codec.h"
#include "errors.h"
#include "line.h"
#include "methods.h"

/* ---- configuration (config.c, options.c) ----
 *
 * netd_cfg is written by the main thread only: at start before any worker
 * runs, and at a reload while every worker is parked (workers_quiesce), so
 * workers read it without locks. */

#define NETD_MAX_ALLOW 32
#define NETD_MAX_SOCKETS 8

struct netd_config {
    char *sockets[NETD_MAX_SOCKETS]; /* control sockets; none given: "@netd" */
    int n_sockets;
    int workers;
    size_t max_request;      /* longest request line */
    size_t max_handles;      /* handles per uid */
    size_t max_buffer;       /* bytes a handle buffers on its own (partial writes) */
    size_t max_read;         /* largest nbytes, and the bound of read "all" */
    size_t max_queued;       /* bytes of whole writes queued on one handle */
    unsigned max_inflight;   /* requests in flight per control connection */
    size_t out_high;         /* answers queued for a client before netd stops reading it */
    size_t out_low;          /* ... and resumes */
    size_t max_memory;       /* bytes netd holds for one uid (budget.c) */
    size_t max_memory_conn;  /* ... of which one control connection's own buffers (0: max_memory) */
    size_t max_memory_total; /* bytes netd holds for all uids together (0: no such cap) */
    size_t max_conns_uid;    /* control connections per uid (root: no limit) */
    size_t max_lookups_uid;  /* name lookups one uid has running at once */
    uid_t allow_uid[NETD_MAX_ALLOW];
    int n_allow_uid;
    gid_t allow_gid[NETD_MAX_ALLOW];
    int n_allow_gid;
    int log_level;
    double drain_timeout; /* seconds accepted writes may take to drain at a stop */
};

extern struct netd_config netd_cfg;
/** The built-in defaults (a copy; no strings owned). */
struct netd_config config_defaults(void);

/** What options_load() read: the settings, where from, and the file's own sections. */
struct options {
    struct netd_config cfg;
    char config_file[4096]; /* the file read, "" if none */
    bool check_only;        /* --check-config */
    struct policy *policy;  /* the file's [policy] and [rule NAME] sections (never NULL after 0) */
};

/**
 * Builds settings from the defaults, the configuration file (--config FILE,
 * else /etc/netd/netd.conf when it exists) and then @argv, which wins.
 * Returns 0; 1 when --help/--version printed and netd should exit 0; -1 with
 * the reason in @err ("FILE:LINE: ..." for the file). Frees nothing of
 * @out on failure: call options_free() either way.
 */
int options_load(int argc, char **argv, struct options *out, char *err, size_t errlen);
/** Registers @line, whose text `--version` prints after netd's own line (the
 * layer above says which wolfSSL runs); called before options_load(). */
void options_version_line(const char *(*line)(void));
/** Frees the strings of @o's settings and its policy (unless taken: set o->policy NULL). */
void options_free(struct options *o);
/**
 * Makes @next the running configuration, to be called while every worker is
 * parked: copies the settings that may change at run time into netd_cfg and
 * logs, for each setting that may not (sockets, workers), that it needs a
 * restart. Returns how many such settings differ.
 */
int options_apply(const struct netd_config *next);
/** Writes the effective settings of @c as configuration file lines ("key = value"). */
void options_print(FILE *f, const struct netd_config *c);

/* The addresses netd's own control sockets listen on: never a target of a
 * request (main.c adds each before the workers start; read-only after). */
#define NETD_MAX_CONTROL 16
/** Records the address listening socket @fd is bound to. */
void netd_control_addr_add(int fd);
/** Whether @sa is the address of one of netd's control sockets. */
bool netd_is_control_addr(const struct sockaddr *sa, socklen_t len);
/** Whether @st is the file of one of netd's control sockets (same device and inode). */
bool netd_is_control_file(const struct stat *st);

/* ---- acting with the caller's identity (creds.c) ---- */

#define STAT_KINDS 8 /* handle kinds counted in figures */

/* What one uid has done through netd, for `stats` of callers other than
 * root: counters shared by every worker (relaxed atomics, stat_add). */
struct uid_stats {
    uint64_t key;         /* uid + 1; 0: a free slot */
    uint64_t connections; /* control connections open now */
    uint64_t requests;    /* requests run, since netd started */
    uint64_t handles[STAT_KINDS];
    uint64_t bytes_in, bytes_out; /* through its handles, since netd started */
};

/**
 * Who a request is for: the peer of a control connection, as SO_PEERCRED
 * (uid, gid, pid) and SO_PEERGROUPS (every supplementary group) gave it at
 * accept. Never changed once made; shared between threads by reference
 * (ident_ref/ident_unref, atomic). NULL wherever an identity is taken
 * means netd's own work, which acts as netd.
 */
struct ident {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    int ngroups;
    gid_t *groups;
    struct uid_stats *stats; /* its uid's figures; NULL for root (the daemon's are root's) */
    int refs;
};

/** Adds @delta to @id's figure @field (nothing for root, whose figures are the daemon's). */
#define IDENT_STAT_ADD(id, field, delta)                                                           \
    do {                                                                                           \
        if ((id) && (id)->stats)                                                                   \
            stat_add(&(id)->stats->field, (delta));                                                \
    } while (0)

/** The identity of the peer of unix socket @fd; NULL with errno when it cannot be read. */
struct ident *ident_from_peer(int fd);
/** A new identity with one reference (@groups copied); NULL on OOM. */
struct ident *ident_new(uid_t uid, gid_t gid, pid_t pid, const gid_t *groups, int ngroups);
/** Adds a reference to @id (may be NULL) and returns it; any thread. */
struct ident *ident_ref(struct ident *id);
/** Drops a reference to @id (may be NULL); the last one frees it. */
void ident_unref(struct ident *id);
/** Whether @id's primary or a supplementary group is @g. */
bool ident_in_group(const struct ident *id, gid_t g);
/** Whether netd acts for @id with its own credentials: root, netd's own uid, or NULL. */
bool ident_is_netd(const struct ident *id);
/** Whether @id is root (uid 0) or NULL (netd's own work). */
bool ident_is_root(const struct ident *id);

/*
 * The only calls that act with another identity. Each wrapper does its one
 * system call with the caller's euid, egid and groups on this thread (raw
 * setresuid/setresgid/setgroups, which change only the calling thread), and
 * switches back before it returns; for ident_is_netd() callers it is the
 * plain call. Each returns what the call returns, or a negated errno (the
 * kernel's when it refused the caller; EPERM if netd cannot switch).
 */
int creds_socket(const struct ident *id, int domain, int type, int protocol);
int creds_socketpair(const struct ident *id, int domain, int type, int protocol, int sv[2]);
int creds_bind(const struct ident *id, int fd, const struct sockaddr *sa, socklen_t len);
/** connect(2); as the caller for unix addresses (the peer's SO_PEERCRED is then the caller). */
int creds_connect(const struct ident *id, int fd, const struct sockaddr *sa, socklen_t len);
/** sendto(2); as the caller when @to is a unix address, and then with the caller's
 * SCM_CREDENTIALS (as creds_send). */
ssize_t creds_sendto(const struct ident *id, int fd, const void *buf, size_t len, int flags,
                     const struct sockaddr *to, socklen_t tolen);
/**
 * sendmsg(2) on connected unix socket @fd for @id, with an SCM_CREDENTIALS
 * message naming @id's uid and gid and netd's own pid: what a peer that
 * reads credentials (SO_PASSCRED) then sees, instead of netd's real uid
 * (0). For callers netd serves as itself (ident_is_netd) it is a plain
 * send(2), and the kernel's credentials are netd's. Bytes taken, or
 * -errno (-EPERM when netd may not name @id: no CAP_SETUID/CAP_SETGID).
 */
ssize_t creds_send(const struct ident *id, int fd, const void *buf, size_t len, int flags);
/** sendto(2) as netd, to a destination a policy rule grants @id, which a unix
 * peer still sees with @id's SCM_CREDENTIALS (as creds_send). */
ssize_t creds_sendto_granted(const struct ident *id, int fd, const void *buf, size_t len, int flags,
                             const struct sockaddr *to, socklen_t tolen);
/** Whether netd's sends on @fd for @id must go through creds_send(): @fd is a unix socket
 * and netd does not act for @id as itself. */
bool creds_scm_wanted(const struct ident *id, int fd);
/** listen(2) as the caller: a unix client's SO_PEERCRED of the listener is the caller. */
int creds_listen(const struct ident *id, int fd, int backlog);
/** accept4(2): the accepted socket belongs to the caller. */
int creds_accept(const struct ident *id, int fd, int flags);
/** setsockopt(2), as the caller unless the option needs no privilege at all. */
int creds_setsockopt(const struct ident *id, int fd, int level, int name, const void *val,
                     socklen_t len);
int creds_open(const struct ident *id, const char *path, int flags);
int creds_stat(const struct ident *id, const char *path, struct stat *st);
int creds_fstatat(const struct ident *id, int dirfd, const char *name, struct stat *st, int flags);
int creds_unlinkat(const struct ident *id, int dirfd, const char *name, int flags);

/* Files a caller names (TLS certificates, keys, trust stores): read whole
 * into memory as the caller, so nothing else ever opens them. */
#define NETD_FILE_MAX (4u << 20)       /* one file */
#define NETD_DIR_FILES_MAX (16u << 20) /* the files of one directory together */
#define NETD_DIR_ENTRIES_MAX 4096      /* entries of one directory looked at */

enum file_err {
    FILE_OK = 0,
    FILE_EOPEN,   /* the kernel refused to open it as the caller: errno in err */
    FILE_ENOTREG, /* not a regular file (a FIFO, a device, a directory) */
    FILE_ETOOBIG, /* larger than the bound */
    FILE_EREAD,   /* reading failed: errno in err */
    FILE_ENOTDIR, /* a directory was wanted */
};

struct filedata {
    uint8_t *data; /* malloc'd, with a NUL after the last byte */
    size_t len;
    struct stat st; /* fstat of the descriptor the caller opened */
    int err;        /* errno of FILE_EOPEN / FILE_EREAD */
};

struct filelist {
    struct filedata *files;
    char **names;
    size_t count;
    struct stat dir;
    int err;
};

/**
 * Opens @path as @id (O_NONBLOCK, so a FIFO never blocks the thread), and
 * reads it if it is a regular file of at most @max bytes. FILE_OK, or why
 * not; @out is filled (filedata_free) either way.
 */
enum file_err creds_read_file(const struct ident *id, const char *path, size_t max,
                              struct filedata *out);
/**
 * Opens directory @path as @id and reads each regular file in it that @id
 * may open (hidden names skipped; links followed with @id's rights), in
 * the directory's order: at most NETD_DIR_ENTRIES_MAX entries, each at most
 * NETD_FILE_MAX and together at most NETD_DIR_FILES_MAX bytes (else
 * FILE_ETOOBIG). Entries it cannot open or that are not regular are left
 * out. filelist_free frees @out either way.
 */
enum file_err creds_read_dir(const struct ident *id, const char *path, struct filelist *out);
void filedata_free(struct filedata *f);
void filelist_free(struct filelist *l);

/** The first port an unprivileged caller may bind (ip_unprivileged_port_start; read at
 * the first call and by creds_reload()). */
int netd_unprivileged_port_start(void);
/** Reads the figures netd takes from the system again (the unprivileged port start);
 * policy_new() calls it, so every rule set (at start and at each reload) is built on
 * what the system says then. */
void creds_reload(void);

/* ---- policy (policy.c, policy_parse.c) ----
 *
 * Which callers may connect, send, listen and bind where: the [policy] and
 * [rule NAME] sections of the configuration file. Rules are tried in file
 * order and the first that matches decides (first match); when none does,
 * the policy's default decides and the rule is called "default".
 *
 * THE QUERY API, for every layer above (kind/ asks at connect, per address
 * tried; at send-to; at listen and bind; method/ for policy-explain; the
 * trust checks for their grants): fill a struct policy_query and call
 * policy_check(). The verdicts:
 *   POLICY_DENY    a deny rule matched, or [policy] default = deny: refuse
 *                  with -32005 denied, error.data.rule = the rule's name;
 *   POLICY_ALLOW   an allow rule matched. An allow rule matches a
 *                  privileged port (listen/bind below the system's
 *                  ip_unprivileged_port_start), an abstract name or a unix
 *                  path only when it names them, so ALLOW for one of those
 *                  means the operator wrote the grant out: netd's trust
 *                  checks for callers other than root give way to it, and
 *                  the one call that needs the privilege (the bind, the
 *                  unix connect or send) is made with netd's own
 *                  credentials (kind/access.c decides, kind/unixsock.c and
 *                  the kinds make the call);
 *   POLICY_DEFAULT no rule matched and the default is allow: netd does what
 *                  it does without a policy (the trust checks apply).
 * The rule name is good until the calling worker's callback returns (a
 * reload swaps the set only while every worker is parked); copy it to keep
 * it longer. Workers call without a lock: the running set never changes
 * under them. */

enum policy_op { POLICY_CONNECT, POLICY_SEND_TO, POLICY_LISTEN, POLICY_BIND, POLICY__OPS };

/** Who asks: uid, primary gid and supplementary groups (SO_PEERCRED/SO_PEERGROUPS). */
struct policy_caller {
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    int ngroups;
};

struct policy_query {
    const struct policy_caller *caller;
    enum policy_op op;
    const struct sockaddr *addr; /* the destination (connect, send-to) or local address */
    socklen_t addrlen;
};

enum policy_verdict { POLICY_DEFAULT, POLICY_ALLOW, POLICY_DENY };

/** What the running policy says about @q; *@rule := the deciding rule's name or "default". */
enum policy_verdict policy_check(const struct policy_query *q, const char **rule);
/**
 * Whether some allow rule selecting @c for @op names @port in its ports: a
 * grant of privileged port @port is possible at some address. The trust
 * check of a port asks it before the addresses are known; each address is
 * then judged by policy_check (first match).
 */
bool policy_grants_port(const struct policy_caller *c, enum policy_op op, int port);
/**
 * The handle limit of @uid: the max-handles of the first rule (file order)
 * that selects @uid (by uid, or a rule for everyone) and sets one, else
 * @dflt. Handles are counted per uid, so caps do not select by group.
 * *@rule (may be NULL) := that rule's name, or NULL when @dflt applies.
 */
size_t policy_max_handles(uid_t uid, size_t dflt, const char **rule);
/** As policy_max_handles(), for the memory budget (max-memory, in place of --max-memory). */
size_t policy_max_memory(uid_t uid, size_t dflt, const char **rule);
const char *policy_op_name(enum policy_op op);
/** The operation named @s ("connect", "send-to", "listen", "bind"), or -1. */
int policy_op_parse(const char *s);

struct policy;
/** An empty rule set (default allow), for the file's sections; NULL on OOM. */
struct policy *policy_new(void);
void policy_free(struct policy *p);
/** The file enters section @section ("policy", "rule NAME") on @line. 0, or -1 with why. */
int policy_section(struct policy *p, const char *section, int line, char *why, size_t n);
/** @key = @value in the section last entered. 0, or -1 with why. */
int policy_key(struct policy *p, const char *key, const char *value, char *why, size_t n);
/** The file has ended: checks every rule is whole. 0, or -1 with the rule's line and why. */
int policy_finish(struct policy *p, int *line, char *why, size_t n);
size_t policy_rule_count(const struct policy *p);
/** Writes @p as the file's sections (for --check-config). */
void policy_print(FILE *f, const struct policy *p);
/** The running policy (NULL: none, every answer is the default). */
const struct policy *policy_current(void);
/** Makes @next (taken) the running policy and returns the one it replaces. Main thread,
 * before the workers start or while they are parked (workers_quiesce). */
struct policy *policy_swap(struct policy *next);

/** The policy's view of identity @id (uid, gid, every group); of @uid/@gid alone when @id is
 * NULL (netd's own work). Good while @id lives. */
struct policy_caller policy_caller_of(const struct ident *id, uid_t uid, gid_t gid);

/* ---- logging (log.c) ---- */

enum { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
void netd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int netd_log_level_parse(const char *name);
/** Decides, from JOURNAL_STREAM and stderr, whether lines go to journald (priority prefixes,
 * no timestamps). Called by main at start; the first line decides otherwise. */
void netd_log_init(void);

/* ---- systemd's notification socket (sdnotify.c; main thread only) ---- */

/** Opens the socket NOTIFY_SOCKET names: 1, 0 when there is none, -errno. */
int sdn_init(void);
bool sdn_enabled(void);
void sdn_fini(void);
/** Sends @msg ("READY=1", "FDSTORE=1\nFDNAME=x"...) with @nfds (at most 16) descriptors
 * @fds. 1 sent, 0 no socket, -errno (logged). */
int sdn_send(const char *msg, const int *fds, int nfds);
int sdn_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** The watchdog interval systemd asks for (WATCHDOG_USEC, for this pid), 0 if none. */
uint64_t sdn_watchdog_usec(void);

/* ---- control sockets and descriptors from systemd (ctlsock.c; main thread) ---- */

/* Control sockets and the descriptors netd stored (service/restart.c: at most 4096). */
#define NETD_MAX_PASSED 5120

/** A descriptor systemd passed (LISTEN_FDS), with its LISTEN_FDNAMES name. */
struct passed_fd {
    int fd;
    char name[256];
};

/** Takes the descriptors passed to this process (close-on-exec) and unsets LISTEN_*; how many. */
int listen_fds_take(struct passed_fd *out, int max);

struct ctlsock {
    int fd;
    char name[120];      /* "@name" or a path, as served */
    bool unlink_at_exit; /* a socket file netd created */
};

/** Serves @fd passed by systemd as @fdname: checks it is a listening unix stream socket. 0/-1. */
int ctlsock_adopt(struct ctlsock *cs, int fd, const char *fdname);
/** Binds and listens on @name ("@abstract" or a path, a stale file replaced). 0, or -1 logged. */
int ctlsock_open(struct ctlsock *cs, const char *name);
/** Closes @cs, removing the file netd created. */
void ctlsock_close(struct ctlsock *cs);

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

/**
 * Like buf_reserve, but any growth of @b's allocation is first charged to
 * @uid (mem_charge at @level); -ENOBUFS when the budget refuses it.
 */
int buf_reserve_for(struct buf *b, size_t extra, uid_t uid, int level);
/** buf_free of a buffer grown with buf_reserve_for: its allocation goes back to @uid. */
void buf_free_for(struct buf *b, uid_t uid);

/* ---- what each uid holds: memory, connections, lookups (budget.c) ---- */

enum uid_count { UC_MEMORY, UC_CONNS, UC_LOOKUPS, UC__COUNT };
/** The shared counter @which of @uid (any thread, atomic); NULL if the table is full. */
uint64_t *uid_counter(uid_t uid, enum uid_count which);
/** Adds one to counter @which of @uid unless that passes @max; whether it did. */
bool uid_take(uid_t uid, enum uid_count which, uint64_t max);
void uid_give(uid_t uid, enum uid_count which);
uint64_t uid_get(uid_t uid, enum uid_count which);

/* How a charge is checked: against the budget, with the small overdraft
 * of calls that drain memory (reads, close), or not at all (memory the
 * daemon is already committed to, such as the answer of a call it took). */
enum mem_level { MEM_NORMAL, MEM_DRAIN, MEM_FORCE };
/** Charges @n bytes to @uid: false, and nothing charged, past its --max-memory or
 * the daemon's --max-memory-total (root keeps the last --max-memory of it). */
bool mem_charge(uid_t uid, size_t n, enum mem_level level);
void mem_release(uid_t uid, size_t n);
/** Whether @uid is at its budget (new work that needs memory is refused). */
bool mem_over(uid_t uid);
/** Bytes charged for every uid together. */
uint64_t mem_total(void);
/** Gives freed memory back to the system (malloc_trim) when the charged total has
 * fallen well below its peak since the last time; any thread, one at a time. */
void mem_trim(void);

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
    uint64_t handles[STAT_KINDS]; /* by handle kind number */
    uint64_t bytes_in, bytes_out;
};

/* Per-worker state of the layers above core, one slot each. */
enum worker_slot { WS_HANDLES, WS_CONTROL, WS_TLS, WS_RELAY, WS_MONITOR, WS__COUNT };

struct worker {
    int index;
    struct ev_loop *loop;
    int epfd; /* the loop's epoll descriptor (found at init), or -1 */
    ev_async wake;
    ev_prepare flush; /* runs the flush hooks once per loop turn */
    ev_check reap;    /* runs the reap hooks after the callbacks of a turn */
    ev_timer trim;    /* once a second: memory freed after a burst goes back (mem_trim) */
    pthread_t thread;

    /* queue: taken under lock; the receiver swaps the whole list out */
    pthread_mutex_t lock;
    struct msg *head, **tail;

    void *slot[WS__COUNT];
    bool stopping;
    uint64_t beat; /* the last liveness ping it answered (workers_ping) */
    struct worker_stats stats;
};

/**
 * How a layer above core takes part in every worker's life. Each function
 * may be NULL. @init runs on the main thread before the worker's thread
 * starts (0, or -errno); @flush before the loop waits (answers go out);
 * @reap after each turn's callbacks (closed objects are freed); @stop on the
 * worker when netd stops, in the order the hooks were registered; @fini on
 * the main thread after every worker has stopped; @leaks writes a line per
 * object still alive into @out and returns how many (the check at exit).
 */
struct worker_hook {
    int (*init)(struct worker *w);
    void (*flush)(struct worker *w);
    void (*reap)(struct worker *w);
    void (*stop)(struct worker *w);
    void (*fini)(struct worker *w);
    size_t (*leaks)(struct worker *w, FILE *out);
};

/**
 * Called on @w, whose watchers of @fd are stopped, before @fd goes to
 * another thread that will own and close it: @w's loop lets go of @fd in
 * the kernel now. libev removes a stopped descriptor from epoll only
 * lazily, at its next event, which would race with the new owner's close
 * (and with a new socket that reuses the number).
 */
void worker_release_fd(struct worker *w, int fd);

/** Registers @h (static storage) for every worker; before workers_start(). */
void worker_hook_add(const struct worker_hook *h);

extern struct worker *netd_workers;
extern int netd_nworkers;

int workers_start(int n);
/**
 * Stops every worker, then checks that each loop is empty (no watcher left
 * active) and each layer holds nothing. Returns the number of things left
 * behind, each named on stderr as "netd: leak: ...".
 */
size_t workers_stop(void);
/**
 * Parks every worker between two messages, runs @fn(@arg) on the calling
 * thread (main) while none of them runs, then lets them go on: how settings
 * change at a reload without any reader seeing half of them.
 */
void workers_quiesce(void (*fn)(void *), void *arg);
/**
 * Liveness for the watchdog: workers_alive() says whether every worker has
 * answered the last workers_ping(), i.e. turned its loop since; the first
 * call, before any ping, is true. Main thread.
 */
bool workers_alive(void);
void workers_ping(void);
/** Queues @m for worker @index and wakes it. Any thread. Takes ownership of @m. */
void worker_post(int index, struct msg *m);
/** The worker running on this thread, or NULL on other threads. */
struct worker *worker_self(void);
void stat_add(uint64_t *counter, int64_t delta);
uint64_t stat_get(const uint64_t *counter);

/* ---- socket addresses (sockaddr.c) ---- */

struct addrlist {
    struct sockaddr_storage *addrs;
    socklen_t *lens;
    int *socktypes;
    size_t count;
    char *canonname; /* with AI_CANONNAME */
};

void addrlist_free(struct addrlist *al);
int addrlist_copy(struct addrlist *dst, const struct addrlist *src, size_t from, size_t n);
/** @al := the one unix address @path ("@name" is abstract). 0, or -errno. */
int addrlist_unix(struct addrlist *al, const char *path, int socktype);
/** Sets the port of every IPv4/IPv6 address in @al. */
void addrlist_set_port(struct addrlist *al, int port);
/** Moves IPv6 addresses before IPv4 ones, keeping the order within each. */
void addrlist_inet6_first(struct addrlist *al);

/** An address object ({family, host, port} or {family:"unix", path}) for @sa. */
json_t *sockaddr_json(const struct sockaddr *sa, socklen_t len);
/** Fills @sun from a unix @path ("@name" is abstract). 0, or -ENAMETOOLONG / -EINVAL. */
int sockaddr_unix(const char *path, struct sockaddr_storage *ss, socklen_t *len);
/** Parses a port parameter (number or string) into @out (a service string). 0, or -1. */
int port_string(const json_t *port, char *out, size_t outlen);
/** The number of a port parameter (a number, or a numeric or service-name string); -1 if unknown.
 */
int port_number(const json_t *port, int socktype);

/* ---- readiness now (pollnow.c) ---- */

/** The revents poll(2) gives @fd for @events without waiting; 0 for fd < 0. */
short fd_poll_now(int fd, short events);

/* ---- name resolution (resolve.c) ---- */

/**
 * A finished lookup, run on the worker it was started for. @token is the
 * caller's; @gai is getaddrinfo's result (errno holds the system error for
 * EAI_SYSTEM); the callee may take @al's contents (leaving it zeroed).
 */
typedef void (*resolve_cb)(struct worker *w, uint64_t token, int gai, struct addrlist *al);

/** Starts @nthreads resolver threads; the pool grows to RESOLVER_MAX when all are busy. */
#define RESOLVER_MAX 64
int resolver_start(int nthreads);
void resolver_stop(void);
/**
 * Resolves @host/@service off the loop; @cb(@w, @token, ...) runs on @w when
 * done. Numeric hosts are answered at once, inline, before this returns.
 * @flags: AI_PASSIVE (listen), AI_CANONNAME, AI_NUMERICHOST (a name is then
 * refused, never looked up). The caller tolerates @token having gone.
 */
void resolve_start(struct worker *w, uint64_t token, uid_t uid, resolve_cb cb, const char *host,
                   const char *service, int family, int socktype, int flags);
/**
 * Why a lookup failed, for an error message: what getaddrinfo says
 * (@gai; 0 for a lookup that found no address) and what the caller can do
 * about it. Reads errno for EAI_SYSTEM, so call it first thing in the
 * callback. Returns @buf.
 */
const char *resolve_why(int gai, char *buf, size_t n);
/** The caller of lookup @token on @w gave up: a lookup not yet started is dropped
 * (its callback never runs); one under way runs out, its answer found nobody. */
void resolve_cancel(struct worker *w, uint64_t token);

#endif
