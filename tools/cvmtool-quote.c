/* SPDX-License-Identifier: MIT */
/* cvmtool quote show|verify: TDX quotes v4/v5 (DESIGN §2, §4, §7; docs/tdx.md). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "cvmtool.h"
#include "log.h"
#include "tdx-quote.h"
#include "tooljson.h"

#define FIELDS_MAX 64
#define REPEAT_MAX 1000000U

struct opts {
        const char *path, *root;
        bool json, allow_trailing, at_set, report_data_set;
        time_t at;
        uint8_t report_data[TDX_REPORT_DATA_SIZE];
        unsigned repeat;
};

static int help_show(void) {
        printf("Usage: cvmtool quote show [--json] [--allow-trailing] FILE\n\n"
               "Prints every field of a TDX quote (version 4, or 5 with a TD report 1.0 or 1.5 body),\n"
               "labelled, byte fields in hex: the header, the TD report (MRTD, RTMR0-3, REPORTDATA ...),\n"
               "the signature data (quote signature, attestation key, QE report, its signature, QE\n"
               "authentication data) and the PCK certificate chain (subject, issuer, validity).\n"
               "Nothing is verified: see 'cvmtool quote verify'.\n\n"
               "  --json            print one JSON object instead\n"
               "  --allow-trailing  accept non-zero bytes after the signature data (zero padding is\n"
               "                    always accepted); they are shown as a count, never used\n\n"
               "Exit codes: 0 ok, 2 usage, 3 unreadable or malformed quote (the message names the field\n"
               "and byte offset), 4 out of memory. Input limit: %u bytes.\n",
               TDX_QUOTE_MAX);
        return EXIT_OK;
}

static int help_verify(void) {
        printf("Usage: cvmtool quote verify FILE --root PEM [--at TIME] [--report-data HEX] [--allow-trailing]\n\n"
               "Verifies a TDX quote and prints each check with its result:\n"
               "  quote-signature      ECDSA P-256 signature of header and body by the attestation key\n"
               "  qe-report-binding    QE report_data = SHA-256(attestation key || QE auth data) || zeros\n"
               "  qe-report-signature  the QE report signed by the PCK leaf certificate's key\n"
               "  pck-chain            PCK leaf -> intermediate -> a root in PEM, valid at TIME\n"
               "  report-data          the quote's report_data equals HEX (only with --report-data)\n\n"
               "  --root PEM          trusted root certificate(s), e.g. Intel's SGX Root CA\n"
               "  --at TIME           check certificate validity at TIME, RFC 3339 in UTC\n"
               "                      (2027-01-01T00:00:00Z); default now\n"
               "  --report-data HEX   expected report_data, 128 hex digits (64 bytes)\n"
               "  --allow-trailing    as for 'show'\n\n"
               "The TCB status from Intel's collateral (TCB info, QE identity, PCK CRLs) is NOT evaluated:\n"
               "a quote that verifies here may come from a platform Intel has since declared out of date.\n\n"
               "Exit codes: 0 every check holds, 1 a check failed, 2 usage, 3 unreadable or malformed\n"
               "quote or root, 4 out of memory.\n");
        return EXIT_OK;
}

int parse_utc_time(const char *s, time_t *ret) {
        struct tm tm = {};
        char again[32];
        const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        time_t t;

        if (!end || *end)
                return -EINVAL;
        t = timegm(&tm);
        if (t == (time_t) -1 || strftime(again, sizeof(again), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm)) == 0 ||
            strcmp(again, s) != 0)
                return -EINVAL;
        *ret = t;
        return 0;
}

static int parse_opts(int argc, char **argv, const char *cmd, struct opts *o) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                { "allow-trailing", no_argument, NULL, 'T' },
                { "root", required_argument, NULL, 'r' },
                { "at", required_argument, NULL, 'a' },
                { "report-data", required_argument, NULL, 'd' },
                { "repeat", required_argument, NULL, 'R' }, /* hidden: for tests/bench/bench-quote.sh */
                {},
        };
        bool verify = strcmp(cmd, "quote verify") == 0;
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return verify ? help_verify() : help_show();
                case 'j':
                        if (verify)
                                return usage_error(cmd, "--json is only for 'show'");
                        o->json = true;
                        break;
                case 'T':
                        o->allow_trailing = true;
                        break;
                case 'r':
                case 'a':
                case 'd':
                case 'R':
                        if (!verify)
                                return usage_error(cmd, "--%s is only for 'verify'", c == 'r' ? "root" : c == 'a' ? "at" :
                                                   c == 'd' ? "report-data" : "repeat");
                        if (c == 'r')
                                o->root = optarg;
                        else if (c == 'a' && parse_utc_time(optarg, &o->at) < 0)
                                return usage_error(cmd, "--at: expected RFC 3339 UTC time like 2027-01-01T00:00:00Z");
                        else if (c == 'd' && unhex(optarg, strlen(optarg), o->report_data, sizeof(o->report_data)) !=
                                                     TDX_REPORT_DATA_SIZE)
                                return usage_error(cmd, "--report-data: expected 128 hex digits (64 bytes)");
                        else if (c == 'R' && (safe_atou(optarg, &o->repeat) < 0 || o->repeat == 0 ||
                                              o->repeat > REPEAT_MAX))
                                return usage_error(cmd, "--repeat: expected 1..%u", REPEAT_MAX);
                        o->at_set |= c == 'a';
                        o->report_data_set |= c == 'd';
                        break;
                default:
                        return usage_error(cmd, "unknown option");
                }
        if (argc - optind != 1)
                return usage_error(cmd, "expected one FILE");
        if (verify && !o->root)
                return usage_error(cmd, "--root PEM is required (e.g. Intel's SGX Root CA)");
        o->path = argv[optind];
        return -1; /* go on */
}

