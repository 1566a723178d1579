"""Concordance correlation coefficient (CCC) and friends: one formula for the loss and the metric.

    CCC(x, y) = 2·cov(x, y) / (var(x) + var(y) + (mean(x) − mean(y))²)

with the **population** (biased, 1/N) estimators of variance and covariance, as in the MuSe
challenge scripts. (``numpy.cov`` defaults to 1/(N−1); some libraries use that. With 1/(N−1)
the example ``ccc([1, 2, 3], [2, 3, 4])`` below would give 2/3 instead of 4/7.)

Degenerate inputs never give NaN:

- both sides constant and equal (the denominator is 0): CCC = 1.0 — exact agreement;
- one side constant, the denominator > 0: cov = 0, so CCC = 0.0 falls out of the formula.

The numpy metric is exact (float64, constant sides detected exactly). The torch loss adds ``EPS`` to
numerator and denominator, which keeps gradients finite and gives the same two degenerate values;
elsewhere it differs from 1 − the metric by at most about ``EPS / denominator`` (1e-5 once the
denominator is 1e-3, far below any label-like data's) plus float32 rounding.

>>> ccc(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0]))
1.0
>>> round(ccc(np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 4.0])), 6)  # 4/7
0.571429
>>> ccc(np.array([5.0, 5.0]), np.array([5.0, 5.0])), ccc(np.array([5.0, 5.0]), np.array([1.0, 2.0]))
(1.0, 0.0)
>>> ccc(np.array([1.0, 2.0, 3.0]), np.array([1.0, np.nan, 3.0]))  # NaN gold frames are unscored
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

EPS = 1e-8  # torch loss only: keeps d(loss)/d(pred) finite when a batch's variances vanish


def _ccc_from_moments(mean_x: Any, mean_y: Any, var_x: Any, var_y: Any, cov: Any, eps: float = 0.0) -> Any:
    """The CCC formula on moments; works on python floats and on torch tensors alike."""
    den = var_x + var_y + (mean_x - mean_y) ** 2 + eps
    if eps == 0.0 and den == 0:
        return 1.0  # both constant and equal: exact agreement
    return (2 * cov + eps) / den


# ---------------------------------------------------------------------------------------------
# Streaming form (numpy, float64): sufficient statistics, merged with Chan et al.'s update


@dataclass
class Moments:
    """Running sufficient statistics of (pred, gold) pairs: n, means, co-moments, squared error."""

    n: int = 0
    mean_x: float = 0.0  # pred
    mean_y: float = 0.0  # gold
    m2_x: float = 0.0  # Σ (x − mean_x)²
    m2_y: float = 0.0
    c_xy: float = 0.0  # Σ (x − mean_x)(y − mean_y)
    sse: float = 0.0  # Σ (x − y)²
    # Ranges, merged exactly: a side is constant when lo == hi (m2 == 0 is not enough, it underflows)
    lo_x: float = math.inf
    hi_x: float = -math.inf
    lo_y: float = math.inf
    hi_y: float = -math.inf

    def update(self, pred: np.ndarray, gold: np.ndarray) -> Moments:
        """Add the frames where ``gold`` is finite; returns self so calls chain."""
        x = np.asarray(pred, dtype=np.float64).reshape(-1)
        y = np.asarray(gold, dtype=np.float64).reshape(-1)
        if x.shape != y.shape:
            raise ValueError(f"pred and gold differ in size: {x.size} vs {y.size} values.")
        keep = np.isfinite(y)
        x, y = x[keep], y[keep]
        if x.size == 0:
            return self
        if not np.isfinite(x).all():
            raise ValueError("pred has NaN or inf at a labelled frame.")
        mx, m2x = _centred(x)
        my, m2y = _centred(y)
        cxy = 0.0 if m2x == 0.0 or m2y == 0.0 else float(((x - mx) * (y - my)).sum())  # exact 0 if constant
        return self.merge(Moments(x.size, mx, my, m2x, m2y, cxy, float(((x - y) ** 2).sum()),
                                  float(x.min()), float(x.max()), float(y.min()), float(y.max())))

    def merge(self, other: Moments) -> Moments:
        """Fold ``other`` into self (Chan et al. 1979); exact for constant sides."""
        if other.n == 0:
            return self
        if self.n == 0:
            self.__dict__.update(other.__dict__)
            return self
        n = self.n + other.n
        dx, dy = other.mean_x - self.mean_x, other.mean_y - self.mean_y
        w = self.n * other.n / n
        self.m2_x += other.m2_x + dx * dx * w
        self.m2_y += other.m2_y + dy * dy * w
        self.c_xy += other.c_xy + dx * dy * w
        self.mean_x += dx * other.n / n
        self.mean_y += dy * other.n / n
        self.sse += other.sse
        self.lo_x, self.hi_x = min(self.lo_x, other.lo_x), max(self.hi_x, other.hi_x)
        self.lo_y, self.hi_y = min(self.lo_y, other.lo_y), max(self.hi_y, other.hi_y)
        self.n = n
        return self

    def ccc(self) -> float:
        """CCC of everything seen (population estimators); raises if nothing was seen."""
        self._require()
        if self.lo_x == self.hi_x and self.lo_y == self.hi_y:  # both constant: agreement is all or nothing
            return 1.0 if self.lo_x == self.lo_y else 0.0
        if self.m2_x == 0 and self.m2_y == 0:  # not both constant, yet both variances underflowed to 0: agreement
            return 1.0 if self.sse == 0 else 0.0  # if no frame differs measurably (sse merges exactly; means don't)
        return float(
            _ccc_from_moments(self.mean_x, self.mean_y, self.m2_x / self.n, self.m2_y / self.n, self.c_xy / self.n)
        )

    def pearson(self) -> float:
        """Pearson's r of everything seen; 0.0 when either side is constant."""
        self._require()
        if self.m2_x == 0 or self.m2_y == 0:
            return 0.0
        # the product of the roots: m2_x * m2_y underflows to 0 for tiny (but non-zero) variances
        return float(np.clip(self.c_xy / (np.sqrt(self.m2_x) * np.sqrt(self.m2_y)), -1.0, 1.0))

    def rmse(self) -> float:
        """Root mean squared error of everything seen."""
        self._require()
        return float(np.sqrt(self.sse / self.n))

    def _require(self) -> None:
        if self.n == 0:
            raise ValueError("No labelled frame: the score is undefined.")


