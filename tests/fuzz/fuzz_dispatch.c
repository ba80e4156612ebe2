/*
 * fuzz_dispatch.c - libFuzzer target for netd's dispatch, in process: the
 * daemon's own layers (everything main.c starts: settings and policy from
 * a configuration file, the method table, rpc/, handles, relays, TLS, two
 * real worker threads and the resolver pool), fed each input as request
 * lines over a real control connection, as a client would write them.
 *
 * The input: its first byte chooses the caller and the worker (bit 0: root,
 * or uid 65534, a second uid allowed with --allow-uid, when the fuzzer runs
 * as root; bit 1: worker 0 or 1 for the connection; so ' ' '!' '"' '#'
 * are root/w0, 65534/w0, root/w1, 65534/w1); the rest is written, line by
 * line, to a new control connection (one end of a socket pair that netd
 * adopts, as its accept loop would), followed by a newline and a `ping`
 * whose answer marks that netd has read everything. Handle names differ
 * from run to run (they are never reused), so a quoted "$N" (N a digit)
 * in a line stands for the Nth distinct handle name netd has sent in this
 * input's answers and notifications, counting from 0; a line that names
 * one not seen yet waits up to SUBST_MS for it, then goes as it is.
 * Answers are read as they come; the connection is then closed, whatever
 * still waits.
 *
 * Besides ASan and UBSan, the target checks properties after every input
 * and aborts when one fails:
 *   - every line netd writes is one JSON-RPC 2.0 message (an object with
 *     "jsonrpc": "2.0", or a batch: an array of them);
 *   - netd answers the final `ping` of an input that has no `attach` in it
 *     (nothing else stops a connection reading);
 *   - once the connection is closed and the handles its uid kept are
 *     closed (the `handles` of an observer connection of that uid), netd
 *     holds no handle and no connection but the observers' (`stats` of a
 *     root observer), and the process's descriptors are back to their
 *     count after start: nothing leaks from one input to the next;
 *   - the observers' calls are answered within 10 s (no worker hangs).
 *
 * The process first moves to a network namespace of its own with only
 * loopback up (abstract unix names are per namespace too, so it meets no
 * other program's), and a mount namespace with a tmpfs on /tmp/netd-fuzz
 * and a resolv.conf naming 127.0.0.1 (nothing listens there: lookups fail
 * at once). The configuration's policy lets unix paths be used only under
 * /tmp/netd-fuzz/, where openssl makes a certificate (cert.pem, key.pem)
 * for TLS listeners at start. Not root: a user namespace makes it root there, and
 * every input runs as root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "handlename.h"
#include "service.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_DIR "/tmp/netd-fuzz"
#define OTHER_UID 65534
#define END_ID "netd-fuzz-end"
#define END_MS 5000       /* how long the final ping may take */
#define ATTACH_MS 200     /* the same when an attach may have stopped the reading */
#define SUBST_MS 25       /* how long a line waits for a handle name it refers to */
#define SETTLE_MS 5000    /* how long netd may take to let go of an input's things */
#define OBSERVER_MS 10000 /* how long an observer's call may take */

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "fuzz_dispatch: ");                                                        \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        abort();                                                                                   \
    } while (0)

static bool show; /* NETD_FUZZ_SHOW=1: print the answers (to write seeds) */

/* ---- the namespaces ---- */

/* What the fuzzer cannot do without: exit 77, which ctest takes as skipped. */
#define CANNOT(...)                                                                                \
    do {                                                                                           \
        fprintf(stderr, "fuzz_dispatch: cannot run: ");                                            \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        exit(77);                                                                                  \
    } while (0)

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        CANNOT("%s: %s", path, strerror(errno));
    close(fd);
}

/* Root in a user namespace of our own, for a fuzzer that does not run as root. */
static void become_root_in_userns(void)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (unshare(CLONE_NEWUSER) < 0)
        CANNOT("unshare(CLONE_NEWUSER): %s (run as root, or allow user namespaces)",
               strerror(errno));
    char map[64];
    write_file("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", (unsigned)uid);
    write_file("/proc/self/uid_map", map);
    snprintf(map, sizeof map, "0 %u 1", (unsigned)gid);
    write_file("/proc/self/gid_map", map);
}

static void loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        FAIL("lo: %s", strerror(errno));
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        FAIL("bringing lo up: %s", strerror(errno));
    close(s);
}

