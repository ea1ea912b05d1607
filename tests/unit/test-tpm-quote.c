/* SPDX-License-Identifier: MIT */
/* measurements/tpm-quote.c against a fake ESAPI (-Wl,--wrap, see TEST_LDFLAGS_test-tpm-quote): the
 * AK template, the quote's arguments, PCR reads in batches of 8, the retry when a PCR changes
 * between quote and read, error mapping, and that the AK is always flushed. Expected values come
 * from OpenSSL (the AK's DER from a key OpenSSL made, SHA-256 of the PCRs) and from hand-built
 * bytes (the marshalled signature). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "mr-tpm.h"
#include "mr.h"
#include "tpm-quote.h"

#define AK_HANDLE ((ESYS_TR) 0x4242)

static struct {
        TSS2_RC create_rc, quote_rc;
        unsigned n_create, n_quote, n_read, n_flush;
        uint8_t pcrs[24][32];
        unsigned change_after_quote; /* PCR 5 changes after this many quotes' reads begin (0: never) */
        bool short_read, bad_scheme, bad_extra;
        uint8_t modulus[256];
        TPML_PCR_SELECTION reads[16];
        uint8_t qualifying[32];
} fake;

static char fake_tcti_obj, fake_esys_obj;

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx);
void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx);
TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi);
void __wrap_Esys_Finalize(ESYS_CONTEXT **esys);
TSS2_RC __wrap_Esys_GetCapability(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3, TPM2_CAP cap,
                                  UINT32 prop, UINT32 count, TPMI_YES_NO *more, TPMS_CAPABILITY_DATA **data);
TSS2_RC __wrap_Esys_PCR_Read(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3, const TPML_PCR_SELECTION *sel,
                             UINT32 *counter, TPML_PCR_SELECTION **sel_out, TPML_DIGEST **values);
TSS2_RC __wrap_Esys_CreatePrimary(ESYS_CONTEXT *esys, ESYS_TR hierarchy, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                  const TPM2B_SENSITIVE_CREATE *sensitive, const TPM2B_PUBLIC *pub,
                                  const TPM2B_DATA *outside, const TPML_PCR_SELECTION *creation_pcr,
                                  ESYS_TR *handle, TPM2B_PUBLIC **out_pub, TPM2B_CREATION_DATA **creation,
                                  TPM2B_DIGEST **creation_hash, TPMT_TK_CREATION **ticket);
TSS2_RC __wrap_Esys_Quote(ESYS_CONTEXT *esys, ESYS_TR key, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                          const TPM2B_DATA *qualifying, const TPMT_SIG_SCHEME *scheme, const TPML_PCR_SELECTION *sel,
                          TPM2B_ATTEST **quoted, TPMT_SIGNATURE **signature);
TSS2_RC __wrap_Esys_FlushContext(ESYS_CONTEXT *esys, ESYS_TR handle);

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx) {
        (void) conf;
        *ctx = (TSS2_TCTI_CONTEXT *) &fake_tcti_obj;
        return TSS2_RC_SUCCESS;
}

void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx) {
        *ctx = NULL;
}

TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi) {
        (void) tcti;
        (void) abi;
        *esys = (ESYS_CONTEXT *) &fake_esys_obj;
        return TSS2_RC_SUCCESS;
}

void __wrap_Esys_Finalize(ESYS_CONTEXT **esys) {
        *esys = NULL;
}

TSS2_RC __wrap_Esys_GetCapability(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3, TPM2_CAP cap,
                                  UINT32 prop, UINT32 count, TPMI_YES_NO *more, TPMS_CAPABILITY_DATA **data) {
        TPMS_CAPABILITY_DATA *d = calloc(1, sizeof(*d));

        (void) esys, (void) s1, (void) s2, (void) s3, (void) prop, (void) count;
        assert_non_null(d);
        d->capability = cap;
        d->data.assignedPCR.count = 1;
        d->data.assignedPCR.pcrSelections[0] = (TPMS_PCR_SELECTION) {
                .hash = TPM2_ALG_SHA256, .sizeofSelect = 3, .pcrSelect = { 0xff, 0xff, 0xff } };
        *more = TPM2_NO;
        *data = d;
        return TSS2_RC_SUCCESS;
}

static bool selected(const TPMS_PCR_SELECTION *s, unsigned pcr) {
        return pcr / 8 < s->sizeofSelect && (s->pcrSelect[pcr / 8] & (1U << (pcr % 8)));
}

