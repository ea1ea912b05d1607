/* SPDX-License-Identifier: MIT */
/* cvmtool ccel show|replay: TCG2 crypto-agile event logs, as the TDX firmware leaves them in the
 * ACPI CCEL region and as cvminit sends them in cc_eventlog (DESIGN §3, §7). */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

#include "cvmtool.h"
#include "log.h"
#include "tcg2.h"
#include "tooljson.h"

#define SUMMARY_TABLE_MAX 72U
#define SUMMARY_JSON_MAX 4096U

struct opts {
        bool json, tpm;
        const char *path;
};

static int help_show(void) {
        printf("Usage: cvmtool ccel show [--json] [--tpm] FILE\n\n"
               "Lists the events of a TCG2 crypto-agile event log: the TDX firmware log\n"
               "(/sys/firmware/acpi/tables/data/CCEL), a cc_eventlog, or with --tpm a TPM's\n"
               "binary_bios_measurements. Event 0 is the Spec ID header; events are numbered from 1.\n"
               "Columns: number, byte offset, MR index (with its TDX name; PCR number with --tpm), type,\n"
               "first digest (prefix), and a summary of the data: for AAEL tagged events (EV_EVENT_TAG)\n"
               "the domain, operation and content, flagged if the digest is not the data's hash; for\n"
               "text-like events the escaped text.\n"
               "Given the ACPI CCEL table instead (/sys/firmware/acpi/tables/CCEL, 56 bytes), shows the\n"
               "table's fields.\n\n"
               "  --json  print JSON instead of a table\n"
               "  --tpm   indexes are TPM PCR numbers, not CC MR indexes (0 MRTD, 1-4 RTMR0-3)\n\n"
               "Exit codes: 0 ok, 2 usage, 3 unreadable or malformed input (the message names the\n"
               "event number and byte offset), 4 out of memory. Input limit: %u bytes.\n",
               TCG2_INPUT_MAX);
        return EXIT_OK;
}

static int help_replay(void) {
        printf("Usage: cvmtool ccel replay [--tpm] FILE\n\n"
               "Replays a TCG2 crypto-agile event log: each register starts at zero and is extended\n"
               "with every event's digest (EV_NO_ACTION events are not extended). Prints one line per\n"
               "register and bank, in hex:\n\n"
               "  rtmr0 sha384 <hex>      CC MR indexes 1-4 = RTMR0-RTMR3, all four always printed\n"
               "  pcr7 sha256 <hex>       with --tpm: every PCR that has events (PCR 0 starts at its\n"
               "                          StartupLocality event's locality, if any)\n\n"
               "Without --tpm, events that extend MR index 0 (MRTD, measured by the TDX module only)\n"
               "or an index above 4 make the log invalid. Banks that we cannot compute are skipped\n"
               "with a warning.\n\n"
               "Exit codes: 0 ok, 2 usage, 3 unreadable or malformed input (the message names the\n"
               "event number and byte offset), 4 out of memory.\n");
        return EXIT_OK;
}

static int parse_opts(int argc, char **argv, const char *cmd, bool allow_json, struct opts *o) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                { "tpm", no_argument, NULL, 't' },
                {},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        return strcmp(cmd, "ccel show") == 0 ? help_show() : help_replay();
                case 'j':
                        if (!allow_json)
                                return usage_error(cmd, "--json is only for 'show'");
                        o->json = true;
                        break;
                case 't':
                        o->tpm = true;
                        break;
                default:
                        return usage_error(cmd, "unknown option");
                }
        if (argc - optind != 1)
                return usage_error(cmd, "expected one FILE");
        o->path = argv[optind];
        return -1; /* go on */
}

static int read_input(const char *path, uint8_t **ret, size_t *ret_len) {
        int r = read_file_limited(path, TCG2_INPUT_MAX, ret, ret_len);
        if (r == -EFBIG)
                return log_error_errno(r, "%s is larger than the limit of %u bytes.", path, TCG2_INPUT_MAX),
                       EXIT_INPUT;
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", path), exit_code_from_errno(r);
        return EXIT_OK;
}

