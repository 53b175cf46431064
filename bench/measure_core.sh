#!/usr/bin/env bash
# Measures the core on a corpus made by gen_corpus.py: ingest through HTTP
# push (strata ingest, protobuf, 4 connections), server CPU per million
# lines, on-disk size against raw, and warm query latencies.
#
# usage: bench/measure_core.sh CORPUS_DIR [WORK_DIR]
set -euo pipefail
corpus=${1:?corpus dir}
work=${2:-/tmp/strata-measure}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin=$target/release/strata
rm -rf "$work"; mkdir -p "$work"
"$bin" serve --data-dir "$work/data" --listen 127.0.0.1:0 > "$work/server.out" 2> "$work/server.err" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q "listening on" "$work/server.out" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/server.out")
tick=$(getconf CLK_TCK)
cpu() { awk -v t="$tick" '{print ($14 + $15) / t}' "/proc/$server/stat"; }

raw_bytes=$(cat "$corpus"/*.log | wc -c)
raw_lines=$(cat "$corpus"/*.log | wc -l)
echo "corpus: $raw_lines lines, $raw_bytes bytes in $(ls "$corpus"/*.log | wc -l) files"
start_ns=$(date +%s%N)
cpu0=$(cpu)
t0=$(date +%s.%N)
"$bin" ingest --server "$url" --concurrency 4 --batch-lines 2000 "$corpus"/*.log | tee "$work/ingest.out"
t1=$(date +%s.%N)
cpu1=$(cpu)
rss_ingest=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
curl -s -X POST "$url/flush" >/dev/null
sleep 2
disk=$(du -sb "$work/data" | cut -f1)
parts=$(curl -s "$url/metrics" | awk '/^strata_disk_bytes / {print $2}')
awk -v l="$raw_lines" -v b="$raw_bytes" -v t0="$t0" -v t1="$t1" -v c0="$cpu0" -v c1="$cpu1" -v d="$disk" -v p="$parts" -v r="$rss_ingest" 'BEGIN {
  s = t1 - t0; c = c1 - c0;
  printf "ingest: %.0f lines/s, %.1f MB/s wall; server CPU %.1f s = %.2f CPU-s per million lines (%.0f lines per CPU-second); peak RSS %.0f MB\n", l/s, b/s/1e6, c, c/(l/1e6), l/c, r/1024;
  printf "disk: %d bytes in the data dir (parts %d), raw/disk = %.2f\n", d, p, b/d }'

end_ns=$(( $(date +%s%N) + 3600000000000 ))
from_ns=$(( start_ns - 60000000000 ))
query() {
  local q=$1 limit=$2 times=()
  for _ in 1 2 3 4 5 6; do
    times+=("$(curl -s -G -o "$work/q.json" -w '%{time_total}' "$url/loki/api/v1/query_range" --data-urlencode "query=$q" --data-urlencode "start=$from_ns" --data-urlencode "end=$end_ns" --data-urlencode "limit=$limit")")
  done
  local n
  n=$(python3 -c "import json,sys; d=json.load(open('$work/q.json')); print(sum(len(s['values']) for s in d['data']['result']))")
  local median
  median=$(printf '%s\n' "${times[@]:1}" | sort -n | sed -n 3p)
  printf '%-60s %4s entries, warm median %.3f s\n' "$q" "$n" "$median"
}
first=$(ls "$corpus"/*.log | head -1)
query '{job="ingest"} |= " needle_q7x9z "' 100
query '{job="ingest"} |= "needle_q7x9z"' 100
query "{filename=\"$first\"}" 100
query '{job="ingest"} |~ "Exception|FATAL"' 100
echo "server peak RSS after queries: $(awk '/VmHWM/ {print $2/1024}' "/proc/$server/status") MB"
