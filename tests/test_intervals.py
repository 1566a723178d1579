"""95% intervals of a partition's CCC: they contain their estimate, say n/a below 3 recordings, and cover."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from musefuse.cli.run_cmd import results_table
from musefuse.core.learning.metrics import ccc, ccc_ci95, t975
from musefuse.core.runs.results import combined_records
from musefuse.lab.experiments.report import _with_interval

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "interval_coverage.py"


def coverage_bench():
    spec = importlib.util.spec_from_file_location("interval_coverage", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_students_t_quantiles_are_pinned():
    assert [t975(d) for d in (1, 2, 13, 30)] == [12.7062, 4.3027, 2.1604, 2.0423]
    assert t975(60) == pytest.approx(2.0003, abs=2e-4) and t975(1000) == pytest.approx(1.9623, abs=2e-4)


def test_two_recordings_have_no_interval_three_have_one():
    preds, golds = coverage_bench().draw_recordings(np.random.default_rng(0), 3)
    assert ccc_ci95(preds[:2], golds[:2]) is None  # a percentile bootstrap over AA, AB, BB is no interval
    assert ccc_ci95(preds[:1], golds[:1]) is None
    lo, hi = ccc_ci95(preds, golds)
    assert -1 <= lo < hi <= 1


@pytest.mark.parametrize("n", [3, 4, 5, 8])
def test_every_interval_contains_its_estimate(n):
    rng = np.random.default_rng(n)
    bench = coverage_bench()
    for _ in range(200):
        preds, golds = bench.draw_recordings(rng, n)
        est = ccc(np.concatenate(preds), np.concatenate(golds))
        lo, hi = ccc_ci95(preds, golds)
        assert lo < round(est, 4) < hi or lo == hi == round(est, 4)


def test_a_perfect_prediction_has_the_interval_one():
    golds = coverage_bench().draw_recordings(np.random.default_rng(1), 5)[1]
    assert ccc_ci95(golds, golds) == [1.0, 1.0]


def test_the_combined_interval_contains_the_combined_ccc_and_tables_say_n_a():
    bench, rng = coverage_bench(), np.random.default_rng(3)
    from musefuse.core.runs.results import _record

    records = []
    for n, part in ((4, "devel"), (2, "test")):
        preds, golds = bench.draw_recordings(rng, n)
        for target in ("arousal", "valence"):
            records.append(_record("fusion", ["fau"], target, [p + rng.normal(0, 0.5, p.shape) for p in preds],
                                   golds, partition=part, re=False))
    combined = {r["partition"]: r for r in combined_records(records)}
    lo, hi = combined["devel"]["ccc_ci95"]
    assert lo < combined["devel"]["ccc"] < hi
    assert combined["test"]["ccc"] is not None and combined["test"]["ccc_ci95"] is None
    assert _with_interval(combined["test"]).endswith("[n/a]")
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(results_table([*records, *combined.values()], "t"))
    assert "[n/a]" in console.export_text()


@pytest.mark.slow
def test_the_95_interval_of_14_recordings_covers_the_population_ccc_about_95_percent():
    """Population CCC from 20,000 recordings; 1000 partitions of 14 (docs/results.md has the figure)."""
    cov = coverage_bench().coverage(14, 1000)["jackknife-z"]
    assert 0.90 <= cov <= 0.98, cov
