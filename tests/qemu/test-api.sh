#!/bin/bash
# The attestation API with cvminit as PID 1 under QEMU (docs/api.md): the workload (busybox sh and
# the test client tests/qemu/api-probe.c: test config and scaffolding only) finds the socket at
# /run/cvminit/api.sock owned as the config says, asks for evidence with the host's nonce, records
# an `app` event, asks again, and sends the answer back over ttyS1; on the host `cvmtool evidence
# verify` checks it against the vTPM's AK (from tpm2-tools, read from the same TPM state) and shows
# the app event after boot-done, and the PCR 14 the guest kernel reports is the quoted one. Prints
# the evidence latency inside the guest (TCG: slow emulation, not a target).
source "$(dirname "$0")/lib-qemu.sh"

: "${CVMTOOL:?run through tests/run-tests.sh (CVMTOOL, BUILDDIR)}"
CVMINIT=$BUILDDIR/cvminit PROBE=$BUILDDIR/tests/qemu/api-probe
[ -x "$CVMINIT" ] && [ -x "$PROBE" ] || fail "$CVMINIT or $PROBE is not built (make all tests)"
need_tools jq tpm2_createprimary

qemu_cvminit_initrd --bin "$PROBE=/usr/bin/api-probe"
# The vTPM and its AK, as tpm2-tools makes it from the very TPM state the guest boots with.
qemu_tpm_ak

NONCE=$(head -c 32 /dev/urandom | xxd -p -c 64)
SCRIPT='b=busybox S=/run/cvminit/api.sock
echo "workload: socket $($b stat -c "%a %u %g" $S)"
api-probe $S GET "/v1/evidence?nonce=00" >/dev/null
api-probe $S POST /v1/extend "{\"operation\":\"guest-test\",\"content\":{\"n\":1}}" >/run/x.json
echo "workload: extend $($b cat /run/x.json)"
for i in 1 2 3 4 5; do api-probe $S GET "/v1/evidence?nonce=0$i" >/dev/null; done
api-probe $S GET "/v1/evidence?nonce='$NONCE'" >/run/ev.json
echo "workload: PCR14 sha256 $($b cat /sys/class/tpm/tpm0/pcr-sha256/14)"
{ echo "--- BEGIN evidence ---"; $b base64 /run/ev.json
  echo "--- END evidence sha256=$($b sha256sum </run/ev.json | $b cut -d" " -f1) ---"; } >/dev/ttyS1
echo "workload: done"'
jq -n --arg s "$SCRIPT" '{version: 1, modules: ["virtio_pci"],
	api: {socket_user: 0, socket_group: 7, socket_mode: "0660"},
	workload: {exec: ["/usr/bin/busybox", "sh", "-c", $s], env: {PATH: "/usr/bin"}, on_exit: "poweroff"}}' \
	>"$TEST_TMP/config.json"

note "boot: the workload asks for evidence, extends, asks again"
qemu_reset
qemu_config "$TEST_TMP/config.json"
qemu_start
qemu_wait poweroff
c=$(qemu_console_tail 400)
grep -q '^workload: done' <<<"$c" || fail "the workload did not run to its end:
$(qemu_console_tail 40)"
grep -q '^workload: socket 660 0 7$' <<<"$c" || fail "socket mode/owner: $(grep 'workload: socket' <<<"$c")"
grep -qE 'Attestation API listening on /run/cvminit/api.sock' <<<"$c" || fail "no 'listening' line"
grep -qE '^workload: extend \{"recnum":3,"mr":"pcr14","operation":"app"' <<<"$c" ||
	fail "extend answer: $(grep 'workload: extend' <<<"$c")"
pcr=$(sed -nE 's/^workload: PCR14 sha256 ([0-9A-Fa-f]{64})$/\1/p' <<<"$c" | tr 'A-F' 'a-f')
[ -n "$pcr" ] || fail "no PCR 14 from the guest kernel on the console"

note "host: cvmtool evidence verify"
EV=$TEST_TMP/ev.json
qemu_extract evidence "$EV" "$QEMU_SERIAL1"
expect 0 "$CVMTOOL" evidence verify "$EV" --nonce "$NONCE" --ak-sha256 "$AK_SHA256"
expect_in "verify" "$OUT" "app +\{\"content\":\{\"n\":1\},\"operation\":\"guest-test\"\}"
expect_in "verify" "$OUT" "app events +ok: 1, all after boot-done"
[ "$(jq -r '.evidence.tpm_quote.pcrs[14]' "$EV")" = "$pcr" ] || fail "the quoted PCR 14 is not the guest kernel's $pcr"
expect 1 "$CVMTOOL" evidence verify "$EV" --nonce "00$NONCE" --ak-sha256 "$AK_SHA256"

times=$(sed -nE 's/^api-probe: 200 in ([0-9.]+) ms$/\1/p' <<<"$c" | tail -n 6 | sort -n | tr '\n' ' ')
note "figure: evidence in the guest under TCG (vTPM, api-probe), ms: $times"
