/* SPDX-License-Identifier: MIT */
/* The TPM register backend against a fake ESAPI: every Esys_* call (and the TCTI loader) that
 * mr-tpm.c makes is replaced with -Wl,--wrap (see TEST_LDFLAGS_test-mr-tpm in the Makefile). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include "hashalg.h"
#include "mr-tpm.h"
#include "mr.h"

/* ---- the fake TPM ---- */

static struct {
        TSS2_RC tctildr_rc, init_rc, getcap_rc, extend_rc, read_rc;
        char tcti_conf[256];
        TPML_PCR_SELECTION banks;
        TPM2_CAP cap_kind_override; /* nonzero: answer with another capability */
        unsigned tcti_open, esys_open, n_extend, n_read;
        ESYS_TR extend_handle, extend_session;
        TPML_DIGEST_VALUES extended;
        TPML_PCR_SELECTION read_sel;
        TPML_DIGEST read_answer;
} fake;

static char fake_tcti_obj, fake_esys_obj;

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx);
void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx);
TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi);
void __wrap_Esys_Finalize(ESYS_CONTEXT **esys);
TSS2_RC __wrap_Esys_GetCapability(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                  TPM2_CAP cap, UINT32 prop, UINT32 count, TPMI_YES_NO *more,
                                  TPMS_CAPABILITY_DATA **data);
TSS2_RC __wrap_Esys_PCR_Extend(ESYS_CONTEXT *esys, ESYS_TR pcr, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                               const TPML_DIGEST_VALUES *digests);
TSS2_RC __wrap_Esys_PCR_Read(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                             const TPML_PCR_SELECTION *sel, UINT32 *counter,
                             TPML_PCR_SELECTION **sel_out, TPML_DIGEST **values);

TSS2_RC __wrap_Tss2_TctiLdr_Initialize(const char *conf, TSS2_TCTI_CONTEXT **ctx) {
        snprintf(fake.tcti_conf, sizeof(fake.tcti_conf), "%s", conf ? conf : "(null)");
        if (fake.tctildr_rc)
                return fake.tctildr_rc;
        *ctx = (TSS2_TCTI_CONTEXT *) &fake_tcti_obj;
        fake.tcti_open++;
        return TSS2_RC_SUCCESS;
}

void __wrap_Tss2_TctiLdr_Finalize(TSS2_TCTI_CONTEXT **ctx) {
        assert_ptr_equal(*ctx, &fake_tcti_obj);
        assert_int_equal(fake.esys_open, 0); /* ESAPI goes first */
        *ctx = NULL;
        fake.tcti_open--;
}

TSS2_RC __wrap_Esys_Initialize(ESYS_CONTEXT **esys, TSS2_TCTI_CONTEXT *tcti, TSS2_ABI_VERSION *abi) {
        (void) abi;
        assert_ptr_equal(tcti, &fake_tcti_obj);
        if (fake.init_rc)
                return fake.init_rc;
        *esys = (ESYS_CONTEXT *) &fake_esys_obj;
        fake.esys_open++;
        return TSS2_RC_SUCCESS;
}

void __wrap_Esys_Finalize(ESYS_CONTEXT **esys) {
        assert_ptr_equal(*esys, &fake_esys_obj);
        *esys = NULL;
        fake.esys_open--;
}

TSS2_RC __wrap_Esys_GetCapability(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                                  TPM2_CAP cap, UINT32 prop, UINT32 count, TPMI_YES_NO *more,
                                  TPMS_CAPABILITY_DATA **data) {
        TPMS_CAPABILITY_DATA *d;

        assert_ptr_equal(esys, &fake_esys_obj);
        assert_int_equal(s1, ESYS_TR_NONE);
        assert_int_equal(s2, ESYS_TR_NONE);
        assert_int_equal(s3, ESYS_TR_NONE);
        assert_int_equal(cap, TPM2_CAP_PCRS);
        (void) prop;
        (void) count;
        if (fake.getcap_rc)
                return fake.getcap_rc;
        d = calloc(1, sizeof(*d));
        assert_non_null(d);
        d->capability = fake.cap_kind_override ? fake.cap_kind_override : TPM2_CAP_PCRS;
        d->data.assignedPCR = fake.banks;
        *more = TPM2_NO;
        *data = d;
        return TSS2_RC_SUCCESS;
}

