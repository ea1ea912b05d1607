/* SPDX-License-Identifier: MIT */
/* cvmtool evidence verify: an answer of the attestation API's GET /v1/evidence (docs/api.md),
 * checked on the host: the nonce, the report_data binding (api-proto.h), the quote (TPM:
 * tpm-verify.h, the AK pinned by its SHA-256; TDX: tdx-verify.h, the PCK chain to a given root),
 * the event log's replay, and that every `app` event follows boot-done (DESIGN §3). */
#include <getopt.h>
#include <jansson.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "api-proto.h"
#include "cvmtool.h"
#include "event.h"
#include "jcs.h"
#include "log.h"
#include "policy.h"
#include "tdx-quote.h"
#include "tdx-verify.h"
#include "tpm-verify.h"

/* An answer: the evidence with its event log (KBS_BODY_MAX before base64) and a little more. */
#define ANSWER_MAX (4U << 20)
#define ROOTS_MAX 16
#define SHOW_MAX 200U

struct opts {
        const char *path, *root;
        uint8_t nonce[API_NONCE_MAX];
        size_t nonce_len;
        uint8_t ak[32];
        bool has_ak;
        time_t at;
};

static int help(void) {
        printf("Usage: cvmtool evidence verify FILE --nonce HEX (--ak-sha256 HEX | --root PEM [--at TIME])\n\n"
               "Checks an answer of cvminit's attestation API, GET /v1/evidence?nonce=HEX (docs/api.md), and\n"
               "prints each check, the events of its log and the verdict:\n"
               "  nonce        the answer is for the nonce HEX (the one you sent)\n"
               "  report_data  = SHA-384(\"" API_EVIDENCE_CONTEXT "\" || 0x00 || nonce), as in the answer\n"
               "  quote        TPM: signed by the AK whose DER SubjectPublicKeyInfo has SHA-256 --ak-sha256,\n"
               "               qualifying data = report_data's first 32 bytes, PCRs 0-23 of sha256;\n"
               "               TDX: signatures and PCK chain to a root in --root, valid at TIME,\n"
               "               REPORTDATA = report_data || 16 zero bytes, not a debug TD\n"
               "  log          the event log replays to the quoted registers (TDX: RTMR0-3)\n"
               "  app events   every `app` event comes after a boot-done\n\n"
               "  --nonce HEX       the nonce sent, 1 to %u bytes as hex digits\n"
               "  --ak-sha256 HEX   the trusted TPM attestation key (64 hex digits)\n"
               "  --root PEM        trusted TDX root certificate(s), e.g. Intel's SGX Root CA\n"
               "  --at TIME         TDX: check certificate validity at TIME, RFC 3339 in UTC; default now\n\n"
               "For TDX the TCB status from Intel's collateral is NOT evaluated.\n\n"
               "Exit codes: 0 every check holds, 1 a check failed, 2 usage, 3 unreadable or malformed\n"
               "answer, root or evidence, 4 out of memory. Input limit: %u bytes.\n",
               API_NONCE_MAX, ANSWER_MAX);
        return EXIT_OK;
}

