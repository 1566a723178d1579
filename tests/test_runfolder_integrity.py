"""Issue 30: a run folder is not trusted either.

A finished run folder carries manifest.json (sha256 of what predict reads, and the release that wrote
it); `musefuse predict` checks it before using anything and refuses a changed, missing or added file,
naming it and the release. A run folder written before manifests still predicts, with a note; the
loading checks still name the damaged file there. A config.yaml naming a modality the other files do
not know is an error naming config.yaml and the file that disagrees.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from cli_helpers import clean_exit_2, cli
from test_reliability import CORRUPTIONS  # every kind of damage the loading checks name

from musefuse.core.runs import runfolder
from musefuse.lab.synth import write_synthetic

TINY = ["--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1", "--device", "cpu"]


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich folds long paths at the terminal width


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(data, run folder) of one tiny fau run."""
    base = tmp_path_factory.mktemp("integrity")
    data = write_synthetic(base / "data", small=True, seed=1, modalities=["fau"])
    result = cli("run", "--modalities", "fau", "--data", data, "--out", base / "run", *TINY)
    assert result.exit_code == 0, result.output
    return data, base / "run"


def _copy(trained, tmp_path: Path, legacy: bool = False) -> Path:
    run = tmp_path / "run"
    shutil.copytree(trained[1], run)
    if legacy:  # as written before run folders carried checksums
        (run / runfolder.MANIFEST).unlink()
    return run


def _predict(run: Path, data: Path, out: Path):
    return cli("predict", "--run", run, "--data", data, "--out", out, "--device", "cpu")


