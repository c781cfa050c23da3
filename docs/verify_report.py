#!/usr/bin/python3
"""Independent checker for signed mrv-agent monitoring reports (mrv-report/1), written from
docs/report-format.md (and docs/verification.md §3 for checkpoints).

Usage: verify_report.py REPORT.json --public-key SITE.pem [--public-key OLD.pem]...
Exit:  0 VALID, 1 INVALID (or an unreadable file or key), 2 usage error.

Checks (docs/report-format.md §6): the report's signature over its canonical bytes with a
pinned key; that config.sha256 is the SHA-256 of config.text; that credited_tco2 follows
from value_tco2; the end checkpoint's and the previous checkpoint's signed-note signatures
(origin mrv-agent/<site_id>, a pinned key); that the end checkpoint covers the report's
records (tree size >= seqs.last); the RFC 9162 consistency proof from the previous
checkpoint to the end checkpoint; and each site record line the report carries (its hash, a
site-record of the report's site, seq at most through_seq, signed by a pinned key), which
it prints. A failed cross-check is printed as a finding (the report stays VALID: it changes
no number). It does not recompute the numbers from records, nor show that the report
carries every site record: that needs the records (a bundle; docs/verification.md). Repeat --public-key to pin the old and
new keys of a key rotation (the previous checkpoint may be signed by the older key).
Needs only the Python standard library and `cryptography` (Debian's python3-cryptography 38).
Functions marked "as verify_bundle.py" are copied from docs/verify_bundle.py.
"""
import argparse
import base64
import binascii
import hashlib
import json
import re
import sys
import time
from decimal import Decimal, InvalidOperation, ROUND_FLOOR, ROUND_HALF_EVEN

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

FORMAT = "mrv-report/1"
HEX64 = re.compile(r"[0-9a-f]{64}")
DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?")  # report-format.md §4: decimals
NOTE_SIZE = re.compile(rb"0|[1-9][0-9]{0,18}")
NOTE_TIME = re.compile(rb"mrv-time-ms (0|[1-9][0-9]{0,18})")
SIG_PREFIX = "\u2014 ".encode()  # em dash and a space start every signature line
MAX_SITE_RECORDS = 100000  # docs/limits.md: site record lines a report may carry


class Failure(Exception):
    pass


# --- keys and signatures (as verify_bundle.py) ---

def b64(text):  # RFC 4648 §4 with padding; only the canonical encoding is accepted
    try:
        text = text.encode("ascii") if isinstance(text, str) else text
    except UnicodeEncodeError:
        raise binascii.Error("not base64")
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw) != text:
        raise binascii.Error("non-canonical base64")
    return raw


def load_key(pem):  # returns (key id, key, alg)
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise Failure("not a PEM public key")
    if isinstance(key, ed25519.Ed25519PublicKey):
        alg = "ed25519"
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        alg = "ecdsa-p256-sha256"
    else:
        raise Failure("not an Ed25519 or EC P-256 public key")
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest(), key, alg


def signature_ok(key, alg, sig, data):
    try:
        if alg == "ed25519":
            key.verify(sig, data)
        else:
            key.verify(sig, data, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


def note_key_hash(key, alg, name):  # C2SP signed-note key hash, types 0x01 and 0x02
    if alg == "ed25519":
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return hashlib.sha256(name + b"\n\x01" + raw).digest()[:4]
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:4]


