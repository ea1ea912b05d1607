/* SPDX-License-Identifier: MIT */
/* TDX evidence verification (measurements/tdx-verify.c). Evidence is made with cvm-tdxsim's quote
 * and firmware-log generators and events rendered by hand (tdxevidence.h); expected values come
 * from OpenSSL directly (SHA-384 replay, the root's DER fingerprint) and from documented values
 * (docs/tdxsim.md's RTMR0-2, DESIGN §3's AAEL test vector). Also the production GCP quote with the
 * firmware log of the same boot (tests/fixtures/ccel) under Intel's root, and Trustee's AAEL log.
 * Each rule is broken alone: a changed event text, a non-AAEL event at RTMR3, an event at MRTD or
 * beyond RTMR3, another root, another report_data, an extend outside the log, another firmware
 * RTMR, an expired chain, a DEBUG TD, bad base64, extra or missing members, oversized parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "pemcert.h"
#include "tdxevidence.h"
#include "tdx-verify.h"
#include "tmptree.h"

#define AT_2027 ((time_t) 1798761600) /* 2027-01-01: inside the GCP PCK leaf's validity */
#define AT_2100 ((time_t) 4102444800) /* after every test certificate */
/* SHA-256 of the Intel SGX Root CA's DER (openssl x509 -outform der | sha256sum; test-policy.c) */
#define INTEL_ROOT_SHA256 "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

static struct tdxsim_keys keys_a, keys_b;
static STACK_OF(X509) *roots_a;
static uint8_t root_a_sha256[32];

static const char *const boot_events[] = {
        "config", "{\"sha384\":\"aa\",\"source\":\"file:/etc/c.json\"}",
        "model", "{\"alg\":\"sha256\",\"bytes\":6,\"files\":1,\"manifest\":\"bb\",\"mode\":\"files\",\"name\":\"tiny\"}",
        NULL,
};

static void read_file(const char *path, uint8_t **p, size_t *n) {
        assert_int_equal(read_file_limited(path, 1U << 20, p, n), 0);
}

static void read_fixture(const char *name, uint8_t **p, size_t *n) {
        char path[4096];

        snprintf(path, sizeof(path), "%s/%s", getenv("FIXTURES") ?: "tests/fixtures", name);
        read_file(path, p, n);
}

/* Roots from a PEM file with OpenSSL, and the SHA-256 of the first one's DER. */
static STACK_OF(X509) *load_roots(const char *path, uint8_t sha256[32]) {
        STACK_OF(X509) *s = sk_X509_new_null();

        assert_non_null(s);
        assert_true(sk_X509_push(s, pemcert_read(path, sha256)) > 0);
        return s;
}

static void rd_of(const char *seed, uint8_t rd[KBS_REPORT_DATA_SIZE]) {
        tdxev_sha384(seed, strlen(seed), rd);
}

static json_t *make(struct tdxevidence_params p, const uint8_t *rd, const char *const *events, struct tdxsim_td *td) {
        struct tdxsim_td t;

        p.keys = p.keys ?: &keys_a;
        p.report_data = rd;
        return tdxevidence_make(&p, events, td ?: &t);
}

static const struct claim_register *find_register(const struct claims *c, const char *mr) {
        for (unsigned i = 0; i < c->n_registers; i++)
                if (strcmp(c->registers[i].mr, mr) == 0)
                        return &c->registers[i];
        fail_msg("no register claim %s", mr);
        return NULL;
}

static void assert_register(const struct claims *c, const char *mr, const uint8_t want[48]) {
        const struct claim_register *g = find_register(c, mr);

        assert_int_equal(g->alg, HASH_SHA384);
        assert_memory_equal(g->value, want, 48);
}

static void expect_fail(const json_t *ev, const uint8_t *rd, const STACK_OF(X509) *roots, time_t now, int want,
                        const char *words) {
        struct claims c = {};
        errbuf err = {};
        int r = tdx_evidence_verify(ev, rd, roots, now, &c, &err);

        if (r != want || !strstr(err.msg, words))
                fail_msg("expected %d with \"%s\", got %d: %s", want, words, r, err.msg);
        assert_null(c.events);
        assert_int_equal(c.n_registers, 0);
}

