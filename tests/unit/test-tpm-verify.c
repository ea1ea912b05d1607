/* SPDX-License-Identifier: MIT */
/* TPM evidence verification (tpm-verify.h): a quote and event log made by swtpm, tpm2-tools and a
 * Python renderer (tests/fixtures/broker/make-fixtures.sh) verifies, with the AK fingerprint that
 * openssl computed and the PCR 14 that tpm2_pcrread read; then every single-byte change of the
 * signed message or the signature is rejected, and each rule is broken alone with quotes made in
 * software (softquote.h) that are otherwise correct. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "softquote.h"
#include "tpm-verify.h"

struct fixture {
        struct kbs_attest_request req;
        uint8_t report_data[KBS_REPORT_DATA_SIZE];
        uint8_t *ak, *msg, *sig, *log;
        size_t ak_len, msg_len, sig_len, log_len;
        struct tpm_quote q;
};

static struct softquote sq;

static char *read_fixture(const char *name, size_t *n) {
        const char *dir = getenv("FIXTURES") ?: "tests/fixtures";
        char path[4096];
        uint8_t *p = NULL;
        size_t len;

        snprintf(path, sizeof(path), "%s/broker/%s", dir, name);
        assert_int_equal(read_file_limited(path, 1U << 20, &p, &len), 0);
        if (n)
                *n = len;
        return (char *) p;
}

static void b64_member(const json_t *o, const char *name, uint8_t **p, size_t *n) {
        const char *s = json_string_value(json_object_get(o, name));
        assert_non_null(s);
        assert_int_equal(base64_decode(s, strlen(s), BASE64_STD, 1U << 20, p, n), 0);
}

static void fixture_load(struct fixture *f) {
        _cleanup_free_ char *body = NULL, *nonce = NULL;
        const json_t *ev, *quote, *pcrs;
        errbuf err = {};
        size_t n;

        body = read_fixture("tpm-attest.json", &n);
        nonce = read_fixture("tpm-attest.nonce", NULL);
        nonce[strcspn(nonce, "\n")] = 0;
        if (kbs_proto_attest_parse(body, n, &f->req, &err) < 0)
                fail_msg("fixture does not parse: %s", err.msg);
        assert_string_equal(f->req.nonce, nonce);
        assert_int_equal(kbs_proto_report_data(nonce, f->req.tee_pubkey, f->report_data), 0);
        ev = f->req.primary_evidence;
        quote = json_object_get(ev, "tpm_quote");
        b64_member(ev, "ak_public", &f->ak, &f->ak_len);
        b64_member(quote, "message", &f->msg, &f->msg_len);
        b64_member(quote, "signature", &f->sig, &f->sig_len);
        b64_member(ev, "eventlog", &f->log, &f->log_len);
        pcrs = json_object_get(quote, "pcrs");
        for (unsigned i = 0; i < 24; i++)
                assert_int_equal(unhex(json_string_value(json_array_get(pcrs, i)), 64, f->q.pcrs[i], 32), 32);
        f->q.ak_der = f->ak, f->q.ak_der_len = f->ak_len;
        f->q.message = f->msg, f->q.message_len = f->msg_len;
        f->q.signature = f->sig, f->q.signature_len = f->sig_len;
}

static void fixture_done(struct fixture *f) {
        kbs_attest_request_done(&f->req);
        free(f->ak), free(f->msg), free(f->sig), free(f->log);
}

static void assert_hex_file(const char *name, const uint8_t *value) {
        _cleanup_free_ char *want = read_fixture(name, NULL);
        char hex[65];

        hex_encode(value, 32, hex);
        want[strcspn(want, "\n")] = 0;
        assert_string_equal(hex, want);
}

static void test_swtpm_evidence_verifies(void **state) {
        struct fixture f = {};
        struct claims c = {};
        errbuf err = {};
        json_t *e;

        (void) state;
        fixture_load(&f);
        if (tpm_evidence_verify(f.req.primary_evidence, f.report_data, &c, &err) < 0)
                fail_msg("fixture evidence rejected: %s", err.msg);
        assert_int_equal(c.tee, KBS_TEE_TPM);
        assert_true(c.has_ak);
        assert_hex_file("tpm-ak.sha256", c.ak_sha256);
        assert_int_equal(c.n_registers, 24);
        assert_string_equal(c.registers[14].mr, "pcr14");
        assert_hex_file("tpm-pcr14.sha256", c.registers[14].value);
        assert_string_equal(c.log_mr, "pcr14");
        assert_int_equal(json_array_size(c.events), 2);
        e = json_array_get(c.events, 1);
        assert_string_equal(json_string_value(json_object_get(e, "domain")), "cvminit");
        assert_string_equal(json_string_value(json_object_get(e, "operation")), "model");
        assert_string_equal(json_string_value(json_object_get(json_object_get(e, "content"), "name")), "tiny");
        claims_done(&c);
        fixture_done(&f);
}

/* Every byte of the signed message and of the signature, changed alone, is rejected. */
static void test_every_byte_tampered(void **state) {
        struct fixture f = {};
        unsigned rejected = 0;

        (void) state;
        fixture_load(&f);
        assert_int_equal(tpm_quote_verify(&f.q, f.report_data, 32, NULL), 0);
        for (int which = 0; which < 2; which++) {
                uint8_t *p = which ? f.sig : f.msg;
                size_t n = which ? f.sig_len : f.msg_len;
                for (size_t i = 0; i < n; i++)
                        for (unsigned bit = 0; bit < 8; bit += 7) {
                                errbuf err = {};
                                p[i] ^= (uint8_t) (1U << bit);
                                int r = tpm_quote_verify(&f.q, f.report_data, 32, &err);
                                p[i] ^= (uint8_t) (1U << bit);
                                if (r != -EPERM && r != -EBADMSG)
                                        fail_msg("%s byte %zu bit %u: accepted (%d)", which ? "signature" : "message", i,
                                                 bit, r);
                                rejected++;
                        }
        }
        assert_int_equal(rejected, 2 * (f.msg_len + f.sig_len));
        assert_int_equal(tpm_quote_verify(&f.q, f.report_data, 32, NULL), 0);
        fixture_done(&f);
}