TSS2_RC __wrap_Esys_PCR_Extend(ESYS_CONTEXT *esys, ESYS_TR pcr, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                               const TPML_DIGEST_VALUES *digests) {
        assert_ptr_equal(esys, &fake_esys_obj);
        assert_int_equal(s2, ESYS_TR_NONE);
        assert_int_equal(s3, ESYS_TR_NONE);
        fake.n_extend++;
        fake.extend_handle = pcr;
        fake.extend_session = s1;
        fake.extended = *digests;
        return fake.extend_rc;
}

TSS2_RC __wrap_Esys_PCR_Read(ESYS_CONTEXT *esys, ESYS_TR s1, ESYS_TR s2, ESYS_TR s3,
                             const TPML_PCR_SELECTION *sel, UINT32 *counter,
                             TPML_PCR_SELECTION **sel_out, TPML_DIGEST **values) {
        assert_ptr_equal(esys, &fake_esys_obj);
        assert_int_equal(s1, ESYS_TR_NONE);
        assert_int_equal(s2, ESYS_TR_NONE);
        assert_int_equal(s3, ESYS_TR_NONE);
        fake.n_read++;
        fake.read_sel = *sel;
        if (fake.read_rc)
                return fake.read_rc;
        *counter = 1;
        *sel_out = calloc(1, sizeof(**sel_out));
        *values = calloc(1, sizeof(**values));
        assert_non_null(*sel_out);
        assert_non_null(*values);
        **sel_out = *sel;
        **values = fake.read_answer;
        return TSS2_RC_SUCCESS;
}

/* ---- helpers ---- */

static void add_bank(TPM2_ALG_ID alg, uint32_t mask) {
        TPMS_PCR_SELECTION *s = &fake.banks.pcrSelections[fake.banks.count++];

        s->hash = alg;
        s->sizeofSelect = 3;
        s->pcrSelect[0] = mask & 0xff;
        s->pcrSelect[1] = (mask >> 8) & 0xff;
        s->pcrSelect[2] = (mask >> 16) & 0xff;
}

#define ALL_PCRS 0xffffffU

static int setup(void **state) {
        (void) state;
        memset(&fake, 0, sizeof(fake));
        return 0;
}

/* Every context opened was closed again. */
static int teardown(void **state) {
        (void) state;
        assert_int_equal(fake.esys_open, 0);
        assert_int_equal(fake.tcti_open, 0);
        return 0;
}

/* ---- tests ---- */

static void test_banks_discovered(void **state) {
        _cleanup_(mr_freep) struct mr *mr = NULL;

        (void) state;
        add_bank(TPM2_ALG_SHA1, ALL_PCRS);
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        add_bank(TPM2_ALG_SHA384, ALL_PCRS);
        add_bank(TPM2_ALG_SHA512, 0); /* allocated nowhere: inactive */
        assert_int_equal(mr_open_tpm("swtpm:host=127.0.0.1,port=2321", 14, &mr), 0);
        assert_string_equal(fake.tcti_conf, "swtpm:host=127.0.0.1,port=2321");
        assert_string_equal(mr->name, "pcr14");
        assert_string_equal(mr->ops->kind, "tpm");
        assert_int_equal(mr->n_banks, 3);
        assert_int_equal(mr->banks[0], HASH_SHA1);
        assert_int_equal(mr->banks[1], HASH_SHA256);
        assert_int_equal(mr->banks[2], HASH_SHA384);
        assert_false(mr_has_bank(mr, HASH_SHA512));
        assert_int_equal(fake.esys_open, 1);
        mr_free(TAKE_PTR(mr));
}

