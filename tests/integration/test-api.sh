#!/bin/bash
# The attestation API end to end on the host (docs/api.md): `cvminit --config` against swtpm, and
# against cvm-tdxsim, serves RUN_DIR/api.sock to a workload script that uses `curl --unix-socket`:
# evidence for its nonce, an `app` event, the log, a manifest, the error answers (404, 405 with
# Allow, 400, 413), a stuck client that does not hold up the others, and the evidence latency. The
# host then checks with tools that are not cvminit's where it can: report_data with openssl dgst,
# the TPM quote with tpm2_checkquote (AK from tpm2_createprimary), the PCR with tpm2_pcrread; and
# with `cvmtool evidence verify`: the evidence verifies for its nonce and not for another, nor
# tampered, nor with another AK; the app event is in the log after boot-done; the served log and
# manifest are the files' bytes. The socket's owner, group and mode come from the config; a stale
# socket is replaced, anything else at its path fails the boot; `enabled: false` leaves no socket.
source "$(dirname "$0")/lib-swtpm.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built (make all)"
need_tools jq curl socat python3 tpm2_createprimary tpm2_checkquote

ops() { tr '\036' '\n' <"$1" | jq -r 'select(.)|.content.operation' | tr '\n' ' ' | sed 's/ $//'; }
pcr_value() { tpm2_pcrread "$1:$2" | sed -nE "s/^ *$2 *: *0x([0-9A-Fa-f]+).*/\1/p" | tr 'A-F' 'a-f'; }
# report_data for a nonce (hex), outside the project's code.
report_data() { { printf 'cvminit/api/evidence/v1\0'; printf '%s' "$1" | xxd -r -p; } | hash_hex sha384; }

RUN=$TEST_TMP/run OUTD=$TEST_TMP/answers
mkdir -p "$RUN" "$OUTD"
SOCK=$RUN/api.sock
NONCE1=00112233445566778899aabbccddeeff NONCE2=$(head -c 64 /dev/urandom | xxd -p -c 64)

M=$TEST_TMP/model
mkdir -p "$M"
head -c 100000 /dev/urandom >"$M/weights.bin"
DIGEST=$("$CVMTOOL" manifest --digest "$M")

# The workload (a test config's bash script): every request, answers into $OUTD.
WORKLOAD='set -u
S='$SOCK' O='$OUTD'
c() { curl -sS --unix-socket "$S" -o "$O/$1" -w "%{http_code}" "${@:2}"; }
stat -c "%a %u %g" "$S" >"$O/sock.stat"
{
echo "evidence1 $(c ev1.json "http://localhost/v1/evidence?nonce='$NONCE1'")"
echo "extend $(c extend.json -X POST -H "Content-Type: application/json" \
	--data-binary "{\"operation\":\"load-adapter\",\"content\":{\"name\":\"lora-1\",\"rank\":8}}" http://localhost/v1/extend)"
echo "evidence2 $(c ev2.json "http://localhost/v1/evidence?nonce='$NONCE2'")"
echo "log $(c log.seq -D "$O/log.headers" http://localhost/v1/log)"
echo "manifest $(c manifest.json http://localhost/v1/manifest/tiny)"
echo "nomanifest $(c e1.json http://localhost/v1/manifest/other)"
echo "badname $(c e2.json http://localhost/v1/manifest/..x)"
echo "notfound $(c e3.json http://localhost/v1/keys)"
echo "method $(c e4.json -D "$O/405.headers" -X DELETE http://localhost/v1/log)"
echo "badnonce $(c e5.json "http://localhost/v1/evidence?nonce=xyz")"
echo "badjson $(c e6.json -X POST --data-binary "{\"operation\":\"a\",\"content\":{}" http://localhost/v1/extend)"
head -c 70000 /dev/zero | tr "\0" " " >"$O/big"
echo "big $(c e7.json -X POST --data-binary @"$O/big" http://localhost/v1/extend)"
} >"$O/codes"
# A client that connects and never sends: the others are served all the same.
(sleep 6 | socat - "UNIX-CONNECT:$S" >/dev/null 2>&1) &
sleep 0.2
curl -sS --unix-socket "$S" -o /dev/null -w "%{time_total}\n" "http://localhost/v1/evidence?nonce=01" >"$O/stuck.time"
# The latency figure: 20 requests, curl time_total.
for i in $(seq 20); do
	curl -sS --unix-socket "$S" -o /dev/null -w "%{time_total}\n" "http://localhost/v1/evidence?nonce=$i$i"
done >"$O/latency"
kill %1 2>/dev/null; wait 2>/dev/null
exit 0'

# config FILE [API-JSON]
config() {
	jq -n --arg p "$M" --arg d "$DIGEST" --arg s "$2" --argjson api "${3:-null}" '{version: 1,
		models: [{name: "tiny", path: $p, expect: $d}],
		workload: {exec: ["/bin/bash", "-c", $s], env: {PATH: "/usr/bin:/bin"}}} +
		(if $api then {api: $api} else {} end)' >"$1"
}
median_ms() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] * 1000 }'; }