static void expect_fail(const struct tpm_quote *q, const uint8_t *qual, int want, const char *words) {
        errbuf err = {};
        int r = tpm_quote_verify(q, qual, 32, &err);
        if (r != want || !strstr(err.msg, words))
                fail_msg("expected %d with \"%s\", got %d: %s", want, words, r, err.msg);
}

static void test_binding_and_pcrs(void **state) {
        struct fixture f = {};
        uint8_t other[KBS_REPORT_DATA_SIZE];

        (void) state;
        fixture_load(&f);
        memcpy(other, f.report_data, sizeof(other));
        other[31] ^= 1;
        expect_fail(&f.q, other, -EPERM, "qualifying data");
        /* Only the first 32 bytes of report_data are the qualifying data. */
        other[31] ^= 1, other[40] ^= 1;
        assert_int_equal(tpm_quote_verify(&f.q, other, 32, NULL), 0);
        f.q.pcrs[23][5] ^= 0x10;
        expect_fail(&f.q, f.report_data, -EPERM, "PCR digest");
        f.q.pcrs[23][5] ^= 0x10;
        /* Another AK: the signature does not verify. */
        f.q.ak_der = sq.ak_der, f.q.ak_der_len = sq.ak_der_len;
        expect_fail(&f.q, f.report_data, -EPERM, "signature");
        fixture_done(&f);
}

static void test_ak_shapes(void **state) {
        struct fixture f = {};
        uint8_t fp[32], *longer;
        EVP_PKEY *ec = EVP_EC_gen("P-256");
        unsigned char *der = NULL;
        int n;

        (void) state;
        fixture_load(&f);
        assert_int_equal(tpm_ak_fingerprint(f.ak, f.ak_len, fp), 0);
        longer = malloc(f.ak_len + 1);
        memcpy(longer, f.ak, f.ak_len);
        longer[f.ak_len] = 0;
        assert_int_equal(tpm_ak_fingerprint(longer, f.ak_len + 1, fp), -EBADMSG); /* trailing byte */
        assert_int_equal(tpm_ak_fingerprint(f.ak, f.ak_len - 1, fp), -EBADMSG);
        free(longer);
        n = i2d_PUBKEY(ec, &der);
        assert_true(n > 0);
        assert_int_equal(tpm_ak_fingerprint(der, (size_t) n, fp), -EBADMSG); /* not RSA */
        OPENSSL_free(der);
        EVP_PKEY_free(ec);
        fixture_done(&f);
}

