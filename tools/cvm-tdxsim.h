/* SPDX-License-Identifier: MIT */
/* cvm-tdxsim (DESIGN §7, §8; docs/tdxsim.md): a FUSE file system with the kernel's TDX guest
 * interfaces — tsm-mr sysfs RTMRs, configfs-tsm reports, the firmware CCEL — and TDX quotes v4
 * signed by a generated test PCK chain. Modules:
 *   cvm-tdxsim-keys.c   the test PKI (root CA → PCK Platform CA → PCK leaf) and attestation key
 *   cvm-tdxsim-quote.c  the quote (Intel TDX DCAP Quote Library API, appendix "Quote Format" v4)
 *   cvm-tdxsim-ccel.c   the fake firmware event log and its ACPI CCEL table
 *   cvm-tdxsim-state.c  registers and report entries with the kernel's semantics (no FUSE)
 *   cvm-tdxsim-fs.c     the FUSE tree over the state
 *   cvm-tdxsim.c        command line */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "util.h"

#define TDX_MR_SIZE 48U
#define TDX_REPORT_DATA_SIZE 64U
#define TDX_RTMRS 4U

/* ---- keys ---- */

struct tdxsim_keys {
        EVP_PKEY *root_key, *inter_key, *pck_key, *attest_key;
        X509 *root, *inter, *pck;
        char *chain_pem; /* pck ‖ intermediate ‖ root, as embedded in quotes */
        size_t chain_len;
        uint8_t attest_pub[64]; /* raw x ‖ y */
};

/* Loads the PKI from dir (returns 0), or creates it there (returns 1; dir made 0700 if missing)
 * when dir holds none of its files. A partial or inconsistent directory, or a chain that does not
 * verify now, is -EBADMSG with err (which must not be NULL). */
int tdxsim_keys_load_or_create(const char *dir, struct tdxsim_keys *ret, errbuf *err);
void tdxsim_keys_done(struct tdxsim_keys *k);
/* ECDSA P-256 over SHA-256(msg), as r ‖ s (32 bytes each, big-endian). */
int tdxsim_sign(EVP_PKEY *key, const void *msg, size_t n, uint8_t out[64]);

/* ---- quote ---- */

/* The TD's measurements and attributes as they go into a TD quote body. */
struct tdxsim_td {
        uint8_t tee_tcb_svn[16];
        uint8_t mrseam[TDX_MR_SIZE], mrsignerseam[TDX_MR_SIZE];
        uint64_t seam_attributes, td_attributes, xfam;
        uint8_t mrtd[TDX_MR_SIZE], mrconfigid[TDX_MR_SIZE], mrowner[TDX_MR_SIZE], mrownerconfig[TDX_MR_SIZE];
        uint8_t rtmr[TDX_RTMRS][TDX_MR_SIZE];
};

/* Sets every field to the documented defaults (docs/tdxsim.md): MRTD = SHA-384("cvm-tdxsim MRTD"),
 * the MRs of the owner and the RTMRs zero, the rest as in a production quote. */
int tdxsim_td_defaults(struct tdxsim_td *td);

#define TDX_QUOTE_HEADER_SIZE 48U
#define TDX_QUOTE_BODY_SIZE 584U
#define TDX_QE_REPORT_SIZE 384U
#define TDX_QUOTE_MAX 16384U

/* Appends a quote v4 over td with report_data to out. */
int tdxsim_quote_render(const struct tdxsim_keys *k, const struct tdxsim_td *td,
                        const uint8_t report_data[TDX_REPORT_DATA_SIZE], struct buf *out);

/* ---- CCEL ---- */

/* The log area the fake firmware reserves (ACPI CCEL LAML); the log is padded with 0xFF to it. */
#define TDXSIM_CCEL_LAML 65536U
#define TDXSIM_CCEL_LASA 0x7fbf0000ULL

/* Renders the built-in firmware log (Spec ID header and a few SHA-384 events on RTMR0-2),
 * unpadded. */
int tdxsim_ccel_render(struct buf *out);
/* The 56-byte ACPI CCEL table pointing at a log area of laml bytes. */
void tdxsim_ccel_table(uint64_t laml, uint64_t lasa, uint8_t out[56]);
/* Replays a CCEL into RTMR0-3 (CC MR indexes 1-4). Events on MRTD or beyond RTMR3: -EBADMSG. */
int tdxsim_ccel_replay(const uint8_t *p, size_t n, uint8_t rtmr[TDX_RTMRS][TDX_MR_SIZE], errbuf *err);

/* ---- state: the kernel's semantics, without FUSE ---- */

#define TSM_INBLOB_MAX 64U
#define TDXSIM_REPORTS_MAX 64U
#define TDXSIM_PROVIDER "tdx_guest"

struct tdxsim_report {
        char *name;
        unsigned refs;
        bool dead; /* removed by rmdir while still open */
        uint64_t write_generation, read_generation;
        uint8_t inblob[TSM_INBLOB_MAX];
        size_t inblob_len;
        uint8_t *outblob; /* cached until the next write (as tsm_report_read) */
        size_t outblob_len;
        struct tdxsim_report *next;
};

struct tdxsim {
        struct tdxsim_keys keys;
        struct tdxsim_td td;
        uint8_t ccel_table[56];
        uint8_t *ccel_data; /* padded to ccel_data_len */
        size_t ccel_data_len;
        struct tdxsim_report *reports;
        unsigned n_reports;
};

/* Index of an MR file: 0-3 RTMR0-3 (writable), then the read-only ones. */
enum tdxsim_mr { MR_RTMR0, MR_RTMR1, MR_RTMR2, MR_RTMR3, MR_MRTD, MR_MRCONFIGID, MR_MROWNER, MR_MROWNERCONFIG, _MR_MAX };

const uint8_t *tdxsim_mr_value(const struct tdxsim *s, enum tdxsim_mr mr);
/* A write to an MR attribute, as sysfs_kf_bin_write + tm_digest_write: clamped to 48 bytes, a
 * write at offset 0 of at least 48 bytes extends with the first 48 and returns 48; offset >= 48
 * is -EFBIG; anything else -EINVAL. */
ssize_t tdxsim_mr_write(struct tdxsim *s, enum tdxsim_mr mr, const uint8_t *p, size_t n, uint64_t off);

struct tdxsim_report *tdxsim_report_find(struct tdxsim *s, const char *name);
int tdxsim_report_mkdir(struct tdxsim *s, const char *name);
int tdxsim_report_rmdir(struct tdxsim *s, const char *name);
struct tdxsim_report *tdxsim_report_ref(struct tdxsim_report *r);
void tdxsim_report_unref(struct tdxsim_report *r);
/* inblob as configfs commits it at close: -EBUSY as try_advance_write_generation. */
int tdxsim_report_write_inblob(struct tdxsim_report *r, const uint8_t *p, size_t n);
/* outblob: the cached quote if no write since, else a new one (-EINVAL unless inblob is 64 bytes).
 * *ret points into the report. */
int tdxsim_report_outblob(struct tdxsim *s, struct tdxsim_report *r, const uint8_t **ret, size_t *ret_len);
void tdxsim_done(struct tdxsim *s);

/* ---- FUSE ---- */

struct tdxsim_fs_options {
        const char *mountpoint;
        bool foreground, debug;
        const char *fuse_opts; /* -o ..., may be NULL */
};

/* Mounts, serves until unmounted or SIGTERM/SIGINT/SIGHUP, unmounts. Returns 0, or -errno if the
 * mount failed. */
int tdxsim_fs_run(struct tdxsim *s, const struct tdxsim_fs_options *o);
