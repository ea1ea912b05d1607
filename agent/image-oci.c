/* SPDX-License-Identifier: MIT */
/* OCI image-spec documents: index, manifest, config (image-oci.h). */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "image-oci.h"

#define SHOWN_MAX 96U
#define REFS_LISTED 8U

static int load(const uint8_t *p, size_t n, size_t max, const char *what, json_t **ret, errbuf *err) {
        json_error_t e;
        json_t *root;

        if (n > max)
                return errbuf_set(err, -EFBIG, "%s: %zu bytes, more than the limit of %zu", what, n, max);
        root = json_loadb((const char *) p, n, JSON_REJECT_DUPLICATES, &e);
        if (!root) {
                _cleanup_free_ char *esc = escape_untrusted(e.text, strlen(e.text), 160);
                return errbuf_set(err, -EBADMSG, "%s: not valid JSON: line %d, column %d: %s", what, e.line, e.column,
                                  esc ? esc : "syntax error");
        }
        if (!json_is_object(root)) {
                json_decref(root);
                return errbuf_set(err, -EBADMSG, "%s: not a JSON object", what);
        }
        *ret = root;
        return 0;
}

/* A string member no longer than max, without NUL: *ret points into the document (NULL if absent). */
static int get_str(const json_t *o, const char *key, bool required, size_t max, const char **ret,
                   const char *what, errbuf *err) {
        json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return required ? errbuf_set(err, -EBADMSG, "%s: %s missing", what, key) : 0;
        if (!json_is_string(v))
                return errbuf_set(err, -EBADMSG, "%s: %s is not a string", what, key);
        if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v))
                return errbuf_set(err, -EBADMSG, "%s: %s is longer than %zu bytes or holds a NUL", what, key, max);
        *ret = json_string_value(v);
        return 0;
}

static char *shown(const char *s) {
        return escape_untrusted(s, strlen(s), SHOWN_MAX);
}

int oci_digest_parse(const char *s, uint8_t out[static OCI_DIGEST_SIZE]) {
        const char *colon = strchr(s, ':');

        if (!colon || colon == s)
                return -EINVAL;
        if ((size_t) (colon - s) != 6 || strncmp(s, "sha256", 6) != 0)
                return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+._-") == (size_t) (colon - s) ? -EOPNOTSUPP : -EINVAL;
        if (strlen(colon + 1) != 2 * OCI_DIGEST_SIZE || strspn(colon + 1, "0123456789abcdef") != 2 * OCI_DIGEST_SIZE)
                return -EINVAL;
        return unhex(colon + 1, 2 * OCI_DIGEST_SIZE, out, OCI_DIGEST_SIZE) == (int) OCI_DIGEST_SIZE ? 0 : -EINVAL;
}

static bool media_type_valid(const char *s) {
        size_t n = strlen(s), slash = strcspn(s, "/");

        if (n == 0 || n > OCI_MEDIA_TYPE_MAX || slash == 0 || slash >= n - 1)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
                        return false;
        return true;
}

/* descriptor.md: mediaType, digest and size required; "urls" (a blob fetched from elsewhere) is
 * refused, as everything must be in the layout. */
static int parse_descriptor(const json_t *o, struct oci_descriptor *d, const char *what, errbuf *err) {
        const char *mt = NULL, *digest = NULL;
        json_t *size;
        int r;

        if (!json_is_object(o))
                return errbuf_set(err, -EBADMSG, "%s: not a JSON object", what);
        r = get_str(o, "mediaType", true, OCI_MEDIA_TYPE_MAX, &mt, what, err);
        if (r >= 0)
                r = get_str(o, "digest", true, 256, &digest, what, err);
        if (r < 0)
                return r;
        if (!media_type_valid(mt)) {
                _cleanup_free_ char *e = shown(mt);
                return errbuf_set(err, -EBADMSG, "%s: mediaType '%s' is not a media type", what, e ? e : "?");
        }
        r = oci_digest_parse(digest, d->digest);
        if (r < 0) {
                _cleanup_free_ char *e = shown(digest);
                return errbuf_set(err, r == -EOPNOTSUPP ? -EOPNOTSUPP : -EBADMSG, "%s: digest '%s' is not %s", what,
                                  e ? e : "?", r == -EOPNOTSUPP ? "sha256 (the only algorithm supported)" :
                                                                  "sha256:<64 lower-case hex digits>");
        }
        size = json_object_get(o, "size");
        if (!json_is_integer(size) || json_integer_value(size) < 0)
                return errbuf_set(err, -EBADMSG, "%s: size missing or not a non-negative integer", what);
        if (json_object_get(o, "urls"))
                return errbuf_set(err, -EBADMSG, "%s: has \"urls\" (a blob from elsewhere): every blob must be "
                                  "in the layout", what);
        snprintf(d->media_type, sizeof(d->media_type), "%s", mt);
        hex_encode(d->digest, OCI_DIGEST_SIZE, d->hex);
        d->size = (uint64_t) json_integer_value(size);
        return 0;
}

