/* SPDX-License-Identifier: MIT */
/* cvm-tdxsim's test PKI, shaped like Intel's PCK chain (Intel SGX PCK Certificate and CRL Profile):
 * a self-signed root CA, a "PCK Platform CA" under it (pathlen 0), a PCK leaf certificate with the
 * SGX extensions (OID 1.2.840.113741.1.13.1: PPID, TCB, PCE-ID, FMSPC, SGX type, platform instance,
 * configuration), all ECDSA P-256 / SHA-256, plus the QE's attestation key. Made once into a key
 * directory and reused, so a broker can trust DIR/root.pem across runs. Names keep Intel's CNs
 * (verifiers look at them) with O = "cvm-tdxsim test chain (NOT Intel)". */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cvm-tdxsim.h"
#include "hashalg.h"

#define PEM_MAX (64U << 10)
#define ORG "cvm-tdxsim test chain (NOT Intel)"
#define DAY 86400L

enum { F_ROOT_KEY, F_ROOT, F_INTER_KEY, F_INTER, F_PCK_KEY, F_PCK, F_ATTEST_KEY, _F_MAX };
static const char *const file_names[_F_MAX] = {
        "root.key", "root.pem", "intermediate.key", "intermediate.pem", "pck.key", "pck.pem", "attestation.key",
};

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(STACK_OF(X509) *, sk_X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);

int tdxsim_sign(EVP_PKEY *key, const void *msg, size_t n, uint8_t out[64]) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        uint8_t der[128];
        const uint8_t *p = der;
        const BIGNUM *r, *s;
        size_t len = sizeof(der);

        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
            EVP_DigestSign(ctx, der, &len, msg, n) != 1)
                return -EIO;
        sig = d2i_ECDSA_SIG(NULL, &p, (long) len);
        if (!sig)
                return -EIO;
        ECDSA_SIG_get0(sig, &r, &s);
        if (BN_bn2binpad(r, out, 32) != 32 || BN_bn2binpad(s, out + 32, 32) != 32)
                return -EIO;
        return 0;
}

/* The uncompressed point 04 ‖ x ‖ y, without the 04. */
static int raw_public_key(EVP_PKEY *key, uint8_t out[64]) {
        uint8_t p[65];
        size_t n = 0;

        if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, p, sizeof(p), &n) != 1 ||
            n != sizeof(p) || p[0] != 0x04)
                return -EIO;
        memcpy(out, p + 1, 64);
        return 0;
}

static bool is_p256(EVP_PKEY *key) {
        char group[32];

        return EVP_PKEY_is_a(key, "EC") &&
               EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) == 1 && strcmp(group, "prime256v1") == 0;
}

/* ---- DER for the SGX extension ---- */

static int der(struct buf *out, uint8_t tag, const void *p, size_t n) {
        uint8_t h[4] = { tag };
        size_t k = 2;

        if (n < 0x80)
                h[1] = (uint8_t) n;
        else if (n < 0x100)
                h[1] = 0x81, h[2] = (uint8_t) n, k = 3;
        else if (n < 0x10000)
                h[1] = 0x82, h[2] = (uint8_t) (n >> 8), h[3] = (uint8_t) n, k = 4;
        else
                return -E2BIG;
        int r = buf_append(out, h, k);
        return r < 0 ? r : buf_append(out, p, n);
}

/* SEQUENCE { OID 1.2.840.113741.1.13.1.<arc>, value } */
static int sgx_item(struct buf *out, const uint8_t *arc, size_t n_arc, uint8_t tag, const void *v, size_t n) {
        static const uint8_t base[] = { 0x2a, 0x86, 0x48, 0x86, 0xf8, 0x4d, 0x01, 0x0d, 0x01 };
        uint8_t oid[sizeof(base) + 2];
        struct buf item = {};
        int r;

        memcpy(oid, base, sizeof(base));
        memcpy(oid + sizeof(base), arc, n_arc);
        r = der(&item, 0x06, oid, sizeof(base) + n_arc);
        if (r >= 0)
                r = der(&item, tag, v, n);
        if (r >= 0)
                r = der(out, 0x30, item.data, item.len);
        buf_free(&item);
        return r;
}

