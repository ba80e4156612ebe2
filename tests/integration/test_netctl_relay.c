/*
 * test_netctl_relay.c - netctl on netd's data plane: `nc` and `cat`
 * through attach, `attach H -- COMMAND`, and `proxy` terminating and
 * originating TLS, each run as a real netctl process against a real netd
 * and real peers (the harness's, tls_peer.py).
 */
#include <spawn.h>
#include <sys/wait.h>

#include "netctl_run.h"
#include "sockets.h"
#include "tls_peers.h"

static void fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 131) ^ (i >> 9));
}

/* A file holding @n bytes of fill(), open for reading; the caller closes it. */
static int input_file(size_t n)
{
    char path[] = "/tmp/netd-nc-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    uint8_t *b = malloc(n);
    fill(b, n);
    assert_int_equal(write(fd, b, n), (ssize_t)n);
    free(b);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static bool handle_exists(netd_client *c, const char *h)
{
    json_t *res = NULL, *err = NULL;
    netd_call(c, "status", json_pack("{s:s}", "handle", h), &res, &err);
    bool there = res != NULL;
    json_decref(res);
    json_decref(err);
    return there;
}

/* nc: 4 MiB through an echo peer, byte for byte, relayed by attach. */
static void test_nc(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *p = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char port[16];
    snprintf(port, sizeof port, "%d", h_peer_port(p));
    size_t size = 4u << 20;
    int in = input_file(size);
    const char *args[] = {"nc", "127.0.0.1", port, NULL};
    struct run r = netctl_in(h_netd_socket(n), args, in);
    close(in);
    if (r.status != 0)
        fail_msg("netctl nc exited %d: %s", r.status, r.err);
    assert_int_equal(r.outlen, size);
    uint8_t *want = malloc(size);
    fill(want, size);
    assert_memory_equal(r.out, want, size);
    free(want);
    run_free(&r);
    /* The handle nc made ended with its relay. */
    netd_client *c = h_client(n);
    json_t *res = h_call(c, "stats", NULL);
    assert_int_equal(h_int(json_object_get(res, "handles"), "stream"), 0);
    json_decref(res);
}

/* cat: a stream to its end, then the handle is gone. */
static void test_cat(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    size_t size = 2u << 20;
    uint8_t *payload = malloc(size);
    fill(payload, size);
    struct peer *p = h_peer_tcp(PEER_PAYLOAD, AF_INET, payload, size);
    netd_client *c = h_client(n);
    char *h = h_new_handle(
        c, "connect",
        json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", h_peer_port(p), "keep", 1));
    const char *args[] = {"cat", h, NULL};
    struct run r = netctl(h_netd_socket(n), args);
    if (r.status != 0)
        fail_msg("netctl cat exited %d: %s", r.status, r.err);
    assert_int_equal(r.outlen, size);
    assert_memory_equal(r.out, payload, size);
    run_free(&r);
    for (int i = 0; i < 100 && handle_exists(c, h); i++)
        h_sleep_ms(20);
    assert_false(handle_exists(c, h));
    free(payload);
    free(h);
}

/* attach H -- COMMAND: the command's stdin and stdout are the stream. */
static void test_attach_command(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_storage ss;
    socklen_t len = s_inet("127.0.0.1", 0, &ss);
    assert_int_equal(bind(lfd, (struct sockaddr *)&ss, len), 0);
    assert_int_equal(listen(lfd, 4), 0);
    len = sizeof ss;
    getsockname(lfd, (struct sockaddr *)&ss, &len);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    char *h = h_new_handle(
        c, "connect", json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", port, "keep", 1));
    int peer = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(peer >= 0);

    /* A command that is not there: 127, and the handle stays as it was. */
    const char *bad[] = {"attach", h, "--", "/nonexistent/command", NULL};
    struct run r = netctl(h_netd_socket(n), bad);
    assert_int_equal(r.status, 127);
    run_free(&r);
    json_t *st = h_call(c, "status", json_pack("{s:s}", "handle", h));
    assert_null(json_object_get(st, "attached"));
    json_decref(st);

    const char *args[] = {
        "attach", h, "--", "sh", "-c", "printf hello; read line; echo \"got $line\" >&2", NULL};
    struct child ch = netctl_spawn(h_netd_socket(n), args, -1);
    h_plain_read_expect(peer, "hello", 5, H_ANSWER_MS);
    h_plain_write(peer, "world\n", 6);
    char end;
    struct pollfd pf = {.fd = peer, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, H_ANSWER_MS), 1);
    assert_int_equal(read(peer, &end, 1), 0); /* the command ended: so did its side */
    shutdown(peer, SHUT_WR);
    r = child_finish(&ch);
    if (r.status != 0 || !strstr(r.err, "got world"))
        fail_msg("netctl attach exited %d, stderr: %s", r.status, r.err);
    run_free(&r);
    for (int i = 0; i < 100 && handle_exists(c, h); i++)
        h_sleep_ms(20);
    assert_false(handle_exists(c, h));
    close(peer);
    close(lfd);
    free(h);
}

/* Stops a proxy with SIGINT; expects exit 0 and returns what it printed. */
static struct run stop_proxy(struct child *ch)
{
    kill(ch->pid, SIGINT);
    struct run r = child_finish(ch);
    if (r.status != 0)
        fail_msg("netctl proxy exited %d: %s", r.status, r.err);
    return r;
}

/* proxy --tls-cert --tls-key in front of a plain echo peer: a TLS client
 * talks to the echo through it, as through stunnel. */
static void test_proxy_terminates_tls(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *p = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char lport[16], tport[16];
    int port = h_free_port();
    snprintf(lport, sizeof lport, "%d", port);
    snprintf(tport, sizeof tport, "%d", h_peer_port(p));
    const char *args[] = {"proxy",      "127.0.0.1",     lport,       "127.0.0.1",     tport,
                          "--tls-cert", T("server.pem"), "--tls-key", T("server.key"), NULL};
    struct child ch = netctl_spawn(h_netd_socket(n), args, -1);
    char line[256];
    child_line(&ch, line, sizeof line); /* the listener: it listens */
    struct tproc *cl = t_py_client("hello", port, NULL);
    char *ok = t_expect_line(cl, "OK ");
    assert_string_equal(ok, "hello netd");
    free(ok);
    child_line(&ch, line, sizeof line); /* HANDLE PEER TARGET */
    assert_int_equal(t_wait_exit(cl, 30000), 0);
    child_line(&ch, line, sizeof line);
    if (!strstr(line, " closed "))
        fail_msg("expected the end of the connection, got \"%s\"", line);
    struct run r = stop_proxy(&ch);
    run_free(&r);
}

/* proxy --tls towards a TLS echo server: a plain client, TLS beyond netd. */
static void test_proxy_originates_tls(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    int tls_port;
    t_py_server("echo", "server", &tls_port, NULL);
    char lport[16], tport[16];
    int port = h_free_port();
    snprintf(lport, sizeof lport, "%d", port);
    snprintf(tport, sizeof tport, "%d", tls_port);
    const char *args[] = {"proxy",    "127.0.0.1", lport,          "127.0.0.1", tport,
                          "--cafile", T("ca.pem"), "--servername", "localhost", NULL};
    struct child ch = netctl_spawn(h_netd_socket(n), args, -1);
    char line[256];
    child_line(&ch, line, sizeof line);
    int fd = h_plain_connect("127.0.0.1", port);
    h_plain_write(fd, "plain in, TLS out\n", 18);
    h_plain_read_expect(fd, "plain in, TLS out\n", 18, H_ANSWER_MS);
    h_plain_close(fd);
    struct run r = stop_proxy(&ch);
    run_free(&r);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nc, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_cat, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_attach_command, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_proxy_terminates_tls, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_proxy_originates_tls, h_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
