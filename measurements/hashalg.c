/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "hashalg.h"

static const struct {
        const char *name, *alt;
        size_t size;
        uint16_t tpm_id;
} algs[_HASH_ALG_MAX] = {
        [HASH_SHA1] = { "sha1", "SHA-1", 20, 0x0004 },
        [HASH_SHA256] = { "sha256", "SHA-256", 32, 0x000B },
        [HASH_SHA384] = { "sha384", "SHA-384", 48, 0x000C },
        [HASH_SHA512] = { "sha512", "SHA-512", 64, 0x000D },
        [HASH_SM3_256] = { "sm3_256", "SM3-256", 32, 0x0012 },
};

static int valid(enum hash_alg alg) {
        return alg >= 0 && alg < _HASH_ALG_MAX;
}

const char *hash_alg_name(enum hash_alg alg) {
        return valid(alg) ? algs[alg].name : NULL;
}

int hash_alg_from_name(const char *name) {
        if (!name)
                return -EINVAL;
        for (int i = 0; i < _HASH_ALG_MAX; i++) {
                const char *alt = algs[i].alt;
                char compact[16];
                size_t k = 0;

                /* "SHA256" is "SHA-256" without the dash. */
                for (const char *p = alt; *p && k < sizeof(compact) - 1; p++)
                        if (*p != '-')
                                compact[k++] = *p;
                compact[k] = 0;
                if (strcasecmp(name, algs[i].name) == 0 || strcasecmp(name, alt) == 0 ||
                    strcasecmp(name, compact) == 0)
                        return i;
        }
        return -EINVAL;
}

size_t hash_alg_size(enum hash_alg alg) {
        return valid(alg) ? algs[alg].size : 0;
}

uint16_t hash_alg_tpm_id(enum hash_alg alg) {
        return valid(alg) ? algs[alg].tpm_id : 0;
}

int hash_alg_from_tpm_id(uint16_t id) {
        for (int i = 0; i < _HASH_ALG_MAX; i++)
                if (algs[i].tpm_id == id)
                        return i;
        return -EOPNOTSUPP;
}

const EVP_MD *hash_alg_md(enum hash_alg alg) {
        switch (alg) {
        case HASH_SHA1:
                return EVP_sha1();
        case HASH_SHA256:
                return EVP_sha256();
        case HASH_SHA384:
                return EVP_sha384();
        case HASH_SHA512:
                return EVP_sha512();
        case HASH_SM3_256:
                return EVP_get_digestbyname("SM3");
        default:
                return NULL;
        }
}

int hash_buffer(enum hash_alg alg, const void *p, size_t n, uint8_t out[static HASH_MAX_SIZE]) {
        const EVP_MD *md = hash_alg_md(alg);
        unsigned len = 0;

        if (!md)
                return -EOPNOTSUPP;
        if (EVP_Digest(p, n, out, &len, md, NULL) != 1)
                return -EIO;
        return (int) len;
}

int hash_extend(enum hash_alg alg, uint8_t reg[static HASH_MAX_SIZE], const uint8_t *digest) {
        uint8_t tmp[2 * HASH_MAX_SIZE];
        size_t n = hash_alg_size(alg);
        int r;

        if (n == 0)
                return -EINVAL;
        memcpy(tmp, reg, n);
        memcpy(tmp + n, digest, n);
        r = hash_buffer(alg, tmp, 2 * n, reg);
        return r < 0 ? r : 0;
}
