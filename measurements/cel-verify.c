/* SPDX-License-Identifier: MIT */
/* Replaying the canonical log and explaining how it relates to register values (DESIGN §3). The
 * verdicts follow the writer's protocol (intent, extend, commit): an uncommitted last record is
 * consistent whether or not its extend happened; a register equal to a shorter prefix means records
 * were logged but never extended; no prefix at all means something unlogged was extended. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cel.h"

static struct cel_value *replay_slot(struct cel_replay *r, const char *mr, enum hash_alg alg) {
        struct cel_value *v = (struct cel_value *) cel_replay_find(r, mr, alg);

        if (v || r->n >= CEL_VALUES_MAX)
                return v;
        v = &r->v[r->n++];
        *v = (struct cel_value) { .alg = alg };
        snprintf(v->mr, sizeof(v->mr), "%s", mr);
        return v;
}

const struct cel_value *cel_replay_find(const struct cel_replay *r, const char *mr, enum hash_alg alg) {
        for (unsigned i = 0; i < r->n; i++)
                if (r->v[i].alg == alg && strcmp(r->v[i].mr, mr) == 0)
                        return &r->v[i];
        return NULL;
}

int cel_replay(const struct cel_log *log, size_t k, struct cel_replay *ret) {
        if (!log || !ret || k > log->n)
                return -EINVAL;
        ret->n = 0;
        for (size_t i = 0; i < k; i++) {
                const struct cel_record *rec = &log->records[i];
                for (unsigned j = 0; j < rec->n_digests; j++) {
                        struct cel_value *v = replay_slot(ret, rec->mr, rec->digests[j].alg);
                        int r;
                        if (!v)
                                return -E2BIG;
                        r = hash_extend(v->alg, v->value, rec->digests[j].d);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

bool cel_verdict_ok(const struct cel_verdict *v) {
        return v->kind == CEL_VERDICT_MATCH || v->kind == CEL_VERDICT_MATCH_UNCOMMITTED_EXTENDED ||
               v->kind == CEL_VERDICT_MATCH_UNCOMMITTED_NOT_EXTENDED;
}

const char *cel_verdict_kind_name(enum cel_verdict_kind kind) {
        static const char *const names[_CEL_VERDICT_MAX] = {
                [CEL_VERDICT_MATCH] = "match",
                [CEL_VERDICT_MATCH_UNCOMMITTED_EXTENDED] = "match-uncommitted-extended",
                [CEL_VERDICT_MATCH_UNCOMMITTED_NOT_EXTENDED] = "match-uncommitted-not-extended",
                [CEL_VERDICT_CONTENT_MISMATCH] = "content-mismatch",
                [CEL_VERDICT_UNLOGGED_EXTEND] = "unlogged-extend",
                [CEL_VERDICT_NOT_EXTENDED] = "not-extended",
                [CEL_VERDICT_BANK_NOT_COVERED] = "bank-not-covered",
                [CEL_VERDICT_MISSING_EXPECTED] = "missing-expected",
        };
        return kind < _CEL_VERDICT_MAX ? names[kind] : NULL;
}

/* Which finding to report when several registers disagree: evidence of tampering first, then
 * what cannot be checked, then the consistent variants. */
static int severity(enum cel_verdict_kind kind) {
        static const int rank[_CEL_VERDICT_MAX] = {
                [CEL_VERDICT_MATCH] = 0,
                [CEL_VERDICT_MATCH_UNCOMMITTED_EXTENDED] = 1,
                [CEL_VERDICT_MATCH_UNCOMMITTED_NOT_EXTENDED] = 1,
                [CEL_VERDICT_MISSING_EXPECTED] = 2,
                [CEL_VERDICT_BANK_NOT_COVERED] = 3,
                [CEL_VERDICT_NOT_EXTENDED] = 4,
                [CEL_VERDICT_UNLOGGED_EXTEND] = 5,
                [CEL_VERDICT_CONTENT_MISMATCH] = 6,
        };
        return rank[kind];
}

static void verdict_set(struct cel_verdict *v, enum cel_verdict_kind kind, size_t record, const char *mr,
                        enum hash_alg alg, const char *format, ...) _printf_(6, 7);
