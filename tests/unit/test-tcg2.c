/* SPDX-License-Identifier: MIT */
/* TCG2 crypto-agile logs against production data: the GCP CCEL replays to its quote's RTMRs (read
 * from the quote bytes), Trustee's AAEL log parses as Trustee parsed it (its JSON), and both
 * re-render byte for byte. Then malformed inputs: every one fails with -EBADMSG naming the event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "event.h"
#include "tcg2.h"

#define QUOTE_RTMR0_OFFSET 376U /* 48-byte header + TD report fields before RTMR0 */

static const char aael_sha384[] =
        "2330183d89750c6a374ac9827d33a33636e7876733544584c8ccc88df0df87eada37e5d71d0773502234c2b5fbc7448e";

static void read_fixture(const char *name, uint8_t **p, size_t *n) {
        const char *dir = getenv("FIXTURES") ?: "tests/fixtures";
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(read_file_limited(path, 1U << 20, p, n), 0);
}

static void parse_ok(const void *p, size_t n, struct tcg2_log *log) {
        errbuf err = {};
        int r = tcg2_parse(p, n, log, &err);
        if (r < 0)
                fail_msg("parse failed: %s", err.msg);
}

/* Parsing must fail with -EBADMSG and a message naming "event N at offset X". */
static void parse_bad(const void *p, size_t n, unsigned number, size_t offset) {
        struct tcg2_log log = {};
        errbuf err = {};
        char want[64];

        assert_int_equal(tcg2_parse(p, n, &log, &err), -EBADMSG);
        snprintf(want, sizeof(want), "event %u at offset %zu: ", number, offset);
        if (strncmp(err.msg, want, strlen(want)) != 0)
                fail_msg("expected \"%s...\", got \"%s\"", want, err.msg);
        assert_null(log.events);
}

static void test_ccel_replays_to_quote(void **state) {
        _cleanup_free_ uint8_t *p = NULL, *quote = NULL;
        uint8_t v[HASH_MAX_SIZE];
        struct tcg2_log log = {};
        size_t n, qn;

        (void) state;
        read_fixture("ccel/gcp-cos113-ccel_data.dat", &p, &n);
        read_fixture("ccel/gcp-cos113-cos-113-tdx-quote.dat", &quote, &qn);
        assert_true(qn >= QUOTE_RTMR0_OFFSET + 4 * 48);
        parse_ok(p, n, &log);
        assert_int_equal(log.n_events, 43);
        assert_int_equal(log.spec_id.n_algs, 1);
        assert_int_equal(log.spec_id.algs[0].alg, HASH_SHA384);
        assert_int_equal(log.end, TCG2_END_MARKER);
        for (uint32_t i = 1; i <= 4; i++) {
                int r = tcg2_replay(&log, i, HASH_SHA384, v, NULL);
                assert_true(i == 4 ? r == 0 : r > 0);
                assert_memory_equal(v, quote + QUOTE_RTMR0_OFFSET + 48 * (i - 1), 48);
        }
        assert_int_equal(tcg2_replay(&log, 1, HASH_SHA256, v, NULL), -ENOENT);
        tcg2_log_done(&log);
}

static void check_digest_json(const struct tcg2_event *e, json_t *digests) {
        assert_int_equal(json_array_size(digests), e->n_digests);
        for (unsigned k = 0; k < e->n_digests; k++) {
                json_t *d = json_array_get(digests, k);
                _cleanup_free_ char *hex = hexmem(e->digests[k].d, e->digests[k].size);
                assert_int_equal(hash_alg_from_name(json_string_value(json_object_get(d, "alg"))),
                                 e->digests[k].alg);
                assert_string_equal(hex, json_string_value(json_object_get(d, "digest")));
        }
}

