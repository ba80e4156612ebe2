/*
 * harness.c - the integration tests' harness (see harness.h): netd
 * processes, registered clients, asserting calls, codecs of its own, and
 * local peers served by one poll() thread each.
 *
 * A netd's stderr goes to a memory file the harness keeps, so that when
 * netd ends badly (a status other than 0, a signal, or a `netd: leak:` line
 * from its shutdown check) the test fails with what netd said, framed and
 * next to the reason; after a clean stop it is passed on unchanged.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

extern char **environ;

#define REG_MAX 256

/* What the current test started; only the main thread touches it. */
static struct {
    struct netd_proc *netds[16];
    int nnetds;
    netd_client *clients[REG_MAX];
    int nclients;
    struct peer *peers[64];
    int npeers;
    int fds[REG_MAX];
    int nfds;
} reg;

static unsigned name_counter;

/* Removes @p from a registry array by value; returns 1 if it was there. */
static int reg_remove(void **arr, int *n, const void *p)
{
    for (int i = 0; i < *n; i++) {
        if (arr[i] == p) {
            arr[i] = arr[--*n];
            return 1;
        }
    }
    return 0;
}

static void reg_add(void **arr, int *n, int cap, void *p)
{
    if (*n == cap)
        fail_msg("harness registry full (%d entries)", cap);
    arr[(*n)++] = p;
}

long long h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------------ */
/* netd processes                                                      */

struct netd_proc {
    pid_t pid;
    int errfd; /* netd's stderr: a memory file, read from offset 0 */
    char name[96];
};

pid_t h_netd_pid(const struct netd_proc *n)
{
    return n->pid;
}

int h_netd_fds(const struct netd_proc *n)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)n->pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            count++;
    closedir(d);
    return count;
}

/* The start of a line netd's shutdown check prints for what was left behind. */
#define LEAK_PREFIX "netd: leak:"
/* Most of netd's stderr a failure shows (its end, where the reasons are). */
#define STDERR_SHOWN (1 << 20)

static pid_t spawn_netd(const char *name, const char *const *extra, int errfd)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = NETD_BIN;
    argv[n++] = "--socket";
    argv[n++] = name;
    argv[n++] = "--log-level";
    argv[n++] = "warn";
    for (int i = 0; extra && extra[i]; i++) {
        if (n == 63)
            fail_msg("too many netd arguments");
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, errfd, 2);
    pid_t pid;
    int rc = posix_spawn(&pid, NETD_BIN, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        fail_msg("cannot start %s: %s", NETD_BIN, strerror(rc));
    return pid;
}

static void describe_status(int st, char *buf, size_t n)
{
    if (WIFEXITED(st))
        snprintf(buf, n, "exited with status %d%s", WEXITSTATUS(st),
                 WEXITSTATUS(st) ? " (a sanitizer report or an error: see its stderr)" : "");
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, n, "ended with wait status 0x%x", st);
}

/* netd's stderr so far, NUL-terminated (malloc'd; "" when there is none).
 * At most the last STDERR_SHOWN bytes; *@cut says whether some were left out. */
static char *netd_stderr(const struct netd_proc *n, int *cut)
{
    struct stat sb;
    off_t off = 0, len = 0;
    if (n->errfd >= 0 && fstat(n->errfd, &sb) == 0)
        len = sb.st_size;
    *cut = len > STDERR_SHOWN;
    if (*cut) {
        off = len - STDERR_SHOWN;
        len = STDERR_SHOWN;
    }
    char *text = malloc((size_t)len + 1);
    assert_non_null(text);
    ssize_t got = len > 0 ? pread(n->errfd, text, (size_t)len, off) : 0;
    text[got > 0 ? got : 0] = '\0';
    return text;
}

/* Whether @text has a line that begins with LEAK_PREFIX. */
static int has_leak_line(const char *text)
{
    for (const char *p = text; p; p = strchr(p, '\n')) {
        p += *p == '\n';
        if (strncmp(p, LEAK_PREFIX, strlen(LEAK_PREFIX)) == 0)
            return 1;
    }
    return 0;
}

/* Prints @why and then netd's stderr, framed, for a test that fails on it. */
static void show_stderr(const struct netd_proc *n, const char *why)
{
    int cut;
    char *text = netd_stderr(n, &cut);
    print_error("netd on %s (pid %d) %s\n", n->name, (int)n->pid, why);
    if (*text)
        print_error("---- netd's stderr%s ----\n%s%s---- end of netd's stderr ----\n",
                    cut ? " (its last 1 MiB)" : "", text,
                    text[strlen(text) - 1] == '\n' ? "" : "\n");
    else
        print_error("(netd wrote nothing to stderr)\n");
    free(text);
}

