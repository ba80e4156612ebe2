/*
 * main.c - netd's entry point: options, the control socket, peer
 * credentials, and an orderly stop on SIGTERM/SIGINT.
 *
 * The main thread runs its own small loop that only accepts control
 * connections and hands each to a worker (round robin); it never touches a
 * connection after that.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "rpc.h"

static int listen_fd = -1;
static int reserve_fd = -1;
static char *listen_path; /* a filesystem socket netd created */
static uint64_t next_conn_id = 1;
static unsigned next_worker;

static void usage(FILE *f)
{
    fprintf(
        f, "usage: netd [options]\n"
           "Owns network sockets for local programs, which drive them with JSON-RPC 2.0\n"
           "(one request per line) over a unix socket.\n\n"
           "  --socket NAME        control socket: @name is abstract, else a path (default @netd)\n"
           "  --workers N          worker threads, each with its own event loop (default: CPUs)\n"
           "  --max-request BYTES  longest request line (default 16777216)\n"
           "  --max-handles N      handles one uid may hold (default 4096)\n"
           "  --max-buffer BYTES   bytes a handle buffers for partial writes (default 1048576)\n"
           "  --max-read BYTES     largest read, and the bound of read \"all\" (default 16777216)\n"
           "  --allow-uid UID      also serve this uid (repeatable; root and netd's uid always)\n"
           "  --allow-gid GID      also serve members of this group (repeatable)\n"
           "  --log-level LEVEL    error, warn, info or debug (default info)\n"
           "  -h, --help           this text\n"
           "  --version            print netd's version and exit\n\n"
           "Runs in the foreground and logs to stderr; SIGTERM or SIGINT stops it cleanly.\n"
           "Socket activation: a socket passed by systemd (LISTEN_FDS) is used instead.\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || s[0] == '-')
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    static const struct option opts[] = {{"socket", required_argument, 0, 's'},
                                         {"workers", required_argument, 0, 'w'},
                                         {"max-request", required_argument, 0, 'r'},
                                         {"max-handles", required_argument, 0, 'H'},
                                         {"max-buffer", required_argument, 0, 'b'},
                                         {"max-read", required_argument, 0, 'R'},
                                         {"allow-uid", required_argument, 0, 'u'},
                                         {"allow-gid", required_argument, 0, 'g'},
                                         {"log-level", required_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'}, /* the CMake project version */
                                         {0, 0, 0, 0}};
    int c;
    size_t v;
    int idx = 0;
    while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
        switch (c) {
        case 's':
            netd_cfg.socket_name = optarg;
            break;
        case 'w':
            if (parse_size(optarg, &v) < 0 || v > 256)
                goto bad;
            netd_cfg.workers = (int)v;
            break;
        case 'r':
            if (parse_size(optarg, &netd_cfg.max_request) < 0)
                goto bad;
            break;
        case 'H':
            if (parse_size(optarg, &netd_cfg.max_handles) < 0)
                goto bad;
            break;
        case 'b':
            if (parse_size(optarg, &netd_cfg.max_buffer) < 0)
                goto bad;
            break;
        case 'R':
            if (parse_size(optarg, &netd_cfg.max_read) < 0)
                goto bad;
            break;
        case 'u':
            if (parse_size(optarg, &v) < 0 && strcmp(optarg, "0") != 0)
                goto bad;
            if (netd_cfg.n_allow_uid == NETD_MAX_ALLOW)
                goto bad;
            netd_cfg.allow_uid[netd_cfg.n_allow_uid++] = (uid_t)strtoul(optarg, NULL, 10);
            break;
        case 'g':
            if (parse_size(optarg, &v) < 0 && strcmp(optarg, "0") != 0)
                goto bad;
            if (netd_cfg.n_allow_gid == NETD_MAX_ALLOW)
                goto bad;
            netd_cfg.allow_gid[netd_cfg.n_allow_gid++] = (gid_t)strtoul(optarg, NULL, 10);
            break;
        case 'l':
            if ((netd_cfg.log_level = netd_log_level_parse(optarg)) < 0)
                goto bad;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("netd %s\n", NETD_VERSION);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "netd: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
bad:
    fprintf(stderr, "netd: bad value '%s' for --%s (see netd --help)\n", optarg, opts[idx].name);
    return -1;
}

/* A daemon that owns many sockets needs many descriptors: take the hard limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            netd_log(LOG_WARN, "cannot raise the open-file limit: %s", strerror(errno));
    }
}

static int socket_activation(void)
{
    const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
    if (!pid || !fds || (pid_t)strtol(pid, NULL, 10) != getpid() || atoi(fds) < 1)
        return -1;
    int fd = 3; /* SD_LISTEN_FDS_START */
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return fd;
}

static int open_control_socket(void)
{
    int fd = socket_activation();
    if (fd >= 0) {
        netd_log(LOG_INFO, "using the control socket passed by systemd");
        return fd;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = sockaddr_unix(netd_cfg.socket_name, &ss, &len);
    if (rc < 0) {
        netd_log(LOG_ERR, "bad socket name '%s': %s", netd_cfg.socket_name, strerror(-rc));
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    bool is_path = netd_cfg.socket_name[0] != '@';
    mode_t old = is_path ? umask(0117) : 0; /* the socket file is created 0660 */
    rc = bind(fd, (struct sockaddr *)&ss, len);
    if (is_path)
        umask(old);
    if (rc < 0 || listen(fd, SOMAXCONN) < 0) {
        netd_log(LOG_ERR, "cannot listen on %s: %s%s", netd_cfg.socket_name, strerror(errno),
                 errno == EADDRINUSE ? " (is another netd running? use --socket NAME)" : "");
        close(fd);
        return -1;
    }
    if (is_path)
        listen_path = strdup(netd_cfg.socket_name);
    return fd;
}

static bool peer_allowed(int fd, const struct ucred *cr)
{
    if (cr->uid == 0 || cr->uid == geteuid())
        return true;
    for (int i = 0; i < netd_cfg.n_allow_uid; i++)
        if (netd_cfg.allow_uid[i] == cr->uid)
            return true;
    if (netd_cfg.n_allow_gid == 0)
        return false;
    gid_t groups[256];
    socklen_t glen = sizeof groups;
    int n = 0;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
        n = (int)(glen / sizeof(gid_t));
    for (int i = 0; i < netd_cfg.n_allow_gid; i++) {
        if (netd_cfg.allow_gid[i] == cr->gid)
            return true;
        for (int k = 0; k < n; k++)
            if (groups[k] == netd_cfg.allow_gid[i])
                return true;
    }
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

static void deny(struct ev_loop *loop, int fd, const struct ucred *cr)
{
    char msg[160];
    snprintf(msg, sizeof msg, "uid %u may not use netd (start netd with --allow-uid %u)",
             (unsigned)cr->uid, (unsigned)cr->uid);
    char *line = netd_rpc_error(NULL, NETD_E_DENIED, msg, NULL);
    if (line) {
        (void)!send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL);
        (void)!send(fd, "\n", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        free(line);
    }
    netd_log(LOG_WARN, "denied uid %u pid %d", (unsigned)cr->uid, (int)cr->pid);
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

static void accept_pause(struct ev_loop *loop, ev_io *io);

static void on_control_accept(struct ev_loop *loop, ev_io *io, int revents)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: use the reserve to take the connection
                 * off the queue and close it, so the listener does not stay
                 * readable and spin; then pause briefly. */
                netd_log(LOG_WARN, "control accept: %s", strerror(errno));
                if (reserve_fd >= 0) {
                    close(reserve_fd);
                    int c = accept(listen_fd, NULL, NULL);
                    if (c >= 0)
                        close(c);
                    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                }
                accept_pause(loop, io);
            }
            return;
        }
        struct ucred cr;
        socklen_t len = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
            close(fd);
            continue;
        }
        if (!peer_allowed(fd, &cr)) {
            deny(loop, fd, &cr);
            continue;
        }
        control_adopt((int)(next_worker++ % (unsigned)netd_nworkers), fd, next_conn_id++, cr.uid,
                      cr.gid, cr.pid);
    }
}

static ev_timer resume_timer;
static ev_io accept_io;

static void on_resume(struct ev_loop *loop, ev_timer *t, int revents)
{
    ev_io_start(loop, &accept_io);
}

static void accept_pause(struct ev_loop *loop, ev_io *io)
{
    ev_io_stop(loop, io);
    ev_timer_set(&resume_timer, 0.1, 0.);
    ev_timer_start(loop, &resume_timer);
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    netd_log(LOG_INFO, "signal %d: stopping", s->signum);
    ev_break(loop, EVBREAK_ALL);
}

static int ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 64 ? 64 : n) : 1;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0)
        return 2;
    if (netd_cfg.workers == 0)
        netd_cfg.workers = ncpus();
    netd_cfg.max_queued = 4 * netd_cfg.max_request;
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(0); /* before any thread makes a JSON object */
    raise_nofile();
    if (method_init() < 0)
        return 1;
    /* The order is the order of each worker's stop: connections first, then
     * handles, then what TLS keeps after its handles closed. */
    rpc_layer_init();
    handle_layer_init();
    tls_layer_init();

    /* Workers must not take the signals the main loop waits for. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    listen_fd = open_control_socket();
    if (listen_fd < 0)
        return 1;
    netd_control_addr_add(listen_fd);
    reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (workers_start(netd_cfg.workers) < 0 || resolver_start(4) < 0) {
        netd_log(LOG_ERR, "cannot start threads");
        return 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    ev_signal sigterm, sigint;
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_start(loop, &sigterm);
    ev_signal_start(loop, &sigint);
    ev_io_init(&accept_io, on_control_accept, listen_fd, EV_READ);
    ev_io_start(loop, &accept_io);
    ev_init(&resume_timer, on_resume);
    netd_log(LOG_INFO, "listening on %s with %d workers", netd_cfg.socket_name, netd_cfg.workers);

    ev_run(loop, 0);

    ev_io_stop(loop, &accept_io);
    while (denied_list)
        denied_end(loop, denied_list);
    close(listen_fd);
    if (listen_path) {
        unlink(listen_path);
        free(listen_path);
    }
    /* Resolvers first: a lookup that finishes posts its answer to a worker,
     * so the workers must still exist. */
    resolver_stop();
    size_t leaks = workers_stop();
    if (reserve_fd >= 0)
        close(reserve_fd);
    ev_loop_destroy(loop);
    method_fini();
    if (leaks) {
        netd_log(LOG_ERR, "stopped, leaving %zu things behind (see the lines above)", leaks);
        return 3;
    }
    netd_log(LOG_INFO, "stopped");
    return 0;
}
