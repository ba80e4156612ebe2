/*
 * netctl.c - netctl's entry point: global options, the command table,
 * per-command options, usage and help.
 *
 * Each command is one row of netctl_commands[]; main() finds the row,
 * separates the command's options from its arguments, checks their number
 * and runs the handler. Handlers connect to netd only when they first call
 * it, so `netctl help` works without a running netd.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "methods.h"
#include "netctl.h"

static int cmd_help(struct netctl *n, const struct args *a);

/* The TLS options connect and nc share. */
#define TLS_USAGE                                                                                  \
    "[--tls] [--cafile FILE] [--servername NAME] [--insecure]\n"                                   \
    "      [--alpn PROTO[,PROTO...]]"
#define TLS_OPTIONS "tls,cafile=,servername=,insecure,alpn="
#define TLS_HELP                                                                                   \
    "--tls speaks TLS and verifies the server\n"                                                   \
    "      (system CAs, or the CAs in --cafile; the name is HOST, or --servername);\n"             \
    "      --insecure skips verification (a warning says so); --alpn offers protocols.\n"          \
    "      --cafile, --servername, --insecure and --alpn imply --tls"

/* clang-format off */
const struct command netctl_commands[] = {
    {"call", "METHOD [JSON]", 1, 2, "", cmd_call,
     "call any method with a JSON params object (default {}); prints the result;\n"
     "      handles it creates are kept unless the params say \"keep\": false"},
    {"ping", "", 0, 0, "", cmd_ping, "check that netd answers"},
    {"resolve", "HOST [PORT] [--all] [--datagram]", 1, 2, "all,datagram", cmd_resolve,
     "resolve into address handles (kept); prints handle, family, host, port"},
    {"connect", "HOST PORT | --unix PATH [--bind HOST] [--bind-port PORT] [--datagram]\n"
     "      " TLS_USAGE,
     0, 2, "unix=,bind=,bind-port=,datagram," TLS_OPTIONS, cmd_connect,
     "open a connection (kept); prints its handle.\n      " TLS_HELP},
    {"listen", "[HOST] PORT | --unix PATH [--backlog N] [--datagram] [--loop]", 0, 2,
     "unix=,backlog=,datagram,loop", cmd_listen,
     "open a listener (kept); prints its handle. With --loop it then accepts every\n"
     "      connection, printing \"HANDLE PEER\" for each and \"HANDLE closed REASON\" when one\n"
     "      ends, until interrupted (exit 0) or the listener is closed (\"LISTENER closed\")"},
    {"accept", "H [--timeout S]", 1, 1, "timeout=", cmd_accept,
     "accept one connection on listener H (kept); prints its handle"},
    {"accept-loop", "H", 1, 1, "", cmd_accept_loop,
     "accept every connection on listener H, printing them as listen --loop does"},
    {"udp listen", "[HOST] PORT | --unix PATH", 0, 2, "unix=", cmd_udp_listen,
     "open a bound datagram socket (kept); prints its handle"},
    {"udp connect", "HOST PORT | --unix PATH [--bind HOST] [--bind-port PORT]", 0, 2,
     "unix=,bind=,bind-port=", cmd_udp_connect,
     "open a connected datagram socket (kept); prints its handle; `read` and\n"
     "      `write` on it move one datagram each"},
    {"udp send", "H (HOST PORT | --to ADDRESS | --unix PATH) TEXT|- [--timeout S]",
     2, 4, "to=,unix=,timeout=", cmd_udp_send,
     "send TEXT (or all of stdin for -) as one datagram from H; ADDRESS is an\n"
     "      address handle from `resolve --datagram`; prints bytes sent"},
    {"udp recv", "H [--max N] [--timeout S]", 1, 1, "max=,timeout=", cmd_udp_recv,
     "receive one datagram on H: the bytes raw to stdout, \"from HOST:PORT\" to stderr;\n"
     "      a datagram longer than --max (default 65536) is cut, and stderr says so"},
    {"read", "H N|all [--timeout S]", 2, 2, "timeout=", cmd_read,
     "read up to N bytes from H, raw to stdout"},
    {"chunk", "H N [--timeout S]", 2, 2, "timeout=", cmd_read,
     "read exactly N bytes (fewer at end of stream), raw to stdout"},
    {"cat", "H", 1, 1, "", cmd_cat, "copy H to stdout until end of stream"},
    {"write", "H TEXT | H - [--timeout S]", 2, 2, "timeout=", cmd_write,
     "write TEXT (or all of stdin for -) to H; prints bytes written"},
    {"flush", "H", 1, 1, "", cmd_simple, "send what netd buffered for H now"},
    {"shutdown", "H [r|w|rw]", 1, 2, "", cmd_shutdown,
     "shut down reading, writing (default: both) of H"},
    {"close", "H", 1, 1, "", cmd_simple, "close H"},
    {"cancel", "H", 1, 1, "", cmd_simple, "abort calls waiting on H; prints how many"},
    {"pending", "H", 1, 1, "", cmd_simple, "bytes netd holds for H not yet sent"},
    {"localname", "H", 1, 1, "", cmd_address_of, "local address of H"},
    {"peername", "H", 1, 1, "", cmd_address_of, "peer address of H"},
    {"status", "H", 1, 1, "", cmd_status,
     "state and counters of H; for TLS also version, cipher, ALPN, whether the\n"
     "      peer was verified, and its certificate's subject"},
    {"wait", "H resolved|connected|readable|writable|drained|error [--timeout S]", 2, 2,
     "timeout=", cmd_wait, "wait until H reaches a state; prints its status"},
    {"setsockopt", "H OPTION VALUE", 3, 3, "", cmd_setsockopt,
     "set a socket option of H; VALUE is JSON when it parses as JSON (true, 42,\n"
     "      null), otherwise a string (a multicast group: 239.1.1.1[@INTERFACE-ADDRESS])"},
    {"getsockopt", "H OPTION", 2, 2, "", cmd_getsockopt,
     "print a socket option of H as the kernel reports it"},
    {"keep", "H", 1, 1, "", cmd_simple, "keep H after this connection ends"},
    {"ls", "", 0, 0, "", cmd_ls, "list your handles"},
    {"stats", "", 0, 0, "", cmd_stats, "netd's daemon-wide figures"},
    {"addrs", "", 0, 0, "", cmd_addrs, "this host's interface addresses"},
    {"pair", "[--datagram]", 0, 0, "datagram", cmd_pair,
     "two connected unix sockets (kept); prints both handles, one a line"},
    {"assign", "[--fd N]", 0, 0, "fd=", cmd_assign,
     "hand netd the socket that is netctl's stdin (or descriptor N); prints its\n"
     "      handle (kept; on stderr when stdout is that socket). E.g.\n"
     "      `socat TCP-LISTEN:8080 EXEC:'netctl assign',nofork` for a connection, or\n"
     "      `systemd-socket-activate -l 8080 netctl assign --fd 3` for the listener"},
    {"release", "H -- COMMAND [ARGS...]", 2, INT_MAX, "", cmd_release,
     "take H's socket out of netd and run COMMAND with it as stdin and stdout;\n"
     "      H ends. Exit status: COMMAND's, or 127 when it cannot be run"},
    {"nc", "HOST PORT | --unix PATH " TLS_USAGE, 0, 2, "unix=," TLS_OPTIONS, cmd_nc,
     "netcat through netd: stdin to the connection, the connection to stdout;\n"
     "      TLS options as for connect"},
    {"starttls",
     "H [--server --cert FILE --key FILE] [--cafile FILE] [--servername NAME]\n"
     "      [--insecure] [--alpn PROTO[,PROTO...]] [--timeout S]",
     1, 1, "server,cert=,key=,cafile=,servername=,insecure,alpn=,timeout=", cmd_starttls,
     "start TLS on the plain stream H, as its client (default) or with --server;\n"
     "      prints the new handle (kept); H ends. Options as for connect; --cafile\n"
     "      with --server is the CA of client certificates"},
    {"help", "[COMMAND]", 0, 2, "", cmd_help, "show commands, or one command's usage"},
    {NULL, NULL, 0, 0, NULL, NULL, NULL},
};

