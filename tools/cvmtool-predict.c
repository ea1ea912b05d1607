/* SPDX-License-Identifier: MIT */
/* cvmtool predict: the events and register values a boot with a given config will produce
 * (DESIGN §1, §3), computed offline with the agent's own event functions, for the broker's policy
 * (docs/broker.md). The boot's order:
 *   config, key-provider (kbs), model, image (each not on the data disk)   <- the broker sees these
 *   disk, model, image (each below disk.path), workload, boot-done
 * Images come from their layouts (tools/cvmtool-predict-image.h; --image-layout NAME=DIR).
 * A verity-mode model's event comes from its pinned root_hash and data_blocks (the boot fails unless
 * the volume has exactly these: agent/verity.h), and it is always measured before the attest step.
 * A model's directory is the config's path unless --model-dir NAME=DIR says where a copy is. The
 * register is a TPM PCR (every bank asked for) or, with --register tdx, RTMR3 (sha384 only: the
 * RTMR has one bank), which starts at zero in a TD as a PCR does. */
#include <getopt.h>
#include <string.h>

#include <openssl/pem.h>

#include "config.h"
#include "cvmtool-predict-image.h"
#include "cvmtool.h"
#include "event.h"
#include "log.h"
#include "manifest.h"
#include "models.h"
#include "policy.h"
#include "workload.h"

#define PREDICT_EVENTS_MAX (CONFIG_MODELS_MAX + CONFIG_IMAGES_MAX + 8U)
#define SOURCE_DEFAULT "fw_cfg:opt/cvminit/config"

struct predicted_event {
        const char *operation;
        json_t *content;
};

struct prediction {
        struct predicted_event events[PREDICT_EVENTS_MAX];
        size_t n;
        size_t n_attest; /* events the broker sees (those before the attest step) */
        bool attest;     /* the config has a key broker */
};

struct predict_args {
        const char *config, *source, *ak, *root;
        bool tdx, pcr_given;
        unsigned pcr;
        unsigned n_banks;
        enum hash_alg banks[_HASH_ALG_MAX];
        size_t n_dirs;
        struct predict_images *images; /* --image-layout, and the layouts as read */
        char *dir_names[CONFIG_MODELS_MAX], *dirs[CONFIG_MODELS_MAX];
        enum { OUT_TEXT, OUT_JSON, OUT_POLICY } out;
};

static int help(void) {
        printf("Usage: cvmtool predict CONFIG [--source SOURCE] [--model-dir NAME=DIR ...]\n"
               "                      [--register tpm [--pcr N] [--bank ALG ...] | --register tdx]\n"
               "                      [--json | --policy [--ak SHA256 | --root PEM]]\n\n"
               "Prints the events a boot with CONFIG will measure, in order, and the register values they\n"
               "produce: at the attest step (what the key broker sees) and after boot-done.\n\n"
               "  --source SOURCE     where cvminit reads the config from, as its config event records it\n"
               "                      (default \"" SOURCE_DEFAULT "\"; \"file:PATH\" for --config PATH,\n"
               "                      \"initramfs:/etc/cvminit/config.json\")\n"
               "  --model-dir NAME=DIR  hash model NAME from DIR instead of the config's path\n"
               "  --image-layout NAME=DIR  read image NAME's OCI layout from DIR instead of the config's path\n"
               "  --register tpm|tdx  the TEE: a TPM PCR (default), or TDX RTMR3 (sha384)\n"
               "  --pcr N             the PCR cvminit measures into (default 14)\n"
               "  --bank ALG          a bank to compute (repeatable; default sha256 and sha384)\n"
               "  --json              print everything as one JSON object\n"
               "  --policy            print a policy (docs/broker.md) releasing the config's kbs.resource to\n"
               "                      exactly this boot: its events up to the attest step and the register\n"
               "                      value they give (pcrN sha256, or rtmr3 sha384)\n"
               "  --ak SHA256         with --policy, TPM: the trusted AK (SHA-256 of its DER SubjectPublicKeyInfo)\n"
               "  --root PEM          with --policy, TDX: a file with the trusted root certificate of the quote's\n"
               "                      PCK chain (Intel's SGX root CA; cvm-tdxsim's KEYS/root.pem in tests)\n\n"
               "A model whose directory, or an image whose manifest, does not match the digest pinned in the\n"
               "config makes the boot fail:\n"
               "that is reported and the exit code is 1. Models below disk.path are measured after the disk\n"
               "opens, after the attest step. A verity-mode model's event holds the root_hash and data_blocks\n"
               "pinned in the config (docs/verity.md): nothing is read for it, and it is measured before the\n"
               "attest step wherever it is mounted. Exit codes: 0 ok, 1 a model differs from its pinned digest,\n"
               "2 usage, 3 unreadable or invalid config or model directory.\n");
        return EXIT_OK;
}

