#!/usr/bin/python3
"""A signing key held in a TPM (docs/operations.md, "A key in the TPM"), against Debian's
swtpm on loopback and OpenSSL's tpm2 provider: keygen --tpm, check-config, a run on a
simulated meter in checkpoint-only mode, and a bundle that both verifiers accept with the
plain public key. Usage: tpm_test.py AGENT MODE (run | missing | statement)"""
import base64
import json
import os
import stat
import subprocess
import sys
import tarfile
import time

from harness import Site, bundle_verifier, check, fail
from tpm_harness import SoftwareTpm

agent, mode = sys.argv[1], sys.argv[2]


def tpm_site(tpm, extra=""):
    """A site whose key is made in `tpm` by keygen --tpm (the ECDSA key keygen made first
    is replaced)."""
    site = Site(agent, algorithm="ecdsa-p256",
                extra_signing=f'mode = "checkpoint"\ntpm_tcti = "{tpm.tcti}"\n{extra}')
    site.key.unlink()
    out = site.run("keygen", "--tpm", "--tcti", tpm.tcti, "--out", str(site.key))
    site.public_pem.write_text(out.stdout.split("key id:")[0])
    site.key_id = out.stdout.split("key id: ")[1].split()[0]
    return site, out


def verify_both(site, bundle, *extra):
    a = site.run("verify", str(bundle), "--public-key", str(site.public_pem), *extra, check_rc=False)
    p = subprocess.run(["/usr/bin/python3", bundle_verifier(), str(bundle), "--public-key", str(site.public_pem),
                        *extra], capture_output=True, text=True, timeout=300)
    return (a.returncode, a.stdout + a.stderr), (p.returncode, p.stdout + p.stderr)


def tpm_claims(site, bundle, *extra):
    """What both verifiers (--json) say about each key's TPM claim: two {key id: text}."""
    out = []
    for argv in ([agent, "verify"], ["/usr/bin/python3", bundle_verifier()]):
        p = subprocess.run([*argv, str(bundle), "--public-key", str(site.public_pem), "--json", *extra],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            fail(f"{argv[-1]} exits {p.returncode} on a valid bundle: {p.stdout}{p.stderr}")
        out.append(json.loads(p.stdout)["tpm"])
    return out


def mode_run():
    tpm = SoftwareTpm()
    site, out = tpm_site(tpm)
    pem = site.key.read_text()
    check(pem.startswith("-----BEGIN TSS2 PRIVATE KEY-----"), "keygen --tpm writes a TSS2 private key")
    check(stat.S_IMODE(site.key.stat().st_mode) == 0o600, "the key file has mode 0600")
    check("held in the TPM" in out.stdout, "keygen --tpm says the key is held in the TPM")
    again = site.run("keygen", "--tpm", "--tcti", tpm.tcti, "--out", str(site.key), check_rc=False)
    check(again.returncode == 1 and site.key.read_text() == pem, "keygen --tpm never overwrites a key file")
    ed = site.run("keygen", "--tpm", "--algorithm", "ed25519", "--out", str(site.dir / "ed.key"), check_rc=False)
    check(ed.returncode == 2 and not (site.dir / "ed.key").exists(), "keygen --tpm refuses --algorithm ed25519")

    # OpenSSL's own command line, through the same provider, derives the same public key.
    p = subprocess.run(["openssl", "pkey", "-provider", "tpm2", "-provider", "default", "-in", str(site.key),
                        "-pubout"], capture_output=True, text=True, env=tpm.env(), timeout=60)
    check(p.returncode == 0 and p.stdout == site.public_pem.read_text(),
          "openssl pkey with the tpm2 provider prints the public key keygen printed")

    c = site.run("check-config", "--config", str(site.config))
    check(f"held in the TPM, ecdsa-p256-sha256, key id {site.key_id}" in c.stdout,
          "check-config reaches the TPM and names the key held there")
    text = site.config.read_text()
    site.config.write_text(text.replace('mode = "checkpoint"', 'mode = "record"'))
    c = site.run("check-config", "--config", str(site.config), check_rc=False)
    check(c.returncode == 1 and "signing.mode" in c.stderr and "checkpoints only" in c.stderr,
          "check-config refuses a TPM key with mode = record, naming signing.mode")
    r = site.run("run", "--config", str(site.config), "--duration", "1", check_rc=False)
    check(r.returncode != 0 and not site.journal.exists(), "run refuses it too, before opening a journal")
    site.config.write_text(text)

    # Another TPM cannot use the key: it is wrapped by the first TPM's storage hierarchy.
    other = SoftwareTpm("other-tpm")
    site.config.write_text(text.replace(tpm.tcti, other.tcti))
    c = site.run("check-config", "--config", str(site.config), check_rc=False)
    check(c.returncode == 1 and "TPM did not load the key" in c.stderr,
          f"another TPM cannot load the key: {c.stderr.strip()}")
    other.stop()
    site.config.write_text(text)

    t0 = time.time()
    r = site.run("run", "--config", str(site.config), "--duration", "4", timeout=60)
    check("held in the TPM" in r.stderr, "run logs that the key is held in the TPM")
    check(time.time() - t0 < 30, "a 4 s run with TPM checkpoints ends in time")
    bundle = site.bundle()
    with tarfile.open(bundle, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    keys = json.loads(members["keys.json"])
    check([k["key_id"] for k in keys] == [site.key_id] and keys[0]["algorithm"] == "ecdsa-p256-sha256",
          "keys.json holds the TPM key as an ordinary ecdsa-p256-sha256 key")
    lines = [json.loads(x) for x in members["records.ndjson"].decode().splitlines()]
    check(len(lines) >= 6, f"the simulated meter's readings were committed ({len(lines)} records)")
    check(all('"alg":"checkpoint"' in x["record"] and x["signature"] == "" for x in lines),
          "every record is checkpoint-only (no per-record TPM signature)")
    cps = json.loads(members["checkpoints.json"])["checkpoints"]
    check(len(cps) >= 2, f"checkpoints were signed in the TPM ({len(cps)} in the bundle)")
    (ac, ao), (pc, po) = verify_both(site, bundle)
    check(ac == 0 and "VALID" in ao, f"mrv-agent verify accepts the bundle with the public key:\n{ao.strip()}")
    check(pc == 0 and "VALID" in po, f"verify_bundle.py accepts it too:\n{po.strip()}")

    # A checkpoint's signature, checked by the openssl command line (docs/verification.md §3).
    note = cps[-1]["note"]
    body = "".join(line + "\n" for line in note.split("\n")[:4])
    sig = base64.b64decode(note.rstrip("\n").split("\n")[-1].split(" ")[2])[4:]
    (site.dir / "body.txt").write_text(body)
    (site.dir / "sig.bin").write_bytes(sig)
    v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(site.public_pem), "-signature",
                        str(site.dir / "sig.bin"), str(site.dir / "body.txt")], capture_output=True, text=True)
    check(v.returncode == 0 and "Verified OK" in v.stdout, "openssl dgst verifies the TPM's checkpoint signature")
    sig = bytearray(sig)
    sig[-1] ^= 1
    (site.dir / "sig.bin").write_bytes(bytes(sig))
    v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(site.public_pem), "-signature",
                        str(site.dir / "sig.bin"), str(site.dir / "body.txt")], capture_output=True, text=True)
    check(v.returncode != 0, "and refuses it with one bit changed")
    tpm.stop()


