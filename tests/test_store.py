"""Issue 22, items 1-2: the artifact store does not trust its files.

Every kind of damage (bad fit.json, truncated outputs or weights, NaN weights, a missing file, outputs
or weights changed to other valid numbers) is one warning naming the entry, the entry is moved aside
and its task trained again, and the run's results equal those of an undamaged store. `musefuse store
verify | gc | rm` check and clean a store.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core import fileio
from musefuse.core.engine.store import MANIFEST, ArtifactStore
from musefuse.core.engine.task import Task
from musefuse.lab.synth import write_synthetic

# The RE forced into both stages: a fixed graph whose task labels the damage sweep can name
TINY = ["--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1", "--device", "cpu",
        "--re-unimodal", "--re-fusion"]


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich folds long paths at the terminal width


# -- the kinds of damage ------------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _edit_tensors(path: Path, edit: Callable[[np.ndarray], np.ndarray]) -> None:
    """Rewrite a safetensors file with each float array edited: still a valid file of the same shapes."""
    from safetensors.numpy import load_file, save_file

    arrays = load_file(str(path))
    save_file({k: edit(v) if v.dtype.kind == "f" else v for k, v in arrays.items()}, str(path))


DAMAGE: dict[str, tuple[str, Callable[[Path], None]]] = {  # kind -> (file in the entry, how it is damaged)
    "bad-fit-json": ("fit.json", lambda p: p.write_text("{not json")),
    "truncated-signals": ("signals.safetensors", _truncate),
    "truncated-model": ("model.safetensors", _truncate),
    "nan-weights": ("model.safetensors", lambda p: _edit_tensors(p, lambda v: v * np.nan)),
    "missing-file": ("model.json", Path.unlink),
    "missing-task-json": ("task.json", Path.unlink),
    "signals-overwritten-with-valid-numbers": ("signals.safetensors",
                                               lambda p: _edit_tensors(p, lambda v: v * 0.5 + 0.1)),
    "weights-scaled": ("model.safetensors", lambda p: _edit_tensors(p, lambda v: v * 1.5)),
}


def _entry(store: ArtifactStore) -> str:
    import torch

    task = Task("regressor", "unimodal fau → arousal", {"modality": "fau", "target": "arousal"})
    key = task.key  # an entry is bound to its key: task.json's spec hashes to it
    store.put(key, task.describe(),
              {"w": torch.arange(6, dtype=torch.float32)}, {"plugin": "x"},
              {"s1": np.arange(4, dtype=np.float32), "s2": np.ones(3, np.float32)}, {"seconds": 1.0})
    return key


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_each_kind_of_damage_is_one_warning_and_the_entry_moved_aside(kind, tmp_path):
    store = ArtifactStore(tmp_path)
    key = _entry(store)
    assert store.problem(key) is None
    name, damage = DAMAGE[kind]
    damage(store.path(key) / name)
    warnings: list[str] = []
    assert not store.trusted(key, "unimodal fau → arousal", warnings.append)
    assert len(warnings) == 1 and key[:12] in warnings[0] and "unimodal fau → arousal" in warnings[0]
    assert name in warnings[0] and "trained again" in warnings[0]
    assert not store.path(key).exists() and len(store.leftovers()) == 1  # moved aside, kept for inspection
    _entry(store)  # the retrained artifact goes in under the same key
    assert store.trusted(key, "x", warnings.append) and len(warnings) == 1


def test_an_entry_written_before_checksums_is_checked_by_loading_then_adopted(tmp_path):
    store = ArtifactStore(tmp_path)
    key = _entry(store)
    (store.path(key) / MANIFEST).unlink()  # as written by an older musefuse
    assert store.trusted(key, "x", pytest.fail) and (store.path(key) / MANIFEST).exists()
    (store.path(key) / MANIFEST).unlink()
    _edit_tensors(store.path(key) / "model.safetensors", lambda v: v * np.nan)
    warnings: list[str] = []
    assert not store.trusted(key, "old", warnings.append)
    assert "model.safetensors holds NaN" in warnings[0]


def test_a_second_write_of_a_finished_task_keeps_the_first_artifact(tmp_path):
    store = ArtifactStore(tmp_path)
    key = _entry(store)
    first = (store.path(key) / "signals.safetensors").read_bytes()
    _entry(store)  # a second process finishing the same task keeps the first artifact
    assert (store.path(key) / "signals.safetensors").read_bytes() == first and not store.leftovers()


def _count_hashing(monkeypatch) -> list[Path]:
    """The entry folders whose checksums are computed from here on, once per check."""
    real, hashed = fileio.checksum_problem, []

    def counting(folder, digests):
        hashed.append(Path(folder))
        return real(folder, digests)

    monkeypatch.setattr(fileio, "checksum_problem", counting)
    return hashed


def test_an_entry_is_checked_once_per_store_instance_until_a_file_changes(tmp_path, monkeypatch):
    store = ArtifactStore(tmp_path)
    key = _entry(store)
    hashed = _count_hashing(monkeypatch)
    assert store.trusted(key, "x", pytest.fail) and store.fit_info(key) == {"seconds": 1.0} and store.info(key)
    assert len(hashed) == 1  # trusted, then the fit summary twice: one check
    assert ArtifactStore(tmp_path).info(key) and len(hashed) == 2  # another instance (the next run) checks again
    _truncate(store.path(key) / "signals.safetensors")  # a file changed after the check: checked again, and refused
    assert store.info(key) is None and len(hashed) == 3
    warnings: list[str] = []
    assert not store.trusted(key, "x", warnings.append) and "signals.safetensors" in warnings[0]


# -- end to end: a damaged store under a real run -----------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(data, store, run folder) of one tiny fau run (3 fold estimators, their mean, 8 regressors, 2 fusers)."""
    base = tmp_path_factory.mktemp("store")
    data = write_synthetic(base / "data", small=True, seed=1, modalities=["fau"])
    result = cli("run", "--modalities", "fau", "--data", data, "--store", base / "store", "--out", base / "run",
                 *TINY)
    assert result.exit_code == 0, result.output
    return data, base / "store", base / "run"


