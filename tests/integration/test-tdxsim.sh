#!/bin/bash
# cvm-tdxsim (docs/tdxsim.md) against independent computations: RTMR extends checked with python's
# hashlib, the kernel's error cases by errno, configfs-tsm generation and caching, the quote's
# layout read with python's struct, its signatures and PCK chain verified with openssl, the CCEL
# replayed by a small python reader and by cvmtool; then SIGTERM, a restart on the same keys, bad
# command lines, and (as root, where fusermount3 allows) a mount by an unprivileged user.
source "$(dirname "$0")/lib-swtpm.sh"
source "$(dirname "$0")/lib-tdxsim.sh"
: "${CVMTOOL:?}" "${TOP:?}"
command -v python3 >/dev/null || fail "python3 is missing"

keys=$TEST_TMP/keys
checker=$TOP/tests/integration/tdxsim-quote-check.py

hex() { xxd -p "$1" | tr -d '\n'; }
# extend OLD_HEX DATA_HEX: SHA-384(old || data), computed by python
extend() { python3 -c 'import hashlib,sys; print(hashlib.sha384(bytes.fromhex(sys.argv[1] + sys.argv[2])).hexdigest())' "$1" "$2"; }
sha384_hex() { python3 -c 'import hashlib,sys; print(hashlib.sha384(sys.argv[1].encode()).hexdigest())' "$1"; }
# pywrite PATH HEX OFFSET [OPEN_FLAGS]: one open + pwrite + close; prints "ok N" or the errno's name
pywrite() {
	python3 - "$@" <<'EOF'
import errno, os, sys
path, data, off = sys.argv[1], bytes.fromhex(sys.argv[2]), int(sys.argv[3])
try:
    fd = os.open(path, os.O_WRONLY)
except OSError as e:
    print("open " + errno.errorcode[e.errno]); sys.exit(0)
try:
    print("ok %d" % os.pwrite(fd, data, off))
except OSError as e:
    print(errno.errorcode[e.errno])
os.close(fd)
EOF
}
# pyread PATH: prints "ok N" or the errno's name
pyread() {
	python3 -c 'import errno,sys
try: print("ok %d" % len(open(sys.argv[1], "rb").read()))
except OSError as e: print(errno.errorcode[e.errno])' "$1"
}
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"; }
zero48=$(printf '0%.0s' {1..96})

note "start with a new key directory"
tdxsim_start "$keys"
for f in root.pem root.key intermediate.pem intermediate.key pck.pem pck.key attestation.key chain.pem; do
	[ -s "$keys/$f" ] || fail "the key directory lacks $f"
done
[ "$(stat -c %a "$keys/root.key")" = 600 ] || fail "root.key is not 0600"
root_sum=$(sha256sum <"$keys/root.pem")

note "sysfs measurements"
[ "$(readlink "$TDXSIM_MNT/sys/class/misc/tdx_guest")" = ../../devices/virtual/misc/tdx_guest ] ||
	fail "sys/class/misc/tdx_guest is not the kernel's symlink"
expect_eq "ls measurements" "$(ls "$TDXSIM_MEAS" | tr '\n' ' ')" \
	"mrconfigid mrowner mrownerconfig mrtd:sha384 rtmr0:sha384 rtmr1:sha384 rtmr2:sha384 rtmr3:sha384 "
expect_eq "rtmr3 mode" "$(stat -c %a "$TDXSIM_MEAS/rtmr3:sha384")" 644
expect_eq "mrtd mode" "$(stat -c %a "$TDXSIM_MEAS/mrtd:sha384")" 444
expect_eq "default MRTD" "$(hex "$TDXSIM_MEAS/mrtd:sha384")" "$(sha384_hex "cvm-tdxsim MRTD")"
expect_eq "initial RTMR3" "$(hex "$TDXSIM_MEAS/rtmr3:sha384")" "$zero48"
expect_eq "mrconfigid" "$(hex "$TDXSIM_MEAS/mrconfigid")" "$zero48"

