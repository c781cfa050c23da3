#!/usr/bin/python3
"""kill -9 while writing, several times: the chain stays intact, sequence numbers have no
gap, and every reading that was ever seen committed (by an independent reader polling
the SQLite file throughout) is still there, unchanged. Usage: kill9_test.py AGENT"""
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from harness import Site, check, python_verifier

agent = sys.argv[1]
site = Site(agent, interval_ms=10, points=40)  # about 4,000 readings a second
seen = {}  # seq -> hash, as committed
stop = threading.Event()


def watch_commits():
    last = 0
    while not stop.is_set():
        try:
            with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True, timeout=5) as db:
                for seq, h in db.execute("SELECT seq, hash FROM records WHERE seq > ?", (last,)):
                    seen[seq] = h
                    last = max(last, seq)
        except sqlite3.Error:
            pass  # not created yet, or busy: try again
        time.sleep(0.02)


watcher = threading.Thread(target=watch_commits)
watcher.start()
rng = random.Random(20261125)
kills = 6
for i in range(kills):
    agent_proc = site.start()
    time.sleep(rng.uniform(0.4, 1.5))
    agent_proc.send_signal(signal.SIGKILL)
    agent_proc.wait()
    check(agent_proc.returncode == -signal.SIGKILL, f"kill {i + 1}: agent killed with SIGKILL")
stop.set()
watcher.join()
# A last clean run after the final kill: recovery and continuation.
site.run("run", "--config", str(site.config), "--duration", "1")

records = site.records()
seqs = [s for s, _ in records]
check(len(seqs) > 5000, f"{len(seqs)} records were written across {kills} kills")
check(seqs == list(range(1, len(seqs) + 1)), "sequence numbers run from 1 without a gap")
stored = dict(records)
lost = [s for s in seen if s not in stored]
changed = [s for s in seen if s in stored and stored[s] != seen[s]]
check(len(seen) > 1000, f"the independent reader saw {len(seen)} committed records")
check(not lost, f"no committed record was lost (lost: {lost[:5]})")
check(not changed, f"no committed record changed (changed: {changed[:5]})")

export = site.export()
p = site.verify(export)
check(p.returncode == 0, f"verify: chain intact, no declared break: {p.stdout.strip()}")
p = subprocess.run(["/usr/bin/python3", python_verifier(), str(export), "--public-key",
                    str(site.public_pem), "--expect-records", str(len(seqs))],
                   capture_output=True, text=True)
check(p.returncode == 0, f"the independent Python verifier agrees: {p.stdout.strip()}")
print("1 passed, 0 failed")
