#!/bin/bash
# The QEMU harness proves itself with the stand-in /init (image/standin-init, busybox; not
# cvminit): one boot under TCG with a vTPM, a model disk, an empty disk, a config in fw_cfg and
# user networking. It checks that the guest kernel reports PCR 14 as 64 hex digits, all zero at
# boot; that cvmtool, run in the guest through the dlopen'ed device TCTI, extends it to the value
# the host replays from the log the guest sent back over the console; that fw_cfg and the model
# disk carry the right bytes (back over ttyS1); that the power button and ctrl-alt-del reach the
# guest over QMP; and that the guest powers QEMU off by itself. Then the deadline kills a guest that
# does not stop, and a corrupted block is refused. Prints the boot time and the initramfs size.
source "$(dirname "$0")/lib-qemu.sh"

qemu_kernel
note "kernel $QEMU_KVER"

initrd=$TEST_TMP/initramfs.cpio.gz
extra=()
if [ -x "${CVMTOOL:-}" ]; then
	extra+=(--bin "$CVMTOOL")
else
	note "no cvmtool built: the in-guest extend is skipped"
fi
qemu_initramfs "$initrd" --init "$TOP/image/standin-init" \
	--modules-from "$TOP/image/modules.list" --libs-from "$TOP/image/dlopen-libs.list" \
	--config "$TOP/image/config.json" --file /usr/bin/busybox=/bin/busybox \
	--link /usr/bin/sh=busybox "${extra[@]}" --stats
QEMU_INITRD=$initrd

"$TOP/image/mkdisk" sample-model "$TEST_TMP/model"
"$TOP/image/mkdisk" ext4 "$TEST_TMP/model.img" 16M model "$TEST_TMP/model"
"$TOP/image/mkdisk" raw "$TEST_TMP/data.img" 8M
printf '{"harness":"self-test","bytes":"%s"}\n' "$(head -c 300 /dev/urandom | base64 -w0)" >"$TEST_TMP/config.json"

qemu_tpm
qemu_disk "$TEST_TMP/model.img" model ro
qemu_disk "$TEST_TMP/data.img" data
qemu_config "$TEST_TMP/config.json"
qemu_net
qemu_append standin.wait=60
qemu_start

qemu_wait_for '^standin: started'
boot_host=$QEMU_ELAPSED
boot_guest=$(tr -d '\r' <"$QEMU_CONSOLE" | sed -nE 's/^standin: started at uptime ([0-9.]+) s.*/\1/p')
qemu_wait_for '^standin: ready' 60

console=$(tr -d '\r' <"$QEMU_CONSOLE")
pcr0=$(sed -nE 's/^standin: PCR14 sha256 ([0-9A-Fa-f]+)$/\1/p' <<<"$console")
[[ $pcr0 =~ ^[0-9A-Fa-f]{64}$ ]] || fail "no 64-hex PCR 14 on the console: '$pcr0'
$(qemu_console_tail 40)"
[ "$pcr0" = "$(printf '%064d' 0)" ] || fail "PCR 14 is $pcr0 at boot, not zero"

if [ -x "${CVMTOOL:-}" ]; then
	pcr1=$(sed -nE 's/^standin: PCR14 after extend sha256 ([0-9A-Fa-f]{64})$/\1/p' <<<"$console" | tr 'A-F' 'a-f')
	[ -n "$pcr1" ] || fail "the guest's cvmtool extend did not work:
$(grep -a '^standin:' <<<"$console")"
	qemu_extract measure.log "$TEST_TMP/measure.log"
	expect 0 "$CVMTOOL" log verify "$TEST_TMP/measure.log" --pcr "14=sha256:$pcr1"
	note "guest PCR 14 after extend $pcr1 = host replay of the guest's log"
fi

qemu_extract config "$TEST_TMP/config.back"
cmp -s "$TEST_TMP/config.json" "$TEST_TMP/config.back" || fail "fw_cfg config came back different"

grep -qx 'standin: disk vda serial=model sectors=32768' <<<"$console" || fail "no model disk vda:
$(grep -a '^standin:' <<<"$console")"
grep -qx 'standin: disk vdb serial=data sectors=16384' <<<"$console" || fail "no data disk vdb"
qemu_extract model.sha256 "$TEST_TMP/model.sha256" "$QEMU_SERIAL1"
(cd "$TEST_TMP/model" && find . -type f | LC_ALL=C sort | xargs sha256sum) >"$TEST_TMP/model.host"
diff -u "$TEST_TMP/model.host" "$TEST_TMP/model.sha256" || fail "the guest read other model bytes"

qemu_powerdown
qemu_wait_for '^standin: power button pressed' 30
qemu_ctrl_alt_del
qemu_wait poweroff
grep -aq '^standin: ctrl-alt-del received' <(tr -d '\r' <"$QEMU_CONSOLE") || fail "no ctrl-alt-del in the guest"
total=$QEMU_ELAPSED

# The deadline: a guest that waits for a key nobody presses is killed, and the test says so.
qemu_reset
qemu_append standin.wait=600
run bash -c "source '$TOP/tests/qemu/lib-qemu.sh'; QEMU_INITRD='$initrd' QEMU_DEADLINE=4; qemu_start; qemu_wait"
[ "$RC" -ne 0 ] || fail "a guest past its deadline passed"
expect_in "deadline failure" "$ERR" "killed at the deadline"
pgrep -f "qemu-system-x86_64.*$initrd" >/dev/null && fail "QEMU survived its deadline"

# A block damaged on the way (a kernel message inside a line) is refused, not decoded.
{
	echo '--- BEGIN x ---'
	echo 'aGVsbG8g[ 1.0] kernel says hi'
	echo 'd29ybGQK'
	echo "--- END x sha256=$(printf 'hello world\n' | sha256sum | cut -d' ' -f1) ---"
} >"$TEST_TMP/bad.log"
run bash -c "source '$TOP/tests/qemu/lib-qemu.sh'; qemu_extract x '$TEST_TMP/x' '$TEST_TMP/bad.log'"
[ "$RC" -ne 0 ] || fail "a corrupted block was accepted"
expect_in "corrupt block" "$ERR" "corrupt|not valid base64"
# The last block of a name counts (a restarted workload prints again); one without END is refused.
{
	printf -- '--- BEGIN y ---\r\nZmlyc3QK\r\n--- END y ---\r\n[ 2.0] noise\r\n'
	printf -- '--- BEGIN y ---\r\nc2Vjb25kCg==\r\n--- END y sha256=%s ---\r\n' "$(echo second | sha256sum | cut -d' ' -f1)"
	printf -- '--- BEGIN z ---\r\nZmlyc3QK\r\n'
} >"$TEST_TMP/two.log"
qemu_extract y "$TEST_TMP/y" "$TEST_TMP/two.log"
[ "$(cat "$TEST_TMP/y")" = second ] || fail "qemu_extract did not take the last block: $(cat "$TEST_TMP/y")"
run bash -c "source '$TOP/tests/qemu/lib-qemu.sh'; qemu_extract z '$TEST_TMP/z' '$TEST_TMP/two.log'"
[ "$RC" -ne 0 ] || fail "a block without END was accepted"
expect_in "cut-off block" "$ERR" "no END line"

size=$(stat -c %s "$initrd")
note "figures: stand-in /init started ${boot_host} s after QEMU start (guest uptime ${boot_guest} s);"
note "         whole boot with checks to power-off ${total} s; initramfs $((size / 1024)) KiB (gzip)"
echo "ok"
