/*
 * test_datagram.c - datagram sockets through a real netd against real UDP
 * and unix datagram peers: recv-from and send-to both ways (IPv4, IPv6,
 * unix paths, abstract names), every form of `dest`, truncation, connected
 * datagram handles (one datagram per read and write), timeouts that lose
 * nothing, broadcast, and multicast delivery on this host.
 *
 * Janet: net/listen :datagram, net/connect :datagram, net/recv-from,
 * net/send-to. Pragtical: net.open_udp, net.udp:send/receive/close,
 * net.datagram:get_data/get_address/get_port.
 */
#include <net/if.h>
#include <sys/stat.h>

#include "sockets.h"

struct ufx {
    struct netd_proc *n;
    netd_client *c;
    char *h;       /* netd's datagram handle, bound on host */
    int port;      /* its port */
    int peer;      /* the test's own UDP socket on host */
    int peer_port; /* its port */
    const char *host;
};

/* netd bound to @host:0 as a datagram handle, and a UDP peer on @host.
 * Returns -1 (nothing started but netd) when @host is IPv6 and not usable. */
static int ufx_open(struct ufx *f, const char *host)
{
    memset(f, 0, sizeof *f);
    f->host = host;
    f->peer = s_udp(host, &f->peer_port);
    if (f->peer < 0)
        return -1;
    f->n = h_netd_start(NULL);
    f->c = h_client(f->n);
    f->h = h_new_handle(f->c, "listen",
                        json_pack("{s:s, s:i, s:s}", "host", host, "port", 0, "type", "datagram"));
    f->port = n_local_port(f->c, f->h);
    assert_true(f->port > 0);
    return 0;
}

static void ufx_close(struct ufx *f)
{
    if (f->peer >= 0)
        close(f->peer);
    free(f->h);
}

/* Expects result member "from" to be {family, host, port}. */
static void expect_from(const json_t *r, const char *family, const char *host, int port)
{
    const json_t *from = json_object_get(r, "from");
    if (!json_is_object(from))
        fail_msg("recv-from answered without a \"from\" object");
    h_expect_str(from, "family", family);
    h_expect_str(from, "host", host);
    assert_int_equal(h_int(from, "port"), port);
}

/* Both directions between netd and the peer, with dest as address object
 * and as address handle, binary data, and an empty datagram. */
static void udp_both_ways(struct ufx *f, const char *family)
{
    s_sendto_inet(f->peer, "ping", 4, f->host, f->port);
    json_t *r = n_recv_from(f->c, f->h, 100);
    n_expect_data(r, "ping");
    expect_from(r, family, f->host, f->peer_port);
    assert_null(json_object_get(r, "truncated"));
    /* The sender's address object goes straight back as dest (an echo server). */
    n_send_to(f->c, f->h, json_incref(json_object_get(r, "from")), "echo");
    s_expect_dgram(f->peer, "echo", 5000);
    json_decref(r);

    n_send_to(f->c, f->h, n_inet(f->host, f->peer_port), "pong");
    struct sockaddr_storage from;
    char buf[64];
    assert_int_equal(s_recvfrom(f->peer, buf, sizeof buf, 5000, &from, NULL), 4);
    assert_memory_equal(buf, "pong", 4);
    assert_int_equal(s_port(&from), f->port);

    char *a = h_new_handle(
        f->c, "address",
        json_pack("{s:s, s:i, s:s}", "host", f->host, "port", f->peer_port, "type", "datagram"));
    n_send_to(f->c, f->h, json_string(a), "via handle");
    s_expect_dgram(f->peer, "via handle", 5000);
    free(a);

    static const unsigned char bin[] = {0, 0xff, '\n', 0, 7};
    char *hex = h_hex(bin, sizeof bin);
    r = h_call(f->c, "send-to",
               json_pack("{s:s, s:o, s:s, s:s}", "handle", f->h, "dest",
                         n_inet(f->host, f->peer_port), "data", hex, "encoding", "hex"));
    assert_int_equal(h_int(r, "written"), sizeof bin);
    json_decref(r);
    free(hex);
    assert_int_equal(s_recvfrom(f->peer, buf, sizeof buf, 5000, NULL, NULL), sizeof bin);
    assert_memory_equal(buf, bin, sizeof bin);

    /* A datagram of no bytes is still a datagram, in both directions. */
    n_send_to(f->c, f->h, n_inet(f->host, f->peer_port), "");
    assert_int_equal(s_recvfrom(f->peer, buf, sizeof buf, 5000, NULL, NULL), 0);
    s_sendto_inet(f->peer, "", 0, f->host, f->port);
    r = n_recv_from(f->c, f->h, 100);
    n_expect_data(r, "");
    expect_from(r, family, f->host, f->peer_port);
    assert_false(json_is_true(json_object_get(r, "eof")));
    json_decref(r);

    /* A connected handle of this family: one datagram per write and read. */
    char *d = h_new_handle(
        f->c, "connect",
        json_pack("{s:s, s:i, s:s}", "host", f->host, "port", f->peer_port, "type", "datagram"));
    h_write(f->c, d, "connected", 9);
    s_expect_dgram(f->peer, "connected", 5000);
    s_sendto_inet(f->peer, "reply", 5, f->host, n_local_port(f->c, d));
    r = h_call(f->c, "read",
               json_pack("{s:s, s:i, s:f, s:s}", "handle", d, "nbytes", 100, "timeout", 10.0,
                         "encoding", "utf8"));
    h_expect_str(r, "data", "reply");
    json_decref(r);
    free(d);
}

