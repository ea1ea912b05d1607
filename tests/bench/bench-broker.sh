#!/bin/bash
# Throughput and latency of cvm-broker (docs/broker.md "Performance"): full KBS cycles (auth,
# attest with a fresh quote made in software, resource) by tests/bench/bench-broker.c against a
# broker on 127.0.0.1 with TLS, at several concurrency levels, first as TPM VMs, then as TDX VMs,
# against the same broker. The test CA and server certificate come from
# tests/integration/lib-broker.sh (openssl); the TPM AK is an RSA-2048 key made here with openssl
# and its fingerprint for the policy is computed with openssl and sha256sum; the TDX quotes are
# signed by cvm-tdxsim's test PCK chain (made by the bench in a fresh key directory), whose
# root.pem the policy trusts. The policy has one resource per TEE, each with its own key file.
# Afterwards the audit log must hold, for each TEE, exactly one allowed attest and one allowed
# resource line per cycle the bench counted (TDX attests with the root's SHA-256 as openssl
# computes it), and nothing denied. Fails (exit 1) if any cycle did not get the right key.
#
# Usage: tests/bench/bench-broker.sh BUILDDIR       (make bench-broker)
# Environment:
#   BENCH_TEES="tpm tdx"       the TEEs to run, one after another
#   BENCH_CONCURRENCY=1,8,64   concurrent clients, one level after another
#   BENCH_SECONDS=5            seconds per level (at most 60; keep it short on a shared machine)
#   BENCH_BROKER_THREADS=2     the broker's --threads
set -euo pipefail
builddir=${1:?usage: bench-broker.sh BUILDDIR}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILDDIR=$(cd "$builddir" && pwd)
BENCH=$BUILDDIR/bench/bench-broker
tees=${BENCH_TEES:-tpm tdx}
concurrency=${BENCH_CONCURRENCY:-1,8,64}
seconds=${BENCH_SECONDS:-5}
threads=${BENCH_BROKER_THREADS:-2}

# What lib-broker.sh expects from its host script (tests/integration/lib-swtpm.sh in the tests).
TEST_TMP=$(mktemp -d /tmp/bench-broker.XXXXXX)
_at_exit=()
at_exit() { _at_exit+=("$*"); }
_cleanup() {
	local rc=$? i
	for ((i = ${#_at_exit[@]} - 1; i >= 0; i--)); do eval "${_at_exit[i]}" || true; done
	rm -rf "$TEST_TMP"
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "bench-broker: $*" >&2; exit 1; }
source "$TOP/tests/integration/lib-broker.sh"
for tool in jq sha256sum; do
	command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps installs it)"
done
[ -x "$BENCH" ] || fail "$BENCH is not built (make bench-broker builds it)"
for tee in $tees; do
	case $tee in tpm | tdx) ;; *) fail "BENCH_TEES: unknown TEE $tee (tpm, tdx)" ;; esac
done

broker_certs
W=$TEST_TMP/w
mkdir -p "$W/keys/default/disk"
head -c 32 /dev/urandom >"$W/keys/default/disk/data"
head -c 32 /dev/urandom >"$W/keys/default/disk/tdx"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/ak.pem" 2>/dev/null || fail "openssl: AK"
ak_sha256=$(openssl pkey -in "$W/ak.pem" -pubout -outform DER | sha256sum | cut -d' ' -f1)
"$BENCH" --tdx-keys "$W/tdx-keys" --keys-only >/dev/null || fail "cannot make the TDX test keys"
root_sha256=$(openssl x509 -in "$W/tdx-keys/root.pem" -outform DER | sha256sum | cut -d' ' -f1)

