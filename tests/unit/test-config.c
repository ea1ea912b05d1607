/* SPDX-License-Identifier: MIT */
/* The configuration (agent/config.c, docs/config.md): good fixtures parse to the values written in
 * them (and the documented defaults), every bad fixture is refused with a message naming the key,
 * limits hold at N and fail at N+1, the sources are tried in the documented order, and the `config`
 * event carries SHA-384 of the raw bytes (FIPS 180-2 vector for "abc"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tmptree.h"

#include "config.h"
#include "jcs.h"

#define FIXTURES "tests/fixtures/config/"
#define SHA384_ABC                                                                                    \
        "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"

static struct config *parse_text(const char *text, int expect_r, const char *expect_msg) {
        struct config *c = NULL;
        errbuf err = {};
        int r = config_parse((const uint8_t *) text, strlen(text), &c, &err);

        if (r != expect_r)
                fail_msg("config_parse returned %d (%s), expected %d", r, err.msg, expect_r);
        if (expect_msg && !strstr(err.msg, expect_msg))
                fail_msg("message '%s' does not contain '%s'", err.msg, expect_msg);
        return c;
}

static struct config *parse_fixture(const char *name, int expect_r, const char *expect_msg) {
        _cleanup_free_ uint8_t *p = NULL;
        char path[256];
        size_t n = 0;
        struct config *c = NULL;
        errbuf err = {};
        int r;

        snprintf(path, sizeof(path), FIXTURES "%s", name);
        assert_int_equal(read_file_limited(path, CONFIG_SIZE_MAX, &p, &n), 0);
        r = config_parse(p, n, &c, &err);
        if (r != expect_r)
                fail_msg("%s: config_parse returned %d (%s), expected %d", name, r, err.msg, expect_r);
        if (expect_msg && !strstr(err.msg, expect_msg))
                fail_msg("%s: message '%s' does not contain '%s'", name, err.msg, expect_msg);
        if (r < 0)
                assert_null(c);
        return c;
}

static void test_full(void **state) {
        _cleanup_(config_freep) struct config *c = parse_fixture("good-full.json", 0, NULL);
        const struct workload *w = &c->workload;
        uint8_t ab[48];

        (void) state;
        assert_int_equal(c->version, 1);
        assert_int_equal(c->n_modules, 3);
        assert_string_equal(c->modules[0], "virtio_blk");
        assert_string_equal(c->modules[2], "qemu_fw_cfg");
        assert_null(c->modules[3]);

        assert_int_equal(c->n_mounts, 2);
        assert_string_equal(c->mounts[0].device, "LABEL=models");
        assert_string_equal(c->mounts[0].path, "/models");
        assert_string_equal(c->mounts[0].fs, "ext4");
        assert_string_equal(c->mounts[0].options, "ro,nosuid,nodev,noexec");
        assert_int_equal(c->mounts[0].timeout_ms, 20000);
        assert_string_equal(c->mounts[1].device, "/dev/vdc");
        assert_string_equal(c->mounts[1].options, "ro,nosuid,nodev"); /* default */
        assert_int_equal(c->mounts[1].timeout_ms, 10000);             /* default */

        assert_int_equal(c->n_models, 2);
        assert_string_equal(c->models[0].name, "tiny");
        assert_int_equal(c->models[0].alg, HASH_SHA256);
        assert_memory_equal(c->models[0].expect, "\x6b\x6f\x0e\x4f\xb4\xb2\xbb\x6d", 8);
        assert_int_equal(c->models[0].expect[31], 0x69);
        assert_string_equal(c->models[0].manifest, "/models/manifests/tiny.json");
        assert_string_equal(c->models[1].name, "embed-v2");
        assert_int_equal(c->models[1].alg, HASH_SHA384);
        memset(ab, 0xab, sizeof(ab));
        assert_memory_equal(c->models[1].expect, ab, 48);
        assert_string_equal(c->models[1].manifest, "/models/embed.manifest.json"); /* default */

        assert_int_equal(w->n_exec, 5);
        assert_string_equal(w->exec[0], "/opt/app/bin/serve");
        assert_string_equal(w->exec[4], "/models/tiny");
        assert_null(w->exec[5]);
        assert_int_equal(w->n_env, 3);
        assert_string_equal(w->env[0], "PORT=8000"); /* document order */
        assert_string_equal(w->env[1], "HF_HUB_OFFLINE=1");
        assert_string_equal(w->env[2], "LANG=C.UTF-8");
        assert_null(w->env[3]);
        assert_int_equal(w->user, 1000);
        assert_int_equal(w->group, 1000);
        assert_string_equal(w->cwd, "/opt/app");
        assert_int_equal(w->restart, WORKLOAD_RESTART_ON_FAILURE);
        assert_int_equal(w->restart_max, 5);
        assert_int_equal(w->restart_delay_ms, 500);
        assert_int_equal(w->stop_timeout_ms, 15000);
        assert_int_equal(w->on_exit, WORKLOAD_ON_EXIT_REBOOT);
}

