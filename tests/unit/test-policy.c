/* SPDX-License-Identifier: MIT */
/* The broker's policy (policy.h): the documented example parses, every deliberately bad policy in
 * tests/fixtures/broker/policy-bad-*.json is refused with a message naming where, resource names
 * are checked as the key directory needs, and evaluation allows exactly what the rules say and
 * names the first rule that fails. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "policy.h"

#define AK_HEX "882858e7b24b6c780b94cf415c48bcced356f49a8a730809dd535ee2b6f5cd84"
#define CONFIG_SHA384 \
        "9e5a0f2c9cb1b3b0b2a9f7f3d1f2c5e9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3"
#define MANIFEST "5f1b2ea3b9fd8f0f6ae61a76b3bb5e0be2f7ac98ab1ab6a3fba1ac1a9cd1c2a0"
#define PCR14 "d06617c482f57906c5652a866c7e1be62a8ec9aa621223d6dbe230ead13f74f0"

static const char *fixtures(void) {
        return getenv("FIXTURES") ?: "tests/fixtures";
}

static struct policy *load(const char *name, int want, const char *words) {
        struct policy *p = NULL;
        char path[4096];
        errbuf err = {};
        int r;

        snprintf(path, sizeof(path), "%s/broker/%s", fixtures(), name);
        r = policy_load(path, &p, &err);
        if (r != want || (words && !strstr(err.msg, words)))
                fail_msg("%s: expected %d with \"%s\", got %d: %s", name, want, words ?: "", r, err.msg);
        return p;
}

static void test_good(void **state) {
        struct policy *p = load("policy-good.json", 0, NULL);

        (void) state;
        assert_int_equal(policy_n_resources(p), 3);
        policy_free(p);
}

static void test_bad(void **state) {
        static const struct {
                const char *name, *words;
        } expect[] = {
                { "syntax", "not valid JSON" },
                { "version", "version" },
                { "unknown-top", "unknown member \"extra\"" },
                { "unknown-member", "resources.a/b/c: unknown member \"evnts\"" },
                { "duplicate", "duplicate" },
                { "name-dotdot", "not a valid repo/type/tag" },
                { "name-two", "not a valid repo/type/tag" },
                { "no-rules", "requires neither events nor registers" },
                { "tee", "unknown TEE" },
                { "no-aks", "\"trusted_aks\" is required" },
                { "ak-hex", "trusted_aks[0]" },
                { "register-name", "unknown register" },
                { "register-len", "registers.pcr14.sha256" },
                { "register-bank", "unknown bank" },
                { "event-op", "events[0]" },
                { "event-content", "\"content\" must be an object" },
                { "event-member", "unknown member \"contents\"" },
                { "exact-type", "events_exact" },
                { "roots", "roots[0]: must be one PEM certificate" },
                { "no-roots", "\"roots\" is required when \"tee\" allows \"tdx\"" },
                { "empty", "1..1024 resources" },
        };
        char path[4096];
        unsigned files = 0;
        DIR *d;
        struct dirent *de;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                snprintf(path, sizeof(path), "policy-bad-%s.json", expect[i].name);
                assert_null(load(path, -EINVAL, expect[i].words));
        }
        /* Every bad fixture is in the table above. */
        snprintf(path, sizeof(path), "%s/broker", fixtures());
        d = opendir(path);
        assert_non_null(d);
        while ((de = readdir(d)))
                files += strncmp(de->d_name, "policy-bad-", 11) == 0;
        closedir(d);
        assert_int_equal(files, ELEMENTSOF(expect));
}

static void test_resource_names(void **state) {
        static const char *const good[] = { "default/disk/data", "a/b/c", "A-1/b_2/c.3", "x/y/z..z" };
        static const char *const bad[] = { "", "a/b", "a/b/c/d", "../b/c", "a/../c", "a/b/..", "./b/c", "a//c",
                                           "/a/b/c", "a/b/c/", ".a/b/c", "a/b/-c", "a/b/c d", "a/b/\xc3\xa9",
                                           "a/b/%2e%2e" };
        char longname[300];

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                assert_true(policy_resource_name_valid(good[i]));
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (policy_resource_name_valid(bad[i]))
                        fail_msg("accepted \"%s\"", bad[i]);
        memset(longname, 'a', sizeof(longname));
        memcpy(longname, "a/b/", 4);
        longname[4 + POLICY_NAME_COMPONENT_MAX] = 0;
        assert_true(policy_resource_name_valid(longname));
        longname[4 + POLICY_NAME_COMPONENT_MAX] = 'a';
        longname[5 + POLICY_NAME_COMPONENT_MAX] = 0;
        assert_false(policy_resource_name_valid(longname));
}

/* Claims as the fixture's evidence gives them, with events from a JSON array. */
static void make_claims(struct claims *c, const char *events_json) {
        uint8_t v[32];

        *c = (struct claims) { .tee = KBS_TEE_TPM, .has_ak = true };
        assert_int_equal(unhex(AK_HEX, 64, c->ak_sha256, 32), 32);
        assert_int_equal(unhex(PCR14, 64, v, 32), 32);
        assert_int_equal(claims_set_register(c, "pcr14", HASH_SHA256, v), 0);
        memset(v, 0x5a, sizeof(v));
        assert_int_equal(claims_set_register(c, "pcr0", HASH_SHA256, v), 0);
        c->events = json_loads(events_json, 0, NULL);
        assert_non_null(c->events);
}

