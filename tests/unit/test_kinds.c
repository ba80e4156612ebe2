/*
 * test_kinds.c - kind/ and tls/: every kind's operations table, every
 * transport and every acceptor is complete (a missing member would crash
 * the generic code that calls it); and a stream on the plain transport,
 * driven on a real worker over a socket pair: a read the kernel can answer
 * at once is answered without being parked, a write goes straight out, and
 * close ends the peer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kind.h"
#include "tls.h"
#include "layer_fixture.h"

extern const struct transport tls_transport;
extern const struct acceptor tls_acceptor;

static void check_ops(const struct handle_ops *o, enum hkind kind)
{
    assert_int_equal(o->kind, kind);
    assert_true(o->size >= sizeof(struct handle));
    assert_non_null(o->io);
    assert_non_null(o->update);
    assert_non_null(o->ready);
    assert_non_null(o->status);
    assert_non_null(o->cancel);
    assert_non_null(o->close);
    assert_non_null(o->conn_gone);
    assert_non_null(o->free);
    assert_true(o->waits != 0);
}

static void test_kind_tables_are_complete(void **state)
{
    check_ops(&address_ops, HK_ADDRESS);
    check_ops(&stream_ops, HK_STREAM);
    check_ops(&dgram_ops, HK_DATAGRAM);
    check_ops(&listener_ops, HK_LISTENER);
    /* Only an address resolves; only sockets with a peer read and write. */
    assert_int_equal(address_ops.waits, 1u << WF_RESOLVED);
    const struct handle_ops *sockets[] = {&stream_ops, &dgram_ops};
    for (int i = 0; i < 2; i++) {
        assert_false(sockets[i]->waits & (1u << WF_RESOLVED));
        assert_non_null(sockets[i]->read);
        assert_non_null(sockets[i]->write);
        assert_non_null(sockets[i]->disconnected);
        assert_non_null(sockets[i]->releasable);
    }
    assert_null(listener_ops.read);
    assert_null(listener_ops.write);
    assert_non_null(listener_ops.releasable);
    assert_null(address_ops.read);
    assert_null(address_ops.releasable);
}

static void check_transport(const struct transport *t)
{
    assert_non_null(t->name);
    assert_non_null(t->recv);
    assert_non_null(t->send);
    assert_non_null(t->buffered);
    assert_non_null(t->unsent);
    assert_non_null(t->shutdown_write);
    assert_non_null(t->start);
    assert_non_null(t->status);
    assert_non_null(t->fail);
    assert_non_null(t->close);
}

static void check_acceptor(const struct acceptor *a)
{
    assert_non_null(a->name);
    assert_non_null(a->room);
    assert_non_null(a->accepted);
    assert_non_null(a->pump);
    assert_non_null(a->adopt);
    assert_non_null(a->close);
}

static void test_transports_and_acceptors_are_complete(void **state)
{
    check_transport(&plain_transport);
    check_transport(&tls_transport);
    check_acceptor(&plain_acceptor);
    check_acceptor(&tls_acceptor);
    /* What TLS cannot do is said by capability, not by asking for TLS. */
    assert_int_equal(plain_transport.caps,
                     TP_CAN_RELEASE | TP_CAN_OOB | TP_CAN_DISCONNECT | TP_CAN_UPGRADE | TP_CAN_SPLICE);
    assert_int_equal(tls_transport.caps, 0);
    assert_true(plain_acceptor.releasable);
    assert_false(tls_acceptor.releasable);
}

/* ---- a stream on a real worker ---- */

static struct {
    int done;
    int answered_at_once, parked, wrote_at_once;
    char read_answer[256], write_answer[256];
    char peer_got[8];
    ssize_t peer_end;
} got;

struct job {
    struct msg hdr;
};

static void on_job(struct worker *w, struct msg *m)
{
    free(m);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv);
    struct handle *h = handle_create(w, 1, w->index, test_ident(1000), false, &stream_ops);
    sock_start(sock_of(h), sv[0]);
    if (write(sv[1], "hello", 5) != 5)
        return;
    char params[128];
    snprintf(params, sizeof params, "{\"handle\":\"%s\",\"nbytes\":5}", h->name);
    struct req *r = test_req(NETD_M_READ, 1, 1000, params);
    h->ops->read(h, r);
    got.answered_at_once = n_answers == 1;
    got.parked = (int)sock_of(h)->readers.count;
    if (n_answers)
        snprintf(got.read_answer, sizeof got.read_answer, "%s", answers[0]);
    r = test_req(NETD_M_WRITE, 1, 1000, NULL);
    uint8_t *data = malloc(3);
    memcpy(data, "abc", 3);
    h->ops->write(h, r, data, 3);
    got.wrote_at_once = n_answers == 2;
    if (n_answers == 2)
        snprintf(got.write_answer, sizeof got.write_answer, "%s", answers[1]);
    ssize_t k = read(sv[1], got.peer_got, 3);
    (void)k;
    handle_close(h, "the handle was closed");
    got.peer_end = read(sv[1], got.peer_got + 3, 1); /* 0: the end */
    close(sv[1]);
    answers_clear();
    __atomic_store_n(&got.done, 1, __ATOMIC_RELEASE);
}

static void test_stream_on_a_worker(void **state)
{
    handle_layer_init();
    assert_int_equal(workers_start(1), 0);
    struct job *j = calloc(1, sizeof *j);
    j->hdr.fn = on_job;
    worker_post(0, &j->hdr);
    for (int i = 0; i < 5000 && !__atomic_load_n(&got.done, __ATOMIC_ACQUIRE); i++)
        usleep(1000);
    assert_int_equal(workers_stop(), 0);
    assert_true(got.done);
    assert_true(got.answered_at_once);
    assert_int_equal(got.parked, 0);
    assert_non_null(strstr(got.read_answer, "\"data\":\"aGVsbG8=\""));
    assert_true(got.wrote_at_once);
    assert_non_null(strstr(got.write_answer, "\"written\":3"));
    assert_memory_equal(got.peer_got, "abc", 3);
    assert_int_equal(got.peer_end, 0);
}

int main(void)
{
    netd_cfg.log_level = LOG_ERR;
    netd_cfg.max_handles = 4096;
    netd_cfg.max_buffer = 1u << 20;
    netd_cfg.max_read = 16u << 20;
    req_set_sink(&test_sink);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_tables_are_complete),
        cmocka_unit_test(test_transports_and_acceptors_are_complete),
        cmocka_unit_test(test_stream_on_a_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
