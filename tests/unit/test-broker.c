/* SPDX-License-Identifier: MIT */
/* cvm-broker's protocol core (tools/cvm-broker-core.c) driven without HTTP: auth, attest with
 * evidence made in software (softquote.h), resource as JWE decrypted by libjose (an independent
 * JOSE implementation), and the rules around them: one nonce per session used once, a request
 * replayed into another session rejected, expiry, unknown and missing cookies, the session limit,
 * body size limit, bad paths, policy denial naming its rule, one audit line per decision. TDX: a
 * tee "tdx" session with evidence from cvm-tdxsim's generators (tdxevidence.h) under two test
 * chains, both roots in the policy, each resource trusting its own; a tampered log, a quote for
 * another nonce and evidence of the other TEE refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jose/jose.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "cvm-broker.h"
#include "pemcert.h"
#include "softquote.h"
#include "tdxevidence.h"
#include "tmptree.h"

#define KEY_TEXT "0123456789abcdef0123456789abcdef"

static struct softquote sq;
static struct tdxsim_keys tdx_a, tdx_b; /* two test PCK chains (cvm-tdxsim) */

static const char *const boot_events[] = {
        "config", "{\"sha384\":\"aa\",\"source\":\"fw_cfg:opt/cvminit/config\"}",
        "model", "{\"alg\":\"sha256\",\"bytes\":6,\"files\":1,\"manifest\":\"bb\",\"mode\":\"files\",\"name\":\"tiny\"}",
        NULL,
};

struct env {
        struct broker *b;
        int audit_fd;
        char audit[4096];
};

