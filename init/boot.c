/* SPDX-License-Identifier: MIT */
/* The boot step table and the fatal path (boot.h; DESIGN §1, §3). */
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "api.h"
#include "boot.h"
#include "cel.h"
#include "config.h"
#include "disk.h"
#include "event.h"
#include "image.h"
#include "jcs.h"
#include "kbs.h"
#include "log.h"
#include "models.h"
#include "mr-tdx.h"
#include "modules.h"
#include "mounts.h"
#include "mr.h"
#include "network.h"
#include "power.h"
#include "secret.h"
#include "supervise.h"
#include "verity.h"
#include "workload.h"

/* Modules the config's sources need before the config can be read (fw_cfg); absent ones are fine:
 * the config then comes from another source. */
static const char *const source_modules[] = { "qemu_fw_cfg" };

struct boot {
        const struct boot_options *o;
        uint64_t t0;
        struct boot_cmdline cmd;
        const char *tcti, *log_path;
        unsigned pcr;
        enum register_kind reg;
        struct mr *mr;
        struct cel_writer *log;
        struct config *config;
        /* From the attest step for the disk step: locked memory (secret.h), never logged; wiped as
         * soon as it is used, at the latest in boot_done. */
        uint8_t *disk_key;
        size_t disk_key_len;
        uint64_t measure_ns;
        bool boot_done;
        enum supervise_end end;
        int status;
        struct api *api; /* the attestation API (init/api.h), from launch to the end */
        /* OCI images (agent/image.h): what was verified, and for an image workload its event and
         * the workload to supervise (crun), from the images step. */
        struct images *images;
        json_t *image_event;
        const struct workload *run;
};

struct boot_step {
        const char *name;
        int (*run)(struct boot *b, errbuf *err);
        bool fatal;
        bool pid1_only;
};

uint64_t boot_now_ns(void) {
        struct timespec ts = {};
        (void) clock_gettime(CLOCK_BOOTTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000000U + (uint64_t) ts.tv_nsec;
}

static double ms_since(uint64_t t) {
        return (double) (boot_now_ns() - t) / 1e6;
}

/* --- steps ----------------------------------------------------------------------------------- */

static int step_early(struct boot *b, errbuf *err) {
        int r = mounts_early(err);

        if (r < 0)
                return r;
        log_set_target(LOG_TARGET_CONSOLE_KMSG); /* /dev/kmsg exists now */
        r = signals_disable_cad();
        if (r < 0)
                log_warning_errno(r, "Cannot make ctrl-alt-del a signal to PID 1: %m");
        r = cmdline_read(b->o->cmdline_path, &b->cmd, err);
        if (r < 0)
                return r;
        if (b->cmd.log_level >= 0)
                log_set_level((enum log_level) b->cmd.log_level);
        b->tcti = b->cmd.tcti;
        b->pcr = b->cmd.pcr;
        b->reg = b->cmd.reg;
        return 0;
}

static int step_modules(struct boot *b, errbuf *err) {
        int r = modules_install_helper(err);

        (void) b;
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(source_modules); i++) {
                errbuf e = {};
                r = modules_load((char *const *) &source_modules[i], 1, NULL, &e);
                if (r < 0)
                        log_debug("Config source module not loaded: %s", e.msg);
        }
        /* configfs may have been a module: mount what the early step could not. */
        return mounts_early(err);
}

static int open_register(struct boot *b, errbuf *err) {
        const char *tcti = b->tcti ?: MR_TPM_DEFAULT_TCTI;
        int r;

        /* Called again by the fatal path when the log could not be opened: keep what is open. */
        if (!b->mr && (b->reg == REGISTER_TDX || (b->reg == REGISTER_AUTO && tdx_available()))) {
                errbuf e = {};
                r = mr_open_tdx(&b->mr, &e);
                if (r < 0)
                        return errbuf_set(err, r, "cannot use RTMR3 (register tdx): %s", e.msg);
                log_info("Measuring into RTMR3 through %s.", tdx_sysfs_dir());
        }
        r = b->mr ? 0 : mr_open_tpm(tcti, b->pcr, &b->mr);
        if (r == -ENOPKG)
                return errbuf_set(err, r, "TCTI '%s': no such TCTI library is installed", tcti);
        if (r == -EOPNOTSUPP)
                return errbuf_set(err, r, "the TPM at '%s' has an active PCR bank with a hash cvminit cannot "
                                  "compute: refusing to leave it unextended", tcti);
        if (r == -ENXIO)
                return errbuf_set(err, r, "the TPM at '%s' has PCR %u in no active bank", tcti, b->pcr);
        if (r < 0)
                return errbuf_set(err, r, "cannot open the TPM through TCTI '%s': %s", tcti, strerror(-r));
        if (!b->o->log_path && mkdir("/run/log", 0755) < 0 && errno != EEXIST)
                return errbuf_set(err, -errno, "cannot create /run/log: %s", strerror(errno));
        if (!b->o->log_path && mkdir("/run/log/cvminit", 0700) < 0 && errno != EEXIST)
                return errbuf_set(err, -errno, "cannot create /run/log/cvminit: %s", strerror(errno));
        errbuf e = {};
        r = cel_writer_open_detail(b->log_path, b->mr, &b->log, &e);
        if (r < 0)
                return errbuf_set(err, r, "cannot append to the measurement log %s: %s", b->log_path,
                                  e.msg[0] ? e.msg : strerror(-r));
        return 0;
}

