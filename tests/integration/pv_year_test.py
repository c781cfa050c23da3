"""A year of a PV site monitored the way a verifier checks it (issue 16), with the real
binaries: the export meter publishes its register every hour over a real mosquitto broker,
and people at the site enter what no meter sends with `mrv-agent record` while the agent
runs: a calibration that fails in May (found 2.4 % off, class 0.5S) and the new pass the
day after, a modem failure in August with a manual reading off the display and then a
meter exchange (EXP-1 -> EXP-2, with the new meter's factory calibration), a grid outage
in October explained by a note, and the utility's invoice for each quarter, one of which
differs by 3 %. This test computes every figure itself, from the same data and the rules
of docs/report-format.md (not by calling the engine), and compares them with the four
quarterly reports; then a bundle of the third quarter verifies, recomputed from its
records with the manual records, with the failed cross-check as a finding (exit 4).

usage: pv_year_test.py AGENT
"""
import datetime
import json
import math
import pathlib
import signal
import sys
import tempfile
import textwrap
import time

import subprocess

from harness import Site, bundle_verifier, check, fail
from mqtt_harness import Broker, publish_all, wait_connected

TZ = datetime.timezone(datetime.timedelta(hours=8))  # Asia/Ulaanbaatar: UTC+08:00, no DST
H = 3_600_000


def ms(*args):
    return int(datetime.datetime(*args, tzinfo=TZ).timestamp() * 1000)


def iso(t):
    return datetime.datetime.fromtimestamp(t / 1000, TZ).isoformat()


START = ms(2025, 1, 1)
HOURS = 365 * 24                        # readings at k = 0 .. HOURS (2026-01-01 00:00 too)
QUARTERS = [("2025-Q1", ms(2025, 1, 1), ms(2025, 4, 1)), ("2025-Q2", ms(2025, 4, 1), ms(2025, 7, 1)),
            ("2025-Q3", ms(2025, 7, 1), ms(2025, 10, 1)), ("2025-Q4", ms(2025, 10, 1), ms(2026, 1, 1))]
MODEM_DOWN = (ms(2025, 8, 12, 6), ms(2025, 8, 14, 13))   # no automatic reading in [from, to)
MANUAL_AT = ms(2025, 8, 13, 9)                           # read off EXP-1's display
EXCHANGE_AT = ms(2025, 8, 14, 12)                        # EXP-1 out, EXP-2 (from 0) in
OUTAGE = (ms(2025, 10, 3, 8), ms(2025, 10, 5, 17))       # grid off: no export, no readings
PASS_1, FAIL_AT, PASS_2 = ms(2024, 12, 15, 10), ms(2025, 5, 10, 10), ms(2025, 5, 11, 9)
EXP2_CAL = ms(2025, 7, 1)
FAILED_ERROR, CLASS_MPE = 2.4, 0.5
INVOICE_FACTOR = {"2025-Q1": 0.978, "2025-Q2": 0.99, "2025-Q3": 1.03, "2025-Q4": 1.001}
EF = 0.797


def t_of(k):
    return START + k * H


def energy(k):
    """kWh exported in the hour that ends at reading k: a clear-sky day profile, none at
    night or while the grid is off."""
    if k == 0 or OUTAGE[0] <= t_of(k) - H < OUTAGE[1]:
        return 0.0
    hour = datetime.datetime.fromtimestamp((t_of(k) - H) / 1000, TZ).hour
    return 12.5 * max(0, 6 - abs(hour - 12)) if 6 <= hour < 18 else 0.0


CUM = [0.0]
for _k in range(1, HOURS + 1):
    CUM.append(CUM[-1] + energy(_k))
K_EXCHANGE = (EXCHANGE_AT - START) // H


def register(k):
    """What the meter in place at reading k shows: EXP-1 from 100,000 kWh; EXP-2 from 0."""
    return (100000.0 + CUM[k], "EXP-1") if t_of(k) <= EXCHANGE_AT else (CUM[k] - CUM[K_EXCHANGE], "EXP-2")


def automatic(k):
    t = t_of(k)
    return not (MODEM_DOWN[0] <= t < MODEM_DOWN[1] or OUTAGE[0] <= t < OUTAGE[1])


