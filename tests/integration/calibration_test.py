#!/usr/bin/python3
"""The warning before a calibration expires (issue 16) on the real agent, with a
simulated source and three meters: one whose calibration_valid_until is within
[site] calibration_warning_days, one expired, one far ahead.

    calibration_test.py PATH/TO/mrv-agent

  - /metrics: mrv_calibration_state is 1 for due, expired and ok, and
    mrv_calibration_valid_until_seconds is the end of each local day;
  - the log warns once for the due one and once for the expired one, never for the far one;
  - /healthz is 200 (a warning is not unhealthy) and its body names both;
  - the status page, /status.json and `mrv-agent status` name them;
  - SIGHUP with far dates: both are ok, the metrics follow, the log says so once,
    /healthz is "ok" alone and `status` lists no warning.
A calibration recorded as a site record supersedes the config's date: that path is
covered by the unit tests on a real journal (tests/unit/calibration_watch_test.cpp).
"""
import datetime
import http.client
import json
import re
import signal
import socket
import sys
import threading
import time

from prometheus_client.parser import text_string_to_metric_families

from harness import Site, check, fail

agent = sys.argv[1]
DAY = datetime.timedelta(days=1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def wait_for(predicate, seconds):
    deadline = time.time() + seconds
    value = None
    while time.time() < deadline:
        try:
            value = predicate()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    return value


def end_of_day_s(day):
    """The first second after a UTC date: when a calibration valid through it ends."""
    return datetime.datetime.combine(day + DAY, datetime.time(), datetime.timezone.utc).timestamp()


def config_text(site, port, dates):
    text = (f'[site]\nid = "it-site"\ntimezone = "UTC"\ncalibration_warning_days = 30\n'
            f'[journal]\npath = "state/journal.db"\ncommit_interval_ms = 20\n'
            f'[signing]\nkey_file = "agent.key"\n'
            f'[http]\nlisten = "127.0.0.1:{port}"\nrequire_clock_sync = false\n')
    for i, day in enumerate(dates):
        text += (f'[[points]]\nid = "m{i}.energy_kwh"\nunit = "kWh"\nkind = "cumulative"\n'
                 f'meter_serial = "SIM-{i:04d}"\naccuracy_class = "1"\ncalibration_valid_until = {day.isoformat()}\n')
    text += '[[sources.simulated]]\nname = "sim"\ninterval_ms = 200\n'
    text += "points = [" + ", ".join(f'"m{i}.energy_kwh"' for i in range(len(dates))) + "]\n"
    return text


def calibration_metrics(port):
    """{(point, meter): {"state": current state, "until": valid_until seconds}}, or None."""
    status, text = get(port, "/metrics")
    if status != 200 or "mrv_calibration_state" not in text:
        return None
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.labels.get("point"), s.labels.get("meter"))
            if s.name == "mrv_calibration_state" and s.value == 1:
                out.setdefault(key, {})["state"] = s.labels["state"]
            if s.name == "mrv_calibration_valid_until_seconds":
                out.setdefault(key, {})["until"] = s.value
    return out


today = datetime.datetime.now(datetime.timezone.utc).date()
due_day, expired_day, far_day = today + 10 * DAY, today - 5 * DAY, today + 400 * DAY
site = Site(agent, points=0)
port = free_port()
site.config.write_text(config_text(site, port, [due_day, expired_day, far_day]))
check(site.run("check-config", "--config", str(site.config)).returncode == 0, "the config is valid")

proc = site.start()
log = []
threading.Thread(target=lambda: log.extend(proc.stderr), daemon=True).start()


def log_lines(point):
    return [line for line in list(log) if f"calibration of point {point} " in line]


metrics = wait_for(lambda: calibration_metrics(port), 20)
if not metrics:
    proc.kill()
    fail(f"/metrics never showed mrv_calibration_state: {''.join(log)[-2000:]}")
m0, m1, m2 = ("m0.energy_kwh", "SIM-0000"), ("m1.energy_kwh", "SIM-0001"), ("m2.energy_kwh", "SIM-0002")
check(metrics.get(m0, {}).get("state") == "due", f"/metrics: the meter ending in 10 days is due: {metrics.get(m0)}")
check(metrics.get(m1, {}).get("state") == "expired", f"/metrics: the meter that ended 5 days ago is expired: {metrics.get(m1)}")
check(metrics.get(m2, {}).get("state") == "ok", f"/metrics: the meter ending in 400 days is ok: {metrics.get(m2)}")
for key, day in [(m0, due_day), (m1, expired_day), (m2, far_day)]:
    check(metrics[key].get("until") == end_of_day_s(day),
          f"mrv_calibration_valid_until_seconds{{point={key[0]}}} = {metrics[key].get('until')}, the end of {day}")