TSS2_RC __wrap_Esys_PCR_Read(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3, const TPML_PCR_SELECTION *sel,
                             UINT32 *counter, TPML_PCR_SELECTION **sel_out, TPML_DIGEST **values) {
        TPML_DIGEST *v = calloc(1, sizeof(*v));

        assert_ptr_equal(esys, &fake_esys_obj);
        assert_int_equal(s1, ESYS_TR_NONE);
        (void) s2, (void) s3;
        assert_non_null(v);
        assert_true(fake.n_read < ELEMENTSOF(fake.reads));
        fake.reads[fake.n_read++] = *sel;
        assert_int_equal(sel->count, 1);
        /* A TPM returns at most 8 values per call. */
        for (unsigned pcr = 0; pcr < 24 && v->count < 8; pcr++)
                if (selected(&sel->pcrSelections[0], pcr)) {
                        v->digests[v->count].size = 32;
                        memcpy(v->digests[v->count++].buffer, fake.pcrs[pcr], 32);
                }
        *counter = fake.n_read;
        *sel_out = calloc(1, sizeof(**sel_out));
        assert_non_null(*sel_out);
        **sel_out = *sel;
        if (fake.short_read) {
                (*sel_out)->pcrSelections[0].pcrSelect[0] &= 0x7f;
                v->count--;
        }
        *values = v;
        return TSS2_RC_SUCCESS;
}

static void check_template(const TPM2B_PUBLIC *pub, const TPM2B_SENSITIVE_CREATE *sensitive) {
        const TPMT_PUBLIC *p = &pub->publicArea;

        assert_int_equal(p->type, TPM2_ALG_RSA);
        assert_int_equal(p->nameAlg, TPM2_ALG_SHA256);
        assert_int_equal(p->objectAttributes, TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                                      TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                                      TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT);
        assert_int_equal(p->authPolicy.size, 0);
        assert_int_equal(p->parameters.rsaDetail.symmetric.algorithm, TPM2_ALG_NULL);
        assert_int_equal(p->parameters.rsaDetail.scheme.scheme, TPM2_ALG_RSASSA);
        assert_int_equal(p->parameters.rsaDetail.scheme.details.rsassa.hashAlg, TPM2_ALG_SHA256);
        assert_int_equal(p->parameters.rsaDetail.keyBits, 2048);
        assert_int_equal(p->parameters.rsaDetail.exponent, 0);
        assert_int_equal(p->unique.rsa.size, 0);
        assert_int_equal(sensitive->sensitive.userAuth.size, 0);
        assert_int_equal(sensitive->sensitive.data.size, 0);
}

TSS2_RC __wrap_Esys_CreatePrimary(ESYS_CONTEXT *esys, ESYS_TR hierarchy, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                  const TPM2B_SENSITIVE_CREATE *sensitive, const TPM2B_PUBLIC *pub,
                                  const TPM2B_DATA *outside, const TPML_PCR_SELECTION *creation_pcr,
                                  ESYS_TR *handle, TPM2B_PUBLIC **out_pub, TPM2B_CREATION_DATA **creation,
                                  TPM2B_DIGEST **creation_hash, TPMT_TK_CREATION **ticket) {
        assert_ptr_equal(esys, &fake_esys_obj);
        assert_int_equal(hierarchy, ESYS_TR_RH_ENDORSEMENT);
        assert_int_equal(s1, ESYS_TR_PASSWORD);
        assert_int_equal(s2, ESYS_TR_NONE);
        assert_int_equal(s3, ESYS_TR_NONE);
        assert_int_equal(outside->size, 0);
        assert_int_equal(creation_pcr->count, 0);
        check_template(pub, sensitive);
        fake.n_create++;
        if (fake.create_rc)
                return fake.create_rc;
        *handle = AK_HANDLE;
        *out_pub = calloc(1, sizeof(**out_pub));
        assert_non_null(*out_pub);
        **out_pub = *pub;
        (*out_pub)->publicArea.unique.rsa.size = 256;
        memcpy((*out_pub)->publicArea.unique.rsa.buffer, fake.modulus, 256);
        *creation = calloc(1, sizeof(**creation));
        *creation_hash = calloc(1, sizeof(**creation_hash));
        *ticket = calloc(1, sizeof(**ticket));
        return TSS2_RC_SUCCESS;
}

static TPM2B_ATTEST *make_attest(const TPM2B_DATA *qualifying, const TPML_PCR_SELECTION *sel) {
        TPMS_ATTEST a = { .magic = TPM2_GENERATED_VALUE, .type = TPM2_ST_ATTEST_QUOTE };
        TPM2B_ATTEST *out = calloc(1, sizeof(*out));
        size_t offset = 0;

        assert_non_null(out);
        a.qualifiedSigner.size = 4;
        memcpy(a.qualifiedSigner.name, "\x00\x0b\xaa\xbb", 4);
        a.extraData = *qualifying;
        if (fake.bad_extra)
                a.extraData.buffer[0] ^= 1;
        a.clockInfo.clock = 12345;
        a.firmwareVersion = 0x2000000;
        a.attested.quote.pcrSelect = *sel;
        a.attested.quote.pcrDigest.size = 32;
        SHA256(&fake.pcrs[0][0], sizeof(fake.pcrs), a.attested.quote.pcrDigest.buffer);
        assert_int_equal(Tss2_MU_TPMS_ATTEST_Marshal(&a, out->attestationData, sizeof(out->attestationData),
                                                     &offset), TSS2_RC_SUCCESS);
        out->size = (UINT16) offset;
        return out;
}