def parse_note(note):
    """verification.md §3: returns (origin, tree size, root, time ms, signed text, signature lines)."""
    try:
        raw = note.encode("utf-8") if isinstance(note, str) else None
    except UnicodeEncodeError:
        raw = None
    if raw is None or any(c < 0x20 and c != 0x0A for c in raw):
        raise Failure("is not text without control characters")
    text, blank, sigs = raw.partition(b"\n\n")
    lines = text.split(b"\n")
    if not blank or not sigs.endswith(b"\n") or len(lines) < 3 or not lines[0]:
        raise Failure("is not origin, size and root lines, a blank line and signature lines")
    origin, size, root = lines[:3]
    times = [line for line in lines[3:] if line.startswith(b"mrv-time-ms ")]  # others: ignored
    if not NOTE_SIZE.fullmatch(size) or not all(NOTE_TIME.fullmatch(t) for t in times):
        raise Failure("has a bad tree size or mrv-time-ms line")
    time = times[0] if times else b"mrv-time-ms 0"
    try:
        root = b64(root)
    except binascii.Error:
        root = b""
    if len(root) != 32:
        raise Failure("root is not base64 of 32 bytes")
    sig_lines = sigs[:-1].split(b"\n")
    if not all(line.startswith(SIG_PREFIX) for line in sig_lines):
        raise Failure("has a line after the blank line that is not a signature line")
    return origin.decode(), int(size), root, int(time[12:]), text + b"\n", sig_lines


def note_signer(origin, body, sig_lines, keys):
    """The id of a pinned key with a valid signature line under origin, else None."""
    name = origin.encode()
    for line in sig_lines:
        signer, space, blob = line[len(SIG_PREFIX):].partition(b" ")
        if signer != name or not space:
            continue  # other keys' lines (witnesses) are ignored
        try:
            blob = b64(blob)
        except binascii.Error:
            continue
        for kid, (key, alg) in keys.items():
            if note_key_hash(key, alg, name) == blob[:4] and signature_ok(key, alg, blob[4:], body):
                return kid
    return None


# --- the Merkle tree (as verify_bundle.py; RFC 9162 §2.1) ---

def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def consistency_ok(m, n, old_root, new_root, proof):  # RFC 9162 §2.1.4.2
    if m == n:  # the RFC's algorithm needs m < n; PROOF(n, D[n]) is empty
        return not proof and old_root == new_root
    if not 0 < m < n or not proof:
        return False
    path = ([old_root] if m & (m - 1) == 0 else []) + list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root


# --- the report (report-format.md) ---

def member(obj, path, kind):
    """obj at a dotted path, of a Python type (str, int, list, dict, bool)."""
    cur = obj
    for name in path.split("."):
        if not isinstance(cur, dict) or name not in cur:
            raise Failure("member %s is missing" % path)
        cur = cur[name]
    if kind is int and (type(cur) is not int or cur < 0):
        raise Failure("member %s is not a non-negative integer" % path)
    if kind is not int and type(cur) is not kind:
        raise Failure("member %s is not a %s" % (path, kind.__name__))
    return cur


