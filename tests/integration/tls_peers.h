/*
 * tls_peers.h - what the TLS scenarios (test_tls_client.c,
 * test_tls_server.c) share: certificates made by certs.sh in a temporary
 * directory for the whole test program, real TLS peers run as processes
 * (openssl s_server and s_client, and tls_peer.py with Python's ssl module)
 * with pipes to them, and asserting shortcuts for netd's TLS calls.
 *
 * Processes started here are registered and killed by t_teardown() (which
 * also runs h_teardown), so a failing test leaves none behind. Everything
 * asserts, so it is for the test's main thread only, like the h_* helpers.
 */
#ifndef NETD_TEST_TLS_PEERS_H
#define NETD_TEST_TLS_PEERS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

/** Longest wait for a peer's line: handshakes under sanitizers are slow. */
#define T_LINE_MS 60000

static char t_dir[64]; /* the certificates, and the peers' logs */

/** The file @name in the certificate directory (one of 8 rotating buffers). */
static inline const char *T(const char *name)
{
    static char bufs[8][160];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", t_dir, name);
    return b;
}

/** cmocka group setup: makes the certificates (certs.sh) in a fresh directory. */
static inline int t_group_setup(void **state)
{
    strcpy(t_dir, "/tmp/netd-tls-XXXXXX");
    if (!mkdtemp(t_dir))
        return -1;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sh '%s/tests/integration/certs.sh' '%s' >'%s/certs.log' 2>&1",
             NETD_SOURCE_DIR, t_dir, t_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "certs.sh failed; see %s/certs.log\n", t_dir);
        return -1;
    }
    return 0;
}

static inline int t_group_teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Peer processes                                                      */

struct tproc {
    pid_t pid;
    int in, out; /* pipes to its stdin and from its stdout, or -1 */
    char log[160];
    char buf[8192];
    size_t len;
};

static struct tproc *t_procs[32];
static int t_nprocs;

