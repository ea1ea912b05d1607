/* SPDX-License-Identifier: MIT */
/* The KBS client (DESIGN §4; docs/kbs-client.md): the RCAR exchange with the key broker over
 * HTTPS (libcurl), TPM evidence bound to the broker's nonce and an ephemeral key, and the
 * resource — the disk key — received as a JWE and returned in locked memory.
 *
 *   POST URL/kbs/v0/auth      {"version":"0.4.0","tee":"tpm","extra-params":""} -> nonce, cookie
 *   POST URL/kbs/v0/attest    {"runtime-data":{"nonce","tee-pubkey"},"tee-evidence":{...}}
 *   GET  URL/kbs/v0/resource/REPO/TYPE/TAG                                       -> JWE
 *
 * Transport: https only; the one CA of the config is the only trust anchor (no system CAs), the
 * host name is checked against the certificate, no proxy from the environment, no redirects; each
 * request has the config's timeout; responses are limited to KBS_RESPONSE_MAX bytes. The session
 * cookie lives in the handle of one exchange.
 *
 * Failures: transport errors (connection refused or reset, timeout, TLS handshake, DNS) and HTTP
 * 5xx, 408 and 429 start the whole exchange again — new session, nonce, key and quote — after
 * retry_delay_ms × 2^k (at most KBS_BACKOFF_MAX_MS), at most `retries` times. A denial (401/403),
 * any other 4xx, a response we cannot use and a JWE that does not decrypt end it at once. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cel.h"
#include "config.h"
#include "mr.h"
#include "util.h"

#define KBS_RESPONSE_MAX (1U << 20)
/* The resource is a disk key: anything longer is not one. */
#define KBS_KEY_MAX 8192U
#define KBS_BACKOFF_MAX_MS 30000U

/* Extends the `key-provider` event (config_kbs_event_content) into w (the boot's measure step, before any request is made). */
int kbs_measure_provider(const struct config_kbs *k, struct cel_writer *w, errbuf *err);

/* Runs the exchange with the retries above. The evidence (TDX if mr is the tdx backend's RTMR3,
 * else TPM) comes from mr and the measurement log at log_path. On success *ret holds the resource (1..KBS_KEY_MAX bytes) in locked memory: the
 * caller wipes and frees it with secret_free. err names the step (auth, attest, resource,
 * evidence) and, for a refusal, the broker's error type and detail (escaped):
 * -EACCES denied, -ENOENT no such resource, -EPROTO/-EBADMSG an unusable answer, -EKEYREJECTED a
 * JWE that does not decrypt, transport errors as negative errno (-ECONNREFUSED, -ETIMEDOUT, ...). */
int kbs_fetch_key(const struct config_kbs *k, struct mr *mr, const char *log_path, uint8_t **ret,
                  size_t *ret_len, errbuf *err);

/* Parsers of the broker's answers (exported for tests and fuzzing). The auth response's nonce:
 * 1..KBS_NONCE_MAX printable ASCII characters (copied to *ret). */
int kbs_parse_auth_response(const char *body, size_t n, char **ret, errbuf *err);
/* A Trustee error body {"type":".../errors/<Variant>","detail":"..."} as "Variant: detail" (escaped,
 * capped); "" if body is not one. */
void kbs_describe_error(const char *body, size_t n, char *out, size_t size);
/* Delay before retry number k (0-based). */
uint64_t kbs_backoff_ms(uint64_t delay_ms, unsigned k);
