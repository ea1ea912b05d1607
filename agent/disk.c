/* SPDX-License-Identifier: MIT */
/* The LUKS2 data disk (disk.h; DESIGN §5, §6; docs/disk.md has the rules and the state machine). */
#include <blkid.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "devices.h"
#include "disk.h"
#include "dm-util.h"
#include "event.h"
#include "log.h"
#include "mounts.h"
#include "workload.h"

/* A device is blank only if this much of its start reads as zeros besides having no signature:
 * data in a format libblkid does not know must not be formatted over either. */
#define ZERO_CHECK_BYTES (1024U * 1024U)
/* LUKS2 encryption sector: fewer integrity tags and faster I/O than 512. */
#define SECTOR_SIZE 4096U
/* libcryptsetup's minimum for LUKS2 key slots: the key is random, stretching adds nothing. */
#define PBKDF2_ITERATIONS 1000U
/* The wipe writes this much per call, with direct I/O; 1, 4 or 16 MiB and buffered I/O all took the
 * same time under TCG, where HMAC and AES are the cost (docs/disk.md). */
#define WIPE_BLOCK (4U * 1024U * 1024U)
/* Key slots of volumes set up elsewhere are tried only below these costs, so a hostile header
 * cannot make PID 1 run out of memory or stall for hours. */
#define PBKDF2_ITERATIONS_MAX 10000000U
#define ARGON2_TIME_MAX 64U
#define DISKS_MAX 4U

/* The cipher and integrity pairs of docs/disk.md, as libcryptsetup takes them. */
struct suite {
        const char *cipher, *integrity; /* the config's names */
        const char *kcipher, *kmode;    /* crypt_format's cipher and mode */
        const char *kintegrity;         /* crypt_params_luks2.integrity; NULL = none */
        size_t key_size;                /* volume key: cipher key, then the HMAC key */
};

static const struct suite suites[] = {
        { "aes-xts-plain64", "hmac-sha256", "aes", "xts-plain64", "hmac(sha256)", 64 + 32 },
        { "aes-xts-plain64", "none", "aes", "xts-plain64", NULL, 64 },
        { "aes-gcm-random", "aead", "aes", "gcm-random", "aead", 32 },
};

static const char *const state_names[_DISK_STATE_MAX] = {
        [DISK_BLANK] = "blank",         [DISK_RESTART] = "an interrupted format",
        [DISK_FORMATTED] = "formatted", [DISK_WIPED] = "formatted with integrity tags initialised",
        [DISK_READY] = "set up",        [DISK_FOREIGN] = "a LUKS2 volume set up elsewhere",
};

const char *disk_state_name(enum disk_state s) {
        return s >= 0 && s < _DISK_STATE_MAX ? state_names[s] : "?";
}

static disk_stage_hook_t stage_hook;

void disk_set_stage_hook(disk_stage_hook_t hook) {
        stage_hook = hook;
}

static void stage(const char *name) {
        if (stage_hook)
                stage_hook(name);
}

static struct {
        char *name, *path;
} opened[DISKS_MAX];
static size_t n_opened;

static uint64_t now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

/* --- libcryptsetup: its messages go to debug, the last error is kept for ours ----------------- */

static char cs_error[256];

/* Messages may quote header contents (labels, cipher names): escaped before they are logged. */
static void cs_log(int level, const char *msg, void *usrptr) {
        size_t n = strcspn(msg, "\n");

        (void) usrptr;
        if (level == CRYPT_LOG_ERROR)
                snprintf(cs_error, sizeof(cs_error), "%.*s", (int) n, msg);
        if (log_get_level() >= LOG_LEVEL_DEBUG) {
                _cleanup_free_ char *e = escape_untrusted(msg, n, 400);
                log_debug("libcryptsetup: %s", e ?: "?");
        }
}

static void cs_setup(void) {
        static bool done;

        cs_error[0] = 0;
        if (done)
                return;
        crypt_set_log_callback(NULL, cs_log, NULL);
        if (log_get_level() >= LOG_LEVEL_DEBUG)
                crypt_set_debug_level(CRYPT_DEBUG_ALL);
        /* Token plugins are shared objects loaded from the file system: none is wanted in PID 1. */
        crypt_token_external_disable();
        done = true;
}

