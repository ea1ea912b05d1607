/* SPDX-License-Identifier: MIT */
/* The key broker's policy: parser and evaluation (policy.h, docs/broker.md). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cel.h"
#include "event.h"
#include "policy.h"

#define ESCAPE_MAX 100U

struct policy_event {
        char *domain, *operation;
        json_t *content; /* object: the members that must be equal */
};

struct policy_register {
        char mr[MR_NAME_MAX];
        enum hash_alg alg;
        uint8_t value[HASH_MAX_SIZE];
};

struct policy_resource {
        const char *name; /* into the parsed document */
        unsigned tees;    /* bit per enum kbs_tee */
        size_t n_aks;
        uint8_t (*aks)[32];
        size_t n_roots;
        uint8_t (*roots)[32]; /* SHA-256 of each root certificate's DER */
        size_t n_events;
        struct policy_event *events;
        bool events_exact;
        size_t n_registers;
        struct policy_register *registers;
};

struct policy {
        json_t *root;
        size_t n;
        struct policy_resource *resources;
        STACK_OF(X509) *roots; /* every resource's TDX roots, each once */
};

/* ---- claims ---- */

void claims_done(struct claims *c) {
        json_decref(c->events);
        *c = (struct claims) {};
}

int claims_set_register(struct claims *c, const char *mr, enum hash_alg alg, const uint8_t *value) {
        struct claim_register *r = NULL;

        for (unsigned i = 0; i < c->n_registers && !r; i++)
                if (strcmp(c->registers[i].mr, mr) == 0 && c->registers[i].alg == alg)
                        r = &c->registers[i];
        if (!r) {
                if (c->n_registers >= CLAIMS_REGISTERS_MAX || strlen(mr) >= MR_NAME_MAX)
                        return -E2BIG;
                r = &c->registers[c->n_registers++];
                snprintf(r->mr, sizeof(r->mr), "%s", mr);
                r->alg = alg;
        }
        memcpy(r->value, value, hash_alg_size(alg));
        return 0;
}

/* ---- names ---- */

static bool component_char(char c, bool first) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                return true;
        return !first && (c == '.' || c == '_' || c == '-');
}

bool policy_resource_name_valid(const char *s) {
        unsigned components = 0;

        if (!s)
                return false;
        while (components < 3) {
                size_t k = 0;
                while (s[k] && s[k] != '/') {
                        if (k >= POLICY_NAME_COMPONENT_MAX || !component_char(s[k], k == 0))
                                return false;
                        k++;
                }
                if (k == 0)
                        return false;
                components++;
                s += k;
                if (*s == 0)
                        break;
                if (components == 3)
                        return false; /* a fourth component, or a trailing slash */
                s++;
        }
        return components == 3 && *s == 0;
}

/* ---- parsing ---- */

static int bad(errbuf *err, const char *path, const char *what) {
        return errbuf_set(err, -EINVAL, "%s: %s", path, what);
}

static int check_members(const json_t *o, const char *path, const char *const *names, errbuf *err) {
        errbuf e = {};
        if (kbs_proto_only_members(o, path, names, &e) < 0)
                return errbuf_set(err, -EINVAL, "%s", e.msg);
        return 0;
}

/* Lower-case hex of exactly size bytes. */
static int parse_hex(const json_t *v, size_t size, uint8_t *out) {
        const char *s = json_string_value(v);

        if (!s || strlen(s) != 2 * size || strspn(s, "0123456789abcdef") != 2 * size)
                return -EINVAL;
        return unhex(s, 2 * size, out, size) == (int) size ? 0 : -EINVAL;
}

static int parse_tees(const json_t *a, const char *path, struct policy_resource *r, errbuf *err) {
        size_t i;
        json_t *v;

        if (!json_is_array(a) || json_array_size(a) == 0)
                return bad(err, path, "\"tee\" must be a non-empty array of TEE names (\"tpm\", \"tdx\")");
        json_array_foreach(a, i, v) {
                int t = kbs_tee_from_name(json_string_value(v));
                if (t < 0)
                        return bad(err, path, "\"tee\": unknown TEE (allowed: \"tpm\", \"tdx\")");
                if (r->tees & (1U << t))
                        return bad(err, path, "\"tee\": a TEE is listed twice");
                r->tees |= 1U << t;
        }
        return 0;
}

