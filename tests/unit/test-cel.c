/* SPDX-License-Identifier: MIT */
/* The canonical measurement log: writer protocol, strict reader, replay and verdicts. Expected bytes
 * and digests are built here by hand with separate EVP calls, never by the code under test. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "cel.h"

static char dir[64], path[128];

static int setup(void **state) {
        (void) state;
        snprintf(dir, sizeof(dir), "/tmp/test-cel.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/measure.log", dir);
        return 0;
}

static int teardown(void **state) {
        char p[160];
        (void) state;
        (void) unlink(path);
        snprintf(p, sizeof(p), "%s/link", dir);
        (void) unlink(p);
        (void) rmdir(dir);
        return 0;
}

/* ---- independent computations ---- */

/* H(u32le 0x4141454C || u32le len || text), the tag written out byte by byte. */
static void aael_digest(const EVP_MD *md, const char *text, uint8_t *out) {
        size_t len = strlen(text);
        uint8_t head[8] = { 'L', 'E', 'A', 'A', len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, len >> 24 };
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        unsigned n;

        assert_non_null(ctx);
        assert_int_equal(EVP_DigestInit_ex(ctx, md, NULL), 1);
        assert_int_equal(EVP_DigestUpdate(ctx, head, 8), 1);
        assert_int_equal(EVP_DigestUpdate(ctx, text, len), 1);
        assert_int_equal(EVP_DigestFinal_ex(ctx, out, &n), 1);
        EVP_MD_CTX_free(ctx);
}

static void md_extend(const EVP_MD *md, uint8_t *reg, const uint8_t *d) {
        int n = EVP_MD_get_size(md);
        uint8_t tmp[2 * 64];
        unsigned k;

        memcpy(tmp, reg, n);
        memcpy(tmp + n, d, n);
        assert_int_equal(EVP_Digest(tmp, 2 * n, reg, &k, md, NULL), 1);
}

static void to_hex(const uint8_t *p, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                sprintf(out + 2 * i, "%02x", p[i]);
}

/* A valid committed sha256 record for pcr14 whose content is {"n":N}. */
static void record_text(char *out, size_t max, unsigned recnum, const char *mr, int n) {
        char text[128], hex[65];
        uint8_t d[32];

        snprintf(text, sizeof(text), "cvminit app {\"n\":%d}", n);
        aael_digest(EVP_sha256(), text, d);
        to_hex(d, 32, hex);
        snprintf(out, max,
                 "\x1e{\"recnum\":%u,\"mr\":\"%s\",\"digests\":[{\"hashAlg\":\"sha256\",\"digest\":\"%s\"}],"
                 "\"content_type\":\"cvminit\",\"content\":{\"domain\":\"cvminit\",\"operation\":\"app\","
                 "\"content\":{\"n\":%d}}}\n",
                 recnum, mr, hex, n);
}

__attribute__((noinline)) static char *read_all(size_t *n) {
        uint8_t *p = NULL;
        assert_int_equal(read_file_limited(path, CEL_FILE_MAX, &p, n), 0);
        return (char *) p;
}

static void write_all(const char *p, size_t n) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, p, n), 0);
        close(fd);
}

static struct mr *mem_pcr14(void) {
        static const enum hash_alg banks[] = { HASH_SHA256, HASH_SHA384 };
        struct mr *mr = NULL;
        assert_int_equal(mr_open_mem("pcr14", banks, 2, &mr), 0);
        return mr;
}

static void append_json(struct cel_writer *w, const char *op, const char *content, int expect) {
        json_t *c = json_loads(content, 0, NULL);
        assert_non_null(c);
        assert_int_equal(cel_writer_append(w, EVENT_DOMAIN, op, c), expect);
        json_decref(c);
}

/* Three events: config, model, boot-done. */
static void write_three(struct mr *mr) {
        _cleanup_(cel_writer_freep) struct cel_writer *w = NULL;

        assert_int_equal(cel_writer_open(path, mr, &w), 0);
        append_json(w, "config", "{\"source\":\"fw_cfg\",\"sha384\":\"00\"}", 0);
        append_json(w, "model", "{\"name\":\"m\",\"files\":2}", 1);
        append_json(w, "boot-done", "{}", 2);
}

