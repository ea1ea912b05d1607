/* SPDX-License-Identifier: MIT */
/* TDX quote v4/v5 parser (tdx-quote.h; Intel TDX DCAP Quoting Library API A.3, A.4). */
#include <errno.h>
#include <string.h>

#include <openssl/pem.h>

#include "tdx-quote.h"

#define ROOTS_MAX_CERTS 16U

/* A bounded reader: every field is taken from [off, end) or the parse fails naming it. */
struct cur {
        const uint8_t *p;
        size_t off, end;
        errbuf *err;
};

static int take(struct cur *c, size_t size, const char *field, const uint8_t **ret) {
        if (size > c->end - c->off)
                return errbuf_set(c->err, -EBADMSG, "%s: %zu bytes needed at offset %zu, %zu left", field, size,
                                  c->off, c->end - c->off);
        *ret = c->p + c->off;
        c->off += size;
        return 0;
}

static int take_copy(struct cur *c, void *out, size_t size, const char *field) {
        const uint8_t *s = NULL;
        int r = take(c, size, field, &s);
        if (r >= 0)
                memcpy(out, s, size);
        return r;
}

static int take_u16(struct cur *c, const char *field, uint16_t *ret) {
        const uint8_t *s = NULL;
        int r = take(c, 2, field, &s);
        if (r >= 0)
                *ret = (uint16_t) (s[0] | s[1] << 8);
        return r;
}

static int take_u32(struct cur *c, const char *field, uint32_t *ret) {
        const uint8_t *s = NULL;
        int r = take(c, 4, field, &s);
        if (r >= 0)
                *ret = (uint32_t) s[0] | (uint32_t) s[1] << 8 | (uint32_t) s[2] << 16 | (uint32_t) s[3] << 24;
        return r;
}

/* A part of declared length len starting here: sub reads only inside it. */
static int sub_cursor(struct cur *c, uint64_t len, const char *field, struct cur *sub) {
        if (len > c->end - c->off)
                return errbuf_set(c->err, -EBADMSG, "%s: declared length %llu at offset %zu exceeds the %zu bytes left",
                                  field, (unsigned long long) len, c->off, c->end - c->off);
        *sub = (struct cur) { c->p, c->off, c->off + (size_t) len, c->err };
        c->off += (size_t) len;
        return 0;
}

static int sub_done(const struct cur *sub, const char *field) {
        if (sub->off != sub->end)
                return errbuf_set(sub->err, -EBADMSG, "%s: %zu unused bytes at offset %zu (its declared length is larger "
                                  "than its content)", field, sub->end - sub->off, sub->off);
        return 0;
}

static int parse_header(struct cur *c, struct tdx_quote_header *h) {
        int r = take_u16(c, "header.version", &h->version);

        if (r >= 0 && h->version != 4 && h->version != 5)
                return errbuf_set(c->err, -EOPNOTSUPP, "header.version: %u is not supported (only 4 and 5)",
                                  h->version);
        if (r >= 0)
                r = take_u16(c, "header.att_key_type", &h->att_key_type);
        if (r >= 0)
                r = take_u32(c, "header.tee_type", &h->tee_type);
        if (r >= 0)
                r = take_u16(c, "header.qe_svn", &h->qe_svn);
        if (r >= 0)
                r = take_u16(c, "header.pce_svn", &h->pce_svn);
        if (r >= 0)
                r = take_copy(c, h->qe_vendor_id, sizeof(h->qe_vendor_id), "header.qe_vendor_id");
        if (r >= 0)
                r = take_copy(c, h->user_data, sizeof(h->user_data), "header.user_data");
        if (r < 0)
                return r;
        if (h->att_key_type != TDX_QUOTE_KEY_ECDSA_P256)
                return errbuf_set(c->err, -EOPNOTSUPP,
                                  "header.att_key_type at offset 2: %u is not supported (only 2, ECDSA-256-with-P-256)",
                                  h->att_key_type);
        if (h->tee_type != TDX_QUOTE_TEE_TDX)
                return errbuf_set(c->err, -EOPNOTSUPP, "header.tee_type at offset 4: 0x%x is not TDX (0x81)",
                                  h->tee_type);
        return 0;
}

