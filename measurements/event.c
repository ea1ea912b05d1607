/* SPDX-License-Identifier: MIT */
/* AAEL tagged events, DESIGN §3. */
#include <errno.h>
#include <string.h>

#include "event.h"
#include "jcs.h"

bool event_token_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > EVENT_TOKEN_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr("._:/-", *p)))
                        return false;
        return true;
}

static int text_start(struct buf *b, const char *domain, const char *operation) {
        int r;

        if (!event_token_valid(domain) || !event_token_valid(operation))
                return -EINVAL;
        r = buf_append_str(b, domain);
        if (r >= 0)
                r = buf_append(b, " ", 1);
        if (r >= 0)
                r = buf_append_str(b, operation);
        if (r >= 0)
                r = buf_append(b, " ", 1);
        return r;
}

static int text_finish(struct buf *b, int r, char **ret, size_t *ret_len) {
        if (r < 0) {
                buf_free(b);
                return r;
        }
        *ret = buf_steal(b, ret_len);
        return *ret ? 0 : -ENOMEM;
}

int event_text(const char *domain, const char *operation, const json_t *content, char **ret,
               size_t *ret_len) {
        struct buf b = { .max = EVENT_TEXT_MAX };
        int r;

        if (!json_is_object(content))
                return -EINVAL;
        r = text_start(&b, domain, operation);
        if (r >= 0)
                r = jcs_append(&b, content);
        return text_finish(&b, r, ret, ret_len);
}

int event_text_raw(const char *domain, const char *operation, const char *content, char **ret,
                   size_t *ret_len) {
        struct buf b = { .max = EVENT_TEXT_MAX };
        int r;

        if (!content || !utf8_valid(content, strlen(content)) || strpbrk(content, "\n"))
                return -EINVAL;
        r = text_start(&b, domain, operation);
        if (r >= 0)
                r = buf_append_str(&b, content);
        return text_finish(&b, r, ret, ret_len);
}

int event_data_append(struct buf *out, const char *text, size_t len) {
        int r;

        if (len > EVENT_TEXT_MAX)
                return -E2BIG;
        r = buf_append_u32le(out, EVENT_TAG_AAEL);
        if (r >= 0)
                r = buf_append_u32le(out, (uint32_t) len);
        if (r >= 0)
                r = buf_append(out, text, len);
        return r;
}

int event_digest(enum hash_alg alg, const char *text, size_t len, uint8_t out[static HASH_MAX_SIZE]) {
        const EVP_MD *md = hash_alg_md(alg);
        uint8_t head[8];
        unsigned n = 0;
        EVP_MD_CTX *ctx;
        int ok;

        if (!md)
                return -EOPNOTSUPP;
        if (len > EVENT_TEXT_MAX)
                return -E2BIG;
        for (unsigned i = 0; i < 4; i++) {
                head[i] = (uint8_t) (EVENT_TAG_AAEL >> (8 * i));
                head[4 + i] = (uint8_t) ((uint32_t) len >> (8 * i));
        }
        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, head, sizeof(head)) == 1 &&
             EVP_DigestUpdate(ctx, text, len) == 1 && EVP_DigestFinal_ex(ctx, out, &n) == 1;
        EVP_MD_CTX_free(ctx);
        return ok ? (int) n : -EIO;
}

int event_text_split(const char *text, size_t len, const char **domain, size_t *domain_len,
                     const char **operation, size_t *operation_len, const char **content,
                     size_t *content_len) {
        const char *sp1 = memchr(text, ' ', len), *sp2;

        if (!sp1 || sp1 == text)
                return -EBADMSG;
        sp2 = memchr(sp1 + 1, ' ', len - (size_t) (sp1 + 1 - text));
        if (!sp2 || sp2 == sp1 + 1)
                return -EBADMSG;
        *domain = text;
        *domain_len = (size_t) (sp1 - text);
        *operation = sp1 + 1;
        *operation_len = (size_t) (sp2 - sp1 - 1);
        *content = sp2 + 1;
        *content_len = len - (size_t) (sp2 + 1 - text);
        return 0;
}

int event_data_parse(const uint8_t *p, size_t n, const char **text, size_t *text_len) {
        uint32_t tag, len;

        if (n < 8)
                return -EBADMSG;
        tag = (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
        len = (uint32_t) p[4] | (uint32_t) p[5] << 8 | (uint32_t) p[6] << 16 | (uint32_t) p[7] << 24;
        if (tag != EVENT_TAG_AAEL)
                return -EPROTO;
        if (len != n - 8)
                return -EBADMSG;
        *text = (const char *) p + 8;
        *text_len = len;
        return 0;
}