# Which entry each kind of damage hits in the end-to-end test (one entry each, every kind of task).
VICTIMS = {
    "bad-fit-json": "unimodal fau → arousal (mean of 3 folds)",
    "truncated-signals": "difficulty fau (mean of 3 folds)",
    "truncated-model": "fold 1/3 difficulty fau",
    "nan-weights": "fold 1/3 unimodal fau → arousal",
    "missing-file": "fold 2/3 difficulty fau",
    "missing-task-json": "fold 2/3 unimodal fau → valence",
    "signals-overwritten-with-valid-numbers": "fusion (birnn) → arousal",
    "weights-scaled": "fold 3/3 unimodal fau → valence",
}


def test_a_run_on_a_damaged_store_warns_retrains_and_gives_the_undamaged_results(trained, tmp_path):
    data, clean_store, clean_run = trained
    store = tmp_path / "store"
    shutil.copytree(clean_store, store)
    keys = {e["label"]: e["key"] for e in json.loads((clean_run / "tasks.json").read_text())}
    for kind, label in VICTIMS.items():
        name, damage = DAMAGE[kind]
        damage(ArtifactStore(store).path(keys[label]) / name)

    verified = cli("store", "verify", "--store", store)
    assert verified.exit_code == 1 and "Traceback" not in verified.output
    assert verified.output.count("damaged:") == len(VICTIMS), verified.output

    run = tmp_path / "run"
    result = cli("run", "--modalities", "fau", "--data", data, "--store", store, "--out", run, *TINY)
    assert result.exit_code == 0, result.output
    for label in VICTIMS.values():
        said = [line for line in result.output.splitlines() if keys[label][:12] in line]
        assert len(said) == 1 and "is damaged" in said[0] and label in said[0], result.output
    tasks = {e["label"]: e["reused"] for e in json.loads((run / "tasks.json").read_text())}
    assert {label for label, reused in tasks.items() if not reused} == set(VICTIMS.values())
    assert json.loads((run / "results.json").read_text()) == json.loads((clean_run / "results.json").read_text())
    for ckpt in ("regressor-fau-valence-3", "fuser-arousal"):  # the run folder holds what was trained
        assert (run / "checkpoints" / f"{ckpt}.safetensors").read_bytes() == \
            (clean_run / "checkpoints" / f"{ckpt}.safetensors").read_bytes()

    again = cli("run", "--modalities", "fau", "--data", data, "--store", store, "--out", tmp_path / "again", *TINY)
    assert again.exit_code == 0 and "is damaged" not in again.output  # repaired: no dead end, no repeated warning
    assert cli("store", "verify", "--store", store).exit_code == 0
    gc = cli("store", "gc", "--store", store)
    assert gc.exit_code == 0 and f"{len(VICTIMS)} folder(s) removed" in gc.output, gc.output
    assert not ArtifactStore(store).leftovers()


