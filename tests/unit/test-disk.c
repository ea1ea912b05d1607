/* SPDX-License-Identifier: MIT */
/* agent/disk.c on the host, where there is no device-mapper: disk_examine's decisions on image
 * files made by independent tools (cryptsetup, mkfs.ext4, dd/printf) — blank, non-zero data, ext4,
 * a partition table, two signatures, LUKS1, LUKS2 for another key, a damaged header, each setup
 * stage of docs/disk.md, a cipher other than the config's, a key slot whose KDF costs too much —
 * and that examining never changes a byte. Formatting, the wipe, mkfs and mounting run in the
 * guest (tests/qemu/test-disk.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include "disk.h"
#include "hashalg.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define OTHER_HEX "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f"

static uint8_t key[32];

static struct config_disk disk_cfg(const char *integrity) {
        return (struct config_disk) { .name = (char *) "data", .device = (char *) "/dev/vdb",
                                      .path = (char *) "/data", .format = DISK_FORMAT_IF_EMPTY,
                                      .cipher = (char *) "aes-xts-plain64", .integrity = (char *) integrity,
                                      .fs = (char *) "ext4", .options = (char *) "nosuid,nodev",
                                      .timeout_ms = 1000 };
}

/* Makes the images of case_ in tmpdir (tests/fixtures/disk/make-images.sh, with cryptsetup, mkfs.ext4,
 * dd/printf; key.bin and other.bin hold KEY_HEX and OTHER_HEX); skips the test without cryptsetup. */
static void images(const char *case_) {
        tmptree_fixture_script("disk/make-images.sh", case_);
}

static void digest_of(const char *file, uint8_t out[HASH_MAX_SIZE]) {
        _cleanup_free_ uint8_t *p = NULL;
        size_t n;

        assert_int_equal(read_file_limited(at(file), 64U << 20, &p, &n), 0);
        assert_int_equal(hash_buffer(HASH_SHA256, p, n, out), 32);
}

/* Examines tmpdir/file with integrity (NULL = hmac-sha256) and the test key: r, state, message. */
static void expect(const char *file, const char *integrity, const uint8_t *k, int want_r,
                   enum disk_state want_state, const char *want_msg) {
        struct config_disk d = disk_cfg(integrity ?: "hmac-sha256");
        enum disk_state state = _DISK_STATE_MAX;
        uint8_t before[HASH_MAX_SIZE], after[HASH_MAX_SIZE];
        errbuf err = {};
        int r;

        digest_of(file, before);
        r = disk_examine(&d, at(file), k, 32, &state, &err);
        if (r != want_r)
                fail_msg("%s: disk_examine returned %d (%s), expected %d", file, r, err.msg, want_r);
        if (r == 0 && state != want_state)
                fail_msg("%s: state %s, expected %s", file, disk_state_name(state), disk_state_name(want_state));
        if (want_msg && !strstr(err.msg, want_msg))
                fail_msg("%s: message '%s' lacks '%s'", file, err.msg, want_msg);
        digest_of(file, after);
        assert_memory_equal(before, after, 32);
}

static void test_blank_and_data(void **state) {
        (void) state;
        images("blank-and-data");
        expect("blank.img", NULL, key, 0, DISK_BLANK, NULL);
        expect("data.img", NULL, key, -EMEDIUMTYPE, 0,
               "holds no signature libblkid knows, but it is not empty either (byte 777 is not zero)");
        /* Only the first MiB is checked: past it, a blank disk may hold anything (docs/disk.md). */
        expect("late.img", NULL, key, 0, DISK_BLANK, NULL);
}

