/* SPDX-License-Identifier: MIT */
/* Model measurement, files mode, and the verity mode's event; see models.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "event.h"
#include "jcs.h"
#include "log.h"
#include "models.h"

#define DETAIL_MAX 320U
#define PATH_SHOWN_MAX 100U

static double now_s(void) {
        struct timespec ts = {};
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ---- progress on the console ---- */

struct progress {
        const char *name;
        double start;
};

static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        const struct progress *pr = userdata;
        double t = now_s() - pr->start, rate = t > 0 ? (double) done / t : 0;

        /* Nothing to say before the first bytes; the end is summed up by the caller with the file
         * count. */
        if (total == 0 || done == 0 || done >= total)
                return;
        /* GB/s with two decimals down to 10 MB/s: an emulated or throttled VM still sees a rate. */
        if (rate > 0)
                log_info("model %s: %.2f/%.2f GiB, %.2f GB/s, ETA %.0fs", pr->name, (double) done / (1U << 30),
                         (double) total / (1U << 30), rate / 1e9, (double) (total - done) / rate);
        else
                log_info("model %s: %.2f/%.2f GiB", pr->name, (double) done / (1U << 30),
                         (double) total / (1U << 30));
}

/* ---- the manifest file in RUN_DIR/manifests ---- */

static const char *run_dir(void) {
        const char *e = getpid() != 1 ? getenv("CVMINIT_RUN_DIR") : NULL;
        return e && *e ? e : MODELS_RUN_DIR;
}

