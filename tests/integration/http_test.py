#!/usr/bin/python3
"""The agent's HTTP listener ([http], docs/operations.md) on the real binary.

    http_test.py PATH/TO/mrv-agent MODE [ARTIFACTS_DIR]

Modes:
  broker    /healthz is 200 with a live broker, 503 naming the source within seconds of
            the broker's death (kill -9), 200 again once it is back on the same port
  stale     a connected source that sends nothing for source_stale_s makes /healthz 503,
            naming it; its next reading makes it 200
  metrics   /metrics parses with prometheus_client's text parser; readings per point
            equal what was published; the families and their values are plausible
  page      the status page of the running agent loads in headless Chromium without
            console errors and shows its points, values and sparklines
  upload    with a real mrv-registry: the upload families; the registry stopped, /healthz
            is 503 naming the upload lag once it passes upload_lag_max_s, 200 when it is back
  limits    oversized requests, other methods, unknown paths, too many connections and
            idle connections are refused or closed as documented
  thousand  1,000 points: /metrics and / stay fast; prints their times and the RSS
"""
import http.client
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from prometheus_client.parser import text_string_to_metric_families

from harness import Site, check, fail
from mqtt_harness import Broker, MqttSite, free_port, publish_all, wait_connected
from upload_harness import SITE, Pki, Registry, UploadSite, new_token

HERE = pathlib.Path(__file__).resolve().parent
agent, mode = sys.argv[1], sys.argv[2]
artifacts = pathlib.Path(sys.argv[3]) if len(sys.argv) > 3 else None
work = tempfile.TemporaryDirectory(prefix="mrv-http-")
T0 = 1767225600000


def http_section(port, extra="", step_s=0):
    # Test machines may have no NTP: the clock check is left out here (and tested in unit tests).
    return (f'[http]\nlisten = "127.0.0.1:{port}"\nrequire_clock_sync = false\n'
            f"sparkline_step_s = {step_s}\n{extra}")


