/* SPDX-License-Identifier: MIT */
/* Model manifest bytes (DESIGN §3) against expected JCS text written out by hand from the FIPS 180
 * vectors sha256("abc"), sha256(""), sha512("abc"), sha512(""); the manifest digest is checked
 * with a separate EVP call over that text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "manifest.h"

#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA512_ABC                                                                                            \
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd" \
        "454d4423643ce80e2a9ac94fa54ca49f"
#define SHA512_EMPTY                                                                                          \
        "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f" \
        "63b931bd47417a81a538327af927da3e"

static void small_tree(void) {
        put("a/b", "");
        put("a-c", "abc");
        put("q\"\\x", "abc");
        put("c\x01", "");
        put("\xc3\xa9", "");
}

/* Builds the manifest into memory and checks text, digest and counts. */
static void expect_manifest(enum hash_alg alg, unsigned jobs, const char *expected, uint64_t files, uint64_t bytes) {
        struct hash_options o = { .alg = alg, .jobs = jobs };
        struct manifest_info info = {};
        uint8_t d[EVP_MAX_MD_SIZE];
        unsigned dlen = 0;
        char *text = NULL;
        size_t len = 0;
        errbuf err = {};
        FILE *f = open_memstream(&text, &len);

        assert_non_null(f);
        if (manifest_build(tmpdir, &o, f, &info, &err) != 0)
                fail_msg("manifest_build: %s", err.msg);
        fclose(f);
        assert_string_equal(text, expected);
        assert_int_equal(len, strlen(expected));
        free(text);

        assert_int_equal(EVP_Digest(expected, strlen(expected), d, &dlen, hash_alg_md(alg), NULL), 1);
        assert_int_equal(info.alg, alg);
        assert_memory_equal(info.digest, d, dlen);
        assert_int_equal(info.files, files);
        assert_int_equal(info.bytes, bytes);

        /* Without an output, the same digest. */
        memset(&info, 0, sizeof(info));
        assert_int_equal(manifest_build(tmpdir, &o, NULL, &info, &err), 0);
        assert_memory_equal(info.digest, d, dlen);
}

static void test_sha256(void **state) {
        static const char expected[] =
                "{\"alg\":\"sha256\",\"files\":["
                "{\"digest\":\"" SHA256_ABC "\",\"path\":\"a-c\",\"size\":3},"
                "{\"digest\":\"" SHA256_EMPTY "\",\"path\":\"a/b\",\"size\":0},"
                "{\"digest\":\"" SHA256_EMPTY "\",\"path\":\"c\\u0001\",\"size\":0},"
                "{\"digest\":\"" SHA256_ABC "\",\"path\":\"q\\\"\\\\x\",\"size\":3},"
                "{\"digest\":\"" SHA256_EMPTY "\",\"path\":\"\xc3\xa9\",\"size\":0}"
                "]}";
        (void) state;
        small_tree();
        expect_manifest(HASH_SHA256, 1, expected, 5, 6);
        expect_manifest(HASH_SHA256, 4, expected, 5, 6);
}

static void test_sha512(void **state) {
        static const char expected[] =
                "{\"alg\":\"sha512\",\"files\":["
                "{\"digest\":\"" SHA512_ABC "\",\"path\":\"a-c\",\"size\":3},"
                "{\"digest\":\"" SHA512_EMPTY "\",\"path\":\"a/b\",\"size\":0},"
                "{\"digest\":\"" SHA512_EMPTY "\",\"path\":\"c\\u0001\",\"size\":0},"
                "{\"digest\":\"" SHA512_ABC "\",\"path\":\"q\\\"\\\\x\",\"size\":3},"
                "{\"digest\":\"" SHA512_EMPTY "\",\"path\":\"\xc3\xa9\",\"size\":0}"
                "]}";
        (void) state;
        small_tree();
        expect_manifest(HASH_SHA512, 2, expected, 5, 6);
}

static void test_empty(void **state) {
        (void) state;
        expect_manifest(HASH_SHA256, 0, "{\"alg\":\"sha256\",\"files\":[]}", 0, 0);
}

static void test_not_utf8(void **state) {
        struct hash_options o = { .alg = HASH_SHA256 };
        struct manifest_info info = {};
        errbuf err = {};

        (void) state;
        put("ok", "abc");
        put("sub/bad\xff", "abc");
        assert_int_equal(manifest_build(tmpdir, &o, NULL, &info, &err), -EILSEQ);
        if (!strstr(err.msg, "/sub/bad\\xff: file name is not valid UTF-8"))
                fail_msg("unexpected message: %s", err.msg);
}

static void test_symlink_refused(void **state) {
        struct hash_options o = { .alg = HASH_SHA256 };
        struct manifest_info info = {};
        errbuf err = {};
        char link[4096];

        (void) state;
        put("ok", "abc");
        snprintf(link, sizeof(link), "%s/weights", tmpdir);
        assert_int_equal(symlink("/etc/passwd", link), 0);
        assert_int_equal(manifest_build(tmpdir, &o, NULL, &info, &err), -ELOOP);
        assert_non_null(strstr(err.msg, "/weights: symbolic link, refused"));
}

/* Nothing is written when the directory cannot be opened. */
static void test_not_a_directory(void **state) {
        struct hash_options o = { .alg = HASH_SHA256 };
        struct manifest_info info = {};
        errbuf err = {};
        char *text = NULL, path[4096];
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);

        (void) state;
        put("file", "abc");
        snprintf(path, sizeof(path), "%s/file", tmpdir);
        assert_int_equal(manifest_build(path, &o, f, &info, &err), -ENOTDIR);
        fclose(f);
        assert_int_equal(len, 0);
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_sha256, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_sha512, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_empty, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_not_utf8, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_symlink_refused, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_not_a_directory, tmptree_setup, tmptree_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
