"""Where does the difficulty signal matter? Unimodal error on clean vs corrupted frames.

Reads finished quality runs (benchmarks/quality.py) on the synthetic data and splits each
modality's test+devel frames by the ground-truth corruption kind written in DATA/truth/:
clean, off-manifold (noise, clipped, occlusion, garbled) and on-manifold (other_speaker,
frozen, other_content). Prints the RMSE of the unimodal predictions per group, with and without
RE, mean ± std over seeds.

    python benchmarks/re_by_frame_kind.py --runs benchmarks/results/quality --data DATA
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import pandas as pd

OFF = {"noise", "clipped", "occlusion", "garbled"}
ON = {"other_speaker", "frozen", "other_content"}


def group_of(kind: str) -> str:
    return "off-manifold" if kind in OFF else "on-manifold" if kind in ON else "clean" if kind == "none" else "missing"


def errors(run: Path, data: Path, modality: str, target: str) -> dict[str, float]:
    parts = pd.read_csv(data / "metadata" / "partition.csv")
    sq: dict[str, list[float]] = {}
    for sid in parts.loc[parts["Partition"].isin(["devel", "test"]), "Id"].astype(str):
        pred = pd.read_csv(run / "predictions" / f"unimodal-{modality}" / target / f"{sid}.csv")["value"].to_numpy()
        gold = pd.read_csv(data / "label_segments" / target / f"{sid}.csv")["value"].to_numpy()
        kind = pd.read_csv(data / "truth" / f"{sid}.csv", keep_default_na=False)[f"{modality}_corrupt_kind"]
        for g, e in zip(kind.map(group_of), (pred - gold) ** 2, strict=True):
            sq.setdefault(g, []).append(e)
    return {g: float(np.sqrt(np.mean(v))) for g, v in sq.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("benchmarks/results/quality"))
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--modalities", default="egemaps,vggface,fau")
    args = ap.parse_args()
    print("| modality | target | frames | RMSE with RE | RMSE without RE |\n|---|---|---|---|---|")
    for m in args.modalities.split(","):
        for t in ("arousal", "valence"):
            rows: dict[str, dict[str, list[float]]] = {}
            for variant in ("re", "nore"):
                for run in sorted(args.runs.glob(f"{variant}-seed*")):
                    if (run / "results.json").exists():
                        for g, v in errors(run, args.data, m, t).items():
                            rows.setdefault(g, {}).setdefault(variant, []).append(v)
            for g in ("clean", "off-manifold", "on-manifold"):
                cells = [f"{statistics.mean(rows[g][v]):.3f} ± {statistics.pstdev(rows[g][v]):.3f}"
                         if rows.get(g, {}).get(v) else "—" for v in ("re", "nore")]
                print(f"| {m} | {t} | {g} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
