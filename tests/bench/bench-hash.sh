#!/bin/bash
# Throughput and memory of `cvmtool hash` against `openssl dgst -sha256` (one file after another)
# and `sha256sum`, over a directory of several files and over one large file, with the page cache
# warm; and cvmtool's peak RSS over a larger input. Prints figures only: timing never fails.
#
# Usage: tests/bench/bench-hash.sh BUILDDIR       (make bench-hash)
# Environment (sizes in MiB):
#   BENCH_DIR_MB=2048   total size of the directory case
#   BENCH_DIR_FILES=8   number of files it is split into (plus a few small ones)
#   BENCH_FILE_MB=1024  the single large file
#   BENCH_RSS_MB=4096   input of the peak-RSS run (the files above, plus a filler file if needed)
#   BENCH_RUNS=3        each timing is the best of this many runs
#   BENCH_TMPDIR        where the data goes (default: $TMPDIR or /var/tmp)
#   BENCH_JOBS          passed as -j to cvmtool (default: its own default, the online CPUs)
set -eu
builddir=${1:?usage: bench-hash.sh BUILDDIR}
cvmtool=$(realpath "$builddir/cvmtool")
dir_mb=${BENCH_DIR_MB:-2048}
dir_files=${BENCH_DIR_FILES:-8}
file_mb=${BENCH_FILE_MB:-1024}
rss_mb=${BENCH_RSS_MB:-4096}
runs=${BENCH_RUNS:-3}
base=${BENCH_TMPDIR:-${TMPDIR:-/var/tmp}}
jobs_opt=()
[ -n "${BENCH_JOBS:-}" ] && jobs_opt=(-j "$BENCH_JOBS")

for tool in openssl sha256sum /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "bench-hash: $tool is missing (tools/install-deps)" >&2; exit 2; }
done
[ -x "$cvmtool" ] || { echo "bench-hash: $cvmtool not built" >&2; exit 2; }

filler_mb=$((rss_mb - dir_mb - file_mb))
[ "$filler_mb" -lt 0 ] && filler_mb=0
need_mb=$((dir_mb + file_mb + filler_mb + 64))
avail_mb=$(df -Pm "$base" | awk 'NR == 2 { print $4 }')
if [ "$avail_mb" -lt "$need_mb" ]; then
	echo "bench-hash: $base has ${avail_mb} MiB free, ${need_mb} MiB needed; set BENCH_TMPDIR or smaller sizes" >&2
	exit 2
fi

work=$(mktemp -d "$base/bench-hash.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# gen FILE MIB: pseudo-random bytes (AES-CTR keystream), fast and incompressible.
gen() {
	{ openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
		-iv 00000000000000000000000000000000 -in /dev/zero 2>/dev/null || true; } |
		head -c "$(($2 * 1048576))" >"$1"
}

echo "bench-hash: generating data in $work ..."
mkdir -p "$work/model/sub"
per_file=$((dir_mb / dir_files))
for i in $(seq 1 "$dir_files"); do
	d="$work/model"
	[ $((i % 2)) -eq 0 ] && d="$work/model/sub"
	gen "$(printf '%s/weights-%05d.bin' "$d" "$i")" "$per_file"
done
printf '{"model_type": "bench"}\n' >"$work/model/config.json"
: >"$work/model/sub/empty"
gen "$work/single.bin" "$file_mb"
[ "$filler_mb" -gt 0 ] && gen "$work/filler.bin" "$filler_mb"

mapfile -d '' dir_list < <(find "$work/model" -type f -print0 | LC_ALL=C sort -z)
dir_bytes=$(du -cb "${dir_list[@]}" | tail -n 1 | cut -f1)
file_bytes=$(stat -c %s "$work/single.bin")
rss_inputs=("$work/model" "$work/single.bin")
[ "$filler_mb" -gt 0 ] && rss_inputs+=("$work/filler.bin")
rss_bytes=$(du -cb "${rss_inputs[@]}" | tail -n 1 | cut -f1)

echo "bench-hash: warming the page cache ..."
cat "${dir_list[@]}" "$work/single.bin" >/dev/null
[ "$filler_mb" -gt 0 ] && cat "$work/filler.bin" >/dev/null

# best_ns CMD...: the fastest of $runs runs, in nanoseconds.
best_ns() {
	local best="" t0 t1 i
	for i in $(seq 1 "$runs"); do
		t0=$(date +%s%N)
		"$@" >/dev/null || { echo "bench-hash: failed: $*" >&2; exit 1; }
		t1=$(date +%s%N)
		if [ -z "$best" ] || [ $((t1 - t0)) -lt "$best" ]; then best=$((t1 - t0)); fi
	done
	echo "$best"
}

gbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.2f", b / ns }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
gib() { awk -v b="$1" 'BEGIN { printf "%.2f GiB", b / 1073741824 }'; }

cpus=$(getconf _NPROCESSORS_ONLN)
echo "bench-hash: directory ${#dir_list[@]} files $(gib "$dir_bytes"); single file $(gib "$file_bytes");" \
	"RSS input $(gib "$rss_bytes"); $cpus online CPUs; cvmtool ${jobs_opt[*]:-(default jobs)}; best of $runs"
echo "bench-hash: load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine lowers the figures)"

d_cvm=$(best_ns "$cvmtool" hash -a sha256 "${jobs_opt[@]}" "$work/model")
d_ossl=$(best_ns openssl dgst -sha256 "${dir_list[@]}")
d_sum=$(best_ns sha256sum "${dir_list[@]}")
f_cvm=$(best_ns "$cvmtool" hash -a sha256 "${jobs_opt[@]}" "$work/single.bin")
f_ossl=$(best_ns openssl dgst -sha256 "$work/single.bin")
f_sum=$(best_ns sha256sum "$work/single.bin")
rss_kb=$(/usr/bin/time -f %M "$cvmtool" hash -a sha256 "${jobs_opt[@]}" "${rss_inputs[@]}" 2>&1 >/dev/null | tail -n 1)

printf '%-12s %-34s %8s GB/s\n' \
	directory "cvmtool hash -a sha256" "$(gbps "$dir_bytes" "$d_cvm")" \
	directory "openssl dgst -sha256 (serial)" "$(gbps "$dir_bytes" "$d_ossl")" \
	directory sha256sum "$(gbps "$dir_bytes" "$d_sum")" \
	single-file "cvmtool hash -a sha256" "$(gbps "$file_bytes" "$f_cvm")" \
	single-file "openssl dgst -sha256" "$(gbps "$file_bytes" "$f_ossl")" \
	single-file sha256sum "$(gbps "$file_bytes" "$f_sum")"
printf 'peak RSS of cvmtool hash over %s: %s MiB (target < 32)\n' "$(gib "$rss_bytes")" \
	"$(awk -v k="$rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
printf 'ratio directory   cvmtool / openssl serial: %sx (target >= 1.8)\n' "$(ratio "$d_cvm" "$d_ossl")"
printf 'ratio directory   cvmtool / sha256sum:      %sx (target >= 10)\n' "$(ratio "$d_cvm" "$d_sum")"
printf 'ratio single file cvmtool / openssl:        %sx (target >= 0.95)\n' "$(ratio "$f_cvm" "$f_ossl")"
