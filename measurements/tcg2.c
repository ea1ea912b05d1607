/* SPDX-License-Identifier: MIT */
/* TCG2 crypto-agile event logs: parser, replay, renderer; ACPI CCEL table. See tcg2.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "event.h"
#include "tcg2.h"

#define SPEC_ID_SIGNATURE "Spec ID Event03" /* 16 bytes with its NUL */
#define SHA1_EVENT_DIGEST_SIZE 20U
#define END_MARKER_SIZE 8U

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
        return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}

/* A bounds-checked reader over the input; every take fails rather than read past the end. */
struct cursor {
        const uint8_t *p;
        size_t n, off;
};

static bool take(struct cursor *c, size_t k, const uint8_t **ret) {
        if (c->n - c->off < k)
                return false;
        *ret = c->p + c->off;
        c->off += k;
        return true;
}

static bool take_u32(struct cursor *c, uint32_t *v) {
        const uint8_t *q;

        if (!take(c, 4, &q))
                return false;
        *v = le32(q);
        return true;
}

static bool take_u16(struct cursor *c, uint16_t *v) {
        const uint8_t *q;

        if (!take(c, 2, &q))
                return false;
        *v = (uint16_t) (q[0] | q[1] << 8);
        return true;
}

static bool take_u8(struct cursor *c, uint8_t *v) {
        const uint8_t *q;

        if (!take(c, 1, &q))
                return false;
        *v = q[0];
        return true;
}

/* -EBADMSG with "event N at offset X: ..." in err. */
_printf_(4, 5) static int fail(errbuf *err, unsigned number, size_t offset, const char *format, ...) {
        char detail[400];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(detail, sizeof(detail), format, ap);
        va_end(ap);
        return errbuf_set(err, -EBADMSG, "event %u at offset %zu: %s", number, offset, detail);
}

static int parse_alg(struct cursor *c, struct tcg2_spec_id *s, unsigned i, errbuf *err) {
        struct tcg2_alg *a = &s->algs[i];
        size_t at = c->off;

        if (!take_u16(c, &a->alg_id) || !take_u16(c, &a->size))
                return fail(err, 0, at, "Spec ID event truncated in its algorithm list");
        for (unsigned k = 0; k < i; k++)
                if (s->algs[k].alg_id == a->alg_id)
                        return fail(err, 0, at, "algorithm 0x%04x declared twice", a->alg_id);
        a->alg = hash_alg_from_tpm_id(a->alg_id);
        if (a->alg >= 0 && a->size != hash_alg_size(a->alg))
                return fail(err, 0, at, "algorithm %s declared with digest size %u, not %zu",
                            hash_alg_name(a->alg), a->size, hash_alg_size(a->alg));
        if (a->alg < 0 && (a->size == 0 || a->size > HASH_MAX_SIZE))
                return fail(err, 0, at, "unknown algorithm 0x%04x declared with digest size %u", a->alg_id,
                            a->size);
        return 0;
}

/* The data of the header event: TCG_EfiSpecIdEvent (PFP §10.4.5.1), which must fill it exactly. */
static int parse_spec_id_data(struct cursor *c, struct tcg2_spec_id *s, errbuf *err) {
        const uint8_t *sig, *vendor;
        uint32_t n_algs;
        size_t at;
        uint8_t vendor_size;
        int r;

        if (!take(c, sizeof(SPEC_ID_SIGNATURE), &sig) || memcmp(sig, SPEC_ID_SIGNATURE, sizeof(SPEC_ID_SIGNATURE)))
                return fail(err, 0, 0, "no \"" SPEC_ID_SIGNATURE "\" signature: not a crypto-agile log");
        if (!take_u32(c, &s->platform_class) || !take_u8(c, &s->version_minor) ||
            !take_u8(c, &s->version_major) || !take_u8(c, &s->errata) || !take_u8(c, &s->uintn_size) ||
            !take_u32(c, &n_algs))
                return fail(err, 0, c->off, "Spec ID event truncated");
        if (n_algs == 0 || n_algs > TCG2_DIGESTS_MAX)
                return fail(err, 0, c->off - 4, "Spec ID event declares %u algorithms (1..%u allowed)", n_algs,
                            TCG2_DIGESTS_MAX);
        s->n_algs = n_algs;
        for (unsigned i = 0; i < n_algs; i++) {
                r = parse_alg(c, s, i, err);
                if (r < 0)
                        return r;
        }
        at = c->off;
        if (!take_u8(c, &vendor_size) || !take(c, vendor_size, &vendor))
                return fail(err, 0, at, "Spec ID event truncated in its vendor info");
        if (c->off != c->n)
                return fail(err, 0, c->off, "%zu stray bytes after the Spec ID event", c->n - c->off);
        s->vendor_info_size = vendor_size;
        return 0;
}