static int parse_aks(const json_t *a, const char *path, struct policy_resource *r, errbuf *err) {
        size_t i;
        json_t *v;

        if (!a)
                return (r->tees & (1U << KBS_TEE_TPM)) ?
                               bad(err, path, "\"trusted_aks\" is required when \"tee\" allows \"tpm\"") : 0;
        if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > POLICY_AKS_MAX)
                return bad(err, path, "\"trusted_aks\" must be an array of 1..256 SHA-256 hex digests");
        r->aks = calloc(json_array_size(a), sizeof(*r->aks));
        if (!r->aks)
                return -ENOMEM;
        json_array_foreach(a, i, v)
                if (parse_hex(v, 32, r->aks[i]) < 0)
                        return errbuf_set(err, -EINVAL, "%s.trusted_aks[%zu]: must be 64 lower-case hex digits "
                                          "(SHA-256 of the AK's DER SubjectPublicKeyInfo)", path, i);
        r->n_aks = json_array_size(a);
        return 0;
}

/* One PEM certificate and nothing else: the X509 and the SHA-256 of its DER. */
static X509 *pem_certificate(const char *pem, uint8_t fingerprint[static 32]) {
        size_t n = strlen(pem);
        BIO *bio = n <= POLICY_ROOT_PEM_MAX ? BIO_new_mem_buf(pem, (int) n) : NULL;
        X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        unsigned char *der = NULL;
        uint8_t d[HASH_MAX_SIZE];
        char rest[64];
        int len;

        /* Only whitespace may follow the certificate. */
        if (x) {
                int k = BIO_read(bio, rest, sizeof(rest) - 1);
                rest[k > 0 ? k : 0] = 0;
                if (strspn(rest, " \t\r\n") != strlen(rest)) {
                        X509_free(x);
                        x = NULL;
                }
        }
        BIO_free(bio);
        len = x ? i2d_X509(x, &der) : -1;
        if (len <= 0 || hash_buffer(HASH_SHA256, der, (size_t) len, d) < 0) {
                X509_free(x);
                x = NULL;
        } else
                memcpy(fingerprint, d, 32);
        OPENSSL_free(der);
        return x;
}

static int add_root(struct policy *p, X509 *x, const uint8_t fingerprint[static 32]) {
        if (!p->roots && !(p->roots = sk_X509_new_null()))
                return -ENOMEM;
        for (int i = 0; i < sk_X509_num(p->roots); i++) {
                uint8_t other[HASH_MAX_SIZE];
                unsigned char *der = NULL;
                int len = i2d_X509(sk_X509_value(p->roots, i), &der);
                bool same = len > 0 && hash_buffer(HASH_SHA256, der, (size_t) len, other) >= 0 &&
                            memcmp(other, fingerprint, 32) == 0;
                OPENSSL_free(der);
                if (same)
                        return 0;
        }
        if (!X509_up_ref(x) || !sk_X509_push(p->roots, x)) {
                X509_free(x);
                return -ENOMEM;
        }
        return 0;
}

/* TDX trust anchors: PEM certificates (Intel's SGX root CA in production), required when "tee"
 * allows "tdx". A quote's PCK chain must end in one of them. */
static int parse_roots(struct policy *p, const json_t *a, const char *path, struct policy_resource *r,
                       errbuf *err) {
        size_t i;
        json_t *v;

        if (!a)
                return (r->tees & (1U << KBS_TEE_TDX)) ?
                               bad(err, path, "\"roots\" is required when \"tee\" allows \"tdx\"") : 0;
        if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > POLICY_ROOTS_MAX)
                return bad(err, path, "\"roots\" must be an array of 1..16 PEM certificates");
        r->roots = calloc(json_array_size(a), sizeof(*r->roots));
        if (!r->roots)
                return -ENOMEM;
        json_array_foreach(a, i, v) {
                X509 *x = json_is_string(v) ? pem_certificate(json_string_value(v), r->roots[i]) : NULL;
                int k;

                if (!x)
                        return errbuf_set(err, -EINVAL, "%s.roots[%zu]: must be one PEM certificate", path, i);
                k = add_root(p, x, r->roots[i]);
                X509_free(x);
                if (k < 0)
                        return k;
        }
        r->n_roots = json_array_size(a);
        return 0;
}

const STACK_OF(X509) *policy_tdx_roots(const struct policy *p) {
        return p ? p->roots : NULL;
}