static void test_defaults(void **state) {
        _cleanup_(config_freep) struct config *c = parse_fixture("good-minimal.json", 0, NULL);
        const struct workload *w = &c->workload;

        (void) state;
        assert_int_equal(c->n_modules, 0);
        assert_non_null(c->modules);
        assert_null(c->modules[0]);
        assert_int_equal(c->n_mounts, 0);
        assert_int_equal(c->n_models, 0);
        assert_int_equal(w->n_exec, 1);
        assert_int_equal(w->n_env, 0);
        assert_non_null(w->env);
        assert_null(w->env[0]);
        assert_int_equal(w->user, 0);
        assert_int_equal(w->group, 0);
        assert_string_equal(w->cwd, "/");
        assert_int_equal(w->restart, WORKLOAD_RESTART_NO);
        assert_int_equal(w->restart_max, 3);
        assert_int_equal(w->restart_delay_ms, 1000);
        assert_int_equal(w->stop_timeout_ms, 10000);
        assert_int_equal(w->on_exit, WORKLOAD_ON_EXIT_POWEROFF);
        assert_string_equal(workload_restart_name(w->restart), "no");
        assert_string_equal(workload_on_exit_name(w->on_exit), "poweroff");
}

static const struct {
        const char *file, *message;
} bad[] = {
        { "bad-syntax.json", "not valid JSON: line 3, column 0: string or '}' expected near end of file" },
        { "bad-empty.json", "not valid JSON" },
        { "bad-duplicate-key.json", "duplicate object key" },
        { "bad-utf8.json", "not valid JSON: line 1, column 50: unable to decode byte 0xff" },
        { "bad-exec-nul.json", "not valid JSON: line 1, column 59: \\x5cu0000 is not allowed" },
        { "bad-not-object.json", "the document: expected an object" },
        { "bad-unknown-key.json", "measure: unknown key (the register is chosen on the kernel command line" },
        { "bad-unknown-key-typo.json", "model: unknown key" },
        { "bad-unknown-workload-key.json", "workload.user_name: unknown key" },
        { "bad-missing-version.json", "version: required key missing" },
        { "bad-version.json", "version: 2 is not supported" },
        { "bad-version-type.json", "version: expected an integer" },
        { "bad-missing-workload.json", "workload: required key missing" },
        { "bad-restart.json", "workload.restart: expected one of no, on-failure, always" },
        { "bad-on-exit.json", "workload.on_exit: expected one of poweroff, reboot" },
        { "bad-restart-delay.json", "workload.restart_delay_ms: expected an integer from 0 to 60000" },
        { "bad-stop-timeout.json", "workload.stop_timeout_ms: expected an integer" },
        { "bad-restart-max.json", "workload.restart_max: expected an integer from 0 to 1000000" },
        { "bad-exec-missing.json", "workload.exec: required key missing" },
        { "bad-exec-empty.json", "workload.exec: must name at least the program" },
        { "bad-exec-relative.json", "workload.exec[0]: 'app' is not an absolute path" },
        { "bad-exec-dotdot.json", "workload.exec[0]: '/opt/../bin/sh' is not an absolute path" },
        { "bad-exec-type.json", "workload.exec[1]: expected a string" },
        { "bad-env-type.json", "workload.env: expected an object" },
        { "bad-env-name.json", "workload.env.1X: not a variable name" },
        { "bad-env-name-eq.json", "workload.env.A=B: not a variable name" },
        { "bad-env-value.json", "workload.env.PORT: expected a string" },
        { "bad-user-range.json", "workload.user: expected an integer from 0 to 2147483647" },
        { "bad-user-big.json", "workload.user: expected an integer from 0 to 2147483647" },
        { "bad-user-type.json", "workload.user: expected an integer" },
        { "bad-group-null.json", "workload.group: expected an integer" },
        { "bad-cwd.json", "workload.cwd: 'tmp' is not an absolute path" },
        { "bad-cwd-trailing.json", "workload.cwd: '/tmp/' is not an absolute path" },
        { "bad-modules-type.json", "modules: expected an array" },
        { "bad-module-name.json", "modules[1]: '../evil' is not a name" },
        { "bad-module-dup.json", "modules[1]: duplicate of modules[0]" },
        { "bad-mounts-type.json", "mounts: expected an array" },
        { "bad-mount-not-object.json", "mounts[0]: expected an object" },
        { "bad-mount-unknown.json", "mounts[0].readonly: unknown key" },
        { "bad-mount-device.json", "mounts[0].device: 'sda' is not LABEL=" },
        { "bad-mount-uuid.json", "mounts[0].device: 'UUID=not-a-uuid!' is not" },
        { "bad-mount-path-proc.json", "mounts[0].path: '/proc/x' is not allowed" },
        { "bad-mount-path-root.json", "mounts[0].path: '/' is not allowed" },
        { "bad-mount-fs-missing.json", "mounts[0].fs: required key missing" },
        { "bad-mount-options.json", "mounts[0].options: 'ro, nodev' is not a mount option list" },
        { "bad-mount-timeout.json", "mounts[0].timeout_ms: expected an integer from 0 to 600000" },
        { "bad-mount-dup.json", "mounts[1].path: same mount point as mounts[0]" },
        { "bad-model-no-expect.json", "models[0].expect: required key missing" },
        { "bad-model-expect-null.json", "models[0].expect: expected a string" },
        { "bad-model-expect-alg.json", "models[0].expect: 'sha256:0000" },
        { "bad-model-expect-alg.json", "is not sha384:<96 hex digits>" },
        { "bad-model-expect-hex.json", "models[0].expect: 'sha256:gggg" },
        { "bad-model-expect-short.json", "models[0].expect: 'sha256:abcd' is not sha256:<64 hex digits>" },
        { "bad-model-alg.json", "models[0].alg: expected one of sha256, sha384, sha512" },
        { "bad-model-name.json", "models[0].name: '../x' is not a name" },
        { "bad-model-name-dot.json", "models[0].name: '.hidden' is not a name" },
        { "bad-model-path.json", "models[0].path: 'models/tiny' is not an absolute path" },
        { "bad-model-path-root.json", "models[0].path: '/' is not an absolute path of a model directory other than /" },
        { "bad-model-manifest.json", "models[0].manifest: 'tiny.json' is not an absolute path" },
        { "bad-model-dup.json", "models[1].name: same name as models[0]" },
        { "bad-model-unknown.json", "models[0].digest: unknown key" },
};

