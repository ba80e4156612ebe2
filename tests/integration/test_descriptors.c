/*
 * test_descriptors.c - descriptors that travel with request lines and
 * answers, exactly (issue 9, findings 4-6), through a real netd spoken to
 * over a raw unix socket so every sendmsg is ours: a descriptor belongs to
 * the line it came with, and one no request takes is closed at once; every
 * `release` of a batch delivers its descriptor with the batch's answer;
 * `assign` of a connection to netd's own control socket is refused. Each
 * test counts netd's descriptors (/proc/PID/fd) before and after.
 */
#include <fcntl.h>

#include "sockets.h"

static int ctl_connect(struct netd_proc *n)
{
    struct sockaddr_storage ss;
    socklen_t len = s_unix(h_netd_socket(n), &ss);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&ss, len), 0);
    return fd;
}

/* One sendmsg: @line (with its '\n') and @nfds descriptors. */
static void send_line(int fd, const char *line, const int *fds, int nfds)
{
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%s\n", line);
    struct iovec iov = {buf, (size_t)n};
    union {
        char b[CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        mh.msg_control = u.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
    }
    assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), n);
}

/* Reads one answer line, collecting the descriptors that come with it into
 * @fds (at most 8; *nfds gets how many). The line is parsed and returned. */
static json_t *recv_line(int fd, int *fds, int *nfds)
{
    static char buf[65536];
    size_t have = 0;
    *nfds = 0;
    for (;;) {
        if (!s_ready(fd, POLLIN, 5000))
            fail_msg("no answer from netd within 5 s");
        union {
            char b[CMSG_SPACE(sizeof(int) * 8)];
            struct cmsghdr align;
        } u;
        struct iovec iov = {buf + have, 1}; /* byte by byte: no answer is read past */
        struct msghdr mh = {
            .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
        ssize_t k = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        assert_true(k == 1);
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            int n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            for (int i = 0; i < n && *nfds < 8; i++)
                memcpy(&fds[(*nfds)++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
        }
        if (buf[have] == '\n') {
            json_t *v = json_loadb(buf, have, 0, NULL);
            assert_non_null(v);
            return v;
        }
        assert_true(++have < sizeof buf);
    }
}

static int error_code(const json_t *v)
{
    return (int)json_integer_value(json_object_get(json_object_get(v, "error"), "code"));
}

/* Waits (a few seconds at most) for netd to hold @want descriptors. */
static void expect_fds(struct netd_proc *n, int want)
{
    int have = -1;
    for (int i = 0; i < 300 && (have = h_netd_fds(n)) != want; i++)
        h_sleep_ms(10);
    if (have != want) {
        char cmd[96];
        snprintf(cmd, sizeof cmd, "ls -l /proc/%d/fd >&2", (int)h_netd_pid(n));
        if (system(cmd) != 0)
            print_error("(could not list netd's descriptors)\n");
        fail_msg("netd holds %d descriptors, expected %d", have, want);
    }
}

/* netd's descriptors once it is idle: the harness's own probe connection
 * may still be closing right after the start. */
static int settled_fds(struct netd_proc *n)
{
    int last = h_netd_fds(n), same = 0;
    for (int i = 0; i < 300 && same < 20; i++) {
        h_sleep_ms(10);
        int now = h_netd_fds(n);
        same = now == last ? same + 1 : 0;
        last = now;
    }
    return last;
}

/* The descriptor sent with a ping is ping's; closed at once since ping takes
 * none. The assign after it wraps the descriptor sent with the assign. */
static void test_descriptor_belongs_to_its_line(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    int base = settled_fds(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    int a = s_tcp_connect("127.0.0.1", port), pa = s_accept(lfd, 5000);
    int b = s_tcp_connect("127.0.0.1", port), pb = s_accept(lfd, 5000);
    int c = ctl_connect(n);
    int got[8], ngot;
    send_line(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", &a, 1);
    json_t *v = recv_line(c, got, &ngot);
    assert_non_null(json_object_get(v, "result"));
    json_decref(v);
    /* With our copy gone too, A's peer sees the end: netd kept none. */
    close(a);
    char ch;
    assert_true(s_ready(pa, POLLIN, 5000));
    assert_int_equal(recv(pa, &ch, 1, 0), 0);
    send_line(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"assign\"}", &b, 1);
    v = recv_line(c, got, &ngot);
    const char *h = json_string_value(json_object_get(json_object_get(v, "result"), "handle"));
    assert_non_null(h);
    close(b);
    char line[256];
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"write\",\"params\":{\"handle\":\"%s\","
             "\"data\":\"Qg==\"}}",
             h);
    json_decref(v);
    send_line(c, line, NULL, 0);
    v = recv_line(c, got, &ngot);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "result"), "written")),
                     1);
    json_decref(v);
    h_plain_read_expect(pb, "B", 1, 5000); /* the assigned socket is B's */
    close(c);
    expect_fds(n, base);
    close(pa);
    close(pb);
    close(lfd);
}

