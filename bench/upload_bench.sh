#!/usr/bin/env bash
# Drains a backlog of about N records (default 10,000,000: a week of a 1,000-point site at
# one-minute resolution) from a real agent into a local mrv-registry over loopback HTTPS,
# and reports records/s end to end, the registry's CPU per record beside the single-core
# `openssl speed` verify rate, and gzip bytes on the wire per record.
# Usage: bench/upload_bench.sh [N] [ALGORITHM] [KEEP_DIR]
set -euo pipefail
n=${1:-10000000}
alg=${2:-ed25519}
repo=$(cd "$(dirname "$0")/.." && pwd)
agent=$repo/build/agent/mrv-agent
registry=$repo/build/registry/mrv-registry
dir=${3:-$(mktemp -d /tmp/mrv-upload-bench.XXXX)}
mkdir -p "$dir"
cd "$dir"
port=$((20000 + RANDOM % 20000))
points=1000
write_config() {  # $1: interval of the simulated meters; $2: "upload" to add [upload]
  {
    echo '[site]'; echo 'id = "bench-site"'
    echo '[journal]'; echo 'path = "journal.db"'; echo 'synchronous = "normal"'; echo 'quota_mb = 100000'
    echo '[signing]'; echo 'key_file = "agent.key"'
    if [ "${2:-}" = upload ]; then
      echo '[upload]'; echo "url = \"https://127.0.0.1:$port\""; echo 'ca_file = "ca.pem"'; echo 'token_file = "token"'
    fi
    for i in $(seq 1 $points); do printf '[[points]]\nid = "p%d.energy_kwh"\nunit = "kWh"\nkind = "cumulative"\n' "$i"; done
    echo '[[sources.simulated]]'; echo 'name = "sim"'; echo "interval_ms = $1"
    printf 'points = ['; for i in $(seq 1 $points); do printf '"p%d.energy_kwh",' "$i"; done; echo ']'
  } > agent.toml
}
if [ ! -f journal.db ]; then
  write_config 25
  "$agent" keygen --out agent.key --algorithm "$alg" > /dev/null
  echo "== filling a journal with about $n records ($alg)"
  "$agent" run --config agent.toml > fill.log 2>&1 &
  pid=$!
  while :; do
    sleep 5
    have=$(sqlite3 "file:journal.db?mode=ro" "SELECT coalesce(max(seq),0) FROM records" 2>/dev/null || echo 0)
    [ "$have" -ge "$n" ] && break
  done
  kill -TERM $pid; wait $pid || true
fi
sqlite3 journal.db "DELETE FROM cursors"  # a rerun uploads everything again, to a new registry
records=$(sqlite3 journal.db "SELECT max(seq) FROM records")
echo "backlog: $records records"

"$repo/scripts/make-test-certs.sh" . > /dev/null
head -c 24 /dev/urandom | base64 > token
cat > registry.toml <<CONF
listen = "127.0.0.1:$port"
data_dir = "regdata"
[tls]
cert_file = "server.pem"
key_file = "server.key"
[[sites]]
id = "bench-site"
token_sha256 = "$(tr -d '\n' < token | sha256sum | cut -d' ' -f1)"
CONF
rm -rf regdata
"$registry" --config registry.toml > registry.log 2>&1 &
rpid=$!
trap 'kill $rpid 2>/dev/null || true' EXIT
sleep 0.5
write_config 3600000 upload  # one reading an hour: the agent drains the backlog
start=$(date +%s.%N)
"$agent" run --config agent.toml > upload.log 2>&1 &
apid=$!
last=0
while :; do
  sleep 5
  held=$(sqlite3 "file:regdata/sites/bench-site.db?mode=ro" "SELECT coalesce(max(seq),0) FROM records" 2>/dev/null || echo 0)
  now=$(date +%s.%N)
  printf '  %s s: %s records held\n' "$(printf '%.0f' "$(echo "$now - $start" | bc)")" "$held"
  [ "$held" -ge "$records" ] && break
done
end=$(date +%s.%N)
sleep 3  # the state file is written every 2 s
sent=$("$agent" status --config agent.toml --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["upload"].get("bytes_sent", 0))')
ticks=$(getconf CLK_TCK)
read -r rutime rstime < <(awk '{print $14, $15}' /proc/$rpid/stat)
read -r autime astime < <(awk '{print $14, $15}' /proc/$apid/stat)
kill -TERM $apid; wait $apid || true
rss=$(grep VmHWM /proc/$rpid/status | awk '{print $2}')
kill -TERM $rpid; wait $rpid || true
wall=$(echo "$end - $start" | bc)
rcpu=$(echo "scale=2; ($rutime + $rstime) / $ticks" | bc)
acpu=$(echo "scale=2; ($autime + $astime) / $ticks" | bc)
echo "drained $records records in $(printf '%.1f' "$wall") s: $(echo "$records / $wall" | bc) records/s end to end"
echo "registry CPU $rcpu s ($(echo "$records / $rcpu" | bc) records per CPU-second), peak RSS $rss KiB; agent CPU $acpu s"
echo "on the wire: $sent HTTP bytes, $(echo "scale=1; $sent / $records" | bc) bytes per record (gzip)"
case $alg in
  ed25519) openssl speed -seconds 5 ed25519 2>/dev/null | grep -E '^ *253 bits' ;;
  *) openssl speed -seconds 5 ecdsap256 2>/dev/null | grep -E '^ *256 bits' ;;
esac
echo "(openssl speed: sign/s and verify/s, one core)"
