/* SPDX-License-Identifier: MIT */
/* The attestation API without a socket (agent/api-handlers.c, measurements/api-proto.c; docs/api.md):
 * the report_data binding against the worked example of docs/api.md (computed with openssl dgst and
 * python3's hashlib), nonce parsing, routing (404, 405 with Allow, 413, 400), the evidence answer
 * and what the backend is asked to bind, `app` events before (409) and after boot-done and their
 * strict body, the log and manifest answers, backend failures (500, 503, 507), and the config's
 * "api" section. Backends are fakes; the server runs for real in tests/integration/test-api.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "api-handlers.h"
#include "config.h"

/* docs/api.md's worked example: nonce 00112233445566778899aabbccddeeff. */
#define EXAMPLE_NONCE "00112233445566778899aabbccddeeff"
#define EXAMPLE_RD "30803a1f3351cb4bd21821c6741ab440bb60c468f51675d8ad60e4a9a53403282c9f65e3327bc0976513f8d3438ce120"

struct fake {
        int r; /* what the next backend call returns */
        uint8_t rd[API_REPORT_DATA_SIZE];
        unsigned calls;
        json_t *content;
        char name[128];
        const char *file;
};

static int fake_evidence(void *u, const uint8_t rd[static API_REPORT_DATA_SIZE], json_t **ret, errbuf *err) {
        struct fake *f = u;

        f->calls++;
        memcpy(f->rd, rd, API_REPORT_DATA_SIZE);
        if (f->r < 0)
                return errbuf_set(err, f->r, "fake evidence failure");
        *ret = json_pack("{s:s, s:s}", "quote", "UVVPVEU=", "cc_eventlog", "TE9H");
        return 0;
}

static int fake_extend(void *u, const json_t *content, struct api_extended *x, errbuf *err) {
        struct fake *f = u;

        f->calls++;
        if (f->r < 0)
                return errbuf_set(err, f->r, "fake extend failure");
        json_decref(f->content);
        f->content = json_deep_copy(content);
        *x = (struct api_extended) { .recnum = 7, .mr = "pcr14", .n_digests = 1 };
        x->digests[0].alg = HASH_SHA256;
        memset(x->digests[0].d, 0xab, 32);
        return 0;
}

