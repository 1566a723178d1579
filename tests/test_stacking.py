"""The ``stack`` view (core/learning/stacking.py): convex weights on out-of-fold predictions, cross-fitted, opt-in,
decided like any candidate and followed by ``predict``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from graph_helpers import config, loaded, small_data

from musefuse.core.errors import ConfigError
from musefuse.core.learning import stacking
from musefuse.core.method.candidates import AVERAGE, BASE, STACK
from musefuse.core.method.plan import plan_run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return small_data(tmp_path_factory, "stacking")


def labels(n: int = 41, steps: int = 300, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.cumsum(rng.standard_normal(steps)) / 10 for _ in range(n)]


def view(golds: list[np.ndarray], noise: float, seed: int) -> list[np.ndarray]:
    """A prediction of every subject: its label plus noise of ``noise`` times the label's spread."""
    rng = np.random.default_rng(seed)
    return [(g + rng.normal(0, noise * g.std() + 0.05, g.shape)).astype(np.float32) for g in golds]


def useless(golds: list[np.ndarray], seed: int) -> list[np.ndarray]:
    """Pure noise on the labels' scale: nothing of the label in it."""
    rng = np.random.default_rng(seed)
    return [rng.normal(0, g.std() + 0.1, g.shape).astype(np.float32) for g in golds]


# ------------------------------------------------------------------------------------------------ the weights


def test_a_useless_view_gets_almost_no_weight_and_two_equal_views_share_it():
    golds = labels()  # 41 subjects: MuSe-Stress's train partition
    good, noise = view(golds, 0.2, 1), useless(golds, 2)
    w = stacking.fit_weights([good, noise], golds)
    assert w[1] < 0.08 and w[0] > 0.92  # against 0.5 each for the plain average
    w = stacking.fit_weights([good, list(good), noise], golds)  # the same view twice, and noise
    assert w[0] == pytest.approx(w[1], abs=1e-9) and w[2] < 0.05
    w = stacking.fit_weights([good, view(golds, 0.2, 3)], golds)  # two different views, equally good
    assert w == pytest.approx([0.5, 0.5], abs=0.03)
    w = stacking.fit_weights([good, view(golds, 0.6, 4)], golds)  # a worse one: less, not nothing
    assert 0.05 < w[1] < w[0]


def test_the_convex_fuser_weighs_the_modalities_and_loads_its_weights_back():
    """``--fuser convex``: the stack's fit with the modalities as views, on (T, M) fusion inputs."""
    import torch

    from musefuse.core.errors import MusefuseError
    from musefuse.core.method.boundary import Plugin
    from musefuse.core.plugin_host import get_host
    from musefuse.plugins.fusers import ConvexFuser

    golds = labels()
    views = [view(golds, 0.3, 1), useless(golds, 2), view(golds, 0.6, 3)]
    inputs = [np.stack(cols, axis=1) for cols in zip(*views, strict=True)]  # per subject (T, 3)
    fuser = ConvexFuser()
    fuser.fit(inputs, None, golds, ([], None, []), None)
    assert fuser.weights[1] < 0.08 and fuser.weights[0] > fuser.weights[2] > 0.05  # the useless modality: ~none
    np.testing.assert_allclose(fuser.predict(inputs[:2], None), stacking.combine(fuser.weights, [v[:2] for v in views]))
    tensors, meta = fuser.state()
    again = ConvexFuser.load(tensors, meta, "cpu")
    np.testing.assert_array_equal(again.predict(inputs, None), fuser.predict(inputs, None))
    plugin = Plugin(get_host(), "fuser", "convex", during="while loading a test checkpoint")
    with pytest.raises(MusefuseError, match="sum to 1"):
        plugin.load({"weights": torch.tensor([0.9, 0.9, -0.8], dtype=torch.float64)}, meta, "cpu")
    one = ConvexFuser()  # a run of one modality: its prediction, unchanged
    one.fit([x[:, :1] for x in inputs], None, golds, ([], None, []), None)
    np.testing.assert_allclose(one.predict(inputs[:1], None)[0], views[0][0], rtol=1e-6)


