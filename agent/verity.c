/* SPDX-License-Identifier: MIT */
/* Models on dm-verity volumes (verity.h; DESIGN §1 step 5, §3; docs/verity.md). The tree layout is
 * the one of libcryptsetup (lib/verity/verity_hash.c) and the kernel (drivers/md/dm-verity-target.c):
 * the superblock's 4096-byte block at hash_offset, then the levels, the top one (a single block)
 * first; with hash type 1 each hash is SHA-256(salt || block). */
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "devices.h"
#include "dm-util.h"
#include "event.h"
#include "log.h"
#include "models.h"
#include "mounts.h"
#include "verity.h"

#define BLOCK CONFIG_VERITY_BLOCK_SIZE
#define HASH_SIZE CONFIG_VERITY_ROOT_HASH_SIZE
/* 4096 / 32 = 128 = 2^7 hashes in a hash block. */
#define HASH_PER_BLOCK_BITS 7U
/* libcryptsetup's limit (VERITY_MAX_LEVELS). */
#define LEVELS_MAX 63U
/* The superblock takes the start of the hash area: the tree begins at the next block. */
#define SUPERBLOCK_SIZE 512U

static struct {
        char *mapper, *path;
} opened[VERITY_VOLUMES_MAX];
static size_t n_opened;

static uint64_t now_ns(void) {
        struct timespec ts = {};
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000U + (uint64_t) ts.tv_nsec;
}

/* --- libcryptsetup: messages of this device's handle only, the last error kept for ours -------- */

struct cs_log_buf {
        char last[200];
};

/* Messages may quote what the device holds: escaped before they are logged. */
static void cs_log(int level, const char *msg, void *userdata) {
        struct cs_log_buf *b = userdata;
        size_t n = strcspn(msg, "\n");

        if (level == CRYPT_LOG_ERROR && b)
                snprintf(b->last, sizeof(b->last), "%.*s", (int) n, msg);
        if (log_get_level() >= LOG_LEVEL_DEBUG) {
                _cleanup_free_ char *e = escape_untrusted(msg, n, 400);
                log_debug("libcryptsetup: %s", e ?: "?");
        }
}

static const char *cs_detail(int r, const struct cs_log_buf *b, char buf[static 256]) {
        _cleanup_free_ char *e = b->last[0] ? escape_untrusted(b->last, strlen(b->last), 200) : NULL;

        snprintf(buf, 256, "%s", e ?: strerror(-r));
        return buf;
}

/* --- the tree's geometry and the root hash ---------------------------------------------------- */

/* As libcryptsetup's hash_levels: levels until one hash block covers all data blocks; level i
 * has ceil(data_blocks / 128^(i+1)) blocks. */
static int tree_geometry(uint64_t data_blocks, unsigned *ret_levels, uint64_t *ret_blocks) {
        unsigned levels = 0;
        uint64_t total = 0;

        if (data_blocks == 0)
                return -EINVAL;
        while (HASH_PER_BLOCK_BITS * levels < 64 && ((data_blocks - 1) >> (HASH_PER_BLOCK_BITS * levels)) != 0)
                levels++;
        if (levels > LEVELS_MAX)
                return -EINVAL;
        for (unsigned i = 0; i < levels; i++) {
                unsigned shift = HASH_PER_BLOCK_BITS * (i + 1);
                total += shift >= 64 ? 1 : (data_blocks >> shift) + ((data_blocks & ((UINT64_C(1) << shift) - 1)) != 0);
        }
        *ret_levels = levels;
        *ret_blocks = total;
        return 0;
}

static int device_size(int fd, uint64_t *ret) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISREG(st.st_mode)) {
                *ret = (uint64_t) st.st_size;
                return 0;
        }
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        return ioctl(fd, BLKGETSIZE64, ret) < 0 ? -errno : 0;
}