/* Must run before any thread exists: namespaces are per thread until then. */
static bool enter_namespaces(void)
{
    bool root = geteuid() == 0;
    if (!root)
        become_root_in_userns();
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0)
        CANNOT("unshare(CLONE_NEWNET | CLONE_NEWNS): %s", strerror(errno));
    loopback_up();
    /* Nothing mounted here reaches the rest of the system. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        FAIL("making / private: %s", strerror(errno));
    if (mkdir(FUZZ_DIR, 0755) < 0 && errno != EEXIST)
        FAIL("%s: %s", FUZZ_DIR, strerror(errno));
    if (mount("netd-fuzz", FUZZ_DIR, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777") < 0)
        FAIL("tmpfs on %s: %s", FUZZ_DIR, strerror(errno));
    FILE *f = fopen(FUZZ_DIR "/resolv.conf", "w");
    if (!f)
        FAIL("%s/resolv.conf: %s", FUZZ_DIR, strerror(errno));
    fputs("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n", f);
    fclose(f);
    if (mount(FUZZ_DIR "/resolv.conf", "/etc/resolv.conf", NULL, MS_BIND, NULL) < 0)
        FAIL("bind-mounting a resolv.conf: %s", strerror(errno));
    return root;
}

/* ---- netd, as main.c starts it ---- */

static const char config[] = "[netd]\n"
                             "workers = 2\n"
                             "log-level = error\n"
                             "allow-uid = 65534\n"
                             "\n"
                             "[policy]\n"
                             "default = allow\n"
                             "\n"
                             "[rule fuzz-paths]\n"
                             "action = allow\n"
                             "paths = " FUZZ_DIR "/\n"
                             "\n"
                             "[rule no-other-paths]\n"
                             "action = deny\n"
                             "paths = /\n";

static void start_netd(void)
{
    FILE *f = fopen(FUZZ_DIR "/netd.conf", "w");
    if (!f)
        FAIL("%s/netd.conf: %s", FUZZ_DIR, strerror(errno));
    fputs(config, f);
    fclose(f);
    char *args[] = {"netd", "--config", FUZZ_DIR "/netd.conf", NULL};
    struct options o;
    char err[1024];
    if (options_load(3, args, &o, err, sizeof err) != 0)
        FAIL("options: %s", err);
    netd_cfg = o.cfg;
    policy_free(policy_swap(o.policy));
    netd_log_init();
    signal(SIGPIPE, SIG_IGN);
    json_object_seed(1); /* the same key order in every run */
    if (method_init() < 0)
        FAIL("method_init");
    rpc_layer_init();
    handle_layer_init();
    relay_layer_init();
    tls_layer_init();
    if (workers_start(netd_cfg.workers) < 0 || resolver_start(4) < 0)
        FAIL("cannot start threads");
}

/* ---- control connections ---- */

struct conn_end {
    int fd;
    char *buf;
    size_t len, cap;
};

static uint64_t next_conn = 1;

/* A new control connection of @id on worker @worker; our end, non-blocking. */
static struct conn_end conn_open(struct ident *id, int worker)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        FAIL("socketpair: %s", strerror(errno));
    if (!control_admit(id->uid))
        FAIL("uid %u may not have one more control connection", (unsigned)id->uid);
    control_adopt(worker, sv[1], next_conn++, ident_ref(id));
    return (struct conn_end){.fd = sv[0]};
}

static void conn_end_close(struct conn_end *c)
{
    close(c->fd);
    free(c->buf);
    *c = (struct conn_end){.fd = -1};
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Every line netd writes is a JSON-RPC 2.0 message or a batch of them. */
static json_t *check_line(const char *line, size_t n)
{
    json_error_t e;
    json_t *v = json_loadb(line, n, JSON_ALLOW_NUL, &e);
    if (!v)
        FAIL("netd wrote a line that is not JSON (%s): %.*s", e.text, (int)(n > 400 ? 400 : n),
             line);
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (json_is_array(v) && count == 0)
        FAIL("netd wrote an empty batch answer");
    for (size_t i = 0; i < count; i++) {
        json_t *m = json_is_array(v) ? json_array_get(v, i) : v;
        json_t *ver = json_object_get(m, "jsonrpc");
        if (!json_is_object(m) || !json_is_string(ver) || json_string_length(ver) != 3 ||
            memcmp(json_string_value(ver), "2.0", 3) != 0)
            FAIL("netd wrote a message that is not JSON-RPC 2.0: %.*s", (int)(n > 400 ? 400 : n),
                 line);
        if (!json_object_get(m, "id") && !json_object_get(m, "method"))
            FAIL("netd wrote a message with neither id nor method: %.*s", (int)(n > 400 ? 400 : n),
                 line);
    }
    return v;
}

/* Reads what is there; calls @on_line for each whole line (the message,
 * borrowed). Returns -1 once netd has closed the connection. */
static int conn_read(struct conn_end *c, void (*on_line)(json_t *m, void *arg), void *arg)
{
    for (;;) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap ? c->cap * 2 : 131072;
            c->buf = realloc(c->buf, c->cap);
            if (!c->buf)
                FAIL("out of memory");
        }
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n == 0)
            return -1;
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        c->len += (size_t)n;
        size_t start = 0;
        for (char *nl; (nl = memchr(c->buf + start, '\n', c->len - start)) != NULL;) {
            size_t end = (size_t)(nl - c->buf);
            json_t *m = check_line(c->buf + start, end - start);
            if (on_line)
                on_line(m, arg);
            json_decref(m);
            start = end + 1;
        }
        memmove(c->buf, c->buf + start, c->len - start);
        c->len -= start;
    }
}

