/* SPDX-License-Identifier: MIT */
/* Layer unpacking internals (agent/image-unpack.c) that the host integration test
 * (tests/integration/test-oci.sh, real layouts) cannot reach: the blob is hashed again while it is
 * unpacked, so a blob that no longer hashes to its verified digest, or that is shorter or longer
 * than its descriptor, fails after unpacking with the rootfs to be discarded; tree_remove takes
 * away a tree 300 directories deep (deeper than its fd budget: the deferral through the trash
 * directory) and leaves the trash empty, and removes a symlink to a directory without touching
 * the directory. Tars are written here by hand (POSIX ustar, §pax "ustar Interchange Format"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include <dirent.h>
#include <openssl/evp.h>

#include "image-unpack.h"

/* One ustar member: header, data padded to 512. */
static void ustar_add(struct buf *b, const char *name, char type, const char *data) {
        uint8_t h[512] = {};
        size_t n = data ? strlen(data) : 0;
        unsigned sum = 0;

        snprintf((char *) h, 100, "%s", name);
        snprintf((char *) h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
        snprintf((char *) h + 108, 8, "%07o", 0);
        snprintf((char *) h + 116, 8, "%07o", 0);
        snprintf((char *) h + 124, 12, "%011o", (unsigned) (n & 07777777));
        snprintf((char *) h + 136, 12, "%011o", 1700000000);
        memset(h + 148, ' ', 8);
        h[156] = (uint8_t) type;
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        for (size_t i = 0; i < sizeof(h); i++)
                sum += h[i];
        snprintf((char *) h + 148, 8, "%06o", sum);
        assert_int_equal(buf_append(b, h, sizeof(h)), 0);
        if (n) {
                uint8_t pad[512] = {};
                assert_int_equal(buf_append(b, data, n), 0);
                assert_int_equal(buf_append(b, pad, (512 - n % 512) % 512), 0);
        }
}

static void ustar_end(struct buf *b) {
        uint8_t z[1024] = {};
        assert_int_equal(buf_append(b, z, sizeof(z)), 0);
}

static int blob_fd(const struct buf *b) {
        int fd = open(at("blob"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, b->data, b->len), (ssize_t) b->len);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        return fd;
}

static void sha256(const struct buf *b, uint8_t out[32]) {
        unsigned n = 0;
        assert_int_equal(EVP_Digest(b->data, b->len, out, &n, EVP_sha256(), NULL), 1);
}

static int run(const struct buf *b, const uint8_t *digest, uint64_t size, errbuf *err) {
        struct unpack_layer l = { .label = "layer 1 of 1", .compression = OCI_COMPRESSION_NONE, .digest = digest,
                                  .size = size };
        struct unpack_stats st = {};
        int rootfd, trashfd, fd = blob_fd(b), r;

        (void) mkdir(at("root"), 0755);
        (void) mkdir(at("trash"), 0755);
        rootfd = open(at("root"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        trashfd = open(at("trash"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(rootfd >= 0 && trashfd >= 0);
        r = unpack_layer(rootfd, trashfd, fd, &l, &st, err);
        close(fd);
        close(rootfd);
        close(trashfd);
        return r;
}

static void layer(struct buf *b) {
        ustar_add(b, "dir/", '5', NULL);
        ustar_add(b, "dir/f", '0', "hello\n");
        ustar_end(b);
}

static void test_good(void **state) {
        _cleanup_free_ uint8_t *p = NULL;
        struct buf b = {};
        uint8_t d[32];
        errbuf err = {};
        size_t n = 0;

        (void) state;
        layer(&b);
        sha256(&b, d);
        if (run(&b, d, b.len, &err) < 0)
                fail_msg("%s", err.msg);
        assert_int_equal(read_file_limited(at("root/dir/f"), 100, &p, &n), 0);
        assert_string_equal((char *) p, "hello\n");
        buf_free(&b);
}

static void test_changed(void **state) {
        struct buf b = {};
        uint8_t d[32];
        errbuf err = {};

        (void) state;
        layer(&b);
        sha256(&b, d);
        d[0] ^= 1; /* the digest that was verified is not these bytes' */
        assert_int_equal(run(&b, d, b.len, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "layer 1 of 1: the blob changed after it was verified"));
        assert_non_null(strstr(err.msg, "the unpacked rootfs is discarded"));
        d[0] ^= 1;
        /* Longer than its descriptor said (it grew), and shorter. */
        assert_true(run(&b, d, b.len - 512, &err) < 0);
        assert_non_null(strstr(err.msg, "layer 1 of 1"));
        assert_int_equal(run(&b, d, b.len + 512, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "the blob changed while being unpacked"));
        buf_free(&b);
}

static int count_entries(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        closedir(d);
        return n;
}

static void test_tree_remove(void **state) {
        int dfd, fd, trashfd;
        errbuf err = {};
        struct stat st;

        (void) state;
        assert_int_equal(mkdir(at("deep"), 0755), 0);
        assert_int_equal(mkdir(at("trash"), 0755), 0);
        dfd = open(at("deep"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        for (int i = 0; i < 300; i++) {
                assert_int_equal(mkdirat(dfd, "d", 0755), 0);
                fd = openat(dfd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                assert_true(fd >= 0);
                close(fd);
                fd = openat(dfd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                close(dfd);
                dfd = fd;
        }
        close(dfd);
        /* A symlink to a directory goes, the directory stays. */
        assert_int_equal(mkdir(at("outside"), 0755), 0);
        put("outside/keep", "k");
        {
                _cleanup_free_ char *target = strdup(at("outside"));
                assert_int_equal(symlink(target, at("deep/link")), 0);
        }
        trashfd = open(at("trash"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (tree_remove(dfd, "deep", trashfd, &err) < 0)
                fail_msg("%s", err.msg);
        assert_int_equal(lstat(at("deep"), &st), -1);
        assert_int_equal(count_entries(at("trash")), 0);
        assert_int_equal(lstat(at("outside/keep"), &st), 0);
        /* Absent is success. */
        assert_int_equal(tree_remove(dfd, "deep", trashfd, &err), 0);
        close(dfd);
        close(trashfd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_good, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_changed, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_tree_remove, tmptree_setup, tmptree_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
