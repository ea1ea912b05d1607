/* SPDX-License-Identifier: MIT */
/* The instance configuration: sources, the `config` event and the strict schema (docs/config.md). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"

#define KEYPATH_MAX 160U
#define DEVICE_TAG_VALUE_MAX 255U
#define OPTIONS_MAX 1024U
#define ENV_NAME_MAX 128U
#define ESCAPE_MAX 96U

static const char *const restart_names[_WORKLOAD_RESTART_MAX] = {
        [WORKLOAD_RESTART_NO] = "no",
        [WORKLOAD_RESTART_ON_FAILURE] = "on-failure",
        [WORKLOAD_RESTART_ALWAYS] = "always",
};

static const char *const on_exit_names[_WORKLOAD_ON_EXIT_MAX] = {
        [WORKLOAD_ON_EXIT_POWEROFF] = "poweroff",
        [WORKLOAD_ON_EXIT_REBOOT] = "reboot",
};

static const char *const disk_format_names[_DISK_FORMAT_MAX] = {
        [DISK_FORMAT_IF_EMPTY] = "if-empty",
        [DISK_FORMAT_NEVER] = "never",
};

static const char *const model_mode_names[_MODEL_MODE_MAX] = {
        [MODEL_MODE_FILES] = "files",
        [MODEL_MODE_VERITY] = "verity",
};

const char *model_mode_name(enum model_mode m) {
        return m >= 0 && m < _MODEL_MODE_MAX ? model_mode_names[m] : NULL;
}

const char *disk_format_name(enum disk_format f) {
        return f >= 0 && f < _DISK_FORMAT_MAX ? disk_format_names[f] : NULL;
}

const char *workload_restart_name(enum workload_restart r) {
        return r >= 0 && r < _WORKLOAD_RESTART_MAX ? restart_names[r] : NULL;
}

const char *workload_on_exit_name(enum workload_on_exit e) {
        return e >= 0 && e < _WORKLOAD_ON_EXIT_MAX ? on_exit_names[e] : NULL;
}

/* ---- value checks shared by the sources and the schema ---- */

static bool printable(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

/* Absolute, without empty, "." or ".." components, without a trailing slash (except "/"). */
static bool path_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > CONFIG_PATH_MAX || s[0] != '/' || !printable(s) || !utf8_valid(s, n))
                return false;
        if (n == 1)
                return true;
        for (const char *p = s; *p;) {
                const char *c = p + 1, *e = strchrnul(c, '/');
                size_t k = (size_t) (e - c);
                if (k == 0 || (k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.'))
                        return false;
                p = e;
        }
        return true;
}

static bool path_below(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static bool name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* 1..64 of [A-Za-z0-9._-], starting with a letter or digit (so never "." or ".." as a file name). */
static bool name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > CONFIG_NAME_MAX || !name_char(s[0]))
                return false;
        for (; *s; s++)
                if (!name_char(*s) && !strchr("._-", *s))
                        return false;
        return true;
}

/* POSIX portable environment names: [A-Za-z_][A-Za-z0-9_]*. */
static bool env_name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > ENV_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
                return false;
        for (; *s; s++)
                if (!name_char(*s) && *s != '_')
                        return false;
        return true;
}

static bool device_valid(const char *s) {
        static const char *const tags[] = { "LABEL=", "PARTLABEL=", "UUID=", "SERIAL=" };

        if (strncmp(s, "/dev/", 5) == 0)
                return path_valid(s);
        for (size_t i = 0; i < ELEMENTSOF(tags); i++) {
                size_t k = strlen(tags[i]), n = strlen(s);
                if (strncmp(s, tags[i], k) != 0)
                        continue;
                if (n == k || n - k > DEVICE_TAG_VALUE_MAX || !printable(s + k))
                        return false;
                return i != 2 || strspn(s + k, "0123456789abcdefABCDEF-") == n - k;
        }
        return false;
}

static bool options_valid(const char *s) {
        if (strlen(s) > OPTIONS_MAX)
                return false;
        for (; *s; s++)
                if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f)
                        return false;
        return true;
}

/* ---- sources ---- */

/* Environment overrides of the source paths, for host tests; PID 1 takes its environment from the
 * kernel command line, so there they are ignored and the real paths are used. */
static const char *source_path(const char *env, const char *def) {
        const char *e = getpid() != 1 ? getenv(env) : NULL;
        return e && *e ? e : def;
}

static int read_source(const char *path, const char *source, uint8_t **ret, size_t *ret_len,
                       char **ret_source, errbuf *err) {
        _cleanup_free_ char *esc = escape_untrusted(path, strlen(path), 200);
        _cleanup_free_ char *name = strdup(source);
        int r;

        if (!esc || !name)
                return errbuf_set(err, -ENOMEM, "out of memory");
        r = read_file_limited(path, CONFIG_SIZE_MAX, ret, ret_len);
        if (r == -EFBIG)
                return errbuf_set(err, r, "configuration %s is larger than the limit of %u bytes", esc,
                                  CONFIG_SIZE_MAX);
        if (r < 0)
                return errbuf_set(err, r, "cannot read the configuration %s: %s", esc, strerror(-r));
        *ret_source = TAKE_PTR(name);
        return 0;
}

/* A file named by --config or cvminit.config=: must exist, no fallback. */
static int read_named(const char *path, const char *what, uint8_t **ret, size_t *ret_len,
                      char **ret_source, errbuf *err) {
        _cleanup_free_ char *esc = escape_untrusted(path, strlen(path), 200), *source = NULL;

        if (!esc)
                return errbuf_set(err, -ENOMEM, "out of memory");
        if (!path_valid(path))
                return errbuf_set(err, -EINVAL, "%s '%s' is not an absolute, normalized path", what, esc);
        if (asprintf(&source, "file:%s", path) < 0)
                return errbuf_set(err, -ENOMEM, "out of memory");
        return read_source(path, source, ret, ret_len, ret_source, err);
}

int config_read(const char *cmdline_config, const char *file_override, uint8_t **ret, size_t *ret_len,
                char **ret_source, errbuf *err) {
        int r;

        if (file_override)
                return read_named(file_override, "--config", ret, ret_len, ret_source, err);
        if (cmdline_config)
                return read_named(cmdline_config, "cvminit.config=", ret, ret_len, ret_source, err);
        r = read_source(source_path("CVMINIT_FW_CFG_CONFIG", CONFIG_FW_CFG_PATH), "fw_cfg:opt/cvminit/config",
                        ret, ret_len, ret_source, err);
        if (r != -ENOENT)
                return r;
        r = read_source(source_path("CVMINIT_INITRAMFS_CONFIG", CONFIG_INITRAMFS_PATH),
                        "initramfs:" CONFIG_INITRAMFS_PATH, ret, ret_len, ret_source, err);
        if (r != -ENOENT)
                return r;
        return errbuf_set(err, -ENOENT, "no configuration: no cvminit.config= on the kernel command line, "
                          "no fw_cfg opt/cvminit/config, no " CONFIG_INITRAMFS_PATH);
}

