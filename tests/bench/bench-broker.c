/* SPDX-License-Identifier: MIT */
/* Load generator for cvm-broker (make bench-broker; docs/broker.md "Performance"): full KBS cycles
 * (DESIGN §4) over TLS against a broker on loopback, at several concurrency levels for a fixed time
 * each; prints cycles/s, p50/p99 latency of a whole cycle, errors, the mean time of each step seen
 * from the client, and how the CPU time splits between this process and the broker.
 *
 * Every cycle is what a booting VM does: POST /auth (a new session and nonce); a fresh ephemeral
 * P-256 key (agent/jwe.h); report_data over the session's nonce and that key (kbs-proto.h);
 * evidence whose quote is made now over that report_data; POST /attest; GET the resource; the JWE
 * decrypted and compared with the key file's bytes. The evidence is the session's TEE's (--tee):
 *   tpm  the TPMS_ATTEST a TPM makes, RSASSA-SHA256 by the AK, signed in software
 *        (tests/unit/softquote.h), with an event log of bench_events at PCR 14;
 *   tdx  a TDX quote v4 made by cvm-tdxsim's generator (tools/cvm-tdxsim-quote.c): signed by the
 *        simulator's attestation key, its QE report by the simulator's PCK, over report_data and 16
 *        zero bytes; with a cc_eventlog — the simulator's firmware log and bench_events at RTMR3 —
 *        whose replay the quote's RTMRs carry (tests/unit/tdxevidence.h, made once at start).
 * Only the AK or the simulator's keys, the TLS connection and the event log carry over from one
 * cycle to the next. A cycle that does not end with the right key is an error; any error makes the
 * exit status 1.
 *
 * Threads with one libcurl easy handle (one keep-alive TLS connection) each, rather than curl
 * multi on one thread: the client's own work per cycle (the RSA signature, ECDH, JSON) is CPU work
 * that one event loop would serialise on one core, while the broker sees the same number of
 * concurrent connections either way. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/pem.h>

#include "base64.h"
#include "jcs.h"
#include "jwe.h"
#include "kbs-proto.h"
#include "secret.h"
#include "softquote.h"
#include "util.h"

/* tdxevidence.h is written for cmocka tests; here its checks (made once, at start) abort. */
static void bench_assert(bool ok, const char *what) {
        if (!ok) {
                fprintf(stderr, "bench-broker: making the TDX evidence failed: %s\n", what);
                abort();
        }
}
#define assert_int_equal(a, b) bench_assert((intmax_t) (a) == (intmax_t) (b), #a " == " #b)
#define assert_true(c) bench_assert(!!(c), #c)
#define assert_non_null(p) bench_assert((p) != NULL, #p)
#include "tdxevidence.h"

enum { EXIT_OK_ = 0, EXIT_ERRORS_ = 1, EXIT_USAGE_ = 2, EXIT_INPUT_ = 3, EXIT_TRANSIENT_ = 4 };

#define LEVELS_MAX 16U
#define CONCURRENCY_MAX 1024U
#define DURATION_MAX_S 60U
#define RESPONSE_MAX (256U << 10)
#define AK_PEM_MAX (64U << 10)
#define KEY_MAX (64U << 10) /* the broker's limit on a resource file */
#define ERRORS_SHOWN 3U
#define TIMEOUT_MS 30000L

/* The event log of every cycle: what a boot measures before the attest step. bench-broker.sh's
 * policy requires the config's sha384 and the model's manifest from here. The contents are in JCS
 * form (members sorted), as cvminit measures them: the TPM path canonicalises them anyway
 * (event_text), the TDX one measures the text as it is (setup_tdx checks). */
#define BENCH_CONFIG_SHA384 \
        "9e5a0f2c9cb1b3b0b2a9f7f3d1f2c5e9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3"
#define BENCH_MODEL_MANIFEST "5f1b2ea3b9fd8f0f6ae61a76b3bb5e0be2f7ac98ab1ab6a3fba1ac1a9cd1c2a0"
static const char *const bench_events[] = {
        "config", "{\"sha384\":\"" BENCH_CONFIG_SHA384 "\",\"source\":\"fw_cfg:opt/cvminit/config\"}",
        "key-provider", "{\"ca_sha256\":\"" BENCH_MODEL_MANIFEST "\",\"resource\":\"default/disk/data\","
                        "\"url\":\"https://10.0.2.2:8443\"}",
        "model", "{\"alg\":\"sha256\",\"bytes\":1048576,\"files\":3,\"manifest\":\"" BENCH_MODEL_MANIFEST "\","
                 "\"mode\":\"files\",\"name\":\"tiny\"}",
        NULL,
};

