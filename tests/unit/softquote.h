/* SPDX-License-Identifier: MIT */
/* Test helper: TPM quotes made in software (TPM 2.0 Part 2 §10.12.8 TPMS_ATTEST marshalled with
 * tpm2-tss's MU, signed RSASSA-SHA256 with an OpenSSL key standing in for the AK), so each
 * verification rule can be broken alone with everything else signed correctly; and TPM evidence
 * JSON (DESIGN §4) for a list of events, with PCR 14 their replay. Header-only, for the tests. */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "base64.h"
#include "event.h"
#include "kbs-proto.h"
#include "tcg2.h"

struct softquote {
        EVP_PKEY *ak;
        uint8_t *ak_der;
        size_t ak_der_len;
};

/* Deviations from a correct quote. */
struct softquote_params {
        uint32_t magic;        /* 0: TPM2_GENERATED_VALUE */
        uint16_t type;         /* 0: TPM2_ST_ATTEST_QUOTE */
        uint16_t bank;         /* 0: sha256 */
        uint8_t select[4];     /* all zero: ff ff ff */
        uint8_t sizeof_select; /* 0: 3 */
        uint32_t count;        /* 0: 1 selection */
        bool bad_digest;       /* pcrDigest of other values */
};

static inline void softquote_init(struct softquote *s) {
        unsigned char *der = NULL;
        int n;

        s->ak = EVP_RSA_gen(2048);
        if (!s->ak)
                abort();
        n = i2d_PUBKEY(s->ak, &der);
        if (n <= 0)
                abort();
        s->ak_der = malloc((size_t) n);
        memcpy(s->ak_der, der, (size_t) n);
        s->ak_der_len = (size_t) n;
        OPENSSL_free(der);
}

/* As softquote_init, but with a given AK (taken over), e.g. one read from a PEM file whose
 * fingerprint a policy trusts (tests/bench/bench-broker.c). */
static inline void softquote_init_key(struct softquote *s, EVP_PKEY *ak) {
        unsigned char *der = NULL;
        int n = i2d_PUBKEY(ak, &der);

        if (n <= 0)
                abort();
        s->ak = ak;
        s->ak_der = malloc((size_t) n);
        if (!s->ak_der)
                abort();
        memcpy(s->ak_der, der, (size_t) n);
        s->ak_der_len = (size_t) n;
        OPENSSL_free(der);
}

static inline void softquote_done(struct softquote *s) {
        EVP_PKEY_free(s->ak);
        free(s->ak_der);
}

static inline void softquote_fingerprint(const struct softquote *s, uint8_t out[32]) {
        uint8_t d[HASH_MAX_SIZE];
        if (hash_buffer(HASH_SHA256, s->ak_der, s->ak_der_len, d) < 0)
                abort();
        memcpy(out, d, 32);
}

/* Signs msg with key (RSASSA-PKCS1-v1_5, SHA-256) into a marshalled TPMT_SIGNATURE. */
static inline void softquote_sign(EVP_PKEY *key, const uint8_t *msg, size_t n, uint8_t *out, size_t *out_len) {
        TPMT_SIGNATURE sig = { .sigAlg = TPM2_ALG_RSASSA };
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        size_t len = sizeof(sig.signature.rsassa.sig.buffer), off = 0;

        sig.signature.rsassa.hash = TPM2_ALG_SHA256;
        if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(ctx, sig.signature.rsassa.sig.buffer, &len, msg, n) != 1)
                abort();
        EVP_MD_CTX_free(ctx);
        sig.signature.rsassa.sig.size = (UINT16) len;
        if (Tss2_MU_TPMT_SIGNATURE_Marshal(&sig, out, 1024, &off) != TSS2_RC_SUCCESS)
                abort();
        *out_len = off;
}

