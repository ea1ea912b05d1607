/* SPDX-License-Identifier: MIT */
/* TDX quote v4, as Intel's DCAP quoting library emits it (Intel TDX DCAP Quote Generation Library
 * and Quote Verification Library API, appendix A "Quote Format", version 4):
 *
 *   header (48)     version 4, attestation key type 2 (ECDSA-256 P-256), TEE type 0x81, 2×u16
 *                   reserved, QE vendor id (Intel's), user data (20)
 *   TD body (584)   TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, SEAMATTRIBUTES, TDATTRIBUTES, XFAM, MRTD,
 *                   MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3, REPORTDATA
 *   u32 length of the signature data, then: ECDSA r‖s over SHA-256(header ‖ body) by the attestation
 *   key (64), the attestation public key x‖y (64), certification data type 6 = { QE report (384,
 *   an SGX report body), its ECDSA signature by the PCK key (64), u16 size + QE auth data,
 *   certification data type 5 = the PEM chain PCK ‖ intermediate ‖ root }.
 *
 * The QE report binds the attestation key: its REPORTDATA is SHA-256(attestation key ‖ QE auth
 * data) followed by 32 zero bytes. Values that a real platform would supply are fixed and copied from
 * the production quote in shared/testdata (docs/tdxsim.md lists them). */
#include "cvm-tdxsim.h"
#include "hashalg.h"

#define CERT_DATA_QE_REPORT 6U
#define CERT_DATA_PCK_CHAIN 5U
#define QE_AUTH_DATA_SIZE 32U

static const uint8_t intel_qe_vendor_id[16] = {
        0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
};

static void put_le16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
}

