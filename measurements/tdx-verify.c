/* SPDX-License-Identifier: MIT */
/* TDX evidence verification (tdx-verify.h; DESIGN §3, §4; UEFI 2.10 §38.4.1 for CC MR indexes). */
#include <errno.h>
#include <string.h>

#include "tcg2.h"
#include "tdx-quote.h"
#include "tdx-verify.h"
#include "verify-common.h"

#define CC_MR_RTMR0 1U
/* TDATTRIBUTES bit 0 (Intel TDX Module ABI, TD_PARAMS.ATTRIBUTES.DEBUG): the host can read and
 * change the TD's memory and registers. */
#define TD_ATTRIBUTES_DEBUG 0x01U

_Static_assert(TDX_EVIDENCE_QUOTE_MAX == TDX_QUOTE_MAX, "quote limits differ");
_Static_assert(TDX_EVIDENCE_MR_SIZE == TDX_MR_SIZE, "register sizes differ");
_Static_assert(TCG2_CC_MR_RTMR3 == CC_MR_RTMR0 + TDX_EVIDENCE_RTMRS - 1, "CC MR indexes");

static void x509_store_freep(X509_STORE **p) {
        X509_STORE_free(*p);
}

/* Every extended event at an RTMR's index; those at RTMR3 (ours) become claims, the firmware's at
 * RTMR0..2 are left to the replay. An event at MRTD (index 0) or above RTMR3 is covered by no
 * register the quote holds: refused rather than passed on unverified. */
