/* SPDX-License-Identifier: MIT */
/* Test helper: TDX evidence {"quote","cc_eventlog"} (DESIGN §3, §4) made with cvm-tdxsim's quote and
 * firmware-log generators (tools/cvm-tdxsim-{keys,quote,ccel}.c, linked without FUSE): the built-in
 * firmware log, then AAEL EV_EVENT_TAG entries at CC MR index 4 rendered here byte by byte (TCG PC
 * Client §10.2.2 TCG_PCR_EVENT2), RTMR3 their replay computed here with OpenSSL's SHA-384, the FF×8
 * end marker, and a quote v4 over the given report_data. Each member of struct tdxevidence_params
 * breaks one rule with everything else right. Needs cmocka.h before it. Header-only, for the tests. */
#pragma once

#include <jansson.h>
#include <openssl/evp.h>
#include <string.h>

#include "cvm-tdxsim.h"
#include "tcg2.h"

#define TDXEV_AAEL_TAG 0x4141454CU
#define TDXEV_EV_IPL 0xDU

/* docs/tdxsim.md: RTMR0-2 after the simulator's built-in firmware log. */
static const char *const tdxev_fw_rtmr[3] = {
        "7299e23517c79bcb7542750233225860a326c1431b6c10b455373ea48feb2b1012842554e5086a53bc2bec4d8ceaac1a",
        "7164ce4aa72975eecd9f04cb4d4c05f9859eecd476a2b3fd99d5d0416b3a9dfe01208c951db74257793084f93a1dbb99",
        "fe426d1c028aa97839c2b610a1ddb7dc13d37e84b0863ab158ff742923b57ce1b8a24345b3cc7639b3b82c12138a5d3d",
};

struct tdxevidence_params {
        const struct tdxsim_keys *keys;
        const uint8_t *report_data;      /* 48 bytes */
        const uint8_t *report_data_tail; /* the quote's report_data bytes 48..63; NULL: zeros */
        unsigned tamper;                 /* 1-based event whose text changes after its digest is made */
        bool extend_outside;             /* RTMR3 extended once more, with no event in the log */
        /* An extra event after the runtime events at CC MR index extra_index, its digest H(data),
         * extended into its RTMR if the index has one (1..4); type 0 means EV_EVENT_TAG, tag 0 the
         * AAEL tag. */
        bool extra;
        uint32_t extra_index, extra_type, extra_tag;
        bool rtmr0_off;                  /* the quoted RTMR0 is not the firmware log's */
        bool debug;                      /* TDATTRIBUTES.DEBUG set */
};

static inline void tdxev_sha384(const void *p, size_t n, uint8_t out[48]) {
        assert_int_equal(EVP_Digest(p, n, out, NULL, EVP_sha384(), NULL), 1);
}

static inline void tdxev_extend(uint8_t reg[48], const uint8_t digest[48]) {
        uint8_t b[96];

        memcpy(b, reg, 48);
        memcpy(b + 48, digest, 48);
        tdxev_sha384(b, sizeof(b), reg);
}

static inline void tdxev_u32(struct buf *b, uint32_t v) {
        uint8_t le[4] = { (uint8_t) v, (uint8_t) (v >> 8), (uint8_t) (v >> 16), (uint8_t) (v >> 24) };
        assert_int_equal(buf_append(b, le, 4), 0);
}

/* TCG_PCR_EVENT2 with one SHA-384 digest (algorithm id 0x000C). */
static inline void tdxev_entry(struct buf *log, uint32_t index, uint32_t type, const uint8_t digest[48],
                               const void *data, size_t n) {
        tdxev_u32(log, index);
        tdxev_u32(log, type);
        tdxev_u32(log, 1);
        assert_int_equal(buf_append(log, "\x0c\x00", 2), 0);
        assert_int_equal(buf_append(log, digest, 48), 0);
        tdxev_u32(log, (uint32_t) n);
        assert_int_equal(buf_append(log, data, n), 0);
}