static int read_block(int fd, uint64_t offset, uint8_t *buf) {
        size_t n = 0;

        while (n < BLOCK) {
                ssize_t k = pread(fd, buf + n, BLOCK - n, (off_t) (offset + n));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -ENODATA;
                n += (size_t) k;
        }
        return 0;
}

/* SHA-256(salt || the top hash block), or of the only data block when there is no tree level:
 * what the kernel compares with the root hash it was given. One 4 KiB read. */
static int root_hash(int fd, struct verity_volume *v, const uint8_t *salt, errbuf *err) {
        uint8_t buf[VERITY_SALT_MAX + BLOCK], d[HASH_MAX_SIZE];
        uint64_t offset = v->levels > 0 ? v->hash_start * BLOCK : 0;
        int r;

        memcpy(buf, salt, v->salt_size);
        r = read_block(fd, offset, buf + v->salt_size);
        if (r < 0)
                return errbuf_set(err, r, "cannot read the top hash block at byte %" PRIu64 ": %s", offset, strerror(-r));
        r = hash_buffer(HASH_SHA256, buf, v->salt_size + BLOCK, d);
        if (r < 0)
                return errbuf_set(err, r, "cannot hash the top hash block: %s", strerror(-r));
        memcpy(v->root_hash, d, HASH_SIZE);
        return 0;
}

/* --- the superblock --------------------------------------------------------------------------- */

/* Only what image/mkverity (veritysetup format's defaults with 4096-byte blocks) makes: anything
 * else is a volume this cvminit was not set up to trust. */
static int check_params(const struct crypt_params_verity *vp, const struct config_model *m, errbuf *err) {
        if (!vp->hash_name || strcmp(vp->hash_name, "sha256") != 0) {
                _cleanup_free_ char *e = escape_untrusted(vp->hash_name ?: "", vp->hash_name ? strlen(vp->hash_name) : 0, 40);
                return errbuf_set(err, -EPROTO, "its verity superblock names hash '%s', not sha256", e ?: "?");
        }
        if (vp->hash_type != 1)
                return errbuf_set(err, -EPROTO, "its verity superblock has hash type %" PRIu32 ", not 1 (type 0 is "
                                  "Chrome OS's older format)", vp->hash_type);
        if (vp->data_block_size != BLOCK || vp->hash_block_size != BLOCK)
                return errbuf_set(err, -EPROTO, "its verity superblock has %" PRIu32 "-byte data blocks and %" PRIu32
                                  "-byte hash blocks, not %u", vp->data_block_size, vp->hash_block_size, BLOCK);
        if (vp->salt_size > VERITY_SALT_MAX)
                return errbuf_set(err, -EPROTO, "its verity superblock has a %" PRIu32 "-byte salt", vp->salt_size);
        if (vp->fec_device || vp->fec_roots)
                return errbuf_set(err, -EPROTO, "its verity volume uses forward error correction, which cvminit does "
                                  "not set up");
        if (vp->data_size == 0 || vp->data_size > CONFIG_VERITY_DATA_BLOCKS_MAX)
                return errbuf_set(err, -EPROTO, "its verity superblock has %" PRIu64 " data blocks (1 to %" PRIu64
                                  " accepted)", vp->data_size, CONFIG_VERITY_DATA_BLOCKS_MAX);
        if (vp->hash_area_offset != m->hash_offset)
                return errbuf_set(err, -EPROTO, "libcryptsetup loaded a superblock at byte %" PRIu64 ", not %" PRIu64,
                                  vp->hash_area_offset, m->hash_offset);
        if (vp->data_size * BLOCK > m->hash_offset)
                return errbuf_set(err, -EUCLEAN, "its verity superblock has %" PRIu64 " data blocks, which reach past "
                                  "the hash area at byte %" PRIu64, vp->data_size, m->hash_offset);
        return 0;
}

/* The tree's place and size; the device must hold all of it (a cut tree would fail reads later,
 * with less clear messages). */