int config_event_content(const char *source, const uint8_t *p, size_t n, json_t **ret) {
        uint8_t d[HASH_MAX_SIZE];
        char hex[2 * HASH_MAX_SIZE + 1];
        json_t *o;
        int r;

        if (!source || !utf8_valid(source, strlen(source)))
                return -EINVAL;
        r = hash_buffer(HASH_SHA384, p, n, d);
        if (r < 0)
                return r;
        hex_encode(d, (size_t) r, hex);
        o = json_pack("{s:s, s:s}", "source", source, "sha384", hex);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

int config_kbs_event_content(const struct config_kbs *k, json_t **ret) {
        uint8_t d[HASH_MAX_SIZE];
        char hex[2 * HASH_MAX_SIZE + 1];
        json_t *o;
        int r;

        if (!k || !k->ca_der)
                return -EINVAL;
        r = hash_buffer(HASH_SHA256, k->ca_der, k->ca_der_len, d);
        if (r < 0)
                return r;
        hex_encode(d, (size_t) r, hex);
        o = json_pack("{s:s, s:s, s:s}", "url", k->url, "ca_sha256", hex, "resource", k->resource);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

int config_disk_event_content(const struct config_disk *d, json_t **ret) {
        json_t *o;

        if (!d)
                return -EINVAL;
        o = json_pack("{s:s, s:s, s:s, s:s}", "name", d->name, "cipher", d->cipher, "integrity", d->integrity,
                      "fs", d->fs);
        if (!o)
                return -ENOMEM;
        *ret = o;
        return 0;
}

/* ---- schema helpers: every error names the key path ---- */

static const char *kp(char out[static KEYPATH_MAX], const char *prefix, const char *key) {
        (void) snprintf(out, KEYPATH_MAX, "%s%s%s", prefix, *prefix ? "." : "", key);
        return out;
}

static const char *kpi(char out[static KEYPATH_MAX], const char *prefix, size_t i) {
        (void) snprintf(out, KEYPATH_MAX, "%s[%zu]", prefix, i);
        return out;
}

static const char *type_word(json_type t) {
        switch (t) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        default:
                return "a value of another type";
        }
}

static int want(const json_t *v, json_type t, const char *path, errbuf *err) {
        if (json_typeof(v) == t)
                return 0;
        return errbuf_set(err, -EINVAL, "%s: expected %s", *path ? path : "the document", type_word(t));
}

/* Members not in known (NULL-terminated) are errors. */
static int check_members(const json_t *o, const char *path, const char *const *known, errbuf *err) {
        const char *key;
        json_t *v;

        json_object_foreach((json_t *) o, key, v) {
                bool ok = false;
                for (size_t i = 0; known[i] && !ok; i++)
                        ok = strcmp(key, known[i]) == 0;
                if (!ok) {
                        char buf[KEYPATH_MAX];
                        _cleanup_free_ char *esc = escape_untrusted(key, strlen(key), ESCAPE_MAX);
                        return errbuf_set(err, -EINVAL, "%s: unknown key", kp(buf, path, esc ? esc : "?"));
                }
        }
        return 0;
}

/* A string member: *ret = a copy, the default's copy, or NULL if absent without default. */
static int get_string(const json_t *o, const char *prefix, const char *key, bool required, const char *def,
                      char **ret, errbuf *err) {
        json_t *v = json_object_get(o, key);
        char path[KEYPATH_MAX];
        int r;

        kp(path, prefix, key);
        if (!v && required)
                return errbuf_set(err, -EINVAL, "%s: required key missing", path);
        if (!v) {
                *ret = def ? strdup(def) : NULL;
                return def && !*ret ? errbuf_set(err, -ENOMEM, "out of memory") : 0;
        }
        r = want(v, JSON_STRING, path, err);
        if (r < 0)
                return r;
        /* jansson refuses \u0000 unless asked to; checked again because the rest relies on it. */
        if (strlen(json_string_value(v)) != json_string_length(v))
                return errbuf_set(err, -EINVAL, "%s: contains a NUL character", path);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : errbuf_set(err, -ENOMEM, "out of memory");
}

static int get_uint(const json_t *o, const char *prefix, const char *key, uint64_t max, uint64_t def,
                    uint64_t *ret, errbuf *err) {
        json_t *v = json_object_get(o, key);
        char path[KEYPATH_MAX];
        int r;

        kp(path, prefix, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        r = want(v, JSON_INTEGER, path, err);
        if (r < 0)
                return r;
        if (json_integer_value(v) < 0 || (uint64_t) json_integer_value(v) > max)
                return errbuf_set(err, -EINVAL, "%s: expected an integer from 0 to %" PRIu64, path, max);
        *ret = (uint64_t) json_integer_value(v);
        return 0;
}

/* One of names[0..n); the error lists them. */
static int get_enum(const json_t *o, const char *prefix, const char *key, const char *const *names, size_t n,
                    int def, int *ret, errbuf *err) {
        json_t *v = json_object_get(o, key);
        char path[KEYPATH_MAX], list[256] = "";

        kp(path, prefix, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        for (size_t i = 0; json_is_string(v) && i < n; i++)
                if (strcmp(json_string_value(v), names[i]) == 0) {
                        *ret = (int) i;
                        return 0;
                }
        for (size_t i = 0; i < n; i++) {
                size_t k = strlen(list);
                (void) snprintf(list + k, sizeof(list) - k, "%s%s", i ? ", " : "", names[i]);
        }
        return errbuf_set(err, -EINVAL, "%s: expected one of %s", path, list);
}

/* An optional array member with at most max elements; *ret NULL if absent. */
static int get_array(const json_t *o, const char *prefix, const char *key, size_t max, json_t **ret,
                     errbuf *err) {
        json_t *v = json_object_get(o, key);
        char path[KEYPATH_MAX];
        int r;

        kp(path, prefix, key);
        *ret = v;
        if (!v)
                return 0;
        r = want(v, JSON_ARRAY, path, err);
        if (r < 0)
                return r;
        if (json_array_size(v) > max)
                return errbuf_set(err, -EINVAL, "%s: %zu entries, more than the limit of %zu", path,
                                  json_array_size(v), max);
        return 0;
}

static int bad_value(const char *prefix, const char *key, const char *value, const char *what, errbuf *err) {
        char path[KEYPATH_MAX];
        _cleanup_free_ char *esc = escape_untrusted(value, strlen(value), ESCAPE_MAX);
        return errbuf_set(err, -EINVAL, "%s: '%s' is not %s", kp(path, prefix, key), esc ? esc : "?", what);
}

#define WHAT_PATH "an absolute path (no ., .. or empty components, at most 4095 bytes)"
#define WHAT_NAME "a name of 1 to 64 characters [A-Za-z0-9._-] starting with a letter or digit"

/* ---- the document ---- */

static int parse_modules(const json_t *root, struct config *c, errbuf *err) {
        json_t *a, *v;
        size_t i;
        int r;

        r = get_array(root, "", "modules", CONFIG_MODULES_MAX, &a, err);
        if (r < 0)
                return r;
        c->modules = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!c->modules)
                return errbuf_set(err, -ENOMEM, "out of memory");
        json_array_foreach(a, i, v) {
                char path[KEYPATH_MAX];
                kpi(path, "modules", i);
                r = want(v, JSON_STRING, path, err);
                if (r < 0)
                        return r;
                if (!name_valid(json_string_value(v)))
                        return bad_value("", path, json_string_value(v), WHAT_NAME, err);
                for (size_t k = 0; k < i; k++)
                        if (strcmp(c->modules[k], json_string_value(v)) == 0)
                                return errbuf_set(err, -EINVAL, "%s: duplicate of modules[%zu]", path, k);
                c->modules[i] = strdup(json_string_value(v));
                if (!c->modules[i])
                        return errbuf_set(err, -ENOMEM, "out of memory");
                c->n_modules++;
        }
        return 0;
}

static const char *const mount_keys[] = { "device", "path", "fs", "options", "timeout_ms", NULL };

static int parse_mount(const json_t *o, const char *path, struct config_mount *m, errbuf *err) {
        int r;

        r = want(o, JSON_OBJECT, path, err);
        if (r >= 0)
                r = check_members(o, path, mount_keys, err);
        if (r >= 0)
                r = get_string(o, path, "device", true, NULL, &m->device, err);
        if (r >= 0 && !device_valid(m->device))
                r = bad_value(path, "device", m->device, "LABEL=..., PARTLABEL=..., UUID=... or a /dev/ path", err);
        if (r >= 0)
                r = get_string(o, path, "path", true, NULL, &m->path, err);
        if (r >= 0 && !path_valid(m->path))
                r = bad_value(path, "path", m->path, WHAT_PATH, err);
        if (r >= 0 && (strcmp(m->path, "/") == 0 || path_below(m->path, "/proc") || path_below(m->path, "/sys") ||
                       path_below(m->path, "/dev") || path_below(m->path, "/run")))
                r = bad_value(path, "path", m->path, "allowed: /, /proc, /sys, /dev and /run belong to cvminit", err);
        if (r >= 0)
                r = get_string(o, path, "fs", true, NULL, &m->fs, err);
        if (r >= 0 && !name_valid(m->fs))
                r = bad_value(path, "fs", m->fs, "a filesystem type name", err);
        if (r >= 0)
                r = get_string(o, path, "options", false, "ro,nosuid,nodev", &m->options, err);
        if (r >= 0 && !options_valid(m->options))
                r = bad_value(path, "options", m->options,
                              "a mount option list (printable ASCII without spaces, at most 1024 bytes)", err);
        if (r >= 0)
                r = get_uint(o, path, "timeout_ms", CONFIG_TIMEOUT_MS_MAX, 10000, &m->timeout_ms, err);
        return r;
}

static int parse_mounts(const json_t *root, struct config *c, errbuf *err) {
        json_t *a, *v;
        size_t i;
        int r;

        r = get_array(root, "", "mounts", CONFIG_MOUNTS_MAX, &a, err);
        if (r < 0 || !a)
                return r;
        c->mounts = calloc(json_array_size(a) + 1, sizeof(struct config_mount));
        if (!c->mounts)
                return errbuf_set(err, -ENOMEM, "out of memory");
        json_array_foreach(a, i, v) {
                char path[KEYPATH_MAX];
                c->n_mounts++;
                r = parse_mount(v, kpi(path, "mounts", i), &c->mounts[i], err);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < i; k++)
                        if (strcmp(c->mounts[k].path, c->mounts[i].path) == 0)
                                return errbuf_set(err, -EINVAL, "%s.path: same mount point as mounts[%zu]", path, k);
        }
        return 0;
}

static const char *const model_keys[] = { "name", "mode", "path", "alg", "expect", "manifest", "device",
                                          "root_hash", "data_blocks", "hash_offset", "timeout_ms", NULL };
/* The keys of one mode only: in the other they are errors, not silently ignored. */
static const char *const model_files_keys[] = { "alg", "expect", "manifest", NULL };
static const char *const model_verity_keys[] = { "device", "root_hash", "data_blocks", "hash_offset", "timeout_ms",
                                                 NULL };

static int check_mode_keys(const json_t *o, const char *path, enum model_mode mode, errbuf *err) {
        const char *const *other = mode == MODEL_MODE_VERITY ? model_files_keys : model_verity_keys;

        for (size_t i = 0; other[i]; i++)
                if (json_object_get(o, other[i]))
                        return errbuf_set(err, -EINVAL, "%s.%s: only for mode %s (this model's mode is %s)", path,
                                          other[i], mode == MODEL_MODE_VERITY ? "files" : "verity",
                                          model_mode_name(mode));
        return 0;
}

/* "ALG:HEX" with ALG the model's algorithm. */
static int parse_expect(const json_t *o, const char *path, struct config_model *m, errbuf *err) {
        _cleanup_free_ char *s = NULL;
        const char *name = hash_alg_name(m->alg);
        size_t k = strlen(name), size = hash_alg_size(m->alg);
        char what[128];
        int r;

        r = get_string(o, path, "expect", true, NULL, &s, err);
        if (r < 0)
                return r;
        (void) snprintf(what, sizeof(what), "%s:<%zu hex digits>, the manifest digest (cvmtool manifest --digest)",
                        name, 2 * size);
        if (strncmp(s, name, k) != 0 || s[k] != ':' || strlen(s + k + 1) != 2 * size ||
            unhex(s + k + 1, 2 * size, m->expect, sizeof(m->expect)) != (int) size)
                return bad_value(path, "expect", s, what, err);
        return 0;
}

static int parse_model_files(const json_t *o, const char *path, struct config_model *m, errbuf *err) {
        static const char *const algs[] = { "sha256", "sha384", "sha512" };
        static const enum hash_alg alg_ids[] = { HASH_SHA256, HASH_SHA384, HASH_SHA512 };
        int r, a = 0;

        if (!path_valid(m->path) || strcmp(m->path, "/") == 0)
                return bad_value(path, "path", m->path, "an absolute path of a model directory other than /", err);
        r = get_enum(o, path, "alg", algs, ELEMENTSOF(algs), 0, &a, err);
        if (r < 0)
                return r;
        m->alg = alg_ids[a];
        r = parse_expect(o, path, m, err);
        if (r >= 0)
                r = get_string(o, path, "manifest", false, NULL, &m->manifest, err);
        if (r >= 0 && m->manifest && !path_valid(m->manifest))
                r = bad_value(path, "manifest", m->manifest, WHAT_PATH, err);
        if (r >= 0 && !m->manifest && asprintf(&m->manifest, "%s.manifest.json", m->path) < 0) {
                m->manifest = NULL;
                r = errbuf_set(err, -ENOMEM, "out of memory");
        }
        if (r >= 0 && strlen(m->manifest) > CONFIG_PATH_MAX)
                r = bad_value(path, "manifest", m->manifest, WHAT_PATH, err);
        return r;
}

/* The pinned values of a verity volume (docs/verity.md): root hash, data blocks, superblock offset. */
static int parse_verity_pins(const json_t *o, const char *path, struct config_model *m, errbuf *err) {
        _cleanup_free_ char *s = NULL;
        char buf[KEYPATH_MAX];
        int r;

        r = get_string(o, path, "root_hash", true, NULL, &s, err);
        if (r >= 0 && (strlen(s) != 2 * CONFIG_VERITY_ROOT_HASH_SIZE ||
                       unhex(s, strlen(s), m->root_hash, sizeof(m->root_hash)) != (int) CONFIG_VERITY_ROOT_HASH_SIZE))
                r = bad_value(path, "root_hash", s, "64 hex digits, the SHA-256 root hash veritysetup format "
                              "(image/mkverity) printed", err);
        if (r >= 0 && !json_object_get(o, "data_blocks"))
                r = errbuf_set(err, -EINVAL, "%s: required key missing", kp(buf, path, "data_blocks"));
        if (r >= 0)
                r = get_uint(o, path, "data_blocks", CONFIG_VERITY_DATA_BLOCKS_MAX, 0, &m->data_blocks, err);
        if (r >= 0 && m->data_blocks == 0)
                r = errbuf_set(err, -EINVAL, "%s: expected an integer from 1 to %" PRIu64, kp(buf, path, "data_blocks"),
                               CONFIG_VERITY_DATA_BLOCKS_MAX);
        if (r >= 0)
                r = get_uint(o, path, "hash_offset", CONFIG_VERITY_HASH_OFFSET_MAX,
                             m->data_blocks * CONFIG_VERITY_BLOCK_SIZE, &m->hash_offset, err);
        if (r >= 0 && (m->hash_offset % CONFIG_VERITY_BLOCK_SIZE != 0 ||
                       m->hash_offset < m->data_blocks * CONFIG_VERITY_BLOCK_SIZE))
                r = errbuf_set(err, -EINVAL, "%s: %" PRIu64 " is not a multiple of %u at or after the data blocks' "
                               "end (data_blocks * %u = %" PRIu64 ")", kp(buf, path, "hash_offset"), m->hash_offset,
                               CONFIG_VERITY_BLOCK_SIZE, CONFIG_VERITY_BLOCK_SIZE,
                               m->data_blocks * CONFIG_VERITY_BLOCK_SIZE);
        return r;
}

static int parse_model_verity(const json_t *o, const char *path, struct config_model *m, errbuf *err) {
        int r;

        /* A mount point: the same rules as mounts[].path. */
        if (!path_valid(m->path))
                return bad_value(path, "path", m->path, WHAT_PATH, err);
        if (strcmp(m->path, "/") == 0 || path_below(m->path, "/proc") || path_below(m->path, "/sys") ||
            path_below(m->path, "/dev") || path_below(m->path, "/run"))
                return bad_value(path, "path", m->path, "allowed: /, /proc, /sys, /dev and /run belong to cvminit", err);
        r = get_string(o, path, "device", true, NULL, &m->device, err);
        if (r >= 0 && !device_valid(m->device))
                r = bad_value(path, "device", m->device, "LABEL=..., PARTLABEL=..., UUID=..., SERIAL=... or a /dev/ path",
                              err);
        if (r >= 0)
                r = parse_verity_pins(o, path, m, err);
        if (r >= 0)
                r = get_uint(o, path, "timeout_ms", CONFIG_TIMEOUT_MS_MAX, 10000, &m->timeout_ms, err);
        return r;
}

static int parse_model(const json_t *o, const char *path, struct config_model *m, errbuf *err) {
        int r, mode = 0;

        r = want(o, JSON_OBJECT, path, err);
        if (r >= 0)
                r = check_members(o, path, model_keys, err);
        if (r >= 0)
                r = get_string(o, path, "name", true, NULL, &m->name, err);
        if (r >= 0 && !name_valid(m->name))
                r = bad_value(path, "name", m->name, WHAT_NAME, err);
        if (r >= 0)
                r = get_enum(o, path, "mode", model_mode_names, _MODEL_MODE_MAX, MODEL_MODE_FILES, &mode, err);
        m->mode = (enum model_mode) mode;
        if (r >= 0)
                r = check_mode_keys(o, path, m->mode, err);
        if (r >= 0)
                r = get_string(o, path, "path", true, NULL, &m->path, err);
        if (r < 0)
                return r;
        return m->mode == MODEL_MODE_VERITY ? parse_model_verity(o, path, m, err) : parse_model_files(o, path, m, err);
}

/* A verity model is mounted at its path: not where a mounts[] entry or another verity model is. */
static int check_model_mount_point(const struct config *c, size_t i, const char *path, errbuf *err) {
        const struct config_model *m = &c->models[i];

        if (m->mode != MODEL_MODE_VERITY)
                return 0;
        for (size_t k = 0; k < c->n_mounts; k++)
                if (strcmp(c->mounts[k].path, m->path) == 0)
                        return errbuf_set(err, -EINVAL, "%s.path: same mount point as mounts[%zu]", path, k);
        for (size_t k = 0; k < i; k++)
                if (c->models[k].mode == MODEL_MODE_VERITY && strcmp(c->models[k].path, m->path) == 0)
                        return errbuf_set(err, -EINVAL, "%s.path: same mount point as models[%zu]", path, k);
        return 0;
}

static int parse_models(const json_t *root, struct config *c, errbuf *err) {
        json_t *a, *v;
        size_t i;
        int r;

        r = get_array(root, "", "models", CONFIG_MODELS_MAX, &a, err);
        if (r < 0 || !a)
                return r;
        c->models = calloc(json_array_size(a) + 1, sizeof(struct config_model));
        if (!c->models)
                return errbuf_set(err, -ENOMEM, "out of memory");
        json_array_foreach(a, i, v) {
                char path[KEYPATH_MAX];
                c->n_models++;
                r = parse_model(v, kpi(path, "models", i), &c->models[i], err);
                if (r >= 0)
                        r = check_model_mount_point(c, i, path, err);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < i; k++)
                        if (strcmp(c->models[k].name, c->models[i].name) == 0)
                                return errbuf_set(err, -EINVAL, "%s.name: same name as models[%zu]", path, k);
        }
        return 0;
}

