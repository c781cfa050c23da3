#!/usr/bin/env python3
"""Independent verifier for mrv-agent NDJSON exports, written from docs/record-format.md only.

Usage: verify_export.py EXPORT.ndjson --public-key PUB.pem [--public-key ...] [--expect-records N]
Exit:  0 verified, 3 verified but with declared chain breaks (chain-segment records),
       1 failure, 2 usage error (the same codes as `mrv-agent verify`).
Needs only the Python standard library and `cryptography` (Debian python3-cryptography 38 is fine).
"""
import argparse
import base64
import calendar
import binascii
import datetime
import hashlib
import json
import re
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

# The 20 record fields in canonical order (spec 1.1), and which of them are integers.
FIELDS = ("v type site seq prev point value unit ts_ms time_source quality reason source "
          "recv_ms mono_ms clock boot_id config key_id alg").split()
INTEGERS = {"v", "seq", "ts_ms", "recv_ms", "mono_ms"}
CHOICES = {"type": {"reading", "chain-segment", "site-record"},
           "time_source": {"device", "agent", "operator"},
           "quality": {"good", "uncertain", "bad", "substitute"},
           "clock": {"synchronised", "unsynchronised"}, "alg": {"ed25519", "ecdsa-p256-sha256"}}
HEX64 = re.compile(r"[0-9a-f]{64}")
DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")


class Failure(Exception):
    pass


def json_string(text):  # spec 1.2: escape " and \, below 0x20 as \u00xx (lowercase), rest literal
    return '"' + "".join("\\" + c if c in '"\\' else "\\u%04x" % ord(c) if ord(c) < 0x20 else c
                         for c in text) + '"'


# Site records (record-format.md §1.6): per kind, the details members it needs (beside
# kind, id and entered_by) and those it may hold.
SITE_MEMBERS = {
    "manual-reading": ({"meter_serial"}, {"photo_sha256", "comment"}),
    "meter-exchange": ({"old_serial", "old_final", "new_serial", "new_initial"}, {"comment"}),
    "calibration": ({"meter_serial", "laboratory", "certificate", "certificate_sha256", "result",
                     "valid_until"}, {"comment"}),
    "document": ({"document_type", "number", "issuer", "period_to", "file_sha256", "file_name"},
                 {"parameter", "comment"}),
    "note": ({"text"}, {"to"}),
}
SITE_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3})?Z")


def site_instant_ms(text):  # §1.6: RFC 3339 UTC as the agent writes it (".mmm" only when not 0)
    if not SITE_INSTANT.fullmatch(text) or text.endswith(".000Z"):
        return None
    try:
        t = datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    ms = int(text[20:23]) if len(text) == 24 else 0
    return calendar.timegm(t.timetuple()) * 1000 + ms


def check_site_record(rec):  # §1.6: the fields and details a site record must have
    if rec["time_source"] != "operator" or rec["quality"] != "good":
        raise Failure("site record without time_source operator and quality good")
    source = rec["source"]
    if not source.startswith("operator:") or len(source) == 9 or re.search("[\x00-\x1f]", source):
        raise Failure("site record source %r is not operator:<login>" % source)
    try:
        pairs = json.loads(rec["reason"], object_pairs_hook=list)
    except ValueError:
        raise Failure("site record details are not JSON")
    if type(pairs) is not list:
        raise Failure("site record details are not a JSON object")
    for name, value in pairs:
        if type(value) is not str:
            raise Failure("site record details member %r is not a string" % name)
    names = [name for name, _ in pairs]
    if names != sorted(set(names), key=lambda n: n.encode("utf-8")):
        raise Failure("site record details members are repeated or not sorted by key")
    details = dict(pairs)
    if "{" + ",".join(json_string(n) + ":" + json_string(details[n]) for n in names) + "}" != rec["reason"]:
        raise Failure("site record details are not canonical (whitespace or escapes)")
    kind = details.get("kind")
    if kind not in SITE_MEMBERS:
        raise Failure("site record kind %r is unknown" % kind)
    required, optional = SITE_MEMBERS[kind]
    missing = ({"id", "entered_by"} | required) - details.keys()
    unknown = details.keys() - {"kind", "id", "entered_by"} - required - optional
    if missing or unknown:
        raise Failure("%s record: details member %r is %s" % (
            kind, sorted(missing or unknown)[0], "missing" if missing else "not one of its kind"))
    for name, value in details.items():
        allowed = "\t\n" if name in ("text", "comment") else ""
        if not 1 <= len(value.encode("utf-8")) <= 4096 or any(
                ord(c) < 0x20 and c not in allowed for c in value):
            raise Failure("site record details member %r is empty, too long or holds a control "
                          "character" % name)
        bad = ((name == "id" and not re.fullmatch("[0-9a-f]{32}", value))
               or (name.endswith("_sha256") and not HEX64.fullmatch(value))
               or (name in ("old_final", "new_initial")
                   and not (len(value) <= 64 and DECIMAL.fullmatch(value)))
               or (name == "result" and value not in ("pass", "fail"))
               or (name == "document_type" and value not in ("invoice", "sales-statement", "other"))
               or (name in ("valid_until", "period_to", "to")
                   and (site_instant_ms(value) is None or site_instant_ms(value) <= rec["ts_ms"])))
        if bad:
            raise Failure("site record details member %r has a bad value %r" % (name, value))
    point, value, unit = rec["point"], rec["value"], rec["unit"]
    if (kind in ("manual-reading", "meter-exchange", "calibration")) != bool(point) and kind != "note":
        raise Failure("%s record with %s point" % (kind, "a" if point else "no"))
    if (kind in ("manual-reading", "calibration", "document")) != bool(value):
        raise Failure("%s record with %s value" % (kind, "a" if value else "no"))
    if ((kind == "calibration" and unit != "%") or (kind == "document" and not unit)
            or (kind == "note" and unit)):
        raise Failure("%s record with unit %r" % (kind, unit))
    if kind == "meter-exchange" and details["old_serial"] == details["new_serial"]:
        raise Failure("meter-exchange record with new_serial equal to old_serial")


