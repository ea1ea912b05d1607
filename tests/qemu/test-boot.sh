#!/bin/bash
# cvminit as PID 1 under QEMU (issue 3). Happy path: config from fw_cfg, modules with libkmod,
# ip= over rtnetlink, the model disk found by LABEL= with libblkid and mounted, the model measured
# against its pinned digest, the workload started; the test workload (busybox sh: test config
# only) prints the PCR as the guest kernel reports it and sends the measurement log back over
# ttyS1; on the host the log replays to exactly that PCR and holds config, model, workload,
# boot-done in order; the workload's exit powers the VM off. Then: QEMU system_powerdown and
# ctrl-alt-del stop the workload (SIGTERM) and power off; a crashing workload with restart
# on-failure runs 1 + restart_max times (its ext4 loaded on demand through the kernel's module
# helper, cvminit's modprobe mode); a digest mismatch, a missing disk and a bad config power off
# without starting the workload, the reason on the console, or reboot with
# cvminit.on_failure=reboot. Prints the guest's own timing of
# PID 1 start -> workload start.
source "$(dirname "$0")/lib-qemu.sh"

: "${CVMTOOL:?run through tests/run-tests.sh (CVMTOOL, BUILDDIR)}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built"
command -v jq >/dev/null || fail "jq is missing"

qemu_kernel
note "kernel $QEMU_KVER"
initrd=$TEST_TMP/initramfs.cpio.gz
qemu_initramfs "$initrd" --init "$CVMINIT" \
	--modules-from "$TOP/image/modules.list" --libs-from "$TOP/image/dlopen-libs.list" \
	--file /usr/bin/busybox=/bin/busybox --link /usr/bin/sh=busybox
QEMU_INITRD=$initrd

"$TOP/image/mkdisk" sample-model "$TEST_TMP/model"
"$TOP/image/mkdisk" ext4 "$TEST_TMP/model.img" 16M models "$TEST_TMP/model"
digest=$("$CVMTOOL" manifest --digest "$TEST_TMP/model")
MODULES='["virtio_pci", "virtio_blk", "virtio_net", "ext4"]'
IP=ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off
qemu_tpm

# config OUT SCRIPT [JQ-FILTER]: a config whose workload is `busybox sh -c SCRIPT`.
config() {
	jq -n --arg d "$digest" --arg s "$2" --argjson m "$MODULES" '{
		version: 1, modules: $m,
		mounts: [{device: "LABEL=models", path: "/models", fs: "ext4", options: "ro,nosuid,nodev"}],
		models: [{name: "sample", path: "/models", expect: $d}],
		workload: {exec: ["/usr/bin/busybox", "sh", "-c", $s], env: {PATH: "/usr/bin"}}
	}' | jq "${3:-.}" >"$1"
}
# boot CONFIG [APPEND...]: the model disk, the config in fw_cfg, user networking, ip=.
boot() {
	qemu_reset
	qemu_disk "$TEST_TMP/model.img" model ro
	qemu_config "$1"
	qemu_net
	shift
	qemu_append "$IP" ${BOOT_APPEND:-} "$@"
	qemu_start
}
no_workload() { ! console | grep -q '^workload:' || fail "the workload ran: $(console | grep '^workload:')"; }

note "happy path"
# The workload: the PCR as the kernel reports it, the log over ttyS1, then exit 0.
config "$TEST_TMP/happy.json" 'b=busybox; p=/sys/class/tpm/tpm0/pcr-sha256/14; l=/run/log/cvminit/measure.log
echo "workload: PCR14 sha256 $($b cat $p)"
{ echo "--- BEGIN measure.log ---"; $b base64 $l
  echo "--- END measure.log sha256=$($b sha256sum <$l | $b cut -d" " -f1) ---"; } >/dev/ttyS1
echo "workload: done"' '.workload.on_exit = "poweroff"'
boot "$TEST_TMP/happy.json"
qemu_wait poweroff
happy_elapsed=$QEMU_ELAPSED
c=$(console)
[ -z "${KEEP_CONSOLE:-}" ] || cp "$QEMU_CONSOLE" "$KEEP_CONSOLE"
grep -q '^workload: done' <<<"$c" || fail "the workload did not run to its end:
$(qemu_console_tail 40)"
pcr=$(sed -nE 's/^workload: PCR14 sha256 ([0-9A-Fa-f]{64})$/\1/p' <<<"$c" | tr 'A-F' 'a-f')
[ -n "$pcr" ] || fail "no PCR 14 from the guest kernel on the console"
[ "$pcr" != "$(printf '%064d' 0)" ] || fail "PCR 14 was never extended"
L=$TEST_TMP/measure.log
qemu_extract measure.log "$L" "$QEMU_SERIAL1"
expect 0 "$CVMTOOL" log verify "$L" --pcr "14=sha256:$pcr"
ops=$(tr '\036' '\n' <"$L" | jq -r 'select(.)|.content.operation' | tr '\n' ' ')
[ "$ops" = "config model workload boot-done " ] || fail "events in the guest's log: $ops"
field() { tr '\036' '\n' <"$L" | jq -r --arg op "$1" "select(.)|select(.content.operation==\$op)|.content.content.$2"; }
[ "$(field config source)" = "fw_cfg:opt/cvminit/config" ] || fail "config source '$(field config source)'"
want=$(openssl dgst -sha384 -binary "$TEST_TMP/happy.json" | xxd -p -c 256)
[ "$(field config sha384)" = "$want" ] || fail "config event sha384 $(field config sha384), the fw_cfg file has $want"
[ "sha256:$(field model manifest)" = "$digest" ] || fail "model event manifest $(field model manifest)"
grep -q 'Network: eth0 10.0.2.15/24, gateway 10.0.2.2' <<<"$c" || fail "ip= was not applied"
grep -q 'Mounted LABEL=models (/dev/vda, ext4' <<<"$c" || fail "the model disk was not mounted"
grep -q 'Workload finished (status 0): poweroff' <<<"$c" || fail "no clean power-off after the workload's exit"
note "guest PCR 14 $pcr = host replay of the guest's log"
timing=$(sed -nE 's/.*Workload started \(pid [0-9]+\): ([0-9.]+) ms after cvminit started, ([0-9.]+) ms excluding model hashing \(([0-9.]+) ms\).*/\1 \2 \3/p' <<<"$c" | head -n1)
[ -n "$timing" ] || fail "no timing line on the console"
read -r total excl hashing <<<"$timing"
kstart=$(sed -nE 's/^\[ *([0-9.]+)\] Run \/init as init process.*/\1/p' <<<"$c" | head -n1)
steps=$(grep -E 'Step [a-z]+ done' <<<"$c" | sed -E 's/^\[ *[0-9.]+\] cvminit: Step //; s/ done in / /; s/ ms \(.*//' | awk '!seen[$1]++ { printf "%s %s ms, ", $1, $2 }')