def get(port, path, timeout=10):
    """(status, content type, body) of GET path."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read().decode()
    finally:
        c.close()


def wait_for(predicate, seconds, step=0.1):
    """The first truthy predicate() within seconds (or the last value), and the time taken."""
    t0 = time.time()
    value = None
    while time.time() - t0 < seconds:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            break
        time.sleep(step)
    return value, time.time() - t0


def mqtt_site(broker, meters=3, http_extra=""):
    site = MqttSite(agent, f"tcp://127.0.0.1:{broker.port}", meters=meters,
                    extra_sub='timestamp = "/ts"\nunit = "/unit"')
    site.http_port = free_port()
    site.config.write_text(site.config.read_text() + http_section(site.http_port, http_extra))
    return site


def message(meter, i):
    return (f"site/m{meter}/energy", json.dumps({"value": f"{100 + i}.{i % 10}", "ts": T0 + i * 1000,
                                                 "unit": "kWh"}))


def healthz(port):
    status, _, body = get(port, "/healthz")
    return status, body


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample_value(family, name, **labels):
    for s in family.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


if mode == "broker":
    broker = Broker(work.name)
    site = mqtt_site(broker)
    proc = site.start()
    ok, took = wait_for(lambda: healthz(site.http_port)[0] == 200, 20)
    check(ok, f"/healthz answers 200 with the broker up ({took:.1f} s after start)")
    wait_connected(site.journal)
    status, body = healthz(site.http_port)
    check(body == "ok\n", f"the body is 'ok' ({body!r})")
    pub = broker.publisher()
    publish_all(pub, [message(m, i) for m in range(3) for i in range(5)])
    check(site.wait_stored(15, 30), "15 readings stored")
    pub.disconnect()

    broker.proc.kill()  # the broker dies: no goodbye to its clients
    broker.proc.wait()
    t_kill = time.time()
    (status, body), took = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(healthz(site.http_port)), 15)
    check(status == 503, f"/healthz answers 503 {took:.1f} s after the broker died")
    check(took < 5, "within 5 s")
    check("mqtt:site-broker" in body, f"the reason names the source: {body.strip()!r}")
    check(all(line for line in body.splitlines()), "one reason per line")
    status, ctype, js = get(site.http_port, "/healthz?format=json")
    j = json.loads(js)
    check(status == 503 and ctype.startswith("application/json") and j["status"] == "unhealthy" and
          any("mqtt:site-broker" in r for r in j["reasons"]), f"?format=json says the same: {js.strip()}")
    status, _, page = get(site.http_port, "/")
    check(status == 200 and "Not healthy" in page, "the status page shows it too")

    broker.start()  # the same port and config
    (status, body), took = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(healthz(site.http_port)), 30)
    check(status == 200 and body == "ok\n", f"/healthz answers 200 again {took:.1f} s after the broker is back")
    pub = broker.publisher("it-publisher-2")
    publish_all(pub, [message(0, 100)])
    check(site.wait_stored(16, 30), "readings flow again")
    proc.terminate()
    proc.wait(timeout=30)
    check(proc.returncode == 0, "the agent stops cleanly")

elif mode == "stale":
    broker = Broker(work.name)
    site = mqtt_site(broker, http_extra="source_stale_s = 2\n")
    proc = site.start()
    pub = broker.publisher()
    ok, took = wait_for(lambda: healthz(site.http_port)[0] == 200, 20)
    check(ok, "/healthz is 200 while the source is new")
    wait_connected(site.journal)
    publish_all(pub, [message(0, 0)])
    check(site.wait_stored(1, 10), "a reading stored")
    (status, body), took = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(healthz(site.http_port)), 10)
    check(status == 503 and body.startswith("mqtt:site-broker: no reading for ") and "(limit 2 s)" in body,
          f"/healthz is 503 {took:.1f} s later: {body.strip()!r}")
    publish_all(pub, [message(0, 1)])
    (status, body), took = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(healthz(site.http_port)), 10)
    check(status == 200, f"/healthz is 200 again {took:.1f} s after the next reading")
    proc.terminate()
    proc.wait(timeout=30)

elif mode == "metrics":
    broker = Broker(work.name)
    site = mqtt_site(broker)
    proc = site.start()
    ok, _ = wait_for(lambda: healthz(site.http_port)[0] == 200, 20)
    check(ok, "the agent is up")
    wait_connected(site.journal)
    pub = broker.publisher()
    counts = {0: 5, 1: 7, 2: 11}
    publish_all(pub, [message(m, i) for m, n in counts.items() for i in range(n)])
    publish_all(pub, [("site/m1/energy", b'{"value": 1,')])  # invalid_json: quarantined
    check(site.wait_stored(sum(counts.values()), 30), f"{sum(counts.values())} readings stored")
    time.sleep(0.5)  # the quarantine row commits with the next batch

    status, ctype, text = get(site.http_port, "/metrics")
    check(status == 200 and ctype.startswith("text/plain; version=0.0.4"), f"/metrics answers {status} {ctype}")
    try:
        fam = families(text)
    except Exception as e:  # the parser's own words
        fail(f"prometheus_client cannot parse /metrics: {e}")
    check(len(fam) >= 30, f"prometheus_client parses {len(fam)} families")
    for name, kind in [("mrv_readings", "counter"), ("mrv_gap_records", "counter"), ("mrv_bad_inputs", "counter"),
                       ("mrv_journal_used_bytes", "gauge"), ("mrv_journal_quota_bytes", "gauge"),
                       ("mrv_journal_commit_duration_seconds", "histogram"),
                       ("mrv_journal_sign_duration_seconds", "histogram"), ("process_start_time_seconds", "gauge"),
                       ("process_resident_memory_bytes", "gauge"), ("mrv_build_info", "gauge"),
                       ("mrv_source_up", "gauge"), ("mrv_mqtt_messages", "counter")]:
        check(name in fam and fam[name].type == kind, f"family {name} ({kind})")
    for m, n in counts.items():
        v = sample_value(fam["mrv_readings"], "mrv_readings_total", point=f"m{m}.energy_kwh", source="mqtt:site-broker")
        check(v == n, f"mrv_readings_total{{point=m{m}.energy_kwh}} = {v} (published {n})")
    check(sample_value(fam["mrv_mqtt_messages"], "mrv_mqtt_messages_total") == sum(counts.values()) + 1,
          "every message counted, the bad one too")
    check(sample_value(fam["mrv_bad_inputs"], "mrv_bad_inputs_total", reason="invalid_json") == 1,
          "the bad input is counted by reason")
    check(sample_value(fam["mrv_source_up"], "mrv_source_up", source="mqtt:site-broker") == 1, "the source is up")
    h = fam["mrv_journal_commit_duration_seconds"]
    buckets = [(float(s.labels["le"]), s.value) for s in h.samples if s.name.endswith("_bucket")]
    check(buckets == sorted(buckets) and all(b[1] <= c[1] for b, c in zip(buckets, buckets[1:])),
          "commit latency buckets are cumulative")
    count = sample_value(h, "mrv_journal_commit_duration_seconds_count")
    check(buckets[-1] == (float("inf"), count) and count >= 1, f"+Inf equals _count ({count} commits)")
    signs = sample_value(fam["mrv_journal_sign_duration_seconds"], "mrv_journal_sign_duration_seconds_count")
    check(signs >= sum(counts.values()), f"{signs} signatures timed")
    rss = sample_value(fam["process_resident_memory_bytes"], "process_resident_memory_bytes")
    check(1 << 20 < rss < 1 << 30, f"resident memory {rss / 2**20:.1f} MiB")
    start = sample_value(fam["process_start_time_seconds"], "process_start_time_seconds")
    check(time.time() - 600 < start <= time.time(), f"start time {time.time() - start:.1f} s ago")
    quota = sample_value(fam["mrv_journal_quota_bytes"], "mrv_journal_quota_bytes")
    used = sample_value(fam["mrv_journal_used_bytes"], "mrv_journal_used_bytes")
    check(quota == 1024 << 20 and 0 < used < quota, f"journal {used / 2**20:.2f} MiB of {quota / 2**20:.0f} MiB")
    stored = sample_value(fam["mrv_journal_stored"], "mrv_journal_stored_total")
    check(stored == sum(counts.values()), f"mrv_journal_stored_total = {stored}")
    check("mrv_upload_lag_records" not in fam, "no upload families without an uploader")
    proc.terminate()
    proc.wait(timeout=30)

elif mode == "page":
    broker = Broker(work.name)
    site = mqtt_site(broker)
    proc = site.start()
    ok, _ = wait_for(lambda: healthz(site.http_port)[0] == 200, 20)
    check(ok, "the agent is up")
    wait_connected(site.journal)
    pub = broker.publisher()
    publish_all(pub, [message(m, i) for m in range(3) for i in range(20)])
    check(site.wait_stored(60, 30), "60 readings stored")
    time.sleep(0.3)
    status, ctype, page = get(site.http_port, "/")
    check(status == 200 and ctype.startswith("text/html"), f"/ answers {status} {ctype}, {len(page)} bytes")
    check(page.count('<svg class="spark"') == 3, "a sparkline per point")
    status, _, js = get(site.http_port, "/status.json")
    points = {p["point"]: p for p in json.loads(js)["points"]}
    check(points["m2.energy_kwh"]["value"] == "119.9" and len(points["m2.energy_kwh"]["history"]) == 20,
          "/status.json has the last value and the history")
    out = (artifacts or pathlib.Path(work.name)) / "status-page.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    c = subprocess.run(["/usr/bin/python3", str(HERE / "chromium_check.py"), f"http://127.0.0.1:{site.http_port}/",
                        "--screenshot", str(out), "--expect", "Healthy", "--expect", "m0.energy_kwh",
                        "--expect", "m1.energy_kwh", "--expect", "m2.energy_kwh", "--expect", "119.9",
                        "--expect", "mqtt:site-broker", "--expect", 'class="spark"'],
                       capture_output=True, text=True, timeout=180)
    check(c.returncode == 0, f"Chromium loads the page, no console errors: {c.stdout.strip()} {c.stderr.strip()[-500:]}")
    proc.terminate()
    proc.wait(timeout=30)

elif mode == "upload":
    pki = Pki(pathlib.Path(work.name) / "pki")
    token, _ = new_token()
    registry = Registry(agent, pathlib.Path(work.name) / "registry", pki, {SITE: {"token": token}})
    site = UploadSite(agent, pki, registry.url, token=token, points=2, interval_ms=200)
    port = free_port()
    site.config.write_text(site.config.read_text() + http_section(port, "upload_lag_max_s = 3\n"))
    proc = site.start()

    def metric(text, family, name):
        return sample_value(families(text)[family], name)

    def upload_metrics():
        status, _, text = get(port, "/metrics")
        return {k: metric(text, f, k) for f, k in [
            ("mrv_upload_lag_records", "mrv_upload_lag_records"), ("mrv_upload_lag_seconds", "mrv_upload_lag_seconds"),
            ("mrv_upload_records", "mrv_upload_records_total"), ("mrv_upload_errors", "mrv_upload_errors_total"),
            ("mrv_upload_stopped", "mrv_upload_stopped")]}

    ok, took = wait_for(lambda: healthz(port)[0] == 200 and upload_metrics()["mrv_upload_records_total"] > 20, 30,
                        step=0.5)
    m = upload_metrics()
    check(ok, f"/healthz is 200 while uploading ({took:.1f} s): {m}")
    check(m["mrv_upload_lag_seconds"] < 3 and m["mrv_upload_stopped"] == 0, "the lag is small")
    registry.stop()
    t0 = time.time()
    (status, body), took = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(healthz(port)), 20, step=0.25)
    m = upload_metrics()
    check(status == 503 and body.startswith("upload: ") and "not receipted" in body,
          f"/healthz is 503 {took:.1f} s after the registry stopped: {body.strip()!r}")
    check(3 < m["mrv_upload_lag_seconds"] < 15 and m["mrv_upload_lag_records"] > 10 and m["mrv_upload_errors_total"] > 0,
          f"the lag grows and the errors are counted: {m}")
    registry.start()
    (status, body), took = wait_for(lambda: (lambda r: r if r[0] == 200 else None)(healthz(port)), 30, step=0.25)
    check(status == 200, f"/healthz is 200 again {took:.1f} s after the registry is back")
    site.stop(proc)

elif mode == "limits":
    site = Site(agent, points=1)
    port = free_port()
    site.config.write_text(site.config.read_text() +
                           http_section(port, "max_connections = 3\nidle_timeout_ms = 1000\nmax_request_bytes = 2048\n"))
    proc = site.start()
    ok, _ = wait_for(lambda: get(port, "/healthz")[0] == 200, 20)
    check(ok, "the agent is up")
    status, _, body = get(port, "/nope")
    check(status == 404, f"an unknown path is 404: {body.strip()}")

    def raw(request, timeout=5):
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(request)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return data
                data += chunk

    answer = raw(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    check(answer.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in answer, "POST is 405 with Allow")
    answer = raw(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 4096 + b"\r\n\r\n")
    check(answer.startswith(b"HTTP/1.1 431"), f"a request over max_request_bytes is 431 ({answer[:40]!r})")
    answer = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    check(answer.startswith(b"HTTP/1.1 413"), f"a request with a body is 413 ({answer[:40]!r})")
    answer = raw(b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    check(answer.startswith(b"HTTP/1.1 200") and b"Content-Length: " in head and body == b"",
          "HEAD has the length and no body")
    # Keep-alive: two requests on one connection.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/healthz")
    r1 = c.getresponse().read()
    c.request("GET", "/healthz")
    r2 = c.getresponse().read()
    c.close()
    check(r1 == r2 == b"ok\n", "keep-alive serves a second request on the same connection")
    # Idle connections are closed after idle_timeout_ms; over max_connections, new ones are closed.
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", port), timeout=5)
    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        got = extra.recv(100)
    except ConnectionResetError:
        got = b""
    check(got == b"", "a connection over max_connections is closed without an answer")
    t0 = time.time()
    for s in idle:
        s.settimeout(5)
        check(s.recv(100) == b"", "an idle connection is closed by the agent")
    check(time.time() - t0 < 3, f"after about idle_timeout_ms ({time.time() - t0 + 0.3:.1f} s)")
    status, _, body = get(port, "/healthz")
    check(status == 200, "and then the listener serves again")
    proc.terminate()
    proc.wait(timeout=30)
    check(proc.returncode == 0, "the agent stops cleanly")

elif mode == "thousand":
    site = Site(agent, points=1000, interval_ms=5000)
    port = free_port()
    site.config.write_text(site.config.read_text() + http_section(port, step_s=5))
    proc = site.start()
    ok, _ = wait_for(lambda: get(port, "/healthz")[0] == 200, 30)
    check(ok, "the agent is up")
    time.sleep(12)  # three rounds of 1,000 readings

    def timed(path, n):
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            status, _, body = get(port, path)
            times.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                fail(f"{path}: {status}")
        return statistics.median(times), max(times), body

    med, worst, text = timed("/metrics", 50)
    fam = families(text)
    n = len([s for s in fam["mrv_readings"].samples if s.name == "mrv_readings_total"])
    check(n == 1000, f"/metrics: 1,000 points ({len(text)} bytes), median {med:.1f} ms, max {worst:.1f} ms")
    check(med < 100, "median under 100 ms")
    med, worst, page = timed("/", 20)
    check(page.count("<tr><td><code>m") == 1000,
          f"/: 1,000 rows ({len(page)} bytes), median {med:.1f} ms, max {worst:.1f} ms")
    med, worst, _ = timed("/healthz", 50)
    print(f"info: /healthz median {med:.1f} ms, max {worst:.1f} ms")
    rss = int([l for l in open(f"/proc/{proc.pid}/status") if l.startswith("VmRSS")][0].split()[1])
    print(f"info: agent RSS with 1,000 points and the listener on: {rss / 1024:.1f} MiB")
    proc.terminate()
    proc.wait(timeout=30)

else:
    fail(f"unknown mode {mode}")
