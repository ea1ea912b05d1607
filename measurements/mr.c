/* SPDX-License-Identifier: MIT */
/* Register dispatch and the in-memory backend. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mr.h"

bool mr_has_bank(const struct mr *mr, enum hash_alg bank) {
        for (unsigned i = 0; i < mr->n_banks; i++)
                if (mr->banks[i] == bank)
                        return true;
        return false;
}

int mr_extend(struct mr *mr, const struct digest *digests, unsigned n) {
        if (!mr || !digests || n != mr->n_banks)
                return -EINVAL;
        for (unsigned i = 0; i < n; i++)
                if (digests[i].alg != mr->banks[i])
                        return -EINVAL;
        return mr->ops->extend(mr, digests, n);
}

int mr_read(struct mr *mr, enum hash_alg bank, uint8_t out[static HASH_MAX_SIZE]) {
        if (!mr || !mr_has_bank(mr, bank))
                return -EINVAL;
        return mr->ops->read(mr, bank, out);
}

void mr_free(struct mr *mr) {
        if (!mr)
                return;
        if (mr->ops->free)
                mr->ops->free(mr);
        free(mr);
}

struct mem_values {
        uint8_t v[MR_BANKS_MAX][HASH_MAX_SIZE];
};

static int mem_extend(struct mr *mr, const struct digest *digests, unsigned n) {
        struct mem_values *m = mr->data;

        for (unsigned i = 0; i < n; i++) {
                int r = hash_extend(mr->banks[i], m->v[i], digests[i].d);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int mem_read(struct mr *mr, enum hash_alg bank, uint8_t out[static HASH_MAX_SIZE]) {
        struct mem_values *m = mr->data;

        for (unsigned i = 0; i < mr->n_banks; i++)
                if (mr->banks[i] == bank) {
                        memcpy(out, m->v[i], hash_alg_size(bank));
                        return 0;
                }
        return -EINVAL;
}

static void mem_free(struct mr *mr) {
        free(mr->data);
}

static const struct mr_ops mem_ops = {
        .kind = "mem",
        .extend = mem_extend,
        .read = mem_read,
        .free = mem_free,
};

int mr_open_mem(const char *name, const enum hash_alg *banks, unsigned n_banks, struct mr **ret) {
        _cleanup_(mr_freep) struct mr *mr = NULL;

        if (!name || strlen(name) >= MR_NAME_MAX || n_banks == 0 || n_banks > MR_BANKS_MAX)
                return -EINVAL;
        for (unsigned i = 0; i < n_banks; i++)
                if (hash_alg_size(banks[i]) == 0)
                        return -EINVAL;
        mr = calloc(1, sizeof(*mr));
        if (!mr)
                return -ENOMEM;
        mr->ops = &mem_ops;
        mr->data = calloc(1, sizeof(struct mem_values));
        if (!mr->data)
                return -ENOMEM;
        snprintf(mr->name, sizeof(mr->name), "%s", name);
        mr->n_banks = n_banks;
        memcpy(mr->banks, banks, n_banks * sizeof(*banks));
        *ret = TAKE_PTR(mr);
        return 0;
}
