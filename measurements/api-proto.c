/* SPDX-License-Identifier: MIT */
/* The workload attestation API's binding and input checks (api-proto.h; docs/api.md). */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "api-proto.h"
#include "event.h"
#include "jcs.h"

#define ESCAPE_MAX 64U

_Static_assert(API_REPORT_DATA_SIZE == 48, "report_data is one SHA-384");

int api_report_data(const uint8_t *nonce, size_t n, uint8_t out[static API_REPORT_DATA_SIZE]) {
        static const char context[] = API_EVIDENCE_CONTEXT; /* with its NUL: the 0x00 separator */
        EVP_MD_CTX *ctx;
        unsigned len = 0;
        int ok;

        if (!nonce || n < API_NONCE_MIN || n > API_NONCE_MAX)
                return -EINVAL;
        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(ctx, EVP_sha384(), NULL) == 1 && EVP_DigestUpdate(ctx, context, sizeof(context)) == 1 &&
             EVP_DigestUpdate(ctx, nonce, n) == 1 && EVP_DigestFinal_ex(ctx, out, &len) == 1 &&
             len == API_REPORT_DATA_SIZE;
        EVP_MD_CTX_free(ctx);
        return ok ? 0 : -EIO;
}

int api_nonce_parse(const char *hex, size_t len, uint8_t out[static API_NONCE_MAX]) {
        int r;

        if (!hex || len < 2 * API_NONCE_MIN || len > 2 * API_NONCE_MAX || len % 2 != 0)
                return -EINVAL;
        r = unhex(hex, len, out, API_NONCE_MAX);
        return r == (int) (len / 2) ? r : -EINVAL;
}

static int check_members(const json_t *o, errbuf *err) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) o, key, v)
                if (strcmp(key, "operation") != 0 && strcmp(key, "content") != 0) {
                        _cleanup_free_ char *e = escape_untrusted(key, strlen(key), ESCAPE_MAX);
                        return errbuf_set(err, -EBADMSG, "unknown member \"%s\" (expected only \"operation\" and "
                                          "\"content\")", e ?: "?");
                }
        return 0;
}

static int check_operation(const json_t *v, errbuf *err) {
        const char *s = json_string_value(v);

        if (!v)
                return errbuf_set(err, -EBADMSG, "\"operation\" is missing");
        if (!s)
                return errbuf_set(err, -EBADMSG, "\"operation\" must be a string");
        if (strlen(s) != json_string_length(v) || !event_token_valid(s)) {
                _cleanup_free_ char *e = escape_untrusted(s, json_string_length(v), ESCAPE_MAX);
                return errbuf_set(err, -EBADMSG, "\"operation\" \"%s\" is not 1 to 64 characters of "
                                  "A-Z a-z 0-9 . _ : / -", e ?: "?");
        }
        return 0;
}

static int check_canonical(const json_t *o, errbuf *err) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r = jcs_serialize(o, &text, &len);

        switch (r) {
        case 0:
                return 0;
        case -EDOM:
                return errbuf_set(err, -EBADMSG, "the body has a number that is not an integer of at most 2^53-1 "
                                  "in magnitude (measured JSON holds integers only, RFC 8785 I-JSON)");
        case -ELOOP:
                return errbuf_set(err, -EBADMSG, "the body nests deeper than %d levels", JCS_MAX_DEPTH);
        case -EILSEQ:
                return errbuf_set(err, -EBADMSG, "the body has a string that is not valid UTF-8");
        default:
                return errbuf_set(err, r, "cannot canonicalize the body: %s", strerror(-r));
        }
}

int api_app_content_parse(const char *body, size_t n, json_t **ret, errbuf *err) {
        json_error_t e;
        json_t *o;
        int r;

        if (n > API_BODY_MAX)
                return errbuf_set(err, -EFBIG, "the body of %zu bytes is over the limit of %u", n, API_BODY_MAX);
        o = json_loadb(body ?: "", n, JSON_REJECT_DUPLICATES, &e);
        if (!o) {
                _cleanup_free_ char *t = escape_untrusted(e.text, strlen(e.text), 160);
                return errbuf_set(err, -EBADMSG, "not valid JSON: %s (line %d, column %d)", t ?: "?", e.line,
                                  e.column);
        }
        r = json_is_object(o) ? 0 : errbuf_set(err, -EBADMSG, "the body must be a JSON object");
        if (r >= 0)
                r = check_members(o, err);
        if (r >= 0)
                r = check_operation(json_object_get(o, "operation"), err);
        if (r >= 0 && !json_is_object(json_object_get(o, "content")))
                r = errbuf_set(err, -EBADMSG, "\"content\" %s", json_object_get(o, "content") ? "must be a JSON object"
                                                                                            : "is missing");
        if (r >= 0)
                r = check_canonical(o, err);
        if (r < 0) {
                json_decref(o);
                return r;
        }
        *ret = o;
        return 0;
}
