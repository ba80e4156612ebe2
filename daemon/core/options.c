/*
 * options.c - netd's settings from the configuration file and the command
 * line, from one table: every option of the command line is also a key of
 * the file's [netd] section, and --help is written from the same table.
 *
 * The file is read with libinih. Settings are built in a fresh struct
 * (defaults, then the file, then the command line, which wins), so a file
 * that does not parse changes nothing: at start netd refuses to run, at a
 * reload the running settings stay. The [policy] and [rule NAME] sections
 * go to policy_parse.c, which builds a fresh rule set the same way; a
 * reload swaps settings and rules together.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <ini.h>
#include <math.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"

#ifndef NETD_CONFIG_FILE
#define NETD_CONFIG_FILE "/etc/netd/netd.conf"
#endif
#ifndef NETD_VERSION
#define NETD_VERSION "unknown"
#endif

enum opt_type { OT_SOCKET, OT_WORKERS, OT_SIZE, OT_UID, OT_GID, OT_LEVEL, OT_SECONDS };

struct opt {
    const char *name; /* the long option and the key in [netd] */
    enum opt_type type;
    size_t off;   /* of the member for OT_WORKERS, OT_SIZE, OT_LEVEL, OT_SECONDS */
    bool restart; /* a change takes effect only when netd starts again */
    const char *arg, *help;
};

#define F(m) offsetof(struct netd_config, m)
static const struct opt opts[] = {
    {"socket", OT_SOCKET, 0, true, "NAME",
     "control socket: @name is abstract, else a path (repeatable; default @netd)"},
    {"workers", OT_WORKERS, F(workers), true, "N",
     "worker threads, each with its own event loop (default: CPUs)"},
    {"max-request", OT_SIZE, F(max_request), false, "BYTES",
     "longest request line (default 16777216)"},
    {"max-handles", OT_SIZE, F(max_handles), false, "N", "handles one uid may hold (default 4096)"},
    {"max-buffer", OT_SIZE, F(max_buffer), false, "BYTES",
     "bytes a handle buffers for partial writes (default 1048576)"},
    {"max-read", OT_SIZE, F(max_read), false, "BYTES",
     "largest read, and the bound of read \"all\" (default 16777216)"},
    {"max-memory", OT_SIZE, F(max_memory), false, "BYTES",
     "memory netd holds for one uid (default 67108864)"},
    {"max-memory-conn", OT_SIZE, F(max_memory_conn), false, "BYTES",
     "of it, one connection's request line and answers (default 33554432, at least "
     "--max-request + 65536)"},
    {"max-memory-total", OT_SIZE, F(max_memory_total), false, "BYTES",
     "memory netd holds for all uids (default: half the machine's; at least 2 x "
     "--max-memory)"},
    {"max-connections-per-uid", OT_SIZE, F(max_conns_uid), false, "N",
     "control connections of one uid (default 256; root is not limited)"},
    {"max-lookups-per-uid", OT_SIZE, F(max_lookups_uid), false, "N",
     "name lookups one uid has running at once (default 4, at most 64)"},
    {"allow-uid", OT_UID, 0, false, "USER",
     "also serve this uid or user name (repeatable; root and netd's uid always)"},
    {"allow-gid", OT_GID, 0, false, "GROUP",
     "also serve members of this group, number or name (repeatable)"},
    {"log-level", OT_LEVEL, F(log_level), false, "LEVEL",
     "error, warn, info or debug (default info)"},
    {"drain-timeout", OT_SECONDS, F(drain_timeout), false, "SECONDS",
     "at a stop, how long accepted writes may take to leave (default 5)"},
};
#define NOPTS (sizeof opts / sizeof opts[0])
/* getopt codes of the options outside the table */
enum { O_CONFIG = 1000, O_CHECK, O_HELP, O_VERSION };

static void options_usage(FILE *f)
{
    fprintf(f, "usage: netd [options]\n"
               "Owns network sockets for local programs, which drive them with JSON-RPC 2.0\n"
               "(one request per line) over a unix socket.\n\n"
               "  --config FILE            settings from FILE (default " NETD_CONFIG_FILE
               " if it exists)\n"
               "  --check-config [FILE]    check FILE (default: as netd would read it) and the\n"
               "                           options, print the settings; exit 0 if good, else 1\n");
    for (size_t i = 0; i < NOPTS; i++) {
        char left[40];
        snprintf(left, sizeof left, "--%s %s", opts[i].name, opts[i].arg);
        fprintf(f, "  %-24s %s\n", left, opts[i].help);
    }
    fprintf(f, "  -h, --help               this text\n"
               "  --version                print netd's version and exit\n\n"
               "Each option but --config, --check-config, --help and --version is also a key of\n"
               "the file's [netd] section; the command line wins over the file.\n"
               "Runs in the foreground and logs to stderr. SIGHUP reads the configuration\n"
               "again; SIGTERM or SIGINT lets accepted writes drain, then stops netd.\n"
               "Socket activation: sockets passed by systemd (LISTEN_FDS) are served instead\n"
               "of --socket.\n");
}

