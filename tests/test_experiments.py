"""Experiments: ablations as one task graph with reuse, devel-only model selection, summaries, the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.errors import ConfigError
from musefuse.lab.experiments import seeds_option
from musefuse.lab.experiments import selection as sel
from musefuse.lab.experiments.ablations import combinations
from musefuse.lab.experiments.summary import summarize
from musefuse.lab.synth import write_synthetic

MODS = "egemaps,fau"
TINY = ["--layers", "1", "--hidden", "8", "--epochs", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("exp") / "small", small=True, seed=1, modalities=["egemaps", "fau"])


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def models(folder: Path) -> dict:
    return json.loads((folder / "experiment.json").read_text())["models"]


# -- options -----------------------------------------------------------------------------------


def test_seeds_option():
    assert seeds_option("3") == [0, 1, 2]
    assert seeds_option("0,4,7") == [0, 4, 7]
    for bad in ("0", "x", "1,1", "-2"):
        with pytest.raises(ConfigError, match="--seeds"):
            seeds_option(bad)


def test_grid_parsing(tmp_path):
    assert sel.parse_grid() == sel.PAPER_GRID
    assert len(sel.points(sel.PAPER_GRID)) == 36  # 4 RNN types x 3 learning rates x 3 dropouts
    grid = sel.parse_grid(["lr=0.001,0.005", "rnn=gru"])
    assert grid == {"rnn": ["gru"], "lr": [0.001, 0.005], "dropout": [0.1, 0.2, 0.5]}
    file = tmp_path / "grid.yaml"
    file.write_text("dropout: [0.1]\nhidden: 16\n")
    assert sel.parse_grid(["dropout=0.5"], file) == {**sel.PAPER_GRID, "dropout": [0.5], "hidden": [16]}
    assert [sel.point_label(p) for p in sel.points({"lr": [0.001, 0.0005], "rnn": ["gru"]})] == \
        ["lr=0.001 rnn=gru", "lr=0.0005 rnn=gru"]
    for item, message in [("dropout=1.5", "dropout=1.5"), ("lrr=0.1", "unknown grid axis 'lrr'"),
                          ("rnn=transformer", "rnn='transformer'"), ("lr=0.1,0.1", "repeats"), ("lr", "AXIS=")]:
        with pytest.raises(ConfigError, match=message):
            sel.parse_grid([item])
    file.write_text("- lr\n")
    with pytest.raises(ConfigError, match="mapping"):
        sel.parse_grid(None, file)


def test_fusion_combinations_are_the_papers():
    assert combinations(["egemaps", "vggface", "bert", "deepspectrum", "fau"]) == [
        ["egemaps", "vggface"], ["egemaps", "vggface", "bert"], ["egemaps", "vggface", "deepspectrum"],
        ["egemaps", "vggface", "fau"]]


def test_choose_refuses_test_records():
    record = {"stage": "unimodal", "modalities": ["fau"], "target": "arousal", "variant": "lr=0.001", "ccc": 0.5}
    assert sel.choose([{**record, "partition": "devel"}], ["lr=0.001"])[("fau", "arousal")]["variant"] == "lr=0.001"
    with pytest.raises(ValueError, match="devel"):
        sel.choose([{**record, "partition": "test"}], ["lr=0.001"])


# -- ablations through the task graph ----------------------------------------------------------


def test_ablate_re_then_fusion_reuses_every_regressor(data, tmp_path):
    store = tmp_path / "store"
    common = ["--modalities", MODS, "--data", data, "--store", store, *TINY]
    out = cli("ablate", "re", "--seeds", "2", "--out", tmp_path / "re", *common)
    assert "features + RE" in out and "egemaps" in out and "fau" in out
    first = models(tmp_path / "re")
    # 2 modalities x 2 targets x (with, without RE) x 2 seeds regressors, each 3 fold models and their mean (the
    # default: unseen subjects get the fold models' mean); per modality and seed 3 fold AEs and their mean (the
    # defaults: out-of-fold difficulty on train, the fold mean elsewhere), and one all-train AE for the difficulty
    # outputs of the trial without RE
    assert first["by_kind"] == {"estimator": {"trained": 16, "reused": 0}, "fold-mean": {"trained": 4 + 16,
                                                                                         "reused": 0},
                                "regressor": {"trained": 48, "reused": 0}}
    table = (tmp_path / "re" / "table.md").read_text()
    assert "## arousal" in table and "| egemaps |" in table and "**" in table and "over 2 seeds" in table
    rows = pd.read_csv(tmp_path / "re" / "table.csv")
    assert set(rows["variant"]) == {"features only", "features + RE"} and set(rows["n_seeds"]) == {2}
    assert rows.groupby(["target", "modality"])["devel_best"].sum().eq(2).all()  # one cell (devel + test rows)
    assert len(list((tmp_path / "re" / "configs").glob("*.yaml"))) == 4

    out = cli("ablate", "fusion", "--seeds", "2", "--out", tmp_path / "fusion", *common)
    # every regressor's candidates (with and without RE: the regressors' default decides) are the fold models the
    # re ablation trained: all reused; new are only the candidates' averages, the decisions and the fusers
    assert "regressor 0 trained, 48 reused" in out.replace("\n", " ")
    second = models(tmp_path / "fusion")
    assert second["by_kind"]["regressor"] == {"trained": 0, "reused": 48}
    assert second["by_kind"]["decision"] == {"trained": 8, "reused": 0}
    assert second["by_kind"]["estimator"] == {"trained": 0, "reused": 12}
    assert second["by_kind"]["fold-mean"] == {"trained": 8, "reused": 20}  # the 8 averages are new
    assert second["by_kind"]["fuser"]["trained"] == 8  # (with, without RE) x 2 targets x 2 seeds
    records = json.loads((tmp_path / "fusion" / "results.json").read_text())
    assert {r["variant"] for r in records if r["stage"] == "fusion"} == {"fusion, no RE", "fusion + RE"}
    cli("report", tmp_path / "fusion")
    page = (tmp_path / "fusion" / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 1 and "<table>" in page and "fusion + RE" in page
    assert (tmp_path / "fusion" / "report" / "experiment.png").stat().st_size > 10_000

    # An interrupted experiment resumes: the same command trains nothing that finished.
    (tmp_path / "re" / "results.json").unlink()
    cli("ablate", "re", "--seeds", "2", "--out", tmp_path / "re", *common)
    assert models(tmp_path / "re")["trained"] == 0


def test_ablate_errors_are_one_paragraph(data, tmp_path):
    result = CliRunner().invoke(app, ["ablate", "nope", "--data", str(data)])
    assert result.exit_code == 2 and "Unknown ablation 'nope'" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["ablate", "rnn", "--combos", "egemaps+fau", "--data", str(data)])
    assert result.exit_code == 2 and "--combos applies to 'ablate fusion' only" in result.output


# -- model selection ---------------------------------------------------------------------------


def shuffled_test_labels(src: Path, dst: Path) -> Path:
    """A copy of ``src`` whose test subjects' label values are permuted in time."""
    shutil.copytree(src, dst)
    parts = pd.read_csv(dst / "metadata" / "partition.csv")
    rng = np.random.default_rng(0)
    for sid in parts.loc[parts["Partition"] == "test", "Id"]:
        for target in ("arousal", "valence"):
            path = dst / "label_segments" / target / f"{sid}.csv"
            frame = pd.read_csv(path)
            frame["value"] = rng.permutation(frame["value"].to_numpy())
            frame.to_csv(path, index=False)
    return dst