static void check_event_data_json(const struct tcg2_event *e, const char *b64) {
        size_t len = strlen(b64);
        _cleanup_free_ uint8_t *raw = malloc(len / 4 * 3 + 1);
        int n;

        assert_non_null(raw);
        n = EVP_DecodeBlock(raw, (const unsigned char *) b64, (int) len);
        assert_true(n >= 0);
        n -= (len > 0 && b64[len - 1] == '=') + (len > 1 && b64[len - 2] == '=');
        assert_int_equal(n, e->data_len);
        assert_memory_equal(raw, e->data, e->data_len);
}

/* Trustee's parse: details.string is the text; details.data holds domain, operation, content. */
static void check_aael_json(const struct tcg2_event *e, json_t *details) {
        json_t *data = json_object_get(details, "data"), *content = json_object_get(data, "content");

        assert_true(e->aael && e->aael_split);
        assert_int_equal(e->text_len, strlen(json_string_value(json_object_get(details, "string"))));
        assert_memory_equal(e->text, json_string_value(json_object_get(details, "string")), e->text_len);
        assert_int_equal(e->domain_len, strlen(json_string_value(json_object_get(data, "domain"))));
        assert_memory_equal(e->domain, json_string_value(json_object_get(data, "domain")), e->domain_len);
        assert_memory_equal(e->operation, json_string_value(json_object_get(data, "operation")),
                            e->operation_len);
        if (json_is_string(content)) {
                assert_int_equal(e->content_len, strlen(json_string_value(content)));
                assert_memory_equal(e->content, json_string_value(content), e->content_len);
        } else {
                json_t *ours = json_loadb(e->content, e->content_len, 0, NULL);
                assert_true(json_equal(ours, content));
                json_decref(ours);
        }
}

static void test_aael_matches_trustee(void **state) {
        _cleanup_free_ uint8_t *p = NULL, *js = NULL;
        struct tcg2_log log = {};
        json_t *root, *events;
        unsigned aael = 0;
        size_t n, jn;

        (void) state;
        read_fixture("aael/CCEL_AAEL_alibabacloud", &p, &n);
        read_fixture("aael/CCEL_AAEL_alibabacloud_out.json", &js, &jn);
        root = json_loadb((const char *) js, jn, 0, NULL);
        events = json_object_get(root, "uefi_event_logs");
        assert_non_null(events);
        parse_ok(p, n, &log);
        /* Trustee lists every event after the Spec ID header, in order. */
        assert_int_equal(log.n_events, json_array_size(events));
        for (size_t i = 0; i < log.n_events; i++) {
                const struct tcg2_event *e = &log.events[i];
                json_t *j = json_array_get(events, i);

                assert_int_equal(e->index, json_integer_value(json_object_get(j, "index")));
                assert_string_equal(tcg2_event_type_name(e->type), json_string_value(json_object_get(j, "type_name")));
                check_digest_json(e, json_object_get(j, "digests"));
                check_event_data_json(e, json_string_value(json_object_get(j, "event")));
                assert_int_equal(e->digests_match, json_is_true(json_object_get(j, "digest_matches_event")));
                if (e->type == TCG2_EV_EVENT_TAG) {
                        check_aael_json(e, json_object_get(j, "details"));
                        aael++;
                } else
                        assert_false(e->aael);
        }
        assert_int_equal(aael, 2);
        json_decref(root);
        tcg2_log_done(&log);
}

static void test_aael_rtmr3(void **state) {
        _cleanup_free_ uint8_t *p = NULL;
        uint8_t v[HASH_MAX_SIZE];
        char hex[2 * HASH_MAX_SIZE + 1];
        struct tcg2_log log = {};
        size_t n;

        (void) state;
        read_fixture("aael/CCEL_AAEL_alibabacloud", &p, &n);
        parse_ok(p, n, &log);
        assert_int_equal(tcg2_replay(&log, TCG2_CC_MR_RTMR3, HASH_SHA384, v, NULL), 2);
        hex_encode(v, 48, hex);
        assert_memory_equal(hex, "5e4ecd49", 8);
        assert_string_equal(hex + 96 - 8, "17257dad");
        /* The "coco.com some-operation some-content" entry, as DESIGN §3 gives it. */
        assert_int_equal(log.events[85].text_len, 36);
        assert_memory_equal(log.events[85].text, "coco.com some-operation some-content", 36);
        hex_encode(log.events[85].digests[0].d, 48, hex);
        assert_string_equal(hex, aael_sha384);
        tcg2_log_done(&log);
}

