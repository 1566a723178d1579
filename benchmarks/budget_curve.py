"""Quality against wall time for the training-budget knobs (issue: the CPU preset's cost).

Each (point, pipeline, seed) is one `musefuse run --modalities egemaps,vggface,fau` in a fresh process
(benchmarks/quality.py runs it), one thread per worker, the default executor. A point is a training
budget; its runs share an artifact store under OUT/POINT, so a rerun resumes where it stopped.

    python benchmarks/budget_curve.py                                   # embedded data, no-RE pipeline
    python benchmarks/budget_curve.py --points cpu,cpu-plateau --pipelines oofd
    python benchmarks/budget_curve.py --out benchmarks/results/budget-idheavy -- --data DATA

Wall time is the run's own "finished in" (data loading to results; data generation is cached before).
Quality is fusion CCC, mean ± std over seeds; the devel column is what a choice may look at, test is
reported once. Writes OUT/budget-<pipeline>.md per pipeline and one plot, OUT/budget-<pipelines>.png.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import LABELS, collect, ms, pick, run_one  # noqa: E402

ONE_THREAD = ["--threads", "1"]  # the cpu preset's; set for every point so only the budget differs
POINTS: dict[str, list[str]] = {  # name -> budget flags
    "e15p5w100": ["--epochs", "15", "--patience", "5", "--window", "100", "--hop", "100"],  # cpu preset ≤ 0.2
    "e15p5w100-plateau": ["--epochs", "15", "--patience", "5", "--window", "100", "--hop", "100",
                          "--lr-schedule", "plateau"],
    "e15p5w200": ["--epochs", "15", "--patience", "5", "--window", "200", "--hop", "100"],
    "e30p10w100": ["--epochs", "30", "--patience", "10", "--window", "100", "--hop", "100"],
    "e30p10w100-plateau": ["--epochs", "30", "--patience", "10", "--window", "100", "--hop", "100",
                           "--lr-schedule", "plateau"],
    "paper": ["--preset", "paper"],  # ≤ 100 epochs, patience 15, 200/100 windows
}


def finished_in(run: Path) -> float | None:
    """The run's own wall time, from its log (None while it has not finished)."""
    log = run / "log.txt"
    found = re.findall(r"finished in (\d+)s", log.read_text()) if log.exists() else []
    return float(found[-1]) if found else None


def reused_models(run: Path) -> bool:
    """Whether the run read models an earlier run in its store trained (its wall time leaves them out)."""
    tasks = run / "tasks.json"
    return tasks.exists() and any(t["reused"] for t in json.loads(tasks.read_text()))


def summarize(out: Path, points: list[str], pipeline: str, seeds: list[int]) -> list[dict]:
    rows = []
    for p in points:
        recs = collect(out / p, pipeline, seeds)
        walls = [w for s in seeds if (w := finished_in(out / p / f"{pipeline}-seed{s}")) is not None]
        partial = any(reused_models(out / p / f"{pipeline}-seed{s}") for s in seeds)
        rows.append({"point": p, "seeds": len({r["seed"] for r in recs}), "wall": walls, "partial": partial,
                     **{f"{part}_{t}": pick(recs, "fusion", t, part) for part in ("devel", "test")
                        for t in ("arousal", "valence", "combined")}})
    return rows