/* The TD report fields, in order, with their sizes. */
static int parse_td_report(struct cur *c, struct tdx_td_report *b) {
        struct {
                void *dst;
                size_t size;
                const char *name;
        } f[] = {
                { b->tee_tcb_svn, 16, "body.tee_tcb_svn" },
                { b->mrseam, TDX_MR_SIZE, "body.mrseam" },
                { b->mrsignerseam, TDX_MR_SIZE, "body.mrsignerseam" },
                { b->seam_attributes, 8, "body.seam_attributes" },
                { b->td_attributes, 8, "body.td_attributes" },
                { b->xfam, 8, "body.xfam" },
                { b->mrtd, TDX_MR_SIZE, "body.mrtd" },
                { b->mrconfigid, TDX_MR_SIZE, "body.mrconfigid" },
                { b->mrowner, TDX_MR_SIZE, "body.mrowner" },
                { b->mrownerconfig, TDX_MR_SIZE, "body.mrownerconfig" },
                { b->rtmr, sizeof(b->rtmr), "body.rtmr0-3" },
                { b->report_data, TDX_REPORT_DATA_SIZE, "body.report_data" },
                { b->tee_tcb_svn2, 16, "body.tee_tcb_svn2" },
                { b->mrservicetd, TDX_MR_SIZE, "body.mrservicetd" },
        };
        size_t n = b->body_type == TDX_BODY_TD_REPORT15 ? ELEMENTSOF(f) : ELEMENTSOF(f) - 2;

        for (size_t i = 0; i < n; i++) {
                int r = take_copy(c, f[i].dst, f[i].size, f[i].name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_body(struct cur *c, struct tdx_quote *q) {
        struct tdx_td_report *b = &q->body;
        size_t at = c->off;
        struct cur sub = {};
        int r;

        if (q->header.version == 4) {
                b->body_type = TDX_BODY_TD_REPORT10;
                b->body_size = TDX_TD_REPORT10_SIZE;
        } else {
                r = take_u16(c, "body_type", &b->body_type);
                if (r >= 0)
                        r = take_u32(c, "body_size", &b->body_size);
                if (r < 0)
                        return r;
                if (b->body_type != TDX_BODY_TD_REPORT10 && b->body_type != TDX_BODY_TD_REPORT15)
                        return errbuf_set(c->err, -EOPNOTSUPP, "body_type at offset %zu: %u is not supported (only 2, "
                                          "TD report 1.0, and 3, TD report 1.5)", at, b->body_type);
                if (b->body_size != (b->body_type == TDX_BODY_TD_REPORT10 ? TDX_TD_REPORT10_SIZE : TDX_TD_REPORT15_SIZE))
                        return errbuf_set(c->err, -EBADMSG, "body_size at offset %zu: %u is wrong for body type %u",
                                          at + 2, b->body_size, b->body_type);
        }
        q->off.body = c->off;
        r = sub_cursor(c, b->body_size, "body", &sub);
        if (r >= 0)
                r = parse_td_report(&sub, b);
        if (r >= 0)
                r = sub_done(&sub, "body");
        return r;
}

static int parse_qe_report(struct cur *c, struct tdx_quote *q) {
        struct tdx_qe_report *e = &q->qe_report;
        const uint8_t *s = NULL;
        int r;

        q->off.qe_report = c->off;
        r = take(c, TDX_QE_REPORT_SIZE, "qe_report", &s);
        if (r < 0)
                return r;
        q->qe_report_raw = s;
        /* SGX report body: cpu_svn 16, misc_select 4, reserved 28, attributes 16, mrenclave 32,
         * reserved 32, mrsigner 32, reserved 96, isv_prod_id 2, isv_svn 2, reserved 60, report_data 64 */
        memcpy(e->cpu_svn, s, 16);
        e->misc_select = (uint32_t) s[16] | (uint32_t) s[17] << 8 | (uint32_t) s[18] << 16 | (uint32_t) s[19] << 24;
        memcpy(e->attributes, s + 48, 16);
        memcpy(e->mrenclave, s + 64, 32);
        memcpy(e->mrsigner, s + 128, 32);
        e->isv_prod_id = (uint16_t) (s[256] | s[257] << 8);
        e->isv_svn = (uint16_t) (s[258] | s[259] << 8);
        memcpy(e->report_data, s + 320, 64);
        q->off.qe_report_sig = c->off;
        return take(c, TDX_ECDSA_SIG_SIZE, "qe_report_signature", &q->qe_report_sig);
}

/* Type 6 data: QE report, its signature, QE auth data, and the nested type 5 PCK chain. */
static int parse_qe_cert_data(struct cur *c, struct tdx_quote *q) {
        const uint8_t *s = NULL;
        uint16_t type;
        int r;

        r = parse_qe_report(c, q);
        if (r < 0)
                return r;
        q->off.qe_auth = c->off;
        r = take_u16(c, "qe_auth_data.size", &q->qe_auth_len);
        if (r >= 0)
                r = take(c, q->qe_auth_len, "qe_auth_data", &q->qe_auth);
        q->off.pck_cert = c->off;
        if (r >= 0)
                r = take_u16(c, "pck_cert_data.type", &type);
        if (r >= 0 && type != TDX_CERT_PCK_CHAIN)
                return errbuf_set(c->err, -EOPNOTSUPP, "pck_cert_data.type at offset %zu: %u is not supported (only 5, "
                                  "the PCK certificate chain)", q->off.pck_cert, type);
        if (r >= 0)
                r = take_u32(c, "pck_cert_data.size", &q->pck_chain_len);
        q->off.pck_chain = c->off;
        if (r >= 0 && q->pck_chain_len == 0)
                return errbuf_set(c->err, -EBADMSG, "pck_cert_data at offset %zu is empty", q->off.pck_chain);
        if (r >= 0)
                r = take(c, q->pck_chain_len, "pck_cert_data", &s);
        if (r >= 0)
                q->pck_chain = (const char *) s;
        return r;
}

static int parse_sig_data(struct cur *c, struct tdx_quote *q) {
        struct cur sd = {}, cd = {};
        uint16_t type;
        int r;

        q->off.sig_len = c->off;
        r = take_u32(c, "signature_data.size", &q->sig_data_len);
        if (r >= 0)
                r = sub_cursor(c, q->sig_data_len, "signature_data", &sd);
        if (r < 0)
                return r;
        q->off.signature = sd.off;
        r = take(&sd, TDX_ECDSA_SIG_SIZE, "quote_signature", &q->signature);
        q->off.att_key = sd.off;
        if (r >= 0)
                r = take(&sd, TDX_ECDSA_KEY_SIZE, "attestation_key", &q->att_key);
        q->off.cert = sd.off;
        if (r >= 0)
                r = take_u16(&sd, "cert_data.type", &type);
        if (r >= 0 && type != TDX_CERT_QE_REPORT)
                return errbuf_set(c->err, -EOPNOTSUPP, "cert_data.type at offset %zu: %u is not supported (only 6, QE "
                                  "report certification data)", q->off.cert, type);
        if (r >= 0)
                r = take_u32(&sd, "cert_data.size", &q->cert_data_len);
        if (r >= 0)
                r = sub_cursor(&sd, q->cert_data_len, "cert_data", &cd);
        if (r >= 0)
                r = parse_qe_cert_data(&cd, q);
        if (r >= 0)
                r = sub_done(&cd, "cert_data");
        if (r >= 0)
                r = sub_done(&sd, "signature_data");
        return r;
}

static int check_trailing(const struct cur *c, unsigned flags, struct tdx_quote *q) {
        q->off.end = c->off;
        q->trailing = c->end - c->off;
        q->trailing_zero = true;
        for (size_t i = c->off; i < c->end; i++)
                if (c->p[i] != 0) {
                        q->trailing_zero = false;
                        if (!(flags & TDX_QUOTE_ALLOW_TRAILING))
                                return errbuf_set(c->err, -EBADMSG, "%zu bytes follow the signature data at offset %zu "
                                                  "and are not zero padding (first non-zero at offset %zu)",
                                                  q->trailing, c->off, i);
                        break;
                }
        return 0;
}

int tdx_quote_parse(const uint8_t *p, size_t n, unsigned flags, struct tdx_quote *ret, errbuf *err) {
        struct cur c = { p, 0, n, err };
        struct tdx_quote q = { .raw = p };
        int r;

        if (n > TDX_QUOTE_MAX)
                return errbuf_set(err, -EFBIG, "quote of %zu bytes exceeds the limit of %u bytes", n, TDX_QUOTE_MAX);
        r = parse_header(&c, &q.header);
        if (r >= 0)
                r = parse_body(&c, &q);
        if (r < 0)
                return r;
        q.signed_len = c.off;
        r = parse_sig_data(&c, &q);
        if (r >= 0)
                r = check_trailing(&c, flags, &q);
        if (r < 0)
                return r;
        *ret = q;
        return 0;
}

static void x509_stack_freep(STACK_OF(X509) **s) {
        sk_X509_pop_free(*s, X509_free);
}

static void x509_store_freep(X509_STORE **s) {
        X509_STORE_free(*s);
}

static bool all_space(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
                        return false;
        return true;
}

/* Splits PEM text into CERTIFICATE blocks, each decoded on its own; only whitespace between them
 * (and NULs at the end, as Intel's chain carries one). */
static int pem_certs(const char *s, size_t n, unsigned max, const char *what, STACK_OF(X509) **ret, errbuf *err) {
        static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = sk_X509_new_null();
        size_t off = 0, tail = n;

        if (!certs)
                return errbuf_set(err, -ENOMEM, "out of memory");
        while (tail > 0 && s[tail - 1] == 0)
                tail--;
        while (off < tail) {
                const char *b = memmem(s + off, tail - off, begin, sizeof(begin) - 1), *e;
                if (!b && all_space(s + off, tail - off))
                        break;
                if (!b || !all_space(s + off, (size_t) (b - s) - off))
                        return errbuf_set(err, -EBADMSG, "%s: text other than PEM certificates at byte %zu", what, off);
                e = memmem(b, tail - (size_t) (b - s), end, sizeof(end) - 1);
                if (!e)
                        return errbuf_set(err, -EBADMSG, "%s: certificate at byte %zu has no END line", what,
                                          (size_t) (b - s));
                if (sk_X509_num(certs) >= (int) max)
                        return errbuf_set(err, -EBADMSG, "%s: more than %u certificates", what, max);
                size_t len = (size_t) (e - b) + sizeof(end) - 1;
                BIO *bio = BIO_new_mem_buf(b, (int) len);
                X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
                BIO_free(bio);
                if (!x)
                        return errbuf_set(err, bio ? -EBADMSG : -ENOMEM, "%s: certificate %d at byte %zu does not decode",
                                          what, sk_X509_num(certs) + 1, (size_t) (b - s));
                if (!sk_X509_push(certs, x))
                        return X509_free(x), errbuf_set(err, -ENOMEM, "out of memory");
                off = (size_t) (b - s) + len;
        }
        if (sk_X509_num(certs) == 0)
                return errbuf_set(err, -EBADMSG, "%s: no certificate", what);
        *ret = TAKE_PTR(certs);
        return 0;
}

int tdx_pck_chain_certs(const struct tdx_quote *q, STACK_OF(X509) **ret, errbuf *err) {
        return pem_certs(q->pck_chain, q->pck_chain_len, TDX_PCK_CHAIN_MAX_CERTS, "pck_cert_data", ret, err);
}

int tdx_roots_from_pem(const uint8_t *pem, size_t n, X509_STORE **ret, errbuf *err) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(x509_store_freep) X509_STORE *store = NULL;
        int r;

        if (n > TDX_ROOTS_PEM_MAX)
                return errbuf_set(err, -EFBIG, "roots: %zu bytes exceed the limit of %u", n, TDX_ROOTS_PEM_MAX);
        r = pem_certs((const char *) pem, n, ROOTS_MAX_CERTS, "roots", &certs, err);
        if (r < 0)
                return r;
        store = X509_STORE_new();
        if (!store)
                return errbuf_set(err, -ENOMEM, "out of memory");
        for (int i = 0; i < sk_X509_num(certs); i++)
                if (X509_STORE_add_cert(store, sk_X509_value(certs, i)) != 1)
                        return errbuf_set(err, -ENOMEM, "cannot add root %d", i + 1);
        *ret = TAKE_PTR(store);
        return 0;
}
