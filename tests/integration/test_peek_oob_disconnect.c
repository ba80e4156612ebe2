/*
 * test_peek_oob_disconnect.c - what closed the last gaps of the seed APIs, through a real
 * netd against real peers: disconnect of datagram and stream handles,
 * read/recv-from with peek, urgent data written with oob, the address flags
 * passive/canonname/numeric, release with dup, so-rcvtimeo/so-sndtimeo as
 * the default timeouts of a handle, and ip-multicast-if/ipv6-multicast-if.
 *
 * Emilua: disconnect, receive/send with MSG_PEEK/MSG_OOB. lua-net:
 * sock:fd, sock:rcvtimeo, sock:sndtimeo, stream.getaddrinfoin flags.
 */
#include <fcntl.h>
#include <math.h>
#include <net/if.h>

#include "sockets.h"

/* The group of the multicast test, administratively scoped. */
#define GAPS_GROUP4 "239.255.42.117"

/* A datagram handle bound to 127.0.0.1 on a free port. */
static char *udp4_handle(netd_client *c)
{
    return h_new_handle(
        c, "listen",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", 0, "type", "datagram"));
}

/* A read of up to @nbytes with a 10 s timeout and @peek, as utf8; the whole result. */
static json_t *read_text(netd_client *c, const char *h, int nbytes, int peek)
{
    return h_call(c, "read",
                  json_pack("{s:s, s:i, s:f, s:s, s:b}", "handle", h, "nbytes", nbytes, "timeout",
                            10.0, "encoding", "utf8", "peek", peek));
}

/* recv-from of up to @nbytes with a 10 s timeout and @peek, as utf8. */
static json_t *recv_text(netd_client *c, const char *h, int nbytes, int peek)
{
    return h_call(c, "recv-from",
                  json_pack("{s:s, s:i, s:f, s:s, s:b}", "handle", h, "nbytes", nbytes, "timeout",
                            10.0, "encoding", "utf8", "peek", peek));
}

/* Polls status until netd can deliver @n bytes of @h (or fails after 5 s). */
static void wait_readable(netd_client *c, const char *h, long long n)
{
    for (int i = 0; i < 500; i++) {
        json_t *st = n_status(c, h);
        long long have = h_int(st, "readable");
        json_decref(st);
        if (have >= n)
            return;
        h_sleep_ms(10);
    }
    fail_msg("%s never had %lld bytes readable", h, n);
}

/* A number option read back; fails unless it is within 0.02 of @want. */
static void expect_seconds(netd_client *c, const char *h, const char *opt, double want)
{
    json_t *v = n_getopt(c, h, opt);
    if (!json_is_number(v) || fabs(json_number_value(v) - want) > 0.02)
        fail_msg("%s reads back %g, set to %g", opt, json_number_value(v), want);
    json_decref(v);
}

/* A free UDP port on 127.0.0.1 at the time of the call (bound and released). */
static int free_udp_port(void)
{
    int port, fd = s_udp("127.0.0.1", &port);
    close(fd);
    return port;
}

/*
 * disconnect on a datagram handle connected from a port it bound itself:
 * before it the kernel filters everyone but the peer; after it a second
 * sender gets through, send-to with a dest still works, and a write
 * without one has nowhere to go.
 */
static void test_disconnect_udp(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int aport, a = s_udp("127.0.0.1", &aport);
    int bport, b = s_udp("127.0.0.1", &bport);
    int dport = free_udp_port();
    char *d =
        h_new_handle(c, "connect",
                     json_pack("{s:s, s:i, s:s, s:s, s:i}", "host", "127.0.0.1", "port", aport,
                               "type", "datagram", "bindhost", "127.0.0.1", "bindport", dport));
    s_sendto_inet(b, "filtered", 8, "127.0.0.1", dport);
    json_decref(
        h_call_err(c, "recv-from", json_pack("{s:s, s:f}", "handle", d, "timeout", 0.3), -32001));

    json_t *r = h_call(c, "disconnect", json_pack("{s:s}", "handle", d));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    assert_int_equal(n_local_port(c, d), dport);
    s_sendto_inet(b, "from b", 6, "127.0.0.1", dport);
    r = recv_text(c, d, 100, 0);
    h_expect_str(r, "data", "from b");
    assert_int_equal(h_int(json_object_get(r, "from"), "port"), bport);
    json_decref(r);

    n_send_to(c, d, n_inet("127.0.0.1", aport), "to a");
    s_expect_dgram(a, "to a", 5000);
    n_send_to(c, d, n_inet("127.0.0.1", bport), "to b");
    s_expect_dgram(b, "to b", 5000);
    json_t *e = h_call_err(
        c, "write",
        json_pack("{s:s, s:s, s:s}", "handle", d, "data", "nowhere", "encoding", "utf8"), -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "EDESTADDRREQ");
    json_decref(e);
    close(a);
    close(b);
    free(d);
}

/*
 * A datagram handle connected without bindport got its port from the
 * kernel, and Linux gives such a port back on disconnect (as Asio sees it
 * too): the socket is unbound until its next send-to picks a new port,
 * where then anyone reaches it.
 */
static void test_disconnect_udp_autobound(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int aport, a = s_udp("127.0.0.1", &aport);
    int bport, b = s_udp("127.0.0.1", &bport);
    char *d = h_new_handle(
        c, "connect",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", aport, "type", "datagram"));
    int before = n_local_port(c, d);
    json_decref(h_call(c, "disconnect", json_pack("{s:s}", "handle", d)));
    assert_true(before > 0);
    assert_int_equal(n_local_port(c, d), 0);

    n_send_to(c, d, n_inet("127.0.0.1", aport), "to a");
    struct sockaddr_storage from;
    char buf[16];
    assert_int_equal(s_recvfrom(a, buf, sizeof buf, 5000, &from, NULL), 4);
    int now = n_local_port(c, d);
    assert_int_equal(s_port(&from), now);
    s_sendto_inet(b, "from b", 6, "127.0.0.1", now);
    json_t *r = recv_text(c, d, 100, 0);
    h_expect_str(r, "data", "from b");
    assert_int_equal(h_int(json_object_get(r, "from"), "port"), bport);
    json_decref(r);
    close(a);
    close(b);
    free(d);
}

/*
 * The same on a stream that never received a byte, read at once: the read
 * ends with eof and no bytes. (netd's read buffer has no memory then;
 * answering from it added 0 to a null pointer, which clang's UBSan stops:
 * the dispatch fuzzer found it, and its reproducer,
 * tests/fuzz/corpus/dispatch/regress-read-after-disconnect, fails `make
 * fuzz-ci` without the fix; gcc's UBSan, in `make asan`, does not check
 * this.)
 */
static void test_disconnect_tcp_never_read(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *h = h_connect(c, "127.0.0.1", port);
    long long d = h_send(c, "disconnect", json_pack("{s:s}", "handle", h));
    long long all =
        h_send(c, "read", json_pack("{s:s,s:s,s:i}", "handle", h, "nbytes", "all", "timeout", 5));
    json_decref(h_wait(c, d));
    json_t *r = h_wait(c, all);
    size_t got;
    free(h_data(r, &got));
    assert_int_equal(got, 0);
    assert_true(json_is_true(json_object_get(r, "eof")));
    json_decref(r);
    h_netd_assert_alive(n);
    close(lfd);
    free(h);
}

/*
 * disconnect on a TCP stream aborts the connection: the peer sees a reset
 * (or the end), netd's reads end with eof and its writes fail. Listeners
 * have no peer to leave.
 */
static void test_disconnect_tcp(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *h = h_connect(c, "127.0.0.1", port);
    int peer = s_accept(lfd, 5000);
    h_write(c, h, "hello", 5);
    h_plain_read_expect(peer, "hello", 5, 5000);

    json_decref(h_call(c, "disconnect", json_pack("{s:s}", "handle", h)));
    char b;
    assert_true(s_ready(peer, POLLIN, 5000));
    ssize_t k = recv(peer, &b, 1, 0);
    assert_true(k == 0 || (k < 0 && errno == ECONNRESET));
    print_message("the peer saw %s\n", k == 0 ? "the end of stream" : "a reset");

    size_t got;
    int eof;
    free(h_read(c, h, 10, &got, &eof));
    assert_true(eof && got == 0);
    json_decref(h_call_err(c, "write",
                           json_pack("{s:s, s:s, s:s, s:f}", "handle", h, "data", "late",
                                     "encoding", "utf8", "timeout", 5.0),
                           -32000));
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    json_t *e = h_call_err(c, "disconnect", json_pack("{s:s}", "handle", l), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "listener");
    json_decref(e);
    json_decref(h_call_err(c, "disconnect", json_pack("{s:s}", "handle", "h0.fffff"), -32002));
    close(peer);
    close(lfd);
    free(l);
    free(h);
}

/* read with peek shows bytes and leaves them for the next read. */
static void test_peek_stream(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *h = h_connect(c, "127.0.0.1", port);
    int peer = s_accept(lfd, 5000);
    h_plain_write(peer, "hello world", 11);
    wait_readable(c, h, 11);

    json_t *r = read_text(c, h, 5, 1);
    h_expect_str(r, "data", "hello");
    assert_true(json_is_false(json_object_get(r, "eof")));
    json_decref(r);
    r = read_text(c, h, 100, 1);
    h_expect_str(r, "data", "hello world");
    json_decref(r);
    json_t *st = n_status(c, h);
    assert_int_equal(h_int(st, "readable"), 11);
    json_decref(st);
    r = read_text(c, h, 5, 0);
    h_expect_str(r, "data", "hello");
    json_decref(r);
    r = read_text(c, h, 100, 1);
    h_expect_str(r, "data", " world");
    json_decref(r);
    h_read_expect(c, h, " world", 6, 10);
    json_decref(h_call_err(
        c, "read",
        json_pack("{s:s, s:i, s:f, s:b}", "handle", h, "nbytes", 1, "timeout", 0.0, "peek", 1),
        -32001));

    /* After the peer's end a peek still leaves the last bytes in place. */
    h_plain_write(peer, "bye", 3);
    close(peer);
    wait_readable(c, h, 3);
    r = read_text(c, h, 100, 1);
    h_expect_str(r, "data", "bye");
    json_decref(r);
    h_read_expect(c, h, "bye", 3, 10);
    size_t got;
    int eof;
    free(h_read(c, h, 10, &got, &eof));
    assert_true(eof && got == 0);
    close(lfd);
    free(h);
}

/* recv-from with peek leaves the datagram queued, truncated or not; read
 * with peek does the same on a connected datagram handle. */
static void test_peek_datagram(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *d = udp4_handle(c);
    int dport = n_local_port(c, d);
    int pport, p = s_udp("127.0.0.1", &pport);
    s_sendto_inet(p, "first", 5, "127.0.0.1", dport);
    s_sendto_inet(p, "second", 6, "127.0.0.1", dport);

    for (int i = 0; i < 2; i++) {
        json_t *r = recv_text(c, d, 100, 1);
        h_expect_str(r, "data", "first");
        assert_int_equal(h_int(json_object_get(r, "from"), "port"), pport);
        json_decref(r);
    }
    json_t *r = recv_text(c, d, 3, 1);
    h_expect_str(r, "data", "fir");
    assert_true(json_is_true(json_object_get(r, "truncated")));
    assert_int_equal(h_int(r, "size"), 5);
    json_decref(r);
    r = recv_text(c, d, 100, 0);
    h_expect_str(r, "data", "first");
    json_decref(r);
    r = recv_text(c, d, 100, 0);
    h_expect_str(r, "data", "second");
    json_decref(r);

    char *cd = h_new_handle(
        c, "connect",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", pport, "type", "datagram"));
    s_sendto_inet(p, "peeked", 6, "127.0.0.1", n_local_port(c, cd));
    r = read_text(c, cd, 100, 1);
    h_expect_str(r, "data", "peeked");
    json_decref(r);
    r = read_text(c, cd, 100, 0);
    h_expect_str(r, "data", "peeked");
    json_decref(r);
    json_decref(h_call_err(
        c, "read", json_pack("{s:s, s:i, s:f}", "handle", cd, "nbytes", 100, "timeout", 0.2),
        -32001));
    close(p);
    free(cd);
    free(d);
}

/* write with oob: a peer of ours gets the last byte as urgent data with
 * recv(MSG_OOB), the others in the stream. Datagrams have no urgent data. */
static void test_oob_to_plain_peer(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *h = h_connect(c, "127.0.0.1", port);
    int peer = s_accept(lfd, 5000);
    h_write(c, h, "ab", 2);
    json_t *r = h_call(c, "write",
                       json_pack("{s:s, s:s, s:s, s:b}", "handle", h, "data", "xy!", "encoding",
                                 "utf8", "oob", 1));
    assert_int_equal(h_int(r, "written"), 3);
    json_decref(r);
    h_write(c, h, "cd", 2);

    assert_true(s_ready(peer, POLLPRI, 5000));
    char u = 0;
    ssize_t k = -1;
    for (int i = 0; i < 500 && k < 0; i++) {
        /* The urgent pointer may come before the urgent byte itself. */
        k = recv(peer, &u, 1, MSG_OOB | MSG_DONTWAIT);
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            fail_msg("recv(MSG_OOB): %s", strerror(errno));
        if (k < 0)
            h_sleep_ms(10);
    }
    assert_int_equal(k, 1);
    assert_int_equal(u, '!');
    h_plain_read_expect(peer, "abxycd", 6, 5000);

    char *d = udp4_handle(c);
    json_t *e = h_call_err(
        c, "write",
        json_pack("{s:s, s:s, s:s, s:b}", "handle", d, "data", "x", "encoding", "utf8", "oob", 1),
        -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "datagram");
    json_decref(e);
    close(peer);
    close(lfd);
    free(d);
    free(h);
}

/* Urgent data from one netd handle to another: with so-oobinline on the
 * receiving handle, a read stops at the mark and status.atmark says so. */
static void test_oob_atmark_through_netd(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    char *tx = h_connect(c, "127.0.0.1", n_local_port(c, l));
    char *rx = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
    n_setopt(c, rx, "so-oobinline", json_true());

    h_write(c, tx, "ab", 2);
    json_t *r = h_call(
        c, "write",
        json_pack("{s:s, s:s, s:s, s:b}", "handle", tx, "data", "!", "encoding", "utf8", "oob", 1));
    assert_int_equal(h_int(r, "written"), 1);
    json_decref(r);
    h_write(c, tx, "cd", 2);
    wait_readable(c, rx, 5);

    r = read_text(c, rx, 100, 0);
    h_expect_str(r, "data", "ab");
    json_decref(r);
    json_t *st = n_status(c, rx);
    assert_true(json_is_true(json_object_get(st, "atmark")));
    json_decref(st);
    h_read_expect(c, rx, "!cd", 3, 10);
    st = n_status(c, rx);
    assert_true(json_is_false(json_object_get(st, "atmark")));
    json_decref(st);
    free(rx);
    free(tx);
    free(l);
}

/* The address-unpack result of address {@params}. */
static json_t *unpacked(netd_client *c, json_t *params)
{
    char *a = h_new_handle(c, "address", params);
    json_t *u = h_call(c, "address-unpack", json_pack("{s:s}", "handle", a));
    free(a);
    return u;
}

/* address flags: canonname returns the canonical name, numeric refuses a
 * name without asking DNS, passive with no host is the wildcard. */
static void test_address_flags(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    json_t *u = unpacked(c, json_pack("{s:s, s:i, s:s, s:b}", "host", "localhost", "port", 80,
                                      "family", "inet", "canonname", 1));
    const char *canon = h_str(u, "canonname");
    print_message("canonical name of localhost: %s\n", canon);
    assert_true(strncmp(canon, "localhost", 9) == 0);
    h_expect_str(u, "host", "127.0.0.1");
    json_decref(u);
    u = unpacked(c,
                 json_pack("{s:s, s:i, s:s}", "host", "localhost", "port", 80, "family", "inet"));
    assert_null(json_object_get(u, "canonname"));
    json_decref(u);

    json_t *e = h_call_err(
        c, "address", json_pack("{s:s, s:i, s:b}", "host", "localhost", "port", 80, "numeric", 1),
        -32007);
    assert_string_equal(h_err_data_str(e, "gai"), "EAI_NONAME");
    json_decref(e);
    u = unpacked(c, json_pack("{s:s, s:i, s:b}", "host", "127.0.0.1", "port", 80, "numeric", 1));
    h_expect_str(u, "host", "127.0.0.1");
    json_decref(u);

    u = unpacked(c, json_pack("{s:i, s:s, s:b}", "port", 8080, "family", "inet", "passive", 1));
    h_expect_str(u, "host", "0.0.0.0");
    assert_int_equal(h_int(u, "port"), 8080);
    json_decref(u);
    u = unpacked(c, json_pack("{s:i, s:s}", "port", 8080, "family", "inet"));
    h_expect_str(u, "host", "127.0.0.1");
    json_decref(u);
    json_t *res = NULL, *err = NULL;
    if (netd_call(c, "address",
                  json_pack("{s:i, s:s, s:b}", "port", 8080, "family", "inet6", "passive", 1), &res,
                  &err) == 0) {
        json_t *u6 =
            h_call(c, "address-unpack", json_pack("{s:s}", "handle", h_str(res, "handle")));
        h_expect_str(u6, "host", "::");
        json_decref(u6);
        json_decref(res);
    } else {
        print_message("IPv6 wildcard not checked: %s\n", netd_error_message(err));
        json_decref(err);
    }
}

/* release {dup}: a released duplicate is the same socket in this process,
 * and netd's handle keeps reading and writing it. */
static void test_release_dup(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *h = h_connect(c, "127.0.0.1", port);
    int peer = s_accept(lfd, 5000);
    long long id = h_send(c, "release", json_pack("{s:s, s:b}", "handle", h, "dup", 1));
    json_t *r = h_wait(c, id);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    int fd = netd_client_take_fd(c, id);
    if (fd < 0)
        fail_msg("no descriptor came with release dup: %s", strerror(errno));

    /* The same socket: same local port, and the open file netd uses, so
     * it is non-blocking here too. */
    assert_int_equal(s_local_port(fd), n_local_port(c, h));
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    json_t *st = n_status(c, h);
    h_expect_str(st, "state", "success");
    json_decref(st);
    h_plain_write(fd, "from dup", 8);
    h_plain_read_expect(peer, "from dup", 8, 5000);
    h_write(c, h, "from netd", 9);
    h_plain_read_expect(peer, "from netd", 9, 5000);
    h_plain_write(peer, "to netd", 7);
    h_read_expect(c, h, "to netd", 7, 10);

    /* Closing our copy leaves netd's connection up; netd's close ends it. */
    close(fd);
    h_write(c, h, "still", 5);
    h_plain_read_expect(peer, "still", 5, 5000);
    h_close(c, h);
    char b;
    assert_true(s_ready(peer, POLLIN, 5000));
    assert_int_equal(recv(peer, &b, 1, 0), 0);
    close(peer);
    close(lfd);
    free(h);
}

/* A stream to a listener of ours that never writes; returns the peer's end. */
static char *quiet_stream(netd_client *c, int *lfd, int *peer)
{
    int port;
    *lfd = s_tcp_listener("127.0.0.1", &port);
    char *h = h_connect(c, "127.0.0.1", port);
    *peer = s_accept(*lfd, 5000);
    return h;
}

/*
 * so-rcvtimeo: set on the kernel (read back) and the timeout of reads,
 * recv-froms and accepts that give none; a call's own timeout wins; 0 is
 * none again. Durations are bounded generously, never tightly.
 */
static void test_rcvtimeo(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int lfd, peer;
    char *h = quiet_stream(c, &lfd, &peer);
    n_setopt(c, h, "so-rcvtimeo", json_real(0.5));
    expect_seconds(c, h, "so-rcvtimeo", 0.5);
    long long t0 = h_now_ms();
    json_decref(h_call_err(c, "read", json_pack("{s:s, s:i}", "handle", h, "nbytes", 10), -32001));
    long long took = h_now_ms() - t0;
    print_message("read without timeout failed after %lld ms (so-rcvtimeo 0.5)\n", took);
    assert_true(took >= 250 && took < 20000);

    /* An explicit timeout outlives so-rcvtimeo: the bytes come after 1 s. */
    long long id = h_send(c, "read",
                          json_pack("{s:s, s:i, s:f, s:s}", "handle", h, "nbytes", 10, "timeout",
                                    30.0, "encoding", "utf8"));
    h_sleep_ms(1000);
    h_plain_write(peer, "late", 4);
    json_t *r = h_wait(c, id);
    h_expect_str(r, "data", "late");
    json_decref(r);

    /* 0 takes the default away: a read waits past the old 0.5 s. */
    n_setopt(c, h, "so-rcvtimeo", json_integer(0));
    expect_seconds(c, h, "so-rcvtimeo", 0);
    id = h_send(c, "read",
                json_pack("{s:s, s:i, s:s}", "handle", h, "nbytes", 10, "encoding", "utf8"));
    h_sleep_ms(1000);
    h_plain_write(peer, "later", 5);
    r = h_wait(c, id);
    h_expect_str(r, "data", "later");
    json_decref(r);

    char *d = udp4_handle(c);
    n_setopt(c, d, "so-rcvtimeo", json_real(0.3));
    json_decref(h_call_err(c, "recv-from", json_pack("{s:s}", "handle", d), -32001));
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    n_setopt(c, l, "so-rcvtimeo", json_real(0.3));
    json_decref(h_call_err(c, "accept", json_pack("{s:s}", "handle", l), -32001));
    json_decref(h_call_err(
        c, "setsockopt",
        json_pack("{s:s, s:s, s:f}", "handle", h, "option", "so-rcvtimeo", "value", -1.0), -32602));
    close(peer);
    close(lfd);
    free(l);
    free(d);
    free(h);
}

/*
 * so-sndtimeo: a whole write to a peer that never reads fails with -32001
 * and tells what was accepted; a write with its own timeout outlives it
 * and completes once the peer reads.
 */
static void test_sndtimeo(void **state)
{
    enum { BIG = 4 << 20, SECOND = 65536 };
    static const char *const args[] = {"--max-buffer", "262144", NULL};
    struct netd_proc *n = h_netd_start(args);
    netd_client *c = h_client(n);
    int lfd, peer, small = 4096;
    char *h = quiet_stream(c, &lfd, &peer);
    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    n_setopt(c, h, "so-sndbuf", json_integer(4096));
    n_setopt(c, h, "so-sndtimeo", json_real(0.5));
    expect_seconds(c, h, "so-sndtimeo", 0.5);

    unsigned char *zero = calloc(1, BIG);
    char *b64 = h_base64(zero, BIG);
    long long t0 = h_now_ms();
    json_t *e = h_call_err(c, "write", json_pack("{s:s, s:s}", "handle", h, "data", b64), -32001);
    long long took = h_now_ms() - t0;
    free(b64);
    json_t *w = json_object_get(json_object_get(e, "data"), "written");
    assert_true(json_is_integer(w));
    long long written = json_integer_value(w);
    assert_true(written >= 0 && written < BIG);
    json_decref(e);
    print_message("write without timeout failed after %lld ms with %lld bytes written\n", took,
                  written);
    assert_true(took < 20000);

    b64 = h_base64(zero, SECOND);
    long long id =
        h_send(c, "write", json_pack("{s:s, s:s, s:f}", "handle", h, "data", b64, "timeout", 60.0));
    free(b64);
    h_sleep_ms(1000);
    size_t want = (size_t)written + SECOND, have = 0;
    long long deadline = h_now_ms() + 60000;
    while (have < want && h_now_ms() < deadline) {
        if (!s_ready(peer, POLLIN, 1000))
            continue;
        ssize_t k = recv(peer, zero, BIG, 0);
        assert_true(k > 0);
        have += (size_t)k;
    }
    assert_int_equal(have, want);
    json_t *r = h_wait(c, id);
    assert_int_equal(h_int(r, "written"), SECOND);
    json_decref(r);
    free(zero);
    close(peer);
    close(lfd);
    free(h);
}

/* ip-multicast-if: set and read back, and multicast leaves on that
 * interface (loopback), where a member of the group hears it. */
static void test_ip_multicast_if(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *d = h_new_handle(
        c, "listen",
        json_pack("{s:s, s:i, s:s}", "host", "0.0.0.0", "port", 0, "type", "datagram"));
    n_setopt(c, d, "ip-multicast-if", json_string("127.0.0.1"));
    json_t *v = n_getopt(c, d, "ip-multicast-if");
    assert_string_equal(json_string_value(v), "127.0.0.1");
    json_decref(v);

    int port, rx = s_udp("0.0.0.0", &port);
    struct ip_mreq mr;
    inet_pton(AF_INET, GAPS_GROUP4, &mr.imr_multiaddr);
    inet_pton(AF_INET, "127.0.0.1", &mr.imr_interface);
    if (setsockopt(rx, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
        print_message("not sent on the wire: cannot join on loopback: %s\n", strerror(errno));
    } else {
        n_setopt(c, d, "ip-multicast-loop", json_true());
        n_send_to(c, d, n_inet(GAPS_GROUP4, port), "via lo");
        s_expect_dgram(rx, "via lo", 5000);
    }
    close(rx);

    n_setopt(c, d, "ip-multicast-if", json_string("0.0.0.0"));
    v = n_getopt(c, d, "ip-multicast-if");
    assert_string_equal(json_string_value(v), "0.0.0.0");
    json_decref(v);
    json_decref(h_call_err(
        c, "setsockopt",
        json_pack("{s:s, s:s, s:s}", "handle", d, "option", "ip-multicast-if", "value", "lo"),
        -32602));
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char *t = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    json_decref(h_call_err(c, "setsockopt",
                           json_pack("{s:s, s:s, s:s}", "handle", t, "option", "ip-multicast-if",
                                     "value", "127.0.0.1"),
                           -32003));
    free(t);
    free(d);
}

/* ipv6-multicast-if: an interface index, set and read back. */
static void test_ipv6_multicast_if(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    json_t *res = NULL, *err = NULL;
    if (netd_call(c, "listen",
                  json_pack("{s:s, s:i, s:s}", "host", "::", "port", 0, "type", "datagram"), &res,
                  &err) != 0) {
        print_message("skipped: no IPv6 here (%s)\n", netd_error_message(err));
        json_decref(err);
        skip();
    }
    char *d = strdup(h_str(res, "handle"));
    json_decref(res);
    unsigned lo = if_nametoindex("lo");
    assert_true(lo > 0);
    n_setopt(c, d, "ipv6-multicast-if", json_integer(lo));
    json_t *v = n_getopt(c, d, "ipv6-multicast-if");
    assert_int_equal(json_integer_value(v), lo);
    json_decref(v);
    n_setopt(c, d, "ipv6-multicast-if", json_integer(0));
    v = n_getopt(c, d, "ipv6-multicast-if");
    assert_int_equal(json_integer_value(v), 0);
    json_decref(v);
    /* An index no interface has is the kernel's to refuse. */
    json_decref(h_call_err(
        c, "setsockopt",
        json_pack("{s:s, s:s, s:i}", "handle", d, "option", "ipv6-multicast-if", "value", 999999),
        -32000));
    char *d4 = udp4_handle(c);
    json_decref(h_call_err(
        c, "setsockopt",
        json_pack("{s:s, s:s, s:i}", "handle", d4, "option", "ipv6-multicast-if", "value", lo),
        -32003));
    free(d4);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_disconnect_udp, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_udp_autobound, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_tcp, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_tcp_never_read, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_peek_stream, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_peek_datagram, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_oob_to_plain_peer, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_oob_atmark_through_netd, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_address_flags, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_release_dup, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_rcvtimeo, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_sndtimeo, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_ip_multicast_if, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_ipv6_multicast_if, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
