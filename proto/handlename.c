/*
 * handlename.c - parsing and writing handle names, one spelling each.
 *
 * The parser reads digits itself rather than with strtoul(), which skips
 * white space, takes a sign and leading zeros, and so gives one handle many
 * names; here every byte is checked against the one form the formatter
 * writes.
 */
#include "handlename.h"

#include <stdio.h>

/* The decimal worker at s[*at..]: 1 to 4 digits, no leading zero unless it
 * is "0" itself. Advances *at; -1 when the digits are not canonical. */
static int parse_worker(const char *s, size_t len, size_t *at)
{
    size_t i = *at, start = i;
    int v = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9' && i - start < 5) {
        v = v * 10 + (s[i] - '0');
        i++;
    }
    size_t n = i - start;
    if (n == 0 || (n > 1 && s[start] == '0') || v > NETD_HANDLE_WORKER_MAX)
        return -1;
    *at = i;
    return v;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* uppercase too: the formatter writes lowercase only */
}

int netd_handle_parse(const char *s, size_t len, int *worker, uint64_t *seq)
{
    if (!s || len < 4 || len > NETD_HANDLE_NAME_MAX || s[0] != 'h')
        return -1;
    size_t at = 1;
    int wi = parse_worker(s, len, &at);
    if (wi < 0 || at >= len || s[at] != '.')
        return -1;
    at++;
    /* 1 to 16 hex digits, the first not 0: that also makes seq != 0 and
     * keeps the value inside 64 bits. */
    size_t digits = len - at;
    if (digits == 0 || digits > 16 || s[at] == '0')
        return -1;
    uint64_t v = 0;
    for (; at < len; at++) {
        int d = hex_digit(s[at]);
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *worker = wi;
    *seq = v;
    return 0;
}

int netd_handle_format(char *buf, size_t len, int worker, uint64_t seq)
{
    if (len > 0)
        buf[0] = '\0';
    if (worker < 0 || worker > NETD_HANDLE_WORKER_MAX || seq == 0)
        return -1;
    int n = snprintf(buf, len, "h%d.%llx", worker, (unsigned long long)seq);
    if (n < 0 || (size_t)n >= len) {
        if (len > 0)
            buf[0] = '\0';
        return -1;
    }
    return n;
}
