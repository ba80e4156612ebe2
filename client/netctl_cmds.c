/*
 * netctl_cmds.c - the commands that are one or a few calls: each builds
 * the params from its arguments, calls netd, and prints the result in
 * words (or as JSON with --json). Every handle created here is kept, so a
 * shell script can use it in later runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "methods.h"
#include "netctl.h"

int netctl_call_timed(struct netctl *n, const struct args *a, const char *method, json_t *params,
                      json_t **result)
{
    int rc = a ? add_timeout_opt(n, a, params) : 0;
    if (rc) {
        json_decref(params);
        return rc;
    }
    return netctl_call(n, method, params, result);
}

int call_and_print(struct netctl *n, const char *method, json_t *params,
                   void (*human)(const json_t *result))
{
    return call_timed_and_print(n, NULL, method, params, human);
}

int call_timed_and_print(struct netctl *n, const struct args *a, const char *method, json_t *params,
                         void (*human)(const json_t *result))
{
    json_t *res = NULL;
    int rc = netctl_call_timed(n, a, method, params, &res);
    if (rc)
        return rc;
    if (n->json)
        print_json(res);
    else if (human)
        human(res);
    json_decref(res);
    return EXIT_OK;
}

static json_t *handle_params(const char *h)
{
    return json_pack("{s:s}", "handle", h);
}

void print_handle(const json_t *res)
{
    printf("%s\n", json_string_value(json_object_get(res, "handle")));
}

/* `call` without --json: the result indented, for reading. */
static void print_pretty(const json_t *res)
{
    json_dumpf(res, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    putchar('\n');
}

/*
 * Like every other command, `call` keeps the handles it creates: it adds
 * "keep": true for methods that take it, unless the params say otherwise.
 */
int cmd_call(struct netctl *n, const struct args *a)
{
    json_t *params = NULL;
    if (a->argc == 2) {
        json_error_t err;
        params = json_loads(a->argv[1], JSON_DECODE_ANY, &err);
        if (!params)
            return usage_error(n, "params are not JSON: %s (at character %d)", err.text,
                               err.position);
    }
    const struct netd_method *m = netd_method_find(a->argv[0]);
    if (m && netd_param_find(m, "keep") && (!params || json_is_object(params))) {
        if (!params)
            params = json_object();
        if (!json_object_get(params, "keep"))
            json_object_set_new(params, "keep", json_true());
    }
    return call_and_print(n, a->argv[0], params, print_pretty);
}

int cmd_ping(struct netctl *n, const struct args *a)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    json_t *res = NULL;
    int rc = netctl_call(n, "ping", NULL, &res);
    if (rc)
        return rc;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (n->json)
        print_json(res);
    else
        printf("netd answered in %.3f ms\n", ms);
    json_decref(res);
    return EXIT_OK;
}

/* Prints one resolved address handle as "HANDLE<TAB>FAMILY<TAB>HOST<TAB>PORT" (or path). */
static int print_resolved(struct netctl *n, const char *h)
{
    json_t *addr = NULL;
    int rc = netctl_call(n, "address-unpack", handle_params(h), &addr);
    if (rc)
        return rc;
    if (n->json) {
        json_object_set_new(addr, "handle", json_string(h));
        print_json(addr);
    } else if (json_object_get(addr, "path")) {
        printf("%s\tunix\t%s\n", h, json_string_value(json_object_get(addr, "path")));
    } else {
        printf("%s\t%s\t%s\t%lld\n", h, json_string_value(json_object_get(addr, "family")),
               json_string_value(json_object_get(addr, "host")),
               (long long)json_integer_value(json_object_get(addr, "port")));
    }
    json_decref(addr);
    return EXIT_OK;
}

