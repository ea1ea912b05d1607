#!/bin/bash
# cvminit --config on the host against swtpm (DESIGN §1, §3, §8): the boot flow without the
# PID 1-only steps. The log replays to the PCR (tpm2_pcrread vs `cvmtool log replay`), the events
# come in order (config, model, workload, boot-done), the config event holds the SHA-384 of the
# exact bytes (openssl); a wrong model digest, a bad config or an unreachable TPM fail closed with
# boot-failed last and the workload never run; the restart policy and stop (SIGTERM, grace period,
# SIGKILL) behave as configured. Workloads here are /bin/sh -c scripts: test configs only.
source "$(dirname "$0")/lib-swtpm.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built (make all)"
command -v jq >/dev/null || fail "jq is missing"

UID_=$(id -u) GID_=$(id -g)
ops() { tr '\036' '\n' <"$1" | jq -r 'select(.)|.content.operation' | tr '\n' ' ' | sed 's/ $//'; }
content() { tr '\036' '\n' <"$1" | jq -c --arg op "$2" 'select(.)|select(.content.operation==$op)|.content.content'; }
pcr_value() { tpm2_pcrread "$1:$2" | sed -nE "s/^ *$2 *: *0x([0-9A-Fa-f]+).*/\1/p" | tr 'A-F' 'a-f'; }

# The TPM (tpm2-tools) and `cvmtool log replay` agree on every active bank of PCR.
check_replay() { # LOG PCR
	local bank tpm ours
	expect 0 "$CVMTOOL" log replay "$1"
	for bank in $(swtpm_active_banks); do
		tpm=$(pcr_value "$bank" "$2")
		ours=$(sed -nE "s/^pcr$2 +$bank +([0-9a-f]+)\$/\1/p" <<<"$OUT")
		[ -n "$tpm" ] && [ "$tpm" = "$ours" ] || fail "PCR $2 $bank: TPM '$tpm', log replay '$ours'"
	done
}

# config FILE WORKLOAD-JSON [MODELS-JSON]
config() {
	cat >"$1" <<-EOF
	{"version": 1, "models": ${3:-[]}, "workload": $2}
	EOF
}
sh_workload() { # SCRIPT [EXTRA-JSON-MEMBERS]
	local extra=${2:-}
	[ -n "$extra" ] || extra='{}'
	jq -cn --arg s "$1" --argjson u "$UID_" --argjson g "$GID_" --argjson x "$extra" \
		'{exec:["/bin/sh","-c",$s],env:{PATH:"/usr/bin:/bin"},user:$u,group:$g,cwd:"/"} + $x'
}
cvminit() { # PCR LOG CONFIG [ARGS...]
	local pcr=$1 log=$2 cfg=$3
	shift 3
	run "$CVMINIT" --config "$cfg" --tcti "$SWTPM_TCTI" --pcr "$pcr" --log "$log" --run-dir "$TEST_TMP/run" "$@"
}

note "usage"
expect 0 "$CVMINIT" --help
expect_in "help" "$OUT" "--config FILE"
expect 2 "$CVMINIT"
expect_in "stderr" "$ERR" "--config FILE is required"
expect 2 "$CVMINIT" --config /x --pcr 24
expect 2 "$CVMINIT" --config /x --register sev
expect 2 "$CVMINIT" --config /x extra

swtpm_start

M=$TEST_TMP/model
mkdir -p "$M/sub"
printf 'hello\n' >"$M/a.txt"
head -c 200000 /dev/urandom >"$M/sub/weights.bin"
DIGEST=$("$CVMTOOL" manifest --digest "$M")
MODELS=$(jq -cn --arg p "$M" --arg d "$DIGEST" '[{name:"tiny",path:$p,expect:$d}]')

