/*
 * test_trust.c - netd, running as root, never does for a caller what the
 * caller could not do alone (issue 8; protocol.md section 9, "Never more
 * than the caller could do alone", "Paths", "Ports").
 *
 * The caller is real: a child process drops to uid TRUST_UID (gid
 * TRUST_UID, supplementary group TRUST_GID) and connects to a netd started
 * with --allow-uid TRUST_UID, then passes the connected socket to the test
 * and stays alive until the test ends. SO_PEERCRED was fixed by that
 * connect, so netd sees the other uid on every request the test sends over
 * it. Targets are real too: unix sockets in 0700 directories of root,
 * abstract names, a SO_REUSEPORT listener of root, files only root can
 * read, privileged ports on 127.0.0.1, netd's own control socket.
 *
 * A refusal is either -32005 `denied`, whose message names what was refused
 * (the path, name or port) and says why (the words each test looks for are
 * in its comment), or -32000 `os` with the errno the kernel gave when netd
 * acted with the caller's identity (EACCES; EADDRINUSE for SO_REUSEPORT).
 * After a refusal the caller holds no handle, netd holds no more
 * descriptors than before, and nothing was bound, connected or created.
 *
 * Every hole has a test_<n>_... case that failed on netd before the fix
 * (main at 4306918); they run unless NETD_TRUST_TESTS=0 is in the
 * environment (the CMake option NETD_TRUST_TESTS=OFF sets it for ctest).
 * The test_<n>_root_... and test_<n>_user_... cases show that root, and the
 * other uid on what it may use itself, keep their powers; they always run.
 * Everything needs root (to drop to another uid) and skips otherwise.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "sockets.h"

/* An unused uid and group for the other caller; checked at setup. */
#define TRUST_UID 40123
#define TRUST_GID 40124

static const char *const ALLOW_ARGS[] = {"--allow-uid", "40123", NULL};
static const char *const ALLOW_ONE_WORKER[] = {"--allow-uid", "40123", "--workers", "1", NULL};

/* ------------------------------------------------------------------ */
/* The fixture: a private tree under /tmp and the other uid's processes */

/*
 * T (0755 root)
 *   root/    0700 root:root       only root may enter
 *   shared/  0750 root:TRUST_GID  the other uid enters through its group
 *   u/       0755 TRUST_UID       the other uid's own directory
 */
static char tree[PATH_MAX];

/* The supplementary groups the other uid takes: TRUST_GID, unless a test
 * gives it more (test_2_every_group). */
static gid_t user_groups[400] = {TRUST_GID};
static int n_user_groups = 1;


/* Children that hold a control connection of the other uid: each waits
 * for EOF on its end of a socket pair, which the teardown closes. */
static struct {
    pid_t pid;
    int hold;
    netd_client *c;
} kids[16];
static int nkids;

/* Descriptors the test opened itself (listeners of root's "services"). */
static int own_fds[64];
static int n_own_fds;

static int own_fd(int fd)
{
    if (fd < 0)
        fail_msg("a socket of the test: %s", strerror(errno));
    if (n_own_fds == 64)
        fail_msg("too many sockets");
    own_fds[n_own_fds++] = fd;
    return fd;
}

static void path_in(char *out, const char *rel)
{
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", tree, rel) >= PATH_MAX)
        fail_msg("path too long");
}

static int stop_path_netd(void);

static int trust_setup(void **state)
{
    h_setup(state);
    n_user_groups = 1;
    nkids = 0;
    n_own_fds = 0;
    tree[0] = '\0';
    if (geteuid() != 0)
        return 0; /* each test skips */
    snprintf(tree, sizeof tree, "/tmp/netd-trust-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(tree))
        return -1;
    char p[PATH_MAX];
    int rc = chmod(tree, 0755);
    path_in(p, "root");
    rc |= mkdir(p, 0700);
    path_in(p, "shared");
    rc |= mkdir(p, 0750) | chown(p, 0, TRUST_GID) | chmod(p, 0750);
    path_in(p, "u");
    rc |= mkdir(p, 0755) | chown(p, TRUST_UID, TRUST_UID);
    return rc ? -1 : 0;
}

static int trust_teardown(void **state)
{
    for (int i = 0; i < nkids; i++) {
        if (kids[i].c)
            netd_client_free(kids[i].c);
        close(kids[i].hold);
    }
    for (int i = 0; i < nkids; i++)
        waitpid(kids[i].pid, NULL, 0);
    nkids = 0;
    if (stop_path_netd() != 0)
        print_error("the netd on a path did not exit 0\n");
    while (n_own_fds > 0)
        close(own_fds[--n_own_fds]);
    int rc = h_teardown(state);
    if (tree[0]) {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tree);
        (void)!system(cmd);
    }
    return rc;
}

static bool trust_enabled(void)
{
    const char *v = getenv("NETD_TRUST_TESTS");
    return !v || strcmp(v, "0") != 0;
}

/* Every test needs root; the cases that fail before the fix also need the switch. */
static void need_root(void)
{
    if (geteuid() != 0) {
        print_message("needs root to act as another uid; skipped\n");
        skip();
    }
    if (getpwuid(TRUST_UID) || getgrgid(TRUST_GID))
        fail_msg("uid %d or gid %d is in use on this machine; the test needs them unused",
                 TRUST_UID, TRUST_GID);
}

static void need_fix(void)
{
    need_root();
    if (!trust_enabled()) {
        print_message("NETD_TRUST_TESTS=0: skipped\n");
        skip();
    }
}

/* In a child: become the other uid, with its supplementary groups. */
static int drop_to_user(void)
{
    if (setgroups((size_t)n_user_groups, user_groups) < 0 || setgid(TRUST_UID) < 0 ||
        setuid(TRUST_UID) < 0)
        return -1;
    return geteuid() == TRUST_UID ? 0 : -1;
}

/* A sockaddr for @name ("@x" abstract) without asserting (used in children). */
static socklen_t unix_addr(const char *name, struct sockaddr_un *un)
{
    size_t n = strlen(name);
    memset(un, 0, sizeof *un);
    un->sun_family = AF_UNIX;
    if (n == 0 || n >= sizeof un->sun_path)
        return 0;
    if (name[0] == '@') {
        memcpy(un->sun_path + 1, name + 1, n - 1);
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    }
    memcpy(un->sun_path, name, n + 1);
    return (socklen_t)sizeof *un;
}

/*
 * A control connection of the other uid to netd's socket @name. The child
 * connects (so SO_PEERCRED names the other uid and a live pid), passes the
 * socket back with SCM_RIGHTS and waits for the teardown. The descriptor
 * then takes the place of a fresh root connection's inside a client of the
 * library, so every h_* helper works on it; it is freed at teardown.
 */
static netd_client *user_client(const char *name)
{
    if (nkids == 16)
        fail_msg("too many user clients");
    netd_client *c = netd_client_connect(name);
    if (!c)
        fail_msg("cannot connect to %s: %s", name, strerror(errno));
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sp[0]);
        close_range(3, (unsigned)sp[1] - 1, 0);
        close_range((unsigned)sp[1] + 1, ~0U, 0);
        struct sockaddr_un un;
        socklen_t len = unix_addr(name, &un);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (drop_to_user() < 0 || fd < 0 || connect(fd, (struct sockaddr *)&un, len) < 0)
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
        close(fd);
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
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    assert_non_null(cm);
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    /* netd sees the root connection end; the client now speaks as the other uid. */
    assert_int_equal(dup3(fd, netd_client_fd(c), O_CLOEXEC), netd_client_fd(c));
    close(fd);
    struct ucred cr;
    socklen_t crlen = sizeof cr;
    assert_int_equal(getsockopt(netd_client_fd(c), SOL_SOCKET, SO_PEERCRED, &cr, &crlen), 0);
    json_decref(h_call(c, "ping", NULL));
    return c;
}

