/* SPDX-License-Identifier: MIT */
/* TPM and TDX evidence for the KBS attest request (DESIGN §4 step 4): the primary_evidence object
 *
 *   {"ak_public":"<base64 DER SubjectPublicKeyInfo>",
 *    "tpm_quote":{"message":"<base64 TPMS_ATTEST>","signature":"<base64 TPMT_SIGNATURE>",
 *                 "pcrs":["<hex PCR 0>",...,"<hex PCR 23>"]},
 *    "eventlog":"<base64 TCG2 log>"}
 *
 * (base64 standard alphabet, padded; PCRs of the SHA-256 bank in lower-case hex). The event log is
 * the measurement log (cel.h) rendered as a TCG2 crypto-agile log (tcg2.h): a Spec ID header
 * declaring the register's banks, one EV_EVENT_TAG entry per record at the record's PCR carrying
 * the AAEL event data and the digests the record says were extended, and nothing after the last
 * entry (as a TPM's binary_bios_measurements; the FF×8 end marker is CCEL's) — the same events and
 * digests, so the log replays to the quoted PCR exactly when the measurement log does. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "cel.h"
#include "kbs-proto.h"
#include "mr.h"
#include "tpm-quote.h"
#include "util.h"

/* The rendered log must leave room in a request of KBS_BODY_MAX for base64 and the rest. */
#define EVIDENCE_EVENTLOG_MAX (512U * 1024U)

/* Renders log (records of one TPM register, "pcrN", digests for exactly banks) as TCG2 into out.
 * -EXDEV for a record of another register or other banks, -EBADMSG for one whose content does not
 * match its digests or that is uncommitted, -EFBIG over EVIDENCE_EVENTLOG_MAX; err says which. */
int evidence_tcg2_log(const struct cel_log *log, const enum hash_alg *banks, unsigned n_banks, struct buf *out,
                      errbuf *err);

/* The primary_evidence object from a quote and a rendered log. */
int evidence_tpm_json(const struct tpm_quoted *q, const void *eventlog, size_t n, json_t **ret);

/* All of it: reads the measurement log at log_path, quotes with qualifying data = the first 32
 * bytes of report_data, builds the object. */
int evidence_tpm(struct mr *mr, const char *log_path, const uint8_t report_data[static KBS_REPORT_DATA_SIZE],
                 json_t **ret, errbuf *err);

/* TDX (DESIGN §3, §4): {"quote":"<base64 TDX quote>","cc_eventlog":"<base64 TCG2 log>"}. The
 * cc_eventlog is the firmware's CCEL (CVMINIT_CCEL or the default path; its end marker and padding
 * cut) — or, without one, a Spec ID header declaring SHA-384 — then one EV_EVENT_TAG entry per
 * record at CC MR index 4 (RTMR3) with the AAEL event data, then the FF×8 end marker. */
#define EVIDENCE_CCEL_DEFAULT "/sys/firmware/acpi/tables/data/CCEL"
int evidence_cc_eventlog(const struct cel_log *log, const uint8_t *ccel, size_t ccel_len, struct buf *out,
                         errbuf *err);
int evidence_tdx_json(const uint8_t *quote, size_t quote_len, const void *eventlog, size_t n, json_t **ret);
/* All of it: the measurement log at log_path, the CCEL, a quote over report_data (configfs-tsm). */
int evidence_tdx(const char *log_path, const uint8_t report_data[static KBS_REPORT_DATA_SIZE], json_t **ret,
                 errbuf *err);
