/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "base64.h"
#include "hashalg.h"
#include "jcs.h"
#include "kbs-proto.h"

#define EC_COORD_SIZE 32U
#define RSA_MODULUS_MIN 256U
#define RSA_MODULUS_MAX 512U
#define RSA_EXPONENT_MAX 8U
#define NAME_ESCAPE_MAX 40U

static const char *const tee_names[_KBS_TEE_MAX] = {
        [KBS_TEE_TPM] = "tpm",
        [KBS_TEE_TDX] = "tdx",
};

const char *kbs_tee_name(enum kbs_tee t) {
        return t >= 0 && t < _KBS_TEE_MAX ? tee_names[t] : NULL;
}

int kbs_tee_from_name(const char *s) {
        for (int i = 0; s && i < _KBS_TEE_MAX; i++)
                if (strcmp(s, tee_names[i]) == 0)
                        return i;
        return -EINVAL;
}

int kbs_proto_json_object(const char *body, size_t n, json_t **ret, errbuf *err) {
        json_error_t e;
        json_t *v;

        if (n > KBS_BODY_MAX)
                return errbuf_set(err, -EFBIG, "request body of %zu bytes is over the limit of %u", n,
                                  KBS_BODY_MAX);
        v = json_loadb(body, n, JSON_REJECT_DUPLICATES, &e);
        if (!v)
                return errbuf_set(err, -EBADMSG, "not valid JSON: %.120s (line %d, column %d)", e.text,
                                  e.line, e.column);
        if (!json_is_object(v)) {
                json_decref(v);
                return errbuf_set(err, -EBADMSG, "the body is not a JSON object");
        }
        *ret = v;
        return 0;
}

int kbs_proto_only_members(const json_t *o, const char *what, const char *const *names, errbuf *err) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) o, key, v) {
                bool known = false;
                for (const char *const *n = names; *n && !known; n++)
                        known = strcmp(*n, key) == 0;
                if (!known) {
                        _cleanup_free_ char *esc = escape_untrusted(key, strlen(key), NAME_ESCAPE_MAX);
                        return errbuf_set(err, -EBADMSG, "%s: unknown member \"%s\"", what, esc ?: "?");
                }
        }
        return 0;
}

/* A required string member of o. */
static const char *get_string(const json_t *o, const char *what, const char *name, errbuf *err) {
        json_t *v = json_object_get(o, name);

        if (!json_is_string(v)) {
                errbuf_set(err, -EBADMSG, "%s: \"%s\" %s", what, name, v ? "must be a string" : "is missing");
                return NULL;
        }
        return json_string_value(v);
}

/* A base64url member decoding to min..max bytes. */
static int check_b64url(const json_t *jwk, const char *name, size_t min, size_t max, errbuf *err) {
        _cleanup_free_ uint8_t *p = NULL;
        const char *s = get_string(jwk, "tee-pubkey", name, err);
        size_t n;

        if (!s)
                return -EBADMSG;
        if (base64_decode(s, strlen(s), BASE64_URL, max, &p, &n) < 0 || n < min)
                return errbuf_set(err, -EINVAL, "tee-pubkey: \"%s\" is not base64url of %zu..%zu bytes", name,
                                  min, max);
        if (strcmp(name, "n") == 0 && p[0] == 0)
                return errbuf_set(err, -EINVAL, "tee-pubkey: \"n\" has a leading zero byte");
        return 0;
}

static int expect_value(const json_t *jwk, const char *name, const char *want, errbuf *err) {
        const char *s = get_string(jwk, "tee-pubkey", name, err);

        if (!s)
                return -EINVAL;
        if (strcmp(s, want) != 0)
                return errbuf_set(err, -EINVAL, "tee-pubkey: \"%s\" must be \"%s\"", name, want);
        return 0;
}

int kbs_proto_jwk_check(const json_t *jwk, errbuf *err) {
        static const char *const ec[] = { "kty", "crv", "alg", "x", "y", NULL };
        static const char *const rsa[] = { "kty", "alg", "n", "e", NULL };
        const char *kty;
        int r;

        if (!json_is_object(jwk))
                return errbuf_set(err, -EINVAL, "tee-pubkey must be a JSON object");
        kty = get_string(jwk, "tee-pubkey", "kty", err);
        if (!kty)
                return -EINVAL;
        if (strcmp(kty, "EC") == 0) {
                r = kbs_proto_only_members(jwk, "tee-pubkey", ec, err);
                if (r >= 0)
                        r = expect_value(jwk, "crv", "P-256", err);
                if (r >= 0)
                        r = expect_value(jwk, "alg", "ECDH-ES+A256KW", err);
                if (r >= 0)
                        r = check_b64url(jwk, "x", EC_COORD_SIZE, EC_COORD_SIZE, err);
                if (r >= 0)
                        r = check_b64url(jwk, "y", EC_COORD_SIZE, EC_COORD_SIZE, err);
                return r < 0 ? -EINVAL : KBS_JWK_EC_P256;
        }
        if (strcmp(kty, "RSA") == 0) {
                r = kbs_proto_only_members(jwk, "tee-pubkey", rsa, err);
                if (r >= 0)
                        r = expect_value(jwk, "alg", "RSA-OAEP-256", err);
                if (r >= 0)
                        r = check_b64url(jwk, "n", RSA_MODULUS_MIN, RSA_MODULUS_MAX, err);
                if (r >= 0)
                        r = check_b64url(jwk, "e", 1, RSA_EXPONENT_MAX, err);
                return r < 0 ? -EINVAL : KBS_JWK_RSA;
        }
        return errbuf_set(err, -EINVAL, "tee-pubkey: \"kty\" must be \"EC\" or \"RSA\"");
}