static void parse_file(struct cel_log *log, int expect, const char *msg) {
        _cleanup_free_ char *p = NULL;
        errbuf err = {};
        size_t n;

        p = read_all(&n);
        assert_int_equal(cel_parse((uint8_t *) p, n, log, &err), expect);
        if (msg && !strstr(err.msg, msg))
                fail_msg("message \"%s\" does not contain \"%s\"", err.msg, msg);
}

static void expect_mr(struct mr *mr, struct cel_value *v, size_t *n) {
        for (unsigned i = 0; i < mr->n_banks; i++) {
                v[*n] = (struct cel_value) { .alg = mr->banks[i] };
                snprintf(v[*n].mr, sizeof(v[*n].mr), "%s", mr->name);
                assert_int_equal(mr_read(mr, mr->banks[i], v[*n].value), 0);
                (*n)++;
        }
}

static void verify_kind(const struct cel_log *log, const struct cel_value *v, size_t n,
                        enum cel_verdict_kind kind, size_t record, const char *msg) {
        struct cel_verdict verdict;

        assert_int_equal(cel_verify(log, v, n, &verdict), 0);
        if (verdict.kind != kind || verdict.record != record || !strstr(verdict.message, msg))
                fail_msg("verdict %s record %zu \"%s\", expected %s record %zu \"%s\"",
                         cel_verdict_kind_name(verdict.kind), verdict.record, verdict.message,
                         cel_verdict_kind_name(kind), record, msg);
}

/* ---- tests ---- */

static void test_mr_names(void **state) {
        (void) state;
        assert_true(cel_mr_name_valid("pcr0"));
        assert_true(cel_mr_name_valid("pcr14"));
        assert_true(cel_mr_name_valid("pcr23"));
        assert_true(cel_mr_name_valid("rtmr3"));
        assert_false(cel_mr_name_valid("pcr24"));
        assert_false(cel_mr_name_valid("pcr01"));
        assert_false(cel_mr_name_valid("pcr"));
        assert_false(cel_mr_name_valid("rtmr4"));
        assert_false(cel_mr_name_valid("rtmr10"));
        assert_false(cel_mr_name_valid("PCR1"));
        assert_false(cel_mr_name_valid("pcr1 "));
        assert_false(cel_mr_name_valid(NULL));
}