note "extend RTMR3 with dd, twice"
head -c 48 /dev/urandom >"$TEST_TMP/d1"
dd if="$TEST_TMP/d1" of="$TDXSIM_MEAS/rtmr3:sha384" bs=48 status=none || fail "dd: 48-byte extend failed"
want=$(extend "$zero48" "$(hex "$TEST_TMP/d1")")
expect_eq "RTMR3 after one extend" "$(hex "$TDXSIM_MEAS/rtmr3:sha384")" "$want"
d2=$(head -c 48 /dev/urandom | xxd -p | tr -d '\n')
expect_eq "second extend" "$(pywrite "$TDXSIM_MEAS/rtmr3:sha384" "$d2" 0)" "ok 48"
want=$(extend "$want" "$d2")
expect_eq "RTMR3 after two extends" "$(hex "$TDXSIM_MEAS/rtmr3:sha384")" "$want"
expect_eq "read at offset 40" "$(tail -c +41 "$TDXSIM_MEAS/rtmr3:sha384" | xxd -p | tr -d '\n')" "${want:80}"

note "writes the kernel refuses"
d47=$(head -c 47 /dev/urandom | xxd -p | tr -d '\n')
expect_eq "47-byte write" "$(pywrite "$TDXSIM_MEAS/rtmr3:sha384" "$d47" 0)" EINVAL
expect_eq "48 bytes at offset 1" "$(pywrite "$TDXSIM_MEAS/rtmr3:sha384" "$d2" 1)" EINVAL
expect_eq "48 bytes at offset 48" "$(pywrite "$TDXSIM_MEAS/rtmr3:sha384" "$d2" 48)" EFBIG
expect_eq "write to MRTD" "$(pywrite "$TDXSIM_MEAS/mrtd:sha384" "$d2" 0)" "open EACCES"
expect_eq "write to mrowner" "$(pywrite "$TDXSIM_MEAS/mrowner" "$d2" 0)" "open EACCES"
expect_eq "RTMR3 unchanged by refused writes" "$(hex "$TDXSIM_MEAS/rtmr3:sha384")" "$want"
# sysfs clamps a longer write to the attribute's 48 bytes: the first 48 extend, write returns 48
d64=$(head -c 64 /dev/urandom | xxd -p | tr -d '\n')
expect_eq "64-byte write" "$(pywrite "$TDXSIM_MEAS/rtmr3:sha384" "$d64" 0)" "ok 48"
want=$(extend "$want" "${d64:0:96}")
expect_eq "RTMR3 after a 64-byte write" "$(hex "$TDXSIM_MEAS/rtmr3:sha384")" "$want"
touch "$TDXSIM_MEAS/new" 2>/dev/null && fail "a file could be created in measurements/"
rtmr3=$want

note "the firmware CCEL replays to RTMR0-2"
python3 - "$TDXSIM_CCEL" "$TDXSIM_CCEL_TABLE" >"$TEST_TMP/pyreplay" <<'EOF' || fail "python CCEL reader: $(cat "$TEST_TMP/pyreplay")"
import hashlib, os, struct, sys
log = open(sys.argv[1], "rb").read()
table = open(sys.argv[2], "rb").read()
assert table[:4] == b"CCEL" and len(table) == 56 and sum(table) % 256 == 0, "ACPI table"
assert table[36] == 2 and struct.unpack_from("<Q", table, 40)[0] == len(log), "CC type / LAML"
# TCG_PCR_EVENT header (SHA-1 format) carrying "Spec ID Event03", then TCG_PCR_EVENT2 entries
idx, typ = struct.unpack_from("<II", log, 0)
size = struct.unpack_from("<I", log, 28)[0]
assert typ == 3 and log[32:48] == b"Spec ID Event03\0", "Spec ID header"
off, mr, n = 32 + size, [bytes(48)] * 4, 0
while off + 8 <= len(log) and log[off:off + 8] != b"\xff" * 8:
    idx, typ, count = struct.unpack_from("<III", log, off)
    off += 12
    d = None
    for _ in range(count):
        alg = struct.unpack_from("<H", log, off)[0]
        assert alg == 0x000C, "only SHA-384 expected"
        d = log[off + 2:off + 50]
        off += 50
    size = struct.unpack_from("<I", log, off)[0]
    off += 4 + size
    if typ != 3:
        assert 1 <= idx <= 4, "index %d" % idx
        mr[idx - 1] = hashlib.sha384(mr[idx - 1] + d).digest()
        n += 1
