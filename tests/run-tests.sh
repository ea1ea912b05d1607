#!/bin/bash
# Runs every unit test binary, every integration script and every QEMU test; prints one line per
# test and a final "N passed, N failed" line. Usage: tests/run-tests.sh BUILDDIR [PATTERN]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "${1:?usage: run-tests.sh BUILDDIR [PATTERN]}" && pwd)
pattern=${2:-}
export CVMTOOL="$builddir/cvmtool" BUILDDIR="$builddir" TOP="$top"
export FIXTURES="$top/tests/fixtures"

passed=0 failed=0 failures=()
logdir=$(mktemp -d /tmp/cvminit-tests.XXXXXX)
trap 'rm -rf "$logdir"' EXIT

run() {
	local name=$1; shift
	[ -n "$pattern" ] && [[ $name != *$pattern* ]] && return
	local log="$logdir/${name//\//_}.log" t0=$SECONDS
	if (cd "$top" && timeout 600 "$@") >"$log" 2>&1; then
		passed=$((passed + 1))
		printf 'PASS %-40s %3ds\n' "$name" $((SECONDS - t0))
	else
		failed=$((failed + 1))
		failures+=("$name")
		printf 'FAIL %-40s %3ds\n' "$name" $((SECONDS - t0))
		sed 's/^/    /' "$log" | tail -n 60
	fi
}

for t in "$builddir"/tests/test-*; do
	[ -x "$t" ] || continue
	run "unit/$(basename "$t")" "$t"
done
for t in "$top"/tests/integration/test-*.sh; do
	[ -f "$t" ] || continue
	run "integration/$(basename "$t" .sh)" bash "$t"
done
# QEMU boots (tests/qemu/lib-qemu.sh): the Debian kernel under TCG, a few seconds each.
for t in "$top"/tests/qemu/test-*.sh; do
	[ -f "$t" ] || continue
	run "qemu/$(basename "$t" .sh)" bash "$t"
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
