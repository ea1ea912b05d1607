#!/bin/bash
# cvm-broker (DESIGN §4, docs/broker.md) on 127.0.0.1 with TLS, certificates made here with openssl.
# 1. Protocol edges with curl: bad JSON, oversized bodies (declared and chunked), unknown, missing
#    and expired sessions, wrong methods, unknown resources, path traversal — Trustee-style errors,
#    the broker alive afterwards, and the audit lines.
# 2. A client in this script (tpm2-tools against swtpm, the events rendered by kbs-tool.py, the JWE
#    decrypted by the jose CLI): the key is released; the same attest request again in its session
#    or replayed into another is rejected.
# 3. The real client, `cvminit --config` with swtpm: `cvmtool predict --policy` writes the policy;
#    the key is released, and predict's values equal the log's replay and tpm2_pcrread. A policy
#    pinning another model digest or another AK: denied with the rule in the audit log, no retry,
#    no workload.
source "$(dirname "$0")/lib-swtpm.sh"
source "$(dirname "$0")/lib-broker.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}"
KBS_TOOL=$TOP/tests/integration/kbs-tool.py
for tool in jq jose python3 tpm2_createprimary tpm2_readpublic tpm2_quote; do
	command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps installs it)"
done
T=https://github.com/confidential-containers/kbs/errors/

# req NAME CURL-ARGS...: the response body in $TEST_TMP/NAME.body, the status in $STATUS.
req() {
	local name=$1
	shift
	STATUS=$(kbs_curl -o "$TEST_TMP/$name.body" -w '%{http_code}' "$@") || STATUS=${STATUS:-000}
	BODY=$(cat "$TEST_TMP/$name.body" 2>/dev/null || true)
}
# expect_err STATUS VARIANT: the last response is that Trustee-style error.
expect_err() {
	[ "$STATUS" = "$1" ] || fail "status $STATUS, expected $1: $BODY"
	[ "$(jq -r .type <<<"$BODY")" = "$T$2" ] || fail "type is not $2: $BODY"
	[ "$(jq -r '.detail|type' <<<"$BODY")" = string ] || fail "no detail: $BODY"
	[ "$(jq -r 'keys|length' <<<"$BODY")" = 2 ] || fail "extra members: $BODY"
}
alive() { kill -0 "$BROKER_PID" 2>/dev/null || fail "cvm-broker died: $(cat "$TEST_TMP"/broker.*.err)"; }
auth() { # JAR: a new session; sets NONCE
	req auth -c "$1" -X POST -H 'Content-Type: application/json' \
		-d '{"version":"0.4.0","tee":"tpm","extra-params":""}' "$BROKER_URL/kbs/v0/auth"
	[ "$STATUS" = 200 ] || fail "auth: $STATUS $BODY"
	NONCE=$(jq -r .nonce <<<"$BODY")
	[ "$(printf '%s' "$NONCE" | base64 -d | wc -c)" = 32 ] || fail "nonce is not base64 of 32 bytes: $NONCE"
}
audit_count() { wc -l <"$BROKER_AUDIT"; }
audit_last() { tail -n 1 "$BROKER_AUDIT" | jq -r "$1"; }

broker_certs
swtpm_start
W=$TEST_TMP/w
mkdir -p "$W/keys/default/disk"
head -c 32 /dev/urandom >"$W/keys/default/disk/data"

# The AK from the documented template (measurements/tpm-quote.h), with tpm2-tools; its fingerprint
# with openssl.
tpm2_createprimary -C e -g sha256 -G rsa2048:rsassa-sha256:null \
	-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign' -c "$W/ak.ctx" >/dev/null ||
	fail "tpm2_createprimary"
tpm2_flushcontext -t
tpm2_readpublic -c "$W/ak.ctx" -f der -o "$W/ak.der" >/dev/null || fail "tpm2_readpublic"
# Without a resource manager every loaded context stays until flushed (swtpm has three slots).
tpm2_flushcontext -t
AK=$(openssl dgst -sha256 -binary "$W/ak.der" | xxd -p -c 64)

