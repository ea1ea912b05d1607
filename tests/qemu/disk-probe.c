/* SPDX-License-Identifier: MIT */
/* TEST-ONLY scaffolding for tests/qemu/test-disk.sh, never part of cvminit: drives agent/disk.c in
 * the guest (as cvminit's workload) with a fixed test key, until the attest step releases real keys.
 *
 *   disk-probe [--pause-at STAGE] [--write-marker TEXT] [--read-marker] [--read-all] [--log FILE]
 *
 * The disk section comes from a whole config document in fw_cfg opt/cvminit-test/disk, the key
 * (raw bytes) from fw_cfg opt/cvminit-test/key. The `disk` event goes to FILE (default
 * /run/disk-probe.log) through an in-memory register. Console lines, for the test to read:
 *   disk-probe: stage NAME            each first-time setup stage (disk_set_stage_hook)
 *   disk-probe: paused at NAME        then it sleeps until QEMU is killed (a power cut there)
 *   disk-probe: opened in N ms        disk_open succeeded
 *   disk-probe: refused: MESSAGE      disk_open failed (exit status 2)
 *   disk-probe: marker 'TEXT' | disk-probe: no marker | disk-probe: marker written
 *   disk-probe: read all N MiB     --read-all: every sector of /dev/mapper/NAME read back, so every
 *                                  integrity tag checked (else "read error at byte N: ...")
 *   disk-probe: closed                after disk_close_all
 * DISK_PROBE_KMSG=1 in its environment sends its log lines (CVMINIT_LOG_LEVEL) to /dev/kmsg, with
 * the kernel's timestamps, for timing a run by hand. */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cel.h"
#include "config.h"
#include "disk.h"
#include "log.h"
#include "mr.h"

#define FW_CFG "/sys/firmware/qemu_fw_cfg/by_name/opt/cvminit-test/"

static const char *pause_at;

static void hook(const char *stage) {
        printf("disk-probe: stage %s\n", stage);
        fflush(stdout);
        if (!pause_at || strcmp(stage, pause_at) != 0)
                return;
        printf("disk-probe: paused at %s\n", stage);
        fflush(stdout);
        for (;;)
                (void) pause();
}

static uint64_t now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000U + (uint64_t) ts.tv_nsec / 1000000U;
}

static int marker(const char *dir, const char *write_text, bool read) {
        _cleanup_free_ uint8_t *p = NULL;
        char path[4096];
        size_t n;
        int r;

        snprintf(path, sizeof(path), "%s/marker", dir);
        if (read) {
                r = read_file_limited(path, 4096, &p, &n);
                if (r == -ENOENT)
                        printf("disk-probe: no marker\n");
                else if (r < 0)
                        printf("disk-probe: cannot read the marker: %s\n", strerror(-r));
                else
                        printf("disk-probe: marker '%s'\n", (const char *) p);
        }
        if (write_text) {
                _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || loop_write(fd, write_text, strlen(write_text)) < 0 || fsync(fd) < 0) {
                        printf("disk-probe: cannot write the marker: %m\n");
                        return 1;
                }
                printf("disk-probe: marker written\n");
        }
        return 0;
}

/* Reads the whole opened volume: dm-integrity fails a sector whose tag does not match (EILSEQ). */
static int read_all(const char *name) {
        _cleanup_free_ uint8_t *buf = malloc(1 << 20);
        _cleanup_close_ int fd = -EBADF;
        char path[4096];
        uint64_t total = 0;

        snprintf(path, sizeof(path), "/dev/mapper/%s", name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || !buf) {
                printf("disk-probe: cannot open %s: %m\n", path);
                return 1;
        }
        for (;;) {
                ssize_t k = read(fd, buf, 1 << 20);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        printf("disk-probe: read error at byte %llu: %m\n", (unsigned long long) total);
                        return 1;
                }
                if (k == 0)
                        break;
                total += (uint64_t) k;
        }
        printf("disk-probe: read all %llu MiB\n", (unsigned long long) (total >> 20));
        return 0;
}

static int probe(const char *write_text, bool read, bool all, const char *log_path) {
        static const enum hash_alg banks[] = { HASH_SHA256 };
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_(mr_freep) struct mr *mr = NULL;
        _cleanup_(cel_writer_freep) struct cel_writer *w = NULL;
        _cleanup_erase_ uint8_t *key = NULL;
        _cleanup_free_ uint8_t *doc = NULL;
        size_t n = 0, len = 0;
        errbuf err = {};
        uint64_t t;
        int r;

        if (read_file_limited(FW_CFG "disk/raw", CONFIG_SIZE_MAX, &doc, &len) < 0 ||
            config_parse(doc, len, &c, &err) < 0 || !c->disk) {
                printf("disk-probe: no usable test config in fw_cfg: %s\n", err.msg);
                return 1;
        }
        if (read_file_limited(FW_CFG "key/raw", DISK_KEY_MAX, &key, &n) < 0) {
                printf("disk-probe: no test key in fw_cfg\n");
                return 1;
        }
        if (mr_open_mem("pcr14", banks, 1, &mr) < 0 || cel_writer_open_detail(log_path, mr, &w, &err) < 0) {
                printf("disk-probe: cannot open the log %s: %s\n", log_path, err.msg);
                return 1;
        }
        disk_set_stage_hook(hook);
        t = now_ms();
        r = disk_open(c->disk, key, n, w, &err);
        if (r < 0) {
                printf("disk-probe: refused: %s\n", err.msg);
                return 2;
        }
        printf("disk-probe: opened in %llu ms\n", (unsigned long long) (now_ms() - t));
        r = marker(c->disk->path, write_text, read);
        if (r == 0 && all)
                r = read_all(c->disk->name);
        disk_close_all();
        printf("disk-probe: closed\n");
        return r;
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "pause-at", required_argument, NULL, 'p' },
                { "write-marker", required_argument, NULL, 'w' },
                { "read-marker", no_argument, NULL, 'r' },
                { "read-all", no_argument, NULL, 'a' },
                { "log", required_argument, NULL, 'l' },
                {},
        };
        const char *write_text = NULL, *log_path = "/run/disk-probe.log";
        bool read = false, all = false;
        int c, r;

        log_set_program("disk-probe");
        log_parse_environment();
        if (getenv("DISK_PROBE_KMSG"))
                log_set_target(LOG_TARGET_CONSOLE_KMSG);
        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 'p':
                        pause_at = optarg;
                        break;
                case 'w':
                        write_text = optarg;
                        break;
                case 'r':
                        read = true;
                        break;
                case 'a':
                        all = true;
                        break;
                case 'l':
                        log_path = optarg;
                        break;
                default:
                        return 1;
                }
        r = probe(write_text, read, all, log_path);
        fflush(stdout);
        return r;
}
