# cvminit — a short, honest Makefile (after samurai's). Honours CC, CFLAGS, CPPFLAGS, LDFLAGS,
# PREFIX, DESTDIR. Everything is built under $(BUILDDIR).

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DOCDIR ?= $(PREFIX)/share/doc/cvminit
BUILDDIR ?= build

CC ?= cc
CFLAGS ?= -O2 -g
WERROR ?= -Werror
SANITIZE ?=

WARNFLAGS = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 \
	-Wno-format-nonliteral -Wvla $(WERROR)
ifeq ($(SANITIZE),)
HARDEN_CFLAGS = -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIE
HARDEN_LDFLAGS = -pie -Wl,-z,relro,-z,now
else
# Sanitizer build: FORTIFY would hide the errors ASan is there to find.
HARDEN_CFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -fPIE
HARDEN_LDFLAGS = -fsanitize=address,undefined -pie -Wl,-z,relro,-z,now
endif

PKGS = libcrypto jansson tss2-esys tss2-tctildr tss2-rc tss2-mu
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lcrypto -ljansson -ltss2-esys -ltss2-tctildr -ltss2-rc -ltss2-mu)

ALL_CFLAGS = -std=gnu11 $(WARNFLAGS) $(HARDEN_CFLAGS) -Imeasurements $(PKG_CFLAGS) $(CFLAGS) -MMD -MP
ALL_CPPFLAGS = -D_GNU_SOURCE $(CPPFLAGS)
ALL_LDFLAGS = $(HARDEN_LDFLAGS) $(LDFLAGS)
LIBS = $(PKG_LIBS) -lpthread

