/*
 * test_handle.c - handle/: names with exactly one spelling (as the table
 * uses proto's parser), the table,
 * ownership, quotas, and the one close path (every waiting list failed with
 * `aborted`, the kind's close run once, the socket closed unless taken,
 * the memory freed only at the reap), on a worker made by hand. Includes
 * handle.c to reach its per-worker hooks, as h2o's unit tests do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../daemon/handle/handle.c"
#include "handlename.h"
#include "layer_fixture.h"

/* A kind that counts what the handle layer asks of it. */
static int n_close, n_free, n_gone, n_cancel;
struct thing {
    struct handle h;
    struct reqlist own; /* the kind's own waiting list */
};

static void t_io(struct handle *h, int revents) {}
static void t_update(struct handle *h) {}
static bool t_ready(struct handle *h, int wf)
{
    return wf == WF_CONNECTED && h->state == HS_SUCCESS;
}
static void t_status(struct handle *h, json_t *st)
{
    json_object_set_new(st, "thing", json_true());
}
static size_t t_cancel(struct handle *h)
{
    n_cancel++;
    return reqlist_abort(&((struct thing *)h)->own, "cancelled");
}
static void t_close(struct handle *h, const char *why)
{
    n_close++;
    reqlist_abort(&((struct thing *)h)->own, why);
}
static void t_conn_gone(struct handle *h, uint64_t conn)
{
    n_gone++;
}
static void t_free(struct handle *h)
{
    n_free++;
}

static const struct handle_ops thing_ops = {
    .kind = HK_STREAM,
    .size = sizeof(struct thing),
    .waits = 1u << WF_CONNECTED,
    .io = t_io,
    .update = t_update,
    .ready = t_ready,
    .status = t_status,
    .cancel = t_cancel,
    .close = t_close,
    .conn_gone = t_conn_gone,
    .free = t_free,
};

static struct worker w;

static int setup(void **state)
{
    answers_clear();
    n_close = n_free = n_gone = n_cancel = 0;
    return 0;
}

