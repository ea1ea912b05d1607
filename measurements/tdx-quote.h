/* SPDX-License-Identifier: MIT */
/* Intel TDX quotes, versions 4 and 5 (Intel TDX DCAP Quoting Library API, appendix A.3 "Version 4
 * Quote Format" and A.4 "Version 5 Quote Format"; docs/tdx.md), parsed strictly and verified up to
 * a trusted root (DESIGN §2, §4):
 *
 *   v4 = header(48) || TD report 1.0 (584)                       || u32 sig_len || signature data
 *   v5 = header(48) || u16 body_type || u32 body_size || body     || u32 sig_len || signature data
 *        body_type 2 = TD report 1.0 (584 bytes), 3 = TD report 1.5 (648: + TEE_TCB_SVN2, MRSERVICETD)
 *   signature data = ECDSA-P256 signature r||s (64) || attestation key x||y (64) ||
 *                    u16 type 6 || u32 size || QE report certification data
 *   QE report certification data = QE report (SGX report body, 384) || its signature r||s (64) ||
 *                    u16 auth_len || QE auth data || u16 type 5 || u32 size || PCK chain (PEM)
 *
 * The signed region is everything before sig_len. Parsing checks every length, refuses other
 * versions, TEE types (TDX only), key types and certification data types (-EOPNOTSUPP), and
 * anything malformed (-EBADMSG), with the field and byte offset in errbuf. Bytes after the
 * signature data are refused unless they are all zero (the padding of a fixed-size quote buffer)
 * or the caller passes TDX_QUOTE_ALLOW_TRAILING; either way they are not covered by any signature.
 *
 * Verification is five named checks (struct tdx_verify_result); the TCB status from Intel's
 * collateral (TCB info, QE identity, CRLs) is NOT evaluated here. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "util.h"

#define TDX_QUOTE_MAX (64U * 1024U)
#define TDX_QUOTE_HEADER_SIZE 48U
#define TDX_TD_REPORT10_SIZE 584U
#define TDX_TD_REPORT15_SIZE 648U
#define TDX_QE_REPORT_SIZE 384U
#define TDX_MR_SIZE 48U
#define TDX_REPORT_DATA_SIZE 64U
#define TDX_ECDSA_SIG_SIZE 64U
#define TDX_ECDSA_KEY_SIZE 64U
/* Certificates in the PCK chain (leaf, intermediate, root: Intel sends 3). */
#define TDX_PCK_CHAIN_MAX_CERTS 4U
#define TDX_ROOTS_PEM_MAX (64U * 1024U)

#define TDX_QUOTE_TEE_TDX 0x81U
#define TDX_QUOTE_KEY_ECDSA_P256 2U
#define TDX_BODY_TD_REPORT10 2U
#define TDX_BODY_TD_REPORT15 3U
#define TDX_CERT_PCK_CHAIN 5U
#define TDX_CERT_QE_REPORT 6U

/* Parse flags. */
#define TDX_QUOTE_ALLOW_TRAILING 0x1U /* accept non-zero bytes after the signature data */

struct tdx_quote_header {
        uint16_t version, att_key_type;
        uint32_t tee_type;
        uint16_t qe_svn, pce_svn; /* "reserved" in the TDX spec; Intel's QVL names them so */
        uint8_t qe_vendor_id[16];
        uint8_t user_data[20];
};

/* TD report 1.0, and for body type 3 the two fields of 1.5. */
struct tdx_td_report {
        uint16_t body_type; /* 2 for v4 quotes */
        uint32_t body_size;
        uint8_t tee_tcb_svn[16];
        uint8_t mrseam[TDX_MR_SIZE], mrsignerseam[TDX_MR_SIZE];
        uint8_t seam_attributes[8], td_attributes[8], xfam[8];
        uint8_t mrtd[TDX_MR_SIZE], mrconfigid[TDX_MR_SIZE], mrowner[TDX_MR_SIZE], mrownerconfig[TDX_MR_SIZE];
        uint8_t rtmr[4][TDX_MR_SIZE];
        uint8_t report_data[TDX_REPORT_DATA_SIZE];
        uint8_t tee_tcb_svn2[16];          /* body type 3 only, else zero */
        uint8_t mrservicetd[TDX_MR_SIZE];  /* body type 3 only, else zero */
};