/* The header: a TCG_PCR_EVENT in the SHA-1 format carrying the Spec ID event. */
static int parse_header(struct cursor *c, struct tcg2_spec_id *s, errbuf *err) {
        const uint8_t *digest, *data;
        uint32_t type, size;
        struct cursor d;

        if (!take_u32(c, &s->index) || !take_u32(c, &type) || !take(c, SHA1_EVENT_DIGEST_SIZE, &digest) ||
            !take_u32(c, &size))
                return fail(err, 0, 0, "log truncated in its first event (%zu bytes)", c->n);
        if (type != TCG2_EV_NO_ACTION)
                return fail(err, 0, 0, "first event has type 0x%x, not EV_NO_ACTION: not a crypto-agile log",
                            type);
        if (s->index >= TCG2_INDEX_MAX)
                return fail(err, 0, 0, "index %u out of range (0..%u)", s->index, TCG2_INDEX_MAX - 1);
        if (!take(c, size, &data))
                return fail(err, 0, 0, "event size %u runs past the end of the input", size);
        d = (struct cursor) { .p = c->p, .n = c->off, .off = c->off - size };
        return parse_spec_id_data(&d, s, err);
}

static int parse_digests(struct cursor *c, const struct tcg2_spec_id *s, struct tcg2_event *e, errbuf *err) {
        uint32_t count;

        if (!take_u32(c, &count))
                return fail(err, e->number, e->offset, "truncated before the digest count");
        if (count == 0 || count > s->n_algs)
                return fail(err, e->number, e->offset, "digest count %u (the header declares %u algorithms)",
                            count, s->n_algs);
        for (unsigned i = 0; i < count; i++) {
                struct tcg2_digest *d = &e->digests[i];
                const struct tcg2_alg *a = NULL;
                const uint8_t *q;

                if (!take_u16(c, &d->alg_id))
                        return fail(err, e->number, e->offset, "truncated in digest %u", i);
                for (unsigned k = 0; k < s->n_algs; k++)
                        if (s->algs[k].alg_id == d->alg_id)
                                a = &s->algs[k];
                if (!a)
                        return fail(err, e->number, e->offset, "algorithm 0x%04x not declared in the header",
                                    d->alg_id);
                for (unsigned k = 0; k < i; k++)
                        if (e->digests[k].alg_id == d->alg_id)
                                return fail(err, e->number, e->offset, "two digests for algorithm 0x%04x",
                                            d->alg_id);
                if (!take(c, a->size, &q))
                        return fail(err, e->number, e->offset, "truncated in digest %u", i);
                d->size = a->size;
                d->alg = a->alg;
                memcpy(d->d, q, a->size);
        }
        e->n_digests = count;
        return 0;
}

static bool digests_match(const struct tcg2_event *e) {
        bool any = false;

        for (unsigned i = 0; i < e->n_digests; i++) {
                uint8_t h[HASH_MAX_SIZE];

                if (e->digests[i].alg < 0 || hash_buffer(e->digests[i].alg, e->data, e->data_len, h) < 0)
                        continue;
                if (memcmp(h, e->digests[i].d, e->digests[i].size) != 0)
                        return false;
                any = true;
        }
        return any;
}