static void test_bad_fixtures(void **state) {
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                parse_fixture(bad[i].file, -EINVAL, bad[i].message);
}

/* A document with the workload given and one top-level member built by the caller. */
static char *doc(const char *member) {
        char *s = NULL;
        assert_true(asprintf(&s, "{\"version\":1,%s%s\"workload\":{\"exec\":[\"/bin/app\"]}}", member,
                             *member ? "," : "") > 0);
        return s;
}

/* "[item0,item1,...]" with n items from a printf format taking the index twice. */
static char *array_of(size_t n, const char *format) {
        struct buf b = {};
        assert_int_equal(buf_append_str(&b, "["), 0);
        for (size_t i = 0; i < n; i++) {
                if (i)
                        assert_int_equal(buf_append_str(&b, ","), 0);
                assert_int_equal(buf_printf(&b, format, i, i), 0);
        }
        assert_int_equal(buf_append_str(&b, "]"), 0);
        return buf_steal(&b, NULL);
}

static void check_array_limit(const char *key, size_t limit, const char *format) {
        for (size_t n = limit; n <= limit + 1; n++) {
                _cleanup_free_ char *a = array_of(n, format), *member = NULL, *text = NULL, *msg = NULL;
                assert_true(asprintf(&member, "\"%s\":%s", key, a) > 0);
                text = doc(member);
                assert_true(asprintf(&msg, "%s: %zu entries, more than the limit of %zu", key, n, limit) > 0);
                config_free(parse_text(text, n == limit ? 0 : -EINVAL, n == limit ? NULL : msg));
        }
}

