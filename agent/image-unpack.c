/* SPDX-License-Identifier: MIT */
/* OCI layers applied to a root file system; see image-unpack.h. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <openssl/evp.h>

#include "hashalg.h"
#include "image-unpack.h"
#include "log.h"

#define READ_SIZE (1U << 20)
#define NAME_SHOWN_MAX 160U
#define RM_DEPTH_MAX 64U
#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META ".wh..wh."

/* ---- the set of paths this layer created (whiteouts apply to lower layers only) ---- */

struct pathset {
        char **slots;
        size_t cap, n;
};

static uint64_t fnv1a(const char *s) {
        uint64_t h = 0xcbf29ce484222325ULL;
        for (; *s; s++)
                h = (h ^ (unsigned char) *s) * 0x100000001b3ULL;
        return h;
}

static size_t pathset_slot(const struct pathset *s, const char *p) {
        size_t i = (size_t) fnv1a(p) & (s->cap - 1);
        while (s->slots[i] && strcmp(s->slots[i], p) != 0)
                i = (i + 1) & (s->cap - 1);
        return i;
}

static bool pathset_has(const struct pathset *s, const char *p) {
        return s->cap > 0 && s->slots[pathset_slot(s, p)];
}

static int pathset_grow(struct pathset *s) {
        struct pathset g = { .cap = s->cap ? 2 * s->cap : 1024 };

        g.slots = calloc(g.cap, sizeof(char *));
        if (!g.slots)
                return -ENOMEM;
        for (size_t i = 0; i < s->cap; i++)
                if (s->slots[i])
                        g.slots[pathset_slot(&g, s->slots[i])] = s->slots[i];
        g.n = s->n;
        free(s->slots);
        *s = g;
        return 0;
}

/* Adds p (len bytes of it); returns 1 if it was new. */
static int pathset_add(struct pathset *s, const char *p, size_t len) {
        _cleanup_free_ char *copy = strndup(p, len);
        size_t i;

        if (!copy)
                return -ENOMEM;
        if (pathset_has(s, copy))
                return 0;
        if (s->n >= UNPACK_ENTRIES_MAX)
                return -E2BIG;
        if (2 * (s->n + 1) > s->cap && pathset_grow(s) < 0)
                return -ENOMEM;
        i = pathset_slot(s, copy);
        s->slots[i] = TAKE_PTR(copy);
        s->n++;
        return 1;
}

/* p and its ancestors: an opaque whiteout keeps whatever this layer put below a directory. */
static int pathset_add_with_parents(struct pathset *s, const char *p) {
        for (size_t len = strlen(p); len > 0;) {
                int r = pathset_add(s, p, len);
                if (r <= 0)
                        return r;
                while (len > 0 && p[len - 1] != '/')
                        len--;
                if (len > 0)
                        len--; /* drop the '/' */
        }
        return 0;
}

static void pathset_free(struct pathset *s) {
        for (size_t i = 0; i < s->cap; i++)
                free(s->slots[i]);
        free(s->slots);
        *s = (struct pathset) {};
}

/* ---- removing trees ---- */

struct rm {
        int trashfd;
        unsigned next, done; /* trash entries made and removed */
        errbuf *err;
};

static int rm_at(struct rm *c, int dirfd, const char *name, unsigned depth);

static int rm_children(struct rm *c, int fd, unsigned depth) {
        DIR *d = fdopendir(fd);
        struct dirent *de;
        int r = 0;

        if (!d) {
                r = -errno;
                safe_close(fd);
                return errbuf_set(c->err, r, "cannot list a directory to remove it: %s", strerror(-r));
        }
        while (r >= 0) {
                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno)
                                r = errbuf_set(c->err, -errno, "cannot list a directory to remove it: %m");
                        break;
                }
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        r = rm_at(c, dirfd(d), de->d_name, depth + 1);
        }
        closedir(d);
        return r;
}

/* Too deep: moved into the trash under a fresh name, to be removed from there. */
static int rm_defer(struct rm *c, int dirfd, const char *name) {
        for (;;) {
                char t[64];
                snprintf(t, sizeof(t), ".cvminit-trash-%u", c->next);
                if (syscall(SYS_renameat2, dirfd, name, c->trashfd, t, RENAME_NOREPLACE) == 0) {
                        c->next++;
                        return 0;
                }
                /* An existing name is trash a crash left: tree_remove takes it away as well. */
                if (errno != EEXIST || c->next == UINT_MAX)
                        return errbuf_set(c->err, -errno, "cannot move a deep directory aside to remove it: %m");
                c->next++;
        }
}

