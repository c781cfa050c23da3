#!/usr/bin/python3
"""A report with site records (issue 16), from a real journal: the unit test
"bundle: a report with site records verifies, ..." (tests/unit/bundle_site_records_test.cpp)
builds the journal (readings, a meter exchange, a failed calibration, an invoice that fails
its cross-check) and the signed report, and leaves them with the config and key in a folder
(MRV_SITE_RECORDS_OUT): no agent command enters site records yet. Then, with the real tools:
docs/verify_report.py checks the report's site record lines and prints them, and refuses a
line changed and re-hashed, a line of another site, and more than 100,000 lines;
`mrv-agent export --report` makes a bundle that reaches the report's seqs.last, which
`mrv-agent verify` recomputes and docs/verify_bundle.py reads, both exiting 4 with the
failed cross-check as a finding.
Usage: site_records_report_test.py UNIT_TESTS AGENT"""
import base64
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tarfile
import tempfile

from cryptography.hazmat.primitives import serialization

from harness import bundle_verifier, check, fail

unit_tests, agent = sys.argv[1], sys.argv[2]
REPO = pathlib.Path(__file__).resolve().parents[2]
VERIFY_REPORT = REPO / "docs" / "verify_report.py"
TEST_KEY = REPO / "tests" / "vectors" / "ed25519-test.key"
UNIT_CASE = "[site-records-out]"  # the tag of that one test case

tmp = tempfile.TemporaryDirectory(prefix="mrv-site-records-")
d = pathlib.Path(tmp.name)
made = subprocess.run([unit_tests, UNIT_CASE], env={**os.environ, "MRV_SITE_RECORDS_OUT": str(d)},
                      capture_output=True, text=True, timeout=300)
if made.returncode != 0 or "1 test case" not in made.stdout + made.stderr:
    fail("the unit test that makes the journal and report failed:\n" + made.stdout + made.stderr)
report_file, pub = d / "report.json", d / "site.pem"
report = json.loads(report_file.read_text())


