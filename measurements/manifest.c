/* SPDX-License-Identifier: MIT */
/* Model manifest, streamed; see manifest.h. */
#include <inttypes.h>

#include "jcs.h"
#include "manifest.h"

/* One entry: the digest in hex, a path of at most 4095 bytes escaped (6 bytes per byte at worst). */
#define ENTRY_MAX (64U * 1024U)

struct manifest_state {
        EVP_MD_CTX *ctx;
        FILE *out;
        struct buf b;
        uint64_t files, bytes;
};

/* Hashes and writes what is in m->b, then empties it. */
static int manifest_flush(struct manifest_state *m, errbuf *err) {
        if (EVP_DigestUpdate(m->ctx, m->b.data, m->b.len) != 1)
                return errbuf_set(err, -EIO, "manifest: digest update failed");
        if (m->out && m->b.len > 0 && fwrite(m->b.data, 1, m->b.len, m->out) != m->b.len)
                return errbuf_set(err, -errno ? -errno : -EIO, "manifest: cannot write the output: %m");
        m->b.len = 0;
        return 0;
}

static int manifest_emit(const struct hash_result *res, void *userdata, errbuf *err) {
        struct manifest_state *m = userdata;
        char hex[2 * HASH_MAX_SIZE + 1];
        int r;

        if (res->size > (uint64_t) JCS_MAX_SAFE_INTEGER)
                return errbuf_set(err, -EDOM, "manifest: a file is larger than 2^53-1 bytes");
        hex_encode(res->digest, hash_alg_size(res->alg), hex);
        r = buf_printf(&m->b, "%s{\"digest\":\"%s\",\"path\":", m->files ? "," : "", hex);
        if (r >= 0)
                r = jcs_append_string(&m->b, res->relpath, strlen(res->relpath));
        if (r == -EILSEQ) {
                _cleanup_free_ char *esc = escape_untrusted(res->path, strlen(res->path), 300);
                return errbuf_set(err, r, "%s: file name is not valid UTF-8, refused", esc ? esc : "(path)");
        }
        if (r >= 0)
                r = buf_printf(&m->b, ",\"size\":%" PRIu64 "}", res->size);
        if (r < 0)
                return errbuf_set(err, r, "manifest: cannot format an entry: %s", strerror(-r));
        m->files++;
        m->bytes += res->size;
        return manifest_flush(m, err);
}

static int manifest_run(struct manifest_state *m, const char *dir, const struct hash_options *o, errbuf *err) {
        int r;

        r = buf_append_str(&m->b, "{\"alg\":");
        if (r >= 0)
                r = jcs_append_string(&m->b, hash_alg_name(o->alg), strlen(hash_alg_name(o->alg)));
        if (r >= 0)
                r = buf_append_str(&m->b, ",\"files\":[");
        if (r < 0)
                return errbuf_set(err, r, "out of memory");
        /* The head stays in m->b until the first entry, so nothing is written if dir cannot be opened. */
        r = hash_tree(dir, o, manifest_emit, m, err);
        if (r < 0)
                return r;
        r = buf_append_str(&m->b, "]}");
        if (r < 0)
                return errbuf_set(err, r, "out of memory");
        return manifest_flush(m, err);
}

int manifest_build(const char *dir, const struct hash_options *o, FILE *out, struct manifest_info *ret,
                   errbuf *err) {
        struct manifest_state m = { .out = out, .b = { .max = ENTRY_MAX } };
        const EVP_MD *md = o ? hash_alg_md(o->alg) : NULL;
        int r;

        if (!md || !hash_alg_name(o->alg))
                return errbuf_set(err, -EOPNOTSUPP, "manifest: hash algorithm not available");
        m.ctx = EVP_MD_CTX_new();
        if (!m.ctx)
                return errbuf_set(err, -ENOMEM, "out of memory");
        r = EVP_DigestInit_ex(m.ctx, md, NULL) == 1 ? 0 : errbuf_set(err, -EIO, "manifest: digest init failed");
        if (r >= 0)
                r = manifest_run(&m, dir, o, err);
        if (r >= 0 && out && fflush(out) != 0)
                r = errbuf_set(err, -errno ? -errno : -EIO, "manifest: cannot write the output: %m");
        if (r >= 0 && EVP_DigestFinal_ex(m.ctx, ret->digest, NULL) != 1)
                r = errbuf_set(err, -EIO, "manifest: digest finalisation failed");
        if (r >= 0) {
                ret->alg = o->alg;
                ret->files = m.files;
                ret->bytes = m.bytes;
        }
        EVP_MD_CTX_free(m.ctx);
        buf_free(&m.b);
        return r;
}
