#!/usr/bin/env bash
# A bundle of about N records (default 1,000,000) from a real agent run, then the seconds
# and peak memory of export, `mrv-agent verify` and docs/verify_bundle.py, beside
# `openssl speed` verify on the same machine. Usage: bench/bundle_bench.sh [N] [ALGORITHM]
set -euo pipefail
n=${1:-1000000}
alg=${2:-ed25519}
repo=$(cd "$(dirname "$0")/.." && pwd)
agent=$repo/build/agent/mrv-agent
dir=$(mktemp -d /tmp/mrv-bundle-bench.XXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
points=200
{
  echo '[site]'; echo 'id = "bench-site"'
  echo '[journal]'; echo 'path = "journal.db"'; echo 'synchronous = "normal"'; echo 'quota_mb = 100000'
  echo '[signing]'; echo 'key_file = "agent.key"'
  for i in $(seq 1 $points); do
    printf '[[points]]\nid = "p%d.energy_kwh"\nunit = "kWh"\nkind = "cumulative"\nmeter_serial = "S-%d"\ncalibration_valid_until = 2099-12-31\n' "$i" "$i"
  done
  echo '[[sources.simulated]]'; echo 'name = "sim"'; echo 'interval_ms = 5'
  printf 'points = ['; for i in $(seq 1 $points); do printf '"p%d.energy_kwh",' "$i"; done; echo ']'
} > agent.toml
"$agent" keygen --out agent.key --algorithm "$alg" > /dev/null
openssl pkey -in agent.key -pubout -out pub.pem
echo "== filling a journal with about $n records ($alg)"
"$agent" run --config agent.toml > run.log 2>&1 &
pid=$!
while :; do
  sleep 2
  have=$(sqlite3 "file:journal.db?mode=ro" "SELECT coalesce(max(seq),0) FROM records" 2>/dev/null || echo 0)
  [ "$have" -ge "$n" ] && break
done
kill -TERM $pid; wait $pid || true
records=$(sqlite3 journal.db "SELECT count(*) FROM records")
echo "records: $records"
measure() {  # label, command...
  local label=$1; shift
  /usr/bin/time -f "$label: %e s wall, %U s user, peak RSS %M KiB" "$@" > /dev/null 2> time.txt || true
  tail -n 1 time.txt
}
measure "export bundle" "$agent" export --config agent.toml --from 0 --to 99999999999999 --out b.tar.gz
ls -l b.tar.gz | awk '{printf "bundle size: %.1f MiB\n", $5 / 1048576}'
measure "mrv-agent verify" "$agent" verify b.tar.gz --public-key pub.pem
measure "verify_bundle.py" /usr/bin/python3 "$repo/docs/verify_bundle.py" b.tar.gz --public-key pub.pem
case $alg in
  ed25519) openssl speed -seconds 5 ed25519 2>/dev/null | grep -E '^ *253 bits' ;;
  *) openssl speed -seconds 5 ecdsap256 2>/dev/null | grep -E '^ *256 bits' ;;
esac
echo "(openssl speed: sign/s and verify/s, one core)"