/* EV_EVENT_TAG with the AAEL tag: the text inside must fill the event data exactly. */
static int parse_aael(struct tcg2_event *e, errbuf *err) {
        int r;

        if (e->type != TCG2_EV_EVENT_TAG || e->data_len < 4 || le32(e->data) != EVENT_TAG_AAEL)
                return 0;
        r = event_data_parse(e->data, e->data_len, &e->text, &e->text_len);
        if (r < 0)
                return fail(err, e->number, e->offset, "AAEL tagged event whose length does not match");
        e->aael = true;
        e->aael_split = event_text_split(e->text, e->text_len, &e->domain, &e->domain_len, &e->operation,
                                         &e->operation_len, &e->content, &e->content_len) >= 0;
        return 0;
}

static int parse_event(struct cursor *c, const struct tcg2_spec_id *s, struct tcg2_event *e, errbuf *err) {
        uint32_t size;
        int r;

        e->offset = c->off;
        if (!take_u32(c, &e->index) || !take_u32(c, &e->type))
                return fail(err, e->number, e->offset, "truncated in the event header");
        if (e->index >= TCG2_INDEX_MAX)
                return fail(err, e->number, e->offset, "index %u out of range (0..%u)", e->index,
                            TCG2_INDEX_MAX - 1);
        r = parse_digests(c, s, e, err);
        if (r < 0)
                return r;
        if (!take_u32(c, &size))
                return fail(err, e->number, e->offset, "truncated before the event size");
        if (size > TCG2_EVENT_DATA_MAX)
                return fail(err, e->number, e->offset, "event size %u over the limit of %u", size,
                            TCG2_EVENT_DATA_MAX);
        if (!take(c, size, &e->data))
                return fail(err, e->number, e->offset, "event data of %u bytes runs past the end of the input",
                            size);
        e->data_len = size;
        e->digests_match = digests_match(e);
        return parse_aael(e, err);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v) {
        for (size_t i = 0; i < n; i++)
                if (p[i] != v)
                        return false;
        return true;
}

/* Where the events stop: the end marker, or a tail of CCEL padding (0xFF, or zeros). */
static bool at_end(const struct cursor *c, enum tcg2_end *end) {
        const uint8_t *q = c->p + c->off;
        size_t rest = c->n - c->off;

        if (rest == 0)
                *end = TCG2_END_DATA;
        else if (rest >= END_MARKER_SIZE && all_bytes(q, END_MARKER_SIZE, 0xff))
                *end = TCG2_END_MARKER;
        else if (all_bytes(q, rest, 0xff) || all_bytes(q, rest, 0x00))
                *end = TCG2_END_PADDING;
        else
                return false;
        return true;
}

static int parse_events(struct cursor *c, struct tcg2_log *log, errbuf *err) {
        size_t cap = 0;

        while (!at_end(c, &log->end)) {
                struct tcg2_event *e;
                int r;

                if (log->n_events >= TCG2_EVENTS_MAX)
                        return fail(err, (unsigned) log->n_events + 1, c->off, "more than %u events",
                                    TCG2_EVENTS_MAX);
                if (log->n_events == cap) {
                        size_t ncap = cap ? 2 * cap : 64;
                        e = reallocarray(log->events, ncap, sizeof(*e));
                        if (!e)
                                return -ENOMEM;
                        log->events = e;
                        cap = ncap;
                }
                e = &log->events[log->n_events];
                *e = (struct tcg2_event) { .number = (unsigned) log->n_events + 1 };
                r = parse_event(c, &log->spec_id, e, err);
                if (r < 0)
                        return r;
                log->n_events++;
        }
        log->content_size = c->off;
        return 0;
}

int tcg2_parse(const uint8_t *p, size_t n, struct tcg2_log *ret, errbuf *err) {
        struct tcg2_log log = {};
        struct cursor c;
        int r;

        if (!p && n > 0)
                return -EINVAL;
        if (n > TCG2_INPUT_MAX)
                return errbuf_set(err, -EFBIG, "log of %zu bytes over the limit of %u", n, TCG2_INPUT_MAX);
        /* Events point into our own copy, so the log outlives the caller's buffer. */
        log.raw = malloc(n ? n : 1);
        if (!log.raw)
                return -ENOMEM;
        if (n > 0)
                memcpy(log.raw, p, n);
        c = (struct cursor) { .p = log.raw, .n = n };
        r = parse_header(&c, &log.spec_id, err);
        if (r >= 0) {
                log.header_size = c.off;
                r = parse_events(&c, &log, err);
        }
        if (r < 0) {
                tcg2_log_done(&log);
                return r;
        }
        *ret = log;
        return 0;
}

