/* SPDX-License-Identifier: MIT */
/* TPM evidence for the KBS attest request (evidence.h; DESIGN §3, §4). */
#include <errno.h>
#include <string.h>

#include "base64.h"
#include "event.h"
#include "evidence.h"
#include "mr-tdx.h"
#include "tcg2.h"

/* The TCG2 index of a record's register: "pcrN" -> N, "rtmr3" -> CC MR index 4 (UEFI 2.10 §38.4.1);
 * -EXDEV for a register of the other kind. */
static int record_index(const struct cel_record *rec, bool tdx) {
        unsigned pcr;

        if (tdx)
                return strcmp(rec->mr, "rtmr3") == 0 ? (int) TCG2_CC_MR_RTMR3 : -EXDEV;
        if (strncmp(rec->mr, "pcr", 3) != 0 || safe_atou(rec->mr + 3, &pcr) < 0 || pcr >= TPM_QUOTE_PCRS)
                return -EXDEV;
        return (int) pcr;
}

static bool same_banks(const struct cel_record *rec, const enum hash_alg *banks, unsigned n) {
        if (rec->n_digests != n)
                return false;
        for (unsigned i = 0; i < n; i++)
                if (rec->digests[i].alg != banks[i])
                        return false;
        return true;
}

static int render_record(const struct cel_record *rec, size_t i, const enum hash_alg *banks, unsigned n, bool tdx,
                         struct buf *out, errbuf *err) {
        struct buf data = { .max = TCG2_EVENT_DATA_MAX };
        int pcr = record_index(rec, tdx), r;

        if (pcr < 0)
                return errbuf_set(err, pcr, "measurement log record %zu is for register %s, not %s", i, rec->mr,
                                  tdx ? "RTMR3" : "a TPM PCR");
        if (!same_banks(rec, banks, n))
                return errbuf_set(err, -EXDEV, "measurement log record %zu has digests for other banks than the "
                                  "register's", i);
        /* A record whose text is not what its digests cover would make the broker's replay fail
         * anyway; say here which one it is. */
        if (!rec->content_matches || !rec->committed)
                return errbuf_set(err, -EBADMSG, "measurement log record %zu is %s", i,
                                  rec->committed ? "altered (its digests do not match its content)" : "uncommitted");
        r = event_data_append(&data, rec->text, rec->text_len);
        if (r >= 0)
                r = tcg2_render_event(out, (uint32_t) pcr, TCG2_EV_EVENT_TAG, rec->digests, rec->n_digests, data.data,
                                      data.len);
        buf_free(&data);
        if (r == -E2BIG)
                return errbuf_set(err, -EFBIG, "the event log is larger than %u bytes", EVIDENCE_EVENTLOG_MAX);
        if (r < 0)
                return errbuf_set(err, r, "cannot render measurement log record %zu: %s", i, strerror(-r));
        return 0;
}

