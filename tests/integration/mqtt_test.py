#!/usr/bin/python3
"""The MQTT collector against a real mosquitto broker. Usage: mqtt_test.py AGENT MODE
  e2e            10,000 QoS 1 messages over 5 topics: all stored once, values exact, verify
  kill9          kill -9 of the agent five times during a QoS 1 stream: none lost, none twice
  kill9-fast     kill -9 ten times during a 50,000-message stream published as fast as the
                 broker takes it (the intake log's path): none lost, none twice, verifies
  broker-restart broker stopped for 30 s mid-stream and restarted: reconnect, nothing lost
  tls            mutual TLS with a throwaway CA; a wrong CA fails with a clear error
  bad-input      every kind of bad message: counted, quarantined with its bytes, and good
                 messages after it still arrive
  brokers        two brokers with passwords (one MQTT 5 with the password from the
                 environment, one MQTT 3.1.1 from a file), SenML and JSON; a wrong password
                 is refused and said so
  backpressure   the journal at its quota with nothing uploaded: the agent stops taking
                 messages (the broker holds them) and resumes once receipts free space"""
import base64
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

from harness import check, fail, python_verifier
from mqtt_harness import Broker, MqttSite, publish_all, wait_connected

agent, mode = sys.argv[1], sys.argv[2]
work = tempfile.TemporaryDirectory(prefix="mrv-mqtt-")
T0 = 1767225600000


def message(i, meters=5):
    """Message i: a unique (meter, ts, value), so redeliveries are recognisable."""
    meter = i % meters
    return (f"site/m{meter}/energy", json.dumps({"value": f"{1000 + i}.{i % 1000:03d}",
                                                  "ts": T0 + i * 1000, "unit": "kWh"}))


def expected(i, meters=5):
    return (f"m{i % meters}.energy_kwh", f"{1000 + i}.{i % 1000:03d}", T0 + i * 1000)


def check_exactly_once(site, n):
    got = [(p, v, t) for p, v, t, _ in site.readings()]
    want = [expected(i) for i in range(n)]
    check(len(got) == len(set(got)), f"no reading stored twice ({len(got)} stored)")
    missing = set(want) - set(got)
    check(not missing, f"every message stored, values exact (missing: {sorted(missing)[:3]})")


def check_verifies(site):
    export = site.export()
    p = site.verify(export)
    check(p.returncode == 0, f"verify: {p.stdout.strip().splitlines()[0]}")
    p = subprocess.run(["/usr/bin/python3", python_verifier(), str(export), "--public-key",
                        str(site.public_pem)], capture_output=True, text=True)
    check(p.returncode == 0, f"the Python verifier agrees: {p.stdout.strip()}")


SUB = 'timestamp = "/ts"\nunit = "/unit"'

if mode == "e2e":
    broker = Broker(work.name)
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", extra_sub=SUB)
    proc = site.start()
    pub = broker.publisher()
    wait_connected(site.journal)  # messages published before the subscription are not kept
    n = 10_000
    t0 = time.time()
    publish_all(pub, [message(i) for i in range(n)])
    check(site.wait_stored(n, 120), f"{n} messages stored in {time.time() - t0:.1f} s")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    check(proc.returncode == 0, "the agent stops cleanly")
    check_exactly_once(site, n)
    sources = {s for _, _, _, s in site.readings()}
    check(sources == {f"mqtt:site-broker:site/m{i}/energy" for i in range(5)},
          f"each reading names its topic as source ({sorted(sources)[:2]})")
    check_verifies(site)

