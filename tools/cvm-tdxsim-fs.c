/* SPDX-License-Identifier: MIT */
/* cvm-tdxsim's FUSE tree: the kernel's paths (DESIGN §2) under one mount point, with what sysfs and
 * configfs do on open, read, write and close (docs/tdxsim.md):
 *
 *   sys/devices/virtual/misc/tdx_guest/measurements/   tsm-mr attributes (Linux >= 6.16)
 *   sys/class/misc/tdx_guest -> ../../devices/virtual/misc/tdx_guest
 *   sys/kernel/config/tsm/report/                      configfs-tsm (mkdir/rmdir entries)
 *   sys/firmware/acpi/tables/CCEL, .../data/CCEL       the ACPI table and the firmware log
 *
 * Opening for writing what has no write method, or for reading what has no read method, is
 * EACCES whoever asks (kernfs_fop_open, configfs __configfs_open_file). configfs files buffer per
 * open file: a read fills the buffer once, writes to a binary attribute accumulate (at most 64
 * bytes for inblob, else EFBIG) and are committed when the file is closed. Single-threaded. */
#define FUSE_USE_VERSION 31
#include <fuse.h>
#include <inttypes.h>
#include <time.h>

#include "cvm-tdxsim.h"
#include "log.h"

#define MEAS "/sys/devices/virtual/misc/tdx_guest/measurements"
#define REPORTS "/sys/kernel/config/tsm/report"
#define CLASS_LINK_TARGET "../../devices/virtual/misc/tdx_guest"
#define CONFIGFS_FILE_SIZE 4096

enum kind {
        K_DIR,
        K_LINK,
        K_MR,
        K_ACPI_TABLE,
        K_ACPI_DATA,
        K_REPORTS, /* the report/ group: mkdir here */
        K_REPORT,  /* an entry */
        K_GENERATION,
        K_INBLOB,
        K_OUTBLOB,
        K_PROVIDER,
};

struct node {
        const char *path;
        enum kind kind;
        int arg;
};

static const struct node nodes[] = {
        { "/", K_DIR, 0 },
        { "/sys", K_DIR, 0 },
        { "/sys/class", K_DIR, 0 },
        { "/sys/class/misc", K_DIR, 0 },
        { "/sys/class/misc/tdx_guest", K_LINK, 0 },
        { "/sys/devices", K_DIR, 0 },
        { "/sys/devices/virtual", K_DIR, 0 },
        { "/sys/devices/virtual/misc", K_DIR, 0 },
        { "/sys/devices/virtual/misc/tdx_guest", K_DIR, 0 },
        { MEAS, K_DIR, 0 },
        { MEAS "/mrconfigid", K_MR, MR_MRCONFIGID },
        { MEAS "/mrowner", K_MR, MR_MROWNER },
        { MEAS "/mrownerconfig", K_MR, MR_MROWNERCONFIG },
        { MEAS "/mrtd:sha384", K_MR, MR_MRTD },
        { MEAS "/rtmr0:sha384", K_MR, MR_RTMR0 },
        { MEAS "/rtmr1:sha384", K_MR, MR_RTMR1 },
        { MEAS "/rtmr2:sha384", K_MR, MR_RTMR2 },
        { MEAS "/rtmr3:sha384", K_MR, MR_RTMR3 },
        { "/sys/kernel", K_DIR, 0 },
        { "/sys/kernel/config", K_DIR, 0 },
        { "/sys/kernel/config/tsm", K_DIR, 0 },
        { REPORTS, K_REPORTS, 0 },
        { "/sys/firmware", K_DIR, 0 },
        { "/sys/firmware/acpi", K_DIR, 0 },
        { "/sys/firmware/acpi/tables", K_DIR, 0 },
        { "/sys/firmware/acpi/tables/CCEL", K_ACPI_TABLE, 0 },
        { "/sys/firmware/acpi/tables/data", K_DIR, 0 },
        { "/sys/firmware/acpi/tables/data/CCEL", K_ACPI_DATA, 0 },
};

