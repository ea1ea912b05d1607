/* SPDX-License-Identifier: MIT */
/* The layer unpacker (agent/image-unpack.c) on hostile tar streams: the input is the layer blob
 * (uncompressed; its digest is computed here so the stream is applied, not refused at the end),
 * applied to a scratch tree under a fresh directory. Whatever the entries say — escapes, links out,
 * whiteouts, devices, odd modes — it is applied or refused with a message, never a crash, and
 * nothing is created beside the tree (checked: the parent holds only "root" and "trash"), and the tree is removed again. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hashalg.h"
#include "image-unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void only_root_and_trash(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                abort();
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
                    strcmp(de->d_name, "root") != 0 && strcmp(de->d_name, "trash") != 0)
                        abort(); /* an entry escaped the tree */
        closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char dir[] = "/tmp/cvminit-fuzz-unpack.XXXXXX"; /* mkdtemp's template */
        uint8_t digest[HASH_MAX_SIZE];
        struct unpack_stats st = {};
        errbuf err = {};
        int memfd, rootfd, trashfd, dirfd;

        if (size > (1U << 20) || hash_buffer(HASH_SHA256, data, size, digest) < 0 || !mkdtemp(dir))
                return 0;
        dirfd = open(dir, O_DIRECTORY | O_CLOEXEC);
        memfd = memfd_create("layer", MFD_CLOEXEC);
        if (dirfd < 0 || memfd < 0 || write(memfd, data, size) != (ssize_t) size || lseek(memfd, 0, SEEK_SET) != 0 ||
            mkdirat(dirfd, "root", 0755) < 0 || mkdirat(dirfd, "trash", 0700) < 0)
                abort();
        rootfd = openat(dirfd, "root", O_DIRECTORY | O_CLOEXEC);
        trashfd = openat(dirfd, "trash", O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0 || trashfd < 0)
                abort();
        struct unpack_layer l = { .label = "layer 1/1", .compression = OCI_COMPRESSION_NONE, .digest = digest,
                                  .size = size };
        (void) unpack_layer(rootfd, trashfd, memfd, &l, &st, &err);
        only_root_and_trash(dir);
        close(rootfd);
        if (tree_remove(dirfd, "root", trashfd, &err) < 0)
                abort();
        close(trashfd);
        /* The trash is emptied as it is used; anything left goes through a second one. */
        if (unlinkat(dirfd, "trash", AT_REMOVEDIR) < 0) {
                int t2 = mkdirat(dirfd, "trash2", 0700) == 0 ? openat(dirfd, "trash2", O_DIRECTORY | O_CLOEXEC) : -1;
                if (t2 < 0 || tree_remove(dirfd, "trash", t2, &err) < 0 || unlinkat(dirfd, "trash2", AT_REMOVEDIR) < 0)
                        abort();
                close(t2);
        }
        close(memfd);
        close(dirfd);
        if (rmdir(dir) < 0)
                abort();
        return 0;
}
