#!/bin/bash
# TDX end to end on the host, without TDX hardware (DESIGN §4, §8; docs/broker.md): cvm-tdxsim
# mounted, `cvminit --config --register tdx` measuring into its RTMR3 and quoting through its
# configfs-tsm, cvm-broker on 127.0.0.1 trusting the simulator's root.pem with the policy
# `cvmtool predict --register tdx --policy` writes (the config, key-provider and model events, RTMR3).
#  1. Allowed: the key is received, the workload runs, the audit log says allowed with the root's
#     fingerprint (openssl); RTMR3 in the simulator = `cvmtool log replay` = predict; RTMR0-2 = the
#     CCEL's replay.
#  2. Evidence sent by hand (curl, kbs-tool.py rendering the cc_eventlog independently, the quote
#     from the simulator's configfs-tsm): the honest body is accepted; the same with an event's text
#     changed, or with a quote made for another session's nonce, is denied with the reason.
#  3. cvminit against a simulator with another key directory (a root the policy does not name), and
#     against one whose RTMR3 was extended outside the log (dd before the boot): denied at attest
#     with the reason in the audit log, one attempt, no key, no workload, boot-failed last.
# The host has no device-mapper: the config has no disk section (the key is received and wiped).
source "$(dirname "$0")/lib-swtpm.sh"
source "$(dirname "$0")/lib-tdxsim.sh"
source "$(dirname "$0")/lib-broker.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}" "${TOP:?}"
CVMINIT=$BUILDDIR/cvminit
KBS_TOOL=$TOP/tests/integration/kbs-tool.py
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built (make all)"
for tool in jq jose python3 curl; do
	command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps installs it)"
done
T=https://github.com/confidential-containers/kbs/errors/

audit_last() { tail -n 1 "$BROKER_AUDIT" | jq -r "$1"; }
ops() { tr '\036' '\n' <"$1" | jq -r 'select(.)|.content.operation' | tr '\n' ' ' | sed 's/ $//'; }
mr_hex() { xxd -p -c 48 "$TDXSIM_MEAS/$1:sha384"; }
der_sha256() { openssl x509 -in "$1" -outform der | openssl dgst -sha256 -binary | xxd -p -c 32; }

broker_certs
W=$TEST_TMP/w
mkdir -p "$W/keys/default/disk"
head -c 32 /dev/urandom >"$W/keys/default/disk/data"
M=$W/model
mkdir -p "$M/sub"
printf 'hello\n' >"$M/a.txt"
head -c 50000 /dev/urandom >"$M/sub/weights.bin"
DIGEST=$("$CVMTOOL" manifest --digest "$M")

# A free port for the config (which, and so the policy, names the broker's URL), and the config.
printf '{"version":1,"resources":{"a/b/c":{"tee":["tpm"],"trusted_aks":["%064d"],"events":[{"operation":"config"}]}}}' 1 >"$W/port.json"
C=$W/boot.json
broker_boot_config "$C" "$M" "$DIGEST" "$W/workload.out" "$W/port.json" "$W/keys"

# sim KEYS: a fresh simulator (RTMR3 zero) with cvminit's paths pointing into it.
sim() {
	[ -z "${TDXSIM_PID:-}" ] || tdxsim_stop
	tdxsim_start "$1"
	tdxsim_export
}
# boot NAME POLICY: cvminit against a broker with POLICY; log $W/NAME.log
boot() {
	rm -f "$W/workload.out"
	broker_start "$2" "$W/keys" --listen "127.0.0.1:$PORT"
	run "$CVMINIT" --config "$C" --register tdx --log "$W/$1.log" --run-dir "$W/run.$1"
}
denied_boot() { # NAME DETAIL-WORDS
	[ "$RC" -ne 0 ] || fail "$1: cvminit succeeded"
	[ ! -e "$W/workload.out" ] || fail "$1: the workload ran after a denial"
	! grep -q 'Key received' <<<"$ERR" || fail "$1: a key was received: $ERR"
	tail -n 1 "$W/$1.log" | grep -q '"boot-failed"' || fail "$1: no boot-failed event last"
	[ "$(grep -c '"action":"attest"' "$BROKER_AUDIT")" = 1 ] || fail "$1: not one attempt: $(cat "$BROKER_AUDIT")"
	! grep -q '"action":"resource"' "$BROKER_AUDIT" || fail "$1: a resource was asked for: $(cat "$BROKER_AUDIT")"
	[ "$(audit_last .tee)/$(audit_last .decision)/$(audit_last .rule)" = tdx/denied/evidence ] ||
		fail "$1: audit $(tail -n 1 "$BROKER_AUDIT")"
	audit_last .detail | grep -qF "$2" || fail "$1: audit detail is not about '$2': $(tail -n 1 "$BROKER_AUDIT")"
}

