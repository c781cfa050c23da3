#!/usr/bin/python3
"""Two registry processes as front ends of one site, on one PostgreSQL database: each has
its own data_dir, both the same [database] url; a TCP proxy sends each new connection of
the real agent to the other one. Checked on the real servers:
1. alternating: consecutive batches land on both (counted by the proxy), neither refuses
   one; both serve byte-identical records (the agent's export, seq 1..N once) and
   checkpoints with the same cosignatures; the database's 'records' writes hold each
   seq exactly once, the site's writes are numbered 1..M without a gap;
2. one registry killed (-9) mid-stream: the other takes the uploads, the first restarted
   on its data_dir catches up; the same checks;
3. PostgreSQL killed mid-stream: uploads are refused 503 and nothing is accepted, reads
   are answered from each process's copy, then after its restart the agent delivers the
   rest; the same checks;
4. a third registry started on an empty data_dir keeps no copy of the site until it is
   asked (a process follows a site when it serves it), then serves the same from its
   first request, from the database alone;
5. the database restored from a pg_dump taken before more uploads (docs/operations.md):
   a process that ran on refuses the site's writes, naming the restore; with data_dir/sites
   moved away the processes rebuild from the restored database, the agent sees where the
   registry holds through and sends the rest again from its journal; the same checks.
Usage: registry_front_ends_test.py AGENT (the registry is <build>/registry/mrv-registry)"""
import json
import pathlib
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import time

from alternating_proxy import AlternatingProxy
from harness import check, fail
from postgres import Postgres
from upload_harness import SITE, Pki, Registry, UploadSite, free_port, new_token, write_private

agent = sys.argv[1]
work = tempfile.TemporaryDirectory(prefix="mrv-front-ends-")
W = pathlib.Path(work.name)
W.chmod(0o755)  # PostgreSQL runs as `nobody` under root
T0 = time.time()
COSIGNER = "registry.test/mrv"
write_private(W / "cosigner.key", (pathlib.Path(__file__).parents[1] / "vectors" / "ed25519-cosigner-test.key")
              .read_bytes())
pki = Pki(W / "pki")
token, _ = new_token()
reader, _ = new_token()
pg = Postgres(W).start()
EXTRA = (f'[database]\nurl = "{pg.url}?connect_timeout=2"\n'
         f'[cosign]\nkey_file = "{W / "cosigner.key"}"\nname = "{COSIGNER}"\n')


def registry(name):
    return Registry(agent, W / name, pki, {SITE: {"token": token}}, readers={"tpe": reader}, extra=EXTRA)