static int parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return -1;
    *out = (size_t)v;
    return 0;
}

/* A uid or gid: a number, or a name looked up in the user or group database. */
static int parse_id(const char *s, bool group, unsigned *out, char *why, size_t n)
{
    if (*s >= '0' && *s <= '9') {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || *end || v >= 0xffffffffUL) {
            snprintf(why, n, "not a %s number", group ? "group" : "user");
            return -1;
        }
        *out = (unsigned)v;
        return 0;
    }
    if (group) {
        struct group *g = getgrnam(s);
        if (g) {
            *out = (unsigned)g->gr_gid;
            return 0;
        }
    } else {
        struct passwd *p = getpwnam(s);
        if (p) {
            *out = (unsigned)p->pw_uid;
            return 0;
        }
    }
    snprintf(why, n, "no such %s", group ? "group" : "user");
    return -1;
}

static int add_socket(struct netd_config *c, const char *v, char *why, size_t n)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = sockaddr_unix(v, &ss, &len);
    if (rc < 0) {
        snprintf(why, n, "%s", rc == -ENAMETOOLONG ? "name too long" : "not a socket name");
        return -1;
    }
    for (int i = 0; i < c->n_sockets; i++)
        if (strcmp(c->sockets[i], v) == 0) {
            snprintf(why, n, "given twice");
            return -1;
        }
    if (c->n_sockets == NETD_MAX_SOCKETS) {
        snprintf(why, n, "more than %d sockets", NETD_MAX_SOCKETS);
        return -1;
    }
    c->sockets[c->n_sockets++] = strdup(v);
    return 0;
}

/* Sets option @o of @c from text @v: 0, or -1 with why in @why. */
static int opt_set(struct netd_config *c, const struct opt *o, const char *v, char *why, size_t n)
{
    char *p = (char *)c + o->off;
    size_t sz;
    unsigned id;
    snprintf(why, n, "see netd --help");
    switch (o->type) {
    case OT_SOCKET:
        return add_socket(c, v, why, n);
    case OT_WORKERS:
        if (parse_size(v, &sz) < 0 || sz > 256) {
            snprintf(why, n, "1 to 256");
            return -1;
        }
        *(int *)p = (int)sz;
        return 0;
    case OT_SIZE:
        if (parse_size(v, &sz) < 0) {
            snprintf(why, n, "a whole number of at least 1");
            return -1;
        }
        *(size_t *)p = sz;
        return 0;
    case OT_UID:
    case OT_GID: {
        bool g = o->type == OT_GID;
        if (parse_id(v, g, &id, why, n) < 0)
            return -1;
        int *count = g ? &c->n_allow_gid : &c->n_allow_uid;
        if (*count == NETD_MAX_ALLOW) {
            snprintf(why, n, "more than %d", NETD_MAX_ALLOW);
            return -1;
        }
        if (g)
            c->allow_gid[(*count)++] = (gid_t)id;
        else
            c->allow_uid[(*count)++] = (uid_t)id;
        return 0;
    }
    case OT_LEVEL: {
        int lv = netd_log_level_parse(v);
        if (lv < 0) {
            snprintf(why, n, "error, warn, info or debug");
            return -1;
        }
        *(int *)p = lv;
        return 0;
    }
    case OT_SECONDS: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(d) || d < 0 || d > 3600) {
            snprintf(why, n, "seconds from 0 to 3600");
            return -1;
        }
        *(double *)p = d;
        return 0;
    }
    }
    return -1;
}

/* Empties a repeatable option (the command line replaces the file's list). */
static void opt_clear(struct netd_config *c, const struct opt *o)
{
    if (o->type == OT_SOCKET) {
        for (int i = 0; i < c->n_sockets; i++)
            free(c->sockets[i]);
        c->n_sockets = 0;
    } else if (o->type == OT_UID) {
        c->n_allow_uid = 0;
    } else if (o->type == OT_GID) {
        c->n_allow_gid = 0;
    }
}

