#!/usr/bin/python3
"""Writes the record-format test vectors (records.json and the two test keys) from
docs/record-format.md, independently of the C++ code: the unit tests check that the
agent's encoder and signer reproduce them byte for byte. Run it again only when the
format changes; the keys are throwaway test keys, never used anywhere else."""
import base64, hashlib, json, pathlib
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

HERE = pathlib.Path(__file__).parent
FIELDS = ["v", "type", "site", "seq", "prev", "point", "value", "unit", "ts_ms", "time_source",
          "quality", "reason", "source", "recv_ms", "mono_ms", "clock", "boot_id", "config",
          "key_id", "alg"]


def json_string(s):
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical(rec):
    parts = []
    for k in FIELDS:
        v = rec[k]
        parts.append('"%s":%s' % (k, str(v) if isinstance(v, int) else json_string(v)))
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def key_id(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def pem_private(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


ed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ecdsa = ec.derive_private_key(0x1234567890ABCDEF, ec.SECP256R1())
(HERE / "ed25519-test.key").write_text(pem_private(ed))
(HERE / "ecdsa-p256-test.key").write_text(pem_private(ecdsa))

base = {"v": 1, "type": "reading", "site": "MN-PV-001", "seq": 1, "prev": "0" * 64,
        "point": "pv1.export_kwh", "value": "1234.567", "unit": "MWh", "ts_ms": 1767225600000,
        "time_source": "device", "quality": "good", "reason": "",
        "source": "modbus:gw1/unit3/holding/40001", "recv_ms": 1767225600012,
        "mono_ms": 86400123, "clock": "synchronised",
        "boot_id": "0f3c7a52-6a8e-4c52-9d0e-2a8f1c1c0b11", "config": "ab" * 32}
cases = [
    ("a good cumulative reading", {}),
    ("text that needs escaping", {"seq": 2, "point": "chiller/\"A\"\\1", "value": "-0.5e-3",
                                  "unit": "m\u00b3", "quality": "uncertain",
                                  "reason": "tab\there, newline\nthere \u00e9\u65e5",
                                  "time_source": "agent", "clock": "unsynchronised"}),
    ("a bad reading without a value", {"seq": 3, "value": "", "quality": "bad",
                                       "reason": "timeout after 3 retries"}),
]
vectors = []
for signer, alg in ((ed, "ed25519"), (ecdsa, "ecdsa-p256-sha256")):
    prev = "0" * 64
    for description, changes in cases:
        rec = dict(base, **changes, prev=prev, key_id=key_id(signer.public_key()), alg=alg)
        data = canonical(rec)
        if alg == "ed25519":
            sig = signer.sign(data)
        else:
            sig = signer.sign(data, ec.ECDSA(hashes.SHA256()))
        digest = hashlib.sha256(data).hexdigest()
        vectors.append({"description": description, "fields": rec,
                        "canonical": data.decode("utf-8"), "sha256": digest,
                        "signature_b64": base64.b64encode(sig).decode()})
        prev = digest
(HERE / "records.json").write_text(json.dumps(vectors, indent=2, ensure_ascii=False) + "\n")
print("wrote", len(vectors), "vectors")
