/* SPDX-License-Identifier: MIT */
/* Early API mounts and configured mounts, with the table the shutdown unmounts from (mounts.h). */
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "devices.h"
#include "log.h"
#include "mounts.h"

#define FSTYPE_MAX 63U

static struct {
        char *path;
} table[MOUNT_TABLE_MAX];
static unsigned n_table;

/* --- options --------------------------------------------------------------------------------- */

static const struct {
        const char *name;
        unsigned long set, clear;
} flag_options[] = {
        { "defaults", 0, 0 },
        { "ro", MS_RDONLY, 0 },           { "rw", 0, MS_RDONLY },
        { "nosuid", MS_NOSUID, 0 },       { "suid", 0, MS_NOSUID },
        { "nodev", MS_NODEV, 0 },         { "dev", 0, MS_NODEV },
        { "noexec", MS_NOEXEC, 0 },       { "exec", 0, MS_NOEXEC },
        { "sync", MS_SYNCHRONOUS, 0 },    { "async", 0, MS_SYNCHRONOUS },
        { "dirsync", MS_DIRSYNC, 0 },
        { "noatime", MS_NOATIME, 0 },     { "atime", 0, MS_NOATIME },
        { "nodiratime", MS_NODIRATIME, 0 }, { "diratime", 0, MS_NODIRATIME },
        { "relatime", MS_RELATIME, 0 },   { "norelatime", 0, MS_RELATIME },
        { "strictatime", MS_STRICTATIME, 0 }, { "nostrictatime", 0, MS_STRICTATIME },
        { "lazytime", MS_LAZYTIME, 0 },   { "nolazytime", 0, MS_LAZYTIME },
};

/* mount(8) and fstab options: they change what mount(2) does, or mean nothing to the kernel. */
static const char *const refused_options[] = {
        "bind", "rbind", "remount", "move", "shared", "rshared", "private", "rprivate", "slave",
        "rslave", "unbindable", "runbindable", "loop", "user", "nouser", "users", "owner", "group",
        "nofail", "auto", "noauto", "_netdev",
};

static bool option_char_ok(char c) {
        return c > 0x20 && c < 0x7f && c != ',';
}

static int option_one(const char *o, size_t n, unsigned long *flags, struct buf *data, errbuf *err) {
        for (size_t i = 0; i < ELEMENTSOF(flag_options); i++)
                if (strlen(flag_options[i].name) == n && strncmp(o, flag_options[i].name, n) == 0) {
                        *flags = (*flags | flag_options[i].set) & ~flag_options[i].clear;
                        return 0;
                }
        for (size_t i = 0; i < ELEMENTSOF(refused_options); i++)
                if ((strlen(refused_options[i]) == n && strncmp(o, refused_options[i], n) == 0) ||
                    (n >= 2 && strncmp(o, "x-", 2) == 0))
                        return errbuf_set(err, -EINVAL, "mount option '%.*s' is a mount(8) option, not one "
                                          "of the kernel or the file system", (int) n, o);
        if (data->len > 0 && buf_append_str(data, ",") < 0)
                return -ENOMEM;
        return buf_append(data, o, n);
}

int mount_options_parse(const char *s, unsigned long *ret_flags, char **ret_data, errbuf *err) {
        struct buf data = {};
        unsigned long flags = 0;
        size_t len = s ? strlen(s) : 0;
        int r = 0;

        if (len > MOUNT_OPTIONS_MAX)
                return errbuf_set(err, -E2BIG, "mount options: longer than %u bytes", MOUNT_OPTIONS_MAX);
        for (size_t i = 0; i < len && r >= 0;) {
                size_t n = strcspn(s + i, ",");
                for (size_t k = 0; k < n; k++)
                        if (!option_char_ok(s[i + k])) {
                                _cleanup_free_ char *e = escape_untrusted(s + i, n, 64);
                                buf_free(&data);
                                return errbuf_set(err, -EINVAL, "mount option '%s': only printable ASCII "
                                                  "without spaces", e ? e : "?");
                        }
                if (n == 0)
                        r = errbuf_set(err, -EINVAL, "mount options: empty option at byte %zu", i);
                else
                        r = option_one(s + i, n, &flags, &data, err);
                i += n + 1;
                if (i == len && s[len - 1] == ',')
                        r = errbuf_set(err, -EINVAL, "mount options: empty option at the end");
        }
        if (r < 0) {
                buf_free(&data);
                return r;
        }
        *ret_data = buf_steal(&data, NULL);
        if (!*ret_data)
                return -ENOMEM;
        *ret_flags = flags;
        return 0;
}

