/*
 * test_netctl.c - the netctl command line against a real netd: ping, a
 * connect/write/read/close round trip through kept handles, ls, and the
 * exit statuses (0 success, 1 error answer or failure, 2 usage error);
 * listen --loop and accept-loop, udp send/recv against the test's own UDP
 * socket, socket options, sockets passed as descriptors (pair, assign,
 * release), and TLS (connect and nc --tls against openssl s_server, the
 * hints after a failed verification, starttls, status in words).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netctl_run.h"
#include "tls_peers.h"

static void test_netctl_ping(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct run r = expect_run(h_netd_socket(n), 0, "ping");
    assert_true(r.outlen > 0);
    run_free(&r);
    r = expect_run(h_netd_socket(n), 0, "--json", "ping");
    assert_string_equal(r.out, "{}\n");
    run_free(&r);
}

static void test_netctl_round_trip(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    const char *s = h_netd_socket(n);
    char port[16];
    snprintf(port, sizeof port, "%d", h_peer_port(echo));
    struct run r = expect_run(s, 0, "connect", "127.0.0.1", port);
    assert_true(r.outlen > 1 && r.out[r.outlen - 1] == '\n');
    r.out[r.outlen - 1] = '\0';
    char *h = strdup(r.out);
    run_free(&r);
    /* Each netctl run is its own connection: the handle lives because netctl keeps it. */
    expect_status(s, 0, "write", h, "hello netctl");
    r = expect_run(s, 0, "chunk", h, "12", "--timeout", "10");
    assert_string_equal(r.out, "hello netctl");
    run_free(&r);
    /* The kept handle is the uid's: a library client can use it too. */
    netd_client *c = h_client(n);
    h_write(c, h, "from the library", 16);
    r = expect_run(s, 0, "chunk", h, "16", "--timeout", "10");
    assert_string_equal(r.out, "from the library");
    run_free(&r);
    expect_status(s, 0, "close", h);
    assert_true(h_peer_wait_eofs(echo, 1, 10000));
    free(h);
}

static void test_netctl_ls(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    const char *s = h_netd_socket(n);
    char port[16];
    snprintf(port, sizeof port, "%d", h_peer_port(echo));
    struct run r = expect_run(s, 0, "connect", "127.0.0.1", port);
    r.out[strcspn(r.out, "\n")] = '\0';
    char *h = strdup(r.out);
    run_free(&r);
    r = expect_run(s, 0, "ls");
    assert_non_null(strstr(r.out, h));
    run_free(&r);
    r = expect_run(s, 0, "--json", "ls");
    json_t *v = json_loads(r.out, 0, NULL);
    assert_non_null(v);
    json_t *list = json_object_get(v, "handles");
    assert_int_equal(json_array_size(list), 1);
    h_expect_str(json_array_get(list, 0), "handle", h);
    json_decref(v);
    run_free(&r);
    expect_status(s, 0, "close", h);
    r = expect_run(s, 0, "ls");
    assert_null(strstr(r.out, h));
    run_free(&r);
    free(h);
}

static void test_netctl_exit_codes(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    char port[16];
    snprintf(port, sizeof port, "%d", h_refused_port());
    /* Error answers from netd: 1, with a message on stderr. */
    struct run r = expect_run(s, 1, "read", "no-such-handle", "10");
    assert_true(r.errlen > 0);
    assert_int_equal(r.outlen, 0);
    run_free(&r);
    r = expect_run(s, 1, "connect", "127.0.0.1", port);
    assert_non_null(strstr(r.err, "ECONNREFUSED"));
    run_free(&r);
    /* No netd there: a failure, 1. */
    expect_status("@netd-test-nobody-listens-here", 1, "ping");
    /* Usage errors: 2, before anything is sent. */
    expect_status(s, 2, "read", "h-only");
    expect_status(s, 2, "no-such-command");
    expect_status(s, 2, "ping", "--no-such-option");
    expect_status(s, 2, "read", "h", "zero");
    expect_status(NULL, 2, "--socket");
    /* netd saw none of the usage errors as requests that created anything. */
    netd_client *c = h_client(n);
    json_t *st = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(st, "handles")), 0);
    json_decref(st);
}

