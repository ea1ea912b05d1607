/* SPDX-License-Identifier: MIT */
/* Parallel hashing of files and directory trees (DESIGN §3, model manifest; cvmtool hash).
 *
 * Directories are walked depth-first without following symlinks (openat2 RESOLVE_NO_SYMLINKS |
 * RESOLVE_BENEATH relative to directory fds); each directory's entries are sorted with directory
 * names compared as if they ended in '/', so results come out in byte-wise order of their full
 * relative paths ("a-c" before "a/b"). Symlinks and special files inside a walked directory are
 * refused. A fixed pool of worker threads hashes the files; a bounded window of open files sits
 * between the walker and the workers, and results are handed to the caller's callback, on the
 * calling thread, in sorted order. Memory depends on neither file sizes nor file counts (only on
 * the size of the largest directory listing, itself limited). The first error stops the run; its
 * message (in errbuf) names the file, escaped. */
#pragma once

#include <stdint.h>

#include "hashalg.h"
#include "util.h"

#define HASH_MAX_JOBS 256U
#define HASH_MAX_WINDOW 128U
/* Directory nesting below a walked directory. */
#define HASH_MAX_DEPTH 128U
/* Bytes of directory listings held at once by a walk (names of all directories being walked). */
#define HASH_MAX_LISTING_BYTES (16U * 1024U * 1024U)

struct hash_result {
        const char *path;    /* display path: the argument, or ARG/relpath inside a directory */
        const char *relpath; /* relative to the walked directory ('/'-separated); the argument itself
                              * for a file given explicitly */
        uint64_t size;       /* bytes hashed */
        enum hash_alg alg;
        uint8_t digest[HASH_MAX_SIZE];
};

/* Called on the calling thread, in order. A negative return stops the run; it should describe the
 * failure in err. */
typedef int (*hash_emit_t)(const struct hash_result *r, void *userdata, errbuf *err);
/* Called on the calling thread at most every progress_ms while hashing, and once at the end of a
 * successful run. total is 0 when unknown. */
typedef void (*hash_progress_t)(uint64_t done, uint64_t total, void *userdata);

struct hash_options {
        enum hash_alg alg;
        unsigned jobs;        /* worker threads; 0 = online CPUs (at most HASH_MAX_JOBS) */
        unsigned window;      /* files in flight; 0 = automatic (at most HASH_MAX_WINDOW) */
        hash_progress_t progress; /* NULL: no progress, and no pre-pass to count the total */
        void *progress_userdata;
        unsigned progress_ms; /* 0 = 1000 */
};

/* Hashes each path in order: a file (symlinks followed, as sha256sum does) or a directory, walked
 * recursively. Returns 0, or a negative errno with err describing the failure. */
int hash_paths(char *const *paths, size_t n, const struct hash_options *o, hash_emit_t emit,
               void *userdata, errbuf *err);
/* Hashes every file below dir, which must be a directory (model-directory semantics: relpath is
 * relative to dir). */
int hash_tree(const char *dir, const struct hash_options *o, hash_emit_t emit, void *userdata,
              errbuf *err);
