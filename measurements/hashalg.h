/* SPDX-License-Identifier: MIT */
/* Hash algorithms known to the measurement code, with their names (as in logs), TPM algorithm ids
 * (TCG Algorithm Registry) and OpenSSL EVP implementations. */
#pragma once

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

enum hash_alg {
        HASH_SHA1,
        HASH_SHA256,
        HASH_SHA384,
        HASH_SHA512,
        HASH_SM3_256,
        _HASH_ALG_MAX,
        _HASH_ALG_INVALID = -EINVAL,
};

#define HASH_MAX_SIZE 64

struct digest {
        enum hash_alg alg;
        uint8_t d[HASH_MAX_SIZE];
};

/* "sha1", "sha256", "sha384", "sha512", "sm3_256" */
const char *hash_alg_name(enum hash_alg alg);
/* Accepts the names above and the spellings "SHA-256", "SHA256" (any case); -EINVAL otherwise. */
int hash_alg_from_name(const char *name);
size_t hash_alg_size(enum hash_alg alg);
uint16_t hash_alg_tpm_id(enum hash_alg alg);
/* -EOPNOTSUPP for an id we cannot compute. */
int hash_alg_from_tpm_id(uint16_t id);
const EVP_MD *hash_alg_md(enum hash_alg alg);

/* One-shot hash; returns the digest size or a negative errno. */
int hash_buffer(enum hash_alg alg, const void *p, size_t n, uint8_t out[static HASH_MAX_SIZE]);
/* reg = H(reg || digest), the extend operation of PCRs and RTMRs. */
int hash_extend(enum hash_alg alg, uint8_t reg[static HASH_MAX_SIZE], const uint8_t *digest);