static void test_default_tcti(void **state) {
        _cleanup_(mr_freep) struct mr *mr = NULL;

        (void) state;
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        assert_int_equal(mr_open_tpm(NULL, 0, &mr), 0);
        assert_string_equal(fake.tcti_conf, MR_TPM_DEFAULT_TCTI);
        assert_string_equal(mr->name, "pcr0");
        mr_free(TAKE_PTR(mr));
        assert_int_equal(mr_open_tpm(NULL, 23, &mr), 0);
        assert_string_equal(mr->name, "pcr23");
}

/* A bank that has PCRs but not ours has no such register: skipped, and nothing is left behind. */
static void test_pcr_not_in_bank(void **state) {
        _cleanup_(mr_freep) struct mr *mr = NULL;

        (void) state;
        add_bank(TPM2_ALG_SHA1, 0x00ffU);   /* PCRs 0-7 only */
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        add_bank(TPM2_ALG_SHA384, 1U << 14); /* only PCR 14 */
        assert_int_equal(mr_open_tpm("x", 14, &mr), 0);
        assert_int_equal(mr->n_banks, 2);
        assert_int_equal(mr->banks[0], HASH_SHA256);
        assert_int_equal(mr->banks[1], HASH_SHA384);
        mr_free(TAKE_PTR(mr));

        assert_int_equal(mr_open_tpm("x", 16, &mr), 0);
        assert_int_equal(mr->n_banks, 1);
        assert_int_equal(mr->banks[0], HASH_SHA256);
        mr_free(TAKE_PTR(mr));

        /* A short selection (sizeofSelect 1) does not reach PCR 14 at all. */
        memset(&fake.banks, 0, sizeof(fake.banks));
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        fake.banks.pcrSelections[0].sizeofSelect = 1;
        assert_int_equal(mr_open_tpm("x", 14, &mr), -ENXIO);
        assert_null(mr);
}

static void test_no_bank_has_pcr(void **state) {
        struct mr *mr = NULL;

        (void) state;
        add_bank(TPM2_ALG_SHA256, 0x00ffU);
        add_bank(TPM2_ALG_SHA384, 0);
        assert_int_equal(mr_open_tpm("x", 14, &mr), -ENXIO);
        assert_null(mr);
        memset(&fake.banks, 0, sizeof(fake.banks));
        assert_int_equal(mr_open_tpm("x", 14, &mr), -ENXIO);
}

static void test_unsupported_bank_refused(void **state) {
        _cleanup_(mr_freep) struct mr *mr = NULL;

        (void) state;
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        add_bank(TPM2_ALG_SHA3_256, ALL_PCRS);
        assert_int_equal(mr_open_tpm("x", 14, &mr), -EOPNOTSUPP);
        assert_null(mr);

        /* Unknown algorithm ids are refused the same way. */
        memset(&fake.banks, 0, sizeof(fake.banks));
        add_bank(0x7777, 1U << 14);
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        assert_int_equal(mr_open_tpm("x", 14, &mr), -EOPNOTSUPP);

        /* ... but not when it is inactive or does not hold our PCR. */
        memset(&fake.banks, 0, sizeof(fake.banks));
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        add_bank(TPM2_ALG_SHA3_256, 0);
        add_bank(TPM2_ALG_SHA3_384, 0x00ffU);
        assert_int_equal(mr_open_tpm("x", 14, &mr), 0);
        assert_int_equal(mr->n_banks, 1);
}

static void test_bad_capability_answers(void **state) {
        struct mr *mr = NULL;

        (void) state;
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        add_bank(TPM2_ALG_SHA256, ALL_PCRS); /* the same bank twice */
        assert_int_equal(mr_open_tpm("x", 14, &mr), -EBADMSG);

        memset(&fake.banks, 0, sizeof(fake.banks));
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        fake.banks.pcrSelections[0].sizeofSelect = TPM2_PCR_SELECT_MAX + 1;
        assert_int_equal(mr_open_tpm("x", 14, &mr), -EBADMSG);

        memset(&fake.banks, 0, sizeof(fake.banks));
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        fake.cap_kind_override = TPM2_CAP_COMMANDS;
        assert_int_equal(mr_open_tpm("x", 14, &mr), -EBADMSG);

        fake.cap_kind_override = 0;
        fake.banks.count = TPM2_NUM_PCR_BANKS + 1;
        assert_int_equal(mr_open_tpm("x", 14, &mr), -EBADMSG);
        assert_null(mr);
}

