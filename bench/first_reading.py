#!/usr/bin/python3
"""Agent start to first committed reading (issue 8's speed figure), with the real binary.

usage: bench/first_reading.py AGENT [RUNS]

Each run makes a fresh site (its own key and an empty journal), a simulated meter read
every 10 ms and the default commit interval (50 ms), starts `mrv-agent run` with a
NOTIFY_SOCKET standing in for systemd, and measures from exec to READY=1 and from exec to
the first record committed in the journal (polled every 1 ms, read-only). Prints each run
and the median.
"""
import os
import pathlib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "integration"))
from harness import Site  # noqa: E402


def one(agent):
    site = Site(agent, points=2, interval_ms=10)
    sock_path = pathlib.Path(tempfile.mkdtemp(prefix="mrv-first-")) / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.setblocking(False)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path))
    t0 = time.monotonic()
    proc = subprocess.Popen([agent, "run", "--config", str(site.config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = first = None
    while time.monotonic() - t0 < 10 and (ready is None or first is None):
        try:
            if b"READY=1" in sock.recv(4096) and ready is None:
                ready = time.monotonic() - t0
        except BlockingIOError:
            pass
        if first is None and site.journal.exists():
            try:
                with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True, timeout=0.01) as db:
                    if db.execute("SELECT 1 FROM records WHERE point != '' LIMIT 1").fetchone():
                        first = time.monotonic() - t0
            except sqlite3.Error:
                pass
        time.sleep(0.001)
    proc.terminate()
    proc.wait(timeout=20)
    return ready, first


def main():
    agent = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    results = [one(agent) for _ in range(runs)]
    for r, f in results:
        print(f"READY=1 after {r * 1000:.1f} ms, first committed reading after {f * 1000:.1f} ms")
    print(f"median: READY=1 {statistics.median(r for r, _ in results) * 1000:.1f} ms, "
          f"first committed reading {statistics.median(f for _, f in results) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
