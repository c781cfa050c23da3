"""The systemd notification protocol (Type=notify) with the real binary: a datagram socket
stands in for systemd's NOTIFY_SOCKET, as sd_notify(3) describes it. READY=1 once
running, WATCHDOG=1 at half of WATCHDOG_USEC, RELOADING=1 then READY=1 around a SIGHUP,
STOPPING=1 at SIGTERM.

usage: notify_test.py AGENT
"""
import os
import pathlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

from harness import Site, check, fail, track


def main():
    agent = sys.argv[1]
    site = Site(agent, points=2, interval_ms=200)
    sock_path = pathlib.Path(tempfile.mkdtemp(prefix="mrv-notify-")) / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    env = dict(os.environ, NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="1000000")
    started = time.time()
    proc = track(subprocess.Popen([agent, "run", "--config", str(site.config)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    messages = []  # (seconds since start, message)

    def collect(seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                messages.append((time.time() - started, sock.recv(4096).decode()))
            except socket.timeout:
                pass

    def first(prefix, after=0.0):
        for t, m in messages:
            if t >= after and any(line.startswith(prefix) for line in m.splitlines()):
                return t
        return None

    collect(3.0)
    ready = first("READY=1")
    check(ready is not None, f"READY=1 once running ({ready:.2f} s after start)" if ready else "READY=1 sent")
    watchdogs = [t for t, m in messages if "WATCHDOG=1" in m]
    check(len(watchdogs) >= 4, f"WATCHDOG=1 every half WATCHDOG_USEC: {len(watchdogs)} in 3 s")
    reload_at = time.time() - started
    proc.send_signal(signal.SIGHUP)
    collect(1.5)
    reloading = first("RELOADING=1", reload_at)
    ready_again = first("READY=1", reload_at)
    check(reloading is not None and ready_again is not None and reloading <= ready_again,
          "RELOADING=1, then READY=1 around a reload")
    stop_at = time.time() - started
    proc.send_signal(signal.SIGTERM)
    collect(1.0)
    check(first("STOPPING=1", stop_at) is not None, "STOPPING=1 at SIGTERM")
    if proc.wait(timeout=20) != 0:
        fail("the agent did not exit 0")
    print("PASS")


if __name__ == "__main__":
    main()
