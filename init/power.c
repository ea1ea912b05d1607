/* SPDX-License-Identifier: MIT */
/* PID 1's last act (power.h). */
#include <signal.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "mounts.h"
#include "power.h"

#define KILL_ALL_SIGKILL_WAIT_MS 2000U
#define FINAL_GRACE_MS 2000U

static const char *const names[_POWER_ACTION_MAX] = {
        [POWER_OFF] = "poweroff",
        [POWER_REBOOT] = "reboot",
        [POWER_HALT] = "halt",
};

int power_action_from_name(const char *s) {
        for (int a = 0; a < _POWER_ACTION_MAX; a++)
                if (s && strcmp(s, names[a]) == 0)
                        return a;
        return -EINVAL;
}

const char *power_action_name(enum power_action a) {
        return a >= 0 && a < _POWER_ACTION_MAX ? names[a] : "?";
}

static uint64_t now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

/* Reaps what has exited; true once no child is left. PID 1 inherits every orphan, so "no child"
 * means no process but the kernel's threads. */
static bool reap_all(void) {
        for (;;) {
                pid_t p = waitpid(-1, NULL, WNOHANG);
                if (p > 0)
                        continue;
                return p < 0 && errno == ECHILD;
        }
}

static bool wait_none_left(unsigned ms) {
        uint64_t deadline = now_ms() + ms;

        for (;;) {
                if (reap_all())
                        return true;
                if (now_ms() >= deadline)
                        return false;
                (void) nanosleep(&(struct timespec) { .tv_nsec = 20 * 1000 * 1000 }, NULL);
        }
}

void power_kill_all(unsigned grace_ms) {
        if (reap_all())
                return;
        log_info("Sending SIGTERM to the remaining processes.");
        (void) kill(-1, SIGTERM);
        (void) kill(-1, SIGCONT);
        if (wait_none_left(grace_ms))
                return;
        log_warning("Processes still running after %u ms: sending SIGKILL.", grace_ms);
        (void) kill(-1, SIGKILL);
        if (!wait_none_left(KILL_ALL_SIGKILL_WAIT_MS))
                log_warning("Some processes did not exit after SIGKILL (stuck in the kernel?).");
}

static void (*close_hook)(void);

void power_set_close_hook(void (*hook)(void)) {
        close_hook = hook;
}

_noreturn_ void power_final(enum power_action a) {
        static const int cmds[_POWER_ACTION_MAX] = {
                [POWER_OFF] = RB_POWER_OFF,
                [POWER_REBOOT] = RB_AUTOBOOT,
                [POWER_HALT] = RB_HALT_SYSTEM,
        };

        power_kill_all(FINAL_GRACE_MS);
        sync();
        if (close_hook)
                close_hook();
        mounts_unmount_all();
        sync();
        log_info("Shutdown complete: %s.", power_action_name(a));
        if (a < 0 || a >= _POWER_ACTION_MAX)
                a = POWER_OFF;
        if (reboot(cmds[a]) < 0)
                log_error_errno(errno, "reboot(%s) failed, halting here instead: %m", power_action_name(a));
        /* Exiting would panic the kernel; every signal is blocked, so this waits forever. */
        for (;;)
                (void) pause();
}