static int parse_event(const json_t *o, const char *path, struct policy_event *e, errbuf *err) {
        static const char *const members[] = { "domain", "operation", "content", NULL };
        json_t *d = json_object_get(o, "domain"), *op = json_object_get(o, "operation"),
               *c = json_object_get(o, "content");
        int r;

        if (!json_is_object(o))
                return bad(err, path, "must be an object {\"operation\":...,\"content\":{...}}");
        r = check_members(o, path, members, err);
        if (r < 0)
                return r;
        if (d && (!json_is_string(d) || !event_token_valid(json_string_value(d))))
                return bad(err, path, "\"domain\" must be a valid event domain");
        if (!json_is_string(op) || !event_token_valid(json_string_value(op)))
                return bad(err, path, "\"operation\" must be a valid event operation");
        if (c && !json_is_object(c))
                return bad(err, path, "\"content\" must be an object");
        e->domain = strdup(d ? json_string_value(d) : EVENT_DOMAIN);
        e->operation = strdup(json_string_value(op));
        e->content = c ? json_incref(c) : json_object();
        return e->domain && e->operation && e->content ? 0 : -ENOMEM;
}

static int parse_events(const json_t *a, const char *path, struct policy_resource *r, errbuf *err) {
        char p[POLICY_RESOURCE_NAME_MAX + 64];
        size_t i;
        json_t *v;
        int k;

        if (!a)
                return 0;
        if (!json_is_array(a) || json_array_size(a) > POLICY_EVENTS_MAX)
                return bad(err, path, "\"events\" must be an array of at most 1024 events");
        r->events = calloc(json_array_size(a) ?: 1, sizeof(*r->events));
        if (!r->events)
                return -ENOMEM;
        json_array_foreach(a, i, v) {
                snprintf(p, sizeof(p), "%s.events[%zu]", path, i);
                r->n_events = i + 1;
                k = parse_event(v, p, &r->events[i], err);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int parse_register(const char *mr, const json_t *banks, const char *path, struct policy_resource *r,
                          errbuf *err) {
        const char *alg;
        json_t *v;

        /* MRTD too: a TDX quote's claims include it (tdx-verify.h), though no log extends it. */
        if (!cel_mr_name_valid(mr) && strcmp(mr, "mrtd") != 0)
                return errbuf_set(err, -EINVAL, "%s.registers: unknown register name (pcr0..pcr23, rtmr0..rtmr3, "
                                  "mrtd)", path);
        if (!json_is_object(banks) || json_object_size(banks) == 0)
                return errbuf_set(err, -EINVAL, "%s.registers.%s: must be an object {\"sha256\":\"<hex>\",...}",
                                  path, mr);
        json_object_foreach((json_t *) banks, alg, v) {
                struct policy_register *g;
                int a = hash_alg_from_name(alg);
                if (a < 0 || strcmp(alg, hash_alg_name(a)) != 0)
                        return errbuf_set(err, -EINVAL, "%s.registers.%s: unknown bank (sha1, sha256, sha384, "
                                          "sha512, sm3_256)", path, mr);
                if (r->n_registers >= POLICY_REGISTERS_MAX)
                        return bad(err, path, "too many register values (at most 64)");
                g = &r->registers[r->n_registers++];
                snprintf(g->mr, sizeof(g->mr), "%s", mr);
                g->alg = a;
                if (parse_hex(v, hash_alg_size(a), g->value) < 0)
                        return errbuf_set(err, -EINVAL, "%s.registers.%s.%s: must be %zu lower-case hex digits",
                                          path, mr, alg, 2 * hash_alg_size(a));
        }
        return 0;
}

static int parse_registers(const json_t *o, const char *path, struct policy_resource *r, errbuf *err) {
        const char *mr;
        json_t *v;
        int k;

        if (!o)
                return 0;
        if (!json_is_object(o))
                return bad(err, path, "\"registers\" must be an object {\"pcr14\":{\"sha256\":\"<hex>\"}}");
        r->registers = calloc(POLICY_REGISTERS_MAX, sizeof(*r->registers));
        if (!r->registers)
                return -ENOMEM;
        json_object_foreach((json_t *) o, mr, v) {
                k = parse_register(mr, v, path, r, err);
                if (k < 0)
                        return k;
        }
        return 0;
}

static int parse_resource(struct policy *p, const char *name, const json_t *o, struct policy_resource *r,
                          errbuf *err) {
        static const char *const members[] = { "tee", "trusted_aks", "roots", "events", "events_exact",
                                               "registers", NULL };
        char path[POLICY_RESOURCE_NAME_MAX + 16];
        json_t *exact = json_object_get(o, "events_exact");
        int k;

        snprintf(path, sizeof(path), "resources.%s", name);
        r->name = name;
        if (!json_is_object(o))
                return bad(err, path, "must be an object");
        k = check_members(o, path, members, err);
        if (k >= 0)
                k = parse_tees(json_object_get(o, "tee"), path, r, err);
        if (k >= 0)
                k = parse_aks(json_object_get(o, "trusted_aks"), path, r, err);
        if (k >= 0)
                k = parse_roots(p, json_object_get(o, "roots"), path, r, err);
        if (k >= 0)
                k = parse_events(json_object_get(o, "events"), path, r, err);
        if (k >= 0)
                k = parse_registers(json_object_get(o, "registers"), path, r, err);
        if (k < 0)
                return k;
        if (exact && !json_is_boolean(exact))
                return bad(err, path, "\"events_exact\" must be true or false");
        r->events_exact = json_is_true(exact);
        if (r->n_events == 0 && r->n_registers == 0 && !r->events_exact)
                return bad(err, path, "requires neither events nor registers: it would release the key to "
                                      "any boot (use \"events_exact\": true with \"events\": [] if meant)");
        return 0;
}

static int parse_document(struct policy *p, errbuf *err) {
        static const char *const members[] = { "version", "resources", NULL };
        json_t *version = json_object_get(p->root, "version"), *res = json_object_get(p->root, "resources"), *v;
        const char *name;
        int k;

        k = check_members(p->root, "policy", members, err);
        if (k < 0)
                return k;
        if (!json_is_integer(version) || json_integer_value(version) != 1)
                return bad(err, "version", "must be 1");
        if (!json_is_object(res) || json_object_size(res) == 0 || json_object_size(res) > POLICY_RESOURCES_MAX)
                return bad(err, "resources", "must be an object with 1..1024 resources");
        p->resources = calloc(json_object_size(res), sizeof(*p->resources));
        if (!p->resources)
                return -ENOMEM;
        json_object_foreach(res, name, v) {
                if (!policy_resource_name_valid(name)) {
                        _cleanup_free_ char *esc = escape_untrusted(name, strlen(name), ESCAPE_MAX);
                        return errbuf_set(err, -EINVAL, "resources: \"%s\" is not a valid repo/type/tag name",
                                          esc ?: "?");
                }
                k = parse_resource(p, name, v, &p->resources[p->n++], err);
                if (k < 0)
                        return k;
        }
        return 0;
}

int policy_parse(const char *text, size_t n, struct policy **ret, errbuf *err) {
        _cleanup_(policy_freep) struct policy *p = NULL;
        json_error_t e;
        int r;

        if (n > POLICY_FILE_MAX)
                return errbuf_set(err, -EFBIG, "the policy is larger than %u bytes", POLICY_FILE_MAX);
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &e);
        if (!p->root)
                return errbuf_set(err, -EINVAL, "not valid JSON: %.120s (line %d, column %d)", e.text, e.line,
                                  e.column);
        if (!json_is_object(p->root))
                return errbuf_set(err, -EINVAL, "the policy must be a JSON object");
        r = parse_document(p, err);
        if (r == -ENOMEM)
                return errbuf_set(err, r, "out of memory");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_load(const char *path, struct policy **ret, errbuf *err) {
        _cleanup_free_ uint8_t *p = NULL;
        size_t n;
        int r;

        r = read_file_limited(path, POLICY_FILE_MAX, &p, &n);
        if (r == -EFBIG)
                return errbuf_set(err, r, "the policy is larger than %u bytes", POLICY_FILE_MAX);
        if (r < 0)
                return errbuf_set(err, r, "cannot read the policy: %s", strerror(-r));
        return policy_parse((const char *) p, n, ret, err);
}

void policy_free(struct policy *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++) {
                struct policy_resource *r = &p->resources[i];
                for (size_t k = 0; k < r->n_events; k++) {
                        free(r->events[k].domain);
                        free(r->events[k].operation);
                        json_decref(r->events[k].content);
                }
                free(r->events);
                free(r->aks);
                free(r->roots);
                free(r->registers);
        }
        free(p->resources);
        sk_X509_pop_free(p->roots, X509_free);
        json_decref(p->root);
        free(p);
}

size_t policy_n_resources(const struct policy *p) {
        return p ? p->n : 0;
}

/* ---- evaluation ---- */

static const struct policy_resource *find_resource(const struct policy *p, const char *name) {
        for (size_t i = 0; i < p->n; i++)
                if (strcmp(p->resources[i].name, name) == 0)
                        return &p->resources[i];
        return NULL;
}

static int deny(struct policy_verdict *v, const char *rule, const char *format, ...) _printf_(3, 4);
static int deny(struct policy_verdict *v, const char *rule, const char *format, ...) {
        va_list ap;

        v->allowed = false;
        snprintf(v->rule, sizeof(v->rule), "%s", rule);
        va_start(ap, format);
        (void) vsnprintf(v->detail, sizeof(v->detail), format, ap);
        va_end(ap);
        return 0;
}

static const struct claim_register *find_claim(const struct claims *c, const char *mr, enum hash_alg alg) {
        for (unsigned i = 0; i < c->n_registers; i++)
                if (strcmp(c->registers[i].mr, mr) == 0 && c->registers[i].alg == alg)
                        return &c->registers[i];
        return NULL;
}

static int check_registers(const struct policy_resource *r, const struct claims *c, struct policy_verdict *v) {
        for (size_t i = 0; i < r->n_registers; i++) {
                const struct policy_register *g = &r->registers[i];
                const struct claim_register *have = find_claim(c, g->mr, g->alg);
                size_t n = hash_alg_size(g->alg);
                char rule[64], want[2 * HASH_MAX_SIZE + 1], got[2 * HASH_MAX_SIZE + 1];

                snprintf(rule, sizeof(rule), "registers.%s.%s", g->mr, hash_alg_name(g->alg));
                hex_encode(g->value, n, want);
                if (!have)
                        return deny(v, rule, "the evidence does not cover %s %s", g->mr, hash_alg_name(g->alg));
                if (memcmp(have->value, g->value, n) != 0) {
                        hex_encode(have->value, n, got);
                        return deny(v, rule, "%s %s is %s, the policy expects %s", g->mr, hash_alg_name(g->alg),
                                    got, want);
                }
        }
        return 1;
}

/* The log event's domain and operation equal the policy event's. */
static bool same_kind(const struct policy_event *e, const json_t *ev) {
        return strcmp(json_string_value(json_object_get(ev, "domain")) ?: "", e->domain) == 0 &&
               strcmp(json_string_value(json_object_get(ev, "operation")) ?: "", e->operation) == 0;
}

/* The first member of the policy content that the log event's content lacks or has another value
 * for; NULL if all match. */
static const char *first_difference(const struct policy_event *e, const json_t *ev) {
        const json_t *content = json_object_get(ev, "content");
        const char *key;
        json_t *want;

        json_object_foreach(e->content, key, want) {
                json_t *have = json_is_object(content) ? json_object_get(content, key) : NULL;
                if (!have || !json_equal(have, want))
                        return key;
        }
        return NULL;
}

static bool event_matches(const struct policy_event *e, const json_t *ev) {
        return same_kind(e, ev) && !first_difference(e, ev);
}

/* The log event k has e's kind but another value for a member e requires. */
static int explain_difference(const struct policy_event *e, size_t i, size_t k, const json_t *ev,
                              struct policy_verdict *v) {
        const char *key = first_difference(e, ev);
        json_t *content = json_object_get(ev, "content");
        json_t *hv = key && json_is_object(content) ? json_object_get(content, key) : NULL;
        _cleanup_free_ char *want = NULL, *have = NULL, *hs = NULL;
        char rule[32];

        snprintf(rule, sizeof(rule), "events[%zu]", i);
        if (!key)
                return deny(v, rule, "%s event: internal mismatch", e->operation);
        want = json_dumps(json_object_get(e->content, key), JSON_ENCODE_ANY | JSON_COMPACT);
        have = hv ? json_dumps(hv, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        hs = have ? escape_untrusted(have, strlen(have), ESCAPE_MAX) : NULL;
        return deny(v, rule, "%s event (log event %zu): \"%s\" is %s, the policy expects %s", e->operation, k,
                    key, hs ?: "missing", want ?: "?");
}

/* Says, for the operator, why events[i] was not found from position from on: the first event of
 * the same kind and the member that differs, or that there is none. */
static int explain_missing(const struct policy_event *e, size_t i, const json_t *events, size_t from,
                           struct policy_verdict *v) {
        bool other_domain = strcmp(e->domain, EVENT_DOMAIN) != 0;
        char rule[32];

        for (size_t k = from; k < json_array_size(events); k++)
                if (same_kind(e, json_array_get(events, k)))
                        return explain_difference(e, i, k, json_array_get(events, k), v);
        snprintf(rule, sizeof(rule), "events[%zu]", i);
        return deny(v, rule, "no %s%s%s event %s", other_domain ? e->domain : "", other_domain ? ":" : "",
                    e->operation, from > 0 ? "after the events matched before it" : "in the log");
}

/* events_exact: log event i must be policy event i. */
static int explain_exact(const struct policy_event *e, size_t i, const json_t *ev, struct policy_verdict *v) {
        const char *op = json_string_value(json_object_get(ev, "operation")) ?: "?";
        _cleanup_free_ char *esc = escape_untrusted(op, strlen(op), EVENT_TOKEN_MAX);
        char rule[32];

        if (same_kind(e, ev))
                return explain_difference(e, i, i, ev, v);
        snprintf(rule, sizeof(rule), "events[%zu]", i);
        return deny(v, rule, "log event %zu is a %s event, the policy expects %s there", i, esc ?: "?",
                    e->operation);
}

static int check_events(const struct policy_resource *r, const struct claims *c, struct policy_verdict *v) {
        const json_t *events = c->events;
        size_t n = json_array_size(events), pos = 0;

        if (r->events_exact && n != r->n_events)
                return deny(v, "events_exact", "the log has %zu events, the policy lists exactly %zu", n,
                            r->n_events);
        for (size_t i = 0; i < r->n_events; i++) {
                const struct policy_event *e = &r->events[i];
                size_t k = pos;

                if (r->events_exact) {
                        if (!event_matches(e, json_array_get(events, i)))
                                return explain_exact(e, i, json_array_get(events, i), v);
                        continue;
                }
                while (k < n && !event_matches(e, json_array_get(events, k)))
                        k++;
                if (k == n)
                        return explain_missing(e, i, events, pos, v);
                pos = k + 1;
        }
        return 1;
}

/* Who signed: the AK for TPM evidence, the PCK chain's root for TDX. */
static int check_signer(const struct policy_resource *r, const struct claims *c, struct policy_verdict *v) {
        char hex[65];

        if (c->tee == KBS_TEE_TDX) {
                if (!c->has_root)
                        return deny(v, "roots", "the evidence names no trusted root");
                for (size_t i = 0; i < r->n_roots; i++)
                        if (memcmp(r->roots[i], c->root_sha256, 32) == 0)
                                return 1;
                hex_encode(c->root_sha256, 32, hex);
                return deny(v, "roots", "the quote's chain ends in root %s, not one of this resource's", hex);
        }
        if (c->tee != KBS_TEE_TPM)
                return deny(v, "tee", "%s evidence cannot be verified by this broker", kbs_tee_name(c->tee));
        if (!c->has_ak)
                return deny(v, "trusted_aks", "the evidence carries no attestation key");
        for (size_t i = 0; i < r->n_aks; i++)
                if (memcmp(r->aks[i], c->ak_sha256, 32) == 0)
                        return 1;
        hex_encode(c->ak_sha256, 32, hex);
        return deny(v, "trusted_aks", "AK %s is not trusted for this resource", hex);
}

int policy_evaluate(const struct policy *p, const char *resource, const struct claims *c,
                    struct policy_verdict *v) {
        const struct policy_resource *r;
        int k;

        *v = (struct policy_verdict) {};
        r = p && resource ? find_resource(p, resource) : NULL;
        if (!r)
                return deny(v, "resource", "the policy has no rule for this resource");
        if (c->tee < 0 || c->tee >= _KBS_TEE_MAX || !(r->tees & (1U << c->tee)))
                return deny(v, "tee", "TEE %s is not allowed for this resource", kbs_tee_name(c->tee) ?: "?");
        k = check_signer(r, c, v);
        if (k > 0)
                k = check_registers(r, c, v);
        if (k > 0)
                k = check_events(r, c, v);
        if (k <= 0)
                return k;
        v->allowed = true;
        return 0;
}
