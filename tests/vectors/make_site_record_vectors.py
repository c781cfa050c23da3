#!/usr/bin/python3
"""Writes site_records.json: one site-record record of each kind (docs/record-format.md
§1.6), encoded and signed from the spec alone, independently of the C++ code. The unit
tests check that the agent's encoder, decoder and signer reproduce them byte for byte.
Uses the Ed25519 test key of make_vectors.py (deterministic signatures), and leaves
records.json alone: run it again only when the site-record format changes."""
import base64
import hashlib
import json
import pathlib

from cryptography.hazmat.primitives import serialization

HERE = pathlib.Path(__file__).parent
FIELDS = ["v", "type", "site", "seq", "prev", "point", "value", "unit", "ts_ms", "time_source",
          "quality", "reason", "source", "recv_ms", "mono_ms", "clock", "boot_id", "config",
          "key_id", "alg"]


def json_string(s):  # record-format §1.2
    return '"' + "".join("\\" + c if c in '"\\' else "\\u%04x" % ord(c) if ord(c) < 0x20 else c
                         for c in s) + '"'


def details(members):  # §1.6: sorted by key (byte order), strings only, no whitespace
    items = sorted(members.items(), key=lambda kv: kv[0].encode("utf-8"))
    return "{" + ",".join(json_string(k) + ":" + json_string(v) for k, v in items) + "}"


def canonical(rec):
    return ("{" + ",".join('"%s":%s' % (k, rec[k] if isinstance(rec[k], int) else json_string(rec[k]))
                           for k in FIELDS) + "}").encode("utf-8")


key = serialization.load_pem_private_key((HERE / "ed25519-test.key").read_bytes(), None)
key_id = hashlib.sha256(key.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
base = {"v": 1, "type": "site-record", "site": "MN-PV-001", "time_source": "operator",
        "quality": "good", "source": "operator:batbayar", "recv_ms": 1817870400123,
        "mono_ms": 86400123, "clock": "synchronised",
        "boot_id": "0f3c7a52-6a8e-4c52-9d0e-2a8f1c1c0b11", "config": "ab" * 32,
        "key_id": key_id, "alg": "ed25519"}
who = {"entered_by": "Батбаяр Д."}
cases = [
    ("a manual reading off the meter's display",
     {"point": "pv1.export_kwh", "value": "1234.5", "unit": "kWh", "ts_ms": 1817866800000},
     {"kind": "manual-reading", "id": "0123456789abcdef0123456789abcdef", **who,
      "meter_serial": "EXP-0001", "photo_sha256": "11" * 32, "comment": "read at the \"main\" panel"}),
    ("a meter exchange",
     {"point": "pv1.export_kwh", "value": "", "unit": "kWh", "ts_ms": 1817870400000},
     {"kind": "meter-exchange", "id": "1123456789abcdef0123456789abcdef", **who,
      "old_serial": "EXP-0001", "old_final": "1250.25", "new_serial": "EXP-0002",
      "new_initial": "0.0"}),
    ("a calibration that passed",
     {"point": "pv1.export_kwh", "value": "-0.3", "unit": "%", "ts_ms": 1817856000000},
     {"kind": "calibration", "id": "2123456789abcdef0123456789abcdef", **who,
      "meter_serial": "EXP-0002", "laboratory": "MASM calibration laboratory",
      "certificate": "CAL-2027-0815", "certificate_sha256": "22" * 32, "result": "pass",
      "valid_until": "2029-08-10T16:00:00Z"}),
    ("a sales statement for July",
     {"point": "", "value": "48211.5", "unit": "kWh", "ts_ms": 1814371200000},
     {"kind": "document", "id": "3123456789abcdef0123456789abcdef", **who,
      "document_type": "sales-statement", "number": "NPTG-2027-07-118",
      "issuer": "National Power Transmission Grid", "period_to": "2027-07-31T16:00:00Z",
      "file_sha256": "33" * 32, "file_name": "statement-2027-07.pdf", "parameter": "EG_p"}),
    ("a note on an outage, two lines",
     {"point": "pv1.export_kwh", "value": "", "unit": "", "ts_ms": 1817877600000},
     {"kind": "note", "id": "4123456789abcdef0123456789abcdef", **who,
      "text": "Inverter 2 tripped in a storm.\nReset at 14:20 by the site engineer.",
      "to": "2027-08-10T06:20:00Z"}),
]
vectors = []
prev = "0" * 64
for seq, (description, fields, members) in enumerate(cases, start=1):
    rec = dict(base, **fields, seq=seq, prev=prev, reason=details(members))
    rec = {k: rec[k] for k in FIELDS}
    data = canonical(rec)
    digest = hashlib.sha256(data).hexdigest()
    vectors.append({"description": description, "fields": rec, "details": members,
                    "canonical": data.decode("utf-8"), "sha256": digest,
                    "signature_b64": base64.b64encode(key.sign(data)).decode()})
    prev = digest
(HERE / "site_records.json").write_text(json.dumps(vectors, indent=2, ensure_ascii=False) + "\n")
print("wrote", len(vectors), "vectors")