static int rm_at(struct rm *c, int dirfd, const char *name, unsigned depth) {
        int fd, r;

        if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
                return 0;
        if (errno != EISDIR && errno != EPERM)
                return errbuf_set(c->err, -errno, "cannot remove '%s': %m", name);
        if (depth >= RM_DEPTH_MAX)
                return rm_defer(c, dirfd, name);
        fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return errbuf_set(c->err, -errno, "cannot remove '%s': %m", name);
        r = rm_children(c, fd, depth);
        if (r >= 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                r = errbuf_set(c->err, -errno, "cannot remove the directory '%s': %m", name);
        return r;
}

int tree_remove(int dirfd, const char *name, int trashfd, errbuf *err) {
        struct rm c = { .trashfd = trashfd, .err = err };
        int r = rm_at(&c, dirfd, name, 0);

        /* Each deferred directory is removed from the trash; deeper ones there are deferred again. */
        while (r >= 0 && c.done < c.next) {
                char t[64];
                snprintf(t, sizeof(t), ".cvminit-trash-%u", c.done++);
                r = rm_at(&c, trashfd, t, 0);
        }
        return r;
}

/* ---- names ---- */

/* raw cleaned into a relative path without ".", empty components or trailing '/' ("" for the
 * root itself). -EPERM: absolute or with "..". */
static int clean_path(const char *raw, char *out, size_t size, unsigned *depth) {
        size_t k = 0;

        *depth = 0;
        if (raw[0] == '/')
                return -EPERM;
        for (const char *p = raw; *p;) {
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return -EPERM;
                if (n > NAME_MAX)
                        return -ENAMETOOLONG;
                if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (k + (k > 0) + n + 1 > size)
                                return -ENAMETOOLONG;
                        if (k > 0)
                                out[k++] = '/';
                        memcpy(out + k, p, n);
                        k += n;
                        if (++*depth > UNPACK_DEPTH_MAX)
                                return -ELOOP;
                }
                p += n + (p[n] == '/');
        }
        out[k] = 0;
        return 0;
}

/* A relative symlink target may not climb above the rootfs from the link's directory (depth). */
static bool symlink_stays_inside(const char *target, unsigned depth) {
        long level = target[0] == '/' ? 0 : (long) depth;

        for (const char *p = target; *p;) {
                size_t n = strcspn(p, "/");
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        if (--level < 0)
                                return false;
                } else if (n > 0 && !(n == 1 && p[0] == '.'))
                        level++;
                p += n + (p[n] == '/');
        }
        return true;
}

/* ---- the unpacker ---- */

struct unpacker {
        struct archive *a;
        int rootfd, trashfd, blob_fd;
        const struct unpack_layer *l;
        EVP_MD_CTX *md;
        uint8_t *rbuf;
        uint64_t read_total;
        int read_error;
        struct pathset seen;
        bool root;
        struct unpack_stats *st;
        errbuf *err;
        /* the current entry, for messages */
        const char *name;
};

static int fail(struct unpacker *u, int r, const char *format, ...) _printf_(3, 4);
static int fail(struct unpacker *u, int r, const char *format, ...) {
        _cleanup_free_ char *esc = escape_untrusted(u->name ? u->name : "", u->name ? strlen(u->name) : 0,
                                                     NAME_SHOWN_MAX);
        char what[320];
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(what, sizeof(what), format, ap);
        va_end(ap);
        return errbuf_set(u->err, r, "%s: entry '%s': %s", u->l->label, esc ? esc : "?", what);
}

static la_ssize_t read_cb(struct archive *a, void *userdata, const void **buf) {
        struct unpacker *u = userdata;

        for (;;) {
                ssize_t n = read(u->blob_fd, u->rbuf, READ_SIZE);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 || (uint64_t) n > u->l->size - u->read_total) {
                        u->read_error = n < 0 ? -errno : -EBADMSG;
                        archive_set_error(a, EIO, "%s", n < 0 ? "read error" : "the blob grew");
                        return -1;
                }
                if (EVP_DigestUpdate(u->md, u->rbuf, (size_t) n) != 1) {
                        u->read_error = -EIO;
                        archive_set_error(a, EIO, "digest update failed");
                        return -1;
                }
                u->read_total += (uint64_t) n;
                *buf = u->rbuf;
                return n;
        }
}

