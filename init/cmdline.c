/* SPDX-License-Identifier: MIT */
/* Kernel command line parameters for PID 1 (see cmdline.h; the word splitting follows the kernel's
 * next_arg() in lib/cmdline.c). */
#include <stdbool.h>
#include <string.h>

#include "cmdline.h"
#include "log.h"
#include "mr.h"

static const char *const register_names[_REGISTER_KIND_MAX] = {
        [REGISTER_AUTO] = "auto",
        [REGISTER_TPM] = "tpm",
        [REGISTER_TDX] = "tdx",
};

const char *register_kind_name(enum register_kind k) {
        return k >= 0 && k < _REGISTER_KIND_MAX ? register_names[k] : "?";
}

void cmdline_done(struct boot_cmdline *c) {
        if (!c)
                return;
        free(c->config);
        free(c->tcti);
        free(c->ip);
        c->config = c->tcti = c->ip = NULL;
}

/* Parameter names compare with '-' and '_' as the same character, as the kernel's do. */
static bool name_eq(const char *a, size_t n, const char *b) {
        size_t i;

        for (i = 0; i < n && b[i]; i++) {
                char x = a[i] == '-' ? '_' : a[i], y = b[i] == '-' ? '_' : b[i];
                if (x != y)
                        return false;
        }
        return i == n && !b[i];
}

static int bad_value(errbuf *err, const char *name, const char *value, const char *why) {
        _cleanup_free_ char *e = escape_untrusted(value, strlen(value), 80);
        return errbuf_set(err, -EINVAL, "kernel command line: %s=%s: %s", name, e ? e : "?", why);
}

static int set_string(char **dst, const char *value) {
        char *s = strdup(value);
        if (!s)
                return -ENOMEM;
        free(*dst);
        *dst = s;
        return 0;
}

static int parse_level(const char *v) {
        static const struct { const char *name; int level; } table[] = {
                { "err", LOG_LEVEL_ERR },   { "error", LOG_LEVEL_ERR }, { "warning", LOG_LEVEL_WARNING },
                { "info", LOG_LEVEL_INFO }, { "debug", LOG_LEVEL_DEBUG },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(v, table[i].name) == 0)
                        return table[i].level;
        return -EINVAL;
}

static int set_enum(int *dst, int r, errbuf *err, const char *name, const char *value, const char *why) {
        if (r < 0)
                return bad_value(err, name, value, why);
        *dst = r;
        return 0;
}

static int register_from_name(const char *v) {
        for (int k = 0; k < _REGISTER_KIND_MAX; k++)
                if (strcmp(v, register_names[k]) == 0)
                        return k;
        return -EINVAL;
}

