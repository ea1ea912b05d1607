/* SPDX-License-Identifier: MIT */
/* cvmtool: hash, manifest, event, extend, log, ccel, quote and predict subcommands (DESIGN §7). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "cvmtool.h"
#include "log.h"

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *summary;
} commands[] = {
        { "hash", cmd_hash, "hash files and directory trees (sha256sum-compatible output)" },
        { "manifest", cmd_manifest, "print a model directory's manifest or its digest" },
        { "event", cmd_event, "print an event's canonical text and its digests" },
        { "extend", cmd_extend, "extend a TPM PCR with an event and append it to a log" },
        { "log", cmd_log, "show, replay or verify a measurement log (CEL-JSON)" },
        { "ccel", cmd_ccel, "show or replay a TCG2 crypto-agile event log (CCEL)" },
        { "quote", cmd_quote, "show or verify a TDX quote (signatures and PCK chain to a given root)" },
        { "evidence", cmd_evidence, "verify an answer of the attestation API (GET /v1/evidence)" },
        { "predict", cmd_predict, "print the events and register values a boot with a config produces" },
};

int exit_code_from_errno(int r) {
        switch (-r) {
        case ENOMEM:
        case EAGAIN:
        case EBUSY:
        case EINTR:
        case ETIMEDOUT:
        case ECONNREFUSED:
        case ECONNRESET:
        case EHOSTUNREACH:
        case ENETUNREACH:
        case ENOSPC:
                return EXIT_TRANSIENT;
        default:
                return EXIT_INPUT;
        }
}

int usage_error(const char *cmd, const char *format, ...) {
        va_list ap;

        fprintf(stderr, "cvmtool %s: ", cmd);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fprintf(stderr, "\nTry 'cvmtool %s --help'.\n", cmd);
        return EXIT_USAGE;
}

int run_verb(const char *cmd, const struct verb *verbs, size_t n, const char *expected, int (*help)(void), int argc,
             char **argv) {
        if (argc < 2)
                return usage_error(cmd, "expected %s", expected);
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
                return help();
        for (size_t i = 0; i < n; i++)
                if (strcmp(argv[1], verbs[i].name) == 0)
                        return verbs[i].run(argc - 1, argv + 1);
        return usage_error(cmd, "unknown subcommand '%s' (expected %s)", argv[1], expected);
}

static void help(FILE *f) {
        fprintf(f, "Usage: cvmtool COMMAND [OPTIONS] ...\n\nCommands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
        fprintf(f,
                "\nEach command takes --help. Exit codes: 0 success, 1 a check ran and failed (mismatch),\n"
                "2 usage error, 3 bad or unreadable input, 4 environment failure (e.g. TPM unreachable).\n"
                "CVMINIT_LOG_LEVEL=debug prints details.\n");
}

int main(int argc, char **argv) {
        log_set_program("cvmtool");
        log_parse_environment();

        if (argc < 2) {
                help(stderr);
                return EXIT_USAGE;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
                help(stdout);
                return EXIT_OK;
        }
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].run(argc - 1, argv + 1);
        fprintf(stderr, "cvmtool: unknown command '%s'\n", argv[1]);
        help(stderr);
        return EXIT_USAGE;
}
