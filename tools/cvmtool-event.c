/* SPDX-License-Identifier: MIT */
/* cvmtool event: the canonical text of an event and its digests (DESIGN §3). */
#include <getopt.h>
#include <jansson.h>

#include "cvmtool.h"
#include "event.h"
#include "log.h"
#include "tooljson.h"

static int help(void) {
        printf("Usage: cvmtool event [--domain DOMAIN] [--raw] OPERATION CONTENT\n\n"
               "Prints the event's text (DOMAIN OPERATION JCS(CONTENT)) and the SHA-256 and SHA-384\n"
               "digests of the tagged event (u32le 0x4141454C || u32le length || text), which are the\n"
               "values extended into a PCR's sha256 bank and into RTMR3.\n\n"
               "  --domain DOMAIN  event domain (default \"" EVENT_DOMAIN "\")\n"
               "  --raw            take CONTENT verbatim instead of as a JSON object (for other\n"
               "                   producers' events, e.g. Trustee's test vector)\n\n"
               "CONTENT is a JSON object (at most %u bytes), '-' reads it from standard input.\n",
               TOOL_JSON_MAX);
        return EXIT_OK;
}

int cmd_event(int argc, char **argv) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "domain", required_argument, NULL, 'd' },
                { "raw", no_argument, NULL, 'r' },
                {},
        };
        const char *domain = EVENT_DOMAIN;
        _cleanup_free_ char *text = NULL;
        bool raw = false;
        size_t len;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+hd:r", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case 'd':
                        domain = optarg;
                        break;
                case 'r':
                        raw = true;
                        break;
                default:
                        return usage_error("event", "unknown option");
                }
        if (argc - optind != 2)
                return usage_error("event", "expected OPERATION and CONTENT");
        if (!event_token_valid(domain))
                return usage_error("event", "invalid domain (1-64 characters of A-Z a-z 0-9 . _ : / -)");
        if (!event_token_valid(argv[optind]))
                return usage_error("event", "invalid operation (1-64 characters of A-Z a-z 0-9 . _ : / -)");

        if (raw) {
                r = event_text_raw(domain, argv[optind], argv[optind + 1], &text, &len);
                if (r < 0)
                        return log_error_errno(r, "Invalid raw content: it must be UTF-8 without newlines."),
                               EXIT_INPUT;
        } else {
                json_t *content = NULL;
                r = tool_json_arg(argv[optind + 1], "CONTENT", &content);
                if (r < 0)
                        return exit_code_from_errno(r);
                r = event_text(domain, argv[optind], content, &text, &len);
                json_decref(content);
                if (r < 0)
                        return log_error_errno(r, "Cannot canonicalize CONTENT: %s", tool_json_strerror(r)),
                               EXIT_INPUT;
        }

        printf("text    %s\n", text);
        for (enum hash_alg a = HASH_SHA256; a <= HASH_SHA384; a++) {
                uint8_t d[HASH_MAX_SIZE];
                char hex[2 * HASH_MAX_SIZE + 1];
                r = event_digest(a, text, len, d);
                if (r < 0)
                        return log_error_errno(r, "Failed to hash the event: %m"), EXIT_TRANSIENT;
                hex_encode(d, (size_t) r, hex);
                printf("%-7s %s\n", hash_alg_name(a), hex);
        }
        return EXIT_OK;
}
