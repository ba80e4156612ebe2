/*
 * test_tls_client.c - netd as a TLS client against real servers (openssl
 * s_server, Python's ssl): verification and each way it fails, the trust
 * store of a call and of a connection (tls-config), SNI and IP checks,
 * ALPN, client certificates, close_notify against truncation, reads woken by
 * bytes already decrypted, backpressure, and 64 MiB through TLS.
 */
#include "tls_peers.h"

#define BIG (64u << 20)
#define STEP (1u << 20)

/* A recognisable byte pattern (as tls_peer.py makes it). */
static unsigned char *pattern(size_t n)
{
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7 + i / 251);
    return p;
}

static void test_verified_session(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    t_s_server("server", &port, (const char *const[]){"-alpn", "http/1.1", NULL});
    char *h =
        t_connect(c, "localhost", port, t_tls(json_pack("{s:[s,s]}", "alpn", "h2", "http/1.1")));
    json_t *st, *tls = t_status_tls(c, h, &st);
    assert_string_equal(h_str(tls, "version"), "TLSv1.3");
    assert_true(strlen(h_str(tls, "cipher")) > 0);
    assert_true(json_is_true(json_object_get(tls, "verified")));
    assert_string_equal(h_str(tls, "alpn"), "http/1.1");
    assert_non_null(strstr(h_str(tls, "peer_subject"), "CN=localhost"));
    json_decref(st);
    t_write(c, h, "hello s_server\n");
    t_expect(c, h, "revres_s olleh\n");
    h_close(c, h);
    free(h);
}

/* The host given is the name checked; an IP address against the IP SANs. */
static void test_names_and_addresses(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int good, wrong;
    t_s_server("server", &good, NULL);
    t_s_server("wrongname", &wrong, NULL);
    char *h = t_connect(c, "127.0.0.1", good, t_tls(NULL));
    t_write(c, h, "by address\n");
    t_expect(c, h, "sserdda yb\n");
    h_close(c, h);
    free(h);
    /* An IPv6 address is matched too (s_server listens on both families);
     * skipped where this machine has no IPv6 loopback. */
    json_t *res = NULL, *err6 = NULL;
    if (netd_call(c, "connect",
                  json_pack("{s:s,s:i,s:o,s:f}", "host", "::1", "port", good, "tls", t_tls(NULL),
                            "timeout", 60.0),
                  &res, &err6) == 0) {
        h_close(c, h_str(res, "handle"));
    } else {
        assert_int_equal(netd_error_code(err6), -32000);
    }
    json_decref(res);
    json_decref(err6);
    /* wrong.example's certificate has no IP SAN, and is not for localhost. */
    json_t *err = t_connect_fails(c, "127.0.0.1", wrong, t_tls(NULL));
    t_expect_verify(err, "name_mismatch", "127.0.0.1");
    json_decref(err);
    err = t_connect_fails(c, "localhost", wrong, t_tls(NULL));
    t_expect_verify(err, "name_mismatch", "localhost");
    json_decref(err);
    /* servername overrides the host for SNI and verification. */
    h = t_connect(c, "127.0.0.1", wrong, t_tls(json_pack("{s:s}", "servername", "wrong.example")));
    h_close(c, h);
    free(h);
    err = t_connect_fails(c, "localhost", good,
                          t_tls(json_pack("{s:s}", "servername", "other.example")));
    t_expect_verify(err, "name_mismatch", "other.example");
    json_decref(err);
}

