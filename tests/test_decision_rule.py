"""``decision_rule`` (default one-se): how many bootstrap standard errors a candidate's gain must exceed. bonferroni
raises the bar with the number of comparisons, so that a decision over many candidates keeps one no better than the
simplest about as rarely as a single comparison at one SE does (issue 34, item 5; benchmarks/rule_null.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import cli
from graph_helpers import config, loaded, small_data

from musefuse.core.learning.decisions import decide, se_threshold
from musefuse.core.method.plan import plan_run


def test_the_threshold_is_one_se_for_one_comparison_and_grows_with_more():
    assert se_threshold("one-se", 6) == 1.0 and se_threshold("bonferroni", 1) == 1.0
    assert round(se_threshold("bonferroni", 2), 3) == 1.410 and round(se_threshold("bonferroni", 6), 3) == 1.936
    assert all(se_threshold("bonferroni", k) < se_threshold("bonferroni", k + 1) for k in range(1, 10))


def test_a_gain_is_kept_only_beyond_the_threshold_times_its_standard_error():
    rng = np.random.default_rng(0)
    golds = [np.sin(np.linspace(0, 6, 200) + p) + 0.3 * rng.standard_normal(200) for p in rng.uniform(0, 6, 30)]
    plain = [g + 0.9 * rng.standard_normal(200) for g in golds]
    better = [g + 0.8 * rng.standard_normal(200) for g in golds]  # a little better on average
    first = decide("d", {"plain": plain, "better": better}, golds, "devel")
    scores = first.candidates
    ratio = (scores["better"]["ccc"] - scores["plain"]["ccc"]) / scores["better"]["gain_se"]
    assert ratio > 1 and first.chosen == "better" and first.notes == []
    assert decide("d", {"plain": plain, "better": better}, golds, "devel", threshold=ratio * 0.98).chosen == "better"
    stricter = decide("d", {"plain": plain, "better": better}, golds, "devel", threshold=ratio * 1.02)
    assert stricter.chosen == "plain" and "standard errors" in stricter.notes[-1]


def test_within_best_keeps_the_simplest_candidate_within_one_se_of_the_best():
    rng = np.random.default_rng(1)
    golds = [np.sin(np.linspace(0, 6, 200) + p) + 0.3 * rng.standard_normal(200) for p in rng.uniform(0, 6, 30)]
    plain = [g + 0.9 * rng.standard_normal(200) for g in golds]
    near = [0.99 * p + 0.01 * g for p, g in zip(plain, golds, strict=True)]  # a little better
    far = [g + 0.2 * rng.standard_normal(200) for g in golds]  # much better
    close = decide("d", {"plain": plain, "near": near}, golds, "devel", within_best=True)
    c = close.candidates
    assert c["near"]["ccc"] > c["plain"]["ccc"] and c["near"]["ccc"] - c["plain"]["ccc"] <= c["near"]["se"]
    assert close.chosen == "plain" and c["plain"]["compared_with"] == "near" and "within-best" in close.notes[-1]
    assert c["plain"]["gain_se"] == c["near"]["se"]  # the comparison made: against the best's own SE
    assert decide("d", {"plain": plain, "near": near, "far": far}, golds, "devel", within_best=True).chosen == "far"
    assert se_threshold("within-best", 6) == 1.0


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return small_data(tmp_path_factory, "rule", subjects=12)


@pytest.mark.parametrize("rule", ["bonferroni", "within-best"])
def test_another_rule_changes_the_decisions_and_retrains_no_model(data, rule):
    ds, _, host = loaded(data, config(data))
    default = plan_run(config(data), ds, host, "cpu")
    strict = plan_run(config(data, decision_rule=rule), ds, host, "cpu")
    assert all("threshold" not in t.spec for t in default.tasks if t.kind == "decision")  # earlier releases' keys
    assert all(t.spec["threshold"] == rule for t in strict.tasks if t.kind == "decision")
    keys = {t.key for t in default.tasks}
    assert {t.kind for t in strict.tasks if t.key not in keys} <= {"decision", "fuser", "fold-mean"}
    models = [t for t in strict.tasks if t.kind in ("estimator", "regressor")]
    assert len(models) > 10 and all(t.key in keys for t in models)


def test_an_unknown_rule_is_refused_with_the_known_ones(tmp_path):
    result = cli("run", "--decision-rule", "holm", "--out", tmp_path / "run")
    assert result.exit_code == 2 and "decision_rule" in result.output and "bonferroni" in result.output
