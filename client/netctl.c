/*
 * netctl.c - netctl's entry point: global options, per-command options,
 * and how netctl's own errors are printed (in words, or as one JSON
 * object under --json).
 *
 * Each command is one row of netctl_commands[] (netctl_help.c); main()
 * finds the row, separates the command's options from its arguments,
 * checks their number and runs the handler. Handlers connect to netd only
 * when they first call it, so `netctl help` works without a running netd.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unistd.h>

#include "errors.h"
#include "netctl.h"

#ifndef NETD_VERSION
#error "NETD_VERSION (the CMake project version) must be defined"
#endif
void netctl_say(struct netctl *n, const char *kind, int err, const char *msg)
{
    const char *cmd = n->cmd ? n->cmd->name : NULL;
    if (n->json) {
        json_t *o = json_pack("{s:s,s:s}", "netctl", kind, "message", msg);
        if (cmd)
            json_object_set_new(o, "command", json_string(cmd));
        if (err)
            json_object_set_new(o, "data", json_pack("{s:s}", "errno", netd_errno_name(err)));
        print_json_to(stderr, o);
        json_decref(o);
        return;
    }
    fprintf(stderr, "netctl: %s%s%s\n", cmd ? cmd : "", cmd ? ": " : "", msg);
}

/* Formats a message of netctl's own into @buf. */
static const char *vformat(char *buf, size_t len, const char *fmt, va_list ap)
{
    vsnprintf(buf, len, fmt, ap);
    return buf;
}

int usage_error(struct netctl *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    netctl_say(n, "usage", 0, vformat(msg, sizeof msg, fmt, ap));
    va_end(ap);
    if (n->json)
        return EXIT_USAGE;
    if (n->cmd)
        print_command_usage(stderr, n->cmd);
    else
        fputs(netctl_global_usage, stderr);
    return EXIT_USAGE;
}

int fail(struct netctl *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    netctl_say(n, "failure", 0, vformat(msg, sizeof msg, fmt, ap));
    va_end(ap);
    return EXIT_FAIL;
}

bool plain_tables(const struct netctl *n)
{
    return n->no_legend || !isatty(STDOUT_FILENO);
}

/* ---- argument helpers ---- */

const char *opt_get(const struct args *a, const char *name)
{
    for (int i = 0; i < a->nopts; i++)
        if (strcmp(a->opts[i].name, name) == 0)
            return a->opts[i].value ? a->opts[i].value : "";
    return NULL;
}

json_t *port_json(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s && !*end)
        return !errno && v >= 0 && v <= 65535 ? json_integer(v) : NULL;
    return json_string(s);
}

json_t *port_arg(struct netctl *n, const char *what, const char *s, int *rc)
{
    json_t *p = port_json(s);
    if (!p)
        *rc = usage_error(n, "%s must be a number from 0 to 65535 or a service name, not \"%s\"",
                          what, s);
    return p;
}

json_t *path_json(const char *path, bool abstract_ok)
{
    if (path[0] == '/' || (abstract_ok && path[0] == '@'))
        return json_string(path);
    /* netd has a working directory of its own: a relative path is joined to
     * ours, without resolving links, so a socket that does not exist yet
     * (listen) is named exactly as the user wrote it. */
    char *cwd = getcwd(NULL, 0);
    if (!cwd)
        return NULL;
    const char *rest = strncmp(path, "./", 2) == 0 ? path + 2 : path;
    size_t n = strlen(cwd) + strlen(rest) + 2;
    char *abs = malloc(n);
    json_t *v = NULL;
    if (abs) {
        snprintf(abs, n, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/", rest);
        v = json_string(abs);
        free(abs);
    }
    free(cwd);
    return v;
}

int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

int parse_count(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 1)
        return -1;
    *out = v;
    return 0;
}

int add_timeout_opt(struct netctl *n, const struct args *a, json_t *params)
{
    const char *t = opt_get(a, "timeout");
    double secs;
    if (!t)
        return 0;
    if (parse_seconds(t, &secs) < 0)
        return usage_error(n, "--timeout needs a number of seconds >= 0, not \"%s\"", t);
    json_object_set_new(params, "timeout", json_real(secs));
    return 0;
}

/*
 * Finds --@name among the command's options ("a,b=,c"): 0 and *takes_value
 * set if it is one, -1 if the command does not take it.
 */
static int option_spec(const struct command *c, const char *name, size_t len, bool *takes_value)
{
    const char *p = c->options;
    while (*p) {
        size_t k = strcspn(p, ",=");
        bool valued = p[k] == '=';
        if (k == len && strncmp(p, name, len) == 0) {
            *takes_value = valued;
            return 0;
        }
        p += k + (valued ? 1 : 0);
        if (*p == ',')
            p++;
    }
    return -1;
}

/* Adds one "--name[=value]" at argv[*i] to @a; takes the next word as value if needed. */
static int parse_option(struct netctl *n, int argc, char **argv, int *i, struct args *a)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    bool valued;
    if (option_spec(n->cmd, name, len, &valued) < 0)
        return usage_error(n, "unknown option --%.*s", (int)len, name);
    if (a->nopts == NETCTL_MAX_OPTS)
        return usage_error(n, "too many options");
    const char *value = NULL;
    if (valued && eq)
        value = eq + 1;
    else if (valued && *i + 1 < argc)
        value = argv[++*i];
    else if (valued)
        return usage_error(n, "--%.*s needs a value", (int)len, name);
    else if (eq)
        return usage_error(n, "--%.*s takes no value", (int)len, name);
    a->opts[a->nopts].name = strndup(name, len);
    a->opts[a->nopts].value = value;
    a->nopts++;
    return 0;
}

