/*
 * line.h - splits a byte stream into '\n'-terminated lines (contract section 1).
 *
 * The splitter owns one growing buffer. Bytes are fed in as they arrive from
 * the socket; complete lines are then pulled out one by one, so a caller that
 * must stop (backpressure) can leave the rest for later. A line longer than
 * the maximum is reported once, as soon as it is known to be too long, and
 * then discarded up to and including its '\n'; the lines after it are
 * served normally.
 */
#ifndef NETD_PROTO_LINE_H
#define NETD_PROTO_LINE_H

#include <stddef.h>

struct netd_line {
    char *buf;
    size_t start; /* first byte not yet returned */
    size_t len;   /* bytes in buf (from 0) */
    size_t cap;
    size_t scan;             /* bytes from start already searched for '\n' */
    size_t max;              /* longest accepted line, without its '\n' */
    int discarding;          /* inside an over-long line that was already reported */
    unsigned long long done; /* stream offset past the last byte returned or dropped */
};

/* What the buffer may hold past the longest line: one read's worth. */
#define LINE_SLACK 65536u

enum { NETD_LINE_NONE = 0, NETD_LINE_OK = 1, NETD_LINE_TOOLONG = -1, NETD_LINE_NOMEM = -2 };

/** Prepares @lb for lines of at most @max bytes. */
void netd_line_init(struct netd_line *lb, size_t max);

/** Frees the buffer; @lb may be initialised again. */
void netd_line_free(struct netd_line *lb);

/**
 * Appends @n bytes. Bytes of a line being discarded are dropped here, so
 * the buffer never holds more than max + one read's worth.
 * Returns 0, or NETD_LINE_NOMEM.
 */
int netd_line_feed(struct netd_line *lb, const char *data, size_t n);

/**
 * Takes the next line. NETD_LINE_OK: *line points at its first byte inside
 * the splitter's buffer, *len excludes the '\n' (a trailing '\r' is kept),
 * and line[len] is overwritten with '\0' so it may be used as a C string;
 * valid until the next feed/next/free call. NETD_LINE_TOOLONG: a line went
 * over the maximum (reported once per over-long line). NETD_LINE_NONE: no
 * complete line yet.
 */
int netd_line_next(struct netd_line *lb, char **line, size_t *len);

/**
 * The offset in the byte stream (counting every byte ever fed) just past
 * the last line returned or dropped: after netd_line_next() gives a line of
 * @len bytes, it spans [done - len - 1, done), its '\n' included.
 */
unsigned long long netd_line_done(const struct netd_line *lb);

/**
 * The allocation the buffer will have once @n more bytes are fed (at most
 * max + LINE_SLACK while a line fits), so that a caller can account for the
 * memory before feeding. SIZE_MAX if no allocation would fit.
 */
size_t netd_line_cap_after(const struct netd_line *lb, size_t n);

/** The allocation in bytes now. */
static inline size_t netd_line_cap(const struct netd_line *lb)
{
    return lb->cap;
}

/** Gives a large buffer back when it holds nothing (an idle connection keeps none). */
void netd_line_trim(struct netd_line *lb);

/** Bytes buffered that do not yet form a complete line. */
size_t netd_line_buffered(const struct netd_line *lb);

/**
 * Every byte fed and not yet returned as a line, complete lines or not
 * (what follows a protocol upgrade): sets *@data (inside the buffer, valid
 * until the next feed/next/free) and returns how many.
 */
size_t netd_line_rest(const struct netd_line *lb, const char **data);

#endif
