"""How often is the fused prediction below the best single modality, and would taking that modality pay?

Issue 34: "a fused prediction that scores below the best single model on the evidence is a bug". The evidence
a run has about the fuser is devel (fusers have no out-of-fold predictions), so for every finished run of a
worlds matrix (``benchmarks/worlds.py`` OUT folder) and every target this reads the run's results.json and
reports, per method × world:

- how often the fused devel CCC is below the best single modality's devel CCC (fused below the best on the
  evidence), and how often the fused test CCC is below that same modality's test CCC;
- the mean test CCC of the fusion and of "switch": the devel-best single modality wherever devel ranks it above
  the fusion, the fusion elsewhere. switch − fusion is what a decision that always obeys devel, with no margin,
  would gain on test; `--single-candidates` is that decision with the rule's one-SE margin.

Trains nothing; test chooses nothing (the switch is decided on devel).

    python benchmarks/below_best.py /work/small --scale small --out benchmarks/results/worlds/below-best-small.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table

TARGETS = ("arousal", "valence")


Scores = tuple[dict[str, float], dict[str, float], float, float]


def run_scores(results: list[dict], target: str) -> Scores:
    """(devel CCC per single modality, test CCC per single modality, fused devel CCC, fused test CCC)."""
    def ccc(stage: str, partition: str) -> dict[str, float]:
        return {(r["modalities"][0] if stage == "unimodal" else "fusion"): float(r["ccc"]) for r in results
                if r["stage"] == stage and r["partition"] == partition and r["target"] == target}
    return ccc("unimodal", "devel"), ccc("unimodal", "test"), ccc("fusion", "devel")["fusion"], \
        ccc("fusion", "test")["fusion"]


def summarise(runs: list[Scores]) -> dict[str, float]:
    """The counts and mean test CCCs above, over ``runs`` (each one run's :func:`run_scores` for one target)."""
    below_devel = below_test = 0
    fused, switch = [], []
    for single_devel, single_test, fused_devel, fused_test in runs:
        best = max(single_devel, key=single_devel.get)
        below = single_devel[best] > fused_devel
        below_devel += below
        below_test += single_test[best] > fused_test
        fused.append(fused_test)
        switch.append(single_test[best] if below else fused_test)
    return {"runs": len(runs), "below_devel": below_devel, "below_test": below_test,
            "fused": statistics.fmean(fused), "switch": statistics.fmean(switch)}


def collect(out: Path, scale: str) -> dict[tuple[str, str], list[dict[str, Scores]]]:
    """(method, world) -> each finished run's scores per target, from OUT/runs/SCALE/METHOD/WORLD-dD-sS/."""
    found: dict[tuple[str, str], list[dict[str, Scores]]] = defaultdict(list)
    for path in sorted((out / "runs" / scale).glob("*/*/results.json")):
        method, world = path.parts[-3], path.parts[-2].rsplit("-d", 1)[0]
        try:
            results = json.loads(path.read_text())
            scores = {t: run_scores(results, t) for t in TARGETS}
        except (ValueError, KeyError, TypeError, IndexError) as exc:  # json's errors are ValueErrors
            raise SystemExit(f"{path}: not the results of a run with fusion and unimodal rows for "
                             f"{' and '.join(TARGETS)} ({type(exc).__name__}: {exc}).") from None
        found[(method, world)].append(scores)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="a benchmarks/worlds.py OUT folder")
    ap.add_argument("--scale", default="reduced")
    ap.add_argument("--out", dest="report", type=Path, help="also write the table as Markdown here")
    args = ap.parse_args()
    found = collect(args.out, args.scale)
    if not found:
        raise SystemExit(f"No finished run under {args.out / 'runs' / args.scale}.")
    columns = ["method", "world", "target", "runs", "below on devel", "below on test", "fusion", "switch",
               "switch − fusion"]
    by_method: dict[str, list[dict[str, Scores]]] = defaultdict(list)
    for (method, _), runs in found.items():
        by_method[method] += runs
    groups = sorted(found.items()) + [((method, "all worlds"), runs) for method, runs in sorted(by_method.items())]
    rows = []
    for (method, world), runs in groups:
        for t in TARGETS:
            s = summarise([run[t] for run in runs])
            rows.append([method, world, t, str(s["runs"]), str(s["below_devel"]), str(s["below_test"]),
                         f"{s['fused']:.3f}", f"{s['switch']:.3f}", f"{s['switch'] - s['fused']:+.3f}"])
    table = Table(*columns, title=f"fused test CCC against the best single modality on devel ({args.scale})")
    for row in rows:
        table.add_row(*row)
    Console(width=140).print(table)  # a benchmark log is wider than a pipe's default 80 columns
    if args.report:
        command = "python benchmarks/below_best.py " + " ".join(sys.argv[1:])
        lines = [f"# Fused test CCC against the best single modality on devel ({args.scale} scale)", "",
                 f"`{command}`: below = the fused CCC under that modality's; switch = that modality's test CCC "
                 "where devel ranks it above the fusion, else the fusion's (decided on devel, no margin).", "",
                 "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        args.report.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
