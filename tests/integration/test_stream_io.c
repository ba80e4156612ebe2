/*
 * test_stream_io.c - moving bytes through a real netd: read, read "all",
 * chunk, the three encodings, flush, shutdown, close, cancel, the peer
 * closing or resetting, timeouts that lose nothing, and wait; the client
 * library's lean write (netd_client_send_write).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

struct fx {
    struct netd_proc *n;
    netd_client *c;
    struct peer *peer;
    char *h; /* a stream connected to the peer */
};

/* Starts netd and a peer in @mode, and connects a stream to it. */
static void fx_open(struct fx *f, enum peer_mode mode, const void *payload, size_t n)
{
    f->n = h_netd_start(NULL);
    f->c = h_client(f->n);
    f->peer = h_peer_tcp(mode, AF_INET, payload, n);
    f->h = h_connect(f->c, h_peer_host(f->peer), h_peer_port(f->peer));
}

/* A recognisable byte pattern: byte i is (i * 7 + i / 251) mod 256. */
static unsigned char *pattern(size_t n)
{
    unsigned char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7 + i / 251);
    return p;
}

static json_t *read_params(const char *h, json_t *nbytes, const char *enc, double timeout)
{
    json_t *p = json_pack("{s:s, s:o}", "handle", h, "nbytes", nbytes);
    if (enc)
        json_object_set_new(p, "encoding", json_string(enc));
    if (timeout >= 0)
        json_object_set_new(p, "timeout", json_real(timeout));
    return p;
}

static void test_read_n(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    h_write(f.c, f.h, "abcdefgh", 8);
    size_t n;
    int eof;
    unsigned char *d = h_read(f.c, f.h, 3, &n, &eof);
    assert_true(n >= 1 && n <= 3);
    assert_false(eof);
    assert_memory_equal(d, "abcdefgh", n);
    h_read_expect(f.c, f.h, "abcdefgh" + n, 8 - n, 10);
    free(d);
    free(f.h);
}

static void test_read_all(void **state)
{
    enum { N = 100000 };
    unsigned char *want = pattern(N);
    struct fx f;
    fx_open(&f, PEER_PAYLOAD, want, N);
    json_t *r = h_call(f.c, "read", read_params(f.h, json_string("all"), "hex", 30));
    size_t n;
    unsigned char *d = h_data(r, &n);
    assert_int_equal(n, N);
    assert_memory_equal(d, want, N);
    json_decref(r);
    free(d);
    /* The end of stream stays: every later read says eof with no data. */
    for (int i = 0; i < 2; i++) {
        int eof;
        d = h_read(f.c, f.h, 10, &n, &eof);
        assert_int_equal(n, 0);
        assert_true(eof);
        free(d);
    }
    free(want);
    free(f.h);
}

static void test_chunk(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    h_write(f.c, f.h, "01234", 5);
    /* The chunk waits for all ten bytes; the write that completes them is
     * sent on the same connection while the chunk is still waiting. */
    long long id = h_send(f.c, "chunk", read_params(f.h, json_integer(10), "utf8", 30));
    h_write(f.c, f.h, "56789", 5);
    json_t *r = h_wait(f.c, id);
    h_expect_str(r, "encoding", "utf8");
    h_expect_str(r, "data", "0123456789");
    assert_false(json_is_true(json_object_get(r, "eof")));
    json_decref(r);
    free(f.h);
}

/*
 * Reads far larger than the per-handle buffer (--max-buffer, 1 MiB by
 * default) but within --max-read must still complete: read "all" of a
 * 3 MiB stream, and a 4 MiB chunk that waits while its own bytes are
 * written through the echo peer.
 */
