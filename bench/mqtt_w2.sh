#!/bin/sh
# The agent on the shared harness's W2 "mqtt-ingest" workload (200,000 QoS 1 JSON
# messages over 100 topics), next to the peers it measures. The harness is copied to a
# writable folder first (shared/ is read-only).
#   bench/mqtt_w2.sh [full|normal] [record|checkpoint] [--runs N]   (from the repository
#   root, after a build; the second argument is the signing mode)
set -eu
sync="${1:-full}"; shift || true
mode="${1:-record}"; shift || true
repo="$(cd "$(dirname "$0")/.." && pwd)"
work=/tmp/mrv-w2
rm -rf "$work" && mkdir -p "$work"
cp -r "$repo/../shared/bench" "$work/bench" && chmod -R u+w "$work/bench"
"$repo/build/agent/mrv-agent" keygen --out "$work/agent.key" >/dev/null
{
  printf '[site]\nid = "w2"\n[journal]\npath = "state/journal.db"\nsynchronous = "%s"\n' "$sync"
  printf '[signing]\nkey_file = "agent.key"\nmode = "%s"\n' "$mode"
  k=0; while [ $k -lt 100 ]; do
    printf '[[points]]\nid = "meter%d.energy"\nunit = "kWh"\nkind = "cumulative"\n' $k; k=$((k+1)); done
  printf '[[sources.mqtt]]\nname = "w2"\nurl = "tcp://127.0.0.1:18830"\n'
  printf '[[sources.mqtt.subscriptions]]\ntopic = "site/{meter}/energy"\npoint = "{meter}.energy"\n'
  printf 'format = "json"\ntimestamp = "/ts"\n'
} > "$work/w2.toml"
cat > "$work/run-agent.sh" <<EOS
#!/bin/sh
rm -rf $work/state
exec $repo/build/agent/mrv-agent run --config $work/w2.toml
EOS
chmod +x "$work/run-agent.sh"
PEER_CMD="$work/run-agent.sh" \
PEER_COUNT_CMD="sqlite3 'file:$work/state/journal.db?mode=ro' 'select count(*) from records' 2>/dev/null || echo 0" \
  "$work/bench/run-w2.sh" custom "$@"
