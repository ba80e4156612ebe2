/*
 * netctl_loop.c - `listen --loop` and `accept-loop`: follow a listener's
 * accept loop, printing each connection netd announces (`accepted`) and
 * each one that ends on its own (`closed`), until the listener is closed
 * or netctl is interrupted.
 *
 * The end of the listener comes as the answer to a request left in flight.
 * `accept-loop` is itself answered when the listener closes. `server`
 * answers at once, so `listen --loop` leaves a `wait` on the listener in
 * flight instead, which netd cuts short (aborted) when the listener closes.
 *
 * SIGINT and SIGTERM reach the loop through a pipe that poll() watches
 * beside netd's socket, so a signal is never lost between checking a flag
 * and going to sleep.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "netctl.h"

static int signal_pipe[2] = {-1, -1};

int netctl_signal_fd(void)
{
    return signal_pipe[0];
}

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    if (write(signal_pipe[1], &c, 1) < 0) {
        /* The pipe is full: a signal is already waiting to be seen. */
    }
    errno = saved;
}

/*
 * Routes SIGINT and SIGTERM into signal_pipe. SIGPIPE is ignored so that
 * a reader of our output that goes away (`| head -1`) ends the loop
 * through a failed write, which lets netctl tidy up, rather than killing it.
 */
int netctl_signals_catch(void)
{
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

struct follow {
    struct netctl *n;
    const char *listener; /* borrowed from the caller */
    const char *method;   /* of the request whose answer ends the loop */
    long long end_id;
    bool ended;         /* the listener is closed */
    bool interrupted;   /* by a signal, or stdout went away */
    long long accepted; /* connections announced; they stay handles until closed */
};

/* Ends every line with a flush: the reader is usually a script waiting for it. */
static int follow_flush(struct follow *f)
{
    if (fflush(stdout) == 0)
        return 0;
    f->interrupted = true;
    return fail(f->n, "writing the output failed: %s", strerror(errno));
}

/* "HANDLE PEER"; an unnamed unix peer shows as "-". */
static int follow_accepted(struct follow *f, const json_t *params)
{
    f->accepted++;
    if (f->n->json) {
        print_json(params);
        return follow_flush(f);
    }
    char peer[320];
    format_address(json_object_get(params, "peer"), peer, sizeof peer);
    printf("%s %s\n", json_string_value(json_object_get(params, "handle")), peer);
    return follow_flush(f);
}

/* "HANDLE closed REASON" for a connection that ended on its own. */
static int follow_closed(struct follow *f, const json_t *params)
{
    if (f->n->json) {
        print_json(params);
        return follow_flush(f);
    }
    printf("%s closed %s\n", json_string_value(json_object_get(params, "handle")),
           json_string_value(json_object_get(params, "reason")));
    return follow_flush(f);
}

/*
 * The answer that ends the loop. For `wait`, aborted means the listener was
 * closed, and so does unknown handle: it was closed before the wait arrived.
 * A result means the listener failed, which is reported as an error.
 */
static int follow_end(struct follow *f, const json_t *result, const json_t *error)
{
    bool is_wait = strcmp(f->method, "wait") == 0;
    enum netd_err kind = error ? netd_err_from_code(netd_error_code(error)) : NETD_OK;
    bool closed = is_wait ? kind == NETD_E_ABORTED || kind == NETD_E_UNKNOWN_HANDLE : !error;
    if (!closed && error)
        return netctl_report(f->n, f->method, error);
    if (!closed && json_object_get(result, "error"))
        return netctl_report(f->n, f->method, json_object_get(result, "error"));
    if (!closed)
        return fail(f->n, "listener %s has a socket error; `netctl status %s` shows it",
                    f->listener, f->listener);
    f->ended = true;
    if (f->n->json) {
        json_t *end = json_pack("{s:s}", "handle", f->listener);
        print_json(end);
        json_decref(end);
    } else {
        printf("%s closed\n", f->listener);
    }
    return follow_flush(f);
}

static int follow_message(struct follow *f, const json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    const json_t *params = json_object_get(msg, "params");
    const json_t *id = json_object_get(msg, "id");
    if (method && strcmp(method, "accepted") == 0)
        return follow_accepted(f, params);
    if (method && strcmp(method, "closed") == 0)
        return follow_closed(f, params);
    if (method)
        return 0; /* a notification this netctl does not know: nothing to do with it */
    if (json_is_integer(id) && json_integer_value(id) == f->end_id)
        return follow_end(f, json_object_get(msg, "result"), json_object_get(msg, "error"));
    if (json_object_get(msg, "error"))
        return netctl_report(f->n, f->method, json_object_get(msg, "error"));
    return 0;
}

/*
 * Takes every message there is, then sleeps in poll() until netd or a
 * signal has something. Messages already queued in the library are
 * invisible to poll(), hence the draining first.
 */
static int follow_run(struct follow *f)
{
    netd_client *c = f->n->client;
    for (;;) {
        json_t *msg;
        while (!f->ended && netd_client_next(c, 0, &msg) == 0) {
            int rc = follow_message(f, msg);
            json_decref(msg);
            if (rc)
                return rc;
        }
        if (f->ended)
            return EXIT_OK;
        if (errno != ETIMEDOUT)
            return netctl_lost(f->n, f->method, errno);
        struct pollfd p[2] = {{.fd = netd_client_fd(c), .events = POLLIN},
                              {.fd = signal_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return fail(f->n, "poll: %s", strerror(errno));
        if (p[1].revents) {
            f->interrupted = true;
            return EXIT_OK;
        }
    }
}

/* Sends the request whose answer ends the loop, then follows. */
static int follow_start(struct follow *f, const char *method, json_t *params)
{
    f->method = method;
    f->end_id = netd_client_send(f->n->client, method, params);
    if (f->end_id < 0)
        return netctl_lost(f->n, method, errno);
    return follow_run(f);
}

/*
 * The listener `listen --loop` opened is closed when the run is
 * interrupted, so running the same command again finds its port free.
 * The connections it accepted are kept and outlive it.
 */
static int follow_stop_own(struct follow *f)
{
    int rc = netctl_call(f->n, "close", json_pack("{s:s}", "handle", f->listener), NULL);
    if (rc == 0 && f->accepted > 0)
        fprintf(stderr,
                "netctl: listen: closed %s; the connections it accepted stay open (`netctl ls` "
                "lists them, `netctl close H` closes one)\n",
                f->listener);
    return rc;
}

static int follow_server(struct follow *f, json_t *params)
{
    json_t *res = NULL;
    int rc = netctl_call(f->n, "server", params, &res);
    if (rc)
        return rc;
    f->listener = json_string_value(json_object_get(res, "handle"));
    if (netctl_signals_catch() < 0) {
        rc = fail(f->n, "cannot catch signals: %s", strerror(errno));
        json_decref(res);
        return rc;
    }
    if (f->n->json)
        print_json(res);
    else
        printf("%s\n", f->listener);
    rc = follow_flush(f);
    if (rc == 0)
        rc = follow_start(f, "wait", json_pack("{s:s,s:s}", "handle", f->listener, "for", "error"));
    if (f->interrupted && !f->ended) {
        int closed = follow_stop_own(f);
        rc = rc ? rc : closed;
    }
    json_decref(res);
    return rc;
}

int netctl_follow(struct netctl *n, json_t *params, const char *listener)
{
    struct follow f = {.n = n, .listener = listener};
    if (!listener)
        return follow_server(&f, params);
    json_decref(params);
    if (netctl_connect(n) < 0)
        return EXIT_FAIL;
    if (netctl_signals_catch() < 0)
        return fail(n, "cannot catch signals: %s", strerror(errno));
    int rc = follow_start(&f, "accept-loop", json_pack("{s:s}", "handle", listener));
    if (f.interrupted && !f.ended && rc == 0)
        fprintf(stderr,
                "netctl: accept-loop: stopped; %s stays open and new connections wait for "
                "`netctl accept %s` or another accept-loop\n",
                listener, listener);
    return rc;
}

int cmd_accept_loop(struct netctl *n, const struct args *a)
{
    return netctl_follow(n, NULL, a->argv[0]);
}