enum phase { PH_AUTH, PH_KEY, PH_QUOTE, PH_ATTEST, PH_RESOURCE, PH_DECRYPT, _PH_MAX };
static const char *const phase_names[_PH_MAX] = { "auth", "key", "quote", "attest", "resource", "decrypt" };

struct bench {
        const char *ca;
        char *auth_url, *attest_url, *resource_url, *auth_body;
        bool tdx;
        struct softquote sq;      /* tpm: the AK */
        struct tdxsim_keys keys;  /* tdx: the simulator's PCK chain and attestation key */
        struct tdxsim_td td;      /* tdx: the quoted registers, RTMR3 the replay of bench_events */
        char *ccel_b64;           /* tdx: the cc_eventlog */
        uint8_t *expect;
        size_t expect_len;
        pid_t broker;
        atomic_bool stop;
        pthread_mutex_t lock;
        unsigned errors_shown;
};

struct worker {
        pthread_t thread;
        struct bench *b;
        CURL *curl;
        struct curl_slist *headers;
        struct buf body;
        char cookie[96]; /* "kbs-session-id=..." from the last /auth */
        char curl_error[CURL_ERROR_SIZE];
        uint64_t *lat_ns;
        size_t n_lat, cap_lat;
        uint64_t phase_ns[_PH_MAX];
        unsigned errors, attested, released;
};

static uint64_t now_ns(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000U + (uint64_t) ts.tv_nsec;
}

/* Reports one failed cycle (the first few of the run, escaped: the text comes from the broker). */
static int cycle_error(struct worker *w, const char *step, const char *what) {
        _cleanup_free_ char *esc = escape_untrusted(what, strlen(what), 300);

        w->errors++;
        pthread_mutex_lock(&w->b->lock);
        if (w->b->errors_shown++ < ERRORS_SHOWN)
                fprintf(stderr, "bench-broker: cycle failed at %s: %s\n", step, esc ?: "?");
        pthread_mutex_unlock(&w->b->lock);
        return -EIO;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t nmemb, void *userdata) {
        struct worker *w = userdata;
        size_t n = size * nmemb;

        return buf_append(&w->body, p, n) < 0 ? 0 : n;
}

/* Keeps the kbs-session-id of a Set-Cookie header: sent back by hand on the next two requests
 * (cheaper than libcurl's cookie engine, and each /auth replaces it). */
static size_t on_header(char *p, size_t size, size_t nmemb, void *userdata) {
        static const char name[] = "set-cookie:", cookie[] = KBS_SESSION_COOKIE "=";
        struct worker *w = userdata;
        size_t n = size * nmemb, i = sizeof(name) - 1, len;

        if (n < i || strncasecmp(p, name, i) != 0)
                return n;
        while (i < n && p[i] == ' ')
                i++;
        if (n - i < sizeof(cookie) - 1 || memcmp(p + i, cookie, sizeof(cookie) - 1) != 0)
                return n;
        for (len = 0; i + len < n && !strchr(";\r\n", p[i + len]); len++)
                ;
        if (len < sizeof(w->cookie))
                snprintf(w->cookie, sizeof(w->cookie), "%.*s", (int) len, p + i);
        return n;
}

static int worker_init(struct worker *w, struct bench *b) {
        static const char *const headers[] = { "Content-Type: application/json", "Accept: application/json",
                                               "Expect:" };
        CURL *c;

        *w = (struct worker) { .b = b, .body.max = RESPONSE_MAX };
        c = w->curl = curl_easy_init();
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(headers); i++) {
                struct curl_slist *l = curl_slist_append(w->headers, headers[i]);
                if (!l)
                        return -ENOMEM;
                w->headers = l;
        }
        /* TLS pinned to the test CA alone, as the agent does (agent/kbs.c). CURLE_OK is 0. */
        if (curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") || curl_easy_setopt(c, CURLOPT_CAINFO, b->ca) ||
            curl_easy_setopt(c, CURLOPT_CAPATH, NULL) || curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) ||
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) || curl_easy_setopt(c, CURLOPT_PROXY, "") ||
            curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) || curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, TIMEOUT_MS) ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, w->headers) ||
            curl_easy_setopt(c, CURLOPT_ERRORBUFFER, w->curl_error) ||
            curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) || curl_easy_setopt(c, CURLOPT_WRITEDATA, w) ||
            curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) || curl_easy_setopt(c, CURLOPT_HEADERDATA, w))
                return -EIO;
        return 0;
}