static int memfd_with(const char *text, int *ret_fd, uint64_t *ret_size) {
        int fd = memfd_create("api-test", MFD_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        *ret_fd = fd;
        *ret_size = strlen(text);
        return 0;
}

static int fake_open_log(void *u, int *ret_fd, uint64_t *ret_size, errbuf *err) {
        struct fake *f = u;

        f->calls++;
        if (f->r < 0)
                return errbuf_set(err, f->r, "fake log failure");
        return memfd_with(f->file, ret_fd, ret_size);
}

static int fake_open_manifest(void *u, const char *name, int *ret_fd, uint64_t *ret_size, errbuf *err) {
        struct fake *f = u;

        f->calls++;
        snprintf(f->name, sizeof(f->name), "%s", name);
        if (f->r < 0)
                return errbuf_set(err, f->r, "fake manifest failure");
        return memfd_with(f->file, ret_fd, ret_size);
}

static struct fake F;
static struct api_backend B = {
        .userdata = &F, .tee = KBS_TEE_TDX, .boot_done = true, .evidence = fake_evidence, .extend = fake_extend,
        .open_log = fake_open_log, .open_manifest = fake_open_manifest,
};

static int reset(void **state) {
        (void) state;
        json_decref(F.content);
        F = (struct fake) { .file = "\x1e{\"recnum\":0}\n" };
        B.boot_done = true;
        return 0;
}

/* One request; checks the status; returns the JSON answer (NULL for a file answer). */
static json_t *call_full(const char *method, const char *target, const char *body, size_t body_len, bool too_large,
                         unsigned want, struct api_response *keep) {
        struct api_request rq = { .method = method, .target = target, .body = body, .body_len = body_len,
                                  .body_too_large = too_large };
        struct api_response rs;
        json_t *o = NULL;

        api_handle(&B, &rq, &rs);
        if (rs.status != want)
                fail_msg("%s %s: status %u, expected %u: %.*s", method, target, rs.status, want, (int) rs.body_len,
                         rs.body ?: "");
        if (rs.fd < 0) {
                assert_string_equal(rs.content_type, API_TYPE_JSON);
                o = json_loadb(rs.body, rs.body_len, JSON_REJECT_DUPLICATES, NULL);
                assert_non_null(o);
                if (want != 200)
                        assert_true(json_is_string(json_object_get(o, "error")) && json_object_size(o) == 1);
        }
        if (keep)
                *keep = rs;
        else
                api_response_done(&rs);
        return o;
}

static json_t *call(const char *method, const char *target, const char *body, unsigned want) {
        return call_full(method, target, body, body ? strlen(body) : 0, false, want, NULL);
}

static void expect_error(const char *method, const char *target, const char *body, unsigned want, const char *needle) {
        json_t *o = call(method, target, body, want);
        const char *e = json_string_value(json_object_get(o, "error"));

        if (!strstr(e, needle))
                fail_msg("%s %s: error '%s' does not say '%s'", method, target, e, needle);
        json_decref(o);
}

/* ---- the binding and the nonce ---- */

static void test_report_data(void **state) {
        uint8_t nonce[API_NONCE_MAX], rd[API_REPORT_DATA_SIZE];
        char hex[2 * API_REPORT_DATA_SIZE + 1];
        int n;

        (void) state;
        n = api_nonce_parse(EXAMPLE_NONCE, strlen(EXAMPLE_NONCE), nonce);
        assert_int_equal(n, 16);
        assert_int_equal(api_report_data(nonce, (size_t) n, rd), 0);
        hex_encode(rd, sizeof(rd), hex);
        assert_string_equal(hex, EXAMPLE_RD);
        assert_int_equal(api_report_data(nonce, 0, rd), -EINVAL);
        assert_int_equal(api_report_data(nonce, API_NONCE_MAX + 1, rd), -EINVAL);
}

static void test_nonce(void **state) {
        uint8_t out[API_NONCE_MAX];
        char max[2 * API_NONCE_MAX + 3];

        (void) state;
        assert_int_equal(api_nonce_parse("ab", 2, out), 1);
        assert_int_equal(api_nonce_parse("ABcd", 4, out), 2);
        assert_int_equal(out[0], 0xab);
        memset(max, 'f', sizeof(max));
        assert_int_equal(api_nonce_parse(max, 2 * API_NONCE_MAX, out), (int) API_NONCE_MAX);
        assert_int_equal(api_nonce_parse(max, 2 * API_NONCE_MAX + 2, out), -EINVAL);
        assert_int_equal(api_nonce_parse("", 0, out), -EINVAL);
        assert_int_equal(api_nonce_parse("abc", 3, out), -EINVAL);
        assert_int_equal(api_nonce_parse("0x12", 4, out), -EINVAL);
        assert_int_equal(api_nonce_parse("zz", 2, out), -EINVAL);
        assert_int_equal(api_nonce_parse("a b ", 4, out), -EINVAL);
}

/* ---- routing ---- */

static void test_routes(void **state) {
        struct api_response rs;
        char longt[API_TARGET_MAX + 10];

        (void) state;
        expect_error("GET", "/", NULL, 404, "no such resource");
        expect_error("GET", "/v1/log/", NULL, 404, "no such resource");
        expect_error("GET", "/v1/evidencex", NULL, 404, "no such resource");
        expect_error("GET", "/v2/log", NULL, 404, "no such resource");
        expect_error("GET", "v1/log", NULL, 404, "no such resource");
        expect_error("GET", "/v1/log#x", NULL, 404, "no such resource");
        expect_error("GET", "/v1/lo\x01g", NULL, 404, "no such resource");
        expect_error("GET", "/v1/manifest", NULL, 404, "no such resource");
        memset(longt, 'a', sizeof(longt) - 1);
        longt[0] = '/';
        longt[sizeof(longt) - 1] = 0;
        expect_error("GET", longt, NULL, 404, "no such resource");
        /* 405 names the allowed method, in the body and in Allow. */
        json_decref(call_full("POST", "/v1/log", NULL, 0, false, 405, &rs));
        assert_string_equal(rs.allow, "GET");
        api_response_done(&rs);
        json_decref(call_full("GET", "/v1/extend", NULL, 0, false, 405, &rs));
        assert_string_equal(rs.allow, "POST");
        api_response_done(&rs);
        expect_error("HEAD", "/v1/evidence?nonce=00", NULL, 405, "takes GET only");
        expect_error("get", "/v1/log", NULL, 405, "takes GET only");
        expect_error("DELETE", "/v1/manifest/tiny", NULL, 405, "takes GET only");
        assert_int_equal(F.calls, 0);
}

static void test_limits(void **state) {
        char *big = malloc(API_BODY_MAX + 2);

        (void) state;
        assert_non_null(big);
        memset(big, ' ', API_BODY_MAX + 1);
        big[API_BODY_MAX + 1] = 0;
        json_decref(call_full("POST", "/v1/extend", NULL, 0, true, 413, NULL));
        json_decref(call_full("POST", "/v1/extend", big, API_BODY_MAX + 1, false, 413, NULL));
        json_decref(call_full("GET", "/v1/log", NULL, 0, true, 413, NULL));
        /* The method is checked before the size: a wrong method is the first thing to fix. */
        json_decref(call_full("PUT", "/v1/extend", NULL, 0, true, 405, NULL));
        /* Exactly the limit is read (and here refused as JSON, not as size). */
        big[API_BODY_MAX] = 0;
        json_decref(call_full("POST", "/v1/extend", big, API_BODY_MAX, false, 400, NULL));
        free(big);
        expect_error("GET", "/v1/log", "x", 400, "takes no request body");
        expect_error("GET", "/v1/log?x=1", NULL, 400, "takes no query");
        expect_error("POST", "/v1/extend?x", "{}", 400, "takes no query");
        json_decref(call("GET", "/v1/log?", NULL, 200)); /* an empty query is no query */
        assert_int_equal(F.calls, 1);
}

/* ---- GET /v1/evidence ---- */

static void test_evidence(void **state) {
        char rd[2 * API_REPORT_DATA_SIZE + 1];
        json_t *o;

        (void) state;
        o = call("GET", "/v1/evidence?nonce=00112233445566778899AABBCCDDEEFF", NULL, 200);
        assert_int_equal(json_object_size(o), 4);
        assert_string_equal(json_string_value(json_object_get(o, "tee")), "tdx");
        assert_string_equal(json_string_value(json_object_get(o, "nonce")), EXAMPLE_NONCE);
        assert_string_equal(json_string_value(json_object_get(o, "report_data")), EXAMPLE_RD);
        assert_string_equal(json_string_value(json_object_get(json_object_get(o, "evidence"), "quote")), "UVVPVEU=");
        /* The backend was asked to bind exactly that report_data. */
        hex_encode(F.rd, sizeof(F.rd), rd);
        assert_string_equal(rd, EXAMPLE_RD);
        json_decref(o);
        B.tee = KBS_TEE_TPM;
        o = call("GET", "/v1/evidence?nonce=ff", NULL, 200);
        assert_string_equal(json_string_value(json_object_get(o, "tee")), "tpm");
        json_decref(o);
        B.tee = KBS_TEE_TDX;
        assert_int_equal(F.calls, 2);
}

static void test_evidence_bad(void **state) {
        (void) state;
        expect_error("GET", "/v1/evidence", NULL, 400, "nonce=HEX");
        expect_error("GET", "/v1/evidence?", NULL, 400, "nonce=HEX");
        expect_error("GET", "/v1/evidence?nonce=", NULL, 400, "1 to 64 bytes");
        expect_error("GET", "/v1/evidence?nonce=abc", NULL, 400, "1 to 64 bytes");
        expect_error("GET", "/v1/evidence?nonce=%41%41", NULL, 400, "1 to 64 bytes");
        expect_error("GET", "/v1/evidence?nonce=aa&nonce=bb", NULL, 400, "twice");
        expect_error("GET", "/v1/evidence?nonce=aa&x=1", NULL, 400, "unexpected query parameter \"x=1\"");
        expect_error("GET", "/v1/evidence?Nonce=aa", NULL, 400, "unexpected");
        expect_error("GET", "/v1/evidence?nonce=aa&&", NULL, 400, "unexpected");
        assert_int_equal(F.calls, 0);
        F.r = -EAGAIN;
        expect_error("GET", "/v1/evidence?nonce=aa", NULL, 503, "cannot obtain evidence: fake evidence failure");
        F.r = -EIO;
        expect_error("GET", "/v1/evidence?nonce=aa", NULL, 500, "fake evidence failure");
}

/* ---- POST /v1/extend ---- */

static void test_extend(void **state) {
        struct api_response rs;
        const char *body =
                "{\"operation\":\"load-adapter\",\"content\":{\"name\":\"lora-1\",\"n\":3,\"x\":[true,null]}}";
        json_t *o, *want;

        (void) state;
        B.boot_done = false;
        expect_error("POST", "/v1/extend", body, 409, "only after boot-done");
        assert_int_equal(F.calls, 0);
        B.boot_done = true;
        o = call_full("POST", "/v1/extend", body, strlen(body), false, 200, &rs);
        assert_string_equal(rs.summary, "record 7, operation load-adapter");
        api_response_done(&rs);
        assert_int_equal(json_integer_value(json_object_get(o, "recnum")), 7);
        assert_string_equal(json_string_value(json_object_get(o, "mr")), "pcr14");
        assert_string_equal(json_string_value(json_object_get(o, "operation")), "app");
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(o, "digests"), 0),
                                                              "digest")),
                            "abababababababababababababababababababababababababababababababab");
        json_decref(o);
        /* The app event's content is the body itself. */
        want = json_loads(body, 0, NULL);
        assert_true(json_equal(F.content, want));
        json_decref(want);
        F.r = -EFBIG;
        expect_error("POST", "/v1/extend", body, 507, "fake extend failure");
        F.r = -EIO;
        expect_error("POST", "/v1/extend", body, 500, "cannot measure the app event");
}

