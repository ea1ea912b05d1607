/* SPDX-License-Identifier: MIT */
/* agent/jwe.c and agent/secret.c. JWEs come from an independent producer (tests/helpers/
 * jwe-producer.h: OpenSSL primitives after RFC 7518, not libjose), whose Concat KDF is itself
 * checked against RFC 7518 Appendix C. Every tampered part must make decryption fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "../helpers/jwe-producer.h"
#include "jwe.h"
#include "secret.h"

struct fixture {
        struct jwe_key *key;
        char x[64], y[64];
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        const json_t *pub;

        assert_non_null(f);
        assert_int_equal(jwe_key_new(&f->key, NULL), 0);
        pub = jwe_key_public(f->key);
        snprintf(f->x, sizeof(f->x), "%s", json_string_value(json_object_get(pub, "x")));
        snprintf(f->y, sizeof(f->y), "%s", json_string_value(json_object_get(pub, "y")));
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        jwe_key_free(f->key);
        free(f);
        return 0;
}

static char *encrypt_to(struct fixture *f, const uint8_t *pt, size_t n, const char *header_fmt) {
        char *jwe = prod_encrypt(f->x, f->y, pt, n, header_fmt);
        assert_non_null(jwe);
        return jwe;
}

/* Decrypts and returns the result code; on success checks the plaintext is pt. */
static int decrypt_check(struct fixture *f, const char *jwe, const uint8_t *pt, size_t n, errbuf *err) {
        uint8_t *out = NULL;
        size_t len = 0;
        int r = jwe_decrypt(f->key, jwe, strlen(jwe), 4096, &out, &len, err);

        if (r == 0) {
                assert_true(CRYPTO_secure_allocated(out)); /* locked memory */
                assert_int_equal(len, n);
                assert_memory_equal(out, pt, n);
                secret_free(out);
        } else
                assert_null(out);
        return r;
}

/* ---- the key ---- */

static void test_public_key_shape(void **state) {
        struct fixture *f = *state;
        const json_t *pub = jwe_key_public(f->key);
        uint8_t x[32], y[32];
        EVP_PKEY *k;
        EVP_PKEY_CTX *ctx;

        assert_int_equal(json_object_size(pub), 5);
        assert_string_equal(json_string_value(json_object_get(pub, "kty")), "EC");
        assert_string_equal(json_string_value(json_object_get(pub, "crv")), "P-256");
        assert_string_equal(json_string_value(json_object_get(pub, "alg")), "ECDH-ES+A256KW");
        assert_null(json_object_get(pub, "d"));
        assert_int_equal(strlen(f->x), 43); /* 32 bytes, base64url, no padding */
        assert_int_equal(strlen(f->y), 43);
        assert_int_equal(prod_b64url_decode(f->x, x, 32), 32);
        assert_int_equal(prod_b64url_decode(f->y, y, 32), 32);
        /* A point on the curve (OpenSSL's own check). */
        k = prod_ec_key(x, y, NULL);
        assert_non_null(k);
        ctx = EVP_PKEY_CTX_new(k, NULL);
        assert_int_equal(EVP_PKEY_public_check(ctx), 1);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(k);
}

static void test_keys_differ(void **state) {
        struct fixture *f = *state;
        struct jwe_key *other = NULL;

        assert_int_equal(jwe_key_new(&other, NULL), 0);
        assert_string_not_equal(json_string_value(json_object_get(jwe_key_public(other), "x")), f->x);
        jwe_key_free(other);
}

static void test_secret_json_section(void **state) {
        json_t *inside, *outside;
        void *p;

        (void) state;
        assert_true(secret_init() >= 0);
        secret_json_begin();
        inside = json_string("secret");
        secret_json_end();
        outside = json_string("public");
        assert_true(CRYPTO_secure_allocated(json_string_value(inside)));
        assert_false(CRYPTO_secure_allocated(json_string_value(outside)));
        json_decref(inside);
        json_decref(outside);
        p = secret_alloc(64);
        assert_non_null(p);
        assert_true(CRYPTO_secure_allocated(p));
        assert_int_equal(((uint8_t *) p)[63], 0);
        secret_free(p);
        secret_free(NULL);
}