# A workload that runs until it is stopped.
WAIT_SCRIPT='trap "echo workload: SIGTERM; exit 0" TERM; echo workload: ready; while :; do busybox sleep 1; done'

note "system_powerdown: the power button stops the workload, then power off"
MODULES='["virtio_pci", "virtio_blk", "virtio_net", "ext4", "button", "evdev"]'
config "$TEST_TMP/wait.json" "$WAIT_SCRIPT" '.workload.stop_timeout_ms = 5000'
boot "$TEST_TMP/wait.json"
qemu_wait_for '^workload: ready' 60
qemu_powerdown
qemu_wait poweroff
console | grep -q 'Power button pressed: stopping the workload' || fail "no power button in cvminit:
$(qemu_console_tail 30)"
console | grep -q '^workload: SIGTERM' || fail "the workload did not get SIGTERM"

note "ctrl-alt-del: SIGINT to PID 1 stops the workload, then power off"
boot "$TEST_TMP/wait.json"
qemu_wait_for '^workload: ready' 60
qemu_ctrl_alt_del
qemu_wait poweroff
console | grep -q 'SIGINT (ctrl-alt-del) received: stopping the workload' || fail "no ctrl-alt-del in cvminit:
$(qemu_console_tail 30)"
console | grep -q '^workload: SIGTERM' || fail "the workload did not get SIGTERM"

note "restart on-failure, restart_max 2: three runs, then power off (ext4 through the module helper)"
# ext4 is not in this config's modules: mounting asks the kernel's module helper for fs-ext4,
# which is cvminit's modprobe mode; without it the mount fails and nothing runs.
MODULES='["virtio_pci", "virtio_blk", "virtio_net"]'
config "$TEST_TMP/crash.json" 'echo workload: run; kill -SEGV $$' \
	'.workload += {restart: "on-failure", restart_max: 2, restart_delay_ms: 10}'
MODULES='["virtio_pci", "virtio_blk", "virtio_net", "ext4"]'
boot "$TEST_TMP/crash.json"
qemu_wait poweroff
console | grep -q 'Mounted LABEL=models' || fail "ext4 was not mounted through the module helper:
$(qemu_console_tail 20)"
[ "$(console | grep -c '^workload: run')" -eq 3 ] || fail "$(console | grep -c '^workload: run') runs, expected 3"
console | grep -q 'Workload killed by signal SIGSEGV' || fail "no SIGSEGV exit on the console"

note "model digest mismatch: no workload, the reason on the console, power off"
config "$TEST_TMP/mismatch.json" 'echo workload: ran' '.models[0].expect = "sha256:" + ("ab" * 32)'
boot "$TEST_TMP/mismatch.json"
qemu_wait poweroff
no_workload
console | grep -q 'Boot failed in step measure: model sample' || fail "no reason on the console:
$(qemu_console_tail 20)"

note "missing disk: the device is named, power off"
config "$TEST_TMP/nodisk.json" 'echo workload: ran' '.mounts[0].device = "LABEL=nothere" | .mounts[0].timeout_ms = 1000'
boot "$TEST_TMP/nodisk.json"
qemu_wait poweroff
no_workload
console | grep -q 'Boot failed in step mounts: device LABEL=nothere did not appear within 1000 ms' ||
	fail "no missing-disk reason on the console:
$(qemu_console_tail 20)"

note "bad config JSON: measured, rejected with a clear message, power off"
printf '{"version": 1, "workload": {"exec": ["/usr/bin/busybox", "true"]}' >"$TEST_TMP/bad.json"
boot "$TEST_TMP/bad.json"
qemu_wait poweroff
no_workload
console | grep -q 'Config from fw_cfg:opt/cvminit/config measured' || fail "the bad config was not measured:
$(qemu_console_tail 20)"
console | grep -q 'Boot failed in step config: not valid JSON' || fail "no bad-config reason:
$(qemu_console_tail 20)"

note "cvminit.on_failure=reboot: the failed boot reboots instead"
boot "$TEST_TMP/bad.json" cvminit.on_failure=reboot
qemu_wait reboot
no_workload

note "figures: kernel ran /init at ${kstart} s; PID 1 start -> workload start ${total} ms, ${excl} ms"
note "         excluding model hashing (${hashing} ms); steps: ${steps%, }"
note "         QEMU start -> power-off ${happy_elapsed} s; initramfs $(($(stat -c %s "$initrd") / 1024)) KiB"
echo "ok"
