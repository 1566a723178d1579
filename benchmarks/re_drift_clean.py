"""Is a difficulty drift bias or real difficulty? The RE's drift on all frames against clean frames only.

A run's `difficulty_drift.json` compares devel/test RE with train RE over all frames. On synthetic
data whose subjects differ in how often they are corrupted (`corruption_spread`), a partition that
happens to hold noisier subjects *should* read a higher RE: that is the signal working. Only the
drift on frames the generator left clean (DATA/truth/) is bias, e.g. an estimator that
reconstructs the subjects it saw better than new ones. This script reads finished runs and prints,
per modality and partition, mean ± std over runs of: the share of corrupted frames, the RE drift over
all frames and over clean frames only (clean train frames = 0), both in units of the train sd over all
frames, the signal the models read.

    python benchmarks/re_drift_clean.py --data DATA --runs 'benchmarks/results/idheavy-defaults/oofd-oof-seed*'
"""

from __future__ import annotations

import argparse
import statistics
import sys
from glob import glob
from pathlib import Path

import numpy as np
import pandas as pd

from musefuse.core.runs.drift import difficulty_drift

PARTS = ("devel", "test")


def load(run: Path, data: Path, modality: str) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Per subject: partition, RE per frame, and whether the generator corrupted the frame."""
    parts = pd.read_csv(data / "metadata" / "partition.csv", dtype={"Id": str})
    partitions, signals, corrupt = [], [], []
    for sid, part in zip(parts["Id"], parts["Partition"], strict=True):
        re = pd.read_csv(run / "difficulty" / modality / f"{sid}.csv")
        truth = pd.read_csv(data / "truth" / f"{sid}.csv", keep_default_na=False).set_index("timestamp")
        # a frame the truth file does not list counts as corrupted, never as clean
        mask = truth[f"{modality}_corrupt"].reindex(re["timestamp"]).fillna(1).to_numpy() > 0
        partitions.append(part)
        signals.append(re["value"].to_numpy(dtype=float))
        corrupt.append(mask)
    return partitions, signals, corrupt


def measure(run: Path, data: Path, modality: str) -> dict[tuple[str, str], float]:
    partitions, signals, corrupt = load(run, data, modality)
    clean = [np.where(c, np.nan, s) for s, c in zip(signals, corrupt, strict=True)]
    every = difficulty_drift({modality: signals}, partitions)[modality]
    only_clean = difficulty_drift({modality: clean}, partitions)[modality]
    to_all_units = only_clean.train_std / every.train_std  # clean frames vary less: keep one unit for both
    share = {p: float(np.mean(np.concatenate([c for c, q in zip(corrupt, partitions, strict=True) if q == p])))
             for p in ("train", *PARTS)}
    out = {("share", p): share[p] for p in share}
    for p in PARTS:
        out[("all", p)] = every.partitions[p].mean
        out[("clean", p)] = only_clean.partitions[p].mean * to_all_units
    return out


def signed(per: list[dict[tuple[str, str], float]], key: tuple[str, str]) -> str:
    vals = [x[key] for x in per]
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{statistics.mean(vals):+.2f} ± {sd:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="a synthetic dataset (has truth/)")
    ap.add_argument("--runs", action="append", required=True, help="run folders (glob); repeat per group")
    ap.add_argument("--modalities", default="egemaps,vggface,fau")
    args = ap.parse_args()
    if not (args.data / "truth").is_dir():
        sys.exit(f"{args.data} has no truth/ folder: only musefuse synthetic data say which frames are clean.")
    print("| runs | modality | corrupted share train / devel / test | RE drift devel: all / clean frames "
          "| RE drift test: all / clean frames |\n|---|---|---|---|---|")
    for pattern in args.runs:
        runs = [Path(r) for r in sorted(glob(pattern)) if (Path(r) / "difficulty").is_dir()]
        if not runs:
            print(f"no finished runs with a difficulty folder match {pattern}", file=sys.stderr)
            continue
        for m in args.modalities.split(","):
            per = [measure(r, args.data, m) for r in runs]
            shares = " / ".join(f"{statistics.mean(x[('share', p)] for x in per):.3f}" for p in ("train", *PARTS))
            drift = [f"{signed(per, ('all', p))} / {signed(per, ('clean', p))}" for p in PARTS]
            print(f"| {Path(pattern).name} ({len(runs)}) | {m} | {shares} | {drift[0]} | {drift[1]} |")


if __name__ == "__main__":
    main()
