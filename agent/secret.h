/* SPDX-License-Identifier: MIT */
/* Locked memory for secrets (DESIGN §5): the disk key and the ephemeral private key live only in
 * OpenSSL's secure heap — one mmap'd arena, mlock'ed, excluded from core dumps (MADV_DONTDUMP),
 * guard pages around it, every block wiped when freed.
 *
 * libjose keeps keys as JSON (the private JWK's "d", the CEK's "k" are jansson strings), so
 * secret_init() also installs jansson allocation hooks: between secret_json_begin() and
 * secret_json_end() (per thread), jansson allocates from the secure heap; a block from there is
 * wiped and returned there whenever jansson frees it, inside a section or not. Outside sections
 * jansson uses plain malloc/free as before. */
#pragma once

#include <stddef.h>

#include "cleanup.h"

/* Power of two (OpenSSL's rule); holds the JWKs, the CEK, the JWE header objects and the key. */
#define SECRET_HEAP_SIZE (256U * 1024U)

/* Idempotent. Returns 0 when the heap is locked, 1 when it works but could not be locked (mlock
 * refused: RLIMIT_MEMLOCK without CAP_IPC_LOCK), -ENOMEM when there is no secure heap at all. */
int secret_init(void);

/* n bytes of zeroed locked memory (secret_init first); NULL on failure. */
void *secret_alloc(size_t n);
/* Wipes and frees memory from secret_alloc (NULL is fine). */
void secret_free(void *p);
static inline void secret_freep(void *p) {
        secret_free(*(void **) p);
}
#define _cleanup_secret_ _cleanup_(secret_freep)

/* Sections nest; begin/end must pair on one thread. */
void secret_json_begin(void);
void secret_json_end(void);
