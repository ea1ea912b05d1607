/* SPDX-License-Identifier: MIT */
/* JSON from the command line: size-limited, strict (no duplicate keys), objects only. */
#pragma once

#include <jansson.h>

#define TOOL_JSON_MAX (64U * 1024U)

/* Parses arg ("-" = standard input) as a JSON object; logs a clear error naming what (e.g.
 * "CONTENT") and the position of a syntax error. */
int tool_json_arg(const char *arg, const char *what, json_t **ret);
/* Words for the JCS errors (-EDOM, -ELOOP, -EILSEQ, -E2BIG). */
const char *tool_json_strerror(int r);
/* Prints root indented by 2 on stdout and drops the reference; root NULL or a failed dump is out
 * of memory (logged). Returns EXIT_OK or EXIT_TRANSIENT. */
int tool_json_print(json_t *root);
