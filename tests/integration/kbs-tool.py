#!/usr/bin/env python3
# Test helper for the broker tests: an independent (Python standard library only) rendering of what a
# KBS client sends (DESIGN §3, §4), so the tests do not check our C code against itself.
#
#   kbs-tool.py tcg2 CEL_LOG            TCG2 crypto-agile log (Spec ID header, one EV_EVENT_TAG AAEL
#                                       entry per record with its logged digests, FF x 8) on stdout
#   kbs-tool.py report-data NONCE JWK   hex SHA-384 of JCS({"additional-evidence":"","nonce":..,"tee-pubkey":..})
#   kbs-tool.py attest NONCE JWK AK_DER MESSAGE SIGNATURE PCRS EVENTLOG
#                                       the attest request body (PCRS: 24 x 32 bytes, binary)
#   kbs-tool.py jwk-public JWK          the public members of a JWK, as the client sends them (alg
#                                       ECDH-ES+A256KW or RSA-OAEP-256 added if missing)
import base64
import hashlib
import json
import struct
import sys

ALG_IDS = {"sha1": (0x0004, 20), "sha256": (0x000B, 32), "sha384": (0x000C, 48), "sha512": (0x000D, 64)}
EV_NO_ACTION, EV_EVENT_TAG, AAEL = 3, 6, 0x4141454C


def jcs(v):
    # RFC 8785 for the values used here (ASCII strings, integers, objects, arrays).
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def cel_records(path):
    data = open(path, "rb").read().split(b"\x1e")
    return [json.loads(r) for r in data if r.strip()]


def spec_id(banks):
    body = b"Spec ID Event03\0" + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, len(banks))
    for b in banks:
        body += struct.pack("<HH", *ALG_IDS[b])
    body += b"\0"
    return struct.pack("<II", 0, EV_NO_ACTION) + bytes(20) + struct.pack("<I", len(body)) + body


def tcg2(path):
    recs = cel_records(path)
    banks = [d["hashAlg"] for d in recs[0]["digests"]] if recs else ["sha256"]
    out = spec_id(banks)
    for r in recs:
        c = r["content"]
        text = (c["domain"] + " " + c["operation"] + " " + jcs(c["content"])).encode()
        data = struct.pack("<II", AAEL, len(text)) + text
        pcr = int(r["mr"][3:])
        out += struct.pack("<III", pcr, EV_EVENT_TAG, len(r["digests"]))
        for d in r["digests"]:
            out += struct.pack("<H", ALG_IDS[d["hashAlg"]][0]) + bytes.fromhex(d["digest"])
        out += struct.pack("<I", len(data)) + data
    return out + b"\xff" * 8


def report_data(nonce, jwk):
    return hashlib.sha384(jcs({"additional-evidence": "", "nonce": nonce, "tee-pubkey": jwk}).encode()).hexdigest()


def b64file(path):
    return base64.b64encode(open(path, "rb").read()).decode()


def attest(nonce, jwk, ak, msg, sig, pcrs, eventlog):
    raw = open(pcrs, "rb").read()
    assert len(raw) == 24 * 32, "PCRS must be 24 SHA-256 values"
    evidence = {
        "ak_public": b64file(ak),
        "tpm_quote": {"message": b64file(msg), "signature": b64file(sig),
                      "pcrs": [raw[i * 32:(i + 1) * 32].hex() for i in range(24)]},
        "eventlog": b64file(eventlog),
    }
    return json.dumps({"runtime-data": {"nonce": nonce, "tee-pubkey": jwk},
                       "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""}})


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "tcg2" and len(argv) == 3:
        sys.stdout.buffer.write(tcg2(argv[2]))
    elif cmd == "report-data" and len(argv) == 4:
        print(report_data(argv[2], json.loads(argv[3])))
    elif cmd == "attest" and len(argv) == 9:
        print(attest(argv[2], json.loads(argv[3]), *argv[4:]))
    elif cmd == "jwk-public" and len(argv) == 3:
        k = json.loads(argv[2])
        k.setdefault("alg", "ECDH-ES+A256KW" if k["kty"] == "EC" else "RSA-OAEP-256")
        names = ["kty", "crv", "alg", "x", "y"] if k["kty"] == "EC" else ["kty", "alg", "n", "e"]
        print(json.dumps({n: k[n] for n in names}, separators=(",", ":")))
    else:
        sys.exit(__doc__ or "usage: see the comment at the top of kbs-tool.py")


if __name__ == "__main__":
    main(sys.argv)
