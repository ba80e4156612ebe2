/*
 * kind.h - the kinds of handle and how each behaves: address handles,
 * sockets with a peer (streams and datagram sockets) with their transport,
 * and listeners with their accept loop and acceptor; plus socket options.
 *
 * Each kind is a struct that starts with struct handle and has an
 * operations table (struct handle_ops) the handle layer calls. Streams move
 * bytes through a transport (plain here; TLS in tls/ implements the same
 * table) and listeners hand connections on through an acceptor (plain
 * here, TLS in tls/), so nothing in kind/ knows about TLS. Methods (the
 * layer above) parse parameters and call the functions declared here.
 */
#ifndef NETD_KIND_H
#define NETD_KIND_H

#include "core.h"
#include "req.h"
#include "handle.h"

struct sock;
struct listener;
struct relay;

/* ---- how a stream moves bytes: the transport table ---- */

/* Capabilities of a transport. */
#define TP_CAN_RELEASE 0x1u    /* the descriptor alone carries the stream (release) */
#define TP_CAN_OOB 0x2u        /* TCP urgent data may be sent */
#define TP_CAN_DISCONNECT 0x4u /* connect(AF_UNSPEC) may dissolve it */
#define TP_CAN_UPGRADE 0x8u    /* starttls may start TLS over it */
#define TP_CAN_SPLICE 0x10u    /* the descriptor carries the bytes: splice(2) may move them */

/* Set by a transport that needs the other direction to make progress
 * (TLS: a read that must write, a write that must read). */
#define TP_WANT_READ 0x1u
#define TP_WANT_WRITE 0x2u

struct transport {
    const char *name; /* "plain", "tls": also the kind named in refusals */
    unsigned caps;    /* TP_CAN_* */
    /* > 0: bytes read; 0: orderly end; -EAGAIN: nothing now; else -errno. */
    ssize_t (*recv)(struct sock *s, void *buf, size_t n);
    /* >= 0: bytes taken (0: none now); else -errno. */
    ssize_t (*send)(struct sock *s, const void *buf, size_t n);
    /* Bytes already inside the transport that a recv would return at once. */
    size_t (*buffered)(struct sock *s);
    /* Bytes the transport took but the kernel has not (TLS ciphertext). */
    size_t (*unsent)(struct sock *s);
    /* Ends the sending direction (TLS: close_notify first). */
    int (*shutdown_write)(struct sock *s);
    /* The socket s->h.fd is connected: brings the transport up (TLS: the
     * handshake) and then runs @done(s) once, with the handle in state
     * success (sock_start() has run) or failure. Never runs @done after
     * the handle closed. */
    void (*start)(struct sock *s, void (*done)(struct sock *s));
    /* The transport's part of status (new reference: status.tls), or NULL. */
    json_t *(*status)(struct sock *s);
    /* If @err is the transport's own failure, answers @r with the error
     * that tells why ("@what: ...") and returns true. */
    bool (*fail)(struct sock *s, struct req *r, int err, const char *what);
    /* Ends the transport's state; the socket itself is the handle's. */
    void (*close)(struct sock *s);
};

extern const struct transport plain_transport;

/* A queued write: whole writes carry their request, partial ones none. */
struct wseg {
    struct wseg *next;
    uint8_t *data;
    size_t len, off;
    struct req *req; /* NULL: bytes a partial write accepted */
};

