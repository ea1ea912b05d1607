/* SPDX-License-Identifier: MIT */
/* cvmtool predict: the image events (cvmtool-predict-image.h). */
#include <string.h>

#include "cvmtool-predict-image.h"
#include "cvmtool.h"
#include "image-bundle.h"
#include "image-layout.h"
#include "image.h"
#include "log.h"

struct predict_images {
        size_t n_dirs;
        char *names[CONFIG_IMAGES_MAX], *dirs[CONFIG_IMAGES_MAX];
        /* per config image: the layout as read (its index in config->images) */
        struct image_meta metas[CONFIG_IMAGES_MAX];
        bool loaded[CONFIG_IMAGES_MAX];
};

static int ensure(struct predict_images **pi) {
        if (*pi)
                return 0;
        *pi = calloc(1, sizeof(**pi));
        if (!*pi)
                return -ENOMEM;
        for (size_t i = 0; i < CONFIG_IMAGES_MAX; i++)
                (*pi)->metas[i].layout_fd = -EBADF;
        return 0;
}

int predict_image_layout_arg(struct predict_images **pi, const char *arg) {
        const char *eq = strchr(arg, '=');

        if (!eq || eq == arg || !eq[1])
                return usage_error("predict", "--image-layout: expected NAME=DIR");
        if (ensure(pi) < 0)
                return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
        if ((*pi)->n_dirs >= CONFIG_IMAGES_MAX)
                return usage_error("predict", "--image-layout: at most %u", CONFIG_IMAGES_MAX);
        (*pi)->names[(*pi)->n_dirs] = strndup(arg, (size_t) (eq - arg));
        (*pi)->dirs[(*pi)->n_dirs] = strdup(eq + 1);
        if (!(*pi)->names[(*pi)->n_dirs] || !(*pi)->dirs[(*pi)->n_dirs])
                return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
        (*pi)->n_dirs++;
        return -1;
}

int predict_images_check(struct predict_images **pi, const struct config *c) {
        if (ensure(pi) < 0)
                return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
        for (size_t i = 0; i < (*pi)->n_dirs; i++) {
                bool known = false;
                for (size_t k = 0; k < c->n_images && !known; k++)
                        known = strcmp(c->images[k].name, (*pi)->names[i]) == 0;
                if (!known)
                        return usage_error("predict", "--image-layout: the config has no image \"%s\"", (*pi)->names[i]);
        }
        return EXIT_OK;
}

static const char *layout_of(const struct predict_images *pi, const struct config_image *img) {
        for (size_t i = 0; i < pi->n_dirs; i++)
                if (strcmp(pi->names[i], img->name) == 0)
                        return pi->dirs[i];
        return img->layout;
}

/* Reads image k's layout once: manifest, image config. */
static int load(struct predict_images *pi, const struct config *c, size_t k, errbuf *err) {
        struct image_meta *m = &pi->metas[k];
        int r;

        if (pi->loaded[k])
                return 0;
        r = image_layout_open(layout_of(pi, &c->images[k]), c->images[k].ref, m, err);
        if (r >= 0)
                r = image_layout_load(m, err);
        if (r < 0)
                image_meta_done(m);
        pi->loaded[k] = r >= 0;
        return r;
}

static int add_image(struct predict_images *pi, const struct config *c, size_t k, predict_add_t add, void *userdata) {
        const struct config_image *img = &c->images[k];
        const char *dir = layout_of(pi, img);
        _cleanup_free_ char *esc = escape_untrusted(dir, strlen(dir), 200);
        char pinned[2 * OCI_DIGEST_SIZE + 1];
        bool workload = c->workload.image && strcmp(c->workload.image, img->name) == 0;
        json_t *content = NULL;
        errbuf err = {};
        int r = load(pi, c, k, &err);

        if (r < 0 && (!img->has_expect || workload))
                return log_error_errno(r, "image %s: cannot read the layout %s: %s; without it the %s event cannot be "
                                       "predicted (--image-layout %s=DIR gives a copy)", img->name, esc ?: "?", err.msg,
                                       workload ? "workload" : "image", img->name), exit_code_from_errno(r);
        if (r < 0)
                log_warning("image %s: cannot read the layout %s (%s): predicting its event from the pinned digest.",
                            img->name, esc ?: "?", err.msg);
        r = image_event_content(img, pi->loaded[k] ? pi->metas[k].manifest.digest : img->expect, &content);
        if (r >= 0)
                r = add(userdata, "image", content);
        if (r < 0)
                return log_error_errno(r, "image %s: cannot form its event: %m", img->name), exit_code_from_errno(r);
        if (img->has_expect && pi->loaded[k] && memcmp(pi->metas[k].manifest.digest, img->expect, OCI_DIGEST_SIZE) != 0) {
                hex_encode(img->expect, OCI_DIGEST_SIZE, pinned);
                log_error("image %s: %s has manifest sha256:%s, the config pins sha256:%s: this boot would fail.",
                          img->name, esc ?: "?", pi->metas[k].manifest.hex, pinned);
                return EXIT_MISMATCH;
        }
        return EXIT_OK;
}

int predict_images_add(struct predict_images *pi, const struct config *c, bool post_key, predict_add_t add,
                       void *userdata) {
        int worst = EXIT_OK;

        for (size_t k = 0; pi && k < c->n_images; k++) {
                if (image_post_key(c, &c->images[k]) != post_key)
                        continue;
                int r = add_image(pi, c, k, add, userdata);
                if (r == EXIT_MISMATCH)
                        worst = r;
                else if (r != EXIT_OK)
                        return r;
        }
        return worst;
}

int predict_image_workload(struct predict_images *pi, const struct config *c, json_t **ret) {
        struct image_process p = {};
        errbuf err = {};
        size_t k = 0;
        int r;

        while (k < c->n_images && strcmp(c->images[k].name, c->workload.image) != 0)
                k++;
        if (!pi || k == c->n_images || !pi->loaded[k])
                return log_error_errno(ENOENT, "image %s: its layout was not read.", c->workload.image), EXIT_INPUT;
        r = image_process_resolve(&c->workload, c->images[k].name, pi->metas[k].config, pi->metas[k].manifest.hex, &p,
                                  &err);
        if (r < 0)
                return log_error_errno(r, "%s", err.msg), EXIT_INPUT;
        r = image_workload_event_content(&c->workload, c->images[k].name, &p, ret);
        image_process_done(&p);
        if (r < 0)
                return log_error_errno(r, "Cannot form the workload event: %m"), exit_code_from_errno(r);
        return EXIT_OK;
}

void predict_images_free(struct predict_images *pi) {
        if (!pi)
                return;
        for (size_t i = 0; i < pi->n_dirs; i++) {
                free(pi->names[i]);
                free(pi->dirs[i]);
        }
        for (size_t i = 0; i < CONFIG_IMAGES_MAX; i++)
                image_meta_done(&pi->metas[i]);
        free(pi);
}
