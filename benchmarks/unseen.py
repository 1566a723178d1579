"""Results on unseen subjects: an older commit's default against this checkout's, per synthetic variant and seed.

Each (variant, version, seed) is one `musefuse run` of egemaps + vggface + fau with its defaults (`cpu` preset),
one at a time; the older commit runs from a temporary git worktree. A run folder that already has results.json is
read, not run again, so an interrupted benchmark resumes. The report (OUT/unseen.md, printed too) gives per variant:

- fusion CCC on devel and test, mean ± std over seeds, and the devel → test drop, for both versions;
- the paired test difference new − old, seed by seed;
- the seeds' ensemble: the mean of this checkout's fused predictions over the seeds (what `--ensemble-seeds N`
  predicts: the same models), scored on devel and test;
- train / devel / test CCC of every model of the older default at the first seed (the symptoms of a variant).

    python benchmarks/unseen.py --old 6ff15d9 --variants unseen-subjects,default --seeds 0,1,2 \\
        --new-only re-misleads --out benchmarks/results/unseen
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parents[1]
ALL = "egemaps,vggface,fau"  # what a variant's data folder holds
MODS = ALL  # what the runs read (--modalities)


def shim(package: Path, work: Path, name: str) -> dict[str, str]:
    """The environment that imports musefuse from ``package`` (a folder named musefuse put on PYTHONPATH)."""
    path = work / f"path-{name}"
    path.mkdir(parents=True, exist_ok=True)
    link = path / "musefuse"
    # an OUT folder first used from another checkout holds a link to that one: point it at this package
    if link.is_symlink() and link.resolve() != package.resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(package)
    return {**os.environ, "PYTHONPATH": str(path)}


def dataset(variant: str, work: Path, env: dict[str, str]) -> Path | None:
    """The variant's data (None: the embedded data, which `musefuse run` generates itself)."""
    if variant == "default":
        return None
    folder = work / f"data-{variant}"
    if not (folder / "truth" / "manifest.json").is_file():
        subprocess.run([sys.executable, "-m", "musefuse.cli", "synth", "--out", str(folder), "--variant", variant,
                        "--modalities", ALL, "--overwrite"], env=env, check=True)
    return folder


def run(env: dict[str, str], data: Path | None, seed: int, out: Path, store: Path) -> Path:
    if (out / "results.json").is_file():
        return out
    cmd = [sys.executable, "-m", "musefuse.cli", "run", "--modalities", MODS, "--seed", str(seed), "--out", str(out),
           "--overwrite", "--store", str(store), *(["--data", str(data)] if data else [])]
    print("$", " ".join(cmd), flush=True)
    with open(out.with_suffix(".log"), "w") as log:
        subprocess.run(cmd, env=env, check=True, stdout=log, stderr=subprocess.STDOUT)
    return out


def fusion(run_folder: Path) -> dict[tuple[str, str], float]:
    """(target, partition) -> fusion CCC."""
    return {(r["target"], r["partition"]): r["ccc"] for r in json.loads((run_folder / "results.json").read_text())
            if r["stage"] == "fusion" and r["ccc"] is not None}


def ensemble_scores(runs: list[Path], data: Path) -> dict[tuple[str, str], float]:
    """CCC of the mean of the runs' fused predictions, per (target, partition)."""
    from musefuse.core.learning.metrics import partition_scores

    parts = pd.read_csv(data / "metadata" / "partition.csv", dtype={"Id": str}).set_index("Id")["Partition"]
    out = {}
    for target in ("arousal", "valence"):
        for part in ("devel", "test"):
            preds, golds = [], []
            for sid in parts[parts == part].index:
                values = [pd.read_csv(r / "predictions" / "fusion" / target / f"{sid}.csv")["value"].to_numpy()
                          for r in runs]
                preds.append(np.mean(values, axis=0))
                golds.append(pd.read_csv(data / "label_segments" / target / f"{sid}.csv")["value"].to_numpy())
            out[(target, part)] = partition_scores(preds, golds)["ccc"]
    return out


