/* SPDX-License-Identifier: MIT */
/* The KBS protocol's server side (DESIGN §4; docs/broker.md): auth, attest, resource, with
 * Trustee-style errors {"type":KBS_ERROR_TYPE_PREFIX "<Variant>","detail":"..."} and one audit line
 * per decision (attest or resource). Nothing here knows about HTTP beyond method, path, cookie
 * and body, so the unit tests and the fuzz target drive it directly. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cvm-broker.h"
#include "log.h"
#include "tdx-verify.h"
#include "tpm-verify.h"

#define PATH_PREFIX "/kbs/v0/"
#define RESOURCE_PREFIX "/kbs/v0/resource/"
#define DETAIL_ESCAPE_MAX 200U

struct broker {
        struct policy *policy;
        struct session_table *sessions;
        int keys_fd;
        int audit_fd;
        pthread_mutex_t audit_lock;
        uint64_t ttl_ms;
};

int broker_new(const struct broker_options *o, struct policy *policy, struct broker **ret) {
        _cleanup_(broker_freep) struct broker *b = calloc(1, sizeof(*b));
        int r;

        if (!b)
                return -ENOMEM;
        b->keys_fd = -EBADF;
        b->audit_fd = o->audit_fd;
        pthread_mutex_init(&b->audit_lock, NULL);
        b->ttl_ms = o->session_ttl_ms ?: BROKER_SESSION_TTL_DEFAULT_S * 1000U;
        r = session_table_new(o->max_sessions ?: BROKER_SESSIONS_DEFAULT, b->ttl_ms, &b->sessions);
        if (r < 0)
                return r;
        b->keys_fd = open(o->keys_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b->keys_fd < 0)
                return -errno;
        b->policy = policy;
        *ret = TAKE_PTR(b);
        return 0;
}

void broker_free(struct broker *b) {
        if (!b)
                return;
        session_table_free(b->sessions);
        policy_free(b->policy);
        safe_close(b->keys_fd);
        pthread_mutex_destroy(&b->audit_lock);
        free(b);
}

void broker_response_done(struct broker_response *resp) {
        free(resp->body);
        *resp = (struct broker_response) {};
}

/* ---- responses ---- */

static void respond_json(struct broker_response *resp, unsigned status, json_t *body) {
        resp->status = status;
        resp->body = body ? json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(body);
        if (!resp->body) {
                resp->status = 500;
                resp->body = strdup("{}");
        }
        resp->body_len = resp->body ? strlen(resp->body) : 0;
}

/* A Trustee-style error; detail must be ASCII (escaped untrusted text). */
static void respond_error(struct broker_response *resp, unsigned status, const char *variant, const char *detail) {
        char type[128];

        snprintf(type, sizeof(type), "%s%s", KBS_ERROR_TYPE_PREFIX, variant);
        respond_json(resp, status, json_pack("{s:s, s:s}", "type", type, "detail", detail));
}

/* ---- audit ---- */

struct decision {
        const char *action;   /* "attest", "resource" */
        const char *session;  /* may be NULL */
        const char *tee;      /* may be NULL */
        const char *resource; /* may be NULL; escaped before use */
        const struct claims *claims;
        bool allowed;
        const char *rule, *detail;
};

static void iso_time(char out[static 64]) {
        struct timespec ts = {};
        struct tm tm;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                 tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
}

static json_t *decision_json(const struct decision *d, const char *peer) {
        _cleanup_free_ char *res = d->resource ? escape_untrusted(d->resource, strlen(d->resource), DETAIL_ESCAPE_MAX) : NULL;
        char t[64], ak[65] = "", root[65] = "";
        json_t *o;

        iso_time(t);
        if (d->claims && d->claims->has_ak)
                hex_encode(d->claims->ak_sha256, 32, ak);
        if (d->claims && d->claims->has_root)
                hex_encode(d->claims->root_sha256, 32, root);
        o = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:s}", "time", t, "action", d->action, "session",
                      d->session, "peer", peer, "tee", d->tee, "resource", res, "decision",
                      d->allowed ? "allowed" : "denied", "rule", d->rule ?: "", "detail", d->detail ?: "");
        if (o && ((ak[0] && json_object_set_new(o, "ak_sha256", json_string(ak)) < 0) ||
                  (root[0] && json_object_set_new(o, "root_sha256", json_string(root)) < 0))) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* One JSON line per decision, written with one write(2) under a lock so lines never interleave.
 * A failure means the decision must not take effect (no key without its audit line). */
