/* SPDX-License-Identifier: MIT */
/* TCG2 crypto-agile logs and the ACPI CCEL table: parse, replay every index and bank, and for a log
 * whose banks we know, render it again (minimal header, same events, end marker). Properties
 * beyond "no crash": a parse failure says -EBADMSG/-EFBIG with a message; the rendered log parses
 * to the same events and replays to the same values. */
#include <stdlib.h>
#include <string.h>

#include "tcg2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void replay_all(const struct tcg2_log *log, uint8_t values[TCG2_INDEX_MAX][TCG2_DIGESTS_MAX][HASH_MAX_SIZE]) {
        for (uint32_t i = 0; i < TCG2_INDEX_MAX; i++)
                for (unsigned k = 0; k < log->spec_id.n_algs; k++) {
                        int alg = log->spec_id.algs[k].alg, r;
                        errbuf err = {};
                        if (alg < 0)
                                continue;
                        r = tcg2_replay(log, i, alg, values[i][k], &err);
                        if (r < 0 && r != -EBADMSG && r != -EOPNOTSUPP)
                                abort();
                        if (r < 0)
                                memset(values[i][k], 0xee, HASH_MAX_SIZE);
                }
}

static bool same_event(const struct tcg2_event *x, const struct tcg2_event *y) {
        if (x->index != y->index || x->type != y->type || x->n_digests != y->n_digests ||
            x->data_len != y->data_len || memcmp(x->data, y->data, x->data_len) != 0 || x->aael != y->aael ||
            x->digests_match != y->digests_match)
                return false;
        for (unsigned k = 0; k < x->n_digests; k++)
                if (x->digests[k].alg_id != y->digests[k].alg_id ||
                    memcmp(x->digests[k].d, y->digests[k].d, x->digests[k].size) != 0)
                        return false;
        return true;
}

static int render(const struct tcg2_log *log, struct buf *b) {
        enum hash_alg banks[TCG2_DIGESTS_MAX];
        int r;

        for (unsigned k = 0; k < log->spec_id.n_algs; k++) {
                if (log->spec_id.algs[k].alg < 0)
                        return -EOPNOTSUPP;
                banks[k] = log->spec_id.algs[k].alg;
        }
        r = tcg2_render_spec_id(b, log->spec_id.index, banks, log->spec_id.n_algs);
        for (size_t i = 0; i < log->n_events && r >= 0; i++) {
                const struct tcg2_event *e = &log->events[i];
                struct digest d[TCG2_DIGESTS_MAX];
                for (unsigned k = 0; k < e->n_digests; k++) {
                        d[k].alg = e->digests[k].alg;
                        memcpy(d[k].d, e->digests[k].d, e->digests[k].size);
                }
                r = tcg2_render_event(b, e->index, e->type, d, e->n_digests, e->data, e->data_len);
        }
        if (r >= 0)
                r = tcg2_render_end(b);
        if (r < 0)
                abort(); /* everything the parser accepts (with known banks) must render */
        return 0;
}

static uint8_t v1[TCG2_INDEX_MAX][TCG2_DIGESTS_MAX][HASH_MAX_SIZE], v2[TCG2_INDEX_MAX][TCG2_DIGESTS_MAX][HASH_MAX_SIZE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct tcg2_log log = {}, again = {};
        struct acpi_ccel table;
        struct buf b = {};
        errbuf err = {};
        int r;

        memset(v1, 0, sizeof(v1));
        memset(v2, 0, sizeof(v2));
        (void) acpi_ccel_parse(data, size, &table, NULL);
        r = tcg2_parse(data, size, &log, &err);
        if (r < 0) {
                if ((r != -EBADMSG && r != -EFBIG && r != -ENOMEM) || (r == -EBADMSG && !err.msg[0]))
                        abort();
                return 0;
        }
        replay_all(&log, v1);
        if (render(&log, &b) == 0) {
                if (tcg2_parse((const uint8_t *) b.data, b.len, &again, NULL) < 0 || again.n_events != log.n_events ||
                    again.end != TCG2_END_MARKER)
                        abort();
                for (size_t i = 0; i < log.n_events; i++)
                        if (!same_event(&log.events[i], &again.events[i]))
                                abort();
                replay_all(&again, v2);
                if (memcmp(v1, v2, sizeof(v1)) != 0)
                        abort();
                tcg2_log_done(&again);
        }
        buf_free(&b);
        tcg2_log_done(&log);
        return 0;
}