note "the policy from cvmtool predict --register tdx"
sim "$W/keys-a"
ROOT_A=$(der_sha256 "$W/keys-a/root.pem")
expect 0 "$CVMTOOL" predict --register tdx --policy --root "$W/keys-a/root.pem" --source "file:$C" "$C"
printf '%s\n' "$OUT" >"$W/policy.json"
[ "$(jq -c '.resources["default/disk/data"].tee' "$W/policy.json")" = '["tdx"]' ] || fail "policy: $OUT"
[ "$(jq -r '.resources["default/disk/data"].events|map(.operation)|join(" ")' "$W/policy.json")" = \
	"config key-provider model" ] || fail "policy events: $OUT"
expect 0 "$CVMTOOL" predict --register tdx --source "file:$C" "$C"
PREDICTED=$OUT
expect 0 "$CVMTOOL" predict --register tdx --json "$C"
[ "$(jq -r '.register + " " + (.final.registers.rtmr3|keys|join(","))' <<<"$OUT")" = "rtmr3 sha384" ] || fail "json: $OUT"
expect 2 "$CVMTOOL" predict --register tdx --pcr 14 "$C"
expect 2 "$CVMTOOL" predict --register tdx --bank sha256 "$C"
expect 2 "$CVMTOOL" predict --register tpm --root "$W/keys-a/root.pem" "$C"
expect 3 "$CVMTOOL" predict --register tdx --policy --root "$C" "$C"

note "allowed: key received, workload ran, RTMR3 = log replay = predict"
FW=$(for i in 0 1 2; do mr_hex "rtmr$i"; done)
boot good "$W/policy.json"
[ "$RC" -eq 0 ] || fail "cvminit exit $RC: $ERR"
[ "$(cat "$W/workload.out" 2>/dev/null)" = ran ] || fail "the workload did not run: $ERR"
expect_in "console" "$ERR" "Key received \(32 bytes\)"
grep -q "\"action\":\"attest\",\"session\":\"[0-9a-f]*\",\"peer\":\"127.0.0.1:[0-9]*\",\"tee\":\"tdx\",\"resource\":null,\"decision\":\"allowed\"" \
	"$BROKER_AUDIT" || fail "no allowed attest in the audit log: $(cat "$BROKER_AUDIT")"
grep -q '"action":"resource".*"tee":"tdx","resource":"default/disk/data","decision":"allowed"' "$BROKER_AUDIT" ||
	fail "no allowed release in the audit log: $(cat "$BROKER_AUDIT")"
[ "$(jq -r 'select(.action=="attest").root_sha256' "$BROKER_AUDIT")" = "$ROOT_A" ] ||
	fail "the audit log does not name root $ROOT_A: $(cat "$BROKER_AUDIT")"
broker_stop
[ "$(ops "$W/good.log")" = "config key-provider model workload boot-done" ] || fail "events: $(ops "$W/good.log")"
expect 0 "$CVMTOOL" log replay "$W/good.log"
ours=$(sed -nE 's/^rtmr3 sha384 ([0-9a-f]+)$/\1/p' <<<"$OUT")
want=$(sed -nE 's/^final rtmr3 sha384 ([0-9a-f]+)$/\1/p' <<<"$PREDICTED")
sim3=$(mr_hex rtmr3)
[ -n "$want" ] && [ "$want" = "$ours" ] && [ "$want" = "$sim3" ] ||
	fail "rtmr3: predict '$want', log replay '$ours', simulator '$sim3'"
[ "$(for i in 0 1 2; do mr_hex "rtmr$i"; done)" = "$FW" ] || fail "RTMR0-2 changed during the boot"
expect 0 "$CVMTOOL" ccel replay "$TDXSIM_CCEL"
[ "$(sed -nE 's/^rtmr[0-2] sha384 ([0-9a-f]+)$/\1/p' <<<"$OUT")" = "$FW" ] || fail "RTMR0-2 are not the CCEL's replay"