static int mkdir_one(const char *path) {
        struct stat st;

        if (mkdir(path, 0755) == 0)
                return 0;
        if (errno != EEXIST)
                return -errno;
        if (lstat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

static int open_output(const char *name, char **ret_path, FILE **ret, errbuf *err) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (asprintf(&dir, "%s/manifests", run_dir()) < 0 || asprintf(&path, "%s/%s.json", dir, name) < 0)
                return errbuf_set(err, -ENOMEM, "out of memory");
        r = mkdir_one(run_dir());
        if (r >= 0)
                r = mkdir_one(dir);
        if (r < 0)
                return errbuf_set(err, r, "cannot create %s: %s", dir, strerror(-r));
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot create %s: %m", path);
        *ret = fdopen(fd, "w");
        if (!*ret)
                return errbuf_set(err, -errno, "cannot create %s: %m", path);
        TAKE_FD(fd);
        *ret_path = TAKE_PTR(path);
        return 0;
}

/* ---- naming the file that differs ---- */


/* The "files" array of a manifest, every entry with a string path and digest and an integer size. */
static json_t *manifest_files(json_t *root) {
        json_t *files = json_object_get(root, "files"), *e;
        size_t i;

        if (!json_is_array(files))
                return NULL;
        json_array_foreach(files, i, e)
                if (!json_is_string(json_object_get(e, "path")) || !json_is_string(json_object_get(e, "digest")) ||
                    !json_is_integer(json_object_get(e, "size")))
                        return NULL;
        return files;
}

static const char *field(json_t *files, size_t i, const char *key) {
        return json_string_value(json_object_get(json_array_get(files, i), key));
}

static json_int_t size_of(json_t *files, size_t i) {
        return json_integer_value(json_object_get(json_array_get(files, i), "size"));
}

/* Describes one difference: kind 0 = contents differ, <0 = only in ours, >0 = only in the reference. */
static void describe(int kind, json_t *a, size_t i, json_t *b, size_t j, char *out, size_t n) {
        const char *p = kind > 0 ? field(b, j, "path") : field(a, i, "path");
        _cleanup_free_ char *esc = escape_untrusted(p, strlen(p), PATH_SHOWN_MAX);

        if (kind < 0)
                (void) snprintf(out, n, "file '%s' is not in the reference manifest", esc ? esc : "?");
        else if (kind > 0)
                (void) snprintf(out, n, "file '%s' of the reference manifest is missing", esc ? esc : "?");
        else
                (void) snprintf(out, n, "file '%s' differs (digest %.16s..., size %" PRId64 "; expected %.16s..., size %" PRId64 ")",
                                esc ? esc : "?", field(a, i, "digest"), (int64_t) size_of(a, i),
                                field(b, j, "digest"), (int64_t) size_of(b, j));
}

/* Walks both sorted lists side by side; describes the first difference and counts them all. */
static void diff_files(json_t *a, json_t *b, char *out, size_t n) {
        size_t i = 0, j = 0, na = json_array_size(a), nb = json_array_size(b), count = 0;

        while (i < na || j < nb) {
                int kind = i >= na ? 1 : j >= nb ? -1 : strcmp(field(a, i, "path"), field(b, j, "path"));
                bool differs = kind != 0 || strcmp(field(a, i, "digest"), field(b, j, "digest")) != 0 ||
                               size_of(a, i) != size_of(b, j);
                if (differs && count++ == 0)
                        describe(kind < 0 ? -1 : kind > 0 ? 1 : 0, a, i, b, j, out, n);
                i += kind <= 0;
                j += kind >= 0;
        }
        if (count == 0)
                (void) snprintf(out, n, "the reference manifest lists the same files (it is not in canonical form)");
        else if (count > 1) {
                size_t k = strlen(out);
                (void) snprintf(out + k, n - k, " (%zu differences in all)", count);
        }
}

static int load_manifest(const char *path, json_t **ret) {
        _cleanup_free_ uint8_t *p = NULL;
        size_t n = 0;
        int r;

        r = read_file_limited(path, MODELS_REFERENCE_MAX, &p, &n);
        if (r < 0)
                return r;
        *ret = json_loadb((const char *) p, n, JSON_REJECT_DUPLICATES, NULL);
        return *ret ? 0 : -EBADMSG;
}

/* Compares the manifest found (at ours) with the reference, already checked against expect. */
static void compare_with_reference(const char *ours, const char *ref, char *out, size_t n) {
        json_t *a = NULL, *b = NULL, *fa, *fb;
        int r;

        r = load_manifest(ours, &a);
        if (r >= 0)
                r = load_manifest(ref, &b);
        fa = r >= 0 ? manifest_files(a) : NULL;
        fb = r >= 0 ? manifest_files(b) : NULL;
        if (fa && fb)
                diff_files(fa, fb, out, n);
        else
                (void) snprintf(out, n, "the manifests cannot be compared (%s)",
                                r == -EFBIG ? "larger than 4 MiB" : r < 0 ? strerror(-r) : "unexpected structure");
        json_decref(a);
        json_decref(b);
}

/* Fills out with what names the differing file, or why no file can be named. */
static void explain(const struct config_model *m, const char *ours, char *out, size_t n) {
        _cleanup_free_ char *esc = escape_untrusted(m->manifest, strlen(m->manifest), PATH_SHOWN_MAX);
        _cleanup_free_ uint8_t *p = NULL;
        uint8_t d[HASH_MAX_SIZE];
        size_t len = 0;
        int r;

        r = read_file_limited(m->manifest, MODELS_REFERENCE_MAX, &p, &len);
        if (r == -ENOENT) {
                (void) snprintf(out, n, "no reference manifest at %s to name the file that differs", esc ? esc : "?");
                return;
        }
        if (r < 0) {
                (void) snprintf(out, n, "the reference manifest %s cannot be used to name the file that differs (%s)",
                                esc ? esc : "?", r == -EFBIG ? "larger than 4 MiB" : r == -EBADFD ? "not a regular file" : strerror(-r));
                return;
        }
        /* cvmtool manifest ends its output with a newline that is not part of the manifest. */
        if (len > 0 && p[len - 1] == '\n')
                len--;
        r = hash_buffer(m->alg, p, len, d);
        if (r < 0 || memcmp(d, m->expect, hash_alg_size(m->alg)) != 0) {
                (void) snprintf(out, n, "the reference manifest %s does not have the pinned digest either, so it "
                                "cannot name the file that differs", esc ? esc : "?");
                return;
        }
        compare_with_reference(ours, m->manifest, out, n);
}

static int mismatch(const struct config_model *m, const struct manifest_info *info, const char *ours,
                    errbuf *err) {
        char found[2 * HASH_MAX_SIZE + 1], pinned[2 * HASH_MAX_SIZE + 1], detail[DETAIL_MAX];
        size_t size = hash_alg_size(m->alg);

        hex_encode(info->digest, size, found);
        hex_encode(m->expect, size, pinned);
        explain(m, ours, detail, sizeof(detail));
        return errbuf_set(err, -EBADMSG, "model %s: %s; manifest %s:%s is not the pinned %s:%s (found: %s)", m->name,
                          detail, hash_alg_name(m->alg), found, hash_alg_name(m->alg), pinned, ours);
}

/* ---- measuring ---- */

int models_event_content(const struct config_model *m, const struct manifest_info *info, json_t **ret) {
        char hex[2 * HASH_MAX_SIZE + 1];
        json_t *o;

        if (info->alg != m->alg || info->files > (uint64_t) JCS_MAX_SAFE_INTEGER || info->bytes > (uint64_t) JCS_MAX_SAFE_INTEGER)
                return -EINVAL;
        hex_encode(info->digest, hash_alg_size(info->alg), hex);
        o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "name", m->name, "mode", "files", "alg",
                      hash_alg_name(info->alg), "manifest", hex, "files", (json_int_t) info->files, "bytes",
                      (json_int_t) info->bytes);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

int models_verity_event_content(const char *name, const uint8_t *root_hash, uint64_t data_blocks, json_t **ret) {
        char hex[2 * CONFIG_VERITY_ROOT_HASH_SIZE + 1];
        json_t *o;

        if (!name || !root_hash || data_blocks == 0 || data_blocks > (uint64_t) JCS_MAX_SAFE_INTEGER)
                return -EINVAL;
        hex_encode(root_hash, CONFIG_VERITY_ROOT_HASH_SIZE, hex);
        o = json_pack("{s:s, s:s, s:s, s:I}", "name", name, "mode", "verity", "root_hash", hex, "data_blocks",
                      (json_int_t) data_blocks);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

static int measure_event(const struct config_model *m, const struct manifest_info *info, struct cel_writer *w,
                         errbuf *err) {
        json_t *content = NULL;
        int r;

        r = models_event_content(m, info, &content);
        if (r < 0)
                return errbuf_set(err, r, "model %s: cannot form the event: %s", m->name, strerror(-r));
        r = cel_writer_append(w, EVENT_DOMAIN, "model", content);
        json_decref(content);
        if (r < 0)
                return errbuf_set(err, r, "model %s: cannot measure: %s", m->name, cel_writer_error(w));
        return 0;
}

static int build(const struct config_model *m, const struct hash_options *o, struct manifest_info *info,
                 char **ret_path, errbuf *err) {
        _cleanup_free_ char *path = NULL, *esc = escape_untrusted(m->path, strlen(m->path), 200);
        struct progress pr = { .name = m->name, .start = now_s() };
        struct hash_options ho = o ? *o : (struct hash_options) {};
        FILE *f = NULL;
        double t;
        int r;

        ho.alg = m->alg;
        if (!ho.progress) {
                ho.progress = on_progress;
                ho.progress_userdata = &pr;
                ho.progress_ms = ho.progress_ms ? ho.progress_ms : MODELS_PROGRESS_MS_DEFAULT;
        }
        r = open_output(m->name, &path, &f, err);
        if (r < 0)
                return r;
        log_info("model %s: hashing %s", m->name, esc ? esc : "?");
        r = manifest_build(m->path, &ho, f, info, err);
        if (fclose(f) != 0 && r >= 0)
                r = errbuf_set(err, -errno, "cannot write %s: %m", path);
        if (r < 0) {
                (void) unlink(path);
                return r;
        }
        t = now_s() - pr.start;
        log_info("model %s: %" PRIu64 " file%s, %.1f %s in %.1f s (%.2f GB/s)", m->name, info->files,
                 info->files == 1 ? "" : "s", (double) info->bytes / (info->bytes >= (1U << 30) ? 1U << 30 : 1U << 20),
                 info->bytes >= (1U << 30) ? "GiB" : "MiB", t, t > 0 ? (double) info->bytes / t / 1e9 : 0.0);
        *ret_path = TAKE_PTR(path);
        return 0;
}

int models_measure_one(const struct config_model *m, struct cel_writer *w, const struct hash_options *o,
                       errbuf *err) {
        _cleanup_free_ char *ours = NULL;
        struct manifest_info info = {};
        errbuf e = {};
        int r;

        if (m->mode != MODEL_MODE_FILES)
                return errbuf_set(err, -EOPNOTSUPP, "model %s: mode %s is not measured here (agent/verity.h)", m->name,
                                  model_mode_name(m->mode) ?: "?");
        r = build(m, o, &info, &ours, &e);
        if (r < 0)
                return errbuf_set(err, r, "model %s: %s", m->name, e.msg);
        /* Measured before the check: the log then shows what was found, and the boot fails anyway. */
        r = measure_event(m, &info, w, err);
        if (r < 0)
                return r;
        if (memcmp(info.digest, m->expect, hash_alg_size(m->alg)) != 0)
                return mismatch(m, &info, ours, err);
        log_info("model %s: manifest %s matches the pinned digest", m->name, ours);
        return 0;
}

int models_measure(const struct config *c, struct cel_writer *w, const struct hash_options *o, errbuf *err) {
        for (size_t i = 0; i < c->n_models; i++) {
                int r = models_measure_one(&c->models[i], w, o, err);
                if (r < 0)
                        return r;
        }
        return 0;
}
