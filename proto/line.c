/*
 * line.c - the '\n' framing of the control protocol.
 *
 * The buffer holds [start, len): bytes fed but not yet returned. Lines are
 * handed out as pointers into it, so nothing moves while a caller works on a
 * line; the unread tail is moved to the front only when more bytes come in.
 * Once a line is known to be too long, its bytes are dropped as they arrive
 * instead of being stored, which is what keeps a hostile client from making
 * netd buffer more than max plus one read.
 */
#include "line.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Smallest allocation, and the size an idle splitter shrinks back to, so a
 * connection that once sent a huge request does not keep its memory. */
#define LINE_MIN_CAP 4096u

void netd_line_init(struct netd_line *lb, size_t max)
{
    memset(lb, 0, sizeof *lb);
    lb->max = max;
}

void netd_line_free(struct netd_line *lb)
{
    free(lb->buf);
    lb->buf = NULL;
    lb->start = lb->len = lb->cap = lb->scan = 0;
    lb->discarding = 0;
    lb->done = 0;
}

/* Moves the unread bytes to the front. Lines returned earlier become
 * invalid, which feed's contract allows. */
static void line_compact(struct netd_line *lb)
{
    size_t rest = lb->len - lb->start;
    if (lb->start == 0)
        return;
    if (rest > 0)
        memmove(lb->buf, lb->buf + lb->start, rest);
    lb->start = 0;
    lb->len = rest;
}

/* The allocation holding the unread bytes and @extra more needs: grown
 * geometrically, but never past the longest line plus one read (a line
 * that long is dropped), and shrunk back when a large buffer is empty.
 * 0 when no size fits. */
static size_t line_cap_for(const struct netd_line *lb, size_t extra)
{
    size_t rest = lb->len - lb->start;
    if (extra > SIZE_MAX - rest)
        return 0;
    size_t need = rest + extra;
    size_t cap = lb->cap;
    if (rest == 0 && cap > LINE_MIN_CAP && need <= cap / 4)
        cap = LINE_MIN_CAP;
    else if (need <= cap)
        return cap;
    if (cap < LINE_MIN_CAP)
        cap = LINE_MIN_CAP;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    size_t most = lb->max < SIZE_MAX - LINE_SLACK ? lb->max + LINE_SLACK : SIZE_MAX;
    if (cap > most && need <= most)
        cap = most;
    return cap;
}

/* Makes room for @extra more bytes after len. */
static int line_reserve(struct netd_line *lb, size_t extra)
{
    line_compact(lb);
    size_t cap = line_cap_for(lb, extra);
    if (cap == 0)
        return NETD_LINE_NOMEM;
    if (cap == lb->cap)
        return 0;
    char *nb = realloc(lb->buf, cap);
    if (!nb)
        return NETD_LINE_NOMEM;
    lb->buf = nb;
    lb->cap = cap;
    return 0;
}

size_t netd_line_cap_after(const struct netd_line *lb, size_t n)
{
    size_t cap = line_cap_for(lb, n);
    return cap ? cap : SIZE_MAX;
}

void netd_line_trim(struct netd_line *lb)
{
    if (lb->len == lb->start && lb->cap > LINE_MIN_CAP) {
        free(lb->buf);
        lb->buf = NULL;
        lb->start = lb->len = lb->cap = lb->scan = 0;
    }
}

int netd_line_feed(struct netd_line *lb, const char *data, size_t n)
{
    if (lb->discarding) {
        const char *nl = memchr(data, '\n', n);
        if (!nl) {
            lb->done += n;
            return 0;
        }
        lb->discarding = 0;
        lb->done += (size_t)(nl + 1 - data);
        n -= (size_t)(nl + 1 - data);
        data = nl + 1;
    }
    if (n == 0)
        return 0;
    int rc = line_reserve(lb, n);
    if (rc < 0)
        return rc;
    memcpy(lb->buf + lb->len, data, n);
    lb->len += n;
    return 0;
}

/* Called when no '\n' is buffered: if the partial line is already past the
 * maximum it can never become valid, so it is dropped now and the rest of
 * it will be dropped by feed as it arrives. */
static int line_check_partial(struct netd_line *lb)
{
    if (lb->len - lb->start <= lb->max)
        return NETD_LINE_NONE;
    lb->done += lb->len - lb->start;
    lb->start = lb->len = 0;
    lb->scan = 0;
    lb->discarding = 1;
    return NETD_LINE_TOOLONG;
}

int netd_line_next(struct netd_line *lb, char **line, size_t *len)
{
    size_t avail = lb->len - lb->start;
    if (avail == 0)
        return NETD_LINE_NONE;
    char *from = lb->buf + lb->start;
    char *nl = avail > lb->scan ? memchr(from + lb->scan, '\n', avail - lb->scan) : NULL;
    if (!nl) {
        lb->scan = avail;
        return line_check_partial(lb);
    }
    size_t n = (size_t)(nl - from);
    lb->start += n + 1;
    lb->done += n + 1;
    lb->scan = 0;
    if (n > lb->max)
        return NETD_LINE_TOOLONG;
    *nl = '\0';
    *line = from;
    *len = n;
    return NETD_LINE_OK;
}

unsigned long long netd_line_done(const struct netd_line *lb)
{
    return lb->done;
}

size_t netd_line_buffered(const struct netd_line *lb)
{
    size_t avail = lb->len - lb->start;
    if (avail == 0)
        return 0;
    const char *from = lb->buf + lb->start;
    size_t i = avail;
    /* Everything after the last '\n' is the incomplete line; lines already
     * complete but not yet taken do not count. */
    while (i > 0 && from[i - 1] != '\n')
        i--;
    return avail - i;
}

size_t netd_line_rest(const struct netd_line *lb, const char **data)
{
    *data = lb->buf ? lb->buf + lb->start : NULL;
    return lb->len - lb->start;
}