static int read_input(const char *path, size_t max, const char *what, uint8_t **ret, size_t *ret_len) {
        _cleanup_free_ char *p = escape_untrusted(path, strlen(path), 256);
        int r = read_file_limited(path, max, ret, ret_len);

        if (r == -EFBIG)
                return log_error_errno(r, "%s %s is larger than the limit of %zu bytes.", what, p ?: "?", max), EXIT_INPUT;
        if (r < 0)
                return log_error_errno(r, "Cannot read %s %s: %m", what, p ?: "?"), exit_code_from_errno(r);
        return EXIT_OK;
}

static int parse_quote(const char *path, const uint8_t *p, size_t n, bool allow_trailing, struct tdx_quote *q) {
        _cleanup_free_ char *e = escape_untrusted(path, strlen(path), 256);
        errbuf err = {};
        int r = tdx_quote_parse(p, n, allow_trailing ? TDX_QUOTE_ALLOW_TRAILING : 0, q, &err);

        if (r == -ENOMEM)
                return log_error_errno(r, "Cannot parse %s: %m", e ?: "?"), EXIT_TRANSIENT;
        if (r < 0)
                return log_error_errno(r, "%s is not a usable TDX quote: %s", e ?: "?", err.msg), EXIT_INPUT;
        return EXIT_OK;
}

enum kind { HEX, DEC, HEX32 };

struct field {
        const char *name;
        enum kind kind;
        const uint8_t *p;
        size_t n;
        uint64_t v;
        const char *note; /* text mode only */
};

#define F_HEX(name, ptr, size) ((struct field) { name, HEX, (const uint8_t *) (ptr), size, 0, NULL })
#define F_DEC(name, val) ((struct field) { name, DEC, NULL, 0, val, NULL })

