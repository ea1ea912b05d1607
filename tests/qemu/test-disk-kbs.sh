#!/bin/bash
# End to end (issue 4 item 5, first scenario): cvminit as PID 1 in QEMU attests to cvm-broker on
# the host's 127.0.0.1 over TLS (the guest reaches it as 10.0.2.2 through user networking), gets
# the disk key, and its own `disk` step sets up the blank data disk (LUKS2, hmac-sha256 integrity,
# ext4); the workload writes a marker; at power-off cvminit closes the disk (the shutdown hook).
# The host's cryptsetup luksDump shows LUKS2 with integrity and the stage "ready". The second boot
# attests again and opens the disk without formatting: the marker is there, and the guest's log
# holds config, key-provider, disk, workload, boot-done with the disk event's values. A power cut
# (QEMU killed) while the first boot of another blank disk initialises the integrity tags leaves a
# header at stage "formatted" with one key slot; the next boot attests again and completes the
# setup on the same volume (same LUKS UUID). (test-disk.sh cuts at every stage.) Prints the
# guest's own step times of attest and disk (the "attestation + key release + LUKS open" figure).
source "$(dirname "$0")/lib-qemu.sh"
source "$(dirname "$0")/../integration/lib-broker.sh"

: "${CVMTOOL:?run through tests/run-tests.sh (CVMTOOL, BUILDDIR)}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built"
need_tools jq cryptsetup tpm2_createprimary
MKFS=$(PATH=$PATH:/usr/sbin:/sbin command -v mkfs.ext4) || fail "mkfs.ext4 is missing"

qemu_cvminit_initrd --bin "$MKFS=/usr/sbin/mkfs.ext4"
# The vTPM and its AK (from tpm2-tools); the broker releases the disk key to that AK after the
# config and key-provider events.
qemu_tpm_ak
broker_certs
broker_disk_key

