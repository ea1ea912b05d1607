/* SPDX-License-Identifier: MIT */
/* The KBS client (kbs.h; DESIGN §4, §5; docs/kbs-client.md). */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "event.h"
#include "evidence.h"
#include "hashalg.h"
#include "jwe.h"
#include "kbs-proto.h"
#include "kbs.h"
#include "log.h"
#include "secret.h"

#define ESCAPE_MAX 300U

/* One exchange: auth, attest and resource on one handle, so the cookie and the TLS connection
 * carry over. */
struct http {
        const struct config_kbs *k;
        CURL *curl;
        struct curl_slist *headers;
        struct buf body;
        bool too_big;
        bool retry; /* the last failure may go away: start the exchange again */
        long status;
        char curl_error[CURL_ERROR_SIZE];
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init(void) {
        curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static inline void json_decrefp_(json_t **p) {
        json_decref(*p);
}
#define _cleanup_json_ _cleanup_(json_decrefp_)

/* ---- the key-provider event ---- */

int kbs_measure_provider(const struct config_kbs *k, struct cel_writer *w, errbuf *err) {
        _cleanup_json_ json_t *content = NULL;
        int r;

        r = config_kbs_event_content(k, &content);
        if (r < 0)
                return errbuf_set(err, r, "cannot describe the key broker for its event: %s", strerror(-r));
        r = cel_writer_append(w, EVENT_DOMAIN, "key-provider", content);
        if (r < 0)
                return errbuf_set(err, r, "cannot measure the key-provider event: %s",
                                  cel_writer_error(w)[0] ? cel_writer_error(w) : strerror(-r));
        return 0;
}

/* ---- parsing the broker's answers ---- */

static bool printable_ascii(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f)
                        return false;
        return true;
}

int kbs_parse_auth_response(const char *body, size_t n, char **ret, errbuf *err) {
        _cleanup_json_ json_t *o = NULL;
        json_error_t e;
        json_t *nonce;

        if (n > KBS_RESPONSE_MAX)
                return errbuf_set(err, -EFBIG, "the answer is larger than %u bytes", KBS_RESPONSE_MAX);
        o = json_loadb(body, n, JSON_REJECT_DUPLICATES, &e);
        if (!json_is_object(o))
                return errbuf_set(err, -EBADMSG, "the answer is not a JSON object");
        /* Other members ("extra-params") are the broker's business: not looked at. */
        nonce = json_object_get(o, "nonce");
        if (!json_is_string(nonce))
                return errbuf_set(err, -EBADMSG, "the answer has no \"nonce\" string");
        if (json_string_length(nonce) == 0 || json_string_length(nonce) > KBS_NONCE_MAX ||
            !printable_ascii(json_string_value(nonce), json_string_length(nonce)))
                return errbuf_set(err, -EBADMSG, "the nonce is not 1 to %u printable ASCII characters", KBS_NONCE_MAX);
        *ret = strdup(json_string_value(nonce));
        return *ret ? 0 : errbuf_set(err, -ENOMEM, "out of memory");
}

void kbs_describe_error(const char *body, size_t n, char *out, size_t size) {
        _cleanup_json_ json_t *o = NULL;
        _cleanup_free_ char *type = NULL, *detail = NULL;
        const char *t, *d;
        json_error_t e;

        if (size == 0)
                return;
        out[0] = 0;
        o = n <= KBS_RESPONSE_MAX ? json_loadb(body, n, JSON_REJECT_DUPLICATES, &e) : NULL;
        t = json_string_value(json_object_get(o, "type"));
        d = json_string_value(json_object_get(o, "detail"));
        if (!t || !d)
                return;
        /* Trustee's types are URLs ending in the error's name: the name says enough. */
        if (strncmp(t, KBS_ERROR_TYPE_PREFIX, strlen(KBS_ERROR_TYPE_PREFIX)) == 0 && t[strlen(KBS_ERROR_TYPE_PREFIX)])
                t += strlen(KBS_ERROR_TYPE_PREFIX);
        type = escape_untrusted(t, strlen(t), 100);
        detail = escape_untrusted(d, json_string_length(json_object_get(o, "detail")), ESCAPE_MAX);
        if (type && detail)
                (void) snprintf(out, size, "%s: %s", type, detail);
}

uint64_t kbs_backoff_ms(uint64_t delay_ms, unsigned k) {
        uint64_t d = delay_ms;

        for (unsigned i = 0; i < k && d < KBS_BACKOFF_MAX_MS; i++)
                d *= 2;
        return d < KBS_BACKOFF_MAX_MS ? d : KBS_BACKOFF_MAX_MS;
}

/* ---- libcurl, wrapped once ---- */

/* CURLcode -> -errno, and whether trying again later may help. */
static int curl_code_to_errno(CURLcode c, bool *transient) {
        *transient = false;
        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                *transient = true;
                return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT:
                *transient = true;
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                *transient = true;
                return -ETIMEDOUT;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR: /* also a broker restarting mid-handshake */
                *transient = true;
                return -ECONNRESET;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_CERTPROBLEM:
                return -EPERM;
        case CURLE_FILESIZE_EXCEEDED:
        case CURLE_WRITE_ERROR:
                return -EFBIG;
        case CURLE_UNSUPPORTED_PROTOCOL:
                return -EPROTONOSUPPORT;
        case CURLE_URL_MALFORMAT:
                return -EINVAL;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_WEIRD_SERVER_REPLY:
                return -EBADMSG;
        default:
                return -EIO;
        }
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *userdata) {
        struct http *h = userdata;
        size_t n = size * nmemb;

        if (buf_append(&h->body, p, n) < 0) {
                h->too_big = true;
                return 0; /* CURLE_WRITE_ERROR */
        }
        return n;
}