elif mode == "kill9":
    broker = Broker(work.name)
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", extra_sub=SUB)
    n = 5_000
    pub = broker.publisher()
    done = threading.Event()

    def stream():  # about 700 messages a second, whatever the agent does
        for start in range(0, n, 100):
            publish_all(pub, [message(i) for i in range(start, start + 100)])
            time.sleep(0.14)
        done.set()

    # The persistent session must exist before the stream starts.
    proc = site.start()
    wait_connected(site.journal)
    threading.Thread(target=stream, daemon=True).start()
    rng = random.Random(5)
    for k in range(5):
        time.sleep(rng.uniform(0.5, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check(proc.returncode == -signal.SIGKILL, f"kill {k + 1} at {site.stored_count()} stored")
        proc = site.start()
    done.wait(60)
    check(site.wait_stored(n, 120), "after the last restart every message arrives")
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    check_exactly_once(site, n)
    check_verifies(site)

elif mode == "kill9-fast":
    broker = Broker(work.name)
    # "normal": kill -9 is what it must survive, at the rate it reaches (power loss: full).
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", extra_sub=SUB,
                    extra_journal='synchronous = "normal"')
    n = 50_000
    pub = broker.publisher()
    done = threading.Event()

    def stream():  # as fast as the broker takes them
        for start in range(0, n, 1000):
            publish_all(pub, [message(i) for i in range(start, start + 1000)])
        done.set()

    proc = site.start()
    wait_connected(site.journal)
    t0 = time.time()
    threading.Thread(target=stream, daemon=True).start()
    rng = random.Random(19)
    counts, logs = [0], []
    for k in range(10):
        # Each kill lands while the restarted agent is storing: after it stored 300 more.
        deadline = time.time() + 30
        while site.stored_count() < min(counts[-1] + 300, n) and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        logs.append(proc.stderr.read())
        counts.append(site.stored_count())
        proc = site.start()
    during = [c for c in counts[1:] if c < n]
    check(len(during) >= 8 and during == sorted(set(during)),
          f"10 kills, at least 8 while the stream was being stored; stored at each: {counts[1:]}")
    replays = [line for log in logs for line in log.splitlines() if "intake segments" in line]
    check(replays, f"restarts replayed what a kill left in the intake log ({replays[:2]})")
    done.wait(120)
    check(site.wait_stored(n, 120), f"after the last restart every message arrives "
                                    f"({time.time() - t0:.1f} s from the first message)")
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    check(proc.returncode == 0, "the agent stops cleanly")
    intake = list((site.journal.parent / "mqtt" / "site-broker" / "intake").glob("intake-*.log"))
    check(not intake, f"a clean stop leaves no intake segment ({[p.name for p in intake]})")
    check_exactly_once(site, n)
    check_verifies(site)

elif mode == "broker-restart":
    broker = Broker(work.name, persistent=True)
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", extra_sub=SUB)
    proc = site.start()
    wait_connected(site.journal)
    pub = broker.publisher()
    first = 20_000  # more than the agent stores in the time it takes to publish them
    publish_all(pub, [message(i) for i in range(first)])
    pub.loop_stop()
    broker.stop()  # with persistence: it saves what the agent's session has not yet taken
    stopped_time = time.time()
    stopped_at = site.stored_count()
    check(stopped_at < first, f"the broker stops mid-stream ({stopped_at} of {first} stored)")
    st = site.wait_mqtt_state(lambda s: s.get("state") in ("disconnected", "connecting"), 10)
    check(st["state"] in ("disconnected", "connecting"), f"the agent sees the broker gone ({st['state']})")
    time.sleep(30 - (time.time() - stopped_time))  # 30 s without a broker
    broker.start()
    pub = broker.publisher("it-publisher-2")
    publish_all(pub, [message(i) for i in range(first, first + 2000)])
    if not site.wait_stored(first + 2000, 90):
        stored, source = site.stored_count(), site.state().get("mqtt", [{}])[0]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        print(proc.stderr.read()[-4000:])
        print((broker.folder / f"mosquitto-{broker.port}.log").read_text()[-3000:])
        got = {(p, v, t) for p, v, t, _ in site.readings()}
        missing = [i for i in range(first + 2000) if expected(i) not in got]
        fail(f"reconnected by itself; all {first + 2000} stored ({stored} stored, source {source}, "
             f"missing {len(missing)}: {missing[:5]}..{missing[-5:]})")
    print(f"ok: reconnected by itself; all {first + 2000} stored")
    st = site.wait_mqtt_state(lambda s: s.get("connects", 0) >= 2, 10)
    check(st["connects"] >= 2, f"it connected again ({st['connects']} connects)")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    check_exactly_once(site, first + 2000)

elif mode == "tls":
    d = work.name

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    for ca in ("ca", "otherca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                f"/CN=mrv test {ca}", "-keyout", f"{ca}.key", "-out", f"{ca}.crt")
    for name, cn in (("server", "localhost"), ("client", "mrv-agent"), ("otherhost", "otherhost")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout",
                f"{name}.key", "-out", f"{name}.csr")
        ext = f"{d}/{name}.ext"
        open(ext, "w").write({"server": "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
                              "otherhost": "subjectAltName=DNS:otherhost\n",
                              "client": "extendedKeyUsage=clientAuth\n"}[name])
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{name}.crt")
    broker = Broker(d, tls={"ca": f"{d}/ca.crt", "cert": f"{d}/server.crt", "key": f"{d}/server.key"})
    for ca, ok in (("ca", True), ("otherca", False)):
        site = MqttSite(agent, f"ssl://localhost:{broker.port}", extra_sub=SUB,
                        extra_source=f'ca_file = "{d}/{ca}.crt"\ncert_file = "{d}/client.crt"\n'
                                     f'key_file = "{d}/client.key"')
        proc = site.start()
        if ok:
            st = site.wait_mqtt_state(lambda s: s.get("state") == "connected", 15)
            check(st["state"] == "connected", f"connected over mutual TLS ({st['state']}: {st['last_error']})")
            pub = subprocess.run(["mosquitto_pub", "-h", "localhost", "-p", str(broker.port),
                                  "--cafile", f"{d}/ca.crt", "--cert", f"{d}/client.crt", "--key",
                                  f"{d}/client.key", "-q", "1", "-t", "site/m1/energy", "-m",
                                  message(1)[1]], capture_output=True, text=True)
            check(pub.returncode == 0, f"published over TLS {pub.stderr}")
            check(site.wait_stored(1, 20), "a message arrives over TLS")
        else:
            st = site.wait_mqtt_state(lambda s: s.get("last_error") and s.get("connects") == 0, 15)  # not the last run's
            check(st["state"] != "connected" and st["connects"] == 0, "a wrong CA never connects")
            proc.send_signal(signal.SIGTERM)
            err = proc.communicate(timeout=30)[1]
            check("cannot connect to ssl://" in err and "TLS handshake" in st["last_error"],
                  f"the error says why: {st['last_error']} / {err[-600:]}")
            continue
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    # A certificate from the right CA but for another host name is refused too.
    other = Broker(d, tls={"ca": f"{d}/ca.crt", "cert": f"{d}/otherhost.crt", "key": f"{d}/otherhost.key"})
    site = MqttSite(agent, f"ssl://localhost:{other.port}", extra_sub=SUB,
                    extra_source=f'ca_file = "{d}/ca.crt"\ncert_file = "{d}/client.crt"\n'
                                 f'key_file = "{d}/client.key"')
    proc = site.start()
    st = site.wait_mqtt_state(lambda s: s.get("last_error") and s.get("connects") == 0, 15)  # not the last run's
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    check(st["connects"] == 0 and "TLS handshake" in st["last_error"],
          "a certificate for another host name is refused (host name verification is on)")

elif mode == "bad-input":
    broker = Broker(work.name)
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", extra_sub=SUB + "\nmax_payload_bytes = 200")
    text = site.config.read_text() + (
        '[[sources.mqtt.subscriptions]]\ntopic = "raw/{meter}/energy"\npoint = "{meter}.energy_kwh"\n'
        'format = "number"\n')
    site.config.write_text(text)
    proc = site.start()
    wait_connected(site.journal)
    pub = broker.publisher()
    good = iter(range(100))
    cases = [
        ("invalid_json", "site/m1/energy", b'{"value": 1,'),
        ("missing_field", "site/m1/energy", b'{"ts": 1767225600}'),
        ("not_numeric", "site/m1/energy", b'{"value": "twelve"}'),
        ("not_numeric", "raw/m1/energy", b"12,5"),
        ("not_finite", "raw/m1/energy", b"NaN"),
        ("not_finite", "site/m1/energy", b'{"value": "-Infinity"}'),
        ("wrong_unit", "site/m1/energy", b'{"value": 1, "unit": "MWh"}'),
        ("oversized", "site/m1/energy", b'{"value": 1, "pad": "' + b"x" * 300 + b'"}'),
        ("binary", "raw/m1/energy", b"\x00\xff\xfe\x13"),
        ("unmapped", "site/m9/energy", b'{"value": 1}'),
        ("bad_timestamp", "site/m1/energy", b'{"value": 1, "ts": "soon"}'),
    ]
    for reason, topic, payload in cases:
        publish_all(pub, [(topic, payload)])
        publish_all(pub, [message(next(good))])
    for _ in range(200):  # a burst of garbage does not stop the subscription
        publish_all(pub, [("raw/m1/energy", b"garbage")])
    publish_all(pub, [message(next(good)) for _ in range(5)])
    n_good = len(cases) + 5
    check(site.wait_stored(n_good, 30), f"good messages after each bad one still arrive ({n_good})")
    time.sleep(2.5)  # the state file is rewritten every 2 s
    bad = site.state()["mqtt"][0]["bad_inputs"]
    for reason in {r for r, _, _ in cases}:
        want = sum(1 for r, _, _ in cases if r == reason) + (200 if reason == "not_numeric" else 0)
        got = sum(v for k, v in bad.items() if k.endswith("/" + reason))
        check(got == want, f"{reason}: counted {got} (want {want})")
    out = site.dir / "quarantine.ndjson"
    site.run("export", "--config", str(site.config), "--from", "0", "--to", "99999999999999",
             "--out", str(out), "--quarantine")
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    check(len(rows) == len(cases) + 200, f"{len(rows)} quarantine rows")
    for (reason, topic, payload), row in zip(cases, rows):
        check(row["reason"] == reason and row["topic"] == topic and
              base64.b64decode(row["payload_b64"]) == payload,
              f"quarantine row for {reason} keeps topic and raw bytes")
    p = site.run("status", "--config", str(site.config))
    check("quarantine" in p.stdout and "not_numeric: 202" in p.stdout, "status shows the quarantine")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    check(proc.returncode == 0, "still running cleanly after all that")
elif mode == "brokers":
    import os
    d = work.name
    passwords = f"{d}/passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", passwords, "mrv", "s3cret pass"], check=True)
    subprocess.run(["mosquitto_passwd", "-b", passwords, "publisher", "pub"], check=True)
    a = Broker(d, password_file=passwords)
    b = Broker(d, password_file=passwords)
    site = MqttSite(agent, "tcp://unused:1")  # replaced below: two sources
    text = site.config.read_text().split("[[sources.mqtt]]")[0]
    text += (f'[[points]]\nid = "gw1.temp"\nunit = "Cel"\n'
             f'[[sources.mqtt]]\nname = "broker-a"\nurl = "tcp://127.0.0.1:{a.port}"\n'
             f'mqtt_version = 5\nusername = "mrv"\npassword_env = "MRV_IT_MQTT_PASSWORD"\n'
             f'[[sources.mqtt.subscriptions]]\ntopic = "senml/{{gw}}"\npoint = "{{gw}}.{{n}}"\n'
             f'format = "senml"\n'
             f'[[sources.mqtt]]\nname = "broker-b"\nurl = "tcp://127.0.0.1:{b.port}"\n'
             f'username = "mrv"\npassword_file = "{d}/mrv-password"\n'
             f'[[sources.mqtt.subscriptions]]\ntopic = "site/{{meter}}/energy"\n'
             f'point = "{{meter}}.energy_kwh"\nformat = "json"\n{SUB}\n')
    site.config.write_text(text)
    open(f"{d}/mrv-password", "w").write("s3cret pass\n")
    os.environ["MRV_IT_MQTT_PASSWORD"] = "s3cret pass"
    proc = site.start()
    pa = a.publisher(user="publisher", password="pub")
    pb = b.publisher(user="publisher", password="pub")
    wait_connected(site.journal)
    publish_all(pa, [("senml/gw1", json.dumps([{"bn": "", "bt": 1767225600, "n": "temp",
                                                  "u": "Cel", "v": 6.75}]))])
    publish_all(pb, [message(i) for i in range(10)])
    if not site.wait_stored(11, 20):
        proc.send_signal(signal.SIGTERM)
        fail(f"readings from both brokers ({site.stored_count()}): {proc.communicate(timeout=30)[1][-2000:]}")
    check(True, "readings arrive from both brokers")
    got = {(p, v, src) for p, v, _, src in site.readings()}
    check(("gw1.temp", "6.75", "mqtt:broker-a:senml/gw1") in got, "SenML over MQTT 5 with the password from the environment")
    check(("m1.energy_kwh", "1001.001", "mqtt:broker-b:site/m1/energy") in got, "JSON over MQTT 3.1.1 with the password from a file")
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=30)[1]
    check("s3cret" not in err and "s3cret" not in site.state().__repr__(), "the password is never logged")
    # While the agent is away, the MQTT 5 session (session expiry) keeps what arrives.
    publish_all(pa, [("senml/gw1", json.dumps([{"bt": 1767225660, "n": "temp", "v": 6.5}]))])
    proc = site.start()
    check(site.wait_stored(12, 20), "a message sent while the agent was down arrives (MQTT 5 session kept)")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    os.environ["MRV_IT_MQTT_PASSWORD"] = "wrong"
    proc = site.start()
    st = site.wait_mqtt_state(lambda s: s.get("last_error") and s.get("connects") == 0, 15)  # not the last run's
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=30)[1]
    check(st["connects"] == 0 and ("authori" in st["last_error"].lower() or "bad user" in st["last_error"].lower()),
          f"a wrong password is refused and said so: {st['last_error']}")

