/*
 * test_uid_limits.c - what one uid may hold besides memory (issue 9,
 * findings 2 and 12): control connections per uid, with root always
 * served, and denials of a uid that is not allowed logged once per
 * interval with their count.
 *
 * Other uids are real: a child process drops to uid 65534 (allowed with
 * --allow-uid) or 65533 (not allowed). Needs root; skips otherwise.
 */
#include <grp.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <time.h>

#include "sockets.h"

#define ALLOWED 65534
#define STRANGER 65533

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int raw_connect(const char *name)
{
    struct sockaddr_storage ss;
    socklen_t len = s_unix(name, &ss);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One line from @fd within 2 s, if any (into @buf). */
static bool line_of(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    while (got + 1 < cap && s_ready(fd, POLLIN, 2000)) {
        ssize_t k = read(fd, buf + got, cap - 1 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
        if (memchr(buf, '\n', got))
            break;
    }
    buf[got] = '\0';
    return got > 0;
}

/* The child: @count connections as @uid, each with a ping. It writes how
 * many were answered and how many refused with max_connections, then
 * holds them until @go closes. */
static pid_t many_connections(const char *name, uid_t uid, int count, int counts[2], int *go_out)
{
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(ready[0]);
        close(go[1]);
        if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)
            _exit(2);
        int res[2] = {0, 0};
        int *fds = calloc((size_t)count, sizeof *fds);
        static const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n";
        for (int i = 0; i < count; i++) {
            fds[i] = raw_connect(name);
            char buf[512];
            if (fds[i] < 0 || write(fds[i], ping, sizeof ping - 1) < 0 ||
                !line_of(fds[i], buf, sizeof buf))
                continue;
            if (strstr(buf, "\"result\""))
                res[0]++;
            else if (strstr(buf, "-32006") && strstr(buf, "max_connections"))
                res[1]++;
        }
        (void)!write(ready[1], res, sizeof res);
        char b;
        (void)!read(go[0], &b, 1);
        _exit(0);
    }
    close(ready[1]);
    close(go[0]);
    *go_out = go[1];
    assert_int_equal(read(ready[0], counts, 2 * sizeof(int)), (ssize_t)(2 * sizeof(int)));
    close(ready[0]);
    return pid;
}

static void child_end(pid_t pid, int go)
{
    close(go);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* 300 connections of one allowed uid: 256 are served, the rest get the
 * limit line; root's ping is answered at once meanwhile, and once the uid's
 * connections close it may connect again. */
static void test_connections_per_uid(void **state)
{
    if (geteuid() != 0) {
        skip();
        return;
    }
    static const char *const args[] = {"--allow-uid", "65534", NULL};
    struct netd_proc *n = h_netd_start(args);
    int counts[2], go;
    pid_t child = many_connections(h_netd_socket(n), ALLOWED, 300, counts, &go);
    printf("300 connections of uid %d: %d served, %d refused with max_connections\n", ALLOWED,
           counts[0], counts[1]);
    assert_int_equal(counts[0], 256);
    assert_int_equal(counts[1], 44);
    netd_client *root = h_client(n);
    double t0 = now_s();
    json_decref(h_call(root, "ping", json_object()));
    double took = now_s() - t0;
    printf("root's ping took %.4f s\n", took);
    assert_true(took < 0.5);
    child_end(child, go);
    /* The count goes back as the connections close. */
    for (int tries = 0;; tries++) {
        child = many_connections(h_netd_socket(n), ALLOWED, 10, counts, &go);
        child_end(child, go);
        if (counts[0] == 10 || tries == 20)
            break;
        usleep(100 * 1000);
    }
    assert_int_equal(counts[0], 10);
}

/* A uid that is not allowed and retries in a loop gets one log line per
 * interval, which says how many times it was refused meanwhile. */
static void test_denials_rate_limited(void **state)
{
    if (geteuid() != 0) {
        skip();
        return;
    }
    struct netd_proc *n = h_netd_start(NULL);
    int counts[2], go;
    pid_t child = many_connections(h_netd_socket(n), STRANGER, 300, counts, &go);
    child_end(child, go);
    assert_int_equal(counts[0], 0);
    char *err = h_netd_stderr(n);
    int lines = 0;
    for (const char *p = err; (p = strstr(p, "denied uid 65533")); p++)
        lines++;
    printf("300 denials: %d log lines\n", lines);
    assert_int_equal(lines, 1);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connections_per_uid, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_denials_rate_limited, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