/* How a socket is made: what connect or listen tries, and what it set up. */
struct sockspec {
    struct addrlist al;
    size_t al_next; /* connect: next address to try */
    struct sockaddr_storage bind_addr;
    socklen_t bind_len;
    json_t *pre_opts; /* "options" to set before bind/connect (sockopt.c) */
    bool any_host;    /* listen without host: every local address */
    bool self_target; /* connect: an address led to netd's own control socket */
    /* A socket file netd bound (unixsock.c): the directory it was made in,
     * opened as the caller before the bind, its name there, and the file
     * the bind made. It is removed at close only if it is still that file. */
    bool has_file;
    int unix_dirfd;
    char *unix_name;
    dev_t unix_dev;
    ino_t unix_ino;
    /* Who the socket is made for, asked about each address tried (access.c). */
    uid_t uid;
    struct ident *caller; /* a reference; NULL: netd's own */
    bool any_allowed;     /* some address tried was allowed */
    bool granted;         /* the address being tried is allowed by a grant (access.c): its
                           * bind or connect is made with netd's credentials */
    bool bind_granted;    /* the same for connect's bindhost/bindport */
    bool unix_netd;       /* the socket file was bound by a grant: netd's to look at and remove */
    char *deny_rule;      /* the first address denied: the rule and the message */
    char *deny_msg;
};

/* Streams and datagram sockets (stream.c, datagram.c). */
struct sock {
    struct handle h;
    struct reqlist readers, writers;
    const struct transport *tp;
    void *tp_state; /* the transport's own */
    unsigned tp_want;
    struct buf rbuf;
    bool eof;       /* the peer ended its side and rbuf holds the rest */
    bool mem_short; /* rbuf could not grow: the uid's memory budget is spent */
    int rerr;       /* read side failed with this errno */
    int werr;       /* write side failed with this errno */
    bool shut_wr_pending, shut_wr;
    struct wseg *wq_head, *wq_tail;
    size_t wq_bytes;
    uint64_t bytes_in, bytes_out;
    char *host; /* the host connect was given: TLS's default server name */
    struct sockspec spec;
    struct relay *relay; /* attached or spliced (relay.c): the relay moves its bytes */
    /* A unix socket of a caller netd does not act for as itself (creds_scm_wanted, at
     * sock_start): every byte netd sends on it carries the owner's uid and gid
     * (creds_send), and no relay splices into it. */
    bool scm;
};

/* ---- how a listener hands connections on: the acceptor table ---- */

struct acceptor {
    const char *name;
    bool releasable; /* the listening descriptor alone carries it (release) */
    /** Whether one more connection may be taken from the kernel now. */
    bool (*room)(struct listener *l);
    /** accept(2) gave @fd (taken); hand it on now or later (listener_deliver). */
    void (*accepted)(struct listener *l, int fd);
    /** Hands on connections that became ready (listener_update calls it). */
    void (*pump)(struct listener *l);
    /** @s was made for the connection being handed on: attach what goes with it. */
    void (*adopt)(struct listener *l, struct sock *s);
    /** The listener closes: ends everything the acceptor holds. */
    void (*close)(struct listener *l);
};

extern const struct acceptor plain_acceptor;

struct listener {
    struct handle h;
    struct reqlist acceptors, loopers;
    ev_timer retry; /* accept paused after EMFILE */
    bool starved;   /* out of descriptors since the last accept (logged once) */
    const struct acceptor *acc;
    void *acc_state; /* the acceptor's own */
    /* an accept loop (loop.c) */
    bool looping;
    uint64_t loop_conn;
    int loop_worker;
    unsigned loop_unacked;
    struct sockspec spec;
};

struct address {
    struct handle h;
    struct addrlist al;
};

extern const struct handle_ops address_ops, stream_ops, dgram_ops, listener_ops;

static inline struct sock *sock_of(struct handle *h)
{
    return (struct sock *)h; /* stream_ops and dgram_ops handles only */
}
static inline struct listener *listener_of(struct handle *h)
{
    return (struct listener *)h;
}
static inline struct address *address_of(struct handle *h)
{
    return (struct address *)h;
}

/* ---- access.c: what the policy lets a caller do ---- */

/** What access_judge() decided about one address. */
struct access_verdict {
    bool allowed;        /* the call may go ahead with this address */
    bool grant;          /* allowed by an allow rule that names what the caller could not do
                          * alone: the call is made with netd's own credentials */
    const char *rule;    /* the deciding rule, "default" when none; good while the callback runs */
    const char *refused; /* NULL, or what netd refuses whatever the policy says: "privileged
                          * port" and "abstract name" (without a grant), "control socket" */
};
/**
 * Whether @c may do @op with @sa: the policy (core's policy_check), netd's
 * own control sockets (never), and for callers other than root what they
 * could not do alone (a privileged port, an abstract name: only with a
 * grant; a unix path: with a grant as netd, else as the caller).
 */