/* The port of an inet socket's own address. */
static int local_port(int fd)
{
    struct sockaddr_in in;
    socklen_t len = sizeof in;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    return ntohs(in.sin_port);
}

/* The port of handle @h, from `localname` through the library. */
static int handle_port(netd_client *c, const char *h)
{
    json_t *addr = h_call(c, "localname", json_pack("{s:s}", "handle", h));
    int port = (int)h_int(addr, "port");
    json_decref(addr);
    return port;
}

/* Whether @h is among the caller's handles. */
static int has_handle(netd_client *c, const char *h)
{
    json_t *res = h_call(c, "handles", NULL);
    size_t i;
    json_t *st;
    int found = 0;
    json_array_foreach(json_object_get(res, "handles"), i, st)
    {
        found |= strcmp(h_str(st, "handle"), h) == 0;
    }
    json_decref(res);
    return found;
}

/* The bytes netd holds ready to read for @h (status.readable). */
static long long status_readable(netd_client *c, const char *h)
{
    json_t *st = h_call(c, "status", json_pack("{s:s}", "handle", h));
    long long n = h_int(st, "readable");
    json_decref(st);
    return n;
}

static void test_netctl_listen_loop(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    netd_client *c = h_client(n);
    const char *args[] = {"listen", "127.0.0.1", "0", "--loop", NULL};
    struct child ch = netctl_spawn(s, args, -1);
    char listener[128], line[512], want[512];
    child_line(&ch, listener, sizeof listener);
    int fd = h_plain_connect("127.0.0.1", handle_port(c, listener));
    /* One line per connection, as it comes: "HANDLE PEER". */
    child_line(&ch, line, sizeof line);
    char *conn = strndup(line, strcspn(line, " "));
    snprintf(want, sizeof want, "%s 127.0.0.1:%d", conn, local_port(fd));
    assert_string_equal(line, want);
    /* The connection is a kept handle other runs can use. */
    h_plain_write(fd, "to netd", 7);
    struct run r = expect_run(s, 0, "chunk", conn, "7", "--timeout", "10");
    assert_string_equal(r.out, "to netd");
    run_free(&r);
    h_plain_close(fd);
    child_line(&ch, line, sizeof line);
    snprintf(want, sizeof want, "%s closed eof", conn);
    assert_string_equal(line, want);
    /* Interrupted: exit 0, and the listener it opened is closed; the connection stays. */
    kill(ch.pid, SIGINT);
    r = child_finish(&ch);
    assert_int_equal(r.status, 0);
    run_free(&r);
    assert_false(has_handle(c, listener));
    assert_true(has_handle(c, conn));
    free(conn);
}

static void test_netctl_accept_loop(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "listen",
                           json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", 0, "keep", 1));
    const char *args[] = {"--json", "accept-loop", l, NULL};
    struct child ch = netctl_spawn(s, args, -1);
    int fd = h_plain_connect("127.0.0.1", handle_port(c, l));
    char line[512];
    child_line(&ch, line, sizeof line);
    json_t *note = json_loads(line, 0, NULL);
    assert_non_null(note);
    h_expect_str(note, "listener", l);
    assert_int_equal(h_int(json_object_get(note, "peer"), "port"), local_port(fd));
    json_decref(note);
    /* Closing the listener ends the loop: its handle is the last line, and netctl exits 0. */
    h_close(c, l);
    child_line(&ch, line, sizeof line);
    note = json_loads(line, 0, NULL);
    h_expect_str(note, "handle", l);
    json_decref(note);
    struct run r = child_finish(&ch);
    assert_int_equal(r.status, 0);
    run_free(&r);
    free(l);
}

/* The test's own UDP peer on 127.0.0.1; returns its descriptor and sets *port. */
static int udp_peer(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
    *port = local_port(fd);
    return fd;
}