static int parse_input(const char *path, const uint8_t *p, size_t n, struct tcg2_log *log) {
        errbuf err = {};
        int r = tcg2_parse(p, n, log, &err);
        if (r == -ENOMEM)
                return log_error_errno(r, "Cannot parse %s: %m", path), EXIT_TRANSIENT;
        if (r < 0)
                return log_error_errno(r, "%s is not a valid TCG2 event log: %s", path, err.msg), EXIT_INPUT;
        return EXIT_OK;
}

static void mr_label(uint32_t index, bool tpm, char *out, size_t size) {
        const char *name = tcg2_cc_mr_name(index);

        if (tpm)
                snprintf(out, size, "PCR %u", index);
        else if (name && index > 0)
                snprintf(out, size, "%u (RTMR%u)", index, index - 1);
        else
                snprintf(out, size, "%u (%s)", index, name ? "MRTD" : "?");
}

static const char *type_label(uint32_t type, char *buf, size_t size) {
        const char *name = tcg2_event_type_name(type);
        if (name)
                return name;
        snprintf(buf, size, "0x%08" PRIx32, type);
        return buf;
}

/* UEFI_VARIABLE_DATA (PFP §10.4.4): GUID, u64 name length (UCS-2 chars), u64 data length, name. */
static char *summary_efi_variable(const struct tcg2_event *e, size_t max) {
        uint64_t name_len = 0, data_len = 0;
        char name[64];
        size_t k = 0;

        if (e->data_len < 32)
                return NULL;
        for (unsigned i = 0; i < 8; i++) {
                name_len |= (uint64_t) e->data[16 + i] << (8 * i);
                data_len |= (uint64_t) e->data[24 + i] << (8 * i);
        }
        if (name_len > (e->data_len - 32) / 2)
                return NULL;
        for (; k < name_len && k < sizeof(name) - 1; k++) {
                const uint8_t *c = e->data + 32 + 2 * k;
                name[k] = (char) (c[1] == 0 && c[0] >= 0x20 && c[0] < 0x7f ? c[0] : '?');
        }
        name[k] = 0;
        _cleanup_free_ char *esc = escape_untrusted(name, k, max);
        char *s = NULL;
        if (esc && asprintf(&s, "var %s (%" PRIu64 " byte%s)", esc, data_len, data_len == 1 ? "" : "s") < 0)
                s = NULL;
        return s;
}

static bool text_like(const uint8_t *p, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((p[i] < 0x20 || p[i] >= 0x7f) && p[i] != '\n' && p[i] != '\t')
                        return false;
        return true;
}

/* A short, escaped description of the event data. */
static char *summary(const struct tcg2_event *e, size_t max) {
        const uint8_t *p = e->data;
        size_t n = e->data_len;
        struct buf b = {};
        char *s;

        if (e->aael) {
                _cleanup_free_ char *esc = escape_untrusted(e->text, e->text_len, max);
                if (esc && buf_printf(&b, "AAEL %s%s", esc, e->digests_match ? "" : " [DIGEST MISMATCH]") < 0)
                        buf_free(&b);
                return b.data;
        }
        if (e->type == 0x80000001U || e->type == 0x80000002U || e->type == 0x8000000CU || e->type == 0x800000E0U) {
                s = summary_efi_variable(e, max);
                if (s)
                        return s;
        }
        /* EV_EFI_PLATFORM_FIRMWARE_BLOB2, EV_EFI_HANDOFF_TABLES2: u8 length + description */
        if ((e->type == 0x8000000AU || e->type == 0x8000000BU) && n > 0 && p[0] < n) {
                size_t k = strnlen((const char *) p + 1, p[0]);
                if (text_like(p + 1, k))
                        return escape_untrusted((const char *) p + 1, k, max);
        }
        while (n > 0 && p[n - 1] == 0)
                n--;
        if (text_like(p, n))
                return escape_untrusted((const char *) p, n, max);
        s = hexmem(e->data, e->data_len < 8 ? e->data_len : 8);
        if (s && buf_printf(&b, "%" PRIu32 " bytes %s%s", e->data_len, s, e->data_len > 8 ? "..." : "") < 0)
                buf_free(&b);
        free(s);
        return b.data ?: strdup("");
}

static const char *end_label(enum tcg2_end end) {
        switch (end) {
        case TCG2_END_MARKER:
                return "an end marker";
        case TCG2_END_PADDING:
                return "padding";
        default:
                return "the end of the data";
        }
}