int tcg2_read_file(const char *path, struct tcg2_log *ret, errbuf *err) {
        _cleanup_free_ uint8_t *p = NULL;
        size_t n;
        int r;

        r = read_file_limited(path, TCG2_INPUT_MAX, &p, &n);
        if (r == -EFBIG)
                return errbuf_set(err, r, "larger than the limit of %u bytes", TCG2_INPUT_MAX);
        if (r < 0)
                return errbuf_set(err, r, "cannot read it");
        return tcg2_parse(p, n, ret, err);
}

void tcg2_log_done(struct tcg2_log *log) {
        free(log->raw);
        free(log->events);
        *log = (struct tcg2_log) {};
}

/* PC Client PFP §10.4.5.3: PCR 0 starts at the locality of the StartupLocality event. */
static bool startup_locality(const struct tcg2_event *e, uint8_t *locality) {
        static const char sig[] = "StartupLocality";

        if (e->type != TCG2_EV_NO_ACTION || e->data_len != sizeof(sig) + 1 || memcmp(e->data, sig, sizeof(sig)))
                return false;
        *locality = e->data[sizeof(sig)];
        return true;
}

static const struct tcg2_digest *event_digest_for(const struct tcg2_event *e, uint16_t alg_id) {
        for (unsigned i = 0; i < e->n_digests; i++)
                if (e->digests[i].alg_id == alg_id)
                        return &e->digests[i];
        return NULL;
}

int tcg2_replay(const struct tcg2_log *log, uint32_t index, enum hash_alg bank,
                uint8_t out[static HASH_MAX_SIZE], errbuf *err) {
        uint16_t alg_id = hash_alg_tpm_id(bank);
        size_t size = hash_alg_size(bank);
        bool declared = false;
        int n = 0;

        for (unsigned k = 0; k < log->spec_id.n_algs; k++)
                declared = declared || (alg_id != 0 && log->spec_id.algs[k].alg_id == alg_id);
        if (!declared)
                return errbuf_set(err, -ENOENT, "the log has no %s bank", hash_alg_name(bank) ?: "such");
        if (!hash_alg_md(bank))
                return errbuf_set(err, -EOPNOTSUPP, "cannot compute %s", hash_alg_name(bank));
        memset(out, 0, HASH_MAX_SIZE);
        for (size_t i = 0; i < log->n_events; i++) {
                const struct tcg2_event *e = &log->events[i];
                const struct tcg2_digest *d;
                uint8_t locality;
                int r;

                if (e->index != index)
                        continue;
                if (e->type == TCG2_EV_NO_ACTION) {
                        if (index == 0 && n == 0 && startup_locality(e, &locality))
                                out[size - 1] = locality;
                        continue;
                }
                d = event_digest_for(e, alg_id);
                if (!d)
                        return fail(err, e->number, e->offset, "no %s digest", hash_alg_name(bank));
                r = hash_extend(bank, out, d->d);
                if (r < 0)
                        return errbuf_set(err, r, "cannot compute %s", hash_alg_name(bank));
                n++;
        }
        return n;
}

