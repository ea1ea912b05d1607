#!/bin/bash
# image/mkinitramfs (issue 3 item 6): two builds from the same inputs are byte-identical, even from
# other directories and under another umask; SOURCE_DATE_EPOCH is what sets the time; the archive
# is a valid newc cpio (GNU cpio reads it) with owner 0:0, /dev/console as a character device,
# every library the loader resolves for cvmtool (ldd), the dlopen'ed TCTI, the kernel modules with
# their dependencies and a modules.dep made by depmod. Fetches the kernel once (image/fetch-kernel).
source "$(dirname "$0")/lib-swtpm.sh"

TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
KERNELDIR=${KERNELDIR:-$TOP/build/kernel}
for tool in cpio depmod readelf gzip; do
	command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null ||
		fail "$tool is missing (tools/install-deps installs it)"
done
"$TOP/image/fetch-kernel" "$KERNELDIR" >/dev/null || fail "image/fetch-kernel failed"
kver=$(cat "$KERNELDIR/version")

prog=${CVMTOOL:-}
[ -x "$prog" ] || prog=$(command -v openssl) # any dynamically linked program will do
args=(--kernel "$KERNELDIR" --init "$TOP/image/standin-init" --bin "$prog"
	--modules-from "$TOP/image/modules.list" --libs-from "$TOP/image/dlopen-libs.list"
	--config "$TOP/image/config.json" --file /usr/bin/busybox=/bin/busybox
	--link /usr/bin/sh=busybox)

build() { # DIR [EPOCH] [UMASK]
	mkdir -p "$TEST_TMP/$1"
	(
		cd "$TEST_TMP/$1"
		umask "${3:-022}"
		SOURCE_DATE_EPOCH=${2:-1700000000} "$TOP/image/mkinitramfs" -o "$TEST_TMP/$1/initramfs.cpio.gz" "${args[@]}"
	) >"$TEST_TMP/$1.log" 2>&1 || fail "mkinitramfs failed: $(cat "$TEST_TMP/$1.log")"
	echo "$TEST_TMP/$1/initramfs.cpio.gz"
}

a=$(build a)
b=$(build b/deeper 1700000000 077)
cmp "$a" "$b" || fail "two builds from the same inputs differ:
$(diff "$a.manifest" "$b.manifest" | head -n 20)"
note "two builds identical: $(sha256sum <"$a" | cut -c1-16)…, $(($(stat -c %s "$a") / 1024)) KiB"

c=$(build c 1700000001)
cmp -s "$a" "$c" && fail "SOURCE_DATE_EPOCH does not change the archive"
# Without SOURCE_DATE_EPOCH the last commit's time is used.
unset_epoch=$(cd "$TEST_TMP" && env -u SOURCE_DATE_EPOCH "$TOP/image/mkinitramfs" -o "$TEST_TMP/d.cpio.gz" "${args[@]}" 2>&1) ||
	fail "mkinitramfs without SOURCE_DATE_EPOCH: $unset_epoch"

# An independent reader: GNU cpio lists and extracts it.
zcat "$a" | cpio -t --quiet >"$TEST_TMP/names" 2>"$TEST_TMP/cpio.err" || fail "cpio cannot read it: $(cat "$TEST_TMP/cpio.err")"
LC_ALL=C sort -c "$TEST_TMP/names" 2>/dev/null || fail "entries are not sorted byte-wise"
zcat "$a" | cpio -tv --quiet >"$TEST_TMP/long"
owners=$(awk '{ print $3 ":" $4 }' "$TEST_TMP/long" | sort -u | tr '\n' ' ')
[ "$owners" = "root:root " ] || fail "owners are not all 0:0: $owners"
grep -qE '^crw------- +1 root +root +5, +1 .* dev/console$' "$TEST_TMP/long" ||
	fail "no /dev/console character device 5,1: $(grep console "$TEST_TMP/long")"
mkdir "$TEST_TMP/x"
(cd "$TEST_TMP/x" && zcat "$a" | cpio -idm --quiet --no-absolute-filenames --nonmatching 'dev/console') ||
	fail "cpio cannot extract it"
# (GNU cpio restores directory times only partly: files are checked.)
bad_time=$(find "$TEST_TMP/x" -mindepth 1 -type f -newermt @1700000000 | awk 'NR <= 3')
[ -z "$bad_time" ] || fail "entries newer than SOURCE_DATE_EPOCH: $bad_time"
[ "$(stat -c %Y "$TEST_TMP/x/init")" = 1700000000 ] || fail "/init mtime is not SOURCE_DATE_EPOCH"
[ -x "$TEST_TMP/x/init" ] || fail "/init is not executable"
[ "$(stat -c %a "$TEST_TMP/x/tmp")" = 1777 ] || fail "/tmp is not 1777"

# Every library the host's loader loads for the program is there (ldd's view, checked against ours).
missing=
while read -r path; do
	[ -e "$TEST_TMP/x$path" ] || missing+=" $path"
done < <(ldd "$prog" | sed -nE 's/.*=> (\/[^ ]+) .*/\1/p; s/^[[:space:]]*(\/[^ ]+) .*/\1/p')
[ -z "$missing" ] || fail "libraries ldd lists are missing from the image:$missing"
for lib in libtss2-tcti-device.so.0 libgcc_s.so.1 libc.so.6; do
	[ -e "$TEST_TMP/x/usr/lib/x86_64-linux-gnu/$lib" ] || fail "$lib is not in the image"
done
[ -e "$TEST_TMP/x/lib64/ld-linux-x86-64.so.2" ] || fail "no dynamic loader at /lib64/ld-linux-x86-64.so.2"
# The program runs with nothing but the image's libraries.
"$TEST_TMP/x/lib64/ld-linux-x86-64.so.2" --inhibit-cache --library-path "$TEST_TMP/x/usr/lib/x86_64-linux-gnu" \
	"$TEST_TMP/x/usr/bin/$(basename "$prog")" --help >/dev/null 2>&1 ||
	[ $? -le 2 ] || fail "$(basename "$prog") does not start with the image's libraries"

# Kernel modules with their dependencies, and depmod's index of them.
mods=$TEST_TMP/x/usr/lib/modules/$kver
[ -s "$mods/modules.dep" ] || fail "no modules.dep in the image"
for m in virtio_blk virtio_pci qemu_fw_cfg ext4 dm_crypt dm_integrity dm_verity; do
	grep -qE "/${m//_/[-_]}\.ko:" "$mods/modules.dep" || fail "$m is not in the image's modules.dep"
done
while IFS=: read -r mod deps; do
	for p in $mod $deps; do
		[ -f "$mods/$p" ] || fail "modules.dep names $p, which is not in the image"
	done
done <"$mods/modules.dep"
grep -qx 'alias crypto-xts xts' "$mods/modules.alias" || fail "modules.alias does not map crypto-xts"
grep -q 'tpm_tis' "$mods/modules.builtin" || fail "modules.builtin is missing (libkmod needs it)"

# Errors are reported, not papered over.
run "$TOP/image/mkinitramfs" -o "$TEST_TMP/e.cpio.gz" --kernel "$KERNELDIR" --init "$TOP/image/standin-init" --module no_such_module
[ "$RC" -ne 0 ] || fail "an unknown module was accepted"
expect_in "unknown module" "$ERR" "no module no_such_module"
run "$TOP/image/mkinitramfs" -o "$TEST_TMP/e.cpio.gz" --init "$TOP/image/standin-init" --lib libno-such-lib.so.9
[ "$RC" -ne 0 ] || fail "an unknown library was accepted"
expect_in "unknown library" "$ERR" "libno-such-lib.so.9 not found"
echo ok
