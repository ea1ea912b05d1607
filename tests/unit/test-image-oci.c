/* SPDX-License-Identifier: MIT */
/* OCI documents (agent/image-oci.c) and the image keys of the config (agent/config.c): documents
 * written out by hand after image-spec v1.1's examples. index.json resolves exactly one ref
 * (missing, duplicate, index-typed and non-manifest entries refused with the refs listed);
 * manifests accept the OCI tar/gzip/zstd and Docker gzip layer types and refuse other types, a
 * config of the wrong type, "urls", a mediaType differing from the index's, another schemaVersion,
 * duplicate keys; digests are sha256 in canonical form only (sha512 named as unsupported); image
 * configs give Entrypoint, Cmd, Env, User and WorkingDir (null lists as absent), refuse bad Env
 * entries and a rootfs that is not "layers". Config: images[] keys, limits and the ref grammar;
 * workload.image must name an image, exec becomes optional and relative with it, args needs an image
 * and excludes exec, CVMINIT_IMAGE_DIGEST is cvminit's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "image-oci.h"

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define C64 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
#define MT_M "application/vnd.oci.image.manifest.v1+json"

#define ENTRY(ref, mt, hex) \
        "{\"mediaType\":\"" mt "\",\"digest\":\"sha256:" hex "\",\"size\":7143,\"annotations\":{\"org.opencontainers.image.ref.name\":\"" ref "\"}}"

static int find(const char *text, const char *ref, struct oci_descriptor *d, const char *want_msg) {
        errbuf err = {};
        int r = oci_index_find((const uint8_t *) text, strlen(text), ref, d, &err);

        if (want_msg && (r >= 0 || !strstr(err.msg, want_msg)))
                fail_msg("oci_index_find: %d '%s', expected an error with '%s'", r, err.msg, want_msg);
        return r;
}

static void test_index(void **state) {
        struct oci_descriptor d;
        uint8_t a[32];

        (void) state;
        assert_int_equal(find("{\"schemaVersion\":2,\"manifests\":[" ENTRY("v0", MT_M, B64) "," ENTRY("v1", MT_M, A64)
                              "]}", "v1", &d, NULL), 0);
        memset(a, 0xaa, sizeof(a));
        assert_memory_equal(d.digest, a, 32);
        assert_string_equal(d.hex, A64);
        assert_string_equal(d.media_type, MT_M);
        assert_int_equal(d.size, 7143);
        /* The Docker manifest type too. */
        assert_int_equal(find("{\"schemaVersion\":2,\"manifests\":[" ENTRY("v1", "application/vnd.docker.distribution.manifest.v2+json", A64)
                              "]}", "v1", &d, NULL), 0);
        find("{\"schemaVersion\":2,\"manifests\":[" ENTRY("v0", MT_M, B64) "," ENTRY("latest", MT_M, A64) "]}", "v1", &d,
             "no manifest has the ref 'v1' (org.opencontainers.image.ref.name); refs there: 'v0', 'latest'");
        find("{\"schemaVersion\":2,\"manifests\":[" ENTRY("v1", MT_M, B64) "," ENTRY("v1", MT_M, A64) "]}", "v1", &d,
             "ref 'v1' is on manifests[0] and manifests[1]");
        find("{\"schemaVersion\":2,\"manifests\":[" ENTRY("v1", "application/vnd.oci.image.index.v1+json", A64) "]}", "v1",
             &d, "names an image index (a multi-platform image");
        find("{\"schemaVersion\":2,\"manifests\":[" ENTRY("v1", "application/vnd.oci.image.config.v1+json", A64) "]}", "v1",
             &d, "not an image manifest");
        find("{\"schemaVersion\":1,\"manifests\":[]}", "v1", &d, "schemaVersion is not 2");
        find("{\"schemaVersion\":2,\"mediaType\":\"" MT_M "\",\"manifests\":[]}", "v1", &d, "mediaType is not");
        find("{\"schemaVersion\":2,\"manifests\":{}}", "v1", &d, "manifests is not an array");
        find("{\"schemaVersion\":2,\"schemaVersion\":2,\"manifests\":[]}", "v1", &d, "not valid JSON");
        find("[]", "v1", &d, "not a JSON object");
        find("{\"schemaVersion\":2,\"manifests\":[" ENTRY("v1", MT_M, "AAAA") "]}", "v1", &d, "is not sha256:<64");
        find("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_M "\",\"digest\":\"sha512:" A64 A64
             "\",\"size\":1,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}", "v1", &d,
             "sha256 (the only algorithm supported)");
        find("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_M "\",\"digest\":\"sha256:" A64
             "\",\"size\":-1,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}", "v1", &d,
             "size missing or not a non-negative integer");
        find("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MT_M "\",\"digest\":\"sha256:" A64
             "\",\"size\":1,\"urls\":[\"https://x\"],\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}",
             "v1", &d, "every blob must be in the layout");
}