int cmd_resolve(struct netctl *n, const struct args *a)
{
    bool all = opt_get(a, "all") != NULL;
    json_t *port = NULL;
    int rc = 0;
    if (a->argc == 2 && !(port = port_arg(n, "PORT", a->argv[1], &rc)))
        return rc;
    json_t *p = json_pack("{s:s,s:b,s:b}", "host", a->argv[0], "multi", all, "keep", 1);
    if (port)
        json_object_set_new(p, "port", port);
    if (opt_get(a, "datagram"))
        json_object_set_new(p, "type", json_string("datagram"));
    snprintf(n->target, sizeof n->target, "%s", a->argv[0]);
    snprintf(n->host, sizeof n->host, "%s", a->argv[0]);
    snprintf(n->port, sizeof n->port, "%s", a->argc == 2 ? a->argv[1] : "");
    json_t *res = NULL;
    rc = netctl_call(n, "address", p, &res);
    if (rc)
        return rc;
    json_t *list = all ? json_incref(json_object_get(res, "handles"))
                       : json_pack("[O]", json_object_get(res, "handle"));
    size_t i;
    json_t *h;
    json_array_foreach(list, i, h)
    {
        rc = print_resolved(n, json_string_value(h));
        if (rc)
            break;
    }
    json_decref(list);
    json_decref(res);
    return rc;
}

int add_destination(struct netctl *n, const struct args *a, json_t *p, bool host_optional)
{
    const char *unix_path = opt_get(a, "unix");
    if (unix_path) {
        if (a->argc != 0)
            return usage_error(n, "give either HOST PORT or --unix PATH");
        json_t *path = path_json(unix_path, true);
        if (!path)
            return fail(n, "--unix %s: cannot make it absolute: %s", unix_path, strerror(errno));
        json_object_set_new(p, "path", path);
        snprintf(n->target, sizeof n->target, "%s", unix_path);
        return 0;
    }
    if (a->argc == 0 || (a->argc == 1 && !host_optional))
        return usage_error(n, "needs HOST PORT (or --unix PATH)");
    const char *host = a->argc == 2 ? a->argv[0] : NULL;
    const char *port = a->argv[a->argc - 1];
    int rc = 0;
    json_t *pj = port_arg(n, "PORT", port, &rc);
    if (!pj)
        return rc;
    if (host)
        json_object_set_new(p, "host", json_string(host));
    json_object_set_new(p, "port", pj);
    snprintf(n->target, sizeof n->target, "%s:%s", host ? host : "*", port);
    snprintf(n->host, sizeof n->host, "%s", host ? host : "");
    snprintf(n->port, sizeof n->port, "%s", port);
    return 0;
}

int cmd_connect(struct netctl *n, const struct args *a)
{
    json_t *p = json_pack("{s:b}", "keep", 1);
    int rc = add_destination(n, a, p, false);
    const char *bind = opt_get(a, "bind"), *bind_port = opt_get(a, "bind-port");
    if (!rc && bind)
        json_object_set_new(p, "bindhost", json_string(bind));
    json_t *bp = NULL;
    if (!rc && bind_port && (bp = port_arg(n, "--bind-port", bind_port, &rc)))
        json_object_set_new(p, "bindport", bp);
    if (!rc && opt_get(a, "datagram"))
        json_object_set_new(p, "type", json_string("datagram"));
    if (!rc)
        rc = add_tls_opts(n, a, p);
    if (rc) {
        json_decref(p);
        return rc;
    }
    return call_and_print(n, "connect", p, print_handle);
}

int cmd_listen(struct netctl *n, const struct args *a)
{
    json_t *p = json_pack("{s:b}", "keep", 1);
    int rc = add_destination(n, a, p, true);
    const char *backlog = opt_get(a, "backlog");
    long long b = 0;
    if (!rc && backlog && (parse_count(backlog, &b) < 0 || b > 65535))
        rc = usage_error(n, "--backlog needs a number from 1 to 65535");
    if (!rc && backlog)
        json_object_set_new(p, "backlog", json_integer(b));
    bool loop = opt_get(a, "loop") != NULL;
    if (!rc && loop && opt_get(a, "datagram"))
        rc = usage_error(n, "--loop accepts connections, which datagram sockets do not have");
    if (!rc && opt_get(a, "datagram"))
        json_object_set_new(p, "type", json_string("datagram"));
    if (rc) {
        json_decref(p);
        return rc;
    }
    if (loop)
        return netctl_follow(n, p, NULL);
    return call_and_print(n, "listen", p, print_handle);
}

int cmd_accept(struct netctl *n, const struct args *a)
{
    json_t *p = json_pack("{s:s,s:b}", "handle", a->argv[0], "keep", 1);
    return call_timed_and_print(n, a, "accept", p, print_handle);
}

