/* SPDX-License-Identifier: MIT */
/* OCI image layout directories (image-layout.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "hashalg.h"
#include "image-layout.h"

#define PATH_SHOWN_MAX 200U

/* name below the layout, never through a symlink, never out of it. */
static int open_in_layout(int dirfd, const char *name) {
        struct open_how how = {
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int) syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

        return fd < 0 ? -errno : fd;
}

static const char *open_error(int r) {
        switch (r) {
        case -ENOENT:
                return "missing";
        case -ELOOP:
        case -EXDEV:
                return "a symbolic link (refused: a layout holds plain files)";
        case -ENOSYS:
                return "cannot be opened safely (openat2 needs Linux 5.6)";
        default:
                return strerror(-r);
        }
}

/* A small file of the layout itself (oci-layout, index.json), read whole. */
static int read_small(const struct image_meta *m, const char *name, size_t max, uint8_t **ret, size_t *ret_len,
                      errbuf *err) {
        _cleanup_close_ int fd = open_in_layout(m->layout_fd, name);
        struct stat st;
        int r;

        if (fd < 0)
                return errbuf_set(err, fd, "%s: %s", name, open_error(fd));
        if (fstat(fd, &st) < 0)
                return errbuf_set(err, -errno, "%s: %m", name);
        if (!S_ISREG(st.st_mode))
                return errbuf_set(err, -EBADFD, "%s: not a regular file", name);
        if ((uint64_t) st.st_size > max)
                return errbuf_set(err, -EFBIG, "%s: %" PRIu64 " bytes, more than the limit of %zu", name,
                                  (uint64_t) st.st_size, max);
        r = read_fd_limited(fd, max, ret, ret_len);
        if (r < 0)
                return errbuf_set(err, r, "%s: %s", name, r == -EFBIG ? "grew past its limit" : strerror(-r));
        return 0;
}

int image_blob_open(const struct image_meta *m, const struct oci_descriptor *d, const char *what, int *ret_fd,
                    errbuf *err) {
        char name[sizeof("blobs/sha256/") + 2 * OCI_DIGEST_SIZE];
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        snprintf(name, sizeof(name), "blobs/sha256/%s", d->hex);
        fd = open_in_layout(m->layout_fd, name);
        if (fd < 0)
                return errbuf_set(err, fd == -ENOENT ? -ENOENT : fd, "blob sha256:%s (%s): %s", d->hex, what,
                                  open_error(fd));
        if (fstat(fd, &st) < 0)
                return errbuf_set(err, -errno, "blob sha256:%s (%s): %m", d->hex, what);
        if (!S_ISREG(st.st_mode))
                return errbuf_set(err, -EBADFD, "blob sha256:%s (%s): not a regular file", d->hex, what);
        if ((uint64_t) st.st_size != d->size)
                return errbuf_set(err, -EBADMSG, "blob sha256:%s (%s): %" PRIu64 " bytes, its descriptor says %" PRIu64,
                                  d->hex, what, (uint64_t) st.st_size, d->size);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

char *image_blob_path(const struct image_meta *m, const struct oci_descriptor *d) {
        char *p = NULL;
        return asprintf(&p, "%s/blobs/sha256/%s", m->layout, d->hex) < 0 ? NULL : p;
}

/* A blob read whole into memory and checked there: what is parsed is what was checked. */
static int read_blob(const struct image_meta *m, const struct oci_descriptor *d, const char *what, size_t max,
                     uint8_t **ret, size_t *ret_len, errbuf *err) {
        _cleanup_free_ uint8_t *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint8_t digest[HASH_MAX_SIZE];
        char hex[2 * HASH_MAX_SIZE + 1];
        size_t n = 0;
        int r;

        if (d->size > max)
                return errbuf_set(err, -EFBIG, "blob sha256:%s (%s): %" PRIu64 " bytes, more than the limit of %zu",
                                  d->hex, what, d->size, max);
        r = image_blob_open(m, d, what, &fd, err);
        if (r < 0)
                return r;
        r = read_fd_limited(fd, max, &p, &n);
        if (r >= 0 && n != d->size)
                r = -EBADMSG;
        if (r < 0)
                return errbuf_set(err, r, "blob sha256:%s (%s): cannot read %" PRIu64 " bytes: %s", d->hex, what, d->size,
                                  r == -EBADMSG ? "size changed" : strerror(-r));
        r = hash_buffer(HASH_SHA256, p, n, digest);
        if (r < 0)
                return errbuf_set(err, r, "blob sha256:%s (%s): cannot hash: %s", d->hex, what, strerror(-r));
        if (memcmp(digest, d->digest, OCI_DIGEST_SIZE) != 0) {
                hex_encode(digest, OCI_DIGEST_SIZE, hex);
                return errbuf_set(err, -EBADMSG, "blob sha256:%s (%s): content does not match its digest (its "
                                  "sha256 is %s)", d->hex, what, hex);
        }
        *ret = TAKE_PTR(p);
        *ret_len = n;
        return 0;
}

int image_layout_open(const char *dir, const char *ref, struct image_meta *m, errbuf *err) {
        _cleanup_free_ char *esc = escape_untrusted(dir, strlen(dir), PATH_SHOWN_MAX);
        _cleanup_free_ uint8_t *layout = NULL, *index = NULL;
        size_t n = 0;
        int r;

        *m = (struct image_meta) { .layout_fd = -EBADF };
        m->layout = strdup(dir);
        if (!m->layout || !esc)
                return errbuf_set(err, -ENOMEM, "out of memory");
        m->layout_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->layout_fd < 0)
                return errbuf_set(err, -errno, "layout %s: cannot open the directory: %m", esc);
        r = read_small(m, "oci-layout", OCI_LAYOUT_FILE_MAX, &layout, &n, err);
        if (r >= 0)
                r = oci_layout_check(layout, n, err);
        if (r >= 0)
                r = read_small(m, "index.json", OCI_INDEX_MAX, &index, &n, err);
        if (r >= 0)
                r = oci_index_find(index, n, ref, &m->manifest, err);
        if (r >= 0)
                r = read_blob(m, &m->manifest, "the manifest", OCI_MANIFEST_MAX, &m->manifest_raw, &m->manifest_len, err);
        return r;
}

