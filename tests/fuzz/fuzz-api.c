/* SPDX-License-Identifier: MIT */
/* The attestation API's requests (agent/api-handlers.c, measurements/api-proto.c) without a
 * socket: any method, target and body get an answer with a known status and a JSON body ({"error"}
 * for every failure), never a crash, leak or unbounded allocation. Input layout:
 *   byte 0   bit 0: boot-done; bit 1: tee tdx; bits 2-4: what the backends return (0 = success)
 *   byte 1   the method: GET, POST, PUT, HEAD, DELETE, or "get"
 *   then     the target up to the first LF, and the body after it */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api-handlers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int results[8] = { 0, -ENOENT, -EAGAIN, -EFBIG, -EIO, -ENOMEM, -EBADMSG, -EPERM };

static int fz_evidence(void *u, const uint8_t rd[static API_REPORT_DATA_SIZE], json_t **ret, errbuf *err) {
        int r = *(int *) u;

        if (r < 0)
                return errbuf_set(err, r, "fuzz \xff failure");
        char hex[9];
        hex_encode(rd, 4, hex);
        *ret = json_pack("{s:s}", "quote", hex);
        return *ret ? 0 : -ENOMEM;
}

static int fz_extend(void *u, const json_t *content, struct api_extended *x, errbuf *err) {
        int r = *(int *) u;

        if (!json_is_object(json_object_get(content, "content")))
                abort(); /* the parser promised an object */
        if (r < 0)
                return errbuf_set(err, r, "fuzz failure");
        *x = (struct api_extended) { .recnum = 1, .mr = "rtmr3", .n_digests = 1 };
        x->digests[0].alg = HASH_SHA384;
        return 0;
}

static int fz_open(void *u, int *fd, uint64_t *size, errbuf *err) {
        int r = *(int *) u;

        if (r < 0)
                return errbuf_set(err, r, "fuzz failure");
        *fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        *size = 0;
        return *fd >= 0 ? 0 : -errno;
}

static int fz_manifest(void *u, const char *name, int *fd, uint64_t *size, errbuf *err) {
        if (strlen(name) == 0 || strlen(name) > 64 || strchr(name, '/') || name[0] == '.')
                abort(); /* the name check must have refused it */
        return fz_open(u, fd, size, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const methods[] = { "GET", "POST", "PUT", "HEAD", "DELETE", "get" };
        int result;
        struct api_backend b = { .userdata = &result, .evidence = fz_evidence, .extend = fz_extend,
                                 .open_log = fz_open, .open_manifest = fz_manifest };
        struct api_request rq = {};
        struct api_response rs;
        const uint8_t *lf;
        char *target;
        json_t *o;

        if (size < 2 || size > API_BODY_MAX + 4096)
                return 0;
        b.boot_done = data[0] & 1;
        b.tee = data[0] & 2 ? KBS_TEE_TDX : KBS_TEE_TPM;
        result = results[(data[0] >> 2) & 7];
        rq.method = methods[data[1] % 6];
        lf = memchr(data + 2, '\n', size - 2);
        target = strndup((const char *) data + 2, lf ? (size_t) (lf - data - 2) : size - 2);
        if (!target)
                return 0;
        rq.target = target;
        rq.body = lf ? (const char *) lf + 1 : NULL;
        rq.body_len = lf ? size - (size_t) (lf + 1 - data) : 0;
        api_handle(&b, &rq, &rs);
        if (rs.status < 200 || rs.status > 599 || !rs.content_type || (rs.fd < 0 && !rs.body))
                abort();
        if (rs.fd < 0) {
                o = json_loadb(rs.body, rs.body_len, JSON_REJECT_DUPLICATES, NULL);
                if (!o || (rs.status != 200 && !json_is_string(json_object_get(o, "error"))))
                        abort();
                json_decref(o);
        }
        api_response_done(&rs);
        free(target);
        return 0;
}