/* TCB of the Sapphire Rapids PCK in shared/testdata: 16 SGX TCB components, PCESVN, CPUSVN. */
static int sgx_tcb(struct buf *out) {
        static const uint8_t comps[16] = { 3, 3, 2, 2, 2, 1, 0, 2 };
        static const uint8_t cpusvn[16] = { 3, 3, 2, 2, 2, 1, 0, 2 };
        const uint8_t pcesvn = 11;
        struct buf tcb = {};
        int r = 0;

        for (uint8_t i = 0; i < 16 && r >= 0; i++)
                r = sgx_item(&tcb, (const uint8_t[]) { 2, (uint8_t) (i + 1) }, 2, 0x02, &comps[i], 1);
        if (r >= 0)
                r = sgx_item(&tcb, (const uint8_t[]) { 2, 17 }, 2, 0x02, &pcesvn, 1);
        if (r >= 0)
                r = sgx_item(&tcb, (const uint8_t[]) { 2, 18 }, 2, 0x04, cpusvn, sizeof(cpusvn));
        if (r >= 0)
                r = sgx_item(out, (const uint8_t[]) { 2 }, 1, 0x30, tcb.data, tcb.len);
        buf_free(&tcb);
        return r;
}

static int sgx_extension_der(EVP_PKEY *pck, struct buf *out) {
        static const uint8_t pceid[2] = {}, fmspc[6] = { 0x50, 0x80, 0x6f, 0x00, 0x00, 0x00 };
        static const uint8_t scalable = 1, yes = 0xff, no = 0;
        uint8_t pub[64], h[HASH_MAX_SIZE];
        struct buf items = {}, conf = {};
        int r;

        /* PPID and platform instance id: stable for the key, distinct per key directory. */
        r = raw_public_key(pck, pub);
        if (r >= 0)
                r = hash_buffer(HASH_SHA256, pub, sizeof(pub), h);
        if (r >= 0)
                r = sgx_item(&items, (const uint8_t[]) { 1 }, 1, 0x04, h, 16);
        if (r >= 0)
                r = sgx_tcb(&items);
        if (r >= 0)
                r = sgx_item(&items, (const uint8_t[]) { 3 }, 1, 0x04, pceid, sizeof(pceid));
        if (r >= 0)
                r = sgx_item(&items, (const uint8_t[]) { 4 }, 1, 0x04, fmspc, sizeof(fmspc));
        if (r >= 0)
                r = sgx_item(&items, (const uint8_t[]) { 5 }, 1, 0x0a, &scalable, 1);
        if (r >= 0)
                r = sgx_item(&items, (const uint8_t[]) { 6 }, 1, 0x04, h + 16, 16);
        if (r >= 0)
                r = sgx_item(&conf, (const uint8_t[]) { 7, 1 }, 2, 0x01, &yes, 1);
        if (r >= 0)
                r = sgx_item(&conf, (const uint8_t[]) { 7, 2 }, 2, 0x01, &no, 1);
        if (r >= 0)
                r = sgx_item(&conf, (const uint8_t[]) { 7, 3 }, 2, 0x01, &yes, 1);
        if (r >= 0)
                r = sgx_item(&items, (const uint8_t[]) { 7 }, 1, 0x30, conf.data, conf.len);
        if (r >= 0)
                r = der(out, 0x30, items.data, items.len);
        buf_free(&items);
        buf_free(&conf);
        return r;
}

static int add_sgx_extension(X509 *cert, EVP_PKEY *pck) {
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = OBJ_txt2obj("1.2.840.113741.1.13.1", 1);
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
        struct buf d = {};
        int r;

        if (!obj || !os)
                return -ENOMEM;
        r = sgx_extension_der(pck, &d);
        if (r >= 0 && ASN1_OCTET_STRING_set(os, (const unsigned char *) d.data, (int) d.len) != 1)
                r = -ENOMEM;
        buf_free(&d);
        if (r < 0)
                return r;
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
        return ext && X509_add_ext(cert, ext, -1) == 1 ? 0 : -ENOMEM;
}

/* ---- certificates ---- */

