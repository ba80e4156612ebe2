/*
 * test_netctl_conventions.c - what netctl promises every command: --help
 * and -h on stdout with exit 0 (usage, every option described, an
 * example), --version agreeing with netd's and with rpc.discover,
 * --json=pretty|short, tables tab-separated without a header into a pipe
 * or with --no-legend (and aligned under a header on a terminal, seen
 * through a pseudo-terminal), one JSON object per error under --json,
 * `methods` and `describe` against the live rpc.discover, and hints that
 * blame the port when the port is wrong.
 */
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netctl_run.h"

#define MAX_COMMANDS 64

/* The command names of `netctl --help`: each "  NAME USAGE" line under "Commands:". */
static int command_names(char names[][32])
{
    struct run r = expect_run(NULL, 0, "--help");
    const char *p = strstr(r.out, "\nCommands:\n");
    assert_non_null(p);
    p += strlen("\nCommands:\n");
    int n = 0;
    while (*p && *p != '\n') {
        size_t len = strcspn(p, "\n");
        if (len > 2 && p[0] == ' ' && p[1] == ' ' && p[2] != ' ') {
            /* The name is the leading words of lower-case letters and dashes. */
            const char *w = p + 2;
            size_t k = 0;
            while (w[k] && w[k] != '\n') {
                size_t wl = strspn(w + k, "abcdefghijklmnopqrstuvwxyz-");
                if (wl == 0 || (w[k + wl] != ' ' && w[k + wl] != '\n'))
                    break;
                k += wl;
                if (w[k] != ' ')
                    break;
                k++;
            }
            while (k > 0 && w[k - 1] == ' ')
                k--;
            assert_true(n < MAX_COMMANDS && k > 0 && k < 32);
            memcpy(names[n], w, k);
            names[n][k] = '\0';
            n++;
        }
        p += len + (p[len] == '\n');
    }
    run_free(&r);
    return n;
}

/* Runs `netctl NAME... FLAG` (NAME split at its space) with no netd anywhere. */
static struct run help_of(const char *name, const char *flag)
{
    char first[32];
    const char *sp = strchr(name, ' ');
    snprintf(first, sizeof first, "%.*s", sp ? (int)(sp - name) : (int)strlen(name), name);
    const char *args[] = {first, sp ? sp + 1 : flag, sp ? flag : NULL, NULL};
    return netctl("@netd-test-nobody-listens-here", args);
}

/* Whether @text, up to @end, names the option --@name (and not a longer one). */
static int names_option(const char *text, const char *end, const char *name, size_t len)
{
    for (const char *p = text; (p = strstr(p, "--")) && p < end; p += 2)
        if (strncmp(p + 2, name, len) == 0 && !strchr("abcdefghijklmnopqrstuvwxyz-", p[2 + len]))
            return 1;
    return 0;
}

/*
 * The usage (up to the first blank line) and the Options section name the
 * same options, each described, and the example uses the command.
 */
static void expect_options_described(const char *name, const char *help)
{
    const char *usage_end = strstr(help, "\n\n");
    const char *opts = strstr(help, "\nOptions:\n");
    const char *example = strstr(help, "\nExample:\n  ");
    if (!usage_end || !opts || !example)
        fail_msg("netctl %s --help lacks its usage, Options or Example:\n%s", name, help);
    if (strstr(help, "(undocumented)"))
        fail_msg("netctl %s --help has an undocumented option:\n%s", name, help);
    const char *letters = "abcdefghijklmnopqrstuvwxyz-";
    for (const char *u = help; (u = strstr(u, "--")) && u < usage_end; u += 2) {
        size_t len = strspn(u + 2, letters);
        char want[48];
        snprintf(want, sizeof want, "\n  --%.*s", (int)len, u + 2);
        const char *at = strstr(opts, want);
        if (len > 0 && (!at || at > example || !strchr(" \n", at[strlen(want)])))
            fail_msg("netctl %s: the usage names --%.*s, Options do not describe it:\n%s", name,
                     (int)len, u + 2, help);
    }
    for (const char *o = opts; (o = strstr(o, "\n  --")) && o < example; o += 5) {
        size_t len = strspn(o + 5, letters);
        if (strncmp(o + 5, "help", len) != 0 && !names_option(help, usage_end, o + 5, len))
            fail_msg("netctl %s: Options describe --%.*s, the usage does not name it:\n%s", name,
                     (int)len, o + 5, help);
    }
    char used[48];
    snprintf(used, sizeof used, "netctl %.31s", name);
    if (!strstr(example, used))
        fail_msg("the example of netctl %s does not use it:\n%s", name, example);
}

