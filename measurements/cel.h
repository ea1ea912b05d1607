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
 * intent is truncated away before the error is returned. */
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

struct cel_writer;

/* Opens (creating, mode 0600) the log at path for appending events measured into mr (not owned).
 * Refuses (-EBADMSG) a log that does not parse or ends in an uncommitted record, and (-EXDEV) one
 * whose records are for another register. */
int cel_writer_open(const char *path, struct mr *mr, struct cel_writer **ret);
/* Measures one event: digests for every bank of the register, intent, extend, commit. content must
 * be a JSON object. Returns the record number. */
int cel_writer_append(struct cel_writer *w, const char *domain, const char *operation,
                      const json_t *content);
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
};

struct cel_log {
        struct cel_record *records;
        size_t n;
};

/* Parses a whole log; on error fills err with the record number and what is wrong. */
int cel_parse(const uint8_t *p, size_t n, struct cel_log *ret, errbuf *err);
int cel_read_file(const char *path, struct cel_log *ret, errbuf *err);
void cel_log_done(struct cel_log *log);
