#!/bin/bash
# An OCI image as the workload, end to end in QEMU (agent/image.h; docs/config.md "images[]"):
# cvminit as PID 1 attests to cvm-broker (test-disk-kbs.sh's setup), opens the encrypted data disk,
# measures the image that lives on it (post-key, DESIGN §1 step 8), unpacks it into
# /data/.cvminit/rootfs and starts it with crun as the supervised workload. The image (busybox-static
# and a script, built here with tar, gzip, zstd, jq and sha256sum) prints the CVMINIT_IMAGE_DIGEST
# cvminit gave it, which must be the manifest digest sha256sum computed for the layout, and
# shows it runs in its own PID namespace as uid 1000. Three boots:
#   1. the blank disk is set up and a busybox workload copies the layout from a plain ext4 disk to
#      /data/images/app;
#   2. the image runs from the encrypted disk: `image` after `disk`, the digest printed; crun's exit
#      status is the workload's and drives the restart policy (exit 3, restarted once); the power
#      button stops it: the container gets SIGTERM, the disk closes cleanly;
#   3. a plain disk with a changed layer blob, the image measured before the key (step 5): the boot
#      fails closed in the measure step naming the blob, before any request to the broker.
# Path escapes, whiteouts, devices and setuid bits are covered on the host (tests/integration/
# test-oci.sh), with the same code.
source "$(dirname "$0")/lib-qemu.sh"
source "$(dirname "$0")/../integration/lib-broker.sh"

: "${CVMTOOL:?run through tests/run-tests.sh (CVMTOOL, BUILDDIR)}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built"
need_tools jq cryptsetup tpm2_createprimary zstd python3
[ -x /usr/bin/crun ] || fail "crun is missing (tools/install-deps installs it)"
MKFS=$(PATH=$PATH:/usr/sbin:/sbin command -v mkfs.ext4) || fail "mkfs.ext4 is missing"
QEMU_DEADLINE=${QEMU_DEADLINE:-240}

qemu_cvminit_initrd --bin "$MKFS=/usr/sbin/mkfs.ext4" --bin /usr/bin/crun

# The image: busybox-static (gzip layer) and the script that prints what the test checks (zstd).
S=$TEST_TMP/src
mkdir -p "$S/base/bin" "$S/app/app" "$S/app/tmp"
chmod 1777 "$S/app/tmp"
cp /bin/busybox "$S/base/bin/busybox"
ln -s busybox "$S/base/bin/sh"
cat >"$S/app/app/run.sh" <<'EOF'
echo "image-digest=$CVMINIT_IMAGE_DIGEST"
echo "image-pid=$$ uid=$(busybox id -u) gid=$(busybox id -g) cwd=$(pwd) mode=$MODE"
busybox ls /proc | busybox grep -c '^[0-9]' | busybox sed 's/^/image-processes=/'
[ -S /run/cvminit/api.sock ] && echo "image: the attestation API socket is there"
if [ ! -e /tmp/ran ]; then
	: >/tmp/ran
	echo "image: first run, exit 3"
	exit 3
fi
trap 'echo "image: SIGTERM received"; exit 0' TERM
echo "image: second run, waiting"
while :; do busybox sleep 1; done
EOF
tar -C "$S/base" --owner=0 --group=0 --numeric-owner -cf "$TEST_TMP/base.tar" bin
tar -C "$S/app" --owner=0 --group=0 --numeric-owner -cf "$TEST_TMP/app.tar" app tmp
LAYOUT=$TEST_TMP/images/app
DIGEST=$("$TOP/tests/fixtures/oci/make-layout.sh" "$LAYOUT" v1 \
	'{"Entrypoint":["/bin/sh","/app/run.sh"],"Env":["PATH=/bin","MODE=image"],"User":"1000:1000","WorkingDir":"/app"}' \
	"$TEST_TMP/base.tar:gzip" "$TEST_TMP/app.tar:zstd")
PLAIN=$TEST_TMP/plain.img
"$TOP/image/mkdisk" ext4 "$PLAIN" 32M images "$TEST_TMP/images"

# The vTPM's AK and the broker, as in test-disk-kbs.sh.
qemu_tpm_ak
broker_certs
broker_disk_key

