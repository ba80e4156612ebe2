/*
 * netctl_call.c - netctl's side of the conversation with netd: connecting,
 * calling one method within --timeout, and turning error answers into a
 * message that says what happened and what to try next.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "netctl.h"

int netctl_connect(struct netctl *n)
{
    if (n->client)
        return 0;
    n->client = netd_client_connect(n->socket);
    if (n->client)
        return 0;
    int err = errno;
    const char *name = n->socket;
    if (!name || !*name)
        name = getenv("NETD_SOCKET");
    if (!name || !*name)
        name = NETD_DEFAULT_SOCKET;
    char msg[512];
    snprintf(msg, sizeof msg,
             "cannot reach netd at %s: %s — start it with `netd` or `make run`, or set "
             "NETD_SOCKET",
             name, strerror(err));
    netctl_say(n, "failure", err, msg);
    return -1;
}

int netctl_call_fd(struct netctl *n, const char *method, json_t *params, int send_fd,
                   json_t **result, int *recv_fd)
{
    if (recv_fd)
        *recv_fd = -1;
    if (netctl_connect(n) < 0) {
        json_decref(params);
        return EXIT_FAIL;
    }
    long long id = netd_client_send_fd(n->client, method, params, send_fd);
    if (id < 0)
        return netctl_lost(n, method, errno);
    json_t *res = NULL, *err = NULL;
    int rc = netd_client_wait(n->client, id, n->timeout_ms, &res, &err);
    if (rc < 0)
        return netctl_lost(n, method, errno);
    if (rc == 1) {
        netctl_report(n, method, err);
        json_decref(err);
        return EXIT_FAIL;
    }
    if (recv_fd)
        *recv_fd = netd_client_take_fd(n->client, id);
    if (n->warning) {
        fprintf(stderr, "netctl: %s: warning: %s\n", n->cmd ? n->cmd->name : method, n->warning);
        n->warning = NULL;
    }
    if (result)
        *result = res;
    else
        json_decref(res);
    return 0;
}

int netctl_call(struct netctl *n, const char *method, json_t *params, json_t **result)
{
    return netctl_call_fd(n, method, params, -1, result, NULL);
}

int netctl_lost(struct netctl *n, const char *method, int err)
{
    char msg[512];
    if (err == ETIMEDOUT)
        snprintf(msg, sizeof msg,
                 "no answer from netd within --timeout %.3g s — allow longer, or give the command "
                 "its own --timeout where it has one",
                 n->timeout_ms / 1000.0);
    else if (err == ECONNRESET || err == EPIPE)
        snprintf(msg, sizeof msg,
                 "netd closed the connection during %s — did it stop or restart? Its log says why",
                 method);
    else if (err == EPROTO)
        snprintf(msg, sizeof msg, "netd sent a line that is not JSON during %s", method);
    else
        snprintf(msg, sizeof msg, "talking to netd failed during %s: %s", method, strerror(err));
    netctl_say(n, "failure", err, msg);
    return EXIT_FAIL;
}

/* What to try after an "os" error, by errno name. */
static const char *os_hint(const struct netctl *n, const char *errname, char *buf, size_t len)
{
    const char *t = n->target[0] && !n->target_is_handle ? n->target : "the address";
    if (strcmp(errname, "ECONNREFUSED") == 0)
        snprintf(buf, len, "is anything listening on %s?", t);
    else if (strcmp(errname, "EADDRINUSE") == 0)
        snprintf(buf, len, "something already uses %s; pick another port (0 picks a free one)", t);
    else if (strcmp(errname, "EACCES") == 0 || strcmp(errname, "EPERM") == 0)
        snprintf(buf, len, "netd may not use %s (ports below 1024 need privileges)", t);
    else if (strcmp(errname, "ENOENT") == 0)
        snprintf(buf, len, "check that %s exists", t);
    else if (strcmp(errname, "ETIMEDOUT") == 0 || strcmp(errname, "EHOSTUNREACH") == 0 ||
             strcmp(errname, "ENETUNREACH") == 0)
        snprintf(buf, len, "%s cannot be reached; check the address and the network", t);
    else if (strcmp(errname, "ECONNRESET") == 0 || strcmp(errname, "EPIPE") == 0)
        snprintf(buf, len, "the peer closed the connection; close the handle and connect again");
    else if (strcmp(errname, "ENOTCONN") == 0)
        snprintf(buf, len, "the socket is not connected (see `netctl status H`)");
    else
        return NULL;
    return buf;
}

/* Whether @s is a port number rather than a service name. */
static bool numeric(const char *s)
{
    return *s && s[strspn(s, "0123456789")] == '\0';
}

/*
 * What to try after a -32007 resolve error, by the resolver's code: only
 * EAI_SERVICE blames the port, EAI_NONAME the name (or, with a service
 * name, either), and the rest the resolver or the network.
 */
