/* SPDX-License-Identifier: MIT */
/* Block devices named as mount(8) and fstab name them: LABEL=, PARTLABEL=, UUID= (found with
 * libblkid) or a /dev/ path, and SERIAL= (the disk's serial number in sysfs, as QEMU's
 * virtio-blk serial= or an NVMe serial: the one stable name of a disk that holds nothing yet);
 * waiting for one to appear with a deadline, since disks show up asynchronously after their driver
 * loads. */
#pragma once

#include "util.h"

#define DEVICE_SPEC_MAX 255U

enum device_spec_kind {
        DEVICE_SPEC_PATH,
        DEVICE_SPEC_LABEL,
        DEVICE_SPEC_PARTLABEL,
        DEVICE_SPEC_UUID,
        DEVICE_SPEC_SERIAL,
        _DEVICE_SPEC_KIND_MAX,
};

struct device_spec {
        enum device_spec_kind kind;
        char value[DEVICE_SPEC_MAX + 1]; /* the path, or the tag's value */
        char text[DEVICE_SPEC_MAX + 16]; /* the spec as given, escaped, for messages */
};

/* LABEL=x, PARTLABEL=x (1-255 bytes of UTF-8 without control characters), UUID=x (hex digits and
 * '-'), SERIAL=x (1-255 bytes of printable ASCII), or /dev/... (normalised, no "." or ".."
 * components). */
int device_spec_parse(const char *s, struct device_spec *ret, errbuf *err);

/* Polls every DEVICE_POLL_MS until the device exists (a block device at the path, or a device
 * libblkid finds with the tag), for at most timeout_ms; -ETIMEDOUT names the spec and the block
 * devices that were seen. *ret_path is the device node (caller frees). */
#define DEVICE_POLL_MS 50U
/* Where SERIAL= looks: DIR/NAME/serial or DIR/NAME/device/serial of each block device NAME
 * (trailing blanks ignored); the node is /dev/NAME. CVMINIT_SYS_CLASS_BLOCK replaces DIR when not
 * PID 1 (tests). */
#define DEVICE_SYS_CLASS_BLOCK "/sys/class/block"
int device_wait(const struct device_spec *spec, unsigned timeout_ms, char **ret_path, errbuf *err);

/* The file system type libblkid finds on the device ("ext4", "crypto_LUKS", ...); -ENODATA if
 * none. */
int device_fstype(const char *path, char **ret, errbuf *err);
