/* SPDX-License-Identifier: MIT */
/* The broker's request handling: the attest request parser and TPM evidence verification on the
 * input as a body (seeded with a real swtpm attest request, which verifies, so the policy runs
 * too), then the protocol core (cvm-broker-core.c) with the input as the body of auth, attest
 * (in a fresh session) and as a resource path and cookie. Properties beyond "no crash": failures
 * come with the documented error codes and a message; every response is a JSON object with a
 * status the protocol documents. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../tools/cvm-broker.h"
#include "tpm-verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct broker *broker;

static const char policy_text[] =
        "{\"version\":1,\"resources\":{\"default/disk/data\":{\"tee\":[\"tpm\"],\"trusted_aks\":"
        "[\"882858e7b24b6c780b94cf415c48bcced356f49a8a730809dd535ee2b6f5cd84\"],"
        "\"events\":[{\"operation\":\"config\"},{\"operation\":\"model\",\"content\":{\"name\":\"tiny\"}}]}}}";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        char dir[] = "/tmp/cvminit-fuzz-keys.XXXXXX";
        struct policy *p = NULL;

        (void) argc, (void) argv;
        setenv("TSS2_LOG", "all+NONE", 1);
        if (!mkdtemp(dir) || policy_parse(policy_text, strlen(policy_text), &p, NULL) < 0)
                abort();
        struct broker_options o = { .keys_dir = dir, .audit_fd = -1, .max_sessions = 64, .session_ttl_ms = 60000 };
        if (broker_new(&o, p, &broker) < 0)
                abort();
        (void) rmdir(dir); /* the open directory stays usable and empty */
        return 0;
}

static void check_response(struct broker_response *rs) {
        static const unsigned ok[] = { 200, 400, 401, 404, 405, 413, 500, 503 };
        json_t *o;
        bool known = false;

        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
                known |= rs->status == ok[i];
        if (!known || !rs->body)
                abort();
        o = json_loadb(rs->body, rs->body_len, 0, NULL);
        if (!json_is_object(o))
                abort();
        json_decref(o);
        broker_response_done(rs);
}

static void verify(const uint8_t *data, size_t size) {
        struct kbs_attest_request a = {};
        uint8_t rd[KBS_REPORT_DATA_SIZE];
        struct claims c = {};
        errbuf err = {};
        int r;

        r = kbs_proto_attest_parse((const char *) data, size, &a, &err);
        if (r < 0) {
                if ((r != -EBADMSG && r != -EFBIG && r != -ENOMEM) || !err.msg[0])
                        abort();
                return;
        }
        if (kbs_proto_report_data(a.nonce, a.tee_pubkey, rd) == 0) {
                r = tpm_evidence_verify(a.primary_evidence, rd, &c, &err);
                if (r < 0 && ((r != -EBADMSG && r != -EPERM && r != -ENOMEM) || !err.msg[0]))
                        abort();
                claims_done(&c);
        }
        kbs_attest_request_done(&a);
}

static void call(const char *method, const char *path, const char *cookie, const uint8_t *body, size_t n) {
        struct broker_request rq = { .method = method, .path = path, .cookie = cookie, .peer = "fuzz",
                                     .body = (const char *) body, .body_len = n };
        struct broker_response rs;

        broker_handle(broker, &rq, &rs);
        check_response(&rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char path[512], cookie[64];
        struct broker_response rs;
        struct broker_request auth = { .method = "POST", .path = "/kbs/v0/auth", .peer = "fuzz",
                                       .body = "{\"version\":\"0.4.0\",\"tee\":\"tpm\",\"extra-params\":\"\"}" };

        verify(data, size);
        call("POST", "/kbs/v0/auth", NULL, data, size);
        auth.body_len = strlen(auth.body);
        broker_handle(broker, &auth, &rs);
        snprintf(cookie, sizeof(cookie), "%.*s", (int) strcspn(rs.set_cookie + 15, ";"), rs.set_cookie + 15);
        check_response(&rs);
        call("POST", "/kbs/v0/attest", cookie, data, size);
        snprintf(path, sizeof(path), "/kbs/v0/resource/%.*s", (int) (size < 400 ? size : 400), (const char *) data);
        call("GET", path, cookie, NULL, 0);
        call("GET", "/kbs/v0/resource/default/disk/data", (const char *) (size && !memchr(data, 0, size) ? "x" : cookie),
             NULL, 0);
        return 0;
}
