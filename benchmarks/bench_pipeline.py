"""Wall time per stage, training throughput and peak memory of one `musefuse run`.

    python benchmarks/bench_pipeline.py                       # the README's quick-start command, CPU preset
    python benchmarks/bench_pipeline.py -- --device cuda      # same on a GPU (paper preset by default)

Runs the command in a fresh process (with MUSEFUSE_CACHE_DIR pointing at a new folder unless
--keep-cache, so first-time data generation is included), then reads the run's log.txt, whose
lines record each trained model's seconds and frames per second.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^\S+ (?P<label>.+?): best epoch (?P<best>\d+)/(?P<run>\d+), .* (?P<sec>[\d.]+)s, "
                  r"(?P<fps>\d+) frames/s$")


def stage_of(label: str) -> str:
    for stage in ("difficulty", "unimodal", "fusion"):
        if stage in label:
            return ("out-of-fold " if label.startswith("fold") else "") + stage
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modalities", default="egemaps,vggface,fau")
    ap.add_argument("--keep-cache", action="store_true", help="reuse the user's cache (no data generation)")
    ap.add_argument("extra", nargs="*", help="extra flags for musefuse run (after --)")
    args = ap.parse_args()
    env = dict(os.environ)
    tmp = Path(tempfile.mkdtemp(prefix="musefuse-bench-"))
    if not args.keep_cache:
        env["MUSEFUSE_CACHE_DIR"] = str(tmp / "cache")
    run = tmp / "run"
    cmd = [sys.executable, "-m", "musefuse.cli", "run", "--modalities", args.modalities, "--out", str(run),
           *args.extra]
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    seconds, fps, models = defaultdict(float), defaultdict(list), defaultdict(int)
    log = (run / "log.txt").read_text().splitlines()
    for line in log:
        m = LINE.match(line)
        if m:
            st = stage_of(m["label"])
            seconds[st] += float(m["sec"])
            fps[st].append(float(m["fps"]))
            models[st] += 1
    print(f"command: musefuse run --modalities {args.modalities} {' '.join(args.extra)}")
    print(f"{log[0].split(' ', 1)[1]}\n")
    print("| stage | models | training seconds (sum over models) | training throughput (frames/s, mean over models) |")
    print("|---|---:|---:|---:|")
    for st in seconds:
        print(f"| {st} | {models[st]} | {seconds[st]:.0f} | {sum(fps[st]) / len(fps[st]):.0f} |")
    print(f"| **wall, whole command** (models train concurrently) | | **{wall:.0f}** | |")
    print(f"\npeak RSS of the run: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
