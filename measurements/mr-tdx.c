/* SPDX-License-Identifier: MIT */
/* TDX registers and quotes through the kernel's files (mr-tdx.h). The kernel's rules: a write to
 * rtmrN:sha384 must be exactly 48 bytes at offset 0 and extends; a read gives the 48 raw bytes;
 * configfs-tsm's generation counts writes to the entry, so reading it before and after outblob
 * proves the quote is over our inblob. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mr-tdx.h"
#include "mr.h"

const char *tdx_sysfs_dir(void) {
        const char *e = secure_getenv("CVMINIT_TDX_SYSFS");
        return e && *e ? e : TDX_SYSFS_DEFAULT;
}

const char *tsm_configfs_dir(void) {
        const char *e = secure_getenv("CVMINIT_TSM_CONFIGFS");
        return e && *e ? e : TSM_CONFIGFS_DEFAULT;
}

static void measurement_path(const char *name, char out[static PATH_MAX]) {
        (void) snprintf(out, PATH_MAX, "%s/%s:sha384", tdx_sysfs_dir(), name);
}

bool tdx_available(void) {
        char path[PATH_MAX];

        measurement_path("rtmr3", path);
        return access(path, W_OK) == 0;
}

/* Reads up to max bytes to EOF; -EFBIG if there is more. */
static ssize_t read_all(int fd, uint8_t *p, size_t max) {
        size_t n = 0;

        for (;;) {
                ssize_t k = read(fd, p + n, max - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return (ssize_t) n;
                n += (size_t) k;
                if (n == max) {
                        uint8_t extra;
                        k = read(fd, &extra, 1);
                        return k == 0 ? (ssize_t) n : k > 0 ? -EFBIG : -errno;
                }
        }
}

int tdx_read_measurement(const char *name, uint8_t out[static TDX_RTMR_SIZE], errbuf *err) {
        char path[PATH_MAX];
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        measurement_path(name, path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        n = read_all(fd, out, TDX_RTMR_SIZE);
        if (n < 0)
                return errbuf_set(err, (int) n, "cannot read %s: %s", path,
                                  n == -EFBIG ? "more than 48 bytes" : strerror((int) -n));
        if (n != TDX_RTMR_SIZE)
                return errbuf_set(err, -EIO, "%s gave %zd bytes, not 48", path, n);
        return 0;
}

static int tdx_extend(struct mr *mr, const struct digest *digests, unsigned n) {
        char path[PATH_MAX];
        _cleanup_close_ int fd = -EBADF;
        ssize_t k;

        if (n != 1 || digests[0].alg != HASH_SHA384)
                return -EINVAL;
        measurement_path(mr->name, path);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        do
                k = pwrite(fd, digests[0].d, TDX_RTMR_SIZE, 0);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        return k == TDX_RTMR_SIZE ? 0 : -EIO;
}

static int tdx_read(struct mr *mr, enum hash_alg bank, uint8_t out[static HASH_MAX_SIZE]) {
        errbuf err = {};
        int r;

        if (bank != HASH_SHA384)
                return -EINVAL;
        r = tdx_read_measurement(mr->name, out, &err);
        if (r < 0)
                log_debug("%s", err.msg);
        return r;
}

static const struct mr_ops tdx_ops = {
        .kind = "tdx",
        .extend = tdx_extend,
        .read = tdx_read,
};

int mr_open_tdx(struct mr **ret, errbuf *err) {
        _cleanup_(mr_freep) struct mr *mr = NULL;
        uint8_t v[TDX_RTMR_SIZE];
        char path[PATH_MAX];
        int r;

        r = tdx_read_measurement("rtmr3", v, err);
        if (r < 0)
                return r;
        measurement_path("rtmr3", path);
        if (access(path, W_OK) < 0)
                return errbuf_set(err, -errno, "%s is not writable: %s", path, strerror(errno));
        mr = calloc(1, sizeof(*mr));
        if (!mr)
                return errbuf_set(err, -ENOMEM, "out of memory");
        mr->ops = &tdx_ops;
        snprintf(mr->name, sizeof(mr->name), "rtmr3");
        mr->n_banks = 1;
        mr->banks[0] = HASH_SHA384;
        *ret = TAKE_PTR(mr);
        return 0;
}

/* --- configfs-tsm ------------------------------------------------------------------------------ */

static int attr_path(const char *entry, const char *attr, char out[static PATH_MAX], errbuf *err) {
        int k = snprintf(out, PATH_MAX, "%s/%s", entry, attr);
        return k < 0 || k >= PATH_MAX ? errbuf_set(err, -ENAMETOOLONG, "%s: path too long", entry) : 0;
}

static int read_attr(const char *entry, const char *attr, char *buf, size_t size, errbuf *err) {
        char path[PATH_MAX];
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        if (attr_path(entry, attr, path, err) < 0)
                return -ENAMETOOLONG;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        n = read_all(fd, (uint8_t *) buf, size - 1);
        if (n < 0)
                return errbuf_set(err, (int) n, "cannot read %s: %s", path, strerror((int) -n));
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        return 0;
}

static int read_generation(const char *entry, uint64_t *ret, errbuf *err) {
        char buf[32], *end;
        int r = read_attr(entry, "generation", buf, sizeof(buf), err);

        if (r < 0)
                return r;
        errno = 0;
        *ret = strtoull(buf, &end, 10);
        if (errno || end == buf || *end)
                return errbuf_set(err, -EIO, "%s/generation: not a number", entry);
        return 0;
}

static int write_inblob(const char *entry, const uint8_t *p, errbuf *err) {
        char path[PATH_MAX];
        _cleanup_close_ int fd = -EBADF;
        ssize_t k;

        if (attr_path(entry, "inblob", path, err) < 0)
                return -ENAMETOOLONG;
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        do
                k = write(fd, p, TSM_INBLOB_SIZE);
        while (k < 0 && errno == EINTR);
        if (k != TSM_INBLOB_SIZE)
                return errbuf_set(err, k < 0 ? -errno : -EIO, "cannot write %s: %s", path,
                                  k < 0 ? strerror(errno) : "short write");
        return 0;
}

static int read_outblob(const char *entry, uint8_t **ret, size_t *ret_len, errbuf *err) {
        _cleanup_free_ uint8_t *p = malloc(TSM_OUTBLOB_MAX);
        char path[PATH_MAX];
        _cleanup_close_ int fd = -EBADF;
        ssize_t n;

        if (!p)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (attr_path(entry, "outblob", path, err) < 0)
                return -ENAMETOOLONG;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        n = read_all(fd, p, TSM_OUTBLOB_MAX);
        if (n == -EFBIG)
                return errbuf_set(err, -EFBIG, "%s: the quote is larger than %u bytes", path, TSM_OUTBLOB_MAX);
        if (n < 0)
                return errbuf_set(err, (int) n, "cannot read %s (the quote): %s", path, strerror((int) -n));
        if (n == 0)
                return errbuf_set(err, -EIO, "%s: empty quote", path);
        *ret = TAKE_PTR(p);
        *ret_len = (size_t) n;
        return 0;
}

static int quote_in(const char *entry, const uint8_t *report_data, const char *expected_provider, uint8_t **ret,
                    size_t *ret_len, errbuf *err) {
        _cleanup_free_ uint8_t *q = NULL;
        uint64_t g0, g1, g2;
        char provider[64];
        size_t n = 0;
        int r;

        r = read_attr(entry, "provider", provider, sizeof(provider), err);
        if (r < 0)
                return r;
        if (expected_provider && strcmp(provider, expected_provider) != 0)
                return errbuf_set(err, -ENODEV, "%s/provider is '%.32s', expected '%s'", entry, provider,
                                  expected_provider);
        r = read_generation(entry, &g0, err);
        if (r >= 0)
                r = write_inblob(entry, report_data, err);
        if (r >= 0)
                r = read_generation(entry, &g1, err);
        if (r >= 0)
                r = read_outblob(entry, &q, &n, err);
        if (r >= 0)
                r = read_generation(entry, &g2, err);
        if (r < 0)
                return r;
        /* One write of ours, none by anyone else while the quote was made. */
        if (g1 != g0 + 1 || g2 != g1)
                return errbuf_set(err, -EAGAIN, "%s was written by someone else while the quote was made "
                                  "(generation %" PRIu64 " → %" PRIu64 " → %" PRIu64 ")", entry, g0, g1, g2);
        *ret = TAKE_PTR(q);
        *ret_len = n;
        return 0;
}

int tsm_report_quote(const uint8_t report_data[static TSM_INBLOB_SIZE], const char *expected_provider,
                     uint8_t **ret, size_t *ret_len, errbuf *err) {
        static unsigned counter;
        char entry[PATH_MAX];
        int r;

        for (unsigned i = 0;; i++) {
                (void) snprintf(entry, sizeof(entry), "%s/report/cvminit-%d-%u", tsm_configfs_dir(), (int) getpid(),
                                counter++);
                if (mkdir(entry, 0700) == 0)
                        break;
                if (errno != EEXIST || i >= 16)
                        return errbuf_set(err, -errno, "cannot create the configfs-tsm report entry %s: %s", entry,
                                          strerror(errno));
        }
        r = quote_in(entry, report_data, expected_provider, ret, ret_len, err);
        if (rmdir(entry) < 0)
                log_debug("Cannot remove %s: %m", entry);
        return r;
}