int oci_layout_check(const uint8_t *p, size_t n, errbuf *err) {
        json_t *root = NULL;
        const char *v = NULL;
        int r = load(p, n, OCI_LAYOUT_FILE_MAX, "oci-layout", &root, err);

        if (r < 0)
                return r;
        r = get_str(root, "imageLayoutVersion", true, 32, &v, "oci-layout", err);
        if (r >= 0 && strcmp(v, "1.0.0") != 0) {
                _cleanup_free_ char *e = shown(v);
                r = errbuf_set(err, -EBADMSG, "oci-layout: imageLayoutVersion '%s' is not 1.0.0", e ? e : "?");
        }
        json_decref(root);
        return r;
}

/* ---- index.json ---- */

static const char *entry_ref(const json_t *entry) {
        json_t *ann = json_object_get(entry, "annotations");
        return json_string_value(json_object_get(ann, OCI_REF_ANNOTATION));
}

/* For the "not found" message: the first refs of the index. */
static void list_refs(const json_t *manifests, char *out, size_t n) {
        size_t i, k = 0;
        json_t *e;

        out[0] = 0;
        json_array_foreach(manifests, i, e) {
                const char *ref = entry_ref(e);
                _cleanup_free_ char *esc = ref ? escape_untrusted(ref, strlen(ref), 64) : NULL;
                size_t len = strlen(out);
                if (!esc)
                        continue;
                if (k++ == REFS_LISTED) {
                        snprintf(out + len, n - len, ", ...");
                        return;
                }
                snprintf(out + len, n - len, "%s'%s'", len ? ", " : "", esc);
        }
        if (!out[0])
                snprintf(out, n, "none");
}

static int check_manifest_type(const struct oci_descriptor *d, const char *ref, errbuf *err) {
        _cleanup_free_ char *e = shown(ref), *mt = shown(d->media_type);

        if (strcmp(d->media_type, OCI_MT_MANIFEST) == 0 || strcmp(d->media_type, DOCKER_MT_MANIFEST) == 0)
                return 0;
        if (strcmp(d->media_type, OCI_MT_INDEX) == 0 || strcmp(d->media_type, DOCKER_MT_LIST) == 0)
                return errbuf_set(err, -EMEDIUMTYPE, "index.json: ref '%s' names an image index (a multi-platform "
                                  "image, %s): copy one platform's image into the layout, e.g. skopeo copy "
                                  "--override-arch %s", e ? e : "?", mt ? mt : "?", oci_arch());
        return errbuf_set(err, -EMEDIUMTYPE, "index.json: ref '%s' names a %s, not an image manifest (%s or %s)",
                          e ? e : "?", mt ? mt : "?", OCI_MT_MANIFEST, DOCKER_MT_MANIFEST);
}

static int find_in(const json_t *manifests, const char *ref, struct oci_descriptor *ret, errbuf *err) {
        size_t i, found = SIZE_MAX;
        json_t *e;

        json_array_foreach(manifests, i, e) {
                char what[64];
                const char *r = entry_ref(e);
                snprintf(what, sizeof(what), "index.json: manifests[%zu]", i);
                if (!json_is_object(e))
                        return errbuf_set(err, -EBADMSG, "%s: not a JSON object", what);
                if (!r || strcmp(r, ref) != 0)
                        continue;
                if (found != SIZE_MAX) {
                        _cleanup_free_ char *s = shown(ref);
                        return errbuf_set(err, -ENOTUNIQ, "index.json: ref '%s' is on manifests[%zu] and manifests[%zu]",
                                          s ? s : "?", found, i);
                }
                found = i;
                int k = parse_descriptor(e, ret, what, err);
                if (k < 0)
                        return k;
        }
        if (found == SIZE_MAX) {
                char refs[400];
                _cleanup_free_ char *s = shown(ref);
                list_refs(manifests, refs, sizeof(refs));
                return errbuf_set(err, -ENOENT, "index.json: no manifest has the ref '%s' (" OCI_REF_ANNOTATION
                                  "); refs there: %s", s ? s : "?", refs);
        }
        return check_manifest_type(ret, ref, err);
}