static void test_bad_arguments(void **state) {
        char long_tcti[2048];
        struct mr *mr = NULL;

        (void) state;
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        memset(long_tcti, 'a', sizeof(long_tcti) - 1);
        long_tcti[sizeof(long_tcti) - 1] = 0;
        assert_int_equal(mr_open_tpm("x", 24, &mr), -EINVAL);
        assert_int_equal(mr_open_tpm("", 14, &mr), -EINVAL);
        assert_int_equal(mr_open_tpm(long_tcti, 14, &mr), -EINVAL);
        assert_int_equal(mr_open_tpm("x", 14, NULL), -EINVAL);
        assert_string_equal(fake.tcti_conf, ""); /* refused before the TCTI loader ran */
        assert_null(mr);
}

/* Failures while connecting close what was opened and come back as errno values. */
static void test_connect_failures(void **state) {
        struct mr *mr = NULL;

        (void) state;
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        fake.tctildr_rc = TSS2_TCTI_RC_IO_ERROR; /* swtpm not listening, no /dev/tpmrm0 */
        assert_int_equal(mr_open_tpm("x", 14, &mr), -ECONNREFUSED);
        fake.tctildr_rc = TSS2_TCTI_RC_NOT_SUPPORTED; /* no libtss2-tcti-NAME.so.0 */
        assert_int_equal(mr_open_tpm("nosuch:", 14, &mr), -ENOPKG);
        fake.tctildr_rc = TSS2_TCTI_RC_BAD_VALUE; /* "swtpm:port=abc" */
        assert_int_equal(mr_open_tpm("swtpm:port=abc", 14, &mr), -EINVAL);
        fake.tctildr_rc = 0;
        fake.init_rc = TSS2_ESYS_RC_MEMORY;
        assert_int_equal(mr_open_tpm("x", 14, &mr), -ENOMEM);
        assert_int_equal(fake.tcti_open, 0);
        fake.init_rc = 0;
        fake.getcap_rc = TPM2_RC_INITIALIZE; /* TPM2_Startup never sent */
        assert_int_equal(mr_open_tpm("x", 14, &mr), -EIO);
        fake.getcap_rc = TPM2_RC_RETRY;
        assert_int_equal(mr_open_tpm("x", 14, &mr), -EAGAIN);
        fake.getcap_rc = TSS2_TCTI_RC_IO_ERROR; /* connection dropped */
        assert_int_equal(mr_open_tpm("x", 14, &mr), -ECONNREFUSED);
        assert_null(mr);
}