/* libcryptsetup's own words for the last failure, escaped (they may quote header contents). */
static const char *cs_detail(int r, char buf[static 300]) {
        _cleanup_free_ char *e = cs_error[0] ? escape_untrusted(cs_error, strlen(cs_error), 200) : NULL;

        snprintf(buf, 300, "%s", e ? e : strerror(-r));
        cs_error[0] = 0;
        return buf;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(blkid_probe, blkid_free_probe);

static const struct suite *suite_find(const struct config_disk *d) {
        for (size_t i = 0; i < ELEMENTSOF(suites); i++)
                if (strcmp(suites[i].cipher, d->cipher) == 0 && strcmp(suites[i].integrity, d->integrity) == 0)
                        return &suites[i];
        return NULL;
}

/* --- what a device holds ---------------------------------------------------------------------- */

struct signatures {
        unsigned n;
        char first[32];    /* TYPE of the first one ("ext4", "crypto_LUKS"; "gpt" for a partition table) */
        char list[200];    /* all of them, for messages */
        char detail[200];  /* the first one described: "ext4 (label 'x', UUID y)", "a gpt partition table" */
};

static void signature_add(blkid_probe pr, struct signatures *s) {
        const char *type = NULL, *label = NULL, *uuid = NULL;
        bool pt = false;
        size_t k = strlen(s->list);

        if (blkid_probe_lookup_value(pr, "TYPE", &type, NULL) < 0 || !type)
                pt = blkid_probe_lookup_value(pr, "PTTYPE", &type, NULL) == 0 && type;
        _cleanup_free_ char *t = escape_untrusted(type ?: "unknown", strlen(type ?: "unknown"), 24);
        snprintf(s->list + k, sizeof(s->list) - k, "%s%s%s", k ? ", " : "", t ?: "?", pt ? " partition table" : "");
        if (s->n++ > 0)
                return;
        snprintf(s->first, sizeof(s->first), "%s", t ?: "?");
        (void) blkid_probe_lookup_value(pr, "LABEL", &label, NULL);
        (void) blkid_probe_lookup_value(pr, "UUID", &uuid, NULL);
        _cleanup_free_ char *l = escape_untrusted(label ?: "", label ? strlen(label) : 0, 48);
        _cleanup_free_ char *u = escape_untrusted(uuid ?: "", uuid ? strlen(uuid) : 0, 48);
        if (pt)
                snprintf(s->detail, sizeof(s->detail), "a %s partition table", t ?: "?");
        else
                snprintf(s->detail, sizeof(s->detail), "%s (label '%s', UUID %s)", t ?: "?", l ?: "?",
                         u && u[0] ? u : "none");
}

/* Every signature libblkid knows, the way wipefs enumerates them: file systems, RAID members, LUKS
 * headers (superblocks with a bad checksum too: a damaged header is still a header) and partition
 * tables. */
static int probe_signatures(const char *path, struct signatures *s, errbuf *err) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        int rc;

        *s = (struct signatures) {};
        errno = 0;
        pr = blkid_new_probe_from_filename(path);
        if (!pr)
                return errbuf_set(err, errno > 0 ? -errno : -EIO, "cannot probe %s: %s", path,
                                  strerror(errno > 0 ? errno : EIO));
        (void) blkid_probe_enable_superblocks(pr, 1);
        (void) blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE | BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID |
                                                             BLKID_SUBLKS_BADCSUM);
        (void) blkid_probe_enable_partitions(pr, 1);
        (void) blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC);
        while ((rc = blkid_do_probe(pr)) == 0)
                signature_add(pr, s);
        if (rc < 0)
                return errbuf_set(err, -EIO, "cannot probe %s: libblkid failed to read it", path);
        return (int) s->n;
}

/* 0 if the first ZERO_CHECK_BYTES (or the whole device, if smaller) are zeros; 1 and the offset of
 * the first other byte if not. */