static void worker_done(struct worker *w) {
        if (w->curl)
                curl_easy_cleanup(w->curl);
        curl_slist_free_all(w->headers);
        buf_free(&w->body);
        free(w->lat_ns);
}

/* One request (POST with body, or GET); 0 only for HTTP 200, the answer in w->body. */
static int request(struct worker *w, const char *step, const char *url, const char *body, const char *cookie) {
        char what[CURL_ERROR_SIZE + 64];
        CURLcode c;
        long status = 0;

        buf_free(&w->body);
        w->body.max = RESPONSE_MAX;
        w->curl_error[0] = 0;
        (void) curl_easy_setopt(w->curl, CURLOPT_URL, url);
        (void) curl_easy_setopt(w->curl, CURLOPT_COOKIE, cookie);
        if (body) {
                (void) curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, body);
                (void) curl_easy_setopt(w->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body));
        } else
                (void) curl_easy_setopt(w->curl, CURLOPT_HTTPGET, 1L);
        c = curl_easy_perform(w->curl);
        if (c != CURLE_OK) {
                snprintf(what, sizeof(what), "%s (%s)", curl_easy_strerror(c), w->curl_error);
                return cycle_error(w, step, what);
        }
        (void) curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
                snprintf(what, sizeof(what), "HTTP %ld: %.*s", status, 200, w->body.data ?: "");
                return cycle_error(w, step, what);
        }
        return 0;
}

/* ---- one cycle ---- */

static int do_auth(struct worker *w, char **ret_nonce) {
        json_t *o;
        const char *nonce;
        int r;

        w->cookie[0] = 0;
        r = request(w, "auth", w->b->auth_url, w->b->auth_body, NULL);
        if (r < 0)
                return r;
        o = json_loadb(w->body.data, w->body.len, JSON_REJECT_DUPLICATES, NULL);
        nonce = json_string_value(json_object_get(o, "nonce"));
        *ret_nonce = nonce && nonce[0] ? strdup(nonce) : NULL;
        json_decref(o);
        if (!*ret_nonce || !w->cookie[0])
                return cycle_error(w, "auth", !nonce ? "no nonce in the answer" : "no session cookie");
        return 0;
}

/* TDX evidence: a quote made now by the simulator's generator over report_data ‖ 16 zero bytes
 * (two ECDSA P-256 signatures: the quote by the attestation key, the QE report by the PCK), with
 * the cc_eventlog made at start. NULL on failure. */
static json_t *tdx_evidence(const struct bench *b, const uint8_t report_data[KBS_REPORT_DATA_SIZE]) {
        uint8_t rd[TDX_REPORT_DATA_SIZE] = {};
        struct buf quote = { .max = TDX_QUOTE_MAX };
        _cleanup_free_ char *q64 = NULL;
        json_t *o = NULL;

        memcpy(rd, report_data, KBS_REPORT_DATA_SIZE);
        if (tdxsim_quote_render(&b->keys, &b->td, rd, &quote) >= 0 &&
            base64_encode(quote.data, quote.len, BASE64_STD, &q64) >= 0)
                o = json_pack("{s:s, s:s}", "quote", q64, "cc_eventlog", b->ccel_b64);
        buf_free(&quote);
        return o;
}

/* The attest request: evidence with a quote signed now over this session's report_data. */
static int attest_body(struct worker *w, const char *nonce, const json_t *pub, char **ret) {
        uint8_t report_data[KBS_REPORT_DATA_SIZE], pcrs[24][32];
        json_t *evidence, *o;

        if (kbs_proto_report_data(nonce, pub, report_data) < 0)
                return cycle_error(w, "quote", "cannot compute report_data");
        evidence = w->b->tdx ? tdx_evidence(w->b, report_data)
                             : softquote_evidence(&w->b->sq, report_data, bench_events, pcrs);
        if (!evidence)
                return cycle_error(w, "quote", "cannot make the evidence");
        o = json_pack("{s:{s:s, s:O}, s:{s:o, s:s}}", "runtime-data", "nonce", nonce, "tee-pubkey", pub,
                      "tee-evidence", "primary_evidence", evidence, "additional_evidence", "");
        *ret = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        return *ret ? 0 : cycle_error(w, "quote", "out of memory");
}