/* Runs @fn(@arg) in a child as the other uid; returns what it returned (0..255). */
static int as_user(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(drop_to_user() < 0 ? 250 : fn(arg));
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* as_user() bodies: each returns an errno (0 for success). */
static int try_connect_unix(void *arg)
{
    struct sockaddr_un un;
    socklen_t len = unix_addr(arg, &un);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int rc = connect(fd, (struct sockaddr *)&un, len) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

static int try_open_read(void *arg)
{
    int fd = open(arg, O_RDONLY | O_NONBLOCK);
    return fd >= 0 ? 0 : errno;
}

/* ------------------------------------------------------------------ */
/* What a refusal looks like                                           */

/*
 * Calls @method (steals @params) and expects a refusal: -32005 whose
 * message contains @what and @why (either may be NULL), or, when
 * @os_errno is not NULL, -32000 with error.data.errno equal to it. Returns
 * the error (caller frees).
 */
#define expect_refused(c, method, params, what, why, os_errno)                                     \
    expect_refused_at((c), (method), (params), (what), (why), (os_errno), __FILE__, __LINE__)
static json_t *expect_refused_at(netd_client *c, const char *method, json_t *params,
                                 const char *what, const char *why, const char *os_errno,
                                 const char *file, int line)
{
    json_t *res = NULL, *err = NULL;
    long long id = h_send_at(c, method, params, file, line);
    int rc = netd_client_wait(c, id, H_ANSWER_MS, &res, &err);
    char *shown = json_dumps(rc == 0 ? res : err, JSON_COMPACT);
    if (rc != 1) {
        print_error("%s:%d: %s was not refused: %s\n", file, line, method,
                    rc == 0 ? shown : strerror(errno));
        free(shown);
        json_decref(res);
        _fail(file, line);
    }
    int code = netd_error_code(err);
    const char *msg = netd_error_message(err);
    const char *got_errno =
        json_string_value(json_object_get(json_object_get(err, "data"), "errno"));
    bool ok = false;
    if (code == -32005)
        ok = (!what || strstr(msg, what)) && (!why || strcasestr(msg, why));
    else if (code == -32000 && os_errno)
        ok = got_errno && strcmp(got_errno, os_errno) == 0;
    if (!ok) {
        print_error("%s:%d: %s: expected -32005 denied naming \"%s\" and saying \"%s\"%s%s, "
                    "got %s\n",
                    file, line, method, what ? what : "", why ? why : "",
                    os_errno ? " or -32000 with errno " : "", os_errno ? os_errno : "", shown);
        free(shown);
        json_decref(err);
        _fail(file, line);
    }
    free(shown);
    return err;
}

#define refused(c, m, p, what, why, e)                                                             \
    json_decref(expect_refused((c), (m), (p), (what), (why), (e)))

/* Descriptors netd holds now. */
static int netd_fds_now(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        fail_msg("cannot read %s: %s", path, strerror(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/* Descriptors netd holds once the count is steady: connections that came
 * and went just before (the harness's probe when netd started) are still
 * being closed for a moment. */
static int netd_fds(pid_t pid)
{
    int last = netd_fds_now(pid), same = 0;
    for (int i = 0; i < 200 && same < 5; i++) {
        h_sleep_ms(10);
        int n = netd_fds_now(pid);
        same = n == last ? same + 1 : 0;
        last = n;
    }
    return last;
}

/* The caller holds no handle and netd is back to @fds descriptors. */
static void expect_nothing_left(netd_client *c, pid_t pid, int fds)
{
    json_t *r = h_call(c, "handles", NULL);
    json_t *list = json_object_get(r, "handles");
    if (json_array_size(list) != 0) {
        char *s = json_dumps(list, JSON_COMPACT);
        print_error("a refused call left handles behind: %s\n", s);
        free(s);
        json_decref(r);
        fail();
    }
    json_decref(r);
    int now = netd_fds_now(pid);
    for (int i = 0; i < 100 && now != fds; i++) {
        h_sleep_ms(10);
        now = netd_fds_now(pid);
    }
    if (now != fds) {
        char cmd[96];
        snprintf(cmd, sizeof cmd, "ls -l /proc/%d/fd >&2", (int)pid);
        (void)!system(cmd);
        fail_msg("netd holds %d descriptors after the refused calls, %d before", now, fds);
    }
}

/* No connection is waiting on listener @lfd (stream) or datagram on @fd. */
static void expect_quiet(int fd, const char *what)
{
    if (s_ready(fd, POLLIN, 300))
        fail_msg("%s was reached although the call was refused", what);
}

static int unix_listener(const char *path, int type, mode_t mode)
{
    struct sockaddr_un un;
    socklen_t len = unix_addr(path, &un);
    if (path[0] != '@')
        unlink(path);
    int fd = own_fd(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (bind(fd, (struct sockaddr *)&un, len) < 0)
        fail_msg("bind %s: %s", path, strerror(errno));
    if (type == SOCK_STREAM && listen(fd, 16) < 0)
        fail_msg("listen %s: %s", path, strerror(errno));
    if (path[0] != '@')
        assert_int_equal(chmod(path, mode), 0);
    return fd;
}

/* The uid of the client of the next connection on unix listener @lfd. */
static uid_t accepted_uid(int lfd)
{
    int fd = s_accept(lfd, 5000);
    struct ucred cr;
    socklen_t len = sizeof cr;
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len), 0);
    close(fd);
    return cr.uid;
}

static char *abstract_name(const char *what)
{
    static char name[108];
    snprintf(name, sizeof name, "@netd-trust-%d-%s", (int)getpid(), what);
    return name;
}

/* ------------------------------------------------------------------ */
/* 1. netd's own control socket is never a target                      */

/* Item 1. The denial names the socket and says "control socket". */
static void test_1_self_connect_abstract(void **state)
{
    need_fix();
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    /* Root keeps a handle the other uid must never reach through netd. */
    free(h_new_handle(root, "listen",
                      json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", 0, "keep", 1)));
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    refused(u, "connect", json_pack("{s:s}", "path", h_netd_socket(n)), h_netd_socket(n),
            "control socket", NULL);
    refused(u, "connect", json_pack("{s:s,s:b}", "path", h_netd_socket(n), "wait", 0),
            h_netd_socket(n), "control socket", NULL);
    /* Through an address handle: refused when it is made or when it is used. */
    json_t *res = NULL, *err = NULL;
    netd_call(u, "address", json_pack("{s:s}", "path", h_netd_socket(n)), &res, &err);
    if (res) {
        const char *a = h_str(res, "handle");
        refused(u, "connect", json_pack("{s:s}", "address", a), h_netd_socket(n), "control socket",
                NULL);
        h_close(u, a);
        json_decref(res);
    } else {
        assert_int_equal(netd_error_code(err), -32005);
        json_decref(err);
    }
    expect_nothing_left(u, pid, fds);
}

/* A netd of the test's own whose control socket is the path @sock, for
 * the other uid too; stopped at teardown if the test does not. */
static pid_t path_netd;

static netd_client *start_path_netd(const char *sock)
{
    path_netd = fork();
    assert_true(path_netd >= 0);
    if (path_netd == 0) {
        const char *argv[] = {NETD_BIN, "--log-level", "warn", "--allow-uid",
                              "40123",  "--socket",    sock,   NULL};
        execv(NETD_BIN, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 250; i++) {
        netd_client *c = netd_client_connect(sock);
        if (c)
            return c;
        h_sleep_ms(20);
    }
    fail_msg("netd on %s did not come up", sock);
    return NULL;
}

/* Stops the netd of start_path_netd(); its exit status, or -1. */
static int stop_path_netd(void)
{
    int st = 0;
    if (path_netd <= 0)
        return 0;
    kill(path_netd, SIGTERM);
    waitpid(path_netd, &st, 0);
    path_netd = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Item 1, by path, symbolic link and hard link (same inode). */
static void test_1_self_connect_path_inode(void **state)
{
    need_fix();
    char dir[PATH_MAX], sock[PATH_MAX], sym[PATH_MAX], hard[PATH_MAX];
    path_in(dir, "ctl");
    assert_int_equal(mkdir(dir, 0755), 0);
    path_in(sock, "ctl/netd.sock");
    path_in(sym, "u/netd.link");
    path_in(hard, "netd.hard");
    netd_client *root = start_path_netd(sock);
    /* Open to everyone, so the other uid may talk to netd directly. */
    assert_int_equal(chmod(sock, 0666), 0);
    assert_int_equal(symlink(sock, sym), 0);
    assert_int_equal(link(sock, hard), 0);
    netd_client *u = user_client(sock);
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    refused(u, "connect", json_pack("{s:s}", "path", sock), sock, "control socket", NULL);
    refused(u, "connect", json_pack("{s:s}", "path", sym), sym, "control socket", NULL);
    refused(u, "connect", json_pack("{s:s}", "path", hard), hard, "control socket", NULL);
    expect_nothing_left(u, pid, fds);
    /* Root too: netd is never its own client. */
    refused(root, "connect", json_pack("{s:s}", "path", hard), hard, "control socket", NULL);
    netd_client_free(root);
    assert_int_equal(stop_path_netd(), 0);
}

/* Item 1: `assign` of the caller's own control connection. */
static void test_1_assign_own_control(void **state)
{
    need_fix();
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    long long id = netd_client_send_fd(u, "assign", NULL, netd_client_fd(u));
    assert_true(id > 0);
    json_t *res = NULL, *err = NULL;
    assert_int_equal(netd_client_wait(u, id, H_ANSWER_MS, &res, &err), 1);
    assert_int_equal(netd_error_code(err), -32005);
    assert_non_null(strcasestr(netd_error_message(err), "control"));
    json_decref(err);
    expect_nothing_left(u, pid, fds);
    /* Root's own connection is no target either. */
    id = netd_client_send_fd(root, "assign", NULL, netd_client_fd(root));
    assert_int_equal(netd_client_wait(root, id, H_ANSWER_MS, &res, &err), 1);
    assert_int_equal(netd_error_code(err), -32005);
    json_decref(err);
}

/* Item 1 for root: its own netd is refused (never a target), another netd is not. */
static void test_1_root_other_netd(void **state)
{
    need_root();
    struct netd_proc *a = h_netd_start(ALLOW_ARGS);
    struct netd_proc *b = h_netd_start(NULL);
    netd_client *root = h_client(a);
    char *h = h_new_handle(root, "connect", json_pack("{s:s}", "path", h_netd_socket(b)));
    const char ping[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n";
    h_write(root, h, ping, sizeof ping - 1);
    json_t *r = h_call(root, "read",
                       json_pack("{s:s,s:i,s:f,s:s}", "handle", h, "nbytes", 4096, "timeout", 10.0,
                                 "encoding", "utf8"));
    assert_non_null(strstr(h_str(r, "data"), "\"result\""));
    json_decref(r);
    h_close(root, h);
    free(h);
}

/* ------------------------------------------------------------------ */
/* 2. unix sockets the caller could not use itself                     */

/* Item 2. A 0600 socket in a 0700 directory of root: the other uid's own
 * connect fails with EACCES, so netd's must too (or be denied). */
static void test_2_unix_root_only(void **state)
{
    need_fix();
    char srv[PATH_MAX], dg[PATH_MAX];
    path_in(srv, "root/srv.sock");
    path_in(dg, "root/dg.sock");
    int lfd = unix_listener(srv, SOCK_STREAM, 0600);
    int dfd = unix_listener(dg, SOCK_DGRAM, 0600);
    assert_int_equal(as_user(try_connect_unix, srv), EACCES);

    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    char mine[PATH_MAX];
    path_in(mine, "u/dg.sock");
    char *d = h_new_handle(u, "listen", json_pack("{s:s,s:s}", "path", mine, "type", "datagram"));
    refused(u, "connect", json_pack("{s:s}", "path", srv), srv, NULL, "EACCES");
    refused(u, "connect", json_pack("{s:s,s:s}", "path", dg, "type", "datagram"), dg, NULL,
            "EACCES");
    refused(u, "send-to",
            json_pack("{s:s,s:{s:s},s:s,s:s}", "handle", d, "dest", "path", dg, "data", "x",
                      "encoding", "utf8"),
            dg, NULL, "EACCES");
    expect_quiet(lfd, srv);
    expect_quiet(dfd, dg);
    h_close(u, d);
    free(d);
    expect_nothing_left(u, pid, fds);
}

/* Item 2/3: a unix socket the other uid may use (group access). Either
 * netd connects as the caller, so the server's SO_PEERCRED is that uid,
 * or it refuses unix paths for callers other than root ("unix"). */
static void test_2_unix_peer_sees_caller(void **state)
{
    need_fix();
    char srv[PATH_MAX];
    path_in(srv, "shared/g.sock");
    int lfd = unix_listener(srv, SOCK_STREAM, 0660);
    assert_int_equal(chown(srv, 0, TRUST_GID), 0);
    assert_int_equal(as_user(try_connect_unix, srv), 0);
    (void)accepted_uid(lfd); /* the baseline's own connection */

    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(h_netd_socket(n));
    json_t *res = NULL, *err = NULL;
    netd_call(u, "connect", json_pack("{s:s}", "path", srv), &res, &err);
    if (err) {
        assert_int_equal(netd_error_code(err), -32005);
        assert_non_null(strstr(netd_error_message(err), srv));
        json_decref(err);
        expect_quiet(lfd, srv);
        return;
    }
    json_decref(res);
    assert_int_equal(accepted_uid(lfd), TRUST_UID);
}

/* Item 2 for root and for the other uid's own sockets: they work as before. */
static void test_2_root_unix(void **state)
{
    need_root();
    char srv[PATH_MAX], dg[PATH_MAX], mine[PATH_MAX];
    path_in(srv, "root/srv.sock");
    path_in(dg, "root/dg.sock");
    int lfd = unix_listener(srv, SOCK_STREAM, 0600);
    int dfd = unix_listener(dg, SOCK_DGRAM, 0600);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    char *h = h_new_handle(root, "connect", json_pack("{s:s}", "path", srv));
    assert_int_equal(accepted_uid(lfd), 0);
    h_close(root, h);
    free(h);
    char from[PATH_MAX];
    path_in(from, "root/from.sock");
    char *d =
        h_new_handle(root, "listen", json_pack("{s:s,s:s}", "path", from, "type", "datagram"));
    n_send_to(root, d, json_pack("{s:s}", "path", dg), "to root");
    s_expect_dgram(dfd, "to root", 5000);
    free(d);

    /* The other uid's own listener, in its own directory, is reachable. */
    netd_client *u = user_client(h_netd_socket(n));
    path_in(mine, "u/mine.sock");
    char *l = h_new_handle(u, "listen", json_pack("{s:s}", "path", mine));
    char *cs = h_new_handle(u, "connect", json_pack("{s:s}", "path", mine));
    char *acc = h_new_handle(u, "accept", json_pack("{s:s,s:f}", "handle", l, "timeout", 10.0));
    h_write(u, cs, "hello", 5);
    h_read_expect(u, acc, "hello", 5, 10.0);
    free(acc);
    free(cs);
    free(l);
}

/* Item 2: netd knows every group of the caller, however many (SO_PEERGROUPS
 * answers ERANGE and the size it needs when the first buffer is too small).
 * The other uid has 300 groups; netd serves only the last one's members,
 * and a socket only that group may use is reached as the caller. */
static void test_2_every_group(void **state)
{
    need_fix();
    for (int i = 0; i < 300; i++) {
        user_groups[i] = (gid_t)(TRUST_GID + 100 + i);
        if (getgrgid(user_groups[i]))
            fail_msg("gid %u is in use on this machine; the test needs it unused",
                     (unsigned)user_groups[i]);
    }
    n_user_groups = 300;
    char last[16], srv[PATH_MAX], dir[PATH_MAX];
    snprintf(last, sizeof last, "%u", (unsigned)user_groups[299]);
    path_in(dir, "g300");
    assert_int_equal(mkdir(dir, 0750) | chown(dir, 0, user_groups[299]) | chmod(dir, 0750), 0);
    path_in(srv, "g300/s.sock");
    int lfd = unix_listener(srv, SOCK_STREAM, 0660);
    assert_int_equal(chown(srv, 0, user_groups[299]), 0);
    assert_int_equal(as_user(try_connect_unix, srv), 0);
    (void)accepted_uid(lfd);
    const char *const args[] = {"--allow-gid", last, NULL};
    struct netd_proc *n = h_netd_start(args);
    netd_client *u = user_client(h_netd_socket(n));
    char *h = h_new_handle(u, "connect", json_pack("{s:s}", "path", srv));
    assert_int_equal(accepted_uid(lfd), TRUST_UID);
    free(h);
}

/* ------------------------------------------------------------------ */
/* 3. abstract names carry no permissions                              */

/* Item 3. Denied for callers other than root; the message says "abstract". */
static void test_3_abstract_refused(void **state)
{
    need_fix();
    char svc[108], dgn[108], squat[108];
    snprintf(svc, sizeof svc, "%s", abstract_name("svc"));
    snprintf(dgn, sizeof dgn, "%s", abstract_name("dg"));
    snprintf(squat, sizeof squat, "%s", abstract_name("squat"));
    int lfd = unix_listener(svc, SOCK_STREAM, 0);
    int dfd = unix_listener(dgn, SOCK_DGRAM, 0);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    char mine[PATH_MAX];
    path_in(mine, "u/dg.sock");
    char *d = h_new_handle(u, "listen", json_pack("{s:s,s:s}", "path", mine, "type", "datagram"));
    refused(u, "connect", json_pack("{s:s}", "path", svc), svc, "abstract", NULL);
    refused(u, "listen", json_pack("{s:s}", "path", squat), squat, "abstract", NULL);
    refused(u, "listen", json_pack("{s:s,s:s}", "path", squat, "type", "datagram"), squat,
            "abstract", NULL);
    refused(u, "send-to",
            json_pack("{s:s,s:{s:s},s:s,s:s}", "handle", d, "dest", "path", dgn, "data", "x",
                      "encoding", "utf8"),
            dgn, "abstract", NULL);
    json_t *res = NULL, *err = NULL;
    netd_call(u, "address", json_pack("{s:s}", "path", svc), &res, &err);
    if (res) {
        const char *a = h_str(res, "handle");
        refused(u, "connect", json_pack("{s:s}", "address", a), svc, "abstract", NULL);
        h_close(u, a);
        json_decref(res);
    } else {
        assert_int_equal(netd_error_code(err), -32005);
        json_decref(err);
    }
    expect_quiet(lfd, svc);
    expect_quiet(dfd, dgn);
    h_close(u, d);
    free(d);
    expect_nothing_left(u, pid, fds);
    /* The squatted name is free: root's service can still bind it. */
    (void)unix_listener(squat, SOCK_STREAM, 0);
}

/* Item 3 for root: abstract names work, and the peer sees uid 0. */
static void test_3_root_abstract(void **state)
{
    need_root();
    char svc[108], mine[108];
    snprintf(svc, sizeof svc, "%s", abstract_name("rsvc"));
    snprintf(mine, sizeof mine, "%s", abstract_name("rmine"));
    int lfd = unix_listener(svc, SOCK_STREAM, 0);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    free(h_new_handle(root, "connect", json_pack("{s:s}", "path", svc)));
    assert_int_equal(accepted_uid(lfd), 0);
    free(h_new_handle(root, "listen", json_pack("{s:s}", "path", mine)));
}

/* ------------------------------------------------------------------ */
/* 4. SO_REUSEPORT groups of other uids                                */

static int reuseport_socket(int type, int *port)
{
    int fd = own_fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
    int on = 1;
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on), 0);
    struct sockaddr_storage ss;
    socklen_t len = s_inet("127.0.0.1", *port, &ss);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0)
        fail_msg("bind: %s", strerror(errno));
    if (type == SOCK_STREAM)
        assert_int_equal(listen(fd, 64), 0);
    *port = s_local_port(fd);
    return fd;
}

/* Item 4, TCP: joining root's group is refused ("reuseport", or EADDRINUSE
 * from the kernel when the socket is the caller's); root's service then
 * gets every connection. */
static void test_4_reuseport_tcp(void **state)
{
    need_fix();
    int port = 0, lfd = reuseport_socket(SOCK_STREAM, &port);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    refused(u, "listen",
            json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", port, "reuseport", 1), ps,
            "reuseport", "EADDRINUSE");
    expect_nothing_left(u, pid, fds);
    for (int i = 0; i < 20; i++) {
        int c = s_tcp_connect("127.0.0.1", port);
        close(s_accept(lfd, 2000));
        close(c);
    }
}

/* Item 4, UDP: every datagram reaches root's socket. */
static void test_4_reuseport_udp(void **state)
{
    need_fix();
    int port = 0, fd = reuseport_socket(SOCK_DGRAM, &port);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    refused(u, "listen",
            json_pack("{s:s,s:i,s:b,s:s}", "host", "127.0.0.1", "port", port, "reuseport", 1,
                      "type", "datagram"),
            ps, "reuseport", "EADDRINUSE");
    expect_nothing_left(u, pid, fds);
    int sport, s = own_fd(s_udp("127.0.0.1", &sport));
    for (int i = 0; i < 20; i++) {
        s_sendto_inet(s, "d", 1, "127.0.0.1", port);
        s_expect_dgram(fd, "d", 2000);
    }
}

/* Item 4 for root (joins its own group) and for the other uid (its own group). */
static void test_4_root_reuseport(void **state)
{
    need_root();
    int port = 0;
    (void)reuseport_socket(SOCK_STREAM, &port);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    free(h_new_handle(
        root, "listen",
        json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", port, "reuseport", 1)));
    netd_client *u = user_client(h_netd_socket(n));
    char *a = h_new_handle(
        u, "listen", json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", 0, "reuseport", 1));
    int mine = n_local_port(u, a);
    free(h_new_handle(
        u, "listen",
        json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", mine, "reuseport", 1)));
    free(a);
}

/* ------------------------------------------------------------------ */
/* 5. files only root can read                                         */

/* A self-signed certificate and key for localhost in @dir (mode of the key: @keymode). */
static void make_cert(const char *dir, mode_t keymode)
{
    char cmd[2 * PATH_MAX + 256];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
             "-subj /CN=localhost -keyout '%s/key.pem' -out '%s/cert.pem' >/dev/null 2>&1",
             dir, dir);
    if (system(cmd) != 0)
        fail_msg("openssl could not make a certificate");
    snprintf(cmd, sizeof cmd, "%s/key.pem", dir);
    assert_int_equal(chmod(cmd, keymode), 0);
}

/* Item 5: a key only root can read never serves TLS for another uid. */
static void test_5_tls_key_root_only(void **state)
{
    need_fix();
    char dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], pubdir[PATH_MAX], pubcert[PATH_MAX],
        rootkey[PATH_MAX];
    path_in(dir, "root");
    make_cert(dir, 0600);
    path_in(cert, "root/cert.pem");
    path_in(key, "root/key.pem");
    /* A readable certificate beside a key that is root's alone, in an open directory. */
    path_in(pubdir, "pub");
    assert_int_equal(mkdir(pubdir, 0755), 0);
    make_cert(pubdir, 0600);
    path_in(pubcert, "pub/cert.pem");
    path_in(rootkey, "pub/key.pem");
    assert_int_equal(as_user(try_open_read, key), EACCES);
    assert_int_equal(as_user(try_open_read, rootkey), EACCES);

    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    /* Root loads them first (and warms wolfSSL up, so descriptors compare). */
    char *warm = h_new_handle(root, "listen",
                              json_pack("{s:s,s:i,s:{s:s,s:s}}", "host", "127.0.0.1", "port", 0,
                                        "tls", "cert", cert, "key", key));
    h_close(root, warm);
    free(warm);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    refused(u, "listen",
            json_pack("{s:s,s:i,s:{s:s,s:s}}", "host", "127.0.0.1", "port", 0, "tls", "cert", cert,
                      "key", key),
            cert, NULL, "EACCES");
    refused(u, "listen",
            json_pack("{s:s,s:i,s:{s:s,s:s}}", "host", "127.0.0.1", "port", 0, "tls", "cert",
                      pubcert, "key", rootkey),
            rootkey, NULL, "EACCES");
    expect_nothing_left(u, pid, fds);
}

/* Item 5: cafile and capath never tell the other uid whether a file of
 * root's exists; a context root loaded is not handed to it from the cache. */
static void test_5_cafile_oracle(void **state)
{
    need_fix();
    char dir[PATH_MAX], ca[PATH_MAX], missing[PATH_MAX];
    path_in(dir, "root");
    make_cert(dir, 0600);
    path_in(ca, "root/cert.pem");
    path_in(missing, "root/missing.pem");
    int port = h_refused_port();
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    /* Root's connect builds (and caches) a context from the file. */
    json_decref(h_call_err(
        root, "connect",
        json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", port, "tls", "cafile", ca),
        -32000));
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    json_t *e1 = expect_refused(
        u, "connect",
        json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", port, "tls", "cafile", ca), ca,
        NULL, "EACCES");
    json_t *e2 = expect_refused(
        u, "connect",
        json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", port, "tls", "cafile", missing),
        missing, NULL, "EACCES");
    /* Same answer for a file that exists and one that does not. */
    assert_int_equal(netd_error_code(e1), netd_error_code(e2));
    json_decref(e1);
    json_decref(e2);
    refused(u, "connect",
            json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", port, "tls", "capath", dir),
            dir, NULL, "EACCES");
    refused(u, "tls-config", json_pack("{s:s}", "cafile", ca), ca, NULL, "EACCES");
    refused(u, "tls-config", json_pack("{s:s}", "capath", dir), dir, NULL, "EACCES");
    expect_nothing_left(u, pid, fds);
}

static int make_fifo(void *arg)
{
    return mkfifo(arg, 0644) == 0 ? 0 : errno;
}

/* Item 5: a FIFO as cafile does not block a worker: with one worker, the
 * connect is answered with an error and a ping on another connection is
 * answered, each within 3 s. */
static void test_5_cafile_fifo(void **state)
{
    need_fix();
    char fifo[PATH_MAX];
    path_in(fifo, "u/ca.fifo");
    assert_int_equal(as_user(make_fifo, fifo), 0);
    int port = h_refused_port();
    struct netd_proc *n = h_netd_start(ALLOW_ONE_WORKER);
    netd_client *u = user_client(h_netd_socket(n));
    netd_client *other = h_client(n);
    long long id = h_send(
        u, "connect",
        json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", port, "tls", "cafile", fifo));
    json_t *res = NULL, *err = NULL;
    int rc = netd_client_wait(u, id, 3000, &res, &err);
    long long pid_ = h_send(other, "ping", NULL);
    json_t *pres = NULL;
    int prc = netd_client_wait(other, pid_, 3000, &pres, NULL);
    /* Unblock a worker stuck opening the FIFO (wolfSSL opens it more than
     * once) before asserting, so that netd can stop. */
    for (int i = 0; i < 5; i++) {
        int w = open(fifo, O_RDWR | O_NONBLOCK);
        h_sleep_ms(200);
        if (w >= 0)
            close(w);
    }
    json_decref(pres);
    json_decref(res);
    if (rc != 1)
        fail_msg("a FIFO as cafile was %s within 3 s", rc == 0 ? "accepted" : "not answered");
    json_decref(err);
    if (prc != 0)
        fail_msg("netd's worker did not answer a ping while it opened a FIFO");
}

/* Item 5: a cafile far larger than any trust store is refused at once
 * ("limit" -32006 or -32602), not read. */
static void test_5_cafile_too_big(void **state)
{
    need_fix();
    char big[PATH_MAX];
    path_in(big, "u/huge.pem");
    int fd = open(big, O_CREAT | O_WRONLY | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 64LL << 20), 0); /* sparse: costs no disk */
    close(fd);
    assert_int_equal(chown(big, TRUST_UID, TRUST_UID), 0);
    int port = h_refused_port();
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(h_netd_socket(n));
    long long t0 = h_now_ms();
    json_t *err = NULL, *res = NULL;
    netd_call(
        u, "connect",
        json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", port, "tls", "cafile", big),
        &res, &err);
    assert_null(res);
    int code = netd_error_code(err);
    if (code != -32006 && code != -32602) {
        char *s = json_dumps(err, JSON_COMPACT);
        fail_msg("a 64 MiB cafile: expected -32006 or -32602, got %s", s);
    }
    json_decref(err);
    assert_true(h_now_ms() - t0 < 2000);
}

/* Item 5 for root (its own key) and the other uid (a key of its own, 0600). */
static void test_5_root_tls_files(void **state)
{
    need_root();
    char dir[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
    path_in(dir, "root");
    make_cert(dir, 0600);
    path_in(cert, "root/cert.pem");
    path_in(key, "root/key.pem");
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    free(h_new_handle(root, "listen",
                      json_pack("{s:s,s:i,s:{s:s,s:s}}", "host", "127.0.0.1", "port", 0, "tls",
                                "cert", cert, "key", key)));
    json_decref(h_call(root, "tls-config", json_pack("{s:s}", "cafile", cert)));

    char udir[PATH_MAX], ucert[PATH_MAX], ukey[PATH_MAX];
    path_in(udir, "u/tls");
    assert_int_equal(mkdir(udir, 0700), 0);
    make_cert(udir, 0600);
    path_in(ucert, "u/tls/cert.pem");
    path_in(ukey, "u/tls/key.pem");
    assert_int_equal(chown(udir, TRUST_UID, TRUST_UID) | chown(ucert, TRUST_UID, TRUST_UID) |
                         chown(ukey, TRUST_UID, TRUST_UID),
                     0);
    netd_client *u = user_client(h_netd_socket(n));
    free(h_new_handle(u, "listen",
                      json_pack("{s:s,s:i,s:{s:s,s:s}}", "host", "127.0.0.1", "port", 0, "tls",
                                "cert", ucert, "key", ukey)));
    json_decref(h_call(u, "tls-config", json_pack("{s:s}", "cafile", ucert)));
}

/* ------------------------------------------------------------------ */
/* 6. privileged ports                                                 */

static int unprivileged_start(void)
{
    FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
    int v = 1024;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 1024;
        fclose(f);
    }
    return v;
}

/* 1 if nothing uses TCP or UDP port @port on 127.0.0.1 (bound, not kept). */
static int port_free(int port)
{
    int ok = 1;
    for (int t = 0; t < 2 && ok; t++) {
        struct sockaddr_storage ss;
        socklen_t len = s_inet("127.0.0.1", port, &ss);
        int fd = socket(AF_INET, (t ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
        ok = fd >= 0 && bind(fd, (struct sockaddr *)&ss, len) == 0;
        if (fd >= 0)
            close(fd);
    }
    return ok;
}

/* A free port below the unprivileged start (skips when there is none). */
static int privileged_port(void)
{
    int start = unprivileged_start();
    for (int p = start - 1; p > 0 && p > start - 200; p--)
        if (port_free(p))
            return p;
    print_message("no privileged port to test (ip_unprivileged_port_start is %d); skipped\n",
                  start);
    skip();
    return -1;
}

/* Item 6: listen on a privileged port ("privileged", or EACCES). */
static void test_6_privileged_listen(void **state)
{
    need_fix();
    int p = privileged_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", p);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    refused(u, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", p), ps, "privileged",
            "EACCES");
    refused(u, "listen", json_pack("{s:s,s:s}", "host", "127.0.0.1", "port", ps), ps, "privileged",
            "EACCES");
    refused(u, "listen", json_pack("{s:i}", "port", p), ps, "privileged", "EACCES");
    refused(u, "listen",
            json_pack("{s:s,s:i,s:s}", "host", "127.0.0.1", "port", p, "type", "datagram"), ps,
            "privileged", "EACCES");
    expect_nothing_left(u, pid, fds);
    assert_true(port_free(p));
}

/* Item 6: a privileged source port (bindport) for a connect. */
static void test_6_privileged_bindport(void **state)
{
    need_fix();
    int p = privileged_port();
    char ps[16];
    snprintf(ps, sizeof ps, "%d", p);
    int port, lfd = own_fd(s_tcp_listener("127.0.0.1", &port));
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    refused(u, "connect",
            json_pack("{s:s,s:i,s:s,s:i}", "host", "127.0.0.1", "port", port, "bindhost",
                      "127.0.0.1", "bindport", p),
            ps, "privileged", "EACCES");
    refused(u, "connect",
            json_pack("{s:s,s:i,s:s,s:s}", "host", "127.0.0.1", "port", port, "bindhost",
                      "127.0.0.1", "bindport", ps),
            ps, "privileged", "EACCES");
    refused(u, "connect",
            json_pack("{s:s,s:i,s:s,s:s,s:i}", "host", "127.0.0.1", "port", port, "type",
                      "datagram", "bindhost", "127.0.0.1", "bindport", p),
            ps, "privileged", "EACCES");
    expect_quiet(lfd, "the listener");
    expect_nothing_left(u, pid, fds);
}

/* Item 6 for root (privileged ports) and the other uid (unprivileged ones). */
static void test_6_root_ports(void **state)
{
    need_root();
    int p = privileged_port();
    int port, lfd = own_fd(s_tcp_listener("127.0.0.1", &port));
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    char *l = h_new_handle(root, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", p));
    h_close(root, l);
    free(l);
    free(h_new_handle(root, "connect",
                      json_pack("{s:s,s:i,s:s,s:i}", "host", "127.0.0.1", "port", port, "bindhost",
                                "127.0.0.1", "bindport", p)));
    int afd = s_accept(lfd, 5000);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    assert_int_equal(getpeername(afd, (struct sockaddr *)&ss, &len), 0);
    assert_int_equal(s_port(&ss), p);
    close(afd);

    netd_client *u = user_client(h_netd_socket(n));
    int up = h_free_port();
    free(h_new_handle(u, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", up)));
    int bp = h_free_port();
    free(h_new_handle(u, "connect",
                      json_pack("{s:s,s:i,s:s,s:i}", "host", "127.0.0.1", "port", port, "bindhost",
                                "127.0.0.1", "bindport", bp)));
    close(s_accept(lfd, 5000));
}

/* ------------------------------------------------------------------ */
/* 7. socket files: made and removed only as the caller could          */

struct swap {
    const char *dir, *old, *target;
};

/* As the other uid: its directory moves aside and a symbolic link to
 * @target takes its place. */
static int swap_dir(void *arg)
{
    const struct swap *s = arg;
    if (rename(s->dir, s->old) < 0)
        return errno;
    return symlink(s->target, s->dir) == 0 ? 0 : errno;
}

static int make_user_dir(void *arg)
{
    return mkdir(arg, 0755) == 0 ? 0 : errno;
}

/* Item 7: the caller swaps its directory for a link to a root-only one;
 * close removes nothing there (only its own socket, through the directory
 * netd bound in). */
static void test_7_unlink_symlink_swap(void **state)
{
    need_fix();
    char dir[PATH_MAX], old[PATH_MAX], sock[PATH_MAX], victim[PATH_MAX], moved[PATH_MAX],
        target[PATH_MAX];
    path_in(dir, "u/d");
    path_in(old, "u/d.old");
    path_in(sock, "u/d/l.sock");
    path_in(target, "root");
    path_in(victim, "root/l.sock");
    path_in(moved, "u/d.old/l.sock");
    assert_int_equal(as_user(make_user_dir, dir), 0);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(h_netd_socket(n));
    char *l = h_new_handle(u, "listen", json_pack("{s:s}", "path", sock));
    struct swap sw = {dir, old, target};
    assert_int_equal(as_user(swap_dir, &sw), 0);
    int fd = open(victim, O_CREAT | O_WRONLY | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    h_close(u, l);
    free(l);
    if (access(victim, F_OK) < 0)
        fail_msg("closing the listener removed %s, a file of root's", victim);
    if (access(moved, F_OK) == 0)
        fail_msg("closing the listener left its own socket %s behind", moved);
}

static int replace_with_file(void *arg)
{
    if (unlink(arg) < 0)
        return errno;
    int fd = open(arg, O_CREAT | O_WRONLY | O_EXCL, 0644);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

/* Item 7: a file that took the socket's place is not the file netd made. */
static void test_7_unlink_replaced_file(void **state)
{
    need_fix();
    char sock[PATH_MAX];
    path_in(sock, "u/r.sock");
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(h_netd_socket(n));
    char *l = h_new_handle(u, "listen", json_pack("{s:s}", "path", sock));
    assert_int_equal(as_user(replace_with_file, sock), 0);
    h_close(u, l);
    free(l);
    struct stat st;
    if (stat(sock, &st) < 0 || !S_ISREG(st.st_mode))
        fail_msg("closing the listener removed %s, which is no longer its socket", sock);
}

/* Item 7: no socket file planted in a directory the caller cannot write. */
static void test_7_listen_in_root_dir(void **state)
{
    need_fix();
    char sock[PATH_MAX], dsock[PATH_MAX];
    path_in(sock, "root/planted.sock");
    path_in(dsock, "root/planted-dg.sock");
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    refused(u, "listen", json_pack("{s:s}", "path", sock), sock, NULL, "EACCES");
    refused(u, "listen", json_pack("{s:s,s:s}", "path", dsock, "type", "datagram"), dsock, NULL,
            "EACCES");
    expect_nothing_left(u, pid, fds);
    assert_int_equal(access(sock, F_OK), -1);
    assert_int_equal(access(dsock, F_OK), -1);
}

/* Item 7: release of a unix listener leaves its file, so the descriptor
 * the caller got still takes connections by path (root and the other uid). */
static void test_7_release_keeps_file(void **state)
{
    need_fix();
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *clients[2] = {h_client(n), user_client(h_netd_socket(n))};
    const char *rel[2] = {"root/rel.sock", "u/rel.sock"};
    for (int i = 0; i < 2; i++) {
        char sock[PATH_MAX];
        path_in(sock, rel[i]);
        char *l = h_new_handle(clients[i], "listen", json_pack("{s:s}", "path", sock));
        long long id = h_send(clients[i], "release", json_pack("{s:s}", "handle", l));
        json_decref(h_wait(clients[i], id));
        int lfd = own_fd(netd_client_take_fd(clients[i], id));
        free(l);
        if (access(sock, F_OK) < 0)
            fail_msg("release removed %s", sock);
        int c = try_connect_unix(sock) == 0 ? 0 : -1;
        assert_int_equal(c, 0);
        close(s_accept(lfd, 5000));
    }
}

/* Item 7 for root and the other uid: close removes the file each made. */
static void test_7_root_listen_paths(void **state)
{
    need_root();
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *clients[2] = {h_client(n), user_client(h_netd_socket(n))};
    const char *rel[2] = {"root/mine.sock", "u/mine.sock"};
    for (int i = 0; i < 2; i++) {
        char sock[PATH_MAX];
        path_in(sock, rel[i]);
        char *l = h_new_handle(clients[i], "listen", json_pack("{s:s}", "path", sock));
        struct stat st;
        assert_int_equal(stat(sock, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        h_close(clients[i], l);
        free(l);
        assert_int_equal(access(sock, F_OK), -1);
    }
}

/* ------------------------------------------------------------------ */
/* setsockopt: options the kernel keeps for CAP_NET_ADMIN              */

/* Not in the list, found with it: so-debug needs CAP_NET_ADMIN, so
 * the other uid's own setsockopt fails with EACCES, and through netd it
 * must too (netd sets it as the caller, or refuses it). */
static void test_10_setsockopt_capability(void **state)
{
    need_fix();
    int port, lfd = own_fd(s_tcp_listener("127.0.0.1", &port));
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *u = user_client(h_netd_socket(n));
    char *h = h_connect(u, "127.0.0.1", port);
    close(s_accept(lfd, 5000));
    refused(u, "setsockopt",
            json_pack("{s:s,s:s,s:b}", "handle", h, "option", "so-debug", "value", 1), "so-debug",
            NULL, "EACCES");
    json_t *v = n_getopt(u, h, "so-debug");
    assert_true(json_is_false(v));
    json_decref(v);
    free(h);
}

/* Root sets so-debug through netd as it could itself. */
static void test_10_root_setsockopt(void **state)
{
    need_root();
    int port, lfd = own_fd(s_tcp_listener("127.0.0.1", &port));
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    char *h = h_connect(root, "127.0.0.1", port);
    close(s_accept(lfd, 5000));
    n_setopt(root, h, "so-debug", json_true());
    json_t *v = n_getopt(root, h, "so-debug");
    assert_true(json_is_true(v));
    json_decref(v);
    free(h);
}

/* ------------------------------------------------------------------ */
/* 8. stats                                                            */

static json_t *stats_of(netd_client *c)
{
    return h_call(c, "stats", NULL);
}

/* Item 8: the other uid sees its own figures, not root's. */
static void test_8_stats_per_uid(void **state)
{
    need_fix();
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    char big[1000];
    memset(big, 'r', sizeof big);
    char *rh = h_connect(root, h_peer_host(echo), h_peer_port(echo));
    h_write(root, rh, big, sizeof big);
    h_read_expect(root, rh, big, sizeof big, 10.0);

    netd_client *u = user_client(h_netd_socket(n));
    json_t *s = stats_of(u);
    assert_int_equal(h_int(s, "bytes_in"), 0);
    assert_int_equal(h_int(s, "bytes_out"), 0);
    assert_int_equal(h_int(json_object_get(s, "handles"), "total"), 0);
    assert_int_equal(h_int(s, "connections"), 1);
    json_decref(s);
    char *uh = h_connect(u, h_peer_host(echo), h_peer_port(echo));
    h_write(u, uh, "0123456789", 10);
    h_read_expect(u, uh, "0123456789", 10, 10.0);
    s = stats_of(u);
    assert_int_equal(h_int(s, "bytes_in"), 10);
    assert_int_equal(h_int(s, "bytes_out"), 10);
    assert_int_equal(h_int(json_object_get(s, "handles"), "stream"), 1);
    json_decref(s);
    free(uh);
    free(rh);
}

/* Item 8 for root: the daemon's figures, the other uid's included. */
static void test_8_root_stats(void **state)
{
    need_root();
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    char *uh = h_connect(u, h_peer_host(echo), h_peer_port(echo));
    h_write(u, uh, "0123456789", 10);
    h_read_expect(u, uh, "0123456789", 10, 10.0);
    json_t *s = stats_of(root);
    assert_true(h_int(s, "bytes_in") >= 10);
    assert_true(h_int(s, "bytes_out") >= 10);
    assert_int_equal(h_int(json_object_get(s, "handles"), "stream"), 1);
    assert_true(h_int(s, "connections") >= 2);
    json_decref(s);
    free(uh);
}

/* ------------------------------------------------------------------ */
/* 9. ports and paths, strictly                                        */

/* Ports that are not an integer 0..65535 or a service name. */
static json_t *bad_ports(void)
{
    return json_pack("[s,s,s,s,s,s,s,s,s,s,s,I,i,f,b]", "65537", "72543", "65536", "-1", "1e3",
                     " 80", "80 ", "0x50", "", "80abc", "+80", (json_int_t)65536, -1, 80.5, 1);
}

/* Item 9: every place a port is taken answers -32602 for each bad port,
 * for root as for anyone; nothing listens on the port a wrapped value
 * would have meant, and a connect to one goes nowhere. */
static void test_9_port_strings(void **state)
{
    need_root(); /* fixed in proto/: runs always */
    int port, lfd = own_fd(s_tcp_listener("127.0.0.1", &port));
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    pid_t pid = n_pid(root);
    int fds = netd_fds(pid);
    char *d = h_new_handle(
        root, "listen",
        json_pack("{s:s,s:i,s:s}", "host", "127.0.0.1", "port", 0, "type", "datagram"));
    json_t *ports = bad_ports();
    char wrapped[16];
    snprintf(wrapped, sizeof wrapped, "%d", port + 65536);
    json_array_append_new(ports, json_string(wrapped));
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        json_decref(h_call_err(root, "listen",
                               json_pack("{s:s,s:O}", "host", "127.0.0.1", "port", p), -32602));
        json_decref(h_call_err(root, "connect",
                               json_pack("{s:s,s:O}", "host", "127.0.0.1", "port", p), -32602));
        json_decref(h_call_err(root, "address",
                               json_pack("{s:s,s:O}", "host", "127.0.0.1", "port", p), -32602));
        json_decref(h_call_err(
            root, "connect",
            json_pack("{s:s,s:i,s:O}", "host", "127.0.0.1", "port", port, "bindport", p), -32602));
        json_decref(h_call_err(root, "send-to",
                               json_pack("{s:s,s:{s:s,s:O},s:s,s:s}", "handle", d, "dest", "host",
                                         "127.0.0.1", "port", p, "data", "x", "encoding", "utf8"),
                               -32602));
    }
    json_decref(ports);
    expect_quiet(lfd, "the listener (a wrapped port)");
    assert_true(port_free(1));
    h_close(root, d);
    free(d);
    expect_nothing_left(root, pid, fds);
}

/* Item 9: valid ports as strings and service names keep working. */
static void test_9_root_valid_ports(void **state)
{
    need_root();
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    char *a =
        h_new_handle(root, "address", json_pack("{s:s,s:s}", "host", "127.0.0.1", "port", "8080"));
    json_t *r = h_call(root, "address-unpack", json_pack("{s:s}", "handle", a));
    assert_int_equal(h_int(r, "port"), 8080);
    json_decref(r);
    free(a);
    a = h_new_handle(root, "address", json_pack("{s:s,s:s}", "host", "127.0.0.1", "port", "http"));
    r = h_call(root, "address-unpack", json_pack("{s:s}", "handle", a));
    assert_int_equal(h_int(r, "port"), 80);
    json_decref(r);
    free(a);
    char *l =
        h_new_handle(root, "listen", json_pack("{s:s,s:s}", "host", "127.0.0.1", "port", "0"));
    assert_true(n_local_port(root, l) > 0);
    free(l);
    l = h_new_handle(root, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 65535));
    free(l);
}

/* Item 9: relative paths are -32602 wherever a path is taken; nothing
 * appears in netd's working directory. */
static void test_9_relative_paths(void **state)
{
    need_root(); /* fixed in proto/: runs always */
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    netd_client *root = h_client(n);
    netd_client *u = user_client(h_netd_socket(n));
    pid_t pid = n_pid(root);
    char cwdfile[64];
    snprintf(cwdfile, sizeof cwdfile, "/proc/%d/cwd/netd-trust-rel.sock", (int)pid);
    unlink(cwdfile);
    char *d = h_new_handle(
        root, "listen",
        json_pack("{s:s,s:i,s:s}", "host", "127.0.0.1", "port", 0, "type", "datagram"));
    int port = h_refused_port();
    netd_client *who[2] = {root, u};
    const char *rel = "netd-trust-rel.sock";
    for (int k = 0; k < 2; k++) {
        netd_client *c = who[k];
        json_decref(h_call_err(c, "listen", json_pack("{s:s}", "path", rel), -32602));
        json_decref(h_call_err(c, "connect", json_pack("{s:s}", "path", rel), -32602));
        json_decref(h_call_err(c, "address", json_pack("{s:s}", "path", rel), -32602));
        json_decref(h_call_err(c, "listen", json_pack("{s:s}", "path", "./x.sock"), -32602));
        json_decref(h_call_err(c, "connect",
                               json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", port,
                                         "tls", "cafile", "ca.pem"),
                               -32602));
        json_decref(h_call_err(c, "connect",
                               json_pack("{s:s,s:i,s:{s:s}}", "host", "127.0.0.1", "port", port,
                                         "tls", "capath", "certs"),
                               -32602));
        json_decref(h_call_err(c, "listen",
                               json_pack("{s:s,s:i,s:{s:s,s:s}}", "host", "127.0.0.1", "port", 0,
                                         "tls", "cert", "cert.pem", "key", "/etc/key.pem"),
                               -32602));
        json_decref(h_call_err(c, "listen",
                               json_pack("{s:s,s:i,s:{s:s,s:s}}", "host", "127.0.0.1", "port", 0,
                                         "tls", "cert", "/etc/cert.pem", "key", "key.pem"),
                               -32602));
        json_decref(h_call_err(c, "tls-config", json_pack("{s:s}", "cafile", "ca.pem"), -32602));
        json_decref(h_call_err(c, "tls-config", json_pack("{s:s}", "capath", "certs"), -32602));
    }
    json_decref(h_call_err(root, "send-to",
                           json_pack("{s:s,s:{s:s},s:s,s:s}", "handle", d, "dest", "path", rel,
                                     "data", "x", "encoding", "utf8"),
                           -32602));
    int there = access(cwdfile, F_OK) == 0;
    unlink(cwdfile);
    if (there)
        fail_msg("a relative path made a socket in netd's working directory");
    free(d);
}

/* Runs netctl in @cwd with @args (NULL-terminated); its stdout and stderr
 * together go to @out (NUL-terminated). Returns its exit status. */
static int netctl_in(const char *cwd, const char *const *args, char *out, size_t n)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        if (chdir(cwd) < 0)
            _exit(126);
        const char *argv[16] = {NETCTL_BIN};
        for (int i = 0; args[i] && i < 14; i++)
            argv[i + 1] = args[i];
        execv(NETCTL_BIN, (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t k;
    while (got + 1 < n && (k = read(pfd[0], out + got, n - 1 - got)) > 0)
        got += (size_t)k;
    out[got] = '\0';
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Item 9: netctl makes the paths it is given absolute, in its own working
 * directory, so netd (whose working directory is another) takes them. */
static void test_9_netctl_relative_paths(void **state)
{
    need_root();
    char cwd[PATH_MAX], sock[PATH_MAX], ca[PATH_MAX], out[4096];
    path_in(cwd, "cwd");
    assert_int_equal(mkdir(cwd, 0755), 0);
    path_in(sock, "cwd/rel.sock");
    path_in(ca, "cwd/ca.pem");
    struct netd_proc *n = h_netd_start(ALLOW_ARGS);
    const char *listen[] = {"--socket", h_netd_socket(n), "listen", "--unix", "rel.sock", NULL};
    if (netctl_in(cwd, listen, out, sizeof out) != 0)
        fail_msg("netctl listen --unix rel.sock failed: %s", out);
    struct stat st;
    if (stat(sock, &st) < 0 || !S_ISSOCK(st.st_mode))
        fail_msg("netctl listen --unix rel.sock did not make %s: %s", sock, out);
    const char *conn[] = {"--socket", h_netd_socket(n), "connect", "--unix", "./rel.sock", NULL};
    if (netctl_in(cwd, conn, out, sizeof out) != 0)
        fail_msg("netctl connect --unix ./rel.sock failed: %s", out);
    /* A relative --cafile reaches netd as the absolute path, which it names. */
    char port[16];
    snprintf(port, sizeof port, "%d", h_refused_port());
    const char *tls[] = {"--socket", h_netd_socket(n), "connect", "--cafile",
                         "ca.pem",   "127.0.0.1",      port,      NULL};
    assert_int_not_equal(netctl_in(cwd, tls, out, sizeof out), 0);
    if (!strstr(out, ca) || strstr(out, "absolute"))
        fail_msg("netctl connect --cafile ca.pem: expected netd to name %s: %s", ca, out);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, trust_setup, trust_teardown)
    const struct CMUnitTest tests[] = {
        T(test_1_self_connect_abstract),
        T(test_1_self_connect_path_inode),
        T(test_1_assign_own_control),
        T(test_1_root_other_netd),
        T(test_2_unix_root_only),
        T(test_2_unix_peer_sees_caller),
        T(test_2_root_unix),
        T(test_2_every_group),
        T(test_3_abstract_refused),
        T(test_3_root_abstract),
        T(test_4_reuseport_tcp),
        T(test_4_reuseport_udp),
        T(test_4_root_reuseport),
        T(test_5_tls_key_root_only),
        T(test_5_cafile_oracle),
        T(test_5_cafile_fifo),
        T(test_5_cafile_too_big),
        T(test_5_root_tls_files),
        T(test_6_privileged_listen),
        T(test_6_privileged_bindport),
        T(test_6_root_ports),
        T(test_7_unlink_symlink_swap),
        T(test_7_unlink_replaced_file),
        T(test_7_listen_in_root_dir),
        T(test_7_release_keeps_file),
        T(test_7_root_listen_paths),
        T(test_10_setsockopt_capability),
        T(test_10_root_setsockopt),
        T(test_8_stats_per_uid),
        T(test_8_root_stats),
        T(test_9_port_strings),
        T(test_9_root_valid_ports),
        T(test_9_relative_paths),
        T(test_9_netctl_relative_paths),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