def ms(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"


def report(variant: str, old: list[Path], new: list[Path], seeds: list[int], data: Path) -> list[str]:
    """Markdown for one variant (``old`` empty: the new default alone)."""
    lines = [f"## {variant}", "", "Fusion CCC, mean ± std over seeds " + ", ".join(map(str, seeds)) + ".", "",
             "| | old default | new default | new − old, test, paired by seed |", "|---|---|---|---|"]
    o, n = [fusion(r) for r in old], [fusion(r) for r in new]
    for target in ("arousal", "valence"):
        for part in ("devel", "test"):
            a, b = [s[(target, part)] for s in o], [s[(target, part)] for s in n]
            diff = ", ".join(f"{y - x:+.3f}" for x, y in zip(a, b, strict=True)) if part == "test" and o else ""
            lines.append(f"| {part} {target} | {ms(a) if o else '—'} | {ms(b)} | {diff} |")
        drop_o = [s[(target, "devel")] - s[(target, "test")] for s in o]
        drop_n = [s[(target, "devel")] - s[(target, "test")] for s in n]
        lines.append(f"| devel − test {target} | {ms(drop_o) if o else '—'} | {ms(drop_n)} | |")
    if len(new) > 1:
        ens = ensemble_scores(new, data)
        lines += ["", f"The {len(new)} seeds' new pipelines averaged (`--ensemble-seeds {len(new)}`): "
                  + ", ".join(f"{p} {t} {ens[(t, p)]:.3f}" for t in ("arousal", "valence") for p in ("devel", "test"))
                  + "."]
    lines += ["", "What the new default kept, per seed (decisions.json): " + "; ".join(
        f"seed {s}: " + ", ".join(kept(r)) for s, r in zip(seeds, new, strict=True)), ""]
    if not old:
        return lines
    records = json.loads((old[0] / "results.json").read_text())
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for r in records:
        if r["target"] != "combined" and r["ccc"] is not None:
            name = r["modalities"][0] if r["stage"] == "unimodal" else "fusion"
            cells.setdefault((name, r["target"]), {})[r["partition"]] = r["ccc"]
    lines += [f"Old default, seed {seeds[0]}, every model: train (in-sample) / devel / test CCC.", "",
              "| model | train | devel | test |", "|---|---|---|---|"]
    for (name, target), c in cells.items():
        lines.append(f"| {name} → {target} | {c.get('train', float('nan')):.3f} | {c['devel']:.3f} | "
                     f"{c['test']:.3f} |")
    return lines + [""]


def kept(run_folder: Path) -> list[str]:
    """'fau→arousal re' per decision of a run folder."""
    entries = json.loads((run_folder / "decisions.json").read_text())
    return [f"{e.get('modality', 'fusion')}→{e['target']} {e['chosen']}" for e in entries]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="the older commit (its default pipeline)")
    ap.add_argument("--variants", default="unseen-subjects,default")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", type=Path, default=HERE / "benchmarks" / "results" / "unseen")
    ap.add_argument("--runs", type=Path, help="where the run folders live (default OUT/runs)")
    ap.add_argument("--modalities", default=ALL)
    ap.add_argument("--new-only", default="", help="variants run with this checkout only (the old default's numbers "
                                                  "for them are in docs/results.md)")
    args = ap.parse_args()
    global MODS
    MODS = args.modalities
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = args.runs or args.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="unseen-"))
    older = work / "old"
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(older), args.old], check=True,
                   capture_output=True)
    try:
        envs = {"old": shim(older, work, "old"), "new": shim(HERE, work, "new")}
        lines = [f"# Unseen subjects: {args.old} (old) against {git_head()} (new)", "",
                 "Command: `python benchmarks/unseen.py " + " ".join(sys.argv[1:]) + "`", ""]
        new_only = [v for v in args.new_only.split(",") if v]
        for variant in [*(v for v in args.variants.split(",") if v), *new_only]:
            data = dataset(variant, runs, envs["new"])  # every feature set of the three: one folder per variant
            versions = ("new",) if variant in new_only else ("old", "new")
            tag = variant if MODS == ALL else f"{variant}-{MODS.replace(',', '+')}"
            folders = {v: [run(envs[v], data, s, runs / f"{tag}-{v}-s{s}", runs / f"store-{v}") for s in seeds]
                       if v in versions else [] for v in ("old", "new")}
            lines += report(tag, folders["old"], folders["new"], seeds, data or embedded())
        text = "\n".join(lines)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "unseen.md").write_text(text)
        print(text)
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(older)], capture_output=True)


def git_head() -> str:
    return subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


def embedded() -> Path:
    from musefuse.lab.synth import embedded_dataset

    return embedded_dataset(MODS.split(","))


if __name__ == "__main__":
    main()
