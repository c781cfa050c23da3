#!/usr/bin/python3
"""Independent verifier for mrv-agent bundles (mrv-bundle/1), written from docs/verification.md.

Usage: verify_bundle.py BUNDLE.tar.gz [--public-key PEM]... [--since-checkpoint FILE] [--json]
                        [--tpm-ca PEM] [--registry-key PEM]... [--require-cosigned]
Exit:  0 VALID, 1 INVALID, 2 usage error (also a key or checkpoint file that cannot be read),
       3 VALID WITH DECLARED BREAKS (also with findings),
       4 VALID WITH METROLOGY FINDINGS (docs/verification.md §6.2).
Needs only the Python standard library and `cryptography` (Debian's python3-cryptography 38).
The bundle is streamed: each entry is hashed as it is read and records.ndjson is checked line
by line, so memory stays flat however many records it holds. That needs the entry order of
docs/verification.md §4, which both verifiers require. The gzip member and the ustar headers are
read here rather than by gzip/tarfile, which accept what a bundle must not hold (appended
members, pax and GNU headers, entries after the end blocks): what this verifier checks is then
all that any tar program can extract. The limits of §6 bound what a hostile bundle costs.
With --json, declared_breaks, findings and notes hold strings.
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
import tomllib
import zlib

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

# The 20 record fields in canonical order (record-format.md §1.1), and which are integers.
FIELDS = ("v type site seq prev point value unit ts_ms time_source quality reason source "
          "recv_ms mono_ms clock boot_id config key_id alg").split()
INTEGERS = {"v", "seq", "ts_ms", "recv_ms", "mono_ms"}
CHOICES = {"type": {"reading", "chain-segment", "site-record"},
           "time_source": {"device", "agent", "operator"},
           "quality": {"good", "uncertain", "bad", "substitute"},
           "clock": {"synchronised", "unsynchronised"},
           "alg": {"ed25519", "ecdsa-p256-sha256", "checkpoint"}}  # checkpoint: §5
HEX64 = re.compile(r"[0-9a-f]{64}")
ESCAPED = re.compile(r'["\\\x00-\x1f]')  # what §1.2 escapes
DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
CONFIG_NAME = re.compile(r"configs/([0-9a-f]{64})\.toml")
NOTE_SIZE = re.compile(rb"0|[1-9][0-9]{0,18}")
NOTE_TIME = re.compile(rb"mrv-time-ms (0|[1-9][0-9]{0,18})")
SIG_PREFIX = "\u2014 ".encode()  # em dash and a space start every signature line (§3)
GAP_FIELDS = ("seq", "point", "ts_ms", "quality", "reason", "source")
# The limits of §6: what a hostile bundle can make a verifier hold or recurse into.
MAX_WHOLE = 64 << 20  # an entry read whole (manifest, keys, a config, checkpoints, report; since file)
MAX_WHOLE_TOTAL = 128 << 20  # all entries read whole, together
MAX_MANIFEST_SIG = 4096
MAX_LINE = 1 << 20  # a line of records.ndjson or gaps.ndjson, without its newline
MAX_JSON_NESTING = 64  # objects and arrays one inside another
MAX_JSON_VALUES = 1 << 20  # values in one JSON text: 1 + its commas + its non-empty arrays and objects
MAX_TOML_BYTES = 4 << 20  # a configs/ file
MAX_TOML_NESTING = 64  # tables and arrays one inside another, the root table counting as 1
RECORD_LINE_MEMBERS = {"seq", "record", "hash", "signature"}
MAX_RECORD_LINE_NESTING = 8  # a record line with other members: one object of small extensions
MAX_RECORD_LINE_VALUES = 1024
# The entries of §4 in their required order; only configs/ repeats.
ENTRY_ORDER = ("manifest.json", "manifest.sig", "keys.json", "configs/", "checkpoints.json",
               "tpm_starts.json", "report.json", "records.ndjson", "gaps.ndjson", "quarantine.ndjson")
CONFIGS_RANK = 3
USAGE = 2  # the exit code of a usage error, and of a file or key named on the command line that cannot be read
INT64 = 1 << 63
EPOCH_DAY = datetime.date(1970, 1, 1).toordinal()


class Failure(Exception):
    """A failed check: kind is one of §6's kinds, where names entry, line and seq."""

    def __init__(self, message, kind="signature", where=""):
        super().__init__(message)
        self.kind, self.where = kind, where


class Fatal(Failure):
    """A failure after which the rest of the bundle cannot be checked."""


class UsageError(Exception):
    """A file or key named on the command line cannot be read (exit 2)."""


