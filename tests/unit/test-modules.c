/* SPDX-License-Identifier: MIT */
/* init/modules.c without root: names that no module tree has (a prepared empty tree, as kmod's
 * own testsuite redirects paths), bad names, and the modprobe mode's argument handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "modules.h"
#include "tmptree.h"

static void make_tree(void) {
        static const char *const files[] = { "modules.dep", "modules.alias", "modules.symbols", "modules.builtin" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                FILE *f = fopen(at(files[i]), "w");
                assert_non_null(f);
                fclose(f);
        }
}

static void test_not_found(void **state) {
        char *names[] = { "cvminit_test_no_such_module" };
        errbuf err = {};

        (void) state;
        make_tree();
        assert_int_equal(modules_load(names, 1, tmpdir, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "kernel module cvminit_test_no_such_module: not found in"));
        assert_non_null(strstr(err.msg, tmpdir));
        /* Nothing to load is no error. */
        assert_int_equal(modules_load(names, 0, tmpdir, &err), 0);
}

static void test_bad_names(void **state) {
        char *bad[] = { "", "a/b", "a b", "\x1b[31m" };
        errbuf err;

        (void) state;
        make_tree();
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err = (errbuf) {};
                assert_int_equal(modules_load(&bad[i], 1, tmpdir, &err), -EINVAL);
                assert_non_null(strstr(err.msg, "not a module name"));
        }
        assert_non_null(strstr(err.msg, "\\x1b"));
}

static void test_mode(void **state) {
        char *a[] = { "/run/cvminit/modprobe", "-q", "--", "crypto-xts", NULL };
        char *b[] = { "modprobe", "x", NULL };
        char *c[] = { "/init", "--modprobe", "x", NULL };
        char *d[] = { "/init", "--config", "x", NULL };
        char *e[] = { "/usr/sbin/cvminit", NULL };

        (void) state;
        assert_true(modprobe_mode(4, a));
        assert_true(modprobe_mode(2, b));
        assert_true(modprobe_mode(3, c));
        assert_false(modprobe_mode(3, d));
        assert_false(modprobe_mode(1, e));
        assert_false(modprobe_mode(0, e));
}

static void test_usage(void **state) {
        char *none[] = { "modprobe", NULL };
        char *two[] = { "modprobe", "-q", "--", "a", "b", NULL };
        char *opt[] = { "modprobe", "-r", "a", NULL };
        char *only_opts[] = { "/init", "--modprobe", "-q", "--", NULL };

        (void) state;
        assert_int_equal(modprobe_main(1, none), 2);
        assert_int_equal(modprobe_main(5, two), 2);
        assert_int_equal(modprobe_main(3, opt), 2);
        assert_int_equal(modprobe_main(4, only_opts), 2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_not_found),
                cmocka_unit_test(test_bad_names),
                cmocka_unit_test(test_mode),
                cmocka_unit_test(test_usage),
        };
        return cmocka_run_group_tests(tests, tmptree_setup, tmptree_teardown);
}