static void http_done(struct http *h) {
        if (h->curl)
                curl_easy_cleanup(h->curl);
        curl_slist_free_all(h->headers);
        buf_free(&h->body);
        *h = (struct http) {};
}

#define SET(opt, val)                                                     \
        do {                                                              \
                if (curl_easy_setopt(h->curl, (opt), (val)) != CURLE_OK)  \
                        return -EIO;                                      \
        } while (0)

/* Everything that makes the transport what kbs.h promises. */
static int http_setup_tls(struct http *h) {
        struct curl_blob ca = { .data = h->k->ca, .len = strlen(h->k->ca), .flags = CURL_BLOB_COPY };

        SET(CURLOPT_PROTOCOLS_STR, "https");
        SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        /* The pinned CA alone: no bundle file, no directory (Debian's libcurl has both built in). */
        SET(CURLOPT_CAINFO, NULL);
        SET(CURLOPT_CAPATH, NULL);
        SET(CURLOPT_CAINFO_BLOB, &ca);
        SET(CURLOPT_SSL_OPTIONS, 0L);
        SET(CURLOPT_SSL_VERIFYPEER, 1L);
        SET(CURLOPT_SSL_VERIFYHOST, 2L);
        SET(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        /* PID 1's environment comes from the kernel command line: no https_proxy from there. */
        SET(CURLOPT_PROXY, "");
        SET(CURLOPT_NOPROXY, "*");
        return 0;
}

static int http_init(struct http *h, const struct config_kbs *k) {
        /* No "Expect: 100-continue" (libcurl adds it to larger POSTs): one round trip less. */
        static const char *const headers[] = { "Content-Type: application/json", "Accept: application/json",
                                               "Expect:" };
        struct curl_slist *l;
        int r;

        *h = (struct http) { .k = k, .body.max = KBS_RESPONSE_MAX };
        (void) pthread_once(&curl_once, curl_init);
        if (curl_init_result != CURLE_OK)
                return -EIO;
        h->curl = curl_easy_init();
        if (!h->curl)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(headers); i++) {
                l = curl_slist_append(h->headers, headers[i]);
                if (!l)
                        return -ENOMEM;
                h->headers = l;
        }
        r = http_setup_tls(h);
        if (r < 0)
                return r;
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_TIMEOUT_MS, (long) k->timeout_ms);
        SET(CURLOPT_CONNECTTIMEOUT_MS, (long) k->timeout_ms);
        SET(CURLOPT_COOKIEFILE, ""); /* the cookie engine, in memory, for this handle only */
        SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) KBS_RESPONSE_MAX);
        SET(CURLOPT_HTTPHEADER, h->headers);
        SET(CURLOPT_USERAGENT, "cvminit");
        SET(CURLOPT_ERRORBUFFER, h->curl_error);
        SET(CURLOPT_WRITEFUNCTION, on_body);
        SET(CURLOPT_WRITEDATA, h);
        return 0;
}

