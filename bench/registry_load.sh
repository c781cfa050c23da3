#!/usr/bin/env bash
# Many sites on one registry (docs/benchmarks.md, "Many sites on one registry"): for 100
# and for 1,000 sites (each its own Ed25519 key and chain, enrolled through the admin API,
# batches signed ahead of time by bench/registry_load.cpp), fresh registries over loopback
# HTTPS take (1) as many records as they can and (2) a steady RATE records/s; for each:
# records/s, the registries' CPU per record beside `openssl speed` verify in the same run
# (per core: `openssl speed -multi <cores>` over the cores, since the registries use them all
# and one core here verifies a third slower than the other; measured just before and just
# after each load, against their mean),
# the share of registry CPU that checking signatures took (each registry logs it when it
# stops) and the rate it checked them at beside openssl speed's: the first is what the
# registry spends beyond verification, the second how much slower verification runs in
# the loaded machine than in openssl speed alone;
# receipt latency p50/p99 (open loop: from when a batch was due), database bytes per record;
# for a steady load also what idle gaps between bursts of checks cost openssl's own check
# on this machine (bench/verify_gaps.cpp).
# Two engines:
#   sqlite:   one mrv-registry on SQLite;
#   postgres: a throwaway PostgreSQL 15 (tests/integration/postgres.py) and two mrv-registry
#             processes on it (same [database] url, own data_dir); each site's batches go to
#             the two in turn (ROUTE=batch, the worst case: each write first puts in force
#             the other process's), or each site keeps to one of them (ROUTE=site, as a
#             balancer routing by connection does; a process puts in force only the sites it
#             serves). Registry CPU is both processes' sum; PostgreSQL's CPU (the
#             postmaster and its backends) is reported beside it; database bytes are
#             pg_total_relation_size('site_writes'), the processes' local copies beside.
# Usage: [ENGINE=sqlite|postgres|both (both)] [BUILD=build dir ($repo/build)] [SITES="100 1000"]
#        [LOADS="max steady"] [ROUTE="batch site" (batch)] bench/registry_load.sh [RECORDS_PER_SITE_AT_1000=300] [RATE=5000] [THREADS=32]
set -euo pipefail
per_site_1000=${1:-300}
rate=${2:-5000}
threads=${3:-32}
engine=${ENGINE:-both}
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$repo/build}
registry=$build/registry/mrv-registry
load=$build/bench/mrv-registry-load
gaps_bench=$build/bench/mrv-verify-gaps
pgbin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/mrv-registry-load.XXXX)
chmod 755 "$dir"
cd "$dir"
"$repo/scripts/make-test-certs.sh" . > /dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > admin.token
chmod 600 admin.token
ticks=$(getconf CLK_TCK)
cores=$(nproc)
verify_rate() { openssl speed -multi "$cores" -seconds 3 ed25519 2>/dev/null | awk -v n="$cores" '/^ *253 bits/ {print $NF / n}'; }

pg_pid="" pg_url=""
cleanup() {
  [ -n "$pg_pid" ] && kill -TERM "$pg_pid" 2>/dev/null && wait "$pg_pid" 2>/dev/null
  return 0
}
trap cleanup EXIT

start_postgres() {  # a throwaway server, stopped (fast shutdown) when this script ends
  /usr/bin/python3 - "$repo/tests/integration" "$dir" > pg.out 2>&1 <<'PY' &
import signal, sys, time
sys.path.insert(0, sys.argv[1])
from postgres import Postgres
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
pg = Postgres(sys.argv[2]).start()
try:
    print(pg.url, pg.proc.pid, flush=True)
    while True:
        time.sleep(3600)
finally:
    pg.stop()
PY
  pg_pid=$!
  while ! [ -s pg.out ]; do kill -0 $pg_pid || { cat pg.out; exit 1; }; sleep 0.1; done
  read -r pg_url postmaster < pg.out
  case "$pg_url" in postgresql://*) ;; *) cat pg.out; exit 1 ;; esac
  echo "PostgreSQL 15 at $pg_url (postmaster $postmaster)"
}