static void test_good(void **state) {
        uint8_t rd[KBS_REPORT_DATA_SIZE], mrtd[48], rtmr3[48] = {}, d[48];
        struct tdxsim_td td;
        struct claims c = {};
        errbuf err = {};
        json_t *ev;

        (void) state;
        rd_of("good", rd);
        ev = make((struct tdxevidence_params) {}, rd, boot_events, &td);
        if (tdx_evidence_verify(ev, rd, roots_a, 0, &c, &err) < 0)
                fail_msg("rejected: %s", err.msg);
        assert_int_equal(c.tee, KBS_TEE_TDX);
        assert_false(c.has_ak);
        assert_true(c.has_root);
        assert_memory_equal(c.root_sha256, root_a_sha256, 32);
        /* mrtd: the simulator's documented default, SHA-384("cvm-tdxsim MRTD") */
        tdxev_sha384("cvm-tdxsim MRTD", 15, mrtd);
        assert_register(&c, "mrtd", mrtd);
        for (unsigned i = 0; i < 3; i++) {
                uint8_t want[48];
                char name[8];
                tdxev_hex(tdxev_fw_rtmr[i], want, 48);
                snprintf(name, sizeof(name), "rtmr%u", i);
                assert_register(&c, name, want);
        }
        /* rtmr3: the two AAEL events replayed here from their texts */
        for (unsigned i = 0; i < 2; i++) {
                struct buf data = {};
                char text[512];
                snprintf(text, sizeof(text), "cvminit %s %s", boot_events[2 * i], boot_events[2 * i + 1]);
                tdxev_event_data(&data, TDXEV_AAEL_TAG, text);
                tdxev_sha384(data.data, data.len, d);
                tdxev_extend(rtmr3, d);
                buf_free(&data);
        }
        assert_register(&c, "rtmr3", rtmr3);
        assert_int_equal(c.n_registers, 5);
        assert_string_equal(c.log_mr, "rtmr3");
        assert_int_equal(json_array_size(c.events), 2);
        for (unsigned i = 0; i < 2; i++) {
                json_t *e = json_array_get(c.events, i), *want = json_loads(boot_events[2 * i + 1], 0, NULL);
                assert_string_equal(json_string_value(json_object_get(e, "domain")), "cvminit");
                assert_string_equal(json_string_value(json_object_get(e, "operation")), boot_events[2 * i]);
                assert_true(json_equal(json_object_get(e, "content"), want));
                json_decref(want);
        }
        claims_done(&c);
        json_decref(ev);
}

/* No runtime events: RTMR3 zero, no claims from the log, still verified. */
static void test_no_runtime_events(void **state) {
        static const uint8_t zero[48] = {};
        uint8_t rd[KBS_REPORT_DATA_SIZE];
        struct claims c = {};
        errbuf err = {};
        json_t *ev;

        (void) state;
        rd_of("empty", rd);
        ev = make((struct tdxevidence_params) {}, rd, NULL, NULL);
        if (tdx_evidence_verify(ev, rd, roots_a, 0, &c, &err) < 0)
                fail_msg("rejected: %s", err.msg);
        assert_register(&c, "rtmr3", zero);
        assert_int_equal(json_array_size(c.events), 0);
        assert_string_equal(c.log_mr, "rtmr3");
        claims_done(&c);
        json_decref(ev);
}

static void test_log_rules(void **state) {
        static const struct {
                struct tdxevidence_params p;
                int want;
                const char *words;
        } cases[] = {
                /* The model event's text changed after its digest (the replay alone would match). */
                { { .tamper = 2 }, -EPERM, "event 10: its digests are not those of its data" },
                /* At RTMR3, an event tag with another tag id, and an event of another type. */
                { { .extra = true, .extra_index = 4, .extra_tag = 0x12345678 }, -EBADMSG, "is not an AAEL event" },
                { { .extra = true, .extra_index = 4, .extra_type = TDXEV_EV_IPL }, -EBADMSG, "is not an AAEL event" },
                /* Indexes no RTMR covers: MRTD and beyond RTMR3. */
                { { .extra = true, .extra_index = 0 }, -EBADMSG, "CC MR index 0" },
                { { .extra = true, .extra_index = 5 }, -EBADMSG, "CC MR index 5" },
                /* RTMR3 extended with no event in the log. */
                { { .extend_outside = true }, -EPERM, "does not replay to the quoted RTMR3" },
                /* The quoted RTMR0 is not what the firmware log gives. */
                { { .rtmr0_off = true }, -EPERM, "does not replay to the quoted RTMR0 (firmware" },
        };
        uint8_t rd[KBS_REPORT_DATA_SIZE];

        (void) state;
        rd_of("rules", rd);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_t *ev = make(cases[i].p, rd, boot_events, NULL);
                expect_fail(ev, rd, roots_a, 0, cases[i].want, cases[i].words);
                json_decref(ev);
        }
        /* An AAEL event at a firmware RTMR is only replayed; at RTMR2 it verifies and is no claim. */
        struct claims c = {};
        errbuf err = {};
        json_t *ev = make((struct tdxevidence_params) { .extra = true, .extra_index = 3 }, rd, boot_events, NULL);
        if (tdx_evidence_verify(ev, rd, roots_a, 0, &c, &err) < 0)
                fail_msg("rejected: %s", err.msg);
        assert_int_equal(json_array_size(c.events), 2);
        claims_done(&c);
        json_decref(ev);
}

