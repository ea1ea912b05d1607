/* SPDX-License-Identifier: MIT */
/* The OCI document parsers (agent/image-oci.c): the same bytes as index.json, as an OCI and a
 * Docker manifest, as an image config and as an oci-layout file. Each either parses into values
 * that keep the header's promises (checked below) or is refused with a message; never a crash,
 * leak or unbounded allocation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image-oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_descriptor(const struct oci_descriptor *d) {
        char hex[2 * OCI_DIGEST_SIZE + 1];

        hex_encode(d->digest, OCI_DIGEST_SIZE, hex);
        if (strcmp(hex, d->hex) != 0 || !d->media_type[0] || strlen(d->media_type) > OCI_MEDIA_TYPE_MAX)
                abort();
}

static void check_list(char **v, size_t n) {
        if (v && v[n])
                abort();
        if (!v && n)
                abort();
}

static void manifest(const uint8_t *data, size_t size, const char *mt) {
        struct oci_manifest *m = NULL;
        errbuf err = {};

        if (oci_manifest_parse(data, size, mt, &m, &err) == 0) {
                if (!m || m->n_layers > OCI_LAYERS_MAX || m->docker != (strcmp(mt, DOCKER_MT_MANIFEST) == 0))
                        abort();
                check_descriptor(&m->config);
                for (size_t i = 0; i < m->n_layers; i++) {
                        check_descriptor(&m->layers[i].d);
                        if (m->layers[i].compression > OCI_COMPRESSION_ZSTD)
                                abort();
                }
                oci_manifest_free(m);
        } else if (m || !err.msg[0])
                abort();
}

static void config(const uint8_t *data, size_t size) {
        struct oci_image_config *c = NULL;
        errbuf err = {};

        if (oci_config_parse(data, size, &c, &err) == 0) {
                if (!c->os || !c->architecture || !c->user || !c->working_dir || c->n_diff_ids > OCI_LAYERS_MAX)
                        abort();
                check_list(c->entrypoint, c->n_entrypoint);
                check_list(c->cmd, c->n_cmd);
                check_list(c->env, c->n_env);
                for (size_t i = 0; i < c->n_env; i++)
                        if (!strchr(c->env[i], '=') || c->env[i][0] == '=')
                                abort();
                oci_config_free(c);
        } else if (c || !err.msg[0])
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct oci_descriptor d;
        errbuf err = {};

        if (oci_index_find(data, size, "v1", &d, &err) == 0) {
                check_descriptor(&d);
                if (strcmp(d.media_type, OCI_MT_MANIFEST) != 0 && strcmp(d.media_type, DOCKER_MT_MANIFEST) != 0)
                        abort();
        } else if (!err.msg[0])
                abort();
        manifest(data, size, OCI_MT_MANIFEST);
        manifest(data, size, DOCKER_MT_MANIFEST);
        config(data, size);
        err = (errbuf) {};
        if (oci_layout_check(data, size, &err) < 0 && !err.msg[0])
                abort();
        return 0;
}