static void test_help_every_command(void **state)
{
    char names[MAX_COMMANDS][32];
    int n = command_names(names);
    /* The overview is the list: if parsing it found few, the loop proves nothing. */
    assert_true(n >= 35);
    for (int i = 0; i < n; i++) {
        char usage[64];
        snprintf(usage, sizeof usage, "usage: netctl %.31s", names[i]);
        struct run a = help_of(names[i], "--help");
        struct run b = help_of(names[i], "-h");
        if (a.status != 0 || b.status != 0 || a.errlen || b.errlen)
            fail_msg("netctl %s --help exited %d, -h %d; stderr: %s%s", names[i], a.status,
                     b.status, a.err, b.err);
        if (strncmp(a.out, usage, strlen(usage)) != 0)
            fail_msg("netctl %s --help does not start with \"%s\":\n%s", names[i], usage, a.out);
        assert_string_equal(a.out, b.out);
        expect_options_described(names[i], a.out);
        /* `netctl help NAME` is the same text. */
        char first[32];
        const char *sp = strchr(names[i], ' ');
        snprintf(first, sizeof first, "%.*s", sp ? (int)(sp - names[i]) : (int)strlen(names[i]),
                 names[i]);
        const char *hargs[] = {"help", first, sp ? sp + 1 : NULL, NULL};
        struct run h = netctl(NULL, hargs);
        assert_int_equal(h.status, 0);
        assert_string_equal(h.out, a.out);
        run_free(&h);
        run_free(&a);
        run_free(&b);
    }
    /* A group's help shows each of its commands; after "--" -h is an argument. */
    struct run r = expect_run(NULL, 0, "udp", "--help");
    assert_non_null(strstr(r.out, "usage: netctl udp send"));
    assert_non_null(strstr(r.out, "usage: netctl udp recv"));
    run_free(&r);
    r = expect_run(NULL, 0, "-h");
    assert_non_null(strstr(r.out, "\nCommands:\n"));
    run_free(&r);
    r = expect_run("@netd-test-nobody-listens-here", 1, "write", "h0.1", "--", "-h");
    assert_non_null(strstr(r.err, "cannot reach netd"));
    run_free(&r);
}