/* read and chunk: the bytes go to stdout as they are. */
int cmd_read(struct netctl *n, const struct args *a)
{
    bool is_read = strcmp(n->cmd->name, "read") == 0;
    long long count = 0;
    json_t *nbytes;
    if (is_read && strcmp(a->argv[1], "all") == 0)
        nbytes = json_string("all");
    else if (parse_count(a->argv[1], &count) == 0)
        nbytes = json_integer(count);
    else
        return usage_error(n, "N must be a byte count >= 1%s", is_read ? " or \"all\"" : "");
    json_t *p = json_pack("{s:s,s:o}", "handle", a->argv[0], "nbytes", nbytes);
    json_t *res = NULL;
    int rc = netctl_call_timed(n, a, n->cmd->name, p, &res);
    if (rc)
        return rc;
    if (n->json) {
        print_json(res);
        json_decref(res);
        return EXIT_OK;
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (result_bytes(res, &bytes, &len) < 0)
        rc = fail(n, "netd sent data that does not decode");
    else if (write_all(STDOUT_FILENO, bytes, len) < 0)
        rc = fail(n, "writing to stdout failed: %s", strerror(errno));
    free(bytes);
    json_decref(res);
    return rc;
}

/* Writes @len bytes to handle @h in one call; adds the count to *total. */
static int write_piece(struct netctl *n, const char *h, const struct args *a, const void *data,
                       size_t len, long long *total)
{
    enum netd_encoding used;
    json_t *d = netd_data_encode(data, len, NETD_ENC_BASE64, &used);
    json_t *p = json_pack("{s:s,s:o}", "handle", h, "data", d);
    json_t *res = NULL;
    int rc = netctl_call_timed(n, a, "write", p, &res);
    if (rc)
        return rc;
    *total += json_integer_value(json_object_get(res, "written"));
    json_decref(res);
    return 0;
}

/* `write H -` sends stdin in pieces, so input of any size stays under netd's line limit. */
static int write_stdin(struct netctl *n, const struct args *a, long long *total)
{
    size_t cap = (size_t)4 << 20;
    char *buf = malloc(cap);
    int rc = 0;
    for (;;) {
        size_t len = 0;
        while (len < cap) {
            ssize_t k = read(STDIN_FILENO, buf + len, cap - len);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0) {
                free(buf);
                return fail(n, "reading stdin failed: %s", strerror(errno));
            }
            if (k == 0)
                break;
            len += (size_t)k;
        }
        if (len > 0)
            rc = write_piece(n, a->argv[0], a, buf, len, total);
        if (rc || len < cap)
            break;
    }
    free(buf);
    return rc;
}

int cmd_write(struct netctl *n, const struct args *a)
{
    long long total = 0;
    const char *text = a->argv[1];
    int rc = strcmp(text, "-") == 0 ? write_stdin(n, a, &total)
                                    : write_piece(n, a->argv[0], a, text, strlen(text), &total);
    if (rc)
        return rc;
    if (n->json)
        printf("{\"written\":%lld}\n", total);
    else
        printf("%lld\n", total);
    return EXIT_OK;
}

/* flush, close, cancel, pending, keep: one call named like the command, on one handle. */
static void print_count(const json_t *res)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)res, key, v)
    {
        if (json_is_integer(v))
            printf("%lld\n", (long long)json_integer_value(v));
    }
}

int cmd_simple(struct netctl *n, const struct args *a)
{
    return call_and_print(n, n->cmd->name, handle_params(a->argv[0]), print_count);
}

int cmd_shutdown(struct netctl *n, const struct args *a)
{
    const char *mode = a->argc == 2 ? a->argv[1] : "rw";
    if (strcmp(mode, "r") && strcmp(mode, "w") && strcmp(mode, "rw") && strcmp(mode, "wr"))
        return usage_error(n, "mode must be r, w or rw, not \"%s\"", mode);
    return call_and_print(n, "shutdown", json_pack("{s:s,s:s}", "handle", a->argv[0], "mode", mode),
                          NULL);
}

static void print_address(const json_t *res)
{
    char buf[320];
    printf("%s\n", format_address(res, buf, sizeof buf));
}

int cmd_address_of(struct netctl *n, const struct args *a)
{
    return call_and_print(n, n->cmd->name, handle_params(a->argv[0]), print_address);
}

