/* SPDX-License-Identifier: MIT */
/* Model measurement, files mode (DESIGN §1 steps 5 and 8, §3 `model` event; docs/config.md): for
 * each configured model, build its manifest (written to RUN_DIR/manifests/NAME.json, RUN_DIR =
 * /run/cvminit), extend the `model` event, then check the manifest digest against the pinned
 * `expect`. The event is recorded even when the digest differs, so the log holds what was really
 * found; the boot then fails. To name the file that differs, the model's reference manifest (the
 * JCS text whose digest is `expect`, e.g. from `cvmtool manifest`) is read, accepted only if its
 * digest equals `expect`, and compared entry by entry with what was found. */
#pragma once

#include <jansson.h>

#include "cel.h"
#include "config.h"
#include "hashtree.h"
#include "manifest.h"

#define MODELS_RUN_DIR "/run/cvminit"
/* A reference manifest larger than this is not read (the model still fails, unnamed). */
#define MODELS_REFERENCE_MAX (4U << 20)
#define MODELS_PROGRESS_MS_DEFAULT 5000U

/* Measures every model of c in order and stops at the first failure. o (may be NULL) gives jobs
 * and window; its alg is ignored (each model has its own). Without an o->progress hook, progress
 * lines "model NAME: X.X/Y.Y GiB, Z.Z GB/s, ETA Ns" are logged at info level at most every
 * o->progress_ms (0 = MODELS_PROGRESS_MS_DEFAULT). Returns 0; -EBADMSG when a digest differs from
 * `expect` (err names the file when a reference manifest allows it); other negative errnos for
 * unreadable models or a failed extend. err starts with "model NAME: ". RUN_DIR may be moved with
 * the environment variable CVMINIT_RUN_DIR, except in PID 1. */
int models_measure(const struct config *c, struct cel_writer *w, const struct hash_options *o, errbuf *err);
int models_measure_one(const struct config_model *m, struct cel_writer *w, const struct hash_options *o,
                       errbuf *err);

/* The `model` event content {"name","mode":"files","alg","manifest":"<hex>","files":N,"bytes":N}. */
int models_event_content(const struct config_model *m, const struct manifest_info *info, json_t **ret);
/* The verity-mode `model` event content {"name","mode":"verity","root_hash":"<hex>","data_blocks":N}
 * (DESIGN §3): root_hash is CONFIG_VERITY_ROOT_HASH_SIZE bytes. Verity models are opened and
 * measured by agent/verity.h; models_measure and models_measure_one refuse them (-EOPNOTSUPP). */
int models_verity_event_content(const char *name, const uint8_t *root_hash, uint64_t data_blocks, json_t **ret);