static int first_nonzero(const char *path, uint64_t *ret, errbuf *err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ uint8_t *buf = malloc(ZERO_CHECK_BYTES);
        size_t n = 0;

        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        if (!buf)
                return errbuf_set(err, -ENOMEM, "out of memory");
        while (n < ZERO_CHECK_BYTES) {
                ssize_t k = pread(fd, buf + n, ZERO_CHECK_BYTES - n, (off_t) n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errbuf_set(err, -errno, "cannot read %s: %s", path, strerror(errno));
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        for (size_t i = 0; i < n; i++)
                if (buf[i]) {
                        *ret = i;
                        return 1;
                }
        return 0;
}

static int parse_stage(const char *subsystem, enum disk_state *ret, errbuf *err) {
        static const struct {
                const char *name;
                enum disk_state state;
        } stages[] = {
                { DISK_STAGE_FORMATTED, DISK_FORMATTED },
                { DISK_STAGE_WIPED, DISK_WIPED },
                { DISK_STAGE_READY, DISK_READY },
        };

        if (!subsystem || strncmp(subsystem, "cvminit:", 8) != 0) {
                *ret = DISK_FOREIGN;
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(stages); i++)
                if (strcmp(subsystem, stages[i].name) == 0) {
                        *ret = stages[i].state;
                        return 0;
                }
        _cleanup_free_ char *e = escape_untrusted(subsystem, strlen(subsystem), 60);
        return errbuf_set(err, -EPROTO, "its LUKS2 subsystem '%s' is no setup stage this cvminit knows "
                          "(a newer cvminit's?): not touching it", e ?: "?");
}

static unsigned keyslots_used(struct crypt_device *cd) {
        unsigned n = 0;

        for (int i = 0; i < crypt_keyslot_max(CRYPT_LUKS2); i++) {
                crypt_keyslot_info k = crypt_keyslot_status(cd, i);
                n += k == CRYPT_SLOT_ACTIVE || k == CRYPT_SLOT_ACTIVE_LAST || k == CRYPT_SLOT_UNBOUND;
        }
        return n;
}

static bool kdf_acceptable(struct crypt_device *cd, int slot) {
        struct crypt_pbkdf_type p = {};
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        uint64_t half_ram_kib = pages > 0 && page > 0 ? (uint64_t) pages * (uint64_t) page / 2048U : 0;

        if (crypt_keyslot_get_pbkdf(cd, slot, &p) < 0 || !p.type)
                return false;
        if (strcmp(p.type, CRYPT_KDF_PBKDF2) == 0)
                return p.iterations <= PBKDF2_ITERATIONS_MAX;
        return p.iterations <= ARGON2_TIME_MAX && p.max_memory_kb <= half_ram_kib;
}

/* Tries the key on each key slot whose KDF cost is acceptable, activating name with flags (NULL:
 * only checks): the slot it opened, or -EPERM with err saying what the header holds. */
static int open_keyslot(struct crypt_device *cd, const char *name, uint32_t flags, const uint8_t *key,
                        size_t n, errbuf *err) {
        unsigned used = 0, skipped = 0;
        char detail[300];

        for (int i = 0; i < crypt_keyslot_max(CRYPT_LUKS2); i++) {
                crypt_keyslot_info k = crypt_keyslot_status(cd, i);
                if (k != CRYPT_SLOT_ACTIVE && k != CRYPT_SLOT_ACTIVE_LAST)
                        continue;
                used++;
                if (!kdf_acceptable(cd, i)) {
                        skipped++;
                        continue;
                }
                int r = crypt_activate_by_passphrase(cd, name, i, (const char *) key, n, flags);
                if (r >= 0)
                        return i;
                if (r != -EPERM)
                        return errbuf_set(err, r, "cannot open it%s%s: %s", name ? " as " : "", name ?: "",
                                          cs_detail(r, detail));
        }
        cs_error[0] = 0;
        const char *uuid = crypt_get_uuid(cd) ?: "?";
        _cleanup_free_ char *u = escape_untrusted(uuid, strlen(uuid), 48);
        return errbuf_set(err, -EPERM, "it holds a LUKS2 volume (UUID %s) with %u key slot(s), none of which opens "
                          "with the released key%s: refusing it, never formatting over it", u ?: "?", used,
                          skipped ? " (some were not tried: their KDF costs more than cvminit allows)" : "");
}

/* What was formatted must be what the config asks for, so a volume never silently runs with
 * weaker protection than the measured config says. */
static int check_suite(struct crypt_device *cd, const struct suite *s, errbuf *err) {
        struct crypt_params_integrity ip = {};
        const char *c = crypt_get_cipher(cd) ?: "?", *m = crypt_get_cipher_mode(cd) ?: "?";
        const char *integrity = crypt_get_integrity_info(cd, &ip) == 0 && ip.integrity ? ip.integrity : NULL;

        if (strcmp(c, s->kcipher) == 0 && strcmp(m, s->kmode) == 0 &&
            (integrity && s->kintegrity ? strcmp(integrity, s->kintegrity) == 0 : integrity == s->kintegrity))
                return 0;
        _cleanup_free_ char *ec = escape_untrusted(c, strlen(c), 32), *em = escape_untrusted(m, strlen(m), 32);
        _cleanup_free_ char *ei = escape_untrusted(integrity ?: "none", strlen(integrity ?: "none"), 32);
        return errbuf_set(err, -EMEDIUMTYPE, "it holds a LUKS2 volume encrypted with %s-%s and integrity %s, but "
                          "the config says %s with integrity %s: refusing it", ec ?: "?", em ?: "?", ei ?: "?",
                          s->cipher, s->integrity);
}

static int load_luks2(const char *path, struct crypt_device **ret, errbuf *err) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        char detail[300];
        int r;

        r = crypt_init(&cd, path);
        if (r < 0)
                return errbuf_set(err, r, "cannot open it with libcryptsetup: %s", cs_detail(r, detail));
        r = crypt_load(cd, NULL, NULL);
        if (r < 0)
                return errbuf_set(err, -EUCLEAN, "it holds a LUKS header that libcryptsetup cannot load (damaged, or "
                                  "an interrupted format): %s. Not formatting over it. If this disk never held "
                                  "data, clear its first 16 MiB to let cvminit set it up again",
                                  cs_detail(r, detail));
        if (strcmp(crypt_get_type(cd) ?: "", CRYPT_LUKS2) != 0)
                return errbuf_set(err, -EMEDIUMTYPE, "it holds a %s volume; cvminit opens LUKS2 only",
                                  crypt_get_type(cd) ?: "LUKS");
        *ret = TAKE_PTR(cd);
        return 0;
}

/* key NULL: the key is not tried here (disk_open tries it when it activates, saving a second
 * run of the key slot's KDF and anti-forensic merge, 0.2 s under TCG). */
static int examine_luks(const struct suite *s, const char *path, const uint8_t *key, size_t n,
                        enum disk_state *ret, struct crypt_device **ret_cd, errbuf *err) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        int r;

        r = load_luks2(path, &cd, err);
        if (r < 0)
                return r;
        r = parse_stage(crypt_get_subsystem(cd), ret, err);
        if (r < 0)
                return r;
        /* Formatted by us, cut before the key slot was written: the volume key died with that boot,
         * so nothing can ever have been stored in it. */
        if (*ret == DISK_FORMATTED && keyslots_used(cd) == 0) {
                *ret = DISK_RESTART;
                return 0;
        }
        if (key) {
                r = open_keyslot(cd, NULL, 0, key, n, err);
                if (r < 0)
                        return r;
        }
        r = check_suite(cd, s, err);
        if (r < 0)
                return r;
        if (ret_cd)
                *ret_cd = TAKE_PTR(cd);
        return 0;
}

