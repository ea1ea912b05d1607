/* SPDX-License-Identifier: MIT */
/* The release: a resource as a flattened JWE (RFC 7516 §7.2.2) for the session's tee-pubkey.
 * Written with OpenSSL rather than a JOSE library because the protected header's exact text
 * matters (DESIGN §4: CoCo's client re-serialises the header it parsed to compute the GCM AAD, so
 * ours is compact JSON with members in the order it produces); the tests decrypt with libjose.
 *   ECDH-ES+A256KW (RFC 7518 §4.6): ephemeral P-256 key, Z = ECDH x-coordinate, KEK = Concat KDF
 *     SHA-256 (NIST SP 800-56A §5.8.1) over Z with AlgorithmID "ECDH-ES+A256KW", empty apu/apv,
 *     keydatalen 256; the CEK wrapped with AES key wrap (RFC 3394).
 *   RSA-OAEP-256 (§4.3): the CEK encrypted with OAEP, SHA-256 and MGF1-SHA-256.
 *   A256GCM (§5.3): 96-bit random IV, AAD = ASCII(BASE64URL(protected header)), 128-bit tag. */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "base64.h"
#include "cvm-broker.h"

#define CEK_SIZE 32U
#define IV_SIZE 12U
#define TAG_SIZE 16U
#define P256_COORD 32U
#define WRAPPED_SIZE (CEK_SIZE + 8U)
#define RSA_MAX_BYTES 512U

static void pkeyp(EVP_PKEY **p) {
        EVP_PKEY_free(*p);
}
static void pkey_ctxp(EVP_PKEY_CTX **p) {
        EVP_PKEY_CTX_free(*p);
}
static void cipher_ctxp(EVP_CIPHER_CTX **p) {
        EVP_CIPHER_CTX_free(*p);
}
static void param_bldp(OSSL_PARAM_BLD **p) {
        OSSL_PARAM_BLD_free(*p);
}
static void paramsp(OSSL_PARAM **p) {
        OSSL_PARAM_free(*p);
}
static void bnp(BIGNUM **p) {
        BN_free(*p);
}

/* A base64url member of the JWK, exactly n bytes (or at most n if !exact). */
static int jwk_bytes(const json_t *jwk, const char *name, size_t n, bool exact, uint8_t **ret, size_t *len) {
        const char *s = json_string_value(json_object_get(jwk, name));
        int r;

        if (!s)
                return -EINVAL;
        r = base64_decode(s, strlen(s), BASE64_URL, n, ret, len);
        if (r < 0)
                return r == -ENOMEM ? r : -EINVAL;
        return exact && *len != n ? -EINVAL : 0;
}

static int import_key(const char *type, OSSL_PARAM *params, EVP_PKEY **ret) {
        _cleanup_(pkey_ctxp) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
        _cleanup_(pkey_ctxp) EVP_PKEY_CTX *check = NULL;
        EVP_PKEY *k = NULL;

        if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
            EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
                return -EINVAL;
        /* Off-curve points (invalid-curve attacks) and malformed moduli are refused here. */
        check = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
        if (!check || EVP_PKEY_public_check(check) != 1) {
                EVP_PKEY_free(k);
                return -EINVAL;
        }
        *ret = k;
        return 0;
}

static int ec_public_key(const json_t *jwk, EVP_PKEY **ret) {
        _cleanup_free_ uint8_t *x = NULL, *y = NULL;
        _cleanup_(param_bldp) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        _cleanup_(paramsp) OSSL_PARAM *params = NULL;
        uint8_t point[1 + 2 * P256_COORD] = { 0x04 };
        size_t n;

        if (!bld)
                return -ENOMEM;
        if (jwk_bytes(jwk, "x", P256_COORD, true, &x, &n) < 0 || jwk_bytes(jwk, "y", P256_COORD, true, &y, &n) < 0)
                return -EINVAL;
        memcpy(point + 1, x, P256_COORD);
        memcpy(point + 1 + P256_COORD, y, P256_COORD);
        if (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "P-256", 0) != 1 ||
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) != 1 ||
            !(params = OSSL_PARAM_BLD_to_param(bld)))
                return -ENOMEM;
        return import_key("EC", params, ret);
}

static int rsa_public_key(const json_t *jwk, EVP_PKEY **ret) {
        _cleanup_free_ uint8_t *nb = NULL, *eb = NULL;
        _cleanup_(param_bldp) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        _cleanup_(paramsp) OSSL_PARAM *params = NULL;
        _cleanup_(bnp) BIGNUM *n = NULL, *e = NULL;
        size_t nn, en;

        if (!bld)
                return -ENOMEM;
        if (jwk_bytes(jwk, "n", RSA_MAX_BYTES, false, &nb, &nn) < 0 || jwk_bytes(jwk, "e", 8, false, &eb, &en) < 0)
                return -EINVAL;
        n = BN_bin2bn(nb, (int) nn, NULL);
        e = BN_bin2bn(eb, (int) en, NULL);
        if (!n || !e || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 || !(params = OSSL_PARAM_BLD_to_param(bld)))
                return -ENOMEM;
        return import_key("RSA", params, ret);
}

