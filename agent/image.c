/* SPDX-License-Identifier: MIT */
/* OCI images: measurement, verification, the workload's rootfs and bundle; see image.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>

#include "event.h"
#include "image-bundle.h"
#include "image-layout.h"
#include "image-unpack.h"
#include "image.h"
#include "log.h"

#define RUN_DIR_DEFAULT "/run/cvminit"
#define PROGRESS_MS 5000U
#define PATH_SHOWN_MAX 200U
#define TRASH_PREFIX ".cvminit-trash-"

struct image_state {
        const struct config_image *cfg;
        struct image_meta meta;
        bool measured;
};

struct images {
        size_t n;
        struct image_state *v;
        struct workload run; /* crun, as the supervisor starts it */
};

static double now_s(void) {
        struct timespec ts = {};
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static const char *env_or(const char *name, const char *def) {
        const char *e = getpid() != 1 ? getenv(name) : NULL;
        return e && *e ? e : def;
}

/* ---- measuring ---- */

struct check {
        const struct image_state *st;
        char **paths;
        size_t next;
        double start;
};

static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        const struct check *c = userdata;
        double t = now_s() - c->start;

        if (total > 0 && done > 0 && done < total && t > 0)
                log_info("image %s: %.2f/%.2f GiB of layers verified, %.2f GB/s", c->st->cfg->name,
                         (double) done / (1U << 30), (double) total / (1U << 30), (double) done / t / 1e9);
}

/* Results come in the order of the paths: result k is layer k. */
static int on_layer(const struct hash_result *r, void *userdata, errbuf *err) {
        struct check *c = userdata;
        size_t k = c->next++;
        const struct oci_layer *l = &c->st->meta.m->layers[k];
        char hex[2 * HASH_MAX_SIZE + 1];

        if (k >= c->st->meta.m->n_layers || strcmp(r->relpath, c->paths[k]) != 0)
                return errbuf_set(err, -EBADFD, "blob sha256:%s (layer %zu of %zu): not a regular file", l->d.hex,
                                  k + 1, c->st->meta.m->n_layers);
        if (r->size != l->d.size || memcmp(r->digest, l->d.digest, OCI_DIGEST_SIZE) != 0) {
                hex_encode(r->digest, OCI_DIGEST_SIZE, hex);
                return errbuf_set(err, -EBADMSG, "blob sha256:%s (layer %zu of %zu): content does not match its "
                                  "digest (%" PRIu64 " bytes, sha256 %s)", l->d.hex, k + 1, c->st->meta.m->n_layers,
                                  r->size, hex);
        }
        return 0;
}

/* Every layer blob present (regular, of its size) first, so a missing one is named at once;
 * then all of them hashed by the pool. */
static int verify_layers(const struct image_state *st, const struct hash_options *o, uint64_t *bytes, errbuf *err) {
        const struct oci_manifest *m = st->meta.m;
        struct check c = { .st = st, .start = now_s() };
        struct hash_options ho = o ? *o : (struct hash_options) {};
        int r = 0;

        *bytes = 0;
        c.paths = calloc(m->n_layers + 1, sizeof(char *));
        if (!c.paths)
                return errbuf_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; r >= 0 && i < m->n_layers; i++) {
                char what[64];
                int fd = -EBADF;
                snprintf(what, sizeof(what), "layer %zu of %zu", i + 1, m->n_layers);
                r = image_blob_open(&st->meta, &m->layers[i].d, what, &fd, err);
                safe_close(fd);
                c.paths[i] = r >= 0 ? image_blob_path(&st->meta, &m->layers[i].d) : NULL;
                if (r >= 0 && !c.paths[i])
                        r = errbuf_set(err, -ENOMEM, "out of memory");
                *bytes += m->layers[i].d.size;
        }
        ho.alg = HASH_SHA256;
        if (!ho.progress) {
                ho.progress = on_progress;
                ho.progress_userdata = &c;
                ho.progress_ms = ho.progress_ms ?: PROGRESS_MS;
        }
        if (r >= 0 && m->n_layers > 0)
                r = hash_paths(c.paths, m->n_layers, &ho, on_layer, &c, err);
        if (r >= 0 && c.next != m->n_layers)
                r = errbuf_set(err, -EBADFD, "%zu of %zu layer blobs were hashed", c.next, m->n_layers);
        strv_free_n(c.paths, m->n_layers);
        return r;
}