/* Commands whose argument is one of a fixed set of words, which `help` lists. */
static const struct {
    const char *command;
    const char *const *words; /* NULL-terminated */
} arg_choices[] = {
    {"setsockopt", netd_sockopt_names},
    {"getsockopt", netd_sockopt_names},
};
/* clang-format on */

static const char global_usage[] =
    "usage: netctl [--socket NAME] [--json] [--timeout SECONDS] COMMAND [ARGS...]\n";

/*
 * Finds the row a command line names. Most commands are one word; those of
 * a group ("udp send") are two, so the group word can be shared.
 * Sets *words to how many of @argv the name took.
 */
static const struct command *command_find(int argc, char **argv, int *words)
{
    for (const struct command *c = netctl_commands; c->name; c++) {
        const char *sp = strchr(c->name, ' ');
        if (!sp && strcmp(c->name, argv[0]) == 0) {
            *words = 1;
            return c;
        }
        size_t glen = sp ? (size_t)(sp - c->name) : 0;
        if (sp && argc >= 2 && strncmp(c->name, argv[0], glen) == 0 && argv[0][glen] == '\0' &&
            strcmp(sp + 1, argv[1]) == 0) {
            *words = 2;
            return c;
        }
    }
    return NULL;
}

/* Whether @c belongs to the group of commands named by @word ("udp"). */
static bool in_group(const struct command *c, const char *word)
{
    size_t len = strlen(word);
    return strncmp(c->name, word, len) == 0 && c->name[len] == ' ';
}

static bool is_group(const char *word)
{
    for (const struct command *c = netctl_commands; c->name; c++)
        if (in_group(c, word))
            return true;
    return false;
}

static void print_command_usage(FILE *f, const struct command *c)
{
    fprintf(f, "usage: netctl %s%s%s\n", c->name, *c->usage ? " " : "", c->usage);
}