/* Concat KDF (one SHA-256 block: keydatalen 256 bits) for ECDH-ES+A256KW without apu/apv. */
static int concat_kdf(const uint8_t *z, size_t zn, uint8_t kek[static CEK_SIZE]) {
        static const char alg[] = "ECDH-ES+A256KW";
        struct buf b = {};
        uint8_t d[HASH_MAX_SIZE];
        int r;

        r = buf_append(&b, "\0\0\0\1", 4); /* round 1 */
        if (r >= 0)
                r = buf_append(&b, z, zn);
        if (r >= 0)
                r = buf_append(&b, (uint8_t[]) { 0, 0, 0, sizeof(alg) - 1 }, 4);
        if (r >= 0)
                r = buf_append(&b, alg, sizeof(alg) - 1);
        if (r >= 0) /* PartyUInfo, PartyVInfo: empty; SuppPubInfo: 256 */
                r = buf_append(&b, (uint8_t[]) { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 }, 12);
        if (r >= 0)
                r = hash_buffer(HASH_SHA256, b.data, b.len, d);
        buf_erase(&b);
        if (r < 0)
                return r;
        memcpy(kek, d, CEK_SIZE);
        OPENSSL_cleanse(d, sizeof(d));
        return 0;
}

static int aes_key_wrap(const uint8_t kek[static CEK_SIZE], const uint8_t cek[static CEK_SIZE],
                        uint8_t out[static WRAPPED_SIZE]) {
        _cleanup_(cipher_ctxp) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int n = 0, m = 0;

        if (!ctx)
                return -ENOMEM;
        EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
        if (EVP_EncryptInit_ex(ctx, EVP_aes_256_wrap(), NULL, kek, NULL) != 1 ||
            EVP_EncryptUpdate(ctx, out, &n, cek, CEK_SIZE) != 1 || EVP_EncryptFinal_ex(ctx, out + n, &m) != 1 ||
            n + m != WRAPPED_SIZE)
                return -EIO;
        return 0;
}

/* The ephemeral public key's coordinates, base64url. */
static int epk_coords(EVP_PKEY *k, char **x, char **y) {
        _cleanup_(bnp) BIGNUM *bx = NULL, *by = NULL;
        uint8_t bin[P256_COORD];

        if (EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx) != 1 ||
            EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by) != 1)
                return -EIO;
        if (BN_bn2binpad(bx, bin, sizeof(bin)) != P256_COORD || base64_encode(bin, sizeof(bin), BASE64_URL, x) < 0)
                return -ENOMEM;
        if (BN_bn2binpad(by, bin, sizeof(bin)) != P256_COORD || base64_encode(bin, sizeof(bin), BASE64_URL, y) < 0)
                return -ENOMEM;
        return 0;
}

/* ECDH-ES+A256KW: the wrapped CEK and the protected header carrying the ephemeral key. */
static int wrap_ecdh(EVP_PKEY *peer, const uint8_t cek[static CEK_SIZE], uint8_t *wrapped, size_t *wrapped_len,
                     struct buf *header) {
        _cleanup_(pkeyp) EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        _cleanup_(pkey_ctxp) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_free_ char *x = NULL, *y = NULL;
        uint8_t z[P256_COORD], kek[CEK_SIZE];
        size_t zn = sizeof(z);
        int r;

        if (!eph || !(ctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)))
                return -ENOMEM;
        /* peer passed EVP_PKEY_public_check in import_key: set_peer's own validation (the same full
         * check, a scalar multiplication by the group order) would only repeat it. */
        if (EVP_PKEY_derive_init(ctx) != 1 || EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1 ||
            EVP_PKEY_derive(ctx, z, &zn) != 1 || zn != sizeof(z))
                return -EINVAL;
        r = concat_kdf(z, zn, kek);
        if (r >= 0)
                r = aes_key_wrap(kek, cek, wrapped);
        OPENSSL_cleanse(z, sizeof(z));
        OPENSSL_cleanse(kek, sizeof(kek));
        if (r < 0)
                return r;
        *wrapped_len = WRAPPED_SIZE;
        r = epk_coords(eph, &x, &y);
        if (r < 0)
                return r;
        /* Exactly this member order (DESIGN §4). */
        return buf_printf(header, "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"P-256\","
                          "\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}}", x, y);
}

