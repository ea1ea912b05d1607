/* SPDX-License-Identifier: MIT */
/* The configuration parser (agent/config.c): any bytes either parse into a configuration that
 * keeps the schema's promises (checked below) or are refused with a message; never a crash, leak
 * or unbounded allocation. The `config` event content is formed from the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct config *c) {
        const struct workload *w = &c->workload;

        if (c->version != CONFIG_VERSION || c->n_modules > CONFIG_MODULES_MAX || c->n_mounts > CONFIG_MOUNTS_MAX ||
            c->n_models > CONFIG_MODELS_MAX || c->modules[c->n_modules])
                abort();
        for (size_t i = 0; i < c->n_models; i++)
                if (c->models[i].path[0] != '/' || c->models[i].manifest[0] != '/' || !c->models[i].name[0] ||
                    strchr(c->models[i].name, '/'))
                        abort();
        for (size_t i = 0; i < c->n_mounts; i++)
                if (c->mounts[i].path[0] != '/' || strcmp(c->mounts[i].path, "/") == 0)
                        abort();
        /* An image workload may leave exec out (the image's Entrypoint and Cmd run), and its exec[0]
         * is the image's to look up; args go only with an image and without exec. */
        if ((w->image ? w->exec && (w->n_exec < 1 || !w->exec[0][0]) : w->n_exec < 1 || w->exec[0][0] != '/') ||
            (w->args && (!w->image || w->exec || w->args[w->n_args])) || w->n_args > CONFIG_EXEC_MAX ||
            w->n_exec > CONFIG_EXEC_MAX || (w->exec && w->exec[w->n_exec]) || w->n_env > CONFIG_ENV_MAX || w->env[w->n_env] || w->cwd[0] != '/' || w->user > CONFIG_ID_MAX ||
            w->group > CONFIG_ID_MAX || !workload_restart_name(w->restart) || !workload_on_exit_name(w->on_exit))
                abort();
        for (size_t i = 0; i < w->n_env; i++)
                if (!strchr(w->env[i], '=') || w->env[i][0] == '=')
                        abort();
        bool named = !w->image;
        if (c->n_images > CONFIG_IMAGES_MAX)
                abort();
        for (size_t i = 0; i < c->n_images; i++) {
                if (c->images[i].layout[0] != '/' || !c->images[i].ref[0] || !c->images[i].name[0] ||
                    strchr(c->images[i].name, '/'))
                        abort();
                named = named || strcmp(c->images[i].name, w->image) == 0;
        }
        if (!named)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct config *c = NULL;
        json_t *event = NULL;
        errbuf err = {};
        int r;

        r = config_parse(data, size, &c, &err);
        if (r == 0) {
                check(c);
                config_free(c);
        } else if (c || !err.msg[0])
                abort();
        if (config_event_content("fuzz", data, size, &event) != 0)
                abort();
        json_decref(event);
        return 0;
}