/* ---- observers: one connection of each uid, for the checks ---- */

struct wanted {
    const char *id;
    json_t *answer;
};

static void take_answer(json_t *m, void *arg)
{
    struct wanted *w = arg;
    json_t *id = json_object_get(m, "id");
    if (!w->answer && json_is_string(id) && strcmp(json_string_value(id), w->id) == 0)
        w->answer = json_incref(m);
}

/* @method's result on observer @c (the caller frees it); aborts on an
 * error or when it takes longer than OBSERVER_MS. */
static json_t *observe(struct conn_end *c, const char *method, json_t *params)
{
    static unsigned long seq;
    char id[32];
    snprintf(id, sizeof id, "obs-%lu", ++seq);
    json_t *req = json_pack("{s:s,s:s,s:s,s:o}", "jsonrpc", "2.0", "id", id, "method", method,
                            "params", params ? params : json_object());
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    size_t n = strlen(line);
    line[n++] = '\n'; /* json_dumps' NUL makes room */
    struct wanted w = {.id = id};
    long long deadline = now_ms() + OBSERVER_MS;
    size_t off = 0;
    while (!w.answer) {
        if (off < n) {
            ssize_t k = write(c->fd, line + off, n - off);
            if (k > 0)
                off += (size_t)k;
            else if (k < 0 && errno != EAGAIN)
                FAIL("observer: write: %s", strerror(errno));
        }
        if (conn_read(c, take_answer, &w) < 0)
            FAIL("netd closed an observer connection");
        if (w.answer)
            break;
        if (now_ms() > deadline)
            FAIL("netd did not answer an observer's %s within %d ms", method, OBSERVER_MS);
        struct pollfd p = {.fd = c->fd, .events = POLLIN | (off < n ? POLLOUT : 0)};
        poll(&p, 1, 100);
    }
    free(line);
    json_t *res = json_incref(json_object_get(w.answer, "result"));
    if (!res) {
        char *s = json_dumps(w.answer, 0);
        FAIL("observer's %s failed: %s", method, s);
    }
    json_decref(w.answer);
    return res;
}

/* ---- the per-input run ---- */

static struct ident *caller[2];
static struct conn_end observer[2]; /* of caller[0] (root) and caller[1] */
static int base_fds;

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        FAIL("/proc/self/fd: %s", strerror(errno));
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own */
}

/* The process's descriptors and what they are, for a report. */
static void show_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], to[300];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, to, sizeof to - 1);
        to[n > 0 ? n : 0] = '\0';
        fprintf(stderr, "  fd %s -> %s\n", e->d_name, to);
    }
    if (d)
        closedir(d);
}

static void nap(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The sanitizers' symbolizer runs as a child process that keeps two pipes
 * open once it has started (libFuzzer starts it to print a new function):
 * it is started here, so that its pipes are there before the first input. */
void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out, size_t n) __attribute__((weak));

static void start_symbolizer(void)
{
    char where[256];
    if (__sanitizer_symbolize_pc)
        __sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", where, sizeof where);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    show = getenv("NETD_FUZZ_SHOW") && strcmp(getenv("NETD_FUZZ_SHOW"), "1") == 0;
    bool root = enter_namespaces();
    /* A certificate for TLS listeners and the connections to them (seeds
     * name these files); without openssl those calls fail, which is fuzzed too. */
    if (system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
               "-subj /CN=localhost -keyout " FUZZ_DIR "/key.pem -out " FUZZ_DIR
               "/cert.pem >/dev/null 2>&1") != 0)
        fprintf(stderr, "fuzz_dispatch: no certificate (openssl failed); TLS listeners fail\n");
    start_netd();
    caller[0] = ident_new(0, 0, 1, NULL, 0);
    caller[1] = root ? ident_new(OTHER_UID, OTHER_UID, 1, NULL, 0) : ident_ref(caller[0]);
    if (!caller[0] || !caller[1])
        FAIL("out of memory");
    observer[0] = conn_open(caller[0], 0);
    observer[1] = conn_open(caller[1], 1);
    json_decref(observe(&observer[0], "ping", NULL));
    json_decref(observe(&observer[1], "ping", NULL));
    start_symbolizer();
    return 0;
}