/* ---- the producer against RFC 7518 Appendix C (ECDH-ES, A128GCM, apu "Alice", apv "Bob") ---- */

static void test_producer_kdf_rfc7518_c(void **state) {
        uint8_t ax[32], ay[32], ad[32], bx[32], by[32], z[32], k[16];
        EVP_PKEY *alice, *bob;
        char *b64;

        (void) state;
        assert_int_equal(prod_b64url_decode("gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0", ax, 32), 32);
        assert_int_equal(prod_b64url_decode("SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps", ay, 32), 32);
        assert_int_equal(prod_b64url_decode("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo", ad, 32), 32);
        assert_int_equal(prod_b64url_decode("weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ", bx, 32), 32);
        assert_int_equal(prod_b64url_decode("e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck", by, 32), 32);
        alice = prod_ec_key(ax, ay, ad);
        bob = prod_ec_key(bx, by, NULL);
        assert_non_null(alice);
        assert_non_null(bob);
        assert_int_equal(prod_ecdh(alice, bob, z), 0);
        assert_int_equal(prod_concat_kdf(z, "A128GCM", (const uint8_t *) "Alice", 5, (const uint8_t *) "Bob", 3, 128, k),
                         0);
        b64 = prod_b64url(k, sizeof(k));
        assert_string_equal(b64, "VqqN6vgjbSBcIijNcacQGg");
        free(b64);
        EVP_PKEY_free(alice);
        EVP_PKEY_free(bob);
}

/* ---- decryption ---- */

static void test_roundtrip(void **state) {
        struct fixture *f = *state;
        uint8_t pt[64];
        char *jwe;
        errbuf err = {};

        for (size_t i = 0; i < sizeof(pt); i++)
                pt[i] = (uint8_t) (i * 7 + 1);
        jwe = encrypt_to(f, pt, sizeof(pt), NULL);
        assert_int_equal(decrypt_check(f, jwe, pt, sizeof(pt), &err), 0);
        free(jwe);
        /* One byte, and the most a disk key may be here. */
        jwe = encrypt_to(f, pt, 1, NULL);
        assert_int_equal(decrypt_check(f, jwe, pt, 1, &err), 0);
        free(jwe);
}

/* The AAD is the header text as received: another member order (consistently used by the
 * sender) still decrypts. */
static void test_header_text_is_aad(void **state) {
        struct fixture *f = *state;
        static const uint8_t pt[] = "key material";
        char *jwe;
        errbuf err = {};

        jwe = encrypt_to(f, pt, sizeof(pt),
                         "{\"epk\":{\"y\":\"%2$s\",\"x\":\"%1$s\",\"kty\":\"EC\",\"crv\":\"P-256\"},"
                         "\"enc\":\"A256GCM\",\"kid\":\"k1\",\"alg\":\"ECDH-ES+A256KW\"}");
        assert_int_equal(decrypt_check(f, jwe, pt, sizeof(pt), &err), 0);
        free(jwe);
}

/* Replaces member name of the JWE with value (a string) or removes it (value NULL). */
static char *with_member(const char *jwe, const char *name, const char *value) {
        json_t *o = json_loads(jwe, 0, NULL);
        char *s;

        assert_non_null(o);
        if (value)
                assert_int_equal(json_object_set_new(o, name, json_string(value)), 0);
        else
                assert_int_equal(json_object_del(o, name), 0);
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        assert_non_null(s);
        return s;
}

/* Flips one bit of the decoded member and re-encodes it. */
static char *flip(const char *jwe, const char *name, size_t byte) {
        json_t *o = json_loads(jwe, 0, NULL);
        uint8_t buf[8192];
        char *b64, *s;
        int n;

        assert_non_null(o);
        n = prod_b64url_decode(json_string_value(json_object_get(o, name)), buf, sizeof(buf));
        assert_true(n > (int) byte);
        buf[byte] ^= 0x01;
        b64 = prod_b64url(buf, (size_t) n);
        s = with_member(jwe, name, b64);
        free(b64);
        json_decref(o);
        return s;
}

