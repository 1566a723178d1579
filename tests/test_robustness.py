"""`musefuse robustness` end to end on tiny models, and the pieces it is built from."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.config import RunConfig
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.errors import ConfigError
from musefuse.core.plugin_host import PluginHost
from musefuse.core.runs.checkpoints import load_fitted
from musefuse.core.runs.runner import execute_run, load_run_config
from musefuse.lab.difficulty_quality import difficulty_auc, read_truth_masks, roc_auc
from musefuse.lab.robustness import CorruptionSpec, corrupt_subjects, curve_summary, parse_corrupt, parse_levels
from musefuse.lab.synth import write_synthetic

TINY = ["--layers", "1", "--hidden", "8", "--epochs", "2", "--threads", "1", "--device", "cpu"]
TINY_CFG = {"layers": 1, "hidden": 8, "epochs": 2, "threads": 1, "device": "cpu"}


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("data") / "small", small=True, seed=1,
                           modalities=["egemaps", "fau"])


@pytest.fixture(scope="session")
def run(data, tmp_path_factory) -> Path:
    cfg = RunConfig(modalities=["egemaps", "fau"], data=data, out=tmp_path_factory.mktemp("runs") / "r", **TINY_CFG)
    return execute_run(cfg)[0]


# -- pieces ------------------------------------------------------------------------------------


def test_roc_auc_matches_pairwise_counting():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 200).astype(float)  # many ties
    labels = rng.random(200) < 0.3
    pos, neg = scores[labels], scores[~labels]
    brute = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert roc_auc(scores, labels) == pytest.approx(brute)
    assert roc_auc(np.array([1.0, 2.0, 3.0]), np.array([False, True, True])) == 1.0
    assert roc_auc(np.array([3.0, 2.0, 1.0]), np.array([False, True, True])) == 0.0
    assert roc_auc(np.array([1.0, 2.0]), np.array([True, True])) is None


def test_curve_summary_and_near_zero_base():
    s = curve_summary([0, 0.5, 1], [0.6, 0.3, 0.0])
    assert s["mean"] == pytest.approx(0.3) and s["relative"] == pytest.approx(0.5) and s["drop"] == pytest.approx(0.6)
    s = curve_summary([0, 0.5, 1], [0.02, 0.01, 0.0])
    assert s["relative"] is None and s["mean"] == pytest.approx(0.01)  # a ratio to ~0 means nothing


def test_parsing_corrupt_and_levels():
    assert parse_corrupt("vggface:occlusion, egemaps:gaussian+fau:splice") == [
        (CorruptionSpec("vggface", "occlusion"),),
        (CorruptionSpec("egemaps", "gaussian"), CorruptionSpec("fau", "splice")),
    ]
    assert parse_levels("0.5,1,0.5") == [0.0, 0.5, 1.0]  # level 0 always included
    with pytest.raises(ConfigError, match="MODALITY:CORRUPTION"):
        parse_corrupt("vggface")
    with pytest.raises(ConfigError, match="outside"):
        parse_levels("0.5,2")


def test_corrupting_subjects_is_seeded_and_leaves_originals(data):
    host = PluginHost(third_party=False)
    mods = [host.modality("fau")]
    ds = load_dataset(data, mods, ["arousal"])
    standardise(ds, mods)
    before = [s.features["fau"].copy() for s in ds.subjects]
    exp = (CorruptionSpec("fau", "splice"),)
    a, ma = corrupt_subjects(ds.subjects, exp, 0.5, 3, host)
    b, mb = corrupt_subjects(ds.subjects, exp, 0.5, 3, host)
    for x, y, orig, s in zip(a, b, before, ds.subjects, strict=True):
        np.testing.assert_array_equal(x.features["fau"], y.features["fau"])
        np.testing.assert_array_equal(s.features["fau"], orig)
    assert all(np.array_equal(p, q) and p.any() for p, q in zip(ma["fau"], mb["fau"], strict=True))
    zero, m0 = corrupt_subjects(ds.subjects, exp, 0.0, 3, host)
    assert all(np.array_equal(z.features["fau"], o, equal_nan=True) for z, o in zip(zero, before, strict=True))
    assert not any(m.any() for m in m0["fau"])


def test_truth_masks_and_difficulty_auc_of_a_finished_run(run, data):
    host = PluginHost(third_party=False)
    cfg = load_run_config(run)
    fitted = load_fitted(run, cfg, host, "cpu")
    ds = load_dataset(data, fitted.modalities, cfg.inputs.targets)
    standardise(ds, fitted.modalities, stats=fitted.stats)
    truth = read_truth_masks(data, ds.subjects, ["egemaps", "fau"])
    sid = ds.subjects[0].id
    frame = pd.read_csv(data / "truth" / f"{sid}.csv", keep_default_na=False)
    np.testing.assert_array_equal(truth[sid]["fau"], frame["fau_corrupt"].to_numpy() == 1)
    res = difficulty_auc(fitted, ds, data)  # a data folder works as well as the masks
    assert set(res) == {"egemaps", "fau"}
    for r in res.values():
        assert 0 <= r["auc"] <= 1 and r["n_corrupt"] > 0 and r["n_clean"] > r["n_corrupt"]
    assert difficulty_auc(fitted, ds.subjects, truth, partitions=None)["fau"]["n_corrupt"] > res["fau"]["n_corrupt"]
    assert read_truth_masks(data / "metadata", ds.subjects, ["fau"]) is None  # no truth/ there


# -- the command --------------------------------------------------------------------------------


def test_robustness_trains_scores_and_writes_everything(data, tmp_path):
    out = tmp_path / "rob"
    result = cli("robustness", "--modalities", "egemaps,fau", "--data", data, "--corrupt",
                 "fau:occlusion,egemaps:splice", "--levels", "1", "--seeds", "2", "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    for name in ("robustness.csv", "robustness.md", "robustness.png", "difficulty.csv", "summary.json", "log.txt"):
        assert (out / name).is_file(), name
    rows = pd.read_csv(out / "robustness.csv")
    assert sorted(rows["level"].unique()) == [0.0, 1.0] and sorted(rows["seed"].unique()) == [0, 1]
    assert set(rows["model"]) == {"fusion-re", "fusion-nore", "fusion-mean", "fusion-oracle", "unimodal-egemaps",
                                  "unimodal-fau"}
    assert set(rows["partition"]) == {"devel", "test"} and "combined" in set(rows["target"])
    # Level 0 is the same clean evaluation for every experiment; fau's model ignores egemaps' corruption.
    clean = rows[rows.level == 0].pivot_table(index=["seed", "model", "partition", "target"],
                                              columns="experiment", values="ccc")
    np.testing.assert_allclose(clean["fau:occlusion"], clean["egemaps:splice"])
    fau = rows[(rows.model == "unimodal-fau") & (rows.experiment == "egemaps:splice")]
    assert fau.groupby(["seed", "partition", "target"])["ccc"].nunique().eq(1).all()
    quality = pd.read_csv(out / "difficulty.csv")
    assert {"truth", "injected"} <= set(quality["source"])
    occl = quality[(quality.source == "injected") & (quality.experiment == "fau:occlusion") & (quality.level == 1)]
    assert (occl["auc"] > 0.9).all()  # ±3 constant vectors are far off the auto-encoder's manifold
    summary = json.loads((out / "summary.json").read_text())
    assert {s["model"] for s in summary["summary"]} >= {"fusion-re", "fusion-nore"}
    assert "fusion + RE" in result.stdout and "ROC AUC" in result.stdout
    assert (out / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_robustness_of_a_finished_run_is_repeatable(run, tmp_path):
    args = ["--run", run, "--corrupt", "fau:gaussian", "--levels", "0.5", "--threads", "1", "--device", "cpu"]
    first = cli("robustness", *args, "--out", tmp_path / "a")
    assert first.exit_code == 0, first.output
    second = cli("robustness", *args, "--out", tmp_path / "b")
    assert second.exit_code == 0, second.output
    a, b = (pd.read_csv(tmp_path / d / "robustness.csv") for d in ("a", "b"))
    pd.testing.assert_frame_equal(a, b)
    # Seed 0's pipeline with RE is the run's own: its clean fusion score is the run's.
    records = json.loads((run / "results.json").read_text())
    theirs = next(r["ccc"] for r in records
                  if (r["stage"], r["target"], r["partition"]) == ("fusion", "arousal", "devel"))
    mine = a.query("model == 'fusion-re' and level == 0 and target == 'arousal' and partition == 'devel'")["ccc"]
    assert mine.iloc[0] == pytest.approx(theirs, abs=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--corrupt", "fau:blur"], "Unknown corruption 'blur'"),
        (["--corrupt", "vggface:gaussian"], "not one of this pipeline's modalities"),
        (["--corrupt", "hrv:gaussian"], "Unknown modality 'hrv'"),
        (["--corrupt", "fau:gaussian", "--levels", "0.5,3"], "outside [0, 1]"),
        (["--corrupt", "fau:gaussian", "--modalities", "fau"], "exactly one of --run"),
        # with --run these update the run's config, which model_copy alone would not check
        (["--corrupt", "fau:gaussian", "--seed", "-1"], "'seed': Input should be greater than or equal to 0"),
        (["--corrupt", "fau:gaussian", "--device", "tpu"], "'device': Input should be 'auto', 'cpu' or 'cuda'"),
        (["--corrupt", "fau:gaussian", "--threads", "0"], "'threads': Input should be greater than or equal to 1"),
        (["--corrupt", "fau:gaussian", "--partitions", "devel,tset"], "--partitions: unknown partition 'tset'. "
                                                                      "Did you mean 'test'?"),
        (["--corrupt", "fau:gaussian", "--partitions", " , "], "--partitions: no partition given"),
    ],
)
def test_bad_requests_are_named(run, tmp_path, args, message):
    result = cli("robustness", "--run", run, "--out", tmp_path / "o", "--device", "cpu", *args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert message in result.output and "Traceback" not in result.output


def test_a_modality_alias_names_the_modality(run, tmp_path):
    result = cli("robustness", "--run", run, "--corrupt", "faus:gaussian", "--levels", "1", "--out", tmp_path / "o",
                 "--threads", "1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert set(pd.read_csv(tmp_path / "o" / "robustness.csv")["experiment"]) == {"fau:gaussian"}


def test_third_party_corruption_end_to_end(third_party, monkeypatch, run, tmp_path):
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "musefuse-flicker")
    result = cli("robustness", "--run", run, "--corrupt", "fau:flicker", "--levels", "1", "--out", tmp_path / "o",
                 "--threads", "1", "--device", "cpu")
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "o" / "robustness.csv")
    assert set(rows["experiment"]) == {"fau:flicker"} and sorted(rows["level"].unique()) == [0.0, 1.0]
    injected = pd.read_csv(tmp_path / "o" / "difficulty.csv").query("source == 'injected' and level == 1")
    assert (injected["n_corrupt"] > 0).all()


def test_augmented_pipelines_and_a_single_target(data, tmp_path):
    result = cli("robustness", "--modalities", "fau", "--data", data, "--corrupt", "fau:dropout,fau:shift",
                 "--levels", "0.5", "--augment", "--partitions", "devel", "--targets", "valence",
                 "--out", tmp_path / "o", *TINY)
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "o" / "robustness.csv")
    assert {"fusion-re-aug", "fusion-nore-aug"} <= set(rows["model"]) and set(rows["partition"]) == {"devel"}
    dropped = rows.query("model == 'fusion-re' and level == 0.5 and experiment == 'fau:dropout'")
    assert dropped["ccc"].notna().all()  # missing frames are filled, every labelled frame still scored
    assert set(rows["target"]) == {"valence"} and "valence CCC" in result.stdout


def test_finished_baseline_runs_are_reused_not_retrained(run, data, tmp_path):
    cfg = RunConfig(modalities=["egemaps", "fau"], data=data, out=tmp_path / "nore", estimator="none", **TINY_CFG)
    nore = execute_run(cfg)[0]
    result = cli("robustness", "--run", run, "--baseline-run", nore, "--corrupt", "fau:gaussian", "--levels", "1",
                 "--out", tmp_path / "o", "--device", "cpu", "--threads", "1")
    assert result.exit_code == 0, result.output
    assert "without RE is a finished baseline run" in (tmp_path / "o" / "log.txt").read_text()
    rows = pd.read_csv(tmp_path / "o" / "robustness.csv")
    records = json.loads((nore / "results.json").read_text())
    theirs = next(r["ccc"] for r in records
                  if (r["stage"], r["target"], r["partition"]) == ("fusion", "valence", "test"))
    mine = rows.query("model == 'fusion-nore' and level == 0 and target == 'valence' and partition == 'test'")
    assert mine["ccc"].iloc[0] == pytest.approx(theirs, abs=1e-6)


def test_a_baseline_run_with_re_is_refused(run, tmp_path):
    result = cli("robustness", "--run", run, "--baseline-run", run, "--corrupt", "fau:gaussian",
                 "--out", tmp_path / "o", "--device", "cpu")
    assert result.exit_code == 2 and "trained without RE" in result.output