int evidence_tcg2_log(const struct cel_log *log, const enum hash_alg *banks, unsigned n_banks, struct buf *out,
                      errbuf *err) {
        int r;

        out->max = EVIDENCE_EVENTLOG_MAX;
        r = tcg2_render_spec_id(out, 0, banks, n_banks);
        if (r < 0)
                return errbuf_set(err, r, "cannot render the event log header: %s", strerror(-r));
        /* No end marker: a TPM's log (binary_bios_measurements) ends with its data, and TPM tools
         * (tpm2_eventlog) refuse the FF x 8 that only CCEL regions carry. */
        for (size_t i = 0; i < log->n; i++) {
                r = render_record(&log->records[i], i, banks, n_banks, false, out, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int evidence_cc_eventlog(const struct cel_log *log, const uint8_t *ccel, size_t ccel_len, struct buf *out,
                         errbuf *err) {
        static const enum hash_alg sha384 = HASH_SHA384;
        struct tcg2_log fw = {};
        errbuf e = {};
        int r;

        out->max = EVIDENCE_EVENTLOG_MAX;
        if (ccel) {
                /* The firmware's log up to its last event: marker and padding are cut, ours follow. */
                r = tcg2_parse(ccel, ccel_len, &fw, &e);
                if (r < 0)
                        return errbuf_set(err, r, "the firmware event log (CCEL) does not parse: %s", e.msg);
                r = buf_append(out, fw.raw, fw.content_size);
                tcg2_log_done(&fw);
        } else
                r = tcg2_render_spec_id(out, 1, &sha384, 1);
        if (r < 0)
                return errbuf_set(err, r == -E2BIG ? -EFBIG : r, "the firmware event log does not fit in %u bytes",
                                  EVIDENCE_EVENTLOG_MAX);
        for (size_t i = 0; i < log->n; i++) {
                r = render_record(&log->records[i], i, &sha384, 1, true, out, err);
                if (r < 0)
                        return r;
        }
        r = tcg2_render_end(out);
        if (r < 0)
                return errbuf_set(err, -EFBIG, "the event log is larger than %u bytes", EVIDENCE_EVENTLOG_MAX);
        return 0;
}

/* A base64 (standard) string member. */
static int set_b64(json_t *o, const char *name, const void *p, size_t n) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = base64_encode(p, n, BASE64_STD, &s);
        if (r < 0)
                return r;
        return json_object_set_new(o, name, json_string(s)) < 0 ? -ENOMEM : 0;
}

static int quote_json(const struct tpm_quoted *q, json_t **ret) {
        json_t *o = json_object(), *pcrs = json_array();
        int r = o && pcrs ? 0 : -ENOMEM;

        for (unsigned i = 0; i < TPM_QUOTE_PCRS && r >= 0; i++) {
                char hex[2 * TPM_QUOTE_PCR_SIZE + 1];
                hex_encode(q->pcrs[i], TPM_QUOTE_PCR_SIZE, hex);
                r = json_array_append_new(pcrs, json_string(hex)) < 0 ? -ENOMEM : 0;
        }
        if (r >= 0)
                r = set_b64(o, "message", q->attest, q->attest_len);
        if (r >= 0)
                r = set_b64(o, "signature", q->signature, q->signature_len);
        if (r >= 0)
                r = json_object_set_new(o, "pcrs", pcrs) < 0 ? -ENOMEM : 0;
        else
                json_decref(pcrs);
        if (r < 0) {
                json_decref(o);
                return r;
        }
        *ret = o;
        return 0;
}

int evidence_tpm_json(const struct tpm_quoted *q, const void *eventlog, size_t n, json_t **ret) {
        json_t *o = json_object(), *quote = NULL;
        int r = o ? quote_json(q, &quote) : -ENOMEM;

        if (r >= 0)
                r = set_b64(o, "ak_public", q->ak_spki, q->ak_spki_len);
        if (r >= 0)
                r = json_object_set_new(o, "tpm_quote", TAKE_PTR(quote)) < 0 ? -ENOMEM : 0;
        if (r >= 0)
                r = set_b64(o, "eventlog", eventlog, n);
        json_decref(quote);
        if (r < 0) {
                json_decref(o);
                return r;
        }
        *ret = o;
        return 0;
}

static int read_log(const char *path, struct cel_log *log, errbuf *err) {
        errbuf e = {};
        int r = cel_read_file(path, log, &e);

        if (r < 0)
                return errbuf_set(err, r, "cannot read the measurement log %s: %s", path,
                                  e.msg[0] ? e.msg : strerror(-r));
        return 0;
}

int evidence_tpm(struct mr *mr, const char *log_path, const uint8_t report_data[static KBS_REPORT_DATA_SIZE],
                 json_t **ret, errbuf *err) {
        _cleanup_(tpm_quoted_done) struct tpm_quoted q = {};
        struct cel_log log = {};
        struct buf tcg2 = {};
        int r;

        /* The log first: what it says must be what the quote then covers (nothing is extended in
         * between: this process is the log's one writer). */
        r = read_log(log_path, &log, err);
        if (r < 0)
                return r;
        r = evidence_tcg2_log(&log, mr->banks, mr->n_banks, &tcg2, err);
        cel_log_done(&log);
        if (r >= 0)
                r = tpm_quote_make(mr, report_data, &q, err);
        if (r >= 0) {
                r = evidence_tpm_json(&q, tcg2.data, tcg2.len, ret);
                if (r < 0)
                        (void) errbuf_set(err, r, "cannot build the evidence: %s", strerror(-r));
        }
        buf_free(&tcg2);
        return r;
}

int evidence_tdx_json(const uint8_t *quote, size_t quote_len, const void *eventlog, size_t n, json_t **ret) {
        json_t *o = json_object();
        int r = o ? set_b64(o, "quote", quote, quote_len) : -ENOMEM;

        if (r >= 0)
                r = set_b64(o, "cc_eventlog", eventlog, n);
        if (r < 0) {
                json_decref(o);
                return r;
        }
        *ret = o;
        return 0;
}

static const char *ccel_path(void) {
        const char *e = secure_getenv("CVMINIT_CCEL");
        return e && *e ? e : EVIDENCE_CCEL_DEFAULT;
}

/* The firmware's log, or NULL if the platform has none (the log then starts with our header). */
static int read_ccel(uint8_t **ret, size_t *ret_len, errbuf *err) {
        const char *path = ccel_path();
        int r = read_file_limited(path, TCG2_INPUT_MAX, ret, ret_len);

        if (r == -ENOENT) {
                *ret = NULL;
                *ret_len = 0;
                return 0;
        }
        return r < 0 ? errbuf_set(err, r, "cannot read the firmware event log %s: %s", path, strerror(-r)) : 0;
}

int evidence_tdx(const char *log_path, const uint8_t report_data[static KBS_REPORT_DATA_SIZE], json_t **ret,
                 errbuf *err) {
        _cleanup_free_ uint8_t *ccel = NULL, *quote = NULL;
        struct cel_log log = {};
        struct buf cc = {};
        size_t ccel_len = 0, quote_len = 0;
        int r;

        r = read_log(log_path, &log, err);
        if (r < 0)
                return r;
        r = read_ccel(&ccel, &ccel_len, err);
        if (r >= 0)
                r = evidence_cc_eventlog(&log, ccel, ccel_len, &cc, err);
        cel_log_done(&log);
        if (r >= 0) {
                /* SHA-384 in the first 48 bytes, zeros after (DESIGN §4 step 3). */
                uint8_t inblob[TSM_INBLOB_SIZE] = {};
                memcpy(inblob, report_data, KBS_REPORT_DATA_SIZE);
                r = tsm_report_quote(inblob, "tdx_guest", &quote, &quote_len, err);
        }
        if (r >= 0) {
                r = evidence_tdx_json(quote, quote_len, cc.data, cc.len, ret);
                if (r < 0)
                        (void) errbuf_set(err, r, "cannot build the evidence: %s", strerror(-r));
        }
        buf_free(&cc);
        return r;
}
