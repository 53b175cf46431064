#!/usr/bin/env python3
"""A peer for bench/agent.py: syslog-ng shipping the same files to strata.

    python3 bench/peers/syslog_ng.py --smoke           # tiny files, 1 run: checks it works
    python3 bench/peers/syslog_ng.py --mb 200 --runs 3

Same job as `strata agent` in bench/agent.py: one file of corpus lines is
read from its beginning and pushed to a fresh `strata serve` over Loki's
JSON push API (`POST /loki/api/v1/push`).

  plain  the corpus's text lines, no parsing; one stream {job="bench"} per push;
  json   the corpus's model-serving JSON lines; json-parser() on each line,
         `level` as a label, `trace_id` as structured metadata (the third
         element of a value); one stream object per line in the push
         (syslog-ng's http() body is a per-message template, it cannot group
         lines by label set).

syslog-ng (Debian's package, installed with apt-get if missing) runs in the
foreground with its config, persist file, pid file and control socket in a
temp dir: file() source with flags(no-parse), flow control, http()
destination with workers(1) and batches of up to 1 MB (the agent's
batch_bytes). Timestamps are syslog-ng's receive time in nanoseconds. The
run ends when the server counts every line of the file (a count query every
0.5 s); a run that loses or duplicates lines fails. CPU seconds come from
/proc/PID/stat (user + system, the process plus any children), peak RSS from
VmHWM. Reported: MB of log lines per syslog-ng CPU-second over the whole run
and in steady state (from the first delivered lines to the end), median of
--runs runs.

Python 3 standard library only; builds nothing: give it a built strata with
--strata.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from agent import free_port, inputs  # noqa: E402  (the same input files as bench/agent.py)
from run import peak_rss_mb  # noqa: E402

SYSLOG_NG_PACKAGES = ["syslog-ng-core", "syslog-ng-mod-http"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def ensure_syslog_ng():
    """Installs syslog-ng (core + the http() destination) if missing."""
    have = shutil.which("syslog-ng") and any(
        os.path.exists(f"/usr/lib/syslog-ng/{d}/libhttp.so")
        for d in (os.listdir("/usr/lib/syslog-ng") if os.path.isdir("/usr/lib/syslog-ng") else []))
    if have:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log("installing " + " ".join(SYSLOG_NG_PACKAGES))
    subprocess.run(sudo + ["apt-get", "update"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "--no-install-recommends"] + SYSLOG_NG_PACKAGES,
                   check=True, env=env)


def syslog_ng_version():
    out = subprocess.run(["syslog-ng", "--version"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Revision:"):
            return line.split(":", 1)[1].strip()
    return out.splitlines()[0] if out else "?"


def strata_version(binary):
    out = subprocess.run([binary, "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).strip()


def descendants(pid):
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            kids.append(int(entry))
    return kids + [d for k in kids for d in descendants(k)]


def cpu_seconds(pid):
    """User + system CPU of pid, its waited-for children, and its live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for i, p in enumerate([pid] + descendants(pid)):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        if i == 0:
            total += int(fields[13]) + int(fields[14])
    return total / ticks


def count_lines(path):
    n = 0
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return n
            n += chunk.count(b"\n")


# The line, JSON-escaped: $(format-json) of a one-key object {"l":"..."}
# with the 5 leading bytes `{"l":` and the trailing `}` cut off.
LINE = '$(substr "$(format-json --scope none l=$MSG)" 5 -1)'
# Receive time, to the second, then the line's receipt id (a counter) as
# 9 digits of nanoseconds: unique and increasing, like the agent's read time
# bumped by 1 ns per line. (syslog-ng caches the time per fetch of
# log-fetch-limit lines: ${R_UNIXTIME}${R_USEC}000 gives 1000 lines one
# timestamp, and the server keeps one of two equal lines at one timestamp.)
TS = "${R_UNIXTIME}$(padding ${RCPTID} 9 0)"

BODIES = {
    # One stream per push: every line has the same labels.
    "plain": {
        "prefix": '{"streams":[{"stream":{"job":"bench"},"values":[',
        "body": f'["{TS}",{LINE}]',
        "suffix": "]}]}",
        "parser": "",
    },
    # One stream object per line: labels {job, level}, metadata {trace_id}.
    "json": {
        "prefix": '{"streams":[',
        "body": ('{"stream":$(format-json --scope none job=bench level=${.json.level}),'
                 f'"values":[["{TS}",{LINE},'
                 '$(format-json --scope none trace_id=${.json.trace_id})]]}'),
        "suffix": "]}",
        "parser": 'parser { json-parser(prefix(".json.")); };',
    },
}


def sq(s):
    """A syslog-ng single-quoted string (no escapes inside; s has no ')."""
    assert "'" not in s
    return f"'{s}'"