static void opt_format(const struct netd_config *c, const struct opt *o, char *out, size_t n)
{
    const char *p = (const char *)c + o->off;
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    size_t k = 0;
    out[0] = 0;
    switch (o->type) {
    case OT_SOCKET:
        for (int i = 0; i < c->n_sockets && k < n; i++)
            k += (size_t)snprintf(out + k, n - k, "%s%s", i ? " " : "", c->sockets[i]);
        if (c->n_sockets == 0)
            snprintf(out, n, "@netd");
        break;
    case OT_WORKERS:
        snprintf(out, n, "%d", *(const int *)p);
        break;
    case OT_SIZE:
        snprintf(out, n, "%zu", *(const size_t *)p);
        break;
    case OT_UID:
    case OT_GID: {
        int cnt = o->type == OT_UID ? c->n_allow_uid : c->n_allow_gid;
        for (int i = 0; i < cnt && k < n; i++)
            k += (size_t)snprintf(out + k, n - k, "%s%u", i ? " " : "",
                                  o->type == OT_UID ? (unsigned)c->allow_uid[i]
                                                    : (unsigned)c->allow_gid[i]);
        break;
    }
    case OT_LEVEL:
        snprintf(out, n, "%s", levels[*(const int *)p & 3]);
        break;
    case OT_SECONDS:
        snprintf(out, n, "%g", *(const double *)p);
        break;
    }
}

void options_print(FILE *f, const struct netd_config *c)
{
    char v[1024];
    fprintf(f, "[netd]\n");
    for (size_t i = 0; i < NOPTS; i++) {
        bool list = opts[i].type == OT_SOCKET || opts[i].type == OT_UID || opts[i].type == OT_GID;
        opt_format(c, &opts[i], v, sizeof v);
        if (!list || !*v) {
            fprintf(f, "%s%s =%s%s\n", *v ? "" : "# ", opts[i].name, *v ? " " : "", v);
            continue;
        }
        /* one line per entry, as the file takes them */
        for (char *s = v, *save = NULL, *t; (t = strtok_r(s, " ", &save)); s = NULL)
            fprintf(f, "%s = %s\n", opts[i].name, t);
    }
}

static const struct opt *opt_find(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(opts[i].name, name) == 0)
            return &opts[i];
    return NULL;
}

/* ---- the file ---- */

struct file_ctx {
    FILE *f;
    struct netd_config *cfg;
    struct policy *policy;
    bool in_policy; /* the section is [policy] or a [rule NAME] */
    int line;       /* lines read so far: the line the handler is called for */
    int err_line;   /* the first error the reader or handler found (0: none) */
    char err[512];
};

static void file_error(struct file_ctx *fc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void file_error(struct file_ctx *fc, const char *fmt, ...)
{
    if (fc->err_line)
        return;
    fc->err_line = fc->line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fc->err, sizeof fc->err, fmt, ap);
    va_end(ap);
}

/* A section header begins (@name: what follows '[', as inih reads it up to
 * ']'). Seen here rather than in file_key so a section without keys is
 * seen too: a [rule NAME] with nothing in it is a mistake to report. */
static void file_section(struct file_ctx *fc, const char *name)
{
    char sect[128];
    size_t n = strcspn(name, "]");
    if (name[n] != ']' || n >= sizeof sect)
        return; /* inih reports the line */
    memcpy(sect, name, n);
    sect[n] = '\0';
    fc->in_policy = strcmp(sect, "policy") == 0 || strncmp(sect, "rule", 4) == 0;
    char why[300];
    if (fc->in_policy && policy_section(fc->policy, sect, fc->line, why, sizeof why) < 0)
        file_error(fc, "%s", why);
}

/* inih's reader: counts lines so errors can name theirs, refuses lines
 * longer than inih takes whole, and strips leading blanks so that an
 * indented line is an ordinary one (never a continuation of the last). */
static char *file_read(char *str, int num, void *stream)
{
    struct file_ctx *fc = stream;
    if (!fgets(str, num, fc->f))
        return NULL;
    fc->line++;
    size_t len = strlen(str);
    if (len == (size_t)num - 1 && str[len - 1] != '\n' && !feof(fc->f)) {
        file_error(fc, "line longer than %d characters", num - 2);
        int ch;
        while ((ch = fgetc(fc->f)) != EOF && ch != '\n')
            ;
        snprintf(str, (size_t)num, "#\n");
        return str;
    }
    size_t lead = strspn(str, " \t");
    if (lead)
        memmove(str, str + lead, len - lead + 1);
    if (str[0] == '[')
        file_section(fc, str + 1);
    return str;
}