/* ---- OCI images (docs/config.md "images[]", agent/image.h) ---- */

static const char *const image_keys[] = { "name", "layout", "ref", "expect", "allow_devices", "allow_setuid",
                                          NULL };

static int get_bool(const json_t *o, const char *prefix, const char *key, bool def, bool *ret, errbuf *err) {
        json_t *v = json_object_get(o, key);

        if (v && !json_is_boolean(v))
                return errbuf_set(err, -EINVAL, "%s%s%s: expected true or false", prefix, *prefix ? "." : "", key);
        *ret = v ? json_is_true(v) : def;
        return 0;
}

/* The image-spec grammar of org.opencontainers.image.ref.name: components of alphanumerics joined
 * by one of -._:@+ (or "--"), separated by '/'. */
static bool image_ref_valid(const char *s) {
        size_t n = strlen(s);
        bool alnum = false;

        if (n == 0 || n > CONFIG_IMAGE_REF_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (name_char(s[i]))
                        alnum = true;
                else if (alnum && strchr("-._:@+/", s[i]))
                        alnum = false;
                else if (!(s[i] == '-' && i >= 2 && s[i - 1] == '-' && name_char(s[i - 2])))
                        return false;
        }
        return alnum;
}

/* "sha256:" and 64 lower-case hex digits, the form of an OCI digest. */
static int parse_image_expect(const json_t *o, const char *path, struct config_image *m, errbuf *err) {
        _cleanup_free_ char *s = NULL;
        int r = get_string(o, path, "expect", false, NULL, &s, err);

        if (r < 0 || !s)
                return r;
        if (strncmp(s, "sha256:", 7) != 0 || strlen(s + 7) != 64 || strspn(s + 7, "0123456789abcdef") != 64 ||
            unhex(s + 7, 64, m->expect, sizeof(m->expect)) != (int) CONFIG_IMAGE_DIGEST_SIZE)
                return bad_value(path, "expect", s, "sha256:<64 lower-case hex digits>, the image manifest's digest",
                                 err);
        m->has_expect = true;
        return 0;
}

