#!/usr/bin/python3
"""Verifier bundles of real runs (docs/verification.md), checked by `mrv-agent verify` and
by the independent docs/verify_bundle.py: valid bundles pass, each kind of tampering is
caught by both. Usage: bundle_test.py AGENT MODE"""
import base64
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness import Site, bundle_verifier, check, fail

agent, mode = sys.argv[1], sys.argv[2]


def verify_both(site, bundle, *extra, keys=None):
    """(exit code, output) of the agent's verify and of the Python verifier."""
    pins = []
    for k in keys or [site.public_pem]:
        pins += ["--public-key", str(k)]
    a = site.run("verify", str(bundle), *pins, *extra, check_rc=False)
    p = subprocess.run(["/usr/bin/python3", bundle_verifier(), str(bundle), *pins, *extra],
                       capture_output=True, text=True, timeout=300)
    return (a.returncode, a.stdout + a.stderr), (p.returncode, p.stdout + p.stderr)


def expect_both(site, bundle, code, what, *extra, word=None, keys=None):
    (ac, ao), (pc, po) = verify_both(site, bundle, *extra, keys=keys)
    check(ac == code, f"mrv-agent verify exits {ac} (want {code}) on {what}:\n{ao.strip()}")
    check(pc == code, f"verify_bundle.py exits {pc} (want {code}) on {what}:\n{po.strip()}")
    if word:
        check(word in ao and word in po, f"both name the failure kind '{word}'")