static void udp_send(int fd, int port, const char *text)
{
    struct sockaddr_in to = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ssize_t k = sendto(fd, text, strlen(text), 0, (struct sockaddr *)&to, sizeof to);
    assert_int_equal(k, (ssize_t)strlen(text));
}

/* Receives one datagram within 10 s and expects @text from port @from_port. */
static void udp_expect(int fd, const char *text, int from_port)
{
    struct pollfd pf = {fd, POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 10000), 1);
    char buf[512];
    struct sockaddr_in from;
    socklen_t len = sizeof from;
    ssize_t k = recvfrom(fd, buf, sizeof buf - 1, 0, (struct sockaddr *)&from, &len);
    assert_true(k >= 0);
    buf[k] = '\0';
    assert_string_equal(buf, text);
    assert_int_equal(ntohs(from.sin_port), from_port);
}

static void test_netctl_udp(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    netd_client *c = h_client(n);
    int peer_port;
    int peer = udp_peer(&peer_port);
    struct run r = expect_run(s, 0, "udp", "listen", "127.0.0.1", "0");
    char *h = first_line(&r);
    run_free(&r);
    int port = handle_port(c, h);
    char pp[16], from[64];
    snprintf(pp, sizeof pp, "%d", peer_port);
    snprintf(from, sizeof from, "from 127.0.0.1:%d\n", peer_port);
    /* recv: the payload raw on stdout, the sender on stderr. */
    udp_send(peer, port, "ping");
    r = expect_run(s, 0, "udp", "recv", h, "--timeout", "10");
    assert_string_equal(r.out, "ping");
    assert_string_equal(r.err, from);
    run_free(&r);
    /* send: to HOST PORT; it prints the bytes sent. */
    r = expect_run(s, 0, "udp", "send", h, "127.0.0.1", pp, "pong");
    assert_string_equal(r.out, "4\n");
    run_free(&r);
    udp_expect(peer, "pong", port);
    /* A datagram longer than --max is cut, and stderr says so. */
    udp_send(peer, port, "0123456789");
    r = expect_run(s, 0, "udp", "recv", h, "--max", "4", "--timeout", "10");
    assert_string_equal(r.out, "0123");
    assert_non_null(strstr(r.err, "truncated"));
    run_free(&r);
    expect_status(s, 1, "udp", "recv", h, "--timeout", "0");
    expect_status(s, 2, "udp", "send", h, "127.0.0.1", "pong");
    expect_status(s, 2, "udp");
    close(peer);
    free(h);
}

static void test_netctl_sockopt(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    struct run r = expect_run(s, 0, "udp", "listen", "127.0.0.1", "0");
    char *h = first_line(&r);
    run_free(&r);
    /* VALUE that is JSON goes as JSON, and comes back as the kernel has it. */
    expect_status(s, 0, "setsockopt", h, "so-broadcast", "true");
    r = expect_run(s, 0, "getsockopt", h, "so-broadcast");
    assert_string_equal(r.out, "true\n");
    run_free(&r);
    expect_status(s, 0, "setsockopt", h, "so-broadcast", "false");
    r = expect_run(s, 0, "getsockopt", h, "so-broadcast");
    assert_string_equal(r.out, "false\n");
    run_free(&r);
    expect_status(s, 0, "setsockopt", h, "ip-ttl", "42");
    r = expect_run(s, 0, "--json", "getsockopt", h, "ip-ttl");
    assert_string_equal(r.out, "{\"value\":42}\n");
    run_free(&r);
    /* Other VALUEs go as strings: a group joined can be left once, not twice. */
    expect_status(s, 0, "setsockopt", h, "ip-add-membership", "239.1.1.2@127.0.0.1");
    expect_status(s, 0, "setsockopt", h, "ip-drop-membership", "239.1.1.2@127.0.0.1");
    r = expect_run(s, 1, "setsockopt", h, "ip-drop-membership", "239.1.1.2@127.0.0.1");
    assert_non_null(strstr(r.err, "EADDRNOTAVAIL"));
    run_free(&r);
    expect_status(s, 1, "setsockopt", h, "ip-ttl", "999");
    expect_status(s, 2, "setsockopt", h, "no-such-option", "1");
    expect_status(s, 2, "getsockopt", h);
    free(h);
}

