/*
 * test_carry.c - kind/carry.c: what the kinds put in a handle's record to
 * carry it over a restart comes back exactly (bytes with NULs, abstract
 * unix names, IPv6 scope ids, the canonical name), a record netd did not
 * write is refused, every kind carries, and a record's kind name finds the
 * kind's table.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <cmocka.h>
#include <sys/socket.h>
#include <stdio.h>
#include <unistd.h>

#include "kind.h"

static void test_bytes_round_trip(void **state)
{
    const uint8_t data[] = {0, 1, 2, 0, 255, '\n', '"', 0};
    json_t *rec = json_object();
    json_object_set_new(rec, "b", carry_bytes(data, sizeof data));
    json_object_set_new(rec, "empty", carry_bytes(NULL, 0));
    uint8_t *out;
    size_t n;
    assert_int_equal(carry_bytes_get(rec, "b", &out, &n), 0);
    assert_int_equal(n, sizeof data);
    assert_memory_equal(out, data, sizeof data);
    free(out);
    assert_int_equal(carry_bytes_get(rec, "empty", &out, &n), 0);
    assert_int_equal(n, 0);
    free(out);
    /* absent: nothing, and no error */
    assert_int_equal(carry_bytes_get(rec, "none", &out, &n), 0);
    assert_null(out);
    assert_int_equal(n, 0);
    json_object_set_new(rec, "bad", json_string("not base64!"));
    assert_int_equal(carry_bytes_get(rec, "bad", &out, &n), -EINVAL);
    json_object_set_new(rec, "num", json_integer(3));
    assert_int_equal(carry_bytes_get(rec, "num", &out, &n), -EINVAL);
    json_decref(rec);
}

static void test_addrlist_round_trip(void **state)
{
    struct addrlist al;
    assert_int_equal(addrlist_unix(&al, "@ab", SOCK_STREAM), 0); /* abstract */
    struct addrlist more = {0};
    more.count = 3;
    more.addrs = calloc(3, sizeof *more.addrs);
    more.lens = calloc(3, sizeof *more.lens);
    more.socktypes = calloc(3, sizeof *more.socktypes);
    memcpy(&more.addrs[0], &al.addrs[0], al.lens[0]);
    more.lens[0] = al.lens[0];
    more.socktypes[0] = SOCK_STREAM;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&more.addrs[1];
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(443);
    in6->sin6_scope_id = 7;
    inet_pton(AF_INET6, "fe80::1", &in6->sin6_addr);
    more.lens[1] = sizeof *in6;
    more.socktypes[1] = SOCK_DGRAM;
    struct sockaddr_in *in = (struct sockaddr_in *)&more.addrs[2];
    in->sin_family = AF_INET;
    in->sin_port = htons(80);
    inet_pton(AF_INET, "192.0.2.1", &in->sin_addr);
    more.lens[2] = sizeof *in;
    more.socktypes[2] = SOCK_STREAM;
    more.canonname = strdup("example.org");
    addrlist_free(&al);

    json_t *j = carry_addrlist(&more);
    char *text = json_dumps(j, 0); /* through text, as in the state */
    json_decref(j);
    j = json_loads(text, 0, NULL);
    free(text);
    struct addrlist back;
    assert_int_equal(carry_addrlist_get(j, &back), 0);
    json_decref(j);
    assert_int_equal(back.count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(back.lens[i], more.lens[i]);
        assert_memory_equal(&back.addrs[i], &more.addrs[i], more.lens[i]);
        assert_int_equal(back.socktypes[i], more.socktypes[i]);
    }
    assert_string_equal(back.canonname, "example.org");
    addrlist_free(&back);
    addrlist_free(&more);
}

static void test_bad_addrlists_are_refused(void **state)
{
    struct addrlist al;
    const char *bad[] = {
        "{}",                                                 /* no addrs */
        "{\"addrs\": 3}",                                     /* not a list */
        "{\"addrs\": [{\"sa\": \"AA==\", \"socktype\": 1}]}", /* one byte: no family */
        "{\"addrs\": [{\"sa\": \"AgA=\"}]}",                  /* no socktype */
        "{\"addrs\": [{\"socktype\": 1}]}",                   /* no address */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = json_loads(bad[i], 0, NULL);
        assert_non_null(j);
        assert_int_equal(carry_addrlist_get(j, &al), -EINVAL);
        assert_int_equal(al.count, 0);
        assert_null(al.addrs);
        json_decref(j);
    }
    /* longer than any socket address */
    uint8_t big[sizeof(struct sockaddr_storage) + 1] = {AF_INET};
    json_t *j =
        json_pack("{s:[{s:o,s:i}]}", "addrs", "sa", carry_bytes(big, sizeof big), "socktype", 1);
    assert_int_equal(carry_addrlist_get(j, &al), -EINVAL);
    json_decref(j);
}

static void test_every_kind_carries(void **state)
{
    const struct handle_ops *all[] = {&address_ops, &stream_ops, &listener_ops, &dgram_ops};
    for (size_t i = 0; i < 4; i++) {
        assert_non_null(all[i]->save);
        assert_non_null(all[i]->restore);
        assert_ptr_equal(kind_ops_named(handle_kind_name(all[i]->kind)), all[i]);
    }
    assert_null(kind_ops_named("teapot"));
    assert_null(kind_ops_named(""));
    assert_null(kind_ops_named(NULL));
}

/* A socket file bound by this netd stays on disk for the handle that lives
 * on: saving forgets it here, so this netd's exit does not remove it. */
static void test_socket_file_stays_for_the_new_netd(void **state)
{
    char dir[] = "/tmp/netd-carry-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/x.sock", dir);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    memcpy(un.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockspec spec = {0};
    assert_int_equal(unix_bind(NULL, fd, (struct sockaddr *)&un, sizeof un, &spec), 0);
    assert_true(spec.has_file);
    json_t *rec = json_object();
    carry_spec_save(&spec, rec);
    assert_false(spec.has_file); /* this netd no longer removes it */
    assert_string_equal(json_string_value(json_object_get(rec, "socket_file")), "x.sock");
    unix_unbind(NULL, &spec, true); /* what a close would do: nothing now */
    assert_int_equal(access(path, F_OK), 0);
    close(fd);
    unlink(path);
    rmdir(dir);
    json_decref(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_round_trip),
        cmocka_unit_test(test_addrlist_round_trip),
        cmocka_unit_test(test_bad_addrlists_are_refused),
        cmocka_unit_test(test_every_kind_carries),
        cmocka_unit_test(test_socket_file_stays_for_the_new_netd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
