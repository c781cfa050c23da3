#!/usr/bin/python3
"""The registry's page for verifiers (docs/registry-api.md §4.1), end to end: the real agent
uploads to the real mrv-registry (cosigning, making bundles), a signed report is posted,
and a reader opens GET /v1/sites/{site}/page in headless Chromium with its token as a
browser's password. The page shows what the API says (records held, the newest cosigned
checkpoint and its note, the key, the days without readings, the report), its links
download the report and a bundle that both verifiers accept with --require-cosigned, and
what must be refused is: no or a wrong credential (with a Basic challenge), another site's
credential, bad days and until.
Usage: verifier_page_test.py AGENT (the registry is <build>/registry/mrv-registry)"""
import base64
import hashlib
import html
import http.client
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import chromium_check
from bundle_tools import expect_both
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from harness import check, fail
from upload_harness import Pki, Registry, UploadSite, new_token

agent = sys.argv[1]
work = tempfile.TemporaryDirectory(prefix="mrv-page-")
W = pathlib.Path(work.name)
ARTIFACTS = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "/tmp/mrv-page-artifacts")
NAME = "registry.example/mrv"
PAGE = "/v1/sites/it-site/page"


def key_pair(name):
    key, pub = W / f"{name}.key", W / f"{name}.pub"
    subprocess.run([agent, "keygen", "--out", str(key)], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True)
    return key, pub


