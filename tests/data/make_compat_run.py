"""Write tests/data/compat-<version>/: a tiny run folder written by this release, and what predict gives with it.

    PYTHONPATH=<folder holding musefuse> python tests/data/make_compat_run.py [--out tests/data/compat-X]

tests/test_compat.py predicts with every compat-* folder and compares with its expected.json, so a run folder
written by this release stays predictable by the next ones. Run this from a clean checkout of the release
(environment.json, manifest.json and about.json record the version and the git commit that wrote it), once
per release whose run folders should stay readable; never regenerate an existing folder to make its test pass.

What is kept (about 200 KB): the run folder without predictions/ and difficulty/ (outputs, not read by predict,
and most of its size); data/: the devel and test subjects' features and partition file (labels are not needed
to predict); expected.json: predict's fusion and unimodal predictions for them. The run: synthetic data
(musefuse.lab.synth, small, seed 1, modality fau), the default pipeline (devel gates, out-of-fold fusion,
fold-mean difficulty) with a tiny model (1 layer of 4 units, 1 epoch) on the CPU.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

HERE = Path(__file__).parent
TINY = ["--modalities", "fau", "--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1", "--device", "cpu",
        "--workers", "1", "--seed", "0"]
PARTS = ("devel", "test")


def cli(*args) -> str:
    from musefuse.cli.app import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exit_code != 0:
        raise SystemExit(f"musefuse {args[0]} failed:\n{result.output}")
    return result.output


def read_predictions(folder: Path, ids: list[str]) -> dict[str, list[float]]:
    return {i: pd.read_csv(folder / f"{i}.csv")["value"].tolist() for i in ids}


def main() -> None:
    import musefuse
    from musefuse.lab.synth import write_synthetic

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / f"compat-{version('musefuse')}")
    out = parser.parse_args().out
    if out.exists():
        raise SystemExit(f"{out} exists: a compat folder records what one release wrote; remove it only on purpose.")
    package = Path(musefuse.__file__).parent
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=package, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "core", "plugins", "cli", "lab", "registry.yaml"],
                           cwd=package, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_synthetic(tmp / "synth", small=True, seed=1, modalities=["fau"])
        cli("run", "--data", data, "--out", tmp / "run", "--store", tmp / "store", *TINY)

        partition = pd.read_csv(data / "metadata" / "partition.csv")
        partition = partition[partition["Partition"].isin(PARTS)]
        ids = sorted(partition["Id"].astype(str))
        (out / "data" / "metadata").mkdir(parents=True)
        partition.to_csv(out / "data" / "metadata" / "partition.csv", index=False)
        (out / "data" / "feature_segments" / "fau").mkdir(parents=True)
        for i in ids:
            shutil.copy(data / "feature_segments" / "fau" / f"{i}.csv", out / "data" / "feature_segments" / "fau")
        shutil.copytree(tmp / "run", out / "run", ignore=shutil.ignore_patterns("predictions", "difficulty"))

        expected: dict[str, dict[str, dict[str, list[float]]]] = {}
        for stage in ("fusion", "unimodal"):
            pred = tmp / f"pred-{stage}"
            cli("predict", "--run", out / "run", "--data", out / "data", "--out", pred, "--stage", stage,
                "--device", "cpu", "--threads", "1")
            base = pred if stage == "fusion" else pred / "fau"
            expected[stage] = {t: read_predictions(base / t, ids) for t in ("arousal", "valence")}
            own = tmp / "run" / "predictions" / ("fusion" if stage == "fusion" else "unimodal-fau")
            for t, by_id in expected[stage].items():  # predict on new data = the run's own predictions
                for i, values in by_id.items():
                    np.testing.assert_allclose(values, read_predictions(own / t, [i])[i], atol=1e-6)
    (out / "expected.json").write_text(json.dumps(expected) + "\n")
    (out / "about.json").write_text(json.dumps({
        "musefuse": version("musefuse"), "git_commit": commit, "code_changed_since_commit": bool(dirty),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "how": "python tests/data/make_compat_run.py (see its docstring)", "subjects": ids,
        "predict": "musefuse predict --run run --data data --out OUT [--stage unimodal]"}, indent=2) + "\n")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({size / 1024:.0f} KB), musefuse {version('musefuse')}, commit {commit[:12]}"
          f"{' (code changed since!)' if dirty else ''}")


if __name__ == "__main__":
    main()
