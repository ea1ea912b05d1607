/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/mount.h>
#include <time.h>

#include "dm-util.h"
#include "log.h"

void dm_unmount(const char *path) {
        if (umount2(path, 0) == 0)
                return;
        if (errno == EBUSY) {
                (void) nanosleep(&(struct timespec) { .tv_nsec = 200 * 1000 * 1000 }, NULL);
                if (umount2(path, 0) == 0)
                        return;
        }
        log_warning_errno(errno, "Cannot unmount %s (%m): detaching it.", path);
        if (umount2(path, MNT_DETACH) < 0)
                log_warning_errno(errno, "Cannot detach %s: %m", path);
}

int dm_deactivate(const char *name, bool *ret_deferred) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        int r;

        *ret_deferred = false;
        r = crypt_init_by_name(&cd, name);
        if (r >= 0)
                r = crypt_deactivate_by_name(cd, name, 0);
        if (r == -EBUSY) {
                *ret_deferred = true;
                r = crypt_deactivate_by_name(cd, name, CRYPT_DEACTIVATE_DEFERRED);
        }
        return r;
}