/* The attributes TDX makes visible in a report entry (tdx_report_attr_visible and
 * tdx_report_bin_attr_visible); SEV-only ones (privlevel, auxblob, service_*) are absent. */
static const struct {
        const char *name;
        enum kind kind;
} report_attrs[] = {
        { "generation", K_GENERATION },
        { "inblob", K_INBLOB },
        { "outblob", K_OUTBLOB },
        { "provider", K_PROVIDER },
};

struct where {
        enum kind kind;
        int arg;
        struct tdxsim_report *report; /* not referenced */
};

/* An open configfs file. */
struct handle {
        enum kind kind;
        struct tdxsim_report *report; /* referenced */
        struct buf data;
        bool filled, writing;
};

static time_t start_time;

static struct tdxsim *sim(void) {
        return fuse_get_context()->private_data;
}

static int resolve_report(struct tdxsim *s, const char *rest, struct where *w) {
        const char *slash = strchr(rest, '/');
        _cleanup_free_ char *name = strndup(rest, slash ? (size_t) (slash - rest) : strlen(rest));

        if (!name)
                return -ENOMEM;
        w->report = tdxsim_report_find(s, name);
        if (!w->report)
                return -ENOENT;
        w->kind = K_REPORT;
        if (!slash)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(report_attrs); i++)
                if (strcmp(slash + 1, report_attrs[i].name) == 0) {
                        w->kind = report_attrs[i].kind;
                        return 0;
                }
        return -ENOENT;
}

static int resolve(struct tdxsim *s, const char *path, struct where *w) {
        *w = (struct where) {};
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
                if (strcmp(path, nodes[i].path) == 0) {
                        w->kind = nodes[i].kind;
                        w->arg = nodes[i].arg;
                        return 0;
                }
        if (strncmp(path, REPORTS "/", strlen(REPORTS "/")) == 0)
                return resolve_report(s, path + strlen(REPORTS "/"), w);
        return -ENOENT;
}

static bool is_dir(enum kind k) {
        return k == K_DIR || k == K_REPORTS || k == K_REPORT;
}

static bool is_configfs_file(enum kind k) {
        return k == K_GENERATION || k == K_INBLOB || k == K_OUTBLOB || k == K_PROVIDER;
}

static mode_t mode_of(const struct where *w) {
        switch (w->kind) {
        case K_DIR:
        case K_REPORTS:
        case K_REPORT:
                return S_IFDIR | 0755;
        case K_LINK:
                return S_IFLNK | 0777;
        case K_MR:
                return S_IFREG | (w->arg <= MR_RTMR3 ? 0644 : 0444);
        case K_ACPI_TABLE:
        case K_ACPI_DATA:
                return S_IFREG | 0400;
        case K_INBLOB:
                return S_IFREG | 0200;
        default:
                return S_IFREG | 0444;
        }
}

static off_t size_of(const struct tdxsim *s, const struct where *w) {
        switch (w->kind) {
        case K_LINK:
                return (off_t) strlen(CLASS_LINK_TARGET);
        case K_MR:
                return TDX_MR_SIZE;
        case K_ACPI_TABLE:
                return sizeof(s->ccel_table);
        case K_ACPI_DATA:
                return (off_t) s->ccel_data_len;
        case K_GENERATION ... K_PROVIDER:
                return CONFIGFS_FILE_SIZE;
        default:
                return 0;
        }
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
        struct tdxsim *s = sim();
        struct where w;
        int r;

        (void) fi;
        r = resolve(s, path, &w);
        if (r < 0)
                return r;
        *st = (struct stat) {
                .st_mode = mode_of(&w),
                .st_nlink = is_dir(w.kind) ? 2 : 1,
                .st_uid = getuid(),
                .st_gid = getgid(),
                .st_size = size_of(s, &w),
                .st_blksize = 4096,
        };
        st->st_atime = st->st_mtime = st->st_ctime = start_time;
        return 0;
}