TSS2_RC __wrap_Esys_Quote(ESYS_CONTEXT *esys, ESYS_TR key, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                          const TPM2B_DATA *qualifying, const TPMT_SIG_SCHEME *scheme, const TPML_PCR_SELECTION *sel,
                          TPM2B_ATTEST **quoted, TPMT_SIGNATURE **signature) {
        TPMT_SIGNATURE *sig;

        assert_ptr_equal(esys, &fake_esys_obj);
        assert_int_equal(key, AK_HANDLE);
        assert_int_equal(s1, ESYS_TR_PASSWORD);
        assert_int_equal(s2, ESYS_TR_NONE);
        assert_int_equal(s3, ESYS_TR_NONE);
        assert_int_equal(qualifying->size, 32);
        assert_memory_equal(qualifying->buffer, fake.qualifying, 32);
        assert_int_equal(scheme->scheme, TPM2_ALG_RSASSA);
        assert_int_equal(scheme->details.rsassa.hashAlg, TPM2_ALG_SHA256);
        assert_int_equal(sel->count, 1);
        assert_int_equal(sel->pcrSelections[0].hash, TPM2_ALG_SHA256);
        assert_int_equal(sel->pcrSelections[0].sizeofSelect, 3);
        assert_memory_equal(sel->pcrSelections[0].pcrSelect, "\xff\xff\xff", 3);
        fake.n_quote++;
        if (fake.quote_rc)
                return fake.quote_rc;
        *quoted = make_attest(qualifying, sel);
        sig = calloc(1, sizeof(*sig));
        assert_non_null(sig);
        sig->sigAlg = fake.bad_scheme ? TPM2_ALG_RSAPSS : TPM2_ALG_RSASSA;
        sig->signature.rsassa.hash = TPM2_ALG_SHA256;
        sig->signature.rsassa.sig.size = 256;
        memset(sig->signature.rsassa.sig.buffer, 0xab, 256);
        *signature = sig;
        /* Something extends PCR 5 right after the quote: the values read no longer match. */
        if (fake.change_after_quote && fake.n_quote <= fake.change_after_quote)
                fake.pcrs[5][0]++;
        return TSS2_RC_SUCCESS;
}

TSS2_RC __wrap_Esys_FlushContext(ESYS_CONTEXT *esys, ESYS_TR handle) {
        assert_ptr_equal(esys, &fake_esys_obj);
        assert_int_equal(handle, AK_HANDLE);
        fake.n_flush++;
        return TSS2_RC_SUCCESS;
}

/* ---- fixtures ---- */

struct fixture {
        struct mr *mr;
        EVP_PKEY *rsa;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        BIGNUM *n = NULL;

