/*
 * test_fdpass.c - sockets that leave netd or come into it as descriptors,
 * and socket pairs, through a real netd: `release` hands the descriptor to
 * the caller with SCM_RIGHTS and the socket keeps working there; `assign`
 * makes a handle of a descriptor the caller passes, its kind read from the
 * socket, and it works through netd; `pair` gives two connected handles.
 *
 * Emilua: release, assign. lua-net: stream.pair, sock:fd.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "sockets.h"

/* release {handle}: expects {} and returns the descriptor that came with it. */
static int release_fd(netd_client *c, const char *h)
{
    long long id = h_send(c, "release", json_pack("{s:s}", "handle", h));
    json_t *r = h_wait(c, id);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    int fd = netd_client_take_fd(c, id);
    if (fd < 0)
        fail_msg("no descriptor came with the answer to release: %s", strerror(errno));
    return fd;
}

/* assign {} with @fd attached; returns the new handle (malloc'd). */
static char *assign_fd(netd_client *c, int fd, json_t *params)
{
    long long id = netd_client_send_fd(c, "assign", params, fd);
    if (id <= 0)
        fail_msg("sending assign failed: %s", strerror(errno));
    json_t *r = h_wait(c, id);
    char *h = strdup(h_str(r, "handle"));
    json_decref(r);
    return h;
}

static void expect_kind(netd_client *c, const char *h, const char *kind)
{
    json_t *st = n_status(c, h);
    h_expect_str(st, "kind", kind);
    h_expect_str(st, "state", "success");
    json_decref(st);
}

/* A released stream keeps its connection, blocking, and netd holds no copy. */
static void test_release_stream(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *h = h_connect(c, "127.0.0.1", port);
    int peer = s_accept(lfd, 5000);
    int local = n_local_port(c, h);
    h_write(c, h, "before", 6);
    h_plain_read_expect(peer, "before", 6, 5000);

    int fd = release_fd(c, h);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(s_local_port(fd), local);
    json_decref(h_call_err(c, "status", json_pack("{s:s}", "handle", h), -32002));
    assert_int_equal(n_stats_handles(c, "stream"), 0);

    h_plain_write(fd, "after", 5);
    h_plain_read_expect(peer, "after", 5, 5000);
    h_plain_write(peer, "back", 4);
    h_plain_read_expect(fd, "back", 4, 5000);
    /* Our close is the last: the peer sees the end, so netd kept no copy. */
    close(fd);
    char b;
    assert_true(s_ready(peer, POLLIN, 5000));
    assert_int_equal(recv(peer, &b, 1, 0), 0);
    close(peer);
    close(lfd);
    free(h);
}

/* Released listeners and datagram sockets work in this process too. */
static void test_release_listener_and_datagram(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    int port = n_local_port(c, l);
    int lfd = release_fd(c, l);
    int cfd = s_tcp_connect("127.0.0.1", port);
    int afd = s_accept(lfd, 5000);
    h_plain_write(cfd, "accepted here", 13);
    h_plain_read_expect(afd, "accepted here", 13, 5000);
    close(afd);
    close(cfd);
    close(lfd);

    char *d = h_new_handle(
        c, "listen",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", 0, "type", "datagram"));
    int dport = n_local_port(c, d);
    int dfd = release_fd(c, d);
    int pport, peer = s_udp("127.0.0.1", &pport);
    s_sendto_inet(peer, "to released", 11, "127.0.0.1", dport);
    s_expect_dgram(dfd, "to released", 5000);
    s_sendto_inet(dfd, "from released", 13, "127.0.0.1", pport);
    s_expect_dgram(peer, "from released", 5000);
    close(peer);
    close(dfd);
    assert_int_equal(n_stats_handles(c, "total"), 0);
    free(d);
    free(l);
}

/* release refuses while netd holds bytes of the stream; a waiting read is aborted. */
static void test_release_refused(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *h = h_connect(c, "127.0.0.1", port);
    int peer = s_accept(lfd, 5000);
    h_plain_write(peer, "0123456789", 10);
    h_read_expect(c, h, "012", 3, 10); /* netd read ahead: 7 bytes wait in it */
    json_t *st = n_status(c, h);
    assert_true(h_int(st, "readable") >= 7);
    json_decref(st);
    json_decref(h_call_err(c, "release", json_pack("{s:s}", "handle", h), -32602));
    h_read_expect(c, h, "3456789", 7, 10);

    long long rd = h_send(c, "read", json_pack("{s:s, s:i}", "handle", h, "nbytes", 5));
    int fd = release_fd(c, h);
    json_decref(h_wait_err(c, rd, -32004));
    h_plain_write(peer, "kept", 4);
    h_plain_read_expect(fd, "kept", 4, 5000);
    close(fd);

    char *a = h_new_handle(c, "address", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 9));
    json_t *e = h_call_err(c, "release", json_pack("{s:s}", "handle", a), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "address");
    json_decref(e);
    json_decref(h_call_err(c, "release", json_pack("{s:s}", "handle", "h0.fffff"), -32002));
    close(peer);
    close(lfd);
    free(a);
    free(h);
}

