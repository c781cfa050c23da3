#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/) from a real run:
the agent journals a month of PV readings sent over a real mosquitto broker, signed
with fuzz/keys/seed-ed25519.key (so the fuzz targets that pin its public key see
records and checkpoints whose signatures verify), then its report, bundle and NDJSON
export are cut into seeds, beside hand-written Modbus frames, MQTT messages and HTTP
requests. Run by hand after a format changes: it rewrites its own seeds and leaves the
inputs merged in from fuzzing runs. The corpora are kept in the repository.

usage: make_corpus.py AGENT
"""
import base64
import gzip
import hashlib
import io
import json
import pathlib
import shutil
import struct
import sys
import tarfile

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "integration"))
import harness  # noqa: E402
import report_test  # noqa: E402  (the solar site of the report tests)

CORPUS = HERE / "corpus"
SITE = "fuzz-site"


class SeedSite(report_test.SolarSite):
    """The report tests' solar site, but as fuzz-site, signed with the seed key, and
    one reading a day (the seeds stay small)."""

    def __init__(self, agent, broker_url):
        super().__init__(agent, broker_url)
        self.config.write_text(self.config.read_text().replace('id = "it-site"', f'id = "{SITE}"', 1))
        shutil.copyfile(HERE / "keys" / "seed-ed25519.key", self.key)
        self.key.chmod(0o600)
        shutil.copyfile(HERE / "keys" / "seed-ed25519.pub", self.public_pem)

    def messages(self):
        out = []
        for k in range(-96, report_test.STEPS + 97, 96):
            t = report_test.START_MS + k * report_test.STEP_MS
            out.append(("plant/pv1/export_kwh", json.dumps({"v": report_test.register_at(k), "t": t})))
            out.append(("plant/pv1/power_kw", json.dumps({"v": 1500.5, "t": t})))
        return out


def seed(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def http(method, path, token, body=b"", headers=()):
    lines = [f"{method} {path} HTTP/1.1", "Host: registry", f"Authorization: Bearer {token}", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def admin_seeds():
    """One action of each verb (docs/registry-api.md §8.1), on the fuzz target's roster."""
    pem = (HERE / "keys" / "seed-ed25519.pub").read_text()
    h = "d" * 64
    actions = {
        "add-site": {"action": "add_site", "site": "pv-2", "token_sha256": h, "checkpoint_only": True, "keys": [pem]},
        "add-reader": {"action": "add_reader", "reader": "tpe", "client_cert_cn": "tpe"},
        "set-credential": {"action": "set_credential", "site": "pv-1", "client_cert_sha256": h},
        "suspend": {"action": "suspend", "reader": "r"},
        "resume": {"action": "resume", "site": "pv-1"},
        "remove": {"action": "remove", "site": "pv-1"},
        "pin-key": {"action": "pin_key", "site": "fuzz-site", "public_key_pem": pem},
        "revoke-key": {"action": "revoke_key", "site": "pv-1", "key_id": "e" * 64, "from_seq": 7, "reason": "lost"},
        "rotate-key": {"action": "rotate_key", "site": "fuzz-site", "key_id": "e" * 64, "from_seq": 1,
                       "public_key_pem": pem},
    }
    for name, action in actions.items():
        seed("admin_action", name, json.dumps(action))


def bundle_seeds(bundle, report):
    """Entries of the bundle (the bundle target's input form), record lines, checkpoints."""
    with tarfile.open(bundle, "r:gz") as tar:
        entries = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
    seed("bundle", "bundle-with-report", b"".join(b"\x1e" + n.encode() + b"\n" + d for n, d in entries))
    seed("bundle", "bundle-no-report",
         b"".join(b"\x1e" + n.encode() + b"\n" + d for n, d in entries if n != "report.json"))
    seed("tar_gz", "bundle.tar.gz", bundle.read_bytes())
    found = {n: d for n, d in entries}
    records = [l for n, d in entries if n.startswith("records") for l in d.splitlines()]
    notes = [c["note"] for c in json.loads(found["checkpoints.json"])["checkpoints"]]
    return found, records, notes