/* Every verification failure is -32008 with its reason, and netd goes on. */
static void test_verification_failures(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int good, expired, self;
    t_s_server("server", &good, NULL);
    t_s_server("expired", &expired, NULL);
    t_s_server("self", &self, NULL);
    json_t *err = t_connect_fails(c, "localhost", expired, t_tls(NULL));
    t_expect_verify(err, "expired", "expired");
    json_decref(err);
    err = t_connect_fails(c, "localhost", self, t_tls(NULL));
    t_expect_verify(err, "self_signed", "self-signed");
    json_decref(err);
    err = t_connect_fails(c, "localhost", good, json_pack("{s:s}", "cafile", T("other-ca.pem")));
    t_expect_verify(err, "unknown_ca", "trusted CA");
    json_decref(err);
    /* The system store does not hold our test CA: verification is on by default. */
    err = t_connect_fails(c, "localhost", good, json_true());
    t_expect_verify(err, "unknown_ca", "trusted CA");
    json_decref(err);
    err = t_connect_fails(c, "localhost", good, json_pack("{s:s}", "capath", T("empty")));
    t_expect_verify(err, "no_trust_store", "no trust store");
    json_decref(err);
    /* A cafile netd cannot open as the caller: the kernel's errno, the file named. */
    err = h_call_err(c, "connect",
                     json_pack("{s:s,s:i,s:{s:s},s:f}", "host", "localhost", "port", good, "tls",
                               "cafile", T("missing.pem"), "timeout", 60.0),
                     -32000);
    assert_string_equal(h_err_data_str(err, "errno"), "ENOENT");
    assert_non_null(strstr(netd_error_message(err), "missing.pem"));
    json_decref(err);
    /* Only an explicit verify: false turns it off, and status says so. */
    char *h = t_connect(c, "localhost", self, json_pack("{s:b}", "verify", 0));
    json_t *st, *tls = t_status_tls(c, h, &st);
    assert_true(json_is_false(json_object_get(tls, "verified")));
    json_decref(st);
    h_close(c, h);
    free(h);
    /* netd keeps serving, and a good connect still works after all that. */
    h_netd_assert_alive(n);
    json_decref(h_call(c, "ping", NULL));
    h = t_connect(c, "localhost", good, t_tls(NULL));
    t_write(c, h, "still here\n");
    t_expect(c, h, "ereh llits\n");
    free(h);
    json_t *none = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(none, "handles")), 1);
    json_decref(none);
}

static void test_bad_tls_params(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    static const char *const bad[] = {
        "{\"verify\": 1}",  "{\"alpn\": \"h2\"}",        "{\"alpn\": []}",
        "{\"sni\": \"x\"}", "{\"verify_client\": true}", "{\"cert\": \"/x.pem\"}",
        "\"yes\"",          "{\"servername\": \"\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *tls = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        json_decref(h_call_err(
            c, "connect", json_pack("{s:s,s:i,s:o}", "host", "localhost", "port", 9, "tls", tls),
            -32602));
    }
    /* TLS over a unix socket needs a name to verify (or verify: false). */
    json_decref(h_call_err(c, "connect",
                           json_pack("{s:s,s:b}", "path", "@netd-tls-nowhere", "tls", 1), -32602));
    json_decref(h_call_err(c, "connect",
                           json_pack("{s:s,s:i,s:s,s:b}", "host", "127.0.0.1", "port", 9, "type",
                                     "datagram", "tls", 1),
                           -32602));
}

/* tls-config sets this connection's trust store, and only this one's. */
static void test_tls_config(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *a = h_client(n), *b = h_client(n);
    int port;
    t_s_server("server", &port, NULL);
    json_t *r = h_call(a, "tls-config", NULL);
    assert_true(json_is_null(json_object_get(r, "cafile")));
    assert_true(json_is_null(json_object_get(r, "capath")));
    json_decref(r);
    r = h_call(a, "tls-config", json_pack("{s:s}", "cafile", T("ca.pem")));
    assert_string_equal(h_str(r, "cafile"), T("ca.pem"));
    json_decref(r);
    char *h = t_connect(a, "localhost", port, json_true());
    t_write(a, h, "abc\n");
    t_expect(a, h, "cba\n");
    h_close(a, h); /* s_server serves one connection at a time */
    free(h);
    json_t *err = t_connect_fails(b, "localhost", port, json_true());
    t_expect_verify(err, "unknown_ca", "trusted CA");
    json_decref(err);
    /* A store that cannot be used is refused, and the old one stays. */
    err = h_call_err(a, "tls-config", json_pack("{s:s}", "capath", T("empty")), -32008);
    assert_string_equal(h_err_data_str(err, "verify"), "no_trust_store");
    json_decref(err);
    r = h_call(a, "tls-config", NULL);
    assert_string_equal(h_str(r, "cafile"), T("ca.pem"));
    json_decref(r);
    /* A call's own cafile wins over the connection's. */
    err = t_connect_fails(a, "localhost", port, json_pack("{s:s}", "cafile", T("other-ca.pem")));
    t_expect_verify(err, "unknown_ca", "trusted CA");
    json_decref(err);
    r = h_call(a, "tls-config", json_pack("{s:n}", "cafile"));
    assert_true(json_is_null(json_object_get(r, "cafile")));
    json_decref(r);
    err = t_connect_fails(a, "localhost", port, json_true());
    t_expect_verify(err, "unknown_ca", "trusted CA");
    json_decref(err);
}