note "usage and --check"
expect 0 "$CVM_BROKER" --help
expect_in "help" "$OUT" "--policy FILE"
expect 2 "$CVM_BROKER" --cert x
expect 2 "$CVM_BROKER" --cert a --key b --policy c --keys d --audit e --threads 0
echo '{"version":1,"resources":{"default/disk/data":{"tee":["tpm"],"trusted_aks":["'"$AK"'"],"events":[{"operation":"config"},{"operation":"model","content":{"name":"tiny"}}]}}}' >"$W/policy.json"
expect 0 "$CVM_BROKER" --check --cert "$BROKER_CERT" --key "$BROKER_KEY" --policy "$W/policy.json" --keys "$W/keys" --audit "$W/a.log"
echo '{"version":1,"resources":{"default/disk/data":{"tee":["tpm"]}}}' >"$W/bad-policy.json"
expect 3 "$CVM_BROKER" --check --cert "$BROKER_CERT" --key "$BROKER_KEY" --policy "$W/bad-policy.json" --keys "$W/keys" --audit "$W/a.log"
expect_in "stderr" "$ERR" "trusted_aks"
expect 3 "$CVM_BROKER" --check --cert "$BROKER_CERT" --key "$BROKER_KEY" --policy "$W/policy.json" --keys "$W/none" --audit "$W/a.log"

broker_start "$W/policy.json" "$W/keys"

note "protocol edges"
req e -X POST -d '{bad' "$BROKER_URL/kbs/v0/auth"
expect_err 401 FailedAuthentication
req e -X POST -d '{"version":"0.4.0","tee":"sev","extra-params":""}' "$BROKER_URL/kbs/v0/auth"
expect_err 401 FailedAuthentication
req e -X POST -d '{"version":"9.0.0","tee":"tpm","extra-params":""}' "$BROKER_URL/kbs/v0/auth"
expect_err 401 FailedAuthentication
head -c $((2 << 20)) /dev/zero >"$W/big"
req e -X POST --data-binary @"$W/big" "$BROKER_URL/kbs/v0/attest"
expect_err 413 PayloadTooLarge
# Chunked, no declared length: the broker stops reading at the limit and closes the connection.
req e -X POST -H 'Transfer-Encoding: chunked' --data-binary @"$W/big" "$BROKER_URL/kbs/v0/attest"
[ "$STATUS" != 200 ] || fail "oversized chunked body accepted"
alive
req e -X POST -d '{}' "$BROKER_URL/kbs/v0/attest"
expect_err 401 MissingCookie
req e -X POST -b 'kbs-session-id=00112233445566778899aabbccddeeff' -d '{}' "$BROKER_URL/kbs/v0/attest"
expect_err 401 InvalidCookie
req e -b 'kbs-session-id=00112233445566778899aabbccddeeff' "$BROKER_URL/kbs/v0/resource/default/disk/data"
expect_err 401 InvalidCookie
req e "$BROKER_URL/kbs/v0/auth"
expect_err 405 MethodNotAllowed
req e "$BROKER_URL/kbs/v1/nothing"
expect_err 404 NotFound
n0=$(audit_count)
for path in default/../../../etc/passwd 'default/%2e%2e/disk' 'default/disk/data/extra' '.hidden/disk/data' 'a/b/c%2F..%2F..'; do
	req e --path-as-is "$BROKER_URL/kbs/v0/resource/$path"
	expect_err 400 InvalidRequestPath
	[ "$(audit_last .rule)" = path ] || fail "audit for $path: $(tail -n 1 "$BROKER_AUDIT")"
	[ "$(audit_last .decision)" = denied ] || fail "audit decision for $path"