def test_weights_are_convex_and_a_view_that_hurts_gets_none():
    golds = labels(n=20, seed=5)
    views = [view(golds, 0.3, 1), [-p for p in view(golds, 0.3, 2)], useless(golds, 3), view(golds, 1.0, 4)]
    for k in range(2, len(views) + 1):
        w = stacking.fit_weights(views[:k], golds)
        assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-12)
    assert stacking.fit_weights(views[:2], golds)[1] == 0.0  # the inverted view: clipped at 0, not negative
    # shrinkage: with few subjects the weights stay nearer equal than with many
    few = stacking.fit_weights([v[:4] for v in views[:3:2]], golds[:4])
    many = stacking.fit_weights(views[:3:2], golds)
    assert few[1] > many[1]
    assert stacking.fit_weights([views[0][:3], views[2][:3]], [g * np.nan for g in golds[:3]]).tolist() == [0.5, 0.5]


def test_combine_is_the_weighted_sum_per_subject():
    a, b = [np.ones(3, np.float32), np.zeros(2, np.float32)], [np.zeros(3, np.float32), np.full(2, 2, np.float32)]
    out = stacking.combine([0.25, 0.75], [a, b])
    assert [o.tolist() for o in out] == [[0.25] * 3, [1.5, 1.5]] and out[0].dtype == np.float32


def test_a_train_subjects_stacked_prediction_never_reads_its_own_labels():
    golds = labels(n=12, seed=7)
    views = [view(golds, 0.3, 1), view(golds, 0.9, 2), useless(golds, 3)]
    fit = list(range(10))  # 10 train subjects in 3 folds; subjects 10 and 11 are devel
    folds = [[0, 3, 6, 9], [1, 4, 7], [2, 5, 8]]
    out, overall, per_fold = stacking.cross_fit(views, golds, fit, folds)
    assert per_fold.shape == (3, 3) and np.allclose(per_fold.sum(axis=1), 1) and overall.sum() == pytest.approx(1)
    for k, held in enumerate(folds):
        for i in held:
            np.testing.assert_array_equal(out[i], stacking.combine(per_fold[k], [[v[i]] for v in views])[0])
    for i in (10, 11):  # devel: the weights of all train subjects
        np.testing.assert_array_equal(out[i], stacking.combine(overall, [[v[i]] for v in views])[0])
    changed = list(golds)
    changed[4] = -3 * golds[4]  # another label for train subject 4 (fold 2)
    again, overall2, per_fold2 = stacking.cross_fit(views, changed, fit, folds)
    np.testing.assert_array_equal(again[4], out[4])  # its own prediction: the same
    np.testing.assert_array_equal(per_fold2[1], per_fold[1])
    assert not np.allclose(per_fold2[0], per_fold[0])  # the other folds' weights read it
    assert not np.array_equal(again[0], out[0]) and not np.array_equal(again[10], out[10])


# ------------------------------------------------------------------------------------------------ the plan


def test_the_stack_is_opt_in_planned_after_the_average_and_trains_nothing(data):
    ds, _, host = loaded(data, config(data))
    default = plan_run(config(data), ds, host, "cpu")
    assert not any(t.kind == "stack" for t in default.tasks)
    stacked = plan_run(config(data, unimodal_candidates=[STACK]), ds, host, "cpu")
    up = stacked.unimodal[("fau", "arousal")]
    assert list(up.refs) == [BASE, "re", AVERAGE, STACK]
    assert up.decision.spec["order"] == [BASE, "re", AVERAGE, STACK]
    assert up.stack.spec["order"] == [BASE, "re"]  # the trained candidates, not their average
    assert up.stack.spec["candidates"] == {n: {"refs": up.refs[n]} for n in (BASE, "re")}
    assert up.stack.spec["held"] == stacked.held and up.stack.spec["fit_ids"] == [
        s.id for s in ds.subjects if s.partition == "train"]
    assert up.member_candidates(STACK) == [(n, t) for n in (BASE, "re") for t in up.candidates[n]]
    # nothing is trained for it: every model and mean of the default run keeps its key (the decisions and the
    # fusers that read them are new)
    def trained(plan):
        return {t.key for t in plan.tasks if t.kind in ("estimator", "regressor", "fold-mean", "calibration")}

    assert trained(stacked) == trained(default)
    assert {t.kind for t in stacked.tasks if t.key not in {d.key for d in default.tasks}} == {
        "stack", "decision", "fuser"}
    # one trained candidate: nothing to weigh
    alone = plan_run(config(data, unimodal_candidates=[STACK], re_unimodal=False), ds, host, "cpu")
    assert not any(t.kind == "stack" for t in alone.tasks)
    with pytest.raises(ConfigError, match="out-of-fold"):
        plan_run(config(data, unimodal_candidates=[STACK], fusion_train="in-sample"), ds, host, "cpu")


