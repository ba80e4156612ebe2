/*
 * lean.c - finding the data string in a line without parsing it, and
 * taking an ordinary request line apart (see lean.h for why both give the
 * same results as parsing the line with jansson).
 *
 * The scanner follows JSON's structure only as far as it must: it reads the
 * keys of the top-level object and of one object inside it, and skips every
 * other value by counting brackets outside strings. On a valid line it
 * tokenises as any JSON parser does; on an invalid one it may find
 * anything, but then jansson refuses the rest of the line too, because
 * only the characters inside one string were taken out. The request path
 * checks every character of the envelope itself (plain keys and strings,
 * integers as JSON writes them, nothing else) and leaves the params object
 * to jansson.
 */
#include "lean.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct scan {
    const char *p, *end;
};

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void skip_ws(struct scan *s)
{
    while (s->p < s->end && is_ws(*s->p))
        s->p++;
}

static bool take(struct scan *s, char c)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return true;
    }
    return false;
}

/*
 * True when every byte of [p, e) is printable ASCII other than a backslash
 * (0x20-0x7f without 0x5c), eight bytes per step: a write's data string is
 * most of its line, and a byte at a time cost about as much as decoding it.
 * For a word x, a byte >= 0x80 shows in x's high bits; (x - 0x20 per byte)
 * & ~x sets a byte's high bit for the lowest byte below 0x20, if any (no
 * borrow reaches that byte, and none happens at all when every byte is
 * 0x20 or above); the same on x ^ 0x5c per byte finds a backslash as a
 * zero byte. Only "is there one" matters, never which byte it is.
 */
static bool all_plain(const unsigned char *p, const unsigned char *e)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t bad = 0;
    for (; e - p >= 8; p += 8) {
        uint64_t x;
        memcpy(&x, p, sizeof x);
        uint64_t b = x ^ (ones * '\\');
        bad |= x | ((x - ones * 0x20) & ~x) | ((b - ones) & ~b);
    }
    if (bad & highs)
        return false;
    for (; p < e; p++)
        if (*p < 0x20 || *p >= 0x80 || *p == '\\')
            return false;
    return true;
}

/* Skips the string that starts at s->p (its opening quote). Sets *plain
 * when its characters need no decoding: printable ASCII, no backslash. */
static bool skip_string(struct scan *s, bool *plain)
{
    const char *p = s->p + 1;
    bool ok = true;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(s->end - p));
        if (!q)
            return false;
        /* Backslashes before the quote: an odd number escapes it. */
        size_t bs = 0;
        while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (plain && ok)
            ok = all_plain((const unsigned char *)p, (const unsigned char *)q);
        if (bs % 2 == 0) {
            s->p = q + 1;
            if (plain)
                *plain = ok;
            return true;
        }
        ok = false;
        p = q + 1;
    }
}

/* Skips one value of any kind. Containers are skipped by depth, strings
 * inside them by skip_string, so brackets in strings do not count; a
 * number or literal ends where the next separator starts. */
static bool skip_value(struct scan *s)
{
    skip_ws(s);
    size_t depth = 0;
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            if (!skip_string(s, NULL))
                return false;
            if (depth == 0)
                return true;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return true; /* a number or literal ended by its object's end */
            if (--depth == 0) {
                s->p++;
                return true;
            }
        } else if (depth == 0 && (c == ',' || is_ws(c))) {
            return true;
        }
        s->p++;
    }
    return false;
}

/* A plain string value; its characters are [*v, *v + *n). */
static bool read_plain(struct scan *s, const char **v, size_t *n)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    const char *start = s->p + 1;
    bool plain;
    if (!skip_string(s, &plain) || !plain)
        return false;
    *v = start;
    *n = (size_t)(s->p - 1 - start);
    return true;
}

/* Reads a key and its colon; the key's characters are [*k, *k + *kn). */
static bool read_key(struct scan *s, const char **k, size_t *kn)
{
    skip_ws(s);
    return read_plain(s, k, kn) && take(s, ':');
}

static bool key_is(const char *k, size_t kn, const char *name)
{
    return strlen(name) == kn && memcmp(k, name, kn) == 0;
}

/* With s->p inside an object (after '{'), moves to the value of member
 * @name. False when the object ends first or the scanner loses its way. */
static bool find_member(struct scan *s, const char *name)
{
    skip_ws(s);
    if (s->p < s->end && *s->p == '}')
        return false;
    for (;;) {
        const char *k;
        size_t kn;
        if (!read_key(s, &k, &kn))
            return false;
        skip_ws(s);
        if (key_is(k, kn, name))
            return true;
        if (!skip_value(s) || !take(s, ','))
            return false;
    }
}