static int parse_image(const json_t *o, const char *path, struct config_image *m, errbuf *err) {
        int r = want(o, JSON_OBJECT, path, err);

        if (r >= 0)
                r = check_members(o, path, image_keys, err);
        if (r >= 0)
                r = get_string(o, path, "name", true, NULL, &m->name, err);
        if (r >= 0 && !name_valid(m->name))
                r = bad_value(path, "name", m->name, WHAT_NAME, err);
        if (r >= 0)
                r = get_string(o, path, "layout", true, NULL, &m->layout, err);
        if (r >= 0 && (!path_valid(m->layout) || strcmp(m->layout, "/") == 0))
                r = bad_value(path, "layout", m->layout, "an absolute path of an OCI image layout directory other "
                              "than /", err);
        if (r >= 0)
                r = get_string(o, path, "ref", true, NULL, &m->ref, err);
        if (r >= 0 && !image_ref_valid(m->ref))
                r = bad_value(path, "ref", m->ref, "an OCI reference name (1 to 128 characters: components of "
                              "[A-Za-z0-9] joined by one of -._:@+ or --, separated by /)", err);
        if (r >= 0)
                r = parse_image_expect(o, path, m, err);
        if (r >= 0)
                r = get_bool(o, path, "allow_devices", false, &m->allow_devices, err);
        if (r >= 0)
                r = get_bool(o, path, "allow_setuid", false, &m->allow_setuid, err);
        return r;
}

