#!/bin/bash
# End to end (issue 4 item 5, negative): cvminit as PID 1 attests to cvm-broker on the host, whose
# policy refuses the key; the guest must fail closed. One broker, two resources that differ from
# what this boot produces in one rule each:
#  - default/disk/model: the boot's AK is trusted, but the policy requires a model event with a
#    manifest digest the guest's model disk does not have (the config pins the disk's real digest,
#    so the model step passes and the broker is the one that says no);
#  - default/disk/ak: the model digest is right, but the AK is not in trusted_aks.
# Each boot: the broker's audit log shows exactly one attest (allowed) and one resource request,
# denied with the rule that failed (events[2], trusted_aks) and a detail naming the values found
# and expected (the manifest digest computed here with sha256sum and jq, the AK with tpm2-tools);
# the client does not retry after the denial (no warning, no second audit line); the console
# shows "Boot failed in step attest: resource: denied by the broker (HTTP 401, PolicyDeny: ...)",
# the measured boot-failed event says the same; no workload; the guest powers off by itself; the
# blank data disk is byte-identical afterwards.
source "$(dirname "$0")/lib-kbs-fail.sh"

kbsfail_setup

# The model disk, and its manifest digest (DESIGN §3) computed without cvmtool: JCS of
# {"alg","files":[{"digest","path","size"}]} sorted by path is what jq -cS prints here.
"$TOP/image/mkdisk" sample-model "$TEST_TMP/model"
"$TOP/image/mkdisk" ext4 "$TEST_TMP/model.img" 16M models "$TEST_TMP/model"
MANIFEST=$(cd "$TEST_TMP/model" && for f in $(find . -type f -printf '%P\n' | LC_ALL=C sort); do
	jq -n --arg p "$f" --argjson s "$(stat -c %s "$f")" --arg d "$(sha256sum <"$f" | cut -d' ' -f1)" \
		'{digest: $d, path: $p, size: $s}'
done | jq -cSs '{alg: "sha256", files: .}' | tr -d '\n' | sha256sum | cut -d' ' -f1)
[ "$("$CVMTOOL" manifest --digest "$TEST_TMP/model")" = "sha256:$MANIFEST" ] ||
	fail "cvmtool manifest --digest disagrees with the manifest computed by the test ($MANIFEST)"
NOT_MANIFEST=$(printf 'another model' | sha256sum | cut -d' ' -f1)
NOT_AK=$(printf 'another TPM' | sha256sum | cut -d' ' -f1)

KEYS=$TEST_TMP/keys
mkdir -p "$KEYS/default/disk"
head -c 32 /dev/urandom >"$KEYS/default/disk/model"
head -c 32 /dev/urandom >"$KEYS/default/disk/ak"
# rule AK MANIFEST RESOURCE: everything this boot measures before the key, with one value changed.
rule() {
	jq -n --arg ak "$1" --arg man "$2" --arg ca "$CA_SHA256" --arg res "$3" '{tee: ["tpm"], trusted_aks: [$ak],
		events: [{operation: "config"},
		         {operation: "key-provider", content: {ca_sha256: $ca, resource: $res}},
		         {operation: "model", content: {name: "sample", manifest: $man}}]}'
}
jq -n --argjson m "$(rule "$AK_SHA256" "$NOT_MANIFEST" default/disk/model)" \
	--argjson a "$(rule "$NOT_AK" "$MANIFEST" default/disk/ak)" \
	'{version: 1, resources: {"default/disk/model": $m, "default/disk/ak": $a}}' >"$TEST_TMP/policy.json"
broker_start "$TEST_TMP/policy.json" "$KEYS"

DISK=$TEST_TMP/data.img
"$TOP/image/mkdisk" raw "$DISK" 64M
# config OUT RESOURCE: the model disk mounted and measured against its real digest, then the broker.
config() {
	kbs_config "$1" "https://10.0.2.2:$BROKER_PORT" "$2" '["virtio_pci", "virtio_blk", "virtio_net", "ext4"]' \
		'echo "workload: ran"' --arg d "sha256:$MANIFEST" \
		'. + {mounts: [{device: "LABEL=models", path: "/models", fs: "ext4", options: "ro,nosuid,nodev"}],
		      models: [{name: "sample", path: "/models", expect: $d}]}'
}
# denied RULE DETAIL-ERE: the boot's audit lines are one allowed attest and one denied resource.
denied() {
	local lines
	lines=$(new_audit_lines)
	[ "$(jq -r .action <<<"$lines" | tr '\n' ' ')" = "attest resource " ] ||
		fail "audit: expected one attest and one resource line (no retry), got:
$lines"
	[ "$(jq -r 'select(.action=="attest")|.decision' <<<"$lines")" = allowed ] || fail "audit: $lines"
	local res
	res=$(jq -c 'select(.action=="resource")' <<<"$lines")
	[ "$(jq -r .decision <<<"$res")" = denied ] || fail "audit: not denied: $res"
	[ "$(jq -r .rule <<<"$res")" = "$1" ] || fail "audit: rule $(jq -r .rule <<<"$res"), expected $1: $res"
	jq -r .detail <<<"$res" | grep -qE -- "$2" || fail "audit: detail does not match /$2/: $res"
	[ "$(jq -r .ak_sha256 <<<"$res")" = "$AK_SHA256" ] || fail "audit: ak_sha256 is not the vTPM's AK: $res"
	[ "$(retry_warnings)" -eq 0 ] || fail "the client retried after a denial:
$(console | grep 'trying again')"
	! console | grep -q 'Key received' || fail "a key was received"
}

note "a model digest the policy does not allow: denied at events[2], no retry, fail closed"
config "$TEST_TMP/model.json" default/disk/model
kbs_boot "$TEST_TMP/model.json" "$TEST_TMP/model.img"
fails_closed attest "resource: denied by the broker \(HTTP 401, PolicyDeny: model event \(log event 2\)"
denied 'events[2]' "^model event \(log event 2\): \"manifest\" is \"$MANIFEST\", the policy expects \"$NOT_MANIFEST\"$"
must_see "Model hashing took"
model_s=$QEMU_ELAPSED

note "an AK not in trusted_aks: denied at trusted_aks, no retry, fail closed"
config "$TEST_TMP/ak.json" default/disk/ak
kbs_boot "$TEST_TMP/ak.json" "$TEST_TMP/model.img"
fails_closed attest "resource: denied by the broker \(HTTP 401, PolicyDeny: AK $AK_SHA256 is not trusted for this resource\)"
denied trusted_aks "^AK $AK_SHA256 is not trusted for this resource$"
ak_s=$QEMU_ELAPSED
broker_stop

note "figures (TCG): QEMU start -> power-off ${model_s} s (model denied), ${ak_s} s (AK denied)"
[ -z "${KEEP_CONSOLE:-}" ] || cp "$QEMU_CONSOLE" "$KEEP_CONSOLE"
echo ok
