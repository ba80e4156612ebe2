/*
 * test_flow.c - flow control through a real netd against real TCP peers:
 * partial writes into a bounded buffer (0 when full), whole writes that
 * time out, pending, wait for writable / drained / error, and netd's memory
 * staying bounded meanwhile; status readable and atmark (out-of-band data).
 *
 * Pragtical: net.tcp:write (partial), get_pending_writes,
 * wait_until_drained. Emilua: wait("read"/"write"/"error"),
 * io_control("bytes_readable"), at_mark. lua-net: sock:send, sock:atmark.
 */
#include "sockets.h"

enum { PIECE = 65536, MAXBUF = 262144 };

/* A stream to a peer of ours that reads nothing yet; small buffers on both
 * sides so they fill quickly. */
struct ffx {
    struct netd_proc *n;
    netd_client *c;
    char *h;
    int lfd, peer;
    pid_t pid;
};

static void ffx_open(struct ffx *f)
{
    static const char *const args[] = {"--max-buffer", "262144", NULL};
    f->n = h_netd_start(args);
    f->c = h_client(f->n);
    int port, small = 4096;
    f->lfd = s_tcp_listener("127.0.0.1", &port);
    setsockopt(f->lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    f->h = h_connect(f->c, "127.0.0.1", port);
    f->peer = s_accept(f->lfd, 5000);
    n_setopt(f->c, f->h, "so-sndbuf", json_integer(4096));
    f->pid = n_pid(f->c);
}

static void ffx_close(struct ffx *f)
{
    close(f->peer);
    close(f->lfd);
    free(f->h);
}

/* byte i of the stream is (i * 31 + i / 256) mod 256 */
static unsigned char pat(size_t i)
{
    return (unsigned char)(i * 31 + i / 256);
}

/* A partial write of PIECE pattern bytes starting at stream offset @off. */
static long long partial_write(struct ffx *f, size_t off)
{
    unsigned char *buf = malloc(PIECE);
    for (size_t i = 0; i < PIECE; i++)
        buf[i] = pat(off + i);
    char *b64 = h_base64(buf, PIECE);
    free(buf);
    json_t *r = h_call(f->c, "write",
                       json_pack("{s:s, s:s, s:b}", "handle", f->h, "data", b64, "partial", 1));
    free(b64);
    long long w = h_int(r, "written");
    assert_true(w >= 0 && w <= PIECE);
    json_decref(r);
    return w;
}

static long long pending(struct ffx *f)
{
    json_t *r = h_call(f->c, "pending", json_pack("{s:s}", "handle", f->h));
    long long b = h_int(r, "bytes");
    json_decref(r);
    return b;
}

/*
 * Fills kernel buffers and netd's until partial writes take nothing. The
 * peer's kernel may still open its window a little after the first 0, so
 * the buffers count as full after five 0s in a row, 50 ms apart.
 */
static size_t fill_up(struct ffx *f)
{
    size_t total = 0;
    int zeros = 0;
    for (int i = 0; i < 10000 && zeros < 5; i++) {
        long long w = partial_write(f, total);
        total += (size_t)w;
        zeros = w == 0 ? zeros + 1 : 0;
        if (w == 0)
            h_sleep_ms(50);
    }
    if (zeros < 5)
        fail_msg("partial writes never settled at 0 for a peer that reads nothing");
    return total;
}

/*
 * A peer that never reads: partial writes end at 0 with pending bounded by
 * --max-buffer, whole writes time out telling what went, the handle is
 * neither writable nor drained, and netd's RSS does not follow what the
 * client keeps offering.
 */
static void test_peer_never_reads(void **state)
{
    enum { WHOLE = 4 << 20 };
    struct ffx f;
    ffx_open(&f);
    long rss0 = s_rss_kib(f.pid);
    size_t total = fill_up(&f);
    long long p = pending(&f);
    assert_true(p > 0 && p <= MAXBUF);
    for (int i = 0; i < 100; i++)
        assert_int_equal(partial_write(&f, total), 0);
    assert_int_equal(pending(&f), p);

    /* Rounds of whole writes that time out, each offering 5 lines of 5.6 MB:
     * the first may leave the allocator holding memory, and a later one may
     * too while a line lands in another thread's arena (one line's worth,
     * 5.6 MB, measured), but none adds what it offered. */
    unsigned char *zero = calloc(1, WHOLE);
    char *b64 = h_base64(zero, WHOLE);
    free(zero);
    enum { ROUNDS = 3 };
    long rss[ROUNDS + 1] = {rss0};
    for (int round = 1; round <= ROUNDS; round++) {
        for (int i = 0; i < 5; i++) {
            json_t *e = h_call_err(
                f.c, "write",
                json_pack("{s:s, s:s, s:f}", "handle", f.h, "data", b64, "timeout", 0.3), -32001);
            json_t *w = json_object_get(json_object_get(e, "data"), "written");
            assert_true(json_is_integer(w) && json_integer_value(w) == 0);
            json_decref(e);
        }
        rss[round] = s_rss_kib(f.pid);
    }
    free(b64);
    json_decref(h_call_err(
        f.c, "wait", json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "writable", "timeout", 0.3),
        -32001));
    json_decref(h_call_err(
        f.c, "wait", json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "drained", "timeout", 0.3),
        -32001));
    json_t *st = n_status(f.c, f.h);
    assert_int_equal(h_int(st, "pending"), p);
    json_decref(st);
    print_message("%zu bytes accepted, %lld pending; netd RSS %ld -> %ld -> %ld -> %ld KiB\n",
                  total, p, rss[0], rss[1], rss[2], rss[3]);
    if (S_SANITIZED) {
        print_message("RSS bounds not checked: a sanitizer build keeps freed memory\n");
    } else {
        for (int round = 2; round <= ROUNDS; round++)
            assert_true(rss[round] - rss[1] < 8 * 1024); /* under two lines */
        assert_true(rss[ROUNDS] - rss[0] < 48 * 1024);
    }
    ffx_close(&f);
}