assert n >= 3, "only %d events" % n
assert all(b == 0xff for b in log[off:]), "padding"
for i in range(3):
    print("rtmr%d sha384 %s" % (i, mr[i].hex()))
EOF
"$CVMTOOL" ccel replay "$TDXSIM_CCEL" >"$TEST_TMP/replay" || fail "cvmtool ccel replay failed"
for i in 0 1 2; do
	line="rtmr$i sha384 $(hex "$TDXSIM_MEAS/rtmr$i:sha384")"
	grep -qx "$line" "$TEST_TMP/pyreplay" || fail "python replay of RTMR$i differs: $(cat "$TEST_TMP/pyreplay")"
	grep -qx "$line" "$TEST_TMP/replay" || fail "cvmtool ccel replay of RTMR$i differs: $(cat "$TEST_TMP/replay")"
	[ "$(hex "$TDXSIM_MEAS/rtmr$i:sha384")" != "$zero48" ] || fail "RTMR$i is zero"
done
expect_eq "ACPI table mode" "$(stat -c %a "$TDXSIM_CCEL_TABLE")" 400

note "configfs-tsm report entry"
r=$TDXSIM_REPORTS/r1
mkdir "$r" || fail "mkdir of a report entry failed"
expect_eq "entry attributes" "$(ls "$r" | tr '\n' ' ')" "generation inblob outblob provider "
expect_eq provider "$(cat "$r/provider")" tdx_guest
expect_eq "first generation" "$(cat "$r/generation")" 0
expect_eq "outblob before inblob" "$(pyread "$r/outblob")" EINVAL
expect_eq "reading inblob" "$(pyread "$r/inblob")" EACCES
expect_eq "writing outblob" "$(pywrite "$r/outblob" 00 0)" "open EACCES"
mkdir "$r/sub" 2>/dev/null && fail "mkdir inside a report entry succeeded"
head -c 64 /dev/urandom >"$TEST_TMP/nonce"
dd if="$TEST_TMP/nonce" of="$r/inblob" bs=64 status=none || fail "dd: inblob write failed"
expect_eq "generation after a write" "$(cat "$r/generation")" 1
cat "$r/outblob" >"$TEST_TMP/quote" || fail "reading outblob failed"
cat "$r/outblob" | cmp -s - "$TEST_TMP/quote" || fail "outblob changed without a write (not cached)"
expect_eq "generation after reads" "$(cat "$r/generation")" 1

note "the quote, read independently"
mkdir "$TEST_TMP/q"
python3 "$checker" "$TEST_TMP/quote" "$TEST_TMP/q" >"$TEST_TMP/fields" || fail "quote check failed"
field() { awk -v f="$1" '$1 == f { print $2 }' "$TEST_TMP/fields"; }
expect_eq "report_data" "$(field report_data)" "$(hex "$TEST_TMP/nonce")"
expect_eq "quote RTMR3" "$(field rtmr3)" "$rtmr3"
for i in 0 1 2; do expect_eq "quote RTMR$i" "$(field rtmr$i)" "$(hex "$TDXSIM_MEAS/rtmr$i:sha384")"; done
expect_eq "quote MRTD" "$(field mrtd)" "$(hex "$TDXSIM_MEAS/mrtd:sha384")"
expect_eq "td_attributes" "$(field td_attributes)" 0000004000000000
cd "$TEST_TMP/q"
openssl dgst -sha256 -verify ak.pem -signature sig.der signed.bin >/dev/null ||
	fail "the quote's signature does not verify with its attestation key"
openssl x509 -in leaf.pem -pubkey -noout >pck.pub
openssl dgst -sha256 -verify pck.pub -signature qesig.der qe.bin >/dev/null ||
	fail "the QE report's signature does not verify with the PCK leaf's key"
openssl verify -CAfile "$keys/root.pem" -untrusted intermediate.pem leaf.pem >/dev/null ||
	fail "the PCK chain does not verify to $keys/root.pem"
