#!/usr/bin/python3
"""A signing key held in a TPM (docs/operations.md, "A key in the TPM"), against Debian's
swtpm on loopback and OpenSSL's tpm2 provider: keygen --tpm, check-config, a run on a
simulated meter in checkpoint-only mode, and a bundle that both verifiers accept with the
plain public key; the registry activating the attestation key in the TPM of the EK
certificate. Usage: tpm_test.py AGENT MODE (run | missing | statement | activate)"""
import base64
import hashlib
import json
import os
import pathlib
import re
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import tarfile
import tempfile
import time

from bundle_tools import fix_manifest, read_members, write_bundle
from harness import Site, bundle_verifier, check, fail
from tpm_harness import SoftwareTpm

agent, mode = sys.argv[1], sys.argv[2]


def tpm_site(tpm, extra="", make=Site):
    """A site (made by `make`) whose key is made in `tpm` by keygen --tpm (the ECDSA key
    keygen made first is replaced)."""
    site = make(agent, algorithm="ecdsa-p256",
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


def tpm_claims(site, bundle, *extra, rc=0, member="tpm"):
    """What both verifiers (--json) say about each key's TPM claim: two {key id: text}
    (or another member of their --json). Both must exit `rc`."""
    out = []
    for argv in ([agent, "verify"], ["/usr/bin/python3", bundle_verifier()]):
        p = subprocess.run([*argv, str(bundle), "--public-key", str(site.public_pem), "--json", *extra],
                           capture_output=True, text=True, timeout=300)
        if p.returncode != rc:
            fail(f"{argv[-1]} exits {p.returncode}, not {rc}: {p.stdout}{p.stderr}")
        out.append(json.loads(p.stdout)[member])
    return out


def sign_in_tpm(site, tpm, members, folder):
    """Signs a bundle's (fixed) manifest again with the site's key, in the TPM, through
    openssl's tpm2 provider: a forgery that only the key's holder could make."""
    (folder / "manifest.json").write_bytes(members["manifest.json"])
    s = subprocess.run(["openssl", "dgst", "-sha256", "-provider", "tpm2", "-provider", "default", "-propquery",
                        "?provider=tpm2", "-sign", str(site.key), "-out", str(folder / "manifest.der"),
                        str(folder / "manifest.json")], capture_output=True, text=True, env=tpm.env(), timeout=60)
    check(s.returncode == 0, f"the site's key signs the manifest again in the TPM: {s.stderr}")
    sig = json.loads(members["manifest.sig"])
    sig["signature"] = base64.b64encode((folder / "manifest.der").read_bytes()).decode()
    members["manifest.sig"] = json.dumps(sig).encode()


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
    check(a[site.key_id].startswith("verified") and a == p, f"--json says verified in both, in the same words: {a}")

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


def tools(tpm, folder, script):
    """A tpm2-tools script run in `folder` against `tpm`: (exit code, output)."""
    p = subprocess.run(["sh", "-ec", script], cwd=folder, env=tpm.env(), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def ek_certificate(tpm, folder):
    rc, out = tools(tpm, folder, "tpm2_nvread 0x01c00002 -o ek.der")
    check(rc == 0, "the TPM's RSA EK certificate is read from NV" + ("" if rc == 0 else f": {out}"))
    return (folder / "ek.der").read_bytes()


def hand_statement(tpm, key_file, folder, ek_cert):
    """A statement (docs/verification.md §8.1) made by hand with tpm2-tools in `tpm`, as a
    forger would, carrying `ek_cert`; its EK and AK contexts stay in `folder`."""
    folder.mkdir()
    steps = ["tpm2_createek -c ek.ctx -G rsa -u ek.pub",
             "tpm2_createak -C ek.ctx -c ak.ctx -G ecc -g sha256 -s ecdsa -u ak.pub -f tss -n ak.name",
             f"tpm2_load -r {key_file} -c key.ctx", "tpm2_readpublic -c key.ctx -o key.pub -f tss",
             "tpm2_certify -c key.ctx -C ak.ctx -g sha256 -o attest.bin -s sig.bin -f plain"]
    # swtpm holds three transient objects: each step's are flushed (their contexts stay in files).
    rc, out = tools(tpm, folder, "".join(f"{step}\ntpm2_flushcontext -t\ntpm2_flushcontext -s\n" for step in steps))
    check(rc == 0, "a statement made by hand with tpm2-tools" + ("" if rc == 0 else f": {out[-500:]}"))

    def b64(name):
        return base64.b64encode((folder / name).read_bytes()).decode()
    return json.dumps({"format": "mrv-tpm-key/1", "ek_certificate": base64.b64encode(ek_cert).decode(),
                       "ak_public": b64("ak.pub"), "key_public": b64("key.pub"), "certify_info": b64("attest.bin"),
                       "certify_signature": b64("sig.bin")})


def open_challenge(tpm, folder, answer):
    """TPM2_ActivateCredential of the registry's challenge with the AK and EK of `folder`:
    (the credential or None, the tools' output)."""
    (folder / "challenge.bin").write_bytes(struct.pack(">II", 0xBADCC0DE, 1) + base64.b64decode(answer["id_object"])
                                           + base64.b64decode(answer["encrypted_secret"]))
    rc, out = tools(tpm, folder, """
        tpm2_startauthsession --policy-session -S session.ctx
        tpm2_policysecret -S session.ctx -c e
        rc=0
        tpm2_activatecredential -c ak.ctx -C ek.ctx -i challenge.bin -o credential.bin -P session:session.ctx || rc=$?
        tpm2_flushcontext session.ctx
        tpm2_flushcontext -t
        exit $rc""")
    return ((folder / "credential.bin").read_bytes() if rc == 0 else None), out


def mode_activate():
    from cryptography.hazmat.primitives import serialization
    from upload_harness import SITE, Pki, Registry, UploadSite, new_token
    work = tempfile.TemporaryDirectory(prefix="mrv-tpm-activate-")
    W = pathlib.Path(work.name)
    tpm = SoftwareTpm()
    ca = W / "tpm-ca.pem"  # the test manufacturer: root and intermediate
    ca.write_bytes(tpm.root_ca.read_bytes() + (tpm.ca / "issuercert.pem").read_bytes())
    pki = Pki(W / "pki")
    token, _ = new_token()
    reader, _ = new_token()
    registry_key, registry_pub = W / "registry.key", W / "registry.pub"
    subprocess.run([agent, "keygen", "--out", str(registry_key)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(registry_key), "-pubout", "-out", str(registry_pub)], check=True)
    registry_id = hashlib.sha256(serialization.load_pem_public_key(registry_pub.read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    reg = Registry(agent, W / "registry", pki, {SITE: {"token": token, "extra": "checkpoint_only = true\n"}},
                   readers={"verifier": reader}, extra=f'[bundle]\nkey_file = "{registry_key}"')
    site, _ = tpm_site(tpm, make=lambda a, **kw: UploadSite(a, pki, reg.url, token=token, **kw))
    statement_file = site.dir / "agent.key.tpm.json"
    keys_url = f"/v1/sites/{SITE}/keys"
    statement_url = f"{keys_url}/{site.key_id}/tpm"
    activation_url = statement_url + "/activation"

    def post(path, body):
        body = body if isinstance(body, str) else json.dumps(body)
        return reg.request("POST", path, body=body.encode(), headers={"Content-Type": "application/json"}, token=token)

    def refused(answer, status, error, what):
        check(answer[0] == status and answer[2] and answer[2].get("error") == error,
              f"{what}: HTTP {status} {error} (got {answer[0]} {answer[1][:300]!r})")

    def stored():
        return sorted(p.name for p in (reg.dir / "regdata").rglob("*.tpm/*"))

    def guess():
        return {"credential": base64.b64encode(os.urandom(32)).decode()}

    a = site.run("tpm-activate", "--config", str(site.config), check_rc=False)
    check(a.returncode == 1 and "the registry's challenge" in a.stderr and "no [tpm] ca_file" in a.stderr,
          f"tpm-activate with a registry that activates no TPM keys exits 1 naming the step: {a.stderr.strip()}")
    refused(post(statement_url, statement_file.read_text()), 404, "not_found",
            "a registry without [tpm] ca_file takes no statement")
    reg.stop()
    reg.config.write_text(reg.config.read_text() + f'[tpm]\nca_file = "{ca}"\n')
    reg.start()
    refused(post(f"{keys_url}/{'0' * 64}/tpm", statement_file.read_text()), 404, "not_found",
            "a statement for a key not registered")
    status, _, _ = reg.request("PUT", keys_url, body=site.public_pem.read_bytes(),
                               headers={"Content-Type": "application/x-pem-file"}, token=token)
    check(status == 200, f"the TPM key is registered: HTTP {status}")
    refused(post(activation_url, guess()), 409, "no_challenge", "an activation with no challenge open")
    refused(post(statement_url, "[1, 2"), 400, "malformed", "a body that is not a JSON object")
    refused(post(statement_url, " " * 32768), 400, "malformed", "a body of 32,768 bytes is read")
    refused(post(statement_url, " " * 32769), 413, "too_large", "a body of 32,769 bytes is refused")

    def padded(size):  # a statement of exactly `size` bytes as sent
        head = json.dumps({"format": "mrv-tpm-key/1", "pad": ""})
        return head[:-2] + " " * (size - len(head)) + head[-2:]
    refused(post(statement_url, padded(16384)), 422, "tpm_unverifiable", "a statement of 16,384 bytes is checked")
    refused(post(statement_url, padded(16385)), 400, "malformed", "a statement of 16,385 bytes is refused")
    forged = json.loads(statement_file.read_text())
    raw = bytearray(base64.b64decode(forged["certify_info"]))
    raw[len(raw) // 2] ^= 0x01
    forged["certify_info"] = base64.b64encode(bytes(raw)).decode()
    refused(post(statement_url, forged), 422, "tpm_unverifiable", "a statement whose attestation was changed")
    forged["format"] = 1
    refused(post(statement_url, forged), 422, "tpm_unverifiable", "a statement whose format is not a string")
    refused(post(activation_url, guess()), 409, "no_challenge", "and it opened no challenge")

    # The forgery activation exists for: this TPM's AK and key, beside the EK certificate
    # of another TPM of the same manufacturer. The statement verifies (the AK is not bound
    # to the EK by anything in it), so the registry challenges; only the other TPM could
    # open the challenge, and a guess ends it.
    other = SoftwareTpm("other-tpm", ca_of=tpm)
    (W / "other").mkdir()
    other_ek = ek_certificate(other, W / "other")
    other.stop()
    status, _, answer = post(statement_url, hand_statement(tpm, site.key, W / "swapped", other_ek))
    check(status == 200 and "id_object" in answer, f"a statement carrying another TPM's EK certificate verifies "
                                                   f"and is challenged: HTTP {status} {answer}")
    credential, out = open_challenge(tpm, W / "swapped", answer)
    check(credential is None and "tpm2_activatecredential" in out,
          f"this TPM cannot open a challenge sealed to the other TPM's EK: {out.strip()[-300:]}")
    refused(post(activation_url, guess()), 403, "tpm_activation_failed", "a guessed credential")
    refused(post(activation_url, guess()), 409, "no_challenge", "a second guess: the wrong answer ended the challenge")
    check(stored() == [], f"nothing is stored of the refused activation: {stored()}")
    status, _, keys = reg.request("GET", keys_url, token=token)
    check(status == 200 and all("tpm_activated_ms" not in k for k in keys), "GET keys shows no activation")
    check("a wrong TPM credential" in reg.log_tail(), "the registry logs the wrong credential")

    # The same statement by hand with this TPM's own EK certificate: the TPM opens the
    # challenge, the registry takes the credential once.
    status, _, answer = post(statement_url, hand_statement(tpm, site.key, W / "honest", ek_certificate(tpm, W)))
    credential, out = open_challenge(tpm, W / "honest", answer)
    check(status == 200 and credential is not None and len(credential) == 32,
          "with its own EK certificate the TPM opens the challenge" + ("" if credential else f": {out[-300:]}"))
    status, _, done = post(activation_url, {"credential": base64.b64encode(credential).decode()})
    check(status == 200 and done.get("key_id") == site.key_id and done.get("activated_ms", 0) > 0,
          f"the registry takes the credential: HTTP {status} {done}")
    refused(post(activation_url, {"credential": base64.b64encode(credential).decode()}), 409, "no_challenge",
            "the same credential again")

    # A start before the activation: its certification verifies with the activated statement.
    site.run("run", "--config", str(site.config), "--duration", "1", timeout=60)
    # The agent's own path: register, statement, challenge, TPM2_ActivateCredential.
    before = statement_file.read_text()
    t0 = time.time()
    a = site.run("tpm-activate", "--config", str(site.config))
    check(f"key {site.key_id}: attestation key activated in this TPM by the registry" in a.stdout,
          f"mrv-agent tpm-activate in {time.time() - t0:.2f} s: {a.stdout.strip()}")
    statement = json.loads(statement_file.read_text())
    check(statement["ak_public"] == json.loads(before)["ak_public"]
          and statement["certify_info"] != json.loads(before)["certify_info"],
          "tpm-activate keeps the statement it activated beside the key: the kept attestation key, certified anew")
    status, _, keys = reg.request("GET", keys_url, token=token)
    mine = [k for k in keys if k["key_id"] == site.key_id]
    check(len(mine) == 1 and mine[0].get("tpm") == statement and mine[0]["tpm_activated_ms"] > done["activated_ms"],
          "GET keys shows the key with the statement tpm-activate made and its activation time")
    check(stored() == [f"{site.key_id}.json"], f"one activation file per key: {stored()}")

    p = site.start()
    time.sleep(4)
    site.stop(p)
    site.drain(60)
    status, body, _ = reg.request("GET", f"/v1/sites/{SITE}/bundle?from=0&to=99999999999999", token=reader)
    check(status == 200, f"a reader downloads the registry's bundle: HTTP {status}")
    bundle = W / "registry-bundle.tar.gz"
    bundle.write_bytes(body)
    key_entry = [k for k in json.loads(read_members(bundle)["keys.json"]) if k["key_id"] == site.key_id][0]
    check(key_entry.get("tpm") == statement and key_entry["tpm_activation"]["registry_key_id"] == registry_id,
          "the registry's keys.json carries the activated statement and its tpm_activation")
    given = ("--registry-key", str(registry_pub), "--tpm-ca", str(ca))
    line = f"the attestation key was activated in that TPM by registry {registry_id} at "
    (ac, ao), (pc, po) = verify_both(site, bundle, *given)
    check(ac == 0 and pc == 0 and line in ao and line in po and "held in a TPM: verified" in ao,
          f"both verifiers: held in a TPM, verified, activated by the registry:\n{ao.strip()}\n{po.strip()}")
    a, p = tpm_claims(site, bundle, *given)
    check(a == p, f"in the same words (--json): {a}")
    own = site.bundle()
    (ac, ao), (pc, po) = verify_both(site, own, "--tpm-ca", str(ca))
    line = "the attestation key was not activated by a registry: its binding to this EK is the site's word"
    check(ac == 0 and pc == 0 and line in ao and line in po, f"the site's own bundle: not activated by a registry:"
                                                              f"\n{ao.strip()}\n{po.strip()}")
    a, p = starts_of(site, own, "--tpm-ca", str(ca))
    n = re.match(r"verified \((\d+) starts, counter \d+\.\.\d+, each start the next\)$", a)
    check(a == p and n and int(n.group(1)) >= 2,
          f"the start before the activation and the one after verify with the activated statement: {a} | {p}")

    # A claimed activation that no given registry key vouches for: in a keys.json changed
    # after the registry signed the manifest (the bundle fails too), in the registry's
    # bundle naming another registry (signed again by this registry), and in the site's
    # own bundle (signed again with the site's key, in the TPM).
    claim = "is claimed, but no --registry-key of that id signed the manifest"
    members = read_members(bundle)
    members["keys.json"] += b" "
    a, p = tpm_claims(site, write_bundle(members, W / "unlisted.tgz", fix=False), *given, rc=1)
    check(all(claim in x[site.key_id] for x in (a, p)),
          f"a keys.json the signed manifest does not list: the activation is not credited: {a} {p}")

    def registry_bundle_with(activation, name):  # the registry's bundle, its claim replaced, signed again
        members = read_members(bundle)
        keys = json.loads(members["keys.json"])
        for k in keys:
            if "tpm_activation" in k:
                k["tpm_activation"] = activation
        members["keys.json"] = json.dumps(keys).encode()
        return write_bundle(fix_manifest(members, registry_key), W / name, fix=False)
    at = key_entry["tpm_activation"]["activated_at"]
    a, p = tpm_claims(site, registry_bundle_with({"registry_key_id": "ab" * 32, "activated_at": at}, "renamed.tgz"),
                      *given)
    check(all(claim in x[site.key_id] for x in (a, p)), f"an activation naming another registry: {a} {p}")
    # The key listed twice, first without its statement: the first entry speaks, in both.
    members = read_members(bundle)
    keys = json.loads(members["keys.json"])
    bare = {k: v for k, v in key_entry.items() if k not in ("tpm", "tpm_activation")}
    members["keys.json"] = json.dumps([bare] + keys).encode()
    a, p = tpm_claims(site, write_bundle(fix_manifest(members, registry_key), W / "twice.tgz", fix=False), *given)
    check(a == p and a[site.key_id] == "not claimed", f"a key listed twice: its first entry speaks: {a} {p}")
    for i, bad in enumerate(["x", {"registry_key_id": 7, "activated_at": at},
                             {"registry_key_id": registry_id.upper(), "activated_at": at},
                             {"registry_key_id": registry_id, "activated_at": "2026-12-05 07:49:31Z"},
                             {"registry_key_id": registry_id, "activated_at": "999-01-01T00:00:00Z"}]):
        a, p = tpm_claims(site, registry_bundle_with(bad, f"bad-{i}.tgz"), *given)
        check(all("its tpm_activation is malformed" in x[site.key_id] for x in (a, p)),
              f"a malformed tpm_activation {bad!r}: both say so: {a} {p}")
    members = read_members(own)
    keys = json.loads(members["keys.json"])
    for k in keys:
        if k["key_id"] == site.key_id:
            k["tpm_activation"] = key_entry["tpm_activation"]
    members["keys.json"] = json.dumps(keys).encode()
    fix_manifest(members)
    sign_in_tpm(site, tpm, members, W)
    claimed = write_bundle(members, W / "claimed.tar.gz", fix=False)
    a, p = tpm_claims(site, claimed, "--tpm-ca", str(ca))
    check(all(claim in x[site.key_id] for x in (a, p)),
          f"the site's own bundle claiming the registry's activation: {a} {p}")
    a, p = tpm_claims(site, claimed, *given)
    check(all(claim in x[site.key_id] for x in (a, p)),
          f"and so with the registry's key given, as the registry did not sign that manifest: {a} {p}")
    tpm.stop()

    # tpm-activate needs a registry and a key in a TPM.
    plain = Site(agent)
    a = plain.run("tpm-activate", "--config", str(plain.config), check_rc=False)
    check(a.returncode == 1 and "no [upload] section" in a.stderr, f"without [upload]: exit 1, {a.stderr.strip()}")
    file_key = UploadSite(agent, pki, reg.url, token=token)
    a = file_key.run("tpm-activate", "--config", str(file_key.config), check_rc=False)
    check(a.returncode == 1 and "not a key held in a TPM" in a.stderr, f"a file key: exit 1, {a.stderr.strip()}")


def starts_of(site, bundle, *extra, rc=0):
    """What both verifiers (--json) say of the bundle's starts (§8.4): two texts."""
    return tpm_claims(site, bundle, *extra, rc=rc, member="tpm_starts")


def mode_counter():
    tpm = SoftwareTpm()
    site, _ = tpm_site(tpm)
    check(json.loads((site.dir / (site.key.name + ".tpm-ak.json")).read_text())["format"] == "mrv-tpm-ak/1",
          "keygen --tpm keeps the statement's attestation key beside the key")
    counters = []

    def start(seconds=2):
        r = site.run("run", "--config", str(site.config), "--duration", str(seconds), timeout=60)
        m = re.search(r"start bound to the TPM's counter 0x01000d00 at (\d+) \(journal head seq (\d+)\)", r.stderr)
        check(m is not None, f"run binds its start to the TPM's counter: {r.stderr[-600:]}")
        counters.append(int(m.group(1)))
        return r
    start()
    saved = site.dir / "saved"
    saved.mkdir()
    for f in site.journal.parent.glob(site.journal.name + "*"):
        shutil.copy2(f, saved / f.name)
    start()
    start()
    check(counters[1:] == [counters[0] + 1, counters[0] + 2], f"each start counts one up: {counters}")
    with sqlite3.connect(site.journal) as db:
        rows = db.execute("SELECT counter, head_seq FROM tpm_starts ORDER BY counter").fetchall()
    check([c for c, _ in rows] == counters and rows[0][1] == 0 and rows[1][1] > 0,
          f"the journal keeps each start, the first at head seq 0: {rows}")
    bundle = site.bundle("whole.tar.gz")
    (site.dir / "tpm-ca.pem").write_bytes(tpm.root_ca.read_bytes() + (tpm.ca / "issuercert.pem").read_bytes())
    ca = ("--tpm-ca", str(site.dir / "tpm-ca.pem"))
    a, p = starts_of(site, bundle, *ca)
    want = f"verified (3 starts, counter {counters[0]}..{counters[2]}, each start the next)"
    check(a == p == want, f"both verifiers, given the manufacturer's CA: {want}: {a} | {p}")
    a, p = starts_of(site, bundle)
    check(a == p and a.startswith("claimed but unverifiable (start 1: key ") and "has no verified TPM statement" in a,
          f"without the CA the attestation key is unproven, so are the starts: {a} | {p}")

    # The journal restored from the copy made after the first start: the counter jumps.
    for f in site.journal.parent.glob(site.journal.name + "*"):
        f.unlink()
    for f in saved.iterdir():
        shutil.copy2(f, site.journal.parent / f.name)
    r = start()
    check(counters[3] == counters[0] + 3 and f"went from {counters[0]} (the journal's last start) to {counters[3]}: "
          "2 starts are not in this journal" in r.stderr, f"run logs the jump as an error: {r.stderr[-800:]}")
    restored = site.bundle("restored.tar.gz")
    a, p = starts_of(site, restored, *ca)
    want = (f"verified (2 starts, counter {counters[0]}..{counters[3]}; 2 starts are not in this journal (first "
            f"after {counters[0]}, next {counters[3]}): a journal restored from an old copy, or starts that did not commit)")
    check(a == p == want, f"both verifiers show the restored journal: {want}: {a} | {p}")

    # A verifier's fresh reading of the counter with its own nonce, by the commands of §8.4.
    fresh = site.dir / "fresh"
    fresh.mkdir()
    kept = site.dir / (site.key.name + ".tpm-ak.json")
    nonce = os.urandom(32)
    rc, out = tools(tpm, fresh, f"""
tpm2_createek -c ek.ctx -G rsa -u ek.pub
tpm2_flushcontext -t
jq -r .ak_public  {kept} | base64 -d > ak.pub
jq -r .ak_private {kept} | base64 -d > ak.priv
tpm2_startauthsession --policy-session -S s.ctx; tpm2_policysecret -S s.ctx -c e
tpm2_load -C ek.ctx -P session:s.ctx -u ak.pub -r ak.priv -c ak.ctx; tpm2_flushcontext s.ctx
tpm2_flushcontext -t
printf %s "{nonce.hex()}" | xxd -r -p > nonce.bin
tpm2_nvcertify -C ak.ctx -g sha256 -f plain -o sig.bin --attestation attest.bin -q nonce.bin \\
  --size 8 --offset 0 -c 0x01000d00 0x01000d00
tpm2_flushcontext -t
""")
    check(rc == 0, f"the commands of §8.4 certify the counter with a verifier's nonce: {out[-1500:]}")
    statement = json.loads((site.dir / (site.key.name + ".tpm.json")).read_text())
    (fresh / "ak_public.bin").write_bytes(base64.b64decode(statement["ak_public"]))
    rc, out = tools(tpm, fresh, """
spki() { { printf '3059301306072a8648ce3d020106082a8648ce3d030107034200'; printf 04
           tail -c 68 "$1" | xxd -p -c 68 | sed -E 's/^0020(.{64})0020(.{64})$/\\1\\2/'; } |
         xxd -r -p | openssl pkey -pubin -inform DER; }
spki ak_public.bin > ak.pem
openssl dgst -sha256 -verify ak.pem -signature sig.bin attest.bin
""")
    attest = (fresh / "attest.bin").read_bytes()
    check(rc == 0 and "Verified OK" in out and int.from_bytes(attest[-8:], "big") == counters[3]
          and attest[44:76] == nonce,
          f"openssl verifies it with the statement's attestation key: the current value {counters[3]}, the nonce inside")

    # Forged starts, the manifest signed again in the TPM (only the key's holder can): unverifiable.
    W = site.dir / "forged"
    W.mkdir()
    members = read_members(bundle)
    good = json.loads(members["tpm_starts.json"])

    def forged(name, change, why):
        entries = json.loads(json.dumps(good))
        change(entries)
        m = dict(members, **{"tpm_starts.json": json.dumps(entries).encode()})
        fix_manifest(m)
        sign_in_tpm(site, tpm, m, W)
        a, p = starts_of(site, write_bundle(m, W / name, fix=False), *ca)
        check(a == p and a.startswith("claimed but unverifiable") and why in a, f"{name}: both say {why!r}: {a} | {p}")

    def flip(e, member):
        raw = bytearray(base64.b64decode(e[member]))
        raw[-1] ^= 1
        e[member] = base64.b64encode(bytes(raw)).decode()
    forged("counter.tgz", lambda e: e[1].update(counter=e[1]["counter"] + 5),
           "start 2: counter is not the value certify_info holds")
    forged("value.tgz", lambda e: flip(e[1], "certify_info"),
           "start 2: certify_signature does not verify with the statement's ak_public")
    forged("signature.tgz", lambda e: flip(e[2], "certify_signature"), "start 3: certify_signature does not verify")
    forged("head.tgz", lambda e: e[2].update(head_hash="00" * 32), "head_hash is not the qualifying data")
    forged("key.tgz", lambda e: e[0].update(key_id="ab" * 32), "start 1: key " + "ab" * 32 + " has no verified TPM")
    forged("order.tgz", lambda e: e.reverse(), "start 2: counter does not increase")
    forged("array.tgz", lambda e: e.clear(), "tpm_starts.json is not a non-empty array")
    forged("same-head.tgz", lambda e: e[1].update(head_seq=e[0]["head_seq"]),
           "start 2: head_hash differs from the start before at the same head_seq")
    # Another TPM of the same manufacturer (its statement verifies too) cannot fill in this
    # TPM's count: a start naming its key is refused before any signature is looked at.
    other = SoftwareTpm("other-tpm", ca_of=tpm)
    second_site, _ = tpm_site(other)
    second_site.run("run", "--config", str(second_site.config), "--duration", "1", timeout=60)
    other_key = json.loads(read_members(second_site.bundle())["keys.json"])[0]
    other.stop()
    keys = json.loads(members["keys.json"]) + [other_key]
    members["keys.json"] = json.dumps(keys).encode()
    forged("other-tpm.tgz", lambda e: e[1].update(key_id=other_key["key_id"]),
           "start 2: another TPM (EK certificate) than the first start's")
    # A start certified over another head: the agent's own qualifying data, a record's hash that is not that seq's.
    second = json.loads(json.dumps(good))
    second[1]["head_seq"] = second[1]["head_seq"] - 1 if second[1]["head_seq"] > 1 else 2
    m = dict(members, **{"tpm_starts.json": json.dumps(second).encode()})
    fix_manifest(m)
    sign_in_tpm(site, tpm, m, W)
    a, p = starts_of(site, write_bundle(m, W / "moved.tgz", fix=False), *ca)
    check(a == p and "is not that record's hash" in a, f"a start moved to another seq: {a} | {p}")
    # Unsigned: the manifest no longer matches, the bundle fails, whatever the starts say.
    m = dict(members, **{"tpm_starts.json": json.dumps(good[:1]).encode()})
    a, p = starts_of(site, write_bundle(m, W / "unsigned.tgz", fix=False), *ca, rc=1)
    # A software key's bundle: no starts, nothing claimed, no line.
    plain = Site(agent)
    plain.run("run", "--config", str(plain.config), "--duration", "1")
    a, p = starts_of(plain, plain.bundle())
    check(a == p == "", f"a software key's bundle says nothing of TPM starts: {a!r} {p!r}")
    tpm.stop()


{"run": mode_run, "missing": mode_missing, "statement": mode_statement,
 "activate": mode_activate, "counter": mode_counter}.get(mode, lambda: fail(f"unknown mode {mode}"))()
