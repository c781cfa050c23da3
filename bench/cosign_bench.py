#!/usr/bin/python3
"""What the registry's cosignatures (docs/verification.md §3.1) cost: a real agent uploads
about N records to a real mrv-registry with [cosign], a checkpoint every K records; then
the seconds both verifiers take on the agent's bundle with and without --registry-key
(each checkpoint one Ed25519 verify more), and `openssl speed ed25519` beside them.
Usage: bench/cosign_bench.py AGENT [N] [K]   (AGENT: build/agent/mrv-agent)"""
import json
import pathlib
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "integration"))
from upload_harness import Pki, Registry, UploadSite, new_token  # noqa: E402

agent = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
every = int(sys.argv[3]) if len(sys.argv) > 3 else 25
work = pathlib.Path(tempfile.mkdtemp(prefix="mrv-cosign-bench-"))
key, pub = work / "cosign.key", work / "cosign.pub"
subprocess.run([agent, "keygen", "--out", str(key)], check=True, capture_output=True)
subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True)
token, _ = new_token()
reg = Registry(agent, work / "registry", Pki(work / "pki"), {"it-site": {"token": token}},
               extra=f'[cosign]\nkey_file = "{key}"\nname = "bench.example/mrv"')
site = UploadSite(agent, reg.pki, reg.url, token=token, points=20, interval_ms=10,
                  extra_signing=f"checkpoint_every_records = {every}")
p = site.start()
t0 = time.time()
while site.cursor() < n:
    time.sleep(0.5)
site.stop(p)
site.drain(300)
upload_s = time.time() - t0
bundle = site.bundle("bench.tar.gz")
doc = json.loads(subprocess.run(["tar", "-xzOf", str(bundle), "checkpoints.json"], capture_output=True,
                                check=True).stdout)
checkpoints = len(doc["checkpoints"])
cosigned = sum(1 for c in doc["checkpoints"] if c.get("cosignatures"))
records = site.last_seq()
print(f"{records} records, {checkpoints} checkpoints in the bundle, {cosigned} cosigned; "
      f"collected and uploaded in {upload_s:.0f} s")
verifier = str(pathlib.Path(__file__).resolve().parents[1] / "docs" / "verify_bundle.py")
for name, cmd in (("mrv-agent verify", [agent, "verify"]), ("verify_bundle.py", ["/usr/bin/python3", verifier])):
    for label, extra in (("without --registry-key", []),
                         ("with --registry-key --require-cosigned",
                          ["--registry-key", str(pub), "--require-cosigned"])):
        best = None
        for _ in range(3):
            t = time.time()
            r = subprocess.run(cmd + [str(bundle), "--public-key", str(site.public_pem), *extra], capture_output=True,
                               text=True)
            elapsed = time.time() - t
            if r.returncode != 0:
                sys.exit(f"{name} {label}: exit {r.returncode}\n{r.stdout[-800:]}")
            best = elapsed if best is None else min(best, elapsed)
        print(f"{name} {label}: {best:.2f} s (best of 3)")
speed = subprocess.run(["openssl", "speed", "-seconds", "3", "ed25519"], capture_output=True, text=True).stdout
print(speed.strip().splitlines()[-1])
reg.stop()