/* The released JWE decrypts with this cycle's key to exactly the key file's bytes. */
static int check_release(struct worker *w, const struct jwe_key *key) {
        _cleanup_secret_ uint8_t *pt = NULL;
        size_t n = 0;
        errbuf err = {};

        if (jwe_decrypt(key, w->body.data, w->body.len, KEY_MAX, &pt, &n, &err) < 0)
                return cycle_error(w, "decrypt", err.msg);
        if (n != w->b->expect_len || memcmp(pt, w->b->expect, n) != 0)
                return cycle_error(w, "decrypt", "the released resource is not the key file's content");
        return 0;
}

static void phase_end(struct worker *w, enum phase p, uint64_t *t) {
        uint64_t now = now_ns();
        w->phase_ns[p] += now - *t;
        *t = now;
}

static int cycle(struct worker *w) {
        _cleanup_(jwe_key_freep) struct jwe_key *key = NULL;
        _cleanup_free_ char *nonce = NULL, *body = NULL;
        uint64_t t = now_ns();
        errbuf err = {};
        int r;

        r = do_auth(w, &nonce);
        if (r < 0)
                return r;
        phase_end(w, PH_AUTH, &t);
        if (jwe_key_new(&key, &err) < 0)
                return cycle_error(w, "key", err.msg);
        phase_end(w, PH_KEY, &t);
        r = attest_body(w, nonce, jwe_key_public(key), &body);
        if (r < 0)
                return r;
        phase_end(w, PH_QUOTE, &t);
        r = request(w, "attest", w->b->attest_url, body, w->cookie);
        if (r < 0)
                return r;
        w->attested++;
        phase_end(w, PH_ATTEST, &t);
        r = request(w, "resource", w->b->resource_url, NULL, w->cookie);
        if (r < 0)
                return r;
        w->released++;
        phase_end(w, PH_RESOURCE, &t);
        r = check_release(w, key);
        phase_end(w, PH_DECRYPT, &t);
        return r;
}

static int record(struct worker *w, uint64_t ns) {
        if (w->n_lat == w->cap_lat) {
                size_t cap = w->cap_lat ? 2 * w->cap_lat : 1024;
                uint64_t *p = realloc(w->lat_ns, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                w->lat_ns = p, w->cap_lat = cap;
        }
        w->lat_ns[w->n_lat++] = ns;
        return 0;
}

static void *worker_main(void *arg) {
        struct worker *w = arg;

        while (!atomic_load(&w->b->stop)) {
                uint64_t t0 = now_ns();
                if (cycle(w) < 0) {
                        /* A broker that went away must not turn this into a busy loop. */
                        (void) nanosleep(&(struct timespec) { .tv_nsec = 10000000 }, NULL);
                        continue;
                }
                if (record(w, now_ns() - t0) < 0)
                        (void) cycle_error(w, "record", "out of memory");
        }
        return NULL;
}

/* ---- CPU accounting ---- */

/* CPU seconds (user + system) of this process, of the broker (0 if not given or gone) and of the
 * whole machine (all CPUs busy, from /proc/stat): on a shared machine, what others took is then
 * visible too. */
struct cpu {
        double self_s, broker_s, machine_s;
};

static double machine_cpu_s(void) {
        _cleanup_free_ uint8_t *stat = NULL;
        unsigned long long v[8] = {};
        size_t n;

        /* "cpu  user nice system idle iowait irq softirq steal ..." (proc(5)): busy is all but
         * idle and iowait. */
        if (read_file_limited("/proc/stat", 1U << 20, &stat, &n) < 0 ||
            sscanf((char *) stat, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                   &v[5], &v[6], &v[7]) != 8)
                return 0;
        return (double) (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double) sysconf(_SC_CLK_TCK);
}

static double broker_cpu_s(pid_t pid) {
        _cleanup_free_ uint8_t *stat = NULL;
        char path[64];
        unsigned long long utime, stime;
        const char *p;
        size_t n;

        if (pid <= 0)
                return 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_file_limited(path, 4096, &stat, &n) < 0)
                return 0;
        /* After the command name (in parentheses, may contain anything): state is field 3, utime
         * and stime fields 14 and 15 (proc(5)). */
        p = strrchr((char *) stat, ')');
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return 0;
        return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}

static struct cpu cpu_now(pid_t broker) {
        struct rusage ru = {};