static void to_digests(const struct tcg2_event *e, struct digest *out) {
        for (unsigned k = 0; k < e->n_digests; k++) {
                assert_true(e->digests[k].alg >= 0);
                out[k].alg = e->digests[k].alg;
                memcpy(out[k].d, e->digests[k].d, e->digests[k].size);
        }
}

static void assert_events_equal(const struct tcg2_log *a, const struct tcg2_log *b) {
        assert_int_equal(a->n_events, b->n_events);
        for (size_t i = 0; i < a->n_events; i++) {
                const struct tcg2_event *x = &a->events[i], *y = &b->events[i];
                assert_int_equal(x->index, y->index);
                assert_int_equal(x->type, y->type);
                assert_int_equal(x->n_digests, y->n_digests);
                for (unsigned k = 0; k < x->n_digests; k++) {
                        assert_int_equal(x->digests[k].alg_id, y->digests[k].alg_id);
                        assert_memory_equal(x->digests[k].d, y->digests[k].d, x->digests[k].size);
                }
                assert_int_equal(x->data_len, y->data_len);
                assert_memory_equal(x->data, y->data, x->data_len);
                assert_int_equal(x->aael, y->aael);
                assert_int_equal(x->digests_match, y->digests_match);
        }
}

/* Re-rendering a firmware log (minimal header, same events, end marker) gives its very bytes. */
static void rerender(const char *fixture) {
        _cleanup_free_ uint8_t *p = NULL;
        struct tcg2_log log = {}, again = {};
        enum hash_alg banks[TCG2_DIGESTS_MAX];
        struct buf b = {};
        size_t n;

        read_fixture(fixture, &p, &n);
        parse_ok(p, n, &log);
        for (unsigned k = 0; k < log.spec_id.n_algs; k++)
                banks[k] = log.spec_id.algs[k].alg;
        assert_int_equal(tcg2_render_spec_id(&b, log.spec_id.index, banks, log.spec_id.n_algs), 0);
        assert_int_equal(b.len, log.header_size);
        for (size_t i = 0; i < log.n_events; i++) {
                const struct tcg2_event *e = &log.events[i];
                struct digest d[TCG2_DIGESTS_MAX];
                to_digests(e, d);
                assert_int_equal(tcg2_render_event(&b, e->index, e->type, d, e->n_digests, e->data, e->data_len), 0);
        }
        assert_int_equal(tcg2_render_end(&b), 0);
        assert_int_equal(b.len, log.content_size + 8);
        assert_memory_equal(b.data, p, b.len);
        parse_ok(b.data, b.len, &again);
        assert_events_equal(&log, &again);
        tcg2_log_done(&again);
        tcg2_log_done(&log);
        buf_free(&b);
}

static void test_rerender_fixtures(void **state) {
        (void) state;
        rerender("ccel/gcp-cos113-ccel_data.dat");
        rerender("aael/CCEL_AAEL_alibabacloud");
}

/* Our AAEL entry for Trustee's text is byte for byte Trustee's event 86. */
static void test_render_aael_like_trustee(void **state) {
        static const char text[] = "coco.com some-operation some-content";
        static const enum hash_alg sha384 = HASH_SHA384;
        _cleanup_free_ uint8_t *p = NULL;
        struct tcg2_log log = {};
        struct buf b = {};
        size_t n;

        (void) state;
        read_fixture("aael/CCEL_AAEL_alibabacloud", &p, &n);
        parse_ok(p, n, &log);
        assert_int_equal(tcg2_render_aael(&b, TCG2_CC_MR_RTMR3, &sha384, 1, text, strlen(text)), 0);
        assert_int_equal(b.len, log.events[86].offset - log.events[85].offset);
        assert_memory_equal(b.data, p + log.events[85].offset, b.len);
        tcg2_log_done(&log);
        buf_free(&b);
}

