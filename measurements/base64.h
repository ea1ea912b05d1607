/* SPDX-License-Identifier: MIT */
/* Base64 (RFC 4648): the standard alphabet with padding (§4, the KBS nonce and evidence fields) and
 * the URL-safe alphabet without padding (§5, JOSE: JWK coordinates, JWE members). Decoding is
 * strict: only the variant's alphabet, padding exactly as the variant requires, no whitespace, and
 * unused trailing bits zero, so every byte string has exactly one accepted encoding. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum base64_variant {
        BASE64_STD, /* A-Z a-z 0-9 + /, padded with '=' to a multiple of 4 */
        BASE64_URL, /* A-Z a-z 0-9 - _, no padding */
};

/* Encoded length (without NUL) of n bytes. */
size_t base64_encoded_len(size_t n, enum base64_variant v);
/* Encodes into a malloc'd NUL-terminated string; returns its length or -ENOMEM / -E2BIG. */
int base64_encode(const void *p, size_t n, enum base64_variant v, char **ret);
/* Decodes len characters into a malloc'd buffer (NUL-terminated, not counted); returns 0, -EINVAL
 * for anything that is not the variant's canonical encoding, -E2BIG if the result would exceed max
 * bytes. */
int base64_decode(const char *s, size_t len, enum base64_variant v, size_t max, uint8_t **ret,
                  size_t *ret_len);
