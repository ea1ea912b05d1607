/* SPDX-License-Identifier: MIT */
/* The workload: event content, spawn, restart policy; see workload.h. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "workload.h"

int workload_event_content(const struct workload *w, json_t **ret) {
        json_t *o = NULL, *exec = json_array(), *env = json_object();
        const char *restart = workload_restart_name(w->restart);
        int r = exec && env && restart ? 0 : -ENOMEM;

        if (!restart)
                r = -EINVAL;
        for (size_t i = 0; r >= 0 && i < w->n_exec; i++)
                if (json_array_append_new(exec, json_string(w->exec[i])) < 0)
                        r = -EINVAL; /* not UTF-8: config_parse never lets that through */
        for (size_t i = 0; r >= 0 && i < w->n_env; i++) {
                const char *eq = strchr(w->env[i], '=');
                _cleanup_free_ char *key = eq ? strndup(w->env[i], (size_t) (eq - w->env[i])) : NULL;
                if (!key)
                        r = eq ? -ENOMEM : -EINVAL;
                else if (json_object_set_new(env, key, json_string(eq + 1)) < 0)
                        r = -EINVAL;
        }
        if (r >= 0) {
                o = json_pack("{s:O, s:O, s:I, s:s}", "exec", exec, "env", env, "user", (json_int_t) w->user,
                              "restart", restart);
                if (!o)
                        r = -ENOMEM;
        }
        json_decref(exec);
        json_decref(env);
        if (r < 0)
                return r;
        *ret = o;
        return 0;
}

/* ---- in the child: async-signal-safe calls only, and never a return into the parent's code ---- */

static void child_write(const char *s) {
        size_t n = strlen(s);

        while (n > 0) {
                ssize_t k = write(STDERR_FILENO, s, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return;
                s += k;
                n -= (size_t) k;
        }
}

static _noreturn_ void child_fail(const char *what, const char *arg, int error) {
        const char *desc = strerrordesc_np(error);

        child_write("cvminit: workload: ");
        child_write(what);
        if (arg) {
                child_write(" ");
                child_write(arg);
        }
        child_write(": ");
        child_write(desc ? desc : "unknown error");
        child_write("\n");
        _exit(WORKLOAD_EXIT_SPAWN_FAILED);
}

static void child_reset_signals(void) {
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;

        /* glibc's sigaction() refuses its internal signals (32, 33), and an ignored disposition
         * inherited for them (make runs its children so) would survive the exec: the raw system
         * call resets those. SIGKILL and SIGSTOP refuse either way. */
        for (int sig = 1; sig < _NSIG; sig++)
                if (sigaction(sig, &sa, NULL) < 0 && errno == EINVAL && sig != SIGKILL && sig != SIGSTOP) {
                        struct { void (*handler)(int); unsigned long flags; void (*restorer)(void); uint64_t mask; }
                                k = { .handler = SIG_DFL };
                        (void) syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof(k.mask));
                }
        /* The raw system call: glibc's sigprocmask() silently keeps its internal signals (32, 33)
         * as they are, and a mask inherited with them blocked would reach the workload. */
        sigemptyset(&none);
        if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, (size_t) (_NSIG / 8)) < 0)
                child_fail("cannot unblock signals", NULL, errno);
}

static void child_set_ids(const struct workload *w) {
        uid_t ru, eu, su;
        gid_t rg, eg, sg;

        if (geteuid() != 0) {
                /* Unprivileged (host tests): nothing can be changed, so only "stay as we are" works. */
                if (w->user == getuid() && w->user == geteuid() && w->group == getgid() && w->group == getegid())
                        return;
                child_fail("cannot switch user and group", "without root", EPERM);
        }
        if (setgroups(0, NULL) < 0)
                child_fail("cannot drop supplementary groups", NULL, errno);
        if (setresgid(w->group, w->group, w->group) < 0)
                child_fail("cannot set the group", NULL, errno);
        if (setresuid(w->user, w->user, w->user) < 0)
                child_fail("cannot set the user", NULL, errno);
        if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
                child_fail("cannot check the user and group", NULL, errno);
        if (ru != w->user || eu != w->user || su != w->user || rg != w->group || eg != w->group || sg != w->group)
                child_fail("user or group did not change", NULL, EPERM);
        /* A dropped root must not be able to come back. */
        if (w->user != 0 && setuid(0) == 0)
                child_fail("root privileges could be regained", NULL, EPERM);
}

static void child_close_fds(void) {
        struct rlimit rl;

        if (close_range(3, ~0U, 0) == 0)
                return;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 65536)
                rl.rlim_cur = 65536;
        for (int fd = 3; fd < (int) rl.rlim_cur; fd++)
                (void) close(fd);
}

static _noreturn_ void workload_child(const struct workload *w) {
        child_reset_signals();
        if (setsid() < 0)
                child_fail("cannot start a new session", NULL, errno);
        (void) umask(0022);
        child_set_ids(w);
        if (chdir(w->cwd) < 0)
                child_fail("cannot enter", w->cwd, errno);
        child_close_fds();
        execve(w->exec[0], w->exec, w->env);
        child_fail("cannot execute", w->exec[0], errno);
}

int workload_spawn(const struct workload *w, pid_t *ret) {
        pid_t pid;

        if (!w || !w->exec || !w->exec[0] || w->exec[0][0] != '/' || !w->env || !w->cwd)
                return -EINVAL;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                workload_child(w);
        *ret = pid;
        return 0;
}

int workload_next(const struct workload *w, int wait_status, unsigned restarts, uint64_t *delay_ms) {
        bool success = WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0;
        uint64_t d = w->restart_delay_ms;

        if (w->restart == WORKLOAD_RESTART_NO || (w->restart == WORKLOAD_RESTART_ON_FAILURE && success))
                return 0;
        if (restarts >= w->restart_max)
                return 0;
        for (unsigned i = 0; i < restarts && d > 0 && d < WORKLOAD_BACKOFF_MAX_MS; i++)
                d *= 2;
        *delay_ms = d < WORKLOAD_BACKOFF_MAX_MS ? d : WORKLOAD_BACKOFF_MAX_MS;
        return 1;
}

const char *workload_status_string(int wait_status, char buf[static 64]) {
        if (WIFEXITED(wait_status))
                (void) snprintf(buf, 64, "exited with status %d", WEXITSTATUS(wait_status));
        else if (WIFSIGNALED(wait_status)) {
                const char *abbrev = sigabbrev_np(WTERMSIG(wait_status));
                if (abbrev)
                        (void) snprintf(buf, 64, "killed by signal SIG%s%s", abbrev,
                                        WCOREDUMP(wait_status) ? " (core dumped)" : "");
                else
                        (void) snprintf(buf, 64, "killed by signal %d%s", WTERMSIG(wait_status),
                                        WCOREDUMP(wait_status) ? " (core dumped)" : "");
        } else
                (void) snprintf(buf, 64, "changed state (status 0x%x)", (unsigned) wait_status);
        return buf;
}
