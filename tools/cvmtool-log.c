/* SPDX-License-Identifier: MIT */
/* cvmtool log show|replay|verify: the canonical measurement log (DESIGN §3, docs/measurement-log.md). */
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "cel.h"
#include "cvmtool.h"
#include "log.h"
#include "mr-tdx.h"

#define SHOW_CONTENT_MAX 60
#define SHOW_DIGEST_HEX 16

static int help(void) {
        printf("Usage: cvmtool log show [--json] FILE\n"
               "       cvmtool log replay FILE\n"
               "       cvmtool log verify FILE (--tcti TCTI [--pcr N] | --tdx | --pcr N=[ALG:]HEX ... | --mr NAME=[ALG:]HEX ...)\n"
               "       cvmtool log verify FILE --quote QUOTE [--ccel CCEL] [--root PEM [--at TIME]]\n\n"
               "Reads a canonical measurement log (CEL-JSON records in a JSON text sequence).\n"
               "  show    one line per record: register, operation, content, digest, markers\n"
               "  replay  the value of every register and bank after the whole log\n"
               "  verify  compare the log with register values and explain any difference\n\n"
               "Records are numbered from 0 (their recnum). Exit codes: 0 ok / consistent, 1 the log and\n"
               "the registers disagree, 2 usage, 3 unreadable or malformed log, 4 TPM unreachable.\n"
               "Each command takes --help.\n");
        return EXIT_OK;
}

/* Reads FILE; logs once, with the record number, why it cannot be used. */
static int read_log(const char *path, struct cel_log *log) {
        _cleanup_free_ char *p = escape_untrusted(path, strlen(path), 256);
        errbuf err = {};
        int r;

        r = cel_read_file(path, log, &err);
        if (r < 0) {
                log_error_errno(r, "Cannot use log %s: %s", p ?: "?", err.msg[0] ? err.msg : strerror(-r));
                return exit_code_from_errno(r);
        }
        return EXIT_OK;
}

/* Parses "--help" and the flags common to show and replay; returns -1 to go on. */
static int simple_options(const char *cmd, int argc, char **argv, bool *json, int (*help_fn)(void)) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "hj", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help_fn();
                case 'j':
                        if (!json)
                                return usage_error(cmd, "--json is not an option of this command");
                        *json = true;
                        break;
                default:
                        return usage_error(cmd, "unknown option");
                }
        if (argc - optind != 1)
                return usage_error(cmd, "expected one FILE");
        return -1;
}

static int help_show(void) {
        printf("Usage: cvmtool log show [--json] FILE\n\n"
               "Prints one line per record: record number, register, operation (prefixed with its domain\n"
               "when that is not \"" EVENT_DOMAIN "\"), the content (escaped, cut at %d characters), the\n"
               "first %d hex digits of one digest (sha256 when logged, else the first), and markers:\n"
               "  uncommitted  the writer stopped before the record's commit: its extend may or may not\n"
               "               have happened (see 'cvmtool log verify')\n"
               "  ALTERED      the content does not hash to the logged digests\n\n"
               "  --json  print the records as a JSON array, one object per record as parsed\n",
               SHOW_CONTENT_MAX, SHOW_DIGEST_HEX);
        return EXIT_OK;
}

/* The bank an operator compares with most tools' output: sha256 when present. */
static const struct digest *show_digest(const struct cel_record *rec) {
        for (unsigned i = 0; i < rec->n_digests; i++)
                if (rec->digests[i].alg == HASH_SHA256)
                        return &rec->digests[i];
        return &rec->digests[0];
}

static void show_record(const struct cel_record *rec) {
        const struct digest *d = show_digest(rec);
        size_t skip = strlen(rec->domain) + strlen(rec->operation) + 2;
        _cleanup_free_ char *content = escape_untrusted(rec->text + skip, rec->text_len - skip, SHOW_CONTENT_MAX);
        char hex[2 * HASH_MAX_SIZE + 1], op[2 * EVENT_TOKEN_MAX + 2];

        hex_encode(d->d, hash_alg_size(d->alg), hex);
        hex[SHOW_DIGEST_HEX] = 0;
        if (strcmp(rec->domain, EVENT_DOMAIN) == 0)
                snprintf(op, sizeof(op), "%s", rec->operation);
        else
                snprintf(op, sizeof(op), "%s:%s", rec->domain, rec->operation);
        printf("%-6" PRIu64 " %-8s %-14s %-*s %s:%s%s%s\n", rec->recnum, rec->mr, op, SHOW_CONTENT_MAX,
               content ?: "?", hash_alg_name(d->alg), hex, rec->committed ? "" : " uncommitted",
               rec->content_matches ? "" : " ALTERED");
}

