/* SPDX-License-Identifier: MIT */
/* AK and quote for the KBS evidence (tpm-quote.h; DESIGN §2, §4; TPM 2.0 Part 3 §18.4 Quote, §24.1
 * CreatePrimary, §28.4 FlushContext). Each Esys_* call is wrapped once below; unit tests replace
 * them with -Wl,--wrap. */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "hashalg.h"
#include "log.h"
#include "mr-tpm.h"
#include "tpm-quote.h"

#define AK_BITS 2048U
#define AK_EXPONENT 65537U
#define PCRS_PER_READ 8U

static const TPM2B_PUBLIC ak_template = {
        .publicArea = {
                .type = TPM2_ALG_RSA,
                .nameAlg = TPM2_ALG_SHA256,
                .objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT,
                .parameters.rsaDetail = {
                        .symmetric.algorithm = TPM2_ALG_NULL,
                        .scheme = { .scheme = TPM2_ALG_RSASSA, .details.rsassa.hashAlg = TPM2_ALG_SHA256 },
                        .keyBits = AK_BITS,
                        .exponent = 0, /* the default, 65537 */
                },
        },
};

/* ---- the ESAPI calls, each wrapped once ---- */

static int tpm_create_ak(ESYS_CONTEXT *esys, ESYS_TR *handle, TPM2B_PUBLIC **ret) {
        static const TPM2B_SENSITIVE_CREATE sensitive = {};
        static const TPM2B_DATA outside = {};
        static const TPML_PCR_SELECTION creation_pcrs = {};
        _cleanup_esys_ TPM2B_CREATION_DATA *creation = NULL;
        _cleanup_esys_ TPM2B_DIGEST *creation_hash = NULL;
        _cleanup_esys_ TPMT_TK_CREATION *ticket = NULL;
        TSS2_RC rc;

        rc = Esys_CreatePrimary(esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                &sensitive, &ak_template, &outside, &creation_pcrs, handle, ret, &creation,
                                &creation_hash, &ticket);
        return tpm2_rc_to_errno(rc, "Esys_CreatePrimary(endorsement, AK)");
}

static void tpm_flush(ESYS_CONTEXT *esys, ESYS_TR handle) {
        (void) tpm2_rc_to_errno(Esys_FlushContext(esys, handle), "Esys_FlushContext(AK)");
}

static int tpm_quote_call(ESYS_CONTEXT *esys, ESYS_TR ak, const TPM2B_DATA *qualifying,
                          const TPML_PCR_SELECTION *sel, TPM2B_ATTEST **attest, TPMT_SIGNATURE **sig) {
        static const TPMT_SIG_SCHEME scheme = {
                .scheme = TPM2_ALG_RSASSA, .details.rsassa.hashAlg = TPM2_ALG_SHA256,
        };
        TSS2_RC rc;

        rc = Esys_Quote(esys, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, qualifying, &scheme, sel, attest,
                        sig);
        return tpm2_rc_to_errno(rc, "Esys_Quote");
}

/* ---- the AK's public key ---- */

int tpm_quote_rsa_spki(const uint8_t *modulus, size_t n, uint32_t exponent, uint8_t **ret, size_t *ret_len) {
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        BIGNUM *bn_n = BN_bin2bn(modulus, (int) n, NULL), *bn_e = BN_new();
        OSSL_PARAM *params = NULL;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        EVP_PKEY *key = NULL;
        unsigned char *der = NULL;
        int len, r = -ENOMEM;

        if (!bld || !bn_n || !bn_e || !ctx || !BN_set_word(bn_e, exponent) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) || !(params = OSSL_PARAM_BLD_to_param(bld)))
                goto out;
        r = -EBADMSG;
        if (EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
                goto out;
        len = i2d_PUBKEY(key, &der);
        if (len <= 0)
                goto out;
        *ret = malloc((size_t) len);
        r = *ret ? 0 : -ENOMEM;
        if (*ret) {
                memcpy(*ret, der, (size_t) len);
                *ret_len = (size_t) len;
        }
out:
        OPENSSL_free(der);
        EVP_PKEY_free(key);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        BN_free(bn_n);
        BN_free(bn_e);
        return r;
}