static int check_geometry(struct verity_volume *v, uint64_t hash_offset, errbuf *err) {
        uint64_t end;

        if (tree_geometry(v->data_blocks, &v->levels, &v->tree_blocks) < 0)
                return errbuf_set(err, -EPROTO, "no hash tree shape for %" PRIu64 " data blocks", v->data_blocks);
        v->hash_start = (hash_offset + SUPERBLOCK_SIZE + BLOCK - 1) / BLOCK;
        end = (v->hash_start + v->tree_blocks) * BLOCK;
        if (v->device_size < end)
                return errbuf_set(err, -EUCLEAN, "it has %" PRIu64 " bytes, but its hash tree (%" PRIu64 " block%s from "
                                  "byte %" PRIu64 ") ends at byte %" PRIu64 ": the volume is cut short", v->device_size,
                                  v->tree_blocks, v->tree_blocks == 1 ? "" : "s", v->hash_start * BLOCK, end);
        return 0;
}

/* Loads and checks the superblock; *ret_cd (if not NULL) is then ready for activation. */
static int examine(const struct config_model *m, const char *path, struct verity_volume *v,
                   struct crypt_device **ret_cd, errbuf *err) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct crypt_params_verity params = { .hash_area_offset = m->hash_offset }, vp = {};
        struct cs_log_buf lb = {};
        char detail[256];
        int r;

        *v = (struct verity_volume) {};
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open it: %s", strerror(errno));
        r = device_size(fd, &v->device_size);
        if (r < 0)
                return errbuf_set(err, r, "cannot get its size: %s", strerror(-r));
        r = crypt_init(&cd, path);
        if (r < 0)
                return errbuf_set(err, r, "libcryptsetup cannot use it: %s", strerror(-r));
        crypt_set_log_callback(cd, cs_log, &lb);
        r = crypt_load(cd, CRYPT_VERITY, &params);
        if (r < 0)
                return errbuf_set(err, r == -ENOMEM ? r : -EMEDIUMTYPE, "no usable verity superblock at byte %" PRIu64
                                  " (hash_offset): %s", m->hash_offset, cs_detail(r, &lb, detail));
        r = crypt_get_verity_info(cd, &vp);
        if (r < 0)
                return errbuf_set(err, r, "cannot read the verity parameters: %s", cs_detail(r, &lb, detail));
        r = check_params(&vp, m, err);
        if (r < 0)
                return r;
        v->data_blocks = vp.data_size;
        v->salt_size = vp.salt_size;
        r = check_geometry(v, m->hash_offset, err);
        if (r >= 0)
                r = root_hash(fd, v, (const uint8_t *) vp.salt, err);
        if (r < 0)
                return r;
        /* lb lives on this stack: the handle outlives it. */
        crypt_set_log_callback(cd, cs_log, NULL);
        if (ret_cd)
                *ret_cd = TAKE_PTR(cd);
        return 0;
}

int verity_examine(const struct config_model *m, const char *path, struct verity_volume *ret, errbuf *err) {
        if (!m || !path || !ret || m->mode != MODEL_MODE_VERITY)
                return -EINVAL;
        return examine(m, path, ret, NULL, err);
}

int verity_check_pins(const struct config_model *m, const struct verity_volume *v, const char *dev, errbuf *err) {
        char found[2 * HASH_SIZE + 1], pinned[2 * HASH_SIZE + 1], blocks[96] = "";

        hex_encode(v->root_hash, HASH_SIZE, found);
        hex_encode(m->root_hash, HASH_SIZE, pinned);
        if (v->data_blocks != m->data_blocks)
                snprintf(blocks, sizeof(blocks), "%" PRIu64 " data blocks, the config pins %" PRIu64, v->data_blocks,
                         m->data_blocks);
        if (memcmp(v->root_hash, m->root_hash, HASH_SIZE) != 0)
                return errbuf_set(err, -EBADMSG, "verity root hash mismatch for model %s on %s: the volume's hash tree "
                                  "has root hash %s, the config pins %s%s%s%s", m->name, dev, found, pinned,
                                  blocks[0] ? " (and it has " : "", blocks, blocks[0] ? ")" : "");
        /* Same top block, other count: a superblock that hides the end of the volume. */
        if (blocks[0])
                return errbuf_set(err, -EBADMSG, "verity data block count mismatch for model %s on %s: its superblock "
                                  "says %s", m->name, dev, blocks);
        return 0;
}

