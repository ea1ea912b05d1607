/* SPDX-License-Identifier: MIT */
/* TCG2 crypto-agile event logs (TCG PC Client Platform Firmware Profile, §10.2 "Event Logging"):
 * the binary format of the TPM's binary_bios_measurements and of the TDX firmware log in the ACPI
 * CCEL region (/sys/firmware/acpi/tables/data/CCEL). DESIGN §3 appends our AAEL events to it.
 *
 *   header  = TCG_PCR_EVENT (SHA-1 format), EV_NO_ACTION, data "Spec ID Event03" (§10.4.5.1)
 *   entries = TCG_PCR_EVENT2: u32 index, u32 type, u32 count, {u16 algId, digest}*count,
 *             u32 eventSize, event                                                   (§10.2.2)
 *   end     = end of data, 8 bytes FF (index and type 0xFFFFFFFF), or a tail that is all 0xFF or
 *             all 0x00 (the padding of a CCEL region)
 *
 * In a CCEL the index is the CC MR index (UEFI 2.10 §38.4.1): 0 = MRTD, 1..4 = RTMR0..RTMR3.
 * Events are numbered from 1; the Spec ID header is event 0. Parsing checks every length against
 * the input and the limits below, and reports failures as -EBADMSG with the event number and byte
 * offset in errbuf. Rules beyond the sizes: each entry has 1..numberOfAlgorithms digests, all of
 * algorithms the header declares, none twice (as Linux's tpm_eventlog); a declared algorithm we know
 * must have its real size; indexes are below TCG2_INDEX_MAX. An event lacking a bank's digest
 * parses, but that bank then fails to replay rather than silently skip it. Also here: the 56-byte ACPI CCEL table (ACPI 6.5 §5.2.34), and a renderer for
 * logs that other verifiers (Trustee's cc_eventlog) replay. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "hashalg.h"
#include "util.h"

#define TCG2_INPUT_MAX (16U << 20)
#define TCG2_EVENTS_MAX 65536U
#define TCG2_EVENT_DATA_MAX (1U << 20)
#define TCG2_DIGESTS_MAX 8U
/* Indexes are PCR numbers (0..23 on PC Client TPMs) or CC MR indexes (0..4). */
#define TCG2_INDEX_MAX 32U

#define TCG2_EV_NO_ACTION 0x3U
#define TCG2_EV_SEPARATOR 0x4U
#define TCG2_EV_EVENT_TAG 0x6U

#define TCG2_CC_MR_RTMR3 4U

struct tcg2_alg {
        uint16_t alg_id;
        uint16_t size;
        int alg; /* enum hash_alg, or -EOPNOTSUPP for an algorithm we cannot compute */
};

struct tcg2_spec_id {
        uint32_t platform_class;
        uint8_t version_minor, version_major, errata, uintn_size;
        unsigned n_algs;
        struct tcg2_alg algs[TCG2_DIGESTS_MAX];
        uint32_t index;       /* of the header event (0 in TPM logs, 1 in edk2's CCEL) */
        size_t vendor_info_size;
};

struct tcg2_digest {
        uint16_t alg_id;
        uint16_t size;
        int alg; /* as in struct tcg2_alg */
        uint8_t d[HASH_MAX_SIZE];
};

struct tcg2_event {
        unsigned number; /* 1-based */
        size_t offset;   /* of the entry in the input */
        uint32_t index, type;
        unsigned n_digests;
        struct tcg2_digest digests[TCG2_DIGESTS_MAX];
        const uint8_t *data; /* into tcg2_log.raw */
        uint32_t data_len;
        /* Every computable digest equals H(data) (Trustee's "digest_matches_event"). */
        bool digests_match;
        /* EV_EVENT_TAG with the AAEL tag: the text inside (into raw), and its fields if it has the
         * DOMAIN SP OPERATION SP CONTENT shape (aael_split). */
        bool aael, aael_split;
        const char *text, *domain, *operation, *content;
        size_t text_len, domain_len, operation_len, content_len;
};

enum tcg2_end {
        TCG2_END_DATA,    /* the input ended after the last event */
        TCG2_END_MARKER,  /* FF×8 */
        TCG2_END_PADDING, /* the rest is all 0xFF or all 0x00 */
};

struct tcg2_log {
        uint8_t *raw; /* a copy of the input, up to content_size */
        struct tcg2_spec_id spec_id;
        struct tcg2_event *events;
        size_t n_events;
        /* Bytes of header and events: where an appender cuts the log (before marker/padding). */
        size_t content_size;
        size_t header_size;
        enum tcg2_end end;
};

int tcg2_parse(const uint8_t *p, size_t n, struct tcg2_log *ret, errbuf *err);
int tcg2_read_file(const char *path, struct tcg2_log *ret, errbuf *err);
void tcg2_log_done(struct tcg2_log *log);

/* Replays index with one bank from zeros (PC Client PCR 0 from its StartupLocality event, if
 * any); EV_NO_ACTION is not extended. Returns the number of events extended. -ENOENT: the log does
 * not declare the bank; -EOPNOTSUPP: we cannot compute it; -EBADMSG: an event at the index lacks
 * a digest for the bank (err names it). */
int tcg2_replay(const struct tcg2_log *log, uint32_t index, enum hash_alg bank,
                uint8_t out[static HASH_MAX_SIZE], errbuf *err);

/* "EV_POST_CODE", "EV_EFI_ACTION", ...; NULL for values not in the PC Client table. */
const char *tcg2_event_type_name(uint32_t type);
/* "mrtd", "rtmr0".."rtmr3" for CC MR indexes 0..4, NULL otherwise. */
const char *tcg2_cc_mr_name(uint32_t index);

/* Renderer. A minimal header declaring the given banks (spec 2.0 errata 0, uintnSize 2, no vendor
 * info); index as in struct tcg2_spec_id. */
int tcg2_render_spec_id(struct buf *out, uint32_t index, const enum hash_alg *banks, unsigned n);
/* One TCG_PCR_EVENT2 entry. -EINVAL for no or too many digests, -E2BIG for data over the limit. */
int tcg2_render_event(struct buf *out, uint32_t index, uint32_t type, const struct digest *digests,
                      unsigned n, const void *data, size_t len);
/* An EV_EVENT_TAG entry carrying the AAEL text (DESIGN §3), with H(event data) for each bank. */
int tcg2_render_aael(struct buf *out, uint32_t index, const enum hash_alg *banks, unsigned n,
                     const char *text, size_t len);
int tcg2_render_end(struct buf *out);

/* The ACPI CCEL table (56 bytes). */
#define ACPI_CCEL_SIZE 56U
#define ACPI_CC_TYPE_SEV 1U
#define ACPI_CC_TYPE_TDX 2U

struct acpi_ccel {
        uint32_t length, oem_revision, creator_revision;
        uint8_t revision, checksum, cc_type, cc_subtype;
        char oem_id[7], oem_table_id[9], creator_id[5]; /* NUL-terminated, as stored */
        uint64_t laml, lasa; /* log area minimum length and start address */
};

/* True if p starts with the "CCEL" signature. */
bool acpi_ccel_is_table(const uint8_t *p, size_t n);
/* -EBADMSG for a wrong signature, length or checksum. */
int acpi_ccel_parse(const uint8_t *p, size_t n, struct acpi_ccel *ret, errbuf *err);