elif mode == "acl":
    d = work.name
    subprocess.run(["mosquitto_ctrl", "dynsec", "init", f"{d}/dynsec.json", "admin", "adminpw"],
                   check=True, capture_output=True)
    broker = Broker(d, dynsec_file=f"{d}/dynsec.json")
    for command in (["createRole", "reader"], ["addRoleACL", "reader", "subscribePattern", "site/#", "allow"],
                    ["createClient", "mrv", "-p", "pw"], ["addClientRole", "mrv", "reader"],
                    ["createRole", "writer"], ["addRoleACL", "writer", "publishClientSend", "#", "allow"],
                    ["createClient", "publisher", "-p", "pub"], ["addClientRole", "publisher", "writer"]):
        broker.dynsec(*command)
    os.environ["MRV_IT_ACL_PASSWORD"] = "pw"
    for version, sent in ((4, 0), (5, 1)):  # MQTT 3.1.1 (4) refuses with 0x80, MQTT 5 with a reason code
        site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", extra_sub=SUB,
                        extra_source=f'username = "mrv"\npassword_env = "MRV_IT_ACL_PASSWORD"\nmqtt_version = {version}')
        site.config.write_text(site.config.read_text() + '[[sources.mqtt.subscriptions]]\n'
                               'topic = "other/{meter}/energy"\npoint = "{meter}.energy_kwh"\nformat = "number"\n')
        proc = site.start()
        st = site.wait_mqtt_state(lambda s: "refused" in s.get("last_error", ""), 20)
        check(st.get("state") == "connected" and st.get("subscriptions") == 2 and st.get("subscribed") == 1,
              f"MQTT protocol {version}: the broker refuses one of two subscriptions: subscribed {st.get('subscribed')} "
              f"of {st.get('subscriptions')}, {st.get('state')}")
        check(st.get("last_error", "").startswith("subscribe other/+/energy: refused by the broker"),
              f"the refused filter is named: {st.get('last_error')!r}")
        publish_all(broker.publisher(user="publisher", password="pub"), [message(sent)])
        check(site.wait_stored(1, 20), "messages on the granted filter are still stored")
        p = site.run("status", "--config", str(site.config))
        check("subscribed 1/2" in p.stdout and "refused by the broker" in p.stdout,
              "status shows it: " + next((line for line in p.stdout.splitlines() if "subscribed" in line), ""))
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=30)[1]
        check("ERROR  mqtt:site-broker: subscribe other/+/energy: refused by the broker" in err, "and logs it")

