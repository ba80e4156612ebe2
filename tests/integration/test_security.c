/*
 * test_security.c - who may use netd (SO_PEERCRED, --allow-uid,
 * --allow-gid), kept handles that belong to one uid, a netd that runs out
 * of descriptors without spinning or losing the clients it has, and the
 * control socket as a path (mode 0660, removed on exit) or passed by systemd.
 *
 * Other users are real: a child process drops to uid/gid 65534 before it
 * connects. The tests need root to do that and skip otherwise.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define NOBODY 65534

/* Connects to @sock_name, sends @line and reads one answer line, as a raw
 * socket client. Returns the answer (malloc'd) or NULL when netd closed the
 * connection without answering. Runs in the forked child, so it uses no
 * library state of the parent. */
static char *raw_exchange(const char *sock_name, const char *line)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    size_t n = strlen(sock_name);
    memcpy(sun.sun_path + 1, sock_name + 1, n - 1);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, len) < 0)
        return NULL;
    if (write(fd, line, strlen(line)) < 0)
        return NULL;
    char *buf = calloc(1, 4096);
    size_t got = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (got < 4095 && !memchr(buf, '\n', got) && poll(&p, 1, 5000) == 1) {
        ssize_t k = read(fd, buf + got, 4095 - got);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (got == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Runs raw_exchange() as @uid/@gid in a child and returns its answer line
 * ("" when netd closed without answering). */
static char *exchange_as(const char *sock_name, uid_t uid, gid_t gid, const char *line)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
            _exit(3);
        char *ans = raw_exchange(sock_name, line);
        if (ans && write(pfd[1], ans, strlen(ans)) < 0)
            _exit(4);
        _exit(0);
    }
    close(pfd[1]);
    char *out = calloc(1, 4096);
    size_t got = 0;
    ssize_t k;
    while (got < 4095 && (k = read(pfd[0], out + got, 4095 - got)) > 0)
        got += (size_t)k;
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return out;
}

static int error_code_of(const char *line)
{
    json_t *v = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(v);
    int code = (int)json_integer_value(json_object_get(json_object_get(v, "error"), "code"));
    json_decref(v);
    return code;
}

static bool is_result(const char *line)
{
    json_t *v = json_loads(line, JSON_DISABLE_EOF_CHECK, NULL);
    bool ok = v && json_object_get(v, "result") != NULL;
    json_decref(v);
    return ok;
}

#define PING "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n"

static void skip_unless_root(void)
{
    if (geteuid() != 0)
        skip();
}

static void test_other_uid_denied(void **state)
{
    skip_unless_root();
    struct netd_proc *n = h_netd_start(NULL);
    char *ans = exchange_as(h_netd_socket(n), NOBODY, NOBODY, PING);
    assert_int_equal(error_code_of(ans), -32005);
    assert_non_null(strstr(ans, "--allow-uid"));
    free(ans);
    /* Root is still served. */
    netd_client *c = h_client(n);
    json_decref(h_call(c, "ping", NULL));
}

static void test_allow_uid(void **state)
{
    skip_unless_root();
    const char *args[] = {"--allow-uid", "65534", NULL};
    struct netd_proc *n = h_netd_start(args);
    char *ans = exchange_as(h_netd_socket(n), NOBODY, NOBODY, PING);
    assert_true(is_result(ans));
    free(ans);
    /* Another uid is still refused. */
    ans = exchange_as(h_netd_socket(n), 65533, 65533, PING);
    assert_int_equal(error_code_of(ans), -32005);
    free(ans);
}

static void test_allow_gid(void **state)
{
    skip_unless_root();
    const char *args[] = {"--allow-gid", "65534", NULL};
    struct netd_proc *n = h_netd_start(args);
    char *ans = exchange_as(h_netd_socket(n), 65533, NOBODY, PING);
    assert_true(is_result(ans));
    free(ans);
    ans = exchange_as(h_netd_socket(n), 65533, 65533, PING);
    assert_int_equal(error_code_of(ans), -32005);
    free(ans);
}

/* A kept handle belongs to its uid: another allowed uid is told it does not
 * exist, exactly as for a handle that never existed. */
static void test_kept_handle_is_per_uid(void **state)
{
    skip_unless_root();
    const char *args[] = {"--allow-uid", "65534", NULL};
    struct netd_proc *n = h_netd_start(args);
    netd_client *c = h_client(n);
    char *h = h_new_handle(c, "listen",
                           json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", 0, "keep", 1));
    char line[256];
    snprintf(
        line, sizeof line,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":{\"handle\":\"%s\"}}\n", h);
    char *ans = exchange_as(h_netd_socket(n), NOBODY, NOBODY, line);
    assert_int_equal(error_code_of(ans), -32002);
    free(ans);
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\",\"params\":{\"handle\":\"h0."
             "ffff\"}}\n");
    char *never = exchange_as(h_netd_socket(n), NOBODY, NOBODY, line);
    assert_int_equal(error_code_of(never), -32002);
    free(never);
    free(h);
}

static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime) come after the ")" that ends the name. */
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    assert_int_equal(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st),
                     2);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* netd's pid, from SO_PEERCRED of a control connection. */
static pid_t netd_pid(netd_client *c)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    assert_int_equal(getsockopt(netd_client_fd(c), SOL_SOCKET, SO_PEERCRED, &cr, &len), 0);
    return cr.pid;
}

