#!/usr/bin/python3
"""A registry kept on SQLite moved to PostgreSQL (docs/operations.md, "Moving a registry
from SQLite to PostgreSQL"), with the real agent, mosquitto and PostgreSQL:
1. on SQLite, with [cosign]: the agent uploads a period's records and checkpoints, then
   its signed monitoring report;
2. [database] added and the registry restarted: its log says the site moved, with how many
   writes; a second registry on an empty data_dir and the same database serves the same
   records, checkpoints with the same cosignatures (those the agent kept), keys and
   report, byte for byte, from the database alone;
3. another registry's SQLite copy of the same site does not move in on top of it: that
   site is held back (503), its log says why, and the database is unchanged.
Usage: registry_move_test.py AGENT (the registry is <build>/registry/mrv-registry)"""
import hashlib
import json
import pathlib
import shutil
import signal
import sqlite3
import sys
import tempfile
import time

from harness import check, fail
from postgres import Postgres
from report_test import collect
from upload_harness import Pki, Registry, new_token, write_private

agent = sys.argv[1]
work = tempfile.TemporaryDirectory(prefix="mrv-move-")
W = pathlib.Path(work.name)
W.chmod(0o755)  # PostgreSQL runs as `nobody` under root
SITE = "it-site"
COSIGNER = "registry.test/mrv"
write_private(W / "cosigner.key", (pathlib.Path(__file__).parents[1] / "vectors" / "ed25519-cosigner-test.key")
              .read_bytes())
COSIGN = f'[cosign]\nkey_file = "{W / "cosigner.key"}"\nname = "{COSIGNER}"\n'
pki = Pki(W / "pki")
token, _ = new_token()
reader, _ = new_token()
pg = Postgres(W).start()
DATABASE = f'[database]\nurl = "{pg.url}"\n'


def registry(name, extra):
    return Registry(agent, W / name, pki, {SITE: {"token": token}}, readers={"tpe": reader}, extra=extra)


def served(reg, path):
    st, body, _ = reg.request("GET", path, token=reader)
    if st != 200:
        fail(f"{reg.dir.name}: GET {path} answered {st}: {body[:300]!r}\n{reg.log_tail(800)}")
    return body


def everything(reg, n):
    """What a verifier reads of the site: records, checkpoints, keys, reports and each report."""
    out = {what: served(reg, f"/v1/sites/{SITE}/{path}") for what, path in (
        ("records", f"records?from_seq=1&to_seq={n}"), ("checkpoints", "checkpoints?min_size=1&max_size=99999999"),
        ("keys", "keys"), ("reports", "reports"))}
    for r in json.loads(out["reports"]):
        out[r["report_sha256"]] = served(reg, f"/v1/sites/{SITE}/reports/{r['report_sha256']}")
    return out


def with_database(reg):
    reg.stop()
    reg.config.write_text(reg.config.read_text() + DATABASE)
    reg.start()


regs = []
try:
    # --- 1. on SQLite: the period's records, checkpoints (cosigned) and the signed report
    a = registry("registry-a", COSIGN)
    regs.append(a)
    site = collect(agent)
    pki.copy_to(site.dir, pki.ca)
    write_private(site.dir / "token", (token + "\n").encode())
    site.config.write_text(site.config.read_text().replace(
        "[monitoring]", f'[upload]\nurl = "{a.url}"\nca_file = "ca.pem"\ntoken_file = "token"\n\n[monitoring]', 1))
    n = site.records()[-1][0]
    proc = site.start()
    deadline = time.time() + 60
    while a.max_seq()[1] < n and time.time() < deadline:
        time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    report, p = site.report("json")
    check("uploaded to " + a.url in p.stderr, f"the report is uploaded to the registry on SQLite: {p.stderr[-300:]}")
    before = everything(a, n)
    listed = json.loads(before["checkpoints"])
    check(a.max_seq()[1] == n and listed and all(c["cosignatures"] for c in listed)
          and before.get(hashlib.sha256(report.read_bytes()).hexdigest()) == report.read_bytes(),
          f"on SQLite: records 1..{n}, {len(listed)} checkpoints each cosigned, the report")

    # --- 2. [database] added: the site moves into the database; a second process serves it
    with_database(a)
    moved = [l for l in a.log_tail(10**6).splitlines() if f"site '{SITE}': moved into the database" in l]
    check(moved and "records" in moved[0] and "checkpoint" in moved[0] and "report" in moved[0],
          f"the log says the site moved, and what: {moved}")
    kinds = pg.psql(f"SELECT kind, count(*) FROM site_writes WHERE site = '{SITE}' GROUP BY kind ORDER BY kind")
    check(pg.psql(f"SELECT max(n) = count(*) FROM site_writes WHERE site = '{SITE}'").strip() == "t",
          f"the site's writes in the database are n 1..N without a gap ({' '.join(kinds.split())})")
    b = registry("registry-b", COSIGN + DATABASE)
    regs.append(b)
    after_a, after_b = everything(a, n), everything(b, n)
    for what in before:
        check(after_a[what] == before[what] and after_b[what] == before[what],
              f"{what}: the moved registry and a new one on an empty data_dir serve what the registry on "
              f"SQLite served, byte for byte ({len(before[what])} bytes)")
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        kept = db.execute("SELECT c.tree_size, s.line FROM cosignatures s JOIN checkpoints c "
                          "ON c.id = s.checkpoint_id ORDER BY c.tree_size").fetchall()
    by_size = {c["tree_size"]: c["cosignatures"] for c in json.loads(after_b["checkpoints"])}
    check(kept and all(by_size.get(t) == [line] for t, line in kept),
          f"the {len(kept)} cosignatures the agent kept are the ones the new process serves")

    # --- 3. another registry's SQLite copy of the site is not moved in on top of it
    a.stop()
    c = registry("registry-c", COSIGN)
    regs.append(c)
    c.stop()
    shutil.rmtree(c.dir / "regdata" / "sites")
    shutil.copytree(a.dir / "regdata" / "sites", c.dir / "regdata" / "sites",
                    ignore=shutil.ignore_patterns("*.shared"))
    writes = pg.psql("SELECT count(*) FROM site_writes")
    with_database(c)
    st, _, js = c.request("GET", f"/v1/sites/{SITE}", token=reader)
    check(st == 503 and js and js.get("error") == "unavailable", f"that site is held back: {st} {js}")
    check("the database holds writes of this site too" in c.log_tail(10**6),
          f"the log says why: {c.log_tail(600)}")
    check(pg.psql("SELECT count(*) FROM site_writes") == writes, f"the database is unchanged ({writes.strip()} writes)")
    print(f"registry move: {n} records, writes {' '.join(kinds.split())}: all checks passed")
finally:
    for r in regs:
        r.stop()
    pg.stop()
