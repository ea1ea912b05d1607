/* SPDX-License-Identifier: MIT */
/* The workload attestation API's server: the socket, libmicrohttpd, the backends (api.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include <microhttpd.h>

#include "api-handlers.h"
#include "api.h"
#include "boot.h"
#include "event.h"
#include "evidence.h"
#include "log.h"

#define CONNECTION_MEMORY (32U << 10)

_Static_assert(API_APP_LOG_MAX + 64U * 1024U <= EVIDENCE_EVENTLOG_MAX,
               "app events must leave room in the evidence's event log for the firmware's log");
#define ESCAPE_MAX 120U

struct api {
        char *path;
        int fd; /* the listening socket, until the daemon owns it */
        struct MHD_Daemon *daemon;
        pthread_mutex_t lock;
        struct mr *mr;
        struct cel_writer *log;
        char *log_path;
        struct api_backend backend;
};

/* One request: its target exactly as received (MHD's URI logger sees it before any decoding) and
 * the body read so far. */
struct request {
        char *target;
        struct buf body;
        bool started, too_large;
        uint64_t t0;
};

const char *api_socket_dir(void) {
        const char *e = getpid() != 1 ? getenv("CVMINIT_RUN_DIR") : NULL;
        return e && *e ? e : BOOT_RUN_DIR;
}

static uint64_t now_ns(void) {
        struct timespec ts = {};
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000U + (uint64_t) ts.tv_nsec;
}

/* ---- backends ---- */

static bool is_tdx(const struct mr *mr) {
        return strcmp(mr->ops->kind, "tdx") == 0;
}

static int be_evidence(void *userdata, const uint8_t report_data[static API_REPORT_DATA_SIZE], json_t **ret,
                       errbuf *err) {
        struct api *a = userdata;

        return is_tdx(a->mr) ? evidence_tdx(a->log_path, report_data, ret, err)
                             : evidence_tpm(a->mr, a->log_path, report_data, ret, err);
}

/* Room for one more record of text_len bytes (an over-estimate of its CEL-JSON size). */
static int check_room(const struct api *a, size_t text_len, errbuf *err) {
        uint64_t need = text_len + 256U;
        struct stat st;

        if (stat(a->log_path, &st) < 0)
                return errbuf_set(err, -errno, "cannot check the measurement log's size: %m");
        for (unsigned i = 0; i < a->mr->n_banks; i++)
                need += 2U * hash_alg_size(a->mr->banks[i]) + 48U;
        if ((uint64_t) st.st_size + need > API_APP_LOG_MAX)
                return errbuf_set(err, -ENOSPC, "the measurement log (%" PRIu64 " bytes) has no room for this event: "
                                  "it is kept under %u bytes so that evidence always fits; no more app events "
                                  "until the next boot", (uint64_t) st.st_size, API_APP_LOG_MAX);
        return 0;
}

static int be_extend(void *userdata, const json_t *content, struct api_extended *x, errbuf *err) {
        struct api *a = userdata;
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = event_text(EVENT_DOMAIN, API_APP_OPERATION, content, &text, &len);
        if (r < 0)
                return errbuf_set(err, r, "cannot form the event text: %s", strerror(-r));
        r = check_room(a, len, err);
        if (r < 0)
                return r;
        r = cel_writer_append(a->log, EVENT_DOMAIN, API_APP_OPERATION, content);
        if (r < 0)
                return errbuf_set(err, r, "%s", cel_writer_error(a->log)[0] ? cel_writer_error(a->log) : strerror(-r));
        x->recnum = (uint64_t) r;
        snprintf(x->mr, sizeof(x->mr), "%s", a->mr->name);
        for (unsigned i = 0; i < a->mr->n_banks && i < MR_BANKS_MAX; i++) {
                x->digests[i].alg = a->mr->banks[i];
                if (event_digest(a->mr->banks[i], text, len, x->digests[i].d) < 0)
                        return errbuf_set(err, -EIO, "measured as record %d, but its digest cannot be computed", r);
                x->n_digests++;
        }
        return 0;
}

