/*
 * test_faults.c - netd when its clients and peers fail (issue 9, fault
 * tests): a peer that resets during a large write, and a client killed
 * (SIGKILL) while it has a waiting read, write and accept and a kept
 * handle. netd's descriptors come back to where they were, and the kept
 * handle still works from a new connection. netd out of descriptors
 * (EMFILE): every call that needs one fails with a clear error, nothing
 * spins, other clients are served, a new control connection gets a line,
 * and all works again once handles are closed.
 */
#include <grp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#include "sockets.h"

/* netd's descriptor count once it holds still: the harness's probe
 * connection (h_netd_start) may still be closing when a test begins. */
static int settled_fds(struct netd_proc *n)
{
    int last = h_netd_fds(n), same = 0;
    for (int i = 0; i < 100 && same < 3; i++) {
        h_sleep_ms(20);
        int now = h_netd_fds(n);
        same = now == last ? same + 1 : 0;
        last = now;
    }
    return last;
}

/* A waiting 8 MiB write to a peer that resets: the write is answered with
 * the error and how much went, and netd goes on. */
static void test_reset_during_large_write(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct peer *rst = h_peer_tcp(PEER_RESET, AF_INET, NULL, 0);
    char *h = h_connect(c, "127.0.0.1", h_peer_port(rst));
    size_t len = 8u << 20;
    char *buf = malloc(len);
    memset(buf, 'r', len);
    json_t *data = json_stringn(buf, len);
    free(buf);
    long long id = h_send(c, "write",
                          json_pack("{s:s,s:o,s:s,s:i}", "handle", h, "data", data, "encoding",
                                    "utf8", "timeout", 20));
    json_t *err = h_wait_err(c, id, -32000);
    assert_non_null(json_object_get(json_object_get(err, "data"), "written"));
    json_decref(err);
    json_decref(h_call(c, "ping", json_object()));
    h_close(c, h);
    free(h);
}

/* The killed client: a kept handle (its name written to @out), then a
 * waiting read, a waiting write to a peer that never reads and a waiting
 * accept; it then waits to be killed. */
static void victim(const char *sock, int echo_port, int hole_port, int out)
{
    netd_client *c = netd_client_connect(sock);
    json_t *res = NULL, *err = NULL;
    if (!c ||
        netd_call(c, "connect",
                  json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", echo_port, "keep", 1),
                  &res, &err) < 0 ||
        !res)
        _exit(2);
    const char *kept = json_string_value(json_object_get(res, "handle"));
    json_t *r2 = NULL;
    netd_call(c, "connect", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", echo_port), &r2,
              &err);
    json_t *r3 = NULL;
    netd_call(c, "connect", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", hole_port), &r3,
              &err);
    json_t *r4 = NULL;
    netd_call(c, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 0), &r4, &err);
    if (!r2 || !r3 || !r4)
        _exit(3);
    netd_client_send(
        c, "chunk", json_pack("{s:O,s:i}", "handle", json_object_get(r2, "handle"), "nbytes", 100));
    static char big[4 << 20];
    memset(big, 'w', sizeof big);
    netd_client_send(c, "write",
                     json_pack("{s:O,s:o,s:s}", "handle", json_object_get(r3, "handle"), "data",
                               json_stringn(big, sizeof big), "encoding", "utf8"));
    netd_client_send(c, "accept", json_pack("{s:O}", "handle", json_object_get(r4, "handle")));
    (void)!write(out, kept, strlen(kept) + 1);
    pause();
    _exit(0);
}

static void test_sigkill_client(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    struct peer *hole = h_peer_tcp(PEER_BLACKHOLE, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    json_decref(h_call(c, "ping", json_object()));
    int base = settled_fds(n);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        victim(h_netd_socket(n), h_peer_port(echo), h_peer_port(hole), p[1]);
    }
    close(p[1]);
    char kept[64] = "";
    assert_true(read(p[0], kept, sizeof kept - 1) > 0);
    close(p[0]);
    int during = h_netd_fds(n);
    h_sleep_ms(200); /* the waiting calls have reached netd */
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    /* Everything but the kept handle's socket goes. */
    int now = -1;
    for (int i = 0; i < 100; i++) {
        now = h_netd_fds(n);
        if (now == base + 1)
            break;
        h_sleep_ms(50);
    }
    printf("netd's descriptors: %d before, %d with the victim's handles, %d after SIGKILL\n", base,
           during, now);
    assert_int_equal(now, base + 1);
    /* The kept handle works from a new connection. */
    netd_client *c2 = h_client(n);
    h_write(c2, kept, "survived", 8);
    h_read_expect(c2, kept, "survived", 8, 10);
    h_close(c2, kept);
    for (int i = 0; i < 100 && h_netd_fds(n) != base; i++)
        h_sleep_ms(20);
    assert_int_equal(h_netd_fds(n), base + 1 /* c2 */);
}