static void sha(const EVP_MD *md, const void *a, size_t an, const void *c, size_t cn, uint8_t *out) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        assert_true(EVP_DigestInit_ex(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, a, an) == 1 &&
                    EVP_DigestUpdate(ctx, c, cn) == 1 && EVP_DigestFinal_ex(ctx, out, NULL) == 1);
        EVP_MD_CTX_free(ctx);
}

/* A rendered log (two banks, AAEL + plain + EV_NO_ACTION) parses and replays, checked against
 * OpenSSL directly. */
static void test_render_roundtrip(void **state) {
        static const enum hash_alg banks[] = { HASH_SHA256, HASH_SHA384 };
        static const char text[] = "cvminit boot-done {}";
        uint8_t tagged[8 + sizeof(text) - 1], zero[48] = {}, d[48], want[48], v[HASH_MAX_SIZE];
        struct digest plain[2] = { { .alg = HASH_SHA256 }, { .alg = HASH_SHA384 } };
        struct tcg2_log log = {};
        struct buf b = {};

        (void) state;
        memset(plain[0].d, 0x11, 32);
        memset(plain[1].d, 0x22, 48);
        assert_int_equal(tcg2_render_spec_id(&b, 0, banks, 2), 0);
        assert_int_equal(tcg2_render_event(&b, 4, TCG2_EV_NO_ACTION, plain, 2, "x", 1), 0);
        assert_int_equal(tcg2_render_aael(&b, 4, banks, 2, text, strlen(text)), 0);
        assert_int_equal(tcg2_render_event(&b, 2, 0x80000007U, plain, 2, "abc", 3), 0);
        assert_int_equal(tcg2_render_end(&b), 0);
        parse_ok(b.data, b.len, &log);
        assert_int_equal(log.n_events, 3);
        assert_true(log.events[1].aael && log.events[1].aael_split && log.events[1].digests_match);
        assert_memory_equal(log.events[1].operation, "boot-done", 9);
        assert_false(log.events[2].digests_match);

        memcpy(tagged, "LEAA\x14\0\0\0", 8);
        memcpy(tagged + 8, text, sizeof(text) - 1);
        sha(EVP_sha384(), tagged, sizeof(tagged), "", 0, d);
        sha(EVP_sha384(), zero, 48, d, 48, want);
        assert_int_equal(tcg2_replay(&log, 4, HASH_SHA384, v, NULL), 1);
        assert_memory_equal(v, want, 48);
        sha(EVP_sha256(), zero, 32, plain[0].d, 32, want);
        assert_int_equal(tcg2_replay(&log, 2, HASH_SHA256, v, NULL), 1);
        assert_memory_equal(v, want, 32);
        assert_int_equal(tcg2_replay(&log, 3, HASH_SHA256, v, NULL), 0);
        assert_memory_equal(v, zero, 32);
        tcg2_log_done(&log);
        buf_free(&b);
}

/* A small valid log: header (sha1 + sha384, index 0) and three events on indexes 1, 4, 2. */
static void small_log(struct buf *b, size_t *starts) {
        static const enum hash_alg banks[] = { HASH_SHA1, HASH_SHA384 };
        struct digest d[2] = { { .alg = HASH_SHA1 }, { .alg = HASH_SHA384 } };

        memset(d[0].d, 0xaa, 20);
        memset(d[1].d, 0xbb, 48);
        assert_int_equal(tcg2_render_spec_id(b, 0, banks, 2), 0);
        starts[0] = b->len;
        assert_int_equal(tcg2_render_event(b, 1, 0x1, d, 2, "post", 4), 0);
        starts[1] = b->len;
        assert_int_equal(tcg2_render_aael(b, 4, banks, 2, "a b c", 5), 0);
        starts[2] = b->len;
        assert_int_equal(tcg2_render_event(b, 2, 0xd, d, 1, "", 0), 0);
        starts[3] = b->len;
}