/* A regular file, not through a symbolic link, at most API_FILE_MAX bytes. */
static int open_file(const char *path, int *ret_fd, uint64_t *ret_size, errbuf *err) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return errbuf_set(err, -errno, "%s", strerror(errno));
        if (!S_ISREG(st.st_mode))
                return errbuf_set(err, -EBADFD, "not a regular file");
        if ((uint64_t) st.st_size > API_FILE_MAX)
                return errbuf_set(err, -EFBIG, "larger than %u bytes", API_FILE_MAX);
        *ret_size = (uint64_t) st.st_size;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* The size is taken now: appends happen only under the same lock, and a response serves this prefix. */
static int be_open_log(void *userdata, int *ret_fd, uint64_t *ret_size, errbuf *err) {
        struct api *a = userdata;

        return open_file(a->log_path, ret_fd, ret_size, err);
}

static int be_open_manifest(void *userdata, const char *name, int *ret_fd, uint64_t *ret_size, errbuf *err) {
        _cleanup_free_ char *path = NULL;
        int r;

        (void) userdata;
        if (asprintf(&path, "%s/manifests/%s.json", api_socket_dir(), name) < 0)
                return errbuf_set(err, -ENOMEM, "out of memory");
        r = open_file(path, ret_fd, ret_size, err);
        if (r == -ENOENT)
                return errbuf_set(err, r, "no model named %s was measured", name);
        return r;
}

/* ---- HTTP ---- */

static void *request_new(void *cls, const char *uri, struct MHD_Connection *c) {
        struct request *r = calloc(1, sizeof(*r));

        (void) cls, (void) c;
        if (!r)
                return NULL;
        /* One byte more than the limit: the handlers then refuse it as too long. */
        r->target = strndup(uri ?: "", API_TARGET_MAX + 1);
        r->body.max = API_BODY_MAX;
        r->t0 = now_ns();
        return r;
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
        struct request *r = *con_cls;

        (void) cls, (void) c, (void) toe;
        if (!r)
                return;
        free(r->target);
        buf_free(&r->body);
        free(r);
        *con_cls = NULL;
}

static struct ucred peer(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct ucred u = { .pid = 0, .uid = (uid_t) -1, .gid = (gid_t) -1 };
        socklen_t n = sizeof(u);

        if (ci && getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &u, &n) < 0)
                u = (struct ucred) { .pid = 0, .uid = (uid_t) -1, .gid = (gid_t) -1 };
        return u;
}

static void log_request(struct MHD_Connection *c, const struct request *r, const char *method,
                        const struct api_response *rs) {
        _cleanup_free_ char *m = escape_untrusted(method, strlen(method), 16);
        _cleanup_free_ char *t = escape_untrusted(r->target, strlen(r->target), ESCAPE_MAX);
        const char *ep = api_endpoint_name(r->target);
        double ms = (double) (now_ns() - r->t0) / 1e6;
        struct ucred u = peer(c);

        if (rs->status == 200 && ep && strcmp(ep, "extend") == 0)
                log_info("API: app event measured for pid %d (uid %d) in %.1f ms: %s.", (int) u.pid, (int) u.uid, ms,
                         rs->summary);
        else if (rs->status >= 500)
                log_warning("API: %s %s from pid %d (uid %d): %u in %.1f ms: %.*s", m ?: "?", t ?: "?", (int) u.pid,
                            (int) u.uid, rs->status, ms, (int) (rs->body_len < 300 ? rs->body_len : 300),
                            rs->body ?: "");
        else
                log_debug("API: %s %s from pid %d (uid %d): %u in %.1f ms", m ?: "?", t ?: "?", (int) u.pid,
                          (int) u.uid, rs->status, ms);
}

