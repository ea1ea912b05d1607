/* SPDX-License-Identifier: MIT */
/* TPM helpers shared by the code that talks to a TPM through tpm2-tss (registers in mr-tpm.c,
 * quotes in tpm-quote.c): the one place where a TSS2_RC becomes a negative errno. */
#pragma once

#include <tss2/tss2_common.h>
#include <tss2/tss2_esys.h>

#include "cleanup.h"

struct mr;

/* Maps a tpm2-tss return code to -errno (0 for success), and logs Tss2_RC_Decode's text at debug
 * level, prefixed with what (the call that failed). Broad classes:
 *   TCTI cannot reach the TPM (I/O, no connection)       -ECONNREFUSED  (transient)
 *   no TCTI library of that name (tctildr)               -ENOPKG
 *   bad TCTI configuration string                        -EINVAL
 *   TPM busy: RETRY, YIELDED, TESTING, NV_RATE, ...      -EAGAIN        (transient)
 *   authorization or locality refused, lockout           -EPERM
 *   algorithm / command not supported                    -EOPNOTSUPP
 *   TPM failure mode, not started, anything unknown      -EIO */
int tpm2_rc_to_errno(TSS2_RC rc, const char *what);

/* ESAPI allocates its outputs; they go back through Esys_Free. */
static inline void esys_freep(void *p) {
        Esys_Free(*(void **) p);
}
#define _cleanup_esys_ _cleanup_(esys_freep)

/* The ESAPI context of a register opened with mr_open_tpm (NULL for other backends): quotes use the
 * TPM connection the register already has. */
ESYS_CONTEXT *mr_tpm_esys(struct mr *mr);

/* TPM2_PCR_Read (the one wrapper of Esys_PCR_Read): *ret_sel says which PCRs the TPM returned
 * (it may return fewer than asked for), *ret their values in selection order. */
int tpm2_pcr_read(ESYS_CONTEXT *esys, const TPML_PCR_SELECTION *sel, TPML_PCR_SELECTION **ret_sel,
                  TPML_DIGEST **ret);
