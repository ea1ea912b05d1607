/* SPDX-License-Identifier: MIT */
/* The workload (DESIGN §1 step 9, §3 `workload` event; docs/config.md): its measured description,
 * starting it (fork + execve of an argv array, no shell, a clean environment, the configured
 * user, group and working directory), and the restart policy the supervisor applies after each exit.
 * Supervising (reaping, stopping, power-off) is PID 1's, in init/. */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

/* Backoff between restarts: restart_delay_ms doubled per restart already made, at most this. */
#define WORKLOAD_BACKOFF_MAX_MS 60000U
/* Exit status of a child that could not become the workload (as a shell reports "cannot execute"). */
#define WORKLOAD_EXIT_SPAWN_FAILED 127

/* The `workload` event content {"exec":[...],"env":{...},"user":N,"restart":"..."}. */
int workload_event_content(const struct workload *w, json_t **ret);

/* Starts the workload; returns 0 with the child's pid. In the child: every signal disposition reset
 * and the signal mask emptied, a new session, umask 022, supplementary groups dropped and the
 * group then the user set (real, effective and saved), cwd entered, every fd above 2 closed, and
 * execve with exactly the configured environment. Any failure there is written to stderr and the
 * child exits with WORKLOAD_EXIT_SPAWN_FAILED. When not running as root (host tests), only the
 * caller's own uid/gid can be used: anything else fails in the child with EPERM. */
int workload_spawn(const struct workload *w, pid_t *ret);

/* After the workload ended with wait_status (from waitpid) and `restarts` restarts were already
 * made: 1 and *delay_ms if the policy restarts it, 0 if this exit is final. on-failure restarts
 * after anything but exit status 0 (a signal is a failure); always restarts after any exit; both
 * stop once restarts reaches restart_max. */
int workload_next(const struct workload *w, int wait_status, unsigned restarts, uint64_t *delay_ms);

/* "exited with status N", "killed by signal SIGSEGV (core dumped)": for the supervisor's log. */
const char *workload_status_string(int wait_status, char buf[static 64]);
