/* SPDX-License-Identifier: MIT */
/* File systems PID 1 mounts (DESIGN §1 steps 1 and the config's "mounts"): the API file systems
 * early, then the configured plain media. Every mount made is recorded in one table, so the
 * shutdown unmounts the configured ones in reverse order (API file systems hold no data and stay). */
#pragma once

#include <stdbool.h>

#include "util.h"

#define MOUNT_OPTIONS_MAX 1024U
#define MOUNT_TABLE_MAX 64U

/* mount(8)-style options: the generic ones (ro, nosuid, nodev, noexec, noatime, ...) become
 * MS_* flags, the others (errors=remount-ro, ...) the file system's data string ("" if none).
 * Options that change what mount(2) does (bind, remount, move, shared, ...) are refused. */
int mount_options_parse(const char *s, unsigned long *ret_flags, char **ret_data, errbuf *err);

/* Mounts /proc, /sys, /dev (devtmpfs), /dev/pts, /dev/shm, /run, configfs, securityfs and the
 * cgroup2 hierarchy, skipping what is already mounted; /proc, /sys, /dev and /run are required, the
 * others are tried again on the next call (configfs may be a module). */
int mounts_early(errbuf *err);

/* A mount target the config may name: absolute, normalised, not "/" and not inside the API
 * file systems or cvminit's own /run directories. */
int mount_target_check(const char *path, errbuf *err);

/* mkdir -p with mode 0755: a mount point and its missing parents (PATH_MAX at most). */
int mount_point_create(const char *path);

/* Finds device (LABEL=, PARTLABEL=, UUID=, SERIAL= or /dev/...), waiting up to timeout_ms, checks that
 * libblkid sees a file system of type fs on it, creates path and mounts it with options. */
int mount_configured(const char *device, const char *path, const char *fs, const char *options,
                     unsigned timeout_ms, errbuf *err);

/* Unmounts what mount_configured mounted, last first; a busy one is detached (MNT_DETACH). */
void mounts_unmount_all(void);