/* CPU seconds netd has used (utime + stime of /proc/PID/stat). */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    assert_non_null(p);
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Calls @method and expects error @code; returns it (the caller frees it).
 * Shows the result when there was one. */
static json_t *call_expect_err(netd_client *c, const char *method, json_t *params, int code)
{
    json_t *res = NULL, *err = NULL;
    assert_true(netd_call(c, method, params, &res, &err) >= 0);
    if (!err) {
        char *s = json_dumps(res, 0);
        fail_msg("%s: expected error %d, got the result %s", method, code, s);
    }
    if (h_int(err, "code") != code) {
        char *s = json_dumps(err, 0);
        fail_msg("%s: expected error %d, got %s", method, code, s);
    }
    return err;
}

/* Expects @err to be -32000 with data.errno EMFILE and strerror's words. */
static void expect_emfile(json_t *err, const char *what)
{
    const char *msg = h_str(err, "message");
    if (strcmp(h_err_data_str(err, "errno"), "EMFILE") != 0 || !strstr(msg, "Too many open files"))
        fail_msg("%s: not a clear EMFILE error: %s", what, msg);
    printf("%s: %s\n", what, msg);
}

/* The first line netd writes on a new raw connection to @name, within 5 s
 * (malloc'd, without the newline), or NULL when it closes without one. */
static char *first_line(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, len), 0);
    char buf[1024];
    size_t got = 0;
    while (got < sizeof buf - 1 && !memchr(buf, '\n', got) && s_ready(fd, POLLIN, 5000)) {
        ssize_t r = read(fd, buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    char *nl = memchr(buf, '\n', got);
    return nl ? strndup(buf, (size_t)(nl - buf)) : NULL;
}

/* A client of uid 65534, connected before netd runs out of descriptors:
 * pings when told (a byte on @go) and exits 0 if answered. */
static pid_t other_uid_client(const char *sock, int *go)
{
    int p[2], ready[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[1]);
        close(ready[0]);
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        netd_client *c = netd_client_connect(sock);
        json_t *res = NULL, *err = NULL;
        if (!c || netd_call(c, "ping", NULL, &res, &err) < 0 || !res)
            _exit(3);
        (void)!write(ready[1], "r", 1);
        char b;
        if (read(p[0], &b, 1) != 1)
            _exit(4);
        res = NULL;
        _exit(netd_call(c, "ping", NULL, &res, &err) == 0 && res ? 0 : 5);
    }
    close(p[0]);
    close(ready[1]);
    char b;
    assert_int_equal(read(ready[0], &b, 1), 1);
    close(ready[0]);
    *go = p[1];
    return pid;
}

static int count_of(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        k++;
    return k;
}

/* netd at its open-file limit (lowered from outside with prlimit, as a
 * busy machine would make it): connect, listen, pair, a lookup and a
 * waiting accept fail at once with errors that say so; netd does not spin
 * on the connections waiting in its backlogs; clients already connected
 * (another uid's too) are served; a new control connection is refused with
 * one `limit` line; the warning is logged once, not at every retry. Once
 * handles are closed, everything works again and netd's descriptors come
 * back to their count before. */
