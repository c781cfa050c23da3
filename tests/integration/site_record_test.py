#!/usr/bin/python3
"""Site records entered by people (docs/record-format.md §1.6, docs/operations.md), with
the real agent, the real CLI and its control socket. Usage: site_record_test.py AGENT MODE

kinds     every kind entered while the agent runs: seq printed, exported with source
          operator:<login> and time_source operator, verified by every verifier
direct    with no agent, the CLI writes the journal itself; with an agent holding the
          journal but its socket gone, it refuses
refusals  malformed entries are refused naming the option, by the CLI and by the agent;
          nothing is stored
hostile   garbage, long lines, silent and surplus clients on the socket: the agent answers
          or closes, and keeps committing readings
retry     the same entry id twice is stored once, through the agent or directly
kill9     kill -9 right after the CLI got its answer: the entry is in the journal
"""
import datetime
import hashlib
import json
import os
import pwd
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time

from harness import Site, bundle_verifier, check, fail, python_verifier, wait_closed

agent, mode = sys.argv[1], sys.argv[2]
LOGIN = pwd.getpwuid(os.getuid()).pw_name
TODAY = datetime.datetime.now(datetime.timezone.utc).date()


def make_site(interval_ms=200, points=2):
    site = Site(agent, interval_ms=interval_ms, points=points)
    text = site.config.read_text()
    for i in range(points):  # a class for the calibration check
        text = text.replace(f'meter_serial = "SIM-{i:04d}"\n', f'meter_serial = "SIM-{i:04d}"\naccuracy_class = "0.5S"\n')
    site.config.write_text(text)
    site.socket = site.dir / "state" / "journal.db.sock"
    return site


class Agent:
    """The agent running on a site, its log drained in the background."""

    def __init__(self, site):
        self.site, self.log = site, []
        self.proc = site.start()
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"the agent exited {self.proc.returncode}: {''.join(self.log)[-2000:]}")
            if any("running: " in line for line in self.log) and site.socket.exists():
                return
            time.sleep(0.05)
        fail("the agent did not start: " + "".join(self.log)[-2000:])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        check(self.proc.returncode == 0, f"the agent stops cleanly (exit {self.proc.returncode})")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def record(site, kind, *args):
    return subprocess.run([agent, "record", kind, "--config", str(site.config), *args],
                          capture_output=True, text=True, timeout=60)


def entered(site, kind, *args):
    """Enters a record; returns (seq, id) from what the CLI printed."""
    p = record(site, kind, *args)
    m = re.search(r"entered: seq (\d+), .*id ([0-9a-f]{32}), hash [0-9a-f]{64}", p.stdout)
    if p.returncode != 0 or not m:
        fail(f"record {kind} exited {p.returncode}: {p.stdout}{p.stderr}")
    return int(m[1]), m[2]


def site_records(site):
    """(seq, record fields) of every site-record record, read straight from SQLite."""
    out = []
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        for seq, canonical in db.execute("SELECT seq, canonical FROM records ORDER BY seq"):
            rec = json.loads(canonical)
            if rec["type"] == "site-record":
                out.append((seq, rec))
    return out


def count_readings(site):
    """Meter readings (not site records) in the journal."""
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True, timeout=5) as db:
        heads = db.execute("SELECT substr(canonical, 1, 24) FROM records").fetchall()
    return sum(1 for (h,) in heads if bytes(h) == b'{"v":1,"type":"reading",')


