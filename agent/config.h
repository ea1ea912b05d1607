/* SPDX-License-Identifier: MIT */
/* The instance configuration (DESIGN §1 step 3; docs/config.md): one JSON document, read from the
 * first source that exists (cvminit.config= on the kernel command line, QEMU fw_cfg
 * opt/cvminit/config, /etc/cvminit/config.json in the initramfs; or the --config FILE), measured
 * as raw bytes (the `config` event, DESIGN §3) and only then parsed against a strict schema:
 * unknown and duplicate keys, wrong types and values out of range are errors that name the key. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hashalg.h"
#include "util.h"

#define CONFIG_SIZE_MAX (1024U * 1024U)
#define CONFIG_VERSION 1
#define CONFIG_MODULES_MAX 64U
#define CONFIG_MOUNTS_MAX 16U
#define CONFIG_MODELS_MAX 16U
#define CONFIG_EXEC_MAX 256U
#define CONFIG_ENV_MAX 256U
#define CONFIG_NAME_MAX 64U
#define CONFIG_PATH_MAX 4095U
/* Argument and environment bytes together: keeps the `workload` event (escaped, at most 6 bytes per
 * byte) far below EVENT_TEXT_MAX. */
#define CONFIG_WORKLOAD_BYTES_MAX (32U * 1024U)
#define CONFIG_ID_MAX 2147483647U
#define CONFIG_TIMEOUT_MS_MAX 600000U
#define CONFIG_RESTART_DELAY_MS_MAX 60000U
#define CONFIG_RESTART_MAX_MAX 1000000U

/* Where the sources live (overridable by environment variables when not PID 1, for tests). */
#define CONFIG_FW_CFG_PATH "/sys/firmware/qemu_fw_cfg/by_name/opt/cvminit/config/raw"
#define CONFIG_INITRAMFS_PATH "/etc/cvminit/config.json"

struct config_mount {
        char *device;  /* LABEL=..., PARTLABEL=..., UUID=... or /dev/... */
        char *path;    /* absolute mount point */
        char *fs;      /* filesystem type, never guessed */
        char *options; /* mount(8)-style option string */
        uint64_t timeout_ms;
};

/* A verity model's device-mapper name is this prefix + its name (agent/verity.h). */
#define MODEL_VERITY_MAPPER_PREFIX "model-"

/* How a model is measured (DESIGN §3 `model` event; docs/config.md "models[]"). */
enum model_mode {
        MODEL_MODE_FILES,  /* a directory, hashed file by file into a manifest */
        MODEL_MODE_VERITY, /* a dm-verity volume, measured by its pinned root hash in O(1) (agent/verity.h) */
        _MODEL_MODE_MAX,
};

/* Verity volumes (docs/verity.md): SHA-256 root hash, 4096-byte blocks, at most 2^36 of them. */
#define CONFIG_VERITY_ROOT_HASH_SIZE 32U
#define CONFIG_VERITY_BLOCK_SIZE 4096U
#define CONFIG_VERITY_DATA_BLOCKS_MAX (UINT64_C(1) << 36)
#define CONFIG_VERITY_HASH_OFFSET_MAX (UINT64_C(1) << 52)

struct config_model {
        char *name;
        char *path;                    /* files: the model directory; verity: its mount point */
        enum model_mode mode;
        /* files mode */
        enum hash_alg alg;
        uint8_t expect[HASH_MAX_SIZE]; /* pinned manifest digest, hash_alg_size(alg) bytes */
        char *manifest;                /* reference manifest (used only to name a differing file) */
        /* verity mode */
        char *device;                  /* LABEL=..., PARTLABEL=..., UUID=..., SERIAL=... or /dev/... */
        uint8_t root_hash[CONFIG_VERITY_ROOT_HASH_SIZE];
        uint64_t data_blocks;          /* pinned: the superblock must say the same */
        uint64_t hash_offset;          /* bytes: where the verity superblock is on the device */
        uint64_t timeout_ms;
};

/* An OCI image layout (docs/config.md "images[]"; agent/image.h): measured as the `image` event
 * {"name","ref","digest"} before it is used. */
#define CONFIG_IMAGES_MAX 16U
#define CONFIG_IMAGE_REF_MAX 128U
#define CONFIG_IMAGE_DIGEST_SIZE 32U /* sha256 */

struct config_image {
        char *name;
        char *layout; /* absolute path of the layout directory (oci-layout, index.json, blobs/) */
        char *ref;    /* the org.opencontainers.image.ref.name annotation in its index.json */
        bool has_expect;
        uint8_t expect[CONFIG_IMAGE_DIGEST_SIZE]; /* pinned manifest digest (sha256) */
        bool allow_devices, allow_setuid;
};

enum workload_restart {
        WORKLOAD_RESTART_NO,
        WORKLOAD_RESTART_ON_FAILURE,
        WORKLOAD_RESTART_ALWAYS,
        _WORKLOAD_RESTART_MAX,
};

enum workload_on_exit {
        WORKLOAD_ON_EXIT_POWEROFF,
        WORKLOAD_ON_EXIT_REBOOT,
        _WORKLOAD_ON_EXIT_MAX,
};

