#!/usr/bin/env bash
# deps.sh: installs every Debian 12 package crrmon needs to build, run its
# main job and test; nothing for work that has not landed. The one list of
# packages, grouped by use; quickstart.sh and test.sh call it. Uses sudo
# when not root. Skips apt-get when everything is already installed.
set -euo pipefail
PKGS=(
  # build: compiler, CMake, pkg-config, and the formatting check of test.sh
  build-essential cmake pkg-config git clang-format
  # libraries the binaries link (transport, wire format, state, HTTP, JSON,
  # CSV, INI config) and the protobuf compilers that generate the wire code
  libzmq3-dev
  # CURVE certificates in the zcert text format (crrmon keygen, the aggregator's
  # admitted-clients folder): CZMQ's zcert/zconfig, only for the files
  libczmq-dev
  libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev protobuf-compiler
  liblmdb-dev
  libmicrohttpd-dev libjansson-dev libcsv-dev libinih-dev
  # the HTTP users file: crypt_r/crypt_gensalt (SHA-512 hashes)
  libcrypt-dev
  # the PostgreSQL sink (sinks/postgres.c: libpq); the server itself for
  # tests/e2e/test_exports_postgres.py (a throwaway cluster: initdb, pg_ctl, psql)
  libpq-dev postgresql
  # the CLI's HTTP client (crrmon snapshot), the webhook sink (sinks/webhook.c) and the
  # quickstart's JSON filter
  libcurl4-openssl-dev jq
  # readiness for systemd units (Type=notify): sd_notify from libsystemd
  libsystemd-dev
  # zlib: the collector reads *.jsonl.gz inputs (collector/reader.c)
  zlib1g-dev
  # packaging (deploy/, CPack): help2man makes the man pages from --help at
  # build time; dpkg-dev's dpkg-shlibdeps finds the .deb's Depends; file is
  # what dpkg-shlibdeps runs on each binary
  help2man dpkg-dev file
  # tests/e2e/test_deploy.py: `systemd-analyze verify` and `security` on the
  # units (systemd), `man -l` renders the pages (man-db)
  systemd man-db
  # bench/run.sh: curl for the HTTP snapshot call
  curl
  # tests: cmocka for unit tests; Python with pyzmq and Google's protobuf (the
  # JSON cross-check) for process tests; lmdb-utils (mdb_dump) to read stores
  libcmocka-dev lmdb-utils
  # test_http_security: `openssl req` makes the self-signed certificate for the TLS tests
  openssl
  # strace: tests/e2e/test_promises.py counts the aggregator's fdatasync calls
  # between a batch's arrival and its Ack (the store must sync before it Acks)
  strace
  python3 python3-protobuf python3-zmq
  # test_analyst.py: snapshot files read as an analyst would, with pandas (the
  # docs/OPERATIONS.md snippets run as written)
  python3-pandas
  # test_security.py: a loopback capture shows CURVE traffic holds no plain text
  tcpdump
  # test_api.py: promtool (Debian ships it in prometheus) checks a live /metrics
  # (`promtool check metrics`) and deploy/prometheus/crrmon-alerts.yml (`check rules`);
  # python3-yaml reads the rules' expressions to check their metric names
  prometheus python3-yaml
  # test_dashboard.py: the dashboard (GET /) in a real headless browser, driven over
  # Chromium's DevTools protocol (a websocket: python3-websocket)
  chromium python3-websocket
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
