/* SPDX-License-Identifier: MIT */
/* agent/evidence.c: the measurement log rendered as TCG2 (parsed back with the TCG2 parser and
 * replayed, compared with the register the events were extended into), and the evidence JSON
 * (members exactly as DESIGN §4; base64 checked with OpenSSL's decoder, PCR hex by hand). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "tmptree.h"

#include "cel.h"
#include "event.h"
#include "evidence.h"
#include "mr.h"
#include "tcg2.h"

static const enum hash_alg two_banks[] = { HASH_SHA256, HASH_SHA384 };

/* A log of n events (content {"i":k,"pad":"xxx..."}) in register reg; the register is returned. */
static struct mr *write_log(const char *path, const char *reg, const enum hash_alg *banks, unsigned n_banks,
                            unsigned n, size_t pad) {
        struct cel_writer *w = NULL;
        struct mr *mr = NULL;
        char *p = malloc(pad + 1);

        assert_non_null(p);
        memset(p, 'x', pad);
        p[pad] = 0;
        assert_int_equal(mr_open_mem(reg, banks, n_banks, &mr), 0);
        assert_int_equal(cel_writer_open(path, mr, &w), 0);
        for (unsigned i = 0; i < n; i++) {
                json_t *c = json_pack("{s:i, s:s}", "i", (int) i, "pad", p);
                assert_true(cel_writer_append(w, EVENT_DOMAIN, i == 0 ? "config" : "model", c) >= 0);
                json_decref(c);
        }
        cel_writer_free(w);
        free(p);
        return mr;
}

static void test_tcg2_log(void **state) {
        struct cel_log log = {};
        struct tcg2_log t = {};
        struct buf out = {};
        uint8_t want[HASH_MAX_SIZE], got[HASH_MAX_SIZE];
        struct mr *mr;
        errbuf err = {};

        (void) state;
        mr = write_log(at("a.log"), "pcr14", two_banks, 2, 3, 10);
        assert_int_equal(cel_read_file(at("a.log"), &log, NULL), 0);
        assert_int_equal(evidence_tcg2_log(&log, two_banks, 2, &out, &err), 0);
        /* Header: index 0, EV_NO_ACTION; the data ends with the last event (no FF x 8). */
        assert_memory_equal(out.data, "\0\0\0\0\3\0\0\0", 8);
        assert_int_equal(tcg2_parse((const uint8_t *) out.data, out.len, &t, &err), 0);
        assert_int_equal(t.end, TCG2_END_DATA);
        assert_int_equal(t.content_size, out.len);
        assert_int_equal(t.n_events, 3);
        for (size_t i = 0; i < t.n_events; i++) {
                assert_int_equal(t.events[i].index, 14);
                assert_int_equal(t.events[i].type, TCG2_EV_EVENT_TAG);
                assert_true(t.events[i].aael);
                assert_true(t.events[i].digests_match);
                assert_int_equal(t.events[i].n_digests, 2);
                assert_int_equal(t.events[i].text_len, log.records[i].text_len);
                assert_memory_equal(t.events[i].text, log.records[i].text, log.records[i].text_len);
        }
        /* Replayed, both banks equal the register the events went into. */
        for (unsigned b = 0; b < 2; b++) {
                assert_int_equal(tcg2_replay(&t, 14, two_banks[b], got, &err), 3);
                assert_int_equal(mr_read(mr, two_banks[b], want), 0);
                assert_memory_equal(got, want, hash_alg_size(two_banks[b]));
        }
        tcg2_log_done(&t);
        buf_free(&out);
        cel_log_done(&log);
        mr_free(mr);
}

