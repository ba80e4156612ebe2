/*
 * netctl_run.h - running the netctl binary from a test: its exit status,
 * stdout and stderr collected within 30 s, or a child left running whose
 * output is read line by line.
 */
#ifndef NETCTL_RUN_H
#define NETCTL_RUN_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

struct run {
    int status; /* exit status; 128 + signal if killed */
    char *out, *err;
    size_t outlen, errlen;
};

static inline void run_free(struct run *r)
{
    free(r->out);
    free(r->err);
}

/* Appends what @fd has to *buf; returns 0 at end of file. */
static inline int drain(int fd, char **buf, size_t *len)
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
static inline void collect(pid_t pid, int ofd, int efd, struct run *r)
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

/* A netctl started with netctl_spawn(): its pid and the read ends of its stdout and stderr. */
struct child {
    pid_t pid;
    int out, err;
};

/*
 * Starts NETCTL_BIN with "--socket" @sock (unless NULL) and @args
 * (NULL-terminated), with @in as its stdin (-1: /dev/null).
 */
static inline struct child netctl_spawn(const char *sock, const char *const *args, int in)
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
    if (in >= 0)
        posix_spawn_file_actions_adddup2(&fa, in, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    struct child ch = {.out = o[0], .err = e[0]};
    int rc = posix_spawn(&ch.pid, NETCTL_BIN, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(o[1]);
    close(e[1]);
    if (rc != 0)
        fail_msg("cannot run %s: %s", NETCTL_BIN, strerror(rc));
    return ch;
}

/* Collects what is left of a child's output until it exits. */
static inline struct run child_finish(struct child *ch)
{
    struct run r = {0};
    collect(ch->pid, ch->out, ch->err, &r);
    close(ch->out);
    close(ch->err);
    return r;
}

/* Runs netctl to its end with @in as stdin (-1: /dev/null). */
static inline struct run netctl_in(const char *sock, const char *const *args, int in)
{
    struct child ch = netctl_spawn(sock, args, in);
    return child_finish(&ch);
}

static inline struct run netctl(const char *sock, const char *const *args)
{
    return netctl_in(sock, args, -1);
}

/* Runs netctl and expects exit status @want; shows its output otherwise. */
#define expect_run(sock, want, ...) expect_run_at((sock), (want), __LINE__, __VA_ARGS__, NULL)
static inline struct run expect_run_at(const char *sock, int want, int line, ...)
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

/* Reads one line of the child's stdout (without the newline) into @buf, waiting up to 30 s. */
static inline void child_line(struct child *ch, char *buf, size_t len)
{
    size_t n = 0;
    long long deadline = h_now_ms() + 30000;
    for (;;) {
        struct pollfd pf = {ch->out, POLLIN, 0};
        long long left = deadline - h_now_ms();
        if (left <= 0)
            fail_msg("no whole line from netctl within 30 s; so far \"%.*s\"", (int)n, buf);
        if (poll(&pf, 1, (int)left) <= 0)
            continue;
        char c;
        ssize_t k = read(ch->out, &c, 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            fail_msg("netctl's output ended before a whole line; so far \"%.*s\"", (int)n, buf);
        if (c == '\n') {
            buf[n] = '\0';
            return;
        }
        if (n + 1 < len)
            buf[n++] = c;
    }
}

/* Copies the first line of netctl's stdout (its handle) into a new string. */
static inline char *first_line(const struct run *r)
{
    return strndup(r->out, strcspn(r->out, "\n"));
}

#endif
