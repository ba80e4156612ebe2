/*
 * test_scmcreds.c - a unix peer that reads per-message credentials
 * (SO_PASSCRED, SCM_CREDENTIALS: journald's native socket, /dev/log) sees
 * the caller on the bytes netd sends for it, not netd's uid 0 (issue 8,
 * protocol.md section 9, "Never more than the caller could do alone").
 *
 * The caller is real: a child drops to uid TRUST_UID (gid TRUST_UID) and
 * connects to a netd started as root with --allow-uid TRUST_UID, and passes
 * the connection to the test, which then speaks as that uid (netd fixed the
 * identity from SO_PEERCRED at accept). The peers are the test's own unix
 * sockets, made by root, with SO_PASSCRED set, read with recvmsg(2): every
 * message must carry uid and gid TRUST_UID and netd's pid (netd may not name
 * another process's pid), through write (whole and queued), send-to, write
 * on a connected datagram socket, attach "fd" and "upgrade" (both ways),
 * TLS (the ClientHello) and splice (on one worker and across two). Root's
 * bytes carry uid 0 and gid 0. A unix listener netd makes for the other uid
 * shows that uid to its clients (SO_PEERCRED), and what netd writes on the
 * connections it accepts there carries it too. Every case but the root one
 * failed before netd attached the credentials (each saw uid 0). Everything
 * needs root and skips otherwise.
 */
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "sockets.h"

#define TRUST_UID 40123 /* unused on this machine; checked */

static const char *const ALLOW_ARGS[] = {"--allow-uid", "40123", NULL};
static const char *const ALLOW_ONE_WORKER[] = {"--allow-uid", "40123", "--workers", "1", NULL};
static const char *const ALLOW_TWO_WORKERS[] = {"--allow-uid", "40123", "--workers", "2", NULL};

/* ------------------------------------------------------------------ */
/* Fixture: a private directory and the other uid's connections        */

static char tree[PATH_MAX]; /* 0755 root; u/ belongs to TRUST_UID */

static struct {
    pid_t pid;
    int hold; /* the child waits for EOF on the other end */
    netd_client *c;
} kids[8];
static int nkids;

static int fds[32]; /* the test's own sockets, closed at teardown */
static int nfds;

static int keep_fd(int fd)
{
    if (fd < 0)
        fail_msg("a socket of the test: %s", strerror(errno));
    assert_true(nfds < 32);
    fds[nfds++] = fd;
    return fd;
}

static void path_in(char *out, const char *rel)
{
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", tree, rel) >= PATH_MAX)
        fail_msg("path too long");
}

static int setup(void **state)
{
    h_setup(state);
    nkids = nfds = 0;
    tree[0] = '\0';
    if (geteuid() != 0)
        return 0;
    snprintf(tree, sizeof tree, "/tmp/netd-scmcreds-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(tree) || chmod(tree, 0755) < 0)
        return -1;
    char u[PATH_MAX];
    path_in(u, "u");
    return mkdir(u, 0755) < 0 || chown(u, TRUST_UID, TRUST_UID) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    for (int i = 0; i < nkids; i++) {
        netd_client_free(kids[i].c);
        close(kids[i].hold);
    }
    for (int i = 0; i < nkids; i++)
        waitpid(kids[i].pid, NULL, 0);
    while (nfds > 0)
        close(fds[--nfds]);
    int rc = h_teardown(state);
    if (tree[0]) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
        (void)!system(cmd);
    }
    return rc;
}

static void need_root(void)
{
    if (geteuid() != 0) {
        print_message("needs root to act as another uid; skipped\n");
        skip();
    }
    if (getpwuid(TRUST_UID) || getgrgid(TRUST_UID))
        fail_msg("uid or gid %d is in use on this machine; the test needs it unused", TRUST_UID);
}

/*
 * A control connection of uid TRUST_UID to netd @n: a child connects as
 * that uid and hands the socket over (SCM_RIGHTS); it takes the place of a
 * root connection's descriptor inside a client of the library.
 */
