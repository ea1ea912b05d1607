#!/bin/bash
# cvmtool ccel show|replay against production data: the GCP CCEL replays to the RTMRs inside its
# quote (read from the quote bytes with xxd), Trustee's AAEL log to its documented RTMR3; bad
# input exits 3 naming the event.
set -euo pipefail
: "${CVMTOOL:?}" "${FIXTURES:?}"
tmp=$(mktemp -d /tmp/cvminit-test-ccel.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

ccel=$FIXTURES/ccel/gcp-cos113-ccel_data.dat
quote=$FIXTURES/ccel/gcp-cos113-cos-113-tdx-quote.dat
aael=$FIXTURES/aael/CCEL_AAEL_alibabacloud

# Quote v4: 48-byte header, then the TD report body; RTMR0..3 at 376, 424, 472, 520.
rtmr() { xxd -s $((376 + 48 * $1)) -l 48 -p "$quote" | tr -d '\n'; }

"$CVMTOOL" ccel replay "$ccel" >"$tmp/replay"
for i in 0 1 2 3; do
	want="rtmr$i sha384 $(rtmr $i)"
	grep -qx "$want" "$tmp/replay" || fail "replay: expected '$want', got: $(cat "$tmp/replay")"
done
[ "$(rtmr 3)" = "$(printf '0%.0s' {1..96})" ] || fail "the quote's RTMR3 is not zero"
[ "$(wc -l <"$tmp/replay")" -eq 4 ] || fail "replay printed $(wc -l <"$tmp/replay") lines, expected 4"

"$CVMTOOL" ccel replay "$aael" >"$tmp/aael"
grep -qE '^rtmr3 sha384 5e4ecd49[0-9a-f]{80}17257dad$' "$tmp/aael" || fail "aael rtmr3: $(cat "$tmp/aael")"

"$CVMTOOL" ccel show "$ccel" >"$tmp/show"
[ "$(grep -cE '^ +[0-9]+ +[0-9]+  [0-9] \(RTMR[0-3]\) ' "$tmp/show")" -eq 43 ] || fail "show did not list 43 events"
grep -q '^43 events; the log ends at offset [0-9]* with an end marker' "$tmp/show" || fail "show summary line"
grep -q 'EV_EFI_ACTION .*Exit Boot Services Invocation' "$tmp/show" || fail "show: EV_EFI_ACTION text"

"$CVMTOOL" ccel show --json "$aael" >"$tmp/aael.json"
if command -v jq >/dev/null; then
	[ "$(jq '.events | length' "$tmp/aael.json")" -eq 87 ] || fail "json: event count"
	[ "$(jq -r '.events[85].operation' "$tmp/aael.json")" = some-operation ] || fail "json: AAEL operation"
fi
"$CVMTOOL" ccel show "$aael" | grep -q 'EV_EVENT_TAG .*AAEL coco.com some-operation some-content$' ||
	fail "show: AAEL event"

"$CVMTOOL" ccel show "$FIXTURES/ccel/gcp-cos113-ccel_table.dat" >"$tmp/table"
grep -q 'CC type: *2 (TDX)' "$tmp/table" || fail "table: CC type"
grep -q "log area: *$(stat -c %s "$ccel") bytes" "$tmp/table" || fail "table: log area length"

# Malformed input: exit 3, naming the event. Cut in the middle of event 5 (offset 1615)...
head -c 2000 "$ccel" >"$tmp/truncated"
set +e
"$CVMTOOL" ccel replay "$tmp/truncated" 2>"$tmp/err"
rc=$?
set -e
[ $rc -eq 3 ] || fail "truncated log: exit $rc, expected 3"
grep -q 'event 5 at offset 1615' "$tmp/err" || fail "truncated log: $(cat "$tmp/err")"

# ... and a digest count of 7 in event 2 (count at 173 + 8).
cp "$ccel" "$tmp/corrupt"
printf '\x07' | dd of="$tmp/corrupt" bs=1 seek=$((173 + 8)) conv=notrunc status=none
set +e
"$CVMTOOL" ccel show "$tmp/corrupt" >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ $rc -eq 3 ] || fail "corrupt log: exit $rc, expected 3"
grep -q 'event 2 at offset 173: digest count 7' "$tmp/err" || fail "corrupt log: $(cat "$tmp/err")"

# Usage errors exit 2; --help exits 0.
set +e
"$CVMTOOL" ccel replay >/dev/null 2>&1; rc1=$?
"$CVMTOOL" ccel frobnicate x >/dev/null 2>&1; rc2=$?
set -e
[ $rc1 -eq 2 ] && [ $rc2 -eq 2 ] || fail "usage errors: exit $rc1 $rc2"
"$CVMTOOL" ccel show --help | grep -q 'Usage: cvmtool ccel show'
"$CVMTOOL" ccel replay --help | grep -q 'rtmr0 sha384'
echo "ok"