static int show_json(const struct cel_log *log) {
        json_t *a = json_array();
        int r = a ? 0 : -ENOMEM;

        for (size_t i = 0; i < log->n && r >= 0; i++)
                if (json_array_append(a, log->records[i].json) < 0)
                        r = -ENOMEM;
        if (r >= 0 && json_dumpf(a, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII) < 0)
                r = -EIO;
        json_decref(a);
        if (r < 0)
                return log_error_errno(r, "Cannot print the log as JSON: %m"), EXIT_TRANSIENT;
        putchar('\n');
        return EXIT_OK;
}

static int log_show(int argc, char **argv) {
        _cleanup_(cel_log_done) struct cel_log log = {};
        bool json = false;
        int r;

        r = simple_options("log show", argc, argv, &json, help_show);
        if (r >= 0)
                return r;
        r = read_log(argv[optind], &log);
        if (r != EXIT_OK)
                return r;
        if (json)
                return show_json(&log);
        printf("%-6s %-8s %-14s %-*s %s\n", "RECORD", "REGISTER", "OPERATION", SHOW_CONTENT_MAX, "CONTENT",
               "DIGEST");
        for (size_t i = 0; i < log.n; i++)
                show_record(&log.records[i]);
        return EXIT_OK;
}

static int help_replay(void) {
        printf("Usage: cvmtool log replay FILE\n\n"
               "Replays the logged digests from all-zero registers and prints one line per register and\n"
               "bank: \"REGISTER ALG HEX\" (e.g. \"pcr14 sha256 ...\"). A last record that is uncommitted is\n"
               "included, with a note on standard error.\n");
        return EXIT_OK;
}

static int log_replay(int argc, char **argv) {
        _cleanup_(cel_log_done) struct cel_log log = {};
        _cleanup_free_ struct cel_replay *rp = NULL;
        int r;

        r = simple_options("log replay", argc, argv, NULL, help_replay);
        if (r >= 0)
                return r;
        r = read_log(argv[optind], &log);
        if (r != EXIT_OK)
                return r;
        rp = malloc(sizeof(*rp));
        if (!rp)
                return log_error_errno(ENOMEM, "Cannot replay: %m"), EXIT_TRANSIENT;
        r = cel_replay(&log, log.n, rp);
        if (r < 0)
                return log_error_errno(r, "Cannot replay the log: %m"), exit_code_from_errno(r);
        for (unsigned i = 0; i < rp->n; i++) {
                char hex[2 * HASH_MAX_SIZE + 1];
                hex_encode(rp->v[i].value, hash_alg_size(rp->v[i].alg), hex);
                printf("%s %s %s\n", rp->v[i].mr, hash_alg_name(rp->v[i].alg), hex);
        }
        if (log.n > 0 && !log.records[log.n - 1].committed)
                log_warning("Note: record %zu is uncommitted (its extend may not have happened); the values "
                            "include it.", log.n - 1);
        for (size_t i = 0; i < log.n; i++)
                if (!log.records[i].content_matches) {
                        log_warning("Note: record %zu: content does not match its digests (altered after "
                                    "measurement).", i);
                        break;
                }
        return EXIT_OK;
}

