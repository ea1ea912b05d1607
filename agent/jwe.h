/* SPDX-License-Identifier: MIT */
/* The ephemeral key of one KBS exchange and the JWE it receives (DESIGN §4 steps 2 and 5; RFC 7516
 * flattened JSON serialization, RFC 7518 §4.6 ECDH-ES+A256KW, §5.3 A256GCM), with libjose.
 *
 * The key is a fresh EC P-256 key; its private part lives in locked memory (secret.h) and is
 * wiped by jwe_key_free. The JWE is checked before libjose sees it: exactly the members
 * protected, encrypted_key, iv, ciphertext, tag; the protected header {"alg":"ECDH-ES+A256KW",
 * "enc":"A256GCM","epk":{P-256 public key}} (other members allowed except "zip" and "crit"); the
 * exact sizes of the wrapped key (40), IV (12) and tag (16 bytes); strict base64url everywhere.
 * The protected member's text, as received, is the AAD (RFC 7516 §5.2 step 14). RSA-OAEP-256 is
 * not accepted: this client only ever sends an EC key. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "util.h"

#define JWE_TEXT_MAX (64U * 1024U)
#define JWE_HEADER_MAX 4096U
#define JWE_ALG "ECDH-ES+A256KW"
#define JWE_ENC "A256GCM"

struct jwe_key;

/* A fresh key. -ENOMEM also when there is no locked memory (secret_init). */
int jwe_key_new(struct jwe_key **ret, errbuf *err);
/* The tee-pubkey JWK {"kty":"EC","crv":"P-256","alg":"ECDH-ES+A256KW","x","y"} (borrowed; lives
 * as long as the key). */
const json_t *jwe_key_public(const struct jwe_key *k);
void jwe_key_free(struct jwe_key *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct jwe_key *, jwe_key_free);

/* Decrypts the flattened JWE in text (n bytes). The plaintext (1..max bytes) is returned in locked
 * memory: the caller frees it with secret_free. -EBADMSG: not a JWE of the accepted shape (err says
 * which member); -EKEYREJECTED: it does not decrypt with this key (wrong key, or any part
 * tampered with); -EFBIG: text or plaintext over the limits. */
int jwe_decrypt(const struct jwe_key *k, const char *text, size_t n, size_t max, uint8_t **ret,
                size_t *ret_len, errbuf *err);