static int examine(const struct config_disk *d, const char *path, const uint8_t *key, size_t n,
                   enum disk_state *ret, struct crypt_device **ret_cd, errbuf *err) {
        const struct suite *s = suite_find(d);
        struct signatures sig;
        uint64_t off = 0;
        int r;

        if (!s)
                return errbuf_set(err, -EINVAL, "cipher %s with integrity %s is not supported", d->cipher, d->integrity);
        cs_setup();
        r = probe_signatures(path, &sig, err);
        if (r < 0)
                return r;
        if (r > 1)
                return errbuf_set(err, -ENOTUNIQ, "it holds several signatures (%s): not guessing which is real; "
                                  "not formatting, not opening", sig.list);
        if (r == 1 && strcmp(sig.first, "crypto_LUKS") != 0)
                return errbuf_set(err, -EMEDIUMTYPE, "it holds %s, not a LUKS2 volume: not formatting over it, "
                                  "not opening it", sig.detail);
        if (r == 1)
                return examine_luks(s, path, key, n, ret, ret_cd, err);
        r = first_nonzero(path, &off, err);
        if (r < 0)
                return r;
        if (r > 0)
                return errbuf_set(err, -EMEDIUMTYPE, "it holds no signature libblkid knows, but it is not empty either "
                                  "(byte %llu is not zero): it may hold data, so it is not formatted (cvminit sets "
                                  "up only devices whose first MiB is zeros)", (unsigned long long) off);
        *ret = DISK_BLANK;
        return 0;
}

