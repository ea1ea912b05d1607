/* SPDX-License-Identifier: MIT */
/* kbs-jwe-enc JWK-FILE PLAINTEXT-FILE: prints a flattened JWE (ECDH-ES+A256KW, A256GCM) of the
 * plaintext to the EC P-256 public JWK, made by the independent producer of jwe-producer.h. The
 * fake broker of tests/integration/test-kbs-client.sh answers resource requests with it. Test
 * scaffolding only. Exit 0, or 1 with a message. */
#include <jansson.h>
#include <stdio.h>

#include "jwe-producer.h"

int main(int argc, char **argv) {
        uint8_t pt[4096];
        json_t *jwk;
        FILE *f;
        size_t n;
        char *jwe;

        if (argc != 3) {
                fprintf(stderr, "usage: kbs-jwe-enc JWK-FILE PLAINTEXT-FILE\n");
                return 1;
        }
        jwk = json_load_file(argv[1], 0, NULL);
        f = fopen(argv[2], "rbe");
        if (!jwk || !f) {
                fprintf(stderr, "kbs-jwe-enc: cannot read %s\n", jwk ? argv[2] : argv[1]);
                return 1;
        }
        n = fread(pt, 1, sizeof(pt), f);
        fclose(f);
        jwe = prod_encrypt(json_string_value(json_object_get(jwk, "x")) ?: "",
                           json_string_value(json_object_get(jwk, "y")) ?: "", pt, n, NULL);
        json_decref(jwk);
        if (!jwe) {
                fprintf(stderr, "kbs-jwe-enc: cannot encrypt (1..4096 bytes to an EC P-256 JWK)\n");
                return 1;
        }
        fputs(jwe, stdout);
        free(jwe);
        return 0;
}