def table(rows: list[dict], pipeline: str) -> str:
    ref = next((r for r in rows if r["point"] == "paper" and r["test_arousal"]), None)
    lines = [f"Pipeline: {LABELS[pipeline]} — fusion CCC, mean ± std over seeds; wall = the run's own time "
             "(s, 2 workers × 1 thread)", "",
             "| budget | runs | wall s | devel combined | test arousal | test valence | test Δ vs paper (a / v) |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        delta = "—"
        if ref and r["test_arousal"] and r is not ref:
            da = statistics.mean(r["test_arousal"]) - statistics.mean(ref["test_arousal"])
            dv = statistics.mean(r["test_valence"]) - statistics.mean(ref["test_valence"])
            delta = f"{da:+.3f} / {dv:+.3f}"
        wall = f"{statistics.mean(r['wall']):.0f}" + (f" ± {statistics.stdev(r['wall']):.0f}" if len(r["wall"]) > 1
                                                       else "") if r["wall"] else "—"
        wall += " †" if r["partial"] else ""
        lines.append(f"| {r['point']} | {r['seeds']} | {wall} | {ms(r['devel_combined'])} | {ms(r['test_arousal'])} "
                     f"| {ms(r['test_valence'])} | {delta} |")
    if any(r["partial"] for r in rows):
        lines += ["", "† these runs reused models that an earlier pipeline in the same store had trained (e.g. the "
                  "all-train regressors); their time covers only the models they trained themselves."]
    return "\n".join(lines)


def fresh_wall(row: dict, rows_by_pipeline: dict[str, list[dict]]) -> float | None:
    """A run's time as if from an empty store: a run that reused another pipeline's models (same point,
    the first pipeline listed) is placed at its own time plus that run's, an estimate."""
    if not row["wall"]:
        return None
    own = statistics.mean(row["wall"])
    if not row["partial"]:
        return own
    first = next(r for r in next(iter(rows_by_pipeline.values())) if r["point"] == row["point"])
    return own + statistics.mean(first["wall"]) if first["wall"] and not first["partial"] else None


def plot(rows_by_pipeline: dict[str, list[dict]], path: Path) -> None:
    """Test CCC against wall time per budget point, one colour per pipeline, one panel per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, target in zip(axes, ("arousal", "valence"), strict=True):
        for colour, (pipeline, rows) in zip(("C0", "C3", "C2", "C1"), rows_by_pipeline.items(), strict=False):
            shown = False
            for r in rows:
                ys = r[f"test_{target}"]
                x = fresh_wall(r, rows_by_pipeline)
                if not ys or x is None:
                    continue
                y, yerr = statistics.mean(ys), statistics.stdev(ys) if len(ys) > 1 else 0.0
                ax.errorbar(x, y, yerr=yerr, fmt="o", capsize=3, color=colour, mfc="white" if r["partial"] else colour,
                            label=None if shown else LABELS[pipeline])
                shown = True
                ax.annotate(r["point"], (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7)
        ax.set_title(f"fusion test CCC, {target}")
        ax.set_xlabel("wall time per run, s (2-core CPU, the run's own)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("CCC (mean ± std over 3 seeds)")
    fig.text(0.01, 0.01, "open marker: time estimated as its own plus that of the run whose models it reused",
             fontsize=7)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle("Training budget: quality against time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", default=",".join(POINTS))
    ap.add_argument("--pipelines", default="nore", help="quality.py variants, e.g. nore,oofd")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--modalities", default="egemaps,vggface,fau")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/budget"))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("extra", nargs="*", help="extra flags for musefuse run (after --)")
    args = ap.parse_args()
    points, pipelines = args.points.split(","), args.pipelines.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    unknown = [p for p in points if p not in POINTS]
    if unknown:
        ap.error(f"unknown points {unknown}; known: {', '.join(POINTS)}")
    if not args.report_only:
        for p in points:
            for pipeline in pipelines:
                for s in seeds:
                    (args.out / p).mkdir(parents=True, exist_ok=True)
                    run = run_one(args.out / p, pipeline, s, args.modalities, [*ONE_THREAD, *POINTS[p], *args.extra])
                    print(f"done: {run} ({finished_in(run):.0f}s)", file=sys.stderr, flush=True)
    rows = {pipeline: summarize(args.out, points, pipeline, seeds) for pipeline in pipelines}
    for pipeline in pipelines:
        text = table(rows[pipeline], pipeline)
        (args.out / f"budget-{pipeline}.md").write_text(text + "\n")
        print(text)
    plot(rows, args.out / f"budget-{'-'.join(pipelines)}.png")


if __name__ == "__main__":
    main()