static void test_truncated_everywhere(void **state) {
        struct buf b = {};
        size_t starts[4];

        (void) state;
        small_log(&b, starts);
        for (size_t len = 0; len < b.len; len++) {
                unsigned k = 0;
                while (k < 4 && starts[k] <= len)
                        k++;
                if (k > 0 && starts[k - 1] == len) {
                        struct tcg2_log log = {};
                        parse_ok(b.data, len, &log);
                        assert_int_equal(log.n_events, k - 1);
                        assert_int_equal(log.end, TCG2_END_DATA);
                        tcg2_log_done(&log);
                } else
                        parse_bad(b.data, len, k, k == 0 ? 0 : starts[k - 1]);
        }
        buf_free(&b);
}

static void put32(struct buf *b, size_t at, uint32_t v) {
        for (unsigned i = 0; i < 4; i++)
                b->data[at + i] = (char) (v >> (8 * i));
}

static void put16(struct buf *b, size_t at, uint16_t v) {
        b->data[at] = (char) v;
        b->data[at + 1] = (char) (v >> 8);
}

/* Offsets in small_log: header event data at 32 (signature), numberOfAlgorithms at 56, the
 * algorithm table at 60; event fields relative to its start: count +8, first algId +12. */
static void test_bad_counts_and_algs(void **state) {
        struct buf b = {};
        size_t s[4];

        (void) state;
        small_log(&b, s);
        put32(&b, s[0] + 8, 0);
        parse_bad(b.data, b.len, 1, s[0]);
        put32(&b, s[0] + 8, 3);
        parse_bad(b.data, b.len, 1, s[0]);
        put32(&b, s[0] + 8, 9);
        parse_bad(b.data, b.len, 1, s[0]);
        put32(&b, s[0] + 8, 2);
        put16(&b, s[0] + 12, 0x0027); /* SHA3-256: not declared */
        parse_bad(b.data, b.len, 1, s[0]);
        buf_free(&b);

        small_log(&b, s);
        put32(&b, s[2] - 9, 4); /* AAEL inner length 4 instead of 5 */
        parse_bad(b.data, b.len, 2, s[1]);
        buf_free(&b);

        small_log(&b, s);
        put32(&b, s[0], TCG2_INDEX_MAX);
        parse_bad(b.data, b.len, 1, s[0]);
        buf_free(&b);
}

/* sha256 and sm3_256 have the same size, so a second sha256 digest fits where sm3's was. */
static void test_duplicate_digest(void **state) {
        static const enum hash_alg banks[] = { HASH_SHA256, HASH_SM3_256 };
        struct digest d[2] = { { .alg = HASH_SHA256 }, { .alg = HASH_SM3_256 } };
        struct buf b = {};
        size_t start;

        (void) state;
        assert_int_equal(tcg2_render_spec_id(&b, 0, banks, 2), 0);
        start = b.len;
        assert_int_equal(tcg2_render_event(&b, 1, 0xd, d, 2, "x", 1), 0);
        put16(&b, start + 12 + 2 + 32, 0x000b);
        parse_bad(b.data, b.len, 1, start);
        buf_free(&b);
}

static void test_bad_event_size(void **state) {
        struct buf b = {};
        size_t s[4];

        (void) state;
        small_log(&b, s);
        /* event 3 has one sha1 digest: size at +12+2+20 */
        put32(&b, s[2] + 34, TCG2_EVENT_DATA_MAX + 1);
        parse_bad(b.data, b.len, 3, s[2]);
        put32(&b, s[2] + 34, 0xfffffff0U);
        parse_bad(b.data, b.len, 3, s[2]);
        put32(&b, s[2] + 34, 1);
        parse_bad(b.data, b.len, 3, s[2]);
        buf_free(&b);
}