/* The exact bytes of a record, with the digest computed independently. */
static void test_record_bytes(void **state) {
        static const enum hash_alg banks[] = { HASH_SHA256 };
        const char *text = "cvminit config {\"sha384\":\"00\",\"source\":\"fw_cfg\"}";
        _cleanup_(cel_writer_freep) struct cel_writer *w = NULL;
        _cleanup_(mr_freep) struct mr *mr = NULL;
        _cleanup_free_ char *got = NULL;
        char expect[1024], hex[65];
        uint8_t d[32], reg[32] = {}, value[HASH_MAX_SIZE];
        size_t n;

        (void) state;
        assert_int_equal(mr_open_mem("pcr14", banks, 1, &mr), 0);
        assert_int_equal(cel_writer_open(path, mr, &w), 0);
        append_json(w, "config", "{\"source\":\"fw_cfg\",\"sha384\":\"00\"}", 0);

        aael_digest(EVP_sha256(), text, d);
        to_hex(d, 32, hex);
        snprintf(expect, sizeof(expect),
                 "\x1e{\"recnum\":0,\"mr\":\"pcr14\",\"digests\":[{\"hashAlg\":\"sha256\",\"digest\":\"%s\"}],"
                 "\"content_type\":\"cvminit\",\"content\":{\"content\":{\"sha384\":\"00\",\"source\":\"fw_cfg\"},"
                 "\"domain\":\"cvminit\",\"operation\":\"config\"}}\n", hex);
        got = read_all(&n);
        assert_int_equal(n, strlen(expect));
        assert_memory_equal(got, expect, n);

        md_extend(EVP_sha256(), reg, d);
        assert_int_equal(mr_read(mr, HASH_SHA256, value), 0);
        assert_memory_equal(value, reg, 32);

        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_write_parse_replay(void **state) {
        _cleanup_(mr_freep) struct mr *mr = mem_pcr14();
        _cleanup_(cel_log_done) struct cel_log log = {};
        struct cel_replay rp;
        struct cel_value v[4];
        size_t n = 0;

        (void) state;
        write_three(mr);
        parse_file(&log, 0, NULL);
        assert_int_equal(log.n, 3);
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(log.records[i].recnum, i);
                assert_string_equal(log.records[i].mr, "pcr14");
                assert_true(log.records[i].committed);
                assert_true(log.records[i].content_matches);
                assert_int_equal(log.records[i].n_digests, 2);
        }
        assert_string_equal(log.records[1].operation, "model");
        assert_string_equal(log.records[2].text, "cvminit boot-done {}");

        assert_int_equal(cel_replay(&log, log.n, &rp), 0);
        assert_int_equal(rp.n, 2);
        expect_mr(mr, v, &n);
        for (size_t k = 0; k < n; k++) {
                const struct cel_value *r = cel_replay_find(&rp, "pcr14", v[k].alg);
                assert_non_null(r);
                assert_memory_equal(r->value, v[k].value, hash_alg_size(v[k].alg));
        }
        assert_int_equal(cel_replay(&log, 4, &rp), -EINVAL);
        verify_kind(&log, v, n, CEL_VERDICT_MATCH, CEL_NO_RECORD, "all banks match");
}

/* A second writer on the same file takes its record numbers from the file. */
static void test_two_writers(void **state) {
        _cleanup_(mr_freep) struct mr *mr = mem_pcr14();
        _cleanup_(cel_writer_freep) struct cel_writer *a = NULL, *b = NULL;
        _cleanup_(cel_log_done) struct cel_log log = {};
        struct cel_value v[4];
        size_t n = 0;

        (void) state;
        assert_int_equal(cel_writer_open(path, mr, &a), 0);
        assert_int_equal(cel_writer_open(path, mr, &b), 0);
        append_json(a, "app", "{\"n\":0}", 0);
        append_json(b, "app", "{\"n\":1}", 1);
        append_json(b, "app", "{\"n\":2}", 2);
        append_json(a, "app", "{\"n\":3}", 3);
        parse_file(&log, 0, NULL);
        assert_int_equal(log.n, 4);
        expect_mr(mr, v, &n);
        verify_kind(&log, v, n, CEL_VERDICT_MATCH, CEL_NO_RECORD, "(4 records)");
}

static void test_writer_refuses(void **state) {
        static const enum hash_alg sha256[] = { HASH_SHA256 };
        _cleanup_(mr_freep) struct mr *mr = mem_pcr14(), *other = NULL, *fewer = NULL;
        struct cel_writer *w = NULL;
        char link[160];
        errbuf err = {};

        (void) state;
        write_three(mr);
        assert_int_equal(mr_open_mem("pcr15", sha256, 1, &other), 0);
        assert_int_equal(cel_writer_open_detail(path, other, &w, &err), -EXDEV);
        assert_non_null(strstr(err.msg, "record 0 is for pcr14, not for pcr15"));
        assert_int_equal(mr_open_mem("pcr14", sha256, 1, &fewer), 0);
        assert_int_equal(cel_writer_open(path, fewer, &w), -EXDEV);
        assert_null(w);

        snprintf(link, sizeof(link), "%s/link", dir);
        assert_int_equal(symlink(path, link), 0);
        assert_int_equal(cel_writer_open(link, mr, &w), -ELOOP);
}

