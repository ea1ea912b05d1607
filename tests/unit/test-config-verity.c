/* SPDX-License-Identifier: MIT */
/* Verity-mode models in the config (agent/config.c, docs/config.md "models[]", docs/verity.md): a
 * full entry parses to its values, a minimal one gets the documented defaults (hash_offset =
 * data_blocks * 4096, timeout 10000 ms), files mode stays the default, every bad value is refused
 * with a message naming the key, limits hold at N and fail at N+1, mount points do not collide,
 * and the verity `model` event has exactly DESIGN §3's members in JCS form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "config.h"
#include "configparse.h"
#include "event.h"
#include "jcs.h"
#include "models.h"

#define WORKLOAD "\"workload\": {\"exec\": [\"/bin/app\"]}"
#define ROOT "d883c1ebd12c93d1087699ed93f541ef5dac248da9b70a3583b7df80c4799b41"
#define MODEL(members) "{\"version\": 1, " WORKLOAD ", \"models\": [{" members "}]}"
#define BASE "\"name\": \"m\", \"mode\": \"verity\", \"device\": \"SERIAL=cvm-model\", \"path\": \"/models/m\""
#define PINS "\"root_hash\": \"" ROOT "\", \"data_blocks\": 1291"

static void test_full(void **state) {
        _cleanup_(config_freep) struct config *c = configparse_text(
                MODEL("\"name\": \"llama\", \"mode\": \"verity\", \"device\": \"LABEL=llama\", \"path\": \"/models/llama\", "
                      "\"root_hash\": \"" ROOT "\", \"data_blocks\": 4096, \"hash_offset\": 20971520, \"timeout_ms\": 2500"),
                0, NULL);
        const struct config_model *m = &c->models[0];

        (void) state;
        assert_int_equal(c->n_models, 1);
        assert_string_equal(m->name, "llama");
        assert_int_equal(m->mode, MODEL_MODE_VERITY);
        assert_string_equal(model_mode_name(m->mode), "verity");
        assert_string_equal(m->device, "LABEL=llama");
        assert_string_equal(m->path, "/models/llama");
        assert_memory_equal(m->root_hash, "\xd8\x83\xc1\xeb\xd1\x2c\x93\xd1", 8);
        assert_int_equal(m->root_hash[31], 0x41);
        assert_int_equal(m->data_blocks, 4096);
        assert_int_equal(m->hash_offset, 20971520);
        assert_int_equal(m->timeout_ms, 2500);
        assert_null(m->manifest); /* files mode only */
}

static void test_defaults(void **state) {
        _cleanup_(config_freep) struct config *c = configparse_text(
                "{\"version\": 1, " WORKLOAD ", \"models\": [{" BASE ", " PINS "}, {\"name\": \"f\", \"path\": \"/models/f\", "
                "\"expect\": \"sha256:" ROOT "\"}]}",
                0, NULL);
        /* Upper-case hex is the same hash. */
        _cleanup_(config_freep) struct config *upper = configparse_text(
                MODEL(BASE ", \"root_hash\": \"D883C1EBD12C93D1087699ED93F541EF5DAC248DA9B70A3583B7DF80C4799B41\", "
                      "\"data_blocks\": 1291"),
                0, NULL);

        (void) state;
        assert_int_equal(c->models[0].hash_offset, 1291 * 4096);
        assert_int_equal(c->models[0].timeout_ms, 10000);
        assert_int_equal(c->models[1].mode, MODEL_MODE_FILES);
        assert_string_equal(model_mode_name(c->models[1].mode), "files");
        assert_string_equal(c->models[1].manifest, "/models/f.manifest.json");
        assert_null(c->models[1].device);
        assert_memory_equal(upper->models[0].root_hash, c->models[0].root_hash, 32);
        assert_null(model_mode_name(_MODEL_MODE_MAX));
}

