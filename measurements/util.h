/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every module: hex, bounded file reads, growable buffers, error detail,
 * escaping of untrusted strings before they are logged. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cleanup.h"

/* Human-readable detail of a failure, filled by parsers for the caller to log once. */
typedef struct errbuf {
        char msg[512];
} errbuf;

/* Formats into e (if not NULL) and returns r, so parsers can "return errbuf_set(e, -EBADMSG, ...)". */
int errbuf_set(errbuf *e, int r, const char *format, ...) _printf_(3, 4);

/* Growable byte buffer, always NUL-terminated for convenience. Appends fail with -ENOMEM or
 * -E2BIG once len would pass max (0 = SIZE_MAX/2). */
struct buf {
        char *data;
        size_t len, cap, max;
};
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *format, ...) _printf_(2, 3);
int buf_append_u16le(struct buf *b, uint16_t v);
int buf_append_u32le(struct buf *b, uint32_t v);
void buf_free(struct buf *b);
/* Like buf_free, but wipes the contents first (for secrets). */
void buf_erase(struct buf *b);
/* Detaches the data (caller frees); the buffer is left empty. */
char *buf_steal(struct buf *b, size_t *ret_len);

/* Lower-case hex; out must hold 2*n+1 bytes. */
void hex_encode(const void *p, size_t n, char *out);
char *hexmem(const void *p, size_t n);
/* Decodes exactly len hex characters (upper or lower case) into out (capacity max); returns the
 * byte count or -EINVAL (odd length, bad digit) / -E2BIG. */
int unhex(const char *s, size_t len, uint8_t *out, size_t max);

/* Reads a whole regular file, refusing anything larger than max bytes (-EFBIG), directories
 * (-EISDIR) and anything else that is not a regular file (-EBADFD: FIFOs, devices, sockets — opened
 * without blocking). The result is NUL-terminated (not counted in *ret_len). The _at form takes a
 * directory fd and extra open flags (e.g. O_NOFOLLOW). */
int read_file_limited(const char *path, size_t max, uint8_t **ret, size_t *ret_len);
int read_file_at_limited(int dirfd, const char *path, int flags, size_t max, uint8_t **ret, size_t *ret_len);
int read_fd_limited(int fd, size_t max, uint8_t **ret, size_t *ret_len);
int loop_write(int fd, const void *p, size_t n);

/* For logging untrusted text: escapes anything but printable ASCII as \xNN and caps the result at
 * max bytes (adding "..."). Returns a static-free malloc'd string, or NULL on OOM. */
char *escape_untrusted(const char *s, size_t len, size_t max);

/* Parses a decimal unsigned integer without sign, spaces or overflow. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou(const char *s, unsigned *ret);

bool utf8_valid(const char *s, size_t len);

/* Opens /dev/null on whichever of fds 0-2 is closed (a process the kernel starts may have none), so
 * no file opened later lands on them. Returns whether fd 2 was open to begin with. */
bool std_fds_ensure(void);

/* Frees a NULL-terminated string vector (NULL is fine); the _n form frees n entries, for a vector
 * filled in order that may end early or have holes (an allocation failed half-way). */
void strv_free(char **v);
void strv_free_n(char **v, size_t n);