def _flip_byte(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01  # in the last tensor's data: still a valid safetensors file, a weight slightly changed
    path.write_bytes(bytes(raw))


def test_the_manifest_covers_what_predict_reads_and_names_the_release(trained):
    manifest = json.loads((trained[1] / runfolder.MANIFEST).read_text())
    env = json.loads((trained[1] / "environment.json").read_text())
    assert manifest["format"] == runfolder.MANIFEST_FORMAT and manifest["musefuse"] == env["musefuse"]
    assert manifest["git_commit"] == env["git_commit"]
    files = set(manifest["sha256"])
    assert {"config.yaml", "environment.json", "decisions.json", "mean_shrink.json",
            "checkpoints/fuser-arousal.safetensors", "checkpoints/fuser-arousal.json",
            "standardisation/fau.safetensors"} <= files
    assert not any(f.startswith(("predictions/", "difficulty/")) or f in ("log.txt", "results.json") for f in files)
    assert runfolder.verify(trained[1]) is None


@pytest.mark.parametrize("damage", ["flipped-byte", "missing", "added"])
def test_predict_refuses_a_changed_missing_or_added_file_naming_it(damage, trained, tmp_path):
    run = _copy(trained, tmp_path)
    ckpt = run / "checkpoints" / "regressor-fau-arousal-1.safetensors"
    if damage == "flipped-byte":  # was used without a word (predictions changed by 0.007)
        _flip_byte(ckpt)
        said = "checkpoints/regressor-fau-arousal-1.safetensors differs from what was written"
    elif damage == "missing":
        (run / "checkpoints" / "fuser-valence.json").unlink()
        said = "checkpoints/fuser-valence.json is missing"
    else:
        shutil.copy(ckpt, run / "checkpoints" / "regressor-fau-extra.safetensors")
        said = "checkpoints/regressor-fau-extra.safetensors is not among the files the run wrote"
    result = _predict(run, trained[0], tmp_path / "p")
    clean_exit_2(result, said, runfolder.written_by(run))
    assert not (tmp_path / "p").exists()


def test_robustness_checks_the_manifest_too(trained, tmp_path):
    run = _copy(trained, tmp_path)
    _flip_byte(run / "checkpoints" / "fuser-arousal.safetensors")
    result = cli("robustness", "--run", run, "--data", trained[0], "--corrupt", "fau:gaussian", "--levels", "0,1",
                 "--out", tmp_path / "rob", "--device", "cpu")
    clean_exit_2(result, "checkpoints/fuser-arousal.safetensors differs")


def test_a_run_folder_without_a_manifest_predicts_with_a_note(trained, tmp_path):
    run = _copy(trained, tmp_path, legacy=True)
    result = _predict(run, trained[0], tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert "has no manifest.json" in result.output and "written by musefuse" in result.output
    sealed = _predict(trained[1], trained[0], tmp_path / "q")
    assert sealed.exit_code == 0 and "manifest.json" not in sealed.output, sealed.output
    for p in (tmp_path / "q").rglob("*.csv"):
        assert p.read_bytes() == (tmp_path / "p" / p.relative_to(tmp_path / "q")).read_bytes()


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_without_a_manifest_the_loading_checks_still_name_the_file(case, trained, tmp_path):
    rel, corrupt = CORRUPTIONS[case]
    run = _copy(trained, tmp_path, legacy=True)
    corrupt(run / rel)
    clean_exit_2(_predict(run, trained[0], tmp_path / "p"), Path(rel).stem, "written by musefuse")


def test_a_manifest_of_a_newer_format_is_refused_naming_the_release(trained, tmp_path):
    run = _copy(trained, tmp_path)
    manifest = json.loads((run / runfolder.MANIFEST).read_text())
    manifest.update(format=runfolder.MANIFEST_FORMAT + 1, musefuse="9.0.0", git_commit="0123456789abcdef")
    (run / runfolder.MANIFEST).write_text(json.dumps(manifest))
    clean_exit_2(_predict(run, trained[0], tmp_path / "p"), "written by musefuse 9.0.0 (commit 0123456789ab)",
             f"format {runfolder.MANIFEST_FORMAT + 1}")


def test_a_garbage_manifest_isclean_exit_2(trained, tmp_path):
    run = _copy(trained, tmp_path)
    (run / runfolder.MANIFEST).write_text("{not json")
    clean_exit_2(_predict(run, trained[0], tmp_path / "p"), "manifest.json cannot be read")


def _config_with(run: Path, **fields) -> None:
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg.update(fields)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


@pytest.mark.parametrize("legacy", [False, True], ids=["sealed", "without-manifest"])
def test_a_config_naming_a_modality_the_other_files_do_not_know(legacy, trained, tmp_path):
    run = _copy(trained, tmp_path, legacy=legacy)
    _config_with(run, modalities=["fau", "bert"])  # was "difficulty_inputs.json cannot be read (KeyError: 'bert')"
    result = _predict(run, trained[0], tmp_path / "p")
    if legacy:
        clean_exit_2(result, "config.yaml names modality 'bert'", "decisions.json knows modalities fau")
    else:
        clean_exit_2(result, "config.yaml differs from what was written")


@pytest.mark.parametrize("edit", ["swapped-modality", "other-targets", "no-choices-file"])
def test_config_and_the_other_files_disagreeing_without_a_manifest(edit, trained, tmp_path):
    run = _copy(trained, tmp_path, legacy=True)
    if edit == "swapped-modality":
        _config_with(run, modalities=["egemaps"])
        said = ("config.yaml names modality 'egemaps'", "decisions.json")
    elif edit == "other-targets":
        _config_with(run, targets=["arousal"])
        said = ("config.yaml does not name target 'valence'", "decisions.json")
    else:
        (run / "decisions.json").unlink()
        (run / "mean_shrink.json").unlink()
        (run / "environment.json").unlink()
        _config_with(run, modalities=["fau", "bert"], re_unimodal=True, re_fusion=True)
        said = ("config.yaml names modality 'bert'", "standardisation/bert.safetensors")
    clean_exit_2(_predict(run, trained[0], tmp_path / "p"), *said)


@pytest.mark.parametrize("record", ["decisions.json", "mean_shrink.json"])
def test_without_a_manifest_a_lost_record_of_a_devel_choice_is_named(record, trained, tmp_path):
    run = _copy(trained, tmp_path, legacy=True)
    (run / record).unlink()
    clean_exit_2(_predict(run, trained[0], tmp_path / "p"), f"{record} is missing")


def test_overwrite_clears_the_manifest_with_the_rest(trained, tmp_path):
    run = _copy(trained, tmp_path)
    runfolder.prepare(run, overwrite=True)
    assert not any(run.iterdir())