/* A stream handle of netd's connected to the test's plain socket *fd. */
static char *accepted_stream(netd_client *c, int *fd)
{
    char *l = h_new_handle(c, "listen",
                           json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", 0, "keep", 1));
    *fd = h_plain_connect("127.0.0.1", handle_port(c, l));
    char *h = h_new_handle(c, "accept", json_pack("{s:s,s:b}", "handle", l, "keep", 1));
    h_close(c, l);
    free(l);
    return h;
}

static void test_netctl_release(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    netd_client *c = h_client(n);
    int fd;
    char *h = accepted_stream(c, &fd);
    /* Usage errors and a command that does not exist leave the handle in netd. */
    expect_status(s, 2, "release", h, "sh", "-c", "echo hi");
    expect_status(s, 2, "release", h, "--");
    expect_status(s, 127, "release", h, "--", "/nonexistent/command");
    assert_true(has_handle(c, h));
    /* COMMAND writes into the socket; the peer reads it, and the handle has ended. */
    expect_status(s, 0, "release", h, "--", "sh", "-c", "echo hi");
    h_plain_read_expect(fd, "hi\n", 3, 10000);
    assert_false(has_handle(c, h));
    free(h);
    /* COMMAND's stdin is the socket too, and its exit status is netctl's. Bytes
     * sent before the release would be read ahead by netd (which refuses the
     * release then), so the peer speaks once the handle has gone. */
    h = accepted_stream(c, &fd);
    const char *args[] = {"release", h, "--", "sh", NULL};
    struct child ch = netctl_spawn(s, args, -1);
    for (int i = 0; i < 1000 && has_handle(c, h); i++)
        h_sleep_ms(10);
    h_plain_write(fd, "echo bye; exit 3\n", 17);
    h_plain_read_expect(fd, "bye\n", 4, 10000);
    struct run r = child_finish(&ch);
    assert_int_equal(r.status, 3);
    run_free(&r);
    free(h);
    /* Bytes netd holds for the stream: refused, with a way out named. */
    h = accepted_stream(c, &fd);
    h_plain_write(fd, "early", 5);
    for (int i = 0; i < 1000 && status_readable(c, h) < 5; i++)
        h_sleep_ms(10);
    r = expect_run(s, 1, "release", h, "--", "true");
    assert_non_null(strstr(r.err, "netctl read"));
    run_free(&r);
    free(h);
}

static void test_netctl_pair_assign(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    netd_client *c = h_client(n);
    /* pair: two handles, one a line, connected to each other. */
    struct run r = expect_run(s, 0, "pair");
    char a[128], b[128];
    assert_int_equal(sscanf(r.out, "%127s %127s", a, b), 2);
    run_free(&r);
    h_write(c, a, "across", 6);
    h_read_expect(c, b, "across", 6, 10);
    /* assign: netctl's stdin socket becomes a handle. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    const char *args[] = {"assign", NULL};
    r = netctl_in(s, args, sv[0]);
    close(sv[0]);
    assert_int_equal(r.status, 0);
    char *h = first_line(&r);
    run_free(&r);
    h_write(c, h, "assigned", 8);
    h_plain_read_expect(sv[1], "assigned", 8, 10000);
    close(sv[1]);
    free(h);
    /* Not a socket on stdin: an error that says so. */
    r = expect_run(s, 1, "assign");
    assert_non_null(strstr(r.err, "not a socket"));
    run_free(&r);
}

static void test_netctl_help_lists_commands(void **state)
{
    const char *const cmds[] = {"udp send",    "udp recv", "setsockopt", "getsockopt",
                                "pair",        "addrs",    "assign",     "release",
                                "accept-loop", "starttls", "--insecure", "--servername"};
    struct run r = expect_run(NULL, 0, "--help");
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        assert_non_null(strstr(r.out, cmds[i]));
    run_free(&r);
    r = expect_run(NULL, 0, "help", "udp", "send");
    assert_non_null(strstr(r.out, "usage: netctl udp send"));
    run_free(&r);
    expect_status(NULL, 2, "help", "udp", "nothing");
    r = expect_run(NULL, 0, "help", "connect");
    assert_non_null(strstr(r.out, "--tls"));
    assert_non_null(strstr(r.out, "--cafile FILE"));
    run_free(&r);
}

/* ---- TLS, against openssl s_server with the certificates of certs.sh ---- */

/* Connects with netctl and @tls_args (NULL-terminated) to 127.0.0.1:@port; the handle. */
static char *tls_connect(const char *s, int port, const char *const *tls_args, struct run *r)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    const char *args[16] = {"connect", "127.0.0.1", portstr};
    int n = 3;
    for (int i = 0; tls_args[i]; i++)
        args[n++] = tls_args[i];
    args[n] = NULL;
    *r = netctl(s, args);
    if (r->status != 0)
        fail_msg("netctl connect exited %d\nstderr: %s", r->status, r->err);
    return first_line(r);
}

