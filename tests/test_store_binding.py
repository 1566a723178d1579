"""Issue 30: the artifact store does not trust a consistent lie.

An entry is bound to its key (task.json's kind, numerics and spec hash to the folder's name), so a
folder holding another entry's files, manifest and all, is damaged; so is an entry whose JSON files
cannot be read although its manifest vouches for them, and a file where a prefix folder belongs.
`store verify` reports each, a run moves it aside and trains the task again (same results as an
undamaged store), and nothing reads a gate's choice before its entry is checked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from musefuse.cli.app import app
from musefuse.core import fileio
from musefuse.core.engine.store import FILES, MANIFEST, ArtifactStore
from musefuse.core.engine.task import Task
from musefuse.lab.synth import write_synthetic

# The default pipeline (a decision per regressor and fuser) on one narrow modality: ~3 s on a CPU.
TINY = ["--modalities", "fau", "--layers", "1", "--hidden", "4", "--epochs", "1", "--threads", "1", "--device", "cpu"]


def cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # rich folds long paths at the terminal width


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(data, store, run folder) of one tiny fau run of the default pipeline."""
    base = tmp_path_factory.mktemp("binding")
    data = write_synthetic(base / "data", small=True, seed=1, modalities=["fau"])
    result = cli("run", "--data", data, "--store", base / "store", "--out", base / "run", *TINY)
    assert result.exit_code == 0, result.output
    return data, base / "store", base / "run"


def _copy(trained, tmp_path: Path) -> tuple[ArtifactStore, dict[str, str]]:
    """A copy of the trained store, and task label -> key."""
    _, clean_store, clean_run = trained
    shutil.copytree(clean_store, tmp_path / "store")
    keys = {e["label"]: e["key"] for e in json.loads((clean_run / "tasks.json").read_text())}
    return ArtifactStore(tmp_path / "store"), keys


def _reseal(folder: Path) -> None:
    """Rewrite an entry's manifest to vouch for whatever its files now hold: a consistent lie."""
    fileio.write_json(folder / MANIFEST, {"sha256": fileio.checksums(folder, FILES)})


def _swap(store: ArtifactStore, victim: str, donor: str) -> None:
    """The victim's folder holds the donor's files (its own self-consistent manifest included)."""
    shutil.rmtree(store.path(victim))
    shutil.copytree(store.path(donor), store.path(victim))


def _rerun_repairs(trained, store: ArtifactStore, tmp_path: Path, damaged: list[str], said: str) -> None:
    """verify reports the damage (naming ``said``), a run warns once per damaged key, trains it again and gives
    the undamaged store's results; afterwards verify is clean."""
    data, _, clean_run = trained
    verified = cli("store", "verify", "--store", store.root)
    assert verified.exit_code == 1 and "Traceback" not in verified.output, verified.output
    assert said in verified.output, verified.output
    run = tmp_path / "run"
    result = cli("run", "--data", data, "--store", store.root, "--out", run, *TINY)
    assert result.exit_code == 0, result.output
    for key in damaged:
        lines = [line for line in result.output.splitlines() if key[:12] in line and "is damaged" in line]
        assert len(lines) == 1, result.output
    tasks = json.loads((run / "tasks.json").read_text())
    clean = json.loads((clean_run / "tasks.json").read_text())
    assert sorted(t["key"] for t in tasks) == sorted(t["key"] for t in clean)  # the same graph, the same models
    assert {t["key"] for t in tasks if not t["reused"]} >= set(damaged)
    assert json.loads((run / "results.json").read_text()) == json.loads((clean_run / "results.json").read_text())
    assert (run / "decisions.json").read_text() == (clean_run / "decisions.json").read_text()
    assert cli("store", "verify", "--store", store.root).exit_code == 0


def test_an_entry_holding_another_entrys_files_of_the_same_kind(trained, tmp_path):
    store, keys = _copy(trained, tmp_path)
    victim, donor = keys["fold 1/3 unimodal fau → arousal (plain)"], keys["fold 1/3 unimodal fau → valence (plain)"]
    _swap(store, victim, donor)
    problem = store.problem(victim)
    assert problem is not None and "another task" in problem and donor[:12] in problem, problem
    assert store.info(victim) is None  # its fit summary is not read either
    _rerun_repairs(trained, store, tmp_path, [victim], "another task")


def test_an_entry_holding_another_entrys_files_of_another_kind(trained, tmp_path):
    store, keys = _copy(trained, tmp_path)
    victim = keys["fold 1/3 unimodal fau → valence (plain)"]
    _swap(store, victim, keys["fold 2/3 difficulty fau"])  # was a KeyError: 'shift' when the regressor loaded
    _rerun_repairs(trained, store, tmp_path, [victim], "estimator 'fold 2/3 difficulty fau'")