pg_cpu_ticks() {  # the postmaster, its live children, and the children it has reaped
  local total=0 pid stat
  for pid in $postmaster $(ps -o pid= --ppid "$postmaster"); do
    stat=$(cat /proc/$pid/stat 2>/dev/null) || continue
    total=$((total + $(echo "${stat##*) }" | awk '{print $12 + $13}')))  # utime + stime
  done
  stat=$(cat /proc/$postmaster/stat)
  echo $((total + $(echo "${stat##*) }" | awk '{print $14 + $15}')))  # cutime + cstime
}

registry_config() {  # port, data_dir, database url or ""
  cat <<CONF
listen = "127.0.0.1:$1"
data_dir = "$2"
max_connections = 4096
[tls]
cert_file = "server.pem"
key_file = "server.key"
[[admins]]
name = "bench"
token_file = "admin.token"
CONF
  [ -z "$3" ] || printf '[database]\nurl = "%s"\n' "$3"
}

wait_listening() {  # pid, port
  for _ in $(seq 300); do
    kill -0 "$1" 2>/dev/null || return 1
    (: < "/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

run() {  # engine, sites, records per site, rate (0: as fast as it takes them), label, route
  local engine=$1 sites=$2 per_site=$3 want=$4 label=$1-$5 route=$6 db_url="" n=1
  local pids=() ports=() urls=() verify_before verify_after gaps="{}"
  # A steady load leaves the cores idle between batches: what such gaps cost openssl's own
  # check here (bursts of 64, idle for the mean time between batches).
  [ "$want" = 0 ] || gaps=$("$gaps_bench" --burst 64 --gap-ms "$(awk -v r="$want" 'BEGIN {print 100000 / r}')" --rounds 6)
  verify_before=$(verify_rate)
  if [ "$engine" = postgres ]; then
    n=2
    label+=-$route
    local db="bench_${label//-/_}"
    "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 "$pg_url" -c "CREATE DATABASE $db" > /dev/null
    db_url=${pg_url%/*}/$db
  fi
  for i in $(seq $n); do
    local port=$((20000 + RANDOM % 20000))
    rm -rf "regdata-$label-$i"
    registry_config "$port" "regdata-$label-$i" "$db_url" > "registry-$label-$i.toml"
    "$registry" --config "registry-$label-$i.toml" > "registry-$label-$i.log" 2>&1 &
    pids+=($!) ports+=("$port") urls+=("https://127.0.0.1:$port")
    # One at a time: the first creates the tables.
    wait_listening "${pids[-1]}" "$port" || { echo "registry $i did not start:"; cat "registry-$label-$i.log"; exit 1; }
  done
  local url_list
  url_list=$(IFS=,; echo "${urls[*]}")
  "$load" --url "$url_list" --ca-file ca.pem --admin-token-file admin.token --sites "$sites" \
    --records "$per_site" --batch 100 --rate "$want" --threads "$threads" --dir "$dir/journals" --prefix "$label" \
    --route "$route" > "load-$label.json" 2> "load-$label.log" &
  local lpid=$!
  # The registries' CPU is counted from the first post: every site enrolled, its key registered.
  while ! grep -qs '^posting' "load-$label.log"; do kill -0 $lpid 2>/dev/null || break; sleep 0.05; done
  local before=0 after=0 pg_before=0 pg_after=0 rss="" bytes local_bytes=0 p
  for p in "${pids[@]}"; do before=$((before + $(awk '{print $14 + $15}' /proc/$p/stat))); done
  [ "$engine" = postgres ] && pg_before=$(pg_cpu_ticks)
  wait $lpid || true
  for p in "${pids[@]}"; do after=$((after + $(awk '{print $14 + $15}' /proc/$p/stat))); done
  [ "$engine" = postgres ] && pg_after=$(pg_cpu_ticks)
  [ -s "load-$label.json" ] || { cat "load-$label.log"; kill "${pids[@]}"; exit 1; }
  for p in "${pids[@]}"; do rss+="${rss:++}$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' /proc/$p/status)"; done
  kill -TERM "${pids[@]}"; for p in "${pids[@]}"; do wait "$p" || true; done
  verify_after=$(verify_rate)
  for i in $(seq $n); do local_bytes=$((local_bytes + $(du -sb "regdata-$label-$i/sites" 2>/dev/null | cut -f1 || echo 0))); done
  if [ "$engine" = postgres ]; then
    bytes=$("$pgbin/psql" -X -At "$db_url" -c "SELECT pg_total_relation_size('site_writes')")
  else
    bytes=$(du -cb regdata-$label-1/sites/*.db | tail -1 | cut -f1)
  fi
  grep -E '^\S+ (ERROR|WARN|WARNING|CRIT)' "registry-$label-"*.log | head -5 || true
  echo "load average at the end of $label: $(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/python3 - "$label" "load-$label.json" "$before" "$after" "$ticks" "$verify_before $verify_after" "$bytes" "$rss" \
    "$n" "$pg_before" "$pg_after" "$local_bytes" "$gaps" "registry-$label-"*.log <<'PY'
import json, re, sys
label, path, before, after, ticks, verify, size, rss, n, pg_before, pg_after, local, gaps, *logs = sys.argv[1:]
gaps = json.loads(gaps)
r = json.load(open(path))
# Each registry's last line: the signatures it checked and the CPU time that took. The
# share is shown only when every registry logged it (one that died has no such line).
checked = checked_cpu = stopped = 0
for log in logs:
    for m in re.finditer(r"checked (\d+) signatures in ([\d.]+) s of CPU time", open(log).read()):
        checked += int(m[1]); checked_cpu += float(m[2]); stopped += 1
verify_runs = [float(v) for v in verify.split()]
verify = sum(verify_runs) / len(verify_runs)
recs = r["records"] or 1
cpu = (int(after) - int(before)) / int(ticks)   # the posts only
pg_cpu = (int(pg_after) - int(pg_before)) / int(ticks)
per_cpu = r["records"] / cpu if cpu else 0
line = (f"{label}: {r['sites']} sites, {n} registr{'y' if n == '1' else 'ies'}, {r['records']} records in {r['seconds']:.1f} s:"
        f" {r['records_per_s']:.0f} records/s (target {r['target_rate'] or 'max'}); registry CPU {cpu:.1f} s ="
        f" {1e6 * cpu / recs:.0f} µs/record = {per_cpu:.0f} records per CPU-second ="
        f" {100 * per_cpu / verify:.1f}% of one core's verify rate"
        f" ({verify:.0f}/s per core: openssl speed {' before, '.join(f'{v:.0f}' for v in verify_runs)} after);")
if checked_cpu and cpu and stopped == len(logs):
    line += (f" checking signatures took {100 * checked_cpu / cpu:.1f}% of registry CPU, at"
             f" {checked / checked_cpu:.0f}/s per CPU-second = {100 * checked / checked_cpu / verify:.1f}% of openssl speed's;")
if gaps:
    line += (f" idle {gaps['gap_ms']:.0f} ms between bursts of {gaps['burst']}, openssl's own check ran at"
             f" {100 * gaps['ratio']:.1f}% of its back-to-back rate (mrv-verify-gaps);")
if n != "1":
    line += f" PostgreSQL CPU {pg_cpu:.1f} s = {1e6 * pg_cpu / recs:.0f} µs/record;"
line += (f" receipt latency p50 {r['latency_ms']['p50']:.0f} ms, p99 {r['latency_ms']['p99']:.0f} ms,"
         f" max {r['latency_ms']['max']:.0f} ms; {int(size) / recs:.0f} database bytes per record")
if n != "1":
    line += f" (site_writes; local copies {int(local) / recs:.0f} per record, all processes)"
line += (f"; peak RSS {rss} MiB; enrolment {r['enroll_s']:.1f} s; errors {r['errors']}"
         f" {r.get('failures') or ''}")
print(line, flush=True)
PY
}

per_site_100=$((per_site_1000 * 10))
engines=$engine
[ "$engine" = both ] && engines="sqlite postgres"
for e in $engines; do
  [ "$e" = postgres ] && start_postgres
  for sites in ${SITES:-100 1000}; do
    per_site=$per_site_1000
    [ "$sites" = 100 ] && per_site=$per_site_100
    for l in ${LOADS:-max steady}; do
      want=0
      [ "$l" = steady ] && want=$rate
      if [ "$e" = postgres ]; then
        for route in ${ROUTE:-batch}; do run "$e" "$sites" "$per_site" "$want" "$sites-$l" "$route"; done
      else
        run "$e" "$sites" "$per_site" "$want" "$sites-$l" batch
      fi
    done
  done
done
echo "(logs and JSON in $dir)"