struct workload {
        char **exec;  /* NULL-terminated; exec[0] is an absolute path (NULL: image workload without exec) */
        size_t n_exec;
        char **env;   /* NULL-terminated "KEY=VALUE", in document order: the whole environment */
        size_t n_env;
        uid_t user;
        gid_t group;
        char *cwd;
        enum workload_restart restart;
        unsigned restart_max;
        uint64_t restart_delay_ms, stop_timeout_ms;
        enum workload_on_exit on_exit;
        /* An OCI image as the workload (docs/config.md "images[]", agent/image.h): the name of one of
         * images[]; exec (then optional, NULL if absent) replaces its Entrypoint and Cmd, args its Cmd;
         * user, group and cwd replace the image's only if given (the *_set flags). */
        char *image;
        char **args; /* NULL-terminated, or NULL if absent */
        size_t n_args;
        bool user_set, group_set, cwd_set;
};

/* The encrypted data disk (DESIGN §6, docs/disk.md, agent/disk.h). */
enum disk_format {
        DISK_FORMAT_IF_EMPTY, /* set up a device that holds nothing (docs/disk.md says how that is decided) */
        DISK_FORMAT_NEVER,    /* only open a volume that is already set up */
        _DISK_FORMAT_MAX,
};

struct config_disk {
        char *name;      /* device-mapper name (/dev/mapper/NAME) and the `disk` event's name */
        char *device;    /* LABEL=..., PARTLABEL=..., UUID=..., SERIAL=... or /dev/... */
        char *path;      /* absolute mount point */
        enum disk_format format;
        char *cipher;    /* "aes-xts-plain64" or "aes-gcm-random" */
        char *integrity; /* "hmac-sha256", "aead" (with aes-gcm-random) or "none" */
        char *fs;        /* "ext4" */
        char *options;   /* mount(8)-style option string */
        uint64_t timeout_ms;
};

/* The key broker (DESIGN §4; docs/config.md "kbs"): where the disk key comes from. */
#define CONFIG_KBS_URL_MAX 1024U
#define CONFIG_KBS_CA_MAX (64U * 1024U)
#define CONFIG_KBS_RETRIES_MAX 100U
#define CONFIG_KBS_RETRY_DELAY_MS_MAX 60000U

struct config_kbs {
        char *url;           /* https://HOST[:PORT][/PREFIX], without a trailing slash */
        char *ca;            /* PEM text of the one certificate trusted for the broker */
        uint8_t *ca_der;     /* its DER: the key-provider event's ca_sha256 is over these bytes */
        size_t ca_der_len;
        char *resource;      /* REPO/TYPE/TAG */
        uint64_t timeout_ms; /* per HTTP request, connection included */
        uint64_t retries;    /* attempts after the first, for transport errors only */
        uint64_t retry_delay_ms;
};

/* The workload attestation API (docs/api.md; docs/config.md "api"): its Unix socket's owner, group and
 * permission bits. Absent: enabled, owned by the workload's user and group, mode 0600. */
struct config_api {
        bool enabled;
        uid_t socket_user;
        gid_t socket_group;
        mode_t socket_mode; /* permission bits only, at most 0777 */
};

struct config {
        unsigned version;
        char **modules; /* NULL-terminated */
        size_t n_modules;
        struct config_mount *mounts;
        size_t n_mounts;
        struct config_model *models;
        size_t n_models;
        struct config_image *images;
        size_t n_images;
        struct workload workload;
        struct config_kbs *kbs;   /* NULL: no key broker */
        struct config_disk *disk; /* NULL: no data disk */
        struct config_api api;
};

/* Reads the raw configuration: file_override if not NULL (--config mode, source "file:PATH"), else
 * cmdline_config, the value of cvminit.config= on the kernel command line ("file:PATH"), else fw_cfg
 * ("fw_cfg:opt/cvminit/config"), else the initramfs file ("initramfs:/etc/cvminit/config.json").
 * A source that is named or present but unreadable is an error, never a reason to fall back.
 * Returns 0 with *ret NUL-terminated, or -ENOENT (no source), -EFBIG (over CONFIG_SIZE_MAX), ... */
int config_read(const char *cmdline_config, const char *file_override, uint8_t **ret, size_t *ret_len,
                char **ret_source, errbuf *err);
/* The `config` event content {"source":SOURCE,"sha384":"<hex of the raw bytes>"}. */
int config_event_content(const char *source, const uint8_t *p, size_t n, json_t **ret);
/* The contents of the events the config determines, shared by cvminit and `cvmtool predict`:
 * `key-provider` {"url","ca_sha256","resource"} (DESIGN §3; ca_sha256 = hex SHA-256 of the CA
 * certificate's DER) and `disk` {"name","cipher","integrity","fs"}. */
int config_kbs_event_content(const struct config_kbs *k, json_t **ret);
int config_disk_event_content(const struct config_disk *d, json_t **ret);
/* Parses and checks the whole document; on error err says "KEY.PATH: what is wrong" and the return
 * is -EINVAL (-EFBIG if over the size limit). */
int config_parse(const uint8_t *p, size_t n, struct config **ret, errbuf *err);
void config_free(struct config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct config *, config_free);

const char *workload_restart_name(enum workload_restart r);
const char *workload_on_exit_name(enum workload_on_exit e);
const char *disk_format_name(enum disk_format f);
const char *model_mode_name(enum model_mode m);