/* An assign that carries two descriptors takes the first; the other is closed. */
static void test_extra_descriptors_are_closed(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    int base = settled_fds(n);
    int port, lfd = s_tcp_listener("127.0.0.1", &port);
    int a = s_tcp_connect("127.0.0.1", port), pa = s_accept(lfd, 5000);
    int b = s_tcp_connect("127.0.0.1", port), pb = s_accept(lfd, 5000);
    int c = ctl_connect(n);
    int two[2] = {a, b}, got[8], ngot;
    send_line(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"assign\"}", two, 2);
    json_t *v = recv_line(c, got, &ngot);
    assert_non_null(json_object_get(json_object_get(v, "result"), "handle"));
    json_decref(v);
    close(a);
    close(b);
    char ch;
    assert_true(s_ready(pb, POLLIN, 5000)); /* B was not taken: netd closed it */
    assert_int_equal(recv(pb, &ch, 1, 0), 0);
    assert_false(s_ready(pa, POLLIN, 200)); /* A lives on as the handle */
    close(c);
    expect_fds(n, base);
    close(pa);
    close(pb);
    close(lfd);
}

/* Both releases of one batch deliver, with the batch's answer, in order. */
static void test_batch_releases_all_deliver(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    int base = settled_fds(n);
    int c = ctl_connect(n);
    int got[8], ngot;
    for (int round = 0; round < 50; round++) {
        send_line(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"pair\"}", NULL, 0);
        json_t *v = recv_line(c, got, &ngot);
        json_t *hs = json_object_get(json_object_get(v, "result"), "handles");
        char batch[512];
        snprintf(batch, sizeof batch,
                 "[{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"release\",\"params\":{\"handle\":"
                 "\"%s\"}},{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"release\",\"params\":{"
                 "\"handle\":\"%s\"}}]",
                 json_string_value(json_array_get(hs, 0)),
                 json_string_value(json_array_get(hs, 1)));
        json_decref(v);
        send_line(c, batch, NULL, 0);
        v = recv_line(c, got, &ngot);
        assert_true(json_is_array(v));
        assert_int_equal(json_array_size(v), 2);
        json_decref(v);
        assert_int_equal(ngot, 2);
        /* They are the two ends of the pair. */
        assert_int_equal(write(got[0], "p", 1), 1);
        h_plain_read_expect(got[1], "p", 1, 5000);
        close(got[0]);
        close(got[1]);
    }
    close(c);
    expect_fds(n, base);
}

/* A client's own control connection handed back with assign is refused,
 * and leaves nothing behind once the client closes it. */
static void test_assign_own_control_connection_refused(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    int base = settled_fds(n);
    int c1 = ctl_connect(n), c2 = ctl_connect(n);
    int got[8], ngot;
    send_line(c2, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"assign\"}", &c1, 1);
    json_t *v = recv_line(c2, got, &ngot);
    assert_int_equal(error_code(v), -32005);
    json_t *msg = json_object_get(json_object_get(v, "error"), "message");
    assert_non_null(strstr(json_string_value(msg), "control socket"));
    json_decref(v);
    close(c1);
    close(c2);
    expect_fds(n, base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_descriptor_belongs_to_its_line, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_extra_descriptors_are_closed, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_batch_releases_all_deliver, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_assign_own_control_connection_refused, h_setup,
                                        h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