def main(agent):
    report_test.SolarSite = SeedSite
    site = report_test.collect(agent)
    report_path, _ = site.report("json", "--no-upload")
    report = report_path.read_bytes()
    bundle = site.dir / "seed.tar.gz"
    site.run("export", "--config", str(site.config), "--report", str(report_path), "--out", str(bundle))
    ndjson = site.dir / "seed.ndjson"
    site.run("export", "--config", str(site.config), "--format", "ndjson", "--from", "2025-12-01",
             "--to", "2026-03-01", "--out", str(ndjson))

    entries, records, notes = bundle_seeds(bundle, report)
    if not records or not notes:
        sys.exit(f"the bundle's entries were not as expected: {sorted(entries)}")
    seed("report", "report.json", report)
    seed("export_ndjson", "export.ndjson", ndjson.read_bytes())
    seed("export_ndjson", "export-head.ndjson", b"\n".join(ndjson.read_bytes().splitlines()[:4]) + b"\n")
    for i, line in enumerate(records[:4] + records[-2:]):
        seed("record_line", f"line-{i}", line)
    for i, note in enumerate(notes[:3]):
        seed("checkpoint", f"note-{i}", note)
    batch = b"\n".join(records) + b"\n"
    seed("gzip", "records.gz", gzip.compress(batch, mtime=0))
    seed("gzip", "empty.gz", gzip.compress(b"", mtime=0))

    config_text = entries.get(next(n for n in entries if n.startswith("configs/")), b"")
    for path in sorted((REPO / "configs").glob("*.toml")):
        seed("config", path.stem, (b"\x01" if path.name == "registry.toml" else b"\x00") + path.read_bytes())
    seed("config", "bundle-config", b"\x00" + config_text)

    key = (HERE / "keys" / "seed-ed25519.pub").read_bytes()
    site_token, reader = "fuzz-site-token", "fuzz-reader-token"
    base = f"/v1/sites/{SITE}"
    requests = {
        "put-key": http("PUT", f"{base}/keys", site_token, key, ["Content-Type: application/x-pem-file"]),
        "put-config": http("PUT", f"{base}/configs/{hashlib.sha256(config_text).hexdigest()}", site_token,
                           config_text, ["Content-Type: application/toml"]),
        "post-records": http("POST", f"{base}/records", site_token, batch[:60000],
                             ["Content-Type: application/x-ndjson"]),
        "post-records-gzip": http("POST", f"{base}/records", site_token, gzip.compress(batch, mtime=0),
                                  ["Content-Type: application/x-ndjson", "Content-Encoding: gzip"]),
        "post-checkpoint": http("POST", f"{base}/checkpoints", site_token, notes[-1].encode(),
                                ["Content-Type: text/plain"]),
        "post-report": http("POST", f"{base}/reports", site_token, report, ["Content-Type: application/json"]),
        "summary": http("GET", base, reader),
        "records": http("GET", f"{base}/records?from=1&to=20", reader),
        "checkpoints": http("GET", f"{base}/checkpoints", reader),
        "reports": http("GET", f"{base}/reports", reader),
        "bundle": http("GET", f"{base}/bundle?from=2026-01-01&to=2026-01-10", reader),
        "head": http("HEAD", base, site_token),
        "cp-site": http("POST", "/v1/sites/cp-site/records", "cp-site-token", records[0] + b"\n",
                        ["Content-Type: application/x-ndjson"]),
        "chunked-trailer": (f"POST {base}/records HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer {site_token}\r\n"
                            "Content-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n"
                            "Trailer: X-Sum\r\n\r\n").encode()
                           + f"{len(records[0]) + 1:x}\r\n".encode() + records[0] + b"\n\r\n0\r\nX-Sum: 1\r\n\r\n",
        "no-credential": b"GET /v1/sites/fuzz-site HTTP/1.1\r\nHost: r\r\n\r\n",
        "page-basic": (f"GET {base}/page?days=3&until=2026-01-10 HTTP/1.1\r\nHost: r\r\nAuthorization: Basic "
                       + base64.b64encode(f"reader:{reader}".encode()).decode() + "\r\n\r\n").encode(),
    }
    key_id = hashlib.sha256(base64.b64decode(b"".join(key.splitlines()[1:-1]))).hexdigest()
    for name, resource, body in (
            ("post-tpm-statement", "tpm", (CORPUS / "tpm_statement" / "statement").read_bytes()),
            ("post-tpm-activation", "tpm/activation", b'{"credential": "' + base64.b64encode(bytes(32)) + b'"}')):
        requests[name] = http("POST", f"{base}/keys/{key_id}/{resource}", site_token, body,
                              ["Content-Type: application/json"])
    for name, data in requests.items():
        seed("registry_request", name, data)

    # Modbus: 6 bytes choose the request (unit, function 1+b%4, address, count 1+b%max,
    # variant: value type, word order, transaction id variant*257), then the response.
    def rtu(frame):
        return frame + struct.pack("<H", harness.modbus_crc16(frame))
    regs = struct.pack(">HH", 0x4120, 0x0000)  # 10.0 as f32 ABCD
    for variant, name in ((8, "f32"), (3, "u32"), (9, "string")):
        req = bytes([1, 2, 0, 0, 1, variant])  # unit 1, FC 3, address 0, 2 registers
        tid = (variant * 257) & 0xFFFF
        seed("modbus_frames", f"tcp-{name}", req + struct.pack(">HHHBBB", tid, 0, 7, 1, 3, 4) + regs)
        seed("modbus_frames", f"rtu-{name}", req + rtu(bytes([1, 3, 4]) + regs))
    seed("modbus_frames", "tcp-exception", bytes([1, 2, 0, 0, 1, 0]) + struct.pack(">HHHBBB", 0, 0, 3, 1, 0x83, 2))
    seed("modbus_frames", "rtu-coils", bytes([1, 0, 0, 0, 9, 0]) + rtu(bytes([1, 1, 2, 0xA5, 0x01])))

    # MQTT: selector byte (subscription, timestamp format), topic, '\n', payload.
    mqtt = {
        "number": b"\x00site/m1/energy\n1234.567",
        "number-exp": b"\x00site/m2/energy\n-1.5e3",
        "json": b'\x01site/m1/json/a\n{"data":[{"value":"42.5"}],"ts":1767225600,"unit":"kW","status":"ok"}',
        "json-rfc3339": b'\x0dsite/m1/json/b\n{"data":[{"value":1}],"ts":"2026-01-01T00:00:00Z"}',
        "senml": b'\x02senml/dev1\n[{"bn":"dev1/","bt":1767225600,"n":"energy_kwh","u":"kWh","v":12.5},'
                 b'{"n":"power_kw","u":"kW","v":3.25,"t":60}]',
    }
    for name, data in mqtt.items():
        seed("mqtt_payload", name, data)

    # The control socket's request: one site record of each kind, as `mrv-agent record` sends it.
    who = '"id":"0123456789abcdef0123456789abcdef","entered_by":"Saraa B."'
    entries = {
        "manual-reading": '{"kind":"manual-reading","point":"m1.energy_kwh","value":"1234.5","unit":"kWh",'
                          '"ts_ms":1817866800000,"details":{' + who + ',"meter_serial":"EXP-0001",'
                          '"photo_sha256":"' + "1" * 64 + '"}}',
        "meter-exchange": '{"kind":"meter-exchange","point":"m1.energy_kwh","unit":"kWh","ts_ms":1817866800000,'
                          '"details":{' + who + ',"old_serial":"EXP-0001","old_final":"1250.25",'
                          '"new_serial":"EXP-0009","new_initial":"0"}}',
        "calibration": '{"kind":"calibration","point":"m1.energy_kwh","value":"-0.3","unit":"%",'
                       '"ts_ms":1817856000000,"details":{' + who + ',"meter_serial":"EXP-0001",'
                       '"laboratory":"MASM","certificate":"CAL-1","certificate_sha256":"' + "2" * 64 + '",'
                       '"result":"pass","valid_until":"2029-08-10T16:00:00Z","comment":"line\\none"}}',
        "document": '{"kind":"document","value":"48211.5","unit":"kWh","ts_ms":1814371200000,"details":{' + who +
                    ',"document_type":"sales-statement","number":"N-1","issuer":"Grid",'
                    '"period_to":"2027-07-31T16:00:00Z","file_sha256":"' + "3" * 64 + '",'
                    '"file_name":"s.pdf","parameter":"EG_p"}}',
        "note": '{"kind":"note","ts_ms":1817866800000,"details":{' + who +
                ',"text":"Inverter 2 tripped.\\nReset at 14:20.","to":"2027-08-10T06:20:00Z"}}',
    }
    for name, data in entries.items():
        seed("entry_request", name, data)
    admin_seeds()
    print(f"seeds written under {CORPUS}:",
          ", ".join(f"{d.name} {len(list(d.iterdir()))}" for d in sorted(CORPUS.iterdir())))


if __name__ == "__main__":
    main(sys.argv[1])