def json_depth(value):  # objects and arrays one inside another (0 for a scalar)
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, depth = todo.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, depth)
            todo.extend((c, depth + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest


JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
JSON_SPACE = re.compile(r"[ \t\r\n]+")


def json_values(text):
    """The values of §6.1 in a JSON text (the text, each array element and object member):
    1 + the commas + the non-empty arrays and objects, strings skipped."""
    bare = JSON_SPACE.sub("", JSON_STRING.sub("0", text))
    return (1 + bare.count(",") + bare.count("[") + bare.count("{")
            - bare.count("[]") - bare.count("{}"))


def parse_json(raw):  # JSON from the bundle within the limits of §6.1; ValueError if not
    if len(raw) > 2 * MAX_JSON_VALUES and json_values(raw) > MAX_JSON_VALUES:  # shorter: too few to matter
        raise ValueError("JSON holds more than %d values" % MAX_JSON_VALUES)  # before json.loads holds them
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError("JSON nested deeper than %d levels" % MAX_JSON_NESTING)
    if json_depth(value) > MAX_JSON_NESTING:
        raise ValueError("JSON nested deeper than %d levels" % MAX_JSON_NESTING)
    return value


def toml_depth_error(text):
    """The line where TOML text nests deeper than MAX_TOML_NESTING (§6 limits), or None.
    Counted from the text, as the agent does before its parser sees it: the root table is 1,
    a header [a.b] opens b at 3 ([[a.b]]: its element at 4), a key x.y = {} in a table at
    depth d opens x at d + 1 and puts its value at d + 2, an array's elements lie one deeper;
    strings, quoted keys and comments do not count."""
    n, i, line = len(text), 0, 1
    opened = []  # (kind, depth) of the inline arrays and tables open here
    table, parts, value_depth, in_key, blank = 1, 1, 0, True, True

    def skip_string(i, line):  # the index after the string starting at i, and the line there
        quote = text[i]
        multi = text.startswith(quote * 3, i)
        j = i + (3 if multi else 1)
        while j < n:
            c = text[j]
            if c == "\\" and quote == '"':
                line += text.startswith("\n", j + 1)
                j += 2
                continue
            if c == "\n":
                if not multi:
                    return j, line
                line += 1
            if c == quote and (not multi or text.startswith(quote * 3, j)):
                j += 3 if multi else 1
                while multi and j < n and text[j] == quote:
                    j += 1
                return j, line
            j += 1
        return j, line

    def base():
        return opened[-1][1] if opened else table

    def after_value():
        nonlocal in_key, value_depth
        in_key = False
        if opened and opened[-1][0] == "[":
            value_depth = opened[-1][1] + 1

    while i < n:
        c = text[i]
        if c == "\n":
            line, i = line + 1, i + 1
            if not opened:
                in_key, parts, blank = True, 1, True
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#":
            i = text.find("\n", i)
            i = n if i < 0 else i
            continue
        at_start, blank = blank, False
        if c in "\"'":
            i, line = skip_string(i, line)
            continue
        if in_key and not opened and at_start and c == "[":  # a [table] or [[array]] header
            array = text.startswith("[[", i)
            count, i = 1, i + (2 if array else 1)
            while i < n and text[i] not in "]\n":
                if text[i] in "\"'":
                    i, line = skip_string(i, line)
                    continue
                if text[i] == ".":
                    count += 1
                    if 1 + count + array > MAX_TOML_NESTING:
                        return line
                i += 1
            table = 1 + count + array
            if table > MAX_TOML_NESTING:
                return line
            continue
        i += 1
        if in_key:
            if c == ".":
                parts += 1
                if base() + parts - 1 > MAX_TOML_NESTING:
                    return line
            elif c == "=":
                in_key, value_depth = False, base() + parts
            elif c == "}" and opened and opened[-1][0] == "{":
                opened.pop()
                after_value()
            continue
        if c in "[{":
            if value_depth > MAX_TOML_NESTING:
                return line
            opened.append((c, value_depth))
            if c == "{":
                in_key, parts = True, 1
            else:
                value_depth += 1
        elif c in "]}" and opened and opened[-1][0] == ("[" if c == "]" else "{"):
            opened.pop()
            after_value()
        elif c == "," and opened:
            if opened[-1][0] == "{":
                in_key, parts = True, 1
            else:
                value_depth = opened[-1][1] + 1
    return None


def is_int(v, low=-INT64):
    return type(v) is int and low <= v < INT64


def b64(text):  # RFC 4648 §4 with padding; only the canonical encoding is accepted
    try:
        text = text.encode("ascii") if isinstance(text, str) else text
    except UnicodeEncodeError:  # b64decode would raise a plain ValueError
        raise binascii.Error("not base64")
    raw = base64.b64decode(text, validate=True)
    if base64.b64encode(raw) != text:
        raise binascii.Error("non-canonical base64")
    return raw


def load_json(raw, kind, where):
    try:
        return parse_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Failure("not valid UTF-8 JSON", kind, where)
    except ValueError as e:
        raise Failure(str(e) if "JSON " in str(e) else "not valid UTF-8 JSON", kind, where)


def hex_hashes(value, kind, where):  # a list of 64-hex hashes, as bytes
    if not (isinstance(value, list) and all(isinstance(h, str) and HEX64.fullmatch(h) for h in value)):
        raise Failure("not a list of 64-hex hashes", kind, where)
    return [bytes.fromhex(h) for h in value]


# --- keys and signatures (record-format.md §1.5, verification.md §3) ---

def load_key(pem):  # returns (key id, key, alg)
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise Failure("not a PEM public key", "keys")
    if isinstance(key, ed25519.Ed25519PublicKey):
        alg = "ed25519"
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        alg = "ecdsa-p256-sha256"
    else:
        raise Failure("not an Ed25519 or EC P-256 public key", "keys")
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


def parse_note(note, kind, where):
    """§3: returns (origin, tree size, root, time ms, signed text, signature lines)."""
    try:
        raw = note.encode("utf-8") if isinstance(note, str) else None
    except UnicodeEncodeError:
        raw = None
    if raw is None or any(c < 0x20 and c != 0x0A for c in raw):
        raise Failure("note is not text without control characters", kind, where)
    text, blank, sigs = raw.partition(b"\n\n")
    lines = text.split(b"\n")
    if not blank or not sigs.endswith(b"\n") or len(lines) < 3 or not lines[0]:
        raise Failure("note is not origin, size and root lines, a blank line and signature lines",
                      kind, where)
    origin, size, root = lines[:3]
    times = [line for line in lines[3:] if line.startswith(b"mrv-time-ms ")]  # other extensions: ignored
    if not NOTE_SIZE.fullmatch(size) or not all(NOTE_TIME.fullmatch(t) for t in times):
        raise Failure("bad tree size or mrv-time-ms line in the note", kind, where)
    time = times[0] if times else b"mrv-time-ms 0"
    try:
        root = b64(root)
    except binascii.Error:
        root = b""
    if len(root) != 32:
        raise Failure("note root is not base64 of 32 bytes", kind, where)
    sig_lines = sigs[:-1].split(b"\n")
    if not all(line.startswith(SIG_PREFIX) for line in sig_lines):
        raise Failure("a line after the blank line is not a signature line", kind, where)
    return origin.decode(), int(size), root, int(time[12:]), text + b"\n", sig_lines


MAX_COSIGNATURES = 16  # per checkpoint entry (§3.1)
COSIGNER_NAME = re.compile(rb"[\x21-\x2a\x2c-\x7e]{1,256}")  # printable ASCII, no space or '+'


def cosignature_lines(entry, kind, where):  # §3.1: an entry's [(name, key ID, time, signature)]
    if "cosignatures" not in entry:
        return []
    value = entry["cosignatures"]
    if not (isinstance(value, list) and len(value) <= MAX_COSIGNATURES and all(isinstance(v, str) for v in value)):
        raise Failure("not a list of at most %d signature lines" % MAX_COSIGNATURES, kind, where)
    out = []
    for line in value:
        raw = line.encode("utf-8", "replace")
        name, space, blob = raw[len(SIG_PREFIX):].partition(b" ")
        if not raw.startswith(SIG_PREFIX) or not space or not COSIGNER_NAME.fullmatch(name):
            raise Failure("a cosignature is not '\u2014 <name> <base64>'", kind, where)
        try:
            blob = b64(blob)
        except binascii.Error:
            blob = b""
        if len(blob) != 76:
            raise Failure("a cosignature is not base64 of 76 bytes (key ID, timestamp, Ed25519 signature)",
                          kind, where)
        time = int.from_bytes(blob[4:12], "big")
        if time >= INT64:
            raise Failure("a cosignature's timestamp is beyond 2^63 - 1", kind, where)
        out.append((name, blob[:4], time, blob[12:]))
    return out


def registry_cosignature(cosigs, body, registry_keys):
    """§3.1: ((name, time, registry key id) of the first cosignature of body by a registry key,
    or None; the first one of a registry key's ID that fails, or None)."""
    found, bad = None, None
    for name, key_id, time, sig in cosigs:
        for kid, (key, alg) in registry_keys.items():
            if alg != "ed25519":
                continue
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            if hashlib.sha256(name + b"\n\x04" + raw).digest()[:4] != key_id:
                continue  # another cosigner's line: ignored
            if signature_ok(key, alg, sig, b"cosignature/v1\ntime %d\n" % time + body):
                found = found or (name, time, kid)
            elif bad is None:
                bad = "the cosignature of %s does not verify" % name.decode()
    return found, bad


def describe_cosignature(name, time, kid):  # as the agent words it; the name is not signed, the key is
    when = "POSIX time %d" % time if time > 253402300799 else utc_text(time * 1000)
    return "registry key %s (%s) at %s" % (kid, name.decode(), when)


def note_signer(origin, body, sig_lines, keys):
    """The id of an accepted key with a valid signature line under origin, else None."""
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


# --- record checks, as tests/integration/verify_export.py (record-format.md §4.1) ---

def json_string(text):  # §1.2: escape " and \, below 0x20 as \u00xx (lowercase), rest literal
    return '"' + ESCAPED.sub(lambda m: "\\" + m[0] if m[0] in '"\\' else "\\u%04x" % ord(m[0]), text) + '"'


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


def utc_text(ms):  # RFC 3339 UTC as the agent writes it: ".mmm" only when not 0
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return t + (".%03d" % (ms % 1000) if ms % 1000 else "") + "Z"


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


def check_canonical(rec, data):  # check 4: field types and rules, then re-encode
    for name in FIELDS:
        val = rec.get(name)
        if name in INTEGERS and not is_int(val):
            raise Failure("record field '%s' is missing or not a 64-bit integer" % name)
        if name not in INTEGERS and type(val) is not str:
            raise Failure("record field '%s' is missing or not a string" % name)
        if name in CHOICES and val not in CHOICES[name]:
            raise Failure("record field '%s' has unknown value %r" % (name, val))
    if rec["v"] != 1 or rec["seq"] < 1:
        raise Failure("record has v %d, seq %d (expected v 1, seq >= 1)" % (rec["v"], rec["seq"]))
    if not (HEX64.fullmatch(rec["prev"]) and HEX64.fullmatch(rec["config"])
            and HEX64.fullmatch(rec["key_id"])):
        raise Failure("prev, config or key_id is not 64 lowercase hex digits")
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


def parse_line(raw, ended):  # checks 1 and 3; returns (line, canonical bytes, record)
    if not ended:
        raise Failure("the last line does not end with a newline", "chain")
    try:
        line = parse_json(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise Failure("line is not UTF-8 JSON", "chain")
    except ValueError as e:
        raise Failure(str(e) if "JSON " in str(e) else "line is not UTF-8 JSON", "chain")
    if not (isinstance(line, dict) and is_int(line.get("seq"), 0)
            and all(type(line.get(k)) is str for k in ("record", "hash", "signature"))):
        raise Failure("not a record line (seq, record, hash, signature)", "chain")
    if set(line) != RECORD_LINE_MEMBERS and (json_depth(line) > MAX_RECORD_LINE_NESTING or
                                             json_values(raw.decode("utf-8")) > MAX_RECORD_LINE_VALUES):
        raise Failure("not a record line (seq, record, hash, signature)", "chain")  # as the agent's reader
    try:
        data = line["record"].encode("utf-8")  # the canonical bytes (record-format.md §3.3)
        rec = parse_json(data.decode("utf-8"))
    except UnicodeEncodeError:
        raise Failure("record is not UTF-8 JSON", "chain")
    except ValueError as e:
        raise Failure("its record: " + str(e) if "JSON " in str(e) else "record is not UTF-8 JSON", "chain")
    if not isinstance(rec, dict) or rec.get("seq") != line["seq"]:
        raise Failure("the record itself says seq %r" % (rec.get("seq") if isinstance(rec, dict) else None),
                      "chain")
    return line, data, rec


def check_record(line, data, rec, keys):  # checks 2, 4 (kind chain) and 5 (kind signature)
    if hashlib.sha256(data).hexdigest() != line["hash"]:
        raise Failure("hash does not match the record bytes", "chain")
    try:
        check_canonical(rec, data)
    except Failure as f:
        raise Failure(str(f), "chain")
    if rec["key_id"] not in keys:
        raise Failure("key %s is not an accepted (pinned) key" % rec["key_id"])
    key, alg = keys[rec["key_id"]]
    if rec["alg"] == "checkpoint":  # §5: proven by the checkpoints, not signed itself
        if line["signature"]:
            raise Failure("checkpoint-only record with a signature")
        return
    if rec["alg"] != alg:
        raise Failure("record says alg %s but the key is %s" % (rec["alg"], alg))
    try:
        sig = b64(line["signature"])
    except binascii.Error:
        raise Failure("signature is not base64")
    if not signature_ok(key, alg, sig, data):
        raise Failure("bad signature")


# --- the Merkle tree (§2, RFC 9162 §2.1) ---

def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


ABSENT = [leaf_hash(b"")]  # ABSENT[L]: a complete subtree of 2**L absent leaves
for _ in range(63):
    ABSENT.append(node_hash(ABSENT[-1], ABSENT[-1]))


def tiling(a, b):  # levels of the maximal aligned subtrees covering [a, b), left to right
    out = []
    while a < b:
        level = (a & -a).bit_length() - 1 if a else 63
        while a + (1 << level) > b:
            level -= 1
        out.append(level)
        a += 1 << level
    return out


class Frontier:
    """Compact range: the roots of the tiling of [0, size) as (level, hash) pairs."""

    def __init__(self, size, nodes):
        self.size, self.nodes = size, nodes

    def push(self, level, h):  # append an aligned complete subtree of 2**level leaves
        self.size += 1 << level
        while self.nodes and self.nodes[-1][0] == level:
            h = node_hash(self.nodes.pop()[1], h)
            level += 1
        self.nodes.append((level, h))

    def root(self):
        if not self.nodes:
            return hashlib.sha256(b"").digest()
        r = self.nodes[-1][1]
        for _, h in reversed(self.nodes[:-1]):
            r = node_hash(h, r)
        return r

    def copy(self):
        return Frontier(self.size, list(self.nodes))


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


# --- reading the bundle (§4: one gzip member of ustar entries) ---

def ustar_number(field):  # octal digits, after optional spaces, before spaces or NULs
    m = re.fullmatch(rb" *([0-7]+)[ \0]*", field)
    value = int(m[1], 8) if m else -1
    return value if value < INT64 else -1


class Archive:
    """The bundle file as §4 allows it, read once: one gzip member (RFC 1952, its CRC-32 and
    length checked) with nothing after its trailer, holding ustar entries (magic "ustar\\0"
    version "00", unsigned header checksum), then zero blocks (two at least) to its end."""

    def __init__(self, fh, path):
        self.fh, self.path = fh, path
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.pending, self.offset, self.left = b"", 0, 0  # left: of the current entry and its padding

    def fatal(self, why):
        return Fatal(why, "manifest", self.path)

    def read(self, n):  # up to n archive bytes; fewer only at the end of the gzip member
        out = []
        while n > 0:
            if not self.pending:
                if self.z.eof:
                    break
                data = self.z.unconsumed_tail or self.fh.read(1 << 16)
                if not data:
                    raise self.fatal("truncated gzip input (no end of stream)")
                try:
                    self.pending = self.z.decompress(data, 1 << 16)  # at most 64 KiB at a time
                except zlib.error as e:
                    raise self.fatal("corrupt gzip data: %s" % e)
                continue
            take, self.pending = self.pending[:n], self.pending[n:]
            out.append(take)
            n -= len(take)
            self.offset += len(take)
        return b"".join(out)

    def read_exact(self, n, what):
        data = self.read(n)
        if len(data) != n:
            raise self.fatal("the archive ends inside " + what)
        return data

    def entries(self):  # yields (name, type flag, size); read the data with entry_chunks
        while True:
            while self.left:  # what the caller did not read of the last entry
                self.left -= len(self.read_exact(min(self.left, 1 << 16), "an entry"))
            at = self.offset
            h = self.read_exact(512, "a header")
            if h == bytes(512):
                return self.finish()
            bad = lambda why: self.fatal("bad tar header at archive byte %d: %s" % (at, why))
            if ustar_number(h[148:156]) != sum(h[:148]) + 256 + sum(h[156:]):
                raise bad("checksum")
            if h[257:265] != b"ustar\x0000":  # GNU's "ustar  " puts other fields at the prefix
                raise bad('not a POSIX ustar header (magic "ustar" "00")')
            size = ustar_number(h[124:136])
            if size < 0:
                raise bad("size is not octal digits")
            name, prefix = h[:100].split(b"\0")[0], h[345:500].split(b"\0")[0]
            name = (prefix + b"/" + name if prefix else name).decode("utf-8", "surrogateescape")
            self.left = size + (-size % 512)
            self.entry_left = size
            yield name, h[156:157], size

    def entry_chunks(self):  # the current entry's data, in pieces
        while self.entry_left:
            data = self.read_exact(min(self.entry_left, 1 << 16), "an entry")
            self.entry_left -= len(data)
            self.left -= len(data)
            yield data

    def finish(self):  # after the first zero block: only zeros, one block at least, then the end
        zeros = 0
        while data := self.read(1 << 16):
            if data.count(0) != len(data):
                raise self.fatal("data after the end-of-archive zero block (archive byte %d)"
                                 % (self.offset - len(data.lstrip(b"\0"))))
            zeros += len(data)
        if zeros < 512:
            raise self.fatal("the archive ends with one zero block, not two")
        if self.z.unused_data or self.fh.read(1):
            raise self.fatal("bytes after the end of the gzip stream: a bundle is one gzip member "
                             "with nothing after it")


class Entry:
    """One tar entry, read once front to back, hashing every byte handed out."""

    def __init__(self, chunks):
        self.source, self.sha, self.size = chunks, hashlib.sha256(), 0

    def chunks(self):
        for data in self.source:
            self.sha.update(data)
            self.size += len(data)
            yield data

    def read_all(self, kind, where, limit=MAX_WHOLE):
        parts = []
        for chunk in self.chunks():
            if self.size > limit:
                raise Fatal("larger than %d bytes" % limit, kind, where)
            parts.append(chunk)
        return b"".join(parts)

    def lines(self, kind, name):  # yields (line number, bytes, whether a newline ended it)
        buf, number = b"", 0
        for chunk in self.chunks():
            *whole, buf = (buf + chunk).split(b"\n")
            for line in whole:
                number += 1
                if len(line) > MAX_LINE:
                    raise Fatal("longer than %d bytes" % MAX_LINE, kind, "%s line %d" % (name, number))
                yield number, line, True
            if len(buf) > MAX_LINE:
                raise Fatal("longer than %d bytes" % MAX_LINE, kind, "%s line %d" % (name, number + 1))
        if buf:
            yield number + 1, buf, False


# ---- The TPM key statement (§8): information about a key, never a failure of the bundle ----
MAX_TPM_STATEMENT = 16 * 1024  # the "tpm" member's JSON text
TPM_LIMITS = {"ek_certificate": 8192, "ak_public": 1024, "key_public": 1024, "certify_info": 1024,
              "certify_signature": 128}
FIXED_TPM, FIXED_PARENT, SENSITIVE_DATA_ORIGIN, RESTRICTED, SIGN = 1 << 1, 1 << 4, 1 << 5, 1 << 16, 1 << 18
RESIDENT = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN


class TpmBytes:  # big-endian reads over outside bytes; ValueError past the end
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        if len(self.data) - self.pos < n:
            raise ValueError("truncated")
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def uint(self, n):
        return int.from_bytes(self.take(n), "big")

    def tpm2b(self, limit):
        n = self.uint(2)
        if n > limit:
            raise ValueError("a TPM2B of %d bytes, more than %d" % (n, limit))
        return self.take(n)


def tpm_public(data):  # TPM2B_PUBLIC of an ECC P-256 key, nameAlg SHA-256: (attributes, point, name)
    if len(data) > 1024:
        raise ValueError("TPM2B_PUBLIC longer than 1024 bytes")
    r = TpmBytes(data)
    if r.uint(2) != len(data) - 2:
        raise ValueError("TPM2B_PUBLIC size does not match")
    if r.uint(2) != 0x0023 or r.uint(2) != 0x000B:
        raise ValueError("not an ECC key with nameAlg SHA-256")
    attributes = r.uint(4)
    r.tpm2b(64)  # authPolicy
    if r.uint(2) != 0x0010:
        raise ValueError("a storage key (symmetric algorithm set), not a signing key")
    scheme = r.uint(2)
    if scheme not in (0x0010, 0x0018) or (scheme == 0x0018 and r.uint(2) != 0x000B):
        raise ValueError("scheme is neither NULL nor ECDSA with SHA-256")
    if r.uint(2) != 0x0003 or r.uint(2) != 0x0010:
        raise ValueError("curve is not NIST P-256 or kdf is not NULL")
    x, y = r.tpm2b(32), r.tpm2b(32)
    if r.pos != len(data) or len(x) != 32 or len(y) != 32:
        raise ValueError("TPM2B_PUBLIC with bytes after it, or a point not 32 + 32 bytes")
    return attributes, b"\x04" + x + y, b"\x00\x0b" + hashlib.sha256(data[2:]).digest()


def tpm_certify_name(data):  # TPMS_ATTEST of TPM2_Certify: the certified object's name
    if len(data) > 1024:
        raise ValueError("TPMS_ATTEST longer than 1024 bytes")
    r = TpmBytes(data)
    if r.uint(4) != 0xFF544347 or r.uint(2) != 0x8017:
        raise ValueError("not a TPM-generated TPM2_Certify attestation")
    r.tpm2b(66), r.tpm2b(64)  # qualifiedSigner, extraData
    r.take(8 + 4 + 4)  # clock, resetCount, restartCount
    if r.uint(1) > 1:
        raise ValueError("safe is not a boolean")
    r.take(8)  # firmwareVersion
    name, _ = r.tpm2b(66), r.tpm2b(66)
    if r.pos != len(data):
        raise ValueError("TPMS_ATTEST with bytes after it")
    return name


def tpm_nv_certify(data):  # TPMS_ATTEST of TPM2_NV_Certify: (extraData, indexName, offset, nvContents)
    if len(data) > 1024:
        raise ValueError("TPMS_ATTEST longer than 1024 bytes")
    r = TpmBytes(data)
    if r.uint(4) != 0xFF544347 or r.uint(2) != 0x8014:
        raise ValueError("not a TPM-generated TPM2_NV_Certify attestation")
    r.tpm2b(66)  # qualifiedSigner
    extra = r.tpm2b(64)
    r.take(8 + 4 + 4 + 1 + 8)  # clockInfo, firmwareVersion
    name, offset, contents = r.tpm2b(66), r.uint(2), r.tpm2b(1024)
    if r.pos != len(data):
        raise ValueError("TPMS_ATTEST with bytes after it")
    return extra, name, offset, contents


def tpm_nv_public(data):  # TPMS_NV_PUBLIC, nameAlg SHA-256, no policy: (attributes, dataSize, name)
    r = TpmBytes(data)
    r.uint(4)  # nvIndex
    if r.uint(2) != 0x000B:
        raise ValueError("the NV index's nameAlg is not SHA-256")
    attributes, policy, size = r.uint(4), r.tpm2b(64), r.uint(2)
    if r.pos != len(data) or policy:
        raise ValueError("TPMS_NV_PUBLIC with bytes after it, or with an authPolicy")
    return attributes, size, b"\x00\x0b" + hashlib.sha256(data).digest()


MAX_TPM_STARTS = 100000


def tpm_start(e, keys, index_name, ek):  # one entry of tpm_starts.json (§8.4): (the NV index's name, EK certificate)
    if not isinstance(e, dict):
        raise ValueError("not an object")
    for n in ("counter", "head_seq"):
        if not is_int(e.get(n), 0):
            raise ValueError("%s is not an unsigned integer" % n)
    for n in ("head_hash", "key_id"):
        if not (isinstance(e.get(n), str) and re.fullmatch("[0-9a-f]{64}", e[n])):
            raise ValueError("%s is not 64 lowercase hex digits" % n)
    if e["key_id"] not in keys:
        raise ValueError("key %s has no verified TPM statement in keys.json" % e["key_id"])
    ak_public, ek_certificate = keys[e["key_id"]]
    if ek is not None and ek_certificate != ek:
        raise ValueError("another TPM (EK certificate) than the first start's")
    parts = {}
    for n, limit in (("nv_public", 256), ("certify_info", 1024), ("certify_signature", 128)):
        v = e.get(n)
        if not isinstance(v, str) or len(v) > (limit + 2) // 3 * 4:
            raise ValueError("%s is missing, not a string or too long" % n)
        try:
            parts[n] = b64(v)
        except ValueError:
            parts[n] = None
        if parts[n] is None or len(parts[n]) > limit:
            raise ValueError("%s is not base64 of at most %d bytes" % (n, limit))
    attributes, point, _ = tpm_public(ak_public)
    if attributes & (RESIDENT | SIGN | RESTRICTED) != RESIDENT | SIGN | RESTRICTED:
        raise ValueError("certify_signature does not verify with the statement's ak_public")
    try:
        p256(point).verify(parts["certify_signature"], parts["certify_info"], ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("certify_signature does not verify with the statement's ak_public")
    extra, name, offset, contents = tpm_nv_certify(parts["certify_info"])
    nv_attributes, size, nv_name = tpm_nv_public(parts["nv_public"])
    if nv_name != name:
        raise ValueError("certify_info certifies another NV index than nv_public")
    if (nv_attributes >> 4) & 0xF != 1 or size != 8:
        raise ValueError("the NV index is not an 8-byte counter")
    if index_name is not None and name != index_name:
        raise ValueError("not the NV index of the first start")
    if offset != 0 or len(contents) != 8:
        raise ValueError("certify_info is not of the counter's 8 bytes")
    if int.from_bytes(contents, "big") != e["counter"]:
        raise ValueError("counter is not the value certify_info holds")
    if extra.hex() != e["head_hash"]:
        raise ValueError("head_hash is not the qualifying data of certify_info")
    return name, ek_certificate


def tpm_starts(doc, keys):  # tpm_starts.json (§8.4): ([(counter, head_seq, head_hash)], problem or None)
    if not isinstance(doc, list) or not doc:
        return [], "tpm_starts.json is not a non-empty array"
    if len(doc) > MAX_TPM_STARTS:
        return [], "tpm_starts.json has more than %d entries" % MAX_TPM_STARTS
    starts, index_name, ek = [], None, None
    for i, e in enumerate(doc):
        try:
            index_name, ek = tpm_start(e, keys, index_name, ek)
            if starts and e["counter"] <= starts[-1][0]:
                raise ValueError("counter does not increase")
            if starts and e["head_seq"] < starts[-1][1]:
                raise ValueError("head_seq goes back")
            if starts and e["head_seq"] == starts[-1][1] and e["head_hash"] != starts[-1][2]:
                raise ValueError("head_hash differs from the start before at the same head_seq")
        except (ValueError, TypeError) as why:
            return [], "start %d: %s" % (i + 1, why)
        starts.append((e["counter"], e["head_seq"], e["head_hash"]))
    return starts, None


def describe_starts(counters, problem):  # the verifier's line, as the agent words it
    if problem:
        return "claimed but unverifiable (%s)" % problem
    text = "verified (%d %s, counter %d..%d" % (len(counters), "start" if len(counters) == 1 else "starts",
                                               counters[0], counters[-1])
    jumps = [(a, b) for a, b in zip(counters, counters[1:]) if b != a + 1]
    if not jumps:
        return text + ", each start the next)"
    missing = sum(b - a - 1 for a, b in jumps)
    return text + ("; %d %s not in this journal (first after %d, next %d): a journal restored from an old "
                   "copy, or starts that did not commit)"
                   % (missing, "start is" if missing == 1 else "starts are", jumps[0][0], jumps[0][1]))


def p256(point):
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def cert_signed_by(cert, issuer):
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        else:
            return False
        return True
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False


def is_ca(cert):
    from cryptography import x509
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def ek_chain(ek_der, ca_certs, now):  # the EK certificate chains to a self-signed one of the bundle
    from cryptography import x509
    cert = x509.load_der_x509_certificate(ek_der)
    if is_ca(cert):  # an EK certificate is an end entity; a CA of the bundle is not one
        raise ValueError("ek_certificate is a CA certificate, not an EK certificate")
    described = "EK certificate %s issued by %s" % (cert.subject.rfc4514_string(), cert.issuer.rfc4514_string())
    for _ in range(8):
        if not cert.not_valid_before <= now <= cert.not_valid_after:
            raise ValueError("certificate %s is not valid now" % cert.subject.rfc4514_string())
        issuers = [c for c in ca_certs if c.subject == cert.issuer and is_ca(c) and cert_signed_by(cert, c)]
        if not issuers:
            raise ValueError("the EK certificate (issuer %s) does not chain to the TPM CA bundle"
                             % x509.load_der_x509_certificate(ek_der).issuer.rfc4514_string())
        issuer = issuers[0]
        if issuer.subject == issuer.issuer and cert_signed_by(issuer, issuer):
            if not issuer.not_valid_before <= now <= issuer.not_valid_after:
                raise ValueError("root %s is not valid now" % issuer.subject.rfc4514_string())
            return described
        cert = issuer
    raise ValueError("the EK certificate's chain is longer than 8")


def load_tpm_ca(data):
    from cryptography import x509
    certs = []
    for block in re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S):
        certs.append(x509.load_pem_x509_certificate(block))
    return certs


def tpm_claim(statement, spki_der, ca_certs, now=None):  # ("verified" | ..., detail)
    if statement is None:
        return "not claimed", ""
    try:
        compact = json.dumps(statement, separators=(",", ":"), ensure_ascii=False).encode()  # as the agent measures
        if not isinstance(statement, dict) or len(compact) > MAX_TPM_STATEMENT:
            raise ValueError("the statement is not a JSON object of at most 16 KiB")
        if statement.get("format") != "mrv-tpm-key/1":
            raise ValueError("format is not mrv-tpm-key/1")
        part = {}
        for name, limit in TPM_LIMITS.items():
            text = statement.get(name)
            if not isinstance(text, str):
                raise ValueError("no " + name)
            if len(text) > (limit + 2) // 3 * 4 or len(b64(text)) > limit:
                raise ValueError(name + " is too long")
            part[name] = b64(text)
        attributes, point, name = tpm_public(part["key_public"])
        if attributes & (RESIDENT | SIGN) != RESIDENT | SIGN:
            raise ValueError("key_public lacks fixedTPM, fixedParent, sensitiveDataOrigin or sign")
        key_spki = p256(point).public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        if key_spki != spki_der:
            raise ValueError("the attested key is not this signing key")
        ak_attributes, ak_point, _ = tpm_public(part["ak_public"])
        if ak_attributes & (RESIDENT | SIGN | RESTRICTED) != RESIDENT | SIGN | RESTRICTED:
            raise ValueError("ak_public is not a restricted signing key with fixedTPM, fixedParent, "
                             "sensitiveDataOrigin")
        if tpm_certify_name(part["certify_info"]) != name:
            raise ValueError("certify_info certifies another key (its name differs)")
        try:
            p256(ak_point).verify(part["certify_signature"], part["certify_info"], ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ValueError("certify_signature does not verify with ak_public")
        if not ca_certs:
            raise ValueError("no TPM manufacturer CA bundle given (--tpm-ca)")
        now = now or datetime.datetime.utcnow()
        return "verified", ek_chain(part["ek_certificate"], ca_certs, now)
    except (ValueError, TypeError, Failure) as e:
        return "claimed but unverifiable", str(e)


class Bundle:
    def __init__(self, pinned, since_text, report, registry_keys=None, tpm_ca=None):
        self.pinned, self.since_text, self.report = pinned, since_text, report
        self.tpm_ca = tpm_ca or []  # TPM manufacturers' certificates (§8)
        self.registry_keys = registry_keys or {}  # may sign the manifest, never records
        self.registry_signer = None  # the id of the registry key that signed the manifest
        self.require_cosigned = False  # --require-cosigned (§3.1)
        self.keys_as_listed = False  # keys.json has the size and SHA-256 the manifest lists
        self.activations = {}  # key id -> (claimed?, its "tpm_activation") for keys whose statement verified
        self.start_keys = {}  # key id -> (ak_public, EK certificate) of a statement that verified (§8.4)
        self.starts, self.heads = None, {}  # tpm_starts.json: (counters, problem); head_seq -> head_hash unconfirmed
        self.keys = dict(pinned)  # accepted keys: id -> (key, alg)
        self.manifest, self.entries, self.configs = None, {}, {}
        self.closing, self.since = None, None  # closing: (tree size, root, right)
        self.cosigned_items, self.cosigned_later = [], False  # §3.1, §4.3 (False: absent)
        self.tree, self.pending = None, []
        self.count, self.first, self.last, self.prev = 0, None, None, None  # prev: (seq, hash)
        self.listed, self.items, self.window = {}, 0, [None, None]
        self.gaps = {"records": [hashlib.sha256(), 0], "gaps.ndjson": [hashlib.sha256(), 0]}
        self.serials = {}  # point -> meter_serial last seen
        self.passing = {}  # meter_serial -> [(from_ms, until_ms)] of recorded passing calibrations
        self.calibrations_seen = set()  # seqs of calibration site records taken
        self.manifest_bytes, self.manifest_sig, self.manifest_signed = b"", None, False
        self.seen, self.rank, self.whole = set(), (-1, ""), 0  # step 1: names, order, bytes read whole

    def fail(self, message, kind, where=""):
        self.report.fail(Failure(message, kind, where))

    def entry(self, index, name, typeflag, archive):  # step 1 for one entry, then its own step
        which = "entry %d (%r)" % (index + 1, name)
        if typeflag not in (b"0", b"\0"):
            raise Fatal("not a regular file (tar type %r); bundles have plain ustar entries, no pax "
                        "or GNU headers" % typeflag.decode("latin-1"), "manifest", which)
        if name in self.seen:
            raise Fatal("appears twice", "manifest", which)
        self.seen.add(name)
        if index == 0 and name != "manifest.json":
            raise Fatal("the first entry is %r, not manifest.json" % name, "manifest")
        if index == 1 and name != "manifest.sig":
            raise Fatal("the second entry is %r, not manifest.sig" % name, "manifest")
        rank = CONFIGS_RANK if CONFIG_NAME.fullmatch(name) else (
            ENTRY_ORDER.index(name) if name in ENTRY_ORDER and name != "configs/" else None)
        if rank is None and name.startswith("configs/"):
            self.fail("not named configs/<64 hex>.toml", "configs", name)
        elif rank is None:
            self.fail("unexpected entry", "manifest", name)
        elif rank < self.rank[0] or (rank == self.rank[0] and rank != CONFIGS_RANK):
            raise Fatal("comes after %s: the entries must come in the order of §4" % self.rank[1],
                        "manifest", which)
        else:
            self.rank = (rank, name)
        entry = Entry(archive.entry_chunks())
        self.read_entry(name, entry)
        for _ in entry.chunks():  # hash whatever was not read
            pass
        if name not in ("manifest.json", "manifest.sig"):
            self.entries[name] = (entry.size, entry.sha.hexdigest())

    def read_whole(self, entry, kind, name):  # an entry read whole, within the limits of §6 (step 1)
        data = entry.read_all("manifest", name, MAX_MANIFEST_SIG if name == "manifest.sig" else MAX_WHOLE)
        self.whole += len(data)
        if self.whole > MAX_WHOLE_TOTAL:
            raise Fatal("the entries read whole come to more than %d bytes together" % MAX_WHOLE_TOTAL,
                        "manifest", name)
        return data

    def read_entry(self, name, entry):
        config = CONFIG_NAME.fullmatch(name)
        try:
            if name == "manifest.json":
                self.manifest_bytes = self.read_whole(entry, "manifest", name)
                self.read_manifest(load_json(self.manifest_bytes, "manifest", name))
            elif name == "manifest.sig":
                self.manifest_sig = load_json(self.read_whole(entry, "manifest", name), "manifest", name)
            elif name == "keys.json":
                data = self.read_whole(entry, "keys", name)
                self.keys_as_listed = self.listed.get(name) == (len(data), hashlib.sha256(data).hexdigest())
                self.read_keys(load_json(data, "keys", name))
            elif config:
                self.read_config(config.group(1), self.read_whole(entry, "configs", name), name)
            elif name == "checkpoints.json":
                if "keys.json" not in self.entries:
                    raise Fatal("keys.json must come before checkpoints.json", "keys", name)
                self.read_checkpoints(load_json(self.read_whole(entry, "checkpoints", name), "checkpoints", name))
            elif name == "tpm_starts.json":  # information, never a failure (§8.4)
                data = self.read_whole(entry, "tpm", name)  # over the size limit: Fatal, as in the agent
                try:
                    doc = load_json(data, "tpm", name)
                    starts, problem = tpm_starts(doc, self.start_keys)
                except Failure:
                    starts, problem = [], "tpm_starts.json is not JSON within the limits of §6.1"
                self.starts = ([c for c, _, _ in starts], problem)
                self.heads = {seq: h for _, seq, h in starts}
            elif name == "report.json":  # only its form is checked here (docs/verify_report.py checks it)
                doc = load_json(self.read_whole(entry, "report", name), "report", name)
                if not isinstance(doc, dict):
                    raise Failure("not a JSON object", "report", name)
                self.read_report(doc)
            elif name == "records.ndjson":
                self.read_records(entry)
            elif name == "gaps.ndjson":
                self.read_gaps(entry)
        except Fatal:
            raise
        except Failure as f:
            if name == "manifest.json":
                raise Fatal(str(f), f.kind, f.where)
            self.report.fail(f)

    def read_report(self, doc):  # step 9, the part that needs no recomputation: its findings
        findings = cross_check_findings(doc)
        for text in findings:
            self.report.find_text(text)
        site = doc.get("site_records")
        for line in (site.get("lines") if isinstance(site, dict) else None) or []:
            try:  # the report's own site records (verify_report.py checks their signatures)
                self.calibration(json.loads(line["record"]), line["seq"])
            except (TypeError, KeyError, ValueError):
                pass
        self.report.notes.append("report.json: its signature, annex and site records are checked by "
                                 "docs/verify_report.py and its numbers by mrv-agent verify, not here%s"
                                 % ("; its failed cross-checks are its own statement" if findings else ""))

    def read_manifest(self, m):  # step 1 (the files are compared in finish)
        fail = lambda why: Fatal(why, "manifest", "manifest.json")
        if not isinstance(m, dict) or m.get("format") != "mrv-bundle/1":
            raise fail("format is not mrv-bundle/1")
        if not (isinstance(m.get("site"), str) and m.get("origin") == "mrv-agent/%s" % m.get("site")):
            raise fail("site is not a string or origin is not mrv-agent/<site>")
        for k in ("from_ms", "to_ms", "created_ms", "first_seq", "last_seq", "records"):
            if not is_int(m.get(k), 0):
                raise fail("%s is not a non-negative integer" % k)
        first, last, n = m["first_seq"], m["last_seq"], m["records"]
        if (first, last) != (0, 0) if n == 0 else not (1 <= first <= last and n <= last - first + 1):
            raise fail("first_seq %d, last_seq %d and records %d do not agree" % (first, last, n))
        files = m.get("files")
        if not isinstance(files, list):
            raise fail("files is not a list")
        self.listed = {}
        for f in files:
            if not (isinstance(f, dict) and isinstance(f.get("name"), str) and is_int(f.get("bytes"), 0)
                    and isinstance(f.get("sha256"), str) and HEX64.fullmatch(f["sha256"])):
                raise fail("a files item is not {name, bytes, sha256}")
            if f["name"] in self.listed or f["name"] in ("manifest.json", "manifest.sig"):
                raise fail("files lists %r twice, or lists the manifest or its signature" % f["name"])
            self.listed[f["name"]] = (f["bytes"], f["sha256"])
        self.manifest = m

    def read_keys(self, doc):  # step 2
        if not isinstance(doc, list):
            raise Failure("not an array", "keys", "keys.json")
        listed = {}
        for i, k in enumerate(doc):  # oldest first, but that is for people, not a check (§4.2)
            where = "keys.json key %d" % (i + 1)
            if not (isinstance(k, dict) and isinstance(k.get("public_key_pem"), str)
                    and is_int(k.get("first_used_ms"))):
                raise Failure("not {key_id, algorithm, public_key_pem, first_used_ms}", "keys", where)
            try:
                kid, key, alg = load_key(k["public_key_pem"].encode("utf-8"))
            except (Failure, UnicodeEncodeError):
                raise Failure("public_key_pem is not an Ed25519 or P-256 PEM key", "keys", where)
            if (k.get("key_id"), k.get("algorithm")) != (kid, alg):
                raise Failure("key_id or algorithm does not match the key (%s, %s)" % (kid, alg), "keys", where)
            listed[kid] = (key, alg)
            if kid in self.report.tpm:  # a key listed twice: its first entry speaks for it, as in the agent
                continue
            spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            claim, detail = tpm_claim(k.get("tpm"), spki, self.tpm_ca)
            self.report.tpm[kid] = claim + (" (%s)" % detail if detail else "")
            if claim == "verified":
                self.activations[kid] = ("tpm_activation" in k, k.get("tpm_activation"))
                self.start_keys[kid] = (b64(k["tpm"]["ak_public"]), b64(k["tpm"]["ek_certificate"]))
        if not self.pinned:
            self.keys = listed
        self.check_manifest_signature()
        self.describe_activations()

    def describe_activations(self):  # §8.5: an activation counts where its registry signed the manifest
        for kid, (claimed, a) in self.activations.items():
            if not claimed:
                said = "the attestation key was not activated by a registry: its binding to this EK is the site's word"
            else:
                rid, at = (a.get("registry_key_id"), a.get("activated_at")) if isinstance(a, dict) else (None, None)
                if not (isinstance(rid, str) and re.fullmatch("[0-9a-f]{64}", rid) and isinstance(at, str)
                        and len(at) <= 40 and site_instant_ms(at) is not None):
                    said = ("its tpm_activation is malformed (registry_key_id must be 64 hex digits, "
                            "activated_at a UTC time)")
                elif rid == self.registry_signer and self.keys_as_listed:  # the signed manifest lists this keys.json
                    said = "the attestation key was activated in that TPM by registry %s at %s" % (rid, at)
                else:
                    said = ("an activation by registry %s is claimed, but no --registry-key of that id signed "
                            "the manifest" % rid)
            self.report.tpm[kid] = self.report.tpm[kid][:-1] + "; " + said + ")"

    def check_manifest_signature(self):  # step 1: the manifest's claims are the agent's
        self.manifest_signed = True
        sig = self.manifest_sig
        if not (isinstance(sig, dict) and isinstance(sig.get("key_id"), str) and isinstance(sig.get("signature"), str)):
            raise Failure("manifest.sig is not {key_id, signature}", "manifest", "manifest.sig")
        key = self.keys.get(sig["key_id"])
        try:
            raw = b64(sig["signature"])
        except (binascii.Error, ValueError):
            raw = b""
        if key is None or not signature_ok(key[0], key[1], raw, self.manifest_bytes):
            key = self.registry_keys.get(sig["key_id"])  # a registry's bundle: its range claim
            if key is not None and signature_ok(key[0], key[1], raw, self.manifest_bytes):
                self.registry_signer = sig["key_id"]
            else:
                raise Failure("the manifest's signature does not verify with a pinned key"
                              + (" (a registry signed it: give its key with --registry-key)"
                                 if sig.get("signer") == "registry" else ""), "manifest", "manifest.sig")

    def read_config(self, digest, raw, name):  # step 3; keeps only the points, by id
        self.configs[digest] = None
        if hashlib.sha256(raw).hexdigest() != digest:
            raise Failure("SHA-256 differs from the name", "configs", name)
        if len(raw) > MAX_TOML_BYTES:  # tomllib holds every value (§6.1)
            raise Failure("larger than %d bytes" % MAX_TOML_BYTES, "configs", name)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Failure("not UTF-8 TOML", "configs", name)
        deep = toml_depth_error(text)  # before tomllib, which recurses per level
        if deep is not None:
            raise Failure("TOML nested deeper than %d levels" % MAX_TOML_NESTING, "configs", "%s:%d" % (name, deep))
        try:
            points = tomllib.loads(text).get("points", [])
        except (ValueError, RecursionError):
            raise Failure("not TOML", "configs", name)
        if not isinstance(points, list):
            raise Failure("points is not an array of tables", "configs", name)
        self.configs[digest] = {p["id"]: p for p in reversed(points)
                                if isinstance(p, dict) and isinstance(p.get("id"), str)}

    def read_checkpoint(self, index, c):  # step 4 for one item; returns (size, root, right)
        where = "checkpoints.json checkpoint %d" % (index + 1)
        if not (isinstance(c, dict) and is_int(c.get("tree_size"), 0)
                and isinstance(c.get("note"), str) and isinstance(c.get("reason"), str)):
            raise Failure("not {tree_size, reason, note, right}", "checkpoints", where)
        where += " (tree size %d)" % c["tree_size"]
        right = hex_hashes(c.get("right"), "checkpoints", where + " right")
        size, root = self.check_note(c["note"], "checkpoints", where)
        if size != c["tree_size"]:
            raise Failure("the note says tree size %d" % size, "checkpoints", where)
        cosigs = cosignature_lines(c, "checkpoints", where)
        self.cosigned_items[index] = (size, parse_note(c["note"], "checkpoints", where)[4], cosigs)
        return size, root, right

    def check_note(self, note, kind, where):  # step 4 for a note; an unsigned one is still used
        origin, size, root, _, body, sigs = parse_note(note, kind, where)  # for the tree's messages
        if origin != self.manifest["origin"]:
            self.fail("note origin %r is not the manifest's" % origin, kind, where)
        elif note_signer(origin, body, sigs, self.keys) is None:
            self.fail("no valid signature of an accepted (pinned) key", kind, where)
        return size, root

    def read_checkpoints(self, doc):  # steps 4 and (with `left`) the start of step 6
        m = self.manifest
        if not isinstance(doc, dict) or not isinstance(doc.get("checkpoints"), list):
            raise Failure("not an object with a checkpoints list", "checkpoints", "checkpoints.json")
        items, parsed = doc["checkpoints"], []
        self.items = len(items)
        self.cosigned_items = [None] * len(items)  # (tree size, signed text, cosignatures) of each valid one
        for i, c in enumerate(items):
            try:
                parsed.append(self.read_checkpoint(i, c))
            except Failure as f:
                parsed.append(None)
                self.report.fail(f)
        sizes = [c["tree_size"] if isinstance(c, dict) and is_int(c.get("tree_size")) else -1 for c in items]
        where = "checkpoints.json"
        if m["records"] == 0 and items:
            self.fail("a bundle without records has checkpoints", "checkpoints", where)
        elif m["records"] and not (sizes and sizes[-1] >= m["last_seq"]):
            self.fail("no closing checkpoint (tree size >= last_seq %d)" % m["last_seq"], "checkpoints", where)
        elif any(a >= b for a, b in zip(sizes, sizes[1:])):
            self.fail("tree sizes are not increasing", "checkpoints", where)
        elif any(not m["first_seq"] <= s < m["last_seq"] for s in sizes[:-1]):
            self.fail("a checkpoint before the closing one is outside [first_seq, last_seq]", "checkpoints", where)
        if parsed and parsed[-1] and parsed[-1][0] >= m["last_seq"]:
            self.closing = parsed[-1]
        self.pending = sorted(c for c in parsed[:-1] if c)
        if any(c[2] for c in self.pending):
            self.fail("right is not empty in a checkpoint before the closing one", "checkpoints", where)
        self.since = doc.get("since")
        self.cosigned_later = doc["cosigned_later"] if "cosigned_later" in doc else False  # null is malformed
        left = hex_hashes(doc.get("left"), "tree", "checkpoints.json left")
        start = max(m["first_seq"] - 1, 0)
        levels = tiling(0, start)
        if len(left) != len(levels):
            raise Failure("left holds %d roots; the tiling of [0, %d) has %d"
                          % (len(left), start, len(levels)), "tree", "checkpoints.json left")
        self.tree = Frontier(start, list(zip(levels, left)))

    def read_records(self, entry):  # steps 5 and 6, line by line
        if "keys.json" not in self.entries or "checkpoints.json" not in self.entries:
            raise Fatal("keys.json and checkpoints.json must come before records.ndjson", "manifest",
                        "records.ndjson")
        for number, raw, ended in entry.lines("chain", "records.ndjson"):
            self.count += 1
            self.record(number, raw, ended)

    def record(self, number, raw, ended):
        where = "records.ndjson line %d" % number
        try:
            line, data, rec = parse_line(raw, ended)
        except Failure as f:
            self.fail(str(f), f.kind, where)
            if self.tree is not None:  # without seq and bytes neither chain nor tree goes on
                self.report.notes.append("tree not rebuilt past " + where)
            self.prev = self.tree = None
            return
        seq = self.last = line["seq"]
        where += " (seq %d)" % seq
        if self.first is None:
            self.first, self.window[0] = seq, rec.get("ts_ms")
        self.window[1] = rec.get("ts_ms")  # the first and last record's ts_ms
        passed = True  # the record's own checks (2 to 5): its fields can be read
        for own, check in ((True, lambda: check_record(line, data, rec, self.keys)),
                           (False, lambda: self.check_chain(rec, seq)),
                           (False, lambda: self.tree_add(seq, data, where))):
            try:
                check()
            except Failure as f:
                passed = passed and not own
                self.fail(str(f), f.kind, where)
        if passed and self.heads:  # a start's head is this record, or the one before the first
            if self.count == 1:
                self.confirm_head(seq - 1, rec.get("prev"))
            self.confirm_head(seq, hashlib.sha256(data).hexdigest())
        self.prev = (seq, hashlib.sha256(data).hexdigest())
        if rec.get("quality") != "good":
            self.add_gap("records", {k: rec.get(k) for k in GAP_FIELDS})
        config = rec.get("config")
        if not isinstance(config, str) or config not in self.configs:
            self.fail("config %r has no configs/ entry" % (config,), "configs", where)
        elif passed and self.configs[config] is not None:
            self.metrology(rec, seq)

    def confirm_head(self, seq, hash_hex):
        if seq in self.heads and self.starts and not self.starts[1]:
            if self.heads.pop(seq) != hash_hex:
                self.starts = ([], "the head_hash of the start at seq %d is not that record's hash" % seq)

    def check_chain(self, rec, seq):  # check 6, and the site of step 5
        if rec.get("site") != self.manifest["site"]:
            raise Failure("site %r is not the manifest's" % rec.get("site"), "chain")
        prev = self.prev
        if rec.get("type") == "chain-segment":
            if prev and seq <= prev[0]:
                raise Failure("chain-segment does not follow seq %d" % prev[0], "chain")
            self.report.add_break(seq, rec.get("reason"))
        elif prev is None:
            if seq == 1 and rec.get("prev") != "0" * 64:
                raise Failure("seq 1 does not start from the all-zero prev", "chain")
        elif seq != prev[0] + 1:
            raise Failure("follows seq %d (expected seq %d)" % (prev[0], prev[0] + 1), "chain")
        elif rec.get("prev") != prev[1]:
            raise Failure("prev does not match the hash of seq %d" % prev[0], "chain")

    def tree_add(self, seq, data, where):  # step 6 for one record
        if self.tree is None:
            return
        if seq <= self.tree.size:
            size, self.tree = self.tree.size, None
            raise Failure("seq %d does not come after tree size %d; the tree is not rebuilt further"
                          % (seq, size), "tree")
        while self.tree.size < seq - 1:  # absent leaves before a declared break
            stop = seq - 1
            if self.pending and self.tree.size < self.pending[0][0] < stop:
                stop = self.pending[0][0]  # stop there to compare the checkpoint's root
            for level in tiling(self.tree.size, stop):
                self.tree.push(level, ABSENT[level])
            self.compare_pending("absent leaves before " + where)
        self.tree.push(0, leaf_hash(data))
        self.compare_pending(where)

    def compare_pending(self, where):
        while self.pending and self.pending[0][0] <= self.tree.size:
            size, root, _ = self.pending.pop(0)
            if size == self.tree.size and self.tree.root() != root:
                self.fail("the tree root at size %d differs from its checkpoint's" % size, "tree", where)

    def add_gap(self, side, obj):  # step 8 compares digests, so neither list is held
        self.gaps[side][0].update(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() + b"\n")
        self.gaps[side][1] += 1

    def read_gaps(self, entry):
        for number, raw, ended in entry.lines("gaps", "gaps.ndjson"):
            try:
                obj, why = parse_json(raw.decode("utf-8")), "not a JSON object line"
            except (UnicodeDecodeError, ValueError) as e:
                obj, why = None, str(e) if "JSON " in str(e) else "not a JSON object line"
            if not ended or not isinstance(obj, dict):
                self.fail(why, "gaps", "gaps.ndjson line %d" % number)
            self.add_gap("gaps.ndjson", obj)

    def calibration(self, rec, seq):  # step 10: recorded calibrations (site records)
        if not isinstance(rec, dict) or rec.get("type") != "site-record" or seq in self.calibrations_seen:
            return
        try:
            details = json.loads(rec["reason"])
        except (KeyError, TypeError, ValueError):
            return
        if not isinstance(details, dict) or details.get("kind") != "calibration":
            return
        self.calibrations_seen.add(seq)
        serial = details.get("meter_serial")
        if details.get("result") == "pass":
            until = site_instant_ms(details.get("valid_until", ""))
            if until is not None:
                self.passing.setdefault(serial, []).append((rec["ts_ms"], until))
            return
        self.report.find_text("meter %s (point %s): calibration of %s failed, error %s %%, certificate %s "
                              "(sha256 %s, %s; site record seq %d)" % (
                                  serial, rec.get("point"), utc_text(rec["ts_ms"]), rec.get("value"),
                                  details.get("certificate"), details.get("certificate_sha256"),
                                  details.get("laboratory"), seq))

    def metrology(self, rec, seq):  # step 10
        if rec["type"] == "site-record":
            return self.calibration(rec, seq)
        if rec["type"] != "reading":
            return
        point, config = rec["point"], rec["config"]
        entry = self.configs[config].get(point)
        about = "point %s (config %s…)" % (point, config[:12])
        if entry is None:
            return self.report.find(about + " is not in its config", seq)
        serial = entry.get("meter_serial")
        if not isinstance(serial, str) or not serial:
            self.report.find(about + " has no meter_serial", seq)
        else:
            old = self.serials.get(point)
            if old is not None and old != serial:
                self.report.note_once("meter exchange: point %s: meter_serial %s, then %s from seq %d"
                                      % (point, old, serial, seq), (point, old, serial))
            self.serials[point] = serial
        until = entry.get("calibration_valid_until")
        if until is not None and type(until) is not datetime.date:
            self.report.find(about + " has a calibration_valid_until that is not a date", seq)
        elif until is not None and rec["ts_ms"] >= (until.toordinal() - EPOCH_DAY + 1) * 86400000 and not any(
                a <= rec["ts_ms"] < b for a, b in self.passing.get(serial, [])):  # a recorded pass covers it
            self.report.find(about + ": calibration expired (valid until %s)" % until, seq)

    def finish(self):
        m = self.manifest
        for name, (size, digest) in self.entries.items():  # step 1
            if name not in self.listed:
                self.fail("not listed in the manifest", "manifest", name)
            elif self.listed[name] != (size, digest):
                self.fail("size or SHA-256 differs from the manifest", "manifest", name)
        for name in self.listed.keys() - self.entries.keys():
            self.fail("listed in the manifest but missing", "manifest", name)
        for name in ("keys.json", "checkpoints.json", "records.ndjson", "gaps.ndjson", "quarantine.ndjson"):
            if name not in self.entries:
                self.fail("missing", "manifest", name)
        if not self.manifest_signed:
            self.fail("the manifest's signature was never checked (no keys.json?)", "manifest", "manifest.sig")
        if "records.ndjson" in self.entries:
            self.finish_records(m)
        self.finish_since()
        self.finish_cosignatures()
        if self.starts is not None:
            counters, problem = self.starts
            if not problem and self.heads:
                problem = "the head of the start at seq %d is not among the bundle's records" % min(self.heads)
            self.report.starts = describe_starts(counters, problem)
        elif any(not claim.startswith("not claimed") for claim in self.report.tpm.values()):
            self.report.starts = "not claimed"
        (ours, n), (theirs, k) = self.gaps["records"], self.gaps["gaps.ndjson"]
        if "gaps.ndjson" in self.entries and ours.digest() != theirs.digest():
            self.fail("differs from the %d gaps recomputed from the records (it has %d lines)" % (n, k),
                      "gaps", "gaps.ndjson")

    def finish_records(self, m):  # the end of steps 5 and 6
        last = self.last or 0
        if (self.first or 0, last, self.count) != (m["first_seq"], m["last_seq"], m["records"]):
            self.fail("records hold %d records, seq %d..%d; the manifest says %d, seq %d..%d"
                      % (self.count, self.first or 0, last, m["records"], m["first_seq"], m["last_seq"]),
                      "chain", "records.ndjson")
        for ts, which in zip(self.window, ("first", "last")):  # §4: both lie in the window
            if is_int(ts) and not m["from_ms"] <= ts < m["to_ms"]:
                self.report.notes.append("the %s record's ts_ms %d is outside the manifest's from_ms..to_ms"
                                         % (which, ts))
        if self.tree is None or self.closing is None:
            return
        for size, _, _ in self.pending:
            self.fail("the records end before the checkpoint of tree size %d" % size, "tree", "records.ndjson")
        size, root, right = self.closing
        levels = tiling(self.tree.size, size)
        where = "checkpoints.json closing checkpoint (tree size %d)" % size
        if size < self.tree.size or len(right) != len(levels):
            return self.fail("right holds %d roots; the tiling of [%d, %d) has %d"
                             % (len(right), self.tree.size, size, len(levels)), "tree", where)
        tree = self.tree.copy()
        for level, h in zip(levels, right):
            tree.push(level, h)
        if tree.root() != root:
            self.fail("the root rebuilt from the records and right differs from the checkpoint's", "tree", where)

    def finish_since(self):  # step 7
        where = "checkpoints.json since"
        if self.since is None:
            if self.since_text is not None:
                self.fail("--since-checkpoint was given but the bundle has no since", "since", where)
            return
        if not (isinstance(self.since, dict) and isinstance(self.since.get("note"), str)):
            return self.fail("since is not {note, consistency}", "since", where)
        try:
            proof = hex_hashes(self.since.get("consistency"), "since", where + " consistency")
            m, old_root = self.check_note(self.since["note"], "since", where)
        except Failure as f:
            return self.report.fail(f)
        if self.since_text is None:
            self.report.notes.append("since checkpoint (tree size %d) verified, but not compared "
                                     "with one you hold (no --since-checkpoint)" % m)
        elif self.since["note"].encode("utf-8") != self.since_text:
            return self.fail("since.note differs from the --since-checkpoint file", "since", where)
        if self.closing is None:
            return self.fail("no valid closing checkpoint to prove consistency with", "since", where)
        n, new_root, _ = self.closing
        if m > n:
            return self.fail("its tree size %d is above the closing size %d" % (m, n), "since", where)
        if not consistency_ok(m, n, old_root, new_root, proof):
            self.fail("the consistency proof from tree size %d to %d does not verify" % (m, n), "since", where)


    def later_cosigned(self):  # §4.3 cosigned_later: (size, signed text, cosignatures, proven) or None
        where, later = "checkpoints.json cosigned_later", self.cosigned_later
        if later is False:
            return None
        if not (isinstance(later, dict) and isinstance(later.get("note"), str)):
            return self.fail("cosigned_later is not {note, cosignatures, consistency}", "cosigned_later", where)
        try:
            proof = hex_hashes(later.get("consistency"), "cosigned_later", where + " consistency")
            before = len(self.report.failures)
            size, root = self.check_note(later["note"], "cosigned_later", where)
            signed = len(self.report.failures) == before  # check_note files a bad signature, then goes on
            cosigs = cosignature_lines(later, "cosigned_later", where)
        except Failure as f:
            return self.report.fail(f)
        proven = False
        if self.closing is None:
            self.fail("no closing checkpoint to prove consistency with", "cosigned_later", where)
        elif size <= self.closing[0] or not consistency_ok(self.closing[0], size, self.closing[1], root, proof):
            self.fail("the later checkpoint of tree size %d is not consistent with the closing checkpoint of "
                      "tree size %d" % (size, self.closing[0]), "cosigned_later", where)
        else:
            proven = signed
        return size, parse_note(later["note"], "cosigned_later", where)[4], cosigs, proven

    def finish_cosignatures(self):  # §3.1: information, unless --require-cosigned
        later, bad, cosigned, listed = self.later_cosigned(), None, 0, 0
        for item in self.cosigned_items:
            if item is None:
                continue
            listed += len(item[2])
            found, bad_here = registry_cosignature(item[2], item[1], self.registry_keys)
            cosigned += found is not None
            if bad_here and not bad:
                bad = "checkpoint of tree size %d: %s" % (item[0], bad_here)
        later_found = None
        if later:
            listed += len(later[2])
            later_found, bad_here = registry_cosignature(later[2], later[1], self.registry_keys)
            if bad_here and not bad:
                bad = "the later checkpoint of tree size %d: %s" % (later[0], bad_here)
            if not later[3]:
                later_found = None  # only a later checkpoint signed and proven consistent counts
        if bad:
            self.fail(bad, "cosignature", "checkpoints.json")
        if not self.registry_keys:
            if listed:
                self.report.cosigned = "not checked (give the registry's key with --registry-key)"
            return
        count = "%d of %d checkpoints" % (cosigned, self.items)
        last = self.cosigned_items[-1] if self.cosigned_items else None
        closing = registry_cosignature(last[2], last[1], self.registry_keys)[0] if last else None
        if closing:
            self.report.cosigned = "the closing checkpoint (tree size %d) by %s; %s" % (
                last[0], describe_cosignature(*closing), count)
        elif later_found and last:
            self.report.cosigned = ("a later checkpoint (tree size %d), consistent with the closing one "
                                    "(tree size %d), by %s; %s" % (later[0], last[0],
                                                                   describe_cosignature(*later_found), count))
        else:
            self.report.cosigned = "not cosigned (%s)" % count
            if self.require_cosigned:
                self.fail("neither the closing checkpoint nor a later one consistent with it is cosigned by a "
                          "given --registry-key", "cosignature", "checkpoints.json")


def cross_check_findings(report):  # as docs/verify_report.py: one text per failed cross-check
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


class Report:
    def __init__(self):
        self.failures, self.breaks, self.findings, self.notes = {}, [], {}, []
        self.tpm = {}  # key id -> what its TPM statement shows (§8)
        self.starts = ""  # what tpm_starts.json shows (§8.4)
        self.cosigned = ""  # what the registry's cosignatures show (§3.1)
        self.texts = []  # findings that are not about readings (a report's failed cross-checks)
        self.noted = set()

    def fail(self, f):  # keeps the first failure of each kind
        self.failures.setdefault(f.kind, "%s: %s" % (f.where, f) if f.where else str(f))

    def add_break(self, seq, reason):
        if len(self.breaks) < 1000:
            self.breaks.append("seq %d: %s" % (seq, reason))

    def find(self, what, seq):  # one finding per kind of problem, with a count
        entry = self.findings.setdefault(what, [seq, 0])
        entry[1] += 1

    def find_text(self, text):
        self.texts.append(text)

    def note_once(self, text, key):
        if key not in self.noted:
            self.noted.add(key)
            self.notes.append(text)

    def verdict(self):
        if self.failures:
            return "INVALID", 1
        if self.breaks:
            return "VALID WITH DECLARED BREAKS", 3
        if self.findings or self.texts:
            return "VALID WITH METROLOGY FINDINGS", 4
        return "VALID", 0

    def finding_lines(self):
        return ["%s: %d reading(s), first at seq %d" % (what, n, seq)
                for what, (seq, n) in self.findings.items()] + self.texts


def safe(text):  # untrusted text must not start new lines or drive the terminal
    return "".join(c if c.isprintable() or c == " " else "\\u%04x" % ord(c) for c in str(text))


def verify(path, pinned, since_text, report, registry_keys=None, tpm_ca=None, require_cosigned=False):
    bundle = Bundle(pinned, since_text, report, registry_keys, tpm_ca)
    bundle.require_cosigned = require_cosigned
    try:
        try:
            fh = open(path, "rb")
        except OSError as e:
            raise UsageError("%s: cannot read it: %s" % (path, e.strerror))
        with fh:
            archive = Archive(fh, path)
            for index, (name, typeflag, _) in enumerate(archive.entries()):
                bundle.entry(index, name, typeflag, archive)
        if bundle.manifest is None:
            raise Fatal("the bundle has no entries", "manifest", path)
        bundle.finish()
    except Failure as f:
        report.fail(f)
    return bundle


def read_input(path, what):  # a file named on the command line; UsageError if unreadable
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_WHOLE + 1)
    except OSError as e:
        raise UsageError("%s %s: cannot read it: %s" % (what, path, e.strerror))
    if len(data) > MAX_WHOLE:
        raise UsageError("%s %s: larger than %d bytes" % (what, path, MAX_WHOLE))
    return data


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", help="the bundle, BUNDLE.tar.gz")
    p.add_argument("--public-key", action="append", default=[], metavar="PEM",
                   help="pinned public key obtained out of band; repeatable")
    p.add_argument("--registry-key", action="append", default=[], metavar="PEM",
                   help="a registry's public key: may sign the manifest of its bundles, never records; "
                   "its cosignatures of checkpoints are checked")
    p.add_argument("--require-cosigned", action="store_true", help="fail unless the closing checkpoint, or a "
                   "later one consistent with it, is cosigned by a --registry-key")
    p.add_argument("--since-checkpoint", metavar="FILE", help="a checkpoint note you already hold")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--tpm-ca", metavar="PEM", help="TPM manufacturers' CA certificates: check each key's "
                   "TPM statement (key held in a TPM: verified / not claimed / claimed but unverifiable)")
    args = p.parse_args()
    if args.require_cosigned and not args.registry_key:
        p.error("--require-cosigned needs --registry-key")
    report, bundle = Report(), None
    try:
        pinned, registry_keys = {}, {}
        for paths, keys in ((args.public_key, pinned), (args.registry_key, registry_keys)):
            for path in paths:
                try:
                    kid, key, alg = load_key(read_input(path, "key"))
                except Failure as f:
                    raise UsageError("key %s: %s" % (path, f))
                keys[kid] = (key, alg)
        if not pinned:
            report.notes.append("keys not pinned: this proves integrity, not authorship "
                                "(the keys were taken from keys.json)")
        since = read_input(args.since_checkpoint, "checkpoint") if args.since_checkpoint else None
        tpm_ca = None
        if args.tpm_ca:
            try:
                tpm_ca = load_tpm_ca(read_input(args.tpm_ca, "TPM CA bundle"))
            except ValueError as e:
                raise UsageError("TPM CA bundle %s: %s" % (args.tpm_ca, e))
        bundle = verify(args.bundle, pinned, since, report, registry_keys, tpm_ca, args.require_cosigned)
    except UsageError as e:  # as the agent's verify: exit 2, the bundle not judged
        print(safe(e), file=sys.stderr)
        return USAGE
    except Failure as f:
        report.fail(f)
    except Exception as e:  # never a traceback on hostile input; say what broke
        report.fail(Failure("unexpected error: %s: %s" % (type(e).__name__, e), "manifest", args.bundle))
    return output(report, bundle, args.json)


def output(report, bundle, as_json):
    if hasattr(sys.stdout, "reconfigure"):  # never fail on a non-UTF-8 terminal
        sys.stdout.reconfigure(errors="backslashreplace")
    verdict, code = report.verdict()
    closing = bundle.closing[0] if bundle and bundle.closing else None
    summary = {"records": bundle.count if bundle else 0,
               "first_seq": (bundle.first or 0) if bundle else 0,
               "last_seq": (bundle.last or 0) if bundle else 0,
               "checkpoints": bundle.items if bundle else 0,
               "closing_tree_size": closing}
    if as_json:
        print(json.dumps({"verdict": verdict, "exit_code": code, **summary, "failures": report.failures,
                          "declared_breaks": report.breaks, "findings": report.finding_lines(),
                          "notes": report.notes, "tpm": report.tpm, "tpm_starts": report.starts,
                          "cosigned": report.cosigned}))
        return code
    for kind, message in report.failures.items():
        print(safe("FAILED [%s] %s" % (kind, message)))
    for b in report.breaks:
        print(safe("DECLARED CHAIN BREAK: " + b))
    for line in report.finding_lines():
        print(safe("FINDING: " + line))
    for note in report.notes:
        print(safe("NOTE: " + note))
    for kid, claim in sorted(report.tpm.items()):
        print(safe("key %s held in a TPM: %s" % (kid, claim)))
    if report.starts:
        print(safe("starts bound to the TPM's counter: " + report.starts))
    if report.cosigned:
        print(safe("cosigned by the registry: " + report.cosigned))
    print("SUMMARY: %d records, seq %d..%d, %d checkpoints, closing tree size %s" % (
        summary["records"], summary["first_seq"], summary["last_seq"], summary["checkpoints"],
        "none" if closing is None else closing))
    print("VERDICT: " + verdict)
    return code


if __name__ == "__main__":
    sys.exit(main())