/* Once the peer reads, what was accepted arrives whole and in order, and
 * the waits for drained and writable are answered. */
static void test_drain(void **state)
{
    struct ffx f;
    ffx_open(&f);
    size_t total = fill_up(&f);
    long long drained =
        h_send(f.c, "wait",
               json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "drained", "timeout", 60.0));
    unsigned char *got = malloc(total);
    size_t have = 0;
    long long deadline = h_now_ms() + 60000;
    while (have < total && h_now_ms() < deadline) {
        if (!s_ready(f.peer, POLLIN, 1000))
            continue;
        ssize_t k = recv(f.peer, got + have, total - have, 0);
        assert_true(k > 0);
        have += (size_t)k;
    }
    assert_int_equal(have, total);
    for (size_t i = 0; i < total; i++)
        if (got[i] != pat(i))
            fail_msg("byte %zu differs", i);
    free(got);
    json_t *st = h_wait(f.c, drained);
    assert_int_equal(h_int(st, "pending"), 0);
    assert_int_equal(h_int(st, "bytes_out"), total);
    json_decref(st);
    st = h_call(f.c, "wait",
                json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "writable", "timeout", 10.0));
    json_decref(st);
    assert_true(partial_write(&f, total) > 0);
    ffx_close(&f);
}

/* wait for error: the peer resets; the status says so and reads fail. */
static void test_wait_error(void **state)
{
    struct ffx f;
    ffx_open(&f);
    long long id = h_send(
        f.c, "wait", json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "error", "timeout", 10.0));
    struct linger lg = {1, 0};
    setsockopt(f.peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(f.peer);
    f.peer = -1;
    json_t *st = h_wait(f.c, id);
    h_expect_str(st, "handle", f.h);
    json_decref(st);
    json_t *e = h_call_err(
        f.c, "read", json_pack("{s:s, s:i, s:f}", "handle", f.h, "nbytes", 10, "timeout", 5.0),
        -32000);
    assert_string_equal(h_err_data_str(e, "errno"), "ECONNRESET");
    json_decref(e);
    close(f.lfd);
    free(f.h);
}

/* status readable counts what a read would get now; atmark tells where the
 * out-of-band mark is once so-oobinline puts urgent data in the stream. */
static void test_readable_and_atmark(void **state)
{
    struct ffx f;
    ffx_open(&f);
    json_t *st = n_status(f.c, f.h);
    assert_int_equal(h_int(st, "readable"), 0);
    assert_true(json_is_false(json_object_get(st, "atmark")));
    json_decref(st);
    n_setopt(f.c, f.h, "so-oobinline", json_true());
    h_plain_write(f.peer, "ab", 2);
    assert_int_equal(send(f.peer, "!", 1, MSG_OOB), 1);
    h_plain_write(f.peer, "cd", 2);
    st = h_call(f.c, "wait",
                json_pack("{s:s, s:s, s:f}", "handle", f.h, "for", "readable", "timeout", 10.0));
    for (int i = 0; i < 100 && h_int(st, "readable") < 5; i++) {
        json_decref(st);
        h_sleep_ms(10);
        st = n_status(f.c, f.h);
    }
    assert_int_equal(h_int(st, "readable"), 5);
    assert_true(json_is_false(json_object_get(st, "atmark")));
    json_decref(st);
    /* A read stops at the mark; then the socket is at it. */
    json_t *r = h_call(f.c, "read",
                       json_pack("{s:s, s:i, s:s, s:f}", "handle", f.h, "nbytes", 100, "encoding",
                                 "utf8", "timeout", 10.0));
    h_expect_str(r, "data", "ab");
    json_decref(r);
    st = n_status(f.c, f.h);
    assert_true(json_is_true(json_object_get(st, "atmark")));
    assert_int_equal(h_int(st, "readable"), 3);
    json_decref(st);
    h_read_expect(f.c, f.h, "!cd", 3, 10);
    st = n_status(f.c, f.h);
    assert_true(json_is_false(json_object_get(st, "atmark")));
    json_decref(st);
    ffx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_peer_never_reads, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_drain, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_wait_error, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_readable_and_atmark, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