/** Prints the tail of @p's stderr log, to explain a failure. */
static inline void t_show_log(const struct tproc *p)
{
    FILE *f = fopen(p->log, "r");
    if (!f)
        return;
    char line[512];
    fprintf(stderr, "--- %s ---\n", p->log);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

/**
 * Starts @argv (NULL-terminated) with its stdin and stdout on pipes, or its
 * stdout in the file @out_file when that is not NULL; stderr goes to a log.
 */
static inline struct tproc *t_spawn(const char *const *argv, const char *out_file)
{
    assert_true(t_nprocs < 32);
    struct tproc *p = calloc(1, sizeof *p);
    int in[2], out[2] = {-1, -1};
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    if (!out_file)
        assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    snprintf(p->log, sizeof p->log, "%s/peer%d.log", t_dir, t_nprocs);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    if (out_file)
        posix_spawn_file_actions_addopen(&fa, 1, out_file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    else
        posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    if (out[1] >= 0)
        close(out[1]);
    if (rc != 0)
        fail_msg("cannot start %s: %s", argv[0], strerror(rc));
    p->in = in[1];
    p->out = out[0];
    t_procs[t_nprocs++] = p;
    return p;
}

/** Closes @p's stdin (the peer sees the end of its input). */
static inline void t_close_input(struct tproc *p)
{
    if (p->in >= 0)
        close(p->in);
    p->in = -1;
}

/** Waits up to @ms for @p to exit; returns its exit status, or -1 if it did not. */
static inline int t_wait_exit(struct tproc *p, int ms)
{
    for (long long end = h_now_ms() + ms; h_now_ms() < end; h_sleep_ms(20)) {
        int st;
        if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
            p->pid = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
    }
    return -1;
}

/** The next line @p writes to stdout, without its newline (malloc'd). Fails on timeout or EOF. */
static inline char *t_line(struct tproc *p, int ms)
{
    long long end = h_now_ms() + ms;
    for (;;) {
        char *nl = memchr(p->buf, '\n', p->len);
        if (nl) {
            size_t n = (size_t)(nl - p->buf);
            char *line = strndup(p->buf, n);
            memmove(p->buf, nl + 1, p->len - n - 1);
            p->len -= n + 1;
            return line;
        }
        struct pollfd pf = {.fd = p->out, .events = POLLIN};
        long long left = end - h_now_ms();
        ssize_t k = 0;
        if (left > 0 && poll(&pf, 1, (int)left) == 1)
            k = read(p->out, p->buf + p->len, sizeof p->buf - 1 - p->len);
        if (k <= 0) {
            t_show_log(p);
            fail_msg("no line from the peer (%s)", k == 0 ? "timeout or end" : strerror(errno));
        }
        p->len += (size_t)k;
    }
}

/** Writes @s to @p's stdin. */
static inline void t_send(struct tproc *p, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(write(p->in, s, n), (ssize_t)n);
}

/** Expects the next line of @p to begin with @prefix; returns the rest (malloc'd). */
static inline char *t_expect_line(struct tproc *p, const char *prefix)
{
    char *line = t_line(p, T_LINE_MS);
    if (strncmp(line, prefix, strlen(prefix)) != 0) {
        t_show_log(p);
        fail_msg("expected a line beginning with '%s', got '%s'", prefix, line);
    }
    char *rest = strdup(line + strlen(prefix));
    free(line);
    return rest;
}

/** Kills every registered process; then the harness's teardown. */
static inline int t_teardown(void **state)
{
    for (int i = 0; i < t_nprocs; i++) {
        struct tproc *p = t_procs[i];
        if (p->pid > 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
        }
        if (p->in >= 0)
            close(p->in);
        if (p->out >= 0)
            close(p->out);
        free(p);
    }
    t_nprocs = 0;
    return h_teardown(state);
}

/* ------------------------------------------------------------------ */
/* The peers                                                           */

/** Runs tls_peer.py with @args (NULL-terminated, after role and mode). */
static inline struct tproc *t_py(const char *role, const char *mode, const char *const *args)
{
    static char script[256];
    snprintf(script, sizeof script, "%s/tests/integration/tls_peer.py", NETD_SOURCE_DIR);
    const char *argv[32] = {"python3", script, role, mode};
    int n = 4;
    for (int i = 0; args && args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return t_spawn(argv, NULL);
}

/** A tls_peer.py server in @mode with the certificate @name (.pem/.key); sets *port. */
static inline struct tproc *t_py_server(const char *mode, const char *name, int *port,
                                        const char *const *extra)
{
    char cert[160], key[160], pem[64], k[64];
    snprintf(pem, sizeof pem, "%s.pem", name);
    snprintf(k, sizeof k, "%s.key", name);
    snprintf(cert, sizeof cert, "%s", T(pem));
    snprintf(key, sizeof key, "%s", T(k));
    const char *args[16] = {"--cert", cert, "--key", key};
    int n = 4;
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    struct tproc *p = t_py("server", mode, args);
    char *rest = t_expect_line(p, "PORT ");
    *port = atoi(rest);
    free(rest);
    return p;
}

/** A tls_peer.py client in @mode against 127.0.0.1:@port; @extra adds options. */
static inline struct tproc *t_py_client(const char *mode, int port, const char *const *extra)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *args[16] = {"--port", portstr, "--cafile", T("ca.pem")};
    int n = 4;
    for (int i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return t_py("client", mode, args);
}

/**
 * openssl s_server with the certificate @name, answering each line with the
 * line reversed (-rev), one connection after another; @extra adds options.
 * Returns once it accepts; sets *port.
 */
/* Waits until s_server, writing to @out, says ACCEPT; false if it exited first. */
static inline bool t_s_server_up(struct tproc *p, const char *out)
{
    for (long long end = h_now_ms() + 10000; h_now_ms() < end; h_sleep_ms(20)) {
        char buf[256] = "";
        FILE *f = fopen(out, "r");
        size_t got = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        buf[got] = '\0';
        if (strstr(buf, "ACCEPT"))
            return true;
        if (waitpid(p->pid, NULL, WNOHANG) == p->pid) {
            p->pid = -1;
            return false;
        }
    }
    t_show_log(p);
    fail_msg("openssl s_server did not start");
    return false; /* not reached: fail_msg does not return */
}

static inline struct tproc *t_s_server(const char *name, int *port, const char *const *extra)
{
    char cert[160], key[160], pem[64], k[64], portstr[16], out[160];
    snprintf(pem, sizeof pem, "%s.pem", name);
    snprintf(k, sizeof k, "%s.key", name);
    snprintf(cert, sizeof cert, "%s", T(pem));
    snprintf(key, sizeof key, "%s", T(k));
    const char *argv[32] = {"openssl", "s_server", "-accept", portstr, "-cert",
                            cert,      "-key",     key,       "-rev"};
    int n = 9;
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    /* s_server says ACCEPT on stdout once it listens; its output goes to a
     * file so that it never blocks on a pipe nobody reads. The free port may
     * be taken by another test before s_server binds it: then another. */
    for (int attempt = 0; attempt < 5; attempt++) {
        *port = h_free_port();
        snprintf(portstr, sizeof portstr, "%d", *port);
        snprintf(out, sizeof out, "%s/s_server%d.out", t_dir, t_nprocs);
        struct tproc *p = t_spawn(argv, out);
        if (t_s_server_up(p, out))
            return p;
    }
    fail_msg("openssl s_server could not listen on any port");
    return NULL; /* not reached */
}

/** openssl s_client to 127.0.0.1:@port, verifying against our CA; stdin and stdout piped. */
static inline struct tproc *t_s_client(int port, const char *const *extra)
{
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    const char *argv[32] = {"openssl", "s_client",    "-connect",
                            target,    "-servername", "localhost",
                            "-CAfile", T("ca.pem"),   "-verify_return_error",
                            "-quiet"};
    int n = 10;
    for (int i = 0; extra && extra[i]; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return t_spawn(argv, NULL);
}

/* ------------------------------------------------------------------ */
/* netd calls                                                          */

/** {"cafile": our CA} plus the members of @more (stolen, may be NULL). */
static inline json_t *t_tls(json_t *more)
{
    json_t *o = json_pack("{s:s}", "cafile", T("ca.pem"));
    if (more) {
        json_object_update(o, more);
        json_decref(more);
    }
    return o;
}

/** connect {host, port, tls} (@tls stolen); the handle (malloc'd). */
static inline char *t_connect(netd_client *c, const char *host, int port, json_t *tls)
{
    return h_new_handle(
        c, "connect",
        json_pack("{s:s,s:i,s:o,s:f}", "host", host, "port", port, "tls", tls, "timeout", 60.0));
}

/** connect with @tls (stolen) expecting -32008; returns the error (caller decrefs). */
static inline json_t *t_connect_fails(netd_client *c, const char *host, int port, json_t *tls)
{
    return h_call_err(
        c, "connect",
        json_pack("{s:s,s:i,s:o,s:f}", "host", host, "port", port, "tls", tls, "timeout", 60.0),
        -32008);
}

/** Asserts that tls error @err has data.verify == @reason and a message mentioning @words. */
static inline void t_expect_verify(json_t *err, const char *reason, const char *words)
{
    assert_string_equal(h_err_data_str(err, "verify"), reason);
    const char *msg = netd_error_message(err);
    if (!strstr(msg, words))
        fail_msg("message '%s' does not mention '%s'", msg, words);
}

/** status.tls of @h (borrowed from *st, which the caller decrefs). */
static inline json_t *t_status_tls(netd_client *c, const char *h, json_t **st)
{
    *st = h_call(c, "status", json_pack("{s:s}", "handle", h));
    json_t *t = json_object_get(*st, "tls");
    if (!json_is_object(t))
        fail_msg("status of %s has no tls object", h);
    return t;
}

/** Writes @text (utf8) to @h. */
static inline void t_write(netd_client *c, const char *h, const char *text)
{
    json_t *r = h_call(c, "write",
                       json_pack("{s:s,s:s,s:s}", "handle", h, "data", text, "encoding", "utf8"));
    assert_int_equal(h_int(r, "written"), (long long)strlen(text));
    json_decref(r);
}

/** Reads exactly strlen(@want) bytes (chunk) from @h and compares them. */
static inline void t_expect(netd_client *c, const char *h, const char *want)
{
    h_read_expect(c, h, want, strlen(want), 60);
}

#endif
