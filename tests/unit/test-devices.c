/* SPDX-License-Identifier: MIT */
/* init/devices.c: device specs, waiting with a deadline, and the file system type libblkid finds
 * on an image made by mkfs.ext4 (an independent tool). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/wait.h>
#include <time.h>

#include "devices.h"
#include "tmptree.h"

static void expect_spec(const char *s, enum device_spec_kind kind, const char *value) {
        struct device_spec spec;
        errbuf err = {};

        if (device_spec_parse(s, &spec, &err) != 0)
                fail_msg("'%s': %s", s, err.msg);
        assert_int_equal(spec.kind, kind);
        assert_string_equal(spec.value, value);
}

static void test_specs(void **state) {
        (void) state;
        expect_spec("LABEL=models", DEVICE_SPEC_LABEL, "models");
        expect_spec("LABEL=my models \xc3\xa9", DEVICE_SPEC_LABEL, "my models \xc3\xa9");
        expect_spec("PARTLABEL=data", DEVICE_SPEC_PARTLABEL, "data");
        expect_spec("UUID=0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", DEVICE_SPEC_UUID, "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
        expect_spec("UUID=ABCD-1234", DEVICE_SPEC_UUID, "ABCD-1234");
        expect_spec("/dev/vda", DEVICE_SPEC_PATH, "/dev/vda");
        expect_spec("/dev/disk/by-id/virtio-model", DEVICE_SPEC_PATH, "/dev/disk/by-id/virtio-model");
        expect_spec("LABEL=a=b", DEVICE_SPEC_LABEL, "a=b");
}

static void expect_bad(const char *s, const char *needle) {
        struct device_spec spec;
        errbuf err = {};

        assert_int_equal(device_spec_parse(s, &spec, &err), -EINVAL);
        if (!strstr(err.msg, needle))
                fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, needle);
}

static void test_bad_specs(void **state) {
        char big[DEVICE_SPEC_MAX + 16];

        (void) state;
        expect_bad("", "expected LABEL=, PARTLABEL=, UUID=, SERIAL= or a /dev/ path");
        expect_bad(NULL, "expected");
        expect_bad("models", "'models': expected");
        expect_bad("label=models", "expected");
        expect_bad("/etc/passwd", "expected");
        expect_bad("LABEL=", "1 to 255 bytes");
        expect_bad("UUID=", "1 to 255 bytes");
        expect_bad("/dev/", "1 to 255 bytes");
        expect_bad("UUID=xyz!", "hex digits");
        expect_bad("LABEL=a\nb", "LABEL=a\\x0ab");
        expect_bad("LABEL=\xc3", "UTF-8");
        expect_bad("/dev/../etc/passwd", "not a plain /dev/ path");
        expect_bad("/dev/a//b", "not a plain");
        expect_bad("/dev/a/", "not a plain");
        expect_bad("/dev/./vda", "not a plain");
        expect_bad("/dev/v da", "not a plain");
        memcpy(big, "LABEL=", 6);
        memset(big + 6, 'x', DEVICE_SPEC_MAX + 1);
        big[6 + DEVICE_SPEC_MAX + 1] = 0;
        expect_bad(big, "1 to 255 bytes");
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void test_wait(void **state) {
        struct device_spec spec;
        errbuf err = {};
        char *path = NULL;
        uint64_t t;

        (void) state;
        assert_int_equal(device_spec_parse("/dev/cvminit-test-absent", &spec, &err), 0);
        t = now_ms();
        assert_int_equal(device_wait(&spec, 120, &path, &err), -ETIMEDOUT);
        t = now_ms() - t;
        assert_true(t >= 120 && t < 2000);
        assert_null(path);
        assert_non_null(strstr(err.msg, "device /dev/cvminit-test-absent did not appear within 120 ms"));
        assert_non_null(strstr(err.msg, "block devices present:"));

        /* Exists, but is no block device: no waiting. */
        assert_int_equal(device_spec_parse("/dev/null", &spec, &err), 0);
        assert_int_equal(device_wait(&spec, 5000, &path, &err), -ENOTBLK);
        assert_non_null(strstr(err.msg, "/dev/null: not a block device"));

        /* A tag no device has, searched with libblkid. */
        assert_int_equal(device_spec_parse("LABEL=cvminit-test-no-such-label-7f3a", &spec, &err), 0);
        assert_int_equal(device_wait(&spec, 100, &path, &err), -ETIMEDOUT);
        assert_non_null(strstr(err.msg, "LABEL=cvminit-test-no-such-label-7f3a"));
}

