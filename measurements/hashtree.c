/* SPDX-License-Identifier: MIT */
/* Parallel tree hashing; see hashtree.h.
 *
 * Three roles: the calling thread walks (and opens each file, so that a name is resolved exactly
 * once, relative to its directory fd), emits finished results in order and reports progress;
 * worker threads hash. They share a ring of `window` slots indexed by sequence number: the walker
 * fills slot `tail`, workers claim slots in order from `claim`, the caller emits slot `head` once
 * it is done. An error found by the walker becomes a slot of its own, so errors come out at their
 * place in the sorted order, after every file before them. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

#include "hashtree.h"

/* Read size: large enough that syscalls cost little, small enough to stay in L2 while the digest
 * runs over it. Measured with tests/bench/bench-hash.sh against `openssl dgst -sha256`. */
#ifndef HASH_READ_BUF_SIZE
#define HASH_READ_BUF_SIZE (256U * 1024U)
#endif
/* Readahead is requested this far ahead of the reader (cold caches, virtio disks). */
#define READAHEAD_CHUNK (8U * 1024U * 1024U)
/* Longest relative path inside a walked directory, with its NUL. */
#define REL_PATH_MAX 4096U
#define ESCAPE_MAX 300U
#define SEQ_NONE UINT64_MAX

enum { SLOT_FREE, SLOT_QUEUED, SLOT_BUSY, SLOT_DONE };

struct slot {
        int state, fd, r;
        uint64_t seq, size, hashed;
        struct timespec mtime;
        char *path;
        const char *relpath;
        uint8_t digest[HASH_MAX_SIZE];
        errbuf err;
};

struct pool {
        pthread_mutex_t lock;
        pthread_cond_t work; /* workers: a slot was queued, or quit */
        pthread_cond_t done; /* caller: the head slot is done */
        struct slot *slots;
        unsigned window, nthreads;
        uint64_t head, tail, claim;
        bool quit;
        atomic_bool abort;       /* stop everything: the run failed */
        atomic_uint_fast64_t fail_seq; /* smallest failed seq; later files need not be hashed */
        atomic_uint_fast64_t bytes_done;
        pthread_t *threads;
        struct worker *workers;
        EVP_MD *md;
        enum hash_alg alg;
        int r; /* first error emitted, message in err */
        errbuf *err;
        hash_emit_t emit;
        void *userdata;
        hash_progress_t progress;
        void *progress_userdata;
        unsigned progress_ms;
        uint64_t total;
        struct timespec next_progress;
};

struct worker {
        struct pool *pool;
        EVP_MD_CTX *ctx;
        uint8_t *buf;
};

/* ---- error messages: "PATH: what", the path escaped ---- */

static int path_error(errbuf *e, int r, const char *path, const char *what) {
        _cleanup_free_ char *esc = escape_untrusted(path, strlen(path), ESCAPE_MAX);
        return errbuf_set(e, r, "%s: %s", esc ? esc : "(path)", what);
}

static int path_errno(errbuf *e, int r, const char *path, const char *what) {
        char tmp[128], msg[256];

        (void) snprintf(msg, sizeof(msg), "%s: %s", what, strerror_r(-r, tmp, sizeof(tmp)));
        return path_error(e, r, path, msg);
}

/* ---- hashing one file (worker threads) ---- */

static bool cancelled(struct pool *p, uint64_t seq) {
        return atomic_load_explicit(&p->abort, memory_order_relaxed) ||
               seq > atomic_load_explicit(&p->fail_seq, memory_order_relaxed);
}

static int changed(struct slot *s, uint64_t got) {
        char msg[160];

        (void) snprintf(msg, sizeof(msg), "file changed while being hashed (size %" PRIu64 ", read %" PRIu64 ")",
                        s->size, got);
        return path_error(&s->err, -EBUSY, s->path, msg);
}