/* With its descriptors used up, netd keeps serving the clients it has, does
 * not spin on the control listener, and takes new clients again once
 * descriptors are free. */
static void test_emfile_no_spin(void **state)
{
    /* Start netd with a soft limit below the hard one, as shells often do. */
    struct rlimit mine, soft;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &mine), 0);
    soft = (struct rlimit){mine.rlim_max > 256 ? 256 : mine.rlim_max, mine.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &soft), 0);
    struct netd_proc *n = h_netd_start(NULL);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &mine), 0);
    netd_client *c = h_client(n);
    /* netd raises its own soft limit to the hard one at start, so the
     * limit is lowered from outside once it runs. */
    pid_t pid = netd_pid(c);
    /* At start netd raised its soft limit to the hard one. */
    struct rlimit got;
    assert_int_equal(prlimit(pid, RLIMIT_NOFILE, NULL, &got), 0);
    assert_true(got.rlim_cur == got.rlim_max);
    struct rlimit low = {64, 64};
    assert_int_equal(prlimit(pid, RLIMIT_NOFILE, &low, NULL), 0);

    enum { EXTRA = 120 };
    int fds[EXTRA];
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    const char *name = h_netd_socket(n);
    memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    for (int i = 0; i < EXTRA; i++) {
        fds[i] = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        /* Connects complete into the backlog even when netd cannot accept. */
        (void)connect(fds[i], (struct sockaddr *)&sun, len);
    }
    h_sleep_ms(300);
    double before = cpu_seconds(pid);
    h_sleep_ms(1000);
    double used = cpu_seconds(pid) - before;
    /* A spinning accept loop burns a whole core; waiting costs next to nothing. */
    assert_true(used < 0.5);
    json_decref(h_call(c, "ping", NULL));

    for (int i = 0; i < EXTRA; i++)
        close(fds[i]);
    h_sleep_ms(300);
    netd_client *late = h_client(n);
    json_decref(h_call(late, "ping", NULL));
}

/* Starts NETD_BIN with @argv (NULL-terminated, without the program); when
 * @listen_fd >= 0 it is passed as systemd does (descriptor 3, LISTEN_FDS). */
static pid_t spawn_netd(const char *const *argv, int listen_fd)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (listen_fd >= 0) {
            if (dup2(listen_fd, 3) < 0)
                _exit(126);
            char pidbuf[32];
            snprintf(pidbuf, sizeof pidbuf, "%d", (int)getpid());
            setenv("LISTEN_PID", pidbuf, 1);
            setenv("LISTEN_FDS", "1", 1);
        }
        const char *args[16] = {NETD_BIN};
        for (int i = 0; argv[i] && i < 14; i++)
            args[i + 1] = argv[i];
        execv(NETD_BIN, (char *const *)args);
        _exit(127);
    }
    return pid;
}

static netd_client *connect_retry(const char *name)
{
    for (int i = 0; i < 250; i++) {
        netd_client *c = netd_client_connect(name);
        if (c)
            return c;
        h_sleep_ms(20);
    }
    fail_msg("netd did not come up on %s", name);
    return NULL;
}

static void stop_ok(pid_t pid)
{
    kill(pid, SIGTERM);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void ping_ok(netd_client *c)
{
    json_t *res = NULL, *err = NULL;
    assert_int_equal(netd_call(c, "ping", NULL, &res, &err), 0);
    json_decref(res);
}

/* A control socket that is a path: created 0660, served, removed on exit. */
static void test_socket_path(void **state)
{
    char dir[] = "/tmp/netd-path-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/ctl", dir);
    pid_t pid = spawn_netd((const char *const[]){"--socket", path, NULL}, -1);
    netd_client *c = connect_retry(path);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0660);
    ping_ok(c);
    netd_client_free(c);
    stop_ok(pid);
    assert_int_equal(access(path, F_OK), -1);
    rmdir(dir);
}

/* Socket activation: netd serves the listening socket it inherits. */
static void test_socket_activation(void **state)
{
    char name[64];
    snprintf(name, sizeof name, "@netd-activation-%d", (int)getpid());
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, len), 0);
    assert_int_equal(listen(fd, 16), 0);
    /* The --socket name is ignored when a socket is passed. */
    pid_t pid = spawn_netd((const char *const[]){"--socket", "@netd-not-this-one", NULL}, fd);
    close(fd);
    netd_client *c = connect_retry(name);
    ping_ok(c);
    netd_client_free(c);
    assert_null(netd_client_connect("@netd-not-this-one"));
    stop_ok(pid);
}

/* netd --help documents every option and exits 0; a bad option exits 2. */
static void test_usage(void **state)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s --help", NETD_BIN);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    assert_int_equal(pclose(p), 0);
    static const char *const opts[] = {"--socket",      "--workers",    "--max-request",
                                       "--max-handles", "--max-buffer", "--max-read",
                                       "--allow-uid",   "--allow-gid",  "--log-level"};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        assert_non_null(strstr(out, opts[i]));
    snprintf(cmd, sizeof cmd, "%s --no-such-option 2>/dev/null", NETD_BIN);
    int st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    snprintf(cmd, sizeof cmd, "%s --workers 0 2>/dev/null", NETD_BIN);
    st = system(cmd);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_other_uid_denied, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_allow_uid, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_allow_gid, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_kept_handle_is_per_uid, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_emfile_no_spin, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_socket_path, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_socket_activation, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_usage, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
