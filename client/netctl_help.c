/*
 * netctl_help.c - netctl's command table and everything printed from it:
 * the overview (`netctl --help`), one command's help (`netctl CMD --help`,
 * `netctl help CMD`) with its options and an example, and the lists shown
 * after a wrong group command.
 *
 * Help is generated from the table and from one table of option
 * descriptions, so a command's help cannot list an option the parser does
 * not take, and the parser cannot take one its help leaves out.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "methods.h"
#include "netctl.h"

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
     "      handles it creates are kept unless the params say \"keep\": false",
     "netctl call address '{\"host\": \"localhost\", \"port\": 7007}'"},
    {"ping", "", 0, 0, "", cmd_ping, "check that netd answers", "netctl ping"},
    {"resolve", "HOST [PORT] [--all] [--datagram]", 1, 2, "all,datagram", cmd_resolve,
     "resolve into address handles (kept); prints handle, family, host, port",
     "netctl resolve localhost 7007 --all"},
    {"connect", "HOST PORT | --unix PATH [--bind HOST] [--bind-port PORT] [--datagram]\n"
     "      " TLS_USAGE,
     0, 2, "unix=,bind=,bind-port=,datagram," TLS_OPTIONS, cmd_connect,
     "open a connection (kept); prints its handle.\n      " TLS_HELP,
     "H=$(netctl connect localhost 7007)"},
    {"listen", "[HOST] PORT | --unix PATH [--backlog N] [--datagram] [--loop]", 0, 2,
     "unix=,backlog=,datagram,loop", cmd_listen,
     "open a listener (kept); prints its handle. With --loop it then accepts every\n"
     "      connection, printing \"HANDLE PEER\" for each and \"HANDLE closed REASON\" when one\n"
     "      ends, until interrupted (exit 0) or the listener is closed (\"LISTENER closed\")",
     "L=$(netctl listen 127.0.0.1 8080)"},
    {"accept", "H [--timeout S]", 1, 1, "timeout=", cmd_accept,
     "accept one connection on listener H (kept); prints its handle",
     "C=$(netctl accept \"$L\" --timeout 30)"},
    {"accept-loop", "H", 1, 1, "", cmd_accept_loop,
     "accept every connection on listener H, printing them as listen --loop does",
     "netctl accept-loop \"$L\""},
    {"udp listen", "[HOST] PORT | --unix PATH", 0, 2, "unix=", cmd_udp_listen,
     "open a bound datagram socket (kept); prints its handle",
     "U=$(netctl udp listen 127.0.0.1 5353)"},
    {"udp connect", "HOST PORT | --unix PATH [--bind HOST] [--bind-port PORT]", 0, 2,
     "unix=,bind=,bind-port=", cmd_udp_connect,
     "open a connected datagram socket (kept); prints its handle; `read` and\n"
     "      `write` on it move one datagram each",
     "U=$(netctl udp connect 127.0.0.1 5354)"},
    {"udp send", "H (HOST PORT | --to ADDRESS | --unix PATH) TEXT|- [--timeout S]",
     2, 4, "to=,unix=,timeout=", cmd_udp_send,
     "send TEXT (or all of stdin for -) as one datagram from H; ADDRESS is an\n"
     "      address handle from `resolve --datagram`; prints bytes sent",
     "netctl udp send \"$U\" 127.0.0.1 5354 ping"},
    {"udp recv", "H [--max N] [--timeout S]", 1, 1, "max=,timeout=", cmd_udp_recv,
     "receive one datagram on H: the bytes raw to stdout, \"from HOST:PORT\" to stderr;\n"
     "      a datagram longer than --max (default 65536) is cut, and stderr says so",
     "netctl udp recv \"$U\" --timeout 5 > datagram.bin"},
    {"read", "H N|all [--timeout S]", 2, 2, "timeout=", cmd_read,
     "read up to N bytes from H, raw to stdout", "netctl read \"$H\" 100 --timeout 5"},
    {"chunk", "H N [--timeout S]", 2, 2, "timeout=", cmd_read,
     "read exactly N bytes (fewer at end of stream), raw to stdout",
     "netctl chunk \"$H\" 4 --timeout 5 | od -c"},
    {"cat", "H", 1, 1, "", cmd_cat,
     "copy H to stdout until end of stream, through `attach` (H ends with it;\n"
     "      a netd without attach is read with `read` calls and H stays)",
     "netctl cat \"$H\" > received.bin"},
    {"write", "H TEXT | H - [--timeout S]", 2, 2, "timeout=", cmd_write,
     "write TEXT (or all of stdin for -) to H; prints bytes written",
     "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | netctl write \"$H\" -"},
    {"flush", "H", 1, 1, "", cmd_simple, "send what netd buffered for H now",
     "netctl flush \"$H\""},
    {"shutdown", "H [r|w|rw]", 1, 2, "", cmd_shutdown,
     "shut down reading, writing (default: both) of H", "netctl shutdown \"$H\" w"},
    {"close", "H", 1, 1, "", cmd_simple, "close H", "netctl close \"$H\""},
    {"cancel", "H", 1, 1, "", cmd_simple, "abort calls waiting on H; prints how many",
     "netctl cancel \"$H\""},
    {"pending", "H", 1, 1, "", cmd_simple, "bytes netd holds for H not yet sent",
     "netctl pending \"$H\""},
    {"localname", "H", 1, 1, "", cmd_address_of, "local address of H",
     "netctl localname \"$L\""},
    {"peername", "H", 1, 1, "", cmd_address_of, "peer address of H",
     "netctl peername \"$H\""},
    {"status", "H", 1, 1, "", cmd_status,
     "state and counters of H; for TLS also version, cipher, ALPN, whether the\n"
     "      peer was verified, and its certificate's subject",
     "netctl status \"$H\""},
    {"wait", "H resolved|connected|readable|writable|drained|error [--timeout S]", 2, 2,
     "timeout=", cmd_wait, "wait until H reaches a state; prints its status",
     "netctl wait \"$H\" readable --timeout 10"},
    {"setsockopt", "H OPTION VALUE", 3, 3, "", cmd_setsockopt,
     "set a socket option of H; VALUE is JSON when it parses as JSON (true, 42,\n"
     "      null), otherwise a string (a multicast group: 239.1.1.1[@INTERFACE-ADDRESS])",
     "netctl setsockopt \"$U\" ip-ttl 42"},
    {"getsockopt", "H OPTION", 2, 2, "", cmd_getsockopt,
     "print a socket option of H as the kernel reports it",
     "netctl getsockopt \"$U\" ip-ttl"},
    {"keep", "H", 1, 1, "", cmd_simple, "keep H after this connection ends",
     "netctl keep \"$H\""},
    {"ls", "[--no-legend]", 0, 0, "no-legend", cmd_ls,
     "list your handles: handle, kind, state, local and remote address, bytes in\n"
     "      and out, kept; a table on a terminal, else tab-separated without a header",
     "netctl ls --no-legend | cut -f1"},
    {"stats", "", 0, 0, "", cmd_stats, "netd's daemon-wide figures", "netctl stats"},
    {"addrs", "[--no-legend]", 0, 0, "no-legend", cmd_addrs,
     "this host's interface addresses: interface, family, address, flags; a\n"
     "      table on a terminal, else tab-separated without a header",
     "netctl addrs | awk -F'\\t' '$2 == \"inet\" {print $3}'"},
    {"pair", "[--datagram]", 0, 0, "datagram", cmd_pair,
     "two connected unix sockets (kept); prints both handles, one a line",
     "set -- $(netctl pair); A=$1 B=$2"},
    {"assign", "[--fd N]", 0, 0, "fd=", cmd_assign,
     "hand netd the socket that is netctl's stdin (or descriptor N); prints its\n"
     "      handle (kept; on stderr when stdout is that socket). E.g.\n"
     "      `socat TCP-LISTEN:8080 EXEC:'netctl assign',nofork` for a connection, or\n"
     "      `systemd-socket-activate -l 8080 netctl assign --fd 3` for the listener",
     "socat TCP-LISTEN:8082 EXEC:'netctl assign',nofork"},
    {"release", "H -- COMMAND [ARGS...]", 2, INT_MAX, "", cmd_release,
     "take H's socket out of netd and run COMMAND with it as stdin and stdout;\n"
     "      H ends. Exit status: COMMAND's, or 127 when it cannot be run",
     "netctl release \"$H\" -- sh -c 'echo hi'"},
    {"nc", "HOST PORT | --unix PATH " TLS_USAGE, 0, 2, "unix=," TLS_OPTIONS, cmd_nc,
     "netcat through netd: stdin to the connection, the connection to stdout,\n"
     "      relayed by `attach` without JSON; the end of stdin half-closes the\n"
     "      connection; it ends when both sides have. TLS options as for connect",
     "echo hi | netctl nc localhost 7007"},
    {"attach", "H -- COMMAND [ARGS...]", 2, INT_MAX, "", cmd_attach,
     "run COMMAND with stdin and stdout on H's bytes (plaintext for a TLS stream)\n"
     "      while netd keeps the socket (`attach` mode fd); H ends when both sides\n"
     "      have ended. Exit status: COMMAND's, or 127 when it cannot be run",
     "netctl attach \"$H\" -- sh -c 'echo hi; head -n 1'"},
    {"proxy",
     "LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT [--tls-cert FILE --tls-key FILE]\n"
     "      " TLS_USAGE,
     4, 4, TLS_OPTIONS ",tls-cert=,tls-key=", cmd_proxy,
     "accept connections on LISTEN_HOST LISTEN_PORT and splice each to a new\n"
     "      connection to TARGET_HOST TARGET_PORT, until interrupted. --tls-cert and\n"
     "      --tls-key terminate TLS on the listener; " TLS_HELP ".\n"
     "      Prints the listener, then \"HANDLE PEER TARGET_HANDLE\" per connection and\n"
     "      \"HANDLE closed REASON BYTES_IN BYTES_OUT\" when its splice ends",
     "netctl proxy 127.0.0.1 8443 127.0.0.1 8080 --tls-cert cert.pem --tls-key key.pem"},
    {"starttls",
     "H [--server --cert FILE --key FILE] [--cafile FILE] [--servername NAME]\n"
     "      [--insecure] [--alpn PROTO[,PROTO...]] [--timeout S]",
     1, 1, "server,cert=,key=,cafile=,servername=,insecure,alpn=,timeout=", cmd_starttls,
     "start TLS on the plain stream H, as its client (default) or with --server;\n"
     "      prints the new handle (kept); H ends. Options as for connect; --cafile\n"
     "      with --server is the CA of client certificates",
     "T=$(netctl starttls \"$H\" --servername example.org)"},
    {"monitor", "[--count N]", 0, 0, "count=", cmd_monitor,
     "show each request netd finishes, live, one line each: time, method, handle,\n"
     "      outcome, duration, uid and pid; your uid's requests (root: everyone's).\n"
     "      Events netd had to drop because netctl did not keep up are counted on a\n"
     "      line of their own; --json prints netd's event objects. Runs until\n"
     "      interrupted (exit 0) or N events were shown",
     "netctl monitor --count 10"},
    {"methods", "[--no-legend]", 0, 0, "no-legend", cmd_methods,
     "the methods this netd serves, one a line with its summary (from rpc.discover)",
     "netctl methods"},
    {"describe", "METHOD", 1, 1, "", cmd_describe,
     "one method of this netd: its parameters with their types and whether they\n"
     "      are required, its result and its errors (from rpc.discover)",
     "netctl describe read"},
    {"policy explain", "OP [HOST] PORT | OP --unix PATH [--uid U] [--bind HOST] [--bind-port PORT]\n"
     "      [--datagram]",
     1, 3, "unix=,uid=,bind=,bind-port=,datagram", cmd_policy_explain,
     "ask netd's policy whether OP (connect, listen or send-to) would be allowed,\n"
     "      without doing it: prints \"allowed\" or \"denied\" with the deciding rule, then\n"
     "      every address HOST resolves to with its own verdict (and connect's --bind);\n"
     "      exit 0 if allowed, 1 if denied. --uid asks about another user (root only)",
     "netctl policy explain connect example.org 443 --uid 1000"},
    {"help", "[COMMAND]", 0, 2, "", netctl_cmd_help, "show commands, or one command's help",
     "netctl help udp send"},
    {NULL, NULL, 0, 0, NULL, NULL, NULL, NULL},
};

/*
 * What each option of the table does. The value's placeholder is the one
 * the usage lines use; a command whose option is missing here shows it
 * "(undocumented)", which the tests refuse.
 */
