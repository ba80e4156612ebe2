/*
 * test_sockopt.c - setsockopt and getsockopt through a real netd: every
 * option of the contract set and read back as the kernel reports it, on the
 * sockets it applies to; values checked for type and range; read-only and
 * set-only options; options that do not apply (-32003 wrong kind); and the
 * effect of a few options seen by a real peer (TTL and hop limit on the
 * wire, SO_LINGER 0 resetting, SO_ERROR after an ICMP error).
 *
 * Janet: net/setsockopt. Emilua: set_option/get_option. lua-net: every
 * option accessor (reuseaddr, rcvbuf, tcpnodelay, socktype, error, ...).
 */
#include <netinet/tcp.h>

#include "sockets.h"

/* The sockets an option is tried on. */
enum sk { SK_TCP4, SK_TCP6, SK_LISTEN4, SK_UDP4, SK_UDP6, SK_UNIX, SK__COUNT };

static const char *const sk_names[] = {"TCP/IPv4 stream", "TCP/IPv6 stream", "TCP/IPv4 listener",
                                       "UDP/IPv4",        "UDP/IPv6",        "unix stream"};

struct ofx {
    struct netd_proc *n;
    netd_client *c;
    struct peer *echo4, *echo6;
    char *h[SK__COUNT]; /* NULL: not available on this machine (no IPv6) */
};

static char *udp_handle(netd_client *c, const char *host)
{
    return h_new_handle(c, "listen",
                        json_pack("{s:s, s:i, s:s}", "host", host, "port", 0, "type", "datagram"));
}

static void ofx_open(struct ofx *f)
{
    memset(f, 0, sizeof *f);
    f->n = h_netd_start(NULL);
    f->c = h_client(f->n);
    f->echo4 = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    f->echo6 = h_peer_tcp(PEER_ECHO, AF_INET6, NULL, 0);
    f->h[SK_TCP4] = h_connect(f->c, h_peer_host(f->echo4), h_peer_port(f->echo4));
    if (f->echo6) {
        f->h[SK_TCP6] = h_connect(f->c, h_peer_host(f->echo6), h_peer_port(f->echo6));
        f->h[SK_UDP6] = udp_handle(f->c, "::1");
    }
    f->h[SK_LISTEN4] =
        h_new_handle(f->c, "listen", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 0));
    f->h[SK_UDP4] = udp_handle(f->c, "127.0.0.1");
    json_t *r = h_call(f->c, "pair", NULL);
    f->h[SK_UNIX] = strdup(json_string_value(json_array_get(json_object_get(r, "handles"), 0)));
    json_decref(r);
}

static void ofx_close(struct ofx *f)
{
    for (int i = 0; i < SK__COUNT; i++)
        free(f->h[i]);
}

/* How the value read back relates to the value set. */
enum back { SAME, DOUBLED, GIVEN };

struct optcase {
    const char *option;
    enum sk on;
    const char *value; /* JSON */
    enum back back;
    const char *given; /* JSON read back, for GIVEN */
};

/* Every settable option on a socket it applies to, twice where a second
 * value proves the first one was not just the default. */
