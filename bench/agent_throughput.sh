#!/usr/bin/env bash
# strata agent throughput: one file shipped by a release `strata agent` to a
# local `strata serve`; prints bytes, wall time, agent and server CPU (from
# /proc) and the agent's peak RSS. The figures in docs/agent.md come from it.
#
#   bench/agent_throughput.sh FILE [PIPELINE]
#   bench/agent_throughput.sh lines.log '| json'     # with a JSON pipeline (promote level, metadata trace_id)
#
# FILE must end with a newline (the agent keeps an unfinished last line).
set -euo pipefail
file=$1
pipeline=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release --quiet -p strata)
bin=$target/release/strata
work=$(mktemp -d)
trap 'kill $agent $server 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/in"
cp "$file" "$work/in/app.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --data-dir "$work/data" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
{
  echo "positions: $work/positions.json"
  echo "sources:"
  echo "  - type: file"
  echo "    paths: [$work/in/app.log]"
  echo "    labels: {job: bench}"
  if [ -n "$pipeline" ]; then
    echo "    pipeline: '$pipeline'"
    echo "    promote: [level]"
    echo "    metadata: [trace_id]"
  fi
  echo "output: {type: loki, url: 'http://127.0.0.1:$port'}"
  echo "poll: 50ms"
} >"$work/agent.yaml"
until curl -sf "http://127.0.0.1:$port/ready" >/dev/null; do sleep 0.1; done
size=$(stat -c %s "$work/in/app.log")
start=$(date +%s.%N)
RUST_LOG=warn "$bin" agent --config "$work/agent.yaml" &
agent=$!
# Done when the saved position reaches the end of the file.
until python3 -c "import json,sys; d=json.load(open('$work/positions.json')); sys.exit(0 if sum(f['offset'] for f in d['files']) == $size else 1)" 2>/dev/null; do
  sleep 0.1
done
end=$(date +%s.%N)
hz=$(getconf CLK_TCK)
agent_cpu=$(awk -v hz="$hz" '{printf "%.2f", ($14+$15)/hz}' /proc/$agent/stat)
server_cpu=$(awk -v hz="$hz" '{printf "%.2f", ($14+$15)/hz}' /proc/$server/stat)
rss=$(awk '/VmHWM/ {print $2}' /proc/$agent/status)
python3 - "$size" "$start" "$end" "$agent_cpu" "$server_cpu" "$rss" <<'PY'
import sys
size, start, end, agent, server, rss = sys.argv[1:]
size = int(size); agent = float(agent); server = float(server)
print(f"{size / 1e6:.1f} MB in {float(end) - float(start):.2f} s wall; "
      f"agent {agent:.2f} CPU-s ({size / 1e6 / max(agent, 0.01):.0f} MB per agent CPU-second), "
      f"server {server:.2f} CPU-s; agent peak RSS {int(rss) / 1024:.1f} MB")
PY
