/* SPDX-License-Identifier: MIT */
/* cvm-broker: the reference KBS server (DESIGN §4, §7; docs/broker.md). Command line, files, signals;
 * the protocol is in cvm-broker-core.c. */
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>

#include "cvm-broker.h"
#include "log.h"

enum { EXIT_OK_ = 0, EXIT_USAGE_ = 2, EXIT_INPUT_ = 3, EXIT_TRANSIENT_ = 4 };

#define PEM_MAX (1U << 20)
#define THREADS_MAX 64U
#define CONNECTIONS_MAX 65536U
#define TIMEOUT_MAX_S 3600U
#define TTL_MAX_S 86400U

struct args {
        const char *listen, *cert, *key, *policy, *keys, *audit, *port_file;
        unsigned ttl_s, max_sessions, threads, timeout_s, max_connections;
        bool check;
};

static int help(void) {
        printf("Usage: cvm-broker --cert FILE --key FILE --policy FILE --keys DIR --audit FILE [OPTIONS]\n\n"
               "A key broker (KBS protocol 0.4.0, Trustee-compatible) over HTTPS: verifies TPM and TDX evidence,\n"
               "applies the policy and releases resources (files KEYS/REPO/TYPE/TAG) as JWE to attested sessions.\n\n"
               "  --listen ADDR:PORT     address to serve (default 127.0.0.1:8443; \"[::1]:8443\" for IPv6;\n"
               "                         port 0 picks a free one, see --port-file)\n"
               "  --cert FILE            PEM certificate (chain) of the server\n"
               "  --key FILE             PEM private key of the certificate\n"
               "  --policy FILE          the policy (JSON, docs/broker.md)\n"
               "  --keys DIR             the resources, one file per REPO/TYPE/TAG (at most %u bytes each)\n"
               "  --audit FILE           append one JSON line per decision (\"-\" for standard output)\n"
               "  --session-ttl SECONDS  how long a session (nonce and attestation) lives (default %u)\n"
               "  --max-sessions N       open sessions at most (default %u)\n"
               "  --threads N            server threads (default 2)\n"
               "  --timeout SECONDS      idle connection timeout (default 10)\n"
               "  --max-connections N    concurrent connections at most (default 512)\n"
               "  --port-file FILE       write the port actually bound, once serving\n"
               "  --check                load everything and exit (0 if the broker would start)\n\n"
               "Exit codes: 0 stopped by SIGTERM/SIGINT or --check ok, 2 usage, 3 bad input (policy, certificate,\n"
               "key directory), 4 environment (address in use, out of memory).\n",
               BROKER_RESOURCE_MAX, BROKER_SESSION_TTL_DEFAULT_S, BROKER_SESSIONS_DEFAULT);
        return EXIT_OK_;
}

static int usage(const char *msg) {
        fprintf(stderr, "cvm-broker: %s\nTry 'cvm-broker --help'.\n", msg);
        return EXIT_USAGE_;
}

static int number(const char *s, unsigned min, unsigned max, unsigned *ret) {
        return safe_atou(s, ret) < 0 || *ret < min || *ret > max ? -EINVAL : 0;
}

static int parse_args(int argc, char **argv, struct args *a) {
        enum { O_CERT = 256, O_KEY, O_POLICY, O_KEYS, O_AUDIT, O_TTL, O_SESSIONS, O_THREADS, O_TIMEOUT, O_CONN,
               O_PORT_FILE, O_CHECK, O_LISTEN };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },         { "listen", required_argument, NULL, O_LISTEN },
                { "cert", required_argument, NULL, O_CERT }, { "key", required_argument, NULL, O_KEY },
                { "policy", required_argument, NULL, O_POLICY }, { "keys", required_argument, NULL, O_KEYS },
                { "audit", required_argument, NULL, O_AUDIT }, { "session-ttl", required_argument, NULL, O_TTL },
                { "max-sessions", required_argument, NULL, O_SESSIONS },
                { "threads", required_argument, NULL, O_THREADS }, { "timeout", required_argument, NULL, O_TIMEOUT },
                { "max-connections", required_argument, NULL, O_CONN },
                { "port-file", required_argument, NULL, O_PORT_FILE }, { "check", no_argument, NULL, O_CHECK },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case O_LISTEN: a->listen = optarg; break;
                case O_CERT: a->cert = optarg; break;
                case O_KEY: a->key = optarg; break;
                case O_POLICY: a->policy = optarg; break;
                case O_KEYS: a->keys = optarg; break;
                case O_AUDIT: a->audit = optarg; break;
                case O_PORT_FILE: a->port_file = optarg; break;
                case O_CHECK: a->check = true; break;
                case O_TTL:
                        if (number(optarg, 1, TTL_MAX_S, &a->ttl_s) < 0)
                                return usage("--session-ttl: expected 1..86400 seconds");
                        break;
                case O_SESSIONS:
                        if (number(optarg, 1, BROKER_SESSIONS_MAX, &a->max_sessions) < 0)
                                return usage("--max-sessions: expected 1..1000000");
                        break;
                case O_THREADS:
                        if (number(optarg, 1, THREADS_MAX, &a->threads) < 0)
                                return usage("--threads: expected 1..64");
                        break;
                case O_TIMEOUT:
                        if (number(optarg, 1, TIMEOUT_MAX_S, &a->timeout_s) < 0)
                                return usage("--timeout: expected 1..3600 seconds");
                        break;
                case O_CONN:
                        if (number(optarg, 1, CONNECTIONS_MAX, &a->max_connections) < 0)
                                return usage("--max-connections: expected 1..65536");
                        break;
                default:
                        return usage("unknown option");
                }
        if (optind < argc)
                return usage("unexpected argument");
        if (!a->cert || !a->key || !a->policy || !a->keys || !a->audit)
                return usage("--cert, --key, --policy, --keys and --audit are required");
        return -1;
}