static int help_verify(void) {
        printf("Usage: cvmtool log verify FILE --tcti TCTI [--pcr N]\n"
               "       cvmtool log verify FILE --tdx\n"
               "       cvmtool log verify FILE --pcr N=[ALG:]HEX ... | --mr NAME=[ALG:]HEX ...\n"
               "       cvmtool log verify FILE --quote QUOTE [--ccel CCEL] [--root PEM [--at TIME]] [--allow-trailing]\n\n"
               "Compares the log with register values and prints the verdict:\n"
               "  - all banks match (exit 0);\n"
               "  - they match, and the last record is uncommitted: its extend happened, or did not (exit 0,\n"
               "    both are consistent with the writer's intent-extend-commit order);\n"
               "  - records N.. were logged but never extended (the register equals a prefix of the log);\n"
               "  - record N: content does not match its digests (altered after measurement);\n"
               "  - the log replays completely but the register differs: it was extended with something\n"
               "    the log does not record;\n"
               "  - a given bank has no digests in the log, or a register of the log has no value given\n"
               "    (cannot verify); all of these exit 1.\n\n"
               "  --tcti TCTI          read every bank of the log's PCR from a TPM (tpm2-tss TCTI, e.g.\n"
               "                       \"device:/dev/tpmrm0\", \"swtpm:host=127.0.0.1,port=2321\")\n"
               "  --pcr N              with --tcti: the PCR to read (default: the one the log names)\n"
               "  --tdx                read RTMR3 from this TDX guest's kernel (rtmr3:sha384 in\n"
               "                       /sys/class/misc/tdx_guest/measurements, or $CVMINIT_TDX_SYSFS)\n"
               "  --pcr N=[ALG:]HEX    expected value of PCR N (repeat for several banks or PCRs)\n"
               "  --mr NAME=[ALG:]HEX  expected value of a register by its log name (pcr0..pcr23, rtmr0..rtmr3)\n\n"
               "Without ALG, the algorithm follows from the length: 20 bytes sha1, 32 sha256, 48 sha384,\n"
               "64 sha512.\n\n"
               "With a TDX quote (cvmtool quote show/verify):\n"
               "  --quote QUOTE        RTMR3 of the quote is the value of the log's rtmr3 (sha384)\n"
               "  --ccel CCEL          the firmware's event log (/sys/firmware/acpi/tables/data/CCEL):\n"
               "                       its replay must give the quote's RTMR0-2 (else exit 1)\n"
               "  --root PEM           also verify the quote's signatures and PCK chain to this root\n"
               "  --at TIME            validity time for --root (RFC 3339 UTC; default now)\n"
               "  --allow-trailing     accept non-zero bytes after the quote's signature data\n"
               "Without --root the quote's values are compared but its signatures are not checked.\n"
               "The TCB status from Intel's collateral is NOT evaluated (docs/tdx.md).\n");
        return EXIT_OK;
}

struct verify_args {
        struct quote_log_args quote;
        const char *tcti;
        bool tdx;
        const char *pcr; /* --pcr N without a value */
        size_t n;
        struct cel_value expected[CEL_VALUES_MAX];
};

static int parse_hex_value(const char *s, struct cel_value *v) {
        const char *colon = strchr(s, ':'), *hex = colon ? colon + 1 : s;
        size_t len = strlen(hex);
        int a = -EINVAL;

        if (colon) {
                _cleanup_free_ char *name = strndup(s, (size_t) (colon - s));
                if (!name)
                        return -ENOMEM;
                a = hash_alg_from_name(name);
        } else
                for (int k = 0; k < _HASH_ALG_MAX && a < 0; k++)
                        if (k != HASH_SM3_256 && len == 2 * hash_alg_size(k))
                                a = k;
        if (a < 0 || len != 2 * hash_alg_size(a))
                return -EINVAL;
        v->alg = a;
        return unhex(hex, len, v->value, sizeof(v->value)) < 0 ? -EINVAL : 0;
}

