/* SPDX-License-Identifier: MIT */
/* TPM evidence verification (tpm-verify.h; TPM 2.0 Part 2 §10.12.8, §11.3.4; DESIGN §4). */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tpm2_types.h>

#include "tcg2.h"
#include "tpm-verify.h"
#include "verify-common.h"

#define AK_BITS_MIN 2048
#define AK_BITS_MAX 4096
#define PCR_SELECT_SIZE 3U /* 24 PCRs */

static void evp_pkey_freep(EVP_PKEY **p) {
        EVP_PKEY_free(*p);
}

static void evp_md_ctx_freep(EVP_MD_CTX **p) {
        EVP_MD_CTX_free(*p);
}

/* A minimal strict DER reader (X.690 §10): one TLV of the expected tag, definite lengths in their
 * shortest form. Only what an RSA SubjectPublicKeyInfo (RFC 3279 §2.3.1) needs. */
struct der {
        const uint8_t *p;
        size_t n;
};

static int der_take(struct der *d, uint8_t tag, struct der *content) {
        size_t len = 0, k = 0;

        if (d->n < 2 || d->p[0] != tag)
                return -EBADMSG;
        if (d->p[1] < 0x80)
                len = d->p[1], k = 2;
        else if (d->p[1] == 0x81 && d->n >= 3 && d->p[2] >= 0x80)
                len = d->p[2], k = 3;
        else if (d->p[1] == 0x82 && d->n >= 4 && d->p[2] != 0)
                len = (size_t) d->p[2] << 8 | d->p[3], k = 4;
        else
                return -EBADMSG;
        if (len > d->n - k || (k == 4 && len < 0x100))
                return -EBADMSG;
        *content = (struct der) { d->p + k, len };
        d->p += k + len, d->n -= k + len;
        return 0;
}

/* A positive INTEGER in its minimal form: its magnitude without the sign byte. */
static int der_uint(struct der *d, struct der *magnitude) {
        struct der c;

        if (der_take(d, 0x02, &c) < 0 || c.n == 0 || (c.p[0] & 0x80))
                return -EBADMSG;
        if (c.n > 1 && c.p[0] == 0) {
                if (!(c.p[1] & 0x80))
                        return -EBADMSG; /* a superfluous zero byte */
                c.p++, c.n--;
        }
        *magnitude = c;
        return 0;
}

/* SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING { SEQUENCE { INTEGER n, INTEGER e } } },
 * exactly, nothing after: so the DER bytes, and with them the fingerprint, name one key. */
static int rsa_spki_parse(const uint8_t *der, size_t len, struct der *n, struct der *e) {
        static const uint8_t rsa_alg[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00 };
        struct der all = { der, len }, spki, alg, bits, key;

        if (der_take(&all, 0x30, &spki) < 0 || all.n != 0 || der_take(&spki, 0x30, &alg) < 0 ||
            alg.n != sizeof(rsa_alg) || memcmp(alg.p, rsa_alg, sizeof(rsa_alg)) != 0 ||
            der_take(&spki, 0x03, &bits) < 0 || spki.n != 0 || bits.n < 1 || bits.p[0] != 0)
                return -EBADMSG;
        bits.p++, bits.n--;
        if (der_take(&bits, 0x30, &key) < 0 || bits.n != 0 || der_uint(&key, n) < 0 || der_uint(&key, e) < 0 ||
            key.n != 0)
                return -EBADMSG;
        return 0;
}

static void bnp(BIGNUM **p) {
        BN_free(*p);
}
static void param_bldp(OSSL_PARAM_BLD **p) {
        OSSL_PARAM_BLD_free(*p);
}
static void paramsp(OSSL_PARAM **p) {
        OSSL_PARAM_free(*p);
}
static void pkey_ctxp(EVP_PKEY_CTX **p) {
        EVP_PKEY_CTX_free(*p);
}

/* The AK: an RSA key of a size Trustee's verifier and ours accept, given as a DER RSA
 * SubjectPublicKeyInfo (parsed here rather than with d2i_PUBKEY: strict, and several times faster
 * than OpenSSL 3's decoders, which matters at the broker's request rate). */
