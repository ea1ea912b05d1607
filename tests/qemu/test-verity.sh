#!/bin/bash
# dm-verity model volumes (agent/verity.c; DESIGN §1 step 5, §3; docs/verity.md) under QEMU, with
# cvminit as PID 1. The image is built by image/mkverity from a sample model (64 MiB of data
# blocks), checked on the host by veritysetup (verify with the printed root hash, dump for the data
# block count) and built twice to the same bytes.
#
# Boot 1: the guest finds the volume by its serial, activates it, measures the verity `model`
# event, mounts it read-only; the workload reads the model file (its SHA-256 equals the host's
# sha256sum), cannot write, and sends the measurement log back: the event is exactly
# {"data_blocks","mode":"verity","name","root_hash"} with veritysetup's values, the log replays to
# the guest's PCR 14, and cvmtool predict computes the same PCR from the config alone; the mapping is
# closed at power-off. Boot 2: one byte of the model file changed in the image (a data block, not
# the superblock): the boot succeeds (measuring reads no data), the workload's read fails with EIO and
# the kernel reports the corrupted block. Boot 3: another pinned root hash: the boot fails closed
# (boot-failed, no workload) with "verity root hash mismatch for model sample on ...". Prints the
# guest's activation time for the 64 MiB volume.
source "$(dirname "$0")/lib-qemu.sh"

: "${CVMTOOL:?run through tests/run-tests.sh (CVMTOOL, BUILDDIR)}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built"
PATH=$PATH:/usr/sbin:/sbin
need_tools jq veritysetup debugfs sha256sum

qemu_cvminit_initrd
qemu_tpm

note "image/mkverity: a sample model in a 64 MiB verity volume"
MODEL=$TEST_TMP/model IMG=$TEST_TMP/model.img
"$TOP/image/mkdisk" sample-model "$MODEL" $((2 * 1024 * 1024))
"$TOP/image/mkverity" --label sample --size $((64 * 1024 * 1024)) "$MODEL" "$IMG" >"$TEST_TMP/mkverity.out" ||
	fail "mkverity failed"
val() { sed -nE "s/^$1=//p" "$TEST_TMP/mkverity.out"; }
root=$(val root_hash) blocks=$(val data_blocks) offset=$(val hash_offset)
[[ $root =~ ^[0-9a-f]{64}$ ]] && [ "$blocks" = 16384 ] && [ "$offset" = $((16384 * 4096)) ] ||
	fail "mkverity printed: $(cat "$TEST_TMP/mkverity.out")"
# Independent checks: veritysetup reads the whole volume against the printed root hash, and its
# superblock holds the printed block count.
veritysetup verify "$IMG" "$IMG" "$root" --hash-offset="$offset" >/dev/null 2>&1 ||
	fail "veritysetup verify refuses the image with the root hash mkverity printed"
dumped=$(veritysetup dump "$IMG" --hash-offset="$offset" | sed -nE 's/^Data blocks:[[:space:]]+//p')
[ "$dumped" = "$blocks" ] || fail "veritysetup dump says $dumped data blocks, mkverity $blocks"
cp -a "$MODEL" "$TEST_TMP/model-copy"
touch "$TEST_TMP/model-copy/config.json"
"$TOP/image/mkverity" --label sample --size $((64 * 1024 * 1024)) "$TEST_TMP/model-copy" "$TEST_TMP/again.img" >/dev/null
cmp -s "$IMG" "$TEST_TMP/again.img" || fail "two builds of the same model differ"
rm -f "$TEST_TMP/again.img"
want_sha=$(sha256sum <"$MODEL/model.safetensors" | cut -d' ' -f1)

# The workload: the model file's SHA-256 (or the read error), a write attempt, the mount options,
# PCR 14, then the measurement log over ttyS1.
SCRIPT='b=busybox; f=/models/sample/model.safetensors; l=/run/log/cvminit/measure.log
if out=$($b sha256sum $f 2>&1); then echo "workload: sha256 ${out%% *}"; else echo "workload: read failed: $out"; fi
if $b touch /models/sample/new 2>/dev/null; then echo "workload: writable"; else echo "workload: read-only"; fi
echo "workload: mount $($b grep " /models/sample " /proc/mounts)"
echo "workload: PCR14 sha256 $($b cat /sys/class/tpm/tpm0/pcr-sha256/14)"
{ echo "--- BEGIN measure.log ---"; $b base64 $l
  echo "--- END measure.log sha256=$($b sha256sum <$l | $b cut -d" " -f1) ---"; } >/dev/ttyS1
