#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang 14, ASan+UBSan) and runs each for a bounded
# time over its seed corpus, two at a time (docs/fuzzing.md). scripts/test.sh runs it
# 15 s per target; run it by hand for longer:
#   scripts/fuzz.sh 600                    every target for 10 minutes
#   scripts/fuzz.sh 3600 bundle gzip       two targets for an hour each
# Seeds (fuzz/corpus/<target>/) are only read; what a run finds is kept in
# build-fuzz/corpus/<target>/, a crashing input in build-fuzz/crashes/<target>/.
# Prints, per target, executions, executions per second, coverage and corpus size; exits 1
# when any target finds a crash, a leak, a timeout or undefined behaviour.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-15}"
shift || true
dir=build-fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(record_line checkpoint gzip tar_gz bundle export_ndjson report config modbus_frames mqtt_payload
           registry_request entry_request intake_log tpm_statement admin_action)
fi

echo "== build $dir (clang 14, libFuzzer, ASan+UBSan, -O1 as OSS-Fuzz builds)"
CC=clang-14 CXX=clang++-14 cmake -S . -B "$dir" -DMRV_FUZZ=ON -DMRV_BUILD_TESTS=OFF -DMRV_WERROR=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" >/dev/null
cmake --build "$dir" -j"$(nproc)" --target fuzzers

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_one() {  # target: runs it, then prints one line of figures from its log
  local t="$1" log="$dir/logs/$1.log"
  mkdir -p "$dir/corpus/$t" "$dir/crashes/$t" "$dir/logs"
  local rc=0
  "$dir/fuzz/${t}_fuzz" "$dir/corpus/$t" "fuzz/corpus/$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/crashes/$t/" >"$log" 2>&1 || rc=$?
  local done execs rate
  done="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $t (exit $rc): $(grep -m1 -E 'ERROR|runtime error|invariant failed|Timeout' "$log" || tail -1 "$log")"
    echo "     log $log; input $(ls "$dir/crashes/$t" | head -1)"
    return 1
  fi
  printf 'ok   %-16s %9s execs %7s/s  %s\n' "$t" "${execs:-?}" "${rate:-?}" \
    "$(sed -E 's/^#[0-9]+[[:space:]]+DONE[[:space:]]+//; s/ lim:.*//' <<<"$done")"
}

echo "== fuzz ${#targets[@]} targets, ${seconds} s each, $(nproc) at a time"
failed=0
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$(nproc)" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit "$failed"
