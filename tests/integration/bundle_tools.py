"""Helpers for tests that take a real bundle apart and put it together again: both
verifiers' verdicts, the members of a bundle, a bundle re-packed (optionally re-signed
with the site's key, as a forger holding it would), and raw ustar headers and gzip members
for the reader-differential attacks."""
import base64
import gzip
import hashlib
import json
import subprocess
import tarfile

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness import bundle_verifier, check


def verify_both(site, bundle, *extra, keys=None):
    """(exit code, output) of the agent's verify and of the Python verifier."""
    pins = []
    for k in [site.public_pem] if keys is None else keys:
        pins += ["--public-key", str(k)]
    a = site.run("verify", str(bundle), *pins, *extra, check_rc=False)
    p = subprocess.run(["/usr/bin/python3", bundle_verifier(), str(bundle), *pins, *extra],
                       capture_output=True, text=True, timeout=300)
    return (a.returncode, a.stdout + a.stderr), (p.returncode, p.stdout + p.stderr)


def expect_both(site, bundle, code, what, *extra, word=None, keys=None, text=None):
    """Both verifiers exit `code`; with `word` both name that failure kind, with `text`
    both outputs hold that text."""
    (ac, ao), (pc, po) = verify_both(site, bundle, *extra, keys=keys)
    check(ac == code, f"mrv-agent verify exits {ac} (want {code}) on {what}:\n{ao.strip()[-2000:]}")
    check(pc == code, f"verify_bundle.py exits {pc} (want {code}) on {what}:\n{po.strip()[-2000:]}")
    if word:
        check(f"[{word}]" in ao and f"[{word}]" in po, f"both name the failure kind '{word}'")
    if text:
        check(text in ao and text in po, f"both say '{text}':\n{ao.strip()[-600:]}\n{po.strip()[-600:]}")
    return ao, po


def read_members(bundle):
    with tarfile.open(bundle, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def ustar_header(name, size, typeflag=b"0", magic=b"ustar\x0000", prefix=b""):
    """One 512-byte tar header, as the agent writes them (or with another type or magic)."""
    h = bytearray(512)
    h[0:len(name)] = name.encode() if isinstance(name, str) else name
    h[100:108] = b"0000644\x00"
    h[108:116] = b"0000000\x00"
    h[116:124] = b"0000000\x00"
    h[124:136] = b"%011o\x00" % size
    h[136:148] = b"%011o\x00" % 0
    h[156:157] = typeflag
    h[257:265] = magic
    h[345:345 + len(prefix)] = prefix
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


def tar_entry(name, data, **header):
    return ustar_header(name, len(data), **header) + data + b"\x00" * (-len(data) % 512)


def tar_bytes(members, end=b"\x00" * 1024):
    """The uncompressed archive: the members in order, then `end`."""
    return b"".join(tar_entry(n, d) for n, d in members.items()) + end


def fix_manifest(members, key_file=None):
    """The manifest lists the members as they now are; with `key_file` (the site's key) it
    is signed again, so only the change under test can fail."""
    manifest = json.loads(members["manifest.json"])
    manifest["files"] = [{"name": n, "bytes": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                         for n, d in members.items() if n not in ("manifest.json", "manifest.sig")]
    members["manifest.json"] = (json.dumps(manifest) + "\n").encode()
    if key_file:
        key = serialization.load_pem_private_key(key_file.read_bytes(), None)
        sig = json.loads(members["manifest.sig"])
        raw = (key.sign(members["manifest.json"], ec.ECDSA(hashes.SHA256()))
               if isinstance(key, ec.EllipticCurvePrivateKey) else key.sign(members["manifest.json"]))
        sig["signature"] = base64.b64encode(raw).decode()
        members["manifest.sig"] = json.dumps(sig).encode()
    return members


def write_bundle(members, out, key_file=None, fix=True):
    """Packs the members again, in order, as one gzip member (as the agent does)."""
    if fix:
        fix_manifest(members, key_file)
    out.write_bytes(gzip.compress(tar_bytes(members), mtime=0))
    return out


def nested_json(depth, inner="0", kind="array"):
    """JSON text `depth` levels deep: [[...]] or {"a":{"a":...}}."""
    if kind == "array":
        return "[" * depth + inner + "]" * depth
    return '{"a":' * depth + inner + "}" * depth
