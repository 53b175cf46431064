#!/usr/bin/env python3
"""The side-by-side benchmark: strata against ClickHouse (chdb), DuckDB,
ripgrep and zstd on one generated corpus, in one run.

    python3 bench/run.py                  # 2 GB corpus, full run, writes the table
    python3 bench/run.py --smoke          # tiny corpus, answers checked, no timing claims

What it does (docs/benchmarks.md explains the choices):
 1. builds `strata` and `strata-corpus` (release), installs the peers (pip:
    chdb, duckdb from bench/requirements.txt; ripgrep from Debian's packages
    or crates.io when `rg` is missing);
 2. generates the corpus (deterministic from --seed and --size; reused when
    its manifest matches);
 3. strata: starts `strata serve`, pushes the corpus over HTTP (protobuf,
    --clients concurrent clients, --batch lines per request), measures
    lines/s, MB/s, server CPU seconds (/proc/PID/stat) and peak RSS, flushes
    and waits for merges, measures bytes on disk, restarts the server and runs
    the query set warm (first run discarded, median of --runs), reading the
    peak RSS of the query phase;
 4. the peers load the same rows and run the same questions;
 5. every answer is checked against the corpus manifest; a wrong answer fails
    the run (exit 1);
 6. writes a markdown table (strata beside each peer, with ratios) to
    WORK/results.md and, with --update-docs, into docs/benchmarks.md.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lecture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(cmd, **kwargs):
    log("$ " + " ".join(cmd))
    return subprocess.run(cmd, check=True, **kwargs)


# ---------------------------------------------------------------- setup

def build(target_dir, release):
    profile = ["--release"] if release else []
    run(["cargo", "build", *profile, "--quiet", "-p", "strata", "-p", "strata-corpus"],
        cwd=ROOT, env={**os.environ, "CARGO_TARGET_DIR": target_dir})
    return os.path.join(target_dir, "release" if release else "debug")


def install_peers():
    try:
        import chdb  # noqa: F401
        import duckdb  # noqa: F401
    except ImportError:
        run([sys.executable, "-m", "pip", "install", "--quiet", "-r",
             os.path.join(ROOT, "bench", "requirements.txt")])
    def apt_install(package):
        if not (shutil.which("apt-get") and os.geteuid() == 0):
            return
        for attempt in range(2):
            if attempt:
                subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=subprocess.DEVNULL)
            if subprocess.run(["apt-get", "install", "-y", "-qq", package], check=False,
                              stdout=subprocess.DEVNULL).returncode == 0:
                return

    if shutil.which("rg") is None:
        apt_install("ripgrep")
        if shutil.which("rg") is None:
            run(["cargo", "install", "--quiet", "ripgrep"])
    if shutil.which("zstd") is None:
        apt_install("zstd")
    for tool in ("rg", "zstd"):
        if shutil.which(tool) is None:
            sys.exit(f"cannot install {tool}")


def corpus(bin_dir, directory, size, seed):
    manifest_path = os.path.join(directory, "manifest.json")
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get("seed") == seed and manifest.get("size_target") == parse_size(size):
            log(f"reusing corpus {directory}")
            return manifest
    shutil.rmtree(directory, ignore_errors=True)
    run([os.path.join(bin_dir, "strata-corpus"), "generate", "--out", directory,
         "--size", size, "--seed", str(seed)])
    with open(manifest_path) as f:
        return json.load(f)


def parse_size(text):
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "B": 1}
    for unit, factor in units.items():
        if text.upper().endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


# ---------------------------------------------------------------- process stats

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def dir_bytes(path):
    total = 0
    for base, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except FileNotFoundError:
                pass
    return total


def writing_parts(path):
    """Parts being written (temp files) under a data directory."""
    return sum(1 for _, _, files in os.walk(path) for name in files if name.endswith(".tmp"))


def timed(fn, runs):
    """Warm timing: one discarded run, then the median of `runs`; returns (seconds, answer)."""
    answer = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), answer


# ---------------------------------------------------------------- strata

class Strata:
    def __init__(self, bin_dir, work):
        self.bin = os.path.join(bin_dir, "strata")
        self.data = os.path.join(work, "strata-data")
        self.work = work
        self.proc = None
        self.url = None

    def start(self):
        out = open(os.path.join(self.work, "strata.out"), "w")
        err = open(os.path.join(self.work, "strata.err"), "a")
        self.proc = subprocess.Popen([self.bin, "serve", "--data-dir", self.data, "--listen", "127.0.0.1:0"],
                                     stdout=out, stderr=err)
        deadline = time.time() + 60
        while time.time() < deadline:
            with open(os.path.join(self.work, "strata.out")) as f:
                for line in f:
                    if line.startswith("listening on "):
                        self.url = line.split()[-1].strip()
                        return
            if self.proc.poll() is not None:
                sys.exit("strata serve exited; see " + os.path.join(self.work, "strata.err"))
            time.sleep(0.05)
        sys.exit("strata serve did not start")

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=120)
            self.proc = None

    def get(self, path, params=None):
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=600) as response:
            return json.load(response) if response.headers.get_content_type() == "application/json" else response.read()

    def post(self, path):
        request = urllib.request.Request(self.url + path, method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=600) as response:
            return response.read()

    def metric(self, name):
        text = self.get("/metrics").decode()
        for line in text.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def ingest(self, bin_dir, corpus_dir, clients, batch):
        self.start()
        pid = self.proc.pid
        cpu0 = cpu_seconds(pid)
        start = time.perf_counter()
        out = subprocess.run([os.path.join(bin_dir, "strata-corpus"), "push", "--url", self.url,
                              "--clients", str(clients), "--batch", str(batch), "--trace-metadata", corpus_dir],
                             check=True, capture_output=True, text=True)
        wall = time.perf_counter() - start
        cpu_push = cpu_seconds(pid) - cpu0
        rss_push = peak_rss_mb(pid)
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        # Flush, then wait until background merges settle (no part being
        # written, counters still for 5 s): the CPU they take is ingest's cost.
        self.post("/flush")
        stable_since, last = time.time(), None
        while time.time() - stable_since < 5:
            now = (self.metric("strata_parts"), self.metric("strata_merges_total"), writing_parts(self.data))
            if now != last or now[2]:
                stable_since, last = time.time(), now
            time.sleep(0.5)
        cpu_total = cpu_seconds(pid) - cpu0
        result = {
            "entries": summary["entries"], "bytes": summary["bytes"], "wall": wall,
            "cpu_push": cpu_push, "cpu_total": cpu_total, "rss_push_mb": rss_push,
            "rss_total_mb": peak_rss_mb(pid), "parts": self.metric("strata_parts"),
        }
        self.stop()
        result["disk"] = dir_bytes(self.data)
        return result


def strata_queries(strata, manifest, runs):
    start_ns, end_ns = manifest["start_ns"], manifest["end_ns"]
    span_s = -(-(end_ns - start_ns) // 10**9)
    rng = f"{span_s + 60}s"
    at = end_ns - 1  # instant queries: the window (at - rng, at] holds every entry
    everything = '{cluster=~".+"}'

    def log_query(query, limit=1000):
        def go():
            data = strata.get("/loki/api/v1/query_range", {"query": query, "start": start_ns, "end": end_ns,
                                                           "limit": limit, "direction": "backward"})
            return sum(len(s["values"]) for s in data["data"]["result"])
        return go

    def instant(query):
        def go():
            data = strata.get("/loki/api/v1/query", {"query": query, "time": at})
            return data["data"]["result"]
        return go

    def scalar_sum(query):
        inner = instant(query)
        return lambda: round(sum(float(r["value"][1]) for r in inner()))

    def by_level():
        data = strata.get("/loki/api/v1/query_range", {
            "query": f"sum by (level) (count_over_time({everything}[1m]))",
            "start": start_ns, "end": end_ns + 60 * 10**9, "step": "60s"})
        totals = {}
        for series in data["data"]["result"]:
            level = series["metric"].get("level", "")
            totals[level] = totals.get(level, 0) + round(sum(float(v[1]) for v in series["values"]))
        return totals

    labels_to_id = {tuple(sorted(s["labels"].items())): s["id"] for s in manifest["streams"]}
    # Structured metadata (the trace ids) is part of a metric series, as in
    # Loki: sum it away to rank streams.
    top_query = f"topk(10, sum without (trace_id) (rate({everything}[{rng}])))"

    def top_streams():
        # An instant vector comes sorted by labels (as Loki does): rank by value.
        result = instant(top_query)()
        ranked = sorted(result, key=lambda r: -float(r["value"][1]))
        return [labels_to_id.get(tuple(sorted(r["metric"].items()))) for r in ranked]

    return run_set(strata_set(manifest, log_query, scalar_sum, by_level, top_streams, everything, rng, top_query), runs)


def strata_set(manifest, log_query, scalar_sum, by_level, top_streams, everything, rng, top_query):
    n = manifest["needles"]
    trace = n["trace_ids"][0]["text"]
    jf = manifest["json_filter"]
    # Bloom filters index whole tokens: a literal prunes when a separator
    # delimits the token inside it (a bare "word" may sit inside a longer
    # token, so it cannot prune). Trace ids travel as structured metadata.
    needle = f'{everything} |= " {n["rare_token"]["text"]} "'
    trace_query = f'{everything} | trace_id="{trace}"'
    queries = {
        "needle": (needle, log_query(needle)),
        "trace": (trace_query, log_query(trace_query)),
        "common": (f'sum(count_over_time({everything} |= "{n["common_token"]["text"]}" [{rng}]))',
                   scalar_sum(f'sum(count_over_time({everything} |= "{n["common_token"]["text"]}" [{rng}]))')),
        "substring": (f'{everything} |= "{n["substring"]["text"]}"', log_query(f'{everything} |= "{n["substring"]["text"]}"')),
        "by_level": (f"sum by (level) (count_over_time({everything}[1m])), step 60s", by_level),
        "json_filter": (f'sum(count_over_time({{app="{jf["app"]}"}} | json | __error__="" | {jf["field"]} > {jf["threshold"]} [{rng}]))',
                        scalar_sum(f'sum(count_over_time({{app="{jf["app"]}"}} | json | __error__="" | {jf["field"]} > {jf["threshold"]} [{rng}]))')),
        "top_streams": (top_query, top_streams),
    }
    if "regex" in manifest["needles"] or "regex" in manifest:
        regex = manifest["needles"].get("regex") or manifest["regex"]
        text = regex["text"].replace("\\", "\\\\")
        q = f'sum(count_over_time({everything} |~ "{text}" [{rng}]))'
        queries["regex"] = (q, scalar_sum(q))
    return queries


def run_set(queries, runs):
    results = {}
    for name, (text, fn) in queries.items():
        try:
            seconds, answer = timed(fn, runs)
            results[name] = {"query": text, "seconds": seconds, "answer": answer}
        except Exception as err:  # a failing query is reported, and fails the check
            results[name] = {"query": text, "seconds": None, "answer": None, "error": str(err)[:300]}
        log(f"  {name}: {results[name].get('seconds')} s -> {str(results[name].get('answer'))[:80]}")
    return results


# ---------------------------------------------------------------- ClickHouse (chdb)

CH_TSV_COLUMNS = ("ts Int64, stream UInt32, cluster String, namespace String, app String, pod String, "
                  "container String, job_type String, level String, line String")
CH_SETTINGS = " SETTINGS use_query_condition_cache = 0"
# What `strata-corpus push --trace-metadata` sends as structured metadata.
TRACE_RE = '(?:"trace_id":"|trace_id=)([0-9a-fA-F]+)'


def clickhouse(corpus_dir, work, manifest, runs):
    from chdb import session as chs
    path = os.path.join(work, "chdb")
    shutil.rmtree(path, ignore_errors=True)
    sess = chs.Session(path)
    sess.query("CREATE DATABASE IF NOT EXISTS bench")
    sess.query("""
        CREATE TABLE bench.logs (
            ts DateTime64(9) CODEC(Delta(8), ZSTD(1)),
            stream UInt32,
            cluster LowCardinality(String), namespace LowCardinality(String), app LowCardinality(String),
            pod LowCardinality(String), container LowCardinality(String), job_type LowCardinality(String),
            level LowCardinality(String),
            line String CODEC(ZSTD(1)),
            trace_id String CODEC(ZSTD(1)),
            INDEX line_tokens line TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 1,
            INDEX trace_ids trace_id TYPE bloom_filter(0.01) GRANULARITY 1
        ) ENGINE = MergeTree ORDER BY (stream, ts)""")
    tsv = os.path.join(os.path.abspath(corpus_dir), "corpus.tsv")
    start = time.perf_counter()
    # The trace id becomes a column, as strata gets it as structured metadata.
    sess.query(f"""INSERT INTO bench.logs SELECT fromUnixTimestamp64Nano(ts), stream, cluster, namespace, app,
                   pod, container, job_type, level, line, extract(line, '{TRACE_RE}')
                   FROM file('{tsv}', 'TSV', '{CH_TSV_COLUMNS}')""")
    sess.query("OPTIMIZE TABLE bench.logs FINAL")
    load = time.perf_counter() - start
    disk = int(sess.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE database='bench' AND table='logs' AND active",
                          "CSV").bytes().decode().strip() or 0)
    rows = int(sess.query("SELECT count() FROM bench.logs", "CSV").bytes().decode().strip())

    def q(sql, fmt="JSONCompact"):
        def go():
            return json.loads(sess.query(sql + CH_SETTINGS, fmt).bytes())["data"]
        return go

    def count_rows(sql):
        inner = q(sql)
        return lambda: len(inner())

    def first_int(sql):
        inner = q(sql)
        return lambda: int(inner()[0][0])

    n = manifest["needles"]
    jf = manifest["json_filter"]
    trace = n["trace_ids"][0]["text"]
    lines_where = "SELECT ts, line FROM bench.logs WHERE {} ORDER BY ts DESC LIMIT 1000"

    def by_level():
        data = q("SELECT level, toStartOfMinute(ts) AS minute, count() FROM bench.logs GROUP BY level, minute")()
        totals = {}
        for level, _, count in data:
            totals[level] = totals.get(level, 0) + int(count)
        return totals

    def top_streams():
        return [int(r[0]) for r in q("SELECT stream, count() AS c FROM bench.logs GROUP BY stream ORDER BY c DESC LIMIT 10")()]

    queries = {
        "needle": ("hasToken(line, needle)", count_rows(lines_where.format(f"hasToken(line, '{n['rare_token']['text']}')"))),
        "trace": ("trace_id = … (bloom_filter index)", count_rows(lines_where.format(f"trace_id = '{trace}'"))),
        "common": ("count() WHERE line LIKE '%ERROR%'", first_int(f"SELECT count() FROM bench.logs WHERE line LIKE '%{n['common_token']['text']}%'")),
        "substring": ("line LIKE '%…%'", count_rows(lines_where.format(f"line LIKE '%{n['substring']['text']}%'"))),
        "by_level": ("GROUP BY level, toStartOfMinute(ts)", by_level),
        "json_filter": ("JSONExtractFloat(line, field) > threshold",
                        first_int(f"SELECT count() FROM bench.logs WHERE app = '{jf['app']}' AND isValidJSON(line) AND JSONExtractFloat(line, '{jf['field']}') > {jf['threshold']}")),
        "top_streams": ("GROUP BY stream ORDER BY count() DESC LIMIT 10", top_streams),
    }
    regex = n.get("regex") or manifest.get("regex")
    if regex:
        pattern = regex["text"].replace("\\", "\\\\").replace("'", "\\'")
        queries["regex"] = ("match(line, regex)", first_int(f"SELECT count() FROM bench.logs WHERE match(line, '{pattern}')"))
    results = run_set(queries, runs)
    return {"load_seconds": load, "disk": disk, "rows": rows, "queries": results}


# ---------------------------------------------------------------- DuckDB

def duckdb_peer(corpus_dir, work, manifest, runs):
    import duckdb
    path = os.path.join(work, "duck.db")
    for suffix in ("", ".wal"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    con = duckdb.connect(path)
    con.execute("SET threads TO 2")
    jsonl = os.path.join(os.path.abspath(corpus_dir), "corpus.jsonl")
    start = time.perf_counter()
    con.execute(f"""CREATE TABLE logs AS SELECT make_timestamp_ns(ts) AS ts, stream,
        labels.cluster AS cluster, labels.namespace AS namespace, labels.app AS app, labels.pod AS pod,
        labels.container AS container, labels.job_type AS job_type, labels.level AS level, line,
        regexp_extract(line, '{TRACE_RE}', 1) AS trace_id
        FROM read_json('{jsonl}', format='newline_delimited', maximum_object_size=16777216,
          columns={{ts: 'BIGINT', stream: 'INTEGER', labels: 'STRUCT(cluster VARCHAR, namespace VARCHAR, app VARCHAR, pod VARCHAR, container VARCHAR, job_type VARCHAR, level VARCHAR)', line: 'VARCHAR'}})
        ORDER BY stream, ts""")
    con.execute("CHECKPOINT")
    load = time.perf_counter() - start
    disk = os.path.getsize(path)

    def rows(sql):
        return lambda: len(con.execute(sql).fetchall())

    def first_int(sql):
        return lambda: int(con.execute(sql).fetchone()[0])

    n = manifest["needles"]
    jf = manifest["json_filter"]
    trace = n["trace_ids"][0]["text"]
    lines_where = "SELECT ts, line FROM logs WHERE {} ORDER BY ts DESC LIMIT 1000"

    def by_level():
        totals = {}
        for level, _, count in con.execute(
                "SELECT level, date_trunc('minute', ts) AS minute, count(*) FROM logs GROUP BY level, minute").fetchall():
            totals[level] = totals.get(level, 0) + int(count)
        return totals

    def top_streams():
        return [int(r[0]) for r in con.execute(
            "SELECT stream, count(*) AS c FROM logs GROUP BY stream ORDER BY c DESC LIMIT 10").fetchall()]

    queries = {
        "needle": ("contains(line, needle)", rows(lines_where.format(f"contains(line, '{n['rare_token']['text']}')"))),
        "trace": ("trace_id = …", rows(lines_where.format(f"trace_id = '{trace}'"))),
        "common": ("count(*) WHERE contains(line, 'ERROR')", first_int(f"SELECT count(*) FROM logs WHERE contains(line, '{n['common_token']['text']}')")),
        "substring": ("contains(line, …)", rows(lines_where.format(f"contains(line, '{n['substring']['text']}')"))),
        "by_level": ("GROUP BY level, date_trunc('minute', ts)", by_level),
        "json_filter": ("TRY_CAST(json_extract_string(line, field) AS DOUBLE) > threshold",
                        first_int(f"SELECT count(*) FROM logs WHERE app = '{jf['app']}' AND json_valid(line) AND TRY_CAST(json_extract_string(line, '$.{jf['field']}') AS DOUBLE) > {jf['threshold']}")),
        "top_streams": ("GROUP BY stream ORDER BY count(*) DESC LIMIT 10", top_streams),
    }
    regex = n.get("regex") or manifest.get("regex")
    if regex:
        pattern = regex["text"].replace("'", "''")
        queries["regex"] = ("regexp_matches(line, regex)", first_int(f"SELECT count(*) FROM logs WHERE regexp_matches(line, '{pattern}')"))
    results = run_set(queries, runs)
    con.close()
    return {"load_seconds": load, "disk": disk, "queries": results}


# ---------------------------------------------------------------- ripgrep and zstd

def ripgrep(corpus_dir, manifest, runs):
    streams = os.path.join(corpus_dir, "streams")
    n = manifest["needles"]

    def count(args):
        def go():
            out = subprocess.run(["rg", "--no-filename", "-c", *args, streams], capture_output=True, text=True)
            if out.returncode not in (0, 1):
                raise RuntimeError(out.stderr.strip())
            return sum(int(x) for x in out.stdout.split())
        return go

    queries = {
        "needle": ("rg -F -c needle", count(["-F", n["rare_token"]["text"]])),
        "trace": ("rg -F -c trace_id", count(["-F", n["trace_ids"][0]["text"]])),
        "substring": ("rg -F -c substring", count(["-F", n["substring"]["text"]])),
    }
    regex = n.get("regex") or manifest.get("regex")
    if regex:
        queries["regex"] = ("rg -c regex", count([regex["text"]]))
    return {"queries": run_set(queries, runs)}


def zstd_size(corpus_dir):
    streams = os.path.join(corpus_dir, "streams")
    files = sorted(os.path.join(streams, f) for f in os.listdir(streams))
    total = 0
    for path in files:
        out = subprocess.run(["zstd", "-3", "-q", "-c", path], check=True, capture_output=True)
        total += len(out.stdout)
    return total


# ---------------------------------------------------------------- checking

def expected_answers(manifest):
    n = manifest["needles"]
    expected = {
        "needle": n["rare_token"]["entries"],
        "trace": n["trace_ids"][0]["entries"],
        "common": n["common_token"]["entries"],
        "substring": n["substring"]["entries"],
        "by_level": {k: v for k, v in manifest["level_counts"].items() if v},
        "json_filter": manifest["json_filter"]["entries"],
        "top_streams": manifest["top_streams"],
    }
    regex = n.get("regex") or manifest.get("regex")
    if regex:
        expected["regex"] = regex["entries"]
    return expected


def check(system, results, expected, failures):
    for name, result in results.items():
        want = expected.get(name)
        got = result.get("answer")
        ok = got == want
        result["ok"] = ok
        if not ok:
            failures.append(f"{system} {name}: got {str(got)[:200]} want {str(want)[:200]}"
                            + (f" ({result['error']})" if result.get("error") else ""))


# ---------------------------------------------------------------- report

QUERY_ROWS = [
    ("needle", "rare token (bloom-prunable), lines back"),
    ("trace", "trace id lookup (structured metadata; a column in the peers), lines back"),
    ("common", "common token `ERROR`, count over the whole span"),
    ("substring", "substring no index helps, lines back"),
    ("regex", "case-insensitive regex, count"),
    ("by_level", "count by level per minute, whole span"),
    ("json_filter", "JSON field filter `latency_ms > 500`, count"),
    ("top_streams", "top-10 streams by rate"),
]


def fmt_s(seconds):
    if seconds is None:
        return "failed"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def ratio(peer, ours):
    if peer is None or ours is None or ours == 0:
        return "—"
    return f"{peer / ours:.1f}x"


def report(args, manifest, ingest, strata_q, ch, duck, rg, zstd_bytes, rss_query):
    raw = manifest["bytes"]
    lines = []
    add = lines.append
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                         capture_output=True, text=True).stdout.strip()
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    add(f"Run on {datetime.date.today().isoformat()}: {os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB, "
        f"{platform.system()} {platform.release()}.")
    add("")
    add(f"Command: `{args.command_line}`")
    add("")
    add(f"Corpus: `strata-corpus generate --size {args.size} --seed {args.seed}`: {manifest['entries']:,} entries, "
        f"{raw / 1e9:.2f} GB raw, {len(manifest['streams'])} streams, "
        f"{(manifest['end_ns'] - manifest['start_ns']) / 3.6e12:.1f} h of timestamps.")
    add("")
    add("### Ingest (strata, HTTP push, protobuf+snappy)")
    add("")
    per_cpu = ingest["entries"] / ingest["cpu_total"] if ingest["cpu_total"] else float("nan")
    add("| measure | value |")
    add("|---|---|")
    add(f"| clients x batch | {args.clients} x {args.batch} lines |")
    add(f"| wall time | {ingest['wall']:.1f} s: {ingest['entries'] / ingest['wall']:,.0f} lines/s, {ingest['bytes'] / ingest['wall'] / 1e6:.1f} MB/s |")
    add(f"| server CPU while pushing | {ingest['cpu_push']:.1f} s |")
    add(f"| server CPU incl. flush and merges | {ingest['cpu_total']:.1f} s: **{per_cpu:,.0f} lines per CPU-second** |")
    add(f"| peak RSS while pushing / incl. flush+merge | {ingest['rss_push_mb']:.0f} MB / {ingest['rss_total_mb']:.0f} MB |")
    if ch:
        add(f"| (ClickHouse load of the TSV file, not HTTP, for scale) | {ch['load_seconds']:.1f} s |")
    add("")
    add("### Storage")
    add("")
    add("| system | bytes on disk | raw/disk | strata vs this |")
    add("|---|---|---|---|")
    add(f"| strata (everything in the data dir) | {ingest['disk'] / 1e6:,.1f} MB | {raw / ingest['disk']:.2f} | 1.00 |")
    if ch:
        add(f"| ClickHouse MergeTree (ZSTD(1), tokenbf_v1, OPTIMIZE FINAL) | {ch['disk'] / 1e6:,.1f} MB | {raw / ch['disk']:.2f} | {ingest['disk'] / ch['disk']:.2f}x |")
    if duck:
        add(f"| DuckDB file | {duck['disk'] / 1e6:,.1f} MB | {raw / duck['disk']:.2f} | {ingest['disk'] / duck['disk']:.2f}x |")
    if zstd_bytes:
        add(f"| zstd -3 of the raw stream files (no index) | {zstd_bytes / 1e6:,.1f} MB | {raw / zstd_bytes:.2f} | {ingest['disk'] / zstd_bytes:.2f}x |")
    add("")
    add(f"### Queries (warm, median of {args.runs}; the ratio is peer time / strata time, >1 means strata is faster)")
    add("")
    add("| query | strata | ClickHouse | ratio | DuckDB | ratio | ripgrep | ratio | answers |")
    add("|---|---|---|---|---|---|---|---|---|")
    for name, label in QUERY_ROWS:
        if name not in strata_q:
            continue
        ours = strata_q[name]["seconds"]
        cells = [label, fmt_s(ours)]
        oks = [strata_q[name].get("ok")]
        for peer in (ch, duck, rg):
            result = peer["queries"].get(name) if peer else None
            if result is None:
                cells += ["—", "—"]
                continue
            cells += [fmt_s(result["seconds"]), ratio(result["seconds"], ours)]
            oks.append(result.get("ok"))
        cells.append("all correct" if all(oks) else "**WRONG**")
        add("| " + " | ".join(cells) + " |")
    add("")
    add(f"Peak RSS of the strata server over the whole query set (restarted before it): {rss_query:.0f} MB.")
    add("")
    add("strata queries, as sent:")
    add("")
    for name, _ in QUERY_ROWS:
        if name in strata_q:
            add(f"- {name}: `{strata_q[name]['query']}`")
    return "\n".join(lines) + "\n"


def update_docs(table):
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    with open(path) as f:
        text = f.read()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + BEGIN + "\n" + table + END + tail
    else:
        text += f"\n## Latest side-by-side run\n\n{BEGIN}\n{table}{END}\n"
    with open(path, "w") as f:
        f.write(text)


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="2GB")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--corpus", help="corpus directory [default: ~/.cache/strata-bench/corpus-SIZE-SEED]")
    parser.add_argument("--work", default="/tmp/strata-bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--peers", default="clickhouse,duckdb,ripgrep,zstd",
                        help="comma-separated subset of clickhouse,duckdb,ripgrep,zstd (or none)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny corpus, 1 run, debug build: checks answers only (what CI runs)")
    parser.add_argument("--update-docs", action="store_true", help="write the table into docs/benchmarks.md")
    args = parser.parse_args()
    args.command_line = "python3 bench/run.py " + " ".join(sys.argv[1:])
    if args.smoke:
        args.size, args.runs = "12MB", 1
    peers = set() if args.peers == "none" else set(args.peers.split(","))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    bin_dir = build(target, release=not args.smoke)
    if peers:
        install_peers()
    corpus_dir = args.corpus or os.path.expanduser(f"~/.cache/strata-bench/corpus-{args.size}-{args.seed}")
    manifest = corpus(bin_dir, corpus_dir, args.size, args.seed)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    expected = expected_answers(manifest)
    failures = []

    log("strata: ingest")
    strata = Strata(bin_dir, args.work)
    ingest = strata.ingest(bin_dir, corpus_dir, args.clients, args.batch)
    if ingest["entries"] != manifest["entries"]:
        failures.append(f"strata ingest: pushed {ingest['entries']} entries, corpus has {manifest['entries']}")
    log(f"strata ingest: {ingest}")
    strata.start()
    log("strata: queries")
    strata_q = strata_queries(strata, manifest, args.runs)
    rss_query = peak_rss_mb(strata.proc.pid)
    log("strata: the lecture's LogQL queries, checked by hand")
    lecture_rows, lecture_failures = lecture.check(strata.get, corpus_dir, manifest)
    failures.extend(lecture_failures)
    for row in lecture_rows:
        log(f"  {row['name']}: {row['answer']} (by hand: {row['by_hand']})")
    strata.stop()
    check("strata", strata_q, expected, failures)

    ch = duck = rg = None
    zstd_bytes = 0
    if "clickhouse" in peers:
        log("ClickHouse (chdb): load and queries")
        ch = clickhouse(corpus_dir, args.work, manifest, args.runs)
        check("clickhouse", ch["queries"], expected, failures)
    if "duckdb" in peers:
        log("DuckDB: load and queries")
        duck = duckdb_peer(corpus_dir, args.work, manifest, args.runs)
        check("duckdb", duck["queries"], expected, failures)
    if "ripgrep" in peers:
        log("ripgrep")
        rg = ripgrep(corpus_dir, manifest, args.runs)
        check("ripgrep", rg["queries"], expected, failures)
    if "zstd" in peers:
        zstd_bytes = zstd_size(corpus_dir)

    table = report(args, manifest, ingest, strata_q, ch, duck, rg, zstd_bytes, rss_query)
    table += "\n" + lecture.table(lecture_rows)
    with open(os.path.join(args.work, "results.md"), "w") as f:
        f.write(table)
    with open(os.path.join(args.work, "results.json"), "w") as f:
        json.dump({"ingest": ingest, "strata": strata_q, "clickhouse": ch, "duckdb": duck, "ripgrep": rg,
                   "zstd_bytes": zstd_bytes, "rss_query_mb": rss_query, "lecture": lecture_rows},
                  f, indent=1, default=str)
    print(table)
    if args.update_docs and not args.smoke:
        update_docs(table)
    if failures:
        print("WRONG ANSWERS:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    log("all answers correct")


if __name__ == "__main__":
    main()
