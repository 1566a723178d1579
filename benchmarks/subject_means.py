"""How much of a run's error is between subjects, and would shrinking each recording's mean help?

Reads finished run folders (their fused devel/test predictions and the data's labels); trains nothing.

For each run and target it reports
- ``r(means)``: Pearson r between the predicted and the true per-recording label means, on devel and
  test. Near 1, the model ranks subjects' overall levels; near 0, each recording's predicted level
  is noise that the MuSe metric (CCC over all recordings concatenated) pays for in full.
- the shrinkage ``λ`` chosen on devel, from a grid, for the label-free post-processing
  ``ŷ' = ŷ − λ · (mean of ŷ over the recording − μ)``, μ the train label mean: λ = 0 keeps the
  predictions, λ = 1 centres every recording on μ and keeps only its within-recording course. It
  needs no labels of the recording, so it can be applied to test and new subjects.
- test CCC at λ = 0 and at the devel-chosen λ, and with ``--curve`` devel and test CCC at every λ of the
  grid, per run (to see whether devel's choice carries over to test).

The runs must hold unshrunk predictions (``--mean-shrink 0``, or a run whose devel chose λ = 0).

Example:
    python benchmarks/subject_means.py benchmarks/results/embedded-gate/gate-seed? \
        --out benchmarks/results/subject-means.md
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from musefuse.core.config import ungroup
from musefuse.core.learning.mean_shrink import GRID
from musefuse.core.learning.metrics import ccc


def read_series(path: Path) -> pd.Series:
    frame = pd.read_csv(path)
    return frame.set_index("timestamp")["value"]


def recordings(run: Path, data: Path, target: str, partition: str, ids: list[str]):
    """(prediction, label) arrays per recording of a partition, on the frames both have."""
    out = []
    for sid in ids:
        label_file = data / "label_segments" / target / f"{sid}.csv"
        if not label_file.exists():
            continue
        pred = read_series(run / "predictions" / "fusion" / target / f"{sid}.csv")
        gold = read_series(label_file).dropna()
        both = pred.index.intersection(gold.index)
        if len(both):
            out.append((pred.loc[both].to_numpy(float), gold.loc[both].to_numpy(float)))
    return out


def shrunk_ccc(recs, lam: float, mu: float) -> float:
    preds = [p - lam * (p.mean() - mu) for p, _ in recs]
    return ccc(np.concatenate(preds), np.concatenate([g for _, g in recs]))


def means_r(recs) -> float:
    return float(np.corrcoef([p.mean() for p, _ in recs], [g.mean() for _, g in recs])[0, 1])


def unshrunk(run: Path) -> bool:
    """Whether the run's fused predictions are as the fuser made them (no mean_shrink.json, or λ = 0)."""
    path = run / "mean_shrink.json"
    return not path.exists() or all(v["lambda"] == 0 for v in json.loads(path.read_text()).values())


def analyse(run: Path) -> list[dict]:
    if not unshrunk(run):
        raise SystemExit(f"{run}: its fused predictions are already shrunk (mean_shrink.json); "
                         "give the run trained with --mean-shrink 0")
    config = ungroup(yaml.safe_load((run / "config.yaml").read_text()))
    data = Path(config["data"])
    parts = pd.read_csv(data / "metadata" / "partition.csv", dtype=str)
    ids = {p: parts.loc[parts["Partition"] == p, "Id"].tolist() for p in ("train", "devel", "test")}
    rows = []
    for target in config["targets"]:
        mu = float(np.concatenate([read_series(data / "label_segments" / target / f"{s}.csv").dropna().to_numpy()
                                   for s in ids["train"]]).mean())
        devel, test = (recordings(run, data, target, p, ids[p]) for p in ("devel", "test"))
        curve = {x: (shrunk_ccc(devel, x, mu), shrunk_ccc(test, x, mu)) for x in GRID}  # devel, test CCC
        lam = max(GRID, key=lambda x: (curve[x][0], -x))  # devel's best λ; a tie keeps the smaller shrinkage
        rows.append({"run": run.name, "target": target, "r_devel": means_r(devel), "r_test": means_r(test),
                     "lambda": lam, "test_0": curve[0.0][1], "test_lam": curve[lam][1], "test_1": curve[1.0][1],
                     "curve": curve})
    return rows


def ms(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0.0:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders (one per seed)")
    ap.add_argument("--out", type=Path, help="also write the table here (markdown)")
    ap.add_argument("--curve", action="store_true", help="also devel / test CCC at every λ, per run")
    args = ap.parse_args()
    rows = [row for run in args.runs for row in analyse(run)]
    lines = ["| target | r(means) devel | r(means) test | λ chosen on devel | test CCC λ=0 | test CCC at λ | "
             "test CCC λ=1 |", "|---|---|---|---|---|---|---|"]
    for target in dict.fromkeys(r["target"] for r in rows):
        sel = [r for r in rows if r["target"] == target]
        lams = ", ".join(f"{r['lambda']:g}" for r in sel)
        lines.append(f"| {target} | {ms([r['r_devel'] for r in sel])} | {ms([r['r_test'] for r in sel])} | {lams} | "
                     f"{ms([r['test_0'] for r in sel])} | {ms([r['test_lam'] for r in sel])} | "
                     f"{ms([r['test_1'] for r in sel])} |")
    if args.curve:
        lines += ["", "| run | target | " + " | ".join(f"λ={x:g} devel / test" for x in GRID) + " |",
                  "|---|---|" + "---|" * len(GRID)]
        lines += [f"| {r['run']} | {r['target']} | " + " | ".join(f"{d:.3f} / {t:.3f}" for d, t in r["curve"].values())
                  + " |" for r in rows]
    text = "\n".join([f"Runs: {', '.join(str(r) for r in args.runs)}", "", *lines])
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
