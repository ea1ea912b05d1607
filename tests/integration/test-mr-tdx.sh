#!/bin/bash
# The TDX register backend (measurements/mr-tdx.c) against cvm-tdxsim's copy of the kernel's files:
# `cvminit --config` with --register tdx, and with auto when RTMR3 is there, measures into RTMR3
# (records name rtmr3 with one sha384 digest); the simulator's RTMR3 equals an independent replay
# of the log (python3 hashlib over the records' digests) and `cvmtool log verify --tdx` agrees; an
# extend the log does not record (dd into rtmr3:sha384) makes verify say so and exit 1; an
# unwritable or missing RTMR3 with --register tdx fails closed with a message naming the file.
source "$(dirname "$0")/lib-swtpm.sh"
source "$(dirname "$0")/lib-tdxsim.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built (make all)"
command -v jq >/dev/null && command -v python3 >/dev/null || fail "jq and python3 are needed"

ops() { tr '\036' '\n' <"$1" | jq -r 'select(.)|.content.operation' | tr '\n' ' ' | sed 's/ $//'; }
rtmr3() { xxd -p -c 48 "$TDXSIM_MEAS/rtmr3:sha384"; }
# SHA-384 chain over the log's digests from zeros, computed outside the project's code.
replay() {
	tr '\036' '\n' <"$1" | jq -r 'select(.)|.digests[]|select(.hashAlg=="sha384")|.digest' | python3 -c '
import hashlib, sys
v = bytes(48)
for line in sys.stdin:
    v = hashlib.sha384(v + bytes.fromhex(line.strip())).digest()
print(v.hex())'
}

M=$TEST_TMP/model
mkdir -p "$M"
head -c 100000 /dev/urandom >"$M/weights.bin"
DIGEST=$("$CVMTOOL" manifest --digest "$M")
C=$TEST_TMP/config.json
jq -n --arg p "$M" --arg d "$DIGEST" '{version: 1, models: [{name: "tiny", path: $p, expect: $d}],
	workload: {exec: ["/bin/true"]}}' >"$C"

tdxsim_start "$TEST_TMP/keys"
tdxsim_export
[ "$(rtmr3)" = "$(printf '0%.0s' {1..96})" ] || fail "RTMR3 does not start at zero: $(rtmr3)"

note "--register tdx: the events go to RTMR3 (sha384 only) and replay to the simulator's value"
L=$TEST_TMP/tdx.log
run "$CVMINIT" --config "$C" --register tdx --log "$L" --run-dir "$TEST_TMP/run"
[ "$RC" -eq 0 ] || fail "exit $RC: $ERR"
expect_in "stderr" "$ERR" "Measuring into RTMR3 through $TDXSIM_MEAS"
[ "$(ops "$L")" = "config model workload boot-done" ] || fail "events: $(ops "$L")"
regs=$(tr '\036' '\n' <"$L" | jq -r 'select(.)|"\(.mr) \([.digests[].hashAlg]|join(","))"' | sort -u)
[ "$regs" = "rtmr3 sha384" ] || fail "records name: $regs"
[ "$(rtmr3)" = "$(replay "$L")" ] || fail "RTMR3 $(rtmr3), the log replays to $(replay "$L")"
expect 0 "$CVMTOOL" log verify "$L" --tdx
expect 0 "$CVMTOOL" log replay "$L"
expect_in "replay" "$OUT" "rtmr3 +sha384 +$(rtmr3)"

note "--register auto picks tdx when RTMR3 is writable; the log keeps replaying"
run "$CVMINIT" --config "$C" --log "$L" --run-dir "$TEST_TMP/run"
[ "$RC" -eq 0 ] || fail "exit $RC: $ERR"
expect_in "stderr" "$ERR" "Measuring into RTMR3"
[ "$(rtmr3)" = "$(replay "$L")" ] || fail "after the second run RTMR3 $(rtmr3), the log $(replay "$L")"
expect 0 "$CVMTOOL" log verify "$L" --tdx

note "an extend outside the log: verify says so (exit 1)"
head -c 48 /dev/urandom | dd of="$TDXSIM_MEAS/rtmr3:sha384" bs=48 count=1 status=none ||
	fail "cannot extend RTMR3 through the simulator"
expect 1 "$CVMTOOL" log verify "$L" --tdx
expect_in "verdict" "$OUT" "not record"
expect 2 "$CVMTOOL" log verify "$L" --tdx --pcr 14=00

note "--register tdx without RTMR3: fails closed, naming the file; no workload"
MARK=$TEST_TMP/ran
jq -n --arg m "$MARK" '{version: 1, workload: {exec: ["/bin/touch", $m]}}' >"$TEST_TMP/touch.json"
CVMINIT_TDX_SYSFS=$TEST_TMP/absent run "$CVMINIT" --config "$TEST_TMP/touch.json" --register tdx \
	--log "$TEST_TMP/absent.log" --run-dir "$TEST_TMP/run"
[ "$RC" -eq 3 ] || fail "exit $RC, expected 3: $ERR"
expect_in "stderr" "$ERR" "cannot use RTMR3 \(register tdx\): cannot open $TEST_TMP/absent/rtmr3:sha384"
[ ! -e "$MARK" ] || fail "the workload ran without its register"

tdxsim_stop
tdxsim_check_log
echo "ok"
