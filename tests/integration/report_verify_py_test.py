#!/usr/bin/python3
"""docs/verify_report.py, written from docs/report-format.md alone, checks signed reports that
the real agent made: two periods' reports (so the second carries a non-empty consistency
proof), for an Ed25519 and an ECDSA P-256 key; and it rejects a changed value, another key,
a changed annex re-signed with the site's key, and a broken proof re-signed.
Usage: report_verify_py_test.py AGENT"""
import base64
import hashlib
import json
import pathlib
import subprocess
import sys
import tempfile
import textwrap
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from harness import check, fail

agent = sys.argv[1]
VERIFIER = pathlib.Path(__file__).resolve().parents[2] / "docs" / "verify_report.py"


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def run_agent(*args, timeout=120):
    p = subprocess.run([agent, *args], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        fail(f"mrv-agent {' '.join(args)} exited {p.returncode}: {p.stderr}{p.stdout}")
    return p


def verify(report, *keys):
    args = [sys.executable, str(VERIFIER), str(report)]
    for k in keys:
        args += ["--public-key", str(k)]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def resign(report, private_key_file):
    """The report with its signature made again over its (changed) canonical bytes."""
    key = serialization.load_pem_private_key(private_key_file.read_bytes(), None)
    unsigned = {k: v for k, v in report.items() if k != "signature"}
    data = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    sig = key.sign(data) if isinstance(key, ed25519.Ed25519PrivateKey) else key.sign(data, ec.ECDSA(hashes.SHA256()))
    report = dict(report)
    report["signature"] = dict(report["signature"], value=base64.b64encode(sig).decode())
    return report


def flip_digit(text):
    """The same decimal text with its last digit changed."""
    last = text[-1]
    return text[:-1] + ("1" if last != "1" else "2")


def case(algorithm):
    tmp = tempfile.TemporaryDirectory(prefix="mrv-report-")
    d = pathlib.Path(tmp.name)
    key, pub = d / "agent.key", d / "agent.pub"
    out = run_agent("keygen", "--out", str(key), "--algorithm", algorithm)
    pub.write_text(out.stdout.split("key id:")[0])
    # Period A's window (its end + the 1 h boundary window) closes at `mid`: it holds the
    # first run's records only. Period B starts where A ends and holds both runs.
    now = int(time.time()) * 1000
    mid = now + 12_000
    a_start, a_end, b_end = mid - 3_600_000 - 600_000, mid - 3_600_000, mid + 600_000
    config = d / "agent.toml"
    config.write_text(textwrap.dedent(f"""\
        [site]
        id = "it-report"
        [journal]
        path = "state/journal.db"
        commit_interval_ms = 20
        [signing]
        key_file = "agent.key"
        checkpoint_interval_ms = 1000
        [[points]]
        id = "pv1.export_kwh"
        unit = "kWh"
        kind = "cumulative"
        interval_ms = 500
        meter_serial = "SIM-0001"
        accuracy_class = "0.5S"
        calibration_valid_until = 2099-12-31
        [[points]]
        id = "pv1.power_kw"
        unit = "kW"
        kind = "gauge"
        interval_ms = 500
        [[sources.simulated]]
        name = "sim"
        interval_ms = 500
        points = ["pv1.export_kwh", "pv1.power_kw"]
        [monitoring]
        methodology = "MN_AM003"
        version = "1.0"
        boundary_window_h = 1
        [[monitoring.parameters]]
        id = "EG_p"
        description = "Electricity fed into the grid"
        unit = "MWh"
        aggregation = "counter"
        point = "pv1.export_kwh"
        [[monitoring.parameters]]
        id = "EF_grid"
        unit = "tCO2/MWh"
        aggregation = "fixed"
        value = 0.797
        source = "JCM Mongolia grid emission factor (national grid)"
        monitoring_option = "A"
        [[monitoring.parameters]]
        id = "EG_check"
        unit = "kWh"
        aggregation = "integral"
        point = "pv1.power_kw"
        [[monitoring.formulas]]
        id = "RE_p"
        expression = "EG_p * EF_grid"
        unit = "kgCO2"
        [[monitoring.formulas]]
        id = "ER_p"
        expression = "RE_p - 0"
        unit = "kgCO2"
        [[monitoring.periods]]
        name = "A"
        start = "{iso(a_start)}"
        end = "{iso(a_end)}"
        [[monitoring.periods]]
        name = "B"
        start = "{iso(a_end)}"
        end = "{iso(b_end)}"
        """))
    run_agent("run", "--config", str(config), "--duration", "3")  # not a power of two records
    while time.time() * 1000 < mid + 200:
        time.sleep(0.2)
    run_agent("run", "--config", str(config), "--duration", "4")
    ra, rb = d / "a.json", d / "b.json"
    run_agent("report", "--config", str(config), "--period", "A", "--out", str(ra), "--no-upload")
    run_agent("report", "--config", str(config), "--period", "B", "--out", str(rb), "--no-upload")
    a, b = json.loads(ra.read_text()), json.loads(rb.read_text())
    check(a["annex"]["previous_checkpoint"] == "" and a["annex"]["consistency_proof"] == [],
          f"{algorithm}: the first period's report has no previous checkpoint")
    check(b["annex"]["previous_checkpoint"] == a["annex"]["end_checkpoint"],
          f"{algorithm}: the second report's previous checkpoint is the first one's end checkpoint")
    check(len(b["annex"]["consistency_proof"]) > 0, f"{algorithm}: the second report carries a non-empty proof")
    check(b["seqs"]["last"] > a["seqs"]["last"], f"{algorithm}: the second period holds the second run's records")

    for name, path in (("A", ra), ("B", rb)):
        rc, text = verify(path, pub)
        check(rc == 0 and text.startswith("VALID"), f"{algorithm}: report {name} is VALID: {text.strip()}")
    rc, text = verify(rb, pub)
    check("consistency proof from tree size" in text, f"{algorithm}: the proof was checked: {text.strip()}")

    def expect_invalid(title, report, reason, *keys):
        path = d / "tampered.json"
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        rc, text = verify(path, *(keys or (pub,)))
        check(rc == 1 and text.startswith("INVALID") and reason in text,
              f"{algorithm}: {title} is INVALID ({reason}): {text.strip()}")

    # A flipped digit in a parameter's value: the signature no longer verifies.
    t = json.loads(rb.read_text())
    t["parameters"][0]["value"] = flip_digit(t["parameters"][0]["value"])
    expect_invalid("a flipped digit in EG_p's value", t, "signature: does not verify")
    t = json.loads(rb.read_text())
    t["emission_reductions"]["credited_tco2"] += 1
    expect_invalid("a raised credited_tco2", t, "signature: does not verify")
    # Another site's key.
    other_key, other_pub = d / "other.key", d / "other.pub"
    out = run_agent("keygen", "--out", str(other_key), "--algorithm", algorithm)
    other_pub.write_text(out.stdout.split("key id:")[0])
    expect_invalid("a report checked against another key", json.loads(rb.read_text()), "not a pinned key", other_pub)
    # Re-signed by the site's key (a site lying about its history): the annex still fails.
    t = json.loads(rb.read_text())
    proof = t["annex"]["consistency_proof"]
    proof[0] = hashlib.sha256(bytes.fromhex(proof[0])).hexdigest()
    expect_invalid("a broken consistency proof, re-signed", resign(t, key), "does not verify (RFC 9162")
    t = json.loads(rb.read_text())
    t["annex"]["consistency_proof"] = t["annex"]["consistency_proof"][:-1]
    expect_invalid("a shortened consistency proof, re-signed", resign(t, key), "does not verify (RFC 9162")
    t = json.loads(rb.read_text())
    note = t["annex"]["end_checkpoint"].split("\n")
    note[1] = str(int(note[1]) + 1)  # another tree size under the old signature
    t["annex"]["end_checkpoint"] = "\n".join(note)
    expect_invalid("an end checkpoint with a changed tree size, re-signed", resign(t, key),
                   "end checkpoint: has no valid signature line")
    t = json.loads(rb.read_text())
    t["annex"]["previous_checkpoint"] = ""
    expect_invalid("a proof without its previous checkpoint, re-signed", resign(t, key),
                   "a consistency proof without a previous checkpoint")
    t = json.loads(rb.read_text())
    t["seqs"]["last"] = 10**9
    expect_invalid("seqs beyond the end checkpoint, re-signed", resign(t, key), "does not cover the report's last seq")
    t = json.loads(rb.read_text())
    t["config"]["text"] += "\n# edited\n"
    expect_invalid("a config text that is not the hashed one, re-signed", resign(t, key),
                   "config.sha256 is not the SHA-256 of config.text")
    # And the re-signing itself is sound: an unchanged report re-signed stays VALID.
    path = d / "resigned.json"
    path.write_text(json.dumps(resign(json.loads(rb.read_text()), key)))
    rc, text = verify(path, pub)
    check(rc == 0, f"{algorithm}: an unchanged report re-signed in Python is VALID: {text.strip()}")


for alg in ("ed25519", "ecdsa-p256"):
    case(alg)
print("1 passed, 0 failed")