def config(case, target, url):
    b = BODIES[case]
    return f"""@version: 3.38
options {{
  threaded(yes); stats-freq(0); mark-freq(0); use-dns(no); use-fqdn(no); dns-cache(no);
  chain-hostnames(no); keep-hostname(yes); log-msg-size(65536); use-rcptid(yes);
}};
source s_bench {{
  file("{target}" flags(no-parse) follow-freq(1) log-fetch-limit(1000) log-iw-size(20000));
}};
destination d_strata {{
  http(
    url("{url}/loki/api/v1/push")
    method("POST")
    headers("Content-Type: application/json")
    workers(1)
    batch-lines(20000)
    batch-bytes(1048576)
    batch-timeout(100)
    log-fifo-size(40000)
    body-prefix({sq(b["prefix"])})
    delimiter(",")
    body-suffix({sq(b["suffix"])})
    body({sq(b["body"])})
  );
}};
log {{
  source(s_bench);
  {b["parser"]}
  destination(d_strata);
  flags(flow-control);
}};
"""


def query_count(url):
    q = urllib.parse.urlencode({"query": 'sum(count_over_time({job="bench"}[1h]))'})
    with urllib.request.urlopen(f"{url}/loki/api/v1/query?{q}", timeout=10) as r:
        data = json.load(r)["data"]["result"]
    return int(float(data[0]["value"][1])) if data else 0


