/*
 * log.c - one line per event on stderr, with level and thread.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core.h"

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int netd_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
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

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    struct worker *w = worker_self();
    char who[16];
    if (w)
        snprintf(who, sizeof who, "w%d", w->index);
    else
        snprintf(who, sizeof who, "main");
    /* One fprintf per line: stdio locks the stream, so lines never interleave. */
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ netd[%s] %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, who,
            level_names[level], msg);
}
