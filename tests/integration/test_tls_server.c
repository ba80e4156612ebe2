/*
 * test_tls_server.c - netd as a TLS server (listen, accept, the accept loop)
 * against openssl s_client and Python's ssl: client certificates, clients
 * that fail or never finish the handshake without disturbing anyone else,
 * STARTTLS in both roles after a plaintext greeting (with the TLS bytes
 * pipelined right behind the plaintext), 64 MiB through a TLS server, and
 * many TLS connections at once across workers; which wolfSSL runs and the
 * cipher order that follows from it.
 */
#include "tls_peers.h"

#define BIG (64u << 20)
#define STEP (1u << 20)

/* listen on 127.0.0.1 with @tls (stolen); returns the handle and sets *port. */
static char *tls_listener(netd_client *c, json_t *tls, int *port)
{
    char *l = h_new_handle(c, "listen",
                           json_pack("{s:s,s:i,s:o}", "host", "127.0.0.1", "port", 0, "tls", tls));
    json_t *a = h_call(c, "localname", json_pack("{s:s}", "handle", l));
    *port = (int)h_int(a, "port");
    json_decref(a);
    return l;
}

static json_t *server_tls(json_t *more)
{
    json_t *o = json_pack("{s:s,s:s}", "cert", T("server.pem"), "key", T("server.key"));
    if (more) {
        json_object_update(o, more);
        json_decref(more);
    }
    return o;
}

static long long accept_send(netd_client *c, const char *l)
{
    return h_send(c, "accept", json_pack("{s:s,s:f}", "handle", l, "timeout", 60.0));
}

static char *accept_wait(netd_client *c, long long id)
{
    json_t *r = h_wait(c, id);
    char *h = strdup(h_str(r, "handle"));
    json_decref(r);
    return h;
}

static void test_s_client(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    char *l = tls_listener(c, server_tls(json_pack("{s:[s,s]}", "alpn", "h2", "http/1.1")), &port);
    long long id = accept_send(c, l);
    struct tproc *sc = t_s_client(port, (const char *const[]){"-alpn", "http/1.1", NULL});
    char *h = accept_wait(c, id);
    json_t *st, *tls = t_status_tls(c, h, &st);
    assert_true(json_is_false(json_object_get(tls, "verified")));
    assert_string_equal(h_str(tls, "alpn"), "http/1.1");
    assert_null(json_object_get(tls, "peer_subject"));
    json_decref(st);
    t_send(sc, "hello netd\n");
    t_expect(c, h, "hello netd\n");
    t_write(c, h, "hello s_client\n");
    char *line = t_line(sc, T_LINE_MS);
    assert_string_equal(line, "hello s_client");
    free(line);
    h_close(c, h);
    assert_int_equal(t_wait_exit(sc, 20000), 0);
    free(h);
    free(l);
}

/* verify_client: only clients with a certificate from our CA get through. */
static void test_client_certificates(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    char *l = tls_listener(
        c, server_tls(json_pack("{s:b,s:s}", "verify_client", 1, "cafile", T("ca.pem"))), &port);
    long long id = accept_send(c, l);
    /* These fail their handshakes while the accept waits, and it goes on waiting. */
    struct tproc *nocert = t_py_client("hello", port, NULL);
    free(t_expect_line(nocert, "ERR "));
    struct tproc *sc = t_s_client(port, NULL);
    t_close_input(sc);
    assert_true(t_wait_exit(sc, 30000) != -1);
    struct tproc *py = t_py_client(
        "hello", port,
        (const char *const[]){"--cert", T("client.pem"), "--key", T("client.key"), NULL});
    char *h = accept_wait(c, id);
    json_t *st, *tls = t_status_tls(c, h, &st);
    assert_true(json_is_true(json_object_get(tls, "verified")));
    assert_non_null(strstr(h_str(tls, "peer_subject"), "CN=netd test client"));
    json_decref(st);
    t_expect(c, h, "hello netd\n");
    t_write(c, h, "welcome\n");
    char *got = t_expect_line(py, "OK ");
    assert_string_equal(got, "welcome");
    free(got);
    free(h);
    free(l);
}