static int hash_fd(struct worker *w, int fd, struct slot *s) {
        struct pool *p = w->pool;
        uint64_t off = 0, ra = READAHEAD_CHUNK;
        struct stat st;

        (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        if (EVP_DigestInit_ex(w->ctx, p->md, NULL) != 1)
                return path_error(&s->err, -EIO, s->path, "digest initialisation failed");
        for (;;) {
                ssize_t n;

                if (cancelled(p, s->seq))
                        return -ECANCELED;
                if (off + READAHEAD_CHUNK / 2 >= ra && ra < s->size) {
                        (void) posix_fadvise(fd, (off_t) ra, READAHEAD_CHUNK, POSIX_FADV_WILLNEED);
                        ra += READAHEAD_CHUNK;
                }
                n = read(fd, w->buf, HASH_READ_BUF_SIZE);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return path_errno(&s->err, -errno, s->path, "read error");
                if (n == 0)
                        break;
                /* Never read far past the size seen at open: a growing file is an error anyway. */
                if ((uint64_t) n > s->size - off)
                        return changed(s, off + (uint64_t) n);
                off += (uint64_t) n;
                if (EVP_DigestUpdate(w->ctx, w->buf, (size_t) n) != 1)
                        return path_error(&s->err, -EIO, s->path, "digest update failed");
                atomic_fetch_add_explicit(&p->bytes_done, (uint64_t) n, memory_order_relaxed);
        }
        if (off != s->size)
                return changed(s, off);
        if (fstat(fd, &st) < 0)
                return path_errno(&s->err, -errno, s->path, "cannot stat");
        if ((uint64_t) st.st_size != s->size || st.st_mtim.tv_sec != s->mtime.tv_sec ||
            st.st_mtim.tv_nsec != s->mtime.tv_nsec)
                return changed(s, off);
        if (EVP_DigestFinal_ex(w->ctx, s->digest, NULL) != 1)
                return path_error(&s->err, -EIO, s->path, "digest finalisation failed");
        s->hashed = off;
        return 0;
}

static void *worker_main(void *arg) {
        struct worker *w = arg;
        struct pool *p = w->pool;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                struct slot *s;
                int r;

                while (!p->quit && p->claim == p->tail)
                        pthread_cond_wait(&p->work, &p->lock);
                if (p->quit)
                        break;
                s = &p->slots[p->claim++ % p->window];
                if (s->state != SLOT_QUEUED) /* an error posted by the walker */
                        continue;
                s->state = SLOT_BUSY;
                pthread_mutex_unlock(&p->lock);

                r = cancelled(p, s->seq) ? -ECANCELED : hash_fd(w, s->fd, s);
                s->fd = safe_close(s->fd);

                pthread_mutex_lock(&p->lock);
                s->r = r;
                s->state = SLOT_DONE;
                if (r < 0 && r != -ECANCELED) {
                        uint_fast64_t f = atomic_load(&p->fail_seq);
                        while (s->seq < f && !atomic_compare_exchange_weak(&p->fail_seq, &f, s->seq))
                                ;
                }
                if (s->seq == p->head)
                        pthread_cond_signal(&p->done);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

/* ---- the pool, seen from the calling thread ---- */

static void slot_clear(struct slot *s) {
        s->fd = safe_close(s->fd);
        free(s->path);
        *s = (struct slot) { .state = SLOT_FREE, .fd = -EBADF };
}

static void pool_stop_threads(struct pool *p) {
        pthread_mutex_lock(&p->lock);
        p->quit = true;
        atomic_store(&p->abort, true);
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->nthreads; i++)
                (void) pthread_join(p->threads[i], NULL);
        p->nthreads = 0;
}

static void pool_free(struct pool *p) {
        if (!p)
                return;
        pool_stop_threads(p);
        for (unsigned i = 0; p->slots && i < p->window; i++)
                slot_clear(&p->slots[i]);
        for (unsigned i = 0; p->workers && p->workers[i].pool; i++) {
                EVP_MD_CTX_free(p->workers[i].ctx);
                free(p->workers[i].buf);
        }
        free(p->workers);
        free(p->threads);
        free(p->slots);
        EVP_MD_free(p->md);
        pthread_cond_destroy(&p->work);
        pthread_cond_destroy(&p->done);
        pthread_mutex_destroy(&p->lock);
        free(p);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pool *, pool_free);

static void timespec_add_ms(struct timespec *t, unsigned ms) {
        t->tv_sec += ms / 1000;
        t->tv_nsec += (long) (ms % 1000) * 1000000L;
        if (t->tv_nsec >= 1000000000L) {
                t->tv_sec++;
                t->tv_nsec -= 1000000000L;
        }
}

static void pool_progress(struct pool *p, bool force) {
        struct timespec now;

        if (!p->progress)
                return;
        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        if (!force && (now.tv_sec < p->next_progress.tv_sec ||
                       (now.tv_sec == p->next_progress.tv_sec && now.tv_nsec < p->next_progress.tv_nsec)))
                return;
        p->progress(atomic_load_explicit(&p->bytes_done, memory_order_relaxed), p->total,
                    p->progress_userdata);
        p->next_progress = now;
        timespec_add_ms(&p->next_progress, p->progress_ms);
}

static bool head_done(struct pool *p) {
        return p->head < p->tail && p->slots[p->head % p->window].state == SLOT_DONE;
}

/* Waits until the head slot is done or progress is due. */
static void pool_wait(struct pool *p) {
        pthread_mutex_lock(&p->lock);
        if (!head_done(p)) {
                if (p->progress)
                        (void) pthread_cond_timedwait(&p->done, &p->lock, &p->next_progress);
                else
                        pthread_cond_wait(&p->done, &p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        pool_progress(p, false);
}

static int pool_fail(struct pool *p, int r, const errbuf *e) {
        if (e && p->err && e != p->err)
                *p->err = *e;
        else if (p->err && !p->err->msg[0])
                (void) errbuf_set(p->err, r, "hashing stopped: %s", strerror(-r));
        p->r = r;
        atomic_store(&p->abort, true);
        return r;
}

static int pool_emit_one(struct pool *p, struct slot *s) {
        struct hash_result res = {
                .path = s->path, .relpath = s->relpath, .size = s->hashed, .alg = p->alg,
        };
        int r;

        if (s->r < 0)
                return pool_fail(p, s->r, &s->err);
        memcpy(res.digest, s->digest, sizeof(res.digest));
        if (p->err)
                p->err->msg[0] = 0;
        r = p->emit(&res, p->userdata, p->err);
        return r < 0 ? pool_fail(p, r, NULL) : 0;
}

/* Emits every finished result at the head, in order. */
static int pool_emit_ready(struct pool *p) {
        for (;;) {
                struct slot *s = &p->slots[p->head % p->window];
                bool ready;
                int r;

                if (p->r < 0)
                        return p->r;
                pthread_mutex_lock(&p->lock);
                ready = head_done(p);
                pthread_mutex_unlock(&p->lock);
                if (!ready)
                        return 0;
                r = pool_emit_one(p, s);
                pthread_mutex_lock(&p->lock);
                slot_clear(s);
                p->head++;
                pthread_mutex_unlock(&p->lock);
                if (r < 0)
                        return r;
        }
}

static bool pool_stopping(struct pool *p) {
        return p->r < 0 || atomic_load(&p->fail_seq) != SEQ_NONE;
}

/* Waits for a free slot; -ECANCELED once a file failed (the walk need not go on). */
static int pool_reserve(struct pool *p) {
        for (;;) {
                int r = pool_emit_ready(p);
                if (r < 0)
                        return r;
                if (pool_stopping(p))
                        return -ECANCELED;
                if (p->tail - p->head < p->window)
                        return 0;
                pool_wait(p);
        }
}

/* Queues an open file; takes fd. relpath_off: where the relative path starts in path, or -1 for a
 * file named explicitly (its relative path is its path). */
static int pool_submit(struct pool *p, int fd, const char *path, ssize_t relpath_off, errbuf *werr) {
        _cleanup_close_ int cfd = fd;
        struct stat st;
        struct slot *s;
        char *copy;
        int r;

        if (fstat(fd, &st) < 0)
                return path_errno(werr, -errno, path, "cannot stat");
        if (!S_ISREG(st.st_mode))
                return path_error(werr, -EPERM, path, "not a regular file, refused");
        (void) posix_fadvise(fd, 0, READAHEAD_CHUNK, POSIX_FADV_WILLNEED);
        r = pool_reserve(p);
        if (r < 0)
                return r;
        pool_progress(p, false);
        copy = strdup(path);
        if (!copy)
                return path_error(werr, -ENOMEM, path, "out of memory");
        s = &p->slots[p->tail % p->window];
        *s = (struct slot) {
                .state = SLOT_QUEUED, .fd = TAKE_FD(cfd), .seq = p->tail, .size = (uint64_t) st.st_size,
                .mtime = st.st_mtim, .path = copy, .relpath = relpath_off < 0 ? copy : copy + relpath_off,
        };
        pthread_mutex_lock(&p->lock);
        p->tail++;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

/* Puts the walker's error at its place in the order. */
static int pool_post_error(struct pool *p, int r, const errbuf *werr) {
        int k = pool_reserve(p);
        struct slot *s;

        if (k < 0)
                return k;
        s = &p->slots[p->tail % p->window];
        *s = (struct slot) { .state = SLOT_DONE, .fd = -EBADF, .seq = p->tail, .r = r, .err = *werr };
        pthread_mutex_lock(&p->lock);
        p->tail++;
        pthread_cond_signal(&p->work);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

static int pool_drain(struct pool *p) {
        for (;;) {
                int r = pool_emit_ready(p);
                if (r < 0)
                        return r;
                if (p->head == p->tail)
                        return 0;
                pool_wait(p);
        }
}

static unsigned default_jobs(unsigned jobs) {
        long n = jobs ? (long) jobs : sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > (long) HASH_MAX_JOBS ? HASH_MAX_JOBS : (unsigned) n;
}

static unsigned default_window(unsigned window, unsigned jobs) {
        unsigned w = window ? window : 8 * jobs;
        if (!window && w < 16)
                w = 16;
        return w > HASH_MAX_WINDOW ? HASH_MAX_WINDOW : w;
}

/* OpenSSL 3: fetch the implementation once, instead of an implicit fetch at every file's init. */
static int pool_fetch_md(struct pool *p, enum hash_alg alg, errbuf *err) {
        const EVP_MD *legacy = hash_alg_md(alg);

        if (!legacy)
                return errbuf_set(err, -EOPNOTSUPP, "hash algorithm %d is not available", (int) alg);
        p->md = EVP_MD_fetch(NULL, EVP_MD_get0_name(legacy), NULL);
        if (!p->md)
                return errbuf_set(err, -EOPNOTSUPP, "hash algorithm %s is not available", hash_alg_name(alg));
        p->alg = alg;
        return 0;
}

static int pool_alloc(struct pool *p, unsigned jobs, errbuf *err) {
        p->slots = calloc(p->window, sizeof(*p->slots));
        p->threads = calloc(jobs, sizeof(*p->threads));
        p->workers = calloc(jobs + 1, sizeof(*p->workers)); /* ends with a zeroed entry */
        if (!p->slots || !p->threads || !p->workers)
                return errbuf_set(err, -ENOMEM, "out of memory");
        for (unsigned i = 0; i < p->window; i++)
                p->slots[i] = (struct slot) { .state = SLOT_FREE, .fd = -EBADF };
        for (unsigned i = 0; i < jobs; i++) {
                struct worker *w = &p->workers[i];
                w->pool = p;
                w->ctx = EVP_MD_CTX_new();
                if (!w->ctx || posix_memalign((void **) &w->buf, 4096, HASH_READ_BUF_SIZE) != 0)
                        return errbuf_set(err, -ENOMEM, "out of memory");
        }
        return 0;
}

static int pool_new(const struct hash_options *o, hash_emit_t emit, void *userdata, errbuf *err,
                    struct pool **ret) {
        _cleanup_(pool_freep) struct pool *p = NULL;
        unsigned jobs = default_jobs(o->jobs);
        pthread_condattr_t ca;
        int r;

        p = calloc(1, sizeof(*p));
        if (!p)
                return errbuf_set(err, -ENOMEM, "out of memory");
        pthread_mutex_init(&p->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->done, &ca);
        pthread_cond_init(&p->work, NULL);
        pthread_condattr_destroy(&ca);
        atomic_init(&p->fail_seq, SEQ_NONE);
        p->window = default_window(o->window, jobs);
        p->err = err;
        p->emit = emit;
        p->userdata = userdata;
        p->progress = o->progress;
        p->progress_userdata = o->progress_userdata;
        p->progress_ms = o->progress_ms ? o->progress_ms : 1000;
        r = pool_fetch_md(p, o->alg, err);
        if (r >= 0)
                r = pool_alloc(p, jobs, err);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < jobs; i++) {
                r = -pthread_create(&p->threads[i], NULL, worker_main, &p->workers[i]);
                if (r < 0)
                        return errbuf_set(err, r, "cannot start hashing threads: %s", strerror(-r));
                p->nthreads++;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

/* ---- the walk (calling thread) ---- */

struct level {
        int fd;
        struct buf names; /* per entry: type byte, name ('/' appended for directories), NUL */
        struct buf offs;  /* uint32_t offsets into names, sorted */
        size_t n, next;
        size_t rel_len; /* length of this directory's relative path, with its trailing '/' */
};

struct walk {
        struct pool *pool; /* NULL in the pre-pass: only sizes are summed, problems skipped */
        uint64_t total;
        errbuf *err;
        char *path;        /* display path: prefix, then the relative path */
        size_t prefix_len;
        size_t listing_bytes;
        unsigned depth;
        struct level levels[HASH_MAX_DEPTH + 1];
};

/* Opens name in dirfd without following any symlink and without leaving dirfd. */
static int open_beneath(int dirfd, const char *name, int flags) {
        static atomic_bool no_openat2;
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK),
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH,
        };
        int fd;

        if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
                fd = (int) syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
                if (fd >= 0)
                        return fd;
                if (errno != ENOSYS)
                        return -errno;
                atomic_store(&no_openat2, true);
        }
        fd = openat(dirfd, name, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
        return fd < 0 ? -errno : fd;
}

static char entry_type(int dirfd, const struct dirent *de) {
        unsigned t = de->d_type;

        if (t == DT_UNKNOWN) {
                struct stat st;
                if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return 'f'; /* opening it will say what is wrong */
                t = IFTODT(st.st_mode);
        }
        switch (t) {
        case DT_REG: return 'f';
        case DT_DIR: return 'd';
        case DT_LNK: return 'l';
        case DT_FIFO: return 'p';
        case DT_SOCK: return 's';
        case DT_CHR: return 'c';
        case DT_BLK: return 'b';
        default: return '?';
        }
}

static int entry_cmp(const void *a, const void *b, void *names) {
        uint32_t x, y;

        memcpy(&x, a, sizeof(x));
        memcpy(&y, b, sizeof(y));
        /* strcmp compares as unsigned char: byte-wise order. */
        return strcmp((const char *) names + x + 1, (const char *) names + y + 1);
}

static int level_add(struct level *l, int dirfd, const struct dirent *de) {
        char type = entry_type(dirfd, de);
        uint32_t off = (uint32_t) l->names.len;
        int r;

        r = buf_append(&l->names, &type, 1);
        if (r >= 0)
                r = buf_append(&l->names, de->d_name, strlen(de->d_name) + (type == 'd' ? 0 : 1));
        if (r >= 0 && type == 'd')
                r = buf_append(&l->names, "/", 2);
        if (r >= 0)
                r = buf_append(&l->offs, &off, sizeof(off));
        l->n++;
        return r;
}

/* Reads and sorts the entries of l->fd. */
static int level_read(struct walk *w, struct level *l) {
        _cleanup_close_ int dfd = fcntl(l->fd, F_DUPFD_CLOEXEC, 3);
        size_t budget = w->listing_bytes < HASH_MAX_LISTING_BYTES ? HASH_MAX_LISTING_BYTES - w->listing_bytes : 0;
        DIR *d;
        int r = 0;

        if (budget < 1024)
                return path_error(w->err, -E2BIG, w->path, "directory listings too large");
        if (dfd < 0)
                return path_errno(w->err, -errno, w->path, "cannot read directory");
        d = fdopendir(dfd);
        if (!d)
                return path_errno(w->err, -errno, w->path, "cannot read directory");
        TAKE_FD(dfd);
        l->names.max = l->offs.max = budget / 2;
        for (;;) {
                struct dirent *de;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        r = -errno;
                        break;
                }
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                r = level_add(l, l->fd, de);
                if (r < 0)
                        break;
        }
        (void) closedir(d);
        if (r == -E2BIG)
                return path_error(w->err, -E2BIG, w->path, "directory listing too large");
        if (r < 0)
                return path_errno(w->err, r, w->path, "cannot read directory");
        w->listing_bytes += l->names.len + l->offs.len;
        if (l->n > 1)
                qsort_r(l->offs.data, l->n, sizeof(uint32_t), entry_cmp, l->names.data);
        return 0;
}

static void level_pop(struct walk *w) {
        struct level *l = &w->levels[--w->depth];

        w->listing_bytes -= l->names.len + l->offs.len;
        l->fd = safe_close(l->fd);
        buf_free(&l->names);
        buf_free(&l->offs);
}

/* Takes fd; w->path holds the directory's display path. */
static int level_push(struct walk *w, int fd, size_t rel_len) {
        struct level *l;
        int r;

        if (w->depth > HASH_MAX_DEPTH) {
                safe_close(fd);
                return path_error(w->err, -ELOOP, w->path, "directories nested too deep");
        }
        l = &w->levels[w->depth++];
        *l = (struct level) { .fd = fd, .rel_len = rel_len };
        r = level_read(w, l);
        if (r < 0) {
                w->listing_bytes += l->names.len + l->offs.len; /* level_pop subtracts it */
                level_pop(w);
        }
        return r;
}

static const char *special_name(char type) {
        switch (type) {
        case 'l': return "symbolic link, refused (not followed inside a directory)";
        case 'p': return "FIFO, refused (only regular files are hashed)";
        case 's': return "socket, refused (only regular files are hashed)";
        case 'c': return "character device, refused (only regular files are hashed)";
        case 'b': return "block device, refused (only regular files are hashed)";
        default: return "unknown file type, refused";
        }
}

static int walk_file(struct walk *w, struct level *l, const char *name) {
        int fd;

        if (!w->pool) {
                struct stat st;
                if (fstatat(l->fd, name, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode))
                        w->total += (uint64_t) st.st_size;
                return 0;
        }
        fd = open_beneath(l->fd, name, O_RDONLY);
        if (fd == -ELOOP)
                return path_error(w->err, fd, w->path, special_name('l'));
        if (fd < 0)
                return path_errno(w->err, fd, w->path, "cannot open");
        return pool_submit(w->pool, fd, w->path, (ssize_t) w->prefix_len, w->err);
}

static int walk_subdir(struct walk *w, struct level *l, char *name, size_t len) {
        int fd;

        name[len - 1] = 0; /* without its '/' while opening */
        fd = open_beneath(l->fd, name, O_RDONLY | O_DIRECTORY);
        name[len - 1] = '/';
        if (fd < 0 && !w->pool)
                return 0;
        if (fd == -ELOOP)
                return path_error(w->err, fd, w->path, special_name('l'));
        if (fd < 0)
                return path_errno(w->err, fd, w->path, "cannot open directory");
        return level_push(w, fd, l->rel_len + len);
}

static int walk_entry(struct walk *w, struct level *l, char type, const char *entry) {
        size_t len = strlen(entry);
        char *name = w->path + w->prefix_len + l->rel_len;

        if (l->rel_len + len >= REL_PATH_MAX) {
                name[0] = 0;
                return w->pool ? path_error(w->err, -ENAMETOOLONG, w->path, "path too long below this directory")
                               : 0;
        }
        memcpy(name, entry, len + 1);
        if (type == 'd')
                return walk_subdir(w, l, name, len);
        if (type == 'f')
                return walk_file(w, l, name);
        return w->pool ? path_error(w->err, type == 'l' ? -ELOOP : -EPERM, w->path, special_name(type)) : 0;
}

/* Walks the directory open at fd (taken), displayed as arg. */
static int walk_tree(struct walk *w, int fd, const char *arg) {
        size_t alen = strlen(arg);
        int r;

        w->path = malloc(alen + 1 + REL_PATH_MAX + 1);
        if (!w->path) {
                safe_close(fd);
                return errbuf_set(w->err, -ENOMEM, "out of memory");
        }
        memcpy(w->path, arg, alen + 1);
        if (alen == 0 || arg[alen - 1] != '/')
                w->path[alen++] = '/';
        w->path[alen] = 0;
        w->prefix_len = alen;

        r = level_push(w, fd, 0);
        while (r >= 0 && w->depth > 0) {
                struct level *l = &w->levels[w->depth - 1];
                const char *e;
                uint32_t off;

                if (l->next == l->n) {
                        level_pop(w);
                        continue;
                }
                memcpy(&off, l->offs.data + l->next++ * sizeof(off), sizeof(off));
                e = l->names.data + off;
                r = walk_entry(w, l, e[0], e + 1);
        }
        while (w->depth > 0)
                level_pop(w);
        free(w->path);
        w->path = NULL;
        return r;
}

/* One command-line argument: a file (symlinks followed) or a directory. */
static int walk_arg(struct walk *w, const char *arg, bool require_dir) {
        int fd = open(arg, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (require_dir ? O_DIRECTORY : 0));
        struct stat st;

        if (fd < 0)
                return w->pool ? path_errno(w->err, -errno, arg, require_dir ? "cannot open directory" : "cannot open") : 0;
        if (fstat(fd, &st) < 0) {
                int r = -errno;
                safe_close(fd);
                return w->pool ? path_errno(w->err, r, arg, "cannot stat") : 0;
        }
        if (S_ISDIR(st.st_mode))
                return walk_tree(w, fd, arg);
        if (!w->pool) {
                w->total += S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0;
                safe_close(fd);
                return 0;
        }
        return pool_submit(w->pool, fd, arg, -1, w->err);
}

static int hash_run(char *const *paths, size_t n, bool require_dir, const struct hash_options *o,
                    hash_emit_t emit, void *userdata, errbuf *err) {
        _cleanup_(pool_freep) struct pool *p = NULL;
        errbuf werr = {};
        struct walk w = { .err = &werr }; /* ~13 KiB: the walk's fixed state */
        int r = 0;

        if (!o || !emit)
                return errbuf_set(err, -EINVAL, "invalid arguments");
        if (o->progress) /* a stat-only pass for the total */
                for (size_t i = 0; i < n; i++)
                        (void) walk_arg(&w, paths[i], require_dir);
        r = pool_new(o, emit, userdata, err, &p);
        if (r < 0 || !p)
                return r < 0 ? r : -ENOMEM;
        p->total = w.total;
        w.pool = p;
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = walk_arg(&w, paths[i], require_dir);
        if (r < 0 && !pool_stopping(p))
                (void) pool_post_error(p, r, &werr);
        r = pool_drain(p);
        if (r >= 0)
                pool_progress(p, true);
        return r;
}

int hash_paths(char *const *paths, size_t n, const struct hash_options *o, hash_emit_t emit,
               void *userdata, errbuf *err) {
        return hash_run(paths, n, false, o, emit, userdata, err);
}

int hash_tree(const char *dir, const struct hash_options *o, hash_emit_t emit, void *userdata,
              errbuf *err) {
        char *paths[] = { (char *) dir };
        return hash_run(paths, 1, true, o, emit, userdata, err);
}
