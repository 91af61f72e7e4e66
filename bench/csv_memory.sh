#!/usr/bin/env bash
# csv_memory.sh: a 1 GB CSV file through crrmon-collector into a real
# aggregator, sampling the collector's anonymous memory (RssAnon in
# /proc/PID/status: heap and stacks, not LMDB's file-backed spool pages)
# every 100 ms. Prints the peak, the time and events/s. The target
# (docs/PERFORMANCE.md): a 1 GB CSV ingests with RssAnon under 64 MB, i.e. the
# CSV path streams (common/csvin.c holds one record, never the file).
#   BENCH_CSV_MB=N   file size in MiB (default 1024)
# Everything it starts is stopped on exit; the work folder is removed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 >/dev/null
bin=$here/build/bin
mb=${BENCH_CSV_MB:-1024}
work=$(mktemp -d /tmp/crr-csvmem-XXXXXX)
agg_pid="" coll_pid=""
cleanup() {
  [ -n "$coll_pid" ] && kill "$coll_pid" 2>/dev/null && wait "$coll_pid" 2>/dev/null
  [ -n "$agg_pid" ] && kill "$agg_pid" 2>/dev/null && wait "$agg_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# stop_search records (~150 bytes), dated over the last 28 days, every cell
# kind: enums by full and short names, booleans, a quoted cell with a comma
days=$(for d in $(seq 1 28); do date -u -d "$d days ago" +%Y-%m-%d; done | tr '\n' ' ')
csv=$work/stop_search-bench.csv
echo "writing ${mb} MiB of CSV..."
awk -v limit=$((mb * 1048576)) -v days="$days" 'BEGIN {
  n = split(days, day, " ");
  hdr = "borough,occurred_at,count,ethnicity,sde_code,officer_ethnicity,legislation,outcome,object_found,grounds_reviewed,grounds_satisfactory";
  print hdr; bytes = length(hdr) + 1;
  for (i = 0; bytes < limit; i++) {
    line = sprintf("E09000%03d,%sT%02d:%02d:00Z,1,%s,%s,OFFICER_ETHNICITY_IC1,\"LEGISLATION_PACE_S1\",%s,%s,true,yes",
                   i % 33 + 1, day[i % n + 1], i % 24, i % 60, (i % 2 ? "ETHNICITY_WHITE" : "white"),
                   "W1", (i % 3 ? "OUTCOME_NO_FURTHER_ACTION" : "arrest"), (i % 5 ? "false" : "1"));
    print line; bytes += length(line) + 1;
  }
  printf "%d\n", i > "/dev/stderr";
}' >"$csv" 2>"$work/count"
records=$(cat "$work/count")
echo "file: $(du -m "$csv" | cut -f1) MiB, $records records"

"$bin/crrmon-aggregator" --insecure --data-dir "$work/agg" --ingest 'tcp://127.0.0.1:*' \
  --feed 'tcp://127.0.0.1:*' --http 127.0.0.1:0 --log-level warn 2>"$work/agg.log" &
agg_pid=$!
for _ in $(seq 1 200); do [ -s "$work/agg/endpoints.json" ] && break; sleep 0.05; done
ingest=$(sed -n 's/.*"ingest": *"\([^"]*\)".*/\1/p' "$work/agg/endpoints.json")

start=$(date +%s.%N)
"$bin/crrmon-collector" --insecure --data-dir "$work/coll" --aggregator "$ingest" \
  --source-id csvmem --log-level warn "$csv" 2>"$work/coll.log" &
coll_pid=$!
peak=0
while kill -0 "$coll_pid" 2>/dev/null; do
  kb=$(awk '/^RssAnon:/ {print $2}' /proc/"$coll_pid"/status 2>/dev/null || echo 0)
  [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak=$kb
  sleep 0.1
done
rc=0
wait "$coll_pid" || rc=$?
coll_pid=""
end=$(date +%s.%N)
if [ "$rc" -ne 0 ]; then echo "collector exited $rc"; tail -5 "$work/coll.log"; exit 1; fi
secs=$(echo "$end - $start" | bc)
printf 'collector: %d records in %.1f s (%.0f events/s), peak RssAnon %.1f MiB\n' \
  "$records" "$secs" "$(echo "$records / $secs" | bc -l)" "$(echo "$peak / 1024" | bc -l)"