/* --- opening ---------------------------------------------------------------------------------- */

static int measure(const struct config_model *m, const struct verity_volume *v, struct cel_writer *w, errbuf *err) {
        json_t *content = NULL;
        int r;

        r = models_verity_event_content(m->name, v->root_hash, v->data_blocks, &content);
        if (r < 0)
                return errbuf_set(err, r, "model %s: cannot form the event: %s", m->name, strerror(-r));
        r = cel_writer_append(w, EVENT_DOMAIN, "model", content);
        json_decref(content);
        if (r < 0)
                return errbuf_set(err, r, "model %s: cannot measure: %s", m->name,
                                  cel_writer_error(w)[0] ? cel_writer_error(w) : strerror(-r));
        return 0;
}

static int mount_volume(const struct config_model *m, const char *mapper, errbuf *err) {
        int r;

        r = mount_target_check(m->path, err);
        if (r < 0)
                return r;
        r = mount_point_create(m->path);
        if (r < 0)
                return errbuf_set(err, r, "cannot create mount point %s: %s", m->path, strerror(-r));
        if (mount(mapper, m->path, VERITY_FS, MS_RDONLY | MS_NOSUID | MS_NODEV, "") < 0)
                return errbuf_set(err, -errno, "cannot mount %s (%s, read-only) on %s: %s", mapper, VERITY_FS, m->path,
                                  strerror(errno));
        return 0;
}

static int remember(const char *mapper, const char *path) {
        char *a = strdup(mapper), *b = strdup(path);

        if (!a || !b) {
                free(a);
                free(b);
                return -ENOMEM;
        }
        opened[n_opened].mapper = a;
        opened[n_opened++].path = b;
        return 0;
}

/* Activates with the pinned root hash (equal to the one found) and mounts; undone on failure.
 * *ret_active is when the mapping became active. */
static int activate_and_mount(const struct config_model *m, struct crypt_device *cd, const char *name,
                              const char *dev, uint64_t *ret_active, errbuf *err) {
        char mapper[PATH_MAX], detail[256];
        struct cs_log_buf lb = {};
        errbuf e = {};
        int r;

        snprintf(mapper, sizeof(mapper), "%s/%s", crypt_get_dir(), name);
        crypt_set_log_callback(cd, cs_log, &lb);
        r = crypt_activate_by_volume_key(cd, name, (const char *) m->root_hash, HASH_SIZE, CRYPT_ACTIVATE_READONLY);
        /* lb lives on this stack: the handle outlives it. */
        crypt_set_log_callback(cd, cs_log, NULL);
        if (r < 0)
                return errbuf_set(err, r, "model %s: cannot activate %s on %s: %s", m->name, mapper, dev,
                                  cs_detail(r, &lb, detail));
        *ret_active = now_ns();
        r = mount_volume(m, mapper, &e);
        if (r >= 0 && remember(mapper, m->path) < 0) {
                (void) umount2(m->path, MNT_DETACH);
                r = errbuf_set(&e, -ENOMEM, "out of memory");
        }
        if (r < 0) {
                if (crypt_deactivate(cd, name) < 0)
                        log_warning("Model %s: cannot deactivate %s after the failure.", m->name, mapper);
                return errbuf_set(err, r, "model %s: %s", m->name, e.msg);
        }
        return 0;
}

static double ms(uint64_t from, uint64_t to) {
        return (double) (to - from) / 1e6;
}