static int measure_event(const struct config_image *img, const uint8_t *digest, struct cel_writer *w, errbuf *err) {
        json_t *content = NULL;
        int r = image_event_content(img, digest, &content);

        if (r < 0)
                return errbuf_set(err, r, "image %s: cannot form the event: %s", img->name, strerror(-r));
        r = cel_writer_append(w, EVENT_DOMAIN, "image", content);
        json_decref(content);
        if (r < 0)
                return errbuf_set(err, r, "image %s: cannot measure: %s", img->name, cel_writer_error(w));
        return 0;
}

static int measure_one(struct image_state *st, struct cel_writer *w, const struct hash_options *o, errbuf *err) {
        const struct config_image *img = st->cfg;
        _cleanup_free_ char *ref = escape_untrusted(img->ref, strlen(img->ref), 130);
        char pinned[2 * OCI_DIGEST_SIZE + 1];
        double t0 = now_s(), t;
        uint64_t bytes = 0;
        errbuf e = {};
        int r;

        r = image_layout_open(img->layout, img->ref, &st->meta, &e);
        if (r < 0)
                return errbuf_set(err, r, "image %s: %s", img->name, e.msg);
        /* Measured before anything of the image is used, and before the check: the log then shows
         * what was found, and the boot fails anyway. */
        r = measure_event(img, st->meta.manifest.digest, w, err);
        if (r < 0)
                return r;
        if (img->has_expect && memcmp(st->meta.manifest.digest, img->expect, OCI_DIGEST_SIZE) != 0) {
                hex_encode(img->expect, OCI_DIGEST_SIZE, pinned);
                return errbuf_set(err, -EBADMSG, "image %s: ref '%s' is manifest sha256:%s, not the pinned sha256:%s",
                                  img->name, ref ?: "?", st->meta.manifest.hex, pinned);
        }
        log_info("image %s: ref '%s' is manifest sha256:%s%s", img->name, ref ?: "?", st->meta.manifest.hex,
                 img->has_expect ? ", the pinned digest" : " (no digest pinned in the config: measured only)");
        r = image_layout_load(&st->meta, &e);
        if (r >= 0)
                r = verify_layers(st, o, &bytes, &e);
        if (r < 0)
                return errbuf_set(err, r, "image %s: %s", img->name, e.msg);
        t = now_s() - t0;
        log_info("image %s: %zu layer%s, %.1f MiB verified in %.2f s (%.2f GB/s)", img->name, st->meta.m->n_layers,
                 st->meta.m->n_layers == 1 ? "" : "s", (double) bytes / (1U << 20), t,
                 t > 0 ? (double) bytes / t / 1e9 : 0.0);
        st->measured = true;
        return 0;
}

/* Nothing of a layout is read after this: no descriptor may keep its file system busy at shutdown. */
static void close_layouts(struct images *set) {
        for (size_t i = 0; set && i < set->n; i++)
                set->v[i].meta.layout_fd = safe_close(set->v[i].meta.layout_fd);
}

int images_measure(struct images **set, const struct config *c, bool post_key, struct cel_writer *w,
                   const struct hash_options *o, errbuf *err) {
        if (c->n_images == 0)
                return 0;
        if (!*set) {
                *set = calloc(1, sizeof(**set));
                if (!*set || !((*set)->v = calloc(c->n_images, sizeof(struct image_state)))) {
                        free(*set);
                        *set = NULL;
                        return errbuf_set(err, -ENOMEM, "out of memory");
                }
                (*set)->n = c->n_images;
                for (size_t i = 0; i < c->n_images; i++)
                        (*set)->v[i] = (struct image_state) { .cfg = &c->images[i], .meta.layout_fd = -EBADF };
        }
        for (size_t i = 0; i < c->n_images; i++) {
                if (image_post_key(c, &c->images[i]) != post_key)
                        continue;
                int r = measure_one(&(*set)->v[i], w, o, err);
                if (r < 0) {
                        close_layouts(*set); /* the boot ends here */
                        return r;
                }
        }
        return 0;
}

/* ---- the rootfs and the bundle ---- */