def read_members(bundle):
    with tarfile.open(bundle, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def write_members(members, out, fix_manifest=True):
    """Packs the members again in order; with fix_manifest the manifest's sizes and hashes
    follow the changes (a careful forger), else they stay as they were."""
    if fix_manifest:
        manifest = json.loads(members["manifest.json"])
        manifest["files"] = [{"name": n, "bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                             for n, d in members.items() if n not in ("manifest.json", "manifest.sig")]
        members["manifest.json"] = (json.dumps(manifest) + "\n").encode()
    with tarfile.open(out, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def record_lines(members):
    return members["records.ndjson"].decode().splitlines()


def set_records(members, lines, claims=True):
    members["records.ndjson"] = ("\n".join(lines) + "\n").encode()
    if claims:  # the forger also makes the manifest's claims match what is left
        manifest = json.loads(members["manifest.json"])
        seqs = [json.loads(l)["seq"] for l in lines]
        manifest.update(records=len(seqs), first_seq=seqs[0], last_seq=seqs[-1])
        members["manifest.json"] = json.dumps(manifest).encode()


def frontier_after(left_hex, size, records):
    """The roots tiling [0, size + len(records)): `left_hex` (tiling [0, size)) with the
    records' leaves appended (docs/verification.md §2)."""
    levels, n, start = [], size, 0
    while start < n:  # the tiling's levels
        level = 63 if start == 0 else (start & -start).bit_length() - 1
        while (1 << level) > n - start:
            level -= 1
        levels.append(level)
        start += 1 << level
    stack = list(zip(levels, (bytes.fromhex(h) for h in left_hex)))
    for data in records:
        level, h = 0, hashlib.sha256(b"\x00" + data).digest()
        while stack and stack[-1][0] == level:
            h = hashlib.sha256(b"\x01" + stack.pop()[1] + h).digest()
            level += 1
        stack.append((level, h))
    return [h for _, h in stack]


def run_site(site, seconds="1.5"):
    site.run("run", "--config", str(site.config), "--duration", seconds)


if mode in ("valid-ed25519", "valid-ecdsa"):
    site = Site(agent, algorithm={"valid-ed25519": "ed25519", "valid-ecdsa": "ecdsa-p256"}[mode], interval_ms=20,
                points=3)
    run_site(site)
    bundle = site.bundle()
    members = read_members(bundle)
    check(list(members)[0] == "manifest.json", "the manifest is the first entry")
    n = len(site.records())
    check(len(record_lines(members)) == n and n > 100, f"the bundle holds all {n} records")
    expect_both(site, bundle, 0, "an untouched bundle")
    a = site.run("verify", str(bundle), "--public-key", str(site.public_pem), "--json", check_rc=False)
    v = json.loads(a.stdout)
    check(v["verdict"] == "VALID" and v["records"] == n and v["closing_tree_size"] >= n,
          f"--json: {v['verdict']}, {v['records']} records, closing tree size {v['closing_tree_size']}")
    st = json.loads(site.run("status", "--config", str(site.config), "--json").stdout)["checkpoint"]
    check(st["tree_size"] == n and st["reason"] == "stop" and st["records_not_covered"] == 0,
          f"status shows the newest checkpoint: {st}")
    # On a terminal (script(1) gives it one) export draws a progress line.
    cmd = (f"{agent} export --config {site.config} --from 0 --to 99999999999999 "
           f"--out {site.dir / 'tty.tar.gz'}")
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and f"exporting records 100% ({n}/{n})" in p.stdout,
          f"a progress line on a terminal: {p.stdout.strip()[-80:]!r}")
    # Unpinned: still checks integrity, and says it proves no authorship.
    a = site.run("verify", str(bundle), check_rc=False)
    check(a.returncode == 0 and "not pinned" in a.stdout, "without --public-key it warns that keys are not pinned")

elif mode == "checkpoint-only":
    site = Site(agent, interval_ms=5, points=4, extra_signing='mode = "checkpoint"')
    run_site(site)
    bundle = site.bundle()
    members = read_members(bundle)
    lines = record_lines(members)
    check(all(json.loads(l)["signature"] == "" for l in lines), f"{len(lines)} records carry no signature")
    check('\\"alg\\":\\"checkpoint\\"' in lines[0], "their alg is 'checkpoint'")
    cps = json.loads(members["checkpoints.json"])["checkpoints"]
    check(len(cps) >= 2, f"{len(cps)} checkpoints cover them (at least one a second)")
    expect_both(site, bundle, 0, "a checkpoint-only bundle")
    p = site.run("verify", str(site.export()), "--public-key", str(site.public_pem), check_rc=False)
    check(p.returncode == 1 and "checkpoint" in p.stdout, "a plain NDJSON export of such records is refused")
    rec = json.loads(lines[len(lines) // 2])
    rec["record"] = rec["record"].replace('"value":"', '"value":"7', 1)
    rec["hash"] = hashlib.sha256(rec["record"].encode()).hexdigest()
    lines[len(lines) // 2] = json.dumps(rec)
    set_records(members, lines)
    expect_both(site, write_members(members, site.dir / "t.tar.gz"), 1, "a changed unsigned record", word="tree")

elif mode.startswith("tamper-"):
    case = mode[len("tamper-"):]
    site = Site(agent, interval_ms=20, points=3)
    run_site(site)
    members = read_members(site.bundle())
    lines = record_lines(members)
    word = None
    if case == "value-byte":  # one byte of a value; the forger fixes the line's hash
        rec = json.loads(lines[40])
        rec["record"] = rec["record"].replace('"value":"', '"value":"9', 1)
        rec["hash"] = hashlib.sha256(rec["record"].encode()).hexdigest()
        lines[40] = json.dumps(rec)
        set_records(members, lines)
        word = "signature"
    elif case == "middle-removed":
        del lines[50]
        set_records(members, lines)
        word = "chain"
    elif case == "truncated":  # the last records cut off, the closing checkpoint kept
        set_records(members, lines[:-10])
        word = "tree"
    elif case == "file-cut":  # the file itself cut short (a broken download)
        data = site.dir.joinpath("bundle.tar.gz").read_bytes()
        site.dir.joinpath("t.tar.gz").write_bytes(data[:-10])
        expect_both(site, site.dir / "t.tar.gz", 1, "a bundle file cut short", word="manifest")
        sys.exit(0)
    elif case == "manifest-hash":  # a file changed, the manifest not
        members["quarantine.ndjson"] += b'{"forged": true}\n'
        write_members(members, site.dir / "t.tar.gz", fix_manifest=False)
        expect_both(site, site.dir / "t.tar.gz", 1, "a file that differs from the manifest", word="manifest")
        sys.exit(0)
    elif case == "cut-reproved":
        # The first records cut off, and the proofs made again to fit (the cutter holds
        # those records): only the agent's signature on the manifest's claims catches it.
        cps = json.loads(members["checkpoints.json"])
        cut = [json.loads(l) for l in lines[:10]]
        first = cut[-1]["seq"] + 1
        cps["left"] = [h.hex() for h in frontier_after(cps["left"], cut[0]["seq"] - 1,
                                                       [c["record"].encode() for c in cut])]
        cps["checkpoints"] = [c for c in cps["checkpoints"] if c["tree_size"] >= first]
        members["checkpoints.json"] = json.dumps(cps).encode()
        set_records(members, lines[10:])
        word = "manifest"
        write_members(members, site.dir / "t.tar.gz")
        expect_both(site, site.dir / "t.tar.gz", 1, case, word=word)
        # Without the manifest's signature the rest would verify: the proofs hold.
        members["manifest.sig"] = b'{"key_id": "x", "signature": ""}\n'
        (ac, ao), (pc, po) = verify_both(site, write_members(members, site.dir / "t2.tar.gz"))
        check("[tree]" not in ao and "[tree]" not in po and "[manifest]" in ao and "[manifest]" in po,
              "the re-made proofs hold; the manifest's signature is what fails")
        sys.exit(0)
    elif case == "range-claim":  # claims records it does not hold
        manifest = json.loads(members["manifest.json"])
        manifest.update(last_seq=manifest["last_seq"] + 5, records=manifest["records"] + 5)
        members["manifest.json"] = json.dumps(manifest).encode()
        word = "chain"
    elif case == "other-key":  # every record re-signed with another key, keys.json swapped
        other = Site(agent, points=0)
        key = serialization.load_pem_private_key(other.key.read_bytes(), None)
        pub_der = key.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
        old_id = json.loads(json.loads(lines[0])["record"])["key_id"]
        new_id = hashlib.sha256(pub_der).hexdigest()
        prev = None
        for i, line in enumerate(lines):
            rec = json.loads(line)
            text = rec["record"].replace(old_id, new_id)
            if prev:
                text = text[:text.index('"prev":"') + 8] + prev + text[text.index('"prev":"') + 72:]
            data = text.encode()
            prev = hashlib.sha256(data).hexdigest()
            lines[i] = json.dumps({"seq": rec["seq"], "record": text, "hash": prev,
                                   "signature": base64.b64encode(key.sign(data)).decode()})
        set_records(members, lines)
        members["keys.json"] = json.dumps([{"key_id": new_id, "algorithm": "ed25519",
                                            "public_key_pem": other.public_pem.read_text(),
                                            "first_used_ms": 0}]).encode()
        word = "signature"
        write_members(members, site.dir / "t.tar.gz")
        expect_both(site, site.dir / "t.tar.gz", 1, "records re-signed with another key", word=word)
        (ac, _), (pc, _) = verify_both(site, site.dir / "t.tar.gz", keys=[other.public_pem])
        check(ac == 1 and pc == 1, "pinning the forger's key still fails: the site's checkpoints do not match")
        sys.exit(0)
    elif case == "forked-checkpoint":
        # Another history under the same key and site: its checkpoint replaces the closing one.
        fork = Site(agent, interval_ms=20, points=3)
        shutil.copy(site.key, fork.key)
        run_site(fork, "1.0")
        fork_cps = json.loads(read_members(fork.bundle())["checkpoints.json"])["checkpoints"]
        cps = json.loads(members["checkpoints.json"])
        cps["checkpoints"][-1]["note"] = fork_cps[-1]["note"]
        cps["checkpoints"][-1]["tree_size"] = fork_cps[-1]["tree_size"]
        members["checkpoints.json"] = json.dumps(cps).encode()
        word = "tree"
    else:
        fail(f"unknown case {case}")
    expect_both(site, write_members(members, site.dir / "t.tar.gz"), 1, case, word=word)

elif mode == "since":
    site = Site(agent, interval_ms=20, points=2)
    run_site(site, "1.0")
    first = json.loads(read_members(site.bundle("b1.tar.gz"))["checkpoints.json"])["checkpoints"][-1]
    held = site.dir / "held.checkpoint"
    held.write_text(first["note"])
    run_site(site, "1.0")
    bundle = site.bundle("b2.tar.gz", "--since-checkpoint", str(held))
    since = json.loads(read_members(bundle)["checkpoints.json"])["since"]
    check(len(since["consistency"]) > 0, f"a consistency proof of {len(since['consistency'])} hashes")
    expect_both(site, bundle, 0, "a bundle consistent with a held checkpoint", "--since-checkpoint", str(held))
    # A checkpoint from a forked history (same key and site, other records):
    fork = Site(agent, interval_ms=20, points=2)
    shutil.copy(site.key, fork.key)
    run_site(fork, "1.0")
    forked = site.dir / "forked.checkpoint"
    forked.write_text(json.loads(read_members(fork.bundle())["checkpoints.json"])["checkpoints"][-1]["note"])
    p = site.run("export", "--config", str(site.config), "--from", "0", "--to", "99999999999999",
                 "--out", str(site.dir / "b3.tar.gz"), "--since-checkpoint", str(forked), check_rc=False)
    check(p.returncode == 1 and "not from this journal's history" in p.stderr,
          f"export refuses to prove consistency with a forked checkpoint: {p.stderr.strip()}")
    expect_both(site, bundle, 1, "a bundle checked against a forked checkpoint",
                "--since-checkpoint", str(forked), word="since")
    members = read_members(bundle)
    cps = json.loads(members["checkpoints.json"])
    cps["since"]["note"] = forked.read_text()
    members["checkpoints.json"] = json.dumps(cps).encode()
    expect_both(site, write_members(members, site.dir / "t.tar.gz"), 1,
                "a bundle whose proof starts from a forked checkpoint", word="since")

elif mode == "declared-break":
    # The journal was rolled back far behind its head anchor (a restored copy): the agent
    # opens a declared segment 3,000,000 seqs on. The bundle's tree holds the skip as
    # absent leaves; both verifiers rebuild it and report the break (exit 3).
    site = Site(agent, interval_ms=50, points=2)
    run_site(site, "0.5")
    last = site.records()[-1][0]
    site.journal.with_name("journal.db.head").write_text(
        "mrv-journal-head/1\nseq %d\nhash %s\n" % (last + 3_000_000, "ab" * 32))
    run_site(site, "0.5")
    seqs = [s for s, _ in site.records()]
    check(seqs[-1] > last + 3_000_000, f"the segment continues past the anchor: seq {last} .. {seqs[-1]}")
    bundle = site.bundle()
    expect_both(site, bundle, 3, "a bundle across a declared break with a 3,000,000-seq skip")
    a = site.run("verify", str(bundle), "--public-key", str(site.public_pem), check_rc=False)
    check("DECLARED CHAIN BREAK: seq %d: new chain segment" % (last + 3_000_001) in a.stdout,
          "the break is named with its seq and reason")

elif mode == "big-quarantine":
    # A quarantine larger than the 64 MiB the verifier reads whole for keys, configs and
    # checkpoints: it is only hashed, so the bundle still verifies. The test holds the
    # site's key and signs the manifest again, as the agent would.
    site = Site(agent, interval_ms=50, points=2)
    run_site(site, "0.5")
    members = read_members(site.bundle())
    row = json.dumps({"id": 1, "reason": "invalid_json", "payload_b64": "A" * 4000}) + "\n"
    members["quarantine.ndjson"] = (row * 18_000).encode()  # about 72 MB
    write_members(members, site.dir / "t.tar.gz")  # new sizes and hashes in the manifest
    members = read_members(site.dir / "t.tar.gz")
    key = serialization.load_pem_private_key(site.key.read_bytes(), None)
    sig = json.loads(members["manifest.sig"])
    sig["signature"] = base64.b64encode(key.sign(members["manifest.json"])).decode()
    members["manifest.sig"] = json.dumps(sig).encode()
    write_members(members, site.dir / "big.tar.gz", fix_manifest=False)
    check(len(members["quarantine.ndjson"]) > 64 << 20, "the quarantine is over 64 MiB")
    expect_both(site, site.dir / "big.tar.gz", 0, "a bundle with a 72 MB quarantine")

elif mode == "calibration":
    site = Site(agent, interval_ms=50, points=2, calibration="2020-06-30")
    run_site(site, "0.5")
    bundle = site.bundle()
    expect_both(site, bundle, 4, "readings after calibration expiry")
    a = site.run("verify", str(bundle), "--public-key", str(site.public_pem), check_rc=False)
    check("calibration valid until 2020-06-30" in a.stdout, "the finding names the date")

elif mode == "ocmf":
    site = Site(agent, algorithm="ecdsa-p256", interval_ms=50, points=2)
    run_site(site, "1.0")
    out = site.export("period.ocmf", fmt="ocmf")
    lines = out.read_text().splitlines()
    check(len(lines) == 2, f"{len(lines)} OCMF records, one per cumulative point")
    pub = serialization.load_pem_public_key(site.public_pem.read_bytes())
    values = {}
    for rec in (json.loads(l) for l in site.export().read_text().splitlines()[1:]):
        r = json.loads(rec["record"])
        values.setdefault(r["point"], []).append(r["value"])
    for line in lines:
        header, payload, signature = line.split("|")
        check(header == "OCMF", "the line starts with OCMF")
        sig = json.loads(signature)
        check(sig["SA"] == "ECDSA-secp256r1-SHA256", "signature algorithm ECDSA-secp256r1-SHA256")
        pub.verify(bytes.fromhex(sig["SD"]), payload.encode(), ec.ECDSA(hashes.SHA256()))
        body = json.loads(payload)
        rd = body["RD"]
        check([r["TX"] for r in rd] == ["B", "E"] and rd[0]["RU"] == "kWh", "a begin and an end reading in kWh")
        begin_text = payload.split('"RV":')[1].split(",")[0]
        end_text = payload.split('"RV":')[2].split(",")[0]
        vs = values[body["ID"]]
        check(begin_text == vs[0] and end_text == vs[-1],
              f"{body['ID']}: RV {begin_text} .. {end_text} are the first and last readings, exact text")
        bad = payload.replace(end_text, end_text + "1", 1).encode()
        try:
            pub.verify(bytes.fromhex(sig["SD"]), bad, ec.ECDSA(hashes.SHA256()))
            fail("a changed OCMF payload still verified")
        except Exception:
            check(True, "a changed OCMF payload fails its signature")
    ed = Site(agent, points=1)
    run_site(ed, "0.3")
    p = ed.run("export", "--config", str(ed.config), "--from", "0", "--to", "99999999999999",
               "--format", "ocmf", "--out", str(ed.dir / "x.ocmf"), check_rc=False)
    check(p.returncode == 1 and "ECDSA P-256" in p.stderr, "an Ed25519 site is told OCMF needs ECDSA P-256")
else:
    fail(f"unknown mode {mode}")
print("passed")