/* Transport errors: which step, where, what, and libcurl's own words (they name the TLS problem). */
static int transport_error(struct http *h, const char *step, int r, errbuf *err) {
        _cleanup_free_ char *url = escape_untrusted(h->k->url, strlen(h->k->url), 200);
        _cleanup_free_ char *detail = escape_untrusted(h->curl_error, strlen(h->curl_error), 200);

        if (h->too_big || r == -EFBIG)
                return errbuf_set(err, -EFBIG, "%s: the broker's answer is larger than %u bytes", step,
                                  KBS_RESPONSE_MAX);
        if (r == -EPERM)
                return errbuf_set(err, r, "%s: the broker at %s did not present a certificate valid for its "
                                  "host name under the configured CA (%s)", step, url ?: "?", detail ?: "?");
        return errbuf_set(err, r, "%s: no answer from the broker at %s: %s (%s)", step, url ?: "?",
                          strerror(-r), detail && detail[0] ? detail : "no detail");
}

/* Status other than 200: denial, missing resource, broker trouble. */
static int status_error(struct http *h, const char *step, errbuf *err) {
        char why[512];
        long st = h->status;

        kbs_describe_error(h->body.data ?: "", h->body.len, why, sizeof(why));
        if (st >= 500 || st == 408 || st == 429) {
                h->retry = true;
                return errbuf_set(err, -EAGAIN, "%s: the broker answered HTTP %ld%s%s", step, st,
                                  why[0] ? ", " : "", why);
        }
        if (st == 401 || st == 403)
                return errbuf_set(err, -EACCES, "%s: denied by the broker (HTTP %ld%s%s)", step, st,
                                  why[0] ? ", " : "", why[0] ? why : "no error detail");
        if (st == 404)
                return errbuf_set(err, -ENOENT, "%s: the broker has no such resource (HTTP 404%s%s)", step,
                                  why[0] ? ", " : "", why);
        return errbuf_set(err, -EPROTO, "%s: unexpected answer from the broker: HTTP %ld%s%s", step, st,
                          why[0] ? ", " : "", why);
}

/* One request: POST with body, or GET when body is NULL. 0 only for HTTP 200. */
/* The step ("auth", "attest", "resource") is named in every error. */
static int http_request(struct http *h, const char *step, const char *path, const char *body, errbuf *err) {
        _cleanup_free_ char *url = NULL;
        CURLcode c;
        int r;

        if (asprintf(&url, "%s%s", h->k->url, path) < 0)
                return errbuf_set(err, -ENOMEM, "out of memory");
        buf_free(&h->body);
        h->body.max = KBS_RESPONSE_MAX;
        h->too_big = false;
        h->curl_error[0] = 0;
        h->retry = false;
        SET(CURLOPT_URL, url);
        if (body) {
                SET(CURLOPT_POSTFIELDS, body);
                SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
        } else
                SET(CURLOPT_HTTPGET, 1L);
        c = curl_easy_perform(h->curl);
        r = curl_code_to_errno(c, &h->retry);
        if (r < 0)
                return transport_error(h, step, r, err);
        if (curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status) != CURLE_OK)
                return errbuf_set(err, -EIO, "%s: no HTTP status", step);
        log_debug("KBS %s: HTTP %ld, %zu bytes.", step, h->status, h->body.len);
        return h->status == 200 ? 0 : status_error(h, step, err);
}

