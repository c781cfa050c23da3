"""The JCM Monitoring Report Sheet workbook (issue 17) with the real binaries: the shipped
configs/solar-pv.toml and configs/chiller.toml (their [monitoring] sections as shipped;
meters fed hourly over a real mosquitto broker in place of their Modbus and MQTT
gateways, periods moved from 2027 to 2025 so the readings lie in the past), the signed
JSON report and `report --format xlsx` of a period. LibreOffice (headless) opens and
recalculates the workbook: its credited tonnes equal the signed JSON's, every Table 1
value equals the report's (read back with openpyxl), a changed input cell changes the
recalculated result (the formulas are live), and the workbook renders to PDF and a PNG
per page (kept in ARTIFACT_DIR).

usage: workbook_test.py AGENT ARTIFACT_DIR
"""
import datetime
import json
import math
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import openpyxl

from harness import Site, check, fail
from mqtt_harness import Broker, publish_all, wait_connected

HERE = pathlib.Path(__file__).parent
CONFIGS = HERE.parent.parent / "configs"
H = 3_600_000


# A description that a spreadsheet would run as a formula if it were written as one.
HOSTILE = '=HYPERLINK("http://example.com/x","click") & 1+1'


def shipped_config(name, broker_url, points):
    """The shipped config with its gateways replaced by one MQTT source (hourly readings),
    its journal and key in the test folder, no upload, and 2027 moved to 2025; the first
    parameter's description is one a spreadsheet would run as a formula."""
    text = (CONFIGS / name).read_text().replace("2027", "2025").replace("2028", "2026")
    first = text.index("[[monitoring.parameters]]")
    at = text.index('description = "', first) + len('description = "')
    text = text[:at] + HOSTILE.replace('"', '\\"') + " " + text[at:]
    blocks, keep = [], True
    for line in text.splitlines(keepends=True):
        header = re.match(r"^\[\[?([A-Za-z_.]+)\]\]?", line)
        if header:
            keep = not (header.group(1) == "upload" or header.group(1).startswith("sources"))
        if keep:
            blocks.append(line)
    text = "".join(blocks)
    text = re.sub(r'(?m)^path = ".*?"', 'path = "state/journal.db"', text)
    text = re.sub(r'(?m)^key_file = ".*?"', 'key_file = "agent.key"', text)
    text = re.sub(r"(?m)^interval_ms = \d+", "", text)
    text = re.sub(r'(?m)^(kind = "\w+".*)$', r"\1\ninterval_ms = 3600000", text)
    text += f'[[sources.mqtt]]\nname = "test"\nurl = "{broker_url}"\n'
    for p in points:
        text += (f'[[sources.mqtt.subscriptions]]\ntopic = "t/{p}"\npoint = "{p}"\nformat = "json"\n'
                 'value = "/v"\ntimestamp = "/t"\ntimestamp_format = "epoch_ms"\n')
    return text


def run_site(agent, folder, name, readings):
    """readings: {point: [(ts_ms, value)]}; returns the stopped site with its journal."""
    broker = Broker(folder)
    site = Site(agent, points=0)
    site.config.write_text(shipped_config(name, f"tcp://127.0.0.1:{broker.port}", list(readings)))
    p = site.run("check-config", "--config", str(site.config))
    check("JCM workbook (report --format xlsx): ready, project " in p.stdout, f"{name}: check-config says the workbook is ready")
    text = site.config.read_text()
    lacking = site.dir / "lacking.toml"
    lacking.write_text(re.sub(r'(?m)^monitoring_point = .*$', "", text.replace('expression = "0"', 'expression = "rint(0.4)"')))
    p = site.run("check-config", "--config", str(lacking))
    check("JCM workbook (report --format xlsx) needs monitoring.parameters[0].monitoring_point" in p.stdout and
          ("cannot recalculate PE_p: formula 'rint(0.4)'" in p.stdout or name != "solar-pv.toml"),
          f"{name}: check-config names what the workbook lacks: {p.stdout.strip()[-300:]}")
    proc = site.start()
    wait_connected(site.journal)
    client = broker.publisher()
    messages = [(f"t/{p}", json.dumps({"v": v, "t": t})) for p, rows in readings.items() for t, v in rows]
    publish_all(client, messages)
    want = len(messages)
    deadline = time.time() + 120
    import sqlite3
    while time.time() < deadline:
        with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True, timeout=5) as db:
            if db.execute("SELECT count(*) FROM records WHERE source LIKE 'mqtt:%'").fetchone()[0] >= want:
                break
        time.sleep(0.2)
    time.sleep(1.5)  # a checkpoint after the last record
    proc.send_signal(signal.SIGTERM)
    check(proc.wait(timeout=30) == 0, f"{name}: the agent stops cleanly")
    client.loop_stop()
    broker.stop()
    return site