static int wrap_rsa(EVP_PKEY *peer, const uint8_t cek[static CEK_SIZE], uint8_t *wrapped, size_t *wrapped_len,
                    struct buf *header) {
        _cleanup_(pkey_ctxp) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);

        if (!ctx)
                return -ENOMEM;
        *wrapped_len = RSA_MAX_BYTES;
        if (EVP_PKEY_encrypt_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
            EVP_PKEY_encrypt(ctx, wrapped, wrapped_len, cek, CEK_SIZE) != 1)
                return -EINVAL;
        return buf_append_str(header, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}");
}

struct gcm_out {
        uint8_t iv[IV_SIZE], tag[TAG_SIZE];
        uint8_t *ct;
};

static int gcm_encrypt(const uint8_t cek[static CEK_SIZE], const char *aad, const uint8_t *pt, size_t n,
                       struct gcm_out *o) {
        _cleanup_(cipher_ctxp) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        int len = 0, fin = 0;

        if (!ctx || n > INT32_MAX || !(o->ct = malloc(n + 1)))
                return -ENOMEM;
        if (RAND_bytes(o->iv, IV_SIZE) != 1)
                return -EIO;
        if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, cek, o->iv) != 1 ||
            EVP_EncryptUpdate(ctx, NULL, &len, (const uint8_t *) aad, (int) strlen(aad)) != 1 ||
            EVP_EncryptUpdate(ctx, o->ct, &len, pt, (int) n) != 1 || EVP_EncryptFinal_ex(ctx, o->ct + len, &fin) != 1 ||
            (size_t) (len + fin) != n || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_SIZE, o->tag) != 1)
                return -EIO;
        return 0;
}

/* {"protected":..,"encrypted_key":..,"iv":..,"ciphertext":..,"tag":..} */
static int serialize(const char *protected_b64, const uint8_t *wrapped, size_t wrapped_len, const struct gcm_out *g,
                     size_t n, char **ret) {
        _cleanup_free_ char *ek = NULL, *iv = NULL, *ct = NULL, *tag = NULL;
        struct buf b = {};
        int r;

        if (base64_encode(wrapped, wrapped_len, BASE64_URL, &ek) < 0 ||
            base64_encode(g->iv, IV_SIZE, BASE64_URL, &iv) < 0 || base64_encode(g->ct, n, BASE64_URL, &ct) < 0 ||
            base64_encode(g->tag, TAG_SIZE, BASE64_URL, &tag) < 0)
                return -ENOMEM;
        r = buf_printf(&b, "{\"protected\":\"%s\",\"encrypted_key\":\"%s\",\"iv\":\"%s\",\"ciphertext\":\"%s\","
                       "\"tag\":\"%s\"}", protected_b64, ek, iv, ct, tag);
        if (r < 0) {
                buf_free(&b);
                return r;
        }
        *ret = buf_steal(&b, NULL);
        return 0;
}

int broker_jwe_encrypt(const json_t *jwk, const uint8_t *plaintext, size_t n, char **ret, errbuf *err) {
        _cleanup_(pkeyp) EVP_PKEY *peer = NULL;
        _cleanup_free_ char *protected_b64 = NULL;
        struct gcm_out g = {};
        struct buf header = {};
        uint8_t cek[CEK_SIZE], wrapped[RSA_MAX_BYTES];
        size_t wrapped_len = 0;
        int kind, r;

        kind = kbs_proto_jwk_check(jwk, err);
        if (kind < 0)
                return kind;
        r = kind == KBS_JWK_EC_P256 ? ec_public_key(jwk, &peer) : rsa_public_key(jwk, &peer);
        if (r < 0)
                return errbuf_set(err, r, "tee-pubkey is not a usable %s public key", kind == KBS_JWK_RSA ? "RSA" : "P-256");
        if (RAND_priv_bytes(cek, sizeof(cek)) != 1)
                return errbuf_set(err, -EIO, "no randomness for the content key");
        r = kind == KBS_JWK_EC_P256 ? wrap_ecdh(peer, cek, wrapped, &wrapped_len, &header) :
                                      wrap_rsa(peer, cek, wrapped, &wrapped_len, &header);
        if (r >= 0)
                r = base64_encode(header.data, header.len, BASE64_URL, &protected_b64);
        if (r >= 0)
                r = gcm_encrypt(cek, protected_b64, plaintext, n, &g);
        if (r >= 0)
                r = serialize(protected_b64, wrapped, wrapped_len, &g, n, ret);
        OPENSSL_cleanse(cek, sizeof(cek));
        buf_free(&header);
        free(g.ct);
        if (r < 0)
                return errbuf_set(err, r, "cannot encrypt the resource: %s", strerror(-r));
        return 0;
}