static const struct {
    const char *name, *value, *text;
} option_help[] = {
    {"all", NULL, "every address the name has, not only the first"},
    {"datagram", NULL, "a datagram socket instead of a stream"},
    {"unix", "PATH", "a unix socket path instead of HOST PORT (@NAME: abstract)"},
    {"bind", "HOST", "bind the local end to HOST before connecting"},
    {"bind-port", "PORT", "bind the local end to PORT before connecting"},
    {"backlog", "N", "connections the kernel queues before accept (1 to 65535)"},
    {"loop", NULL, "then accept every connection, one line each, until interrupted"},
    {"tls", NULL, "speak TLS and verify the server (system CAs, or --cafile)"},
    {"cafile", "FILE", "trust the CAs in FILE, a path netd opens"},
    {"servername", "NAME", "the name to send (SNI) and to verify instead of HOST"},
    {"insecure", NULL, "do not verify the server's certificate (a warning says so)"},
    {"alpn", "PROTO[,PROTO...]", "offer these application protocols, in this order"},
    {"server", NULL, "be the TLS server of the stream (needs --cert and --key)"},
    {"cert", "FILE", "the server's certificate chain (PEM), a path netd opens"},
    {"key", "FILE", "the server's private key (PEM), a path netd opens"},
    {"timeout", "S", "netd gives up after S seconds (fractions allowed; 0: no waiting)"},
    {"to", "ADDRESS", "send to an address handle (from `resolve --datagram`)"},
    {"max", "N", "the longest datagram to take whole (default 65536)"},
    {"fd", "N", "pass descriptor N instead of stdin"},
    {"tls-cert", "FILE", "terminate TLS with this certificate chain (PEM), a path netd opens"},
    {"tls-key", "FILE", "the private key (PEM) of --tls-cert, a path netd opens"},
    {"no-legend", NULL, "tab-separated, without the header line, even on a terminal"},
    {"uid", "U", "ask about user U (a uid or a name) instead of yourself: root only"},
    {"count", "N", "stop after N events"},
};

