/* SPDX-License-Identifier: MIT */
/* agent/kbs.c without a network: the report_data binding against a JCS text built by hand and
 * hashed with OpenSSL, the key-provider event (ca_sha256 from the fixture's documented value), the
 * `kbs` config section, the parsers of the broker's answers, and the backoff. The exchange itself
 * runs against fake and real brokers in tests/integration/test-kbs-client.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "config.h"
#include "jwe.h"
#include "kbs-proto.h"
#include "kbs.h"

/* tests/fixtures/kbs/README.md */
#define CA_SHA256 "37b4122785ab1cede023443fc6ebcd4eda82d8414b90f2c0f1726d070be4cd3a"

static char *ca_pem;

static int group_setup(void **state) {
        const char *dir = getenv("FIXTURES") ?: "tests/fixtures";
        char path[4096];
        uint8_t *p = NULL;
        size_t n;

        (void) state;
        snprintf(path, sizeof(path), "%s/kbs/ca.pem", dir);
        assert_int_equal(read_file_limited(path, 65536, &p, &n), 0);
        ca_pem = (char *) p;
        return 0;
}

static int group_teardown(void **state) {
        (void) state;
        free(ca_pem);
        return 0;
}

/* ---- report_data (DESIGN §4 step 3) ---- */

static void check_report_data(const char *nonce, const char *nonce_jcs, const json_t *jwk) {
        char *text = NULL;
        uint8_t want[48], got[KBS_REPORT_DATA_SIZE];

        /* RFC 8785 by hand: members sorted, no whitespace, only " and \ escaped here. */
        assert_true(asprintf(&text,
                             "{\"additional-evidence\":\"\",\"nonce\":\"%s\",\"tee-pubkey\":{\"alg\":\"%s\","
                             "\"crv\":\"%s\",\"kty\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}}",
                             nonce_jcs, json_string_value(json_object_get(jwk, "alg")),
                             json_string_value(json_object_get(jwk, "crv")),
                             json_string_value(json_object_get(jwk, "kty")),
                             json_string_value(json_object_get(jwk, "x")),
                             json_string_value(json_object_get(jwk, "y"))) > 0);
        SHA384((const uint8_t *) text, strlen(text), want);
        assert_int_equal(kbs_proto_report_data(nonce, jwk, got), 0);
        assert_memory_equal(got, want, sizeof(want));
        free(text);
}

static void test_report_data(void **state) {
        struct jwe_key *k = NULL;

        (void) state;
        assert_int_equal(jwe_key_new(&k, NULL), 0);
        /* A Trustee nonce (base64 of 32 bytes) and one that needs escaping. */
        check_report_data("q3ofbm0AqHfkbgqUCfFkLu8fTjD5mhU9wSdTkYdsR6A=", "q3ofbm0AqHfkbgqUCfFkLu8fTjD5mhU9wSdTkYdsR6A=",
                          jwe_key_public(k));
        check_report_data("a\"b\\c/d", "a\\\"b\\\\c/d", jwe_key_public(k));
        jwe_key_free(k);
}

/* A fixed JWK and nonce, and the SHA-384 computed outside (openssl dgst -sha384 of the JCS text). */
static void test_report_data_vector(void **state) {
        json_t *jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "alg", "ECDH-ES+A256KW",
                                "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "y",
                                "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE");
        uint8_t got[KBS_REPORT_DATA_SIZE];
        char hex[2 * KBS_REPORT_DATA_SIZE + 1];

        (void) state;
        assert_int_equal(kbs_proto_report_data("bm9uY2U=", jwk, got), 0);
        hex_encode(got, sizeof(got), hex);
        /* printf '%s' '{"additional-evidence":"","nonce":"bm9uY2U=","tee-pubkey":{"alg":"ECDH-ES+A256KW",
         * "crv":"P-256","kty":"EC","x":"AAAA…AAA","y":"AQEB…AQE"}}' | openssl dgst -sha384 */
        assert_string_equal(hex, "0d6c4291b9b223641fff5a02bcd52053e39522c52fd95d476fd87bc9367f6f93121109838da061490121f1fb0877b7b4");
        json_decref(jwk);
}

/* ---- config and the key-provider event ---- */

