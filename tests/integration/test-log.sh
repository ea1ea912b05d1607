#!/bin/bash
# cvmtool log show|replay|verify against logs written by hand (printf + openssl, lib-cel.sh) and
# register values computed with openssl, never by cvmtool; then against swtpm extended with
# tpm2_pcrextend. Fixtures: tests/fixtures/cel (make-fixtures.sh).
set -euo pipefail
: "${CVMTOOL:?}" "${TOP:?}" "${FIXTURES:?}"
. "$TOP/tests/integration/lib-cel.sh"

tmp=$(mktemp -d /tmp/test-log.XXXXXX)
swtpm_pid=
cleanup() {
	[ -n "$swtpm_pid" ] && kill "$swtpm_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect RC PATTERN CMD...: runs CMD, checks its exit code and that PATTERN (fixed string) is in its
# combined output.
expect() {
	local want=$1 pattern=$2 rc=0
	shift 2
	"$@" >"$tmp/out" 2>&1 || rc=$?
	[ "$rc" -eq "$want" ] || { cat "$tmp/out" >&2; fail "exit $rc, expected $want: $*"; }
	[ -z "$pattern" ] || grep -qF -- "$pattern" "$tmp/out" || { cat "$tmp/out" >&2; fail "no '$pattern' in the output of: $*"; }
}

# ---- a log of four events, two banks, and its replay computed independently ----
contents=('{"sha384":"ab","source":"fw_cfg"}' '{"ca_sha256":"cd","resource":"r/t/k","url":"https://k"}'
	$'{"name":"llama","sha256":"\xc3\xa9"}' '{}')
ops=(config key-provider model boot-done)
log=$tmp/measure.log
: >"$log"
declare -A reg prefix2
for alg in sha256 sha384; do reg[$alg]=$(cel_zero $alg); done
for i in 0 1 2 3; do
	cel_record "$i" pcr14 "${ops[$i]}" "${contents[$i]}" sha256 sha384 >>"$log"
	for alg in sha256 sha384; do
		reg[$alg]=$(cel_extend $alg "${reg[$alg]}" "$(cel_event_digest $alg "cvminit ${ops[$i]} ${contents[$i]}")")
		[ "$i" -eq 1 ] && prefix2[$alg]=${reg[$alg]}
	done
done

printf 'pcr14 sha256 %s\npcr14 sha384 %s\n' "${reg[sha256]}" "${reg[sha384]}" >"$tmp/replay.expected"
"$CVMTOOL" log replay "$log" >"$tmp/replay.out"
diff -u "$tmp/replay.expected" "$tmp/replay.out" || fail "log replay differs from the openssl replay"
"$CVMTOOL" log replay "$FIXTURES/cel/good.log" | diff -u "$FIXTURES/cel/good.replay" - || fail "good.log replay"

# ---- show ----
expect 0 "key-provider" "$CVMTOOL" log show "$log"
[ "$(grep -c pcr14 "$tmp/out")" -eq 4 ] || fail "show: expected 4 records"
grep -q "^2 .*pcr14 .*model .*{\"name\":\"llama\",\"sha256\":\"\\\\xc3\\\\xa9\"}.*sha256:$(cel_event_digest sha256 "cvminit model ${contents[2]}" | head -c 16)" "$tmp/out" ||
	{ cat "$tmp/out"; fail "show: record 2 line"; }
expect 0 "uncommitted" "$CVMTOOL" log show "$FIXTURES/cel/uncommitted.log"
expect 0 "ALTERED" "$CVMTOOL" log show "$FIXTURES/cel/altered.log"
if command -v python3 >/dev/null; then
	"$CVMTOOL" log show --json "$log" | python3 -c '
import json, sys
a = json.load(sys.stdin)
assert len(a) == 4 and [r["recnum"] for r in a] == [0, 1, 2, 3], a
assert a[2]["content"]["content"]["sha256"] == "\u00e9"
assert a[1]["content"]["operation"] == "key-provider"' || fail "show --json"
fi

# ---- verify with given values ----
expect 0 "pcr14: all banks match the log (4 records)" "$CVMTOOL" log verify "$log" --pcr "14=${reg[sha256]}"
expect 0 "all banks match" "$CVMTOOL" log verify "$log" --pcr "14=sha256:${reg[sha256]}" --mr "pcr14=${reg[sha384]}"
expect 1 "pcr14: records 2.. were logged but never extended" \
	"$CVMTOOL" log verify "$log" --pcr "14=${prefix2[sha256]}" --pcr "14=${prefix2[sha384]}"
expect 1 "records 0.. were logged but never extended" "$CVMTOOL" log verify "$log" --pcr "14=$(cel_zero sha256)"
other=$(cel_extend sha256 "${reg[sha256]}" "$(cel_event_digest sha256 'cvminit app {}')")
expect 1 "the log replays completely but the register differs: it was extended with something the log does not record" \
	"$CVMTOOL" log verify "$log" --pcr "14=$other"
expect 1 "differs" "$CVMTOOL" log verify "$log" --pcr "14=${reg[sha256]}" --pcr "14=${prefix2[sha384]}"
expect 1 "pcr14 sha1: the log has no digests for this bank" \
	"$CVMTOOL" log verify "$log" --pcr "14=${reg[sha256]}" --pcr "14=$(cel_zero sha1)"
expect 1 "pcr14: the log has records for this register but no value" \
	"$CVMTOOL" log verify "$log" --pcr "15=$(cel_zero sha256)"

# Uncommitted last record: consistent with and without its extend.
head -c -1 "$log" >"$tmp/uncommitted.log"
expect 0 "record 3 is uncommitted (its writer stopped before the commit) and its extend happened" \
	"$CVMTOOL" log verify "$tmp/uncommitted.log" --pcr "14=${reg[sha256]}"
r3=$(cel_extend sha256 "${prefix2[sha256]}" "$(cel_event_digest sha256 "cvminit model ${contents[2]}")")
expect 0 "its extend did not happen" "$CVMTOOL" log verify "$tmp/uncommitted.log" --pcr "14=$r3"
expect 1 "records 2.. were logged but never extended" \
	"$CVMTOOL" log verify "$tmp/uncommitted.log" --pcr "14=${prefix2[sha256]}"
expect 1 "record 1: content does not match its digests (altered after measurement)" \
	"$CVMTOOL" log verify "$FIXTURES/cel/altered.log" --pcr "14=$(cut -d' ' -f3 "$FIXTURES/cel/good.replay" | head -1)"

# ---- malformed logs: exit 3, the record named ----
while IFS='|' read -r file msg; do
	expect 3 "$msg" "$CVMTOOL" log verify "$FIXTURES/cel/$file" --pcr "14=${reg[sha256]}"
	expect 3 "$msg" "$CVMTOOL" log show "$FIXTURES/cel/$file"
	expect 3 "$msg" "$CVMTOOL" log replay "$FIXTURES/cel/$file"
done <<'LIST'
bad-recnum.log|record 1: recnum is 5, expected 1
bad-truncated-middle.log|record 1: not terminated by a newline
bad-truncated-last.log|record 1: invalid JSON
bad-invalid-json.log|record 2: invalid JSON
bad-digest-length.log|record 1: the sha256 digest must be 64 hex digits
bad-unknown-alg.log|record 1: unknown hash algorithm "md5"
bad-duplicate-key.log|record 1: invalid JSON: duplicate object key
bad-utf8.log|record 1: not valid UTF-8
bad-no-rs.log|record 0: the log does not start with a record separator
bad-mr.log|record 1: mr must be
bad-content-type.log|record 2: content_type must be
bad-float.log|record 1: content cannot be canonicalized
bad-mixed-banks.log|record 2: its digests are for other banks
LIST
expect 3 "No such file" "$CVMTOOL" log show "$tmp/missing.log"
head -c $((64 * 1024 * 1024 + 1)) /dev/zero >"$tmp/huge.log"
expect 3 "larger than the limit" "$CVMTOOL" log replay "$tmp/huge.log"
rm -f "$tmp/huge.log"
expect 0 "" "$CVMTOOL" log replay "$FIXTURES/cel/empty.log"
[ ! -s "$tmp/out" ] || fail "replay of an empty log printed something"

# ---- usage ----
for sub in show replay verify; do expect 0 "Usage: cvmtool log $sub" "$CVMTOOL" log $sub --help; done
expect 0 "Usage: cvmtool log show" "$CVMTOOL" log --help
expect 2 "give the register values" "$CVMTOOL" log verify "$log"
expect 2 "the value must be" "$CVMTOOL" log verify "$log" --pcr 14=abcd
expect 2 "the value must be" "$CVMTOOL" log verify "$log" --pcr "14=sha384:${reg[sha256]}"
expect 2 "N must be 0..23" "$CVMTOOL" log verify "$log" --pcr "24=${reg[sha256]}"
expect 2 "two values for pcr14 sha256" "$CVMTOOL" log verify "$log" --pcr "14=${reg[sha256]}" --mr "pcr14=${reg[sha256]}"
expect 2 "--tcti reads the values" "$CVMTOOL" log verify "$log" --tcti mssim --pcr "14=${reg[sha256]}"
expect 2 "expected one FILE" "$CVMTOOL" log show
expect 2 "unknown command" "$CVMTOOL" log frob

# ---- verify --tcti against swtpm, extended with tpm2_pcrextend ----
if ! command -v swtpm >/dev/null || ! command -v tpm2_pcrextend >/dev/null; then
	echo "SKIP: swtpm or tpm2-tools missing: --tcti not tested"
	exit 0
fi
for try in 1 2 3 4 5; do
	port=$((20000 + RANDOM % 20000))
	swtpm socket --tpm2 --server type=tcp,port=$port,bindaddr=127.0.0.1 \
		--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --tpmstate dir="$tmp" \
		--flags not-need-init,startup-clear --daemon --pid file="$tmp/swtpm.pid" 2>/dev/null && break
done
swtpm_pid=$(cat "$tmp/swtpm.pid")
tcti="swtpm:host=127.0.0.1,port=$port"
banks=(sha1 sha256 sha384 sha512)
tpmlog=$tmp/pcr16.log
: >"$tpmlog"
for i in 0 1 2; do
	cel_record "$i" pcr16 app "{\"n\":$i}" "${banks[@]}" >>"$tpmlog"
done
tpm_extend() {
	local spec='' sep='' alg
	for alg in "${banks[@]}"; do
		spec+="$sep$alg=$(cel_event_digest $alg "cvminit app {\"n\":$1}")"
		sep=,
	done
	TPM2TOOLS_TCTI=$tcti tpm2_pcrextend "16:$spec"
}
tpm_extend 0
tpm_extend 1
expect 1 "pcr16: records 2.. were logged but never extended" "$CVMTOOL" log verify "$tpmlog" --tcti "$tcti"
tpm_extend 2
expect 0 "pcr16: all banks match the log (3 records)" "$CVMTOOL" log verify "$tpmlog" --tcti "$tcti"
expect 0 "all banks match" "$CVMTOOL" log verify "$tpmlog" --tcti "$tcti" --pcr 16
expect 1 "pcr16: the log has records for this register but no value" "$CVMTOOL" log verify "$tpmlog" --tcti "$tcti" --pcr 15
kill "$swtpm_pid"
swtpm_pid=
expect 4 "Cannot reach the TPM" "$CVMTOOL" log verify "$tpmlog" --tcti "$tcti"
echo "test-log: all checks passed"
