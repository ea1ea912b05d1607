/* SPDX-License-Identifier: MIT */
/* Helpers shared by the evidence verifiers (verify-common.h; DESIGN §3, §4). */
#include <errno.h>
#include <string.h>

#include "base64.h"
#include "event.h"
#include "verify-common.h"

int verify_b64_member(const json_t *o, const char *what, const char *name, size_t max, uint8_t **ret,
                      size_t *ret_len, errbuf *err) {
        const json_t *v = json_object_get(o, name);
        int r;

        if (!json_is_string(v))
                return errbuf_set(err, -EBADMSG, "%s: \"%s\" is missing or not a string", what, name);
        /* By length, not strlen: a string with a NUL inside must not decode as its prefix. */
        r = base64_decode(json_string_value(v), json_string_length(v), BASE64_STD, max, ret, ret_len);
        if (r == -ENOMEM)
                return errbuf_set(err, r, "out of memory");
        if (r < 0)
                return errbuf_set(err, -EBADMSG, "%s: \"%s\" is not base64 of at most %zu bytes", what, name, max);
        return 0;
}

/* The claim itself; -EBADMSG for a domain, operation or text that is not what an event may hold. */
static int event_claim(const struct tcg2_event *e, json_t *events) {
        _cleanup_free_ char *domain = strndup(e->domain, e->domain_len);
        _cleanup_free_ char *operation = strndup(e->operation, e->operation_len);
        json_t *content, *o;

        if (!domain || !operation)
                return -ENOMEM;
        if (!event_token_valid(domain) || !event_token_valid(operation))
                return -EBADMSG;
        content = json_loadb(e->content, e->content_len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(content)) {
                json_decref(content);
                if (!utf8_valid(e->content, e->content_len))
                        return -EBADMSG;
                content = json_stringn(e->content, e->content_len);
        }
        o = json_pack("{s:s, s:s, s:o}", "domain", domain, "operation", operation, "content", content);
        if (!o || json_array_append_new(events, o) < 0)
                return -ENOMEM;
        return 0;
}

int verify_event_claim(const struct tcg2_event *e, const char *log, json_t *events, errbuf *err) {
        int r;

        if (!e->aael || !e->aael_split)
                return errbuf_set(err, -EBADMSG, "%s event %u is not an AAEL event", log, e->number);
        if (!e->digests_match)
                return errbuf_set(err, -EPERM, "%s event %u: its digests are not those of its data", log, e->number);
        r = event_claim(e, events);
        if (r < 0)
                return errbuf_set(err, r, "%s event %u: %s", log, e->number,
                                  r == -ENOMEM ? "out of memory" : "malformed domain, operation or text");
        return 0;
}