def soffice(*args, cwd):
    profile = pathlib.Path(cwd) / "lo-profile"
    p = subprocess.run(["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", *args],
                       cwd=cwd, capture_output=True, text=True, timeout=180)
    if p.returncode != 0:
        fail(f"soffice {' '.join(args)}: {p.stderr}{p.stdout}")


def recalculated(xlsx, folder):
    """The workbook as LibreOffice recalculates it on load, saved again with its results."""
    out = pathlib.Path(folder) / "recalculated"
    out.mkdir(exist_ok=True)
    soffice("--convert-to", "xlsx:Calc MS Excel 2007 XML", "--outdir", str(out), str(xlsx), cwd=folder)
    return openpyxl.load_workbook(out / pathlib.Path(xlsx).name, data_only=True)


def find_row(ws, column, value):
    for row in ws.iter_rows():
        cell = row[column]
        if cell.value == value:
            return row
    fail(f"{ws.title}: no row with {value!r} in column {column}")


def close(a, b, what, tolerance=1e-9):
    """The JSON writes 6 decimals: within half of the last one, or `tolerance` relative."""
    check(a is not None and abs(float(a) - float(b)) <= max(tolerance * abs(float(b)), 5e-7), f"{what}: {a} vs {b}")


def check_workbook(site, period, folder, artifacts, label, change):
    """change: (parameter id, factor) for the live-formula check."""
    xlsx = pathlib.Path(folder) / f"{label}-{period}.xlsx"
    site.run("report", "--config", str(site.config), "--period", period, "--out", str(xlsx), "--format", "xlsx",
             "--no-upload")
    signed = xlsx.with_suffix(".json")  # the signed JSON the workbook names, written beside it
    report = json.loads(signed.read_text())
    p = site.run("report", "--config", str(site.config), "--period", period, "--out", str(signed), "--format", "xlsx",
                 "--no-upload", check_rc=False)
    check(p.returncode == 1 and "must not end in .json" in p.stderr and json.loads(signed.read_text()) == report,
          f"{label}: a workbook is not written over the signed JSON it names")
    credited = report["emission_reductions"]["credited_tco2"]
    check(credited > 0, f"{label}: {credited} tCO2 credited in the signed JSON")

    wb = recalculated(xlsx, folder)
    names = wb.sheetnames
    check(names[:2] == ["MRS(input)", "MRS(calc_process)"] and {"Monthly", "Daily", "Calibration",
                                                             "Gaps and corrections"} <= set(names), f"{label}: sheets {names}")
    inp, calc = wb["MRS(input)"], wb["MRS(calc_process)"]
    got = find_row(inp, 1, "Credited")[3].value
    check(got == credited, f"{label}: LibreOffice recalculates {got} tCO2 credited, the signed JSON says {credited}")
    check(find_row(calc, 0, "Credited")[3].value == credited, f"{label}: calc_process credits {credited}")
    check(find_row(inp, 1, "Signed credit")[3].value == credited, f"{label}: Table 3 states the signed credit too")
    close(find_row(inp, 1, "ER (tCO2)")[3].value, float(report["emission_reductions"]["value_tco2"]), f"{label}: ER", 1e-6)
    sha = find_row(inp, 0, "Signed report (SHA-256 of its JSON)")[1].value
    import hashlib
    check(sha == hashlib.sha256(signed.read_bytes()).hexdigest(), f"{label}: the header names the signed JSON's SHA-256")
    check(find_row(inp, 0, "Monitoring period")[1].value.startswith(report["period"]["local_dates"]),
          f"{label}: the period's local dates")
    first = report["parameters"][0]
    cell = find_row(inp, 1, first["id"])[2]
    check(cell.data_type == "s" and cell.value.startswith(HOSTILE),
          f"{label}: a description that looks like a formula stays text ({cell.data_type}: {cell.value[:40]!r})")
    for param in report["parameters"]:
        if param["aggregation"] == "fixed" and param.get("monitoring_option") != "A":
            row = find_row(inp, 1, param["id"])
            close(row[3].value, float(param["value"]), f"{label}: Table 2 {param['id']}")
            continue
        row = find_row(inp, 1, param["id"])
        close(row[3].value, float(param["measured"]), f"{label}: Table 1 {param['id']} measured")
        close(row[4].value, float(param["correction"]), f"{label}: Table 1 {param['id']} correction")
        close(row[5].value, float(param["value"]), f"{label}: Table 1 {param['id']} value used")
        check(row[7].value == param["monitoring_option"], f"{label}: {param['id']} option {row[7].value}")
    for result in report["results"]:
        close(find_row(inp, 1, result["id"])[3].value, float(result["value"]), f"{label}: Table 3 {result['id']}", 1e-9)
    monthly = wb["Monthly"]
    total = find_row(monthly, 0, "Total")
    counter = next(p for p in report["parameters"] if p["aggregation"] == "counter")
    close(total[1].value, float(counter["measured"]), f"{label}: the months sum to {counter['id']}", 1e-6)

    # Live: the measured value of `change` scaled in the input sheet, saved, recalculated.
    param_id, factor = change
    edited = openpyxl.load_workbook(xlsx)
    ws = edited["MRS(input)"]
    row = find_row(ws, 1, param_id)
    old = float(row[3].value)
    row[3].value = old * factor
    changed = pathlib.Path(folder) / f"{label}-changed.xlsx"
    edited.save(changed)
    again = recalculated(changed, folder)
    now = find_row(again["MRS(input)"], 1, "Credited")[3].value
    er = float(report["emission_reductions"]["value_tco2"])
    param = next(p for p in report["parameters"] if p["id"] == param_id)
    expect = math.floor(er * (old * factor + float(param["correction"])) / float(param["value"]))
    check(now != credited and abs(now - expect) <= 1,
          f"{label}: {param_id} x{factor} in MRS(input) recalculates to {now} tCO2 (about {expect}), not {credited}")

    soffice("--convert-to", "pdf", "--outdir", str(artifacts), str(xlsx), cwd=folder)
    pdf = pathlib.Path(artifacts) / (xlsx.stem + ".pdf")
    check(pdf.exists() and pdf.stat().st_size > 5000, f"{label}: the workbook renders to PDF ({pdf})")
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(pathlib.Path(artifacts) / xlsx.stem)], check=True,
                   timeout=120)
    pages = sorted(pathlib.Path(artifacts).glob(xlsx.stem + "-*.png"))
    check(len(pages) >= 6, f"{label}: {len(pages)} PNG pages, at least one per sheet")
    shutil.copy(xlsx, artifacts)
    print(f"ok: {label} {period}: {credited} tCO2 credited, recalculated by LibreOffice; {len(pages)} pages")


