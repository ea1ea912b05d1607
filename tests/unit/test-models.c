/* SPDX-License-Identifier: MIT */
/* Model measurement (agent/models.c): a two-file model in a temporary directory whose manifest is
 * written out by hand from the FIPS 180 / sha256sum digests of "abc", "" and "abd"; the pinned
 * digest is an independent EVP digest of that text. A matching model gives the `model` event with
 * the documented content; a changed, missing or extra file fails, after the event, with a message
 * naming the file when a reference manifest with the pinned digest is there, and saying why not
 * otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include <openssl/evp.h>

#include "cel.h"
#include "config.h"
#include "models.h"

#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_ABD "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9"

#define MANIFEST_GOOD                                                                 \
        "{\"alg\":\"sha256\",\"files\":["                                           \
        "{\"digest\":\"" SHA256_ABC "\",\"path\":\"a.txt\",\"size\":3},"              \
        "{\"digest\":\"" SHA256_EMPTY "\",\"path\":\"sub/empty\",\"size\":0}]}"
#define MANIFEST_CHANGED                                                              \
        "{\"alg\":\"sha256\",\"files\":["                                           \
        "{\"digest\":\"" SHA256_ABD "\",\"path\":\"a.txt\",\"size\":3},"              \
        "{\"digest\":\"" SHA256_EMPTY "\",\"path\":\"sub/empty\",\"size\":0}]}"

static struct mr *mr;
static struct cel_writer *writer;
static struct config *cfg;

static void sha256_hex(const char *text, char out[65]) {
        uint8_t d[32];
        unsigned n = 0;

        assert_int_equal(EVP_Digest(text, strlen(text), d, &n, EVP_sha256(), NULL), 1);
        hex_encode(d, n, out);
}

/* A config with one model "tiny" at TMP/models/tiny pinned to MANIFEST_GOOD; extra model keys
 * (e.g. ",\"manifest\":\"...\"") are appended. */
static void load_config(const char *extra) {
        _cleanup_free_ char *text = NULL;
        char pinned[65];
        errbuf err = {};

        sha256_hex(MANIFEST_GOOD, pinned);
        assert_true(asprintf(&text, "{\"version\":1,\"models\":[{\"name\":\"tiny\",\"path\":\"%s/models/tiny\","
                                    "\"expect\":\"sha256:%s\"%s}],\"workload\":{\"exec\":[\"/a\"]}}",
                             tmpdir, pinned, extra) > 0);
        config_free(cfg);
        cfg = NULL;
        if (config_parse((const uint8_t *) text, strlen(text), &cfg, &err) < 0)
                fail_msg("config_parse: %s", err.msg);
}

static int setup(void **state) {
        static const enum hash_alg banks[] = { HASH_SHA256 };

        tmptree_setup(state);
        put("models/tiny/a.txt", "abc");
        put("models/tiny/sub/empty", "");
        setenv("CVMINIT_RUN_DIR", at("run"), 1);
        assert_int_equal(mr_open_mem("pcr14", banks, 1, &mr), 0);
        assert_int_equal(cel_writer_open(at("measure.log"), mr, &writer), 0);
        load_config("");
        return 0;
}

static int teardown(void **state) {
        config_free(cfg);
        cfg = NULL;
        cel_writer_free(writer);
        writer = NULL;
        mr_free(mr);
        mr = NULL;
        unsetenv("CVMINIT_RUN_DIR");
        return tmptree_teardown(state);
}

/* The log has n records; the last one is a model event for "tiny" over manifest_text. */
static void expect_model_event(size_t n, const char *manifest_text) {
        struct cel_log log = {};
        _cleanup_free_ char *expected = NULL;
        char hex[65];
        errbuf err = {};

        sha256_hex(manifest_text, hex);
        assert_true(asprintf(&expected, "cvminit model {\"alg\":\"sha256\",\"bytes\":3,\"files\":2,\"manifest\":\"%s\","
                                        "\"mode\":\"files\",\"name\":\"tiny\"}", hex) > 0);
        if (cel_read_file(at("measure.log"), &log, &err) < 0)
                fail_msg("cel_read_file: %s", err.msg);
        assert_int_equal(log.n, n);
        assert_string_equal(log.records[n - 1].text, expected);
        assert_true(log.records[n - 1].content_matches);
        cel_log_done(&log);
}

static void expect_failure(int expect_r, const char *m1, const char *m2) {
        errbuf err = {};
        int r = models_measure(cfg, writer, NULL, &err);

        print_message("%s\n", err.msg);
        if (r != expect_r)
                fail_msg("models_measure returned %d (%s), expected %d", r, err.msg, expect_r);
        if (!strstr(err.msg, m1) || (m2 && !strstr(err.msg, m2)))
                fail_msg("message '%s' lacks '%s' or '%s'", err.msg, m1, m2 ? m2 : "");
}