static void test_netctl_tls_verified(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    int port;
    t_s_server("server", &port, (const char *const[]){"-alpn", "http/1.1", NULL});
    /* By address, with the name to verify given apart: the certificate is for localhost. */
    struct run r;
    char *h = tls_connect(s, port,
                          (const char *const[]){"--cafile", T("ca.pem"), "--servername",
                                                "localhost", "--alpn", "h2,http/1.1", NULL},
                          &r);
    assert_string_equal(r.err, "");
    run_free(&r);
    expect_status(s, 0, "write", h, "hello tls\n");
    r = expect_run(s, 0, "chunk", h, "10", "--timeout", "30");
    assert_string_equal(r.out, "slt olleh\n");
    run_free(&r);
    r = expect_run(s, 0, "status", h);
    assert_non_null(strstr(r.out, "\ntls version: TLSv1."));
    assert_non_null(strstr(r.out, "\ntls cipher: TLS_"));
    assert_non_null(strstr(r.out, "\ntls alpn: http/1.1\n"));
    assert_non_null(strstr(r.out, "\ntls verified: yes\n"));
    assert_non_null(strstr(r.out, "\ntls peer: ") && strstr(r.out, "CN=localhost"));
    run_free(&r);
    /* --json is the object netd sent. */
    r = expect_run(s, 0, "--json", "status", h);
    json_t *st = json_loads(r.out, 0, NULL);
    assert_non_null(st);
    assert_true(json_is_true(json_object_get(json_object_get(st, "tls"), "verified")));
    json_decref(st);
    run_free(&r);
    expect_status(s, 0, "close", h);
    free(h);
}

static void test_netctl_tls_insecure(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    int port;
    t_s_server("self", &port, NULL);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    /* A self-signed certificate is refused by default, and the hint names both ways out. */
    struct run r = expect_run(s, 1, "connect", "127.0.0.1", portstr, "--tls");
    assert_non_null(strstr(r.err, "self_signed"));
    assert_non_null(strstr(r.err, "--insecure"));
    run_free(&r);
    char *h = tls_connect(s, port, (const char *const[]){"--insecure", NULL}, &r);
    assert_non_null(strstr(r.err, "warning"));
    assert_non_null(strstr(r.err, "not verified"));
    run_free(&r);
    expect_status(s, 0, "write", h, "abc\n");
    r = expect_run(s, 0, "chunk", h, "4", "--timeout", "30");
    assert_string_equal(r.out, "cba\n");
    run_free(&r);
    r = expect_run(s, 0, "status", h);
    assert_non_null(strstr(r.out, "\ntls verified: no\n"));
    run_free(&r);
    expect_status(s, 0, "close", h);
    free(h);
}

