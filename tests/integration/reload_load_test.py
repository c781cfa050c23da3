"""SIGHUP reloads under MQTT load (issue 14), with the real binary and a real mosquitto:
20,000 QoS 1 messages at about 1,000/s while the agent reloads 8 to 14 times, each
reload switching the topic-to-point mapping between config A ("{meter}.energy_kwh") and
config B ("{meter}.export_kwh"). Every message must be stored exactly once (under
either mapping: the journal's unique index cannot catch a message stored under both),
each record must name the config whose mapping made it, nothing may be lost, and the
agent must survive every reload.

usage: reload_load_test.py AGENT [MESSAGES]
"""
import json
import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from harness import check, fail, track
from mqtt_harness import Broker, MqttSite, wait_connected

METERS = 10
RATE = 1000  # messages per second, all meters together
RELOAD_EVERY_S = 2.2  # about 13 reloads in 20 s, every other slot two at once
BASE_MS = 1767225600000
MAPPING_A = 'point = "{meter}.energy_kwh"'
MAPPING_B = 'point = "{meter}.export_kwh"'


def config_hash(site):
    p = site.run("check-config", "--config", str(site.config))
    return p.stdout.split("config hash ")[1].split(")")[0].strip()


def write_atomically(path, text):
    """The agent may read the file at any moment: never let it see half of one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def reading_records(site):
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT seq, canonical FROM records ORDER BY seq").fetchall()
    out = []
    for seq, c in rows:
        r = json.loads(c)
        if r["type"] == "reading":
            out.append((seq, r))
    return out


def main():
    agent = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    started = time.time()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mrv-reload-load-"))
    print("logs in", folder)
    broker = Broker(folder)
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", meters=METERS,
                    extra_sub='value = "/v"\ntimestamp = "/t"\ntimestamp_format = "epoch_ms"')
    text = site.config.read_text()
    for i in range(METERS):  # the points of mapping B; A's are there already
        text = text.replace("[[sources.mqtt]]",
                            f'[[points]]\nid = "m{i}.export_kwh"\nunit = "kWh"\nkind = "cumulative"\n\n'
                            "[[sources.mqtt]]", 1)
    if MAPPING_A not in text:
        fail("the subscription's point template was not found in the config")
    text_a, text_b = text, text.replace(MAPPING_A, MAPPING_B)
    write_atomically(site.config, text_b)
    hash_b = config_hash(site)
    write_atomically(site.config, text_a)
    hash_a = config_hash(site)
    mapping_of = {hash_a: "energy_kwh", hash_b: "export_kwh"}

    log_path = folder / "agent.log"
    log = open(log_path, "w")
    proc = track(subprocess.Popen([agent, "run", "--config", str(site.config)], stdout=log, stderr=log))
    wait_connected(site.journal)

    client = broker.publisher()
    sent = []

    def publish():
        begun = time.time()
        for k in range(total):
            meter, t = k % METERS, BASE_MS + k
            sent.append((meter, t, client.publish(f"site/m{meter}/energy",
                                                  json.dumps({"v": k, "t": t}), qos=1)))
            delay = begun + (k + 1) / RATE - time.time()
            if delay > 0:
                time.sleep(delay)

    publisher = threading.Thread(target=publish)
    publisher.start()

    # Reload while the stream runs, switching the mapping each time; each reload is let
    # finish (its "reloaded" line) before the file changes again. Every other time a
    # second reload follows at once, while the source may still be reconnecting.
    def reload_to(text):
        write_atomically(site.config, text)
        want = f"reloaded: config {hash_a if text is text_a else hash_b}"
        before = log_path.read_text().count(want)
        proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while log_path.read_text().count(want) == before and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        return log_path.read_text().count(want) > before

    reloads, slot, mapping, next_at = 0, 0, text_a, time.time() + RELOAD_EVERY_S
    while publisher.is_alive() and proc.poll() is None:
        time.sleep(max(0.0, next_at - time.time()))
        next_at += RELOAD_EVERY_S
        slot += 1
        if not publisher.is_alive():
            break
        for _ in range(1 + slot % 2):
            mapping = text_b if mapping is text_a else text_a
            if not reload_to(mapping):
                break
            reloads += 1
    publisher.join()
    for _, _, info in sent:
        info.wait_for_publish(timeout=60)

    deadline = time.time() + 25
    while proc.poll() is None and site.stored_count() < total and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # anything extra (a duplicate) would have landed by now
    died = proc.poll()
    if died is None:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    client.loop_stop()
    broker.stop()
    log.close()
    tail = log_path.read_text()[-1500:]
    check(died is None, f"the agent survives every reload (it exited {died}): {tail if died is not None else ''}")
    check(code == 0, f"the agent stops cleanly (exit {code})")
    text_log = log_path.read_text()
    check("Sanitizer" not in text_log and "runtime error:" not in text_log, "no sanitizer report")

    by_message = {}
    wrong_config = []
    for seq, r in reading_records(site):
        meter, suffix = r["point"].split(".", 1)
        by_message.setdefault((int(meter[1:]), r["ts_ms"]), []).append((seq, r["point"], r["config"][:8]))
        if mapping_of.get(r["config"]) != suffix:
            wrong_config.append((seq, r["point"], r["config"][:12]))
    published = {(m, t) for m, t, _ in sent}
    missing = published - set(by_message)
    twice = {k: v for k, v in by_message.items() if len(v) > 1}
    extra = set(by_message) - published
    print(f"{total} published, {len(by_message)} stored, {reloads} reloads, "
          f"{len(twice)} stored twice, {len(wrong_config)} under the wrong config, "
          f"{len(missing)} missing, {time.time() - started:.1f} s")
    check(8 <= reloads <= 14, f"{reloads} reloads switched the mapping during the stream")
    check(not wrong_config, f"every record names the config whose mapping made it "
                            f"({len(wrong_config)} do not, e.g. {wrong_config[:3]})")
    check(not twice, f"no message stored twice ({len(twice)} were, e.g. {list(twice.items())[:3]})")
    check(not missing, f"no message lost ({len(missing)} missing)")
    check(not extra, "and nothing else stored")
    shutil.rmtree(folder, ignore_errors=True)  # kept when a check fails: the agent's and broker's logs
    print("PASS")


if __name__ == "__main__":
    main()