static void write_text(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

/* A root's PEM file as a JSON string. */
static char *pem_json(const char *rel) {
        _cleanup_free_ uint8_t *p = NULL;
        json_t *s;
        char *text;
        size_t n;

        assert_int_equal(read_file_limited(at(rel), 1U << 16, &p, &n), 0);
        s = json_stringn((const char *) p, n);
        text = json_dumps(s, JSON_ENCODE_ANY);
        json_decref(s);
        assert_non_null(text);
        return text;
}

static void env_open(struct env *e, unsigned max_sessions, uint64_t ttl_ms) {
        _cleanup_free_ char *policy = NULL, *root_a = pem_json("tdx-a/root.pem"), *root_b = pem_json("tdx-b/root.pem");
        char fp[65], keys[4096], mrtd[97];
        uint8_t d[48];
        struct policy *p = NULL;
        errbuf err = {};
        int fd;

        tdxev_sha384("cvm-tdxsim MRTD", 15, d);
        hex_encode(d, 48, mrtd);
        softquote_fingerprint(&sq, d);
        hex_encode(d, 32, fp);
        assert_true(asprintf(&policy,
                 "{\"version\":1,\"resources\":{"
                 "\"default/tdx/data\":{\"tee\":[\"tdx\"],\"roots\":[%s],"
                 "\"events\":[{\"operation\":\"config\",\"content\":{\"sha384\":\"aa\"}},"
                 "{\"operation\":\"model\",\"content\":{\"name\":\"tiny\",\"manifest\":\"bb\"}}]},"
                 "\"default/tdx/mrtd\":{\"tee\":[\"tdx\",\"tpm\"],\"roots\":[%s],\"trusted_aks\":[\"%s\"],"
                 "\"registers\":{\"mrtd\":{\"sha384\":\"%s\"},\"rtmr0\":{\"sha384\":\"%s\"}}},"
                 "\"default/tdx/other-root\":{\"tee\":[\"tdx\"],\"roots\":[%s],\"events\":[{\"operation\":\"config\"}]},"
                 "\"default/disk/data\":{\"tee\":[\"tpm\"],\"trusted_aks\":[\"%s\"],"
                 "\"events\":[{\"operation\":\"config\",\"content\":{\"sha384\":\"aa\"}},"
                 "{\"operation\":\"model\",\"content\":{\"name\":\"tiny\",\"manifest\":\"bb\"}}]},"
                 "\"default/disk/denied\":{\"tee\":[\"tpm\"],\"trusted_aks\":[\"%s\"],"
                 "\"events\":[{\"operation\":\"model\",\"content\":{\"manifest\":\"cc\"}}]},"
                 "\"default/disk/nofile\":{\"tee\":[\"tpm\"],\"trusted_aks\":[\"%s\"],\"events\":[{\"operation\":\"config\"}]}}}",
                 root_a, root_a, fp, mrtd, tdxev_fw_rtmr[0], root_b, fp, fp, fp) > 0);
        if (policy_parse(policy, strlen(policy), &p, &err) < 0)
                fail_msg("policy: %s", err.msg);
        snprintf(keys, sizeof(keys), "%s", at("keys"));
        mkdir(keys, 0700);
        mkdir(at("keys/default"), 0700);
        mkdir(at("keys/default/disk"), 0700);
        write_text(at("keys/default/disk/data"), KEY_TEXT);
        write_text(at("keys/default/disk/denied"), "secret-denied");
        mkdir(at("keys/default/tdx"), 0700);
        write_text(at("keys/default/tdx/data"), "tdx-data-key");
        write_text(at("keys/default/tdx/mrtd"), "tdx-mrtd-key");
        write_text(at("keys/default/tdx/other-root"), "tdx-other-root-key");
        if (symlink("data", at("keys/default/disk/link")) < 0 && errno != EEXIST)
                fail_msg("symlink: %m");
        snprintf(e->audit, sizeof(e->audit), "%s", at("audit.log"));
        fd = open(e->audit, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        e->audit_fd = fd;
        struct broker_options o = { .keys_dir = keys, .audit_fd = fd, .max_sessions = max_sessions,
                                    .session_ttl_ms = ttl_ms };
        assert_int_equal(broker_new(&o, p, &e->b), 0);
}

static void env_close(struct env *e) {
        broker_free(e->b);
        close(e->audit_fd);
}

/* One request; returns the response (caller frees with broker_response_done). */
static struct broker_response call(struct env *e, const char *method, const char *path, const char *cookie,
                                   const char *body) {
        struct broker_request rq = { .method = method, .path = path, .cookie = cookie, .peer = "127.0.0.1:1",
                                     .body = body ?: "", .body_len = body ? strlen(body) : 0 };
        struct broker_response rs;

        broker_handle(e->b, &rq, &rs);
        assert_non_null(rs.body);
        assert_int_equal(rs.body_len, strlen(rs.body));
        return rs;
}

/* Asserts an error response: status and Trustee error variant. */
static void expect_error(struct broker_response *rs, unsigned status, const char *variant) {
        json_t *o = json_loads(rs->body, 0, NULL);
        char want[160];

        snprintf(want, sizeof(want), "%s%s", KBS_ERROR_TYPE_PREFIX, variant);
        if (rs->status != status || !o || strcmp(json_string_value(json_object_get(o, "type")) ?: "", want) != 0 ||
            !json_is_string(json_object_get(o, "detail")) || json_object_size(o) != 2)
                fail_msg("expected %u %s, got %u %s", status, variant, rs->status, rs->body);
        json_decref(o);
        broker_response_done(rs);
}

struct session_info {
        char cookie[64];
        char nonce[128];
};

static void auth_tee(struct env *e, struct session_info *s, const char *tee) {
        char req[128];
        snprintf(req, sizeof(req), "{\"version\":\"0.4.0\",\"tee\":\"%s\",\"extra-params\":\"\"}", tee);
        struct broker_response rs = call(e, "POST", "/kbs/v0/auth", NULL, req);
        json_t *o = json_loads(rs.body, 0, NULL);
        const char *nonce = json_string_value(json_object_get(o, "nonce"));
        uint8_t *raw = NULL;
        size_t n;

        assert_int_equal(rs.status, 200);
        assert_non_null(nonce);
        assert_int_equal(base64_decode(nonce, strlen(nonce), BASE64_STD, 64, &raw, &n), 0);
        assert_int_equal(n, 32);
        free(raw);
        assert_string_equal(json_string_value(json_object_get(o, "extra-params")), "");
        assert_int_equal(strncmp(rs.set_cookie, "kbs-session-id=", 15), 0);
        assert_non_null(strstr(rs.set_cookie, "; Secure; HttpOnly"));
        snprintf(s->cookie, sizeof(s->cookie), "%.*s", (int) strcspn(rs.set_cookie + 15, ";"), rs.set_cookie + 15);
        snprintf(s->nonce, sizeof(s->nonce), "%s", nonce);
        json_decref(o);
        broker_response_done(&rs);
}

static void auth(struct env *e, struct session_info *s) {
        auth_tee(e, s, "tpm");
}

/* An attest body for nonce and jwk with evidence bound to bind_nonce (normally the same). */
static char *attest_body(const char *nonce, const char *bind_nonce, const json_t *jwk, const char *const *events) {
        uint8_t rd[KBS_REPORT_DATA_SIZE], pcrs[24][32];
        json_t *o;
        char *s;

        assert_int_equal(kbs_proto_report_data(bind_nonce, jwk, rd), 0);
        o = json_pack("{s:{s:s, s:O}, s:{s:o, s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", jwk,
                      "tee-evidence", "primary_evidence", softquote_evidence(&sq, rd, events, pcrs),
                      "additional_evidence", "");
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
}

static json_t *new_ec_key(void) {
        json_t *k = json_pack("{s:s, s:s}", "kty", "EC", "crv", "P-256");
        assert_true(jose_jwk_gen(NULL, k));
        json_object_set_new(k, "alg", json_string("ECDH-ES+A256KW"));
        return k;
}

static json_t *public_of(const json_t *k) {
        json_t *p = json_deep_copy(k);
        json_object_del(p, "d");
        json_object_del(p, "key_ops");
        return p;
}

/* The protected header must be exactly {"alg","enc","epk":{"crv","kty","x","y"}} in this order. */
static void check_header(const json_t *jwe) {
        const char *b64 = json_string_value(json_object_get(jwe, "protected"));
        _cleanup_free_ uint8_t *h = NULL;
        char x[64], y[64], want[512];
        size_t n;

        assert_int_equal(base64_decode(b64, strlen(b64), BASE64_URL, 4096, &h, &n), 0);
        if (sscanf((char *) h, "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"P-256\","
                               "\"kty\":\"EC\",\"x\":\"%43[A-Za-z0-9_-]\",\"y\":\"%43[A-Za-z0-9_-]\"}}", x, y) != 2)
                fail_msg("protected header: %s", h);
        snprintf(want, sizeof(want), "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"crv\":\"P-256\","
                 "\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}}", x, y);
        assert_string_equal((char *) h, want);
        assert_int_equal(strlen(x), 43);
        assert_int_equal(strlen(y), 43);
}

/* Decrypts a resource response with libjose and the private key. */
static void expect_key(struct broker_response *rs, const json_t *priv, const char *want, bool ec) {
        json_t *jwe = json_loads(rs->body, 0, NULL);
        size_t n = 0;
        char *pt;

        if (rs->status != 200 || !jwe)
                fail_msg("resource: %u %s", rs->status, rs->body);
        assert_int_equal(json_object_size(jwe), 5);
        if (ec)
                check_header(jwe);
        pt = jose_jwe_dec(NULL, jwe, NULL, priv, &n);
        assert_non_null(pt);
        assert_int_equal(n, strlen(want));
        assert_memory_equal(pt, want, n);
        free(pt);
        json_decref(jwe);
        broker_response_done(rs);
}

static void attest_ok(struct env *e, struct session_info *s, const json_t *pub) {
        _cleanup_free_ char *body = attest_body(s->nonce, s->nonce, pub, boot_events);
        struct broker_response rs = call(e, "POST", "/kbs/v0/attest", s->cookie, body);

        if (rs.status != 200)
                fail_msg("attest: %u %s", rs.status, rs.body);
        assert_string_equal(rs.body, "{\"token\":\"\"}");
        broker_response_done(&rs);
}

static json_t *audit_lines(struct env *e) {
        _cleanup_free_ uint8_t *p = NULL;
        json_t *a = json_array();
        size_t n;

        assert_int_equal(read_file_limited(e->audit, 1U << 20, &p, &n), 0);
        for (char *line = (char *) p, *nl; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                assert_non_null(nl); /* every line complete */
                json_t *o = json_loadb(line, (size_t) (nl - line), 0, NULL);
                assert_non_null(o);
                json_array_append_new(a, o);
        }
        return a;
}

static const char *field(json_t *lines, size_t i, const char *name) {
        return json_string_value(json_object_get(json_array_get(lines, i), name)) ?: "(null)";
}

static void test_full_flow_ec(void **state) {
        struct env e = {};
        struct session_info s;
        json_t *priv = new_ec_key(), *pub = public_of(priv), *lines;
        struct broker_response rs;
        char hex[65];
        uint8_t fp[32];

        (void) state;
        env_open(&e, 0, 0);
        auth(&e, &s);
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/data", s.cookie, NULL);
        expect_error(&rs, 401, "UnAuthenticatedCookie");
        attest_ok(&e, &s, pub);
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/data", s.cookie, NULL);
        expect_key(&rs, priv, KEY_TEXT, true);
        /* A second resource in the same session: allowed by the same attestation. */
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/data", s.cookie, NULL);
        expect_key(&rs, priv, KEY_TEXT, true);
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/denied", s.cookie, NULL);
        expect_error(&rs, 401, "PolicyDeny");
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/nofile", s.cookie, NULL);
        expect_error(&rs, 404, "ResourceNotFound");
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/other", s.cookie, NULL);
        expect_error(&rs, 401, "PolicyDeny");

        lines = audit_lines(&e);
        softquote_fingerprint(&sq, fp);
        hex_encode(fp, 32, hex);
        assert_int_equal(json_array_size(lines), 6); /* attest + 5 resource decisions */
        assert_string_equal(field(lines, 0, "action"), "attest");
        assert_string_equal(field(lines, 0, "decision"), "allowed");
        assert_string_equal(field(lines, 0, "session"), s.cookie);
        assert_string_equal(field(lines, 0, "tee"), "tpm");
        assert_string_equal(field(lines, 0, "ak_sha256"), hex);
        assert_string_equal(field(lines, 1, "action"), "resource");
        assert_string_equal(field(lines, 1, "resource"), "default/disk/data");
        assert_string_equal(field(lines, 1, "decision"), "allowed");
        assert_string_equal(field(lines, 3, "decision"), "denied");
        assert_string_equal(field(lines, 3, "rule"), "events[0]");
        assert_non_null(strstr(field(lines, 3, "detail"), "\"manifest\" is \"bb\", the policy expects \"cc\""));
        assert_string_equal(field(lines, 4, "rule"), "key");
        assert_string_equal(field(lines, 5, "rule"), "resource");
        assert_non_null(strstr(field(lines, 5, "time"), "T"));
        json_decref(lines);
        json_decref(priv), json_decref(pub);
        env_close(&e);
}

static uint8_t *b64url_member(const json_t *o, const char *name, size_t *n) {
        const char *s = json_string_value(json_object_get(o, name));
        uint8_t *p = NULL;

        assert_non_null(s);
        assert_int_equal(base64_decode(s, strlen(s), BASE64_URL, 1U << 20, &p, n), 0);
        return p;
}

/* RFC 7516 decryption of an RSA-OAEP-256 + A256GCM JWE, step by step with OpenSSL in the test: the
 * Debian 12 libjose (11) fails RSA-OAEP with OpenSSL 3 ("Wrapping failed", also in its CLI). */
static void rsa_jwe_decrypt(EVP_PKEY *priv, const char *text, const char *want) {
        json_t *jwe = json_loads(text, 0, NULL);
        _cleanup_free_ uint8_t *hdr = NULL, *ek = NULL, *iv = NULL, *ct = NULL, *tag = NULL, *pt = NULL;
        size_t hn, ekn, ivn, ctn, tagn, cekn = 512;
        uint8_t cek[512]; /* OpenSSL wants room for a whole RSA block */
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(priv, NULL);
        EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
        const char *prot = json_string_value(json_object_get(jwe, "protected"));
        int len, fin;

        hdr = b64url_member(jwe, "protected", &hn);
        assert_string_equal((char *) hdr, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}");
        ek = b64url_member(jwe, "encrypted_key", &ekn);
        iv = b64url_member(jwe, "iv", &ivn);
        ct = b64url_member(jwe, "ciphertext", &ctn);
        tag = b64url_member(jwe, "tag", &tagn);
        assert_int_equal(ivn, 12);
        assert_int_equal(tagn, 16);
        assert_int_equal(EVP_PKEY_decrypt_init(pc), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(pc, EVP_sha256()), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pc, EVP_sha256()), 1);
        assert_int_equal(EVP_PKEY_decrypt(pc, cek, &cekn, ek, ekn), 1);
        assert_int_equal(cekn, 32);
        pt = malloc(ctn + 16);
        assert_int_equal(EVP_DecryptInit_ex(cc, EVP_aes_256_gcm(), NULL, cek, iv), 1);
        assert_int_equal(EVP_DecryptUpdate(cc, NULL, &len, (const uint8_t *) prot, (int) strlen(prot)), 1);
        assert_int_equal(EVP_DecryptUpdate(cc, pt, &len, ct, (int) ctn), 1);
        assert_int_equal(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_GCM_SET_TAG, 16, tag), 1);
        assert_int_equal(EVP_DecryptFinal_ex(cc, pt + len, &fin), 1);
        assert_int_equal((size_t) (len + fin), strlen(want));
        assert_memory_equal(pt, want, strlen(want));
        EVP_PKEY_CTX_free(pc);
        EVP_CIPHER_CTX_free(cc);
        json_decref(jwe);
}

