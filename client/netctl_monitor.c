/*
 * netctl_monitor.c - `netctl monitor`: follow netd's `event` notifications
 * (one per finished request) and print them as they come, one line each,
 * or netd's objects under --json.
 *
 * A line for people:
 *   14:03:07.123456  read h0.3  timeout (-32001)  300.2ms  uid 1000 pid 4242
 * Events netd dropped because this netctl fell behind show as
 *   -- 12 events dropped (412 so far)
 * before the first event that follows them. The run ends on SIGINT or
 * SIGTERM (exit 0), after --count events, or when netd closes the
 * connection (exit 1).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "netctl.h"

struct watch {
    struct netctl *n;
    long long end_id;  /* the monitor request, answered only when it ends */
    long long shown;   /* events printed */
    long long limit;   /* --count, 0 for none */
    long long dropped; /* the running count of the last event */
};

static void format_duration(long long us, char *out, size_t len)
{
    if (us < 1000)
        snprintf(out, len, "%lldus", us);
    else if (us < 1000000)
        snprintf(out, len, "%.1fms", (double)us / 1e3);
    else
        snprintf(out, len, "%.2fs", (double)us / 1e6);
}

static void format_time(double t, char *out, size_t len)
{
    time_t sec = (time_t)t; /* t > 0: the cast rounds down */
    long us = (long)((t - (double)sec) * 1e6 + 0.5);
    if (us >= 1000000) {
        sec++;
        us -= 1000000;
    }
    struct tm tm;
    localtime_r(&sec, &tm);
    snprintf(out, len, "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

static void print_event(const json_t *e)
{
    char when[32], took[32], outcome[96];
    format_time(json_number_value(json_object_get(e, "time")), when, sizeof when);
    format_duration(json_integer_value(json_object_get(e, "duration_us")), took, sizeof took);
    const json_t *code = json_object_get(e, "code");
    if (json_is_integer(code))
        snprintf(outcome, sizeof outcome, "%s (%lld)",
                 netd_err_name(netd_err_from_code((int)json_integer_value(code))),
                 (long long)json_integer_value(code));
    else
        snprintf(outcome, sizeof outcome, "ok");
    const char *handle = json_string_value(json_object_get(e, "handle"));
    printf("%s  %s%s%s  %s  %s  uid %lld pid %lld\n", when,
           json_string_value(json_object_get(e, "method")), handle ? " " : "", handle ? handle : "",
           outcome, took, (long long)json_integer_value(json_object_get(e, "uid")),
           (long long)json_integer_value(json_object_get(e, "pid")));
}

/* One message from netd: 1 when the run should end, 0 to go on, or an exit status < 0. */
static int watch_message(struct watch *w, const json_t *msg, int *rc)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    const json_t *params = json_object_get(msg, "params");
    if (method && strcmp(method, "event") == 0 && json_is_object(params)) {
        long long dropped = json_integer_value(json_object_get(params, "dropped"));
        if (w->n->json) {
            print_json(params);
        } else {
            if (dropped > w->dropped)
                printf("-- %lld events dropped (%lld so far)\n", dropped - w->dropped, dropped);
            print_event(params);
        }
        w->dropped = dropped;
        w->shown++;
        if (fflush(stdout) != 0) {
            *rc = fail(w->n, "writing the output failed: %s", strerror(errno));
            return 1;
        }
        return w->limit && w->shown >= w->limit;
    }
    if (method)
        return 0; /* another notification: not ours to show */
    const json_t *id = json_object_get(msg, "id");
    if (json_is_integer(id) && json_integer_value(id) == w->end_id) {
        const json_t *err = json_object_get(msg, "error");
        *rc = err ? netctl_report(w->n, "monitor", err) : fail(w->n, "netd ended the monitor");
        return 1;
    }
    return 0;
}

static int watch_run(struct watch *w)
{
    netd_client *c = w->n->client;
    for (;;) {
        json_t *msg;
        while (netd_client_next(c, 0, &msg) == 0) {
            int rc = EXIT_OK, end = watch_message(w, msg, &rc);
            json_decref(msg);
            if (end)
                return rc;
        }
        if (errno != ETIMEDOUT)
            return netctl_lost(w->n, "monitor", errno);
        struct pollfd p[2] = {{.fd = netd_client_fd(c), .events = POLLIN},
                              {.fd = netctl_signal_fd(), .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return fail(w->n, "poll: %s", strerror(errno));
        if (p[1].revents)
            return EXIT_OK;
    }
}

int cmd_monitor(struct netctl *n, const struct args *a)
{
    struct watch w = {.n = n};
    const char *count = opt_get(a, "count");
    if (count && parse_count(count, &w.limit) < 0)
        return usage_error(n, "--count wants a number of events (1 or more), not '%s'", count);
    if (netctl_connect(n) < 0)
        return EXIT_FAIL;
    if (netctl_signals_catch() < 0)
        return fail(n, "cannot catch signals: %s", strerror(errno));
    w.end_id = netd_client_send(n->client, "monitor", NULL);
    if (w.end_id < 0)
        return netctl_lost(n, "monitor", errno);
    return watch_run(&w);
}
