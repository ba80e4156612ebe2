/*
 * harness.c - the integration tests' harness (see harness.h): netd
 * processes, registered clients, asserting calls, codecs of its own, and
 * local peers served by one poll() thread each.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
    char name[96];
};

static pid_t spawn_netd(const char *name, const char *const *extra)
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
                 WEXITSTATUS(st) ? " (a sanitizer report or an error: see its stderr above)" : "");
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, n, "ended with wait status 0x%x", st);
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
    n->pid = spawn_netd(n->name, extra);
    reg_add((void **)reg.netds, &reg.nnetds, 16, n);
    long long deadline = h_now_ms() + 5000;
    for (;;) {
        int st;
        if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
            char why[160];
            describe_status(st, why, sizeof why);
            reg_remove((void **)reg.netds, &reg.nnetds, n);
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

void h_netd_assert_alive(struct netd_proc *n)
{
    int st;
    if (waitpid(n->pid, &st, WNOHANG) == n->pid) {
        char why[160];
        describe_status(st, why, sizeof why);
        n->pid = 0;
        fail_msg("netd %s while the test ran", why);
    }
}

int h_netd_stop(struct netd_proc *n)
{
    reg_remove((void **)reg.netds, &reg.nnetds, n);
    if (n->pid == 0) { /* already reaped by h_netd_assert_alive, which failed */
        free(n);
        return -1;
    }
    int st, rc = -1;
    kill(n->pid, SIGTERM);
    /* Sanitizer builds take a while to stop (leak checking); 30 s is only a bound. */
    long long deadline = h_now_ms() + 30000;
    while (waitpid(n->pid, &st, WNOHANG) == 0) {
        if (h_now_ms() > deadline) {
            print_error("netd (pid %d) did not exit within 30 s of SIGTERM; killing it\n",
                        (int)n->pid);
            kill(n->pid, SIGKILL);
            waitpid(n->pid, &st, 0);
            free(n);
            return -1;
        }
        h_sleep_ms(5);
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        rc = 0;
    } else {
        char why[160];
        describe_status(st, why, sizeof why);
        print_error("netd on %s %s after SIGTERM\n", n->name, why);
    }
    free(n);
    return rc;
}

void h_netd_stop_ok(struct netd_proc *n)
{
    if (h_netd_stop(n) != 0)
        fail_msg("netd did not exit cleanly");
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

/* ------------------------------------------------------------------ */
/* Local peers                                                         */

struct pconn {
    int fd;
    const unsigned char *out; /* bytes still to send: the echo buffer or the payload */
    size_t outlen, outoff;
    unsigned char *buf; /* echo buffer */
    long long next_ms;  /* PEER_DRIP: when the next few bytes go */
    int eof;            /* the client's end of stream was seen */
};

struct peer {
    enum peer_mode mode;
    int lfd;
    int wake[2]; /* a byte on wake[1] stops the thread */
    pthread_t thread;
    int port;
    char host[INET6_ADDRSTRLEN];
    char path[108];
    int is_file;
    unsigned char *payload;
    size_t payload_len;
    int fillers[16]; /* PEER_FULL: connections that fill the backlog */
    int nfillers, full;
    struct pconn *conns; /* owned by the thread while it runs */
    size_t nconns, capconns;
    pthread_mutex_t mu; /* guards the counters below */
    pthread_cond_t cv;
    int accepted, eofs;
    char last_host[INET6_ADDRSTRLEN];
    int last_port;
};

enum { ECHO_BUF = 65536, DRIP_BYTES = 7, DRIP_MS = 2 };

static void peer_count_eof(struct peer *p, struct pconn *c)
{
    if (c->eof)
        return;
    c->eof = 1;
    pthread_mutex_lock(&p->mu);
    p->eofs++;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void peer_drop(struct pconn *c)
{
    close(c->fd);
    c->fd = -1;
}

static void peer_note_remote(struct peer *p, const struct sockaddr_storage *ss)
{
    pthread_mutex_lock(&p->mu);
    p->accepted++;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, p->last_host, sizeof p->last_host);
        p->last_port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, p->last_host, sizeof p->last_host);
        p->last_port = ntohs(in6->sin6_port);
    }
    pthread_mutex_unlock(&p->mu);
}

