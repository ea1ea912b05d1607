# Sourced by integration tests: swtpm instances on 127.0.0.1 (DESIGN §8), a scratch directory,
# and small assertion helpers. Everything started here is stopped, and every directory made here
# is removed, when the test exits (trap EXIT): tests add their own clean-ups with at_exit, never
# with trap.
#
#   swtpm_start [BANKS]   start a fresh TPM; BANKS ("sha1,sha256,sha384") activates exactly those
#                         PCR banks with swtpm_setup first; without it libtpms's defaults are used
#                         (sha1, sha256, sha384 and sha512 active). Sets SWTPM_TCTI (tpm2-tss
#                         "swtpm:host=127.0.0.1,port=P"), TPM2TOOLS_TCTI (the same, for tpm2-tools),
#                         SWTPM_PORT, SWTPM_PID, SWTPM_STATE.
#   swtpm_stop            stop the current instance (its TCTI then names a port nobody serves).
#   swtpm_active_banks    the active banks of the current TPM, one per line, as tpm2_getcap says.
#   tpm_ak                the AK cvminit quotes with, made by tpm2-tools in the current TPM from the
#                         template of measurements/tpm-quote.h (the same endorsement seed gives the
#                         same key): writes TEST_TMP/ak.der (its public key, DER), sets AK_SHA256
#                         (its sha256sum, the fingerprint policies trust)
#   need_tools TOOL...    fail unless every TOOL is on PATH

set -euo pipefail

TEST_TMP=$(mktemp -d /tmp/cvminit-it.XXXXXX)
_at_exit=()
_swtpm_pids=()

at_exit() { _at_exit+=("$*"); }

_lib_cleanup() {
	local rc=$? pid i
	for ((i = ${#_at_exit[@]} - 1; i >= 0; i--)); do eval "${_at_exit[i]}" || true; done
	for pid in "${_swtpm_pids[@]}"; do kill_wait "$pid"; done
	rm -rf "$TEST_TMP"
	exit "$rc"
}
trap _lib_cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "--- $*"; }

# run CMD...: runs it with stdout in $OUT, stderr in $ERR and the exit status in $RC, never failing.
run() {
	RC=0
	"$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || RC=$?
	OUT=$(cat "$TEST_TMP/out")
	ERR=$(cat "$TEST_TMP/err")
}
# expect CODE CMD...: run, and fail unless the exit status is CODE.
expect() {
	local want=$1; shift
	run "$@"
	[ "$RC" -eq "$want" ] || fail "exit $RC, expected $want: $*
stdout: $OUT
stderr: $ERR"
}
expect_in() { # expect_in WHAT TEXT PATTERN (grep -E, case-insensitive)
	grep -qiE -- "$3" <<<"$2" || fail "$1 does not match /$3/: $2"
}

for tool in swtpm swtpm_setup tpm2_getcap tpm2_pcrread tpm2_pcrextend openssl xxd; do
	command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps installs it)"
done

# kill_wait PID: TERM, then KILL if it is still there after 5 s.
kill_wait() {
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

_swtpm_answers() {
	timeout 5 tpm2_getcap -T "$1" properties-fixed >/dev/null 2>&1
}

swtpm_start() {
	local banks=${1:-} attempt port state pid
	state=$(mktemp -d "$TEST_TMP/swtpm.XXXXXX")
	if [ -n "$banks" ]; then
		swtpm_setup --tpm2 --tpmstate "$state" --pcr-banks "$banks" >"$state/setup.log" 2>&1 ||
			fail "swtpm_setup --pcr-banks $banks failed: $(cat "$state/setup.log")"
	fi
	# A free port pair is found by trying: another test may take one between a check and the bind.
	for ((attempt = 0; attempt < 20; attempt++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		rm -f "$state/pid"
		if swtpm socket --tpm2 \
			--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
			--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
			--tpmstate "dir=$state" --flags not-need-init,startup-clear \
			--pid "file=$state/pid" --log "file=$state/swtpm.log" --daemon 2>>"$state/start.log"; then
			pid=$(cat "$state/pid")
			_swtpm_pids+=("$pid")
			break
		fi
	done
	[ -n "${pid:-}" ] || fail "swtpm did not start: $(tail -n 5 "$state/start.log")"
	SWTPM_PORT=$port SWTPM_PID=$pid SWTPM_STATE=$state
	SWTPM_TCTI="swtpm:host=127.0.0.1,port=$port"
	export SWTPM_TCTI TPM2TOOLS_TCTI=$SWTPM_TCTI
	for ((attempt = 0; attempt < 50; attempt++)); do
		_swtpm_answers "$SWTPM_TCTI" && return 0
		sleep 0.1
	done
	fail "swtpm on port $port does not answer: $(tail -n 5 "$state/swtpm.log" 2>/dev/null)"
}

swtpm_stop() {
	[ -n "${SWTPM_PID:-}" ] || return 0
	kill_wait "$SWTPM_PID"
	SWTPM_PID=
}

swtpm_active_banks() {
	tpm2_getcap pcrs | sed -nE 's/^ *- *([a-z0-9_]+): *\[ *[0-9].*$/\1/p'
}

# hex digest of stdin with openssl: hash ALG
hash_hex() { openssl dgst "-$1" -binary | xxd -p -c 256; }

tpm_ak() {
	tpm2_createprimary -C e -g sha256 -G rsa2048:rsassa-sha256:null \
		-a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign' -c "$TEST_TMP/ak.ctx" \
		>/dev/null || fail "tpm2_createprimary"
	tpm2_readpublic -c "$TEST_TMP/ak.ctx" -f der -o "$TEST_TMP/ak.der" >/dev/null || fail "tpm2_readpublic"
	# Without a resource manager every loaded context stays until flushed (swtpm has three slots).
	tpm2_flushcontext -t >/dev/null
	AK_SHA256=$(sha256sum <"$TEST_TMP/ak.der" | cut -d' ' -f1)
}

need_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps installs it)"
	done
}