static void test_bad_spec_id(void **state) {
        struct buf b = {};
        size_t s[4];

        (void) state;
        small_log(&b, s);
        b.data[32] = 'X'; /* signature */
        parse_bad(b.data, b.len, 0, 0);
        b.data[32] = 'S';
        put32(&b, 56, 0);
        parse_bad(b.data, b.len, 0, 56);
        put32(&b, 56, 9);
        parse_bad(b.data, b.len, 0, 56);
        put32(&b, 56, 2);
        put16(&b, 62, 32); /* sha1 declared with 32 bytes */
        parse_bad(b.data, b.len, 0, 60);
        put16(&b, 62, 20);
        put16(&b, 64, 0x0004); /* sha1 declared twice */
        parse_bad(b.data, b.len, 0, 64);
        put16(&b, 64, 0x000c);
        put32(&b, 4, 1); /* type EV_POST_CODE */
        parse_bad(b.data, b.len, 0, 0);
        put32(&b, 4, TCG2_EV_NO_ACTION);
        put32(&b, 0, TCG2_INDEX_MAX);
        parse_bad(b.data, b.len, 0, 0);
        put32(&b, 0, 0);
        put32(&b, 28, 42); /* event size: stray bytes after the structure */
        parse_bad(b.data, b.len, 0, 69);
        put32(&b, 28, 0x7fffffff);
        parse_bad(b.data, b.len, 0, 0);
        put32(&b, 28, 37);
        b.data[68] = 1; /* vendorInfoSize past the structure */
        parse_bad(b.data, b.len, 0, 68);
        buf_free(&b);
}

static void test_unknown_declared_alg(void **state) {
        static const enum hash_alg banks[] = { HASH_SHA1, HASH_SHA384 };
        uint8_t v[HASH_MAX_SIZE];
        struct tcg2_log log = {};
        struct buf b = {};
        size_t s[4];

        (void) state;
        small_log(&b, s);
        put16(&b, 60, 0x0027); /* header: SHA3-256 (32 bytes) declared instead of sha1 */
        put16(&b, 62, 32);
        parse_bad(b.data, b.len, 1, s[0]); /* events still carry 20-byte sha1 digests */
        buf_free(&b);

        assert_int_equal(tcg2_render_spec_id(&b, 0, banks, 2), 0);
        put16(&b, 60, 0x0027);
        put16(&b, 62, 20); /* unknown id, declared size 20: usable for parsing */
        assert_int_equal(tcg2_render_aael(&b, 4, banks, 2, "a b c", 5), 0);
        put16(&b, 69 + 12, 0x0027);
        parse_ok(b.data, b.len, &log);
        assert_int_equal(log.spec_id.algs[0].alg, -EOPNOTSUPP);
        assert_int_equal(log.events[0].digests[0].alg, -EOPNOTSUPP);
        assert_true(log.events[0].digests_match); /* the sha384 digest is computable */
        assert_int_equal(tcg2_replay(&log, 4, HASH_SHA384, v, NULL), 1);
        assert_int_equal(tcg2_replay(&log, 4, HASH_SHA1, v, NULL), -ENOENT);
        tcg2_log_done(&log);
        buf_free(&b);
}

static void test_ends_and_padding(void **state) {
        static const uint8_t junk[] = { 0xff, 0xff, 0x00 };
        struct tcg2_log log = {};
        struct buf b = {};
        size_t s[4];

        (void) state;
        small_log(&b, s);
        assert_int_equal(buf_append(&b, "\0\0\0\0\0\0\0\0\0\0\0\0", 12), 0);
        parse_ok(b.data, b.len, &log);
        assert_int_equal(log.n_events, 3);
        assert_int_equal(log.end, TCG2_END_PADDING);
        assert_int_equal(log.content_size, s[3]);
        tcg2_log_done(&log);
        b.len = s[3];
        assert_int_equal(buf_append(&b, "\xff\xff\xff", 3), 0);
        parse_ok(b.data, b.len, &log);
        assert_int_equal(log.end, TCG2_END_PADDING);
        tcg2_log_done(&log);
        b.len = s[3];
        assert_int_equal(buf_append(&b, junk, sizeof(junk)), 0);
        parse_bad(b.data, b.len, 4, s[3]);
        b.len = s[3];
        assert_int_equal(tcg2_render_end(&b), 0);
        assert_int_equal(buf_append(&b, "garbage after the end marker", 28), 0);
        parse_ok(b.data, b.len, &log);
        assert_int_equal(log.end, TCG2_END_MARKER);
        assert_int_equal(log.content_size, s[3]);
        tcg2_log_done(&log);
        buf_free(&b);
}

