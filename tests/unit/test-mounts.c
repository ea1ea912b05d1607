/* SPDX-License-Identifier: MIT */
/* init/mounts.c: the mount options parser, mount targets, and the failures of a configured mount
 * that come before any mount(2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sys/mount.h>
#include <time.h>

#include "mounts.h"

static void expect_options(const char *s, unsigned long flags, const char *data) {
        unsigned long f = 12345;
        char *d = NULL;
        errbuf err = {};

        if (mount_options_parse(s, &f, &d, &err) != 0)
                fail_msg("'%s': %s", s, err.msg);
        assert_int_equal(f, flags);
        assert_string_equal(d, data);
        free(d);
}

static void test_options(void **state) {
        (void) state;
        expect_options(NULL, 0, "");
        expect_options("", 0, "");
        expect_options("defaults", 0, "");
        expect_options("ro,nosuid,nodev", MS_RDONLY | MS_NOSUID | MS_NODEV, "");
        expect_options("rw,errors=remount-ro,noatime,data=ordered", MS_NOATIME, "errors=remount-ro,data=ordered");
        expect_options("ro,noexec,rw", MS_NOEXEC, "");
        expect_options("nosuid,suid,sync,dirsync,relatime,lazytime,nodiratime,strictatime",
                       MS_SYNCHRONOUS | MS_DIRSYNC | MS_RELATIME | MS_LAZYTIME | MS_NODIRATIME | MS_STRICTATIME, "");
        expect_options("mode=0755,size=10%", 0, "mode=0755,size=10%");
}

static void expect_options_error(const char *s, const char *needle) {
        unsigned long f = 0;
        char *d = NULL;
        errbuf err = {};

        assert_true(mount_options_parse(s, &f, &d, &err) < 0);
        assert_null(d);
        if (!strstr(err.msg, needle))
                fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, needle);
}

static void test_options_errors(void **state) {
        char big[MOUNT_OPTIONS_MAX + 2];

        (void) state;
        expect_options_error("ro,,nodev", "empty option");
        expect_options_error(",ro", "empty option");
        expect_options_error("ro,", "empty option at the end");
        expect_options_error("ro,bind", "'bind' is a mount(8) option");
        expect_options_error("remount,ro", "remount");
        expect_options_error("x-systemd.automount", "x-systemd.automount");
        expect_options_error("nofail", "nofail");
        expect_options_error("ro,no dev", "printable ASCII");
        expect_options_error("ro,a\x1b", "\\x1b");
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = 0;
        expect_options_error(big, "longer than");
}

static void test_targets(void **state) {
        static const char *const good[] = { "/models", "/mnt/a/b", "/run/models", "/procs", "/devx", "/srv/.hidden" };
        static const struct { const char *path, *needle; } bad[] = {
                { "", "not an absolute path" },       { "/", "not an absolute path" },
                { "models", "not an absolute path" }, { "/models/", "not an absolute path" },
                { "/a//b", "component" },             { "/a/../b", "component" },
                { "/a/./b", "component" },            { "/proc", "inside /proc" },
                { "/proc/x", "inside /proc" },        { "/sys/kernel/config", "inside /sys" },
                { "/dev/shm", "inside /dev" },        { "/run", "hide" },
                { "/run/cvminit/x", "inside /run/cvminit" }, { "/run/log", "inside /run/log" },
        };
        errbuf err;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                err = (errbuf) {};
                if (mount_target_check(good[i], &err) != 0)
                        fail_msg("%s: %s", good[i], err.msg);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err = (errbuf) {};
                assert_int_equal(mount_target_check(bad[i].path, &err), -EINVAL);
                if (!strstr(err.msg, bad[i].needle))
                        fail_msg("%s: message '%s' lacks '%s'", bad[i].path, err.msg, bad[i].needle);
        }
        assert_int_equal(mount_target_check(NULL, &err), -EINVAL);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void test_configured_refused(void **state) {
        errbuf err = {};
        uint64_t t;

        (void) state;
        assert_int_equal(mount_configured("LABEL=", "/models", "ext4", "ro", 100, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "LABEL="));
        assert_int_equal(mount_configured("LABEL=m", "/proc/m", "ext4", "ro", 100, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "/proc"));
        assert_int_equal(mount_configured("LABEL=m", "/models", "ext 4", "ro", 100, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "file system type"));
        assert_int_equal(mount_configured("LABEL=m", "/models", NULL, "ro", 100, &err), -EINVAL);
        assert_int_equal(mount_configured("LABEL=m", "/models", "ext4", "bind", 100, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "bind"));

        /* A device that never comes: the deadline is kept and the message names the device. */
        t = now_ms();
        assert_int_equal(mount_configured("/dev/cvminit-test-no-such-disk", "/cvminit-test-never-mounted", "ext4",
                                          "ro", 150, &err), -ETIMEDOUT);
        t = now_ms() - t;
        assert_true(t >= 150 && t < 2000);
        assert_non_null(strstr(err.msg, "device /dev/cvminit-test-no-such-disk did not appear within 150 ms"));
        assert_int_equal(access("/cvminit-test-never-mounted", F_OK), -1);
        /* Nothing was mounted, so nothing is unmounted. */
        mounts_unmount_all();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_options),
                cmocka_unit_test(test_options_errors),
                cmocka_unit_test(test_targets),
                cmocka_unit_test(test_configured_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