int disk_examine(const struct config_disk *d, const char *path, const uint8_t *key, size_t n,
                 enum disk_state *ret, errbuf *err) {
        if (!key)
                return -EINVAL;
        return examine(d, path, key, n, ret, NULL, err);
}

/* --- first-time setup ------------------------------------------------------------------------- */

struct setup {
        const struct config_disk *d;
        const struct suite *suite;
        const char *dev;
        const uint8_t *key;
        size_t n;
        struct crypt_device *cd;
        int slot;
        char mapper[PATH_MAX];
};

/* Opens the volume as name: with the slot found before, or by trying the key on each. */
static int activate(struct setup *c, const char *name, uint32_t flags, errbuf *err) {
        char detail[300];
        int r;

        if (c->slot == CRYPT_ANY_SLOT) {
                r = open_keyslot(c->cd, name, flags, c->key, c->n, err);
                if (r >= 0)
                        c->slot = r;
                return r;
        }
        r = crypt_activate_by_passphrase(c->cd, name, c->slot, (const char *) c->key, c->n, flags);
        if (r < 0)
                return errbuf_set(err, r, "cannot open the volume as %s: %s", name, cs_detail(r, detail));
        return 0;
}

static int set_stage(struct setup *c, const char *name, errbuf *err) {
        _cleanup_free_ char *label = strdup(crypt_get_label(c->cd) ?: "");
        char detail[300];
        int r;

        if (!label)
                return errbuf_set(err, -ENOMEM, "out of memory");
        r = crypt_set_label(c->cd, label[0] ? label : NULL, name);
        if (r < 0)
                return errbuf_set(err, r, "cannot record setup stage %s in the LUKS2 header: %s", name,
                                  cs_detail(r, detail));
        return 0;
}

/* LUKS2 header with the stage "formatted", then a key slot for the released key. A cut between
 * the two leaves a header without key slots, which the next boot formats again (DISK_RESTART). */
static int setup_format(struct setup *c, errbuf *err) {
        struct crypt_pbkdf_type pbkdf = { .type = CRYPT_KDF_PBKDF2, .hash = "sha256",
                                          .iterations = PBKDF2_ITERATIONS, .flags = CRYPT_PBKDF_NO_BENCHMARK };
        struct crypt_params_luks2 params = { .pbkdf = &pbkdf, .integrity = c->suite->kintegrity,
                                             .sector_size = SECTOR_SIZE, .subsystem = DISK_STAGE_FORMATTED };
        uint64_t t = now_ms();
        char detail[300];
        int r;

        crypt_free(c->cd);
        c->cd = NULL;
        r = crypt_init(&c->cd, c->dev);
        if (r < 0)
                return errbuf_set(err, r, "cannot open %s with libcryptsetup: %s", c->dev, cs_detail(r, detail));
        log_info("Disk %s: formatting %s as LUKS2 (%s, integrity %s).", c->d->name, c->dev, c->d->cipher,
                 c->d->integrity);
        r = crypt_format(c->cd, CRYPT_LUKS2, c->suite->kcipher, c->suite->kmode, NULL, NULL, c->suite->key_size,
                         &params);
        if (r < 0)
                return errbuf_set(err, r, "cannot format %s as LUKS2: %s", c->dev, cs_detail(r, detail));
        stage("formatted");
        r = crypt_keyslot_add_by_volume_key(c->cd, CRYPT_ANY_SLOT, NULL, 0, (const char *) c->key, c->n);
        if (r < 0)
                return errbuf_set(err, r, "cannot add the key slot: %s", cs_detail(r, detail));
        c->slot = r;
        log_info("Disk %s: LUKS2 header and key slot %d written in %llu ms.", c->d->name, r,
                 (unsigned long long) (now_ms() - t));
        stage("keyslot");
        return 0;
}