/* `netd --version`: its stdout and exit status. */
static char *netd_version(void)
{
    int o[2];
    assert_int_equal(pipe2(o, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    char *const argv[] = {(char *)NETD_BIN, (char *)"--version", NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, NETD_BIN, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(o[1]);
    char buf[8192];
    size_t len = 0;
    ssize_t k;
    while (len < sizeof buf - 1 && (k = read(o[0], buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)k;
    buf[len] = '\0';
    close(o[0]);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return strdup(buf);
}

static void test_version(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    netd_client *c = h_client(n);
    json_t *doc = h_call(c, "rpc.discover", NULL);
    const char *v = json_string_value(json_object_get(json_object_get(doc, "info"), "version"));
    assert_non_null(v);
    char want[128];
    snprintf(want, sizeof want, "netctl %s\n", v);
    struct run r = expect_run(NULL, 0, "--version");
    assert_string_equal(r.out, want);
    run_free(&r);
    /* netd's line, then the wolfSSL that runs, as stats names it. */
    snprintf(want, sizeof want, "netd %s\n", v);
    char *got = netd_version();
    assert_memory_equal(got, want, strlen(want));
    json_t *st = h_call(c, "stats", NULL);
    json_t *tls = json_object_get(st, "tls");
    const char *own = strcmp(h_str(tls, "build"), "netd") == 0
                          ? "netd's own build with AES-NI and x86-64 assembly"
                          : "the system's library (no AES-NI)";
    char lib[4200];
    snprintf(lib, sizeof lib, "wolfSSL %s, %s, %s\n", h_str(tls, "version"), own,
             h_str(tls, "path"));
    assert_string_equal(got + strlen(want), lib);
    json_decref(st);
    free(got);
    json_decref(doc);
}

/* A new kept stream to an echo peer, by netctl connect; the handle. */
static char *connect_echo(const char *s, struct peer *echo)
{
    char port[16];
    snprintf(port, sizeof port, "%d", h_peer_port(echo));
    struct run r = expect_run(s, 0, "connect", "127.0.0.1", port);
    char *h = first_line(&r);
    run_free(&r);
    return h;
}

static void test_json_styles(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    const char *s = h_netd_socket(n);
    char *h = connect_echo(s, echo);
    struct run pretty = expect_run(s, 0, "--json=pretty", "status", h);
    struct run shrt = expect_run(s, 0, "--json=short", "status", h);
    struct run plain = expect_run(s, 0, "--json", "status", h);
    json_t *a = json_loads(pretty.out, 0, NULL), *b = json_loads(shrt.out, 0, NULL);
    assert_non_null(a);
    assert_non_null(b);
    h_expect_str(a, "handle", h);
    /* Indented: one member a line, two spaces in. */
    assert_non_null(strstr(pretty.out, "{\n  \"handle\": "));
    assert_true(strchr(shrt.out, '\n') == shrt.out + shrt.outlen - 1);
    assert_string_equal(shrt.out, plain.out);
    json_decref(a);
    json_decref(b);
    run_free(&pretty);
    run_free(&shrt);
    run_free(&plain);
    expect_status(s, 2, "--json=wide", "status", h);
    free(h);
}

/* Checks that each line of @out has @fields tab-separated fields; returns the line count. */
static int tsv_lines(const char *out, int fields)
{
    int lines = 0;
    for (const char *p = out; *p;) {
        size_t len = strcspn(p, "\n");
        int tabs = 0;
        for (size_t i = 0; i < len; i++)
            tabs += p[i] == '\t';
        if (tabs != fields - 1 || strstr(p, "  ") == p)
            fail_msg("not a line of %d tab-separated fields: \"%.*s\"", fields, (int)len, p);
        lines++;
        p += len + (p[len] == '\n');
    }
    return lines;
}

/*
 * Runs netctl with a pseudo-terminal as its stdout, as a person at a
 * terminal would; returns what it printed (the terminal turns "\n" into
 * "\r\n").
 */
static char *netctl_on_tty(const char *sock, const char *const *args)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(slave >= 0);
    const char *argv[16] = {NETCTL_BIN, "--socket", sock};
    int n = 3;
    for (int i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, slave, 1);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, NETCTL_BIN, &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(slave);
    char *out = NULL;
    size_t len = 0;
    /* Once the child has gone, reading the master fails with EIO. */
    for (;;) {
        struct pollfd pf = {master, POLLIN, 0};
        if (poll(&pf, 1, 30000) <= 0 || !drain(master, &out, &len))
            break;
    }
    close(master);
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return out ? out : strdup("");
}

static void test_tables(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    struct peer *echo = h_peer_tcp(PEER_ECHO, AF_INET, NULL, 0);
    const char *s = h_netd_socket(n);
    char *h = connect_echo(s, echo);
    expect_status(s, 0, "write", h, "12345");
    struct run r = expect_run(s, 0, "chunk", h, "5", "--timeout", "10");
    run_free(&r);
    /* Into a pipe: handle, kind, state, local, remote, in, out, kept; exact counts. */
    r = expect_run(s, 0, "ls");
    assert_int_equal(tsv_lines(r.out, 8), 1);
    char want[256];
    snprintf(want, sizeof want, "%s\tstream\tsuccess\t127.0.0.1:", h);
    assert_memory_equal(r.out, want, strlen(want));
    snprintf(want, sizeof want, "\t127.0.0.1:%d\t5\t5\tyes\n", h_peer_port(echo));
    assert_non_null(strstr(r.out, want));
    run_free(&r);
    r = expect_run(s, 0, "addrs");
    assert_true(tsv_lines(r.out, 4) >= 1);
    assert_non_null(strstr(r.out, "\tinet\t127.0.0.1\tup,loopback\n"));
    run_free(&r);
    /* On a terminal: a header and aligned columns; --no-legend keeps the pipe's form. */
    char *tty = netctl_on_tty(s, (const char *const[]){"ls", NULL});
    assert_memory_equal(tty, "HANDLE ", 7);
    assert_null(strchr(tty, '\t'));
    assert_non_null(strstr(tty, h));
    free(tty);
    tty = netctl_on_tty(s, (const char *const[]){"addrs", NULL});
    assert_memory_equal(tty, "INTERFACE ", 10);
    free(tty);
    tty = netctl_on_tty(s, (const char *const[]){"ls", "--no-legend", NULL});
    snprintf(want, sizeof want, "%s\tstream\t", h);
    assert_memory_equal(tty, want, strlen(want));
    free(tty);
    tty = netctl_on_tty(s, (const char *const[]){"--no-legend", "methods", NULL});
    assert_memory_equal(tty, "ping\t", 5);
    free(tty);
    free(h);
}

/* Expects @err to be exactly one JSON object (nothing before or after it); returns it. */
static json_t *one_object(const char *err)
{
    json_error_t e;
    json_t *v = json_loads(err, 0, &e);
    if (!json_is_object(v))
        fail_msg("stderr is not one JSON object (%s): \"%s\"", e.text, err);
    return v;
}

static void test_json_errors(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    char port[16];
    snprintf(port, sizeof port, "%d", h_refused_port());
    /* netd's error object, as netd sent it. */
    struct run r = expect_run(s, 1, "--json", "read", "no-such-handle", "10");
    json_t *e = one_object(r.err);
    assert_int_equal(h_int(e, "code"), -32002);
    assert_int_equal(r.outlen, 0);
    json_decref(e);
    run_free(&r);
    r = expect_run(s, 1, "--json=pretty", "connect", "127.0.0.1", port);
    e = one_object(r.err);
    assert_int_equal(h_int(e, "code"), -32000);
    h_expect_str(json_object_get(e, "data"), "errno", "ECONNREFUSED");
    json_decref(e);
    run_free(&r);
    /* netctl's own: a usage error, an unknown command, netd not there. */
    r = expect_run(s, 2, "--json", "read", "h-only");
    e = one_object(r.err);
    h_expect_str(e, "netctl", "usage");
    h_expect_str(e, "command", "read");
    json_decref(e);
    run_free(&r);
    r = expect_run(s, 2, "--json", "no-such-command");
    e = one_object(r.err);
    h_expect_str(e, "netctl", "usage");
    json_decref(e);
    run_free(&r);
    r = expect_run("@netd-test-nobody-listens-here", 1, "--json", "ping");
    e = one_object(r.err);
    h_expect_str(e, "netctl", "failure");
    h_expect_str(json_object_get(e, "data"), "errno", "ECONNREFUSED");
    json_decref(e);
    run_free(&r);
    /* Without --json the same error is a sentence, not JSON. */
    r = expect_run(s, 1, "read", "no-such-handle", "10");
    assert_memory_equal(r.err, "netctl: read: ", 14);
    assert_null(strchr(r.err, '{'));
    run_free(&r);
}

/* Whether a line of @text starts with "  @name " (a parameter or property line of describe). */
static int has_param_line(const char *text, const char *name)
{
    char want[96];
    snprintf(want, sizeof want, "\n  %s ", name);
    return strstr(text, want) != NULL;
}

static void test_methods_describe(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    netd_client *c = h_client(n);
    json_t *doc = h_call(c, "rpc.discover", NULL);
    json_t *methods = json_object_get(doc, "methods");
    /* methods: every method of the document, in its order, with its summary. */
    struct run r = expect_run(s, 0, "methods");
    assert_int_equal(tsv_lines(r.out, 2), (int)json_array_size(methods));
    const char *line = r.out;
    size_t i;
    json_t *m;
    json_array_foreach(methods, i, m)
    {
        char want[512];
        int len = snprintf(want, sizeof want, "%s\t%s\n", h_str(m, "name"), h_str(m, "summary"));
        assert_memory_equal(line, want, (size_t)len);
        line += len;
    }
    run_free(&r);
    /* describe: every method's parameters, required ones marked, and its error codes. */
    json_array_foreach(methods, i, m)
    {
        const char *args[] = {"describe", h_str(m, "name"), NULL};
        struct run d = netctl(s, args);
        if (d.status != 0)
            fail_msg("netctl describe %s exited %d: %s", h_str(m, "name"), d.status, d.err);
        size_t j;
        json_t *p;
        json_array_foreach(json_object_get(m, "params"), j, p)
        {
            if (!has_param_line(d.out, h_str(p, "name")))
                fail_msg("describe %s does not show parameter %s:\n%s", h_str(m, "name"),
                         h_str(p, "name"), d.out);
        }
        json_t *e;
        json_array_foreach(json_object_get(m, "errors"), j, e)
        {
            const char *ref = json_string_value(json_object_get(e, "$ref"));
            json_t *def =
                json_object_get(json_object_get(json_object_get(doc, "components"), "errors"),
                                strrchr(ref, '/') + 1);
            char want[64];
            snprintf(want, sizeof want, "\n  %lld %s\n", (long long)h_int(def, "code"),
                     h_str(def, "message"));
            if (!strstr(d.out, want))
                fail_msg("describe %s does not list error %s", h_str(m, "name"), want + 3);
        }
        run_free(&d);
    }
    r = expect_run(s, 0, "describe", "read");
    assert_non_null(strstr(r.out, "\n  handle       string, required\n"));
    assert_non_null(
        strstr(r.out, "\n  nbytes       integer 1..9007199254740992 | \"all\", required\n"));
    assert_non_null(strstr(r.out, "\nResult: object\n"));
    assert_true(has_param_line(r.out, "eof"));
    run_free(&r);
    /* --json gives the method object netd serves; a name netd lacks fails. */
    r = expect_run(s, 0, "--json", "describe", "read");
    json_t *got = json_loads(r.out, 0, NULL);
    json_t *want = NULL;
    json_array_foreach(methods, i, m)
    {
        if (strcmp(h_str(m, "name"), "read") == 0)
            want = m;
    }
    assert_true(json_equal(got, want));
    json_decref(got);
    run_free(&r);
    r = expect_run(s, 1, "describe", "no-such-method");
    assert_non_null(strstr(r.err, "netctl methods"));
    run_free(&r);
    json_decref(doc);
}

static void test_hints(void **state)
{
    struct netd_proc *n = h_netd_start(NULL);
    const char *s = h_netd_socket(n);
    /* A service name the host does not know: netd refuses the port itself
     * (contract section 9, "Ports"), and the host is not blamed. */
    struct run r = expect_run(s, 1, "connect", "localhost", "notaport");
    assert_non_null(strstr(r.err, "parameter 'port'"));
    assert_non_null(strstr(r.err, "service name"));
    assert_null(strstr(r.err, "host name"));
    run_free(&r);
    r = expect_run(s, 1, "resolve", "127.0.0.1", "notaport");
    assert_non_null(strstr(r.err, "parameter 'port'"));
    assert_null(strstr(r.err, "host name"));
    run_free(&r);
    /* A number out of range is no port and no service name: refused before sending. */
    r = expect_run(s, 2, "resolve", "127.0.0.1", "-1");
    assert_non_null(strstr(r.err, "PORT must be a number from 0 to 65535 or a service name, not "
                                  "\"-1\""));
    assert_null(strstr(r.err, "host name"));
    run_free(&r);
    expect_status(s, 2, "connect", "localhost", "99999");
    expect_status(s, 2, "connect", "localhost", "7007", "--bind-port", "65536");
    /* A handle of the wrong kind: what kind it is, with the article right. */
    r = expect_run(s, 0, "resolve", "127.0.0.1", "7");
    char *addr = strndup(r.out, strcspn(r.out, "\t"));
    run_free(&r);
    r = expect_run(s, 1, "write", addr, "x");
    char want[128];
    snprintf(want, sizeof want, "%s is an address handle", addr);
    assert_non_null(strstr(r.err, want));
    run_free(&r);
    free(addr);
    /* netd saw none of the refused ports. */
    netd_client *c = h_client(n);
    json_t *st = h_call(c, "handles", NULL);
    assert_int_equal(json_array_size(json_object_get(st, "handles")), 1);
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help_every_command, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_version, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_json_styles, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_tables, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_json_errors, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_methods_describe, h_setup, h_teardown),
        cmocka_unit_test_setup_teardown(test_hints, h_setup, h_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