void access_judge(const struct policy_caller *c, enum policy_op op, const struct sockaddr *sa,
                  socklen_t len, struct access_verdict *v);
/** Whether some allow rule for @c and @op names privileged port @port (before addresses are
 * known: each is judged later). */
bool access_port_grantable(const struct policy_caller *c, enum policy_op op, int port);
/** access_judge() for @r's caller: 0 allowed, 1 allowed by a grant, -1 @r answered with
 * `denied` and data.rule. */
int access_check(struct req *r, enum policy_op op, const struct sockaddr *sa, socklen_t len);
/** Answers @r with `denied`, data {rule}, the message saying who, what, where and why. */
void access_fail(struct req *r, enum policy_op op, const struct sockaddr *sa, socklen_t len,
                 const struct access_verdict *v);
/** The denial's message: "policy: uid U may not connect to HOST port P (rule 'R')". */
void access_message(uid_t uid, enum policy_op op, const struct sockaddr *sa, socklen_t len,
                    const struct access_verdict *v, char *out, size_t n);
/** "10.0.0.1 port 443", "::1 port 80", "/run/x.sock", "@name". */
void access_where(const struct sockaddr *sa, socklen_t len, char *out, size_t n);
/** Remembers @r's caller in @sp, for addresses tried after @r has been answered. */
void spec_set_caller(struct sockspec *sp, const struct req *r);
/** Whether @sp's caller may do @op with address @i of sp->al (sp->granted := by a grant);
 * remembers the first denial. */
bool spec_allows(struct sockspec *sp, enum policy_op op, size_t i);
/** Whether every address tried was denied (then deny_rule and deny_msg say why). */
bool spec_all_denied(const struct sockspec *sp);
void spec_free_caller(struct sockspec *sp);

/* ---- explain.c ---- */

/**
 * policy-explain of the call r->u.explain.op with @inner (its params,
 * checked; a part of @r): answers @r with {allowed, rule, addresses, bind?}
 * for the caller r->u.explain.uid/gid and r->groups, resolving a host name
 * first.
 */
void policy_explain(struct worker *w, struct req *r, const json_t *inner);

/* ---- address.c ---- */

/** `address`: resolves into @a (made by the caller) and answers @r. */
void address_start(struct address *a, struct req *r, const char *host, const char *service,
                   int family, int flags, bool wait);
/** `address` of a unix @path: nothing to resolve; answers @r. */
void address_path(struct address *a, struct req *r, const char *path);
/** The answer of address-unpack. */
void address_unpack(struct address *a, struct req *r);
/**
 * The lookup of @h (for listen, policy-explain) has ended: unparks @r, its
 * waiting caller, and when the lookup failed or found nothing answers it
 * with the resolve error and what to do next. Whether it failed.
 */
bool lookup_failed(struct handle *h, struct req *r, int gai, const struct addrlist *al);

/* ---- connect.c ---- */

/**
 * Connects @s (made by the caller, with its spec, hostname and transport
 * set) to @host/@service (resolved), or to the addresses in s->spec.al when
 * @host is NULL. With @wait, @r is answered once connected (or failed);
 * without, at once.
 */
void connect_start(struct sock *s, struct req *r, const char *host, const char *service, bool wait);
/** Fills @spec's bind address from bindhost/bindport; -1 if they are not numeric, -2 when
 * the policy denies the bind (@r answered). */
int connect_parse_bind(struct req *r, struct sockspec *spec, int socktype);
/** Copies the addresses of address handle @param of @r into @spec (and @r's port). -1: @r
 * answered. */
int connect_from_address(struct worker *w, struct req *r, struct sock *s);

/* ---- stream.c: bytes on streams ---- */