static int op_readlink(const char *path, char *buf, size_t size) {
        struct where w;
        int r = resolve(sim(), path, &w);

        if (r < 0)
                return r;
        if (w.kind != K_LINK)
                return -EINVAL;
        if (size == 0)
                return -EINVAL;
        snprintf(buf, size, "%s", CLASS_LINK_TARGET);
        return 0;
}

/* Is node path a direct child of dir? */
static const char *child_name(const char *dir, const char *path) {
        size_t n = strcmp(dir, "/") == 0 ? 0 : strlen(dir);

        if (strcmp(path, "/") == 0 || strncmp(path, dir, n) != 0 || path[n] != '/' || strchr(path + n + 1, '/'))
                return NULL;
        return path + n + 1;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags) {
        struct tdxsim *s = sim();
        struct where w;
        int r;

        (void) off, (void) fi, (void) flags;
        r = resolve(s, path, &w);
        if (r < 0)
                return r;
        if (!is_dir(w.kind))
                return -ENOTDIR;
        fill(buf, ".", NULL, 0, 0);
        fill(buf, "..", NULL, 0, 0);
        if (w.kind == K_REPORTS)
                for (struct tdxsim_report *e = s->reports; e; e = e->next)
                        fill(buf, e->name, NULL, 0, 0);
        else if (w.kind == K_REPORT)
                for (size_t i = 0; i < ELEMENTSOF(report_attrs); i++)
                        fill(buf, report_attrs[i].name, NULL, 0, 0);
        else
                for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
                        const char *name = child_name(path, nodes[i].path);
                        if (name)
                                fill(buf, name, NULL, 0, 0);
                }
        return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi) {
        int acc = fi->flags & O_ACCMODE;
        struct handle *h;
        struct where w;
        mode_t mode;
        int r;

        r = resolve(sim(), path, &w);
        if (r < 0)
                return r;
        mode = mode_of(&w);
        if ((acc != O_RDONLY && !(mode & 0222)) || (acc != O_WRONLY && !(mode & 0444)))
                return -EACCES;
        fi->direct_io = 1; /* every read and write reaches us, as on sysfs and configfs */
        if (!is_configfs_file(w.kind))
                return 0;
        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->kind = w.kind;
        h->report = tdxsim_report_ref(w.report);
        h->data.max = TDX_QUOTE_MAX;
        fi->fh = (uintptr_t) h;
        return 0;
}

static int copy_out(const void *p, size_t n, char *buf, size_t size, off_t off) {
        if (off < 0)
                return -EINVAL;
        if ((uint64_t) off >= n)
                return 0;
        if (size > n - (size_t) off)
                size = n - (size_t) off;
        memcpy(buf, (const uint8_t *) p + off, size);
        return (int) size;
}

/* configfs: a read fills the file's buffer once (show(), or the report's outblob). */
static int fill(struct tdxsim *s, struct handle *h) {
        const uint8_t *p;
        size_t n;
        int r;

        if (h->report->dead)
                return -ENOENT;
        switch (h->kind) {
        case K_GENERATION:
                r = buf_printf(&h->data, "%" PRIu64 "\n", h->report->write_generation);
                break;
        case K_PROVIDER:
                r = buf_append_str(&h->data, TDXSIM_PROVIDER "\n");
                break;
        case K_OUTBLOB:
                r = tdxsim_report_outblob(s, h->report, &p, &n);
                if (r >= 0)
                        r = buf_append(&h->data, p, n);
                break;
        default:
                r = -EBADF;
        }
        if (r < 0)
                return r;
        h->filled = true;
        return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
        struct tdxsim *s = sim();
        struct handle *h = (struct handle *) (uintptr_t) fi->fh;
        struct where w;
        int r;

        if (h) {
                if (!h->filled) {
                        r = fill(s, h);
                        if (r < 0)
                                return r;
                }
                return copy_out(h->data.data, h->data.len, buf, size, off);
        }
        r = resolve(s, path, &w);
        if (r < 0)
                return r;
        switch (w.kind) {
        case K_MR:
                return copy_out(tdxsim_mr_value(s, w.arg), TDX_MR_SIZE, buf, size, off);
        case K_ACPI_TABLE:
                return copy_out(s->ccel_table, sizeof(s->ccel_table), buf, size, off);
        case K_ACPI_DATA:
                return copy_out(s->ccel_data, s->ccel_data_len, buf, size, off);
        default:
                return -EBADF;
        }
}