static void test_other_contents(void **state) {
        (void) state;
        images("ext4");
        expect("ext4.img", NULL, key, -EMEDIUMTYPE, 0,
               "it holds ext4 (label 'stuff', UUID 5e1d0f0c-7d44-4a47-8f0e-2d2b4a3c1e10), not a LUKS2 volume");
        /* An MBR with one Linux partition (type 0x83 from sector 2048) and the 55 AA signature. */
        images("mbr");
        expect("mbr.img", NULL, key, -EMEDIUMTYPE, 0, "it holds a dos partition table");
        images("luks1");
        expect("luks1.img", NULL, key, -EMEDIUMTYPE, 0, "it holds a LUKS1 volume; cvminit opens LUKS2 only");
        /* ext4's superblock (at 1 KiB) copied into a LUKS2 header's padding: both are found. */
        images("two");
        expect("two.img", NULL, key, -ENOTUNIQ, 0, "it holds several signatures (");
}

static void test_luks(void **state) {
        (void) state;
        images("luks");
        expect("foreign.img", "none", key, 0, DISK_FOREIGN, NULL);
        expect("other.img", "none", key, -EPERM, 0,
               "with 1 key slot(s), none of which opens with the released key: refusing it");
        /* The config asks for integrity, the volume has none: never opened with less protection. */
        expect("foreign.img", "hmac-sha256", key, -EMEDIUMTYPE, 0,
               "encrypted with aes-xts-plain64 and integrity none, but the config says aes-xts-plain64 with "
               "integrity hmac-sha256");
        /* A key slot whose KDF costs more than cvminit allows is not tried. */
        images("costly");
        expect("costly.img", "none", key, -EPERM, 0, "some were not tried: their KDF costs more than cvminit allows");
}

static void test_stages(void **state) {
        (void) state;
        images("stages");
        expect("wiped.img", "none", key, 0, DISK_WIPED, NULL);
        expect("ready.img", "none", key, 0, DISK_READY, NULL);
        expect("formatted.img", "none", key, 0, DISK_FORMATTED, NULL);
        /* Cut before the key slot existed: formatting it again loses nothing. */
        expect("restart.img", "none", key, 0, DISK_RESTART, NULL);
        expect("future.img", "none", key, -EPROTO, 0, "'cvminit:encrypted-twice' is no setup stage this cvminit knows");
        /* A key slot exists but not for this key: refused, even in a setup stage. */
        expect("formatted-other.img", "none", (const uint8_t *) "0123456789abcdef0123456789abcdef", -EPERM, 0,
               "none of which opens");
}

static void test_damaged(void **state) {
        (void) state;
        /* Both copies of the JSON area overwritten (primary at 4 KiB, secondary at 16 + 4 KiB): the
         * checksums fail, libcryptsetup loads neither, blkid still sees the magic. */
        images("damaged");
        expect("damaged.img", "none", key, -EUCLEAN, 0, "it holds a LUKS header that libcryptsetup cannot load");
        /* One copy damaged: the other one opens it (libcryptsetup's own recovery). */
        images("half");
        struct config_disk d = disk_cfg("none");
        enum disk_state st;
        errbuf err = {};
        assert_int_equal(disk_examine(&d, at("half.img"), key, sizeof(key), &st, &err), 0);
        assert_int_equal(st, DISK_FOREIGN);
}

static void test_open_arguments(void **state) {
        struct config_disk d = disk_cfg("hmac-sha256");
        errbuf err = {};
        uint8_t small[16] = {};

        (void) state;
        /* Checked before any device is looked at. */
        assert_int_equal(disk_open(&d, small, sizeof(small), (struct cel_writer *) 1, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "the released key has 16 bytes; it must be 32 to"));
        d.integrity = (char *) "aead";
        assert_int_equal(disk_open(&d, key, sizeof(key), (struct cel_writer *) 1, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "cipher aes-xts-plain64 with integrity aead is not supported"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_blank_and_data), cmocka_unit_test(test_other_contents),
                cmocka_unit_test(test_luks),           cmocka_unit_test(test_stages),
                cmocka_unit_test(test_damaged),        cmocka_unit_test(test_open_arguments),
        };

        if (unhex(KEY_HEX, 64, key, sizeof(key)) != 32)
                return 1;
        return cmocka_run_group_tests(tests, tmptree_setup, tmptree_teardown);
}
