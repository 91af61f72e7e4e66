#!/usr/bin/env bash
# feed.sh: ingest throughput with the live feed on and off (docs/PERFORMANCE.md
# "The live feed"). A benchmark, not a test. Builds (RelWithDebInfo, build/),
# then alternates runs of bench_e2e (bench/run.sh's figure 1: generated events
# -> durable spool -> sender -> aggregator) against a fresh aggregator with
# aggregator.feed_period=0 (off: no feed computation at all) and with the
# default 1s (on), a `crrmon tail --json` subscribed and an SSE client reading
# GET /api/v1/stream during the "on" runs. Prints one line per run and the
# aggregator's CPU seconds.
#   BENCH_EVENTS=N (default 300000) BENCH_RUNS=R (default 2) BENCH_DAYS=D (default 300)
# Everything it starts is stopped on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null
bin=$here/build/bin
n=${BENCH_EVENTS:-300000}
runs=${BENCH_RUNS:-2}
days=${BENCH_DAYS:-300}
work=$(mktemp -d /tmp/crr-feedbench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

run_one() { # $1 = on|off
  rm -rf "$work/agg" "$work/spool"
  local period=1s
  [ "$1" = off ] && period=0
  "$bin/crrmon-aggregator" --insecure --data-dir "$work/agg" --ingest 'tcp://127.0.0.1:*' \
    --feed 'tcp://127.0.0.1:*' --http 127.0.0.1:0 --log-level warn --aggregator.feed_period=$period \
    --aggregator.ref_population="$here/data/population_ethnicity_census2021.csv" 2>"$work/agg.log" &
  local agg=$!
  pids=("$agg")
  for _ in $(seq 1 200); do [ -s "$work/agg/endpoints.json" ] && break; sleep 0.05; done
  if [ "$1" = on ]; then
    "$bin/crrmon" tail --insecure --json --data-dir "$work/agg" >"$work/tail.out" 2>/dev/null &
    pids+=("$!")
    curl -sN "http://$(jq -r .http "$work/agg/endpoints.json")/api/v1/stream" >"$work/sse.out" &
    pids+=("$!")
  fi
  printf "feed %-3s " "$1"
  "$bin/bench_e2e" "$(jq -r .ingest "$work/agg/endpoints.json")" "$work/spool" "$n" 256 2000 20000 "" "$days" |
    tr '\n' ' '
  awk '{printf "aggregator cpu user %.2fs system %.2fs", $14/100, $15/100}' /proc/"$agg"/stat
  if [ "$1" = on ]; then
    sleep 2 # the last computation
    printf " feed messages %s (sse lines %s)" "$(wc -l <"$work/tail.out")" "$(grep -c '^id: ' "$work/sse.out" || true)"
  fi
  echo
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "== $n events per run, window 256 frames x 2000 events, occurred over $days days"
for _ in $(seq 1 "$runs"); do
  run_one off
  run_one on
done
