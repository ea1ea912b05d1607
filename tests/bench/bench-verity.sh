#!/bin/bash
# What opening a dm-verity model volume costs inside the guest (agent/verity.c; docs/verity.md):
# cvminit's own figure "Model NAME: verity root hash ... activated in N ms (superblock and root hash,
# event, mapping)" for a 64 MiB volume and for a large sparse one (default 8 GiB of data blocks:
# a small model plus free space, whose hash tree image/mkverity builds here), one QEMU boot (TCG)
# each. The target is the same figure whatever the size (O(1)): under 50 ms. Also prints how long
# building each image took on the host. Prints figures only: timing never fails.
#
# Usage: tests/bench/bench-verity.sh BUILDDIR       (make bench-verity)
# Environment: BENCH_VERITY_LARGE_GB (8; 16 GiB took 37-52 s to build here), BENCH_VERITY_RUNS (1:
# boots per volume).
source "$(dirname "$0")/../qemu/lib-qemu.sh"

BUILDDIR=$(realpath "${1:?usage: bench-verity.sh BUILDDIR}")
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built"
large_gb=${BENCH_VERITY_LARGE_GB:-8}
runs=${BENCH_VERITY_RUNS:-1}
avail_mb=$(df -Pm "$TEST_TMP" | awk 'NR == 2 { print $4 }')
[ "$avail_mb" -gt $((large_gb * 8 + 512)) ] || fail "$TEST_TMP has $avail_mb MiB free: the hash tree of $large_gb GiB needs $((large_gb * 8)) MiB"

qemu_cvminit_initrd
qemu_tpm
"$TOP/image/mkdisk" sample-model "$TEST_TMP/model"

ms_now() { echo $(($(date +%s%N) / 1000000)); }

# volume NAME BYTES: builds TEST_TMP/NAME.img; sets ROOT, BLOCKS, BUILD_MS.
volume() {
	local t0 out
	t0=$(ms_now)
	out=$("$TOP/image/mkverity" --label "$1" --size "$2" "$TEST_TMP/model" "$TEST_TMP/$1.img") || fail "mkverity $1 failed"
	BUILD_MS=$(($(ms_now) - t0))
	ROOT=$(sed -nE 's/^root_hash=//p' <<<"$out")
	BLOCKS=$(sed -nE 's/^data_blocks=//p' <<<"$out")
}

# measure NAME: boots with the volume and prints the guest's figures.
measure() {
	local name=$1 i line
	jq -n --arg r "$ROOT" --argjson n "$BLOCKS" '{version: 1,
		modules: ["virtio_pci", "virtio_blk", "dm_mod", "dm_verity", "ext4", "sha256_ssse3"],
		models: [{name: "bench", mode: "verity", device: "SERIAL=cvm-model", path: "/models/bench",
			root_hash: $r, data_blocks: $n, timeout_ms: 10000}],
		workload: {exec: ["/usr/bin/busybox", "sh", "-c",
			"busybox sha256sum /models/bench/model.safetensors | busybox sed s/^/workload:\\ /"],
			env: {PATH: "/usr/bin"}}}' >"$TEST_TMP/$name.json"
	for ((i = 1; i <= runs; i++)); do
		qemu_reset
		qemu_disk "$TEST_TMP/$name.img" cvm-model ro
		qemu_config "$TEST_TMP/$name.json"
		qemu_run poweroff
		line=$(console | grep -oE 'Model bench: verity root hash [0-9a-f]+ activated in .*' | head -n1)
		[ -n "$line" ] || fail "no activation line for $name:
$(qemu_console_tail 30)"
		console | grep -q '^workload: ' || fail "the workload did not read the model on $name"
		printf '%-8s run %d: %s\n' "$name" "$i" "$(sed -E 's/^Model bench: verity root hash [0-9a-f]{8}[0-9a-f]* //' <<<"$line")"
	done
}

volume small $((64 * 1024 * 1024))
echo "small: 64 MiB of data blocks ($BLOCKS), image built in $BUILD_MS ms"
measure small
volume large $((large_gb * 1024 * 1024 * 1024))
echo "large: $large_gb GiB of data blocks ($BLOCKS, sparse), image and hash tree built in $BUILD_MS ms" \
	"($(($(du -k "$TEST_TMP/large.img" | cut -f1) / 1024)) MiB on disk)"
measure large