        (void) getrusage(RUSAGE_SELF, &ru);
        return (struct cpu) {
                .self_s = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
                          (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6,
                .broker_s = broker_cpu_s(broker),
                .machine_s = machine_cpu_s(),
        };
}

/* ---- one concurrency level ---- */

struct result {
        unsigned concurrency;
        size_t cycles;
        unsigned errors, attested, released;
        double wall_s, p50_ms, p99_ms;
        struct cpu cpu;
        uint64_t phase_ns[_PH_MAX];
};

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v. */
static double percentile_ms(const uint64_t *v, size_t n, double p) {
        size_t rank = (size_t) ceil(p / 100.0 * (double) n);
        return n == 0 ? 0 : (double) v[rank > 0 ? rank - 1 : 0] / 1e6;
}

/* Merges the workers' figures into res. */
static int collect(struct worker *w, unsigned c, struct result *res) {
        _cleanup_free_ uint64_t *all = NULL;
        size_t n = 0;

        for (unsigned i = 0; i < c; i++)
                n += w[i].n_lat;
        all = malloc((n ?: 1) * sizeof(*all));
        if (!all)
                return -ENOMEM;
        n = 0;
        for (unsigned i = 0; i < c; i++) {
                memcpy(all + n, w[i].lat_ns, w[i].n_lat * sizeof(*all));
                n += w[i].n_lat;
                res->errors += w[i].errors, res->attested += w[i].attested, res->released += w[i].released;
                for (unsigned p = 0; p < _PH_MAX; p++)
                        res->phase_ns[p] += w[i].phase_ns[p];
        }
        qsort(all, n, sizeof(*all), cmp_u64);
        res->cycles = n;
        res->p50_ms = percentile_ms(all, n, 50);
        res->p99_ms = percentile_ms(all, n, 99);
        return 0;
}

static void sleep_s(unsigned seconds) {
        uint64_t end = now_ns() + (uint64_t) seconds * 1000000000U;
        struct timespec ts = {};

        for (uint64_t t; (t = now_ns()) < end;) {
                ts.tv_sec = (time_t) ((end - t) / 1000000000U), ts.tv_nsec = (long) ((end - t) % 1000000000U);
                (void) nanosleep(&ts, NULL);
        }
}

/* c workers for seconds; the cycles in flight when the time is up are finished and counted. */
static int run_level(struct bench *b, unsigned c, unsigned seconds, struct result *res) {
        struct worker *w = calloc(c, sizeof(*w));
        struct cpu c0, c1;
        uint64_t t0;
        unsigned started = 0;
        int r = 0;

        if (!w)
                return -ENOMEM;
        for (unsigned i = 0; i < c && r >= 0; i++)
                r = worker_init(&w[i], b);
        atomic_store(&b->stop, false);
        b->errors_shown = 0;
        c0 = cpu_now(b->broker);
        t0 = now_ns();
        for (; r >= 0 && started < c; started++)
                r = -pthread_create(&w[started].thread, NULL, worker_main, &w[started]);
        if (r >= 0)
                sleep_s(seconds);
        atomic_store(&b->stop, true);
        for (unsigned i = 0; i < started; i++)
                (void) pthread_join(w[i].thread, NULL);
        *res = (struct result) { .concurrency = c, .wall_s = (double) (now_ns() - t0) / 1e9 };
        c1 = cpu_now(b->broker);
        res->cpu = (struct cpu) { c1.self_s - c0.self_s, c1.broker_s - c0.broker_s, c1.machine_s - c0.machine_s };
        if (r >= 0)
                r = collect(w, c, res);
        for (unsigned i = 0; i < c; i++)
                worker_done(&w[i]);
        free(w);
        return r;
}

static void print_header(void) {
        printf("%5s %7s %6s %9s %8s %8s   %-20s %-20s %s\n", "conc", "cycles", "errors", "cycles/s", "p50 ms",
               "p99 ms", "bench CPU", "broker CPU", "others");
}

/* CPU as a share of one CPU over the run, and per cycle; "others": the rest of the machine. */
static void print_result(const struct result *r) {
        double per = r->cycles ? 1e3 / (double) r->cycles : 0;
        double others = r->cpu.machine_s - r->cpu.self_s - r->cpu.broker_s;
        char self[32], broker[32];

        snprintf(self, sizeof(self), "%3.0f%% %5.2f ms/cyc", 100 * r->cpu.self_s / r->wall_s, r->cpu.self_s * per);
        snprintf(broker, sizeof(broker), "%3.0f%% %5.2f ms/cyc", 100 * r->cpu.broker_s / r->wall_s,
                 r->cpu.broker_s * per);
        printf("%5u %7zu %6u %9.1f %8.2f %8.2f   %-20s %-20s %3.0f%%\n", r->concurrency, r->cycles, r->errors,
               (double) r->cycles / r->wall_s, r->p50_ms, r->p99_ms, self, broker,
               others > 0 ? 100 * others / r->wall_s : 0);
        printf("      client-side mean ms per cycle:");
        for (unsigned p = 0; p < _PH_MAX; p++)
                printf(" %s %.2f", phase_names[p], r->cycles ? (double) r->phase_ns[p] / 1e6 / (double) r->cycles : 0);
        printf("\n");
        fflush(stdout);
}

/* ---- command line ---- */

struct args {
        const char *url, *ca, *ak, *tdx_keys, *resource, *expect;
        bool tdx, keys_only;
        unsigned levels[LEVELS_MAX], n_levels, seconds;
        pid_t broker;
};

static int help(void) {
        printf("Usage: bench-broker --url URL --ca FILE --expect FILE {--ak FILE | --tee tdx --tdx-keys DIR} [OPTIONS]\n"
               "       bench-broker --tdx-keys DIR --keys-only\n\n"
               "Full KBS cycles (auth, attest with a fresh quote made in software, resource) against cvm-broker.\n\n"
               "  --url URL            the broker, e.g. https://127.0.0.1:8443\n"
               "  --ca FILE            PEM CA the broker's certificate must chain to (nothing else is trusted)\n"
               "  --tee tpm|tdx        the sessions' TEE and the evidence sent (default tpm)\n"
               "  --ak FILE            tpm: PEM RSA-2048 private key standing in for the AK (the policy trusts it)\n"
               "  --tdx-keys DIR       tdx: cvm-tdxsim's key directory (created if it holds none of its files);\n"
               "                       the policy trusts its root.pem\n"
               "  --keys-only          create or check --tdx-keys DIR, print its root's SHA-256 and exit\n"
               "  --expect FILE        the key file: each released resource must decrypt to its bytes\n"
               "  --resource NAME      REPO/TYPE/TAG to fetch (default default/disk/data)\n"
               "  -c, --concurrency N,N,...  concurrent clients per level (default 1,8,64)\n"
               "  -d, --duration SECONDS     time per level (default 5, at most %u)\n"
               "  --broker-pid PID     the broker's process, for the CPU split\n\n"
               "Exit codes: 0 every cycle got the key, 1 some cycle failed, 2 usage, 3 bad input files,\n"
               "4 environment (libcurl, threads, memory).\n", DURATION_MAX_S);
        return EXIT_OK_;
}

static int usage(const char *msg) {
        fprintf(stderr, "bench-broker: %s\nTry 'bench-broker --help'.\n", msg);
        return EXIT_USAGE_;
}

static int parse_levels(const char *s, struct args *a) {
        _cleanup_free_ char *copy = strdup(s);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        a->n_levels = 0;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                unsigned v;
                if (a->n_levels == LEVELS_MAX || safe_atou(t, &v) < 0 || v == 0 || v > CONCURRENCY_MAX)
                        return -EINVAL;
                a->levels[a->n_levels++] = v;
        }
        return a->n_levels > 0 ? 0 : -EINVAL;
}

