/*
 * netctl.h - what netctl's files share: the run's settings, parsed command
 * arguments, the command table, and the helpers every command uses to call
 * netd and to print results and errors.
 */
#ifndef NETCTL_H
#define NETCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "netd.h"

/* Exit statuses: success, an error answer or failure, a usage error; and
 * as a shell's, COMMAND could not be run (release, attach). */
enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_NOEXEC = 126, EXIT_NOTFOUND = 127 };

#define NETCTL_MAX_OPTS 12

/* One run of netctl: global options and the control connection. */
struct netctl {
    const char *socket;  /* the name asked for, for messages */
    netd_client *client; /* NULL until the command needs netd */
    bool json;           /* --json: print result JSON as netd sent it, errors as one object */
    bool no_legend;      /* --no-legend: tables tab-separated without a header, even on a tty */
    int timeout_ms;      /* --timeout: longest wait for one answer; -1 none */
    const struct command *cmd;
    char target[300];      /* what the command talks to ("127.0.0.1:8080"), for hints */
    bool target_is_handle; /* target is a handle name, not an address */
    char host[256];        /* the HOST and PORT arguments apart, for resolver hints; "" if none */
    char port[64];
    /* A warning that, under --json, waits until the call succeeded, so that a
     * failure leaves nothing on stderr but its error object. */
    const char *warning;
};

/* A command's arguments after its options were taken out. */
struct args {
    int argc;
    char **argv;
    int nopts;
    int dashdash; /* index in argv of the first word after "--", or -1 if none came */
    struct {
        const char *name;  /* without the leading "--" */
        const char *value; /* NULL for a flag */
    } opts[NETCTL_MAX_OPTS];
};

struct command {
    const char *name;
    const char *usage; /* arguments after the name */
    int min_args, max_args;
    /* Options it takes, comma separated; "name=" takes a value. */
    const char *options;
    int (*run)(struct netctl *n, const struct args *a);
    const char *help;
    const char *example; /* one command line that works, shown by --help */
};

/* ---- netctl_help.c: the command table and what is printed from it ---- */

/** The command table, ended by an entry with a NULL name. */
extern const struct command netctl_commands[];

/** The first line(s) of netctl's usage, for usage errors without a command. */
extern const char netctl_global_usage[];

/**
 * Finds the row a command line names. Most commands are one word; those of
 * a group ("udp send") are two, so the group word can be shared.
 * Sets *words to how many of @argv the name took. NULL if none.
 */
const struct command *command_find(int argc, char **argv, int *words);

/** Whether @word names a group of commands ("udp"). */
bool is_group(const char *word);

/** "usage: netctl NAME USAGE" to @f. */
void print_command_usage(FILE *f, const struct command *c);

/** A group named alone or with a word that is none of its commands: what there is. EXIT_USAGE. */
int group_usage(struct netctl *n, const char *group, const char *word);

/** `netctl --help`: global options and every command. */
void print_overview(FILE *f);

/** One command's help: usage, what it does, its options, an example. */
void print_help(FILE *f, const struct command *c);

/** The help of every command of @group, to stdout. */
void print_group_help(const char *group);

int netctl_cmd_help(struct netctl *n, const struct args *a);

/* ---- netctl.c ---- */