static const char *resolve_hint(const struct netctl *n, const char *gai, char *buf, size_t len)
{
    const char *host = n->host[0] ? n->host : NULL, *port = n->port[0] ? n->port : NULL;
    if (!gai)
        gai = "";
    if (strcmp(gai, "EAI_SERVICE") == 0 && port)
        snprintf(buf, len,
                 "the port \"%s\" is not a service name this host knows (/etc/services) for "
                 "this socket type; give a number from 0 to 65535",
                 port);
    else if (strcmp(gai, "EAI_SERVICE") == 0)
        snprintf(buf, len, "the port is not a service name this host knows; give a number");
    else if (strcmp(gai, "EAI_NONAME") == 0 && host && port && !numeric(port))
        snprintf(buf, len, "check the host name %s, and that \"%s\" is a service name", host, port);
    else if (strcmp(gai, "EAI_NONAME") == 0 && host)
        snprintf(buf, len, "check the host name %s", host);
    else if (strcmp(gai, "EAI_NONAME") == 0)
        snprintf(buf, len, "check the host name");
    else if (strcmp(gai, "EAI_AGAIN") == 0)
        snprintf(buf, len,
                 "the name server did not answer in time; try again, and check the "
                 "network and /etc/resolv.conf");
    else if (strcmp(gai, "EAI_FAIL") == 0)
        snprintf(buf, len, "the name server failed; check the network and /etc/resolv.conf");
    else if (strcmp(gai, "EAI_NODATA") == 0 || strcmp(gai, "EAI_ADDRFAMILY") == 0)
        snprintf(buf, len, "%s%s has no address of the kind asked for", host ? "" : "the name",
                 host ? host : "");
    else
        return NULL;
    return buf;
}

/* "a listener handle", "an address handle". */
static const char *wrong_kind_hint(const struct netctl *n, const char *kind, char *buf, size_t len)
{
    if (!kind || !n->target_is_handle)
        return "`netctl ls` shows what kind of handle each is";
    bool vowel = strchr("aeiou", kind[0]) != NULL;
    snprintf(buf, len, "%s is a%s %s handle; `netctl help %s` says what it needs", n->target,
             vowel ? "n" : "", kind, n->cmd ? n->cmd->name : "");
    return buf;
}

/* What to try next after an error of @kind; NULL when there is nothing useful to say. */
static const char *hint(const struct netctl *n, enum netd_err kind, const json_t *data, char *buf,
                        size_t len)
{
    const char *cmd = n->cmd ? n->cmd->name : "COMMAND";
    const char *errname = json_string_value(json_object_get(data, "errno"));
    switch (kind) {
    case NETD_E_OS:
        return errname ? os_hint(n, errname, buf, len) : NULL;
    case NETD_E_TIMEOUT:
        return "nothing happened in time; try a longer --timeout";
    case NETD_E_UNKNOWN_HANDLE:
        snprintf(buf, len,
                 "%s%s was closed, or its connection ended without keeping it; `netctl ls` "
                 "lists yours",
                 n->target_is_handle ? "" : "the handle", n->target_is_handle ? n->target : "");
        return buf;
    case NETD_E_WRONG_KIND:
        return wrong_kind_hint(n, json_string_value(json_object_get(data, "kind")), buf, len);
    case NETD_E_ABORTED:
        return "the call was cut short: the handle was closed or cancelled, or netd is stopping";
    case NETD_E_DENIED:
        /* A policy denial names its rule; the operator's file says what it allows. */
        if (json_is_string(json_object_get(data, "rule"))) {
            snprintf(buf, len,
                     "netd's policy refuses it; `netctl policy explain` shows why, "
                     "netd.conf's [rule] sections say what is allowed");
            return buf;
        }
        return "netd does not serve this user; see its allow options";
    case NETD_E_LIMIT:
        return "close handles you no longer need (`netctl ls`) or raise netd's limit";
    case NETD_E_RESOLVE:
        return resolve_hint(n, json_string_value(json_object_get(data, "gai")), buf, len);
    case NETD_E_PARAMS:
        /* release refuses a stream with bytes netd has read ahead: they would never reach
         * COMMAND, so they must be taken out first. */
        if (strcmp(cmd, "release") == 0)
            snprintf(buf, len, "`netctl read %s 1048576 --timeout 0` takes them out", n->target);
        else
            snprintf(buf, len, "`netctl help %s` shows the arguments", cmd);
        return buf;
    case NETD_E_METHOD:
        return "`netctl methods` lists the methods this netd has";
    case NETD_E_TLS:
        return tls_hint(n, data, buf, len);
    default:
        return NULL;
    }
}

int netctl_report(struct netctl *n, const char *method, const json_t *error)
{
    const char *msg = netd_error_message(error);
    enum netd_err kind = netd_err_from_code(netd_error_code(error));
    const json_t *data = json_object_get(error, "data");
    const char *sym = json_string_value(json_object_get(data, "errno"));
    if (!sym)
        sym = json_string_value(json_object_get(data, "gai"));
    if (!sym)
        sym = json_string_value(json_object_get(data, "limit"));
    if (!sym)
        sym = json_string_value(json_object_get(data, "verify"));
    if (!sym)
        sym = json_string_value(json_object_get(data, "alert"));
    /* netd's messages often start with the call's name; the command name is already there. */
    size_t mlen = strlen(method);
    if (strncmp(msg, method, mlen) == 0 && msg[mlen] == ':' && msg[mlen + 1] == ' ')
        msg += mlen + 2;
    /* Under --json the error object is all there is: a program parses it whole. */
    if (n->json) {
        print_json_to(stderr, error);
        return EXIT_FAIL;
    }
    char buf[400];
    const char *h = hint(n, kind, data, buf, sizeof buf);
    /* strerror() texts are capitalised; mid-sentence they read better in lower case. */
    bool lower = msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a' && msg[1] <= 'z';
    fprintf(stderr, "netctl: %s: %c%s", n->cmd ? n->cmd->name : method,
            lower ? msg[0] - 'A' + 'a' : msg[0], msg[0] ? msg + 1 : "");
    if (sym && !strstr(msg, sym))
        fprintf(stderr, " (%s)", sym);
    if (h)
        fprintf(stderr, " — %s", h);
    fputc('\n', stderr);
    return EXIT_FAIL;
}