def mode_missing():
    tpm = SoftwareTpm()
    site, _ = tpm_site(tpm)
    tpm.stop()  # the TPM is gone: nothing listens on its port
    c = site.run("check-config", "--config", str(site.config), check_rc=False)
    check(c.returncode == 1 and "cannot reach the TPM" in c.stderr and tpm.tcti in c.stderr
          and "\n" not in c.stderr.strip(),
          f"check-config says in one line that the TPM cannot be reached, naming the TCTI: {c.stderr.strip()}")
    r = site.run("run", "--config", str(site.config), "--duration", "2", check_rc=False)
    check(r.returncode == 1 and "cannot reach the TPM" in r.stderr and not site.journal.exists(),
          "run exits 1 saying so, before it opens a journal")
    tpm.start()  # on a new port: the config's TCTI still names the old one
    site.config.write_text("\n".join(f'tpm_tcti = "{tpm.tcti}"' if line.startswith("tpm_tcti") else line
                                     for line in site.config.read_text().split("\n")))
    # Without the provider (OpenSSL finds no tpm2 module), check-config says which package.
    env = dict(os.environ, OPENSSL_MODULES="/nonexistent")
    c = subprocess.run([agent, "check-config", "--config", str(site.config)], capture_output=True, text=True,
                       env=env, timeout=60)
    check(c.returncode == 1 and "tpm2 provider is not installed (Debian package tpm2-openssl)" in c.stderr,
          f"without the tpm2 provider check-config names the package tpm2-openssl: {c.stderr.strip()}")
    c = site.run("check-config", "--config", str(site.config))
    check("held in the TPM" in c.stdout, "with the TPM back (same state, new port) check-config passes")
    tpm.stop()


