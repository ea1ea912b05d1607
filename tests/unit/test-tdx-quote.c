/* SPDX-License-Identifier: MIT */
/* TDX quotes (measurements/tdx-quote.h) against production data: the three real Intel quotes in
 * tests/fixtures parse to the values their provenance documents (tests/fixtures/README.md,
 * ../shared/testdata/README.md: MRTD, RTMR0, REPORTDATA prefixes; the GCP quote's RTMR0-2 as its
 * own CCEL replays them, its report_data as the nonce file), and verify to Intel's SGX Root CA at a
 * time inside the PCK leaf's validity. Then every way to break it: a flipped byte anywhere in the
 * signed region, the quote signature, the attestation key, the QE report, its signature or the QE
 * auth data; another root with Intel's name; times outside the leaf's validity; altered PCK chains;
 * malformed lengths, truncation at every byte and oversized input (errors, never a crash). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "hashalg.h"
#include "tcg2.h"
#include "tdx-quote.h"

#define AT_2027 ((time_t) 1798761600) /* 2027-01-01T00:00:00Z: inside every fixture leaf's validity */
#define AT_2022 ((time_t) 1640995200) /* before the SPR leaf (2022-09-20) */
#define AT_2030 ((time_t) 1893456000) /* after the SPR leaf (2029-09-20) */

static const char *const quotes[] = {
        "tdx/tdx_prod_quote_SPR_E4.dat",
        "tdx/quote_v5_sample.dat",
        "ccel/gcp-cos113-cos-113-tdx-quote.dat",
};

static void read_fixture(const char *name, uint8_t **p, size_t *n) {
        const char *dir = getenv("FIXTURES") ?: "tests/fixtures";
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(read_file_limited(path, 1U << 20, p, n), 0);
}

static void x509_store_freep(X509_STORE **s) {
        X509_STORE_free(*s);
}

static X509_STORE *intel_root(void) {
        _cleanup_free_ uint8_t *pem = NULL;
        X509_STORE *s = NULL;
        errbuf err = {};
        size_t n;

        read_fixture("tdx/intel-sgx-root-ca.pem", &pem, &n);
        if (tdx_roots_from_pem(pem, n, &s, &err) < 0)
                fail_msg("roots: %s", err.msg);
        return s;
}

static void parse_ok(const uint8_t *p, size_t n, struct tdx_quote *q) {
        errbuf err = {};

        if (tdx_quote_parse(p, n, TDX_QUOTE_ALLOW_TRAILING, q, &err) < 0)
                fail_msg("parse failed: %s", err.msg);
}

/* Parses (trailing allowed) and verifies; returns the parse result. */
static int verify(const uint8_t *p, size_t n, X509_STORE *roots, time_t at, const uint8_t *rd,
                  struct tdx_verify_result *res) {
        struct tdx_verify_opts o = { .roots = roots, .at = at, .report_data = rd };
        struct tdx_quote q;
        int r = tdx_quote_parse(p, n, TDX_QUOTE_ALLOW_TRAILING, &q, NULL);

        if (r < 0)
                return r;
        assert_int_equal(tdx_quote_verify(&q, &o, res), 0);
        return 0;
}

static void assert_hex(const uint8_t *p, size_t n, const char *prefix, const char *suffix) {
        _cleanup_free_ char *hex = hexmem(p, n);

        assert_non_null(hex);
        if (strncmp(hex, prefix, strlen(prefix)) != 0 || strcmp(hex + strlen(hex) - strlen(suffix), suffix) != 0)
                fail_msg("%s does not match %s...%s", hex, prefix, suffix);
}

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