static netd_client *user_client(struct netd_proc *n)
{
    assert_true(nkids < 8);
    const char *name = h_netd_socket(n);
    netd_client *c = netd_client_connect(name);
    if (!c)
        fail_msg("cannot connect to %s: %s", name, strerror(errno));
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sp[0]);
        struct sockaddr_storage ss;
        socklen_t len = s_unix(name, &ss);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        gid_t g = TRUST_UID;
        if (fd < 0 || setgroups(1, &g) < 0 || setgid(TRUST_UID) < 0 || setuid(TRUST_UID) < 0 ||
            connect(fd, (struct sockaddr *)&ss, len) < 0)
            _exit(3);
        char byte = 'u', cbuf[CMSG_SPACE(sizeof(int))] = {0};
        struct iovec iov = {&byte, 1};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
        if (sendmsg(sp[1], &mh, 0) != 1)
            _exit(4);
        while (read(sp[1], &byte, 1) > 0)
            ;
        _exit(0);
    }
    close(sp[1]);
    kids[nkids].pid = pid;
    kids[nkids].hold = sp[0];
    kids[nkids].c = c;
    nkids++;
    char byte, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    if (!s_ready(sp[0], POLLIN, 5000) || recvmsg(sp[0], &mh, MSG_CMSG_CLOEXEC) != 1)
        fail_msg("the child of uid %d could not connect to %s", TRUST_UID, name);
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof fd);
    assert_int_equal(dup3(fd, netd_client_fd(c), O_CLOEXEC), netd_client_fd(c));
    close(fd);
    json_decref(h_call(c, "ping", NULL));
    return c;
}

/* ------------------------------------------------------------------ */
/* The peers: unix sockets that read credentials                       */

static void passcred(int fd)
{
    int on = 1;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on), 0);
}

/* A unix socket of root's at @path (0666: the other uid may use it), reading credentials. */
static int peer_socket(const char *path, int type)
{
    int fd = keep_fd(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    struct sockaddr_storage ss;
    socklen_t len = s_unix(path, &ss);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0)
        fail_msg("bind %s: %s", path, strerror(errno));
    assert_int_equal(chmod(path, 0666), 0);
    passcred(fd);
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 16), 0);
    return fd;
}

/* The next connection on peer listener @lfd, reading credentials too. */
static int peer_accept(int lfd)
{
    int fd = keep_fd(s_accept(lfd, 5000));
    passcred(fd);
    return fd;
}

struct who {
    uid_t uid;
    gid_t gid;
    pid_t pid;
};

/*
 * Reads exactly @n bytes from @fd (one datagram when @dgram) and checks
 * that every message carried the credentials @want. The bytes must equal
 * @expect when it is not NULL.
 */
#define expect_from(fd, expect, n, dgram, want)                                                    \
    expect_from_at((fd), (expect), (n), (dgram), (want), __FILE__, __LINE__)
static void expect_from_at(int fd, const void *expect, size_t n, bool dgram, struct who want,
                           const char *file, int line)
{
    unsigned char *got = malloc(n + 1);
    size_t have = 0, messages = 0;
    assert_non_null(got);
    while (have < n || (dgram && messages == 0)) {
        if (!s_ready(fd, POLLIN, 10000)) {
            print_error("%s:%d: %zu of %zu bytes came\n", file, line, have, n);
            _fail(file, line);
        }
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(sizeof(struct ucred))];
        } cb;
        struct iovec iov = {got + have, dgram ? n + 1 : n - have};
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cb.buf, .msg_controllen = sizeof cb};
        ssize_t k = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (k <= 0) {
            print_error("%s:%d: recvmsg: %s\n", file, line, k < 0 ? strerror(errno) : "end");
            _fail(file, line);
        }
        messages++;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_CREDENTIALS) {
            print_error("%s:%d: a message without SCM_CREDENTIALS\n", file, line);
            _fail(file, line);
        }
        struct ucred uc;
        memcpy(&uc, CMSG_DATA(cm), sizeof uc);
        if (uc.uid != want.uid || uc.gid != want.gid || uc.pid != want.pid) {
            print_error("%s:%d: bytes %zu.. came from uid %u gid %u pid %d, not uid %u gid %u "
                        "pid %d\n",
                        file, line, have, (unsigned)uc.uid, (unsigned)uc.gid, (int)uc.pid,
                        (unsigned)want.uid, (unsigned)want.gid, (int)want.pid);
            _fail(file, line);
        }
        have += (size_t)k;
        if (dgram)
            break;
    }
    if (have != n || (expect && memcmp(got, expect, n) != 0)) {
        print_error("%s:%d: %zu bytes, not the %zu expected\n", file, line, have, n);
        _fail(file, line);
    }
    free(got);
}