# ---------------------------------------------------------------------------------------------
note "TPM: the AK, as tpm2-tools makes it from the template of measurements/tpm-quote.h"
swtpm_start sha256
tpm_ak
openssl pkey -pubin -inform der -in "$TEST_TMP/ak.der" -out "$TEST_TMP/ak.pem" || fail "openssl pkey"

note "TPM: the workload uses the API; a stale socket at the path is replaced"
python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()' "$SOCK"
[ -S "$SOCK" ] || fail "no stale socket made"
C=$TEST_TMP/tpm.json L=$TEST_TMP/tpm.log
config "$C" "$WORKLOAD" '{"socket_user": 0, "socket_group": 4242, "socket_mode": "0640"}'
run "$CVMINIT" --config "$C" --tcti "$SWTPM_TCTI" --pcr 14 --log "$L" --run-dir "$RUN"
[ "$RC" -eq 0 ] || fail "exit $RC: $ERR"
expect_in "stderr" "$ERR" "Attestation API listening on $SOCK"
expect_in "stderr" "$ERR" "API: app event measured for pid [0-9]+ \(uid 0\) in [0-9.]+ ms: record 4, operation load-adapter"
[ ! -e "$SOCK" ] || fail "the socket is still there after cvminit ended"
[ "$(cat "$OUTD/sock.stat")" = "640 0 4242" ] || fail "socket mode, owner, group: $(cat "$OUTD/sock.stat")"

want_codes='evidence1 200
extend 200
evidence2 200
log 200
manifest 200
nomanifest 404
badname 400
notfound 404
method 405
badnonce 400
badjson 400
big 413'
[ "$(cat "$OUTD/codes")" = "$want_codes" ] || fail "status codes:
$(cat "$OUTD/codes")"
grep -qi '^Allow: GET' "$OUTD/405.headers" || fail "405 without Allow: GET: $(cat "$OUTD/405.headers")"
grep -qi '^Content-Type: application/json-seq' "$OUTD/log.headers" || fail "log content type: $(cat "$OUTD/log.headers")"
for f in e1 e2 e3 e4 e5 e6 e7; do
	jq -e '(keys == ["error"]) and (.error | type == "string")' "$OUTD/$f.json" >/dev/null ||
		fail "$f: not {\"error\":...}: $(cat "$OUTD/$f.json")"
done
expect_in "404 manifest" "$(cat "$OUTD/e1.json")" "no model named other"
expect_in "413" "$(cat "$OUTD/e7.json")" "over the limit of 65536 bytes"

