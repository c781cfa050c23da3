#!/usr/bin/env bash
# Quick start, second command (and what CI runs): installs what is missing, then builds
# twice (warnings as errors; ASan+UBSan) and runs every unit and integration test on each,
# runs every fuzz target briefly over its seeds (docs/fuzzing.md), then cross-builds both
# programs for arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs="$(nproc)"

build_and_test() {  # folder, cmake options...
  local dir="$1"; shift
  echo "== build $dir ($*)"
  cmake -S . -B "$dir" -DMRV_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "== test $dir"
  (cd "$dir" && ctest --output-on-failure -j"$jobs")
}

build_and_test build -DCMAKE_BUILD_TYPE=RelWithDebInfo
(
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  build_and_test build-asan -DCMAKE_BUILD_TYPE=Debug -DMRV_SANITIZE=ON
)
echo "== fuzz: every parser of outside bytes, 15 s each (longer runs: scripts/fuzz.sh SECONDS)"
scripts/fuzz.sh 15
echo "== cross build arm64 (the usual field gateway CPU): both programs link"
scripts/cross-build-arm64.sh
