#!/bin/bash
# OCI layer blob verification against model hashing, both by cvminit itself (--config mode against
# swtpm) with the same engine (measurements/hashtree.h) over the same bytes: one file of
# BENCH_OCI_MB as a model directory, and as an uncompressed tar layer of an image. Also the
# unpacking rate of that layer (libarchive, with the blob hashed again as it is read; a stand-in
# for crun). Page cache warm; each figure is the best of BENCH_RUNS. Prints figures only: timing
# never fails. Not part of make check.
#
# Usage: tests/bench/bench-oci.sh BUILDDIR      (make bench-oci)
# Environment: BENCH_OCI_MB=1024, BENCH_RUNS=3, BENCH_TMPDIR (default $TMPDIR or /var/tmp).
set -euo pipefail
builddir=$(realpath "${1:?usage: bench-oci.sh BUILDDIR}")
top=$(cd "$(dirname "$0")/../.." && pwd)
mb=${BENCH_OCI_MB:-1024}
runs=${BENCH_RUNS:-3}
base=${BENCH_TMPDIR:-${TMPDIR:-/var/tmp}}
export TMPDIR=$base
source "$top/tests/integration/lib-swtpm.sh"
CVMINIT=$builddir/cvminit
[ -x "$CVMINIT" ] && [ -x "$builddir/cvmtool" ] || fail "$builddir: cvminit and cvmtool must be built"
avail=$(df -Pm "$TEST_TMP" | awk 'NR == 2 { print $4 }')
[ "$avail" -gt $((3 * mb + 64)) ] || fail "$TEST_TMP has $avail MiB free, $((3 * mb + 64)) MiB needed"

note "data: $mb MiB of pseudo-random bytes"
mkdir -p "$TEST_TMP/model" "$TEST_TMP/l"
{ openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f -iv 0 -in /dev/zero 2>/dev/null || true; } |
	head -c $((mb * 1048576)) >"$TEST_TMP/model/weights.bin"
tar -C "$TEST_TMP/model" --owner=0 --group=0 -cf "$TEST_TMP/layer.tar" weights.bin
DIGEST=$("$top/tests/fixtures/oci/make-layout.sh" "$TEST_TMP/layout" v1 '{"Cmd":["/x"]}' "$TEST_TMP/layer.tar:none")
rm "$TEST_TMP/layer.tar"
MDIGEST=$("$builddir/cvmtool" manifest --digest "$TEST_TMP/model")
cat >"$TEST_TMP/crun" <<'EOF'
#!/bin/sh
exit 0
EOF
chmod +x "$TEST_TMP/crun"
export CVMINIT_CRUN=$TEST_TMP/crun
jq -n --arg m "$TEST_TMP/model" --arg md "$MDIGEST" --arg l "$TEST_TMP/layout" --arg d "$DIGEST" '{version: 1,
	models: [{name: "m", path: $m, expect: $md}],
	images: [{name: "app", layout: $l, ref: "v1", expect: $d}],
	workload: {image: "app"}}' >"$TEST_TMP/config.json"
swtpm_start sha256
cat "$TEST_TMP/model/weights.bin" "$TEST_TMP/layout/blobs/sha256/"* >/dev/null # warm the page cache

best() { sort -g | head -n1; }
model_s=() verify_s=() unpack_s=()
for ((i = 0; i < runs; i++)); do
	"$CVMINIT" --config "$TEST_TMP/config.json" --tcti "$SWTPM_TCTI" --pcr 16 --log "$TEST_TMP/log.$i" \
		--run-dir "$TEST_TMP/run" 2>"$TEST_TMP/err" || fail "cvminit: $(tail -n 5 "$TEST_TMP/err")"
	model_s+=("$(sed -nE 's/.*model m: 1 file, .* in ([0-9.]+) s .*/\1/p' "$TEST_TMP/err")")
	verify_s+=("$(sed -nE 's/.*image app: 1 layer, .* verified in ([0-9.]+) s .*/\1/p' "$TEST_TMP/err")")
	unpack_s+=("$(sed -nE 's/.*image app: 1 layer unpacked: .* in ([0-9.]+) s$/\1/p' "$TEST_TMP/err")")
done
tm=$(printf '%s\n' "${model_s[@]}" | best)
tv=$(printf '%s\n' "${verify_s[@]}" | best)
tu=$(printf '%s\n' "${unpack_s[@]}" | best)
ts=$( { /usr/bin/time -f %e sha256sum "$TEST_TMP/model/weights.bin" >/dev/null; } 2>&1)
rate() { awk -v b=$((mb * 1048576)) -v t="$1" 'BEGIN { if (t > 0) printf "%.2f GB/s", b / t / 1e9; else print "-" }'; }
printf '\n%-48s %8s %12s\n' "$mb MiB, page cache warm, best of $runs" seconds rate
printf '%-48s %8s %12s\n' "model hashing (cvminit, files mode)" "$tm" "$(rate "$tm")"
printf '%-48s %8s %12s\n' "layer blob verification (cvminit, same engine)" "$tv" "$(rate "$tv")"
printf '%-48s %8s %12s\n' "layer unpacking (libarchive + streaming hash)" "$tu" "$(rate "$tu")"
printf '%-48s %8s %12s\n' "sha256sum (reference)" "$ts" "$(rate "$ts")"