/*
 * A handle that failed answers `wait` with its status at once; unless the
 * caller waited for "error", that is a failure of what it waited for, so
 * `netctl wait H connected && ...` does not go on with a dead handle.
 */
int cmd_wait(struct netctl *n, const struct args *a)
{
    json_t *p = json_pack("{s:s,s:s}", "handle", a->argv[0], "for", a->argv[1]);
    json_t *res = NULL;
    int rc = netctl_call_timed(n, a, "wait", p, &res);
    if (rc)
        return rc;
    if (n->json)
        print_json(res);
    else
        print_fields(res);
    const char *state = json_string_value(json_object_get(res, "state"));
    if (state && strcmp(state, "failure") == 0 && strcmp(a->argv[1], "error") != 0)
        rc = netctl_report(n, "wait", json_object_get(res, "error"));
    json_decref(res);
    return rc;
}

/* Calls @method without params and prints the result as JSON, or with @table. */
static int call_table(struct netctl *n, const char *method,
                      void (*table)(const json_t *res, bool plain))
{
    json_t *res = NULL;
    int rc = netctl_call(n, method, NULL, &res);
    if (rc)
        return rc;
    if (n->json)
        print_json(res);
    else
        table(res, plain_tables(n));
    json_decref(res);
    return EXIT_OK;
}

static void print_ls(const json_t *res, bool plain)
{
    print_handle_table(json_object_get(res, "handles"), plain);
}

int cmd_ls(struct netctl *n, const struct args *a)
{
    return call_table(n, "handles", print_ls);
}

int cmd_stats(struct netctl *n, const struct args *a)
{
    return call_and_print(n, "stats", NULL, print_fields);
}

/* Refuses an option name the contract does not have before anything is sent. */
static int check_sockopt(struct netctl *n, const char *option)
{
    for (size_t i = 0; netd_sockopt_names[i]; i++)
        if (strcmp(netd_sockopt_names[i], option) == 0)
            return 0;
    return usage_error(n, "no socket option \"%s\"; `netctl help %s` lists them", option,
                       n->cmd->name);
}

/*
 * VALUE is taken as JSON when it is JSON, so booleans, numbers and null
 * reach netd typed; anything else (a multicast group, an interface) is a
 * string, which spares the user from quoting it twice.
 */
int cmd_setsockopt(struct netctl *n, const struct args *a)
{
    int rc = check_sockopt(n, a->argv[1]);
    if (rc)
        return rc;
    json_t *value = json_loads(a->argv[2], JSON_DECODE_ANY, NULL);
    if (!value)
        value = json_string(a->argv[2]);
    json_t *p =
        json_pack("{s:s,s:s,s:o}", "handle", a->argv[0], "option", a->argv[1], "value", value);
    return call_and_print(n, "setsockopt", p, NULL);
}

/* A string value prints as it is; other values in JSON notation (true, 42, null). */
static void print_sockopt(const json_t *res)
{
    const json_t *v = json_object_get(res, "value");
    if (json_is_string(v)) {
        printf("%s\n", json_string_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    printf("%s\n", s ? s : "null");
    free(s);
}

int cmd_getsockopt(struct netctl *n, const struct args *a)
{
    int rc = check_sockopt(n, a->argv[1]);
    if (rc)
        return rc;
    json_t *p = json_pack("{s:s,s:s}", "handle", a->argv[0], "option", a->argv[1]);
    return call_and_print(n, "getsockopt", p, print_sockopt);
}

static void print_addrs(const json_t *res, bool plain)
{
    size_t i;
    json_t *ad;
    const char *row = plain ? "%s\t%s\t%s\t%s%s\n" : "%-16s %-6s %-40s %s%s\n";
    if (!plain)
        printf(row, "INTERFACE", "FAMILY", "ADDRESS", "FLAGS", "");
    json_array_foreach(json_object_get(res, "addresses"), i, ad)
    {
        const json_t *up = json_object_get(ad, "up");
        printf(row, json_string_value(json_object_get(ad, "interface")),
               json_string_value(json_object_get(ad, "family")),
               json_string_value(json_object_get(ad, "host")),
               up && !json_is_true(up) ? "down" : "up",
               json_is_true(json_object_get(ad, "loopback")) ? ",loopback" : "");
    }
}

int cmd_addrs(struct netctl *n, const struct args *a)
{
    return call_table(n, "local-addresses", print_addrs);
}