static int parse_dir(const char *arg, struct predict_args *a) {
        const char *eq = strchr(arg, '=');

        if (!eq || eq == arg || !eq[1])
                return usage_error("predict", "--model-dir: expected NAME=DIR");
        if (a->n_dirs >= CONFIG_MODELS_MAX)
                return usage_error("predict", "--model-dir: at most %u", CONFIG_MODELS_MAX);
        a->dir_names[a->n_dirs] = strndup(arg, (size_t) (eq - arg));
        a->dirs[a->n_dirs] = strdup(eq + 1);
        if (!a->dir_names[a->n_dirs] || !a->dirs[a->n_dirs])
                return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
        a->n_dirs++;
        return -1;
}

static int parse_bank(const char *arg, struct predict_args *a) {
        int alg = hash_alg_from_name(arg);

        if (alg < 0 || alg == HASH_SM3_256)
                return usage_error("predict", "--bank: sha1, sha256, sha384 or sha512");
        for (unsigned i = 0; i < a->n_banks; i++)
                if (a->banks[i] == (enum hash_alg) alg)
                        return -1;
        a->banks[a->n_banks++] = alg;
        return -1;
}

/* The options that belong to one TEE; the default banks. */
static int check_args(struct predict_args *a) {
        if (a->tdx && (a->pcr_given || a->ak))
                return usage_error("predict", "--pcr and --ak are for --register tpm");
        if (!a->tdx && a->root)
                return usage_error("predict", "--root is for --register tdx");
        if (a->tdx && (a->n_banks > 1 || (a->n_banks == 1 && a->banks[0] != HASH_SHA384)))
                return usage_error("predict", "--register tdx: RTMR3 has the sha384 bank only");
        if (a->tdx)
                a->banks[0] = HASH_SHA384, a->n_banks = 1;
        if (a->n_banks == 0) {
                a->banks[a->n_banks++] = HASH_SHA256;
                a->banks[a->n_banks++] = HASH_SHA384;
        }
        return -1;
}

static int parse_args(int argc, char **argv, struct predict_args *a) {
        enum { O_SOURCE = 256, O_DIR, O_PCR, O_BANK, O_JSON, O_POLICY, O_AK, O_REGISTER, O_ROOT, O_IMAGE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },           { "source", required_argument, NULL, O_SOURCE },
                { "model-dir", required_argument, NULL, O_DIR }, { "pcr", required_argument, NULL, O_PCR },
                { "bank", required_argument, NULL, O_BANK },  { "json", no_argument, NULL, O_JSON },
                { "policy", no_argument, NULL, O_POLICY },    { "ak", required_argument, NULL, O_AK },
                { "register", required_argument, NULL, O_REGISTER }, { "root", required_argument, NULL, O_ROOT },
                { "image-layout", required_argument, NULL, O_IMAGE },
                {},
        };
        int c, r = -1;

        optind = 0;
        while (r < 0 && (c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h': return help();
                case O_SOURCE: a->source = optarg; break;
                case O_DIR: r = parse_dir(optarg, a); break;
                case O_IMAGE: r = predict_image_layout_arg(&a->images, optarg); break;
                case O_BANK: r = parse_bank(optarg, a); break;
                case O_JSON: a->out = OUT_JSON; break;
                case O_POLICY: a->out = OUT_POLICY; break;
                case O_AK:
                        if (strlen(optarg) != 64 || strspn(optarg, "0123456789abcdef") != 64)
                                return usage_error("predict", "--ak: 64 lower-case hex digits");
                        a->ak = optarg;
                        break;
                case O_PCR:
                        if (safe_atou(optarg, &a->pcr) < 0 || a->pcr > 23)
                                return usage_error("predict", "--pcr: 0..23");
                        a->pcr_given = true;
                        break;
                case O_REGISTER:
                        if (strcmp(optarg, "tpm") != 0 && strcmp(optarg, "tdx") != 0)
                                return usage_error("predict", "--register: tpm or tdx");
                        a->tdx = strcmp(optarg, "tdx") == 0;
                        break;
                case O_ROOT: a->root = optarg; break;
                default:
                        return usage_error("predict", "unknown option");
                }
        if (r >= 0)
                return r;
        if (argc - optind != 1)
                return usage_error("predict", "expected one CONFIG file");
        a->config = argv[optind];
        return check_args(a);
}

