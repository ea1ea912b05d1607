/* SPDX-License-Identifier: MIT */
/* The config's `disk` section (agent/config.c, docs/config.md): a full section parses to its
 * values, a minimal one gets the documented defaults, every bad value is refused with a message
 * naming the key, and SERIAL= is a device spec for mounts too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "configparse.h"

#define WORKLOAD "\"workload\": {\"exec\": [\"/bin/app\"]}"

static void test_full(void **state) {
        _cleanup_(config_freep) struct config *c = configparse_text(
                "{\"version\": 1, " WORKLOAD ", \"disk\": {\"name\": \"data\", \"device\": \"SERIAL=cvm-data\", "
                "\"path\": \"/var/lib/app\", \"format\": \"never\", \"cipher\": \"aes-xts-plain64\", "
                "\"integrity\": \"none\", \"fs\": \"ext4\", \"options\": \"nosuid,nodev,noexec\", \"timeout_ms\": 2500}}",
                0, NULL);

        (void) state;
        assert_non_null(c->disk);
        assert_string_equal(c->disk->name, "data");
        assert_string_equal(c->disk->device, "SERIAL=cvm-data");
        assert_string_equal(c->disk->path, "/var/lib/app");
        assert_int_equal(c->disk->format, DISK_FORMAT_NEVER);
        assert_string_equal(disk_format_name(c->disk->format), "never");
        assert_string_equal(c->disk->cipher, "aes-xts-plain64");
        assert_string_equal(c->disk->integrity, "none");
        assert_string_equal(c->disk->fs, "ext4");
        assert_string_equal(c->disk->options, "nosuid,nodev,noexec");
        assert_int_equal(c->disk->timeout_ms, 2500);
}

static void test_defaults(void **state) {
        _cleanup_(config_freep) struct config *c = configparse_text(
                "{\"version\": 1, " WORKLOAD ", \"disk\": {\"name\": \"d\", \"device\": \"/dev/vdb\", \"path\": \"/data\"}}",
                0, NULL);
        _cleanup_(config_freep) struct config *none = configparse_text("{\"version\": 1, " WORKLOAD "}", 0, NULL);
        _cleanup_(config_freep) struct config *gcm = configparse_text(
                "{\"version\": 1, " WORKLOAD ", \"disk\": {\"name\": \"d\", \"device\": \"/dev/vdb\", \"path\": \"/data\", "
                "\"cipher\": \"aes-gcm-random\"}}",
                0, NULL);

        (void) state;
        assert_null(none->disk);
        assert_int_equal(c->disk->format, DISK_FORMAT_IF_EMPTY);
        assert_string_equal(c->disk->cipher, "aes-xts-plain64");
        assert_string_equal(c->disk->integrity, "hmac-sha256");
        assert_string_equal(c->disk->fs, "ext4");
        assert_string_equal(c->disk->options, "nosuid,nodev");
        assert_int_equal(c->disk->timeout_ms, 10000);
        /* AEAD carries its own tags: its integrity defaults to aead. */
        assert_string_equal(gcm->disk->integrity, "aead");
}

#define DISK(members) "{\"version\": 1, " WORKLOAD ", \"disk\": {" members "}}"
#define BASE "\"name\": \"data\", \"device\": \"/dev/vdb\", \"path\": \"/data\""

static void test_bad(void **state) {
        static const struct {
                const char *text, *message;
        } bad[] = {
                { "{\"version\": 1, " WORKLOAD ", \"disk\": []}", "disk: expected an object" },
                { DISK("\"device\": \"/dev/vdb\", \"path\": \"/data\""), "disk.name: required key missing" },
                { DISK("\"name\": \"data\", \"path\": \"/data\""), "disk.device: required key missing" },
                { DISK("\"name\": \"data\", \"device\": \"/dev/vdb\""), "disk.path: required key missing" },
                { DISK(BASE ", \"size\": 5"), "disk.size: unknown key" },
                { DISK("\"name\": \"../x\", \"device\": \"/dev/vdb\", \"path\": \"/data\""), "disk.name: '../x' is not a name" },
                { DISK("\"name\": \"d\", \"device\": \"vdb\", \"path\": \"/data\""), "disk.device: 'vdb' is not LABEL=" },
                { DISK("\"name\": \"d\", \"device\": \"SERIAL=\", \"path\": \"/data\""), "disk.device: 'SERIAL=' is not" },
                { DISK("\"name\": \"d\", \"device\": \"UUID=xyz\", \"path\": \"/data\""), "disk.device: 'UUID=xyz' is not" },
                { DISK("\"name\": \"d\", \"device\": \"/dev/vdb\", \"path\": \"/\""), "disk.path: '/' is not allowed" },
                { DISK("\"name\": \"d\", \"device\": \"/dev/vdb\", \"path\": \"/run/x\""), "disk.path: '/run/x' is not allowed" },
                { DISK("\"name\": \"d\", \"device\": \"/dev/vdb\", \"path\": \"data\""), "disk.path: 'data' is not an absolute path" },
                { DISK(BASE ", \"format\": \"always\""), "disk.format: expected one of if-empty, never" },
                { DISK(BASE ", \"format\": true"), "disk.format: expected one of if-empty, never" },
                { DISK(BASE ", \"cipher\": \"aes-cbc-essiv:sha256\""), "disk.cipher: expected one of aes-xts-plain64, aes-gcm-random" },
                { DISK(BASE ", \"integrity\": \"hmac-sha1\""), "disk.integrity: expected one of hmac-sha256, aead, none" },
                { DISK(BASE ", \"integrity\": \"aead\""), "disk.integrity: 'aead' does not go with cipher 'aes-xts-plain64'" },
                { DISK(BASE ", \"cipher\": \"aes-gcm-random\", \"integrity\": \"hmac-sha256\""),
                  "disk.integrity: 'hmac-sha256' does not go with cipher 'aes-gcm-random'" },
                { DISK(BASE ", \"fs\": \"xfs\""), "disk.fs: expected one of ext4" },
                { DISK(BASE ", \"options\": \"a b\""), "disk.options: 'a b' is not a mount option list" },
                { DISK(BASE ", \"timeout_ms\": 600001"), "disk.timeout_ms: expected an integer from 0 to 600000" },
                { DISK(BASE ", \"timeout_ms\": null"), "disk.timeout_ms: expected an integer" },
                { "{\"version\": 1, " WORKLOAD ", \"mounts\": [{\"device\": \"LABEL=m\", \"path\": \"/data\", \"fs\": \"ext4\"}], "
                  "\"disk\": {" BASE "}}",
                  "disk.path: same mount point as mounts[0]" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_null(configparse_text(bad[i].text, -EINVAL, bad[i].message));
}

static void test_serial_mount(void **state) {
        _cleanup_(config_freep) struct config *c = configparse_text(
                "{\"version\": 1, " WORKLOAD ", \"mounts\": [{\"device\": \"SERIAL=models 01\", \"path\": \"/models\", "
                "\"fs\": \"ext4\"}]}",
                0, NULL);

        (void) state;
        assert_string_equal(c->mounts[0].device, "SERIAL=models 01");
        assert_null(configparse_text("{\"version\": 1, " WORKLOAD ", \"mounts\": [{\"device\": \"SERIAL=a\\nb\", \"path\": \"/m\", "
                          "\"fs\": \"ext4\"}]}",
                          -EINVAL, "mounts[0].device"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_serial_mount),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