def test_the_stack_task_cross_fits_over_the_runs_folds(data, tmp_path):
    """The stack task on constructed candidate predictions: train subjects from their fold's weights, every other
    subject from the all-train weights, which the checkpoint keeps."""
    import torch

    from musefuse.core import fileio
    from musefuse.core.engine.kinds import run_task
    from musefuse.core.engine.store import ArtifactStore
    from musefuse.core.engine.task import Task
    from musefuse.core.method import kinds  # noqa: F401 - registers the method's task kinds
    from musefuse.core.method.env import TaskEnv, data_key

    cfg = config(data)
    ds, _, host = loaded(data, cfg)
    store = ArtifactStore(tmp_path / "store")
    y = [np.nan_to_num(s.labels["arousal"]).astype(np.float32) for s in ds.subjects]
    train = [s.id for s in ds.subjects if s.partition == "train"]
    held = [train[0::2], train[1::2]]
    views = {"plain": view(y, 0.3, 1), "re": useless(y, 2)}
    keys = {"plain": "a" * 64, "re": "b" * 64}
    for name, signals in views.items():
        store.put(keys[name], {"kind": "regressor", "label": name, "key": keys[name]}, {}, {},
                  {s.id: p for s, p in zip(ds.subjects, signals, strict=True)}, {"label": name})
    task = Task("stack", "unimodal fau → arousal (stack of 2 candidates)", {
        "data": data_key(ds, "fau"), "modality": "fau", "target": "arousal", "fit_ids": train, "held": held,
        "method": stacking.METHOD, "order": ["plain", "re"],
        "candidates": {n: {"refs": [[k, None]]} for n, k in keys.items()}})
    info = run_task(task, TaskEnv(ds, host, torch.device("cpu"), store), store)
    pos = {s.id: i for i, s in enumerate(ds.subjects)}
    expected, overall, per_fold = stacking.cross_fit(list(views.values()), [s.labels["arousal"] for s in ds.subjects],
                                                     [pos[i] for i in train], [[pos[i] for i in h] for h in held])
    out = store.signals(task.key)
    assert all(np.array_equal(out[s.id], expected[i]) for i, s in enumerate(ds.subjects))
    tensors, meta = fileio.load_tensors(store.checkpoint(task.key))
    assert meta["candidates"] == ["plain", "re"] and np.allclose(tensors["weights"].numpy(), overall)
    assert info["weights"]["plain"] > info["weights"]["re"] and len(info["fold_weights"]) == 2


# ------------------------------------------------------------------------------------------------ end to end