static int parse_images(const json_t *root, struct config *c, errbuf *err) {
        json_t *a, *v;
        size_t i;
        int r;

        r = get_array(root, "", "images", CONFIG_IMAGES_MAX, &a, err);
        if (r < 0 || !a)
                return r;
        c->images = calloc(json_array_size(a) + 1, sizeof(struct config_image));
        if (!c->images)
                return errbuf_set(err, -ENOMEM, "out of memory");
        json_array_foreach(a, i, v) {
                char path[KEYPATH_MAX];
                c->n_images++;
                r = parse_image(v, kpi(path, "images", i), &c->images[i], err);
                if (r < 0)
                        return r;
                for (size_t k = 0; k < i; k++)
                        if (strcmp(c->images[k].name, c->images[i].name) == 0)
                                return errbuf_set(err, -EINVAL, "%s.name: same name as images[%zu]", path, k);
        }
        return 0;
}

/* workload.image names one of images[]; args only with an image, and not with exec. */
static int check_workload_image(const struct config *c, errbuf *err) {
        const struct workload *w = &c->workload;

        if (!w->image)
                return 0;
        for (size_t i = 0; i < c->n_images; i++)
                if (strcmp(c->images[i].name, w->image) == 0)
                        return 0;
        return bad_value("workload", "image", w->image, "the name of an entry of images[]", err);
}

/* Image workloads only: the arguments that replace the image's Cmd (its Entrypoint stays). */
static int parse_args(const json_t *o, struct workload *w, size_t *bytes, errbuf *err) {
        json_t *a = NULL, *v;
        size_t i;
        int r = get_array(o, "workload", "args", CONFIG_EXEC_MAX, &a, err);

        if (r < 0 || !a)
                return r;
        if (!w->image)
                return errbuf_set(err, -EINVAL, "workload.args: only for an image workload (workload.image); "
                                  "otherwise exec holds the whole command line");
        if (w->exec)
                return errbuf_set(err, -EINVAL, "workload.args: not together with workload.exec (exec replaces the "
                                  "image's Entrypoint and Cmd, args only its Cmd)");
        w->args = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!w->args)
                return errbuf_set(err, -ENOMEM, "out of memory");
        json_array_foreach(a, i, v) {
                char path[KEYPATH_MAX];
                kpi(path, "workload.args", i);
                r = want(v, JSON_STRING, path, err);
                if (r < 0)
                        return r;
                if (strlen(json_string_value(v)) != json_string_length(v))
                        return errbuf_set(err, -EINVAL, "%s: contains a NUL character", path);
                w->args[i] = strdup(json_string_value(v));
                if (!w->args[i])
                        return errbuf_set(err, -ENOMEM, "out of memory");
                w->n_args++;
                *bytes += json_string_length(v);
        }
        return 0;
}

static int parse_exec(const json_t *o, struct workload *w, size_t *bytes, errbuf *err) {
        json_t *a = json_object_get(o, "exec"), *v;
        size_t i;
        int r;

        if (!a)
                return w->image ? 0 : errbuf_set(err, -EINVAL, "workload.exec: required key missing");
        r = get_array(o, "workload", "exec", CONFIG_EXEC_MAX, &a, err);
        if (r < 0)
                return r;
        if (json_array_size(a) == 0)
                return errbuf_set(err, -EINVAL, "workload.exec: must name at least the program to run");
        w->exec = calloc(json_array_size(a) + 1, sizeof(char *));
        if (!w->exec)
                return errbuf_set(err, -ENOMEM, "out of memory");
        json_array_foreach(a, i, v) {
                char path[KEYPATH_MAX];
                kpi(path, "workload.exec", i);
                r = want(v, JSON_STRING, path, err);
                if (r < 0)
                        return r;
                if (strlen(json_string_value(v)) != json_string_length(v))
                        return errbuf_set(err, -EINVAL, "%s: contains a NUL character", path);
                if (i == 0 && !w->image && !path_valid(json_string_value(v)))
                        return bad_value("", path, json_string_value(v),
                                         "an absolute path (there is no shell and no PATH search)", err);
                if (i == 0 && w->image && json_string_length(v) == 0)
                        return errbuf_set(err, -EINVAL, "%s: must name the program to run", path);
                w->exec[i] = strdup(json_string_value(v));
                if (!w->exec[i])
                        return errbuf_set(err, -ENOMEM, "out of memory");
                w->n_exec++;
                *bytes += json_string_length(v);
        }
        return 0;
}

static int parse_env(const json_t *o, struct workload *w, size_t *bytes, errbuf *err) {
        json_t *e = json_object_get(o, "env"), *v;
        const char *key;
        int r;

        if (e && (r = want(e, JSON_OBJECT, "workload.env", err)) < 0)
                return r;
        if (json_object_size(e) > CONFIG_ENV_MAX)
                return errbuf_set(err, -EINVAL, "workload.env: %zu entries, more than the limit of %u",
                                  json_object_size(e), CONFIG_ENV_MAX);
        w->env = calloc(json_object_size(e) + 1, sizeof(char *));
        if (!w->env)
                return errbuf_set(err, -ENOMEM, "out of memory");
        json_object_foreach(e, key, v) {
                char path[KEYPATH_MAX];
                _cleanup_free_ char *esc = escape_untrusted(key, strlen(key), ESCAPE_MAX);
                kp(path, "workload.env", esc ? esc : "?");
                if (!env_name_valid(key))
                        return errbuf_set(err, -EINVAL, "%s: not a variable name (1 to %u characters "
                                          "[A-Za-z0-9_], not starting with a digit)", path, ENV_NAME_MAX);
                r = want(v, JSON_STRING, path, err);
                if (r < 0)
                        return r;
                if (strlen(json_string_value(v)) != json_string_length(v))
                        return errbuf_set(err, -EINVAL, "%s: contains a NUL character", path);
                if (asprintf(&w->env[w->n_env], "%s=%s", key, json_string_value(v)) < 0) {
                        w->env[w->n_env] = NULL;
                        return errbuf_set(err, -ENOMEM, "out of memory");
                }
                w->n_env++;
                *bytes += strlen(key) + json_string_length(v);
        }
        return 0;
}