static char *bn_b64url(EVP_PKEY *k, const char *param) {
        BIGNUM *bn = NULL;
        uint8_t buf[512];
        char *s = NULL;
        int n;

        assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
        n = BN_bn2bin(bn, buf);
        assert_int_equal(base64_encode(buf, (size_t) n, BASE64_URL, &s) > 0, 1);
        BN_free(bn);
        return s;
}

static void test_rsa_release(void **state) {
        struct env e = {};
        struct session_info s;
        EVP_PKEY *k = EVP_RSA_gen(2048);
        _cleanup_free_ char *n = bn_b64url(k, "n"), *ex = bn_b64url(k, "e");
        json_t *pub = json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "alg", "RSA-OAEP-256", "n", n, "e", ex);
        struct broker_response rs;

        (void) state;
        env_open(&e, 0, 0);
        auth(&e, &s);
        attest_ok(&e, &s, pub);
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/data", s.cookie, NULL);
        assert_int_equal(rs.status, 200);
        rsa_jwe_decrypt(k, rs.body, KEY_TEXT);
        broker_response_done(&rs);
        EVP_PKEY_free(k);
        json_decref(pub);
        env_close(&e);
}

/* One nonce per session, used once; a request captured in one session fails in another. */
static void test_nonce_rules(void **state) {
        struct env e = {};
        struct session_info s1, s2, s3;
        json_t *priv = new_ec_key(), *pub = public_of(priv);
        _cleanup_free_ char *body = NULL, *patched = NULL, *stale = NULL;
        struct broker_response rs;

        (void) state;
        env_open(&e, 0, 0);
        auth(&e, &s1);
        auth(&e, &s2);
        assert_string_not_equal(s1.cookie, s2.cookie);
        assert_string_not_equal(s1.nonce, s2.nonce);
        body = attest_body(s1.nonce, s1.nonce, pub, boot_events);
        rs = call(&e, "POST", "/kbs/v0/attest", s1.cookie, body);
        assert_int_equal(rs.status, 200);
        broker_response_done(&rs);
        /* The same request again in the same session: the nonce is used. */
        rs = call(&e, "POST", "/kbs/v0/attest", s1.cookie, body);
        expect_error(&rs, 401, "AttestationFailed");
        /* Replayed into another session: its runtime nonce is not that session's. */
        rs = call(&e, "POST", "/kbs/v0/attest", s2.cookie, body);
        expect_error(&rs, 401, "AttestationFailed");
        /* ... and a failed attempt used that session's nonce too. */
        patched = attest_body(s2.nonce, s2.nonce, pub, boot_events);
        rs = call(&e, "POST", "/kbs/v0/attest", s2.cookie, patched);
        expect_error(&rs, 401, "AttestationFailed");
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/data", s2.cookie, NULL);
        expect_error(&rs, 401, "UnAuthenticatedCookie");
        /* The runtime nonce rewritten to the new session's, the quote still bound to the old one. */
        auth(&e, &s3);
        stale = attest_body(s3.nonce, s1.nonce, pub, boot_events);
        rs = call(&e, "POST", "/kbs/v0/attest", s3.cookie, stale);
        expect_error(&rs, 401, "AttestationFailed");

        json_t *lines = audit_lines(&e);
        assert_int_equal(json_array_size(lines), 5);
        assert_string_equal(field(lines, 1, "rule"), "nonce");
        assert_string_equal(field(lines, 2, "rule"), "nonce");
        assert_string_equal(field(lines, 3, "rule"), "nonce");
        assert_string_equal(field(lines, 4, "rule"), "evidence");
        assert_non_null(strstr(field(lines, 4, "detail"), "qualifying data"));
        json_decref(lines);
        json_decref(priv), json_decref(pub);
        env_close(&e);
}

