#!/bin/bash
# The LUKS2 data disk (agent/disk.c; DESIGN §6; docs/disk.md) under QEMU. The guest's workload is
# tests/qemu/disk-probe (test-only scaffolding) which calls disk_open with a fixed test key from
# fw_cfg, so every on-disk case is set up without a broker (the attested path, with the key from
# cvm-broker, is test-disk-kbs.sh and test-kbs-*.sh); cvminit is PID 1 around it (modules, the
# kernel's module helper for the crypto templates, power-off).
#
# Scenarios: first boot formats a blank disk (LUKS2, aes-xts-plain64 + hmac(sha256), the integrity
# wipe, mkfs.ext4) and writes a marker; the host's cryptsetup luksDump shows LUKS2 with integrity
# and the stage "ready"; the second boot opens without formatting, reads the marker and every
# sector (all integrity tags valid); the `disk` event carries the config's values. A LUKS2 volume
# for another key, a disk holding ext4, unknown non-zero data: refused with a message naming what
# was found, the disk byte-identical before and after (damaged headers, LUKS1, partition tables,
# two signatures: tests/unit/test-disk.c on the host). One byte of ciphertext changed on the host:
# reading it fails, nothing decrypts to garbage. Power cuts during first-time setup (QEMU killed
# at each stage, in one chain): each next boot resumes, the last completes, and the volume opens
# with the marker and valid tags; a cut inside crypt_format completes or stops with a clear message.
source "$(dirname "$0")/lib-qemu.sh"

: "${CVMTOOL:?run through tests/run-tests.sh (CVMTOOL, BUILDDIR)}"
CVMINIT=$BUILDDIR/cvminit
PROBE=$BUILDDIR/tests/qemu/disk-probe
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built"
[ -x "$PROBE" ] || fail "$PROBE is not built (make tests)"
for tool in jq cryptsetup sha256sum; do
	command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps installs it)"
done
MKFS=$(PATH=$PATH:/usr/sbin:/sbin command -v mkfs.ext4) || fail "mkfs.ext4 is missing"

qemu_kernel
initrd=$TEST_TMP/initramfs.cpio.gz
qemu_initramfs "$initrd" --init "$CVMINIT" \
	--modules-from "$TOP/image/modules.list" --libs-from "$TOP/image/dlopen-libs.list" \
	--file /usr/bin/busybox=/bin/busybox --link /usr/bin/sh=busybox \
	--bin "$MKFS=/usr/sbin/mkfs.ext4" --bin "$PROBE=/usr/bin/disk-probe"
QEMU_INITRD=$initrd
qemu_tpm

# The test keys: fixed bytes, so a failure can be reproduced by hand.
KEY=$TEST_TMP/key.bin OTHER_KEY=$TEST_TMP/other-key.bin
printf '%s' 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f | xxd -r -p >"$KEY"
printf '%s' f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff000102030405060708090a0b0c0d0e0f | xxd -r -p >"$OTHER_KEY"

# The disk section the probe uses (a whole config document: the probe parses it with config_parse).
jq -n '{version: 1, workload: {exec: ["/bin/true"]},
	disk: {name: "data", device: "SERIAL=cvm-data", path: "/data", timeout_ms: 5000}}' >"$TEST_TMP/disk.json"

# cvminit's own config: the workload runs the probe, then sends its log back over ttyS1.
probe_config() {
	local script='disk-probe "$@"; rc=$?; l=/run/disk-probe.log
if [ -s $l ]; then { echo "--- BEGIN disk.log ---"; base64 $l
  echo "--- END disk.log sha256=$(sha256sum <$l | cut -d" " -f1) ---"; } >/dev/ttyS1; fi
echo "disk-probe: exit $rc"'
	local args
	args=$(for a in "$@"; do printf '%s\n' "$a"; done | jq -R . | jq -s -c .)
	jq -n --arg s "$script" --argjson a "$args" '{version: 1,
		modules: ["virtio_pci", "virtio_blk", "dm_mod", "dm_crypt", "dm_integrity", "ext4",
			"algif_skcipher", "algif_hash"],
		workload: {exec: (["/usr/bin/busybox", "sh", "-c", $s, "sh"] + $a),
			env: {PATH: "/usr/bin"}, on_exit: "poweroff"}}' >"$TEST_TMP/config.json"
}

