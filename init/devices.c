/* SPDX-License-Identifier: MIT */
/* Block devices by tag or path, found with libblkid, waited for with a deadline (devices.h). */
#include <blkid.h>
#include <dirent.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "devices.h"
#include "log.h"

static const struct {
        const char *prefix;
        const char *tag; /* libblkid's name for it */
} tags[_DEVICE_SPEC_KIND_MAX] = {
        [DEVICE_SPEC_PATH] = { "/dev/", NULL },
        [DEVICE_SPEC_LABEL] = { "LABEL=", "LABEL" },
        [DEVICE_SPEC_PARTLABEL] = { "PARTLABEL=", "PARTLABEL" },
        [DEVICE_SPEC_UUID] = { "UUID=", "UUID" },
        [DEVICE_SPEC_SERIAL] = { "SERIAL=", NULL }, /* sysfs, not libblkid */
};

static bool label_valid(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return false;
        return utf8_valid(s, strlen(s));
}

static bool serial_valid(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p >= 0x7f)
                        return false;
        return true;
}

static bool uuid_valid(const char *s) {
        return strspn(s, "0123456789abcdefABCDEF-") == strlen(s);
}

/* /dev/a/b: printable ASCII, no empty, "." or ".." component, no trailing '/'. */
static bool dev_path_valid(const char *s) {
        const char *c = s + 1;

        for (const char *p = s; *p; p++)
                if (*p <= 0x20 || *p >= 0x7f)
                        return false;
        for (;;) {
                size_t n = strcspn(c, "/");
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                if (!c[n])
                        return true;
                c += n + 1;
        }
}