static int wipe_progress(uint64_t size, uint64_t offset, void *userdata) {
        bool *half = userdata;

        if (!*half && offset >= size / 2) {
                *half = true;
                stage("wipe-half");
        }
        return 0;
}

/* dm-integrity's tags start out wrong: every sector is written once through a temporary mapping
 * (without the journal, as cryptsetup does: the whole wipe is redone if cut) so that reads work. */
static int wipe_tags(struct setup *c, errbuf *err) {
        char name[128], path[PATH_MAX], detail[300];
        uint64_t t = now_ms(), t_open;
        bool half = false;
        int r, k;

        snprintf(name, sizeof(name), "cvminit-wipe-%s", c->d->name);
        snprintf(path, sizeof(path), "%s/%s", crypt_get_dir(), name);
        log_info("Disk %s: initialising the integrity tags (every sector is written once).", c->d->name);
        stage("wipe");
        r = activate(c, name, CRYPT_ACTIVATE_PRIVATE | CRYPT_ACTIVATE_NO_JOURNAL, err);
        if (r < 0)
                return r;
        t_open = now_ms();
        r = crypt_wipe(c->cd, path, CRYPT_WIPE_ZERO, 0, 0, WIPE_BLOCK, 0, wipe_progress, &half);
        if (r < 0)
                (void) errbuf_set(err, r, "cannot initialise the integrity tags: %s", cs_detail(r, detail));
        k = crypt_deactivate(c->cd, name);
        if (r >= 0 && k < 0)
                r = errbuf_set(err, k, "cannot close %s after initialising the tags: %s", name, cs_detail(k, detail));
        if (r < 0)
                return r;
        log_info("Disk %s: integrity tags initialised in %.1f s (%.1f s of it opening the mapping).", c->d->name,
                 (double) (now_ms() - t) / 1000.0, (double) (t_open - t) / 1000.0);
        return 0;
}

static int setup_wipe(struct setup *c, errbuf *err) {
        int r = c->suite->kintegrity ? wipe_tags(c, err) : 0;

        if (r >= 0)
                r = set_stage(c, DISK_STAGE_WIPED, err);
        if (r >= 0)
                stage("wiped");
        return r;
}

/* mkfs.ext4 on the opened volume: an argv array, no shell, an empty environment. When the volume
 * reads as zeros (after the wipe) inode tables and journal need no zeroing. */
static int run_mkfs(struct setup *c, errbuf *err) {
        char *argv[] = { (char *) DISK_MKFS_EXT4, (char *) "-q", (char *) "-F", (char *) "-t", (char *) "ext4",
                         (char *) "-E",
                         (char *) (c->suite->kintegrity ? "nodiscard,lazy_itable_init=1,lazy_journal_init=1"
                                                        : "nodiscard"),
                         c->mapper, NULL };
        char *env[] = { NULL }, buf[64];
        struct workload w = { .exec = argv, .n_exec = ELEMENTSOF(argv) - 1, .env = env, .cwd = (char *) "/" };
        uint64_t t = now_ms();
        int status = 0, r;
        pid_t pid;

        log_info("Disk %s: creating an ext4 file system.", c->d->name);
        stage("mkfs");
        r = workload_spawn(&w, &pid);
        if (r < 0)
                return errbuf_set(err, r, "cannot start %s: %s", DISK_MKFS_EXT4, strerror(-r));
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return errbuf_set(err, -errno, "cannot wait for %s: %s", DISK_MKFS_EXT4, strerror(errno));
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return errbuf_set(err, -EIO, "%s on %s %s (its messages are above on the console)", DISK_MKFS_EXT4,
                                  c->mapper, workload_status_string(status, buf));
        log_info("Disk %s: ext4 created in %llu ms.", c->d->name, (unsigned long long) (now_ms() - t));
        stage("made-fs");
        return 0;
}

/* On the opened volume: in stage "wiped" make the file system (again, if an earlier mkfs was cut:
 * the stage proves no workload ever ran on it); otherwise it must already hold ext4. */
