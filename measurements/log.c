/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"

static enum log_level max_level = LOG_LEVEL_INFO;
static enum log_target target = LOG_TARGET_STDERR;
static const char *program = "cvminit";
static int console_fd = -EBADF, kmsg_fd = -EBADF;

void log_set_level(enum log_level level) {
        max_level = level;
}

enum log_level log_get_level(void) {
        return max_level;
}

void log_parse_environment(void) {
        static const struct { const char *name; enum log_level level; } table[] = {
                { "err", LOG_LEVEL_ERR },   { "error", LOG_LEVEL_ERR }, { "warning", LOG_LEVEL_WARNING },
                { "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG },
        };
        const char *e = getenv("CVMINIT_LOG_LEVEL");

        if (!e)
                return;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcasecmp(e, table[i].name) == 0)
                        max_level = table[i].level;
}

void log_set_program(const char *name) {
        program = name;
}

/* Lines of at most this many bytes reach /dev/kmsg whole (the kernel's record limit is 1024). */
#define KMSG_LINE_MAX 976

void log_set_target(enum log_target t) {
        target = t;
        if (t == LOG_TARGET_CONSOLE_KMSG) {
                if (kmsg_fd < 0)
                        kmsg_fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
                if (kmsg_fd < 0 && console_fd < 0)
                        console_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
                if (kmsg_fd >= 0) {
                        /* PID 1's lines must not be dropped by the kernel's rate limit on /dev/kmsg. */
                        int fd = open("/proc/sys/kernel/printk_devkmsg", O_WRONLY | O_CLOEXEC);
                        if (fd >= 0) {
                                (void) !write(fd, "on\n", 3);
                                close(fd);
                        }
                }
        }
}

static void write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return;
                p += k;
                n -= (size_t) k;
        }
}

static void emit(enum log_level level, const char *msg) {
        char line[2048];
        int n;

        if (target == LOG_TARGET_STDERR) {
                n = snprintf(line, sizeof(line), "%s: %s\n", program, msg);
                write_all(STDERR_FILENO, line, (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
                return;
        }

        /* Through /dev/kmsg the kernel stamps each line with boot-relative time and echoes it to
         * the console (writing both would print every line twice). Without kmsg, the console gets
         * the same timeline from CLOCK_BOOTTIME. */
        if (kmsg_fd >= 0) {
                n = snprintf(line, sizeof(line), "<%d>%s: %.*s\n", (int) level, program, KMSG_LINE_MAX, msg);
                write_all(kmsg_fd, line, (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
                return;
        }
        struct timespec ts = {};
        (void) clock_gettime(CLOCK_BOOTTIME, &ts);
        n = snprintf(line, sizeof(line), "[%5lld.%06ld] %s: %s\n", (long long) ts.tv_sec,
                     ts.tv_nsec / 1000, program, msg);
        write_all(console_fd >= 0 ? console_fd : STDERR_FILENO, line,
                  (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
}

int log_internal(enum log_level level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        char msg[1536];
        va_list ap;

        if (error < 0)
                error = -error;

        if (level <= max_level) {
                int saved = errno;
                errno = error; /* for %m */
                va_start(ap, format);
                (void) vsnprintf(msg, sizeof(msg), format, ap);
                va_end(ap);
                errno = saved;
                if (max_level >= LOG_LEVEL_DEBUG) {
                        size_t k = strlen(msg);
                        (void) snprintf(msg + k, sizeof(msg) - k, " (%s:%d %s)", file, line, func);
                }
                emit(level, msg);
        }

        if (error == 0 && level <= LOG_LEVEL_ERR)
                error = EIO;
        return -error;
}