/* configfs_write_bin_iter: the buffer grows up to the attribute's maximum; past it, EFBIG. */
static int write_inblob(struct handle *h, const char *buf, size_t size, off_t off) {
        h->writing = true; /* even a refused write is "in progress" and commits at close */
        if (off < 0 || (uint64_t) off + size > TSM_INBLOB_MAX)
                return -EFBIG;
        while (h->data.len < (size_t) off + size) {
                int r = buf_append(&h->data, "", 1);
                if (r < 0)
                        return r;
        }
        memcpy(h->data.data + off, buf, size);
        return (int) size;
}

static int op_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
        struct tdxsim *s = sim();
        struct handle *h = (struct handle *) (uintptr_t) fi->fh;
        struct where w;
        int r;

        if (h)
                return h->kind == K_INBLOB ? write_inblob(h, buf, size, off) : -EBADF;
        r = resolve(s, path, &w);
        if (r < 0)
                return r;
        if (w.kind != K_MR || off < 0)
                return -EBADF;
        return (int) tdxsim_mr_write(s, w.arg, (const uint8_t *) buf, size, (uint64_t) off);
}

/* configfs commits a binary attribute at release; FUSE's release is asynchronous to close(2), so
 * commit at flush, which close(2) waits for: the generation is current when close returns. */
static void commit(struct handle *h) {
        int r;

        if (!h || !h->writing)
                return;
        h->writing = false;
        r = tdxsim_report_write_inblob(h->report, (const uint8_t *) h->data.data, h->data.len);
        if (r < 0) /* as configfs, which ignores the result */
                log_debug_errno(r, "Report %s: inblob not committed: %m", h->report->name);
}

static int op_flush(const char *path, struct fuse_file_info *fi) {
        (void) path;
        commit((struct handle *) (uintptr_t) fi->fh);
        return 0;
}

static int op_release(const char *path, struct fuse_file_info *fi) {
        struct handle *h = (struct handle *) (uintptr_t) fi->fh;

        (void) path;
        if (!h)
                return 0;
        commit(h);
        tdxsim_report_unref(h->report);
        buf_free(&h->data);
        free(h);
        return 0;
}

/* O_TRUNC on sysfs and configfs files is accepted and changes nothing. */
static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
        struct where w;
        int r = resolve(sim(), path, &w);

        (void) size, (void) fi;
        if (r < 0)
                return r;
        if (is_dir(w.kind))
                return -EISDIR;
        return mode_of(&w) & 0222 ? 0 : -EACCES;
}

static int op_mkdir(const char *path, mode_t mode) {
        struct tdxsim *s = sim();
        struct where w;
        const char *name;

        (void) mode;
        if (resolve(s, path, &w) >= 0)
                return -EEXIST;
        name = child_name(REPORTS, path);
        if (!name)
                return -EPERM; /* sysfs and configfs items other than the group have no mkdir */
        return tdxsim_report_mkdir(s, name);
}

static int op_rmdir(const char *path) {
        struct tdxsim *s = sim();
        struct where w;
        int r = resolve(s, path, &w);

        if (r < 0)
                return r;
        if (!is_dir(w.kind))
                return -ENOTDIR;
        if (w.kind != K_REPORT)
                return -EPERM;
        return tdxsim_report_rmdir(s, w.report->name);
}

static int refuse_existing(const char *path, int error) {
        struct where w;
        int r = resolve(sim(), path, &w);
        return r < 0 ? r : error;
}

static int op_unlink(const char *path) {
        return refuse_existing(path, -EPERM);
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
        (void) mode, (void) fi;
        return refuse_existing(path, -EPERM);
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
        (void) uid, (void) gid, (void) fi;
        return refuse_existing(path, -EPERM);
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
        (void) tv, (void) fi;
        return refuse_existing(path, 0);
}

