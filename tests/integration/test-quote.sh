#!/bin/bash
# cvmtool quote show|verify on the three real Intel TDX quotes in tests/fixtures:
# - show: every field equals what an independent reader (python3, Intel's v4/v5 layout) extracts,
#   and the README's documented values;
# - the verification's meaning cross-checked with the openssl CLI: the quote signature over the
#   signed region by the attestation key, the QE report signature by the PCK leaf, the binding hash
#   (sha256sum), and the chain (openssl verify -attime);
# - verify: exit 0 with Intel's root inside the leaf's validity, 1 for a flipped byte, another
#   root, a time outside the validity, a wrong --report-data; 3 for malformed or oversized input
#   and unusable roots; 2 for usage errors.
set -euo pipefail
: "${CVMTOOL:?}" "${FIXTURES:?}"
tmp=$(mktemp -d /tmp/cvminit-test-quote.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

root=$FIXTURES/tdx/intel-sgx-root-ca.pem
spr=$FIXTURES/tdx/tdx_prod_quote_SPR_E4.dat
v5=$FIXTURES/tdx/quote_v5_sample.dat
gcp=$FIXTURES/ccel/gcp-cos113-cos-113-tdx-quote.dat
at=2027-01-01T00:00:00Z

# expect RC PATTERN CMD...: CMD exits with RC and its stdout or stderr contains PATTERN.
expect() {
	local want=$1 pattern=$2 rc=0
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -eq "$want" ] || { cat "$tmp/out" "$tmp/err" >&2; fail "$* exited $rc, expected $want"; }
	grep -qF -- "$pattern" "$tmp/out" "$tmp/err" || { cat "$tmp/out" "$tmp/err" >&2; fail "$*: output lacks '$pattern'"; }
}

# The independent reader: splits a quote into its parts by the published layout and writes the
# fields as JSON (compared with `show --json`) and the parts as files (for the openssl checks).
cat >"$tmp/reader.py" <<'EOF'
import json, struct, sys, os
data = open(sys.argv[1], 'rb').read()
out = sys.argv[2]
h = {}
h['version'], h['att_key_type'], h['tee_type'], h['qe_svn'], h['pce_svn'] = struct.unpack_from('<HHIHH', data, 0)
h['qe_vendor_id'] = data[12:28].hex()
h['user_data'] = data[28:48].hex()
off = 48
body_type = 2
if h['version'] == 5:
    body_type, size = struct.unpack_from('<HI', data, 48)
    off = 54
names = [('tee_tcb_svn', 16), ('mrseam', 48), ('mrsignerseam', 48), ('seam_attributes', 8),
         ('td_attributes', 8), ('xfam', 8), ('mrtd', 48), ('mrconfigid', 48), ('mrowner', 48),
         ('mrownerconfig', 48), ('rtmr0', 48), ('rtmr1', 48), ('rtmr2', 48), ('rtmr3', 48),
         ('report_data', 64)]
if body_type == 3:
    names += [('tee_tcb_svn2', 16), ('mrservicetd', 48)]
b = {'type': body_type}
for name, size in names:
    b[name] = data[off:off + size].hex()
    off += size
b['size'] = sum(s for _, s in names)
signed = data[:off]
(sig_len,) = struct.unpack_from('<I', data, off)
s = off + 4
sig, key = data[s:s + 64], data[s + 64:s + 128]
cert_type, cert_size = struct.unpack_from('<HI', data, s + 128)
c = s + 134
qe_report, qe_sig = data[c:c + 384], data[c + 384:c + 448]
(auth_len,) = struct.unpack_from('<H', data, c + 448)
auth = data[c + 450:c + 450 + auth_len]
p = c + 450 + auth_len
pck_type, pck_size = struct.unpack_from('<HI', data, p)
chain = data[p + 6:p + 6 + pck_size]
q = {'cpu_svn': qe_report[0:16].hex(), 'misc_select': struct.unpack_from('<I', qe_report, 16)[0],
     'attributes': qe_report[48:64].hex(), 'mrenclave': qe_report[64:96].hex(),
     'mrsigner': qe_report[128:160].hex(), 'isv_prod_id': struct.unpack_from('<H', qe_report, 256)[0],
     'isv_svn': struct.unpack_from('<H', qe_report, 258)[0], 'report_data': qe_report[320:384].hex(),
     'signature': qe_sig.hex(), 'auth_data': auth.hex()}
