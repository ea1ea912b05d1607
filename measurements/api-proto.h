/* SPDX-License-Identifier: MIT */
/* The workload attestation API's protocol (docs/api.md), shared by cvminit (agent/api-handlers.c)
 * and the verifier (cvmtool evidence verify):
 *
 *   report_data = SHA-384("cvminit/api/evidence/v1" || 0x00 || nonce)          48 bytes
 *
 * for a caller's nonce of 1..64 bytes. It is used exactly as the KBS report_data is (DESIGN §4):
 * TDX REPORTDATA = report_data || 16 zero bytes, the TPM quote's qualifying data = its first 32
 * bytes. The KBS preimage is a JCS object and starts with '{'; this one starts with the context
 * string, so no API answer can stand in for KBS evidence, nor the other way round.
 *
 * And the strict reading of the API's inputs: the nonce (hex), and the body of POST /v1/extend,
 * {"operation":"NAME","content":{...}}, which is itself the content of the `app` event. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define API_EVIDENCE_CONTEXT "cvminit/api/evidence/v1"
#define API_REPORT_DATA_SIZE 48U
#define API_TPM_QUALIFYING_SIZE 32U
#define API_NONCE_MIN 1U
#define API_NONCE_MAX 64U
/* The largest request body the API reads (POST /v1/extend). */
#define API_BODY_MAX (64U * 1024U)
/* The operation of every runtime event (DESIGN §3); the workload's own name is inside its content. */
#define API_APP_OPERATION "app"

/* report_data for nonce (API_NONCE_MIN..API_NONCE_MAX bytes; -EINVAL otherwise). */
int api_report_data(const uint8_t *nonce, size_t n, uint8_t out[static API_REPORT_DATA_SIZE]);

/* A nonce given as hex: 2..128 digits, an even count, either case, nothing else. Returns the byte
 * count or -EINVAL. */
int api_nonce_parse(const char *hex, size_t len, uint8_t out[static API_NONCE_MAX]);

/* The body of POST /v1/extend: one JSON object (at most API_BODY_MAX bytes, duplicate keys refused)
 * with exactly "operation" (1..64 of [A-Za-z0-9._:/-], event.h's token rule) and "content" (an
 * object), whose canonical form (JCS) is possible (integers only, nesting at most JCS_MAX_DEPTH).
 * *ret is that object, the `app` event's content. -EBADMSG with err saying what is wrong (untrusted
 * text escaped), -EFBIG over the size limit, -ENOMEM. */
int api_app_content_parse(const char *body, size_t n, json_t **ret, errbuf *err);
