/* SPDX-License-Identifier: MIT */
/* libkmod: the config's modules and the kernel's module helper (modules.h). */
#include <fcntl.h>
#include <libkmod.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "modules.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_ctx *, kmod_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_list *, kmod_module_unref_list);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_module *, kmod_module_unref);

/* libkmod's own messages go to our log at debug level: the caller reports failures once. */
static void kmod_log(void *data, int priority, const char *file, int line, const char *fn,
                     const char *format, va_list args) {
        char msg[512];

        (void) data, (void) priority, (void) file, (void) line, (void) fn;
        (void) vsnprintf(msg, sizeof(msg), format, args);
        msg[strcspn(msg, "\n")] = 0;
        log_debug("libkmod: %s", msg);
}

static int kmod_open(const char *dir, struct kmod_ctx **ret, errbuf *err) {
        static const char *const no_config[] = { NULL };
        struct kmod_ctx *ctx;

        errno = 0;
        ctx = kmod_new(dir, no_config);
        if (!ctx)
                return errbuf_set(err, errno > 0 ? -errno : -ENOMEM, "cannot open the module directory %s",
                                  dir ?: "/lib/modules/$(uname -r)");
        kmod_set_log_fn(ctx, kmod_log, NULL);
        /* Indexes mapped once for all lookups; without them libkmod reads the text files. */
        (void) kmod_load_resources(ctx);
        *ret = ctx;
        return 0;
}

static bool name_valid(const char *name) {
        size_t n = strlen(name);
        if (n == 0 || n > MODULE_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (name[i] <= 0x20 || name[i] >= 0x7f || name[i] == '/')
                        return false;
        return true;
}

/* A name that no index knows may still be built in, or loaded from elsewhere. */
static int load_unknown(struct kmod_ctx *ctx, const char *name, const char *e, errbuf *err) {
        _cleanup_(kmod_module_unrefp) struct kmod_module *mod = NULL;

        if (kmod_module_new_from_name(ctx, name, &mod) == 0) {
                int state = kmod_module_get_initstate(mod);
                if (state == KMOD_MODULE_BUILTIN || state == KMOD_MODULE_LIVE)
                        return 0;
        }
        return errbuf_set(err, -ENOENT, "kernel module %s: not found in %s (modules.dep, aliases, built-ins)", e,
                          kmod_get_dirname(ctx));
}

static int load_one(struct kmod_ctx *ctx, const char *name, errbuf *err) {
        _cleanup_(kmod_module_unref_listp) struct kmod_list *list = NULL;
        _cleanup_free_ char *e = escape_untrusted(name, strlen(name), 80);
        struct kmod_list *l;
        int r;

        if (!e)
                return -ENOMEM;
        if (!name_valid(name))
                return errbuf_set(err, -EINVAL, "kernel module '%s': not a module name", e);
        r = kmod_module_new_from_lookup(ctx, name, &list);
        if (r < 0)
                return errbuf_set(err, r, "kernel module %s: lookup failed: %s", e, strerror(-r));
        if (!list)
                return load_unknown(ctx, name, e, err);
        kmod_list_foreach(l, list) {
                _cleanup_(kmod_module_unrefp) struct kmod_module *mod = kmod_module_get_module(l);
                r = kmod_module_probe_insert_module(mod, KMOD_PROBE_IGNORE_COMMAND, NULL, NULL, NULL, NULL);
                if (r < 0)
                        return errbuf_set(err, r, "kernel module %s (%s): %s%s", e, kmod_module_get_name(mod),
                                          strerror(-r), r == -ENOENT ? "" : " (the kernel log says more)");
                log_debug("Kernel module %s loaded (%s).", kmod_module_get_name(mod), e);
        }
        return 0;
}

int modules_load(char *const *names, size_t n, const char *dir, errbuf *err) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        int r;

        if (n == 0)
                return 0;
        r = kmod_open(dir, &ctx, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = load_one(ctx, names[i], err);
                if (r < 0)
                        return r;
        }
        return 0;
}

int modules_install_helper(errbuf *err) {
        char self[PATH_MAX], line[PATH_MAX + 2];
        ssize_t n;
        int r;

        /* The small helper program if the image has it, else cvminit itself in modprobe mode. */
        if (access(MODULES_HELPER_BIN, X_OK) == 0)
                snprintf(self, sizeof(self), "%s", MODULES_HELPER_BIN);
        else {
                n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                if (n < 0)
                        return errbuf_set(err, -errno, "cannot find this program's path: %s", strerror(errno));
                self[n] = 0;
        }
        if (mkdir("/run/cvminit", 0755) < 0 && errno != EEXIST)
                return errbuf_set(err, -errno, "cannot create /run/cvminit: %s", strerror(errno));
        (void) unlink(MODULES_HELPER_LINK);
        if (symlink(self, MODULES_HELPER_LINK) < 0)
                return errbuf_set(err, -errno, "cannot create %s: %s", MODULES_HELPER_LINK, strerror(errno));
        _cleanup_close_ int fd = open(MODULES_HELPER_SYSCTL, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 && errno == ENOENT) {
                log_debug("No %s: the kernel has no module support.", MODULES_HELPER_SYSCTL);
                return 0;
        }
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open %s: %s", MODULES_HELPER_SYSCTL, strerror(errno));
        n = snprintf(line, sizeof(line), "%s\n", MODULES_HELPER_LINK);
        r = loop_write(fd, line, (size_t) n);
        if (r < 0)
                return errbuf_set(err, r, "cannot write %s: %s", MODULES_HELPER_SYSCTL, strerror(-r));
        log_debug("Kernel module helper: %s -> %s.", MODULES_HELPER_LINK, self);
        return 0;
}

bool modprobe_mode(int argc, char **argv) {
        const char *base;

        if (argc < 1 || !argv[0])
                return false;
        base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        return strcmp(base, "modprobe") == 0 || (argc > 1 && strcmp(argv[1], "--modprobe") == 0);
}

int modprobe_main(int argc, char **argv) {
        bool quiet = false;
        const char *name = NULL;
        errbuf err = {};
        int i = 1, r;

        if (argc > 1 && strcmp(argv[1], "--modprobe") == 0)
                i++;
        for (; i < argc; i++) {
                if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
                        quiet = true;
                else if (strcmp(argv[i], "--") == 0) {
                        i++;
                        break;
                } else if (argv[i][0] == '-') {
                        log_error("modprobe mode: unknown option (usage: modprobe [-q] [--] NAME)");
                        return 2;
                } else
                        break;
        }
        if (argc - i != 1) {
                log_error("modprobe mode: expected one module name (usage: modprobe [-q] [--] NAME)");
                return 2;
        }
        name = argv[i];
        r = modules_load((char *const *) &name, 1, NULL, &err);
        if (r < 0) {
                /* -q: the kernel asks for names that may not exist; only real failures are reported. */
                if (!quiet || r != -ENOENT)
                        log_error_errno(r, "%s", err.msg);
                return 1;
        }
        return 0;
}
