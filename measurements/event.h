/* SPDX-License-Identifier: MIT */
/* Measurement events in the Confidential Containers "AAEL" form (DESIGN §3):
 *   text       = DOMAIN SP OPERATION SP CONTENT   (CONTENT = JCS of a JSON object)
 *   event data = u32le 0x4141454C || u32le len(text) || text    (TCG_PCClientTaggedEvent)
 *   digest     = H(event data)                                  (per bank) */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "hashalg.h"
#include "util.h"

#define EVENT_DOMAIN "cvminit"
#define EVENT_TAG_AAEL 0x4141454CU
#define EVENT_TOKEN_MAX 64
#define EVENT_TEXT_MAX (256U * 1024U)
/* TCG EV_EVENT_TAG */
#define EVENT_TYPE_EVENT_TAG 6U

/* A domain or operation: 1..EVENT_TOKEN_MAX characters of [A-Za-z0-9._:/-] (spaces separate the
 * text's fields, so they can never appear in these). */
bool event_token_valid(const char *s);

/* The text of an event whose content is a JSON object, canonicalized with JCS. -EINVAL: bad
 * token or content not an object; -E2BIG: text over EVENT_TEXT_MAX; JCS errors as jcs.h. */
int event_text(const char *domain, const char *operation, const json_t *content, char **ret,
               size_t *ret_len);
/* Same with content given verbatim (Trustee's own vectors carry plain strings). */
int event_text_raw(const char *domain, const char *operation, const char *content, char **ret,
                   size_t *ret_len);

/* Appends the tagged event data for text to out. */
int event_data_append(struct buf *out, const char *text, size_t len);
/* H(tag || len || text) for one algorithm; returns the digest size. */
int event_digest(enum hash_alg alg, const char *text, size_t len, uint8_t out[static HASH_MAX_SIZE]);

/* Splits a text into its three fields (pointers into text, not NUL-terminated for content).
 * -EBADMSG if it does not have the DOMAIN SP OPERATION SP CONTENT shape. */
int event_text_split(const char *text, size_t len, const char **domain, size_t *domain_len,
                     const char **operation, size_t *operation_len, const char **content,
                     size_t *content_len);
/* Reads tagged event data back: checks the tag and length and returns the text inside. */
int event_data_parse(const uint8_t *p, size_t n, const char **text, size_t *text_len);