cmp -s root.pem "$keys/root.pem" || fail "the chain's root is not $keys/root.pem"
openssl x509 -in leaf.pem -noout -text | grep -q '1.2.840.113741.1.13.1:' || fail "no SGX extension in the PCK leaf"
# Flip one byte of the signed part (the report data): the signature must fail.
cp signed.bin bad.bin
printf '\x5a' | dd of=bad.bin bs=1 seek=600 conv=notrunc status=none
cmp -s bad.bin signed.bin && printf '\xa5' | dd of=bad.bin bs=1 seek=600 conv=notrunc status=none
openssl dgst -sha256 -verify ak.pem -signature sig.der bad.bin >/dev/null 2>&1 &&
	fail "the signature verified over a modified quote"
intel_root=$FIXTURES/tdx/intel-sgx-root-ca.pem
[ -f "$intel_root" ] || fail "$intel_root is missing"
openssl verify -CAfile "$intel_root" -untrusted intermediate.pem leaf.pem >/dev/null 2>&1 &&
	fail "the test chain verified to Intel's root"
cd - >/dev/null

note "generation, caching and inblob sizes"
head -c 64 /dev/urandom >"$TEST_TMP/nonce2"
cp "$TEST_TMP/nonce2" "$r/inblob"
expect_eq "generation after the second write" "$(cat "$r/generation")" 2
cat "$r/outblob" >"$TEST_TMP/quote2"
python3 "$checker" "$TEST_TMP/quote2" "$TEST_TMP/q" >"$TEST_TMP/fields" || fail "second quote check failed"
expect_eq "second report_data" "$(field report_data)" "$(hex "$TEST_TMP/nonce2")"
# The kernel regenerates only after a write: an extend alone leaves the cached quote.
pywrite "$TDXSIM_MEAS/rtmr3:sha384" "$d2" 0 >/dev/null
cat "$r/outblob" | cmp -s - "$TEST_TMP/quote2" || fail "outblob regenerated without an inblob write"
head -c 32 /dev/urandom >"$r/inblob"
expect_eq "generation after a 32-byte write" "$(cat "$r/generation")" 3
expect_eq "outblob after a 32-byte inblob" "$(pyread "$r/outblob")" EINVAL
expect_eq "65-byte inblob" "$(pywrite "$r/inblob" "$d64"00 0)" EFBIG
expect_eq "generation after a refused write (configfs commits at close)" "$(cat "$r/generation")" 4
expect_eq "65th byte" "$(pywrite "$r/inblob" 00 64)" EFBIG
cp "$TEST_TMP/nonce" "$r/inblob"
cat "$r/outblob" >"$TEST_TMP/quote3"
python3 "$checker" "$TEST_TMP/quote3" "$TEST_TMP/q" >"$TEST_TMP/fields" || fail "third quote check failed"
expect_eq "third quote RTMR3" "$(field rtmr3)" "$(hex "$TDXSIM_MEAS/rtmr3:sha384")"
mkdir "$TDXSIM_REPORTS/r2" || fail "second entry"
expect_eq "entries" "$(ls "$TDXSIM_REPORTS" | tr '\n' ' ')" "r1 r2 "
rmdir "$r" || fail "rmdir of an entry failed"
[ -e "$r" ] && fail "the entry is still there after rmdir"
rmdir "$TDXSIM_REPORTS" 2>/dev/null && fail "rmdir of report/ succeeded"

note "SIGTERM unmounts; a restart reuses the keys"
tdxsim_stop
mrtd=$(head -c 48 /dev/urandom | xxd -p | tr -d '\n')
tdxsim_start "$keys" --mrtd "$mrtd"
expect_eq "root.pem after a restart" "$(sha256sum <"$keys/root.pem")" "$root_sum"
expect_eq "MRTD from --mrtd" "$(hex "$TDXSIM_MEAS/mrtd:sha384")" "$mrtd"
expect_eq "RTMR3 after a restart" "$(hex "$TDXSIM_MEAS/rtmr3:sha384")" "$zero48"
mkdir "$TDXSIM_REPORTS/x"
cp "$TEST_TMP/nonce" "$TDXSIM_REPORTS/x/inblob"
cat "$TDXSIM_REPORTS/x/outblob" >"$TEST_TMP/quote4"
python3 "$checker" "$TEST_TMP/quote4" "$TEST_TMP/q" >"$TEST_TMP/fields" || fail "fourth quote check failed"
expect_eq "quote MRTD from --mrtd" "$(field mrtd)" "$mrtd"
(cd "$TEST_TMP/q" && openssl verify -CAfile "$keys/root.pem" -untrusted intermediate.pem leaf.pem >/dev/null) ||
	fail "after a restart the chain does not verify to the same root"
