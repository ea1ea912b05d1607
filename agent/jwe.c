/* SPDX-License-Identifier: MIT */
/* Ephemeral key and JWE decryption for the KBS exchange (jwe.h; DESIGN §4, §5; RFC 7516, 7518). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <jose/b64.h>
#include <jose/jose.h>

#include "base64.h"
#include "jwe.h"
#include "kbs-proto.h"
#include "log.h"
#include "secret.h"

#define EC_COORD_SIZE 32U
/* A256KW of a 32-byte CEK (RFC 3394: one 8-byte block more), GCM's 96-bit IV and 128-bit tag. */
#define WRAPPED_KEY_SIZE 40U
#define IV_SIZE 12U
#define TAG_SIZE 16U

struct jwe_key {
        json_t *jwk; /* the private JWK: allocated in the secure heap */
        json_t *pub;
};

static inline void json_decrefp_(json_t **p) {
        json_decref(*p);
}
#define _cleanup_json_ _cleanup_(json_decrefp_)

/* libjose's error callback: by default it prints to stderr; here its text goes to debug logging. */
static void jose_error(void *misc, const char *file, int line, uint64_t err, const char *fmt, va_list ap) {
        char msg[256];

        (void) misc;
        (void) file;
        (void) line;
        (void) err;
        (void) vsnprintf(msg, sizeof(msg), fmt, ap);
        log_debug("libjose: %s", msg);
}

static jose_cfg_t *jose_config(void) {
        jose_cfg_t *cfg = jose_cfg();

        if (cfg)
                jose_cfg_set_err_func(cfg, jose_error, NULL);
        return cfg;
}

/* jose_cfg_decref does not take NULL. */
static inline void jose_cfgp(jose_cfg_t **p) {
        if (*p)
                jose_cfg_decref(*p);
}

void jwe_key_free(struct jwe_key *k) {
        if (!k)
                return;
        /* The strings of the private JWK sit in the secure heap, which wipes them on free. */
        json_decref(k->jwk);
        json_decref(k->pub);
        free(k);
}

const json_t *jwe_key_public(const struct jwe_key *k) {
        return k ? k->pub : NULL;
}

static int make_public(struct jwe_key *k, errbuf *err) {
        const char *x = json_string_value(json_object_get(k->jwk, "x"));
        const char *y = json_string_value(json_object_get(k->jwk, "y"));

        if (!x || !y)
                return errbuf_set(err, -EIO, "libjose made an EC key without coordinates");
        /* Copies (plain heap): the public key is no secret. */
        k->pub = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "alg", JWE_ALG, "x", x,
                           "y", y);
        if (!k->pub)
                return errbuf_set(err, -ENOMEM, "out of memory");
        /* The shape the broker checks (32-byte coordinates, base64url without padding). */
        if (kbs_proto_jwk_check(k->pub, err) != KBS_JWK_EC_P256)
                return -EIO;
        return 0;
}