def verify_report(doc):
    path = d / "checked.json"
    path.write_text(json.dumps(doc, indent=2))
    p = subprocess.run([sys.executable, str(VERIFY_REPORT), str(path), "--public-key", str(pub)],
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def resign(doc):
    """The report signed again over its changed canonical bytes (report-format.md §4)."""
    key = serialization.load_pem_private_key(TEST_KEY.read_bytes(), None)
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    data = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return dict(doc, signature=dict(doc["signature"], value=base64.b64encode(key.sign(data)).decode()))


def with_line(doc, index, change):
    doc = json.loads(json.dumps(doc))
    line = doc["site_records"]["lines"][index]
    line["record"] = change(line["record"])
    line["hash"] = hashlib.sha256(line["record"].encode()).hexdigest()
    return resign(doc)


lines = report["site_records"]["lines"]
kinds = [json.loads(json.loads(line["record"])["reason"])["kind"] for line in lines]
check(sorted(kinds) == sorted(["meter-exchange", "calibration", "calibration", "document", "calibration"]),
      "the report carries the journal's five site records as record lines")

# Valid: every line checks out and is printed (kind, seq, who, what it says).
code, out = verify_report(report)
check(code == 0 and out.startswith("VALID"), "verify_report.py finds the report VALID: " + out[:300])
failed = next(line for line in lines if '\\"result\\":\\"fail\\"' in line["record"])
check(f"site record seq {failed['seq']}: calibration of pv1.export_kwh at 2026-01-06T00:00:00Z, entered by "
      "A. Tanaka (tanaka): meter EXP-1 FAILED, error 3 %, certificate C-EXP-1" in out,
      "it prints the failed calibration with its seq, who entered it and what it says")
check("meter-exchange of pv1.export_kwh" in out and "EXP-1 final 14620 -> EXP-2 initial 0 kWh" in out,
      "it prints the meter exchange")
check("document of the site" in out and "invoice INV-1 of NPG: 30240 kWh" in out, "it prints the invoice")
cross = report["cross_checks"][0]
cross_finding = ("report 2026-01: cross-check EG_vs_invoice failed: EG_p %s MWh against EG_invoice %s MWh differ by "
                 "%s %% (tolerance 2 %%)" % (cross["value"], cross["reference"], cross["difference_percent"]))
check(not cross["pass"] and "FINDING: " + cross_finding in out, "it prints the failed cross-check as a finding: "
      + cross_finding)

# A line changed and re-hashed, the report re-signed: the record's own signature fails.
index = lines.index(failed)
forged = with_line(report, index, lambda r: r.replace('\\"result\\":\\"fail\\"', '\\"result\\":\\"pass\\"'))
code, out = verify_report(forged)
check(code == 1 and "INVALID" in out and
      f"site_records line {index + 1} (seq {failed['seq']}): its signature does not verify with a pinned key" in out,
      "a site record line changed and re-hashed is refused: " + out.strip()[:300])
# Changed, not re-hashed, not re-signed: the report's own signature and the line's hash.
doc = json.loads(json.dumps(report))
doc["site_records"]["lines"][0]["record"] = doc["site_records"]["lines"][0]["record"].replace("A. Tanaka", "B. Tanaka")
code, out = verify_report(doc)
check(code == 1 and "signature: does not verify" in out and "hash is not the SHA-256 of its record" in out,
      "a line changed without re-hashing fails the report's signature and the line's hash")
# Another site's record (re-hashed; its signature then fails too, but the site is checked first).
other = with_line(report, 0, lambda r: r.replace('"site":"pv-site"', '"site":"pv-other"'))
code, out = verify_report(other)
check(code == 1 and "site 'pv-other' is not the report's 'pv-site'" in out, "a line of another site is refused")

# The cap: 100,000 lines are read (the first fails on its own), 100,001 are refused.
for count in (100000, 100001):
    doc = json.loads(json.dumps(report))
    doc["site_records"]["lines"] = [{"seq": i, "record": "x", "hash": "0" * 64, "signature": ""}
                                    for i in range(1, count + 1)]
    code, out = verify_report(resign(doc))
    if count == 100000:
        check(code == 1 and "site_records line 1 (seq 1): hash is not the SHA-256 of its record" in out,
              "100,000 site record lines are read")
    else:
        check(code == 1 and "it carries 100001 site records, more than the 100000 a verifier reads" in out,
              "100,001 site record lines are refused")

# export --report: the bundle reaches the report's seqs.last (an old calibration entered
# after the window's records), so its end checkpoint is the report's.
bundle = d / "bundle.tar.gz"
p = subprocess.run([agent, "export", "--config", str(d / "site.toml"), "--report", str(report_file),
                    "--out", str(bundle)], capture_output=True, text=True, timeout=120)
check(p.returncode == 0, "mrv-agent export --report writes the bundle: " + p.stderr.strip())
with tarfile.open(bundle) as tar:
    manifest = json.load(tar.extractfile("manifest.json"))
check(manifest["last_seq"] == report["seqs"]["last"],
      f"the bundle's last seq {manifest['last_seq']} is the report's seqs.last {report['seqs']['last']}")
p = subprocess.run([agent, "verify", str(bundle), "--public-key", str(pub), "--json"],
                   capture_output=True, text=True, timeout=120)
v = json.loads(p.stdout)
check(p.returncode == 4 and v["verdict"] == "VALID WITH METROLOGY FINDINGS" and not v["failures"],
      "mrv-agent verify: valid with findings (exit 4): " + p.stdout[:400])
check(any("every parameter and result matches" in n for n in v["notes"]), "the report recomputes from the bundle")
check(any("calibration of 2026-01-06T00:00:00Z failed" in f for f in v["findings"]),
      "verify finds the failed calibration")
p = subprocess.run([sys.executable, bundle_verifier(), str(bundle), "--public-key", str(pub), "--json"],
                   capture_output=True, text=True, timeout=120)
py = json.loads(p.stdout)
check(p.returncode == 4 and not py["failures"], "verify_bundle.py: valid with findings (exit 4): " + p.stdout[:400])
check(cross_finding in v["findings"] and cross_finding in py["findings"],
      "both verifiers word the cross-check finding alike")
check(any("checked by docs/verify_report.py" in n for n in py["notes"]),
      "verify_bundle.py says the report's signature is checked by verify_report.py")
print("ok: all")