/** Starts stream @s on its socket s->h.fd (connected): state success, watchers ready. */
void sock_start(struct sock *s, int fd);
/** Bytes accepted for @s but not yet in the kernel: netd's queue and the transport's. */
size_t stream_pending(struct sock *s);
/** `flush`: pushes out what Nagle holds and what is queued. */
void stream_flush(struct sock *s);
/** `shutdown` in @rd/@wr directions; 0 or -errno. */
int stream_shutdown(struct sock *s, bool rd, bool wr);
/** The status members every socket with a peer has (local, remote, counts). */
void sock_status(struct sock *s, json_t *st);
/** Frees what a socket with a peer holds (its kinds' free). */
void sock_free(struct sock *s);
/** Restores the counters, host and socket file of a carried socket with a peer. */
void sock_restore_common(struct sock *s, const json_t *rec);
/** Answers @r with @s's own failure for @err, or the `os` error. */
void sock_fail_io(struct sock *s, struct req *r, int err, const char *what);
/** Sends what is queued on @s (answering whole writes that complete). */
void stream_flush_queue(struct sock *s);

/* ---- relay.c, attach.c: attach and splice (bytes without JSON) ---- */

/** Registers the relays' per-worker table (before workers_start). */
void relay_layer_init(void);
/** If @s is attached or spliced, answers @r (-32602, @what refused) and returns true. */
bool relay_refuse(struct sock *s, struct req *r, const char *what);
/**
 * `attach` of stream @s. With @upgrade the answer carries r->u.attach
 * (worker and relay) for rpc/, which hands over the control connection's
 * socket with relay_give_client() once the answer is out; else one end of
 * a socket pair leaves with the answer (r->pass_fd).
 */
void stream_attach(struct sock *s, struct req *r, bool upgrade);
/**
 * For an `attach` "upgrade" answered on @worker with relay @relay: the
 * control connection's socket @fd (taken; -1 when the connection ended
 * first) and @held (taken, malloc'd), the bytes the client sent after its
 * request. Any thread.
 */
void relay_give_client(int worker, uint64_t relay, int fd, uint8_t *held, size_t len);
/** `splice` of r's a and b, run on a's worker (and then b's when they differ). */
void stream_splice(struct worker *w, struct req *r);

/* ---- datagram.c ---- */

/** `recv-from`. */
void dgram_recv(struct sock *s, struct req *r);
/** `send-to` of @data (taken) to @to. */
void dgram_send_to(struct sock *s, struct req *r, uint8_t *data, size_t len,
                   const struct sockaddr_storage *to, socklen_t tolen);
/** The destination of send-to: an address handle of this worker or an address object. -1: @r
 * answered. */
int dgram_dest(struct worker *w, struct req *r, struct sockaddr_storage *ss, socklen_t *len);

/* ---- listener.c ---- */

/** Binds (and for streams listens) @h with @spec, resolving @host/@service, and answers @r. */
void listen_start(struct handle *h, struct sockspec *spec, struct req *r, const char *host,
                  const char *service, const char *path);
/** Starts listener @l on listening socket @fd. */
void listener_start(struct listener *l, int fd);
/** `accept`. */
void listener_accept(struct listener *l, struct req *r);
/** Watches the listening socket while someone wants a connection. */
void listener_update(struct listener *l);
/** Hands connection @fd of @l to a waiting accept, else to its accept loop. */
void listener_deliver(struct listener *l, int fd);

/* ---- loop.c: accept loops ---- */

bool loop_can_accept(const struct listener *l);
void loop_accepted(struct listener *l, int fd);
/** `accept-loop` (answered when the listener closes) and `server` (answered now). */
int loop_start(struct listener *l, struct req *r);
void loop_park(struct listener *l, struct req *r);
void loop_listener_closed(struct listener *l);
void loop_conn_gone(struct listener *l, uint64_t conn_id);
/** Gives listener @seq on @worker back one notification credit. Any thread. */
void loop_credit(int worker, uint64_t seq);

/* ---- fd.c: sockets from and to descriptors ---- */