/* A client certificate for a server that asks for one. */
static void test_client_certificate(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    t_s_server("server", &port,
               (const char *const[]){"-Verify", "1", "-CAfile", T("ca.pem"), NULL});
    char *h =
        t_connect(c, "localhost", port,
                  t_tls(json_pack("{s:s,s:s}", "cert", T("client.pem"), "key", T("client.key"))));
    t_write(c, h, "with cert\n");
    t_expect(c, h, "trec htiw\n");
    h_close(c, h);
    free(h);
    /* Without one, TLS 1.3 finishes the client's handshake first; the
     * server's alert ends the stream at the first read. */
    h = t_connect(c, "localhost", port, t_tls(NULL));
    json_t *err = h_call_err(
        c, "read", json_pack("{s:s,s:i,s:f}", "handle", h, "nbytes", 100, "timeout", 30.0), -32008);
    assert_string_equal(h_err_data_str(err, "alert"), "certificate_required");
    json_decref(err);
    free(h);
    /* A key that does not belong to the certificate is refused at once. */
    err = t_connect_fails(
        c, "localhost", port,
        t_tls(json_pack("{s:s,s:s}", "cert", T("client.pem"), "key", T("server.key"))));
    assert_non_null(strstr(netd_error_message(err), "does not belong"));
    json_decref(err);
}

/* close_notify is an orderly end; a TCP close without it is reported. */
static void test_close_notify_and_truncation(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int clean, cut;
    t_py_server("greet", "server", &clean, NULL);
    t_py_server("truncate", "server", &cut, NULL);
    char *h = t_connect(c, "localhost", clean, t_tls(NULL));
    t_expect(c, h, "hello from python\n");
    size_t len;
    int eof;
    free(h_read(c, h, 100, &len, &eof));
    assert_int_equal(len, 0);
    assert_true(eof);
    free(h);
    h = t_connect(c, "localhost", cut, t_tls(NULL));
    t_expect(c, h, "hello from python\n");
    json_t *err = h_call_err(
        c, "read", json_pack("{s:s,s:i,s:f}", "handle", h, "nbytes", 100, "timeout", 30.0), -32008);
    assert_true(json_is_true(json_object_get(json_object_get(err, "data"), "truncated")));
    assert_non_null(strstr(netd_error_message(err), "close_notify"));
    json_decref(err);
    free(h);
}

/* openssl s_server -www answers GET / HTTP/1.0 with its last record,
 * close_notify and the end of the connection at once: read "all" returns
 * the page with eof at once (issue 9, finding 14: it waited for its
 * timeout, though the bytes and the end were there). */
static void test_read_all_www(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    char cert[160], key[160], portstr[16], out[160];
    snprintf(cert, sizeof cert, "%s", T("server.pem"));
    snprintf(key, sizeof key, "%s", T("server.key"));
    int port = 0;
    for (int attempt = 0; attempt < 5 && port == 0; attempt++) {
        int p = h_free_port();
        snprintf(portstr, sizeof portstr, "%d", p);
        snprintf(out, sizeof out, "%s/s_server_www%d.out", t_dir, attempt);
        const char *argv[] = {"openssl", "s_server", "-accept", portstr, "-cert",
                              cert,      "-key",     key,       "-www",  NULL};
        if (t_s_server_up(t_spawn(argv, out), out))
            port = p;
    }
    assert_true(port > 0);
    for (int round = 0; round < 5; round++) {
        char *h = t_connect(c, "localhost", port, t_tls(NULL));
        t_write(c, h, "GET / HTTP/1.0\r\n\r\n");
        long long t0 = h_now_ms();
        json_t *r = h_call(c, "read",
                           json_pack("{s:s,s:s,s:s,s:i}", "handle", h, "nbytes", "all", "encoding",
                                     "utf8", "timeout", 10));
        long long took = h_now_ms() - t0;
        assert_non_null(strstr(h_str(r, "data"), "HTTP/1.0 200 ok"));
        assert_true(json_is_true(json_object_get(r, "eof")));
        assert_true(took < 2000);
        json_decref(r);
        h_close(c, h);
        free(h);
    }
}