/* The tagged event: u32 tag id, u32 length, the text (DESIGN §3). */
static inline void tdxev_event_data(struct buf *data, uint32_t tag, const char *text) {
        tdxev_u32(data, tag);
        tdxev_u32(data, (uint32_t) strlen(text));
        assert_int_equal(buf_append_str(data, text), 0);
}

/* One runtime event: appended to the log, extended into rtmr3 (unless tampered: then the text in
 * the log differs from what the digest covers). */
static inline void tdxev_runtime(struct buf *log, uint8_t rtmr3[48], uint32_t index, uint32_t type, uint32_t tag,
                                 const char *text, bool tamper) {
        struct buf data = {};
        uint8_t d[48];

        tdxev_event_data(&data, tag, text);
        tdxev_sha384(data.data, data.len, d);
        if (tamper)
                data.data[data.len - 1] ^= 0x20;
        tdxev_entry(log, index, type, d, data.data, data.len);
        if (rtmr3)
                tdxev_extend(rtmr3, d);
        buf_free(&data);
}

static inline char *tdxev_b64(const void *p, size_t n) {
        char *s = malloc(4 * ((n + 2) / 3) + 1);

        assert_non_null(s);
        assert_true(EVP_EncodeBlock((unsigned char *) s, p, (int) n) >= 0);
        return s;
}

static inline void tdxev_hex(const char *hex, uint8_t *out, size_t n) {
        assert_int_equal(unhex(hex, 2 * n, out, n), (int) n);
}

/* The evidence for events (operation, JCS content pairs, NULL-terminated); *td gets the TD's
 * registers as quoted. */
static inline json_t *tdxevidence_make(const struct tdxevidence_params *p, const char *const *events,
                                       struct tdxsim_td *td) {
        uint8_t rd[TDX_REPORT_DATA_SIZE] = {};
        struct buf log = {}, quote = {};
        char *q64, *l64;
        json_t *o;

        assert_int_equal(tdxsim_td_defaults(td), 0);
        for (unsigned i = 0; i < 3; i++)
                tdxev_hex(tdxev_fw_rtmr[i], td->rtmr[i], TDX_MR_SIZE);
        if (p->rtmr0_off)
                td->rtmr[0][7] ^= 1;
        if (p->debug)
                td->td_attributes |= 1;
        assert_int_equal(tdxsim_ccel_render(&log), 0);
        for (unsigned i = 0; events && events[2 * i]; i++) {
                char text[4096];
                snprintf(text, sizeof(text), "cvminit %s %s", events[2 * i], events[2 * i + 1]);
                tdxev_runtime(&log, td->rtmr[3], 4, TCG2_EV_EVENT_TAG, TDXEV_AAEL_TAG, text, p->tamper == i + 1);
        }
        if (p->extra) {
                uint32_t idx = p->extra_index;
                tdxev_runtime(&log, idx >= 1 && idx <= 4 ? td->rtmr[idx - 1] : NULL, idx,
                              p->extra_type ?: TCG2_EV_EVENT_TAG, p->extra_tag ?: TDXEV_AAEL_TAG,
                              "cvminit app {\"extra\":1}", false);
        }
        if (p->extend_outside) {
                static const uint8_t outside[48] = { 0x5a };
                tdxev_extend(td->rtmr[3], outside);
        }
        assert_int_equal(buf_append(&log, "\xff\xff\xff\xff\xff\xff\xff\xff", 8), 0);
        memcpy(rd, p->report_data, 48);
        if (p->report_data_tail)
                memcpy(rd + 48, p->report_data_tail, 16);
        assert_int_equal(tdxsim_quote_render(p->keys, td, rd, &quote), 0);
        q64 = tdxev_b64(quote.data, quote.len);
        l64 = tdxev_b64(log.data, log.len);
        o = json_pack("{s:s, s:s}", "quote", q64, "cc_eventlog", l64);
        assert_non_null(o);
        free(q64);
        free(l64);
        buf_free(&log);
        buf_free(&quote);
        return o;
}
