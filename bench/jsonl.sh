#!/usr/bin/env bash
# jsonl.sh: issue 12's speed figure. The JSONL path end to end
# (crrmon-collector reading a generated JSONL file -> edge validation ->
# durable spool -> sender -> a real crrmon-aggregator applying with durable
# group commits; time from start to the collector's exit, which waits for the
# last Ack) against the naive stack (bench_naive: zmq -> protobuf-c -> LMDB,
# a durable commit per 1,000 events), measured alternately in the same run,
# BENCH_RUNS times each; prints every run, the medians and their ratio, and
# each run's CPU seconds (collector, aggregator) to show where the time goes.
#   BENCH_EVENTS=N (default 1000000)  BENCH_RUNS=R (default 3)
#   BENCH_DAYS=D (default 365: occurred_at spread; 1 is live traffic)
#   BENCH_COLLECTOR_ARGS="--collector.group_lines=..." (extra collector flags)
#   BENCH_BIN=DIR (binaries of another build, e.g. an older commit's, used
#   as they are; bench_naive is taken from build/bin when DIR lacks it)
# Builds (RelWithDebInfo, build/) first unless BENCH_BIN is set. Everything it starts is stopped on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
if [ -z "${BENCH_BIN:-}" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" >/dev/null
fi
bin=${BENCH_BIN:-$here/build/bin}
n=${BENCH_EVENTS:-1000000}
runs=${BENCH_RUNS:-3}
days=${BENCH_DAYS:-365}
work=$(mktemp -d /tmp/crr-bench-jsonl-XXXXXX)
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
# CPU seconds (user + system) of a process from /proc/PID/stat
cpu_of() { awk '{printf "%.2f", ($14 + $15) / 100}' /proc/"$1"/stat; }
stop_agg() {
  agg_cpu=$(cpu_of "$agg_pid")
  kill -TERM "$agg_pid"; wait "$agg_pid" || true; agg_pid=""
}
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "disk: $(df -h "$work" | awk 'NR==2 {print $1, $2}'); load: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin/crrmon" generate --count "$n" --seed 7 --days "$days" > "$work/events.jsonl"
echo "input: $n generated lines over $days days, $(stat -c %s "$work/events.jsonl") bytes"

: > "$work/naive.txt"
: > "$work/jsonl.txt"
for r in $(seq 1 "$runs"); do
  rm -rf "$work/naive"
  naive=$bin/bench_naive
  [ -x "$naive" ] || naive=$here/build/bin/bench_naive
  line=$("$naive" "$work/naive" "$n" "$days")
  rm -rf "$work/naive"
  echo "run $r naive: $line"
  echo "$line" | sed 's/.*events_per_sec=\([0-9]*\).*/\1/' >> "$work/naive.txt"

  start_agg
  rm -rf "$work/coll"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  /usr/bin/time -f "%U %S" -o "$work/coll.time" "$bin/crrmon-collector" --insecure \
    --data-dir "$work/coll" --source-id bench-jsonl --log-level error \
    --aggregator "$(jq -r .ingest "$work/agg/endpoints.json")" ${BENCH_COLLECTOR_ARGS:-} \
    "$work/events.jsonl"
  t1=$(date +%s.%N)
  stop_agg
  coll_cpu=$(awk '{printf "%.2f", $1 + $2}' "$work/coll.time")
  rate=$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
  awk -v r="$r" -v n="$n" -v a="$t0" -v b="$t1" -v c="$coll_cpu" -v g="$agg_cpu" 'BEGIN {
    printf "run %d jsonl: events=%d seconds=%.3f events_per_sec=%.0f cpu_s collector=%s aggregator=%s\n",
      r, n, b - a, n / (b - a), c, g}'
  echo "$rate" >> "$work/jsonl.txt"
done
mn=$(median < "$work/naive.txt")
mj=$(median < "$work/jsonl.txt")
awk -v a="$mn" -v b="$mj" -v runs="$runs" 'BEGIN {
  printf "median of %d runs: naive %.0f events/s, jsonl %.0f events/s, jsonl/naive %.2f\n", runs, a, b, b / a}'
