/* SPDX-License-Identifier: MIT */
/* What the data disk (agent/disk.c) and the verity model volumes (agent/verity.c) share at
 * shutdown: unmounting a mount on a device-mapper volume, then removing the mapping. */
#pragma once

#include <libcryptsetup.h>
#include <stdbool.h>

#include "cleanup.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct crypt_device *, crypt_free);

/* Unmounts path; busy, it waits 200 ms and tries once more, then detaches it (MNT_DETACH).
 * Failures are logged as warnings: at shutdown there is nothing else to do about them. */
void dm_unmount(const char *path);

/* Removes the mapping /dev/mapper/NAME. Still in use (a detached mount holds it), it is marked for
 * deferred removal, which the kernel does once the last user is gone; *ret_deferred says so.
 * Returns 0 or libcryptsetup's -errno; logs nothing. */
int dm_deactivate(const char *name, bool *ret_deferred);
