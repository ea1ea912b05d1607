/* SPDX-License-Identifier: MIT */
/* agent/verity.c on the host, where there is no device-mapper: verity_examine and
 * verity_check_pins on image files made by veritysetup (an independent implementation). The root
 * hash computed from one block equals the one veritysetup format printed, for trees of 0 to 3
 * levels, with and without salt, and the tree size equals veritysetup's "Hash blocks"; changed data
 * blocks do not change it (nothing but the superblock and the top hash block is read), a changed top
 * hash block does; unusual superblocks (sha512, hash type 0, 512-byte blocks, data reaching into
 * the hash area), a cut tree, no superblock at hash_offset are refused; a superblock that claims
 * fewer blocks or another root hash is a pin mismatch with the documented message; examining never
 * changes a byte. Activation and mounting run in the guest (tests/qemu/test-verity.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include "hashalg.h"
#include "verity.h"

/* Makes the images of case_ in tmpdir with tests/fixtures/verity/make-images.sh: veritysetup's mk
 * NAME BLOCKS writes BLOCKS data blocks of a fixed pattern (sparse zeros after the first 64 KiB), the
 * tree right after them, and NAME.root and NAME.hashblocks with what veritysetup printed. */
static void images(const char *case_) {
        tmptree_fixture_script("verity/make-images.sh", case_);
}

static bool have_veritysetup;

/* Every test needs the images: skipped (not failed) without veritysetup. */
static void need_images(void) {
        if (!have_veritysetup)
                skip();
}

static int setup(void **state) {
        tmptree_setup(state);
        /* images() skips when veritysetup is missing: in setup that would fail the group, so check first. */
        have_veritysetup = tmptree_have_program("veritysetup");
        if (!have_veritysetup)
                return 0;
        images("setup");
        return 0;
}

static struct config_model model(uint64_t blocks, uint64_t hash_offset) {
        return (struct config_model) { .name = (char *) "m", .mode = MODEL_MODE_VERITY, .path = (char *) "/models/m",
                                       .device = (char *) "SERIAL=x", .data_blocks = blocks,
                                       .hash_offset = hash_offset, .timeout_ms = 1000 };
}

static void read_text(const char *file, char *out, size_t n) {
        _cleanup_free_ uint8_t *p = NULL;
        size_t len = 0;

        assert_int_equal(read_file_limited(at(file), 4096, &p, &len), 0);
        while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == ' '))
                len--;
        assert_true(len < n);
        memcpy(out, p, len);
        out[len] = 0;
}

/* The root hash veritysetup printed for image name, as bytes. */
static void printed_root(const char *name, uint8_t out[32]) {
        char file[64], hex[128];

        snprintf(file, sizeof(file), "%s.root", name);
        read_text(file, hex, sizeof(hex));
        assert_int_equal(strlen(hex), 64);
        assert_int_equal(unhex(hex, 64, out, 32), 32);
}

static void digest_of(const char *file, uint8_t out[HASH_MAX_SIZE]) {
        _cleanup_free_ uint8_t *p = NULL;
        size_t n;

        assert_int_equal(read_file_limited(at(file), 96U << 20, &p, &n), 0);
        assert_int_equal(hash_buffer(HASH_SHA256, p, n, out), 32);
}

static int examine(const char *file, uint64_t blocks, struct verity_volume *v, errbuf *err) {
        struct config_model m = model(blocks, blocks * 4096);
        return verity_examine(&m, at(file), v, err);
}

/* name has blocks data blocks: the computed root hash and tree size are veritysetup's. */
static void check_good(const char *name, uint64_t blocks, unsigned levels) {
        struct config_model m = model(blocks, blocks * 4096);
        struct verity_volume v;
        uint8_t want[32], before[HASH_MAX_SIZE], after[HASH_MAX_SIZE];
        char hashblocks[32], file[64];
        errbuf err = {};
        int r;

        digest_of(name, before);
        r = verity_examine(&m, at(name), &v, &err);
        if (r != 0)
                fail_msg("%s: verity_examine returned %d (%s)", name, r, err.msg);
        printed_root(name, want);
        assert_memory_equal(v.root_hash, want, 32);
        assert_int_equal(v.data_blocks, blocks);
        assert_int_equal(v.levels, levels);
        snprintf(file, sizeof(file), "%s.hashblocks", name);
        read_text(file, hashblocks, sizeof(hashblocks));
        assert_int_equal(v.tree_blocks, strtoull(hashblocks, NULL, 10));
        assert_int_equal(v.hash_start, blocks + 1);
        memcpy(m.root_hash, want, 32);
        assert_int_equal(verity_check_pins(&m, &v, "DEV", &err), 0);
        digest_of(name, after);
        assert_memory_equal(before, after, 32);
}

static void test_good(void **state) {
        (void) state;
        need_images();
        check_good("one.img", 1, 0); /* no tree level: the root hash is the data block's */
        check_good("small.img", 16, 1);
        check_good("two.img", 200, 2); /* with a salt */
        check_good("three.img", 16385, 3);
}