static void test_large_transfers(void **state)
{
    enum { ALL = 3 << 20, CHUNK = 4 << 20 };
    unsigned char *want = pattern(CHUNK);
    struct fx f;
    fx_open(&f, PEER_PAYLOAD, want, ALL);
    json_t *r = h_call(f.c, "read", read_params(f.h, json_string("all"), NULL, 60));
    size_t n;
    unsigned char *d = h_data(r, &n);
    assert_int_equal(n, ALL);
    assert_memory_equal(d, want, ALL);
    free(d);
    json_decref(r);

    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    char *h = h_connect(f.c, h_peer_host(echo), h_peer_port(echo));
    long long rid = h_send(f.c, "chunk", read_params(h, json_integer(CHUNK), NULL, 60));
    char *b64 = h_base64(want, CHUNK);
    long long wid = h_send(f.c, "write",
                           json_pack("{s:s, s:s, s:f}", "handle", h, "data", b64, "timeout", 60.0));
    free(b64);
    r = h_wait(f.c, wid);
    assert_int_equal(h_int(r, "written"), CHUNK);
    json_decref(r);
    r = h_wait(f.c, rid);
    d = h_data(r, &n);
    assert_int_equal(n, CHUNK);
    assert_memory_equal(d, want, CHUNK);
    free(d);
    json_decref(r);
    free(h);
    free(want);
    free(f.h);
}

static void test_chunk_short_at_eof(void **state)
{
    struct fx f;
    fx_open(&f, PEER_PAYLOAD, "only this", 9);
    json_t *r = h_call(f.c, "chunk", read_params(f.h, json_integer(100), "utf8", 30));
    h_expect_str(r, "data", "only this");
    json_decref(r);
    free(f.h);
}

static void test_write_encodings(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    static const unsigned char bin[] = {0, 1, 2, 0xfe, 0xff, '\n', '"', '\\'};
    char *b64 = h_base64(bin, sizeof bin);
    /* base64 is the default encoding when none is named. */
    json_t *r = h_call(f.c, "write", json_pack("{s:s, s:s}", "handle", f.h, "data", b64));
    assert_int_equal(h_int(r, "written"), sizeof bin);
    json_decref(r);
    h_read_expect(f.c, f.h, bin, sizeof bin, 10);
    free(b64);

    const char *text = "h\xc3\xa9llo \xe2\x9c\x93";
    r = h_call(f.c, "write",
               json_pack("{s:s, s:s, s:s}", "handle", f.h, "data", text, "encoding", "utf8"));
    assert_int_equal(h_int(r, "written"), strlen(text));
    json_decref(r);
    r = h_call(f.c, "chunk", read_params(f.h, json_integer((json_int_t)strlen(text)), "utf8", 10));
    h_expect_str(r, "encoding", "utf8");
    h_expect_str(r, "data", text);
    json_decref(r);

    /* hex in either case; answers are lowercase. */
    r = h_call(f.c, "write",
               json_pack("{s:s, s:s, s:s}", "handle", f.h, "data", "DEADbeef", "encoding", "hex"));
    assert_int_equal(h_int(r, "written"), 4);
    json_decref(r);
    r = h_call(f.c, "chunk", read_params(f.h, json_integer(4), "hex", 10));
    h_expect_str(r, "data", "deadbeef");
    json_decref(r);

    /* Base64 is also what a read answers by default. */
    h_write(f.c, f.h, "\xff\xfe", 2);
    r = h_call(f.c, "chunk", read_params(f.h, json_integer(2), NULL, 10));
    h_expect_str(r, "encoding", "base64");
    h_expect_str(r, "data", "//4=");
    json_decref(r);
    free(f.h);
}

static void test_utf8_fallback(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    h_write(f.c, f.h, "\xff\xfe\x41", 3);
    json_t *r = h_call(f.c, "chunk", read_params(f.h, json_integer(3), "utf8", 10));
    h_expect_str(r, "encoding", "base64");
    h_expect_str(r, "data", "//5B");
    json_decref(r);
    free(f.h);
}

static void test_flush_and_pending(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    h_write(f.c, f.h, "flushed", 7);
    json_t *r = h_call(f.c, "flush", json_pack("{s:s}", "handle", f.h));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    r = h_call(f.c, "pending", json_pack("{s:s}", "handle", f.h));
    assert_int_equal(h_int(r, "bytes"), 0);
    json_decref(r);
    h_read_expect(f.c, f.h, "flushed", 7, 10);
    free(f.h);
}

static void test_shutdown_write(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    h_write(f.c, f.h, "bye", 3);
    json_t *r = h_call(f.c, "shutdown", json_pack("{s:s, s:s}", "handle", f.h, "mode", "w"));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
    assert_true(h_peer_wait_eofs(f.peer, 1, 10000));
    /* Reading still works: the echo, then the peer's own end of stream. */
    h_read_expect(f.c, f.h, "bye", 3, 10);
    size_t n;
    int eof;
    free(h_read(f.c, f.h, 10, &n, &eof));
    assert_int_equal(n, 0);
    assert_true(eof);
    free(f.h);
}