def canonical_bytes(report):  # report-format.md §5: the signed bytes
    unsigned = {k: v for k, v in report.items() if k != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def utc_text(ms):  # report-format.md conventions: RFC 3339 UTC, .mmm only when not zero
    seconds, milli = divmod(ms, 1000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return text + (".%03d" % milli if milli else "") + "Z"


def site_record_summary(rec, details):
    """What a site record says, for people (as the report's site record summaries)."""
    d = lambda name: details.get(name, "?")
    kind, value, unit = details.get("kind", "?"), rec.get("value", ""), rec.get("unit", "")
    if kind == "manual-reading":
        return "meter %s read %s %s" % (d("meter_serial"), value, unit)
    if kind == "meter-exchange":
        return "%s final %s -> %s initial %s %s" % (d("old_serial"), d("old_final"), d("new_serial"),
                                                    d("new_initial"), unit)
    if kind == "calibration":
        return "meter %s %s, error %s %%, certificate %s (sha256 %s), valid until %s" % (
            d("meter_serial"), "passed" if details.get("result") == "pass" else "FAILED", value,
            d("certificate"), d("certificate_sha256"), d("valid_until"))
    if kind == "document":
        return "%s %s of %s: %s %s for %s to %s (sha256 %s)" % (
            d("document_type"), d("number"), d("issuer"), value, unit, utc_text(rec["ts_ms"]),
            d("period_to"), d("file_sha256"))
    return d("text")


def cross_check_findings(report):
    """One text per cross-check the report says failed (as mrv-agent verify words it)."""
    def text(v):
        return v if isinstance(v, str) else json.dumps(v)

    def unit_of(ident):  # the reference's unit: the value is converted to it
        for name in ("parameters", "results"):
            for item in report.get(name) or []:
                if isinstance(item, dict) and item.get("id") == ident:
                    return " " + text(item.get("unit", ""))
        return ""

    out = []
    checks = report.get("cross_checks")
    for x in checks if isinstance(checks, list) else []:
        if not isinstance(x, dict) or x.get("pass", True) is True:
            continue
        value, reference = x.get("value"), x.get("reference")
        if value is None or reference is None:
            said = "no data for " + text(x.get("value_id") if value is None else x.get("reference_id"))
        else:
            unit = unit_of(x.get("reference_id"))
            said = "%s %s%s against %s %s%s differ by %s %% (tolerance %s %%)" % (
                text(x.get("value_id")), text(value), unit, text(x.get("reference_id")), text(reference), unit,
                text(x.get("difference_percent")), text(x.get("tolerance_percent")))
        period = report.get("period")
        name = period.get("name") if isinstance(period, dict) else None
        out.append("report %s: cross-check %s failed: %s" % (text(name), text(x.get("id")), said))
    return out


class Checker:
    def __init__(self, keys):
        self.keys = keys  # pinned: id -> (key, alg)
        self.failures, self.notes, self.site_lines = [], [], []

    def attempt(self, what, fn, *args):
        try:
            return fn(*args)
        except Failure as e:
            self.failures.append("%s: %s" % (what, e))
            return None

    def signature(self, report):
        sig = member(report, "signature", dict)
        alg, kid, value = (member(sig, k, str) for k in ("algorithm", "key_id", "value"))
        if kid not in self.keys:
            raise Failure("key %s is not a pinned key" % kid)
        key, key_alg = self.keys[kid]
        if alg != key_alg:
            raise Failure("says %s but the pinned key %s is %s" % (alg, kid[:16], key_alg))
        try:
            raw = b64(value)
        except binascii.Error:
            raise Failure("value is not base64")
        if not signature_ok(key, alg, raw, canonical_bytes(report)):
            raise Failure("does not verify over the report's canonical bytes (the report was changed, "
                          "or signed by another key)")
        return kid

    def config(self, report):
        text, digest = member(report, "config.text", str), member(report, "config.sha256", str)
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != digest:
            raise Failure("config.sha256 is not the SHA-256 of config.text")

    def credited(self, report):
        er = member(report, "emission_reductions", dict)
        text, credited = member(er, "value_tco2", str), member(er, "credited_tco2", int)
        complete = member(er, "complete", bool)
        if not DECIMAL.fullmatch(text):
            raise Failure("value_tco2 %r is not a decimal string" % text)
        try:
            value = Decimal(text).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
        except InvalidOperation:
            raise Failure("value_tco2 %r is not a number" % text)
        expected = int(value.to_integral_value(rounding=ROUND_FLOOR)) if complete and value > 0 else 0
        if credited != expected:
            raise Failure("credited_tco2 %d does not follow from value_tco2 %s (expected %d)"
                          % (credited, text, expected))

    def note(self, which, text, origin):
        if not text:
            raise Failure("is empty")
        got_origin, size, root, time_ms, body, sig_lines = parse_note(text)
        if got_origin != origin:
            raise Failure("origin is %r, not %r" % (got_origin, origin))
        if note_signer(got_origin, body, sig_lines, self.keys) is None:
            raise Failure("has no valid signature line of a pinned key under %r" % origin)
        return size, root, time_ms

    def annex(self, report):
        site = member(report, "site_id", str)
        origin = "mrv-agent/" + site
        annex = member(report, "annex", dict)
        end_text = member(annex, "end_checkpoint", str)
        prev_text = member(annex, "previous_checkpoint", str)
        proof_hex = member(annex, "consistency_proof", list)
        if not all(isinstance(h, str) and HEX64.fullmatch(h) for h in proof_hex):
            raise Failure("consistency_proof is not a list of 64-hex hashes")
        proof = [bytes.fromhex(h) for h in proof_hex]
        last_seq = member(report, "seqs.last", int)
        end = self.attempt("end checkpoint", self.note, "end", end_text, origin)
        if end:
            n, _, time_ms = end
            if n < last_seq:
                self.failures.append("end checkpoint: tree size %d does not cover the report's last "
                                     "seq %d" % (n, last_seq))
            period_end = member(report, "period.end", str)
            self.notes.append("end checkpoint: tree size %d, signed at mrv-time-ms %d (period ends %s)"
                              % (n, time_ms, period_end))
        if not prev_text:
            if proof:
                self.failures.append("annex: a consistency proof without a previous checkpoint")
            else:
                self.notes.append("no previous checkpoint (the first period): no consistency proof")
            return
        prev = self.attempt("previous checkpoint", self.note, "previous", prev_text, origin)
        if not (end and prev):
            return
        m, old_root, _ = prev
        n, new_root, _ = end
        if m > n:
            self.failures.append("annex: previous checkpoint's tree size %d is larger than the end "
                                 "checkpoint's %d" % (m, n))
        elif not consistency_ok(m, n, old_root, new_root, proof):
            self.failures.append("annex: the consistency proof from tree size %d to %d does not verify "
                                 "(RFC 9162 §2.1.4.2)" % (m, n))
        else:
            self.notes.append("consistency proof from tree size %d to %d verifies (%d hashes)"
                              % (m, n, len(proof)))

    def site_record(self, line, site, through):
        """One line of site_records (report-format.md §3.1): returns its printable summary."""
        if not isinstance(line, dict):
            raise Failure("is not an object")
        seq = member(line, "seq", int)
        record, digest = member(line, "record", str), member(line, "hash", str)
        signature = member(line, "signature", str)
        try:
            data = record.encode("utf-8")
        except UnicodeEncodeError:
            raise Failure("record is not UTF-8 text")
        if hashlib.sha256(data).hexdigest() != digest:
            raise Failure("hash is not the SHA-256 of its record")
        try:
            rec = json.loads(data)
        except ValueError:
            raise Failure("record is not JSON")
        if not isinstance(rec, dict) or rec.get("seq") != seq:
            raise Failure("record is not an object with the line's seq")
        if rec.get("type") != "site-record":
            raise Failure("a %s record, not a site-record" % safe(rec.get("type")))
        if rec.get("site") != site:
            raise Failure("site %r is not the report's %r" % (safe(rec.get("site")), safe(site)))
        if seq > through:
            raise Failure("after site_records.through_seq %d" % through)
        kid, alg = rec.get("key_id"), rec.get("alg")
        if kid not in self.keys:
            raise Failure("signed by key %s, not a pinned key" % safe(kid))
        key, key_alg = self.keys[kid]
        if alg == "checkpoint":  # record-format.md §1.5: proven by a checkpoint, which a bundle holds
            if signature:
                raise Failure("a checkpoint-only record carries a signature")
            self.notes.append("site record seq %d is checkpoint-only: it rests on the report's signature "
                              "(a bundle proves it)" % seq)
        else:
            if alg != key_alg:
                raise Failure("alg %s is not the algorithm of key %s" % (safe(alg), kid[:16]))
            try:
                raw = b64(signature)
            except binascii.Error:
                raise Failure("signature is not base64")
            if not signature_ok(key, alg, raw, data):
                raise Failure("its signature does not verify with a pinned key")
        try:
            details = json.loads(rec.get("reason", ""))
        except ValueError:
            details = None
        if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
            raise Failure("its details (reason) are not a JSON object of strings")
        ts = rec.get("ts_ms") if type(rec.get("ts_ms")) is int else 0
        point = rec.get("point") or "the site"
        return "site record seq %d: %s of %s at %s, entered by %s (%s): %s" % (
            seq, details.get("kind", "?"), point, utc_text(ts), details.get("entered_by", "?"),
            str(rec.get("source", "")).removeprefix("operator:"), site_record_summary(rec, details))

    def site_records(self, report):
        if "site_records" not in report:  # reports made before site records
            self.notes.append("the report carries no site_records (made before site records)")
            return
        site = member(report, "site_id", str)
        through = member(report, "site_records.through_seq", int)
        lines = member(report, "site_records.lines", list)
        if len(lines) > MAX_SITE_RECORDS:
            raise Failure("it carries %d site records, more than the %d a verifier reads (docs/limits.md)"
                          % (len(lines), MAX_SITE_RECORDS))
        previous = 0
        for number, line in enumerate(lines, 1):
            seq = line.get("seq") if isinstance(line, dict) else None
            what = "site_records line %d (seq %s)" % (number, seq)
            if type(seq) is int and seq <= previous:
                raise Failure("%s: seqs do not increase" % what)
            previous = seq if type(seq) is int else previous
            summary = self.attempt(what, self.site_record, line, site, through)
            if summary:
                self.site_lines.append(summary)

    def run(self, report):
        if not isinstance(report, dict):
            self.failures.append("report: not a JSON object")
            return
        if report.get("format") != FORMAT:
            self.failures.append("report: format is %r, not %r" % (report.get("format"), FORMAT))
            return
        self.attempt("signature", self.signature, report)
        self.attempt("config", self.config, report)
        self.attempt("emission_reductions", self.credited, report)
        self.attempt("annex", self.annex, report)
        self.attempt("site records", self.site_records, report)


def safe(text):  # untrusted text must not start new lines or drive the terminal
    return "".join(c if c.isprintable() else "\\x%02x" % ord(c) if ord(c) < 0x100 else c for c in str(text))


MAX_JSON_NESTING = 64  # docs/verification.md §6.1: objects and arrays one inside another


def json_depth(value):  # without recursion: the report may nest as deep as json.loads allows
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, depth = todo.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, depth)
            todo.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


def main():
    ap = argparse.ArgumentParser(description="Check a signed mrv-agent monitoring report (mrv-report/1)")
    ap.add_argument("report")
    ap.add_argument("--public-key", action="append", required=True,
                    help="the site's public key (PEM), obtained out of band; repeatable")
    a = ap.parse_args()
    keys = {}
    try:
        for path in a.public_key:
            with open(path, "rb") as f:
                kid, key, alg = load_key(f.read())
            keys[kid] = (key, alg)
        with open(a.report, "rb") as f:
            raw = f.read()
    except (OSError, Failure) as e:
        print("INVALID")
        print("  cannot read a key or the report: %s" % safe(e))
        return 1
    try:
        report = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        print("INVALID")
        print("  report: not UTF-8 JSON")
        return 1
    except RecursionError:
        report = None
    if report is None or json_depth(report) > MAX_JSON_NESTING:  # as the agent and registry refuse it
        print("INVALID")
        print("  report: JSON nested deeper than %d levels" % MAX_JSON_NESTING)
        return 1
    checker = Checker(keys)
    checker.run(report)
    if checker.failures:
        print("INVALID")
        for f in checker.failures:
            print("  " + safe(f))
        return 1
    er = report["emission_reductions"]
    print("VALID: report of period %s (%s to %s), site %s, %s %s: %s = %s tCO2, credited %d tCO2%s"
          % (safe(report.get("period", {}).get("name")), safe(report["period"].get("start")),
             safe(report["period"].get("end")), safe(report["site_id"]),
             safe(report.get("methodology", {}).get("id")), safe(report.get("methodology", {}).get("version")),
             safe(er.get("formula")), safe(er["value_tco2"]), er["credited_tco2"],
             "" if er["complete"] else " (incomplete)"))
    for n in checker.notes:
        print("  " + safe(n))
    for line in checker.site_lines:
        print("  " + safe(line))
    for finding in cross_check_findings(report):
        print("  FINDING: " + safe(finding))
    return 0


if __name__ == "__main__":
    sys.exit(main())