static void test_extend_bad(void **state) {
        (void) state;
        expect_error("POST", "/v1/extend", NULL, 400, "not valid JSON");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\",\"content\":{}", 400, "not valid JSON");
        expect_error("POST", "/v1/extend", "[]", 400, "must be a JSON object");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\",\"content\":{},\"operation\":\"b\"}", 400,
                     "duplicate");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\",\"content\":{\"k\":1,\"k\":2}}", 400, "duplicate");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\",\"content\":{},\"extra\":1}", 400,
                     "unknown member \"extra\"");
        expect_error("POST", "/v1/extend", "{\"content\":{}}", 400, "\"operation\" is missing");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\"}", 400, "\"content\" is missing");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\",\"content\":[1]}", 400, "must be a JSON object");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\",\"content\":\"s\"}", 400, "must be a JSON object");
        expect_error("POST", "/v1/extend", "{\"operation\":1,\"content\":{}}", 400, "must be a string");
        expect_error("POST", "/v1/extend", "{\"operation\":\"two words\",\"content\":{}}", 400, "is not 1 to 64");
        expect_error("POST", "/v1/extend", "{\"operation\":\"\",\"content\":{}}", 400, "is not 1 to 64");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\\u0000b\",\"content\":{}}", 400, "not valid JSON");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\",\"content\":{\"f\":1.5}}", 400, "not an integer");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\",\"content\":{\"f\":9007199254740992}}", 400,
                     "not an integer");
        expect_error("POST", "/v1/extend", "{\"operation\":\"a\",\"content\":{\"s\":\"\xff\"}}", 400, "not valid JSON");
        assert_int_equal(F.calls, 0);
}