/* No new files in sysfs or configfs directories (no ->create: EACCES from the VFS). */
static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
        (void) path, (void) mode, (void) fi;
        return -EACCES;
}

static int op_mknod(const char *path, mode_t mode, dev_t dev) {
        (void) path, (void) mode, (void) dev;
        return -EPERM;
}

static int op_rename(const char *from, const char *to, unsigned flags) {
        (void) to, (void) flags;
        return refuse_existing(from, -EPERM);
}

static int op_link_or_symlink(const char *from, const char *to) {
        (void) from, (void) to;
        return -EPERM;
}

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
        (void) conn;
        /* Nothing cached: every lookup, attribute and read is answered now, so mkdir/rmdir and
         * extends are seen at once, as on the kernel's file systems. */
        cfg->direct_io = 1;
        cfg->kernel_cache = 0;
        cfg->entry_timeout = 0;
        cfg->negative_timeout = 0;
        cfg->attr_timeout = 0;
        return fuse_get_context()->private_data;
}

static const struct fuse_operations ops = {
        .init = op_init,
        .getattr = op_getattr,
        .readlink = op_readlink,
        .readdir = op_readdir,
        .open = op_open,
        .read = op_read,
        .write = op_write,
        .flush = op_flush,
        .release = op_release,
        .truncate = op_truncate,
        .mkdir = op_mkdir,
        .rmdir = op_rmdir,
        .unlink = op_unlink,
        .chmod = op_chmod,
        .chown = op_chown,
        .utimens = op_utimens,
        .create = op_create,
        .mknod = op_mknod,
        .rename = op_rename,
        .link = op_link_or_symlink,
        .symlink = op_link_or_symlink,
};

static int serve(struct fuse *f, const struct tdxsim_fs_options *o) {
        struct fuse_session *se = fuse_get_session(f);
        int r;

        if (fuse_daemonize(o->foreground) != 0 || fuse_set_signal_handlers(se) != 0) {
                fuse_unmount(f);
                return log_error_errno(EIO, "Cannot go to the background or install the signal handlers.");
        }
        log_info("Serving the TDX guest interfaces at %s.", o->mountpoint);
        r = fuse_loop(f);
        fuse_remove_signal_handlers(se);
        if (r > 0)
                log_info("Signal %d: unmounting %s.", r, o->mountpoint);
        else if (r < 0)
                log_error_errno(r, "The FUSE loop failed: %m");
        fuse_unmount(f);
        return r < 0 ? r : 0;
}

int tdxsim_fs_run(struct tdxsim *s, const struct tdxsim_fs_options *o) {
        _cleanup_free_ char *opts = NULL;
        char *argv[6];
        int argc = 0, r;
        struct fuse_args args;
        struct fuse *f;

        if (asprintf(&opts, "fsname=cvm-tdxsim,subtype=cvm-tdxsim%s%s", o->fuse_opts ? "," : "",
                     o->fuse_opts ?: "") < 0)
                return -ENOMEM;
        argv[argc++] = (char *) "cvm-tdxsim";
        if (o->debug)
                argv[argc++] = (char *) "-d";
        argv[argc++] = (char *) "-o";
        argv[argc++] = opts;
        argv[argc] = NULL;
        args = (struct fuse_args) FUSE_ARGS_INIT(argc, argv);
        start_time = time(NULL);
        f = fuse_new(&args, &ops, sizeof(ops), s);
        fuse_opt_free_args(&args);
        if (!f)
                return log_error_errno(EINVAL, "Cannot set up FUSE (bad -o options?)."), -EINVAL;
        if (fuse_mount(f, o->mountpoint) != 0) {
                fuse_destroy(f);
                return log_error_errno(EIO, "Cannot mount on %s (is /dev/fuse there, fusermount3 installed?).",
                                       o->mountpoint), -EIO;
        }
        r = serve(f, o);
        fuse_destroy(f);
        return r;
}
