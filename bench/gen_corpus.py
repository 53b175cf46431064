#!/usr/bin/env python3
"""A quick realistic corpus: Loghub line shapes replayed with fresh values.

usage: gen_corpus.py OUT_DIR SIZE_MB [SEED]

Writes OUT_DIR/<system>-<instance>.log files (one stream each) whose lines are
Loghub sample lines (../shared/data/loghub) with every run of digits replaced
by fresh digits of the same length, and writes OUT_DIR/manifest.json with the
planted needles: the rare token `needle_q7x9z` appears in exactly
NEEDLES lines. Deterministic for a seed and a size. (The full generator with
ML workload logs is issue 3's; this one serves the core issue's measurements.)
"""

import json
import os
import random
import re
import sys

NEEDLES = 7
INSTANCES = 8


def main():
    out_dir, size_mb = sys.argv[1], int(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 42
    rng = random.Random(seed)
    here = os.path.dirname(os.path.abspath(__file__))
    loghub = os.path.normpath(os.path.join(here, "..", "..", "shared", "data", "loghub"))
    systems = {}
    for name in sorted(os.listdir(loghub)):
        if name.endswith("_2k.log"):
            with open(os.path.join(loghub, name), encoding="utf-8", errors="replace") as f:
                systems[name[: -len("_2k.log")]] = [line.rstrip("\n") for line in f if line.strip()]
    os.makedirs(out_dir, exist_ok=True)
    files = {}
    for system in systems:
        for instance in range(INSTANCES):
            files[(system, instance)] = open(os.path.join(out_dir, f"{system.lower()}-{instance}.log"), "w", encoding="utf-8")
    keys = list(files)
    target = size_mb * 1_000_000
    digits = re.compile(r"\d+")
    fresh = lambda m: str(rng.randrange(10 ** len(m.group(0)))).zfill(len(m.group(0)))
    written = 0
    lines = 0
    needle_lines = set(rng.sample(range(max(1, target // 150)), NEEDLES))
    planted = []
    while written < target:
        system, instance = keys[rng.randrange(len(keys))]
        template = systems[system][rng.randrange(len(systems[system]))]
        line = digits.sub(fresh, template)
        if lines in needle_lines:
            # In the middle of the line, between spaces: a whole token.
            words = line.split(" ")
            middle = max(1, len(words) // 2)
            line = " ".join(words[:middle] + ["needle_q7x9z"] + words[middle:])
            planted.append({"file": f"{system.lower()}-{instance}.log", "line": line})
        files[(system, instance)].write(line + "\n")
        written += len(line) + 1
        lines += 1
    for f in files.values():
        f.close()
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump({"seed": seed, "bytes": written, "lines": lines, "streams": len(files), "needle": "needle_q7x9z", "needle_lines": planted}, f, indent=1)
    print(f"wrote {lines} lines, {written / 1e6:.1f} MB in {len(files)} files to {out_dir}; {len(planted)} needles")


if __name__ == "__main__":
    main()
