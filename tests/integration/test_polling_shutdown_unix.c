/*
 * test_polling_shutdown_unix.c - functions of the four seed APIs (docs/seed-map.md) done
 * through a real netd against real peers, where no scenario file already
 * does exactly the same thing: Pragtical's polling calls (accept, read and
 * receive that do not wait), its open_tcp/open_udp/create_server and CA
 * path; Janet's, Emilua's and lua-net's shutdown modes; lua-net's server
 * options, reconnect, recv/send, unix servers; and local-addresses.
 */
#include <ifaddrs.h>
#include <limits.h>
#include <net/if.h>

#include "sockets.h"

/* read {handle, nbytes, timeout, encoding utf8} on @h; returns the result. */
static json_t *read_utf8(netd_client *c, const char *h, int nbytes, double timeout)
{
    return h_call(c, "read",
                  json_pack("{s:s, s:i, s:f, s:s}", "handle", h, "nbytes", nbytes, "timeout",
                            timeout, "encoding", "utf8"));
}

/* Expects a read of @h to say end of stream, with no data. */
static void expect_eof(netd_client *c, const char *h)
{
    json_t *r = read_utf8(c, h, 10, 10);
    h_expect_str(r, "data", "");
    assert_true(json_is_true(json_object_get(r, "eof")));
    json_decref(r);
}

/* A stream from netd to a listener of ours: the handle and our accepted end. */
struct link {
    int lfd, peer;
    char *h;
};

static void link_open(netd_client *c, struct link *k)
{
    int port;
    k->lfd = s_tcp_listener("127.0.0.1", &port);
    k->h = h_connect(c, "127.0.0.1", port);
    k->peer = s_accept(k->lfd, 5000);
}

static void link_close(struct link *k)
{
    close(k->peer);
    close(k->lfd);
    free(k->h);
}

static void shutdown_mode(netd_client *c, const char *h, const char *mode)
{
    json_t *p = json_pack("{s:s}", "handle", h);
    if (mode)
        json_object_set_new(p, "mode", json_string(mode));
    json_t *r = h_call(c, "shutdown", p);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
}

/* 1 if the peer sees the end of netd's sending side within @ms. */
static int peer_sees_eof(int fd, int ms)
{
    char b;
    return s_ready(fd, POLLIN, ms) && recv(fd, &b, 1, MSG_DONTWAIT) == 0;
}

/*
 * Janet net/shutdown (:r, :w, :wr, the default both), Emilua shutdown
 * ("receive", "send", "both"), lua-net closer/closew: each mode ends only
 * its directions.
 */
static void test_shutdown_modes(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    struct link k;

    link_open(c, &k); /* "r": reading ends, writing goes on */
    shutdown_mode(c, k.h, "r");
    expect_eof(c, k.h);
    h_write(c, k.h, "still sending", 13);
    h_plain_read_expect(k.peer, "still sending", 13, 5000);
    assert_false(peer_sees_eof(k.peer, 100));
    link_close(&k);

    link_open(c, &k); /* "w": the peer sees the end, reading goes on */
    shutdown_mode(c, k.h, "w");
    assert_true(peer_sees_eof(k.peer, 5000));
    h_plain_write(k.peer, "still reading", 13);
    h_read_expect(c, k.h, "still reading", 13, 10);
    json_t *e =
        h_call_err(c, "write", json_pack("{s:s, s:s}", "handle", k.h, "data", "AAAA"), -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "EPIPE");
    json_decref(e);
    link_close(&k);

    static const char *const both[] = {"rw", "wr", NULL};
    for (int i = 0; i < 3; i++) {
        link_open(c, &k); /* "rw", Janet's "wr", and no mode: both ways */
        shutdown_mode(c, k.h, both[i]);
        assert_true(peer_sees_eof(k.peer, 5000));
        expect_eof(c, k.h);
        link_close(&k);
    }
    json_decref(
        h_call_err(c, "shutdown", json_pack("{s:s, s:s}", "handle", "h0.1", "mode", "x"), -32602));
}

/*
 * Pragtical net.server:accept() checks for a connection without waiting:
 * accept with timeout 0 must hand over one that is already in the
 * listener's queue, and fail with timeout only when there is none.
 */
