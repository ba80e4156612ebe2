/*
 * codec.h - the data encodings of contract section 4: base64 (default),
 * utf8 (with fallback to base64 when the bytes are not valid UTF-8) and hex.
 */
#ifndef NETD_PROTO_CODEC_H
#define NETD_PROTO_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* Installed as <netd/codec.h> for libnetd's users, hence the C++ guard. */
#ifdef __cplusplus
extern "C" {
#endif

enum netd_encoding { NETD_ENC_BASE64 = 0, NETD_ENC_UTF8, NETD_ENC_HEX };

/**
 * Parses "base64", "utf8" or "hex" (a C string: a caller holding a JSON
 * string first refuses one with a NUL byte, as netd_params_check() does).
 * Returns 0, or -1 for any other name (NULL too).
 */
int netd_encoding_parse(const char *name, enum netd_encoding *out);

/** "base64", "utf8" or "hex"; static storage. */
const char *netd_encoding_name(enum netd_encoding enc);

/** Characters (without the NUL) that base64 of @n bytes takes. */
size_t netd_base64_len(size_t n);

/** Writes standard padded base64 of @in to @out, which holds netd_base64_len(n)+1 bytes;
 * NUL-terminates. */
void netd_base64_encode(const uint8_t *in, size_t n, char *out);

/**
 * Decodes standard padded base64 (RFC 4648 section 4; no whitespace, padding
 * required when the length is not a multiple of 4 is accepted either way).
 * @out holds at least (n / 4 + 1) * 3 bytes. Returns 0 and sets *outlen, or -1 if
 * @in is not valid base64.
 */
int netd_base64_decode(const char *in, size_t n, uint8_t *out, size_t *outlen);

/** Writes lowercase hex of @in to @out (2n+1 bytes); NUL-terminates. */
void netd_hex_encode(const uint8_t *in, size_t n, char *out);

/** Decodes hex (either case, even length). @out holds n/2 bytes. 0, or -1 if invalid. */
int netd_hex_decode(const char *in, size_t n, uint8_t *out, size_t *outlen);

/** 1 if @p is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF), else 0.
 * NUL bytes are valid. */
int netd_utf8_valid(const uint8_t *p, size_t n);

/**
 * Decodes request data @s (@n bytes, as jansson gives it) in @enc into a new
 * malloc'd buffer *out (never NULL on success, even for 0 bytes); the caller frees it.
 * Returns 0, or -1 when @s is not valid in that encoding.
 */
int netd_data_decode(const char *s, size_t n, enum netd_encoding enc, uint8_t **out,
                     size_t *outlen);

/**
 * Encodes bytes for a result as a new JSON string (a new reference).
 * When @want is utf8 and the bytes are not valid UTF-8, base64 is used
 * instead; *used says which encoding the string is in. NULL on OOM.
 */
json_t *netd_data_encode(const uint8_t *p, size_t n, enum netd_encoding want,
                         enum netd_encoding *used);

#ifdef __cplusplus
}
#endif

#endif
