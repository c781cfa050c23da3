#!/usr/bin/python3
"""The registry's database with a streaming standby, as docs/operations.md ("A standby
and backups") sets it up: one URL naming both servers with target_session_attrs=read-write,
synchronous replication. Checked on the real mrv-registry and PostgreSQL servers:
- every admin action acknowledged is on the standby at once;
- the primary killed (-9): the next action is refused 503 (nothing half-done), and once
  the standby is promoted the same registry process, not restarted, goes on there with
  the chain intact;
- a second registry process on the same database: an action through one is in force on
  the other within seconds (each follows the log), and the two never take one seq;
- the database restored under the running registry: its next action is refused, not
  written after a gap;
- a restore from a pg_dump backup (pg_restore): the registry starts on it with the roster and the
  audit log of the backup's time, the triggers restored with the table;
- --check-config reads the database (its schema, nothing written): a newer schema, or a
  server that does not answer, is exit 2, and a newer schema stops the registry's start.
Usage: registry_standby_test.py AGENT (the registry is <build>/registry/mrv-registry)"""
import hashlib
import json
import pathlib
import signal
import subprocess
import sys
import tempfile
import threading
import time

from harness import check, fail
from postgres import Postgres
from upload_harness import Pki, Registry, new_token, registry_binary, write_private

agent = sys.argv[1]
work = tempfile.TemporaryDirectory(prefix="mrv-standby-")
W = pathlib.Path(work.name)
W.chmod(0o755)  # the servers run as `nobody` under root
pki = Pki(W / "pki")
admin_token, admin_hash = new_token()
write_private(W / "admin-token", (admin_token + "\n").encode())
BINARY = registry_binary(agent)

primary = Postgres(W).start()
standby = Postgres(W, primary=primary).start()
# Synchronous: a commit returns once the standby has it on disk too.
primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
primary.psql("SELECT pg_reload_conf()")
for _ in range(100):
    if primary.psql("SELECT sync_state FROM pg_stat_replication") == "sync":
        break
    time.sleep(0.1)
else:
    fail("the standby did not become synchronous")


def database(*servers):
    hosts = ",".join(f"127.0.0.1:{s.port}" for s in servers)
    return (f'[database]\nurl = "postgresql://mrv@{hosts}/mrv?target_session_attrs=read-write&connect_timeout=2"\n')


ADMIN = f'[[admins]]\nname = "ops"\ntoken_sha256 = "{admin_hash}"\n'
reg = Registry(agent, W / "registry", pki, {}, extra=ADMIN + database(primary, standby))


def enroll(registry, *args, expect=0):
    p = subprocess.run([BINARY, "enroll", "--url", registry.url, "--ca-file", str(pki.ca), "--token-file",
                        str(W / "admin-token"), *args], capture_output=True, text=True, timeout=60)
    if p.returncode != expect:
        fail(f"mrv-registry enroll {' '.join(args)} exited {p.returncode}, not {expect}: {p.stderr}{p.stdout}")
    return p


def audit_lines(registry):
    st, data, _ = registry.request("GET", "/v1/audit", token=admin_token)
    check(st == 200, f"GET /v1/audit answers 200 ({st})")
    return data.decode().splitlines()


def check_chain(lines, verbs, what):
    prev = "0" * 64
    for i, line in enumerate(lines, 1):
        e = json.loads(line)
        if e["seq"] != i or e["prev"] != prev:
            fail(f"{what}: audit entry {i} does not link to the one before: {line[:200]}")
        prev = hashlib.sha256(line.encode()).hexdigest()
    got = [json.loads(l)["action"]["action"] + ":" + json.loads(l)["action"].get("site", json.loads(l)["action"].get("reader", ""))
           for l in lines]
    check(got == verbs, f"{what}: the audit log holds {got}")


