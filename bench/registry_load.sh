#!/usr/bin/env bash
# Many sites on one registry (docs/benchmarks.md, "Many sites on one registry"): for 100
# and for 1,000 sites (each its own Ed25519 key and chain, enrolled through the admin API,
# batches signed ahead of time by bench/registry_load.cpp), a fresh mrv-registry on SQLite
# over loopback HTTPS takes (1) as many records as it can and (2) a steady RATE records/s;
# for each: records/s, the registry's CPU per record beside `openssl speed` verify in the
# same run, receipt latency p50/p99 (open loop: from when a batch was due), database bytes
# per record.
# Usage: bench/registry_load.sh [RECORDS_PER_SITE_AT_1000=300] [RATE=5000] [THREADS=32]
set -euo pipefail
per_site_1000=${1:-300}
rate=${2:-5000}
threads=${3:-32}
repo=$(cd "$(dirname "$0")/.." && pwd)
registry=$repo/build/registry/mrv-registry
load=$repo/build/bench/mrv-registry-load
dir=$(mktemp -d /tmp/mrv-registry-load.XXXX)
cd "$dir"
"$repo/scripts/make-test-certs.sh" . > /dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > admin.token
chmod 600 admin.token
ticks=$(getconf CLK_TCK)
verify=$(openssl speed -seconds 5 ed25519 2>/dev/null | awk '/^ *253 bits/ {print $NF}')
echo "openssl speed ed25519 verify, one core: $verify/s"

run() {  # sites, records per site, rate (0: as fast as it takes them), label
  local sites=$1 per_site=$2 want=$3 label=$4 port=$((20000 + RANDOM % 20000))
  rm -rf regdata
  cat > registry.toml <<CONF
listen = "127.0.0.1:$port"
data_dir = "regdata"
max_connections = 4096
[tls]
cert_file = "server.pem"
key_file = "server.key"
[[admins]]
name = "bench"
token_file = "admin.token"
CONF
  "$registry" --config registry.toml > "registry-$label.log" 2>&1 &
  local rpid=$!
  sleep 0.5
  local before after
  "$load" --url "https://127.0.0.1:$port" --ca-file ca.pem --admin-token-file admin.token --sites "$sites" \
    --records "$per_site" --batch 100 --rate "$want" --threads "$threads" --dir "$dir/journals" \
    > "load-$label.json" 2> "load-$label.log" &
  local lpid=$!
  # The registry's CPU is counted from the first post: every site enrolled, its key registered.
  while ! grep -q '^posting' "load-$label.log"; do kill -0 $lpid 2>/dev/null || break; sleep 0.05; done
  before=$(awk '{print $14 + $15}' /proc/$rpid/stat)
  wait $lpid
  after=$(awk '{print $14 + $15}' /proc/$rpid/stat)
  local rss bytes
  [ -s "load-$label.json" ] || { cat "load-$label.log"; kill $rpid; exit 1; }
  rss=$(grep VmHWM /proc/$rpid/status | awk '{print $2}')
  kill -TERM $rpid; wait $rpid || true
  bytes=$(du -cb regdata/sites/*.db | tail -1 | cut -f1)
  /usr/bin/python3 - "$label" "load-$label.json" "$before" "$after" "$ticks" "$verify" "$bytes" "$rss" <<'PY'
import json, sys
label, path, before, after, ticks, verify, size, rss = sys.argv[1:]
r = json.load(open(path))
cpu = (int(after) - int(before)) / int(ticks)   # the posts only
per_cpu = r["records"] / cpu if cpu else 0
print(f"{label}: {r['sites']} sites, {r['records']} records in {r['seconds']:.1f} s: {r['records_per_s']:.0f} records/s"
      f" (target {r['target_rate'] or 'max'}); registry CPU {cpu:.1f} s = {per_cpu:.0f} records per CPU-second"
      f" = {100 * per_cpu / float(verify):.1f}% of one core's verify rate; receipt latency p50 {r['latency_ms']['p50']:.0f} ms,"
      f" p99 {r['latency_ms']['p99']:.0f} ms, max {r['latency_ms']['max']:.0f} ms; {int(size) / r['records']:.0f} database bytes"
      f" per record; peak RSS {int(rss) / 1024:.0f} MiB; enrolment {r['enroll_s']:.1f} s; errors {r['errors']}")
PY
}

per_site_100=$((per_site_1000 * 10))
run 100 "$per_site_100" 0 "100-max"
run 100 "$per_site_100" "$rate" "100-steady"
run 1000 "$per_site_1000" 0 "1000-max"
run 1000 "$per_site_1000" "$rate" "1000-steady"
echo "(logs and JSON in $dir)"