static void put_le64(uint8_t *p, uint64_t v) {
        for (unsigned i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static int unhex_fixed(const char *hex, uint8_t *out, size_t n) {
        return unhex(hex, 2 * n, out, n) == (int) n ? 0 : -EINVAL;
}

int tdxsim_td_defaults(struct tdxsim_td *td) {
        static const char mrseam[] = "2fd279c16164a93dd5bf373d834328d46008c2b693af9ebb"
                                     "865b08b2ced320c9a89b4869a9fab60fbe9d0c5a5363c656";
        static const char mrtd_seed[] = "cvm-tdxsim MRTD";
        uint8_t h[HASH_MAX_SIZE];
        int r;

        *td = (struct tdxsim_td) {
                .tee_tcb_svn = { 0x03, 0x00, 0x04 },
                .td_attributes = UINT64_C(1) << 30, /* SEPT_VE_DISABLE; DEBUG (bit 0) clear */
                .xfam = 0x61ae7,                    /* x87, SSE, AVX, AVX-512, PK, AMX... as the SPR quote */
        };
        r = unhex_fixed(mrseam, td->mrseam, sizeof(td->mrseam));
        if (r >= 0)
                r = hash_buffer(HASH_SHA384, mrtd_seed, strlen(mrtd_seed), h);
        if (r < 0)
                return r;
        memcpy(td->mrtd, h, TDX_MR_SIZE);
        return 0;
}

static int header(const struct tdxsim_keys *k, uint8_t h[TDX_QUOTE_HEADER_SIZE]) {
        uint8_t d[HASH_MAX_SIZE];
        int r;

        memset(h, 0, TDX_QUOTE_HEADER_SIZE);
        put_le16(h, 4);         /* version */
        put_le16(h + 2, 2);     /* ECDSA-256-with-P-256 */
        h[4] = 0x81;            /* TEE type TDX (u32) */
        memcpy(h + 12, intel_qe_vendor_id, sizeof(intel_qe_vendor_id));
        /* user data: the QE's platform identifier; here derived from the attestation key */
        r = hash_buffer(HASH_SHA256, k->attest_pub, sizeof(k->attest_pub), d);
        if (r < 0)
                return r;
        memcpy(h + 28, d, 16);
        return 0;
}

static void body(const struct tdxsim_td *td, const uint8_t report_data[TDX_REPORT_DATA_SIZE],
                 uint8_t b[TDX_QUOTE_BODY_SIZE]) {
        uint8_t *p = b;

        memcpy(p, td->tee_tcb_svn, 16), p += 16;
        memcpy(p, td->mrseam, TDX_MR_SIZE), p += TDX_MR_SIZE;
        memcpy(p, td->mrsignerseam, TDX_MR_SIZE), p += TDX_MR_SIZE;
        put_le64(p, td->seam_attributes), p += 8;
        put_le64(p, td->td_attributes), p += 8;
        put_le64(p, td->xfam), p += 8;
        memcpy(p, td->mrtd, TDX_MR_SIZE), p += TDX_MR_SIZE;
        memcpy(p, td->mrconfigid, TDX_MR_SIZE), p += TDX_MR_SIZE;
        memcpy(p, td->mrowner, TDX_MR_SIZE), p += TDX_MR_SIZE;
        memcpy(p, td->mrownerconfig, TDX_MR_SIZE), p += TDX_MR_SIZE;
        for (unsigned i = 0; i < TDX_RTMRS; i++)
                memcpy(p, td->rtmr[i], TDX_MR_SIZE), p += TDX_MR_SIZE;
        memcpy(p, report_data, TDX_REPORT_DATA_SIZE);
}

/* The TD quoting enclave's SGX report body (Intel SGX SDK sgx_report_body_t). */
static int qe_report(const struct tdxsim_keys *k, const uint8_t *auth, size_t auth_len, uint8_t q[TDX_QE_REPORT_SIZE]) {
        static const char cpusvn[] = "04040d0f03ff00030000000000000000";
        static const char attributes[] = "1500000000000000e700000000000000";
        static const char mrenclave[] = "853e298f3b7cde28b06493d06fb2ad6f9566a97fea6d3de66236b2af1a35150f";
        static const char mrsigner[] = "dc9e2a7c6f948f17474e34a7fc43ed030f7c1563f1babddf6340c82e0e54a8c5";
        uint8_t bound[64 + QE_AUTH_DATA_SIZE], d[HASH_MAX_SIZE];
        int r;

        memset(q, 0, TDX_QE_REPORT_SIZE);
        r = unhex_fixed(cpusvn, q, 16);
        if (r >= 0)
                r = unhex_fixed(attributes, q + 48, 16);
        if (r >= 0)
                r = unhex_fixed(mrenclave, q + 64, 32);
        if (r >= 0)
                r = unhex_fixed(mrsigner, q + 128, 32);
        if (r < 0)
                return r;
        put_le16(q + 256, 2); /* ISVPRODID: the TD QE */
        put_le16(q + 258, 4); /* ISVSVN */
        memcpy(bound, k->attest_pub, 64);
        memcpy(bound + 64, auth, auth_len);
        r = hash_buffer(HASH_SHA256, bound, 64 + auth_len, d);
        if (r < 0)
                return r;
        memcpy(q + 320, d, 32);
        return 0;
}

static int append_cert_data_header(struct buf *out, uint16_t type, size_t size) {
        int r = buf_append_u16le(out, type);
        return r < 0 ? r : buf_append_u32le(out, (uint32_t) size);
}

/* Certification data type 6: QE report, its signature, QE auth data, and the PCK chain inside. */
static int qe_cert_data(const struct tdxsim_keys *k, struct buf *out) {
        uint8_t auth[QE_AUTH_DATA_SIZE], rep[TDX_QE_REPORT_SIZE], sig[64];
        size_t size = sizeof(rep) + sizeof(sig) + 2 + sizeof(auth) + 6 + k->chain_len;
        int r;

        for (unsigned i = 0; i < sizeof(auth); i++)
                auth[i] = (uint8_t) i; /* as Intel's QE: 00 01 02 ... 1f */
        r = qe_report(k, auth, sizeof(auth), rep);
        if (r >= 0)
                r = tdxsim_sign(k->pck_key, rep, sizeof(rep), sig);
        if (r >= 0)
                r = append_cert_data_header(out, CERT_DATA_QE_REPORT, size);
        if (r >= 0)
                r = buf_append(out, rep, sizeof(rep));
        if (r >= 0)
                r = buf_append(out, sig, sizeof(sig));
        if (r >= 0)
                r = buf_append_u16le(out, sizeof(auth));
        if (r >= 0)
                r = buf_append(out, auth, sizeof(auth));
        if (r >= 0)
                r = append_cert_data_header(out, CERT_DATA_PCK_CHAIN, k->chain_len);
        if (r >= 0)
                r = buf_append(out, k->chain_pem, k->chain_len);
        return r;
}

int tdxsim_quote_render(const struct tdxsim_keys *k, const struct tdxsim_td *td,
                        const uint8_t report_data[TDX_REPORT_DATA_SIZE], struct buf *out) {
        uint8_t signed_part[TDX_QUOTE_HEADER_SIZE + TDX_QUOTE_BODY_SIZE], sig[64];
        struct buf cert = { .max = TDX_QUOTE_MAX };
        size_t saved = out->len;
        int r;

        r = header(k, signed_part);
        if (r < 0)
                return r;
        body(td, report_data, signed_part + TDX_QUOTE_HEADER_SIZE);
        r = tdxsim_sign(k->attest_key, signed_part, sizeof(signed_part), sig);
        if (r >= 0)
                r = qe_cert_data(k, &cert);
        if (r >= 0)
                r = buf_append(out, signed_part, sizeof(signed_part));
        if (r >= 0)
                r = buf_append_u32le(out, (uint32_t) (sizeof(sig) + sizeof(k->attest_pub) + cert.len));
        if (r >= 0)
                r = buf_append(out, sig, sizeof(sig));
        if (r >= 0)
                r = buf_append(out, k->attest_pub, sizeof(k->attest_pub));
        if (r >= 0)
                r = buf_append(out, cert.data, cert.len);
        buf_free(&cert);
        if (r < 0 && out->data) {
                out->len = saved;
                out->data[saved] = 0;
        }
        return r;
}