def verify(url, case, path, lines):
    """Every line of the file is on the server, byte for byte, with its
    labels and metadata (json: level label, trace_id metadata)."""
    got = []
    start = time.time_ns() - 3600 * 10**9
    end = time.time_ns() + 60 * 10**9
    first = None
    while True:
        q = urllib.parse.urlencode({"query": '{job="bench"}', "start": str(start), "end": str(end),
                                    "direction": "forward", "limit": "5000"})
        req = urllib.request.Request(f"{url}/loki/api/v1/query_range?{q}",
                                     headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"})
        with urllib.request.urlopen(req, timeout=120) as r:
            result = json.load(r)["data"]["result"]
        page = []
        for stream in result:
            labels = stream["stream"]
            for value in stream["values"]:
                meta = {}
                if len(value) > 2 and isinstance(value[2], dict):
                    meta = value[2].get("structuredMetadata", value[2])
                page.append((int(value[0]), value[1], labels, meta))
        if first is None and result:
            first = f"{json.dumps(result[0]['stream'])} {json.dumps(result[0]['values'][0])[:300]}"
        if not page:
            break
        got.extend(page)
        # Timestamps are unique (the receipt id is in them): page on.
        start = max(p[0] for p in page) + 1
    got = [g[1:] for g in got]
    with open(path) as f:
        want = [line.rstrip("\n") for line in f]
    if sorted(g[0] for g in got) != sorted(want):
        raise RuntimeError(f"{case}: the server's lines differ from the file's")
    if case == "json":
        for line, labels, meta in got:
            doc = json.loads(line)
            if labels.get("level") != doc.get("level"):
                raise RuntimeError(f"json: level label {labels} for {line}")
            trace = meta.get("trace_id", labels.get("trace_id"))
            if trace != doc.get("trace_id"):
                raise RuntimeError(f"json: trace_id {meta} / {labels} for {line}")
    log(f"{case}: verified {len(got)} lines (content{', level, trace_id' if case == 'json' else ''}); "
        f"e.g. {first}")


def wait_ready(url, proc, seconds=30):
    deadline = time.time() + seconds
    while True:
        try:
            urllib.request.urlopen(url + "/ready", timeout=1)
            return
        except Exception:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("strata serve did not become ready")
            time.sleep(0.05)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def one_run(strata, case, path, lines, work, keep_conf=None, check=False):
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
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([strata, "serve", "--data-dir", os.path.join(run_dir, "data"),
                               "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    agent = None
    try:
        wait_ready(url, server)
        conf = os.path.join(run_dir, "syslog-ng.conf")
        with open(conf, "w") as f:
            f.write(config(case, target, url))
        if keep_conf is not None:
            keep_conf[case] = config(case, target, url)
        syntax = subprocess.run(["syslog-ng", "-s", "-f", conf], capture_output=True, text=True)
        if syntax.returncode != 0:
            raise RuntimeError(f"syslog-ng -s: {syntax.stderr}")
        errlog = os.path.join(run_dir, "syslog-ng.err")
        start = time.time()
        with open(errlog, "w") as err:
            agent = subprocess.Popen(
                ["syslog-ng", "-F", "--no-caps", "-f", conf,
                 "--persist-file", os.path.join(run_dir, "syslog-ng.persist"),
                 "--pidfile", os.path.join(run_dir, "syslog-ng.pid"),
                 "--control", os.path.join(run_dir, "syslog-ng.ctl")],
                stdout=subprocess.DEVNULL, stderr=err)
        first = None
        count = 0
        deadline = time.time() + 900
        progress = (0, time.time())
        while True:
            # Cheap polls: every 50 ms until the first lines land (to start
            # the steady state near there), then every 0.5 s.
            time.sleep(0.05 if first is None else 0.5)
            if agent.poll() is not None:
                with open(errlog) as f:
                    raise RuntimeError(f"syslog-ng exited ({case}): {f.read()[-2000:]}")
            try:
                count = query_count(url)
            except Exception as e:  # noqa: BLE001
                log(f"count query failed: {e}")
                continue
            if first is None and count > 0:
                first = (count, cpu_seconds(agent.pid), time.time())
            if count != progress[0]:
                progress = (count, time.time())
            if count >= lines or time.time() > deadline or time.time() - progress[1] > 30:
                break
        wall = time.time() - start
        cpu = cpu_seconds(agent.pid)
        rss = peak_rss_mb(agent.pid)
        # Anything still in flight (there should be nothing: count == lines).
        time.sleep(1.0)
        final = query_count(url)
        if check and final == lines:
            verify(url, case, path, lines)
    finally:
        if agent is not None:
            stop(agent)
        stop(server)
        subprocess.run(["rm", "-rf", run_dir])
    if final != lines:
        raise RuntimeError(f"{case}: server has {final} lines, the file has {lines}")
    mb = size / 1e6
    first_lines, first_cpu, first_time = first
    steady_mb = mb * (lines - first_lines) / lines
    return {"mb": mb, "wall": wall, "cpu": cpu, "rss": rss,
            "mb_per_cpu": mb / max(cpu, 0.01),
            "steady_mb_per_cpu": steady_mb / max(cpu - first_cpu, 0.01),
            "steady_wall": wall - (first_time - start),
            "delivered": final, "lines": lines}


def table(results, args, versions):
    lines = [
        f"`{args.command_line}`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; "
        f"median of {args.runs} runs; {versions}.",
        "",
        "| case | MB | syslog-ng CPU-s | syslog-ng MB per CPU-s | **syslog-ng MB per CPU-s, steady** "
        "| peak RSS | wall s | lines delivered / lines in file |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        delivered = " ".join(f"{r['delivered']}/{r['lines']}" for r in runs)
        lines.append(
            f"| {case} | {med['mb']:.1f} | {med['cpu']:.2f} | {med['mb_per_cpu']:.1f} | "
            f"**{med['steady_mb_per_cpu']:.1f}** | {med['rss']:.1f} MB | {med['wall']:.1f} | {delivered} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = os.environ.get("CARGO_TARGET_DIR")
    default_strata = (os.path.join(target, "release", "strata") if target
                      else "/root/target/strata/release/strata")
    parser.add_argument("--strata", default=default_strata, help="a built strata binary [%(default)s]")
    parser.add_argument("--corpus", default="/root/corpus-2g", help="benchmark corpus [%(default)s]")
    parser.add_argument("--mb", type=float, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", default=None, help="work directory [a new temp dir]")
    parser.add_argument("--smoke", action="store_true", help="tiny files, 1 run: checks it works")
    parser.add_argument("--verify", action="store_true",
                        help="after each run, compare every line on the server with the file (on with --smoke)")
    parser.add_argument("--show-config", action="store_true", help="print the syslog-ng configs used")
    args = parser.parse_args()
    args.command_line = "python3 bench/peers/syslog_ng.py " + " ".join(sys.argv[1:])
    if args.smoke:
        args.mb, args.runs = 1, 1
    if not os.access(args.strata, os.X_OK):
        sys.exit(f"no strata binary at {args.strata} (build it, or pass --strata)")
    ensure_syslog_ng()
    versions = f"syslog-ng {syslog_ng_version()}, {strata_version(args.strata)}"
    work = args.work or tempfile.mkdtemp(prefix="strata-syslog-ng-bench-")
    subprocess.run(["rm", "-rf", work])
    os.makedirs(work)
    confs = {}
    try:
        files = inputs(args.corpus, args.mb, work)
        results = {}
        for case in ("plain", "json"):
            lines = count_lines(files[case])
            results[case] = []
            for run_index in range(args.runs):
                result = one_run(args.strata, case, files[case], lines, work, confs,
                                 check=args.smoke or args.verify)
                log(f"syslog-ng {case} run {run_index + 1}: {result}")
                results[case].append(result)
    finally:
        subprocess.run(["rm", "-rf", work])
    print(table(results, args, versions))
    if args.show_config:
        for case, text in confs.items():
            print(f"syslog-ng config, {case}:\n```\n{text}```\n")


if __name__ == "__main__":
    main()