static size_t header_fields(const struct tdx_quote *q, struct field *f) {
        const struct tdx_quote_header *h = &q->header;
        size_t k = 0;

        f[k++] = F_DEC("header.version", h->version);
        f[k++] = (struct field) { "header.att_key_type", DEC, NULL, 0, h->att_key_type, "ECDSA-256-with-P-256" };
        f[k++] = (struct field) { "header.tee_type", HEX32, NULL, 0, h->tee_type, "TDX" };
        f[k++] = F_DEC("header.qe_svn", h->qe_svn);
        f[k++] = F_DEC("header.pce_svn", h->pce_svn);
        f[k++] = F_HEX("header.qe_vendor_id", h->qe_vendor_id, sizeof(h->qe_vendor_id));
        f[k++] = F_HEX("header.user_data", h->user_data, sizeof(h->user_data));
        return k;
}

static size_t body_fields(const struct tdx_quote *q, struct field *f) {
        const struct tdx_td_report *b = &q->body;
        static const char *const rtmr[] = { "body.rtmr0", "body.rtmr1", "body.rtmr2", "body.rtmr3" };
        size_t k = 0;

        f[k++] = (struct field) { "body.type", DEC, NULL, 0, b->body_type,
                                  b->body_type == TDX_BODY_TD_REPORT15 ? "TD report 1.5" : "TD report 1.0" };
        f[k++] = F_DEC("body.size", b->body_size);
        f[k++] = F_HEX("body.tee_tcb_svn", b->tee_tcb_svn, sizeof(b->tee_tcb_svn));
        f[k++] = F_HEX("body.mrseam", b->mrseam, TDX_MR_SIZE);
        f[k++] = F_HEX("body.mrsignerseam", b->mrsignerseam, TDX_MR_SIZE);
        f[k++] = F_HEX("body.seam_attributes", b->seam_attributes, 8);
        f[k++] = F_HEX("body.td_attributes", b->td_attributes, 8);
        f[k++] = F_HEX("body.xfam", b->xfam, 8);
        f[k++] = F_HEX("body.mrtd", b->mrtd, TDX_MR_SIZE);
        f[k++] = F_HEX("body.mrconfigid", b->mrconfigid, TDX_MR_SIZE);
        f[k++] = F_HEX("body.mrowner", b->mrowner, TDX_MR_SIZE);
        f[k++] = F_HEX("body.mrownerconfig", b->mrownerconfig, TDX_MR_SIZE);
        for (unsigned i = 0; i < 4; i++)
                f[k++] = F_HEX(rtmr[i], b->rtmr[i], TDX_MR_SIZE);
        f[k++] = F_HEX("body.report_data", b->report_data, TDX_REPORT_DATA_SIZE);
        if (b->body_type == TDX_BODY_TD_REPORT15) {
                f[k++] = F_HEX("body.tee_tcb_svn2", b->tee_tcb_svn2, sizeof(b->tee_tcb_svn2));
                f[k++] = F_HEX("body.mrservicetd", b->mrservicetd, TDX_MR_SIZE);
        }
        return k;
}

static size_t signature_fields(const struct tdx_quote *q, struct field *f) {
        const struct tdx_qe_report *e = &q->qe_report;
        size_t k = 0;

        f[k++] = F_DEC("signature_data.size", q->sig_data_len);
        f[k++] = F_HEX("signature_data.signature", q->signature, TDX_ECDSA_SIG_SIZE);
        f[k++] = F_HEX("signature_data.attestation_key", q->att_key, TDX_ECDSA_KEY_SIZE);
        f[k++] = (struct field) { "signature_data.cert_data_type", DEC, NULL, 0, TDX_CERT_QE_REPORT,
                                  "QE report certification data" };
        f[k++] = F_DEC("signature_data.cert_data_size", q->cert_data_len);
        f[k++] = F_HEX("qe_report.cpu_svn", e->cpu_svn, sizeof(e->cpu_svn));
        f[k++] = (struct field) { "qe_report.misc_select", HEX32, NULL, 0, e->misc_select, NULL };
        f[k++] = F_HEX("qe_report.attributes", e->attributes, sizeof(e->attributes));
        f[k++] = F_HEX("qe_report.mrenclave", e->mrenclave, sizeof(e->mrenclave));
        f[k++] = F_HEX("qe_report.mrsigner", e->mrsigner, sizeof(e->mrsigner));
        f[k++] = F_DEC("qe_report.isv_prod_id", e->isv_prod_id);
        f[k++] = F_DEC("qe_report.isv_svn", e->isv_svn);
        f[k++] = F_HEX("qe_report.report_data", e->report_data, sizeof(e->report_data));
        f[k++] = F_HEX("qe_report.signature", q->qe_report_sig, TDX_ECDSA_SIG_SIZE);
        f[k++] = F_HEX("qe_report.auth_data", q->qe_auth, q->qe_auth_len);
        f[k++] = (struct field) { "pck_chain.type", DEC, NULL, 0, TDX_CERT_PCK_CHAIN, "PCK certificate chain, PEM" };
        f[k++] = F_DEC("pck_chain.size", q->pck_chain_len);
        return k;
}