static int parse_args(int argc, char **argv, struct args *a) {
        enum { O_URL = 256, O_CA, O_AK, O_TEE, O_TDX_KEYS, O_KEYS_ONLY, O_EXPECT, O_RESOURCE, O_PID };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },           { "url", required_argument, NULL, O_URL },
                { "ca", required_argument, NULL, O_CA },       { "ak", required_argument, NULL, O_AK },
                { "tee", required_argument, NULL, O_TEE },     { "tdx-keys", required_argument, NULL, O_TDX_KEYS },
                { "keys-only", no_argument, NULL, O_KEYS_ONLY },
                { "expect", required_argument, NULL, O_EXPECT }, { "resource", required_argument, NULL, O_RESOURCE },
                { "concurrency", required_argument, NULL, 'c' }, { "duration", required_argument, NULL, 'd' },
                { "broker-pid", required_argument, NULL, O_PID }, {},
        };
        unsigned v;
        int c;

        while ((c = getopt_long(argc, argv, "hc:d:", options, NULL)) >= 0)
                switch (c) {
                case 'h': return help();
                case O_URL: a->url = optarg; break;
                case O_CA: a->ca = optarg; break;
                case O_AK: a->ak = optarg; break;
                case O_TDX_KEYS: a->tdx_keys = optarg; break;
                case O_KEYS_ONLY: a->keys_only = true; break;
                case O_TEE:
                        if (strcmp(optarg, "tpm") != 0 && strcmp(optarg, "tdx") != 0)
                                return usage("--tee: expected tpm or tdx");
                        a->tdx = strcmp(optarg, "tdx") == 0;
                        break;
                case O_EXPECT: a->expect = optarg; break;
                case O_RESOURCE: a->resource = optarg; break;
                case 'c':
                        if (parse_levels(optarg, a) < 0)
                                return usage("-c: expected a comma-separated list of 1..1024 (at most 16)");
                        break;
                case 'd':
                        if (safe_atou(optarg, &a->seconds) < 0 || a->seconds == 0 || a->seconds > DURATION_MAX_S)
                                return usage("-d: expected 1..60 seconds");
                        break;
                case O_PID:
                        if (safe_atou(optarg, &v) < 0 || v == 0 || v > INT32_MAX)
                                return usage("--broker-pid: expected a process id");
                        a->broker = (pid_t) v;
                        break;
                default: return usage("unknown option");
                }
        if (optind < argc)
                return usage("unexpected argument");
        if (a->keys_only)
                return a->tdx_keys ? -1 : usage("--keys-only needs --tdx-keys");
        if (!a->url || !a->ca || !a->expect)
                return usage("--url, --ca and --expect are required");
        if (a->tdx ? !a->tdx_keys || a->ak : !a->ak || a->tdx_keys)
                return usage("--tee tpm needs --ak, --tee tdx needs --tdx-keys (and not the other)");
        if (strncmp(a->url, "https://", 8) != 0)
                return usage("--url: expected https://HOST:PORT");
        return -1;
}

