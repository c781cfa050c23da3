"""Monitoring reports end to end (issue 7) with the real binaries: a PV export meter
publishes its register over a real mosquitto broker with the meter's own timestamps, the
agent journals and signs it, and `mrv-agent report` computes the worked solar example of
docs/domain.md (1,234.567 MWh -> 4,456.789 MWh at 0.797 tCO2/MWh -> 2,568 tCO2).

usage: report_test.py AGENT MODE [ARTIFACT_DIR]
  solar     JSON, CSV and HTML reports; the HTML page in headless Chromium (screenshot
            kept in ARTIFACT_DIR); a bundle carrying the report verifies, and verify
            recomputes it
  tamper    one record of that bundle changed: verify fails the report's recomputation
  upload    the signed report is posted to a real mrv-registry and kept there
"""
import io
import json
import pathlib
import shutil
import signal
import subprocess
import sys
import tarfile
import textwrap
import time

from harness import Site, check, fail, track
from mqtt_harness import Broker, publish_all, wait_connected

HERE = pathlib.Path(__file__).parent
START_MS = 1767225600000            # 2026-01-01T00:00:00Z
END_MS = START_MS + 30 * 86400000   # 2026-01-31T00:00:00Z
STEP_MS = 15 * 60000
STEPS = (END_MS - START_MS) // STEP_MS  # 2,880
START_KWH, END_KWH = 1234567.0, 4456789.0


def register_at(k):
    """The export register k steps after the period's start (exact at both boundaries)."""
    return round(START_KWH + k * (END_KWH - START_KWH) / STEPS, 3)


class SolarSite(Site):
    def __init__(self, agent, broker_url):
        super().__init__(agent, points=0, extra_signing="checkpoint_interval_ms = 1000")
        text = self.config.read_text()
        text += textwrap.dedent(f"""\
            [[points]]
            id = "pv1.export_kwh"
            unit = "kWh"
            kind = "cumulative"
            interval_ms = {STEP_MS}
            meter_serial = "EXP-0001"
            accuracy_class = "0.5S"
            calibration_valid_until = 2027-06-30
            [[points]]
            id = "pv1.power_kw"
            unit = "kW"
            kind = "gauge"
            interval_ms = {STEP_MS}
            meter_serial = "INV-0001"
            [[sources.mqtt]]
            name = "plant"
            url = "{broker_url}"
            [[sources.mqtt.subscriptions]]
            topic = "plant/pv1/{{quantity}}"
            point = "pv1.{{quantity}}"
            format = "json"
            value = "/v"
            timestamp = "/t"
            timestamp_format = "epoch_ms"
            [monitoring]
            methodology = "MN_AM003"
            version = "1.0"
            [[monitoring.parameters]]
            id = "EG_p"
            description = "Electricity delivered to the national grid"
            unit = "MWh"
            aggregation = "counter"
            point = "pv1.export_kwh"
            [[monitoring.parameters]]
            id = "EF_grid"
            description = "Grid emission factor"
            unit = "tCO2/MWh"
            aggregation = "fixed"
            value = 0.797
            source = "Mongolia national grid emission factor (JCM)"
            monitoring_option = "A"
            [[monitoring.parameters]]
            id = "P_mean"
            description = "Mean inverter output"
            unit = "kW"
            aggregation = "mean"
            point = "pv1.power_kw"
            [[monitoring.formulas]]
            id = "RE_p"
            expression = "EG_p * EF_grid"
            unit = "tCO2"
            [[monitoring.formulas]]
            id = "PE_p"
            expression = "0"
            unit = "tCO2"
            [[monitoring.formulas]]
            id = "ER_p"
            expression = "RE_p - PE_p"
            unit = "tCO2"
            [[monitoring.periods]]
            name = "2026-01"
            start = 2026-01-01T00:00:00Z
            end = 2026-01-31T00:00:00Z
            """)
        self.config.write_text(text)

    def messages(self):
        """A day before the period to a day after it, every 15 min: register and power."""
        out = []
        for k in range(-96, STEPS + 97):
            t = START_MS + k * STEP_MS
            out.append(("plant/pv1/export_kwh", json.dumps({"v": register_at(k), "t": t})))
            hour = (t // 3600000) % 24
            power = max(0.0, 4000.0 * (1 - abs(hour - 12) / 6)) if 6 <= hour <= 18 else 0.0
            out.append(("plant/pv1/power_kw", json.dumps({"v": round(power, 1), "t": t})))
        return out

    def stored(self):
        import sqlite3
        try:
            with sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=5) as db:
                return db.execute("SELECT count(*) FROM records WHERE point != ''").fetchone()[0]
        except sqlite3.Error:
            return 0

    def report(self, fmt, *extra):
        out = self.dir / f"report.{fmt}"
        p = self.run("report", "--config", str(self.config), "--period", "2026-01", "--format", fmt,
                     "--out", str(out), *extra)
        return out, p


