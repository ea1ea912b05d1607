/* SPDX-License-Identifier: MIT */
/* TDX quote verification (tdx-quote.h): the attestation key's signature, its binding to the QE
 * report, the QE report's signature by the PCK key, and the PCK chain to a trusted root at a given
 * time (as Intel's QVL, minus the collateral: docs/tdx.md says what is not checked). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509_vfy.h>

#include "hashalg.h"
#include "tdx-quote.h"

/* Intel's PCK hierarchy: leaf, a Platform or Processor CA, the root. */
#define PCK_CHAIN_DEPTH 3

static void evp_pkey_freep(EVP_PKEY **p) {
        EVP_PKEY_free(*p);
}
static void evp_pkey_ctx_freep(EVP_PKEY_CTX **p) {
        EVP_PKEY_CTX_free(*p);
}
static void evp_md_ctx_freep(EVP_MD_CTX **p) {
        EVP_MD_CTX_free(*p);
}
static void param_bld_freep(OSSL_PARAM_BLD **p) {
        OSSL_PARAM_BLD_free(*p);
}
static void params_freep(OSSL_PARAM **p) {
        OSSL_PARAM_free(*p);
}
static void ecdsa_sig_freep(ECDSA_SIG **p) {
        ECDSA_SIG_free(*p);
}
static void x509_stack_freep(STACK_OF(X509) **s) {
        sk_X509_pop_free(*s, X509_free);
}
static void x509_store_ctx_freep(X509_STORE_CTX **p) {
        X509_STORE_CTX_free(*p);
}

const char *tdx_check_name(enum tdx_check c) {
        static const char *const names[_TDX_CHECK_MAX] = {
                [TDX_CHECK_QUOTE_SIGNATURE] = "quote-signature",
                [TDX_CHECK_QE_REPORT_BINDING] = "qe-report-binding",
                [TDX_CHECK_QE_REPORT_SIGNATURE] = "qe-report-signature",
                [TDX_CHECK_PCK_CHAIN] = "pck-chain",
                [TDX_CHECK_REPORT_DATA] = "report-data",
        };
        return c >= 0 && c < _TDX_CHECK_MAX ? names[c] : NULL;
}

static _printf_(3, 4) void set(struct tdx_check_result *c, enum tdx_check_state state, const char *format, ...) {
        va_list ap;

        c->state = state;
        va_start(ap, format);
        (void) vsnprintf(c->reason, sizeof(c->reason), format, ap);
        va_end(ap);
}

/* An EC P-256 public key from the raw x||y form the quote uses. */
static int p256_key(const uint8_t xy[static TDX_ECDSA_KEY_SIZE], EVP_PKEY **ret) {
        _cleanup_(param_bld_freep) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        _cleanup_(evp_pkey_ctx_freep) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
        _cleanup_(params_freep) OSSL_PARAM *params = NULL;
        _cleanup_(evp_pkey_freep) EVP_PKEY *k = NULL;
        uint8_t point[1 + TDX_ECDSA_KEY_SIZE] = { 0x04 };

        memcpy(point + 1, xy, TDX_ECDSA_KEY_SIZE);
        if (!bld || !ctx || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) != 1 ||
            !(params = OSSL_PARAM_BLD_to_param(bld)) || EVP_PKEY_fromdata_init(ctx) != 1)
                return -ENOMEM;
        /* The import decodes the point with EC_POINT_oct2point, which refuses points off the curve;
         * P-256 has cofactor 1, so that is the whole public key check (EVP_PKEY_public_check would
         * add a scalar multiplication for nothing). */
        if (EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
                return -EBADMSG;
        *ret = TAKE_PTR(k);
        return 0;
}

static bool is_p256(EVP_PKEY *k) {
        char group[32];

        return EVP_PKEY_get_base_id(k) == EVP_PKEY_EC &&
               EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) == 1 &&
               strcmp(group, "prime256v1") == 0;
}

/* ECDSA with SHA-256 over msg, the signature given as r||s (32 bytes each, big-endian) and turned
 * into DER for OpenSSL. 1 valid, 0 not, negative errno if it could not be checked. */
static int ecdsa_verify_raw(EVP_PKEY *k, const uint8_t rs[static TDX_ECDSA_SIG_SIZE], const uint8_t *msg, size_t n) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_(ecdsa_sig_freep) ECDSA_SIG *sig = ECDSA_SIG_new();
        _cleanup_free_ uint8_t *der = NULL;
        BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
        int len;

        if (!ctx || !sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
                BN_free(r);
                BN_free(s);
                return -ENOMEM;
        }
        len = i2d_ECDSA_SIG(sig, &der);
        if (len <= 0)
                return -ENOMEM;
        if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, k) != 1)
                return -ENOMEM;
        return EVP_DigestVerify(ctx, der, (size_t) len, msg, n) == 1;
}

