/* SPDX-License-Identifier: MIT */
/* The workload attestation API's routing and answers (api-handlers.h; docs/api.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api-handlers.h"

#define ESCAPE_MAX 80U
#define MODEL_NAME_MAX 64U

enum endpoint {
        EP_EVIDENCE,
        EP_LOG,
        EP_EXTEND,
        EP_MANIFEST,
        _EP_MAX,
        _EP_INVALID = -1,
};

static const struct {
        const char *name, *path, *method;
        bool prefix; /* the path is followed by one more component */
} routes[_EP_MAX] = {
        [EP_EVIDENCE] = { "evidence", "/v1/evidence", "GET", false },
        [EP_LOG] = { "log", "/v1/log", "GET", false },
        [EP_EXTEND] = { "extend", "/v1/extend", "POST", false },
        [EP_MANIFEST] = { "manifest", "/v1/manifest/", "GET", true },
};

/* The endpoint of target's path (up to '?'), and in *rest what follows a prefix route's path. */
static enum endpoint route(const char *target, const char **rest, size_t *rest_len) {
        size_t n = strcspn(target, "?");

        for (int i = 0; i < _EP_MAX; i++) {
                size_t k = strlen(routes[i].path);
                if (routes[i].prefix ? n < k : n != k)
                        continue;
                if (strncmp(target, routes[i].path, k) != 0)
                        continue;
                *rest = target + k;
                *rest_len = n - k;
                return (enum endpoint) i;
        }
        return _EP_INVALID;
}

const char *api_endpoint_name(const char *target) {
        const char *rest;
        size_t n;
        enum endpoint e = target ? route(target, &rest, &n) : _EP_INVALID;

        return e == _EP_INVALID ? NULL : routes[e].name;
}

/* ---- answers ---- */

void api_response_done(struct api_response *rs) {
        free(rs->body);
        rs->body = NULL;
        rs->body_len = 0;
        rs->fd = safe_close(rs->fd);
}

static void set_fallback(struct api_response *rs) {
        static const char text[] = "{\"error\":\"out of memory\"}";

        free(rs->body);
        rs->status = 500;
        rs->content_type = API_TYPE_JSON;
        rs->body = strdup(text);
        rs->body_len = rs->body ? strlen(text) : 0;
}

/* Takes o (may be NULL: out of memory). */
static void set_json(struct api_response *rs, unsigned status, json_t *o) {
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

        json_decref(o);
        if (!s)
                return set_fallback(rs);
        free(rs->body);
        rs->status = status;
        rs->content_type = API_TYPE_JSON;
        rs->body = s;
        rs->body_len = strlen(s);
}

static void set_error(struct api_response *rs, unsigned status, const char *format, ...) _printf_(3, 4);
static void set_error(struct api_response *rs, unsigned status, const char *format, ...) {
        _cleanup_free_ char *safe = NULL;
        char msg[600];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(msg, sizeof(msg), format, ap);
        va_end(ap);
        /* Messages carry escaped input only, but a backend's detail is not ours to trust blindly. */
        if (!utf8_valid(msg, strlen(msg)))
                safe = escape_untrusted(msg, strlen(msg), sizeof(msg));
        set_json(rs, status, json_pack("{s:s}", "error", safe ?: msg));
}

static unsigned backend_status(int r) {
        switch (-r) {
        case EAGAIN:
        case EBUSY:
        case ETIMEDOUT:
        case ECONNREFUSED:
        case ECONNRESET:
        case ENOMEM:
                return 503; /* may go away: try again */
        case E2BIG:
        case EFBIG:
        case ENOSPC:
                return 507;
        default:
                return 500;
        }
}

static void backend_error(struct api_response *rs, int r, const char *what, const errbuf *err) {
        set_error(rs, backend_status(r), "%s: %s", what, err->msg[0] ? err->msg : strerror(-r));
}

/* ---- GET /v1/evidence?nonce=HEX ---- */

