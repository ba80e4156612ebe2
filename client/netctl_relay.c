/*
 * netctl_relay.c - the commands on netd's data plane: `attach` runs a
 * program on a stream's plaintext descriptor, `proxy` accepts connections
 * (optionally terminating TLS) and splices each to a target (optionally
 * originating TLS); and the attached copy loops `cat` and `nc` use.
 *
 * Everything here asks for attach "fd": the control connection stays
 * JSON-RPC (so errors still come back as answers) and the stream's bytes
 * come through one end of a socket pair, at the kernel's speed.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netctl.h"

#define COPY_SIZE (256 * 1024)

int netctl_attach_fd(struct netctl *n, const char *h, int *fd)
{
    *fd = -1;
    if (netctl_connect(n) < 0)
        return EXIT_FAIL;
    long long id =
        netd_client_send(n->client, "attach", json_pack("{s:s,s:s}", "handle", h, "mode", "fd"));
    if (id < 0)
        return netctl_lost(n, "attach", errno);
    json_t *res = NULL, *err = NULL;
    int rc = netd_client_wait(n->client, id, n->timeout_ms, &res, &err);
    if (rc < 0)
        return netctl_lost(n, "attach", errno);
    json_decref(res);
    if (rc == 1) {
        bool missing = netd_error_code(err) == -32601;
        rc = missing ? ATTACH_MISSING : netctl_report(n, "attach", err);
        json_decref(err);
        return rc;
    }
    *fd = netd_client_take_fd(n->client, id);
    if (*fd < 0)
        return fail(n, "netd answered attach but passed no descriptor");
    return 0;
}

/* Copies what @from has into @to; 0, 1 at the end of @from, -1 with errno. */
static int copy_some(int from, int to, char *buf, uint64_t *count)
{
    ssize_t k = read(from, buf, COPY_SIZE);
    if (k < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    if (k == 0)
        return 1;
    if (write_all(to, buf, (size_t)k) < 0)
        return -1;
    *count += (uint64_t)k;
    return 0;
}

int netctl_copy_attached(struct netctl *n, int fd, bool from_stdin)
{
    struct progress prog;
    progress_init(&prog);
    char *buf = malloc(COPY_SIZE);
    uint64_t in = 0, out = 0;
    bool stdin_done = !from_stdin, peer_done = false;
    int rc = 0;
    while (rc == 0 && !(stdin_done && peer_done)) {
        struct pollfd p[2] = {{.fd = fd, .events = peer_done ? 0 : POLLIN},
                              {.fd = stdin_done ? -1 : STDIN_FILENO, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno != EINTR)
                rc = fail(n, "poll: %s", strerror(errno));
            continue;
        }
        if (p[0].revents) {
            int k = copy_some(fd, STDOUT_FILENO, buf, &in);
            if (k < 0)
                rc = fail(n, "copying the stream to stdout: %s", strerror(errno));
            peer_done = k == 1;
        }
        if (rc == 0 && !stdin_done && p[1].revents) {
            int k = copy_some(STDIN_FILENO, fd, buf, &out);
            if (k < 0)
                rc = fail(n, "copying stdin to the stream: %s", strerror(errno));
            if (k == 1) {
                stdin_done = true;
                shutdown(fd, SHUT_WR); /* becomes `shutdown "w"` on the stream */
            }
        }
        progress_show(&prog, in, out, false);
    }
    progress_show(&prog, in, out, true);
    progress_end(&prog);
    free(buf);
    close(fd);
    return rc;
}

int cmd_attach(struct netctl *n, const struct args *a)
{
    if (a->dashdash != 1)
        return usage_error(n, "put -- between H and COMMAND");
    char **argv = a->argv + 1;
    if (command_runnable(argv[0]) < 0) {
        int err = errno;
        fail(n, "cannot run %s: %s; %s stays as it was", argv[0], strerror(err), a->argv[0]);
        return err == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC;
    }
    int fd;
    int rc = netctl_attach_fd(n, a->argv[0], &fd);
    if (rc == ATTACH_MISSING)
        return fail(n, "this netd does not serve attach");
    if (rc)
        return rc;
    return run_on_socket(n, fd, argv);
}

/* ---- proxy ---- */

/* A call of the proxy's in flight, or a connection being relayed. */
struct pcall {
    long long id; /* 0: a splice under way (no call waits) */
    enum { PC_CONNECT, PC_SPLICE } what;
    char *a, *b; /* the accepted handle, the target's */
    char peer[320];
};

struct proxy {
    struct netctl *n;
    json_t *target; /* connect's params */
    struct pcall *calls;
    size_t ncalls, cap;
};

static struct pcall *proxy_add(struct proxy *p)
{
    if (p->ncalls == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->calls = realloc(p->calls, p->cap * sizeof *p->calls);
    }
    struct pcall *pc = &p->calls[p->ncalls++];
    memset(pc, 0, sizeof *pc);
    return pc;
}

static void proxy_drop(struct proxy *p, struct pcall *pc)
{
    free(pc->a);
    free(pc->b);
    *pc = p->calls[--p->ncalls];
}

/* Closes handle @h; the answer is not waited for. */
static void proxy_close(struct proxy *p, const char *h)
{
    if (h)
        netd_client_send(p->n->client, "close", json_pack("{s:s}", "handle", h));
}

static int proxy_line(struct proxy *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int proxy_line(struct proxy *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    return fflush(stdout) == 0 ? 0 : fail(p->n, "writing the output failed: %s", strerror(errno));
}

/* A connection came: connect to the target for it. */
static int proxy_accepted(struct proxy *p, const json_t *params)
{
    const char *h = json_string_value(json_object_get(params, "handle"));
    if (!h)
        return 0;
    struct pcall *pc = proxy_add(p);
    pc->what = PC_CONNECT;
    pc->a = strdup(h);
    format_address(json_object_get(params, "peer"), pc->peer, sizeof pc->peer);
    pc->id = netd_client_send(p->n->client, "connect", json_deep_copy(p->target));
    return pc->id < 0 ? netctl_lost(p->n, "connect", errno) : 0;
}

static int proxy_answer(struct proxy *p, struct pcall *pc, const json_t *result,
                        const json_t *error)
{
    const char *method = pc->what == PC_CONNECT ? "connect" : "splice";
    if (error) {
        /* One connection failed; the proxy goes on with the others. */
        netctl_report(p->n, method, error);
        proxy_close(p, pc->a);
        proxy_close(p, pc->b);
        proxy_drop(p, pc);
        return 0;
    }
    if (pc->what == PC_SPLICE) {
        pc->id = 0; /* {} now; `spliced` comes at the end */
        return 0;
    }
    const char *b = json_string_value(json_object_get(result, "handle"));
    pc->b = b ? strdup(b) : NULL;
    pc->what = PC_SPLICE;
    pc->id = netd_client_send(p->n->client, "splice",
                              json_pack("{s:s,s:s,s:b}", "a", pc->a, "b", pc->b, "wait", 0));
    if (pc->id < 0)
        return netctl_lost(p->n, "splice", errno);
    return proxy_line(p, "%s %s %s\n", pc->a, pc->peer, pc->b);
}

static int proxy_spliced(struct proxy *p, const json_t *params)
{
    const char *a = json_string_value(json_object_get(params, "a"));
    for (size_t i = 0; a && i < p->ncalls; i++) {
        struct pcall *pc = &p->calls[i];
        if (pc->what != PC_SPLICE || strcmp(pc->a, a) != 0)
            continue;
        int rc = proxy_line(p, "%s closed %s %lld %lld\n", a,
                            json_string_value(json_object_get(params, "reason")),
                            (long long)json_integer_value(json_object_get(params, "a_to_b")),
                            (long long)json_integer_value(json_object_get(params, "b_to_a")));
        proxy_close(p, pc->a);
        proxy_close(p, pc->b);
        proxy_drop(p, pc);
        return rc;
    }
    return 0;
}

static int proxy_message(struct proxy *p, const json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    const json_t *params = json_object_get(msg, "params");
    if (method && strcmp(method, "accepted") == 0)
        return proxy_accepted(p, params);
    if (method && strcmp(method, "spliced") == 0)
        return proxy_spliced(p, params);
    const json_t *id = json_object_get(msg, "id");
    for (size_t i = 0; json_is_integer(id) && i < p->ncalls; i++)
        if (p->calls[i].id == json_integer_value(id))
            return proxy_answer(p, &p->calls[i], json_object_get(msg, "result"),
                                json_object_get(msg, "error"));
    return 0; /* the answer to a close, or a notification the proxy does not need */
}

static int proxy_run(struct proxy *p)
{
    netd_client *c = p->n->client;
    int sig = netctl_signal_fd();
    for (;;) {
        json_t *msg;
        while (netd_client_next(c, 0, &msg) == 0) {
            int rc = proxy_message(p, msg);
            json_decref(msg);
            if (rc)
                return rc;
        }
        if (errno != ETIMEDOUT)
            return netctl_lost(p->n, "proxy", errno);
        struct pollfd pf[2] = {{.fd = netd_client_fd(c), .events = POLLIN},
                               {.fd = sig, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0 && errno != EINTR)
            return fail(p->n, "poll: %s", strerror(errno));
        if (pf[1].revents)
            return EXIT_OK; /* interrupted: the connections end with netctl's */
    }
}

/* The listener's params: host, port and, with --tls-cert/--tls-key, TLS. */
static int proxy_server_params(struct netctl *n, const struct args *a, json_t **out)
{
    int rc = 0;
    json_t *port = port_arg(n, "LISTEN_PORT", a->argv[1], &rc);
    if (!port)
        return rc;
    json_t *p = json_pack("{s:s,s:o}", "host", a->argv[0], "port", port);
    const char *cert = opt_get(a, "tls-cert"), *key = opt_get(a, "tls-key");
    if (!cert != !key) {
        json_decref(p);
        return usage_error(n, "--tls-cert and --tls-key go together");
    }
    if (cert) {
        json_t *c = path_json(cert, false), *k = path_json(key, false);
        if (!c || !k) {
            json_decref(c);
            json_decref(k);
            json_decref(p);
            return fail(n, "cannot make the certificate's paths absolute: %s", strerror(errno));
        }
        json_object_set_new(p, "tls", json_pack("{s:o,s:o}", "cert", c, "key", k));
    }
    *out = p;
    return 0;
}

int cmd_proxy(struct netctl *n, const struct args *a)
{
    json_t *server = NULL;
    int rc = proxy_server_params(n, a, &server);
    if (rc)
        return rc;
    json_t *tport = port_arg(n, "TARGET_PORT", a->argv[3], &rc);
    if (!tport) {
        json_decref(server);
        return rc;
    }
    json_t *target = json_pack("{s:s,s:o}", "host", a->argv[2], "port", tport);
    rc = add_tls_opts(n, a, target);
    json_t *res = NULL;
    if (rc == 0 && netctl_signals_catch() < 0)
        rc = fail(n, "cannot catch signals: %s", strerror(errno));
    if (rc == 0)
        rc = netctl_call(n, "server", server, &res);
    else
        json_decref(server);
    if (rc) {
        json_decref(target);
        return rc;
    }
    struct proxy p = {.n = n, .target = target};
    const char *l = json_string_value(json_object_get(res, "handle"));
    rc = proxy_line(&p, "%s\n", l);
    if (rc == 0)
        rc = proxy_run(&p);
    netctl_call(n, "close", json_pack("{s:s}", "handle", l), NULL);
    while (p.ncalls)
        proxy_drop(&p, &p.calls[0]);
    free(p.calls);
    json_decref(target);
    json_decref(res);
    return rc;
}
