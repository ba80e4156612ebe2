/*
 * test_faults.c - netd when its clients and peers fail (issue 9, fault
 * tests): a peer that resets during a large write, and a client killed
 * (SIGKILL) while it has a waiting read, write and accept and a kept
 * handle. netd's descriptors come back to where they were, and the kept
 * handle still works from a new connection.
 */
#include <signal.h>
#include <sys/wait.h>

#include "sockets.h"

/* A waiting 8 MiB write to a peer that resets: the write is answered with
 * the error and how much went, and netd goes on. */
static void test_reset_during_large_write(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    struct peer *rst = h_peer_tcp(PEER_RESET, AF_INET, NULL, 0);
    char *h = h_connect(c, "127.0.0.1", h_peer_port(rst));
    size_t len = 8u << 20;
    char *buf = malloc(len);
    memset(buf, 'r', len);
    json_t *data = json_stringn(buf, len);
    free(buf);
    long long id = h_send(c, "write",
                          json_pack("{s:s,s:o,s:s,s:i}", "handle", h, "data", data, "encoding",
                                    "utf8", "timeout", 20));
    json_t *err = h_wait_err(c, id, -32000);
    assert_non_null(json_object_get(json_object_get(err, "data"), "written"));
    json_decref(err);
    json_decref(h_call(c, "ping", json_object()));
    h_close(c, h);
    free(h);
}

/* The killed client: a kept handle (its name written to @out), then a
 * waiting read, a waiting write to a peer that never reads and a waiting
 * accept; it then waits to be killed. */
static void victim(const char *sock, int echo_port, int hole_port, int out)
{
    netd_client *c = netd_client_connect(sock);
    json_t *res = NULL, *err = NULL;
    if (!c ||
        netd_call(c, "connect",
                  json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "port", echo_port, "keep", 1),
                  &res, &err) < 0 ||
        !res)
        _exit(2);
    const char *kept = json_string_value(json_object_get(res, "handle"));
    json_t *r2 = NULL;
    netd_call(c, "connect", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", echo_port), &r2,
              &err);
    json_t *r3 = NULL;
    netd_call(c, "connect", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", hole_port), &r3,
              &err);
    json_t *r4 = NULL;
    netd_call(c, "listen", json_pack("{s:s,s:i}", "host", "127.0.0.1", "port", 0), &r4, &err);
    if (!r2 || !r3 || !r4)
        _exit(3);
    netd_client_send(
        c, "chunk", json_pack("{s:O,s:i}", "handle", json_object_get(r2, "handle"), "nbytes", 100));
    static char big[4 << 20];
    memset(big, 'w', sizeof big);
    netd_client_send(c, "write",
                     json_pack("{s:O,s:o,s:s}", "handle", json_object_get(r3, "handle"), "data",
                               json_stringn(big, sizeof big), "encoding", "utf8"));
    netd_client_send(c, "accept", json_pack("{s:O}", "handle", json_object_get(r4, "handle")));
    (void)!write(out, kept, strlen(kept) + 1);
    pause();
    _exit(0);
}

static void test_sigkill_client(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    struct peer *hole = h_peer_tcp(PEER_BLACKHOLE, AF_INET, NULL, 0);
    netd_client *c = h_client(n);
    json_decref(h_call(c, "ping", json_object()));
    int base = h_netd_fds(n);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        victim(h_netd_socket(n), h_peer_port(echo), h_peer_port(hole), p[1]);
    }
    close(p[1]);
    char kept[64] = "";
    assert_true(read(p[0], kept, sizeof kept - 1) > 0);
    close(p[0]);
    int during = h_netd_fds(n);
    h_sleep_ms(200); /* the waiting calls have reached netd */
    kill(pid, SIGKILL);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    /* Everything but the kept handle's socket goes. */
    int now = -1;
    for (int i = 0; i < 100; i++) {
        now = h_netd_fds(n);
        if (now == base + 1)
            break;
        h_sleep_ms(50);
    }
    printf("netd's descriptors: %d before, %d with the victim's handles, %d after SIGKILL\n", base,
           during, now);
    assert_int_equal(now, base + 1);
    /* The kept handle works from a new connection. */
    netd_client *c2 = h_client(n);
    h_write(c2, kept, "survived", 8);
    h_read_expect(c2, kept, "survived", 8, 10);
    h_close(c2, kept);
    for (int i = 0; i < 100 && h_netd_fds(n) != base; i++)
        h_sleep_ms(20);
    assert_int_equal(h_netd_fds(n), base + 1 /* c2 */);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_during_large_write, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_client, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
