/* SPDX-License-Identifier: MIT */
/* What the KBS client (agent/kbs.c, agent/jwe.c) reads from a broker: the auth answer, error
 * bodies, and the resource JWE, decrypted with an ephemeral key. Any bytes are refused with a
 * message or (auth) give a nonce of printable ASCII within the limit; a JWE never decrypts (the
 * key is fresh); no crash, leak or unbounded allocation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jwe.h"
#include "kbs-proto.h"
#include "kbs.h"
#include "secret.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jwe_key *key;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        char *nonce = NULL, why[512];
        uint8_t *pt = NULL;
        size_t n = 0;

        if (!key && jwe_key_new(&key, NULL) < 0)
                abort();
        if (kbs_parse_auth_response(text, size, &nonce, NULL) == 0) {
                if (strlen(nonce) == 0 || strlen(nonce) > KBS_NONCE_MAX)
                        abort();
                free(nonce);
        }
        kbs_describe_error(text, size, why, sizeof(why));
        if (strlen(why) >= sizeof(why))
                abort();
        /* A fresh key: nothing the fuzzer makes can decrypt (and the tag check must say so). */
        if (jwe_decrypt(key, text, size, KBS_KEY_MAX, &pt, &n, NULL) == 0)
                abort();
        if (pt)
                abort();
        return 0;
}
