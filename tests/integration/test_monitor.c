/*
 * test_monitor.c - `monitor` against a real netd: who sees which events (a
 * monitor of another uid sees only that uid's requests, root sees all),
 * what an event says (method, handle, error code, duration, time, pid), a
 * monitor that never reads (netd drops and counts, its memory stays
 * bounded, and every event is either delivered or counted), the debug
 * log's line per request, and netctl monitor (its lines, --json, --count,
 * and the line that says how many events were dropped).
 *
 * The other uid is real: a child process drops to a uid no account uses,
 * connects to netd twice and hands both connections to the test over a
 * socketpair, so netd sees that uid on them (SO_PEERCRED is taken at
 * connect). Those cases need root and skip otherwise.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "netctl_run.h"

/* ---- a raw control connection: lines in, JSON out ---- */

struct raw {
    int fd;
    char *buf;
    size_t len, cap;
};

static int connect_name(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(sun.sun_path + 1, name + 1, n - 1);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static struct raw *raw_new(int fd)
{
    assert_true(fd >= 0);
    struct raw *r = calloc(1, sizeof *r);
    r->fd = fd;
    r->cap = 1 << 16;
    r->buf = malloc(r->cap);
    return r;
}

static void raw_free(struct raw *r)
{
    close(r->fd);
    free(r->buf);
    free(r);
}

static void raw_send(struct raw *r, const char *line)
{
    size_t n = strlen(line), off = 0;
    while (off < n) {
        ssize_t k = write(r->fd, line + off, n - off);
        assert_true(k > 0);
        off += (size_t)k;
    }
}

/* The next message within @timeout_ms, or NULL. */
static json_t *raw_next(struct raw *r, int timeout_ms)
{
    long long end = h_now_ms() + timeout_ms;
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t n = (size_t)(nl - r->buf);
            json_t *v = json_loadb(r->buf, n, 0, NULL);
            if (!v)
                fail_msg("netd sent a line that is not JSON: %.*s", (int)n, r->buf);
            memmove(r->buf, nl + 1, r->len - n - 1);
            r->len -= n + 1;
            return v;
        }
        long long left = end - h_now_ms();
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) != 1)
            return NULL;
        if (r->cap - r->len < 4096) {
            r->cap *= 2;
            r->buf = realloc(r->buf, r->cap);
        }
        ssize_t k = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (k <= 0)
            return NULL;
        r->len += (size_t)k;
    }
}

static bool is_event(const json_t *v)
{
    const char *m = json_string_value(json_object_get(v, "method"));
    return m && strcmp(m, "event") == 0;
}

/* Collected events of one monitor. */
struct seen {
    json_t *events; /* array of the params of each event */
};

/* Reads until the answer to @id arrives (events on the way are kept in
 * @s); returns the answer. */
static json_t *raw_answer(struct raw *r, struct seen *s, const char *id)
{
    for (;;) {
        json_t *v = raw_next(r, H_ANSWER_MS);
        if (!v)
            fail_msg("no answer to %s", id);
        if (is_event(v)) {
            json_array_append(s->events, json_object_get(v, "params"));
            json_decref(v);
            continue;
        }
        const char *got = json_string_value(json_object_get(v, "id"));
        if (got && strcmp(got, id) == 0)
            return v;
        json_decref(v);
    }
}

/* Keeps every event that arrives until nothing came for @quiet_ms. */
static void raw_events(struct raw *r, struct seen *s, int quiet_ms)
{
    json_t *v;
    while ((v = raw_next(r, quiet_ms))) {
        if (is_event(v))
            json_array_append(s->events, json_object_get(v, "params"));
        json_decref(v);
    }
}

/* Starts monitoring on @r and waits until netd has it: a ping sent after
 * `monitor` on the same connection is answered after `monitor` ran. With
 * one worker that is the moment every request is seen. */
static void raw_monitor(struct raw *r, struct seen *s)
{
    raw_send(r, "{\"jsonrpc\":\"2.0\",\"id\":\"mon\",\"method\":\"monitor\"}\n"
                "{\"jsonrpc\":\"2.0\",\"id\":\"sync\",\"method\":\"ping\"}\n");
    json_decref(raw_answer(r, s, "sync"));
}