static enum MHD_Result send_response(struct MHD_Connection *c, struct api_response *rs) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        if (rs->fd >= 0) {
                resp = MHD_create_response_from_fd64(rs->fd_size, rs->fd);
                if (resp)
                        rs->fd = -EBADF; /* the response closes it */
        } else {
                resp = MHD_create_response_from_buffer(rs->body_len, rs->body, MHD_RESPMEM_MUST_FREE);
                if (resp)
                        rs->body = NULL;
        }
        if (!resp)
                return MHD_NO;
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rs->content_type ?: API_TYPE_JSON);
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (rs->allow)
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rs->allow);
        ret = MHD_queue_response(c, rs->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result answer(struct api *a, struct MHD_Connection *c, struct request *r, const char *method) {
        struct api_request rq = { .method = method, .target = r->target, .body = r->body.data,
                                  .body_len = r->body.len, .body_too_large = r->too_large };
        struct api_response rs;
        enum MHD_Result ret;

        pthread_mutex_lock(&a->lock);
        api_handle(&a->backend, &rq, &rs);
        pthread_mutex_unlock(&a->lock);
        log_request(c, r, method, &rs);
        ret = send_response(c, &rs);
        api_response_done(&rs);
        return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls) {
        struct request *r = *con_cls;

        (void) url, (void) version;
        if (!r || !r->target)
                return MHD_NO; /* out of memory */
        if (!r->started) {
                const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                uint64_t n;
                r->started = true;
                /* A declared body over the limit is answered before it is read (413, or 404/405 first). */
                if (cl && (safe_atou64(cl, &n) < 0 || n > API_BODY_MAX)) {
                        r->too_large = true;
                        return answer(cls, c, r, method);
                }
                return MHD_YES;
        }
        if (*upload_data_size > 0) {
                /* Only a chunked body can get here past the limit: no answer is possible mid-upload. */
                if (buf_append(&r->body, upload_data, *upload_data_size) < 0)
                        return MHD_NO;
                *upload_data_size = 0;
                return MHD_YES;
        }
        return answer(cls, c, r, method);
}

static void mhd_log(void *cls, const char *fm, va_list ap) {
        char msg[512];

        (void) cls;
        (void) vsnprintf(msg, sizeof(msg), fm, ap);
        msg[strcspn(msg, "\n")] = 0;
        log_debug("API: libmicrohttpd: %s", msg);
}

/* ---- the socket ---- */

/* A socket left by a process that is gone is replaced; a live one, or anything else, is refused. */
static int remove_stale(const char *path, errbuf *err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : errbuf_set(err, -errno, "cannot check %s: %m", path);
        if (!S_ISSOCK(st.st_mode))
                return errbuf_set(err, -EEXIST, "%s exists and is not a socket: refusing to replace it", path);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot create a socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return errbuf_set(err, -EADDRINUSE, "another process serves %s", path);
        if (unlink(path) < 0 && errno != ENOENT)
                return errbuf_set(err, -errno, "cannot remove the stale socket %s: %m", path);
        return 0;
}

static int bind_socket(const char *path, int fd, errbuf *err) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        mode_t old;
        int r;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        /* Born 0600: nobody but root can connect before the owner and mode are set. Still one thread. */
        old = umask(0177);
        r = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ? -errno : 0;
        umask(old);
        return r < 0 ? errbuf_set(err, r, "cannot bind %s: %s", path, strerror(-r)) : 0;
}

static int make_socket(const char *path, const struct config_api *c, int *ret, errbuf *err) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (strlen(path) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                return errbuf_set(err, -ENAMETOOLONG, "the socket path %s is longer than %zu bytes", path,
                                  sizeof(((struct sockaddr_un *) NULL)->sun_path) - 1);
        r = remove_stale(path, err);
        if (r < 0)
                return r;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return errbuf_set(err, -errno, "cannot create a socket: %m");
        r = bind_socket(path, fd, err);
        if (r < 0)
                return r;
        if (lchown(path, c->socket_user, c->socket_group) < 0 || chmod(path, c->socket_mode) < 0) {
                r = errbuf_set(err, -errno, "cannot give %s owner %u, group %u and mode %04o: %m", path,
                               (unsigned) c->socket_user, (unsigned) c->socket_group, (unsigned) c->socket_mode);
                (void) unlink(path);
                return r;
        }
        if (listen(fd, API_BACKLOG) < 0) {
                r = errbuf_set(err, -errno, "cannot listen on %s: %m", path);
                (void) unlink(path);
                return r;
        }
        *ret = TAKE_FD(fd);
        return 0;
}