static int file_key(void *user, const char *section, const char *name, const char *value)
{
    struct file_ctx *fc = user;
    if (fc->in_policy) {
        char why[300];
        if (policy_key(fc->policy, name, value, why, sizeof why) < 0) {
            file_error(fc, "%s", why);
            return 0;
        }
        return 1;
    }
    if (strcmp(section, "netd") != 0) {
        if (!*section)
            file_error(fc, "'%s' is outside a section: netd's settings go under [netd]", name);
        else
            file_error(fc, "unknown section [%s] (netd knows [netd], [policy] and [rule NAME])",
                       section);
        return 0;
    }
    const struct opt *o = opt_find(name);
    if (!o) {
        file_error(fc, "unknown key '%s' in [netd] (see netd --help)", name);
        return 0;
    }
    char why[160];
    if (opt_set(fc->cfg, o, value, why, sizeof why) < 0) {
        file_error(fc, "bad value '%s' for %s: %s", value, name, why);
        return 0;
    }
    return 1;
}

/* Reads @path into @cfg and @policy: 0, or -1 with "PATH:LINE: why" in @err. */
static int file_load(const char *path, struct netd_config *cfg, struct policy *policy, char *err,
                     size_t n)
{
    struct file_ctx fc = {.cfg = cfg, .policy = policy};
    fc.f = fopen(path, "re");
    if (!fc.f) {
        snprintf(err, n, "%s: cannot read: %s", path, strerror(errno));
        return -1;
    }
    int rc = ini_parse_stream(file_read, &fc, file_key, &fc);
    fclose(fc.f);
    if (rc == 0 && !fc.err_line && policy_finish(policy, &fc.err_line, fc.err, sizeof fc.err) == 0)
        return 0;
    if (rc > 0 && (!fc.err_line || rc < fc.err_line))
        snprintf(err, n, "%s:%d: not 'key = value', '[section]' or a comment", path, rc);
    else if (fc.err_line)
        snprintf(err, n, "%s:%d: %s", path, fc.err_line, fc.err);
    else
        snprintf(err, n, "%s: cannot parse (out of memory)", path);
    return -1;
}

/* ---- the command line ---- */

static struct option long_opts[NOPTS + 5];

static void long_opts_init(void)
{
    if (long_opts[0].name)
        return;
    for (size_t i = 0; i < NOPTS; i++)
        long_opts[i] = (struct option){opts[i].name, required_argument, 0, (int)i};
    long_opts[NOPTS] = (struct option){"config", required_argument, 0, O_CONFIG};
    long_opts[NOPTS + 1] = (struct option){"check-config", no_argument, 0, O_CHECK};
    long_opts[NOPTS + 2] = (struct option){"help", no_argument, 0, O_HELP};
    long_opts[NOPTS + 3] = (struct option){"version", no_argument, 0, O_VERSION};
}

static const char *(*version_line)(void);

void options_version_line(const char *(*line)(void))
{
    version_line = line;
}

/* The first pass: --config, --check-config [FILE], --help, --version, and
 * the check that every option is known. Returns 0, 1 (exit 0) or -1. */
static int args_scan(int argc, char **argv, struct options *o, bool *explicit, char *err, size_t n)
{
    int c;
    optind = 0;
    opterr = 1;
    while ((c = getopt_long(argc, argv, "+h", long_opts, NULL)) != -1) {
        if (c == O_CONFIG || (c == O_CHECK && optind < argc && argv[optind][0] != '-')) {
            const char *file = c == O_CONFIG ? optarg : argv[optind++];
            snprintf(o->config_file, sizeof o->config_file, "%s", file);
            *explicit = true;
        }
        if (c == O_CHECK)
            o->check_only = true;
        else if (c == O_HELP || c == 'h') {
            options_usage(stdout);
            return 1;
        } else if (c == O_VERSION) {
            printf("netd %s\n", NETD_VERSION);
            if (version_line)
                printf("%s\n", version_line());
            return 1;
        } else if (c == '?') {
            snprintf(err, n, "see netd --help");
            return -1;
        }
    }
    if (optind < argc) {
        snprintf(err, n, "unexpected argument '%s' (see netd --help)", argv[optind]);
        return -1;
    }
    return 0;
}

/* The second pass: the table's options, over what the file set. */
static int args_apply(int argc, char **argv, struct netd_config *cfg, char *err, size_t n)
{
    bool seen[NOPTS] = {0};
    int c, idx = 0;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+h", long_opts, &idx)) != -1) {
        if (c == O_CHECK && optind < argc && argv[optind][0] != '-')
            optind++;
        if (c < 0 || c >= (int)NOPTS)
            continue;
        const struct opt *o = &opts[c];
        if (!seen[c])
            opt_clear(cfg, o);
        seen[c] = true;
        char why[160];
        if (opt_set(cfg, o, optarg, why, sizeof why) < 0) {
            snprintf(err, n, "bad value '%s' for --%s: %s", optarg, o->name, why);
            return -1;
        }
    }
    return 0;
}

