/* SPDX-License-Identifier: MIT */
/* TEST-ONLY scaffolding for tests/qemu/test-api.sh, never part of cvminit: the smallest HTTP/1.1
 * client of the attestation API (docs/api.md) for a guest without curl.
 *
 *   api-probe SOCKET METHOD TARGET [BODY]
 *
 * Sends one request (Connection: close; BODY with its Content-Length), writes the answer's body to
 * standard output and "api-probe: STATUS in N.N ms" to standard error. Exit status 0 for 2xx, 1 for
 * another status, 2 for usage or transport errors. Answers over 8 MiB are refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX (8U << 20)

static double now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return -1;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int connect_to(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -1;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                close(fd);
                fd = -1;
        }
        return fd;
}

/* Reads until EOF into a malloc'd buffer. */
static char *read_all(int fd, size_t *ret_len) {
        size_t cap = 65536, n = 0;
        char *p = malloc(cap + 1);

        while (p) {
                ssize_t k = read(fd, p + n, cap - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        break;
                if (k == 0) {
                        p[n] = 0;
                        *ret_len = n;
                        return p;
                }
                n += (size_t) k;
                if (n == cap) {
                        char *q = cap < ANSWER_MAX ? realloc(p, 2 * cap + 1) : NULL;
                        if (!q)
                                break;
                        p = q;
                        cap *= 2;
                }
        }
        free(p);
        return NULL;
}

int main(int argc, char **argv) {
        const char *body = argc > 4 ? argv[4] : "";
        char *req = NULL, *ans, *hdr_end;
        size_t len = 0;
        int fd, status = 0;
        double t0;

        if (argc < 4 || argc > 5) {
                fprintf(stderr, "usage: api-probe SOCKET METHOD TARGET [BODY]\n");
                return 2;
        }
        t0 = now_ms();
        fd = connect_to(argv[1]);
        if (fd < 0 || asprintf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                               argv[2], argv[3], strlen(body), body) < 0 ||
            write_all(fd, req, strlen(req)) < 0 || !(ans = read_all(fd, &len))) {
                fprintf(stderr, "api-probe: %s: %s\n", argv[1], strerror(errno));
                return 2;
        }
        hdr_end = strstr(ans, "\r\n\r\n");
        if (!hdr_end || sscanf(ans, "HTTP/1.1 %d", &status) != 1) {
                fprintf(stderr, "api-probe: not an HTTP answer\n");
                return 2;
        }
        hdr_end += 4;
        (void) write_all(STDOUT_FILENO, hdr_end, len - (size_t) (hdr_end - ans));
        fprintf(stderr, "api-probe: %d in %.1f ms\n", status, now_ms() - t0);
        return status >= 200 && status < 300 ? 0 : 1;
}
