/*
 * test_netctl.c - the netctl command line against a real netd: ping, a
 * connect/write/read/close round trip through kept handles, ls, and the
 * exit statuses (0 success, 1 error answer or failure, 2 usage error).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

struct run {
    int status; /* exit status; 128 + signal if killed */
    char *out, *err;
    size_t outlen, errlen;
};

static void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* Appends what @fd has to *buf; returns 0 at end of file. */
static int drain(int fd, char **buf, size_t *len)
{
    char tmp[4096];
    ssize_t k = read(fd, tmp, sizeof tmp);
    if (k < 0)
        return errno == EINTR ? 1 : 0;
    if (k == 0)
        return 0;
    char *nb = realloc(*buf, *len + (size_t)k + 1);
    assert_non_null(nb);
    memcpy(nb + *len, tmp, (size_t)k);
    *len += (size_t)k;
    nb[*len] = '\0';
    *buf = nb;
    return 1;
}

/* Collects both pipes until they close, within 30 s; then reaps the child. */
static void collect(pid_t pid, int ofd, int efd, struct run *r)
{
    long long deadline = h_now_ms() + 30000;
    int open_o = 1, open_e = 1;
    while (open_o || open_e) {
        struct pollfd pf[2] = {{open_o ? ofd : -1, POLLIN, 0}, {open_e ? efd : -1, POLLIN, 0}};
        long long left = deadline - h_now_ms();
        if (left <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        if (poll(pf, 2, (int)left) < 0 && errno != EINTR)
            break;
        if (pf[0].revents && !drain(ofd, &r->out, &r->outlen))
            open_o = 0;
        if (pf[1].revents && !drain(efd, &r->err, &r->errlen))
            open_e = 0;
    }
    int st;
    waitpid(pid, &st, 0);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (!r->out)
        r->out = strdup("");
    if (!r->err)
        r->err = strdup("");
}

/* Runs NETCTL_BIN with "--socket" @sock (unless NULL) and @args (NULL-terminated). */
static struct run netctl(const char *sock, const char *const *args)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = NETCTL_BIN;
    if (sock) {
        argv[n++] = "--socket";
        argv[n++] = sock;
    }
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int o[2], e[2];
    assert_int_equal(pipe2(o, O_CLOEXEC), 0);
    assert_int_equal(pipe2(e, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, NETCTL_BIN, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(o[1]);
    close(e[1]);
    if (rc != 0)
        fail_msg("cannot run %s: %s", NETCTL_BIN, strerror(rc));
    struct run r = {0};
    collect(pid, o[0], e[0], &r);
    close(o[0]);
    close(e[0]);
    return r;
}

/* Runs netctl and expects exit status @want; shows its output otherwise. */
#define expect_run(sock, want, ...) expect_run_at((sock), (want), __LINE__, __VA_ARGS__, NULL)
static struct run expect_run_at(const char *sock, int want, int line, ...)
{
    const char *args[24];
    int n = 0;
    va_list ap;
    va_start(ap, line);
    while (n < 23 && (args[n] = va_arg(ap, const char *)))
        n++;
    va_end(ap);
    args[n] = NULL;
    struct run r = netctl(sock, args);
    if (r.status != want) {
        print_error("line %d: netctl %s ... exited %d, expected %d\nstdout: %s\nstderr: %s\n", line,
                    args[0], r.status, want, r.out, r.err);
        fail();
    }
    return r;
}

/* Runs netctl, expects exit status @want, and forgets the output. */
#define expect_status(sock, want, ...)                                                             \
    do {                                                                                           \
        struct run r_ = expect_run((sock), (want), __VA_ARGS__);                                   \
        run_free(&r_);                                                                             \
    } while (0)

static void test_netctl_ping(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct run r = expect_run(h_netd_socket(n), 0, "ping");
    assert_true(r.outlen > 0);
    run_free(&r);
    r = expect_run(h_netd_socket(n), 0, "--json", "ping");
    assert_string_equal(r.out, "{}\n");
    run_free(&r);
}

static void test_netctl_round_trip(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    const char *s = h_netd_socket(n);
    char port[16];
    snprintf(port, sizeof port, "%d", h_peer_port(echo));
    struct run r = expect_run(s, 0, "connect", "127.0.0.1", port);
    assert_true(r.outlen > 1 && r.out[r.outlen - 1] == '\n');
    r.out[r.outlen - 1] = '\0';
    char *h = strdup(r.out);
    run_free(&r);
    /* Each netctl run is its own connection: the handle lives because netctl keeps it. */
    expect_status(s, 0, "write", h, "hello netctl");
    r = expect_run(s, 0, "chunk", h, "12", "--timeout", "10");
    assert_string_equal(r.out, "hello netctl");
    run_free(&r);
    /* The kept handle is the uid's: a library client can use it too. */
    netd_client *c = h_client(n);
    h_write(c, h, "from the library", 16);
    r = expect_run(s, 0, "chunk", h, "16", "--timeout", "10");
    assert_string_equal(r.out, "from the library");
    run_free(&r);
    expect_status(s, 0, "close", h);
    assert_true(h_peer_wait_eofs(echo, 1, 10000));
    free(h);
}

static void test_netctl_ls(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    const char *s = h_netd_socket(n);
    char port[16];
    snprintf(port, sizeof port, "%d", h_peer_port(echo));
    struct run r = expect_run(s, 0, "connect", "127.0.0.1", port);
    r.out[strcspn(r.out, "\n")] = '\0';
    char *h = strdup(r.out);
    run_free(&r);
    r = expect_run(s, 0, "ls");
    assert_non_null(strstr(r.out, h));
    run_free(&r);
    r = expect_run(s, 0, "--json", "ls");
    json_t *v = json_loads(r.out, 0, NULL);
    assert_non_null(v);
    json_t *list = json_object_get(v, "handles");
    assert_int_equal(json_array_size(list), 1);
    h_expect_str(json_array_get(list, 0), "handle", h);
    json_decref(v);
    run_free(&r);
    expect_status(s, 0, "close", h);
    r = expect_run(s, 0, "ls");
    assert_null(strstr(r.out, h));
    run_free(&r);
    free(h);
}

static void test_netctl_exit_codes(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    char port[16];
    snprintf(port, sizeof port, "%d", h_refused_port());
    /* Error answers from netd: 1, with a message on stderr. */
    struct run r = expect_run(s, 1, "read", "no-such-handle", "10");
    assert_true(r.errlen > 0);
    assert_int_equal(r.outlen, 0);
    run_free(&r);
    r = expect_run(s, 1, "connect", "127.0.0.1", port);
    assert_non_null(strstr(r.err, "ECONNREFUSED"));
    run_free(&r);
    /* No netd there: a failure, 1. */
    expect_status("@netd-test-nobody-listens-here", 1, "ping");
    /* Usage errors: 2, before anything is sent. */
    expect_status(s, 2, "read", "h-only");
    expect_status(s, 2, "no-such-command");
    expect_status(s, 2, "ping", "--no-such-option");
    expect_status(s, 2, "read", "h", "zero");
    expect_status(NULL, 2, "--socket");
    /* netd saw none of the usage errors as requests that created anything. */
    netd_client *c = h_client(n);
    json_t *st = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(st, "handles")), 0);
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_netctl_ping, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_round_trip, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_ls, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_exit_codes, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