static void test_index_limits(void **state) {
        struct oci_descriptor d;
        struct buf b = {};

        (void) state;
        assert_int_equal(buf_append_str(&b, "{\"schemaVersion\":2,\"manifests\":["), 0);
        for (unsigned i = 0; i <= OCI_INDEX_ENTRIES_MAX; i++)
                assert_int_equal(buf_printf(&b, "%s" ENTRY("x", MT_M, A64), i ? "," : ""), 0);
        assert_int_equal(buf_append_str(&b, "]}"), 0);
        find(b.data, "x", &d, "4097 manifests, more than the limit of 4096");
        buf_free(&b);
}

static int manifest(const char *text, const char *mt, struct oci_manifest **m, const char *want_msg) {
        errbuf err = {};
        int r = oci_manifest_parse((const uint8_t *) text, strlen(text), mt, m, &err);

        if (want_msg && (r >= 0 || !strstr(err.msg, want_msg)))
                fail_msg("oci_manifest_parse: %d '%s', expected an error with '%s'", r, err.msg, want_msg);
        return r;
}

#define CONFIG_D(mt) "\"config\":{\"mediaType\":\"" mt "\",\"digest\":\"sha256:" C64 "\",\"size\":7023}"
#define LAYER(mt, hex) "{\"mediaType\":\"" mt "\",\"digest\":\"sha256:" hex "\",\"size\":32654}"
#define OCI_CFG "application/vnd.oci.image.config.v1+json"
#define LT "application/vnd.oci.image.layer.v1.tar"

static void test_manifest(void **state) {
        struct oci_manifest *m = NULL;

        (void) state;
        assert_int_equal(manifest("{\"schemaVersion\":2,\"mediaType\":\"" MT_M "\"," CONFIG_D(OCI_CFG) ",\"layers\":["
                                  LAYER(LT "+gzip", A64) "," LAYER(LT "+zstd", B64) "," LAYER(LT, C64) "],\"annotations\":{}}",
                                  MT_M, &m, NULL), 0);
        assert_false(m->docker);
        assert_string_equal(m->config.hex, C64);
        assert_int_equal(m->config.size, 7023);
        assert_int_equal(m->n_layers, 3);
        assert_int_equal(m->layers[0].compression, OCI_COMPRESSION_GZIP);
        assert_int_equal(m->layers[1].compression, OCI_COMPRESSION_ZSTD);
        assert_int_equal(m->layers[2].compression, OCI_COMPRESSION_NONE);
        assert_string_equal(m->layers[1].d.hex, B64);
        assert_int_equal(m->layers[0].d.size, 32654);
        oci_manifest_free(m);
        m = NULL;
        /* Docker's v2 schema 2, as `docker save` and registries write it. */
        assert_int_equal(manifest("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
                                  CONFIG_D("application/vnd.docker.container.image.v1+json") ",\"layers\":["
                                  LAYER("application/vnd.docker.image.rootfs.diff.tar.gzip", A64) "]}",
                                  "application/vnd.docker.distribution.manifest.v2+json", &m, NULL), 0);
        assert_true(m->docker);
        assert_int_equal(m->layers[0].compression, OCI_COMPRESSION_GZIP);
        oci_manifest_free(m);
        m = NULL;
        /* mediaType may be left out of an OCI manifest. */
        assert_int_equal(manifest("{\"schemaVersion\":2," CONFIG_D(OCI_CFG) ",\"layers\":[]}", MT_M, &m, NULL), 0);
        assert_int_equal(m->n_layers, 0);
        oci_manifest_free(m);
}

