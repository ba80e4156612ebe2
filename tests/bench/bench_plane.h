/*
 * bench_plane.h - the data-plane part of netd-bench (issue 11): each phase
 * moves bytes one way and gives one figure, and the figures are printed
 * side by side, each with its ratio to the baseline measured in the same
 * run (a direct socket, a socat relay, OpenSSL, redis-benchmark).
 *
 * A phase is one entry of the table in bench_plane.c. The attach and
 * splice figures of bench_relay.c join the table as rows of their own
 * (plane_add_relay), compared with this table's relay.
 */
#ifndef NETD_BENCH_PLANE_H
#define NETD_BENCH_PLANE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct plane_opts {
    const char *socket; /* netd's control socket; NULL: the client library's default */
    double seconds;     /* each phase runs this long */
    int inflight;       /* netd write calls kept in flight */
    size_t echo_size;   /* bytes of one pipelined echo round trip */
    bool tls;           /* the TLS phases too */
    /* ping requests per second with @clients connections of @depth in
     * flight each (netd-bench's ping phase), or < 0 after a failure */
    double (*ping)(const char *socket, int clients, int depth, double seconds);
};

/** One figure: @value in @unit, and its ratio to the row named @baseline. */
struct plane_row {
    char key[32];      /* short name, for --json and as a baseline */
    char what[96];     /* what was measured, for people */
    double value;      /* < 0: not measured (see @note) */
    char unit[16];     /* "MB/s", "us", "req/s" */
    char baseline[32]; /* the key of the row this one is compared with, or "" */
    bool lower_better; /* a time: the ratio is value/baseline either way */
    double goal;       /* issue 11's goal for the ratio, 0 for none */
    char note[160];    /* why a row was skipped, which cipher, which relay */
};

#define PLANE_MAX_ROWS 32

struct plane_table {
    struct plane_row rows[PLANE_MAX_ROWS];
    int n;
};

/** Runs every phase against the netd on @o->socket. 0, or -1 after printing why. */
int bench_plane(const struct plane_opts *o, struct plane_table *t);

struct tls_bench;
/** Adds the TLS upload rows of bench_tls()'s figures (after bench_plane). */
void plane_add_tls(struct plane_table *t, const struct tls_bench *b);

struct relay_bench;
/** Adds the attach and splice rows of bench_relay()'s figures, each against
 * this table's relay (or OpenSSL) row of the same run. */
void plane_add_relay(struct plane_table *t, const struct relay_bench *b);

/** Prints the table: one line per row with its ratio and goal. */
void plane_print(const struct plane_table *t);

/** The table as a JSON array of rows (new reference). */
json_t *plane_json(const struct plane_table *t);

#endif