note "happy path: config, model, workload, boot-done; the log replays to the PCR"
C=$TEST_TMP/happy.json L=$TEST_TMP/happy.log
W=$(jq -cn --argjson u "$UID_" --argjson g "$GID_" '{exec:["/usr/bin/env"],env:{A:"1",B:"two words"},user:$u,group:$g}')
config "$C" "$W" "$MODELS"
cvminit 14 "$L" "$C"
[ "$RC" -eq 0 ] || fail "exit $RC: $ERR"
# The workload ran with exactly the configured environment.
[ "$OUT" = $'A=1\nB=two words' ] || fail "workload output (its environment) is '$OUT'"
[ "$(ops "$L")" = "config model workload boot-done" ] || fail "events: $(ops "$L")"
want=$(openssl dgst -sha384 -binary "$C" | xxd -p -c 256)
[ "$(content "$L" config)" = "{\"sha384\":\"$want\",\"source\":\"file:$C\"}" ] ||
	fail "config event $(content "$L" config), expected sha384 $want"
[ "$(content "$L" model | jq -r .manifest)" = "${DIGEST#sha256:}" ] || fail "model event $(content "$L" model)"
# The manifest written to the run directory is the text whose digest was pinned.
[ "sha256:$(sha256sum <"$TEST_TMP/run/manifests/tiny.json" | cut -d' ' -f1)" = "$DIGEST" ] ||
	fail "run/manifests/tiny.json does not hash to $DIGEST"
[ "$(content "$L" workload | jq -c .exec)" = '["/usr/bin/env"]' ] || fail "workload event $(content "$L" workload)"
[ "$(content "$L" boot-done)" = "{}" ] || fail "boot-done event $(content "$L" boot-done)"
check_replay "$L" 14
expect 0 "$CVMTOOL" log verify "$L" --tcti "$SWTPM_TCTI"
cvminit 14 "$L" "$C" # a second run appends to the same log, which still replays
[ "$RC" -eq 0 ] || fail "second run: exit $RC: $ERR"
# Timing lines for the 300 ms target.
expect_in "stderr" "$ERR" "Workload started \(pid [0-9]+\): [0-9.]+ ms after .* excluding model hashing"
check_replay "$L" 14

note "the workload's exit status is cvminit's"
config "$TEST_TMP/exit7.json" "$(sh_workload 'exit 7')"
cvminit 13 "$TEST_TMP/exit7.log" "$TEST_TMP/exit7.json"
[ "$RC" -eq 7 ] || fail "exit $RC, expected the workload's 7: $ERR"
config "$TEST_TMP/sig.json" "$(sh_workload 'kill -USR1 $$')"
cvminit 13 "$TEST_TMP/sig.log" "$TEST_TMP/sig.json"
[ "$RC" -eq $((128 + 10)) ] || fail "exit $RC, expected 138 (SIGUSR1): $ERR"

note "wrong expect: model event, then boot-failed; the workload never runs"
MARK=$TEST_TMP/ran
BAD=$(jq -cn --arg p "$M" '[{name:"tiny",path:$p,expect:("sha256:" + ("00" * 32))}]')
config "$TEST_TMP/wrong.json" "$(sh_workload "touch $MARK")" "$BAD"
L=$TEST_TMP/wrong.log
cvminit 15 "$L" "$TEST_TMP/wrong.json"
[ "$RC" -eq 3 ] || fail "exit $RC, expected 3: $ERR"
[ ! -e "$MARK" ] || fail "the workload ran after a digest mismatch"
[ "$(ops "$L")" = "config model boot-failed" ] || fail "events: $(ops "$L")"
[ "$(content "$L" boot-failed | jq -r .step)" = measure ] || fail "boot-failed: $(content "$L" boot-failed)"
expect_in "stderr" "$ERR" "Boot failed in step measure: model tiny"
# The console line that outlives the log (as PID 1 the log is lost with the power-off) is the event.
[ "$(sed -nE 's/.*Failure measured: boot-failed (\{.*\})$/\1/p' <<<"$ERR")" = "$(content "$L" boot-failed)" ] ||
	fail "the 'Failure measured' line differs from the log's boot-failed event $(content "$L" boot-failed): $ERR"
check_replay "$L" 15