int oci_index_find(const uint8_t *p, size_t n, const char *ref, struct oci_descriptor *ret, errbuf *err) {
        json_t *root = NULL, *sv, *manifests;
        const char *mt = NULL;
        int r = load(p, n, OCI_INDEX_MAX, "index.json", &root, err);

        if (r < 0)
                return r;
        sv = json_object_get(root, "schemaVersion");
        manifests = json_object_get(root, "manifests");
        r = get_str(root, "mediaType", false, OCI_MEDIA_TYPE_MAX, &mt, "index.json", err);
        if (r >= 0 && (!json_is_integer(sv) || json_integer_value(sv) != 2))
                r = errbuf_set(err, -EBADMSG, "index.json: schemaVersion is not 2");
        else if (r >= 0 && mt && strcmp(mt, OCI_MT_INDEX) != 0)
                r = errbuf_set(err, -EMEDIUMTYPE, "index.json: mediaType is not " OCI_MT_INDEX);
        else if (r >= 0 && !json_is_array(manifests))
                r = errbuf_set(err, -EBADMSG, "index.json: manifests is not an array");
        else if (r >= 0 && json_array_size(manifests) > OCI_INDEX_ENTRIES_MAX)
                r = errbuf_set(err, -EFBIG, "index.json: %zu manifests, more than the limit of %u",
                               json_array_size(manifests), OCI_INDEX_ENTRIES_MAX);
        else if (r >= 0)
                r = find_in(manifests, ref, ret, err);
        json_decref(root);
        return r;
}

/* ---- the manifest ---- */

void oci_manifest_free(struct oci_manifest *m) {
        if (!m)
                return;
        free(m->layers);
        free(m);
}

static int layer_compression(const char *mt, bool docker, enum oci_compression *ret) {
        static const struct {
                const char *type;
                bool docker;
                enum oci_compression c;
        } types[] = {
                { OCI_MT_LAYER, false, OCI_COMPRESSION_NONE },
                { OCI_MT_LAYER_GZIP, false, OCI_COMPRESSION_GZIP },
                { OCI_MT_LAYER_ZSTD, false, OCI_COMPRESSION_ZSTD },
                { DOCKER_MT_LAYER_GZIP, true, OCI_COMPRESSION_GZIP },
        };

        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                if (strcmp(mt, types[i].type) == 0 && types[i].docker == docker) {
                        *ret = types[i].c;
                        return 0;
                }
        return -EMEDIUMTYPE;
}

static int parse_layers(const json_t *a, struct oci_manifest *m, errbuf *err) {
        size_t i;
        json_t *e;

        if (!json_is_array(a))
                return errbuf_set(err, -EBADMSG, "manifest: layers is not an array");
        if (json_array_size(a) > OCI_LAYERS_MAX)
                return errbuf_set(err, -EFBIG, "manifest: %zu layers, more than the limit of %u", json_array_size(a),
                                  OCI_LAYERS_MAX);
        m->layers = calloc(json_array_size(a) + 1, sizeof(*m->layers));
        if (!m->layers)
                return errbuf_set(err, -ENOMEM, "out of memory");
        json_array_foreach(a, i, e) {
                char what[64];
                struct oci_layer *l = &m->layers[i];
                snprintf(what, sizeof(what), "manifest: layers[%zu]", i);
                int r = parse_descriptor(e, &l->d, what, err);
                if (r < 0)
                        return r;
                if (layer_compression(l->d.media_type, m->docker, &l->compression) < 0) {
                        _cleanup_free_ char *mt = shown(l->d.media_type);
                        return errbuf_set(err, -EMEDIUMTYPE, "%s: media type %s is not a layer type this manifest "
                                          "may have (%s)", what, mt ? mt : "?", m->docker ? DOCKER_MT_LAYER_GZIP :
                                          OCI_MT_LAYER ", +gzip or +zstd");
                }
                m->n_layers++;
        }
        return 0;
}