elif mode == "backpressure":
    import sqlite3
    broker = Broker(work.name)
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", extra_sub=SUB,
                    extra_journal="quota_mb = 1")
    proc = site.start()
    wait_connected(site.journal)
    n = 6000
    publish_all(broker.publisher(), [message(i) for i in range(n)])
    st = site.wait_mqtt_state(lambda s: s.get("state") == "paused", 20)
    check(st.get("state") == "paused", f"at the quota the source pauses ({st.get('last_error', '')})")
    held = site.stored_count()
    time.sleep(3)
    check(site.stored_count() == held and held < n, f"and takes no more messages ({held} stored)")

    def receipt_everything():  # what the uploader does once the registry has receipted
        with sqlite3.connect(site.journal, timeout=10) as db:
            db.execute("INSERT INTO cursors VALUES ('registry', "
                       "coalesce((SELECT max(seq) FROM records), 0)) "
                       "ON CONFLICT (name) DO UPDATE SET seq = max(seq, excluded.seq)")

    deadline = time.time() + 120
    while time.time() < deadline and site.state().get("writer", {}).get("stored", 0) < n:
        receipt_everything()
        time.sleep(1)
    w = site.state()["writer"]
    check(w["stored"] == n, f"it resumes by itself and stores every message ({w['stored']})")
    check(w["last_seq"] == n, f"each once: the last seq is {w['last_seq']}")
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=30)[1]
    check("journal is full" in err and "under its quota again" in err, "both are logged")
else:
    fail("unknown mode " + mode)
print("1 passed, 0 failed")