static void test_accept_without_waiting(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    json_decref(
        h_call_err(c, "accept", json_pack("{s:s, s:i}", "handle", l, "timeout", 0), -32001));
    int fd = s_tcp_connect("127.0.0.1", n_local_port(c, l)); /* queued in the kernel now */
    json_t *st = h_call(
        c, "wait", json_pack("{s:s, s:s, s:f}", "handle", l, "for", "readable", "timeout", 10.0));
    json_decref(st);
    char *h = h_new_handle(c, "accept", json_pack("{s:s, s:i}", "handle", l, "timeout", 0));
    h_plain_write(fd, "polled", 6);
    h_read_expect(c, h, "polled", 6, 10);
    close(fd);
    free(h);
    free(l);
}

/*
 * Pragtical net.tcp: read(amount) does not wait ("" when nothing came; here
 * -32001 and nothing consumed), get_status, write that may take part,
 * get_pending_writes, wait_until_drained, close; net.resolve_address and
 * get_ip/get_hostname/get_status/wait_until_resolved on the way in.
 */
static void test_pragtical_tcp(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *a = h_new_handle(c, "address", json_pack("{s:s, s:b}", "host", "localhost", "wait", 0));
    json_t *st = h_call(
        c, "wait", json_pack("{s:s, s:s, s:f}", "handle", a, "for", "resolved", "timeout", 20.0));
    h_expect_str(st, "state", "success");
    json_decref(st);
    json_t *u = h_call(c, "address-unpack", json_pack("{s:s}", "handle", a));
    h_expect_str(u, "hostname", "localhost");
    const char *ip = h_str(u, "host");
    if (strcmp(ip, "127.0.0.1") != 0) {
        json_decref(u);
        print_message("skipped: localhost resolves to something other than 127.0.0.1 here\n");
        skip();
    }
    /* open_tcp(address, port): the address's host with the port given. */
    char *h = h_new_handle(c, "connect",
                           json_pack("{s:s, s:i, s:b}", "host", ip, "port", port, "wait", 0));
    json_decref(u);
    st = h_call(c, "wait",
                json_pack("{s:s, s:s, s:f}", "handle", h, "for", "connected", "timeout", 10.0));
    h_expect_str(st, "state", "success");
    json_decref(st);
    int peer = s_accept(lfd, 5000);
    json_decref(h_call_err(
        c, "read", json_pack("{s:s, s:i, s:i}", "handle", h, "nbytes", 10, "timeout", 0), -32001));
    json_t *r = h_call(c, "write",
                       json_pack("{s:s, s:s, s:s, s:b}", "handle", h, "data", "hello", "encoding",
                                 "utf8", "partial", 1));
    assert_int_equal(h_int(r, "written"), 5);
    json_decref(r);
    st = h_call(c, "wait",
                json_pack("{s:s, s:s, s:f}", "handle", h, "for", "drained", "timeout", 10.0));
    assert_int_equal(h_int(st, "pending"), 0);
    json_decref(st);
    r = h_call(c, "pending", json_pack("{s:s}", "handle", h));
    assert_int_equal(h_int(r, "bytes"), 0);
    json_decref(r);
    h_plain_read_expect(peer, "hello", 5, 5000);
    h_plain_write(peer, "world", 5);
    json_decref(h_call(
        c, "wait", json_pack("{s:s, s:s, s:f}", "handle", h, "for", "readable", "timeout", 10.0)));
    r = read_utf8(c, h, 100, 0);
    h_expect_str(r, "data", "world");
    json_decref(r);
    h_close(c, h);
    assert_true(peer_sees_eof(peer, 5000));
    close(peer);
    close(lfd);
    free(h);
    free(a);
}

/*
 * Pragtical net.open_tcp(address, port) with an address from
 * net.resolve_address(host), which has no port: connect {address, port}
 * must use the port given (or refuse the pair), never connect to the
 * address handle's port 0.
 */
static void test_connect_address_with_port(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *a = h_new_handle(c, "address", json_pack("{s:s}", "host", "127.0.0.1"));
    char *h = h_new_handle(c, "connect", json_pack("{s:s, s:i}", "address", a, "port", port));
    int peer = s_accept(lfd, 5000);
    h_write(c, h, "port given", 10);
    h_plain_read_expect(peer, "port given", 10, 5000);
    close(peer);
    close(lfd);
    free(h);
    free(a);
}