static void test_rc_translation(void **state) {
        static const struct {
                TSS2_RC rc;
                int r;
        } table[] = {
                { TSS2_RC_SUCCESS, 0 },
                { TSS2_TCTI_RC_IO_ERROR, -ECONNREFUSED },
                { TSS2_TCTI_RC_NO_CONNECTION, -ECONNREFUSED },
                { TSS2_TCTI_RC_NOT_SUPPORTED, -ENOPKG },
                { TSS2_TCTI_RC_BAD_VALUE, -EINVAL },
                { TSS2_TCTI_RC_TRY_AGAIN, -EAGAIN },
                { TSS2_ESYS_RC_TRY_AGAIN, -EAGAIN },
                { TSS2_ESYS_RC_MEMORY, -ENOMEM },
                { TSS2_ESYS_RC_MALFORMED_RESPONSE, -EBADMSG },
                { TSS2_ESYS_RC_RSP_AUTH_FAILED, -EBADMSG },
                { TSS2_ESYS_RC_NOT_IMPLEMENTED, -EOPNOTSUPP },
                { TSS2_ESYS_RC_BAD_VALUE, -EINVAL },
                { TSS2_SYS_RC_INSUFFICIENT_BUFFER, -ENOBUFS },
                { TSS2_MU_RC_BAD_SIZE, -EINVAL },
                { TSS2_ESYS_RC_GENERAL_FAILURE, -EIO },
                { TSS2_ESYS_RC_IO_ERROR, -EIO },
                { TPM2_RC_RETRY, -EAGAIN },
                { TPM2_RC_YIELDED, -EAGAIN },
                { TPM2_RC_TESTING, -EAGAIN },
                { TPM2_RC_NV_RATE, -EAGAIN },
                { TPM2_RC_LOCALITY, -EPERM },
                { TPM2_RC_LOCKOUT, -EPERM },
                { TPM2_RC_OBJECT_MEMORY, -ENOMEM },
                { TPM2_RC_INITIALIZE, -EIO },
                { TPM2_RC_FAILURE, -EIO },
                { TPM2_RC_AUTH_MISSING, -EPERM },
                { TPM2_RC_COMMAND_CODE, -EOPNOTSUPP },
                /* format 1: the parameter / handle / session number must not matter */
                { TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1, -EPERM },
                { TPM2_RC_AUTH_FAIL | TPM2_RC_S | TPM2_RC_1, -EPERM },
                { TPM2_RC_HASH | TPM2_RC_P | TPM2_RC_1, -EOPNOTSUPP },
                { TPM2_RC_VALUE | TPM2_RC_P | TPM2_RC_2, -EINVAL },
                { TPM2_RC_HANDLE | TPM2_RC_H | TPM2_RC_1, -EINVAL },
                /* a resource manager passing a TPM code through */
                { TSS2_RESMGR_TPM_RC_LAYER | TPM2_RC_RETRY, -EAGAIN },
                { TSS2_RESMGR_TPM_RC_LAYER | TPM2_RC_LOCALITY, -EPERM },
                { TSS2_RESMGR_RC_LAYER | TSS2_BASE_RC_NOT_PERMITTED, -EPERM },
                { 0xdeadbeef, -EIO },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                int r = tpm2_rc_to_errno(table[i].rc, "test");
                if (r != table[i].r)
                        fail_msg("rc 0x%08x: got %d, want %d", (unsigned) table[i].rc, r, table[i].r);
        }
}

static void fill_digests(const struct mr *mr, struct digest *d) {
        for (unsigned i = 0; i < mr->n_banks; i++) {
                d[i].alg = mr->banks[i];
                for (size_t k = 0; k < HASH_MAX_SIZE; k++)
                        d[i].d[k] = (uint8_t) (0x10 * (i + 1) + k);
        }
}

/* One TPM2_PCR_Extend carries a digest for every bank, in bank order, with the right sizes. */
static void test_one_extend_all_banks(void **state) {
        _cleanup_(mr_freep) struct mr *mr = NULL;
        static const TPM2_ALG_ID ids[] = { TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384, TPM2_ALG_SHA512 };
        struct digest d[MR_BANKS_MAX] = {};

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(ids); i++)
                add_bank(ids[i], ALL_PCRS);
        assert_int_equal(mr_open_tpm("x", 16, &mr), 0);
        assert_int_equal(mr->n_banks, 4);
        fill_digests(mr, d);
        assert_int_equal(mr_extend(mr, d, mr->n_banks), 0);
        assert_int_equal(fake.n_extend, 1);
        assert_int_equal(fake.extend_handle, ESYS_TR_PCR0 + 16);
        assert_int_equal(fake.extend_session, ESYS_TR_PASSWORD);
        assert_int_equal(fake.extended.count, 4);
        for (unsigned i = 0; i < 4; i++) {
                size_t size = hash_alg_size(mr->banks[i]);
                const uint8_t *got = (const uint8_t *) &fake.extended.digests[i].digest;
                assert_int_equal(fake.extended.digests[i].hashAlg, ids[i]);
                assert_memory_equal(got, d[i].d, size);
        }

        /* A partial set is refused before the TPM sees anything. */
        assert_int_equal(mr_extend(mr, d, mr->n_banks - 1), -EINVAL);
        d[0].alg = HASH_SHA256;
        assert_int_equal(mr_extend(mr, d, mr->n_banks), -EINVAL);
        assert_int_equal(fake.n_extend, 1);
}

