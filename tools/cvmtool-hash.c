/* SPDX-License-Identifier: MIT */
/* cvmtool hash and cvmtool manifest (DESIGN §3 model manifest, §7): parallel hashing of files and
 * trees with sha256sum-compatible output, and the model manifest of a directory. */
#include <getopt.h>
#include <inttypes.h>
#include <time.h>

#include "cvmtool.h"
#include "hashtree.h"
#include "log.h"
#include "manifest.h"

struct progress {
        bool tty, drawn;
        struct timespec start;
        double last; /* seconds since start of the last line printed */
        uint64_t done, total;
};

static double elapsed(const struct progress *pr) {
        struct timespec now;

        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        return (double) (now.tv_sec - pr->start.tv_sec) + (double) (now.tv_nsec - pr->start.tv_nsec) / 1e9;
}

static void progress_print(struct progress *pr, const char *end) {
        double t = elapsed(pr), rate = t > 0 ? (double) pr->done / t : 0;

        fprintf(stderr, "%shash: %.2f", pr->tty ? "\r\033[K" : "", (double) pr->done / 1e9);
        if (pr->total > 0)
                fprintf(stderr, "/%.2f GB (%.0f%%)", (double) pr->total / 1e9,
                        100.0 * (double) pr->done / (double) pr->total);
        else
                fprintf(stderr, " GB");
        fprintf(stderr, ", %.2f GB/s", rate / 1e9);
        if (pr->total > pr->done && rate > 0) {
                uint64_t eta = (uint64_t) ((double) (pr->total - pr->done) / rate);
                fprintf(stderr, ", ETA %" PRIu64 ":%02" PRIu64 ":%02" PRIu64, eta / 3600, eta / 60 % 60,
                        eta % 60);
        }
        fputs(end, stderr);
        pr->drawn = pr->tty && !*end;
}

static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        struct progress *pr = userdata;

        pr->done = done;
        pr->total = total;
        /* Not a terminal (a log, the serial console): a line every few seconds at most. */
        if (!pr->tty) {
                double t = elapsed(pr);
                if (t - pr->last < 4.5)
                        return;
                pr->last = t;
        }
        progress_print(pr, pr->tty ? "" : "\n");
}

/* Before an error message: an unfinished progress line would hide it. */
static void progress_clear(struct progress *pr) {
        if (pr->drawn)
                fputs("\r\033[K", stderr);
        pr->drawn = false;
}

static void progress_setup(struct progress *pr, struct hash_options *o) {
        pr->tty = isatty(STDERR_FILENO);
        (void) clock_gettime(CLOCK_MONOTONIC, &pr->start);
        o->progress = on_progress;
        o->progress_userdata = pr;
        o->progress_ms = pr->tty ? 250 : 5000;
}

/* Common options of both commands; returns 0 to go on, or an exit code (+1, so EXIT_OK is 1). */
static int parse_common(const char *cmd, int c, struct hash_options *o, bool *progress) {
        int r;

        switch (c) {
        case 'a':
                r = hash_alg_from_name(optarg);
                if (r != HASH_SHA256 && r != HASH_SHA384 && r != HASH_SHA512)
                        return usage_error(cmd, "unsupported algorithm '%s' (sha256, sha384, sha512)", optarg) + 1;
                o->alg = (enum hash_alg) r;
                return 0;
        case 'j':
                if (safe_atou(optarg, &o->jobs) < 0 || o->jobs < 1 || o->jobs > HASH_MAX_JOBS)
                        return usage_error(cmd, "-j takes a number of threads from 1 to %u", HASH_MAX_JOBS) + 1;
                return 0;
        case 'P':
                *progress = true;
                return 0;
        default:
                return usage_error(cmd, "unknown option") + 1;
        }
}

/* One line as sha256sum prints it (coreutils 9.1): names with '\\', '\n' or '\r' are escaped and the
 * line starts with '\\', so that `sha256sum -c` reads them back. */
static int hash_emit(const struct hash_result *res, void *userdata, errbuf *err) {
        char hex[2 * HASH_MAX_SIZE + 1];
        const char *p = res->path;
        bool esc = strpbrk(p, "\\\n\r") != NULL;

        (void) userdata;
        hex_encode(res->digest, hash_alg_size(res->alg), hex);
        if (esc)
                putchar('\\');
        fputs(hex, stdout);
        fputs("  ", stdout);
        for (; *p; p++)
                if (!esc || (*p != '\\' && *p != '\n' && *p != '\r'))
                        putchar(*p);
                else
                        fputs(*p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : "\\r", stdout);
        putchar('\n');
        if (ferror(stdout))
                return errbuf_set(err, -EIO, "cannot write to standard output");
        return 0;
}