static void test_quote_rules(void **state) {
        static const uint8_t tail[16] = { 1 };
        uint8_t rd[KBS_REPORT_DATA_SIZE], other[KBS_REPORT_DATA_SIZE];
        STACK_OF(X509) *empty = sk_X509_new_null();
        json_t *ev;

        (void) state;
        rd_of("quote", rd);
        rd_of("another session", other);
        /* Signed by another chain (keys B), whose root the policy does not name. */
        ev = make((struct tdxevidence_params) { .keys = &keys_b }, rd, boot_events, NULL);
        expect_fail(ev, rd, roots_a, 0, -EPERM, "quote check pck-chain failed");
        json_decref(ev);
        /* Bound to another session's report_data, or to ours with non-zero bytes after it. */
        ev = make((struct tdxevidence_params) {}, other, boot_events, NULL);
        expect_fail(ev, rd, roots_a, 0, -EPERM, "quote check report-data failed");
        json_decref(ev);
        ev = make((struct tdxevidence_params) { .report_data_tail = tail }, rd, boot_events, NULL);
        expect_fail(ev, rd, roots_a, 0, -EPERM, "quote check report-data failed");
        json_decref(ev);
        /* A DEBUG TD, everything else right. */
        ev = make((struct tdxevidence_params) { .debug = true }, rd, boot_events, NULL);
        expect_fail(ev, rd, roots_a, 0, -EPERM, "DEBUG TD");
        json_decref(ev);
        ev = make((struct tdxevidence_params) { .report_data_tail = tail }, rd, boot_events, NULL);
        /* The chain checked at a time after it expired; no roots at all. */
        expect_fail(ev, rd, roots_a, AT_2100, -EPERM, "pck-chain");
        expect_fail(ev, rd, NULL, 0, -EPERM, "no trusted TDX root");
        expect_fail(ev, rd, empty, 0, -EPERM, "no trusted TDX root");
        json_decref(ev);
        sk_X509_free(empty);
}

/* The quote's bytes changed: its signature fails, or it no longer parses. */
static void test_quote_bytes(void **state) {
        uint8_t rd[KBS_REPORT_DATA_SIZE], *q = NULL;
        json_t *ev, *bad;
        size_t n;
        char *s;

        (void) state;
        rd_of("bytes", rd);
        ev = make((struct tdxevidence_params) {}, rd, boot_events, NULL);
        const char *b64 = json_string_value(json_object_get(ev, "quote"));
        q = malloc(strlen(b64));
        assert_non_null(q);
        n = (size_t) EVP_DecodeBlock(q, (const unsigned char *) b64, (int) strlen(b64));
        n -= strlen(b64) - strcspn(b64, "="); /* EVP_DecodeBlock counts the padding as zero bytes */
        q[520] ^= 1;                          /* RTMR3 in the body (docs/tdxsim.md offsets) */
        s = tdxev_b64(q, n);
        bad = json_pack("{s:s, s:O}", "quote", s, "cc_eventlog", json_object_get(ev, "cc_eventlog"));
        expect_fail(bad, rd, roots_a, 0, -EPERM, "quote check quote-signature failed");
        json_decref(bad);
        free(s);
        q[520] ^= 1;
        s = tdxev_b64(q, 600); /* cut inside the body */
        bad = json_pack("{s:s, s:O}", "quote", s, "cc_eventlog", json_object_get(ev, "cc_eventlog"));
        expect_fail(bad, rd, roots_a, 0, -EBADMSG, "quote: ");
        json_decref(bad);
        free(s);
        free(q);
        json_decref(ev);
}

