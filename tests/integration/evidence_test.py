#!/usr/bin/python3
"""The verifier's evidence pack (docs/verification.md §7) with the real binary: a PV site's
export register read off the display at both ends of 2026-Q3 (manual readings), its
meter's calibration with the certificate's file, and the utility's invoice with its file,
entered with `mrv-agent record`; the files kept in the site's documents folder
([monitoring] documents_dir, the certificate in a subfolder). Then `mrv-agent evidence`.

usage: evidence_test.py AGENT MODE
  pack      the pack holds the summary page, the signed report and its renderings, the
            bundle, the keys and both documents; `sha256sum -c SHA256SUMS` passes; both
            verifiers pass the bundle; the page names the key id, the checkpoint and each
            document's SHA-256, escapes the hostile title, renders in headless Chromium
            without console errors and prints to PDF (kept in <build>/artifacts/evidence)
  refusals  a certificate missing from the folder, an invoice changed by one byte, no
            documents_dir, an existing folder without --force: exit 1 with a message
            naming what is wrong, and no folder (nor a temporary one) left behind
"""
import hashlib
import html
import json
import pathlib
import shutil
import subprocess
import sys
import tarfile
import textwrap

from harness import Site, bundle_verifier, check, fail

HERE = pathlib.Path(__file__).parent
sys.path.insert(0, str(HERE))
import chromium_check  # noqa: E402  (the same folder)

agent, mode = sys.argv[1], sys.argv[2]
ARTIFACTS = pathlib.Path(agent).resolve().parents[1] / "artifacts" / "evidence"
HOSTILE_TITLE = "Ulaanbaatar PV <script>alert(1)</script> & sons"
CERT_NUMBER, INVOICE_NUMBER = "CAL-2026-0815", "NPG-2026-Q3"


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


class PvSite(Site):
    def __init__(self):
        super().__init__(agent, points=0)
        self.docs = self.dir / "documents"
        (self.docs / "certificates").mkdir(parents=True)
        self.cert = self.docs / "certificates" / "CAL-2026-0815.pdf"
        self.cert.write_bytes(b"%PDF-1.4 MASM calibration certificate CAL-2026-0815 for EXP-1\n")
        self.invoice = self.docs / "invoice 2026-Q3.pdf"
        self.invoice.write_bytes(b"%PDF-1.4 National Power Grid invoice NPG-2026-Q3: 249 MWh\n")
        # Named by records no parameter sums: a photo of a manual reading's display (found
        # by its hash) and the monitoring structure's diagram (a document of type "other").
        self.photo = self.docs / "photos" / "IMG_0815.jpg"
        self.photo.parent.mkdir(parents=True, exist_ok=True)
        self.photo.write_bytes(b"\xff\xd8\xff\xe0 display of EXP-1 reading 125000 kWh")
        self.diagram = self.docs / "monitoring-structure.pdf"
        self.diagram.write_bytes(b"%PDF-1.4 monitoring structure: EXP-1 at the grid connection point\n")
        (self.docs / "unrelated.txt").write_text("a file no record names\n")
        self.monitoring = textwrap.dedent(f"""\
            [[points]]
            id = "pv1.export_kwh"
            unit = "kWh"
            kind = "cumulative"
            interval_ms = 86400000
            meter_serial = "EXP-1"
            accuracy_class = "0.5S"
            [monitoring]
            methodology = "MN_AM003"
            version = "1.0"
            reference_number = "MN001"
            title = {json.dumps(HOSTILE_TITLE)}
            documents_dir = "documents"
            [[monitoring.parameters]]
            id = "EG_p"
            description = "Electricity delivered to the national grid"
            unit = "MWh"
            aggregation = "counter"
            monitoring_point = "(1)"
            point = "pv1.export_kwh"
            [[monitoring.parameters]]
            id = "EF_grid"
            unit = "tCO2/MWh"
            aggregation = "fixed"
            value = 0.797
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
            id = "ER_p"
            expression = "RE_p"
            unit = "tCO2"
            [[monitoring.cross_checks]]
            id = "EG_vs_invoice"
            description = "EG_p against the utility's invoice"
            value = "EG_p"
            reference = "EG_invoice"
            tolerance_percent = 2
            [[monitoring.periods]]
            name = "2026-Q3"
            start = 2026-07-01T00:00:00Z
            end = 2026-10-01T00:00:00Z
            """)
        self.config.write_text(self.config.read_text() + self.monitoring)
        by = ["--config", str(self.config), "--by", "B. Bat-Erdene"]
        self.run("record", "calibration", *by, "--point", "pv1.export_kwh", "--serial", "EXP-1", "--at", "2026-06-15",
                 "--laboratory", "MASM calibration laboratory", "--certificate-number", CERT_NUMBER,
                 "--certificate", str(self.cert), "--error-percent", "0.1", "--result", "pass",
                 "--next-due", "2027-06-14")
        for at, value in (("2026-07-01T00:00:00Z", "1000"), ("2026-10-01T00:00:00Z", "251000")):
            self.run("record", "manual-reading", *by, "--point", "pv1.export_kwh", "--at", at, "--value", value)
        self.run("record", "manual-reading", *by, "--point", "pv1.export_kwh", "--at", "2026-08-15T00:00:00Z",
                 "--value", "125000", "--photo", str(self.photo))
        self.run("record", "document", *by, "--type", "other", "--number", "DIAG-1", "--issuer", "the site",
                 "--from", "2026-07-01", "--to", "2026-10-01", "--quantity", "0", "--unit", "1",
                 "--file", str(self.diagram))
        self.run("record", "document", *by, "--type", "invoice", "--number", INVOICE_NUMBER, "--issuer",
                 "National Power Grid", "--from", "2026-07-01", "--to", "2026-09-30", "--quantity", "249",
                 "--unit", "MWh", "--file", str(self.invoice), "--parameter", "EG_invoice")

    def evidence(self, out, *extra):
        return self.run("evidence", "--config", str(self.config), "--period", "2026-Q3", "--out", str(out), *extra,
                        check_rc=False, timeout=300)

    def leftovers(self, out):
        return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(out.name))