def test_selection_never_sees_test_and_a_run_takes_the_winners(data, tmp_path):
    store = tmp_path / "store"
    args = ["select", "--grid", "lr=0.001,0.005", "--grid", "dropout=0.1", "--grid", "rnn=gru,bigru",
            "--modalities", MODS, "--targets", "arousal", "--store", store, *TINY]
    cli(*args, "--data", data, "--out", tmp_path / "sel")
    cli(*args, "--data", shuffled_test_labels(data, tmp_path / "shuffled"), "--out", tmp_path / "sel-shuffled")
    chosen = yaml.safe_load((tmp_path / "sel" / "selected.yaml").read_text())
    assert chosen == yaml.safe_load((tmp_path / "sel-shuffled" / "selected.yaml").read_text())
    assert (tmp_path / "sel" / "grid.csv").read_text() == (tmp_path / "sel-shuffled" / "grid.csv").read_text()

    def test_scores(folder):
        return sorted((tuple(r["modalities"]), r["variant"], r["ccc"]) for r in
                      json.loads((folder / "results.json").read_text()) if r["partition"] == "test")

    original, shuffled = test_scores(tmp_path / "sel"), test_scores(tmp_path / "sel-shuffled")
    assert len(original) == 2  # test reported once per modality x target: the selected point only
    assert [s[:2] for s in original] == [s[:2] for s in shuffled] and original != shuffled  # test really changed
    grid = pd.read_csv(tmp_path / "sel" / "grid.csv")
    assert len(grid) == 2 * 4 and grid["selected"].sum() == 2 and "test" not in " ".join(grid.columns)

    # The winners as a run's settings: the selected regressors are the very models in the store.
    run = tmp_path / "run"
    cli("run", "--config", tmp_path / "sel" / "selected.yaml", "--data", data, "--store", store, "--device", "cpu",
        "--out", run)
    tasks = json.loads((run / "tasks.json").read_text())
    # (the fold regressors that feed the fuser out-of-fold are the run's own: selection trains no fuser)
    regressors = [t for t in tasks if t["kind"] == "regressor"]  # the fold models of each candidate
    assert {t["label"].split("unimodal ")[1].split()[0] for t in regressors} == {"egemaps", "fau"}
    assert regressors and all(t["reused"] for t in regressors)
    for t in regressors:
        m = t["label"].split("unimodal ")[1].split()[0]
        assert {k: t["settings"][k] for k in ("rnn", "lr", "dropout")} == chosen["model_settings"][m]["arousal"]

    cli("report", run)  # predicted vs gold, difficulty with the synthetic truth shaded, CCC bars
    page = (run / "report" / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "shaded: frames the data" in page
    assert {p.name for p in (run / "report").glob("*.png")} == {"traces.png", "difficulty.png", "ccc.png"}
    cli("run", "--config", tmp_path / "sel" / "selected.yaml", "--data", data, "--store", store, "--device", "cpu",
        "--out", run, "--overwrite")  # a report inside a run folder is the run's to clear
    assert not (run / "report").exists()


# -- summaries ---------------------------------------------------------------------------------


def fake_run(folder: Path, seed: int, re_fusion: bool, ccc: dict[str, float]) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"modalities": ["fau"], "seed": seed, "re_fusion": re_fusion,
                                                        "out": str(folder), "workers": 2}))
    records = [{"stage": "fusion", "modalities": ["fau"], "target": "arousal", "partition": p, "ccc": v,
                "re": re_fusion, "seed": seed} for p, v in ccc.items()]
    (folder / "results.json").write_text(json.dumps(records))
    return folder


