#!/bin/bash
# Runs every libFuzzer target in DIR for SECONDS each, seeded from tests/fuzz/corpus/<target>/
# (copied, so the repository's corpus is not modified). Fails if any target finds a crash.
set -uo pipefail
dir=$(cd "${1:?usage: run.sh FUZZDIR SECONDS}" && pwd)
seconds=${2:-60}
top=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/cvminit-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
status=0
for bin in "$dir"/fuzz-*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	corpus="$work/$name"
	mkdir -p "$corpus"
	seeds="$top/tests/fuzz/corpus/${name#fuzz-}"
	[ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
	echo "fuzz: $name for ${seconds}s"
	if ! (cd "$work" && "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=0 "$corpus" >"$work/$name.log" 2>&1); then
		echo "fuzz: $name FAILED"
		tail -n 40 "$work/$name.log"
		ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null
		status=1
	else
		grep -E '^#[0-9]+' "$work/$name.log" | tail -n 1
	fi
done
exit $status
