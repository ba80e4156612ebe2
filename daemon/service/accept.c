/*
 * accept.c - the main thread's accept loop over every control socket: the
 * peer's credentials are checked (SO_PEERCRED) and the connection is handed
 * to a worker, round robin; the main thread never touches it again. A uid
 * past --max-connections-per-uid, or one that would take the descriptors
 * kept for root, is refused with one `limit` line; denials are logged
 * once per uid per DENY_LOG_EVERY seconds, with their count.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rpc.h"
#include "service.h"

#define MAX_LISTEN NETD_MAX_PASSED

struct ctl_listener {
    ev_io io;
    ev_timer resume;
};

static struct ctl_listener *lst;
static int nlst;
static int reserve_fd = -1;
static uint64_t next_conn_id = 1;
static unsigned next_worker;
static adopted_fn on_adopted;
static rlim_t nofile = 1024; /* the open-file limit netd runs with */

static bool peer_allowed(const struct ident *id)
{
    /* netd is never its own client, whatever led a socket of its own here. */
    if (id->pid == getpid())
        return false;
    if (id->uid == 0 || id->uid == geteuid())
        return true;
    for (int i = 0; i < netd_cfg.n_allow_uid; i++)
        if (netd_cfg.allow_uid[i] == id->uid)
            return true;
    for (int i = 0; i < netd_cfg.n_allow_gid; i++)
        if (ident_in_group(id, netd_cfg.allow_gid[i]))
            return true;
    return false;
}

/* A refused client gets its answer and then netd waits (briefly) for it to
 * hang up: closing with its request unread would reset the connection and
 * lose the answer. */
struct denied {
    ev_io io;
    ev_timer timer;
    struct denied *prev, *next;
};

static struct denied *denied_list;
static int n_denied;
#define MAX_DENIED 64

static void denied_end(struct ev_loop *loop, struct denied *d)
{
    ev_io_stop(loop, &d->io);
    ev_timer_stop(loop, &d->timer);
    close(d->io.fd);
    if (reserve_fd < 0) /* the refused connection held it (accept_pause) */
        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (d->prev)
        d->prev->next = d->next;
    else
        denied_list = d->next;
    if (d->next)
        d->next->prev = d->prev;
    free(d);
    n_denied--;
}

static void on_denied_read(struct ev_loop *loop, ev_io *io, int revents)
{
    char junk[4096];
    ssize_t n = recv(io->fd, junk, sizeof junk, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        denied_end(loop, io->data);
}

static void on_denied_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    denied_end(loop, t->data);
}

/* Denials are logged once per uid per DENY_LOG_EVERY seconds, with how
 * many were not logged since: a refused client that retries in a loop
 * must not flood the log. */
#define DENY_LOG_EVERY 10.0
#define DENY_LOG_UIDS 64
static struct {
    uid_t uid;
    ev_tstamp last;
    unsigned long quiet; /* denials since the last line */
} deny_log[DENY_LOG_UIDS];

static void log_denied(struct ev_loop *loop, const struct ident *cr)
{
    ev_tstamp now = ev_now(loop);
    int slot = 0;
    for (int i = 0; i < DENY_LOG_UIDS; i++) {
        if (deny_log[i].last > 0 && deny_log[i].uid == cr->uid) {
            slot = i;
            break;
        }
        if (deny_log[i].last < deny_log[slot].last)
            slot = i; /* else the entry heard from longest ago */
    }
    bool known = deny_log[slot].last > 0 && deny_log[slot].uid == cr->uid;
    if (known && now - deny_log[slot].last < DENY_LOG_EVERY) {
        deny_log[slot].quiet++;
        return;
    }
    if (known && deny_log[slot].quiet)
        netd_log(LOG_WARN, "denied uid %u pid %d (and %lu more times in the last %.0f s)",
                 (unsigned)cr->uid, (int)cr->pid, deny_log[slot].quiet, now - deny_log[slot].last);
    else
        netd_log(LOG_WARN, "denied uid %u pid %d", (unsigned)cr->uid, (int)cr->pid);
    deny_log[slot].uid = cr->uid;
    deny_log[slot].last = now;
    deny_log[slot].quiet = 0;
}

/* Sends the one error @line (taken) and closes the connection once the
 * client hangs up (or after a while): closing with its request unread
 * would reset the connection and lose the answer. */
static void refuse(struct ev_loop *loop, int fd, char *line)
{
    if (line) {
        (void)!send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)!send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        free(line);
    }
    shutdown(fd, SHUT_WR);
    struct denied *d = n_denied < MAX_DENIED ? calloc(1, sizeof *d) : NULL;
    if (!d) {
        close(fd);
        return;
    }
    n_denied++;
    d->next = denied_list;
    if (denied_list)
        denied_list->prev = d;
    denied_list = d;
    ev_io_init(&d->io, on_denied_read, fd, EV_READ);
    ev_timer_init(&d->timer, on_denied_timer, 2.0, 0.);
    d->io.data = d->timer.data = d;
    ev_io_start(loop, &d->io);
    ev_timer_start(loop, &d->timer);
}

