#!/usr/bin/python3
"""What docs/verification.md and docs/record-format.md settle where an independent verifier
had to guess (issue 14): for each, `mrv-agent verify` and docs/verify_bundle.py give the same
exit code and name the same kind. Usage: bundle_spec_test.py AGENT MODE"""
import base64
import hashlib
import json
import subprocess
import sys

from cryptography.hazmat.primitives import serialization

from bundle_tools import expect_both, read_members, verify_both, write_bundle
from harness import Site, bundle_verifier, check, fail

agent, mode = sys.argv[1], sys.argv[2]


def genuine_site(seconds="1.0", **kw):
    site = Site(agent, interval_ms=20, points=2, **kw)
    site.run("run", "--config", str(site.config), "--duration", seconds)
    return site, read_members(site.bundle())


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of(left_hex, size, records):
    """MTH of [0, size + len(records)): the compact range `left_hex` of [0, size) with the
    records' leaves appended (docs/verification.md §2)."""
    levels, start = [], 0
    while start < size:
        level = 63 if start == 0 else (start & -start).bit_length() - 1
        while (1 << level) > size - start:
            level -= 1
        levels.append(level)
        start += 1 << level
    stack = list(zip(levels, (bytes.fromhex(h) for h in left_hex)))
    for data in records:
        level, h = 0, hashlib.sha256(b"\x00" + data).digest()
        while stack and stack[-1][0] == level:
            h = node(stack.pop()[1], h)
            level += 1
        stack.append((level, h))
    r = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        r = node(h, r)
    return r


def sign_note(site, origin, size, root, time_line):
    """A checkpoint note signed with the site's Ed25519 key (docs/verification.md §3)."""
    key = serialization.load_pem_private_key(site.key.read_bytes(), None)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    body = "%s\n%d\n%s\n%s\n" % (origin, size, base64.b64encode(root).decode(), time_line)
    key_hash = hashlib.sha256(origin.encode() + b"\n\x01" + raw).digest()[:4]
    sig = base64.b64encode(key_hash + key.sign(body.encode())).decode()
    return body + "\n\u2014 %s %s\n" % (origin, sig)


def resign_last_record(site, members, edit):
    """The last record edited by `edit` (its canonical text), signed again, and the closing
    checkpoint (which covers exactly the records) made again: a bundle the site's key could
    have made."""
    key = serialization.load_pem_private_key(site.key.read_bytes(), None)
    lines = members["records.ndjson"].decode().splitlines()
    last = json.loads(lines[-1])
    last["record"] = edit(last["record"])
    data = last["record"].encode()
    last["hash"] = hashlib.sha256(data).hexdigest()
    last["signature"] = base64.b64encode(key.sign(data)).decode()
    lines[-1] = json.dumps(last, separators=(",", ":"))
    members["records.ndjson"] = ("\n".join(lines) + "\n").encode()
    cps = json.loads(members["checkpoints.json"])
    closing = cps["checkpoints"][-1]
    check(closing["tree_size"] == last["seq"] and not closing["right"], "the closing checkpoint covers exactly the records")
    records = [json.loads(l)["record"].encode() for l in lines]
    first = json.loads(lines[0])["seq"]
    note_lines = closing["note"].split("\n")
    closing["note"] = sign_note(site, note_lines[0], closing["tree_size"], root_of(cps["left"], first - 1, records),
                                note_lines[3])
    members["checkpoints.json"] = json.dumps(cps).encode()
    return members


