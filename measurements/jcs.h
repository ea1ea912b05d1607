/* SPDX-License-Identifier: MIT */
/* RFC 8785 JSON Canonicalization Scheme for the JSON cvminit produces: objects (members sorted by
 * their names' UTF-16 code units, §3.2.3), arrays, strings (§3.2.2.2 escaping), integers within
 * the I-JSON range ±(2^53-1), true, false, null. Non-integer numbers are refused (-EDOM): nothing
 * we measure carries them, and refusing keeps the serializer exact. */
#pragma once

#include <jansson.h>

#include "util.h"

#define JCS_MAX_DEPTH 64
#define JCS_MAX_SAFE_INTEGER 9007199254740991LL

/* Appends the canonical form of v to out. -EDOM: non-integer or out-of-range number; -ELOOP: nesting
 * deeper than JCS_MAX_DEPTH; -EILSEQ: a string that is not valid UTF-8. */
int jcs_append(struct buf *out, const json_t *v);
/* Canonical form as a malloc'd NUL-terminated string. */
int jcs_serialize(const json_t *v, char **ret, size_t *ret_len);
/* Appends one JSON string literal (with quotes) in canonical escaping. */
int jcs_append_string(struct buf *out, const char *s, size_t len);
/* Orders two UTF-8 strings by UTF-16 code units, as §3.2.3 sorts member names. */
int jcs_compare_names(const char *a, size_t alen, const char *b, size_t blen);
