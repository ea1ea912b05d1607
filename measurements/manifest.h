/* SPDX-License-Identifier: MIT */
/* Model manifest (DESIGN §3, files mode): every file below a model directory, in byte-wise order of
 * its relative path, as the JCS (RFC 8785) text
 *   {"alg":"sha256","files":[{"digest":"<hex>","path":"<rel path>","size":N},...]}
 * The text is produced while the files are hashed (see hashtree.h), written to an optional FILE
 * and hashed with the same algorithm; memory stays bounded whatever the number of files. */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "hashtree.h"

struct manifest_info {
        enum hash_alg alg;
        uint8_t digest[HASH_MAX_SIZE]; /* of the manifest text, with o->alg */
        uint64_t files, bytes;
};

/* Builds the manifest of dir with o->alg (per-file digests and the manifest digest). out, if not
 * NULL, receives the text (no trailing newline). Paths that are not valid UTF-8 are refused
 * (-EILSEQ), naming them. Returns 0 or a negative errno with err set. */
int manifest_build(const char *dir, const struct hash_options *o, FILE *out, struct manifest_info *ret,
                   errbuf *err);
