"""``fold_stopping: inner``: fold regressors stop on a quarter of their own fit subjects, so devel only judges
(issue 34, item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from graph_helpers import config, loaded, small_data

from musefuse.core.errors import ConfigError
from musefuse.core.method.plan import plan_run
from musefuse.core.method.tasks import inner_split


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:  # 24 subjects: each fold model has 9 train subjects to split
    return small_data(tmp_path_factory, "stopping", subjects=24)


def test_fold_regressors_stop_on_their_own_inner_subjects_and_devel_only_judges(data):
    ds, _, host = loaded(data, config(data))
    default = plan_run(config(data), ds, host, "cpu")
    plan = plan_run(config(data, fold_stopping="inner"), ds, host, "cpu")
    devel = [s.id for s in ds.subjects if s.partition == "devel"]
    before = {t.label: t for t in default.tasks}
    inner_by_fold: dict[str, list[str]] = {}
    for task in (t for t in plan.tasks if t.kind == "regressor"):
        was = before[task.label]
        fit, inner = task.spec["fit_ids"], task.spec["devel_ids"]
        assert sorted(fit + inner) == sorted(was.spec["fit_ids"]) and not set(fit) & set(inner)
        assert len(inner) == max(2, round(len(was.spec["fit_ids"]) / 4)) and not set(inner) & set(devel)
        fold = task.label.split("unimodal")[0]
        assert inner_by_fold.setdefault(fold, inner) == inner  # one split per fold, whatever the model
    assert len({tuple(v) for v in inner_by_fold.values()}) == len(plan.held)
    # the estimators, the fusers' early stopping and the decisions' evidence are as before
    assert {t.key for t in plan.tasks if t.kind == "estimator"} == {t.key for t in default.tasks
                                                                    if t.kind == "estimator"}
    assert all(t.spec["devel_ids"] == devel for t in plan.tasks if t.kind == "fuser")


def test_an_inner_split_that_leaves_too_few_subjects_is_refused():
    assert inner_split([str(i) for i in range(8)], 0)[1] == sorted(inner_split([str(i) for i in range(8)], 0)[1])
    assert len(inner_split([str(i) for i in range(8)], 0)[1]) == 2
    with pytest.raises(ConfigError, match="fold_stopping: inner"):
        inner_split(["a", "b", "c"], 0)
