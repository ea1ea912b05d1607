/* SPDX-License-Identifier: MIT */
/* A JWE producer for tests, independent of libjose and of agent/jwe.c: OpenSSL primitives put
 * together by hand after the RFCs — RFC 7518 §4.6 ECDH-ES+A256KW (ECDH on P-256, Concat KDF of
 * §4.6.2 with SHA-256), RFC 3394 AES key wrap, RFC 7518 §5.3 A256GCM, RFC 7516 §7.2.2 flattened
 * JSON. The protected header is by default the broker's (DESIGN §4):
 *   {"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":"P-256","kty":"EC","x":X,"y":Y}}
 * Header-only (static functions) so unit tests and tests/helpers programs share one copy. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#define PROD_HEADER_DEFAULT \
        "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}}"

/* base64url without padding (RFC 4648 §5), through OpenSSL's standard base64. */
static inline char *prod_b64url(const uint8_t *p, size_t n) {
        char *s = malloc(4 * ((n + 2) / 3) + 1);
        int len;

        if (!s)
                return NULL;
        len = EVP_EncodeBlock((unsigned char *) s, p, (int) n);
        while (len > 0 && s[len - 1] == '=')
                len--;
        s[len] = 0;
        for (char *c = s; *c; c++)
                *c = *c == '+' ? '-' : *c == '/' ? '_' : *c;
        return s;
}

/* Returns the decoded length, or -1. */
static inline int prod_b64url_decode(const char *s, uint8_t *out, size_t max) {
        size_t n = strlen(s), pad = (4 - n % 4) % 4;
        char *t = malloc(n + pad + 1);
        uint8_t *tmp = malloc(n + pad + 1);
        int len = -1;

        if (t && tmp && pad < 3) {
                for (size_t i = 0; i < n; i++)
                        t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
                memset(t + n, '=', pad);
                t[n + pad] = 0;
                len = EVP_DecodeBlock(tmp, (unsigned char *) t, (int) (n + pad));
                if (len >= 0)
                        len -= (int) pad;
                if (len < 0 || (size_t) len > max)
                        len = -1;
                else
                        memcpy(out, tmp, (size_t) len);
        }
        free(t);
        free(tmp);
        return len;
}

/* A P-256 key from coordinates (and the private scalar if d is not NULL). */
static inline EVP_PKEY *prod_ec_key(const uint8_t x[32], const uint8_t y[32], const uint8_t *d) {
        uint8_t point[65] = { 0x04 };
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        BIGNUM *priv = d ? BN_bin2bn(d, 32, NULL) : NULL;
        OSSL_PARAM *params = NULL;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        EVP_PKEY *key = NULL;

        memcpy(point + 1, x, 32);
        memcpy(point + 33, y, 32);
        if (bld && ctx && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) &&
            (!d || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv)) &&
            (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) > 0)
                (void) EVP_PKEY_fromdata(ctx, &key, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        EVP_PKEY_CTX_free(ctx);
        BN_free(priv);
        return key;
}

static inline int prod_ec_coords(EVP_PKEY *k, uint8_t x[32], uint8_t y[32]) {
        uint8_t point[65];
        size_t n = 0;

        if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &n) || n != 65)
                return -1;
        memcpy(x, point + 1, 32);
        memcpy(y, point + 33, 32);
        return 0;
}

static inline int prod_ecdh(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t z[32]) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
        size_t n = 32;
        int r = -1;

        if (ctx && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_derive_set_peer(ctx, peer) > 0 &&
            EVP_PKEY_derive(ctx, z, &n) > 0 && n == 32)
                r = 0;
        EVP_PKEY_CTX_free(ctx);
        return r;
}

static inline void prod_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

/* RFC 7518 §4.6.2: one SHA-256 round, enough for keys up to 256 bits.
 * round1 = counter 1 || Z || len(alg) || alg || len(apu) || apu || len(apv) || apv || keybits */
static inline int prod_concat_kdf(const uint8_t z[32], const char *alg, const uint8_t *apu, size_t apul,
                                  const uint8_t *apv, size_t apvl, unsigned keybits, uint8_t *out) {
        uint8_t be[4], d[32];
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        int ok;

        ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
        prod_be32(be, 1);
        ok = ok && EVP_DigestUpdate(ctx, be, 4) && EVP_DigestUpdate(ctx, z, 32);
        prod_be32(be, (uint32_t) strlen(alg));
        ok = ok && EVP_DigestUpdate(ctx, be, 4) && EVP_DigestUpdate(ctx, alg, strlen(alg));
        prod_be32(be, (uint32_t) apul);
        ok = ok && EVP_DigestUpdate(ctx, be, 4) && (apul == 0 || EVP_DigestUpdate(ctx, apu, apul));
        prod_be32(be, (uint32_t) apvl);
        ok = ok && EVP_DigestUpdate(ctx, be, 4) && (apvl == 0 || EVP_DigestUpdate(ctx, apv, apvl));
        prod_be32(be, keybits);
        ok = ok && EVP_DigestUpdate(ctx, be, 4) && EVP_DigestFinal_ex(ctx, d, NULL);
        EVP_MD_CTX_free(ctx);
        if (ok)
                memcpy(out, d, keybits / 8);
        return ok ? 0 : -1;
}