/* The AK: an RSA-2048 private key in PEM. */
static int load_ak(const char *path, EVP_PKEY **ret) {
        _cleanup_free_ uint8_t *pem = NULL;
        EVP_PKEY *k = NULL;
        BIO *bio;
        size_t n;
        int r;

        r = read_file_limited(path, AK_PEM_MAX, &pem, &n);
        if (r < 0)
                return r;
        bio = BIO_new_mem_buf(pem, (int) n);
        if (bio)
                k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        BIO_free(bio);
        if (!k || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA || EVP_PKEY_get_bits(k) != 2048) {
                EVP_PKEY_free(k);
                return -EINVAL;
        }
        *ret = k;
        return 0;
}

/* tpm: the AK and its fingerprint (what the policy trusts). */
static int setup_tpm(const struct args *a, struct bench *b, char hex[65]) {
        EVP_PKEY *ak = NULL;
        uint8_t fp[32];
        int r;

        r = load_ak(a->ak, &ak);
        if (r < 0)
                return fprintf(stderr, "bench-broker: %s is not a PEM RSA-2048 private key: %s\n", a->ak,
                               strerror(-r)), EXIT_INPUT_;
        softquote_init_key(&b->sq, ak);
        softquote_fingerprint(&b->sq, fp);
        hex_encode(fp, sizeof(fp), hex);
        return EXIT_OK_;
}

/* The TDX log measures bench_events' text as it is; cvminit measures the JCS form. */
static bool events_canonical(void) {
        for (size_t i = 0; bench_events[i]; i += 2) {
                json_t *v = json_loads(bench_events[i + 1], JSON_REJECT_DUPLICATES, NULL);
                _cleanup_free_ char *c = NULL;
                size_t n;
                int r = v ? jcs_serialize(v, &c, &n) : -EINVAL;

                json_decref(v);
                if (r < 0 || strcmp(c, bench_events[i + 1]) != 0)
                        return false;
        }
        return true;
}

/* tdx: the simulator's keys (created if the directory holds none of its files) and the SHA-256 of
 * its root's DER (what the audit log shows as root_sha256). */
static int load_tdx_keys(const char *dir, struct tdxsim_keys *keys, char hex[65]) {
        unsigned char *der = NULL;
        uint8_t d[HASH_MAX_SIZE];
        errbuf err = {};
        int n, r;

        r = tdxsim_keys_load_or_create(dir, keys, &err);
        if (r < 0)
                return fprintf(stderr, "bench-broker: %s: %s\n", dir, err.msg[0] ? err.msg : strerror(-r)),
                       EXIT_INPUT_;
        n = i2d_X509(keys->root, &der);
        r = n > 0 ? hash_buffer(HASH_SHA256, der, (size_t) n, d) : -EIO;
        OPENSSL_free(der);
        if (r < 0)
                return fprintf(stderr, "bench-broker: cannot hash the root certificate\n"), EXIT_TRANSIENT_;
        hex_encode(d, 32, hex);
        return EXIT_OK_;
}

/* tdx: the keys, and the registers and cc_eventlog of every cycle (the quote made here is
 * dropped: each cycle makes its own over its session's report_data). */