# config OUT SCRIPT: the broker, the disk, and a busybox workload (test config only) that runs
# SCRIPT and sends the measurement log back over ttyS1. The crypto modules dm-crypt needs are
# loaded with the config's modules, so their self-tests (seconds under TCG) run in the config step,
# not while the disk opens (docs/disk.md, figures).
config() {
	local script="$2"'
l=/run/log/cvminit/measure.log
{ echo "--- BEGIN measure.log ---"; base64 $l; echo "--- END measure.log sha256=$(sha256sum <$l | cut -d" " -f1) ---"; } >/dev/ttyS1'
	jq -n --arg url "https://10.0.2.2:$BROKER_PORT" --rawfile ca "$BROKER_CA" --arg s "$script" '{version: 1,
		modules: ["virtio_pci", "virtio_blk", "virtio_net", "dm_mod", "dm_crypt", "dm_integrity", "ext4",
			"algif_skcipher", "algif_hash", "xts", "aesni_intel", "authenc", "sha256_ssse3"],
		kbs: {url: $url, ca: $ca, resource: "default/disk/key", timeout_ms: 20000, retries: 2},
		disk: {name: "data", device: "SERIAL=cvm-data", path: "/data"},
		workload: {exec: ["/usr/bin/busybox", "sh", "-c", $s], env: {PATH: "/usr/bin"}, on_exit: "poweroff"}}' >"$1"
}
DISK=$TEST_TMP/data.img
"$TOP/image/mkdisk" raw "$DISK" 64M
boot() {
	qemu_reset
	qemu_disk "$DISK" cvm-data
	qemu_config "$1"
	qemu_net
	qemu_append ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off
	qemu_start
}
must_see() { console | grep -qE -- "$1" || fail "the console does not show /$1/:
$(qemu_console_tail 40)
broker: $(tail -n 5 "$BROKER_ERR")"; }
step_ms() { console | sed -nE "s/.*cvminit: Step $1 done in ([0-9.]+) ms.*/\\1/p" | tail -n1; }

note "first boot: attest, key released, the blank disk set up by cvminit's disk step, a marker written"
config "$TEST_TMP/first.json" 'echo first-boot >/data/marker && echo "workload: marker written"'
boot "$TEST_TMP/first.json"
qemu_wait poweroff
must_see 'Key received \(32 bytes\)'
must_see 'Disk data: formatting /dev/vda as LUKS2 \(aes-xts-plain64, integrity hmac-sha256\)'
must_see '^workload: marker written'
must_see 'Disk data: closed\.'
first_attest=$(step_ms attest) first_disk=$(step_ms disk) first_config=$(step_ms config)
expect_in "audit" "$(grep '"action":"resource"' "$BROKER_AUDIT")" '"decision":"allowed"'
dump=$(cryptsetup luksDump "$DISK") || fail "cryptsetup luksDump cannot read the guest's header"
grep -qE '^Version:[[:space:]]+2$' <<<"$dump" && grep -qE 'integrity: hmac\(sha256\)' <<<"$dump" &&
	grep -qE '^Subsystem:[[:space:]]+cvminit:ready$' <<<"$dump" || fail "luksDump: $dump"
L=$TEST_TMP/first.log
qemu_extract measure.log "$L" "$QEMU_SERIAL1"
ops=$(tr '\036' '\n' <"$L" | jq -r 'select(.)|.content.operation' | tr '\n' ' ')
[ "$ops" = "config key-provider disk workload boot-done " ] || fail "events in the guest's log: $ops"
ev=$(tr '\036' '\n' <"$L" | jq -c 'select(.)|select(.content.operation=="disk")|.content.content')
[ "$ev" = '{"cipher":"aes-xts-plain64","fs":"ext4","integrity":"hmac-sha256","name":"data"}' ] ||
	fail "disk event content: $ev"
grep -qiF "$(xxd -p -c 64 "$KEYS/default/disk/key")" <(console) && fail "the key appears on the console"

note "second boot: attest again, the disk opens without formatting, the marker is there"
config "$TEST_TMP/second.json" 'echo "workload: marker $(cat /data/marker)"'
boot "$TEST_TMP/second.json"
qemu_wait poweroff
must_see '^workload: marker first-boot$'
console | grep -q 'formatting' && fail "the second boot formatted the disk"
must_see 'Disk data: SERIAL=cvm-data \(/dev/vda\): found set up\.'
must_see 'Disk data: closed\.'
attest=$(step_ms attest) disk=$(step_ms disk)

note "power cut in the attested flow: QEMU killed while the integrity tags are being initialised"
CUT=$TEST_TMP/cut.img
"$TOP/image/mkdisk" raw "$CUT" 64M
DISK=$CUT boot "$TEST_TMP/first.json"
qemu_wait_for 'Disk data: initialising the integrity tags' 90
qemu_kill
console | grep -q '^workload:' && fail "the workload ran before the disk was set up"
dump=$(cryptsetup luksDump "$CUT") || fail "no LUKS2 header after the cut"
grep -qE '^Subsystem:[[:space:]]+cvminit:formatted$' <<<"$dump" &&
	[ "$(grep -cE '^  [0-9]+: luks2$' <<<"$dump")" -eq 1 ] || fail "after the cut: $dump"
uuid=$(cryptsetup luksUUID "$CUT")
note "... the next boot attests again and completes the setup (stage 'formatted', one key slot)"
DISK=$CUT boot "$TEST_TMP/first.json"
qemu_wait poweroff
must_see 'stopped before the integrity tags were initialised: initialising them now'
must_see '^workload: marker written'
[ "$(cryptsetup luksUUID "$CUT")" = "$uuid" ] || fail "the volume was formatted again after its key slot existed"
cryptsetup luksDump "$CUT" | grep -qE '^Subsystem:[[:space:]]+cvminit:ready$' || fail "the setup did not complete"
broker_stop

note "figures (guest clock, TCG): first boot config step ${first_config} ms (crypto modules and their"
note "         self-tests), attest ${first_attest} ms, disk setup ${first_disk} ms;"
note "         second boot attest ${attest} ms + disk open ${disk} ms"
echo "ok"