/** A pair of connected handles (`pair`); answers @r. */
void sock_pair(struct worker *w, struct req *r, int type);
/** The releasable operation of sockets with a peer and of listeners. */
bool sock_releasable(struct handle *h, struct req *r, bool dup);
bool listener_releasable(struct handle *h, struct req *r, bool dup);
/** `release`: hands @h's descriptor (or a duplicate) to @r's answer. */
void handle_release(struct handle *h, struct req *r, bool dup);
/** `assign`: a handle for descriptor @fd (taken), answers @r. */
void handle_assign(struct worker *w, struct req *r, int fd);
/** `disconnect`. */
void sock_disconnect(struct sock *s, struct req *r);

/* ---- sockopt.c ---- */

/** Checks the "options" parameter of @r and keeps it in @spec. -1: @r answered. */
int sockopt_prepare(struct req *r, struct handle *h, struct sockspec *spec);
/** Sets the options of @spec on new socket @fd as @id. 0, or -errno. */
int sockopt_apply_pre(const struct ident *id, const struct sockspec *spec, int fd, int family);
void sockopt_set(struct worker *w, struct req *r);
void sockopt_get(struct worker *w, struct req *r);

/** Reads the kind of socket a connect/listen/pair asks for ("type"). */
int param_socktype(const struct req *r);

/* ---- unixsock.c: unix addresses and socket files, as the caller could use them ---- */

enum unix_use { UNIX_CONNECT, UNIX_SEND, UNIX_BIND, UNIX_ADDRESS };
/**
 * Whether the caller @id may name unix address @sa for @use: never one of
 * netd's own control sockets (by name, or for a path by the file it leads
 * to, looked up as @id, or as netd when a rule grants the path), and an
 * abstract name only when netd acts for @id with its own credentials or an
 * allow rule grants it (access.c). Other addresses pass. 0, or -1 with @r
 * answered (-32005); @what starts the message ("connect to").
 */
int unix_addr_check(struct req *r, const struct ident *id, const struct sockaddr *sa, socklen_t len,
                    enum unix_use use, const char *what);
/** Whether socket @fd is connected to one of netd's own control sockets. */
bool unix_peer_is_control(int fd);
/** Binds @fd to unix @sa as @id, keeping in @spec what unix_unbind needs. 0, or -errno. */
int unix_bind(const struct ident *id, int fd, const struct sockaddr *sa, socklen_t len,
              struct sockspec *spec);
/** At close: removes the socket file of @spec as @id if @remove and it is still the file
 * the bind made; forgets it either way. */
void unix_unbind(const struct ident *id, struct sockspec *spec, bool remove);
/**
 * Whether the caller @id may bind port @port (host order) for @op (listen,
 * bind): a port below ip_unprivileged_port_start only for root, or when an
 * allow rule for the caller names it (each address is then judged as it is
 * tried). 0, or -1 with @r answered (-32005); @what names the call ("listen
 * on 127.0.0.1:80").
 */
int port_bind_check(struct req *r, const struct ident *id, enum policy_op op, int port,
                    const char *what);

/* ---- carry.c: the kinds' state in a handle's record, over a restart ---- */

/** @n bytes at @p as a JSON string (base64; new reference). */
json_t *carry_bytes(const uint8_t *p, size_t n);
/** The bytes of member @key of @rec into a new *@out (NULL, 0 when absent). 0, or -EINVAL. */
int carry_bytes_get(const json_t *rec, const char *key, uint8_t **out, size_t *n);
/** @al as a JSON object (new reference), and back into @al (owned by the caller). 0 / -errno. */
json_t *carry_addrlist(const struct addrlist *al);
int carry_addrlist_get(const json_t *v, struct addrlist *al);
/** Moves the socket file @spec owns into @rec (this netd will not remove it), and back. */
void carry_spec_save(struct sockspec *spec, json_t *rec);
void carry_spec_restore(struct sockspec *spec, const json_t *rec);
/** The operations table of the kind named @name ("stream"...), or NULL. */
const struct handle_ops *kind_ops_named(const char *name);

#endif