/** Prints "netctl: CMD: MESSAGE" and the command's usage to stderr; returns EXIT_USAGE. */
int usage_error(struct netctl *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Prints "netctl: CMD: MESSAGE" to stderr; returns EXIT_FAIL. */
int fail(struct netctl *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Prints one of netctl's own errors (@kind "usage" or "failure") with an
 * optional errno (0: none): "netctl: CMD: MESSAGE" for people or, under
 * --json, the single object {"netctl": KIND, "command": CMD, "message":
 * MESSAGE, "data": {"errno": NAME}}. Returns nothing; callers pick the exit.
 */
void netctl_say(struct netctl *n, const char *kind, int err, const char *msg);

/** Whether tables print tab-separated without a header: --no-legend, or stdout is no terminal. */
bool plain_tables(const struct netctl *n);

/* ---- netctl_call.c: talking to netd ---- */

/** Connects to netd if not yet done; prints why not and returns -1 on failure. */
int netctl_connect(struct netctl *n);

/**
 * Calls @method with @params (stolen) and waits for the answer within
 * --timeout. Returns 0 with *result set (new reference; may be NULL if
 * the caller does not want it), or EXIT_FAIL after printing the error.
 */
int netctl_call(struct netctl *n, const char *method, json_t *params, json_t **result);

/**
 * Prints an error answer of @method to stderr: netd's message, the errno
 * or resolver name, and what to try next. In --json mode the error object
 * follows on its own line. Returns EXIT_FAIL.
 */
int netctl_report(struct netctl *n, const char *method, const json_t *error);

/**
 * Like netctl_call(), and passes descriptor @send_fd with the request when
 * it is >= 0 (for "assign"). When @recv_fd is not NULL it is set to the
 * descriptor netd passed with the answer (now the caller's), or -1 if none
 * came (for "release").
 */
int netctl_call_fd(struct netctl *n, const char *method, json_t *params, int send_fd,
                   json_t **result, int *recv_fd);

/** Prints why waiting for an answer failed (@err an errno of the library). Returns EXIT_FAIL. */
int netctl_lost(struct netctl *n, const char *method, int err);

/* ---- netctl_cmds.c: shared by the commands ---- */

/**
 * netctl_call() with the command's own --timeout (from @a, which may be
 * NULL) passed on to netd as the call's "timeout". @params is stolen even
 * when the option is bad (EXIT_USAGE).
 */
int netctl_call_timed(struct netctl *n, const struct args *a, const char *method, json_t *params,
                      json_t **result);

/**
 * call_and_print() with the command's own --timeout, as netctl_call_timed().
 */
int call_timed_and_print(struct netctl *n, const struct args *a, const char *method, json_t *params,
                         void (*human)(const json_t *result));

/**
 * Calls @method with @params (stolen) and prints the result: as JSON with
 * --json, else with @human (nothing when NULL). 0, or EXIT_FAIL.
 */
int call_and_print(struct netctl *n, const char *method, json_t *params,
                   void (*human)(const json_t *result));

/** Prints the "handle" of a result on its own line. */
void print_handle(const json_t *res);

/* ---- netctl_print.c: output ---- */

/** Prints @v to stdout in the --json form: one line, or indented after --json=pretty. */
void print_json(const json_t *v);

/** The same to @f. */
void print_json_to(FILE *f, const json_t *v);

/** Chooses indented (--json=pretty) or one-line (--json, --json=short) JSON output. */
void print_json_pretty(bool on);

/**
 * Formats an address object as "host:port", "[v6]:port" or a path into
 * @out; "-" when there is none (NULL, or an unnamed unix socket).
 */
const char *format_address(const json_t *addr, char *out, size_t len);

/** Prints an object as "key: value" lines; nested addresses and errors in words. */
void print_fields(const json_t *obj);

/** Prints the "handles" result as a table; @plain: tab-separated, no header. */
void print_handle_table(const json_t *handles, bool plain);

/**
 * Decodes the "data" of a read result into a new malloc'd buffer (the
 * caller frees it). Returns 0, or -1 when netd sent something undecodable.
 */
int result_bytes(const json_t *result, uint8_t **out, size_t *len);

/** Writes all of @p to descriptor @fd, retrying after signals. 0, or -1 with errno. */
int write_all(int fd, const void *p, size_t n);

/* Progress of a long transfer, shown on stderr only when it is a terminal. */
struct progress {
    bool on;
    double last; /* monotonic seconds of the last update */
};

void progress_init(struct progress *p);
void progress_show(struct progress *p, uint64_t in, uint64_t out, bool force);
void progress_end(struct progress *p);

/* ---- argument helpers (netctl.c) ---- */

/** The value of option --@name, "" for a flag that was given, or NULL if absent. */
const char *opt_get(const struct args *a, const char *name);

/**
 * Parses a port: an integer 0..65535 becomes a JSON integer, a name stays a
 * string. NULL for a number out of that range ("-1", "99999"), which no
 * service name looks like.
 */
json_t *port_json(const char *s);

/** port_json() for the argument or option @what; a usage error (*rc EXIT_USAGE) when bad. */
json_t *port_arg(struct netctl *n, const char *what, const char *s, int *rc);

/**
 * @path as netd needs it (contract section 9, "Paths"): an absolute path
 * stays, "@name" too when @abstract_ok (a unix socket), and a relative
 * path is joined to netctl's working directory. A new JSON string, or NULL
 * with errno set when the working directory cannot be read.
 */
json_t *path_json(const char *path, bool abstract_ok);

/** Parses seconds (>= 0, fractions allowed) into *out. 0, or -1 if @s is not such a number. */
int parse_seconds(const char *s, double *out);

/** Parses a positive byte count into *out. 0, or -1. */
int parse_count(const char *s, long long *out);

/** Adds "timeout" to @params from --timeout of the command, if given and valid; EXIT_USAGE if
 * invalid, else 0. */
int add_timeout_opt(struct netctl *n, const struct args *a, json_t *params);

/* ---- commands: netctl_cmds.c, _stream.c, _loop.c, _dgram.c, _fd.c ---- */

/**
 * Sets "host" and "port", or "path" from --unix, on @p from a command's
 * arguments (with @host_optional a lone PORT is accepted), and names the
 * destination in n->target for error hints. 0, or EXIT_USAGE (printed).
 */
int add_destination(struct netctl *n, const struct args *a, json_t *p, bool host_optional);

int cmd_call(struct netctl *n, const struct args *a);
int cmd_ping(struct netctl *n, const struct args *a);
int cmd_resolve(struct netctl *n, const struct args *a);
int cmd_connect(struct netctl *n, const struct args *a);
int cmd_listen(struct netctl *n, const struct args *a);
int cmd_accept(struct netctl *n, const struct args *a);
int cmd_read(struct netctl *n, const struct args *a);
int cmd_write(struct netctl *n, const struct args *a);
int cmd_simple(struct netctl *n, const struct args *a);
int cmd_shutdown(struct netctl *n, const struct args *a);
int cmd_address_of(struct netctl *n, const struct args *a);
int cmd_status(struct netctl *n, const struct args *a);
int cmd_wait(struct netctl *n, const struct args *a);
int cmd_ls(struct netctl *n, const struct args *a);
int cmd_stats(struct netctl *n, const struct args *a);
int cmd_cat(struct netctl *n, const struct args *a);
int cmd_nc(struct netctl *n, const struct args *a);
int cmd_setsockopt(struct netctl *n, const struct args *a);
int cmd_getsockopt(struct netctl *n, const struct args *a);
int cmd_addrs(struct netctl *n, const struct args *a);

/* ---- netctl_discover.c: what the running netd offers, from rpc.discover ---- */

int cmd_methods(struct netctl *n, const struct args *a);
int cmd_describe(struct netctl *n, const struct args *a);

/* ---- netctl_tls.c ---- */

/**
 * Adds "tls" to connect's @params from --tls, --cafile, --servername,
 * --insecure and --alpn (any but --tls implies it; --insecure warns on
 * stderr). Nothing when none is given. 0, or EXIT_USAGE (printed).
 */
int add_tls_opts(struct netctl *n, const struct args *a, json_t *params);

/** Prints a status result as print_fields() does, with its TLS part in words. */
void print_status(const json_t *res);

/**
 * What to try after a -32008 tls error with @data: by data.verify, an
 * alert or truncation; written into @buf when it names the target.
 */
const char *tls_hint(const struct netctl *n, const json_t *data, char *buf, size_t len);

int cmd_starttls(struct netctl *n, const struct args *a);

/**
 * Follows the accept loop of a listener until it closes or netctl is
 * interrupted: `listen --loop` (with @params the listen params, through
 * `server`) when @listener is NULL, else `accept-loop` on @listener.
 */
int netctl_follow(struct netctl *n, json_t *params, const char *listener);
int cmd_accept_loop(struct netctl *n, const struct args *a);

/* ---- netctl_monitor.c ---- */

int cmd_monitor(struct netctl *n, const struct args *a);

int cmd_udp_listen(struct netctl *n, const struct args *a);
int cmd_udp_connect(struct netctl *n, const struct args *a);
int cmd_udp_send(struct netctl *n, const struct args *a);
int cmd_udp_recv(struct netctl *n, const struct args *a);

int cmd_pair(struct netctl *n, const struct args *a);
int cmd_assign(struct netctl *n, const struct args *a);
int cmd_release(struct netctl *n, const struct args *a);

/**
 * Finds COMMAND as execvp() would, so that a mistyped name fails before a
 * socket is handed over. 0, or -1 with errno ENOENT or EACCES.
 */
int command_runnable(const char *cmd);
/** Puts @fd (taken) on stdin and stdout and becomes @argv; returns only on failure. */
int run_on_socket(struct netctl *n, int fd, char **argv);

/* ---- netctl_loop.c: signals for the commands that run until interrupted ---- */

/** Routes SIGINT and SIGTERM into a pipe (netctl_signal_fd); SIGPIPE is ignored. 0 or -1. */
int netctl_signals_catch(void);
/** The read end of that pipe: readable once a signal came. */
int netctl_signal_fd(void);

/* ---- netctl_relay.c: the data plane ---- */

/** What netctl_attach_fd() returns when netd has no `attach` (-32601): nothing was printed. */
#define ATTACH_MISSING 3
/**
 * attach {handle: @h, mode: "fd"}: sets *@fd to the descriptor that came
 * with the answer (the caller's). 0, ATTACH_MISSING, or EXIT_FAIL (printed).
 */
int netctl_attach_fd(struct netctl *n, const char *h, int *fd);
/**
 * Copies attached @fd to stdout until it ends and, with @from_stdin, stdin
 * to @fd at the same time (its end becomes a half-close). Closes @fd.
 * 0 or EXIT_FAIL.
 */
int netctl_copy_attached(struct netctl *n, int fd, bool from_stdin);
int cmd_attach(struct netctl *n, const struct args *a);
int cmd_proxy(struct netctl *n, const struct args *a);

int cmd_policy_explain(struct netctl *n, const struct args *a);

#endif