static int parse_kbs(const char *kbs_json, struct config **ret, errbuf *err) {
        char *doc = NULL;
        int r;

        assert_true(asprintf(&doc, "{\"version\":1,\"workload\":{\"exec\":[\"/bin/app\"]},\"kbs\":%s}", kbs_json) > 0);
        r = config_parse((const uint8_t *) doc, strlen(doc), ret, err);
        free(doc);
        return r;
}

static char *kbs_json(const char *url, const char *ca, const char *resource, const char *extra) {
        json_t *o = json_pack("{s:s, s:s, s:s}", "url", url, "ca", ca, "resource", resource);
        json_t *x = extra ? json_loads(extra, 0, NULL) : NULL;
        char *s;

        assert_non_null(o);
        if (x)
                assert_int_equal(json_object_update(o, x), 0);
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        json_decref(x);
        return s;
}

static void test_config_good(void **state) {
        struct config *c = NULL;
        json_t *content = NULL;
        char *j;

        (void) state;
        j = kbs_json("https://10.0.2.2:8443", ca_pem, "default/disk/key", NULL);
        assert_int_equal(parse_kbs(j, &c, NULL), 0);
        free(j);
        assert_non_null(c->kbs);
        assert_string_equal(c->kbs->url, "https://10.0.2.2:8443");
        assert_string_equal(c->kbs->resource, "default/disk/key");
        assert_int_equal(c->kbs->timeout_ms, 10000);
        assert_int_equal(c->kbs->retries, 5);
        assert_int_equal(c->kbs->retry_delay_ms, 500);
        assert_int_equal(config_kbs_event_content(c->kbs, &content), 0);
        assert_int_equal(json_object_size(content), 3);
        assert_string_equal(json_string_value(json_object_get(content, "url")), "https://10.0.2.2:8443");
        assert_string_equal(json_string_value(json_object_get(content, "ca_sha256")), CA_SHA256);
        assert_string_equal(json_string_value(json_object_get(content, "resource")), "default/disk/key");
        json_decref(content);
        config_free(c);
        c = NULL;

        j = kbs_json("https://[::1]:1/prefix/kbs", ca_pem, "a/b/c",
                     "{\"timeout_ms\":1,\"retries\":0,\"retry_delay_ms\":60000}");
        assert_int_equal(parse_kbs(j, &c, NULL), 0);
        free(j);
        assert_int_equal(c->kbs->timeout_ms, 1);
        assert_int_equal(c->kbs->retries, 0);
        assert_int_equal(c->kbs->retry_delay_ms, 60000);
        config_free(c);
}

static void expect_bad(const char *j, const char *msg) {
        struct config *c = NULL;
        errbuf err = {};

        if (parse_kbs(j, &c, &err) != -EINVAL || !strstr(err.msg, msg))
                fail_msg("config %s: got '%s', want '%s'", j, err.msg, msg);
        assert_null(c);
}

static void test_config_bad(void **state) {
        static const char *const urls[] = { "http://x", "https://", "https:///x", "https://x/", "https://u@x",
                                            "https://x?a", "https://x#f", "https://x y", "ftp://x", "HTTPS://x" };
        static const char *const resources[] = { "a/b", "a/b/c/d", "a//c", "/a/b/c", "a/b/c/", "a/../c",
                                                  "a/b/.c", "a/b/c d", "" };
        char *two_certs = NULL, *j;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(urls); i++) {
                j = kbs_json(urls[i], ca_pem, "a/b/c", NULL);
                expect_bad(j, "kbs.url");
                free(j);
        }
        for (size_t i = 0; i < ELEMENTSOF(resources); i++) {
                j = kbs_json("https://x", ca_pem, resources[i], NULL);
                expect_bad(j, "kbs.resource");
                free(j);
        }
        assert_true(asprintf(&two_certs, "%s%s", ca_pem, ca_pem) > 0);
        j = kbs_json("https://x", two_certs, "a/b/c", NULL);
        expect_bad(j, "kbs.ca: expected exactly one PEM certificate");
        free(j);
        free(two_certs);
        j = kbs_json("https://x", "not a certificate", "a/b/c", NULL);
        expect_bad(j, "kbs.ca");
        free(j);
        j = kbs_json("https://x", ca_pem, "a/b/c", "{\"timeout_ms\":0}");
        expect_bad(j, "kbs.timeout_ms");
        free(j);
        j = kbs_json("https://x", ca_pem, "a/b/c", "{\"retries\":101}");
        expect_bad(j, "kbs.retries");
        free(j);
        j = kbs_json("https://x", ca_pem, "a/b/c", "{\"retry_delay_ms\":60001}");
        expect_bad(j, "kbs.retry_delay_ms");
        free(j);
        j = kbs_json("https://x", ca_pem, "a/b/c", "{\"insecure\":true}");
        expect_bad(j, "kbs.insecure: unknown key");
        free(j);
        expect_bad("{\"url\":\"https://x\",\"resource\":\"a/b/c\"}", "kbs.ca: required key missing");
        expect_bad("[]", "kbs: expected an object");
}

