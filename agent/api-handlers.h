/* SPDX-License-Identifier: MIT */
/* The workload attestation API's requests and answers (docs/api.md), without any socket: the
 * server (init/api.c), the unit tests and the fuzz target hand a request to api_handle and get the
 * answer back. What the answers need from the machine (a quote, the log, an extend, a manifest)
 * comes through a table of backend functions, so tests substitute them.
 *
 *   GET  /v1/evidence?nonce=HEX   {"tee","nonce","report_data","evidence":{...}}   (api-proto.h)
 *   GET  /v1/log                  the measurement log, CEL-JSON in JSON-SEQ, as it is on disk
 *   POST /v1/extend               {"operation","content"} -> an `app` event, after boot-done only
 *   GET  /v1/manifest/NAME        a model's manifest, /run/cvminit/manifests/NAME.json
 *
 * The target is read strictly and without percent-decoding (nothing valid needs it): unknown path
 * 404, other method 405 (with Allow), body over API_BODY_MAX 413, an extend before boot-done 409,
 * anything malformed 400; failures of the backend 500, 503 (busy, try again) or 507 (log full).
 * Error answers are {"error":"..."}, with untrusted text escaped. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api-proto.h"
#include "hashalg.h"
#include "kbs-proto.h"
#include "mr.h"
#include "util.h"

/* The longest request target read (path and query). */
#define API_TARGET_MAX 1024U
/* Files served (the log, manifests) are at most this large. */
#define API_FILE_MAX (64U << 20)

#define API_TYPE_JSON "application/json"
#define API_TYPE_JSON_SEQ "application/json-seq"

/* What an extend measured, for the answer. */
struct api_extended {
        uint64_t recnum;
        char mr[MR_NAME_MAX];
        unsigned n_digests;
        struct digest digests[MR_BANKS_MAX];
};

struct api_backend {
        void *userdata;
        enum kbs_tee tee;
        bool boot_done; /* app events are accepted only when true (DESIGN §3) */
        /* The evidence object (agent/evidence.h's TPM or TDX form) bound to report_data. */
        int (*evidence)(void *userdata, const uint8_t report_data[static API_REPORT_DATA_SIZE], json_t **ret,
                        errbuf *err);
        /* Measures the `app` event with this content (checked by api_app_content_parse). */
        int (*extend)(void *userdata, const json_t *content, struct api_extended *ret, errbuf *err);
        /* A file to serve: an fd (O_CLOEXEC, owned by the caller afterwards) and the byte count to serve
         * from offset 0. The manifest's name is already checked; -ENOENT means there is none. */
        int (*open_log)(void *userdata, int *ret_fd, uint64_t *ret_size, errbuf *err);
        int (*open_manifest)(void *userdata, const char *name, int *ret_fd, uint64_t *ret_size, errbuf *err);
};

struct api_request {
        const char *method; /* as received, e.g. "GET" */
        const char *target; /* the request target as received: path, optionally '?' and a query */
        const char *body;   /* may be NULL when body_len is 0 */
        size_t body_len;
        bool body_too_large; /* the server stopped reading the body at API_BODY_MAX */
};

struct api_response {
        unsigned status;
        const char *content_type; /* static */
        const char *allow;        /* for 405: the allowed method (static), else NULL */
        char *body;               /* malloc'd, body_len bytes; or */
        size_t body_len;
        int fd;                   /* >= 0: serve fd_size bytes of this fd from offset 0 instead */
        uint64_t fd_size;
        char summary[128];        /* for the server's log: what an extend measured ("" otherwise) */
};

/* Fills rs (always: on an internal failure with a 500 answer). Free with api_response_done. */
void api_handle(const struct api_backend *b, const struct api_request *rq, struct api_response *rs);
void api_response_done(struct api_response *rs);

/* The path's endpoint name for logs: "evidence", "log", "extend", "manifest", or NULL. */
const char *api_endpoint_name(const char *target);