note "bad config JSON: measured, then rejected with a clear message"
printf '{"version": 1, "workload": {"exec": ["/bin/true"]},}' >"$TEST_TMP/bad.json"
L=$TEST_TMP/bad.log
cvminit 16 "$L" "$TEST_TMP/bad.json"
[ "$RC" -eq 3 ] || fail "exit $RC, expected 3: $ERR"
[ "$(ops "$L")" = "config boot-failed" ] || fail "events: $(ops "$L")"
want=$(openssl dgst -sha384 -binary "$TEST_TMP/bad.json" | xxd -p -c 256)
[ "$(content "$L" config | jq -r .sha384)" = "$want" ] || fail "config event does not hold the bad bytes' SHA-384"
[ "$(content "$L" boot-failed | jq -r .step)" = config ] || fail "boot-failed: $(content "$L" boot-failed)"
expect_in "stderr" "$ERR" "Boot failed in step config: .*(JSON|line|column)"
check_replay "$L" 16
# An unknown key: same, and the message names it.
config "$TEST_TMP/unknown.json" "$(sh_workload "touch $MARK" '{"colour":"red"}')"
cvminit 16 "$TEST_TMP/unknown.log" "$TEST_TMP/unknown.json"
[ "$RC" -eq 3 ] && [ ! -e "$MARK" ] || fail "exit $RC with an unknown key: $ERR"
expect_in "stderr" "$ERR" "colour"

note "no config file: boot-failed in step config, nothing else"
cvminit 12 "$TEST_TMP/none.log" "$TEST_TMP/does-not-exist.json"
[ "$RC" -eq 3 ] || fail "exit $RC, expected 3"
[ "$(ops "$TEST_TMP/none.log")" = "boot-failed" ] || fail "events: $(ops "$TEST_TMP/none.log")"
expect_in "stderr" "$ERR" "does-not-exist.json"

note "a log that cannot be appended to: refused, nothing extended"
printf 'not a log\n' >"$TEST_TMP/garbage.log"
config "$TEST_TMP/g.json" "$(sh_workload "touch $MARK")"
cvminit 9 "$TEST_TMP/garbage.log" "$TEST_TMP/g.json"
[ "$RC" -eq 3 ] && [ ! -e "$MARK" ] || fail "exit $RC with a garbage log: $ERR"
expect_in "stderr" "$ERR" "Boot failed in step config: .*garbage.log"
[ "$(cat "$TEST_TMP/garbage.log")" = "not a log" ] || fail "the garbage log was changed"
[ "$(pcr_value sha256 9)" = "$(printf '%064d' 0)" ] || fail "PCR 9 was extended"

note "restart on-failure, restart_max 2: started 3 times"
COUNT=$TEST_TMP/count
config "$TEST_TMP/restart.json" "$(sh_workload "echo x >>$COUNT; exit 3" \
	'{"restart":"on-failure","restart_max":2,"restart_delay_ms":20}')"
cvminit 11 "$TEST_TMP/restart.log" "$TEST_TMP/restart.json"
[ "$RC" -eq 3 ] || fail "exit $RC, expected the last exit status 3: $ERR"
[ "$(wc -l <"$COUNT")" -eq 3 ] || fail "started $(wc -l <"$COUNT") times, expected 3"
expect_in "stderr" "$ERR" "Restarting the workload in 40 ms \(restart 2 of at most 2\)"
[ "$(ops "$TEST_TMP/restart.log")" = "config workload boot-done" ] || fail "restarts were measured"
# on-failure does not restart a success; always does.
rm -f "$COUNT"
config "$TEST_TMP/ok.json" "$(sh_workload "echo x >>$COUNT" '{"restart":"on-failure","restart_max":5,"restart_delay_ms":1}')"
cvminit 11 "$TEST_TMP/ok.log" "$TEST_TMP/ok.json"
[ "$RC" -eq 0 ] && [ "$(wc -l <"$COUNT")" -eq 1 ] || fail "on-failure after success: exit $RC, $(wc -l <"$COUNT") starts"
rm -f "$COUNT"
config "$TEST_TMP/always.json" "$(sh_workload "echo x >>$COUNT" '{"restart":"always","restart_max":1,"restart_delay_ms":1}')"
cvminit 11 "$TEST_TMP/always.log" "$TEST_TMP/always.json"
[ "$RC" -eq 0 ] && [ "$(wc -l <"$COUNT")" -eq 2 ] || fail "always, restart_max 1: exit $RC, $(wc -l <"$COUNT") starts"
# A program that cannot be executed counts as a failed start (127).
W=$(jq -cn --argjson u "$UID_" --argjson g "$GID_" \
	'{exec:["/nonexistent/prog"],env:{},user:$u,group:$g,restart:"on-failure",restart_max:1,restart_delay_ms:1}')