static void print_spec_id(const struct tcg2_spec_id *s) {
        printf("Spec ID Event03: spec %u.%u errata %u, uintnSize %u, index %" PRIu32 ", banks", s->version_major,
               s->version_minor, s->errata, s->uintn_size, s->index);
        for (unsigned i = 0; i < s->n_algs; i++)
                if (s->algs[i].alg >= 0)
                        printf(" %s", hash_alg_name(s->algs[i].alg));
                else
                        printf(" 0x%04x(%u bytes, unknown)", s->algs[i].alg_id, s->algs[i].size);
        printf("\n");
}

static int show_table(const struct tcg2_log *log, const struct opts *o, size_t file_size) {
        print_spec_id(&log->spec_id);
        printf("%5s %8s  %-10s %-32s %-24s %s\n", "#", "OFFSET", "MR", "TYPE", "DIGEST", "DATA");
        for (size_t i = 0; i < log->n_events; i++) {
                const struct tcg2_event *e = &log->events[i];
                const struct tcg2_digest *d = &e->digests[0];
                char mr[32], type[16], hex[17];
                _cleanup_free_ char *sum = summary(e, SUMMARY_TABLE_MAX);

                if (!sum)
                        return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
                mr_label(e->index, o->tpm, mr, sizeof(mr));
                hex_encode(d->d, d->size < 8 ? d->size : 8, hex);
                printf("%5u %8zu  %-10s %-32s %7s:%-16s %s\n", e->number, e->offset, mr,
                       type_label(e->type, type, sizeof(type)), d->alg >= 0 ? hash_alg_name(d->alg) : "?", hex,
                       sum);
        }
        printf("%zu events; the log ends at offset %zu with %s (%zu bytes in the file)\n", log->n_events,
               log->content_size, end_label(log->end), file_size);
        return EXIT_OK;
}

/* A JSON string from untrusted bytes: verbatim if valid UTF-8, else escaped. */
static json_t *json_text(const char *s, size_t n) {
        if (utf8_valid(s, n) && !memchr(s, 0, n))
                return json_stringn(s, n);
        _cleanup_free_ char *esc = escape_untrusted(s, n, SUMMARY_JSON_MAX);
        return esc ? json_string(esc) : NULL;
}

static int json_event_aael(json_t *j, const struct tcg2_event *e) {
        int r = json_object_set_new(j, "text", json_text(e->text, e->text_len));

        if (e->aael_split) {
                r |= json_object_set_new(j, "domain", json_text(e->domain, e->domain_len));
                r |= json_object_set_new(j, "operation", json_text(e->operation, e->operation_len));
                r |= json_object_set_new(j, "content", json_text(e->content, e->content_len));
        }
        return r ? -ENOMEM : 0;
}

static json_t *json_event(const struct tcg2_event *e, bool tpm) {
        _cleanup_free_ char *sum = summary(e, SUMMARY_JSON_MAX);
        json_t *j, *digests = json_array();
        const char *mr = tcg2_cc_mr_name(e->index);
        char type[16];

        for (unsigned i = 0; digests && i < e->n_digests; i++) {
                const struct tcg2_digest *d = &e->digests[i];
                _cleanup_free_ char *hex = hexmem(d->d, d->size);
                char alg[8];
                snprintf(alg, sizeof(alg), "0x%04x", d->alg_id);
                if (!hex || json_array_append_new(digests, json_pack("{s:s, s:s}", "alg",
                                                                     d->alg >= 0 ? hash_alg_name(d->alg) : alg,
                                                                     "digest", hex)) < 0)
                        return json_decref(digests), NULL;
        }
        j = json_pack("{s:I, s:I, s:I, s:s*, s:I, s:s, s:o*, s:I, s:b, s:s*}", "number", (json_int_t) e->number,
                      "offset", (json_int_t) e->offset, "index", (json_int_t) e->index, "mr", tpm ? NULL : mr,
                      "type", (json_int_t) e->type, "type_name", type_label(e->type, type, sizeof(type)),
                      "digests", digests, "data_size", (json_int_t) e->data_len, "digest_matches_event",
                      e->digests_match, "summary", sum);
        if (j && e->aael && json_event_aael(j, e) < 0)
                return json_decref(j), NULL;
        return j;
}