static int prepare_fs(struct setup *c, enum disk_state state, errbuf *err) {
        struct signatures sig;
        int r;

        r = probe_signatures(c->mapper, &sig, err);
        if (r < 0)
                return r;
        if (state == DISK_WIPED && (r == 0 || (r == 1 && strcmp(sig.first, "ext4") == 0))) {
                if (r == 1)
                        log_info("Disk %s: an earlier first-time setup stopped during or after mkfs: creating the "
                                 "file system again (no workload has run on it).", c->d->name);
                r = run_mkfs(c, err);
                if (r >= 0)
                        r = set_stage(c, DISK_STAGE_READY, err);
                if (r >= 0)
                        stage("ready");
                return r;
        }
        if (r == 1 && strcmp(sig.first, c->d->fs) == 0)
                return 0;
        if (r == 0)
                return errbuf_set(err, -EMEDIUMTYPE, "the opened volume %s holds no file system; cvminit creates one "
                                  "only during its own first-time setup, never over what may be data", c->mapper);
        return errbuf_set(err, -EMEDIUMTYPE, "the opened volume %s holds %s, the config says %s: not mounting it, "
                          "not formatting over it", c->mapper, r == 1 ? sig.detail : sig.list, c->d->fs);
}

/* --- opening ---------------------------------------------------------------------------------- */

static int measure_disk(const struct config_disk *d, struct cel_writer *w, errbuf *err) {
        json_t *o = NULL;
        int r;

        r = config_disk_event_content(d, &o);
        if (r < 0)
                return errbuf_set(err, r, "cannot describe the disk for its event: %s", strerror(-r));
        r = cel_writer_append(w, EVENT_DOMAIN, "disk", o);
        json_decref(o);
        if (r < 0)
                return errbuf_set(err, r, "cannot measure the disk event: %s",
                                  cel_writer_error(w)[0] ? cel_writer_error(w) : strerror(-r));
        return 0;
}

static int mount_volume(struct setup *c, errbuf *err) {
        _cleanup_free_ char *data = NULL;
        unsigned long flags = 0;
        int r;

        r = mount_target_check(c->d->path, err);
        if (r >= 0)
                r = mount_options_parse(c->d->options, &flags, &data, err);
        if (r < 0)
                return r;
        r = mount_point_create(c->d->path);
        if (r < 0)
                return errbuf_set(err, r, "cannot create mount point %s: %s", c->d->path, strerror(-r));
        if (mount(c->mapper, c->d->path, c->d->fs, flags, data) < 0)
                return errbuf_set(err, -errno, "cannot mount %s (%s) on %s: %s", c->mapper, c->d->fs, c->d->path,
                                  strerror(errno));
        return 0;
}

/* From the state found to an opened, mounted volume; the setup stages in order (docs/disk.md). */
static int open_state(struct setup *c, enum disk_state state, struct cel_writer *w, bool *active, errbuf *err) {
        int r = 0;

        if (state == DISK_BLANK || state == DISK_RESTART) {
                r = setup_format(c, err);
                state = DISK_FORMATTED;
        }
        if (r >= 0 && state == DISK_FORMATTED) {
                r = setup_wipe(c, err);
                state = DISK_WIPED;
        }
        if (r < 0)
                return r;
        r = activate(c, c->d->name, 0, err);
        if (r < 0)
                return r;
        *active = true;
        r = measure_disk(c->d, w, err);
        if (r >= 0)
                r = prepare_fs(c, state, err);
        if (r >= 0)
                r = mount_volume(c, err);
        return r;
}

