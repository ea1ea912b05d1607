/* SPDX-License-Identifier: MIT */
/* PID 1's signal handling and supervision (DESIGN §1 step 9; after tini): every signal but the
 * fault signals is blocked from the first instruction and read from a signalfd, never handled
 * asynchronously. SIGCHLD means "reap every zombie" (orphans are PID 1's too); SIGTERM, SIGINT
 * (ctrl-alt-del, once RB_DISABLE_CAD is set) and, as PID 1, the ACPI power button (an input device
 * named "Power Button", QEMU's system_powerdown) stop the workload: SIGTERM to its process group,
 * stop_timeout_ms of grace, SIGKILL. SIGHUP, SIGUSR1 and SIGUSR2 are forwarded to it. The restart
 * policy (agent/workload.h) decides what follows each exit. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "workload.h"

/* Blocks every signal except SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP and SIGSYS. */
int signals_block(void);

/* PID 1: the kernel sends SIGINT to PID 1 on ctrl-alt-del instead of rebooting at once. */
int signals_disable_cad(void);

/* True if SIGTERM or SIGINT is already pending (consumed): a stop asked for during the boot. */
bool signals_stop_pending(void);

enum supervise_end {
        SUPERVISE_FINAL_EXIT, /* the workload exited and the policy does not restart it */
        SUPERVISE_STOPPED,    /* a stop was requested (signal or power button) */
};

/* Called after each start of the workload (restarts counts the previous starts). */
typedef void (*supervise_started_t)(pid_t pid, unsigned restarts, void *userdata);

/* Starts the workload and supervises it until its final exit or a stop. *ret_status is its last
 * exit status in shell form (the code, or 128 + signal; 0 if it never ran). pid1 enables the power
 * button; otherwise the process becomes a child subreaper so the workload's orphans are reaped too.
 * Returns the supervise_end, or a negative errno if the workload could not be started at all. */
int supervise_run(const struct workload *w, bool pid1, supervise_started_t started, void *userdata,
                  int *ret_status);