/*
 * Pragtical net.open_udp(address, port), net.udp:send(address, port, data)
 * and receive() (which does not wait), net.datagram:get_data/get_address/
 * get_port.
 */
static void test_pragtical_udp(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    int pport, peer = s_udp("127.0.0.1", &pport);
    char *u = h_new_handle(
        c, "connect",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", pport, "type", "datagram"));
    int uport = n_local_port(c, u);
    json_decref(
        h_call_err(c, "recv-from", json_pack("{s:s, s:i}", "handle", u, "timeout", 0), -32001));
    n_send_to(c, u, n_inet("127.0.0.1", pport), "sent");
    s_expect_dgram(peer, "sent", 5000);
    s_sendto_inet(peer, "received", 8, "127.0.0.1", uport);
    json_decref(h_call(
        c, "wait", json_pack("{s:s, s:s, s:f}", "handle", u, "for", "readable", "timeout", 10.0)));
    json_t *r = h_call(c, "recv-from",
                       json_pack("{s:s, s:i, s:s}", "handle", u, "timeout", 0, "encoding", "utf8"));
    h_expect_str(r, "data", "received");                                /* get_data */
    h_expect_str(json_object_get(r, "from"), "host", "127.0.0.1");      /* get_address */
    assert_int_equal(h_int(json_object_get(r, "from"), "port"), pport); /* get_port */
    json_decref(r);
    h_close(c, u);
    close(peer);
    free(u);
}

/* Pragtical net.create_server(nil, port): no address means every local
 * address, IPv4 and IPv6 alike. */
static void test_server_every_address(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    char *l = h_new_handle(c, "listen", json_pack("{s:i}", "port", 0));
    int port = n_local_port(c, l);
    int v4 = s_tcp_connect("127.0.0.1", port);
    char *h = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
    h_plain_write(v4, "v4", 2);
    h_read_expect(c, h, "v4", 2, 10);
    close(v4);
    free(h);
    int probe_port, probe = s_udp("::1", &probe_port);
    if (probe < 0) {
        print_message("IPv6 part skipped: no IPv6 loopback\n");
        free(l);
        return;
    }
    close(probe);
    struct sockaddr_storage ss;
    socklen_t len = s_inet("::1", port, &ss);
    int v6 = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(v6, (struct sockaddr *)&ss, len) < 0)
        fail_msg("listen without host is not reachable on ::1 port %d: %s", port, strerror(errno));
    h = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
    h_plain_write(v6, "v6", 2);
    h_read_expect(c, h, "v6", 2, 10);
    close(v6);
    free(h);
    free(l);
}

/*
 * Pragtical net.get_cacert_path/set_cacert_path: tls-config reads and sets
 * the trust store of this connection's later TLS connects. With our own CA
 * file, a TLS connect to a server with that certificate succeeds; back on
 * the system store, it fails verification.
 */
