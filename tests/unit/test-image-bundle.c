/* SPDX-License-Identifier: MIT */
/* An image workload's process, `workload` event and config.json (agent/image-bundle.c), from image
 * configs and workload configs written here: Entrypoint + Cmd, args replacing Cmd, exec replacing
 * both; Env with the config's values winning, CVMINIT_IMAGE_DIGEST added, a default PATH only when
 * none is set; User "UID:GID", "UID", "root", "" and names (refused unless the config sets the
 * user); WorkingDir and cwd; no command, a relative WorkingDir and oversized environments refused.
 * The event's canonical text is compared with one written by hand; config.json's process,
 * capabilities (none effective for a user other than root, MKNOD only with allow_devices),
 * noNewPrivileges, mounts (the model binds, resolv.conf) and namespaces with runtime-spec's names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "image-bundle.h"
#include "image-oci.h"
#include "jcs.h"

#define HEX "6a418e32c6591fcb9fbad0bea5bc8507bbf37ebb90104a56ed0ebba175e0d8ff"
#define ROOTFS "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}"

static struct config *cfg;
static struct oci_image_config *ic;

static void load(const char *workload, const char *image_config) {
        _cleanup_free_ char *text = NULL, *ictext = NULL;
        errbuf err = {};

        config_free(cfg);
        oci_config_free(ic);
        cfg = NULL;
        ic = NULL;
        assert_true(asprintf(&text, "{\"version\":1,\"images\":[{\"name\":\"app\",\"layout\":\"/l\",\"ref\":\"v1\"}],"
                                    "\"workload\":%s}", workload) > 0);
        if (config_parse((const uint8_t *) text, strlen(text), &cfg, &err) < 0)
                fail_msg("config: %s", err.msg);
        assert_true(asprintf(&ictext, "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":%s," ROOTFS "}",
                             image_config) > 0);
        if (oci_config_parse((const uint8_t *) ictext, strlen(ictext), &ic, &err) < 0)
                fail_msg("image config: %s", err.msg);
}

static int resolve(struct image_process *p, const char *want_msg) {
        errbuf err = {};
        int r = image_process_resolve(&cfg->workload, "app", ic, HEX, p, &err);

        if (want_msg && (r >= 0 || !strstr(err.msg, want_msg)))
                fail_msg("resolve: %d '%s', expected an error with '%s'", r, err.msg, want_msg);
        if (!want_msg && r < 0)
                fail_msg("resolve: %s", err.msg);
        return r;
}

static char *joined(char **v, size_t n) {
        struct buf b = {};
        for (size_t i = 0; i < n; i++)
                assert_int_equal(buf_printf(&b, "%s%s", i ? "|" : "", v[i]), 0);
        return b.data ? b.data : strdup("");
}

static void check(const struct image_process *p, const char *args, const char *env, uid_t uid, gid_t gid,
                  const char *cwd) {
        _cleanup_free_ char *a = joined(p->args, p->n_args), *e = joined(p->env, p->n_env);

        assert_string_equal(a, args);
        assert_string_equal(e, env);
        assert_null(p->args[p->n_args]);
        assert_null(p->env[p->n_env]);
        assert_int_equal(p->uid, uid);
        assert_int_equal(p->gid, gid);
        assert_string_equal(p->cwd, cwd);
}

#define IMG "{\"Entrypoint\":[\"/bin/server\",\"--x\"],\"Cmd\":[\"--port\",\"80\"],\"Env\":[\"PATH=/opt/bin\",\"A=image\"," \
            "\"B=image\"],\"User\":\"1000:1001\",\"WorkingDir\":\"/srv\"}"
#define DIG "CVMINIT_IMAGE_DIGEST=sha256:" HEX

static void test_process(void **state) {
        struct image_process p = {};

        (void) state;
        load("{\"image\":\"app\"}", IMG);
        resolve(&p, NULL);
        check(&p, "/bin/server|--x|--port|80", "PATH=/opt/bin|A=image|B=image|" DIG, 1000, 1001, "/srv");
        image_process_done(&p);
        /* args replace Cmd only; env values of the config win, new ones are added after. */
        load("{\"image\":\"app\",\"args\":[\"--port\",\"8000\"],\"env\":{\"B\":\"config\",\"C\":\"config\"}}", IMG);
        resolve(&p, NULL);
        check(&p, "/bin/server|--x|--port|8000", "PATH=/opt/bin|A=image|B=config|" "C=config|" DIG, 1000, 1001, "/srv");
        image_process_done(&p);
        /* exec replaces both; user, group and cwd of the config replace the image's. */
        load("{\"image\":\"app\",\"exec\":[\"sh\",\"-c\",\"x\"],\"user\":7,\"group\":8,\"cwd\":\"/tmp\"}", IMG);
        resolve(&p, NULL);
        check(&p, "sh|-c|x", "PATH=/opt/bin|A=image|B=image|" DIG, 7, 8, "/tmp");
        image_process_done(&p);
        /* The config's user without a group: gid 0, whatever the image says. */
        load("{\"image\":\"app\",\"user\":7}", IMG);
        resolve(&p, NULL);
        assert_int_equal(p.uid, 7);
        assert_int_equal(p.gid, 0);
        image_process_done(&p);
}

