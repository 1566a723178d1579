"""Quality of the pipeline on the embedded synthetic dataset, mean ± std over seeds.

Each (variant, seed) is its own `musefuse run` (a separately trained pipeline, never the same model
with inputs zeroed). All runs share one artifact store under --out, so a model that two variants
have in common (e.g. the all-train auto-encoders of `re` and `oofd`) is trained once, and an
interrupted benchmark resumes where it stopped.

    python benchmarks/quality.py --seeds 0,1,2 --variants re,nore
    python benchmarks/quality.py --seeds 0,1,2 --variants re,oof              # fusion inputs: in-sample vs OOF
    python benchmarks/quality.py --variants re,oofd,nore --out benchmarks/results/idheavy -- --data DATA
    python benchmarks/quality.py --variants gate,oofd-oof-fs-fm,nore-oof-fs --out benchmarks/results/embedded-gate

Variants: re = AE-RE into regressors and fuser, in-sample everywhere (the paper's); nore = --estimator none (no
difficulty anywhere); nore-oof = nore with out-of-fold fusion inputs; oof = re with out-of-fold fusion
inputs; oofd = re with out-of-fold difficulty (each train subject's RE from an auto-encoder that never
saw it); oofd-oof = both; -fs = fold models standardise features on their own subjects (the default
since issue 10; variants without -fs use the run's standardisation for them, as before); -dv = each
auto-encoder's RE z-scored on devel, subjects none of them trained on (the other RE variants z-score it
on train); -fm = devel and test RE the mean of the fold auto-encoders' (`--difficulty-unseen
fold-mean`; the other RE variants take it from the all-train auto-encoder); oofd-q =
oofd with the RE quantile-calibrated against its train distribution; q = re, calibrated. Every RE variant
forces the RE into both stages (--re-unimodal --re-fusion); gate = the default since issue 21 (each regressor
and fuser keeps the RE only where it wins on devel), reported with its choices and against the better of the
other variants per seed. nore-rec / -wd / -drop / -win = nore-oof-fs with per-recording standardisation,
weight decay 0.1, dropout 0.5, windows 50 / hop 25. Every variant runs without the recording-mean
shrinkage (--mean-shrink 0, the default) except gate-ms and nore-ms: gate and nore-oof-fs with it chosen
on devel (--mean-shrink devel).
Writes OUT/quality-<variants>.md (tables for docs/results.md, with the difficulty drift, and every variant's fusion
CCC minus the last variant's, paired by seed) and prints it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

# Variants that predate a default spell out the old behaviour, so a variant means the same whatever the defaults:
FORCED = ["--re-unimodal", "--re-fusion"]  # the RE in both stages (before the devel gate, the default)
ALL_TRAIN = ["--difficulty-unseen", "all-train"]  # devel and test RE from the all-train auto-encoder
OLD_SCALE = ["--estimator-option", "reference=train", *ALL_TRAIN]  # ... z-scored on train subjects
OLD_FOLDS = ["--no-fold-standardise"]  # fold models on the run's standardisation
IN_SAMPLE = ["--difficulty-train", "in-sample", "--fusion-train", "in-sample", *OLD_SCALE]
OOF_BOTH = ["--difficulty-train", "out-of-fold", "--fusion-train", "out-of-fold"]
NORE = ["--estimator", "none", "--fusion-train", "out-of-fold", "--fold-standardise"]
VARIANTS: dict[str, list[str]] = {
    "re": [*FORCED, *IN_SAMPLE],
    "nore": ["--estimator", "none", "--fusion-train", "in-sample"],
    "nore-oof": ["--estimator", "none", "--fusion-train", "out-of-fold", *OLD_FOLDS],
    "nore-oof-fs": NORE,
    "oof": [*FORCED, "--difficulty-train", "in-sample", "--fusion-train", "out-of-fold", *OLD_FOLDS, *OLD_SCALE],
    "oofd": [*FORCED, "--difficulty-train", "out-of-fold", "--fusion-train", "in-sample", *OLD_FOLDS, *OLD_SCALE],
    "oofd-oof": [*FORCED, *OOF_BOTH, *OLD_FOLDS, *OLD_SCALE],
    "oofd-oof-fs": [*FORCED, *OOF_BOTH, "--fold-standardise", *OLD_SCALE],
    "oofd-oof-fs-dv": [*FORCED, *OOF_BOTH, "--fold-standardise", "--estimator-option", "reference=devel", *ALL_TRAIN],
    "oofd-oof-fs-fm": [*FORCED, *OOF_BOTH, "--fold-standardise", "--estimator-option", "reference=train",
                       "--difficulty-unseen", "fold-mean"],
    "oofd-q": [*FORCED, "--difficulty-train", "out-of-fold", "--fusion-train", "in-sample", *OLD_FOLDS, *OLD_SCALE,
               "--difficulty-calibration", "quantile"],
    "q": [*FORCED, *IN_SAMPLE, "--difficulty-calibration", "quantile"],
    # the default since issue 21: the devel gate decides per regressor and fuser whether it reads the RE
    "gate": [*OOF_BOTH, "--fold-standardise", "--difficulty-unseen", "fold-mean"],
    # between-subject generalisation options (issue 21), each on the no-RE pipeline nore-oof-fs
    "nore-rec": [*NORE, "--standardise", "recording"],  # per-recording z-scoring (MuSe baselines, eGeMAPS)
    "nore-wd": [*NORE, "--weight-decay", "0.1"],
    "nore-drop": [*NORE, "--dropout", "0.5"],  # the top of the paper's grid
    "nore-win": [*NORE, "--window", "50", "--hop", "25"],  # shorter, denser windows
}
# Every variant above runs without the recording-mean shrinkage (core/learning/mean_shrink.py), spelt out because
# it was the default for a while.
BASE = VARIANTS
VARIANTS = {name: [*flags, "--mean-shrink", "0"] for name, flags in BASE.items()}
# gate / nore-oof-fs with the shrinkage chosen on devel (they reuse those variants' models)
VARIANTS |= {name: [*BASE[base], "--mean-shrink", "devel"] for name, base in (("gate-ms", "gate"),
                                                                                 ("nore-ms", "nore-oof-fs"))}
LABELS = {"re": "with RE", "nore": "without RE", "nore-oof": "without RE, out-of-fold fusion inputs",
          "oof": "with RE, out-of-fold fusion inputs",
          "oofd": "with out-of-fold RE", "oofd-oof": "out-of-fold RE and fusion inputs",
          "oofd-oof-fs": "out-of-fold RE and fusion inputs, fold-standardised",
          "nore-oof-fs": "without RE, out-of-fold fusion inputs, fold-standardised",
          "oofd-oof-fs-dv": "out-of-fold RE and fusion inputs, fold-standardised, RE scaled on devel",
          "oofd-oof-fs-fm": "out-of-fold RE and fusion inputs, fold-standardised, devel/test RE the fold mean",
          "oofd-q": "out-of-fold RE, quantile-calibrated", "q": "with RE, quantile-calibrated",
          "gate": "RE where it wins on devel (the default)",
          "nore-rec": "without RE, per-recording standardisation", "nore-wd": "without RE, weight decay 0.1",
          "nore-drop": "without RE, dropout 0.5", "nore-win": "without RE, windows 50 / hop 25",
          "gate-ms": "the gate and the recording-mean shrinkage chosen on devel",
          "nore-ms": "without RE, recording-mean shrinkage chosen on devel"}


def run_one(out: Path, variant: str, seed: int, modalities: str, extra: list[str]) -> Path:
    run = out / f"{variant}-seed{seed}"
    if (run / "results.json").exists():
        return run
    cmd = [sys.executable, "-m", "musefuse.cli", "run", "--modalities", modalities, "--seed", str(seed),
           "--store", str(out / "store"), "--out", str(run), "--overwrite", "--json", *VARIANTS[variant], *extra]
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
    ref = variants[-1]
    lines += [f"**Fusion CCC paired by seed** — each variant minus {ref} with the same seed, mean ± std of the "
              "differences (same seed: same data split into folds, and the same initial weights wherever a model "
              "exists in both)", "", "| | " + " | ".join(f"{v} − {ref}" for v in variants[:-1]) + " |",
              "|---|" + "---|" * (len(variants) - 1)]
    for t, part in (("combined", "devel"), ("arousal", "test"), ("valence", "test"), ("combined", "test")):
        lines.append(f"| {part} {t} | " + " | ".join(ms(paired(recs[v], recs[ref], t, part))
                                                      for v in variants[:-1]) + " |")
    gated = next((v for v in ("gate-ms", "gate") if v in variants), None)  # the pipelines with a devel gate
    if gated:
        lines += gate_report(out, seeds, variants, recs, gated)
    with_re = [v for v in variants if not v.startswith("nore")]
    if with_re:  # variants without the RE have no drift to show
        lines += ["", "**Difficulty drift** — mean RE on devel / test in train sd units (0 = no drift), "
                  "mean over seeds", "", "| modality | " + " | ".join(LABELS[v] for v in with_re) + " |",
                  "|---|" + "---|" * len(with_re)]
        for m in modalities:
            cells = []
            for v in with_re:
                d = drift(out, v, seeds, m)
                cells.append(f"{ms(d['devel'])} / {ms(d['test'])}")
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gate_report(out: Path, seeds: list[int], variants: list[str], recs: dict[str, list[dict]],
                gated: str) -> list[str]:
    """How often the devel gate kept the RE, and the gated pipeline against the better of the others, per seed;
    with the recording-mean shrinkage each seed's λ where the variant chose it on devel."""
    lines = ["", "**The devel gate's choices** — seeds (of those run) in which each model kept the RE; its devel CCC "
             "with / without RE, mean over seeds", "", "| model | kept the RE | devel CCC with RE | without |",
             "|---|---|---|---|"]
    inputs = [json.loads(p.read_text()) for s in seeds
              if (p := out / f"{gated}-seed{s}" / "difficulty_inputs.json").exists()]
    models = [(f"unimodal {m} → {t}", lambda d, m=m, t=t: d["unimodal"][m][t])
              for m in (inputs[0]["unimodal"] if inputs else {}) for t in ("arousal", "valence")]
    models += [(f"fusion → {t}", lambda d, t=t: d["fusion"][t]) for t in ("arousal", "valence")]
    for name, get in models:
        choices = [get(d) for d in inputs]
        kept = sum(c["re"] for c in choices)
        lines.append(f"| {name} | {kept}/{len(choices)} | "
                     + " | ".join(ms([c["devel_ccc"][k] for c in choices if c["devel_ccc"][k] is not None])
                                  for k in ("re", "no-re")) + " |")
    for name, shrinks in shrink_choices(out, seeds, variants).items():
        lines.append(f"| recording-mean shrinkage ({name}) | λ per seed: "
                     + "; ".join(f"{t} " + ", ".join(f"{x:g}" for x in lams) for t, lams in shrinks.items()) + " | | |")
    others = [v for v in variants if v not in ("gate", "gate-ms")]
    if not others:  # nothing to compare the gated pipeline with
        return lines
    lines += ["", f"**{gated} minus the better of {', '.join(others)}, per seed** (the better chosen per seed and row)",
              "", "| | per seed | mean ± std |", "|---|---|---|"]
    for t, part in (("combined", "devel"), ("arousal", "devel"), ("valence", "devel"), ("arousal", "test"),
                    ("valence", "test")):
        best = [max(cands) for cands in zip(*[paired(recs[v], [], t, part, absolute=True) for v in others],
                                            strict=True)]
        diffs = [g - b for g, b in zip(paired(recs[gated], [], t, part, absolute=True), best, strict=False)]
        lines.append(f"| {part} {t} | " + ", ".join(f"{d:+.3f}" for d in diffs) + f" | {ms(diffs)} |")
    return lines