static size_t count_where(const json_t *events, const char *key, const char *value)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        const char *v = json_string_value(json_object_get(e, key));
        if (v && strcmp(v, value) == 0)
            n++;
    }
    return n;
}

static size_t count_uid(const json_t *events, long long uid)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(events, i, e) n += json_integer_value(json_object_get(e, "uid")) == uid;
    return n;
}

/* ---- another uid's connections ---- */

/* A uid that no account has (and so owns nothing here). */
static uid_t unused_uid(void)
{
    for (uid_t u = 61234;; u++)
        if (!getpwuid(u))
            return u;
}

/* A child drops to @uid, opens @n connections to netd and sends them over
 * a socketpair; they come back in @fds. Returns the child's pid, which
 * netd saw on them. */
static pid_t connections_as(const char *sock, uid_t uid, int n, int *fds)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sp[0]);
        if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
            _exit(3);
        int mine[4];
        for (int i = 0; i < n; i++)
            if ((mine[i] = connect_name(sock)) < 0)
                _exit(4);
        union {
            char buf[CMSG_SPACE(sizeof mine)];
            struct cmsghdr align;
        } u;
        char byte = 'x';
        struct iovec iov = {&byte, 1};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = u.buf,
                            .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
        memcpy(CMSG_DATA(cm), mine, sizeof(int) * (size_t)n);
        _exit(sendmsg(sp[1], &mh, 0) == 1 ? 0 : 5);
    }
    close(sp[1]);
    union {
        char buf[CMSG_SPACE(sizeof(int) * 4)];
        struct cmsghdr align;
    } u;
    char byte;
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    assert_int_equal(recvmsg(sp[0], &mh, 0), 1);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    assert_non_null(cm);
    assert_int_equal(cm->cmsg_len, CMSG_LEN(sizeof(int) * (size_t)n));
    memcpy(fds, CMSG_DATA(cm), sizeof(int) * (size_t)n);
    close(sp[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return pid;
}

static void skip_unless_root(void)
{
    if (geteuid() != 0)
        skip();
}

/* A monitor of another uid sees that uid's requests, on any of its
 * connections, and nothing of root's; root's monitor sees both. */
static void test_uid_sees_own_root_sees_all(void **state)
{
    skip_unless_root();
    uid_t uid = unused_uid();
    char uidarg[16];
    snprintf(uidarg, sizeof uidarg, "%u", (unsigned)uid);
    const char *args[] = {"--allow-uid", uidarg, "--workers", "1", NULL};
    struct netd_proc *n = h_netd_start(args);
    int fds[2];
    pid_t child = connections_as(h_netd_socket(n), uid, 2, fds);
    struct raw *um = raw_new(fds[0]), *ur = raw_new(fds[1]);
    struct raw *rm = raw_new(connect_name(h_netd_socket(n)));
    struct seen useen = {json_array()}, rseen = {json_array()}, junk = {json_array()};

    raw_monitor(rm, &rseen);
    raw_monitor(um, &useen);

    netd_client *rr = h_client(n);
    json_decref(h_call(rr, "ping", NULL));
    json_decref(h_call_err(rr, "close", json_pack("{s:s}", "handle", "h0.424242"), -32002));
    raw_send(ur, "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\"}\n");
    json_decref(raw_answer(ur, &junk, "a"));
    raw_send(ur, "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"close\",\"params\":{\"handle\":"
                 "\"h0.777\"}}\n");
    json_t *ans = raw_answer(ur, &junk, "b");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ans, "error"), "code")),
                     -32002);
    json_decref(ans);
    json_decref(h_call(rr, "ping", NULL));
    assert_int_equal(json_array_size(junk.events), 0); /* no monitor there */

    raw_events(um, &useen, 300);
    raw_events(rm, &rseen, 300);

    /* The uid's monitor: its own sync ping, the other connection's ping and
     * close; nothing of root's. */
    assert_int_equal(json_array_size(useen.events), 3);
    assert_int_equal(count_uid(useen.events, uid), 3);
    assert_int_equal(count_where(useen.events, "handle", "h0.777"), 1);
    assert_int_equal(count_where(useen.events, "handle", "h0.424242"), 0);
    size_t i;
    json_t *e;
    json_array_foreach(useen.events, i, e)
        assert_int_equal(json_integer_value(json_object_get(e, "pid")), child);

    /* Root's: its own sync ping, the uid's sync ping, root's ping, close
     * and ping, the uid's ping and close. */
    assert_int_equal(json_array_size(rseen.events), 7);
    assert_int_equal(count_uid(rseen.events, uid), 3);
    assert_int_equal(count_uid(rseen.events, 0), 4);
    assert_int_equal(count_where(rseen.events, "handle", "h0.777"), 1);
    assert_int_equal(count_where(rseen.events, "handle", "h0.424242"), 1);
    json_array_foreach(rseen.events, i, e)
    {
        if (json_integer_value(json_object_get(e, "uid")) == 0)
            assert_int_equal(json_integer_value(json_object_get(e, "pid")), getpid());
    }

    json_decref(useen.events);
    json_decref(rseen.events);
    json_decref(junk.events);
    raw_free(um);
    raw_free(ur);
    raw_free(rm);
}