def ask(site, data, read=True):
    """Sends raw bytes to the control socket; returns the answer line (parsed) or None."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(15)
    s.connect(str(site.socket))
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    if not read:
        return s
    answer = b""
    try:
        while not answer.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    except ConnectionResetError:
        pass
    s.close()
    return json.loads(answer) if answer else None


def note_request(entry_id, text="a note", pad=0):
    req = json.dumps({"kind": "note", "ts_ms": int(time.time() * 1000), "details": {
        "id": entry_id, "entered_by": "Tester", "text": text}})
    return (req + " " * pad).encode()


def files(site):
    cert, invoice, photo = site.dir / "cert.pdf", site.dir / "invoice.pdf", site.dir / "display.jpg"
    cert.write_bytes(b"%PDF-1.4 certificate " + os.urandom(64))
    invoice.write_bytes(b"%PDF-1.4 invoice " + os.urandom(64))
    photo.write_bytes(b"\xff\xd8 photo " + os.urandom(64))
    return cert, invoice, photo


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kinds():
    site = make_site()
    cert, invoice, photo = files(site)
    a = Agent(site)
    calibrated = str(TODAY - datetime.timedelta(days=1))
    due = TODAY + datetime.timedelta(days=730)
    month_end = TODAY.replace(day=1) - datetime.timedelta(days=1)
    seqs = {}
    seqs["manual-reading"] = entered(site, "manual-reading", "--meter", "SIM-0000", "--value", "1234.5",
                                     "--photo", str(photo), "--comment", 'read at the "main" panel')
    seqs["meter-exchange"] = entered(site, "meter-exchange", "--point", "m1.energy_kwh", "--old-final", "99.5",
                                     "--new-serial", "SIM-0101", "--new-initial", "0")
    seqs["calibration"] = entered(site, "calibration", "--meter", "SIM-0000", "--at", calibrated,
                                  "--laboratory", "MASM calibration laboratory", "--certificate-number", "CAL-2027-1",
                                  "--certificate", str(cert), "--error-percent", "-0.2", "--result", "pass",
                                  "--next-due", str(due))
    seqs["document"] = entered(site, "document", "--type", "sales-statement", "--number", "S-7", "--issuer", "Grid",
                               "--from", str(month_end.replace(day=1)), "--to", str(month_end),
                               "--quantity", "4821.5", "--unit", "kWh", "--file", str(invoice))
    seqs["note"] = entered(site, "note", "--point", "m0.energy_kwh", "--text", "Inverter 2 tripped.\nReset at 14:20.",
                           "--by", "Saraa B.")
    numbers = [seqs[k][0] for k in ("manual-reading", "meter-exchange", "calibration", "document", "note")]
    check(numbers == sorted(numbers) and len(set(numbers)) == 5, f"each entry printed its own seq: {numbers}")
    before = count_readings(site)
    time.sleep(1.0)
    check(count_readings(site) > before, "readings go on being committed after the entries")
    listed = site.run("record", "list", "--config", str(site.config)).stdout.splitlines()
    check(len(listed) == 6 and all(k in "\n".join(listed) for k in seqs), "record list shows the five entries:\n" +
          "\n".join(listed))
    only = site.run("record", "list", "--config", str(site.config), "--kind", "calibration").stdout.splitlines()
    check(len(only) == 2 and "pass, error -0.2 %" in only[1], f"record list --kind calibration: {only}")
    a.stop()

    export = site.export()
    by_seq = {}
    for line in export.read_text().splitlines()[1:]:
        obj = json.loads(line)
        by_seq[obj["seq"]] = json.loads(obj["record"])
    for kind, (seq, entry_id) in seqs.items():
        rec = by_seq.get(seq)
        check(rec is not None and rec["type"] == "site-record" and rec["time_source"] == "operator"
              and rec["source"] == f"operator:{LOGIN}" and rec["quality"] == "good",
              f"{kind} is seq {seq} in the export, type site-record, source operator:{LOGIN}, time_source operator")
        details = json.loads(rec["reason"])
        check(details["kind"] == kind and details["id"] == entry_id, f"its details name the kind and id {entry_id}")
    cal = json.loads(by_seq[seqs["calibration"][0]]["reason"])
    check(cal["certificate_sha256"] == sha256(cert) and cal["result"] == "pass"
          and cal["valid_until"] == f"{due + datetime.timedelta(days=1)}T00:00:00Z",
          f"the calibration holds the certificate's SHA-256 and is valid through the due date: {cal}")
    check(by_seq[seqs["calibration"][0]]["value"] == "-0.2" and by_seq[seqs["calibration"][0]]["unit"] == "%",
          "its value is the error found, in %")
    doc = json.loads(by_seq[seqs["document"][0]]["reason"])
    check(doc["file_sha256"] == sha256(invoice) and doc["file_name"] == "invoice.pdf"
          and doc["period_to"] == f"{month_end + datetime.timedelta(days=1)}T00:00:00Z"
          and by_seq[seqs["document"][0]]["point"] == "", f"the document: file hash, name, period end: {doc}")
    manual = json.loads(by_seq[seqs["manual-reading"][0]]["reason"])
    check(manual["photo_sha256"] == sha256(photo) and manual["meter_serial"] == "SIM-0000"
          and manual["entered_by"] == LOGIN, f"the manual reading: meter, photo hash, entered by the login: {manual}")
    note = json.loads(by_seq[seqs["note"][0]]["reason"])
    check(note["text"] == "Inverter 2 tripped.\nReset at 14:20." and note["entered_by"] == "Saraa B.",
          "the note keeps its two lines and names who entered it (--by)")
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        heads = [json.loads(c)["type"] for (c,) in db.execute(
            "SELECT r.canonical FROM point_heads h JOIN records r ON r.seq = h.seq")]
    check(heads and all(t == "reading" for t in heads), "point heads are meter readings, never site records")

    v = subprocess.run(["/usr/bin/python3", python_verifier(), str(export), "--public-key", str(site.public_pem)],
                       capture_output=True, text=True)
    check(v.returncode == 0 and v.stdout.startswith("VERIFIED"), f"verify_export.py: {v.stdout}{v.stderr}")
    bundle = site.bundle()
    own = site.verify(bundle)
    check(own.returncode == 0 and "VALID" in own.stdout, f"mrv-agent verify on the bundle: {own.stdout}{own.stderr}")
    py = subprocess.run(["/usr/bin/python3", bundle_verifier(), str(bundle), "--public-key", str(site.public_pem)],
                        capture_output=True, text=True, timeout=300)
    check(py.returncode == 0 and "VALID" in py.stdout, f"verify_bundle.py on the bundle: {py.stdout}{py.stderr}")


def direct():
    site = make_site()
    site.run("run", "--config", str(site.config), "--duration", "1")
    p = record(site, "note", "--text", "entered with the agent stopped")
    check(p.returncode == 0 and "written to the journal directly" in p.stdout,
          f"with no agent the CLI writes the journal itself: {p.stdout}{p.stderr}")
    seq = int(re.search(r"seq (\d+)", p.stdout)[1])
    a = Agent(site)
    time.sleep(0.5)
    check("new chain segment" not in "".join(a.log), "the agent opens the journal after it with no chain break")
    # An agent holds the journal, but its socket is gone: the CLI must not write beside it.
    before = count_readings(site)
    site.socket.unlink()
    p = record(site, "note", "--text", "must not be written")
    check(p.returncode == 1 and "the agent runs" in p.stderr and "unreachable" in p.stderr,
          f"with the agent's socket gone the CLI refuses, saying the agent runs (exit {p.returncode}): {p.stderr}")
    time.sleep(0.6)
    a.stop()
    recs = site_records(site)
    check([s for s, _ in recs] == [seq] and recs[0][1]["source"] == f"operator:{LOGIN}",
          f"one site record, seq {seq}, source operator:{LOGIN}; the refused one is not stored")
    check(count_readings(site) > before, "the agent committed readings meanwhile")
    export = site.export()
    v = subprocess.run(["/usr/bin/python3", python_verifier(), str(export), "--public-key", str(site.public_pem)],
                       capture_output=True, text=True)
    check(v.returncode == 0, f"the export verifies: {v.stdout}{v.stderr}")


def refusals():
    site = make_site()
    cert, _, _ = files(site)
    a = Agent(site)
    cal = ["--laboratory", "MASM", "--certificate-number", "C-1", "--certificate", str(cert),
           "--result", "pass", "--next-due", str(TODAY + datetime.timedelta(days=365))]
    cases = [
        ("an unknown point", ["note", "--point", "no.such_point", "--text", "x"],
         "--point: 'no.such_point' is not a point of"),
        ("an unknown meter", ["manual-reading", "--meter", "SIM-9999", "--value", "1"],
         "--meter: no point of"),
        ("a date that is no date", ["calibration", "--meter", "SIM-0000", "--at", "2027-13-45", "--error-percent", "0.1",
                                    *cal], "--at: '2027-13-45' is not a time"),
        ("a due date that is no date", ["calibration", "--meter", "SIM-0000", "--at", str(TODAY), "--error-percent",
                                        "0.1", *cal[:-1], "31/12/2030"], "--next-due: '31/12/2030' is not a date"),
        ("a certificate file that is missing", ["calibration", "--meter", "SIM-0000", "--at", str(TODAY),
                                               "--error-percent", "0.1", *cal[:5], "/nonexistent/cert.pdf", *cal[6:]],
         "--certificate: /nonexistent/cert.pdf: no such file"),
        ("a pass with an error above the accuracy class", ["calibration", "--meter", "SIM-0000", "--at", str(TODAY),
                                                          "--error-percent", "0.7", *cal],
         "a calibration that passed cannot have found an error of 0.7 %: point 'm0.energy_kwh' is of accuracy class 0.5S"),
        ("the meter serial of another point", ["manual-reading", "--point", "m0.energy_kwh", "--serial", "SIM-0001",
                                               "--value", "5"],
         "'SIM-0001' is not the meter of point 'm0.energy_kwh' in the config ('SIM-0000')"),
        ("a --meter and --point that disagree", ["note", "--meter", "SIM-0001", "--point", "m0.energy_kwh", "--text", "x"],
         "--meter: 'SIM-0001' is the meter of point 'm1.energy_kwh'"),
        ("a value that is no decimal", ["manual-reading", "--meter", "SIM-0000", "--value", "12,5"],
         "'12,5' is not decimal text"),
        ("a time far in the future", ["note", "--at", "2099-01-01", "--text", "x"], "more than a day ahead"),
        ("an exchange to the same meter", ["meter-exchange", "--meter", "SIM-0000", "--old-final", "1",
                                           "--new-serial", "SIM-0000", "--new-initial", "0"], "equals old_serial"),
    ]
    for what, args, message in cases:
        p = record(site, *args)
        check(p.returncode == 2 and message in p.stderr, f"{what} is refused (exit {p.returncode}): {p.stderr.strip()}")
    # The agent checks for itself whatever a client sends.
    raw = json.dumps({"kind": "note", "point": "no.such_point", "ts_ms": int(time.time() * 1000),
                      "details": {"id": "ab" * 16, "entered_by": "x", "text": "x"}}) + "\n"
    answer = ask(site, raw.encode())
    check(answer == {"ok": False, "error": answer.get("error")} and "'no.such_point' is not a point" in answer["error"],
          f"the agent refuses an unknown point sent to its socket: {answer}")
    raw = json.dumps({"kind": "calibration", "point": "m0.energy_kwh", "value": "0.9", "unit": "%",
                      "ts_ms": int(time.time() * 1000), "details": {
                          "id": "cd" * 16, "entered_by": "x", "meter_serial": "SIM-0000", "laboratory": "L",
                          "certificate": "C", "certificate_sha256": "0" * 64, "result": "pass",
                          "valid_until": "2099-01-01T00:00:00Z"}}) + "\n"
    answer = ask(site, raw.encode())
    check(answer["ok"] is False and "accuracy class 0.5S" in answer["error"],
          f"and a pass beyond the accuracy class: {answer}")
    check(a.alive(), "the agent runs on")
    a.stop()
    check(site_records(site) == [], "nothing was stored")
    listed = site.run("record", "list", "--config", str(site.config)).stdout.splitlines()
    check(len(listed) == 1, "record list shows none")


def hostile():
    site = make_site(interval_ms=100)
    a = Agent(site)
    time.sleep(0.5)
    counts = [count_readings(site)]
    answer = ask(site, b"\x00\xff garbage {{{\n")
    check(answer and answer["ok"] is False and "not a JSON object" in answer["error"],
          f"garbage is answered with a refusal: {answer}")
    answer = ask(site, b"[" * 60_000 + b"\n")
    check(answer and answer["ok"] is False and "nested deeper" in answer["error"], f"deep nesting is refused: {answer}")
    answer = ask(site, b"a" * (1 << 20) + b"\n")
    check(answer is None or (answer["ok"] is False and "longer than 65536 bytes" in answer["error"]),
          f"a 1 MiB line is refused or cut: {answer}")
    at_limit = note_request("ee" * 16, pad=0)
    at_limit += b" " * (65536 - len(at_limit))
    answer = ask(site, at_limit + b"\n")
    check(answer and answer["ok"] is True, f"a request of exactly 65,536 bytes is entered: {answer}")
    answer = ask(site, note_request("ef" * 16, pad=65537 - len(note_request("ef" * 16))) + b"\n")
    check(answer and answer["ok"] is False and "longer than 65536 bytes" in answer["error"],
          f"one byte more is refused: {answer}")
    s = ask(site, note_request("f0" * 16), read=False)  # no newline: the request ends where the client stops sending
    s.shutdown(socket.SHUT_WR)
    answer = json.loads(s.makefile("rb").readline() or b"null")
    s.close()
    check(answer and answer["ok"] is True, f"a request without its newline, the client done sending, is entered: {answer}")
    time.sleep(0.3)
    counts.append(count_readings(site))

    # Silent clients: closed after 5 s; a fifth at once is told the agent is busy.
    t0 = time.time()
    silent = [ask(site, b"", read=False) for _ in range(4)]
    half = silent[0]
    half.sendall(b'{"kind":"note",')  # half a line, then nothing
    surplus = ask(site, note_request("f1" * 16) + b"\n")
    check(surplus and surplus["ok"] is False and "busy" in surplus["error"],
          f"a fifth connection while four are open is refused at once: {surplus}")
    closed = [wait_closed(s, 10) for s in silent]
    took = time.time() - t0
    check(all(c is not None for c in closed) and 4.0 <= took <= 8.0,
          f"silent and half-sent clients are closed after about 5 s ({took:.1f} s)")
    answer = ask(site, note_request("f2" * 16) + b"\n")
    check(answer and answer["ok"] is True, f"then an entry goes in again: {answer}")
    counts.append(count_readings(site))
    check(a.alive(), "the agent runs on")
    check(counts[0] < counts[1] < counts[2], f"and commits readings throughout: {counts}")
    p = record(site, "note", "--text", "still answering the CLI")
    check(p.returncode == 0 and "entered: seq" in p.stdout, f"the CLI enters a record afterwards: {p.stdout}{p.stderr}")
    a.stop()
    ids = {json.loads(r["reason"])["id"] for _, r in site_records(site)}
    check({"ee" * 16, "f0" * 16, "f2" * 16} <= ids and "ef" * 16 not in ids and "f1" * 16 not in ids,
          "exactly the accepted entries are stored")


def retry():
    site = make_site()
    a = Agent(site)
    entry_id = "5a" * 16
    first = record(site, "note", "--id", entry_id, "--text", "first")
    seq = int(re.search(r"entered: seq (\d+)", first.stdout)[1])
    again = record(site, "note", "--id", entry_id, "--text", "first")
    check(again.returncode == 0 and f"already entered: seq {seq}," in again.stdout,
          f"the same id again is answered with the first seq: {again.stdout}{again.stderr}")
    edited = record(site, "note", "--id", entry_id, "--text", "edited on a retry")
    check(f"already entered: seq {seq}," in edited.stdout, "also when the retry's content differs")
    a.stop()
    direct_again = record(site, "note", "--id", entry_id, "--text", "first")
    check(direct_again.returncode == 0 and f"already entered: seq {seq}," in direct_again.stdout,
          f"and when the CLI writes the journal itself: {direct_again.stdout}{direct_again.stderr}")
    same = [s for s, r in site_records(site) if json.loads(r["reason"])["id"] == entry_id]
    check(same == [seq], f"the entry is stored once, at seq {seq}: {same}")


def kill9():
    site = make_site(interval_ms=10, points=4)
    for i in range(3):
        a = Agent(site)
        time.sleep(0.3)
        seq, entry_id = entered(site, "note", "--text", f"entry {i} before a kill")
        a.kill()
        site.run("run", "--config", str(site.config), "--duration", "0.5")
        found = dict(site_records(site))
        check(seq in found and json.loads(found[seq]["reason"])["id"] == entry_id,
              f"kill {i + 1}: the entry answered as seq {seq} is there after a restart")
    export = site.export()
    v = subprocess.run(["/usr/bin/python3", python_verifier(), str(export), "--public-key", str(site.public_pem)],
                       capture_output=True, text=True)
    check(v.returncode == 0, f"the export verifies after the kills: {v.stdout[:300]}{v.stderr}")


{"kinds": kinds, "direct": direct, "refusals": refusals, "hostile": hostile, "retry": retry, "kill9": kill9}[mode]()
print("1 passed, 0 failed")