static void test_close(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    h_close(f.c, f.h);
    assert_true(h_peer_wait_eofs(f.peer, 1, 10000));
    json_decref(h_call_err(f.c, "status", json_pack("{s:s}", "handle", f.h), -32002));
    free(f.h);
}

static void test_cancel(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    long long id = h_send(f.c, "read", read_params(f.h, json_integer(10), NULL, -1));
    json_t *r = h_call(f.c, "cancel", json_pack("{s:s}", "handle", f.h));
    assert_int_equal(h_int(r, "cancelled"), 1);
    json_decref(r);
    json_decref(h_wait_err(f.c, id, -32004));
    /* Nothing waits any more, and the handle is still open and usable. */
    r = h_call(f.c, "cancel", json_pack("{s:s}", "handle", f.h));
    assert_int_equal(h_int(r, "cancelled"), 0);
    json_decref(r);
    h_write(f.c, f.h, "after cancel", 12);
    h_read_expect(f.c, f.h, "after cancel", 12, 10);
    free(f.h);
}

static void test_close_while_reading(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    long long id = h_send(f.c, "read", read_params(f.h, json_integer(10), NULL, -1));
    h_close(f.c, f.h);
    json_decref(h_wait_err(f.c, id, -32004));
    assert_true(h_peer_wait_eofs(f.peer, 1, 10000));
    free(f.h);
}

static void test_peer_closes(void **state)
{
    struct fx f;
    fx_open(&f, PEER_CLOSE, NULL, 0);
    for (int i = 0; i < 2; i++) {
        json_t *r = h_call(f.c, "read", read_params(f.h, json_integer(10), NULL, 30));
        h_expect_str(r, "data", "");
        assert_true(json_is_true(json_object_get(r, "eof")));
        json_decref(r);
    }
    free(f.h);
}

static void test_peer_resets(void **state)
{
    struct fx f;
    fx_open(&f, PEER_RESET, NULL, 0);
    h_write(f.c, f.h, "x", 1); /* the peer resets when this arrives */
    json_t *e = h_call_err(f.c, "read", read_params(f.h, json_integer(10), NULL, 30), -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "ECONNRESET");
    json_decref(e);
    free(f.h);
}

/* Writing to a peer that has gone: an os error, never a dead netd (SIGPIPE). */
static void test_write_after_peer_closed(void **state)
{
    struct fx f;
    fx_open(&f, PEER_CLOSE, NULL, 0);
    json_t *r = h_call(f.c, "read", read_params(f.h, json_integer(10), NULL, 30));
    assert_true(json_is_true(json_object_get(r, "eof")));
    json_decref(r);
    json_t *err = NULL;
    for (int i = 0; i < 200 && !err; i++) {
        json_t *res = NULL;
        long long id = h_send(f.c, "write", json_pack("{s:s, s:s}", "handle", f.h, "data", "AAAA"));
        int rc = netd_client_wait(f.c, id, H_ANSWER_MS, &res, &err);
        assert_true(rc == 0 || rc == 1);
        json_decref(res);
        if (!err)
            h_sleep_ms(5);
    }
    assert_non_null(err);
    assert_int_equal(netd_error_code(err), -32000);
    const char *name = h_err_data_str(err, "errno");
    assert_true(strcmp(name, "EPIPE") == 0 || strcmp(name, "ECONNRESET") == 0);
    json_decref(err);
    h_netd_assert_alive(f.n);
    json_decref(h_call(f.c, "ping", NULL));
    free(f.h);
}

static void test_read_timeout(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    json_decref(h_call_err(f.c, "read", read_params(f.h, json_integer(10), NULL, 0.2), -32001));
    json_decref(h_call_err(f.c, "read", read_params(f.h, json_integer(10), NULL, 0), -32001));
    json_decref(h_call_err(f.c, "chunk", read_params(f.h, json_integer(10), NULL, 0.1), -32001));
    h_write(f.c, f.h, "late bytes", 10);
    h_read_expect(f.c, f.h, "late bytes", 10, 10);
    /* timeout 0 means "do not wait", not "fail": bytes already there come back. */
    h_write(f.c, f.h, "now", 3);
    json_decref(
        h_call(f.c, "wait",
               json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "readable", "timeout", 10.0)));
    json_t *r = h_call(f.c, "read", read_params(f.h, json_integer(10), "utf8", 0));
    h_expect_str(r, "data", "now");
    json_decref(r);
    free(f.h);
}