static int audit(struct broker *b, const struct broker_request *req, const struct decision *d) {
        _cleanup_free_ char *line = NULL;
        json_t *o;
        size_t n;
        int r;

        log_debug("%s %s: %s %s", d->action, d->allowed ? "allowed" : "denied", d->rule ?: "", d->detail ?: "");
        if (b->audit_fd < 0)
                return 0;
        o = decision_json(d, req->peer);
        line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        json_decref(o);
        if (!line)
                return -ENOMEM;
        n = strlen(line);
        line[n] = '\n'; /* replaces the NUL: written by length */
        pthread_mutex_lock(&b->audit_lock);
        r = loop_write(b->audit_fd, line, n + 1);
        pthread_mutex_unlock(&b->audit_lock);
        if (r < 0)
                log_error_errno(r, "Cannot write the audit log: %m");
        return r;
}

/* ---- sessions from cookies ---- */

/* The request's session, or an error response (MissingCookie, InvalidCookie, ExpiredCookie). */
static int request_session(struct broker *b, const struct broker_request *req, struct broker_response *resp,
                           struct session **ret) {
        int r;

        if (!req->cookie || !req->cookie[0]) {
                respond_error(resp, 401, "MissingCookie", "no kbs-session-id cookie: start with /kbs/v0/auth");
                return -ENOENT;
        }
        r = session_lookup(b->sessions, req->cookie, ret);
        if (r == -ETIMEDOUT)
                respond_error(resp, 401, "ExpiredCookie", "the session has expired: start again with /kbs/v0/auth");
        else if (r < 0)
                respond_error(resp, 401, "InvalidCookie", "unknown session");
        return r;
}

/* ---- POST /kbs/v0/auth ---- */

static void handle_auth(struct broker *b, const struct broker_request *req, struct broker_response *resp) {
        struct session *s = NULL;
        errbuf err = {};
        int tee, r;

        tee = kbs_proto_auth_parse(req->body, req->body_len, &err);
        if (tee < 0)
                return respond_error(resp, 401, "FailedAuthentication", err.msg);
        if (tee != KBS_TEE_TPM && tee != KBS_TEE_TDX)
                return respond_error(resp, 401, "FailedAuthentication",
                                     "this broker verifies TPM and TDX evidence only (tee \"tpm\", \"tdx\")");
        r = session_create(b->sessions, tee, &s);
        if (r == -EBUSY)
                return respond_error(resp, 503, "TooManySessions", "too many open sessions: retry later");
        if (r < 0)
                return respond_error(resp, 500, "InternalError", "cannot create a session");
        snprintf(resp->set_cookie, sizeof(resp->set_cookie), "%s=%s; Path=/kbs/v0; Max-Age=%u; Secure; HttpOnly",
                 KBS_SESSION_COOKIE, session_id(s), (unsigned) (b->ttl_ms / 1000U) ?: 1U);
        respond_json(resp, 200, json_pack("{s:s, s:s}", "nonce", session_nonce(s), "extra-params", ""));
        session_unref(b->sessions, s);
}

/* ---- POST /kbs/v0/attest ---- */

/* The session's TEE decides the verifier: evidence of another kind fails its strict parsing. TDX
 * quotes are checked against every root the policy names; which resource may trust the root the
 * chain ended in is the policy's decision at release. */