# boot IMAGE [KEYFILE] [PROBE-ARGS...]: starts the guest with IMAGE as the data disk.
boot() {
	local img=$1 key=${2:-$KEY}
	shift 2 || shift
	probe_config "$@"
	qemu_reset
	qemu_disk "$img" cvm-data
	qemu_config "$TEST_TMP/config.json"
	qemu_fw_cfg opt/cvminit-test/disk "${DISK_JSON:-$TEST_TMP/disk.json}"
	qemu_fw_cfg opt/cvminit-test/key "$key"
	qemu_start
}
probe_line() { console | sed -nE "s/^disk-probe: $1\$/\\1/p" | tail -n1; }
must_see() { console | grep -qE -- "$1" || fail "the console does not show /$1/:
$(qemu_console_tail 40)"; }
luks_subsystem() { cryptsetup luksDump "$1" 2>/dev/null | sed -nE 's/^Subsystem:[[:space:]]*//p'; }

note "first boot: a blank 64 MiB disk is set up, a marker written"
DISK=$TEST_TMP/data.img
"$TOP/image/mkdisk" raw "$DISK" 64M
boot "$DISK" "$KEY" --write-marker first-boot
qemu_wait poweroff
[ -z "${KEEP_CONSOLE:-}" ] || cp "$QEMU_CONSOLE" "$KEEP_CONSOLE.first"
must_see '^disk-probe: opened in [0-9]+ ms'
must_see '^disk-probe: marker written'
must_see 'Disk data: formatting /dev/vda as LUKS2'
first_ms=$(probe_line 'opened in ([0-9]+) ms')
wipe_s=$(console | sed -nE 's/.*integrity tags initialised in ([0-9.]+) s.*/\1/p' | tail -n1)
note "first boot: disk_open (format, wipe, mkfs, mount) took $first_ms ms; the wipe $wipe_s s"
dump=$(cryptsetup luksDump "$DISK") || fail "cryptsetup luksDump cannot read the guest's header"
grep -qE '^Version:[[:space:]]+2$' <<<"$dump" || fail "not LUKS2: $dump"
grep -qE 'cipher: aes-xts-plain64' <<<"$dump" || fail "not aes-xts-plain64: $dump"
grep -qE 'integrity: hmac\(sha256\)' <<<"$dump" || fail "no hmac(sha256) integrity: $dump"
grep -qE 'sector: 4096' <<<"$dump" || fail "not 4096-byte sectors: $dump"
grep -qE 'PBKDF:[[:space:]]+pbkdf2' <<<"$dump" || fail "key slot not PBKDF2: $dump"
[ "$(luks_subsystem "$DISK")" = "cvminit:ready" ] || fail "subsystem '$(luks_subsystem "$DISK")', expected cvminit:ready"
L=$TEST_TMP/disk.log
qemu_extract disk.log "$L" "$QEMU_SERIAL1"
ev=$(tr '\036' '\n' <"$L" | jq -c 'select(.)|select(.content.operation=="disk")|.content.content')
[ "$ev" = '{"cipher":"aes-xts-plain64","fs":"ext4","integrity":"hmac-sha256","name":"data"}' ] ||
	fail "disk event content: $ev"
expect 0 "$CVMTOOL" log replay "$L"

note "second boot: opened without formatting, the marker is there, every integrity tag valid"
boot "$DISK" "$KEY" --read-marker --read-all
qemu_wait poweroff
must_see "^disk-probe: marker 'first-boot'"
must_see '^disk-probe: read all [0-9]+ MiB'
console | grep -q 'formatting' && fail "the second boot formatted the disk"
console | grep -q 'creating an ext4' && fail "the second boot ran mkfs"
open_ms=$(probe_line 'opened in ([0-9]+) ms')
note "second boot: disk_open (open, check, mount) took $open_ms ms"

# refused IMAGE KEY PATTERN: the boot refuses the disk with a message matching PATTERN, and the
# image is byte-identical afterwards.
refused() {
	local img=$1 key=$2 want=$3 before
	before=$(sha256sum <"$img")
	boot "$img" "$key"
	qemu_wait poweroff
	must_see "^disk-probe: refused: $want"
	console | grep -q '^disk-probe: opened' && fail "the disk was opened"
	[ "$(sha256sum <"$img")" = "$before" ] || fail "the refused disk changed"
	note "refused, disk unchanged: $(probe_line 'refused: (.*)' | cut -c1-150)..."
}

note "a LUKS2 volume the key does not open (the first boot's disk, another key): refused"
refused "$DISK" "$OTHER_KEY" 'disk data: device SERIAL=cvm-data \(/dev/vda\): it holds a LUKS2 volume \(UUID [0-9a-f-]+\) with 1 key slot\(s\), none of which opens with the released key'

note "an ext4 file system: refused, never formatted over"
mkdir -p "$TEST_TMP/files" && echo precious >"$TEST_TMP/files/data.txt"
"$TOP/image/mkdisk" ext4 "$TEST_TMP/ext4.img" 64M stuff "$TEST_TMP/files"
refused "$TEST_TMP/ext4.img" "$KEY" "disk data: device SERIAL=cvm-data \\(/dev/vda\\): it holds ext4 \\(label 'stuff', UUID [0-9a-f-]+\\), not a LUKS2 volume"

note "data libblkid does not know: refused"
"$TOP/image/mkdisk" raw "$TEST_TMP/unknown.img" 64M
printf 'some application data' | dd of="$TEST_TMP/unknown.img" bs=1 seek=4096 conv=notrunc status=none
refused "$TEST_TMP/unknown.img" "$KEY" 'disk data: .*it holds no signature libblkid knows, but it is not empty either \(byte 4096 is not zero\)'

note "a blank disk with format never: refused, not set up"
jq '.disk.format = "never"' "$TEST_TMP/disk.json" >"$TEST_TMP/disk-never.json"
"$TOP/image/mkdisk" raw "$TEST_TMP/blank.img" 64M
DISK_JSON=$TEST_TMP/disk-never.json refused "$TEST_TMP/blank.img" "$KEY" \
	'disk data: device SERIAL=cvm-data \(/dev/vda\) is blank and disk.format is never: not setting it up'

note "one byte of ciphertext changed on the host: the read fails (integrity), nothing decrypts to garbage"
cp --sparse=always "$DISK" "$TEST_TMP/tampered.img"
# Invert the byte (writing a constant would change nothing when the ciphertext already holds it).
off=$((40 * 1024 * 1024 + 123))
old=$(dd if="$TEST_TMP/tampered.img" bs=1 skip=$off count=1 status=none | xxd -p)
printf "\\x$(printf %02x $((0x$old ^ 0xff)))" | dd of="$TEST_TMP/tampered.img" bs=1 seek=$off conv=notrunc status=none
cmp -s "$DISK" "$TEST_TMP/tampered.img" && fail "the tampered copy equals the disk"
boot "$TEST_TMP/tampered.img" "$KEY" --read-all
qemu_wait poweroff
must_see '^disk-probe: read error at byte [0-9]+'
must_see 'device-mapper: crypt: dm-[0-9]+: INTEGRITY AEAD ERROR'

# --- power cuts during first-time setup -----------------------------------------------------------
# One disk, one chain: each boot resumes what the previous one left and is cut at the next stage;
# the host checks the header's stage with cryptsetup between boots.
CUT=$TEST_TMP/cut.img
"$TOP/image/mkdisk" raw "$CUT" 64M
# cut STAGE: boot, wait until the probe pauses at STAGE, then pull the plug.
cut() {
	boot "$CUT" "$KEY" --pause-at "$1"
	qemu_wait_for "^disk-probe: paused at $1\$" 90
	qemu_kill
}
slots() { cryptsetup luksDump "$CUT" 2>/dev/null | grep -cE '^  [0-9]+: luks2$' || true; }

note "power cut after the LUKS2 header, before the key slot"
cut formatted
[ "$(luks_subsystem "$CUT")" = cvminit:formatted ] && [ "$(slots)" -eq 0 ] ||
	fail "after the cut: subsystem '$(luks_subsystem "$CUT")', $(slots) key slots"
note "... next boot formats again; power cut after the key slot, before the wipe"
cut keyslot
must_see 'stopped before its key slot was written .*formatting again'
[ "$(luks_subsystem "$CUT")" = cvminit:formatted ] && [ "$(slots)" -eq 1 ] ||
	fail "after the cut: subsystem '$(luks_subsystem "$CUT")', $(slots) key slots"
uuid=$(cryptsetup luksUUID "$CUT")
note "... next boot resumes with the wipe; power cut half-way through the wipe"
cut wipe-half
must_see 'stopped before the integrity tags were initialised: initialising them now'
note "... next boot wipes again; power cut after the wipe, before mkfs"
cut wiped
[ "$(luks_subsystem "$CUT")" = cvminit:wiped ] || fail "after the cut: subsystem '$(luks_subsystem "$CUT")'"
note "... next boot makes the file system; power cut while mkfs runs"
boot "$CUT" "$KEY"
qemu_wait_for '^disk-probe: stage mkfs$' 90
qemu_kill
note "... next boot makes it again; power cut after mkfs, before the stage is ready"
cut made-fs
[ "$(luks_subsystem "$CUT")" = cvminit:wiped ] || fail "after the cut: subsystem '$(luks_subsystem "$CUT")'"
note "... next boot completes the setup"
boot "$CUT" "$KEY" --write-marker after-cuts
qemu_wait poweroff
must_see 'an earlier first-time setup stopped during or after mkfs: creating the file system again'
must_see '^disk-probe: marker written'
[ "$(luks_subsystem "$CUT")" = cvminit:ready ] || fail "after setup: subsystem '$(luks_subsystem "$CUT")'"
[ "$(cryptsetup luksUUID "$CUT")" = "$uuid" ] || fail "the volume was formatted again after its key slot existed"
note "... and the volume opens again, marker there, every tag valid"
boot "$CUT" "$KEY" --read-marker --read-all
qemu_wait poweroff
must_see "^disk-probe: marker 'after-cuts'"
must_see '^disk-probe: read all [0-9]+ MiB'

note "power cut while crypt_format runs: the next boot completes or stops with a clear message"
"$TOP/image/mkdisk" raw "$CUT" 64M
boot "$CUT" "$KEY"
qemu_wait_for 'Disk data: formatting /dev/vda as LUKS2' 90
qemu_kill
boot "$CUT" "$KEY" --write-marker after-format-cut --read-all
qemu_wait poweroff
if console | grep -q '^disk-probe: refused:'; then
	must_see "^disk-probe: refused: .*it holds a LUKS header that libcryptsetup cannot load"
	note "... stopped: $(probe_line 'refused: (.*)' | cut -c1-120)..."
else
	must_see '^disk-probe: marker written'
	must_see '^disk-probe: read all [0-9]+ MiB'
	note "... completed: $(console | grep -oE 'Disk data: SERIAL=cvm-data \(/dev/vda\) is [^.]*')"
fi

note "figures: first-time setup of 64 MiB ${first_ms} ms (integrity wipe ${wipe_s} s); open + mount ${open_ms} ms"
[ -z "${KEEP_CONSOLE:-}" ] || cp "$QEMU_CONSOLE" "$KEEP_CONSOLE"
echo "ok"
