/*
 * A third party's program: built against an installed netd (by
 * test_install.sh, with pkg-config and with find_package), it pings netd,
 * sends "hello" through a stream to an echo server and reads it back.
 * usage: echo_client SOCKET PORT; prints "echoed hello" and exits 0.
 */
#include <netd.h>
#include <netd/codec.h>
#include <netd/errors.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *call(netd_client *c, const char *method, json_t *params)
{
    json_t *result = NULL, *error = NULL;
    if (netd_call(c, method, params, &result, &error) != 0) {
        fprintf(stderr, "%s: %s\n", method, error ? netd_error_message(error) : "no answer");
        exit(1);
    }
    return result;
}

int main(int argc, char **argv)
{
    netd_client *c = argc == 3 ? netd_client_connect(argv[1]) : NULL;
    if (!c)
        return 2;
    json_decref(call(c, "ping", NULL));
    json_t *conn =
        call(c, "connect", json_pack("{s:s, s:i}", "host", "127.0.0.1", "port", atoi(argv[2])));
    const char *h = json_string_value(json_object_get(conn, "handle"));
    char b64[16];
    netd_base64_encode((const unsigned char *)"hello", 5, b64);
    json_decref(call(c, "write", json_pack("{s:s, s:s}", "handle", h, "data", b64)));
    json_t *got =
        call(c, "chunk", json_pack("{s:s, s:i, s:i}", "handle", h, "nbytes", 5, "timeout", 10));
    const char *data = json_string_value(json_object_get(got, "data"));
    unsigned char buf[8];
    size_t n = 0;
    if (!data || netd_base64_decode(data, strlen(data), buf, &n) != 0 || n != 5 ||
        memcmp(buf, "hello", 5) != 0)
        return 3;
    json_decref(call(c, "close", json_pack("{s:s}", "handle", h)));

    /* A closed handle is an error whose code the installed errors.h names. */
    json_t *error = NULL;
    if (netd_call(c, "status", json_pack("{s:s}", "handle", h), NULL, &error) != 1 ||
        netd_err_from_code(netd_error_code(error)) != NETD_E_UNKNOWN_HANDLE)
        return 4;
    printf("echoed %.5s; then %s\n", (const char *)buf,
           netd_err_name(netd_err_from_code(netd_error_code(error))));
    json_decref(error);
    json_decref(got);
    json_decref(conn);
    netd_client_free(c);
    return 0;
}