#undef SET

/* The cookie engine holds kbs-session-id (Netscape cookie-file lines: the name is field 6). */
static bool has_session_cookie(struct http *h) {
        struct curl_slist *list = NULL;
        bool found = false;

        if (curl_easy_getinfo(h->curl, CURLINFO_COOKIELIST, &list) != CURLE_OK)
                return false;
        for (struct curl_slist *i = list; i && !found; i = i->next) {
                const char *p = i->data;
                for (unsigned f = 0; f < 5 && p; f++) {
                        p = strchr(p, '\t');
                        p = p ? p + 1 : NULL;
                }
                found = p && strncmp(p, KBS_SESSION_COOKIE "\t", strlen(KBS_SESSION_COOKIE) + 1) == 0;
        }
        curl_slist_free_all(list);
        return found;
}


/* ---- the three requests ---- */

/* The TEE is the register's: RTMR3 is TDX, a PCR is TPM. */
static bool is_tdx(const struct mr *mr) {
        return strcmp(mr->ops->kind, "tdx") == 0;
}

static int kbs_auth(struct http *h, bool tdx, char **nonce, errbuf *err) {
        errbuf e = {};
        int r;

        r = http_request(h, "auth", "/kbs/v0/auth",
                         tdx ? "{\"version\":\"" KBS_PROTOCOL_VERSION "\",\"tee\":\"tdx\",\"extra-params\":\"\"}"
                             : "{\"version\":\"" KBS_PROTOCOL_VERSION "\",\"tee\":\"tpm\",\"extra-params\":\"\"}",
                         err);
        if (r < 0)
                return r;
        r = kbs_parse_auth_response(h->body.data, h->body.len, nonce, &e);
        if (r < 0)
                return errbuf_set(err, r, "auth: unusable answer from the broker: %s", e.msg);
        if (!has_session_cookie(h))
                return errbuf_set(err, -EPROTO, "auth: the broker set no %s cookie", KBS_SESSION_COOKIE);
        return 0;
}

/* The request body: runtime-data binds the nonce and our key; the quote's qualifying data is the
 * first half of report_data over the same values (kbs-proto.h). */
static int attest_body(struct mr *mr, const char *log_path, const char *nonce, const json_t *pub, char **ret,
                       errbuf *err) {
        _cleanup_json_ json_t *body = NULL;
        uint8_t report_data[KBS_REPORT_DATA_SIZE];
        json_t *evidence = NULL;
        errbuf e = {};
        int r;

        r = kbs_proto_report_data(nonce, pub, report_data);
        if (r < 0)
                return errbuf_set(err, r, "attest: cannot compute report_data: %s", strerror(-r));
        r = is_tdx(mr) ? evidence_tdx(log_path, report_data, &evidence, &e)
                       : evidence_tpm(mr, log_path, report_data, &evidence, &e);
        if (r < 0)
                return errbuf_set(err, r, "evidence: %s", e.msg);
        body = json_pack("{s:{s:s, s:O}, s:{s:o, s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", pub,
                         "tee-evidence", "primary_evidence", evidence, "additional_evidence", "");
        *ret = body ? json_dumps(body, JSON_COMPACT) : NULL;
        if (!*ret)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (strlen(*ret) > KBS_BODY_MAX)
                return errbuf_set(err, -EFBIG, "attest: the evidence takes %zu bytes, more than the protocol's "
                                  "limit of %u", strlen(*ret), KBS_BODY_MAX);
        return 0;
}