static const struct optcase cases[] = {
    {"so-broadcast", SK_UDP4, "true", SAME, NULL},
    {"so-broadcast", SK_UDP4, "false", SAME, NULL},
    {"so-reuseaddr", SK_TCP4, "true", SAME, NULL},
    {"so-reuseaddr", SK_TCP4, "false", SAME, NULL},
    {"so-reuseport", SK_LISTEN4, "true", SAME, NULL},
    {"so-reuseport", SK_LISTEN4, "false", SAME, NULL},
    {"so-keepalive", SK_TCP4, "true", SAME, NULL},
    {"so-keepalive", SK_TCP4, "false", SAME, NULL},
    {"so-linger", SK_TCP4, "7", SAME, NULL},
    {"so-linger", SK_TCP4, "0", SAME, NULL},
    {"so-linger", SK_TCP4, "null", SAME, NULL},
    {"so-rcvbuf", SK_TCP4, "65536", DOUBLED, NULL},
    {"so-rcvbuf", SK_UNIX, "32768", DOUBLED, NULL},
    {"so-sndbuf", SK_TCP4, "65536", DOUBLED, NULL},
    {"so-sndbuf", SK_UDP4, "32768", DOUBLED, NULL},
    {"so-rcvlowat", SK_TCP4, "16", SAME, NULL},
    {"so-rcvlowat", SK_TCP4, "1", SAME, NULL},
    {"so-dontroute", SK_TCP4, "true", SAME, NULL},
    {"so-dontroute", SK_TCP4, "false", SAME, NULL},
    {"so-oobinline", SK_TCP4, "true", SAME, NULL},
    {"so-oobinline", SK_TCP4, "false", SAME, NULL},
    {"so-timestamp", SK_UDP4, "true", SAME, NULL},
    {"so-timestamp", SK_UDP4, "false", SAME, NULL},
    {"tcp-nodelay", SK_TCP4, "true", SAME, NULL},
    {"tcp-nodelay", SK_TCP6, "false", SAME, NULL},
    {"tcp-cork", SK_TCP4, "true", SAME, NULL},
    {"tcp-cork", SK_TCP4, "false", SAME, NULL},
    {"tcp-keepidle", SK_TCP4, "30", SAME, NULL},
    {"tcp-keepidle", SK_TCP6, "32767", SAME, NULL},
    {"tcp-keepintvl", SK_TCP4, "5", SAME, NULL},
    {"tcp-keepintvl", SK_TCP4, "1", SAME, NULL},
    {"tcp-keepcnt", SK_TCP4, "3", SAME, NULL},
    {"tcp-keepcnt", SK_TCP4, "127", SAME, NULL},
    {"ip-ttl", SK_TCP4, "17", SAME, NULL},
    {"ip-ttl", SK_UDP4, "255", SAME, NULL},
    {"ip-multicast-ttl", SK_UDP4, "0", SAME, NULL},
    {"ip-multicast-ttl", SK_UDP4, "200", SAME, NULL},
    {"ip-multicast-loop", SK_UDP4, "false", SAME, NULL},
    {"ip-multicast-loop", SK_UDP4, "true", SAME, NULL},
    {"ipv6-multicast-hops", SK_UDP6, "9", SAME, NULL},
    {"ipv6-multicast-hops", SK_UDP6, "-1", GIVEN, "1"}, /* -1: the default, one hop */
    {"ipv6-unicast-hops", SK_TCP6, "33", SAME, NULL},
    {"ipv6-unicast-hops", SK_UDP6, "255", SAME, NULL},
};

/* Sets one case and reads it back; returns 0, or 1 when skipped (no IPv6). */
static int run_case(struct ofx *f, const struct optcase *k)
{
    const char *h = f->h[k->on];
    if (!h)
        return 1;
    json_t *v = json_loads(k->value, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    json_t *want = k->back == GIVEN     ? json_loads(k->given, JSON_DECODE_ANY, NULL)
                   : k->back == DOUBLED ? json_integer(2 * json_integer_value(v))
                                        : json_incref(v);
    n_setopt(f->c, h, k->option, v);
    json_t *got = n_getopt(f->c, h, k->option);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_ENCODE_ANY), *w = json_dumps(want, JSON_ENCODE_ANY);
        print_error("%s on %s: set %s, read back %s, expected %s\n", k->option, sk_names[k->on],
                    k->value, g, w);
        free(g);
        free(w);
        fail();
    }
    json_decref(got);
    json_decref(want);
    return 0;
}

static void test_set_and_read_back(void **state)
{
    struct ofx f;
    ofx_open(&f);
    int skipped = 0;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        skipped += run_case(&f, &cases[i]);
    if (skipped)
        print_message("%d IPv6 cases skipped: no IPv6 loopback\n", skipped);
    ofx_close(&f);
}