/* One cvminit.* parameter (name without the prefix). */
static int parse_cvminit(struct boot_cmdline *c, const char *name, const char *value, errbuf *err) {
        const char *full = name - strlen("cvminit.");
        int v;

        if (strlen(value) > CMDLINE_VALUE_MAX)
                return bad_value(err, full, value, "too long");
        for (const char *p = value; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return bad_value(err, full, value, "contains control characters");
        if (name_eq(name, strlen(name), "config")) {
                if (value[0] != '/')
                        return bad_value(err, full, value, "not an absolute path");
                return set_string(&c->config, value);
        }
        if (name_eq(name, strlen(name), "register")) {
                v = (int) c->reg;
                int r = set_enum(&v, register_from_name(value), err, full, value, "expected auto, tpm or tdx");
                c->reg = (enum register_kind) v;
                return r;
        }
        if (name_eq(name, strlen(name), "pcr")) {
                unsigned pcr;
                if (safe_atou(value, &pcr) < 0 || pcr > CMDLINE_PCR_MAX)
                        return bad_value(err, full, value, "expected a PCR index from 0 to 23");
                c->pcr = pcr;
                return 0;
        }
        if (name_eq(name, strlen(name), "tcti")) {
                if (!value[0] || strlen(value) > CMDLINE_TCTI_MAX)
                        return bad_value(err, full, value, "expected a TCTI of 1 to 1023 characters");
                return set_string(&c->tcti, value);
        }
        if (name_eq(name, strlen(name), "on_failure")) {
                v = (int) c->on_failure;
                int r = set_enum(&v, power_action_from_name(value), err, full, value,
                                 "expected poweroff, reboot or halt");
                c->on_failure = (enum power_action) v;
                return r;
        }
        if (name_eq(name, strlen(name), "log_level"))
                return set_enum(&c->log_level, parse_level(value), err, full, value,
                                "expected err, warning, info or debug");
        _cleanup_free_ char *e = escape_untrusted(full, strlen(full), 80);
        return errbuf_set(err, -EINVAL, "kernel command line: unknown parameter %s (see docs/config.md)",
                          e ? e : "?");
}

static int parse_param(struct boot_cmdline *c, char *word, errbuf *err) {
        char *eq = strchr(word, '=');
        const char *value = eq ? eq + 1 : NULL;
        size_t name_len = eq ? (size_t) (eq - word) : strlen(word);

        if (name_eq(word, name_len, "ip")) {
                if (!value)
                        return bad_value(err, "ip", "", "needs a value");
                if (strlen(value) > CMDLINE_IP_MAX)
                        return bad_value(err, "ip", value, "too long");
                return set_string(&c->ip, value);
        }
        if (strncmp(word, "cvminit.", strlen("cvminit.")) != 0)
                return 0; /* the kernel's or another program's */
        if (!eq) {
                _cleanup_free_ char *e = escape_untrusted(word, strlen(word), 80);
                return errbuf_set(err, -EINVAL, "kernel command line: %s needs a value (%s=...)", e ? e : "?",
                                  e ? e : "?");
        }
        *eq = 0;
        return parse_cvminit(c, word + strlen("cvminit."), value, err);
}

/* Copies the next word of s[*i..n) into out without its double quotes; false at the end. */
static bool next_word(const char *s, size_t n, size_t *i, char *out) {
        bool quoted = false;
        size_t k = 0;

        while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n'))
                (*i)++;
        if (*i >= n)
                return false;
        for (; *i < n; (*i)++) {
                char ch = s[*i];
                if (ch == '"') {
                        quoted = !quoted;
                        continue;
                }
                if (!quoted && (ch == ' ' || ch == '\t' || ch == '\n'))
                        break;
                out[k++] = ch;
        }
        out[k] = 0;
        return true;
}

int cmdline_parse(const char *s, size_t n, struct boot_cmdline *ret, errbuf *err) {
        _cleanup_free_ char *word = NULL;
        size_t i = 0;
        int r;

        *ret = (struct boot_cmdline) { .reg = REGISTER_AUTO, .pcr = MR_TPM_DEFAULT_PCR,
                                       .on_failure = POWER_OFF, .log_level = -1 };
        if (n > CMDLINE_SIZE_MAX)
                return errbuf_set(err, -EFBIG, "kernel command line: longer than %u bytes", CMDLINE_SIZE_MAX);
        if (memchr(s, 0, n))
                return errbuf_set(err, -EINVAL, "kernel command line: contains a NUL byte");
        word = malloc(n + 1);
        if (!word)
                return -ENOMEM;
        while (next_word(s, n, &i, word)) {
                if (strcmp(word, "--") == 0)
                        break; /* the rest is init's argv, not parameters */
                r = parse_param(ret, word, err);
                if (r < 0) {
                        cmdline_done(ret);
                        return r;
                }
        }
        return 0;
}

int cmdline_read(const char *path, struct boot_cmdline *ret, errbuf *err) {
        _cleanup_free_ uint8_t *p = NULL;
        size_t n;
        int r;

        path = path ?: CMDLINE_PATH;
        r = read_file_limited(path, CMDLINE_SIZE_MAX, &p, &n);
        if (r < 0)
                return errbuf_set(err, r, "cannot read the kernel command line from %s: %s", path,
                                  r == -EFBIG ? "too long" : strerror(-r));
        return cmdline_parse((const char *) p, n, ret, err);
}
