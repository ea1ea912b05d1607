/* SPDX-License-Identifier: MIT */
/* cvm-tdxsim's state without FUSE (tools/cvm-tdxsim-state.c): the sysfs write rules of an RTMR
 * (expected values from python's hashlib), the configfs-tsm generation rules including the EBUSY
 * that only 2^64 writes reach on a real system, the key directory (create, reload, refuse partial
 * or mismatched directories), and the built-in CCEL replaying into the RTMRs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cvm-tdxsim.h"
#include "tcg2.h"
#include "tmptree.h"

/* hashlib.sha384(bytes(48) + b"\x01" * 48), and that extended with b"\x02" * 48 */
static const char rtmr_after_01[] =
        "b2cdfa15c3fdc5772b099d6e1a5acb8a2eb8b94adb63393a7ae3068c8b4bd8cdad83d6eb649d8178d0fe7a8135d0a003";
static const char rtmr_after_02[] =
        "11422093d9248558e623cdd803580126f1912db17c838f511a296eb2e7dba8382ad56767569170322357e1a8fef06eae";

static void assert_hex(const uint8_t *p, const char *want) {
        char hex[2 * TDX_MR_SIZE + 1];

        hex_encode(p, TDX_MR_SIZE, hex);
        assert_string_equal(hex, want);
}

static void test_mr_write_rules(void **state) {
        struct tdxsim s = {};
        uint8_t d[100];

        (void) state;
        memset(d, 1, sizeof(d));
        assert_int_equal(tdxsim_mr_write(&s, MR_RTMR3, d, 47, 0), -EINVAL);
        assert_int_equal(tdxsim_mr_write(&s, MR_RTMR3, d, 48, 1), -EINVAL);
        assert_int_equal(tdxsim_mr_write(&s, MR_RTMR3, d, 10, 40), -EINVAL);
        assert_int_equal(tdxsim_mr_write(&s, MR_RTMR3, d, 48, 48), -EFBIG);
        assert_int_equal(tdxsim_mr_write(&s, MR_RTMR3, d, 0, 0), 0);
        assert_int_equal(tdxsim_mr_write(&s, MR_MRTD, d, 48, 0), -EACCES);
        assert_true(memcmp(s.td.rtmr[3], (uint8_t[TDX_MR_SIZE]) {}, TDX_MR_SIZE) == 0);
        /* clamped to the attribute's size: 100 bytes extend with the first 48 */
        assert_int_equal(tdxsim_mr_write(&s, MR_RTMR3, d, 100, 0), 48);
        assert_hex(s.td.rtmr[3], rtmr_after_01);
        memset(d, 2, sizeof(d));
        assert_int_equal(tdxsim_mr_write(&s, MR_RTMR3, d, 48, 0), 48);
        assert_hex(s.td.rtmr[3], rtmr_after_02);
        assert_ptr_equal(tdxsim_mr_value(&s, MR_RTMR3), s.td.rtmr[3]);
        for (unsigned i = 0; i < 3; i++)
                assert_true(memcmp(s.td.rtmr[i], (uint8_t[TDX_MR_SIZE]) {}, TDX_MR_SIZE) == 0);
}

static void test_report_generations(void **state) {
        struct tdxsim s = {};
        struct tdxsim_report *r;
        uint8_t blob[TSM_INBLOB_MAX] = { 7 };
        const uint8_t *q;
        size_t n;

        (void) state;
        assert_int_equal(tdxsim_report_mkdir(&s, "a"), 0);
        assert_int_equal(tdxsim_report_mkdir(&s, "a"), -EEXIST);
        assert_int_equal(tdxsim_report_mkdir(&s, ""), -EINVAL);
        r = tdxsim_report_find(&s, "a");
        assert_non_null(r);
        assert_int_equal(tdxsim_report_outblob(&s, r, &q, &n), -EINVAL); /* nothing written */
        assert_int_equal(tdxsim_report_write_inblob(r, blob, 65), -EFBIG);
        assert_int_equal(tdxsim_report_write_inblob(r, blob, 32), 0);
        assert_int_equal(r->write_generation, 1);
        assert_int_equal(tdxsim_report_outblob(&s, r, &q, &n), -EINVAL); /* TDX wants 64 bytes */
        assert_int_equal(tdxsim_report_write_inblob(r, NULL, 0), 0);
        assert_int_equal(r->write_generation, 2);
        /* try_advance_write_generation: the write that would wrap onto read_generation is EBUSY */
        r->read_generation = 10;
        r->write_generation = 8;
        assert_int_equal(tdxsim_report_write_inblob(r, blob, 64), 0);
        assert_int_equal(tdxsim_report_write_inblob(r, blob, 64), -EBUSY);
        assert_int_equal(r->write_generation, 9);
        /* an open file keeps a removed entry; its writes are then discarded */
        tdxsim_report_ref(r);
        assert_int_equal(tdxsim_report_rmdir(&s, "a"), 0);
        assert_null(tdxsim_report_find(&s, "a"));
        assert_int_equal(tdxsim_report_write_inblob(r, blob, 64), 0);
        assert_int_equal(r->write_generation, 9);
        assert_int_equal(tdxsim_report_outblob(&s, r, &q, &n), -ENOENT);
        tdxsim_report_unref(r);
        assert_int_equal(tdxsim_report_rmdir(&s, "a"), -ENOENT);
        for (unsigned i = 0; i < TDXSIM_REPORTS_MAX; i++) {
                char name[16];
                snprintf(name, sizeof(name), "r%u", i);
                assert_int_equal(tdxsim_report_mkdir(&s, name), 0);
        }
        assert_int_equal(tdxsim_report_mkdir(&s, "one-more"), -ENOSPC);
        tdxsim_done(&s);
}

