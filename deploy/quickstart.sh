#!/usr/bin/env bash
# quickstart.sh: from a fresh Debian 12 machine to a first snapshot.
# Installs the packages (deploy/deps.sh), builds into build/, then runs the
# main job on embedded defaults: an aggregator with its LMDB state under
# run/quickstart/aggregator, three borough collectors (Westminster, Lambeth,
# Newham) fed with generated sample events, one snapshot taken over HTTP and
# written as JSON Lines and CSV, and a short indicator table with borough
# names. It prints a line per stage as it goes. Everything it starts is
# stopped before it exits (also on failure or Ctrl-C).
#   QUICKSTART_EVENTS=N     events per borough (default 20000)
#   QUICKSTART_RUN_DIR=DIR  where the run's folders go (default run/quickstart)
#   CRR_BIN_DIR=DIR         use binaries already built there: no install, no build
#                           (the test suite runs the quickstart this way)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
if [ -n "${CRR_BIN_DIR:-}" ]; then
  bin=$CRR_BIN_DIR
  echo "== dependencies and build: using the binaries in $bin"
else
  echo "== dependencies (deploy/deps.sh: apt-get when a package is missing)"
  bash deploy/deps.sh
  echo "== build (cmake, into build/)"
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
  bin=$here/build/bin
fi

run=${QUICKSTART_RUN_DIR:-$here/run/quickstart}
rm -rf "$run"
mkdir -p "$run"
n=${QUICKSTART_EVENTS:-20000}
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

boroughs=(E09000033 E09000022 E09000025)
echo "== CURVE keys: the aggregator's and one per collector, bound to its borough ($run/keys)"
mkdir -p "$run/keys/clients"
"$bin/crrmon" keygen "$run/keys/aggregator" >/dev/null
for b in "${boroughs[@]}"; do
  "$bin/crrmon" keygen "$run/keys/collector-$b" --borough "$b" >/dev/null
  cp "$run/keys/collector-$b" "$run/keys/clients/"
done

echo "== starting the aggregator (data in $run/aggregator)"
"$bin/crrmon-aggregator" --data-dir "$run/aggregator" --aggregator.sinks=jsonl,csv \
  --ingest 'tcp://127.0.0.1:*' --feed 'tcp://127.0.0.1:*' --http 127.0.0.1:0 \
  --security.server_cert="$run/keys/aggregator_secret" --security.clients_dir="$run/keys/clients" \
  2>"$run/aggregator.log" &
pids+=($!)
for _ in $(seq 1 200); do
  [ -s "$run/aggregator/endpoints.json" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$run/aggregator.log"; exit 1; }
  sleep 0.05
done
ingest=$(jq -r .ingest "$run/aggregator/endpoints.json")
http=$(jq -r .http "$run/aggregator/endpoints.json")
echo "   ingest $ingest (CURVE), http $http"

seed=1
# 380 days: each borough's data starts before the 365-day window, so it covers it
for b in "${boroughs[@]}"; do
  "$bin/crrmon" generate --seed "$seed" --borough "$b" --count "$n" --days 380 > "$run/$b.jsonl"
  seed=$((seed + 1))
done
name() { awk -F, -v c="$1" '$1 == c {print $2}' data/london_boroughs.csv; }
echo "== sending: three collectors, $n generated events each:" \
  "$(for b in "${boroughs[@]}"; do printf '%s (%s) ' "$(name "$b")" "$b"; done)"
cpids=()
for b in "${boroughs[@]}"; do
  "$bin/crrmon-collector" --data-dir "$run/collector-$b" --aggregator "$ingest" \
    --security.client_cert="$run/keys/collector-${b}_secret" \
    --security.server_key="$run/keys/aggregator" \
    --source-id "collector-$b" "$run/$b.jsonl" 2>"$run/collector-$b.log" &
  cpids+=($!)
done
for p in "${cpids[@]}"; do
  wait "$p" || { echo "a collector failed; see $run/collector-*.log"; exit 1; }
done
echo "   all events acknowledged"

echo "== snapshot: taken over HTTP, written by the jsonl and csv sinks"
"$bin/crrmon" snapshot --http "$http" | tee "$run/snapshot.txt"
echo
echo "== key indicators, last 365 days (all rows: crrmon query --data-dir $run/aggregator)"
printf '%-22s %-11s %-34s %12s  %-23s %8s %9s %s\n' name borough indicator value "95% interval" n reporting reliable
"$bin/crrmon" query --data-dir "$run/aggregator" --window 365d --json |
  jq -r 'select(.dims == {} and (.indicator | IN("training.attendance_rate",
           "feedback.overall_mean", "learning.mean_gain", "behaviour.compliance",
           "stop_search.count", "stop_search.rate_per_1000", "survey.good_job")))
         | select(.borough | IN("LONDON", "E09000033", "E09000022", "E09000025"))
         | [.borough, .indicator,
            (if .value == null then "-" else (.value * 10000 | round / 10000 | tostring) end),
            (if .ciLow == null then "-" else "[\(.ciLow * 1000 | round / 1000), \(.ciHigh * 1000 | round / 1000)]" end),
            .n, .boroughsReporting, (if .reliable then "yes" else "no" end)] | @tsv' |
  awk -F '\t' 'NR == FNR { if (FNR > 1) { split($0, f, ","); nm[f[1]] = f[2] } next }
                { printf "%-22s %-11s %-34s %12s  %-23s %8s %9s %s\n", ($1 == "LONDON" ? "London" : nm[$1]),
                  $1, $2, $3, $4, $5, $6, $7 }' data/london_boroughs.csv -
echo "(reporting: boroughs whose data covers the whole window; LONDON is computed from those only)"
echo
echo "snapshot files:"
ls -1 "$run"/aggregator/snapshots/*.jsonl "$run"/aggregator/snapshots/*.csv
kill -TERM "${pids[0]}"
wait "${pids[0]}"
pids=()
echo "== done; the aggregator stopped cleanly"
