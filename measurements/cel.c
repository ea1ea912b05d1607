/* SPDX-License-Identifier: MIT */
/* Reading the canonical measurement log (DESIGN §3): RFC 7464 framing, TCG CEL-JSON records, strict
 * validation of every field, and the check that each record's content is what its digests cover. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cel.h"

#define RS 0x1e

bool cel_mr_name_valid(const char *name) {
        unsigned max, v;

        if (!name)
                return false;
        if (strncmp(name, "pcr", 3) == 0) {
                name += 3;
                max = 23;
        } else if (strncmp(name, "rtmr", 4) == 0) {
                name += 4;
                max = 3;
        } else
                return false;
        if (name[0] < '0' || name[0] > '9')
                return false;
        v = (unsigned) (name[0] - '0');
        if (name[1] != 0) {
                /* Two digits, no leading zero (the regex's 1[0-9]|2[0-3]). */
                if (v == 0 || name[1] < '0' || name[1] > '9' || name[2] != 0)
                        return false;
                v = v * 10 + (unsigned) (name[1] - '0');
        }
        return v <= max;
}

void cel_record_done(struct cel_record *rec) {
        free(rec->domain);
        free(rec->operation);
        free(rec->text);
        json_decref(rec->content);
        json_decref(rec->json);
        *rec = (struct cel_record) {};
}

void cel_log_done(struct cel_log *log) {
        if (!log)
                return;
        for (size_t i = 0; i < log->n; i++)
                cel_record_done(&log->records[i]);
        free(log->records);
        *log = (struct cel_log) {};
}

/* Every member of o is one of names[], and every one of names[] is there. */
static int check_members(const json_t *o, const char *const *names, size_t n_names, size_t i,
                         const char *where, errbuf *err) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) o, key, v) {
                bool known = false;
                for (size_t k = 0; k < n_names && !known; k++)
                        known = strcmp(key, names[k]) == 0;
                if (!known) {
                        _cleanup_free_ char *e = escape_untrusted(key, strlen(key), 40);
                        return errbuf_set(err, -EBADMSG, "record %zu: %s has an unknown member \"%s\"", i,
                                          where, e ?: "?");
                }
        }
        for (size_t k = 0; k < n_names; k++)
                if (!json_object_get(o, names[k]))
                        return errbuf_set(err, -EBADMSG, "record %zu: %s has no \"%s\"", i, where, names[k]);
        return 0;
}

static int parse_digest(const json_t *d, struct cel_record *rec, size_t i, errbuf *err) {
        static const char *const names[] = { "hashAlg", "digest" };
        const json_t *alg = json_object_get(d, "hashAlg"), *hex = json_object_get(d, "digest");
        struct digest *out = &rec->digests[rec->n_digests];
        size_t size;
        int a, r;

        if (!json_is_object(d))
                return errbuf_set(err, -EBADMSG, "record %zu: digests[%u] is not an object", i, rec->n_digests);
        r = check_members(d, names, ELEMENTSOF(names), i, "a digest", err);
        if (r < 0)
                return r;
        if (!json_is_string(alg) || !json_is_string(hex))
                return errbuf_set(err, -EBADMSG, "record %zu: hashAlg and digest must be strings", i);
        a = hash_alg_from_name(json_string_value(alg));
        if (a < 0) {
                _cleanup_free_ char *e = escape_untrusted(json_string_value(alg), json_string_length(alg), 40);
                return errbuf_set(err, -EBADMSG, "record %zu: unknown hash algorithm \"%s\"", i, e ?: "?");
        }
        for (unsigned k = 0; k < rec->n_digests; k++)
                if (rec->digests[k].alg == (enum hash_alg) a)
                        return errbuf_set(err, -EBADMSG, "record %zu: two digests for %s", i, hash_alg_name(a));
        size = hash_alg_size(a);
        if (json_string_length(hex) != 2 * size ||
            unhex(json_string_value(hex), 2 * size, out->d, sizeof(out->d)) != (int) size)
                return errbuf_set(err, -EBADMSG, "record %zu: the %s digest must be %zu hex digits", i,
                                  hash_alg_name(a), 2 * size);
        out->alg = a;
        rec->n_digests++;
        return 0;
}