json.dump({'header': h, 'body': b, 'qe_report': q,
           'signature_data': {'size': sig_len, 'signature': sig.hex(), 'attestation_key': key.hex(),
                              'cert_data_type': cert_type, 'cert_data_size': cert_size},
           'pck_chain': {'type': pck_type, 'size': pck_size}, 'signed_size': len(signed), 'size': len(data)},
          open(out + '/fields.json', 'w'), sort_keys=True)
def der_int(v):
    v = v.lstrip(b'\0') or b'\0'
    if v[0] & 0x80:
        v = b'\0' + v
    return b'\x02' + bytes([len(v)]) + v
def der_sig(rs):
    body = der_int(rs[:32]) + der_int(rs[32:])
    return b'\x30' + bytes([len(body)]) + body
# SubjectPublicKeyInfo of an uncompressed P-256 point (RFC 5480).
spki_prefix = bytes.fromhex('3059301306072a8648ce3d020106082a8648ce3d030107034200')
for name, blob in [('signed.bin', signed), ('sig.der', der_sig(sig)), ('attkey.der', spki_prefix + b'\x04' + key),
                   ('qe_report.bin', qe_report), ('qe_sig.der', der_sig(qe_sig)), ('keyauth.bin', key + auth),
                   ('chain.pem', chain.rstrip(b'\0'))]:
    open(os.path.join(out, name), 'wb').write(blob)
print(q['report_data'][:64])
EOF

# Compares the reader's fields with show --json (only the fields the reader has).
cat >"$tmp/compare.py" <<'EOF'
import json, sys
want = json.load(open(sys.argv[1]))
got = json.load(open(sys.argv[2]))
def walk(w, g, path):
    for k, v in w.items():
        if k not in g:
            sys.exit('missing %s%s' % (path, k))
        if isinstance(v, dict):
            walk(v, g[k], path + k + '.')
        elif g[k] != v:
            sys.exit('%s%s: cvmtool %r, reader %r' % (path, k, g[k], v))
walk(want, got, '')
EOF

for q in "$spr" "$v5" "$gcp"; do
	name=$(basename "$q" .dat)
	mkdir -p "$tmp/$name"
	binding=$(python3 "$tmp/reader.py" "$q" "$tmp/$name")
	d=$tmp/$name
	"$CVMTOOL" quote show --json --allow-trailing "$q" >"$d/show.json"
	python3 "$tmp/compare.py" "$d/fields.json" "$d/show.json" || fail "$name: show --json differs from the reader"
	# The same facts through openssl: what verify claims to check does hold.
	openssl pkey -pubin -inform DER -in "$d/attkey.der" -out "$d/attkey.pem"
	openssl dgst -sha256 -verify "$d/attkey.pem" -signature "$d/sig.der" "$d/signed.bin" | grep -q 'Verified OK' ||
		fail "$name: openssl does not verify the quote signature"
	awk '/BEGIN/{n++} {print > ("'"$d"'/cert" n ".pem")}' "$d/chain.pem"
	openssl x509 -in "$d/cert1.pem" -pubkey -noout >"$d/leafkey.pem"
	openssl dgst -sha256 -verify "$d/leafkey.pem" -signature "$d/qe_sig.der" "$d/qe_report.bin" | grep -q 'Verified OK' ||
		fail "$name: openssl does not verify the QE report signature"
	[ "$(sha256sum <"$d/keyauth.bin" | cut -d' ' -f1)" = "$binding" ] || fail "$name: binding hash"
	openssl verify -attime 1798761600 -CAfile "$root" -untrusted "$d/cert2.pem" "$d/cert1.pem" >/dev/null ||
		fail "$name: openssl does not verify the PCK chain"
	expect 0 "verdict: the quote verifies." "$CVMTOOL" quote verify "$q" --root "$root" --at "$at" --allow-trailing
	for c in quote-signature qe-report-binding qe-report-signature pck-chain; do
		grep -qE "^$c +ok " "$tmp/out" || fail "$name: $c not ok: $(cat "$tmp/out")"
	done
	grep -qE '^report-data +skipped ' "$tmp/out" || fail "$name: report-data not skipped"
	grep -qF 'TCB status from Intel collateral (TCB info, QE identity, PCK CRLs) is NOT evaluated' "$tmp/out" ||
		fail "$name: no statement about TCB status"
	ok "$name: fields, openssl cross-checks, verify"
