/* SPDX-License-Identifier: MIT */
/* Tree hashing: order (the "a-c" before "a/b" trap, bytes >= 0x80), digests checked with a separate
 * EVP call, the bounded window (open fds counted while results come out), refusal of symlinks and
 * special files with their names, size changes, read errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <openssl/evp.h>

#include "hashtree.h"

#define MAX_SEEN 512

struct seen {
        char *rel[MAX_SEEN], *path[MAX_SEEN];
        uint64_t size[MAX_SEEN];
        uint8_t digest[MAX_SEEN][HASH_MAX_SIZE];
        size_t n;
        int fail_at; /* emit returns an error for this index (0 = never, 1-based) */
        int max_fds;
};

static void seen_free(struct seen *s) {
        for (size_t i = 0; i < s->n; i++) {
                free(s->rel[i]);
                free(s->path[i]);
        }
        s->n = 0;
}

static int count_fds(void) {
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static int collect(const struct hash_result *r, void *userdata, errbuf *err) {
        struct seen *s = userdata;
        int fds = count_fds();

        if (fds > s->max_fds)
                s->max_fds = fds;
        assert_true(s->n < MAX_SEEN);
        s->rel[s->n] = strdup(r->relpath);
        s->path[s->n] = strdup(r->path);
        s->size[s->n] = r->size;
        memcpy(s->digest[s->n], r->digest, HASH_MAX_SIZE);
        s->n++;
        if (s->fail_at > 0 && (size_t) s->fail_at == s->n)
                return errbuf_set(err, -ENOTRECOVERABLE, "stopped by the test at %zu", s->n);
        return 0;
}

static void expect_digest(const uint8_t *got, const EVP_MD *md, const char *content) {
        uint8_t d[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        assert_int_equal(EVP_Digest(content, strlen(content), d, &len, md, NULL), 1);
        assert_memory_equal(got, d, len);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Relative paths of the order test; content = the path itself. */
static const char *const order_files[] = {
        "a/b", "a-c", "a.b", "a0", "b/c/d", "b/c-", "b/c0/x", "Z", "\xc3\xa9", "\xff", "\x7f",
        "a/\xc3\xbc", "sp ace", "e/empty-dir-sibling",
};
/* The same, in byte-wise order of the full relative path (what sort with LC_ALL=C gives). */
static const char *const order_expected[] = {
        "Z", "a-c", "a.b", "a/b", "a/\xc3\xbc", "a0", "b/c-", "b/c/d", "b/c0/x", "e/empty-dir-sibling",
        "sp ace", "\x7f", "\xc3\xa9", "\xff",
};

static void run_order(unsigned jobs, unsigned window) {
        struct hash_options o = { .alg = HASH_SHA256, .jobs = jobs, .window = window };
        struct seen s = {};
        const char *sorted[ELEMENTSOF(order_files)];
        char prefix[4096];
        errbuf err = {};

        assert_int_equal(hash_tree(tmpdir, &o, collect, &s, &err), 0);
        assert_int_equal(s.n, ELEMENTSOF(order_expected));
        memcpy(sorted, order_files, sizeof(sorted));
        qsort(sorted, ELEMENTSOF(sorted), sizeof(sorted[0]), cmp_str);
        snprintf(prefix, sizeof(prefix), "%s/", tmpdir);
        for (size_t i = 0; i < s.n; i++) {
                assert_string_equal(s.rel[i], order_expected[i]);
                assert_string_equal(s.rel[i], sorted[i]);
                assert_int_equal(strncmp(s.path[i], prefix, strlen(prefix)), 0);
                assert_string_equal(s.path[i] + strlen(prefix), s.rel[i]);
                assert_int_equal(s.size[i], strlen(s.rel[i]));
                expect_digest(s.digest[i], EVP_sha256(), s.rel[i]);
        }
        seen_free(&s);
}

static void test_order(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(order_files); i++)
                put(order_files[i], order_files[i]);
        assert_int_equal(mkdir(at("e/empty"), 0755), 0);
        run_order(1, 0);
        run_order(4, 0);
        run_order(2, 1);
        run_order(3, 2);
}

static void test_algorithms(void **state) {
        static const struct { enum hash_alg alg; const EVP_MD *(*md)(void); } algs[] = {
                { HASH_SHA256, EVP_sha256 }, { HASH_SHA384, EVP_sha384 }, { HASH_SHA512, EVP_sha512 },
        };
        (void) state;
        put("x", "abc");
        put("y", "");
        for (size_t i = 0; i < ELEMENTSOF(algs); i++) {
                struct hash_options o = { .alg = algs[i].alg, .jobs = 2 };
                struct seen s = {};
                errbuf err = {};
                assert_int_equal(hash_tree(tmpdir, &o, collect, &s, &err), 0);
                assert_int_equal(s.n, 2);
                expect_digest(s.digest[0], algs[i].md(), "abc");
                expect_digest(s.digest[1], algs[i].md(), "");
                seen_free(&s);
        }
}

/* With a window of W, at most W files (plus the directory being walked) are open at any time. */
static void test_window_bounded(void **state) {
        struct hash_options o = { .alg = HASH_SHA256, .jobs = 2, .window = 4 };
        struct seen s = {};
        errbuf err = {};
        int base;
        char name[32];

        (void) state;
        for (int i = 0; i < 300; i++) {
                snprintf(name, sizeof(name), "f%04d", i);
                put(name, name);
        }
        base = count_fds();
        s.max_fds = base;
        /* Only MAX_SEEN results fit: stop after 300 anyway. */
        assert_int_equal(hash_tree(tmpdir, &o, collect, &s, &err), 0);
        assert_int_equal(s.n, 300);
        assert_true(s.max_fds - base <= 4 + 1);
        assert_true(s.max_fds - base >= 1); /* the walk was in progress */
        for (size_t i = 0; i < s.n; i++) {
                snprintf(name, sizeof(name), "f%04zu", i);
                assert_string_equal(s.rel[i], name);
                expect_digest(s.digest[i], EVP_sha256(), name);
        }
        seen_free(&s);
        assert_int_equal(count_fds(), base);
}

/* A refused entry stops the run after every file before it, and the message names it, escaped. */
static void expect_refused(const char *msg_part) {
        struct hash_options o = { .alg = HASH_SHA256, .jobs = 2 };
        struct seen s = {};
        errbuf err = {};
        int r;

        put("a", "first");
        put("zz", "after");
        r = hash_tree(tmpdir, &o, collect, &s, &err);
        assert_true(r < 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.rel[0], "a");
        if (!strstr(err.msg, msg_part))
                fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
        seen_free(&s);
}

static void test_refuse_symlink(void **state) {
        (void) state;
        assert_int_equal(symlink("a", at("bad\nlink")), 0);
        expect_refused("/bad\\x0alink: symbolic link, refused");
}

static void test_refuse_dir_symlink(void **state) {
        (void) state;
        put("m/f", "x");
        assert_int_equal(symlink("m", at("l")), 0);
        expect_refused("/l: symbolic link");
}

static void test_refuse_fifo(void **state) {
        (void) state;
        assert_int_equal(mkfifo(at("m-fifo"), 0644), 0);
        expect_refused("/m-fifo: FIFO, refused");
}

static void test_refuse_socket(void **state) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        (void) state;
        assert_true(fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s\x01ock", tmpdir);
        assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        close(fd);
        expect_refused("/s\\x01ock: socket, refused");
}

static void test_refuse_device(void **state) {
        (void) state;
        if (mknod(at("dev"), S_IFCHR | 0600, makedev(1, 3)) < 0)
                skip();
        expect_refused("/dev: character device, refused");
}

/* Explicit arguments: a symlink is followed (as sha256sum does); a FIFO is not read; a missing path
 * is named. */
static void test_explicit_paths(void **state) {
        struct hash_options o = { .alg = HASH_SHA256, .jobs = 2 };
        struct seen s = {};
        errbuf err = {};
        char target[4096], link[4096];
        char *paths[2] = { target, link };

        (void) state;
        put("t", "abc");
        snprintf(target, sizeof(target), "%s", at("t"));
        snprintf(link, sizeof(link), "%s", at("l"));
        assert_int_equal(symlink("t", link), 0);
        assert_int_equal(hash_paths(paths, 2, &o, collect, &s, &err), 0);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.path[1], link);
        assert_string_equal(s.rel[1], link);
        expect_digest(s.digest[1], EVP_sha256(), "abc");
        seen_free(&s);

        assert_int_equal(mkfifo(at("p"), 0644), 0);
        paths[1] = at("p");
        assert_int_equal(hash_paths(paths, 2, &o, collect, &s, &err), -EPERM);
        assert_non_null(strstr(err.msg, "/p: not a regular file"));
        seen_free(&s);

        paths[1] = at("missing");
        assert_int_equal(hash_paths(paths, 2, &o, collect, &s, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "/missing: cannot open: "));
        seen_free(&s);
}

/* /proc/self/mem is a regular file whose read at offset 0 fails with EIO. */
static void test_read_error(void **state) {
        struct hash_options o = { .alg = HASH_SHA256, .jobs = 1 };
        char *paths[] = { (char *) "/proc/self/mem" };
        struct seen s = {};
        errbuf err = {};

        (void) state;
        assert_int_equal(hash_paths(paths, 1, &o, collect, &s, &err), -EIO);
        assert_int_equal(s.n, 0);
        assert_non_null(strstr(err.msg, "/proc/self/mem: read error"));
}

static void test_not_a_directory(void **state) {
        struct hash_options o = { .alg = HASH_SHA256 };
        struct seen s = {};
        errbuf err = {};

        (void) state;
        put("f", "x");
        assert_int_equal(hash_tree(at("f"), &o, collect, &s, &err), -ENOTDIR);
        assert_non_null(strstr(err.msg, "/f: cannot open directory"));
        assert_int_equal(hash_tree(at("nothing"), &o, collect, &s, &err), -ENOENT);
        assert_int_equal(s.n, 0);
}

static void test_empty_dir(void **state) {
        struct hash_options o = { .alg = HASH_SHA256 };
        struct seen s = {};
        errbuf err = {};

        (void) state;
        assert_int_equal(mkdir(at("sub"), 0755), 0);
        assert_int_equal(hash_tree(tmpdir, &o, collect, &s, &err), 0);
        assert_int_equal(s.n, 0);
}

static void test_emit_error_stops(void **state) {
        struct hash_options o = { .alg = HASH_SHA256, .jobs = 2, .window = 3 };
        struct seen s = { .fail_at = 2 };
        errbuf err = {};

        (void) state;
        for (int i = 0; i < 20; i++) {
                char name[16];
                snprintf(name, sizeof(name), "f%02d", i);
                put(name, name);
        }
        assert_int_equal(hash_tree(tmpdir, &o, collect, &s, &err), -ENOTRECOVERABLE);
        assert_int_equal(s.n, 2);
        assert_string_equal(err.msg, "stopped by the test at 2");
        seen_free(&s);
}

struct progress_state {
        uint64_t last_done, total;
        unsigned calls;
        bool truncated, in_time;
        const char *victim;
};

static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        struct progress_state *p = userdata;

        assert_true(done >= p->last_done);
        p->last_done = done;
        p->total = total;
        p->calls++;
        if (p->victim && !p->truncated) {
                p->in_time = done < total;
                assert_int_equal(truncate(p->victim, (off_t) (total / 2)), 0);
                p->truncated = true;
        }
}