/* --- early mounts ---------------------------------------------------------------------------- */

/* A mount point is the root of its mount: statx says so directly; the device number differing
 * from the parent's is the fallback for kernels before 5.8. */
static bool is_mountpoint(const char *path) {
        struct statx sx, parent;
        char up[PATH_MAX];

        if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0)
                return false;
        if (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)
                return sx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
        snprintf(up, sizeof(up), "%s/..", path);
        if (statx(AT_FDCWD, up, 0, STATX_BASIC_STATS, &parent) < 0)
                return false;
        return sx.stx_dev_major != parent.stx_dev_major || sx.stx_dev_minor != parent.stx_dev_minor;
}

int mounts_early(errbuf *err) {
        static const struct {
                const char *path, *type, *data;
                unsigned long flags;
                bool required, mkdir;
        } early[] = {
                { "/proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC, true, true },
                { "/sys", "sysfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC, true, true },
                { "/dev", "devtmpfs", "mode=0755", MS_NOSUID, true, true },
                { "/dev/pts", "devpts", "mode=0620,ptmxmode=0666", MS_NOSUID | MS_NOEXEC, false, true },
                { "/dev/shm", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV, false, true },
                { "/run", "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV, true, true },
                /* These directories exist only when the kernel has the file system. */
                { "/sys/kernel/security", "securityfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC, false, false },
                { "/sys/kernel/config", "configfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC, false, false },
                /* The unified cgroup hierarchy, for crun (image workloads, agent/image.h). */
                { "/sys/fs/cgroup", "cgroup2", "nsdelegate", MS_NOSUID | MS_NODEV | MS_NOEXEC, false, false },
        };

        for (size_t i = 0; i < ELEMENTSOF(early); i++) {
                if (early[i].mkdir && mkdir(early[i].path, 0755) < 0 && errno != EEXIST && early[i].required)
                        return errbuf_set(err, -errno, "cannot create %s: %s", early[i].path, strerror(errno));
                if (access(early[i].path, F_OK) < 0 || is_mountpoint(early[i].path))
                        continue;
                if (mount(early[i].type, early[i].path, early[i].type, early[i].flags, early[i].data) < 0) {
                        if (early[i].required)
                                return errbuf_set(err, -errno, "cannot mount %s on %s: %s", early[i].type,
                                                  early[i].path, strerror(errno));
                        log_debug_errno(errno, "Cannot mount %s on %s (tried again later): %m", early[i].type,
                                        early[i].path);
                        continue;
                }
                log_debug("Mounted %s on %s.", early[i].type, early[i].path);
        }
        return 0;
}

/* --- configured mounts ----------------------------------------------------------------------- */

static bool path_is_or_under(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

int mount_target_check(const char *path, errbuf *err) {
        static const char *const denied[] = { "/proc", "/sys", "/dev", "/run/cvminit", "/run/log" };
        _cleanup_free_ char *e = escape_untrusted(path ?: "", path ? strlen(path) : 0, 80);
        size_t len = path ? strlen(path) : 0;

        if (!e)
                return -ENOMEM;
        if (len < 2 || len >= PATH_MAX || path[0] != '/' || path[len - 1] == '/')
                return errbuf_set(err, -EINVAL, "mount path '%s': not an absolute path below /", e);
        for (const char *c = path + 1;;) {
                size_t n = strcspn(c, "/");
                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
                        return errbuf_set(err, -EINVAL, "mount path '%s': empty, '.' or '..' component", e);
                if (!c[n])
                        break;
                c += n + 1;
        }
        if (strcmp(path, "/run") == 0)
                return errbuf_set(err, -EINVAL, "mount path '%s': would hide cvminit's /run", e);
        for (size_t i = 0; i < ELEMENTSOF(denied); i++)
                if (path_is_or_under(path, denied[i]))
                        return errbuf_set(err, -EINVAL, "mount path '%s': inside %s, which cvminit owns", e,
                                          denied[i]);
        return 0;
}

int mount_point_create(const char *path) {
        char p[PATH_MAX];

        snprintf(p, sizeof(p), "%s", path);
        for (char *s = p + 1;; s++) {
                if (*s && *s != '/')
                        continue;
                char saved = *s;
                *s = 0;
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                if (!saved)
                        return 0;
                *s = saved;
        }
}

static bool fstype_valid(const char *fs) {
        size_t n = fs ? strlen(fs) : 0;
        return n > 0 && n <= FSTYPE_MAX &&
               strspn(fs, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* What libblkid finds must be what the config says: a clear message instead of mount's EINVAL.
 * The ext4 driver also mounts ext2 and ext3. */
static int check_fstype(const char *dev, const struct device_spec *spec, const char *fs, errbuf *err) {
        _cleanup_free_ char *found = NULL, *e = NULL;
        int r = device_fstype(dev, &found, err);

        if (r == -ENODATA)
                return errbuf_set(err, -EMEDIUMTYPE, "device %s (%s) holds no file system libblkid recognises, "
                                  "the config says %s", spec->text, dev, fs);
        if (r < 0)
                return r;
        if (strcmp(found, fs) == 0 ||
            (strcmp(fs, "ext4") == 0 && (strcmp(found, "ext2") == 0 || strcmp(found, "ext3") == 0)))
                return 0;
        e = escape_untrusted(found, strlen(found), 32);
        return errbuf_set(err, -EMEDIUMTYPE, "device %s (%s) holds %s, the config says %s", spec->text, dev,
                          e ? e : "?", fs);
}

int mount_configured(const char *device, const char *path, const char *fs, const char *options,
                     unsigned timeout_ms, errbuf *err) {
        _cleanup_free_ char *data = NULL, *dev = NULL, *target = NULL;
        struct device_spec spec;
        unsigned long flags;
        int r;

        r = device_spec_parse(device, &spec, err);
        if (r < 0)
                return r;
        r = mount_target_check(path, err);
        if (r < 0)
                return r;
        if (!fstype_valid(fs))
                return errbuf_set(err, -EINVAL, "mount of %s: file system type must be 1-%u characters of "
                                  "A-Z a-z 0-9 . _ -", spec.text, FSTYPE_MAX);
        r = mount_options_parse(options, &flags, &data, err);
        if (r < 0)
                return r;
        if (n_table >= MOUNT_TABLE_MAX)
                return errbuf_set(err, -E2BIG, "more than %u mounts", MOUNT_TABLE_MAX);
        target = strdup(path);
        if (!target)
                return -ENOMEM;

        r = device_wait(&spec, timeout_ms, &dev, err);
        if (r < 0)
                return r;
        r = check_fstype(dev, &spec, fs, err);
        if (r < 0)
                return r;
        r = mount_point_create(path);
        if (r < 0)
                return errbuf_set(err, r, "cannot create mount point %s: %s", path, strerror(-r));
        if (mount(dev, path, fs, flags, data) < 0)
                return errbuf_set(err, -errno, "cannot mount %s (%s, %s) on %s: %s%s", dev, spec.text, fs, path,
                                  strerror(errno), errno == EINVAL ? " (bad options? the kernel log says more)" : "");
        table[n_table++].path = TAKE_PTR(target);
        log_info("Mounted %s (%s, %s%s%s) on %s.", spec.text, dev, fs, options && options[0] ? ", " : "",
                 options ?: "", path);
        return 0;
}

void mounts_unmount_all(void) {
        while (n_table > 0) {
                _cleanup_free_ char *path = table[--n_table].path;
                if (umount2(path, 0) == 0)
                        continue;
                if (errno == EBUSY) {
                        (void) nanosleep(&(struct timespec) { .tv_nsec = 200 * 1000 * 1000 }, NULL);
                        if (umount2(path, 0) == 0)
                                continue;
                }
                log_warning_errno(errno, "Cannot unmount %s (%m): detaching it.", path);
                if (umount2(path, MNT_DETACH) < 0)
                        log_warning_errno(errno, "Cannot detach %s: %m", path);
        }
}
