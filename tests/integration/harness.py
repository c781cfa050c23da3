"""Shared helpers for the integration tests: a throwaway site (config, key, journal) in a
temporary folder, and the real mrv-agent binary run against it."""
import atexit
import os
import pathlib
import sqlite3
import subprocess
import sys
import tempfile
import textwrap


_started = []  # processes a test started: none outlives it, even when a check fails


@atexit.register
def _stop_started():
    for p in _started:
        if p.poll() is None:
            p.kill()
            p.wait()


def sanitized(binary):
    """True for a build under AddressSanitizer, whose shadow memory and quarantine make
    resident memory meaningless: memory bounds are judged in the release build."""
    return "libasan" in subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout


def wait_closed(sock, seconds):
    """Seconds until the peer closed `sock` (TLS close, EOF or reset), or None."""
    import socket
    import ssl
    import time
    t0 = time.time()
    sock.settimeout(0.1)
    while time.time() - t0 < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.time() - t0
        except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
            continue
        except (OSError, ssl.SSLError):
            return time.time() - t0
    return None


def modbus_crc16(data):
    """The Modbus RTU CRC of `data` (poly 0xA001, init 0xFFFF), as an int."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def track(process):
    _started.append(process)
    return process


def fail(message):
    print("FAIL:", message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print("ok:", message)


class Site:
    def __init__(self, agent, algorithm="ed25519", interval_ms=1000, points=2, extra_journal="",
                 extra_signing="", calibration="2099-12-31"):
        self.agent = agent
        self.tmp = tempfile.TemporaryDirectory(prefix="mrv-it-")
        self.dir = pathlib.Path(self.tmp.name)
        self.config = self.dir / "agent.toml"
        self.key = self.dir / "agent.key"
        self.journal = self.dir / "state" / "journal.db"
        point_ids = [f"m{i}.energy_kwh" for i in range(points)]
        text = textwrap.dedent(f"""\
            [site]
            id = "it-site"
            [journal]
            path = "state/journal.db"
            commit_interval_ms = 20
            {extra_journal}
            [signing]
            key_file = "agent.key"
            {extra_signing}
            """)
        for i, pid in enumerate(point_ids):
            text += f'[[points]]\nid = "{pid}"\nunit = "kWh"\nkind = "cumulative"\n'
            text += f'meter_serial = "SIM-{i:04d}"\ncalibration_valid_until = {calibration}\n'
        if point_ids:
            text += f'[[sources.simulated]]\nname = "sim"\ninterval_ms = {interval_ms}\n'
            text += "points = [" + ", ".join(f'"{p}"' for p in point_ids) + "]\n"
        self.config.write_text(text)
        out = self.run("keygen", "--out", str(self.key), "--algorithm", algorithm)
        self.public_pem = self.dir / "agent.pub"
        self.public_pem.write_text(out.stdout.split("key id:")[0])

    def run(self, *args, check_rc=True, timeout=120):
        p = subprocess.run([self.agent, *args], capture_output=True, text=True, timeout=timeout)
        if check_rc and p.returncode != 0:
            fail(f"mrv-agent {' '.join(args)} exited {p.returncode}: {p.stderr}{p.stdout}")
        return p

    def start(self):
        return track(subprocess.Popen([self.agent, "run", "--config", str(self.config)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))

    def export(self, out_name="export.ndjson", *extra, fmt="ndjson"):
        out = self.dir / out_name
        self.run("export", "--config", str(self.config), "--from", "0",
                 "--to", "99999999999999", "--out", str(out), "--format", fmt, *extra)
        return out

    def bundle(self, out_name="bundle.tar.gz", *extra):
        return self.export(out_name, *extra, fmt="bundle")

    def verify(self, export, *extra):
        return self.run("verify", str(export), "--public-key", str(self.public_pem), *extra,
                        check_rc=False)

    def records(self):
        """(seq, hash) of every record, read straight from SQLite."""
        with sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True) as db:
            return db.execute("SELECT seq, hash FROM records ORDER BY seq").fetchall()


def bundle_verifier():
    return str(pathlib.Path(__file__).parents[2] / "docs" / "verify_bundle.py")


def python_verifier():
    return str(pathlib.Path(__file__).with_name("verify_export.py"))


def repo_env():
    return dict(os.environ)