def _centred(x: np.ndarray) -> tuple[float, float]:
    """(mean, Σ (x − mean)²), exactly (x[0], 0.0) for a constant array."""
    if x.min() == x.max():
        return float(x[0]), 0.0
    m = x.mean()
    return float(m), float(((x - m) ** 2).sum())


# ---------------------------------------------------------------------------------------------
# One-shot numpy metrics


def ccc(pred: np.ndarray, gold: np.ndarray) -> float:
    """CCC of ``pred`` against ``gold`` over the frames where gold is finite (see the module doc)."""
    return Moments().update(pred, gold).ccc()


def pearson(pred: np.ndarray, gold: np.ndarray) -> float:
    """Pearson's r over the frames where gold is finite; 0.0 when either side is constant."""
    return Moments().update(pred, gold).pearson()


def rmse(pred: np.ndarray, gold: np.ndarray) -> float:
    """Root mean squared error over the frames where gold is finite."""
    return Moments().update(pred, gold).rmse()


def partition_scores(preds: list[np.ndarray], golds: list[np.ndarray]) -> dict[str, Any]:
    """Scores of one partition: MuSe-convention CCC over the concatenation of all sequences, and more.

    Returns ``ccc`` (concatenation), ``ccc_per_subject_mean`` (mean over sequences with a label),
    ``pearson``, ``rmse``, ``n_frames`` (labelled frames) and ``n_sequences`` (with a label).
    Scores are None when no gold frame exists (an unscored partition, e.g. test).
    """
    if len(preds) != len(golds):
        raise ValueError(f"{len(preds)} predictions but {len(golds)} gold sequences.")
    total, per_subject = Moments(), []
    for p, g in zip(preds, golds, strict=True):
        m = Moments().update(p, g)
        if m.n:
            per_subject.append(m.ccc())
        total.merge(m)
    scored = total.n > 0
    return {
        "ccc": total.ccc() if scored else None,
        "ccc_per_subject_mean": float(np.mean(per_subject)) if per_subject else None,
        "pearson": total.pearson() if scored else None,
        "rmse": total.rmse() if scored else None,
        "n_frames": total.n,
        "n_sequences": len(per_subject),
    }