/* Connects to the abstract socket @name ("@..."); 0 if netd accepted. */
static int probe(const char *name)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(name + 1);
    memcpy(sa.sun_path + 1, name + 1, len);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = connect(fd, (struct sockaddr *)&sa,
                     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len));
    close(fd);
    return rc;
}

struct netd_proc *h_netd_start(const char *const *extra)
{
    struct netd_proc *n = calloc(1, sizeof *n);
    assert_non_null(n);
    snprintf(n->name, sizeof n->name, "@netd-test-%d-%u", (int)getpid(), name_counter++);
    n->errfd = memfd_create("netd-stderr", MFD_CLOEXEC);
    if (n->errfd < 0)
        fail_msg("memfd_create for netd's stderr: %s", strerror(errno));
    n->pid = spawn_netd(n->name, extra, n->errfd);
    reg_add((void **)reg.netds, &reg.nnetds, 16, n);
    long long deadline = h_now_ms() + 5000;
    for (;;) {
        int st;
        if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
            char why[160];
            describe_status(st, why, sizeof why);
            show_stderr(n, why);
            reg_remove((void **)reg.netds, &reg.nnetds, n);
            close(n->errfd);
            free(n);
            fail_msg("netd %s before accepting connections", why);
        }
        if (probe(n->name) == 0)
            return n;
        if (h_now_ms() > deadline)
            fail_msg("netd did not accept connections on %s within 5 s", n->name);
        h_sleep_ms(10);
    }
}

const char *h_netd_socket(const struct netd_proc *n)
{
    return n->name;
}

char *h_netd_stderr(const struct netd_proc *n)
{
    int cut;
    return netd_stderr(n, &cut);
}

void h_netd_assert_alive(struct netd_proc *n)
{
    int st;
    if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
        char why[160];
        describe_status(st, why, sizeof why);
        show_stderr(n, why);
        n->pid = 0;
        fail_msg("netd %s while the test ran", why);
    }
}

/* Frees @n and its stderr file; returns @rc. */
static int netd_free(struct netd_proc *n, int rc)
{
    close(n->errfd);
    free(n);
    return rc;
}

int h_netd_stop(struct netd_proc *n)
{
    reg_remove((void **)reg.netds, &reg.nnetds, n);
    if (n->pid == 0) /* already reaped by h_netd_assert_alive, which failed */
        return netd_free(n, -1);
    int st;
    kill(n->pid, SIGTERM);
    /* Sanitizer builds take a while to stop (leak checking); 30 s is only a bound. */
    long long deadline = h_now_ms() + 30000;
    while (waitpid(n->pid, &st, WNOHANG) == 0) {
        if (h_now_ms() > deadline) {
            show_stderr(n, "did not exit within 30 s of SIGTERM; killing it");
            kill(n->pid, SIGKILL);
            waitpid(n->pid, &st, 0);
            return netd_free(n, -1);
        }
        h_sleep_ms(5);
    }
    int cut;
    char *text = netd_stderr(n, &cut);
    int leaked = has_leak_line(text);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !leaked) {
        fputs(text, stderr); /* a clean stop: what netd said, as if it had written it here */
        free(text);
        return netd_free(n, 0);
    }
    free(text);
    char how[160], why[320];
    describe_status(st, how, sizeof how);
    snprintf(why, sizeof why, "%s after SIGTERM%s", how,
             leaked ? "; it reported what it left behind (lines beginning \"" LEAK_PREFIX "\")"
                    : "");
    show_stderr(n, why);
    return netd_free(n, -1);
}

void h_netd_stop_ok(struct netd_proc *n)
{
    if (h_netd_stop(n) != 0)
        fail_msg("netd did not stop cleanly (how it ended and its stderr are above)");
}

/* ------------------------------------------------------------------ */
/* Fixture and clients                                                 */