/*
 * The peer sends its bytes a few at a time while the test reads with tiny
 * timeouts, so many reads time out around the moment bytes arrive; what
 * comes out must still be the exact byte sequence.
 */
static void test_timeouts_lose_nothing(void **state)
{
    enum { N = 3000 };
    unsigned char *want = pattern(N);
    struct fx f;
    fx_open(&f, PEER_DRIP, want, N);
    unsigned char *got = malloc(N);
    size_t have = 0;
    int timeouts = 0, eof = 0;
    long long deadline = h_now_ms() + 120000;
    while (!eof && h_now_ms() < deadline) {
        long long id = h_send(f.c, "read", read_params(f.h, json_integer(16), "hex", 0.002));
        json_t *res = NULL, *err = NULL;
        int rc = netd_client_wait(f.c, id, H_ANSWER_MS, &res, &err);
        assert_true(rc == 0 || rc == 1);
        if (rc == 1) {
            assert_int_equal(netd_error_code(err), -32001);
            timeouts++;
            json_decref(err);
            continue;
        }
        size_t n;
        unsigned char *d = h_data(res, &n);
        eof = json_is_true(json_object_get(res, "eof"));
        assert_true(have + n <= N);
        memcpy(got + have, d, n);
        have += n;
        free(d);
        json_decref(res);
    }
    assert_true(eof);
    assert_int_equal(have, N);
    assert_memory_equal(got, want, N);
    print_message("%d reads timed out on the way\n", timeouts);
    free(got);
    free(want);
    free(f.h);
}

static void test_wait(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    json_t *st =
        h_call(f.c, "wait",
               json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "writable", "timeout", 10.0));
    h_expect_str(st, "handle", f.h);
    json_decref(st);
    json_decref(h_call_err(
        f.c, "wait", json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "readable", "timeout", 0.1),
        -32001));
    h_write(f.c, f.h, "ready", 5);
    st = h_call(f.c, "wait",
                json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "drained", "timeout", 10.0));
    assert_int_equal(h_int(st, "pending"), 0);
    json_decref(st);
    st = h_call(f.c, "wait",
                json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "readable", "timeout", 10.0));
    assert_true(h_int(st, "readable") >= 1);
    json_decref(st);
    h_read_expect(f.c, f.h, "ready", 5, 10);
    free(f.h);
}

/* netd_client_send_write: the bytes reach the peer as they are, from none
 * to several MiB, several in flight, and a bad handle gets netd's error. */
static void test_send_write(void **state)
{
    struct fx f;
    fx_open(&f, PEER_ECHO, NULL, 0);
    static const size_t sizes[] = {0, 1, 2, 3, 4, 1000, 65536, 65537, 3u << 20};
    unsigned char *p = pattern(3u << 20);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        long long id[3];
        for (int k = 0; k < 3; k++)
            id[k] = netd_client_send_write(f.c, f.h, p, sizes[i]);
        /* Read the echo first: the writes finish only as the peer, which
         * echoes, gets its own bytes taken. */
        for (int k = 0; k < 3 && sizes[i] > 0; k++)
            h_read_expect(f.c, f.h, p, sizes[i], 30);
        for (int k = 0; k < 3; k++) {
            assert_true(id[k] > 0);
            json_t *r = h_wait(f.c, id[k]);
            assert_int_equal(h_int(r, "written"), (long long)sizes[i]);
            json_decref(r);
        }
    }
    long long bad = netd_client_send_write(f.c, "h-gone", p, 10);
    json_decref(h_wait_err(f.c, bad, -32002));
    free(p);
    free(f.h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_n, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_send_write, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_read_all, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_chunk, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_large_transfers, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_chunk_short_at_eof, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_write_encodings, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_utf8_fallback, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_flush_and_pending, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_shutdown_write, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_close, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_close_while_reading, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_peer_closes, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_peer_resets, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_write_after_peer_closed, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_read_timeout, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_timeouts_lose_nothing, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_wait, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