static void test_tcg2_log_refusals(void **state) {
        static const enum hash_alg sha384[] = { HASH_SHA384 };
        struct cel_log log = {};
        struct buf out = {};
        struct mr *mr;
        errbuf err = {};

        (void) state;
        /* Not a PCR. */
        mr = write_log(at("rtmr.log"), "rtmr3", sha384, 1, 1, 1);
        assert_int_equal(cel_read_file(at("rtmr.log"), &log, NULL), 0);
        assert_int_equal(evidence_tcg2_log(&log, sha384, 1, &out, &err), -EXDEV);
        assert_non_null(strstr(err.msg, "rtmr3"));
        cel_log_done(&log);
        buf_free(&out);
        mr_free(mr);
        /* Other banks than the TPM's. */
        mr = write_log(at("b.log"), "pcr14", two_banks, 2, 2, 1);
        assert_int_equal(cel_read_file(at("b.log"), &log, NULL), 0);
        assert_int_equal(evidence_tcg2_log(&log, two_banks, 1, &out, &err), -EXDEV);
        buf_free(&out);
        /* A record whose content does not match its digests. */
        log.records[1].content_matches = false;
        assert_int_equal(evidence_tcg2_log(&log, two_banks, 2, &out, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "record 1"));
        cel_log_done(&log);
        buf_free(&out);
        mr_free(mr);
        /* Over the size limit: 3 events of 200 KiB. */
        mr = write_log(at("big.log"), "pcr14", two_banks, 1, 3, 200 * 1024);
        assert_int_equal(cel_read_file(at("big.log"), &log, NULL), 0);
        assert_int_equal(evidence_tcg2_log(&log, two_banks, 1, &out, &err), -EFBIG);
        cel_log_done(&log);
        buf_free(&out);
        mr_free(mr);
}

/* The TDX cc_eventlog: the real firmware CCEL (tests/fixtures/ccel, from the quote's boot) with our
 * records appended at CC MR index 4. Its RTMR0-2 replay to the quote's values as before (the
 * firmware part is kept byte for byte), RTMR3 to the register our events went into, and it ends
 * with FF x 8. Without a CCEL the log starts with a SHA-384 Spec ID header. */
