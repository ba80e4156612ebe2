/*
 * test_loop.c - accept-loop and server through a real netd with real TCP
 * and unix clients: `accepted` notifications, the loop's answer when the
 * listener closes, `closed` notifications for looped and kept streams that
 * end on their own, and a client that does not read its notifications:
 * netd stops accepting instead of growing, and loses no connection.
 *
 * Janet: net/accept-loop, net/server. Pragtical: net.create_server.
 */
#include <fcntl.h>
#include <sys/resource.h>

#include "sockets.h"

/* The params of the next notification, which must be @method (new reference). */
static json_t *next_note(netd_client *c, const char *method, int timeout_ms)
{
    json_t *note = NULL;
    if (netd_client_notification(c, timeout_ms, &note) < 0)
        fail_msg("no \"%s\" notification within %d ms: %s", method, timeout_ms, strerror(errno));
    const char *m = json_string_value(json_object_get(note, "method"));
    if (!m || strcmp(m, method) != 0) {
        char *s = json_dumps(note, JSON_COMPACT);
        print_error("expected a \"%s\" notification, got %s\n", method, s);
        free(s);
        fail();
    }
    assert_null(json_object_get(note, "id"));
    json_t *params = json_incref(json_object_get(note, "params"));
    json_decref(note);
    return params;
}

/* Expects no notification within @ms. */
static void expect_no_note(netd_client *c, int ms)
{
    json_t *note = NULL;
    if (netd_client_notification(c, ms, &note) == 0) {
        char *s = json_dumps(note, JSON_COMPACT);
        print_error("unexpected notification %s\n", s);
        free(s);
        fail();
    }
}

/* An `accepted` notification of listener @l from a TCP client on @port:
 * returns the new handle (malloc'd). */
static char *expect_accepted(netd_client *c, const char *l, int port)
{
    json_t *p = next_note(c, "accepted", 10000);
    h_expect_str(p, "listener", l);
    const json_t *peer = json_object_get(p, "peer");
    h_expect_str(peer, "family", "inet");
    h_expect_str(peer, "host", "127.0.0.1");
    if (port)
        assert_int_equal(h_int(peer, "port"), port);
    char *h = strdup(h_str(p, "handle"));
    json_decref(p);
    return h;
}

static void test_accept_loop(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    int port = n_local_port(c, l);
    long long loop = h_send(c, "accept-loop", json_pack("{s:s}", "handle", l));
    for (int i = 0; i < 3; i++) {
        int fd = s_tcp_connect("127.0.0.1", port);
        char *h = expect_accepted(c, l, s_local_port(fd));
        char msg[32];
        int len = snprintf(msg, sizeof msg, "client %d", i);
        h_plain_write(fd, msg, (size_t)len);
        h_read_expect(c, h, msg, (size_t)len, 10);
        h_write(c, h, "welcome", 7);
        h_plain_read_expect(fd, "welcome", 7, 5000);
        json_t *st = n_status(c, h);
        h_expect_str(st, "kind", "stream");
        json_decref(st);
        /* A looped stream that ends on its own is announced too. */
        close(fd);
        json_t *p = next_note(c, "closed", 10000);
        h_expect_str(p, "handle", h);
        json_decref(p);
        h_close(c, h);
        free(h);
    }
    /* The loop is answered with the listener's handle when it closes. */
    json_t *res = NULL;
    assert_int_equal(netd_client_wait(c, loop, 200, &res, NULL), -1);
    h_close(c, l);
    res = h_wait(c, loop);
    h_expect_str(res, "handle", l);
    json_decref(res);
    free(l);
}

/* server: listen and accept-loop in one call, answered at once; over TCP
 * and on a unix path. */