static void deny(struct ev_loop *loop, int fd, const struct ident *cr)
{
    char msg[160];
    if (cr->pid == getpid())
        snprintf(msg, sizeof msg, "a socket of netd's own may not use netd");
    else
        snprintf(msg, sizeof msg, "uid %u may not use netd (start netd with --allow-uid %u)",
                 (unsigned)cr->uid, (unsigned)cr->uid);
    log_denied(loop, cr);
    refuse(loop, fd, netd_rpc_error(NULL, NETD_E_DENIED, msg, NULL));
}

/* Descriptors only root's connections may take: the kernel hands out the
 * lowest free number, so a new one this close to the limit means few are
 * left. */
#define FD_RESERVE 64

/* Counts a connection of an allowed uid, or refuses it with `limit`: past
 * --max-connections-per-uid, or into the descriptors kept for root. */
static bool admit(struct ev_loop *loop, int fd, const struct ident *cr)
{
    const char *limit = NULL;
    char msg[160];
    if (cr->uid != 0 && (rlim_t)fd + FD_RESERVE >= nofile) {
        limit = "max_descriptors";
        snprintf(msg, sizeof msg, "netd is low on descriptors; the last %d are kept for root",
                 FD_RESERVE);
    } else if (!control_admit(cr->uid)) {
        limit = "max_connections";
        snprintf(msg, sizeof msg,
                 "uid %u has %zu control connections (netd --max-connections-per-uid)",
                 (unsigned)cr->uid, netd_cfg.max_conns_uid);
    }
    if (!limit)
        return true;
    netd_log(LOG_DEBUG, "refused a connection of uid %u: %s", (unsigned)cr->uid, limit);
    refuse(loop, fd, netd_rpc_error(NULL, NETD_E_LIMIT, msg, json_pack("{s:s}", "limit", limit)));
    return false;
}

/* Out of descriptors (@err): the reserve's place takes the connection off
 * the queue, so the listener does not stay readable and spin, and the
 * client gets one `limit` line (max_descriptors) before it is closed; the
 * reserve comes back when that connection is gone. Then this listener
 * pauses briefly. Logged once until an accept succeeds again. */
static bool starved;

static void accept_pause(struct ev_loop *loop, struct ctl_listener *l, int err)
{
    if (!starved)
        netd_log(LOG_WARN,
                 "control accept: %s; new connections are refused until descriptors "
                 "are free",
                 strerror(err));
    starved = true;
    if (reserve_fd >= 0) {
        close(reserve_fd);
        reserve_fd = -1;
        int c = accept4(l->io.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) {
            char msg[160];
            snprintf(msg, sizeof msg, "netd is out of descriptors (%s); try again later",
                     strerror(err));
            refuse(loop, c,
                   netd_rpc_error(NULL, NETD_E_LIMIT, msg,
                                  json_pack("{s:s}", "limit", "max_descriptors")));
        }
        /* Fails while the refused connection holds the last descriptor:
         * then denied_end() takes the reserve back. */
        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    ev_io_stop(loop, &l->io);
    ev_timer_set(&l->resume, 0.1, 0.);
    ev_timer_start(loop, &l->resume);
}

static void on_resume(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct ctl_listener *l = t->data;
    ev_io_start(loop, &l->io);
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    struct ctl_listener *l = io->data;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(io->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                accept_pause(loop, l, errno);
            return;
        }
        if (starved)
            netd_log(LOG_INFO, "control accept: accepting again");
        starved = false;
        /* Who the peer is, groups and all: netd acts with it for every request. */
        struct ident *peer = ident_from_peer(fd);
        if (!peer) {
            close(fd);
            continue;
        }
        if (!peer_allowed(peer)) {
            deny(loop, fd, peer);
            ident_unref(peer);
            continue;
        }
        if (!admit(loop, fd, peer)) {
            ident_unref(peer);
            continue;
        }
        int wi = (int)(next_worker++ % (unsigned)netd_nworkers);
        uint64_t id = next_conn_id++;
        uid_t uid = peer->uid;
        control_adopt(wi, fd, id, peer);
        if (on_adopted)
            on_adopted(wi, id, uid);
    }
}

int accept_start(struct ev_loop *loop, const struct ctlsock *socks, int n, adopted_fn adopted)
{
    lst = calloc((size_t)n, sizeof *lst);
    if (!lst)
        return -1;
    nlst = n;
    on_adopted = adopted;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        nofile = rl.rlim_cur;
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int i = 0; i < n; i++) {
        ev_io_init(&lst[i].io, on_accept, socks[i].fd, EV_READ);
        ev_init(&lst[i].resume, on_resume);
        lst[i].io.data = lst[i].resume.data = &lst[i];
        ev_io_start(loop, &lst[i].io);
    }
    return 0;
}

void accept_stop(struct ev_loop *loop)
{
    for (int i = 0; i < nlst; i++) {
        ev_io_stop(loop, &lst[i].io);
        ev_timer_stop(loop, &lst[i].resume);
    }
    free(lst);
    lst = NULL;
    nlst = 0;
    while (denied_list)
        denied_end(loop, denied_list);
    if (reserve_fd >= 0)
        close(reserve_fd);
    reserve_fd = -1;
}