static void verdict_set(struct cel_verdict *v, enum cel_verdict_kind kind, size_t record, const char *mr,
                        enum hash_alg alg, const char *format, ...) {
        va_list ap;

        *v = (struct cel_verdict) { .kind = kind, .record = record, .alg = alg };
        snprintf(v->mr, sizeof(v->mr), "%s", mr ?: "");
        va_start(ap, format);
        (void) vsnprintf(v->message, sizeof(v->message), format, ap);
        va_end(ap);
}

static const struct digest *record_digest(const struct cel_record *rec, enum hash_alg alg) {
        for (unsigned k = 0; k < rec->n_digests; k++)
                if (rec->digests[k].alg == alg)
                        return &rec->digests[k];
        return NULL;
}

static int check_expected(const struct cel_value *e, size_t n) {
        if (n > CEL_VALUES_MAX || (n > 0 && !e))
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!cel_mr_name_valid(e[i].mr) || hash_alg_size(e[i].alg) == 0)
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (e[j].alg == e[i].alg && strcmp(e[j].mr, e[i].mr) == 0)
                                return -EINVAL;
        }
        return 0;
}

/* One register: its expected banks and their values as the replay goes on. */
struct reg_check {
        const char *mr;
        size_t n;
        const struct cel_value *exp[_HASH_ALG_MAX];
        uint8_t cur[_HASH_ALG_MAX][HASH_MAX_SIZE];
        size_t count;     /* records of this register */
        size_t last;      /* index of its last record */
        size_t best;      /* longest prefix (in its records) giving every expected value */
        size_t best_next; /* index of the record after that prefix */
};

static bool reg_mismatch(const struct reg_check *c, size_t k) {
        return memcmp(c->cur[k], c->exp[k]->value, hash_alg_size(c->exp[k]->alg)) != 0;
}

static bool reg_matches(const struct reg_check *c) {
        for (size_t k = 0; k < c->n; k++)
                if (reg_mismatch(c, k))
                        return false;
        return true;
}

static int replay_register(const struct cel_log *log, struct reg_check *c) {
        c->count = 0;
        c->last = c->best_next = CEL_NO_RECORD;
        c->best = reg_matches(c) ? 0 : CEL_NO_RECORD;
        for (size_t i = 0; i < log->n; i++) {
                const struct cel_record *rec = &log->records[i];
                if (strcmp(rec->mr, c->mr) != 0)
                        continue;
                if (c->best == c->count)
                        c->best_next = i;
                for (size_t k = 0; k < c->n; k++) {
                        const struct digest *d = record_digest(rec, c->exp[k]->alg);
                        int r = d ? hash_extend(d->alg, c->cur[k], d->d) : -EINVAL;
                        if (r < 0)
                                return r;
                }
                c->count++;
                c->last = i;
                if (reg_matches(c))
                        c->best = c->count;
        }
        return 0;
}

static void register_verdict(const struct cel_log *log, const struct reg_check *c, struct cel_verdict *v) {
        bool uncommitted = c->count > 0 && !log->records[c->last].committed;
        size_t k = 0;

        if (c->best == c->count && uncommitted)
                verdict_set(v, CEL_VERDICT_MATCH_UNCOMMITTED_EXTENDED, c->last, c->mr, _HASH_ALG_INVALID,
                            "%s: consistent: record %zu is uncommitted (its writer stopped before the commit) "
                            "and its extend happened", c->mr, c->last);
        else if (c->best == c->count)
                verdict_set(v, CEL_VERDICT_MATCH, CEL_NO_RECORD, c->mr, _HASH_ALG_INVALID,
                            "%s: all banks match the log (%zu records)", c->mr, c->count);
        else if (uncommitted && c->best == c->count - 1)
                verdict_set(v, CEL_VERDICT_MATCH_UNCOMMITTED_NOT_EXTENDED, c->last, c->mr, _HASH_ALG_INVALID,
                            "%s: consistent: record %zu is uncommitted (its writer stopped before the commit) "
                            "and its extend did not happen", c->mr, c->last);
        else if (c->best == 0)
                verdict_set(v, CEL_VERDICT_NOT_EXTENDED, c->best_next, c->mr, _HASH_ALG_INVALID,
                            "%s: records %zu.. were logged but never extended (the register is at its "
                            "initial value)", c->mr, c->best_next);
        else if (c->best != CEL_NO_RECORD)
                verdict_set(v, CEL_VERDICT_NOT_EXTENDED, c->best_next, c->mr, _HASH_ALG_INVALID,
                            "%s: records %zu.. were logged but never extended (the register holds the value "
                            "of the log before record %zu)", c->mr, c->best_next, c->best_next);
        else {
                while (k + 1 < c->n && !reg_mismatch(c, k))
                        k++;
                verdict_set(v, CEL_VERDICT_UNLOGGED_EXTEND, CEL_NO_RECORD, c->mr, c->exp[k]->alg,
                            c->count > 0 ? "%s %s: the log replays completely but the register differs: it "
                                           "was extended with something the log does not record"
                                         : "%s %s: the log has no records for this register, but it is not "
                                           "all zero: it was extended with something the log does not record",
                            c->mr, hash_alg_name(c->exp[k]->alg));
        }
}

