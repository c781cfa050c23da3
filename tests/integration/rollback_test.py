#!/usr/bin/python3
"""A journal restored from an older copy is never silently continued: with
on_chain_break = "refuse" the agent will not start; with "new-segment" it declares the
break in a signed record that verify reports, and then starts again and again.

    rollback_test.py AGENT [MODE]

Modes (each names the witness of the newer head that finds the rollback):
  anchor      (default) the head anchor file beside the journal
  state-file  the anchor deleted too: the agent's state file, which still names the
              newer seq
  registry    the anchor and the state file deleted too: the registry the agent uploads
              to, which holds the newer records (held_through and its newest checkpoint)"""
import json
import pathlib
import shutil
import sqlite3
import subprocess
import sys
import tempfile

from harness import Site, check, fail, python_verifier

agent = sys.argv[1]
mode = sys.argv[2] if len(sys.argv) > 2 else "anchor"


def query(site, sql, *args):
    """Rows from the journal, on a connection closed at once: one left to the garbage
    collector would keep SQLite's shared memory of a journal file this test replaces."""
    db = sqlite3.connect(f"file:{site.journal}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def records(site):
    return query(site, "SELECT seq, hash FROM records ORDER BY seq")


def canonical(site, seq):
    """Record seq's fields (its canonical JSON), or None."""
    rows = query(site, "SELECT canonical FROM records WHERE seq = ?", seq)
    return json.loads(bytes(rows[0][0])) if rows else None


def restore(site, old, *also_delete):
    """The journal replaced by its old copy; the files named beside it deleted."""
    shutil.copy(old, site.journal)
    for suffix in ("-wal", "-shm", *also_delete):
        site.journal.with_name(site.journal.name + suffix).unlink(missing_ok=True)


def segments(site):
    return [s for s, _ in records(site) if canonical(site, s)["type"] == "chain-segment"]


def check_refused(site, anchored_head, found):
    p = site.run("run", "--config", str(site.config), "--duration", "1", check_rc=False)
    check(p.returncode == 1, f"policy refuse: the agent does not start (exit {p.returncode})")
    check(found in p.stderr and "rolled back" in p.stderr, f"it says what it found: {p.stderr.strip()[-400:]}")
    check(records(site)[-1][0] < anchored_head, "and writes nothing")
    p = site.run("status", "--config", str(site.config), check_rc=False)
    check("records" in p.stdout, "status still reads the refused journal")
    site.config.write_text(site.config.read_text().replace('"refuse"', '"new-segment"'))


def check_declared(site, old_head, anchored_head, reason, taken_back=False):
    """After the new-segment run: one chain-segment record right after the newer head,
    naming the reason; verify exits 3; two more starts continue the chain. taken_back:
    the witness held the lost records and gave them back, so no seq is missing."""
    segs = segments(site)
    check(segs == [anchored_head + 1], f"one chain segment at seq {anchored_head + 1} (found {segs})")
    seg = canonical(site, anchored_head + 1)
    check(reason in seg["reason"] and "rolled back" in seg["reason"],
          f"its reason names the witness: {seg['reason']}")
    seqs = [s for s, _ in records(site)]
    kept = anchored_head if taken_back else old_head
    check(seqs == list(range(1, kept + 1)) + list(range(anchored_head + 1, seqs[-1] + 1)),
          f"seqs 1..{kept}, then {anchored_head + 1}..{seqs[-1]}: none reused")
    for restart in (1, 2):  # a declared break must not stop later starts
        p = site.run("run", "--config", str(site.config), "--duration", "1", check_rc=False)
        check(p.returncode == 0, f"restart {restart} after the break runs (exit {p.returncode}) "
                                 f"{p.stderr.strip()[-300:] if p.returncode else ''}")
    check(segments(site) == [anchored_head + 1], "and declares nothing again")
    check(records(site)[-1][0] > seqs[-1], "records continue")
    st = json.loads(site.run("status", "--config", str(site.config), "--json").stdout)
    check(st["chain"]["intact"], "status: the chain is intact from the segment on")
    p = site.verify(site.export())
    check(p.returncode == 3, f"verify exits 3: valid with a declared break (got {p.returncode})")
    check(f"declared chain break: seq {anchored_head + 1}" in p.stdout and "rolled back" in p.stdout,
          f"the break is reported with its reason: {p.stdout.strip()}")
    p = subprocess.run(["/usr/bin/python3", python_verifier(), str(site.dir / "export.ndjson"),
                        "--public-key", str(site.public_pem)], capture_output=True, text=True)
    check(p.returncode == 3, f"the Python verifier reports the declared break too ({p.returncode})")


def run_twice_and_copy(site, run):
    """Runs, keeps a copy of the journal, runs again: (copy, its head, the newer head)."""
    run()
    old = site.dir / "old.db"
    shutil.copy(site.journal, old)
    old_head = records(site)[-1][0]
    run()
    anchored_head = records(site)[-1][0]
    check(anchored_head > old_head, f"the journal grew from seq {old_head} to {anchored_head}")
    return old, old_head, anchored_head


def anchor_mode():
    site = Site(agent, interval_ms=50, points=2, extra_journal='on_chain_break = "refuse"')
    old, old_head, anchored_head = run_twice_and_copy(
        site, lambda: site.run("run", "--config", str(site.config), "--duration", "1"))
    restore(site, old)
    check_refused(site, anchored_head, f"journal ends at seq {old_head} but its head anchor names seq {anchored_head}")
    site.run("run", "--config", str(site.config), "--duration", "1")
    check_declared(site, old_head, anchored_head, "head anchor")


def state_file_mode():
    site = Site(agent, interval_ms=50, points=2, extra_journal='on_chain_break = "refuse"')
    old, old_head, anchored_head = run_twice_and_copy(
        site, lambda: site.run("run", "--config", str(site.config), "--duration", "1"))
    state = json.loads(site.journal.with_name(site.journal.name + ".state.json").read_text())
    check(state["writer"]["last_seq"] == anchored_head, f"the state file names seq {anchored_head}")
    restore(site, old, ".head")
    check_refused(site, anchored_head, f"journal ends at seq {old_head} but its state file names seq {anchored_head}")
    site.run("run", "--config", str(site.config), "--duration", "1")
    check_declared(site, old_head, anchored_head, "state file")


def registry_mode():
    from upload_harness import SITE, Pki, Registry, UploadSite, new_token

    work = tempfile.TemporaryDirectory(prefix="mrv-rollback-")
    w = pathlib.Path(work.name)
    pki = Pki(w / "pki")
    token, _ = new_token()
    reg = Registry(agent, w / "registry", pki, {SITE: {"token": token}})
    site = UploadSite(agent, pki, reg.url, token=token, points=2, interval_ms=50,
                      extra_journal='on_chain_break = "refuse"')

    def run_and_upload():
        site.set_interval(50)
        site.run("run", "--config", str(site.config), "--duration", "1")
        site.drain(60)

    old, old_head, anchored_head = run_twice_and_copy(site, run_and_upload)
    info = reg.site_info(SITE, token)
    check(info["held_through"] == anchored_head and info["latest_checkpoint"]["tree_size"] == anchored_head,
          f"the registry holds every record through seq {anchored_head} and a checkpoint over them")
    restore(site, old, ".head", ".state.json")
    check_refused(site, anchored_head, f"journal ends at seq {old_head} but its registry names seq {anchored_head}")

    site.set_interval(50)
    site.run("run", "--config", str(site.config), "--duration", "1")
    seg = canonical(site, anchored_head + 1)
    held = reg.read_records(SITE, 1, anchored_head, token=token)
    check(seg is not None and seg["prev"] == held[-1]["hash"],
          "the chain segment's prev is the hash of the newest record the registry holds")
    check(f"seq {old_head + 1}..{anchored_head} taken back from the registry" in seg["reason"],
          f"the records the journal lost came back from the registry: {seg['reason']}")
    mine = query(site, "SELECT seq, hash FROM records WHERE seq <= ? ORDER BY seq", anchored_head)
    check([(s, bytes(h).hex()) for s, h in mine] == [(r["seq"], r["hash"]) for r in held],
          f"seqs 1..{anchored_head} are the registry's, byte for byte")
    st = site.drain(60)
    check(not st["upload"]["stopped"], f"the upload goes on, checkpoints too: {st['upload']}")
    n, top = reg.max_seq()
    check(top == records(site)[-1][0] and n == len(records(site)),
          f"the registry holds the journal: {n} records through seq {top}")
    info = reg.site_info(SITE, token)
    check(info["latest_checkpoint"]["tree_size"] == top, f"and its newest checkpoint covers them: {info}")
    site.set_interval(50)
    check_declared(site, old_head, anchored_head, "registry", taken_back=True)

    # The registry unreachable at start: the agent says so and starts (collecting matters more).
    reg.stop()
    p = site.run("run", "--config", str(site.config), "--duration", "1", check_rc=False)
    check(p.returncode == 0 and "the registry is no witness" in p.stderr,
          f"with the registry down the agent warns and runs (exit {p.returncode})")


MODES = {"anchor": anchor_mode, "state-file": state_file_mode, "registry": registry_mode}
if mode not in MODES:
    fail(f"unknown mode {mode!r}: one of {', '.join(MODES)}")
MODES[mode]()
print("1 passed, 0 failed")