static int ak_spki(const TPM2B_PUBLIC *pub, struct tpm_quoted *q) {
        const TPMT_PUBLIC *p = &pub->publicArea;
        uint32_t e = p->parameters.rsaDetail.exponent ?: AK_EXPONENT;

        if (p->type != TPM2_ALG_RSA || p->parameters.rsaDetail.keyBits != AK_BITS ||
            p->unique.rsa.size != AK_BITS / 8)
                return -EBADMSG;
        return tpm_quote_rsa_spki(p->unique.rsa.buffer, p->unique.rsa.size, e, &q->ak_spki, &q->ak_spki_len);
}

/* ---- PCRs ---- */

static void select_pcrs(TPML_PCR_SELECTION *sel, unsigned first, unsigned count) {
        *sel = (TPML_PCR_SELECTION) { .count = 1 };
        sel->pcrSelections[0].hash = TPM2_ALG_SHA256;
        sel->pcrSelections[0].sizeofSelect = 3;
        for (unsigned i = first; i < first + count; i++)
                sel->pcrSelections[0].pcrSelect[i / 8] |= (BYTE) (1U << (i % 8));
}

static bool same_selection(const TPML_PCR_SELECTION *a, const TPML_PCR_SELECTION *b) {
        return a->count == 1 && b->count == 1 && a->pcrSelections[0].hash == b->pcrSelections[0].hash &&
               a->pcrSelections[0].sizeofSelect == b->pcrSelections[0].sizeofSelect &&
               memcmp(a->pcrSelections[0].pcrSelect, b->pcrSelections[0].pcrSelect, 3) == 0;
}

/* All 24 in batches of 8: the most a TPM returns per TPM2_PCR_Read (TPML_DIGEST holds 8). */
static int read_pcrs(ESYS_CONTEXT *esys, uint8_t out[static TPM_QUOTE_PCRS][TPM_QUOTE_PCR_SIZE]) {
        for (unsigned first = 0; first < TPM_QUOTE_PCRS; first += PCRS_PER_READ) {
                _cleanup_esys_ TPML_PCR_SELECTION *sel_out = NULL;
                _cleanup_esys_ TPML_DIGEST *values = NULL;
                TPML_PCR_SELECTION sel;
                int r;

                select_pcrs(&sel, first, PCRS_PER_READ);
                r = tpm2_pcr_read(esys, &sel, &sel_out, &values);
                if (r < 0)
                        return r;
                if (!sel_out || !values || !same_selection(&sel, sel_out) || values->count != PCRS_PER_READ)
                        return -EBADMSG;
                for (unsigned i = 0; i < PCRS_PER_READ; i++) {
                        if (values->digests[i].size != TPM_QUOTE_PCR_SIZE)
                                return -EBADMSG;
                        memcpy(out[first + i], values->digests[i].buffer, TPM_QUOTE_PCR_SIZE);
                }
        }
        return 0;
}

/* ---- the quote ---- */

/* The signed structure says what we asked for, and its PCR digest is that of the values read. */
static int check_attest(const struct tpm_quoted *q, const uint8_t *qualifying,
                        const TPML_PCR_SELECTION *sel) {
        TPMS_ATTEST a = {};
        uint8_t d[HASH_MAX_SIZE];
        size_t offset = 0;
        int r;

        if (Tss2_MU_TPMS_ATTEST_Unmarshal(q->attest, q->attest_len, &offset, &a) != TSS2_RC_SUCCESS ||
            offset != q->attest_len)
                return -EBADMSG;
        if (a.magic != TPM2_GENERATED_VALUE || a.type != TPM2_ST_ATTEST_QUOTE ||
            a.extraData.size != TPM_QUOTE_QUALIFYING_SIZE ||
            memcmp(a.extraData.buffer, qualifying, TPM_QUOTE_QUALIFYING_SIZE) != 0 ||
            !same_selection(&a.attested.quote.pcrSelect, sel) ||
            a.attested.quote.pcrDigest.size != TPM_QUOTE_PCR_SIZE)
                return -EBADMSG;
        r = hash_buffer(HASH_SHA256, q->pcrs, sizeof(q->pcrs), d);
        if (r < 0)
                return r;
        /* A PCR extended between the quote and the read: take the quote again. */
        return memcmp(d, a.attested.quote.pcrDigest.buffer, TPM_QUOTE_PCR_SIZE) == 0 ? 0 : -EAGAIN;
}

