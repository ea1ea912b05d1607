/* SPDX-License-Identifier: MIT */
/* Applying OCI image layers to a root file system (image-spec layer.md), with libarchive reading
 * the tar stream (ustar, pax, GNU; uncompressed, gzip or zstd as the layer's media type says) and
 * this module writing every entry itself:
 *
 * - Names are cleaned ("./" and empty components dropped); an absolute name, a ".." component, a
 *   name over PATH_MAX or deeper than UNPACK_DEPTH_MAX components is refused.
 * - An entry's parent directory is resolved with openat2 RESOLVE_IN_ROOT: symlinks already in the
 *   tree are followed as the container will see them, and nothing resolves outside the rootfs;
 *   the entry itself is always created without following anything (O_EXCL, O_NOFOLLOW, *at calls).
 * - A symlink whose relative target climbs above the rootfs (lexically, from its directory) is
 *   refused; absolute targets are container paths and stay. A hardlink target is cleaned like a
 *   name and must exist in the rootfs and not be a directory.
 * - Whiteouts: ".wh.NAME" removes NAME of lower layers, ".wh..wh..opq" empties its directory of
 *   lower layers' entries; entries of the same layer stay, in whatever order they come (layer.md).
 * - Device nodes are refused unless allow_devices; setuid and setgid bits on anything but a
 *   directory are refused unless allow_setuid (setgid directories, common in Debian images, stay).
 *   Sockets are refused. Extended attributes (file capabilities included) are not applied.
 * - Owners are applied when running as root; modes after the owner (chown clears setuid bits);
 *   modification times for files and symlinks.
 * Each refusal names the layer and the entry (escaped). The blob's bytes are hashed as libarchive
 * reads them and must match the layer's digest at the end: the blob was verified before, but may
 * sit on a disk the host controls, and this is the copy that is used. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "image-oci.h"
#include "util.h"

#define UNPACK_ENTRIES_MAX (1U << 20)
#define UNPACK_DEPTH_MAX 256U

struct unpack_layer {
        const char *label; /* "layer 2/3 sha256:abcd..." in messages */
        enum oci_compression compression;
        const uint8_t *digest; /* OCI_DIGEST_SIZE bytes: the blob's sha256 */
        uint64_t size;         /* the blob's size */
        bool allow_devices, allow_setuid;
};

struct unpack_stats {
        uint64_t entries;
        uint64_t bytes; /* file data written */
};

/* Applies the layer read from blob_fd to the tree at rootfd (an O_DIRECTORY fd). trashfd is a
 * directory on the same file system outside the tree (see tree_remove). On failure the tree is
 * left half-written: the caller discards it. */
int unpack_layer(int rootfd, int trashfd, int blob_fd, const struct unpack_layer *l, struct unpack_stats *st,
                 errbuf *err);

/* Removes dirfd/name and everything below it without following any symlink; absent is success.
 * Directories nested deeper than a fixed limit are first moved into trashfd (same file system)
 * and removed from there, so open descriptors and recursion stay bounded whatever the depth. */
int tree_remove(int dirfd, const char *name, int trashfd, errbuf *err);
