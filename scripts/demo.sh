#!/usr/bin/env bash
# Quick start, first command: installs what is missing, builds, starts a local registry
# (loopback HTTPS, throwaway certificates), runs the agent on the demo site (a built-in
# simulated meter, embedded SQLite, a generated demo key) uploading to it, then shows the
# signed readings, verifies them, and verifies a bundle downloaded from the registry.
#   MRV_DEMO_SECONDS=N  how long the agent runs (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${MRV_DEMO_SECONDS:-10}"

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target mrv-agent mrv-registry
agent=build/agent/mrv-agent
registry=build/registry/mrv-registry
config=configs/demo.toml

mkdir -p configs/keys
if [ ! -f configs/keys/demo-agent.key ]; then
  echo "== generating a demo signing key (configs/keys/demo-agent.key)"
  "$agent" keygen --out configs/keys/demo-agent.key
fi
if [ ! -f configs/keys/demo-registry.key ]; then
  echo "== throwaway certificates, token and registry key for the local registry (configs/keys)"
  "$agent" keygen --out configs/keys/demo-registry.key > /dev/null
  scripts/make-test-certs.sh configs/keys > /dev/null
  mv configs/keys/ca.pem configs/keys/demo-ca.pem
  mv configs/keys/server.pem configs/keys/demo-server.pem
  mv configs/keys/server.key configs/keys/demo-server.key
  rm -f configs/keys/ca.key
  (umask 077; head -c 24 /dev/urandom | base64 > configs/keys/demo-token)
fi
openssl pkey -in configs/keys/demo-registry.key -pubout -out configs/keys/demo-registry.pub

echo "== starting the local registry (configs/registry.toml)"
"$registry" --config configs/registry.toml &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do  # the agent asks the registry for its head at start: let it listen first
  (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null && break
  sleep 0.1
done

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
echo "== what the registry holds, and a bundle downloaded from it (its manifest signed by the registry)"
registry_url=https://127.0.0.1:8443/v1/sites/demo-pv-site
auth="Authorization: Bearer $(cat configs/keys/demo-token)"
curl -sS --cacert configs/keys/demo-ca.pem -H "$auth" "$registry_url"; echo
curl -sS --fail --cacert configs/keys/demo-ca.pem -H "$auth" -o configs/state/demo-registry-bundle.tar.gz \
  "$registry_url/bundle?from=2026-01-01&to=2100-01-01"
"$agent" verify configs/state/demo-registry-bundle.tar.gz --public-key configs/keys/demo-agent.pub \
  --registry-key configs/keys/demo-registry.pub --require-cosigned
