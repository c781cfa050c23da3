#!/usr/bin/python3
"""A journal restored from an older copy (rolled back behind its head anchor) is never
silently continued: with on_chain_break = "refuse" the agent will not start; with
"new-segment" it declares the break in a signed record that verify reports.
Usage: rollback_test.py AGENT"""
import shutil
import subprocess
import sys

from harness import Site, check, python_verifier

agent = sys.argv[1]
site = Site(agent, interval_ms=50, points=2, extra_journal='on_chain_break = "refuse"')
site.run("run", "--config", str(site.config), "--duration", "1")
old = site.dir / "old.db"
shutil.copy(site.journal, old)
old_head = site.records()[-1][0]
site.run("run", "--config", str(site.config), "--duration", "1")
anchored_head = site.records()[-1][0]
check(anchored_head > old_head, f"the journal grew from seq {old_head} to {anchored_head}")

shutil.copy(old, site.journal)
for suffix in ("-wal", "-shm"):
    site.journal.with_name(site.journal.name + suffix).unlink(missing_ok=True)
p = site.run("run", "--config", str(site.config), "--duration", "1", check_rc=False)
check(p.returncode == 1, f"policy refuse: the agent does not start (exit {p.returncode})")
check(f"journal ends at seq {old_head} but its head anchor names seq {anchored_head}" in p.stderr,
      "it says what it found")
p = site.run("status", "--config", str(site.config), check_rc=False)
check("records" in p.stdout, "status still reads the refused journal")

site.config.write_text(site.config.read_text().replace('"refuse"', '"new-segment"'))
site.run("run", "--config", str(site.config), "--duration", "1")
p = site.verify(site.export())
check(p.returncode == 3, f"verify exits 3: valid with a declared break (got {p.returncode})")
check(f"declared chain break: seq {anchored_head + 1}" in p.stdout and "rolled back" in p.stdout,
      f"the break is reported with its reason: {p.stdout.strip()}")
p = subprocess.run(["/usr/bin/python3", python_verifier(), str(site.dir / "export.ndjson"),
                    "--public-key", str(site.public_pem)], capture_output=True, text=True)
check(p.returncode == 3, f"the Python verifier reports the declared break too ({p.returncode})")
print("1 passed, 0 failed")