/*
 * Clients that send garbage, distrust our certificate or never start the
 * handshake: none of them reaches an accept, and an established connection
 * and the listener carry on.
 */
static void test_failed_handshakes_disturb_nobody(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    char *l = tls_listener(c, server_tls(NULL), &port);
    long long id = accept_send(c, l);
    struct tproc *sc = t_s_client(port, NULL);
    char *first = accept_wait(c, id);
    id = accept_send(c, l);
    int silent = h_plain_connect("127.0.0.1", port);
    int garbage = h_plain_connect("127.0.0.1", port);
    h_plain_write(garbage, "GET / HTTP/1.0\r\n\r\n", 18);
    struct tproc *distrust =
        t_s_client(port, (const char *const[]){"-CAfile", T("other-ca.pem"), NULL});
    t_close_input(distrust);
    assert_true(t_wait_exit(distrust, 30000) > 0);
    struct tproc *wrongname =
        t_py_client("hello", port, (const char *const[]){"--servername", "other.example", NULL});
    free(t_expect_line(wrongname, "ERR "));
    struct tproc *untrusting =
        t_py_client("hello", port, (const char *const[]){"--cafile", T("other-ca.pem"), NULL});
    free(t_expect_line(untrusting, "ERR "));
    /* The established connection still works both ways. */
    t_send(sc, "still there?\n");
    t_expect(c, first, "still there?\n");
    t_write(c, first, "yes\n");
    char *line = t_line(sc, T_LINE_MS);
    assert_string_equal(line, "yes");
    free(line);
    /* The waiting accept gets the next good client. */
    struct tproc *good = t_py_client("hello", port, NULL);
    char *h = accept_wait(c, id);
    t_expect(c, h, "hello netd\n");
    t_write(c, h, "hi\n");
    char *got = t_expect_line(good, "OK ");
    assert_string_equal(got, "hi");
    free(got);
    json_t *all = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(all, "handles")), 3);
    json_decref(all);
    h_netd_assert_alive(n);
    h_plain_close(silent);
    h_plain_close(garbage);
    free(h);
    free(first);
    free(l);
}

/* The next `accepted` notification; `closed` ones tell of clients that
 * have finished meanwhile. */
static json_t *next_accepted(netd_client *c)
{
    for (;;) {
        json_t *note;
        assert_int_equal(netd_client_notification(c, 60000, &note), 0);
        if (strcmp(h_str(note, "method"), "accepted") == 0)
            return note;
        assert_string_equal(h_str(note, "method"), "closed");
        json_decref(note);
    }
}

/* `server` with tls: an `accepted` notification for each good handshake only. */
static void test_accept_loop(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *l = h_new_handle(
        c, "server",
        json_pack("{s:s,s:i,s:o}", "host", "127.0.0.1", "port", 0, "tls", server_tls(NULL)));
    json_t *a = h_call(c, "localname", json_pack("{s:s}", "handle", l));
    int port = (int)h_int(a, "port");
    json_decref(a);
    int garbage = h_plain_connect("127.0.0.1", port);
    h_plain_write(garbage, "\x16\x03\x01\x00\x05hello", 10);
    struct tproc *py[3];
    for (int i = 0; i < 3; i++)
        py[i] = t_py_client("hello", port, NULL);
    for (int i = 0; i < 3; i++) {
        json_t *note = next_accepted(c);
        const char *h = h_str(json_object_get(note, "params"), "handle");
        t_expect(c, h, "hello netd\n");
        t_write(c, h, "looped\n");
        json_decref(note);
    }
    for (int i = 0; i < 3; i++) {
        char *got = t_expect_line(py[i], "OK ");
        assert_string_equal(got, "looped");
        free(got);
    }
    json_t *note = NULL;
    while (netd_client_notification(c, 500, &note) == 0) {
        assert_string_equal(h_str(note, "method"), "closed");
        json_decref(note);
    }
    h_plain_close(garbage);
    free(l);
}