static void test_emfile_and_recovery(void **state)
{
    struct netd_proc *n = h_netd_start((const char *const[]){"--allow-uid", "65534", NULL});
    pid_t pid = h_netd_pid(n);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    netd_client *a = h_client(n); /* uses the descriptors up */
    netd_client *b = h_client(n); /* another client of the same uid */
    int go;
    pid_t other = other_uid_client(h_netd_socket(n), &go);
    char *lst = h_new_handle(a, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 0));
    int lport = n_local_port(a, lst);
    int base = settled_fds(n);

    enum { ROOM = 24, MAXH = 64 };
    struct rlimit old, low;
    assert_int_equal(prlimit(pid, RLIMIT_NOFILE, NULL, &old), 0);
    low = (struct rlimit){(rlim_t)base + ROOM, old.rlim_max};
    assert_int_equal(prlimit(pid, RLIMIT_NOFILE, &low, NULL), 0);

    char *hs[MAXH];
    int nh = 0;
    json_t *err = NULL;
    for (; nh < MAXH; nh++) {
        json_t *res = NULL;
        assert_true(
            netd_call(a, "connect",
                      json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", h_peer_port(echo)), &res,
                      &err) >= 0);
        if (err)
            break;
        hs[nh] = strdup(h_str(res, "handle"));
        json_decref(res);
    }
    assert_non_null(err);
    assert_int_equal(h_int(err, "code"), -32000);
    expect_emfile(err, "connect");
    json_decref(err);
    assert_true(nh >= ROOM - 4);

    err = call_expect_err(a, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 0),
                          -32000);
    expect_emfile(err, "listen");
    json_decref(err);
    err = call_expect_err(a, "pair", json_object(), -32000);
    expect_emfile(err, "pair");
    json_decref(err);
    /* A name netd cannot look up for want of descriptors is not a name
     * that does not exist (glibc says EAI_NONAME). */
    err = call_expect_err(a, "address", json_pack("{s:s,s:i}", "host", "localhost", "port", 80),
                          -32007);
    if (!strstr(h_str(err, "message"), "Too many open files"))
        fail_msg("address localhost: %s", h_str(err, "message"));
    h_expect_str(json_object_get(err, "data"), "gai", "EAI_SYSTEM");
    printf("address: %s\n", h_str(err, "message"));
    json_decref(err);
    err = call_expect_err(a, "connect", json_pack("{s:s,s:i}", "host", "localhost", "port", 80),
                          -32007);
    assert_non_null(strstr(h_str(err, "message"), "Too many open files"));
    json_decref(err);

    /* A connection waits in the listener's backlog; the waiting accept is
     * told at once, not at its timeout. */
    int waiting = s_tcp_connect("127.0.0.1", lport);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    err =
        call_expect_err(a, "accept", json_pack("{s:s,s:i}", "handle", lst, "timeout", 20), -32000);
    expect_emfile(err, "accept");
    json_decref(err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 5);

    /* A new control connection: one line saying why, then closed. */
    char *line = first_line(h_netd_socket(n));
    if (!line)
        fail_msg("a new control connection was closed without a line");
    json_t *ans = json_loads(line, 0, NULL);
    assert_non_null(ans);
    json_t *e = json_object_get(ans, "error");
    assert_int_equal(h_int(e, "code"), -32006);
    h_expect_str(json_object_get(e, "data"), "limit", "max_descriptors");
    printf("new control connection: %s\n", line);
    json_decref(ans);
    free(line);

    /* Connections wait in both backlogs; netd must not spin on them. */
    int queued = s_tcp_connect("127.0.0.1", lport);
    h_sleep_ms(300);
    double before = cpu_seconds(pid);
    h_sleep_ms(1000);
    double used = cpu_seconds(pid) - before;
    printf("CPU while out of descriptors: %.2f s in 1 s\n", used);
    assert_true(used < 0.3);

    /* Clients already connected are served: this one, another, another uid's. */
    json_decref(h_call(a, "ping", NULL));
    json_decref(h_call(b, "ping", NULL));
    assert_int_equal(write(go, "g", 1), 1);
    int st;
    assert_int_equal(waitpid(other, &st, 0), other);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    close(go);
    h_netd_assert_alive(n);

    /* Logged once per listener, not at every retry. */
    char *log = h_netd_stderr(n);
    int warned = count_of(log, "accept: Too many open files");
    free(log);
    printf("warnings logged: %d\n", warned);
    assert_true(warned >= 1 && warned <= 2);

    /* Recovery. */
    for (int i = 0; i < nh; i++) {
        h_close(a, hs[i]);
        free(hs[i]);
    }
    char *h = h_connect(a, "127.0.0.1", h_peer_port(echo));
    h_write(a, h, "again", 5);
    h_read_expect(a, h, "again", 5, 10);
    h_close(a, h);
    free(h);
    for (int i = 0; i < 2; i++) { /* both connections that waited in the backlog */
        char *acc = h_new_handle(a, "accept", json_pack("{s:s,s:i}", "handle", lst, "timeout", 10));
        h_close(a, acc);
        free(acc);
    }
    close(waiting);
    close(queued);
    netd_client *late = h_client(n);
    json_decref(h_call(late, "ping", NULL));
    h_client_free(late);
    json_t *res = h_call(a, "address", json_pack("{s:s,s:i}", "host", "localhost", "port", 80));
    json_decref(res);

    assert_int_equal(prlimit(pid, RLIMIT_NOFILE, &old, NULL), 0);
    int now = -1;
    for (int i = 0; i < 100; i++) {
        if ((now = h_netd_fds(n)) == base - 1) /* the other uid's connection has gone */
            break;
        h_sleep_ms(50);
    }
    printf("netd's descriptors: %d before, %d after\n", base, now);
    assert_int_equal(now, base - 1);
    h_close(a, lst);
    free(lst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_during_large_write, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_client, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_emfile_and_recovery, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