static int setup_tdx(const struct args *a, struct bench *b, char hex[65]) {
        static const uint8_t zero[KBS_REPORT_DATA_SIZE];
        const char *log;
        json_t *ev;
        int r;

        if (!events_canonical())
                return fprintf(stderr, "bench-broker: bench_events are not in JCS form\n"), EXIT_INPUT_;
        r = load_tdx_keys(a->tdx_keys, &b->keys, hex);
        if (r != EXIT_OK_)
                return r;
        ev = tdxevidence_make(&(struct tdxevidence_params) { .keys = &b->keys, .report_data = zero },
                              bench_events, &b->td);
        log = json_string_value(json_object_get(ev, "cc_eventlog"));
        b->ccel_b64 = log ? strdup(log) : NULL;
        json_decref(ev);
        return b->ccel_b64 ? EXIT_OK_ : EXIT_TRANSIENT_;
}

static int bench_setup(const struct args *a, struct bench *b) {
        char hex[65];
        int r;

        b->tdx = a->tdx;
        r = b->tdx ? setup_tdx(a, b, hex) : setup_tpm(a, b, hex);
        if (r != EXIT_OK_)
                return r;
        r = read_file_limited(a->expect, KEY_MAX, &b->expect, &b->expect_len);
        if (r < 0)
                return fprintf(stderr, "bench-broker: cannot read %s: %s\n", a->expect, strerror(-r)), EXIT_INPUT_;
        if (asprintf(&b->auth_url, "%s/kbs/v0/auth", a->url) < 0 ||
            asprintf(&b->attest_url, "%s/kbs/v0/attest", a->url) < 0 ||
            asprintf(&b->resource_url, "%s/kbs/v0/resource/%s", a->url, a->resource ?: "default/disk/data") < 0 ||
            asprintf(&b->auth_body, "{\"version\":\"" KBS_PROTOCOL_VERSION "\",\"tee\":\"%s\",\"extra-params\":\"\"}",
                     b->tdx ? "tdx" : "tpm") < 0)
                return EXIT_TRANSIENT_;
        b->ca = a->ca;
        b->broker = a->broker;
        pthread_mutex_init(&b->lock, NULL);
        printf("bench-broker: tee %s, %s, %s sha256 %s, %zu-byte key, %u s per level, %ld CPUs\n",
               b->tdx ? "tdx" : "tpm", b->resource_url, b->tdx ? "root" : "AK", hex, b->expect_len, a->seconds,
               sysconf(_SC_NPROCESSORS_ONLN));
        return EXIT_OK_;
}

static void bench_done(struct bench *b) {
        softquote_done(&b->sq);
        tdxsim_keys_done(&b->keys);
        free(b->ccel_b64);
        free(b->expect);
        free(b->auth_url), free(b->attest_url), free(b->resource_url), free(b->auth_body);
}

static int run(const struct args *a, struct bench *b) {
        unsigned errors = 0, attested = 0, released = 0;
        size_t cycles = 0;

        print_header();
        for (unsigned i = 0; i < a->n_levels; i++) {
                struct result res;
                int r = run_level(b, a->levels[i], a->seconds, &res);
                if (r < 0)
                        return fprintf(stderr, "bench-broker: cannot run %u clients: %s\n", a->levels[i],
                                       strerror(-r)), EXIT_TRANSIENT_;
                print_result(&res);
                cycles += res.cycles, errors += res.errors, attested += res.attested, released += res.released;
        }
        /* bench-broker.sh compares these with the audit log. */
        printf("total: %zu cycles, %u attested, %u released, %u errors\n", cycles, attested, released, errors);
        return errors > 0 || cycles == 0 ? EXIT_ERRORS_ : EXIT_OK_;
}

int main(int argc, char **argv) {
        struct args a = { .levels = { 1, 8, 64 }, .n_levels = 3, .seconds = 5 };
        struct bench b = {};
        int r;

        r = parse_args(argc, argv, &a);
        if (r >= 0)
                return r;
        if (a.keys_only) {
                struct tdxsim_keys keys = {};
                char hex[65];

                r = load_tdx_keys(a.tdx_keys, &keys, hex);
                if (r == EXIT_OK_)
                        printf("%s\n", hex);
                tdxsim_keys_done(&keys);
                return r;
        }
        if (secret_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return fprintf(stderr, "bench-broker: cannot initialise libcurl or the secure heap\n"), EXIT_TRANSIENT_;
        r = bench_setup(&a, &b);
        if (r == EXIT_OK_)
                r = run(&a, &b);
        bench_done(&b);
        curl_global_cleanup();
        return r;
}