int jwe_key_new(struct jwe_key **ret, errbuf *err) {
        _cleanup_(jwe_key_freep) struct jwe_key *k = NULL;
        _cleanup_(jose_cfgp) jose_cfg_t *cfg = jose_config();
        bool ok;
        int r;

        r = secret_init();
        if (r < 0)
                return errbuf_set(err, r, "no locked memory for the ephemeral key");
        k = calloc(1, sizeof(*k));
        if (!k || !cfg)
                return errbuf_set(err, -ENOMEM, "out of memory");
        secret_json_begin();
        k->jwk = json_pack("{s:s, s:s}", "kty", "EC", "crv", "P-256");
        ok = k->jwk && jose_jwk_gen(cfg, k->jwk);
        secret_json_end();
        if (!ok)
                return errbuf_set(err, -EIO, "cannot generate an EC P-256 key (libjose)");
        r = make_public(k, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}

/* ---- checking the JWE before libjose sees it ---- */

/* A string member decoding (strict base64url) to min..max bytes; the bytes if ret is not NULL. */
static int b64_member(const json_t *o, const char *what, const char *name, size_t min, size_t max,
                      uint8_t **ret, size_t *ret_len, errbuf *err) {
        _cleanup_free_ uint8_t *p = NULL;
        json_t *v = json_object_get(o, name);
        size_t n = 0;
        int r;

        if (!json_is_string(v))
                return errbuf_set(err, -EBADMSG, "%s: \"%s\" %s", what, name, v ? "must be a string" : "is missing");
        r = base64_decode(json_string_value(v), json_string_length(v), BASE64_URL, max, &p, &n);
        /* Over a limit (the ciphertext: the plaintext the caller accepts) rather than malformed. */
        if (r == -E2BIG && min < max)
                return errbuf_set(err, -EFBIG, "%s: \"%s\" is longer than %zu bytes", what, name, max);
        if (r < 0 || n < min)
                return errbuf_set(err, -EBADMSG, "%s: \"%s\" is not base64url of %zu..%zu bytes", what, name,
                                  min, max);
        if (ret)
                *ret = TAKE_PTR(p);
        if (ret_len)
                *ret_len = n;
        return 0;
}

static int want_string(const json_t *o, const char *what, const char *name, const char *value, errbuf *err) {
        const char *s = json_string_value(json_object_get(o, name));

        if (!s) {
                return errbuf_set(err, -EBADMSG, "%s: \"%s\" %s", what, name,
                                  json_object_get(o, name) ? "must be a string" : "is missing");
        }
        if (strcmp(s, value) != 0) {
                _cleanup_free_ char *esc = escape_untrusted(s, strlen(s), 64);
                return errbuf_set(err, -EBADMSG, "%s: \"%s\" is \"%s\", expected \"%s\"", what, name, esc ?: "?",
                                  value);
        }
        return 0;
}

static int check_epk(const json_t *epk, errbuf *err) {
        static const char *const members[] = { "kty", "crv", "x", "y", NULL };
        int r;

        if (!json_is_object(epk))
                return errbuf_set(err, -EBADMSG, "JWE header: \"epk\" %s", epk ? "must be an object" : "is missing");
        /* Only a public key: a "d" here would be someone else's mistake we must not build on. */
        r = kbs_proto_only_members(epk, "JWE header epk", members, err);
        if (r >= 0)
                r = want_string(epk, "JWE header epk", "kty", "EC", err);
        if (r >= 0)
                r = want_string(epk, "JWE header epk", "crv", "P-256", err);
        if (r >= 0)
                r = b64_member(epk, "JWE header epk", "x", EC_COORD_SIZE, EC_COORD_SIZE, NULL, NULL, err);
        if (r >= 0)
                r = b64_member(epk, "JWE header epk", "y", EC_COORD_SIZE, EC_COORD_SIZE, NULL, NULL, err);
        return r < 0 ? -EBADMSG : 0;
}

static int check_header(const json_t *jwe, errbuf *err) {
        _cleanup_free_ uint8_t *text = NULL;
        _cleanup_json_ json_t *h = NULL;
        json_error_t e;
        size_t n;
        int r;

        r = b64_member(jwe, "JWE", "protected", 2, JWE_HEADER_MAX, &text, &n, err);
        if (r < 0)
                return r;
        h = json_loadb((const char *) text, n, JSON_REJECT_DUPLICATES, &e);
        if (!json_is_object(h))
                return errbuf_set(err, -EBADMSG, "JWE: the protected header is not a JSON object");
        r = want_string(h, "JWE header", "alg", JWE_ALG, err);
        if (r >= 0)
                r = want_string(h, "JWE header", "enc", JWE_ENC, err);
        if (r < 0)
                return r;
        /* Compression would need an inflater on untrusted input; "crit" extensions we do not know. */
        if (json_object_get(h, "zip") || json_object_get(h, "crit"))
                return errbuf_set(err, -EBADMSG, "JWE header: \"%s\" is not supported",
                                  json_object_get(h, "zip") ? "zip" : "crit");
        return check_epk(json_object_get(h, "epk"), err);
}

static int check_jwe(const json_t *jwe, size_t max, size_t *ct_len, errbuf *err) {
        static const char *const members[] = { "protected", "encrypted_key", "iv", "ciphertext", "tag", NULL };
        int r;

        if (!json_is_object(jwe))
                return errbuf_set(err, -EBADMSG, "JWE: not a JSON object");
        /* No "unprotected", "header", "aad" or "recipients": nothing unauthenticated or unexpected
         * can change how libjose decrypts. */
        r = kbs_proto_only_members(jwe, "JWE", members, err);
        if (r >= 0)
                r = check_header(jwe, err);
        if (r >= 0)
                r = b64_member(jwe, "JWE", "encrypted_key", WRAPPED_KEY_SIZE, WRAPPED_KEY_SIZE, NULL, NULL, err);
        if (r >= 0)
                r = b64_member(jwe, "JWE", "iv", IV_SIZE, IV_SIZE, NULL, NULL, err);
        if (r >= 0)
                r = b64_member(jwe, "JWE", "tag", TAG_SIZE, TAG_SIZE, NULL, NULL, err);
        if (r >= 0)
                r = b64_member(jwe, "JWE", "ciphertext", 1, max, NULL, ct_len, err);
        return r;
}

/* ---- decryption ---- */

/* jose_jwe_dec_cek, but writing into our locked buffer instead of a malloc'd one. */
static int decrypt_cek(jose_cfg_t *cfg, const json_t *jwe, const json_t *cek, uint8_t *pt, size_t *pt_len) {
        const char *ct = json_string_value(json_object_get(jwe, "ciphertext"));
        size_t ct_len = json_string_length(json_object_get(jwe, "ciphertext"));
        jose_io_auto_t *out = NULL;
        jose_io_auto_t *dec = NULL;
        jose_io_auto_t *in = NULL;

        out = jose_io_buffer(cfg, pt, pt_len);
        dec = out ? jose_jwe_dec_cek_io(cfg, jwe, cek, out) : NULL;
        in = dec ? jose_b64_dec_io(dec) : NULL;
        /* done() checks the GCM tag: until it returns true the buffer holds unauthenticated bytes. */
        if (!in || !in->feed(in, ct, ct_len) || !in->done(in))
                return -EKEYREJECTED;
        return 0;
}

static int decrypt(const struct jwe_key *k, const json_t *jwe, uint8_t *pt, size_t *pt_len) {
        _cleanup_(jose_cfgp) jose_cfg_t *cfg = jose_config();
        json_t *cek;
        int r;

        if (!cfg)
                return -ENOMEM;
        secret_json_begin();
        /* The CEK comes back as a JWK whose "k" is a jansson string: in the secure heap too. */
        cek = jose_jwe_dec_jwk(cfg, jwe, NULL, k->jwk);
        r = cek ? decrypt_cek(cfg, jwe, cek, pt, pt_len) : -EKEYREJECTED;
        json_decref(cek);
        secret_json_end();
        return r;
}

int jwe_decrypt(const struct jwe_key *k, const char *text, size_t n, size_t max, uint8_t **ret,
                size_t *ret_len, errbuf *err) {
        _cleanup_json_ json_t *jwe = NULL;
        _cleanup_secret_ uint8_t *pt = NULL;
        size_t ct_len = 0, pt_len;
        json_error_t e;
        int r;

        if (!k || !text || max == 0)
                return errbuf_set(err, -EINVAL, "invalid arguments");
        if (n > JWE_TEXT_MAX)
                return errbuf_set(err, -EFBIG, "JWE of %zu bytes, over the limit of %u", n, JWE_TEXT_MAX);
        jwe = json_loadb(text, n, JSON_REJECT_DUPLICATES, &e);
        if (!jwe)
                return errbuf_set(err, -EBADMSG, "JWE: not valid JSON (line %d, column %d)", e.line, e.column);
        r = check_jwe(jwe, max, &ct_len, err);
        if (r < 0)
                return r;
        pt = secret_alloc(ct_len);
        if (!pt)
                return errbuf_set(err, -ENOMEM, "no locked memory for the plaintext");
        pt_len = ct_len; /* GCM: plaintext and ciphertext have the same length */
        r = decrypt(k, jwe, pt, &pt_len);
        if (r == -EKEYREJECTED)
                return errbuf_set(err, r, "the JWE does not decrypt with our key (another key, or the header, "
                                  "wrapped key, IV, ciphertext or tag was changed)");
        if (r < 0)
                return errbuf_set(err, r, "cannot decrypt the JWE: %s", strerror(-r));
        if (pt_len != ct_len)
                return errbuf_set(err, -EKEYREJECTED, "the JWE decrypted to %zu bytes, expected %zu", pt_len, ct_len);
        *ret = TAKE_PTR(pt);
        *ret_len = pt_len;
        return 0;
}