static int show_json(const struct tcg2_log *log, const struct opts *o) {
        json_t *events = json_array(), *banks = json_array(), *root;

        for (unsigned k = 0; banks && k < log->spec_id.n_algs; k++) {
                const struct tcg2_alg *a = &log->spec_id.algs[k];
                char id[8];
                snprintf(id, sizeof(id), "0x%04x", a->alg_id);
                json_array_append_new(banks, json_string(a->alg >= 0 ? hash_alg_name(a->alg) : id));
        }

        for (size_t i = 0; events && i < log->n_events; i++)
                if (json_array_append_new(events, json_event(&log->events[i], o->tpm)) < 0)
                        return json_decref(events), json_decref(banks), log_error_errno(ENOMEM, "Out of memory."),
                               EXIT_TRANSIENT;
        root = json_pack("{s:o*, s:o*, s:I, s:s}", "banks", banks, "events",
                         events, "content_size", (json_int_t) log->content_size, "end",
                         log->end == TCG2_END_MARKER ? "marker" : log->end == TCG2_END_PADDING ? "padding" : "data");
        return tool_json_print(root);
}

static int show_acpi_table(const char *path, const uint8_t *p, size_t n, bool json) {
        struct acpi_ccel t;
        errbuf err = {};
        int r = acpi_ccel_parse(p, n, &t, &err);
        _cleanup_free_ char *oem = NULL, *table = NULL, *creator = NULL;

        if (r < 0)
                return log_error_errno(r, "%s is not a valid ACPI CCEL table: %s", path, err.msg), EXIT_INPUT;
        oem = escape_untrusted(t.oem_id, strlen(t.oem_id), 32);
        table = escape_untrusted(t.oem_table_id, strlen(t.oem_table_id), 32);
        creator = escape_untrusted(t.creator_id, strlen(t.creator_id), 32);
        if (!oem || !table || !creator)
                return log_error_errno(ENOMEM, "Out of memory."), EXIT_TRANSIENT;
        if (json) {
                printf("{\"signature\": \"CCEL\", \"length\": %" PRIu32 ", \"revision\": %u, \"oem_revision\": %" PRIu32
                       ", \"cc_type\": %u, \"cc_subtype\": %u, \"laml\": %" PRIu64 ", \"lasa\": %" PRIu64 "}\n",
                       t.length, t.revision, t.oem_revision, t.cc_type, t.cc_subtype, t.laml, t.lasa);
                return EXIT_OK;
        }
        printf("ACPI CCEL table: length %" PRIu32 ", revision %u, checksum 0x%02x (valid)\n", t.length, t.revision,
               t.checksum);
        printf("OEM:       \"%s\" \"%s\" revision %" PRIu32 "\n", oem, table, t.oem_revision);
        printf("creator:   \"%s\" revision 0x%08" PRIx32 "\n", creator, t.creator_revision);
        printf("CC type:   %u (%s), subtype %u\n", t.cc_type,
               t.cc_type == ACPI_CC_TYPE_TDX ? "TDX" : t.cc_type == ACPI_CC_TYPE_SEV ? "SEV" : "unknown",
               t.cc_subtype);
        printf("log area:  %" PRIu64 " bytes at 0x%016" PRIx64 "\n", t.laml, t.lasa);
        return EXIT_OK;
}

static int cmd_show(int argc, char **argv) {
        struct tcg2_log log = {};
        _cleanup_free_ uint8_t *p = NULL;
        struct opts o = {};
        size_t n;
        int r;

        r = parse_opts(argc, argv, "ccel show", true, &o);
        if (r >= 0)
                return r;
        r = read_input(o.path, &p, &n);
        if (r != EXIT_OK)
                return r;
        if (acpi_ccel_is_table(p, n))
                return show_acpi_table(o.path, p, n, o.json);
        r = parse_input(o.path, p, n, &log);
        if (r != EXIT_OK)
                return r;
        r = o.json ? show_json(&log, &o) : show_table(&log, &o, n);
        tcg2_log_done(&log);
        return r;
}

