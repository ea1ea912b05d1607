/* SPDX-License-Identifier: MIT */
/* cvmtool extend: measure one event into a TPM PCR and append it to a CEL-JSON log (DESIGN §2, §3)
 * — what cvminit does for each measurement, by hand, for operators and tests. */
#include <getopt.h>
#include <jansson.h>
#include <string.h>

#include "cel.h"
#include "cvmtool.h"
#include "event.h"
#include "log.h"
#include "mr.h"
#include "tooljson.h"

#define TCTI_MAX 1023U
#define PCR_MAX 23U

static int help(void) {
        printf("Usage: cvmtool extend --tcti TCTI [--pcr N] --log FILE [--domain DOMAIN] OPERATION CONTENT\n\n"
               "Measures the event DOMAIN OPERATION JCS(CONTENT) into a TPM PCR: appends a record to\n"
               "the log FILE (CEL-JSON, created if missing) and extends the PCR on every active bank\n"
               "with the tagged event's digest, as cvminit does. Prints the record number and the\n"
               "digests extended.\n\n"
               "  --tcti TCTI      tpm2-tss TCTI, e.g. \"%s\" or \"swtpm:host=127.0.0.1,port=2321\"\n"
               "  --pcr N          PCR index 0-23 (default %u)\n"
               "  --log FILE       the measurement log to append to (it must be for the same PCR)\n"
               "  --domain DOMAIN  event domain (default \"" EVENT_DOMAIN "\")\n\n"
               "CONTENT is a JSON object (at most %u bytes), '-' reads it from standard input.\n\n"
               "Exit codes: 0 measured; 2 usage error (including an unusable --tcti); 3 bad content,\n"
               "a log that cannot be appended to, or a TPM that cannot be measured into safely (a PCR\n"
               "bank whose hash is unsupported, a PCR that needs another locality); 4 the TPM could\n"
               "not be reached or failed (retry may help).\n",
               MR_TPM_DEFAULT_TCTI, MR_TPM_DEFAULT_PCR, TOOL_JSON_MAX);
        return EXIT_OK;
}

static int open_tpm(const char *tcti, unsigned pcr, struct mr **ret) {
        int r = mr_open_tpm(tcti, pcr, ret);

        switch (-r) {
        case 0:
                return EXIT_OK;
        case ENOPKG:
                log_error("TCTI '%s': no such TCTI library is installed (tpm2-tss loads "
                          "libtss2-tcti-NAME.so.0 for NAME:...).", tcti);
                return EXIT_USAGE;
        case EINVAL:
                log_error("TCTI '%s' is not valid (e.g. device:/dev/tpmrm0, "
                          "swtpm:host=127.0.0.1,port=2321).", tcti);
                return EXIT_USAGE;
        case EOPNOTSUPP:
                log_error("The TPM at '%s' has an active PCR bank whose hash algorithm is not "
                          "supported; refusing to extend PCR %u and leave that bank unextended.", tcti, pcr);
                return EXIT_INPUT;
        case ENXIO:
                log_error("The TPM at '%s' has PCR %u in no active bank.", tcti, pcr);
                return EXIT_INPUT;
        case ECONNREFUSED:
                log_error_errno(r, "Cannot reach the TPM through TCTI '%s': %m", tcti);
                return EXIT_TRANSIENT;
        default:
                /* Not started, in failure mode, busy, out of memory: the environment, not the input. */
                log_error_errno(r, "Failed to open the TPM through TCTI '%s': %m", tcti);
                return EXIT_TRANSIENT;
        }
}

static int open_log(const char *path, struct mr *mr, struct cel_writer **ret) {
        errbuf err = {};
        int r = cel_writer_open_detail(path, mr, ret, &err);

        if (r >= 0)
                return EXIT_OK;
        if (r == -EBADMSG || r == -EXDEV || r == -EFBIG) {
                log_error_errno(r, "Cannot append to log %s%s%s", path, err.msg[0] ? ": " : ".", err.msg);
                return EXIT_INPUT;
        }
        log_error_errno(r, "Cannot open log %s: %m%s%s", path, err.msg[0] ? ": " : "", err.msg);
        return exit_code_from_errno(r);
}

