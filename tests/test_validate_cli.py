"""`musefuse validate` through the real CLI, with the built-in egemaps (88) and fau (17) modalities."""

from __future__ import annotations

import numpy as np
import pytest
from test_loader import make_dataset  # the MuSe-layout builder shared by the data tests
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.data.museio import write_feature_csv
from musefuse.core.data.validate import validate
from musefuse.core.interfaces import FeatureTable, Modality


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps long paths at the terminal width

    def invoke(*args: str):
        return CliRunner().invoke(app, ["validate", *args])

    return invoke


@pytest.fixture
def data(tmp_path):
    return make_dataset(tmp_path / "data", {"egemaps": 88, "faus": 17}, steps=12)


def test_clean_folder_exits_0(run, data):
    result = run("--data", str(data), "--modalities", "egemaps,fau", "--folds", "2")  # 2 train subjects
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "faus" in result.output and "egemaps" in result.output


def test_warnings_do_not_fail(run, tmp_path):
    data = make_dataset(tmp_path / "d", {"egemaps": 88, "faus": 17, "mystery": 3}, steps=12,
                        nan_rows={"faus": [0, 1]})
    result = run("--data", str(data), "--modalities", "egemaps,fau", "--folds", "2")
    assert result.exit_code == 0, result.output
    assert "mystery" in result.output and "no installed modality" in result.output
    assert "entirely NaN" in result.output


def test_every_problem_is_listed_and_exit_is_2(run, data):
    f = data / "feature_segments" / "egemaps" / "2.csv"
    lines = f.read_text().splitlines()
    lines[3] = lines[3].replace(",", ",abc", 1)  # a non-numeric cell on data row 3
    f.write_text("\n".join(lines) + "\n")
    (data / "label_segments" / "valence" / "3.csv").unlink()  # a devel subject without labels
    result = run("--data", str(data), "--all", "--folds", "2")
    assert result.exit_code == 2, result.output
    assert "egemaps/2.csv" in result.output and "data row 3" in result.output
    assert "valence/3.csv" in result.output and "label file not found" in result.output
    assert "2 error(s)" in result.output


def test_missing_partition_file(run, data):
    (data / "metadata" / "partition.csv").unlink()
    result = run("--data", str(data))
    assert result.exit_code == 2
    assert "partition.csv" in result.output and "partition file not found" in result.output


def test_unknown_modality_name(run, data):
    result = run("--data", str(data), "--modalities", "egemaps,fua")
    assert result.exit_code == 2
    assert "Unknown modality 'fua'" in result.output and "Did you mean 'fau'" in result.output


def test_validate_collects_width_and_gap_problems(tmp_path):
    data = make_dataset(tmp_path / "d", {"aaa": 3}, steps=12)
    f = data / "feature_segments" / "aaa" / "3.csv"
    write_feature_csv(f, FeatureTable(np.arange(12) * 500, np.ones(12, np.int64), np.zeros((12, 4), np.float32)))
    g = data / "feature_segments" / "aaa" / "2.csv"
    ts = np.r_[np.arange(6) * 500, 5000 + np.arange(6) * 500]
    write_feature_csv(g, FeatureTable(ts, np.ones(12, np.int64), np.zeros((12, 3), np.float32)))
    report = validate(data, [Modality(name="aaa", width=3)])
    errors = {p.where.split("/")[-1]: p.message for p in report.errors}
    assert "has 4 feature columns" in errors["3.csv"]
    warnings = [p for p in report.warnings if p.where.endswith("2.csv")]
    assert warnings and "2500 ms" in warnings[0].message
    assert report.dominant_step == 500


def test_validate_is_clean_on_synth_output(tmp_path):
    from musefuse.lab.synth import write_synthetic

    data = write_synthetic(tmp_path / "s", small=True, seed=2)
    result = CliRunner().invoke(app, ["validate", "--data", str(data), "--all"])
    assert result.exit_code == 0, result.output
    for folder in ("egemaps", "deepspectrum", "vggface", "fau", "bert"):
        assert folder in result.output
