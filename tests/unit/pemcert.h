/* SPDX-License-Identifier: MIT */
/* Test helper: the first certificate of a PEM file, read with OpenSSL, and the SHA-256 of its DER
 * computed by OpenSSL (a certificate fingerprint made outside the code under test). Needs cmocka.h
 * before it. Header-only, for the tests. */
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>

/* The caller frees the certificate with X509_free. */
static inline X509 *pemcert_read(const char *path, uint8_t sha256[32]) {
        FILE *f = fopen(path, "re");
        unsigned char *der = NULL;
        X509 *x;
        int n;

        assert_non_null(f);
        x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        assert_non_null(x);
        n = i2d_X509(x, &der);
        assert_true(n > 0);
        assert_int_equal(EVP_Digest(der, (size_t) n, sha256, NULL, EVP_sha256(), NULL), 1);
        OPENSSL_free(der);
        return x;
}
