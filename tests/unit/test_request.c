/*
 * test_request.c - req/: one answer per request through the sink, waiting
 * lists in order, timers that answer with the timeout callback, and the
 * abort and connection-gone paths with their error data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "layer_fixture.h"

static struct ev_loop *loop;

static void timed_out(struct req *r)
{
    req_fail(r, NETD_E_TIMEOUT, NULL, "timed out");
}

static void test_answer_goes_through_the_sink(void **state)
{
    answers_clear();
    req_ok(test_req(NETD_M_PING, 1, 0, NULL), json_object());
    req_fail_limit(test_req(NETD_M_PING, 1, 0, NULL), "max_x", "over %d", 5);
    struct req *n = test_req(NETD_M_PING, 1, 0, NULL);
    json_decref(n->id);
    n->id = NULL; /* a notification: the sink hears of it, with no line */
    req_ok(n, json_object());
    assert_int_equal(n_answers, 3);
    assert_non_null(strstr(answers[0], "\"result\":{}"));
    assert_int_equal(answer_code(1), -32006);
    assert_non_null(strstr(answers[1], "\"limit\":\"max_x\""));
    assert_non_null(strstr(answers[1], "over 5"));
    assert_string_equal(answers[2], "(notification)");
}

static void test_lists_keep_order_and_count(void **state)
{
    struct reqlist l = {0};
    struct req *a = test_req(NETD_M_READ, 1, 0, NULL), *b = test_req(NETD_M_READ, 1, 0, NULL),
               *c = test_req(NETD_M_READ, 1, 0, NULL);
    reqlist_push(&l, a);
    reqlist_push(&l, b);
    reqlist_push(&l, c);
    assert_int_equal(l.count, 3);
    reqlist_remove(&l, b);
    assert_ptr_equal(l.head, a);
    assert_ptr_equal(a->next, c);
    assert_ptr_equal(l.tail, c);
    reqlist_remove(&l, a);
    reqlist_remove(&l, c);
    assert_null(l.head);
    assert_null(l.tail);
    assert_int_equal(l.count, 0);
    req_free(a);
    req_free(b);
    req_free(c);
}

static void test_timer_answers_and_unparks(void **state)
{
    answers_clear();
    struct reqlist l = {0};
    struct req *r = test_req(NETD_M_READ, 1, 0, NULL);
    req_park(r, NULL, loop, &l, WK_READ, 0.01, timed_out);
    assert_int_equal(l.count, 1);
    ev_run(loop, 0); /* the timer is the only watcher: the loop ends after it */
    assert_int_equal(l.count, 0);
    assert_int_equal(n_answers, 1);
    assert_int_equal(answer_code(0), -32001);
}

static void test_unpark_stops_the_timer(void **state)
{
    answers_clear();
    struct reqlist l = {0};
    struct req *r = test_req(NETD_M_READ, 1, 0, NULL);
    req_park(r, NULL, loop, &l, WK_READ, 0.01, timed_out);
    req_unpark(r);
    assert_int_equal(ev_run(loop, EVRUN_NOWAIT), 0); /* nothing left active */
    assert_int_equal(n_answers, 0);
    req_ok(r, json_object());
    assert_int_equal(n_answers, 1);
}

static void test_abort_tells_what_writes_sent(void **state)
{
    answers_clear();
    struct reqlist l = {0};
    struct req *w = test_req(NETD_M_WRITE, 1, 0, NULL), *rd = test_req(NETD_M_READ, 1, 0, NULL);
    req_park(w, NULL, loop, &l, WK_WRITE, -1, NULL);
    w->u.wr.written = 42;
    req_park(rd, NULL, loop, &l, WK_READ, 5, timed_out);
    assert_int_equal(reqlist_abort(&l, "the handle was closed"), 2);
    assert_int_equal(n_answers, 2);
    assert_int_equal(answer_code(0), -32004);
    assert_non_null(strstr(answers[0], "\"written\":42"));
    assert_non_null(strstr(answers[0], "the handle was closed"));
    assert_int_equal(answer_code(1), -32004);
    assert_null(strstr(answers[1], "written"));
    assert_int_equal(ev_run(loop, EVRUN_NOWAIT), 0);
}

static void test_drop_conn_takes_only_that_connection(void **state)
{
    answers_clear();
    struct reqlist l = {0};
    struct req *a = test_req(NETD_M_READ, 1, 0, NULL), *b = test_req(NETD_M_READ, 2, 0, NULL);
    req_park(a, NULL, loop, &l, WK_READ, -1, NULL);
    req_park(b, NULL, loop, &l, WK_READ, -1, NULL);
    reqlist_drop_conn(&l, 1);
    assert_int_equal(l.count, 1);
    assert_ptr_equal(l.head, b);
    assert_int_equal(n_answers, 1);
    assert_int_equal(answer_code(0), -32004);
    req_unpark(b);
    req_free(b);
}

static void test_params(void **state)
{
    struct req *r = test_req(NETD_M_WRITE, 1, 0,
                             "{\"data\":\"aGk=\",\"timeout\":0.5,\"keep\":true,\"x\":null}");
    assert_true(param_bool(r, "keep", false));
    assert_false(param_bool(r, "missing", false));
    assert_null(param(r, "x")); /* null is as good as absent */
    assert_true(req_timeout(r) == 0.5);
    uint8_t *data;
    size_t len;
    assert_int_equal(req_data(r, &data, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(data, "hi", 2);
    free(data);
    req_free(r);
    answers_clear();
    r = test_req(NETD_M_WRITE, 1, 0, "{\"data\":\"zz\",\"encoding\":\"hex\"}");
    assert_int_equal(req_data(r, &data, &len), -1); /* answered */
    assert_int_equal(answer_code(0), -32602);
}

int main(void)
{
    netd_cfg.log_level = LOG_ERR;
    loop = ev_loop_new(0);
    req_set_sink(&test_sink);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_goes_through_the_sink),
        cmocka_unit_test(test_lists_keep_order_and_count),
        cmocka_unit_test(test_timer_answers_and_unparks),
        cmocka_unit_test(test_unpark_stops_the_timer),
        cmocka_unit_test(test_abort_tells_what_writes_sent),
        cmocka_unit_test(test_drop_conn_takes_only_that_connection),
        cmocka_unit_test(test_params),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    answers_clear();
    ev_loop_destroy(loop);
    return rc;
}