# The events bench-broker.c measures into every cycle's log (its BENCH_CONFIG_SHA384 and
# BENCH_MODEL_MANIFEST): each resource requires the config and the model, as a real policy would.
jq -n --arg ak "$ak_sha256" --rawfile root "$W/tdx-keys/root.pem" '
  [{"operation": "config", "content": {"sha384": "9e5a0f2c9cb1b3b0b2a9f7f3d1f2c5e9a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3"}},
   {"operation": "model", "content": {"name": "tiny", "manifest": "5f1b2ea3b9fd8f0f6ae61a76b3bb5e0be2f7ac98ab1ab6a3fba1ac1a9cd1c2a0"}}] as $events |
  {"version": 1, "resources": {
    "default/disk/data": {"tee": ["tpm"], "trusted_aks": [$ak], "events": $events},
    "default/disk/tdx": {"tee": ["tdx"], "roots": [$root], "events": $events}}}' >"$W/policy.json"

# Every cycle opens a session: a TTL far longer than a cycle but short enough that the table of
# live sessions stays small at a thousand cycles a second.
broker_start "$W/policy.json" "$W/keys" --threads "$threads" --session-ttl 30 --max-sessions 200000
echo "bench-broker: cvm-broker pid $BROKER_PID on port $BROKER_PORT, --threads $threads"
declare -A rcs
for tee in $tees; do
	case $tee in
	tpm) args=(--ak "$W/ak.pem" --resource default/disk/data --expect "$W/keys/default/disk/data") ;;
	tdx) args=(--tdx-keys "$W/tdx-keys" --resource default/disk/tdx --expect "$W/keys/default/disk/tdx") ;;
	esac
	echo
	rcs[$tee]=0
	"$BENCH" --url "$BROKER_URL" --ca "$BROKER_CA" --tee "$tee" "${args[@]}" \
		-c "$concurrency" -d "$seconds" --broker-pid "$BROKER_PID" | tee "$TEST_TMP/bench.$tee.out" || rcs[$tee]=$?
done
broker_stop
echo

# The audit log against the bench's own counts, TEE by TEE.
count() { jq -c --arg tee "$1" "select(.tee == \$tee and .action == \"$2\" and .decision == \"allowed\")" "$BROKER_AUDIT" | wc -l; }
allowed=0 errors_all=0
for tee in $tees; do
	read -r attested released errors < <(sed -n 's/^total: [0-9]* cycles, \([0-9]*\) attested, \([0-9]*\) released, \([0-9]*\) errors$/\1 \2 \3/p' \
		"$TEST_TMP/bench.$tee.out")
	[ -n "${released:-}" ] || fail "$tee: no totals from the bench (exit ${rcs[$tee]})"
	a_ok=$(count "$tee" attest) r_ok=$(count "$tee" resource)
	echo "bench-broker: audit log, $tee: $a_ok attest and $r_ok resource lines allowed"
	[ "$a_ok" -eq "$attested" ] || fail "$tee: the audit log has $a_ok allowed attests, the bench counted $attested"
	[ "$r_ok" -eq "$released" ] || fail "$tee: the audit log has $r_ok allowed resources, the bench counted $released"
	allowed=$((allowed + a_ok + r_ok)) errors_all=$((errors_all + errors))
done
denied=$(($(wc -l <"$BROKER_AUDIT") - allowed))
[ "$errors_all" -gt 0 ] || [ "$denied" -eq 0 ] || fail "$denied audit lines are neither allowed attests nor resources"
# What each TEE's allowed lines say: the right resource, the AK or root they were verified with.
wrong=$(jq -c --arg ak "$ak_sha256" --arg root "$root_sha256" 'select(.decision == "allowed" and
  ((.tee == "tpm" and (.ak_sha256 != $ak or (.action == "resource" and .resource != "default/disk/data"))) or
   (.tee == "tdx" and (.root_sha256 != $root or (.action == "resource" and .resource != "default/disk/tdx")))))' \
	"$BROKER_AUDIT" | head -n 1)
[ -z "$wrong" ] || fail "an allowed audit line with the wrong resource, AK or root: $wrong"
for tee in $tees; do
	[ "${rcs[$tee]}" -eq 0 ] || fail "bench-broker --tee $tee exited with ${rcs[$tee]}"
done
