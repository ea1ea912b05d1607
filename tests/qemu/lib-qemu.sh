# shellcheck shell=bash disable=SC2054  # (QEMU option values are comma lists)
# Sourced by QEMU tests: boots the Debian kernel and an initramfs under TCG with a swtpm vTPM,
# virtio disks, a config in fw_cfg and user networking (DESIGN §8), and brings results back over
# the serial ports. Builds on tests/integration/lib-swtpm.sh (TEST_TMP, at_exit, fail, note, run,
# expect): every QEMU and swtpm started here is killed, and every directory removed, at exit.
# image/README.md describes the whole harness; in short:
#
#   qemu_kernel                fetch the kernel once (image/fetch-kernel); sets QEMU_KERNEL, QEMU_KVER
#   qemu_initramfs OUT ARGS..  image/mkinitramfs -o OUT --kernel KERNELDIR ARGS... (and BUILDDIR's
#                              cvminit-modprobe as /usr/lib/cvminit/modprobe, as `make image` does)
#   qemu_cvminit_initrd [ARGS..]  qemu_kernel, then the initramfs TEST_TMP/initramfs.cpio.gz with
#                              CVMINIT as init, image/modules.list and image/dlopen-libs.list, busybox
#                              as /usr/bin/busybox and /usr/bin/sh, and ARGS (more mkinitramfs
#                              options); sets QEMU_INITRD
#   qemu_tpm [BANKS]           give the next boots a vTPM; its state dir is kept across boots (a
#                              fresh swtpm per boot, so PCRs reset like a real reboot). BANKS, e.g.
#                              "sha256", runs swtpm_setup --pcr-banks first.
#   qemu_tpm_ak                qemu_tpm sha256, and the AK cvminit will quote with in it: made by
#                              tpm2-tools before the first boot, in a swtpm over the very state the
#                              guest boots with (lib-swtpm.sh tpm_ak); sets AK_SHA256
#   qemu_disk FILE SERIAL [ro] attach FILE as a virtio-blk disk; the guest sees SERIAL (<= 20 chars)
#                              in /sys/block/vdX/serial
#   qemu_config FILE           pass FILE as fw_cfg opt/cvminit/config
#   qemu_fw_cfg NAME FILE      any fw_cfg blob (NAME under opt/)
#   qemu_net                   virtio-net with QEMU user networking: guest 10.0.2.15/24, the host's
#                              127.0.0.1 reachable from the guest as 10.0.2.2
#   qemu_append WORD...        add to the kernel command line
#   qemu_reset                 forget disks, fw_cfg, network and command-line words (not the TPM)
#   qemu_start                 boot in the background (QEMU_INITRD must be set); sets QEMU_DIR,
#                              QEMU_CONSOLE (ttyS0 log), QEMU_SERIAL1 (ttyS1 log), QEMU_QMP
#   qemu_wait_for ERE [SECS] [N]  wait until N (default 1) console lines match the extended regexp
#                              (carriage returns removed); sets QEMU_ELAPSED (s since start)
#   qemu_wait [HOW]            wait until QEMU exits by itself and check how the guest ended: HOW is
#                              poweroff (default), reboot, panic or any; sets QEMU_EXIT, QEMU_ELAPSED
#   qemu_run [HOW]             qemu_start + qemu_wait
#   qemu_qmp JSON...           QMP commands (after the capabilities handshake); prints the replies
#   qemu_powerdown             ACPI power button (QMP system_powerdown)
#   qemu_ctrl_alt_del          the key combination on the guest's keyboard (QMP send-key)
#   qemu_kill                  a power cut: SIGKILL to QEMU at once
#   qemu_extract NAME OUT [LOG]  decode the guest's "--- BEGIN NAME ---" base64 block (the last
#                              one) from LOG (default the console) into OUT, checking its SHA-256
#   qemu_console_tail [N]      the console's last N lines, without carriage returns
#
# Settings (environment): QEMU_DEADLINE (s from start until QEMU is killed and the test fails;
# default 120), QEMU_MEM (MiB, 512), QEMU_SMP (1), QEMU_CPU (max), QEMU_BIN, KERNELDIR
# (build/kernel), QEMU_APPEND_BASE (console=ttyS0 panic=-1 ...).

