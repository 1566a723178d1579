"""Calibrations of the difficulty signal: numerical properties (uniform on the reference, monotone, bounds)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from musefuse.core.errors import ConfigError
from musefuse.core.learning.calibration import (
    calibrate,
    clip_to_reference,
    per_recording,
    quantile_transform,
    reference_quantiles,
)


def _recordings(seed: int = 0, n: int = 6, shift: float = 0.0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.gamma(2.0, 1.0, int(rng.integers(40, 120))) + shift).astype(np.float32) for _ in range(n)]


finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)
signal = arrays(np.float32, st.integers(1, 60), elements=finite)


# ----------------------------------------------------------------------------------- per recording


def test_per_recording_centres_and_scales_each_recording():
    for robust in (True, False):
        out = per_recording(_recordings(), robust=robust)
        for y in out:
            assert y.dtype == np.float32
            if robust:
                assert np.median(y) == pytest.approx(0.0, abs=1e-6)
                assert 1.4826 * np.median(np.abs(y)) == pytest.approx(1.0, abs=1e-5)
            else:
                assert y.mean() == pytest.approx(0.0, abs=1e-5) and y.std() == pytest.approx(1.0, abs=1e-5)


@settings(max_examples=50, deadline=None)
@given(signal, st.floats(0.01, 100), st.floats(-100, 100))
def test_per_recording_ignores_a_recording_level_offset_and_scale(x, a, b):
    assume(np.ptp(x) > 1e-3 * (1.0 + np.abs(x).max()))  # a spread above rounding error
    (y,) = per_recording([x])
    (z,) = per_recording([x.astype(np.float64) * a + b])
    np.testing.assert_allclose(y, z, rtol=1e-3, atol=1e-3)
    assert np.all(np.diff(y[np.argsort(x, kind="stable")]) >= -1e-6)  # order within a recording kept


def test_per_recording_edge_cases():
    const, nan, partial = per_recording([np.full(5, 3.0), np.full(4, np.nan), np.array([1.0, np.nan, 3.0, 5.0])])
    assert (const == 0).all() and np.isnan(nan).all()
    assert np.isnan(partial[1]) and partial[[0, 2, 3]].tolist() == pytest.approx([-1 / 1.4826, 0.0, 1 / 1.4826])
    # A burst of huge values barely moves the robust version, the rest of the recording keeps its scale.
    calm = np.random.default_rng(1).standard_normal(200)
    burst = calm.copy()
    burst[:10] = 50.0
    a, b = per_recording([calm, burst])
    c, d = per_recording([calm, burst], robust=False)
    assert np.abs(a[10:] - b[10:]).max() < 0.35 < 3.0 < np.abs(c[10:] - d[10:]).max()


# --------------------------------------------------------------------------------------- quantiles


def test_quantile_output_is_uniform_on_the_reference():
    ref = _recordings(seed=2)
    out = np.sort(np.concatenate(quantile_transform(ref, ref)))
    n = out.size
    np.testing.assert_allclose(out, (2 * np.arange(n) + 1) / (2 * n), atol=1e-6)  # distinct values: exact grid
    normal = np.concatenate(quantile_transform(ref, ref, output="normal"))
    assert abs(normal.mean()) < 0.01 and abs(normal.std() - 1.0) < 0.05


def test_quantile_transform_undoes_a_drift_that_is_monotone():
    """Held-out signals that are the reference shifted up read high; the same shift applied to the
    reference too gives identical output (only order relative to the reference matters)."""
    ref, held = _recordings(seed=3), _recordings(seed=4)
    shifted = [x * 2.0 + 1.0 for x in held]
    a = quantile_transform(held, ref)
    b = quantile_transform(shifted, [r * 2.0 + 1.0 for r in ref])
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, atol=1e-6)
    assert np.concatenate(quantile_transform([x + 3.0 for x in held], ref)).mean() > 0.8


@settings(max_examples=50, deadline=None)
@given(st.lists(signal, min_size=1, max_size=3), signal)
def test_quantile_is_monotone_and_bounded(reference, x):
    n = sum(r.size for r in reference)
    for output in ("uniform", "normal"):
        (y,) = quantile_transform([x], reference, output=output)
        order = np.argsort(x, kind="stable")
        assert np.all(np.diff(y[order].astype(np.float64)) >= -1e-6)
        if output == "uniform":
            assert y.min() >= 1 / (2 * n) - 1e-6 and y.max() <= 1 - 1 / (2 * n) + 1e-6


def test_quantile_ties_nans_and_compact_reference():
    ref = [np.array([1.0, 1.0, 2.0, 3.0])]
    (y,) = quantile_transform([np.array([1.0, 2.0, 3.0, 0.0, 9.0, np.nan])], ref)
    np.testing.assert_allclose(y[:5], [2 / 8, 5 / 8, 7 / 8, 2 / 8, 7 / 8])  # ties share a mid-rank; ends clip
    assert np.isnan(y[5])
    big = _recordings(seed=5, n=20)
    held = _recordings(seed=6)
    exact = np.concatenate(quantile_transform(held, big))
    compact = np.concatenate(quantile_transform(held, [reference_quantiles(big, 1001)]))
    assert np.abs(exact - compact).max() < 3e-3
    with pytest.raises(ValueError, match="no finite"):
        quantile_transform(held, [np.full(3, np.nan)])
    with pytest.raises(ValueError, match="output"):
        quantile_transform(held, big, output="gauss")


# ------------------------------------------------------------------------------------------ clipping


@settings(max_examples=50, deadline=None)
@given(st.lists(signal, min_size=1, max_size=3), signal)
def test_clip_bounds_and_identity_inside(reference, x):
    pooled = np.concatenate(reference).astype(np.float64)
    (y,) = clip_to_reference([x], reference)
    assert y.min() >= np.float32(pooled.min()) and y.max() <= np.float32(pooled.max())
    inside = (x >= pooled.min()) & (x <= pooled.max())
    np.testing.assert_array_equal(y[inside], x[inside])


def test_clip_to_quantiles_and_errors():
    ref = [np.arange(1001, dtype=np.float32)]
    (y,) = clip_to_reference([np.array([-5.0, 3.0, 500.0, 999.0, np.nan])], ref, lower=0.01, upper=0.99)
    np.testing.assert_allclose(y[:4], [10.0, 10.0, 500.0, 990.0])
    assert np.isnan(y[4])
    with pytest.raises(ValueError, match="lower < upper"):
        clip_to_reference(ref, ref, lower=0.5, upper=0.5)


# ------------------------------------------------------------------------------------------ dispatch


def test_calibrate_by_name():
    ref, held = _recordings(seed=7), _recordings(seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(calibrate("none", held), held, strict=True))
    for name in ("per-recording", "quantile", "clip"):
        out = calibrate(name, held, reference=ref)
        assert [len(y) for y in out] == [len(x) for x in held] and all(y.dtype == np.float32 for y in out)
    with pytest.raises(ValueError, match="needs reference"):
        calibrate("quantile", held)
    with pytest.raises(ConfigError, match="Did you mean 'quantile'"):
        calibrate("quantil", held, reference=ref)