/* Bytes a partial write accepted but could not send yet also block release. */
static void test_release_refused_pending(void **state)
{
    static const char *const args[] = {"--max-buffer", "65536", NULL};
    struct netd_proc *n = h_netd_start(args);
    netd_client *c = h_client(n);
    struct peer *hole = h_peer_tcp(PEER_BLACKHOLE, AF_INET, NULL, 0);
    char *h = h_connect(c, h_peer_host(hole), h_peer_port(hole));
    unsigned char *zero = calloc(1, 65536);
    char *b64 = h_base64(zero, 65536);
    free(zero);
    long long w = -1;
    for (int i = 0; i < 4096 && w != 0; i++) {
        json_t *r = h_call(c, "write",
                           json_pack("{s:s, s:s, s:b}", "handle", h, "data", b64, "partial", 1));
        w = h_int(r, "written");
        json_decref(r);
    }
    assert_int_equal(w, 0);
    json_decref(h_call_err(c, "release", json_pack("{s:s}", "handle", h), -32602));
    free(b64);
    free(h);
}

/* A TLS stream's session lives in netd: release is wrong kind "tls". */
static void test_release_tls_refused(void **state)
{
    char dir[PATH_MAX], cert[PATH_MAX + 16], key[PATH_MAX + 16];
    if (s_self_signed(dir, sizeof dir) < 0) {
        print_message("skipped: the openssl command cannot make a test certificate here\n");
        skip();
    }
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "server",
                           json_pack("{s:s, s:i, s:{s:s, s:s}}", "host", "127.0.0.1", "port", 0,
                                     "tls", "cert", cert, "key", key));
    char *t = h_new_handle(c, "connect",
                           json_pack("{s:s, s:i, s:{s:s, s:s}, s:f}", "host", "127.0.0.1", "port",
                                     n_local_port(c, l), "tls", "cafile", cert, "servername",
                                     "localhost", "timeout", 20.0));
    json_t *e = h_call_err(c, "release", json_pack("{s:s}", "handle", t), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "tls");
    json_decref(e);
    s_self_signed_free(dir);
    free(t);
    free(l);
}

/* A connected TCP socket of ours becomes a netd stream. */
static void test_assign_stream(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    int mine = s_tcp_connect("127.0.0.1", port);
    int peer = s_accept(lfd, 5000);
    char *h = assign_fd(c, mine, NULL);
    close(mine); /* netd has its own copy now */
    expect_kind(c, h, "stream");
    json_t *r = h_call(c, "peername", json_pack("{s:s}", "handle", h));
    assert_int_equal(h_int(r, "port"), port);
    json_decref(r);
    h_write(c, h, "via netd", 8);
    h_plain_read_expect(peer, "via netd", 8, 5000);
    h_plain_write(peer, "to netd", 7);
    h_read_expect(c, h, "to netd", 7, 10);
    /* It is netd's socket in every way: options, shutdown, close. */
    n_setopt(c, h, "tcp-nodelay", json_true());
    json_t *v = n_getopt(c, h, "tcp-nodelay");
    assert_true(json_is_true(v));
    json_decref(v);
    h_close(c, h);
    char b;
    assert_true(s_ready(peer, POLLIN, 5000));
    assert_int_equal(recv(peer, &b, 1, 0), 0);
    close(peer);
    close(lfd);
    free(h);
}

/* A listening socket of ours becomes a netd listener (SO_ACCEPTCONN). */
static void test_assign_listener(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *l = assign_fd(c, lfd, json_pack("{s:b}", "keep", 1));
    close(lfd);
    expect_kind(c, l, "listener");
    json_t *st = n_status(c, l);
    assert_true(json_is_true(json_object_get(st, "kept")));
    json_decref(st);
    int cfd = s_tcp_connect("127.0.0.1", port);
    char *h = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
    h_plain_write(cfd, "hello listener", 14);
    h_read_expect(c, h, "hello listener", 14, 10);
    close(cfd);
    h_close(c, l);
    free(h);
    free(l);
}

