#!/bin/sh
# The agent on the shared harness's W1 "modbus-poll" workload (20 unit ids, registers 0-9:
# a u32 energy counter and four f32, every interval), next to the peers it measures.
#   bench/modbus_w1.sh [harness options: --interval S --duration S --sweep A,B,C --runs N]
set -eu
repo="$(cd "$(dirname "$0")/.." && pwd)"
work=/tmp/mrv-w1
rm -rf "$work" && mkdir -p "$work"
cp -r "$repo/../shared/bench" "$work/bench" && chmod -R u+w "$work/bench"
"$repo/build/agent/mrv-agent" keygen --out "$work/agent.key" >/dev/null
cat > "$work/run-agent.sh" <<EOS
#!/bin/sh
# \$1 interval in ms, \$2 port: write the agent's config for them, then run it.
rm -rf $work/state
{
  printf '[site]\nid = "w1"\n[journal]\npath = "state/journal.db"\n[signing]\nkey_file = "agent.key"\n'
  u=1; while [ \$u -le 20 ]; do
    printf '[[points]]\nid = "u%d.energy_wh"\nunit = "Wh"\nkind = "cumulative"\n' \$u
    for q in power_w voltage_v current_a freq_hz; do printf '[[points]]\nid = "u%d.%s"\nunit = "x"\n' \$u \$q; done
    u=\$((u+1)); done
  printf '[[sources.modbus]]\nname = "sim"\nhost = "127.0.0.1"\nport = %d\ntimeout_ms = 1000\n' \$2
  u=1; while [ \$u -le 20 ]; do
    printf '[[sources.modbus.devices]]\nname = "u%d"\nunit = %d\ninterval_ms = %d\n' \$u \$u \$1
    printf '[[sources.modbus.devices.registers]]\npoint = "u%d.energy_wh"\naddress = 0\ntype = "u32"\n' \$u
    a=2; for q in power_w voltage_v current_a freq_hz; do
      printf '[[sources.modbus.devices.registers]]\npoint = "u%d.%s"\naddress = %d\ntype = "f32"\n' \$u \$q \$a
      a=\$((a+2)); done
    u=\$((u+1)); done
} > $work/w1.toml
exec $repo/build/agent/mrv-agent run --config $work/w1.toml
EOS
chmod +x "$work/run-agent.sh"
PEER_CMD="$work/run-agent.sh {interval_ms} {port}" \
PEER_COUNT_CMD="sqlite3 'file:$work/state/journal.db?mode=ro' \"select count(*) from records where json_extract(canonical, '\$.quality') = 'good'\" 2>/dev/null || echo 0" \
  "$work/bench/run-w1.sh" custom "$@"