done

# Documented values (tests/fixtures/README.md, ../shared/testdata/README.md).
"$CVMTOOL" quote show --allow-trailing "$spr" >"$tmp/spr.txt"
grep -qE '^body\.mrtd +6363b804[0-9a-f]{81}7215cbb$' "$tmp/spr.txt" || fail "spr: MRTD"
grep -qE '^body\.rtmr0 +2927da70[0-9a-f]{80}6593f32a$' "$tmp/spr.txt" || fail "spr: RTMR0"
grep -qE '^body\.rtmr3 +0{96}$' "$tmp/spr.txt" || fail "spr: RTMR3"
grep -qE '^body\.report_data +6c62dec1[0-9a-f]{112}281f1113$' "$tmp/spr.txt" || fail "spr: REPORTDATA"
grep -qE '^header\.tee_type +0x00000081 \(TDX\)$' "$tmp/spr.txt" || fail "spr: tee_type"
grep -qE '^pck_chain\[0\]\.validity +2022-09-20T13:20:31Z to 2029-09-20T13:20:31Z$' "$tmp/spr.txt" || fail "spr: leaf validity"
grep -qE '^trailing +39 bytes \(NOT zero' "$tmp/spr.txt" || fail "spr: trailing"
"$CVMTOOL" quote show "$v5" >"$tmp/v5.txt"
grep -qE '^header\.version +5$' "$tmp/v5.txt" && grep -qE '^body\.type +3 \(TD report 1\.5\)$' "$tmp/v5.txt" &&
	grep -qE '^body\.mrservicetd +[0-9a-f]{96}$' "$tmp/v5.txt" || fail "v5: version, body type, mrservicetd"
"$CVMTOOL" quote show "$gcp" | grep -qE '^trailing +3065 bytes \(zero padding\)$' || fail "gcp: zero padding"
"$CVMTOOL" ccel replay "$FIXTURES/ccel/gcp-cos113-ccel_data.dat" >"$tmp/replay"
for i in 0 1 2; do
	v=$(jq -r ".body.rtmr$i" "$tmp/gcp-cos113-cos-113-tdx-quote/show.json" 2>/dev/null ||
		python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['body']['rtmr$i'])" \
			"$tmp/gcp-cos113-cos-113-tdx-quote/show.json")
	grep -qx "rtmr$i sha384 $v" "$tmp/replay" || fail "gcp: rtmr$i is not what its CCEL replays to"
done
ok "documented values"

# Trailing bytes that are not padding: refused unless allowed.
expect 3 "39 bytes follow the signature data at offset 4935" "$CVMTOOL" quote show "$spr"
expect 3 "39 bytes follow the signature data" "$CVMTOOL" quote verify "$spr" --root "$root" --at "$at"

# report_data: the GCP quote was made with the all-zero nonce file.
nonce=$(xxd -p "$FIXTURES/ccel/gcp-cos113-nonce.dat" | tr -d '\n')
expect 0 "report-data          ok" "$CVMTOOL" quote verify "$gcp" --root "$root" --at "$at" --report-data "$nonce"
expect 1 "report-data          FAILED" "$CVMTOOL" quote verify "$gcp" --root "$root" --at "$at" \
	--report-data "${nonce%??}01"
ok "report-data"