def pack():
    site = PvSite()
    out = site.dir / "pack"
    p = site.evidence(out)
    check(p.returncode == 0, f"mrv-agent evidence writes the pack: {p.stderr}")
    check("evidence: 4 document(s) found and checked" in p.stderr and "evidence: the verifier bundle" in p.stderr,
          "progress lines on stderr: " + p.stderr.strip().replace("\n", " | "))
    check(site.leftovers(out) == ["pack"], f"no temporary folder is left: {site.leftovers(out)}")
    files = sorted(str(f.relative_to(out)) for f in out.rglob("*") if f.is_file())
    keys = [f for f in files if f.startswith("keys/")]
    expected = sorted(["SHA256SUMS", "bundle.tar.gz", "documents/CAL-2026-0815.pdf", "documents/invoice 2026-Q3.pdf",
                       "documents/IMG_0815.jpg", "documents/monitoring-structure.pdf",
                       "index.html", "report.csv", "report.html", "report.json", "report.xlsx", *keys])
    check(files == expected and len(keys) == 1, f"the pack holds {files}")
    check(sha256(out / "documents/CAL-2026-0815.pdf") == sha256(site.cert) and
          sha256(out / "documents/invoice 2026-Q3.pdf") == sha256(site.invoice) and
          sha256(out / "documents/IMG_0815.jpg") == sha256(site.photo) and
          sha256(out / "documents/monitoring-structure.pdf") == sha256(site.diagram),
          "the documents are copied as they are: the certificate, the invoice, the manual reading's photo, the diagram")

    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True, timeout=60)
    check(sums.returncode == 0 and sums.stdout.count(": OK") == len(files) - 1,
          f"sha256sum -c SHA256SUMS: every file but SHA256SUMS is listed and OK: {sums.stdout}{sums.stderr}")
    listed = sorted(line.split("  ", 1)[1] for line in (out / "SHA256SUMS").read_text().splitlines())
    check(listed == sorted(f for f in files if f != "SHA256SUMS"), "SHA256SUMS names every other file")

    report = json.loads((out / "report.json").read_text())
    check(report["emission_reductions"]["credited_tco2"] == 199, "250 MWh at 0.797 tCO2/MWh: 199 tCO2 credited")
    with tarfile.open(out / "bundle.tar.gz") as tar:
        carried = tar.extractfile("report.json").read().decode()
    check(carried == (out / "report.json").read_text(), "the bundle carries the pack's signed report")
    v = site.run("verify", str(out / "bundle.tar.gz"), "--public-key", str(site.public_pem), check_rc=False)
    check(v.returncode == 0 and "every parameter and result matches" in v.stdout,
          f"mrv-agent verify passes the pack's bundle and recomputes the report: {v.stdout}{v.stderr}")
    py = subprocess.run([sys.executable, bundle_verifier(), str(out / "bundle.tar.gz"), "--public-key",
                         str(out / keys[0])], capture_output=True, text=True, timeout=120)
    check(py.returncode == 0, f"verify_bundle.py passes it with the key of the pack: {py.stdout}{py.stderr}")
    check((out / keys[0]).read_text() == site.public_pem.read_text(), "the pack's key is the site's public key")

    page = (out / "index.html").read_text()
    key_id = report["signature"]["key_id"]
    check(key_id in page and keys[0] in page, "the summary page names the key id and its PEM file")
    checkpoint = report["annex"]["end_checkpoint"]
    check(html.escape(checkpoint, quote=True).replace("&#x27;", "&#39;") in page or
          all(html.escape(line) in page for line in checkpoint.splitlines() if line),
          "the summary page shows the end checkpoint")
    for doc in (site.cert, site.invoice, site.photo, site.diagram):
        check(sha256(doc) in page, f"the summary page gives {doc.name}'s SHA-256")
    check(CERT_NUMBER in page and INVOICE_NUMBER in page, "and the certificate's and invoice's numbers")
    check("<script>" not in page and "Ulaanbaatar PV &lt;script&gt;alert(1)&lt;/script&gt; &amp; sons" in page,
          "the hostile title is escaped")
    check("sha256sum -c SHA256SUMS" in page and "mrv-agent verify bundle.tar.gz --public-key " + keys[0] in page
          and "verify_bundle.py bundle.tar.gz" in page, "it says how to re-verify")
    check("EG_vs_invoice" in page and ">pass<" in page, "it shows the cross-check passing")
    check("Not uploaded" in page, "it says the data was not uploaded (no [upload])")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems, summary = chromium_check.check(out / "index.html", ARTIFACTS / "index.png",
                                             [key_id, sha256(site.invoice), "How to re-verify"])
    if problems:
        fail("the summary page in headless Chromium: " + "; ".join(problems))
    check(True, "the summary page renders in headless Chromium without console errors: " + summary)
    pdf = ARTIFACTS / "index.pdf"
    pdf.unlink(missing_ok=True)
    server = chromium_check.serve(out)
    try:
        chromium_check.chromium(f"http://127.0.0.1:{server.server_address[1]}/index.html",
                                [f"--print-to-pdf={pdf}", "--no-pdf-header-footer"])
    finally:
        server.shutdown()
        server.server_close()
    check(pdf.is_file() and pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 10000,
          f"it prints to PDF: {pdf} ({pdf.stat().st_size if pdf.is_file() else 0} bytes)")
    shutil.copytree(out, ARTIFACTS / "pack", dirs_exist_ok=True)