static void test_json_shape(void **state) {
        uint8_t rd[KBS_REPORT_DATA_SIZE];
        json_t *ev, *e;
        char *big;

        (void) state;
        rd_of("shape", rd);
        ev = make((struct tdxevidence_params) {}, rd, boot_events, NULL);
        e = json_deep_copy(ev);
        json_object_set_new(e, "tpm_quote", json_object());
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "unknown member");
        json_decref(e);
        e = json_deep_copy(ev);
        json_object_del(e, "cc_eventlog");
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "\"cc_eventlog\" is missing");
        json_object_set_new(e, "cc_eventlog", json_integer(1));
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "\"cc_eventlog\" is missing or not a string");
        json_object_set_new(e, "cc_eventlog", json_string("AAAA AAAA"));
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "\"cc_eventlog\" is not base64");
        json_object_set_new(e, "cc_eventlog", json_string("AAAA"));
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "cc_eventlog: "); /* three zero bytes: no log */
        json_decref(e);
        e = json_deep_copy(ev);
        json_object_set_new(e, "quote", json_string("-_-_")); /* the URL alphabet */
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "\"quote\" is not base64");
        json_object_set_new(e, "quote", json_stringn("AAAA\0AAA", 8)); /* a NUL inside */
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "\"quote\" is not base64");
        /* Oversized: a quote of 64 KiB + 3 bytes, a log of 1 MiB + 3 bytes. */
        big = malloc(4 * ((KBS_BODY_MAX + 3) / 3) + 1);
        memset(big, 'A', 4 * ((TDX_EVIDENCE_QUOTE_MAX + 3) / 3));
        big[4 * ((TDX_EVIDENCE_QUOTE_MAX + 3) / 3)] = 0;
        json_object_set_new(e, "quote", json_string(big));
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "\"quote\" is not base64 of at most 65536 bytes");
        json_object_set(e, "quote", json_object_get(ev, "quote"));
        memset(big, 'A', 4 * ((KBS_BODY_MAX + 3) / 3));
        big[4 * ((KBS_BODY_MAX + 3) / 3)] = 0;
        json_object_set_new(e, "cc_eventlog", json_string(big));
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "\"cc_eventlog\" is not base64 of at most 1048576 bytes");
        free(big);
        json_decref(e);
        e = json_array();
        expect_fail(e, rd, roots_a, 0, -EBADMSG, "must be a JSON object");
        json_decref(e);
        json_decref(ev);
}

static json_t *fixture_evidence(const char *quote, const char *log) {
        _cleanup_free_ uint8_t *q = NULL, *l = NULL;
        size_t qn, ln;
        char *q64, *l64;
        json_t *o;

        read_fixture(quote, &q, &qn);
        read_fixture(log, &l, &ln);
        q64 = tdxev_b64(q, qn);
        l64 = tdxev_b64(l, ln);
        o = json_pack("{s:s, s:s}", "quote", q64, "cc_eventlog", l64);
        free(q64);
        free(l64);
        return o;
}

/* Production data: a GCP TD's quote (report_data as the fixture's nonce file: 64 zero bytes) with
 * the CCEL of the same boot, 256 KiB with its 0xFF padding, under Intel's root. */
static void test_gcp_fixture(void **state) {
        _cleanup_free_ uint8_t *raw = NULL, *nonce = NULL;
        json_t *ev = fixture_evidence("ccel/gcp-cos113-cos-113-tdx-quote.dat", "ccel/gcp-cos113-ccel_data.dat");
        uint8_t intel_sha256[32], want[32];
        STACK_OF(X509) *intel;
        struct claims c = {};
        char path[4096];
        errbuf err = {};
        size_t n, nn;

        (void) state;
        snprintf(path, sizeof(path), "%s/tdx/intel-sgx-root-ca.pem", getenv("FIXTURES") ?: "tests/fixtures");
        intel = load_roots(path, intel_sha256);
        assert_int_equal(unhex(INTEL_ROOT_SHA256, 64, want, 32), 32);
        assert_memory_equal(intel_sha256, want, 32);
        read_fixture("ccel/gcp-cos113-cos-113-tdx-quote.dat", &raw, &n);
        read_fixture("ccel/gcp-cos113-nonce.dat", &nonce, &nn);
        assert_int_equal(nn, 64);
        if (tdx_evidence_verify(ev, nonce, intel, AT_2027, &c, &err) < 0)
                fail_msg("rejected: %s", err.msg);
        assert_memory_equal(c.root_sha256, want, 32);
        /* The registers are the quote body's bytes (offsets: Intel's quote format v4). */
        assert_register(&c, "mrtd", raw + 184);
        for (unsigned i = 0; i < 4; i++) {
                char name[8];
                snprintf(name, sizeof(name), "rtmr%u", i);
                assert_register(&c, name, raw + 376 + 48 * i);
        }
        assert_int_equal(json_array_size(c.events), 0);
        claims_done(&c);
        /* Another report_data; a time before the leaf was issued (2024-07-02); the simulator's root. */
        uint8_t other[KBS_REPORT_DATA_SIZE] = { 1 };
        expect_fail(ev, other, intel, AT_2027, -EPERM, "report-data");
        expect_fail(ev, nonce, intel, (time_t) 1704067200, -EPERM, "pck-chain");
        expect_fail(ev, nonce, roots_a, AT_2027, -EPERM, "pck-chain");
        json_decref(ev);
        /* The GCP quote with Trustee's log of another machine: the firmware RTMRs differ. */
        ev = fixture_evidence("ccel/gcp-cos113-cos-113-tdx-quote.dat", "aael/CCEL_AAEL_alibabacloud");
        expect_fail(ev, nonce, intel, AT_2027, -EPERM, "does not replay to the quoted RTMR0");
        json_decref(ev);
        sk_X509_pop_free(intel, X509_free);
}

