/* SPDX-License-Identifier: MIT */
/* Verification of TDX evidence as DESIGN §4 sends it (the broker's side of TDX attestation):
 *
 *   {"quote":"<b64 TDX quote v4/v5>","cc_eventlog":"<b64 TCG2 log>"}
 *
 * The quote (tdx-quote.h) passes all five checks: its signature by the attestation key, the QE
 * report's binding of that key and signature by the PCK leaf, the PCK chain to one of the given
 * trusted roots at the given time, and report_data = the session's 48 bytes || 16 zero bytes
 * (DESIGN §4 step 3), and the TD is not a DEBUG TD (its host could read any secret it gets).
Intel's collateral (TCB status) is not evaluated. Then the cc_eventlog
 * (tcg2.h; DESIGN §3): the firmware's CCEL events at CC MR indexes 1..3 and ours at index 4, every
 * extended event at one of those, replaying in SHA-384 to the quote's RTMR0..RTMR3 — all four; the
 * firmware's events are only replayed, each event at index 4 must be an AAEL event tag whose
 * digests match its data (verify-common.h). Claims: tee tdx, the root the chain ended in, the
 * registers "mrtd", "rtmr0".."rtmr3" (sha384) from the quote body, the index 4 events, log_mr
 * "rtmr3". */
#pragma once

#include <jansson.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <time.h>

#include "kbs-proto.h"
#include "policy.h"
#include "util.h"

/* As tdx-quote.h's TDX_QUOTE_MAX (not included here: the simulator's header has its own). */
#define TDX_EVIDENCE_QUOTE_MAX (64U * 1024U)
#define TDX_EVENTLOG_MAX KBS_BODY_MAX
#define TDX_EVIDENCE_RTMRS 4U
#define TDX_EVIDENCE_MR_SIZE 48U

/* Checks a cc_eventlog against the quoted RTMR0..3 and sets claims->events (index 4 only) and
 * ->log_mr ("rtmr3"). -EBADMSG malformed (also: an extended event at MRTD or beyond RTMR3, an
 * event at RTMR3 that is not AAEL, no SHA-384 digests), -EPERM does not replay or an event's digests
 * are not those of its data; err says which. */
int tdx_eventlog_verify(const uint8_t *p, size_t n,
                        const uint8_t rtmr[TDX_EVIDENCE_RTMRS][TDX_EVIDENCE_MR_SIZE], struct claims *c,
                        errbuf *err);

/* The whole evidence, as above: roots are the trust anchors (policy_tdx_roots), now the time the
 * certificates must be valid at (0: the current time). Returns 0 with ret filled, -EBADMSG for
 * malformed evidence (JSON shape, base64, sizes, the quote's or log's format), -EPERM for evidence
 * that does not verify: err then names the failed quote check ("quote-signature", "pck-chain",
 * "report-data", ...) or the register that does not replay; -ENOMEM. */
int tdx_evidence_verify(const json_t *evidence, const uint8_t report_data[static KBS_REPORT_DATA_SIZE],
                        const STACK_OF(X509) *roots, time_t now, struct claims *ret, errbuf *err);