def wait_for(predicate, seconds, what, proc=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            fail(f"the agent exited {proc.returncode} while waiting for {what}: {site.log_tail()}")
        if predicate():
            return
        time.sleep(0.1)
    fail(f"not within {seconds} s: {what}\nagent: {site.log_tail(800)}\n"
         + "".join(f"registry {r.dir.name}: {r.log_tail(800)}\n" for r in regs))


def journal_lines():
    """The journal's record lines, seq 1..N with no gap, parsed."""
    lines = [json.loads(l) for l in site.lines(1, 10**12)]
    check(lines and [l["seq"] for l in lines] == list(range(1, len(lines) + 1)),
          f"the agent's journal holds seq 1..{len(lines)} without a gap")
    return lines


def served(reg, path):
    st, body, _ = reg.request("GET", path, token=reader, timeout=60)
    if st != 200:
        fail(f"{reg.dir.name}: GET {path} answered {st}, not 200: {body[:300]!r}\n{reg.log_tail(800)}")
    return body


def refusals(reg):
    """The registry's refused writes, as its log names them (status codes)."""
    return re.findall(r"registry: (?:POST|PUT) /v1/sites/\S+ from \S+: (\d{3})", reg.log_tail(10**8))


def database_seqs():
    """The seqs of the site's 'records' writes in the database, in write order, and the
    writes' numbers n (all kinds)."""
    ns = [int(n) for n in pg.psql(f"SELECT n FROM site_writes WHERE site = '{SITE}' ORDER BY n").split()]
    bodies = pg.psql(f"SELECT encode(body, 'hex') FROM site_writes WHERE site = '{SITE}' AND kind = 'records' "
                     "ORDER BY n").split()
    seqs = [json.loads(l)["seq"] for b in bodies for l in bytes.fromhex(b).decode().splitlines() if l.strip()]
    return ns, seqs, len(bodies)


def check_same(label, readers, cosigned_once=True):
    """Every registry in `readers` serves the journal's records, byte-identical to the
    others', and the same checkpoints and cosignatures; the database holds each seq once.
    cosigned_once: every cosignature the agent kept is the one served (not after a
    restore, when the registry cosigns again what it lost)."""
    journal = journal_lines()
    n = len(journal)
    bodies = [served(r, f"/v1/sites/{SITE}/records?from_seq=1&to_seq={n}") for r in readers]
    names = [r.dir.name for r in readers]
    check(all(b == bodies[0] for b in bodies), f"{label}: {', '.join(names)} serve byte-identical records "
          f"({', '.join(f'{m}: {len(b)} bytes' for m, b in zip(names, bodies))})")
    got = [json.loads(l) for l in bodies[0].decode().splitlines() if l.strip()]
    first_bad = next((j["seq"] for j, g in zip(journal, got) if j != g), None)
    check(len(got) == n and first_bad is None,
          f"{label}: they serve the journal's {n} records, seq 1..{n} once ({len(got)} served, "
          f"first difference at seq {first_bad})")
    export = site.export().read_bytes().splitlines(keepends=True)[1:]  # line 1: the export's header
    check(bodies[0] == b"".join(export), f"{label}: byte for byte the record lines of the agent's export "
                                         f"({len(export)} lines)")
    ns, seqs, writes = database_seqs()
    check(ns == list(range(1, len(ns) + 1)), f"{label}: the site's writes in the database are n 1..{len(ns)}, "
                                             f"in order without a gap (seen {ns[:3]}..{ns[-3:]})")
    dup = len(seqs) - len(set(seqs))
    check(seqs == list(range(1, n + 1)),
          f"{label}: the database's {writes} 'records' writes hold seq 1..{n} each once, in order "
          f"({len(seqs)} lines, {dup} repeated, first {seqs[:2]}, last {seqs[-2:]})")
    cps = [served(r, f"/v1/sites/{SITE}/checkpoints?min_size=1&max_size=99999999") for r in readers]
    check(all(c == cps[0] for c in cps), f"{label}: {', '.join(names)} serve byte-identical checkpoints")
    listed = json.loads(cps[0])
    with sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True) as db:
        kept = db.execute("SELECT c.tree_size, s.line FROM cosignatures s JOIN checkpoints c "
                          "ON c.id = s.checkpoint_id ORDER BY c.tree_size").fetchall()
    check(len(listed) >= 2 and all(c["cosignatures"] and c["cosignatures"][0].startswith(f"\u2014 {COSIGNER} ")
                                   for c in listed),
          f"{label}: {len(listed)} checkpoints, each with the registry's cosignature")
    by_size = {c["tree_size"]: c["cosignatures"] for c in listed}
    differ = [t for t, line in kept if by_size.get(t) != [line]]
    if cosigned_once:
        check(kept and not differ, f"{label}: the {len(kept)} cosignatures the agent got (from either process) "
                                   f"are the ones served (differ at tree sizes {differ[:3]})")
    print(f"info: {label}: {n} records in {writes} 'records' writes; proxy (connections, uploads answered): "
          + ", ".join(f"{r.dir.name} {proxy.counts().get(r.port)}" for r in readers if r.port in proxy.counts())
          + f"; {proxy.failovers} failovers; {time.time() - T0:.0f} s")
    return n


def upload_through(what, seconds=40):
    """Restarts the agent without new readings and waits until all is receipted."""
    site.drain(seconds, f" ({what})")


def requests_to(reg):
    return proxy.counts()[reg.port][1]


