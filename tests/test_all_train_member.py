"""``all_train_member``: each regressor candidate's model fitted on every train subject joins its fold models in
predicting unseen subjects; train subjects keep their out-of-fold predictions (issue 34, item 3: a fold model sees
two thirds of the train subjects)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helpers import cli
from graph_helpers import MODS, config, loaded, small_data

from musefuse.core.errors import ConfigError
from musefuse.core.method.candidates import BASE
from musefuse.core.method.plan import plan_run


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return small_data(tmp_path_factory, "all-train-member")


def test_the_all_train_model_is_one_member_more_for_unseen_subjects_only(data):
    ds, _, host = loaded(data, config(data))
    default = plan_run(config(data), ds, host, "cpu")
    plan = plan_run(config(data, all_train_member=True), ds, host, "cpu")
    in_sample = plan_run(config(data, fusion_train="in-sample"), ds, host, "cpu")
    train = [s.id for s in ds.subjects if s.partition == "train"]
    for key, up in plan.unimodal.items():
        before = default.unimodal[key]
        for name, models in up.candidates.items():
            assert [t.key for t in models[:-1]] == [t.key for t in before.candidates[name]]  # the fold models
            extra = models[-1]
            assert extra.spec["fit_ids"] == train and "standardise" not in extra.spec  # the run's own scaling
            # the same model an in-sample run trains: a store that has one reuses it
            assert extra.key == in_sample.unimodal[key].candidates[name][0].key
            # unseen subjects: the mean of the fold models and the all-train one; train subjects: out-of-fold
            mean_ref, *oof = up.refs[name]
            assert oof == before.refs[name][1:] and mean_ref != before.refs[name][0]
            mean = next(t for t in plan.tasks if t.key == mean_ref[0])
            assert mean.spec["members"] == [{"refs": [[t.key, None]]} for t in models]
    n_candidates = len(default.unimodal[("fau", "arousal")].candidates)
    added = [t for t in plan.tasks if t.kind == "regressor" and t.key not in {d.key for d in default.tasks}]
    assert len(added) == len(MODS) * 2 * n_candidates  # one model per regressor candidate, nothing else trained
    assert BASE in default.unimodal[("fau", "arousal")].candidates


def test_the_all_train_member_and_per_fold_fusion_are_refused_together(data):
    ds, _, host = loaded(data, config(data))
    with pytest.raises(ConfigError, match="per-fold.*all-train"):
        plan_run(config(data, all_train_member=True, fusion_apply="per-fold"), ds, host, "cpu")
    # without fold models (in-sample fusion inputs) every candidate is its all-train model already
    plain = plan_run(config(data, fusion_train="in-sample"), ds, host, "cpu")
    asked = plan_run(config(data, fusion_train="in-sample", all_train_member=True), ds, host, "cpu")
    assert [t.key for t in asked.tasks] == [t.key for t in plain.tasks]


@pytest.mark.slow  # one tiny run and a predict (~15 s)
def test_a_run_with_the_all_train_member_predicts_as_it_ran(data, tmp_path):
    run, out = tmp_path / "run", tmp_path / "pred"
    result = cli("run", "--modalities", ",".join(MODS), "--data", data, "--out", run, "--layers", "1", "--hidden",
                 "8", "--epochs", "2", "--threads", "1", "--workers", "1", "--executor", "inprocess", "--device",
                 "cpu", "--store", tmp_path / "store", "--all-train-member")
    assert result.exit_code == 0, result.output
    assert "(mean of 3 folds and all train)" in (run / "tasks.json").read_text()
    assert cli("predict", "--run", run, "--out", out, "--device", "cpu").exit_code == 0
    unseen = pd.read_csv(data / "metadata" / "partition.csv").query("Partition != 'train'")["Id"].astype(str)
    for sid in unseen:
        for target in ("arousal", "valence"):
            theirs = pd.read_csv(run / "predictions" / "fusion" / target / f"{sid}.csv")["value"].to_numpy()
            mine = pd.read_csv(out / target / f"{sid}.csv")["value"].to_numpy()
            np.testing.assert_allclose(mine, theirs, atol=1e-5, err_msg=f"{sid} {target}")