/* shutdown "w" and close both send close_notify: the peer sees a clean end. */
static void test_orderly_close(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    struct tproc *py = t_py_server("echo", "server", &port, NULL);
    char *h = t_connect(c, "localhost", port, t_tls(NULL));
    t_write(c, h, "one\n");
    json_decref(h_call(c, "shutdown", json_pack("{s:s,s:s}", "handle", h, "mode", "w")));
    t_expect(c, h, "one\n");
    free(t_expect_line(py, "END clean 4"));
    size_t len;
    int eof;
    free(h_read(c, h, 100, &len, &eof));
    assert_true(eof && len == 0);
    h_close(c, h);
    free(h);
    h = t_connect(c, "localhost", port, t_tls(NULL));
    t_write(c, h, "two!\n");
    t_expect(c, h, "two!\n");
    h_close(c, h);
    free(h);
    free(t_expect_line(py, "END clean 5"));
}

/* wait: false answers at once; the handshake goes on and `wait` sees it end. */
static void test_connect_without_waiting(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    t_s_server("server", &port, NULL);
    char *h = h_new_handle(c, "connect",
                           json_pack("{s:s,s:i,s:o,s:b}", "host", "localhost", "port", port, "tls",
                                     t_tls(NULL), "wait", 0));
    json_t *st = h_call(
        c, "wait", json_pack("{s:s,s:s,s:f}", "handle", h, "for", "connected", "timeout", 60.0));
    assert_string_equal(h_str(st, "state"), "success");
    assert_true(json_is_object(json_object_get(st, "tls")));
    json_decref(st);
    t_write(c, h, "late\n");
    t_expect(c, h, "etal\n");
    h_close(c, h); /* s_server serves one connection at a time */
    free(h);
    /* A failure stays on the handle for status to show. */
    h = h_new_handle(c, "connect",
                     json_pack("{s:s,s:i,s:o,s:b}", "host", "localhost", "port", port, "tls",
                               json_pack("{s:s}", "cafile", T("other-ca.pem")), "wait", 0));
    st = h_call(c, "wait",
                json_pack("{s:s,s:s,s:f}", "handle", h, "for", "connected", "timeout", 60.0));
    assert_string_equal(h_str(st, "state"), "failure");
    json_t *e = json_object_get(st, "error");
    assert_int_equal(h_int(e, "code"), -32008);
    assert_string_equal(h_str(json_object_get(e, "data"), "verify"), "unknown_ca");
    json_decref(st);
    free(h);
}

/*
 * Bytes wolfSSL has decrypted but netd has not delivered do not make the
 * socket readable. With a 1 KiB buffer, one 16 KiB record leaves 15 KiB
 * inside wolfSSL after the first read: `wait` and every later read must
 * find them without the socket ever waking.
 */
static void test_decrypted_bytes_wake_reads(void **state)
{
    struct netd_proc *n = h_netd_start((const char *const[]){"--max-buffer", "1024", NULL});
    netd_client *c = h_client(n);
    int port;
    t_py_server("blob", "server", &port, (const char *const[]){"--size", "16384", NULL});
    char *h = t_connect(c, "localhost", port, t_tls(NULL));
    unsigned char *want = pattern(16384);
    size_t got = 0;
    while (got < 16384) {
        if (got > 0) {
            json_t *st =
                h_call(c, "wait",
                       json_pack("{s:s,s:s,s:i}", "handle", h, "for", "readable", "timeout", 1));
            assert_true(h_int(st, "readable") > 0);
            json_decref(st);
        }
        json_t *r = h_call(c, "read",
                           json_pack("{s:s,s:i,s:i}", "handle", h, "nbytes", 4096, "timeout", 1));
        size_t len;
        unsigned char *d = h_data(r, &len);
        assert_true(len > 0 && len <= 1024);
        assert_memory_equal(d, want + got, len);
        got += len;
        free(d);
        json_decref(r);
    }
    free(want);
    free(h);
}