/* The event of the request that @e describes. */
static json_t *find_event(struct seen *s, const char *method, const char *handle)
{
    size_t i;
    json_t *e;
    json_array_foreach(s->events, i, e)
    {
        const char *h = json_string_value(json_object_get(e, "handle"));
        if (strcmp(json_string_value(json_object_get(e, "method")), method) == 0 &&
            (handle ? h && strcmp(h, handle) == 0 : !h))
            return e;
    }
    fail_msg("no event for %s %s", method, handle ? handle : "");
    return NULL;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void expect_code(const json_t *e, int code)
{
    json_t *c = json_object_get(e, "code");
    if (code == 0) {
        if (c)
            fail_msg("event of a request that succeeded has code %lld",
                     (long long)json_integer_value(c));
        return;
    }
    assert_true(json_is_integer(c));
    assert_int_equal(json_integer_value(c), code);
}

static void expect_duration(const json_t *e, long long lo_us, long long hi_us)
{
    long long d = json_integer_value(json_object_get(e, "duration_us"));
    if (d < lo_us || d > hi_us)
        fail_msg("duration %lld us not in [%lld, %lld]", d, lo_us, hi_us);
}

/* What an event says: method, handle (named or made), code, duration. */
static void test_event_fields(void **state)
{
    const char *args[] = {"--workers", "1", NULL};
    struct netd_proc *n = h_netd_start(args);
    struct raw *m = raw_new(connect_name(h_netd_socket(n)));
    struct seen s = {json_array()};
    raw_monitor(m, &s);
    double t_start = wall_now();

    netd_client *c = h_client(n);
    json_t *pair = h_call(c, "pair", NULL);
    const char *a = json_string_value(json_array_get(json_object_get(pair, "handles"), 0));
    const char *b = json_string_value(json_array_get(json_object_get(pair, "handles"), 1));
    /* A read that times out after 0.3 s. */
    json_decref(h_call_err(
        c, "read", json_pack("{s:s, s:i, s:f}", "handle", a, "nbytes", 1, "timeout", 0.3), -32001));
    /* A read that waits 0.2 s for a byte. */
    long long id = h_send(c, "read", json_pack("{s:s, s:i}", "handle", b, "nbytes", 1));
    h_sleep_ms(200);
    h_write(c, a, "x", 1);
    json_decref(h_wait(c, id));
    json_decref(h_call_err(c, "nosuch-method", NULL, -32601));
    json_decref(h_call_err(c, "ping", json_pack("{s:i}", "bogus", 1), -32602));
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    raw_events(m, &s, 300);
    double t_end = wall_now();

    json_t *e = find_event(&s, "read", a);
    expect_code(e, -32001);
    expect_duration(e, 290000, 3000000);
    e = find_event(&s, "read", b);
    expect_code(e, 0);
    expect_duration(e, 190000, 3000000);
    e = find_event(&s, "write", a);
    expect_code(e, 0);
    expect_duration(e, 0, 100000);
    e = find_event(&s, "nosuch-method", NULL);
    expect_code(e, -32601);
    e = find_event(&s, "ping", NULL); /* the sync ping is first */
    expect_code(e, 0);
    expect_duration(e, 0, 100000);
    e = find_event(&s, "listen", l); /* the handle it made */
    expect_code(e, 0);
    /* The ping with a bogus parameter (the second ping event). */
    size_t i, bad = 0;
    json_array_foreach(s.events, i, e)
    {
        assert_int_equal(json_integer_value(json_object_get(e, "uid")), getuid());
        assert_int_equal(json_integer_value(json_object_get(e, "pid")), getpid());
        assert_int_equal(json_integer_value(json_object_get(e, "dropped")), 0);
        if (json_integer_value(json_object_get(e, "code")) == -32602)
            bad++;
    }
    assert_int_equal(bad, 1);
    /* Every event after the sync ping finished between t_start and t_end. */
    json_array_foreach(s.events, i, e)
    {
        if (i == 0)
            continue;
        double t = json_number_value(json_object_get(e, "time"));
        if (t < t_start - 0.01 || t > t_end + 0.01)
            fail_msg("event time %f not in [%f, %f]", t, t_start, t_end);
    }
    free(l);
    json_decref(pair);
    json_decref(s.events);
    raw_free(m);
}

/* netd's resident memory in KiB. */
static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

#define FLOOD_BATCH 200
#define FLOOD_BATCHES 1500

/* FLOOD_BATCH * @batches pings on @c, in batches of one line each. */
static void flood(netd_client *c, int batches)
{
    size_t cap = FLOOD_BATCH * 48 + 8, len = 0;
    char *line = malloc(cap);
    len += (size_t)snprintf(line, cap, "[");
    for (int i = 0; i < FLOOD_BATCH; i++)
        len += (size_t)snprintf(line + len, cap - len,
                                "%s{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}",
                                i ? "," : "", i);
    len += (size_t)snprintf(line + len, cap - len, "]\n");
    for (int b = 0; b < batches; b++) {
        assert_int_equal(netd_client_send_raw(c, line, len), 0);
        json_t *ans = NULL;
        assert_int_equal(netd_client_next(c, H_ANSWER_MS, &ans), 0);
        assert_int_equal(json_array_size(ans), FLOOD_BATCH);
        json_decref(ans);
    }
    free(line);
}

/* A monitor that does not read: netd drops its events and counts them, its
 * memory does not grow with the flood, and once the monitor reads again
 * every event of the flood was either delivered or counted in `dropped`.
 * Two workers, so events cross from one to the other. */
static void test_slow_monitor_drops_and_counts(void **state)
{
    /* Under AddressSanitizer freed memory waits in a quarantine of 256 MB,
     * which would hide netd's own growth in its size; this netd gets none. */
    const char *asan = getenv("ASAN_OPTIONS");
    char *saved = asan ? strdup(asan) : NULL;
    if (asan) {
        char opts[1024];
        snprintf(opts, sizeof opts, "%s:quarantine_size_mb=0", asan);
        setenv("ASAN_OPTIONS", opts, 1);
    }
    const char *args[] = {"--workers", "2", NULL};
    struct netd_proc *n = h_netd_start(args);
    if (saved) {
        setenv("ASAN_OPTIONS", saved, 1);
        free(saved);
    }
    netd_client *c = h_client(n);
    /* The same flood without a monitor first: what netd's allocator keeps
     * after it (a sanitizer's quarantine of freed memory, too) is there
     * before the measured flood starts. */
    flood(c, FLOOD_BATCHES / 3);
    struct raw *m = raw_new(connect_name(h_netd_socket(n)));
    struct seen s = {json_array()};
    raw_send(m, "{\"jsonrpc\":\"2.0\",\"id\":\"mon\",\"method\":\"monitor\"}\n");
    /* The monitor is on when an event of this connection reaches it. */
    for (int tries = 0; json_array_size(s.events) == 0; tries++) {
        assert_true(tries < 100);
        json_decref(h_call(c, "ping", NULL));
        raw_events(m, &s, 50);
    }
    raw_events(m, &s, 200);
    json_array_clear(s.events);

    long before = rss_kib(h_netd_pid(n));
    flood(c, FLOOD_BATCHES);
    long after = rss_kib(h_netd_pid(n));
    /* Unbounded, the 300000 events (about 150 bytes each) would take 45 MB. */
    if (after - before > 16 * 1024)
        fail_msg("netd grew from %ld to %ld KiB while a monitor did not read", before, after);

    /* The monitor reads again: what was queued, then one more event that
     * says how many were lost. */
    raw_events(m, &s, 500);
    size_t got = json_array_size(s.events);
    json_decref(h_call(c, "ping", NULL));
    raw_events(m, &s, 500);
    assert_int_equal(json_array_size(s.events), got + 1);
    json_t *last = json_array_get(s.events, got);
    long long dropped = json_integer_value(json_object_get(last, "dropped"));
    print_message("flood: %zu events delivered, %lld dropped; netd %ld -> %ld KiB\n", got, dropped,
                  before, after);
    assert_true(dropped > 0);
    assert_int_equal((long long)got + dropped, (long long)FLOOD_BATCH * FLOOD_BATCHES);
    /* The running count never goes down. */
    long long prev = 0;
    size_t i;
    json_t *e;
    json_array_foreach(s.events, i, e)
    {
        long long d = json_integer_value(json_object_get(e, "dropped"));
        assert_true(d >= prev);
        prev = d;
    }
    json_decref(s.events);
    raw_free(m);
}

/* One monitor per connection; the monitor ends with its connection, and
 * netd keeps no trace of it (the stop's leak check looks). */
static void test_one_per_connection(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct raw *m = raw_new(connect_name(h_netd_socket(n)));
    struct seen s = {json_array()};
    raw_monitor(m, &s);
    raw_send(m, "{\"jsonrpc\":\"2.0\",\"id\":\"again\",\"method\":\"monitor\"}\n");
    json_t *ans = raw_answer(m, &s, "again");
    json_t *err = json_object_get(ans, "error");
    assert_int_equal(json_integer_value(json_object_get(err, "code")), -32006);
    h_expect_str(json_object_get(err, "data"), "limit", "monitors");
    json_decref(ans);
    raw_free(m);
    /* Requests after the monitor's connection ended still work. */
    netd_client *c = h_client(n);
    for (int i = 0; i < 20; i++)
        json_decref(h_call(c, "ping", NULL));
    json_decref(s.events);
}

/* At --log-level debug netd logs one line per request. */
static void test_debug_log_line(void **state)
{
    const char *args[] = {"--log-level", "debug", NULL};
    struct netd_proc *n = h_netd_start(args);
    netd_client *c = h_client(n);
    json_decref(h_call_err(c, "close", json_pack("{s:s}", "handle", "h0.31337"), -32002));
    json_decref(h_call(c, "ping", NULL));
    h_client_free(c);
    /* netd writes a request's line before its answer leaves. */
    char *log = h_netd_stderr(n);
    char want[128];
    snprintf(want, sizeof want, "request close h0.31337 uid %u pid %d: error -32002", getuid(),
             (int)getpid());
    if (!strstr(log, want))
        fail_msg("netd's debug log lacks \"%s\":\n%s", want, log);
    snprintf(want, sizeof want, "request ping uid %u pid %d: ok, ", getuid(), (int)getpid());
    if (!strstr(log, want))
        fail_msg("netd's debug log lacks \"%s\":\n%s", want, log);
    free(log);
}

/* Calls close on the unknown handle @name until @fd (netctl's stdout) has
 * something to read: netctl's monitor is on. */
static void sync_netctl(netd_client *c, int fd, const char *name)
{
    for (int tries = 0;; tries++) {
        assert_true(tries < 300);
        json_decref(h_call_err(c, "close", json_pack("{s:s}", "handle", name), -32002));
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) == 1)
            return;
    }
}