static int ak_parse(const uint8_t *der, size_t len, EVP_PKEY **ret, errbuf *err) {
        _cleanup_(param_bldp) OSSL_PARAM_BLD *bld = NULL;
        _cleanup_(paramsp) OSSL_PARAM *params = NULL;
        _cleanup_(pkey_ctxp) EVP_PKEY_CTX *ctx = NULL;
        _cleanup_(bnp) BIGNUM *n = NULL, *e = NULL;
        struct der nm, em;
        EVP_PKEY *k = NULL;

        if (len == 0 || len > TPM_AK_DER_MAX || rsa_spki_parse(der, len, &nm, &em) < 0)
                return errbuf_set(err, -EBADMSG, "ak_public is not an RSA SubjectPublicKeyInfo in DER");
        if (nm.n * 8 < AK_BITS_MIN || nm.n * 8 > AK_BITS_MAX || nm.p[0] < 0x80 || em.n > 4)
                return errbuf_set(err, -EBADMSG, "ak_public must be an RSA key of 2048..4096 bits");
        bld = OSSL_PARAM_BLD_new();
        n = BN_bin2bn(nm.p, (int) nm.n, NULL);
        e = BN_bin2bn(em.p, (int) em.n, NULL);
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        if (!bld || !n || !e || !ctx || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 || !(params = OSSL_PARAM_BLD_to_param(bld)))
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
                return errbuf_set(err, -EBADMSG, "ak_public is not a usable RSA key");
        *ret = k;
        return 0;
}

int tpm_ak_fingerprint(const uint8_t *der, size_t n, uint8_t out[static 32]) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *k = NULL;
        uint8_t d[HASH_MAX_SIZE];
        int r;

        r = ak_parse(der, n, &k, NULL);
        if (r < 0)
                return r;
        r = hash_buffer(HASH_SHA256, der, n, d);
        if (r < 0)
                return r;
        memcpy(out, d, 32);
        return 0;
}

static int unmarshal(const struct tpm_quote *q, TPMS_ATTEST *a, TPMT_SIGNATURE *s, errbuf *err) {
        size_t off = 0;

        if (q->message_len > TPM_QUOTE_PART_MAX || q->signature_len > TPM_QUOTE_PART_MAX)
                return errbuf_set(err, -EBADMSG, "tpm_quote: message or signature is too large");
        if (Tss2_MU_TPMS_ATTEST_Unmarshal(q->message, q->message_len, &off, a) != TSS2_RC_SUCCESS ||
            off != q->message_len)
                return errbuf_set(err, -EBADMSG, "tpm_quote.message is not a TPMS_ATTEST");
        off = 0;
        if (Tss2_MU_TPMT_SIGNATURE_Unmarshal(q->signature, q->signature_len, &off, s) != TSS2_RC_SUCCESS ||
            off != q->signature_len)
                return errbuf_set(err, -EBADMSG, "tpm_quote.signature is not a TPMT_SIGNATURE");
        if (a->magic != TPM2_GENERATED_VALUE)
                return errbuf_set(err, -EBADMSG, "tpm_quote.message: magic is not TPM_GENERATED_VALUE");
        if (a->type != TPM2_ST_ATTEST_QUOTE)
                return errbuf_set(err, -EBADMSG, "tpm_quote.message is not a quote (type 0x%04x)", a->type);
        if (s->sigAlg != TPM2_ALG_RSASSA || s->signature.rsassa.hash != TPM2_ALG_SHA256)
                return errbuf_set(err, -EBADMSG, "tpm_quote.signature is not RSASSA with SHA-256");
        return 0;
}

static int verify_signature(EVP_PKEY *ak, const struct tpm_quote *q, const TPMT_SIGNATURE *s, errbuf *err) {
        _cleanup_(evp_md_ctx_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        const TPM2B_PUBLIC_KEY_RSA *sig = &s->signature.rsassa.sig;

        if (!ctx)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (sig->size != (size_t) EVP_PKEY_get_size(ak))
                return errbuf_set(err, -EPERM, "quote signature: %u bytes, the AK's modulus has %d", sig->size,
                                  EVP_PKEY_get_size(ak));
        if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, ak) != 1)
                return errbuf_set(err, -ENOMEM, "cannot set up signature verification");
        if (EVP_DigestVerify(ctx, sig->buffer, sig->size, q->message, q->message_len) != 1)
                return errbuf_set(err, -EPERM, "quote signature does not verify with ak_public");
        return 0;
}

/* Exactly one selection: sha256, PCRs 0..23 all selected, nothing else. */
static bool selection_ok(const TPML_PCR_SELECTION *l) {
        const TPMS_PCR_SELECTION *s = &l->pcrSelections[0];

        if (l->count != 1 || s->hash != TPM2_ALG_SHA256 || s->sizeofSelect < PCR_SELECT_SIZE)
                return false;
        for (unsigned i = 0; i < s->sizeofSelect; i++)
                if (s->pcrSelect[i] != (i < PCR_SELECT_SIZE ? 0xff : 0))
                        return false;
        return true;
}