static int make_dir(const char *dir, errbuf *err) {
        struct stat st;

        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return errbuf_set(err, -errno, "cannot create %s: %m", dir);
        if (lstat(dir, &st) < 0)
                return errbuf_set(err, -errno, "cannot check %s: %m", dir);
        return S_ISDIR(st.st_mode) ? 0 : errbuf_set(err, -ENOTDIR, "%s is not a directory", dir);
}

int api_listen(const struct config_api *c, struct api **ret, errbuf *err) {
        _cleanup_(api_freep) struct api *a = NULL;
        int r;

        *ret = NULL;
        if (!c->enabled) {
                log_info("The attestation API is disabled by the config.");
                return 0;
        }
        a = calloc(1, sizeof(*a));
        if (!a)
                return errbuf_set(err, -ENOMEM, "out of memory");
        a->fd = -EBADF;
        pthread_mutex_init(&a->lock, NULL);
        r = make_dir(api_socket_dir(), err);
        if (r < 0)
                return r;
        if (asprintf(&a->path, "%s/%s", api_socket_dir(), API_SOCKET_NAME) < 0) {
                a->path = NULL;
                return errbuf_set(err, -ENOMEM, "out of memory");
        }
        r = make_socket(a->path, c, &a->fd, err);
        if (r < 0) {
                free(a->path); /* what is at the path is not ours to remove */
                a->path = NULL;
                return r;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

int api_start(struct api *a, struct mr *mr, struct cel_writer *log, const char *log_path, errbuf *err) {
        if (!a)
                return 0;
        a->mr = mr;
        a->log = log;
        a->log_path = strdup(log_path);
        if (!a->log_path)
                return errbuf_set(err, -ENOMEM, "out of memory");
        a->backend = (struct api_backend) {
                .userdata = a, .tee = is_tdx(mr) ? KBS_TEE_TDX : KBS_TEE_TPM, .boot_done = true,
                .evidence = be_evidence, .extend = be_extend, .open_log = be_open_log,
                .open_manifest = be_open_manifest,
        };
        a->daemon = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC, 0, NULL, NULL,
                                     handler, a,
                                     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                     MHD_OPTION_LISTEN_SOCKET, a->fd,
                                     MHD_OPTION_CONNECTION_LIMIT, API_CONNECTIONS_MAX,
                                     MHD_OPTION_CONNECTION_TIMEOUT, API_TIMEOUT_S,
                                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
                                     MHD_OPTION_URI_LOG_CALLBACK, request_new, NULL,
                                     MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
                                     MHD_OPTION_END);
        if (!a->daemon) {
                /* Whether a failed start closed the socket it was given is not documented: look. No
                 * other thread opens files at this point, so the number cannot have been reused. */
                if (fcntl(a->fd, F_GETFD) < 0)
                        a->fd = -EBADF;
                return errbuf_set(err, -EIO, "cannot start the HTTP server on %s (CVMINIT_LOG_LEVEL=debug says why)",
                                  a->path);
        }
        log_info("Attestation API listening on %s.", a->path);
        return 0;
}

void api_free(struct api *a) {
        if (!a)
                return;
        if (a->daemon) {
                /* Quiesced first, so the listening socket comes back to us to close. */
                MHD_socket fd = MHD_quiesce_daemon(a->daemon);
                MHD_stop_daemon(a->daemon);
                a->fd = fd != MHD_INVALID_SOCKET ? fd : -EBADF;
        }
        safe_close(a->fd);
        if (a->path)
                (void) unlink(a->path);
        pthread_mutex_destroy(&a->lock);
        free(a->path);
        free(a->log_path);
        free(a);
}
