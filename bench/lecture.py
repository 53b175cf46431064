"""The lecture's LogQL queries (../shared/seed/log-aggregation-lecture.md,
"LogQL (Loki Query Language)") against a strata server holding the benchmark
corpus, each answer compared with a count made by hand from corpus.jsonl.

Every query runs as the lecture writes it. Three of them name labels the
corpus does not have (job_id="abc123", namespace="ml-platform",
app="training-job"), so they rightly find nothing; and the unwrap query fails
with Loki's pipeline error, because training streams also hold JSON lines
without a `loss` field. Each of those also runs adapted to the corpus (the
same shape, with labels that exist, and Loki's recommended
`| __error__=""` after `unwrap`), so that every query shape is checked on
real data.

Used by run.py (the smoke run in CI checks these answers too):
`check(strata_get, corpus_dir, manifest)` returns (rows, failures).
"""

import json
import math
import os
import re
import urllib.error

LIMIT = 5000          # entries asked of a log query (the server's default max)
WINDOW_S = 300        # the lecture's [5m]
GPU_RE = re.compile(r"GPU \d+: Utilization: (\d+)%")


def queries(job):
    """(name, text, kind) for every query; `job` is a training job id of the corpus."""
    pod_re = f"trainer-job-{job}-.*"
    return [
        ("errors of one job", '{job_type="training", job_id="abc123"} |= "ERROR"', "log"),
        ("errors of one job (adapted: the job is in the pod name)",
         f'{{job_type="training", pod=~"{pod_re}"}} |= "ERROR"', "log"),
        ("rate of errors", 'rate({job_type="training"} |= "ERROR" [5m])', "metric"),
        ("loss by model", 'sum(rate({job_type="training"} | json | __error__="" | unwrap loss [5m])) by (model_name)',
         "metric"),
        ("loss by model (adapted: lines without loss skipped)",
         'sum(rate({job_type="training"} | json | __error__="" | unwrap loss | __error__="" [5m])) by (model_name)',
         "metric"),
        ("GPU utilisation lines", r'{namespace="ml-platform"} |~ "GPU \\d+: Utilization: (\\d+)%"', "log"),
        ("GPU utilisation lines (adapted: namespace ml-training)",
         r'{namespace="ml-training"} |~ "GPU \\d+: Utilization: (\\d+)%"', "log"),
        ("OOM lines, reformatted", '{app="training-job"} |= "OutOfMemoryError" | line_format "{{.pod}}: {{.message}}"',
         "log"),
        ("OOM lines, reformatted (adapted: app trainer)",
         '{app="trainer"} |= "OutOfMemoryError" | line_format "{{.pod}}: {{.message}}"', "log"),
    ]


