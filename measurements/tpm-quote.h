/* SPDX-License-Identifier: MIT */
/* TPM evidence for the KBS protocol (DESIGN §2, §4): an attestation key (AK) and a quote over
 * PCRs 0-23 of the SHA-256 bank, through the TPM connection of a register opened with mr_open_tpm.
 *
 * The AK is a primary key under the endorsement hierarchy created from a fixed template, so the
 * same TPM gives the same AK on every boot without storing anything (TPM 2.0 Part 3 §24.1
 * CreatePrimary; keys derive from the hierarchy's seed and the template):
 *   RSA-2048, exponent 65537, nameAlg SHA-256, scheme RSASSA with SHA-256, no symmetric part,
 *   attributes fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | restricted | sign,
 *   empty authPolicy, empty unique
 * — tpm2-tools: tpm2_createprimary -C e -g sha256 -G rsa2048:rsassa-sha256:null
 *   -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign'.
 * It is flushed after the quote. The endorsement hierarchy must have an empty authorization.
 *
 * The quote (Part 3 §18.4) signs a TPMS_ATTEST carrying the qualifying data and the digest of the
 * selected PCRs. The PCR values are read after the quote (PCR_Read returns at most 8 per call) and
 * checked against that digest, so the values sent agree with what was signed; if a PCR changed in
 * between, the quote is taken again (up to TPM_QUOTE_ATTEMPTS times, then -EAGAIN). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "mr.h"
#include "util.h"

#define TPM_QUOTE_PCRS 24U
#define TPM_QUOTE_PCR_SIZE 32U
#define TPM_QUOTE_QUALIFYING_SIZE 32U
#define TPM_QUOTE_ATTEMPTS 3U

struct tpm_quoted {
        uint8_t *ak_spki;        /* the AK's public key, DER SubjectPublicKeyInfo */
        size_t ak_spki_len;
        uint8_t *attest;         /* marshalled TPMS_ATTEST (the TPM2B_ATTEST's contents) */
        size_t attest_len;
        uint8_t *signature;      /* marshalled TPMT_SIGNATURE */
        size_t signature_len;
        uint8_t pcrs[TPM_QUOTE_PCRS][TPM_QUOTE_PCR_SIZE]; /* SHA-256 bank, PCR 0..23 */
};

/* Creates the AK and quotes with the TPM of mr (-EOPNOTSUPP for another backend). Errors as tpm2_rc_to_errno, with
 * the failing step in err; -EPERM from the AK step means the endorsement hierarchy has a password;
 * -EBADMSG: the TPM answered something inconsistent. Free ret with tpm_quoted_done (also after a
 * failure). */
int tpm_quote_make(struct mr *mr, const uint8_t qualifying[static TPM_QUOTE_QUALIFYING_SIZE],
                   struct tpm_quoted *ret, errbuf *err);
void tpm_quoted_done(struct tpm_quoted *q);

/* The AK's SubjectPublicKeyInfo from its RSA modulus (exponent 65537), as tpm_quote_make fills it. */
int tpm_quote_rsa_spki(const uint8_t *modulus, size_t n, uint32_t exponent, uint8_t **ret, size_t *ret_len);