static size_t all_fields(const struct tdx_quote *q, struct field f[static FIELDS_MAX]) {
        size_t k = header_fields(q, f);
        k += body_fields(q, f + k);
        return k + signature_fields(q, f + k);
}

static char *field_value(const struct field *f) {
        char *s = NULL;

        if (f->kind == HEX)
                return hexmem(f->p, f->n);
        if (asprintf(&s, f->kind == DEC ? "%" PRIu64 : "0x%08" PRIx64, f->v) < 0)
                return NULL;
        return s;
}

/* A certificate's subject, issuer and validity, escaped for printing. */
struct cert_info {
        char *subject, *issuer;
        char not_before[32], not_after[32];
};

static void cert_info_done(struct cert_info *c) {
        free(c->subject);
        free(c->issuer);
}

static char *name_text(const X509_NAME *n) {
        BIO *b = BIO_new(BIO_s_mem());
        char *p = NULL, *s = NULL;
        long len;

        if (b && X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0 && (len = BIO_get_mem_data(b, &p)) >= 0)
                s = escape_untrusted(p, (size_t) len, 512);
        BIO_free(b);
        return s;
}

static void asn1_time_text(const ASN1_TIME *t, char *out, size_t size) {
        struct tm tm;

        if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(out, size, "?");
}

static int cert_info(X509 *x, struct cert_info *c) {
        *c = (struct cert_info) { .subject = name_text(X509_get_subject_name(x)),
                                  .issuer = name_text(X509_get_issuer_name(x)) };
        asn1_time_text(X509_get0_notBefore(x), c->not_before, sizeof(c->not_before));
        asn1_time_text(X509_get0_notAfter(x), c->not_after, sizeof(c->not_after));
        if (!c->subject || !c->issuer)
                return cert_info_done(c), -ENOMEM;
        return 0;
}

static void x509_stack_freep(STACK_OF(X509) **s) {
        sk_X509_pop_free(*s, X509_free);
}

static int chain_certs(const struct tdx_quote *q, STACK_OF(X509) **ret) {
        errbuf err = {};
        int r = tdx_pck_chain_certs(q, ret, &err);

        if (r < 0)
                return log_error_errno(r, "The PCK certificate chain (offset %zu) is unusable: %s", q->off.pck_chain,
                                       err.msg),
                       exit_code_from_errno(r);
        return EXIT_OK;
}