/* `netctl udp` alone or with a word that is none of its commands: what there is. */
static int group_usage(const char *group, const char *word)
{
    if (word)
        fprintf(stderr, "netctl: %s: no command \"%s %s\"; these are:\n", group, group, word);
    else
        fprintf(stderr, "netctl: %s: needs one of these commands:\n", group);
    for (const struct command *c = netctl_commands; c->name; c++)
        if (in_group(c, group))
            print_command_usage(stderr, c);
    return EXIT_USAGE;
}

/* Lists the words an argument takes, wrapped under the help text. */
static void print_choices(FILE *f, const char *const *choices)
{
    int col = fprintf(f, "      one of:");
    for (size_t i = 0; choices[i]; i++) {
        if (col + 1 + (int)strlen(choices[i]) > 78)
            col = fprintf(f, "\n       ");
        col += fprintf(f, " %s", choices[i]);
    }
    fputc('\n', f);
}

static void print_overview(FILE *f)
{
    fputs(global_usage, f);
    fputs("\nOptions:\n"
          "  --socket NAME      netd's control socket (default $NETD_SOCKET, else @netd)\n"
          "  --json             print results as the JSON netd sent (errors: JSON on stderr)\n"
          "  --timeout SECONDS  give up on any one answer from netd after SECONDS\n"
          "\nCommands:\n",
          f);
    for (const struct command *c = netctl_commands; c->name; c++)
        fprintf(f, "  %s %s\n      %s\n", c->name, c->usage, c->help);
    fputs("\nHandles netctl creates are kept, so later runs can use them; close them with\n"
          "`netctl close H`. `netctl help COMMAND` shows a command's arguments.\n"
          "Exit status: 0 success, 1 error answer or failure, 2 usage error.\n",
          f);
}

static void print_help(const struct command *c)
{
    print_command_usage(stdout, c);
    printf("      %s\n", c->help);
    for (size_t i = 0; i < sizeof arg_choices / sizeof *arg_choices; i++)
        if (strcmp(arg_choices[i].command, c->name) == 0)
            print_choices(stdout, arg_choices[i].words);
}

/* `help`, `help COMMAND`, `help GROUP` (every command of it) or `help GROUP COMMAND`. */
static int cmd_help(struct netctl *n, const struct args *a)
{
    if (a->argc == 0) {
        print_overview(stdout);
        return EXIT_OK;
    }
    int words = 0;
    const struct command *c = command_find(a->argc, a->argv, &words);
    if (c && words == a->argc) {
        print_help(c);
        return EXIT_OK;
    }
    if (a->argc == 1 && is_group(a->argv[0])) {
        for (c = netctl_commands; c->name; c++)
            if (in_group(c, a->argv[0]))
                print_help(c);
        return EXIT_OK;
    }
    return usage_error(n, "no command \"%s%s%s\"; `netctl help` lists them", a->argv[0],
                       a->argc > 1 ? " " : "", a->argc > 1 ? a->argv[1] : "");
}

int usage_error(struct netctl *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "netctl: %s%s", n->cmd ? n->cmd->name : "", n->cmd ? ": " : "");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (n->cmd)
        print_command_usage(stderr, n->cmd);
    else
        fputs(global_usage, stderr);
    return EXIT_USAGE;
}

int fail(struct netctl *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "netctl: %s: ", n->cmd->name);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_FAIL;
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
    if (*s && !*end && !errno && v >= 0 && v <= 65535)
        return json_integer(v);
    return json_string(s);
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

/* Parses the options before COMMAND. Returns the index of COMMAND, or -1 (usage printed). */
static int parse_globals(struct netctl *n, int argc, char **argv, int *exit_now)
{
    int i;
    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *v;
        double secs;
        if (strcmp(argv[i], "--help") == 0) {
            print_overview(stdout);
            *exit_now = EXIT_OK;
            return -1;
        } else if (strcmp(argv[i], "--json") == 0) {
            n->json = true;
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

int main(int argc, char **argv)
{
    struct netctl n = {.timeout_ms = -1};
    int rc = EXIT_OK;
    int first = parse_globals(&n, argc, argv, &rc);
    if (first < 0)
        return rc;
    int words = 0;
    n.cmd = command_find(argc - first, argv + first, &words);
    if (!n.cmd && is_group(argv[first]))
        return group_usage(argv[first], first + 1 < argc ? argv[first + 1] : NULL);
    if (!n.cmd) {
        fprintf(stderr, "netctl: no command \"%s\"; `netctl --help` lists them\n", argv[first]);
        return EXIT_USAGE;
    }
    struct args a;
    rc = parse_args(&n, argc - first - words, argv + first + words, &a);
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
    if (fflush(stdout) != 0 && rc == EXIT_OK) {
        fprintf(stderr, "netctl: %s: writing the output failed: %s\n", n.cmd->name,
                strerror(errno));
        rc = EXIT_FAIL;
    }
    return rc;
}