# ---------------------------------------------------------------------------------------------
# Torch loss


def ccc_loss(pred: torch.Tensor, gold: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """1 − CCC over all valid frames of the batch, concatenated; differentiable.

    ``pred``, ``gold``: (B, T) or (B, T, F); ``mask``: (B, T) or gold's shape, True = real frame.
    Frames that are masked out or have NaN gold never count. With F > 1 outputs, the loss is
    1 − the mean of the per-output CCCs. An output with no valid frame contributes loss 0.
    """
    if pred.shape != gold.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and gold {tuple(gold.shape)} differ in shape.")
    if pred.dim() == 2:
        pred, gold = pred.unsqueeze(-1), gold.unsqueeze(-1)  # (B, T, 1)
        mask = None if mask is None else mask.reshape(gold.shape)
    valid = torch.isfinite(gold)  # (B, T, F)
    if mask is not None:
        valid = valid & (mask if mask.dim() == 3 else mask.unsqueeze(-1)).bool()
    dtype = torch.promote_types(pred.dtype, torch.float32)  # moments in at least float32, even under AMP
    w = valid.to(dtype)
    x = pred.to(dtype).reshape(-1, pred.shape[-1])  # (N, F)
    y = torch.where(valid, gold, 0.0).to(dtype).reshape(x.shape)  # NaN · 0 would still be NaN
    w = w.reshape(x.shape)
    n = w.sum(0).clamp(min=1.0)  # (F,)
    mx, my = (w * x).sum(0) / n, (w * y).sum(0) / n
    dx, dy = w * (x - mx), w * (y - my)  # padding contributes exactly 0
    vx, vy, cov = (dx * dx).sum(0) / n, (dy * dy).sum(0) / n, (dx * dy).sum(0) / n
    return 1.0 - _ccc_from_moments(mx, my, vx, vy, cov, eps=EPS).mean()


# ---------------------------------------------------------------------------------------------
# Subject bootstrap: how much a partition-level CCC owes to which recordings happen to be in it

BOOTSTRAP_DRAWS = 1000  # resamples for an interval (200 suffice for a standard error)


def bootstrap_cccs(preds: dict[str, list[np.ndarray]], golds: list[np.ndarray], draws: int = BOOTSTRAP_DRAWS,
                   seed: int = 0) -> dict[str, np.ndarray] | None:
    """Per candidate, the CCC over ``draws`` resamples of the recordings (with replacement, fixed seed).

    Every candidate is scored on the same resamples (paired), so the spread of a difference between two
    candidates is the spread of their per-draw differences. Recordings without a labelled frame are left out;
    None when fewer than two recordings are labelled.
    """
    keep = [i for i, g in enumerate(golds) if np.isfinite(g).sum() > 0]
    if len(keep) < 2:
        return None
    counts = np.random.default_rng(seed).multinomial(len(keep), np.full(len(keep), 1 / len(keep)), size=draws)
    out = {}
    for name, cand in preds.items():
        sums = np.array([_raw_sums(cand[i], golds[i]) for i in keep])  # (R, 6)
        n, sx, sy, sxx, syy, sxy = (counts @ sums).T
        mx, my = sx / n, sy / n
        vx, vy, cov = sxx / n - mx * mx, syy / n - my * my, sxy / n - mx * my
        den = vx + vy + (mx - my) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(den > 0, 2 * cov / np.where(den > 0, den, 1.0), 1.0)
    return out


def _raw_sums(pred: np.ndarray, gold: np.ndarray) -> list[float]:
    keep = np.isfinite(gold)
    x, y = np.asarray(pred, np.float64)[keep], np.asarray(gold, np.float64)[keep]
    return [float(x.size), x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]


# ---------------------------------------------------------------------------------------------
# Intervals: a delete-one-recording jackknife on Fisher's z, with Student's t on n − 1 degrees of freedom

MIN_RECORDINGS = 3  # fewer labelled recordings: no interval ("n/a"); 2 leave 1 degree of freedom (t = 12.7)
# Student's t, 97.5% quantile, by degrees of freedom (no scipy); beyond 30 the Cornish–Fisher expansion below
_T975 = (12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788, 2.1604,
         2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555,
         2.0518, 2.0484, 2.0452, 2.0423)
_Z975 = 1.959964


def t975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` degrees of freedom (4 decimals; df ≥ 1)."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def jackknife_cccs(preds: list[np.ndarray], golds: list[np.ndarray]) -> np.ndarray | None:
    """The partition CCC with each labelled recording left out in turn (one value per labelled recording).

    None when fewer than :data:`MIN_RECORDINGS` recordings are labelled. The values are in the order of the
    labelled recordings, so two targets' values over the same recordings can be averaged (the 'combined' score).
    """
    keep = [i for i, g in enumerate(golds) if np.isfinite(g).sum() > 0]
    if len(keep) < MIN_RECORDINGS:
        return None
    sums = np.array([_raw_sums(preds[i], golds[i]) for i in keep])  # (R, 6)
    n, sx, sy, sxx, syy, sxy = (sums.sum(0) - sums).T
    mx, my = sx / n, sy / n
    vx, vy, cov = sxx / n - mx * mx, syy / n - my * my, sxy / n - mx * my
    den = vx + vy + (mx - my) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, 2 * cov / np.where(den > 0, den, 1.0), 1.0)


def interval95(estimate: float | None, left_out: np.ndarray | None) -> list[float] | None:
    """95% interval of a CCC from its delete-one-recording values: tanh(z ± t₀.₉₇₅,ₙ₋₁ · se_jack(z)), z = atanh.

    Symmetric on Fisher's z around the estimate, so it always contains the estimate and stays inside [−1, 1].
    None ("n/a") where there is no estimate or too few recordings. Why this interval: recordings, not frames,
    are the independent units, and there are few of them. On synthetic partitions whose population CCC is known
    (benchmarks/interval_coverage.py, 1000 partitions per size) this interval covered it 94.5% of the time with 3
    recordings and 93.4% with 14; the percentile subject bootstrap it replaces 72.8% and 87.4%, BCa 60.9% and
    84.8% (docs/results.md; pinned by tests/test_intervals.py).
    """
    if estimate is None or left_out is None or len(left_out) < MIN_RECORDINGS:
        return None
    n = len(left_out)
    lim = 1 - 1e-12  # a perfect agreement stays at 1 instead of an infinite z
    z, zj = np.arctanh(np.clip(estimate, -lim, lim)), np.arctanh(np.clip(left_out, -lim, lim))
    se = float(np.sqrt((n - 1) / n * ((zj - zj.mean()) ** 2).sum()))
    half = t975(n - 1) * se
    return [round(float(np.tanh(z - half)), 4), round(float(np.tanh(z + half)), 4)]


def ccc_ci95(preds: list[np.ndarray], golds: list[np.ndarray]) -> list[float] | None:
    """95% interval of the partition CCC over recordings (:func:`interval95`); None ("n/a") below 3 recordings."""
    left_out = jackknife_cccs(preds, golds)
    return None if left_out is None else interval95(partition_scores(preds, golds)["ccc"], left_out)
