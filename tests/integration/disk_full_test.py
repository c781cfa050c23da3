#!/usr/bin/python3
"""A full disk under the journal. The journal lives on a small tmpfs (needs root, as CI
has; exits 77 = skipped otherwise).

    disk_full_test.py AGENT [MODE]

Modes:
  sim   (default) commits fail, the agent keeps every accepted reading in memory, pushes
        back on its sources (skipped polls, logged), stays up, and once space frees it
        commits what it held; the chain stays intact with no gap
  mqtt  as documented (docs/mqtt.md, docs/operations.md): the MQTT source shows "paused"
        and /healthz names it beside the journal; the state file is never cut short
        (status --json keeps its writer, mqtt and agent sections); once space frees the
        source resumes by itself and every message is stored once"""
import json
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time

from harness import Site, check, fail

agent = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "sim"


def mount_tmpfs(folder, size):
    folder.mkdir(exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        print("SKIP: cannot mount a tmpfs here (not root?)")
        sys.exit(77)


def sim_mode():
    site = Site(agent, interval_ms=10, points=40)
    state = site.dir / "state"
    mount_tmpfs(state, "2m")
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


def mqtt_mode():
    import http.client

    from mqtt_harness import Broker, MqttSite, free_port, wait_connected

    work = tempfile.TemporaryDirectory(prefix="mrv-diskfull-")
    broker = Broker(work.name)
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", meters=5,
                    extra_sub='timestamp = "/ts"\nunit = "/unit"')
    http_port = free_port()
    site.config.write_text(site.config.read_text() +
                           f'[http]\nlisten = "127.0.0.1:{http_port}"\nrequire_clock_sync = false\n')
    state = site.dir / "state"
    state_file = pathlib.Path(str(site.journal) + ".state.json")
    mount_tmpfs(state, "3m")
    T0 = 1767225600000

    def message(i):
        return (f"site/m{i % 5}/energy", json.dumps({"value": f"{1000 + i}.{i % 1000:03d}",
                                                      "ts": T0 + i * 1000, "unit": "kWh"}))

    def healthz():
        c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
        try:
            c.request("GET", "/healthz")
            r = c.getresponse()
            return r.status, r.read().decode()
        except OSError as e:
            return 0, str(e)
        finally:
            c.close()

    def wait_until(predicate, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        return predicate()

    log_path = site.dir / "agent.log"
    published = [0]
    stop_publishing = threading.Event()
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen([agent, "run", "--config", str(site.config)],
                                    stdout=subprocess.DEVNULL, stderr=log)
        check(wait_until(lambda: healthz()[0] == 200, 20), "the agent answers /healthz 200 at start")
        wait_connected(site.journal)
        pub = broker.publisher()

        def publish():  # about 500 messages a second until told to stop
            while not stop_publishing.is_set():
                for _ in range(50):
                    t, p = message(published[0])
                    pub.publish(t, p, qos=1).wait_for_publish(timeout=10)
                    published[0] += 1
                time.sleep(0.1)

        publisher = threading.Thread(target=publish, daemon=True)
        publisher.start()
        check(wait_until(lambda: "journal commit failed" in log_path.read_text(), 60),
              "the disk fills and the commit failure is logged")

        # The state file, read as status does, while the disk stays full: never cut short.
        bad_reads = []

        def state_ok():
            try:
                json.loads(state_file.read_text())
                return True
            except (OSError, ValueError) as e:
                bad_reads.append(f"{state_file.stat().st_size if state_file.exists() else '-'} bytes: {e}")
                return False

        status, body = wait_until(lambda: (lambda r: r if "paused" in r[1] else None)(healthz()), 10) \
            or healthz()
        check(status == 503 and "journal: not accepting readings" in body,
              f"/healthz is 503 and names the journal: {body.strip()!r}")
        check("mqtt:site-broker: paused" in body, f"and the MQTT source, paused: {body.strip()!r}")
        deadline = time.time() + 6  # three rewrites of the state file
        while time.time() < deadline:
            state_ok()
            time.sleep(0.05)
        check(not bad_reads, f"the state file always parses on the full disk ({bad_reads[:3]})")
        p = site.run("status", "--config", str(site.config), "--json", check_rc=False)
        st = json.loads(p.stdout)
        check(all(k in st for k in ("writer", "mqtt", "agent")) and st["agent"]["running"],
              f"status --json keeps its writer, mqtt and agent sections: {sorted(st)}")
        check(proc.poll() is None, "the agent keeps running on a full disk")

        subprocess.run(["mount", "-o", "remount,size=256m", str(state)], check=True)
        check(wait_until(lambda: "journal commits succeed again" in log_path.read_text(), 20),
              "after space frees, the held batch commits")
        status, body = wait_until(lambda: (lambda r: r if r[0] == 200 else None)(healthz()), 20) \
            or healthz()
        check(status == 200, f"/healthz is 200 again, the source connected: {body.strip()!r}")
        check(wait_until(lambda: site.state().get("mqtt", [{}])[0].get("state") == "connected", 10),
              "the state file says connected again")
        stop_publishing.set()
        publisher.join(timeout=30)
        n = published[0]
        check(site.wait_stored(n, 60), f"every one of the {n} published messages is stored")
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        check(proc.returncode == 0, f"a clean stop after recovery (exit {proc.returncode})")
        T = {(f"m{i % 5}.energy_kwh", f"{1000 + i}.{i % 1000:03d}", T0 + i * 1000) for i in range(n)}
        got = [(p, v, t) for p, v, t, _ in site.readings()]
        check(len(got) == len(set(got)) and set(got) == T, f"each once, exact ({len(got)} stored, {n} sent)")
        seqs = [s for s, _ in site.records()]
        check(seqs == list(range(1, len(seqs) + 1)), f"{len(seqs)} records, no gap in seq")
    finally:
        stop_publishing.set()
        if "proc" in locals() and proc.poll() is None:
            proc.kill()
            proc.wait()
        broker.stop()
        subprocess.run(["umount", "-l", str(state)])


if mode == "sim":
    sim_mode()
elif mode == "mqtt":
    mqtt_mode()
else:
    fail("unknown mode " + mode)
print("1 passed, 0 failed")