def eval_times(manifest):
    start, end = manifest["start_ns"], manifest["end_ns"]
    span = end - start
    return [start + span * k // 4 for k in (1, 2, 3)]


def first_job(corpus_dir):
    with open(os.path.join(corpus_dir, "corpus.jsonl")) as f:
        for line in f:
            pod = json.loads(line)["labels"].get("pod", "")
            m = re.match(r"trainer-job-([0-9a-f]+)-", pod)
            if m:
                return m.group(1)
    return "none"


def by_hand(corpus_dir, manifest, job):
    """One pass over corpus.jsonl: the expected answer of every query."""
    times = eval_times(manifest)
    window = WINDOW_S * 10**9
    logs = {name: [] for name, _, kind in queries(job) if kind == "log"}
    rate_errors = [dict() for _ in times]   # per time: labels -> count
    loss = [dict() for _ in times]          # per time: model -> sum of loss
    loss_fails = [False for _ in times]     # per time: a JSON line without a numeric loss
    names = [name for name, _, _ in queries(job)]
    pod_re = re.compile(f"trainer-job-{job}-.*")
    with open(os.path.join(corpus_dir, "corpus.jsonl")) as f:
        for raw in f:
            row = json.loads(raw)
            ts, labels, line = row["ts"], row["labels"], row["line"]
            training = labels.get("job_type") == "training"
            if training and "ERROR" in line and pod_re.fullmatch(labels.get("pod", "")):
                logs[names[1]].append((ts, line))
            if labels.get("namespace") == "ml-training" and GPU_RE.search(line):
                logs[names[6]].append((ts, line))
            if labels.get("app") == "trainer" and "OutOfMemoryError" in line:
                logs[names[8]].append((ts, labels.get("pod", "") + ": "))
            if not training:
                continue
            inside = [i for i, t in enumerate(times) if t - window < ts <= t]
            if not inside:
                continue
            key = tuple(sorted(labels.items()))
            parsed = None
            if line.startswith("{"):
                try:
                    parsed = json.loads(line)
                except ValueError:
                    parsed = None
            for i in inside:
                if "ERROR" in line:
                    rate_errors[i][key] = rate_errors[i].get(key, 0) + 1
                if isinstance(parsed, dict):
                    value = parsed.get("loss")
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        model = str(parsed.get("model_name", ""))
                        loss[i][model] = loss[i].get(model, 0.0) + float(value)
                    else:
                        loss_fails[i] = True
    expected = {}
    for name, _, kind in queries(job):
        if kind == "log":
            entries = sorted(logs.get(name, []), key=lambda e: (-e[0], e[1]))[:LIMIT]
            expected[name] = sorted(entries)
    expected[names[2]] = [{k: v / WINDOW_S for k, v in per.items()} for per in rate_errors]
    expected[names[3]] = ["error" if fails else {(("model_name", m),) if m else (): v / WINDOW_S
                                                 for m, v in per.items()}
                          for per, fails in zip(loss, loss_fails)]
    expected[names[4]] = [{(("model_name", m),) if m else (): v / WINDOW_S for m, v in per.items()}
                          for per in loss]
    return expected


def ask(get, manifest, text, kind):
    """The server's answer: sorted (ts, line) entries, or per eval time {labels: value}, or "error"."""
    if kind == "log":
        data = get("/loki/api/v1/query_range", {"query": text, "start": manifest["start_ns"],
                                                "end": manifest["end_ns"], "limit": LIMIT,
                                                "direction": "backward"})
        return sorted((int(v[0]), v[1]) for s in data["data"]["result"] for v in s["values"])
    answers = []
    for t in eval_times(manifest):
        try:
            data = get("/loki/api/v1/query", {"query": text, "time": t})
        except urllib.error.HTTPError as err:
            if err.code == 400 and b"pipeline error" in err.read():
                answers.append("error")
                continue
            raise
        answers.append({tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in data["data"]["result"]})
    return answers


def same(got, want):
    if isinstance(want, list) and want and isinstance(want[0], tuple):
        return got == want
    if isinstance(want, list):
        if len(got) != len(want):
            return False
        for g, w in zip(got, want):
            if g == "error" or w == "error":
                if g != w:
                    return False
                continue
            if set(g) != set(w):
                return False
            if any(not math.isclose(g[k], w[k], rel_tol=1e-9, abs_tol=1e-12) for k in w):
                return False
        return True
    return got == want


def summary(answer, kind):
    if kind == "log":
        return f"{len(answer)} entries"
    parts = []
    for at in answer:
        parts.append("pipeline error (400)" if at == "error" else f"{len(at)} series")
    return ", ".join(parts)


def check(get, corpus_dir, manifest):
    job = first_job(corpus_dir)
    expected = by_hand(corpus_dir, manifest, job)
    rows, failures = [], []
    for name, text, kind in queries(job):
        try:
            got = ask(get, manifest, text, kind)
        except Exception as err:  # reported as a wrong answer
            got = f"request failed: {err}"
        ok = same(got, expected[name]) if not isinstance(got, str) else False
        rows.append({"name": name, "query": text, "answer": summary(got, kind) if not isinstance(got, str) else got,
                     "by_hand": summary(expected[name], kind), "ok": ok})
        if not ok:
            failures.append(f"lecture query {name!r}: strata {rows[-1]['answer']}, by hand {rows[-1]['by_hand']}")
    return rows, failures


def table(rows):
    lines = ["### The lecture's LogQL queries (each answer checked against a count by hand)", "",
             "| query | strata | by hand | same |", "|---|---|---|---|"]
    for row in rows:
        query = row["query"].replace("|", "\\|")
        lines.append(f"| `{query}` | {row['answer']} | {row['by_hand']} | {'yes' if row['ok'] else '**no**'} |")
    return "\n".join(lines) + "\n"
