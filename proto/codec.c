/*
 * codec.c - the data encodings of contract section 4.
 *
 * Decoders are strict: a request whose data is not exactly valid in the
 * encoding it names is refused, because silently skipping or repairing
 * characters would write bytes the client did not mean to send.
 */
#include "codec.h"

#include <stdlib.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const char *const encoding_names[] = {
    [NETD_ENC_BASE64] = "base64",
    [NETD_ENC_UTF8] = "utf8",
    [NETD_ENC_HEX] = "hex",
};

int netd_encoding_parse(const char *name, enum netd_encoding *out)
{
    if (!name)
        return -1;
    for (int e = NETD_ENC_BASE64; e <= NETD_ENC_HEX; e++) {
        if (strcmp(name, encoding_names[e]) == 0) {
            *out = (enum netd_encoding)e;
            return 0;
        }
    }
    return -1;
}

const char *netd_encoding_name(enum netd_encoding enc)
{
    if ((int)enc < NETD_ENC_BASE64 || enc > NETD_ENC_HEX)
        return encoding_names[NETD_ENC_BASE64];
    return encoding_names[enc];
}

size_t netd_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

void netd_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = b64_alphabet[v >> 18];
        *out++ = b64_alphabet[(v >> 12) & 63];
        *out++ = b64_alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = '\0';
}

/* The 6-bit value of a base64 character, or -1. */
/* The value of each base64 character, or -1: a table, because decoding
 * runs over every byte of every write and a chain of comparisons per
 * character made it the largest cost of a big write. */
static const int8_t b64_values[256] = {
    ['A'] = 0,  ['B'] = 1,  ['C'] = 2,  ['D'] = 3,  ['E'] = 4,  ['F'] = 5,  ['G'] = 6,  ['H'] = 7,
    ['I'] = 8,  ['J'] = 9,  ['K'] = 10, ['L'] = 11, ['M'] = 12, ['N'] = 13, ['O'] = 14, ['P'] = 15,
    ['Q'] = 16, ['R'] = 17, ['S'] = 18, ['T'] = 19, ['U'] = 20, ['V'] = 21, ['W'] = 22, ['X'] = 23,
    ['Y'] = 24, ['Z'] = 25, ['a'] = 26, ['b'] = 27, ['c'] = 28, ['d'] = 29, ['e'] = 30, ['f'] = 31,
    ['g'] = 32, ['h'] = 33, ['i'] = 34, ['j'] = 35, ['k'] = 36, ['l'] = 37, ['m'] = 38, ['n'] = 39,
    ['o'] = 40, ['p'] = 41, ['q'] = 42, ['r'] = 43, ['s'] = 44, ['t'] = 45, ['u'] = 46, ['v'] = 47,
    ['w'] = 48, ['x'] = 49, ['y'] = 50, ['z'] = 51, ['0'] = 52, ['1'] = 53, ['2'] = 54, ['3'] = 55,
    ['4'] = 56, ['5'] = 57, ['6'] = 58, ['7'] = 59, ['8'] = 60, ['9'] = 61, ['+'] = 62, ['/'] = 63,
};

/* 0 is a value too, so the table marks "not base64" apart: 'A' is the only
 * character whose value is 0. */
static int b64_value(unsigned char c)
{
    int v = b64_values[c];
    return v == 0 && c != 'A' ? -1 : v;
}

/*
 * Strips the padding of @in and returns the number of data characters, or
 * -1 when the padding or the length is wrong. Padding may be omitted, but
 * when present it must make the length a multiple of four.
 */
static long long b64_data_len(const char *in, size_t n)
{
    size_t pad = 0;
    while (pad < n && pad < 3 && in[n - 1 - pad] == '=')
        pad++;
    size_t data = n - pad;
    if (data % 4 == 1)
        return -1;
    if (pad > 0 && (n % 4 != 0 || pad != (4 - data % 4) % 4))
        return -1;
    return (long long)data;
}

