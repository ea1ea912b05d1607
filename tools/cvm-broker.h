/* SPDX-License-Identifier: MIT */
/* cvm-broker (DESIGN §4, §7; docs/broker.md): the reference KBS server. Modules:
 *   cvm-broker-jwe.c      release: the resource as a flattened JWE for the session's tee-pubkey
 *   cvm-broker-session.c  sessions: id, nonce (used once), expiry, the verified claims
 *   cvm-broker-core.c     the protocol: one request in, one response out (no I/O but the key
 *                         directory and the audit log), so tests and fuzzing need no network
 *   cvm-broker-http.c     libmicrohttpd with TLS around the core
 *   cvm-broker.c          command line */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "kbs-proto.h"
#include "policy.h"
#include "util.h"

#define BROKER_RESOURCE_MAX (64U << 10)
#define BROKER_SESSION_TTL_DEFAULT_S 300U
#define BROKER_SESSIONS_DEFAULT 10000U
#define BROKER_SESSIONS_MAX 1000000U
#define BROKER_SESSION_ID_LEN 32U /* hex of 16 random bytes */

/* ---- JWE (RFC 7516 flattened JSON; RFC 7518 §4.6 ECDH-ES+A256KW, §4.3 RSA-OAEP-256, §5.3 A256GCM) ---- */

/* Encrypts plaintext to jwk (checked by kbs_proto_jwk_check) and returns the flattened JWE
 * {"protected","encrypted_key","iv","ciphertext","tag"} as compact JSON. The protected header is
 * {"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":"P-256","kty":"EC","x":..,"y":..}} (members
 * in exactly that order) or {"alg":"RSA-OAEP-256","enc":"A256GCM"}. -EINVAL: unusable key. */
int broker_jwe_encrypt(const json_t *jwk, const uint8_t *plaintext, size_t n, char **ret, errbuf *err);

/* ---- sessions ---- */

struct session;
struct session_table;

int session_table_new(unsigned max, uint64_t ttl_ms, struct session_table **ret);
void session_table_free(struct session_table *t);
/* Creates a session for tee with a fresh nonce; returns it referenced. -EBUSY: table full of
 * unexpired sessions. */
int session_create(struct session_table *t, enum kbs_tee tee, struct session **ret);
/* Finds a session by id: referenced. -ENOENT unknown, -ETIMEDOUT expired (and removed). */
int session_lookup(struct session_table *t, const char *id, struct session **ret);
void session_unref(struct session_table *t, struct session *s);
const char *session_id(const struct session *s);
const char *session_nonce(const struct session *s);
enum kbs_tee session_tee(const struct session *s);
/* Marks the nonce used; -EALREADY if it was. Called before any evidence is looked at. */
int session_use_nonce(struct session_table *t, struct session *s);
/* Stores the verified claims and tee-pubkey (taken over); the session is then attested. */
int session_set_attested(struct session_table *t, struct session *s, struct claims *c, json_t *tee_pubkey);
/* The claims and key of an attested session (valid while the reference is held); -EACCES if it
 * has not attested. */
int session_attested(struct session_table *t, struct session *s, const struct claims **c, const json_t **jwk);
unsigned session_count(struct session_table *t);

/* ---- the protocol ---- */

struct broker_options {
        const char *keys_dir;
        int audit_fd;          /* -1: no audit (tests only) */
        unsigned max_sessions; /* 0: BROKER_SESSIONS_DEFAULT */
        uint64_t session_ttl_ms;
};

struct broker;

/* Takes over policy. */
int broker_new(const struct broker_options *o, struct policy *policy, struct broker **ret);
void broker_free(struct broker *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct broker *, broker_free);

struct broker_request {
        const char *method;
        const char *path;   /* the URL path, unescaped */
        const char *cookie; /* the kbs-session-id cookie's value, or NULL */
        const char *peer;   /* "127.0.0.1:PORT", for the audit log */
        const char *body;
        size_t body_len;
        bool body_too_large; /* the body was over KBS_BODY_MAX and not kept */
};

struct broker_response {
        unsigned status;
        char *body; /* JSON, malloc'd */
        size_t body_len;
        char set_cookie[128]; /* "" for none */
};

/* Handles one request; always fills resp (errors as Trustee-style JSON bodies). */
void broker_handle(struct broker *b, const struct broker_request *req, struct broker_response *resp);
void broker_response_done(struct broker_response *resp);

/* ---- HTTP ---- */

struct broker_http_options {
        const char *listen;       /* "127.0.0.1:8443", "[::1]:8443" */
        const char *cert_pem, *key_pem;
        unsigned threads;
        unsigned timeout_s;       /* idle connection timeout */
        unsigned max_connections;
};

struct broker_http;

int broker_http_start(struct broker *b, const struct broker_http_options *o, struct broker_http **ret,
                      errbuf *err);
/* The port actually bound (for "PORT" 0). */
unsigned broker_http_port(const struct broker_http *h);
void broker_http_stop(struct broker_http *h);
