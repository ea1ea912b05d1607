/* SPDX-License-Identifier: MIT */
/* The boot (DESIGN §1): one table of steps, run in order, each timed and logged; any fatal failure
 * ends in one place (log the reason, extend a `boot-failed` event, sync, power off / reboot / halt
 * per cvminit.on_failure=). As PID 1 every step runs and the end is a power action; with
 * --config FILE (not PID 1) the steps early, modules and network and the power action are
 * skipped and the process exits instead. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cmdline.h"

/* Exit codes when not PID 1; after a supervised run the workload's own status is the exit code. */
#define BOOT_EXIT_USAGE 2
#define BOOT_EXIT_FAILED 3

#define BOOT_LOG_PATH "/run/log/cvminit/measure.log"
#define BOOT_RUN_DIR "/run/cvminit"
/* How long ip='s device may take to appear after its driver is loaded. */
#define BOOT_NETDEV_TIMEOUT_MS 10000U

struct boot_options {
        bool pid1;
        const char *config_file;  /* --config FILE (not PID 1) */
        const char *tcti;         /* --tcti (not PID 1; PID 1 takes cvminit.tcti=) */
        unsigned pcr;
        enum register_kind reg;
        const char *log_path;     /* NULL = BOOT_LOG_PATH */
        const char *cmdline_path; /* NULL = /proc/cmdline (PID 1) */
};

/* Nanoseconds since boot (CLOCK_BOOTTIME): the clock the kernel's log and ours share. */
uint64_t boot_now_ns(void);

/* Runs the steps and supervises the workload. As PID 1 it never returns; otherwise it returns the
 * exit status: the workload's, or BOOT_EXIT_FAILED. t0 is boot_now_ns() at the start of main. */
int boot_run(const struct boot_options *o, uint64_t t0);