/* The memory options left automatic (0) get their values, and together
 * they must leave room for what they bound: one whole request line per
 * connection, root's reserve within the total. */
static int memory_options(struct netd_config *c, char *err, size_t n)
{
    if (c->max_memory_total == 0) {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        size_t half = pages > 0 && size > 0 ? (size_t)pages / 2 * (size_t)size : 0;
        c->max_memory_total = half > 2 * c->max_memory ? half : 2 * c->max_memory;
    }
    if (c->max_memory_conn == 0) {
        size_t line = c->max_request + LINE_SLACK;
        c->max_memory_conn = line > (32u << 20) ? line : 32u << 20;
        if (c->max_memory_conn > c->max_memory)
            c->max_memory_conn = c->max_memory;
    }
    const char *why = NULL;
    if (c->max_memory_conn < c->max_request + LINE_SLACK)
        why = "max-memory-conn (and max-memory) must be at least max-request + 65536";
    else if (c->max_memory_conn > c->max_memory)
        why = "max-memory-conn must be at most max-memory";
    else if (c->max_memory_total < 2 * c->max_memory)
        why = "max-memory-total must be at least 2 x max-memory (root keeps one share)";
    else if (c->max_lookups_uid > RESOLVER_MAX)
        why = "max-lookups-per-uid must be at most 64";
    if (why) {
        snprintf(err, n, "%s (see netd --help)", why);
        return -1;
    }
    return 0;
}

static int ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)(n > 64 ? 64 : n) : 1;
}

int options_load(int argc, char **argv, struct options *o, char *err, size_t n)
{
    memset(o, 0, sizeof *o);
    o->cfg = config_defaults();
    long_opts_init();
    bool explicit = false;
    int rc = args_scan(argc, argv, o, &explicit, err, n);
    if (rc != 0)
        return rc;
    if (!explicit && access(NETD_CONFIG_FILE, F_OK) == 0)
        snprintf(o->config_file, sizeof o->config_file, "%s", NETD_CONFIG_FILE);
    o->policy = policy_new();
    if (!o->policy) {
        snprintf(err, n, "out of memory");
        return -1;
    }
    if (o->config_file[0] && file_load(o->config_file, &o->cfg, o->policy, err, n) < 0)
        return -1;
    if (args_apply(argc, argv, &o->cfg, err, n) < 0)
        return -1;
    if (o->cfg.workers == 0)
        o->cfg.workers = ncpus();
    o->cfg.max_queued = 4 * o->cfg.max_request;
    return memory_options(&o->cfg, err, n);
}

void options_free(struct options *o)
{
    for (int i = 0; i < o->cfg.n_sockets; i++)
        free(o->cfg.sockets[i]);
    o->cfg.n_sockets = 0;
    policy_free(o->policy);
    o->policy = NULL;
}

int options_apply(const struct netd_config *next)
{
    int restart = 0;
    char was[1024], now[1024];
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        opt_format(&netd_cfg, o, was, sizeof was);
        opt_format(next, o, now, sizeof now);
        if (strcmp(was, now) == 0)
            continue;
        if (o->restart) {
            netd_log(LOG_WARN, "%s: '%s' needs a restart to take effect (still '%s')", o->name, now,
                     was);
            restart++;
        } else {
            netd_log(LOG_INFO, "%s: '%s' (was '%s')", o->name, now, was);
        }
    }
    struct netd_config *c = &netd_cfg;
    c->max_request = next->max_request;
    c->max_queued = next->max_queued;
    c->max_handles = next->max_handles;
    c->max_buffer = next->max_buffer;
    c->max_read = next->max_read;
    memcpy(c->allow_uid, next->allow_uid, sizeof c->allow_uid);
    c->n_allow_uid = next->n_allow_uid;
    memcpy(c->allow_gid, next->allow_gid, sizeof c->allow_gid);
    c->n_allow_gid = next->n_allow_gid;
    c->log_level = next->log_level;
    c->drain_timeout = next->drain_timeout;
    c->max_memory = next->max_memory;
    c->max_memory_conn = next->max_memory_conn;
    c->max_memory_total = next->max_memory_total;
    c->max_conns_uid = next->max_conns_uid;
    c->max_lookups_uid = next->max_lookups_uid;
    creds_reload(); /* the system's ip_unprivileged_port_start, read again */
    return restart;
}