static struct who user_of(struct netd_proc *n)
{
    return (struct who){TRUST_UID, TRUST_UID, h_netd_pid(n)};
}

static struct who root_of(struct netd_proc *n)
{
    return (struct who){0, 0, h_netd_pid(n)};
}

/* attach {handle, mode: "fd"}: the descriptor that came with the answer. */
static int attach_fd(netd_client *c, const char *h)
{
    long long id = h_send(c, "attach", json_pack("{s:s,s:s}", "handle", h, "mode", "fd"));
    json_decref(h_wait(c, id));
    return keep_fd(netd_client_take_fd(c, id));
}

/* ------------------------------------------------------------------ */
/* Streams                                                             */

/* write: a short one (sent at once) and 1 MiB that the peer takes only
 * later (netd queues it and sends it as the socket drains). */
static void test_stream_write_user(void **state)
{
    need_root();
    char srv[PATH_MAX];
    path_in(srv, "srv.sock");
    int lfd = peer_socket(srv, SOCK_STREAM);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(n);
    char *h = h_new_handle(u, "connect", json_pack("{s:s}", "path", srv));
    int fd = peer_accept(lfd);
    h_write(u, h, "from the other uid", 18);
    expect_from(fd, "from the other uid", 18, false, user_of(n));

    size_t big = 1 << 20;
    unsigned char *data = malloc(big);
    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    char *b64 = h_base64(data, big);
    long long id = h_send(
        u, "write", json_pack("{s:s,s:s,s:s}", "handle", h, "data", b64, "encoding", "base64"));
    free(b64);
    h_sleep_ms(200); /* the socket fills; the rest waits in netd's queue */
    expect_from(fd, data, big, false, user_of(n));
    json_t *res = h_wait(u, id);
    assert_int_equal(h_int(res, "written"), big);
    json_decref(res);
    free(data);
    free(h);
}

/* TLS over a unix socket: the ClientHello netd sends for the caller
 * carries the caller's credentials. The peer speaks no TLS: it reads the
 * record header and closes, which ends the handshake with an error. */
static void test_tls_user(void **state)
{
    need_root();
    char srv[PATH_MAX];
    path_in(srv, "srv.sock");
    int lfd = peer_socket(srv, SOCK_STREAM);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(n);
    long long id = h_send(u, "connect",
                          json_pack("{s:s,s:{s:b,s:s}}", "path", srv, "tls", "verify", 0,
                                    "servername", "example.test"));
    int fd = peer_accept(lfd);
    unsigned char hdr[4];
    expect_from(fd, "\x16", 1, false, user_of(n)); /* a handshake record */
    assert_int_equal(recv(fd, hdr, sizeof hdr, MSG_WAITALL), sizeof hdr);
    assert_int_equal(hdr[0], 3); /* its version's major byte */
    close(fds[--nfds]);          /* fd: the handshake fails */
    json_t *res = NULL, *err = NULL;
    assert_int_equal(netd_client_wait(u, id, H_ANSWER_MS, &res, &err), 1);
    json_decref(err);
}

/* A unix listener netd made for the other uid: its clients see that uid as
 * the listener's (SO_PEERCRED), and the bytes netd writes on the
 * connection it accepted carry it. */