source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib-swtpm.sh"

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
KERNELDIR=${KERNELDIR:-$TOP/build/kernel}
QEMU_BIN=${QEMU_BIN:-qemu-system-x86_64}
QEMU_DEADLINE=${QEMU_DEADLINE:-120}
QEMU_MEM=${QEMU_MEM:-512}
QEMU_SMP=${QEMU_SMP:-1}
QEMU_CPU=${QEMU_CPU:-max}
# panic=-1: a panic reboots at once, which -no-reboot turns into QEMU's exit.
QEMU_APPEND_BASE=${QEMU_APPEND_BASE:-console=ttyS0 panic=-1 oops=panic no_timer_check}

for tool in "$QEMU_BIN" socat base64; do
	command -v "$tool" >/dev/null || fail "$tool is missing (tools/install-deps installs it)"
done

_qemu_args=() _qemu_append=() _qemu_tpm_args=() _qemu_ndisks=0 _qemu_tpm_state='' _qemu_wrapper='' QEMU_DIR=''

qemu_kernel() {
	local mods
	mods=$("$TOP/image/fetch-kernel" "$KERNELDIR") || fail "image/fetch-kernel $KERNELDIR failed"
	QEMU_KERNEL=$KERNELDIR/vmlinuz
	QEMU_KVER=$(cat "$KERNELDIR/version")
	[ -d "$mods" ] || fail "no module tree at $mods"
}

qemu_initramfs() {
	local out=$1 helper=()
	shift
	# cvminit's module helper, as `make image` installs it (init/modules.h).
	[ -x "$BUILDDIR/cvminit-modprobe" ] && helper=(--bin "$BUILDDIR/cvminit-modprobe=/usr/lib/cvminit/modprobe")
	"$TOP/image/mkinitramfs" -o "$out" --kernel "$KERNELDIR" "${helper[@]}" "$@" || fail "mkinitramfs failed"
}

qemu_cvminit_initrd() {
	[ -x "${CVMINIT:-}" ] || fail "qemu_cvminit_initrd: CVMINIT '${CVMINIT:-}' is not built"
	qemu_kernel
	QEMU_INITRD=$TEST_TMP/initramfs.cpio.gz
	qemu_initramfs "$QEMU_INITRD" --init "$CVMINIT" \
		--modules-from "$TOP/image/modules.list" --libs-from "$TOP/image/dlopen-libs.list" \
		--file /usr/bin/busybox=/bin/busybox --link /usr/bin/sh=busybox "$@"
}

qemu_tpm() {
	_qemu_tpm_state=$(mktemp -d "$TEST_TMP/vtpm.XXXXXX")
	if [ -n "${1:-}" ]; then
		swtpm_setup --tpm2 --tpmstate "$_qemu_tpm_state" --pcr-banks "$1" \
			>"$_qemu_tpm_state/setup.log" 2>&1 ||
			fail "swtpm_setup --pcr-banks $1 failed: $(cat "$_qemu_tpm_state/setup.log")"
	fi
}

qemu_tpm_ak() {
	swtpm_start sha256
	tpm_ak
	swtpm_stop
	_qemu_tpm_state=$SWTPM_STATE
}