static int measure_event(struct boot *b, const char *operation, json_t *content, errbuf *err) {
        int r;

        if (!content)
                return errbuf_set(err, -ENOMEM, "out of memory");
        r = cel_writer_append(b->log, EVENT_DOMAIN, operation, content);
        json_decref(content);
        if (r < 0)
                return errbuf_set(err, r, "cannot measure the %s event: %s", operation,
                                  cel_writer_error(b->log)[0] ? cel_writer_error(b->log) : strerror(-r));
        return 0;
}

static int step_config(struct boot *b, errbuf *err) {
        _cleanup_free_ uint8_t *raw = NULL;
        _cleanup_free_ char *source = NULL;
        json_t *content = NULL;
        size_t len;
        int r;

        r = open_register(b, err);
        if (r < 0)
                return r;
        r = config_read(b->cmd.config, b->o->config_file, &raw, &len, &source, err);
        if (r < 0)
                return r;
        /* Rule: the exact bytes are measured before anything looks inside them. */
        r = config_event_content(source, raw, len, &content);
        if (r < 0)
                return errbuf_set(err, r, "cannot describe the config for its event: %s", strerror(-r));
        r = measure_event(b, "config", content, err);
        if (r < 0)
                return r;
        log_info("Config from %s measured (%zu bytes).", source, len);
        r = config_parse(raw, len, &b->config, err);
        if (r < 0)
                return r;
        /* The disk key comes only from the broker: stop here, before any device or request. */
        if (b->config->disk && !b->config->kbs)
                return errbuf_set(err, -ENOKEY, "disk %s: the config names no key broker (\"kbs\"), and the disk "
                                  "key is released only by one: the disk stays closed", b->config->disk->name);
        /* Its kernel modules: the modules step ran before the config could be read (fw_cfg). */
        if (b->o->pid1)
                return modules_load(b->config->modules, b->config->n_modules, NULL, err);
        return 0;
}

static int step_network(struct boot *b, errbuf *err) {
        struct ip_config ip;
        int r;

        r = ip_config_parse(b->cmd.ip, &ip, err);
        if (r < 0)
                return r;
        r = network_apply(&ip, BOOT_NETDEV_TIMEOUT_MS, err);
        if (r < 0)
                return r;
        return network_write_resolv_conf(&ip, "/etc/resolv.conf", err);
}