static int check_quote_signature(const struct tdx_quote *q, struct tdx_check_result *c) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *k = NULL;
        int r = p256_key(q->att_key, &k);

        if (r == -EBADMSG)
                return set(c, TDX_CHECK_FAILED, "the attestation key (offset %zu) is not a P-256 point", q->off.att_key), 0;
        if (r >= 0)
                r = ecdsa_verify_raw(k, q->signature, q->raw, q->signed_len);
        if (r < 0)
                return r;
        if (r == 0)
                return set(c, TDX_CHECK_FAILED, "the signature (offset %zu) over header and body (bytes 0-%zu) does "
                           "not verify with the attestation key", q->off.signature, q->signed_len - 1), 0;
        return set(c, TDX_CHECK_OK, "ECDSA-P256-SHA256 by the attestation key over header and body (%zu bytes)",
                   q->signed_len), 0;
}

static int check_binding(const struct tdx_quote *q, struct tdx_check_result *c) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        static const uint8_t zeros[32] = {};
        uint8_t d[32];

        if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
            EVP_DigestUpdate(ctx, q->att_key, TDX_ECDSA_KEY_SIZE) != 1 ||
            EVP_DigestUpdate(ctx, q->qe_auth, q->qe_auth_len) != 1 || EVP_DigestFinal_ex(ctx, d, NULL) != 1)
                return -ENOMEM;
        if (memcmp(q->qe_report.report_data, d, 32) != 0)
                return set(c, TDX_CHECK_FAILED, "QE report_data[0:32] is not SHA-256(attestation key || QE auth data): "
                           "the attestation key was not certified by this QE report"), 0;
        if (memcmp(q->qe_report.report_data + 32, zeros, 32) != 0)
                return set(c, TDX_CHECK_FAILED, "QE report_data[32:64] is not zero"), 0;
        return set(c, TDX_CHECK_OK, "QE report_data = SHA-256(attestation key || %u bytes of QE auth data) || zeros",
                   q->qe_auth_len), 0;
}

static int check_qe_signature(const struct tdx_quote *q, X509 *leaf, struct tdx_check_result *c) {
        EVP_PKEY *k = X509_get0_pubkey(leaf);
        int r;

        if (!k || !is_p256(k))
                return set(c, TDX_CHECK_FAILED, "the PCK leaf certificate's key is not an EC P-256 key"), 0;
        r = ecdsa_verify_raw(k, q->qe_report_sig, q->qe_report_raw, TDX_QE_REPORT_SIZE);
        if (r < 0)
                return r;
        if (r == 0)
                return set(c, TDX_CHECK_FAILED, "the QE report signature (offset %zu) does not verify with the PCK "
                           "leaf's key", q->off.qe_report_sig), 0;
        return set(c, TDX_CHECK_OK, "ECDSA-P256-SHA256 by the PCK leaf's key over the QE report"), 0;
}

static void time_text(time_t t, char *out, size_t size) {
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(out, size, "@%lld", (long long) t);
}

static void subject_cn(X509 *x, char *out, size_t size) {
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out, (int) size) < 0)
                snprintf(out, size, "(no CN)");
}

/* The whole subject (RFC 2253, non-ASCII escaped): a test root with Intel's CN shows its O. */
static void subject_text(X509 *x, char *out, size_t size) {
        BIO *b = BIO_new(BIO_s_mem());
        char *p = NULL;
        long len;

        snprintf(out, size, "?");
        if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
            (len = BIO_get_mem_data(b, &p)) >= 0)
                snprintf(out, size, "%.*s", (int) len, p);
        BIO_free(b);
}

/* SHA-256 of the DER of the root the chain ended in. */
static int root_fingerprint(X509 *root, struct tdx_verify_result *ret) {
        uint8_t d[HASH_MAX_SIZE];
        unsigned char *der = NULL;
        int len = i2d_X509(root, &der), r;

        if (len <= 0)
                return -ENOMEM;
        r = hash_buffer(HASH_SHA256, der, (size_t) len, d);
        OPENSSL_free(der);
        if (r < 0)
                return r;
        memcpy(ret->root_sha256, d, sizeof(ret->root_sha256));
        ret->has_root = true;
        return 0;
}