/* dir ("" = the root) as an O_PATH fd, resolved inside the rootfs; missing directories created
 * (0755, owned by root) when create. */
static int open_dir(struct unpacker *u, const char *dir, bool create, int *ret) {
        struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV };
        char prefix[PATH_MAX];
        int fd = (int) syscall(SYS_openat2, u->rootfd, dir[0] ? dir : ".", &how, sizeof(how));

        if (fd >= 0 || errno != ENOENT || !create) {
                *ret = fd;
                return fd < 0 ? -errno : 0;
        }
        /* Component by component, creating what is missing (all of it this layer's). */
        for (const char *p = dir;;) {
                const char *end = strchrnul(p, '/');
                _cleanup_close_ int parent = -EBADF;
                snprintf(prefix, sizeof(prefix), "%.*s", (int) (end - dir), dir);
                fd = (int) syscall(SYS_openat2, u->rootfd, prefix, &how, sizeof(how));
                if (fd < 0 && errno == ENOENT) {
                        const char *base = strrchr(prefix, '/');
                        char up[PATH_MAX];
                        snprintf(up, sizeof(up), "%.*s", base ? (int) (base - prefix) : 0, prefix);
                        parent = (int) syscall(SYS_openat2, u->rootfd, up[0] ? up : ".", &how, sizeof(how));
                        if (parent < 0)
                                return -errno;
                        if (mkdirat(parent, base ? base + 1 : prefix, 0755) < 0)
                                return errno == EEXIST ? -ENOTDIR : -errno; /* a dangling symlink in the way */
                        fd = (int) syscall(SYS_openat2, u->rootfd, prefix, &how, sizeof(how));
                }
                if (fd < 0)
                        return -errno;
                if (!*end) {
                        *ret = fd;
                        return 0;
                }
                safe_close(fd);
                p = end + 1;
        }
}

/* An existing directory stays for a directory; anything else in the way is removed. */
static int make_room(struct unpacker *u, int pfd, const char *base, bool is_dir, bool *ret_exists) {
        struct stat st;
        errbuf e = {};
        int r;

        *ret_exists = false;
        if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : fail(u, -errno, "cannot look at what is there: %m");
        if (is_dir && S_ISDIR(st.st_mode)) {
                *ret_exists = true;
                return 0;
        }
        r = tree_remove(pfd, base, u->trashfd, &e);
        return r < 0 ? fail(u, r, "cannot replace what is there: %s", e.msg) : 0;
}

static int owner(struct unpacker *u, struct archive_entry *e, uid_t *uid, gid_t *gid) {
        la_int64_t U = archive_entry_uid(e), G = archive_entry_gid(e);

        if (U < 0 || G < 0 || U >= (la_int64_t) UINT32_MAX || G >= (la_int64_t) UINT32_MAX)
                return fail(u, -EINVAL, "owner %" PRId64 ":%" PRId64 " out of range", (int64_t) U, (int64_t) G);
        *uid = (uid_t) U;
        *gid = (gid_t) G;
        return 0;
}

/* Owner, then mode (chown clears setuid bits), then time, on an open fd. */
static int finish_fd(struct unpacker *u, struct archive_entry *e, int fd, bool times) {
        uid_t uid;
        gid_t gid;
        int r = owner(u, e, &uid, &gid);

        if (r < 0)
                return r;
        if (u->root && fchown(fd, uid, gid) < 0)
                return fail(u, -errno, "cannot set the owner: %m");
        if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
                return fail(u, -errno, "cannot set the mode: %m");
        if (times && archive_entry_mtime_is_set(e)) {
                struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
                                          { .tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e) } };
                if (futimens(fd, ts) < 0)
                        return fail(u, -errno, "cannot set the modification time: %m");
        }
        return 0;
}