/* Without --tpm, only RTMR0-3 (MR indexes 1-4) can be extended by software. */
static int check_cc_indexes(const char *path, const struct tcg2_log *log) {
        for (size_t i = 0; i < log->n_events; i++) {
                const struct tcg2_event *e = &log->events[i];
                if (e->type != TCG2_EV_NO_ACTION && (e->index == 0 || e->index > TCG2_CC_MR_RTMR3))
                        return log_error("%s: event %u at offset %zu extends MR index %" PRIu32
                                         ", which is not an RTMR (use --tpm for a TPM log).",
                                         path, e->number, e->offset, e->index),
                               EXIT_INPUT;
        }
        return EXIT_OK;
}

static bool index_used(const struct tcg2_log *log, uint32_t index) {
        for (size_t i = 0; i < log->n_events; i++)
                if (log->events[i].index == index && log->events[i].type != TCG2_EV_NO_ACTION)
                        return true;
        return false;
}

static int replay_one(const char *path, const struct tcg2_log *log, uint32_t index, const struct tcg2_alg *a,
                      bool tpm) {
        uint8_t v[HASH_MAX_SIZE];
        char hex[2 * HASH_MAX_SIZE + 1];
        errbuf err = {};
        int r = tcg2_replay(log, index, a->alg, v, &err);

        if (r < 0)
                return log_error_errno(r, "%s: cannot replay %s: %s", path, hash_alg_name(a->alg), err.msg),
                       exit_code_from_errno(r);
        hex_encode(v, a->size, hex);
        if (tpm)
                printf("pcr%" PRIu32 " %s %s\n", index, hash_alg_name(a->alg), hex);
        else
                printf("%s %s %s\n", tcg2_cc_mr_name(index), hash_alg_name(a->alg), hex);
        return EXIT_OK;
}

static int replay(const char *path, const struct tcg2_log *log, bool tpm) {
        const struct tcg2_spec_id *s = &log->spec_id;

        for (unsigned k = 0; k < s->n_algs; k++)
                if (s->algs[k].alg < 0 || !hash_alg_md(s->algs[k].alg))
                        log_warning("%s: bank 0x%04x (%u bytes) cannot be computed here; not replayed.", path,
                                    s->algs[k].alg_id, s->algs[k].size);
        for (uint32_t index = tpm ? 0 : 1; index < (tpm ? TCG2_INDEX_MAX : TCG2_CC_MR_RTMR3 + 1); index++) {
                if (tpm && !index_used(log, index))
                        continue;
                for (unsigned k = 0; k < s->n_algs; k++) {
                        int r;
                        if (s->algs[k].alg < 0 || !hash_alg_md(s->algs[k].alg))
                                continue;
                        r = replay_one(path, log, index, &s->algs[k], tpm);
                        if (r != EXIT_OK)
                                return r;
                }
        }
        return EXIT_OK;
}

static int cmd_replay(int argc, char **argv) {
        struct tcg2_log log = {};
        _cleanup_free_ uint8_t *p = NULL;
        struct opts o = {};
        size_t n;
        int r;

        r = parse_opts(argc, argv, "ccel replay", false, &o);
        if (r >= 0)
                return r;
        r = read_input(o.path, &p, &n);
        if (r != EXIT_OK)
                return r;
        if (acpi_ccel_is_table(p, n))
                return log_error("%s is the ACPI CCEL table, not the log: the log is "
                                 "/sys/firmware/acpi/tables/data/CCEL.", o.path),
                       EXIT_INPUT;
        r = parse_input(o.path, p, n, &log);
        if (r != EXIT_OK)
                return r;
        r = o.tpm ? EXIT_OK : check_cc_indexes(o.path, &log);
        if (r == EXIT_OK)
                r = replay(o.path, &log, o.tpm);
        tcg2_log_done(&log);
        return r;
}

static int help(void) {
        printf("Usage: cvmtool ccel show [--json] [--tpm] FILE\n"
               "       cvmtool ccel replay [--tpm] FILE\n\n"
               "Show or replay a TCG2 crypto-agile event log (TDX CCEL, cc_eventlog, or with --tpm a\n"
               "TPM's binary_bios_measurements). 'cvmtool ccel show --help' for details.\n");
        return EXIT_OK;
}

int cmd_ccel(int argc, char **argv) {
        static const struct verb verbs[] = { { "show", cmd_show }, { "replay", cmd_replay } };

        return run_verb("ccel", verbs, ELEMENTSOF(verbs), "'show' or 'replay'", help, argc, argv);
}
