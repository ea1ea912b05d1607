/* SPDX-License-Identifier: MIT */
/* init/cmdline.c: the kernel command line parameters PID 1 reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cmdline.h"
#include "log.h"
#include "tmptree.h"

static int parse(const char *s, struct boot_cmdline *c, errbuf *err) {
        *err = (errbuf) {};
        return cmdline_parse(s, strlen(s), c, err);
}

static void test_defaults(void **state) {
        struct boot_cmdline c;
        errbuf err;

        (void) state;
        assert_int_equal(parse("console=ttyS0 quiet root=/dev/ram0 foo=\"a b\" init=/init\n", &c, &err), 0);
        assert_null(c.config);
        assert_null(c.tcti);
        assert_null(c.ip);
        assert_int_equal(c.reg, REGISTER_AUTO);
        assert_int_equal(c.pcr, 14);
        assert_int_equal(c.on_failure, POWER_OFF);
        assert_int_equal(c.log_level, -1);
        cmdline_done(&c);
        assert_int_equal(parse("", &c, &err), 0);
        cmdline_done(&c);
}

static void test_all(void **state) {
        struct boot_cmdline c;
        errbuf err;

        (void) state;
        assert_int_equal(parse("console=ttyS0 cvminit.config=/etc/x.json cvminit.register=tpm cvminit.pcr=15 "
                               "cvminit.tcti=swtpm:host=127.0.0.1,port=2321 cvminit.on_failure=reboot "
                               "cvminit.log_level=debug ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off panic=-1\n",
                               &c, &err),
                         0);
        assert_string_equal(c.config, "/etc/x.json");
        assert_int_equal(c.reg, REGISTER_TPM);
        assert_int_equal(c.pcr, 15);
        assert_string_equal(c.tcti, "swtpm:host=127.0.0.1,port=2321");
        assert_int_equal(c.on_failure, POWER_REBOOT);
        assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
        assert_string_equal(c.ip, "10.0.2.15::10.0.2.2:255.255.255.0::eth0:off");
        cmdline_done(&c);
}

static void test_kernel_rules(void **state) {
        struct boot_cmdline c;
        errbuf err;

        (void) state;
        /* Quotes removed, spaces inside them kept. */
        assert_int_equal(parse("cvminit.tcti=\"device:/dev/tpm rm0\" \"cvminit.config=/a b\"", &c, &err), 0);
        assert_string_equal(c.tcti, "device:/dev/tpm rm0");
        assert_string_equal(c.config, "/a b");
        cmdline_done(&c);
        /* The last value wins; '-' and '_' are the same in names. */
        assert_int_equal(parse("cvminit.pcr=15 cvminit.on-failure=halt\tcvminit.pcr=16", &c, &err), 0);
        assert_int_equal(c.pcr, 16);
        assert_int_equal(c.on_failure, POWER_HALT);
        cmdline_done(&c);
        /* After "--" come init's arguments, not parameters. */
        assert_int_equal(parse("cvminit.pcr=15 -- cvminit.pcr=99 cvminit.bogus", &c, &err), 0);
        assert_int_equal(c.pcr, 15);
        cmdline_done(&c);
}

static void expect_error(const char *s, int r, const char *needle) {
        struct boot_cmdline c;
        errbuf err;

        assert_int_equal(parse(s, &c, &err), r);
        if (!strstr(err.msg, needle))
                fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, needle);
        assert_null(c.config);
        assert_null(c.tcti);
        assert_null(c.ip);
}

static void test_errors(void **state) {
        char *big;

        (void) state;
        expect_error("cvminit.pcr=24", -EINVAL, "cvminit.pcr=24");
        expect_error("cvminit.pcr=1x", -EINVAL, "PCR index");
        expect_error("cvminit.pcr=", -EINVAL, "cvminit.pcr");
        expect_error("cvminit.pcr=-1", -EINVAL, "cvminit.pcr");
        expect_error("cvminit.register=sev", -EINVAL, "auto, tpm or tdx");
        expect_error("cvminit.on_failure=explode", -EINVAL, "poweroff, reboot or halt");
        expect_error("cvminit.log_level=loud", -EINVAL, "cvminit.log_level");
        expect_error("cvminit.config=etc/x.json", -EINVAL, "absolute");
        expect_error("cvminit.tcti=", -EINVAL, "cvminit.tcti");
        expect_error("ip=1.2.3.4::1.2.3.1:255.255.255.0::eth0:off cvminit.unknown=1", -EINVAL,
                     "unknown parameter cvminit.unknown");
        expect_error("cvminit.pcr", -EINVAL, "needs a value");
        expect_error("ip", -EINVAL, "ip");
        expect_error("cvminit.config=/\x1b[31m", -EINVAL, "control characters");
        assert_int_equal(cmdline_parse("a\0b", 3, &(struct boot_cmdline) {}, NULL), -EINVAL);

        big = malloc(CMDLINE_SIZE_MAX + 2);
        assert_non_null(big);
        memset(big, 'a', CMDLINE_SIZE_MAX + 1);
        big[CMDLINE_SIZE_MAX + 1] = 0;
        expect_error(big, -EFBIG, "longer than");
        /* One value longer than the limit. */
        memcpy(big, "cvminit.tcti=", 13);
        big[13 + CMDLINE_VALUE_MAX + 1] = 0;
        expect_error(big, -EINVAL, "too long");
        free(big);
}

static void test_escaped_in_messages(void **state) {
        struct boot_cmdline c;
        errbuf err;

        (void) state;
        assert_int_equal(parse("cvminit.pcr=\x01\x7f", &c, &err), -EINVAL);
        assert_non_null(strstr(err.msg, "\\x01\\x7f"));
}

static void test_read(void **state) {
        struct boot_cmdline c;
        errbuf err = {};
        FILE *f;

        (void) state;
        f = fopen(at("cmdline"), "w");
        assert_non_null(f);
        fputs("BOOT_IMAGE=/vmlinuz cvminit.pcr=7 ip=off\n", f);
        fclose(f);
        assert_int_equal(cmdline_read(at("cmdline"), &c, &err), 0);
        assert_int_equal(c.pcr, 7);
        assert_string_equal(c.ip, "off");
        cmdline_done(&c);
        assert_int_equal(cmdline_read(at("missing"), &c, &err), -ENOENT);
        assert_non_null(strstr(err.msg, "missing"));
}

static void test_names(void **state) {
        (void) state;
        assert_string_equal(register_kind_name(REGISTER_TDX), "tdx");
        assert_string_equal(power_action_name(POWER_REBOOT), "reboot");
        assert_int_equal(power_action_from_name("halt"), POWER_HALT);
        assert_int_equal(power_action_from_name("Halt"), -EINVAL);
        assert_int_equal(power_action_from_name(NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_all),
                cmocka_unit_test(test_kernel_rules),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_escaped_in_messages),
                cmocka_unit_test(test_read),
                cmocka_unit_test(test_names),
        };
        return cmocka_run_group_tests(tests, tmptree_setup, tmptree_teardown);
}