static void prediction_done(struct prediction *p) {
        for (size_t i = 0; i < p->n; i++)
                json_decref(p->events[i].content);
}

/* Takes content over. */
static int add(struct prediction *p, const char *operation, json_t *content) {
        if (!content)
                return -ENOMEM;
        if (p->n >= PREDICT_EVENTS_MAX) {
                json_decref(content);
                return -E2BIG;
        }
        p->events[p->n++] = (struct predicted_event) { .operation = operation, .content = content };
        return 0;
}

static bool path_below(const char *path, const char *dir) {
        size_t n = strlen(dir);
        return strncmp(path, dir, n) == 0 && (path[n] == 0 || path[n] == '/' || strcmp(dir, "/") == 0);
}

/* After the disk opens: models below its mount point. Verity volumes are devices of their own,
 * opened in the pre-key measure step wherever they are mounted. */
static bool post_key(const struct config *c, const struct config_model *m) {
        return m->mode == MODEL_MODE_FILES && c->disk && path_below(m->path, c->disk->path);
}

static const char *model_dir(const struct predict_args *a, const struct config_model *m) {
        for (size_t i = 0; i < a->n_dirs; i++)
                if (strcmp(a->dir_names[i], m->name) == 0)
                        return a->dirs[i];
        return m->path;
}

/* A verity volume's event holds the pinned root hash and block count: the boot fails unless the
 * volume has exactly these (agent/verity.h), so the config alone predicts it. */
static int add_verity_model(struct prediction *p, const struct config_model *m) {
        json_t *content = NULL;
        int r;

        r = models_verity_event_content(m->name, m->root_hash, m->data_blocks, &content);
        if (r >= 0)
                r = add(p, "model", content);
        if (r < 0)
                return log_error_errno(r, "model %s: cannot form its event: %m", m->name), exit_code_from_errno(r);
        return EXIT_OK;
}

/* The model event for m, hashing its directory; EXIT_MISMATCH if it differs from the pinned digest. */
static int add_files_model(struct prediction *p, const struct predict_args *a, const struct config_model *m) {
        const char *dir = model_dir(a, m);
        _cleanup_free_ char *esc = escape_untrusted(dir, strlen(dir), 200);
        struct hash_options o = { .alg = m->alg };
        struct manifest_info info = {};
        json_t *content = NULL;
        char got[2 * HASH_MAX_SIZE + 1], want[2 * HASH_MAX_SIZE + 1];
        errbuf err = {};
        int r;

        r = manifest_build(dir, &o, NULL, &info, &err);
        if (r < 0)
                return log_error_errno(r, "model %s: cannot hash %s: %s", m->name, esc ?: "?",
                                       err.msg[0] ? err.msg : strerror(-r)), exit_code_from_errno(r);
        r = models_event_content(m, &info, &content);
        if (r >= 0)
                r = add(p, "model", content);
        if (r < 0)
                return log_error_errno(r, "model %s: cannot form its event: %m", m->name), exit_code_from_errno(r);
        if (memcmp(info.digest, m->expect, hash_alg_size(m->alg)) != 0) {
                hex_encode(info.digest, hash_alg_size(m->alg), got);
                hex_encode(m->expect, hash_alg_size(m->alg), want);
                log_error("model %s: %s has manifest digest %s, the config pins %s: this boot would fail.",
                          m->name, esc ?: "?", got, want);
                return EXIT_MISMATCH;
        }
        return EXIT_OK;
}

