#!/usr/bin/python3
"""The registry's cosignatures of checkpoints (docs/verification.md §3.1), end to end: the
real mrv-registry cosigns, the real agent keeps the cosignatures and exports them, both
verifiers check them against the registry's key.
Usage: cosign_test.py AGENT MODE (the registry is <build>/registry/mrv-registry)
  cosigned  every checkpoint uploaded comes back cosigned; the agent's and the registry's
            bundles verify with --require-cosigned in both verifiers, with the same words;
            one cosignature verifies with openssl as §3.1 shows; forged, moved, re-timed,
            foreign and missing cosignatures, and a site that rewrote its history after
            the upload, are refused by both
  later     checkpoints uploaded before the registry cosigned: a bundle of them carries a
            later cosigned checkpoint and the consistency proof to it, which both accept;
            a wrong proof or a later checkpoint of another history is refused"""
import base64
import hashlib
import json
import pathlib
import sqlite3
import subprocess
import sys
import tempfile
import time

from bundle_tools import expect_both, read_members, write_bundle
from harness import check, fail
from upload_harness import Pki, Registry, UploadSite, new_token, sign_note, site_root

agent, mode = sys.argv[1], sys.argv[2]
work = tempfile.TemporaryDirectory(prefix="mrv-cosign-")
W = pathlib.Path(work.name)
NAME = "registry.example/mrv"
FAST = "timeout_ms = 2000\nbackoff_min_ms = 200\nbackoff_max_ms = 1000"