static void peer_accept(struct peer *p)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof ss;
    int fd = accept4(p->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    peer_note_remote(p, &ss);
    if (p->mode == PEER_CLOSE) {
        close(fd);
        return;
    }
    if (p->nconns == p->capconns) {
        size_t cap = p->capconns ? 2 * p->capconns : 16;
        struct pconn *nc = realloc(p->conns, cap * sizeof *nc);
        if (!nc) {
            close(fd);
            return;
        }
        p->conns = nc;
        p->capconns = cap;
    }
    struct pconn *c = &p->conns[p->nconns++];
    *c = (struct pconn){.fd = fd, .next_ms = h_now_ms()};
    if (p->mode == PEER_PAYLOAD || p->mode == PEER_DRIP) {
        c->out = p->payload;
        c->outlen = p->payload_len;
    }
}

/* Echo: read a buffer's worth, then write it all back before reading more,
 * so a client that does not read its echo is slowed down, not buffered. */
static void peer_echo_io(struct peer *p, struct pconn *c, short revents)
{
    if (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n > 0)
            c->outoff += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            peer_count_eof(p, c), peer_drop(c);
    } else if (!c->eof && (revents & (POLLIN | POLLHUP | POLLERR))) {
        if (!c->buf && !(c->buf = malloc(ECHO_BUF)))
            return;
        ssize_t n = recv(c->fd, c->buf, ECHO_BUF, 0);
        if (n > 0) {
            c->out = c->buf;
            c->outlen = (size_t)n;
            c->outoff = 0;
        } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            peer_count_eof(p, c);
            if (n < 0)
                peer_drop(c);
        }
    }
    if (c->fd >= 0 && c->eof && c->outoff >= c->outlen)
        peer_drop(c);
}

/* Payload and drip: send, then shut the writing side, then wait for the
 * client's end of stream (discarding what it sends) before closing, so the
 * client sees a clean FIN and never a reset. */
static void peer_send_io(struct peer *p, struct pconn *c, short revents)
{
    if (c->outoff < c->outlen) {
        size_t n = c->outlen - c->outoff;
        if (p->mode == PEER_DRIP) {
            if (h_now_ms() < c->next_ms)
                return;
            n = n < DRIP_BYTES ? n : DRIP_BYTES;
            c->next_ms = h_now_ms() + DRIP_MS;
        }
        ssize_t k = send(c->fd, c->out + c->outoff, n, MSG_NOSIGNAL);
        if (k > 0)
            c->outoff += (size_t)k;
        else if (k < 0 && errno != EAGAIN && errno != EINTR)
            peer_count_eof(p, c), peer_drop(c);
        if (c->fd >= 0 && c->outoff == c->outlen)
            shutdown(c->fd, SHUT_WR);
        return;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        char sink[4096];
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            peer_count_eof(p, c), peer_drop(c);
    }
}

/*
 * Reset: waits for the client's first bytes, reads them, then closes with
 * SO_LINGER 0 so the kernel sends RST. Resetting only after data came in
 * means the client's connect has surely completed; a reset right after
 * accept can reach a non-blocking connect before it is seen as done.
 */
static void peer_reset_io(struct peer *p, struct pconn *c)
{
    char sink[4096];
    struct linger lg = {1, 0};
    (void)!recv(c->fd, sink, sizeof sink, 0);
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    peer_count_eof(p, c);
    peer_drop(c);
}

static short peer_events(const struct peer *p, const struct pconn *c)
{
    switch (p->mode) {
    case PEER_ECHO:
        return c->outoff < c->outlen ? POLLOUT : POLLIN;
    case PEER_PAYLOAD:
        return c->outoff < c->outlen ? POLLOUT : POLLIN;
    case PEER_DRIP:
        return c->outoff < c->outlen ? 0 : POLLIN;
    case PEER_RESET:
        return POLLIN;
    default:
        return 0; /* the black hole never reads; poll still reports a hangup */
    }
}

/* Milliseconds until the next drip is due; -1 when nothing is timed. */
static int peer_timeout(const struct peer *p)
{
    long long next = -1, now = h_now_ms();
    for (size_t i = 0; p->mode == PEER_DRIP && i < p->nconns; i++)
        if (p->conns[i].outoff < p->conns[i].outlen && (next < 0 || p->conns[i].next_ms < next))
            next = p->conns[i].next_ms;
    return next < 0 ? -1 : next <= now ? 0 : (int)(next - now);
}