static int step_mounts(struct boot *b, errbuf *err) {
        for (size_t i = 0; i < b->config->n_mounts; i++) {
                const struct config_mount *m = &b->config->mounts[i];
                int r = mount_configured(m->device, m->path, m->fs, m->options,
                                         m->timeout_ms > UINT32_MAX ? UINT32_MAX : (unsigned) m->timeout_ms, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* VmHWM: the peak resident set of this process, for the memory target of hashing in PID 1. */
static const char *peak_rss(char *buf, size_t n) {
        _cleanup_free_ uint8_t *status = NULL;
        const char *p;
        size_t len;

        snprintf(buf, n, "unknown");
        if (read_file_limited("/proc/self/status", 64 * 1024, &status, &len) < 0)
                return buf;
        p = strstr((const char *) status, "VmHWM:");
        if (p)
                snprintf(buf, n, "%.*s", (int) strcspn(p + 6 + strspn(p + 6, " \t"), "\n"),
                         p + 6 + strspn(p + 6, " \t"));
        return buf;
}

/* At shutdown, after every other process is gone: the data disk (mounted last), then the verity
 * model volumes. */
static void close_volumes(void) {
        disk_close_all();
        verity_close_all();
}

static int step_measure(struct boot *b, errbuf *err) {
        struct hash_options o = { .alg = HASH_SHA256 };
        char rss[64];
        uint64_t t = boot_now_ns();
        int r = 0;

        /* The broker's identity first (DESIGN §1 step 5): the policy sees whom we trust. */
        if (b->config->kbs) {
                r = kbs_measure_provider(b->config->kbs, b->log, err);
                if (r < 0)
                        return r;
        }
        /* Each model in config order: verity volumes in O(1) (agent/verity.h), directories file by file. */
        power_set_close_hook(close_volumes);
        for (size_t i = 0; r >= 0 && i < b->config->n_models; i++) {
                const struct config_model *m = &b->config->models[i];
                r = m->mode == MODEL_MODE_VERITY ? verity_open(m, b->log, err) : models_measure_one(m, b->log, &o, err);
        }
        /* Images on plain or verity media (agent/image.h); those on the data disk in step images. */
        if (r >= 0)
                r = images_measure(&b->images, b->config, false, b->log, &o, err);
        b->measure_ns = boot_now_ns() - t;
        if (b->config->n_models > 0)
                log_info("Model hashing took %.1f ms; peak memory of cvminit so far: %s.",
                         (double) b->measure_ns / 1e6, peak_rss(rss, sizeof(rss)));
        return r;
}

static void wipe_key(struct boot *b) {
        secret_free(b->disk_key);
        b->disk_key = NULL;
        b->disk_key_len = 0;
}

/* DESIGN §1 step 6: evidence, the KBS exchange, the disk key. */
static int step_attest(struct boot *b, errbuf *err) {
        int r;

        if (!b->config->kbs) {
                log_info("No key broker in the config: nothing to attest to.");
                return 0;
        }
        r = kbs_fetch_key(b->config->kbs, b->mr, b->log_path, &b->disk_key, &b->disk_key_len, err);
        if (r < 0)
                return r;
        log_info("Key received (%zu bytes).", b->disk_key_len);
        if (!b->config->disk) {
                log_info("No disk in the config: the key is not used; wiped.");
                wipe_key(b);
        }
        return 0;
}

/* DESIGN §1 step 7 (agent/disk.h): the released key opens the data disk, setting it up first if it
 * is blank; the key is wiped right after, whatever the outcome. At shutdown the disk is closed. */
static int step_disk(struct boot *b, errbuf *err) {
        int r;

        if (!b->config->disk)
                return 0;
        if (!b->disk_key) /* step_config refused a disk without a broker */
                return errbuf_set(err, -ENOKEY, "disk %s: no key was released for it", b->config->disk->name);
        power_set_close_hook(close_volumes);
        r = disk_open(b->config->disk, b->disk_key, b->disk_key_len, b->log, err);
        wipe_key(b);
        return r;
}

/* DESIGN §1 step 8 for images (agent/image.h): those on the data disk are measured now; then the
 * workload's image is unpacked into its rootfs and its bundle written. */
static int step_images(struct boot *b, errbuf *err) {
        struct hash_options o = { .alg = HASH_SHA256 };
        int r = images_measure(&b->images, b->config, true, b->log, &o, err);

        if (r >= 0)
                r = images_prepare(b->images, b->config, &b->image_event, &b->run, err);
        return r;
}

static void workload_started(pid_t pid, unsigned restarts, void *userdata) {
        struct boot *b = userdata;
        uint64_t now = boot_now_ns();

        if (restarts > 0) {
                log_info("Workload restarted (pid %d, restart %u).", (int) pid, restarts);
                return;
        }
        log_info("Workload started (pid %d): %.1f ms after cvminit started, %.1f ms excluding model hashing "
                 "(%.1f ms).", (int) pid, (double) (now - b->t0) / 1e6,
                 (double) (now - b->t0 - b->measure_ns) / 1e6, (double) b->measure_ns / 1e6);
}

static int step_launch(struct boot *b, errbuf *err) {
        json_t *content = NULL;
        int r;

        if (signals_stop_pending()) {
                log_info("A stop was requested during the boot: not starting the workload.");
                b->end = SUPERVISE_STOPPED;
                return 0;
        }
        /* The API's socket before the last events, so that a failure is still recorded as boot-failed. */
        r = api_listen(&b->config->api, &b->api, err);
        if (r < 0)
                return r;
        /* An image workload's event was formed with its bundle (step images). */
        r = b->image_event ? 0 : workload_event_content(&b->config->workload, &content);
        if (r < 0)
                return errbuf_set(err, r, "cannot describe the workload for its event: %s", strerror(-r));
        if (b->image_event)
                content = TAKE_PTR(b->image_event);
        r = measure_event(b, "workload", content, err);
        if (r < 0)
                return r;
        r = measure_event(b, "boot-done", json_object(), err);
        if (r < 0)
                return r;
        b->boot_done = true;
        log_info("Boot done %.1f ms after start: starting the workload.", ms_since(b->t0));
        /* From here the register and the log are the API's alone: the boot flow measures nothing more. */
        r = api_start(b->api, b->mr, b->log, b->log_path, err);
        if (r < 0)
                return r;
        r = supervise_run(b->run ?: &b->config->workload, b->o->pid1, workload_started, b, &b->status);
        api_free(TAKE_PTR(b->api)); /* the workload is gone: no more requests, before the power action */
        if (r < 0)
                return errbuf_set(err, r, "cannot supervise the workload: %s", strerror(-r));
        b->end = (enum supervise_end) r;
        return 0;
}

static const struct boot_step steps[] = {
        /* name       function       fatal  PID 1 only */
        { "early",    step_early,    true,  true },
        { "modules",  step_modules,  true,  true },
        { "config",   step_config,   true,  false },
        { "network",  step_network,  true,  true },
        { "mounts",   step_mounts,   true,  false },
        { "measure",  step_measure,  true,  false },
        { "attest",   step_attest,   true,  false },
        { "disk",     step_disk,     true,  false },
        { "images",   step_images,   true,  false },
        { "launch",   step_launch,   true,  false },
};

/* --- the end --------------------------------------------------------------------------------- */

static void record_failure(struct boot *b, const char *step, const char *msg) {
        _cleanup_free_ char *e = escape_untrusted(msg, strlen(msg), 400), *text = NULL;
        errbuf err = {};
        json_t *content;

        /* After boot-done nothing from the boot flow is measured (DESIGN §3). */
        if (b->boot_done)
                return;
        if (!b->log && strcmp(step, "early") != 0 && open_register(b, &err) < 0) {
                log_error("Cannot record the failure in the measurement log: %s", err.msg);
                return;
        }
        content = json_pack("{s:s, s:s}", "step", step, "error", e ?: "out of memory");
        /* The log is lost with the power-off: the console keeps what was measured (its exact text). */
        if (content && jcs_serialize(content, &text, NULL) < 0)
                text = NULL;
        if (measure_event(b, "boot-failed", content, &err) < 0)
                log_error("Cannot record the failure in the measurement log: %s", err.msg);
        else
                log_info("Failure measured: boot-failed %s", text ?: "(content not shown: out of memory)");
}

static int boot_fail(struct boot *b, const char *step, int r, const char *msg) {
        wipe_key(b); /* PID 1 does not come back from the power action */
        if (!msg[0])
                msg = strerror(-r);
        log_error("Boot failed in step %s: %s", step, msg);
        record_failure(b, step, msg);
        sync();
        if (b->o->pid1) {
                log_error("The workload will not be started: %s.", power_action_name(b->cmd.on_failure));
                power_final(b->cmd.on_failure);
        }
        return BOOT_EXIT_FAILED;
}

static void boot_done(struct boot *b) {
        api_free(TAKE_PTR(b->api)); /* before the register and log it uses */
        wipe_key(b);
        close_volumes(); /* --config mode; as PID 1, power_final closed them */
        cel_writer_free(b->log);
        mr_free(b->mr);
        images_free(b->images);
        json_decref(b->image_event);
        config_free(b->config);
        cmdline_done(&b->cmd);
}

int boot_run(const struct boot_options *o, uint64_t t0) {
        struct boot b = { .o = o, .t0 = t0, .tcti = o->tcti, .pcr = o->pcr, .reg = o->reg,
                          .log_path = o->log_path ?: BOOT_LOG_PATH, .cmd.on_failure = POWER_OFF };
        int exit_status;

        for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
                errbuf err = {};
                uint64_t t = boot_now_ns();
                if (steps[i].pid1_only && !o->pid1)
                        continue;
                int r = steps[i].run(&b, &err);
                if (r < 0 && steps[i].fatal) {
                        exit_status = boot_fail(&b, steps[i].name, r, err.msg);
                        boot_done(&b);
                        return exit_status;
                }
                if (r < 0)
                        log_warning("Step %s failed (not fatal): %s", steps[i].name, err.msg[0] ? err.msg : strerror(-r));
                else if (i + 1 < ELEMENTSOF(steps))
                        log_info("Step %s done in %.1f ms (%.1f ms since start).", steps[i].name,
                                 ms_since(t), ms_since(t0));
        }
        exit_status = b.status;
        wipe_key(&b);
        if (o->pid1) {
                enum power_action a = b.end == SUPERVISE_FINAL_EXIT &&
                                      b.config->workload.on_exit == WORKLOAD_ON_EXIT_REBOOT ? POWER_REBOOT : POWER_OFF;
                log_info("Workload finished (status %d): %s.", exit_status, power_action_name(a));
                power_final(a);
        }
        boot_done(&b);
        return exit_status;
}