def get(reg, path, authorization=None):
    """(status, headers, body bytes) of a GET, with an Authorization header as given."""
    conn = http.client.HTTPSConnection("127.0.0.1", reg.port, context=reg.context(), timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": authorization} if authorization else {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def signed_report(site):
    """A monitoring report as docs/report-format.md frames it, signed with the site's key:
    the registry checks its form and signature, not its figures."""
    doc = {"format": "mrv-report/1", "site_id": "it-site",
           "period": {"name": "page-test", "start": "2026-01-01T00:00:00Z", "end": "2026-02-01T00:00:00Z"},
           "window": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"},
           "config": {"sha256": "00" * 32, "text": ""},
           "annex": {"end_checkpoint": "", "previous_checkpoint": "", "consistency_proof": []},
           "seqs": {"first": 1, "last": 1, "records": 1}}
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    key = serialization.load_pem_private_key(pathlib.Path(site.key).read_bytes(), None)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        alg, sig = "ed25519", key.sign(canonical)
    else:
        alg, sig = "ecdsa-p256-sha256", key.sign(canonical, ec.ECDSA(hashes.SHA256()))
    doc["signature"] = {"algorithm": alg, "key_id": hashlib.sha256(der).hexdigest(),
                        "value": base64.b64encode(sig).decode()}
    return json.dumps(doc).encode()


def main():
    cosign_key, cosign_pub = key_pair("cosign")
    bundle_key, bundle_pub = key_pair("bundle")
    pki = Pki(W / "pki")
    token, _ = new_token()
    other_token, _ = new_token()
    reader, _ = new_token()
    reg = Registry(agent, W / "registry", pki, {"it-site": {"token": token}, "other-site": {"token": other_token}},
                   readers={"verifier": reader},
                   extra=f'[cosign]\nkey_file = "{cosign_key}"\nname = "{NAME}"\n[bundle]\nkey_file = "{bundle_key}"')
    site = UploadSite(agent, reg.pki, reg.url, token=token, points=5, interval_ms=20,
                      upload_extra="timeout_ms = 2000\nbackoff_min_ms = 200\nbackoff_max_ms = 1000",
                      extra_signing="checkpoint_every_records = 200")
    p = site.start()
    deadline = time.time() + 60
    while site.cursor() < 1000:
        if time.time() > deadline or p.poll() is not None:
            fail(f"1000 records were not receipted: {site.log_tail()}")
        time.sleep(0.2)
    site.stop(p)
    site.drain(60)
    report = signed_report(site)
    status, _, receipt = reg.request("POST", "/v1/sites/it-site/reports", body=report,
                                     headers={"Content-Type": "application/json"}, token=token)
    check(status == 200, f"a signed report is stored: HTTP {status} {receipt}")
    report_sha = hashlib.sha256(report).hexdigest()

    _, _, summary = reg.request("GET", "/v1/sites/it-site", token=reader)
    _, _, cps = reg.request("GET", "/v1/sites/it-site/checkpoints", token=reader)
    _, _, keys = reg.request("GET", "/v1/sites/it-site/keys", token=reader)
    cosigned = [c for c in cps if c["cosignatures"]][-1]

    # Who may see it, and how a browser is asked.
    status, headers, _ = get(reg, PAGE)
    check(status == 401 and "Basic realm=\"mrv-registry\"" in headers.get("www-authenticate", ""),
          f"no credential: 401 with a Basic challenge a browser answers: {status} {headers.get('www-authenticate')}")
    status, headers, _ = get(reg, PAGE, basic("verifier", reader + "x"))
    check(status == 401, f"a wrong password: 401 ({status})")
    status, _, _ = get(reg, PAGE, basic("verifier", ""))
    check(status == 401, f"an empty password: 401 ({status})")
    status, _, _ = get(reg, PAGE, "Basic %%%")
    check(status == 401, f"Basic credentials that are not base64: 401 ({status})")
    status, _, _ = get(reg, PAGE, basic("x", other_token))
    check(status == 403, f"another site's credential: 403 ({status})")
    for query in ("days=0", "days=367", "days=abc", "until=yesterday", "until=-5"):
        status, _, body = get(reg, f"{PAGE}?{query}", basic("verifier", reader))
        check(status == 400, f"?{query}: 400 {body[:100]!r}")

    status, headers, body = get(reg, PAGE, basic("verifier", reader))
    page = body.decode()
    check(status == 200 and headers.get("content-type") == "text/html; charset=utf-8",
          f"the reader's token as a browser's password: 200 text/html ({status}, {len(body)} bytes)")
    csp = headers.get("content-security-policy", "")
    check("default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script" not in csp,
          f"the page runs no script and loads nothing from elsewhere: {csp}")
    check(headers.get("cache-control") == "no-store", "and is not cached")
    status, _, same = get(reg, PAGE, f"Bearer {reader}")
    check(status == 200 and b"<h1>Site" in same, "the bearer token opens it as well")

    held = re.search(r'<span id="held">([0-9,]+)</span>', page)
    check(held and int(held.group(1).replace(",", "")) == summary["records"],
          f"records held as the API says: {held and held.group(1)} = {summary['records']}")
    size = re.search(r'<span id="cosigned-size">([0-9,]+)</span>', page)
    check(size and int(size.group(1).replace(",", "")) == cosigned["tree_size"],
          f"the newest cosigned checkpoint is the API's: tree size {cosigned['tree_size']}")
    note = re.search(r'<pre id="cosigned-note">(.*?)</pre>', page, re.S)
    check(note and html.unescape(note.group(1)) == cosigned["note"] + "".join(l + "\n" for l in cosigned["cosignatures"]),
          "the cosigned note on the page is the checkpoint's note and its cosignature lines, byte for byte")
    check("(this registry)" in page, "its cosignature is marked as this registry's")
    check(keys[0]["key_id"] in page and "not claimed" in page, "the site's key, not claimed to be in a TPM")
    with reg.db("it-site") as db:
        days = db.execute("SELECT count(DISTINCT ts_ms / 86400000) FROM records").fetchone()[0]
    check(f"{31 - days} days without a reading" in page, f"the {31 - days} days of the 31 shown without readings are said")
    check(report_sha in page, "the report is listed")

    # The list of sites: a reader sees every site, a site only its own; each links to its page.
    status, headers, body = get(reg, "/v1/sites", basic("verifier", reader))
    links = re.findall(r'<a href="(/v1/sites/[^"]+/page)">', body.decode())
    check(status == 200 and headers.get("content-type") == "text/html; charset=utf-8" and
          links == ["/v1/sites/it-site/page", "/v1/sites/other-site/page"] and
          "default-src 'none'" in headers.get("content-security-policy", ""),
          f"GET /v1/sites lists both sites for a reader, linked to their pages: {links}")
    status, _, body = get(reg, "/v1/sites", basic("x", other_token))
    check(status == 200 and re.findall(r'<a href="(/v1/sites/[^"]+/page)">', body.decode()) ==
          ["/v1/sites/other-site/page"], "and only its own for a site credential")
    status, _, _ = get(reg, "/v1/sites")
    check(status == 401, f"and nothing without a credential ({status})")

    # The links work with the browser's credentials.
    status, _, body = get(reg, f"/v1/sites/it-site/reports/{report_sha}", basic("verifier", reader))
    check(status == 200 and body == report, "the report link downloads the report, byte for byte")
    href = html.unescape(re.search(r'<a id="bundle-window" href="([^"]+)"', page).group(1))
    status, headers, body = get(reg, f"/v1/sites/it-site/{href}", basic("verifier", reader))
    check(status == 200 and headers.get("content-type") == "application/gzip", f"the bundle link: {status} {href}")
    bundle = W / "page-bundle.tar.gz"
    bundle.write_bytes(body)
    expect_both(site, bundle, 0, "the bundle the page links to", "--registry-key", str(cosign_pub),
                "--registry-key", str(bundle_pub), "--require-cosigned", text=f"({NAME}) at ")

    # In a browser: renders, no console error, the facts are in the DOM.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = f"https://verifier:{reader}@127.0.0.1:{reg.port}{PAGE}?days=7"
    problems, seen = chromium_check.check(url, ARTIFACTS / "verifier-page.png",
                                          ["Newest cosigned checkpoint", keys[0]["key_id"], report_sha,
                                           f"{7 - days} days without a reading", "Download bundle"],
                                          ["--ignore-certificate-errors"])
    if problems:
        fail("the page in headless Chromium: " + "; ".join(problems))
    check(True, f"the page renders in headless Chromium without console errors: {seen}")
    reg.stop()
    print("PASS")


if __name__ == "__main__":
    main()
