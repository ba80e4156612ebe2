/*
 * log.c - one line per event on stderr, with level and thread.
 *
 * Under systemd (JOURNAL_STREAM names the stream stderr is) a line starts
 * with its syslog priority, "<3>" to "<7>", which journald turns into the
 * entry's priority (so `journalctl -p err` finds errors), and carries no
 * timestamp: the journal stamps each entry itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const int syslog_prio[] = {3, 4, 6, 7}; /* err, warning, info, debug */
static int journal = -1;                       /* unknown until the first line */

int netd_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

/* JOURNAL_STREAM is "device:inode" of the journal's stream; it only counts
 * when stderr still is that stream (not redirected by whoever started us). */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void netd_log_init(void)
{
    __atomic_store_n(&journal, stderr_is_journal() ? 1 : 0, __ATOMIC_RELAXED);
}

void netd_log(int level, const char *fmt, ...)
{
    if (level > netd_cfg.log_level)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct worker *w = worker_self();
    char who[16];
    if (w)
        snprintf(who, sizeof who, "w%d", w->index);
    else
        snprintf(who, sizeof who, "main");
    int j = __atomic_load_n(&journal, __ATOMIC_RELAXED);
    if (j < 0) {
        netd_log_init();
        j = __atomic_load_n(&journal, __ATOMIC_RELAXED);
    }
    /* One fprintf per line: stdio locks the stream, so lines never interleave. */
    if (j) {
        fprintf(stderr, "<%d>netd[%s] %s: %s\n", syslog_prio[level], who, level_names[level], msg);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ netd[%s] %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, who,
            level_names[level], msg);
}