/* "N=[ALG:]HEX" (pcr) or "NAME=[ALG:]HEX" (mr). */
static int parse_expected(const char *arg, bool pcr, struct verify_args *a) {
        const char *eq = strchr(arg, '=');
        _cleanup_free_ char *name = NULL;
        struct cel_value *v = &a->expected[a->n];
        unsigned n;

        if (!eq)
                return usage_error("log verify", "expected %s=[ALG:]HEX", pcr ? "N" : "NAME");
        name = strndup(arg, (size_t) (eq - arg));
        if (!name)
                return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
        if (pcr && (safe_atou(name, &n) < 0 || n > 23))
                return usage_error("log verify", "--pcr: N must be 0..23");
        if (pcr)
                snprintf(v->mr, sizeof(v->mr), "pcr%u", n);
        else if (cel_mr_name_valid(name))
                snprintf(v->mr, sizeof(v->mr), "%s", name);
        else
                return usage_error("log verify", "--mr: NAME must be pcr0..pcr23 or rtmr0..rtmr3");
        if (parse_hex_value(eq + 1, v) < 0)
                return usage_error("log verify", "%s: the value must be [ALG:]HEX with 40, 64, 96 or 128 hex "
                                   "digits, as many as ALG's digest has", v->mr);
        for (size_t k = 0; k < a->n; k++)
                if (a->expected[k].alg == v->alg && strcmp(a->expected[k].mr, v->mr) == 0)
                        return usage_error("log verify", "two values for %s %s", v->mr, hash_alg_name(v->alg));
        if (++a->n >= CEL_VALUES_MAX)
                return usage_error("log verify", "too many values");
        return -1;
}

static int verify_options(int argc, char **argv, struct verify_args *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "tcti", required_argument, NULL, 't' },
                { "pcr", required_argument, NULL, 'p' },
                { "mr", required_argument, NULL, 'm' },
                { "quote", required_argument, NULL, 'Q' },
                { "ccel", required_argument, NULL, 'C' },
                { "root", required_argument, NULL, 'R' },
                { "at", required_argument, NULL, 'A' },
                { "allow-trailing", no_argument, NULL, 'T' },
                { "tdx", no_argument, NULL, 'X' },
                {},
        };
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "ht:p:m:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help_verify();
                case 'Q':
                        a->quote.quote = optarg;
                        break;
                case 'C':
                        a->quote.ccel = optarg;
                        break;
                case 'R':
                        a->quote.root = optarg;
                        break;
                case 'A':
                        a->quote.at = optarg;
                        break;
                case 'T':
                        a->quote.allow_trailing = true;
                        break;
                case 't':
                        a->tcti = optarg;
                        break;
                case 'X':
                        a->tdx = true;
                        break;
                case 'p':
                case 'm':
                        if (c == 'p' && !strchr(optarg, '=')) {
                                a->pcr = optarg;
                                break;
                        }
                        r = parse_expected(optarg, c == 'p', a);
                        if (r >= 0)
                                return r;
                        break;
                default:
                        return usage_error("log verify", "unknown option");
                }
        if (argc - optind != 1)
                return usage_error("log verify", "expected one FILE");
        if (a->tdx && (a->quote.quote || a->tcti || a->pcr || a->n > 0))
                return usage_error("log verify", "--tdx reads RTMR3: no --quote, --tcti, --pcr or --mr");
        if (a->tdx)
                return -1;
        if (a->quote.quote && (a->tcti || a->pcr || a->n > 0))
                return usage_error("log verify", "--quote gives the register values: no --tcti, --pcr or --mr");
        if (!a->quote.quote && (a->quote.ccel || a->quote.root || a->quote.at || a->quote.allow_trailing))
                return usage_error("log verify", "--ccel, --root, --at and --allow-trailing go with --quote");
        if (a->quote.at && !a->quote.root)
                return usage_error("log verify", "--at is the validity time for --root");
        if (a->quote.quote)
                return -1;
        if (a->tcti && a->n > 0)
                return usage_error("log verify", "--tcti reads the values from the TPM: give --pcr N without a value");
        if (!a->tcti && a->pcr)
                return usage_error("log verify", "--pcr N needs =HEX, unless --tcti is given");
        if (!a->tcti && a->n == 0)
                return usage_error("log verify", "give the register values (--pcr, --mr) or a TPM (--tcti)");
        return -1;
}