/* ---- the broker's answers ---- */

static void test_auth_response(void **state) {
        static const struct {
                const char *body, *msg;
        } bad[] = {
                { "", "not a JSON object" },
                { "[]", "not a JSON object" },
                { "{\"extra-params\":\"\"}", "no \"nonce\"" },
                { "{\"nonce\":1}", "no \"nonce\"" },
                { "{\"nonce\":\"\"}", "printable ASCII" },
                { "{\"nonce\":\"a\\nb\"}", "printable ASCII" },
                { "{\"nonce\":\"\\u00e9\"}", "printable ASCII" },
                { "{\"nonce\":\"a\",\"nonce\":\"b\"}", "not a JSON object" },
        };
        char *nonce = NULL, big[KBS_NONCE_MAX + 32];
        errbuf err = {};
        static const char good[] = "{\"nonce\":\"abc=\",\"extra-params\":\"\"}";

        assert_int_equal(kbs_parse_auth_response(good, strlen(good), &nonce, &err), 0);
        assert_string_equal(nonce, "abc=");
        free(nonce);
        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                nonce = NULL;
                if (kbs_parse_auth_response(bad[i].body, strlen(bad[i].body), &nonce, &err) != -EBADMSG ||
                    !strstr(err.msg, bad[i].msg))
                        fail_msg("%s: '%s'", bad[i].body, err.msg);
                assert_null(nonce);
        }
        snprintf(big, sizeof(big), "{\"nonce\":\"%0*d\"}", KBS_NONCE_MAX + 1, 0);
        assert_int_equal(kbs_parse_auth_response(big, strlen(big), &nonce, &err), -EBADMSG);
}

static const char *describe(const char *body) {
        static char out[512];
        kbs_describe_error(body, strlen(body), out, sizeof(out));
        return out;
}

static void test_describe_error(void **state) {
        (void) state;
        assert_string_equal(describe("{\"type\":\"https://github.com/confidential-containers/kbs/errors/PolicyDeny\","
                                     "\"detail\":\"model digest not allowed\"}"),
                            "PolicyDeny: model digest not allowed");
        assert_string_equal(describe("{\"type\":\"urn:x\",\"detail\":\"a\\u0001b\\nc\"}"), "urn:x: a\\x01b\\x0ac");
        assert_string_equal(describe("{\"detail\":\"no type\"}"), "");
        assert_string_equal(describe("<html>502</html>"), "");
        assert_string_equal(describe(""), "");
}

static void test_backoff(void **state) {
        (void) state;
        assert_int_equal(kbs_backoff_ms(500, 0), 500);
        assert_int_equal(kbs_backoff_ms(500, 1), 1000);
        assert_int_equal(kbs_backoff_ms(500, 4), 8000);
        assert_int_equal(kbs_backoff_ms(500, 6), KBS_BACKOFF_MAX_MS);
        assert_int_equal(kbs_backoff_ms(500, 1000), KBS_BACKOFF_MAX_MS);
        assert_int_equal(kbs_backoff_ms(60000, 0), KBS_BACKOFF_MAX_MS);
        assert_int_equal(kbs_backoff_ms(0, 5), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_report_data),
                cmocka_unit_test(test_report_data_vector),
                cmocka_unit_test(test_config_good),
                cmocka_unit_test(test_config_bad),
                cmocka_unit_test(test_auth_response),
                cmocka_unit_test(test_describe_error),
                cmocka_unit_test(test_backoff),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
