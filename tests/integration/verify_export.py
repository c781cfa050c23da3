#!/usr/bin/env python3
"""Independent verifier for mrv-agent NDJSON exports, written from docs/record-format.md only.

Usage: verify_export.py EXPORT.ndjson --public-key PUB.pem [--public-key ...] [--expect-records N]
Exit:  0 verified, 2 verified but with declared chain breaks (chain-segment records), 1 failure.
Needs only the Python standard library and `cryptography` (Debian python3-cryptography 38 is fine).
"""
import argparse
import base64
import binascii
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

# The 20 record fields in canonical order (spec 1.1); True = integer, False = string.
FIELDS = [("v", True), ("type", False), ("site", False), ("seq", True), ("prev", False),
          ("point", False), ("value", False), ("unit", False), ("ts_ms", True),
          ("time_source", False), ("quality", False), ("reason", False), ("source", False),
          ("recv_ms", True), ("mono_ms", True), ("clock", False), ("boot_id", False),
          ("config", False), ("key_id", False), ("alg", False)]
CHOICES = {"type": {"reading", "chain-segment"}, "time_source": {"device", "agent"},
           "quality": {"good", "uncertain", "bad", "substitute"},
           "clock": {"synchronised", "unsynchronised"}, "alg": {"ed25519", "ecdsa-p256-sha256"}}
HEX64 = re.compile(r"[0-9a-f]{64}")
DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
GENESIS = "0" * 64


class Failure(Exception):
    pass


def json_string(text):  # spec 1.2: escape " and \, bytes below 0x20 as \u00xx, rest literal
    out = []
    for ch in text:
        out.append("\\" + ch if ch in '"\\' else "\\u%04x" % ord(ch) if ord(ch) < 0x20 else ch)
    return '"' + "".join(out) + '"'


def check_canonical(rec, data):  # spec 4.1 check 4
    for name, is_int in FIELDS:
        if name not in rec:
            raise Failure("record has no '%s' field" % name)
        val = rec[name]
        if is_int and not (type(val) is int and -2**63 <= val < 2**63):
            raise Failure("record field '%s' is not a 64-bit integer" % name)
        if not is_int and type(val) is not str:
            raise Failure("record field '%s' is not a string" % name)
        if name in CHOICES and val not in CHOICES[name]:
            raise Failure("record field '%s' has unknown value %r" % (name, val))
    if rec["v"] != 1 or rec["seq"] < 1:
        raise Failure("record has v %d, seq %d (expected v 1, seq >= 1)" % (rec["v"], rec["seq"]))
    if not HEX64.fullmatch(rec["prev"]):
        raise Failure("prev is not 64 lowercase hex digits")
    if rec["value"] and not (len(rec["value"]) <= 64 and DECIMAL.fullmatch(rec["value"])):
        raise Failure("value %r is not decimal text" % rec["value"])
    if rec["type"] == "reading" and not rec["point"]:
        raise Failure("reading record with an empty point")
    if rec["type"] == "chain-segment" and (rec["point"], rec["value"], rec["unit"], rec["quality"],
                                           rec["source"]) != ("", "", "", "bad", "agent"):
        raise Failure("chain-segment record with reading content")
    try:
        again = ("{" + ",".join('"%s":%s' % (n, rec[n] if i else json_string(rec[n]))
                                for n, i in FIELDS) + "}").encode("utf-8")
    except UnicodeEncodeError:
        raise Failure("record text is not valid UTF-8")
    if again != data:
        raise Failure("record bytes are not canonical (re-encoding differs)")


def load_key(path):
    with open(path, "rb") as fh:
        key = serialization.load_pem_public_key(fh.read())
    if isinstance(key, ed25519.Ed25519PublicKey):
        alg = "ed25519"
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        alg = "ecdsa-p256-sha256"
    else:
        raise ValueError("%s: not an Ed25519 or EC P-256 public key" % path)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest(), (key, alg)


def parse_line(text):  # spec 4.1 check 1
    try:
        line = json.loads(text)
    except ValueError:
        raise Failure("line is not JSON")
    if not (isinstance(line, dict) and type(line.get("seq")) is int and line["seq"] >= 0
            and all(type(line.get(k)) is str for k in ("record", "hash", "signature"))):
        raise Failure("not a record line (seq, record, hash, signature)")
    return line