/* A peer that stops reading: timeouts, partial writes and pending as over TCP. */
static void test_backpressure(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    t_py_server("stall", "server", &port, NULL);
    char *h = t_connect(c, "localhost", port, t_tls(NULL));
    size_t size = 8u << 20;
    unsigned char *data = pattern(size);
    char *b64 = h_base64(data, size);
    json_t *err = h_call_err(
        c, "write", json_pack("{s:s,s:s,s:f}", "handle", h, "data", b64, "timeout", 1.0), -32001);
    long long written = h_int(json_object_get(err, "data"), "written");
    assert_true(written >= 0 && written < (long long)size);
    json_decref(err);
    /* The timed-out write's rest is dropped, but the ciphertext the TLS
     * session already made and the socket did not take still counts. */
    json_t *r = h_call(c, "pending", json_pack("{s:s}", "handle", h));
    assert_true(h_int(r, "bytes") > 0);
    json_decref(r);
    json_decref(h_call_err(
        c, "wait", json_pack("{s:s,s:s,s:f}", "handle", h, "for", "drained", "timeout", 0.2),
        -32001));
    r = h_call(c, "write", json_pack("{s:s,s:s,s:b}", "handle", h, "data", b64, "partial", 1));
    assert_true(h_int(r, "written") < (long long)size);
    json_decref(r);
    r = h_call(c, "pending", json_pack("{s:s}", "handle", h));
    assert_true(h_int(r, "bytes") > 0);
    json_decref(r);
    json_decref(h_call_err(
        c, "wait", json_pack("{s:s,s:s,s:f}", "handle", h, "for", "drained", "timeout", 0.3),
        -32001));
    free(b64);
    free(data);
    h_close(c, h);
    free(h);
}

static void test_release_refused(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    t_s_server("server", &port, NULL);
    char *h = t_connect(c, "localhost", port, t_tls(NULL));
    json_t *err = h_call_err(c, "release", json_pack("{s:s}", "handle", h), -32003);
    assert_string_equal(h_err_data_str(err, "kind"), "tls");
    json_decref(err);
    t_write(c, h, "kept\n");
    t_expect(c, h, "tpek\n");
    free(h);
}

/* 64 MiB to a Python echo server and back, byte for byte. */
static void test_64mib_through_tls(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    int port;
    struct tproc *py = t_py_server("echo", "server", &port, NULL);
    char *h = t_connect(c, "localhost", port, t_tls(NULL));
    unsigned char *data = pattern(BIG);
    for (size_t off = 0; off < BIG; off += STEP) {
        char *b64 = h_base64(data + off, STEP);
        long long id = h_send(c, "write", json_pack("{s:s,s:s}", "handle", h, "data", b64));
        free(b64);
        h_read_expect(c, h, data + off, STEP, 60);
        json_t *r = h_wait(c, id);
        assert_int_equal(h_int(r, "written"), STEP);
        json_decref(r);
    }
    json_decref(h_call(c, "shutdown", json_pack("{s:s,s:s}", "handle", h, "mode", "w")));
    char *end = t_expect_line(py, "END clean ");
    assert_int_equal(atoll(end), (long long)BIG);
    free(end);
    json_t *st = h_call(c, "status", json_pack("{s:s}", "handle", h));
    assert_int_equal(h_int(st, "bytes_in"), (long long)BIG);
    assert_int_equal(h_int(st, "bytes_out"), (long long)BIG);
    json_decref(st);
    free(data);
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verified_session, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_names_and_addresses, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_verification_failures, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bad_tls_params, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_tls_config, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_client_certificate, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_close_notify_and_truncation, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_read_all_www, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_orderly_close, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_connect_without_waiting, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_decrypted_bytes_wake_reads, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_release_refused, h_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_64mib_through_tls, h_setup, t_teardown),
    };
    return cmocka_run_group_tests(tests, t_group_setup, t_group_teardown);
}