echo "workload: done"'
# config OUT ROOT_HASH
config() {
	jq -n --arg r "$2" --argjson n "$blocks" --arg s "$SCRIPT" '{version: 1,
		modules: ["virtio_pci", "virtio_blk", "dm_mod", "dm_verity", "ext4"],
		models: [{name: "sample", mode: "verity", device: "SERIAL=cvm-model", path: "/models/sample",
			root_hash: $r, data_blocks: $n, timeout_ms: 5000}],
		workload: {exec: ["/usr/bin/busybox", "sh", "-c", $s], env: {PATH: "/usr/bin"}}}' >"$1"
}
boot() { # IMAGE CONFIG
	qemu_reset
	qemu_disk "$1" cvm-model ro
	qemu_config "$2"
	qemu_start
}
must_see() { console | grep -qE -- "$1" || fail "the console does not show /$1/:
$(qemu_console_tail 40)"; }
line() { console | sed -nE "s/^workload: $1\$/\\1/p" | tail -n1; }

note "boot 1: activated, measured, mounted read-only; the workload reads the model"
config "$TEST_TMP/config.json" "$root"
boot "$IMG" "$TEST_TMP/config.json"
qemu_wait poweroff
[ -z "${KEEP_CONSOLE:-}" ] || cp "$QEMU_CONSOLE" "$KEEP_CONSOLE.1"
must_see '^workload: done'
[ "$(line 'sha256 ([0-9a-f]+)')" = "$want_sha" ] || fail "the guest read sha256 '$(line 'sha256 (.*)')$(line 'read failed: (.*)')', the host has $want_sha"
[ "$(line '(read-only|writable)')" = read-only ] || fail "the volume is writable"
mnt=$(line 'mount (.*)')
[[ $mnt =~ ^/dev/mapper/model-sample\ /models/sample\ ext4\ ro,nosuid,nodev ]] || fail "mounted as: $mnt"
activate_ms=$(console | sed -nE "s/.*Model sample: verity root hash $root activated in ([0-9.]+) ms.*/\\1/p" | head -n1)
[ -n "$activate_ms" ] || fail "no activation line with the root hash on the console:
$(qemu_console_tail 40)"
must_see 'Closed /dev/mapper/model-sample\.'
L=$TEST_TMP/measure.log
qemu_extract measure.log "$L" "$QEMU_SERIAL1"
pcr=$(line 'PCR14 sha256 ([0-9A-Fa-f]{64})' | tr 'A-F' 'a-f')
[ -n "$pcr" ] || fail "no PCR 14 from the guest"
expect 0 "$CVMTOOL" log verify "$L" --pcr "14=sha256:$pcr"
ops=$(tr '\036' '\n' <"$L" | jq -r 'select(.)|.content.operation' | tr '\n' ' ')
[ "$ops" = "config model workload boot-done " ] || fail "events in the guest's log: $ops"
ev=$(tr '\036' '\n' <"$L" | jq -c 'select(.)|select(.content.operation=="model")|.content.content')
want_ev=$(jq -cn --arg r "$root" --argjson n "$dumped" '{data_blocks: $n, mode: "verity", name: "sample", root_hash: $r}')
[ "$ev" = "$want_ev" ] || fail "model event content $ev, expected $want_ev"
predicted=$("$CVMTOOL" predict "$TEST_TMP/config.json" --bank sha256 --json) || fail "cvmtool predict failed"
[ "$(jq -r '.final.registers.pcr14.sha256' <<<"$predicted")" = "$pcr" ] ||
	fail "cvmtool predict gives PCR 14 $(jq -r '.final.registers.pcr14.sha256' <<<"$predicted"), the guest has $pcr"
[ "$(jq -c '.events[1].content' <<<"$predicted")" = "$want_ev" ] || fail "predicted model event: $(jq -c '.events[1]' <<<"$predicted")"
note "event $ev; guest PCR 14 = host replay = cvmtool predict"

note "boot 2: one byte of the model file changed in the image: boot succeeds, the read fails with EIO"
TAMPERED=$TEST_TMP/tampered.img
cp --sparse=always "$IMG" "$TAMPERED"
phys=$(debugfs -R "bmap /model.safetensors 0" "$IMG" 2>/dev/null)
[[ $phys =~ ^[0-9]+$ ]] && [ "$phys" -gt 0 ] && [ "$phys" -lt "$blocks" ] || fail "debugfs bmap gave '$phys'"
old=$(dd if="$TAMPERED" bs=1 skip=$((phys * 4096 + 100)) count=1 status=none | xxd -p)
printf "\\x$(printf '%02x' $((0x$old ^ 0xff)))" | dd of="$TAMPERED" bs=1 seek=$((phys * 4096 + 100)) conv=notrunc status=none
cmp -s "$IMG" "$TAMPERED" && fail "the byte was not changed"
boot "$TAMPERED" "$TEST_TMP/config.json"
qemu_wait poweroff
[ -z "${KEEP_CONSOLE:-}" ] || cp "$QEMU_CONSOLE" "$KEEP_CONSOLE.2"
must_see '^workload: done'
must_see "Model sample: verity root hash $root activated in"
console | grep -q 'Boot failed' && fail "the boot failed: $(console | grep 'Boot failed')"
[ -z "$(line 'sha256 (.*)')" ] || fail "the guest read the changed file: sha256 $(line 'sha256 (.*)')"
must_see '^workload: read failed: .*(Input/output error|I/O error)'
must_see "device-mapper: verity: [0-9]+:[0-9]+: data block $phys is corrupted"
note "read failed: $(line 'read failed: (.*)'); kernel: $(console | grep -oE 'device-mapper: verity: [^ ]+ data block [0-9]+ is corrupted' | head -n1)"

note "boot 3: another pinned root hash: the boot fails closed"
bad=${root:0:63}$(printf '%x' $(((0x${root:63:1} + 1) % 16)))
config "$TEST_TMP/bad.json" "$bad"
boot "$IMG" "$TEST_TMP/bad.json"
qemu_wait poweroff
[ -z "${KEEP_CONSOLE:-}" ] || cp "$QEMU_CONSOLE" "$KEEP_CONSOLE.3"
console | grep -q '^workload:' && fail "the workload ran: $(console | grep '^workload:' | head -n3)"
must_see "Boot failed in step measure: verity root hash mismatch for model sample on SERIAL=cvm-model \\(/dev/vda\\): the volume's hash tree has root hash $root, the config pins $bad"
must_see 'Failure measured: boot-failed \{"error":"verity root hash mismatch for model sample'
console | grep -q 'activated in' && fail "a mapping was activated with the wrong root hash"

note "figures: verity activation + measurement of a 64 MiB volume in the guest: ${activate_ms} ms"
echo "ok"
