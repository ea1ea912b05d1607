/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "util.h"

int errbuf_set(errbuf *e, int r, const char *format, ...) {
        va_list ap;

        if (e) {
                va_start(ap, format);
                (void) vsnprintf(e->msg, sizeof(e->msg), format, ap);
                va_end(ap);
        }
        return r;
}

static int buf_reserve(struct buf *b, size_t extra) {
        size_t max = b->max ? b->max : SIZE_MAX / 2, need, cap;
        char *p;

        if (extra > max || b->len > max - extra)
                return -E2BIG;
        need = b->len + extra + 1;
        if (need <= b->cap)
                return 0;
        cap = b->cap ? b->cap : 256;
        while (cap < need)
                cap *= 2;
        p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

int buf_append(struct buf *b, const void *p, size_t n) {
        int r = buf_reserve(b, n);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = 0;
        return 0;
}

int buf_append_str(struct buf *b, const char *s) {
        return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *format, ...) {
        va_list ap;
        int n, r;

        va_start(ap, format);
        n = vsnprintf(NULL, 0, format, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        r = buf_reserve(b, (size_t) n);
        if (r < 0)
                return r;
        va_start(ap, format);
        (void) vsnprintf(b->data + b->len, (size_t) n + 1, format, ap);
        va_end(ap);
        b->len += (size_t) n;
        return 0;
}

int buf_append_u16le(struct buf *b, uint16_t v) {
        uint8_t p[2] = { v & 0xff, v >> 8 };
        return buf_append(b, p, sizeof(p));
}

int buf_append_u32le(struct buf *b, uint32_t v) {
        uint8_t p[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
        return buf_append(b, p, sizeof(p));
}

void buf_free(struct buf *b) {
        free(b->data);
        b->data = NULL;
        b->len = b->cap = 0;
}

void buf_erase(struct buf *b) {
        if (b->data)
                explicit_bzero(b->data, b->cap);
        buf_free(b);
}

char *buf_steal(struct buf *b, size_t *ret_len) {
        char *p = b->data;

        if (!p)
                p = calloc(1, 1);
        if (ret_len)
                *ret_len = b->len;
        b->data = NULL;
        b->len = b->cap = 0;
        return p;
}

void hex_encode(const void *p, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *q = p;

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[q[i] >> 4];
                out[2 * i + 1] = digits[q[i] & 15];
        }
        out[2 * n] = 0;
}

char *hexmem(const void *p, size_t n) {
        char *s = malloc(2 * n + 1);
        if (s)
                hex_encode(p, n, s);
        return s;
}

static int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int unhex(const char *s, size_t len, uint8_t *out, size_t max) {
        if (len % 2)
                return -EINVAL;
        if (len / 2 > max)
                return -E2BIG;
        for (size_t i = 0; i < len; i += 2) {
                int hi = unhexchar(s[i]), lo = unhexchar(s[i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i / 2] = (uint8_t) (hi << 4 | lo);
        }
        return (int) (len / 2);
}

int read_fd_limited(int fd, size_t max, uint8_t **ret, size_t *ret_len) {
        struct buf b = { .max = max };
        char chunk[16384];

        for (;;) {
                ssize_t n = read(fd, chunk, sizeof(chunk));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        buf_free(&b);
                        return r;
                }
                if (n == 0)
                        break;
                int r = buf_append(&b, chunk, (size_t) n);
                if (r < 0) {
                        buf_free(&b);
                        return r == -E2BIG ? -EFBIG : r;
                }
        }
        *ret = (uint8_t *) buf_steal(&b, ret_len);
        return *ret ? 0 : -ENOMEM;
}

int read_file_at_limited(int dirfd, const char *path, int flags, size_t max, uint8_t **ret, size_t *ret_len) {
        /* O_NONBLOCK: a FIFO planted where a file is expected must not hang us in open(). */
        _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);
        struct stat st;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        return read_fd_limited(fd, max, ret, ret_len);
}

int read_file_limited(const char *path, size_t max, uint8_t **ret, size_t *ret_len) {
        return read_file_at_limited(AT_FDCWD, path, 0, max, ret, ret_len);
}

int loop_write(int fd, const void *p, size_t n) {
        const char *q = p;

        while (n > 0) {
                ssize_t k = write(fd, q, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                q += k;
                n -= (size_t) k;
        }
        return 0;
}

char *escape_untrusted(const char *s, size_t len, size_t max) {
        struct buf b = {};
        int r = 0;

        if (max < 8)
                max = 8;
        for (size_t i = 0; i < len && r >= 0; i++) {
                unsigned char c = (unsigned char) s[i];
                if (b.len + 4 > max - 3) {
                        r = buf_append_str(&b, "...");
                        break;
                }
                if (c >= 0x20 && c < 0x7f && c != '\\')
                        r = buf_append(&b, &c, 1);
                else
                        r = buf_printf(&b, "\\x%02x", c);
        }
        if (r < 0) {
                buf_free(&b);
                return NULL;
        }
        return buf_steal(&b, NULL);
}

int safe_atou64(const char *s, uint64_t *ret) {
        uint64_t v = 0;

        if (!s || !*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return 0;
}

int safe_atou(const char *s, unsigned *ret) {
        uint64_t v;
        int r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

bool utf8_valid(const char *s, size_t len) {
        const unsigned char *p = (const unsigned char *) s;
        size_t i = 0;

        while (i < len) {
                unsigned char c = p[i];
                size_t n;
                uint32_t cp;

                if (c < 0x80) {
                        i++;
                        continue;
                } else if ((c & 0xe0) == 0xc0) {
                        n = 1;
                        cp = c & 0x1f;
                } else if ((c & 0xf0) == 0xe0) {
                        n = 2;
                        cp = c & 0x0f;
                } else if ((c & 0xf8) == 0xf0) {
                        n = 3;
                        cp = c & 0x07;
                } else
                        return false;
                if (len - i <= n)
                        return false;
                for (size_t k = 1; k <= n; k++) {
                        if ((p[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (p[i + k] & 0x3f);
                }
                if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += n + 1;
        }
        return true;
}

bool std_fds_ensure(void) {
        bool had_stderr = fcntl(STDERR_FILENO, F_GETFD) >= 0;

        for (int fd = 0; fd <= 2; fd++)
                if (fcntl(fd, F_GETFD) < 0) {
                        int n = open("/dev/null", O_RDWR | O_NOCTTY);
                        if (n >= 0 && n != fd) {
                                (void) dup2(n, fd);
                                (void) close(n);
                        }
                }
        return had_stderr;
}

void strv_free(char **v) {
        for (size_t i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

void strv_free_n(char **v, size_t n) {
        for (size_t i = 0; v && i < n; i++)
                free(v[i]);
        free(v);
}
