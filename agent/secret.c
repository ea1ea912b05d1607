/* SPDX-License-Identifier: MIT */
/* Locked memory for secrets (secret.h; DESIGN §5). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "secret.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECRET_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SECRET_ASAN 1
#endif
#ifdef SECRET_ASAN
#include <sanitizer/lsan_interface.h>
#endif

/* Smallest block of the secure heap (a power of two). */
#define SECRET_MIN_BLOCK 16U

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = -ENOMEM;
static _Thread_local unsigned json_section;

static void *json_alloc(size_t n) {
        if (json_section > 0)
                return OPENSSL_secure_malloc(n);
        return malloc(n);
}

/* Every free of a block from the secure heap goes back there, wiped: jansson may free an object
 * made inside a section long after it ended. */
static void json_free(void *p) {
        if (!p)
                return;
        if (CRYPTO_secure_allocated(p))
                OPENSSL_secure_free(p);
        else
                free(p);
}

static void init_heap(void) {
        int r = 1;

        /* Someone else (a library) may have set it up already; it is then theirs to size. */
        if (!CRYPTO_secure_malloc_initialized())
                r = CRYPTO_secure_malloc_init(SECRET_HEAP_SIZE, SECRET_MIN_BLOCK);
        if (r == 0) {
                init_result = -ENOMEM;
                return;
        }
        init_result = r == 2 ? 1 : 0;
        json_set_alloc_funcs(json_alloc, json_free);
        /* OpenSSL now keeps its DRBGs' state here, and LeakSanitizer does not scan this heap:
         * what that state points to would be reported as leaked. Sanitizer builds make this
         * thread's DRBGs now, with leak reports off for them; other builds when first needed. */
#ifdef SECRET_ASAN
        uint8_t b;
        __lsan_disable();
        (void) RAND_priv_bytes(&b, 1);
        (void) RAND_bytes(&b, 1);
        __lsan_enable();
#endif
}

int secret_init(void) {
        (void) pthread_once(&init_once, init_heap);
        return init_result;
}

void *secret_alloc(size_t n) {
        if (secret_init() < 0 || n == 0)
                return NULL;
        return OPENSSL_secure_zalloc(n);
}

void secret_free(void *p) {
        if (!p)
                return;
        /* OPENSSL_secure_clear_free wipes the whole block whatever size is passed. */
        OPENSSL_secure_clear_free(p, 0);
}

void secret_json_begin(void) {
        json_section++;
}

void secret_json_end(void) {
        if (json_section > 0)
                json_section--;
}