struct cert_spec {
        const char *cn;
        EVP_PKEY *key;        /* the subject's */
        X509 *issuer;         /* NULL: self-signed */
        EVP_PKEY *issuer_key; /* NULL: key */
        long days;            /* lifetime from now; valid since a year ago */
        int pathlen;          /* -1: not a CA */
};

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
        X509V3_CTX ctx;

        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        return ext && X509_add_ext(cert, ext, -1) == 1 ? 0 : -EIO;
}

static int set_name(X509 *cert, const char *cn, bool subject) {
        X509_NAME *name = subject ? X509_get_subject_name(cert) : X509_get_issuer_name(cert);

        if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0) != 1 ||
            X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *) ORG, -1, -1, 0) != 1)
                return -ENOMEM;
        return 0;
}

static int set_serial_and_validity(X509 *cert, long days) {
        _cleanup_(BN_freep) BIGNUM *bn = BN_new();

        if (!bn || BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
            !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)))
                return -ENOMEM;
        if (!X509_gmtime_adj(X509_getm_notBefore(cert), -365 * DAY) ||
            !X509_time_adj_ex(X509_getm_notAfter(cert), (int) days, 0, NULL))
                return -EIO;
        return 0;
}

static int add_extensions(X509 *cert, X509 *issuer, const struct cert_spec *c) {
        char bc[48];
        int r;

        if (c->pathlen >= 0)
                snprintf(bc, sizeof(bc), "critical,CA:TRUE,pathlen:%d", c->pathlen);
        else
                snprintf(bc, sizeof(bc), "critical,CA:FALSE");
        r = add_ext(cert, issuer, NID_subject_key_identifier, "hash");
        if (r >= 0)
                r = add_ext(cert, issuer, NID_authority_key_identifier, "keyid:always");
        if (r >= 0)
                r = add_ext(cert, issuer, NID_key_usage,
                            c->pathlen >= 0 ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature,nonRepudiation");
        if (r >= 0)
                r = add_ext(cert, issuer, NID_basic_constraints, bc);
        if (r >= 0 && c->pathlen < 0)
                r = add_sgx_extension(cert, c->key);
        return r;
}

static int make_cert(const struct cert_spec *c, X509 **ret) {
        X509 *cert = X509_new();
        X509 *issuer;
        int r;

        if (!cert)
                return -ENOMEM;
        issuer = c->issuer ?: cert;
        r = X509_set_version(cert, X509_VERSION_3) == 1 && X509_set_pubkey(cert, c->key) == 1 ? 0 : -ENOMEM;
        if (r >= 0)
                r = set_serial_and_validity(cert, c->days);
        if (r >= 0)
                r = set_name(cert, c->cn, true);
        if (r >= 0)
                r = c->issuer ? (X509_set_issuer_name(cert, X509_get_subject_name(c->issuer)) == 1 ? 0 : -ENOMEM)
                              : set_name(cert, c->cn, false);
        if (r >= 0)
                r = add_extensions(cert, issuer, c);
        if (r >= 0 && X509_sign(cert, c->issuer_key ?: c->key, EVP_sha256()) <= 0)
                r = -EIO;
        if (r < 0) {
                X509_free(cert);
                return r;
        }
        *ret = cert;
        return 0;
}

static int generate(struct tdxsim_keys *k) {
        int r;

        k->root_key = EVP_EC_gen("P-256");
        k->inter_key = EVP_EC_gen("P-256");
        k->pck_key = EVP_EC_gen("P-256");
        k->attest_key = EVP_EC_gen("P-256");
        if (!k->root_key || !k->inter_key || !k->pck_key || !k->attest_key)
                return -EIO;
        r = make_cert(&(struct cert_spec) { .cn = "Intel SGX Root CA", .key = k->root_key, .days = 20 * 365,
                                            .pathlen = 1 },
                      &k->root);
        if (r >= 0)
                r = make_cert(&(struct cert_spec) { .cn = "Intel SGX PCK Platform CA", .key = k->inter_key,
                                                    .issuer = k->root, .issuer_key = k->root_key,
                                                    .days = 15 * 365, .pathlen = 0 },
                              &k->inter);
        if (r >= 0)
                r = make_cert(&(struct cert_spec) { .cn = "Intel SGX PCK Certificate", .key = k->pck_key,
                                                    .issuer = k->inter, .issuer_key = k->inter_key,
                                                    .days = 10 * 365, .pathlen = -1 },
                              &k->pck);
        return r;
}

/* ---- files ---- */

static int to_pem(bool is_key, void *obj, struct buf *out) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        char *p;
        long n;

        if (!b)
                return -ENOMEM;
        if ((is_key ? PEM_write_bio_PrivateKey(b, obj, NULL, NULL, 0, NULL, NULL) : PEM_write_bio_X509(b, obj)) != 1)
                return -EIO;
        n = BIO_get_mem_data(b, &p);
        return n > 0 ? buf_append(out, p, (size_t) n) : -EIO;
}

