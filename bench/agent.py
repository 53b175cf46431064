#!/usr/bin/env python3
"""The agent benchmark: file -> (parse JSON) -> push, `strata agent` beside
the `strata serve` that ingests what it pushes, in one run.

    python3 bench/agent.py                   # 60 MB per case from the 2 GB corpus, 3 runs
    python3 bench/agent.py --smoke           # small corpus, debug build: checks it works (CI)
    python3 bench/agent.py --update-docs     # writes the table into docs/benchmarks.md

For each case a fresh server and a fresh agent ship one file (lines taken
from the benchmark corpus) and the run ends when the agent's saved position
reaches the end of the file. CPU seconds come from /proc/PID/stat of each
process (user + system), peak RSS from /proc/PID/status (VmHWM). Reported:
MB of log lines per agent CPU-second (the issue's target: 100 with JSON
parsing, agent RSS under 64 MB), over the whole run and in steady state
(from the first acknowledged batch to the end: start-up, ~0.2 CPU-s for
OpenSSL's CA store, left out), and per server CPU-second for the same
lines, so the agent's cost sits beside the ingest it feeds. The median of
--runs runs is reported.

Cases:
  plain  the corpus's text lines, no stages;
  json   the corpus's model-serving JSON lines, with stages
         `json`, `labels: {level}`, `structured_metadata: {trace_id}`.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

ROOT = bench.ROOT
BEGIN, END = "<!-- agent-bench:begin -->", "<!-- agent-bench:end -->"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def inputs(corpus_dir, megabytes, work):
    """Two files of corpus lines: text lines, and model-serving JSON lines."""
    limit = int(megabytes * 1e6)
    plain_path = os.path.join(work, "plain.log")
    json_path = os.path.join(work, "json.log")
    sizes = {"plain": 0, "json": 0}
    streams = os.path.join(corpus_dir, "streams")
    names = sorted(os.listdir(streams), key=lambda n: int(n.split(".")[0]))
    with open(plain_path, "w") as plain, open(json_path, "w") as js:
        for name in names:
            if sizes["plain"] >= limit and sizes["json"] >= limit:
                break
            with open(os.path.join(streams, name)) as f:
                for line in f:
                    if line.startswith("{"):
                        if '"latency_ms"' in line and sizes["json"] < limit:
                            js.write(line)
                            sizes["json"] += len(line)
                    elif sizes["plain"] < limit:
                        plain.write(line)
                        sizes["plain"] += len(line)
    return {"plain": plain_path, "json": json_path}


STAGES = {
    "plain": "",
    "json": "    stages:\n"
            "      - json: {}\n"
            "      - labels: {level: }\n"
            "      - structured_metadata: {trace_id: }\n",
}


def one_run(bin_dir, case, path, work):
    run_dir = tempfile.mkdtemp(dir=work)
    log_dir = os.path.join(run_dir, "in")
    os.makedirs(log_dir)
    target = os.path.join(log_dir, "app.log")
    try:
        os.link(path, target)
    except OSError:
        shutil.copyfile(path, target)
    size = os.path.getsize(target)
    port = free_port()
    server = subprocess.Popen([os.path.join(bin_dir, "strata"), "serve", "--data-dir",
                               os.path.join(run_dir, "data"), "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/ready", timeout=1)
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    positions = os.path.join(run_dir, "positions.json")
    config = os.path.join(run_dir, "agent.yaml")
    with open(config, "w") as f:
        f.write(f"positions: {positions}\nsources:\n  - type: file\n    paths: [{target}]\n"
                f"    labels: {{job: bench}}\n{STAGES[case]}output: {{type: loki, url: '{url}'}}\npoll: 50ms\n")
    server_cpu_before = bench.cpu_seconds(server.pid)
    start = time.time()
    agent = subprocess.Popen([os.path.join(bin_dir, "strata"), "agent", "--config", config],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**os.environ, "RUST_LOG": "warn"})
    # Steady state: from the first acknowledged batch to the end (the
    # agent's start-up, ~0.2 CPU-s for OpenSSL's CA store, is left out).
    first = None
    try:
        deadline = time.time() + 600
        while True:
            try:
                with open(positions) as f:
                    done = sum(p["offset"] for p in json.load(f)["files"])
                if first is None and done > 0:
                    first = (done, bench.cpu_seconds(agent.pid))
                if done >= size:
                    break
            except (OSError, ValueError, KeyError):
                pass
            if agent.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"agent stopped or timed out ({case})")
            time.sleep(0.05)
        wall = time.time() - start
        agent_cpu = bench.cpu_seconds(agent.pid)
        agent_rss = bench.peak_rss_mb(agent.pid)
        server_cpu = bench.cpu_seconds(server.pid) - server_cpu_before
    finally:
        agent.kill()
        agent.wait()
        server.kill()
        server.wait()
        subprocess.run(["rm", "-rf", run_dir])
    mb = size / 1e6
    first_bytes, first_cpu = first or (0, 0.0)
    steady_mb = (size - first_bytes) / 1e6
    return {"mb": mb, "wall": wall, "agent_cpu": agent_cpu, "server_cpu": server_cpu,
            "agent_rss": agent_rss,
            "agent_mb_per_cpu": mb / max(agent_cpu, 0.01),
            "agent_steady_mb_per_cpu": steady_mb / max(agent_cpu - first_cpu, 0.01),
            "server_mb_per_cpu": mb / max(server_cpu, 0.01)}


def table(results, args):
    lines = [
        f"`{args.command_line}`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; "
        f"median of {args.runs} runs; lines from the benchmark corpus.",
        "",
        "| case | MB | agent CPU-s | agent MB/s per CPU-s | **agent MB/s per CPU-s, steady** | agent peak RSS | server CPU-s | server MB/s per CPU-s | agent / server CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        lines.append(
            f"| {case} | {med['mb']:.1f} | {med['agent_cpu']:.2f} | {med['agent_mb_per_cpu']:.0f} | "
            f"**{med['agent_steady_mb_per_cpu']:.0f}** | "
            f"{med['agent_rss']:.1f} MB | {med['server_cpu']:.2f} | {med['server_mb_per_cpu']:.0f} | "
            f"{med['agent_cpu'] / max(med['server_cpu'], 0.01):.2f} |")
    return "\n".join(lines) + "\n"


def update_docs(text):
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    with open(path) as f:
        doc = f.read()
    if BEGIN not in doc:
        doc += f"\n## The agent\n\n{BEGIN}\n{END}\n"
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w") as f:
        f.write(f"{head}{BEGIN}\n{text}{END}{tail}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", help="corpus directory [default: the one bench/run.py uses]")
    parser.add_argument("--size", default="2GB")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--mb", type=float, default=60)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", default="/tmp/strata-agent-bench")
    parser.add_argument("--smoke", action="store_true", help="small corpus, debug build, 1 run: checks it works")
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args()
    args.command_line = "python3 bench/agent.py " + " ".join(sys.argv[1:])
    if args.smoke:
        args.size, args.mb, args.runs = "12MB", 2, 1
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    bin_dir = bench.build(target, release=not args.smoke)
    corpus_dir = args.corpus or os.path.expanduser(f"~/.cache/strata-bench/corpus-{args.size}-{args.seed}")
    bench.corpus(bin_dir, corpus_dir, args.size, args.seed)
    subprocess.run(["rm", "-rf", args.work])
    os.makedirs(args.work)
    files = inputs(corpus_dir, args.mb, args.work)
    results = {}
    for case in ("plain", "json"):
        results[case] = []
        for run_index in range(args.runs):
            result = one_run(bin_dir, case, files[case], args.work)
            bench.log(f"agent {case} run {run_index + 1}: {result}")
            results[case].append(result)
    text = table(results, args)
    print(text)
    if args.update_docs and not args.smoke:
        update_docs(text)
    subprocess.run(["rm", "-rf", args.work])


if __name__ == "__main__":
    main()
