#!/usr/bin/env bash
# Installs the Debian 12 packages that building, running and testing mrv-agent need.
# Idempotent: installs only what is missing. Runs apt-get as root (or through sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost1.74-dev libssl-dev libsqlite3-dev sqlite3 openssl curl bc
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libexpected-dev catch2
  libpaho-mqtt-dev libpaho-mqttpp-dev zlib1g-dev libmuparser-dev libsystemd-dev
  libhowardhinnant-date-dev tzdata libxlsxwriter-dev
  python3 python3-cryptography
  mosquitto mosquitto-clients python3-paho-mqtt python3-pymodbus python3-serial python3-serial-asyncio socat
  chromium fonts-liberation python3-prometheus-client
  libreoffice-calc-nogui python3-openpyxl poppler-utils
  debootstrap systemd-container file
  swtpm swtpm-tools tpm2-openssl tpm2-tools jq
  clang-14 libclang-rt-14-dev
  libpq-dev postgresql-15
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