int netd_base64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    long long data = b64_data_len(in, n);
    if (data < 0)
        return -1;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, i = 0, whole = (size_t)data / 4 * 4;
    /* Four characters make three bytes; one check per group. */
    for (; i < whole; i += 4) {
        int a = b64_value(p[i]), b = b64_value(p[i + 1]), c = b64_value(p[i + 2]),
            d = b64_value(p[i + 3]);
        if ((a | b | c | d) < 0)
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    uint32_t acc = 0;
    int bits = 0;
    for (; i < (size_t)data; i++) {
        int v = b64_value(p[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* Left-over bits must be zero: otherwise two different strings would
     * decode to the same bytes, and the client probably sent garbage. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    *outlen = o;
    return 0;
}

void netd_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        *out++ = digits[in[i] >> 4];
        *out++ = digits[in[i] & 15];
    }
    *out = '\0';
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int netd_hex_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    if (n % 2 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_value((unsigned char)in[i]);
        int lo = hex_value((unsigned char)in[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    *outlen = n / 2;
    return 0;
}

/*
 * Length of the well-formed UTF-8 sequence at @p (at most @n bytes), or 0.
 * The second-byte ranges follow Unicode's table of well-formed byte
 * sequences: they exclude overlong forms, the surrogates U+D800..U+DFFF and
 * everything past U+10FFFF.
 */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    }
    return len;
}

int netd_utf8_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_seq(p + i, n - i);
        if (len == 0)
            return 0;
        i += len;
    }
    return 1;
}

/* Decodes into @out (already allocated) according to @enc. */
static int data_decode_into(const char *s, size_t n, enum netd_encoding enc, uint8_t *out,
                            size_t *outlen)
{
    switch (enc) {
    case NETD_ENC_BASE64:
        return netd_base64_decode(s, n, out, outlen);
    case NETD_ENC_HEX:
        return netd_hex_decode(s, n, out, outlen);
    case NETD_ENC_UTF8:
        /* jansson already checked the string, but a caller may hand in
         * bytes from elsewhere, and the check is cheap. */
        if (!netd_utf8_valid((const uint8_t *)s, n))
            return -1;
        if (n > 0)
            memcpy(out, s, n);
        *outlen = n;
        return 0;
    }
    return -1;
}

int netd_data_decode(const char *s, size_t n, enum netd_encoding enc, uint8_t **out, size_t *outlen)
{
    size_t cap = enc == NETD_ENC_BASE64 ? (n / 4 + 1) * 3 : n;
    /* One spare byte so that zero-length data still gets a real buffer. */
    uint8_t *buf = malloc(cap + 1);
    if (!buf)
        return -1;
    if (data_decode_into(s, n, enc, buf, outlen) < 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

/* Base64 of @p as a new JSON string; base64 is ASCII, so jansson's UTF-8
 * check can be skipped. */
static json_t *base64_string(const uint8_t *p, size_t n)
{
    size_t len = netd_base64_len(n);
    char *buf = malloc(len + 1);
    if (!buf)
        return NULL;
    netd_base64_encode(p, n, buf);
    json_t *s = json_stringn_nocheck(buf, len);
    free(buf);
    return s;
}

static json_t *hex_string(const uint8_t *p, size_t n)
{
    char *buf = malloc(2 * n + 1);
    if (!buf)
        return NULL;
    netd_hex_encode(p, n, buf);
    json_t *s = json_stringn_nocheck(buf, 2 * n);
    free(buf);
    return s;
}

json_t *netd_data_encode(const uint8_t *p, size_t n, enum netd_encoding want,
                         enum netd_encoding *used)
{
    static const uint8_t empty[1];
    if (!p)
        p = empty;
    if (want == NETD_ENC_UTF8 && netd_utf8_valid(p, n)) {
        *used = NETD_ENC_UTF8;
        /* json_stringn keeps embedded NUL bytes, which json_string would cut. */
        return json_stringn((const char *)p, n);
    }
    if (want == NETD_ENC_HEX) {
        *used = NETD_ENC_HEX;
        return hex_string(p, n);
    }
    *used = NETD_ENC_BASE64;
    return base64_string(p, n);
}
