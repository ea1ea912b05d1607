/* SPDX-License-Identifier: MIT */
/* How PID 1 ends (DESIGN §1): the power actions named by cvminit.on_failure= and the workload's
 * on_exit, and the last act of PID 1 — stop every other process, sync, unmount (mounts.h table, in
 * reverse), reboot(2). */
#pragma once

#include <stdbool.h>

#include "cleanup.h"

enum power_action {
        POWER_OFF,
        POWER_REBOOT,
        POWER_HALT,
        _POWER_ACTION_MAX,
};

/* "poweroff", "reboot", "halt"; -EINVAL otherwise. */
int power_action_from_name(const char *s);
const char *power_action_name(enum power_action a);

/* PID 1 only: SIGTERM to every other process, up to grace_ms for them to exit (reaping them),
 * then SIGKILL to what is left. */
void power_kill_all(unsigned grace_ms);

/* Called by power_final once every other process is gone, before the configured mounts are
 * unmounted: the data disk (agent/disk.h), mounted after them, is unmounted and closed there. */
void power_set_close_hook(void (*hook)(void));

/* PID 1 only: kill what is left, sync, run the close hook, unmount in reverse order, then power off /
 * reboot / halt. If reboot(2) fails, halts forever rather than exit (which would panic the kernel). */
_noreturn_ void power_final(enum power_action a);