static int verify_register(const struct cel_log *log, const char *mr, const struct cel_value *e, size_t n_e,
                           struct cel_verdict *v) {
        struct reg_check c = { .mr = mr };
        const struct cel_record *first = NULL;
        int r;

        for (size_t i = 0; i < log->n && !first; i++)
                if (strcmp(log->records[i].mr, mr) == 0)
                        first = &log->records[i];
        for (size_t k = 0; k < n_e; k++)
                if (strcmp(e[k].mr, mr) == 0 && c.n < ELEMENTSOF(c.exp))
                        c.exp[c.n++] = &e[k];
        if (c.n == 0) {
                verdict_set(v, CEL_VERDICT_MISSING_EXPECTED, CEL_NO_RECORD, mr, _HASH_ALG_INVALID,
                            "%s: the log has records for this register but no value was given for it", mr);
                return 0;
        }
        for (size_t k = 0; first && k < c.n; k++)
                if (!record_digest(first, c.exp[k]->alg)) {
                        verdict_set(v, CEL_VERDICT_BANK_NOT_COVERED, CEL_NO_RECORD, mr, c.exp[k]->alg,
                                    "%s %s: the log has no digests for this bank, so it cannot be verified",
                                    mr, hash_alg_name(c.exp[k]->alg));
                        return 0;
                }
        r = replay_register(log, &c);
        if (r < 0)
                return r;
        register_verdict(log, &c, v);
        return 0;
}

static void add_name(const char **names, size_t *n, const char *name) {
        for (size_t k = 0; k < *n; k++)
                if (strcmp(names[k], name) == 0)
                        return;
        if (*n < CEL_MR_MAX)
                names[(*n)++] = name;
}

int cel_verify(const struct cel_log *log, const struct cel_value *expected, size_t n_expected,
               struct cel_verdict *ret) {
        const char *names[CEL_MR_MAX];
        struct cel_verdict best;
        size_t n_names = 0;
        int r;

        if (!log || !ret)
                return -EINVAL;
        r = check_expected(expected, n_expected);
        if (r < 0)
                return r;
        for (size_t i = 0; i < log->n; i++)
                if (!log->records[i].content_matches) {
                        verdict_set(ret, CEL_VERDICT_CONTENT_MISMATCH, i, log->records[i].mr, _HASH_ALG_INVALID,
                                    "record %zu: content does not match its digests (altered after measurement)", i);
                        return 0;
                }
        for (size_t i = 0; i < log->n; i++)
                add_name(names, &n_names, log->records[i].mr);
        for (size_t k = 0; k < n_expected; k++)
                add_name(names, &n_names, expected[k].mr);

        verdict_set(&best, CEL_VERDICT_MATCH, CEL_NO_RECORD, NULL, _HASH_ALG_INVALID,
                    "nothing to verify: the log has no records and no register value was given");
        for (size_t k = 0; k < n_names; k++) {
                struct cel_verdict v;
                r = verify_register(log, names[k], expected, n_expected, &v);
                if (r < 0)
                        return r;
                if (k == 0 || severity(v.kind) > severity(best.kind))
                        best = v;
        }
        if (best.kind == CEL_VERDICT_MATCH && n_names > 1)
                verdict_set(&best, CEL_VERDICT_MATCH, CEL_NO_RECORD, NULL, _HASH_ALG_INVALID,
                            "all banks of %zu registers match the log (%zu records)", n_names, log->n);
        *ret = best;
        return 0;
}