const char *tcg2_event_type_name(uint32_t type) {
        static const char *const base[] = {
                "EV_PREBOOT_CERT", "EV_POST_CODE", "EV_UNUSED", "EV_NO_ACTION", "EV_SEPARATOR", "EV_ACTION",
                "EV_EVENT_TAG", "EV_S_CRTM_CONTENTS", "EV_S_CRTM_VERSION", "EV_CPU_MICROCODE",
                "EV_PLATFORM_CONFIG_FLAGS", "EV_TABLE_OF_DEVICES", "EV_COMPACT_HASH", "EV_IPL",
                "EV_IPL_PARTITION_DATA", "EV_NONHOST_CODE", "EV_NONHOST_CONFIG", "EV_NONHOST_INFO",
                "EV_OMIT_BOOT_DEVICE_EVENTS", "EV_POST_CODE2",
        };
        static const char *const efi[] = {
                NULL, "EV_EFI_VARIABLE_DRIVER_CONFIG", "EV_EFI_VARIABLE_BOOT",
                "EV_EFI_BOOT_SERVICES_APPLICATION", "EV_EFI_BOOT_SERVICES_DRIVER",
                "EV_EFI_RUNTIME_SERVICES_DRIVER", "EV_EFI_GPT_EVENT", "EV_EFI_ACTION",
                "EV_EFI_PLATFORM_FIRMWARE_BLOB", "EV_EFI_HANDOFF_TABLES", "EV_EFI_PLATFORM_FIRMWARE_BLOB2",
                "EV_EFI_HANDOFF_TABLES2", "EV_EFI_VARIABLE_BOOT2", "EV_EFI_GPT_EVENT2", NULL, NULL,
                "EV_EFI_HCRTM_EVENT",
        };
        static const char *const efi_e0[] = {
                "EV_EFI_VARIABLE_AUTHORITY", "EV_EFI_SPDM_FIRMWARE_BLOB", "EV_EFI_SPDM_FIRMWARE_CONFIG",
                "EV_EFI_SPDM_DEVICE_POLICY", "EV_EFI_SPDM_DEVICE_AUTHORITY",
        };

        if (type < ELEMENTSOF(base))
                return base[type];
        if (type >= 0x80000000U && type - 0x80000000U < ELEMENTSOF(efi))
                return efi[type - 0x80000000U];
        if (type >= 0x800000E0U && type - 0x800000E0U < ELEMENTSOF(efi_e0))
                return efi_e0[type - 0x800000E0U];
        return NULL;
}

const char *tcg2_cc_mr_name(uint32_t index) {
        static const char *const names[] = { "mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3" };
        return index < ELEMENTSOF(names) ? names[index] : NULL;
}

/* Renderer: on failure out is left as it was. */
static int render_done(struct buf *out, size_t saved, int r) {
        if (r < 0 && out->len > saved) {
                out->len = saved;
                out->data[saved] = 0;
        }
        return r;
}

static bool banks_valid(const enum hash_alg *banks, unsigned n) {
        if (n == 0 || n > TCG2_DIGESTS_MAX)
                return false;
        for (unsigned i = 0; i < n; i++) {
                if (hash_alg_size(banks[i]) == 0)
                        return false;
                for (unsigned k = 0; k < i; k++)
                        if (banks[k] == banks[i])
                                return false;
        }
        return true;
}

int tcg2_render_spec_id(struct buf *out, uint32_t index, const enum hash_alg *banks, unsigned n) {
        static const uint8_t zeros[SHA1_EVENT_DIGEST_SIZE] = {};
        /* platformClass 0 (client), spec version 2.0 errata 0, uintnSize 2 (UINT64), as edk2 */
        static const uint8_t fixed[] = { 0, 0, 0, 0, 0, 2, 0, 2 };
        size_t saved = out->len;
        int r;

        if (!banks_valid(banks, n) || index >= TCG2_INDEX_MAX)
                return -EINVAL;
        r = buf_append_u32le(out, index);
        if (r >= 0)
                r = buf_append_u32le(out, TCG2_EV_NO_ACTION);
        if (r >= 0)
                r = buf_append(out, zeros, sizeof(zeros));
        if (r >= 0)
                r = buf_append_u32le(out, (uint32_t) (sizeof(SPEC_ID_SIGNATURE) + sizeof(fixed) + 4 + 4 * n + 1));
        if (r >= 0)
                r = buf_append(out, SPEC_ID_SIGNATURE, sizeof(SPEC_ID_SIGNATURE));
        if (r >= 0)
                r = buf_append(out, fixed, sizeof(fixed));
        if (r >= 0)
                r = buf_append_u32le(out, n);
        for (unsigned i = 0; i < n && r >= 0; i++) {
                r = buf_append_u16le(out, hash_alg_tpm_id(banks[i]));
                if (r >= 0)
                        r = buf_append_u16le(out, (uint16_t) hash_alg_size(banks[i]));
        }
        if (r >= 0)
                r = buf_append(out, "", 1); /* vendorInfoSize 0 */
        return render_done(out, saved, r);
}