static void test_manifest_refused(void **state) {
        struct oci_manifest *m = NULL;

        (void) state;
        manifest("{\"schemaVersion\":2," CONFIG_D(OCI_CFG) ",\"layers\":[" LAYER(LT "+bzip2", A64) "]}", MT_M, &m,
                 "layers[0]: media type application/vnd.oci.image.layer.v1.tar+bzip2 is not a layer type");
        manifest("{\"schemaVersion\":2," CONFIG_D(OCI_CFG) ",\"layers\":[" LAYER("application/vnd.docker.image.rootfs.diff.tar.gzip", A64)
                 "]}", MT_M, &m, "is not a layer type this manifest may have");
        manifest("{\"schemaVersion\":2," CONFIG_D("application/vnd.docker.container.image.v1+json") ",\"layers\":[]}", MT_M, &m,
                 "config media type 'application/vnd.docker.container.image.v1+json' is not " OCI_CFG);
        manifest("{\"schemaVersion\":2," CONFIG_D("application/vnd.cncf.helm.config.v1+json") ",\"layers\":[]}", MT_M, &m,
                 "this is not a container image");
        manifest("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\"," CONFIG_D(OCI_CFG)
                 ",\"layers\":[]}", MT_M, &m, "differs from the index's");
        manifest("{\"schemaVersion\":1," CONFIG_D(OCI_CFG) ",\"layers\":[]}", MT_M, &m, "schemaVersion is not 2");
        manifest("{\"schemaVersion\":2," CONFIG_D(OCI_CFG) "}", MT_M, &m, "layers is not an array");
        manifest("{\"schemaVersion\":2,\"layers\":[]}", MT_M, &m, "manifest: config: not a JSON object");
        manifest("{\"schemaVersion\":2," CONFIG_D(OCI_CFG) ",\"layers\":[{\"mediaType\":\"" LT "\",\"digest\":\"sha256:" A64
                 "\",\"size\":1,\"urls\":[\"https://elsewhere\"]}]}", MT_M, &m, "every blob must be in the layout");
        manifest("{\"schemaVersion\":2," CONFIG_D(OCI_CFG) ",\"layers\":[],\"layers\":[]}", MT_M, &m, "not valid JSON");
        /* Docker manifests must say what they are. */
        manifest("{\"schemaVersion\":2," CONFIG_D("application/vnd.docker.container.image.v1+json") ",\"layers\":[]}",
                 "application/vnd.docker.distribution.manifest.v2+json", &m, "mediaType missing");
        manifest("{}", OCI_MT_INDEX, &m, "not reached as a manifest media type");
        assert_null(m);
}

static void test_manifest_limits(void **state) {
        struct oci_manifest *m = NULL;
        struct buf b = {};

        (void) state;
        assert_int_equal(buf_append_str(&b, "{\"schemaVersion\":2," CONFIG_D(OCI_CFG) ",\"layers\":["), 0);
        for (unsigned i = 0; i < OCI_LAYERS_MAX; i++)
                assert_int_equal(buf_printf(&b, "%s" LAYER(LT, A64), i ? "," : ""), 0);
        assert_int_equal(buf_append_str(&b, "]}"), 0);
        assert_int_equal(manifest(b.data, MT_M, &m, NULL), 0);
        assert_int_equal(m->n_layers, OCI_LAYERS_MAX);
        oci_manifest_free(m);
        m = NULL;
        b.len -= 2;
        assert_int_equal(buf_append_str(&b, "," LAYER(LT, A64) "]}"), 0);
        manifest(b.data, MT_M, &m, "257 layers, more than the limit of 256");
        buf_free(&b);
        /* Over the size limit before any parsing. */
        uint8_t *big = calloc(1, OCI_MANIFEST_MAX + 1);
        errbuf err = {};
        assert_non_null(big);
        assert_int_equal(oci_manifest_parse(big, OCI_MANIFEST_MAX + 1, MT_M, &m, &err), -EFBIG);
        free(big);
}

static int image_config(const char *text, struct oci_image_config **c, const char *want_msg) {
        errbuf err = {};
        int r = oci_config_parse((const uint8_t *) text, strlen(text), c, &err);

        if (want_msg && (r >= 0 || !strstr(err.msg, want_msg)))
                fail_msg("oci_config_parse: %d '%s', expected an error with '%s'", r, err.msg, want_msg);
        return r;
}

#define ROOTFS "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:" A64 "\",\"sha256:" B64 "\"]}"