def refused(site, out, what, *needles, extra=()):
    p = site.evidence(out, *extra)
    text = p.stderr + p.stdout
    check(p.returncode == 1, f"{what}: exit 1 (got {p.returncode}): {text.strip()}")
    for n in needles:
        check(n in text, f"{what}: the message names {n!r}")
    return p


def refusals():
    site = PvSite()
    out = site.dir / "pack"
    cert_hash, invoice_hash = sha256(site.cert), sha256(site.invoice)

    aside = site.dir / "cert-aside.pdf"
    site.cert.rename(aside)
    refused(site, out, "a certificate missing from the folder", "calibration seq", CERT_NUMBER, cert_hash,
            str(site.docs))
    check(site.leftovers(out) == [], f"no pack and no temporary folder: {site.leftovers(out)}")
    aside.rename(site.cert)

    original = site.invoice.read_bytes()
    site.invoice.write_bytes(original[:-2] + bytes([original[-2] ^ 1]) + original[-1:])
    refused(site, out, "an invoice changed by one byte", "document seq", str(site.invoice),
            f"expected SHA-256 {invoice_hash}", f"actual {sha256(site.invoice)}")
    check(site.leftovers(out) == [], "no pack and no temporary folder")
    site.invoice.write_bytes(original)

    text = site.config.read_text()
    site.config.write_text(text.replace('documents_dir = "documents"\n', ""))
    refused(site, out, "no documents_dir while records name files", "set [monitoring] documents_dir")
    check(site.leftovers(out) == [], "no pack and no temporary folder")
    site.config.write_text(text)

    out.mkdir()
    (out / "mine.txt").write_text("someone's file\n")
    refused(site, out, "an existing non-empty folder without --force", "not empty", "--force")
    check((out / "mine.txt").is_file() and site.leftovers(out) == ["pack"], "the folder is left as it was")
    p = site.evidence(out, "--force")
    check(p.returncode == 0 and not (out / "mine.txt").exists() and (out / "index.html").is_file()
          and site.leftovers(out) == ["pack"], f"with --force it is replaced: {p.stderr.strip()}")
    empty = site.dir / "empty"
    empty.mkdir()
    p = site.evidence(empty)
    check(p.returncode == 0 and (empty / "SHA256SUMS").is_file(), f"an empty folder is filled: {p.stderr.strip()}")
    p = site.run("evidence", "--config", str(site.config), "--out", str(site.dir / "x"), check_rc=False)
    check(p.returncode == 2 and "--period" in p.stderr, "a missing --period is a usage error (exit 2)")
    p = site.run("evidence", "--config", str(site.config), "--period", "2099-Q9", "--out", str(site.dir / "y"),
                 check_rc=False)
    check(p.returncode in (1, 2) and "2099-Q9" in p.stderr and not (site.dir / "y").exists(),
          f"an unknown period is refused: {p.stderr.strip()}")


{"pack": pack, "refusals": refusals}[mode]()
print("ok: all")