static void test_extend_deep(void **state) {
        char body[512];
        size_t k = 0;

        (void) state;
        k += (size_t) snprintf(body, sizeof(body), "{\"operation\":\"a\",\"content\":");
        for (int i = 0; i < 70; i++)
                body[k++] = '[';
        for (int i = 0; i < 70; i++)
                body[k++] = ']';
        body[k] = 0;
        strcat(body, "}");
        expect_error("POST", "/v1/extend", body, 400, "must be a JSON object");
        k = (size_t) snprintf(body, sizeof(body), "{\"operation\":\"a\",\"content\":{\"x\":");
        for (int i = 0; i < 70; i++)
                body[k++] = '[';
        for (int i = 0; i < 70; i++)
                body[k++] = ']';
        body[k] = 0;
        strcat(body, "}}");
        expect_error("POST", "/v1/extend", body, 400, "nests deeper");
}

/* ---- GET /v1/log, GET /v1/manifest/NAME ---- */

static void test_files(void **state) {
        struct api_response rs;
        char buf[64] = "";

        (void) state;
        assert_null(call_full("GET", "/v1/log", NULL, 0, false, 200, &rs));
        assert_string_equal(rs.content_type, API_TYPE_JSON_SEQ);
        assert_int_equal(rs.fd_size, strlen(F.file));
        assert_int_equal(pread(rs.fd, buf, sizeof(buf) - 1, 0), (ssize_t) strlen(F.file));
        assert_string_equal(buf, F.file);
        api_response_done(&rs);
        assert_int_equal(rs.fd, -EBADF);

        F.file = "{\"alg\":\"sha256\",\"files\":[]}";
        assert_null(call_full("GET", "/v1/manifest/tiny-1.2_b", NULL, 0, false, 200, &rs));
        assert_string_equal(rs.content_type, API_TYPE_JSON);
        assert_string_equal(F.name, "tiny-1.2_b");
        api_response_done(&rs);
        F.r = -ENOENT;
        expect_error("GET", "/v1/manifest/absent", NULL, 404, "fake manifest failure");
        F.r = -EIO;
        expect_error("GET", "/v1/log", NULL, 500, "cannot read the measurement log: fake log failure");
        F.r = 0;
}