static int parse_manifest_doc(const json_t *root, const char *media_type, struct oci_manifest *m, errbuf *err) {
        json_t *sv = json_object_get(root, "schemaVersion");
        const char *mt = NULL, *want_config;
        int r;

        m->docker = strcmp(media_type, DOCKER_MT_MANIFEST) == 0;
        if (!m->docker && strcmp(media_type, OCI_MT_MANIFEST) != 0)
                return errbuf_set(err, -EMEDIUMTYPE, "manifest: not reached as a manifest media type");
        r = get_str(root, "mediaType", m->docker, OCI_MEDIA_TYPE_MAX, &mt, "manifest", err);
        if (r < 0)
                return r;
        if (!json_is_integer(sv) || json_integer_value(sv) != 2)
                return errbuf_set(err, -EBADMSG, "manifest: schemaVersion is not 2");
        if (mt && strcmp(mt, media_type) != 0) {
                _cleanup_free_ char *e = shown(mt);
                return errbuf_set(err, -EMEDIUMTYPE, "manifest: mediaType '%s' differs from the index's %s",
                                  e ? e : "?", media_type);
        }
        r = parse_descriptor(json_object_get(root, "config"), &m->config, "manifest: config", err);
        if (r < 0)
                return r;
        want_config = m->docker ? DOCKER_MT_CONFIG : OCI_MT_CONFIG;
        if (strcmp(m->config.media_type, want_config) != 0) {
                _cleanup_free_ char *e = shown(m->config.media_type);
                return errbuf_set(err, -EMEDIUMTYPE, "manifest: config media type '%s' is not %s (this is not a "
                                  "container image)", e ? e : "?", want_config);
        }
        return parse_layers(json_object_get(root, "layers"), m, err);
}