int netd_lean_find(const char *line, size_t len, const char *outer, const char *inner, size_t *off,
                   size_t *n)
{
    struct scan s = {line, line + len};
    if (!take(&s, '{') || !find_member(&s, outer) || !take(&s, '{') || !find_member(&s, inner))
        return -1;
    if (s.p >= s.end || *s.p != '"')
        return -1;
    const char *start = s.p + 1;
    bool plain;
    if (!skip_string(&s, &plain) || !plain)
        return -1;
    *off = (size_t)(start - line);
    *n = (size_t)(s.p - 1 - start);
    return 0;
}

json_t *netd_lean_load(const char *line, size_t len, const char *outer, const char *inner,
                       size_t flags, size_t *off, size_t *n)
{
    if (netd_lean_find(line, len, outer, inner, off, n) < 0)
        return NULL;
    /* The line without the string's characters: its quotes stay, so
     * jansson sees "" there. */
    size_t rest = len - *n;
    char small[512];
    char *buf = rest <= sizeof small ? small : malloc(rest);
    if (!buf)
        return NULL;
    memcpy(buf, line, *off);
    memcpy(buf + *off, line + *off + *n, len - *off - *n);
    json_t *msg = json_loadb(buf, rest, flags, NULL);
    if (buf != small)
        free(buf);
    return msg;
}

/* An integer as JSON writes it (no leading zero, no fraction or exponent),
 * of at most 18 digits so that it cannot overflow. */
static bool read_int(struct scan *s, json_int_t *v)
{
    const char *p = s->p;
    bool neg = p < s->end && *p == '-';
    p += neg;
    const char *digits = p;
    while (p < s->end && *p >= '0' && *p <= '9')
        p++;
    size_t count = (size_t)(p - digits);
    if (count == 0 || count > 18 || (count > 1 && *digits == '0'))
        return false;
    if (p < s->end && (*p == '.' || *p == 'e' || *p == 'E'))
        return false;
    json_int_t n = 0;
    for (const char *d = digits; d < p; d++)
        n = n * 10 + (*d - '0');
    *v = neg ? -n : n;
    s->p = p;
    return true;
}

/* params without its data string (when the lean path found one), parsed. */
static json_t *load_params(const char *line, const char *ps, const char *pe,
                           struct netd_lean_req *out, size_t flags)
{
    size_t off, n;
    out->has_data = netd_lean_find(line, (size_t)(pe - line), "params", "data", &off, &n) == 0 &&
                    line + off > ps && line + off + n < pe;
    if (!out->has_data)
        return json_loadb(ps, (size_t)(pe - ps), flags, NULL);
    out->data_off = off;
    out->data_n = n;
    size_t rest = (size_t)(pe - ps) - n, head = (size_t)(line + off - ps);
    char small[512];
    char *buf = rest <= sizeof small ? small : malloc(rest);
    if (!buf)
        return NULL;
    memcpy(buf, ps, head);
    memcpy(buf + head, line + off + n, rest - head);
    json_t *v = json_loadb(buf, rest, flags, NULL);
    if (buf != small)
        free(buf);
    return v;
}

int netd_lean_request(const char *line, size_t len, size_t flags, struct netd_lean_req *out)
{
    struct scan s = {line, line + len};
    const char *ps = NULL, *pe = NULL;
    bool seen_version = false;
    memset(out, 0, sizeof *out);
    if (!take(&s, '{'))
        return -1;
    for (bool first = true;; first = false) {
        if (take(&s, '}'))
            break;
        const char *k;
        size_t kn;
        if ((!first && !take(&s, ',')) || !read_key(&s, &k, &kn))
            return -1;
        skip_ws(&s);
        if (key_is(k, kn, "jsonrpc") && !seen_version) {
            const char *v;
            size_t vn;
            if (!read_plain(&s, &v, &vn) || vn != 3 || memcmp(v, "2.0", 3) != 0)
                return -1;
            seen_version = true;
        } else if (key_is(k, kn, "id") && !out->has_id) {
            if (!read_int(&s, &out->id))
                return -1;
            out->has_id = 1;
        } else if (key_is(k, kn, "method") && !out->method) {
            if (!read_plain(&s, &out->method, &out->method_len))
                return -1;
        } else if (key_is(k, kn, "params") && !ps) {
            if (s.p >= s.end || *s.p != '{')
                return -1;
            ps = s.p;
            if (!skip_value(&s))
                return -1;
            pe = s.p;
        } else {
            return -1; /* another member, or one given twice */
        }
    }
    skip_ws(&s);
    if (s.p != s.end || !seen_version || !out->method)
        return -1;
    if (ps && !(out->params = load_params(line, ps, pe, out, flags)))
        return -1;
    return 0;
}