def cosign_key(name):
    key, pub = W / f"{name}.key", W / f"{name}.pub"
    subprocess.run([agent, "keygen", "--out", str(key)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True)
    return key, pub


def cosign_section(key):
    return f'[cosign]\nkey_file = "{key}"\nname = "{NAME}"'


def journal_cosignatures(site):
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        return db.execute("SELECT c.tree_size, c.note, s.line FROM cosignatures s JOIN checkpoints c "
                          "ON c.id = s.checkpoint_id ORDER BY c.tree_size").fetchall()


def run_site(reg, token, records, points=5):
    site = UploadSite(agent, reg.pki, reg.url, token=token, points=points,
                      interval_ms=20, upload_extra=FAST, extra_signing="checkpoint_every_records = 200")
    p = site.start()
    deadline = time.time() + 60
    while site.cursor() < records:
        if time.time() > deadline or p.poll() is not None:
            fail(f"{records} records were not receipted: {site.log_tail()}")
        time.sleep(0.2)
    site.stop(p)
    site.drain(60)
    return site


def openssl_check(note, line, pub):
    """§3.1 by hand: the message is 'cosignature/v1', 'time T' and the note's text; the
    signature is the last 64 of the 76 bytes after the name."""
    d = W / "by-hand"
    d.mkdir(exist_ok=True)
    (d / "note.txt").write_text(note)
    (d / "line.txt").write_text(line + "\n")
    script = f"""set -e
cd {d}
cut -d' ' -f3 line.txt | base64 -d > blob.bin
T=$((16#$(tail -c +5 blob.bin | head -c 8 | xxd -p)))
printf 'cosignature/v1\\ntime %d\\n' "$T" > message.txt
sed '/^$/q' note.txt | head -n -1 >> message.txt
tail -c 64 blob.bin > sig.bin
openssl pkeyutl -verify -pubin -inkey {pub} -rawin -in message.txt -sigfile sig.bin
"""
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    return r.returncode == 0 and "Signature Verified Successfully" in r.stdout, r.stdout + r.stderr


def edit_checkpoints(bundle, out, change, key_file):
    """The bundle with checkpoints.json changed and the manifest signed again with the
    site's key (a forger who holds it), so only the change under test can fail."""
    members = read_members(bundle)
    doc = json.loads(members["checkpoints.json"])
    change(doc)
    members["checkpoints.json"] = json.dumps(doc).encode()
    return write_bundle(members, out, key_file=key_file)


def flip_signature(line):
    name, blob = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    return name + " " + base64.b64encode(bytes(raw)).decode()


def retime(line):
    name, blob = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[11] ^= 1  # the timestamp's last byte
    return name + " " + base64.b64encode(bytes(raw)).decode()


def cosigned():
    key, pub = cosign_key("cosign")
    _, other_pub = cosign_key("other")
    pki = Pki(W / "pki")
    token, _ = new_token()
    reader, _ = new_token()
    bundle_key, bundle_pub = cosign_key("bundle")
    reg = Registry(agent, W / "registry", pki, {"it-site": {"token": token}}, readers={"verifier": reader},
                   extra=cosign_section(key) + f'\n[bundle]\nkey_file = "{bundle_key}"')
    site = run_site(reg, token, 1500)
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        posted = db.execute("SELECT count(*) FROM checkpoints").fetchone()[0]
    kept = journal_cosignatures(site)
    check(len(kept) >= 2 and len(kept) == posted and len({t for t, _, _ in kept}) == len(kept),
          f"the agent kept one cosignature per checkpoint uploaded ({len(kept)} of {posted} checkpoints)")
    check(all(line.startswith(f"\u2014 {NAME} ") for _, _, line in kept), "each is a signature line of the cosigner")
    ok, out = openssl_check(kept[-1][1], kept[-1][2], pub)
    check(ok, f"a cosignature verifies with openssl as docs/verification.md §3.1 shows:\n{out}")

    status, body, _ = reg.request("GET", "/v1/sites/it-site/checkpoints?min_size=1&max_size=99999999",
                                  token=reader)
    served = json.loads(body)
    check(status == 200 and len(served) == posted and
          [c["cosignatures"] for c in served] == [[line] for _, _, line in kept],
          f"GET checkpoints lists each one's cosignature, the agent's lines ({len(served)} checkpoints)")

    status, _, receipt = reg.request("POST", "/v1/sites/it-site/checkpoints", body=kept[-1][1].encode(),
                                     headers={"Content-Type": "text/plain"}, token=token)
    check(status == 200 and receipt.get("cosignature") == kept[-1][2],
          f"a checkpoint sent again gets the same receipt, with the same cosignature: HTTP {status}")

    # A checkpoint first seen after a larger one: accepted, not cosigned (C2SP: a cosignature
    # at T says this was the largest tree head the registry had seen).
    smaller = kept[0][0] - 1
    status, _, receipt = reg.request("POST", "/v1/sites/it-site/checkpoints",
                                     body=sign_note(site, smaller, site_root(site, smaller)).encode(),
                                     headers={"Content-Type": "text/plain"}, token=token)
    check(status == 200 and receipt.get("tree_size") == smaller and "cosignature" not in receipt,
          f"an older checkpoint posted after a larger one is accepted without a cosignature: {status} {receipt}")

    bundle = site.bundle("cosigned.tar.gz")
    cps = json.loads(read_members(bundle)["checkpoints.json"])
    closing = cps["checkpoints"][-1]
    check(closing.get("cosignatures"), "the agent's bundle carries the closing checkpoint's cosignature")
    registry_key_id = hashlib.sha256(subprocess.run(["openssl", "pkey", "-pubin", "-in", str(pub), "-outform", "DER"],
                                                    capture_output=True, check=True).stdout).hexdigest()
    want = (f"cosigned by the registry: the closing checkpoint (tree size {closing['tree_size']}) by registry key "
            f"{registry_key_id} ({NAME}) at ")
    ao, po = expect_both(site, bundle, 0, "the agent's bundle, cosigned", "--registry-key", str(pub),
                         "--require-cosigned", text=want)
    check(ao.split("cosigned by the registry:")[1].splitlines()[0] ==
          po.split("cosigned by the registry:")[1].splitlines()[0], "both word the cosignature line alike")
    expect_both(site, bundle, 0, "no --registry-key: the cosignatures are not checked",
                text="cosigned by the registry: not checked (give the registry's key with --registry-key)")

    status, body, _ = reg.request("GET", "/v1/sites/it-site/bundle?from=0&to=99999999999999", token=reader)
    check(status == 200, f"a reader downloads the registry's bundle: HTTP {status}")
    reg_bundle = W / "registry-bundle.tar.gz"
    reg_bundle.write_bytes(body)
    expect_both(site, reg_bundle, 0, "the registry's bundle, cosigned", "--registry-key", str(pub),
                "--registry-key", str(bundle_pub), "--require-cosigned", text=f"({NAME}) at ")

    # Forgeries, each re-signed with the site's key: only the cosignature can fail.
    def first_cosigned(doc):
        return next(c for c in doc["checkpoints"] if c.get("cosignatures"))

    cases = [
        ("a flipped cosignature", lambda d: first_cosigned(d).update(
            cosignatures=[flip_signature(first_cosigned(d)["cosignatures"][0])]), "cosignature", 1),
        ("a cosignature with another time", lambda d: first_cosigned(d).update(
            cosignatures=[retime(first_cosigned(d)["cosignatures"][0])]), "cosignature", 1),
        ("a cosignature moved to another checkpoint", lambda d: d["checkpoints"][-1].update(
            cosignatures=d["checkpoints"][0]["cosignatures"]), "cosignature", 1),
        ("a malformed cosignature line", lambda d: d["checkpoints"][-1].update(
            cosignatures=["\u2014 " + NAME + " AAAA"]), "checkpoints", 1),
        ("17 cosignatures on one checkpoint", lambda d: d["checkpoints"][-1].update(
            cosignatures=d["checkpoints"][-1]["cosignatures"] * 17), "checkpoints", 1),
        ("a cosignature in non-canonical base64 (a blank before it)", lambda d: first_cosigned(d).update(
            cosignatures=[first_cosigned(d)["cosignatures"][0].replace(f"{NAME} ", f"{NAME}  ")]), "checkpoints", 1),
        ("cosignatures null", lambda d: d["checkpoints"][-1].update(cosignatures=None), "checkpoints", 1),
        ("cosigned_later null", lambda d: d.update(cosigned_later=None), "cosigned_later", 1),
    ]
    for what, change, word, code in cases:
        forged = edit_checkpoints(bundle, W / "forged.tar.gz", change, site.key)
        expect_both(site, forged, code, what, "--registry-key", str(pub), word=word)
    stripped = edit_checkpoints(bundle, W / "stripped.tar.gz",
                                lambda d: [c.pop("cosignatures", None) for c in d["checkpoints"]], site.key)
    expect_both(site, stripped, 0, "cosignatures removed, not required", "--registry-key", str(pub),
                text=f"cosigned by the registry: not cosigned (0 of {len(cps['checkpoints'])} checkpoints)")
    expect_both(site, stripped, 1, "cosignatures removed, required", "--registry-key", str(pub),
                "--require-cosigned", word="cosignature")
    expect_both(site, bundle, 1, "another registry's key required", "--registry-key", str(other_pub),
                "--require-cosigned", word="cosignature", text="not cosigned")

    # A site that rewrites its history after the upload: same key and site, other readings.
    # Its own bundle has no cosignature; the original ones, put on its checkpoints, fail.
    rewritten = UploadSite(agent, pki, "https://127.0.0.1:9", token=token, points=3, interval_ms=20)
    rewritten.key.write_bytes(site.key.read_bytes())
    rewritten.public_pem.write_bytes(site.public_pem.read_bytes())
    text = rewritten.config.read_text().split("[upload]")[0]
    rewritten.config.write_text(text)
    p = rewritten.start()
    deadline = time.time() + 60
    while rewritten.last_seq() < closing["tree_size"] + 10 and time.time() < deadline:
        time.sleep(0.2)
    rewritten.stop(p)
    fake = rewritten.bundle("rewritten.tar.gz")
    expect_both(rewritten, fake, 1, "a rewritten history without the registry's cosignature",
                "--registry-key", str(pub), "--require-cosigned", word="cosignature")
    by_size = {c["tree_size"]: c["cosignatures"] for c in cps["checkpoints"] if c.get("cosignatures")}
    lines = list(by_size.values())[-1]

    def transplant(d):
        for c in d["checkpoints"]:
            c["cosignatures"] = by_size.get(c["tree_size"], lines)
    forged = edit_checkpoints(fake, W / "transplanted.tar.gz", transplant, site.key)
    expect_both(rewritten, forged, 1, "a rewritten history carrying the original's cosignatures",
                "--registry-key", str(pub), word="cosignature", text="does not verify")

    # An ECDSA key cannot cosign (cosignature/v1 is Ed25519): the registry says so at start.
    ecdsa = W / "ecdsa.key"
    subprocess.run([agent, "keygen", "--out", str(ecdsa), "--algorithm", "ecdsa-p256"], check=True,
                   capture_output=True)
    cfg = reg.config.read_text().replace(f'key_file = "{key}"', f'key_file = "{ecdsa}"', 1)
    bad_cfg = reg.dir / "bad-registry.toml"  # beside the good one: the same relative paths
    bad_cfg.write_text(cfg)
    r = subprocess.run([reg.binary, "--config", str(bad_cfg), "--check-config"], capture_output=True, text=True)
    check(r.returncode != 0 and "Ed25519" in r.stdout + r.stderr,
          f"an ECDSA cosigning key is refused, naming Ed25519: exit {r.returncode} {r.stdout}{r.stderr}")


def later():
    key, pub = cosign_key("cosign")
    pki = Pki(W / "pki")
    token, _ = new_token()
    reg = Registry(agent, W / "registry", pki, {"it-site": {"token": token}})
    site = run_site(reg, token, 800)
    check(not journal_cosignatures(site), "a registry without [cosign] cosigns nothing")
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        early = db.execute("SELECT max(tree_size) FROM checkpoints").fetchone()[0]
    reg.stop()
    reg.config.write_text(reg.config.read_text() + cosign_section(key) + "\n")
    reg.start()
    site.set_interval(20)
    p = site.start()
    deadline = time.time() + 60
    while not [t for t, _, _ in journal_cosignatures(site) if t > early + 100]:
        if time.time() > deadline:
            fail(f"no cosigned checkpoint after the registry began cosigning: {site.log_tail()}")
        time.sleep(0.3)
    site.stop(p)
    # A range that ends before the registry cosigned: its closing checkpoint is not cosigned.
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        to_ms = db.execute("SELECT ts_ms FROM records WHERE seq = ?", (early // 2,)).fetchone()[0]
    bundle = site.dir / "early.tar.gz"
    site.run("export", "--config", str(site.config), "--from", "0", "--to", str(to_ms), "--out", str(bundle),
             "--format", "bundle")
    cps = json.loads(read_members(bundle)["checkpoints.json"])
    later_cp = cps.get("cosigned_later")
    check(later_cp and not cps["checkpoints"][-1].get("cosignatures"),
          "the bundle's closing checkpoint is not cosigned and it carries a later one that is")
    size = int(later_cp["note"].split("\n")[1])
    closing = cps["checkpoints"][-1]["tree_size"]
    expect_both(site, bundle, 0, "a later cosigned checkpoint, consistent with the closing one",
                "--registry-key", str(pub), "--require-cosigned",
                text=f"a later checkpoint (tree size {size}), consistent with the closing one (tree size {closing})")

    def wrong_proof(d):
        d["cosigned_later"]["consistency"][0] = "00" * 32
    forged = edit_checkpoints(bundle, W / "wrong-proof.tar.gz", wrong_proof, site.key)
    expect_both(site, forged, 1, "a wrong consistency proof to the later checkpoint", "--registry-key", str(pub),
                word="cosigned_later")

    def unsigned_later(d):
        note = d["cosigned_later"]["note"]
        at = len(note) - 20  # inside the site's signature, clear of base64's unused bits
        d["cosigned_later"]["note"] = note[:at] + ("A" if note[at] != "A" else "B") + note[at + 1:]
    forged = edit_checkpoints(bundle, W / "unsigned-later.tar.gz", unsigned_later, site.key)
    expect_both(site, forged, 1, "a later checkpoint whose note the site did not sign", "--registry-key", str(pub),
                word="cosigned_later", text="cosigned by the registry: not cosigned")

    def no_later(d):
        d.pop("cosigned_later")
    forged = edit_checkpoints(bundle, W / "no-later.tar.gz", no_later, site.key)
    expect_both(site, forged, 1, "without the later checkpoint, cosignature required", "--registry-key", str(pub),
                "--require-cosigned", word="cosignature")


MODES = {"cosigned": cosigned, "later": later}
if mode not in MODES:
    fail(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
t_start = time.time()
MODES[mode]()
print(f"{mode}: passed in {time.time() - t_start:.0f} s")