def test_garbage_fit_json_that_the_manifest_vouches_for(trained, tmp_path):
    store, keys = _copy(trained, tmp_path)
    gate = keys["decision unimodal fau → arousal: model"]
    (store.path(gate) / "fit.json").write_text("{not json")
    _reseal(store.path(gate))
    assert store.problem(gate) == "fit.json is not readable JSON"
    assert store.info(gate) is None  # was a JSONDecodeError traceback while planning
    _rerun_repairs(trained, store, tmp_path, [gate], "fit.json is not readable JSON")


def test_a_json_file_that_is_not_an_object(trained, tmp_path):
    store, keys = _copy(trained, tmp_path)
    victim = keys["fusion (birnn) → valence"]
    (store.path(victim) / "model.json").write_text("[1, 2]")
    _reseal(store.path(victim))
    _rerun_repairs(trained, store, tmp_path, [victim], "model.json is not a JSON object")


def test_a_file_where_a_prefix_folder_belongs(trained, tmp_path):
    store, keys = _copy(trained, tmp_path)
    victim = keys["fusion (birnn) → arousal"]
    prefix = store.path(victim).parent
    under = [k for k in keys.values() if k.startswith(prefix.name)]
    shutil.rmtree(prefix)
    prefix.write_text("not a folder")  # was FileExistsError on every rerun, and verify said all was well
    verified = cli("store", "verify", "--store", store.root)
    assert verified.exit_code == 1 and str(prefix) in verified.output, verified.output
    data, _, clean_run = trained
    result = cli("run", "--data", data, "--store", store.root, "--out", tmp_path / "run", *TINY)
    assert result.exit_code == 0, result.output
    assert result.output.count("is a file where the folder of entries") == 1, result.output
    tasks = json.loads((tmp_path / "run" / "tasks.json").read_text())
    assert {t["key"] for t in tasks if not t["reused"]} == set(under)
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == \
        json.loads((clean_run / "results.json").read_text())
    assert prefix.is_dir() and cli("store", "verify", "--store", store.root).exit_code == 0
    gc = cli("store", "gc", "--store", store.root)
    assert gc.exit_code == 0 and "1 folder(s) removed" in gc.output and not store.leftovers(), gc.output


def test_gc_removes_a_file_where_a_prefix_folder_belongs(tmp_path):
    store = ArtifactStore(tmp_path)
    (tmp_path / "ab").write_text("x")
    (tmp_path / "cd").mkdir()
    (tmp_path / "cd" / ("cd" + "0" * 62)).write_text("a file where an entry's folder belongs")
    verified = cli("store", "verify", "--store", tmp_path)
    assert verified.exit_code == 1 and "a file where the entry's folder belongs" in verified.output, verified.output
    gc = cli("store", "gc", "--store", tmp_path)
    assert gc.exit_code == 0 and "2 folder(s) removed" in gc.output, gc.output
    assert not (tmp_path / "ab").exists() and not list(store.keys()) and not store.strays()


def _flip(store: ArtifactStore, decision: str) -> None:
    fit = json.loads((store.path(decision) / "fit.json").read_text())
    other = next(c for c in fit["decision"]["candidates"] if c != fit["choice"])
    fit["choice"] = fit["decision"]["chosen"] = other
    (store.path(decision) / "fit.json").write_text(json.dumps(fit))


def test_a_tampered_decision_is_never_used_downstream(trained, tmp_path):
    """The choice flipped in fit.json: detected, moved aside and retrained (before, the plan read the tampered
    choice before the entry was checked)."""
    store, keys = _copy(trained, tmp_path)
    decision = keys["decision unimodal fau → arousal: model"]
    _flip(store, decision)
    assert store.info(decision) is None and store.path(decision).is_dir()  # left for the run to report
    _rerun_repairs(trained, store, tmp_path, [decision], "fit.json differs")


def test_a_tampered_decision_that_the_manifest_vouches_for_is_refused(trained, tmp_path):
    """The choice flipped and the checksums rewritten to match: the entry's output is still the other candidate's
    predictions, so the run refuses to build a pipeline that would disagree with what its fuser read."""
    data, _, _ = trained
    store, keys = _copy(trained, tmp_path)
    decision = keys["decision unimodal fau → arousal: model"]
    _flip(store, decision)
    _reseal(store.path(decision))
    result = cli("run", "--data", data, "--store", store.root, "--out", tmp_path / "run", *TINY)
    assert result.exit_code != 0 and "holds another candidate's predictions" in result.output, result.output
    assert decision[:12] in result.output and "Traceback" not in result.output


def test_the_store_and_the_tasks_agree_on_keys(tmp_path):
    """The binding recomputes Task's key from what task.json holds: both must hash alike (floats, tuples,
    nested refs, non-ASCII labels)."""
    task = Task("fuser", "fusion (birnn) → arousal", {"lr": 0.1 + 0.2, "ids": ("a", "b"), "x": {"refs": [["k", None]]},
                                                     "n": np.float64(1e-7).item(), "label": "→"})
    store = ArtifactStore(tmp_path)
    store.put(task.key, task.describe(), {}, {"plugin": "birnn"}, {"a": np.zeros(2, np.float32)}, {"seconds": 1})
    assert store.problem(task.key) is None and store.info(task.key) == {"seconds": 1}