static void test_root_fixture(void **state) {
        _cleanup_free_ uint8_t *pem = NULL;
        uint8_t *der = NULL, d[HASH_MAX_SIZE];
        BIO *b;
        X509 *x;
        size_t n;
        int len;

        (void) state;
        /* The root is the one the README names (SPKI SHA-256 a0af0312...6c67a49e). */
        read_fixture("tdx/intel-sgx-root-ca.pem", &pem, &n);
        b = BIO_new_mem_buf(pem, (int) n);
        x = PEM_read_bio_X509(b, NULL, NULL, NULL);
        assert_non_null(x);
        len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
        assert_true(len > 0);
        assert_int_equal(hash_buffer(HASH_SHA256, der, (size_t) len, d), 32);
        assert_hex(d, 32, "a0af0312", "6c67a49e");
        OPENSSL_free(der);
        X509_free(x);
        BIO_free(b);
}

static void test_parse_spr_v4(void **state) {
        _cleanup_free_ uint8_t *p = NULL;
        struct tdx_quote q;
        errbuf err = {};
        size_t n;

        (void) state;
        read_fixture(quotes[0], &p, &n);
        parse_ok(p, n, &q);
        assert_int_equal(q.header.version, 4);
        assert_int_equal(q.header.att_key_type, 2);
        assert_int_equal(q.header.tee_type, 0x81);
        assert_int_equal(q.body.body_type, TDX_BODY_TD_REPORT10);
        assert_int_equal(q.signed_len, 48 + 584);
        assert_hex(q.body.mrtd, TDX_MR_SIZE, "6363b804", "7215cbb");
        assert_hex(q.body.rtmr[0], TDX_MR_SIZE, "2927da70", "6593f32a");
        assert_true(all_zero(q.body.rtmr[3], TDX_MR_SIZE));
        assert_hex(q.body.report_data, TDX_REPORT_DATA_SIZE, "6c62dec1", "281f1113");
        assert_true(all_zero(q.body.tee_tcb_svn2, 16) && all_zero(q.body.mrservicetd, TDX_MR_SIZE));
        /* go-tdx-guest appended 39 bytes of text to this quote: refused unless allowed. */
        assert_int_equal(q.trailing, 39);
        assert_false(q.trailing_zero);
        assert_int_equal(q.off.end, n - 39);
        assert_int_equal(tdx_quote_parse(p, n, 0, &q, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "39 bytes follow the signature data at offset 4935"));
        assert_int_equal(tdx_quote_parse(p, n - 39, 0, &q, NULL), 0);
}

static void test_parse_v5(void **state) {
        _cleanup_free_ uint8_t *p = NULL;
        struct tdx_quote q;
        size_t n;

        (void) state;
        read_fixture(quotes[1], &p, &n);
        assert_int_equal(tdx_quote_parse(p, n, 0, &q, NULL), 0);
        assert_int_equal(q.header.version, 5);
        assert_int_equal(q.body.body_type, TDX_BODY_TD_REPORT15);
        assert_int_equal(q.body.body_size, 648);
        assert_int_equal(q.signed_len, 48 + 6 + 648);
        assert_int_equal(q.off.body, 54);
        assert_int_equal(q.trailing, 0);
        /* TDX 1.5 fields exist; the PCK chain is Intel's three certificates. */
        assert_false(all_zero(q.body.tee_tcb_svn2, 16));
        assert_int_equal(q.qe_auth_len, 32);
        assert_int_equal(q.off.end, n);
}

/* No real v5 quote with a TD report 1.0 body is at hand: the GCP v4 quote rewritten as one parses
 * to the same fields, and only its signature fails (the signed header and descriptor changed). */