def collect(agent, extra_config=""):
    """A site whose journal holds the period's readings, the agent stopped."""
    folder = pathlib.Path(__import__("tempfile").mkdtemp(prefix="mrv-report-"))
    broker = Broker(folder)
    site = SolarSite(agent, f"tcp://127.0.0.1:{broker.port}")
    if extra_config:
        site.config.write_text(site.config.read_text() + extra_config)
    proc = site.start()
    wait_connected(site.journal)  # subscribed: a first session has no queue before it
    messages = site.messages()
    client = broker.publisher()
    publish_all(client, messages)
    deadline = time.time() + 120
    while site.stored() < len(messages) and time.time() < deadline:
        time.sleep(0.2)
    check(site.stored() == len(messages), f"all {len(messages)} readings journaled")
    time.sleep(1.5)  # a checkpoint covers them (interval 1 s)
    proc.send_signal(signal.SIGTERM)
    check(proc.wait(timeout=30) == 0, "the agent stops cleanly")
    client.loop_stop()
    broker.stop()
    return site


def solar(agent, artifacts):
    site = collect(agent)
    out, p = site.report("json", "--no-upload")
    r = json.loads(out.read_text())
    eg = next(x for x in r["parameters"] if x["id"] == "EG_p")
    check(eg["value"] == "3222.222", f"EG_p = 3222.222 MWh (got {eg['value']})")
    point = eg["points"][0]
    check(point["start"]["value"] == "1234567" and point["start"]["distance_ms"] == 0,
          "start register 1,234,567 kWh read at the boundary")
    check(point["end"]["value"] == "4456789" and point["end"]["distance_ms"] == 0,
          "end register 4,456,789 kWh read at the boundary")
    check(point["readings"] == STEPS and point["coverage"] == "1", "2,880 readings of 2,880 expected")
    results = {x["id"]: x["value"] for x in r["results"]}
    check(results == {"RE_p": "2568.110934", "PE_p": "0", "ER_p": "2568.110934"}, f"results {results}")
    check(r["emission_reductions"]["credited_tco2"] == 2568, "2,568 tCO2 credited (rounded down)")
    check(r["signature"]["key_id"] and r["annex"]["end_checkpoint"].startswith("mrv-agent/it-site\n"),
          "signed, with the end checkpoint in the annex")
    check("ER_p = 2568.110934 tCO2, credited 2568 tCO2" in p.stderr, "the command says the result")

    csv_out, _ = site.report("csv", "--no-upload")
    csv = csv_out.read_text()
    check(csv.startswith("monitoring period,monitoring point,parameter,description,value,unit,monitoring option,"),
          "CSV has the monitoring sheet's columns")
    check(",pv1.export_kwh,EG_p,Electricity delivered to the national grid,3222.222,MWh,C," in csv,
          "CSV row of EG_p")

    html_out, _ = site.report("html", "--no-upload")
    shot = pathlib.Path(artifacts) / "report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    c = subprocess.run(["/usr/bin/python3", str(HERE / "chromium_check.py"), str(html_out), "--screenshot",
                        str(shot), "--expect", "2,568", "--expect", "EG_p", "--expect", "<svg"],
                       capture_output=True, text=True, timeout=180)
    check(c.returncode == 0, f"the HTML report renders in headless Chromium without console errors: {c.stdout}{c.stderr}")
    shutil.copy(html_out, shot.with_suffix(".html"))

    bundle = site.dir / "bundle.tar.gz"
    site.run("export", "--config", str(site.config), "--report", str(out), "--out", str(bundle))
    v = site.verify(bundle)
    check(v.returncode == 0, f"the bundle with its report verifies: {v.stdout}")
    check("every parameter and result matches (credited 2568 tCO2)" in v.stdout, "verify recomputed the report")
    return site, out, bundle