static void test_udp4_both_ways(void **state)
{
    struct ufx f;
    ufx_open(&f, "127.0.0.1");
    udp_both_ways(&f, "inet");
    ufx_close(&f);
}

static void test_udp6_both_ways(void **state)
{
    struct ufx f;
    if (ufx_open(&f, "::1") < 0) {
        print_message("skipped: this machine has no IPv6 loopback (::1 cannot be bound)\n");
        skip();
    }
    udp_both_ways(&f, "inet6");
    ufx_close(&f);
}

/* A datagram larger than nbytes is reported, never cut silently. */
static void test_truncation(void **state)
{
    struct ufx f;
    ufx_open(&f, "127.0.0.1");
    char big[1000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    s_sendto_inet(f.peer, big, sizeof big, f.host, f.port);
    s_sendto_inet(f.peer, "exactly10!", 10, f.host, f.port);
    s_sendto_inet(f.peer, "next", 4, f.host, f.port);

    json_t *r = n_recv_from(f.c, f.h, 100);
    size_t n;
    unsigned char *d = h_data(r, &n);
    assert_int_equal(n, 100);
    assert_memory_equal(d, big, 100);
    free(d);
    assert_true(json_is_true(json_object_get(r, "truncated")));
    assert_int_equal(h_int(r, "size"), sizeof big);
    json_decref(r);

    /* A datagram of exactly nbytes fits; the rest of the big one is gone. */
    r = n_recv_from(f.c, f.h, 10);
    n_expect_data(r, "exactly10!");
    assert_false(json_is_true(json_object_get(r, "truncated")));
    json_decref(r);
    r = n_recv_from(f.c, f.h, 100);
    n_expect_data(r, "next");
    json_decref(r);

    /* read on the bound handle also takes one datagram, and says so too. */
    s_sendto_inet(f.peer, big, 300, f.host, f.port);
    r = h_call(f.c, "read",
               json_pack("{s:s, s:i, s:f, s:s}", "handle", f.h, "nbytes", 7, "timeout", 10.0,
                         "encoding", "utf8"));
    h_expect_str(r, "data", "abcdefg");
    assert_true(json_is_true(json_object_get(r, "truncated")));
    assert_int_equal(h_int(r, "size"), 300);
    json_decref(r);
    ufx_close(&f);
}

/* connect type datagram: read and write move one datagram each. */
static void test_connected(void **state)
{
    struct ufx f;
    ufx_open(&f, "127.0.0.1");
    char *d = h_new_handle(
        f.c, "connect",
        json_pack("{s:s, s:i, s:s}", "host", f.host, "port", f.peer_port, "type", "datagram"));
    json_t *st = n_status(f.c, d);
    h_expect_str(st, "kind", "datagram");
    h_expect_str(st, "state", "success");
    json_decref(st);
    json_t *peer = h_call(f.c, "peername", json_pack("{s:s}", "handle", d));
    assert_int_equal(h_int(peer, "port"), f.peer_port);
    json_decref(peer);
    int dport = n_local_port(f.c, d);

    h_write(f.c, d, "one", 3);
    h_write(f.c, d, "two", 3);
    s_expect_dgram(f.peer, "one", 5000);
    s_expect_dgram(f.peer, "two", 5000);

    s_sendto_inet(f.peer, "alpha", 5, f.host, dport);
    s_sendto_inet(f.peer, "beta", 4, f.host, dport);
    /* A socket that is not the connected peer is filtered by the kernel. */
    int other_port, other = s_udp(f.host, &other_port);
    s_sendto_inet(other, "intruder", 8, f.host, dport);
    s_sendto_inet(f.peer, "gamma", 5, f.host, dport);
    const char *want[] = {"alpha", "beta", "gamma"};
    for (int i = 0; i < 3; i++) {
        json_t *r = h_call(f.c, "read",
                           json_pack("{s:s, s:i, s:f, s:s}", "handle", d, "nbytes", 100, "timeout",
                                     10.0, "encoding", "utf8"));
        h_expect_str(r, "data", want[i]);
        assert_false(json_is_true(json_object_get(r, "eof")));
        json_decref(r);
    }
    /* recv-from works on a connected handle too, naming the peer. */
    s_sendto_inet(f.peer, "delta", 5, f.host, dport);
    json_t *r = n_recv_from(f.c, d, 100);
    n_expect_data(r, "delta");
    expect_from(r, "inet", f.host, f.peer_port);
    json_decref(r);

    /* Datagram handles read one datagram per call: no chunk, no "all". */
    json_decref(
        h_call_err(f.c, "chunk", json_pack("{s:s, s:i}", "handle", d, "nbytes", 4), -32602));
    json_decref(
        h_call_err(f.c, "read", json_pack("{s:s, s:s}", "handle", d, "nbytes", "all"), -32602));
    close(other);
    h_close(f.c, d);
    free(d);
    ufx_close(&f);
}

/* A connected datagram socket whose peer port is closed: the kernel's ICMP
 * "port unreachable" comes back as ECONNREFUSED on a later call. */
static void test_connected_refused(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, fd = s_udp("127.0.0.1", &port);
    close(fd); /* nobody listens on that port any more */
    char *d = h_new_handle(
        c, "connect",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", port, "type", "datagram"));
    h_write(c, d, "anyone?", 7);
    json_t *e = h_call_err(c, "read",
                           json_pack("{s:s, s:i, s:f}", "handle", d, "nbytes", 10, "timeout", 10.0),
                           -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "ECONNREFUSED");
    json_decref(e);
    free(d);
}

static void test_recv_timeout_and_cancel(void **state)
{
    struct ufx f;
    ufx_open(&f, "127.0.0.1");
    json_decref(h_call_err(f.c, "recv-from", json_pack("{s:s, s:f}", "handle", f.h, "timeout", 0.2),
                           -32001));
    json_decref(
        h_call_err(f.c, "recv-from", json_pack("{s:s, s:i}", "handle", f.h, "timeout", 0), -32001));
    /* A receive that waits, then cancel: aborted, and the handle lives on. */
    long long id = h_send(f.c, "recv-from", json_pack("{s:s}", "handle", f.h));
    json_t *r = h_call(f.c, "cancel", json_pack("{s:s}", "handle", f.h));
    json_decref(r);
    json_decref(h_wait_err(f.c, id, -32004));
    /* What arrives after a timed-out receive is there for the next one. */
    s_sendto_inet(f.peer, "late", 4, f.host, f.port);
    json_decref(
        h_call(f.c, "wait",
               json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "readable", "timeout", 10.0)));
    r = h_call(f.c, "recv-from",
               json_pack("{s:s, s:i, s:s}", "handle", f.h, "timeout", 0, "encoding", "utf8"));
    h_expect_str(r, "data", "late");
    json_decref(r);
    /* close while a receive waits: aborted. */
    id = h_send(f.c, "recv-from", json_pack("{s:s}", "handle", f.h));
    h_close(f.c, f.h);
    json_decref(h_wait_err(f.c, id, -32004));
    ufx_close(&f);
}

/* Unix datagram sockets: netd bound to @name, the peer bound to its own. */
static void unix_both_ways(int abstract)
{
    char mine[108], theirs[108];
    s_unix_name(mine, sizeof mine, abstract);
    s_unix_name(theirs, sizeof theirs, abstract);
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *h = h_new_handle(c, "listen", json_pack("{s:s, s:s}", "path", mine, "type", "datagram"));
    int peer = s_unix_dgram(theirs);

    s_sendto_unix(peer, "to netd", 7, mine);
    json_t *r = n_recv_from(c, h, 100);
    n_expect_data(r, "to netd");
    const json_t *from = json_object_get(r, "from");
    h_expect_str(from, "family", "unix");
    h_expect_str(from, "path", theirs);
    json_decref(r);

    n_send_to(c, h, json_pack("{s:s}", "path", theirs), "to peer");
    struct sockaddr_storage ss;
    socklen_t len;
    char buf[64];
    assert_int_equal(s_recvfrom(peer, buf, sizeof buf, 5000, &ss, &len), 7);
    assert_memory_equal(buf, "to peer", 7);
    struct sockaddr_storage want;
    socklen_t wantlen = s_unix(mine, &want);
    if (abstract) {
        assert_int_equal(len, wantlen);
        assert_memory_equal(&ss, &want, wantlen);
    } else {
        assert_string_equal(((struct sockaddr_un *)&ss)->sun_path, mine);
    }

    /* An unnamed sender has no address: "from" is null. */
    int anon = s_unix_dgram(NULL);
    s_sendto_unix(anon, "anonymous", 9, mine);
    r = n_recv_from(c, h, 100);
    n_expect_data(r, "anonymous");
    assert_true(json_is_null(json_object_get(r, "from")));
    json_decref(r);

    /* connect type datagram to the peer's name: one datagram per write. */
    char *d =
        h_new_handle(c, "connect", json_pack("{s:s, s:s}", "path", theirs, "type", "datagram"));
    h_write(c, d, "connected", 9);
    s_expect_dgram(peer, "connected", 5000);

    h_close(c, h);
    if (!abstract) {
        struct stat sb;
        assert_true(stat(mine, &sb) < 0 && errno == ENOENT); /* netd removed its socket file */
        unlink(theirs);
    }
    close(anon);
    close(peer);
    free(d);
    free(h);
}

static void test_unix_path(void **state)
{
    unix_both_ways(0);
}

static void test_unix_abstract(void **state)
{
    unix_both_ways(1);
}

/* dest: every accepted form, and the refused ones. */
static void test_dest_forms(void **state)
{
    struct ufx f;
    ufx_open(&f, "127.0.0.1");
    n_send_to(f.c, f.h, n_inet(f.host, f.peer_port), "object");
    s_expect_dgram(f.peer, "object", 5000);
    /* The port may be a service string, as everywhere else. */
    char svc[16];
    snprintf(svc, sizeof svc, "%d", f.peer_port);
    n_send_to(f.c, f.h, json_pack("{s:s, s:s}", "host", f.host, "port", svc), "service");
    s_expect_dgram(f.peer, "service", 5000);

    static const char *const bad[] = {
        "{\"host\": \"localhost\", \"port\": 9}", /* names are resolved with address first */
        "{\"host\": \"127.0.0.1\"}",              /* no port */
        "{\"port\": 9}",                          /* no host */
        "42",
        "[\"127.0.0.1\", 9]",
        "{\"host\": \"127.0.0.1\", \"port\": 70000}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *dest = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(dest);
        json_decref(h_call_err(
            f.c, "send-to",
            json_pack("{s:s, s:o, s:s}", "handle", f.h, "dest", dest, "data", "AAAA"), -32602));
    }
    /* A handle that is not an address, and one that does not exist. */
    json_decref(h_call_err(f.c, "send-to",
                           json_pack("{s:s, s:s, s:s}", "handle", f.h, "dest", f.h, "data", "AAAA"),
                           -32002));
    json_decref(h_call_err(
        f.c, "send-to",
        json_pack("{s:s, s:s, s:s}", "handle", f.h, "dest", "h0.ffffff", "data", "AAAA"), -32002));
    /* Nothing of those reached the peer. */
    assert_false(s_ready(f.peer, POLLIN, 200));
    ufx_close(&f);
}

/*
 * A kept address handle belongs to the uid and "any connection of that uid
 * may use it" (contract section 3), also as the dest of send-to. With two
 * workers the two control connections, and so the two handles, live on
 * different workers.
 */
static void test_dest_kept_address_of_other_connection(void **state)
{
    static const char *const args[] = {"--workers", "2", NULL};
    struct netd_proc *n = h_netd_start(args);
    netd_client *a = h_client(n), *b = h_client(n);
    int port, peer = s_udp("127.0.0.1", &port);
    char *addr = h_new_handle(a, "address",
                              json_pack("{s:s, s:i, s:s, s:b}", "host", "127.0.0.1", "port", port,
                                        "type", "datagram", "keep", 1));
    char *h = h_new_handle(
        b, "listen",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", 0, "type", "datagram"));
    n_send_to(b, h, json_string(addr), "kept dest");
    s_expect_dgram(peer, "kept dest", 5000);
    close(peer);
    free(h);
    free(addr);
}

/* SO_BROADCAST: refused without it (EACCES), delivered with it. */
static void test_broadcast(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, rx = s_udp("0.0.0.0", &port);
    char *h = h_new_handle(
        c, "listen",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", 0, "type", "datagram"));
    json_t *v = n_getopt(c, h, "so-broadcast");
    assert_true(json_is_false(v));
    json_decref(v);
    json_t *e =
        h_call_err(c, "send-to",
                   json_pack("{s:s, s:o, s:s, s:s}", "handle", h, "dest",
                             n_inet("127.255.255.255", port), "data", "no", "encoding", "utf8"),
                   -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "EACCES");
    json_decref(e);
    n_setopt(c, h, "so-broadcast", json_true());
    v = n_getopt(c, h, "so-broadcast");
    assert_true(json_is_true(v));
    json_decref(v);
    n_send_to(c, h, n_inet("127.255.255.255", port), "to all");
    s_expect_dgram(rx, "to all", 5000);
    close(rx);
    free(h);
}

/* Joins @group on the test's socket @fd on interface address @ifaddr ("0.0.0.0": any). */
static void join4(int fd, const char *group, const char *ifaddr)
{
    struct ip_mreq mr;
    inet_pton(AF_INET, group, &mr.imr_multiaddr);
    inet_pton(AF_INET, ifaddr, &mr.imr_interface);
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) < 0)
        fail_msg("IP_ADD_MEMBERSHIP %s: %s", group, strerror(errno));
}

#define GROUP4 "239.255.42.99"

/* IPv4 multicast into netd: membership on the loopback interface, then
 * dropped again. The sender picks loopback with IP_MULTICAST_IF. */
static void test_multicast4_receive(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *h = h_new_handle(
        c, "listen",
        json_pack("{s:s, s:i, s:s}", "host", "0.0.0.0", "port", 0, "type", "datagram"));
    int port = n_local_port(c, h);
    n_setopt(c, h, "ip-add-membership", json_string(GROUP4 "@127.0.0.1"));

    int tx_port, tx = s_udp("127.0.0.1", &tx_port);
    struct in_addr lo = {htonl(INADDR_LOOPBACK)};
    unsigned char loop = 1;
    setsockopt(tx, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof lo);
    setsockopt(tx, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop);
    struct sockaddr_storage g;
    socklen_t glen = s_inet(GROUP4, port, &g);
    if (sendto(tx, "group hello", 11, 0, (struct sockaddr *)&g, glen) < 0) {
        int e = errno;
        close(tx);
        print_message("skipped: this kernel cannot send multicast on loopback: %s\n", strerror(e));
        skip();
    }
    json_t *r = n_recv_from(c, h, 100);
    n_expect_data(r, "group hello");
    expect_from(r, "inet", "127.0.0.1", tx_port);
    json_decref(r);

    n_setopt(c, h, "ip-drop-membership", json_string(GROUP4 "@127.0.0.1"));
    s_sendto(tx, "unheard", 7, &g, glen);
    json_decref(
        h_call_err(c, "recv-from", json_pack("{s:s, s:f}", "handle", h, "timeout", 0.5), -32001));
    /* Dropping a membership that is not held is the kernel's EADDRNOTAVAIL. */
    json_t *e = h_call_err(c, "setsockopt",
                           json_pack("{s:s, s:s, s:s}", "handle", h, "option", "ip-drop-membership",
                                     "value", GROUP4 "@127.0.0.1"),
                           -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "EADDRNOTAVAIL");
    json_decref(e);
    close(tx);
    free(h);
}

/* IPv4 multicast out of netd: TTL and loop set and read back, and loop
 * decides whether a member on this host hears it. netd has no
 * IP_MULTICAST_IF, so the route to the group picks the interface; the
 * member joins "any" so the kernel picks the same one. */
static void test_multicast4_send(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, rx = s_udp("0.0.0.0", &port);
    join4(rx, GROUP4, "0.0.0.0");
    char *h = h_new_handle(
        c, "listen",
        json_pack("{s:s, s:i, s:s}", "host", "0.0.0.0", "port", 0, "type", "datagram"));
    n_setopt(c, h, "ip-multicast-ttl", json_integer(1));
    json_t *v = n_getopt(c, h, "ip-multicast-ttl");
    assert_int_equal(json_integer_value(v), 1);
    json_decref(v);
    n_setopt(c, h, "ip-multicast-loop", json_true());
    v = n_getopt(c, h, "ip-multicast-loop");
    assert_true(json_is_true(v));
    json_decref(v);

    json_t *res = NULL, *err = NULL;
    int rc = netd_call(c, "send-to",
                       json_pack("{s:s, s:o, s:s, s:s}", "handle", h, "dest", n_inet(GROUP4, port),
                                 "data", "from netd", "encoding", "utf8"),
                       &res, &err);
    if (rc == 1 && netd_error_code(err) == -32000) {
        print_message("skipped: no route for multicast on this host (%s)\n",
                      netd_error_message(err));
        json_decref(err);
        close(rx);
        skip();
    }
    assert_int_equal(rc, 0);
    json_decref(res);
    s_expect_dgram(rx, "from netd", 5000);

    n_setopt(c, h, "ip-multicast-loop", json_false());
    v = n_getopt(c, h, "ip-multicast-loop");
    assert_true(json_is_false(v));
    json_decref(v);
    n_send_to(c, h, n_inet(GROUP4, port), "not looped");
    assert_false(s_ready(rx, POLLIN, 300));
    close(rx);
    free(h);
}

#define GROUP6 "ff12::4242"

/* IPv6 multicast into netd, joined with the kernel's choice of interface
 * and with named ones; hops set and read back. */
static void test_multicast6(void **state)
{
    int tx_port, tx = s_udp("::", &tx_port);
    if (tx < 0) {
        print_message("skipped: no IPv6 on this machine\n");
        skip();
    }
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *h = h_new_handle(
        c, "listen", json_pack("{s:s, s:i, s:s}", "host", "::", "port", 0, "type", "datagram"));
    int port = n_local_port(c, h);
    n_setopt(c, h, "ipv6-join-group", json_string(GROUP6));
    n_setopt(c, h, "ipv6-multicast-hops", json_integer(3));
    json_t *v = n_getopt(c, h, "ipv6-multicast-hops");
    assert_int_equal(json_integer_value(v), 3);
    json_decref(v);
    /* An interface by name and by index; an unknown name is refused. */
    n_setopt(c, h, "ipv6-join-group", json_string(GROUP6 "@lo"));
    char byindex[64];
    snprintf(byindex, sizeof byindex, GROUP6 "@%u", if_nametoindex("lo"));
    n_setopt(c, h, "ipv6-leave-group", json_string(byindex));
    json_decref(h_call_err(c, "setsockopt",
                           json_pack("{s:s, s:s, s:s}", "handle", h, "option", "ipv6-join-group",
                                     "value", GROUP6 "@no-such-if0"),
                           -32602));

    struct sockaddr_storage g;
    socklen_t glen = s_inet(GROUP6, port, &g);
    if (sendto(tx, "six", 3, 0, (struct sockaddr *)&g, glen) < 0) {
        int e = errno;
        close(tx);
        print_message("skipped: IPv6 multicast cannot be sent here: %s\n", strerror(e));
        skip();
    }
    json_t *r = n_recv_from(c, h, 100);
    n_expect_data(r, "six");
    json_decref(r);
    n_setopt(c, h, "ipv6-leave-group", json_string(GROUP6));
    s_sendto(tx, "gone", 4, &g, glen);
    json_decref(
        h_call_err(c, "recv-from", json_pack("{s:s, s:f}", "handle", h, "timeout", 0.5), -32001));
    close(tx);
    free(h);
}

/* The largest UDP payloads go whole; one past the limit is EMSGSIZE. */
static void test_large_datagrams(void **state)
{
    enum { BIG = 65507 };
    struct ufx f;
    ufx_open(&f, "127.0.0.1");
    int rcv = 1 << 20;
    setsockopt(f.peer, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    unsigned char *data = malloc(BIG + 1);
    for (size_t i = 0; i <= BIG; i++)
        data[i] = (unsigned char)(i * 13);
    char *b64 = h_base64(data, BIG);
    json_t *r = h_call(f.c, "send-to",
                       json_pack("{s:s, s:o, s:s}", "handle", f.h, "dest",
                                 n_inet(f.host, f.peer_port), "data", b64));
    assert_int_equal(h_int(r, "written"), BIG);
    json_decref(r);
    free(b64);
    unsigned char *got = malloc(BIG + 1);
    assert_int_equal(s_recvfrom(f.peer, got, BIG + 1, 5000, NULL, NULL), BIG);
    assert_memory_equal(got, data, BIG);

    b64 = h_base64(data, BIG + 1);
    json_t *e = h_call_err(f.c, "send-to",
                           json_pack("{s:s, s:o, s:s}", "handle", f.h, "dest",
                                     n_inet(f.host, f.peer_port), "data", b64),
                           -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "EMSGSIZE");
    json_decref(e);
    free(b64);

    /* And into netd: the default nbytes (65536) takes the largest whole. */
    s_sendto_inet(f.peer, data, BIG, f.host, f.port);
    r = h_call(f.c, "recv-from", json_pack("{s:s, s:f}", "handle", f.h, "timeout", 10.0));
    size_t n;
    unsigned char *d = h_data(r, &n);
    assert_int_equal(n, BIG);
    assert_memory_equal(d, data, BIG);
    assert_false(json_is_true(json_object_get(r, "truncated")));
    json_decref(r);
    free(d);
    free(got);
    free(data);
    ufx_close(&f);
}

static void test_wrong_kinds(void **state)
{
    struct ufx f;
    ufx_open(&f, "127.0.0.1");
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char *s = h_connect(f.c, h_peer_host(echo), h_peer_port(echo));
    json_t *e = h_call_err(f.c, "recv-from", json_pack("{s:s}", "handle", s), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "stream");
    json_decref(e);
    e = h_call_err(f.c, "send-to",
                   json_pack("{s:s, s:o, s:s}", "handle", s, "dest", n_inet(f.host, f.peer_port),
                             "data", "AAAA"),
                   -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "stream");
    json_decref(e);
    e = h_call_err(f.c, "accept", json_pack("{s:s}", "handle", f.h), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "datagram");
    json_decref(e);
    /* server is listen plus accept-loop, which datagrams do not have. */
    json_decref(h_call_err(
        f.c, "server",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", 0, "type", "datagram"), -32602));
    free(s);
    ufx_close(&f);
}

/* wait readable, and status, on a datagram handle. */
static void test_status_and_wait(void **state)
{
    struct ufx f;
    ufx_open(&f, "127.0.0.1");
    json_decref(h_call_err(
        f.c, "wait", json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "readable", "timeout", 0.2),
        -32001));
    json_t *st =
        h_call(f.c, "wait",
               json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "writable", "timeout", 5.0));
    h_expect_str(st, "kind", "datagram");
    json_decref(st);
    long long id =
        h_send(f.c, "wait",
               json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "readable", "timeout", 10.0));
    s_sendto_inet(f.peer, "twelve bytes", 12, f.host, f.port);
    st = h_wait(f.c, id);
    assert_int_equal(h_int(st, "readable"), 12);
    assert_int_equal(h_int(json_object_get(st, "local"), "port"), f.port);
    json_decref(st);
    json_t *r = n_recv_from(f.c, f.h, 100);
    json_decref(r);
    n_send_to(f.c, f.h, n_inet(f.host, f.peer_port), "abc");
    st = n_status(f.c, f.h);
    assert_int_equal(h_int(st, "bytes_in"), 12);
    assert_int_equal(h_int(st, "bytes_out"), 3);
    assert_int_equal(h_int(st, "readable"), 0);
    json_decref(st);
    ufx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_udp4_both_ways, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_udp6_both_ways, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_truncation, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connected, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_connected_refused, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_recv_timeout_and_cancel, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_unix_path, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_unix_abstract, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_dest_forms, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_dest_kept_address_of_other_connection, h_setup,
                                        h_teardown),
        cmocka_unit_test_setup_teardown(test_broadcast, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_multicast4_receive, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_multicast4_send, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_multicast6, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_large_datagrams, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_kinds, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_status_and_wait, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
