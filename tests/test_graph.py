"""The task graph: keys, the artifact store, executors, reuse, out-of-fold plans, kill-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from graph_helpers import TINY, Recorder, loaded, regressor

from musefuse.core.config import RunConfig, flatten, updated
from musefuse.core.engine.executors import parallelism
from musefuse.core.engine.local import LocalExecutor
from musefuse.core.engine.store import ArtifactStore
from musefuse.core.engine.task import Task
from musefuse.core.method.env import TaskEnv
from musefuse.core.method.pipeline import train
from musefuse.core.method.plan import plan_run
from musefuse.core.method.workers import FromFolder
from musefuse.lab.synth import write_synthetic

MODS = ["egemaps", "fau"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("graph") / "small", small=True, seed=2, modalities=MODS)



def config(data: Path, **changes) -> RunConfig:
    return RunConfig(**{"modalities": MODS, "data": data, **TINY, **changes}).with_preset(cuda=False)



def fit(data: Path, store: Path, executor=None, **changes):
    cfg = config(data, **changes)
    ds, stats, host = loaded(data, cfg)
    rec = Recorder()
    fitted, out = train(cfg, ds, stats, host, __import__("torch").device("cpu"), rec,
                        store=ArtifactStore(store), executor=executor)
    return out, rec


# -- keys --------------------------------------------------------------------------------------


def test_key_is_a_content_hash_of_the_spec():
    a = Task("regressor", "x", {"seed": 1, "settings": {"lr": 0.001}})
    assert a.key == Task("regressor", "another label", {"settings": {"lr": 0.001}, "seed": 1}).key
    assert a.key != Task("regressor", "x", {"seed": 1, "settings": {"lr": 0.005}}).key
    assert a.key != Task("fuser", "x", {"seed": 1, "settings": {"lr": 0.001}}).key


def test_plan_keys_change_with_settings_data_and_upstream(data, tmp_path):
    cfg = config(data)
    ds, _, host = loaded(data, cfg)
    base = plan_run(cfg, ds, host, "cpu")
    again = plan_run(cfg, ds, host, "cpu")
    assert [t.key for t in base.tasks] == [t.key for t in again.tasks]
    # A regressor setting changes regressors and (through their outputs) fusers, not estimators.
    lr = plan_run(config(data, lr=0.0005), ds, host, "cpu")
    assert lr.estimators["fau"].key != base.estimators["fau"].key  # estimators use the same settings
    noise = plan_run(config(data, estimator_options={"noise": 0.2}), ds, host, "cpu")
    assert noise.estimators["fau"].key != base.estimators["fau"].key
    assert regressor(noise, "fau", "arousal").key != regressor(base, "fau", "arousal").key  # upstream changed
    # The learning-rate schedule is part of the budget; plain patience is left out of the key, so models
    # trained before the schedule existed are still found.
    plain = plan_run(config(data, lr_schedule="none"), ds, host, "cpu")
    assert cfg.budget.lr_schedule == "plateau" and plain.estimators["fau"].key != base.estimators["fau"].key
    assert "lr_schedule" not in plain.estimators["fau"].spec["fit"]
    # Without RE in the regressors, they do not depend on the estimator at all.
    no_re = plan_run(config(data, re_unimodal=False), ds, host, "cpu")
    assert not regressor(no_re, "fau", "arousal").deps
    # One fau file edited -> new keys for every task that reads fau (and the fusers, downstream);
    # egemaps models read none of it and keep theirs (copytree keeps sizes and mtimes).
    other = tmp_path / "copy"
    import shutil

    shutil.copytree(data, other)
    f = next((other / "feature_segments" / "fau").glob("*.csv"))
    f.write_text(f.read_text().replace("0.", "0.1", 1))
    ds2, _, _ = loaded(other, cfg)
    moved = plan_run(updated(cfg, data=other), ds2, host, "cpu")
    shared = {t.label for t in moved.tasks if t.key in {b.key for b in base.tasks}}
    assert shared == {"difficulty egemaps", "unimodal egemaps → arousal", "unimodal egemaps → valence"}


@pytest.mark.parametrize("unseen", ["all-train", "fold-mean"])
def test_oof_difficulty_never_comes_from_an_estimator_that_saw_the_subject(data, unseen):
    cfg = config(data, difficulty_train="out-of-fold", folds=3, difficulty_unseen=unseen)
    ds, _, host = loaded(data, cfg)
    plan = plan_run(cfg, ds, host, "cpu")
    by_key = {t.key: t for t in plan.tasks}
    train_ids = {s.id for s in ds.subjects if s.partition == "train"}
    for m, refs in plan.difficulty.items():
        source = {}
        for key, ids in refs:  # later refs override earlier ones
            for sid in ids if ids is not None else [s.id for s in ds.subjects]:
                source[sid] = key
        for sid in train_ids:
            assert sid not in by_key[source[sid]].spec["fit_ids"], (m, sid)
        for s in ds.subjects:  # devel/test subjects: the all-train estimator, or the mean of the fold ones
            if s.partition != "train":
                if unseen == "all-train":
                    assert source[s.id] == plan.estimators[m].key
                else:
                    members = by_key[source[s.id]].spec["members"]["refs"]
                    assert by_key[source[s.id]].kind == "fold-mean" and m not in plan.estimators
                    assert members == [[e.key, None] for e in plan.fold_estimators[m]] and len(members) == 3
        # and the regressors consume exactly that signal
        assert regressor(plan, m, "arousal").spec["difficulty"]["refs"] == refs


def test_fold_estimators_are_shared_by_oof_difficulty_and_oof_fusion(data):
    cfg = config(data, difficulty_train="out-of-fold", fusion_train="out-of-fold", folds=2)
    ds, _, host = loaded(data, cfg)
    plan = plan_run(cfg, ds, host, "cpu")
    kinds = [t.kind for t in plan.tasks]
    # per modality: 1 + 2 folds estimators; per (modality, target): 2 fold regressors (their mean predicts unseen
    # subjects: no all-train one); 2 fusers
    assert kinds.count("estimator") == 2 * 3 and kinds.count("regressor") == 4 * 2 and kinds.count("fuser") == 2


def test_fold_models_standardise_features_on_their_own_subjects(data, tmp_path):
    cfg = config(data, difficulty_train="out-of-fold", fusion_train="out-of-fold", folds=2)
    ds, _, host = loaded(data, cfg)
    plan = plan_run(cfg, ds, host, "cpu")
    fold_tasks = [t for t in plan.tasks if t.label.startswith("fold")]
    assert fold_tasks and all(t.spec["standardise"] == "fit" for t in fold_tasks)
    assert all("standardise" not in t.spec for t in plan.tasks if t not in fold_tasks)
    off = plan_run(config(data, difficulty_train="out-of-fold", fusion_train="out-of-fold", folds=2,
                          fold_standardise=False), ds, host, "cpu")
    assert all("standardise" not in t.spec for t in off.tasks)  # the keys of runs before the option existed
    assert {m: t.key for m, t in off.estimators.items()} == {m: t.key for m, t in plan.estimators.items()}
    # What a fold model reads: z-scored on its fit subjects' observed frames alone, so held-out ones are new to it.
    env = TaskEnv(ds, host, torch.device("cpu"), ArtifactStore(tmp_path))
    task = next(t for t in fold_tasks if t.kind == "estimator" and t.spec["modality"] == "fau")
    fit = env.index(task.spec["fit_ids"])
    x = env.features("fau", "zero", standardise_on=task.spec["fit_ids"])
    seen = np.concatenate([x[i][~np.isnan(ds.subjects[i].features["fau"]).all(axis=1)] for i in fit])
    np.testing.assert_allclose(seen.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(seen.std(axis=0), 1, atol=1e-3)
    assert not np.allclose(np.concatenate(x), np.concatenate(env.features("fau", "zero")))  # not the run's scaling


def test_only_models_with_a_difficulty_input_are_keyed_as_paired(data):
    """Models fed the signal start from the no-signal model's weights (models.seeded_model), a change in their
    keys only: without the signal, keys and artifacts from before stay valid."""
    ds, _, host = loaded(data, config(data))
    with_re = plan_run(config(data), ds, host, "cpu")
    assert all(t.spec["init"] == "paired" for t in with_re.tasks if t.kind in ("regressor", "fuser"))
    for changes in ({"estimator": "none"}, {"re_unimodal": False, "re_fusion": False}):
        plan = plan_run(config(data, **changes), ds, host, "cpu")
        assert all("init" not in t.spec for t in plan.tasks)
    fusion_only = plan_run(config(data, re_unimodal=False), ds, host, "cpu")
    assert {t.kind for t in fusion_only.tasks if "init" in t.spec} == {"fuser"}


# -- the store ---------------------------------------------------------------------------------


def test_half_written_artifact_is_never_taken_for_a_finished_one(tmp_path):
    store = ArtifactStore(tmp_path)
    task = Task("estimator", "x", {"k": 1})
    key = task.key  # an entry is bound to its key
    (store.path(key)).mkdir(parents=True)
    (store.path(key) / "model.safetensors").write_bytes(b"partial")
    assert not store.has(key)
    store.put(key, task.describe(), {}, {"plugin": "x"}, {"s1": np.zeros(3, np.float32)}, {"seconds": 0})
    assert store.has(key) and store.signals(key)["s1"].shape == (3,)  # replaced by a complete one


def test_store_write_is_atomic_and_readable(tmp_path):
    store = ArtifactStore(tmp_path)
    task = Task("estimator", "x", {"k": 2})
    key = task.key  # an entry is bound to its key
    store.put(key, task.describe(), {}, {"plugin": "x"}, {"s1": np.arange(4, dtype=np.float32)}, {"seconds": 1.5})
    assert store.has(key) and store.fit_info(key)["seconds"] == 1.5
    np.testing.assert_array_equal(store.signals(key)["s1"], np.arange(4, dtype=np.float32))
    assert not list(store.path(key).parent.glob(".tmp-*"))


# -- reuse -------------------------------------------------------------------------------------


def test_second_run_reuses_everything_and_a_fuser_change_trains_only_fusers(data, tmp_path):
    out1, first = fit(data, tmp_path / "store")
    assert len(first.trained) == 2 + 4 + 2 and not first.reused
    out2, second = fit(data, tmp_path / "store")
    assert not second.trained and len(second.reused) == 8
    for t in ("arousal", "valence"):
        for a, b in zip(out1.fusion[t], out2.fusion[t], strict=True):
            np.testing.assert_array_equal(a, b)
    _, fuser_only = fit(data, tmp_path / "store", re_fusion=False)
    assert sorted(fuser_only.trained) == ["fusion (birnn) → arousal", "fusion (birnn) → valence"]
    _, mean = fit(data, tmp_path / "store", fuser="mean")
    assert all(label.startswith("fusion") for label in mean.trained)


def test_changed_setting_never_reuses_a_stale_artifact(data, tmp_path):
    fit(data, tmp_path / "store")
    _, rec = fit(data, tmp_path / "store", seed=1)
    assert len(rec.trained) == 8 and not rec.reused


@pytest.mark.slow
def test_results_identical_across_executors(data, tmp_path):
    inproc, _ = fit(data, tmp_path / "a", fusion_train="out-of-fold", folds=2)
    cfg = config(data)
    ds, _, _ = loaded(data, cfg)
    factory = FromFolder(data, tuple(MODS), ("arousal", "valence"), ds.fingerprint, "cpu")
    local, rec = fit(data, tmp_path / "b", executor=LocalExecutor(factory, tmp_path / "b", 1, workers=2),
                     fusion_train="out-of-fold",
                     folds=2)
    assert len(rec.trained) == 2 * 3 + 4 * 3 + 2
    for key in inproc.unimodal:
        for a, b in zip(inproc.unimodal[key], local.unimodal[key], strict=True):
            np.testing.assert_array_equal(a, b)
    for t in inproc.fusion:
        for a, b in zip(inproc.fusion[t], local.fusion[t], strict=True):
            np.testing.assert_array_equal(a, b)


def test_parallelism_uses_the_cores(monkeypatch):
    monkeypatch.setattr("musefuse.core.engine.executors.cpu_cores", lambda: 8)
    assert parallelism("cpu", None, 1).workers == 8
    assert parallelism("cpu", None, 2).workers == 4
    assert parallelism("cpu", 2, None).threads == 4
    assert parallelism("cuda").workers > 1


# -- kill and resume ---------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_resumes(data, tmp_path):
    """SIGKILL the whole run (main process and workers) after its first finished model; rerun."""
    store, out = tmp_path / "store", tmp_path / "run"
    cmd = [sys.executable, "-m", "musefuse.cli", "run", "--modalities", ",".join(MODS), "--data", str(data),
           "--out", str(out), "--store", str(store), "--layers", "1", "--hidden", "8", "--epochs", "3",
           "--device", "cpu", "--workers", "2", "--threads", "1"]
    env = {**os.environ, "MUSEFUSE_LOAD_PLUGINS": ""}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    deadline = time.time() + 120
    for line in proc.stdout:  # type: ignore[union-attr]
        if line.startswith("trained ") or time.time() > deadline:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "results.json").exists()
    # entries renamed into place; a `.tmp-*` folder the kill caught between task.json and the rename is no entry
    # (pathlib's "*" matches dot-folders: counting it failed this test once when the kill fell there)
    finished = len([p for p in store.glob("*/*") if not p.name.startswith(".") and (p / "task.json").exists()])
    # the defaults: 3 fold estimators and their mean per modality; per regressor, 3 fold models with and 3
    # without RE, each three's mean, the average of the two and their decision; per target, a fuser with and
    # without RE, the convex fuser and their decision
    n_tasks = 2 * (3 + 1) + 4 * (2 * 3 + 2 + 1 + 1) + 2 * (3 + 1)
    assert 1 <= finished < n_tasks

    again = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    lines = again.stderr.splitlines()
    reused = sum(line.startswith("reused ") for line in lines)
    trained = sum(line.startswith(("trained ", "decided ", "averaged ", "fitted ")) for line in lines)
    assert reused >= finished  # finished models are read from the store ...
    assert trained + reused == n_tasks  # ... and nothing is trained twice
    assert json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("method", ["quantile", "per-recording", "clip"])
def test_calibrated_run_predicts_the_same_through_predict(data, tmp_path, method):
    """The calibration is a stage of its own: saved in the run folder and applied again by predict."""
    from typer.testing import CliRunner

    from musefuse.cli.app import app

    run = tmp_path / "run"
    args = ["run", "--modalities", ",".join(MODS), "--data", str(data), "--out", str(run), "--layers", "1",
            "--hidden", "8", "--epochs", "1", "--device", "cpu", "--difficulty-train", "out-of-fold",
            "--folds", "2", "--difficulty-calibration", method]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (run / "checkpoints" / "calibration-fau.safetensors").is_file()
    tasks = json.loads((run / "tasks.json").read_text())
    assert sum(t["kind"] == "calibration" for t in tasks) == 2
    assert_predict_reproduces_the_run(run, data, tmp_path / "p", ["arousal"])
    if method == "quantile":  # on train, the calibrated signal is about N(0, 1)
        drift = json.loads((run / "difficulty_drift.json").read_text())
        assert abs(drift["fau"]["train_mean"]) < 0.1 and abs(drift["fau"]["train_std"] - 1) < 0.15


@pytest.mark.parametrize("unseen", ["fold-mean", "all-train"])
def test_new_subjects_difficulty_is_the_same_through_predict(data, tmp_path, unseen):
    """With fold-mean difficulty (the default) the run folder holds each fold's auto-encoder and input scaling
    (no all-train one), and predict, averaging them again, reproduces the run's devel and test outputs; with
    all-train it holds that one auto-encoder alone."""
    from typer.testing import CliRunner

    from musefuse.cli.app import app

    run = tmp_path / "run"
    args = ["run", "--modalities", ",".join(MODS), "--data", str(data), "--out", str(run), "--layers", "1",
            "--hidden", "8", "--epochs", "1", "--device", "cpu", "--folds", "2", "--difficulty-unseen", unseen]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    ck = run / "checkpoints"
    fold_mean = unseen == "fold-mean"
    assert (ck / "estimator-fau.safetensors").exists() != fold_mean
    for k in (1, 2):
        assert (ck / f"estimator-fau-fold{k}.safetensors").is_file() == fold_mean
        assert (run / "standardisation" / f"fau-fold{k}.safetensors").is_file() == fold_mean
    tasks = json.loads((run / "tasks.json").read_text())
    assert sum(t["kind"] == "fold-mean" and t["label"].startswith("difficulty") for t in tasks) == 2 * fold_mean
    assert sum(t["kind"] == "estimator" for t in tasks) == (4 if fold_mean else 6)
    assert_predict_reproduces_the_run(run, data, tmp_path / "p", ["arousal", "valence"])


def assert_predict_reproduces_the_run(run: Path, data: Path, out: Path, targets: list[str]) -> None:
    """`musefuse predict` with ``run`` on its own data gives the run's fusion predictions for devel and test
    subjects (train subjects' difficulty in the run is out-of-fold, which predict cannot know)."""
    from typer.testing import CliRunner

    from musefuse.cli.app import app

    result = CliRunner().invoke(app, ["predict", "--run", str(run), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    ds, _, _ = loaded(data, config(data))
    for s in (s for s in ds.subjects if s.partition != "train"):
        for target in targets:
            ours = np.loadtxt(run / "predictions" / "fusion" / target / f"{s.id}.csv", delimiter=",", skiprows=1)
            again = np.loadtxt(out / target / f"{s.id}.csv", delimiter=",", skiprows=1)
            np.testing.assert_allclose(ours[:, 2], again[:, 2], rtol=1e-5, atol=1e-6)  # to CSV precision


def test_predict_reads_a_run_folder_written_before_the_task_graph(data, tmp_path):
    """Old run folders keep working: their config.yaml has the AE options as top-level fields."""
    import yaml
    from typer.testing import CliRunner

    from musefuse.cli.app import app
    from musefuse.core.runs.runner import load_run_config

    run = tmp_path / "run"
    args = ["run", "--modalities", ",".join(MODS), "--data", str(data), "--out", str(run), "--layers", "1",
            "--hidden", "8", "--epochs", "1", "--device", "cpu"]
    assert CliRunner().invoke(app, args).exit_code == 0
    cfg = json.loads(json.dumps(flatten(load_run_config(run)), default=str))  # flat, as config.yaml was then
    for new in ("estimator_options", "difficulty_train", "difficulty_calibration", "workers", "executor", "store"):
        cfg.pop(new)
    cfg.update(ae_bottleneck=8, ae_noise=0.1, re_smoothing=1)
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run / "tasks.json").unlink()
    (run / "difficulty_drift.json").unlink()
    (run / "manifest.json").unlink()  # older than run folder manifests too
    result = CliRunner().invoke(app, ["predict", "--run", str(run), "--data", str(data), "--out", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "p" / "arousal").glob("*.csv"))


def test_models_are_reused_across_runs_with_other_modalities(data, tmp_path):
    """A model keys on the files it reads: egemaps models of an egemaps+fau run serve an egemaps-only run."""
    fit(data, tmp_path / "store")
    _, rec = fit(data, tmp_path / "store", modalities=["egemaps"])
    assert sorted(rec.reused) == ["difficulty egemaps", "unimodal egemaps → arousal", "unimodal egemaps → valence"]
    assert sorted(rec.trained) == ["fusion (birnn) → arousal", "fusion (birnn) → valence"]