static void test_listener_user(void **state)
{
    need_root();
    char path[PATH_MAX];
    path_in(path, "u/l.sock");
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(n);
    char *l = h_new_handle(u, "listen", json_pack("{s:s}", "path", path));
    int cfd = keep_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    passcred(cfd);
    struct sockaddr_storage ss;
    socklen_t len = s_unix(path, &ss);
    assert_int_equal(connect(cfd, (struct sockaddr *)&ss, len), 0);
    struct ucred cr;
    socklen_t crlen = sizeof cr;
    assert_int_equal(getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen), 0);
    assert_int_equal(cr.uid, TRUST_UID);
    assert_int_equal(cr.gid, TRUST_UID);
    char *a = h_new_handle(u, "accept", json_pack("{s:s,s:f}", "handle", l, "timeout", 10.0));
    h_write(u, a, "accepted", 8);
    expect_from(cfd, "accepted", 8, false, user_of(n));
    free(a);
    free(l);
}

/* ------------------------------------------------------------------ */
/* Datagrams                                                           */

/* send-to a unix path, and write on a datagram socket connected to one. */
static void test_datagram_user(void **state)
{
    need_root();
    char srv[PATH_MAX], mine[PATH_MAX];
    path_in(srv, "srv.dgram");
    path_in(mine, "u/mine.dgram");
    int dfd = peer_socket(srv, SOCK_DGRAM);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(n);
    char *d = h_new_handle(u, "listen", json_pack("{s:s,s:s}", "path", mine, "type", "datagram"));
    n_send_to(u, d, json_pack("{s:s}", "path", srv), "sent to");
    expect_from(dfd, "sent to", 7, true, user_of(n));
    char *c = h_new_handle(u, "connect", json_pack("{s:s,s:s}", "path", srv, "type", "datagram"));
    h_write(u, c, "written", 7);
    expect_from(dfd, "written", 7, true, user_of(n));
    free(c);
    free(d);
}

/* ------------------------------------------------------------------ */
/* Relays                                                              */

/* attach "fd" on a unix stream: what the caller writes into its socket
 * reaches the peer as the caller's, and what the peer sends reaches the
 * caller's socket as the caller's too (the caller may hand it on). */
static void test_attach_user(void **state)
{
    need_root();
    char srv[PATH_MAX];
    path_in(srv, "srv.sock");
    int lfd = peer_socket(srv, SOCK_STREAM);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(n);
    char *h = h_new_handle(u, "connect", json_pack("{s:s}", "path", srv));
    int fd = peer_accept(lfd);
    int x = attach_fd(u, h);
    passcred(x);
    h_plain_write(x, "through attach", 14);
    expect_from(fd, "through attach", 14, false, user_of(n));
    h_plain_write(fd, "and back", 8);
    expect_from(x, "and back", 8, false, user_of(n));
    free(h);
}

/* attach "upgrade": the caller's control connection becomes the stream's
 * other end; what netd relays into it carries the caller's credentials, and
 * so does what the caller sends on through it. */
static void test_attach_upgrade_user(void **state)
{
    need_root();
    char srv[PATH_MAX];
    path_in(srv, "srv.sock");
    int lfd = peer_socket(srv, SOCK_STREAM);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(n);
    char *h = h_new_handle(u, "connect", json_pack("{s:s,s:b}", "path", srv, "keep", 1));
    int fd = peer_accept(lfd);
    /* Another connection of the uid, idle after its ping: spoken to raw. */
    int raw = netd_client_fd(user_client(n));
    char req[256];
    int k = snprintf(req, sizeof req,
                     "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"attach\",\"params\":"
                     "{\"handle\":\"%s\",\"mode\":\"upgrade\"}}\n",
                     h);
    h_plain_write(raw, req, (size_t)k);
    char line[512];
    size_t len = 0;
    while (len < sizeof line - 1) { /* byte by byte: nothing after the answer is taken */
        assert_true(s_ready(raw, POLLIN, 10000));
        assert_int_equal(read(raw, line + len, 1), 1);
        if (line[len++] == '\n')
            break;
    }
    line[len] = '\0';
    assert_non_null(strstr(line, "\"upgrade\""));
    passcred(raw);
    h_plain_write(fd, "relayed down", 12);
    expect_from(raw, "relayed down", 12, false, user_of(n));
    h_plain_write(raw, "and up", 6);
    expect_from(fd, "and up", 6, false, user_of(n));
    free(h);
}