/* What tdxsim_keys_load_or_create writes to its directory (tools/cvm-tdxsim-keys.c). */
static const char *const key_files[] = {
        "root.key", "root.pem", "intermediate.key", "intermediate.pem", "pck.key", "pck.pem", "attestation.key", "chain.pem",
};

/* Copies from_dir/from to to_dir/to with cp (an argv, no shell). */
static void copy_key_file(const char *from_dir, const char *from, const char *to_dir, const char *to) {
        _cleanup_free_ char *src = NULL, *dst = NULL;

        assert_true(asprintf(&src, "%s/%s", from_dir, from) > 0);
        assert_true(asprintf(&dst, "%s/%s", to_dir, to) > 0);
        tmptree_run((const char *const[]) { "cp", src, dst, NULL });
}

static void test_keys_and_quote(void **state) {
        _cleanup_free_ char *dir = NULL, *partial = NULL;
        struct tdxsim s = {};
        struct tdxsim_keys again = {};
        struct tdxsim_report *r;
        uint8_t blob[TSM_INBLOB_MAX];
        const uint8_t *q, *q2;
        size_t n, n2;
        errbuf err = {};

        (void) state;
        assert_true(asprintf(&dir, "%s/keys", tmpdir) > 0);
        assert_int_equal(tdxsim_td_defaults(&s.td), 0);
        assert_int_equal(tdxsim_keys_load_or_create(dir, &s.keys, &err), 1);
        assert_int_equal(tdxsim_keys_load_or_create(dir, &again, &err), 0);
        assert_int_equal(X509_cmp(s.keys.root, again.root), 0);
        assert_memory_equal(s.keys.attest_pub, again.attest_pub, 64);
        tdxsim_keys_done(&again);

        memset(blob, 0x5a, sizeof(blob));
        assert_int_equal(tdxsim_report_mkdir(&s, "q"), 0);
        r = tdxsim_report_find(&s, "q");
        assert_int_equal(tdxsim_report_write_inblob(r, blob, sizeof(blob)), 0);
        assert_int_equal(tdxsim_report_outblob(&s, r, &q, &n), 0);
        assert_true(n > TDX_QUOTE_HEADER_SIZE + TDX_QUOTE_BODY_SIZE + 4 + 128 + 6 + TDX_QE_REPORT_SIZE);
        assert_memory_equal(q + TDX_QUOTE_HEADER_SIZE + TDX_QUOTE_BODY_SIZE - 64, blob, 64);
        assert_memory_equal(q + 184, s.td.mrtd, TDX_MR_SIZE);
        assert_int_equal(tdxsim_report_outblob(&s, r, &q2, &n2), 0); /* cached: the same bytes */
        assert_ptr_equal(q, q2);

        /* a directory with some of the files, or a key that does not match its certificate */
        assert_true(asprintf(&partial, "%s/partial", tmpdir) > 0);
        assert_int_equal(mkdir(partial, 0700), 0);
        copy_key_file(dir, "root.pem", partial, "root.pem");
        assert_int_equal(tdxsim_keys_load_or_create(partial, &again, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "incomplete"));
        for (size_t i = 0; i < ELEMENTSOF(key_files); i++)
                copy_key_file(dir, key_files[i], partial, key_files[i]);
        copy_key_file(dir, "root.key", partial, "pck.key");
        assert_int_equal(tdxsim_keys_load_or_create(partial, &again, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "does not match"));
        tdxsim_done(&s);
}

static void test_ccel(void **state) {
        struct buf log = {};
        uint8_t rtmr[TDX_RTMRS][TDX_MR_SIZE], t[56], sum = 0;
        errbuf err = {};

        (void) state;
        assert_int_equal(tdxsim_ccel_render(&log), 0);
        assert_int_equal(tdxsim_ccel_replay((uint8_t *) log.data, log.len, rtmr, &err), 0);
        for (unsigned i = 0; i < 3; i++)
                assert_false(memcmp(rtmr[i], (uint8_t[TDX_MR_SIZE]) {}, TDX_MR_SIZE) == 0);
        assert_true(memcmp(rtmr[3], (uint8_t[TDX_MR_SIZE]) {}, TDX_MR_SIZE) == 0);
        /* an event on MRTD (index 0) is refused */
        assert_int_equal(tcg2_render_event(&log, 0, 0x8000000aU, &(struct digest) { .alg = HASH_SHA384 }, 1, "x", 1), 0);
        assert_int_equal(tdxsim_ccel_replay((uint8_t *) log.data, log.len, rtmr, &err), -EBADMSG);
        buf_free(&log);
        tdxsim_ccel_table(65536, 0x1000, t);
        for (unsigned i = 0; i < sizeof(t); i++)
                sum = (uint8_t) (sum + t[i]);
        assert_int_equal(sum, 0);
        assert_memory_equal(t, "CCEL", 4);
        assert_int_equal(t[36], 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mr_write_rules),
                cmocka_unit_test(test_report_generations),
                cmocka_unit_test(test_keys_and_quote),
                cmocka_unit_test(test_ccel),
        };
        return cmocka_run_group_tests(tests, tmptree_setup, tmptree_teardown);
}