/* The server side of STARTTLS: the client's ClientHello arrives in the same
 * segment as its "STARTTLS" line, so netd has read it along with the line. */
static void test_starttls_server_pipelined(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char *l = h_new_handle(c, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 0));
    json_t *a = h_call(c, "localname", json_pack("{s:s}", "handle", l));
    int port = (int)h_int(a, "port");
    json_decref(a);
    long long id = accept_send(c, l);
    struct tproc *py = t_py_client("starttls", port, NULL);
    char *h = accept_wait(c, id);
    t_write(c, h, "220 ready\r\n");
    t_expect(c, h, "STARTTLS\r\n");
    t_write(c, h, "220 go ahead\r\n");
    json_t *r = h_call(c, "starttls",
                       json_pack("{s:s,s:s,s:s,s:s,s:i}", "handle", h, "role", "server", "cert",
                                 T("server.pem"), "key", T("server.key"), "timeout", 60));
    char *tls = strdup(h_str(r, "handle"));
    json_decref(r);
    assert_string_not_equal(tls, h);
    json_decref(h_call_err(c, "status", json_pack("{s:s}", "handle", h), -32002));
    json_t *st;
    t_status_tls(c, tls, &st);
    json_decref(st);
    t_expect(c, tls, "hello netd\n");
    t_write(c, tls, "hello over tls\n");
    char *got = t_expect_line(py, "OK ");
    assert_string_equal(got, "hello over tls");
    free(got);
    free(tls);
    free(h);
    free(l);
}

/* The client side of STARTTLS after an SMTP-like greeting. */
static void test_starttls_client(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    struct tproc *py = t_py_server("starttls", "server", &port, NULL);
    char *h = h_new_handle(c, "connect", json_pack("{s:s,s:i}", "host", "localhost", "port", port));
    t_expect(c, h, "220 ready\r\n");
    t_write(c, h, "STARTTLS\r\n");
    t_expect(c, h, "220 go ahead\r\n");
    json_t *r = h_call(c, "starttls", json_pack("{s:s,s:s}", "handle", h, "cafile", T("ca.pem")));
    char *tls = strdup(h_str(r, "handle"));
    json_decref(r);
    json_t *st, *t = t_status_tls(c, tls, &st);
    assert_true(
        json_is_true(json_object_get(t, "verified"))); /* against "localhost", as connected */
    json_decref(st);
    t_write(c, tls, "over tls\n");
    t_expect(c, tls, "over tls\n");
    h_close(c, tls);
    free(t_expect_line(py, "END clean 9"));
    free(tls);
    free(h);
    /* A server this connection does not trust: the upgrade fails, the stream is gone. */
    h = h_new_handle(c, "connect", json_pack("{s:s,s:i}", "host", "localhost", "port", port));
    t_expect(c, h, "220 ready\r\n");
    t_write(c, h, "STARTTLS\r\n");
    t_expect(c, h, "220 go ahead\r\n");
    json_t *err = h_call_err(
        c, "starttls", json_pack("{s:s,s:s}", "handle", h, "cafile", T("other-ca.pem")), -32008);
    assert_string_equal(h_err_data_str(err, "verify"), "unknown_ca");
    json_decref(err);
    json_decref(h_call_err(c, "status", json_pack("{s:s}", "handle", h), -32002));
    free(h);
}

