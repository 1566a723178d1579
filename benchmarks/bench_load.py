"""Time loading a full-size MuSe-Stress folder: first load (CSV parse + cache write) vs cached load.

Each load runs in a fresh subprocess, so its peak RSS (ru_maxrss) is its own. Prints a Markdown table.

    python benchmarks/bench_load.py                      # writes a synthetic full-size dataset first
    python benchmarks/bench_load.py --data /path/to/MuSe  # an existing MuSe-layout folder

The synthetic data comes from musefuse.lab.synth (69 subjects, 540-660 steps, widths 88, 4096,
512, 17, 768); if that module is unavailable, random float32 data of the same shape is written.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from musefuse.core.interfaces import Modality

MODALITIES = [
    Modality(name="egemaps", width=88),
    Modality(name="deepspectrum", width=4096, aliases=["ds"]),
    Modality(name="vggface", width=512, aliases=["vggface2"]),
    Modality(name="fau", width=17, aliases=["faus", "fau_intensity"]),
    Modality(name="bert", width=768, aliases=["bert-4"]),
]


def _child(data: Path) -> None:
    """Load once and print {'seconds', 'rss_mib', 'base_mib', 'array_mib'} as JSON on stdout."""
    import resource

    from musefuse.core.data.loader import load_dataset

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    start = time.perf_counter()
    ds = load_dataset(data, MODALITIES)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    arrays = sum(x.nbytes for s in ds.subjects for x in [*s.features.values(), *s.labels.values()])
    steps = [len(s.timestamps) for s in ds.subjects]
    print(json.dumps({"seconds": seconds, "rss_mib": rss, "base_mib": base, "array_mib": arrays / 2**20,
                      "subjects": len(ds.subjects), "steps": int(np.sum(steps))}))


def _run_child(data: Path, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(data)], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _write_random(root: Path, subjects: int = 69, seed: int = 0) -> None:
    """Fallback: random float32 data in the MuSe layout, 540-660 steps per subject."""
    from musefuse.core.data.museio import write_feature_csv, write_label_csv
    from musefuse.core.interfaces import FeatureTable

    rng = np.random.default_rng(seed)
    parts = ["train"] * 41 + ["devel"] * 14 + ["test"] * 14
    (root / "metadata").mkdir(parents=True)
    rows = "\n".join(f"{i},{parts[i % len(parts)]}" for i in range(subjects))
    (root / "metadata" / "partition.csv").write_text("Id,Partition\n" + rows + "\n")
    folders = {"egemaps": 88, "deepspectrum": 4096, "vggface": 512, "fau": 17, "bert": 768}
    for i in range(subjects):
        steps = int(rng.integers(540, 661))
        ts, seg = np.arange(steps) * 500, np.ones(steps, np.int64)
        for folder, width in folders.items():
            x = rng.normal(size=(steps, width)).astype(np.float32)
            write_feature_csv(root / "feature_segments" / folder / f"{i}.csv", FeatureTable(ts, seg, x))
        for target in ("arousal", "valence"):
            write_label_csv(root / "label_segments" / target / f"{i}.csv", ts, rng.uniform(-1, 1, steps), seg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="an existing MuSe-layout folder (default: write one)")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return

    with tempfile.TemporaryDirectory(prefix="musefuse-bench-") as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "data"
            start = time.perf_counter()
            try:
                from musefuse.lab.synth import write_synthetic
            except ImportError:
                _write_random(data)
                source = "random float32 (benchmarks/bench_load.py)"
            else:
                write_synthetic(data, seed=0)
                source = "musefuse.lab.synth.write_synthetic(seed=0)"
            print(f"wrote {source} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
        csv_bytes = sum(p.stat().st_size for p in Path(data).rglob("*.csv"))
        env = {**os.environ, "MUSEFUSE_CACHE_DIR": str(Path(tmp) / "cache")}
        first = _run_child(data, env)
        cached = _run_child(data, env)

    print(f"\n{first['subjects']} subjects, {first['steps']} steps, CSV {csv_bytes / 2**30:.2f} GiB, "
          f"arrays {first['array_mib']:.0f} MiB\n")
    print("| load | seconds | peak RSS (MiB) | RSS after imports (MiB) | peak RSS / arrays |")
    print("|---|---:|---:|---:|---:|")
    for name, r in (("first (CSV parse + cache write)", first), ("cached", cached)):
        print(f"| {name} | {r['seconds']:.1f} | {r['rss_mib']:.0f} | {r['base_mib']:.0f} | "
              f"{r['rss_mib'] / r['array_mib']:.2f} |")


if __name__ == "__main__":
    main()
