/* SPDX-License-Identifier: MIT */
/* The canonical measurement log (DESIGN §3): TCG Canonical Event Log records in JSON (CEL-JSON),
 * framed as JSON text sequences (RFC 7464), one record per event:
 *
 *   RS {"recnum":N,"mr":"pcr14","digests":[{"hashAlg":"sha256","digest":"<hex>"},...],
 *       "content_type":"cvminit","content":{"domain":D,"operation":O,"content":{...}}} LF
 *
 * Writing (one writer at a time, under flock(LOCK_EX)): RS + JSON is written and fdatasync'd (the
 * intent), the register is extended, then the record's LF is written (the commit). A record
 * without its LF is "uncommitted": the writer stopped between intent and commit, so its extend may
 * or may not have happened; only the last record can be in that state. If the extend fails, the
 * intent is truncated away before the error is returned.
 *
 * Reading is strict: records are numbered from 0 in file order and "recnum" must equal that
 * position, so "record N" in every message is both. Every record of one register carries digests
 * for the same banks (the writer extends every bank), so each (register, bank) replays on its own.
 *
 * Verifying compares the replay with register values read elsewhere (TPM, quote) and explains the
 * difference in a struct cel_verdict. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "event.h"
#include "hashalg.h"
#include "mr.h"
#include "util.h"

#define CEL_CONTENT_TYPE "cvminit"
#define CEL_FILE_MAX (64U << 20)
#define CEL_RECORDS_MAX 65536U
#define CEL_RECORD_MAX (EVENT_TEXT_MAX + 8192U)
/* Registers a log may name: pcr0..pcr23, rtmr0..rtmr3. */
#define CEL_MR_MAX 28U
#define CEL_VALUES_MAX (CEL_MR_MAX * _HASH_ALG_MAX)
#define CEL_NO_RECORD SIZE_MAX

/* A register name as the "mr" field allows: ^(pcr([0-9]|1[0-9]|2[0-3])|rtmr[0-3])$ */
bool cel_mr_name_valid(const char *name);

struct cel_writer;

/* Opens (creating, mode 0600) the log at path for appending events measured into mr (not owned).
 * Refuses (-EBADMSG) a log that does not parse or ends in an uncommitted record, and (-EXDEV) one
 * whose records are for another register or other banks. */
int cel_writer_open(const char *path, struct mr *mr, struct cel_writer **ret);
/* The same, with the reason for a refusal in err. */
int cel_writer_open_detail(const char *path, struct mr *mr, struct cel_writer **ret, errbuf *err);
/* Measures one event: digests for every bank of the register, intent, extend, commit. content must
 * be a JSON object. Returns the record number. On failure cel_writer_error() says why. */
int cel_writer_append(struct cel_writer *w, const char *domain, const char *operation,
                      const json_t *content);
/* Detail of the last failed append ("" if none). */
const char *cel_writer_error(const struct cel_writer *w);
void cel_writer_free(struct cel_writer *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cel_writer *, cel_writer_free);

struct cel_record {
        uint64_t recnum;
        char mr[MR_NAME_MAX];
        unsigned n_digests;
        struct digest digests[MR_BANKS_MAX];
        char *domain, *operation;
        json_t *content;
        char *text; /* DOMAIN SP OPERATION SP JCS(content), as hashed */
        size_t text_len;
        bool content_matches; /* the digests are those of text */
        bool committed;       /* false only for a last record missing its LF */
        json_t *json;         /* the whole record as parsed */
};

struct cel_log {
        struct cel_record *records;
        size_t n;
};

/* Parses a whole log; on error fills err with "record N: what is wrong" and returns -EBADMSG
 * (-EFBIG for a log, record or record count over the limits). */
int cel_parse(const uint8_t *p, size_t n, struct cel_log *ret, errbuf *err);
int cel_read_file(const char *path, struct cel_log *ret, errbuf *err);
void cel_log_done(struct cel_log *log);
/* One record's JSON (without RS and LF) that must carry recnum i; fills rec (free with
 * cel_record_done, also after a failure). The framing and cross-record checks are cel_parse's. */
int cel_record_parse(const char *json, size_t n, size_t i, bool committed, struct cel_record *rec,
                     errbuf *err);
void cel_record_done(struct cel_record *rec);

/* One bank of one register. */
struct cel_value {
        char mr[MR_NAME_MAX];
        enum hash_alg alg;
        uint8_t value[HASH_MAX_SIZE];
};

struct cel_replay {
        unsigned n;
        struct cel_value v[CEL_VALUES_MAX];
};

/* Replays the first k records (k <= log->n) from all-zero registers with the logged digests (they
 * are what was extended). One value per (register, bank), in order of first appearance. */
int cel_replay(const struct cel_log *log, size_t k, struct cel_replay *ret);
const struct cel_value *cel_replay_find(const struct cel_replay *r, const char *mr, enum hash_alg alg);

enum cel_verdict_kind {
        CEL_VERDICT_MATCH,                      /* every given bank equals the complete replay */
        CEL_VERDICT_MATCH_UNCOMMITTED_EXTENDED, /* last record uncommitted, its extend happened */
        CEL_VERDICT_MATCH_UNCOMMITTED_NOT_EXTENDED, /* ... its extend did not happen */
        CEL_VERDICT_CONTENT_MISMATCH,  /* record: first whose content is not what its digests cover */
        CEL_VERDICT_UNLOGGED_EXTEND,   /* no prefix of the log gives the register's value */
        CEL_VERDICT_NOT_EXTENDED,      /* record: first of the records logged but never extended */
        CEL_VERDICT_BANK_NOT_COVERED,  /* a given bank the log has no digests for: cannot verify */
        CEL_VERDICT_MISSING_EXPECTED,  /* a register of the log with no value given */
        _CEL_VERDICT_MAX,
};

struct cel_verdict {
        enum cel_verdict_kind kind;
        size_t record;          /* CEL_NO_RECORD when the verdict names none */
        char mr[MR_NAME_MAX];   /* "" when the verdict names none */
        enum hash_alg alg;      /* _HASH_ALG_INVALID when the verdict names none */
        char message[256];
};

/* Compares the log with the register values in expected (one per register and bank; registers the
 * log never names are expected at zero). Fills ret with the most serious finding (content mismatch,
 * unlogged extend, not extended, bank not covered, missing expected, then the matches); returns 0,
 * or -EINVAL for a malformed or duplicate expected value. */
int cel_verify(const struct cel_log *log, const struct cel_value *expected, size_t n_expected,
               struct cel_verdict *ret);
/* True for the verdicts that mean "the log and the registers are consistent". */
bool cel_verdict_ok(const struct cel_verdict *v);
const char *cel_verdict_kind_name(enum cel_verdict_kind kind);