static void test_parse_v5_td10(void **state) {
        _cleanup_(x509_store_freep) X509_STORE *roots = intel_root();
        _cleanup_free_ uint8_t *p = NULL, *v5 = NULL;
        static const uint8_t descriptor[6] = { 2, 0, 0x48, 0x02, 0, 0 }; /* type 2, size 584 */
        struct tdx_verify_result res;
        struct tdx_quote q4, q5;
        size_t n;

        (void) state;
        read_fixture(quotes[2], &p, &n);
        parse_ok(p, n, &q4);
        n = q4.off.end;
        v5 = malloc(n + 6);
        assert_non_null(v5);
        memcpy(v5, p, 48);
        v5[0] = 5;
        memcpy(v5 + 48, descriptor, 6);
        memcpy(v5 + 54, p + 48, n - 48);
        assert_int_equal(tdx_quote_parse(v5, n + 6, 0, &q5, NULL), 0);
        assert_int_equal(q5.header.version, 5);
        assert_int_equal(q5.body.body_type, TDX_BODY_TD_REPORT10);
        assert_int_equal(q5.signed_len, 48 + 6 + 584);
        q4.body.body_size = q5.body.body_size;
        assert_memory_equal(&q4.body, &q5.body, sizeof(q4.body));
        assert_memory_equal(q4.att_key, q5.att_key, TDX_ECDSA_KEY_SIZE);
        assert_int_equal(q4.pck_chain_len, q5.pck_chain_len);
        assert_int_equal(verify(v5, n + 6, roots, AT_2027, NULL, &res), 0);
        assert_false(res.ok);
        assert_int_equal(res.checks[TDX_CHECK_QUOTE_SIGNATURE].state, TDX_CHECK_FAILED);
        assert_int_equal(res.checks[TDX_CHECK_QE_REPORT_SIGNATURE].state, TDX_CHECK_OK);
        assert_int_equal(res.checks[TDX_CHECK_PCK_CHAIN].state, TDX_CHECK_OK);
}

static void test_parse_gcp_matches_ccel(void **state) {
        _cleanup_free_ uint8_t *p = NULL, *log_raw = NULL, *nonce = NULL;
        struct tcg2_log log = {};
        uint8_t v[HASH_MAX_SIZE];
        struct tdx_quote q;
        size_t n, ln, nn;

        (void) state;
        read_fixture(quotes[2], &p, &n);
        read_fixture("ccel/gcp-cos113-ccel_data.dat", &log_raw, &ln);
        read_fixture("ccel/gcp-cos113-nonce.dat", &nonce, &nn);
        /* An 8000-byte buffer with the quote and zero padding: accepted without flags. */
        assert_int_equal(tdx_quote_parse(p, n, 0, &q, NULL), 0);
        assert_int_equal(q.header.version, 4);
        assert_true(q.trailing_zero);
        assert_int_equal(q.trailing, n - q.off.end);
        assert_true(q.trailing > 0);
        /* RTMR0-2 as the firmware log of the same boot replays them; RTMR3 zero. */
        assert_int_equal(tcg2_parse(log_raw, ln, &log, NULL), 0);
        for (unsigned i = 0; i < 3; i++) {
                assert_true(tcg2_replay(&log, i + 1, HASH_SHA384, v, NULL) > 0);
                assert_memory_equal(q.body.rtmr[i], v, TDX_MR_SIZE);
        }
        assert_hex(q.body.rtmr[0], TDX_MR_SIZE, "3fa2f61f", "2afd17f6");
        assert_hex(q.body.rtmr[1], TDX_MR_SIZE, "f62dbc07", "c2b122c1");
        assert_hex(q.body.rtmr[2], TDX_MR_SIZE, "4969684d", "a6fbe7c1");
        assert_true(all_zero(q.body.rtmr[3], TDX_MR_SIZE));
        assert_int_equal(nn, TDX_REPORT_DATA_SIZE);
        assert_memory_equal(q.body.report_data, nonce, TDX_REPORT_DATA_SIZE);
        tcg2_log_done(&log);
}

static void assert_checks(const struct tdx_verify_result *res, const enum tdx_check_state want[_TDX_CHECK_MAX]) {
        for (unsigned i = 0; i < _TDX_CHECK_MAX; i++)
                if (res->checks[i].state != want[i])
                        fail_msg("check %s: state %d, expected %d (%s)", tdx_check_name(i), res->checks[i].state, want[i],
                                 res->checks[i].reason);
}

