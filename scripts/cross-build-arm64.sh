#!/usr/bin/env bash
# Cross-builds mrv-agent and mrv-registry for arm64 (aarch64), the usual field gateway
# CPU, with Debian 12's crossbuild-essential-arm64 and multiarch -dev packages
# (docs/operations.md). Installs what is missing (idempotent, like install-deps.sh),
# builds the two binaries (no tests) into build-arm64/ and checks they are aarch64.
#   scripts/cross-build-arm64.sh [--package] [BUILD_DIR]
# --package also runs cpack: BUILD_DIR/packages/mrv-{agent,registry}_<version>_arm64.deb.
set -euo pipefail
cd "$(dirname "$0")/.."

package=0
if [ "${1:-}" = --package ]; then package=1; shift; fi
dir="${1:-build-arm64}"
start=$(date +%s)

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

# The build machine's headers serve both architectures for header-only and Multi-Arch:
# foreign packages (scripts/install-deps.sh installs them); libraries come as :arm64.
# libmuparser-dev is not Multi-Arch: same (its :arm64 would remove the amd64 one), so
# only its runtime library is taken (packaging/cross-arm64/muparser); libpq-dev likewise
# (packaging/toolchain-arm64.cmake).
packages=(
  crossbuild-essential-arm64 file
  libssl-dev:arm64 libsqlite3-dev:arm64 zlib1g-dev:arm64 libsystemd-dev:arm64
  libpaho-mqtt-dev:arm64 libpaho-mqttpp-dev:arm64 libtomlplusplus-dev:arm64
  libboost1.74-dev:arm64 libmuparser2v5:arm64 libmuparser-dev libhowardhinnant-date-dev:arm64
  libxlsxwriter-dev:arm64 libpq5:arm64
  nlohmann-json3-dev libcli11-dev libexpected-dev
)

update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "adding the arm64 architecture to dpkg" >&2
  $sudo dpkg --add-architecture arm64
  update=1
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ $update -eq 1 ]; then
  echo "installing: ${missing[*]}" >&2
  $sudo apt-get update -qq
  # A Multi-Arch: same library must have the same version on both architectures: apt
  # upgrades the amd64 copy when needed, and must never remove a package to do it.
  $sudo apt-get install -y -qq --no-install-recommends --no-remove "${missing[@]}" >/dev/null
fi
installed=$(date +%s)

# -O2 as in the native RelWithDebInfo build, without its debug info: g++ 12 at -O3 (plain
# Release) gives false -Wrestrict warnings on std::string concatenation (GCC bug 105329).
cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$PWD/packaging/toolchain-arm64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" \
  -DMRV_BUILD_TESTS=OFF -DMRV_WERROR=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" --target mrv-agent mrv-registry
built=$(date +%s)

for bin in "$dir/agent/mrv-agent" "$dir/registry/mrv-registry"; do
  desc=$(file -b "$bin")
  echo "$bin: $desc"
  case "$desc" in
    *"ARM aarch64"*) ;;
    *) echo "error: $bin is not an aarch64 executable" >&2; exit 1 ;;
  esac
done

if [ $package -eq 1 ]; then
  # dpkg-shlibdeps reads the arm64 libraries' symbols with the cross objdump.
  (cd "$dir" && DEB_HOST_ARCH=arm64 cpack -G DEB)
  ls -l "$dir"/packages/*.deb
fi
echo "cross build: packages $((installed - start)) s, build $((built - installed)) s," \
  "total $(($(date +%s) - start)) s"