static void test_bad(void **state) {
        static const struct {
                const char *text, *message;
        } bad[] = {
                { MODEL(BASE ", \"data_blocks\": 1291"), "models[0].root_hash: required key missing" },
                { MODEL(BASE ", \"root_hash\": \"" ROOT "\""), "models[0].data_blocks: required key missing" },
                { MODEL("\"name\": \"m\", \"mode\": \"verity\", \"path\": \"/models/m\", " PINS),
                  "models[0].device: required key missing" },
                { MODEL("\"name\": \"m\", \"mode\": \"verity\", \"device\": \"SERIAL=x\", " PINS),
                  "models[0].path: required key missing" },
                { MODEL(BASE ", \"root_hash\": \"abcd\", \"data_blocks\": 1"), "models[0].root_hash: 'abcd' is not 64 hex digits" },
                { MODEL(BASE ", \"root_hash\": \"" ROOT "00\", \"data_blocks\": 1"), "models[0].root_hash: '" ROOT "00' is not" },
                { MODEL(BASE ", \"root_hash\": \"sha256:" ROOT "\", \"data_blocks\": 1"), "models[0].root_hash: 'sha256:" },
                { MODEL(BASE ", \"root_hash\": \"g883c1ebd12c93d1087699ed93f541ef5dac248da9b70a3583b7df80c4799b41\", "
                        "\"data_blocks\": 1"), "models[0].root_hash: 'g883" },
                { MODEL(BASE ", \"root_hash\": 5, \"data_blocks\": 1"), "models[0].root_hash: expected a string" },
                { MODEL(BASE ", \"root_hash\": \"" ROOT "\", \"data_blocks\": 0"),
                  "models[0].data_blocks: expected an integer from 1 to 68719476736" },
                { MODEL(BASE ", \"root_hash\": \"" ROOT "\", \"data_blocks\": 68719476737"),
                  "models[0].data_blocks: expected an integer from 0 to 68719476736" },
                { MODEL(BASE ", \"root_hash\": \"" ROOT "\", \"data_blocks\": -1"), "models[0].data_blocks: expected an integer" },
                { MODEL(BASE ", \"root_hash\": \"" ROOT "\", \"data_blocks\": \"12\""), "models[0].data_blocks: expected an integer" },
                { MODEL(BASE ", \"root_hash\": \"" ROOT "\", \"data_blocks\": 1.5"), "models[0].data_blocks: expected an integer" },
                { MODEL(BASE ", " PINS ", \"hash_offset\": 5287937"),
                  "models[0].hash_offset: 5287937 is not a multiple of 4096 at or after the data blocks' end" },
                { MODEL(BASE ", " PINS ", \"hash_offset\": 4096"), "models[0].hash_offset: 4096 is not a multiple" },
                { MODEL(BASE ", " PINS ", \"hash_offset\": 4503599627374592"),
                  "models[0].hash_offset: expected an integer from 0 to 4503599627370496" },
                { MODEL(BASE ", " PINS ", \"timeout_ms\": 600001"), "models[0].timeout_ms: expected an integer from 0 to 600000" },
                { MODEL(BASE ", " PINS ", \"expect\": \"sha256:" ROOT "\""),
                  "models[0].expect: only for mode files (this model's mode is verity)" },
                { MODEL(BASE ", " PINS ", \"alg\": \"sha256\""), "models[0].alg: only for mode files" },
                { MODEL(BASE ", " PINS ", \"manifest\": \"/m.json\""), "models[0].manifest: only for mode files" },
                { MODEL(BASE ", " PINS ", \"options\": \"ro\""), "models[0].options: unknown key" },
                { MODEL("\"name\": \"f\", \"path\": \"/models/f\", \"expect\": \"sha256:" ROOT "\", \"device\": \"SERIAL=x\""),
                  "models[0].device: only for mode verity (this model's mode is files)" },
                { MODEL("\"name\": \"f\", \"mode\": \"files\", \"path\": \"/models/f\", \"expect\": \"sha256:" ROOT "\", "
                        "\"root_hash\": \"" ROOT "\""),
                  "models[0].root_hash: only for mode verity" },
                { MODEL("\"name\": \"f\", \"mode\": \"squashfs\", \"path\": \"/m\""), "models[0].mode: expected one of files, verity" },
                { MODEL("\"name\": \"f\", \"mode\": null, \"path\": \"/m\""), "models[0].mode: expected one of files, verity" },
                { MODEL("\"name\": \"m\", \"mode\": \"verity\", \"device\": \"vda\", \"path\": \"/m\", " PINS),
                  "models[0].device: 'vda' is not LABEL=..., PARTLABEL=..., UUID=..., SERIAL=... or a /dev/ path" },
                { MODEL("\"name\": \"m\", \"mode\": \"verity\", \"device\": \"UUID=zz\", \"path\": \"/m\", " PINS),
                  "models[0].device: 'UUID=zz' is not" },
                { MODEL("\"name\": \"m\", \"mode\": \"verity\", \"device\": \"SERIAL=x\", \"path\": \"/\", " PINS),
                  "models[0].path: '/' is not allowed" },
                { MODEL("\"name\": \"m\", \"mode\": \"verity\", \"device\": \"SERIAL=x\", \"path\": \"/run/m\", " PINS),
                  "models[0].path: '/run/m' is not allowed" },
                { MODEL("\"name\": \"m\", \"mode\": \"verity\", \"device\": \"SERIAL=x\", \"path\": \"/dev\", " PINS),
                  "models[0].path: '/dev' is not allowed" },
                { MODEL("\"name\": \"m\", \"mode\": \"verity\", \"device\": \"SERIAL=x\", \"path\": \"models\", " PINS),
                  "models[0].path: 'models' is not an absolute path" },
                { MODEL("\"name\": \"m\", \"mode\": \"verity\", \"device\": \"SERIAL=x\", \"path\": \"/a/../b\", " PINS),
                  "models[0].path: '/a/../b' is not an absolute path" },
                { "{\"version\": 1, " WORKLOAD ", \"mounts\": [{\"device\": \"LABEL=m\", \"path\": \"/models/m\", "
                  "\"fs\": \"ext4\"}], \"models\": [{" BASE ", " PINS "}]}",
                  "models[0].path: same mount point as mounts[0]" },
                { "{\"version\": 1, " WORKLOAD ", \"models\": [{" BASE ", " PINS "}, {\"name\": \"n\", \"mode\": \"verity\", "
                  "\"device\": \"SERIAL=y\", \"path\": \"/models/m\", " PINS "}]}",
                  "models[1].path: same mount point as models[0]" },
                { "{\"version\": 1, " WORKLOAD ", \"models\": [{" BASE ", " PINS "}], \"disk\": {\"name\": \"d\", "
                  "\"device\": \"SERIAL=d\", \"path\": \"/models\"}}",
                  "disk.path: models[0] (verity) is mounted at or below it before the disk opens" },
                /* The disk's mapping would take the verity model's /dev/mapper/model-m. */
                { "{\"version\": 1, " WORKLOAD ", \"models\": [{" BASE ", " PINS "}], \"disk\": {\"name\": \"model-m\", "
                  "\"device\": \"SERIAL=d\", \"path\": \"/data\"}}",
                  "disk.name: \"model-m\" is the device-mapper name of verity model \"m\"" },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_null(configparse_text(bad[i].text, -EINVAL, bad[i].message));
}

static void test_limits(void **state) {
        _cleanup_(config_freep) struct config *big = configparse_text(
                MODEL(BASE ", \"root_hash\": \"" ROOT "\", \"data_blocks\": 68719476736"), 0, NULL);
        _cleanup_(config_freep) struct config *far = configparse_text(
                MODEL(BASE ", " PINS ", \"hash_offset\": 4503599627370496"), 0, NULL);
        _cleanup_(config_freep) struct config *gap = configparse_text(MODEL(BASE ", " PINS ", \"hash_offset\": 5292032"), 0, NULL);
        /* A files-mode model may sit below the disk's mount point (measured after it opens). */
        _cleanup_(config_freep) struct config *files = configparse_text(
                "{\"version\": 1, " WORKLOAD ", \"models\": [{\"name\": \"f\", \"path\": \"/data/f\", \"expect\": \"sha256:" ROOT
                "\"}], \"disk\": {\"name\": \"d\", \"device\": \"SERIAL=d\", \"path\": \"/data\"}}",
                0, NULL);

        (void) state;
        assert_int_equal(big->models[0].data_blocks, UINT64_C(1) << 36);
        assert_int_equal(big->models[0].hash_offset, UINT64_C(1) << 48);
        assert_int_equal(far->models[0].hash_offset, UINT64_C(1) << 52);
        assert_int_equal(gap->models[0].hash_offset, 5292032);
        assert_non_null(files->disk);
}

/* tests/fixtures/config/good-verity.json: a verity model beside a files-mode one. */
static void test_fixture(void **state) {
        _cleanup_free_ uint8_t *p = NULL;
        _cleanup_(config_freep) struct config *c = NULL;
        errbuf err = {};
        size_t n = 0;

        (void) state;
        assert_int_equal(read_file_limited("tests/fixtures/config/good-verity.json", CONFIG_SIZE_MAX, &p, &n), 0);
        assert_int_equal(config_parse(p, n, &c, &err), 0);
        assert_int_equal(c->n_models, 2);
        assert_int_equal(c->models[0].mode, MODEL_MODE_VERITY);
        assert_string_equal(c->models[0].device, "SERIAL=llama");
        assert_int_equal(c->models[0].data_blocks, 16384);
        assert_int_equal(c->models[0].hash_offset, 16384 * 4096);
        assert_int_equal(c->models[0].root_hash[0], 0x9b);
        assert_int_equal(c->models[1].mode, MODEL_MODE_FILES);
        assert_int_equal(c->models[1].alg, HASH_SHA256);
}

/* DESIGN §3: {"name","mode":"verity","root_hash":"<hex>","data_blocks":N}, written out by hand. */
static void test_event(void **state) {
        _cleanup_(config_freep) struct config *c = configparse_text(MODEL(BASE ", " PINS), 0, NULL);
        _cleanup_free_ char *text = NULL, *full = NULL;
        json_t *o = NULL;
        size_t n;

        (void) state;
        assert_int_equal(models_verity_event_content(c->models[0].name, c->models[0].root_hash, c->models[0].data_blocks,
                                                     &o),
                         0);
        assert_int_equal(jcs_serialize(o, &text, NULL), 0);
        assert_string_equal(text, "{\"data_blocks\":1291,\"mode\":\"verity\",\"name\":\"m\",\"root_hash\":\"" ROOT "\"}");
        assert_int_equal(event_text(EVENT_DOMAIN, "model", o, &full, &n), 0);
        assert_string_equal(full, "cvminit model {\"data_blocks\":1291,\"mode\":\"verity\",\"name\":\"m\",\"root_hash\":\"" ROOT
                                  "\"}");
        json_decref(o);
        assert_int_equal(models_verity_event_content("m", c->models[0].root_hash, 0, &o), -EINVAL);
        assert_int_equal(models_verity_event_content("m", c->models[0].root_hash, UINT64_C(1) << 53, &o), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_limits),
                cmocka_unit_test(test_fixture),
                cmocka_unit_test(test_event),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