static void test_cookies_and_expiry(void **state) {
        struct env e = {};
        struct session_info s;
        struct broker_response rs;

        (void) state;
        env_open(&e, 2, 1000);
        rs = call(&e, "POST", "/kbs/v0/attest", NULL, "{}");
        expect_error(&rs, 401, "MissingCookie");
        rs = call(&e, "POST", "/kbs/v0/attest", "00112233445566778899aabbccddeeff", "{}");
        expect_error(&rs, 401, "InvalidCookie");
        rs = call(&e, "GET", "/kbs/v0/resource/a/b/c", "x';--", NULL);
        expect_error(&rs, 401, "InvalidCookie");
        auth(&e, &s);
        auth(&e, &(struct session_info) {});
        /* The table holds 2 live sessions. */
        rs = call(&e, "POST", "/kbs/v0/auth", NULL, "{\"version\":\"0.4.0\",\"tee\":\"tpm\",\"extra-params\":\"\"}");
        expect_error(&rs, 503, "TooManySessions");
        usleep(1100 * 1000);
        rs = call(&e, "POST", "/kbs/v0/attest", s.cookie, "{}");
        expect_error(&rs, 401, "ExpiredCookie");
        rs = call(&e, "POST", "/kbs/v0/attest", s.cookie, "{}");
        expect_error(&rs, 401, "InvalidCookie"); /* swept */
        auth(&e, &s); /* room again */
        env_close(&e);
}