/* What one input has seen: its final ping's answer, and the handle names
 * in netd's answers and notifications, in the order they appeared. */
#define MAX_NAMES 64
struct input_run {
    bool ended;
    int n;
    char names[MAX_NAMES][NETD_HANDLE_NAME_MAX + 1];
};

static void collect_names(struct input_run *run, const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        int worker;
        uint64_t seq;
        if (run->n == MAX_NAMES || len > NETD_HANDLE_NAME_MAX ||
            netd_handle_parse(s, len, &worker, &seq) != 0)
            return;
        for (int i = 0; i < run->n; i++)
            if (strcmp(run->names[i], s) == 0)
                return;
        memcpy(run->names[run->n++], s, len + 1);
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) collect_names(run, e);
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *e;
        json_object_foreach((json_t *)v, k, e) collect_names(run, e);
    }
}

static void see_answer(json_t *m, void *arg)
{
    struct input_run *run = arg;
    if (show) {
        char *line = json_dumps(m, JSON_COMPACT);
        fprintf(stderr, "< %.300s\n", line ? line : "?");
        free(line);
    }
    json_t *id = json_object_get(m, "id");
    if (json_is_string(id) && strcmp(json_string_value(id), END_ID) == 0)
        run->ended = true;
    collect_names(run, m);
}

static const char end_line[] =
    "\n{\"jsonrpc\":\"2.0\",\"id\":\"" END_ID "\",\"method\":\"ping\"}\n";

/* The highest placeholder "$N" (a quoted digit) in @line, or -1. */
static int highest_placeholder(const uint8_t *line, size_t n)
{
    int top = -1;
    for (size_t i = 0; i + 3 < n; i++)
        if (line[i] == '"' && line[i + 1] == '$' && line[i + 2] >= '0' && line[i + 2] <= '9' &&
            line[i + 3] == '"' && line[i + 2] - '0' > top)
            top = line[i + 2] - '0';
    return top;
}

/* @line with each "$N" that names a handle seen replaced by that name. */
static uint8_t *substitute(const struct input_run *run, const uint8_t *line, size_t n,
                           size_t *out_n)
{
    uint8_t *out = malloc(n * (NETD_HANDLE_NAME_MAX + 2) / 4 + n + 1);
    if (!out)
        FAIL("out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 3 < n && line[i] == '"' && line[i + 1] == '$' && line[i + 2] >= '0' &&
            line[i + 2] <= '9' && line[i + 3] == '"' && line[i + 2] - '0' < run->n) {
            const char *name = run->names[line[i + 2] - '0'];
            out[o++] = '"';
            memcpy(out + o, name, strlen(name));
            o += strlen(name);
            out[o++] = '"';
            i += 3;
            continue;
        }
        out[o++] = line[i];
    }
    *out_n = o;
    return out;
}

/* Reads what netd sends now, and again after waiting up to @ms for more (or for room to write, with
 * @events POLLOUT). */
static int pump(struct conn_end *c, struct input_run *run, short events, int ms)
{
    if (conn_read(c, see_answer, run) < 0)
        return -1;
    struct pollfd p = {.fd = c->fd, .events = POLLIN | events};
    poll(&p, 1, ms);
    return conn_read(c, see_answer, run);
}

/* Writes all of @data to @c, reading answers meanwhile; -1 if netd closed it. */
static int put(struct conn_end *c, struct input_run *run, const void *data, size_t n,
               long long deadline)
{
    size_t off = 0;
    while (off < n) {
        ssize_t k = write(c->fd, (const char *)data + off, n - off);
        if (k > 0)
            off += (size_t)k;
        else if (k < 0 && errno != EAGAIN)
            return -1; /* netd closed it (an upgrade) */
        if (off < n && (pump(c, run, POLLOUT, 10) < 0 || now_ms() > deadline))
            return -1;
    }
    return 0;
}

