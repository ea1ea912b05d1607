/* SPDX-License-Identifier: MIT */
/* cvmtool log verify --quote: the registers of a TDX quote against the logs that explain them
 * (DESIGN §2, §3; docs/tdx.md): RTMR0-2 against the firmware's CCEL (TCG2, replayed in SHA-384),
 * RTMR3 against cvminit's canonical log (cel_verify), and with --root the quote's own signatures. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cel.h"
#include "cvmtool.h"
#include "log.h"
#include "tcg2.h"
#include "tdx-quote.h"

static void x509_store_freep(X509_STORE **s) {
        X509_STORE_free(*s);
}

static int load_quote(const struct quote_log_args *a, uint8_t **raw, struct tdx_quote *q) {
        _cleanup_free_ char *e = escape_untrusted(a->quote, strlen(a->quote), 256);
        errbuf err = {};
        size_t n;
        int r;

        r = read_file_limited(a->quote, TDX_QUOTE_MAX, raw, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot read quote %s: %s", e ?: "?",
                                       r == -EFBIG ? "larger than the limit of 65536 bytes" : strerror(-r)),
                       exit_code_from_errno(r);
        r = tdx_quote_parse(*raw, n, a->allow_trailing ? TDX_QUOTE_ALLOW_TRAILING : 0, q, &err);
        if (r < 0)
                return log_error_errno(r, "%s is not a usable TDX quote: %s", e ?: "?", err.msg), exit_code_from_errno(r);
        return EXIT_OK;
}

/* Only RTMR0-2 (CC MR indexes 1-3) may have firmware events: MRTD is the TDX module's, and
 * cvminit's log starts RTMR3 from zero. */
static int ccel_indexes(const char *path, const struct tcg2_log *log) {
        for (size_t i = 0; i < log->n_events; i++) {
                const struct tcg2_event *e = &log->events[i];
                if (e->type != TCG2_EV_NO_ACTION && (e->index == 0 || e->index > TCG2_CC_MR_RTMR3))
                        return log_error("%s: event %u at offset %zu extends MR index %" PRIu32 ", which is not RTMR0-2.",
                                         path, e->number, e->offset, e->index),
                               EXIT_INPUT;
                if (e->type != TCG2_EV_NO_ACTION && e->index == TCG2_CC_MR_RTMR3)
                        return log_error("%s: event %u at offset %zu extends RTMR3; give the firmware log only "
                                         "(cvminit's log accounts for RTMR3 from zero).", path, e->number, e->offset),
                               EXIT_INPUT;
        }
        return EXIT_OK;
}

static int check_ccel(const char *path, const struct tdx_quote *q, bool *ok) {
        _cleanup_free_ char *e = escape_untrusted(path, strlen(path), 256);
        struct tcg2_log log = {};
        errbuf err = {};
        int r;

        r = tcg2_read_file(path, &log, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot use firmware log %s: %s", e ?: "?", err.msg), exit_code_from_errno(r);
        r = ccel_indexes(e ?: "?", &log);
        for (unsigned i = 0; i < 3 && r == EXIT_OK; i++) {
                uint8_t v[HASH_MAX_SIZE];
                char got[2 * TDX_MR_SIZE + 1], want[2 * TDX_MR_SIZE + 1];
                int n = tcg2_replay(&log, i + 1, HASH_SHA384, v, &err);
                if (n < 0) {
                        r = log_error_errno(n, "%s: cannot replay RTMR%u in SHA-384: %s", e ?: "?", i, err.msg),
                        exit_code_from_errno(n);
                        break;
                }
                if (memcmp(v, q->body.rtmr[i], TDX_MR_SIZE) == 0) {
                        printf("rtmr%u: the firmware log replays to the quote's value (%d events)\n", i, n);
                        continue;
                }
                hex_encode(v, TDX_MR_SIZE, got);
                hex_encode(q->body.rtmr[i], TDX_MR_SIZE, want);
                printf("rtmr%u: the firmware log replays to %s, the quote has %s\n", i, got, want);
                *ok = false;
        }
        tcg2_log_done(&log);
        return r;
}

static int check_rtmr3(const struct cel_log *log, const struct tdx_quote *q, bool *ok) {
        struct cel_value expected = { .mr = "rtmr3", .alg = HASH_SHA384 };
        struct cel_verdict v;
        int r;

        memcpy(expected.value, q->body.rtmr[3], TDX_MR_SIZE);
        r = cel_verify(log, &expected, 1, &v);
        if (r < 0)
                return log_error_errno(r, "Cannot verify the log: %m"), exit_code_from_errno(r);
        printf("%s\n", v.message);
        *ok &= cel_verdict_ok(&v);
        return EXIT_OK;
}

static int check_quote(const struct quote_log_args *a, const struct tdx_quote *q, bool *ok) {
        _cleanup_(x509_store_freep) X509_STORE *roots = NULL;
        _cleanup_free_ uint8_t *pem = NULL;
        _cleanup_free_ char *e = escape_untrusted(a->root, strlen(a->root), 256);
        struct tdx_verify_opts o = {};
        struct tdx_verify_result res;
        errbuf err = {};
        size_t n;
        int r;

        if (a->at && parse_utc_time(a->at, &o.at) < 0)
                return usage_error("log verify", "--at: expected RFC 3339 UTC time like 2027-01-01T00:00:00Z");
        r = read_file_limited(a->root, TDX_ROOTS_PEM_MAX, &pem, &n);
        if (r >= 0)
                r = tdx_roots_from_pem(pem, n, &roots, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot use root %s: %s", e ?: "?", err.msg[0] ? err.msg : strerror(-r)),
                       exit_code_from_errno(r);
        o.roots = roots;
        r = tdx_quote_verify(q, &o, &res);
        if (r < 0)
                return log_error_errno(r, "Cannot verify the quote: %m"), exit_code_from_errno(r);
        for (unsigned i = 0; i < _TDX_CHECK_MAX && !res.ok; i++)
                if (res.checks[i].state == TDX_CHECK_FAILED)
                        printf("quote: %s FAILED: %s\n", tdx_check_name(i), res.checks[i].reason);
        if (res.ok)
                printf("quote: verifies (%s). Note: " TDX_VERIFY_NOT_EVALUATED ".\n",
                       res.checks[TDX_CHECK_PCK_CHAIN].reason);
        *ok &= res.ok;
        return EXIT_OK;
}

int log_verify_quote(const struct cel_log *log, const struct quote_log_args *a) {
        _cleanup_free_ uint8_t *raw = NULL;
        struct tdx_quote q;
        bool ok = true;
        int r;

        r = load_quote(a, &raw, &q);
        if (r == EXIT_OK && a->ccel)
                r = check_ccel(a->ccel, &q, &ok);
        else if (r == EXIT_OK)
                printf("rtmr0-2: not checked (give the firmware log with --ccel)\n");
        if (r == EXIT_OK)
                r = check_rtmr3(log, &q, &ok);
        if (r == EXIT_OK && a->root)
                r = check_quote(a, &q, &ok);
        else if (r == EXIT_OK)
                printf("quote: its signatures were NOT checked (give --root PEM, or run 'cvmtool quote verify')\n");
        if (r != EXIT_OK)
                return r;
        return ok ? EXIT_OK : EXIT_MISMATCH;
}