static void test_bad_requests(void **state) {
        static const char *const bad_auth[] = {
                "", "{", "[]", "{\"version\":\"0.4.0\",\"tee\":\"tpm\"}",
                "{\"version\":\"0.3.0\",\"tee\":\"tpm\",\"extra-params\":\"\"}",
                "{\"version\":\"0.4.0\",\"tee\":\"sev\",\"extra-params\":\"\"}",
                "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":\"\"}",
                "{\"version\":\"0.4.0\",\"tee\":\"tpm\",\"extra-params\":\"\",\"x\":1}",
                "{\"version\":\"0.4.0\",\"tee\":\"tpm\",\"tee\":\"tpm\",\"extra-params\":\"\"}",
        };
        struct env e = {};
        struct session_info s;
        struct broker_response rs;
        char *big;

        (void) state;
        env_open(&e, 0, 0);
        for (size_t i = 0; i < ELEMENTSOF(bad_auth); i++) {
                rs = call(&e, "POST", "/kbs/v0/auth", NULL, bad_auth[i]);
                expect_error(&rs, 401, "FailedAuthentication");
        }
        auth(&e, &s);
        rs = call(&e, "POST", "/kbs/v0/attest", s.cookie, "{\"runtime-data\":{},\"tee-evidence\":{}}");
        expect_error(&rs, 401, "InvalidRequest");
        big = malloc(KBS_BODY_MAX + 2);
        memset(big, ' ', KBS_BODY_MAX + 1);
        big[KBS_BODY_MAX + 1] = 0;
        rs = call(&e, "POST", "/kbs/v0/attest", s.cookie, big);
        expect_error(&rs, 413, "PayloadTooLarge");
        free(big);
        rs = call(&e, "GET", "/kbs/v0/resource/default/../../etc/passwd", s.cookie, NULL);
        expect_error(&rs, 400, "InvalidRequestPath");
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/link", s.cookie, NULL);
        expect_error(&rs, 401, "UnAuthenticatedCookie");
        rs = call(&e, "GET", "/kbs/v0/auth", NULL, NULL);
        expect_error(&rs, 405, "MethodNotAllowed");
        rs = call(&e, "POST", "/kbs/v0/other", NULL, "{}");
        expect_error(&rs, 404, "NotFound");
        json_t *lines = audit_lines(&e);
        assert_int_equal(json_array_size(lines), 2); /* the malformed attest, the bad path */
        assert_string_equal(field(lines, 0, "rule"), "request");
        assert_string_equal(field(lines, 1, "rule"), "path");
        assert_string_equal(field(lines, 1, "resource"), "default/../../etc/passwd");
        json_decref(lines);
        env_close(&e);
}

