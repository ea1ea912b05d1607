/* SPDX-License-Identifier: MIT */
/* The broker's policy parser (policy.h) and evaluation: any input is parsed or refused with
 * -EINVAL/-EFBIG and a message; a parsed policy evaluates fixed claims for a few resource names
 * without crashing, and a denial always names its rule. */
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = { "default/disk/data", "a/b/c", "team-b/model/key", "../x/y" };

static void evaluate(const struct policy *p, struct claims *c) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                struct policy_verdict v;
                if (policy_evaluate(p, names[i], c, &v) < 0)
                        abort();
                if (!v.allowed && !v.rule[0])
                        abort();
                if (v.allowed && v.rule[0])
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct policy *p = NULL;
        struct claims c = { .tee = KBS_TEE_TPM, .has_ak = true };
        uint8_t v[32] = {};
        errbuf err = {};
        int r;

        r = policy_parse((const char *) data, size, &p, &err);
        if (r < 0) {
                if ((r != -EINVAL && r != -EFBIG && r != -ENOMEM) || !err.msg[0] || p)
                        abort();
                return 0;
        }
        (void) claims_set_register(&c, "pcr14", HASH_SHA256, v);
        c.events = json_loads("[{\"domain\":\"cvminit\",\"operation\":\"config\",\"content\":{\"sha384\":\"aa\"}},"
                              "{\"domain\":\"cvminit\",\"operation\":\"model\",\"content\":{\"name\":\"tiny\"}},"
                              "{\"domain\":\"other\",\"operation\":\"x\",\"content\":\"text\"}]",
                              0, NULL);
        evaluate(p, &c);
        c.tee = KBS_TEE_TDX;
        evaluate(p, &c);
        claims_done(&c);
        policy_free(p);
        return 0;
}
