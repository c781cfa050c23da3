#!/usr/bin/python3
"""Writes cosignature.json: a C2SP cosignature/v1 (docs/verification.md §3.1) of the
checkpoint example of §3, made here with Python's cryptography from the test cosigner key
(ed25519-cosigner-test.key), so the agent's and the registry's code is checked against an
independent implementation. Ed25519 is deterministic: running it again gives the same file."""
import base64
import hashlib
import json
import pathlib

from cryptography.hazmat.primitives import serialization

HERE = pathlib.Path(__file__).parent
NOTE = ("mrv-agent/plant-7\n1042\nbv3kLp4UOfV/SfQC2LUU3g/WpK1pNQebrF/ciaTDGSk=\nmrv-time-ms 1767225660123\n\n"
        "\u2014 mrv-agent/plant-7 zbuzp2HMCueZ6TURmBufl+9k15PxcJ8rfC00eMMptdsKBgb7vjETBUjnfXAh0V/rdKlOIwIKYtpECoRNoiofvBDwnAs=\n")
NAME = "registry.example/mrv"
TIME = 1767225661

key = serialization.load_pem_private_key((HERE / "ed25519-cosigner-test.key").read_bytes(), None)
raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
key_id = hashlib.sha256(NAME.encode() + b"\n\x04" + raw).digest()[:4]
text = NOTE.split("\n\n")[0] + "\n"
signature = key.sign(b"cosignature/v1\ntime %d\n" % TIME + text.encode())
line = "\u2014 %s %s" % (NAME, base64.b64encode(key_id + TIME.to_bytes(8, "big") + signature).decode())
pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                    serialization.PublicFormat.SubjectPublicKeyInfo).decode()
(HERE / "cosignature.json").write_text(json.dumps(
    {"note": NOTE, "name": NAME, "time": TIME, "public_key_pem": pem, "line": line}, indent=1,
    ensure_ascii=False) + "\n")
print(line)
