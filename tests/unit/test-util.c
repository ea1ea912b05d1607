/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hashalg.h"
#include "util.h"

static void test_hex(void **state) {
        uint8_t out[4];
        char s[9];

        (void) state;
        hex_encode("\x00\xab\xff\x10", 4, s);
        assert_string_equal(s, "00abff10");
        assert_int_equal(unhex("00ABff10", 8, out, sizeof(out)), 4);
        assert_memory_equal(out, "\x00\xab\xff\x10", 4);
        assert_int_equal(unhex("0", 1, out, sizeof(out)), -EINVAL);
        assert_int_equal(unhex("0g", 2, out, sizeof(out)), -EINVAL);
        assert_int_equal(unhex("0011223344", 10, out, sizeof(out)), -E2BIG);
}

static void test_utf8(void **state) {
        (void) state;
        assert_true(utf8_valid("", 0));
        assert_true(utf8_valid("\xe2\x82\xac\xf0\x9f\x98\x80", 7));
        assert_false(utf8_valid("\xc3", 1));          /* truncated */
        assert_false(utf8_valid("\xc0\xaf", 2));      /* overlong */
        assert_false(utf8_valid("\xed\xa0\x80", 3));  /* surrogate */
        assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
        assert_false(utf8_valid("\xff", 1));
}

static void test_escape_untrusted(void **state) {
        char *s;

        (void) state;
        s = escape_untrusted("a\nb\\\x1b", 5, 64);
        assert_string_equal(s, "a\\x0ab\\x5c\\x1b");
        free(s);
        s = escape_untrusted("0123456789abcdefghij", 20, 12);
        assert_true(strlen(s) <= 12);
        assert_non_null(strstr(s, "..."));
        free(s);
}

static void test_buf_limit(void **state) {
        struct buf b = { .max = 8 };

        (void) state;
        assert_int_equal(buf_append_str(&b, "12345678"), 0);
        assert_int_equal(buf_append_str(&b, "9"), -E2BIG);
        assert_int_equal(b.len, 8);
        assert_int_equal(buf_printf(&b, "%d", 1), -E2BIG);
        buf_free(&b);
        assert_int_equal(buf_append_u32le(&b, 0x4141454C), 0);
        assert_memory_equal(b.data, "LEAA", 4);
        buf_erase(&b);
}

static void test_atou(void **state) {
        uint64_t v;
        unsigned u;

        (void) state;
        assert_int_equal(safe_atou64("18446744073709551615", &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(safe_atou64("18446744073709551616", &v), -ERANGE);
        assert_int_equal(safe_atou64("-1", &v), -EINVAL);
        assert_int_equal(safe_atou64(" 1", &v), -EINVAL);
        assert_int_equal(safe_atou64("", &v), -EINVAL);
        assert_int_equal(safe_atou("4294967296", &u), -ERANGE);
        assert_int_equal(safe_atou("14", &u), 0);
        assert_int_equal(u, 14);
}

static void test_hash_alg(void **state) {
        uint8_t reg[HASH_MAX_SIZE] = {}, d[HASH_MAX_SIZE];

        (void) state;
        assert_int_equal(hash_alg_from_name("sha256"), HASH_SHA256);
        assert_int_equal(hash_alg_from_name("SHA-384"), HASH_SHA384);
        assert_int_equal(hash_alg_from_name("SHA512"), HASH_SHA512);
        assert_int_equal(hash_alg_from_name("md5"), -EINVAL);
        assert_int_equal(hash_alg_from_tpm_id(0x000B), HASH_SHA256);
        assert_int_equal(hash_alg_from_tpm_id(0x0027), -EOPNOTSUPP);
        assert_int_equal(hash_alg_size(HASH_SHA1), 20);
        /* sha256("abc"), FIPS 180-2 appendix B.1. */
        assert_int_equal(hash_buffer(HASH_SHA256, "abc", 3, d), 32);
        assert_memory_equal(d, "\xba\x78\x16\xbf\x8f\x01\xcf\xea\x41\x41\x40\xde\x5d\xae\x22\x23"
                               "\xb0\x03\x61\xa3\x96\x17\x7a\x9c\xb4\x10\xff\x61\xf2\x00\x15\xad", 32);
        /* Extending a zero register: sha256(32 zero bytes || digest). */
        assert_int_equal(hash_extend(HASH_SHA256, reg, d), 0);
        {
                uint8_t cat[64] = {}, want[HASH_MAX_SIZE];
                memcpy(cat + 32, d, 32);
                assert_int_equal(hash_buffer(HASH_SHA256, cat, 64, want), 32);
                assert_memory_equal(reg, want, 32);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hex),        cmocka_unit_test(test_utf8),
                cmocka_unit_test(test_escape_untrusted), cmocka_unit_test(test_buf_limit),
                cmocka_unit_test(test_atou),       cmocka_unit_test(test_hash_alg),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
