/* SPDX-License-Identifier: MIT */
/* Verification of TPM evidence as DESIGN §4 sends it (the broker's side of TPM attestation):
 *
 *   {"ak_public":"<b64 DER SubjectPublicKeyInfo>",
 *    "tpm_quote":{"message":"<b64 TPMS_ATTEST>","signature":"<b64 TPMT_SIGNATURE>","pcrs":[24 x hex]},
 *    "eventlog":"<b64 TCG2 log>"}
 *
 * The quote (TPM 2.0 Part 2 §10.12.8 TPMS_ATTEST, §11.3.4 TPMT_SIGNATURE): magic TPM_GENERATED_VALUE,
 * type TPM_ST_ATTEST_QUOTE, extraData = the qualifying data the caller expects (the first 32 bytes
 * of report_data), a PCR selection of exactly sha256 PCRs 0-23, pcrDigest = SHA-256 over the 24
 * claimed values, and an RSASSA-PKCS1-v1_5 SHA-256 signature (RSA 2048..4096) by the AK over the
 * message bytes. Then the event log (tcg2.h): every event an AAEL event tag at one PCR whose
 * digests match its data, replaying in the sha256 bank to that PCR's quoted value. The caller
 * decides whether the AK is trusted (its fingerprint is in the claims). */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "policy.h"
#include "util.h"

#define TPM_PCR_COUNT 24U
#define TPM_SHA256_SIZE 32U
#define TPM_AK_DER_MAX 2048U
#define TPM_QUOTE_PART_MAX 4096U
#define TPM_EVENTLOG_MAX KBS_BODY_MAX

struct tpm_quote {
        const uint8_t *ak_der;
        size_t ak_der_len;
        const uint8_t *message;
        size_t message_len;
        const uint8_t *signature;
        size_t signature_len;
        uint8_t pcrs[TPM_PCR_COUNT][TPM_SHA256_SIZE];
};

/* SHA-256 of the DER SubjectPublicKeyInfo, after checking that it is one (and nothing more).
 * -EBADMSG otherwise. */
int tpm_ak_fingerprint(const uint8_t *der, size_t n, uint8_t out[static 32]);

/* Verifies the quote as described above. Returns 0, -EBADMSG for malformed parts, -EPERM for a
 * well-formed quote that does not verify (signature, qualifying data, PCR selection or digest);
 * err says which. */
int tpm_quote_verify(const struct tpm_quote *q, const uint8_t *qualifying, size_t qualifying_len, errbuf *err);

/* Checks a TCG2 event log against quoted sha256 PCR values and adds its events and the register it
 * replays to (claims->events, ->log_mr). -EBADMSG malformed, -EPERM does not replay. */
int tpm_eventlog_verify(const uint8_t *p, size_t n, const uint8_t pcrs[TPM_PCR_COUNT][TPM_SHA256_SIZE],
                        struct claims *c, errbuf *err);

/* The whole evidence: parses it, verifies the quote against report_data's first 32 bytes, the log,
 * and fills claims (tee tpm, AK fingerprint, pcr0..pcr23 sha256, events). Errors as above. */
int tpm_evidence_verify(const json_t *evidence, const uint8_t report_data[static KBS_REPORT_DATA_SIZE],
                        struct claims *ret, errbuf *err);