/* starttls is refused while a read waits; a peer that is no TLS server fails it. */
static void test_starttls_refusals(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char *h = h_connect(c, h_peer_host(echo), h_peer_port(echo));
    long long rd = h_send(c, "read", json_pack("{s:s,s:i}", "handle", h, "nbytes", 10));
    json_decref(h_call_err(c, "starttls",
                           json_pack("{s:s,s:b,s:s}", "handle", h, "verify", 0, "servername", "x"),
                           -32602));
    json_decref(h_call(c, "cancel", json_pack("{s:s}", "handle", h)));
    json_decref(h_wait_err(c, rd, -32004));
    /* An echo peer sends our own ClientHello back: not a TLS server. */
    json_decref(h_call_err(
        c, "starttls",
        json_pack("{s:s,s:b,s:s,s:i}", "handle", h, "verify", 0, "servername", "x", "timeout", 30),
        -32008));
    json_decref(h_call_err(c, "status", json_pack("{s:s}", "handle", h), -32002));
    h_netd_assert_alive(n);
    free(h);
}

/* 64 MiB from a Python client through netd's TLS server and back. */
static void test_64mib_server(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    char *l = tls_listener(c, server_tls(NULL), &port);
    long long id = accept_send(c, l);
    char size[32];
    snprintf(size, sizeof size, "%u", BIG);
    struct tproc *py = t_py_client("bulk", port, (const char *const[]){"--size", size, NULL});
    char *h = accept_wait(c, id);
    for (size_t done = 0; done < BIG; done += STEP) {
        json_t *r = h_call(
            c, "chunk", json_pack("{s:s,s:i,s:f}", "handle", h, "nbytes", STEP, "timeout", 60.0));
        json_t *d = json_object_get(r, "data");
        assert_int_equal(json_string_length(d), 4 * (STEP / 3) + 4 * (STEP % 3 != 0));
        json_t *w = h_call(
            c, "write",
            json_pack("{s:s,s:O,s:s}", "handle", h, "data", d, "encoding", h_str(r, "encoding")));
        assert_int_equal(h_int(w, "written"), STEP);
        json_decref(w);
        json_decref(r);
    }
    char *got = t_expect_line(py, "OK ");
    assert_int_equal(atoll(got), (long long)BIG);
    free(got);
    free(h);
    free(l);
}

/* Many clients at once: 8 control connections (spread over the workers)
 * each open 8 TLS connections to a netd TLS listener, all pipelined. */
static void test_many_at_once(void **state)
{
    enum { CLIENTS = 8, EACH = 8, ALL = CLIENTS * EACH };
    struct netd_proc *n = h_netd_start((const char *const[]){"--workers", "4", NULL});
    netd_client *srv = h_client(n), *cl[CLIENTS];
    int port;
    char *l = tls_listener(srv, server_tls(NULL), &port);
    long long acc[ALL], con[ALL];
    for (int i = 0; i < ALL; i++)
        acc[i] = accept_send(srv, l);
    for (int k = 0; k < CLIENTS; k++) {
        cl[k] = h_client(n);
        for (int j = 0; j < EACH; j++)
            con[k * EACH + j] = h_send(cl[k], "connect",
                                       json_pack("{s:s,s:i,s:o,s:f}", "host", "localhost", "port",
                                                 port, "tls", t_tls(NULL), "timeout", 120.0));
    }
    char *ch[ALL], *sh[ALL];
    for (int i = 0; i < ALL; i++) {
        json_t *r = h_wait(cl[i / EACH], con[i]);
        ch[i] = strdup(h_str(r, "handle"));
        json_decref(r);
        char msg[32];
        snprintf(msg, sizeof msg, "message %02d\n", i);
        t_write(cl[i / EACH], ch[i], msg);
    }
    /* The accepted side answers each line with itself. */
    for (int i = 0; i < ALL; i++) {
        sh[i] = accept_wait(srv, acc[i]);
        json_t *r =
            h_call(srv, "chunk",
                   json_pack("{s:s,s:i,s:f}", "handle", sh[i], "nbytes", 11, "timeout", 60.0));
        size_t len;
        unsigned char *d = h_data(r, &len);
        assert_int_equal(len, 11);
        t_write(srv, sh[i], (const char *)d);
        free(d);
        json_decref(r);
    }
    for (int i = 0; i < ALL; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "message %02d\n", i);
        t_expect(cl[i / EACH], ch[i], msg);
        free(ch[i]);
        free(sh[i]);
    }
    json_t *st = h_call(srv, "stats", NULL);
    assert_int_equal(h_int(json_object_get(st, "handles"), "stream"), 2 * ALL);
    json_decref(st);
    for (int k = 0; k < CLIENTS; k++)
        h_client_free(cl[k]);
    h_netd_assert_alive(n);
    free(l);
}