static void test_good(void **state) {
        _cleanup_free_ uint8_t *text = NULL;
        struct hash_options o = { .jobs = 2 };
        size_t n = 0;
        errbuf err = {};

        (void) state;
        if (models_measure(cfg, writer, &o, &err) < 0)
                fail_msg("models_measure: %s", err.msg);
        expect_model_event(1, MANIFEST_GOOD);
        /* The manifest is left for anyone to read, exactly the measured text. */
        assert_int_equal(read_file_limited(at("run/manifests/tiny.json"), 1 << 20, &text, &n), 0);
        assert_string_equal((char *) text, MANIFEST_GOOD);
}

static void write_reference(const char *rel, const char *text) {
        _cleanup_free_ char *t = NULL;
        assert_true(asprintf(&t, "%s\n", text) > 0); /* as cvmtool manifest prints it */
        put(rel, t);
}

static void test_changed_file_named(void **state) {
        _cleanup_free_ char *pinned_msg = NULL;
        char pinned[65], found[65];

        (void) state;
        write_reference("models/tiny.manifest.json", MANIFEST_GOOD);
        put("models/tiny/a.txt", "abd");
        sha256_hex(MANIFEST_GOOD, pinned);
        sha256_hex(MANIFEST_CHANGED, found);
        assert_true(asprintf(&pinned_msg, "manifest sha256:%s is not the pinned sha256:%s", found, pinned) > 0);
        expect_failure(-EBADMSG,
                       "model tiny: file 'a.txt' differs (digest a52d159f262b2c6d..., size 3; expected "
                       "ba7816bf8f01cfea..., size 3)",
                       pinned_msg);
        /* Measured anyway: the log holds what was found. */
        expect_model_event(1, MANIFEST_CHANGED);
}

static void test_missing_extra_named(void **state) {
        (void) state;
        write_reference("models/tiny.manifest.json", MANIFEST_GOOD);
        assert_int_equal(unlink(at("models/tiny/sub/empty")), 0);
        expect_failure(-EBADMSG, "model tiny: file 'sub/empty' of the reference manifest is missing", NULL);
        put("models/tiny/sub/empty", "");
        put("models/tiny/b.txt", "");
        expect_failure(-EBADMSG, "model tiny: file 'b.txt' is not in the reference manifest", NULL);
        put("models/tiny/a.txt", "x");
        expect_failure(-EBADMSG, "model tiny: file 'a.txt' differs", "(2 differences in all)");
}

static void test_explicit_reference(void **state) {
        _cleanup_free_ char *extra = NULL;

        (void) state;
        write_reference("refs/tiny.json", MANIFEST_GOOD);
        assert_true(asprintf(&extra, ",\"manifest\":\"%s/refs/tiny.json\"", tmpdir) > 0);
        load_config(extra);
        put("models/tiny/a.txt", "abd");
        expect_failure(-EBADMSG, "model tiny: file 'a.txt' differs", NULL);
}

static void test_no_usable_reference(void **state) {
        (void) state;
        put("models/tiny/a.txt", "abd");
        expect_failure(-EBADMSG, "model tiny: no reference manifest at ", "/models/tiny.manifest.json to name the file");
        /* A reference that is not what was pinned cannot be trusted to name anything. */
        write_reference("models/tiny.manifest.json", MANIFEST_CHANGED);
        expect_failure(-EBADMSG, "does not have the pinned digest either, so it cannot name the file", NULL);
        /* Nor can a FIFO, which would block a reader. */
        assert_int_equal(unlink(at("models/tiny.manifest.json")), 0);
        assert_int_equal(mkfifo(at("models/tiny.manifest.json"), 0600), 0);
        expect_failure(-EBADMSG, "cannot be used to name the file that differs (not a regular file)", NULL);
        expect_model_event(3, MANIFEST_CHANGED);
}

static void test_unreadable_model(void **state) {
        struct cel_log log = {};
        errbuf err = {};
        char from[4096];

        (void) state;

        snprintf(from, sizeof(from), "%s", at("models/tiny"));
        assert_int_equal(rename(from, at("models/gone")), 0);
        expect_failure(-ENOENT, "model tiny: ", NULL);
        /* Nothing measured, and no stale manifest left behind. */
        assert_int_equal(cel_read_file(at("measure.log"), &log, &err), 0);
        assert_int_equal(log.n, 0);
        cel_log_done(&log);
        assert_int_equal(access(at("run/manifests/tiny.json"), F_OK), -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_good, setup, teardown),
                cmocka_unit_test_setup_teardown(test_changed_file_named, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_extra_named, setup, teardown),
                cmocka_unit_test_setup_teardown(test_explicit_reference, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_usable_reference, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unreadable_model, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