qemu_disk() {
	local file=$1 serial=$2 ro=
	[ -f "$file" ] || fail "qemu_disk: no file $file"
	[ ${#serial} -le 20 ] || fail "qemu_disk: serial '$serial' is longer than virtio-blk's 20 bytes"
	[ "${3:-}" = ro ] && ro=,readonly=on
	_qemu_ndisks=$((_qemu_ndisks + 1))
	# cache=unsafe: guest flushes are not forced to the host disk; a killed QEMU still leaves its
	# writes in the host's page cache, so crash tests keep working.
	_qemu_args+=(-drive "file=$(realpath "$file"),format=raw,if=none,id=disk$_qemu_ndisks,cache=unsafe$ro"
		-device "virtio-blk-pci,drive=disk$_qemu_ndisks,serial=$serial")
}

qemu_fw_cfg() {
	[ -f "$2" ] || fail "qemu_fw_cfg: no file $2"
	_qemu_args+=(-fw_cfg "name=opt/${1#opt/},file=$(realpath "$2")")
}
qemu_config() { qemu_fw_cfg opt/cvminit/config "$1"; }

# romfile= : no iPXE option ROM to load and wait for.
qemu_net() { _qemu_args+=(-netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile=); }

qemu_append() { _qemu_append+=("$@"); }

qemu_reset() { _qemu_args=() _qemu_append=() _qemu_ndisks=0; }

_qemu_ms() { echo $(($(date +%s%N) / 1000000)); }
_qemu_elapsed() { # seconds since qemu_start, with milliseconds
	local ms=$(($(_qemu_ms) - _qemu_t0))
	printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

_qemu_kill_pidfile() { # PIDFILE: TERM, then KILL after 5 s
	[ -s "$1" ] || return 0
	kill_wait "$(cat "$1")"
}

_qemu_stop() { # kill this boot's QEMU and swtpm, if still running
	local pid
	[ -n "$QEMU_DIR" ] || return 0
	if [ -n "$_qemu_wrapper" ]; then
		# Before QEMU wrote its pidfile, it is known as the only child of the wrapper subshell.
		[ -s "$QEMU_DIR/qemu.pid" ] || for pid in $(pgrep -P "$_qemu_wrapper"); do
			echo "$pid" >"$QEMU_DIR/qemu.pid"
		done
		_qemu_kill_pidfile "$QEMU_DIR/qemu.pid"
		wait "$_qemu_wrapper" 2>/dev/null || true
		_qemu_wrapper=
	fi
	_qemu_kill_pidfile "$QEMU_DIR/swtpm.pid"
}
at_exit _qemu_stop

_qemu_swtpm_start() { # sets _qemu_tpm_args: a swtpm for this boot on a unix socket; QEMU connects to its control channel
	local sock=$QEMU_DIR/swtpm.sock i
	# --terminate: swtpm ends when QEMU closes the connection.
	swtpm socket --tpm2 --tpmstate "dir=$_qemu_tpm_state" --ctrl "type=unixio,path=$sock" \
		--terminate --daemon --pid "file=$QEMU_DIR/swtpm.pid" --log "file=$QEMU_DIR/swtpm.log" \
		2>"$QEMU_DIR/swtpm.err" || fail "swtpm did not start: $(cat "$QEMU_DIR/swtpm.err")"
	for ((i = 0; i < 50; i++)); do
		[ -S "$sock" ] && [ -s "$QEMU_DIR/swtpm.pid" ] && break
		sleep 0.1
	done
	[ -S "$sock" ] || fail "swtpm made no socket $sock"
	_qemu_tpm_args=(-chardev "socket,id=chrtpm,path=$sock" -tpmdev emulator,id=tpm0,chardev=chrtpm
		-device tpm-tis,tpmdev=tpm0)
}

qemu_start() {
	[ -n "${QEMU_INITRD:-}" ] && [ -f "$QEMU_INITRD" ] || fail "qemu_start: QEMU_INITRD '${QEMU_INITRD:-}' is no file"
	[ -n "${QEMU_KERNEL:-}" ] || qemu_kernel
	_qemu_stop
	QEMU_DIR=$(mktemp -d "$TEST_TMP/qemu.XXXXXX")
	QEMU_CONSOLE=$QEMU_DIR/console.log QEMU_SERIAL1=$QEMU_DIR/ttyS1.log QEMU_QMP=$QEMU_DIR/qmp.sock
	_qemu_tpm_args=()
	[ -z "$_qemu_tpm_state" ] || _qemu_swtpm_start
	local args=(-machine q35,accel=tcg -cpu "$QEMU_CPU" -m "$QEMU_MEM" -smp "$QEMU_SMP"
		-nodefaults -no-user-config -display none -no-reboot
		-kernel "$QEMU_KERNEL" -initrd "$(realpath "$QEMU_INITRD")"
		-append "$QEMU_APPEND_BASE${_qemu_append[*]:+ ${_qemu_append[*]}}"
		-chardev "file,id=ser0,path=$QEMU_CONSOLE" -serial chardev:ser0
		-chardev "file,id=ser1,path=$QEMU_SERIAL1" -serial chardev:ser1
		-qmp "unix:$QEMU_QMP,server=on,wait=off" -pidfile "$QEMU_DIR/qemu.pid"
		-device virtio-rng-pci "${_qemu_tpm_args[@]}" "${_qemu_args[@]}")
	printf '%q ' "$QEMU_BIN" "${args[@]}" >"$QEMU_DIR/cmdline"
	: >"$QEMU_CONSOLE"
	_qemu_t0=$(_qemu_ms)
	{
		# set -e is inherited: without "|| rc=$?" a failing QEMU would end the subshell before rc is
		# written, and qemu_wait would wait for the deadline.
		rc=0
		"$QEMU_BIN" "${args[@]}" >"$QEMU_DIR/qemu.log" 2>&1 || rc=$?
		echo $rc >"$QEMU_DIR/rc"
	} &
	_qemu_wrapper=$!
}

qemu_console_tail() { tail -n "${1:-30}" "$QEMU_CONSOLE" | tr -d '\r'; }

_qemu_check_deadline() {
	[ $(($(_qemu_ms) - _qemu_t0)) -ge $((QEMU_DEADLINE * 1000)) ] || return 0
	_qemu_stop
	fail "QEMU still running ${QEMU_DEADLINE} s after start: killed at the deadline (QEMU_DEADLINE). Console:
$(qemu_console_tail 40)"
}

_qemu_exited() { [ -e "$QEMU_DIR/rc" ]; }

qemu_wait_for() {
	local ere=$1 limit=${2:-$QEMU_DEADLINE} count=${3:-1} start
	start=$(_qemu_ms)
	while [ "$(grep -acE -- "$ere" < <(tr -d '\r' <"$QEMU_CONSOLE"))" -lt "$count" ]; do
		_qemu_exited && fail "QEMU exited (status $(cat "$QEMU_DIR/rc")) before the console showed /$ere/ ($count times):
$(qemu_console_tail 40)
$(cat "$QEMU_DIR/qemu.log")"
		_qemu_check_deadline
		[ $(($(_qemu_ms) - start)) -lt $((limit * 1000)) ] ||
			fail "the console did not show /$ere/ ($count times) within $limit s:
$(qemu_console_tail 40)"
		sleep 0.1
	done
	QEMU_ELAPSED=$(_qemu_elapsed)
}

# How the guest ended, from the kernel's last words on the console.
_qemu_how() {
	local log
	log=$(tr -d '\r' <"$QEMU_CONSOLE")
	if grep -aq 'Kernel panic - not syncing' <<<"$log"; then echo panic
	elif grep -aq 'reboot: Power down' <<<"$log"; then echo poweroff
	elif grep -aq 'reboot: Restarting system' <<<"$log"; then echo reboot
	else echo unknown
	fi
}

qemu_wait() {
	local want=${1:-poweroff} rc
	while ! _qemu_exited; do
		_qemu_check_deadline
		sleep 0.1
	done
	QEMU_ELAPSED=$(_qemu_elapsed)
	wait "$_qemu_wrapper" 2>/dev/null || true
	_qemu_wrapper=
	rc=$(cat "$QEMU_DIR/rc")
	QEMU_EXIT=$(_qemu_how)
	[ "$rc" -eq 0 ] || fail "QEMU exited with status $rc: $(cat "$QEMU_DIR/qemu.log")
$(qemu_console_tail 20)"
	[ "$want" = any ] || [ "$QEMU_EXIT" = "$want" ] ||
		fail "the guest ended by '$QEMU_EXIT', expected '$want'. Console:
$(qemu_console_tail 40)"
	_qemu_kill_pidfile "$QEMU_DIR/swtpm.pid"
}

qemu_run() {
	qemu_start
	qemu_wait "$@"
}

qemu_qmp() {
	local i out c
	for ((i = 0; i < 50; i++)); do
		[ -S "$QEMU_QMP" ] && break
		sleep 0.1
	done
	[ -S "$QEMU_QMP" ] || fail "no QMP socket $QEMU_QMP"
	out=$({
		echo '{"execute":"qmp_capabilities"}'
		for c in "$@"; do echo "$c"; done
	} | timeout 10 socat -t 2 - "UNIX-CONNECT:$QEMU_QMP") || fail "QMP: socat failed: $out"
	grep -q '"error"' <<<"$out" && fail "QMP error for $*: $out"
	[ "$(grep -c '"return"' <<<"$out")" -ge $(($# + 1)) ] || fail "QMP: no answer to $*: $out"
	printf '%s\n' "$out"
}

qemu_powerdown() { qemu_qmp '{"execute":"system_powerdown"}' >/dev/null; }

# A power cut: SIGKILL to QEMU, no shutdown of any kind (the guest's unflushed page cache is lost;
# what the guest wrote to its disks stays, as with cache=unsafe it is in the host's page cache).
qemu_kill() {
	[ -s "$QEMU_DIR/qemu.pid" ] || fail "qemu_kill: QEMU has no pidfile yet"
	kill -KILL "$(cat "$QEMU_DIR/qemu.pid")" 2>/dev/null || true
	# The wrapper subshell ends with QEMU (it writes no rc after a non-zero exit under set -e).
	wait "$_qemu_wrapper" 2>/dev/null || true
	_qemu_wrapper=
	QEMU_ELAPSED=$(_qemu_elapsed)
	_qemu_kill_pidfile "$QEMU_DIR/swtpm.pid"
}

qemu_ctrl_alt_del() {
	qemu_qmp '{"execute":"send-key","arguments":{"keys":[{"type":"qcode","data":"ctrl"},{"type":"qcode","data":"alt"},{"type":"qcode","data":"delete"}]}}' >/dev/null
}

# The guest side writes (busybox sh, or the same bytes from C):
#   echo "--- BEGIN NAME ---"; base64 FILE; echo "--- END NAME sha256=$(sha256sum <FILE | cut -d' ' -f1) ---"
# Kernel messages on the same console may land between lines (they are skipped) or inside one (the
# digest then fails): send long files over ttyS1, which carries nothing else.
# console: this boot's console without CRs. Tests read it as `console | grep -q ...`; under
# pipefail, grep -q leaving early kills tr with SIGPIPE once the console outgrows the pipe buffer,
# which would fail the pipeline although grep matched: hence `|| true`.
console() { tr -d '\r' <"$QEMU_CONSOLE" || true; }

qemu_extract() {
	local name=$1 out=$2 log=${3:-$QEMU_CONSOLE} want got
	awk -v name="$name" -v b64="$out.b64" -v end="$out.end" '
		{ sub(/\r$/, "") }
		$0 == "--- BEGIN " name " ---" {
			inblk = 1; close(b64); close(end); printf "" > b64; printf "" > end; next
		}
		inblk && (index($0, "--- END " name " ") == 1 || $0 == "--- END " name " ---") {
			inblk = 0; print > end; next
		}
		inblk && /^[A-Za-z0-9+\/=]+$/ { print >> b64 }
	' "$log"
	[ -e "$out.b64" ] || fail "no '--- BEGIN $name ---' block in $log"
	[ -s "$out.end" ] || fail "the block $name in $log has no END line (cut off?)"
	base64 -d <"$out.b64" >"$out" || fail "the block $name in $log is not valid base64"
	want=$(sed -nE 's/.* sha256=([0-9a-f]{64}) ---$/\1/p' "$out.end")
	rm -f "$out.b64" "$out.end"
	if [ -n "$want" ]; then
		got=$(sha256sum <"$out" | cut -d' ' -f1)
		[ "$got" = "$want" ] || fail "the block $name in $log is corrupt (sha256 $got, the guest sent $want)"
	fi
}