static void test_cacert_path(void **state)
{
    char dir[PATH_MAX], cert[PATH_MAX + 16], key[PATH_MAX + 16];
    if (s_self_signed(dir, sizeof dir) < 0) {
        print_message("skipped: the openssl command cannot make a test certificate here\n");
        skip();
    }
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    netd_client *c = h_client(h_netd_start(NULL));
    json_t *r = h_call(c, "tls-config", NULL);
    assert_true(json_is_null(json_object_get(r, "cafile"))); /* null: the system's bundle */
    json_decref(r);
    char *l = h_new_handle(c, "server",
                           json_pack("{s:s, s:i, s:{s:s, s:s}}", "host", "127.0.0.1", "port", 0,
                                     "tls", "cert", cert, "key", key));
    int port = n_local_port(c, l);
    json_t *tls_localhost = json_pack("{s:s}", "servername", "localhost");
    json_t *e = h_call_err(c, "connect",
                           json_pack("{s:s, s:i, s:O, s:f}", "host", "127.0.0.1", "port", port,
                                     "tls", tls_localhost, "timeout", 20.0),
                           -32008);
    json_decref(e);

    r = h_call(c, "tls-config", json_pack("{s:s}", "cafile", cert));
    h_expect_str(r, "cafile", cert);
    json_decref(r);
    char *t = h_new_handle(c, "connect",
                           json_pack("{s:s, s:i, s:O, s:f}", "host", "127.0.0.1", "port", port,
                                     "tls", tls_localhost, "timeout", 20.0));
    json_t *note = NULL;
    const char *m = NULL;
    while (netd_client_notification(c, 10000, &note) == 0) {
        m = json_string_value(json_object_get(note, "method"));
        if (m && strcmp(m, "accepted") == 0)
            break;
        json_decref(note);
        note = NULL;
    }
    assert_non_null(note);
    const char *s = h_str(json_object_get(note, "params"), "handle");
    h_write(c, t, "over tls", 8);
    h_read_expect(c, s, "over tls", 8, 10);
    json_decref(note);
    r = h_call(c, "tls-config", json_pack("{s:n}", "cafile"));
    assert_true(json_is_null(json_object_get(r, "cafile")));
    json_decref(r);
    json_decref(tls_localhost);
    s_self_signed_free(dir);
    free(t);
    free(l);
}

/* Is @host (numeric) among @list's addresses of @family? */
static int listed(const json_t *list, const char *family, const char *host)
{
    size_t i;
    const json_t *a;
    json_array_foreach(list, i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "family")), family) == 0 &&
            strcmp(json_string_value(json_object_get(a, "host")), host) == 0)
            return 1;
    }
    return 0;
}

/* Pragtical net.get_local_addresses: every address getifaddrs() shows, and
 * each (but link-local ones, which need a scope) can be listened on. */
static void test_local_addresses(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    json_t *r = h_call(c, "local-addresses", NULL);
    json_t *list = json_object_get(r, "addresses");
    assert_true(json_is_array(list));
    struct ifaddrs *ifa = NULL;
    assert_int_equal(getifaddrs(&ifa), 0);
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr ||
            (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        char host[INET6_ADDRSTRLEN];
        int v6 = i->ifa_addr->sa_family == AF_INET6;
        const void *bin = v6 ? (const void *)&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr
                             : (const void *)&((struct sockaddr_in *)i->ifa_addr)->sin_addr;
        inet_ntop(i->ifa_addr->sa_family, bin, host, sizeof host);
        if (!listed(list, v6 ? "inet6" : "inet", host))
            fail_msg("local-addresses lacks %s (%s)", host, i->ifa_name);
    }
    freeifaddrs(ifa);
    size_t i;
    json_t *a;
    json_array_foreach(list, i, a)
    {
        h_str(a, "interface");
        const char *host = h_str(a, "host");
        if (strncmp(host, "fe80:", 5) == 0)
            continue;
        char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", host, "port", 0));
        json_t *ln = h_call(c, "localname", json_pack("{s:s}", "handle", l));
        h_expect_str(ln, "host", host);
        json_decref(ln);
        h_close(c, l);
        free(l);
    }
    assert_true(listed(list, "inet", "127.0.0.1"));
    json_decref(r);
}