/* SO_DEBUG needs CAP_NET_ADMIN: set and read back when netd has it, the
 * kernel's EACCES otherwise. Either way the kernel decided, not netd. */
static void test_so_debug(void **state)
{
    struct ofx f;
    ofx_open(&f);
    json_t *res = NULL, *err = NULL;
    int rc = netd_call(
        f.c, "setsockopt",
        json_pack("{s:s, s:s, s:b}", "handle", f.h[SK_TCP4], "option", "so-debug", "value", 1),
        &res, &err);
    json_t *v = n_getopt(f.c, f.h[SK_TCP4], "so-debug");
    if (rc == 0) {
        assert_true(json_is_true(v));
        n_setopt(f.c, f.h[SK_TCP4], "so-debug", json_false());
        json_decref(v);
        v = n_getopt(f.c, f.h[SK_TCP4], "so-debug");
    } else {
        assert_int_equal(netd_error_code(err), -32000);
        assert_string_equal(h_err_data_str(err, "errno"), "EACCES");
        print_message("netd lacks CAP_NET_ADMIN: so-debug refused by the kernel\n");
    }
    assert_true(json_is_false(v));
    json_decref(v);
    json_decref(res);
    json_decref(err);
    ofx_close(&f);
}

/* SO_SNDLOWAT is read-only on Linux: getsockopt says 1, setting it is the
 * kernel's ENOPROTOOPT, passed on as an os error. */
static void test_so_sndlowat(void **state)
{
    struct ofx f;
    ofx_open(&f);
    json_t *v = n_getopt(f.c, f.h[SK_TCP4], "so-sndlowat");
    assert_int_equal(json_integer_value(v), 1);
    json_decref(v);
    json_t *e = h_call_err(f.c, "setsockopt",
                           json_pack("{s:s, s:s, s:i}", "handle", f.h[SK_TCP4], "option",
                                     "so-sndlowat", "value", 4096),
                           -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "ENOPROTOOPT");
    json_decref(e);
    ofx_close(&f);
}

/* Read-only options: their values, and setsockopt refused as invalid params. */
static void test_read_only(void **state)
{
    struct ofx f;
    ofx_open(&f);
    static const struct {
        enum sk on;
        const char *option, *value;
    } ro[] = {
        {SK_TCP4, "so-type", "\"stream\""},  {SK_UDP4, "so-type", "\"datagram\""},
        {SK_UNIX, "so-type", "\"stream\""},  {SK_LISTEN4, "so-acceptconn", "true"},
        {SK_TCP4, "so-acceptconn", "false"}, {SK_UDP4, "so-acceptconn", "false"},
        {SK_TCP4, "so-error", "null"},       {SK_UDP4, "so-error", "null"},
    };
    for (size_t i = 0; i < sizeof ro / sizeof *ro; i++) {
        json_t *v = n_getopt(f.c, f.h[ro[i].on], ro[i].option);
        json_t *want = json_loads(ro[i].value, JSON_DECODE_ANY, NULL);
        if (!json_equal(v, want))
            fail_msg("%s on %s is not %s", ro[i].option, sk_names[ro[i].on], ro[i].value);
        json_decref(h_call_err(f.c, "setsockopt",
                               json_pack("{s:s, s:s, s:O}", "handle", f.h[ro[i].on], "option",
                                         ro[i].option, "value", want),
                               -32602));
        json_decref(v);
        json_decref(want);
    }
    ofx_close(&f);
}

