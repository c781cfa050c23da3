#!/bin/sh
# The agent on the shared harness's W2 "mqtt-ingest" workload (200,000 QoS 1 JSON
# messages over 100 topics), next to the peers it measures. The harness is copied to a
# writable folder first (shared/ is read-only).
#   bench/mqtt_w2.sh [full|normal] [record|checkpoint] [--runs N]   (from the repository
#   root, after a build; the second argument is the signing mode)
#   bench/mqtt_w2.sh peer:NAME [--runs N]   a peer (mosquitto_sub, collectd, py-sqlite)
#     on the same copy of the harness, so variants below apply to it too
# Variants (environment): W2_METERS=1000 publishes over 1,000 topics instead of 100;
# W2_BURST_MS=10 makes the publisher pause 10 ms after each round of one message per
# topic (bursts). They patch the copy with bench/w2_variants.patch. MRV_AGENT=path runs
# another build of the agent (an older commit, to compare on the same day).
set -eu
sync="${1:-full}"; [ $# -gt 0 ] && shift
repo="$(cd "$(dirname "$0")/.." && pwd)"
work=/tmp/mrv-w2
meters="${W2_METERS:-100}"
agent="${MRV_AGENT:-$repo/build/agent/mrv-agent}"
rm -rf "$work" && mkdir -p "$work"
cp -r "$repo/../shared/bench" "$work/bench" && chmod -R u+w "$work/bench"
if [ "$meters" != 100 ] || [ -n "${W2_BURST_MS:-}" ]; then
  patch -s -d "$work/bench" -p1 < "$repo/bench/w2_variants.patch"
  W2_PUB_ARGS="--meters $meters${W2_BURST_MS:+ --burst-ms $W2_BURST_MS}"
  export W2_PUB_ARGS
fi
case "$sync" in peer:*) exec "$work/bench/run-w2.sh" "${sync#peer:}" "$@" ;; esac
mode="${1:-record}"; [ $# -gt 0 ] && shift
"$agent" keygen --out "$work/agent.key" >/dev/null
{
  printf '[site]\nid = "w2"\n[journal]\npath = "state/journal.db"\nsynchronous = "%s"\n' "$sync"
  printf '[signing]\nkey_file = "agent.key"\nmode = "%s"\n' "$mode"
  k=0; while [ $k -lt "$meters" ]; do
    printf '[[points]]\nid = "meter%d.energy"\nunit = "kWh"\nkind = "cumulative"\n' $k; k=$((k+1)); done
  printf '[[sources.mqtt]]\nname = "w2"\nurl = "tcp://127.0.0.1:18830"\n'
  printf '[[sources.mqtt.subscriptions]]\ntopic = "site/{meter}/energy"\npoint = "{meter}.energy"\n'
  printf 'format = "json"\ntimestamp = "/ts"\n'
} > "$work/w2.toml"
cat > "$work/run-agent.sh" <<EOS
#!/bin/sh
rm -rf $work/state
exec $agent run --config $work/w2.toml
EOS
chmod +x "$work/run-agent.sh"
PEER_CMD="$work/run-agent.sh" \
PEER_COUNT_CMD="sqlite3 'file:$work/state/journal.db?mode=ro' 'select count(*) from records' 2>/dev/null || echo 0" \
  "$work/bench/run-w2.sh" custom "$@"