static const char *const workload_keys[] = { "exec", "env", "user", "group", "cwd", "restart", "restart_max",
                                             "restart_delay_ms", "stop_timeout_ms", "on_exit", "image", "args",
                                             NULL };

static int parse_workload_policy(const json_t *o, struct workload *w, errbuf *err) {
        uint64_t u = 0;
        int r, e = 0;

        r = get_enum(o, "workload", "restart", restart_names, _WORKLOAD_RESTART_MAX, WORKLOAD_RESTART_NO, &e, err);
        w->restart = (enum workload_restart) e;
        if (r >= 0)
                r = get_uint(o, "workload", "restart_max", CONFIG_RESTART_MAX_MAX, 3, &u, err);
        w->restart_max = (unsigned) u;
        if (r >= 0)
                r = get_uint(o, "workload", "restart_delay_ms", CONFIG_RESTART_DELAY_MS_MAX, 1000,
                             &w->restart_delay_ms, err);
        if (r >= 0)
                r = get_uint(o, "workload", "stop_timeout_ms", CONFIG_TIMEOUT_MS_MAX, 10000, &w->stop_timeout_ms, err);
        if (r >= 0)
                r = get_enum(o, "workload", "on_exit", on_exit_names, _WORKLOAD_ON_EXIT_MAX,
                             WORKLOAD_ON_EXIT_POWEROFF, &e, err);
        w->on_exit = (enum workload_on_exit) e;
        return r;
}

static int parse_workload(const json_t *root, struct workload *w, errbuf *err) {
        json_t *o = json_object_get(root, "workload");
        size_t bytes = 0;
        uint64_t u = 0, g = 0;
        int r;

        if (!o)
                return errbuf_set(err, -EINVAL, "workload: required key missing");
        r = want(o, JSON_OBJECT, "workload", err);
        if (r >= 0)
                r = check_members(o, "workload", workload_keys, err);
        if (r >= 0)
                r = get_string(o, "workload", "image", false, NULL, &w->image, err);
        if (r >= 0 && w->image && !name_valid(w->image))
                r = bad_value("workload", "image", w->image, WHAT_NAME, err);
        if (r >= 0)
                r = parse_exec(o, w, &bytes, err);
        if (r >= 0)
                r = parse_args(o, w, &bytes, err);
        if (r >= 0)
                r = parse_env(o, w, &bytes, err);
        /* cvminit sets it for an image workload (the measured digest of the image it runs). */
        for (size_t i = 0; r >= 0 && w->image && i < w->n_env; i++)
                if (strncmp(w->env[i], "CVMINIT_IMAGE_DIGEST=", 21) == 0)
                        r = errbuf_set(err, -EINVAL, "workload.env.CVMINIT_IMAGE_DIGEST: set by cvminit for an image "
                                       "workload");
        w->user_set = json_object_get(o, "user") != NULL;
        w->group_set = json_object_get(o, "group") != NULL;
        w->cwd_set = json_object_get(o, "cwd") != NULL;
        if (r >= 0 && bytes > CONFIG_WORKLOAD_BYTES_MAX)
                r = errbuf_set(err, -EINVAL, "workload: exec and env hold %zu bytes, more than the limit of %u",
                               bytes, CONFIG_WORKLOAD_BYTES_MAX);
        if (r >= 0)
                r = get_uint(o, "workload", "user", CONFIG_ID_MAX, 0, &u, err);
        if (r >= 0)
                r = get_uint(o, "workload", "group", CONFIG_ID_MAX, 0, &g, err);
        w->user = (uid_t) u;
        w->group = (gid_t) g;
        if (r >= 0)
                r = get_string(o, "workload", "cwd", false, "/", &w->cwd, err);
        if (r >= 0 && !path_valid(w->cwd))
                r = bad_value("workload", "cwd", w->cwd, WHAT_PATH, err);
        if (r >= 0)
                r = parse_workload_policy(o, w, err);
        return r;
}

/* ---- the key broker (docs/config.md "kbs") ---- */

static const char *const kbs_keys[] = { "url", "ca", "resource", "timeout_ms", "retries", "retry_delay_ms",
                                        NULL };

/* https://HOST[:PORT][/PREFIX]: no userinfo, query, fragment, spaces or trailing slash, so that
 * "URL/kbs/v0/..." is the only request we can make and the event names exactly where it goes. */
static bool kbs_url_valid(const char *s) {
        const char *host = s + strlen("https://");
        size_t n = strlen(s);

        if (strncmp(s, "https://", 8) != 0 || n > CONFIG_KBS_URL_MAX || host[0] == 0 || host[0] == '/' ||
            s[n - 1] == '/')
                return false;
        for (const char *p = host; *p; p++)
                if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f || strchr("@?#\\\"<>^`{|}", *p))
                        return false;
        return true;
}

/* REPO/TYPE/TAG, each a name. */
static bool kbs_resource_valid(const char *s) {
        char part[CONFIG_NAME_MAX + 1];
        unsigned k = 0;

        for (const char *p = s;; k++) {
                size_t n = strcspn(p, "/");
                if (k >= 3 || n == 0 || n > CONFIG_NAME_MAX)
                        return false;
                memcpy(part, p, n);
                part[n] = 0;
                if (!name_valid(part))
                        return false;
                if (!p[n])
                        return k == 2;
                p += n + 1;
        }
}

/* Exactly one PEM certificate; its DER is what the key-provider event's ca_sha256 covers. */
static int kbs_parse_ca(struct config_kbs *k, errbuf *err) {
        BIO *bio = NULL;
        X509 *cert = NULL, *extra = NULL;
        unsigned char *der = NULL;
        int len = -1;

        if (strlen(k->ca) > CONFIG_KBS_CA_MAX)
                return errbuf_set(err, -EINVAL, "kbs.ca: more than %u bytes", CONFIG_KBS_CA_MAX);
        bio = BIO_new_mem_buf(k->ca, (int) strlen(k->ca));
        cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        extra = cert ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        if (cert && !extra)
                len = i2d_X509(cert, &der);
        X509_free(extra);
        X509_free(cert);
        BIO_free(bio);
        ERR_clear_error();
        if (len <= 0) {
                OPENSSL_free(der);
                return errbuf_set(err, -EINVAL, "kbs.ca: expected exactly one PEM certificate "
                                  "(-----BEGIN CERTIFICATE----- ...), the broker's CA");
        }
        k->ca_der = malloc((size_t) len);
        if (k->ca_der) {
                memcpy(k->ca_der, der, (size_t) len);
                k->ca_der_len = (size_t) len;
        }
        OPENSSL_free(der);
        return k->ca_der ? 0 : errbuf_set(err, -ENOMEM, "out of memory");
}

