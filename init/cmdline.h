/* SPDX-License-Identifier: MIT */
/* The kernel command line as PID 1 reads it (/proc/cmdline): the cvminit.* parameters that must be
 * known before the config can be measured (docs/config.md, "Kernel command line") and the
 * kernel-style ip= parameter. Words are split as the kernel does (spaces, double quotes removed);
 * parsing stops at "--". A parameter given twice takes its last value, as kernel parameters do;
 * an unknown cvminit.* parameter or a bad value is an error that names it. */
#pragma once

#include <stddef.h>

#include "power.h"
#include "util.h"

#define CMDLINE_PATH "/proc/cmdline"
#define CMDLINE_SIZE_MAX (64U * 1024U)
#define CMDLINE_VALUE_MAX 4095U
#define CMDLINE_TCTI_MAX 1023U
#define CMDLINE_IP_MAX 512U
#define CMDLINE_PCR_MAX 23U

enum register_kind {
        REGISTER_AUTO,
        REGISTER_TPM,
        REGISTER_TDX,
        _REGISTER_KIND_MAX,
};

struct boot_cmdline {
        char *config;                 /* cvminit.config=PATH (absolute), NULL if absent */
        enum register_kind reg;       /* cvminit.register=auto|tpm|tdx (default auto) */
        unsigned pcr;                 /* cvminit.pcr=N (default 14) */
        char *tcti;                   /* cvminit.tcti=... , NULL = the default TCTI */
        enum power_action on_failure; /* cvminit.on_failure=poweroff|reboot|halt (default poweroff) */
        int log_level;                /* cvminit.log_level=err|warning|info|debug, -1 if absent */
        char *ip;                     /* ip=..., NULL if absent (see network.h) */
};

/* Fills ret with the defaults, then the parameters in s[0..n). On error err names the parameter. */
int cmdline_parse(const char *s, size_t n, struct boot_cmdline *ret, errbuf *err);
/* Reads path (NULL = CMDLINE_PATH) and parses it. */
int cmdline_read(const char *path, struct boot_cmdline *ret, errbuf *err);
void cmdline_done(struct boot_cmdline *c);
const char *register_kind_name(enum register_kind k);