/*
 * Splits the words after the command name into options and arguments.
 * Options may come anywhere; "--" ends them (and `release` needs to know
 * where it stood), and "-" alone is an argument (stdin for `write`).
 */
static int parse_args(struct netctl *n, int argc, char **argv, struct args *a)
{
    bool options_done = false;
    a->argv = calloc((size_t)argc + 1, sizeof *a->argv);
    a->argc = 0;
    a->nopts = 0;
    a->dashdash = -1;
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        if (!options_done && strcmp(w, "--") == 0) {
            options_done = true;
            a->dashdash = a->argc;
        } else if (!options_done && w[0] == '-' && w[1] == '-') {
            int rc = parse_option(n, argc, argv, &i, a);
            if (rc)
                return rc;
        } else {
            a->argv[a->argc++] = argv[i];
        }
    }
    if (a->argc < n->cmd->min_args)
        return usage_error(n, "missing arguments");
    if (a->argc > n->cmd->max_args)
        return usage_error(n, "too many arguments");
    return 0;
}

static void args_free(struct args *a)
{
    for (int i = 0; i < a->nopts; i++)
        free((char *)a->opts[i].name);
    free(a->argv);
}

/* Whether the words of a command (up to "--") ask for its help. */
static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

/* ---- global options ---- */

/* Takes the value of a global option given as "--name VALUE" or "--name=VALUE". */
static const char *global_value(int argc, char **argv, int *i, const char *name)
{
    size_t len = strlen(name);
    if (strncmp(argv[*i], name, len) != 0)
        return NULL;
    if (argv[*i][len] == '=')
        return argv[*i] + len + 1;
    if (argv[*i][len] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

/* --json, --json=short or --json=pretty. 0, or -1 for another value. */
static int json_option(struct netctl *n, const char *w)
{
    if (strcmp(w, "--json") == 0 || strcmp(w, "--json=short") == 0) {
        n->json = true;
        print_json_pretty(false);
        return 0;
    }
    if (strcmp(w, "--json=pretty") == 0) {
        n->json = true;
        print_json_pretty(true);
        return 0;
    }
    return -1;
}

/* Parses the options before COMMAND. Returns the index of COMMAND, or -1 (usage printed). */
static int parse_globals(struct netctl *n, int argc, char **argv, int *exit_now)
{
    int i;
    /* --json first, so that a mistake in the other options is reported as JSON too. */
    for (i = 1; i < argc && argv[i][0] == '-'; i++)
        json_option(n, argv[i]);
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *v;
        double secs;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_overview(stdout);
            *exit_now = EXIT_OK;
            return -1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("netctl %s\n", NETD_VERSION);
            *exit_now = EXIT_OK;
            return -1;
        } else if (strncmp(argv[i], "--json", 6) == 0 &&
                   (argv[i][6] == '\0' || argv[i][6] == '=')) {
            if (json_option(n, argv[i]) < 0) {
                *exit_now = usage_error(n, "--json takes pretty or short, not \"%s\"", argv[i] + 7);
                return -1;
            }
        } else if (strcmp(argv[i], "--no-legend") == 0) {
            n->no_legend = true;
        } else if ((v = global_value(argc, argv, &i, "--socket"))) {
            n->socket = v;
        } else if ((v = global_value(argc, argv, &i, "--timeout"))) {
            if (parse_seconds(v, &secs) < 0 || secs > 2e6) {
                *exit_now = usage_error(n, "--timeout needs seconds (0 to 2000000), not \"%s\"", v);
                return -1;
            }
            n->timeout_ms = (int)(secs * 1000 + 0.999); /* rounded up: never wait less than asked */
        } else {
            *exit_now = usage_error(n, "unknown option %s (or it needs a value)", argv[i]);
            return -1;
        }
    }
    if (i == argc) {
        *exit_now = usage_error(n, "no command given; `netctl --help` lists them");
        return -1;
    }
    return i;
}

/* Finds the command at argv[first]; prints help or a usage error instead when that is asked. */
static int find_command(struct netctl *n, int argc, char **argv, int *words)
{
    n->cmd = command_find(argc, argv, words);
    bool help = wants_help(argc - 1, argv + 1);
    if (!n->cmd && is_group(argv[0]) && help) {
        print_group_help(argv[0]);
        return EXIT_OK;
    }
    if (!n->cmd && is_group(argv[0]))
        return group_usage(n, argv[0], argc > 1 ? argv[1] : NULL);
    if (!n->cmd) {
        char msg[512];
        snprintf(msg, sizeof msg, "no command \"%s\"; `netctl --help` lists them", argv[0]);
        netctl_say(n, "usage", 0, msg);
        return EXIT_USAGE;
    }
    if (help) {
        print_help(stdout, n->cmd);
        return EXIT_OK;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct netctl n = {.timeout_ms = -1};
    int rc = EXIT_OK;
    int first = parse_globals(&n, argc, argv, &rc);
    if (first < 0)
        return rc;
    int words = 0;
    rc = find_command(&n, argc - first, argv + first, &words);
    if (rc >= 0)
        return rc;
    struct args a;
    rc = parse_args(&n, argc - first - words, argv + first + words, &a);
    if (rc == 0 && opt_get(&a, "no-legend"))
        n.no_legend = true;
    /* Commands whose first argument is a handle name it in error hints. */
    const char *u = n.cmd->usage;
    if (rc == 0 && u[0] == 'H' && (u[1] == ' ' || u[1] == '\0')) {
        snprintf(n.target, sizeof n.target, "%s", a.argv[0]);
        n.target_is_handle = true;
    }
    if (rc == 0)
        rc = n.cmd->run(&n, &a);
    args_free(&a);
    netd_client_free(n.client);
    if (fflush(stdout) != 0 && rc == EXIT_OK)
        rc = fail(&n, "writing the output failed: %s", strerror(errno));
    return rc;
}
