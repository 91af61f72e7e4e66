#!/usr/bin/env bash
# deps.sh: installs every Debian 12 package crrmon needs to build, run and
# test. The one list of packages; quickstart.sh and test.sh call it. Uses sudo
# when not root. Skips apt-get when everything is already installed.
set -euo pipefail
PKGS=(
  build-essential cmake pkg-config git clang-format
  libzmq3-dev libczmq-dev
  libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
  liblmdb-dev lmdb-utils
  libmicrohttpd-dev libjansson-dev libcsv-dev libinih-dev libpq-dev
  libcmocka-dev libcurl4-openssl-dev
  python3 python3-protobuf python3-zmq
  postgresql curl jq procps
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