/* DER TLV with the length in short form, or (long) always with two length bytes. */
static void tlv(struct buf *out, uint8_t tag, const void *p, size_t n, bool long_form) {
        uint8_t h[4] = { tag };
        size_t k = 2;

        if (!long_form && n < 0x80)
                h[1] = (uint8_t) n;
        else if (!long_form && n < 0x100)
                h[1] = 0x81, h[2] = (uint8_t) n, k = 3;
        else
                h[1] = 0x82, h[2] = (uint8_t) (n >> 8), h[3] = (uint8_t) n, k = 4;
        assert_int_equal(buf_append(out, h, k), 0);
        assert_int_equal(buf_append(out, p, n), 0);
}

enum spki_defect { SPKI_OK, SPKI_LONG_LENGTH, SPKI_E_LEADING_ZERO, SPKI_NO_NULL, SPKI_UNUSED_BITS, SPKI_N_NEGATIVE };

/* An RSA SubjectPublicKeyInfo for modulus m (256 bytes, top bit set) and e = 65537, with one defect. */
static void build_spki(const uint8_t *m, enum spki_defect defect, struct buf *out) {
        static const uint8_t alg_null[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 };
        uint8_t nbytes[257] = { 0 }, e[] = { 0x00, 0x01, 0x00, 0x01 };
        struct buf ints = {}, key = {}, bits = {}, alg = {}, spki = {};

        memcpy(nbytes + 1, m, 256);
        tlv(&ints, 0x02, defect == SPKI_N_NEGATIVE ? nbytes + 1 : nbytes, defect == SPKI_N_NEGATIVE ? 256 : 257, false);
        tlv(&ints, 0x02, defect == SPKI_E_LEADING_ZERO ? e : e + 1, defect == SPKI_E_LEADING_ZERO ? 4 : 3, false);
        tlv(&key, 0x30, ints.data, ints.len, false);
        assert_int_equal(buf_append(&bits, defect == SPKI_UNUSED_BITS ? "\1" : "\0", 1), 0);
        assert_int_equal(buf_append(&bits, key.data, key.len), 0);
        tlv(&alg, 0x30, alg_null, defect == SPKI_NO_NULL ? sizeof(alg_null) - 2 : sizeof(alg_null),
            defect == SPKI_LONG_LENGTH);
        struct buf body = {};
        assert_int_equal(buf_append(&body, alg.data, alg.len), 0);
        tlv(&body, 0x03, bits.data, bits.len, false);
        tlv(&spki, 0x30, body.data, body.len, false);
        *out = spki;
        buf_free(&ints), buf_free(&key), buf_free(&bits), buf_free(&alg), buf_free(&body);
}

/* Only the one DER encoding of an RSA key is accepted, so a fingerprint names one key. */
static void test_ak_der_strict(void **state) {
        struct fixture f = {};
        uint8_t fp[32];

        (void) state;
        fixture_load(&f);
        /* The fixture (tpm2_readpublic's DER): modulus at offset 33, 256 bytes. */
        assert_int_equal(f.ak_len, 294);
        for (int d = SPKI_OK; d <= SPKI_N_NEGATIVE; d++) {
                struct buf b = {};
                build_spki(f.ak + 33, d, &b);
                if (d == SPKI_OK) {
                        assert_int_equal(b.len, f.ak_len);
                        assert_memory_equal(b.data, f.ak, f.ak_len); /* our encoder agrees with tpm2-tools */
                        assert_int_equal(tpm_ak_fingerprint((uint8_t *) b.data, b.len, fp), 0);
                } else if (tpm_ak_fingerprint((uint8_t *) b.data, b.len, fp) != -EBADMSG)
                        fail_msg("defect %d accepted", d);
                buf_free(&b);
        }
        fixture_done(&f);
}

