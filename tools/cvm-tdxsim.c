/* SPDX-License-Identifier: MIT */
/* cvm-tdxsim: command line (DESIGN §7, §8; docs/tdxsim.md). Sets up the keys, the firmware log and
 * the registers, then serves the FUSE tree (cvm-tdxsim-fs.c) until unmounted or signalled. */
#include <getopt.h>
#include <limits.h>

#include "cvm-tdxsim.h"
#include "log.h"
#include "tcg2.h"

enum { EXIT_OK_ = 0, EXIT_USAGE_ = 2, EXIT_INPUT_ = 3, EXIT_TRANSIENT_ = 4 };

struct args {
        const char *keys, *ccel, *mountpoint, *fuse_opts;
        const char *mr_hex[_MR_MAX];
        bool foreground, debug;
};

static int help(void) {
        printf("Usage: cvm-tdxsim --keys DIR [OPTIONS] MOUNTPOINT\n\n"
               "Mounts a FUSE file system that behaves like the Linux kernel's TDX guest interfaces, with\n"
               "the kernel's paths under MOUNTPOINT:\n"
               "  sys/class/misc/tdx_guest/measurements/{mrtd,rtmr0..3}:sha384, mrconfigid, mrowner, mrownerconfig\n"
               "  sys/kernel/config/tsm/report/          configfs-tsm: mkdir NAME, write inblob, read outblob\n"
               "  sys/firmware/acpi/tables/CCEL, .../data/CCEL   the ACPI table and the firmware event log\n"
               "Quotes are TDX quotes v4 signed by a test PCK chain (docs/tdxsim.md).\n\n"
               "  --keys DIR            the test PKI: created if DIR holds none of its files, else reused\n"
               "                        (trust DIR/root.pem; quotes embed DIR/chain.pem)\n"
               "  --mrtd HEX            MRTD (96 hex digits; default SHA-384(\"cvm-tdxsim MRTD\"))\n"
               "  --mrconfigid HEX, --mrowner HEX, --mrownerconfig HEX   (default zero)\n"
               "  --ccel FILE           serve this firmware log (a TDX CCEL, SHA-384) instead of the built-in\n"
               "                        one; RTMR0-3 start as its replay either way\n"
               "  -f, --foreground      stay in the foreground (default: detach once mounted)\n"
               "  -d, --debug           FUSE debug output (implies -f)\n"
               "  -o OPTIONS            FUSE mount options (e.g. allow_other, auto_unmount)\n\n"
               "Stops and unmounts on SIGTERM, SIGINT or SIGHUP, or when unmounted (fusermount3 -u).\n"
               "Exit codes: 0 ok, 2 usage, 3 bad input (key directory, --ccel file), 4 cannot mount.\n");
        return EXIT_OK_;
}

static int usage(const char *msg) {
        fprintf(stderr, "cvm-tdxsim: %s\nTry 'cvm-tdxsim --help'.\n", msg);
        return EXIT_USAGE_;
}

static int parse_args(int argc, char **argv, struct args *a) {
        enum { O_KEYS = 256, O_MRTD, O_MRCONFIGID, O_MROWNER, O_MROWNERCONFIG, O_CCEL };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "keys", required_argument, NULL, O_KEYS },
                { "mrtd", required_argument, NULL, O_MRTD },
                { "mrconfigid", required_argument, NULL, O_MRCONFIGID },
                { "mrowner", required_argument, NULL, O_MROWNER },
                { "mrownerconfig", required_argument, NULL, O_MROWNERCONFIG },
                { "ccel", required_argument, NULL, O_CCEL },
                { "foreground", no_argument, NULL, 'f' },
                { "debug", no_argument, NULL, 'd' },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "hfdo:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return help();
                case O_KEYS: a->keys = optarg; break;
                case O_MRTD: a->mr_hex[MR_MRTD] = optarg; break;
                case O_MRCONFIGID: a->mr_hex[MR_MRCONFIGID] = optarg; break;
                case O_MROWNER: a->mr_hex[MR_MROWNER] = optarg; break;
                case O_MROWNERCONFIG: a->mr_hex[MR_MROWNERCONFIG] = optarg; break;
                case O_CCEL: a->ccel = optarg; break;
                case 'f': a->foreground = true; break;
                case 'd': a->debug = a->foreground = true; break;
                case 'o':
                        if (a->fuse_opts)
                                return usage("-o given twice (separate options with commas)");
                        a->fuse_opts = optarg;
                        break;
                default:
                        return usage("unknown option");
                }
        if (argc - optind != 1)
                return usage("expected one MOUNTPOINT");
        if (!a->keys)
                return usage("--keys DIR is required");
        a->mountpoint = argv[optind];
        return -1;
}