/* The query: exactly one nonce=HEX, nothing else. Returns the nonce's length in bytes. */
static int query_nonce(const char *query, uint8_t nonce[static API_NONCE_MAX], errbuf *err) {
        const char *hex = NULL;
        size_t hex_len = 0;

        for (const char *p = query; p && *p;) {
                size_t n = strcspn(p, "&");
                _cleanup_free_ char *e = escape_untrusted(p, n, ESCAPE_MAX);
                if (n >= 6 && strncmp(p, "nonce=", 6) == 0) {
                        if (hex)
                                return errbuf_set(err, -EINVAL, "the query names \"nonce\" twice");
                        hex = p + 6;
                        hex_len = n - 6;
                } else
                        return errbuf_set(err, -EINVAL, "unexpected query parameter \"%s\" (only nonce=HEX)", e ?: "?");
                p += n + (p[n] == '&');
        }
        if (!hex)
                return errbuf_set(err, -EINVAL, "the query must give nonce=HEX (%u to %u bytes as hex digits)",
                                  API_NONCE_MIN, API_NONCE_MAX);
        int r = api_nonce_parse(hex, hex_len, nonce);
        if (r < 0)
                return errbuf_set(err, r, "the nonce must be %u to %u bytes as hex digits (2 to %u digits, an even "
                                  "count)", API_NONCE_MIN, API_NONCE_MAX, 2 * API_NONCE_MAX);
        return r;
}

static void do_evidence(const struct api_backend *b, const char *query, struct api_response *rs) {
        uint8_t nonce[API_NONCE_MAX], rd[API_REPORT_DATA_SIZE];
        char nonce_hex[2 * API_NONCE_MAX + 1], rd_hex[2 * API_REPORT_DATA_SIZE + 1];
        json_t *ev = NULL;
        errbuf err = {};
        int n, r;

        n = query_nonce(query, nonce, &err);
        if (n < 0)
                return set_error(rs, 400, "%s", err.msg);
        r = api_report_data(nonce, (size_t) n, rd);
        if (r < 0)
                return set_error(rs, 500, "cannot compute report_data: %s", strerror(-r));
        r = b->evidence(b->userdata, rd, &ev, &err);
        if (r < 0)
                return backend_error(rs, r, "cannot obtain evidence", &err);
        hex_encode(nonce, (size_t) n, nonce_hex);
        hex_encode(rd, sizeof(rd), rd_hex);
        set_json(rs, 200, json_pack("{s:s, s:s, s:s, s:o}", "tee", kbs_tee_name(b->tee) ?: "?", "nonce", nonce_hex,
                                    "report_data", rd_hex, "evidence", ev));
}

/* ---- POST /v1/extend ---- */

static json_t *extended_json(const struct api_extended *x) {
        json_t *digests = json_array();

        for (unsigned i = 0; digests && i < x->n_digests && i < MR_BANKS_MAX; i++) {
                const struct digest *d = &x->digests[i];
                char hex[2 * HASH_MAX_SIZE + 1];
                hex_encode(d->d, hash_alg_size(d->alg), hex);
                if (json_array_append_new(digests, json_pack("{s:s, s:s}", "hashAlg", hash_alg_name(d->alg), "digest",
                                                             hex)) < 0) {
                        json_decref(digests);
                        return NULL;
                }
        }
        return digests ? json_pack("{s:I, s:s, s:s, s:o}", "recnum", (json_int_t) x->recnum, "mr", x->mr, "operation",
                                   API_APP_OPERATION, "digests", digests)
                       : NULL;
}

static void do_extend(const struct api_backend *b, const struct api_request *rq, struct api_response *rs) {
        struct api_extended x = {};
        json_t *content = NULL;
        errbuf err = {};
        int r;

        if (!b->boot_done)
                return set_error(rs, 409, "app events are measured only after boot-done (DESIGN section 3), and "
                                 "the boot has not finished");
        r = api_app_content_parse(rq->body, rq->body_len, &content, &err);
        if (r == -EFBIG)
                return set_error(rs, 413, "%s", err.msg);
        if (r < 0)
                return set_error(rs, r == -ENOMEM ? 503 : 400, "%s", err.msg);
        r = b->extend(b->userdata, content, &x, &err);
        if (r >= 0) /* the operation passed event_token_valid: printable, no escaping needed */
                snprintf(rs->summary, sizeof(rs->summary), "record %" PRIu64 ", operation %s", x.recnum,
                         json_string_value(json_object_get(content, "operation")));
        json_decref(content);
        if (r < 0)
                return backend_error(rs, r, "cannot measure the app event", &err);
        set_json(rs, 200, extended_json(&x));
}

/* ---- GET /v1/log, GET /v1/manifest/NAME ---- */