int device_spec_parse(const char *s, struct device_spec *ret, errbuf *err) {
        _cleanup_free_ char *e = NULL;
        size_t len = s ? strlen(s) : 0;

        *ret = (struct device_spec) {};
        e = escape_untrusted(s ?: "", len, 64);
        if (!e)
                return -ENOMEM;
        snprintf(ret->text, sizeof(ret->text), "%s", e);
        for (int k = 0; k < _DEVICE_SPEC_KIND_MAX; k++) {
                size_t pl = strlen(tags[k].prefix);
                if (len < pl || strncmp(s, tags[k].prefix, pl) != 0)
                        continue;
                const char *v = k == DEVICE_SPEC_PATH ? s : s + pl;
                if (!*v || strlen(v) > DEVICE_SPEC_MAX || (k == DEVICE_SPEC_PATH && len == pl))
                        return errbuf_set(err, -EINVAL, "device %s: the %s must have 1 to %u bytes", e,
                                          k == DEVICE_SPEC_PATH ? "path" : "value", DEVICE_SPEC_MAX);
                if ((k == DEVICE_SPEC_LABEL || k == DEVICE_SPEC_PARTLABEL) && !label_valid(v))
                        return errbuf_set(err, -EINVAL, "device %s: a label must be UTF-8 without control "
                                          "characters", e);
                if (k == DEVICE_SPEC_SERIAL && !serial_valid(v))
                        return errbuf_set(err, -EINVAL, "device %s: a serial number is printable ASCII", e);
                if (k == DEVICE_SPEC_UUID && !uuid_valid(v))
                        return errbuf_set(err, -EINVAL, "device %s: a UUID has only hex digits and '-'", e);
                if (k == DEVICE_SPEC_PATH && !dev_path_valid(v))
                        return errbuf_set(err, -EINVAL, "device %s: not a plain /dev/ path (printable, no "
                                          "'.', '..' or empty components)", e);
                ret->kind = (enum device_spec_kind) k;
                memcpy(ret->value, v, strlen(v) + 1);
                return 0;
        }
        return errbuf_set(err, -EINVAL, "device '%s': expected LABEL=, PARTLABEL=, UUID=, SERIAL= or a /dev/ path", e);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

/* libblkid reports failures as -1 or NULL, sometimes with errno set: one conversion for all. */
static int blkid_error(void) {
        return errno > 0 ? -errno : -EIO;
}

/* 1 and the node if the tag is found now, 0 if not (yet). A fresh cache backed by /dev/null each
 * time: nothing stale is remembered and nothing is written. */
static int find_tag(const struct device_spec *spec, char **ret_path) {
        blkid_cache cache = NULL;
        char *dev;

        errno = 0;
        if (blkid_get_cache(&cache, "/dev/null") < 0)
                return blkid_error();
        dev = blkid_get_devname(cache, tags[spec->kind].tag, spec->value);
        blkid_put_cache(cache);
        if (!dev)
                return 0;
        *ret_path = dev;
        return 1;
}

static int find_path(const struct device_spec *spec, char **ret_path, errbuf *err) {
        struct stat st;

        if (stat(spec->value, &st) < 0)
                return errno == ENOENT ? 0 : errbuf_set(err, -errno, "device %s: %s", spec->text, strerror(errno));
        if (!S_ISBLK(st.st_mode))
                return errbuf_set(err, -ENOTBLK, "device %s: not a block device", spec->text);
        *ret_path = strdup(spec->value);
        return *ret_path ? 1 : -ENOMEM;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static const char *sys_class_block(void) {
        const char *e = getpid() != 1 ? getenv("CVMINIT_SYS_CLASS_BLOCK") : NULL;
        return e && *e ? e : DEVICE_SYS_CLASS_BLOCK;
}

/* True if DIR/NAME/REL holds the serial (sysfs pads some, e.g. NVMe's, with blanks). */
static bool serial_matches(const char *dir, const char *name, const char *rel, const char *want) {
        _cleanup_free_ uint8_t *p = NULL;
        char path[PATH_MAX];
        size_t n;

        snprintf(path, sizeof(path), "%s/%s/%s", dir, name, rel);
        if (read_file_limited(path, 4096, &p, &n) < 0)
                return false;
        while (n > 0 && strchr(" \t\n", p[n - 1]))
                n--;
        return n == strlen(want) && memcmp(p, want, n) == 0;
}

static int find_serial(const struct device_spec *spec, char **ret_path) {
        const char *dir = sys_class_block();
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (!serial_matches(dir, de->d_name, "serial", spec->value) &&
                    !serial_matches(dir, de->d_name, "device/serial", spec->value))
                        continue;
                return asprintf(ret_path, "/dev/%s", de->d_name) < 0 ? -ENOMEM : 1;
        }
        return 0;
}

/* The block devices the kernel knows (for the timeout message), at most a few. */
static void seen_devices(char *out, size_t size) {
        _cleanup_(closedirp) DIR *d = opendir(sys_class_block());
        struct dirent *de;
        size_t k = 0;
        int n = 0;

        snprintf(out, size, "none");
        while (d && (de = readdir(d)) && k + 1 < size) {
                if (de->d_name[0] == '.')
                        continue;
                if (n++ == 16) {
                        snprintf(out + k, size - k, " ...");
                        break;
                }
                int w = snprintf(out + k, size - k, "%s%s", k ? " " : "", de->d_name);
                k = w < 0 ? size : k + (size_t) w;
        }
}

int device_wait(const struct device_spec *spec, unsigned timeout_ms, char **ret_path, errbuf *err) {
        uint64_t start = now_ms(), deadline = start + timeout_ms;

        for (;;) {
                int r = spec->kind == DEVICE_SPEC_PATH     ? find_path(spec, ret_path, err)
                        : spec->kind == DEVICE_SPEC_SERIAL ? find_serial(spec, ret_path)
                                                           : find_tag(spec, ret_path);
                if (r < 0)
                        return r;
                if (r > 0) {
                        log_debug("Device %s is %s (after %llu ms).", spec->text, *ret_path,
                                  (unsigned long long) (now_ms() - start));
                        return 0;
                }
                uint64_t now = now_ms();
                if (now >= deadline) {
                        char seen[256];
                        seen_devices(seen, sizeof(seen));
                        return errbuf_set(err, -ETIMEDOUT, "device %s did not appear within %u ms (block "
                                          "devices present: %s)", spec->text, timeout_ms, seen);
                }
                uint64_t wait = deadline - now < DEVICE_POLL_MS ? deadline - now : DEVICE_POLL_MS;
                (void) nanosleep(&(struct timespec) { .tv_nsec = (long) wait * 1000000L }, NULL);
        }
}

DEFINE_TRIVIAL_CLEANUP_FUNC(blkid_probe, blkid_free_probe);

int device_fstype(const char *path, char **ret, errbuf *err) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        const char *type = NULL;
        int rc;

        errno = 0;
        pr = blkid_new_probe_from_filename(path);
        if (!pr) {
                int r = blkid_error();
                return errbuf_set(err, r, "cannot probe %s: %s", path, strerror(-r));
        }
        (void) blkid_probe_enable_superblocks(pr, 1);
        (void) blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
        rc = blkid_do_safeprobe(pr);
        if (rc == -2)
                return errbuf_set(err, -ENOTUNIQ, "%s carries more than one file system signature", path);
        if (rc < 0) {
                int r = blkid_error();
                return errbuf_set(err, r, "cannot probe %s: %s", path, strerror(-r));
        }
        if (rc == 1 || blkid_probe_lookup_value(pr, "TYPE", &type, NULL) < 0 || !type)
                return -ENODATA;
        *ret = strdup(type);
        return *ret ? 0 : -ENOMEM;
}
