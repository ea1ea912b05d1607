#!/bin/bash
# OCI images as the workload (agent/image*.c; docs/config.md "images[]"), cvminit --config on the
# host against swtpm, with a stand-in for crun that records its arguments and the bundle (crun
# itself runs in tests/qemu/test-oci.sh). Layouts are built here from busybox-static and crafted
# tars (tests/fixtures/oci/make-layout.sh, mktar.py): digests from sha256sum, never from cvminit.
#
# Good image: the `image` event {"digest","name","ref"} with the layout's manifest digest, before
# the workload event, whose exec/env/user are the image's Entrypoint/Cmd/Env/User with the config's
# overrides and CVMINIT_IMAGE_DIGEST; config.json (process, namespaces, capabilities); the rootfs
# (gzip, zstd and plain layers; whiteouts and an opaque whiteout, entries of the same layer kept;
# symlinks, hardlinks, owners, modes, mtimes; setgid directory kept); `cvmtool predict` gives the
# same events. Failing closed, with the workload never started and boot-failed last: a manifest
# that is not the pinned one (its event still recorded), a missing and a mismatching layer blob
# (named), an unknown ref, a layer compressed otherwise than its media type says; entries that
# leave the rootfs (absolute, '..', a symlink climbing out, hardlinks out), a write through a
# symlink to a host directory, device nodes and setuid bits (each refusal names layer and entry),
# and both allowed when the config says so.
source "$(dirname "$0")/lib-swtpm.sh"

: "${CVMTOOL:?run through tests/run-tests.sh}"
CVMINIT=$BUILDDIR/cvminit
[ -x "$CVMINIT" ] || fail "$CVMINIT is not built (make all)"
need_tools jq zstd gzip tar python3 sha256sum
BUSYBOX=/bin/busybox
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || [ -x "$BUSYBOX" ] || fail "busybox-static is missing"
MKL=$TOP/tests/fixtures/oci/make-layout.sh
MKTAR=$TOP/tests/fixtures/oci/mktar.py
ROOT=$(id -u)

ops() { tr '\036' '\n' <"$1" | jq -r 'select(.)|.content.operation' | tr '\n' ' ' | sed 's/ $//'; }
content() { tr '\036' '\n' <"$1" | jq -c --arg op "$2" 'select(.)|select(.content.operation==$op)|.content.content'; }