/* splice of a TCP stream into a unix one: the peer sees the caller. */
static void splice_case(const char *const *args, bool across)
{
    need_root();
    char srv[PATH_MAX];
    path_in(srv, "srv.sock");
    int lfd = peer_socket(srv, SOCK_STREAM);
    int port;
    int tl = keep_fd(s_tcp_listener("127.0.0.1", &port));
    struct netd_proc *n = h_netd_start(args);
    netd_client *u1 = user_client(n);
    char *a = h_new_handle(
        u1, "connect", json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", port, "keep", 1));
    int tfd = keep_fd(s_accept(tl, 5000));
    /* b on another connection of the same uid. Connections go to the workers
     * in turn, and user_client() makes two (root's, then the child's): one
     * more puts the next child's on the other worker. */
    if (across)
        (void)h_client(n);
    netd_client *u2 = user_client(n);
    char *b = h_new_handle(u2, "connect", json_pack("{s:s,s:b}", "path", srv, "keep", 1));
    int ufd = peer_accept(lfd);
    assert_int_equal(strncmp(a, b, (size_t)(strchr(a, '.') - a + 1)) != 0, across);
    long long id = h_send(u1, "splice", json_pack("{s:s,s:s}", "a", a, "b", b));
    h_sleep_ms(100);
    h_plain_write(tfd, "spliced in", 10);
    expect_from(ufd, "spliced in", 10, false, user_of(n));
    shutdown(tfd, SHUT_WR);
    shutdown(ufd, SHUT_WR);
    json_decref(h_wait(u1, id));
    free(a);
    free(b);
}

static void test_splice_user_one_worker(void **state)
{
    splice_case(ALLOW_ONE_WORKER, false);
}

static void test_splice_user_two_workers(void **state)
{
    splice_case(ALLOW_TWO_WORKERS, true);
}

/* ------------------------------------------------------------------ */
/* Root                                                                */

/* Root's bytes carry root's credentials, as they did before: write,
 * send-to, attach (still spliced by the kernel) and a listener's. */
static void test_root(void **state)
{
    need_root();
    char srv[PATH_MAX], dg[PATH_MAX], mine[PATH_MAX], lp[PATH_MAX];
    path_in(srv, "srv.sock");
    path_in(dg, "srv.dgram");
    path_in(mine, "mine.dgram");
    path_in(lp, "root-l.sock");
    int lfd = peer_socket(srv, SOCK_STREAM);
    int dfd = peer_socket(dg, SOCK_DGRAM);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    char *h = h_new_handle(root, "connect", json_pack("{s:s}", "path", srv));
    int fd = peer_accept(lfd);
    h_write(root, h, "root's", 6);
    expect_from(fd, "root's", 6, false, root_of(n));
    int x = attach_fd(root, h);
    h_plain_write(x, "root attached", 13);
    expect_from(fd, "root attached", 13, false, root_of(n));

    char *d =
        h_new_handle(root, "listen", json_pack("{s:s,s:s}", "path", mine, "type", "datagram"));
    n_send_to(root, d, json_pack("{s:s}", "path", dg), "root sent");
    expect_from(dfd, "root sent", 9, true, root_of(n));

    char *l = h_new_handle(root, "listen", json_pack("{s:s}", "path", lp));
    int cfd = keep_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    struct sockaddr_storage ss;
    socklen_t len = s_unix(lp, &ss);
    assert_int_equal(connect(cfd, (struct sockaddr *)&ss, len), 0);
    struct ucred cr;
    socklen_t crlen = sizeof cr;
    assert_int_equal(getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen), 0);
    assert_int_equal(cr.uid, 0);
    free(l);
    free(d);
    free(h);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_stream_write_user),
        T(test_listener_user),
        T(test_tls_user),
        T(test_datagram_user),
        T(test_attach_user),
        T(test_attach_upgrade_user),
        T(test_splice_user_one_worker),
        T(test_splice_user_two_workers),
        T(test_root),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