int oci_manifest_parse(const uint8_t *p, size_t n, const char *media_type, struct oci_manifest **ret,
                       errbuf *err) {
        _cleanup_(oci_manifest_freep) struct oci_manifest *m = NULL;
        json_t *root = NULL;
        int r = load(p, n, OCI_MANIFEST_MAX, "manifest", &root, err);

        if (r < 0)
                return r;
        m = calloc(1, sizeof(*m));
        r = m ? parse_manifest_doc(root, media_type, m, err) : errbuf_set(err, -ENOMEM, "out of memory");
        json_decref(root);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* ---- the image config ---- */

void oci_config_free(struct oci_image_config *c) {
        if (!c)
                return;
        free(c->os);
        free(c->architecture);
        free(c->variant);
        strv_free(c->entrypoint);
        strv_free(c->cmd);
        strv_free(c->env);
        free(c->user);
        free(c->working_dir);
        free(c);
}

static int dup_str(const json_t *o, const char *key, bool required, char **ret, const char *what, errbuf *err) {
        const char *s = NULL;
        int r = get_str(o, key, required, OCI_STRING_MAX, &s, what, err);

        if (r < 0)
                return r;
        *ret = strdup(s ? s : "");
        return *ret ? 0 : errbuf_set(err, -ENOMEM, "out of memory");
}

static bool env_entry_valid(const char *s) {
        const char *eq = strchr(s, '=');

        if (!eq || eq == s)
                return false;
        for (const char *p = s; p < eq; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

/* A list of strings, or null/absent (*ret NULL). */
static int dup_list(const json_t *o, const char *key, bool env, char ***ret, size_t *ret_n, errbuf *err) {
        json_t *a = json_object_get(o, key), *v;
        size_t i;

        *ret = NULL;
        *ret_n = 0;
        if (!a || json_is_null(a))
                return 0;
        if (!json_is_array(a) || json_array_size(a) > OCI_LIST_MAX)
                return errbuf_set(err, -EBADMSG, "image config: config.%s is not an array of at most %u strings", key,
                                  OCI_LIST_MAX);
        *ret = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!*ret)
                return errbuf_set(err, -ENOMEM, "out of memory");
        json_array_foreach(a, i, v) {
                if (!json_is_string(v) || json_string_length(v) > OCI_STRING_MAX ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return errbuf_set(err, -EBADMSG, "image config: config.%s[%zu] is not a string (without NUL, at "
                                          "most %u bytes)", key, i, OCI_STRING_MAX);
                if (env && !env_entry_valid(json_string_value(v))) {
                        _cleanup_free_ char *e = shown(json_string_value(v));
                        return errbuf_set(err, -EBADMSG, "image config: config.Env[%zu] '%s' is not NAME=VALUE", i,
                                          e ? e : "?");
                }
                (*ret)[i] = strdup(json_string_value(v));
                if (!(*ret)[i])
                        return errbuf_set(err, -ENOMEM, "out of memory");
                (*ret_n)++;
        }
        return 0;
}

static int parse_rootfs(const json_t *root, struct oci_image_config *c, errbuf *err) {
        json_t *rootfs = json_object_get(root, "rootfs"), *ids = json_object_get(rootfs, "diff_ids"), *v;
        const char *type = NULL;
        uint8_t d[OCI_DIGEST_SIZE];
        size_t i;
        int r;

        if (!json_is_object(rootfs))
                return errbuf_set(err, -EBADMSG, "image config: rootfs missing or not an object");
        r = get_str(rootfs, "type", true, 64, &type, "image config: rootfs", err);
        if (r < 0)
                return r;
        if (strcmp(type, "layers") != 0)
                return errbuf_set(err, -EBADMSG, "image config: rootfs.type is not \"layers\"");
        if (!json_is_array(ids) || json_array_size(ids) > OCI_LAYERS_MAX)
                return errbuf_set(err, -EBADMSG, "image config: rootfs.diff_ids is not an array of at most %u digests",
                                  OCI_LAYERS_MAX);
        json_array_foreach(ids, i, v)
                if (!json_is_string(v) || oci_digest_parse(json_string_value(v), d) < 0)
                        return errbuf_set(err, -EBADMSG, "image config: rootfs.diff_ids[%zu] is not a sha256 digest", i);
        c->n_diff_ids = json_array_size(ids);
        return 0;
}

static int parse_config_doc(const json_t *root, struct oci_image_config *c, errbuf *err) {
        json_t *cfg = json_object_get(root, "config");
        int r;

        if (cfg && !json_is_null(cfg) && !json_is_object(cfg))
                return errbuf_set(err, -EBADMSG, "image config: config is not an object");
        r = dup_str(root, "os", true, &c->os, "image config", err);
        if (r >= 0)
                r = dup_str(root, "architecture", true, &c->architecture, "image config", err);
        if (r >= 0)
                r = dup_str(root, "variant", false, &c->variant, "image config", err);
        if (r >= 0)
                r = dup_list(cfg, "Entrypoint", false, &c->entrypoint, &c->n_entrypoint, err);
        if (r >= 0)
                r = dup_list(cfg, "Cmd", false, &c->cmd, &c->n_cmd, err);
        if (r >= 0)
                r = dup_list(cfg, "Env", true, &c->env, &c->n_env, err);
        if (r >= 0)
                r = dup_str(cfg, "User", false, &c->user, "image config: config", err);
        if (r >= 0)
                r = dup_str(cfg, "WorkingDir", false, &c->working_dir, "image config: config", err);
        if (r >= 0)
                r = parse_rootfs(root, c, err);
        return r;
}

int oci_config_parse(const uint8_t *p, size_t n, struct oci_image_config **ret, errbuf *err) {
        _cleanup_(oci_config_freep) struct oci_image_config *c = NULL;
        json_t *root = NULL;
        int r = load(p, n, OCI_CONFIG_MAX, "image config", &root, err);

        if (r < 0)
                return r;
        c = calloc(1, sizeof(*c));
        r = c ? parse_config_doc(root, c, err) : errbuf_set(err, -ENOMEM, "out of memory");
        json_decref(root);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

const char *oci_arch(void) {
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#elif defined(__i386__)
        return "386";
#elif defined(__s390x__)
        return "s390x";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        return "ppc64le";
#elif defined(__riscv) && __riscv_xlen == 64
        return "riscv64";
#else
        return "unknown";
#endif
}
