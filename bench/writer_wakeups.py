#!/usr/bin/python3
"""What the journal writer's wake-ups cost (issue 14): reload duration, and the commit
latency of readings while an upload sends receipts.

usage: bench/writer_wakeups.py AGENT [REGISTRY] [SECONDS]

1. Reloads: a site with a simulated meter, reloaded 10 times (a changed comment, so a
   new config hash each time); each reload's duration is the time between the agent's
   "signal 1 (SIGHUP)" and "reloaded" log lines.
2. Commit latency: 100 QoS 1 MQTT messages a second through a real mosquitto,
   commit_interval_ms = 50, and an [upload] to a real mrv-registry (a batch every
   second, each answered by a receipt), for SECONDS (default 20). A read-only poller
   sees each record appear (every 2 ms); its latency is that moment minus the publish
   time the message carries (same clock). Also counts the "journal is under its quota
   again" lines, which a journal never over quota should not log.
REGISTRY defaults to the mrv-registry next to AGENT's build folder.
"""
import datetime
import json
import pathlib
import signal
import sqlite3
import statistics
import subprocess
import sys
import textwrap
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "integration"))
from harness import Site  # noqa: E402
from mqtt_harness import Broker  # noqa: E402
import upload_harness  # noqa: E402
from upload_harness import Pki, Registry, UploadSite, new_token  # noqa: E402


def log_ms(line):
    stamp = line.split(" ", 1)[0]
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp() * 1000


def reload_durations(agent, count=10):
    site = Site(agent, points=2, interval_ms=100)
    log_path = site.dir / "agent.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([agent, "run", "--config", str(site.config)], stdout=log, stderr=log)
    time.sleep(1.0)
    base = site.config.read_text()
    for i in range(count):
        site.config.write_text(base + f"# reload {i}\n")
        before = log_path.read_text().count("reloaded: config")
        proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while log_path.read_text().count("reloaded: config") == before and time.time() < deadline:
            time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    out, began = [], None
    for line in log_path.read_text().splitlines():
        if "signal 1 (SIGHUP)" in line:
            began = log_ms(line)
        elif "reloaded: config" in line and began is not None:
            out.append(log_ms(line) - began)
            began = None
    return out


def commit_latencies(agent, registry_binary, seconds, rate=100):
    work = pathlib.Path(Site(agent, points=0).dir)  # a throwaway folder for the PKI, registry and broker
    pki = Pki(work / "pki")
    token, _ = new_token()
    upload_harness.registry_binary = lambda _agent: registry_binary
    registry = Registry(agent, work / "registry", pki, {upload_harness.SITE: {"token": token}})
    broker = Broker(work)
    site = UploadSite(agent, pki, registry.url, token=token, points=0)
    site.config.write_text(site.config.read_text().replace("commit_interval_ms = 20", "commit_interval_ms = 50") +
                           textwrap.dedent(f"""\
                               [[points]]
                               id = "m0.energy_kwh"
                               unit = "kWh"
                               kind = "cumulative"
                               [[sources.mqtt]]
                               name = "site-broker"
                               url = "tcp://127.0.0.1:{broker.port}"
                               [[sources.mqtt.subscriptions]]
                               topic = "site/{{meter}}/energy"
                               point = "{{meter}}.energy_kwh"
                               format = "json"
                               value = "/v"
                               timestamp = "/t"
                               timestamp_format = "epoch_ms"
                               """))
    log_path = site.dir / "agent.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([agent, "run", "--config", str(site.config)], stdout=log, stderr=log)
    time.sleep(1.0)
    latencies, seen, stop = [], 0, threading.Event()

    def poll():  # publish time (the payload's timestamp) to the moment the record is seen
        nonlocal seen
        while not stop.is_set():
            try:
                with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True, timeout=1) as db:
                    rows = db.execute("SELECT seq, canonical FROM records WHERE seq > ? ORDER BY seq",
                                      (seen,)).fetchall()
            except sqlite3.Error:
                rows = []
            now_ms = time.time() * 1000
            for seq, canonical in rows:
                r = json.loads(canonical)
                if r.get("type") == "reading":
                    latencies.append(now_ms - r["ts_ms"])
                seen = seq
            time.sleep(0.002)

    poller = threading.Thread(target=poll)
    poller.start()
    client = broker.publisher()
    begun = time.time()
    for k in range(int(seconds * rate)):
        client.publish("site/m0/energy", json.dumps({"v": k, "t": int(time.time() * 1000)}), qos=1)
        time.sleep(max(0.0, begun + (k + 1) / rate - time.time()))
    time.sleep(2.0)
    stop.set()
    poller.join()
    client.loop_stop()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    registry.stop()
    broker.stop()
    text = log_path.read_text()
    return latencies, text.count("under its quota again"), text.count("uploading to")


def main():
    agent = sys.argv[1]
    registry = sys.argv[2] if len(sys.argv) > 2 else str(
        pathlib.Path(agent).resolve().parents[1] / "registry" / "mrv-registry")
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 20
    d = reload_durations(agent)
    print(f"reload: {len(d)} reloads, median {statistics.median(d):.0f} ms, max {max(d):.0f} ms")
    lat, quota_lines, uploading = commit_latencies(agent, registry, seconds)
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print(f"publish to commit with [upload] ({len(lat)} MQTT messages, {seconds:.0f} s, uploading: {uploading > 0}): "
          f"median {p(0.5):.0f} ms, p99 {p(0.99):.0f} ms, max {lat[-1]:.0f} ms, "
          f"{sum(1 for x in lat if x > 200)} over 200 ms; "
          f"'under its quota again' logged {quota_lines} times")


if __name__ == "__main__":
    main()