static int set_mrs(const struct args *a, struct tdxsim_td *td) {
        static const char *const names[_MR_MAX] = {
                [MR_MRTD] = "--mrtd", [MR_MRCONFIGID] = "--mrconfigid", [MR_MROWNER] = "--mrowner",
                [MR_MROWNERCONFIG] = "--mrownerconfig",
        };
        uint8_t *dest[_MR_MAX] = {
                [MR_MRTD] = td->mrtd, [MR_MRCONFIGID] = td->mrconfigid, [MR_MROWNER] = td->mrowner,
                [MR_MROWNERCONFIG] = td->mrownerconfig,
        };

        for (unsigned i = MR_MRTD; i < _MR_MAX; i++) {
                const char *h = a->mr_hex[i];
                if (h && (strlen(h) != 2 * TDX_MR_SIZE || unhex(h, strlen(h), dest[i], TDX_MR_SIZE) != TDX_MR_SIZE)) {
                        fprintf(stderr, "cvm-tdxsim: %s: expected %u hex digits\n", names[i], 2 * TDX_MR_SIZE);
                        return EXIT_USAGE_;
                }
        }
        return EXIT_OK_;
}

/* The firmware log: the built-in one padded to its log area, or a given file as it is. */
static int setup_ccel(const struct args *a, struct tdxsim *s) {
        struct buf log = { .max = TCG2_INPUT_MAX };
        errbuf err = {};
        int r;

        if (a->ccel) {
                r = read_file_limited(a->ccel, TCG2_INPUT_MAX, &s->ccel_data, &s->ccel_data_len);
                if (r < 0)
                        return log_error_errno(r, "Cannot read --ccel %s: %m", a->ccel), EXIT_INPUT_;
        } else {
                r = tdxsim_ccel_render(&log);
                while (r >= 0 && log.len < TDXSIM_CCEL_LAML)
                        r = buf_append(&log, "\xff", 1);
                if (r < 0) {
                        buf_free(&log);
                        return log_error_errno(r, "Cannot make the firmware log: %m"), EXIT_TRANSIENT_;
                }
                s->ccel_data = (uint8_t *) buf_steal(&log, &s->ccel_data_len);
        }
        r = tdxsim_ccel_replay(s->ccel_data, s->ccel_data_len, s->td.rtmr, &err);
        if (r < 0)
                return log_error_errno(r, "The firmware log %s does not replay: %s", a->ccel ?: "(built-in)", err.msg),
                       EXIT_INPUT_;
        tdxsim_ccel_table(s->ccel_data_len, TDXSIM_CCEL_LASA, s->ccel_table);
        return EXIT_OK_;
}

static int setup(const struct args *a, struct tdxsim *s) {
        errbuf err = {};
        int r;

        r = tdxsim_td_defaults(&s->td);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the TD: %m"), EXIT_TRANSIENT_;
        r = set_mrs(a, &s->td);
        if (r != EXIT_OK_)
                return r;
        r = setup_ccel(a, s);
        if (r != EXIT_OK_)
                return r;
        r = tdxsim_keys_load_or_create(a->keys, &s->keys, &err);
        if (r < 0)
                return log_error_errno(r, "Key directory %s: %s", a->keys, err.msg),
                       r == -ENOMEM ? EXIT_TRANSIENT_ : EXIT_INPUT_;
        log_info("%s the test PCK chain in %s (trust %s/root.pem).", r > 0 ? "Created" : "Loaded", a->keys, a->keys);
        return EXIT_OK_;
}

int main(int argc, char **argv) {
        struct tdxsim s = {};
        struct args a = {};
        char mountpoint[PATH_MAX];
        int r;

        log_set_program("cvm-tdxsim");
        log_parse_environment();
        r = parse_args(argc, argv, &a);
        if (r >= 0)
                return r;
        /* Absolute, because a daemon changes to / and unmounts by this path. */
        if (!realpath(a.mountpoint, mountpoint))
                return log_error_errno(errno, "Mount point %s: %m", a.mountpoint), EXIT_USAGE_;
        r = setup(&a, &s);
        if (r == EXIT_OK_) {
                struct tdxsim_fs_options o = {
                        .mountpoint = mountpoint,
                        .foreground = a.foreground,
                        .debug = a.debug,
                        .fuse_opts = a.fuse_opts,
                };
                r = tdxsim_fs_run(&s, &o) < 0 ? EXIT_TRANSIENT_ : EXIT_OK_;
        }
        tdxsim_done(&s);
        return r;
}