static void expect_fail(struct fixture *f, char *jwe, int want, const char *msg_part) {
        errbuf err = {};
        int r = decrypt_check(f, jwe, NULL, 0, &err);

        if (r != want || (msg_part && !strstr(err.msg, msg_part)))
                fail_msg("got %d '%s', want %d '%s'", r, err.msg, want, msg_part ?: "");
        free(jwe);
}

/* The protected header decoded, re-serialized with indentation, encoded again. */
static char *resorted_header(const char *jwe) {
        json_t *o = json_loads(jwe, 0, NULL), *h;
        uint8_t text[1024];
        char *sorted, *b64;
        int n;

        assert_non_null(o);
        n = prod_b64url_decode(json_string_value(json_object_get(o, "protected")), text, sizeof(text) - 1);
        assert_true(n > 0);
        text[n] = 0;
        h = json_loads((const char *) text, 0, NULL);
        assert_non_null(h);
        sorted = json_dumps(h, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        assert_non_null(sorted);
        assert_string_not_equal(sorted, (const char *) text);
        b64 = prod_b64url((const uint8_t *) sorted, strlen(sorted));
        free(sorted);
        json_decref(h);
        json_decref(o);
        return b64;
}

static void test_tampered(void **state) {
        struct fixture *f = *state;
        static const uint8_t pt[32] = { 1, 2, 3 };
        char *jwe = encrypt_to(f, pt, sizeof(pt), NULL);
        char *prot;

        expect_fail(f, flip(jwe, "ciphertext", 0), -EKEYREJECTED, "does not decrypt");
        expect_fail(f, flip(jwe, "ciphertext", 31), -EKEYREJECTED, NULL);
        expect_fail(f, flip(jwe, "tag", 15), -EKEYREJECTED, NULL);
        expect_fail(f, flip(jwe, "iv", 0), -EKEYREJECTED, NULL);
        expect_fail(f, flip(jwe, "encrypted_key", 39), -EKEYREJECTED, NULL);
        /* The same header in other text: another AAD, so the tag does not match. */
        prot = resorted_header(jwe);
        expect_fail(f, with_member(jwe, "protected", prot), -EKEYREJECTED, NULL);
        free(prot);
        free(jwe);
}

static void test_wrong_key(void **state) {
        struct fixture *f = *state;
        static const uint8_t pt[32] = { 9 };
        struct jwe_key *other = NULL;
        char *jwe;
        uint8_t *out = NULL;
        size_t len;

        assert_int_equal(jwe_key_new(&other, NULL), 0);
        jwe = encrypt_to(f, pt, sizeof(pt), NULL);
        assert_int_equal(jwe_decrypt(other, jwe, strlen(jwe), 4096, &out, &len, NULL), -EKEYREJECTED);
        assert_null(out);
        jwe_key_free(other);
        free(jwe);
}

/* Headers that must be refused before any decryption. */
/* Pieces of protected headers (printf formats taking the epk's x and y). */
#define EPK "\"epk\":{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}"
#define ALG_ENC "\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\""

static void test_bad_headers(void **state) {
        struct fixture *f = *state;
        static const uint8_t pt[32] = { 7 };
        static const struct {
                const char *fmt, *msg;
        } cases[] = {
                { "{\"alg\":\"dir\",\"enc\":\"A256GCM\"," EPK "}", "\"alg\" is \"dir\"" },
                { "{\"alg\":\"ECDH-ES\",\"enc\":\"A256GCM\"," EPK "}", "expected \"ECDH-ES+A256KW\"" },
                { "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"," EPK "}", "RSA-OAEP-256" },
                { "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A128GCM\"," EPK "}", "\"enc\"" },
                { "{" ALG_ENC "," EPK ",\"zip\":\"DEF\"}", "\"zip\" is not supported" },
                { "{" ALG_ENC ",\"crit\":[\"x\"]," EPK "}", "\"crit\"" },
                { "{" ALG_ENC ",\"epk\":{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}}", "\"crv\"" },
                { "{" ALG_ENC ",\"epk\":{\"crv\":\"P-256\",\"d\":\"AA\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}}",
                  "unknown member \"d\"" },
                { "{" ALG_ENC ",\"alg\":\"dir\"," EPK "}", "not a JSON object" }, /* duplicate member */
                { "[\"%s\",\"%s\"]", "not a JSON object" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                expect_fail(f, encrypt_to(f, pt, sizeof(pt), cases[i].fmt), -EBADMSG, cases[i].msg);
}

static void test_malformed(void **state) {
        struct fixture *f = *state;
        static const uint8_t pt[32] = { 5 };
        char *jwe = encrypt_to(f, pt, sizeof(pt), NULL);
        static const char short_tag[] = "AAAAAAAAAAAAAAAA"; /* 12 bytes: a truncated GCM tag */

        expect_fail(f, strdup("not json"), -EBADMSG, "not valid JSON");
        expect_fail(f, strdup("[]"), -EBADMSG, "not a JSON object");
        expect_fail(f, with_member(jwe, "tag", NULL), -EBADMSG, "\"tag\" is missing");
        expect_fail(f, with_member(jwe, "iv", NULL), -EBADMSG, "\"iv\" is missing");
        expect_fail(f, with_member(jwe, "aad", "AAAA"), -EBADMSG, "unknown member \"aad\"");
        expect_fail(f, with_member(jwe, "unprotected", "x"), -EBADMSG, "unknown member");
        expect_fail(f, with_member(jwe, "tag", short_tag), -EBADMSG, "\"tag\"");
        expect_fail(f, with_member(jwe, "iv", "AAAAAAAAAAAAAAAAAAAAAA"), -EBADMSG, "\"iv\"");
        expect_fail(f, with_member(jwe, "encrypted_key", "AAAA"), -EBADMSG, "\"encrypted_key\"");
        /* Padding, the standard alphabet: not base64url. */
        expect_fail(f, with_member(jwe, "ciphertext", "AAAA+/AA"), -EBADMSG, "base64url");
        expect_fail(f, with_member(jwe, "ciphertext", "AAAAAA=="), -EBADMSG, "base64url");
        expect_fail(f, with_member(jwe, "ciphertext", ""), -EBADMSG, "\"ciphertext\"");
        expect_fail(f, with_member(jwe, "protected", "e30"), -EBADMSG, "\"alg\" is missing"); /* {} */
        free(jwe);
}

static void test_limits(void **state) {
        struct fixture *f = *state;
        static uint8_t pt[4096];
        uint8_t *out = NULL;
        size_t len = 0;
        char *big, *jwe = encrypt_to(f, pt, 100, NULL);

        /* Plaintext over the caller's limit. */
        assert_int_equal(jwe_decrypt(f->key, jwe, strlen(jwe), 99, &out, &len, NULL), -EFBIG);
        assert_int_equal(jwe_decrypt(f->key, jwe, strlen(jwe), 100, &out, &len, NULL), 0);
        assert_int_equal(len, 100);
        secret_free(out);
        out = NULL;
        free(jwe);
        /* Text over JWE_TEXT_MAX. */
        big = calloc(1, JWE_TEXT_MAX + 2);
        assert_non_null(big);
        memset(big, ' ', JWE_TEXT_MAX + 1);
        assert_int_equal(jwe_decrypt(f->key, big, JWE_TEXT_MAX + 1, 4096, &out, &len, NULL), -EFBIG);
        assert_null(out);
        free(big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_public_key_shape, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keys_differ, setup, teardown),
                cmocka_unit_test(test_secret_json_section),
                cmocka_unit_test(test_producer_kdf_rfc7518_c),
                cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_header_text_is_aad, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_headers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
