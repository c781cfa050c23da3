#!/usr/bin/python3
"""What an admin action costs on each audit log engine (docs/benchmarks.md, "Admin actions
and the audit log"): a real mrv-registry on SQLite (data_dir/audit.db), on PostgreSQL
(a local server, fsync on), and on PostgreSQL with a synchronous standby; N actions
(suspend and resume of one site in turn) sent one after another over one keep-alive
HTTPS connection. Prints p50/p99/max of the action's round trip, actions/s, and for
PostgreSQL the registry's idle CPU over 10 s (the follower's query each second).
Usage: bench/audit_bench.py AGENT [N]   (AGENT: build/agent/mrv-agent)"""
import hashlib
import http.client
import json
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "integration"))
from postgres import Postgres  # noqa: E402
from upload_harness import Pki, Registry, new_token  # noqa: E402

agent = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
work = pathlib.Path(tempfile.mkdtemp(prefix="mrv-audit-bench-"))
work.chmod(0o755)
pki = Pki(work / "pki")
admin_token, admin_hash = new_token()
ADMIN = f'[[admins]]\nname = "ops"\ntoken_sha256 = "{admin_hash}"\n'
ticks = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


def run(label, database=""):
    reg = Registry(agent, work / label, pki, {}, extra=ADMIN + database)
    conn = http.client.HTTPSConnection("127.0.0.1", reg.port, context=reg.context(None), timeout=60)
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}

    def act(body):
        conn.request("POST", "/v1/admin/actions", json.dumps(body), headers)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise RuntimeError(f"{label}: {r.status} {data[:200]!r}")

    site = f"pv-{label}"  # the PostgreSQL runs share one log: a site of their own each
    act({"action": "add_site", "site": site, "token_sha256": hashlib.sha256(site.encode()).hexdigest()})
    times = []
    t0 = time.perf_counter()
    for i in range(n):
        start = time.perf_counter()
        act({"action": "suspend" if i % 2 == 0 else "resume", "site": site})
        times.append(time.perf_counter() - start)
    total = time.perf_counter() - t0
    times.sort()
    idle = ""
    if database:
        before = cpu_s(reg.proc.pid)
        time.sleep(10)
        idle = f", idle CPU {100 * (cpu_s(reg.proc.pid) - before) / 10:.2f} %"
    conn.close()
    reg.stop()
    print(f"{label}: {n} actions, p50 {1000 * times[n // 2]:.2f} ms, p99 {1000 * times[n * 99 // 100]:.2f} ms, "
          f"max {1000 * times[-1]:.2f} ms, {n / total:.0f} actions/s{idle}", flush=True)


run("sqlite")
primary = Postgres(work).start()
run("postgres", f'[database]\nurl = "{primary.url}"\n')
standby = Postgres(work, primary=primary).start()
primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
primary.psql("SELECT pg_reload_conf()")
while primary.psql("SELECT sync_state FROM pg_stat_replication") != "sync":
    time.sleep(0.1)
run("postgres-sync-standby", f'[database]\nurl = "postgresql://mrv@127.0.0.1:{primary.port},127.0.0.1:{standby.port}'
    f'/mrv?target_session_attrs=read-write"\n')
standby.stop()
primary.stop()