static int write_data(struct unpacker *u, int fd) {
        for (;;) {
                const void *p;
                size_t n;
                la_int64_t off;
                int a = archive_read_data_block(u->a, &p, &n, &off);
                if (a == ARCHIVE_EOF)
                        return 0;
                if (a != ARCHIVE_OK)
                        return fail(u, u->read_error ?: -EBADMSG, "cannot read its data: %s", archive_error_string(u->a));
                for (size_t done = 0; done < n;) {
                        ssize_t k = pwrite(fd, (const char *) p + done, n - done, (off_t) off + (off_t) done);
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0)
                                return fail(u, k < 0 ? -errno : -EIO, "cannot write: %m");
                        done += (size_t) k;
                }
                u->st->bytes += n;
        }
}

static int make_file(struct unpacker *u, struct archive_entry *e, int pfd, const char *base) {
        _cleanup_close_ int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                                        0600);
        int r;

        if (fd < 0)
                return fail(u, -errno, "cannot create: %m");
        r = write_data(u, fd);
        if (r >= 0 && archive_entry_size_is_set(e) && ftruncate(fd, (off_t) archive_entry_size(e)) < 0)
                r = fail(u, -errno, "cannot set the size: %m");
        return r < 0 ? r : finish_fd(u, e, fd, true);
}

static int make_dir(struct unpacker *u, struct archive_entry *e, int pfd, const char *base, bool exists) {
        _cleanup_close_ int fd = -EBADF;

        if (!exists && mkdirat(pfd, base, 0700) < 0)
                return fail(u, -errno, "cannot create the directory: %m");
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return fail(u, -errno, "cannot open the directory: %m");
        return finish_fd(u, e, fd, false);
}

static int make_symlink(struct unpacker *u, struct archive_entry *e, int pfd, const char *base, unsigned depth) {
        const char *target = archive_entry_symlink_utf8(e) ?: archive_entry_symlink(e);
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_nsec = UTIME_OMIT } };
        uid_t uid;
        gid_t gid;
        int r;

        if (!target || !target[0] || strlen(target) >= PATH_MAX)
                return fail(u, -EINVAL, "symlink without a usable target");
        if (!symlink_stays_inside(target, depth - 1)) {
                _cleanup_free_ char *t = escape_untrusted(target, strlen(target), NAME_SHOWN_MAX);
                return fail(u, -EPERM, "symlink target '%s' leaves the rootfs", t ? t : "?");
        }
        r = owner(u, e, &uid, &gid);
        if (r < 0)
                return r;
        if (symlinkat(target, pfd, base) < 0)
                return fail(u, -errno, "cannot create the symlink: %m");
        if (u->root && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(u, -errno, "cannot set the owner: %m");
        if (archive_entry_mtime_is_set(e)) {
                ts[1] = (struct timespec) { .tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e) };
                if (utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
                        return fail(u, -errno, "cannot set the modification time: %m");
        }
        return 0;
}

static int make_hardlink(struct unpacker *u, struct archive_entry *e, int pfd, const char *base, const char *path) {
        const char *raw = archive_entry_hardlink_utf8(e) ?: archive_entry_hardlink(e);
        _cleanup_free_ char *esc = raw ? escape_untrusted(raw, strlen(raw), NAME_SHOWN_MAX) : NULL;
        _cleanup_close_ int tfd = -EBADF;
        char target[PATH_MAX], *slash;
        unsigned depth;
        struct stat st;
        int r;

        r = clean_path(raw, target, sizeof(target), &depth);
        if (r < 0 || !target[0])
                return fail(u, -EPERM, "hardlink target '%s' leaves the rootfs", esc ? esc : "?");
        if (strcmp(target, path) == 0)
                return fail(u, -EINVAL, "hardlink to itself");
        slash = strrchr(target, '/');
        if (slash)
                *slash = 0;
        r = open_dir(u, slash ? target : "", false, &tfd);
        if (r >= 0 && fstatat(tfd, slash ? slash + 1 : target, &st, AT_SYMLINK_NOFOLLOW) < 0)
                r = -errno;
        if (r < 0)
                return fail(u, r, "hardlink target '%s' is not in the rootfs: %s", esc ? esc : "?", strerror(-r));
        if (S_ISDIR(st.st_mode))
                return fail(u, -EPERM, "hardlink target '%s' is a directory", esc ? esc : "?");
        if (linkat(tfd, slash ? slash + 1 : target, pfd, base, 0) < 0)
                return fail(u, -errno, "cannot create the hardlink: %m");
        return 0;
}