static int parse_kbs_fields(const json_t *o, struct config_kbs *k, errbuf *err) {
        int r;

        r = get_string(o, "kbs", "url", true, NULL, &k->url, err);
        if (r >= 0 && !kbs_url_valid(k->url))
                r = bad_value("kbs", "url", k->url, "an https:// URL (https://HOST[:PORT][/PREFIX], no trailing "
                              "slash, user, query or fragment, at most 1024 bytes)", err);
        if (r >= 0)
                r = get_string(o, "kbs", "ca", true, NULL, &k->ca, err);
        if (r >= 0)
                r = kbs_parse_ca(k, err);
        if (r >= 0)
                r = get_string(o, "kbs", "resource", true, NULL, &k->resource, err);
        if (r >= 0 && !kbs_resource_valid(k->resource))
                r = bad_value("kbs", "resource", k->resource, "REPO/TYPE/TAG, three names of 1 to 64 characters "
                              "[A-Za-z0-9._-] starting with a letter or digit", err);
        if (r >= 0)
                r = get_uint(o, "kbs", "timeout_ms", CONFIG_TIMEOUT_MS_MAX, 10000, &k->timeout_ms, err);
        if (r >= 0 && k->timeout_ms == 0)
                r = errbuf_set(err, -EINVAL, "kbs.timeout_ms: expected an integer from 1 to %u", CONFIG_TIMEOUT_MS_MAX);
        if (r >= 0)
                r = get_uint(o, "kbs", "retries", CONFIG_KBS_RETRIES_MAX, 5, &k->retries, err);
        if (r >= 0)
                r = get_uint(o, "kbs", "retry_delay_ms", CONFIG_KBS_RETRY_DELAY_MS_MAX, 500, &k->retry_delay_ms, err);
        return r;
}

static int parse_kbs(const json_t *root, struct config *c, errbuf *err) {
        json_t *o = json_object_get(root, "kbs");
        int r;

        if (!o)
                return 0;
        r = want(o, JSON_OBJECT, "kbs", err);
        if (r >= 0)
                r = check_members(o, "kbs", kbs_keys, err);
        if (r < 0)
                return r;
        c->kbs = calloc(1, sizeof(*c->kbs));
        if (!c->kbs)
                return errbuf_set(err, -ENOMEM, "out of memory");
        return parse_kbs_fields(o, c->kbs, err);
}

/* ---- the data disk (docs/config.md, docs/disk.md) ---- */

static const char *const disk_keys[] = { "name", "device", "path", "format", "cipher", "integrity", "fs",
                                         "options", "timeout_ms", NULL };

static int disk_enum(const json_t *o, const char *key, const char *const *names, size_t n, char **ret,
                     errbuf *err) {
        int i = 0, r = get_enum(o, "disk", key, names, n, 0, &i, err);

        if (r < 0)
                return r;
        *ret = strdup(names[i]);
        return *ret ? 0 : errbuf_set(err, -ENOMEM, "out of memory");
}

/* The cipher and integrity pairs docs/disk.md describes: AEAD modes carry their own tags. */
static int parse_disk_crypto(const json_t *o, struct config_disk *d, errbuf *err) {
        static const char *const ciphers[] = { "aes-xts-plain64", "aes-gcm-random" };
        static const char *const integrities[] = { "hmac-sha256", "aead", "none" };
        static const char *const fss[] = { "ext4" };
        int r;

        r = disk_enum(o, "cipher", ciphers, ELEMENTSOF(ciphers), &d->cipher, err);
        if (r >= 0 && !json_object_get(o, "integrity") && strcmp(d->cipher, "aes-gcm-random") == 0)
                d->integrity = strdup("aead");
        else if (r >= 0)
                r = disk_enum(o, "integrity", integrities, ELEMENTSOF(integrities), &d->integrity, err);
        if (r >= 0 && !d->integrity)
                r = errbuf_set(err, -ENOMEM, "out of memory");
        if (r >= 0 && (strcmp(d->integrity, "aead") == 0) != (strcmp(d->cipher, "aes-gcm-random") == 0))
                r = errbuf_set(err, -EINVAL, "disk.integrity: '%s' does not go with cipher '%s' (aead goes with "
                               "aes-gcm-random, hmac-sha256 or none with aes-xts-plain64)", d->integrity, d->cipher);
        if (r >= 0)
                r = disk_enum(o, "fs", fss, ELEMENTSOF(fss), &d->fs, err);
        return r;
}

static int parse_disk_path(const json_t *o, const struct config *c, struct config_disk *d, errbuf *err) {
        int r = get_string(o, "disk", "path", true, NULL, &d->path, err);

        if (r >= 0 && !path_valid(d->path))
                r = bad_value("disk", "path", d->path, WHAT_PATH, err);
        if (r >= 0 && (strcmp(d->path, "/") == 0 || path_below(d->path, "/proc") || path_below(d->path, "/sys") ||
                       path_below(d->path, "/dev") || path_below(d->path, "/run")))
                r = bad_value("disk", "path", d->path, "allowed: /, /proc, /sys, /dev and /run belong to cvminit", err);
        for (size_t i = 0; r >= 0 && i < c->n_mounts; i++)
                if (strcmp(c->mounts[i].path, d->path) == 0)
                        r = errbuf_set(err, -EINVAL, "disk.path: same mount point as mounts[%zu]", i);
        /* Verity models are mounted before the disk opens: the disk must not hide them. */
        for (size_t i = 0; r >= 0 && i < c->n_models; i++)
                if (c->models[i].mode == MODEL_MODE_VERITY && path_below(c->models[i].path, d->path))
                        r = errbuf_set(err, -EINVAL, "disk.path: models[%zu] (verity) is mounted at or below it before "
                                       "the disk opens, and would be hidden", i);
        return r;
}

static int parse_disk(const json_t *root, struct config *c, errbuf *err) {
        json_t *o = json_object_get(root, "disk");
        struct config_disk *d;
        int r, f = 0;

        if (!o)
                return 0;
        r = want(o, JSON_OBJECT, "disk", err);
        if (r >= 0)
                r = check_members(o, "disk", disk_keys, err);
        if (r < 0)
                return r;
        d = c->disk = calloc(1, sizeof(*d));
        if (!d)
                return errbuf_set(err, -ENOMEM, "out of memory");
        r = get_string(o, "disk", "name", true, NULL, &d->name, err);
        if (r >= 0 && !name_valid(d->name))
                r = bad_value("disk", "name", d->name, WHAT_NAME, err);
        if (r >= 0)
                r = get_string(o, "disk", "device", true, NULL, &d->device, err);
        if (r >= 0 && !device_valid(d->device))
                r = bad_value("disk", "device", d->device,
                              "LABEL=..., PARTLABEL=..., UUID=..., SERIAL=... or a /dev/ path", err);
        if (r >= 0)
                r = parse_disk_path(o, c, d, err);
        if (r >= 0)
                r = get_enum(o, "disk", "format", disk_format_names, _DISK_FORMAT_MAX, DISK_FORMAT_IF_EMPTY, &f, err);
        d->format = (enum disk_format) f;
        if (r >= 0)
                r = parse_disk_crypto(o, d, err);
        if (r >= 0)
                r = get_string(o, "disk", "options", false, "nosuid,nodev", &d->options, err);
        if (r >= 0 && !options_valid(d->options))
                r = bad_value("disk", "options", d->options,
                              "a mount option list (printable ASCII without spaces, at most 1024 bytes)", err);
        if (r >= 0)
                r = get_uint(o, "disk", "timeout_ms", CONFIG_TIMEOUT_MS_MAX, 10000, &d->timeout_ms, err);
        return r;
}

/* ---- the workload attestation API (docs/config.md "api", docs/api.md) ---- */

static const char *const api_keys[] = { "enabled", "socket_user", "socket_group", "socket_mode", NULL };