done
[ "$(audit_count)" = $((n0 + 5)) ] || fail "one audit line per refused path expected"
auth "$W/jar0"
req e -b "$W/jar0" "$BROKER_URL/kbs/v0/resource/default/disk/data"
expect_err 401 UnAuthenticatedCookie
req e -b "$W/jar0" -X POST -d '{"runtime-data":' "$BROKER_URL/kbs/v0/attest"
expect_err 401 InvalidRequest
[ "$(audit_last .action)/$(audit_last .rule)" = attest/request ] || fail "audit: $(tail -n 1 "$BROKER_AUDIT")"
# The nonce was used by that attempt, however malformed.
req e -b "$W/jar0" -X POST -d '{}' "$BROKER_URL/kbs/v0/attest"
expect_err 401 AttestationFailed
[ "$(audit_last .rule)" = nonce ] || fail "audit: $(tail -n 1 "$BROKER_AUDIT")"
# Not TLS: refused, the broker unaffected.
curl -s --max-time 5 "http://127.0.0.1:$BROKER_PORT/kbs/v0/auth" >/dev/null 2>&1 && fail "plain HTTP answered"
alive

note "a client with tpm2-tools: attest, release, replays rejected"
cd "$W"
"$CVMTOOL" extend --tcti "$SWTPM_TCTI" --pcr 12 --log m.log config '{"sha384":"00","source":"x"}' >/dev/null
"$CVMTOOL" extend --tcti "$SWTPM_TCTI" --pcr 12 --log m.log model '{"manifest":"ab","name":"tiny"}' >/dev/null
python3 "$KBS_TOOL" tcg2 m.log >eventlog.bin
jose jwk gen -i '{"kty":"EC","crv":"P-256"}' -o key.jwk
JWK=$(python3 "$KBS_TOOL" jwk-public "$(cat key.jwk)")
attest_body() { # NONCE BIND-NONCE > body
	local rd
	rd=$(python3 "$KBS_TOOL" report-data "$2" "$JWK")
	tpm2_quote -c ak.ctx -l sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23 -q "${rd:0:64}" \
		-m msg.bin -s sig.bin -o pcrs.bin -F values -g sha256 >/dev/null || fail "tpm2_quote"
	tpm2_flushcontext -t
	python3 "$KBS_TOOL" attest "$1" "$JWK" ak.der msg.bin sig.bin pcrs.bin eventlog.bin
}
auth jar1
N1=$NONCE
attest_body "$N1" "$N1" >body1.json
req a -b jar1 -X POST -H 'Content-Type: application/json' --data-binary @body1.json "$BROKER_URL/kbs/v0/attest"
[ "$STATUS" = 200 ] || fail "attest: $STATUS $BODY"
[ "$(audit_last .action)/$(audit_last .decision)/$(audit_last .ak_sha256)" = "attest/allowed/$AK" ] ||
	fail "audit: $(tail -n 1 "$BROKER_AUDIT")"