static void test_verify_ok(void **state) {
        _cleanup_(x509_store_freep) X509_STORE *roots = intel_root();
        static const enum tdx_check_state want[] = { TDX_CHECK_OK, TDX_CHECK_OK, TDX_CHECK_OK, TDX_CHECK_OK,
                                                     TDX_CHECK_SKIPPED };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(quotes); i++) {
                _cleanup_free_ uint8_t *p = NULL;
                struct tdx_verify_result res;
                size_t n;

                read_fixture(quotes[i], &p, &n);
                assert_int_equal(verify(p, n, roots, AT_2027, NULL, &res), 0);
                assert_checks(&res, want);
                assert_true(res.ok);
                assert_non_null(strstr(res.checks[TDX_CHECK_PCK_CHAIN].reason, "2027-01-01T00:00:00Z"));
        }
}

static void test_verify_report_data(void **state) {
        _cleanup_(x509_store_freep) X509_STORE *roots = intel_root();
        _cleanup_free_ uint8_t *p = NULL, *nonce = NULL;
        struct tdx_verify_result res;
        size_t n, nn;

        (void) state;
        read_fixture(quotes[2], &p, &n);
        read_fixture("ccel/gcp-cos113-nonce.dat", &nonce, &nn);
        assert_int_equal(verify(p, n, roots, AT_2027, nonce, &res), 0);
        assert_true(res.ok);
        assert_int_equal(res.checks[TDX_CHECK_REPORT_DATA].state, TDX_CHECK_OK);
        nonce[63] ^= 1;
        assert_int_equal(verify(p, n, roots, AT_2027, nonce, &res), 0);
        assert_false(res.ok);
        assert_int_equal(res.checks[TDX_CHECK_REPORT_DATA].state, TDX_CHECK_FAILED);
        assert_int_equal(res.checks[TDX_CHECK_QUOTE_SIGNATURE].state, TDX_CHECK_OK);
}

/* Flips each byte of [from, to) (every stride-th) and checks the result with check(). */
static void flip_range(const char *name, size_t (*from)(const struct tdx_quote *), size_t (*to)(const struct tdx_quote *),
                       size_t stride, void (*check)(int r, const struct tdx_verify_result *, size_t at)) {
        _cleanup_(x509_store_freep) X509_STORE *roots = intel_root();
        _cleanup_free_ uint8_t *p = NULL;
        struct tdx_quote q;
        size_t n, checked = 0;

        read_fixture(name, &p, &n);
        parse_ok(p, n, &q);
        for (size_t i = from(&q); i < to(&q); i += stride) {
                struct tdx_verify_result res = {};
                int r;
                p[i] ^= 0x01;
                r = verify(p, n, roots, AT_2027, NULL, &res);
                check(r, &res, i);
                p[i] ^= 0x01;
                checked++;
        }
        assert_true(checked > 0);
}

static size_t at_start(const struct tdx_quote *q) {
        (void) q;
        return 0;
}
static size_t at_signed_end(const struct tdx_quote *q) {
        return q->signed_len;
}
static size_t at_signature(const struct tdx_quote *q) {
        return q->off.signature;
}
static size_t at_att_key(const struct tdx_quote *q) {
        return q->off.att_key;
}
static size_t at_cert(const struct tdx_quote *q) {
        return q->off.cert;
}
static size_t at_qe_report(const struct tdx_quote *q) {
        return q->off.qe_report;
}
static size_t at_qe_report_sig(const struct tdx_quote *q) {
        return q->off.qe_report_sig;
}
static size_t at_qe_auth(const struct tdx_quote *q) {
        return q->off.qe_auth;
}
static size_t at_qe_auth_data(const struct tdx_quote *q) {
        return q->off.qe_auth + 2;
}
static size_t at_pck_cert(const struct tdx_quote *q) {
        return q->off.pck_cert;
}

static void failed(const struct tdx_verify_result *res, enum tdx_check c, size_t at) {
        if (res->ok || res->checks[c].state != TDX_CHECK_FAILED)
                fail_msg("byte %zu flipped: %s did not fail", at, tdx_check_name(c));
}

/* A flip in the header may make the quote unparsable (version, types, v5 body size): also a refusal. */
static void check_signed(int r, const struct tdx_verify_result *res, size_t at) {
        if (r < 0)
                return;
        failed(res, TDX_CHECK_QUOTE_SIGNATURE, at);
        assert_int_equal(res->checks[TDX_CHECK_PCK_CHAIN].state, TDX_CHECK_OK);
}