/* Written under a temporary name and renamed, so a reader never sees half a file. */
static int write_file_at(int dirfd, const char *name, const struct buf *b, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;

        if (asprintf(&tmp, ".%s.tmp", name) < 0)
                return -ENOMEM;
        (void) unlinkat(dirfd, tmp, 0);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        if (loop_write(fd, b->data, b->len) < 0 || fsync(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0)
                return -errno;
        return 0;
}

static int save_one(int dirfd, const char *name, bool is_key, void *obj) {
        struct buf b = {};
        int r = to_pem(is_key, obj, &b);

        if (r >= 0)
                r = write_file_at(dirfd, name, &b, is_key ? 0600 : 0644);
        if (is_key)
                buf_erase(&b);
        else
                buf_free(&b);
        return r;
}

/* root.pem last: its presence is what "the directory is complete" looks at first. */
static int save(int dirfd, const struct tdxsim_keys *k) {
        struct buf chain = { .data = k->chain_pem, .len = k->chain_len };
        int r;

        r = save_one(dirfd, file_names[F_ROOT_KEY], true, k->root_key);
        if (r >= 0)
                r = save_one(dirfd, file_names[F_INTER_KEY], true, k->inter_key);
        if (r >= 0)
                r = save_one(dirfd, file_names[F_PCK_KEY], true, k->pck_key);
        if (r >= 0)
                r = save_one(dirfd, file_names[F_ATTEST_KEY], true, k->attest_key);
        if (r >= 0)
                r = save_one(dirfd, file_names[F_INTER], false, k->inter);
        if (r >= 0)
                r = save_one(dirfd, file_names[F_PCK], false, k->pck);
        if (r >= 0)
                r = write_file_at(dirfd, "chain.pem", &chain, 0644);
        if (r >= 0)
                r = save_one(dirfd, file_names[F_ROOT], false, k->root);
        return r;
}

static int load_one(int dirfd, const char *name, bool is_key, void **ret, errbuf *err) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        uint8_t *p = NULL;
        size_t n;
        int r;

        r = read_file_at_limited(dirfd, name, O_NOFOLLOW, PEM_MAX, &p, &n);
        if (r < 0)
                return errbuf_set(err, r, "cannot read %s: %s", name, strerror(-r));
        b = BIO_new_mem_buf(p, (int) n);
        if (b)
                *ret = is_key ? (void *) PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
                              : (void *) PEM_read_bio_X509(b, NULL, NULL, NULL);
        erase_and_free(p);
        if (!b)
                return -ENOMEM;
        if (!*ret)
                return errbuf_set(err, -EBADMSG, "%s is not a PEM %s", name, is_key ? "private key" : "certificate");
        if (is_key && !is_p256(*ret))
                return errbuf_set(err, -EBADMSG, "%s is not an ECDSA P-256 key", name);
        return 0;
}

static int load(int dirfd, struct tdxsim_keys *k, errbuf *err) {
        void **slots[_F_MAX] = {
                (void **) &k->root_key, (void **) &k->root, (void **) &k->inter_key, (void **) &k->inter,
                (void **) &k->pck_key, (void **) &k->pck, (void **) &k->attest_key,
        };
        int r;

        for (unsigned i = 0; i < _F_MAX; i++) {
                r = load_one(dirfd, file_names[i], i % 2 == 0, slots[i], err);
                if (r < 0)
                        return r;
        }
        if (X509_check_private_key(k->root, k->root_key) != 1 || X509_check_private_key(k->inter, k->inter_key) != 1 ||
            X509_check_private_key(k->pck, k->pck_key) != 1)
                return errbuf_set(err, -EBADMSG, "a certificate does not match its key");
        return 0;
}