LIB_SRCS = $(sort $(wildcard measurements/*.c))
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILDDIR)/obj/%.o)
LIB = $(BUILDDIR)/libmeasurements.a

CVMTOOL_SRCS = $(sort $(wildcard tools/cvmtool*.c tools/tool*.c))
CVMTOOL_OBJS = $(CVMTOOL_SRCS:%.c=$(BUILDDIR)/obj/%.o)

UNIT_SRCS = $(sort $(wildcard tests/unit/test-*.c))
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILDDIR)/tests/%)

FUZZ_SRCS = $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BINS = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILDDIR)/fuzz/%)
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60

# cvminit (DESIGN §7): PID 1 (init/) and the boot flow (agent/), linked with libkmod, libblkid and
# libcryptsetup (the LUKS2 data disk).
INIT_PKGS = libkmod blkid libcryptsetup
INIT_CFLAGS := $(shell pkg-config --cflags $(INIT_PKGS) 2>/dev/null)
INIT_LIBS := $(shell pkg-config --libs $(INIT_PKGS) 2>/dev/null || echo -lkmod -lblkid -lcryptsetup)
# The KBS client (agent/kbs.c, agent/jwe.c): libcurl (OpenSSL flavour) and libjose.
KBS_PKGS = libcurl jose
KBS_CFLAGS := $(shell pkg-config --cflags $(KBS_PKGS) 2>/dev/null)
KBS_LIBS := $(shell pkg-config --libs $(KBS_PKGS) 2>/dev/null || echo -lcurl -ljose)
# OCI image layers (agent/image-unpack.c): libarchive linked statically, for tar with gzip and zstd
# only, so the initramfs does not get the shared library's dependencies (libxml2, ICU, nettle ...).
ARCHIVE_LIBS = -Wl,-Bstatic -larchive -Wl,-Bdynamic -lz -lzstd
$(BUILDDIR)/obj/agent/%.o $(BUILDDIR)/obj/tests/unit/%.o $(BUILDDIR)/obj/tests/helpers/%.o: \
	ALL_CFLAGS += -Iinit -Iagent $(KBS_CFLAGS)
CVMINIT_SRCS = $(sort $(wildcard init/*.c agent/*.c))
CVMINIT_OBJS = $(CVMINIT_SRCS:%.c=$(BUILDDIR)/obj/%.o)
$(BUILDDIR)/obj/init/%.o $(BUILDDIR)/obj/agent/%.o $(BUILDDIR)/obj/tests/unit/%.o $(BUILDDIR)/obj/tests/qemu/%.o: \
	ALL_CFLAGS += -Iinit -Iagent $(INIT_CFLAGS)

# cvm-broker (DESIGN §7, docs/broker.md): the key broker on libmicrohttpd (GnuTLS underneath).
BROKER_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
BROKER_SRCS = $(sort $(wildcard tools/cvm-broker*.c))
BROKER_OBJS = $(BROKER_SRCS:%.c=$(BUILDDIR)/obj/%.o)
# The broker's protocol core without HTTP, for the unit tests and fuzz targets.
BROKER_CORE_SRCS = tools/cvm-broker-core.c tools/cvm-broker-session.c tools/cvm-broker-jwe.c
BROKER_CORE_OBJS = $(BROKER_CORE_SRCS:%.c=$(BUILDDIR)/obj/%.o)

# cvm-tdxsim (DESIGN §8, docs/tdxsim.md): FUSE simulator of the kernel's TDX guest interfaces.
TDXSIM_CFLAGS := $(shell pkg-config --cflags fuse3 2>/dev/null || echo -I/usr/include/fuse3)
TDXSIM_LIBS := $(shell pkg-config --libs fuse3 2>/dev/null || echo -lfuse3)
TDXSIM_SRCS = $(sort $(wildcard tools/cvm-tdxsim*.c))
TDXSIM_OBJS = $(TDXSIM_SRCS:%.c=$(BUILDDIR)/obj/%.o)
$(BUILDDIR)/obj/tools/cvm-tdxsim-fs.o: ALL_CFLAGS += $(TDXSIM_CFLAGS)
# Its state, keys, quote and CCEL without FUSE, for the unit test.
TEST_OBJS_test-tdxsim = $(patsubst %,$(BUILDDIR)/obj/tools/cvm-tdxsim-%.o,state keys quote ccel)
$(BUILDDIR)/obj/tests/unit/test-tdxsim.o: ALL_CFLAGS += -Itools
# TDX evidence verification against quotes and firmware logs from the simulator's generators.
TEST_OBJS_test-tdx-verify = $(TEST_OBJS_test-tdxsim)
$(BUILDDIR)/obj/tests/unit/test-tdx-verify.o: ALL_CFLAGS += -Itools

PROGRAMS = $(BUILDDIR)/cvmtool $(BUILDDIR)/cvminit $(BUILDDIR)/cvminit-modprobe $(BUILDDIR)/cvm-broker \
	$(BUILDDIR)/cvm-tdxsim

all: $(PROGRAMS)

$(BUILDDIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $^

# cvmtool predict forms the boot's events with the agent's own functions (for images: the OCI
# parsers, layouts and bundles, without libarchive).
IMAGE_META_OBJS = $(patsubst %,$(BUILDDIR)/obj/agent/image-%.o,oci layout bundle)
CVMTOOL_AGENT_OBJS = $(BUILDDIR)/obj/agent/config.o $(BUILDDIR)/obj/agent/models.o $(BUILDDIR)/obj/agent/workload.o \
	$(IMAGE_META_OBJS)
$(BUILDDIR)/obj/tools/cvmtool-predict.o $(BUILDDIR)/obj/tools/cvmtool-predict-image.o: ALL_CFLAGS += -Iagent

$(BUILDDIR)/cvmtool: $(CVMTOOL_OBJS) $(CVMTOOL_AGENT_OBJS) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CVMTOOL_OBJS) $(CVMTOOL_AGENT_OBJS) $(LIB) $(LIBS)

$(BUILDDIR)/cvm-broker: $(BROKER_OBJS) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $(BROKER_OBJS) $(LIB) $(LIBS) $(BROKER_LIBS)

$(BUILDDIR)/cvm-tdxsim: $(TDXSIM_OBJS) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $(TDXSIM_OBJS) $(LIB) $(LIBS) $(TDXSIM_LIBS)

# The workload attestation API (init/api.c, docs/api.md): HTTP on a Unix socket with libmicrohttpd.
$(BUILDDIR)/cvminit: $(CVMINIT_OBJS) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CVMINIT_OBJS) $(LIB) $(LIBS) $(INIT_LIBS) $(KBS_LIBS) $(BROKER_LIBS) $(ARCHIVE_LIBS)

# The kernel's module helper on its own (init/helper/modprobe.c): libkmod and nothing it does not use.
MODPROBE_OBJS = $(BUILDDIR)/obj/init/helper/modprobe.o $(BUILDDIR)/obj/init/modules.o
$(BUILDDIR)/cvminit-modprobe: $(MODPROBE_OBJS) $(LIB)
	$(CC) $(ALL_LDFLAGS) -Wl,--as-needed -o $@ $(MODPROBE_OBJS) $(LIB) $(LIBS) -lkmod

# Unit tests: one cmocka binary per module; TEST_LDFLAGS_<name> adds per-test link flags
# (e.g. -Wl,--wrap=Esys_PCR_Extend), TEST_OBJS_<name> objects of init/ or agent/ the test
# exercises, TEST_LIBS_<name> the libraries those need.
.SECONDEXPANSION:
$(BUILDDIR)/tests/%: $(BUILDDIR)/obj/tests/unit/%.o $$(TEST_OBJS_$$*) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) $(TEST_LDFLAGS_$*) -o $@ $< $(TEST_OBJS_$*) $(LIB) $(LIBS) $(TEST_LIBS_$*) -lcmocka

# agent/ tests link the agent objects they exercise.
TEST_OBJS_test-config = $(BUILDDIR)/obj/agent/config.o
TEST_OBJS_test-workload = $(BUILDDIR)/obj/agent/workload.o $(BUILDDIR)/obj/agent/config.o
TEST_OBJS_test-models = $(BUILDDIR)/obj/agent/models.o $(BUILDDIR)/obj/agent/config.o
# OCI images (agent/image*.c): the parsers, layouts and bundles without libarchive.
TEST_OBJS_test-image-oci = $(IMAGE_META_OBJS) $(BUILDDIR)/obj/agent/config.o $(BUILDDIR)/obj/agent/workload.o
TEST_OBJS_test-image-bundle = $(TEST_OBJS_test-image-oci)
TEST_OBJS_test-image-unpack = $(BUILDDIR)/obj/agent/image-unpack.o
TEST_LIBS_test-image-unpack = $(ARCHIVE_LIBS)

# init/ tests: the objects each exercises (power.o for cmdline.o brings the mount table along).
INIT_O = $(BUILDDIR)/obj/init
TEST_OBJS_test-cmdline = $(INIT_O)/cmdline.o $(INIT_O)/power.o $(INIT_O)/mounts.o $(INIT_O)/devices.o
TEST_LIBS_test-cmdline = $(INIT_LIBS)
TEST_OBJS_test-network = $(INIT_O)/network.o
TEST_OBJS_test-mounts = $(INIT_O)/mounts.o $(INIT_O)/devices.o
TEST_LIBS_test-mounts = $(INIT_LIBS)
TEST_OBJS_test-devices = $(INIT_O)/devices.o
TEST_LIBS_test-devices = $(INIT_LIBS)
TEST_OBJS_test-modules = $(INIT_O)/modules.o
TEST_LIBS_test-modules = $(INIT_LIBS)
# The data disk (agent/disk.c) and what it builds on.
DISK_OBJS = $(BUILDDIR)/obj/agent/disk.o $(BUILDDIR)/obj/agent/dm-util.o $(BUILDDIR)/obj/agent/config.o \
	$(BUILDDIR)/obj/agent/workload.o $(INIT_O)/devices.o $(INIT_O)/mounts.o
TEST_OBJS_test-disk = $(DISK_OBJS)
TEST_LIBS_test-disk = $(INIT_LIBS)
TEST_OBJS_test-config-disk = $(BUILDDIR)/obj/agent/config.o
# Verity model volumes (agent/verity.c): the config and event on their own, the superblock and root
# hash on image files made by veritysetup (the host has no device-mapper).
TEST_OBJS_test-config-verity = $(BUILDDIR)/obj/agent/config.o $(BUILDDIR)/obj/agent/models.o
TEST_OBJS_test-verity = $(BUILDDIR)/obj/agent/verity.o $(BUILDDIR)/obj/agent/dm-util.o $(BUILDDIR)/obj/agent/models.o \
	$(BUILDDIR)/obj/agent/config.o $(INIT_O)/devices.o $(INIT_O)/mounts.o
TEST_LIBS_test-verity = $(INIT_LIBS)

# Programs the QEMU tests put into their guests (test-only scaffolding, never part of cvminit).
QEMU_HELPERS = $(BUILDDIR)/tests/qemu/disk-probe $(BUILDDIR)/tests/qemu/api-probe
$(BUILDDIR)/tests/qemu/api-probe: $(BUILDDIR)/obj/tests/qemu/api-probe.o
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $<
$(BUILDDIR)/tests/qemu/disk-probe: $(BUILDDIR)/obj/tests/qemu/disk-probe.o $(DISK_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(DISK_OBJS) $(LIB) $(LIBS) $(INIT_LIBS)

# The KBS client: JWE (libjose), evidence, the exchange; the quote against a fake ESAPI.
AGENT_O = $(BUILDDIR)/obj/agent
KBS_OBJS = $(AGENT_O)/kbs.o $(AGENT_O)/jwe.o $(AGENT_O)/secret.o $(AGENT_O)/evidence.o $(AGENT_O)/config.o
TEST_OBJS_test-jwe = $(AGENT_O)/jwe.o $(AGENT_O)/secret.o
TEST_LIBS_test-jwe = $(KBS_LIBS)
TEST_OBJS_test-kbs = $(KBS_OBJS)
TEST_LIBS_test-kbs = $(KBS_LIBS)
TEST_OBJS_test-evidence = $(AGENT_O)/evidence.o
# The attestation API's requests and answers (agent/api-handlers.c) against fake backends.
TEST_OBJS_test-api = $(AGENT_O)/api-handlers.o $(AGENT_O)/config.o
TEST_LDFLAGS_test-tpm-quote = -Wl,--wrap=Tss2_TctiLdr_Initialize,--wrap=Tss2_TctiLdr_Finalize \
	-Wl,--wrap=Esys_Initialize,--wrap=Esys_Finalize,--wrap=Esys_GetCapability,--wrap=Esys_PCR_Read \
	-Wl,--wrap=Esys_CreatePrimary,--wrap=Esys_Quote,--wrap=Esys_FlushContext
# Programs the KBS integration tests run (tests/helpers/NAME.c; test scaffolding, not installed).
KBS_HELPERS = $(BUILDDIR)/tests/helpers/kbs-jwe-enc
$(BUILDDIR)/tests/helpers/%: $(BUILDDIR)/obj/tests/helpers/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LIBS)
tests: $(KBS_HELPERS)

TEST_LDFLAGS_test-mr-tpm = -Wl,--wrap=Tss2_TctiLdr_Initialize,--wrap=Tss2_TctiLdr_Finalize \
	-Wl,--wrap=Esys_Initialize,--wrap=Esys_Finalize,--wrap=Esys_GetCapability \
	-Wl,--wrap=Esys_PCR_Extend,--wrap=Esys_PCR_Read

# The broker's core, JWE checked by libjose (an independent JOSE implementation).
TEST_OBJS_test-broker = $(BROKER_CORE_OBJS) $(TEST_OBJS_test-tdxsim)
$(BUILDDIR)/obj/tests/unit/test-broker.o: ALL_CFLAGS += -Itools
TEST_LIBS_test-broker = $(shell pkg-config --libs jose 2>/dev/null || echo -ljose)

tests: $(UNIT_BINS) $(QEMU_HELPERS)

# libFuzzer targets are built with clang, sanitizers on, from the library sources directly
# (plus FUZZ_SRCS_<name>, sources of agent/ a target exercises).
$(BUILDDIR)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(wildcard measurements/*.h) $$(FUZZ_SRCS_$$*)
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=gnu11 -g -O1 -D_GNU_SOURCE -DFUZZING -Imeasurements -Iagent $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ $< $(LIB_SRCS) $(filter %.c,$(FUZZ_SRCS_$*)) $(LIBS) $(FUZZ_LIBS_$*)

FUZZ_SRCS_fuzz-config = agent/config.c agent/config.h
FUZZ_SRCS_fuzz-oci = agent/image-oci.c agent/image-oci.h
FUZZ_SRCS_fuzz-unpack = agent/image-unpack.c agent/image-unpack.h agent/image-oci.h
FUZZ_LIBS_fuzz-unpack = $(ARCHIVE_LIBS)
# The KBS client's reading of broker answers (FUZZ_LIBS_<name>: libraries a target needs beyond LIBS).
FUZZ_SRCS_fuzz-kbs-client = agent/kbs.c agent/jwe.c agent/secret.c agent/evidence.c agent/config.c $(wildcard agent/*.h)
FUZZ_LIBS_fuzz-kbs-client = $(KBS_LIBS)
FUZZ_SRCS_fuzz-broker-attest = $(BROKER_CORE_SRCS) tools/cvm-broker.h
FUZZ_SRCS_fuzz-api = agent/api-handlers.c agent/api-handlers.h

fuzz-build: $(FUZZ_BINS)

fuzz: fuzz-build
	tests/fuzz/run.sh $(BUILDDIR)/fuzz $(FUZZ_SECONDS)

# The guest image (image/README.md): Debian's kernel unpacked into KERNELDIR (never installed on
# the host) and a reproducible initramfs with cvminit as /init, its libraries, the kernel modules
# and the default config (image/config.json: its workload prints the measurement log with cvmtool
# and powers off; a platform team replaces it with its own).
KERNELDIR ?= build/kernel
INITRAMFS = $(BUILDDIR)/initramfs.cpio.gz
IMAGE_INIT ?= $(BUILDDIR)/cvminit
IMAGE_CONFIG ?= image/config.json
IMAGE_FLAGS ?= --modules-from image/modules.list --libs-from image/dlopen-libs.list \
	--config $(IMAGE_CONFIG) --bin $(BUILDDIR)/cvmtool --bin /sbin/mkfs.ext4=/usr/sbin/mkfs.ext4 \
	--bin $(BUILDDIR)/cvminit-modprobe=/usr/lib/cvminit/modprobe --bin /usr/bin/crun

kernel:
	image/fetch-kernel $(KERNELDIR) >/dev/null

image: all kernel
	image/mkinitramfs -o $(INITRAMFS) --kernel $(KERNELDIR) --init $(IMAGE_INIT) $(IMAGE_FLAGS) --stats

deps:
	tools/install-deps

# The newcomer's first command: boot the demo VM end to end (image/demo says what it shows).
demo: deps
	$(MAKE) all kernel
	image/demo $(BUILDDIR)

check: deps
	$(MAKE) all tests
	$(MAKE) fuzz-build
	$(MAKE) kernel
	tests/run-tests.sh $(BUILDDIR)

check-asan: deps
	$(MAKE) BUILDDIR=$(BUILDDIR)/asan SANITIZE=1 CFLAGS="-O1 -g" all tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		tests/run-tests.sh $(BUILDDIR)/asan

bench-hash: all
	tests/bench/bench-hash.sh $(BUILDDIR)

# Opening a dm-verity model volume in the guest, 64 MiB and BENCH_VERITY_LARGE_GB (sparse) (docs/verity.md).
bench-verity: all kernel
	tests/bench/bench-verity.sh $(BUILDDIR)

# cvmtool quote verify on the real TDX quotes: in-process and per invocation (target < 5 ms).
bench-quote: all
	tests/bench/bench-quote.sh $(BUILDDIR)

# The broker's load generator (tests/bench/bench-broker.c): the agent's JWE code, software TPM
# quotes (tests/unit/softquote.h), TDX quotes from cvm-tdxsim's generators without FUSE
# (tests/unit/tdxevidence.h), libcurl. Built with the tests so it keeps compiling; run by bench-broker.
BENCH_BROKER = $(BUILDDIR)/bench/bench-broker
BENCH_BROKER_OBJS = $(BUILDDIR)/obj/tests/bench/bench-broker.o $(AGENT_O)/jwe.o $(AGENT_O)/secret.o \
	$(TEST_OBJS_test-tdxsim)
$(BUILDDIR)/obj/tests/bench/%.o: ALL_CFLAGS += -Iagent -Itests/unit -Itools $(KBS_CFLAGS)
$(BENCH_BROKER): $(BENCH_BROKER_OBJS) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $(BENCH_BROKER_OBJS) $(LIB) $(LIBS) $(KBS_LIBS) -lm
tests: $(BENCH_BROKER)

bench-broker: all $(BENCH_BROKER)
	tests/bench/bench-broker.sh $(BUILDDIR)

# OCI layer blob verification against model hashing (same engine), and layer unpacking.
bench-oci: all
	tests/bench/bench-oci.sh $(BUILDDIR)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DOCDIR)
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	install -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/

clean:
	rm -rf $(BUILDDIR)

.PHONY: all tests fuzz fuzz-build deps check check-asan bench-hash bench-verity bench-broker bench-quote bench-oci install clean kernel image demo
.SECONDARY:

-include $(shell find $(BUILDDIR)/obj -name '*.d' 2>/dev/null)

# Static analysis. cppcheck does not understand __attribute__((cleanup)), so the leaks it reports
# on _cleanup_ variables are not real: memleak is suppressed, everything else must be clean.
lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance --std=c11 \
		-D_GNU_SOURCE -Imeasurements -Iinit -Iagent --suppress=missingIncludeSystem --suppress=memleak \
		--inline-suppr measurements tools $(wildcard init agent)
.PHONY: lint
