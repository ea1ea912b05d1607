/* SPDX-License-Identifier: MIT */
/* TPM helpers shared by the code that talks to a TPM through tpm2-tss (registers in mr-tpm.c, and
 * later quotes): the one place where a TSS2_RC becomes a negative errno. */
#pragma once

#include <tss2/tss2_common.h>

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
