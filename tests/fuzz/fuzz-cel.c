/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the canonical measurement log reader (cel.c) and its replay and verdicts. */
#include <stdint.h>
#include <stdlib.h>

#include "cel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct cel_log log = {};
        struct cel_replay *rp;
        struct cel_verdict v;
        errbuf err = {};

        if (cel_parse(data, size, &log, &err) < 0)
                return 0;
        rp = malloc(sizeof(*rp));
        if (rp && cel_replay(&log, log.n, rp) >= 0) {
                bool altered = false;
                for (size_t i = 0; i < log.n; i++)
                        altered |= !log.records[i].content_matches;
                /* The complete replay must be consistent with its own log; a prefix exercises the
                 * other verdicts. */
                if (cel_verify(&log, rp->v, rp->n, &v) < 0 || (!altered && !cel_verdict_ok(&v)))
                        abort();
                if (log.n > 0 && cel_replay(&log, log.n / 2, rp) >= 0)
                        (void) cel_verify(&log, rp->v, rp->n, &v);
        }
        free(rp);
        cel_log_done(&log);
        return 0;
}
