"""Issue 22, items 3-5: `run` says what `validate` says about the data, messages name what is wrong,
and a modality alias is one modality from the command line to `predict`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_loader import make_dataset
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core.data.loader import load_dataset
from musefuse.core.interfaces import Modality
from musefuse.lab.synth import write_synthetic

TINY = ["--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1", "--device", "cpu"]
FAST = [*TINY, "--estimator", "none", "--fuser", "mean"]  # no auto-encoder, no fusion training


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # rich folds long paths at the terminal width


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("says") / "clean", small=True, seed=1, modalities=["fau"])


def _copy(clean: Path, to: Path) -> Path:
    return Path(shutil.copytree(clean, to, ignore=shutil.ignore_patterns("truth")))


def _rewrite_timestamps(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[0] = edit(cells[0])
        out.append(",".join(cells))
    path.write_text("\n".join(out) + "\n")


def _validate(data: Path):
    return cli("validate", "--data", data, "--modalities", "fau", "--no-cache")


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich tables break long messages over lines


# -- 3. warnings that validate gives, run gives too -------------------------------------------------


def test_3_run_shows_validates_warnings_and_writes_the_data_timestamps(clean, tmp_path):
    data = _copy(clean, tmp_path / "d")
    header = (data / "feature_segments" / "fau" / "1.csv").read_text().splitlines()[0]
    (data / "feature_segments" / "fau" / "1.csv").write_text(header + "\n")  # (a) train subject 1: no fau rows
    (data / "label_segments" / "arousal" / "4.csv").unlink()  # (b) test subject 4: no arousal labels
    for f in data.rglob("*.csv"):  # (c) every timestamp in steps of 1 (frame numbers, not milliseconds)
        if f.parent.name != "metadata":
            _rewrite_timestamps(f, lambda t: str(int(t) // 500))
    expected = {
        "(a)": "fau/1.csv: no feature values (header only, or every row NaN): every step of subject '1' (train)",
        "(b)": "label_segments/arousal: 1 of 2 test subject(s) have no label values (4)",
        "(c)": "timestamps are mostly 1 ms apart, not the 500 ms of MuSe-Stress. They look like seconds",
    }
    checked = _validate(data)
    assert checked.exit_code == 0, checked.output  # warnings, no error ("shares no timestamp" was one)
    said = _flat(checked.output)
    assert "shares no timestamp" not in said
    for what, text in expected.items():
        assert said.count(text.split(": ", 1)[-1]) == 1, (what, checked.output)  # each listed once
    run = tmp_path / "run"
    ran = cli("run", "--modalities", "fau", "--data", data, "--out", run, *FAST)
    assert ran.exit_code == 0, ran.output
    for what, text in expected.items():
        assert text in _flat(ran.output), (what, ran.output)
    written = (run / "predictions" / "fusion" / "arousal" / "9.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in written[1:4]] == ["0", "1", "2"]  # the data's own stamps, warned about


def test_3a_a_modality_empty_for_every_train_subject_is_refused_by_both(clean, tmp_path):
    data = _copy(clean, tmp_path / "d")
    header = (data / "feature_segments" / "fau" / "1.csv").read_text().splitlines()[0]
    for sid in (1, 2, 5, 6, 7):  # every train subject
        (data / "feature_segments" / "fau" / f"{sid}.csv").write_text(header + "\n")
    named = "modality 'fau' has no feature values for any train subject"
    checked = _validate(data)
    assert checked.exit_code == 2 and named in _flat(checked.output), checked.output
    ran = cli("run", "--modalities", "fau", "--data", data, "--out", tmp_path / "r", *FAST)
    assert ran.exit_code == 2 and named in _flat(ran.output) and "Traceback" not in ran.output, ran.output
    assert not (tmp_path / "r" / "results.json").exists()


# -- 4. messages ---------------------------------------------------------------------------------------


def test_4_out_of_range_labels_are_listed_once(clean, tmp_path):
    data = _copy(clean, tmp_path / "d")
    _rewrite_label(data / "label_segments" / "arousal" / "2.csv", row=3, value="9.0")
    checked = _validate(data)
    assert checked.exit_code == 0, checked.output
    assert _flat(checked.output).count("label value(s) outside [-1, 1]") == 1, checked.output


def _rewrite_label(path: Path, row: int, value: str) -> None:
    lines = path.read_text().splitlines()
    cells = lines[row].split(",")
    cells[1] = value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_4_timestamps_in_seconds_are_named_as_such_by_both(clean, tmp_path):
    data = _copy(clean, tmp_path / "d")
    _rewrite_timestamps(data / "feature_segments" / "fau" / "3.csv", lambda t: f"{int(t) / 1000:g}")
    named = "the timestamps look like seconds, expected milliseconds"
    for result in (_validate(data), cli("run", "--modalities", "fau", "--data", data, "--out", tmp_path / "r", *FAST)):
        assert result.exit_code == 2 and named in _flat(result.output), result.output
        assert "np.float64" not in result.output and "Traceback" not in result.output


def test_4_dropped_rows_name_their_file(clean, tmp_path):
    data = _copy(clean, tmp_path / "d")
    f = data / "label_segments" / "valence" / "2.csv"
    f.write_text("\n".join(f.read_text().splitlines()[:-3]) + "\n")  # valence ends 3 steps before arousal
    ds = load_dataset(data, [Modality(name="fau", width=17)], use_cache=False)
    dropped = [w for w in ds.report.warnings if w.startswith("Dropped")]
    assert dropped and all("arousal/2.csv" in w or "fau/2.csv" in w for w in dropped), dropped


@pytest.mark.parametrize("kind", ["folder", "dangling-link"])
def test_4_a_folder_or_dangling_link_at_a_feature_path_says_so(kind, clean, tmp_path):
    data = _copy(clean, tmp_path / "d")
    path = data / "feature_segments" / "fau" / "2.csv"
    path.unlink()
    if kind == "folder":
        path.mkdir()
        named = "is a folder, not a feature file"
    else:
        path.symlink_to(tmp_path / "gone.csv")
        named = "gone.csv, which does not exist (no feature file there)"
    for result in (_validate(data), cli("run", "--modalities", "fau", "--data", data, "--out", tmp_path / "r", *FAST)):
        said = _flat(result.output)
        assert result.exit_code == 2 and named in said and "fau/2.csv" in said, result.output


def test_4_rnn_allowed_values_are_listed_once(clean, tmp_path):
    result = cli("run", "--rnn", "xyz", "--data", clean, "--out", tmp_path / "r")
    assert result.exit_code == 2 and _flat(result.output).count("'bigru'") == 1, result.output


def test_4_a_switched_off_plugin_is_named_when_its_modality_is_asked_for(third_party, clean, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "")
    result = cli("run", "--modalities", "hrv", "--data", clean, "--out", tmp_path / "r")
    assert result.exit_code == 2, result.output
    said = _flat(result.output)
    assert "Unknown modality 'hrv'" in said and "MUSEFUSE_LOAD_PLUGINS=''" in said and "musefuse-hrv" in said


def test_4_single_frame_subjects_are_warned_about(tmp_path):
    data = make_dataset(tmp_path / "d", {"aaa": 3}, steps=12, hidden_test=False)
    for target in ("arousal", "valence"):  # test subject 4: one labelled step
        f = data / "label_segments" / target / "4.csv"
        f.write_text("\n".join(f.read_text().splitlines()[:2]) + "\n")
    ds = load_dataset(data, [Modality(name="aaa", width=3)])
    assert any("test subject(s) 4 have a single labelled step" in w and "counts as 0" in w
               for w in ds.report.warnings), ds.report.warnings


# -- 5. aliases -----------------------------------------------------------------------------------------


def test_5_an_alias_is_the_modality_from_run_to_predict(clean, tmp_path):
    run = tmp_path / "run"
    ran = cli("run", "--modalities", "faus", "--data", clean, "--out", run, *FAST)
    assert ran.exit_code == 0, ran.output
    assert "faus" not in (run / "config.yaml").read_text()
    assert {tuple(r["modalities"]) for r in json.loads((run / "results.json").read_text())} == {("fau",)}
    again = cli("run", "--modalities", "fau", "--data", clean, "--out", tmp_path / "again", *FAST)
    assert again.exit_code == 0, again.output
    assert all(t["reused"] for t in json.loads((tmp_path / "again" / "tasks.json").read_text()))  # the same keys
    predicted = cli("predict", "--run", run, "--data", clean, "--out", tmp_path / "p")
    assert predicted.exit_code == 0, predicted.output
    assert np.isfinite(np.loadtxt(tmp_path / "p" / "arousal" / "4.csv", delimiter=",", skiprows=1)).all()


def test_5_two_names_of_one_modality_are_refused(clean, tmp_path):
    result = cli("run", "--modalities", "fau,faus", "--data", clean, "--out", tmp_path / "r", *FAST)
    assert result.exit_code == 2 and "fau, faus name the same modality (fau) twice" in result.output