int tcg2_render_event(struct buf *out, uint32_t index, uint32_t type, const struct digest *digests,
                      unsigned n, const void *data, size_t len) {
        enum hash_alg banks[TCG2_DIGESTS_MAX];
        size_t saved = out->len;
        int r;

        if (n == 0 || n > TCG2_DIGESTS_MAX || index >= TCG2_INDEX_MAX || (!data && len > 0))
                return -EINVAL;
        for (unsigned i = 0; i < n; i++)
                banks[i] = digests[i].alg;
        if (!banks_valid(banks, n))
                return -EINVAL;
        if (len > TCG2_EVENT_DATA_MAX)
                return -E2BIG;
        r = buf_append_u32le(out, index);
        if (r >= 0)
                r = buf_append_u32le(out, type);
        if (r >= 0)
                r = buf_append_u32le(out, n);
        for (unsigned i = 0; i < n && r >= 0; i++) {
                r = buf_append_u16le(out, hash_alg_tpm_id(digests[i].alg));
                if (r >= 0)
                        r = buf_append(out, digests[i].d, hash_alg_size(digests[i].alg));
        }
        if (r >= 0)
                r = buf_append_u32le(out, (uint32_t) len);
        if (r >= 0)
                r = buf_append(out, data, len);
        return render_done(out, saved, r);
}

int tcg2_render_aael(struct buf *out, uint32_t index, const enum hash_alg *banks, unsigned n,
                     const char *text, size_t len) {
        struct buf data = { .max = TCG2_EVENT_DATA_MAX };
        struct digest digests[TCG2_DIGESTS_MAX];
        int r;

        if (!banks_valid(banks, n))
                return -EINVAL;
        r = event_data_append(&data, text, len);
        for (unsigned i = 0; i < n && r >= 0; i++) {
                digests[i].alg = banks[i];
                r = hash_buffer(banks[i], data.data, data.len, digests[i].d);
        }
        if (r >= 0)
                r = tcg2_render_event(out, index, TCG2_EV_EVENT_TAG, digests, n, data.data, data.len);
        buf_free(&data);
        return r;
}

int tcg2_render_end(struct buf *out) {
        static const uint8_t marker[END_MARKER_SIZE] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
        return buf_append(out, marker, sizeof(marker));
}

bool acpi_ccel_is_table(const uint8_t *p, size_t n) {
        return n >= 4 && memcmp(p, "CCEL", 4) == 0;
}

static void copy_id(char *dst, const uint8_t *src, size_t n) {
        memcpy(dst, src, n);
        dst[n] = 0;
}

int acpi_ccel_parse(const uint8_t *p, size_t n, struct acpi_ccel *ret, errbuf *err) {
        uint8_t sum = 0;

        if (n < ACPI_CCEL_SIZE || !acpi_ccel_is_table(p, n))
                return errbuf_set(err, -EBADMSG, "not an ACPI CCEL table (%zu bytes)", n);
        ret->length = le32(p + 4);
        if (ret->length != n)
                return errbuf_set(err, -EBADMSG, "table length %u, but %zu bytes given", ret->length, n);
        for (size_t i = 0; i < n; i++)
                sum = (uint8_t) (sum + p[i]);
        if (sum != 0)
                return errbuf_set(err, -EBADMSG, "table checksum does not add up (sum 0x%02x)", sum);
        ret->revision = p[8];
        ret->checksum = p[9];
        copy_id(ret->oem_id, p + 10, 6);
        copy_id(ret->oem_table_id, p + 16, 8);
        ret->oem_revision = le32(p + 24);
        copy_id(ret->creator_id, p + 28, 4);
        ret->creator_revision = le32(p + 32);
        ret->cc_type = p[36];
        ret->cc_subtype = p[37];
        ret->laml = le64(p + 40);
        ret->lasa = le64(p + 48);
        return 0;
}
