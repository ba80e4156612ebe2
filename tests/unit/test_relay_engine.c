/*
 * test_relay_engine.c - kind/relay.c on a real worker, without the rest of netd:
 * a plain stream relayed to a bare descriptor over socket pairs. Bytes the
 * stream read ahead and writes it queued go first, in order; bytes move
 * both ways (through a pipe out of the stream, since both ends are kernel
 * descriptors; copied, with the owner's SCM_CREDENTIALS, into it when the
 * owner is another uid than the test's, as it is when the test runs as
 * root: splice(2) could not attach them); a half-close
 * passes on each way; the relay ends once both have, with its counts, and
 * leaves the stream its own again; closing the stream ends a relay too;
 * and nothing is left on the worker at stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "relay.h"
#include "layer_fixture.h"

/* What the worker saw, for the test's thread (written before done is set). */
static struct {
    int started, done;
    uint64_t moved[2];
    char reason[32];
    bool stream_free_again;
    uint64_t bytes_in, bytes_out;
    bool piped[2]; /* dir[i] moves through a pipe */
} seen;

/* The stream's owner: uid 1000 when the test runs as root (another uid, whose
 * unix socket gets its credentials), else the test's own uid (netd's own). */
static uid_t owner_uid(void)
{
    return geteuid() == 0 ? 1000 : geteuid();
}

static struct handle *the_handle;

static void on_done(struct relay *rl)
{
    seen.moved[0] = rl->dir[0].moved;
    seen.moved[1] = rl->dir[1].moved;
    snprintf(seen.reason, sizeof seen.reason, "%s", rl->reason);
    struct sock *s = rl->end[0].s;
    if (s) {
        seen.stream_free_again = s->relay == NULL;
        seen.bytes_in = s->bytes_in;
        seen.bytes_out = s->bytes_out;
        handle_close(&s->h, "test over");
    }
    __atomic_store_n(&seen.done, 1, __ATOMIC_RELEASE);
}

struct job {
    struct msg hdr;
    int stream_fd, client_fd; /* netd's ends of the two pairs */
    bool close_it;            /* close the handle instead of starting */
};

/* Makes a stream on @stream_fd with bytes read ahead and a write queued,
 * and relays it to @client_fd. */
static void on_start(struct worker *w, struct msg *m)
{
    struct job *j = (struct job *)m;
    struct handle *h = handle_create(w, 1, w->index, test_ident(owner_uid()), true, &stream_ops);
    struct sock *s = sock_of(h);
    sock_start(s, j->stream_fd);
    buf_append(&s->rbuf, "ahead|", 6);
    uint8_t *q = malloc(7);
    memcpy(q, "queued|", 7);
    struct wseg *seg = calloc(1, sizeof *seg);
    seg->data = q;
    seg->len = 7;
    s->wq_head = s->wq_tail = seg;
    s->wq_bytes = 7;
    struct relay *rl = relay_new(w, on_done);
    relay_add_sock(rl, 0, s);
    relay_add_fd(rl, 1, j->client_fd, NULL);
    relay_hold(rl, 1, (uint8_t *)strdup("held|"), 5);
    relay_start(rl);
    for (int i = 0; i < 2; i++)
        seen.piped[i] = rl->dir[i].pipe[0] >= 0;
    the_handle = h;
    __atomic_store_n(&seen.started, 1, __ATOMIC_RELEASE);
    free(j);
}

static void on_close(struct worker *w, struct msg *m)
{
    free(m);
    handle_close(the_handle, "the handle was closed");
}

static void wait_flag(int *flag)
{
    for (int i = 0; i < 5000 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        usleep(1000);
    assert_true(__atomic_load_n(flag, __ATOMIC_ACQUIRE));
}

static void read_exact(int fd, const char *want)
{
    size_t n = strlen(want), got = 0;
    char buf[256];
    while (got < n) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 5000), 1);
        ssize_t k = read(fd, buf + got, n - got);
        assert_true(k > 0);
        got += (size_t)k;
    }
    assert_memory_equal(buf, want, n);
}

static void expect_end(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 5000), 1);
    char c;
    assert_int_equal(read(fd, &c, 1), 0);
}

static void start(int peer[2], int client[2])
{
    memset(&seen, 0, sizeof seen);
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, peer);
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, client);
    struct job *j = calloc(1, sizeof *j);
    j->hdr.fn = on_start;
    j->stream_fd = peer[0];
    j->client_fd = client[0];
    worker_post(0, &j->hdr);
    wait_flag(&seen.started);
    assert_true(seen.piped[0]);                                /* out of the stream: spliced */
    assert_int_equal(seen.piped[1], owner_uid() == geteuid()); /* into it: copied for uid 1000 */
}

static void test_relay_both_ways(void **state)
{
    handle_layer_init();
    relay_layer_init();
    assert_int_equal(workers_start(1), 0);
    int peer[2], client[2];
    start(peer, client);
    /* What netd held goes first: read ahead to the client, queued writes
     * (then the client's held bytes) to the peer. */
    read_exact(client[1], "ahead|");
    read_exact(peer[1], "queued|held|");
    assert_int_equal(write(client[1], "to peer", 7), 7);
    read_exact(peer[1], "to peer");
    assert_int_equal(write(peer[1], "to client", 9), 9);
    read_exact(client[1], "to client");
    /* Half-closes pass on, and each side can still send after the other's end. */
    shutdown(client[1], SHUT_WR);
    expect_end(peer[1]);
    assert_int_equal(write(peer[1], "last", 4), 4);
    shutdown(peer[1], SHUT_WR);
    read_exact(client[1], "last");
    expect_end(client[1]);
    wait_flag(&seen.done);
    assert_string_equal(seen.reason, "eof");
    assert_int_equal(seen.moved[0], 6 + 9 + 4);  /* into the client */
    assert_int_equal(seen.moved[1], 5 + 7);      /* into the stream, by the relay */
    assert_int_equal(seen.bytes_out, 7 + 5 + 7); /* the queue's, the held, the client's */
    assert_int_equal(seen.bytes_in, 9 + 4);      /* rbuf was counted when it was read */
    assert_true(seen.stream_free_again);
    close(peer[1]);
    close(client[1]);

    /* Closing the stream ends its relay: the client sees its end. */
    start(peer, client);
    read_exact(client[1], "ahead|");
    struct msg *m = calloc(1, sizeof *m);
    m->fn = on_close;
    worker_post(0, m);
    expect_end(client[1]);
    wait_flag(&seen.done);
    assert_string_equal(seen.reason, "closed");
    close(peer[1]);
    close(client[1]);
    assert_int_equal(workers_stop(), 0);
}

int main(void)
{
    netd_cfg.log_level = LOG_ERR;
    netd_cfg.max_handles = 4096;
    netd_cfg.max_buffer = 1u << 20;
    netd_cfg.max_read = 16u << 20;
    req_set_sink(&test_sink);
    (void)test_req; /* the fixture's; the relay answers no request */
    (void)answers_clear;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relay_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