static void test_limits(void **state) {
        static const enum hash_alg sha1 = HASH_SHA1;
        struct digest d = { .alg = HASH_SHA1 };
        _cleanup_free_ uint8_t *big = NULL;
        struct tcg2_log log = {};
        struct buf b = {};
        size_t header, one;
        errbuf err = {};

        (void) state;
        assert_int_equal(tcg2_render_spec_id(&b, 0, &sha1, 1), 0);
        header = b.len;
        for (unsigned i = 0; i < TCG2_EVENTS_MAX; i++)
                assert_int_equal(tcg2_render_event(&b, 1, 0xd, &d, 1, NULL, 0), 0);
        one = (b.len - header) / TCG2_EVENTS_MAX;
        parse_ok(b.data, b.len, &log);
        assert_int_equal(log.n_events, TCG2_EVENTS_MAX);
        tcg2_log_done(&log);
        assert_int_equal(tcg2_render_event(&b, 1, 0xd, &d, 1, NULL, 0), 0);
        parse_bad(b.data, b.len, TCG2_EVENTS_MAX + 1, header + TCG2_EVENTS_MAX * one);
        buf_free(&b);

        big = malloc(TCG2_INPUT_MAX + 1);
        assert_non_null(big);
        memset(big, 0xff, TCG2_INPUT_MAX + 1);
        assert_int_equal(tcg2_parse(big, TCG2_INPUT_MAX + 1, &log, &err), -EFBIG);
}

static void test_render_refuses(void **state) {
        static const enum hash_alg dup[] = { HASH_SHA256, HASH_SHA256 };
        static const enum hash_alg nine[9] = {};
        struct digest d[2] = { { .alg = HASH_SHA256 }, { .alg = HASH_SHA256 } };
        _cleanup_free_ char *big = calloc(1, TCG2_EVENT_DATA_MAX + 1);
        struct buf b = {};

        (void) state;
        assert_non_null(big);
        assert_int_equal(tcg2_render_spec_id(&b, 0, dup, 0), -EINVAL);
        assert_int_equal(tcg2_render_spec_id(&b, 0, dup, 2), -EINVAL);
        assert_int_equal(tcg2_render_spec_id(&b, 0, nine, 9), -EINVAL);
        assert_int_equal(tcg2_render_spec_id(&b, TCG2_INDEX_MAX, dup, 1), -EINVAL);
        assert_int_equal(tcg2_render_event(&b, 1, 1, d, 2, "", 0), -EINVAL);
        assert_int_equal(tcg2_render_event(&b, 1, 1, d, 0, "", 0), -EINVAL);
        assert_int_equal(tcg2_render_event(&b, TCG2_INDEX_MAX, 1, d, 1, "", 0), -EINVAL);
        assert_int_equal(tcg2_render_event(&b, 1, 1, d, 1, big, TCG2_EVENT_DATA_MAX + 1), -E2BIG);
        assert_int_equal(b.len, 0);
        /* a failing append leaves the buffer as it was */
        b.max = 100;
        assert_int_equal(tcg2_render_event(&b, 1, 1, d, 1, "x", 1), 0);
        assert_int_equal(tcg2_render_event(&b, 1, 1, d, 1, "x", 1), -E2BIG);
        assert_int_equal(b.len, 4 + 4 + 4 + 2 + 32 + 4 + 1);
        buf_free(&b);
}

