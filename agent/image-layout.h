/* SPDX-License-Identifier: MIT */
/* Reading an OCI image layout directory (image-spec image-layout.md): oci-layout, index.json and
 * blobs/sha256/HEX, every name below the layout opened with openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS (a layout holds plain files; nothing in it may lead elsewhere). The manifest
 * and config blobs are read into memory once and checked there (size and sha256 against their
 * descriptors), so what is parsed is exactly what was checked. Shared by cvminit (agent/image.c)
 * and `cvmtool predict`; layers are left to the caller (agent/image.c verifies and unpacks them).
 * Every message names the blob by its digest and role ("blob sha256:... (layer 2 of 3)"). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "image-oci.h"
#include "util.h"

struct image_meta {
        int layout_fd;
        char *layout;                   /* the directory, as given */
        struct oci_descriptor manifest; /* index.json's descriptor for the ref */
        uint8_t *manifest_raw;          /* its bytes, checked against manifest.digest */
        size_t manifest_len;
        struct oci_manifest *m;         /* after image_layout_load */
        struct oci_image_config *config;
};

/* Opens dir, checks oci-layout, resolves ref in index.json and reads the manifest blob, whose size
 * and sha256 must match the descriptor. Nothing of the manifest is parsed yet: its digest is to be
 * measured first. m is initialised even on failure (image_meta_done is always safe). */
int image_layout_open(const char *dir, const char *ref, struct image_meta *m, errbuf *err);

/* Parses the manifest, reads and checks the config blob and parses it; the config must be for
 * linux on this architecture and list as many diff_ids as the manifest has layers. */
int image_layout_load(struct image_meta *m, errbuf *err);

/* Opens a blob (regular file, of the descriptor's size) for reading. what names it in messages. */
int image_blob_open(const struct image_meta *m, const struct oci_descriptor *d, const char *what, int *ret_fd,
                    errbuf *err);
/* "LAYOUT/blobs/sha256/HEX" (malloc'd). */
char *image_blob_path(const struct image_meta *m, const struct oci_descriptor *d);

void image_meta_done(struct image_meta *m);

/* Whether img's layout is on the data disk: measured after the key release (DESIGN §1 step 8). */
bool image_post_key(const struct config *c, const struct config_image *img);

/* The `image` event content {"name","ref","digest":"sha256:<hex>"} (DESIGN §3). */
int image_event_content(const struct config_image *img, const uint8_t digest[static OCI_DIGEST_SIZE], json_t **ret);
