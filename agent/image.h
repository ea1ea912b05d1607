/* SPDX-License-Identifier: MIT */
/* OCI images (DESIGN §1 steps 5 and 8, §3 `image` event; docs/config.md "images[]"). Each configured
 * image is measured in the measure step of its medium: before the key (step 5) if its layout is not
 * below disk.path, after the disk opened (step 8) otherwise. For each, in config order:
 *   1. index.json resolves the ref to a manifest descriptor; the manifest blob is read into memory
 *      and checked (size, sha256) (agent/image-layout.h);
 *   2. the `image` event {"name","ref","digest":"sha256:<manifest digest>"} is extended before
 *      anything of the image is used — also when the digest then differs from `expect`, so the log
 *      holds what was found — and `expect` is enforced;
 *   3. the manifest and the image config are parsed, the config blob checked;
 *   4. every layer blob is verified (size, sha256) with the parallel hashing engine
 *      (measurements/hashtree.h), before any of them is unpacked.
 * Then images_prepare builds the workload's image: its rootfs DIR/rootfs/NAME/rootfs is made from
 * scratch every boot (DIR = disk.path/.cvminit, or RUN_DIR (/run/cvminit) without a disk: derived
 * state, never trusted across boots, so a crash at any point leaves nothing the next boot uses)
 * by applying the layers (agent/image-unpack.h, each blob hashed again as it is read), writes
 * config.json beside it (agent/image-bundle.h), and the supervised workload becomes
 * `crun run --bundle DIR/rootfs/NAME NAME`. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "cel.h"
#include "config.h"
#include "hashtree.h"
#include "image-layout.h"
#include "image-oci.h"

#define IMAGE_CRUN "/usr/bin/crun"
/* The attestation API's socket in RUN_DIR (init/api.h), bound into the container when api.enabled. */
#define IMAGE_API_SOCKET "api.sock"
#define IMAGE_DISK_DIR ".cvminit"

struct images;

/* Measures and verifies every image of c whose image_post_key() is post_key, in config order, as
 * above; *set (allocated on first use) keeps what was verified for images_prepare. Stops at the
 * first failure: -EBADMSG when a digest differs (err names the blob, or says the manifest is not
 * the pinned one), -ENOENT for a missing blob or ref, others. err starts with "image NAME: ". o may
 * be NULL (jobs and window for the layer check; its alg is ignored). */
int images_measure(struct images **set, const struct config *c, bool post_key, struct cel_writer *w,
                   const struct hash_options *o, errbuf *err);

/* For an image workload (c->workload.image), after every image was measured: the rootfs and
 * bundle as above; *ret_event the `workload` event content, *ret_run the workload to supervise
 * (crun; owned by set). Without an image workload: 0, and both left untouched. Either way every
 * layout directory is closed afterwards (nothing may keep its file system busy). crun is IMAGE_CRUN
 * (CVMINIT_CRUN in the environment when not PID 1, for tests); RUN_DIR moves with CVMINIT_RUN_DIR
 * likewise. */
int images_prepare(struct images *set, const struct config *c, json_t **ret_event, const struct workload **ret_run,
                   errbuf *err);

void images_free(struct images *set);