static int show_text(const struct tdx_quote *q, size_t n, STACK_OF(X509) *certs) {
        struct field f[FIELDS_MAX];
        size_t k = all_fields(q, f);

        printf("%-32s %zu bytes; signed region 0-%zu; signature data %zu-%zu\n", "quote", n, q->signed_len - 1,
               q->off.signature, q->off.end - 1);
        for (size_t i = 0; i < k; i++) {
                _cleanup_free_ char *v = field_value(&f[i]);
                if (!v)
                        return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
                printf("%-32s %s%s%s%s\n", f[i].name, v, f[i].note ? " (" : "", f[i].note ?: "", f[i].note ? ")" : "");
        }
        for (int i = 0; i < sk_X509_num(certs); i++) {
                char label[3][32];
                struct cert_info c;
                if (cert_info(sk_X509_value(certs, i), &c) < 0)
                        return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
                snprintf(label[0], sizeof(label[0]), "pck_chain[%d].subject", i);
                snprintf(label[1], sizeof(label[1]), "pck_chain[%d].issuer", i);
                snprintf(label[2], sizeof(label[2]), "pck_chain[%d].validity", i);
                printf("%-32s %s\n%-32s %s\n%-32s %s to %s\n", label[0], c.subject, label[1], c.issuer, label[2],
                       c.not_before, c.not_after);
                cert_info_done(&c);
        }
        printf("%-32s %zu bytes%s\n", "trailing", q->trailing,
               q->trailing == 0 ? "" : q->trailing_zero ? " (zero padding)" : " (NOT zero; not covered by any signature)");
        return EXIT_OK;
}

/* Adds value under "group.name" as nested objects. */
static int json_set_path(json_t *root, const char *path, json_t *value) {
        const char *dot = strchr(path, '.');
        _cleanup_free_ char *group = NULL;
        json_t *sub;

        if (!value)
                return -ENOMEM;
        if (!dot)
                return json_object_set_new(root, path, value) < 0 ? -ENOMEM : 0;
        group = strndup(path, (size_t) (dot - path));
        sub = group ? json_object_get(root, group) : NULL;
        if (group && !sub && json_object_set_new(root, group, sub = json_object()) < 0)
                sub = NULL;
        if (!sub)
                return json_decref(value), -ENOMEM;
        return json_object_set_new(sub, dot + 1, value) < 0 ? -ENOMEM : 0;
}

static json_t *json_chain(STACK_OF(X509) *certs) {
        json_t *a = json_array();

        for (int i = 0; a && i < sk_X509_num(certs); i++) {
                struct cert_info c;
                if (cert_info(sk_X509_value(certs, i), &c) < 0)
                        return json_decref(a), NULL;
                if (json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}", "subject", c.subject, "issuer", c.issuer,
                                                       "not_before", c.not_before, "not_after", c.not_after)) < 0)
                        a = (json_decref(a), NULL);
                cert_info_done(&c);
        }
        return a;
}

static int show_json(const struct tdx_quote *q, size_t n, STACK_OF(X509) *certs) {
        json_t *root = json_pack("{s:I, s:I}", "size", (json_int_t) n, "signed_size", (json_int_t) q->signed_len);
        struct field f[FIELDS_MAX];
        size_t k = all_fields(q, f);
        int r = root ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < k; i++) {
                _cleanup_free_ char *v = field_value(&f[i]);
                r = json_set_path(root, f[i].name,
                                  !v ? NULL : f[i].kind == HEX ? json_string(v) : json_integer((json_int_t) f[i].v));
        }
        if (r >= 0)
                r = json_set_path(root, "pck_chain.certificates", json_chain(certs));
        if (r >= 0)
                r = json_set_path(root, "trailing", json_pack("{s:I, s:b}", "size", (json_int_t) q->trailing, "zero",
                                                              q->trailing_zero));
        if (r < 0)
                json_decref(TAKE_PTR(root));
        return tool_json_print(root);
}

static int cmd_show(int argc, char **argv) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_free_ uint8_t *p = NULL;
        struct opts o = {};
        struct tdx_quote q;
        size_t n;
        int r;

        r = parse_opts(argc, argv, "quote show", &o);
        if (r >= 0)
                return r;
        r = read_input(o.path, TDX_QUOTE_MAX, "quote", &p, &n);
        if (r == EXIT_OK)
                r = parse_quote(o.path, p, n, o.allow_trailing, &q);
        if (r == EXIT_OK)
                r = chain_certs(&q, &certs);
        if (r != EXIT_OK)
                return r;
        return o.json ? show_json(&q, n, certs) : show_text(&q, n, certs);
}

static void x509_store_freep(X509_STORE **s) {
        X509_STORE_free(*s);
}