#define SHA256_ZERO "0000000000000000000000000000000000000000000000000000000000000000"

static void test_array_limits(void **state) {
        (void) state;
        check_array_limit("modules", CONFIG_MODULES_MAX, "\"mod%zu_%zu\"");
        check_array_limit("mounts", CONFIG_MOUNTS_MAX,
                          "{\"device\":\"LABEL=d%zu\",\"path\":\"/m%zu\",\"fs\":\"ext4\"}");
        check_array_limit("models", CONFIG_MODELS_MAX,
                          "{\"name\":\"m%zu\",\"path\":\"/models/%zu\",\"expect\":\"sha256:" SHA256_ZERO "\"}");
}

static void check_workload(const char *workload, int expect_r, const char *msg) {
        _cleanup_free_ char *text = NULL;
        assert_true(asprintf(&text, "{\"version\":1,\"workload\":%s}", workload) > 0);
        config_free(parse_text(text, expect_r, msg));
}

static void test_workload_limits(void **state) {
        _cleanup_free_ char *args = NULL, *big = NULL, *w = NULL;
        struct buf env = {};

        (void) state;
        for (size_t n = CONFIG_EXEC_MAX; n <= CONFIG_EXEC_MAX + 1; n++) {
                free(args);
                args = array_of(n, "\"/bin/a%zu%zu\"");
                free(w);
                assert_true(asprintf(&w, "{\"exec\":%s}", args) > 0);
                check_workload(w, n == CONFIG_EXEC_MAX ? 0 : -EINVAL,
                               n == CONFIG_EXEC_MAX ? NULL : "workload.exec: 257 entries, more than the limit of 256");
        }
        for (size_t n = 0; n <= CONFIG_ENV_MAX + 1; n++) {
                if (n == CONFIG_ENV_MAX || n == CONFIG_ENV_MAX + 1) {
                        free(w);
                        assert_true(asprintf(&w, "{\"exec\":[\"/a\"],\"env\":{%s}}", env.data) > 0);
                        check_workload(w, n == CONFIG_ENV_MAX ? 0 : -EINVAL,
                                       n == CONFIG_ENV_MAX ? NULL : "workload.env: 257 entries, more than the limit of 256");
                }
                assert_int_equal(buf_printf(&env, "%s\"V%zu\":\"x\"", n ? "," : "", n), 0);
        }
        buf_free(&env);

        /* exec + env bytes: "/a" (2) + "K" (1) + value of 32765 = exactly the limit; one more fails. */
        for (size_t extra = 0; extra <= 1; extra++) {
                free(big);
                big = malloc(CONFIG_WORKLOAD_BYTES_MAX);
                memset(big, 'v', CONFIG_WORKLOAD_BYTES_MAX - 3 + extra);
                big[CONFIG_WORKLOAD_BYTES_MAX - 3 + extra] = 0;
                free(w);
                assert_true(asprintf(&w, "{\"exec\":[\"/a\"],\"env\":{\"K\":\"%s\"}}", big) > 0);
                check_workload(w, extra ? -EINVAL : 0, extra ? "workload: exec and env hold 32769 bytes" : NULL);
        }
}