if mode == "keys-order":
    # §4.2: keys.json is oldest first, but that is information for people, not a check.
    site, members = genuine_site()
    other = Site(agent, points=0)
    keys = json.loads(members["keys.json"])
    keys.insert(0, {"key_id": hashlib.sha256(serialization.load_pem_public_key(other.public_pem.read_bytes())
                                             .public_bytes(serialization.Encoding.DER,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest(),
                    "algorithm": "ed25519", "public_key_pem": other.public_pem.read_text(),
                    "first_used_ms": keys[0]["first_used_ms"] + 10**9})
    members["keys.json"] = json.dumps(keys).encode()
    expect_both(site, write_bundle(members, site.dir / "t.tar.gz", key_file=site.key), 0,
                "a keys.json that is not oldest first")

elif mode == "tree-sizes":
    # §6 step 4: tree sizes strictly increase; a checkpoint listed twice is refused.
    site, members = genuine_site("1.5", extra_signing="checkpoint_interval_ms = 200")
    cps = json.loads(members["checkpoints.json"])
    check(len(cps["checkpoints"]) >= 2, f"{len(cps['checkpoints'])} checkpoints")
    cps["checkpoints"].insert(0, cps["checkpoints"][0])
    members["checkpoints.json"] = json.dumps(cps).encode()
    expect_both(site, write_bundle(members, site.dir / "t.tar.gz", key_file=site.key), 1,
                "a checkpoint listed twice", word="checkpoints", text="increasing")

elif mode == "origin":
    # §6 step 1: the manifest's origin is mrv-agent/ and its site.
    site, members = genuine_site()
    manifest = json.loads(members["manifest.json"])
    manifest["origin"] = "mrv-agent/elsewhere"
    members["manifest.json"] = json.dumps(manifest).encode()
    expect_both(site, write_bundle(members, site.dir / "t.tar.gz", key_file=site.key), 1,
                "a manifest whose origin is not mrv-agent/<site>", word="manifest", text="origin")

elif mode == "order":
    # §4: the entry order is required by both (a config after checkpoints.json, say).
    site, members = genuine_site()
    items = list(members.items())
    config = next(i for i, (k, _) in enumerate(items) if k.startswith("configs/"))
    moved = items.pop(config)
    items.insert([k for k, _ in items].index("checkpoints.json") + 1, moved)
    expect_both(site, write_bundle(dict(items), site.dir / "t.tar.gz", key_file=site.key), 1,
                "a config after checkpoints.json", word="manifest", text="order of")

elif mode == "unknown-entry":
    # §6 step 1: an entry §4 does not name is a failure, even listed in a signed manifest.
    site, members = genuine_site()
    members["notes.txt"] = b"hello\n"
    expect_both(site, write_bundle(members, site.dir / "t.tar.gz", key_file=site.key), 1,
                "an extra entry notes.txt", word="manifest", text="unexpected entry")

elif mode == "last-newline":
    # record-format.md §3.1: every line ends with \n, the last one included.
    site, members = genuine_site()
    members["records.ndjson"] = members["records.ndjson"][:-1]
    expect_both(site, write_bundle(members, site.dir / "t.tar.gz", key_file=site.key), 1,
                "records.ndjson without its last newline", word="chain", text="does not end with a newline")

elif mode == "good-with-reason":
    # record-format.md §1.1: the agent leaves `reason` empty for a good reading, but a
    # verifier does not check it: a signed good reading with a reason verifies.
    site, members = genuine_site()
    members = resign_last_record(site, members, lambda r: r.replace('"reason":""', '"reason":"note"', 1))
    check('\\"quality\\":\\"good\\",\\"reason\\":\\"note\\"' in members["records.ndjson"].decode(),
          "the last record is good and has a reason")
    expect_both(site, write_bundle(members, site.dir / "t.tar.gz", key_file=site.key), 0,
                "a good reading with a reason")

elif mode == "breaks-and-findings":
    # §6: declared breaks (3) and metrology findings (4) together exit 3, findings still printed.
    site = Site(agent, interval_ms=50, points=2, calibration="2020-06-30")
    site.run("run", "--config", str(site.config), "--duration", "0.5")
    last = site.records()[-1][0]
    site.journal.with_name("journal.db.head").write_text("mrv-journal-head/1\nseq %d\nhash %s\n" % (last + 5, "ab" * 32))
    site.run("run", "--config", str(site.config), "--duration", "0.5")
    ao, po = expect_both(site, site.bundle(), 3, "declared breaks and expired calibration together")
    check("DECLARED CHAIN BREAK" in ao and "DECLARED CHAIN BREAK" in po and "FINDING" in ao and "FINDING" in po,
          "both print the break and the finding")

elif mode == "since-file":
    # §4.3: --since-checkpoint takes the note byte for byte as checkpoints.json holds it.
    site, members = genuine_site()
    note = json.loads(members["checkpoints.json"])["checkpoints"][-1]["note"]
    held = site.dir / "held.checkpoint"
    held.write_text(note)
    site.run("run", "--config", str(site.config), "--duration", "0.5")
    bundle = site.bundle("b2.tar.gz", "--since-checkpoint", str(held))
    expect_both(site, bundle, 0, "the held note as the file", "--since-checkpoint", str(held))
    for what, text in (("with a newline added", note + "\n"), ("with CRLF line ends", note.replace("\n", "\r\n"))):
        other = site.dir / "other.checkpoint"
        other.write_bytes(text.encode())
        expect_both(site, bundle, 1, "the held note " + what, "--since-checkpoint", str(other), word="since")

elif mode == "registry-signer":
    # §4.1: "signer": "registry" in manifest.sig is a hint for the message, not a check:
    # the key is found by key_id, pinned site keys first.
    site, members = genuine_site()
    sig = json.loads(members["manifest.sig"])
    sig["signer"] = "registry"
    members["manifest.sig"] = json.dumps(sig).encode()
    expect_both(site, write_bundle(members, site.dir / "t.tar.gz", fix=False), 0,
                "a site-signed manifest whose manifest.sig says signer registry")
    # A registry key never verifies records: pinning the site key only as a registry key
    # leaves the records to keys.json (unpinned), which still proves no authorship.
    (ac, ao), (pc, po) = verify_both(site, site.bundle(), "--registry-key", str(site.public_pem), keys=[])
    check(ac == pc == 0 and "not pinned" in ao and "not pinned" in po,
          "with only --registry-key, both say the records' keys are not pinned")

elif mode == "records-reason":
    # §3, §4.3: checkpoints made after checkpoint_every_records say reason "records".
    site = Site(agent, interval_ms=5, points=4, extra_signing="checkpoint_every_records = 50\ncheckpoint_interval_ms = 600000")
    site.run("run", "--config", str(site.config), "--duration", "1.0")
    members = read_members(site.bundle())
    cps = json.loads(members["checkpoints.json"])["checkpoints"]
    reasons = [c["reason"] for c in cps]
    check("records" in reasons and "interval" not in reasons, f"reasons {reasons}")
    sizes = [c["tree_size"] for c in cps if c["reason"] == "records"]
    check(all(b - a >= 50 for a, b in zip(sizes, sizes[1:])), f"at least 50 records apart: {sizes}")
    expect_both(site, site.bundle(), 0, "a bundle with count checkpoints")

elif mode == "unreadable-inputs":
    # §6: a file named on the command line that cannot be read is a usage error (exit 2).
    site, members = genuine_site()
    bundle = site.dir / "bundle.tar.gz"
    for what, args in (("a missing key file", ["--public-key", str(site.dir / "none.pem")]),
                       ("a missing checkpoint file", ["--public-key", str(site.public_pem), "--since-checkpoint",
                                                      str(site.dir / "none.checkpoint")]),
                       ("a key file that holds no key", ["--public-key", str(site.config)])):
        a = site.run("verify", str(bundle), *args, check_rc=False)
        p = subprocess.run(["/usr/bin/python3", bundle_verifier(), str(bundle), *args], capture_output=True, text=True)
        check(a.returncode == 2 and p.returncode == 2, f"{what}: mrv-agent exits {a.returncode}, verify_bundle.py {p.returncode}")
else:
    fail(f"unknown mode {mode}")
print("passed")