/* A bound UDP socket of ours, and one end of a unix socketpair. */
static void test_assign_datagram_and_unix(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int uport, u = s_udp("127.0.0.1", &uport);
    char *d = assign_fd(c, u, NULL);
    close(u);
    expect_kind(c, d, "datagram");
    int pport, peer = s_udp("127.0.0.1", &pport);
    s_sendto_inet(peer, "assigned", 8, "127.0.0.1", uport);
    json_t *r = n_recv_from(c, d, 100);
    n_expect_data(r, "assigned");
    json_decref(r);
    n_send_to(c, d, n_inet("127.0.0.1", pport), "answer");
    s_expect_dgram(peer, "answer", 5000);
    close(peer);

    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char *s = assign_fd(c, sv[0], NULL);
    close(sv[0]);
    expect_kind(c, s, "stream");
    h_write(c, s, "pair end", 8);
    h_plain_read_expect(sv[1], "pair end", 8, 5000);
    h_plain_write(sv[1], "other end", 9);
    h_read_expect(c, s, "other end", 9, 10);
    close(sv[1]);
    free(s);
    free(d);
}

static void test_assign_refused(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    /* No descriptor at all. */
    json_decref(h_call_err(c, "assign", NULL, -32602));
    /* A pipe is not a socket. */
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    long long id = netd_client_send_fd(c, "assign", NULL, p[0]);
    json_decref(h_wait_err(c, id, -32602));
    close(p[0]);
    close(p[1]);
    /* A socket that is neither stream nor datagram. */
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp), 0);
    id = netd_client_send_fd(c, "assign", NULL, sp[0]);
    json_t *e = h_wait_err(c, id, -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "other");
    json_decref(e);
    close(sp[0]);
    close(sp[1]);
    assert_int_equal(n_stats_handles(c, "total"), 0);
    json_decref(h_call(c, "ping", NULL)); /* and the connection is fine */
}

/* Out of netd and back in, on another control connection, mid-conversation. */
static void test_release_then_assign(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *a = h_client(n), *b = h_client(n);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char *h = h_connect(a, h_peer_host(echo), h_peer_port(echo));
    h_write(a, h, "first", 5);
    h_read_expect(a, h, "first", 5, 10);
    int fd = release_fd(a, h);
    char *h2 = assign_fd(b, fd, NULL);
    close(fd);
    h_write(b, h2, "second", 6);
    h_read_expect(b, h2, "second", 6, 10);
    assert_int_equal(h_peer_accepted(echo), 1); /* the same connection all along */
    free(h2);
    free(h);
}

/* pair: two connected stream handles, and datagram ones that keep boundaries. */
static void test_pair(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    json_t *r = h_call(c, "pair", NULL);
    json_t *hs = json_object_get(r, "handles");
    assert_int_equal(json_array_size(hs), 2);
    const char *a = json_string_value(json_array_get(hs, 0));
    const char *b = json_string_value(json_array_get(hs, 1));
    expect_kind(c, a, "stream");
    h_write(c, a, "a to b", 6);
    h_read_expect(c, b, "a to b", 6, 10);
    h_write(c, b, "b to a", 6);
    h_read_expect(c, a, "b to a", 6, 10);
    json_decref(h_call(c, "shutdown", json_pack("{s:s, s:s}", "handle", a, "mode", "w")));
    size_t k;
    int eof;
    free(h_read(c, b, 10, &k, &eof));
    assert_true(eof && k == 0);
    json_t *addr = h_call(c, "localname", json_pack("{s:s}", "handle", a));
    h_expect_str(addr, "family", "unix");
    json_decref(addr);
    json_decref(r);

    r = h_call(c, "pair", json_pack("{s:s, s:b}", "type", "datagram", "keep", 1));
    hs = json_object_get(r, "handles");
    a = json_string_value(json_array_get(hs, 0));
    b = json_string_value(json_array_get(hs, 1));
    json_t *st = n_status(c, a);
    h_expect_str(st, "kind", "datagram");
    assert_true(json_is_true(json_object_get(st, "kept")));
    json_decref(st);
    h_write(c, a, "one", 3);
    h_write(c, a, "two", 3);
    h_write(c, a, "three", 5);
    static const char *const want[] = {"one", "two"};
    for (int i = 0; i < 2; i++) {
        json_t *d = h_call(c, "read",
                           json_pack("{s:s, s:i, s:s, s:f}", "handle", b, "nbytes", 100, "encoding",
                                     "utf8", "timeout", 10.0));
        h_expect_str(d, "data", want[i]);
        json_decref(d);
    }
    json_t *d = h_call(c, "read",
                       json_pack("{s:s, s:i, s:s, s:f}", "handle", b, "nbytes", 2, "encoding",
                                 "utf8", "timeout", 10.0));
    h_expect_str(d, "data", "th");
    assert_true(json_is_true(json_object_get(d, "truncated")));
    assert_int_equal(h_int(d, "size"), 5);
    json_decref(d);
    h_close(c, a);
    h_close(c, b);
    json_decref(r);
    json_decref(h_call_err(c, "pair", json_pack("{s:s}", "type", "seqpacket"), -32602));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_release_stream, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_release_listener_and_datagram, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_release_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_release_refused_pending, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_release_tls_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_assign_stream, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_assign_listener, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_assign_datagram_and_unix, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_assign_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_release_then_assign, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_pair, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