def check_canonical(rec, data):  # spec 4.1 check 4: field types and rules, then re-encode
    for name in FIELDS:
        val = rec.get(name)
        if name in INTEGERS and not (type(val) is int and -2**63 <= val < 2**63):
            raise Failure("record field '%s' is missing or not a 64-bit integer" % name)
        if name not in INTEGERS and type(val) is not str:
            raise Failure("record field '%s' is missing or not a string" % name)
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
    segment = (rec["point"], rec["value"], rec["unit"], rec["quality"], rec["source"])
    if rec["type"] == "chain-segment" and segment != ("", "", "", "bad", "agent"):
        raise Failure("chain-segment record with reading content")
    if rec["type"] == "site-record":
        check_site_record(rec)
    elif rec["time_source"] == "operator":
        raise Failure("%s record with time_source operator (a site record's)" % rec["type"])
    try:
        again = ("{" + ",".join('"%s":%s' % (n, rec[n] if n in INTEGERS else json_string(rec[n]))
                                for n in FIELDS) + "}").encode("utf-8")
    except UnicodeEncodeError:
        raise Failure("record text is not valid UTF-8")
    if again != data:
        raise Failure("record bytes are not canonical (re-encoding differs)")


def load_key(path):  # returns (key id, (key, alg)); key id = SHA-256 of the SPKI DER (spec 1.5)
    with open(path, "rb") as fh:
        try:
            key = serialization.load_pem_public_key(fh.read())
        except ValueError:
            raise ValueError("%s: not a PEM public key" % path)
    if isinstance(key, ed25519.Ed25519PublicKey):
        alg = "ed25519"
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        alg = "ecdsa-p256-sha256"
    else:
        raise ValueError("%s: not an Ed25519 or EC P-256 public key" % path)
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
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
        data = line["record"].encode("utf-8")  # the canonical bytes (spec 3.3)
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
        raise Failure("the record itself says seq %r"
                      % (rec.get("seq") if isinstance(rec, dict) else None))
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
    """Checks the export (spec 4.1), prints the verdict, returns the exit code."""
    with open(path, "rb") as fh:
        raw = fh.read().split(b"\n")
    if raw[-1] == b"":
        raw.pop()  # the newline that ends the last line
    lineno, seq, first, breaks = 1, None, None, []
    prev = None  # (seq, hash) of the record line before
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
            if rec["type"] == "chain-segment":  # spec 4.1 check 6
                if prev and seq <= prev[0]:
                    raise Failure("chain-segment does not follow seq %d" % prev[0])
                breaks.append("line %d, seq %d: %s" % (lineno, seq, rec["reason"]))
            elif not prev:
                if seq == 1 and rec["prev"] != "0" * 64:
                    raise Failure("seq 1 does not start from the all-zero prev")
            elif seq != prev[0] + 1:
                raise Failure("follows seq %d (expected seq %d)" % (prev[0], prev[0] + 1))
            elif rec["prev"] != prev[1]:
                raise Failure("prev does not match the hash of seq %d" % prev[0])
            first = seq if first is None else first
            prev = (seq, digest)
        lineno, seq = 1, None
        count, first, last = len(lines) - 1, first or 0, prev[0] if prev else 0
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
    return 3 if breaks else 0


class Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2, as mrv-agent's do
        self.print_usage(sys.stderr)
        print("%s: error: %s" % (self.prog, message), file=sys.stderr)
        sys.exit(2)


def main():
    p = Parser(description=__doc__.splitlines()[0])
    p.add_argument("export")
    p.add_argument("--public-key", action="append", required=True,
                   help="pinned public key (PEM) obtained out of band; repeatable")
    p.add_argument("--expect-records", type=int, metavar="N",
                   help="fail unless the export holds exactly N records")
    args = p.parse_args()
    try:
        keys = dict(load_key(path) for path in args.public_key)
        return verify(args.export, keys, args.expect_records)
    except (OSError, ValueError) as e:
        print("FAILED: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
