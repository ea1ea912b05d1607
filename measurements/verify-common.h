/* SPDX-License-Identifier: MIT */
/* What the evidence verifiers (tpm-verify.h, tdx-verify.h) share: reading a base64 member of the
 * evidence object, and turning an extended event of a verified TCG2 log (tcg2.h) into a policy
 * claim (policy.h). An event is a claim only if it is an AAEL event tag (DESIGN §3) of the shape
 * DOMAIN SP OPERATION SP CONTENT and every digest it carries is the hash of its data — so a
 * register replay that matches the signed value proves exactly these texts were measured. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "tcg2.h"
#include "util.h"

/* Member name of object o (named what in messages, e.g. "evidence"): a string of base64 (standard
 * alphabet, padded) decoding to at most max bytes, into a malloc'd *ret. -EBADMSG if it is missing,
 * not a string or not such base64; -ENOMEM. */
int verify_b64_member(const json_t *o, const char *what, const char *name, size_t max, uint8_t **ret,
                      size_t *ret_len, errbuf *err);

/* Appends {"domain","operation","content"} for e to events (content parsed when it is a JSON
 * object, as cvminit writes it, else kept as text); log names the log in messages ("eventlog",
 * "cc_eventlog"). -EBADMSG: not an AAEL event, or a malformed domain, operation or text; -EPERM:
 * its digests are not those of its data; -ENOMEM. */
int verify_event_claim(const struct tcg2_event *e, const char *log, json_t *events, errbuf *err);
