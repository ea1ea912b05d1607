/* SPDX-License-Identifier: MIT */
/* Appending to the canonical measurement log (DESIGN §3): intent, extend, commit, one writer at a
 * time under flock. The next record number comes from the file itself, so several processes (PID 1,
 * cvmtool extend) can append to one log in turn. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "cel.h"
#include "jcs.h"

struct cel_writer {
        int fd;
        struct mr *mr;
        uint64_t next;         /* recnum of the next record */
        off_t size;            /* file size after our last look at it; -1 = look again */
        struct timespec mtime; /* ... and its mtime, to notice another writer */
        errbuf err;
};

void cel_writer_free(struct cel_writer *w) {
        if (!w)
                return;
        safe_close(w->fd);
        free(w);
}

const char *cel_writer_error(const struct cel_writer *w) {
        return w ? w->err.msg : "";
}

static int lock_fd(int fd) {
        while (flock(fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return -errno;
        return fd;
}

static void unlockp(int *fd) {
        if (*fd >= 0)
                (void) flock(*fd, LOCK_UN);
}
#define _cleanup_unlock_ _cleanup_(unlockp)

/* The existing records must be for our register and banks, or the log would mix two registers'
 * histories (or stop replaying per bank). */
static int check_register(const struct cel_log *log, const struct mr *mr, errbuf *err) {
        for (size_t i = 0; i < log->n; i++) {
                const struct cel_record *rec = &log->records[i];
                if (strcmp(rec->mr, mr->name) != 0)
                        return errbuf_set(err, -EXDEV, "record %zu is for %s, not for %s", i, rec->mr, mr->name);
        }
        if (log->n == 0)
                return 0;
        if (log->records[0].n_digests != mr->n_banks)
                return errbuf_set(err, -EXDEV, "the log's records have %u digests, the register %u banks",
                                  log->records[0].n_digests, mr->n_banks);
        for (unsigned k = 0; k < log->records[0].n_digests; k++)
                if (!mr_has_bank(mr, log->records[0].digests[k].alg))
                        return errbuf_set(err, -EXDEV, "the log has %s digests, but %s has no such bank",
                                          hash_alg_name(log->records[0].digests[k].alg), mr->name);
        return 0;
}

/* Under the lock: reread the log if it changed since we last wrote it. */
static int sync_state(struct cel_writer *w, errbuf *err) {
        _cleanup_(cel_log_done) struct cel_log log = {};
        _cleanup_free_ uint8_t *data = NULL;
        struct stat st;
        size_t n;
        int r;

        if (fstat(w->fd, &st) < 0)
                return errbuf_set(err, -errno, "cannot stat the log: %m");
        if (st.st_nlink == 0)
                return errbuf_set(err, -ESTALE, "the log was removed or replaced since it was opened");
        if (st.st_size == w->size && st.st_mtim.tv_sec == w->mtime.tv_sec &&
            st.st_mtim.tv_nsec == w->mtime.tv_nsec)
                return 0;
        if ((uint64_t) st.st_size > CEL_FILE_MAX)
                return errbuf_set(err, -EFBIG, "the log is larger than the limit of %u bytes", CEL_FILE_MAX);
        if (lseek(w->fd, 0, SEEK_SET) < 0)
                return errbuf_set(err, -errno, "cannot seek in the log: %m");
        r = read_fd_limited(w->fd, CEL_FILE_MAX, &data, &n);
        if (r < 0)
                return errbuf_set(err, r, "cannot read the log: %s", strerror(-r));
        r = cel_parse(data, n, &log, err);
        if (r < 0)
                return r;
        if (log.n > 0 && !log.records[log.n - 1].committed)
                return errbuf_set(err, -EBADMSG,
                                  "record %zu is uncommitted (a writer stopped between intent and commit); "
                                  "refusing to append after it", log.n - 1);
        r = check_register(&log, w->mr, err);
        if (r < 0)
                return r;
        w->next = log.n;
        w->size = (off_t) n;
        w->mtime = st.st_mtim;
        return 0;
}

int cel_writer_open_detail(const char *path, struct mr *mr, struct cel_writer **ret, errbuf *err) {
        _cleanup_(cel_writer_freep) struct cel_writer *w = NULL;
        _cleanup_unlock_ int locked = -EBADF;
        struct stat st;
        int r;

        if (!path || !mr || !ret)
                return -EINVAL;
        if (!cel_mr_name_valid(mr->name))
                return errbuf_set(err, -EINVAL, "a log cannot name this register (pcr0..pcr23, rtmr0..rtmr3)");
        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->mr = mr;
        w->size = -1;
        w->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (w->fd < 0)
                return errbuf_set(err, -errno, "cannot open: %m");
        if (fstat(w->fd, &st) < 0)
                return errbuf_set(err, -errno, "cannot stat: %m");
        if (!S_ISREG(st.st_mode))
                return errbuf_set(err, -EBADFD, "not a regular file");
        r = locked = lock_fd(w->fd);
        if (r < 0)
                return errbuf_set(err, r, "cannot lock: %s", strerror(-r));
        r = sync_state(w, err);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(w);
        return 0;
}

int cel_writer_open(const char *path, struct mr *mr, struct cel_writer **ret) {
        return cel_writer_open_detail(path, mr, ret, NULL);
}

/* RS {"recnum":N,"mr":M,"digests":[...],"content_type":"cvminit","content":JCS({domain,operation,content})}
 * Members in that order, compact, so the same event always gives the same bytes. */
static int format_record(struct buf *b, uint64_t recnum, const struct mr *mr, const struct digest *d,
                         const char *domain, const char *operation, const json_t *content) {
        json_t *c = json_pack("{s:s, s:s, s:O}", "domain", domain, "operation", operation, "content",
                              (json_t *) content);
        int r;

        if (!c)
                return -ENOMEM;
        r = buf_printf(b, "\x1e{\"recnum\":%" PRIu64 ",\"mr\":", recnum);
        if (r >= 0)
                r = jcs_append_string(b, mr->name, strlen(mr->name));
        if (r >= 0)
                r = buf_append_str(b, ",\"digests\":[");
        for (unsigned i = 0; i < mr->n_banks && r >= 0; i++) {
                char hex[2 * HASH_MAX_SIZE + 1];
                hex_encode(d[i].d, hash_alg_size(d[i].alg), hex);
                r = buf_printf(b, "%s{\"hashAlg\":\"%s\",\"digest\":\"%s\"}", i > 0 ? "," : "",
                               hash_alg_name(d[i].alg), hex);
        }
        if (r >= 0)
                r = buf_append_str(b, "],\"content_type\":\"" CEL_CONTENT_TYPE "\",\"content\":");
        if (r >= 0)
                r = jcs_append(b, c);
        if (r >= 0)
                r = buf_append_str(b, "}");
        json_decref(c);
        return r;
}

/* Nothing is extended that the reader would refuse (e.g. a NUL in a string, which JCS writes as
 * \u0000 and strict readers reject) or read back as other content: that would break the log for good. */
static int check_readable(const struct buf *rec, uint64_t recnum, errbuf *err) {
        _cleanup_(cel_record_done) struct cel_record parsed = {};
        int r;

        r = cel_record_parse(rec->data + 1, rec->len - 1, recnum, true, &parsed, err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                errbuf why = *err;
                return errbuf_set(err, -EINVAL, "the event cannot be logged, it would not read back: %s", why.msg);
        }
        if (!parsed.content_matches)
                return errbuf_set(err, -EINVAL, "the event cannot be logged: its content does not read back as hashed");
        return 0;
}

/* Undoes an intent whose extend did not happen. If even that fails, the log ends in an uncommitted
 * record, which is consistent (its extend did not happen) and stops further appends. */
static void rollback(struct cel_writer *w, off_t size) {
        if (ftruncate(w->fd, size) >= 0)
                (void) fdatasync(w->fd);
        w->size = -1;
}

static int write_all_sync(int fd, const void *p, size_t n) {
        int r = loop_write(fd, p, n);
        if (r >= 0 && fdatasync(fd) < 0)
                r = -errno;
        return r;
}

static int intent_extend_commit(struct cel_writer *w, const struct buf *rec, const struct digest *d) {
        off_t old = w->size;
        struct stat st;
        int r;

        r = write_all_sync(w->fd, rec->data, rec->len);
        if (r < 0) {
                rollback(w, old);
                return errbuf_set(&w->err, r, "cannot write record %" PRIu64 ": %s", w->next, strerror(-r));
        }
        r = mr_extend(w->mr, d, w->mr->n_banks);
        if (r < 0) {
                rollback(w, old);
                return errbuf_set(&w->err, r, "cannot extend %s: %s", w->mr->name, strerror(-r));
        }
        r = write_all_sync(w->fd, "\n", 1);
        if (r < 0) {
                w->size = -1;
                return errbuf_set(&w->err, r,
                                  "%s was extended, but the commit of record %" PRIu64 " could not be written "
                                  "(%s): the log now ends in an uncommitted record", w->mr->name, w->next,
                                  strerror(-r));
        }
        if (fstat(w->fd, &st) >= 0) {
                w->size = st.st_size;
                w->mtime = st.st_mtim;
        } else
                w->size = -1;
        return (int) w->next++;
}

static int event_digests(const struct mr *mr, const char *text, size_t len, struct digest *d, errbuf *err) {
        for (unsigned i = 0; i < mr->n_banks; i++) {
                int r = event_digest(mr->banks[i], text, len, d[i].d);
                if (r < 0)
                        return errbuf_set(err, r, "cannot compute the %s digest: %s", hash_alg_name(mr->banks[i]),
                                          strerror(-r));
                d[i].alg = mr->banks[i];
        }
        return 0;
}

int cel_writer_append(struct cel_writer *w, const char *domain, const char *operation,
                      const json_t *content) {
        _cleanup_free_ char *text = NULL;
        _cleanup_unlock_ int locked = -EBADF;
        _cleanup_(buf_free) struct buf rec = { .max = CEL_RECORD_MAX };
        struct digest d[MR_BANKS_MAX];
        size_t len;
        int r;

        if (!w)
                return -EINVAL;
        w->err.msg[0] = 0;
        r = event_text(domain, operation, content, &text, &len);
        if (r < 0)
                return errbuf_set(&w->err, r, "invalid event (domain, operation or content): %s", strerror(-r));
        r = event_digests(w->mr, text, len, d, &w->err);
        if (r < 0)
                return r;
        r = locked = lock_fd(w->fd);
        if (r < 0)
                return errbuf_set(&w->err, r, "cannot lock the log: %s", strerror(-r));
        r = sync_state(w, &w->err);
        if (r < 0)
                return r;
        if (w->next >= CEL_RECORDS_MAX)
                return errbuf_set(&w->err, -E2BIG, "the log already has %u records", CEL_RECORDS_MAX);
        r = format_record(&rec, w->next, w->mr, d, domain, operation, content);
        if (r < 0)
                return errbuf_set(&w->err, r, "cannot format the record: %s", strerror(-r));
        r = check_readable(&rec, w->next, &w->err);
        if (r < 0)
                return r;
        if ((uint64_t) w->size + rec.len + 1 > CEL_FILE_MAX)
                return errbuf_set(&w->err, -EFBIG, "the log would grow past %u bytes", CEL_FILE_MAX);
        return intent_extend_commit(w, &rec, d);
}