static inline int prod_aes_kw(const uint8_t kek[32], const uint8_t cek[32], uint8_t out[40]) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int len = 0, fin = 0, ok;

        ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_wrap(), NULL, kek, NULL) &&
             EVP_EncryptUpdate(ctx, out, &len, cek, 32) && EVP_EncryptFinal_ex(ctx, out + len, &fin);
        EVP_CIPHER_CTX_free(ctx);
        return ok && len + fin == 40 ? 0 : -1;
}

static inline int prod_gcm(const uint8_t key[32], const uint8_t iv[12], const char *aad, const uint8_t *pt,
                           size_t n, uint8_t *ct, uint8_t tag[16]) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int len = 0, fin = 0, ok;

        ok = ctx && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv) &&
             EVP_EncryptUpdate(ctx, NULL, &len, (const uint8_t *) aad, (int) strlen(aad)) &&
             EVP_EncryptUpdate(ctx, ct, &len, pt, (int) n) && EVP_EncryptFinal_ex(ctx, ct + len, &fin) &&
             EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
        EVP_CIPHER_CTX_free(ctx);
        return ok && (size_t) (len + fin) == n ? 0 : -1;
}

/* Encrypts pt (1..4096 bytes) to the P-256 public key (x, y base64url) as flattened JWE JSON text
 * (malloc'd). header_fmt: printf format of the protected header taking the epk's x and y (NULL =
 * PROD_HEADER_DEFAULT); its text, base64url-encoded, is the AAD. */
static inline char *prod_encrypt(const char *x_b64, const char *y_b64, const uint8_t *pt, size_t n,
                                 const char *header_fmt) {
        uint8_t x[32], y[32], ex[32], ey[32], z[32], kek[32], cek[32], ek[40], iv[12], tag[16], ct[4096];
        EVP_PKEY *peer = NULL, *eph = NULL;
        char *ex64 = NULL, *ey64 = NULL, *hdr = NULL, *prot = NULL, *ek64 = NULL, *iv64 = NULL, *ct64 = NULL,
             *tag64 = NULL, *out = NULL;
        EVP_PKEY_CTX *gen = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

        if (n == 0 || n > sizeof(ct) || prod_b64url_decode(x_b64, x, 32) != 32 || prod_b64url_decode(y_b64, y, 32) != 32)
                goto out;
        peer = prod_ec_key(x, y, NULL);
        if (!peer || !gen || EVP_PKEY_keygen_init(gen) <= 0 ||
            EVP_PKEY_CTX_set_group_name(gen, "prime256v1") <= 0 || EVP_PKEY_keygen(gen, &eph) <= 0)
                goto out;
        if (prod_ec_coords(eph, ex, ey) < 0 || prod_ecdh(eph, peer, z) < 0 ||
            prod_concat_kdf(z, "ECDH-ES+A256KW", NULL, 0, NULL, 0, 256, kek) < 0 ||
            RAND_bytes(cek, 32) != 1 || RAND_bytes(iv, 12) != 1 || prod_aes_kw(kek, cek, ek) < 0)
                goto out;
        ex64 = prod_b64url(ex, 32);
        ey64 = prod_b64url(ey, 32);
        if (!ex64 || !ey64 || asprintf(&hdr, header_fmt ? header_fmt : PROD_HEADER_DEFAULT, ex64, ey64) < 0) {
                hdr = NULL;
                goto out;
        }
        prot = prod_b64url((const uint8_t *) hdr, strlen(hdr));
        if (!prot || prod_gcm(cek, iv, prot, pt, n, ct, tag) < 0)
                goto out;
        ek64 = prod_b64url(ek, sizeof(ek));
        iv64 = prod_b64url(iv, sizeof(iv));
        ct64 = prod_b64url(ct, n);
        tag64 = prod_b64url(tag, sizeof(tag));
        if (ek64 && iv64 && ct64 && tag64 &&
            asprintf(&out, "{\"protected\":\"%s\",\"encrypted_key\":\"%s\",\"iv\":\"%s\",\"ciphertext\":\"%s\","
                     "\"tag\":\"%s\"}", prot, ek64, iv64, ct64, tag64) < 0)
                out = NULL;
out:
        EVP_PKEY_free(peer);
        EVP_PKEY_free(eph);
        EVP_PKEY_CTX_free(gen);
        free(ex64);
        free(ey64);
        free(hdr);
        free(prot);
        free(ek64);
        free(iv64);
        free(ct64);
        free(tag64);
        return out;
}