static void test_manifest_names(void **state) {
        static const char *const bad[] = {
                "/v1/manifest/", "/v1/manifest/..", "/v1/manifest/.hidden", "/v1/manifest/a/b", "/v1/manifest/-x",
                "/v1/manifest/a%2fb", "/v1/manifest/a:b",
                "/v1/manifest/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 65 */
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_error("GET", bad[i], NULL, 400, "is not a model name");
        assert_int_equal(F.calls, 0);
        json_decref(call("GET", "/v1/manifest/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
                         200)); /* 64 */
}

/* ---- the config's "api" section ---- */

static int parse(const char *api, struct config **c, errbuf *err) {
        char *doc = NULL;
        int r;

        assert_true(asprintf(&doc,
                             "{\"version\":1,\"workload\":{\"exec\":[\"/bin/w\"],\"user\":1000,\"group\":100}%s%s}",
                             api ? ",\"api\":" : "", api ?: "") > 0);
        r = config_parse((const uint8_t *) doc, strlen(doc), c, err);
        free(doc);
        return r;
}

static void test_config(void **state) {
        static const char *const bad[][2] = {
                { "[]", "api: expected an object" },
                { "{\"enabled\":1}", "api.enabled: expected true or false" },
                { "{\"socket_mode\":\"0660x\"}", "api.socket_mode: '0660x' is not an octal mode" },
                { "{\"socket_mode\":\"1660\"}", "api.socket_mode" },
                { "{\"socket_mode\":\"60\"}", "api.socket_mode" },
                { "{\"socket_mode\":\"0999\"}", "api.socket_mode" },
                { "{\"socket_mode\":432}", "api.socket_mode: expected a string" },
                { "{\"socket_user\":-1}", "api.socket_user: expected an integer from 0" },
                { "{\"socket_group\":\"0\"}", "api.socket_group: expected an integer" },
                { "{\"socket\":\"/x\"}", "api.socket: unknown key" },
        };
        struct config *c = NULL;
        errbuf err = {};

        (void) state;
        assert_int_equal(parse(NULL, &c, &err), 0);
        assert_true(c->api.enabled);
        assert_int_equal(c->api.socket_user, 1000);
        assert_int_equal(c->api.socket_group, 100);
        assert_int_equal(c->api.socket_mode, 0600);
        config_free(c);
        assert_int_equal(parse("{\"enabled\":false,\"socket_user\":0,\"socket_group\":5,\"socket_mode\":\"660\"}", &c,
                               &err), 0);
        assert_false(c->api.enabled);
        assert_int_equal(c->api.socket_user, 0);
        assert_int_equal(c->api.socket_group, 5);
        assert_int_equal(c->api.socket_mode, 0660);
        config_free(c);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                err = (errbuf) {};
                c = NULL;
                assert_int_equal(parse(bad[i][0], &c, &err), -EINVAL);
                if (!strstr(err.msg, bad[i][1]))
                        fail_msg("api %s: '%s' does not say '%s'", bad[i][0], err.msg, bad[i][1]);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup(test_report_data, reset), cmocka_unit_test_setup(test_nonce, reset),
                cmocka_unit_test_setup(test_routes, reset),      cmocka_unit_test_setup(test_limits, reset),
                cmocka_unit_test_setup(test_evidence, reset),    cmocka_unit_test_setup(test_evidence_bad, reset),
                cmocka_unit_test_setup(test_extend, reset),      cmocka_unit_test_setup(test_extend_bad, reset),
                cmocka_unit_test_setup(test_extend_deep, reset), cmocka_unit_test_setup(test_files, reset),
                cmocka_unit_test_setup(test_manifest_names, reset), cmocka_unit_test_setup(test_config, reset),
        };
        int r = cmocka_run_group_tests(tests, NULL, NULL);

        json_decref(F.content);
        return r;
}
