/* SPDX-License-Identifier: MIT */
/* The image events of `cvmtool predict` (agent/image.h): each image's layout (the config's path, or
 * a copy given with --image-layout NAME=DIR) is read as cvminit reads it — ref resolved, manifest
 * and image config checked against their digests — but layers are not hashed: they do not change
 * any event. An image whose layout cannot be read is predicted from its `expect` if it has one and
 * is not the workload's image (whose `workload` event needs the image config); otherwise that is
 * an error. Return values are cvmtool exit codes (EXIT_MISMATCH: a manifest that is not the pinned
 * one; the boot would fail). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "config.h"

struct predict_images;

/* --image-layout NAME=DIR; -1 when taken, else an exit code. */
int predict_image_layout_arg(struct predict_images **pi, const char *arg);

/* After the config is parsed: every --image-layout names one of its images. */
int predict_images_check(struct predict_images **pi, const struct config *c);

typedef int (*predict_add_t)(void *userdata, const char *operation, json_t *content);

/* The `image` events of the images measured before the key (post_key false) or after it. */
int predict_images_add(struct predict_images *pi, const struct config *c, bool post_key, predict_add_t add,
                       void *userdata);

/* The `workload` event of an image workload. */
int predict_image_workload(struct predict_images *pi, const struct config *c, json_t **ret);

void predict_images_free(struct predict_images *pi);
