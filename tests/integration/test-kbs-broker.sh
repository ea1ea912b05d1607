#!/bin/bash
# End to end on the host: `cvminit --config` with swtpm against the real cvm-broker over TLS on
# 127.0.0.1 (DESIGN §4). A policy that trusts the AK (its SHA-256 from tpm2-tools and openssl) and
# requires the key-provider and model events (values computed here: the CA's DER digest with
# openssl, the model manifest's JCS built by hand and hashed with sha256sum) releases the key; a
# model digest the policy does not allow, or an AK it does not know, is denied with the rule in the
# broker's audit log and no retry; a stopped broker gives bounded retries. After a failure the
# workload never runs. The protocol's edges are in test-kbs-client.sh (fake broker).
source "$(dirname "$0")/lib-swtpm.sh"
source "$(dirname "$0")/lib-broker.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built (make all)"
command -v jq >/dev/null || fail "jq is missing"

UID_=$(id -u) GID_=$(id -g)
ops() { tr '\036' '\n' <"$1" | jq -r 'select(.)|.content.operation' | tr '\n' ' ' | sed 's/ $//'; }
content() { tr '\036' '\n' <"$1" | jq -c --arg op "$2" 'select(.)|select(.content.operation==$op)|.content.content'; }

swtpm_start sha256
broker_certs
tpm_ak

# A one-file model and its manifest digest: JCS {"alg","files":[{"digest","path","size"}]} by hand.
M=$TEST_TMP/model
mkdir -p "$M"
printf 'weights\n' >"$M/w.bin"
MANIFEST=$(printf '{"alg":"sha256","files":[{"digest":"%s","path":"w.bin","size":8}]}' \
	"$(sha256sum <"$M/w.bin" | cut -d' ' -f1)" | sha256sum | cut -d' ' -f1)

KEYS=$TEST_TMP/keys
mkdir -p "$KEYS/default/disk"
head -c 64 /dev/urandom >"$KEYS/default/disk/key"

# policy FILE AK MANIFEST
policy() {
	jq -n --arg ak "$2" --arg ca "$CA_SHA256" --arg m "$3" '{version:1, resources:{"default/disk/key":{
		tee:["tpm"], trusted_aks:[$ak],
		events:[{operation:"config"},
		        {operation:"key-provider", content:{ca_sha256:$ca, resource:"default/disk/key"}},
		        {operation:"model", content:{name:"tiny", manifest:$m}}]}}}' >"$1"
}
MARKER=$TEST_TMP/workload-ran
# A power cycle of the TPM (CMD_INIT, TPM2_Startup(CLEAR)): PCRs back to zero, same seeds and AK.
tpm_reboot() {
	swtpm_ioctl --tcp "127.0.0.1:$((SWTPM_PORT + 1))" -i >/dev/null || fail "swtpm_ioctl -i"
	tpm2_startup -c >/dev/null || fail "tpm2_startup -c"
}
# boot URL [KBS-EXTRA-JSON]: a rebooted TPM, cvminit --config with a fresh log; sets RC, OUT, ERR, LOG.
boot() {
	tpm_reboot
	rm -f "$MARKER"
	LOG=$TEST_TMP/m.$RANDOM.log
	jq -n --arg url "$1" --rawfile ca "$BROKER_CA" --argjson x "${2:-{\}}" --arg m "$MARKER" --arg p "$M" \
		--arg d "sha256:$MANIFEST" --argjson u "$UID_" --argjson g "$GID_" \
		'{version:1, models:[{name:"tiny", path:$p, expect:$d}],
		  kbs:({url:$url, ca:$ca, resource:"default/disk/key", retries:2, retry_delay_ms:100} + $x),
		  workload:{exec:["/bin/sh","-c","echo ran > \($m)"], env:{PATH:"/usr/bin:/bin"}, user:$u, group:$g}}' \
		>"$TEST_TMP/config.json"
	run "$CVMINIT" --config "$TEST_TMP/config.json" --tcti "$SWTPM_TCTI" --pcr 14 --log "$LOG" \
		--run-dir "$TEST_TMP/run"
}
expect_denied() { # WHAT RULE
	[ "$RC" -eq 3 ] || fail "$1: exit $RC, expected 3: $ERR"
	expect_in "$1" "$ERR" "Boot failed in step attest: (attest|resource): denied by the broker \(HTTP 401, PolicyDeny"
	[ ! -e "$MARKER" ] || fail "$1: the workload ran"
	[ "$(ops "$LOG")" = "config key-provider model boot-failed" ] || fail "$1: events $(ops "$LOG")"
	# One session (no retry), one denial naming the rule.
	[ "$(grep -c '"action":"attest"' "$BROKER_AUDIT")" = 1 ] || fail "$1: not one session: $(cat "$BROKER_AUDIT")"
	[ "$(grep -c '"decision":"denied"' "$BROKER_AUDIT")" = 1 ] || fail "$1: not one denial: $(cat "$BROKER_AUDIT")"
	expect_in "$1: audit" "$(grep '"decision":"denied"' "$BROKER_AUDIT")" "\"rule\":\"$2"
}

note "policy satisfied: the key is released"
policy "$TEST_TMP/good.json" "$AK_SHA256" "$MANIFEST"
broker_start "$TEST_TMP/good.json" "$KEYS"
boot "$BROKER_URL"
[ "$RC" -eq 0 ] || fail "exit $RC: $ERR
broker: $(cat "$TEST_TMP"/broker.*.err)
audit: $(cat "$BROKER_AUDIT")"
expect_in "stderr" "$ERR" "Key received \(64 bytes\)"
note "$(grep -o 'Step attest done in [0-9.]* ms' <<<"$ERR") (AK, quote, three requests over TLS, swtpm)"
[ -e "$MARKER" ] || fail "the workload did not run"
[ "$(ops "$LOG")" = "config key-provider model workload boot-done" ] || fail "events: $(ops "$LOG")"
[ "$(content "$LOG" key-provider | jq -r .ca_sha256)" = "$CA_SHA256" ] || fail "key-provider $(content "$LOG" key-provider)"
expect_in "audit" "$(grep '"action":"resource"' "$BROKER_AUDIT")" '"decision":"allowed"'
grep -qiF "$(xxd -p -c 64 "$KEYS/default/disk/key")" <<<"$OUT$ERR" && fail "the key appears in the output"
broker_stop

note "a model digest the policy does not allow: denied, no retry"
policy "$TEST_TMP/model.json" "$AK_SHA256" "$(printf other | sha256sum | cut -d' ' -f1)"
broker_start "$TEST_TMP/model.json" "$KEYS"
boot "$BROKER_URL"
expect_denied model "events\\[2\\]"
broker_stop

note "an AK the policy does not know: denied, no retry"
policy "$TEST_TMP/ak.json" "$(printf other | sha256sum | cut -d' ' -f1)" "$MANIFEST"
broker_start "$TEST_TMP/ak.json" "$KEYS"
boot "$BROKER_URL"
expect_denied ak "trusted_aks"
DOWN_URL=$BROKER_URL
broker_stop

note "broker down: bounded retries, then fail closed"
boot "$DOWN_URL" '{"retries":2,"retry_delay_ms":100}'
[ "$RC" -eq 3 ] || fail "down: exit $RC"
expect_in "down" "$ERR" "Boot failed in step attest: auth: no answer from the broker .*Connection refused.*\(gave up after 3 attempts\)"
[ "$(grep -c 'trying again' <<<"$ERR")" = 2 ] || fail "down: retries: $ERR"
[ ! -e "$MARKER" ] || fail "down: the workload ran"

note "ok"