static void test_progress_total(void **state) {
        struct progress_state p = {};
        struct hash_options o = { .alg = HASH_SHA256, .jobs = 2, .progress = on_progress, .progress_userdata = &p };
        struct seen s = {};
        errbuf err = {};

        (void) state;
        put("a", "12345");
        put("d/b", "1234567890");
        put("d/e/c", "");
        assert_int_equal(hash_tree(tmpdir, &o, collect, &s, &err), 0);
        assert_int_equal(s.n, 3);
        assert_true(p.calls >= 1);
        assert_int_equal(p.total, 15);
        assert_int_equal(p.last_done, 15);
        seen_free(&s);
}

/* A file that shrinks while it is hashed: a sparse file, cut in half at the first progress report
 * (made before its first read). */
static void test_size_change(void **state) {
        struct progress_state p = {};
        struct hash_options o = {
                .alg = HASH_SHA256, .jobs = 1, .progress = on_progress, .progress_userdata = &p, .progress_ms = 1,
        };
        struct seen s = {};
        errbuf err = {};
        int fd, r;

        (void) state;
        put("big", "");
        p.victim = at("big");
        fd = open(p.victim, O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 256 << 20), 0);
        close(fd);
        r = hash_tree(tmpdir, &o, collect, &s, &err);
        if (!p.in_time)
                skip();
        assert_int_equal(r, -EBUSY);
        assert_non_null(strstr(err.msg, "/big: file changed while being hashed"));
        assert_int_equal(s.n, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_order, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_algorithms, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_window_bounded, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_refuse_symlink, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_refuse_dir_symlink, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_refuse_fifo, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_refuse_socket, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_refuse_device, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_explicit_paths, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_read_error, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_not_a_directory, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_empty_dir, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_emit_error_stops, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_progress_total, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_size_change, tmptree_setup, tmptree_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