/* The QE's SGX report body (SGX enclave report without key id and MAC). */
struct tdx_qe_report {
        uint8_t cpu_svn[16];
        uint32_t misc_select;
        uint8_t attributes[16];
        uint8_t mrenclave[32], mrsigner[32];
        uint16_t isv_prod_id, isv_svn;
        uint8_t report_data[64];
};

/* Byte offsets of the parts in the input, for messages and for tests that alter one part. */
struct tdx_quote_offsets {
        size_t body, sig_len, signature, att_key, cert, qe_report, qe_report_sig, qe_auth, pck_cert, pck_chain,
                end;
};

/* Pointers refer into the caller's buffer, which must outlive the struct. */
struct tdx_quote {
        struct tdx_quote_header header;
        struct tdx_td_report body;
        struct tdx_quote_offsets off;
        const uint8_t *raw;
        size_t signed_len;      /* header and body: what the attestation key signs */
        uint32_t sig_data_len;
        const uint8_t *signature;       /* 64 bytes r||s, big-endian each */
        const uint8_t *att_key;         /* 64 bytes x||y */
        uint32_t cert_data_len;         /* of the type 6 data */
        const uint8_t *qe_report_raw;   /* 384 bytes, what the PCK key signs */
        struct tdx_qe_report qe_report;
        const uint8_t *qe_report_sig;   /* 64 bytes r||s */
        const uint8_t *qe_auth;
        uint16_t qe_auth_len;
        const char *pck_chain;          /* PEM, not NUL-terminated */
        uint32_t pck_chain_len;
        size_t trailing;                /* bytes after the signature data */
        bool trailing_zero;
};

int tdx_quote_parse(const uint8_t *p, size_t n, unsigned flags, struct tdx_quote *ret, errbuf *err);

/* The certificates of the PCK chain, in order (leaf first): 1..TDX_PCK_CHAIN_MAX_CERTS PEM
 * CERTIFICATE blocks with only whitespace (and trailing NULs) around them. -EBADMSG otherwise. */
int tdx_pck_chain_certs(const struct tdx_quote *q, STACK_OF(X509) **ret, errbuf *err);

/* Trusted roots from PEM text (1..16 CERTIFICATE blocks). -EBADMSG for anything else. */
int tdx_roots_from_pem(const uint8_t *pem, size_t n, X509_STORE **ret, errbuf *err);

enum tdx_check {
        TDX_CHECK_QUOTE_SIGNATURE,   /* header+body signed by the attestation key */
        TDX_CHECK_QE_REPORT_BINDING, /* QE report_data = SHA-256(att key || QE auth data) || 32 zeros */
        TDX_CHECK_QE_REPORT_SIGNATURE, /* QE report signed by the PCK leaf's key */
        TDX_CHECK_PCK_CHAIN,         /* leaf -> intermediate -> a trusted root, valid at the time */
        TDX_CHECK_REPORT_DATA,       /* equals the expected report_data (if one is given) */
        _TDX_CHECK_MAX,
};

enum tdx_check_state {
        TDX_CHECK_SKIPPED, /* not asked for (report_data without an expected value) */
        TDX_CHECK_OK,
        TDX_CHECK_FAILED,
};

struct tdx_check_result {
        enum tdx_check_state state;
        char reason[256]; /* why it failed, or what was checked */
};

struct tdx_verify_result {
        struct tdx_check_result checks[_TDX_CHECK_MAX];
        bool ok; /* every check OK or skipped */
        /* When pck-chain is OK: the trusted root the chain ended in, as SHA-256 of its DER (how a
         * policy names roots, policy.h). */
        bool has_root;
        uint8_t root_sha256[32];
};

struct tdx_verify_opts {
        X509_STORE *roots;                 /* trusted roots (required) */
        time_t at;                         /* validity time; 0 = now */
        const uint8_t *report_data;        /* TDX_REPORT_DATA_SIZE bytes, or NULL */
};

/* The statement every report of a verification must carry. */
#define TDX_VERIFY_NOT_EVALUATED \
        "TCB status from Intel collateral (TCB info, QE identity, PCK CRLs) is NOT evaluated"

/* "quote-signature", "qe-report-binding", "qe-report-signature", "pck-chain", "report-data". */
const char *tdx_check_name(enum tdx_check c);

/* Runs every check (one failing does not stop the others) and fills ret. Returns 0 when the checks
 * ran (ret->ok says the verdict), -ENOMEM or -EINVAL (no roots) if they could not. */
int tdx_quote_verify(const struct tdx_quote *q, const struct tdx_verify_opts *o, struct tdx_verify_result *ret);