static int parse_digests(const json_t *a, struct cel_record *rec, size_t i, errbuf *err) {
        size_t k;
        json_t *d;

        if (!json_is_array(a) || json_array_size(a) == 0)
                return errbuf_set(err, -EBADMSG, "record %zu: digests must be a non-empty array", i);
        if (json_array_size(a) > MR_BANKS_MAX)
                return errbuf_set(err, -EBADMSG, "record %zu: more than %d digests", i, MR_BANKS_MAX);
        json_array_foreach(a, k, d) {
                int r = parse_digest(d, rec, i, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_token(const json_t *v, const char *what, char **ret, size_t i, errbuf *err) {
        if (!json_is_string(v) || !event_token_valid(json_string_value(v)))
                return errbuf_set(err, -EBADMSG,
                                  "record %zu: %s must be 1-%d characters of A-Z a-z 0-9 . _ : / -", i, what,
                                  EVENT_TOKEN_MAX);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static const char *text_strerror(int r) {
        switch (-r) {
        case EDOM:
                return "a number is not an integer within +/-(2^53-1)";
        case ELOOP:
                return "nested too deeply";
        case EILSEQ:
                return "a string is not valid UTF-8";
        case E2BIG:
                return "the event text is too large";
        default:
                return strerror(-r);
        }
}

static int parse_content(const json_t *c, struct cel_record *rec, size_t i, errbuf *err) {
        static const char *const names[] = { "domain", "operation", "content" };
        int r;

        if (!json_is_object(c))
                return errbuf_set(err, -EBADMSG, "record %zu: content must be an object", i);
        r = check_members(c, names, ELEMENTSOF(names), i, "content", err);
        if (r >= 0)
                r = parse_token(json_object_get(c, "domain"), "content.domain", &rec->domain, i, err);
        if (r >= 0)
                r = parse_token(json_object_get(c, "operation"), "content.operation", &rec->operation, i, err);
        if (r < 0)
                return r;
        rec->content = json_incref(json_object_get(c, "content"));
        if (!json_is_object(rec->content))
                return errbuf_set(err, -EBADMSG, "record %zu: content.content must be an object", i);
        r = event_text(rec->domain, rec->operation, rec->content, &rec->text, &rec->text_len);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return errbuf_set(err, -EBADMSG, "record %zu: content cannot be canonicalized: %s", i,
                                  text_strerror(r));
        return 0;
}

static int parse_fields(const json_t *o, struct cel_record *rec, size_t i, errbuf *err) {
        static const char *const names[] = { "recnum", "mr", "digests", "content_type", "content" };
        const json_t *recnum = json_object_get(o, "recnum"), *mr = json_object_get(o, "mr"),
                     *type = json_object_get(o, "content_type");
        int r;

        r = check_members(o, names, ELEMENTSOF(names), i, "the record", err);
        if (r < 0)
                return r;
        if (!json_is_integer(recnum) || json_integer_value(recnum) < 0)
                return errbuf_set(err, -EBADMSG, "record %zu: recnum must be a non-negative integer", i);
        if ((uint64_t) json_integer_value(recnum) != i)
                return errbuf_set(err, -EBADMSG,
                                  "record %zu: recnum is %" JSON_INTEGER_FORMAT ", expected %zu (records are "
                                  "numbered from 0 in file order)", i, json_integer_value(recnum), i);
        rec->recnum = i;
        if (!json_is_string(mr) || !cel_mr_name_valid(json_string_value(mr)))
                return errbuf_set(err, -EBADMSG, "record %zu: mr must be pcr0..pcr23 or rtmr0..rtmr3", i);
        snprintf(rec->mr, sizeof(rec->mr), "%s", json_string_value(mr));
        if (!json_is_string(type) || strcmp(json_string_value(type), CEL_CONTENT_TYPE) != 0)
                return errbuf_set(err, -EBADMSG, "record %zu: content_type must be \"" CEL_CONTENT_TYPE "\"", i);
        r = parse_digests(json_object_get(o, "digests"), rec, i, err);
        if (r < 0)
                return r;
        return parse_content(json_object_get(o, "content"), rec, i, err);
}

static int check_content(struct cel_record *rec, size_t i, errbuf *err) {
        rec->content_matches = true;
        for (unsigned k = 0; k < rec->n_digests; k++) {
                uint8_t d[HASH_MAX_SIZE];
                int r = event_digest(rec->digests[k].alg, rec->text, rec->text_len, d);
                if (r < 0)
                        return errbuf_set(err, r, "record %zu: cannot compute %s: %s", i,
                                          hash_alg_name(rec->digests[k].alg), strerror(-r));
                if (memcmp(d, rec->digests[k].d, (size_t) r) != 0)
                        rec->content_matches = false;
        }
        return 0;
}

int cel_record_parse(const char *p, size_t n, size_t i, bool committed, struct cel_record *rec,
                     errbuf *err) {
        json_error_t e;
        int r;

        if (!utf8_valid(p, n))
                return errbuf_set(err, -EBADMSG, "record %zu: not valid UTF-8", i);
        rec->json = json_loadb(p, n, JSON_REJECT_DUPLICATES, &e);
        if (!rec->json) {
                _cleanup_free_ char *t = escape_untrusted(e.text, strlen(e.text), 120);
                return errbuf_set(err, -EBADMSG, "record %zu: invalid JSON: %s (byte %d)%s", i, t ?: "?",
                                  e.position, committed ? "" : "; the log ends inside this record (truncated?)");
        }
        if (!json_is_object(rec->json))
                return errbuf_set(err, -EBADMSG, "record %zu: not a JSON object", i);
        r = parse_fields(rec->json, rec, i, err);
        if (r < 0)
                return r;
        rec->committed = committed;
        return check_content(rec, i, err);
}

/* Every record of a register carries the same banks, so that each bank replays on its own. */
static bool same_banks(const struct cel_record *a, const struct cel_record *b) {
        if (a->n_digests != b->n_digests)
                return false;
        for (unsigned k = 0; k < a->n_digests; k++) {
                bool found = false;
                for (unsigned j = 0; j < b->n_digests && !found; j++)
                        found = a->digests[k].alg == b->digests[j].alg;
                if (!found)
                        return false;
        }
        return true;
}

struct first_records {
        size_t n, idx[CEL_MR_MAX];
};

static int check_banks(const struct cel_log *log, size_t i, struct first_records *f, errbuf *err) {
        const struct cel_record *rec = &log->records[i];

        for (size_t k = 0; k < f->n; k++) {
                const struct cel_record *first = &log->records[f->idx[k]];
                if (strcmp(first->mr, rec->mr) != 0)
                        continue;
                if (!same_banks(first, rec))
                        return errbuf_set(err, -EBADMSG,
                                          "record %zu: its digests are for other banks than record %zu's for %s",
                                          i, f->idx[k], rec->mr);
                return 0;
        }
        if (f->n >= CEL_MR_MAX)
                return -EINVAL; /* cannot happen: names are validated */
        f->idx[f->n++] = i;
        return 0;
}

static int add_slot(struct cel_log *log, size_t *cap) {
        if (log->n == *cap) {
                size_t c = *cap ? *cap * 2 : 16;
                struct cel_record *p = reallocarray(log->records, c, sizeof(*p));
                if (!p)
                        return -ENOMEM;
                log->records = p;
                *cap = c;
        }
        log->records[log->n++] = (struct cel_record) {};
        return 0;
}

/* One RS-framed record: start points after the RS, len runs to the next RS or the end. */
static int parse_one(struct cel_log *log, size_t *cap, const uint8_t *start, size_t len, bool last,
                     struct first_records *f, errbuf *err) {
        size_t i = log->n;
        bool committed = len > 0 && start[len - 1] == '\n';
        int r;

        if (i >= CEL_RECORDS_MAX)
                return errbuf_set(err, -EFBIG, "record %zu: the log has more than %u records", i, CEL_RECORDS_MAX);
        if (len > CEL_RECORD_MAX)
                return errbuf_set(err, -EFBIG, "record %zu: %zu bytes, more than the limit of %u", i, len,
                                  CEL_RECORD_MAX);
        if (!committed && !last)
                return errbuf_set(err, -EBADMSG,
                                  "record %zu: not terminated by a newline, yet another record follows "
                                  "(only the last record can be uncommitted)", i);
        r = add_slot(log, cap);
        if (r < 0)
                return r;
        r = cel_record_parse((const char *) start, committed ? len - 1 : len, i, committed, &log->records[i], err);
        if (r < 0)
                return r;
        return check_banks(log, i, f, err);
}

int cel_parse(const uint8_t *p, size_t n, struct cel_log *ret, errbuf *err) {
        _cleanup_(cel_log_done) struct cel_log log = {};
        struct first_records f = {};
        size_t cap = 0, off = 0;

        if (!ret || (!p && n > 0))
                return -EINVAL;
        if (n > CEL_FILE_MAX)
                return errbuf_set(err, -EFBIG, "the log is %zu bytes, more than the limit of %u", n, CEL_FILE_MAX);
        if (n > 0 && p[0] != RS)
                return errbuf_set(err, -EBADMSG, "record 0: the log does not start with a record separator (0x1E)");
        while (off < n) {
                const uint8_t *start = p + off + 1, *end = memchr(start, RS, n - off - 1);
                size_t len = end ? (size_t) (end - start) : n - off - 1;
                int r = parse_one(&log, &cap, start, len, !end, &f, err);
                if (r < 0)
                        return r;
                off += len + 1;
        }
        *ret = log;
        log = (struct cel_log) {};
        return 0;
}

int cel_read_file(const char *path, struct cel_log *ret, errbuf *err) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t n;
        int r;

        r = read_file_limited(path, CEL_FILE_MAX, &data, &n);
        if (r == -EFBIG)
                return errbuf_set(err, r, "the log is larger than the limit of %u bytes", CEL_FILE_MAX);
        if (r < 0)
                return errbuf_set(err, r, "%s", strerror(-r));
        return cel_parse(data, n, ret, err);
}