def correction_percent(t, serial):
    """docs/report-format.md §2.7 with the recorded calibrations: a failed one (2.4 %) back
    to the pass before it, expired (the class, 0.5 %) until the next pass, covered after."""
    if serial == "EXP-2":
        return 0.0
    if PASS_1 <= t < FAIL_AT:
        return FAILED_ERROR
    if FAIL_AT <= t < PASS_2:
        return CLASS_MPE
    return 0.0


def expected(name, start, end):
    """Every figure of one quarter's report, computed here."""
    ks, ke = (start - START) // H, (end - START) // H
    raw = CUM[ke] - CUM[ks]                       # kWh: the register difference, across the exchange
    # Each reading's step is corrected by the % of the instant it was read (the manual
    # reading and the exchange are readings too: a step ends at each).
    steps, prev = [], (t_of(ks), CUM[ks])
    events = [(t_of(k), CUM[k], register(k)[1]) for k in range(ks + 1, ke + 1) if automatic(k)]
    if start <= MANUAL_AT < end:
        events.append((MANUAL_AT, CUM[(MANUAL_AT - START) // H], "EXP-1"))
    if start <= EXCHANGE_AT < end:
        events.append((EXCHANGE_AT, CUM[K_EXCHANGE], "EXP-1"))
    events.sort()
    magnitude = 0.0
    for t, c, serial in events:
        magnitude += (c - prev[1]) * correction_percent(t, serial) / 100
        prev = (t, c)
    eg = (raw - magnitude) / 1000                  # MWh, against the project
    hours = (end - start) / H
    failed = max(0, min(end, FAIL_AT) - max(start, PASS_1)) / H
    expired = max(0, min(end, PASS_2) - max(start, FAIL_AT)) / H
    invoice = round(raw * INVOICE_FACTOR[name], 3) / 1000
    diff = abs(eg - invoice) / invoice * 100
    er = eg * EF
    return {"raw_mwh": raw / 1000, "correction_mwh": -magnitude / 1000, "eg_mwh": eg, "er": er,
            "credited": math.floor(er), "failed_h": failed, "expired_h": expired,
            "covered_h": hours - failed - expired, "invoice_mwh": invoice, "diff": diff, "pass": diff <= 2.0}


class PvSite(Site):
    def __init__(self, agent, broker_url):
        super().__init__(agent, points=0, extra_signing="checkpoint_interval_ms = 1000")
        self.config.write_text(self.config.read_text().replace('id = "it-site"', 'id = "it-site"\ntimezone = "Asia/Ulaanbaatar"') +
                               textwrap.dedent(f"""\
            [[points]]
            id = "pv1.export_kwh"
            unit = "kWh"
            kind = "cumulative"
            interval_ms = {H}
            meter_serial = "EXP-1"
            accuracy_class = "0.5S"
            calibration_valid_until = 2025-12-14
            [[sources.mqtt]]
            name = "plant"
            url = "{broker_url}"
            [[sources.mqtt.subscriptions]]
            topic = "plant/pv1/export_kwh"
            point = "pv1.export_kwh"
            format = "json"
            value = "/v"
            timestamp = "/t"
            timestamp_format = "epoch_ms"
            [monitoring]
            methodology = "MN_AM003"
            version = "1.0"
            reference_number = "MN-IT"
            title = "A year of a PV site"
            [monitoring.crediting_period]
            start = 2025-01-01
            end = 2037-01-01
            [[monitoring.parameters]]
            id = "EG_p"
            description = "Electricity delivered to the national grid"
            unit = "MWh"
            aggregation = "counter"
            point = "pv1.export_kwh"
            monitoring_point = "(1)"
            [[monitoring.parameters]]
            id = "EF_grid"
            unit = "tCO2/MWh"
            aggregation = "fixed"
            value = {EF}
            source = "Mongolia national grid emission factor (JCM)"
            monitoring_option = "A"
            [[monitoring.parameters]]
            id = "EG_invoice"
            description = "Electricity sold, by the utility's invoices"
            unit = "MWh"
            aggregation = "documents"
            document_type = "invoice"
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
            [[monitoring.cross_checks]]
            id = "EG_vs_invoices"
            description = "EG_p against the utility's invoices"
            value = "EG_p"
            reference = "EG_invoice"
            tolerance_percent = 2
            """))
        with self.config.open("a") as f:
            for name, start, end in QUARTERS:
                f.write(f'[[monitoring.periods]]\nname = "{name}"\nstart = "{iso(start)}"\nend = "{iso(end)}"\n')

    def stored(self):
        import sqlite3
        try:
            with sqlite3.connect(f"file:{self.journal}?mode=ro", uri=True, timeout=5) as db:
                return db.execute("SELECT count(*) FROM records WHERE point = 'pv1.export_kwh' "
                                  "AND source LIKE 'mqtt:%'").fetchone()[0]
        except sqlite3.Error:
            return 0

    def record(self, kind, *args):
        p = self.run("record", kind, "--config", str(self.config), "--by", "B. Bat-Erdene", *args)
        return p.stdout


def enter_site_records(site):
    folder = site.dir
    cert = {}
    for name in ("pass-1", "fail", "pass-2", "exp2"):
        cert[name] = folder / f"cert-{name}.pdf"
        cert[name].write_bytes(b"%PDF-1.4 calibration certificate " + name.encode())
    cal = ["--point", "pv1.export_kwh", "--laboratory", "MASM calibration laboratory"]
    site.record("calibration", *cal, "--serial", "EXP-1", "--at", iso(PASS_1), "--certificate-number", "C-2024-881",
                "--certificate", str(cert["pass-1"]), "--error-percent", "0.2", "--result", "pass",
                "--next-due", "2025-12-14")
    site.record("calibration", *cal, "--serial", "EXP-1", "--at", iso(FAIL_AT), "--certificate-number", "C-2025-112",
                "--certificate", str(cert["fail"]), "--error-percent", str(FAILED_ERROR), "--result", "fail",
                "--next-due", "2025-05-10")
    site.record("calibration", *cal, "--serial", "EXP-1", "--at", iso(PASS_2), "--certificate-number", "C-2025-113",
                "--certificate", str(cert["pass-2"]), "--error-percent", "0.1", "--result", "pass",
                "--next-due", "2026-05-10")
    site.record("manual-reading", "--point", "pv1.export_kwh", "--serial", "EXP-1", "--at", iso(MANUAL_AT),
                "--value", f"{100000.0 + CUM[(MANUAL_AT - START) // H]:.3f}", "--comment", "modem down; read off the display")
    site.record("meter-exchange", "--point", "pv1.export_kwh", "--at", iso(EXCHANGE_AT), "--old-serial", "EXP-1",
                "--old-final", f"{100000.0 + CUM[K_EXCHANGE]:.3f}", "--new-serial", "EXP-2", "--new-initial", "0")
    return cal, cert


def after_exchange(site, proc, cal, cert):
    """The operator puts the new meter into the config and reloads the agent, then records
    its factory calibration, the outage note and the quarters' invoices."""
    folder = site.dir
    text = site.config.read_text()
    site.config.write_text(text.replace('meter_serial = "EXP-1"', 'meter_serial = "EXP-2"')
                           .replace("calibration_valid_until = 2025-12-14", "calibration_valid_until = 2027-06-30"))
    proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while True:  # the agent checks entries against the config it runs
        p = site.run("record", "calibration", "--config", str(site.config), "--by", "B. Bat-Erdene", *cal,
                     "--serial", "EXP-2", "--at", "2025-07-01", "--certificate-number", "F-EXP2-01",
                     "--certificate", str(cert["exp2"]), "--error-percent", "0.05", "--result", "pass",
                     "--next-due", "2027-06-30", check_rc=False)
        if p.returncode == 0:
            break
        if time.time() > deadline:
            fail(f"the new meter's calibration is refused after the reload: {p.stderr}")
        time.sleep(0.5)
    site.record("note", "--point", "pv1.export_kwh", "--at", iso(OUTAGE[0]), "--to", iso(OUTAGE[1]),
                "--text", "grid outage: the 35 kV feeder was switched off by the utility for repairs")
    for name, start, end in QUARTERS:
        ks, ke = (start - START) // H, (end - START) // H
        invoice = folder / f"invoice-{name}.pdf"
        invoice.write_bytes(f"%PDF-1.4 NPG invoice {name}".encode())
        site.record("document", "--type", "invoice", "--number", f"NPG-{name}", "--issuer", "National Power Grid",
                    "--from", iso(start), "--to", iso(end), "--quantity", f"{(CUM[ke] - CUM[ks]) * INVOICE_FACTOR[name]:.3f}",
                    "--unit", "kWh", "--file", str(invoice))


def close(a, b, what, tolerance=1e-6):
    check(abs(float(a) - b) <= tolerance * max(1.0, abs(b)), f"{what}: report {a}, expected {b:.6f}")


def main(agent):
    folder = pathlib.Path(tempfile.mkdtemp(prefix="mrv-pv-year-"))
    broker = Broker(folder)
    site = PvSite(agent, f"tcp://127.0.0.1:{broker.port}")
    site.run("check-config", "--config", str(site.config))
    proc = site.start()
    wait_connected(site.journal)
    messages = []
    for k in range(HOURS + 1):
        if automatic(k):
            value, _serial = register(k)
            messages.append(("plant/pv1/export_kwh", json.dumps({"v": round(value, 3), "t": t_of(k)})))
    client = broker.publisher()
    publish_all(client, messages)
    deadline = time.time() + 180
    while site.stored() < len(messages) and time.time() < deadline:
        time.sleep(0.2)
    check(site.stored() == len(messages), f"all {len(messages)} hourly readings journaled")
    cal, cert = enter_site_records(site)  # while the agent runs: through its socket
    after_exchange(site, proc, cal, cert)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    check(proc.wait(timeout=30) == 0, "the agent stops cleanly")
    client.loop_stop()
    broker.stop()

    reports = {}
    for name, start, end in QUARTERS:
        out = site.dir / f"{name}.json"
        site.run("report", "--config", str(site.config), "--period", name, "--out", str(out), "--no-upload")
        r = json.loads(out.read_text())
        reports[name] = (out, r)
        e = expected(name, start, end)
        params = {p["id"]: p for p in r["parameters"]}
        eg = params["EG_p"]
        close(eg["measured"], e["raw_mwh"], f"{name} EG_p measured")
        close(eg["correction"], e["correction_mwh"], f"{name} EG_p calibration correction")
        close(eg["value"], e["eg_mwh"], f"{name} EG_p")
        close(params["EG_invoice"]["value"], e["invoice_mwh"], f"{name} EG_invoice from the invoice")
        check(params["EG_invoice"]["informational"] and not eg["informational"], f"{name}: the invoice is informational")
        cal = eg["points"][0]["calibration"]
        for key in ("covered", "failed", "expired"):
            close(cal[f"{key}_hours"], e[f"{key}_h"], f"{name} calibration {key} hours")
        results = {x["id"]: x["value"] for x in r["results"]}
        close(results["ER_p"], e["er"], f"{name} ER_p")
        check(r["emission_reductions"]["credited_tco2"] == e["credited"],
              f"{name}: {e['credited']} tCO2 credited (got {r['emission_reductions']['credited_tco2']})")
        x = r["cross_checks"][0]
        close(x["difference_percent"], e["diff"], f"{name} cross-check difference", 1e-3)
        check(x["pass"] == e["pass"], f"{name}: cross-check {'passes' if e['pass'] else 'fails'}")
        local = r["period"]["local_dates"]
        check(local == f"{iso(start)[8:10]}/{iso(start)[5:7]}/2025 - " + datetime.datetime.fromtimestamp(
            (end - 1) / 1000, TZ).strftime("%d/%m/%Y"), f"{name}: local dates {local}")
    check([n for n in INVOICE_FACTOR if not reports[n][1]["cross_checks"][0]["pass"]] == ["2025-Q3"],
          "exactly the quarter whose invoice is 3 % off fails its cross-check")

    q3 = reports["2025-Q3"][1]
    point = next(p for p in q3["parameters"] if p["id"] == "EG_p")["points"][0]
    check(point["manual_readings"] == 1, "Q3: the manual reading is used")
    check(len(point["exchanges"]) == 1 and [e["kind"] for e in point["events"]] == ["exchange"],
          "Q3: the recorded exchange is the one break, counted across")
    q4 = reports["2025-Q4"][1]
    gaps = next(p for p in q4["parameters"] if p["id"] == "EG_p")["points"][0]["gaps"]
    check(any(g["explained_by"] for g in gaps) and q4["site_notes"][0]["summary"].startswith("grid outage"),
          "Q4: the outage gap is explained by the note")
    q1 = reports["2025-Q1"][1]
    check(q1["period"]["previous_period"] is None and q4["period"]["back_to_back"], "periods back to back")

    # The third quarter as a verifier gets it: a bundle with the report, recomputed.
    bundle = site.dir / "q3.tar.gz"
    site.run("export", "--config", str(site.config), "--report", str(reports["2025-Q3"][0]), "--format", "bundle",
             "--out", str(bundle))
    v = site.verify(bundle)
    check(v.returncode == 4, f"verify exits 4 (a finding: the failed cross-check): {v.stdout}{v.stderr}")
    check("every parameter and result matches" in v.stdout, "verify recomputes the report, manual records included")
    check("EG_vs_invoices" in v.stdout, "the finding names the cross-check")
    check("calibration of 2025-05-10T02:00:00Z failed, error 2.4 %" in v.stdout, "the failed calibration is a finding")
    check("calibration expired" not in v.stdout, "recorded passing calibrations cover the readings after the config's date")
    py = subprocess.run(["/usr/bin/python3", bundle_verifier(), str(bundle), "--public-key", str(site.public_pem)],
                        capture_output=True, text=True, timeout=300)
    check(py.returncode == 4, f"docs/verify_bundle.py agrees: exit 4 ({py.stdout[-800:]}{py.stderr[-400:]})")
    check("EG_vs_invoices" in py.stdout and "calibration of 2025-05-10T02:00:00Z failed, error 2.4 %" in py.stdout,
          "docs/verify_bundle.py names the same findings")

    # The JCM workbooks of the quarters with a calibration correction (Q2) and a meter
    # exchange with a manual reading (Q3), recalculated by LibreOffice: the same credits.
    import workbook_test
    for name in ("2025-Q2", "2025-Q3"):
        xlsx = site.dir / f"{name}.xlsx"
        site.run("report", "--config", str(site.config), "--period", name, "--out", str(xlsx), "--format", "xlsx",
                 "--no-upload")
        signed = json.loads(xlsx.with_suffix(".json").read_text())
        wb = workbook_test.recalculated(xlsx, site.dir)
        got = workbook_test.find_row(wb["MRS(input)"], 1, "Credited")[3].value
        e = expected(name, *[q[1:] for q in QUARTERS if q[0] == name][0])
        check(got == e["credited"] == signed["emission_reductions"]["credited_tco2"],
              f"{name}: the workbook recalculates to {got} tCO2 credited, as computed ({e['credited']})")
        row = workbook_test.find_row(wb["MRS(input)"], 1, "EG_p")
        close(row[4].value, e["correction_mwh"], f"{name}: the workbook's calibration correction of EG_p")
        close(row[5].value, e["eg_mwh"], f"{name}: the workbook's EG_p value used")
        gaps = wb["Gaps and corrections"]
        kinds = [r[2].value for r in gaps.iter_rows() if r[2].value in ("exchange", "reset", "rollover")]
        check(kinds == (["exchange"] if name == "2025-Q3" else []), f"{name}: the workbook lists the breaks {kinds}")
        cal = [r for r in wb["Calibration"].iter_rows() if r[1].value == "pv1.export_kwh" and r[0].value == "EG_p"][0]
        close(cal[7].value, e["failed_h"], f"{name}: the workbook's failed calibration hours")
    print("OK: a year of a PV site: every figure of four quarters as computed independently")


if __name__ == "__main__":
    main(sys.argv[1])
