/* SPDX-License-Identifier: MIT */
/* The parts of the KBS protocol (RCAR, DESIGN §4) that client and server must compute alike: TEE
 * names, the tee-pubkey JWK's shape, the report_data binding
 *     report_data = SHA-384(JCS({"additional-evidence":"","nonce":NONCE,"tee-pubkey":JWK}))
 * and strict parsers of the auth and attest request bodies (every member required, no unknown
 * members, sizes limited), for the broker and for fuzzing. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "util.h"

#define KBS_PROTOCOL_VERSION "0.4.0"
#define KBS_ERROR_TYPE_PREFIX "https://github.com/confidential-containers/kbs/errors/"
#define KBS_SESSION_COOKIE "kbs-session-id"
#define KBS_REPORT_DATA_SIZE 48U
#define KBS_TPM_QUALIFYING_SIZE 32U
#define KBS_NONCE_BYTES 32U
#define KBS_NONCE_MAX 256U
/* A request body the protocol never needs to exceed (evidence with a long event log). */
#define KBS_BODY_MAX (1U << 20)

enum kbs_tee {
        KBS_TEE_TPM,
        KBS_TEE_TDX,
        _KBS_TEE_MAX,
        _KBS_TEE_INVALID = -EINVAL,
};

/* "tpm", "tdx" */
const char *kbs_tee_name(enum kbs_tee t);
int kbs_tee_from_name(const char *s);

enum kbs_jwk_kind {
        KBS_JWK_EC_P256, /* {"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x","y"} */
        KBS_JWK_RSA,     /* {"kty":"RSA","alg":"RSA-OAEP-256","n","e"}, 2048..4096 bits */
};

/* Checks the shape of a tee-pubkey: exactly the members above, base64url without padding, EC
 * coordinates 32 bytes, RSA modulus 256..512 bytes without leading zero. Whether the point lies on
 * the curve is left to the code that imports it. Returns the kind or -EINVAL with err set. */
int kbs_proto_jwk_check(const json_t *jwk, errbuf *err);

/* Fills out with report_data for nonce and jwk; -EINVAL for a value JCS refuses. */
int kbs_proto_report_data(const char *nonce, const json_t *jwk, uint8_t out[static KBS_REPORT_DATA_SIZE]);

/* POST /kbs/v0/auth {"version":"0.4.x","tee":"tpm"|"tdx","extra-params":""|{...}}: returns the TEE
 * or -EBADMSG (-EPROTONOSUPPORT for another protocol version) with err set. */
int kbs_proto_auth_parse(const char *body, size_t n, errbuf *err);

/* POST /kbs/v0/attest
 *   {"runtime-data":{"nonce":N,"tee-pubkey":JWK},
 *    "tee-evidence":{"primary_evidence":{...},"additional_evidence":""}}
 * The pointers point into root. */
struct kbs_attest_request {
        json_t *root;
        const char *nonce;
        const json_t *tee_pubkey;
        enum kbs_jwk_kind jwk_kind;
        const json_t *primary_evidence;
};

/* -EBADMSG with err set for anything not of that shape (including unsupported additional evidence),
 * -EFBIG over KBS_BODY_MAX. */
int kbs_proto_attest_parse(const char *body, size_t n, struct kbs_attest_request *ret, errbuf *err);
void kbs_attest_request_done(struct kbs_attest_request *r);

/* Parses body as one JSON object (duplicates rejected, n <= KBS_BODY_MAX); -EBADMSG with the
 * position of a syntax error. */
int kbs_proto_json_object(const char *body, size_t n, json_t **ret, errbuf *err);
/* Checks that object o has no members other than the NULL-terminated names; -EBADMSG naming the
 * first unknown one (escaped) with what as the object's name. */
int kbs_proto_only_members(const json_t *o, const char *what, const char *const *names, errbuf *err);
