/* SPDX-License-Identifier: MIT */
/* The Intel TDX backend (DESIGN §2): RTMR3 through the kernel's sysfs measurement files and quotes
 * through configfs-tsm. Both paths can be moved for tests (cvm-tdxsim, docs/tdxsim.md):
 *   CVMINIT_TDX_SYSFS     the directory holding rtmr3:sha384 (default below)
 *   CVMINIT_TSM_CONFIGFS  the configfs-tsm directory holding report/ (default below) */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

struct mr;

#define TDX_SYSFS_DEFAULT "/sys/class/misc/tdx_guest/measurements"
#define TSM_CONFIGFS_DEFAULT "/sys/kernel/config/tsm"
#define TDX_RTMR_SIZE 48U
#define TSM_INBLOB_SIZE 64U
/* Quotes are a few KiB (a PEM chain of three certificates included); anything this large is not one. */
#define TSM_OUTBLOB_MAX (256U * 1024U)

/* The directories in use: the environment's override or the default. */
const char *tdx_sysfs_dir(void);
const char *tsm_configfs_dir(void);

/* True if this looks like a TDX guest whose kernel offers RTMR extension through sysfs. */
bool tdx_available(void);

/* RTMR3 as register "rtmr3", one bank: sha384. Checks that the file exists and reads as 48 bytes. */
int mr_open_tdx(struct mr **ret, errbuf *err);
/* Any RTMR (0..3) or "mrtd", read raw (48 bytes), e.g. for the evidence or diagnostics. */
int tdx_read_measurement(const char *name, uint8_t out[static TDX_RTMR_SIZE], errbuf *err);

/* A quote over report_data through configfs-tsm: a fresh report/ entry, inblob written, generation
 * checked before and after outblob is read in one go (a concurrent writer makes it -EAGAIN), the
 * provider checked to be expected_provider (NULL: any), the entry removed. *ret is malloc'ed. */
int tsm_report_quote(const uint8_t report_data[static TSM_INBLOB_SIZE], const char *expected_provider,
                     uint8_t **ret, size_t *ret_len, errbuf *err);
