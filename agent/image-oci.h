/* SPDX-License-Identifier: MIT */
/* OCI image-spec documents (image-spec v1.1: image-layout.md, image-index.md, manifest.md,
 * config.md, descriptor.md), parsed from bytes with nothing read from disk here (agent/image-layout.c
 * does the I/O; tests/fuzz/fuzz-oci.c feeds these parsers). Strict: jansson refuses duplicate keys
 * and invalid UTF-8, every document, array and string has a limit, digests are sha256 only in the
 * spec's canonical form, media types must be the ones listed below (Docker's v2 schema 2 manifest,
 * config and gzip layer types are accepted too), and members this code uses must have their
 * documented types. Members it does not use are ignored, as the image-spec requires. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define OCI_LAYOUT_FILE_MAX 4096U
#define OCI_INDEX_MAX (4U << 20)
#define OCI_MANIFEST_MAX (4U << 20)
#define OCI_CONFIG_MAX (8U << 20)
#define OCI_INDEX_ENTRIES_MAX 4096U
#define OCI_LAYERS_MAX 256U
/* Entries of the image config's Env, Entrypoint and Cmd, each. */
#define OCI_LIST_MAX 1024U
/* RFC 6838: type and subtype of at most 127 characters each. */
#define OCI_MEDIA_TYPE_MAX 255U
#define OCI_DIGEST_SIZE 32U
#define OCI_STRING_MAX 65536U

#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MT_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MT_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MT_CONFIG "application/vnd.docker.container.image.v1+json"
#define DOCKER_MT_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define OCI_REF_ANNOTATION "org.opencontainers.image.ref.name"

enum oci_compression {
        OCI_COMPRESSION_NONE,
        OCI_COMPRESSION_GZIP,
        OCI_COMPRESSION_ZSTD,
};

struct oci_descriptor {
        char media_type[OCI_MEDIA_TYPE_MAX + 1];
        uint8_t digest[OCI_DIGEST_SIZE];
        char hex[2 * OCI_DIGEST_SIZE + 1]; /* the digest in lower-case hex, for paths and messages */
        uint64_t size;
};

struct oci_layer {
        struct oci_descriptor d;
        enum oci_compression compression;
};

struct oci_manifest {
        bool docker; /* Docker's v2 schema 2 */
        struct oci_descriptor config;
        struct oci_layer *layers;
        size_t n_layers;
};

/* The parts of an image config (config.md) a runtime uses. Lists are NULL-terminated; entrypoint
 * and cmd are NULL when absent or null. Strings are never NULL ("" when absent). */
struct oci_image_config {
        char *os, *architecture, *variant;
        char **entrypoint, **cmd, **env; /* env: "NAME=VALUE" in the image's order */
        size_t n_entrypoint, n_cmd, n_env;
        char *user, *working_dir;
        size_t n_diff_ids;
};

/* "sha256:" and 64 lower-case hex digits. -EOPNOTSUPP for another algorithm ("sha512:..."),
 * -EINVAL for anything else. */
int oci_digest_parse(const char *s, uint8_t out[static OCI_DIGEST_SIZE]);

/* The oci-layout file: {"imageLayoutVersion": "1.0.0"}. */
int oci_layout_check(const uint8_t *p, size_t n, errbuf *err);

/* index.json: the one manifest descriptor whose ref annotation is ref. Refused: no such entry
 * (err lists the refs there), two of them, an entry that is an image index (a multi-platform
 * image) or not a manifest. */
int oci_index_find(const uint8_t *p, size_t n, const char *ref, struct oci_descriptor *ret, errbuf *err);

/* An image manifest reached through a descriptor of media_type (OCI or Docker manifest): schema
 * version 2, its own mediaType (if any) equal to media_type, a config of the matching type, layers
 * of the layer types (OCI: tar, tar+gzip, tar+zstd; Docker: tar.gzip), none with "urls". */
int oci_manifest_parse(const uint8_t *p, size_t n, const char *media_type, struct oci_manifest **ret,
                       errbuf *err);
void oci_manifest_free(struct oci_manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct oci_manifest *, oci_manifest_free);

/* An image config: os and architecture required, config.{Entrypoint,Cmd,Env,User,WorkingDir} as
 * documented (Env entries NAME=VALUE with a non-empty NAME), rootfs.type "layers" with diff_ids. */
int oci_config_parse(const uint8_t *p, size_t n, struct oci_image_config **ret, errbuf *err);
void oci_config_free(struct oci_image_config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct oci_image_config *, oci_config_free);

/* The GOARCH name of the architecture this program was built for ("amd64", "arm64", ...). */
const char *oci_arch(void);
