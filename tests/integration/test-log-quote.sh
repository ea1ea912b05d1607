#!/bin/bash
# cvmtool log verify --quote: a TDX quote's RTMR0-2 against the firmware CCEL and its RTMR3 against
# the canonical log. Production data first (the GCP quote with the CCEL of the same boot, RTMR3
# zero, so an empty log matches and a logged event does not), then cvm-tdxsim end to end: events
# built with lib-cel.sh (printf, openssl), extended into RTMR3 through the simulated sysfs file,
# the quote read from configfs-tsm; an extend the log does not record is found. Bad inputs exit 3,
# bad command lines 2.
source "$(dirname "$0")/lib-swtpm.sh"
source "$(dirname "$0")/lib-cel.sh"
: "${CVMTOOL:?}" "${FIXTURES:?}" "${TOP:?}"

quote=$FIXTURES/ccel/gcp-cos113-cos-113-tdx-quote.dat
ccel=$FIXTURES/ccel/gcp-cos113-ccel_data.dat
root=$FIXTURES/tdx/intel-sgx-root-ca.pem
at=2027-01-01T00:00:00Z
t=$TEST_TMP

note "production data: GCP quote, its CCEL, an empty runtime log"
: >"$t/empty.log"
expect 0 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --ccel "$ccel" --root "$root" --at "$at"
for i in 0 1 2; do
	expect_in "rtmr$i" "$OUT" "^rtmr$i: the firmware log replays to the quote's value \([0-9]+ events\)$"
done
expect_in "rtmr3" "$OUT" "^rtmr3: all banks match the log \(0 records\)$"
expect_in "quote" "$OUT" "^quote: verifies .*valid at 2027-01-01T00:00:00Z.*NOT evaluated"
expect 0 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote"
expect_in "no ccel" "$OUT" "rtmr0-2: not checked"
expect_in "no root" "$OUT" "quote: its signatures were NOT checked"

note "a logged RTMR3 event the quote does not have"
cel_record 0 rtmr3 config '{"sha384":"00","source":"test"}' sha384 >"$t/one.log"
expect 1 "$CVMTOOL" log verify "$t/one.log" --quote "$quote" --ccel "$ccel"
expect_in "not extended" "$OUT" "records? 0.* never extended"

note "an altered firmware log"
cp "$ccel" "$t/ccel-bad"
# Event 1 (after the Spec ID header at offset 0..): flip one byte of its first digest. The header
# is 32 + its event size; the first entry's digest starts 14 bytes into the entry.
hdr=$((32 + $(od -An -tu4 -j28 -N4 "$ccel" | tr -d ' ')))
python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^1]))" \
	"$t/ccel-bad" $((hdr + 14))
expect 1 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --ccel "$t/ccel-bad"
expect_in "mismatch" "$OUT" "^rtmr[0-2]: the firmware log replays to [0-9a-f]{96}, the quote has [0-9a-f]{96}$"

note "a wrong root, a time outside the PCK leaf's validity"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$t/o.key" -out "$t/o.pem" \
	-days 30 -subj "/CN=Intel SGX Root CA" 2>/dev/null
expect 1 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --root "$t/o.pem" --at "$at"
expect_in "wrong root" "$OUT" "^quote: pck-chain FAILED"
expect 1 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --root "$root" --at 2040-01-01T00:00:00Z
expect_in "expired" "$OUT" "certificate has expired"

note "bad input (exit 3) and usage (exit 2)"
expect 3 "$CVMTOOL" log verify "$t/empty.log" --quote "$FIXTURES/aael/CCEL_AAEL_alibabacloud"
expect_in "not a quote" "$ERR" "is not a usable TDX quote"
expect 3 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --ccel "$FIXTURES/aael/CCEL_AAEL_alibabacloud"
expect_in "rtmr3 events" "$ERR" "extends RTMR3"
expect 3 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --ccel "$quote"
expect 3 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --root "$quote"
expect_in "bad root" "$ERR" "Cannot use root"
expect 2 "$CVMTOOL" log verify "$t/empty.log" --ccel "$ccel"
expect 2 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --mr rtmr3=sha384:$(cel_zero sha384)
expect 2 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --at "$at"
expect 2 "$CVMTOOL" log verify "$t/empty.log" --quote "$quote" --root "$root" --at tomorrow

note "cvm-tdxsim: two events logged and extended into RTMR3, then one that is not logged"
source "$TOP/tests/integration/lib-tdxsim.sh"
tdxsim_start "$t/keys" --ccel "$ccel"
texts=('{"sha384":"aa","source":"initramfs"}' '{}')
ops=(config boot-done)
: >"$t/measure.log"
for i in 0 1; do
	cel_record "$i" rtmr3 "${ops[i]}" "${texts[i]}" sha384 >>"$t/measure.log"
	cel_event_digest sha384 "cvminit ${ops[i]} ${texts[i]}" | xxd -r -p >"$t/d$i"
	dd if="$t/d$i" of="$TDXSIM_MEAS/rtmr3:sha384" bs=48 status=none || fail "extend RTMR3"
done
# quote NAME: a fresh configfs-tsm report with a zero inblob.
get_quote() {
	mkdir "$TDXSIM_REPORTS/$1"
	head -c 64 /dev/zero >"$TDXSIM_REPORTS/$1/inblob"
	cat "$TDXSIM_REPORTS/$1/outblob" >"$t/$1.dat"
}
get_quote q1
expect 0 "$CVMTOOL" log verify "$t/measure.log" --quote "$t/q1.dat" --ccel "$TDXSIM_CCEL" --root "$t/keys/root.pem"
expect_in "tdxsim rtmr3" "$OUT" "^rtmr3: .*match.*\(2 records\)$"
expect_in "tdxsim quote" "$OUT" "^quote: verifies"
head -c 48 /dev/urandom >"$t/stray"
dd if="$t/stray" of="$TDXSIM_MEAS/rtmr3:sha384" bs=48 status=none || fail "extend RTMR3"
get_quote q2
expect 1 "$CVMTOOL" log verify "$t/measure.log" --quote "$t/q2.dat" --ccel "$TDXSIM_CCEL" --root "$t/keys/root.pem"
expect_in "unlogged" "$OUT" "extended with something the log does not record"
tdxsim_stop
echo "ok"