fusermount3 -u "$TDXSIM_MNT" || fail "fusermount3 -u failed"
wait "$TDXSIM_PID" || fail "cvm-tdxsim exited $? after fusermount3 -u"
tdxsim_check_log

note "bad command lines and key directories"
mkdir "$TEST_TMP/m"
expect 2 "$CVM_TDXSIM" --keys "$keys" --mrtd abc "$TEST_TMP/m"
expect 2 "$CVM_TDXSIM" "$TEST_TMP/m"
mkdir "$TEST_TMP/partial" && cp "$keys/root.pem" "$keys/root.key" "$TEST_TMP/partial/"
expect 3 "$CVM_TDXSIM" --keys "$TEST_TMP/partial" "$TEST_TMP/m"
expect_in "partial key directory" "$ERR" incomplete
cp -r "$keys" "$TEST_TMP/swapped" && cp "$keys/root.key" "$TEST_TMP/swapped/pck.key"
expect 3 "$CVM_TDXSIM" --keys "$TEST_TMP/swapped" "$TEST_TMP/m"
head -c 2000 "$FIXTURES/ccel/gcp-cos113-ccel_data.dat" >"$TEST_TMP/cut.ccel"
expect 3 "$CVM_TDXSIM" --keys "$keys" --ccel "$TEST_TMP/cut.ccel" "$TEST_TMP/m"
tdxsim_mounted "$TEST_TMP/m" && fail "a failed start left a mount"

note "a production CCEL with --ccel"
tdxsim_start "$keys" --ccel "$FIXTURES/ccel/gcp-cos113-ccel_data.dat"
quote=$FIXTURES/ccel/gcp-cos113-cos-113-tdx-quote.dat
for i in 0 1 2; do
	expect_eq "RTMR$i from the GCP log" "$(hex "$TDXSIM_MEAS/rtmr$i:sha384")" \
		"$(xxd -s $((376 + 48 * i)) -l 48 -p "$quote" | tr -d '\n')"
done
cmp -s "$TDXSIM_CCEL" "$FIXTURES/ccel/gcp-cos113-ccel_data.dat" || fail "--ccel is not served as given"
tdxsim_stop

note "an unprivileged user"
if [ "$(id -u)" -eq 0 ] && [ -u "$(command -v fusermount3)" ] && command -v setpriv >/dev/null &&
	[ -r /dev/fuse ] && [ -w /dev/fuse ] && [ "$(stat -c %a /dev/fuse)" = 666 ]; then
	u=$TEST_TMP/user
	mkdir -p "$u/mnt" "$u/keys"
	chmod 755 "$TEST_TMP"
	chown -R 65534:65534 "$u"
	asuser() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	asuser "$CVM_TDXSIM" --keys "$u/keys" "$u/mnt" 2>"$u/log" || fail "as nobody: $(cat "$u/log")"
	at_exit "fusermount3 -u -z '$u/mnt' 2>/dev/null"
	tdxsim_mounted "$u/mnt" || fail "as nobody: not mounted after cvm-tdxsim returned"
	meas=$u/mnt/sys/class/misc/tdx_guest/measurements
	asuser dd if="$TEST_TMP/d1" of="$meas/rtmr3:sha384" bs=48 status=none || fail "as nobody: extend failed"
	expect_eq "RTMR3 as nobody" "$(asuser cat "$meas/rtmr3:sha384" | xxd -p | tr -d '\n')" \
		"$(extend "$zero48" "$(hex "$TEST_TMP/d1")")"
	asuser fusermount3 -u "$u/mnt" || fail "as nobody: fusermount3 -u failed"
	for ((i = 0; i < 50; i++)); do pgrep -u 65534 -f "cvm-tdxsim --keys $u/keys" >/dev/null || break; sleep 0.1; done
	pgrep -u 65534 -f "cvm-tdxsim --keys $u/keys" >/dev/null && fail "as nobody: still running after the unmount"
else
	note "not root, or fusermount3 cannot mount for other users here: unprivileged mount not tested"
fi
echo "PASS"
