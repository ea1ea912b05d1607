/* SPDX-License-Identifier: MIT */
/* The simulator's firmware: a small TCG2 crypto-agile event log like a TDVF's CCEL (SHA-384 only,
 * the Spec ID header on index 1 as edk2 writes it; UEFI 2.10 §38.4.1 maps CC MR index 1..3 to
 * RTMR0..2), the ACPI CCEL table pointing at it (ACPI 6.5 §5.2.34), and the replay that gives the
 * RTMRs their boot values. The events say they are simulated; their digests are fixed, so RTMR0-2
 * are the same on every run (docs/tdxsim.md). */
#include "cvm-tdxsim.h"
#include "tcg2.h"

#define EV_IPL 0x0DU
#define EV_EFI_ACTION 0x80000007U
#define EV_EFI_PLATFORM_FIRMWARE_BLOB2 0x8000000AU
#define EV_EFI_HANDOFF_TABLES2 0x8000000BU

/* One event whose digest is SHA-384(measured), or of its data when measured is NULL. */
static int event(struct buf *out, uint32_t index, uint32_t type, const void *data, size_t len, const char *measured) {
        struct digest d = { .alg = HASH_SHA384 };
        int r;

        r = measured ? hash_buffer(HASH_SHA384, measured, strlen(measured), d.d) : hash_buffer(HASH_SHA384, data, len, d.d);
        return r < 0 ? r : tcg2_render_event(out, index, type, &d, 1, data, len);
}

static int append_le64(struct buf *b, uint64_t v) {
        uint8_t p[8];

        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
        return buf_append(b, p, sizeof(p));
}

/* UEFI_PLATFORM_FIRMWARE_BLOB2 and UEFI_HANDOFF_TABLE_POINTERS2 start alike: u8 size, description,
 * u64 (the blob's base, or the number of tables). */
static int described(struct buf *b, const char *description, uint64_t v) {
        uint8_t n = (uint8_t) strlen(description);
        int r = buf_append(b, &n, 1);

        if (r >= 0)
                r = buf_append(b, description, n);
        return r < 0 ? r : append_le64(b, v);
}

static int rtmr0_events(struct buf *out) {
        /* EFI_CONFIGURATION_TABLE of the TD HOB: a GUID (here a made-up one) and its address */
        static const uint8_t hob_guid[16] = { 'c', 'v', 'm', '-', 't', 'd', 'x', 's', 'i', 'm', ' ', 'H', 'O', 'B' };
        static const uint8_t separator[4] = {};
        struct buf hob = {}, cfv = {};
        int r;

        r = described(&hob, "TdxTable", 1);
        if (r >= 0)
                r = buf_append(&hob, hob_guid, sizeof(hob_guid));
        if (r >= 0)
                r = append_le64(&hob, 0x809000);
        if (r >= 0)
                r = event(out, 1, EV_EFI_HANDOFF_TABLES2, hob.data, hob.len, "cvm-tdxsim: TD HOB list");
        if (r >= 0)
                r = described(&cfv, "Fv(cvm-tdxsim configuration volume)", 0xffc00000);
        if (r >= 0)
                r = append_le64(&cfv, 0x40000);
        if (r >= 0)
                r = event(out, 1, EV_EFI_PLATFORM_FIRMWARE_BLOB2, cfv.data, cfv.len,
                          "cvm-tdxsim: configuration firmware volume");
        if (r >= 0)
                r = event(out, 1, TCG2_EV_SEPARATOR, separator, sizeof(separator), NULL);
        buf_free(&hob);
        buf_free(&cfv);
        return r;
}

int tdxsim_ccel_render(struct buf *out) {
        static const enum hash_alg banks[] = { HASH_SHA384 };
        static const uint8_t separator[4] = {};
        static const char *const actions[] = {
                "Calling EFI Application from Boot Option",
                "Exit Boot Services Invocation",
                "Exit Boot Services Returned with Success",
        };
        static const char cmdline[] = "kernel_cmdline: console=hvc0 cvminit.simulated=tdx";
        int r;

        r = tcg2_render_spec_id(out, 1, banks, ELEMENTSOF(banks));
        if (r >= 0)
                r = rtmr0_events(out);
        if (r >= 0)
                r = event(out, 2, EV_EFI_ACTION, actions[0], strlen(actions[0]), NULL);
        if (r >= 0)
                r = event(out, 2, TCG2_EV_SEPARATOR, separator, sizeof(separator), NULL);
        for (unsigned i = 1; i < ELEMENTSOF(actions) && r >= 0; i++)
                r = event(out, 2, EV_EFI_ACTION, actions[i], strlen(actions[i]), NULL);
        if (r >= 0)
                r = event(out, 3, EV_IPL, cmdline, sizeof(cmdline), NULL);
        return r;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

void tdxsim_ccel_table(uint64_t laml, uint64_t lasa, uint8_t t[56]) {
        uint8_t sum = 0;

        memset(t, 0, 56);
        memcpy(t, "CCEL", 4);
        put_le(t + 4, 56, 4);
        t[8] = 1; /* revision */
        memcpy(t + 10, "CVMSIM", 6);
        memcpy(t + 16, "TDXSIM  ", 8);
        put_le(t + 24, 1, 4);
        memcpy(t + 28, "CVMI", 4);
        put_le(t + 32, 1, 4);
        t[36] = ACPI_CC_TYPE_TDX;
        put_le(t + 40, laml, 8);
        put_le(t + 48, lasa, 8);
        for (unsigned i = 0; i < 56; i++)
                sum = (uint8_t) (sum + t[i]);
        t[9] = (uint8_t) (0x100 - sum);
}

int tdxsim_ccel_replay(const uint8_t *p, size_t n, uint8_t rtmr[TDX_RTMRS][TDX_MR_SIZE], errbuf *err) {
        struct tcg2_log log = {};
        int r;

        r = tcg2_parse(p, n, &log, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < log.n_events && r >= 0; i++) {
                const struct tcg2_event *e = &log.events[i];
                if (e->type != TCG2_EV_NO_ACTION && (e->index == 0 || e->index > TCG2_CC_MR_RTMR3))
                        r = errbuf_set(err, -EBADMSG, "event %u at offset %zu extends MR index %u, not an RTMR",
                                       e->number, e->offset, e->index);
        }
        for (uint32_t i = 0; i < TDX_RTMRS && r >= 0; i++) {
                uint8_t v[HASH_MAX_SIZE];
                r = tcg2_replay(&log, i + 1, HASH_SHA384, v, err);
                if (r >= 0)
                        memcpy(rtmr[i], v, TDX_MR_SIZE);
        }
        tcg2_log_done(&log);
        return r < 0 ? r : 0;
}