static int disk_open_on(struct setup *c, const char *spec, struct cel_writer *w, errbuf *err) {
        enum disk_state state;
        bool active = false;
        uint64_t t = now_ms();
        errbuf e = {};
        int r;

        r = examine(c->d, c->dev, NULL, 0, &state, &c->cd, &e);
        if (r < 0)
                return errbuf_set(err, r, "disk %s: device %s (%s): %s", c->d->name, spec, c->dev, e.msg);
        /* What the header says, before the key is tried: not yet a claim that the key opens it. */
        log_info("Disk %s: %s (%s): found %s.", c->d->name, spec, c->dev, disk_state_name(state));
        if (state < DISK_READY && c->d->format == DISK_FORMAT_NEVER)
                return errbuf_set(err, -EMEDIUMTYPE, "disk %s: device %s (%s) is %s and disk.format is never: not "
                                  "setting it up", c->d->name, spec, c->dev, disk_state_name(state));
        if (state == DISK_RESTART)
                log_warning("Disk %s: an earlier first-time setup stopped before its key slot was written (nothing "
                            "can have been stored): formatting again.", c->d->name);
        if (state == DISK_FORMATTED)
                log_warning("Disk %s: an earlier first-time setup stopped before the integrity tags were "
                            "initialised: initialising them now.", c->d->name);
        r = open_state(c, state, w, &active, &e);
        if (r < 0) {
                if (active && crypt_deactivate(c->cd, c->d->name) < 0)
                        log_warning("Disk %s: cannot close %s after the failure.", c->d->name, c->mapper);
                return errbuf_set(err, r, "disk %s: device %s (%s): %s", c->d->name, spec, c->dev, e.msg);
        }
        log_info("Disk %s: opened (LUKS2 %s, integrity %s) and mounted on %s in %llu ms.", c->d->name,
                 c->d->cipher, c->d->integrity, c->d->path, (unsigned long long) (now_ms() - t));
        return 0;
}

static int remember(const struct config_disk *d) {
        char *name = strdup(d->name), *path = strdup(d->path);

        if (!name || !path) {
                free(name);
                free(path);
                return -ENOMEM;
        }
        opened[n_opened].name = name;
        opened[n_opened++].path = path;
        return 0;
}

int disk_open(const struct config_disk *d, const uint8_t *key, size_t n, struct cel_writer *w, errbuf *err) {
        _cleanup_free_ char *dev = NULL;
        struct setup c = { .d = d, .key = key, .n = n, .slot = CRYPT_ANY_SLOT };
        struct device_spec spec;
        int r;

        if (!d || !key || !w)
                return errbuf_set(err, -EINVAL, "disk: nothing to open");
        if (n < DISK_KEY_MIN || n > DISK_KEY_MAX)
                return errbuf_set(err, -EINVAL, "disk %s: the released key has %zu bytes; it must be %u to %u random "
                                  "bytes", d->name, n, DISK_KEY_MIN, DISK_KEY_MAX);
        c.suite = suite_find(d);
        if (!c.suite)
                return errbuf_set(err, -EINVAL, "disk %s: cipher %s with integrity %s is not supported", d->name,
                                  d->cipher, d->integrity);
        if (n_opened >= DISKS_MAX)
                return errbuf_set(err, -E2BIG, "disk %s: more than %u disks", d->name, DISKS_MAX);
        r = device_spec_parse(d->device, &spec, err);
        if (r < 0)
                return r;
        cs_setup();
        /* libcryptsetup's lock directory: made here so it does not warn that it is missing. */
        if (mkdir("/run/cryptsetup", 0700) < 0 && errno != EEXIST)
                log_debug_errno(errno, "Cannot create /run/cryptsetup: %m");
        r = device_wait(&spec, d->timeout_ms > UINT32_MAX ? UINT32_MAX : (unsigned) d->timeout_ms, &dev, err);
        if (r < 0)
                return r;
        c.dev = dev;
        snprintf(c.mapper, sizeof(c.mapper), "%s/%s", crypt_get_dir(), d->name);
        r = disk_open_on(&c, spec.text, w, err);
        crypt_free(c.cd);
        if (r < 0)
                return r;
        r = remember(d);
        if (r < 0)
                log_warning("Disk %s: out of memory: it will not be closed at shutdown.", d->name);
        return 0;
}

/* --- closing ---------------------------------------------------------------------------------- */

static void close_one(const char *name) {
        char detail[300];
        bool deferred;
        int r;

        cs_setup();
        r = dm_deactivate(name, &deferred);
        if (deferred)
                log_warning("Disk %s: still in use: closing it once the last user is gone.", name);
        if (r < 0)
                log_warning("Disk %s: cannot close it: %s", name, cs_detail(r, detail));
        else
                log_info("Disk %s: closed.", name);
}

void disk_close_all(void) {
        if (n_opened > 0)
                sync();
        while (n_opened > 0) {
                n_opened--;
                dm_unmount(opened[n_opened].path);
                close_one(opened[n_opened].name);
                free(opened[n_opened].name);
                free(opened[n_opened].path);
        }
}