/* Writes @data line by line to @c, each "$N" replaced by the Nth handle
 * name netd has given so far (waiting up to SUBST_MS for it to appear),
 * then the final ping; reads answers meanwhile, until the ping is
 * answered or @ms have passed. Whether it was answered. */
static bool feed(struct conn_end *c, const uint8_t *data, size_t size, int ms)
{
    static struct input_run run;
    memset(&run, 0, sizeof run);
    long long deadline = now_ms() + ms;
    size_t off = 0;
    int given_up = -1;
    while (off < size) {
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t n = nl ? (size_t)(nl - (data + off)) + 1 : size - off;
        int want = highest_placeholder(data + off, n);
        /* Once a wait came to nothing, the next waits only after a new name. */
        if (want >= run.n && run.n != given_up) {
            for (long long until = now_ms() + SUBST_MS; want >= run.n && now_ms() < until;)
                if (pump(c, &run, 0, 1) < 0)
                    return false;
            if (want >= run.n)
                given_up = run.n;
        }
        size_t m;
        uint8_t *line = substitute(&run, data + off, n, &m);
        int rc = put(c, &run, line, m, deadline);
        free(line);
        if (rc < 0)
            return false;
        off += n;
    }
    if (put(c, &run, end_line, sizeof end_line - 1, deadline) < 0)
        return false;
    while (!run.ended && now_ms() < deadline)
        if (pump(c, &run, 0, 10) < 0)
            break;
    return run.ended;
}

static json_int_t stats_int(const json_t *st, const char *a, const char *b)
{
    const json_t *v = json_object_get(st, a);
    if (b)
        v = json_object_get(v, b);
    if (!json_is_integer(v))
        FAIL("stats has no %s%s%s", a, b ? "." : "", b ? b : "");
    return json_integer_value(v);
}

/* Closes the handles the uid of observer @o kept. */
static void close_kept(struct conn_end *o)
{
    json_t *res = observe(o, "handles", NULL);
    json_t *list = json_object_get(res, "handles"), *st;
    size_t i;
    json_array_foreach(list, i, st)
    {
        json_t *name = json_object_get(st, "handle");
        if (json_is_string(name))
            json_decref(observe(o, "close", json_pack("{s:O}", "handle", name)));
    }
    json_decref(res);
}

/* Waits until netd holds nothing of the input: no connection but the
 * observers, no handle, and the descriptors it started with. */
static void settle(void)
{
    long long deadline = now_ms() + SETTLE_MS;
    json_int_t conns = -1, handles = -1;
    int fds = -1;
    for (int ms = 0;; ms = ms < 16 ? ms + 1 : ms) {
        json_t *st = observe(&observer[0], "stats", NULL);
        conns = stats_int(st, "connections", NULL);
        handles = stats_int(st, "handles", "total");
        json_decref(st);
        fds = count_fds();
        if (conns == 2 && handles == 0 && fds == base_fds)
            return;
        if (now_ms() > deadline)
            break;
        nap(ms);
    }
    show_fds();
    FAIL("after the input, netd still holds %lld connections (2 are the observers'), %lld "
         "handles and %d descriptors (%d before)",
         (long long)conns, (long long)handles, fds, base_fds);
}

static bool has_attach(const uint8_t *data, size_t size)
{
    static const char word[] = "attach";
    for (size_t i = 0; i + sizeof word - 1 <= size; i++)
        if (memcmp(data + i, word, sizeof word - 1) == 0)
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* Counted here, not at start: the replayer keeps its directory open. */
    if (base_fds == 0)
        base_fds = count_fds();
    int who = data[0] & 1, worker = (data[0] >> 1) & 1;
    data++;
    size--;
    /* Only an attach ("upgrade") stops a connection reading its requests. */
    bool attach = has_attach(data, size);
    struct conn_end c = conn_open(caller[who], worker);
    bool ended = feed(&c, data, size, attach ? ATTACH_MS : END_MS);
    conn_end_close(&c);
    if (!ended && !attach)
        FAIL("netd did not answer the ping after the input within %d ms", END_MS);
    /* The connection goes first (its handles with it), then what was kept. */
    long long deadline = now_ms() + SETTLE_MS;
    for (;;) {
        json_t *st = observe(&observer[0], "stats", NULL);
        json_int_t conns = stats_int(st, "connections", NULL);
        json_decref(st);
        if (conns == 2)
            break;
        if (now_ms() > deadline)
            FAIL("the input's control connection was still open %d ms after it closed", SETTLE_MS);
        nap(1);
    }
    close_kept(&observer[who]);
    settle();
    return 0;
}