/* The chain must verify now (dates included), whether just made or loaded. */
static int check_chain(const struct tdxsim_keys *k, errbuf *err) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        _cleanup_(sk_X509_freep) STACK_OF(X509) *untrusted = sk_X509_new_null();

        if (!store || !ctx || !untrusted || X509_STORE_add_cert(store, k->root) != 1 ||
            sk_X509_push(untrusted, k->inter) <= 0 || X509_STORE_CTX_init(ctx, store, k->pck, untrusted) != 1)
                return -ENOMEM;
        if (X509_verify_cert(ctx) != 1)
                return errbuf_set(err, -EBADMSG, "the PCK chain does not verify: %s (remove the directory to make a new one)",
                                  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        return 0;
}

static int finish(struct tdxsim_keys *k, errbuf *err) {
        struct buf chain = {};
        int r;

        r = check_chain(k, err);
        if (r >= 0)
                r = raw_public_key(k->attest_key, k->attest_pub);
        if (r >= 0)
                r = to_pem(false, k->pck, &chain);
        if (r >= 0)
                r = to_pem(false, k->inter, &chain);
        if (r >= 0)
                r = to_pem(false, k->root, &chain);
        if (r < 0) {
                buf_free(&chain);
                return r;
        }
        k->chain_pem = buf_steal(&chain, &k->chain_len);
        return k->chain_pem ? 0 : -ENOMEM;
}

/* How many of our files the directory holds. */
static unsigned count_files(int dirfd) {
        unsigned n = 0;

        for (unsigned i = 0; i < _F_MAX; i++)
                n += faccessat(dirfd, file_names[i], F_OK, AT_SYMLINK_NOFOLLOW) == 0;
        return n;
}

static int open_dir_locked(const char *dir, errbuf *err) {
        int fd;

        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
                return errbuf_set(err, -errno, "cannot create it: %s", strerror(errno));
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot open it: %s", strerror(errno));
        /* Two simulators starting at once on one directory must not make two chains. */
        if (flock(fd, LOCK_EX) < 0) {
                int r = -errno;
                safe_close(fd);
                return errbuf_set(err, r, "cannot lock it: %s", strerror(-r));
        }
        return fd;
}

int tdxsim_keys_load_or_create(const char *dir, struct tdxsim_keys *ret, errbuf *err) {
        _cleanup_close_ int dirfd = -EBADF;
        struct tdxsim_keys k = {};
        unsigned n;
        int r;

        dirfd = open_dir_locked(dir, err);
        if (dirfd < 0)
                return dirfd;
        n = count_files(dirfd);
        if (n == 0) {
                r = generate(&k);
                if (r >= 0)
                        r = finish(&k, err);
                if (r >= 0)
                        r = save(dirfd, &k);
                if (r < 0 && err && !err->msg[0])
                        errbuf_set(err, r, "cannot create the keys: %s", strerror(-r));
        } else if (n < _F_MAX)
                r = errbuf_set(err, -EBADMSG, "incomplete: it has %u of the %u files (root.pem, root.key, intermediate.pem, "
                                              "intermediate.key, pck.pem, pck.key, attestation.key); remove it to make a new chain", n, _F_MAX);
        else {
                r = load(dirfd, &k, err);
                if (r >= 0)
                        r = finish(&k, err);
        }
        if (r < 0) {
                tdxsim_keys_done(&k);
                return r;
        }
        *ret = k;
        return n == 0; /* 1: created */
}

void tdxsim_keys_done(struct tdxsim_keys *k) {
        EVP_PKEY_free(k->root_key);
        EVP_PKEY_free(k->inter_key);
        EVP_PKEY_free(k->pck_key);
        EVP_PKEY_free(k->attest_key);
        X509_free(k->root);
        X509_free(k->inter);
        X509_free(k->pck);
        free(k->chain_pem);
        *k = (struct tdxsim_keys) {};
}