static const char good_events[] =
        "[{\"domain\":\"cvminit\",\"operation\":\"config\",\"content\":{\"sha384\":\"" CONFIG_SHA384 "\","
        "\"source\":\"fw_cfg:opt/cvminit/config\"}},"
        "{\"domain\":\"cvminit\",\"operation\":\"model\",\"content\":{\"alg\":\"sha256\",\"bytes\":6,\"files\":1,"
        "\"manifest\":\"" MANIFEST "\",\"mode\":\"files\",\"name\":\"tiny\"}}]";

static void verdict(const struct policy *p, const char *res, const struct claims *c, bool allowed,
                    const char *rule, const char *words) {
        struct policy_verdict v;

        assert_int_equal(policy_evaluate(p, res, c, &v), 0);
        if (v.allowed != allowed || strcmp(v.rule, rule) != 0 || (words && !strstr(v.detail, words)))
                fail_msg("%s: expected %s rule \"%s\" (%s), got %s rule \"%s\": %s", res, allowed ? "allowed" : "denied",
                         rule, words ?: "", v.allowed ? "allowed" : "denied", v.rule, v.detail);
}

#define INTEL_ROOT_SHA256 "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

static void test_evaluate(void **state) {
        struct policy *p = load("policy-good.json", 0, NULL);
        struct claims c;
        char events[2048];

        (void) state;
        make_claims(&c, good_events);
        verdict(p, "default/disk/data", &c, true, "", NULL);
        verdict(p, "default/disk/exact", &c, true, "", NULL);
        verdict(p, "default/disk/other", &c, false, "resource", "no rule");
        verdict(p, "team-b/model/key", &c, false, "trusted_aks", "AK " AK_HEX " is not trusted");
        c.tee = KBS_TEE_TDX;
        verdict(p, "default/disk/data", &c, false, "tee", "TEE tdx is not allowed");
        /* TDX: the chain's root decides (Intel's root is team-b's; its DER's SHA-256 by openssl). */
        verdict(p, "team-b/model/key", &c, false, "roots", "names no trusted root");
        c.has_root = true;
        memset(c.root_sha256, 0x44, 32);
        verdict(p, "team-b/model/key", &c, false, "roots", "ends in root 4444");
        assert_int_equal(unhex(INTEL_ROOT_SHA256, 64, c.root_sha256, 32), 32);
        verdict(p, "team-b/model/key", &c, true, "", NULL);
        assert_int_equal(sk_X509_num(policy_tdx_roots(p)), 1);
        c.has_root = false;
        c.tee = KBS_TEE_TPM;
        c.registers[0].value[3] ^= 1;
        verdict(p, "default/disk/exact", &c, false, "registers.pcr14.sha256", "the policy expects " PCR14);
        verdict(p, "default/disk/data", &c, true, "", NULL); /* no register rule there */
        claims_done(&c);

        /* The model's manifest differs: the event and the member are named. */
        snprintf(events, sizeof(events), "%s", good_events);
        memcpy(strstr(events, MANIFEST), "ff", 2);
        make_claims(&c, events);
        verdict(p, "default/disk/data", &c, false, "events[1]", "model event (log event 1): \"manifest\" is \"ff");
        claims_done(&c);

        /* Order matters: the model before the config does not match. */
        make_claims(&c, "[{\"domain\":\"cvminit\",\"operation\":\"model\",\"content\":{\"name\":\"tiny\",\"manifest\":\""
                        MANIFEST "\"}},{\"domain\":\"cvminit\",\"operation\":\"config\",\"content\":{\"sha384\":\""
                        CONFIG_SHA384 "\"}}]");
        verdict(p, "default/disk/data", &c, false, "events[1]", "no model event after");
        claims_done(&c);

        /* An extra event is fine for a subsequence, not for events_exact; a foreign domain does not match. */
        snprintf(events, sizeof(events), "%.*s,{\"domain\":\"other\",\"operation\":\"model\",\"content\":{}}]",
                 (int) strlen(good_events) - 1, good_events);
        make_claims(&c, events);
        verdict(p, "default/disk/data", &c, true, "", NULL);
        verdict(p, "default/disk/exact", &c, false, "events_exact", "3 events");
        claims_done(&c);

        make_claims(&c, "[]");
        verdict(p, "default/disk/data", &c, false, "events[0]", "no config event in the log");
        c.has_ak = false;
        verdict(p, "default/disk/data", &c, false, "trusted_aks", "no attestation key");
        claims_done(&c);
        policy_free(p);
}

static void test_limits(void **state) {
        struct policy *p = NULL;
        errbuf err = {};
        char *big = malloc(POLICY_FILE_MAX + 2);

        (void) state;
        memset(big, ' ', POLICY_FILE_MAX + 1);
        assert_int_equal(policy_parse(big, POLICY_FILE_MAX + 1, &p, &err), -EFBIG);
        assert_int_equal(policy_parse("[]", 2, &p, &err), -EINVAL);
        assert_int_equal(policy_parse("{\"version\":1,\"resources\":{\"a/b/c\":{\"tee\":[\"tpm\",\"tpm\"],"
                                      "\"trusted_aks\":[],\"events\":[]}}}", 79, &p, &err), -EINVAL);
        assert_null(p);
        free(big);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_resource_names),
                cmocka_unit_test(test_evaluate),
                cmocka_unit_test(test_limits),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