static void test_config(void **state) {
        struct oci_image_config *c = NULL;

        (void) state;
        /* image-spec config.md's example, trimmed. */
        assert_int_equal(image_config("{\"created\":\"2015-10-31T22:22:56.015925234Z\",\"architecture\":\"amd64\",\"os\":\"linux\","
                                      "\"config\":{\"User\":\"alice\",\"ExposedPorts\":{\"8080/tcp\":{}},\"Env\":["
                                      "\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"FOO=oci_is_a\","
                                      "\"BAR=well_written_spec\",\"EMPTY=\"],\"Entrypoint\":[\"/bin/my-app-binary\"],\"Cmd\":["
                                      "\"--foreground\",\"--config\",\"/etc/my-app.d/default.cfg\"],\"WorkingDir\":\"/home/alice\"},"
                                      ROOTFS ",\"history\":[]}", &c, NULL), 0);
        assert_string_equal(c->os, "linux");
        assert_string_equal(c->architecture, "amd64");
        assert_string_equal(c->user, "alice");
        assert_string_equal(c->working_dir, "/home/alice");
        assert_int_equal(c->n_entrypoint, 1);
        assert_string_equal(c->entrypoint[0], "/bin/my-app-binary");
        assert_null(c->entrypoint[1]);
        assert_int_equal(c->n_cmd, 3);
        assert_string_equal(c->cmd[2], "/etc/my-app.d/default.cfg");
        assert_int_equal(c->n_env, 4);
        assert_string_equal(c->env[3], "EMPTY=");
        assert_int_equal(c->n_diff_ids, 2);
        oci_config_free(c);
        c = NULL;
        /* null lists and a missing config section are "not set". */
        assert_int_equal(image_config("{\"architecture\":\"arm64\",\"os\":\"linux\",\"config\":{\"Entrypoint\":null,\"Cmd\":null},"
                                      ROOTFS "}", &c, NULL), 0);
        assert_null(c->entrypoint);
        assert_null(c->cmd);
        assert_string_equal(c->user, "");
        assert_string_equal(c->working_dir, "");
        oci_config_free(c);
        c = NULL;
        assert_int_equal(image_config("{\"architecture\":\"amd64\",\"os\":\"linux\"," ROOTFS "}", &c, NULL), 0);
        oci_config_free(c);
        c = NULL;
        image_config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"=x\"]}," ROOTFS "}", &c,
                     "config.Env[0] '=x' is not NAME=VALUE");
        image_config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"NOEQUALS\"]}," ROOTFS "}", &c,
                     "is not NAME=VALUE");
        image_config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":\"/bin/sh\"}," ROOTFS "}", &c,
                     "config.Cmd is not an array");
        image_config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[1]}," ROOTFS "}", &c,
                     "config.Cmd[0] is not a string");
        image_config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":7}," ROOTFS "}", &c,
                     "User is not a string");
        image_config("{\"architecture\":\"amd64\"," ROOTFS "}", &c, "os missing");
        image_config("{\"architecture\":\"amd64\",\"os\":\"linux\"}", &c, "rootfs missing");
        image_config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"tarball\",\"diff_ids\":[]}}", &c,
                     "rootfs.type is not \"layers\"");
        image_config("{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"md5:x\"]}}", &c,
                     "rootfs.diff_ids[0] is not a sha256 digest");
        assert_null(c);
}