def solar_readings():
    start = int(datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=8))).timestamp() * 1000)
    hours = 90 * 24
    reg, export, power = 1234567.0, [], []
    for k in range(hours + 1):
        t = start + k * H
        hour = (k + 8) % 24
        kw = max(0.0, 6500.0 * math.sin(math.pi * (hour - 6) / 12)) if 6 <= hour <= 18 else 0.0
        export.append((t, round(reg, 2)))
        power.append((t, round(kw, 1)))
        reg += kw * 0.985
    return {"pv.export_kwh": export, "pv.inverter_power_kw": power}


def chiller_readings():
    start = int(datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=7))).timestamp() * 1000)
    hours = 31 * 24
    reg, energy, power, temp = 5_000_000.0, [], [], []
    for k in range(hours + 1):
        t = start + k * H
        kw = 180.0 + 60.0 * math.sin(2 * math.pi * k / 24)
        energy.append((t, round(reg, 1)))
        power.append((t, round(kw, 2)))
        temp.append((t, 6.5))
        reg += kw
    return {"ch1.energy_kwh": energy, "ch1.power_kw": power, "ch1.chw_supply_temp": temp}


def main(agent, artifacts):
    artifacts = pathlib.Path(artifacts)
    artifacts.mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="mrv-workbook-")
    solar = run_site(agent, folder, "solar-pv.toml", solar_readings())
    check_workbook(solar, "2025-Q1", folder, artifacts, "solar-pv", ("EG_p", 0.5))
    chiller = run_site(agent, folder, "chiller.toml", chiller_readings())
    check_workbook(chiller, "2025-01", folder, artifacts, "chiller", ("EC_PJ", 2.0))
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
