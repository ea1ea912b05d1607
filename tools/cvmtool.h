/* SPDX-License-Identifier: MIT */
/* cvmtool: the operator's tool. Each subcommand lives in its own cvmtool-*.c and returns one of the
 * exit codes below (documented in README.md and `cvmtool --help`). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

enum {
        EXIT_OK = 0,
        EXIT_MISMATCH = 1,  /* a check ran to completion and the answer is "no" */
        EXIT_USAGE = 2,     /* bad command line */
        EXIT_INPUT = 3,     /* permanent failure: unreadable or malformed input, refused content */
        EXIT_TRANSIENT = 4, /* the environment failed (TPM unreachable, out of memory): retry may help */
};

/* Maps a negative errno from a failed operation to EXIT_INPUT or EXIT_TRANSIENT. */
int exit_code_from_errno(int r);

/* Prints "cvmtool SUBCOMMAND: message" and a hint to --help; returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* A command with verbs ("cvmtool quote show|verify"): runs the verb argv[1] names with argv from it
 * on, or help() for --help/-h; none or an unknown one is a usage error saying what is expected
 * (e.g. "'show' or 'verify'"). */
struct verb {
        const char *name;
        int (*run)(int argc, char **argv);
};
int run_verb(const char *cmd, const struct verb *verbs, size_t n, const char *expected, int (*help)(void), int argc,
             char **argv);

int cmd_hash(int argc, char **argv);
int cmd_manifest(int argc, char **argv);
int cmd_event(int argc, char **argv);
int cmd_extend(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_ccel(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_quote(int argc, char **argv);
int cmd_evidence(int argc, char **argv);

/* "YYYY-MM-DDTHH:MM:SSZ" exactly (RFC 3339, UTC, no fraction); -EINVAL otherwise. */
int parse_utc_time(const char *s, time_t *ret);

/* cvmtool log verify --quote (tools/cvmtool-log-quote.c): a TDX quote's RTMR0-2 against a firmware
 * CCEL, RTMR3 against the canonical log, optionally the quote itself against a root. */
struct quote_log_args {
        const char *quote, *ccel, *root, *at;
        bool allow_trailing;
};
struct cel_log;
int log_verify_quote(const struct cel_log *log, const struct quote_log_args *a);