# One flipped byte: in the body (MRTD), in the quote signature, in the QE report.
flip() { # flip SRC OFFSET DST
	cp "$1" "$3"
	python3 -c "import sys; f=open(sys.argv[1],'r+b'); f.seek(int(sys.argv[2])); b=f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0]^1]))" "$3" "$2"
}
flip "$v5" 200 "$tmp/body.dat"
expect 1 "quote-signature      FAILED" "$CVMTOOL" quote verify "$tmp/body.dat" --root "$root" --at "$at"
grep -q "the quote does NOT verify (1 check failed)" "$tmp/out" || fail "flipped body: verdict"
flip "$v5" $((706 + 10)) "$tmp/sig.dat"
expect 1 "quote-signature      FAILED" "$CVMTOOL" quote verify "$tmp/sig.dat" --root "$root" --at "$at"
flip "$v5" $((706 + 134 + 100)) "$tmp/qe.dat"
expect 1 "qe-report-signature  FAILED" "$CVMTOOL" quote verify "$tmp/qe.dat" --root "$root" --at "$at"
ok "flipped bytes"

# Another root with Intel's root name, made by openssl: the chain does not verify.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/other.key" -out "$tmp/other.pem" \
	-days 3650 -subj "/C=US/ST=CA/L=Santa Clara/O=Intel Corporation/CN=Intel SGX Root CA" 2>/dev/null
expect 1 "pck-chain            FAILED" "$CVMTOOL" quote verify "$v5" --root "$tmp/other.pem" --at "$at"
grep -qE '^quote-signature +ok' "$tmp/out" || fail "other root: the signature should still be ok"
# Times outside the leaf's validity (2022-09-20 .. 2029-09-20).
expect 1 "certificate is not yet valid" "$CVMTOOL" quote verify "$gcp" --root "$root" --at 2022-01-01T00:00:00Z
expect 1 "certificate has expired" "$CVMTOOL" quote verify "$gcp" --root "$root" --at 2034-01-01T00:00:00Z
ok "other root, time outside validity"

# Malformed input: exit 3 with the field and offset.
head -c 703 "$v5" >"$tmp/short.dat"
expect 3 "signature_data.size: 4 bytes needed at offset 702" "$CVMTOOL" quote show "$tmp/short.dat"
: >"$tmp/empty.dat"
expect 3 "header.version: 2 bytes needed at offset 0" "$CVMTOOL" quote show "$tmp/empty.dat"
head -c 65537 /dev/zero >"$tmp/big.dat"
expect 3 "larger than the limit of 65536 bytes" "$CVMTOOL" quote verify "$tmp/big.dat" --root "$root"
expect 3 "Cannot read quote" "$CVMTOOL" quote show "$tmp/missing.dat"
printf 'not a certificate\n' >"$tmp/bad-root.pem"
expect 3 "Cannot use root" "$CVMTOOL" quote verify "$v5" --root "$tmp/bad-root.pem"
expect 3 "Cannot read root" "$CVMTOOL" quote verify "$v5" --root "$tmp/missing.pem"
ok "malformed input"

# Usage.
expect 2 "--root PEM is required" "$CVMTOOL" quote verify "$v5"
expect 2 "--at: expected RFC 3339" "$CVMTOOL" quote verify "$v5" --root "$root" --at 2027-01-01
expect 2 "--at: expected RFC 3339" "$CVMTOOL" quote verify "$v5" --root "$root" --at 2027-02-30T00:00:00Z
expect 2 "--report-data: expected 128 hex digits" "$CVMTOOL" quote verify "$v5" --root "$root" --report-data abcd
expect 2 "--json is only for 'show'" "$CVMTOOL" quote verify "$v5" --root "$root" --json
expect 2 "--root is only for 'verify'" "$CVMTOOL" quote show "$v5" --root "$root"
expect 2 "expected one FILE" "$CVMTOOL" quote show
expect 2 "unknown subcommand" "$CVMTOOL" quote check "$v5"
expect 0 "Usage: cvmtool quote verify" "$CVMTOOL" quote verify --help
expect 0 "Usage: cvmtool quote show" "$CVMTOOL" quote show --help
expect 0 "quote " "$CVMTOOL" --help
ok "usage"