/* The failed extend or write is the environment's fault unless the TPM refused the request. */
static int append_exit_code(int r) {
        switch (-r) {
        case EPERM:
        case EINVAL:
        case EOPNOTSUPP:
        case EBADMSG:
        case E2BIG:
        case EFBIG:
                return EXIT_INPUT;
        default:
                return EXIT_TRANSIENT;
        }
}

static int print_record(const struct mr *mr, int recnum, const char *text, size_t len) {
        printf("record  %d\nmr      %s\n", recnum, mr->name);
        for (unsigned i = 0; i < mr->n_banks; i++) {
                uint8_t d[HASH_MAX_SIZE];
                char hex[2 * HASH_MAX_SIZE + 1];
                int r = event_digest(mr->banks[i], text, len, d);
                if (r < 0)
                        return log_error_errno(r, "Failed to hash the event: %m"), EXIT_TRANSIENT;
                hex_encode(d, (size_t) r, hex);
                printf("%-7s %s\n", hash_alg_name(mr->banks[i]), hex);
        }
        return EXIT_OK;
}

static int measure(const char *tcti, unsigned pcr, const char *path, const char *domain,
                   const char *operation, const json_t *content) {
        _cleanup_(cel_writer_freep) struct cel_writer *w = NULL;
        _cleanup_(mr_freep) struct mr *mr = NULL;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r, recnum;

        /* Refuse bad content before the TPM or the log is touched. */
        r = event_text(domain, operation, content, &text, &len);
        if (r < 0)
                return log_error_errno(r, "Cannot canonicalize CONTENT: %s", tool_json_strerror(r)), EXIT_INPUT;
        r = open_tpm(tcti, pcr, &mr);
        if (r != EXIT_OK)
                return r;
        r = open_log(path, mr, &w);
        if (r != EXIT_OK)
                return r;
        recnum = cel_writer_append(w, domain, operation, content);
        if (recnum < 0) {
                const char *detail = cel_writer_error(w);
                if (recnum == -EPERM && pcr >= 17 && pcr <= 22)
                        log_error("PCR %u can only be extended from a higher locality than this one.", pcr);
                if (detail && detail[0])
                        log_error_errno(recnum, "Failed to measure the event (TCTI '%s', log %s): %s", tcti, path,
                                        detail);
                else
                        log_error_errno(recnum, "Failed to measure the event into %s (TCTI '%s', log %s): %m",
                                        mr->name, tcti, path);
                return append_exit_code(recnum);
        }
        return print_record(mr, recnum, text, len);
}

int cmd_extend(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "tcti", required_argument, NULL, 't' },
                { "pcr", required_argument, NULL, 'p' },
                { "log", required_argument, NULL, 'l' },
                { "domain", required_argument, NULL, 'd' },
                {},
        };
        const char *tcti = NULL, *path = NULL, *domain = EVENT_DOMAIN;
        json_t *content = NULL;
        unsigned pcr = MR_TPM_DEFAULT_PCR;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+ht:p:l:d:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case 't':
                        tcti = optarg;
                        break;
                case 'p':
                        if (safe_atou(optarg, &pcr) < 0 || pcr > PCR_MAX)
                                return usage_error("extend", "--pcr must be a PCR index from 0 to %u", PCR_MAX);
                        break;
                case 'l':
                        path = optarg;
                        break;
                case 'd':
                        domain = optarg;
                        break;
                default:
                        return usage_error("extend", "unknown option");
                }
        if (!tcti || !tcti[0] || strlen(tcti) > TCTI_MAX)
                return usage_error("extend", "--tcti TCTI is required (at most %u characters)", TCTI_MAX);
        if (!path || !path[0])
                return usage_error("extend", "--log FILE is required");
        if (argc - optind != 2)
                return usage_error("extend", "expected OPERATION and CONTENT");
        if (!event_token_valid(domain))
                return usage_error("extend", "invalid domain (1-64 characters of A-Z a-z 0-9 . _ : / -)");
        if (!event_token_valid(argv[optind]))
                return usage_error("extend", "invalid operation (1-64 characters of A-Z a-z 0-9 . _ : / -)");

        r = tool_json_arg(argv[optind + 1], "CONTENT", &content);
        if (r < 0)
                return exit_code_from_errno(r);
        r = measure(tcti, pcr, path, domain, argv[optind], content);
        json_decref(content);
        return r;
}