# The crun stand-in: records argv and the bundle's config.json, exits 0.
CRUN=$TEST_TMP/crun
cat >"$CRUN" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$TEST_TMP/crun.args"
while [ \$# -gt 0 ]; do [ "\$1" = --bundle ] && cp "\$2/config.json" "$TEST_TMP/crun.config.json"; shift; done
exit 0
EOF
chmod +x "$CRUN"
export CVMINIT_CRUN=$CRUN

swtpm_start

# config FILE IMAGES-JSON WORKLOAD-JSON
config() { jq -n --argjson i "$2" --argjson w "$3" '{version: 1, images: $i, workload: $w}' >"$1"; }
image() { # NAME LAYOUT REF [EXPECT] [EXTRA-JSON]
	jq -cn --arg n "$1" --arg l "$2" --arg r "$3" --arg e "${4:-}" --argjson x "${5:-{\}}" \
		'[{name: $n, layout: $l, ref: $r} + (if $e == "" then {} else {expect: $e} end) + $x]'
}
cvminit() { # LOG CONFIG
	rm -f "$TEST_TMP/crun.args" "$TEST_TMP/crun.config.json"
	run "$CVMINIT" --config "$2" --tcti "$SWTPM_TCTI" --pcr 15 --log "$1" --run-dir "$TEST_TMP/run"
}
# fails_with LOG CONFIG STEP PATTERN: the boot fails in STEP with PATTERN, the workload never ran.
fails_with() {
	cvminit "$1" "$2"
	[ "$RC" -ne 0 ] || fail "$2: cvminit succeeded, expected a failure matching /$4/"
	[ ! -e "$TEST_TMP/crun.args" ] || fail "$2: the workload was started"
	[ "$(ops "$1" | awk '{print $NF}')" = boot-failed ] || fail "$2: last event is not boot-failed: $(ops "$1")"
	[ "$(content "$1" boot-failed | jq -r .step)" = "$3" ] || fail "$2: failed in $(content "$1" boot-failed)"
	expect_in "boot-failed error" "$(content "$1" boot-failed | jq -r .error)" "$4"
}
ROOTFS=$TEST_TMP/run/rootfs/app/rootfs

note "a good image: three layers (gzip, zstd, plain), whiteouts, links, owners"
S=$TEST_TMP/src
mkdir -p "$S/l1/bin" "$S/l1/etc" "$S/l1/d1" "$S/l1/d2" "$S/l1/keep"
cp "$BUSYBOX" "$S/l1/bin/busybox"
ln -s busybox "$S/l1/bin/sh"
echo old >"$S/l1/etc/old"
echo a >"$S/l1/d1/a"
echo b >"$S/l1/d1/b"
echo x >"$S/l1/d2/x"
echo k >"$S/l1/keep/k"
touch -d @1600000000 "$S/l1/etc/old"
tar -C "$S/l1" --owner=0 --group=0 --numeric-owner -cf "$TEST_TMP/l1.tar" bin etc d1 d2 keep
# Layer 2: hides etc/old, makes d1 opaque while adding d1/c (before the marker) and d1/e (after).
python3 "$MKTAR" "$TEST_TMP/l2.tar" 'd:d1' 'f:d1/c=c' 'f:d1/.wh..wh..opq=' 'f:d1/e=e' 'f:etc/.wh.old=' \
	'f:etc/new:640:1234:5678:1500000000=new' 'd:shared:2775' 'l:usr/bin/bb=../../bin/busybox' \
	'l:usr/bin/abs=/bin/busybox'
# Layer 3: a hardlink to layer 1's file, a whiteout of a whole directory, a FIFO.
python3 "$MKTAR" "$TEST_TMP/l3.tar" 'h:bin/busybox2=bin/busybox' 'f:.wh.d2=' 'p:run.fifo' 'f:app/run.sh:755=echo hi'
CFG='{"Entrypoint":["/bin/sh","-c"],"Cmd":["echo from-cmd"],"Env":["PATH=/usr/bin:/bin","LANG=C","MODE=image"],"User":"1000:1001","WorkingDir":"/app"}'
L=$TEST_TMP/layout
DIGEST=$("$MKL" "$L" v1 "$CFG" "$TEST_TMP/l1.tar:gzip" "$TEST_TMP/l2.tar:zstd" "$TEST_TMP/l3.tar:none")
C=$TEST_TMP/good.json LOG=$TEST_TMP/good.log
config "$C" "$(image app "$L" v1 "$DIGEST")" '{"image":"app","args":["echo from-config"],"env":{"MODE":"config"}}'
cvminit "$LOG" "$C"
[ "$RC" -eq 0 ] || fail "exit $RC: $ERR"
[ "$(ops "$LOG")" = "config image workload boot-done" ] || fail "events: $(ops "$LOG")"
[ "$(content "$LOG" image)" = "{\"digest\":\"$DIGEST\",\"name\":\"app\",\"ref\":\"v1\"}" ] ||
	fail "image event $(content "$LOG" image), expected digest $DIGEST"
W=$(content "$LOG" workload)
[ "$(jq -c .exec <<<"$W")" = '["/bin/sh","-c","echo from-config"]' ] || fail "workload exec: $W"
[ "$(jq -c .env <<<"$W")" = "{\"CVMINIT_IMAGE_DIGEST\":\"$DIGEST\",\"LANG\":\"C\",\"MODE\":\"config\",\"PATH\":\"/usr/bin:/bin\"}" ] ||
	fail "workload env: $W"
[ "$(jq -c '[.user, .image, .restart]' <<<"$W")" = '[1000,"app","no"]' ] || fail "workload user/image/restart: $W"
# crun was asked to run exactly this bundle.
[ "$(grep -c -- '--bundle' "$TEST_TMP/crun.args")" = 1 ] && [ "$(tail -n1 "$TEST_TMP/crun.args")" = app ] &&
	[ "$(grep -A1 -- '--bundle' "$TEST_TMP/crun.args" | tail -n1)" = "$TEST_TMP/run/rootfs/app" ] ||
	fail "crun arguments: $(cat "$TEST_TMP/crun.args")"
J=$TEST_TMP/crun.config.json
[ "$(jq -cS '.process | [.args, .user, .cwd, .noNewPrivileges, .capabilities.effective]' "$J")" = \
	'[["/bin/sh","-c","echo from-config"],{"gid":1001,"uid":1000},"/app",true,[]]' ] ||
	fail "config.json process: $(jq -c .process "$J")"
[ "$(jq -c '.process.env | sort' "$J")" = "$(jq -c '[.env | to_entries[] | .key + "=" + .value] | sort' <<<"$W")" ] ||
	fail "config.json env differs from the measured env: $(jq -c .process.env "$J")"
[ "$(jq -c '[.linux.namespaces[].type] | sort' "$J")" = '["cgroup","ipc","mount","pid","uts"]' ] ||
	fail "namespaces: $(jq -c .linux.namespaces "$J")"
[ "$(jq -r '.root.path' "$J")" = rootfs ] && jq -e '.process.capabilities.bounding | index("CAP_NET_RAW") | not' "$J" >/dev/null ||
	fail "config.json root or capabilities: $(jq -c '[.root, .process.capabilities]' "$J")"

note "... the rootfs the layers make"
cmp -s "$BUSYBOX" "$ROOTFS/bin/busybox" || fail "bin/busybox differs from the image's"
[ "$(readlink "$ROOTFS/bin/sh")" = busybox ] && [ "$(readlink "$ROOTFS/usr/bin/bb")" = ../../bin/busybox ] &&
	[ "$(readlink "$ROOTFS/usr/bin/abs")" = /bin/busybox ] || fail "symlinks: $(ls -l "$ROOTFS/bin" "$ROOTFS/usr/bin")"
[ ! -e "$ROOTFS/etc/old" ] && [ "$(cat "$ROOTFS/etc/new")" = new ] || fail "etc: $(ls -la "$ROOTFS/etc")"
[ "$(cd "$ROOTFS/d1" && ls | tr '\n' ' ')" = "c e " ] || fail "opaque d1 holds: $(ls "$ROOTFS/d1")"
[ ! -e "$ROOTFS/d2" ] && [ "$(cat "$ROOTFS/keep/k")" = k ] || fail "whiteout of d2 or keep/: $(ls "$ROOTFS")"
[ "$(stat -c %i "$ROOTFS/bin/busybox")" = "$(stat -c %i "$ROOTFS/bin/busybox2")" ] || fail "bin/busybox2 is no hardlink"
[ -p "$ROOTFS/run.fifo" ] || fail "run.fifo is not a FIFO"
[ "$(stat -c '%a %Y' "$ROOTFS/etc/new")" = "640 1500000000" ] || fail "etc/new mode/mtime: $(stat -c '%a %Y' "$ROOTFS/etc/new")"
[ "$(stat -c %a "$ROOTFS/shared")" = 2775 ] || fail "setgid directory: $(stat -c %a "$ROOTFS/shared")"
[ "$(stat -c %Y "$ROOTFS/etc")" != 0 ] || true
if [ "$ROOT" = 0 ]; then
	[ "$(stat -c %u:%g "$ROOTFS/etc/new")" = 1234:5678 ] || fail "etc/new owner: $(stat -c %u:%g "$ROOTFS/etc/new")"
fi

note "... cvmtool predict gives the same events"
expect 0 "$CVMTOOL" predict "$C" --source "file:$C" --json
[ "$(jq -c '[.events[] | {operation, content}]' <<<"$OUT")" = \
	"$(tr '\036' '\n' <"$LOG" | jq -c 'select(.)|{operation: .content.operation, content: .content.content}' | jq -cs .)" ] ||
	fail "predict differs from the log: $OUT"
# A copy elsewhere; with the layout gone, the workload event cannot be predicted.
cp -r "$L" "$TEST_TMP/copy"
expect 0 "$CVMTOOL" predict "$C" --source "file:$C" --image-layout "app=$TEST_TMP/copy" --json
expect 3 "$CVMTOOL" predict "$C" --image-layout "app=$TEST_TMP/nothing"
expect_in "predict" "$ERR" "cannot read the layout .*workload event cannot be predicted"
expect 2 "$CVMTOOL" predict "$C" --image-layout "other=$TEST_TMP/copy"

note "a second boot rebuilds the rootfs from scratch"
echo stale >"$ROOTFS/stale"
cvminit "$TEST_TMP/again.log" "$C"
[ "$RC" -eq 0 ] && [ ! -e "$ROOTFS/stale" ] || fail "second boot: exit $RC, stale file: $(ls "$ROOTFS")"

note "the pinned digest differs: the image event records what was found, then the boot fails"
OTHER=sha256:$(printf other | sha256sum | cut -d' ' -f1)
config "$TEST_TMP/pin.json" "$(image app "$L" v1 "$OTHER")" '{"image":"app"}'
fails_with "$TEST_TMP/pin.log" "$TEST_TMP/pin.json" measure "manifest $DIGEST, not the pinned $OTHER"
[ "$(ops "$TEST_TMP/pin.log")" = "config image boot-failed" ] && [ "$(content "$TEST_TMP/pin.log" image | jq -r .digest)" = "$DIGEST" ] ||
	fail "pin: $(ops "$TEST_TMP/pin.log")"
expect 1 "$CVMTOOL" predict "$TEST_TMP/pin.json"

note "an unknown ref; a layer blob missing, then changed"
config "$TEST_TMP/ref.json" "$(image app "$L" v2)" '{"image":"app"}'
fails_with "$TEST_TMP/ref.log" "$TEST_TMP/ref.json" measure "no manifest has the ref 'v2'.*'v1'"
L2HEX=$(jq -r '.layers[1].digest' "$L/blobs/sha256/${DIGEST#sha256:}" | cut -d: -f2)
cp -r "$L" "$TEST_TMP/missing"
rm "$TEST_TMP/missing/blobs/sha256/$L2HEX"
config "$TEST_TMP/missing.json" "$(image app "$TEST_TMP/missing" v1 "$DIGEST")" '{"image":"app"}'
fails_with "$TEST_TMP/missing.log" "$TEST_TMP/missing.json" measure "blob sha256:$L2HEX \(layer 2 of 3\): missing"
[ "$(ops "$TEST_TMP/missing.log")" = "config image boot-failed" ] || fail "missing: $(ops "$TEST_TMP/missing.log")"
cp -r "$L" "$TEST_TMP/bad"
B=$TEST_TMP/bad/blobs/sha256/$L2HEX
printf '\xff' | dd of="$B" bs=1 seek=100 conv=notrunc status=none
config "$TEST_TMP/bad.json" "$(image app "$TEST_TMP/bad" v1 "$DIGEST")" '{"image":"app"}'
fails_with "$TEST_TMP/bad.log" "$TEST_TMP/bad.json" measure "blob sha256:$L2HEX \(layer 2 of 3\): content does not match its digest"
# The manifest blob itself changed: nothing is measured for the image.
cp -r "$L" "$TEST_TMP/badm"
sed -i 's/"schemaVersion":2/"schemaVersion": 2/' "$TEST_TMP/badm/blobs/sha256/${DIGEST#sha256:}"
config "$TEST_TMP/badm.json" "$(image app "$TEST_TMP/badm" v1)" '{"image":"app"}'
fails_with "$TEST_TMP/badm.log" "$TEST_TMP/badm.json" measure "blob $DIGEST \(the manifest\): .*bytes, its descriptor says"

note "a layer compressed otherwise than its media type says"
M=$TEST_TMP/mislabel
"$MKL" "$M" v1 '{"Cmd":["/x"]}' "$TEST_TMP/l3.tar:zstd" >/dev/null
jq '.manifests[0]' "$M/index.json" >/dev/null
MH=$(jq -r '.manifests[0].digest' "$M/index.json" | cut -d: -f2)
jq -c '.layers[0].mediaType = "application/vnd.oci.image.layer.v1.tar+gzip"' "$M/blobs/sha256/$MH" >"$TEST_TMP/m.json"
NH=$(sha256sum <"$TEST_TMP/m.json" | cut -d' ' -f1)
mv "$TEST_TMP/m.json" "$M/blobs/sha256/$NH"
jq --arg d "sha256:$NH" --argjson s "$(stat -c %s "$M/blobs/sha256/$NH")" '.manifests[0].digest = $d | .manifests[0].size = $s' \
	"$M/index.json" >"$M/i" && mv "$M/i" "$M/index.json"
config "$TEST_TMP/mis.json" "$(image app "$M" v1)" '{"image":"app"}'
fails_with "$TEST_TMP/mis.log" "$TEST_TMP/mis.json" images "layer 1 of 1 .*(not a valid tar\+gzip|compressed as)"

# bad_layer NAME STEP-PATTERN ENTRY...: a one-layer image of these entries fails in step images.
bad_layer() {
	local name=$1 pattern=$2 d
	shift 2
	python3 "$MKTAR" "$TEST_TMP/$name.tar" "$@"
	d=$("$MKL" "$TEST_TMP/$name" v1 '{"Cmd":["/x"]}' "$TEST_TMP/$name.tar:gzip")
	config "$TEST_TMP/$name.json" "$(image app "$TEST_TMP/$name" v1 "$d" "${EXTRA:-{\}}")" '{"image":"app"}'
	fails_with "$TEST_TMP/$name.log" "$TEST_TMP/$name.json" images "$pattern"
}

note "entries that leave the rootfs are refused, naming layer and entry"
mkdir -p "$TEST_TMP/host"
bad_layer abs "layer 1 of 1 \(sha256:[0-9a-f]{16}\.\.\.\): entry '/etc/evil': absolute path" 'f:/etc/evil=x'
bad_layer dotdot "entry '../evil': '..' in the path" 'f:../evil=x'
bad_layer dotdot2 "entry 'a/../../evil': '..' in the path" 'd:a' 'f:a/../../evil=x'
bad_layer symout "entry 'a/up': symlink target '../../host' leaves the rootfs" 'd:a' 'l:a/up=../../host'
bad_layer hardout "entry 'x': hardlink target '../host/f' leaves the rootfs" 'h:x=../host/f'
bad_layer hardabs "entry 'x': hardlink target '/etc/passwd' leaves the rootfs" 'h:x=/etc/passwd'
bad_layer hardnone "entry 'x': hardlink target 'nothing' is not in the rootfs" 'h:x=nothing'
# A symlink to a host directory is the container's path: writing through it stays inside.
bad_layer through "entry 'lnk/pwned': cannot reach its directory" "l:lnk=$TEST_TMP/host" 'f:lnk/pwned=x'
[ ! -e "$TEST_TMP/host/pwned" ] || fail "a layer wrote through a symlink to the host"
find "$TEST_TMP" -name evil -not -path "*/blobs/*" | grep -q . && fail "an escaping entry was written: $(find "$TEST_TMP" -name evil)"

note "device nodes and setuid bits: refused unless allowed"
bad_layer dev "entry 'dev/null': device node \(character 1:3\) refused" 'c:dev/null=1,3'
bad_layer suid "entry 'bin/su': setuid bit \(mode 4755\) refused" 'f:bin/su:4755=x'
bad_layer sgid "entry 'bin/sg': setgid bit \(mode 2755\) refused" 'f:bin/sg:2755=x'
python3 "$MKTAR" "$TEST_TMP/allowed.tar" 'f:bin/su:4755=x'
d=$("$MKL" "$TEST_TMP/allowed" v1 '{"Cmd":["/x"]}' "$TEST_TMP/allowed.tar:gzip")
config "$TEST_TMP/allowed.json" "$(image app "$TEST_TMP/allowed" v1 "$d" '{"allow_setuid":true}')" '{"image":"app"}'
cvminit "$TEST_TMP/allowed.log" "$TEST_TMP/allowed.json"
[ "$RC" -eq 0 ] && [ "$(stat -c %a "$ROOTFS/bin/su")" = 4755 ] || fail "allow_setuid: exit $RC $ERR"
jq -e '.process.noNewPrivileges == false' "$TEST_TMP/crun.config.json" >/dev/null || fail "allow_setuid keeps noNewPrivileges"
# mknod needs CAP_MKNOD, which a container running this test may not have.
if [ "$ROOT" = 0 ] && mknod "$TEST_TMP/probe" c 1 3 2>/dev/null; then
	python3 "$MKTAR" "$TEST_TMP/devok.tar" 'c:dev/null=1,3'
	d=$("$MKL" "$TEST_TMP/devok" v1 '{"Cmd":["/x"]}' "$TEST_TMP/devok.tar:gzip")
	config "$TEST_TMP/devok.json" "$(image app "$TEST_TMP/devok" v1 "$d" '{"allow_devices":true}')" '{"image":"app"}'
	cvminit "$TEST_TMP/devok.log" "$TEST_TMP/devok.json"
	[ "$RC" -eq 0 ] && [ "$(stat -c '%F %t %T' "$ROOTFS/dev/null")" = "character special file 1 3" ] ||
		fail "allow_devices: exit $RC $ERR"
	jq -e '.process.capabilities.bounding | index("CAP_MKNOD")' "$TEST_TMP/crun.config.json" >/dev/null ||
		fail "allow_devices gives no CAP_MKNOD"
fi
echo ok
