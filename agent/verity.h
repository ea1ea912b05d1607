/* SPDX-License-Identifier: MIT */
/* Models on dm-verity volumes (DESIGN §1 step 5, §3 `model` event, verity mode; docs/verity.md).
 * One device holds a read-only ext4 file system in its first data_blocks 4096-byte blocks and, at
 * hash_offset, the verity superblock and the SHA-256 hash tree (image/mkverity makes such images).
 *
 * Opening one costs O(1) whatever the volume's size: libcryptsetup reads the superblock (unusual
 * parameters are refused), one 4 KiB read gives the top hash block, whose hash is the volume's root
 * hash; the `model` event {"name","mode":"verity","root_hash","data_blocks"} records what was found;
 * a root hash or block count other than the pinned ones fails the boot; then the read-only mapping
 * /dev/mapper/model-NAME is activated with the pinned root hash and mounted read-only (nosuid,
 * nodev) at the model's path. From then on the kernel checks every block read against the tree: a
 * changed byte makes that read fail with EIO, never return other data. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cel.h"
#include "config.h"
#include "util.h"

#define VERITY_MAPPER_PREFIX MODEL_VERITY_MAPPER_PREFIX
#define VERITY_FS "ext4"
#define VERITY_SALT_MAX 256U
#define VERITY_VOLUMES_MAX CONFIG_MODELS_MAX

/* What a volume's superblock and hash tree say. */
struct verity_volume {
        uint8_t root_hash[CONFIG_VERITY_ROOT_HASH_SIZE]; /* SHA-256(salt || top hash block) */
        uint64_t data_blocks;                            /* from the superblock */
        uint64_t hash_start;  /* first block of the hash tree, in 4096-byte blocks from the device's start */
        uint64_t tree_blocks; /* blocks of the hash tree (all levels) */
        unsigned levels;      /* 0: a single data block, whose hash is the root hash */
        size_t salt_size;
        uint64_t device_size; /* bytes */
};

/* Read-only, O(1): the superblock at m->hash_offset of the device or image file at path, and the
 * root hash computed from its top hash block. Refused, with err saying what was found: no verity
 * superblock there (-EMEDIUMTYPE); another hash than sha256, hash type 0, blocks other than 4096
 * bytes, FEC (-EPROTO); data blocks that reach into the hash area or a device too small for the
 * whole tree (-EUCLEAN). Does not compare with the pinned values: verity_check_pins does. */
int verity_examine(const struct config_model *m, const char *path, struct verity_volume *ret, errbuf *err);

/* 0 if v has m's pinned root hash and data block count; -EBADMSG with "verity root hash mismatch
 * for model NAME on DEV: ..." (or "verity data block count mismatch ...") otherwise. */
int verity_check_pins(const struct config_model *m, const struct verity_volume *v, const char *dev, errbuf *err);

/* The whole of it for one verity-mode model (see above): finds m->device (waiting up to
 * m->timeout_ms), examines it, extends the `model` event into w, checks the pins, activates and
 * mounts. Logs "Model NAME: verity root hash HEX activated in N ms". On failure nothing stays
 * active or mounted; err starts with "model NAME: " or "verity ... mismatch for model NAME". */
int verity_open(const struct config_model *m, struct cel_writer *w, errbuf *err);

/* Unmounts and deactivates what verity_open opened, last first (the shutdown path). */
void verity_close_all(void);