req r -b jar1 "$BROKER_URL/kbs/v0/resource/default/disk/data"
[ "$STATUS" = 200 ] || fail "resource: $STATUS $BODY"
jose jwe dec -i "$TEST_TMP/r.body" -k key.jwk -O released.bin || fail "jose cannot decrypt the JWE: $BODY"
cmp -s released.bin keys/default/disk/data || fail "the released key differs from the key file"
hdr=$(jq -r .protected <<<"$BODY" | tr '_-' '/+' | base64 -d 2>/dev/null || true)
[[ $hdr =~ ^\{\"alg\":\"ECDH-ES\+A256KW\",\"enc\":\"A256GCM\",\"epk\":\{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"[A-Za-z0-9_-]{43}\",\"y\":\"[A-Za-z0-9_-]{43}\"\}\}$ ]] ||
	fail "protected header: $hdr"
[ "$(audit_last .action)/$(audit_last .resource)/$(audit_last .decision)" = resource/default/disk/data/allowed ] ||
	fail "audit: $(tail -n 1 "$BROKER_AUDIT")"
req e -b jar1 "$BROKER_URL/kbs/v0/resource/default/disk/other"
expect_err 401 PolicyDeny
[ "$(audit_last .rule)" = resource ] || fail "audit: $(tail -n 1 "$BROKER_AUDIT")"
# The captured request again: in its session, the nonce is used; in another, it is not that nonce.
req e -b jar1 -X POST --data-binary @body1.json "$BROKER_URL/kbs/v0/attest"
expect_err 401 AttestationFailed
auth jar2
req e -b jar2 -X POST --data-binary @body1.json "$BROKER_URL/kbs/v0/attest"
expect_err 401 AttestationFailed
req e -b jar2 "$BROKER_URL/kbs/v0/resource/default/disk/data"
expect_err 401 UnAuthenticatedCookie
# The runtime nonce rewritten to a new session's, the quote still bound to the old nonce.
auth jar3
jq -c --arg n "$NONCE" '."runtime-data".nonce=$n' body1.json >body3.json
req e -b jar3 -X POST --data-binary @body3.json "$BROKER_URL/kbs/v0/attest"
expect_err 401 AttestationFailed
expect_in "detail" "$BODY" "qualifying data"
# Tampered event log: the model event's text changed.
auth jar4
attest_body "$NONCE" "$NONCE" >body4.json
python3 -c 'import json,sys,base64;b=json.load(open("body4.json"));e=b["tee-evidence"]["primary_evidence"];e["eventlog"]=base64.b64encode(base64.b64decode(e["eventlog"]).replace(b"tiny",b"tinY")).decode();print(json.dumps(b))' >body5.json
req e -b jar4 -X POST --data-binary @body5.json "$BROKER_URL/kbs/v0/attest"
expect_err 401 AttestationFailed
cd "$TOP"

note "expiry"
broker_stop
broker_start "$W/policy.json" "$W/keys" --session-ttl 1
auth "$W/jar5"
# Sent by hand: curl itself drops the cookie from its jar once Max-Age has passed.
SID=$(awk '$6 == "kbs-session-id" { print $7 }' "$W/jar5")
[ ${#SID} = 32 ] || fail "no session id in the cookie jar: $(cat "$W/jar5")"
sleep 1.3
req e -b "kbs-session-id=$SID" -X POST -d '{}' "$BROKER_URL/kbs/v0/attest"
expect_err 401 ExpiredCookie
broker_stop

note "the real client: cvminit --config with swtpm, the policy from cvmtool predict"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built (make all)"
M=$W/model
mkdir -p "$M/sub"
printf 'hello\n' >"$M/a.txt"
head -c 100000 /dev/urandom >"$M/sub/weights.bin"
DIGEST=$("$CVMTOOL" manifest --digest "$M")
# A port for the config (the config, and so the policy, names the broker's URL), and the config.
C=$W/boot.json
broker_boot_config "$C" "$M" "$DIGEST" "$W/workload.out" "$W/policy.json" "$W/keys"
BANKS=$(swtpm_active_banks | sed 's/^/--bank /' | tr '\n' ' ')
boot() { # PCR POLICY: cvminit against a broker with POLICY on PORT
	rm -f "$W/workload.out"
	broker_start "$2" "$W/keys" --listen "127.0.0.1:$PORT"
	run "$CVMINIT" --config "$C" --tcti "$SWTPM_TCTI" --pcr "$1" --log "$W/boot.$1.log" --run-dir "$W/run.$1"
}
expect 0 "$CVMTOOL" predict --policy --ak "$AK" --source "file:$C" "$C"
printf '%s\n' "$OUT" >"$W/predicted-policy.json"
# shellcheck disable=SC2086
expect 0 "$CVMTOOL" predict --source "file:$C" $BANKS "$C"
PREDICTED=$OUT

boot 14 "$W/predicted-policy.json"
[ "$RC" -eq 0 ] || fail "cvminit exit $RC: $ERR"
[ "$(cat "$W/workload.out" 2>/dev/null)" = ran ] || fail "the workload did not run"
grep -q '"action":"resource","session":"[0-9a-f]*","peer":"127.0.0.1:[0-9]*","tee":"tpm","resource":"default/disk/data","decision":"allowed"' \
	"$BROKER_AUDIT" || fail "no allowed release in the audit log: $(cat "$BROKER_AUDIT")"
grep -q "\"ak_sha256\":\"$AK\"" "$BROKER_AUDIT" || fail "the audit log does not name the AK"
broker_stop
# predict = the log's replay = the TPM, in every bank; at the attest step too.
expect 0 "$CVMTOOL" log replay "$W/boot.14.log"
for bank in $(swtpm_active_banks); do
	want=$(sed -nE "s/^final pcr14 $bank ([0-9a-f]+)\$/\1/p" <<<"$PREDICTED")
	ours=$(sed -nE "s/^pcr14 $bank ([0-9a-f]+)\$/\1/p" <<<"$OUT")
	tpm=$(tpm2_pcrread "$bank:14" | sed -nE 's/^ *14 *: *0x([0-9A-Fa-f]+).*/\1/p' | tr 'A-F' 'a-f')
	[ -n "$want" ] && [ "$want" = "$ours" ] && [ "$want" = "$tpm" ] ||
		fail "pcr14 $bank: predict '$want', log replay '$ours', TPM '$tpm'"
done
ops=$(tr '\036' '\n' <"$W/boot.14.log" | jq -r 'select(.)|.content.operation' | tr '\n' ' ')
[ "$ops" = "config key-provider model workload boot-done " ] || fail "events: $ops"
predicted_ops=$(sed -nE 's/^[0-9]+ ([a-z-]+) .*/\1/p' <<<"$PREDICTED" | tr '\n' ' ')
[ "$ops" = "$predicted_ops" ] || fail "predicted events: $predicted_ops, logged: $ops"

note "denied: another model digest, another AK; no retry, no workload"
expect 0 "$CVMTOOL" predict --policy --ak "$AK" --pcr 15 --source "file:$C" "$C"
jq '.resources[].events[2].content.manifest = "00"' <<<"$OUT" >"$W/deny-model.json"
boot 15 "$W/deny-model.json"
[ "$RC" -ne 0 ] || fail "cvminit succeeded against a denying policy"
[ ! -e "$W/workload.out" ] || fail "the workload ran after a denial"
tail -n 1 "$W/boot.15.log" | grep -q '"boot-failed"' || fail "no boot-failed event last"
[ "$(grep -c '"action":"attest"' "$BROKER_AUDIT")" = 1 ] || fail "retried after a denial: $(cat "$BROKER_AUDIT")"
audit_last .decision | grep -qx denied || fail "audit: $(tail -n 1 "$BROKER_AUDIT")"
[ "$(audit_last .rule)" = "events[2]" ] || fail "audit rule: $(tail -n 1 "$BROKER_AUDIT")"
audit_last .detail | grep -q 'manifest' || fail "audit detail: $(tail -n 1 "$BROKER_AUDIT")"
broker_stop
expect 0 "$CVMTOOL" predict --policy --ak "$(printf '%064d' 1)" --pcr 16 --source "file:$C" "$C"
printf '%s\n' "$OUT" >"$W/deny-ak.json"
boot 16 "$W/deny-ak.json"
[ "$RC" -ne 0 ] || fail "cvminit succeeded with an untrusted AK"
[ ! -e "$W/workload.out" ] || fail "the workload ran after a denial"
[ "$(audit_last .rule)" = trusted_aks ] || fail "audit rule: $(tail -n 1 "$BROKER_AUDIT")"
broker_stop
echo "all broker tests passed"