static int kbs_attest(struct http *h, struct mr *mr, const char *log_path, const char *nonce,
                      const struct jwe_key *key, errbuf *err) {
        _cleanup_free_ char *body = NULL;
        int r;

        r = attest_body(mr, log_path, nonce, jwe_key_public(key), &body, err);
        if (r < 0)
                return r;
        /* The answer (Trustee sends a token) is not needed: the session cookie carries the result. */
        return http_request(h, "attest", "/kbs/v0/attest", body, err);
}

static int kbs_resource(struct http *h, const struct jwe_key *key, uint8_t **ret, size_t *ret_len, errbuf *err) {
        _cleanup_free_ char *path = NULL;
        errbuf e = {};
        int r;

        if (asprintf(&path, "/kbs/v0/resource/%s", h->k->resource) < 0)
                return errbuf_set(err, -ENOMEM, "out of memory");
        r = http_request(h, "resource", path, NULL, err);
        if (r < 0)
                return r;
        r = jwe_decrypt(key, h->body.data ?: "", h->body.len, KBS_KEY_MAX, ret, ret_len, &e);
        if (r < 0)
                return errbuf_set(err, r, "resource: %s", e.msg);
        return 0;
}

/* ---- the exchange, and trying again ---- */

static int kbs_attempt(const struct config_kbs *k, struct mr *mr, const char *log_path, uint8_t **ret,
                       size_t *ret_len, bool *retry, errbuf *err) {
        _cleanup_(http_done) struct http h = {};
        _cleanup_(jwe_key_freep) struct jwe_key *key = NULL;
        _cleanup_free_ char *nonce = NULL;
        errbuf e = {};
        int r;

        r = http_init(&h, k);
        if (r < 0)
                return errbuf_set(err, r, "cannot set up libcurl: %s", strerror(-r));
        r = kbs_auth(&h, is_tdx(mr), &nonce, err);
        if (r >= 0) {
                /* A fresh key per exchange: it is bound to this session's nonce only. */
                r = jwe_key_new(&key, &e);
                if (r < 0)
                        (void) errbuf_set(err, r, "cannot make the ephemeral key: %s", e.msg);
        }
        if (r >= 0)
                r = kbs_attest(&h, mr, log_path, nonce, key, err);
        if (r >= 0)
                r = kbs_resource(&h, key, ret, ret_len, err);
        *retry = r < 0 && h.retry;
        return r;
}

static void sleep_ms(uint64_t ms) {
        struct timespec until;

        (void) clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t) (ms / 1000);
        until.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
                ;
}

int kbs_fetch_key(const struct config_kbs *k, struct mr *mr, const char *log_path, uint8_t **ret,
                  size_t *ret_len, errbuf *err) {
        unsigned attempts;

        int r;

        if (!k || !mr || !log_path || !ret || !ret_len)
                return errbuf_set(err, -EINVAL, "invalid arguments");
        /* Before the first TLS handshake, so that OpenSSL's DRBGs and ephemeral keys live in the
         * locked heap too. */
        r = secret_init();
        if (r < 0)
                return errbuf_set(err, r, "no locked memory for secrets (OpenSSL secure heap)");
        if (r > 0)
                log_warning("Secrets are kept in memory that could not be locked (mlock refused).");
        attempts = (unsigned) k->retries + 1;
        for (unsigned i = 0;; i++) {
                errbuf e = {};
                bool retry = false;
                uint64_t delay;

                r = kbs_attempt(k, mr, log_path, ret, ret_len, &retry, &e);
                if (r >= 0)
                        return 0;
                if (!retry)
                        return errbuf_set(err, r, "%s", e.msg);
                if (i + 1 >= attempts)
                        return errbuf_set(err, r, "%s (gave up after %u attempt%s)", e.msg, attempts,
                                          attempts == 1 ? "" : "s");
                delay = kbs_backoff_ms(k->retry_delay_ms, i);
                log_warning("Key broker: %s; trying again in %llu ms (attempt %u of %u).", e.msg,
                            (unsigned long long) delay, i + 2, attempts);
                sleep_ms(delay);
        }
}