note "evidence by hand: the honest body accepted; a changed event or another nonce's quote denied"
broker_start "$W/policy.json" "$W/keys" --listen "127.0.0.1:$PORT"
cd "$W"
jose jwk gen -i '{"kty":"EC","crv":"P-256"}' -o key.jwk
JWK=$(python3 "$KBS_TOOL" jwk-public "$(cat key.jwk)")
python3 "$KBS_TOOL" cc-eventlog "$TDXSIM_CCEL" good.log >cc.bin
auth_tdx() { # JAR: a tee "tdx" session; sets NONCE
	local body
	body=$(kbs_curl -c "$1" -X POST -H 'Content-Type: application/json' \
		-d '{"version":"0.4.0","tee":"tdx","extra-params":""}' "$BROKER_URL/kbs/v0/auth") || fail "auth"
	NONCE=$(jq -r .nonce <<<"$body")
	[ -n "$NONCE" ] && [ "$NONCE" != null ] || fail "auth: $body"
}
quote_for() { # NONCE OUT: the simulator's quote over report_data(NONCE, JWK) || 16 zero bytes
	local e=$TDXSIM_REPORTS/q$RANDOM
	mkdir "$e"
	{ python3 "$KBS_TOOL" report-data "$1" "$JWK"; printf '%032d' 0; } | xxd -r -p >"$e/inblob"
	cat "$e/outblob" >"$2"
	rmdir "$e"
}
attest() { # JAR BODY-FILE: sets STATUS, BODY
	STATUS=$(kbs_curl -b "$1" -o resp.json -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary @"$2" "$BROKER_URL/kbs/v0/attest") || true
	BODY=$(cat resp.json)
}
denied_attest() { # WORDS
	[ "$STATUS" = 401 ] && [ "$(jq -r .type <<<"$BODY")" = "${T}AttestationFailed" ] || fail "status $STATUS: $BODY"
	[ "$(audit_last .action)/$(audit_last .decision)/$(audit_last .rule)" = attest/denied/evidence ] ||
		fail "audit: $(tail -n 1 "$BROKER_AUDIT")"
	audit_last .detail | grep -qF "$1" || fail "audit detail is not about '$1': $(tail -n 1 "$BROKER_AUDIT")"
}
auth_tdx jar1
N1=$NONCE
quote_for "$N1" q1.bin
python3 "$KBS_TOOL" attest-tdx "$N1" "$JWK" q1.bin cc.bin >body1.json
attest jar1 body1.json
[ "$STATUS" = 200 ] || fail "the honest evidence was refused: $STATUS $BODY"
[ "$(audit_last .decision)/$(audit_last .root_sha256)" = "allowed/$ROOT_A" ] || fail "audit: $(tail -n 1 "$BROKER_AUDIT")"
# The model event's text changed in the log; its digest (and RTMR3) are the measured ones.
auth_tdx jar2
quote_for "$NONCE" q2.bin
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); assert d.count(b"\"tiny\"")==1; open(sys.argv[2],"wb").write(d.replace(b"\"tiny\"",b"\"tinY\""))' \
	cc.bin cc-tampered.bin
python3 "$KBS_TOOL" attest-tdx "$NONCE" "$JWK" q2.bin cc-tampered.bin >body2.json
attest jar2 body2.json
denied_attest "its digests are not those of its data"
# The session's nonce in runtime-data, but the quote made for session 1's.
auth_tdx jar3
python3 "$KBS_TOOL" attest-tdx "$NONCE" "$JWK" q1.bin cc.bin >body3.json
attest jar3 body3.json
denied_attest "quote check report-data failed"
cd "$TOP"
broker_stop

note "denied: a quote from another root (a key directory the policy does not name)"
sim "$W/keys-b"
[ "$(der_sha256 "$W/keys-b/root.pem")" != "$ROOT_A" ] || fail "the two key directories share a root"
boot other-root "$W/policy.json"
denied_boot other-root "quote check pck-chain failed"
broker_stop

note "denied: RTMR3 extended outside the log before the boot"
sim "$W/keys-a"
head -c 48 /dev/urandom | dd of="$TDXSIM_MEAS/rtmr3:sha384" bs=48 count=1 status=none || fail "dd into rtmr3"
[ "$(mr_hex rtmr3)" != "$(printf '%096d' 0)" ] || fail "rtmr3 was not extended"
boot outside "$W/policy.json"
denied_boot outside "does not replay to the quoted RTMR3"
broker_stop
tdxsim_stop
echo "all TDX end-to-end tests passed"
