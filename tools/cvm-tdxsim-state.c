/* SPDX-License-Identifier: MIT */
/* The simulated TD's state with the kernel's semantics, independent of FUSE:
 *  - MR attributes as drivers/virt/coco/tsm-mr.c under sysfs (fs/sysfs/file.c sysfs_kf_bin_write):
 *    writes are clamped to the 48-byte attribute, then anything but exactly 48 bytes at offset 0 is
 *    EINVAL; an RTMR write extends RTMR = SHA-384(RTMR ‖ data).
 *  - configfs-tsm report entries as drivers/virt/coco/guest/report.c with the TDX provider
 *    (drivers/virt/coco/tdx-guest): write_generation advances on every inblob commit (EBUSY when it
 *    would wrap onto read_generation), outblob is cached until the next write, and the TDX provider
 *    refuses an inblob that is not exactly 64 bytes with EINVAL when the quote is generated. */
#include <inttypes.h>

#include "cvm-tdxsim.h"
#include "hashalg.h"
#include "log.h"

const uint8_t *tdxsim_mr_value(const struct tdxsim *s, enum tdxsim_mr mr) {
        switch (mr) {
        case MR_RTMR0 ... MR_RTMR3:
                return s->td.rtmr[mr];
        case MR_MRTD:
                return s->td.mrtd;
        case MR_MRCONFIGID:
                return s->td.mrconfigid;
        case MR_MROWNER:
                return s->td.mrowner;
        case MR_MROWNERCONFIG:
                return s->td.mrownerconfig;
        default:
                return NULL;
        }
}

ssize_t tdxsim_mr_write(struct tdxsim *s, enum tdxsim_mr mr, const uint8_t *p, size_t n, uint64_t off) {
        uint8_t reg[HASH_MAX_SIZE], data[HASH_MAX_SIZE];
        int r;

        if (mr > MR_RTMR3)
                return -EACCES;
        /* sysfs_kf_bin_write: the attribute's size bounds the write */
        if (off >= TDX_MR_SIZE)
                return -EFBIG;
        if (n > TDX_MR_SIZE - off)
                n = TDX_MR_SIZE - (size_t) off;
        if (n == 0)
                return 0;
        /* tm_digest_write: partial writes are not supported */
        if (off != 0 || n != TDX_MR_SIZE)
                return -EINVAL;
        memcpy(reg, s->td.rtmr[mr], TDX_MR_SIZE);
        memcpy(data, p, TDX_MR_SIZE);
        r = hash_extend(HASH_SHA384, reg, data);
        if (r < 0)
                return r;
        memcpy(s->td.rtmr[mr], reg, TDX_MR_SIZE);
        log_debug("RTMR%u extended.", (unsigned) mr);
        return TDX_MR_SIZE;
}

struct tdxsim_report *tdxsim_report_find(struct tdxsim *s, const char *name) {
        for (struct tdxsim_report *r = s->reports; r; r = r->next)
                if (strcmp(r->name, name) == 0)
                        return r;
        return NULL;
}

int tdxsim_report_mkdir(struct tdxsim *s, const char *name) {
        struct tdxsim_report *r;

        if (!name[0] || strchr(name, '/') || strlen(name) > 255)
                return -EINVAL;
        if (tdxsim_report_find(s, name))
                return -EEXIST;
        /* The kernel has no limit; a simulator in a test does not need more. */
        if (s->n_reports >= TDXSIM_REPORTS_MAX)
                return -ENOSPC;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->name = strdup(name);
        if (!r->name) {
                free(r);
                return -ENOMEM;
        }
        r->refs = 1;
        r->next = s->reports;
        s->reports = r;
        s->n_reports++;
        return 0;
}

int tdxsim_report_rmdir(struct tdxsim *s, const char *name) {
        for (struct tdxsim_report **p = &s->reports; *p; p = &(*p)->next)
                if (strcmp((*p)->name, name) == 0) {
                        struct tdxsim_report *r = *p;
                        *p = r->next;
                        s->n_reports--;
                        /* Open files keep it; configfs then discards their writes. */
                        r->dead = true;
                        tdxsim_report_unref(r);
                        return 0;
                }
        return -ENOENT;
}

struct tdxsim_report *tdxsim_report_ref(struct tdxsim_report *r) {
        r->refs++;
        return r;
}

void tdxsim_report_unref(struct tdxsim_report *r) {
        if (!r || --r->refs > 0)
                return;
        free(r->outblob);
        free(r->name);
        free(r);
}

int tdxsim_report_write_inblob(struct tdxsim_report *r, const uint8_t *p, size_t n) {
        if (n > TSM_INBLOB_MAX)
                return -EFBIG;
        if (r->dead)
                return 0;
        /* try_advance_write_generation: refuse to wrap onto the generation last read */
        if (r->write_generation == r->read_generation - 1)
                return -EBUSY;
        r->write_generation++;
        if (n > 0) /* a close after a refused write commits nothing */
                memcpy(r->inblob, p, n);
        r->inblob_len = n;
        return 0;
}

int tdxsim_report_outblob(struct tdxsim *s, struct tdxsim_report *r, const uint8_t **ret, size_t *ret_len) {
        struct buf q = { .max = TDX_QUOTE_MAX };
        int k;

        if (r->dead)
                return -ENOENT;
        if (!r->outblob || r->read_generation != r->write_generation) {
                if (r->inblob_len == 0)
                        return -EINVAL;
                free(r->outblob);
                r->outblob = NULL;
                r->outblob_len = 0;
                if (r->inblob_len != TDX_REPORT_DATA_SIZE) /* tdx_report_new */
                        return -EINVAL;
                k = tdxsim_quote_render(&s->keys, &s->td, r->inblob, &q);
                if (k < 0) {
                        buf_free(&q);
                        return k;
                }
                r->outblob = (uint8_t *) buf_steal(&q, &r->outblob_len);
                if (!r->outblob)
                        return -ENOMEM;
                r->read_generation = r->write_generation;
                log_debug("Report %s: quote of %zu bytes at generation %" PRIu64 ".", r->name, r->outblob_len,
                          r->write_generation);
        }
        *ret = r->outblob;
        *ret_len = r->outblob_len;
        return 0;
}

void tdxsim_done(struct tdxsim *s) {
        while (s->reports) {
                struct tdxsim_report *r = s->reports;
                s->reports = r->next;
                r->dead = true;
                tdxsim_report_unref(r);
        }
        tdxsim_keys_done(&s->keys);
        free(s->ccel_data);
        *s = (struct tdxsim) {};
}