static int add_model(struct prediction *p, const struct predict_args *a, const struct config_model *m) {
        return m->mode == MODEL_MODE_VERITY ? add_verity_model(p, m) : add_files_model(p, a, m);
}

static int add_models(struct prediction *p, const struct predict_args *a, const struct config *c, bool after_key) {
        int worst = EXIT_OK;

        for (size_t i = 0; i < c->n_models; i++) {
                if (post_key(c, &c->models[i]) != after_key)
                        continue;
                int r = add_model(p, a, &c->models[i]);
                if (r == EXIT_MISMATCH)
                        worst = r;
                else if (r != EXIT_OK)
                        return r;
        }
        return worst;
}

static int add_cb(void *userdata, const char *operation, json_t *content) {
        return add(userdata, operation, content);
}

/* The worse of two exit codes of the event steps: an error before a mismatch. */
static int worse(int a, int b) {
        return a != EXIT_OK && a != EXIT_MISMATCH ? a : b != EXIT_OK ? b : a;
}

static int predict(const struct predict_args *a, const uint8_t *raw, size_t n, const struct config *c,
                   struct prediction *p) {
        json_t *content = NULL;
        int r, m1, m2;

        r = config_event_content(a->source ?: SOURCE_DEFAULT, raw, n, &content);
        if (r >= 0)
                r = add(p, "config", content);
        if (r >= 0 && c->kbs)
                r = config_kbs_event_content(c->kbs, &content);
        if (r >= 0 && c->kbs)
                r = add(p, "key-provider", content);
        if (r < 0)
                return log_error_errno(r, "Cannot form the config or key-provider event: %m"), EXIT_INPUT;
        m1 = add_models(p, a, c, false);
        if (m1 == EXIT_OK || m1 == EXIT_MISMATCH)
                m1 = worse(predict_images_add(a->images, c, false, add_cb, p), m1);
        if (m1 != EXIT_OK && m1 != EXIT_MISMATCH)
                return m1;
        p->attest = c->kbs != NULL;
        p->n_attest = p->n;
        if (c->disk)
                r = config_disk_event_content(c->disk, &content);
        if (r >= 0 && c->disk)
                r = add(p, "disk", content);
        if (r < 0)
                return log_error_errno(r, "Cannot form the disk event: %m"), EXIT_INPUT;
        m2 = add_models(p, a, c, true);
        if (m2 == EXIT_OK || m2 == EXIT_MISMATCH)
                m2 = worse(predict_images_add(a->images, c, true, add_cb, p), m2);
        if (m2 != EXIT_OK && m2 != EXIT_MISMATCH)
                return m2;
        if (c->workload.image) {
                int w = predict_image_workload(a->images, c, &content);
                if (w != EXIT_OK)
                        return w;
        } else
                r = workload_event_content(&c->workload, &content);
        if (r >= 0)
                r = add(p, "workload", content);
        if (r >= 0)
                r = add(p, "boot-done", json_object());
        if (r < 0)
                return log_error_errno(r, "Cannot form the workload event: %m"), EXIT_INPUT;
        return m1 != EXIT_OK ? m1 : m2;
}