/* A crash between intent and commit: the last record has no LF. */
static void test_uncommitted(void **state) {
        _cleanup_(mr_freep) struct mr *mr = mem_pcr14();
        _cleanup_(cel_log_done) struct cel_log log = {};
        _cleanup_free_ char *p = NULL;
        struct cel_writer *w = NULL;
        struct cel_replay rp;
        struct cel_value v[4];
        errbuf err = {};
        size_t n = 0, len;

        (void) state;
        write_three(mr);
        p = read_all(&len);
        assert_int_equal(p[len - 1], '\n');
        assert_int_equal(truncate(path, (off_t) len - 1), 0);
        parse_file(&log, 0, NULL);
        assert_int_equal(log.n, 3);
        assert_true(log.records[1].committed);
        assert_false(log.records[2].committed);

        /* Extend happened (the register has all three) or not (only two). */
        expect_mr(mr, v, &n);
        verify_kind(&log, v, n, CEL_VERDICT_MATCH_UNCOMMITTED_EXTENDED, 2, "its extend happened");
        assert_int_equal(cel_replay(&log, 2, &rp), 0);
        for (size_t k = 0; k < n; k++)
                memcpy(v[k].value, cel_replay_find(&rp, "pcr14", v[k].alg)->value, HASH_MAX_SIZE);
        verify_kind(&log, v, n, CEL_VERDICT_MATCH_UNCOMMITTED_NOT_EXTENDED, 2, "its extend did not happen");
        assert_int_equal(cel_replay(&log, 1, &rp), 0);
        for (size_t k = 0; k < n; k++)
                memcpy(v[k].value, cel_replay_find(&rp, "pcr14", v[k].alg)->value, HASH_MAX_SIZE);
        verify_kind(&log, v, n, CEL_VERDICT_NOT_EXTENDED, 1, "records 1.. were logged but never extended");

        assert_int_equal(cel_writer_open_detail(path, mr, &w, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "record 2 is uncommitted"));
}

/* An open writer notices another process left an uncommitted tail. */
static void test_rescan_uncommitted(void **state) {
        _cleanup_(mr_freep) struct mr *mr = mem_pcr14();
        _cleanup_(cel_writer_freep) struct cel_writer *w = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        size_t n1, n2;

        (void) state;
        assert_int_equal(cel_writer_open(path, mr, &w), 0);
        append_json(w, "app", "{\"n\":0}", 0);
        append_json(w, "app", "{\"n\":1}", 1);
        before = read_all(&n1);
        assert_int_equal(truncate(path, (off_t) n1 - 1), 0);
        append_json(w, "app", "{\"n\":2}", -EBADMSG);
        assert_non_null(strstr(cel_writer_error(w), "record 1 is uncommitted"));
        after = read_all(&n2);
        assert_int_equal(n2, n1 - 1);
}

static bool extend_fails;

static int fake_extend(struct mr *mr, const struct digest *d, unsigned n) {
        (void) mr, (void) d, (void) n;
        return extend_fails ? -EIO : 0;
}

static int fake_read(struct mr *mr, enum hash_alg bank, uint8_t out[static HASH_MAX_SIZE]) {
        (void) mr, (void) bank, (void) out;
        return -EIO;
}

static const struct mr_ops fake_ops = { .kind = "fake", .extend = fake_extend, .read = fake_read };