/* netctl monitor: a line per request, live; ends with exit 0 on SIGTERM. */
static void test_netctl_monitor_lines(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    const char *args[] = {"monitor", NULL};
    struct child ch = netctl_spawn(h_netd_socket(n), args, -1);
    sync_netctl(c, ch.out, "h0.4711");
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    json_decref(h_call_err(c, "close", json_pack("{s:s}", "handle", "h0.4712"), -32002));
    char line[512], want_close[128], want_listen[128];
    snprintf(want_close, sizeof want_close, "  close h0.4712  unknown handle (-32002)  ");
    snprintf(want_listen, sizeof want_listen, "  listen %s  ok  ", l);
    bool saw_listen = false;
    for (;;) {
        child_line(&ch, line, sizeof line);
        if (strstr(line, want_listen))
            saw_listen = true;
        if (strstr(line, want_close))
            break;
    }
    assert_true(saw_listen);
    char who[64];
    snprintf(who, sizeof who, "  uid %u pid %d", getuid(), (int)getpid());
    assert_non_null(strstr(line, who));
    /* HH:MM:SS.uuuuuu first. */
    assert_true(strlen(line) > 15 && line[2] == ':' && line[5] == ':' && line[8] == '.');
    kill(ch.pid, SIGTERM);
    struct run r = child_finish(&ch);
    assert_int_equal(r.status, 0);
    run_free(&r);
    free(l);
}