# config OUT EXTRA-JSON: broker, disk, the plain disk at /images, and EXTRA (images, workload).
config() {
	jq -n --arg url "https://10.0.2.2:$BROKER_PORT" --rawfile ca "$BROKER_CA" --argjson x "$2" '{version: 1,
		modules: ["virtio_pci", "virtio_blk", "virtio_net", "button", "evdev", "dm_mod", "dm_crypt", "dm_integrity", "ext4",
			"algif_skcipher", "algif_hash", "xts", "aesni_intel", "authenc", "sha256_ssse3"],
		kbs: {url: $url, ca: $ca, resource: "default/disk/key", timeout_ms: 20000, retries: 2},
		disk: {name: "data", device: "SERIAL=cvm-data", path: "/data"},
		mounts: [{device: "LABEL=images", path: "/images", fs: "ext4"}]} + $x' >"$1"
}
DISK=$TEST_TMP/data.img
"$TOP/image/mkdisk" raw "$DISK" 64M
boot() { # CONFIG PLAIN-DISK
	qemu_reset
	qemu_disk "$DISK" cvm-data
	qemu_disk "$2" cvm-images ro
	qemu_config "$1"
	qemu_net
	qemu_append ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off
	qemu_start
}
must_see() { console | grep -qE -- "$1" || fail "the console does not show /$1/:
$(qemu_console_tail 40)
broker: $(tail -n 5 "$BROKER_ERR")"; }
line_of() { console | grep -nE -- "$1" | head -n1 | cut -d: -f1; }

note "boot 1: the blank disk is set up; busybox copies the layout onto it"
config "$TEST_TMP/copy.json" "$(jq -cn '{workload: {exec: ["/usr/bin/busybox", "sh", "-c",
	"mkdir -p /data/images && cp -a /images/app /data/images/ && sync && echo workload: copied"],
	env: {PATH: "/usr/bin"}}}')"
boot "$TEST_TMP/copy.json" "$PLAIN"
qemu_wait poweroff
must_see '^workload: copied$'

note "boot 2: the image on the encrypted disk, measured after the disk opened, run by crun;"
note "        its exit status drives the restart policy, the power button stops it with SIGTERM"
IMAGES=$(jq -cn --arg d "$DIGEST" '[{name: "app", layout: "/data/images/app", ref: "v1", expect: $d}]')
config "$TEST_TMP/run.json" "$(jq -cn --argjson i "$IMAGES" '{images: $i,
	workload: {image: "app", restart: "on-failure", restart_max: 1, restart_delay_ms: 100}}')"
boot "$TEST_TMP/run.json" "$PLAIN"
qemu_wait_for '^image: second run, waiting' 120
qemu_powerdown
qemu_wait poweroff
must_see "image app: ref 'v1' is manifest $DIGEST, the pinned digest"
must_see "^image-digest=$DIGEST\$"
# Its own PID namespace (the script is PID 1 there, few processes), the image's user and WorkingDir.
must_see '^image-pid=1 uid=1000 gid=1000 cwd=/app mode=image$'
must_see '^image-processes=[1-9]$'
must_see '^image: first run, exit 3$'
must_see '^image: the attestation API socket is there$'
must_see 'Workload exited with status 3'
must_see 'Restarting the workload in 100 ms \(restart 1 of at most 1\)'
must_see 'Power button pressed: stopping the workload'
must_see '^image: SIGTERM received$'
must_see 'Workload exited with status 0'
# Step 8: the image is measured after the disk opened, and unpacked onto it.
[ "$(line_of 'Step disk done')" -lt "$(line_of "image app: ref 'v1'")" ] || fail "the image was measured before the disk step"
must_see 'image app: bundle /data/\.cvminit/rootfs/app ready'
# Nothing of cvminit or crun keeps the disk busy at the power-off.
must_see 'Disk data: closed\.'
expect_in "audit" "$(grep '"action":"resource"' "$BROKER_AUDIT" | tail -n1)" '"decision":"allowed"'
# What the guest ran is what `cvmtool predict` says it measures: the predicted workload event
# holds the digest the image printed.
expect 0 "$CVMTOOL" predict "$TEST_TMP/run.json" --image-layout "app=$LAYOUT" --json
[ "$(jq -r '.events[] | select(.operation=="workload") | .content.env.CVMINIT_IMAGE_DIGEST' <<<"$OUT")" = "$DIGEST" ] ||
	fail "predict: $OUT"
[ "$(jq -r '[.events[].operation] | join(" ")' <<<"$OUT")" = "config key-provider disk image workload boot-done" ] ||
	fail "predicted order: $OUT"

note "boot 3: a changed layer blob on a plain disk fails closed before the key is asked for"
cp -r "$TEST_TMP/images" "$TEST_TMP/bad"
L1=$(jq -r '.layers[0].digest' "$TEST_TMP/bad/app/blobs/sha256/${DIGEST#sha256:}" | cut -d: -f2)
printf '\x00' | dd of="$TEST_TMP/bad/app/blobs/sha256/$L1" bs=1 seek=200 conv=notrunc status=none
BAD=$TEST_TMP/bad.img
"$TOP/image/mkdisk" ext4 "$BAD" 32M images "$TEST_TMP/bad"
IMAGES=$(jq -cn --arg d "$DIGEST" '[{name: "app", layout: "/images/app", ref: "v1", expect: $d}]')
config "$TEST_TMP/bad.json" "$(jq -cn --argjson i "$IMAGES" '{images: $i, workload: {image: "app"}}')"
attests=$(grep -c '"action":"attest"' "$BROKER_AUDIT" || true)
boot "$TEST_TMP/bad.json" "$BAD"
qemu_wait poweroff
must_see "Boot failed in step measure: image app: blob sha256:$L1 \(layer 1 of 2\): content does not match its digest"
console | grep -q '^image-digest=' && fail "the image ran"
[ "$(grep -c '"action":"attest"' "$BROKER_AUDIT" || true)" = "$attests" ] || fail "the broker was asked after a failed measurement"
broker_stop
echo "ok"