static int check_attested(const struct tpm_quote *q, const TPMS_ATTEST *a, const uint8_t *qualifying,
                          size_t qualifying_len, errbuf *err) {
        const TPMS_QUOTE_INFO *qi = &a->attested.quote;
        uint8_t d[HASH_MAX_SIZE];
        int r;

        if (a->extraData.size != qualifying_len || memcmp(a->extraData.buffer, qualifying, qualifying_len) != 0)
                return errbuf_set(err, -EPERM, "the quote's qualifying data is not this session's report_data "
                                  "(nonce or tee-pubkey differ)");
        if (!selection_ok(&qi->pcrSelect))
                return errbuf_set(err, -EPERM, "the quote does not select exactly PCRs 0-23 of the sha256 bank");
        r = hash_buffer(HASH_SHA256, q->pcrs, sizeof(q->pcrs), d);
        if (r < 0)
                return errbuf_set(err, r, "cannot hash the PCR values");
        if (qi->pcrDigest.size != TPM_SHA256_SIZE || memcmp(qi->pcrDigest.buffer, d, TPM_SHA256_SIZE) != 0)
                return errbuf_set(err, -EPERM, "the quote's PCR digest does not match the claimed PCR values");
        return 0;
}

int tpm_quote_verify(const struct tpm_quote *q, const uint8_t *qualifying, size_t qualifying_len, errbuf *err) {
        _cleanup_(evp_pkey_freep) EVP_PKEY *ak = NULL;
        _cleanup_free_ TPMS_ATTEST *a = calloc(1, sizeof(*a));
        _cleanup_free_ TPMT_SIGNATURE *s = calloc(1, sizeof(*s));
        int r;

        if (!a || !s)
                return errbuf_set(err, -ENOMEM, "out of memory");
        r = ak_parse(q->ak_der, q->ak_der_len, &ak, err);
        if (r < 0)
                return r;
        r = unmarshal(q, a, s, err);
        if (r < 0)
                return r;
        /* The message is trusted for the binding checks only once the signature is known to be the AK's. */
        r = verify_signature(ak, q, s, err);
        if (r < 0)
                return r;
        return check_attested(q, a, qualifying, qualifying_len, err);
}

/* Every extended event an AAEL tag at one index, with digests that are those of its data. */
static int collect_events(const struct tcg2_log *log, uint32_t *index, json_t *events, errbuf *err) {
        bool have_index = false;

        for (size_t i = 0; i < log->n_events; i++) {
                const struct tcg2_event *e = &log->events[i];
                int r;

                if (e->type == TCG2_EV_NO_ACTION)
                        continue;
                r = verify_event_claim(e, "eventlog", events, err);
                if (r < 0)
                        return r;
                if (have_index && e->index != *index)
                        return errbuf_set(err, -EBADMSG, "eventlog event %u is for PCR %u, the others for PCR %u",
                                          e->number, e->index, *index);
                if (e->index >= TPM_PCR_COUNT)
                        return errbuf_set(err, -EBADMSG, "eventlog event %u: PCR %u does not exist", e->number,
                                          e->index);
                *index = e->index;
                have_index = true;
        }
        return have_index ? 1 : 0;
}

int tpm_eventlog_verify(const uint8_t *p, size_t n, const uint8_t pcrs[TPM_PCR_COUNT][TPM_SHA256_SIZE],
                        struct claims *c, errbuf *err) {
        _cleanup_(tcg2_log_done) struct tcg2_log log = {};
        _cleanup_(json_decrefp) json_t *events = json_array();
        uint8_t v[HASH_MAX_SIZE];
        uint32_t index = 0;
        errbuf e = {};
        int r;

        if (!events)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (n > TPM_EVENTLOG_MAX)
                return errbuf_set(err, -EBADMSG, "eventlog is larger than %u bytes", TPM_EVENTLOG_MAX);
        r = tcg2_parse(p, n, &log, &e);
        if (r < 0)
                return errbuf_set(err, r == -ENOMEM ? r : -EBADMSG, "eventlog: %s", e.msg[0] ? e.msg : strerror(-r));
        r = collect_events(&log, &index, events, err);
        if (r < 0)
                return r;
        if (r > 0) {
                r = tcg2_replay(&log, index, HASH_SHA256, v, &e);
                if (r < 0)
                        return errbuf_set(err, r == -ENOMEM ? r : -EBADMSG, "eventlog cannot be replayed in the "
                                          "sha256 bank: %s", e.msg[0] ? e.msg : strerror(-r));
                if (memcmp(v, pcrs[index], TPM_SHA256_SIZE) != 0)
                        return errbuf_set(err, -EPERM, "eventlog does not replay to the quoted PCR %u (sha256)",
                                          index);
                snprintf(c->log_mr, sizeof(c->log_mr), "pcr%u", index);
        }
        json_decref(c->events);
        c->events = TAKE_PTR(events);
        return 0;
}