static int make_node(struct unpacker *u, struct archive_entry *e, int pfd, const char *base, mode_t type) {
        uid_t uid;
        gid_t gid;
        int r = owner(u, e, &uid, &gid);

        if (r < 0)
                return r;
        if (mknodat(pfd, base, type | (archive_entry_perm(e) & 0777), type == S_IFIFO ? 0 : archive_entry_rdev(e)) < 0)
                return fail(u, -errno, "cannot create the node: %m");
        if (u->root && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(u, -errno, "cannot set the owner: %m");
        return 0;
}

/* What the image may contain, before anything is written for the entry. */
static int check_entry(struct unpacker *u, struct archive_entry *e, mode_t type) {
        mode_t perm = archive_entry_perm(e);

        if ((type == S_IFCHR || type == S_IFBLK) && !u->l->allow_devices)
                return fail(u, -EPERM, "device node (%s %u:%u) refused (the image's allow_devices is false)",
                            type == S_IFCHR ? "character" : "block", major(archive_entry_rdev(e)),
                            minor(archive_entry_rdev(e)));
        if (type != S_IFDIR && (perm & (S_ISUID | S_ISGID)) && !u->l->allow_setuid)
                return fail(u, -EPERM, "%s bit (mode %04o) refused (the image's allow_setuid is false)",
                            perm & S_ISUID ? "setuid" : "setgid", (unsigned) (perm & 07777));
        if (type == S_IFSOCK)
                return fail(u, -EPERM, "socket entries are not supported");
        return 0;
}

static int create_entry(struct unpacker *u, struct archive_entry *e, const char *path, unsigned depth) {
        bool hardlink = archive_entry_hardlink(e) || archive_entry_hardlink_utf8(e);
        mode_t type = hardlink ? S_IFREG : archive_entry_filetype(e);
        _cleanup_close_ int pfd = -EBADF;
        char dir[PATH_MAX];
        const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
        bool exists;
        int r;

        r = check_entry(u, e, type);
        if (r < 0)
                return r;
        snprintf(dir, sizeof(dir), "%.*s", slash ? (int) (slash - path) : 0, path);
        r = open_dir(u, dir, true, &pfd);
        if (r < 0)
                return fail(u, r, "cannot reach its directory: %s", r == -ENOTDIR ? "something in the way is not a "
                            "directory" : strerror(-r));
        r = pathset_add_with_parents(&u->seen, path);
        if (r < 0)
                return fail(u, r, r == -E2BIG ? "more than %u entries in one layer" : "out of memory", UNPACK_ENTRIES_MAX);
        r = make_room(u, pfd, base, type == S_IFDIR, &exists);
        if (r < 0)
                return r;
        if (hardlink)
                return make_hardlink(u, e, pfd, base, path);
        switch (type) {
        case S_IFREG:
                return make_file(u, e, pfd, base);
        case S_IFDIR:
                return make_dir(u, e, pfd, base, exists);
        case S_IFLNK:
                return make_symlink(u, e, pfd, base, depth);
        case S_IFCHR:
        case S_IFBLK:
        case S_IFIFO:
                return make_node(u, e, pfd, base, type);
        default:
                return fail(u, -EPERM, "unknown entry type 0%o", (unsigned) type);
        }
}

/* ---- whiteouts ---- */

static int prune(struct unpacker *u, int dfd, const char *dirpath, unsigned depth);

/* What this layer has at path stays; what lower layers had below it goes. */
static int prune_child(struct unpacker *u, int dfd, const char *dirpath, const char *name, unsigned depth) {
        char path[PATH_MAX];
        struct stat st;
        errbuf e = {};
        int r;

        if (snprintf(path, sizeof(path), "%s%s%s", dirpath, dirpath[0] ? "/" : "", name) >= (int) sizeof(path))
                return fail(u, -ENAMETOOLONG, "path too long below the opaque directory");
        if (!pathset_has(&u->seen, path)) {
                r = tree_remove(dfd, name, u->trashfd, &e);
                return r < 0 ? fail(u, r, "cannot hide a lower layer's entry: %s", e.msg) : 0;
        }
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                return 0;
        int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (cfd < 0)
                return fail(u, -errno, "cannot open a directory below the opaque one: %m");
        return prune(u, cfd, path, depth + 1);
}

/* Takes dfd (an O_RDONLY directory fd). */
static int prune(struct unpacker *u, int dfd, const char *dirpath, unsigned depth) {
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (depth > UNPACK_DEPTH_MAX) {
                safe_close(dfd);
                return fail(u, -ELOOP, "directories nested too deeply below the opaque directory");
        }
        d = fdopendir(dfd);
        if (!d) {
                r = -errno;
                safe_close(dfd);
                return fail(u, r, "cannot list the opaque directory: %s", strerror(-r));
        }
        while (r >= 0 && (de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        r = prune_child(u, dirfd(d), dirpath, de->d_name, depth);
        closedir(d);
        return r;
}

static int whiteout(struct unpacker *u, const char *dir, const char *base) {
        _cleanup_close_ int pfd = -EBADF;
        const char *name = base + strlen(WH_PREFIX);
        char target[PATH_MAX];
        int r, fd;

        if (strcmp(base, WH_OPAQUE) != 0 && strncmp(base, WH_META, strlen(WH_META)) == 0) {
                log_debug("%s: AUFS metadata entry ignored.", u->l->label);
                return 0;
        }
        if (strcmp(base, WH_OPAQUE) != 0 && (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0))
                return fail(u, -EPERM, "whiteout of nothing");
        r = open_dir(u, dir, false, &pfd);
        if (r == -ENOENT || r == -ENOTDIR)
                return 0; /* nothing below to hide */
        if (r < 0)
                return fail(u, r, "cannot reach its directory: %s", strerror(-r));
        if (strcmp(base, WH_OPAQUE) == 0) {
                fd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                return fd < 0 ? fail(u, -errno, "cannot open the opaque directory: %m") : prune(u, fd, dir, 0);
        }
        if (snprintf(target, sizeof(target), "%s%s%s", dir, dir[0] ? "/" : "", name) >= (int) sizeof(target))
                return fail(u, -ENAMETOOLONG, "name too long");
        if (!pathset_has(&u->seen, target)) {
                errbuf e = {};
                r = tree_remove(pfd, name, u->trashfd, &e);
                return r < 0 ? fail(u, r, "cannot remove the lower layer's entry: %s", e.msg) : 0;
        }
        /* This layer made target itself: only what lower layers left below it goes. */
        fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return fd < 0 ? 0 : prune(u, fd, target, 0);
}

/* ---- the layer ---- */

static int one_entry(struct unpacker *u, struct archive_entry *e) {
        const char *raw = archive_entry_pathname_utf8(e) ?: archive_entry_pathname(e);
        char path[PATH_MAX], dir[PATH_MAX];
        const char *slash, *base;
        unsigned depth;
        int r;

        u->name = raw;
        if (!raw)
                return fail(u, -EBADMSG, "its name cannot be read");
        r = clean_path(raw, path, sizeof(path), &depth);
        if (r == -EPERM)
                return fail(u, r, "%s", raw[0] == '/' ? "absolute path (leaves the rootfs)" : "'..' in the path "
                            "(leaves the rootfs)");
        if (r < 0)
                return fail(u, r, r == -ELOOP ? "nested deeper than %u directories" : "name too long", UNPACK_DEPTH_MAX);
        u->st->entries++;
        if (!path[0])
                return 0; /* the root itself: it is ours */
        slash = strrchr(path, '/');
        base = slash ? slash + 1 : path;
        snprintf(dir, sizeof(dir), "%.*s", slash ? (int) (slash - path) : 0, path);
        if (strncmp(base, WH_PREFIX, strlen(WH_PREFIX)) == 0)
                return whiteout(u, dir, base);
        return create_entry(u, e, path, depth);
}

static bool filter_matches(struct unpacker *u) {
        int code = archive_filter_code(u->a, 0);
        switch (u->l->compression) {
        case OCI_COMPRESSION_GZIP:
                return code == ARCHIVE_FILTER_GZIP && archive_filter_count(u->a) == 2;
        case OCI_COMPRESSION_ZSTD:
                return code == ARCHIVE_FILTER_ZSTD && archive_filter_count(u->a) == 2;
        default:
                return code == ARCHIVE_FILTER_NONE && archive_filter_count(u->a) == 1;
        }
}

static const char *format_name(const struct unpacker *u) {
        return u->l->compression == OCI_COMPRESSION_GZIP ? "tar+gzip" :
               u->l->compression == OCI_COMPRESSION_ZSTD ? "tar+zstd" : "tar";
}

static int entries(struct unpacker *u) {
        for (bool first = true;; first = false) {
                struct archive_entry *e;
                int a = archive_read_next_header(u->a, &e), r;
                if (a != ARCHIVE_OK && a != ARCHIVE_WARN && a != ARCHIVE_EOF) {
                        u->name = NULL;
                        return errbuf_set(u->err, u->read_error ?: -EBADMSG, "%s: not a valid %s stream: %s",
                                          u->l->label, format_name(u), archive_error_string(u->a) ?: "?");
                }
                if (first && !filter_matches(u))
                        return errbuf_set(u->err, -EMEDIUMTYPE, "%s: compressed as %s, not as its media type says",
                                          u->l->label, archive_filter_name(u->a, 0) ?: "?");
                if (a == ARCHIVE_EOF)
                        return 0;
                r = one_entry(u, e);
                if (r < 0)
                        return r;
        }
}

/* The rest of the blob through the digest, then the digest against the layer's. */
static int check_digest(struct unpacker *u) {
        const void *p;
        uint8_t d[HASH_MAX_SIZE];
        char hex[2 * HASH_MAX_SIZE + 1], want[2 * OCI_DIGEST_SIZE + 1];
        la_ssize_t n;

        while ((n = read_cb(u->a, u, &p)) > 0)
                ;
        if (n < 0 || u->read_total != u->l->size)
                return errbuf_set(u->err, u->read_error ?: -EBADMSG, "%s: the blob changed while being unpacked "
                                  "(%" PRIu64 " bytes read, %" PRIu64 " expected)", u->l->label, u->read_total,
                                  u->l->size);
        if (EVP_DigestFinal_ex(u->md, d, NULL) != 1)
                return errbuf_set(u->err, -EIO, "%s: digest finalisation failed", u->l->label);
        if (memcmp(d, u->l->digest, OCI_DIGEST_SIZE) == 0)
                return 0;
        hex_encode(d, OCI_DIGEST_SIZE, hex);
        hex_encode(u->l->digest, OCI_DIGEST_SIZE, want);
        return errbuf_set(u->err, -EBADMSG, "%s: the blob changed after it was verified: it now hashes to sha256:%s, "
                          "not sha256:%s (the unpacked rootfs is discarded)", u->l->label, hex, want);
}

static int open_archive(struct unpacker *u) {
        int a;

        u->a = archive_read_new();
        if (!u->a)
                return -ENOMEM;
        a = archive_read_support_format_tar(u->a);
        if (a == ARCHIVE_OK && u->l->compression == OCI_COMPRESSION_GZIP)
                a = archive_read_support_filter_gzip(u->a);
        if (a == ARCHIVE_OK && u->l->compression == OCI_COMPRESSION_ZSTD)
                a = archive_read_support_filter_zstd(u->a);
        if (a == ARCHIVE_OK)
                a = archive_read_open(u->a, u, NULL, read_cb, NULL);
        if (a != ARCHIVE_OK)
                return errbuf_set(u->err, u->read_error ?: -EBADMSG, "%s: not a valid %s stream: %s", u->l->label,
                                  format_name(u), archive_error_string(u->a) ?: "?");
        return 0;
}

int unpack_layer(int rootfd, int trashfd, int blob_fd, const struct unpack_layer *l, struct unpack_stats *st,
                 errbuf *err) {
        struct unpacker u = { .rootfd = rootfd, .trashfd = trashfd, .blob_fd = blob_fd, .l = l, .st = st,
                              .err = err, .root = geteuid() == 0 };
        int r;

        u.md = EVP_MD_CTX_new();
        u.rbuf = malloc(READ_SIZE);
        if (!u.md || !u.rbuf || EVP_DigestInit_ex(u.md, hash_alg_md(HASH_SHA256), NULL) != 1)
                r = errbuf_set(err, -ENOMEM, "out of memory");
        else
                r = open_archive(&u);
        if (r >= 0)
                r = entries(&u);
        if (r >= 0)
                r = check_digest(&u);
        if (u.a)
                archive_read_free(u.a);
        pathset_free(&u.seen);
        EVP_MD_CTX_free(u.md);
        free(u.rbuf);
        return r;
}