/* lua-net inet.server.new({host, port, reuseaddr}) and sock:listen(backlog). */
static void test_listen_options(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    char *l = h_new_handle(c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    json_t *v = n_getopt(c, l, "so-reuseaddr");
    assert_true(json_is_true(v)); /* on unless asked otherwise */
    json_decref(v);
    free(l);
    l = h_new_handle(c, "listen",
                     json_pack("{s:s, s:i, s:b, s:b, s:i}", "host", "127.0.0.1", "port", 0,
                               "reuseaddr", 0, "reuseport", 1, "backlog", 1));
    v = n_getopt(c, l, "so-reuseaddr");
    assert_true(json_is_false(v));
    json_decref(v);
    v = n_getopt(c, l, "so-reuseport");
    assert_true(json_is_true(v));
    json_decref(v);
    v = n_getopt(c, l, "so-acceptconn");
    assert_true(json_is_true(v));
    json_decref(v);
    int fd = s_tcp_connect("127.0.0.1", n_local_port(c, l));
    char *h = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
    h_plain_write(fd, "backlog 1", 9);
    h_read_expect(c, h, "backlog 1", 9, 10);
    close(fd);
    static const int bad[] = {0, -1, 65536};
    for (int i = 0; i < 3; i++)
        json_decref(h_call_err(
            c, "listen",
            json_pack("{s:s, s:i, s:i}", "host", "127.0.0.1", "port", 0, "backlog", bad[i]),
            -32602));
    free(h);
    free(l);
}

/* lua-net sock:connect() on a client: a new connection to the same place,
 * and the old one closed once the new one is up. */
static void test_reconnect(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char *old = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    h_write(c, old, "old", 3);
    h_read_expect(c, old, "old", 3, 10);
    char *cur = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    h_close(c, old);
    assert_true(h_peer_wait_eofs(echo, 1, 5000));
    h_write(c, cur, "new", 3);
    h_read_expect(c, cur, "new", 3, 10);
    assert_int_equal(h_peer_accepted(echo), 2);
    free(cur);
    free(old);
}

/* lua-net sock:recv() and sock:send(): recv does not wait ("again" is
 * -32001, nothing lost), returns nothing at the peer's end; send may take
 * part of the string. */
static void test_recv_send(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    struct link k;
    link_open(c, &k);
    json_decref(h_call_err(
        c, "read", json_pack("{s:s, s:i, s:i}", "handle", k.h, "nbytes", 4096, "timeout", 0),
        -32001));
    h_plain_write(k.peer, "message", 7);
    json_decref(
        h_call(c, "wait",
               json_pack("{s:s, s:s, s:f}", "handle", k.h, "for", "readable", "timeout", 10.0)));
    json_t *r = read_utf8(c, k.h, 4096, 0);
    h_expect_str(r, "data", "message");
    json_decref(r);
    r = h_call(c, "write",
               json_pack("{s:s, s:s, s:s, s:b}", "handle", k.h, "data", "reply", "encoding", "utf8",
                         "partial", 1));
    assert_int_equal(h_int(r, "written"), 5);
    json_decref(r);
    h_plain_read_expect(k.peer, "reply", 5, 5000);
    shutdown(k.peer, SHUT_WR);
    expect_eof(c, k.h);
    link_close(&k);
}

/* lua-net unix.server.new({path}) and unix.client.new({path}): listen on a
 * path and an abstract name, accept clients of ours, and connect to them. */
static void test_unix_server_and_client(void **state)
{
    netd_client *c = h_client(h_netd_start(NULL));
    for (int abstract = 0; abstract < 2; abstract++) {
        char path[108];
        s_unix_name(path, sizeof path, abstract);
        char *l = h_new_handle(c, "listen", json_pack("{s:s}", "path", path));
        json_t *ln = h_call(c, "localname", json_pack("{s:s}", "handle", l));
        h_expect_str(ln, "path", path);
        json_decref(ln);
        struct sockaddr_storage ss;
        socklen_t len = s_unix(path, &ss);
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
        char *h = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
        h_plain_write(fd, "unix in", 7);
        h_read_expect(c, h, "unix in", 7, 10);
        /* And the other way: netd connects to the listener it has. */
        char *out = h_new_handle(c, "connect", json_pack("{s:s}", "path", path));
        char *in = h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
        h_write(c, out, "unix out", 8);
        h_read_expect(c, in, "unix out", 8, 10);
        /* sock:connect() again: a new connection, then the old one closed. */
        char *again = h_new_handle(c, "connect", json_pack("{s:s}", "path", path));
        char *in2 =
            h_new_handle(c, "accept", json_pack("{s:s, s:f}", "handle", l, "timeout", 10.0));
        h_close(c, out);
        expect_eof(c, in);
        h_write(c, again, "again", 5);
        h_read_expect(c, in2, "again", 5, 10);
        close(fd);
        h_close(c, l);
        free(in2);
        free(again);
        free(in);
        free(out);
        free(h);
        free(l);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shutdown_modes, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_accept_without_waiting, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_pragtical_tcp, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connect_address_with_port, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_pragtical_udp, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_server_every_address, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_cacert_path, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_local_addresses, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_listen_options, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_recv_send, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_unix_server_and_client, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
