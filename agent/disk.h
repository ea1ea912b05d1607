/* SPDX-License-Identifier: MIT */
/* The encrypted data disk (DESIGN §5, §6; docs/disk.md): LUKS2 through libcryptsetup, authenticated
 * by default (aes-xts-plain64 with hmac(sha256) tags kept by dm-integrity), opened with the key the
 * broker released, which is handed over by API only and never copied, stored or logged here.
 *
 * A device is set up (LUKS2 format, key slot, integrity tags initialised, ext4 created) only with
 * disk.format "if-empty", only when libblkid finds no signature at all on it and its first MiB
 * reads as zeros. Anything else that does not open with the key — another LUKS header, a file
 * system, a partition table, a damaged header — is refused with a message that says what was found.
 * First-time setup records how far it got in the LUKS2 header's subsystem field, so a setup cut at
 * any point completes on the next boot; a volume that once opened with the key is never set up
 * again (docs/disk.md has the state machine). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cel.h"
#include "config.h"
#include "util.h"

/* The released key must be at least this long: it is random (a broker resource), so the key slot
 * uses PBKDF2 at libcryptsetup's minimum cost instead of a slow, memory-hard KDF (docs/disk.md). */
#define DISK_KEY_MIN 32U
#define DISK_KEY_MAX 8192U

/* mkfs.ext4 in the image (and on Debian 12 hosts, /usr being merged). */
#define DISK_MKFS_EXT4 "/usr/sbin/mkfs.ext4"

/* The LUKS2 subsystem values that mark first-time setup progress (docs/disk.md). */
#define DISK_STAGE_FORMATTED "cvminit:formatted"
#define DISK_STAGE_WIPED "cvminit:wiped"
#define DISK_STAGE_READY "cvminit:ready"

/* What a device holds, as disk_examine decides it. */
enum disk_state {
        DISK_BLANK,     /* no signature, first MiB zero: set up from scratch */
        DISK_RESTART,   /* our header, setup cut before a key slot existed: nothing can be in it, format again */
        DISK_FORMATTED, /* our header, key slot opens with the key; integrity tags not initialised yet */
        DISK_WIPED,     /* tags initialised; no file system yet (or an interrupted mkfs) */
        DISK_READY,     /* set up by cvminit: open and mount only */
        DISK_FOREIGN,   /* a LUKS2 volume set up elsewhere that opens with the key: open and mount only */
        _DISK_STATE_MAX,
};

const char *disk_state_name(enum disk_state s);

/* Finds d->device (waiting up to d->timeout_ms), examines it, completes first-time setup as far as
 * the rules allow, opens it as /dev/mapper/NAME, extends the `disk` event {"name","cipher",
 * "integrity","fs"} into w, and mounts it at d->path. key is n bytes (DISK_KEY_MIN..DISK_KEY_MAX);
 * the caller wipes it afterwards. On failure nothing stays open or mounted and err says what was
 * found on the device. */
int disk_open(const struct config_disk *d, const uint8_t *key, size_t n, struct cel_writer *w, errbuf *err);

/* Unmounts and closes what disk_open opened, last first (the shutdown path, after every other
 * process is gone). */
void disk_close_all(void);

/* Read-only: what the device (or image file) at path holds for d and key; -EMEDIUMTYPE, -EPERM
 * (the key opens no key slot), -ENOTUNIQ, -EUCLEAN (header damaged), -EPROTO (unknown stage) ...
 * with err saying what was found. libcryptsetup may restore one of LUKS2's two header copies
 * from the other, as it does on every load. */
int disk_examine(const struct config_disk *d, const char *path, const uint8_t *key, size_t n,
                 enum disk_state *ret, errbuf *err);

/* For tests only: called as first-time setup reaches each stage ("formatted", "keyslot", "wipe",
 * "wipe-half", "wiped", "mkfs", "made-fs", "ready"), so a test can cut the power exactly there. */
typedef void (*disk_stage_hook_t)(const char *stage);
void disk_set_stage_hook(disk_stage_hook_t hook);