int kbs_proto_report_data(const char *nonce, const json_t *jwk, uint8_t out[static KBS_REPORT_DATA_SIZE]) {
        _cleanup_free_ char *text = NULL;
        uint8_t d[HASH_MAX_SIZE];
        json_t *o;
        size_t n;
        int r;

        o = json_pack("{s:s, s:s, s:O}", "additional-evidence", "", "nonce", nonce, "tee-pubkey", jwk);
        if (!o)
                return -EINVAL;
        r = jcs_serialize(o, &text, &n);
        json_decref(o);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        r = hash_buffer(HASH_SHA384, text, n, d);
        if (r < 0)
                return r;
        memcpy(out, d, KBS_REPORT_DATA_SIZE);
        return 0;
}

/* "0.4.x": the protocol version whose messages this module implements. */
static bool version_supported(const char *v) {
        unsigned patch;
        return strncmp(v, "0.4.", 4) == 0 && safe_atou(v + 4, &patch) >= 0;
}

int kbs_proto_auth_parse(const char *body, size_t n, errbuf *err) {
        static const char *const members[] = { "version", "tee", "extra-params", NULL };
        _cleanup_(json_decrefp) json_t *o = NULL;
        const char *version, *tee;
        json_t *extra;
        int r, t;

        r = kbs_proto_json_object(body, n, &o, err);
        if (r < 0)
                return r;
        r = kbs_proto_only_members(o, "auth request", members, err);
        if (r < 0)
                return r;
        version = get_string(o, "auth request", "version", err);
        tee = version ? get_string(o, "auth request", "tee", err) : NULL;
        if (!tee)
                return -EBADMSG;
        extra = json_object_get(o, "extra-params");
        if (!json_is_string(extra) && !json_is_object(extra))
                return errbuf_set(err, -EBADMSG, "auth request: \"extra-params\" must be a string or an object");
        if (!version_supported(version)) {
                _cleanup_free_ char *esc = escape_untrusted(version, strlen(version), NAME_ESCAPE_MAX);
                return errbuf_set(err, -EPROTONOSUPPORT, "protocol version \"%s\" is not supported (0.4.x is)",
                                  esc ?: "?");
        }
        t = kbs_tee_from_name(tee);
        if (t < 0) {
                _cleanup_free_ char *esc = escape_untrusted(tee, strlen(tee), NAME_ESCAPE_MAX);
                return errbuf_set(err, -EBADMSG, "unknown TEE \"%s\"", esc ?: "?");
        }
        return t;
}

static int parse_runtime_data(const json_t *rd, struct kbs_attest_request *ret, errbuf *err) {
        static const char *const members[] = { "nonce", "tee-pubkey", NULL };
        int r;

        if (!json_is_object(rd))
                return errbuf_set(err, -EBADMSG, "\"runtime-data\" %s", rd ? "must be an object" : "is missing");
        r = kbs_proto_only_members(rd, "runtime-data", members, err);
        if (r < 0)
                return r;
        ret->nonce = get_string(rd, "runtime-data", "nonce", err);
        if (!ret->nonce)
                return -EBADMSG;
        if (strlen(ret->nonce) > KBS_NONCE_MAX)
                return errbuf_set(err, -EBADMSG, "runtime-data: \"nonce\" is too long");
        ret->tee_pubkey = json_object_get(rd, "tee-pubkey");
        if (!ret->tee_pubkey)
                return errbuf_set(err, -EBADMSG, "runtime-data: \"tee-pubkey\" is missing");
        r = kbs_proto_jwk_check(ret->tee_pubkey, err);
        if (r < 0)
                return -EBADMSG;
        ret->jwk_kind = r;
        return 0;
}

static int parse_tee_evidence(const json_t *te, struct kbs_attest_request *ret, errbuf *err) {
        static const char *const members[] = { "primary_evidence", "additional_evidence", NULL };
        const char *additional;
        int r;

        if (!json_is_object(te))
                return errbuf_set(err, -EBADMSG, "\"tee-evidence\" %s", te ? "must be an object" : "is missing");
        r = kbs_proto_only_members(te, "tee-evidence", members, err);
        if (r < 0)
                return r;
        ret->primary_evidence = json_object_get(te, "primary_evidence");
        if (!json_is_object(ret->primary_evidence))
                return errbuf_set(err, -EBADMSG, "tee-evidence: \"primary_evidence\" %s",
                                  ret->primary_evidence ? "must be an object" : "is missing");
        additional = get_string(te, "tee-evidence", "additional_evidence", err);
        if (!additional)
                return -EBADMSG;
        /* report_data binds "additional-evidence":"": anything else would be unbound. */
        if (additional[0])
                return errbuf_set(err, -EBADMSG, "tee-evidence: additional evidence is not supported");
        return 0;
}

int kbs_proto_attest_parse(const char *body, size_t n, struct kbs_attest_request *ret, errbuf *err) {
        static const char *const members[] = { "runtime-data", "tee-evidence", NULL };
        struct kbs_attest_request a = {};
        int r;

        r = kbs_proto_json_object(body, n, &a.root, err);
        if (r < 0)
                return r;
        r = kbs_proto_only_members(a.root, "attest request", members, err);
        if (r >= 0)
                r = parse_runtime_data(json_object_get(a.root, "runtime-data"), &a, err);
        if (r >= 0)
                r = parse_tee_evidence(json_object_get(a.root, "tee-evidence"), &a, err);
        if (r < 0) {
                json_decref(a.root);
                return r;
        }
        *ret = a;
        return 0;
}

void kbs_attest_request_done(struct kbs_attest_request *r) {
        json_decref(r->root);
        *r = (struct kbs_attest_request) {};
}
