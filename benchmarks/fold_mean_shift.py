"""Does the fuser see one kind of input in training and another in use? (issue 34, item 3, a hypothesis)

With out-of-fold fusion inputs, the fuser learns from each train subject's prediction by *one* fold model (the
one that held the subject out), and is then applied to devel, test and new subjects' predictions by the *mean of
the fold models*. A mean of three models is smoother and closer to the train mean than any one of them: if it is
markedly so, the fuser's input in use is not the input it learned from. This reads finished run folders (their
unimodal predictions: out-of-fold for train, fold means elsewhere) and the labels, no training, and reports per
regressor how much the predictions move, relative to the labels, in each partition:

- ``within``: the mean over recordings of the prediction's std within the recording / the label's;
- ``between``: the std over recordings of the prediction's recording mean / the label's;
- ``ratio``: the unseen subjects' value (devel + test, fold means) / the train subjects' (single fold models).

A ratio well below 1 means the fuser is applied to inputs that move less than those it learned from.

    python benchmarks/fold_mean_shift.py runs/*            # any run folders of the default (out-of-fold) pipeline
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd


def _movement(preds: dict[str, np.ndarray], golds: dict[str, np.ndarray], ids: list[str]) -> tuple[float, float]:
    ids = [i for i in ids if i in preds and i in golds and len(golds[i]) > 1]
    within = np.mean([np.std(preds[i]) / max(np.std(golds[i]), 1e-6) for i in ids])
    between = np.std([preds[i].mean() for i in ids]) / max(np.std([golds[i].mean() for i in ids]), 1e-6)
    return float(within), float(between)


def _read(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: pd.read_csv(p)["value"].to_numpy(np.float64) for p in folder.glob("*.csv")}


def run_folder(run: Path) -> list[dict]:
    root = Path(json.loads((run / "environment.json").read_text())["dataset"]["root"])
    parts = pd.read_csv(root / "metadata" / "partition.csv", dtype=str).set_index("Id")["Partition"]
    train = [i for i, p in parts.items() if p == "train"]
    unseen = [i for i, p in parts.items() if p in ("devel", "test")]
    rows = []
    for stage in sorted((run / "predictions").glob("unimodal-*")):
        for target_dir in sorted(p for p in stage.iterdir() if p.is_dir()):
            golds = _read(root / "label_segments" / target_dir.name)
            preds = _read(target_dir)
            (tw, tb), (uw, ub) = _movement(preds, golds, train), _movement(preds, golds, unseen)
            rows.append({"run": run.name, "regressor": f"{stage.name.removeprefix('unimodal-')} → {target_dir.name}",
                         "within_train": tw, "within_unseen": uw, "within_ratio": uw / tw,
                         "between_train": tb, "between_unseen": ub, "between_ratio": ub / tb})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path)
    args = p.parse_args()
    rows = [r for run in args.runs if (run / "predictions").is_dir() for r in run_folder(run)]
    table = pd.DataFrame(rows)
    print(f"{table['run'].nunique()} run folders, {len(table)} regressors")
    print(table[["within_train", "within_unseen", "within_ratio", "between_train", "between_unseen",
                 "between_ratio"]].describe().loc[["mean", "std", "25%", "50%", "75%"]].round(3).to_string())
    print(f"within-recording movement of unseen subjects' fold means below the train subjects' single models: "
          f"{(table['within_ratio'] < 1).mean():.0%} of regressors")


if __name__ == "__main__":
    main()
