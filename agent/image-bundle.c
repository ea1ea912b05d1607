/* SPDX-License-Identifier: MIT */
/* An image workload's process and runtime bundle; see image-bundle.h. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "image-bundle.h"
#include "workload.h"

/* Docker's default set without NET_RAW (the network is the VM's own), SYS_CHROOT (the container
 * may be entered with chroot when the VM's root is the initramfs) and MKNOD (no devices). */
static const char *const caps[] = {
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_AUDIT_WRITE",
};

static const char *const masked[] = {
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
};

static const char *const readonly[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

void image_process_done(struct image_process *p) {
        strv_free_n(p->args, p->n_args);
        strv_free_n(p->env, p->n_env);
        free(p->cwd);
        *p = (struct image_process) {};
}

/* Appends a copy of s; v stays NULL-terminated. */
static int strv_push(char ***v, size_t *n, size_t max, const char *s) {
        char **nv;

        if (*n >= max)
                return -E2BIG;
        nv = realloc(*v, (*n + 2) * sizeof(char *));
        if (!nv)
                return -ENOMEM;
        *v = nv;
        nv[*n] = strdup(s);
        if (!nv[*n])
                return -ENOMEM;
        nv[++*n] = NULL;
        return 0;
}

static int strv_push_all(char ***v, size_t *n, char *const *src) {
        for (size_t i = 0; src && src[i]; i++) {
                int r = strv_push(v, n, CONFIG_EXEC_MAX, src[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* NAME=VALUE: replaces a variable of the same name, or appends. */
static int env_set(struct image_process *p, const char *entry) {
        size_t k = strcspn(entry, "=");

        for (size_t i = 0; i < p->n_env; i++)
                if (strncmp(p->env[i], entry, k + 1) == 0) {
                        char *s = strdup(entry);
                        if (!s)
                                return -ENOMEM;
                        free(p->env[i]);
                        p->env[i] = s;
                        return 0;
                }
        return strv_push(&p->env, &p->n_env, IMAGE_ENV_MAX, entry);
}

static bool env_has(const struct image_process *p, const char *name) {
        size_t k = strlen(name);
        for (size_t i = 0; i < p->n_env; i++)
                if (strncmp(p->env[i], name, k) == 0 && p->env[i][k] == '=')
                        return true;
        return false;
}

static int parse_id(const char *s, size_t n, uint32_t *ret) {
        char buf[16];
        unsigned v;

        if (n == 4 && strncmp(s, "root", 4) == 0) {
                *ret = 0;
                return 0;
        }
        if (n == 0 || n >= sizeof(buf) || strspn(s, "0123456789") < n)
                return -EINVAL;
        memcpy(buf, s, n);
        buf[n] = 0;
        if (safe_atou(buf, &v) < 0 || v > CONFIG_ID_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* The image's User: "", "root", "UID" or "UID:GID" (or root for either). */
static int image_user(const char *name, const char *user, uid_t *uid, gid_t *gid, bool *has_gid, errbuf *err) {
        const char *colon = strchr(user, ':');
        uint32_t u = 0, g = 0;

        *has_gid = colon != NULL;
        if ((user[0] && parse_id(user, colon ? (size_t) (colon - user) : strlen(user), &u) < 0) ||
            (colon && parse_id(colon + 1, strlen(colon + 1), &g) < 0)) {
                _cleanup_free_ char *e = escape_untrusted(user, strlen(user), 64);
                return errbuf_set(err, -EINVAL, "image %s: its User '%s' is not UID or UID:GID in numbers (cvminit "
                                  "does not read the image's /etc/passwd): set workload.user and workload.group",
                                  name, e ? e : "?");
        }
        *uid = u;
        *gid = g;
        return 0;
}

static int resolve_ids(const struct workload *w, const char *name, const struct oci_image_config *ic,
                       struct image_process *p, errbuf *err) {
        bool has_gid = false;
        int r = 0;

        if (w->user_set)
                p->uid = w->user;
        else
                r = image_user(name, ic->user, &p->uid, &p->gid, &has_gid, err);
        if (w->group_set)
                p->gid = w->group;
        else if (w->user_set || !has_gid)
                p->gid = 0;
        return r;
}

static int resolve_cwd(const struct workload *w, const char *name, const struct oci_image_config *ic,
                       struct image_process *p, errbuf *err) {
        const char *cwd = w->cwd_set ? w->cwd : ic->working_dir[0] ? ic->working_dir : "/";

        if (cwd[0] != '/') {
                _cleanup_free_ char *e = escape_untrusted(cwd, strlen(cwd), 64);
                return errbuf_set(err, -EINVAL, "image %s: its WorkingDir '%s' is not absolute", name, e ? e : "?");
        }
        p->cwd = strdup(cwd);
        return p->cwd ? 0 : errbuf_set(err, -ENOMEM, "out of memory");
}

static int resolve_env(const struct workload *w, const struct oci_image_config *ic, const char *digest_hex,
                       struct image_process *p) {
        _cleanup_free_ char *digest = NULL;
        int r = 0;

        for (size_t i = 0; r >= 0 && i < ic->n_env; i++)
                r = env_set(p, ic->env[i]);
        for (size_t i = 0; r >= 0 && i < w->n_env; i++)
                r = env_set(p, w->env[i]);
        if (r >= 0 && asprintf(&digest, IMAGE_DIGEST_ENV "=sha256:%s", digest_hex) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = env_set(p, digest);
        if (r >= 0 && !env_has(p, "PATH"))
                r = env_set(p, "PATH=" IMAGE_DEFAULT_PATH);
        return r;
}

static size_t bytes_of(char *const *v, size_t n) {
        size_t b = 0;
        for (size_t i = 0; i < n; i++)
                b += strlen(v[i]);
        return b;
}

static int resolve(const struct workload *w, const char *name, const struct oci_image_config *ic,
                   const char *digest_hex, struct image_process *p, errbuf *err) {
        int r;

        if (w->exec)
                r = strv_push_all(&p->args, &p->n_args, w->exec);
        else {
                r = strv_push_all(&p->args, &p->n_args, ic->entrypoint);
                if (r >= 0)
                        r = strv_push_all(&p->args, &p->n_args, w->args ? w->args : ic->cmd);
        }
        if (r >= 0 && p->n_args == 0)
                return errbuf_set(err, -EINVAL, "image %s: no command: the image has neither Entrypoint nor Cmd and the "
                                  "config gives no workload.exec", name);
        if (r >= 0)
                r = resolve_env(w, ic, digest_hex, p);
        if (r == -E2BIG || (r >= 0 && bytes_of(p->args, p->n_args) + bytes_of(p->env, p->n_env) >
                                              CONFIG_WORKLOAD_BYTES_MAX))
                return errbuf_set(err, -E2BIG, "image %s: the command line and environment exceed %u arguments, %u "
                                  "variables or %u bytes", name, CONFIG_EXEC_MAX, IMAGE_ENV_MAX,
                                  CONFIG_WORKLOAD_BYTES_MAX);
        if (r < 0)
                return errbuf_set(err, r, "image %s: %s", name, strerror(-r));
        r = resolve_ids(w, name, ic, p, err);
        if (r >= 0)
                r = resolve_cwd(w, name, ic, p, err);
        return r;
}

int image_process_resolve(const struct workload *w, const char *image_name, const struct oci_image_config *ic,
                          const char *digest_hex, struct image_process *ret, errbuf *err) {
        struct image_process p = {};
        int r = resolve(w, image_name, ic, digest_hex, &p, err);

        if (r < 0) {
                image_process_done(&p);
                return r;
        }
        *ret = p;
        return 0;
}

int image_workload_event_content(const struct workload *w, const char *image_name, const struct image_process *p,
                                 json_t **ret) {
        struct workload view = *w;
        json_t *o = NULL;
        int r;

        view.exec = p->args;
        view.n_exec = p->n_args;
        view.env = p->env;
        view.n_env = p->n_env;
        view.user = p->uid;
        r = workload_event_content(&view, &o);
        if (r < 0)
                return r;
        if (json_object_set_new(o, "image", json_string(image_name)) < 0) {
                json_decref(o);
                return -ENOMEM;
        }
        *ret = o;
        return 0;
}

/* ---- config.json ---- */

static json_t *strings(const char *const *v, size_t n) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_string(v[i])) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *capabilities(const struct image_process *p, const struct image_bundle_options *o) {
        json_t *set = strings(caps, ELEMENTSOF(caps)), *c;
        bool root = p->uid == 0;

        if (!set)
                return NULL;
        if (o->image->allow_devices && json_array_append_new(set, json_string("CAP_MKNOD")) < 0) {
                json_decref(set);
                return NULL;
        }
        /* A user other than root gets the bounding set only, as Docker does. */
        c = json_pack("{s:O, s:o, s:o}", "bounding", set, "effective", root ? json_incref(set) : json_array(),
                      "permitted", root ? json_incref(set) : json_array());
        json_decref(set);
        return c;
}

static json_t *process(const struct image_process *p, const struct image_bundle_options *o) {
        json_t *caps_o = capabilities(p, o);
        json_t *r = json_pack("{s:b, s:{s:I, s:I}, s:o, s:o, s:s, s:o, s:[{s:s, s:I, s:I}], s:b}", "terminal", 0,
                              "user", "uid", (json_int_t) p->uid, "gid", (json_int_t) p->gid, "args",
                              strings((const char *const *) p->args, p->n_args), "env",
                              strings((const char *const *) p->env, p->n_env), "cwd", p->cwd, "capabilities", caps_o,
                              "rlimits", "type", "RLIMIT_NOFILE", "hard", (json_int_t) 1048576, "soft",
                              (json_int_t) 1048576, "noNewPrivileges", !o->image->allow_setuid);
        return r;
}

static int add_mount(json_t *mounts, const char *dest, const char *type, const char *source, const char *options) {
        json_t *opts = json_array(), *m;
        char *copy = strdup(options), *save = NULL;

        for (char *t = copy ? strtok_r(copy, ",", &save) : NULL; opts && t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(opts, json_string(t));
        free(copy);
        m = opts ? json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", source, "options",
                             opts) : NULL;
        return m && json_array_append_new(mounts, m) == 0 ? 0 : -ENOMEM;
}

/* The container's own file systems (runtime-spec's defaults, /sys and cgroups read-only). */
static const struct {
        const char *dest, *type, *source, *options;
} base_mounts[] = {
        { "/proc", "proc", "proc", "nosuid,noexec,nodev" },
        { "/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k" },
        { "/dev/pts", "devpts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620" },
        /* No size: half the VM's memory, the kernel's default (data loaders use /dev/shm heavily). */
        { "/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777" },
        { "/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev" },
        { "/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro" },
        { "/sys/fs/cgroup", "cgroup", "cgroup", "nosuid,noexec,nodev,relatime,ro" },
};

static json_t *mounts(const struct image_bundle_options *o) {
        json_t *m = json_array();
        int r = m ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(base_mounts); i++)
                r = add_mount(m, base_mounts[i].dest, base_mounts[i].type, base_mounts[i].source,
                              base_mounts[i].options);
        if (r >= 0 && o->resolv_conf)
                r = add_mount(m, "/etc/resolv.conf", "bind", "/etc/resolv.conf", "rbind,ro,nosuid,nodev,noexec");
        if (r >= 0 && o->api_socket)
                r = add_mount(m, o->api_socket, "bind", o->api_socket, "bind,nosuid,nodev,noexec");
        for (size_t i = 0; r >= 0 && o->binds && o->binds[i]; i++)
                r = add_mount(m, o->binds[i], "bind", o->binds[i], "rbind,ro,nosuid,nodev");
        if (r < 0) {
                json_decref(m);
                return NULL;
        }
        return m;
}

static json_t *linux_section(void) {
        return json_pack("{s:[{s:s},{s:s},{s:s},{s:s},{s:s}], s:o, s:o, s:{s:[{s:b, s:s}]}}", "namespaces", "type",
                         "pid", "type", "ipc", "type", "uts", "type", "mount", "type", "cgroup", "maskedPaths",
                         strings(masked, ELEMENTSOF(masked)), "readonlyPaths", strings(readonly, ELEMENTSOF(readonly)),
                         "resources", "devices", "allow", 0, "access", "rwm");
}

int image_bundle_config(const struct image_process *p, const struct image_bundle_options *o, json_t **ret) {
        json_t *c;

        if (!p->args || !p->env || !p->cwd || !o->image || !o->hostname)
                return -EINVAL;
        c = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2", "process", process(p, o),
                      "root", "path", "rootfs", "readonly", 0, "hostname", o->hostname, "mounts", mounts(o), "linux",
                      linux_section());
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}
