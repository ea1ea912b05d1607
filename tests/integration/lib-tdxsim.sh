# Sourced by tests that need the TDX guest interfaces without TDX hardware (DESIGN §8,
# docs/tdxsim.md), after lib-swtpm.sh, whose at_exit, fail, note and TEST_TMP it uses. Needs
# /dev/fuse and fusermount3 (tools/install-deps installs fuse3); without them the test fails.
#
#   tdxsim_start KEYS [ARGS...]   mounts cvm-tdxsim with key directory KEYS (created if empty) on a
#                                 fresh $TEST_TMP/tdx.N, in the foreground, and waits until it
#                                 serves. Sets TDXSIM_MNT, TDXSIM_PID, TDXSIM_LOG and the kernel's
#                                 paths under it: TDXSIM_MEAS (measurements/), TDXSIM_REPORTS
#                                 (configfs-tsm report/), TDXSIM_CCEL (the firmware log), TDXSIM_CCEL_TABLE.
#                                 Stopped (and unmounted) when the test exits.
#   tdxsim_stop                   SIGTERM, wait; fails unless it exited 0 and unmounted.
#   tdxsim_check_log              fails if the simulator's log shows a sanitizer report
#   tdxsim_export                 exports cvminit's path overrides (CVMINIT_TDX_SYSFS,
#                                 CVMINIT_TSM_CONFIGFS, CVMINIT_CCEL) pointing into the mount
#   tdxsim_mounted DIR            true if DIR is a mount point now

CVM_TDXSIM=${CVM_TDXSIM:-$BUILDDIR/cvm-tdxsim}
[ -x "$CVM_TDXSIM" ] || fail "$CVM_TDXSIM is not built (make all)"
[ -c /dev/fuse ] || fail "/dev/fuse is missing: cvm-tdxsim needs FUSE (load the fuse module, or give the container /dev/fuse)"
command -v fusermount3 >/dev/null || fail "fusermount3 is missing (tools/install-deps installs fuse3)"
_tdxsim_n=0

tdxsim_mounted() {
	local dir
	dir=$(realpath "$1") || return 1
	awk -v d="$dir" '$5 == d { found = 1 } END { exit !found }' /proc/self/mountinfo
}

tdxsim_start() {
	local keys=$1 i
	shift
	_tdxsim_n=$((_tdxsim_n + 1))
	TDXSIM_MNT=$TEST_TMP/tdx.$_tdxsim_n
	TDXSIM_LOG=$TEST_TMP/tdxsim.$_tdxsim_n.log
	mkdir -p "$TDXSIM_MNT"
	"$CVM_TDXSIM" --keys "$keys" -f "$@" "$TDXSIM_MNT" 2>"$TDXSIM_LOG" &
	TDXSIM_PID=$!
	# Unmounted even if the simulator dies, so no test leaves a dead mount behind.
	at_exit "kill $TDXSIM_PID 2>/dev/null; wait $TDXSIM_PID 2>/dev/null; fusermount3 -u -z '$TDXSIM_MNT' 2>/dev/null"
	for ((i = 0; i < 100; i++)); do
		tdxsim_mounted "$TDXSIM_MNT" && [ -d "$TDXSIM_MNT/sys/kernel/config/tsm/report" ] && break
		kill -0 "$TDXSIM_PID" 2>/dev/null || fail "cvm-tdxsim exited at start: $(cat "$TDXSIM_LOG")"
		sleep 0.1
	done
	tdxsim_mounted "$TDXSIM_MNT" || fail "cvm-tdxsim did not mount within 10 s: $(cat "$TDXSIM_LOG")"
	TDXSIM_MEAS=$TDXSIM_MNT/sys/class/misc/tdx_guest/measurements
	TDXSIM_REPORTS=$TDXSIM_MNT/sys/kernel/config/tsm/report
	TDXSIM_CCEL=$TDXSIM_MNT/sys/firmware/acpi/tables/data/CCEL
	TDXSIM_CCEL_TABLE=$TDXSIM_MNT/sys/firmware/acpi/tables/CCEL
}

tdxsim_stop() {
	local rc=0
	kill -TERM "$TDXSIM_PID"
	wait "$TDXSIM_PID" || rc=$?
	[ "$rc" -eq 0 ] || fail "cvm-tdxsim exited $rc after SIGTERM: $(cat "$TDXSIM_LOG")"
	! tdxsim_mounted "$TDXSIM_MNT" || fail "cvm-tdxsim left $TDXSIM_MNT mounted"
	tdxsim_check_log
}

tdxsim_export() {
	export CVMINIT_TDX_SYSFS=$TDXSIM_MEAS CVMINIT_TSM_CONFIGFS=$TDXSIM_MNT/sys/kernel/config/tsm
	export CVMINIT_CCEL=$TDXSIM_CCEL
}

tdxsim_check_log() {
	! grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$TDXSIM_LOG" || fail "cvm-tdxsim: $(cat "$TDXSIM_LOG")"
}