note "TPM: the log and manifest answers are the files' bytes; the app event follows boot-done"
[ "$(ops "$L")" = "config model workload boot-done app" ] || fail "events: $(ops "$L")"
cmp "$OUTD/log.seq" "$L" || fail "GET /v1/log differs from the log file"
cmp "$OUTD/manifest.json" "$RUN/manifests/tiny.json" || fail "GET /v1/manifest/tiny differs from the file"
app=$(tr '\036' '\n' <"$L" | jq -c 'select(.)|select(.content.operation=="app")|.content.content')
[ "$app" = '{"content":{"name":"lora-1","rank":8},"operation":"load-adapter"}' ] || fail "app event content: $app"
[ "$(jq -r .recnum "$OUTD/extend.json")" = 4 ] || fail "extend answer: $(cat "$OUTD/extend.json")"
# The digest the answer reports is the one the log records (and cvmtool event computes alike).
[ "$(jq -r '.digests[]|select(.hashAlg=="sha256").digest' "$OUTD/extend.json")" = \
	"$(tr '\036' '\n' <"$L" | jq -r 'select(.)|select(.recnum==4)|.digests[0].digest')" ] ||
	fail "extend answer digest differs from the log's"
expect 0 "$CVMTOOL" event app '{"operation":"load-adapter","content":{"name":"lora-1","rank":8}}'
expect_in "event" "$OUT" "sha256 +$(jq -r '.digests[0].digest' "$OUTD/extend.json")"
tpm=$(pcr_value sha256 14)
expect 0 "$CVMTOOL" log replay "$L"
expect_in "replay" "$OUT" "pcr14 +sha256 +$tpm"

note "TPM: report_data (openssl) and the quote (tpm2_checkquote) of the answer, independently"
for n in 1 2; do
	nonce=NONCE$n
	[ "$(jq -r .report_data "$OUTD/ev$n.json")" = "$(report_data "${!nonce}")" ] ||
		fail "ev$n report_data $(jq -r .report_data "$OUTD/ev$n.json"), openssl says $(report_data "${!nonce}")"
	[ "$(jq -r .tee "$OUTD/ev$n.json")" = tpm ] && [ "$(jq -r .nonce "$OUTD/ev$n.json")" = "${!nonce}" ] ||
		fail "ev$n: $(jq -c 'del(.evidence)' "$OUTD/ev$n.json")"
done
jq -r .evidence.tpm_quote.message "$OUTD/ev2.json" | base64 -d >"$TEST_TMP/msg.bin"
jq -r .evidence.tpm_quote.signature "$OUTD/ev2.json" | base64 -d >"$TEST_TMP/sig.bin"
expect 0 tpm2_checkquote -u "$TEST_TMP/ak.pem" -m "$TEST_TMP/msg.bin" -s "$TEST_TMP/sig.bin" -g sha256 \
	-q "$(report_data "$NONCE2" | cut -c1-64)"
run tpm2_checkquote -u "$TEST_TMP/ak.pem" -m "$TEST_TMP/msg.bin" -s "$TEST_TMP/sig.bin" -g sha256 \
	-q "$(report_data "$NONCE1" | cut -c1-64)"
[ "$RC" -ne 0 ] || fail "tpm2_checkquote accepted the quote for another nonce"
[ "$(jq -r '.evidence.tpm_quote.pcrs[14]' "$OUTD/ev2.json")" = "$tpm" ] || fail "quoted PCR 14 is not the TPM's"