/* "0660": 3 or 4 octal digits, permission bits only (no setuid, setgid or sticky bit). */
static int parse_api_mode(const json_t *o, struct config_api *a, errbuf *err) {
        _cleanup_free_ char *s = NULL;
        int r = get_string(o, "api", "socket_mode", false, "0600", &s, err);
        size_t n;

        if (r < 0)
                return r;
        n = strlen(s);
        if ((n != 3 && n != 4) || strspn(s, "01234567") != n || strtoul(s, NULL, 8) > 0777)
                return bad_value("api", "socket_mode", s, "an octal mode of 3 or 4 digits from 000 to 0777, "
                                 "e.g. \"0660\"", err);
        a->socket_mode = (mode_t) strtoul(s, NULL, 8);
        return 0;
}

/* Defaults: on, owned by the workload's user and group (it is the API's client), mode 0600. */
static int parse_api(const json_t *root, struct config *c, errbuf *err) {
        json_t *o = json_object_get(root, "api"), *en;
        uint64_t u = c->workload.user, g = c->workload.group;
        int r;

        c->api = (struct config_api) { .enabled = true, .socket_user = c->workload.user,
                                       .socket_group = c->workload.group, .socket_mode = 0600 };
        if (!o)
                return 0;
        r = want(o, JSON_OBJECT, "api", err);
        if (r >= 0)
                r = check_members(o, "api", api_keys, err);
        en = r >= 0 ? json_object_get(o, "enabled") : NULL;
        if (en && !json_is_boolean(en))
                r = errbuf_set(err, -EINVAL, "api.enabled: expected true or false");
        c->api.enabled = !en || json_is_true(en);
        if (r >= 0)
                r = get_uint(o, "api", "socket_user", CONFIG_ID_MAX, u, &u, err);
        if (r >= 0)
                r = get_uint(o, "api", "socket_group", CONFIG_ID_MAX, g, &g, err);
        c->api.socket_user = (uid_t) u;
        c->api.socket_group = (gid_t) g;
        if (r >= 0)
                r = parse_api_mode(o, &c->api, err);
        return r;
}

/* Device-mapper names are one namespace: the disk is /dev/mapper/NAME, a verity model
 * /dev/mapper/model-NAME (agent/verity.h), so a disk named "model-x" would take verity model x's. */
static int check_mapper_names(const struct config *c, errbuf *err) {
        const size_t k = strlen(MODEL_VERITY_MAPPER_PREFIX);

        if (!c->disk || strncmp(c->disk->name, MODEL_VERITY_MAPPER_PREFIX, k) != 0)
                return 0;
        for (size_t i = 0; i < c->n_models; i++)
                if (c->models[i].mode == MODEL_MODE_VERITY && strcmp(c->disk->name + k, c->models[i].name) == 0)
                        return errbuf_set(err, -EINVAL, "disk.name: \"%s\" is the device-mapper name of verity "
                                          "model \"%s\" (/dev/mapper/model-NAME): choose another", c->disk->name,
                                          c->models[i].name);
        return 0;
}

static const char *const top_keys[] = { "version", "modules", "mounts", "models", "workload", "disk", "kbs",
                                         "api", "images", NULL };

static int parse_document(const json_t *root, struct config *c, errbuf *err) {
        uint64_t version = 0;
        int r;

        r = want(root, JSON_OBJECT, "", err);
        /* DESIGN §2 names a measure.register key; the register must be known before the config is
         * measured, so it comes from the kernel command line instead. */
        if (r >= 0 && json_object_get(root, "measure"))
                r = errbuf_set(err, -EINVAL, "measure: unknown key (the register is chosen on the kernel command "
                               "line: cvminit.register=, cvminit.pcr=; see docs/config.md)");
        if (r >= 0)
                r = check_members(root, "", top_keys, err);
        if (r >= 0 && !json_object_get(root, "version"))
                r = errbuf_set(err, -EINVAL, "version: required key missing");
        if (r >= 0)
                r = get_uint(root, "", "version", UINT32_MAX, 0, &version, err);
        if (r >= 0 && version != CONFIG_VERSION)
                r = errbuf_set(err, -EINVAL, "version: %" PRIu64 " is not supported (this cvminit reads version %d)",
                               version, CONFIG_VERSION);
        c->version = (unsigned) version;
        if (r >= 0)
                r = parse_modules(root, c, err);
        if (r >= 0)
                r = parse_mounts(root, c, err);
        if (r >= 0)
                r = parse_models(root, c, err);
        if (r >= 0)
                r = parse_images(root, c, err);
        if (r >= 0)
                r = parse_workload(root, &c->workload, err);
        if (r >= 0)
                r = check_workload_image(c, err);
        if (r >= 0)
                r = parse_kbs(root, c, err);
        if (r >= 0)
                r = parse_disk(root, c, err);
        if (r >= 0)
                r = check_mapper_names(c, err);
        if (r >= 0)
                r = parse_api(root, c, err);
        return r;
}

int config_parse(const uint8_t *p, size_t n, struct config **ret, errbuf *err) {
        _cleanup_(config_freep) struct config *c = NULL;
        json_error_t e;
        json_t *root;
        int r;

        if (n > CONFIG_SIZE_MAX)
                return errbuf_set(err, -EFBIG, "the configuration is %zu bytes, more than the limit of %u", n,
                                  CONFIG_SIZE_MAX);
        root = json_loadb((const char *) p, n, JSON_REJECT_DUPLICATES, &e);
        if (!root) {
                _cleanup_free_ char *esc = escape_untrusted(e.text, strlen(e.text), 200);
                return errbuf_set(err, -EINVAL, "not valid JSON: line %d, column %d: %s", e.line, e.column,
                                  esc ? esc : "syntax error");
        }
        c = calloc(1, sizeof(*c));
        r = c ? parse_document(root, c, err) : errbuf_set(err, -ENOMEM, "out of memory");
        json_decref(root);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

static void config_disk_free(struct config_disk *d) {
        if (!d)
                return;
        free(d->name);
        free(d->device);
        free(d->path);
        free(d->cipher);
        free(d->integrity);
        free(d->fs);
        free(d->options);
        free(d);
}

static void config_kbs_free(struct config_kbs *k) {
        if (!k)
                return;
        free(k->url);
        free(k->ca);
        free(k->ca_der);
        free(k->resource);
        free(k);
}

void config_free(struct config *c) {
        if (!c)
                return;
        config_kbs_free(c->kbs);
        strv_free(c->modules);
        for (size_t i = 0; i < c->n_mounts; i++) {
                free(c->mounts[i].device);
                free(c->mounts[i].path);
                free(c->mounts[i].fs);
                free(c->mounts[i].options);
        }
        free(c->mounts);
        for (size_t i = 0; i < c->n_models; i++) {
                free(c->models[i].name);
                free(c->models[i].path);
                free(c->models[i].manifest);
                free(c->models[i].device);
        }
        free(c->models);
        for (size_t i = 0; i < c->n_images; i++) {
                free(c->images[i].name);
                free(c->images[i].layout);
                free(c->images[i].ref);
        }
        free(c->images);
        strv_free(c->workload.exec);
        strv_free(c->workload.env);
        free(c->workload.cwd);
        free(c->workload.image);
        strv_free(c->workload.args);
        config_disk_free(c->disk);
        free(c);
}
