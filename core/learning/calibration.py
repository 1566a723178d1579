"""Calibrations of a difficulty signal, so the values models learn from on train mean the same elsewhere.

A difficulty estimator trained on train subjects can read systematically lower on them than on
anyone new (core/runs/drift.py measures this). Each function here maps per-recording difficulty
signals — a list of (T,) arrays, one per recording — to new ones of the same shapes (float32; a NaN
frame stays NaN). They are pure numpy and stateless; the reference-based ones take the reference
signals (the out-of-fold train difficulties) explicitly, so a pipeline stores only those, or their
:func:`reference_quantiles`.

- :func:`per_recording` — difficulty relative to this recording: centred and scaled within each
  recording. Any per-recording offset or scale (a subject the estimator saw, a subject whose whole
  recording is noisier) disappears; only *when* a recording is harder than usual for itself remains.
- :func:`quantile_transform` — each value's mid-rank in the reference distribution, in (0, 1)
  (or its normal score). On the reference it is uniform; it is monotone, so the order of
  difficulties is kept while any monotone distortion of the scale is undone.
- :func:`clip_to_reference` — values beyond the reference range (or chosen reference quantiles)
  are set to its bounds, so no model meets a value it never saw while learning.

Example::

    from musefuse.core.learning.calibration import calibrate
    calibrated = calibrate("quantile", held_out_re, reference=oof_train_re)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Literal

import numpy as np

from musefuse.core.errors import ConfigError, unknown

Signals = Sequence[np.ndarray]
MAD_TO_SD = 1.4826  # MAD x this = sd for normally distributed values


def _pooled(reference: Signals) -> np.ndarray:
    """All finite reference values, sorted (float64). Refuses an empty reference."""
    if not len(reference):
        raise ValueError("the reference holds no recordings")
    flat = np.concatenate([np.asarray(r, dtype=np.float64).ravel() for r in reference])
    flat = np.sort(flat[np.isfinite(flat)])
    if not flat.size:
        raise ValueError("the reference holds no finite difficulty values")
    return flat


def per_recording(signals: Signals, *, robust: bool = True) -> list[np.ndarray]:
    """Each recording's signal centred and scaled by its own statistics (difficulty relative to itself).

    ``robust`` (default): (x − median) / (1.4826 · MAD), which a short burst of very high values (an
    occlusion) barely moves; else (x − mean) / sd. A scale of 0 (more than half the frames equal)
    falls back to the sd, then to 1, so a constant recording becomes all zeros (spreads below 1e-9 of
    the values' magnitude count as 0). Each output is
    unchanged by x → a·x + b (a > 0) applied to its recording.
    """
    out = []
    for x in signals:
        v = np.asarray(x, dtype=np.float64)
        ok = np.isfinite(v)
        if not ok.any():
            out.append(np.full(v.shape, np.nan, np.float32))
            continue
        finite = v[ok]
        if robust:
            centre = float(np.median(finite))
            scale = MAD_TO_SD * float(np.median(np.abs(finite - centre)))
        else:
            centre, scale = float(finite.mean()), 0.0
        tiny = 1e-9 * max(1.0, float(np.abs(finite).max()))  # below this, spread is rounding error
        if not scale > tiny:
            scale = float(finite.std())
        if not scale > tiny:
            scale = 1.0
        out.append(((v - centre) / scale).astype(np.float32))
    return out


def reference_quantiles(reference: Signals, n: int = 1001) -> np.ndarray:
    """(n,) float32 quantiles of the pooled reference at probabilities (k + 0.5) / n — a compact
    reference to store with a model; ``[reference_quantiles(ref)]`` works wherever ``ref`` does
    (to about 1/n in :func:`quantile_transform`)."""
    if n < 2:
        raise ValueError(f"n must be at least 2, got {n}")
    flat = _pooled(reference)
    return np.quantile(flat, (np.arange(n) + 0.5) / n).astype(np.float32)


def quantile_transform(
    signals: Signals, reference: Signals, *, output: Literal["uniform", "normal"] = "uniform"
) -> list[np.ndarray]:
    """Each value's place in the pooled reference distribution (the out-of-fold train signals).

    ``uniform``: the mid-rank F(x) = (#{r < x} + #{r ≤ x}) / (2n) at reference values, linearly
    interpolated between them. On the reference itself the output is uniform on (0, 1) (exactly
    (2i + 1) / (2n), i = 0…n−1, for distinct values); values outside the reference range get the
    extreme ranks 1/(2n) and 1 − 1/(2n) (clipping is built in). ``normal``: Φ⁻¹ of that, i.e. about
    N(0, 1) on the reference and within ±Φ⁻¹(1 − 1/(2n)) everywhere — the scale of a z-scored signal.
    Non-decreasing in x; NaN stays NaN.
    """
    if output not in ("uniform", "normal"):
        raise ValueError(f"output must be 'uniform' or 'normal', got {output!r}")
    ref = _pooled(reference)
    values, first = np.unique(ref, return_index=True)
    counts = np.diff(np.append(first, ref.size))
    ranks = (2 * first + counts) / (2.0 * ref.size)  # mid-rank of each distinct value
    inv = np.frompyfunc(NormalDist().inv_cdf, 1, 1)
    out = []
    for x in signals:
        v = np.asarray(x, dtype=np.float64)
        ok = np.isfinite(v)
        f = np.full(v.shape, np.nan)
        f[ok] = np.interp(v[ok], values, ranks)
        if output == "normal" and ok.any():
            f[ok] = inv(f[ok]).astype(np.float64)
        out.append(f.astype(np.float32))
    return out


def clip_to_reference(
    signals: Signals, reference: Signals, *, lower: float = 0.0, upper: float = 1.0
) -> list[np.ndarray]:
    """Values clipped to the reference's [``lower``, ``upper``] quantiles (default: its min and max).

    Inside the range nothing changes; a value no reference frame reached becomes the nearest bound.
    Use e.g. ``lower=0.005, upper=0.995`` so a handful of extreme reference frames do not set the range.
    """
    if not 0.0 <= lower < upper <= 1.0:
        raise ValueError(f"need 0 <= lower < upper <= 1, got {lower}, {upper}")
    ref = _pooled(reference)
    lo, hi = np.quantile(ref, [lower, upper])
    return [np.clip(np.asarray(x, dtype=np.float64), lo, hi).astype(np.float32) for x in signals]


def no_calibration(signals: Signals) -> list[np.ndarray]:
    """The signals as they are (float32 copies)."""
    return [np.asarray(x, dtype=np.float32).copy() for x in signals]


CALIBRATIONS: dict[str, Callable[..., list[np.ndarray]]] = {
    "none": no_calibration,
    "per-recording": per_recording,
    "quantile": quantile_transform,
    "clip": clip_to_reference,
}
NEEDS_REFERENCE = frozenset({"quantile", "clip"})


def calibrate(name: str, signals: Signals, reference: Signals | None = None) -> list[np.ndarray]:
    """Apply the calibration called ``name`` (a key of ``CALIBRATIONS``) with its default settings."""
    if name not in CALIBRATIONS:
        raise ConfigError(unknown("difficulty calibration", name, list(CALIBRATIONS)))
    if name in NEEDS_REFERENCE:
        if reference is None:
            raise ValueError(f"the '{name}' calibration needs reference signals (out-of-fold train difficulties)")
        return CALIBRATIONS[name](signals, reference)
    return CALIBRATIONS[name](signals)


def apply_calibration(name: str, signals: Signals, reference_q: np.ndarray) -> list[np.ndarray]:
    """How a pipeline calibrates: against the stored :func:`reference_quantiles` of its train signal.

    ``quantile`` uses the normal-score output, so the calibrated signal keeps the z-scale the
    models saw before (about N(0, 1) on train).
    """
    ref = [np.asarray(reference_q, dtype=np.float32)]
    if name == "quantile":
        return quantile_transform(signals, ref, output="normal")
    if name == "clip":
        return clip_to_reference(signals, ref)
    return calibrate(name, signals)
