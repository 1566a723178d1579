"""`musefuse run` and `musefuse predict` end to end on a tiny synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.lab.synth import write_synthetic

MODS = "egemaps,vggface,fau"
# A tiny model keeps the end-to-end tests at seconds; the architecture is the run's own business.
TINY = ["--layers", "1", "--hidden", "8", "--epochs", "2", "--threads", "1", "--device", "cpu"]


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("data") / "small", small=True, seed=1,
                           modalities=["egemaps", "vggface", "fau"])


@pytest.fixture(scope="session")
def small_run(small_data, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "r"
    result = cli("run", "--modalities", MODS, "--data", small_data, "--out", run, *TINY)
    assert result.exit_code == 0, result.output
    return run


def test_run_folder_holds_everything(small_run, small_data):
    for name in ("config.yaml", "environment.json", "results.json", "log.txt"):
        assert (small_run / name).is_file(), name
    env = json.loads((small_run / "environment.json").read_text())
    assert env["dataset"]["fingerprint"] and env["seed"] == 0 and env["packages"]["torch"]
    ids = sorted(p.stem for p in (small_data / "feature_segments" / "fau").glob("*.csv"))
    for stage in ("fusion", "unimodal-egemaps", "unimodal-vggface", "unimodal-fau"):
        for target in ("arousal", "valence"):
            files = sorted(p.stem for p in (small_run / "predictions" / stage / target).glob("*.csv"))
            assert files == ids, (stage, target)
    frame = pd.read_csv(small_run / "predictions" / "fusion" / "arousal" / f"{ids[0]}.csv")
    assert list(frame.columns) == ["timestamp", "segment_id", "value"]
    assert sorted(p.stem for p in (small_run / "difficulty" / "fau").glob("*.csv")) == ids
    ckpts = {p.name for p in (small_run / "checkpoints").iterdir()}
    assert "fuser-arousal.safetensors" in ckpts and "estimator-fau-fold1.json" in ckpts  # fold-mean difficulty
    assert not list((small_run / "checkpoints").glob("*.pt")) and not list(small_run.rglob("*.tmp"))
    assert (small_run / "standardisation" / "egemaps.safetensors").is_file()


def test_results_records(small_run):
    records = json.loads((small_run / "results.json").read_text())
    keys = {"stage", "modalities", "target", "partition", "ccc", "pearson", "rmse", "re", "fuser", "seed"}
    assert all(keys <= set(r) for r in records)
    fusion = [r for r in records if r["stage"] == "fusion" and r["target"] == "arousal"]
    assert {r["partition"] for r in fusion} == {"train", "devel", "test"}
    assert all(r["modalities"] == ["egemaps", "vggface", "fau"] and r["fuser"] == "birnn" for r in fusion)
    # the default: the data chose whether each fuser reads the RE (decisions.json), and the record names the choice
    assert all(isinstance(r["re"], bool) and r["chosen"] in ("re", "no-re") for r in fusion)
    # every scored record's interval contains its CCC, or is n/a (None: fewer than 3 recordings, as on the small
    # data's devel and test); the 5 train subjects have one
    scored = [r for r in records if r["ccc"] is not None]
    assert all(-1 <= r["ccc_ci95"][0] <= round(r["ccc"], 4) <= r["ccc_ci95"][1] <= 1 for r in scored if r["ccc_ci95"])
    assert all(r["ccc_ci95"] for r in scored if r["partition"] == "train")
    uni = [r for r in records if r["stage"] == "unimodal"]
    assert all(r["fuser"] is None and len(r["modalities"]) == 1 for r in uni)
    assert all(-1 <= r["ccc"] <= 1 for r in records if r["ccc"] is not None)
    combined = [r for r in records if r["target"] == "combined" and r["stage"] == "fusion"]
    a, v = ({r["partition"]: r["ccc"] for r in records if r["stage"] == "fusion" and r["target"] == t}
            for t in ("arousal", "valence"))
    assert {r["partition"]: r["ccc"] for r in combined}["devel"] == pytest.approx((a["devel"] + v["devel"]) / 2)


def test_predict_reproduces_the_runs_test_predictions(small_run, small_data, tmp_path):
    result = cli("predict", "--run", small_run, "--data", small_data, "--out", tmp_path / "p", "--device", "cpu")
    assert result.exit_code == 0, result.output
    test_ids = pd.read_csv(small_data / "metadata" / "partition.csv").query("Partition == 'test'")["Id"]
    for target in ("arousal", "valence"):
        for sid in test_ids:
            mine = pd.read_csv(tmp_path / "p" / target / f"{sid}.csv")
            theirs = pd.read_csv(small_run / "predictions" / "fusion" / target / f"{sid}.csv")
            np.testing.assert_array_equal(mine["timestamp"], theirs["timestamp"])
            np.testing.assert_allclose(mine["value"], theirs["value"], atol=1e-6)


def test_predict_needs_no_labels(small_run, small_data, tmp_path):
    import shutil

    data = tmp_path / "unlabelled"
    shutil.copytree(small_data, data, ignore=shutil.ignore_patterns("label_segments", "truth"))
    result = cli("predict", "--run", small_run, "--data", data, "--out", tmp_path / "p", "--stage", "unimodal")
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "p" / "fau" / "valence").glob("*.csv"))


def test_predict_refuses_an_unfinished_run(tmp_path, small_data):
    (tmp_path / "run").mkdir()
    result = cli("predict", "--run", tmp_path / "run", "--data", small_data, "--out", tmp_path / "p")
    assert result.exit_code == 2 and "not a finished musefuse run folder" in result.output


def test_json_output_is_only_json(small_data, tmp_path):
    result = cli("run", "--modalities", "fau", "--data", small_data, "--out", tmp_path / "r", "--fuser", "mean",
                 "--estimator", "none", "--json", *TINY)
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert {r["stage"] for r in records} == {"unimodal", "fusion"}
    assert not any(r["re"] for r in records)


def test_non_empty_out_is_refused_unless_overwrite(small_run, small_data):
    result = cli("run", "--modalities", "fau", "--data", small_data, "--out", small_run, *TINY)
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert (small_run / "results.json").exists()  # nothing already written is lost


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rnn", "transformer"], "'rnn'"),
        (["--loss", "huber"], "'loss'"),
        (["--modalities", "vgface"], "Did you mean 'vggface'"),
        (["--fuser", "max"], "Unknown fuser 'max'"),
        (["--estimator", "ae"], "Unknown estimator 'ae'"),
        (["--dropout", "1.5"], "'dropout'"),
    ],
)
def test_bad_options_name_the_field(args, message, small_data, tmp_path):
    result = cli("run", "--data", small_data, "--out", tmp_path / "r", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "r" / "results.json").exists()


def test_yaml_config_sets_fields_and_flags_override(small_data, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("modalities: [fau]\nfuser: mean\nestimator: none\nseed: 7\nlayers: 1\nhidden: 8\nepochs: 1\n")
    result = cli("run", "--config", config, "--data", small_data, "--out", tmp_path / "r", "--seed", "3", "--json")
    assert result.exit_code == 0, result.output
    assert {r["seed"] for r in json.loads(result.stdout)} == {3}
    import yaml

    saved = yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())
    assert saved["inputs"]["modalities"] == ["fau"] and saved["execution"]["seed"] == 3  # config.yaml: in groups
    assert saved["method"]["fusion"]["fuser"] == "mean"


def test_bad_yaml_field_is_named(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("fusion_train: sometimes\n")
    result = cli("run", "--config", config)
    assert result.exit_code == 2 and "'fusion_train'" in result.output and "in-sample" in result.output


def test_same_seed_same_results_on_cpu(small_data, tmp_path):
    args = ["--modalities", "fau", "--data", small_data, "--json", *TINY]
    first = cli("run", *args, "--out", tmp_path / "a")
    second = cli("run", *args, "--out", tmp_path / "b")
    assert json.loads(first.stdout) == json.loads(second.stdout)


def test_out_of_fold_fusion_inputs(small_data, tmp_path):
    result = cli("run", "--modalities", "egemaps,fau", "--data", small_data, "--out", tmp_path / "r",
                 "--fusion-train", "out-of-fold", "--folds", "2", "--json", *TINY)
    assert result.exit_code == 0, result.output
    assert any(r["stage"] == "fusion" for r in json.loads(result.stdout))


def test_third_party_modality_runs_end_to_end(third_party, monkeypatch, small_data, tmp_path):
    import shutil

    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "musefuse-hrv")
    data = tmp_path / "data"
    shutil.copytree(small_data, data)
    folder = data / "feature_segments" / "hrv_features"  # found through the plugin's alias
    folder.mkdir()
    rng = np.random.default_rng(0)
    for f in (data / "feature_segments" / "fau").glob("*.csv"):
        base = pd.read_csv(f, usecols=["timestamp", "segment_id"])
        feats = pd.DataFrame(rng.normal(size=(len(base), 4)), columns=["rmssd", "sdnn", "lf", "hf"])
        pd.concat([base, feats], axis=1).to_csv(folder / f.name, index=False)
    result = cli("run", "--modalities", "hrv,fau", "--data", data, "--out", tmp_path / "r", "--json", *TINY)
    assert result.exit_code == 0, result.output
    fusion = [r for r in json.loads(result.stdout) if r["stage"] == "fusion"]
    assert fusion and fusion[0]["modalities"] == ["hrv", "fau"]
    assert (tmp_path / "r" / "predictions" / "unimodal-hrv" / "arousal").is_dir()


def test_run_on_hand_made_muse_2022_layout(small_data, tmp_path):
    """MuSe 2022 folder names (vggface2, faus), integer Ids, NaN rows: read through the aliases."""
    import shutil

    data = tmp_path / "muse2022"
    shutil.copytree(small_data, data, ignore=shutil.ignore_patterns("truth", "egemaps"))
    feats = data / "feature_segments"
    (feats / "vggface").rename(feats / "vggface2")
    (feats / "fau").rename(feats / "faus")
    one = sorted((feats / "faus").glob("*.csv"))[0]
    frame = pd.read_csv(one)
    frame.iloc[3:6, 2:] = np.nan  # no face found
    frame.to_csv(one, index=False)
    result = cli("run", "--modalities", "vggface,fau", "--data", data, "--out", tmp_path / "r", "--json", *TINY)
    assert result.exit_code == 0, result.output
    env = json.loads((tmp_path / "r" / "environment.json").read_text())
    assert env["dataset"]["folders"] == {"vggface": "vggface2", "fau": "faus"}
    assert all(r["ccc"] is not None for r in json.loads(result.stdout) if r["partition"] != "test")


def test_missing_data_folder_is_named_and_no_run_folder_is_left(tmp_path):
    result = cli("run", "--modalities", "fau", "--data", tmp_path / "nope", "--out", tmp_path / "r")
    assert result.exit_code == 2 and "nope: data folder not found" in result.output
    assert not (tmp_path / "r").exists()