/* Whether /proc/cpuinfo lists the CPU flag @flag. */
static bool cpu_flag(const char *flag)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    bool found = false;
    while (f && !found && fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        for (char *tok = strtok(line, " \t\n"); tok && !found; tok = strtok(NULL, " \t\n"))
            found = strcmp(tok, flag) == 0;
        break;
    }
    if (f)
        fclose(f);
    return found;
}

/* The cipher a default s_client gets from a TLS listener of netd @n. */
static char *negotiated_cipher(struct netd_proc *n)
{
    netd_client *c = h_client(n);
    int port;
    char *l = tls_listener(c, server_tls(NULL), &port);
    long long id = accept_send(c, l);
    struct tproc *sc = t_s_client(port, NULL);
    char *h = accept_wait(c, id);
    json_t *st, *tls = t_status_tls(c, h, &st);
    char *cipher = strdup(h_str(tls, "cipher"));
    json_decref(st);
    h_close(c, h);
    t_wait_exit(sc, 20000);
    free(h);
    free(l);
    return cipher;
}

/* stats.tls names the wolfSSL the build linked (netd's own with AES-NI, or
 * the system's), and TLS offers ChaCha20-Poly1305 first exactly when that
 * wolfSSL has no hardware AES (NETD_CPU_AES=0 makes it act so). */
static void test_library_and_cipher_order(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    json_t *st = h_call(c, "stats", NULL);
    json_t *lib = json_object_get(st, "tls");
    assert_string_equal(h_str(lib, "build"), NETD_TEST_WOLFSSL_BUILD);
    assert_int_equal(access(h_str(lib, "path"), R_OK), 0);
    bool own = strcmp(NETD_TEST_WOLFSSL_BUILD, "netd") == 0;
    bool hard = own && cpu_flag("aes") && cpu_flag("pclmulqdq");
    assert_int_equal(json_is_true(json_object_get(lib, "hardware_aes")), hard);
    assert_string_equal(h_str(lib, "preferred"), hard ? "AES-GCM" : "ChaCha20-Poly1305");
    json_decref(st);
    char *cipher = negotiated_cipher(n);
    if (hard)
        assert_true(strncmp(cipher, "TLS_AES_", 8) == 0);
    else
        assert_string_equal(cipher, "TLS_CHACHA20_POLY1305_SHA256");
    free(cipher);

    /* As on a CPU without AES: ChaCha20 first, and the client gets it
     * although it offers AES-GCM first. */
    setenv("NETD_CPU_AES", "0", 1);
    struct netd_proc *m = h_netd_start(NULL);
    unsetenv("NETD_CPU_AES");
    netd_client *d = h_client(m);
    st = h_call(d, "stats", NULL);
    lib = json_object_get(st, "tls");
    assert_true(json_is_false(json_object_get(lib, "hardware_aes")));
    assert_string_equal(h_str(lib, "preferred"), "ChaCha20-Poly1305");
    json_decref(st);
    cipher = negotiated_cipher(m);
    assert_string_equal(cipher, "TLS_CHACHA20_POLY1305_SHA256");
    free(cipher);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_s_client, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_library_and_cipher_order, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_client_certificates, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_failed_handshakes_disturb_nobody, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_accept_loop, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_starttls_server_pipelined, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_starttls_client, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_starttls_refusals, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_64mib_server, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_many_at_once, h_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
