"""The drift diagnostic: train units, per-partition statistics, and when it warns."""

from __future__ import annotations

import re

import numpy as np
import pytest

from musefuse.core.runs.drift import DRIFT_THRESHOLD, difficulty_drift, drift_table, drift_warnings


def _signals(shift: dict[str, float], n: dict[str, int], seed: int = 0, scale: float = 3.0, offset: float = 5.0):
    """Per-subject signals: N(offset + shift_p * scale, scale) per frame, 50 frames a subject."""
    rng = np.random.default_rng(seed)
    seqs, parts = [], []
    for p, k in n.items():
        for _ in range(k):
            seqs.append((offset + scale * (shift.get(p, 0.0) + rng.standard_normal(50))).astype(np.float32))
            parts.append(p)
    return seqs, parts


def test_train_reads_zero_and_one_and_others_are_in_train_units():
    seqs, parts = _signals({"devel": 0.5, "test": -0.2}, {"train": 40, "devel": 14, "test": 14})
    rep = difficulty_drift({"vggface": seqs}, parts)["vggface"]
    tr = rep.partitions["train"]
    assert tr.mean == pytest.approx(0.0, abs=1e-9) and tr.std == pytest.approx(1.0, abs=1e-9)
    assert tr.subjects == 40 and tr.frames == 2000
    assert rep.train_mean == pytest.approx(5.0, abs=0.2) and rep.train_std == pytest.approx(3.0, abs=0.2)
    assert rep.partitions["devel"].mean == pytest.approx(0.5, abs=0.08)  # raw shift 1.5 / train sd 3
    assert rep.partitions["test"].mean == pytest.approx(-0.2, abs=0.08)
    assert rep.partitions["devel"].std == pytest.approx(1.0, abs=0.08)
    assert list(rep.partitions) == ["train", "devel", "test"]


def test_units_do_not_depend_on_the_signal_scale():
    a, parts = _signals({"test": 0.4}, {"train": 10, "test": 5}, scale=1.0, offset=0.0)
    b = [x * 7.0 - 3.0 for x in a]
    ra, rb = (difficulty_drift({"m": s}, parts)["m"].partitions["test"] for s in (a, b))
    assert ra.mean == pytest.approx(rb.mean, rel=1e-5) and ra.std == pytest.approx(rb.std, rel=1e-5)


def test_warns_only_for_devel_or_test_beyond_the_threshold():
    seqs, parts = _signals({"devel": 0.6, "test": 0.05}, {"train": 40, "devel": 14, "test": 14})
    quiet, _ = _signals({"devel": -0.05, "test": 0.08}, {"train": 40, "devel": 14, "test": 14}, seed=1)
    rep = difficulty_drift({"vggface": seqs, "egemaps": quiet}, parts)
    warnings = drift_warnings(rep)
    assert len(warnings) == 1 and re.match(r"vggface: difficulty on devel drifts \+0\.[56]\d train sd", warnings[0])
    assert f"±{DRIFT_THRESHOLD:g}" in warnings[0]
    assert rep["egemaps"].warnings == []
    table = drift_table(rep)
    assert "| vggface | +0.00 ± 1.00 | +0.59 ± 0.98 ⚠ |" in table and "⚠" in table.splitlines()[2]
    assert "⚠" not in table.splitlines()[3]


def test_negative_drift_warns_too_and_threshold_is_a_parameter():
    seqs, parts = _signals({"test": -0.3}, {"train": 30, "test": 10})
    assert drift_warnings(difficulty_drift({"fau": seqs}, parts))  # -0.3 beyond 0.25
    assert not drift_warnings(difficulty_drift({"fau": seqs}, parts, threshold=0.5))
    with pytest.raises(ValueError, match="threshold"):
        difficulty_drift({"fau": seqs}, parts, threshold=0)


def test_other_partitions_are_reported_not_warned():
    seqs, parts = _signals({"use": 2.0}, {"train": 10, "use": 3})
    rep = difficulty_drift({"fau": seqs}, parts)["fau"]
    assert rep.partitions["use"].mean > 1.5 and rep.warnings == []


def test_nan_frames_are_ignored_and_sampling_sd_shrinks_with_subjects():
    seqs, parts = _signals({}, {"train": 20, "devel": 4, "test": 16})
    seqs[0][:10] = np.nan
    seqs[-1][:] = np.nan  # a test subject with no finite frame is not counted
    rep = difficulty_drift({"fau": seqs}, parts)["fau"]
    assert rep.partitions["train"].frames == 20 * 50 - 10
    assert rep.partitions["test"].subjects == 15
    assert rep.partitions["devel"].sampling_sd == pytest.approx(rep.partitions["test"].sampling_sd * np.sqrt(15 / 4))
    assert np.isfinite(rep.train_mean)


def test_bad_input_is_refused_or_reported():
    seqs, parts = _signals({}, {"train": 3, "devel": 2})
    with pytest.raises(ValueError, match="one per subject"):
        difficulty_drift({"fau": seqs[:-1]}, parts)
    rep = difficulty_drift({"fau": [np.full(5, np.nan)] * 5}, parts)["fau"]
    assert rep.partitions == {} and "no finite" in rep.warnings[0]
    const = difficulty_drift({"fau": [np.ones(5, np.float32)] * 5}, parts)["fau"]  # sd 0: no division by zero
    assert const.partitions["devel"].mean == 0.0 and const.warnings == []
    assert rep.as_json()["modality"] == "fau"
