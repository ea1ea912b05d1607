/* SPDX-License-Identifier: MIT */
/* Signals, reaping and the workload's supervision (supervise.h). */
#include <dirent.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "supervise.h"

#define BUTTONS_MAX 4U
/* After SIGKILL, how long to wait for the exit before giving up on a process stuck in the kernel. */
#define KILL_WAIT_MS 5000U

static const int fault_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS };

static void blocked_set(sigset_t *s) {
        sigfillset(s);
        for (size_t i = 0; i < ELEMENTSOF(fault_signals); i++)
                sigdelset(s, fault_signals[i]);
}

int signals_block(void) {
        sigset_t s;

        blocked_set(&s);
        return sigprocmask(SIG_BLOCK, &s, NULL) < 0 ? -errno : 0;
}

int signals_disable_cad(void) {
        return reboot(RB_DISABLE_CAD) < 0 ? -errno : 0;
}

bool signals_stop_pending(void) {
        sigset_t s;
        bool stop = false;

        sigemptyset(&s);
        sigaddset(&s, SIGTERM);
        sigaddset(&s, SIGINT);
        while (sigtimedwait(&s, NULL, &(struct timespec) {}) > 0)
                stop = true;
        return stop;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

struct sup {
        const struct workload *w;
        supervise_started_t started;
        void *userdata;
        int sfd;
        int buttons[BUTTONS_MAX];
        unsigned n_buttons;
        pid_t pid;           /* 0 while not running */
        unsigned starts;
        int status;          /* last wait status */
        uint64_t restart_at; /* 0: no restart pending */
        bool stopping;
        uint64_t kill_at, give_up_at;
        bool spawn_failed;
        bool done;
        enum supervise_end end;
};

static int shell_status(int st) {
        if (WIFEXITED(st))
                return WEXITSTATUS(st);
        if (WIFSIGNALED(st))
                return 128 + WTERMSIG(st);
        return 255;
}

/* The workload leads its own session (setsid in the child), so its group is its pid; just after
 * fork the group may not exist yet, hence the fallback to the process itself. */
static void signal_workload(struct sup *s, int sig) {
        if (s->pid <= 0)
                return;
        if (kill(-s->pid, sig) < 0)
                (void) kill(s->pid, sig);
}

static void start(struct sup *s) {
        pid_t pid;
        int r;

        s->restart_at = 0;
        s->starts++;
        r = workload_spawn(s->w, &pid);
        if (r < 0) {
                /* As if the child had failed to exec: the loop applies the restart policy. */
                log_error_errno(r, "Cannot start the workload: %m");
                s->status = WORKLOAD_EXIT_SPAWN_FAILED << 8;
                s->pid = 0;
                s->spawn_failed = true;
                return;
        }
        s->pid = pid;
        if (s->started)
                s->started(pid, s->starts - 1, s->userdata);
}

static void finish(struct sup *s, enum supervise_end end) {
        s->done = true;
        s->end = end;
}

static void request_stop(struct sup *s, const char *why) {
        if (s->stopping) {
                log_info("%s again: killing the workload now.", why);
                s->kill_at = now_ms();
                return;
        }
        s->stopping = true;
        s->restart_at = 0;
        if (s->pid <= 0) {
                log_info("%s: stopping (the workload is not running).", why);
                finish(s, SUPERVISE_STOPPED);
                return;
        }
        log_info("%s: stopping the workload (SIGTERM, then SIGKILL after %llu ms).", why,
                 (unsigned long long) s->w->stop_timeout_ms);
        signal_workload(s, SIGTERM);
        signal_workload(s, SIGCONT);
        s->kill_at = now_ms() + s->w->stop_timeout_ms;
}

static void workload_exited(struct sup *s, int st) {
        char buf[64];
        uint64_t delay = 0;

        s->pid = 0;
        s->status = st;
        log_info("Workload %s.", workload_status_string(st, buf));
        if (s->stopping) {
                finish(s, SUPERVISE_STOPPED);
                return;
        }
        if (workload_next(s->w, st, s->starts - 1, &delay) > 0) {
                log_info("Restarting the workload in %llu ms (restart %u of at most %u).",
                         (unsigned long long) delay, s->starts, s->w->restart_max);
                s->restart_at = now_ms() + delay;
                return;
        }
        finish(s, SUPERVISE_FINAL_EXIT);
}

/* Every zombie, not only the workload: PID 1 (or a subreaper) inherits orphans. */
static void reap(struct sup *s) {
        for (;;) {
                int st;
                pid_t p = waitpid(-1, &st, WNOHANG);
                if (p <= 0)
                        return;
                if (p == s->pid)
                        workload_exited(s, st);
                else
                        log_debug("Reaped process %d (status 0x%x).", (int) p, (unsigned) st);
        }
}

static void read_signals(struct sup *s) {
        struct signalfd_siginfo si;

        while (read(s->sfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                int sig = (int) si.ssi_signo;
                switch (sig) {
                case SIGCHLD:
                        reap(s);
                        break;
                case SIGTERM:
                        request_stop(s, "SIGTERM received");
                        break;
                case SIGINT:
                        request_stop(s, "SIGINT (ctrl-alt-del) received");
                        break;
                case SIGHUP:
                case SIGUSR1:
                case SIGUSR2:
                        signal_workload(s, sig);
                        break;
                default:
                        log_debug("Signal %d ignored.", sig);
                }
        }
}

/* --- the ACPI power button ------------------------------------------------------------------- */

static void open_buttons(struct sup *s) {
        DIR *d = opendir("/sys/class/input");
        struct dirent *de;

        while (d && (de = readdir(d)) && s->n_buttons < BUTTONS_MAX) {
                char path[300], name[64] = "";
                if (strncmp(de->d_name, "event", 5) != 0)
                        continue;
                snprintf(path, sizeof(path), "/sys/class/input/%s/device/name", de->d_name);
                _cleanup_close_ int nfd = open(path, O_RDONLY | O_CLOEXEC);
                ssize_t n = nfd >= 0 ? read(nfd, name, sizeof(name) - 1) : -1;
                if (n <= 0 || strncmp(name, "Power Button", 12) != 0)
                        continue;
                snprintf(path, sizeof(path), "/dev/input/%s", de->d_name);
                int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
                if (fd < 0) {
                        log_debug_errno(errno, "Cannot open %s: %m", path);
                        continue;
                }
                log_debug("Watching the power button at %s.", path);
                s->buttons[s->n_buttons++] = fd;
        }
        if (d)
                (void) closedir(d);
}

static void read_button(struct sup *s, int fd) {
        struct input_event ev[16];
        ssize_t n;

        while ((n = read(fd, ev, sizeof(ev))) > 0)
                for (size_t i = 0; i < (size_t) n / sizeof(ev[0]); i++)
                        if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER && ev[i].value == 1)
                                request_stop(s, "Power button pressed");
}

/* --- the loop -------------------------------------------------------------------------------- */

static void run_timers(struct sup *s) {
        uint64_t now = now_ms();

        if (s->restart_at && now >= s->restart_at && !s->stopping)
                start(s);
        if (s->stopping && s->pid > 0 && s->kill_at && now >= s->kill_at) {
                log_warning("The workload did not stop within its grace period: sending SIGKILL.");
                signal_workload(s, SIGKILL);
                s->kill_at = 0;
                s->give_up_at = now + KILL_WAIT_MS;
        }
        if (s->stopping && s->pid > 0 && s->give_up_at && now >= s->give_up_at) {
                log_error("The workload did not exit %u ms after SIGKILL: going on without it.", KILL_WAIT_MS);
                s->status = SIGKILL;
                finish(s, SUPERVISE_STOPPED);
        }
}

static int next_timeout(const struct sup *s) {
        uint64_t t = UINT64_MAX, now = now_ms();

        if (s->restart_at)
                t = s->restart_at;
        if (s->kill_at && s->kill_at < t)
                t = s->kill_at;
        if (s->give_up_at && s->give_up_at < t)
                t = s->give_up_at;
        if (t == UINT64_MAX)
                return -1;
        return t <= now ? 0 : t - now > INT32_MAX ? INT32_MAX : (int) (t - now);
}

static int loop(struct sup *s) {
        while (!s->done) {
                if (s->spawn_failed) {
                        s->spawn_failed = false;
                        workload_exited(s, s->status);
                        continue;
                }
                struct pollfd p[1 + BUTTONS_MAX] = { { .fd = s->sfd, .events = POLLIN } };
                for (unsigned i = 0; i < s->n_buttons; i++)
                        p[1 + i] = (struct pollfd) { .fd = s->buttons[i], .events = POLLIN };
                if (poll(p, 1 + s->n_buttons, next_timeout(s)) < 0 && errno != EINTR)
                        return log_error_errno(errno, "poll() failed while supervising: %m");
                if (p[0].revents)
                        read_signals(s);
                for (unsigned i = 0; i < s->n_buttons; i++)
                        if (p[1 + i].revents)
                                read_button(s, s->buttons[i]);
                if (!s->done)
                        run_timers(s);
        }
        return 0;
}

int supervise_run(const struct workload *w, bool pid1, supervise_started_t started, void *userdata,
                  int *ret_status) {
        struct sup s = { .w = w, .started = started, .userdata = userdata };
        sigset_t set;
        int r;

        blocked_set(&set);
        s.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        if (s.sfd < 0)
                return log_error_errno(errno, "Cannot create a signalfd: %m");
        if (pid1)
                open_buttons(&s);
        else if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                log_warning_errno(errno, "Cannot become a child subreaper (orphans will not be reaped): %m");

        start(&s);
        r = loop(&s);

        for (unsigned i = 0; i < s.n_buttons; i++)
                safe_close(s.buttons[i]);
        safe_close(s.sfd);
        *ret_status = s.starts > 0 ? shell_status(s.status) : 0;
        return r < 0 ? r : (int) s.end;
}