/* netctl --json monitor --count 2: two of netd's event objects, then exit 0. */
static void test_netctl_monitor_json_count(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    const char *args[] = {"--json", "monitor", "--count", "2", NULL};
    struct child ch = netctl_spawn(h_netd_socket(n), args, -1);
    sync_netctl(c, ch.out, "h0.4713");
    json_decref(h_call_err(c, "close", json_pack("{s:s}", "handle", "h0.4713"), -32002));
    struct run r = child_finish(&ch);
    assert_int_equal(r.status, 0);
    size_t lines = 0;
    for (char *p = r.out, *nl; (nl = strchr(p, '\n')); p = nl + 1, lines++) {
        json_t *e = json_loadb(p, (size_t)(nl - p), 0, NULL);
        assert_non_null(e);
        h_expect_str(e, "method", "close");
        h_expect_str(e, "handle", "h0.4713");
        assert_int_equal(h_int(e, "code"), -32002);
        assert_int_equal(h_int(e, "dropped"), 0);
        assert_true(h_int(e, "duration_us") >= 0);
        json_decref(e);
    }
    assert_int_equal(lines, 2);
    run_free(&r);
}

/* A netctl whose output nobody reads falls behind; once read again, it
 * says how many events netd dropped. */
static void test_netctl_monitor_shows_drops(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    const char *args[] = {"monitor", NULL};
    struct child ch = netctl_spawn(h_netd_socket(n), args, -1);
    sync_netctl(c, ch.out, "h0.4714");
    flood(c, FLOOD_BATCHES / 3);
    /* netctl catches up with what netd kept for it; the count of the rest
     * comes with the next event that reaches it. */
    char line[512];
    long long dropped = 0;
    bool marked = false;
    for (;;) {
        struct pollfd p = {.fd = ch.out, .events = POLLIN};
        if (!marked && poll(&p, 1, 500) == 0) {
            json_decref(h_call_err(c, "close", json_pack("{s:s}", "handle", "h0.4715"), -32002));
            marked = true;
        }
        child_line(&ch, line, sizeof line);
        long long k, total;
        if (sscanf(line, "-- %lld events dropped (%lld so far)", &k, &total) == 2) {
            assert_true(k > 0 && total >= dropped + k);
            dropped = total;
        }
        if (strstr(line, " close h0.4715 "))
            break;
    }
    print_message("netctl monitor: %lld events dropped\n", dropped);
    assert_true(dropped > 0);
    kill(ch.pid, SIGTERM);
    struct run r = child_finish(&ch);
    assert_int_equal(r.status, 0);
    run_free(&r);
}

/* When netd stops, a monitor is answered `aborted` before its connection
 * ends: netctl monitor says so and exits 1. */
static void test_netctl_monitor_netd_stops(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    const char *args[] = {"monitor", NULL};
    struct child ch = netctl_spawn(h_netd_socket(n), args, -1);
    sync_netctl(c, ch.out, "h0.4716");
    h_client_free(c);
    h_netd_stop_ok(n);
    struct run r = child_finish(&ch);
    assert_int_equal(r.status, 1);
    if (!strstr(r.err, "monitor: netd is shutting down"))
        fail_msg("netctl monitor said: %s", r.err);
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_uid_sees_own_root_sees_all, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_event_fields, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_slow_monitor_drops_and_counts, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_one_per_connection, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_debug_log_line, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_monitor_lines, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_monitor_json_count, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_monitor_shows_drops, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_monitor_netd_stops, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
