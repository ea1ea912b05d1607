/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the TDX cc_eventlog check (tdx-verify.h): the input is the log, checked
 * once against its own SHA-384 replay (so the accepting path is reached) and once against other
 * RTMR values. Properties beyond "no crash": a refusal is -EBADMSG or -EPERM with a message and
 * leaves the claims untouched; an accepted log names "rtmr3" and yields exactly one claim per
 * extended event at CC MR index 4; other RTMR values are always refused. Seeds: the CCEL and AAEL
 * logs of tests/fixtures (tests/fuzz/corpus/tdx-eventlog). */
#include <stdlib.h>
#include <string.h>

#include "tcg2.h"
#include "tdx-verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The log's own RTMR values; false if it does not parse or replay. */
static bool own_rtmrs(const uint8_t *data, size_t size, uint8_t rtmr[4][48], size_t *n_runtime) {
        struct tcg2_log log = {};
        bool ok = tcg2_parse(data, size, &log, NULL) >= 0;

        *n_runtime = 0;
        for (unsigned i = 0; ok && i < 4; i++) {
                uint8_t v[HASH_MAX_SIZE];
                ok = tcg2_replay(&log, i + 1, HASH_SHA384, v, NULL) >= 0;
                memcpy(rtmr[i], v, 48);
        }
        for (size_t i = 0; ok && i < log.n_events; i++)
                if (log.events[i].type != TCG2_EV_NO_ACTION && log.events[i].index == TCG2_CC_MR_RTMR3)
                        (*n_runtime)++;
        tcg2_log_done(&log);
        return ok;
}

static void check(const uint8_t *data, size_t size, const uint8_t rtmr[4][48], size_t n_runtime, bool expect_ok) {
        struct claims c = {};
        errbuf err = {};
        int r = tdx_eventlog_verify(data, size, rtmr, &c, &err);

        if (r < 0) {
                if ((r != -EBADMSG && r != -EPERM && r != -ENOMEM) || !err.msg[0] || c.events || c.log_mr[0])
                        abort();
                return;
        }
        if (!expect_ok || strcmp(c.log_mr, "rtmr3") != 0 || json_array_size(c.events) != n_runtime)
                abort();
        claims_done(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint8_t rtmr[4][48] = {};
        size_t n_runtime = 0;
        bool replays = own_rtmrs(data, size, rtmr, &n_runtime);

        check(data, size, (const uint8_t(*)[48]) rtmr, n_runtime, true);
        if (replays) {
                rtmr[3][0] ^= 1;
                check(data, size, (const uint8_t(*)[48]) rtmr, n_runtime, false);
        }
        return 0;
}
