#!/usr/bin/env bash
# Quick start, first command: installs what is missing, builds, runs the agent on the
# demo site (a built-in simulated meter, embedded SQLite, a generated demo key), then
# shows the signed readings it stored and verifies them.
#   MRV_DEMO_SECONDS=N  how long the agent runs (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${MRV_DEMO_SECONDS:-10}"

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target mrv-agent
agent=build/agent/mrv-agent
config=configs/demo.toml

mkdir -p configs/keys
if [ ! -f configs/keys/demo-agent.key ]; then
  echo "== generating a demo signing key (configs/keys/demo-agent.key)"
  "$agent" keygen --out configs/keys/demo-agent.key
fi

echo "== checking $config"
"$agent" check-config --config "$config"
echo "== running the agent for ${seconds}s (Ctrl-C stops it early)"
"$agent" run --config "$config" --duration "$seconds" || true
echo "== status"
"$agent" status --config "$config"
export_file=configs/state/demo-export.ndjson
"$agent" export --config "$config" --from 2026-01-01 --to 2100-01-01 --format ndjson --out "$export_file"
echo "== the last two signed records (canonical bytes, hash, signature) of $export_file"
tail -n 2 "$export_file"
echo "== verifying the export against the demo public key"
openssl pkey -in configs/keys/demo-agent.key -pubout -out configs/keys/demo-agent.pub
"$agent" verify "$export_file" --public-key configs/keys/demo-agent.pub
bundle=configs/state/demo-bundle.tar.gz
echo "== a verifier bundle (records, checkpoints, Merkle proofs) and its independent check"
"$agent" export --config "$config" --from 2026-01-01 --to 2100-01-01 --out "$bundle"
/usr/bin/python3 docs/verify_bundle.py "$bundle" --public-key configs/keys/demo-agent.pub
