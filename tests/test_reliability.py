"""Issue 11: one test (or a few) per numbered case — no traceback, no silent wrong answer, no blocked rerun."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import clean_exit_2, cli
from test_loader import make_dataset

from musefuse.core.data import cache as cache_mod
from musefuse.core.data.loader import load_dataset
from musefuse.core.data.museio import write_feature_csv
from musefuse.core.data.validate import check_settings, validate
from musefuse.core.errors import ConfigError, DataError, RunFolderError
from musefuse.core.interfaces import FeatureTable, Modality
from musefuse.core.runs import runfolder
from musefuse.lab.synth import write_synthetic

TINY = ["--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1", "--device", "cpu"]
MODS = [Modality(name="aaa", width=3), Modality(name="bbb", width=2)]


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich folds long paths at the terminal width


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("rel") / "data", small=True, seed=1, modalities=["egemaps", "fau"])


@pytest.fixture(scope="module")
def tiny_run(synth, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("rel-runs") / "run"
    result = cli("run", "--modalities", "fau", "--data", synth, "--out", run, *TINY)
    assert result.exit_code == 0, result.output
    return run


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("truth"))
    return dst


def _set_cell(path: Path, line: int, column: int, value: str) -> None:
    lines = path.read_text().splitlines()
    cells = lines[line].split(",")
    cells[column] = value
    lines[line] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


# -- 1. non-finite features ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e39"])
def test_1_non_finite_feature_is_a_data_error_with_file_row_and_column(cell, tmp_path):
    data = make_dataset(tmp_path / "d", {"aaa": 3, "bbb": 2}, steps=12)
    _set_cell(data / "feature_segments" / "aaa" / "2.csv", 4, 3, cell)  # data row 4, second feature column
    report = validate(data, MODS)
    assert [p.where for p in report.errors] == [str(data / "feature_segments" / "aaa" / "2.csv")]
    assert "data row 4" in report.errors[0].message and "'f1'" in report.errors[0].message
    with pytest.raises(DataError, match=r"aaa/2\.csv: data row 4 \(CSV line 5\), column 'f1': the value is not finite"):
        load_dataset(data, MODS)


def test_1_run_and_predict_refuse_non_finite_features_before_any_training(synth, tiny_run, tmp_path):
    data = _copy(synth, tmp_path / "d")
    _set_cell(data / "feature_segments" / "fau" / "4.csv", 3, 5, "inf")  # a test subject
    ran = cli("run", "--modalities", "fau", "--data", data, "--out", tmp_path / "r", *TINY)
    clean_exit_2(ran, "fau/4.csv", "not finite")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["log.txt"]  # nothing trained or written
    predicted = cli("predict", "--run", tiny_run, "--data", data, "--out", tmp_path / "p")
    clean_exit_2(predicted, "fau/4.csv", "not finite")
    assert not (tmp_path / "p").exists()


# -- 2. the timeline of unlabelled subjects -------------------------------------------------------------


def test_2_unlabelled_timeline_is_every_step_any_modality_has_in_any_order(tmp_path):
    data = make_dataset(tmp_path / "d", {"aaa": 3, "bbb": 2}, steps=12)
    (data / "label_segments" / "arousal" / "4.csv").unlink()  # test subject 4: no labels at all
    (data / "label_segments" / "valence" / "4.csv").unlink()
    (data / "feature_segments" / "aaa" / "4.csv").write_text("timestamp,segment_id,f0,f1,f2\n")  # header only
    ab = load_dataset(data, MODS, require_labels_for=("train", "devel"))
    ba = load_dataset(data, MODS[::-1], require_labels_for=("train", "devel"))
    s_ab = next(s for s in ab.subjects if s.id == "4")
    s_ba = next(s for s in ba.subjects if s.id == "4")
    np.testing.assert_array_equal(s_ab.timestamps, np.arange(12) * 500)  # bbb's rows are kept
    np.testing.assert_array_equal(s_ab.timestamps, s_ba.timestamps)
    np.testing.assert_array_equal(s_ab.segment_ids, s_ba.segment_ids)
    assert np.isnan(s_ab.features["aaa"]).all()  # aaa is missing at every step: a missing frame
    assert np.isfinite(s_ab.features["bbb"]).all()


def test_2_predict_writes_every_step_when_one_modality_is_header_only(synth, tmp_path):
    run = tmp_path / "run"
    assert cli("run", "--modalities", "egemaps,fau", "--data", synth, "--out", run, "--fuser", "mean",
               "--estimator", "none", *TINY).exit_code == 0
    data = _copy(synth, tmp_path / "d")
    shutil.rmtree(data / "label_segments")
    header = (data / "feature_segments" / "egemaps" / "4.csv").read_text().splitlines()[0]
    (data / "feature_segments" / "egemaps" / "4.csv").write_text(header + "\n")
    result = cli("predict", "--run", run, "--data", data, "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    fau_rows = len(pd.read_csv(data / "feature_segments" / "fau" / "4.csv"))
    assert len(pd.read_csv(tmp_path / "p" / "arousal" / "4.csv")) == fau_rows


# -- 3. corrupt run folders ------------------------------------------------------------------------------


def _nan_weights(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path))
    name = next(iter(tensors))
    tensors[name] = tensors[name] * float("nan")
    save_file(tensors, str(path))


CORRUPTIONS = {
    "truncated-safetensors": ("checkpoints/regressor-fau-arousal-1.safetensors",
                              lambda p: p.write_bytes(p.read_bytes()[:100])),
    "random-safetensors": ("checkpoints/fuser-valence.safetensors",
                           lambda p: p.write_bytes(np.random.default_rng(0).bytes(500))),
    "empty-safetensors": ("checkpoints/estimator-fau-fold2.safetensors", lambda p: p.write_bytes(b"")),
    "garbage-json": ("checkpoints/regressor-fau-valence-1.json", lambda p: p.write_text("{not json")),
    "empty-object-json": ("checkpoints/regressor-fau-arousal-1.json", lambda p: p.write_text("{}")),
    "no-plugin-json": ("checkpoints/fuser-arousal.json", lambda p: p.write_text('{"model": {}}')),
    "shapes-do-not-match": ("standardisation/fau.safetensors", lambda p: _widen_stats(p)),
    "fold-scaling-does-not-match": ("standardisation/fau-fold1.safetensors", lambda p: _widen_stats(p)),
    "nan-weights": ("checkpoints/regressor-fau-valence-1.safetensors", _nan_weights),
    "garbage-config": ("config.yaml", lambda p: p.write_text("modalities: [fau\n")),
}


def _widen_stats(path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    save_file({"mean": torch.zeros(20), "std": torch.ones(20)}, str(path))


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_3_corrupt_run_folder_is_an_error_naming_the_file(case, tiny_run, synth, tmp_path):
    rel, corrupt = CORRUPTIONS[case]
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    corrupt(run / rel)
    result = cli("predict", "--run", run, "--data", synth, "--out", tmp_path / "p")
    clean_exit_2(result, Path(rel).stem)
    assert not (tmp_path / "p").exists()


def test_3_robustness_names_the_corrupt_file_too(tiny_run, synth, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "checkpoints" / "fuser-arousal.safetensors").write_bytes(b"\x00" * 10)
    result = cli("robustness", "--run", run, "--data", synth, "--corrupt", "fau:gaussian", "--levels", "0,1",
                 "--out", tmp_path / "rob", "--device", "cpu")
    clean_exit_2(result, "fuser-arousal.safetensors")


# -- 4. --overwrite leaves exactly the new run; predictions never go into a run folder -----------------


def test_4_overwrite_leaves_exactly_the_new_run(synth, tmp_path):
    run = tmp_path / "run"
    assert cli("run", "--modalities", "egemaps,fau", "--data", synth, "--out", run, *TINY).exit_code == 0
    assert (run / "checkpoints" / "estimator-egemaps-fold1.safetensors").exists()
    result = cli("run", "--modalities", "fau", "--data", synth, "--out", run, "--overwrite", *TINY)
    assert result.exit_code == 0, result.output
    assert not list(run.rglob("*egemaps*"))
    assert sorted(p.name for p in (run / "predictions").iterdir()) == ["fusion", "unimodal-fau"]
    assert {tuple(r["modalities"]) for r in json.loads((run / "results.json").read_text())} == {("fau",)}


def test_4_predict_refuses_to_write_into_a_run_folder_or_the_data(tiny_run, synth, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    clean_exit_2(cli("predict", "--run", run, "--data", synth, "--out", run, "--overwrite"), "--out")
    assert (run / "results.json").exists()
    other = tmp_path / "other-run"
    shutil.copytree(tiny_run, other)
    clean_exit_2(cli("predict", "--run", run, "--data", synth, "--out", other, "--overwrite"), "run folder")
    assert (other / "results.json").exists()
    clean_exit_2(cli("predict", "--run", run, "--data", synth, "--out", synth, "--overwrite"), "--data")
    assert (synth / "metadata" / "partition.csv").exists()


def test_4_overwrite_never_deletes_files_musefuse_did_not_write(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(RunFolderError, match="thesis.tex"):
        runfolder.prepare(out, overwrite=True)
    assert (out / "thesis.tex").read_text() == "precious"


# -- 5. a failed run does not block its fix ---------------------------------------------------------------


def test_5_failed_run_logs_its_error_and_the_rerun_reuses_the_folder(synth, tmp_path):
    data = _copy(synth, tmp_path / "d")
    good = (data / "feature_segments" / "fau" / "1.csv").read_text()
    _set_cell(data / "feature_segments" / "fau" / "1.csv", 2, 2, "abc")
    out = tmp_path / "r"
    first = cli("run", "--modalities", "fau", "--data", data, "--out", out, *TINY)
    clean_exit_2(first, "fau/1.csv")
    log = (out / "log.txt").read_text()
    assert "run failed" in log and "fau/1.csv" in log and "is not a number" in log
    (data / "feature_segments" / "fau" / "1.csv").write_text(good)
    second = cli("run", "--modalities", "fau", "--data", data, "--out", out, *TINY)  # no --overwrite
    assert second.exit_code == 0, second.output
    assert (out / "results.json").exists() and "run failed" not in (out / "log.txt").read_text()


def test_5_a_finished_run_still_needs_overwrite(tiny_run, synth):
    result = cli("run", "--modalities", "fau", "--data", synth, "--out", tiny_run, *TINY)
    clean_exit_2(result, "--overwrite")
    assert (tiny_run / "results.json").exists()


def test_5_a_folder_a_live_run_writes_is_not_cleared(tmp_path):
    out = runfolder.prepare(tmp_path / "r", overwrite=False)
    log = runfolder.RunLog(out / "log.txt")
    try:
        with pytest.raises(RunFolderError, match="another musefuse run"):
            runfolder.prepare(out, overwrite=True)
        assert (out / "log.txt").exists()
    finally:
        log.close()
    runfolder.prepare(out, overwrite=False)  # closed: an unfinished run, reusable


# -- 6. predict on new data ----------------------------------------------------------------------------


def test_6_predict_on_data_with_only_test_subjects_or_no_partition_file(tiny_run, synth, tmp_path):
    data = _copy(synth, tmp_path / "d")
    shutil.rmtree(data / "label_segments")
    (data / "metadata" / "partition.csv").write_text("Id,Partition\n4,test\n9,Test\n")
    result = cli("predict", "--run", tiny_run, "--data", data, "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert sorted(p.stem for p in (tmp_path / "p" / "arousal").iterdir()) == ["4", "9"]
    assert "Predicting 2 subject(s)" in result.output  # progress lines

    (data / "metadata" / "partition.csv").write_text("Id,Partition\n4,new\n9,\n")  # any partition names
    assert cli("predict", "--run", tiny_run, "--data", data, "--out", tmp_path / "q").exit_code == 0

    shutil.rmtree(data / "metadata")  # no partition file: every subject with a feature file
    result = cli("predict", "--run", tiny_run, "--data", data, "--out", tmp_path / "n")
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "n" / "valence").iterdir())) == 9


def test_6_predict_defaults_to_the_runs_own_data(tiny_run, tmp_path):
    result = cli("predict", "--run", tiny_run, "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert "the run's own data" in result.output
    assert len(list((tmp_path / "p" / "arousal").iterdir())) == 9


# -- 7. output-folder OS errors -----------------------------------------------------------------------


def test_7_out_under_a_file_is_one_line_before_training(synth, tmp_path):
    (tmp_path / "file").write_text("x")
    result = cli("run", "--modalities", "fau", "--data", synth, "--out", tmp_path / "file" / "r", *TINY)
    clean_exit_2(result, "--out")


def test_7_a_nearly_full_disk_is_refused_before_training(synth, tmp_path, monkeypatch):
    import collections

    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(runfolder.shutil, "disk_usage", lambda _p: usage(10**9, 10**9 - 2**20, 2**20))
    result = cli("run", "--modalities", "fau", "--data", synth, "--out", tmp_path / "r", *TINY)
    clean_exit_2(result, "MiB free")
    assert not (tmp_path / "r" / "log.txt").exists()  # nothing started


def test_7_an_unwritable_folder_isclean_exit_2(tmp_path, monkeypatch):
    def refuse(*_a, **_k):
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr(runfolder.tempfile, "mkstemp", refuse)
    with pytest.raises(RunFolderError, match="cannot be written: Read-only file system"):
        runfolder.prepare(tmp_path / "r", overwrite=False)


def test_7_os_errors_anywhere_are_one_line(monkeypatch, synth, tmp_path):
    from musefuse.cli import predict_cmd

    def disk_full(*_a, **_k):
        raise OSError(28, "No space left on device", str(tmp_path / "p" / "x.csv"))

    monkeypatch.setattr(predict_cmd, "predict_run", disk_full)
    result = cli("predict", "--run", tmp_path, "--data", synth, "--out", tmp_path / "p")
    clean_exit_2(result, "No space left on device", "x.csv")


# -- 8. validate answers for the run the user will do -------------------------------------------------


def test_8_an_extra_empty_label_folder_does_not_fail_validate_for_the_default_targets(synth, tmp_path):
    data = _copy(synth, tmp_path / "d")
    (data / "label_segments" / "physio-arousal").mkdir()
    checked = cli("validate", "--data", data, "--modalities", "egemaps,fau")
    assert checked.exit_code == 0, checked.output
    assert "physio-arousal" in checked.output and "not checked" in checked.output
    assert cli("run", "--modalities", "fau", "--data", data, "--out", tmp_path / "r", "--fuser", "mean",
               "--estimator", "none", *TINY).exit_code == 0
    asked = cli("validate", "--data", data, "--modalities", "fau", "--targets", "physio-arousal")
    clean_exit_2(asked, "physio-arousal")


# -- 9. plugins cannot kill musefuse -----------------------------------------------------------------------


class _Dist:
    def __init__(self, name: str) -> None:
        self.name, self.version = name, "0.1"


class _EntryPoint:
    def __init__(self, dist: str, name: str, load) -> None:
        self.dist, self.name, self._load, self.value = _Dist(dist), name, load, f"{dist}:{name}"

    def load(self):
        return self._load()


def test_9_sys_exit_at_import_or_in_a_hook_is_a_warning(monkeypatch):
    import types

    import musefuse.core.plugin_host as plugins
    from musefuse.core import hookimpl

    hooked = types.ModuleType("exits_in_hook")

    @hookimpl
    def register_fusers(register):
        raise SystemExit(3)

    hooked.register_fusers = register_fusers

    def exits():
        raise SystemExit(3)

    eps = [_EntryPoint("musefuse-exit", "at_import", exits), _EntryPoint("musefuse-exit", "in_hook", lambda: hooked)]
    monkeypatch.setattr(plugins, "entry_points", lambda group: eps)
    monkeypatch.delenv("MUSEFUSE_LOAD_PLUGINS")
    host = plugins.PluginHost()
    assert host.fuser("birnn")  # the built-ins still work
    text = " ".join(host.warnings)
    assert "at_import" in text and "SystemExit" in text and "register_fusers of 'musefuse-exit'" in text


def test_9_load_plugins_names_are_normalised_as_packaging_does(third_party, monkeypatch):
    import musefuse.core.plugin_host as plugins

    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "Musefuse_HRV")
    host = plugins.PluginHost()
    assert host.modality("hrv").width == 4
    monkeypatch.setenv("MUSEFUSE_LOAD_PLUGINS", "musefuse-hvr")
    host = plugins.PluginHost()
    assert any("musefuse-hvr" in w and "Did you mean 'musefuse-hrv'" in w for w in host.warnings)


def test_9_a_plugin_reader_that_raises_is_a_data_error_naming_the_file(tmp_path):
    class Broken(Modality):
        def read(self, path):
            raise ZeroDivisionError("oops")

    data = make_dataset(tmp_path / "d", {"aaa": 3}, steps=12)
    with pytest.raises(DataError, match=r"aaa/1\.csv: the reader of modality 'aaa' .* ZeroDivisionError: oops"):
        load_dataset(data, [Broken(name="aaa", width=3)])


def test_9_plugins_json_lists_other_folder_names_only():
    result = cli("plugins", "--kind", "modality", "--json")
    assert result.exit_code == 0, result.output
    entries = {e["name"]: e for e in json.loads(result.stdout)}
    assert "egemaps" not in entries["egemaps"]["aliases"] and "faus" in entries["fau"]["aliases"]


# -- 10. the cache verifies its content ----------------------------------------------------------------


def _entries(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.npz"))


def test_10_an_edited_cache_entry_is_detected_and_reparsed(tmp_path):
    data = make_dataset(tmp_path / "d", {"aaa": 3}, steps=12)
    cache_dir = tmp_path / "cache"
    first = load_dataset(data, [MODS[0]], cache_dir=cache_dir)
    label = str(data / "label_segments" / "arousal" / "1.csv")
    for entry in _entries(cache_dir):
        with np.load(entry) as npz:
            arrays = {k: npz[k] for k in npz.files}
        if label in str(arrays["__key__"]):
            arrays["values"] = np.full_like(arrays["values"], 9.0)  # the key stays as it was
            np.savez(entry, **arrays)
        elif "aaa/2.csv" in str(arrays["__key__"]):
            del arrays["values"]  # an array missing
            np.savez(entry, **arrays)
        elif "aaa/3.csv" in str(arrays["__key__"]):
            entry.write_bytes(entry.read_bytes()[:200])  # truncated
    second = load_dataset(data, [MODS[0]], cache_dir=cache_dir)
    for a, b in zip(first.subjects, second.subjects, strict=True):
        np.testing.assert_array_equal(a.labels["arousal"], b.labels["arousal"])
        np.testing.assert_array_equal(a.features["aaa"], b.features["aaa"])
    assert np.nanmax(second.subjects[0].labels["arousal"]) <= 1


def test_10_cache_hits_still_hit(tmp_path, monkeypatch):
    data = make_dataset(tmp_path / "d", {"aaa": 3}, steps=12)
    load_dataset(data, [MODS[0]], cache_dir=tmp_path / "c")
    calls = []
    monkeypatch.setattr(cache_mod, "read_label_csv", lambda p: calls.append(p))
    monkeypatch.setattr(cache_mod, "read_feature_csv", lambda p: calls.append(p))
    load_dataset(data, [MODS[0]], cache_dir=tmp_path / "c")
    assert calls == []


# -- 11. nothing accepted silently -------------------------------------------------------------------------


def test_11_a_short_row_is_refused_but_empty_cells_are_missing_values(tmp_path):
    data = make_dataset(tmp_path / "d", {"aaa": 3}, steps=12)
    f = data / "feature_segments" / "aaa" / "2.csv"
    lines = f.read_text().splitlines()
    lines[3] = ",".join(lines[3].split(",")[:3])  # timestamp, segment_id, one feature: 2 cells short
    lines[4] = ",".join(lines[4].split(",")[:2]) + ",,,"  # empty cells: a missing frame
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"aaa/2\.csv: data row 3 \(CSV line 4\): 3 cell\(s\), but the header has 5"):
        load_dataset(data, [MODS[0]], use_cache=False)
    lines[3] = lines[3] + ",,"
    f.write_text("\n".join(lines) + "\n")
    ds = load_dataset(data, [MODS[0]], use_cache=False)
    x = ds.subjects[1].features["aaa"]
    assert np.isnan(x[3]).all() and np.isnan(x[2, 1:]).all() and np.isfinite(x[2, 0])


def test_11_labels_outside_minus_one_one_are_a_warning(tmp_path):
    data = make_dataset(tmp_path / "d", {"aaa": 3}, steps=12)
    _set_cell(data / "label_segments" / "arousal" / "1.csv", 3, 1, "9.0")
    ds = load_dataset(data, [MODS[0]])
    assert any("arousal/1.csv: 1 label value(s) outside [-1, 1]" in w for w in ds.report.warnings)
    report = validate(data, [MODS[0]])
    assert not report.errors and any("outside [-1, 1]" in p.message for p in report.warnings)


def test_11_settings_that_cannot_work_on_the_data(tmp_path):
    data = make_dataset(tmp_path / "d", {"aaa": 3}, steps=12)  # train subjects 1, 2: 12 steps each
    ds = load_dataset(data, [MODS[0]])
    with pytest.raises(ConfigError, match="'label_shift': 100 s is 200 steps"):
        check_settings(ds, label_shift=100)
    with pytest.raises(ConfigError, match="'folds': 10 folds need at least 10 train subjects"):
        check_settings(ds, folds=10, out_of_fold=True)
    assert check_settings(ds, folds=10, out_of_fold=False) == []
    assert "longer than every subject" in check_settings(ds, window=200)[0]
    assert check_settings(ds, label_shift=1, window=10) == []


# -- 12. a declared width is a default where extractors differ ----------------------------------------


def test_12_files_agreeing_on_another_width_are_a_warning_disagreeing_ones_an_error(tmp_path):
    data = make_dataset(tmp_path / "d", {"aaa": 4}, steps=12)
    report = validate(data, [Modality(name="aaa", width=3)])
    assert not report.errors
    assert any("declares 3 feature columns, but every file" in p.message for p in report.warnings)
    ds = load_dataset(data, [Modality(name="aaa", width=3)])
    assert ds.subjects[0].features["aaa"].shape[1] == 4
    f = data / "feature_segments" / "aaa" / "3.csv"
    write_feature_csv(f, FeatureTable(np.arange(12) * 500, np.ones(12, np.int64), np.zeros((12, 5), np.float32)))
    with pytest.raises(DataError, match=r"aaa/3\.csv: has 5 feature columns but .*aaa/1\.csv has 4"):
        load_dataset(data, [Modality(name="aaa", width=3)])


def test_12_a_run_uses_the_files_width_and_predict_checks_it(synth, tmp_path):
    data = _copy(synth, tmp_path / "d")
    for f in (data / "feature_segments" / "fau").glob("*.csv"):  # 16 instead of the declared 17 columns
        frame = pd.read_csv(f)
        frame.drop(columns=frame.columns[-1]).to_csv(f, index=False)
    run = tmp_path / "run"
    result = cli("run", "--modalities", "fau", "--data", data, "--out", run, *TINY)
    assert result.exit_code == 0, result.output
    assert "declares 17 feature columns" in (run / "log.txt").read_text()
    clean_exit_2(cli("predict", "--run", run, "--data", synth, "--out", tmp_path / "p"),
                 "17 feature columns, but the run was trained on 16")