/* The PCR to read: --pcr N, or the one every record names. */
static int tpm_pcr(const struct verify_args *a, const struct cel_log *log, unsigned *ret) {
        if (a->pcr) {
                if (safe_atou(a->pcr, ret) < 0 || *ret > 23)
                        return usage_error("log verify", "--pcr: N must be 0..23");
                return -1;
        }
        for (size_t i = 0; i < log->n; i++)
                if (strcmp(log->records[i].mr, log->records[0].mr) != 0)
                        return usage_error("log verify", "the log names several registers: give --pcr N");
        if (log->n == 0 || strncmp(log->records[0].mr, "pcr", 3) != 0 ||
            safe_atou(log->records[0].mr + 3, ret) < 0)
                return usage_error("log verify", "the log names no PCR: give --pcr N");
        return -1;
}

/* Every bank of the PCR, as the TPM has it now. */
static int values_from_tpm(struct verify_args *a, const struct cel_log *log) {
        _cleanup_(mr_freep) struct mr *mr = NULL;
        _cleanup_free_ char *tcti = escape_untrusted(a->tcti, strlen(a->tcti), 200);
        unsigned pcr;
        int r;

        r = tpm_pcr(a, log, &pcr);
        if (r >= 0)
                return r;
        r = mr_open_tpm(a->tcti, pcr, &mr);
        if (r == -EINVAL || r == -ENOPKG)
                return log_error_errno(r, "Cannot use TCTI \"%s\": %m", tcti ?: "?"), EXIT_USAGE;
        if (r < 0)
                return log_error_errno(r, "Cannot reach the TPM (TCTI \"%s\"): %m", tcti ?: "?"), EXIT_TRANSIENT;
        for (unsigned i = 0; i < mr->n_banks && a->n < CEL_VALUES_MAX; i++) {
                struct cel_value *v = &a->expected[a->n];
                r = mr_read(mr, mr->banks[i], v->value);
                if (r < 0)
                        return log_error_errno(r, "Cannot read %s %s from the TPM: %m", mr->name,
                                               hash_alg_name(mr->banks[i])), EXIT_TRANSIENT;
                v->alg = mr->banks[i];
                snprintf(v->mr, sizeof(v->mr), "%s", mr->name);
                a->n++;
        }
        return -1;
}

/* RTMR3 as the kernel reports it. */
static int values_from_tdx(struct verify_args *a) {
        struct cel_value *v = &a->expected[a->n];
        errbuf err = {};
        int r;

        r = tdx_read_measurement("rtmr3", v->value, &err);
        if (r < 0)
                return log_error_errno(r, "Cannot read RTMR3: %s", err.msg), EXIT_TRANSIENT;
        v->alg = HASH_SHA384;
        snprintf(v->mr, sizeof(v->mr), "rtmr3");
        a->n++;
        return -1;
}

static int log_verify(int argc, char **argv) {
        _cleanup_(cel_log_done) struct cel_log log = {};
        _cleanup_free_ struct verify_args *a = calloc(1, sizeof(*a));
        struct cel_verdict v;
        int r;

        if (!a)
                return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
        r = verify_options(argc, argv, a);
        if (r >= 0)
                return r;
        r = read_log(argv[optind], &log);
        if (r != EXIT_OK)
                return r;
        if (a->quote.quote)
                return log_verify_quote(&log, &a->quote);
        if (a->tdx) {
                r = values_from_tdx(a);
                if (r >= 0)
                        return r;
        }
        if (a->tcti) {
                r = values_from_tpm(a, &log);
                if (r >= 0)
                        return r;
        }
        r = cel_verify(&log, a->expected, a->n, &v);
        if (r < 0)
                return log_error_errno(r, "Cannot verify the log: %m"), exit_code_from_errno(r);
        printf("%s\n", v.message);
        return cel_verdict_ok(&v) ? EXIT_OK : EXIT_MISMATCH;
}

int cmd_log(int argc, char **argv) {
        static const struct {
                const char *name;
                int (*run)(int argc, char **argv);
        } verbs[] = {
                { "show", log_show },
                { "replay", log_replay },
                { "verify", log_verify },
        };

        if (argc < 2)
                return usage_error("log", "expected show, replay or verify");
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
                return help();
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (strcmp(argv[1], verbs[i].name) == 0)
                        return verbs[i].run(argc - 1, argv + 1);
        return usage_error("log", "unknown command (expected show, replay or verify)");
}
