#!/bin/bash
# Time of `cvmtool quote verify` on the real Intel TDX quotes in tests/fixtures, chain included
# (parse the quote and the root, the quote and QE report signatures, the binding hash, the PCK
# chain to Intel's root): in-process with the hidden --repeat option (the library's cost), and as a
# loop of separate invocations (what an operator's script pays, process start included). Prints
# figures only: timing never fails. Target: under 5 ms per quote.
#
# Usage: tests/bench/bench-quote.sh BUILDDIR       (make bench-quote)
# Environment: BENCH_QUOTE_N=1000 verifications per figure.
set -eu
builddir=${1:?usage: bench-quote.sh BUILDDIR}
top=$(cd "$(dirname "$0")/../.." && pwd)
cvmtool=$(realpath "$builddir/cvmtool")
n=${BENCH_QUOTE_N:-1000}
fixtures=$top/tests/fixtures
root=$fixtures/tdx/intel-sgx-root-ca.pem
at=2027-01-01T00:00:00Z

[ -x "$cvmtool" ] || { echo "bench-quote: $cvmtool not built" >&2; exit 2; }
echo "bench-quote: $n verifications per figure; $(getconf _NPROCESSORS_ONLN) online CPUs;" \
	"load average $(cut -d' ' -f1-3 /proc/loadavg)"

for q in tdx/tdx_prod_quote_SPR_E4.dat tdx/quote_v5_sample.dat ccel/gcp-cos113-cos-113-tdx-quote.dat; do
	f=$fixtures/$q
	# In-process: cvmtool reports the time of its own loop on standard error.
	line=$("$cvmtool" quote verify "$f" --root "$root" --at "$at" --allow-trailing --repeat "$n" 2>&1 >/dev/null |
		grep '^repeat:') || { echo "bench-quote: $q does not verify" >&2; exit 1; }
	us=$(echo "$line" | sed -E 's/.* ([0-9.]+) us each/\1/')
	# Separate processes.
	t0=$(date +%s%N)
	for _ in $(seq 1 "$n"); do
		"$cvmtool" quote verify "$f" --root "$root" --at "$at" --allow-trailing >/dev/null
	done
	t1=$(date +%s%N)
	printf '%-42s in-process %7.3f ms/quote   per invocation %7.3f ms/quote (target < 5)\n' "$(basename "$q")" \
		"$(awk -v u="$us" 'BEGIN { print u / 1000 }')" "$(awk -v ns=$((t1 - t0)) -v n="$n" 'BEGIN { print ns / n / 1e6 }')"
done
