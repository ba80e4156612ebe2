/*
 * test_codec.c - base64, hex and UTF-8 of proto/codec.c: known vectors,
 * round trips, strict rejection of everything malformed, and the
 * table-driven base64 against the plain one it replaced, on random input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "codec.h"

/* Deterministic bytes, so a failure can be reproduced. */
static uint32_t rng_state = 12345;
static uint8_t rng_byte(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (uint8_t)(rng_state >> 16);
}

static void test_encoding_names(void **state)
{
    (void)state;
    enum netd_encoding e;
    assert_int_equal(netd_encoding_parse("base64", &e), 0);
    assert_int_equal(e, NETD_ENC_BASE64);
    assert_int_equal(netd_encoding_parse("utf8", &e), 0);
    assert_int_equal(e, NETD_ENC_UTF8);
    assert_int_equal(netd_encoding_parse("hex", &e), 0);
    assert_int_equal(e, NETD_ENC_HEX);
    static const char *const bad[] = {"", "BASE64", "utf-8", "Hex", "base64 ", "b64"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(netd_encoding_parse(bad[i], &e), -1);
    assert_int_equal(netd_encoding_parse(NULL, &e), -1);
    assert_string_equal(netd_encoding_name(NETD_ENC_BASE64), "base64");
    assert_string_equal(netd_encoding_name(NETD_ENC_UTF8), "utf8");
    assert_string_equal(netd_encoding_name(NETD_ENC_HEX), "hex");
}

/* Decodes @s, expecting success with bytes @want (@n of them). */
static void expect_b64(const char *s, const void *want, size_t n)
{
    uint8_t out[256];
    size_t len = 999;
    assert_true(strlen(s) / 4 * 3 + 3 <= sizeof out);
    assert_int_equal(netd_base64_decode(s, strlen(s), out, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(out, want, n);
}

static void expect_b64_bad(const char *s, size_t n)
{
    uint8_t out[256];
    size_t len;
    assert_int_equal(netd_base64_decode(s, n, out, &len), -1);
}

/* RFC 4648 section 10. */
static void test_base64_vectors(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        size_t n = strlen(plain[i]);
        assert_int_equal(netd_base64_len(n), strlen(coded[i]));
        netd_base64_encode((const uint8_t *)plain[i], n, out);
        assert_string_equal(out, coded[i]);
        expect_b64(coded[i], plain[i], n);
    }
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    uint8_t in[300], back[303];
    char text[401];
    for (size_t n = 0; n <= sizeof in; n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = n == 256 ? (uint8_t)i : rng_byte();
        netd_base64_encode(in, n, text);
        assert_int_equal(strlen(text), netd_base64_len(n));
        size_t len;
        assert_int_equal(netd_base64_decode(text, strlen(text), back, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(back, in, n);
    }
}

/* The header allows the padding to be left out. */
static void test_base64_unpadded(void **state)
{
    (void)state;
    expect_b64("Zg", "f", 1);
    expect_b64("Zm8", "fo", 2);
    expect_b64("Zm9vYg", "foob", 4);
    expect_b64("+/+/", "\xfb\xff\xbf", 3);
}

static void test_base64_rejects_bad_characters(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zm9v!A==", "Zm 9v", "Zm9v\n", "Zm9v\r\n", "-_-_", "Zm9v.===", "Zm9\x80", "Zm9\xff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_b64_bad(bad[i], strlen(bad[i]));
    expect_b64_bad("Zm\0v", 4);
}

static void test_base64_rejects_bad_padding(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "Zg=",      "Zg===", "Z===",  "====",   "=Zg=",    "Zm=v",
        "Zg==Zg==", "Zm8==", "Zm9v=", "Zm9v==", "Zm9vYg=", "Zm9vYmE==",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_b64_bad(bad[i], strlen(bad[i]));
}

static void test_base64_rejects_wrong_length(void **state)
{
    (void)state;
    expect_b64_bad("Z", 1);
    expect_b64_bad("Zm9vY", 5);
    expect_b64_bad("Zm9vYmFyZ", 9);
}

/* Unused low bits must be zero: "Zh==" would otherwise also mean "f". */
static void test_base64_rejects_noncanonical_bits(void **state)
{
    (void)state;
    expect_b64_bad("Zh==", 4);
    expect_b64_bad("Zm9=", 4);
    expect_b64_bad("Zh", 2);
    expect_b64("Zg==", "f", 1);
}

/*
 * The reference: the codec as it was before the table-driven one (one
 * character at a time), kept here so the fast codec is checked against it
 * on random inputs, valid and not.
 */
static const char ref_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void ref_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = ref_alphabet[v >> 18];
        *out++ = ref_alphabet[(v >> 12) & 63];
        *out++ = ref_alphabet[(v >> 6) & 63];
        *out++ = ref_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *out++ = ref_alphabet[v >> 18];
        *out++ = ref_alphabet[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *out++ = ref_alphabet[v >> 18];
        *out++ = ref_alphabet[(v >> 12) & 63];
        *out++ = ref_alphabet[(v >> 6) & 63];
        *out++ = '=';
    }
    *out = '\0';
}

static int ref_value(unsigned char c)
{
    const char *p = c ? strchr(ref_alphabet, c) : NULL;
    return p ? (int)(p - ref_alphabet) : -1;
}

static int ref_base64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen)
{
    size_t pad = 0;
    while (pad < n && pad < 3 && in[n - 1 - pad] == '=')
        pad++;
    size_t data = n - pad;
    if (data % 4 == 1)
        return -1;
    if (pad > 0 && (n % 4 != 0 || pad != (4 - data % 4) % 4))
        return -1;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < data; i++) {
        int v = ref_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    *outlen = o;
    return 0;
}

/* Both decoders on @s: same verdict, and on success the same bytes. The
 * output buffer is exactly the documented size, so ASan sees an overrun. */
static void expect_same_decode(const char *s, size_t n)
{
    size_t cap = (n / 4 + 1) * 3;
    uint8_t *fast = malloc(cap), *ref = malloc(cap);
    assert_non_null(fast);
    assert_non_null(ref);
    size_t flen = 0, rlen = 0;
    int frc = netd_base64_decode(s, n, fast, &flen);
    int rrc = ref_base64_decode(s, n, ref, &rlen);
    if (frc != rrc)
        fail_msg("decode of %zu characters: fast %d, reference %d", n, frc, rrc);
    if (frc == 0) {
        assert_int_equal(flen, rlen);
        assert_memory_equal(fast, ref, flen);
    }
    free(fast);
    free(ref);
}

/* Random bytes of every length up to 512 and some large ones: the same
 * text as the reference; that text and damaged copies of it decode alike. */
static void test_base64_against_reference(void **state)
{
    (void)state;
    /* Characters to damage with: the alphabet's edges, padding, and bytes
     * outside it (NUL, space, high bytes, the URL-safe alphabet). */
    static const char damage[] = "A/+Z09az=\0 \n-_.\x80\xff";
    size_t sizes[600], nsizes = 0;
    for (size_t n = 0; n <= 512; n++)
        sizes[nsizes++] = n;
    sizes[nsizes++] = 65536;
    sizes[nsizes++] = 65537;
    sizes[nsizes++] = 200003;
    for (size_t k = 0; k < nsizes; k++) {
        size_t n = sizes[k], len = netd_base64_len(n);
        uint8_t *in = malloc(n + 1);
        char *fast = malloc(len + 1), *ref = malloc(len + 1);
        assert_non_null(in);
        assert_non_null(fast);
        assert_non_null(ref);
        for (size_t i = 0; i < n; i++)
            in[i] = rng_byte();
        netd_base64_encode(in, n, fast);
        ref_base64_encode(in, n, ref);
        assert_memory_equal(fast, ref, len + 1);
        expect_same_decode(fast, len);
        /* Unpadded, and cut at every length near the end. */
        for (size_t cut = 1; cut <= 5 && cut <= len; cut++)
            expect_same_decode(fast, len - cut);
        /* One to three damaged characters anywhere. */
        for (int round = 0; round < 8 && len > 0; round++) {
            memcpy(ref, fast, len + 1);
            int hits = 1 + rng_byte() % 3;
            for (int h = 0; h < hits; h++) {
                size_t at = ((size_t)rng_byte() << 16 | (size_t)rng_byte() << 8 | rng_byte()) % len;
                ref[at] = damage[rng_byte() % (sizeof damage - 1)];
            }
            expect_same_decode(ref, len);
        }
        free(in);
        free(fast);
        free(ref);
    }
    /* Short strings of random characters from the alphabet and around it:
     * most are invalid in some way, and both must say the same. */
    for (int round = 0; round < 50000; round++) {
        char s[16];
        size_t n = rng_byte() % sizeof s;
        for (size_t i = 0; i < n; i++) {
            uint8_t r = rng_byte();
            s[i] = r < 200 ? ref_alphabet[r % 64] : damage[r % (sizeof damage - 1)];
        }
        expect_same_decode(s, n);
    }
}

static void test_hex(void **state)
{
    (void)state;
    uint8_t all[256], back[256];
    char text[513];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    netd_hex_encode(all, 256, text);
    assert_int_equal(strlen(text), 512);
    assert_memory_equal(text, "000102", 6);
    assert_string_equal(text + 506, "fdfeff");
    size_t len;
    assert_int_equal(netd_hex_decode(text, 512, back, &len), 0);
    assert_int_equal(len, 256);
    assert_memory_equal(back, all, 256);
    assert_int_equal(netd_hex_decode("DEADbeef", 8, back, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(back, "\xde\xad\xbe\xef", 4);
    assert_int_equal(netd_hex_decode("", 0, back, &len), 0);
    assert_int_equal(len, 0);
}

static void test_hex_rejects_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {"abc", "0", "0g", "g0", "  ", "0x00", "12 34", "-1"};
    uint8_t out[8];
    size_t len;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(netd_hex_decode(bad[i], strlen(bad[i]), out, &len), -1);
    assert_int_equal(netd_hex_decode("a\0", 2, out, &len), -1);
}

static int utf8_ok(const char *s, size_t n)
{
    return netd_utf8_valid((const uint8_t *)s, n);
}
#define UTF8_OK(lit) utf8_ok(lit, sizeof(lit) - 1)

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(UTF8_OK(""));
    assert_true(UTF8_OK("plain ascii"));
    assert_true(UTF8_OK("nul \0 inside"));
    assert_true(UTF8_OK("\xc3\xa9"));         /* U+00E9 */
    assert_true(UTF8_OK("\xc2\x80"));         /* U+0080, smallest 2-byte */
    assert_true(UTF8_OK("\xdf\xbf"));         /* U+07FF */
    assert_true(UTF8_OK("\xe0\xa0\x80"));     /* U+0800, smallest 3-byte */
    assert_true(UTF8_OK("\xe2\x82\xac"));     /* U+20AC */
    assert_true(UTF8_OK("\xed\x9f\xbf"));     /* U+D7FF, just below surrogates */
    assert_true(UTF8_OK("\xee\x80\x80"));     /* U+E000, just above them */
    assert_true(UTF8_OK("\xef\xbf\xbf"));     /* U+FFFF */
    assert_true(UTF8_OK("\xf0\x90\x80\x80")); /* U+10000, smallest 4-byte */
    assert_true(UTF8_OK("\xf0\x9f\x98\x80")); /* U+1F600 */
    assert_true(UTF8_OK("\xf4\x8f\xbf\xbf")); /* U+10FFFF, the last */
}

static void test_utf8_invalid(void **state)
{
    (void)state;
    static const struct {
        const char *bytes;
        const char *why;
    } bad[] = {
        {"\xc0\x80", "overlong U+0000"},
        {"\xc1\xbf", "overlong U+007F"},
        {"\xe0\x80\x80", "overlong 3-byte U+0000"},
        {"\xe0\x9f\xbf", "overlong 3-byte U+07FF"},
        {"\xf0\x80\x80\x80", "overlong 4-byte U+0000"},
        {"\xf0\x8f\xbf\xbf", "overlong 4-byte U+FFFF"},
        {"\xed\xa0\x80", "surrogate U+D800"},
        {"\xed\xb0\x80", "surrogate U+DC00"},
        {"\xed\xbf\xbf", "surrogate U+DFFF"},
        {"\xed\xa0\xbd\xed\xb8\x80", "surrogate pair (CESU-8)"},
        {"\xf4\x90\x80\x80", "U+110000"},
        {"\xf5\x80\x80\x80", "lead byte F5"},
        {"\xf7\xbf\xbf\xbf", "lead byte F7"},
        {"\xf8\x88\x80\x80\x80", "5-byte form"},
        {"\xfe", "byte FE"},
        {"\xff", "byte FF"},
        {"\x80", "lone continuation 80"},
        {"\xbf", "lone continuation BF"},
        {"a\x80", "continuation after ASCII"},
        {"\xc3", "truncated 2-byte"},
        {"\xe2\x82", "truncated 3-byte"},
        {"\xf0\x9f\x98", "truncated 4-byte"},
        {"ok\xc3", "truncated at the end"},
        {"\xc3\x28", "bad second byte"},
        {"\xe2\x28\xa1", "bad second of three"},
        {"\xe2\x82\x28", "bad third of three"},
        {"\xf0\x9f\x28\x80", "bad third of four"},
        {"\xf0\x9f\x98\x28", "bad fourth of four"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (utf8_ok(bad[i].bytes, strlen(bad[i].bytes)))
            fail_msg("accepted invalid UTF-8: %s", bad[i].why);
    }
}

/*
 * A second, deliberately naive decoder: take the length from the lead
 * byte, read the code point, then refuse overlongs, surrogates and values
 * past U+10FFFF. Comparing it with netd_utf8_valid on every sequence of up
 * to three bytes, and on many four-byte ones, checks the range tables.
 */
static size_t reference_len(uint8_t lead)
{
    if (lead < 0x80)
        return 1;
    if (lead < 0xc0)
        return 0;
    if (lead < 0xe0)
        return 2;
    if (lead < 0xf0)
        return 3;
    return lead < 0xf8 ? 4 : 0;
}

static int reference_valid_char(const uint8_t *p, size_t n)
{
    static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    size_t len = reference_len(p[0]);
    if (len == 0 || len != n)
        return 0;
    uint32_t cp = len == 1 ? p[0] : p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return 1;
}

static void test_utf8_against_reference(void **state)
{
    (void)state;
    uint8_t b[4];
    for (uint32_t v = 0; v < 0x1000000; v++) {
        b[0] = (uint8_t)(v >> 16), b[1] = (uint8_t)(v >> 8), b[2] = (uint8_t)v;
        if (b[0] >= 0xe0 && b[0] < 0xf0 && netd_utf8_valid(b, 3) != reference_valid_char(b, 3))
            fail_msg("3-byte %02x %02x %02x", b[0], b[1], b[2]);
        if (v < 0x10000 && b[1] >= 0x80 &&
            netd_utf8_valid(b + 1, 2) != reference_valid_char(b + 1, 2))
            fail_msg("2-byte %02x %02x", b[1], b[2]);
    }
    for (uint32_t lead = 0xf0; lead <= 0xff; lead++) {
        for (int i = 0; i < 20000; i++) {
            b[0] = (uint8_t)lead;
            b[1] = (uint8_t)(0x80 | rng_byte() % 0x40);
            if (i % 2)
                b[1] = rng_byte();
            b[2] = (uint8_t)(0x80 | (rng_byte() & 0x3f));
            b[3] = (uint8_t)(0x80 | (rng_byte() & 0x3f));
            if (netd_utf8_valid(b, 4) != reference_valid_char(b, 4))
                fail_msg("4-byte %02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
        }
    }
}

static void test_data_decode(void **state)
{
    (void)state;
    uint8_t *out = NULL;
    size_t len = 0;
    assert_int_equal(netd_data_decode("aGk=", 4, NETD_ENC_BASE64, &out, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(out, "hi", 2);
    free(out);
    assert_int_equal(netd_data_decode("6869", 4, NETD_ENC_HEX, &out, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(out, "hi", 2);
    free(out);
    assert_int_equal(netd_data_decode("h\0\xc3\xa9", 4, NETD_ENC_UTF8, &out, &len), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(out, "h\0\xc3\xa9", 4);
    free(out);
}

/* Zero bytes still come back in a real buffer the caller can free. */
static void test_data_decode_empty(void **state)
{
    (void)state;
    for (int e = NETD_ENC_BASE64; e <= NETD_ENC_HEX; e++) {
        uint8_t *out = NULL;
        size_t len = 99;
        assert_int_equal(netd_data_decode("", 0, (enum netd_encoding)e, &out, &len), 0);
        assert_non_null(out);
        assert_int_equal(len, 0);
        free(out);
    }
}

static void test_data_decode_invalid(void **state)
{
    (void)state;
    uint8_t *out = (uint8_t *)"untouched";
    size_t len;
    assert_int_equal(netd_data_decode("aGk", 3, NETD_ENC_HEX, &out, &len), -1);
    assert_int_equal(netd_data_decode("a!k=", 4, NETD_ENC_BASE64, &out, &len), -1);
    assert_int_equal(netd_data_decode("\xff", 1, NETD_ENC_UTF8, &out, &len), -1);
    assert_string_equal((const char *)out, "untouched");
}

/* Encodes @n bytes of @p wanting @want; checks the encoding used and the text. */
static void expect_encode(const char *p, size_t n, enum netd_encoding want,
                          enum netd_encoding used_want, const char *text, size_t textlen)
{
    enum netd_encoding used = (enum netd_encoding) - 1;
    json_t *s = netd_data_encode((const uint8_t *)p, n, want, &used);
    assert_non_null(s);
    assert_true(json_is_string(s));
    assert_int_equal(used, used_want);
    assert_int_equal(json_string_length(s), textlen);
    assert_memory_equal(json_string_value(s), text, textlen);
    json_decref(s);
}

static void test_data_encode(void **state)
{
    (void)state;
    expect_encode("hi", 2, NETD_ENC_BASE64, NETD_ENC_BASE64, "aGk=", 4);
    expect_encode("hi", 2, NETD_ENC_HEX, NETD_ENC_HEX, "6869", 4);
    expect_encode("h\xc3\xa9", 3, NETD_ENC_UTF8, NETD_ENC_UTF8, "h\xc3\xa9", 3);
    /* json_stringn keeps an embedded NUL that json_string would cut. */
    expect_encode("a\0b", 3, NETD_ENC_UTF8, NETD_ENC_UTF8, "a\0b", 3);
    expect_encode("", 0, NETD_ENC_UTF8, NETD_ENC_UTF8, "", 0);
    expect_encode("", 0, NETD_ENC_BASE64, NETD_ENC_BASE64, "", 0);
    expect_encode("", 0, NETD_ENC_HEX, NETD_ENC_HEX, "", 0);
}

/* Bytes that are not UTF-8 asked for as utf8 come back as base64. */
static void test_data_encode_utf8_fallback(void **state)
{
    (void)state;
    expect_encode("\xff\xfe", 2, NETD_ENC_UTF8, NETD_ENC_BASE64, "//4=", 4);
    expect_encode("ok\xc3", 3, NETD_ENC_UTF8, NETD_ENC_BASE64, "b2vD", 4);
    expect_encode("\xed\xa0\x80", 3, NETD_ENC_UTF8, NETD_ENC_BASE64, "7aCA", 4);
}

/* Encoding then decoding in each encoding gives the bytes back. */
static void test_data_round_trip(void **state)
{
    (void)state;
    uint8_t in[1000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = rng_byte();
    for (int e = NETD_ENC_BASE64; e <= NETD_ENC_HEX; e++) {
        enum netd_encoding used;
        json_t *s = netd_data_encode(in, sizeof in, (enum netd_encoding)e, &used);
        assert_non_null(s);
        uint8_t *out;
        size_t len;
        assert_int_equal(
            netd_data_decode(json_string_value(s), json_string_length(s), used, &out, &len), 0);
        assert_int_equal(len, sizeof in);
        assert_memory_equal(out, in, len);
        free(out);
        json_decref(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding_names),
        cmocka_unit_test(test_base64_vectors),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_unpadded),
        cmocka_unit_test(test_base64_rejects_bad_characters),
        cmocka_unit_test(test_base64_rejects_bad_padding),
        cmocka_unit_test(test_base64_rejects_wrong_length),
        cmocka_unit_test(test_base64_rejects_noncanonical_bits),
        cmocka_unit_test(test_base64_against_reference),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_hex_rejects_invalid),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_invalid),
        cmocka_unit_test(test_utf8_against_reference),
        cmocka_unit_test(test_data_decode),
        cmocka_unit_test(test_data_decode_empty),
        cmocka_unit_test(test_data_decode_invalid),
        cmocka_unit_test(test_data_encode),
        cmocka_unit_test(test_data_encode_utf8_fallback),
        cmocka_unit_test(test_data_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