def test_summarize_groups_runs_by_the_setting_that_differs(tmp_path):
    runs = [fake_run(tmp_path / "a0", 0, True, {"devel": 0.5, "test": 0.4}),
            fake_run(tmp_path / "a1", 1, True, {"devel": 0.7, "test": 0.6}),
            fake_run(tmp_path / "b0", 0, False, {"devel": 0.2, "test": 0.1})]
    summary = summarize(runs)
    assert summary.fields == ["re_fusion"]  # seed, out and workers never group
    by_group = {r["group"]: r for r in summary.rows}
    mean, std, n = by_group["re_fusion=True"]["stats"]["devel"]
    assert (round(mean, 6), round(std, 6), n) == (0.6, round(np.std([0.5, 0.7], ddof=1), 6), 2)
    assert by_group["re_fusion=False"]["stats"]["test"] == (0.1, None, 1)
    out = cli("summarize", *runs, "--markdown", tmp_path / "s.md", "--csv", tmp_path / "s.csv")
    assert "re_fusion" in out
    md = (tmp_path / "s.md").read_text()
    assert "| True | fusion | fau | arousal | re | 0.600 ± 0.141 (2) [n/a] | 0.500 ± 0.141 (2) [n/a] |" in md
    assert len(pd.read_csv(tmp_path / "s.csv")) == 4
    fake_run(tmp_path / "dup", 1, True, {"devel": 0.7})
    assert "same settings and seed 1" in " ".join(summarize([*runs, tmp_path / "dup"]).warnings)
    result = CliRunner().invoke(app, ["summarize", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and "not a finished musefuse run folder" in result.output


def test_seeds_of_one_command_that_decided_differently_are_one_group(tmp_path):
    """Three seeds of one run command, two kept the RE for the fuser and one did not: one group, the 3-seed mean,
    what each seed kept in a column of its own (the model it decided is no grouping key)."""
    runs = []
    for seed, (chosen, ccc) in enumerate([("re", 0.294), ("re", 0.298), ("no-re", 0.255)]):
        folder = fake_run(tmp_path / f"s{seed}", seed, "devel", {"devel": ccc})
        records = json.loads((folder / "results.json").read_text())
        for r in records:
            r.update(chosen=chosen, re=chosen == "re", ccc_ci95=[ccc - 0.1, ccc + 0.1])
        (folder / "results.json").write_text(json.dumps(records))
        runs.append(folder)
    summary = summarize(runs)
    assert summary.fields == [] and len(summary.rows) == 1
    row = summary.rows[0]
    mean, std, n = row["stats"]["devel"]
    assert (round(mean, 6), n) == (round((0.294 + 0.298 + 0.255) / 3, 6), 3)
    assert row["models"] == {0: "re", 1: "re", 2: "plain"}
    out = cli("summarize", *runs, "--markdown", tmp_path / "s.md", "--csv", tmp_path / "s.csv")
    assert "nothing" in out and "seed 0 re; seed 1 re; seed 2 plain" in out
    row = "| all runs | fusion | fau | arousal | seed 0 re; seed 1 re; seed 2 plain | 0.282 ± 0.024 (3) [0.18, 0.38] |"
    assert row in (tmp_path / "s.md").read_text()
    assert list(pd.read_csv(tmp_path / "s.csv")["model"]) == ["seed 0 re; seed 1 re; seed 2 plain"]