static void test_value_limits(void **state) {
        char name[80], path[CONFIG_PATH_MAX + 2], *w = NULL;

        (void) state;
        /* Names: 64 characters pass, 65 fail. */
        memset(name, 'n', sizeof(name));
        for (size_t n = CONFIG_NAME_MAX; n <= CONFIG_NAME_MAX + 1; n++) {
                _cleanup_free_ char *member = NULL, *text = NULL;
                name[n] = 0;
                assert_true(asprintf(&member, "\"modules\":[\"%s\"]", name) > 0);
                text = doc(member);
                config_free(parse_text(text, n == CONFIG_NAME_MAX ? 0 : -EINVAL,
                                       n == CONFIG_NAME_MAX ? NULL : "modules[0]: 'nnnn"));
                name[n] = 'n';
        }
        /* Paths: 4095 bytes pass, 4096 fail. */
        for (size_t n = CONFIG_PATH_MAX; n <= CONFIG_PATH_MAX + 1; n++) {
                memset(path, 'p', n);
                path[0] = '/';
                for (size_t i = 200; i < n - 1; i += 200)
                        path[i] = '/';
                path[n] = 0;
                assert_true(asprintf(&w, "{\"exec\":[\"/a\"],\"cwd\":\"%s\"}", path) > 0);
                check_workload(w, n == CONFIG_PATH_MAX ? 0 : -EINVAL,
                               n == CONFIG_PATH_MAX ? NULL : "workload.cwd: '/ppp");
                free(w);
        }
        /* Boundaries of the numbers. */
        check_workload("{\"exec\":[\"/a\"],\"user\":2147483647,\"group\":2147483647,\"restart_max\":1000000,"
                       "\"restart_delay_ms\":60000,\"stop_timeout_ms\":600000}", 0, NULL);
        check_workload("{\"exec\":[\"/a\"],\"group\":2147483648}", -EINVAL,
                       "workload.group: expected an integer from 0 to 2147483647");
        check_workload("{\"exec\":[\"/a\"],\"stop_timeout_ms\":600001}", -EINVAL,
                       "workload.stop_timeout_ms: expected an integer from 0 to 600000");
        check_workload("{\"exec\":[\"/a\"],\"restart_max\":1000001}", -EINVAL, "workload.restart_max");
}

static void test_size_limit(void **state) {
        size_t n = CONFIG_SIZE_MAX + 1;
        _cleanup_free_ uint8_t *p = malloc(n);
        struct config *c = NULL;
        errbuf err = {};

        (void) state;
        memset(p, ' ', n);
        assert_int_equal(config_parse(p, n, &c, &err), -EFBIG);
        assert_non_null(strstr(err.msg, "more than the limit of 1048576"));
        assert_null(c);
}

static void test_escaped_key(void **state) {
        (void) state;
        /* A control character in an unknown key is shown escaped, never raw. */
        config_free(parse_text("{\"version\":1,\"a\\nb\":1,\"workload\":{\"exec\":[\"/a\"]}}", -EINVAL,
                               "a\\x0ab: unknown key"));
}

/* ---- sources ---- */

static void read_expect(const char *cmdline_config, const char *override, int expect_r, const char *expect_source,
                        const char *expect_content, const char *expect_msg) {
        _cleanup_free_ uint8_t *p = NULL;
        _cleanup_free_ char *source = NULL;
        size_t n = 0;
        errbuf err = {};
        int r;

        r = config_read(cmdline_config, override, &p, &n, &source, &err);
        if (r != expect_r)
                fail_msg("config_read returned %d (%s), expected %d", r, err.msg, expect_r);
        if (expect_source)
                assert_string_equal(source, expect_source);
        if (expect_content) {
                assert_int_equal(n, strlen(expect_content));
                assert_memory_equal(p, expect_content, n);
        }
        if (expect_msg && !strstr(err.msg, expect_msg))
                fail_msg("message '%s' does not contain '%s'", err.msg, expect_msg);
}

