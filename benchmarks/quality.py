"""Quality of the pipeline on the embedded synthetic dataset, mean ± std over seeds.

Each (variant, seed) is an independent `musefuse run` (a separately trained pipeline, never the same
model with inputs zeroed); runs already finished under --out are reused, so the script resumes.

    python benchmarks/quality.py --seeds 0,1,2 --variants re,nore --jobs 2
    python benchmarks/quality.py --seeds 0,1,2 --variants re,oof --jobs 2   # fusion inputs: in-sample vs OOF

Variants: re = the default (AE-RE into regressors and fuser, in-sample fusion inputs);
nore = --estimator none (no difficulty anywhere); oof = re with out-of-fold fusion inputs.
Writes OUT/quality.md (tables for the README) and prints it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

VARIANTS = {
    "re": [],
    "nore": ["--estimator", "none"],
    "oof": ["--fusion-train", "out-of-fold"],
}
LABELS = {"re": "with RE", "nore": "without RE", "oof": "with RE, out-of-fold fusion inputs"}


def run_one(out: Path, variant: str, seed: int, modalities: str, extra: list[str]) -> Path:
    run = out / f"{variant}-seed{seed}"
    if (run / "results.json").exists():
        return run
    cmd = [sys.executable, "-m", "musefuse.cli", "run", "--modalities", modalities, "--seed", str(seed),
           "--threads", "1", "--out", str(run), "--overwrite", "--json", *VARIANTS[variant], *extra]
    with open(out / f"{variant}-seed{seed}.log", "w") as log:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=log, check=True)
    return run


def ms(values: list[float]) -> str:
    if not values:
        return "—"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def collect(out: Path, variant: str, seeds: list[int]) -> list[dict]:
    records = []
    for s in seeds:
        path = out / f"{variant}-seed{s}" / "results.json"
        if path.exists():
            records += json.loads(path.read_text())
    return records


def pick(records, stage, target, partition, modality=None) -> list[float]:
    return [r["ccc"] for r in records if r["stage"] == stage and r["target"] == target
            and r["partition"] == partition and (modality is None or r["modalities"] == [modality])
            and r["ccc"] is not None]


def report(out: Path, variants: list[str], seeds: list[int], modalities: list[str]) -> str:
    recs = {v: collect(out, v, seeds) for v in variants}
    n = {v: len({r["seed"] for r in recs[v]}) for v in variants}
    lines = [f"Seeds: {seeds} (runs found: " + ", ".join(f"{v}={n[v]}" for v in variants) + ")", ""]
    for part in ("test", "devel"):
        lines += [f"**Unimodal CCC ({part})**", "",
                  "| modality | target | " + " | ".join(LABELS[v] for v in variants) + " |",
                  "|---|---|" + "---|" * len(variants)]
        for m in modalities:
            for t in ("arousal", "valence"):
                lines.append(f"| {m} | {t} | " + " | ".join(ms(pick(recs[v], "unimodal", t, part, m))
                                                             for v in variants) + " |")
        lines += ["", f"**Fusion CCC ({part})** — best single modality is the best unimodal mean of that variant",
                  "", "| target | " + " | ".join(f"fusion {LABELS[v]} | best single ({v})" for v in variants) + " |",
                  "|---|" + "---|---|" * len(variants)]
        for t in ("arousal", "valence", "combined"):
            cells = []
            for v in variants:
                best = max((pick(recs[v], "unimodal", t, part, m) for m in modalities),
                           key=lambda xs: statistics.mean(xs) if xs else -9, default=[])
                cells += [ms(pick(recs[v], "fusion", t, part)), ms(best)]
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default="re,nore")
    ap.add_argument("--modalities", default="egemaps,vggface,fau")
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel (each uses one torch thread)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/quality"))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("extra", nargs="*", help="extra flags for musefuse run (after --)")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        jobs = [(v, s) for s in seeds for v in variants]
        with ThreadPoolExecutor(args.jobs) as pool:
            for run in pool.map(lambda vs: run_one(args.out, vs[0], vs[1], args.modalities, args.extra), jobs):
                print(f"done: {run}", file=sys.stderr, flush=True)
    text = report(args.out, variants, seeds, args.modalities.split(","))
    (args.out / f"quality-{'-'.join(variants)}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
