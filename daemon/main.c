/*
 * main.c - netd's entry point: settings (core/options.c), the control
 * sockets, and the main loop's answers to signals and to systemd: reload
 * on SIGHUP, an orderly stop on SIGTERM/SIGINT (service/stop.c), readiness,
 * status and watchdog pings on NOTIFY_SOCKET.
 *
 * The main thread runs its own small loop that only accepts control
 * connections and hands each to a worker (service/accept.c); it never
 * touches a connection after that.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "rpc.h"
#include "service.h"

static int g_argc;
static char **g_argv;
static struct ctlsock socks[NETD_MAX_PASSED];
static int nsocks;
static bool stopping;
static ev_timer watchdog, status_timer;

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

/* The control sockets: those systemd passed, else the configured names. */
static int open_sockets(void)
{
    static struct passed_fd passed[NETD_MAX_PASSED];
    /* Kept handles a netd before this one stored come back with the sockets. */
    int n = restart_take(passed, listen_fds_take(passed, NETD_MAX_PASSED));
    for (int i = 0; i < n; i++) {
        if (ctlsock_adopt(&socks[nsocks++], passed[i].fd, passed[i].name) < 0)
            return -1;
        netd_control_addr_add(passed[i].fd);
    }
    if (n > 0) {
        if (netd_cfg.n_sockets > 0)
            netd_log(LOG_INFO, "socket activation: the configured sockets are not opened");
        return 0;
    }
    for (int i = 0; i < (netd_cfg.n_sockets ? netd_cfg.n_sockets : 1); i++) {
        if (ctlsock_open(&socks[nsocks], netd_cfg.n_sockets ? netd_cfg.sockets[i] : "@netd") < 0)
            return -1;
        /* requests may not name netd's own control sockets */
        netd_control_addr_add(socks[nsocks++].fd);
    }
    return 0;
}

static void close_sockets(void)
{
    for (int i = 0; i < nsocks; i++)
        ctlsock_close(&socks[i]);
    nsocks = 0;
}

/* ---- systemd: status and watchdog ---- */

static void send_status(const char *what)
{
    uint64_t conns = 0, handles = 0, in = 0, out = 0;
    for (int i = 0; i < netd_nworkers; i++) {
        struct worker_stats *s = &netd_workers[i].stats;
        conns += stat_get(&s->connections);
        for (int k = 0; k < STAT_KINDS; k++)
            handles += stat_get(&s->handles[k]);
        in += stat_get(&s->bytes_in);
        out += stat_get(&s->bytes_out);
    }
    sdn_sendf("STATUS=%s: %llu connections, %llu handles, %llu bytes in, %llu bytes out", what,
              (unsigned long long)conns, (unsigned long long)handles, (unsigned long long)in,
              (unsigned long long)out);
}

static void on_status(struct ev_loop *loop, ev_timer *t, int revents)
{
    send_status(stopping ? "stopping" : "serving");
}

/* A ping only while every worker has turned its loop since the last one:
 * a stuck worker stops the pings, and systemd restarts netd. */
static void on_watchdog(struct ev_loop *loop, ev_timer *t, int revents)
{
    if (workers_alive())
        sdn_send("WATCHDOG=1", NULL, 0);
    else
        netd_log(LOG_ERR, "watchdog: a worker has not turned its loop; not pinging systemd");
    workers_ping();
}

static void notify_start(struct ev_loop *loop)
{
    if (!sdn_enabled())
        return;
    uint64_t us = sdn_watchdog_usec();
    if (us) {
        ev_timer_init(&watchdog, on_watchdog, 0., (double)us / 2e6);
        ev_timer_again(loop, &watchdog);
    }
    ev_timer_init(&status_timer, on_status, 5., 5.);
    ev_timer_start(loop, &status_timer);
    sdn_send("READY=1", NULL, 0);
    send_status("serving");
}

/* ---- reload ---- */

/* Settings and rules change in the same parking, so no request sees the
 * new settings with the old rules or the other way round. */
static void apply(void *arg)
{
    struct options *next = arg;
    options_apply(&next->cfg);
    next->policy = policy_swap(next->policy); /* the old set, freed below */
}