static void check_quote_sig(int r, const struct tdx_verify_result *res, size_t at) {
        assert_int_equal(r, 0);
        failed(res, TDX_CHECK_QUOTE_SIGNATURE, at);
}

static void check_att_key(int r, const struct tdx_verify_result *res, size_t at) {
        assert_int_equal(r, 0);
        failed(res, TDX_CHECK_QUOTE_SIGNATURE, at);
        failed(res, TDX_CHECK_QE_REPORT_BINDING, at);
}

static void check_qe_report(int r, const struct tdx_verify_result *res, size_t at) {
        assert_int_equal(r, 0);
        failed(res, TDX_CHECK_QE_REPORT_SIGNATURE, at);
}

static void check_qe_auth(int r, const struct tdx_verify_result *res, size_t at) {
        assert_int_equal(r, 0);
        failed(res, TDX_CHECK_QE_REPORT_BINDING, at);
}

static void test_flip_signed_region(void **state) {
        (void) state;
        /* Every byte of header and body of the v4 and v5 quotes; every 5th of the third. */
        flip_range(quotes[0], at_start, at_signed_end, 1, check_signed);
        flip_range(quotes[1], at_start, at_signed_end, 1, check_signed);
        flip_range(quotes[2], at_start, at_signed_end, 5, check_signed);
}

static void test_flip_signature_parts(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(quotes); i++) {
                flip_range(quotes[i], at_signature, at_att_key, 1, check_quote_sig);
                flip_range(quotes[i], at_att_key, at_cert, 1, check_att_key);
                flip_range(quotes[i], at_qe_report, at_qe_report_sig, i == 0 ? 1 : 7, check_qe_report);
                flip_range(quotes[i], at_qe_report_sig, at_qe_auth, 1, check_qe_report);
                flip_range(quotes[i], at_qe_auth_data, at_pck_cert, 1, check_qe_auth);
        }
}

/* A self-signed P-256 root with exactly Intel's root name: the name matches, the key does not. */
static X509_STORE *impostor_root(void) {
        _cleanup_free_ uint8_t *pem = NULL;
        X509_STORE *store = X509_STORE_new();
        EVP_PKEY *k = EVP_EC_gen("P-256");
        X509 *x = X509_new(), *intel;
        BIO *b;
        size_t n;

        read_fixture("tdx/intel-sgx-root-ca.pem", &pem, &n);
        b = BIO_new_mem_buf(pem, (int) n);
        intel = PEM_read_bio_X509(b, NULL, NULL, NULL);
        assert_true(store && k && x && intel);
        assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
        assert_int_equal(X509_set_subject_name(x, X509_get_subject_name(intel)), 1);
        assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(intel)), 1);
        assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), -3650, 0, NULL));
        assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 36500, 0, NULL));
        assert_int_equal(X509_set_pubkey(x, k), 1);
        assert_true(X509_sign(x, k, EVP_sha256()) > 0);
        assert_int_equal(X509_STORE_add_cert(store, x), 1);
        X509_free(intel);
        X509_free(x);
        EVP_PKEY_free(k);
        BIO_free(b);
        return store;
}

static void test_other_root(void **state) {
        _cleanup_(x509_store_freep) X509_STORE *roots = impostor_root();
        static const enum tdx_check_state want[] = { TDX_CHECK_OK, TDX_CHECK_OK, TDX_CHECK_OK, TDX_CHECK_FAILED,
                                                     TDX_CHECK_SKIPPED };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(quotes); i++) {
                _cleanup_free_ uint8_t *p = NULL;
                struct tdx_verify_result res;
                size_t n;

                read_fixture(quotes[i], &p, &n);
                assert_int_equal(verify(p, n, roots, AT_2027, NULL, &res), 0);
                assert_checks(&res, want);
                assert_false(res.ok);
        }
}