static void test_process_defaults(void **state) {
        struct image_process p = {};

        (void) state;
        /* No PATH anywhere: Docker's default; no User: root; no WorkingDir: /; the image's own
         * CVMINIT_IMAGE_DIGEST is replaced. */
        load("{\"image\":\"app\"}", "{\"Cmd\":[\"/app\"],\"Env\":[\"CVMINIT_IMAGE_DIGEST=forged\"]}");
        resolve(&p, NULL);
        check(&p, "/app", DIG "|PATH=" IMAGE_DEFAULT_PATH, 0, 0, "/");
        image_process_done(&p);
        load("{\"image\":\"app\"}", "{\"Entrypoint\":[\"/app\"],\"User\":\"root\"}");
        resolve(&p, NULL);
        check(&p, "/app", DIG "|PATH=" IMAGE_DEFAULT_PATH, 0, 0, "/");
        image_process_done(&p);
        load("{\"image\":\"app\"}", "{\"Entrypoint\":[\"/app\"],\"User\":\"65534\"}");
        resolve(&p, NULL);
        assert_int_equal(p.uid, 65534);
        assert_int_equal(p.gid, 0);
        image_process_done(&p);
        /* A config PATH counts as one. */
        load("{\"image\":\"app\",\"env\":{\"PATH\":\"/x\"}}", "{\"Entrypoint\":[\"/app\"]}");
        resolve(&p, NULL);
        check(&p, "/app", "PATH=/x|" DIG, 0, 0, "/");
        image_process_done(&p);
}

static void test_process_refused(void **state) {
        struct image_process p = {};
        struct buf b = {};

        (void) state;
        load("{\"image\":\"app\"}", "{\"Env\":[\"A=1\"]}");
        resolve(&p, "image app: no command: the image has neither Entrypoint nor Cmd");
        load("{\"image\":\"app\"}", "{\"Cmd\":[\"/x\"],\"User\":\"alice\"}");
        resolve(&p, "its User 'alice' is not UID or UID:GID in numbers");
        load("{\"image\":\"app\"}", "{\"Cmd\":[\"/x\"],\"User\":\"1000:staff\"}");
        resolve(&p, "its User '1000:staff'");
        load("{\"image\":\"app\"}", "{\"Cmd\":[\"/x\"],\"User\":\"99999999999\"}");
        resolve(&p, "its User '99999999999'");
        /* A name is fine when the config sets the user. */
        load("{\"image\":\"app\",\"user\":5,\"group\":5}", "{\"Cmd\":[\"/x\"],\"User\":\"alice\"}");
        resolve(&p, NULL);
        image_process_done(&p);
        load("{\"image\":\"app\"}", "{\"Cmd\":[\"/x\"],\"WorkingDir\":\"app\"}");
        resolve(&p, "its WorkingDir 'app' is not absolute");
        /* The event must stay small: 40 KiB of image environment. */
        assert_int_equal(buf_append_str(&b, "{\"Cmd\":[\"/x\"],\"Env\":["), 0);
        for (int i = 0; i < 40; i++)
                assert_int_equal(buf_printf(&b, "%s\"V%d=%01000d\"", i ? "," : "", i, 0), 0);
        assert_int_equal(buf_append_str(&b, "]}"), 0);
        load("{\"image\":\"app\"}", b.data);
        resolve(&p, "exceed 256 arguments, 514 variables or 32768 bytes");
        buf_free(&b);
}

static void test_event(void **state) {
        struct image_process p = {};
        _cleanup_free_ char *text = NULL;
        json_t *o = NULL;

        (void) state;
        load("{\"image\":\"app\",\"args\":[\"--port\",\"8000\"],\"restart\":\"on-failure\"}", IMG);
        resolve(&p, NULL);
        assert_int_equal(image_workload_event_content(&cfg->workload, "app", &p, &o), 0);
        assert_int_equal(jcs_serialize(o, &text, NULL), 0);
        assert_string_equal(text, "{\"env\":{\"A\":\"image\",\"B\":\"image\",\"CVMINIT_IMAGE_DIGEST\":\"sha256:" HEX
                                  "\",\"PATH\":\"/opt/bin\"},\"exec\":[\"/bin/server\",\"--x\",\"--port\",\"8000\"],"
                                  "\"image\":\"app\",\"restart\":\"on-failure\",\"user\":1000}");
        json_decref(o);
        image_process_done(&p);
}

