/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "base64.h"

static const char std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t base64_encoded_len(size_t n, enum base64_variant v) {
        if (v == BASE64_STD)
                return (n + 2) / 3 * 4;
        return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

int base64_encode(const void *p, size_t n, enum base64_variant v, char **ret) {
        const char *a = v == BASE64_STD ? std_alphabet : url_alphabet;
        const uint8_t *s = p;
        size_t len, k = 0;
        char *out;

        if (n > (SIZE_MAX - 4) / 4 * 3 - 3)
                return -E2BIG;
        len = base64_encoded_len(n, v);
        if (len > INT_MAX)
                return -E2BIG;
        out = malloc(len + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i += 3) {
                uint32_t w = (uint32_t) s[i] << 16 | (i + 1 < n ? (uint32_t) s[i + 1] << 8 : 0) |
                             (i + 2 < n ? s[i + 2] : 0);
                size_t chunk = n - i >= 3 ? 3 : n - i;
                out[k++] = a[(w >> 18) & 63];
                out[k++] = a[(w >> 12) & 63];
                if (chunk > 1)
                        out[k++] = a[(w >> 6) & 63];
                else if (v == BASE64_STD)
                        out[k++] = '=';
                if (chunk > 2)
                        out[k++] = a[w & 63];
                else if (v == BASE64_STD)
                        out[k++] = '=';
        }
        out[k] = 0;
        *ret = out;
        return (int) k;
}

static int value_of(char c, enum base64_variant v) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == (v == BASE64_STD ? '+' : '-'))
                return 62;
        if (c == (v == BASE64_STD ? '/' : '_'))
                return 63;
        return -1;
}

/* The number of data characters (without padding), or -EINVAL for a wrong shape. */
static ssize_t data_chars(const char *s, size_t len, enum base64_variant v) {
        size_t pad = 0;

        if (v == BASE64_URL)
                return len % 4 == 1 ? -EINVAL : (ssize_t) len;
        if (len % 4 != 0)
                return -EINVAL;
        while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
                pad++;
        return (ssize_t) (len - pad);
}

int base64_decode(const char *s, size_t len, enum base64_variant v, size_t max, uint8_t **ret,
                  size_t *ret_len) {
        ssize_t m = data_chars(s, len, v);
        uint32_t acc = 0;
        size_t n = 0, bits = 0;
        uint8_t *out;

        if (m < 0)
                return -EINVAL;
        if ((size_t) m / 4 * 3 + ((size_t) m % 4 ? (size_t) m % 4 - 1 : 0) > max)
                return -E2BIG;
        out = malloc((size_t) m / 4 * 3 + 3 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < (size_t) m; i++) {
                int x = value_of(s[i], v);
                if (x < 0) {
                        free(out);
                        return -EINVAL;
                }
                acc = (acc << 6) | (uint32_t) x;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[n++] = (uint8_t) (acc >> bits);
                        acc &= (1U << bits) - 1;
                }
        }
        /* A lone sixth bit group, or leftover bits that are not zero: not a canonical encoding. */
        if (bits >= 6 || acc != 0) {
                free(out);
                return -EINVAL;
        }
        out[n] = 0;
        *ret = out;
        *ret_len = n;
        return 0;
}
