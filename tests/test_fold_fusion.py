"""``fusion_apply: per-fold``: the fuser learns from one fold model's predictions of each train subject, so for
unseen subjects it fuses each fold's predictions separately and averages the fused outputs (issue 34, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli
from graph_helpers import MODS, config, loaded, small_data

from musefuse.core.errors import ConfigError
from musefuse.core.method.candidates import AVERAGE, BASE, STACK
from musefuse.core.method.plan import plan_run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return small_data(tmp_path_factory, "fold-fusion")


def test_per_fold_fusion_adds_a_view_per_fold_and_trains_nothing_else_anew(data):
    ds, _, host = loaded(data, config(data))
    default = plan_run(config(data), ds, host, "cpu")
    assert not any(t.kind == "fold-view" for t in default.tasks)
    assert all("per_fold" not in t.spec for t in default.tasks)  # the default's keys stay (test_task_keys.py)
    plan = plan_run(config(data, fusion_apply="per-fold"), ds, host, "cpu")
    views = [t for t in plan.tasks if t.kind == "fold-view"]
    assert len(views) == len(plan.held) * len(MODS) * 2  # per fold, modality and target
    up = plan.unimodal[("fau", "arousal")]
    first = next(v for v in views if v.label == "fold 1/3 unimodal fau → arousal (as decided)")
    assert first.spec["order"] == [BASE, "re", AVERAGE]
    assert first.spec["follows"] == {"refs": [[up.decision.key, None]]}  # it waits for the decision, reads its choice
    fold1 = [[up.candidates[BASE][0].key, None]], [[up.candidates["re"][0].key, None]]
    assert first.spec["candidates"] == {BASE: [{"refs": fold1[0]}], "re": [{"refs": fold1[1]}],
                                        AVERAGE: [{"refs": fold1[0]}, {"refs": fold1[1]}]}
    for name, fuser in plan.fusers["arousal"].items():
        folds = fuser.spec["per_fold"]
        assert len(folds) == 3 and all(set(f) == set(MODS) for f in folds)
        assert fuser.spec["fit_inputs"] == default.fusers["arousal"][name].spec[
            "fit_inputs"]  # the train subjects' inputs are the default's: out-of-fold
    # every model, mean and regressor decision keeps its key: only the views, the fusers and their decision are new
    new = {t.kind for t in plan.tasks if t.key not in {d.key for d in default.tasks}}
    assert new == {"fold-view", "fuser", "decision"}
    assert {t.key for t in plan.tasks if t.kind == "regressor"} == {t.key for t in default.tasks
                                                                    if t.kind == "regressor"}


def test_per_fold_fusion_needs_fold_models_and_refuses_the_stack(data):
    ds, _, host = loaded(data, config(data))
    in_sample = plan_run(config(data, fusion_apply="per-fold", fusion_train="in-sample"), ds, host, "cpu")
    assert not any(t.kind == "fold-view" for t in in_sample.tasks)  # no fold models: nothing to fuse per fold
    mean = plan_run(config(data, fusion_apply="per-fold", fuser="mean"), ds, host, "cpu")
    assert not any(t.kind == "fold-view" for t in mean.tasks)  # a fuser that learns nothing reads the mean
    with pytest.raises(ConfigError, match="per-fold.*stack"):
        plan_run(config(data, fusion_apply="per-fold", unimodal_candidates=[STACK]), ds, host, "cpu")


@pytest.mark.slow  # one tiny run and two predicts (~15 s)
def test_a_per_fold_run_fuses_each_fold_and_predict_does_the_same(data, tmp_path):
    run = tmp_path / "run"
    args = ["run", "--modalities", ",".join(MODS), "--data", data, "--out", run, "--layers", "1", "--hidden", "8",
            "--epochs", "2", "--threads", "1", "--workers", "1", "--executor", "inprocess", "--device", "cpu",
            "--store", tmp_path / "store", "--fusion-apply", "per-fold"]
    result = cli(*args)
    assert result.exit_code == 0, result.output
    # each fold view took the candidate its regressor's decision kept
    decided = {e["decision"]: e["chosen"] for e in json.loads((run / "decisions.json").read_text())
               if e["stage"] == "unimodal"}
    views = [t for t in json.loads((run / "tasks.json").read_text()) if t["kind"] == "fold-view"]
    assert len(views) == 3 * len(MODS) * 2
    for view in views:
        m, t = view["label"].split("unimodal ")[1].removesuffix(" (as decided)").split(" → ")
        assert view["choice"] == decided[f"unimodal {m} → {t}: model"], view["label"]

    # predict, which applies the fitted pipeline from its checkpoints, gives the run's unseen-subject fusion
    from musefuse.core.plugin_host import get_host
    from musefuse.core.runs.checkpoints import load_fitted
    from musefuse.core.runs.runner import load_run_config

    fitted = load_fitted(run, load_run_config(run), get_host(), "cpu")
    assert fitted.fused_per_fold == 3
    out = tmp_path / "pred"
    assert cli("predict", "--run", run, "--out", out, "--device", "cpu").exit_code == 0
    unseen = pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"].astype(str)
    for sid in unseen:
        for target in ("arousal", "valence"):
            theirs = pd.read_csv(run / "predictions" / "fusion" / target / f"{sid}.csv")["value"]
            mine = pd.read_csv(out / target / f"{sid}.csv")["value"]
            assert (abs(theirs - mine) < 1e-5).all(), (sid, target)
    # ...and it is not what fusing the fold models' mean gives (the previous behaviour, fusion_apply: fold-mean)
    fitted.fused_per_fold = 0
    from musefuse.core.data.loader import load_dataset, standardise

    ds = load_dataset(data, fitted.modalities, ["arousal", "valence"])
    standardise(ds, fitted.modalities, fitted.stats)
    subjects = [s for s in ds.subjects if s.id in set(unseen)]
    as_mean = fitted.apply(subjects).fusion["arousal"]
    ran = [pd.read_csv(run / "predictions" / "fusion" / "arousal" / f"{s.id}.csv")["value"].to_numpy()
           for s in subjects]
    assert max(float(np.abs(a - b).max()) for a, b in zip(as_mean, ran, strict=True)) > 1e-4