note "TPM: cvmtool evidence verify"
expect 0 "$CVMTOOL" evidence verify "$OUTD/ev2.json" --nonce "$NONCE2" --ak-sha256 "$AK_SHA256"
expect_in "verify" "$OUT" "app +\{\"content\":\{\"name\":\"lora-1\",\"rank\":8\},\"operation\":\"load-adapter\"\}"
expect_in "verify" "$OUT" "app events +ok: 1, all after boot-done"
expect_in "verify" "$OUT" "log +ok: 5 events replay to pcr14"
expect_in "verify" "$OUT" "^verdict: the evidence verifies"
expect 0 "$CVMTOOL" evidence verify "$OUTD/ev1.json" --nonce "$NONCE1" --ak-sha256 "$AK_SHA256"
expect_in "verify" "$OUT" "app events +ok: 0"
expect 1 "$CVMTOOL" evidence verify "$OUTD/ev1.json" --nonce "$NONCE2" --ak-sha256 "$AK_SHA256"
expect_in "verify" "$OUT" "nonce +FAILED"
expect_in "verify" "$OUT" "verdict: the evidence does NOT verify"
expect 1 "$CVMTOOL" evidence verify "$OUTD/ev2.json" --nonce "$NONCE2" --ak-sha256 "$(printf x | sha256sum | cut -c1-64)"
expect_in "verify" "$OUT" "ak +FAILED"
# Another answer's quote under this nonce: report_data rewritten to match, the quote does not.
jq --arg rd "$(report_data "$NONCE2")" --arg n "$NONCE2" '.report_data = $rd | .nonce = $n' "$OUTD/ev1.json" >"$TEST_TMP/swap.json"
expect 1 "$CVMTOOL" evidence verify "$TEST_TMP/swap.json" --nonce "$NONCE2" --ak-sha256 "$AK_SHA256"
expect_in "verify" "$OUT" "quote\+log +FAILED"
# A quoted PCR changed: the signature no longer covers the values.
jq '.evidence.tpm_quote.pcrs[14] = ("00" * 32)' "$OUTD/ev2.json" >"$TEST_TMP/pcr.json"
expect 1 "$CVMTOOL" evidence verify "$TEST_TMP/pcr.json" --nonce "$NONCE2" --ak-sha256 "$AK_SHA256"
expect 3 "$CVMTOOL" evidence verify "$OUTD/log.seq" --nonce "$NONCE2" --ak-sha256 "$AK_SHA256"
expect 2 "$CVMTOOL" evidence verify "$OUTD/ev2.json" --nonce "$NONCE2"
expect 2 "$CVMTOOL" evidence verify "$OUTD/ev2.json" --nonce "$NONCE2" --root "$TEST_TMP/ak.pem"

note "TPM: a stuck client does not hold up others; evidence latency (swtpm, curl time_total)"
stuck=$(cat "$OUTD/stuck.time")
awk -v t="$stuck" 'BEGIN { exit !(t < 3) }' || fail "a request took $stuck s while another client was stuck"
note "figure: evidence through the socket with swtpm: median $(median_ms "$OUTD/latency") ms of 20 (max $(sort -n "$OUTD/latency" | tail -1) s)"