config "$TEST_TMP/noexec.json" "$W"
cvminit 11 "$TEST_TMP/noexec.log" "$TEST_TMP/noexec.json"
[ "$RC" -eq 127 ] || fail "exit $RC for a missing program, expected 127: $ERR"
expect_in "stderr" "$ERR" "nonexistent/prog"

# start_bg NAME WORKLOAD-JSON: cvminit in the background; waits until the workload wrote "started".
start_bg() {
	config "$TEST_TMP/$1.json" "$2"
	rm -f "$TEST_TMP/$1.mark"
	"$CVMINIT" --config "$TEST_TMP/$1.json" --tcti "$SWTPM_TCTI" --pcr 10 --log "$TEST_TMP/$1.log" \
		--run-dir "$TEST_TMP/run-$1" >"$TEST_TMP/$1.out" 2>"$TEST_TMP/$1.err" &
	BG=$!
	at_exit "kill -KILL $BG 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		grep -q started "$TEST_TMP/$1.mark" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "$1: the workload did not start: $(cat "$TEST_TMP/$1.err")"
}

note "SIGTERM: the workload gets SIGTERM and its exit status is cvminit's"
start_bg term "$(sh_workload "trap 'echo term >>$TEST_TMP/term.mark; exit 0' TERM; echo started >>$TEST_TMP/term.mark; while :; do sleep 0.05; done")"
kill -TERM "$BG"
RC=0
wait "$BG" || RC=$?
[ "$RC" -eq 0 ] || fail "exit $RC after SIGTERM: $(cat "$TEST_TMP/term.err")"
grep -q term "$TEST_TMP/term.mark" || fail "the workload did not get SIGTERM"
expect_in "stderr" "$(cat "$TEST_TMP/term.err")" "SIGTERM received: stopping the workload"

note "SIGINT, a workload that ignores SIGTERM: SIGKILL after stop_timeout_ms"
start_bg stubborn "$(sh_workload "trap '' TERM; echo started >>$TEST_TMP/stubborn.mark; while :; do sleep 0.05; done" \
	'{"stop_timeout_ms":300}')"
t0=$(date +%s%N)
kill -INT "$BG"
RC=0
wait "$BG" || RC=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$RC" -eq 137 ] || fail "exit $RC, expected 137 (SIGKILL): $(cat "$TEST_TMP/stubborn.err")"
[ "$ms" -ge 300 ] && [ "$ms" -lt 3000 ] || fail "stopped after $ms ms, expected the 300 ms grace period"
expect_in "stderr" "$(cat "$TEST_TMP/stubborn.err")" "sending SIGKILL"

note "SIGTERM during the restart backoff: no restart"
start_bg backoff "$(sh_workload "echo started >>$TEST_TMP/backoff.mark; exit 1" \
	'{"restart":"always","restart_max":5,"restart_delay_ms":5000}')"
sleep 0.2
kill -TERM "$BG"
RC=0
wait "$BG" || RC=$?
[ "$RC" -eq 1 ] || fail "exit $RC, expected the last status 1"
[ "$(grep -c started "$TEST_TMP/backoff.mark")" -eq 1 ] || fail "restarted although stopped"

note "TPM unreachable: fails before anything is measured"
swtpm_stop
config "$TEST_TMP/notpm.json" "$(sh_workload "touch $MARK")"
cvminit 14 "$TEST_TMP/notpm.log" "$TEST_TMP/notpm.json"
[ "$RC" -eq 3 ] && [ ! -e "$MARK" ] || fail "exit $RC without a TPM"
expect_in "stderr" "$ERR" "Boot failed in step config: cannot open the TPM through TCTI 'swtpm:"
[ ! -s "$TEST_TMP/notpm.log" ] || fail "the log was written without a TPM"

echo "all cvminit host tests passed"
