/* SPDX-License-Identifier: MIT */
/* TPM register backend (DESIGN §2): one PCR, extended with TPM2_PCR_Extend on every bank the TPM
 * has active for it, through tpm2-tss ESAPI (TPM 2.0 Part 3 §22.2 PCR_Extend, §22.4 PCR_Read,
 * §30.2 GetCapability/TPM_CAP_PCRS). Each Esys_* call is wrapped once below; unit tests replace
 * them with -Wl,--wrap.
 *
 * tpm2-tss logging: the library prints ERROR lines on stderr for failures we report ourselves
 * (e.g. every probe of an unreachable swtpm). Unless TSS2_LOG is already set, we set it to
 * "all+NONE" before the first TSS call, so errors are reported once, by our caller; with
 * CVMINIT_LOG_LEVEL=debug the library's own messages are left on (its default, errors), and
 * TSS2_LOG=all+debug still works for a deeper look. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "log.h"
#include "mr-tpm.h"
#include "mr.h"

#define MR_TPM_PCR_MAX 23U
#define MR_TPM_TCTI_MAX 1024U

struct tpm_data {
        TSS2_TCTI_CONTEXT *tcti;
        ESYS_CONTEXT *esys;
        unsigned pcr;
};

/* The TSS layers' own codes (ESAPI, SYS, MU, TCTI, resource manager), by base code. */
static int tss_base_to_errno(TSS2_RC layer, TSS2_RC base) {
        switch (base) {
        case TSS2_BASE_RC_NO_CONNECTION:
                return -ECONNREFUSED;
        case TSS2_BASE_RC_IO_ERROR:
                /* Below ESAPI an I/O error means the TPM (device or socket) cannot be reached. */
                return layer == TSS2_TCTI_RC_LAYER ? -ECONNREFUSED : -EIO;
        case TSS2_BASE_RC_TRY_AGAIN:
                return -EAGAIN;
        case TSS2_BASE_RC_MEMORY:
                return -ENOMEM;
        case TSS2_BASE_RC_NOT_PERMITTED:
        case TSS2_BASE_RC_AUTHORIZATION_FAILED:
                return -EPERM;
        case TSS2_BASE_RC_NOT_SUPPORTED:
                /* tctildr's answer when no TCTI library of the given name can be loaded. */
                return layer == TSS2_TCTI_RC_LAYER ? -ENOPKG : -EOPNOTSUPP;
        case TSS2_BASE_RC_NOT_IMPLEMENTED:
                return -EOPNOTSUPP;
        case TSS2_BASE_RC_MALFORMED_RESPONSE:
        case TSS2_BASE_RC_INSUFFICIENT_RESPONSE:
        case TSS2_BASE_RC_RSP_AUTH_FAILED:
                return -EBADMSG;
        case TSS2_BASE_RC_INSUFFICIENT_BUFFER:
                return -ENOBUFS;
        case TSS2_BASE_RC_BAD_VALUE:
        case TSS2_BASE_RC_BAD_REFERENCE:
        case TSS2_BASE_RC_BAD_CONTEXT:
        case TSS2_BASE_RC_BAD_SIZE:
        case TSS2_BASE_RC_BAD_TR:
        case TSS2_BASE_RC_ABI_MISMATCH:
        case TSS2_BASE_RC_INCOMPATIBLE_TCTI:
        case TSS2_BASE_RC_BAD_TCTI_STRUCTURE:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* Format-0 warnings (TPM 2.0 Part 2 §6.6): the TPM could not run the command now. */
static int tpm_warning_to_errno(TSS2_RC code) {
        switch (code) {
        case TPM2_RC_RETRY:
        case TPM2_RC_YIELDED:
        case TPM2_RC_TESTING:
        case TPM2_RC_CANCELED:
        case TPM2_RC_NV_RATE:
        case TPM2_RC_NV_UNAVAILABLE:
        case TPM2_RC_CONTEXT_GAP:
                return -EAGAIN;
        case TPM2_RC_OBJECT_MEMORY:
        case TPM2_RC_SESSION_MEMORY:
        case TPM2_RC_MEMORY:
        case TPM2_RC_SESSION_HANDLES:
        case TPM2_RC_OBJECT_HANDLES:
                return -ENOMEM;
        case TPM2_RC_LOCALITY:
        case TPM2_RC_LOCKOUT:
                return -EPERM;
        default:
                return -EIO;
        }
}

/* Codes from the TPM itself (or passed through a resource manager). */
static int tpm_code_to_errno(TSS2_RC rc) {
        TSS2_RC code;

        if (rc & TPM2_RC_FMT1) {
                /* Format 1: error number in bits 0-5; bits 6-11 name the parameter/handle/session. */
                code = TPM2_RC_FMT1 | (rc & 0x3F);
                switch (code) {
                case TPM2_RC_AUTH_FAIL:
                case TPM2_RC_BAD_AUTH:
                case TPM2_RC_POLICY_FAIL:
                case TPM2_RC_PP:
                        return -EPERM;
                case TPM2_RC_HASH:
                case TPM2_RC_ASYMMETRIC:
                case TPM2_RC_SYMMETRIC:
                case TPM2_RC_CURVE:
                case TPM2_RC_SCHEME:
                        return -EOPNOTSUPP;
                default:
                        return -EINVAL;
                }
        }
        code = rc & 0xFFF;
        if ((code & TPM2_RC_WARN) == TPM2_RC_WARN)
                return tpm_warning_to_errno(code);
        switch (code) {
        case TPM2_RC_AUTH_TYPE:
        case TPM2_RC_AUTH_MISSING:
        case TPM2_RC_AUTH_UNAVAILABLE:
        case TPM2_RC_DISABLED:
        case TPM2_RC_NV_LOCKED:
        case TPM2_RC_NV_AUTHORIZATION:
                return -EPERM;
        case TPM2_RC_COMMAND_CODE:
                return -EOPNOTSUPP;
        case TPM2_RC_PCR_CHANGED:
                return -EAGAIN;
        default:
                /* INITIALIZE (no TPM2_Startup), FAILURE (failure mode), REBOOT, ... */
                return -EIO;
        }
}

int tpm2_rc_to_errno(TSS2_RC rc, const char *what) {
        TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
        int r;

        if (rc == TSS2_RC_SUCCESS)
                return 0;
        if (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER)
                r = tpm_code_to_errno(rc);
        else
                r = tss_base_to_errno(layer, rc & 0xFFFF);
        log_debug("%s failed: 0x%08x %s", what ?: "TSS call", (unsigned) rc, Tss2_RC_Decode(rc));
        return r;
}

static void tss_quiet_logging(void) {
        if (log_get_level() >= LOG_LEVEL_DEBUG)
                return;
        /* No overwrite: an explicit TSS2_LOG from the user wins. */
        (void) setenv("TSS2_LOG", "all+NONE", 0);
}

/* ---- the ESAPI calls, each wrapped once ---- */

static int tpm_connect(struct tpm_data *t, const char *tcti) {
        TSS2_RC rc;

        rc = Tss2_TctiLdr_Initialize(tcti, &t->tcti);
        if (rc != TSS2_RC_SUCCESS) {
                t->tcti = NULL;
                return tpm2_rc_to_errno(rc, "Tss2_TctiLdr_Initialize");
        }
        rc = Esys_Initialize(&t->esys, t->tcti, NULL);
        if (rc != TSS2_RC_SUCCESS) {
                t->esys = NULL;
                return tpm2_rc_to_errno(rc, "Esys_Initialize");
        }
        return 0;
}

static int tpm_get_pcr_banks(struct tpm_data *t, TPML_PCR_SELECTION *ret) {
        _cleanup_esys_ TPMS_CAPABILITY_DATA *cap = NULL;
        TPMI_YES_NO more = TPM2_NO;
        TSS2_RC rc;

        /* TPM_CAP_PCRS answers with the whole allocation (TPM 2.0 Part 3 §30.2). */
        rc = Esys_GetCapability(t->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1,
                                &more, &cap);
        if (rc != TSS2_RC_SUCCESS)
                return tpm2_rc_to_errno(rc, "Esys_GetCapability(TPM2_CAP_PCRS)");
        if (!cap || cap->capability != TPM2_CAP_PCRS || cap->data.assignedPCR.count > TPM2_NUM_PCR_BANKS)
                return -EBADMSG;
        *ret = cap->data.assignedPCR;
        return 0;
}

static int tpm_pcr_extend(struct tpm_data *t, const TPML_DIGEST_VALUES *values) {
        TSS2_RC rc = Esys_PCR_Extend(t->esys, ESYS_TR_PCR0 + t->pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                     ESYS_TR_NONE, values);
        return tpm2_rc_to_errno(rc, "Esys_PCR_Extend");
}

int tpm2_pcr_read(ESYS_CONTEXT *esys, const TPML_PCR_SELECTION *sel, TPML_PCR_SELECTION **ret_sel,
                  TPML_DIGEST **ret) {
        UINT32 counter;
        TSS2_RC rc;

        rc = Esys_PCR_Read(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, sel, &counter, ret_sel, ret);
        return tpm2_rc_to_errno(rc, "Esys_PCR_Read");
}

/* ---- the backend ---- */

static bool selection_has(const TPMS_PCR_SELECTION *s, unsigned pcr) {
        return pcr / 8 < s->sizeofSelect && (s->pcrSelect[pcr / 8] & (1U << (pcr % 8)));
}

static bool selection_empty(const TPMS_PCR_SELECTION *s) {
        for (unsigned i = 0; i < s->sizeofSelect; i++)
                if (s->pcrSelect[i])
                        return false;
        return true;
}

/* A bank is active when any PCR is allocated in it. Banks where our PCR is not allocated have no
 * such register to extend, so they are skipped; every other bank must be one we can hash. */
static int tpm_pick_banks(struct mr *mr, const TPML_PCR_SELECTION *sel, unsigned pcr) {
        mr->n_banks = 0;
        for (unsigned i = 0; i < sel->count; i++) {
                const TPMS_PCR_SELECTION *s = &sel->pcrSelections[i];
                int alg;

                if (s->sizeofSelect > TPM2_PCR_SELECT_MAX)
                        return -EBADMSG;
                if (selection_empty(s))
                        continue;
                if (!selection_has(s, pcr)) {
                        log_debug("PCR bank 0x%04x is active but has no PCR %u, skipping.", s->hash, pcr);
                        continue;
                }
                alg = hash_alg_from_tpm_id(s->hash);
                if (alg < 0 || !hash_alg_md(alg)) {
                        log_debug("PCR bank 0x%04x is active but we cannot compute its hash.", s->hash);
                        return -EOPNOTSUPP;
                }
                if (mr_has_bank(mr, alg))
                        return -EBADMSG;
                if (mr->n_banks >= MR_BANKS_MAX)
                        return -E2BIG;
                mr->banks[mr->n_banks++] = alg;
        }
        if (mr->n_banks == 0) {
                log_debug("No active PCR bank has PCR %u.", pcr);
                return -ENXIO;
        }
        return 0;
}

static int tpm_extend(struct mr *mr, const struct digest *digests, unsigned n) {
        TPML_DIGEST_VALUES values = {};

        if (n > TPM2_NUM_PCR_BANKS)
                return -E2BIG;
        for (unsigned i = 0; i < n; i++) {
                values.digests[i].hashAlg = hash_alg_tpm_id(digests[i].alg);
                memcpy(&values.digests[i].digest, digests[i].d, hash_alg_size(digests[i].alg));
        }
        values.count = n;
        return tpm_pcr_extend(mr->data, &values);
}

static int tpm_read(struct mr *mr, enum hash_alg bank, uint8_t out[static HASH_MAX_SIZE]) {
        struct tpm_data *t = mr->data;
        TPML_PCR_SELECTION sel = { .count = 1 };
        _cleanup_esys_ TPML_DIGEST *values = NULL;
        _cleanup_esys_ TPML_PCR_SELECTION *sel_out = NULL;
        size_t size = hash_alg_size(bank);
        int r;

        sel.pcrSelections[0].hash = hash_alg_tpm_id(bank);
        sel.pcrSelections[0].sizeofSelect = 3;
        sel.pcrSelections[0].pcrSelect[t->pcr / 8] = (BYTE) (1U << (t->pcr % 8));
        r = tpm2_pcr_read(t->esys, &sel, &sel_out, &values);
        if (r < 0)
                return r;
        /* A PCR the TPM does not return (deallocated meanwhile) comes back as an empty list. */
        if (!values || values->count != 1 || values->digests[0].size != size)
                return -EBADMSG;
        memcpy(out, values->digests[0].buffer, size);
        return 0;
}

static void tpm_free(struct mr *mr) {
        struct tpm_data *t = mr->data;

        if (!t)
                return;
        if (t->esys)
                Esys_Finalize(&t->esys);
        if (t->tcti)
                Tss2_TctiLdr_Finalize(&t->tcti);
        free(t);
}

static const struct mr_ops tpm_ops = {
        .kind = "tpm",
        .extend = tpm_extend,
        .read = tpm_read,
        .free = tpm_free,
};

ESYS_CONTEXT *mr_tpm_esys(struct mr *mr) {
        if (!mr || mr->ops != &tpm_ops || !mr->data)
                return NULL;
        return ((struct tpm_data *) mr->data)->esys;
}

int mr_open_tpm(const char *tcti, unsigned pcr, struct mr **ret) {
        _cleanup_(mr_freep) struct mr *mr = NULL;
        TPML_PCR_SELECTION banks = {};
        struct tpm_data *t;
        int r;

        if (!tcti)
                tcti = MR_TPM_DEFAULT_TCTI;
        if (!ret || pcr > MR_TPM_PCR_MAX || tcti[0] == 0 || strnlen(tcti, MR_TPM_TCTI_MAX) >= MR_TPM_TCTI_MAX)
                return -EINVAL;
        mr = calloc(1, sizeof(*mr));
        if (!mr)
                return -ENOMEM;
        mr->ops = &tpm_ops;
        mr->data = t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->pcr = pcr;
        snprintf(mr->name, sizeof(mr->name), "pcr%u", pcr);

        tss_quiet_logging();
        r = tpm_connect(t, tcti);
        if (r < 0)
                return r;
        r = tpm_get_pcr_banks(t, &banks);
        if (r < 0)
                return r;
        r = tpm_pick_banks(mr, &banks, pcr);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(mr);
        return 0;
}