static void test_missing_bank_and_locality(void **state) {
        static const enum hash_alg banks[] = { HASH_SHA256, HASH_SHA384 };
        struct digest d = { .alg = HASH_SHA256 };
        uint8_t v[HASH_MAX_SIZE], init[32] = {}, want[32];
        struct tcg2_log log = {};
        struct buf b = {};
        errbuf err = {};

        (void) state;
        memset(d.d, 0x5a, 32);
        assert_int_equal(tcg2_render_spec_id(&b, 0, banks, 2), 0);
        assert_int_equal(tcg2_render_event(&b, 0, TCG2_EV_NO_ACTION, &d, 1, "StartupLocality\0\3", 17), 0);
        assert_int_equal(tcg2_render_event(&b, 0, 0x8, &d, 1, "v", 1), 0);
        parse_ok(b.data, b.len, &log);
        init[31] = 3;
        sha(EVP_sha256(), init, 32, d.d, 32, want);
        assert_int_equal(tcg2_replay(&log, 0, HASH_SHA256, v, NULL), 1);
        assert_memory_equal(v, want, 32);
        /* The sha384 bank cannot be replayed: event 2 has no sha384 digest. */
        assert_int_equal(tcg2_replay(&log, 0, HASH_SHA384, v, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "event 2 at offset"));
        tcg2_log_done(&log);
        buf_free(&b);
}

static void test_acpi_table(void **state) {
        _cleanup_free_ uint8_t *p = NULL, *data = NULL;
        struct acpi_ccel t;
        size_t n, dn;

        (void) state;
        read_fixture("ccel/gcp-cos113-ccel_table.dat", &p, &n);
        read_fixture("ccel/gcp-cos113-ccel_data.dat", &data, &dn);
        assert_true(acpi_ccel_is_table(p, n));
        assert_false(acpi_ccel_is_table(data, dn));
        assert_int_equal(acpi_ccel_parse(p, n, &t, NULL), 0);
        assert_int_equal(t.length, 56);
        assert_int_equal(t.cc_type, ACPI_CC_TYPE_TDX);
        assert_int_equal(t.laml, dn); /* the log area is the data file */
        assert_string_equal(t.oem_id, "INTEL ");
        assert_string_equal(t.oem_table_id, "EDK2    ");
        assert_int_equal(acpi_ccel_parse(p, n - 1, &t, NULL), -EBADMSG);
        p[50] ^= 1;
        assert_int_equal(acpi_ccel_parse(p, n, &t, NULL), -EBADMSG);
        assert_int_equal(acpi_ccel_parse(p, 3, &t, NULL), -EBADMSG);
}

static void test_names(void **state) {
        (void) state;
        assert_string_equal(tcg2_event_type_name(3), "EV_NO_ACTION");
        assert_string_equal(tcg2_event_type_name(0x800000E0U), "EV_EFI_VARIABLE_AUTHORITY");
        assert_null(tcg2_event_type_name(0x8000000EU));
        assert_null(tcg2_event_type_name(0x14));
        assert_null(tcg2_event_type_name(0xffffffffU));
        assert_string_equal(tcg2_cc_mr_name(1), "rtmr0");
        assert_string_equal(tcg2_cc_mr_name(4), "rtmr3");
        assert_null(tcg2_cc_mr_name(5));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ccel_replays_to_quote),
                cmocka_unit_test(test_aael_matches_trustee),
                cmocka_unit_test(test_aael_rtmr3),
                cmocka_unit_test(test_rerender_fixtures),
                cmocka_unit_test(test_render_aael_like_trustee),
                cmocka_unit_test(test_render_roundtrip),
                cmocka_unit_test(test_truncated_everywhere),
                cmocka_unit_test(test_bad_counts_and_algs),
                cmocka_unit_test(test_duplicate_digest),
                cmocka_unit_test(test_bad_event_size),
                cmocka_unit_test(test_bad_spec_id),
                cmocka_unit_test(test_unknown_declared_alg),
                cmocka_unit_test(test_ends_and_padding),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_render_refuses),
                cmocka_unit_test(test_missing_bank_and_locality),
                cmocka_unit_test(test_acpi_table),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
