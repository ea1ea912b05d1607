/* SPDX-License-Identifier: MIT */
/* Measurement registers (DESIGN §2): one interface, several backends. A register has a name as it
 * appears in the log's "mr" field ("pcr14", "rtmr3") and one or more banks (hash algorithms); an
 * extend carries one digest per bank, in the order of mr->banks, so no bank is ever left behind.
 *
 * Backends: "tpm" (tpm2-tss ESAPI, mr-tpm.c), "mem" (in-process values, for tests and offline
 * prediction); "tdx" (RTMR3 via sysfs / configfs-tsm) fits the same table. */
#pragma once

#include <stdbool.h>

#include "cleanup.h"
#include "hashalg.h"

#define MR_BANKS_MAX 8
#define MR_NAME_MAX 16
#define MR_TPM_DEFAULT_PCR 14U
#define MR_TPM_DEFAULT_TCTI "device:/dev/tpmrm0"

struct mr;

struct mr_ops {
        const char *kind;
        /* digests[i] is for banks[i]; all banks are extended or the call fails. */
        int (*extend)(struct mr *mr, const struct digest *digests, unsigned n);
        int (*read)(struct mr *mr, enum hash_alg bank, uint8_t out[static HASH_MAX_SIZE]);
        void (*free)(struct mr *mr);
};

struct mr {
        const struct mr_ops *ops;
        char name[MR_NAME_MAX];
        unsigned n_banks;
        enum hash_alg banks[MR_BANKS_MAX];
        void *data;
};

/* TPM backend: tcti as tpm2-tss's tctildr takes it ("device:/dev/tpmrm0", "swtpm:host=..,port=..");
 * NULL = MR_TPM_DEFAULT_TCTI. Queries the active PCR banks; -EOPNOTSUPP if one uses an algorithm we
 * cannot compute (we would otherwise leave that bank unextended). */
int mr_open_tpm(const char *tcti, unsigned pcr, struct mr **ret);
/* In-memory register starting at zero, e.g. name "pcr14" with banks sha256+sha384. */
int mr_open_mem(const char *name, const enum hash_alg *banks, unsigned n_banks, struct mr **ret);

/* Checks that digests cover exactly the register's banks, then extends. */
int mr_extend(struct mr *mr, const struct digest *digests, unsigned n);
int mr_read(struct mr *mr, enum hash_alg bank, uint8_t out[static HASH_MAX_SIZE]);
bool mr_has_bank(const struct mr *mr, enum hash_alg bank);
void mr_free(struct mr *mr);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct mr *, mr_free);