def check_record(line, keys):  # spec 4.1 checks 2-5; returns (record fields, record hash)
    try:
        data = line["record"].encode("utf-8")
    except UnicodeEncodeError:
        raise Failure("record text is not valid UTF-8")
    digest = hashlib.sha256(data).hexdigest()
    if digest != line["hash"]:
        raise Failure("hash does not match the record bytes")
    try:
        rec = json.loads(data)
    except ValueError:
        raise Failure("record bytes are not JSON")
    if not isinstance(rec, dict) or rec.get("seq") != line["seq"]:
        raise Failure("record's own seq is %r" % (rec.get("seq") if isinstance(rec, dict) else None))
    check_canonical(rec, data)
    if rec["key_id"] not in keys:
        raise Failure("signed by key %s, which is not pinned" % rec["key_id"])
    key, alg = keys[rec["key_id"]]
    if rec["alg"] != alg:
        raise Failure("record says alg %s but the pinned key is %s" % (rec["alg"], alg))
    try:
        sig = base64.b64decode(line["signature"], validate=True)
        if alg == "ed25519":
            key.verify(sig, data)
        else:
            key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, InvalidSignature):
        raise Failure("bad signature")
    return rec, digest


def verify(path, keys, expect_records):
    """Returns the exit code; prints the verdict and the first failure."""
    with open(path, "rb") as fh:
        raw = fh.read().split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()  # the final newline
    lineno, seq, prev, breaks = 1, None, None, []
    try:
        try:
            lines = [r.decode("utf-8") for r in raw]
        except UnicodeDecodeError:
            raise Failure("file is not UTF-8")
        header = json.loads(lines[0]) if lines else None
        if not isinstance(header, dict) or header.get("format") != "mrv-export/1":
            raise Failure("not an mrv-export/1 header")
        for lineno, text in enumerate(lines[1:], start=2):
            seq = None
            line = parse_line(text)
            seq = line["seq"]
            rec, digest = check_record(line, keys)
            if rec["type"] == "chain-segment":
                if prev is not None and seq <= prev[0]:
                    raise Failure("chain-segment seq does not follow seq %d" % prev[0])
                breaks.append("line %d, seq %d: %s" % (lineno, seq, rec["reason"]))
            elif prev is None:
                if seq == 1 and rec["prev"] != GENESIS:
                    raise Failure("seq 1 does not start from the all-zero prev")
            elif seq != prev[0] + 1:
                raise Failure("follows seq %d (expected seq %d)" % (prev[0], prev[0] + 1))
            elif rec["prev"] != prev[1]:
                raise Failure("prev does not match the hash of seq %d" % prev[0])
            prev = (seq, digest)
        count, first = len(lines) - 1, json.loads(lines[1])["seq"] if len(lines) > 1 else 0
        lineno, seq, last = 1, None, prev[0] if prev else 0
        if (header.get("first_seq"), header.get("last_seq")) != (first, last):
            raise Failure("header names seq %r..%r but the records hold %d..%d" % (
                header.get("first_seq"), header.get("last_seq"), first, last))
        if expect_records is not None and count != expect_records:
            raise Failure("%d records, expected %d" % (count, expect_records))
    except (Failure, ValueError) as e:
        print("FAILED: line %d%s: %s" % (lineno, "" if seq is None else ", seq %d" % seq, e))
        return 1
    print("VERIFIED: %d records, seq %d..%d, site %r" % (count, first, last, header.get("site")))
    for b in breaks:
        print("DECLARED CHAIN BREAK: " + b)
    return 2 if breaks else 0


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 1: exit code 2 means "declared breaks"
        self.print_usage(sys.stderr)
        print("%s: error: %s" % (self.prog, message), file=sys.stderr)
        sys.exit(1)


def main():
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("export")
    p.add_argument("--public-key", action="append", required=True,
                   help="pinned public key (PEM), obtained out of band; repeatable")
    p.add_argument("--expect-records", type=int, help="fail unless the export holds N records")
    args = p.parse_args()
    try:
        keys = dict(load_key(path) for path in args.public_key)
        return verify(args.export, keys, args.expect_records)
    except (OSError, ValueError) as e:
        print("FAILED: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