/* From the device node to a mounted volume; dev names it in messages ("SPEC (/dev/vda)"). */
static int open_on(const struct config_model *m, const char *node, const char *dev, struct cel_writer *w,
                   errbuf *err) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        char name[sizeof(VERITY_MAPPER_PREFIX) + CONFIG_NAME_MAX], hex[2 * HASH_SIZE + 1];
        struct verity_volume v;
        uint64_t t0 = now_ns(), t_found, t_measured, t_active = 0, t_mounted;
        errbuf e = {};
        int r;

        r = examine(m, node, &v, &cd, &e);
        if (r < 0)
                return errbuf_set(err, r, "model %s: device %s: %s", m->name, dev, e.msg);
        t_found = now_ns();
        /* What was found is measured before it is compared (as in files mode): the log shows it. */
        r = measure(m, &v, w, err);
        if (r >= 0)
                r = verity_check_pins(m, &v, dev, err);
        if (r < 0)
                return r;
        t_measured = now_ns();
        snprintf(name, sizeof(name), VERITY_MAPPER_PREFIX "%s", m->name);
        r = activate_and_mount(m, cd, name, dev, &t_active, err);
        if (r < 0)
                return r;
        t_mounted = now_ns();
        hex_encode(v.root_hash, HASH_SIZE, hex);
        log_info("Model %s: verity root hash %s activated in %.1f ms (superblock and root hash %.1f ms, event %.1f ms, "
                 "mapping %.1f ms; %" PRIu64 " data blocks, %.1f MiB, %u tree level%s); mounted read-only on %s in %.1f ms.",
                 m->name, hex, ms(t0, t_active), ms(t0, t_found), ms(t_found, t_measured), ms(t_measured, t_active),
                 v.data_blocks, (double) v.data_blocks * BLOCK / (1U << 20), v.levels, v.levels == 1 ? "" : "s", m->path,
                 ms(t_active, t_mounted));
        return 0;
}

int verity_open(const struct config_model *m, struct cel_writer *w, errbuf *err) {
        _cleanup_free_ char *node = NULL;
        struct device_spec spec;
        char dev[DEVICE_SPEC_MAX + 16 + PATH_MAX];
        uint64_t t = now_ns();
        int r;

        if (!m || !w || m->mode != MODEL_MODE_VERITY)
                return errbuf_set(err, -EINVAL, "model: not a verity model");
        if (n_opened >= VERITY_VOLUMES_MAX)
                return errbuf_set(err, -E2BIG, "model %s: more than %u verity volumes", m->name, VERITY_VOLUMES_MAX);
        r = device_spec_parse(m->device, &spec, err);
        if (r < 0)
                return r;
        /* libcryptsetup's lock directory: made here so it does not warn that it is missing. */
        if (mkdir("/run/cryptsetup", 0700) < 0 && errno != EEXIST)
                log_debug_errno(errno, "Cannot create /run/cryptsetup: %m");
        r = device_wait(&spec, m->timeout_ms > UINT32_MAX ? UINT32_MAX : (unsigned) m->timeout_ms, &node, err);
        if (r < 0)
                return r;
        log_debug("Model %s: %s is %s (found after %.1f ms).", m->name, spec.text, node, (double) (now_ns() - t) / 1e6);
        snprintf(dev, sizeof(dev), "%s (%s)", spec.text, node);
        return open_on(m, node, dev, w, err);
}

/* --- closing ---------------------------------------------------------------------------------- */

static void deactivate_one(const char *mapper) {
        const char *name = strrchr(mapper, '/') ? strrchr(mapper, '/') + 1 : mapper;
        bool deferred;
        int r = dm_deactivate(name, &deferred);

        if (r < 0)
                log_warning("Cannot deactivate %s: %s", mapper, strerror(-r));
        else
                log_info("Closed %s.", mapper);
}

void verity_close_all(void) {
        while (n_opened > 0) {
                n_opened--;
                dm_unmount(opened[n_opened].path);
                deactivate_one(opened[n_opened].mapper);
                free(opened[n_opened].mapper);
                free(opened[n_opened].path);
        }
}