note "app events until the log is full (507): evidence still works and verifies"
FULL='S='$SOCK' O='$OUTD'
pad=$(head -c 60000 /dev/zero | tr "\0" x)
for i in $(seq 12); do
	code=$(curl -sS --unix-socket $S -o $O/full.json -w "%{http_code}" -X POST \
		--data-binary "{\"operation\":\"big\",\"content\":{\"i\":$i,\"pad\":\"$pad\"}}" http://localhost/v1/extend)
	echo "$i $code"
	[ "$code" = 200 ] || break
done >$O/full.codes
curl -sS --unix-socket $S -o $O/full-ev.json -w "%{http_code}" "http://localhost/v1/evidence?nonce='$NONCE1'" >$O/full-ev.code'
config "$TEST_TMP/full.json" "$FULL"
L=$TEST_TMP/full.log
run "$CVMINIT" --config "$TEST_TMP/full.json" --tcti "$SWTPM_TCTI" --pcr 15 --log "$L" --run-dir "$RUN"
[ "$RC" -eq 0 ] || fail "exit $RC: $ERR"
last=$(tail -n 1 "$OUTD/full.codes")
[ "${last#* }" = 507 ] && [ "${last% *}" -ge 5 ] || fail "app events until full: $(tr '\n' ' ' <"$OUTD/full.codes")"
expect_in "507" "$(cat "$OUTD/full.json")" "has no room for this event"
[ "$(stat -c %s "$L")" -le $((384 * 1024)) ] || fail "the log grew to $(stat -c %s "$L") bytes"
[ "$(cat "$OUTD/full-ev.code")" = 200 ] || fail "evidence with a full log: $(cat "$OUTD/full-ev.code") $(cat "$OUTD/full-ev.json")"
expect 0 "$CVMTOOL" evidence verify "$OUTD/full-ev.json" --nonce "$NONCE1" --ak-sha256 "$AK_SHA256"
expect_in "verify" "$OUT" "app events +ok: $((${last% *} - 1)), all after boot-done"

note "the config's api.enabled false: no socket"
config "$TEST_TMP/off.json" "[ ! -e $SOCK ] && echo absent >$OUTD/off" '{"enabled": false}'
run "$CVMINIT" --config "$TEST_TMP/off.json" --tcti "$SWTPM_TCTI" --log "$TEST_TMP/off.log" --run-dir "$RUN"
[ "$RC" -eq 0 ] && [ "$(cat "$OUTD/off" 2>/dev/null)" = absent ] || fail "enabled false: exit $RC, $ERR"
expect_in "stderr" "$ERR" "attestation API is disabled"

note "something else at the socket's path: the boot fails in launch, before boot-done, recorded"
mkdir -p "$SOCK"
config "$TEST_TMP/busy.json" "touch $OUTD/ran"
run "$CVMINIT" --config "$TEST_TMP/busy.json" --tcti "$SWTPM_TCTI" --log "$TEST_TMP/busy.log" --run-dir "$RUN"
[ "$RC" -eq 3 ] && [ ! -e "$OUTD/ran" ] || fail "a directory at the socket's path: exit $RC: $ERR"
expect_in "stderr" "$ERR" "Boot failed in step launch: .*api.sock exists and is not a socket"
[ "$(ops "$TEST_TMP/busy.log")" = "config model boot-failed" ] || fail "events: $(ops "$TEST_TMP/busy.log")"
rmdir "$SOCK"
swtpm_stop

# ---------------------------------------------------------------------------------------------
note "TDX (cvm-tdxsim): evidence, an app event, cvmtool evidence verify against the test root"
source "$(dirname "$0")/lib-tdxsim.sh"
tdxsim_start "$TEST_TMP/keys"
tdxsim_export
rm -rf "$OUTD" && mkdir -p "$OUTD"
config "$TEST_TMP/tdx.json" "$WORKLOAD"
L=$TEST_TMP/tdx.log
run "$CVMINIT" --config "$TEST_TMP/tdx.json" --register tdx --log "$L" --run-dir "$RUN"
[ "$RC" -eq 0 ] || fail "exit $RC: $ERR"
[ "$(sed -n '1,3p' "$OUTD/codes" | tr '\n' ' ')" = "evidence1 200 extend 200 evidence2 200 " ] ||
	fail "status codes: $(cat "$OUTD/codes")"
[ "$(ops "$L")" = "config model workload boot-done app" ] || fail "events: $(ops "$L")"
[ "$(jq -r .tee "$OUTD/ev2.json")" = tdx ] || fail "tee: $(jq -r .tee "$OUTD/ev2.json")"
jq -r .evidence.quote "$OUTD/ev2.json" | base64 -d >"$TEST_TMP/quote.bin"
# The quote's REPORTDATA is report_data || 16 zero bytes (cvmtool quote verify's own check).
expect 0 "$CVMTOOL" quote verify "$TEST_TMP/quote.bin" --root "$TEST_TMP/keys/root.pem" \
	--report-data "$(report_data "$NONCE2")$(printf '0%.0s' {1..32})"
expect 0 "$CVMTOOL" evidence verify "$OUTD/ev2.json" --nonce "$NONCE2" --root "$TEST_TMP/keys/root.pem"
expect_in "verify" "$OUT" "log +ok: 5 events replay to rtmr3"
expect_in "verify" "$OUT" "app events +ok: 1, all after boot-done"
expect 1 "$CVMTOOL" evidence verify "$OUTD/ev1.json" --nonce "$NONCE2" --root "$TEST_TMP/keys/root.pem"
expect 2 "$CVMTOOL" evidence verify "$OUTD/ev2.json" --nonce "$NONCE2" --ak-sha256 "$AK_SHA256"
note "figure: evidence through the socket with cvm-tdxsim: median $(median_ms "$OUTD/latency") ms of 20 (max $(sort -n "$OUTD/latency" | tail -1) s)"
tdxsim_stop
