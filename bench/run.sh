#!/usr/bin/env bash
# run.sh: the end-to-end benchmarks behind docs/PERFORMANCE.md. Builds
# (RelWithDebInfo, build/), starts a real aggregator on random loopback ports
# with a fresh data folder for each figure, and prints:
#   1. protobuf path: bench_e2e (in-memory generated events -> durable spool ->
#      sender -> aggregator applying durably), events/s and p50/p99 send->Ack;
#   2. JSONL path: crrmon-collector reading a generated JSONL file, events/s;
#   3. snapshot: POST /api/v1/snapshots over a year of data, seconds.
#   BENCH_EVENTS=N (default 1000000)  BENCH_WINDOW=frames BENCH_BATCH=events
# Everything it starts is stopped on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
bin=$here/build/bin
n=${BENCH_EVENTS:-1000000}
window=${BENCH_WINDOW:-256}
batch=${BENCH_BATCH:-2000}
work=$(mktemp -d /tmp/crr-bench-XXXXXX)
agg_pid=""
cleanup() {
  [ -n "$agg_pid" ] && kill "$agg_pid" 2>/dev/null && wait "$agg_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

start_agg() {
  rm -rf "$work/agg"
  # plain TCP on loopback (--insecure): the figures measure the pipeline, not CURVE
  "$bin/crrmon-aggregator" --insecure --data-dir "$work/agg" --ingest 'tcp://127.0.0.1:*' \
    --feed 'tcp://127.0.0.1:*' --http 127.0.0.1:0 --log-level warn \
    --aggregator.ref_population="$here/data/population_ethnicity_census2021.csv" 2>"$work/agg.log" &
  agg_pid=$!
  for _ in $(seq 1 200); do [ -s "$work/agg/endpoints.json" ] && return 0; sleep 0.05; done
  echo "aggregator did not start"; cat "$work/agg.log"; exit 1
}
stop_agg() {
  local pid=$agg_pid
  cat /proc/"$pid"/stat | awk '{printf "aggregator cpu: user %.2fs system %.2fs\n", $14/100, $15/100}'
  kill -TERM "$pid"; wait "$pid" || true; agg_pid=""
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "disk: $(df -h "$work" | awk 'NR==2 {print $1, $2}')"

echo "== 1. protobuf path: $n events, window $window frames x $batch events"
start_agg
"$bin/bench_e2e" "$(jq -r .ingest "$work/agg/endpoints.json")" "$work/spool" "$n" "$window" "$batch"
stop_agg
rm -rf "$work/spool"

echo "== 2. JSONL path: crrmon-collector reading $n generated lines"
"$bin/crrmon" generate --count "$n" --seed 7 --days 365 > "$work/events.jsonl"
start_agg
t0=$(date +%s.%N)
"$bin/crrmon-collector" --insecure --data-dir "$work/coll" --source-id bench-jsonl --log-level warn \
  --aggregator "$(jq -r .ingest "$work/agg/endpoints.json")" "$work/events.jsonl"
t1=$(date +%s.%N)
awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN {printf "events=%d seconds=%.3f events_per_sec=%.0f\n", n, b-a, n/(b-a)}'

echo "== 3. snapshot over a year of data ($n events over 365 days)"
http=$(jq -r .http "$work/agg/endpoints.json")
t0=$(date +%s.%N)
curl -sf -X POST "http://$http/api/v1/snapshots" > "$work/snap.json"
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN {printf "snapshot seconds=%.3f ", b-a}'
jq -c . "$work/snap.json"
stop_agg