# The rule is left as it is, except that it keeps the stack wherever it is a candidate (so that predict is tested
# with the stack kept whatever tiny models the run trains); the run is in-process so the patch holds in its tasks.
KEEP_THE_STACK = """
import dataclasses, sys
from musefuse.core.method import kinds
decide = kinds.decide
def keeping_the_stack(name, signals, *args, **kwargs):
    decision = decide(name, signals, *args, **kwargs)
    return dataclasses.replace(decision, chosen="stack") if "stack" in signals else decision
kinds.decide = keeping_the_stack
from musefuse.cli.app import main
sys.argv = ["musefuse", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_a_run_that_keeps_the_stack_is_followed_by_predict(data, tmp_path):
    import subprocess
    import sys

    import pandas as pd

    def musefuse(*args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", KEEP_THE_STACK, *map(str, args)], capture_output=True, text=True)

    run = tmp_path / "run"
    done = musefuse("run", "--modalities", "fau", "--data", data, "--out", run, "--unimodal-candidates", "stack",
                    "--layers", "1", "--hidden", "8", "--epochs", "2", "--threads", "1", "--workers", "1",
                    "--executor", "inprocess", "--device", "cpu", "--store", tmp_path / "store")
    assert done.returncode == 0, done.stderr
    log = (run / "log.txt").read_text()
    assert "stacked unimodal fau → arousal (stack of 2 candidates): weights plain" in log
    entries = [e for e in json.loads((run / "decisions.json").read_text()) if e["stage"] == "unimodal"]
    assert entries and all(list(e["candidates"]) == [BASE, "re", AVERAGE, STACK] for e in entries)
    for e in entries:
        assert e["chosen"] == STACK and set(e["stack"]) == {BASE, "re"}
        assert sum(e["stack"].values()) == pytest.approx(1, abs=1e-6) and min(e["stack"].values()) >= 0
        assert [m["candidate"] for m in e["members"]] == [BASE] * 3 + ["re"] * 3  # every trained fold model
    tasks = json.loads((run / "tasks.json").read_text())
    assert sum(t["kind"] == "stack" for t in tasks) == len(entries)

    out = tmp_path / "pred"
    done = musefuse("predict", "--run", run, "--out", out, "--stage", "unimodal", "--device", "cpu")
    assert done.returncode == 0, done.stderr
    unseen = pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"]
    for sid in unseen:
        for e in entries:
            theirs = pd.read_csv(run / "predictions" / "unimodal-fau" / e["target"] / f"{sid}.csv")
            mine = pd.read_csv(out / "fau" / e["target"] / f"{sid}.csv")
            assert (abs(theirs["value"] - mine["value"]) < 1e-5).all(), (sid, e["target"])
    out = tmp_path / "fused"  # and the fusion, which reads the stacked predictions
    done = musefuse("predict", "--run", run, "--out", out, "--device", "cpu")
    assert done.returncode == 0, done.stderr
    for sid in unseen:
        theirs = pd.read_csv(run / "predictions" / "fusion" / "arousal" / f"{sid}.csv")
        assert (abs(theirs["value"] - pd.read_csv(out / "arousal" / f"{sid}.csv")["value"]) < 1e-5).all(), sid

    # weights that are not convex, or a member of no weighed candidate, are refused naming decisions.json (read
    # directly: predict would refuse the edited file earlier, at its checksum)
    from musefuse.core.errors import RunFolderError
    from musefuse.core.plugin_host import get_host
    from musefuse.core.runs.checkpoints import Layout, read_decisions
    from musefuse.core.runs.runner import load_run_config

    where = Layout(run, load_run_config(run), get_host())
    members, _, _ = read_decisions(where)
    assert [m[4][0] for m in members[("fau", "arousal")]] == [BASE] * 3 + ["re"] * 3
    listed = json.loads((run / "decisions.json").read_text())
    for damage in ({"stack": {BASE: 2.0, "re": 0.5}}, {"stack": {BASE: 1.0}}):
        (run / "decisions.json").write_text(json.dumps([{**e, **damage} if e.get("stack") else e for e in listed]))
        with pytest.raises(RunFolderError, match="decisions.json cannot be read"):
            read_decisions(where)


@pytest.mark.slow
def test_a_run_offered_the_stack_predicts_with_whichever_candidate_the_rule_keeps(data, tmp_path):
    """Not forced: the rule scores the stack after the average and keeps what it keeps; predict follows."""
    import pandas as pd
    from typer.testing import CliRunner

    from musefuse.cli.app import app

    run = tmp_path / "run"
    args = ["run", "--modalities", "fau", "--data", data, "--out", run, "--unimodal-candidates", "stack",
            "--layers", "1", "--hidden", "8", "--epochs", "2", "--threads", "1", "--workers", "1", "--device", "cpu",
            "--store", tmp_path / "store"]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    entries = [e for e in json.loads((run / "decisions.json").read_text()) if e["stage"] == "unimodal"]
    for e in entries:
        assert list(e["candidates"]) == [BASE, "re", AVERAGE, STACK]
        assert e["candidates"][STACK]["compared_with"] in (BASE, "re", AVERAGE)
        assert ("stack" in e) == (e["chosen"] == STACK)
        assert len(e["members"]) == 3 * (2 if e["chosen"] in (AVERAGE, STACK) else 1)
    out = tmp_path / "pred"
    result = CliRunner().invoke(app, ["predict", "--run", str(run), "--out", str(out), "--stage", "unimodal",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    for sid in pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"]:
        for e in entries:
            theirs = pd.read_csv(run / "predictions" / "unimodal-fau" / e["target"] / f"{sid}.csv")
            mine = pd.read_csv(out / "fau" / e["target"] / f"{sid}.csv")
            assert (abs(theirs["value"] - mine["value"]) < 1e-5).all(), (sid, e["target"])