int h_setup(void **state)
{
    memset(&reg, 0, sizeof reg);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int h_teardown(void **state)
{
    int rc = 0;
    while (reg.nclients > 0)
        netd_client_free(reg.clients[--reg.nclients]);
    while (reg.nnetds > 0)
        if (h_netd_stop(reg.netds[reg.nnetds - 1]) != 0)
            rc = -1;
    while (reg.npeers > 0)
        h_peer_stop(reg.peers[reg.npeers - 1]);
    while (reg.nfds > 0)
        close(reg.fds[--reg.nfds]);
    return rc;
}

netd_client *h_client(struct netd_proc *n)
{
    netd_client *c = netd_client_connect(n->name);
    if (!c)
        fail_msg("cannot connect to netd on %s: %s", n->name, strerror(errno));
    reg_add((void **)reg.clients, &reg.nclients, REG_MAX, c);
    return c;
}

void h_client_free(netd_client *c)
{
    reg_remove((void **)reg.clients, &reg.nclients, c);
    netd_client_free(c);
}

/* ------------------------------------------------------------------ */
/* Calls                                                               */

static void fail_with_json(const char *file, int line, const char *what, const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    print_error("%s:%d: %s%s\n", file, line, what, s ? s : "");
    free(s);
    _fail(file, line);
}

long long h_send_at(netd_client *c, const char *method, json_t *params, const char *file, int line)
{
    long long id = netd_client_send(c, method, params);
    if (id <= 0) {
        print_error("%s:%d: sending %s failed: %s\n", file, line, method, strerror(errno));
        _fail(file, line);
    }
    return id;
}

/* Waits for @id; returns 0 with *res or 1 with *err, and fails on no answer. */
static int wait_answer(netd_client *c, long long id, json_t **res, json_t **err, const char *file,
                       int line)
{
    *res = *err = NULL;
    int rc = netd_client_wait(c, id, H_ANSWER_MS, res, err);
    if (rc < 0) {
        print_error("%s:%d: no answer to request %lld: %s\n", file, line, id, strerror(errno));
        _fail(file, line);
    }
    return rc;
}

json_t *h_wait_at(netd_client *c, long long id, const char *file, int line)
{
    json_t *res, *err;
    if (wait_answer(c, id, &res, &err, file, line) == 1) {
        json_t *tmp = err;
        err = NULL;
        fail_with_json(file, line, "expected a result, got the error ", tmp);
    }
    return res;
}

json_t *h_wait_err_at(netd_client *c, long long id, int code, const char *file, int line)
{
    json_t *res, *err;
    if (wait_answer(c, id, &res, &err, file, line) == 0) {
        char what[96];
        snprintf(what, sizeof what, "expected error %d, got the result ", code);
        fail_with_json(file, line, what, res);
    }
    if (netd_error_code(err) != code) {
        char what[96];
        snprintf(what, sizeof what, "expected error %d, got ", code);
        fail_with_json(file, line, what, err);
    }
    if (!json_is_string(json_object_get(err, "message")))
        fail_with_json(file, line, "error without a message: ", err);
    return err;
}

json_t *h_call_at(netd_client *c, const char *method, json_t *params, const char *file, int line)
{
    return h_wait_at(c, h_send_at(c, method, params, file, line), file, line);
}

json_t *h_call_err_at(netd_client *c, const char *method, json_t *params, int code,
                      const char *file, int line)
{
    return h_wait_err_at(c, h_send_at(c, method, params, file, line), code, file, line);
}

const char *h_str_at(const json_t *obj, const char *key, const char *file, int line)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        char what[128];
        snprintf(what, sizeof what, "no string member \"%s\" in ", key);
        fail_with_json(file, line, what, obj);
    }
    return json_string_value(v);
}

void h_expect_str_at(const json_t *obj, const char *key, const char *want, const char *file,
                     int line)
{
    if (strcmp(h_str_at(obj, key, file, line), want) != 0) {
        char what[160];
        snprintf(what, sizeof what, "expected \"%s\": \"%s\" in ", key, want);
        fail_with_json(file, line, what, obj);
    }
}

long long h_int_at(const json_t *obj, const char *key, const char *file, int line)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        char what[128];
        snprintf(what, sizeof what, "no integer member \"%s\" in ", key);
        fail_with_json(file, line, what, obj);
    }
    return (long long)json_integer_value(v);
}

const char *h_err_data_str_at(const json_t *err, const char *key, const char *file, int line)
{
    const json_t *data = json_object_get(err, "data");
    if (!json_is_object(data))
        fail_with_json(file, line, "error without a data object: ", err);
    return h_str_at(data, key, file, line);
}