static void peer_serve(struct peer *p, const struct pollfd *pf, size_t n)
{
    for (size_t i = 0; i < n && i < p->nconns; i++) {
        struct pconn *c = &p->conns[i];
        short rev = pf[i].revents;
        if (p->mode == PEER_ECHO && (rev || c->outoff < c->outlen))
            peer_echo_io(p, c, rev);
        else if (p->mode == PEER_PAYLOAD || p->mode == PEER_DRIP)
            peer_send_io(p, c, rev);
        else if (p->mode == PEER_RESET && rev)
            peer_reset_io(p, c);
        else if (p->mode == PEER_BLACKHOLE && (rev & (POLLHUP | POLLERR)))
            peer_count_eof(p, c), peer_drop(c);
    }
    size_t k = 0; /* forget dropped connections */
    for (size_t i = 0; i < p->nconns; i++) {
        if (p->conns[i].fd >= 0)
            p->conns[k++] = p->conns[i];
        else
            free(p->conns[i].buf);
    }
    p->nconns = k;
}

static void *peer_main(void *arg)
{
    struct peer *p = arg;
    for (;;) {
        size_t n = p->nconns;
        struct pollfd *pf = calloc(n + 2, sizeof *pf);
        if (!pf)
            break;
        pf[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        pf[1] = (struct pollfd){.fd = p->mode == PEER_FULL ? -1 : p->lfd, .events = POLLIN};
        for (size_t i = 0; i < n; i++)
            pf[i + 2] =
                (struct pollfd){.fd = p->conns[i].fd, .events = peer_events(p, &p->conns[i])};
        int rc = poll(pf, n + 2, peer_timeout(p));
        if (rc < 0 && errno != EINTR) {
            free(pf);
            break;
        }
        int stop = pf[0].revents != 0;
        if (!stop) {
            peer_serve(p, pf + 2, n);
            if (pf[1].revents & POLLIN)
                peer_accept(p);
        }
        free(pf);
        if (stop)
            break;
    }
    return NULL;
}

static struct peer *peer_new(enum peer_mode mode, const void *payload, size_t n)
{
    struct peer *p = calloc(1, sizeof *p);
    assert_non_null(p);
    p->mode = mode;
    p->lfd = -1;
    if (n) {
        p->payload = malloc(n);
        assert_non_null(p->payload);
        memcpy(p->payload, payload, n);
        p->payload_len = n;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pipe2(p->wake, O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
    return p;
}

static void peer_run(struct peer *p)
{
    int rc = pthread_create(&p->thread, NULL, peer_main, p);
    if (rc != 0)
        fail_msg("pthread_create: %s", strerror(rc));
    reg_add((void **)reg.peers, &reg.npeers, 64, p);
}

/* Connects to our own full-backlog listener until a connect hangs. */
static void peer_fill(struct peer *p, const struct sockaddr *sa, socklen_t sl)
{
    while (p->nfillers < 16) {
        int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return;
        int rc = connect(fd, sa, sl);
        struct pollfd pf = {fd, POLLOUT, 0};
        if (rc < 0 && errno == EINPROGRESS && poll(&pf, 1, 300) == 0) {
            close(fd); /* this one hangs: the backlog is full */
            p->full = 1;
            return;
        }
        p->fillers[p->nfillers++] = fd;
    }
}

struct peer *h_peer_tcp(enum peer_mode mode, int family, const void *payload, size_t n)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    if (family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        sl = sizeof *in6;
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof *in;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (family == AF_INET6)
            return NULL;
        fail_msg("cannot bind a loopback TCP socket: %s", strerror(e));
    }
    if (mode == PEER_BLACKHOLE) {
        /* Set on the listener so the accepted socket advertises a small window from the start. */
        int small = 4096;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    }
    if (listen(fd, mode == PEER_FULL ? 0 : 512) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        fail_msg("listen: %s", strerror(errno));
    struct peer *p = peer_new(mode, payload, n);
    p->lfd = fd;
    strcpy(p->host, family == AF_INET6 ? "::1" : "127.0.0.1");
    p->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    if (mode == PEER_FULL)
        peer_fill(p, (struct sockaddr *)&ss, sl);
    peer_run(p);
    return p;
}

struct peer *h_peer_unix(enum peer_mode mode, int abstract)
{
    struct peer *p = peer_new(mode, NULL, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    unsigned k = name_counter++;
    socklen_t sl;
    if (abstract) {
        snprintf(p->path, sizeof p->path, "@netd-peer-%d-%u", (int)getpid(), k);
        memcpy(sa.sun_path + 1, p->path + 1, strlen(p->path + 1));
        sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p->path));
    } else {
        snprintf(p->path, sizeof p->path, "/tmp/netd-peer-%d-%u.sock", (int)getpid(), k);
        unlink(p->path);
        strcpy(sa.sun_path, p->path);
        sl = sizeof sa;
        p->is_file = 1;
    }
    p->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sl) < 0 || listen(p->lfd, 512) < 0)
        fail_msg("unix listener %s: %s", p->path, strerror(errno));
    peer_run(p);
    return p;
}