def rewrite_bundle(src, dst, change):
    """The bundle with records.ndjson passed through change(text) (the manifest is kept:
    a careless forger)."""
    with tarfile.open(src, "r:gz") as t_in, tarfile.open(dst, "w:gz") as t_out:
        for m in t_in.getmembers():
            data = t_in.extractfile(m).read()
            if m.name == "records.ndjson":
                data = change(data.decode()).encode()
            info = tarfile.TarInfo(m.name)
            info.size, info.mtime, info.mode = len(data), m.mtime, m.mode
            t_out.addfile(info, io.BytesIO(data))


def tamper(agent, artifacts):
    site, _, bundle = solar(agent, artifacts)
    forged = site.dir / "forged.tar.gz"
    # The end register, 4,456,789 kWh, made 10 MWh larger.
    needle = '\\"point\\":\\"pv1.export_kwh\\",\\"value\\":\\"4456789.0\\"'
    text = tarfile.open(bundle, "r:gz").extractfile("records.ndjson").read().decode()
    if needle not in text:
        fail("the end register's record was not found in the bundle: " + text[:400])
    rewrite_bundle(bundle, forged, lambda t: t.replace(needle, needle.replace("4456789", "4466789"), 1))
    v = site.verify(forged)
    check(v.returncode == 1, f"verify fails the forged bundle: {v.stdout}")
    check("FAILED [report] report.json: recomputed from the bundle's records, parameter EG_p: the report says "
          "3222.222 MWh, the records give 3232.222 MWh" in v.stdout, "and names the recomputation that fails")


def upload(agent, artifacts):
    sys.path.insert(0, str(HERE))
    from upload_harness import Pki, Registry, new_token
    folder = pathlib.Path(__import__("tempfile").mkdtemp(prefix="mrv-report-reg-"))
    pki = Pki(folder / "pki")
    token, _ = new_token()
    registry = Registry(agent, folder / "registry", pki, {"it-site": {"token": token}})
    site = collect(agent)
    pki.copy_to(site.dir, pki.ca)
    (site.dir / "token").write_text(token + "\n")
    (site.dir / "token").chmod(0o600)
    site.config.write_text(site.config.read_text().replace(
        "[monitoring]", f'[upload]\nurl = "{registry.url}"\nca_file = "ca.pem"\ntoken_file = "token"\n\n[monitoring]', 1))
    # The records first (the agent uploads them while it runs), then the report.
    proc = site.start()
    deadline = time.time() + 60
    while registry.max_seq()[1] < site.records()[-1][0] and time.time() < deadline:
        time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    out, p = site.report("json")
    check("uploaded to " + registry.url in p.stderr, "the report command says it uploaded")
    status, _, listed = registry.request("GET", "/v1/sites/it-site/reports", token=token)
    check(status == 200 and len(listed) == 1, f"the registry holds one report: {listed}")
    import hashlib
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    check(listed[0]["report_sha256"] == sha, "the one uploaded, byte for byte")
    status, body, _ = registry.request("GET", f"/v1/sites/it-site/reports/{sha}", token=token)
    check(status == 200 and body == out.read_bytes(), "and it reads back the same")
    # A report not signed by the site's registered key is refused.
    forged = json.loads(out.read_text())
    forged["emission_reductions"]["credited_tco2"] = 9999
    status, _, err = registry.request("POST", "/v1/sites/it-site/reports", json.dumps(forged).encode(),
                                      {"Content-Type": "application/json"}, token=token)
    check(status == 422 and err and err.get("check") == "signature", f"a forged report is refused: {status} {err}")
    registry.stop()


def main():
    agent, mode = sys.argv[1], sys.argv[2]
    artifacts = sys.argv[3] if len(sys.argv) > 3 else "/tmp/mrv-report-artifacts"
    {"solar": solar, "tamper": tamper, "upload": upload}[mode](agent, artifacts)
    print("PASS")


if __name__ == "__main__":
    main()
