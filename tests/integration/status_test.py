#!/usr/bin/python3
"""`status` says whether an agent runs from the journal's one-writer lock, not from the
state file's age: "not running" at once after kill -9 and after a clean stop, "running"
while it runs (even when its state file is old).
Usage: status_test.py AGENT"""
import json
import os
import signal
import sys
import threading
import time

from harness import Site, check, fail

agent = sys.argv[1]
site = Site(agent, interval_ms=100, points=2)


def status():
    p = site.run("status", "--config", str(site.config), "--json", check_rc=False)
    try:
        return json.loads(p.stdout)
    except ValueError:
        fail(f"status --json is not JSON (exit {p.returncode}): {p.stdout[:300]!r} {p.stderr[-300:]}")


def human_status():
    return site.run("status", "--config", str(site.config), check_rc=False).stdout


def start_and_wait_running():
    """Starts the agent and waits until it is up (it logs "running:" once it handles
    signals: SIGTERM before that would kill it) and status says it runs."""
    proc = site.start()
    log = []
    threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            fail(f"the agent exited {proc.returncode}: {''.join(log)[-1000:]}")
        if any("running: " in line for line in log) and status().get("agent", {}).get("running"):
            return proc
        time.sleep(0.1)
    fail("status never said the agent runs")


proc = start_and_wait_running()
check("agent       running" in human_status(), "status says running while the agent runs")
proc.kill()
proc.wait()
st = status()
check(st.get("agent", {}).get("running") is False,
      f"right after kill -9 status says not running: {st.get('agent')}")
check("agent       not running" in human_status(), "and so does the human-readable status")

proc = start_and_wait_running()
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=30)
check(proc.returncode == 0, f"a clean stop (exit {proc.returncode})")
st = status()
check(st.get("agent", {}).get("running") is False,
      f"right after a clean stop status says not running: {st.get('agent')}")

# A running agent whose state file is not rewritten (a full disk; here: stopped with
# SIGSTOP, so it cannot) still runs: it holds the lock.
proc = start_and_wait_running()
proc.send_signal(signal.SIGSTOP)
state_file = site.journal.with_name(site.journal.name + ".state.json")
state = json.loads(state_file.read_text())
state["updated_ms"] -= 60_000
state_file.write_text(json.dumps(state))
st = status()
check(st.get("agent", {}).get("running") is True and st["agent"].get("state_age_ms", 0) >= 50_000,
      f"an agent whose state file is a minute old still runs: {st.get('agent')}")
check("not rewritten" in human_status(), "status says its state is not being rewritten")
proc.send_signal(signal.SIGCONT)
proc.send_signal(signal.SIGTERM)
proc.wait(timeout=30)
check(status().get("agent", {}).get("running") is False, "and not once stopped")
print("1 passed, 0 failed")
