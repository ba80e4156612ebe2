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

/*
 * Base64 through tables. The alphabet as a constant expression, so the
 * tables below are built by the compiler: B64C(v) is the character of the
 * 6-bit value v, B64V(c) the value of character c, or 64 when c is not in
 * the alphabet.
 */
#define B64C(v)                                                                                    \
    ((v) < 26    ? 'A' + (v)                                                                       \
     : (v) < 52  ? 'a' + (v)-26                                                                    \
     : (v) < 62  ? '0' + (v)-52                                                                    \
     : (v) == 62 ? '+'                                                                             \
                 : '/')
#define B64V(c)                                                                                    \
    ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                                        \
     : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                                   \
     : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                                   \
     : (c) == '+'               ? 62                                                               \
     : (c) == '/'               ? 63                                                               \
                                : 64)

/* X16(M, b) is M(b+0) ... M(b+15); X256 and X4096 nest it. */
#define X16(M, b)                                                                                  \
    M((b) + 0), M((b) + 1), M((b) + 2), M((b) + 3), M((b) + 4), M((b) + 5), M((b) + 6),            \
        M((b) + 7), M((b) + 8), M((b) + 9), M((b) + 10), M((b) + 11), M((b) + 12), M((b) + 13),    \
        M((b) + 14), M((b) + 15)
#define X256_(M, b)                                                                                \
    X16(M, (b) + 0), X16(M, (b) + 16), X16(M, (b) + 32), X16(M, (b) + 48), X16(M, (b) + 64),       \
        X16(M, (b) + 80), X16(M, (b) + 96), X16(M, (b) + 112), X16(M, (b) + 128),                  \
        X16(M, (b) + 144), X16(M, (b) + 160), X16(M, (b) + 176), X16(M, (b) + 192),                \
        X16(M, (b) + 208), X16(M, (b) + 224), X16(M, (b) + 240)
#define X256(M) X256_(M, 0)

/* Encoding: two characters for each 12-bit value, so three bytes take two
 * look-ups. 8 KiB, read-only. */
#define ENC_PAIR(i)                                                                                \
    {                                                                                              \
        (char)B64C((i) >> 6), (char)B64C((i)&63)                                                   \
    }
#define X4096(M)                                                                                   \
    X256_(M, 0), X256_(M, 256), X256_(M, 512), X256_(M, 768), X256_(M, 1024), X256_(M, 1280),      \
        X256_(M, 1536), X256_(M, 1792), X256_(M, 2048), X256_(M, 2304), X256_(M, 2560),            \
        X256_(M, 2816), X256_(M, 3072), X256_(M, 3328), X256_(M, 3584), X256_(M, 3840)
static const char b64_pairs[4096][2] = {X4096(ENC_PAIR)};

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Decoding: one table per position in a group of four, each holding the
 * character's value already shifted into place, so a group is four look-ups
 * OR-ed together. A character outside the alphabet has bit 24 set in every
 * table, past the 24 bits a group makes, so one test of the OR-ed groups
 * finds it. 4 KiB, read-only. */
#define B64_BAD (1u << 24)
#define DEC_AT(c, shift) (B64V(c) == 64 ? B64_BAD : (uint32_t)B64V(c) << (shift))
#define DEC0(c) DEC_AT(c, 18)
#define DEC1(c) DEC_AT(c, 12)
#define DEC2(c) DEC_AT(c, 6)
#define DEC3(c) DEC_AT(c, 0)
static const uint32_t b64_dec[4][256] = {{X256(DEC0)}, {X256(DEC1)}, {X256(DEC2)}, {X256(DEC3)}};

/* Byte order: @v as read from (or to be written to) memory that holds it
 * most significant byte first. */
static uint32_t big_endian(uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap32(v);
#else
    return v;
#endif
}

static uint64_t big_endian64(uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap64(v);
#else
    return v;
#endif
}

void netd_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0;
    /* Six bytes a step, read as one 8-byte load while 8 bytes remain. */
    for (; i + 8 <= n; i += 6) {
        uint64_t v;
        memcpy(&v, in + i, 8);
        v = big_endian64(v) >> 16;
        memcpy(out, b64_pairs[(v >> 36) & 0xfff], 2);
        memcpy(out + 2, b64_pairs[(v >> 24) & 0xfff], 2);
        memcpy(out + 4, b64_pairs[(v >> 12) & 0xfff], 2);
        memcpy(out + 6, b64_pairs[v & 0xfff], 2);
        out += 8;
    }
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        memcpy(out, b64_pairs[v >> 12], 2);
        memcpy(out + 2, b64_pairs[v & 0xfff], 2);
        out += 4;
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

static uint32_t b64_group(const unsigned char *p)
{
    return b64_dec[0][p[0]] | b64_dec[1][p[1]] | b64_dec[2][p[2]] | b64_dec[3][p[3]];
}

int netd_base64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    long long data = b64_data_len(in, n);
    if (data < 0)
        return -1;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, i = 0, whole = (size_t)data / 4 * 4;
    uint32_t bad = 0;
    /* Two groups at a time while another whole group follows: each group
     * is stored as four bytes (the fourth is overwritten by the next
     * group), which compiles to one store instead of three. */
    for (; i + 12 <= whole; i += 8) {
        uint32_t v = b64_group(p + i), w = b64_group(p + i + 4);
        bad |= v | w;
        uint32_t be = big_endian(v << 8), we = big_endian(w << 8);
        memcpy(out + o, &be, 4);
        memcpy(out + o + 3, &we, 4);
        o += 6;
    }
    for (; i < whole; i += 4) {
        uint32_t v = b64_group(p + i);
        bad |= v;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if (bad & B64_BAD)
        return -1;
    /* Two or three characters left: one or two bytes. */
    size_t rest = (size_t)data - i;
    if (rest > 0) {
        uint32_t v =
            b64_dec[0][p[i]] | b64_dec[1][p[i + 1]] | (rest == 3 ? b64_dec[2][p[i + 2]] : 0);
        if (v & B64_BAD)
            return -1;
        /* Left-over bits must be zero: otherwise two different strings
         * would decode to the same bytes, and the client probably sent
         * garbage. */
        if (v & (rest == 2 ? 0xffff : 0xff))
            return -1;
        out[o++] = (uint8_t)(v >> 16);
        if (rest == 3)
            out[o++] = (uint8_t)(v >> 8);
    }
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