static void test_extend_errors(void **state) {
        _cleanup_(mr_freep) struct mr *mr = NULL;
        struct digest d[MR_BANKS_MAX] = {};

        (void) state;
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        assert_int_equal(mr_open_tpm("x", 17, &mr), 0);
        fill_digests(mr, d);
        fake.extend_rc = TPM2_RC_LOCALITY; /* PCR 17-22 need a higher locality */
        assert_int_equal(mr_extend(mr, d, 1), -EPERM);
        fake.extend_rc = TPM2_RC_RETRY;
        assert_int_equal(mr_extend(mr, d, 1), -EAGAIN);
        fake.extend_rc = TSS2_TCTI_RC_IO_ERROR;
        assert_int_equal(mr_extend(mr, d, 1), -ECONNREFUSED);
        fake.extend_rc = TPM2_RC_BAD_AUTH | TPM2_RC_S | TPM2_RC_1;
        assert_int_equal(mr_extend(mr, d, 1), -EPERM);
}

static void test_read(void **state) {
        _cleanup_(mr_freep) struct mr *mr = NULL;
        uint8_t out[HASH_MAX_SIZE];
        const TPMS_PCR_SELECTION *s;

        (void) state;
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        add_bank(TPM2_ALG_SHA384, ALL_PCRS);
        assert_int_equal(mr_open_tpm("x", 14, &mr), 0);

        fake.read_answer.count = 1;
        fake.read_answer.digests[0].size = 48;
        memset(fake.read_answer.digests[0].buffer, 0xab, 48);
        assert_int_equal(mr_read(mr, HASH_SHA384, out), 0);
        assert_int_equal(fake.n_read, 1);
        assert_int_equal(fake.read_sel.count, 1);
        s = &fake.read_sel.pcrSelections[0];
        assert_int_equal(s->hash, TPM2_ALG_SHA384);
        assert_true(s->sizeofSelect >= 2);
        assert_int_equal(s->pcrSelect[0], 0);
        assert_int_equal(s->pcrSelect[1], 1U << 6);
        assert_memory_equal(out, fake.read_answer.digests[0].buffer, 48);

        /* A digest of the wrong size, or none at all, is not a register value. */
        assert_int_equal(mr_read(mr, HASH_SHA256, out), -EBADMSG);
        fake.read_answer.count = 0;
        assert_int_equal(mr_read(mr, HASH_SHA384, out), -EBADMSG);
        fake.read_rc = TSS2_TCTI_RC_IO_ERROR;
        assert_int_equal(mr_read(mr, HASH_SHA384, out), -ECONNREFUSED);
        /* A bank the register does not have is refused without asking. */
        assert_int_equal(mr_read(mr, HASH_SHA1, out), -EINVAL);
        assert_int_equal(fake.n_read, 4);
}

/* tpm2-tss's own stderr logging is off unless the user asked for it. */
static void test_tss_log_default(void **state) {
        _cleanup_(mr_freep) struct mr *mr = NULL;

        (void) state;
        add_bank(TPM2_ALG_SHA256, ALL_PCRS);
        assert_int_equal(unsetenv("TSS2_LOG"), 0);
        assert_int_equal(mr_open_tpm("x", 14, &mr), 0);
        assert_string_equal(getenv("TSS2_LOG") ?: "", "all+NONE");
        mr_free(TAKE_PTR(mr));
        assert_int_equal(setenv("TSS2_LOG", "all+debug", 1), 0);
        assert_int_equal(mr_open_tpm("x", 14, &mr), 0);
        assert_string_equal(getenv("TSS2_LOG"), "all+debug");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_banks_discovered),    T(test_default_tcti),     T(test_pcr_not_in_bank),
                T(test_no_bank_has_pcr),     T(test_unsupported_bank_refused),
                T(test_bad_capability_answers), T(test_bad_arguments), T(test_connect_failures),
                T(test_rc_translation),      T(test_one_extend_all_banks), T(test_extend_errors),
                T(test_read),                T(test_tss_log_default),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