/* Each rule broken alone, in a quote that is otherwise correct and correctly signed. */
static void test_rules_one_by_one(void **state) {
        static const struct {
                struct softquote_params p;
                int want;
                const char *words;
        } cases[] = {
                { { .magic = 0xff544348 }, -EBADMSG, "magic" },
                { { .type = TPM2_ST_ATTEST_CERTIFY }, -EBADMSG, "not a quote" },
                { { .bank = TPM2_ALG_SHA1 }, -EPERM, "select" },
                { { .select = { 0xff, 0xff, 0x7f } }, -EPERM, "select" },
                { { .select = { 0xff, 0xff, 0xff, 0x01 }, .sizeof_select = 4 }, -EPERM, "select" },
                { { .count = 2 }, -EPERM, "select" },
                { { .bad_digest = true }, -EPERM, "PCR digest" },
                { { .select = { 0xff, 0xff, 0xff, 0x00 }, .sizeof_select = 4 }, 0, "" },
        };
        uint8_t pcrs[24][32], q[32], msg[1024], sig[1024];
        size_t msg_len, sig_len;

        (void) state;
        memset(pcrs, 0x11, sizeof(pcrs));
        memset(q, 0x22, sizeof(q));
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                struct tpm_quote t = { .ak_der = sq.ak_der, .ak_der_len = sq.ak_der_len };
                errbuf err = {};
                softquote_make(&sq, q, (const uint8_t (*)[32]) pcrs, &cases[i].p, msg, &msg_len, sig, &sig_len);
                memcpy(t.pcrs, pcrs, sizeof(pcrs));
                t.message = msg, t.message_len = msg_len, t.signature = sig, t.signature_len = sig_len;
                int r = tpm_quote_verify(&t, q, 32, &err);
                if (r != cases[i].want || !strstr(err.msg, cases[i].words))
                        fail_msg("case %zu: expected %d \"%s\", got %d: %s", i, cases[i].want, cases[i].words, r,
                                 err.msg);
        }
}

static void test_eventlog(void **state) {
        struct fixture f = {};
        struct claims c = {};
        errbuf err = {};
        uint8_t *p;

        (void) state;
        fixture_load(&f);
        assert_int_equal(tpm_eventlog_verify(f.log, f.log_len, f.q.pcrs, &c, &err), 0);
        /* The text of an event changed: its digests no longer match it. */
        p = memmem(f.log, f.log_len, "tiny", 4);
        assert_non_null(p);
        p[0] = 'T';
        assert_int_equal(tpm_eventlog_verify(f.log, f.log_len, f.q.pcrs, &c, &err), -EPERM);
        assert_non_null(strstr(err.msg, "digests"));
        p[0] = 't';
        /* The log is right but the PCR is not what it replays to. */
        f.q.pcrs[14][0] ^= 1;
        assert_int_equal(tpm_eventlog_verify(f.log, f.log_len, f.q.pcrs, &c, &err), -EPERM);
        assert_non_null(strstr(err.msg, "does not replay"));
        f.q.pcrs[14][0] ^= 1;
        /* Cut after the first event: a prefix replays to another value. */
        assert_int_equal(tpm_eventlog_verify(f.log, f.log_len - 8 - 200, f.q.pcrs, &c, &err) < 0, 1);
        assert_int_equal(tpm_eventlog_verify((const uint8_t *) "garbage", 7, f.q.pcrs, &c, &err), -EBADMSG);
        claims_done(&c);
        fixture_done(&f);
}

static void test_evidence_shape(void **state) {
        uint8_t rd[KBS_REPORT_DATA_SIZE] = {}, pcrs[24][32];
        static const char *const events[] = { "config", "{\"sha384\":\"00\",\"source\":\"x\"}", NULL };
        json_t *e = softquote_evidence(&sq, rd, events, pcrs);
        struct claims c = {};
        errbuf err = {};

        (void) state;
        assert_int_equal(tpm_evidence_verify(e, rd, &c, &err), 0);
        claims_done(&c);
        json_object_set_new(e, "extra", json_true());
        assert_int_equal(tpm_evidence_verify(e, rd, &c, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "unknown member"));
        json_object_del(e, "extra");
        json_object_set_new(e, "ak_public", json_string("not base64!"));
        assert_int_equal(tpm_evidence_verify(e, rd, &c, &err), -EBADMSG);
        json_array_remove(json_object_get(json_object_get(e, "tpm_quote"), "pcrs"), 23);
        json_object_set_new(e, "ak_public", json_string("AAAA"));
        assert_int_equal(tpm_evidence_verify(e, rd, &c, &err), -EBADMSG);
        json_decref(e);
}

static int setup(void **state) {
        (void) state;
        softquote_init(&sq);
        return 0;
}

static int teardown(void **state) {
        (void) state;
        softquote_done(&sq);
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_swtpm_evidence_verifies),
                cmocka_unit_test(test_every_byte_tampered),
                cmocka_unit_test(test_binding_and_pcrs),
                cmocka_unit_test(test_ak_shapes),
                cmocka_unit_test(test_ak_der_strict),
                cmocka_unit_test(test_rules_one_by_one),
                cmocka_unit_test(test_eventlog),
                cmocka_unit_test(test_evidence_shape),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
