/* SPDX-License-Identifier: MIT */
/* RFC 8785 (JCS) serializer; see jcs.h for the subset covered. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "jcs.h"

/* Decodes one code point from valid UTF-8 (validated before use); returns its length. */
static size_t utf8_next(const unsigned char *p, size_t left, uint32_t *cp) {
        if (p[0] < 0x80 || left < 2) {
                *cp = p[0];
                return 1;
        }
        if ((p[0] & 0xe0) == 0xc0) {
                *cp = (uint32_t) (p[0] & 0x1f) << 6 | (p[1] & 0x3f);
                return 2;
        }
        if ((p[0] & 0xf0) == 0xe0 && left >= 3) {
                *cp = (uint32_t) (p[0] & 0x0f) << 12 | (uint32_t) (p[1] & 0x3f) << 6 | (p[2] & 0x3f);
                return 3;
        }
        if (left >= 4) {
                *cp = (uint32_t) (p[0] & 0x07) << 18 | (uint32_t) (p[1] & 0x3f) << 12 |
                      (uint32_t) (p[2] & 0x3f) << 6 | (p[3] & 0x3f);
                return 4;
        }
        *cp = p[0];
        return 1;
}

/* The UTF-16 code unit sequence of a code point: high surrogate first. */
static unsigned utf16_units(uint32_t cp, uint16_t u[2]) {
        if (cp < 0x10000) {
                u[0] = (uint16_t) cp;
                return 1;
        }
        cp -= 0x10000;
        u[0] = (uint16_t) (0xd800 | (cp >> 10));
        u[1] = (uint16_t) (0xdc00 | (cp & 0x3ff));
        return 2;
}

int jcs_compare_names(const char *a, size_t alen, const char *b, size_t blen) {
        const unsigned char *pa = (const unsigned char *) a, *pb = (const unsigned char *) b;
        uint16_t ua[2], ub[2];
        unsigned na = 0, nb = 0, ia = 0, ib = 0;
        size_t oa = 0, ob = 0;

        for (;;) {
                if (ia == na && oa < alen) {
                        uint32_t cp;
                        oa += utf8_next(pa + oa, alen - oa, &cp);
                        na = utf16_units(cp, ua);
                        ia = 0;
                }
                if (ib == nb && ob < blen) {
                        uint32_t cp;
                        ob += utf8_next(pb + ob, blen - ob, &cp);
                        nb = utf16_units(cp, ub);
                        ib = 0;
                }
                bool enda = ia == na, endb = ib == nb;
                if (enda || endb)
                        return enda && endb ? 0 : enda ? -1 : 1;
                if (ua[ia] != ub[ib])
                        return ua[ia] < ub[ib] ? -1 : 1;
                ia++;
                ib++;
        }
}

int jcs_append_string(struct buf *out, const char *s, size_t len) {
        static const char hex[] = "0123456789abcdef";
        size_t run = 0;
        int r;

        if (!utf8_valid(s, len))
                return -EILSEQ;
        r = buf_append(out, "\"", 1);
        for (size_t i = 0; r >= 0 && i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                char esc[7] = { '\\', 0 };
                size_t n = 2;

                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                switch (c) {
                case '"': esc[1] = '"'; break;
                case '\\': esc[1] = '\\'; break;
                case '\b': esc[1] = 'b'; break;
                case '\f': esc[1] = 'f'; break;
                case '\n': esc[1] = 'n'; break;
                case '\r': esc[1] = 'r'; break;
                case '\t': esc[1] = 't'; break;
                default:
                        memcpy(esc + 1, "u00", 3);
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        n = 6;
                }
                r = buf_append(out, s + run, i - run);
                if (r >= 0)
                        r = buf_append(out, esc, n);
                run = i + 1;
        }
        if (r >= 0)
                r = buf_append(out, s + run, len - run);
        if (r >= 0)
                r = buf_append(out, "\"", 1);
        return r;
}

struct member {
        const char *name;
        size_t len;
        json_t *value;
};

static int member_cmp(const void *x, const void *y) {
        const struct member *a = x, *b = y;
        return jcs_compare_names(a->name, a->len, b->name, b->len);
}

static int append_value(struct buf *out, const json_t *v, unsigned depth);

static int append_object(struct buf *out, const json_t *v, unsigned depth) {
        _cleanup_free_ struct member *m = NULL;
        size_t n = json_object_size(v), i = 0;
        const char *key;
        size_t key_len;
        json_t *value;
        int r;

        if (n == 0)
                return buf_append(out, "{}", 2);
        m = calloc(n, sizeof(*m));
        if (!m)
                return -ENOMEM;
        json_object_keylen_foreach((json_t *) v, key, key_len, value) m[i++] =
                (struct member) { key, key_len, value };
        if (n > 1)
                qsort(m, n, sizeof(*m), member_cmp);

        r = buf_append(out, "{", 1);
        for (i = 0; r >= 0 && i < n; i++) {
                if (i > 0)
                        r = buf_append(out, ",", 1);
                if (r >= 0)
                        r = jcs_append_string(out, m[i].name, m[i].len);
                if (r >= 0)
                        r = buf_append(out, ":", 1);
                if (r >= 0)
                        r = append_value(out, m[i].value, depth + 1);
        }
        return r < 0 ? r : buf_append(out, "}", 1);
}

static int append_value(struct buf *out, const json_t *v, unsigned depth) {
        int r;

        if (depth > JCS_MAX_DEPTH)
                return -ELOOP;

        switch (json_typeof(v)) {
        case JSON_OBJECT:
                return append_object(out, v, depth);
        case JSON_ARRAY:
                r = buf_append(out, "[", 1);
                for (size_t i = 0; r >= 0 && i < json_array_size(v); i++) {
                        if (i > 0)
                                r = buf_append(out, ",", 1);
                        if (r >= 0)
                                r = append_value(out, json_array_get(v, i), depth + 1);
                }
                return r < 0 ? r : buf_append(out, "]", 1);
        case JSON_STRING:
                return jcs_append_string(out, json_string_value(v), json_string_length(v));
        case JSON_INTEGER: {
                json_int_t i = json_integer_value(v);
                if (i > JCS_MAX_SAFE_INTEGER || i < -JCS_MAX_SAFE_INTEGER)
                        return -EDOM;
                return buf_printf(out, "%" JSON_INTEGER_FORMAT, i);
        }
        case JSON_TRUE:
                return buf_append_str(out, "true");
        case JSON_FALSE:
                return buf_append_str(out, "false");
        case JSON_NULL:
                return buf_append_str(out, "null");
        case JSON_REAL:
        default:
                return -EDOM;
        }
}

int jcs_append(struct buf *out, const json_t *v) {
        if (!v)
                return -EINVAL;
        return append_value(out, v, 0);
}

int jcs_serialize(const json_t *v, char **ret, size_t *ret_len) {
        struct buf b = {};
        int r = jcs_append(&b, v);

        if (r < 0) {
                buf_free(&b);
                return r;
        }
        *ret = buf_steal(&b, ret_len);
        return *ret ? 0 : -ENOMEM;
}
