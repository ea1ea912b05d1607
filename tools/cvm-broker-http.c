/* SPDX-License-Identifier: MIT */
/* HTTPS for the broker: libmicrohttpd (GnuTLS underneath) with its own polling threads. Each
 * request's body is collected up to KBS_BODY_MAX (a larger declared Content-Length is answered
 * with 413 before the body is read; a chunked body that grows past it closes the connection), then
 * handed to broker_handle. Idle connections time out; the number of connections is capped. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <string.h>

#include <microhttpd.h>

#include "cvm-broker.h"
#include "log.h"

#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define CONNECTION_MEMORY (64U << 10)

struct broker_http {
        struct MHD_Daemon *daemon;
        struct broker *broker;
};

struct request {
        struct buf body;
};

static void peer_name(struct MHD_Connection *c, char *out, size_t n) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
        const struct sockaddr *sa = ci ? ci->client_addr : NULL;

        if (sa && sa->sa_family == AF_INET)
                (void) getnameinfo(sa, sizeof(struct sockaddr_in), host, sizeof(host), port, sizeof(port),
                                   NI_NUMERICHOST | NI_NUMERICSERV);
        else if (sa && sa->sa_family == AF_INET6)
                (void) getnameinfo(sa, sizeof(struct sockaddr_in6), host, sizeof(host), port, sizeof(port),
                                   NI_NUMERICHOST | NI_NUMERICSERV);
        snprintf(out, n, sa && sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

static enum MHD_Result send_response(struct MHD_Connection *c, struct broker_response *rs) {
        struct MHD_Response *resp;
        enum MHD_Result ret;

        resp = MHD_create_response_from_buffer(rs->body_len, rs->body, MHD_RESPMEM_MUST_FREE);
        if (!resp)
                return MHD_NO;
        rs->body = NULL; /* owned by the response now */
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (rs->set_cookie[0])
                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, rs->set_cookie);
        ret = MHD_queue_response(c, rs->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result too_large(struct MHD_Connection *c) {
        struct broker_response rs = { .status = 413 };

        rs.body = strdup("{\"type\":\"" KBS_ERROR_TYPE_PREFIX "PayloadTooLarge\",\"detail\":\"the request body is "
                         "over the limit of 1 MiB\"}");
        if (!rs.body)
                return MHD_NO;
        rs.body_len = strlen(rs.body);
        return send_response(c, &rs);
}

/* First call: set up, refusing a declared body over the limit before it is read. */
static enum MHD_Result request_begin(struct MHD_Connection *c, void **con_cls) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        struct request *r;
        uint64_t n;

        if (cl && (safe_atou64(cl, &n) < 0 || n > KBS_BODY_MAX))
                return too_large(c);
        r = calloc(1, sizeof(*r));
        if (!r)
                return MHD_NO;
        r->body.max = KBS_BODY_MAX;
        *con_cls = r;
        return MHD_YES;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls) {
        struct broker_http *h = cls;
        struct request *r = *con_cls;
        struct broker_response rs = {};
        char peer[INET6_ADDRSTRLEN + 16];

        (void) version;
        if (!r)
                return request_begin(c, con_cls);
        if (*upload_data_size > 0) {
                if (buf_append(&r->body, upload_data, *upload_data_size) < 0)
                        return MHD_NO; /* chunked and over the limit: close */
                *upload_data_size = 0;
                return MHD_YES;
        }
        peer_name(c, peer, sizeof(peer));
        struct broker_request rq = {
                .method = method,
                .path = url,
                .cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, KBS_SESSION_COOKIE),
                .peer = peer,
                .body = r->body.data ?: "",
                .body_len = r->body.len,
        };
        broker_handle(h->broker, &rq, &rs);
        enum MHD_Result ret = send_response(c, &rs);
        broker_response_done(&rs);
        return ret;
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe) {
        struct request *r = *con_cls;

        (void) cls, (void) c, (void) toe;
        if (!r)
                return;
        buf_free(&r->body);
        free(r);
        *con_cls = NULL;
}

/* "IPV4:PORT" or "[IPV6]:PORT", numeric only. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, errbuf *err) {
        _cleanup_free_ char *host = NULL;
        const char *colon = strrchr(s, ':');
        struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM }, *ai = NULL;
        unsigned port;
        size_t hn;

        if (!colon || safe_atou(colon + 1, &port) < 0 || port > 65535)
                return errbuf_set(err, -EINVAL, "--listen: expected ADDRESS:PORT (e.g. 127.0.0.1:8443, [::1]:8443)");
        hn = (size_t) (colon - s);
        if (hn >= 2 && s[0] == '[' && s[hn - 1] == ']')
                host = strndup(s + 1, hn - 2);
        else
                host = strndup(s, hn);
        if (!host)
                return -ENOMEM;
        if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
                return errbuf_set(err, -EINVAL, "--listen: \"%s\" is not a numeric IPv4 or IPv6 address", host);
        memcpy(ss, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        return 0;
}

static void mhd_log(void *cls, const char *fm, va_list ap) {
        char msg[512];

        (void) cls;
        (void) vsnprintf(msg, sizeof(msg), fm, ap);
        msg[strcspn(msg, "\n")] = 0;
        log_debug("libmicrohttpd: %s", msg);
}

int broker_http_start(struct broker *b, const struct broker_http_options *o, struct broker_http **ret,
                      errbuf *err) {
        struct sockaddr_storage ss = {};
        struct broker_http *h;
        unsigned flags = MHD_USE_TLS | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
        int r;

        r = parse_listen(o->listen, &ss, err);
        if (r < 0)
                return r;
        if (ss.ss_family == AF_INET6)
                flags |= MHD_USE_IPv6;
        h = calloc(1, sizeof(*h));
        if (!h)
                return errbuf_set(err, -ENOMEM, "out of memory");
        h->broker = b;
        h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handler, h,
                                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &ss,
                                     MHD_OPTION_HTTPS_MEM_CERT, o->cert_pem,
                                     MHD_OPTION_HTTPS_MEM_KEY, o->key_pem,
                                     MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
                                     MHD_OPTION_THREAD_POOL_SIZE, o->threads > 1 ? o->threads : 0U,
                                     MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
                                     MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
                                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY,
                                     MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
                                     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                     MHD_OPTION_END);
        if (!h->daemon) {
                free(h);
                return errbuf_set(err, -EADDRNOTAVAIL, "cannot start the HTTPS server on %s (address in use, or "
                                  "the certificate and key do not load; CVMINIT_LOG_LEVEL=debug says more)", o->listen);
        }
        *ret = h;
        return 0;
}

unsigned broker_http_port(const struct broker_http *h) {
        const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
        return i ? i->port : 0;
}

void broker_http_stop(struct broker_http *h) {
        if (!h)
                return;
        MHD_stop_daemon(h->daemon);
        free(h);
}