/* The register value after the first k events, from zero. */
static int replay(const struct prediction *p, size_t k, enum hash_alg bank, uint8_t out[static HASH_MAX_SIZE]) {
        memset(out, 0, HASH_MAX_SIZE);
        for (size_t i = 0; i < k; i++) {
                _cleanup_free_ char *text = NULL;
                uint8_t d[HASH_MAX_SIZE];
                size_t n;
                int r = event_text(EVENT_DOMAIN, p->events[i].operation, p->events[i].content, &text, &n);
                if (r >= 0)
                        r = event_digest(bank, text, n, d);
                if (r >= 0)
                        r = hash_extend(bank, out, d);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* {"pcr14":{"sha256":HEX,...}} after the first k events. */
static json_t *registers_json(const struct prediction *p, size_t k, const char *mr, const enum hash_alg *banks,
                              unsigned n_banks) {
        json_t *bank_values = json_object(), *o;

        for (unsigned i = 0; bank_values && i < n_banks; i++) {
                uint8_t v[HASH_MAX_SIZE];
                char hex[2 * HASH_MAX_SIZE + 1];
                if (replay(p, k, banks[i], v) < 0) {
                        json_decref(bank_values);
                        return NULL;
                }
                hex_encode(v, hash_alg_size(banks[i]), hex);
                json_object_set_new(bank_values, hash_alg_name(banks[i]), json_string(hex));
        }
        o = bank_values ? json_pack("{s:o}", mr, bank_values) : NULL;
        return o;
}

static json_t *events_json(const struct prediction *p, size_t k) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < k; i++)
                if (json_array_append_new(a, json_pack("{s:s, s:O}", "operation", p->events[i].operation, "content",
                                                       p->events[i].content)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static int print_json(json_t *o) {
        if (!o)
                return log_error_errno(ENOMEM, "Cannot form the output: %m"), EXIT_TRANSIENT;
        if (json_dumpf(o, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII) < 0) {
                json_decref(o);
                return log_error_errno(EIO, "Cannot write the output: %m"), EXIT_TRANSIENT;
        }
        putchar('\n');
        json_decref(o);
        return EXIT_OK;
}

static int out_json(const struct prediction *p, const struct predict_args *a, const char *mr) {
        json_t *attest = p->attest ? json_pack("{s:I, s:o}", "events", (json_int_t) p->n_attest, "registers",
                                               registers_json(p, p->n_attest, mr, a->banks, a->n_banks)) :
                                     json_null();

        return print_json(json_pack("{s:s, s:o, s:o, s:{s:o}}", "register", mr, "events", events_json(p, p->n),
                                    "attest", attest, "final", "registers",
                                    registers_json(p, p->n, mr, a->banks, a->n_banks)));
}

/* The TDX trust anchor: the --root file's text, which must be one PEM certificate (the broker's
 * policy parser takes exactly that). */
static int root_pem(const char *path, json_t **ret) {
        _cleanup_free_ uint8_t *pem = NULL;
        BIO *bio;
        X509 *x;
        size_t n;
        int r;

        r = read_file_limited(path, POLICY_ROOT_PEM_MAX, &pem, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot read the root certificate %s: %m", path), exit_code_from_errno(r);
        bio = BIO_new_mem_buf(pem, (int) n);
        x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        X509_free(x);
        *ret = x ? json_stringn((const char *) pem, n) : NULL;
        if (!*ret)
                return log_error_errno(EINVAL, "%s is not a PEM certificate.", path), EXIT_INPUT;
        return EXIT_OK;
}

/* Who must have signed: {"tee":["tpm"],"trusted_aks":[AK]} or {"tee":["tdx"],"roots":[PEM]}. */
static int policy_signer(const struct predict_args *a, json_t **ret) {
        json_t *pem = NULL;
        int r;

        if (!a->tdx) {
                if (!a->ak)
                        log_warning("No --ak given: fill in \"trusted_aks\" (SHA-256 of the AK's DER "
                                    "SubjectPublicKeyInfo) before using the policy.");
                *ret = json_pack("{s:[s], s:[s]}", "tee", "tpm", "trusted_aks",
                                 a->ak ?: "FILL IN: sha256 of the AK's DER SubjectPublicKeyInfo");
        } else if (!a->root) {
                log_warning("No --root given: fill in \"roots\" (the PEM root certificate of the quote's PCK chain) "
                            "before using the policy.");
                *ret = json_pack("{s:[s], s:[s]}", "tee", "tdx", "roots", "FILL IN: PEM root certificate");
        } else {
                r = root_pem(a->root, &pem);
                if (r != EXIT_OK)
                        return r;
                *ret = json_pack("{s:[s], s:[o]}", "tee", "tdx", "roots", pem);
        }
        return *ret ? EXIT_OK : (log_error_errno(ENOMEM, "Cannot form the output: %m"), EXIT_TRANSIENT);
}

static int out_policy(const struct prediction *p, const struct predict_args *a, const struct config *c,
                      const char *mr) {
        const enum hash_alg bank = a->tdx ? HASH_SHA384 : HASH_SHA256;
        json_t *rule = NULL;
        int r;

        if (!c->kbs)
                return log_error_errno(EINVAL, "The config has no kbs section: no resource to write a policy for."),
                       EXIT_INPUT;
        r = policy_signer(a, &rule);
        if (r != EXIT_OK)
                return r;
        /* The policy names the register's value in the quoted bank: sha256 for a TPM, sha384 for RTMR3. */
        if (json_object_set_new(rule, "events_exact", json_true()) < 0 ||
            json_object_set_new(rule, "events", events_json(p, p->n_attest)) < 0 ||
            json_object_set_new(rule, "registers", registers_json(p, p->n_attest, mr, &bank, 1)) < 0) {
                json_decref(rule);
                return log_error_errno(ENOMEM, "Cannot form the output: %m"), EXIT_TRANSIENT;
        }
        return print_json(json_pack("{s:i, s:{s:o}}", "version", 1, "resources", c->kbs->resource, rule));
}

static void out_values(const struct prediction *p, const struct predict_args *a, const char *label, size_t k,
                       const char *mr) {
        for (unsigned i = 0; i < a->n_banks; i++) {
                uint8_t v[HASH_MAX_SIZE];
                char hex[2 * HASH_MAX_SIZE + 1];
                if (replay(p, k, a->banks[i], v) < 0)
                        continue;
                hex_encode(v, hash_alg_size(a->banks[i]), hex);
                printf("%s %s %s %s\n", label, mr, hash_alg_name(a->banks[i]), hex);
        }
}

static int out_text(const struct prediction *p, const struct predict_args *a, const char *mr) {
        printf("# events, in boot order (domain %s)\n", EVENT_DOMAIN);
        for (size_t i = 0; i < p->n; i++) {
                _cleanup_free_ char *text = NULL;
                size_t n;
                if (event_text(EVENT_DOMAIN, p->events[i].operation, p->events[i].content, &text, &n) < 0)
                        return log_error_errno(ENOMEM, "Cannot form event %zu.", i), EXIT_TRANSIENT;
                if (p->attest && i == p->n_attest)
                        printf("# attest: the key broker sees the events above\n");
                printf("%zu %s\n", i, text + strlen(EVENT_DOMAIN) + 1);
        }
        if (p->attest) {
                printf("# register values at the attest step\n");
                out_values(p, a, "attest", p->n_attest, mr);
        }
        printf("# register values after boot-done\n");
        out_values(p, a, "final", p->n, mr);
        return EXIT_OK;
}

static void args_done(struct predict_args *a) {
        predict_images_free(a->images);
        for (size_t i = 0; i < a->n_dirs; i++) {
                free(a->dir_names[i]);
                free(a->dirs[i]);
        }
}

int cmd_predict(int argc, char **argv) {
        _cleanup_(args_done) struct predict_args a = { .pcr = MR_TPM_DEFAULT_PCR };
        _cleanup_(prediction_done) struct prediction p = {};
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_free_ uint8_t *raw = NULL;
        char mr[MR_NAME_MAX];
        errbuf err = {};
        size_t n;
        int r;

        r = parse_args(argc, argv, &a);
        if (r >= 0)
                return r;
        r = read_file_limited(a.config, CONFIG_SIZE_MAX, &raw, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot read the config %s: %m", a.config), exit_code_from_errno(r);
        r = config_parse(raw, n, &c, &err);
        if (r < 0)
                return log_error_errno(r, "Config %s: %s", a.config, err.msg), EXIT_INPUT;
        for (size_t i = 0; i < a.n_dirs; i++) {
                bool known = false;
                for (size_t k = 0; k < c->n_models && !known; k++)
                        known = strcmp(c->models[k].name, a.dir_names[i]) == 0 && c->models[k].mode == MODEL_MODE_FILES;
                if (!known)
                        return usage_error("predict", "--model-dir: the config has no files-mode model \"%s\"",
                                           a.dir_names[i]);
        }
        r = predict_images_check(&a.images, c);
        if (r != EXIT_OK)
                return r;
        r = predict(&a, raw, n, c, &p);
        if (r != EXIT_OK && r != EXIT_MISMATCH)
                return r;
        if (a.tdx)
                snprintf(mr, sizeof(mr), "rtmr3");
        else
                snprintf(mr, sizeof(mr), "pcr%u", a.pcr);
        int o = a.out == OUT_JSON ? out_json(&p, &a, mr) : a.out == OUT_POLICY ? out_policy(&p, &a, c, mr) :
                                                                               out_text(&p, &a, mr);
        return o != EXIT_OK ? o : r;
}