def shrink_choices(out: Path, seeds: list[int], variants: list[str]) -> dict[str, dict[str, list[float]]]:
    """variant -> target -> the λ each seed's run chose on devel (variants that chose it only)."""
    chosen: dict[str, dict[str, list[float]]] = {}
    for v in variants:
        for s in seeds:
            path = out / f"{v}-seed{s}" / "mean_shrink.json"
            if path.exists():
                for t, sh in json.loads(path.read_text()).items():
                    if sh["by"] == "devel":
                        chosen.setdefault(v, {}).setdefault(t, []).append(sh["lambda"])
    return chosen


def paired(records: list[dict], reference: list[dict], target: str, partition: str,
           absolute: bool = False) -> list[float]:
    """Fusion CCC of ``records`` minus ``reference``'s, per seed that both have (``absolute``: ``records``' own)."""
    def by_seed(recs: list[dict]) -> dict[int, float]:
        return {r["seed"]: r["ccc"] for r in recs if r["stage"] == "fusion" and r["target"] == target
                and r["partition"] == partition and r["ccc"] is not None}

    a, b = by_seed(records), by_seed(reference)
    if absolute:
        return [a[s] for s in sorted(a)]
    return [a[s] - b[s] for s in sorted(a.keys() & b.keys())]


def drift(out: Path, variant: str, seeds: list[int], modality: str) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"devel": [], "test": []}
    for s in seeds:
        path = out / f"{variant}-seed{s}" / "difficulty_drift.json"
        if path.exists():
            parts = json.loads(path.read_text()).get(modality, {}).get("partitions", {})
            for p in found:
                if p in parts:
                    found[p].append(parts[p]["mean"])
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default="re,nore")
    ap.add_argument("--modalities", default="egemaps,vggface,fau")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel (each run already uses every core)")
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
