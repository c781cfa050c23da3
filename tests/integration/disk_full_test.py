#!/usr/bin/python3
"""A full disk under the journal: commits fail, the agent keeps every accepted reading in
memory, pushes back on its sources (skipped polls, logged), stays up, and once space
frees it commits what it held; the chain stays intact with no gap. The journal lives on a
small tmpfs (needs root, as CI has; exits 77 = skipped otherwise).
Usage: disk_full_test.py AGENT"""
import signal
import subprocess
import sys
import threading
import time

from harness import Site, check

agent = sys.argv[1]
site = Site(agent, interval_ms=10, points=40)
state = site.dir / "state"
state.mkdir()
if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(state)],
                  capture_output=True).returncode != 0:
    print("SKIP: cannot mount a tmpfs here (not root?)")
    sys.exit(77)
try:
    proc = site.start()
    log = []
    reader = threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True)
    reader.start()

    def wait_for(text, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if any(text in line for line in log):
                return True
            time.sleep(0.05)
        return False

    check(wait_for("journal commit failed", 30), "the disk fills and the commit failure is logged")
    check(wait_for("poll skipped", 10), "sources are pushed back, and that is logged")
    time.sleep(1)
    check(proc.poll() is None, "the agent keeps running on a full disk")
    subprocess.run(["mount", "-o", "remount,size=64m", str(state)], check=True)
    recovered = wait_for("journal commits succeed again", 15)
    if not recovered:
        print("".join(l for l in log if "poll skipped" not in l)[-3000:])
    check(recovered, "after space frees, the held batch commits")
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    reader.join(timeout=5)
    check(proc.returncode == 0, f"a clean stop after recovery (exit {proc.returncode})")
    records = site.records()
    seqs = [s for s, _ in records]
    check(seqs == list(range(1, len(seqs) + 1)), f"{len(seqs)} records, no gap in seq")
    stopped = [l for l in log if "stopped:" in l][-1]
    stored = int(stopped.split("stopped: ")[1].split()[0])
    check(stored == len(seqs), f"every reading the agent accepted was stored ({stopped.strip()})")
    p = site.verify(site.export())
    check(p.returncode == 0, f"verify: {p.stdout.strip()}")
finally:
    subprocess.run(["umount", "-l", str(state)])
print("1 passed, 0 failed")