static void reload(struct ev_loop *loop)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    sdn_sendf("RELOADING=1\nMONOTONIC_USEC=%llu",
              (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    struct options next;
    char err[1024];
    int rc = options_load(g_argc, g_argv, &next, err, sizeof err);
    if (rc != 0) {
        netd_log(LOG_ERR, "reload refused, the running settings stay: %s", err);
        sdn_sendf("READY=1\nSTATUS=reload refused: %s", err);
    } else {
        /* Workers are parked while the settings change: none sees half of them. */
        size_t rules = policy_rule_count(next.policy);
        workers_quiesce(apply, &next);
        netd_log(LOG_INFO, "reloaded %s (%zu policy rule%s)",
                 next.config_file[0] ? next.config_file : "(no file)", rules,
                 rules == 1 ? "" : "s");
        sdn_send("READY=1", NULL, 0);
        send_status("serving");
    }
    options_free(&next);
}

/* ---- stop ---- */

static void stopped(struct ev_loop *loop)
{
    restart_store();
    ev_break(loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    if (s->signum == SIGHUP) {
        if (!stopping)
            reload(loop);
        return;
    }
    if (stopping) {
        netd_log(LOG_INFO, "signal %d again: stopping now", s->signum);
        stop_hurry();
        return;
    }
    stopping = true;
    netd_log(LOG_INFO, "signal %d: stopping (accepted writes drain for up to %g s)", s->signum,
             netd_cfg.drain_timeout);
    sdn_send("STOPPING=1", NULL, 0);
    send_status("stopping");
    /* New clients are refused from here on; those connected are served until the end. */
    accept_stop(loop);
    close_sockets();
    /* Under systemd the kept handles go to its descriptor store, for the next netd. */
    stop_begin(loop, restart_prepare(), stopped);
}

static int start(int argc, char **argv)
{
    struct options o;
    char err[1024];
    options_version_line(tls_library);
    int rc = options_load(argc, argv, &o, err, sizeof err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "netd: %s\n", err);
        options_free(&o);
        return rc < 0 ? (o.check_only ? 1 : 2) : 0;
    }
    if (o.check_only) {
        printf("# %s: good\n", o.config_file[0] ? o.config_file : "no configuration file");
        options_print(stdout, &o.cfg);
        policy_print(stdout, o.policy);
        options_free(&o);
        return 0;
    }
    netd_cfg = o.cfg; /* netd_cfg owns the socket names from here on */
    policy_free(policy_swap(o.policy));
    return -1;
}

int main(int argc, char **argv)
{
    g_argc = argc;
    g_argv = argv;
    int rc = start(argc, argv);
    if (rc >= 0)
        return rc;
    netd_log_init();
    sdn_init();
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(0); /* before any thread makes a JSON object */
    raise_nofile();
    if (method_init() < 0)
        return 1;
    /* The order is the order of each worker's stop: connections first, then
     * handles, then what TLS keeps after its handles closed. */
    rpc_layer_init();
    handle_layer_init();
    relay_layer_init();
    tls_layer_init();

    /* Workers must not take the signals the main loop waits for. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old);

    if (open_sockets() < 0)
        return 1;
    if (restart_workers_needed() > netd_cfg.workers) {
        netd_log(LOG_WARN, "restart: %d workers, not %d, for the kept handles carried over",
                 restart_workers_needed(), netd_cfg.workers);
        netd_cfg.workers = restart_workers_needed();
    }
    if (workers_start(netd_cfg.workers) < 0 || resolver_start(4) < 0) {
        netd_log(LOG_ERR, "cannot start threads");
        return 1;
    }
    restart_restore();

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    ev_signal sigterm, sigint, sighup;
    ev_signal_init(&sigterm, on_signal, SIGTERM);
    ev_signal_init(&sigint, on_signal, SIGINT);
    ev_signal_init(&sighup, on_signal, SIGHUP);
    ev_signal_start(loop, &sigterm);
    ev_signal_start(loop, &sigint);
    ev_signal_start(loop, &sighup);
    /* Only now: the control sockets already take connections, so a client
     * may signal netd (a reload) before this; the signal waited, blocked,
     * and is handled instead of killing netd by its default action. */
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (accept_start(loop, socks, nsocks, restart_adopted) < 0)
        return 1;
    netd_log(LOG_INFO, "serving %d control socket%s with %d workers", nsocks,
             nsocks == 1 ? "" : "s", netd_cfg.workers);
    notify_start(loop);

    ev_run(loop, 0);

    ev_timer_stop(loop, &watchdog);
    ev_timer_stop(loop, &status_timer);
    /* Resolvers first: a lookup that finishes posts its answer to a worker,
     * so the workers must still exist. */
    resolver_stop();
    size_t leaks = workers_stop();
    ev_loop_destroy(loop);
    method_fini();
    restart_fini();
    sdn_fini();
    struct options o = {.cfg = netd_cfg, .policy = policy_swap(NULL)};
    options_free(&o);
    if (leaks) {
        netd_log(LOG_ERR, "stopped, leaving %zu things behind (see the lines above)", leaks);
        return 3;
    }
    netd_log(LOG_INFO, "stopped");
    return 0;
}
