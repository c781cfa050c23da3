#!/usr/bin/python3
"""Resident memory of the real agent with 1,000 configured points: idle (no reading due)
and under load (every point read every 100 ms: 10,000 readings/s).
Usage: agent_rss.py PATH/TO/mrv-agent [seconds per phase, default 20]"""
import pathlib
import subprocess
import sys
import tempfile
import time

agent = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20


def rss_kib(pid):
    fields = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def measure(interval_ms):
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        subprocess.run([agent, "keygen", "--out", str(d / "k.key")], check=True,
                       capture_output=True)
        points = [f"m{i}.energy_kwh" for i in range(1000)]
        text = '[site]\nid = "bench"\n[journal]\npath = "j.db"\n[signing]\nkey_file = "k.key"\n'
        for p in points:
            text += f'[[points]]\nid = "{p}"\nunit = "kWh"\nkind = "cumulative"\n'
        text += f'[[sources.simulated]]\nname = "sim"\ninterval_ms = {interval_ms}\npoints = ['
        text += ", ".join(f'"{p}"' for p in points) + "]\n"
        (d / "agent.toml").write_text(text)
        proc = subprocess.Popen([agent, "run", "--config", str(d / "agent.toml")],
                                stderr=subprocess.PIPE, text=True)
        samples = []
        t0 = time.time()
        while time.time() - t0 < seconds:
            time.sleep(1)
            samples.append(rss_kib(proc.pid))
        proc.terminate()
        err = proc.communicate()[1]
        stored = err.strip().splitlines()[-1]
        return max(s[0] for s in samples), samples[-1][1], stored


for name, interval in (("idle (1000 points, none due)", 86_400_000),
                       ("load (1000 points every 100 ms)", 100)):
    rss, hwm, stored = measure(interval)
    print(f"{name:34s} RSS max {rss / 1024:6.1f} MiB  peak (VmHWM) {hwm / 1024:6.1f} MiB  | {stored}")