static int parse_opts(int argc, char **argv, struct opts *o) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },           { "nonce", required_argument, NULL, 'n' },
                { "ak-sha256", required_argument, NULL, 'k' }, { "root", required_argument, NULL, 'r' },
                { "at", required_argument, NULL, 'a' },       {},
        };
        bool at = false;
        int c, n;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case 'n':
                        n = api_nonce_parse(optarg, strlen(optarg), o->nonce);
                        if (n < 0)
                                return usage_error("evidence verify", "--nonce: expected 1 to %u bytes as hex digits",
                                                   API_NONCE_MAX);
                        o->nonce_len = (size_t) n;
                        break;
                case 'k':
                        if (strlen(optarg) != 64 || unhex(optarg, 64, o->ak, sizeof(o->ak)) != 32)
                                return usage_error("evidence verify", "--ak-sha256: expected 64 hex digits");
                        o->has_ak = true;
                        break;
                case 'r':
                        o->root = optarg;
                        break;
                case 'a':
                        if (parse_utc_time(optarg, &o->at) < 0)
                                return usage_error("evidence verify", "--at: expected RFC 3339 UTC time like "
                                                   "2027-01-01T00:00:00Z");
                        at = true;
                        break;
                default:
                        return usage_error("evidence verify", "unknown option");
                }
        if (argc - optind != 1)
                return usage_error("evidence verify", "expected one FILE");
        if (!o->nonce_len)
                return usage_error("evidence verify", "--nonce HEX is required: the nonce you sent");
        if (o->has_ak == !!o->root)
                return usage_error("evidence verify", "give --ak-sha256 HEX (TPM) or --root PEM (TDX)");
        if (at && !o->root)
                return usage_error("evidence verify", "--at goes with --root");
        o->path = argv[optind];
        return -1; /* go on */
}

/* The answer: exactly {"tee","nonce","report_data","evidence"}. */
static int load_answer(const char *path, json_t **ret) {
        _cleanup_free_ char *e = escape_untrusted(path, strlen(path), 256);
        _cleanup_free_ uint8_t *p = NULL;
        json_error_t je;
        const char *key;
        json_t *o, *v;
        size_t n;
        int r;

        r = read_file_limited(path, ANSWER_MAX, &p, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %s", e ?: "?",
                                       r == -EFBIG ? "larger than the limit of 4 MiB" : strerror(-r)),
                       exit_code_from_errno(r);
        o = json_loadb((const char *) p, n, JSON_REJECT_DUPLICATES, &je);
        if (!o)
                return log_error("%s is not valid JSON: %s (line %d).", e ?: "?", je.text, je.line), EXIT_INPUT;
        *ret = o;
        if (!json_is_object(o))
                return log_error("%s is not a JSON object.", e ?: "?"), EXIT_INPUT;
        json_object_foreach(o, key, v)
                if (strcmp(key, "tee") != 0 && strcmp(key, "nonce") != 0 && strcmp(key, "report_data") != 0 &&
                    strcmp(key, "evidence") != 0) {
                        _cleanup_free_ char *k = escape_untrusted(key, strlen(key), 64);
                        return log_error("%s: unknown member \"%s\".", e ?: "?", k ?: "?"), EXIT_INPUT;
                }
        if (!json_is_string(json_object_get(o, "tee")) || !json_is_string(json_object_get(o, "nonce")) ||
            !json_is_string(json_object_get(o, "report_data")) || !json_is_object(json_object_get(o, "evidence")))
                return log_error("%s: expected \"tee\", \"nonce\" and \"report_data\" strings and an \"evidence\" "
                                 "object (GET /v1/evidence's answer).", e ?: "?"),
                       EXIT_INPUT;
        return EXIT_OK;
}

/* The nonce and report_data of the answer against ours. */
static int check_binding(const json_t *answer, const struct opts *o, uint8_t rd[static API_REPORT_DATA_SIZE],
                         bool *ok) {
        const char *nonce = json_string_value(json_object_get(answer, "nonce"));
        const char *got = json_string_value(json_object_get(answer, "report_data"));
        char want_nonce[2 * API_NONCE_MAX + 1], want[2 * API_REPORT_DATA_SIZE + 1];
        int r;

        hex_encode(o->nonce, o->nonce_len, want_nonce);
        r = api_report_data(o->nonce, o->nonce_len, rd);
        if (r < 0)
                return log_error_errno(r, "Cannot compute report_data: %m"), EXIT_TRANSIENT;
        hex_encode(rd, API_REPORT_DATA_SIZE, want);
        if (strcasecmp(nonce, want_nonce) == 0)
                printf("%-12s ok (%s)\n", "nonce", want_nonce);
        else {
                _cleanup_free_ char *e = escape_untrusted(nonce, strlen(nonce), SHOW_MAX);
                printf("%-12s FAILED: the answer is for nonce %s, not %s\n", "nonce", e ?: "?", want_nonce);
                *ok = false;
        }
        if (strcasecmp(got, want) == 0)
                printf("%-12s ok (%s)\n", "report_data", want);
        else {
                _cleanup_free_ char *e = escape_untrusted(got, strlen(got), SHOW_MAX);
                printf("%-12s FAILED: the answer says %s, the nonce gives %s\n", "report_data", e ?: "?", want);
                *ok = false;
        }
        return EXIT_OK;
}