/* One whole verification as a single invocation does it: parse the quote and the roots, verify. */
static int verify_once(const struct opts *o, const uint8_t *p, size_t n, const uint8_t *pem, size_t pem_len,
                       struct tdx_verify_result *res) {
        _cleanup_(x509_store_freep) X509_STORE *roots = NULL;
        _cleanup_free_ char *e = escape_untrusted(o->root, strlen(o->root), 256);
        struct tdx_verify_opts vo = { .at = o->at, .report_data = o->report_data_set ? o->report_data : NULL };
        struct tdx_quote q;
        errbuf err = {};
        int r;

        r = parse_quote(o->path, p, n, o->allow_trailing, &q);
        if (r != EXIT_OK)
                return r;
        r = tdx_roots_from_pem(pem, pem_len, &roots, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot use root %s: %s", e ?: "?", err.msg), exit_code_from_errno(r);
        vo.roots = roots;
        r = tdx_quote_verify(&q, &vo, res);
        if (r < 0)
                return log_error_errno(r, "Cannot verify the quote: %m"), exit_code_from_errno(r);
        return EXIT_OK;
}

static int print_result(const struct tdx_verify_result *res) {
        static const char *const state[] = { [TDX_CHECK_SKIPPED] = "skipped", [TDX_CHECK_OK] = "ok",
                                             [TDX_CHECK_FAILED] = "FAILED" };
        unsigned failed = 0;

        for (unsigned i = 0; i < _TDX_CHECK_MAX; i++) {
                const struct tdx_check_result *c = &res->checks[i];
                printf("%-20s %-8s %s\n", tdx_check_name(i), state[c->state], c->reason);
                failed += c->state == TDX_CHECK_FAILED;
        }
        if (res->ok)
                printf("verdict: the quote verifies. Note: " TDX_VERIFY_NOT_EVALUATED ".\n");
        else
                printf("verdict: the quote does NOT verify (%u check%s failed). Note: " TDX_VERIFY_NOT_EVALUATED ".\n",
                       failed, failed == 1 ? "" : "s");
        return res->ok ? EXIT_OK : EXIT_MISMATCH;
}

static int cmd_verify(int argc, char **argv) {
        _cleanup_free_ uint8_t *p = NULL, *pem = NULL;
        struct tdx_verify_result res;
        struct opts o = {};
        struct timespec t0, t1;
        size_t n, pem_len;
        int r;

        r = parse_opts(argc, argv, "quote verify", &o);
        if (r >= 0)
                return r;
        r = read_input(o.path, TDX_QUOTE_MAX, "quote", &p, &n);
        if (r == EXIT_OK)
                r = read_input(o.root, TDX_ROOTS_PEM_MAX, "root", &pem, &pem_len);
        if (r != EXIT_OK)
                return r;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (unsigned i = 0; i < (o.repeat ?: 1); i++) {
                r = verify_once(&o, p, n, pem, pem_len, &res);
                if (r != EXIT_OK)
                        return r;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (o.repeat) {
                double us = ((double) (t1.tv_sec - t0.tv_sec) * 1e9 + (double) (t1.tv_nsec - t0.tv_nsec)) / 1e3;
                fprintf(stderr, "repeat: %u verifications in %.1f ms, %.1f us each\n", o.repeat, us / 1e3,
                        us / o.repeat);
        }
        return print_result(&res);
}

static int help(void) {
        printf("Usage: cvmtool quote show [--json] [--allow-trailing] FILE\n"
               "       cvmtool quote verify FILE --root PEM [--at TIME] [--report-data HEX]\n\n"
               "Show or verify a TDX quote (version 4 or 5). 'cvmtool quote show --help' and\n"
               "'cvmtool quote verify --help' for details.\n");
        return EXIT_OK;
}

int cmd_quote(int argc, char **argv) {
        static const struct verb verbs[] = { { "show", cmd_show }, { "verify", cmd_verify } };

        return run_verb("quote", verbs, ELEMENTSOF(verbs), "'show' or 'verify'", help, argc, argv);
}