def mode_statement():
    tpm = SoftwareTpm()
    site, out = tpm_site(tpm)
    statement_file = site.dir / "agent.key.tpm.json"
    check(statement_file.exists() and "TPM key statement" in out.stdout, "keygen --tpm writes the key statement")
    statement = json.loads(statement_file.read_text())
    check(statement["format"] == "mrv-tpm-key/1" and set(statement) == {
        "format", "ek_certificate", "ak_public", "key_public", "certify_info", "certify_signature"},
        "the statement has the members of docs/verification.md §8")
    ca = site.dir / "tpm-ca.pem"  # the test manufacturer: root and intermediate
    ca.write_bytes(tpm.root_ca.read_bytes() + (tpm.ca / "issuercert.pem").read_bytes())
    site.run("run", "--config", str(site.config), "--duration", "3", timeout=60)
    bundle = site.bundle()
    with tarfile.open(bundle, "r:gz") as tar:
        keys = json.loads(tar.extractfile("keys.json").read())
    check(keys[0].get("tpm") == statement, "keys.json carries the statement as the key's tpm member")

    (ac, ao), (pc, po) = verify_both(site, bundle, "--tpm-ca", str(ca))
    line = f"key {site.key_id} held in a TPM: verified"
    check(ac == 0 and line in ao, f"mrv-agent verify --tpm-ca: verified against the test CA:\n{ao.strip()}")
    check(pc == 0 and line in po, f"verify_bundle.py --tpm-ca: verified against the test CA:\n{po.strip()}")
    a, p = tpm_claims(site, bundle, "--tpm-ca", str(ca))
    check(a[site.key_id].startswith("verified") and p[site.key_id].startswith("verified"),
          "--json says verified in both")

    # Another manufacturer's CA (a second swtpm's throwaway CA): the EK does not chain.
    other = SoftwareTpm("other-tpm")
    other_ca = site.dir / "other-ca.pem"
    other_ca.write_bytes(other.root_ca.read_bytes() + (other.ca / "issuercert.pem").read_bytes())
    other.stop()
    a, p = tpm_claims(site, bundle, "--tpm-ca", str(other_ca))
    check(all(x[site.key_id].startswith("claimed but unverifiable") and "does not chain" in x[site.key_id]
              for x in (a, p)), f"against another CA both say claimed but unverifiable: {a} {p}")
    a, p = tpm_claims(site, bundle)
    check(all("no TPM manufacturer CA bundle" in x[site.key_id] for x in (a, p)),
          "without --tpm-ca both say claimed but unverifiable, naming the missing CA bundle")

    # The statement of another key of the same TPM, beside this key: the export carries it
    # (signed by the agent), and both verifiers see the attested key is not the signing key.
    second = site.dir / "second.key"
    site.run("keygen", "--tpm", "--tcti", tpm.tcti, "--out", str(second))
    statement_file.write_text((site.dir / "second.key.tpm.json").read_text())
    swapped = site.bundle("swapped.tar.gz")
    (ac, ao), (pc, po) = verify_both(site, swapped, "--tpm-ca", str(ca))
    line = f"key {site.key_id} held in a TPM: claimed but unverifiable (the attested key is not this signing key)"
    check(ac == 0 and line in ao and pc == 0 and line in po,
          f"a statement about another key: both say claimed but unverifiable:\n{ao.strip()}\n{po.strip()}")

    # A forged attestation: one byte of certify_info changed (the export signs what it is given).
    forged = dict(statement)
    raw = bytearray(base64.b64decode(forged["certify_info"]))
    raw[len(raw) // 2] ^= 0x01
    forged["certify_info"] = base64.b64encode(bytes(raw)).decode()
    statement_file.write_text(json.dumps(forged))
    a, p = tpm_claims(site, site.bundle("forged.tar.gz"), "--tpm-ca", str(ca))
    check(all(x[site.key_id].startswith("claimed but unverifiable") for x in (a, p)),
          f"a changed attestation: both say claimed but unverifiable: {a[site.key_id]} / {p[site.key_id]}")
    tpm.stop()

    # A file key: nothing claimed.
    soft = Site(agent, algorithm="ecdsa-p256")
    soft.run("run", "--config", str(soft.config), "--duration", "2", timeout=60)
    soft_bundle = soft.bundle()
    (ac, ao), (pc, po) = verify_both(soft, soft_bundle, "--tpm-ca", str(ca))
    key_id = json.loads(tarfile.open(soft_bundle, "r:gz").extractfile("keys.json").read())[0]["key_id"]
    line = f"key {key_id} held in a TPM: not claimed"
    check(ac == 0 and line in ao and pc == 0 and line in po, "a file key: both say not claimed")


{"run": mode_run, "missing": mode_missing, "statement": mode_statement}.get(mode, lambda: fail(f"unknown mode {mode}"))()