static void test_one_spelling(void **state)
{
    int wi;
    uint64_t seq;
    assert_int_equal(netd_handle_parse("h0.1", 4, &wi, &seq), 0);
    assert_int_equal(wi, 0);
    assert_int_equal(seq, 1);
    assert_int_equal(netd_handle_parse("h12.ff", 6, &wi, &seq), 0);
    assert_int_equal(wi, 12);
    assert_int_equal(seq, 255);
    assert_int_equal(netd_handle_parse("h3.ffffffffffffffff", 19, &wi, &seq), 0);
    assert_true(seq == UINT64_MAX);
    /* Aliases strtoul would take, and everything else that is not a name. */
    const char *bad[] = {"h+0.1",  "h 0.1", "h00.1", "h0.01", "h-0.1",    "H0.1",
                         "h0.A",   "h0.0",  "h0.",   "h.1",   "h0",       "h0.1 ",
                         "h0.1x",  "x0.1",  "",      "h",     "h10000.1", "h0.11111111111111111",
                         "h0x1.1", "h0.+1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(netd_handle_parse(bad[i], strlen(bad[i]), &wi, &seq), -1);
    /* An embedded NUL never makes a shorter match. */
    assert_int_equal(netd_handle_parse("h0.1\0x", 6, &wi, &seq), -1);
    assert_int_equal(netd_handle_parse(NULL, 0, &wi, &seq), -1);
}

static void test_names_are_never_reused(void **state)
{
    struct handle *a = handle_create(&w, 1, 0, test_ident(1000), false, &thing_ops);
    struct handle *b = handle_create(&w, 1, 0, test_ident(1000), false, &thing_ops);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_not_equal(a->name, b->name);
    uint64_t seq = a->seq;
    char name[32];
    strcpy(name, a->name);
    handle_close(a, "closed");
    assert_null(handle_find(&w, seq));
    struct handle *c = handle_create(&w, 1, 0, test_ident(1000), false, &thing_ops);
    assert_string_not_equal(c->name, name);
    handle_close(b, "closed");
    handle_close(c, "closed");
    handle_reap(&w);
}

static void test_ownership(void **state)
{
    struct handle *mine = handle_create(&w, 7, 0, test_ident(1000), false, &thing_ops);
    struct handle *kept = handle_create(&w, 7, 0, test_ident(1000), true, &thing_ops);
    char p1[64], p2[64];
    snprintf(p1, sizeof p1, "{\"handle\":\"%s\"}", mine->name);
    snprintf(p2, sizeof p2, "{\"handle\":\"%s\"}", kept->name);
    struct req *r = test_req(NETD_M_STATUS, 7, 1000, p1);
    assert_ptr_equal(handle_get(&w, r, "handle"), mine);
    req_free(r);
    /* Another connection of the same uid: only the kept handle. */
    r = test_req(NETD_M_STATUS, 8, 1000, p1);
    assert_null(handle_get(&w, r, "handle"));
    assert_int_equal(answer_code(0), -32002);
    r = test_req(NETD_M_STATUS, 8, 1000, p2);
    assert_ptr_equal(handle_get(&w, r, "handle"), kept);
    req_free(r);
    /* Another uid, even on the owning connection's id: unknown, as if it never existed. */
    r = test_req(NETD_M_STATUS, 9, 1001, p2);
    assert_null(handle_get(&w, r, "handle"));
    assert_int_equal(answer_code(1), -32002);
    assert_non_null(strstr(answers[1], "unknown handle"));
    /* The kind mask of handle_get_kind. */
    r = test_req(NETD_M_ACCEPT, 7, 1000, p1);
    assert_null(handle_get_kind(&w, r, "handle", 1u << HK_LISTENER));
    assert_int_equal(answer_code(2), -32003);
    assert_non_null(strstr(answers[2], "cannot be used on a stream handle"));
    handle_close(mine, "closed");
    handle_close(kept, "closed");
    handle_reap(&w);
}

static void test_close_path(void **state)
{
    struct handle *h = handle_create(&w, 1, 0, test_ident(1000), false, &thing_ops);
    struct thing *t = (struct thing *)h;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    h->fd = sv[0];
    h->state = HS_SUCCESS;
    struct req *a = test_req(NETD_M_CONNECT, 1, 1000, NULL);
    struct req *b = test_req(NETD_M_WAIT, 1, 1000, NULL);
    struct req *c = test_req(NETD_M_READ, 1, 1000, NULL);
    handle_park(a, h, &h->openers, WK_OPEN, NULL);
    handle_park(b, h, &h->waiters, WK_WAIT, NULL);
    handle_park(c, h, &t->own, WK_READ, NULL);
    handle_close(h, "the handle was closed");
    assert_int_equal(n_answers, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(answer_code(i), -32004);
        assert_non_null(strstr(answers[i], "the handle was closed"));
    }
    assert_int_equal(n_close, 1);
    handle_close(h, "again"); /* a second close is nothing */
    assert_int_equal(n_close, 1);
    /* The socket is closed: the peer sees the end. */
    char ch;
    assert_int_equal(read(sv[1], &ch, 1), 0);
    /* Freed only at the reap, once. */
    assert_int_equal(n_free, 0);
    handle_reap(&w);
    assert_int_equal(n_free, 1);
    close(sv[1]);
}

static void test_taken_socket_survives_close(void **state)
{
    struct handle *h = handle_create(&w, 1, 0, test_ident(1000), false, &thing_ops);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    h->fd = sv[0];
    int fd = handle_take_fd(h);
    assert_int_equal(fd, sv[0]);
    handle_close(h, "released");
    handle_reap(&w);
    assert_true(fcntl(fd, F_GETFD) >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    close(sv[1]);
}

static void test_connection_gone(void **state)
{
    struct handle *plain = handle_create(&w, 5, 0, test_ident(1000), false, &thing_ops);
    struct handle *kept = handle_create(&w, 5, 0, test_ident(1000), true, &thing_ops);
    struct handle *other = handle_create(&w, 6, 0, test_ident(1000), false, &thing_ops);
    uint64_t ps = plain->seq, ks = kept->seq, os = other->seq;
    struct req *mine = test_req(NETD_M_WAIT, 5, 1000, NULL);
    struct req *theirs = test_req(NETD_M_WAIT, 6, 1000, NULL);
    handle_park(mine, kept, &kept->waiters, WK_WAIT, NULL);
    handle_park(theirs, kept, &kept->waiters, WK_WAIT, NULL);
    handles_conn_gone(&w, 5);
    assert_null(handle_find(&w, ps));         /* closed with its connection */
    assert_non_null(handle_find(&w, ks));     /* kept: outlives it */
    assert_non_null(handle_find(&w, os));     /* another connection's */
    assert_int_equal(kept->waiters.count, 1); /* the gone connection's call dropped */
    assert_ptr_equal(kept->waiters.head, theirs);
    assert_true(n_gone >= 1);
    handle_close(kept, "closed");
    handle_close(other, "closed");
    handle_reap(&w);
}

static void test_quota(void **state)
{
    size_t old = netd_cfg.max_handles;
    netd_cfg.max_handles = 2;
    struct handle *a = handle_create(&w, 1, 0, test_ident(2000), false, &thing_ops);
    struct handle *b = handle_create(&w, 1, 0, test_ident(2000), false, &thing_ops);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(handle_create(&w, 1, 0, test_ident(2000), false, &thing_ops));
    /* Another uid has its own count. */
    struct handle *c = handle_create(&w, 1, 0, test_ident(2001), false, &thing_ops);
    assert_non_null(c);
    handle_close(a, "closed");
    struct handle *d = handle_create(&w, 1, 0, test_ident(2000), false, &thing_ops);
    assert_non_null(d);
    handle_close(b, "closed");
    handle_close(c, "closed");
    handle_close(d, "closed");
    handle_reap(&w);
    netd_cfg.max_handles = old;
}

static void test_waiters_and_status(void **state)
{
    struct handle *h = handle_create(&w, 1, 0, test_ident(1000), false, &thing_ops);
    struct req *r = test_req(NETD_M_WAIT, 1, 1000, NULL);
    r->u.wait.wait_for = WF_CONNECTED;
    handle_park(r, h, &h->waiters, WK_WAIT, NULL);
    handle_check_waiters(h);
    assert_int_equal(n_answers, 0); /* not yet */
    h->state = HS_SUCCESS;
    handle_check_waiters(h);
    assert_int_equal(n_answers, 1);
    assert_non_null(strstr(answers[0], "\"thing\":true"));
    assert_non_null(strstr(answers[0], "\"state\":\"success\""));
    handle_close(h, "closed");
    handle_reap(&w);
}

static void test_leaks_are_named(void **state)
{
    FILE *out = tmpfile();
    assert_int_equal(space_leaks(&w, out), 0);
    struct handle *h = handle_create(&w, 1, 0, test_ident(1000), false, &thing_ops);
    assert_int_equal(space_leaks(&w, out), 1);
    handle_close(h, "closed");
    assert_int_equal(space_leaks(&w, out), 1); /* in the graveyard, not freed */
    handle_reap(&w);
    assert_int_equal(space_leaks(&w, out), 0);
    char buf[512] = {0};
    rewind(out);
    assert_true(fread(buf, 1, sizeof buf - 1, out) > 0);
    assert_non_null(strstr(buf, "netd: leak: worker 0: handle h0."));
    fclose(out);
}

int main(void)
{
    netd_cfg.log_level = LOG_ERR;
    netd_cfg.max_handles = 4096;
    req_set_sink(&test_sink);
    w.loop = ev_loop_new(0);
    space_init(&w);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_one_spelling, setup),
        cmocka_unit_test_setup(test_names_are_never_reused, setup),
        cmocka_unit_test_setup(test_ownership, setup),
        cmocka_unit_test_setup(test_close_path, setup),
        cmocka_unit_test_setup(test_taken_socket_survives_close, setup),
        cmocka_unit_test_setup(test_connection_gone, setup),
        cmocka_unit_test_setup(test_quota, setup),
        cmocka_unit_test_setup(test_waiters_and_status, setup),
        cmocka_unit_test_setup(test_leaks_are_named, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    answers_clear();
    space_fini(&w);
    ev_loop_destroy(w.loop);
    return rc;
}
