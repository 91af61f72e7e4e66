#!/usr/bin/env bash
# jsonl.sh: issue 12's speed figure, and the CSV input's. The JSONL path end
# to end (crrmon-collector reading a generated JSONL file -> edge validation
# -> durable spool -> sender -> a real crrmon-aggregator applying with durable
# group commits; time from start to the collector's exit, which waits for the
# last Ack), the CSV path (the same events as one CSV file, `crrmon generate
# --format csv`, through the same collector and a fresh aggregator) and the
# naive stack (bench_naive: zmq -> protobuf-c -> LMDB, a durable commit per
# 1,000 events), both as the bare transport ("naive") and keeping the same
# aggregates the naive way ("naive_aggregate": an mdb_get and mdb_put per
# bucket per event), measured alternately in the same run, BENCH_RUNS times
# each; prints every run, the medians and their ratio to each naive stack,
# and each run's CPU seconds (collector, aggregator) to show where the time
# goes.
#   BENCH_FORMAT=jsonl|csv|both (default both: naive, jsonl, csv in turn)
#   BENCH_EVENTS=N (default 1000000)  BENCH_RUNS=R (default 3)
#   BENCH_DAYS=D (default 365: occurred_at spread; 1 is live traffic)
#   BENCH_COLLECTOR_ARGS="--collector.group_lines=..." (extra collector flags)
#   BENCH_BIN=DIR (binaries of another build, e.g. an older commit's, used
#   as they are; bench_naive is taken from build/bin when DIR lacks it; the
#   inputs are generated with build/bin/crrmon when DIR's cannot write CSV)
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
format=${BENCH_FORMAT:-both}
case "$format" in
jsonl) formats="jsonl" ;;
csv) formats="csv" ;;
both) formats="jsonl csv" ;;
*) echo "BENCH_FORMAT is jsonl, csv or both, not '$format'"; exit 64 ;;
esac
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
gen=$bin/crrmon
"$gen" generate --count 1 --format csv >/dev/null 2>&1 || gen=$here/build/bin/crrmon
for f in $formats; do
  "$gen" generate --count "$n" --seed 7 --days "$days" --format "$f" > "$work/events.$f"
  echo "input: $n generated ${f} events over $days days, $(stat -c %s "$work/events.$f") bytes"
done

# one run of the collector (format $2) into a fresh aggregator, run number $1
run_path() {
  local r=$1 f=$2 t0 t1 coll_cpu
  start_agg
  rm -rf "$work/coll"
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  /usr/bin/time -f "%U %S" -o "$work/coll.time" "$bin/crrmon-collector" --insecure \
    --data-dir "$work/coll" --source-id "bench-$f" --log-level error \
    --aggregator "$(jq -r .ingest "$work/agg/endpoints.json")" ${BENCH_COLLECTOR_ARGS:-} \
    "$work/events.$f"
  t1=$(date +%s.%N)
  stop_agg
  coll_cpu=$(awk '{printf "%.2f", $1 + $2}' "$work/coll.time")
  awk -v r="$r" -v f="$f" -v n="$n" -v a="$t0" -v b="$t1" -v c="$coll_cpu" -v g="$agg_cpu" 'BEGIN {
    printf "run %d %s: events=%d seconds=%.3f events_per_sec=%.0f cpu_s collector=%s aggregator=%s\n",
      r, f, n, b - a, n / (b - a), c, g}'
  awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f\n", n / (b - a)}' >> "$work/$f.txt"
  echo "$coll_cpu" >> "$work/$f.coll"
  echo "$agg_cpu" >> "$work/$f.agg"
}

: > "$work/naive.txt"
: > "$work/naive_agg.txt"
for f in $formats; do : > "$work/$f.txt"; : > "$work/$f.coll"; : > "$work/$f.agg"; done
for r in $(seq 1 "$runs"); do
  rm -rf "$work/naive"
  naive=$bin/bench_naive
  [ -x "$naive" ] || naive=$here/build/bin/bench_naive
  line=$("$naive" "$work/naive" "$n" "$days")
  rm -rf "$work/naive"
  echo "run $r naive: $line"
  echo "$line" | sed 's/.*events_per_sec=\([0-9]*\).*/\1/' >> "$work/naive.txt"
  line=$("$naive" "$work/naive" "$n" "$days" aggregate)
  rm -rf "$work/naive"
  echo "run $r naive_aggregate: $line"
  echo "$line" | sed 's/.*events_per_sec=\([0-9]*\).*/\1/' >> "$work/naive_agg.txt"
  for f in $formats; do run_path "$r" "$f"; done
done
mn=$(median < "$work/naive.txt")
mna=$(median < "$work/naive_agg.txt")
for f in $formats; do
  m=$(median < "$work/$f.txt")
  awk -v a="$mn" -v b="$m" -v f="$f" -v runs="$runs" 'BEGIN {
    printf "median of %d runs: naive %.0f events/s, %s %.0f events/s, %s/naive %.2f\n", runs, a, f, b, f, b / a}'
  awk -v a="$mna" -v b="$m" -v f="$f" -v runs="$runs" 'BEGIN {
    printf "median of %d runs: naive_aggregate %.0f events/s, %s %.0f events/s, %s/naive_aggregate %.2f\n", runs, a, f, b, f, b / a}'
  echo "median cpu_s $f: collector=$(median < "$work/$f.coll") aggregator=$(median < "$work/$f.agg")"
done