static void x509_stack_freep(STACK_OF(X509) **s) {
        sk_X509_pop_free(*s, X509_free);
}

static int load_roots(const char *path, STACK_OF(X509) **ret) {
        _cleanup_free_ char *e = escape_untrusted(path, strlen(path), 256);
        _cleanup_free_ uint8_t *pem = NULL;
        STACK_OF(X509) *s = NULL;
        BIO *bio = NULL;
        X509 *x;
        size_t n;
        int r;

        r = read_file_limited(path, TDX_ROOTS_PEM_MAX, &pem, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot read root %s: %m", e ?: "?"), exit_code_from_errno(r);
        s = sk_X509_new_null();
        bio = s ? BIO_new_mem_buf(pem, (int) n) : NULL;
        while (bio && sk_X509_num(s) <= ROOTS_MAX && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
                if (sk_X509_push(s, x) <= 0)
                        X509_free(x);
        BIO_free(bio);
        ERR_clear_error();
        if (!s || sk_X509_num(s) == 0 || sk_X509_num(s) > ROOTS_MAX) {
                sk_X509_pop_free(s, X509_free);
                return log_error("%s: expected 1 to %d PEM certificates.", e ?: "?", ROOTS_MAX), EXIT_INPUT;
        }
        *ret = s;
        return EXIT_OK;
}

/* The quote and the log, by the broker's own verifiers. */
static int verify_evidence(const char *tee, const json_t *ev, const uint8_t rd[static API_REPORT_DATA_SIZE],
                           const struct opts *o, struct claims *c, bool *ok) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *roots = NULL;
        errbuf err = {};
        int r;

        if (strcmp(tee, "tpm") == 0 && !o->has_ak)
                return usage_error("evidence verify", "the answer is TPM evidence: give --ak-sha256 HEX");
        if (strcmp(tee, "tdx") == 0 && !o->root)
                return usage_error("evidence verify", "the answer is TDX evidence: give --root PEM");
        if (strcmp(tee, "tpm") == 0)
                r = tpm_evidence_verify(ev, rd, c, &err);
        else if (strcmp(tee, "tdx") == 0) {
                r = load_roots(o->root, &roots);
                if (r != EXIT_OK)
                        return r;
                r = tdx_evidence_verify(ev, rd, roots, o->at, c, &err);
        } else {
                _cleanup_free_ char *e = escape_untrusted(tee, strlen(tee), 32);
                return log_error("Unknown tee \"%s\" (expected tpm or tdx).", e ?: "?"), EXIT_INPUT;
        }
        if (r == -EPERM) {
                printf("%-12s FAILED: %s\n", "quote+log", err.msg);
                *ok = false;
                return EXIT_OK;
        }
        if (r < 0)
                return log_error_errno(r, "The evidence is malformed: %s", err.msg[0] ? err.msg : strerror(-r)),
                       exit_code_from_errno(r);
        printf("%-12s ok (%s)\n", "quote",
               c->tee == KBS_TEE_TDX ? "signatures and PCK chain to the root; " TDX_VERIFY_NOT_EVALUATED
                                     : "signed by the AK over report_data, PCRs 0-23");
        printf("%-12s ok: %zu events replay to %s\n", "log", json_array_size(c->events),
               c->log_mr[0] ? c->log_mr : "-");
        return EXIT_OK;
}

static int check_ak(const struct claims *c, const struct opts *o, bool *ok) {
        char got[65], want[65];

        if (c->tee != KBS_TEE_TPM)
                return EXIT_OK;
        hex_encode(c->ak_sha256, 32, got);
        hex_encode(o->ak, 32, want);
        if (c->has_ak && memcmp(c->ak_sha256, o->ak, 32) == 0)
                printf("%-12s ok (sha256 %s)\n", "ak", got);
        else {
                printf("%-12s FAILED: the quote is signed by AK sha256 %s, not the trusted %s\n", "ak", got, want);
                *ok = false;
        }
        return EXIT_OK;
}

/* Prints the events; an `app` event must follow a boot-done with no boot-flow event in between. */
static int show_events(const struct claims *c, bool *ok) {
        size_t i, apps = 0, misplaced = SIZE_MAX;
        bool after_done = false;
        json_t *ev;

        printf("events:\n");
        json_array_foreach(c->events, i, ev) {
                const char *dom = json_string_value(json_object_get(ev, "domain")) ?: "";
                const char *op = json_string_value(json_object_get(ev, "operation")) ?: "";
                json_t *content = json_object_get(ev, "content");
                _cleanup_free_ char *text = NULL, *e = NULL;
                size_t len = 0;
                if (json_is_string(content))
                        text = strdup(json_string_value(content)), len = text ? strlen(text) : 0;
                else if (jcs_serialize(content, &text, &len) < 0)
                        text = NULL;
                e = text ? escape_untrusted(text, len, SHOW_MAX) : NULL;
                printf("  %4zu  %-12s %s\n", i, op, e ?: "?");
                if (strcmp(dom, EVENT_DOMAIN) != 0)
                        continue;
                if (strcmp(op, API_APP_OPERATION) == 0) {
                        apps++;
                        if (!after_done && misplaced == SIZE_MAX)
                                misplaced = i;
                } else
                        after_done = strcmp(op, "boot-done") == 0;
        }
        if (misplaced != SIZE_MAX) {
                printf("%-12s FAILED: event %zu is an app event before boot-done\n", "app events", misplaced);
                *ok = false;
        } else
                printf("%-12s ok: %zu, all after boot-done\n", "app events", apps);
        return EXIT_OK;
}

static int cmd_verify(int argc, char **argv) {
        _cleanup_(claims_done) struct claims c = {};
        uint8_t rd[API_REPORT_DATA_SIZE];
        struct opts o = {};
        json_t *answer = NULL;
        const char *tee;
        bool ok = true;
        int r;

        r = parse_opts(argc, argv, &o);
        if (r >= 0)
                return r;
        r = load_answer(o.path, &answer);
        tee = r == EXIT_OK ? json_string_value(json_object_get(answer, "tee")) : NULL;
        if (r == EXIT_OK)
                printf("%-12s %s\n", "tee", strcmp(tee, "tpm") == 0 || strcmp(tee, "tdx") == 0 ? tee : "?");
        if (r == EXIT_OK)
                r = check_binding(answer, &o, rd, &ok);
        if (r == EXIT_OK)
                r = verify_evidence(tee, json_object_get(answer, "evidence"), rd, &o, &c, &ok);
        if (r == EXIT_OK && c.events) {
                r = check_ak(&c, &o, &ok);
                if (r == EXIT_OK)
                        r = show_events(&c, &ok);
        }
        json_decref(answer);
        if (r != EXIT_OK)
                return r;
        printf("verdict: %s\n", ok ? "the evidence verifies: the quote covers this nonce and the log explains it"
                                   : "the evidence does NOT verify");
        return ok ? EXIT_OK : EXIT_MISMATCH;
}

int cmd_evidence(int argc, char **argv) {
        static const struct verb verbs[] = { { "verify", cmd_verify } };

        return run_verb("evidence", verbs, ELEMENTSOF(verbs), "'verify'", help, argc, argv);
}