/* Trash a crash left behind in base (tree_remove's deferred directories). */
static int sweep_trash(int basefd, errbuf *err) {
        int fd = openat(basefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;
        int r = 0;

        if (!d) {
                safe_close(fd);
                return errbuf_set(err, -errno, "cannot list the rootfs directory: %m");
        }
        while (r >= 0 && (de = readdir(d)))
                if (strncmp(de->d_name, TRASH_PREFIX, strlen(TRASH_PREFIX)) == 0)
                        r = tree_remove(basefd, de->d_name, basefd, err);
        closedir(d);
        return r;
}

static int fresh_dir(int parentfd, const char *name, mode_t mode, int *ret, errbuf *err) {
        if (mkdirat(parentfd, name, mode) < 0)
                return errbuf_set(err, -errno, "cannot create %s: %m", name);
        *ret = openat(parentfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        return *ret < 0 ? errbuf_set(err, -errno, "cannot open %s: %m", name) : 0;
}

/* base/rootfs wiped and made again; base/rootfs/NAME (the bundle) and its rootfs. */
static int prepare_dirs(const struct config *c, const char *name, int *ret_bundle, int *ret_root, char **ret_path,
                        errbuf *err) {
        _cleanup_free_ char *base = NULL;
        _cleanup_close_ int basefd = -EBADF, all = -EBADF;
        int r;

        if (c->disk ? asprintf(&base, "%s/" IMAGE_DISK_DIR, c->disk->path) < 0 :
                      !(base = strdup(env_or("CVMINIT_RUN_DIR", RUN_DIR_DEFAULT))))
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (mkdir(base, 0700) < 0 && errno != EEXIST)
                return errbuf_set(err, -errno, "cannot create %s: %m", base);
        basefd = open(base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (basefd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %m", base);
        r = sweep_trash(basefd, err);
        if (r >= 0)
                r = tree_remove(basefd, "rootfs", basefd, err);
        if (r >= 0)
                r = fresh_dir(basefd, "rootfs", 0700, &all, err);
        if (r >= 0)
                r = fresh_dir(all, name, 0700, ret_bundle, err);
        if (r >= 0)
                r = fresh_dir(*ret_bundle, "rootfs", 0755, ret_root, err);
        if (r >= 0 && asprintf(ret_path, "%s/rootfs/%s", base, name) < 0)
                r = errbuf_set(err, -ENOMEM, "out of memory");
        return r;
}

static int unpack_all(const struct image_state *st, int bundlefd, int rootfd, errbuf *err) {
        const struct oci_manifest *m = st->meta.m;
        struct unpack_stats stats = {};
        double t0 = now_s();

        for (size_t i = 0; i < m->n_layers; i++) {
                const struct oci_layer *l = &m->layers[i];
                char label[96];
                _cleanup_close_ int fd = -EBADF;
                snprintf(label, sizeof(label), "layer %zu of %zu (sha256:%.16s...)", i + 1, m->n_layers, l->d.hex);
                struct unpack_layer ul = { .label = label, .compression = l->compression, .digest = l->d.digest,
                                           .size = l->d.size, .allow_devices = st->cfg->allow_devices,
                                           .allow_setuid = st->cfg->allow_setuid };
                int r = image_blob_open(&st->meta, &l->d, label, &fd, err);
                if (r >= 0)
                        r = unpack_layer(rootfd, bundlefd, fd, &ul, &stats, err);
                if (r < 0)
                        return r;
        }
        log_info("image %s: %zu layer%s unpacked: %" PRIu64 " entries, %.1f MiB in %.2f s", st->cfg->name,
                 m->n_layers, m->n_layers == 1 ? "" : "s", stats.entries, (double) stats.bytes / (1U << 20),
                 now_s() - t0);
        return 0;
}

static int write_bundle_config(const struct config *c, const struct image_state *st, const struct image_process *p,
                               int bundlefd, errbuf *err) {
        _cleanup_free_ char **binds = calloc(c->n_models + 1, sizeof(char *));
        _cleanup_free_ char *text = NULL, *api = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct image_bundle_options bo = { .hostname = st->cfg->name, .image = st->cfg,
                                           .resolv_conf = access("/etc/resolv.conf", F_OK) == 0 };
        json_t *doc = NULL;
        int r;

        /* The attestation API (docs/api.md) listens there by the time crun starts. */
        if (c->api.enabled && asprintf(&api, "%s/" IMAGE_API_SOCKET, env_or("CVMINIT_RUN_DIR", RUN_DIR_DEFAULT)) < 0)
                api = NULL;
        if (!binds || (c->api.enabled && !api))
                return errbuf_set(err, -ENOMEM, "out of memory");
        bo.api_socket = api;
        for (size_t i = 0; i < c->n_models; i++)
                binds[i] = c->models[i].path;
        bo.binds = binds;
        r = image_bundle_config(p, &bo, &doc);
        if (r >= 0) {
                text = json_dumps(doc, JSON_COMPACT);
                r = text ? 0 : -ENOMEM;
        }
        json_decref(doc);
        if (r < 0)
                return errbuf_set(err, r, "cannot form config.json: %s", strerror(-r));
        fd = openat(bundlefd, "config.json", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 || loop_write(fd, text, strlen(text)) < 0)
                return errbuf_set(err, -errno, "cannot write config.json: %m");
        return 0;
}

static bool fs_is(const char *path, long magic) {
        struct statfs s;
        return statfs(path, &s) == 0 && (long) s.f_type == magic;
}

/* crun [--cgroup-manager=disabled] run [--no-pivot] --bundle DIR NAME. pivot_root cannot leave the
 * initramfs (the kernel's rootfs), so there crun moves the rootfs over / and chroots instead; the
 * container has no CAP_SYS_CHROOT to climb back out. Without a cgroup2 hierarchy (a host in
 * --config mode), no cgroup is made. */
static int set_run(struct images *set, const struct config *c, const char *bundle, const char *name) {
        const char *argv[8];
        size_t n = 0;
        struct workload *w = &set->run;

        argv[n++] = env_or("CVMINIT_CRUN", IMAGE_CRUN);
        if (access(argv[0], X_OK) < 0)
                return -ENOEXEC;
        if (!fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC))
                argv[n++] = "--cgroup-manager=disabled";
        argv[n++] = "run";
        if (fs_is("/", RAMFS_MAGIC) || fs_is("/", TMPFS_MAGIC))
                argv[n++] = "--no-pivot";
        argv[n++] = "--bundle";
        argv[n++] = bundle;
        argv[n++] = name;
        /* The restart policy is the config's; everything owned is made here (images_free frees it). */
        *w = c->workload;
        w->image = NULL;
        w->args = w->exec = w->env = NULL;
        w->n_args = w->n_exec = w->n_env = 0;
        w->exec = calloc(n + 1, sizeof(char *));
        w->env = calloc(2, sizeof(char *));
        w->cwd = strdup("/");
        if (!w->exec || !w->env || !w->cwd || !(w->env[0] = strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin")))
                return -ENOMEM;
        w->n_env = 1;
        for (w->n_exec = 0; w->n_exec < n; w->n_exec++)
                if (!(w->exec[w->n_exec] = strdup(argv[w->n_exec])))
                        return -ENOMEM;
        w->user = 0;
        w->group = 0;
        return 0;
}

static struct image_state *find(struct images *set, const char *name) {
        for (size_t i = 0; set && i < set->n; i++)
                if (strcmp(set->v[i].cfg->name, name) == 0)
                        return set->v[i].measured ? &set->v[i] : NULL;
        return NULL;
}

static int prepare(struct images *set, const struct config *c, struct image_state *st, json_t **ret_event,
                   errbuf *err) {
        _cleanup_close_ int bundlefd = -EBADF, rootfd = -EBADF;
        _cleanup_free_ char *bundle = NULL;
        struct image_process p = {};
        int r;

        r = prepare_dirs(c, st->cfg->name, &bundlefd, &rootfd, &bundle, err);
        if (r >= 0)
                r = unpack_all(st, bundlefd, rootfd, err);
        if (r >= 0)
                r = image_process_resolve(&c->workload, st->cfg->name, st->meta.config, st->meta.manifest.hex, &p, err);
        if (r >= 0)
                r = write_bundle_config(c, st, &p, bundlefd, err);
        if (r >= 0)
                r = image_workload_event_content(&c->workload, st->cfg->name, &p, ret_event);
        if (r >= 0) {
                r = set_run(set, c, bundle, st->cfg->name);
                if (r == -ENOEXEC)
                        r = errbuf_set(err, r, "%s: not found: image workloads are run by crun (make image installs "
                                       "it)", env_or("CVMINIT_CRUN", IMAGE_CRUN));
                else if (r < 0)
                        r = errbuf_set(err, r, "out of memory");
        }
        image_process_done(&p);
        if (r >= 0)
                log_info("image %s: bundle %s ready.", st->cfg->name, bundle);
        return r;
}

int images_prepare(struct images *set, const struct config *c, json_t **ret_event, const struct workload **ret_run,
                   errbuf *err) {
        struct image_state *st;
        json_t *event = NULL;
        errbuf e = {};
        int r;

        if (!c->workload.image) {
                close_layouts(set);
                return 0;
        }
        st = find(set, c->workload.image);
        if (!st)
                return errbuf_set(err, -ENOENT, "image %s: not measured", c->workload.image);
        r = prepare(set, c, st, &event, &e);
        close_layouts(set);
        if (r < 0) {
                json_decref(event);
                return errbuf_set(err, r, "image %s: %s", st->cfg->name, e.msg[0] ? e.msg : strerror(-r));
        }
        *ret_event = event;
        *ret_run = &set->run;
        return 0;
}

void images_free(struct images *set) {
        if (!set)
                return;
        for (size_t i = 0; i < set->n; i++)
                image_meta_done(&set->v[i].meta);
        free(set->v);
        strv_free_n(set->run.exec, set->run.n_exec);
        strv_free_n(set->run.env, set->run.n_env);
        free(set->run.cwd);
        free(set);
}