static const char *const policy_ops[] = {"connect", "listen", "send-to", NULL};

/* Commands whose argument is one of a fixed set of words, which `help` lists. */
static const struct {
    const char *command;
    const char *const *words; /* NULL-terminated */
} arg_choices[] = {
    {"setsockopt", netd_sockopt_names},
    {"getsockopt", netd_sockopt_names},
    {"policy explain", policy_ops},
};
/* clang-format on */

const char netctl_global_usage[] =
    "usage: netctl [--socket NAME] [--json[=pretty|short]] [--no-legend] [--timeout SECONDS]\n"
    "              COMMAND [ARGS...]\n";

const struct command *command_find(int argc, char **argv, int *words)
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

bool is_group(const char *word)
{
    for (const struct command *c = netctl_commands; c->name; c++)
        if (in_group(c, word))
            return true;
    return false;
}

void print_command_usage(FILE *f, const struct command *c)
{
    fprintf(f, "usage: netctl %s%s%s\n", c->name, *c->usage ? " " : "", c->usage);
}

int group_usage(struct netctl *n, const char *group, const char *word)
{
    char msg[1024];
    int len;
    if (word)
        len = snprintf(msg, sizeof msg, "%s: no command \"%s %s\"; these are:", group, group, word);
    else
        len = snprintf(msg, sizeof msg, "%s: needs one of these commands:", group);
    for (const struct command *c = netctl_commands; c->name; c++)
        if (in_group(c, group) && len > 0 && (size_t)len < sizeof msg)
            len += snprintf(msg + len, sizeof msg - (size_t)len, "\n  netctl %s %s", c->name,
                            c->usage);
    netctl_say(n, "usage", 0, msg);
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

void print_overview(FILE *f)
{
    fputs(netctl_global_usage, f);
    fputs("\nOptions:\n"
          "  --socket NAME        netd's control socket (default $NETD_SOCKET, else @netd)\n"
          "  --json[=short]       print results as the JSON netd sent, one line each; an\n"
          "                       error is then one JSON object on stderr and nothing else\n"
          "  --json=pretty        the same, indented\n"
          "  --no-legend          tables (ls, addrs, methods) tab-separated without a\n"
          "                       header, as they are whenever stdout is not a terminal\n"
          "  --timeout SECONDS    give up on any one answer from netd after SECONDS\n"
          "  -h, --help           this text; `netctl COMMAND --help` for one command\n"
          "  --version            netctl's version\n"
          "\nCommands:\n",
          f);
    for (const struct command *c = netctl_commands; c->name; c++)
        fprintf(f, "  %s %s\n      %s\n", c->name, c->usage, c->help);
    fputs("\nHandles netctl creates are kept, so later runs can use them; close them with\n"
          "`netctl close H`. `--` ends a command's options (`netctl write \"$H\" -- -h`).\n"
          "Exit status: 0 success, 1 error answer or failure, 2 usage error.\n",
          f);
}

/* The index of option --@name in option_help[], or -1. */
static int option_index(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof option_help / sizeof *option_help; i++)
        if (strlen(option_help[i].name) == len && strncmp(option_help[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

/* "  --name VALUE         text", aligned like the overview's options. */
static void print_option(FILE *f, const char *name, size_t len)
{
    int i = option_index(name, len);
    char left[64];
    snprintf(left, sizeof left, "--%.*s%s%s", (int)len, name,
             i >= 0 && option_help[i].value ? " " : "",
             i >= 0 && option_help[i].value ? option_help[i].value : "");
    const char *text = i >= 0 ? option_help[i].text : "(undocumented)";
    if (strlen(left) > 20)
        fprintf(f, "  %s\n  %-20s %s\n", left, "", text);
    else
        fprintf(f, "  %-20s %s\n", left, text);
}

void print_help(FILE *f, const struct command *c)
{
    print_command_usage(f, c);
    fprintf(f, "\n      %s\n", c->help);
    for (size_t i = 0; i < sizeof arg_choices / sizeof *arg_choices; i++)
        if (strcmp(arg_choices[i].command, c->name) == 0)
            print_choices(f, arg_choices[i].words);
    fputs("\nOptions:\n", f);
    for (const char *p = c->options; *p;) {
        size_t k = strcspn(p, ",=");
        print_option(f, p, k);
        p += k;
        p += *p == '=';
        p += *p == ',';
    }
    fprintf(f, "  %-20s %s\n", "-h, --help", "this help");
    fprintf(f, "\nExample:\n  %s\n", c->example);
}

/* `help`, `help COMMAND`, `help GROUP` (every command of it) or `help GROUP COMMAND`. */
int netctl_cmd_help(struct netctl *n, const struct args *a)
{
    if (a->argc == 0) {
        print_overview(stdout);
        return EXIT_OK;
    }
    int words = 0;
    const struct command *c = command_find(a->argc, a->argv, &words);
    if (c && words == a->argc) {
        print_help(stdout, c);
        return EXIT_OK;
    }
    if (a->argc == 1 && is_group(a->argv[0])) {
        print_group_help(a->argv[0]);
        return EXIT_OK;
    }
    return usage_error(n, "no command \"%s%s%s\"; `netctl help` lists them", a->argv[0],
                       a->argc > 1 ? " " : "", a->argc > 1 ? a->argv[1] : "");
}

void print_group_help(const char *group)
{
    const char *sep = "";
    for (const struct command *c = netctl_commands; c->name; c++)
        if (in_group(c, group)) {
            fputs(sep, stdout);
            print_help(stdout, c);
            sep = "\n";
        }
}
