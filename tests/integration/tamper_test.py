#!/usr/bin/python3
"""An export of a real run: the independent Python verifier accepts it, and `verify`
rejects each kind of tampering. Usage: tamper_test.py AGENT ALGORITHM MODE"""
import json
import subprocess
import sys

from harness import Site, check, fail, python_verifier

agent, algorithm, mode = sys.argv[1], sys.argv[2], sys.argv[3]
site = Site(agent, algorithm=algorithm, interval_ms=50, points=3)
site.run("run", "--config", str(site.config), "--duration", "1.2")
export = site.export()
lines = export.read_text().splitlines()
check(len(lines) > 20, f"the run exported {len(lines) - 1} records")
p = site.verify(export)
check(p.returncode == 0 and "VALID" in p.stdout, f"the untouched export verifies: {p.stdout.strip()}")

if mode == "python-verifier":
    p = subprocess.run(["/usr/bin/python3", python_verifier(), str(export), "--public-key",
                        str(site.public_pem), "--expect-records", str(len(lines) - 1)],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"the Python verifier accepts it: {p.stdout.strip()} {p.stderr.strip()}")
    lines[5] = lines[5].replace('\\"value\\":\\"', '\\"value\\":\\"1', 1)
    export.write_text("\n".join(lines) + "\n")
    p = subprocess.run(["/usr/bin/python3", python_verifier(), str(export), "--public-key",
                        str(site.public_pem)], capture_output=True, text=True)
    check(p.returncode == 1, "the Python verifier rejects a changed value")
    print("1 passed, 0 failed")
    sys.exit(0)

if mode == "byte-changed":
    rec = json.loads(lines[7])
    seq = rec["seq"]
    rec["record"] = rec["record"].replace('"value":"', '"value":"9', 1)
    lines[7] = json.dumps(rec)
    expect = f"line 8 (seq {seq}): hash does not match the record"
elif mode == "record-removed":
    seq = json.loads(lines[10])["seq"]
    del lines[10]
    expect = f"line 11 (seq {seq + 1}): sequence gap or reorder: expected seq {seq}"
elif mode == "records-swapped":
    seq = json.loads(lines[4])["seq"]
    lines[4], lines[5] = lines[5], lines[4]
    expect = f"line 5 (seq {seq + 1}): sequence gap or reorder: expected seq {seq}"
elif mode == "wrong-key":
    other = site.dir / "other.key"
    out = site.run("keygen", "--out", str(other), "--algorithm", algorithm).stdout
    site.public_pem.write_text(out.split("key id:")[0])
    expect = "line 2 (seq 1): signed by key "
else:
    fail("unknown mode " + mode)
export.write_text("\n".join(lines) + "\n")
p = site.verify(export)
check(p.returncode == 1, f"verify exits 1 on {mode} (got {p.returncode})")
check("FAILED" in p.stdout and expect in p.stdout, f"it names the first bad record: {p.stdout.strip()}")
p = site.verify(export, "--json")
check(json.loads(p.stdout)["verdict"] == "FAILED", "the JSON verdict says FAILED")
print("1 passed, 0 failed")