static int check_chain(STACK_OF(X509) *certs, const struct tdx_verify_opts *o, struct tdx_verify_result *ret) {
        struct tdx_check_result *c = &ret->checks[TDX_CHECK_PCK_CHAIN];
        _cleanup_(x509_store_ctx_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        _cleanup_(x509_stack_freep) STACK_OF(X509) *untrusted = sk_X509_new_null();
        time_t at = o->at ? o->at : time(NULL);
        char when[32], leaf[80], root[160];
        STACK_OF(X509) *chain;

        time_text(at, when, sizeof(when));
        for (int i = 1; untrusted && i < sk_X509_num(certs); i++) {
                X509 *x = sk_X509_value(certs, i);
                if (X509_up_ref(x) != 1)
                        return -ENOMEM;
                if (!sk_X509_push(untrusted, x))
                        return X509_free(x), -ENOMEM;
        }
        if (!ctx || !untrusted || X509_STORE_CTX_init(ctx, o->roots, sk_X509_value(certs, 0), untrusted) != 1)
                return -ENOMEM;
        X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), at);
        X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
        if (X509_verify_cert(ctx) != 1) {
                int e = X509_STORE_CTX_get_error(ctx);
                return set(c, TDX_CHECK_FAILED, "certificate at depth %d: %s (at %s)", X509_STORE_CTX_get_error_depth(ctx),
                           X509_verify_cert_error_string(e), when), 0;
        }
        chain = X509_STORE_CTX_get0_chain(ctx);
        if (sk_X509_num(chain) != PCK_CHAIN_DEPTH)
                return set(c, TDX_CHECK_FAILED, "the chain to the trusted root has %d certificates, not %d (leaf, "
                           "intermediate, root)", sk_X509_num(chain), PCK_CHAIN_DEPTH), 0;
        if (root_fingerprint(sk_X509_value(chain, PCK_CHAIN_DEPTH - 1), ret) < 0)
                return -ENOMEM;
        subject_cn(sk_X509_value(chain, 0), leaf, sizeof(leaf));
        subject_text(sk_X509_value(chain, PCK_CHAIN_DEPTH - 1), root, sizeof(root));
        return set(c, TDX_CHECK_OK, "\"%s\" -> intermediate -> trusted root %s, valid at %s", leaf, root, when), 0;
}

/* The checks that need the PCK chain; if it is unusable, both fail with the reason. */
static int check_pck(const struct tdx_quote *q, const struct tdx_verify_opts *o, struct tdx_verify_result *ret) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        errbuf err = {};
        int r;

        r = tdx_pck_chain_certs(q, &certs, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                set(&ret->checks[TDX_CHECK_QE_REPORT_SIGNATURE], TDX_CHECK_FAILED, "no PCK leaf key: %s", err.msg);
                set(&ret->checks[TDX_CHECK_PCK_CHAIN], TDX_CHECK_FAILED, "%s", err.msg);
                return 0;
        }
        r = check_qe_signature(q, sk_X509_value(certs, 0), &ret->checks[TDX_CHECK_QE_REPORT_SIGNATURE]);
        if (r >= 0)
                r = check_chain(certs, o, ret);
        return r;
}

static void check_report_data(const struct tdx_quote *q, const uint8_t *expected, struct tdx_check_result *c) {
        if (!expected)
                set(c, TDX_CHECK_SKIPPED, "no expected value given");
        else if (memcmp(q->body.report_data, expected, TDX_REPORT_DATA_SIZE) != 0)
                set(c, TDX_CHECK_FAILED, "the quote's report_data differs from the expected value");
        else
                set(c, TDX_CHECK_OK, "equals the expected value");
}

int tdx_quote_verify(const struct tdx_quote *q, const struct tdx_verify_opts *o, struct tdx_verify_result *ret) {
        struct tdx_verify_result res = {};
        int r;

        if (!o || !o->roots)
                return -EINVAL;
        r = check_quote_signature(q, &res.checks[TDX_CHECK_QUOTE_SIGNATURE]);
        if (r >= 0)
                r = check_binding(q, &res.checks[TDX_CHECK_QE_REPORT_BINDING]);
        if (r >= 0)
                r = check_pck(q, o, &res);
        if (r < 0)
                return r;
        check_report_data(q, o->report_data, &res.checks[TDX_CHECK_REPORT_DATA]);
        /* OK means every check passed; only report-data may be skipped. */
        res.ok = true;
        for (unsigned i = 0; i < _TDX_CHECK_MAX; i++)
                if (res.checks[i].state != TDX_CHECK_OK &&
                    !(i == TDX_CHECK_REPORT_DATA && res.checks[i].state == TDX_CHECK_SKIPPED))
                        res.ok = false;
        *ret = res;
        return 0;
}