static void test_digest(void **state) {
        uint8_t d[32];

        (void) state;
        assert_int_equal(oci_digest_parse("sha256:" A64, d), 0);
        assert_int_equal(d[0], 0xaa);
        assert_int_equal(oci_digest_parse("sha256:" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", d), -EINVAL);
        assert_int_equal(oci_digest_parse("sha256:" A64 "a", d), -EINVAL);
        assert_int_equal(oci_digest_parse("sha256:", d), -EINVAL);
        assert_int_equal(oci_digest_parse(A64, d), -EINVAL);
        assert_int_equal(oci_digest_parse("sha512:" A64 A64, d), -EOPNOTSUPP);
        assert_int_equal(oci_digest_parse("SHA256:" A64, d), -EINVAL);
}

static void test_layout_file(void **state) {
        errbuf err = {};

        (void) state;
        assert_int_equal(oci_layout_check((const uint8_t *) "{\"imageLayoutVersion\": \"1.0.0\"}", 31, &err), 0);
        assert_int_equal(oci_layout_check((const uint8_t *) "{\"imageLayoutVersion\":\"2.0.0\"}", 30, &err), -EBADMSG);
        assert_non_null(strstr(err.msg, "is not 1.0.0"));
        assert_int_equal(oci_layout_check((const uint8_t *) "{}", 2, &err), -EBADMSG);
}

/* ---- the config's image keys ---- */

static struct config *conf(const char *images, const char *workload, int want_r, const char *want_msg) {
        _cleanup_free_ char *text = NULL;
        struct config *c = NULL;
        errbuf err = {};
        int r;

        assert_true(asprintf(&text, "{\"version\":1,\"images\":%s,\"workload\":%s}", images, workload) > 0);
        r = config_parse((const uint8_t *) text, strlen(text), &c, &err);
        if (r != want_r || (want_msg && !strstr(err.msg, want_msg)))
                fail_msg("config_parse: %d '%s', expected %d with '%s'", r, err.msg, want_r, want_msg ? want_msg : "");
        return c;
}

#define IMG "[{\"name\":\"app\",\"layout\":\"/data/images/app\",\"ref\":\"v1.2-rc--x:y@z+w/sub\"}]"

static void test_config_images(void **state) {
        struct config *c;

        (void) state;
        c = conf("[{\"name\":\"app\",\"layout\":\"/data/images/app\",\"ref\":\"latest\",\"expect\":\"sha256:" A64
                 "\",\"allow_devices\":true}]", "{\"image\":\"app\",\"args\":[\"--port\",\"80\"],\"env\":{\"A\":\"1\"}}", 0, NULL);
        assert_int_equal(c->n_images, 1);
        assert_string_equal(c->images[0].name, "app");
        assert_string_equal(c->images[0].layout, "/data/images/app");
        assert_string_equal(c->images[0].ref, "latest");
        assert_true(c->images[0].has_expect);
        assert_int_equal(c->images[0].expect[31], 0xaa);
        assert_true(c->images[0].allow_devices);
        assert_false(c->images[0].allow_setuid);
        assert_string_equal(c->workload.image, "app");
        assert_null(c->workload.exec);
        assert_int_equal(c->workload.n_args, 2);
        assert_string_equal(c->workload.args[1], "80");
        assert_null(c->workload.args[2]);
        assert_false(c->workload.user_set || c->workload.group_set || c->workload.cwd_set);
        config_free(c);
        /* exec with an image: relative, looked up in the image; user/group/cwd marked as given. */
        c = conf(IMG, "{\"image\":\"app\",\"exec\":[\"python3\",\"-m\",\"x\"],\"user\":0,\"cwd\":\"/srv\"}", 0, NULL);
        assert_string_equal(c->workload.exec[0], "python3");
        assert_true(c->workload.user_set && c->workload.cwd_set && !c->workload.group_set);
        config_free(c);
        /* An image that is not the workload's is fine; no expect is fine (measured only). */
        c = conf(IMG, "{\"exec\":[\"/bin/true\"]}", 0, NULL);
        assert_false(c->images[0].has_expect);
        config_free(c);
}

static void test_config_images_refused(void **state) {
        (void) state;
        conf(IMG, "{\"image\":\"other\"}", -EINVAL, "workload.image: 'other' is not the name of an entry of images[]");
        conf("[]", "{\"image\":\"app\"}", -EINVAL, "workload.image: 'app' is not the name");
        conf(IMG, "{\"image\":\"app\",\"exec\":[\"\"]}", -EINVAL, "workload.exec[0]: must name the program");
        conf(IMG, "{\"exec\":[\"/a\"],\"args\":[\"x\"]}", -EINVAL, "workload.args: only for an image workload");
        conf(IMG, "{\"image\":\"app\",\"exec\":[\"/a\"],\"args\":[\"x\"]}", -EINVAL, "workload.args: not together with");
        conf(IMG, "{\"image\":\"app\",\"args\":[1]}", -EINVAL, "workload.args[0]: expected a string");
        conf(IMG, "{\"image\":\"app\",\"env\":{\"CVMINIT_IMAGE_DIGEST\":\"x\"}}", -EINVAL,
             "workload.env.CVMINIT_IMAGE_DIGEST: set by cvminit");
        conf(IMG, "{}", -EINVAL, "workload.exec: required key missing");
        conf("[{\"name\":\"app\",\"layout\":\"/a\",\"ref\":\"v1\"},{\"name\":\"app\",\"layout\":\"/b\",\"ref\":\"v1\"}]",
             "{\"exec\":[\"/a\"]}", -EINVAL, "images[1].name: same name as images[0]");
        conf("[{\"name\":\"app\",\"layout\":\"relative\",\"ref\":\"v1\"}]", "{\"exec\":[\"/a\"]}", -EINVAL,
             "images[0].layout: 'relative' is not an absolute path");
        conf("[{\"name\":\"app\",\"layout\":\"/\",\"ref\":\"v1\"}]", "{\"exec\":[\"/a\"]}", -EINVAL, "images[0].layout");
        conf("[{\"name\":\"app\",\"layout\":\"/a\"}]", "{\"exec\":[\"/a\"]}", -EINVAL, "images[0].ref: required key missing");
        conf("[{\"name\":\"app\",\"layout\":\"/a\",\"ref\":\"-v1\"}]", "{\"exec\":[\"/a\"]}", -EINVAL,
             "images[0].ref: '-v1' is not an OCI reference name");
        conf("[{\"name\":\"app\",\"layout\":\"/a\",\"ref\":\"a//b\"}]", "{\"exec\":[\"/a\"]}", -EINVAL, "is not an OCI reference");
        conf("[{\"name\":\"app\",\"layout\":\"/a\",\"ref\":\"a---b\"}]", "{\"exec\":[\"/a\"]}", -EINVAL, "is not an OCI reference");
        conf("[{\"name\":\"app\",\"layout\":\"/a\",\"ref\":\"v1 \"}]", "{\"exec\":[\"/a\"]}", -EINVAL, "is not an OCI reference");
        conf("[{\"name\":\"app\",\"layout\":\"/a\",\"ref\":\"v1\",\"expect\":\"sha256:" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
             "\"}]", "{\"exec\":[\"/a\"]}", -EINVAL, "images[0].expect: 'sha256:AAAA");
        conf("[{\"name\":\"app\",\"layout\":\"/a\",\"ref\":\"v1\",\"expect\":\"sha384:" A64 "\"}]", "{\"exec\":[\"/a\"]}",
             -EINVAL, "sha256:<64 lower-case hex digits>");
        conf("[{\"name\":\"app\",\"layout\":\"/a\",\"ref\":\"v1\",\"allow_setuid\":1}]", "{\"exec\":[\"/a\"]}", -EINVAL,
             "images[0].allow_setuid: expected true or false");
        conf("[{\"name\":\"app\",\"layout\":\"/a\",\"ref\":\"v1\",\"pull\":true}]", "{\"exec\":[\"/a\"]}", -EINVAL,
             "images[0].pull: unknown key");
        conf("{}", "{\"exec\":[\"/a\"]}", -EINVAL, "images: expected an array");
}

static void test_config_images_limit(void **state) {
        struct buf b = {};
        struct config *c;

        (void) state;
        assert_int_equal(buf_append_str(&b, "["), 0);
        for (unsigned i = 0; i < CONFIG_IMAGES_MAX; i++)
                assert_int_equal(buf_printf(&b, "%s{\"name\":\"i%u\",\"layout\":\"/a\",\"ref\":\"v1\"}", i ? "," : "", i), 0);
        assert_int_equal(buf_append_str(&b, "]"), 0);
        c = conf(b.data, "{\"exec\":[\"/a\"]}", 0, NULL);
        assert_int_equal(c->n_images, CONFIG_IMAGES_MAX);
        config_free(c);
        b.len--;
        assert_int_equal(buf_append_str(&b, ",{\"name\":\"x\",\"layout\":\"/a\",\"ref\":\"v1\"}]"), 0);
        conf(b.data, "{\"exec\":[\"/a\"]}", -EINVAL, "images: 17 entries, more than the limit of 16");
        buf_free(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_index),
                cmocka_unit_test(test_index_limits),
                cmocka_unit_test(test_manifest),
                cmocka_unit_test(test_manifest_refused),
                cmocka_unit_test(test_manifest_limits),
                cmocka_unit_test(test_config),
                cmocka_unit_test(test_digest),
                cmocka_unit_test(test_layout_file),
                cmocka_unit_test(test_config_images),
                cmocka_unit_test(test_config_images_refused),
                cmocka_unit_test(test_config_images_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