static void test_jwe_refuses_bad_keys(void **state) {
        json_t *k = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "crv", "P-256", "alg", "ECDH-ES+A256KW",
                              "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "y",
                              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE");
        char *out = NULL;
        errbuf err = {};

        (void) state;
        /* Not a point on the curve. */
        assert_int_equal(broker_jwe_encrypt(k, (const uint8_t *) "x", 1, &out, &err), -EINVAL);
        json_object_set_new(k, "crv", json_string("P-384"));
        assert_int_equal(broker_jwe_encrypt(k, (const uint8_t *) "x", 1, &out, &err), -EINVAL);
        assert_null(out);
        json_decref(k);
}

/* A TDX attest body for nonce and jwk, the quote bound to bind_nonce, with p's deviations. */
static char *tdx_attest_body(const char *nonce, const char *bind_nonce, const json_t *jwk,
                             struct tdxevidence_params p) {
        uint8_t rd[KBS_REPORT_DATA_SIZE];
        struct tdxsim_td td;
        json_t *o;
        char *s;

        assert_int_equal(kbs_proto_report_data(bind_nonce, jwk, rd), 0);
        p.report_data = rd;
        p.keys = p.keys ?: &tdx_a;
        o = json_pack("{s:{s:s, s:O}, s:{s:o, s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", jwk,
                      "tee-evidence", "primary_evidence", tdxevidence_make(&p, boot_events, &td),
                      "additional_evidence", "");
        s = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        return s;
}