/* ------------------------------------------------------------------ */
/* Codecs                                                              */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *h_base64(const void *data, size_t n)
{
    const unsigned char *p = data;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    assert_non_null(out);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        *o++ = b64chars[v >> 18];
        *o++ = b64chars[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64chars[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/* The value of base64 digit @ch, or -1. */
static int b64val(char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Strict decoder for what netd sends: length a multiple of 4, padded. */
static int unbase64(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
    size_t k = 0;
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        unsigned v = 0;
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            int d = b64val(s[i + j]);
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (d < 0 || pad)
                return -1;
            v = v << 6 | (unsigned)d;
        }
        out[k++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[k++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[k++] = (unsigned char)v;
    }
    *outlen = k;
    return 0;
}

char *h_hex(const void *data, size_t n)
{
    const unsigned char *p = data;
    char *out = malloc(2 * n + 1);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
    out[2 * n] = '\0';
    return out;
}

/* The value of lowercase hex digit @ch, or -1 (netd writes lowercase). */
static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static int unhex(const char *s, size_t n, unsigned char *out, size_t *outlen)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    *outlen = n / 2;
    return 0;
}

unsigned char *h_data(const json_t *result, size_t *n)
{
    const char *enc = h_str(result, "encoding");
    const json_t *d = json_object_get(result, "data");
    if (!json_is_string(d))
        fail_with_json(__FILE__, __LINE__, "no string \"data\" in ", result);
    const char *s = json_string_value(d);
    size_t len = json_string_length(d), outlen = 0;
    unsigned char *out = malloc(len + 1);
    assert_non_null(out);
    int rc = 0;
    if (strcmp(enc, "base64") == 0)
        rc = unbase64(s, len, out, &outlen);
    else if (strcmp(enc, "hex") == 0)
        rc = unhex(s, len, out, &outlen);
    else if (strcmp(enc, "utf8") == 0)
        memcpy(out, s, outlen = len);
    else
        rc = -1;
    if (rc < 0)
        fail_with_json(__FILE__, __LINE__, "data not valid in its encoding: ", result);
    out[outlen] = '\0';
    *n = outlen;
    return out;
}

/* ------------------------------------------------------------------ */
/* Stream shortcuts                                                    */

char *h_new_handle(netd_client *c, const char *method, json_t *params)
{
    json_t *r = h_call(c, method, params);
    char *h = strdup(h_str(r, "handle"));
    json_decref(r);
    return h;
}

char *h_connect(netd_client *c, const char *host, int port)
{
    return h_new_handle(c, "connect", json_pack("{s:s, s:i}", "host", host, "port", port));
}

void h_write(netd_client *c, const char *handle, const void *data, size_t n)
{
    char *hex = h_hex(data, n);
    json_t *r = h_call(
        c, "write", json_pack("{s:s, s:s, s:s}", "handle", handle, "data", hex, "encoding", "hex"));
    free(hex);
    assert_int_equal(h_int(r, "written"), n);
    json_decref(r);
}

unsigned char *h_read(netd_client *c, const char *handle, long long nbytes, size_t *n, int *eof)
{
    json_t *r = h_call(c, "read",
                       json_pack("{s:s, s:I, s:s, s:f}", "handle", handle, "nbytes",
                                 (json_int_t)nbytes, "encoding", "hex", "timeout", 30.0));
    unsigned char *d = h_data(r, n);
    if (!json_is_boolean(json_object_get(r, "eof")))
        fail_with_json(__FILE__, __LINE__, "no boolean \"eof\" in ", r);
    *eof = json_is_true(json_object_get(r, "eof"));
    json_decref(r);
    return d;
}

void h_read_expect(netd_client *c, const char *handle, const void *expect, size_t n, double timeout)
{
    size_t got = 0;
    while (got < n) {
        json_t *r = h_call(c, "read",
                           json_pack("{s:s, s:I, s:s, s:f}", "handle", handle, "nbytes",
                                     (json_int_t)(n - got), "encoding", "hex", "timeout", timeout));
        size_t k;
        unsigned char *d = h_data(r, &k);
        if (k == 0 || k > n - got)
            fail_with_json(__FILE__, __LINE__, "read returned no bytes or too many: ", r);
        if (memcmp(d, (const unsigned char *)expect + got, k) != 0)
            fail_msg("bytes %zu..%zu differ from what was sent", got, got + k);
        got += k;
        free(d);
        json_decref(r);
    }
}

void h_close(netd_client *c, const char *handle)
{
    json_t *r = h_call(c, "close", json_pack("{s:s}", "handle", handle));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
}

/*
 * The local peers and plain sockets live in their own file for size, but
 * share this file's registry; tests/CMakeLists.txt builds harness.c alone,
 * so that file is compiled as part of this one.
 */
#include "harness_peers.c"