const char *h_peer_host(const struct peer *p)
{
    return p->host;
}

int h_peer_port(const struct peer *p)
{
    return p->port;
}

const char *h_peer_path(const struct peer *p)
{
    return p->path;
}

int h_peer_is_full(struct peer *p)
{
    return p->full;
}

int h_peer_accepted(struct peer *p)
{
    pthread_mutex_lock(&p->mu);
    int n = p->accepted;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int h_peer_wait_eofs(struct peer *p, int n, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    while (p->eofs < n && rc == 0)
        rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    int ok = p->eofs >= n;
    pthread_mutex_unlock(&p->mu);
    return ok;
}

void h_peer_last_remote(struct peer *p, char *host, size_t hostlen, int *port)
{
    pthread_mutex_lock(&p->mu);
    snprintf(host, hostlen, "%s", p->last_host);
    *port = p->last_port;
    pthread_mutex_unlock(&p->mu);
}

void h_peer_stop(struct peer *p)
{
    reg_remove((void **)reg.peers, &reg.npeers, p);
    (void)!write(p->wake[1], "x", 1);
    pthread_join(p->thread, NULL);
    for (size_t i = 0; i < p->nconns; i++) {
        close(p->conns[i].fd);
        free(p->conns[i].buf);
    }
    for (int i = 0; i < p->nfillers; i++)
        close(p->fillers[i]);
    free(p->conns);
    close(p->lfd);
    close(p->wake[0]);
    close(p->wake[1]);
    if (p->is_file)
        unlink(p->path);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->payload);
    free(p);
}

/* ------------------------------------------------------------------ */
/* Ports and plain sockets                                             */

/* A TCP socket bound to 127.0.0.1 port 0; returns its descriptor and port. */
static int bound_loopback(int *port)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof in;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&in, sl) < 0 ||
        getsockname(fd, (struct sockaddr *)&in, &sl) < 0)
        fail_msg("cannot bind a loopback port: %s", strerror(errno));
    *port = ntohs(in.sin_port);
    return fd;
}

int h_refused_port(void)
{
    int port, fd = bound_loopback(&port);
    if (reg.nfds == REG_MAX)
        fail_msg("too many plain sockets");
    reg.fds[reg.nfds++] = fd; /* bound but never listening: SYNs get a reset */
    return port;
}

int h_free_port(void)
{
    int port, fd = bound_loopback(&port);
    close(fd);
    return port;
}

int h_plain_connect(const char *host, int port)
{
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        sl = sizeof *in;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        sl = sizeof *in6;
    } else {
        fail_msg("not a numeric address: %s", host);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&ss, sl) < 0)
        fail_msg("connect to %s port %d: %s", host, port, strerror(errno));
    if (reg.nfds == REG_MAX)
        fail_msg("too many plain sockets");
    reg.fds[reg.nfds++] = fd;
    return fd;
}

void h_plain_write(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            fail_msg("send: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
}

void h_plain_read_expect(int fd, const void *expect, size_t n, int timeout_ms)
{
    unsigned char *buf = malloc(n ? n : 1);
    assert_non_null(buf);
    size_t got = 0;
    long long deadline = h_now_ms() + timeout_ms;
    while (got < n) {
        struct pollfd pf = {fd, POLLIN, 0};
        long long left = deadline - h_now_ms();
        if (left <= 0 || poll(&pf, 1, (int)left) == 0)
            fail_msg("only %zu of %zu bytes arrived within %d ms", got, n, timeout_ms);
        ssize_t k = recv(fd, buf + got, n - got, 0);
        if (k == 0)
            fail_msg("end of stream after %zu of %zu bytes", got, n);
        if (k < 0 && errno != EINTR)
            fail_msg("recv: %s", strerror(errno));
        if (k > 0)
            got += (size_t)k;
    }
    if (memcmp(buf, expect, n) != 0)
        fail_msg("the %zu bytes received differ from those expected", n);
    free(buf);
}

void h_plain_close(int fd)
{
    for (int i = 0; i < reg.nfds; i++) {
        if (reg.fds[i] == fd) {
            reg.fds[i] = reg.fds[--reg.nfds];
            break;
        }
    }
    close(fd);
}