def test_a_rerun_checks_each_reused_entry_once(trained, tmp_path, monkeypatch):
    data, clean_store, clean_run = trained
    store = tmp_path / "store"
    shutil.copytree(clean_store, store)
    hashed = _count_hashing(monkeypatch)
    result = cli("run", "--modalities", "fau", "--data", data, "--store", store, "--out", tmp_path / "run", *TINY)
    assert result.exit_code == 0, result.output
    tasks = json.loads((tmp_path / "run" / "tasks.json").read_text())
    assert all(t["reused"] for t in tasks)
    checked = [p.name for p in hashed if p.parent.parent == store]
    assert sorted(checked) == sorted(t["key"] for t in tasks)  # each entry once (was: twice, a gate more often)


def test_store_verify_gc_and_rm_from_the_command_line(trained, tmp_path):
    _, clean_store, clean_run = trained
    store = tmp_path / "store"
    shutil.copytree(clean_store, store)
    artifacts = ArtifactStore(store)
    keys = list(artifacts.keys())
    verified = cli("store", "verify", "--store", store)
    assert verified.exit_code == 0, verified.output
    assert f"{len(keys)} entries: {len(keys)} ok" in verified.output and "fusion (birnn) → valence" in verified.output

    (artifacts.path(keys[0]) / "fit.json").write_text("{}")
    (artifacts.path(keys[1]).parent / ".tmp-deadbeef-x").mkdir()  # left by a process killed long ago
    os.utime(artifacts.path(keys[1]).parent / ".tmp-deadbeef-x", (0, 0))
    dry = cli("store", "gc", "--store", store, "--dry-run")
    assert dry.exit_code == 0 and "would remove" in dry.output and artifacts.path(keys[0]).exists()
    gc = cli("store", "gc", "--store", store)
    assert gc.exit_code == 0 and "2 folder(s) removed" in gc.output, gc.output
    assert keys[0] in gc.output and "fit.json differs" in gc.output
    assert sorted(artifacts.keys()) == sorted(keys[1:])

    removed = cli("store", "rm", keys[1][:10], "--store", store)
    assert removed.exit_code == 0 and keys[1] in removed.output and not artifacts.path(keys[1]).exists()
    missing = cli("store", "rm", "zz", "--store", store)
    assert missing.exit_code == 2 and "no entry" in missing.output and "Traceback" not in missing.output
    shared = next(k[0] for k in artifacts.keys() if sum(o.startswith(k[0]) for o in artifacts.keys()) > 1)
    ambiguous = cli("store", "rm", shared, "--store", store)
    assert ambiguous.exit_code == 2 and "give more of the key" in ambiguous.output, ambiguous.output
    nowhere = cli("store", "verify", "--store", tmp_path / "nope")
    assert nowhere.exit_code == 2 and "no artifact store" in nowhere.output
