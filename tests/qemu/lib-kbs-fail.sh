# shellcheck shell=bash
# Sourced by the QEMU tests where cvminit as PID 1 must fail closed at attestation
# (test-kbs-deny.sh, test-kbs-faults.sh). Builds on lib-qemu.sh and lib-broker.sh: one initramfs
# for every boot, a vTPM whose AK fingerprint is learnt with tpm2-tools (as test-disk-kbs.sh), the
# test CA and broker certificate, configs with a kbs and a disk section, and the check every
# failed boot must pass.
#
#   kbsfail_setup [--mkfs]       kernel, initramfs (busybox; mkfs.ext4 with --mkfs), vTPM: sets
#                                QEMU_INITRD, AK_SHA256, BROKER_CA..., CA_SHA256
#   kbs_config OUT URL RESOURCE MODULES SCRIPT [JQ-ARGS... FILTER]
#                                a config: the broker at URL (our CA), RESOURCE, small retries
#                                (KBS_RETRIES, KBS_DELAY_MS, KBS_TIMEOUT_MS), the data disk
#                                SERIAL=cvm-data, MODULES (a JSON array), workload `sh -c SCRIPT`;
#                                then jq JQ-ARGS FILTER over it
#   kbs_boot CONFIG [MODEL-IMAGE] boots with DISK as cvm-data (and the model disk), ip=
#   fails_closed STEP ERE        after qemu_wait: the console shows "Boot failed in step STEP: "
#                                followed by ERE, the boot-failed event as measured says the same, no
#                                workload line, no format, the guest powered off by itself, and
#                                DISK is byte-identical (DISK_SHA256 taken by kbs_boot)
#   retry_warnings               how many "trying again" warnings the console shows
#   new_audit_lines              the audit lines the current broker wrote during the last boot
source "$(dirname "${BASH_SOURCE[0]}")/lib-qemu.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib-broker.sh"

: "${CVMTOOL:?run through tests/run-tests.sh (CVMTOOL, BUILDDIR)}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built"
need_tools jq tpm2_createprimary sha256sum
KBS_RETRIES=${KBS_RETRIES:-2} KBS_DELAY_MS=${KBS_DELAY_MS:-100} KBS_TIMEOUT_MS=${KBS_TIMEOUT_MS:-20000}
# Boots that never reach the disk step load no device-mapper or crypto modules.
MODULES_NET='["virtio_pci", "virtio_blk", "virtio_net"]'
MODULES_DISK='["virtio_pci", "virtio_blk", "virtio_net", "dm_mod", "dm_crypt", "dm_integrity", "ext4",
	"algif_skcipher", "algif_hash", "xts", "aesni_intel", "authenc", "sha256_ssse3"]'
IP=ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off

kbsfail_setup() {
	local extra=() mkfs
	if [ "${1:-}" = --mkfs ]; then
		mkfs=$(PATH=$PATH:/usr/sbin:/sbin command -v mkfs.ext4) || fail "mkfs.ext4 is missing"
		extra=(--bin "$mkfs=/usr/sbin/mkfs.ext4")
	fi
	qemu_cvminit_initrd "${extra[@]}"
	qemu_tpm_ak
	broker_certs
}

kbs_config() {
	local out=$1 url=$2 res=$3 mods=$4 script=$5
	shift 5
	[ $# -gt 0 ] || set -- .
	jq -n --arg url "$url" --rawfile ca "$BROKER_CA" --arg res "$res" --argjson m "$mods" --arg s "$script" \
		--argjson n "$KBS_RETRIES" --argjson d "$KBS_DELAY_MS" --argjson t "$KBS_TIMEOUT_MS" '{version: 1,
		modules: $m,
		kbs: {url: $url, ca: $ca, resource: $res, timeout_ms: $t, retries: $n, retry_delay_ms: $d},
		disk: {name: "data", device: "SERIAL=cvm-data", path: "/data"},
		workload: {exec: ["/usr/bin/busybox", "sh", "-c", $s], env: {PATH: "/usr/bin"}, on_exit: "poweroff"}}' |
		jq "$@" >"$out" || fail "kbs_config: jq failed"
}

kbs_boot() {
	[ -f "${DISK:-}" ] || fail "kbs_boot: no DISK"
	DISK_SHA256=$(sha256sum <"$DISK" | cut -d' ' -f1)
	_audit_lines=0
	[ ! -f "${BROKER_AUDIT:-}" ] || _audit_lines=$(wc -l <"$BROKER_AUDIT")
	qemu_reset
	qemu_disk "$DISK" cvm-data
	[ -z "${2:-}" ] || qemu_disk "$2" model ro
	qemu_config "$1"
	qemu_net
	qemu_append "$IP"
	qemu_start
}

must_see() {
	console | grep -qE -- "$1" || fail "the console does not show /$1/:
$(qemu_console_tail 40)"
}

# The boot-failed event's content as cvminit measured it (its console line, init/boot.c).
failed_event() { console | sed -nE 's/.*Failure measured: boot-failed (\{.*\})$/\1/p' | tail -n 1; }

fails_closed() {
	local step=$1 ere=$2 ev got
	qemu_wait poweroff # by itself, before QEMU_DEADLINE
	must_see "Boot failed in step $step: ${ere#^}"
	must_see "The workload will not be started: poweroff\."
	ev=$(failed_event)
	[ -n "$ev" ] || fail "no 'Failure measured: boot-failed' line: the failure is not in the log:
$(qemu_console_tail 20)"
	[ "$(jq -r .step <<<"$ev")" = "$step" ] || fail "boot-failed event of another step: $ev"
	jq -r .error <<<"$ev" | grep -qE -- "$ere" || fail "boot-failed error does not match /$ere/: $ev"
	[ "$(jq -c 'keys' <<<"$ev")" = '["error","step"]' ] || fail "boot-failed content: $ev"
	! console | grep -q '^workload:' || fail "the workload ran: $(console | grep '^workload:')"
	! console | grep -qE 'Disk [^ ]+: formatting' || fail "the disk was formatted: $(console | grep -E 'Disk [^ ]+: formatting')"
	got=$(sha256sum <"$DISK" | cut -d' ' -f1)
	[ "$got" = "$DISK_SHA256" ] || fail "the data disk changed: sha256 $DISK_SHA256 before, $got after"
}

retry_warnings() { console | grep -cE 'Key broker: .*; trying again in [0-9]+ ms \(attempt [0-9]+ of [0-9]+\)' || true; }

new_audit_lines() { tail -n +$((_audit_lines + 1)) "$BROKER_AUDIT"; }