status, body = get(port, "/healthz")
check(status == 200, f"/healthz is 200 with a calibration due and one expired (warnings, not failures): {status}")
check(body.startswith("ok\n") and re.search(rf"^warning: calibration of point m0\.energy_kwh \(meter SIM-0000\) "
                                            rf"expires {due_day} \(in (9|10) days", body, re.M)
      and "warning: calibration of point m1.energy_kwh (meter SIM-0001) expired: valid until " in body
      and "m2.energy_kwh" not in body, f"/healthz names the due and the expired one: {body!r}")
_, health_json = get(port, "/healthz?format=json")
check(len(json.loads(health_json)["warnings"]) == 2, "/healthz?format=json lists two warnings")

status, page = get(port, "/")
check(status == 200 and '<table id="calibration">' in page and
      re.search(r'<code>m0\.energy_kwh</code></th><td><code>SIM-0000</code></td><td class="bad">due</td>', page) and
      re.search(r'<code>m1\.energy_kwh</code></th><td><code>SIM-0001</code></td><td class="bad">expired</td>', page) and
      re.search(r'<code>m2\.energy_kwh</code></th><td><code>SIM-0002</code></td><td>ok</td>', page) and
      'id="warnings"' in page, "the status page has a calibration table with the three states and the warnings")
_, status_json = get(port, "/status.json")
states = {c["point"]: c["state"] for c in json.loads(status_json)["calibrations"]}
check(states == {"m0.energy_kwh": "due", "m1.energy_kwh": "expired", "m2.energy_kwh": "ok"},
      f"/status.json lists each meter's state: {states}")

out = site.run("status", "--config", str(site.config)).stdout
check("calibration 3 meter(s): 1 ok, 1 due, 1 expired\n" in out and
      re.search(rf"^  DUE      calibration of point m0\.energy_kwh \(meter SIM-0000\) expires {due_day}", out, re.M) and
      re.search(rf"^  EXPIRED  calibration of point m1\.energy_kwh \(meter SIM-0001\) expired: valid until "
                rf"{expired_day}", out, re.M) and "m2.energy_kwh (meter" not in out,
      f"mrv-agent status names the due and the expired one: {out!r}")
js = json.loads(site.run("status", "--config", str(site.config), "--json").stdout)
check([c["state"] for c in js["calibrations"]] == ["due", "expired", "ok"], "status --json lists the three states")

time.sleep(2)  # more polls and readings: nothing is said again
due_lines, expired_lines = log_lines("m0.energy_kwh"), log_lines("m1.energy_kwh")
check(len(due_lines) == 1 and " WARN " in due_lines[0] and f"expires {due_day}" in due_lines[0],
      f"the log warns once that m0's calibration is due: {due_lines}")
check(len(expired_lines) == 1 and " WARN " in expired_lines[0] and f"valid until {expired_day}" in expired_lines[0],
      f"the log warns once that m1's calibration expired: {expired_lines}")
check(not log_lines("m2.energy_kwh"), "nothing is logged about the meter that is ok")

# A reload with certificates renewed in the config: both ok, metrics and log follow.
renewed = far_day + 30 * DAY
site.config.write_text(config_text(site, port, [renewed, renewed, far_day]))
proc.send_signal(signal.SIGHUP)
metrics = wait_for(lambda: (lambda m: m if m and m.get(m0, {}).get("state") == "ok"
                            and m.get(m1, {}).get("state") == "ok" else None)(calibration_metrics(port)), 20)
check(metrics, f"after SIGHUP /metrics says ok for both: {metrics}")
check(metrics[m0]["until"] == end_of_day_s(renewed) and metrics[m1]["until"] == end_of_day_s(renewed),
      "and their valid_until moved to the new date")
status, body = get(port, "/healthz")
check(status == 200 and body == "ok\n", f"/healthz is ok without warnings: {body!r}")
out = site.run("status", "--config", str(site.config)).stdout
check("calibration 3 meter(s): 3 ok\n" in out and "DUE" not in out and "EXPIRED" not in out,
      f"status lists no warning: {out!r}")
wait_for(lambda: len(log_lines("m1.energy_kwh")) >= 2, 5)
for point in ("m0.energy_kwh", "m1.energy_kwh"):
    lines = log_lines(point)
    check(len(lines) == 2 and " NOTICE " in lines[1] and f"valid until {renewed}" in lines[1],
          f"the log says once that {point} is valid again: {lines[1:]}")

proc.send_signal(signal.SIGTERM)
proc.wait(timeout=30)
check(proc.returncode == 0, "the agent stops cleanly")