        assert_non_null(f);
        memset(&fake, 0, sizeof(fake));
        for (unsigned i = 0; i < 24; i++)
                memset(fake.pcrs[i], (int) (i * 3 + 1), 32);
        for (unsigned i = 0; i < 32; i++)
                fake.qualifying[i] = (uint8_t) (0xc0 + i);
        f->rsa = EVP_RSA_gen(2048);
        assert_non_null(f->rsa);
        assert_int_equal(EVP_PKEY_get_bn_param(f->rsa, OSSL_PKEY_PARAM_RSA_N, &n), 1);
        assert_int_equal(BN_bn2binpad(n, fake.modulus, 256), 256);
        BN_free(n);
        assert_int_equal(mr_open_tpm("fake", 14, &f->mr), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        mr_free(f->mr);
        EVP_PKEY_free(f->rsa);
        free(f);
        return 0;
}

/* ---- tests ---- */

static void test_quote(void **state) {
        struct fixture *f = *state;
        struct tpm_quoted q = {};
        unsigned char *der = NULL;
        uint8_t sig[6 + 256] = { 0x00, 0x14, 0x00, 0x0b, 0x01, 0x00 }; /* RSASSA, SHA-256, size 256 */
        int len;

        assert_int_equal(tpm_quote_make(f->mr, fake.qualifying, &q, NULL), 0);
        /* The AK: OpenSSL's own DER of the key whose modulus the TPM returned. */
        len = i2d_PUBKEY(f->rsa, &der);
        assert_true(len > 0);
        assert_int_equal(q.ak_spki_len, (size_t) len);
        assert_memory_equal(q.ak_spki, der, (size_t) len);
        OPENSSL_free(der);
        memset(sig + 6, 0xab, 256);
        assert_int_equal(q.signature_len, sizeof(sig));
        assert_memory_equal(q.signature, sig, sizeof(sig));
        assert_memory_equal(q.pcrs, fake.pcrs, sizeof(fake.pcrs));
        assert_true(q.attest_len > 0);
        assert_memory_equal(q.attest, "\xff\x54\x43\x47\x80\x18", 6); /* TPM_GENERATED, ST_ATTEST_QUOTE */
        /* PCRs 0-7, 8-15, 16-23. */
        assert_int_equal(fake.n_read, 3);
        for (unsigned i = 0; i < 3; i++) {
                assert_int_equal(fake.reads[i].pcrSelections[0].hash, TPM2_ALG_SHA256);
                for (unsigned b = 0; b < 3; b++)
                        assert_int_equal(fake.reads[i].pcrSelections[0].pcrSelect[b], b == i ? 0xff : 0);
        }
        assert_int_equal(fake.n_create, 1);
        assert_int_equal(fake.n_quote, 1);
        assert_int_equal(fake.n_flush, 1);
        tpm_quoted_done(&q);
}

static void test_pcr_changed_once(void **state) {
        struct fixture *f = *state;
        struct tpm_quoted q = {};

        fake.change_after_quote = 1;
        assert_int_equal(tpm_quote_make(f->mr, fake.qualifying, &q, NULL), 0);
        assert_int_equal(fake.n_quote, 2);
        assert_int_equal(fake.n_read, 6);
        assert_memory_equal(q.pcrs, fake.pcrs, sizeof(fake.pcrs)); /* the new values */
        assert_int_equal(fake.n_flush, 1);
        tpm_quoted_done(&q);
}

static void test_pcr_keeps_changing(void **state) {
        struct fixture *f = *state;
        struct tpm_quoted q = {};
        errbuf err = {};

        fake.change_after_quote = 100;
        assert_int_equal(tpm_quote_make(f->mr, fake.qualifying, &q, &err), -EAGAIN);
        assert_int_equal(fake.n_quote, TPM_QUOTE_ATTEMPTS);
        assert_non_null(strstr(err.msg, "kept changing"));
        assert_int_equal(fake.n_flush, 1);
        tpm_quoted_done(&q);
}

static void test_endorsement_password(void **state) {
        struct fixture *f = *state;
        struct tpm_quoted q = {};
        errbuf err = {};

        /* TPM_RC_BAD_AUTH for the session of the first handle (format 1, session bit, number 1). */
        fake.create_rc = TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1;
        assert_int_equal(tpm_quote_make(f->mr, fake.qualifying, &q, &err), -EPERM);
        assert_non_null(strstr(err.msg, "password"));
        assert_int_equal(fake.n_quote, 0);
        assert_int_equal(fake.n_flush, 0); /* nothing was created */
        tpm_quoted_done(&q);
}

static void test_quote_refused(void **state) {
        struct fixture *f = *state;
        struct tpm_quoted q = {};
        errbuf err = {};

        fake.quote_rc = TPM2_RC_SCHEME | TPM2_RC_P | TPM2_RC_2;
        assert_int_equal(tpm_quote_make(f->mr, fake.qualifying, &q, &err), -EOPNOTSUPP);
        assert_int_equal(fake.n_flush, 1); /* the AK is flushed on every path */
        tpm_quoted_done(&q);
}

static void test_inconsistent_answers(void **state) {
        struct fixture *f = *state;
        struct tpm_quoted q = {};

        fake.short_read = true;
        assert_int_equal(tpm_quote_make(f->mr, fake.qualifying, &q, NULL), -EBADMSG);
        tpm_quoted_done(&q);
        fake.short_read = false;
        fake.bad_scheme = true;
        assert_int_equal(tpm_quote_make(f->mr, fake.qualifying, &q, NULL), -EBADMSG);
        tpm_quoted_done(&q);
        fake.bad_scheme = false;
        fake.bad_extra = true;
        assert_int_equal(tpm_quote_make(f->mr, fake.qualifying, &q, NULL), -EBADMSG);
        tpm_quoted_done(&q);
        assert_int_equal(fake.n_flush, 3);
}

static void test_not_a_tpm(void **state) {
        static const enum hash_alg banks[] = { HASH_SHA256 };
        struct tpm_quoted q = {};
        struct mr *mem = NULL;

        (void) state;
        assert_int_equal(mr_open_mem("pcr14", banks, 1, &mem), 0);
        assert_int_equal(tpm_quote_make(mem, fake.qualifying, &q, NULL), -EOPNOTSUPP);
        assert_null(mr_tpm_esys(mem));
        mr_free(mem);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_quote, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pcr_changed_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pcr_keeps_changing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_endorsement_password, setup, teardown),
                cmocka_unit_test_setup_teardown(test_quote_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_inconsistent_answers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_a_tpm, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