/* The order of sources; how cvminit.config= is split off the kernel command line is test-cmdline's. */
static void test_sources(void **state) {
        char source[8192], fw[4096], initrd[4096], named[4096];

        (void) state;
        put("from-cmdline.json", "cmdline");
        put("fw_cfg/raw", "fw_cfg");
        put("etc/config.json", "initramfs");
        snprintf(fw, sizeof(fw), "%s", at("fw_cfg/raw"));
        snprintf(initrd, sizeof(initrd), "%s", at("etc/config.json"));
        setenv("CVMINIT_FW_CFG_CONFIG", fw, 1);
        setenv("CVMINIT_INITRAMFS_CONFIG", initrd, 1);

        /* --config wins over everything. */
        snprintf(named, sizeof(named), "%s", at("from-cmdline.json"));
        snprintf(source, sizeof(source), "file:%s", named);
        read_expect("/nonexistent", named, 0, source, "cmdline", NULL);
        /* Then cvminit.config=. */
        read_expect(named, NULL, 0, source, "cmdline", NULL);
        /* A named file that is missing is an error, not a reason to fall back. */
        read_expect("/nonexistent/config.json", NULL, -ENOENT, NULL, NULL,
                    "cannot read the configuration /nonexistent/config.json");
        read_expect("relative.json", NULL, -EINVAL, NULL, NULL, "cvminit.config= 'relative.json' is not an absolute");
        /* Then fw_cfg, then the initramfs file. */
        read_expect(NULL, NULL, 0, "fw_cfg:opt/cvminit/config", "fw_cfg", NULL);
        assert_int_equal(unlink(fw), 0);
        read_expect(NULL, NULL, 0, "initramfs:/etc/cvminit/config.json", "initramfs", NULL);
        assert_int_equal(unlink(initrd), 0);
        read_expect(NULL, NULL, -ENOENT, NULL, NULL, "no configuration: no cvminit.config=");
        unsetenv("CVMINIT_FW_CFG_CONFIG");
        unsetenv("CVMINIT_INITRAMFS_CONFIG");
}

static void test_source_size(void **state) {
        _cleanup_free_ char *big = malloc(CONFIG_SIZE_MAX + 2);
        char path[4096];

        (void) state;
        memset(big, ' ', CONFIG_SIZE_MAX);
        big[CONFIG_SIZE_MAX] = 0;
        put("big.json", big);
        snprintf(path, sizeof(path), "%s", at("big.json"));
        read_expect(NULL, path, 0, NULL, NULL, NULL);
        big[CONFIG_SIZE_MAX] = ' ';
        big[CONFIG_SIZE_MAX + 1] = 0;
        put("big.json", big);
        read_expect(NULL, path, -EFBIG, NULL, NULL, "larger than the limit of 1048576 bytes");
}

static void test_event_content(void **state) {
        _cleanup_free_ char *text = NULL;
        json_t *o = NULL;
        size_t n = 0;

        (void) state;
        assert_int_equal(config_event_content("fw_cfg:opt/cvminit/config", (const uint8_t *) "abc", 3, &o), 0);
        assert_int_equal(jcs_serialize(o, &text, &n), 0);
        assert_string_equal(text, "{\"sha384\":\"" SHA384_ABC "\",\"source\":\"fw_cfg:opt/cvminit/config\"}");
        json_decref(o);
        assert_int_equal(config_event_content("bad\xff", (const uint8_t *) "abc", 3, &o), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_bad_fixtures),
                cmocka_unit_test(test_array_limits),
                cmocka_unit_test(test_workload_limits),
                cmocka_unit_test(test_value_limits),
                cmocka_unit_test(test_size_limit),
                cmocka_unit_test(test_escaped_key),
                cmocka_unit_test(test_event_content),
                cmocka_unit_test_setup_teardown(test_sources, tmptree_setup, tmptree_teardown),
                cmocka_unit_test_setup_teardown(test_source_size, tmptree_setup, tmptree_teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