/* Trustee's log (firmware CCEL + two AAEL events at index 4) against its own replay, anchored to
 * DESIGN §3's test vector for RTMR3. */
static void test_trustee_log(void **state) {
        _cleanup_free_ uint8_t *p = NULL;
        uint8_t rtmr[4][48];
        struct tcg2_log log = {};
        struct claims c = {};
        char hex[97];
        errbuf err = {};
        json_t *e;
        size_t n;

        (void) state;
        read_fixture("aael/CCEL_AAEL_alibabacloud", &p, &n);
        assert_int_equal(tcg2_parse(p, n, &log, NULL), 0);
        for (unsigned i = 0; i < 4; i++) {
                uint8_t v[HASH_MAX_SIZE];
                assert_true(tcg2_replay(&log, i + 1, HASH_SHA384, v, NULL) >= 0);
                memcpy(rtmr[i], v, 48);
        }
        tcg2_log_done(&log);
        hex_encode(rtmr[3], 48, hex);
        assert_int_equal(strncmp(hex, "5e4ecd49", 8), 0);
        assert_string_equal(hex + 88, "17257dad");
        if (tdx_eventlog_verify(p, n, (const uint8_t(*)[48]) rtmr, &c, &err) < 0)
                fail_msg("rejected: %s", err.msg);
        assert_int_equal(json_array_size(c.events), 2);
        e = json_array_get(c.events, 0);
        assert_string_equal(json_string_value(json_object_get(e, "domain")), "coco.com");
        assert_string_equal(json_string_value(json_object_get(e, "operation")), "some-operation");
        assert_string_equal(json_string_value(json_object_get(e, "content")), "some-content");
        assert_true(json_is_object(json_object_get(json_array_get(c.events, 1), "content")));
        rtmr[3][47] ^= 1;
        assert_int_equal(tdx_eventlog_verify(p, n, (const uint8_t(*)[48]) rtmr, &c, &err), -EPERM);
        assert_non_null(strstr(err.msg, "RTMR3"));
        assert_int_equal(tdx_eventlog_verify((const uint8_t *) "garbage", 7, (const uint8_t(*)[48]) rtmr, &c, &err),
                         -EBADMSG);
        claims_done(&c);
}

static int setup(void **state) {
        errbuf err = {};
        char dir[4096];

        tmptree_setup(state);
        snprintf(dir, sizeof(dir), "%s/a", tmpdir);
        if (tdxsim_keys_load_or_create(dir, &keys_a, &err) < 0)
                fail_msg("keys a: %s", err.msg);
        snprintf(dir, sizeof(dir), "%s/b", tmpdir);
        if (tdxsim_keys_load_or_create(dir, &keys_b, &err) < 0)
                fail_msg("keys b: %s", err.msg);
        roots_a = load_roots(at("a/root.pem"), root_a_sha256);
        return 0;
}

static int teardown(void **state) {
        tdxsim_keys_done(&keys_a);
        tdxsim_keys_done(&keys_b);
        sk_X509_pop_free(roots_a, X509_free);
        return tmptree_teardown(state);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_no_runtime_events),
                cmocka_unit_test(test_log_rules),
                cmocka_unit_test(test_quote_rules),
                cmocka_unit_test(test_quote_bytes),
                cmocka_unit_test(test_json_shape),
                cmocka_unit_test(test_gcp_fixture),
                cmocka_unit_test(test_trustee_log),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