static void test_time_outside_validity(void **state) {
        _cleanup_(x509_store_freep) X509_STORE *roots = intel_root();
        _cleanup_free_ uint8_t *p = NULL;
        struct tdx_verify_result res;
        size_t n;

        (void) state;
        read_fixture(quotes[0], &p, &n);
        assert_int_equal(verify(p, n, roots, AT_2022, NULL, &res), 0);
        assert_false(res.ok);
        assert_int_equal(res.checks[TDX_CHECK_PCK_CHAIN].state, TDX_CHECK_FAILED);
        assert_non_null(strstr(res.checks[TDX_CHECK_PCK_CHAIN].reason, "not yet valid"));
        assert_int_equal(verify(p, n, roots, AT_2030, NULL, &res), 0);
        assert_false(res.ok);
        assert_non_null(strstr(res.checks[TDX_CHECK_PCK_CHAIN].reason, "expired"));
        assert_int_equal(res.checks[TDX_CHECK_QUOTE_SIGNATURE].state, TDX_CHECK_OK);
}

static void put_u32(uint8_t *p, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

/* The quote (without trailing bytes) with its PCK chain replaced and the three lengths fixed. */
static uint8_t *with_chain(const struct tdx_quote *q, const char *chain, size_t len, size_t *ret_len) {
        size_t head = q->off.pck_chain, n = head + len;
        uint8_t *p = malloc(n);

        assert_non_null(p);
        memcpy(p, q->raw, head);
        memcpy(p + head, chain, len);
        put_u32(p + q->off.sig_len, (uint32_t) (n - q->off.signature));
        put_u32(p + q->off.cert + 2, (uint32_t) (n - q->off.qe_report));
        put_u32(p + q->off.pck_chain - 4, (uint32_t) len);
        *ret_len = n;
        return p;
}

/* The PEM text of certificate i (0-based) of the quote's chain. */
static size_t cert_span(const struct tdx_quote *q, unsigned i, const char **ret) {
        const char *s = q->pck_chain, *end = s + q->pck_chain_len, *e;

        for (unsigned k = 0; k <= i; k++) {
                s = memmem(s, (size_t) (end - s), "-----BEGIN", 10);
                assert_non_null(s);
                if (k < i)
                        s++;
        }
        e = memmem(s, (size_t) (end - s), "-----END CERTIFICATE-----", 25);
        assert_non_null(e);
        *ret = s;
        return (size_t) (e + 25 - s);
}

static void chain_case(const struct tdx_quote *q, X509_STORE *roots, const char *chain, size_t len, bool qe_ok,
                       const char *reason) {
        struct tdx_verify_result res;
        _cleanup_free_ uint8_t *p = NULL;
        size_t n;

        p = with_chain(q, chain, len, &n);
        assert_int_equal(verify(p, n, roots, AT_2027, NULL, &res), 0);
        assert_false(res.ok);
        assert_int_equal(res.checks[TDX_CHECK_QUOTE_SIGNATURE].state, TDX_CHECK_OK);
        assert_int_equal(res.checks[TDX_CHECK_QE_REPORT_SIGNATURE].state, qe_ok ? TDX_CHECK_OK : TDX_CHECK_FAILED);
        assert_int_equal(res.checks[TDX_CHECK_PCK_CHAIN].state, TDX_CHECK_FAILED);
        if (!strstr(res.checks[TDX_CHECK_PCK_CHAIN].reason, reason))
                fail_msg("expected \"%s\" in \"%s\"", reason, res.checks[TDX_CHECK_PCK_CHAIN].reason);
}

static void test_altered_chain(void **state) {
        _cleanup_(x509_store_freep) X509_STORE *roots = intel_root();
        _cleanup_free_ uint8_t *p = NULL;
        const char *leaf, *inter, *root;
        size_t n, nl, ni, nr;
        struct tdx_quote q;
        struct buf b = {};

        (void) state;
        read_fixture(quotes[0], &p, &n);
        parse_ok(p, n, &q);
        nl = cert_span(&q, 0, &leaf);
        ni = cert_span(&q, 1, &inter);
        nr = cert_span(&q, 2, &root);
        /* The same chain rebuilt verifies (so the cases below fail for their own reason). */
        {
                struct tdx_verify_result res;
                _cleanup_free_ uint8_t *same = with_chain(&q, q.pck_chain, q.pck_chain_len, &n);
                assert_int_equal(verify(same, n, roots, AT_2027, NULL, &res), 0);
                assert_true(res.ok);
        }
        chain_case(&q, roots, leaf, nl, true, "unable to get local issuer certificate");
        buf_append(&b, leaf, nl), buf_append_str(&b, "\n"), buf_append(&b, root, nr);
        chain_case(&q, roots, b.data, b.len, true, "unable to get local issuer certificate");
        buf_free(&b);
        /* The intermediate first: its key did not sign the QE report. */
        buf_append(&b, inter, ni), buf_append_str(&b, "\n"), buf_append(&b, leaf, nl);
        chain_case(&q, roots, b.data, b.len, false, "has 2 certificates, not 3");
        buf_free(&b);
        /* Text around the certificates, a broken header line, too many certificates. */
        buf_append_str(&b, "junk\n"), buf_append(&b, q.pck_chain, q.pck_chain_len);
        chain_case(&q, roots, b.data, b.len, false, "text other than PEM certificates");
        buf_free(&b);
        buf_append(&b, q.pck_chain, q.pck_chain_len);
        b.data[5] = 'X';
        chain_case(&q, roots, b.data, b.len, false, "text other than PEM certificates");
        buf_free(&b);
        for (int i = 0; i < 5; i++)
                buf_append(&b, leaf, nl), buf_append_str(&b, "\n");
        chain_case(&q, roots, b.data, b.len, false, "more than 4 certificates");
        buf_free(&b);
        /* A byte of the leaf's signature (base64 near its end). */
        buf_append(&b, q.pck_chain, q.pck_chain_len);
        b.data[nl - 40] = b.data[nl - 40] == 'A' ? 'B' : 'A';
        chain_case(&q, roots, b.data, b.len, true, "");
        buf_free(&b);
}

/* Parsing must fail with r and a message containing text. */
static void parse_bad(const uint8_t *p, size_t n, int r, const char *text) {
        struct tdx_quote q;
        errbuf err = {};

        assert_int_equal(tdx_quote_parse(p, n, 0, &q, &err), r);
        if (!strstr(err.msg, text))
                fail_msg("expected \"%s\" in \"%s\"", text, err.msg);
}

static void test_malformed(void **state) {
        _cleanup_free_ uint8_t *v4 = NULL, *v5 = NULL;
        struct tdx_quote q4, q5;
        size_t n4, n5;

        (void) state;
        read_fixture(quotes[2], &v4, &n4);
        read_fixture(quotes[1], &v5, &n5);
        parse_ok(v4, n4, &q4);
        parse_ok(v5, n5, &q5);
        n4 = q4.off.end;
#define MUTATE(buf, n, stmt, r, text)                              \
        do {                                                       \
                _cleanup_free_ uint8_t *m = malloc(n);             \
                assert_non_null(m);                                \
                memcpy(m, buf, n);                                 \
                stmt;                                              \
                parse_bad(m, n, r, text);                          \
        } while (0)
        MUTATE(v4, n4, m[0] = 3, -EOPNOTSUPP, "header.version: 3 is not supported");
        MUTATE(v4, n4, m[2] = 3, -EOPNOTSUPP, "header.att_key_type at offset 2");
        MUTATE(v4, n4, m[4] = 0, -EOPNOTSUPP, "header.tee_type at offset 4: 0x0 is not TDX");
        MUTATE(v5, n5, m[48] = 1, -EOPNOTSUPP, "body_type at offset 48: 1 is not supported");
        MUTATE(v5, n5, m[48] = 2, -EBADMSG, "body_size at offset 50: 648 is wrong for body type 2");
        MUTATE(v4, n4, put_u32(m + q4.off.sig_len, 0xffffffffU), -EBADMSG,
               "signature_data: declared length 4294967295 at offset 636");
        MUTATE(v4, n4, put_u32(m + q4.off.sig_len, 100), -EBADMSG, "attestation_key: 64 bytes needed at offset 700");
        MUTATE(v4, n4, m[q4.off.cert] = 5, -EOPNOTSUPP, "cert_data.type at offset 764: 5 is not supported");
        MUTATE(v4, n4, put_u32(m + q4.off.cert + 2, q4.cert_data_len - 1), -EBADMSG, "pck_cert_data: ");
        MUTATE(v4, n4, put_u32(m + q4.off.cert + 2, q4.cert_data_len + 1), -EBADMSG, "cert_data: declared length");
        MUTATE(v4, n4, (m[q4.off.qe_auth] = 0xff, m[q4.off.qe_auth + 1] = 0x7f), -EBADMSG, "qe_auth_data: 32767 bytes needed");
        MUTATE(v4, n4, m[q4.off.pck_cert] = 6, -EOPNOTSUPP, "pck_cert_data.type at offset");
        MUTATE(v4, n4, put_u32(m + q4.off.pck_chain - 4, 0), -EBADMSG, "pck_cert_data at offset");
        /* Shorter declared chain: the rest of cert_data is left over. */
        MUTATE(v4, n4, put_u32(m + q4.off.pck_chain - 4, q4.pck_chain_len - 1), -EBADMSG,
               "cert_data: 1 unused bytes");
#undef MUTATE
}

static void test_truncated_and_oversized(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(quotes); i++) {
                _cleanup_free_ uint8_t *p = NULL, *big = NULL;
                struct tdx_quote q;
                size_t n, end;

                read_fixture(quotes[i], &p, &n);
                parse_ok(p, n, &q);
                end = q.off.end;
                for (size_t k = 0; k < end; k++) {
                        errbuf err = {};
                        assert_int_equal(tdx_quote_parse(p, k, TDX_QUOTE_ALLOW_TRAILING, &q, &err), -EBADMSG);
                        assert_true(err.msg[0] != 0);
                }
                assert_int_equal(tdx_quote_parse(p, end, 0, &q, NULL), 0);
                /* Zero padding up to the limit is fine; one byte more is refused. */
                big = calloc(1, TDX_QUOTE_MAX + 1);
                assert_non_null(big);
                memcpy(big, p, end);
                assert_int_equal(tdx_quote_parse(big, TDX_QUOTE_MAX, 0, &q, NULL), 0);
                assert_int_equal(q.trailing, TDX_QUOTE_MAX - end);
                parse_bad(big, TDX_QUOTE_MAX + 1, -EFBIG, "exceeds the limit of 65536 bytes");
        }
}