#define QUOTE_RTMR0_OFFSET (48U + 328U)
static void test_cc_eventlog(void **state) {
        static const enum hash_alg sha384[] = { HASH_SHA384 };
        const char *dir = getenv("FIXTURES") ?: "tests/fixtures";
        _cleanup_free_ uint8_t *ccel = NULL, *quote = NULL;
        uint8_t got[HASH_MAX_SIZE], want[HASH_MAX_SIZE];
        char path[4096];
        struct cel_log log = {};
        struct tcg2_log fw = {}, t = {};
        struct buf out = {};
        size_t n, qn;
        struct mr *mr;
        errbuf err = {};

        (void) state;
        snprintf(path, sizeof(path), "%s/ccel/gcp-cos113-ccel_data.dat", dir);
        assert_int_equal(read_file_limited(path, 1U << 20, &ccel, &n), 0);
        snprintf(path, sizeof(path), "%s/ccel/gcp-cos113-cos-113-tdx-quote.dat", dir);
        assert_int_equal(read_file_limited(path, 1U << 20, &quote, &qn), 0);
        assert_int_equal(tcg2_parse(ccel, n, &fw, &err), 0);
        mr = write_log(at("t.log"), "rtmr3", sha384, 1, 3, 10);
        assert_int_equal(cel_read_file(at("t.log"), &log, NULL), 0);
        assert_int_equal(evidence_cc_eventlog(&log, ccel, n, &out, &err), 0);
        assert_memory_equal(out.data, ccel, fw.content_size);
        assert_memory_equal((const uint8_t *) out.data + out.len - 8, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
        assert_int_equal(tcg2_parse((const uint8_t *) out.data, out.len, &t, &err), 0);
        assert_int_equal(t.end, TCG2_END_MARKER);
        assert_int_equal(t.n_events, fw.n_events + 3);
        for (uint32_t i = 1; i <= 3; i++) {
                assert_true(tcg2_replay(&t, i, HASH_SHA384, got, &err) > 0);
                assert_memory_equal(got, quote + QUOTE_RTMR0_OFFSET + 48 * (i - 1), 48);
        }
        assert_int_equal(tcg2_replay(&t, 4, HASH_SHA384, got, &err), 3);
        assert_int_equal(mr_read(mr, HASH_SHA384, want), 0);
        assert_memory_equal(got, want, 48);
        for (size_t i = fw.n_events; i < t.n_events; i++)
                assert_true(t.events[i].aael && t.events[i].digests_match && t.events[i].index == 4);
        tcg2_log_done(&t);
        buf_free(&out);
        /* No firmware log: our header, our events, the marker. */
        assert_int_equal(evidence_cc_eventlog(&log, NULL, 0, &out, &err), 0);
        assert_int_equal(tcg2_parse((const uint8_t *) out.data, out.len, &t, &err), 0);
        assert_int_equal(t.spec_id.n_algs, 1);
        assert_int_equal(t.spec_id.algs[0].alg, HASH_SHA384);
        assert_int_equal(t.n_events, 3);
        assert_int_equal(tcg2_replay(&t, 4, HASH_SHA384, got, &err), 3);
        assert_memory_equal(got, want, 48);
        tcg2_log_done(&t);
        buf_free(&out);
        /* A PCR log is not RTMR3's; a CCEL that does not parse is named. */
        assert_int_equal(evidence_cc_eventlog(&log, ccel, 100, &out, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "CCEL"));
        buf_free(&out);
        cel_log_done(&log);
        mr_free(mr);
        mr = write_log(at("p.log"), "pcr14", sha384, 1, 1, 1);
        assert_int_equal(cel_read_file(at("p.log"), &log, NULL), 0);
        assert_int_equal(evidence_cc_eventlog(&log, NULL, 0, &out, &err), -EXDEV);
        assert_non_null(strstr(err.msg, "not RTMR3"));
        buf_free(&out);
        cel_log_done(&log);
        mr_free(mr);
        tcg2_log_done(&fw);
}

/* OpenSSL's base64 decoder (standard alphabet, padded). */
static size_t b64_decode(const char *s, uint8_t *out) {
        size_t n = strlen(s), pad = n >= 2 ? (s[n - 1] == '=') + (s[n - 2] == '=') : 0;
        int len = EVP_DecodeBlock(out, (const unsigned char *) s, (int) n);

        assert_true(len >= 0);
        return (size_t) len - pad;
}

static void test_json(void **state) {
        static const uint8_t ak[] = { 0x30, 0x82, 1, 2, 3 }, attest[] = { 0xff, 0x54, 0x43, 0x47, 9 },
                             sig[] = { 0, 0x14, 0, 0x0b, 0, 1, 0xee }, log[] = { 1, 2, 3, 4 };
        struct tpm_quoted q = { .ak_spki = (uint8_t *) ak, .ak_spki_len = sizeof(ak),
                                .attest = (uint8_t *) attest, .attest_len = sizeof(attest),
                                .signature = (uint8_t *) sig, .signature_len = sizeof(sig) };
        json_t *o = NULL, *tq, *pcrs;
        uint8_t buf[64];

        (void) state;
        for (unsigned i = 0; i < 24; i++)
                memset(q.pcrs[i], (int) i, 32);
        q.pcrs[23][31] = 0xab;
        assert_int_equal(evidence_tpm_json(&q, log, sizeof(log), &o), 0);
        assert_int_equal(json_object_size(o), 3);
        assert_int_equal(b64_decode(json_string_value(json_object_get(o, "ak_public")), buf), sizeof(ak));
        assert_memory_equal(buf, ak, sizeof(ak));
        assert_string_equal(json_string_value(json_object_get(o, "eventlog")), "AQIDBA==");
        tq = json_object_get(o, "tpm_quote");
        assert_int_equal(json_object_size(tq), 3);
        assert_int_equal(b64_decode(json_string_value(json_object_get(tq, "message")), buf), sizeof(attest));
        assert_memory_equal(buf, attest, sizeof(attest));
        assert_int_equal(b64_decode(json_string_value(json_object_get(tq, "signature")), buf), sizeof(sig));
        assert_memory_equal(buf, sig, sizeof(sig));
        pcrs = json_object_get(tq, "pcrs");
        assert_int_equal(json_array_size(pcrs), 24);
        assert_string_equal(json_string_value(json_array_get(pcrs, 0)),
                            "0000000000000000000000000000000000000000000000000000000000000000");
        assert_string_equal(json_string_value(json_array_get(pcrs, 1)),
                            "0101010101010101010101010101010101010101010101010101010101010101");
        assert_string_equal(json_string_value(json_array_get(pcrs, 23)),
                            "17171717171717171717171717171717171717171717171717171717171717ab");
        json_decref(o);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_tcg2_log, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_tcg2_log_refusals, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_cc_eventlog, tmptree_setup, tmptree_teardown),
                cmocka_unit_test(test_json),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