/* A quote over pcrs with qualifying data q (32 bytes): message and signature, each up to 1024 bytes. */
static inline void softquote_make(const struct softquote *s, const uint8_t *q, const uint8_t pcrs[24][32],
                                  const struct softquote_params *p, uint8_t *msg, size_t *msg_len, uint8_t *sig,
                                  size_t *sig_len) {
        static const struct softquote_params none = {};
        TPMS_ATTEST a = {};
        uint8_t d[HASH_MAX_SIZE], other[24][32];
        size_t off = 0;

        p = p ?: &none;
        a.magic = p->magic ?: TPM2_GENERATED_VALUE;
        a.type = p->type ?: TPM2_ST_ATTEST_QUOTE;
        a.extraData.size = 32;
        memcpy(a.extraData.buffer, q, 32);
        a.clockInfo.clock = 123456, a.clockInfo.safe = 1, a.firmwareVersion = 0x2000000000000ULL;
        a.attested.quote.pcrSelect.count = p->count ?: 1;
        for (unsigned i = 0; i < a.attested.quote.pcrSelect.count && i < TPM2_NUM_PCR_BANKS; i++) {
                TPMS_PCR_SELECTION *x = &a.attested.quote.pcrSelect.pcrSelections[i];
                x->hash = p->bank ?: TPM2_ALG_SHA256;
                x->sizeofSelect = p->sizeof_select ?: 3;
                if (p->select[0] | p->select[1] | p->select[2] | p->select[3])
                        memcpy(x->pcrSelect, p->select, 4);
                else
                        memset(x->pcrSelect, 0xff, 3);
        }
        memcpy(other, pcrs, sizeof(other));
        if (p->bad_digest)
                other[7][0] ^= 1;
        if (hash_buffer(HASH_SHA256, other, sizeof(other), d) < 0)
                abort();
        a.attested.quote.pcrDigest.size = 32;
        memcpy(a.attested.quote.pcrDigest.buffer, d, 32);
        if (Tss2_MU_TPMS_ATTEST_Marshal(&a, msg, 1024, &off) != TSS2_RC_SUCCESS)
                abort();
        *msg_len = off;
        softquote_sign(s->ak, msg, off, sig, sig_len);
}

static inline char *softquote_b64(const void *p, size_t n) {
        char *s = NULL;
        if (base64_encode(p, n, BASE64_STD, &s) < 0)
                abort();
        return s;
}

/* Evidence for report_data: the events (NULL-terminated "OPERATION CONTENT-JSON" pairs as
 * {op, content, op, content, ..., NULL}) measured into PCR 14 (sha256), PCR 0 set to a fixed value. */
static inline json_t *softquote_evidence(const struct softquote *s, const uint8_t report_data[KBS_REPORT_DATA_SIZE],
                                         const char *const *events, uint8_t pcrs[24][32]) {
        enum hash_alg bank = HASH_SHA256;
        struct buf log = {};
        uint8_t msg[1024], sig[1024], pcr14[HASH_MAX_SIZE] = {};
        size_t msg_len, sig_len;
        json_t *e;
        char *b_ak, *b_msg, *b_sig, *b_log;

        memset(pcrs, 0, 24 * 32);
        memset(pcrs[0], 0x5a, 32);
        if (tcg2_render_spec_id(&log, 0, &bank, 1) < 0)
                abort();
        for (size_t i = 0; events && events[i]; i += 2) {
                json_t *content = json_loads(events[i + 1], 0, NULL);
                char *text = NULL;
                size_t n;
                uint8_t d[HASH_MAX_SIZE];
                if (!content || event_text(EVENT_DOMAIN, events[i], content, &text, &n) < 0 ||
                    tcg2_render_aael(&log, 14, &bank, 1, text, n) < 0 || event_digest(bank, text, n, d) < 0 ||
                    hash_extend(bank, pcr14, d) < 0)
                        abort();
                json_decref(content);
                free(text);
        }
        if (tcg2_render_end(&log) < 0)
                abort();
        memcpy(pcrs[14], pcr14, 32);
        softquote_make(s, report_data, (const uint8_t (*)[32]) pcrs, NULL, msg, &msg_len, sig, &sig_len);
        b_ak = softquote_b64(s->ak_der, s->ak_der_len);
        b_msg = softquote_b64(msg, msg_len);
        b_sig = softquote_b64(sig, sig_len);
        b_log = softquote_b64(log.data, log.len);
        e = json_pack("{s:s, s:{s:s, s:s, s:[]}, s:s}", "ak_public", b_ak, "tpm_quote", "message", b_msg,
                      "signature", b_sig, "pcrs", "eventlog", b_log);
        for (unsigned i = 0; e && i < 24; i++) {
                char hex[65];
                hex_encode(pcrs[i], 32, hex);
                json_array_append_new(json_object_get(json_object_get(e, "tpm_quote"), "pcrs"), json_string(hex));
        }
        free(b_ak), free(b_msg), free(b_sig), free(b_log);
        buf_free(&log);
        if (!e)
                abort();
        return e;
}