static int collect_events(const struct tcg2_log *log, json_t *events, errbuf *err) {
        for (size_t i = 0; i < log->n_events; i++) {
                const struct tcg2_event *e = &log->events[i];
                int r;

                if (e->type == TCG2_EV_NO_ACTION)
                        continue;
                if (e->index < CC_MR_RTMR0 || e->index > TCG2_CC_MR_RTMR3)
                        return errbuf_set(err, -EBADMSG, "cc_eventlog event %u extends CC MR index %u: only RTMR0-3 "
                                          "(indexes 1-4) can be replayed against a quote", e->number, e->index);
                if (e->index != TCG2_CC_MR_RTMR3)
                        continue;
                r = verify_event_claim(e, "cc_eventlog", events, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int replay_rtmrs(const struct tcg2_log *log, const uint8_t rtmr[TDX_EVIDENCE_RTMRS][TDX_EVIDENCE_MR_SIZE],
                        errbuf *err) {
        for (unsigned i = 0; i < TDX_EVIDENCE_RTMRS; i++) {
                uint8_t v[HASH_MAX_SIZE];
                errbuf e = {};
                int r = tcg2_replay(log, CC_MR_RTMR0 + i, HASH_SHA384, v, &e);

                if (r < 0)
                        return errbuf_set(err, r == -ENOMEM ? r : -EBADMSG, "cc_eventlog cannot be replayed in "
                                          "SHA-384 for RTMR%u: %s", i, e.msg[0] ? e.msg : strerror(-r));
                if (memcmp(v, rtmr[i], TDX_EVIDENCE_MR_SIZE) != 0)
                        return errbuf_set(err, -EPERM, "cc_eventlog does not replay to the quoted RTMR%u (%s)", i,
                                          i == 3 ? "runtime events: a changed, missing or extra event, or an "
                                                   "extend outside the log" :
                                                   "firmware events");
        }
        return 0;
}

int tdx_eventlog_verify(const uint8_t *p, size_t n,
                        const uint8_t rtmr[TDX_EVIDENCE_RTMRS][TDX_EVIDENCE_MR_SIZE], struct claims *c,
                        errbuf *err) {
        _cleanup_(tcg2_log_done) struct tcg2_log log = {};
        _cleanup_(json_decrefp) json_t *events = json_array();
        errbuf e = {};
        int r;

        if (!events)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (n > TDX_EVENTLOG_MAX)
                return errbuf_set(err, -EBADMSG, "cc_eventlog is larger than %u bytes", TDX_EVENTLOG_MAX);
        r = tcg2_parse(p, n, &log, &e);
        if (r < 0)
                return errbuf_set(err, r == -ENOMEM ? r : -EBADMSG, "cc_eventlog: %s",
                                  e.msg[0] ? e.msg : strerror(-r));
        r = collect_events(&log, events, err);
        if (r >= 0)
                r = replay_rtmrs(&log, rtmr, err);
        if (r < 0)
                return r;
        snprintf(c->log_mr, sizeof(c->log_mr), "rtmr3");
        json_decref(c->events);
        c->events = TAKE_PTR(events);
        return 0;
}

/* The policy's roots as a store for the chain check (the store takes its own references). */
static int roots_store(const STACK_OF(X509) *roots, X509_STORE **ret, errbuf *err) {
        _cleanup_(x509_store_freep) X509_STORE *s = NULL;
        int n = roots ? sk_X509_num(roots) : 0;

        if (n <= 0)
                return errbuf_set(err, -EPERM, "no trusted TDX root is configured (the policy's \"roots\")");
        s = X509_STORE_new();
        if (!s)
                return errbuf_set(err, -ENOMEM, "out of memory");
        for (int i = 0; i < n; i++)
                if (X509_STORE_add_cert(s, sk_X509_value(roots, i)) != 1)
                        return errbuf_set(err, -ENOMEM, "cannot add a trusted root to the store");
        *ret = TAKE_PTR(s);
        return 0;
}

/* Parsed and all five checks passed (the first failure in check order is reported). */
static int verify_quote(const uint8_t *p, size_t n, const uint8_t report_data[static KBS_REPORT_DATA_SIZE],
                        const STACK_OF(X509) *roots, time_t now, struct tdx_quote *q, struct tdx_verify_result *res,
                        errbuf *err) {
        _cleanup_(x509_store_freep) X509_STORE *store = NULL;
        uint8_t expected[TDX_REPORT_DATA_SIZE] = {};
        errbuf e = {};
        int r;

        r = tdx_quote_parse(p, n, 0, q, &e);
        if (r < 0)
                return errbuf_set(err, r == -ENOMEM ? r : -EBADMSG, "quote: %s", e.msg[0] ? e.msg : strerror(-r));
        r = roots_store(roots, &store, err);
        if (r < 0)
                return r;
        /* SHA-384 in the first 48 bytes, zeros after (DESIGN §4 step 3). */
        memcpy(expected, report_data, KBS_REPORT_DATA_SIZE);
        r = tdx_quote_verify(q, &(struct tdx_verify_opts) { .roots = store, .at = now, .report_data = expected },
                             res);
        if (r < 0)
                return errbuf_set(err, r == -ENOMEM ? r : -EINVAL, "cannot verify the quote: %s", strerror(-r));
        for (unsigned i = 0; i < _TDX_CHECK_MAX; i++)
                if (res->checks[i].state != TDX_CHECK_OK)
                        return errbuf_set(err, -EPERM, "quote check %s failed: %s", tdx_check_name(i),
                                          res->checks[i].reason);
        if (!res->has_root)
                return errbuf_set(err, -EPERM, "quote check pck-chain: no trusted root was recorded");
        /* Whatever the policy says: a secret released to a debug TD is released to its host. */
        if (q->body.td_attributes[0] & TD_ATTRIBUTES_DEBUG)
                return errbuf_set(err, -EPERM, "the quote is of a DEBUG TD (TDATTRIBUTES bit 0): its host can read "
                                  "its memory");
        return 0;
}

static int quote_claims(const struct tdx_quote *q, const struct tdx_verify_result *res, struct claims *c,
                        errbuf *err) {
        int r;

        c->has_root = true;
        memcpy(c->root_sha256, res->root_sha256, sizeof(c->root_sha256));
        r = claims_set_register(c, "mrtd", HASH_SHA384, q->body.mrtd);
        for (unsigned i = 0; r >= 0 && i < TDX_EVIDENCE_RTMRS; i++) {
                char name[MR_NAME_MAX];
                snprintf(name, sizeof(name), "rtmr%u", i);
                r = claims_set_register(c, name, HASH_SHA384, q->body.rtmr[i]);
        }
        return r < 0 ? errbuf_set(err, r, "too many register claims") : 0;
}

struct evidence_parts {
        uint8_t *quote, *eventlog;
        size_t quote_len, eventlog_len;
};

static void evidence_parts_done(struct evidence_parts *e) {
        free(e->quote);
        free(e->eventlog);
}

static int parse_evidence(const json_t *ev, struct evidence_parts *e, errbuf *err) {
        static const char *const members[] = { "quote", "cc_eventlog", NULL };
        errbuf e2 = {};
        int r;

        if (!json_is_object(ev))
                return errbuf_set(err, -EBADMSG, "evidence must be a JSON object");
        if (kbs_proto_only_members(ev, "evidence", members, &e2) < 0)
                return errbuf_set(err, -EBADMSG, "%s", e2.msg);
        r = verify_b64_member(ev, "evidence", "quote", TDX_EVIDENCE_QUOTE_MAX, &e->quote, &e->quote_len, err);
        if (r >= 0)
                r = verify_b64_member(ev, "evidence", "cc_eventlog", TDX_EVENTLOG_MAX, &e->eventlog, &e->eventlog_len,
                                      err);
        return r;
}

int tdx_evidence_verify(const json_t *evidence, const uint8_t report_data[static KBS_REPORT_DATA_SIZE],
                        const STACK_OF(X509) *roots, time_t now, struct claims *ret, errbuf *err) {
        _cleanup_(evidence_parts_done) struct evidence_parts e = {};
        _cleanup_(claims_done) struct claims c = { .tee = KBS_TEE_TDX };
        struct tdx_verify_result res;
        struct tdx_quote q;
        int r;

        r = parse_evidence(evidence, &e, err);
        if (r < 0)
                return r;
        r = verify_quote(e.quote, e.quote_len, report_data, roots, now, &q, &res, err);
        if (r < 0)
                return r;
        /* The quote's registers are trusted only now that its signature and chain are. */
        r = quote_claims(&q, &res, &c, err);
        if (r >= 0)
                r = tdx_eventlog_verify(e.eventlog, e.eventlog_len, (const uint8_t(*)[TDX_MR_SIZE]) q.body.rtmr, &c,
                                        err);
        if (r < 0)
                return r;
        *ret = c;
        c = (struct claims) {};
        return 0;
}