static void test_netctl_tls_failures(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    int port;
    t_s_server("server", &port, NULL);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    /* A CA that did not sign the server's certificate: exit 1, netd's reason and a hint. */
    struct run r = expect_run(s, 1, "connect", "127.0.0.1", portstr, "--cafile", T("other-ca.pem"));
    assert_non_null(strstr(r.err, "unknown_ca"));
    assert_non_null(strstr(r.err, "pass --cafile with the CA that signed"));
    assert_int_equal(r.outlen, 0);
    run_free(&r);
    r = expect_run(s, 1, "connect", "127.0.0.1", portstr, "--cafile", T("ca.pem"), "--servername",
                   "wrong.example");
    assert_non_null(strstr(r.err, "name_mismatch"));
    assert_non_null(strstr(r.err, "--servername NAME"));
    run_free(&r);
    /* Usage errors, before anything is sent. */
    expect_status(s, 2, "connect", "127.0.0.1", portstr, "--tls", "--datagram");
    expect_status(s, 2, "connect", "127.0.0.1", portstr, "--alpn", ",");
    expect_status(s, 2, "starttls", "h0.1", "--server", "--cert", T("server.pem"));
    expect_status(s, 2, "starttls", "h0.1", "--key", T("server.key"));
    /* None of the failed connects left a handle. */
    netd_client *c = h_client(n);
    json_t *res = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(res, "handles")), 0);
    json_decref(res);
}

static void test_netctl_nc_tls(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    int port;
    t_s_server("server", &port, NULL);
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int in[2];
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(write(in[1], "one\ntwo\n", 8), 8);
    close(in[1]);
    const char *args[] = {"nc", "127.0.0.1", portstr, "--cafile", T("ca.pem"), NULL};
    struct run r = netctl_in(s, args, in[0]);
    close(in[0]);
    if (r.status != 0)
        fail_msg("netctl nc exited %d\nstderr: %s", r.status, r.err);
    assert_string_equal(r.out, "eno\nowt\n");
    run_free(&r);
}

/* starttls on both ends of one plain connection of netd's: netctl as server and as client. */
static void test_netctl_starttls(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "listen",
                           json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", 0, "keep", 1));
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", handle_port(c, l));
    struct run r = expect_run(s, 0, "connect", "127.0.0.1", portstr);
    char *client = first_line(&r);
    run_free(&r);
    char *server = h_new_handle(c, "accept", json_pack("{s:s,s:b}", "handle", l, "keep", 1));
    const char *args[] = {"starttls",      server,  "--server",      "--cert",
                          T("server.pem"), "--key", T("server.key"), NULL};
    struct child ch = netctl_spawn(s, args, -1);
    r = expect_run(s, 0, "starttls", client, "--cafile", T("ca.pem"), "--servername", "localhost");
    char *tc = first_line(&r);
    run_free(&r);
    struct run rs = child_finish(&ch);
    if (rs.status != 0)
        fail_msg("netctl starttls --server exited %d\nstderr: %s", rs.status, rs.err);
    char *ts = first_line(&rs);
    run_free(&rs);
    /* The old handles ended; the new ones speak TLS to each other. */
    assert_false(has_handle(c, client));
    assert_false(has_handle(c, server));
    h_write(c, tc, "secret", 6);
    h_read_expect(c, ts, "secret", 6, 30);
    r = expect_run(s, 0, "status", tc);
    assert_non_null(strstr(r.out, "\ntls verified: yes\n"));
    run_free(&r);
    h_close(c, l);
    free(l);
    free(client);
    free(server);
    free(tc);
    free(ts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_netctl_ping, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_round_trip, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_ls, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_exit_codes, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_listen_loop, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_accept_loop, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_udp, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_sockopt, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_release, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_pair_assign, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_help_lists_commands, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_tls_verified, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_tls_insecure, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_tls_failures, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_nc_tls, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_netctl_starttls, h_setup, t_teardown),
    };
    /* The group setup makes the TLS tests' certificates (certs.sh). */
    return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