static void test_failing_extend(void **state) {
        _cleanup_(cel_writer_freep) struct cel_writer *w = NULL;
        _cleanup_(mr_freep) struct mr *mr = calloc(1, sizeof(*mr));
        _cleanup_free_ char *before = NULL, *after = NULL;
        _cleanup_(cel_log_done) struct cel_log log = {};
        size_t n1, n2;

        (void) state;
        assert_non_null(mr);
        *mr = (struct mr) { .ops = &fake_ops, .name = "pcr16", .n_banks = 1, .banks = { HASH_SHA256 } };
        extend_fails = false;
        assert_int_equal(cel_writer_open(path, mr, &w), 0);
        append_json(w, "app", "{\"n\":0}", 0);
        before = read_all(&n1);

        extend_fails = true;
        append_json(w, "app", "{\"n\":1}", -EIO);
        assert_non_null(strstr(cel_writer_error(w), "cannot extend pcr16"));
        after = read_all(&n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(before, after, n1);

        extend_fails = false;
        append_json(w, "app", "{\"n\":2}", 1);
        parse_file(&log, 0, NULL);
        assert_int_equal(log.n, 2);
        assert_non_null(strstr(log.records[1].text, "{\"n\":2}"));
}

static void test_bad_event(void **state) {
        _cleanup_(mr_freep) struct mr *mr = mem_pcr14();
        _cleanup_(cel_writer_freep) struct cel_writer *w = NULL;
        json_t *s = json_string("x"), *o = json_object();
        size_t n;

        (void) state;
        assert_int_equal(cel_writer_open(path, mr, &w), 0);
        assert_int_equal(cel_writer_append(w, EVENT_DOMAIN, "bad op", o), -EINVAL);
        assert_int_equal(cel_writer_append(w, EVENT_DOMAIN, "app", s), -EINVAL);
        json_decref(s);
        json_decref(o);
        /* A NUL in a string: JCS writes \u0000, which the strict reader refuses, so the writer
         * must refuse it before extending. */
        {
                json_t *c = json_pack("{s:s%}", "path", "a\0b", (size_t) 3);
                uint8_t zero[HASH_MAX_SIZE] = {}, value[HASH_MAX_SIZE];
                assert_non_null(c);
                assert_int_equal(cel_writer_append(w, EVENT_DOMAIN, "app", c), -EINVAL);
                assert_non_null(strstr(cel_writer_error(w), "would not read back: record 0: invalid JSON"));
                json_decref(c);
                assert_int_equal(mr_read(mr, HASH_SHA256, value), 0);
                assert_memory_equal(value, zero, 32);
        }
        free(read_all(&n));
        assert_int_equal(n, 0);
}

/* Content altered after measurement, same length, so only the digests can tell. */
static void test_tampered(void **state) {
        _cleanup_(mr_freep) struct mr *mr = mem_pcr14();
        _cleanup_(cel_log_done) struct cel_log log = {};
        _cleanup_free_ char *p = NULL;
        struct cel_value v[4];
        size_t n = 0, len;
        char *s;

        (void) state;
        write_three(mr);
        p = read_all(&len);
        s = strstr(p, "\"name\":\"m\"");
        assert_non_null(s);
        s[8] = 'X';
        write_all(p, len);
        parse_file(&log, 0, NULL);
        assert_true(log.records[0].content_matches);
        assert_false(log.records[1].content_matches);
        assert_true(log.records[2].content_matches);
        expect_mr(mr, v, &n);
        verify_kind(&log, v, n, CEL_VERDICT_CONTENT_MISMATCH, 1,
                    "record 1: content does not match its digests (altered after measurement)");
}

/* Register values computed here from hand-built records: reg = SHA-256 chain of the digests. */
static void chain_value(struct cel_value *v, const char *mr, int from, int to, int extra) {
        char text[64];
        uint8_t d[32];

        *v = (struct cel_value) { .alg = HASH_SHA256 };
        snprintf(v->mr, sizeof(v->mr), "%s", mr);
        for (int i = from; i < to; i++) {
                snprintf(text, sizeof(text), "cvminit app {\"n\":%d}", i);
                aael_digest(EVP_sha256(), text, d);
                md_extend(EVP_sha256(), v->value, d);
        }
        if (extra) {
                memset(d, 0xab, sizeof(d));
                md_extend(EVP_sha256(), v->value, d);
        }
}

/* Records 0..n-1 for mr, content {"n":i}. */
static void hand_log(unsigned n, const char *const *mrs, struct cel_log *log) {
        char rec[1024], all[16384] = "";
        errbuf err = {};

        for (unsigned i = 0; i < n; i++) {
                record_text(rec, sizeof(rec), i, mrs[i], (int) i);
                strcat(all, rec);
        }
        assert_int_equal(cel_parse((uint8_t *) all, strlen(all), log, &err), 0);
}

static void test_verdicts(void **state) {
        static const char *const pcr14x4[] = { "pcr14", "pcr14", "pcr14", "pcr14" };
        static const char *const mixed[] = { "pcr14", "pcr15", "pcr14", "pcr15" };
        _cleanup_(cel_log_done) struct cel_log log = {}, two = {};
        struct cel_value v[3];
        struct cel_verdict verdict;

        (void) state;
        hand_log(4, pcr14x4, &log);
        chain_value(&v[0], "pcr14", 0, 4, 0);
        verify_kind(&log, v, 1, CEL_VERDICT_MATCH, CEL_NO_RECORD, "pcr14: all banks match the log (4 records)");
        chain_value(&v[0], "pcr14", 0, 2, 0);
        verify_kind(&log, v, 1, CEL_VERDICT_NOT_EXTENDED, 2, "records 2.. were logged but never extended");
        chain_value(&v[0], "pcr14", 0, 0, 0);
        verify_kind(&log, v, 1, CEL_VERDICT_NOT_EXTENDED, 0, "records 0..");
        chain_value(&v[0], "pcr14", 0, 4, 1);
        verify_kind(&log, v, 1, CEL_VERDICT_UNLOGGED_EXTEND, CEL_NO_RECORD,
                    "pcr14 sha256: the log replays completely but the register differs: it was extended "
                    "with something the log does not record");
        chain_value(&v[0], "pcr14", 1, 4, 0); /* first record missing: no prefix matches */
        verify_kind(&log, v, 1, CEL_VERDICT_UNLOGGED_EXTEND, CEL_NO_RECORD, "replays completely");

        /* A bank the log has no digests for; a register of the log without a value. */
        chain_value(&v[0], "pcr14", 0, 4, 0);
        v[1] = (struct cel_value) { .mr = "pcr14", .alg = HASH_SHA384 };
        verify_kind(&log, v, 2, CEL_VERDICT_BANK_NOT_COVERED, CEL_NO_RECORD, "pcr14 sha384: the log has no digests");
        v[0] = (struct cel_value) { .mr = "pcr15", .alg = HASH_SHA256 };
        verify_kind(&log, v, 1, CEL_VERDICT_MISSING_EXPECTED, CEL_NO_RECORD,
                    "pcr14: the log has records for this register but no value");
        /* A register the log never names must still be at zero. */
        chain_value(&v[0], "pcr14", 0, 4, 0);
        chain_value(&v[1], "pcr15", 0, 0, 1);
        verify_kind(&log, v, 2, CEL_VERDICT_UNLOGGED_EXTEND, CEL_NO_RECORD, "pcr15 sha256: the log has no records");
        memset(v[1].value, 0, sizeof(v[1].value));
        verify_kind(&log, v, 2, CEL_VERDICT_MATCH, CEL_NO_RECORD, "all banks of 2 registers match");

        /* Duplicate or invalid expected values are the caller's error. */
        v[1] = v[0];
        assert_int_equal(cel_verify(&log, v, 2, &verdict), -EINVAL);
        snprintf(v[1].mr, sizeof(v[1].mr), "pcr99");
        assert_int_equal(cel_verify(&log, v, 2, &verdict), -EINVAL);

        /* Two registers interleaved: each replays on its own records. */
        hand_log(4, mixed, &two);
        chain_value(&v[0], "pcr14", 0, 0, 0);
        chain_value(&v[1], "pcr15", 0, 0, 0);
        {
                uint8_t d[32];
                char text[64];
                for (int i = 0; i < 4; i++) {
                        snprintf(text, sizeof(text), "cvminit app {\"n\":%d}", i);
                        aael_digest(EVP_sha256(), text, d);
                        md_extend(EVP_sha256(), v[i % 2].value, d);
                }
        }
        verify_kind(&two, v, 2, CEL_VERDICT_MATCH, CEL_NO_RECORD, "2 registers");
        chain_value(&v[1], "pcr15", 1, 2, 0); /* pcr15 has only record 1 */
        verify_kind(&two, v, 2, CEL_VERDICT_NOT_EXTENDED, 3, "pcr15: records 3..");
}

/* ---- malformed input ---- */

struct bad {
        const char *name, *from, *to; /* replace in record 1 of a valid 3-record log */
        int error;
        const char *msg;
};

static const struct bad bad_inputs[] = {
        { "wrong digest length", "\"digest\":\"", "\"digest\":\"00", -EBADMSG, "record 1: the sha256 digest must be 64 hex digits" },
        { "bad hex", "\"digest\":\"", "\"digest\":\"zz", -EBADMSG, "record 1: the sha256 digest" },
        { "unknown algorithm", "\"sha256\"", "\"md5\"", -EBADMSG, "record 1: unknown hash algorithm \"md5\"" },
        { "duplicate key", "{\"recnum\":1,", "{\"recnum\":1,\"recnum\":1,", -EBADMSG, "record 1: invalid JSON: duplicate object key" },
        { "invalid JSON", "\"mr\":", "\"mr\"", -EBADMSG, "record 1: invalid JSON" },
        { "invalid UTF-8", "\"app\"", "\"a\xc3\x28\"", -EBADMSG, "record 1: not valid UTF-8" },
        { "overlong UTF-8", "\"app\"", "\"\xc0\xaf\"", -EBADMSG, "record 1: not valid UTF-8" },
        { "non-sequential recnum", "\"recnum\":1", "\"recnum\":2", -EBADMSG, "record 1: recnum is 2, expected 1" },
        { "negative recnum", "\"recnum\":1", "\"recnum\":-1", -EBADMSG, "record 1: recnum must be" },
        { "string recnum", "\"recnum\":1", "\"recnum\":\"1\"", -EBADMSG, "record 1: recnum must be" },
        { "bad mr", "\"pcr14\"", "\"pcr24\"", -EBADMSG, "record 1: mr must be" },
        { "content type", "\"content_type\":\"cvminit\"", "\"content_type\":\"systemd\"", -EBADMSG, "record 1: content_type" },
        { "unknown member", "{\"recnum\":1,", "{\"recnum\":1,\"x\\u001b\":0,", -EBADMSG, "record 1: the record has an unknown member \"x\\x1b\"" },
        { "missing member", "\"content_type\":\"cvminit\",", "", -EBADMSG, "record 1: the record has no \"content_type\"" },
        { "duplicate alg", "}],\"content_type\"", "},{\"hashAlg\":\"SHA-256\",\"digest\":\"" "0000000000000000000000000000000000000000000000000000000000000000" "\"}],\"content_type\"", -EBADMSG, "record 1: two digests for sha256" },
        { "bad operation", "\"app\"", "\"a b\"", -EBADMSG, "record 1: content.operation must be" },
        { "content not object", "\"content\":{\"n\":1}", "\"content\":[1]", -EBADMSG, "record 1: content.content must be an object" },
        { "float content", "{\"n\":1}", "{\"n\":1.5}", -EBADMSG, "record 1: content cannot be canonicalized" },
        { "not an object", "{\"recnum\":1,", "[{\"recnum\":1,", -EBADMSG, "record 1: invalid JSON" },
        { "array record", "\x1e{\"recnum\":1", "\x1e[]\n\x1e{\"recnum\":1", -EBADMSG, "record 1: not a JSON object" },
        { "truncated in the middle", "}}}\n\x1e{\"recnum\":2", "}}\x1e{\"recnum\":2", -EBADMSG, "record 1: not terminated by a newline" },
        { "other banks", "\"digests\":[{\"hashAlg\":\"sha256\",\"digest\":\"", "\"digests\":[{\"hashAlg\":\"sha1\",\"digest\":\"0000000000000000000000000000000000000000\"},{\"hashAlg\":\"sha256\",\"digest\":\"", -EBADMSG, "record 1: its digests are for other banks than record 0's for pcr14" },
        { "garbage between", "\x1e{\"recnum\":1", "junk\x1e{\"recnum\":1", -EBADMSG, "record 0: not terminated by a newline" },
};

static void test_malformed(void **state) {
        static const char *const mrs[] = { "pcr14", "pcr14", "pcr14" };
        char good[4096] = "", rec[1024];

        (void) state;
        for (unsigned i = 0; i < 3; i++) {
                record_text(rec, sizeof(rec), i, mrs[i], (int) i);
                strcat(good, rec);
        }
        for (size_t k = 0; k < ELEMENTSOF(bad_inputs); k++) {
                const struct bad *b = &bad_inputs[k];
                struct cel_log log = {};
                char input[8192];
                errbuf err = {};
                /* Replace within record 1 (the first match at or after its start). */
                char *r1 = strstr(good, "\x1e{\"recnum\":1"), *at;
                if (strcmp(b->name, "truncated in the middle") == 0 || strcmp(b->name, "garbage between") == 0)
                        r1 = good;
                at = strstr(r1, b->from);
                if (!at)
                        fail_msg("%s: pattern not found", b->name);
                snprintf(input, sizeof(input), "%.*s%s%s", (int) (at - good), good, b->to, at + strlen(b->from));
                int r = cel_parse((uint8_t *) input, strlen(input), &log, &err);
                if (r != b->error || !strstr(err.msg, b->msg))
                        fail_msg("%s: got %d \"%s\", expected %d \"%s\"", b->name, r, err.msg, b->error, b->msg);
                assert_null(log.records);
        }
}

static void test_malformed_framing(void **state) {
        struct cel_log log = {};
        char rec[1024], input[4096];
        errbuf err = {};

        (void) state;
        /* Empty log: no records, fine. */
        assert_int_equal(cel_parse((const uint8_t *) "", 0, &log, &err), 0);
        assert_int_equal(log.n, 0);
        assert_int_equal(cel_parse((const uint8_t *) "{}\n", 3, &log, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "record 0: the log does not start with a record separator"));
        /* A truncated last record (a crash inside the intent write) is not a record. */
        record_text(rec, sizeof(rec), 0, "pcr14", 0);
        snprintf(input, sizeof(input), "%s%.*s", rec, 40, rec);
        assert_int_equal(cel_parse((uint8_t *) input, strlen(input), &log, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "record 1: invalid JSON"));
        /* No digests at all. */
        snprintf(input, sizeof(input), "%s\x1e{\"recnum\":1,\"mr\":\"pcr14\",\"digests\":[],\"content_type\":"
                 "\"cvminit\",\"content\":{\"domain\":\"cvminit\",\"operation\":\"app\",\"content\":{}}}\n", rec);
        assert_int_equal(cel_parse((uint8_t *) input, strlen(input), &log, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "record 1: digests must be a non-empty array"));
        /* A lone RS. */
        snprintf(input, sizeof(input), "%s\x1e", rec);
        assert_int_equal(cel_parse((uint8_t *) input, strlen(input), &log, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "record 1: invalid JSON"));
}

static void test_oversized(void **state) {
        _cleanup_free_ uint8_t *big = NULL;
        struct cel_log log = {};
        errbuf err = {};
        size_t n;

        (void) state;
        n = CEL_FILE_MAX + 1;
        big = calloc(1, n);
        assert_non_null(big);
        big[0] = 0x1e;
        assert_int_equal(cel_parse(big, n, &log, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "more than the limit"));

        /* One record over CEL_RECORD_MAX, framed correctly. */
        n = CEL_RECORD_MAX + 2;
        memset(big, ' ', n);
        big[0] = 0x1e;
        big[n - 1] = '\n';
        assert_int_equal(cel_parse(big, n, &log, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "record 0: "));

        write_all((char *) big, 0);
        assert_int_equal(truncate(path, CEL_FILE_MAX + 1), 0);
        assert_int_equal(cel_read_file(path, &log, &err), -EFBIG);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_mr_names),
                cmocka_unit_test_setup_teardown(test_record_bytes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_parse_replay, setup, teardown),
                cmocka_unit_test_setup_teardown(test_two_writers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_writer_refuses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_uncommitted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rescan_uncommitted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_failing_extend, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_event, setup, teardown),
                cmocka_unit_test_setup_teardown(test_tampered, setup, teardown),
                cmocka_unit_test(test_verdicts),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_malformed_framing),
                cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
