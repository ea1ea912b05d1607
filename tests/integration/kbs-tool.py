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
#   kbs-tool.py cc-eventlog CCEL CEL_LOG
#                                       TDX cc_eventlog: the firmware log CCEL up to its last event,
#                                       one EV_EVENT_TAG AAEL entry per record at CC MR index 4 with
#                                       its logged sha384 digest, FF x 8 (DESIGN §3) on stdout
#   kbs-tool.py attest-tdx NONCE JWK QUOTE CC_EVENTLOG
#                                       the attest request body with TDX evidence
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


def ccel_content(data):
    # The bytes of a TCG2 log's header and events (TCG PC Client FP §10.2): where the end marker
    # (FF x 8), the region's padding (all FF or all 00) or the data ends.
    size = struct.unpack_from("<I", data, 28)[0]
    spec = data[32:32 + size]
    sizes = {}
    for i in range(struct.unpack_from("<I", spec, 24)[0]):
        alg, sz = struct.unpack_from("<HH", spec, 28 + 4 * i)
        sizes[alg] = sz
    off = 32 + size
    while off < len(data):
        rest = data[off:]
        if rest.count(0xFF) == len(rest) or rest.count(0) == len(rest) or rest[:8] == b"\xff" * 8:
            break
        n = struct.unpack_from("<I", data, off + 8)[0]
        p = off + 12
        for _ in range(n):
            p += 2 + sizes[struct.unpack_from("<H", data, p)[0]]
        off = p + 4 + struct.unpack_from("<I", data, p)[0]
    return data[:off]


def cc_eventlog(ccel, path):
    out = ccel_content(open(ccel, "rb").read())
    for r in cel_records(path):
        c = r["content"]
        text = (c["domain"] + " " + c["operation"] + " " + jcs(c["content"])).encode()
        data = struct.pack("<II", AAEL, len(text)) + text
        assert r["mr"] == "rtmr3", "a TDX log's records are for rtmr3"
        (d,) = [d["digest"] for d in r["digests"] if d["hashAlg"] == "sha384"]
        out += struct.pack("<IIIH", 4, EV_EVENT_TAG, 1, ALG_IDS["sha384"][0]) + bytes.fromhex(d)
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


def attest_tdx(nonce, jwk, quote, eventlog):
    evidence = {"quote": b64file(quote), "cc_eventlog": b64file(eventlog)}
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
    elif cmd == "cc-eventlog" and len(argv) == 4:
        sys.stdout.buffer.write(cc_eventlog(argv[2], argv[3]))
    elif cmd == "attest-tdx" and len(argv) == 6:
        print(attest_tdx(argv[2], json.loads(argv[3]), *argv[4:]))
    elif cmd == "jwk-public" and len(argv) == 3:
        k = json.loads(argv[2])
        k.setdefault("alg", "ECDH-ES+A256KW" if k["kty"] == "EC" else "RSA-OAEP-256")
        names = ["kty", "crv", "alg", "x", "y"] if k["kty"] == "EC" else ["kty", "alg", "n", "e"]
        print(json.dumps({n: k[n] for n in names}, separators=(",", ":")))
    else:
        sys.exit(__doc__ or "usage: see the comment at the top of kbs-tool.py")


if __name__ == "__main__":
    main(sys.argv)