static int marshal_signature(const TPMT_SIGNATURE *sig, struct tpm_quoted *q) {
        uint8_t buf[sizeof(TPMT_SIGNATURE)];
        size_t n = 0;

        /* Trustee's verifier accepts RSASSA with SHA-256 only. */
        if (sig->sigAlg != TPM2_ALG_RSASSA || sig->signature.rsassa.hash != TPM2_ALG_SHA256)
                return -EBADMSG;
        if (Tss2_MU_TPMT_SIGNATURE_Marshal(sig, buf, sizeof(buf), &n) != TSS2_RC_SUCCESS)
                return -EBADMSG;
        free(q->signature);
        q->signature = malloc(n);
        if (!q->signature)
                return -ENOMEM;
        memcpy(q->signature, buf, n);
        q->signature_len = n;
        return 0;
}

static int quote_once(ESYS_CONTEXT *esys, ESYS_TR ak, const uint8_t *qualifying, struct tpm_quoted *q) {
        _cleanup_esys_ TPM2B_ATTEST *attest = NULL;
        _cleanup_esys_ TPMT_SIGNATURE *sig = NULL;
        TPM2B_DATA data = { .size = TPM_QUOTE_QUALIFYING_SIZE };
        TPML_PCR_SELECTION sel;
        int r;

        memcpy(data.buffer, qualifying, TPM_QUOTE_QUALIFYING_SIZE);
        select_pcrs(&sel, 0, TPM_QUOTE_PCRS);
        r = tpm_quote_call(esys, ak, &data, &sel, &attest, &sig);
        if (r < 0)
                return r;
        if (!attest || !sig || attest->size == 0 || attest->size > sizeof(attest->attestationData))
                return -EBADMSG;
        free(q->attest);
        q->attest = malloc(attest->size);
        if (!q->attest)
                return -ENOMEM;
        memcpy(q->attest, attest->attestationData, attest->size);
        q->attest_len = attest->size;
        r = marshal_signature(sig, q);
        if (r < 0)
                return r;
        r = read_pcrs(esys, q->pcrs);
        if (r < 0)
                return r;
        return check_attest(q, qualifying, &sel);
}

static int quote_with_ak(ESYS_CONTEXT *esys, ESYS_TR ak, const uint8_t *qualifying,
                         struct tpm_quoted *q, errbuf *err) {
        int r = -EAGAIN;

        for (unsigned i = 0; i < TPM_QUOTE_ATTEMPTS && r == -EAGAIN; i++) {
                r = quote_once(esys, ak, qualifying, q);
                if (r == -EAGAIN)
                        log_debug("PCRs changed while quoting (attempt %u of %u).", i + 1, TPM_QUOTE_ATTEMPTS);
        }
        if (r == -EAGAIN)
                return errbuf_set(err, r, "the PCRs kept changing while quoting (%u attempts)", TPM_QUOTE_ATTEMPTS);
        if (r == -EBADMSG)
                return errbuf_set(err, r, "the TPM's quote does not match the request or the PCR values read");
        if (r < 0)
                return errbuf_set(err, r, "TPM quote over PCRs 0-23 (sha256) failed: %s", strerror(-r));
        return 0;
}

int tpm_quote_make(struct mr *mr, const uint8_t qualifying[static TPM_QUOTE_QUALIFYING_SIZE],
                   struct tpm_quoted *ret, errbuf *err) {
        _cleanup_esys_ TPM2B_PUBLIC *pub = NULL;
        ESYS_CONTEXT *esys = mr_tpm_esys(mr);
        ESYS_TR ak = ESYS_TR_NONE;
        int r;

        *ret = (struct tpm_quoted) {};
        if (!esys)
                return errbuf_set(err, -EOPNOTSUPP, "the measurement register is not a TPM: no TPM quote");
        r = tpm_create_ak(esys, &ak, &pub);
        if (r == -EPERM)
                return errbuf_set(err, r, "cannot create the AK: the endorsement hierarchy has a password");
        if (r < 0)
                return errbuf_set(err, r, "cannot create the AK under the endorsement hierarchy: %s", strerror(-r));
        r = pub ? ak_spki(pub, ret) : -EBADMSG;
        if (r < 0)
                (void) errbuf_set(err, r, "the TPM made an AK that is not RSA-2048 or cannot be encoded");
        else
                r = quote_with_ak(esys, ak, qualifying, ret, err);
        tpm_flush(esys, ak);
        return r;
}

void tpm_quoted_done(struct tpm_quoted *q) {
        if (!q)
                return;
        free(q->ak_spki);
        free(q->attest);
        free(q->signature);
        *q = (struct tpm_quoted) {};
}
