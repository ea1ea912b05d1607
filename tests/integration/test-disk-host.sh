#!/bin/bash
# The disk step of cvminit --config on the host (init/boot.c, agent/disk.c; docs/disk.md): a
# config with a data disk but no key broker fails closed in the config step — boot-failed names the
# disk and says no broker releases its key, no `disk` event, the workload never runs, and the device is
# never looked at (it does not even exist here). Opening real disks needs device-mapper, which
# the host lacks: tests/qemu/test-disk.sh does that in a guest.
source "$(dirname "$0")/lib-swtpm.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built (make all)"
command -v jq >/dev/null || fail "jq is missing"

ops() { tr '\036' '\n' <"$1" | jq -r 'select(.)|.content.operation' | tr '\n' ' ' | sed 's/ $//'; }
content() { tr '\036' '\n' <"$1" | jq -c --arg op "$2" 'select(.)|select(.content.operation==$op)|.content.content'; }

swtpm_start
MARK=$TEST_TMP/ran
C=$TEST_TMP/disk.json L=$TEST_TMP/disk.log
jq -n --arg m "$MARK" --argjson u "$(id -u)" --argjson g "$(id -g)" '{version: 1,
	disk: {name: "data", device: "/dev/cvminit-test-absent", path: "/data", timeout_ms: 100},
	workload: {exec: ["/bin/sh", "-c", ("touch " + $m)], user: $u, group: $g}}' >"$C"

note "a disk without a key broker: boot-failed in step config, nothing opened, no workload"
run "$CVMINIT" --config "$C" --tcti "$SWTPM_TCTI" --pcr 14 --log "$L" --run-dir "$TEST_TMP/run"
[ "$RC" -eq 3 ] || fail "exit $RC, expected 3: $ERR"
[ ! -e "$MARK" ] || fail "the workload ran without its disk"
[ "$(ops "$L")" = "config boot-failed" ] || fail "events: $(ops "$L")"
[ "$(content "$L" boot-failed | jq -r .step)" = config ] || fail "boot-failed: $(content "$L" boot-failed)"
expect_in "boot-failed error" "$(content "$L" boot-failed | jq -r .error)" \
	'^disk data: the config names no key broker \("kbs"\), and the disk key is released only by one: the disk stays closed$'
expect_in "stderr" "$ERR" "Boot failed in step config: disk data: the config names no key broker"
grep -q 'cvminit-test-absent' <<<"$ERR" && fail "the device was looked for without a key: $ERR"
expect 0 "$CVMTOOL" log replay "$L"

echo "ok"