static int read_pem(const char *path, const char *what, char **ret) {
        _cleanup_free_ char *esc = escape_untrusted(path, strlen(path), 200);
        uint8_t *p = NULL;
        size_t n;
        int r;

        r = read_file_limited(path, PEM_MAX, &p, &n);
        if (r < 0)
                return log_error_errno(r, "Cannot read the %s %s: %m", what, esc ?: "?");
        if (!strstr((char *) p, "-----BEGIN ")) {
                erase_and_free(p);
                return log_error_errno(EINVAL, "The %s %s is not PEM.", what, esc ?: "?");
        }
        *ret = (char *) p;
        return 0;
}

static int open_audit(const char *path) {
        int fd;

        if (strcmp(path, "-") == 0)
                return fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
        return fd < 0 ? -errno : fd;
}

static int write_port_file(const char *path, unsigned port) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        char text[16];
        int n = snprintf(text, sizeof(text), "%u\n", port);

        /* Written whole under another name and renamed, so a reader never sees a partial port. */
        if (asprintf(&tmp, "%s.tmp", path) < 0)
                return -ENOMEM;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        if (loop_write(fd, text, (size_t) n) < 0 || rename(tmp, path) < 0)
                return -errno;
        return 0;
}

/* Loads the policy and opens the keys and the audit log into a broker. */
static int setup(const struct args *a, int audit_fd, struct broker **ret) {
        _cleanup_(policy_freep) struct policy *p = NULL;
        struct broker_options o = {
                .keys_dir = a->keys,
                .audit_fd = audit_fd,
                .max_sessions = a->max_sessions,
                .session_ttl_ms = (uint64_t) (a->ttl_s ?: BROKER_SESSION_TTL_DEFAULT_S) * 1000U,
        };
        errbuf err = {};
        int r;

        r = policy_load(a->policy, &p, &err);
        if (r < 0)
                return log_error_errno(r, "Policy %s: %s", a->policy, err.msg), EXIT_INPUT_;
        r = broker_new(&o, p, ret);
        if (r < 0)
                return log_error_errno(r, "Cannot use the key directory %s: %m", a->keys),
                       r == -ENOMEM ? EXIT_TRANSIENT_ : EXIT_INPUT_;
        log_info("Policy %s: %zu resources.", a->policy, policy_n_resources(p));
        TAKE_PTR(p);
        return EXIT_OK_;
}

static int serve(const struct args *a, struct broker *b, const char *cert, const char *key) {
        struct broker_http_options ho = {
                .listen = a->listen ?: "127.0.0.1:8443",
                .cert_pem = cert,
                .key_pem = key,
                .threads = a->threads ?: 2,
                .timeout_s = a->timeout_s ?: 10,
                .max_connections = a->max_connections ?: 512,
        };
        struct broker_http *h = NULL;
        sigset_t ss;
        errbuf err = {};
        int sig = 0, r;

        /* Blocked before the server's threads start, so they inherit the mask and only sigwait
         * below sees the signals. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &ss, NULL);
        signal(SIGPIPE, SIG_IGN);
        r = broker_http_start(b, &ho, &h, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err.msg), EXIT_TRANSIENT_;
        log_info("Serving on %s (port %u).", ho.listen, broker_http_port(h));
        if (a->port_file && (r = write_port_file(a->port_file, broker_http_port(h))) < 0)
                log_error_errno(r, "Cannot write %s: %m", a->port_file);
        else
                (void) sigwait(&ss, &sig);
        log_info("Stopping%s.", sig ? " on a signal" : "");
        broker_http_stop(h);
        return r < 0 ? EXIT_TRANSIENT_ : EXIT_OK_;
}

int main(int argc, char **argv) {
        _cleanup_(broker_freep) struct broker *b = NULL;
        _cleanup_erase_ char *key = NULL;
        _cleanup_free_ char *cert = NULL;
        _cleanup_close_ int audit_fd = -EBADF;
        struct args a = {};
        int r;

        log_set_program("cvm-broker");
        log_parse_environment();
        /* tpm2-tss's unmarshalling logs malformed input to stderr: clients must not be able to
         * fill our logs through it (our own messages say what was wrong). TSS2_LOG set by the
         * operator wins. */
        (void) setenv("TSS2_LOG", "all+NONE", 0);
        r = parse_args(argc, argv, &a);
        if (r >= 0)
                return r;
        if (read_pem(a.cert, "certificate", &cert) < 0 || read_pem(a.key, "private key", &key) < 0)
                return EXIT_INPUT_;
        audit_fd = open_audit(a.audit);
        if (audit_fd < 0)
                return log_error_errno(audit_fd, "Cannot open the audit log %s: %m", a.audit), EXIT_INPUT_;
        r = setup(&a, audit_fd, &b);
        if (r != EXIT_OK_)
                return r;
        if (a.check) {
                log_info("Configuration is usable.");
                return EXIT_OK_;
        }
        return serve(&a, b, cert, key);
}
