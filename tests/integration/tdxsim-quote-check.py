#!/usr/bin/env python3
# Independent reading of a TDX quote v4 (Intel TDX DCAP Quote Library API, appendix A) for
# test-tdxsim.sh: checks the layout and the QE report binding with struct and hashlib, prints the
# body's fields, and writes what openssl then verifies (signed part, DER signatures, the attestation
# key as PEM, the QE report, the certificates).
#   tdxsim-quote-check.py QUOTE OUTDIR   -> "FIELD HEX" lines on stdout; exit 1 with a message on error
import base64
import hashlib
import os
import struct
import sys

P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d03010703420004")
INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
BODY_FIELDS = [("tee_tcb_svn", 16), ("mrseam", 48), ("mrsignerseam", 48), ("seam_attributes", 8),
               ("td_attributes", 8), ("xfam", 8), ("mrtd", 48), ("mrconfigid", 48), ("mrowner", 48),
               ("mrownerconfig", 48), ("rtmr0", 48), ("rtmr1", 48), ("rtmr2", 48), ("rtmr3", 48),
               ("report_data", 64)]


def die(msg):
    print("quote-check: " + msg, file=sys.stderr)
    sys.exit(1)


def der_int(b):
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def der_sig(rs):
    body = der_int(rs[:32]) + der_int(rs[32:])
    return b"\x30" + bytes([len(body)]) + body


def pem(kind, der):
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (kind, "\n".join(lines), kind)


def main():
    q = open(sys.argv[1], "rb").read()
    out = sys.argv[2]
    if len(q) < 636:
        die("too short: %d bytes" % len(q))
    version, ak_type, tee_type = struct.unpack_from("<HHI", q, 0)
    if (version, ak_type, tee_type) != (4, 2, 0x81):
        die("header: version %d, key type %d, TEE type 0x%x" % (version, ak_type, tee_type))
    if q[12:28] != INTEL_QE_VENDOR_ID:
        die("QE vendor id " + q[12:28].hex())
    off = 48
    for name, size in BODY_FIELDS:
        print(name, q[off:off + size].hex())
        off += size
    assert off == 632
    (sig_len,) = struct.unpack_from("<I", q, 632)
    sd = q[636:]
    if sig_len != len(sd):
        die("signature data length %d, %d bytes follow" % (sig_len, len(sd)))
    sig, ak = sd[0:64], sd[64:128]
    cd_type, cd_size = struct.unpack_from("<HI", sd, 128)
    cd = sd[134:]
    if cd_type != 6 or cd_size != len(cd):
        die("certification data type %d size %d (%d bytes follow)" % (cd_type, cd_size, len(cd)))
    qe, qe_sig = cd[0:384], cd[384:448]
    (auth_len,) = struct.unpack_from("<H", cd, 448)
    auth = cd[450:450 + auth_len]
    p = 450 + auth_len
    chain_type, chain_size = struct.unpack_from("<HI", cd, p)
    chain = cd[p + 6:]
    if chain_type != 5 or chain_size != len(chain):
        die("inner certification data type %d size %d (%d bytes follow)" % (chain_type, chain_size, len(chain)))
    if qe[320:352] != hashlib.sha256(ak + auth).digest() or qe[352:384] != bytes(32):
        die("QE report data does not bind the attestation key")
    print("qe_mrsigner", qe[128:160].hex())
    print("qe_isvprodid", struct.unpack_from("<H", qe, 256)[0])
    files = {
        "signed.bin": q[:632], "sig.der": der_sig(sig), "qe.bin": qe, "qesig.der": der_sig(qe_sig),
        "ak.pem": pem("PUBLIC KEY", P256_SPKI_PREFIX + ak).encode(), "chain.pem": chain,
    }
    certs = chain.decode().split("-----END CERTIFICATE-----")
    certs = [c.strip() + "\n-----END CERTIFICATE-----\n" for c in certs if c.strip()]
    if len(certs) != 3:
        die("%d certificates in the chain, expected 3" % len(certs))
    files.update({"leaf.pem": certs[0].encode(), "intermediate.pem": certs[1].encode(), "root.pem": certs[2].encode()})
    for name, data in files.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


main()
