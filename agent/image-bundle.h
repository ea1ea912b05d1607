/* SPDX-License-Identifier: MIT */
/* An image workload's process and its OCI runtime bundle (runtime-spec v1.0.2 config.json; docs/config.md
 * "An image as the workload"). The process comes from the image config (Entrypoint, Cmd, Env,
 * User, WorkingDir) and the overrides the workload config allows:
 *   args  exec, if given (whole command line); else Entrypoint + (workload.args if given, else Cmd)
 *   env   the image's Env, then workload.env (same name: the config wins), then
 *         CVMINIT_IMAGE_DIGEST=sha256:<manifest digest> (set by cvminit only), and a default PATH
 *         if none of them set one (as Docker does)
 *   user  workload.user/group if given; else the image's User: "", "root", "UID" or "UID:GID"
 *         (numbers only: cvminit does not read the image's /etc/passwd); a gid not given is 0
 *   cwd   workload.cwd if given, else WorkingDir, else "/"
 * All of this is in the measured `workload` event (exec, env, user; plus "image": NAME) or fixed
 * by measured inputs (the config's bytes, the manifest digest that pins the image config). Pure
 * functions: shared by cvminit and `cvmtool predict`. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "config.h"
#include "image-oci.h"

#define IMAGE_DIGEST_ENV "CVMINIT_IMAGE_DIGEST"
#define IMAGE_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define IMAGE_ENV_MAX (2U * CONFIG_ENV_MAX + 2U)

struct image_process {
        char **args; /* NULL-terminated */
        size_t n_args;
        char **env; /* NULL-terminated "NAME=VALUE", names unique */
        size_t n_env;
        uid_t uid;
        gid_t gid;
        char *cwd;
};

/* Resolves the process as above; digest_hex is the manifest digest. Errors: no command at all,
 * a User that is a name, a relative WorkingDir, more than CONFIG_EXEC_MAX arguments, IMAGE_ENV_MAX
 * variables or CONFIG_WORKLOAD_BYTES_MAX bytes (the event must stay small). err starts with
 * "image NAME: ". */
int image_process_resolve(const struct workload *w, const char *image_name, const struct oci_image_config *ic,
                          const char *digest_hex, struct image_process *ret, errbuf *err);
void image_process_done(struct image_process *p);

/* The `workload` event of an image workload: {"exec","env","user","restart"} of the container's
 * process (as workload_event_content forms them) and "image": NAME. */
int image_workload_event_content(const struct workload *w, const char *image_name, const struct image_process *p,
                                 json_t **ret);

struct image_bundle_options {
        const char *hostname;       /* the container's (UTS namespace) */
        char *const *binds;         /* read-only bind mounts at the same path (the models), NULL-terminated */
        bool resolv_conf;           /* bind /etc/resolv.conf read-only */
        const char *api_socket;     /* the attestation API's socket, bound at the same path (or NULL) */
        const struct config_image *image; /* allow_devices, allow_setuid */
};

/* config.json: root "rootfs" (writable), namespaces pid, ipc, uts, mount and cgroup (network and
 * everything else shared with the VM), the usual API mounts, masked and read-only /proc and /sys
 * paths, the API socket, a capability set without NET_RAW, SYS_CHROOT and MKNOD (MKNOD with allow_devices), none
 * effective for a user other than root, no_new_privileges unless allow_setuid. */
int image_bundle_config(const struct image_process *p, const struct image_bundle_options *o, json_t **ret);