static int get_pcrs(const json_t *a, uint8_t pcrs[TPM_PCR_COUNT][TPM_SHA256_SIZE], errbuf *err) {
        size_t i;
        json_t *v;

        if (!json_is_array(a) || json_array_size(a) != TPM_PCR_COUNT)
                return errbuf_set(err, -EBADMSG, "evidence: \"tpm_quote.pcrs\" must be an array of 24 hex values");
        json_array_foreach(a, i, v) {
                const char *s = json_string_value(v);
                if (!s || strlen(s) != 2 * TPM_SHA256_SIZE ||
                    unhex(s, 2 * TPM_SHA256_SIZE, pcrs[i], TPM_SHA256_SIZE) != TPM_SHA256_SIZE)
                        return errbuf_set(err, -EBADMSG, "evidence: tpm_quote.pcrs[%zu] is not 64 hex digits", i);
        }
        return 0;
}

struct evidence_parts {
        uint8_t *ak, *message, *signature, *eventlog;
        size_t ak_len, message_len, signature_len, eventlog_len;
};

static void evidence_parts_done(struct evidence_parts *e) {
        free(e->ak);
        free(e->message);
        free(e->signature);
        free(e->eventlog);
}

static int parse_evidence(const json_t *ev, struct evidence_parts *e, struct tpm_quote *q, errbuf *err) {
        static const char *const members[] = { "ak_public", "tpm_quote", "eventlog", NULL };
        static const char *const quote_members[] = { "message", "signature", "pcrs", NULL };
        const json_t *quote = json_object_get(ev, "tpm_quote");
        errbuf e2 = {};
        int r;

        if (kbs_proto_only_members(ev, "evidence", members, &e2) < 0)
                return errbuf_set(err, -EBADMSG, "%s", e2.msg);
        if (!json_is_object(quote) || kbs_proto_only_members(quote, "evidence.tpm_quote", quote_members, &e2) < 0)
                return errbuf_set(err, -EBADMSG, "%s", e2.msg[0] ? e2.msg : "evidence: \"tpm_quote\" must be an object");
        r = verify_b64_member(ev, "evidence", "ak_public", TPM_AK_DER_MAX, &e->ak, &e->ak_len, err);
        if (r >= 0)
                r = verify_b64_member(quote, "evidence.tpm_quote", "message", TPM_QUOTE_PART_MAX, &e->message,
                                      &e->message_len, err);
        if (r >= 0)
                r = verify_b64_member(quote, "evidence.tpm_quote", "signature", TPM_QUOTE_PART_MAX, &e->signature,
                                      &e->signature_len, err);
        if (r >= 0)
                r = verify_b64_member(ev, "evidence", "eventlog", TPM_EVENTLOG_MAX, &e->eventlog, &e->eventlog_len,
                                      err);
        if (r >= 0)
                r = get_pcrs(json_object_get(quote, "pcrs"), q->pcrs, err);
        if (r < 0)
                return r;
        q->ak_der = e->ak, q->ak_der_len = e->ak_len;
        q->message = e->message, q->message_len = e->message_len;
        q->signature = e->signature, q->signature_len = e->signature_len;
        return 0;
}

int tpm_evidence_verify(const json_t *evidence, const uint8_t report_data[static KBS_REPORT_DATA_SIZE],
                        struct claims *ret, errbuf *err) {
        _cleanup_(evidence_parts_done) struct evidence_parts e = {};
        _cleanup_(claims_done) struct claims c = { .tee = KBS_TEE_TPM };
        uint8_t v[HASH_MAX_SIZE];
        struct tpm_quote q = {};
        int r;

        if (!json_is_object(evidence))
                return errbuf_set(err, -EBADMSG, "evidence must be a JSON object");
        r = parse_evidence(evidence, &e, &q, err);
        if (r < 0)
                return r;
        r = tpm_quote_verify(&q, report_data, KBS_TPM_QUALIFYING_SIZE, err);
        if (r < 0)
                return r;
        /* ak_public was checked by tpm_quote_verify: its bytes are the fingerprint's input. */
        r = hash_buffer(HASH_SHA256, e.ak, e.ak_len, v);
        if (r < 0)
                return errbuf_set(err, r, "cannot fingerprint the AK");
        memcpy(c.ak_sha256, v, sizeof(c.ak_sha256));
        c.has_ak = true;
        for (unsigned i = 0; i < TPM_PCR_COUNT; i++) {
                char name[MR_NAME_MAX];
                snprintf(name, sizeof(name), "pcr%u", i);
                r = claims_set_register(&c, name, HASH_SHA256, q.pcrs[i]);
                if (r < 0)
                        return errbuf_set(err, r, "too many register claims");
        }
        r = tpm_eventlog_verify(e.eventlog, e.eventlog_len, q.pcrs, &c, err);
        if (r < 0)
                return r;
        *ret = c;
        c = (struct claims) {};
        return 0;
}