static void serve_file(struct api_response *rs, const char *type, int r, int fd, uint64_t size, const char *what,
                       const errbuf *err) {
        if (r < 0) {
                safe_close(fd);
                return r == -ENOENT ? set_error(rs, 404, "%s: %s", what, err->msg[0] ? err->msg : "not found")
                                    : backend_error(rs, r, what, err);
        }
        rs->status = 200;
        rs->content_type = type;
        rs->fd = fd;
        rs->fd_size = size;
}

static void do_log(const struct api_backend *b, struct api_response *rs) {
        uint64_t size = 0;
        errbuf err = {};
        int fd = -EBADF, r = b->open_log(b->userdata, &fd, &size, &err);

        serve_file(rs, API_TYPE_JSON_SEQ, r, fd, size, "cannot read the measurement log", &err);
}

/* A model name as the config allows it: 1..64 of [A-Za-z0-9._-], starting with a letter or digit. */
static bool alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool model_name_valid(const char *s, size_t n) {
        if (n == 0 || n > MODEL_NAME_MAX || !alnum(s[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

static void do_manifest(const struct api_backend *b, const char *name, size_t n, struct api_response *rs) {
        char copy[MODEL_NAME_MAX + 1];
        uint64_t size = 0;
        errbuf err = {};
        int fd = -EBADF, r;

        if (!model_name_valid(name, n)) {
                _cleanup_free_ char *e = escape_untrusted(name, n, ESCAPE_MAX);
                return set_error(rs, 400, "\"%s\" is not a model name (1 to 64 characters of A-Z a-z 0-9 . _ - "
                                 "starting with a letter or digit)", e ?: "?");
        }
        memcpy(copy, name, n);
        copy[n] = 0;
        r = b->open_manifest(b->userdata, copy, &fd, &size, &err);
        serve_file(rs, API_TYPE_JSON, r, fd, size, "no such manifest", &err);
}

/* ---- the request ---- */

static bool target_valid(const char *t) {
        size_t n = strlen(t);

        if (n == 0 || n > API_TARGET_MAX || t[0] != '/')
                return false;
        for (const char *p = t; *p; p++)
                if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f || *p == '#')
                        return false;
        return true;
}

/* Checks common to every endpoint, in the order of the statuses' precedence. True if answered. */
static bool refuse(enum endpoint e, const struct api_request *rq, struct api_response *rs) {
        const char *q = strchr(rq->target, '?');

        if (strcmp(rq->method, routes[e].method) != 0) {
                rs->allow = routes[e].method;
                set_error(rs, 405, "%s takes %s only", routes[e].path, routes[e].method);
        } else if (rq->body_too_large || rq->body_len > API_BODY_MAX)
                set_error(rs, 413, "the request body is over the limit of %u bytes", API_BODY_MAX);
        else if (e != EP_EXTEND && rq->body_len > 0)
                set_error(rs, 400, "%s takes no request body", routes[e].path);
        else if (e != EP_EVIDENCE && q && q[1])
                set_error(rs, 400, "%s takes no query", routes[e].path);
        else
                return false;
        return true;
}

void api_handle(const struct api_backend *b, const struct api_request *rq, struct api_response *rs) {
        const char *rest = NULL, *q;
        size_t rest_len = 0;
        enum endpoint e;

        *rs = (struct api_response) { .fd = -EBADF };
        if (!rq->method || !rq->target || !target_valid(rq->target))
                return set_error(rs, 404, "no such resource (the API serves /v1/evidence, /v1/log, /v1/extend and "
                                 "/v1/manifest/NAME)");
        e = route(rq->target, &rest, &rest_len);
        if (e == _EP_INVALID)
                return set_error(rs, 404, "no such resource (the API serves /v1/evidence, /v1/log, /v1/extend and "
                                 "/v1/manifest/NAME)");
        if (refuse(e, rq, rs))
                return;
        q = strchr(rq->target, '?');
        switch (e) {
        case EP_EVIDENCE:
                return do_evidence(b, q ? q + 1 : NULL, rs);
        case EP_LOG:
                return do_log(b, rs);
        case EP_EXTEND:
                return do_extend(b, rq, rs);
        case EP_MANIFEST:
                return do_manifest(b, rest, rest_len, rs);
        default:
                return set_fallback(rs);
        }
}