static json_t *bundle(const struct image_process *p, const struct config_image *img, char *const *binds, bool resolv) {
        struct image_bundle_options o = { .hostname = "app", .binds = binds, .resolv_conf = resolv, .image = img };
        json_t *c = NULL;

        assert_int_equal(image_bundle_config(p, &o, &c), 0);
        return c;
}

static const char *mount_dest(json_t *c, size_t i) {
        return json_string_value(json_object_get(json_array_get(json_object_get(c, "mounts"), i), "destination"));
}

static bool has_string(json_t *a, const char *s) {
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v)
                if (strcmp(json_string_value(v), s) == 0)
                        return true;
        return false;
}

static void test_bundle(void **state) {
        struct config_image img = { .name = (char *) "app" };
        char *binds[] = { (char *) "/models/tiny", NULL };
        struct image_process p = {};
        _cleanup_free_ char *proc = NULL, *ns = NULL;
        json_t *c, *caps;

        (void) state;
        load("{\"image\":\"app\"}", IMG);
        resolve(&p, NULL);
        c = bundle(&p, &img, binds, true);
        assert_string_equal(json_string_value(json_object_get(c, "ociVersion")), "1.0.2");
        assert_string_equal(json_string_value(json_object_get(json_object_get(c, "root"), "path")), "rootfs");
        assert_string_equal(json_string_value(json_object_get(c, "hostname")), "app");
        assert_int_equal(jcs_serialize(json_object_get(json_object_get(c, "process"), "user"), &proc, NULL), 0);
        assert_string_equal(proc, "{\"gid\":1001,\"uid\":1000}");
        assert_true(json_is_true(json_object_get(json_object_get(c, "process"), "noNewPrivileges")));
        assert_string_equal(json_string_value(json_object_get(json_object_get(c, "process"), "cwd")), "/srv");
        caps = json_object_get(json_object_get(c, "process"), "capabilities");
        assert_int_equal(json_array_size(json_object_get(caps, "effective")), 0);
        assert_true(has_string(json_object_get(caps, "bounding"), "CAP_CHOWN"));
        assert_false(has_string(json_object_get(caps, "bounding"), "CAP_NET_RAW"));
        assert_false(has_string(json_object_get(caps, "bounding"), "CAP_SYS_CHROOT"));
        assert_false(has_string(json_object_get(caps, "bounding"), "CAP_MKNOD"));
        assert_false(has_string(json_object_get(caps, "bounding"), "CAP_SYS_ADMIN"));
        assert_int_equal(jcs_serialize(json_object_get(json_object_get(c, "linux"), "namespaces"), &ns, NULL), 0);
        assert_string_equal(ns, "[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"},"
                                "{\"type\":\"cgroup\"}]");
        assert_string_equal(mount_dest(c, 0), "/proc");
        assert_string_equal(mount_dest(c, 7), "/etc/resolv.conf");
        assert_string_equal(mount_dest(c, 8), "/models/tiny");
        assert_null(mount_dest(c, 9));
        assert_true(has_string(json_object_get(json_array_get(json_object_get(c, "mounts"), 8), "options"), "ro"));
        json_decref(c);
        image_process_done(&p);
        /* Root gets the set effective; allow_devices adds MKNOD, allow_setuid drops noNewPrivileges. */
        load("{\"image\":\"app\",\"user\":0}", IMG);
        resolve(&p, NULL);
        img.allow_devices = img.allow_setuid = true;
        c = bundle(&p, &img, NULL, false);
        caps = json_object_get(json_object_get(c, "process"), "capabilities");
        assert_true(has_string(json_object_get(caps, "effective"), "CAP_CHOWN"));
        assert_true(has_string(json_object_get(caps, "bounding"), "CAP_MKNOD"));
        assert_true(json_is_false(json_object_get(json_object_get(c, "process"), "noNewPrivileges")));
        assert_string_equal(mount_dest(c, 6), "/sys/fs/cgroup");
        assert_null(mount_dest(c, 7));
        json_decref(c);
        image_process_done(&p);
}

static int teardown(void **state) {
        (void) state;
        config_free(cfg);
        oci_config_free(ic);
        cfg = NULL;
        ic = NULL;
        return 0;
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_process, teardown),
                cmocka_unit_test_teardown(test_process_defaults, teardown),
                cmocka_unit_test_teardown(test_process_refused, teardown),
                cmocka_unit_test_teardown(test_event, teardown),
                cmocka_unit_test_teardown(test_bundle, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