static int hash_help(void) {
        printf("Usage: cvmtool hash [-a ALG] [-j N] [--progress] PATH...\n\n"
               "Hashes files and, recursively, directories, printing \"HEX  PATH\" lines exactly as\n"
               "sha256sum/sha384sum/sha512sum do (so `sha256sum -c` checks them). A PATH must be a\n"
               "regular file or a directory (a symlink to one is followed); inside directories, files\n"
               "come in byte-wise order of their paths, and symlinks and special files are refused.\n\n"
               "  -a, --algorithm ALG  sha256 (default), sha384 or sha512\n"
               "  -j, --jobs N         hashing threads (default: online CPUs)\n"
               "      --progress       report bytes done, GB/s and ETA on standard error\n\n"
               "Exit codes: 0 every file hashed; 2 usage error; 3 a file was missing, unreadable, not\n"
               "a regular file or refused (it is named; files before it were printed); 4 out of\n"
               "memory, or a file changed while it was hashed (retry may help).\n");
        return EXIT_OK;
}

static const struct option common_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "algorithm", required_argument, NULL, 'a' },
        { "jobs", required_argument, NULL, 'j' },
        { "progress", no_argument, NULL, 'P' },
        { "digest", no_argument, NULL, 'd' },
        {},
};

static int finish(int r, const errbuf *err, struct progress *pr, bool progress) {
        progress_clear(pr);
        if (r < 0) {
                fflush(stdout);
                log_error_errno(r, "%s", err->msg[0] ? err->msg : "hashing failed");
                return exit_code_from_errno(r);
        }
        if (progress)
                progress_print(pr, " (done)\n");
        if (fflush(stdout) != 0 || ferror(stdout))
                return log_error_errno(errno, "Cannot write to standard output: %m"),
                       exit_code_from_errno(-EIO);
        return EXIT_OK;
}

int cmd_hash(int argc, char **argv) {
        struct hash_options o = { .alg = HASH_SHA256 };
        struct progress pr = {};
        bool progress = false;
        errbuf err = {};
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+ha:j:", common_options, NULL)) >= 0) {
                if (c == 'h')
                        return hash_help();
                if (c == 'd')
                        return usage_error("hash", "--digest is an option of 'cvmtool manifest'");
                r = parse_common("hash", c, &o, &progress);
                if (r > 0)
                        return r - 1;
        }
        if (optind >= argc)
                return usage_error("hash", "expected at least one PATH");
        if (progress)
                progress_setup(&pr, &o);
        r = hash_paths(argv + optind, (size_t) (argc - optind), &o, hash_emit, NULL, &err);
        return finish(r, &err, &pr, progress);
}

static int manifest_help(void) {
        printf("Usage: cvmtool manifest [-a ALG] [-j N] [--digest] [--progress] DIR\n\n"
               "Prints the model manifest of DIR (DESIGN §3): the JCS text\n"
               "  {\"alg\":\"sha256\",\"files\":[{\"digest\":\"HEX\",\"path\":\"REL\",\"size\":N},...]}\n"
               "with every file below DIR in byte-wise order of its relative path, followed by a\n"
               "newline. Its digest (without the newline) is what the `model` event records.\n\n"
               "  -a, --algorithm ALG  sha256 (default), sha384 or sha512\n"
               "  -j, --jobs N         hashing threads (default: online CPUs)\n"
               "      --digest         print only ALG:HEX, the manifest's digest\n"
               "      --progress       report bytes done, GB/s and ETA on standard error\n\n"
               "Symlinks, special files and names that are not UTF-8 are refused.\n"
               "Exit codes: 0 success; 2 usage error; 3 unreadable or refused input (named; the\n"
               "output is then incomplete); 4 out of memory, or a file changed while being hashed.\n");
        return EXIT_OK;
}

int cmd_manifest(int argc, char **argv) {
        struct hash_options o = { .alg = HASH_SHA256 };
        struct manifest_info info = {};
        struct progress pr = {};
        bool progress = false, digest_only = false;
        errbuf err = {};
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+ha:j:", common_options, NULL)) >= 0) {
                if (c == 'h')
                        return manifest_help();
                if (c == 'd') {
                        digest_only = true;
                        continue;
                }
                r = parse_common("manifest", c, &o, &progress);
                if (r > 0)
                        return r - 1;
        }
        if (argc - optind != 1)
                return usage_error("manifest", "expected one DIR");
        if (progress)
                progress_setup(&pr, &o);
        r = manifest_build(argv[optind], &o, digest_only ? NULL : stdout, &info, &err);
        if (r >= 0) {
                char hex[2 * HASH_MAX_SIZE + 1];
                hex_encode(info.digest, hash_alg_size(info.alg), hex);
                if (digest_only)
                        printf("%s:%s\n", hash_alg_name(info.alg), hex);
                else
                        putchar('\n');
                log_debug("%" PRIu64 " files, %" PRIu64 " bytes, manifest %s:%s", info.files, info.bytes,
                          hash_alg_name(info.alg), hex);
        }
        return finish(r, &err, &pr, progress);
}
