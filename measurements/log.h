/* SPDX-License-Identifier: MIT */
/* Logging: one sink per process. Tools log to stderr; PID 1 logs to the console and /dev/kmsg
 * with boot-relative timestamps. Library code logs at debug level only; the caller that owns an
 * operation logs its failure once. Every call is a single expression returning -abs(error). */
#pragma once

#include "cleanup.h"

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARNING = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

enum log_target { LOG_TARGET_STDERR, LOG_TARGET_CONSOLE_KMSG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Reads CVMINIT_LOG_LEVEL (err, warning, info, debug) if set. */
void log_parse_environment(void);
void log_set_target(enum log_target target);
void log_set_program(const char *name);

/* error is an errno value (sign ignored) used for %m; returns -abs(error), or -EIO if it was 0
 * at error level (so "return log_error(...)" always fails). */
int log_internal(enum log_level level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_LEVEL_ERR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_LEVEL_WARNING, (error), __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_LEVEL_INFO, (error), __VA_ARGS__)
#define log_debug_errno(error, ...) log_full_errno(LOG_LEVEL_DEBUG, (error), __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_LEVEL_ERR, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_full_errno(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)