def wait_status(registry, token, status, seconds=5):
    """Whether the registry answers a reader's read of pv-1 with `status` within `seconds`."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if registry.request("GET", "/v1/sites/pv-1", token=token)[0] == status:
            return True
        time.sleep(0.1)
    return False


def states(registry):
    roster = json.loads(enroll(registry, "roster").stdout)
    return ({s["site"]: s["state"] for s in roster["sites"]}, {r["reader"]: r["state"] for r in roster["readers"]})


# --- every acknowledged action is on the standby as soon as it is acknowledged
enroll(reg, "add-site", "pv-1", "--token-sha256", hashlib.sha256(b"pv-1 token").hexdigest())
enroll(reg, "add-reader", "tpe-1", "--token-sha256", hashlib.sha256(b"tpe-1 token").hexdigest())
enroll(reg, "suspend", "--site", "pv-1")
check(standby.psql("SELECT count(*) FROM audit") == "3", "the three actions are on the standby when acknowledged")
backup = pathlib.Path(primary.base) / "mrv.dump"
primary.dump(backup)  # the whole database: tables, the triggers and their function

# --- the primary lost: refused while no server takes writes, then on the promoted standby
primary.stop(signal.SIGKILL)
p = enroll(reg, "resume", "--site", "pv-1", expect=1)
check("503" in p.stderr and "unavailable" in p.stderr, f"with no primary, an action is refused 503: {p.stderr.strip()[:300]}")
check(states(reg)[0] == {"pv-1": "suspended"}, "the refused action is not in force")
standby.promote()
pid = reg.proc.pid
out = enroll(reg, "resume", "--site", "pv-1")
check(json.loads(out.stdout)["seq"] == 4, f"on the promoted standby the action is entry 4: {out.stdout.strip()[:200]}")
check(reg.proc.poll() is None and reg.proc.pid == pid, "the same registry process, not restarted, went on")
check_chain(audit_lines(reg), ["add_site:pv-1", "add_reader:tpe-1", "suspend:pv-1", "resume:pv-1"],
            "after the failover")
# --- a database that hangs holds up admin actions only: uploads and reads go on
standby.freeze()
stuck = {}
waiter = threading.Thread(target=lambda: stuck.update(p=enroll(reg, "suspend", "--reader", "tpe-1")))
waiter.start()
time.sleep(1)
t0 = time.time()
st = reg.request("GET", "/v1/sites/pv-1", token="tpe-1 token", timeout=10)[0]
check(st == 200 and time.time() - t0 < 2 and waiter.is_alive(),
      f"while an admin action waits on a hung database, a reader is answered at once ({st}, {time.time() - t0:.2f} s)")
standby.freeze(False)
waiter.join(60)
check(not waiter.is_alive() and json.loads(stuck["p"].stdout)["seq"] == 5, "the action completes once the database answers")
enroll(reg, "resume", "--reader", "tpe-1")
st, _, js = reg.request("GET", "/v1/audit/head", token=admin_token)
check(st == 404 and js["error"] == "not_found", "without a [cosign] key there is no cosigned head of the log")

# --- a second registry process on the same database: each catches up at its next action
second = Registry(agent, W / "registry-b", pki, {}, extra=ADMIN + database(primary, standby))
check(states(second) == ({"pv-1": "active"}, {"tpe-1": "active"}), "the second registry starts with the log's roster")
enroll(second, "add-reader", "tpe-2", "--token-sha256", hashlib.sha256(b"tpe-2 token").hexdigest())
check(wait_status(reg, "tpe-2 token", 200), "a reader enrolled through the second is let in by the first within seconds")
out = enroll(reg, "suspend", "--reader", "tpe-2")
check(json.loads(out.stdout)["seq"] == 8, "the first registry appends entry 8 after the second's 7")
check(wait_status(second, "tpe-2 token", 403), "suspended through the first, the reader is refused by the second within seconds")
enroll(second, "suspend", "--reader", "tpe-2", expect=1)  # already suspended, through the other process
check(states(reg) == states(second) == ({"pv-1": "active"}, {"tpe-1": "active", "tpe-2": "suspended"}),
      "both processes hold the same roster")
check("audit seq 7 (add_reader) put in force from the log" in reg.log_tail(20000),
      "the first registry logs the entry it took from the log")
check_chain(audit_lines(second),
            ["add_site:pv-1", "add_reader:tpe-1", "suspend:pv-1", "resume:pv-1", "suspend:tpe-1", "resume:tpe-1",
             "add_reader:tpe-2", "suspend:tpe-2"],
            "two processes, one log")
second.stop()

# --- the database restored from the backup under the running registry: it does not write
# entry 9 after entry 3 (a gap that would stop its next start), it says to restart
standby.psql("DROP DATABASE mrv WITH (FORCE)", database="postgres")
standby.psql("CREATE DATABASE mrv", database="postgres")
standby.restore(backup)
p = enroll(reg, "suspend", "--site", "pv-1", expect=1)
check("audit seq 8 is no longer the entry this registry knows" in p.stderr and "restart the registry" in p.stderr,
      f"an action on a log restored under the registry is refused: {p.stderr.strip()[-240:]}")
check(standby.psql("SELECT max(seq) FROM audit") == "3", "and nothing is written after the backup's entry 3")

# --- a restore from the backup made after entry 3: the roster of that time
restored = Postgres(W).start()
restored.restore(backup)
reg.stop()
reg.config.write_text(reg.config.read_text().replace(database(primary, standby), database(restored)))
reg.start()
check(states(reg) == ({"pv-1": "suspended"}, {"tpe-1": "active"}),
      "restored from the backup, the registry holds the roster of the backup's time")
check(len(audit_lines(reg)) == 3, "and the audit log of that time")
out = enroll(reg, "resume", "--site", "pv-1")
check(json.loads(out.stdout)["seq"] == 4, "the next action follows the backup's last entry")
try:
    restored.psql("DELETE FROM audit WHERE seq = 1")
    fail("the restored audit table took a DELETE")
except RuntimeError as e:
    check("append-only" in str(e), "the restored table keeps its append-only triggers")

reg.stop()

# --- check-config reads the database too (nothing written); a newer schema stops both
def check_config():
    return subprocess.run([BINARY, "--config", str(reg.config), "--check-config"], capture_output=True, text=True,
                          timeout=60)


p = check_config()
check(p.returncode == 0 and f"postgresql 127.0.0.1:{restored.port}/mrv: audit schema v1 of 1" in p.stderr,
      f"check-config names the database and its schema: {p.stderr.strip()[-200:]}")
restored.psql("UPDATE mrv_schema SET version = 99 WHERE component = 'audit'")
p = check_config()
check(p.returncode == 2 and "audit schema version 99 is newer than this registry knows (1)" in p.stderr,
      f"check-config refuses a schema a newer registry wrote: {p.stderr.strip()[-200:]}")
start = subprocess.run([BINARY, "--config", str(reg.config)], capture_output=True, text=True, timeout=60)
check(start.returncode == 1 and "audit schema version 99 is newer" in start.stderr, "and the registry does not start on it")
restored.stop()
p = check_config()
check(p.returncode == 2 and f"postgresql 127.0.0.1:{restored.port}/mrv: cannot connect" in p.stderr and
      "mrv@" not in p.stderr.split("cannot connect")[0], f"check-config says the database does not answer: {p.stderr.strip()[-200:]}")
for server in (standby, primary):
    server.stop()
print("registry standby: all checks passed")