static void test_server(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "server", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    json_t *st = n_status(c, l);
    h_expect_str(st, "kind", "listener");
    json_decref(st);
    int fd = s_tcp_connect("127.0.0.1", n_local_port(c, l));
    char *h = expect_accepted(c, l, s_local_port(fd));
    h_write(c, h, "served", 6);
    h_plain_read_expect(fd, "served", 6, 5000);
    /* Closed by its client: no notification, the peer sees the end. */
    h_close(c, h);
    char b;
    assert_true(s_ready(fd, POLLIN, 5000) && recv(fd, &b, 1, 0) == 0);
    close(fd);
    expect_no_note(c, 200);
    free(h);
    free(l);

    char path[108];
    s_unix_name(path, sizeof path, 0);
    l = h_new_handle(c, "server", json_pack("{s:s}", "path", path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t len = s_unix(path, &ss);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    json_t *p = next_note(c, "accepted", 10000);
    h_expect_str(p, "listener", l);
    h_expect_str(json_object_get(p, "peer"), "family", "unix");
    h_plain_write(fd, "over unix", 9);
    h_read_expect(c, h_str(p, "handle"), "over unix", 9, 10);
    json_decref(p);
    close(fd);
    h_close(c, l);
    free(l);
}

/* One loop per listener; loops only on listeners; a waiting accept goes first. */
static void test_loop_rules(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    int port = n_local_port(c, l);
    long long acc = h_send(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 30.0));
    long long loop = h_send(c, "accept-loop", json_pack("{s:s}", "handle", l));
    json_decref(h_call_err(c, "accept-loop", json_pack("{s:s}", "handle", l), -32602));
    int first = s_tcp_connect("127.0.0.1", port);
    json_t *r = h_wait(c, acc);
    char *h1 = strdup(h_str(r, "handle"));
    json_decref(r);
    int second = s_tcp_connect("127.0.0.1", port);
    char *h2 = expect_accepted(c, l, s_local_port(second));
    assert_string_not_equal(h1, h2);
    expect_no_note(c, 200); /* the first went to accept only */

    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char *s = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    json_t *e = h_call_err(c, "accept-loop", json_pack("{s:s}", "handle", s), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "stream");
    json_decref(e);
    h_close(c, l);
    json_decref(h_wait(c, loop));
    close(first);
    close(second);
    free(s);
    free(h2);
    free(h1);
    free(l);
}

/* `closed` for looped streams that end on their own: the client's FIN (the
 * last bytes stay readable) and its reset. */
static void test_closed_looped(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "server", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    int port = n_local_port(c, l);

    int fd = s_tcp_connect("127.0.0.1", port);
    char *h = expect_accepted(c, l, s_local_port(fd));
    h_plain_write(fd, "last words", 10);
    close(fd);
    json_t *p = next_note(c, "closed", 10000);
    h_expect_str(p, "handle", h);
    h_expect_str(p, "reason", "eof");
    json_decref(p);
    h_read_expect(c, h, "last words", 10, 10);
    size_t k;
    int eof;
    free(h_read(c, h, 10, &k, &eof));
    assert_int_equal(k, 0);
    assert_true(eof);
    json_t *st = n_status(c, h); /* still a handle until the client closes it */
    h_expect_str(st, "handle", h);
    json_decref(st);
    h_close(c, h);
    free(h);

    fd = s_tcp_connect("127.0.0.1", port);
    h = expect_accepted(c, l, s_local_port(fd));
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd); /* a reset */
    p = next_note(c, "closed", 10000);
    h_expect_str(p, "handle", h);
    h_expect_str(p, "reason", "ECONNRESET");
    json_decref(p);
    expect_no_note(c, 200); /* told once */
    free(h);
    free(l);
}

/* `closed` for a kept stream; none for a plain one, whose client asks. */
static void test_closed_kept(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *kept = h_new_handle(
        c, "connect", json_pack("{s:s, s:i, s:b}", "host", "127.0.0.1", "port", port, "keep", 1));
    int kfd = s_accept(lfd, 5000);
    char *plain = h_connect(c, "127.0.0.1", port);
    int pfd = s_accept(lfd, 5000);
    close(pfd);
    expect_no_note(c, 300);
    close(kfd);
    json_t *p = next_note(c, "closed", 10000);
    h_expect_str(p, "handle", kept);
    h_expect_str(p, "reason", "eof");
    json_decref(p);
    h_close(c, kept);
    close(lfd);
    free(plain);
    free(kept);
}

/* A kept server outlives its client; another connection of the uid takes
 * over the loop and gets the connections that waited meanwhile. */