regs = []
proxy = None
try:
    a, b = registry("registry-a"), registry("registry-b")
    regs += [a, b]
    proxy = AlternatingProxy([a.port, b.port])
    site = UploadSite(agent, pki, f"https://127.0.0.1:{free_port()}", token=token, points=20, interval_ms=20,
                      upload_extra="batch_max_records = 50\ntimeout_ms = 2000\nbackoff_min_ms = 100\n"
                                   "backoff_max_ms = 500",
                      extra_signing="checkpoint_every_records = 500")

    # --- 1. a backlog uploaded through the proxy in batches of 50, alternating
    site.run("run", "--config", str(site.config), "--duration", "3")  # the registry's address answers nothing
    check(site.last_seq() >= 2000 and site.cursor() == 0, f"a backlog of {site.last_seq()} records, none uploaded")
    site.set_url(proxy.url)
    upload_through("alternating")
    counts = proxy.counts()
    check(all(c >= 3 and r >= 3 for c, r in counts.values()),
          f"the proxy sent both connections and uploads (port: (connections, uploads answered) {counts})")
    for r in (a, b):
        check(not refusals(r), f"{r.dir.name} refused none of its {requests_to(r)} uploads (refused: {refusals(r)})")
    n1 = check_same("alternating", [a, b])

    # --- 2. registry A killed (-9) mid-stream, then restarted on its data_dir
    site.set_interval(100)  # 200 readings a second, a batch of 50 every 0.25 s
    p = site.start()
    base = site.cursor()
    wait_for(lambda: site.cursor() >= base + 300, 20, "uploads going on", p)
    a.stop(signal.SIGKILL)
    killed_at, b_before = site.cursor(), requests_to(b)
    wait_for(lambda: site.cursor() >= killed_at + 400, 20, "uploads through B alone", p)
    check(requests_to(b) > b_before and proxy.failovers > 0,
          f"with A down B took {requests_to(b) - b_before} uploads, {proxy.failovers} connections failed over")
    a.start()
    a_before = requests_to(a)
    wait_for(lambda: requests_to(a) >= a_before + 3, 20, "uploads to the restarted A", p)
    site.stop(p)
    upload_through("after A was killed")
    n2 = check_same("A killed and restarted", [a, b])
    check(n2 > n1, f"{n2 - n1} more records in scenario 2")

    # --- 3. PostgreSQL killed mid-stream, then started on its data directory
    site.set_interval(100)
    p = site.start()
    base = site.cursor()
    wait_for(lambda: site.cursor() >= base + 300, 20, "uploads going on", p)
    told_503 = site.log_tail(10**8).count("HTTP 503")
    pg.stop(signal.SIGKILL)
    wait_for(lambda: site.log_tail(10**8).count("HTTP 503") > told_503, 20, "the agent told 503", p)
    held = site.cursor()
    time.sleep(1.5)  # a window in which nothing may be accepted
    said_503 = (refusals(a) + refusals(b)).count("503")
    check(site.cursor() == held and said_503 and a.proc.poll() is None and b.proc.poll() is None,
          f"without the database nothing is receipted (cursor {held} -> {site.cursor()}), the registries "
          f"answered 503 ({said_503} times so far) and run on")
    # A read catches its copy up first; without the database it answers from the copy.
    for r in (a, b):
        st, body, _ = r.request("GET", f"/v1/sites/{SITE}", token=reader, timeout=30)
        check(st == 200 and r.proc.poll() is None,
              f"without the database {r.dir.name} answers a read from its copy ({st} {body[:120]!r})")
    pg.start()
    wait_for(lambda: site.cursor() >= held + 300, 30, "uploads after the database came back", p)
    site.stop(p)
    upload_through("after the database restart")
    n3 = check_same("database killed and restarted", [a, b])
    check(n3 > n2, f"{n3 - n2} more records in scenario 3")

    # --- 4. a third registry on an empty data_dir, from the database alone
    c = registry("registry-c")
    regs.append(c)
    time.sleep(1)  # five polls of the sites' heads: C notes them and puts nothing in force
    check(c.max_seq()[0] == 0, f"a process that serves no request of the site keeps no copy of its records "
                                f"({c.max_seq()[0]} in {c.dir.name}'s copy)")
    n4 = check_same("a new front end on an empty data_dir", [c, a, b])  # C's first request
    check(c.max_seq() == b.max_seq() and c.max_seq()[0] > 0,
          f"C's first read put the site's records in force there ((count, last seq) {c.max_seq()}, B {b.max_seq()})")

    # --- 5. the database restored from a backup taken before more uploads
    backup = pathlib.Path(pg.base) / "mrv.dump"  # written by the server's user
    pg.dump(backup)
    writes_then = database_seqs()[0][-1]
    site.set_interval(100)
    p = site.start()
    wait_for(lambda: site.cursor() >= n4 + 300, 20, "uploads after the backup", p)
    site.stop(p)
    upload_through("after the backup")
    for r in (b, c):
        r.stop()
    pg.psql("DROP DATABASE mrv WITH (FORCE)", database="postgres")
    pg.psql("CREATE DATABASE mrv", database="postgres")
    pg.restore(backup)
    st, body, _ = a.request("PUT", f"/v1/sites/{SITE}/keys", site.public_pem.read_bytes(),
                            {"Content-Type": "application/x-pem-file"}, token=token)
    check(st == 500 and b"the newest in this process's copy, is not in the database" in body,
          f"a process that ran on through the restore refuses the site's writes, naming why ({st} {body[:200]!r})")
    for r in (a, b):
        r.stop()
        shutil.rmtree(r.dir / "regdata" / "sites")
        r.start()
    check(database_seqs()[0][-1] == writes_then, f"the restored database ends at write {writes_then}")
    told = site.log_tail(10**8).count("the registry holds only through seq")
    upload_through("after the restore")
    check(site.log_tail(10**8).count("the registry holds only through seq") > told,
          "the agent saw that the registry holds less than it sent, and sent again from there")
    n5 = check_same("database restored from a backup", [a, b], cosigned_once=False)
    check(n5 > n4, f"{n5 - n4} records after the backup reached the restored registry again")
finally:
    if proxy:
        proxy.close()
    for r in regs:
        r.stop(signal.SIGKILL)
    pg.stop()
print("registry front ends: all checks passed")
