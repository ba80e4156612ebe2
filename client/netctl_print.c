/*
 * netctl_print.c - how netctl shows results: JSON for --json, otherwise
 * "key: value" lines, a handle table, addresses in their usual notation,
 * raw bytes for reads, and a progress line on a terminal's stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "netctl.h"
#include "rpc.h"

/* JSON_COMPACT for --json and --json=short, JSON_INDENT(2) for --json=pretty. */
static size_t json_style = JSON_COMPACT;

void print_json_pretty(bool on)
{
    json_style = on ? JSON_INDENT(2) : JSON_COMPACT;
}

void print_json_to(FILE *f, const json_t *v)
{
    json_dumpf(v, f, json_style | JSON_ENCODE_ANY);
    fputc('\n', f);
}

void print_json(const json_t *v)
{
    print_json_to(stdout, v);
}

const char *format_address(const json_t *addr, char *out, size_t len)
{
    const char *family = json_string_value(json_object_get(addr, "family"));
    const char *host = json_string_value(json_object_get(addr, "host"));
    const char *path = json_string_value(json_object_get(addr, "path"));
    json_t *port = json_object_get(addr, "port");
    if (path && *path)
        snprintf(out, len, "%s", path);
    else if (host && family && strcmp(family, "inet6") == 0)
        snprintf(out, len, "[%s]:%lld", host, (long long)json_integer_value(port));
    else if (host)
        snprintf(out, len, "%s:%lld", host, (long long)json_integer_value(port));
    else
        snprintf(out, len, "-");
    return out;
}

/* One value of print_fields(), in words. */
static void print_value(const char *key, const json_t *v)
{
    char buf[320];
    if (json_is_object(v) && json_object_get(v, "family")) {
        printf("%s\n", format_address(v, buf, sizeof buf));
    } else if (json_is_object(v) && json_object_get(v, "message")) {
        printf("%s (%lld)\n", json_string_value(json_object_get(v, "message")),
               (long long)json_integer_value(json_object_get(v, "code")));
    } else if (json_is_object(v)) {
        const char *k;
        json_t *sub;
        const char *sep = "";
        json_object_foreach((json_t *)v, k, sub)
        {
            char *s = json_dumps(sub, JSON_ENCODE_ANY | JSON_COMPACT);
            printf("%s%s=%s", sep, k, s ? s : "?");
            free(s);
            sep = " ";
        }
        putchar('\n');
    } else if (json_is_string(v)) {
        printf("%s\n", json_string_value(v));
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(6));
        printf("%s\n", s ? s : "?");
        free(s);
    }
}

void print_fields(const json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        printf("%s: ", key);
        print_value(key, v);
    }
}

/* A number of bytes that fits a table column: 512, 12K, 3.4M. */
static const char *short_bytes(json_int_t n, char *out, size_t len)
{
    if (n < 10000)
        snprintf(out, len, "%lld", (long long)n);
    else if (n < 10000LL * 1024)
        snprintf(out, len, "%lldK", (long long)(n / 1024));
    else
        snprintf(out, len, "%.1fM", n / 1048576.0);
    return out;
}

/*
 * On a terminal, aligned columns under a header with short byte counts; for
 * a program (a pipe, or --no-legend), one tab-separated line per handle with
 * exact counts, so `cut -f1` gives the handle names.
 */
void print_handle_table(const json_t *handles, bool plain)
{
    size_t i;
    json_t *h;
    if (!plain)
        printf("%-14s %-9s %-8s %-24s %-24s %7s %7s %s\n", "HANDLE", "KIND", "STATE", "LOCAL",
               "REMOTE", "IN", "OUT", "KEPT");
    json_array_foreach(handles, i, h)
    {
        char local[320], remote[320], in[32], out[32];
        const json_t *l = json_object_get(h, "local"), *r = json_object_get(h, "remote");
        json_int_t nin = json_integer_value(json_object_get(h, "bytes_in"));
        json_int_t nout = json_integer_value(json_object_get(h, "bytes_out"));
        if (plain) {
            snprintf(in, sizeof in, "%lld", (long long)nin);
            snprintf(out, sizeof out, "%lld", (long long)nout);
        } else {
            short_bytes(nin, in, sizeof in);
            short_bytes(nout, out, sizeof out);
        }
        printf(plain ? "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n"
                     : "%-14s %-9s %-8s %-24s %-24s %7s %7s %s\n",
               json_string_value(json_object_get(h, "handle")),
               json_string_value(json_object_get(h, "kind")),
               json_string_value(json_object_get(h, "state")),
               l ? format_address(l, local, sizeof local) : "-",
               r ? format_address(r, remote, sizeof remote) : "-", in, out,
               json_is_true(json_object_get(h, "kept")) ? "yes" : "no");
    }
}

int result_bytes(const json_t *result, uint8_t **out, size_t *len)
{
    const json_t *data = json_object_get(result, "data");
    const json_t *encv = json_object_get(result, "encoding");
    enum netd_encoding enc = NETD_ENC_BASE64;
    /* A NUL in the name would make "hex\0..." read as hex. */
    if (!json_is_string(data) ||
        (encv && (!netd_json_text(encv) || netd_encoding_parse(json_string_value(encv), &enc) < 0)))
        return -1;
    return netd_data_decode(json_string_value(data), json_string_length(data), enc, out, len);
}

int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        ssize_t k = write(fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ---- progress ---- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

void progress_init(struct progress *p)
{
    /* When stdout is the same terminal, the data itself is on screen and a
     * progress line redrawn under it would only garble it. */
    p->on = isatty(STDERR_FILENO) && !isatty(STDOUT_FILENO);
    p->last = 0;
}

static void human_bytes(uint64_t n, char *out, size_t len)
{
    if (n < 1024)
        snprintf(out, len, "%llu B", (unsigned long long)n);
    else if (n < 1048576)
        snprintf(out, len, "%.1f KiB", n / 1024.0);
    else
        snprintf(out, len, "%.1f MiB", n / 1048576.0);
}

/* Redraws the progress line at most five times a second, unless @force. */
void progress_show(struct progress *p, uint64_t in, uint64_t out, bool force)
{
    if (!p->on)
        return;
    double t = now_seconds();
    if (!force && t - p->last < 0.2)
        return;
    p->last = t;
    char a[32], b[32];
    human_bytes(in, a, sizeof a);
    human_bytes(out, b, sizeof b);
    fprintf(stderr, "\r\033[Knetctl: %s received", a);
    if (out > 0)
        fprintf(stderr, ", %s sent", b);
}

void progress_end(struct progress *p)
{
    if (p->on && p->last > 0)
        fputs("\r\033[K", stderr);
}