static void test_kept_server_new_loop(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *a = h_client(n);
    char *l = h_new_handle(a, "server",
                           json_pack("{s:s, s:i, s:b}", "host", "127.0.0.1", "port", 0, "keep", 1));
    int port = n_local_port(a, l);
    h_client_free(a);
    h_sleep_ms(100);
    int fd = s_tcp_connect("127.0.0.1", port); /* waits in the kernel's backlog */
    netd_client *b = h_client(n);
    long long loop = h_send(b, "accept-loop", json_pack("{s:s}", "handle", l));
    char *h = expect_accepted(b, l, s_local_port(fd));
    h_plain_write(fd, "waited", 6);
    h_read_expect(b, h, "waited", 6, 10);
    h_close(b, l);
    json_decref(h_wait(b, loop));
    close(fd);
    free(h);
    free(l);
}

/* Makes sure this process may open @need descriptors; 0, or -1 if it cannot. */
static int fds_allow(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur >= need)
        return 0;
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
    return rl.rlim_cur >= need ? 0 : -1;
}

/* Opens @n non-blocking connections to 127.0.0.1:@port into @fds. */
static void open_clients(int *fds, int n, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = s_inet("127.0.0.1", port, &ss);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fds[i] < 0)
            fail_msg("socket: %s", strerror(errno));
        if (connect(fds[i], (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
            fail_msg("connect: %s", strerror(errno));
    }
}

/* stats.handles.stream once it has not moved for half a second. */
static long long settled_streams(netd_client *c)
{
    long long last = -1, now = n_stats_handles(c, "stream");
    while (now != last) {
        h_sleep_ms(500);
        last = now;
        now = n_stats_handles(c, "stream");
    }
    return now;
}

/*
 * A client that asks for `server` and then reads nothing: netd writes
 * `accepted` notifications until the control socket is full, keeps at most
 * 64 more per listener, and then stops accepting; connections wait in the
 * kernel's backlog. netd's RSS stays put while more clients arrive, and once
 * the client reads, every connection is announced.
 */
static void test_unread_notifications_bounded(void **state)
{
    enum { STEP = 500, MAX = 4000 };
    if (fds_allow(2 * MAX + 256) < 0) {
        print_message("skipped: cannot open %d descriptors here (RLIMIT_NOFILE)\n", 2 * MAX);
        skip();
    }
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *mute = h_client(n), *watch = h_client(n);
    char *l =
        h_new_handle(mute, "server",
                     json_pack("{s:s, s:i, s:i}", "host", "127.0.0.1", "port", 0, "backlog", 4096));
    int port = n_local_port(mute, l);
    pid_t pid = n_pid(watch);
    long rss0 = s_rss_kib(pid);
    int *fds = malloc(MAX * sizeof *fds);
    int opened = 0;
    long long accepted = 0;
    /* Open clients until netd stops accepting while we do not read. */
    while (opened < MAX) {
        open_clients(fds + opened, STEP, port);
        opened += STEP;
        accepted = settled_streams(watch);
        if (accepted < opened)
            break;
    }
    if (accepted >= opened)
        fail_msg("netd accepted all %d connections for a client that reads nothing", opened);
    long rss1 = s_rss_kib(pid);
    /* More clients now only queue in the kernel: netd neither accepts nor grows. */
    int more = opened + STEP <= MAX ? STEP : MAX - opened;
    open_clients(fds + opened, more, port);
    opened += more;
    assert_int_equal(settled_streams(watch), accepted);
    long rss2 = s_rss_kib(pid);
    print_message("paused at %lld of %d connections; netd RSS %ld -> %ld -> %ld KiB\n", accepted,
                  opened, rss0, rss1, rss2);
    if (S_SANITIZED) {
        print_message("RSS bounds not checked: a sanitizer build keeps freed memory\n");
    } else {
        assert_true(rss2 - rss1 < 4 * 1024);
        assert_true(rss2 - rss0 < 64 * 1024);
    }

    /* The client reads: every connection is announced, once, none lost. */
    json_t *seen = json_object();
    for (int i = 0; i < opened; i++) {
        json_t *p = next_note(mute, "accepted", 30000);
        h_expect_str(p, "listener", l);
        const char *h = h_str(p, "handle");
        assert_null(json_object_get(seen, h));
        json_object_set_new(seen, h, json_true());
        json_decref(p);
    }
    assert_int_equal(json_object_size(seen), opened);
    assert_int_equal(n_stats_handles(watch, "stream"), opened);
    json_decref(seen);
    for (int i = 0; i < opened; i++)
        close(fds[i]);
    free(fds);
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_accept_loop, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_server, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_loop_rules, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_closed_looped, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_closed_kept, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_kept_server_new_loop, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_unread_notifications_bounded, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
