/*
 * netctl_dgram.c - the `udp` commands: bound and connected datagram
 * sockets, and one datagram at a time sent with `send-to` or received
 * with `recv-from`.
 *
 * netd takes a destination as an address object with a numeric host, or
 * as an address handle. A HOST PORT given by name (or with a service name)
 * is resolved by netd into an address handle of this run first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "netctl.h"

/* Larger than any datagram a socket sends (unix datagrams included); more is an error. */
#define DGRAM_STDIN_MAX ((size_t)4 << 20)

int cmd_udp_listen(struct netctl *n, const struct args *a)
{
    json_t *p = json_pack("{s:b,s:s}", "keep", 1, "type", "datagram");
    int rc = add_destination(n, a, p, true);
    if (rc) {
        json_decref(p);
        return rc;
    }
    return call_and_print(n, "listen", p, print_handle);
}

int cmd_udp_connect(struct netctl *n, const struct args *a)
{
    json_t *p = json_pack("{s:b,s:s}", "keep", 1, "type", "datagram");
    int rc = add_destination(n, a, p, false);
    const char *bind = opt_get(a, "bind"), *bind_port = opt_get(a, "bind-port");
    if (!rc && bind)
        json_object_set_new(p, "bindhost", json_string(bind));
    json_t *bp = NULL;
    if (!rc && bind_port && (bp = port_arg(n, "--bind-port", bind_port, &rc)))
        json_object_set_new(p, "bindport", bp);
    if (rc) {
        json_decref(p);
        return rc;
    }
    return call_and_print(n, "connect", p, print_handle);
}

static bool is_numeric_host(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * HOST PORT as a destination: numeric ones as an address object, names
 * (and service names) as an address handle netd resolves for this run.
 */
static json_t *dest_of_name(struct netctl *n, const char *host, const char *port, int *rc)
{
    json_t *pj = port_arg(n, "PORT", port, rc);
    if (!pj)
        return NULL;
    snprintf(n->target, sizeof n->target, "%s:%s", host, port);
    snprintf(n->host, sizeof n->host, "%s", host);
    snprintf(n->port, sizeof n->port, "%s", port);
    n->target_is_handle = false;
    if (is_numeric_host(host) && json_is_integer(pj))
        return json_pack("{s:s,s:o}", "host", host, "port", pj);
    json_t *res = NULL;
    json_t *p = json_pack("{s:s,s:o,s:s}", "host", host, "port", pj, "type", "datagram");
    if ((*rc = netctl_call(n, "address", p, &res)) != 0)
        return NULL;
    json_t *dest = json_incref(json_object_get(res, "handle"));
    json_decref(res);
    return dest;
}

/* Reads all of stdin into a new buffer: one datagram. 0, or EXIT_FAIL (printed). */
static int read_stdin_all(struct netctl *n, char **out, size_t *len)
{
    char *buf = malloc(DGRAM_STDIN_MAX + 1);
    size_t used = 0;
    while (buf && used <= DGRAM_STDIN_MAX) {
        ssize_t k = read(STDIN_FILENO, buf + used, DGRAM_STDIN_MAX + 1 - used);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            free(buf);
            return fail(n, "reading stdin failed: %s", strerror(errno));
        }
        if (k == 0) {
            *out = buf;
            *len = used;
            return 0;
        }
        used += (size_t)k;
    }
    free(buf);
    return buf ? fail(n, "stdin holds more than one datagram can carry (%zu bytes)",
                      DGRAM_STDIN_MAX)
               : fail(n, "out of memory");
}

/* Works out where `udp send` sends to from its arguments and options. */
static json_t *send_dest(struct netctl *n, const struct args *a, int *rc)
{
    const char *to = opt_get(a, "to"), *path = opt_get(a, "unix");
    int want = to || path ? 2 : 4;
    *rc = 0;
    if (to && path)
        *rc = usage_error(n, "give one of HOST PORT, --to ADDRESS or --unix PATH");
    else if (a->argc != want)
        *rc = usage_error(n, want == 2 ? "with --to or --unix, give only H and TEXT"
                                       : "needs H HOST PORT TEXT (or --to ADDRESS, --unix PATH)");
    if (*rc)
        return NULL;
    /* With --to, an unknown handle may be either one; the hint must not guess which. */
    if (to) {
        n->target[0] = '\0';
        n->target_is_handle = false;
    }
    json_t *dest = to     ? json_string(to)
                   : path ? json_pack("{s:o*}", "path", path_json(path, true))
                          : dest_of_name(n, a->argv[1], a->argv[2], rc);
    if (!dest && !*rc)
        *rc = EXIT_FAIL;
    return dest;
}

int cmd_udp_send(struct netctl *n, const struct args *a)
{
    int rc;
    json_t *dest = send_dest(n, a, &rc);
    if (!dest)
        return rc;
    const char *text = a->argv[a->argc - 1];
    char *stdin_data = NULL;
    size_t len = strlen(text);
    if (strcmp(text, "-") == 0 && (rc = read_stdin_all(n, &stdin_data, &len)) != 0) {
        json_decref(dest);
        return rc;
    }
    enum netd_encoding used;
    json_t *data = netd_data_encode((const uint8_t *)(stdin_data ? stdin_data : text), len,
                                    NETD_ENC_BASE64, &used);
    free(stdin_data);
    json_t *p = json_pack("{s:s,s:o,s:o}", "handle", a->argv[0], "dest", dest, "data", data);
    json_t *res = NULL;
    rc = netctl_call_timed(n, a, "send-to", p, &res);
    if (rc)
        return rc;
    if (n->json)
        print_json(res);
    else
        printf("%lld\n", (long long)json_integer_value(json_object_get(res, "written")));
    json_decref(res);
    return EXIT_OK;
}

/* "from HOST:PORT" (and a truncation notice) on stderr; the bytes raw on stdout. */
static int print_datagram(struct netctl *n, const json_t *res)
{
    const json_t *from = json_object_get(res, "from");
    char addr[320];
    format_address(from, addr, sizeof addr);
    fprintf(stderr, "from %s\n", strcmp(addr, "-") ? addr : "an unnamed socket");
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = 0;
    if (result_bytes(res, &bytes, &len) < 0)
        rc = fail(n, "netd sent data that does not decode");
    else if (write_all(STDOUT_FILENO, bytes, len) < 0)
        rc = fail(n, "writing to stdout failed: %s", strerror(errno));
    free(bytes);
    if (rc == 0 && json_is_true(json_object_get(res, "truncated")))
        fprintf(stderr,
                "netctl: udp recv: truncated: the datagram had %lld bytes, these are the first "
                "%zu; --max %lld gets all of it\n",
                (long long)json_integer_value(json_object_get(res, "size")), len,
                (long long)json_integer_value(json_object_get(res, "size")));
    return rc;
}

int cmd_udp_recv(struct netctl *n, const struct args *a)
{
    json_t *p = json_pack("{s:s}", "handle", a->argv[0]);
    const char *max = opt_get(a, "max");
    long long nbytes = 0;
    int rc = 0;
    if (max && parse_count(max, &nbytes) < 0)
        rc = usage_error(n, "--max needs a byte count >= 1, not \"%s\"", max);
    if (rc) {
        json_decref(p);
        return rc;
    }
    if (max)
        json_object_set_new(p, "nbytes", json_integer(nbytes));
    json_t *res = NULL;
    rc = netctl_call_timed(n, a, "recv-from", p, &res);
    if (rc)
        return rc;
    if (n->json)
        print_json(res);
    else
        rc = print_datagram(n, res);
    json_decref(res);
    return rc;
}