static void expect_refused(const char *file, uint64_t blocks, uint64_t hash_offset, int want_r, const char *want_msg) {
        struct config_model m = model(blocks, hash_offset);
        struct verity_volume v;
        errbuf err = {};
        int r = verity_examine(&m, at(file), &v, &err);

        if (r != want_r)
                fail_msg("%s: verity_examine returned %d (%s), expected %d", file, r, err.msg, want_r);
        if (!strstr(err.msg, want_msg))
                fail_msg("%s: message '%s' does not contain '%s'", file, err.msg, want_msg);
}

static void test_refused(void **state) {
        (void) state;
        need_images();
        expect_refused("small.img", 16, 8 * 4096, -EMEDIUMTYPE, "no usable verity superblock at byte 32768 (hash_offset)");
        expect_refused("sha512.img", 16, 16 * 4096, -EPROTO, "its verity superblock names hash 'sha512', not sha256");
        expect_refused("type0.img", 16, 16 * 4096, -EPROTO, "hash type 0, not 1");
        expect_refused("b512.img", 16, 16 * 4096, -EPROTO, "512-byte data blocks and 4096-byte hash blocks, not 4096");
        expect_refused("missing.img", 16, 16 * 4096, -ENOENT, "cannot open it: No such file or directory");
        /* zero.img, cut.img (small.img less its last block), more.img (the superblock's data_blocks, a u64
         * at byte 72, raised to 17: the last one is the superblock). */
        images("refused");
        expect_refused("zero.img", 16, 16 * 4096, -EMEDIUMTYPE, "no usable verity superblock at byte 65536");
        expect_refused("cut.img", 16, 16 * 4096, -EUCLEAN,
                       "it has 69632 bytes, but its hash tree (1 block from byte 69632) ends at byte 73728: the volume is "
                       "cut short");
        expect_refused("more.img", 16, 16 * 4096, -EUCLEAN, "17 data blocks, which reach past the hash area at byte 65536");
}

static void test_mismatch(void **state) {
        struct config_model m = model(16, 16 * 4096);
        struct verity_volume v;
        uint8_t want[32];
        char hex[65], msg[400];
        errbuf err = {};

        (void) state;
        need_images();
        /* Another pinned root hash. */
        assert_int_equal(examine("small.img", 16, &v, &err), 0);
        printed_root("small.img", want);
        memcpy(m.root_hash, want, 32);
        m.root_hash[0] ^= 1;
        assert_int_equal(verity_check_pins(&m, &v, "SERIAL=x (/dev/vda)", &err), -EBADMSG);
        hex_encode(want, 32, hex);
        snprintf(msg, sizeof(msg), "verity root hash mismatch for model m on SERIAL=x (/dev/vda): the volume's hash tree "
                 "has root hash %s, the config pins %02x%s", hex, want[0] ^ 1, hex + 2);
        assert_string_equal(err.msg, msg);

        /* The superblock lowered to 8 data blocks: same top block, same root hash, a hidden end. */
        images("mismatch");
        assert_int_equal(examine("fewer.img", 16, &v, &err), 0);
        assert_int_equal(v.data_blocks, 8);
        assert_memory_equal(v.root_hash, want, 32);
        memcpy(m.root_hash, want, 32);
        assert_int_equal(verity_check_pins(&m, &v, "DEV", &err), -EBADMSG);
        assert_string_equal(err.msg, "verity data block count mismatch for model m on DEV: its superblock says 8 data "
                                     "blocks, the config pins 16");
}

/* O(1): a changed data block leaves the root hash as it was (the kernel finds it when it is read);
 * a changed top hash block changes it. */
static void test_tampered(void **state) {
        struct verity_volume v;
        uint8_t want[32];
        errbuf err = {};

        (void) state;
        need_images();
        printed_root("two.img", want);
        /* data.img: data block 150 changed; top.img: the top hash block (201) changed. */
        images("tampered");
        assert_int_equal(examine("data.img", 200, &v, &err), 0);
        assert_memory_equal(v.root_hash, want, 32);
        assert_int_equal(examine("top.img", 200, &v, &err), 0);
        assert_memory_not_equal(v.root_hash, want, 32);
}

static void test_args(void **state) {
        struct config_model m = model(16, 16 * 4096);
        struct verity_volume v;

        (void) state;
        need_images();
        m.mode = MODEL_MODE_FILES;
        assert_int_equal(verity_examine(&m, at("small.img"), &v, NULL), -EINVAL);
        assert_int_equal(verity_examine(NULL, at("small.img"), &v, NULL), -EINVAL);
        m.mode = MODEL_MODE_VERITY;
        assert_int_equal(verity_open(&m, NULL, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_mismatch),
                cmocka_unit_test(test_tampered),
                cmocka_unit_test(test_args),
        };
        return cmocka_run_group_tests(tests, setup, tmptree_teardown);
}
