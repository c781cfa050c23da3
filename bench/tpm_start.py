#!/usr/bin/python3
"""What binding a start to the TPM's counter costs (docs/verification.md §8.4): a site
with a key held in swtpm (the test harness's), `mrv-agent run --duration 0.2` timed N
times with the kept attestation key and N times without it (no binding). Prints the
medians and ranges of the time beyond the 0.2 s. Usage (from build/):
    /usr/bin/python3 ../bench/tpm_start.py agent/mrv-agent [N]"""
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests" / "integration"))
from harness import Site  # noqa: E402
from tpm_harness import SoftwareTpm  # noqa: E402

agent, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 7
tpm = SoftwareTpm()
site = Site(agent, algorithm="ecdsa-p256", extra_signing=f'mode = "checkpoint"\ntpm_tcti = "{tpm.tcti}"\n')
site.key.unlink()
site.run("keygen", "--tpm", "--tcti", tpm.tcti, "--out", str(site.key))


def starts():
    took = []
    for _ in range(n):
        t0 = time.time()
        site.run("run", "--config", str(site.config), "--duration", "0.2", timeout=60)
        took.append(time.time() - t0 - 0.2)
    return took


bound = starts()
kept = site.dir / (site.key.name + ".tpm-ak.json")
kept.rename(kept.with_suffix(".off"))
unbound = starts()
for label, took in (("bound to the counter", bound), ("unbound", unbound)):
    print(f"{label:22} median {statistics.median(took):.3f} s  ({min(took):.3f} to {max(took):.3f}), {n} starts")
tpm.stop()