static int verify_evidence(struct broker *b, enum kbs_tee tee, const json_t *evidence,
                           const uint8_t report_data[static KBS_REPORT_DATA_SIZE], struct claims *c, errbuf *err) {
        switch (tee) {
        case KBS_TEE_TPM:
                return tpm_evidence_verify(evidence, report_data, c, err);
        case KBS_TEE_TDX:
                return tdx_evidence_verify(evidence, report_data, policy_tdx_roots(b->policy), time(NULL), c, err);
        default:
                return errbuf_set(err, -EPERM, "no verifier for this TEE");
        }
}

/* Verifies the request against session s; on success the claims are stored in s. Returns 0 or a
 * negative errno with rule/err describing the failure. */
static int attest_session(struct broker *b, struct session *s, const struct broker_request *req,
                          struct claims *c, const char **rule, errbuf *err) {
        _cleanup_(kbs_attest_request_done) struct kbs_attest_request a = {};
        uint8_t report_data[KBS_REPORT_DATA_SIZE];
        json_t *jwk;
        int r;

        *rule = "nonce";
        if (session_use_nonce(b->sessions, s) < 0)
                return errbuf_set(err, -EALREADY, "this session's nonce was already used: start again with /auth");
        *rule = "request";
        r = kbs_proto_attest_parse(req->body, req->body_len, &a, err);
        if (r < 0)
                return r;
        *rule = "nonce";
        if (strcmp(a.nonce, session_nonce(s)) != 0)
                return errbuf_set(err, -EPERM, "runtime-data.nonce is not this session's nonce");
        *rule = "evidence";
        r = kbs_proto_report_data(session_nonce(s), a.tee_pubkey, report_data);
        if (r < 0)
                return errbuf_set(err, r, "cannot compute report_data from tee-pubkey");
        r = verify_evidence(b, session_tee(s), a.primary_evidence, report_data, c, err);
        if (r < 0)
                return r;
        jwk = json_deep_copy(a.tee_pubkey);
        if (!jwk)
                return errbuf_set(err, -ENOMEM, "out of memory");
        return session_set_attested(b->sessions, s, c, jwk);
}

static void handle_attest(struct broker *b, const struct broker_request *req, struct broker_response *resp) {
        _cleanup_(claims_done) struct claims c = {};
        struct session *s = NULL;
        const char *rule = "";
        errbuf err = {};
        int r;

        if (request_session(b, req, resp, &s) < 0)
                return;
        r = attest_session(b, s, req, &c, &rule, &err);
        struct decision d = { .action = "attest", .session = session_id(s), .tee = kbs_tee_name(session_tee(s)),
                              .allowed = r >= 0, .rule = r >= 0 ? "" : rule, .detail = err.msg };
        const struct claims *have = NULL;
        const json_t *jwk;
        if (r >= 0 && session_attested(b->sessions, s, &have, &jwk) >= 0)
                d.claims = have;
        else if (r < 0 && c.has_ak)
                d.claims = &c;
        if (audit(b, req, &d) < 0)
                respond_error(resp, 500, "InternalError", "cannot write the audit log");
        else if (r == -ENOMEM)
                respond_error(resp, 500, "InternalError", "out of memory");
        else if (r < 0)
                respond_error(resp, 401, strcmp(rule, "request") == 0 ? "InvalidRequest" : "AttestationFailed",
                              err.msg);
        else /* No attestation token: the session (cookie) carries the result. */
                respond_json(resp, 200, json_pack("{s:s}", "token", ""));
        session_unref(b->sessions, s);
}

/* ---- GET /kbs/v0/resource/<repo>/<type>/<tag> ---- */

/* The key file KEYS/repo/type/tag: a regular file (a symlink as its last component is refused),
 * at most BROKER_RESOURCE_MAX bytes; the name was validated (no "..", no leading dot). */
static int read_resource(struct broker *b, const char *name, uint8_t **ret, size_t *ret_len) {
        int r = read_file_at_limited(b->keys_fd, name, O_NOFOLLOW, BROKER_RESOURCE_MAX, ret, ret_len);
        return r == -EBADFD || r == -EISDIR ? -ENOENT : r;
}