/* The image must run here: linux on this architecture. */
static int check_platform(const struct oci_image_config *c, errbuf *err) {
        _cleanup_free_ char *os = escape_untrusted(c->os, strlen(c->os), 32),
                            *arch = escape_untrusted(c->architecture, strlen(c->architecture), 32);

        if (strcmp(c->os, "linux") == 0 && strcmp(c->architecture, oci_arch()) == 0)
                return 0;
        return errbuf_set(err, -ENOEXEC, "image config: the image is for %s/%s, this VM runs linux/%s", os ? os : "?",
                          arch ? arch : "?", oci_arch());
}

int image_layout_load(struct image_meta *m, errbuf *err) {
        _cleanup_free_ uint8_t *raw = NULL;
        size_t n = 0;
        int r;

        r = oci_manifest_parse(m->manifest_raw, m->manifest_len, m->manifest.media_type, &m->m, err);
        if (r < 0)
                return r;
        r = read_blob(m, &m->m->config, "the image config", OCI_CONFIG_MAX, &raw, &n, err);
        if (r < 0)
                return r;
        r = oci_config_parse(raw, n, &m->config, err);
        if (r < 0)
                return r;
        r = check_platform(m->config, err);
        if (r < 0)
                return r;
        if (m->config->n_diff_ids != m->m->n_layers)
                return errbuf_set(err, -EBADMSG, "image config: %zu diff_ids for %zu layers", m->config->n_diff_ids,
                                  m->m->n_layers);
        return 0;
}

static bool path_below(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return strcmp(dir, "/") == 0 || (strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/'));
}

bool image_post_key(const struct config *c, const struct config_image *img) {
        return c->disk && path_below(img->layout, c->disk->path);
}

int image_event_content(const struct config_image *img, const uint8_t digest[static OCI_DIGEST_SIZE], json_t **ret) {
        char hex[2 * OCI_DIGEST_SIZE + 1], d[sizeof("sha256:") + 2 * OCI_DIGEST_SIZE];
        json_t *o;

        hex_encode(digest, OCI_DIGEST_SIZE, hex);
        snprintf(d, sizeof(d), "sha256:%s", hex);
        o = json_pack("{s:s, s:s, s:s}", "name", img->name, "ref", img->ref, "digest", d);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

void image_meta_done(struct image_meta *m) {
        if (!m)
                return;
        m->layout_fd = safe_close(m->layout_fd);
        free(m->layout);
        free(m->manifest_raw);
        oci_manifest_free(m->m);
        oci_config_free(m->config);
        *m = (struct image_meta) { .layout_fd = -EBADF };
}
