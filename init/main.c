/* SPDX-License-Identifier: MIT */
/* cvminit: PID 1 of a confidential VM, or `cvminit --config FILE` as an ordinary process
 * (DESIGN §1, §7), or the kernel's module helper when started as "modprobe" (modules.h). */
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "boot.h"
#include "log.h"
#include "modules.h"
#include "mr.h"
#include "supervise.h"

static int help(void) {
        printf("Usage: cvminit                      (as PID 1: the kernel starts it as /init)\n"
               "       cvminit --config FILE [--tcti TCTI] [--pcr N] [--register auto|tpm|tdx]\n"
               "               [--log PATH] [--run-dir DIR]\n"
               "       cvminit --modprobe [-q] [--] MODULE\n\n"
               "As PID 1: mounts the API file systems, loads kernel modules, reads and measures the\n"
               "config, brings up ip=, mounts the configured media, measures the models, measures the\n"
               "workload, then starts and supervises it and powers off when it ends. Settings come\n"
               "from the kernel command line: cvminit.config= cvminit.register= cvminit.pcr=\n"
               "cvminit.tcti= cvminit.on_failure=poweroff|reboot|halt cvminit.log_level= ip=\n"
               "(docs/config.md).\n\n"
               "With --config, the same flow runs without the early mounts, modules, network and\n"
               "power-off, for hosts and tests:\n"
               "  --config FILE      the config document\n"
               "  --tcti TCTI        tpm2-tss TCTI (default %s)\n"
               "  --pcr N            PCR index 0-23 (default %u)\n"
               "  --register KIND    auto, tpm or tdx (default auto: tdx when RTMR3 is writable, see\n"
               "                     CVMINIT_TDX_SYSFS, else tpm)\n"
               "  --log PATH         measurement log (default %s)\n"
               "  --run-dir DIR      where model manifests are written (default %s)\n\n"
               "Exit codes (--config): the workload's final exit status (128+N if killed by signal\n"
               "N); %d usage error; %d the boot failed (the reason is logged, and a boot-failed\n"
               "event is in the log when it could be written).\n",
               MR_TPM_DEFAULT_TCTI, MR_TPM_DEFAULT_PCR, BOOT_LOG_PATH, BOOT_RUN_DIR, BOOT_EXIT_USAGE,
               BOOT_EXIT_FAILED);
        return 0;
}

static int usage(const char *msg) {
        log_error("%s (see --help)", msg);
        return BOOT_EXIT_USAGE;
}

static int parse_argv(int argc, char **argv, struct boot_options *o) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, 'c' },
                { "tcti", required_argument, NULL, 't' },
                { "pcr", required_argument, NULL, 'p' },
                { "register", required_argument, NULL, 'r' },
                { "log", required_argument, NULL, 'l' },
                { "run-dir", required_argument, NULL, 'd' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "hc:t:p:r:l:d:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help(), -1;
                case 'c':
                        o->config_file = optarg;
                        break;
                case 't':
                        if (!optarg[0] || strlen(optarg) > CMDLINE_TCTI_MAX)
                                return usage("--tcti must have 1 to 1023 characters");
                        o->tcti = optarg;
                        break;
                case 'p':
                        if (safe_atou(optarg, &o->pcr) < 0 || o->pcr > CMDLINE_PCR_MAX)
                                return usage("--pcr must be a PCR index from 0 to 23");
                        break;
                case 'r':
                        if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "tpm") != 0 && strcmp(optarg, "tdx") != 0)
                                return usage("--register must be auto, tpm or tdx");
                        o->reg = strcmp(optarg, "tdx") == 0 ? REGISTER_TDX : strcmp(optarg, "tpm") == 0 ? REGISTER_TPM
                                                                                                   : REGISTER_AUTO;
                        break;
                case 'l':
                        o->log_path = optarg;
                        break;
                case 'd':
                        /* models.h reads it (honoured only when not PID 1). */
                        if (setenv("CVMINIT_RUN_DIR", optarg, 1) < 0)
                                return log_error_errno(errno, "Cannot set CVMINIT_RUN_DIR: %m"), BOOT_EXIT_FAILED;
                        break;
                default:
                        return usage("unknown option");
                }
        if (optind < argc)
                return usage("unexpected argument");
        if (!o->config_file)
                return usage("not PID 1: --config FILE is required");
        return 0;
}

int main(int argc, char **argv) {
        uint64_t t0 = boot_now_ns();
        struct boot_options o = { .pcr = MR_TPM_DEFAULT_PCR, .reg = REGISTER_AUTO };
        bool had_stderr = std_fds_ensure();
        int r, blocked;

        /* First: no signal may be delivered asynchronously, and none sent early is lost. */
        blocked = signals_block();
        log_parse_environment();
        if (modprobe_mode(argc, argv)) {
                log_set_program("cvminit-modprobe");
                if (!had_stderr)
                        log_set_target(LOG_TARGET_CONSOLE_KMSG);
                return modprobe_main(argc, argv);
        }
        o.pid1 = getpid() == 1;
        if (o.pid1) {
                /* The kernel passes unknown command-line words as arguments: they are not ours. */
                log_set_target(LOG_TARGET_CONSOLE_KMSG);
                log_info("cvminit started as PID 1 at %.3f s after boot.", (double) t0 / 1e9);
        } else {
                r = parse_argv(argc, argv, &o);
                if (r != 0)
                        return r < 0 ? 0 : r;
        }
        if (blocked < 0)
                log_warning_errno(blocked, "Cannot block signals: %m");
        return boot_run(&o, t0);
}