/* Values of the wrong type or out of range never reach the kernel. */
static void test_values_checked(void **state)
{
    struct ofx f;
    ofx_open(&f);
    static const struct {
        enum sk on;
        const char *option, *value;
    } bad[] = {
        {SK_TCP4, "tcp-nodelay", "1"},
        {SK_TCP4, "tcp-nodelay", "\"true\""},
        {SK_TCP4, "tcp-nodelay", "null"},
        {SK_TCP4, "so-keepalive", "0"},
        {SK_TCP4, "so-rcvbuf", "0"},
        {SK_TCP4, "so-rcvbuf", "-1"},
        {SK_TCP4, "so-rcvbuf", "1.5"},
        {SK_TCP4, "so-rcvbuf", "\"65536\""},
        {SK_TCP4, "so-rcvbuf", "true"},
        {SK_TCP4, "so-rcvbuf", "4294967296"},
        {SK_TCP4, "so-rcvlowat", "0"},
        {SK_TCP4, "so-linger", "-1"},
        {SK_TCP4, "so-linger", "65536"},
        {SK_TCP4, "so-linger", "true"},
        {SK_TCP4, "so-linger", "2.5"},
        {SK_TCP4, "tcp-keepidle", "0"},
        {SK_TCP4, "tcp-keepidle", "32768"},
        {SK_TCP4, "tcp-keepintvl", "0"},
        {SK_TCP4, "tcp-keepcnt", "0"},
        {SK_TCP4, "tcp-keepcnt", "128"},
        {SK_TCP4, "ip-ttl", "0"},
        {SK_TCP4, "ip-ttl", "256"},
        {SK_UDP4, "ip-multicast-ttl", "-1"},
        {SK_UDP4, "ip-multicast-ttl", "256"},
        {SK_UDP4, "ip-multicast-loop", "1"},
        {SK_UDP4, "ip-add-membership", "\"not an address\""},
        {SK_UDP4, "ip-add-membership", "\"239.1.2.3@not-an-address\""},
        {SK_UDP4, "ip-add-membership", "\"::1\""},
        {SK_UDP4, "ip-add-membership", "239"},
        {SK_UDP4, "ip-drop-membership", "null"},
        {SK_UDP6, "ipv6-unicast-hops", "-2"},
        {SK_UDP6, "ipv6-unicast-hops", "256"},
        {SK_UDP6, "ipv6-multicast-hops", "256"},
        {SK_UDP6, "ipv6-join-group", "\"239.1.2.3\""},
        {SK_UDP6, "ipv6-leave-group", "7"},
        {SK_TCP6, "ipv6-v6only", "\"yes\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (!f.h[bad[i].on])
            continue;
        json_t *v = json_loads(bad[i].value, JSON_DECODE_ANY, NULL);
        assert_non_null(v);
        json_t *res = NULL, *err = NULL;
        int rc = netd_call(f.c, "setsockopt",
                           json_pack("{s:s, s:s, s:o}", "handle", f.h[bad[i].on], "option",
                                     bad[i].option, "value", v),
                           &res, &err);
        if (rc != 1 || netd_error_code(err) != -32602)
            fail_msg("setsockopt %s %s on %s: expected -32602, got %s", bad[i].option, bad[i].value,
                     sk_names[bad[i].on], rc == 0 ? "a result" : netd_error_message(err));
        json_decref(err);
    }
    /* Unknown options, no value, no option. */
    json_decref(h_call_err(
        f.c, "setsockopt",
        json_pack("{s:s, s:s, s:b}", "handle", f.h[SK_TCP4], "option", "so-nosuch", "value", 1),
        -32602));
    json_decref(h_call_err(f.c, "getsockopt",
                           json_pack("{s:s, s:s}", "handle", f.h[SK_TCP4], "option", "SO_RCVBUF"),
                           -32602));
    json_decref(h_call_err(f.c, "setsockopt",
                           json_pack("{s:s, s:s}", "handle", f.h[SK_TCP4], "option", "tcp-nodelay"),
                           -32602));
    json_decref(h_call_err(f.c, "getsockopt", json_pack("{s:s}", "handle", f.h[SK_TCP4]), -32602));
    /* Membership options can only be set. */
    static const char *const set_only[] = {"ip-add-membership", "ip-drop-membership"};
    for (int i = 0; i < 2; i++)
        json_decref(h_call_err(
            f.c, "getsockopt",
            json_pack("{s:s, s:s}", "handle", f.h[SK_UDP4], "option", set_only[i]), -32602));
    /* Nothing above changed the socket. */
    json_t *v = n_getopt(f.c, f.h[SK_TCP4], "tcp-nodelay");
    assert_true(json_is_boolean(v));
    json_decref(v);
    ofx_close(&f);
}

/* An option that does not apply to the socket: -32003 naming its kind. */
static void test_wrong_kind(void **state)
{
    struct ofx f;
    ofx_open(&f);
    static const struct {
        enum sk on;
        const char *option, *value, *kind;
    } wk[] = {
        {SK_UDP4, "tcp-nodelay", "true", "datagram"},
        {SK_UDP4, "tcp-keepidle", "10", "datagram"},
        {SK_UNIX, "tcp-cork", "true", "stream"},
        {SK_UNIX, "ip-ttl", "5", "stream"},
        {SK_TCP4, "ip-multicast-ttl", "1", "stream"},
        {SK_TCP4, "ip-add-membership", "\"239.1.2.3\"", "stream"},
        {SK_TCP4, "ipv6-v6only", "true", "stream"},
        {SK_UDP4, "ipv6-join-group", "\"ff12::1\"", "datagram"},
        {SK_TCP6, "ip-ttl", "5", "stream"},
        {SK_UDP6, "ip-multicast-loop", "true", "datagram"},
        {SK_TCP6, "ipv6-multicast-hops", "3", "stream"},
    };
    for (size_t i = 0; i < sizeof wk / sizeof *wk; i++) {
        if (!f.h[wk[i].on])
            continue;
        json_t *v = json_loads(wk[i].value, JSON_DECODE_ANY, NULL);
        json_t *e = h_call_err(f.c, "setsockopt",
                               json_pack("{s:s, s:s, s:o}", "handle", f.h[wk[i].on], "option",
                                         wk[i].option, "value", v),
                               -32003);
        assert_string_equal(h_err_data_str(e, "kind"), wk[i].kind);
        json_decref(e);
        if (strstr(wk[i].option, "membership") || strstr(wk[i].option, "group"))
            continue;
        e = h_call_err(f.c, "getsockopt",
                       json_pack("{s:s, s:s}", "handle", f.h[wk[i].on], "option", wk[i].option),
                       -32003);
        json_decref(e);
    }
    /* An address handle has no socket at all. */
    char *a = h_new_handle(f.c, "address", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", 9));
    json_t *e = h_call_err(f.c, "getsockopt",
                           json_pack("{s:s, s:s}", "handle", a, "option", "so-type"), -32003);
    assert_string_equal(h_err_data_str(e, "kind"), "address");
    json_decref(e);
    free(a);
    ofx_close(&f);
}

/* Receives one datagram on @fd with its TTL (IPv4) or hop limit (IPv6). */
static int recv_ttl(int fd, int level, int type)
{
    char buf[64], cbuf[256];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    if (!s_ready(fd, POLLIN, 5000))
        fail_msg("no datagram arrived");
    if (recvmsg(fd, &mh, 0) < 0)
        fail_msg("recvmsg: %s", strerror(errno));
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == level && cm->cmsg_type == type) {
            int v;
            memcpy(&v, CMSG_DATA(cm), sizeof v);
            return v;
        }
    fail_msg("no TTL in the datagram's control data");
    return -1;
}

/* ip-ttl and ipv6-unicast-hops as the receiving peer sees them. */
static void test_ttl_on_the_wire(void **state)
{
    struct ofx f;
    ofx_open(&f);
    int port, rx = s_udp("127.0.0.1", &port), on = 1;
    setsockopt(rx, IPPROTO_IP, IP_RECVTTL, &on, sizeof on);
    n_setopt(f.c, f.h[SK_UDP4], "ip-ttl", json_integer(42));
    n_send_to(f.c, f.h[SK_UDP4], n_inet("127.0.0.1", port), "ttl");
    assert_int_equal(recv_ttl(rx, IPPROTO_IP, IP_TTL), 42);
    close(rx);
    if (f.h[SK_UDP6]) {
        rx = s_udp("::1", &port);
        setsockopt(rx, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on);
        n_setopt(f.c, f.h[SK_UDP6], "ipv6-unicast-hops", json_integer(7));
        n_send_to(f.c, f.h[SK_UDP6], n_inet("::1", port), "hops");
        assert_int_equal(recv_ttl(rx, IPPROTO_IPV6, IPV6_HOPLIMIT), 7);
        close(rx);
    }
    ofx_close(&f);
}

/*
 * ipv6-v6only on netd's sockets: an IPv6 listener on "::" reports false and
 * really takes IPv4 clients. Linux lets IPV6_V6ONLY change only before
 * bind, and a handle's socket is already bound (or connected), so
 * setsockopt on the handle is the kernel's EINVAL. The option is set with
 * `options` of listen/connect/server instead, between socket() and bind()
 * (test_options.c:test_v6only_before_bind).
 */
static void test_v6only(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    json_t *res = NULL, *err = NULL;
    if (netd_call(c, "listen", json_pack("{s:s, s:i}", "host", "::", "port", 0), &res, &err) != 0) {
        print_message("skipped: no IPv6 here (%s)\n", netd_error_message(err));
        json_decref(err);
        skip();
    }
    char *h = strdup(h_str(res, "handle"));
    json_decref(res);
    json_t *v = n_getopt(c, h, "ipv6-v6only");
    assert_true(json_is_false(v));
    json_decref(v);
    int fd = s_tcp_connect("127.0.0.1", n_local_port(c, h));
    json_t *r = h_call(c, "accept", json_pack("{s:s, s:f}", "handle", h, "timeout", 10.0));
    json_decref(r);
    close(fd);
    json_t *e = h_call_err(
        c, "setsockopt",
        json_pack("{s:s, s:s, s:b}", "handle", h, "option", "ipv6-v6only", "value", 1), -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "EINVAL");
    json_decref(e);
    free(h);
}

/* so-linger 0: closing the handle resets the connection, as the peer sees. */
static void test_linger_zero_resets(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    char *h = h_connect(c, "127.0.0.1", port);
    int fd = s_accept(lfd, 5000);
    n_setopt(c, h, "so-linger", json_integer(0));
    h_close(c, h);
    char b;
    assert_true(s_ready(fd, POLLIN, 5000));
    assert_true(recv(fd, &b, 1, 0) < 0 && errno == ECONNRESET);
    close(fd);
    close(lfd);
    free(h);
}

/* so-error: the ICMP error of a connected datagram socket, read and cleared. */
static void test_so_error(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port, fd = s_udp("127.0.0.1", &port);
    close(fd);
    char *h = h_new_handle(
        c, "connect",
        json_pack("{s:s, s:i, s:s}", "host", "127.0.0.1", "port", port, "type", "datagram"));
    h_write(c, h, "x", 1);
    json_t *v = NULL;
    for (int i = 0; i < 100; i++) {
        v = n_getopt(c, h, "so-error");
        if (!json_is_null(v))
            break;
        json_decref(v);
        v = NULL;
        h_sleep_ms(20);
    }
    assert_non_null(v);
    assert_string_equal(json_string_value(v), "ECONNREFUSED");
    json_decref(v);
    v = n_getopt(c, h, "so-error"); /* reading it cleared it */
    assert_true(json_is_null(v));
    json_decref(v);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_and_read_back, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_so_debug, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_so_sndlowat, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_read_only, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_values_checked, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_kind, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_ttl_on_the_wire, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_v6only, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_linger_zero_resets, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_so_error, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