static void test_roots_pem(void **state) {
        static const char *const bad[] = {
                "",
                "hello",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "-----BEGIN CERTIFICATE-----\nAAAA\n",
        };
        X509_STORE *s = NULL;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                errbuf err = {};
                assert_int_equal(tdx_roots_from_pem((const uint8_t *) bad[i], strlen(bad[i]), &s, &err), -EBADMSG);
                assert_true(err.msg[0] != 0);
                assert_null(s);
        }
        assert_int_equal(tdx_check_name(TDX_CHECK_PCK_CHAIN) != NULL, 1);
        assert_null(tdx_check_name(_TDX_CHECK_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_root_fixture),
                cmocka_unit_test(test_parse_spr_v4),
                cmocka_unit_test(test_parse_v5),
                cmocka_unit_test(test_parse_v5_td10),
                cmocka_unit_test(test_parse_gcp_matches_ccel),
                cmocka_unit_test(test_verify_ok),
                cmocka_unit_test(test_verify_report_data),
                cmocka_unit_test(test_flip_signed_region),
                cmocka_unit_test(test_flip_signature_parts),
                cmocka_unit_test(test_other_root),
                cmocka_unit_test(test_time_outside_validity),
                cmocka_unit_test(test_altered_chain),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_truncated_and_oversized),
                cmocka_unit_test(test_roots_pem),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