static void attest_tdx(struct env *e, const struct session_info *s, const char *bind_nonce, const json_t *pub,
                       struct tdxevidence_params p, bool ok) {
        _cleanup_free_ char *body = tdx_attest_body(s->nonce, bind_nonce, pub, p);
        struct broker_response rs = call(e, "POST", "/kbs/v0/attest", s->cookie, body);

        if (!ok)
                return expect_error(&rs, 401, "AttestationFailed");
        if (rs.status != 200)
                fail_msg("attest: %u %s", rs.status, rs.body);
        broker_response_done(&rs);
}

/* SHA-256 of the DER of a PEM certificate, with OpenSSL, in hex. */
static void cert_sha256(const char *rel, char hex[65]) {
        uint8_t d[32];

        X509_free(pemcert_read(at(rel), d));
        hex_encode(d, 32, hex);
}

static void test_tdx(void **state) {
        struct env e = {};
        struct session_info s1, s2, s3, s4, s5, s6;
        json_t *priv = new_ec_key(), *pub = public_of(priv), *lines;
        _cleanup_free_ char *tpm_body = NULL;
        struct broker_response rs;
        char root_a[65], root_b[65];

        (void) state;
        cert_sha256("tdx-a/root.pem", root_a);
        cert_sha256("tdx-b/root.pem", root_b);
        env_open(&e, 0, 0);
        auth_tee(&e, &s1, "tdx");
        attest_tdx(&e, &s1, s1.nonce, pub, (struct tdxevidence_params) {}, true);
        rs = call(&e, "GET", "/kbs/v0/resource/default/tdx/data", s1.cookie, NULL);
        expect_key(&rs, priv, "tdx-data-key", true);
        rs = call(&e, "GET", "/kbs/v0/resource/default/tdx/mrtd", s1.cookie, NULL); /* mrtd, rtmr0 registers */
        expect_key(&rs, priv, "tdx-mrtd-key", true);
        rs = call(&e, "GET", "/kbs/v0/resource/default/disk/data", s1.cookie, NULL);
        expect_error(&rs, 401, "PolicyDeny");
        rs = call(&e, "GET", "/kbs/v0/resource/default/tdx/other-root", s1.cookie, NULL);
        expect_error(&rs, 401, "PolicyDeny");
        /* Chain B verifies (its root is in the policy), but only the resource naming it trusts it. */
        auth_tee(&e, &s2, "tdx");
        attest_tdx(&e, &s2, s2.nonce, pub, (struct tdxevidence_params) { .keys = &tdx_b }, true);
        rs = call(&e, "GET", "/kbs/v0/resource/default/tdx/data", s2.cookie, NULL);
        expect_error(&rs, 401, "PolicyDeny");
        rs = call(&e, "GET", "/kbs/v0/resource/default/tdx/other-root", s2.cookie, NULL);
        expect_key(&rs, priv, "tdx-other-root-key", true);
        /* A changed event text; a quote bound to another session's nonce. */
        auth_tee(&e, &s3, "tdx");
        attest_tdx(&e, &s3, s3.nonce, pub, (struct tdxevidence_params) { .tamper = 2 }, false);
        auth_tee(&e, &s4, "tdx");
        attest_tdx(&e, &s4, s1.nonce, pub, (struct tdxevidence_params) {}, false);
        /* Evidence of the other TEE in each kind of session. */
        auth_tee(&e, &s5, "tdx");
        tpm_body = attest_body(s5.nonce, s5.nonce, pub, boot_events);
        rs = call(&e, "POST", "/kbs/v0/attest", s5.cookie, tpm_body);
        expect_error(&rs, 401, "AttestationFailed");
        auth(&e, &s6);
        attest_tdx(&e, &s6, s6.nonce, pub, (struct tdxevidence_params) {}, false);

        lines = audit_lines(&e);
        assert_int_equal(json_array_size(lines), 12);
        assert_string_equal(field(lines, 0, "action"), "attest");
        assert_string_equal(field(lines, 0, "decision"), "allowed");
        assert_string_equal(field(lines, 0, "tee"), "tdx");
        assert_string_equal(field(lines, 0, "root_sha256"), root_a);
        assert_string_equal(field(lines, 0, "ak_sha256"), "(null)");
        assert_string_equal(field(lines, 1, "decision"), "allowed");
        assert_string_equal(field(lines, 2, "decision"), "allowed");
        assert_string_equal(field(lines, 3, "rule"), "tee");
        assert_string_equal(field(lines, 4, "rule"), "roots");
        assert_string_equal(field(lines, 5, "root_sha256"), root_b);
        assert_string_equal(field(lines, 6, "rule"), "roots");
        assert_non_null(strstr(field(lines, 6, "detail"), root_b));
        assert_string_equal(field(lines, 7, "decision"), "allowed");
        assert_string_equal(field(lines, 8, "rule"), "evidence");
        assert_non_null(strstr(field(lines, 8, "detail"), "its digests are not those of its data"));
        assert_non_null(strstr(field(lines, 9, "detail"), "quote check report-data failed"));
        assert_non_null(strstr(field(lines, 10, "detail"), "unknown member"));
        assert_string_equal(field(lines, 11, "tee"), "tpm");
        assert_string_equal(field(lines, 11, "decision"), "denied");
        json_decref(lines);
        json_decref(priv), json_decref(pub);
        env_close(&e);
}

static int setup(void **state) {
        errbuf err = {};

        softquote_init(&sq);
        tmptree_setup(state);
        if (tdxsim_keys_load_or_create(at("tdx-a"), &tdx_a, &err) < 0 ||
            tdxsim_keys_load_or_create(at("tdx-b"), &tdx_b, &err) < 0)
                fail_msg("tdxsim keys: %s", err.msg);
        return 0;
}

static int teardown(void **state) {
        softquote_done(&sq);
        tdxsim_keys_done(&tdx_a);
        tdxsim_keys_done(&tdx_b);
        return tmptree_teardown(state);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_flow_ec),
                cmocka_unit_test(test_rsa_release),
                cmocka_unit_test(test_nonce_rules),
                cmocka_unit_test(test_cookies_and_expiry),
                cmocka_unit_test(test_bad_requests),
                cmocka_unit_test(test_jwe_refuses_bad_keys),
                cmocka_unit_test(test_tdx),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