/* Runs argv (no shell) with output discarded; returns its exit status, 127 if it cannot run. */
static int run(char *const argv[]) {
        int st;
        pid_t pid = fork();

        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) dup2(fd, STDOUT_FILENO);
                        (void) dup2(fd, STDERR_FILENO);
                }
                execv(argv[0], argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &st, 0), pid);
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void make_sparse(const char *rel, off_t size) {
        int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, size), 0);
        close(fd);
}

static void test_fstype(void **state) {
        char *type = NULL, img[4096];
        errbuf err = {};

        (void) state;
        /* An empty image: no signature. */
        make_sparse("empty.img", 2 << 20);
        assert_int_equal(device_fstype(at("empty.img"), &type, &err), -ENODATA);
        assert_null(type);
        assert_int_equal(device_fstype(at("missing.img"), &type, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "missing.img"));

        make_sparse("ext4.img", 4 << 20);
        snprintf(img, sizeof(img), "%s", at("ext4.img"));
        int r = run((char *const[]) { (char *) "/sbin/mkfs.ext4", (char *) "-q", (char *) "-F", (char *) "-L",
                                      (char *) "testlabel", img, NULL });
        if (r == 127)
                skip(); /* e2fsprogs is not installed */
        assert_int_equal(r, 0);
        assert_int_equal(device_fstype(at("ext4.img"), &type, &err), 0);
        assert_string_equal(type, "ext4");
        free(type);
}

/* SERIAL=: the serial files of a fake /sys/class/block (virtio's, and NVMe's padded one under
 * device/); partitions have none. */
static void test_serial(void **state) {
        struct device_spec spec;
        errbuf err = {};
        char *path = NULL;

        (void) state;
        expect_spec("SERIAL=cvm-data", DEVICE_SPEC_SERIAL, "cvm-data");
        expect_spec("SERIAL=S3 EV 01", DEVICE_SPEC_SERIAL, "S3 EV 01");
        expect_bad("SERIAL=a\tb", "a serial number is printable ASCII");
        expect_bad("SERIAL=", "1 to 255 bytes");
        put("block/vda/serial", "models\n");
        assert_int_equal(mkdir(at("block/vda1"), 0755), 0);
        put("block/nvme0n1/device/serial", "S3EV01    \n");
        assert_int_equal(setenv("CVMINIT_SYS_CLASS_BLOCK", at("block"), 1), 0);
        assert_int_equal(device_spec_parse("SERIAL=models", &spec, &err), 0);
        assert_int_equal(device_wait(&spec, 1000, &path, &err), 0);
        assert_string_equal(path, "/dev/vda");
        free(path);
        path = NULL;
        assert_int_equal(device_spec_parse("SERIAL=S3EV01", &spec, &err), 0);
        assert_int_equal(device_wait(&spec, 1000, &path, &err), 0);
        assert_string_equal(path, "/dev/nvme0n1");
        free(path);
        path = NULL;
        assert_int_equal(device_spec_parse("SERIAL=model", &spec, &err), 0);
        assert_int_equal(device_wait(&spec, 100, &path, &err), -ETIMEDOUT);
        assert_null(path);
        assert_non_null(strstr(err.msg, "device SERIAL=model did not appear within 100 ms"));
        assert_non_null(strstr(err.msg, "vda1"));
        assert_int_equal(unsetenv("CVMINIT_SYS_CLASS_BLOCK"), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_specs),
                cmocka_unit_test(test_bad_specs),
                cmocka_unit_test(test_wait),
                cmocka_unit_test(test_fstype),
                cmocka_unit_test(test_serial),
        };
        return cmocka_run_group_tests(tests, tmptree_setup, tmptree_teardown);
}
