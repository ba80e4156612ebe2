/*
 * layer_fixture.h - what the unit tests of daemon layers share: a worker
 * made by hand on this thread (no thread, no queue), and a req/ sink that
 * keeps every answer so a test can look at it.
 */
#ifndef NETD_TEST_LAYER_FIXTURE_H
#define NETD_TEST_LAYER_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "req.h"

#define MAX_ANSWERS 64

static char *answers[MAX_ANSWERS];
static int n_answers;
static int n_forwards;

static void keep_reply(struct req *r, char *line)
{
    if (n_answers < MAX_ANSWERS)
        answers[n_answers++] = line ? line : strdup("(notification)");
    else
        free(line);
}

static void keep_forward(struct req *r, int worker)
{
    n_forwards++;
    req_free(r);
}

static const struct req_sink test_sink = {.reply = keep_reply, .forward = keep_forward};

static void answers_clear(void)
{
    for (int i = 0; i < n_answers; i++)
        free(answers[i]);
    n_answers = 0;
    n_forwards = 0;
}

/* The error code of answer @i, or 0 for a result. */
static __attribute__((unused)) int answer_code(int i)
{
    json_t *v = json_loads(answers[i], 0, NULL);
    json_t *code = json_object_get(json_object_get(v, "error"), "code");
    int c = code ? (int)json_integer_value(code) : 0;
    json_decref(v);
    return c;
}

/* An identity of @uid, as main.c makes one at accept; kept for the whole run. */
static __attribute__((unused)) struct ident *test_ident(uid_t uid)
{
    static struct ident *made[16];
    static int n;
    for (int i = 0; i < n; i++)
        if (made[i]->uid == uid)
            return made[i];
    assert_true(n < 16);
    made[n] = ident_new(uid, uid, 1, NULL, 0);
    return made[n++];
}

/* A request as dispatch would make it, from connection @conn of @uid. */
static struct req *test_req(int method, uint64_t conn, uid_t uid, const char *params)
{
    struct req *r = req_new();
    r->id = json_integer(1);
    r->m = &netd_methods[method];
    r->params = params ? json_loads(params, 0, NULL) : json_object();
    r->conn_id = conn;
    r->uid = uid;
    r->ident = ident_ref(test_ident(uid));
    return r;
}

#endif