/* Policy, then the key, then the JWE; the audit line is written before anything is released. */
static void release(struct broker *b, const struct broker_request *req, struct broker_response *resp,
                    struct session *s, const char *name) {
        _cleanup_erase_ uint8_t *key = NULL;
        _cleanup_free_ char *jwe = NULL;
        struct decision d = { .action = "resource", .session = session_id(s), .tee = kbs_tee_name(session_tee(s)),
                              .resource = name };
        struct policy_verdict v;
        const json_t *jwk;
        size_t n = 0;
        errbuf err = {};
        int r;

        if (session_attested(b->sessions, s, &d.claims, &jwk) < 0)
                return respond_error(resp, 401, "UnAuthenticatedCookie", "the session has not attested");
        r = policy_evaluate(b->policy, name, d.claims, &v);
        if (r < 0)
                return respond_error(resp, 500, "InternalError", "policy evaluation failed");
        d.allowed = v.allowed, d.rule = v.rule, d.detail = v.detail;
        if (v.allowed) {
                r = read_resource(b, name, &key, &n);
                if (r < 0) {
                        snprintf(v.detail, sizeof(v.detail), "no usable key file for this resource: %s", strerror(-r));
                        d.allowed = false, d.rule = "key";
                }
        }
        if (d.allowed && broker_jwe_encrypt(jwk, key, n, &jwe, &err) < 0)
                d.allowed = false, d.rule = "jwe", d.detail = err.msg;
        if (audit(b, req, &d) < 0)
                return respond_error(resp, 500, "InternalError", "cannot write the audit log");
        if (!d.allowed && strcmp(d.rule, "key") == 0)
                return respond_error(resp, 404, "ResourceNotFound", "the resource is not available");
        if (!d.allowed && strcmp(d.rule, "jwe") == 0)
                return respond_error(resp, 500, "InternalError", d.detail);
        if (!d.allowed)
                return respond_error(resp, 401, "PolicyDeny", d.detail);
        resp->status = 200;
        resp->body_len = strlen(jwe);
        resp->body = TAKE_PTR(jwe);
}

static void handle_resource(struct broker *b, const struct broker_request *req, struct broker_response *resp) {
        const char *name = req->path + strlen(RESOURCE_PREFIX);
        struct session *s = NULL;

        if (!policy_resource_name_valid(name)) {
                struct decision d = { .action = "resource", .session = NULL, .resource = name, .rule = "path",
                                      .detail = "not a valid repo/type/tag resource path" };
                if (audit(b, req, &d) < 0)
                        return respond_error(resp, 500, "InternalError", "cannot write the audit log");
                return respond_error(resp, 400, "InvalidRequestPath", d.detail);
        }
        if (request_session(b, req, resp, &s) < 0)
                return;
        release(b, req, resp, s, name);
        session_unref(b->sessions, s);
}

/* ---- dispatch ---- */

void broker_handle(struct broker *b, const struct broker_request *req, struct broker_response *resp) {
        bool post = strcmp(req->method, "POST") == 0, get = strcmp(req->method, "GET") == 0;

        *resp = (struct broker_response) {};
        if (req->body_too_large || req->body_len > KBS_BODY_MAX)
                return respond_error(resp, 413, "PayloadTooLarge", "the request body is over the limit of 1 MiB");
        if (strcmp(req->path, PATH_PREFIX "auth") == 0 && post)
                return handle_auth(b, req, resp);
        if (strcmp(req->path, PATH_PREFIX "attest") == 0 && post)
                return handle_attest(b, req, resp);
        if (strncmp(req->path, RESOURCE_PREFIX, strlen(RESOURCE_PREFIX)) == 0 && get)
                return handle_resource(b, req, resp);
        if (strcmp(req->path, PATH_PREFIX "auth") == 0 || strcmp(req->path, PATH_PREFIX "attest") == 0 ||
            strncmp(req->path, RESOURCE_PREFIX, strlen(RESOURCE_PREFIX)) == 0)
                return respond_error(resp, 405, "MethodNotAllowed", "method not allowed for this endpoint");
        respond_error(resp, 404, "NotFound", "no such endpoint");
}
