"""The ``stack`` view of a regressor: a convex combination of its candidates' predictions, fitted on unseen subjects.

Where a regressor has several candidate views (plain, re, per-recording, delayed, ...), picking one throws the
others away and averaging them gives a useless view as much say as a good one. The stack weighs them::

    stack(s, t) = Σ_c w_c · p_c(s, t),    w_c ≥ 0,  Σ_c w_c = 1

with ``w`` the least-squares fit (up to a free scale, :func:`solve`) of the train subjects' labels from the
candidates' **out-of-fold** predictions (each subject's from the fold models that held it out), every subject
counting once whatever its length, and shrunk toward equal weights (ridge toward 1/K, :data:`PSEUDO_SUBJECTS`).
A convex combination stays on the views' scale and level; a useless view gets about no weight, two equal views
share it.

**Honest evidence.** The stack is one more candidate the rule of :mod:`.decisions` scores on out-of-fold train +
devel subjects, so its prediction of a train subject must not use weights fitted on that subject's labels:
:func:`cross_fit` fits the weights for fold k's held-out subjects on the other folds' subjects only (the same
folds as the fold models). Devel, test and new subjects get the weights fitted on all train subjects
(:func:`fit_weights`); those weights are what a run folder keeps. (As with every out-of-fold signal, the fold
models that predicted the other folds' subjects were trained on fold k's subjects; what cross-fitting removes is
the stacker's own use of a subject's labels.)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

# Ridge toward equal weights, in units of subjects (``_penalty``): a prior worth PSEUDO_SUBJECTS subjects' evidence
# about the differences between views, so that along a typical difference the data move a weight S / (S + 4) of the
# way from 1/K to the least-squares fit. Subjects, not frames, are the unit because frames within a recording are
# strongly autocorrelated: about 41 independent pieces of evidence is what MuSe-Stress's train partition holds. Four
# is a tenth of that: 41 subjects set the weights (91 %; a fold's 27 when cross-fitting: 87 %), the 19 training
# participants of a small real set 83 % (a fold's 13: 76 %), while the 5 train subjects of the tiny synthetic data
# (3-4 per fold) move them only about half way (56 %). Measured on 41 constructed subjects (tests/test_stacking.py):
# a pure-noise view gets 0.06 beside a good view (2 pseudo-subjects: 0.03, 8: 0.11); a view with three times the
# error 0.17 (2: 0.16, 8: 0.20). Not tuned on any benchmark: issue 34's matrix of worlds is where to check it.
PSEUDO_SUBJECTS = 4.0
# In the stack task's key: stored weights fitted by another version of this module are never reused.
METHOD = "scaled convex least squares, ridge to 1/K of 4 pseudo-subjects, cross-fitted over folds (2026-12)"


def moments(preds: Sequence[Sequence[np.ndarray]], golds: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-subject second moments of the views, averaged over subjects: ``(A, b, S)`` with A = mean_s E_t[p pᵀ]
    (K, K), b = mean_s E_t[p y] (K,), over the frames where the label and every view are finite; S subjects
    with such frames. ``preds[c][s]``: view c's (T,) prediction of subject s."""
    k = len(preds)
    a, b, n = np.zeros((k, k)), np.zeros(k), 0
    for s, y in enumerate(golds):
        p = np.stack([np.asarray(preds[c][s], dtype=np.float64) for c in range(k)], axis=1)  # (T, K)
        y = np.asarray(y, dtype=np.float64)
        ok = np.isfinite(y) & np.isfinite(p).all(axis=1)
        if not ok.any():
            continue
        p, y = p[ok], y[ok]
        a += p.T @ p / len(y)
        b += p.T @ y / len(y)
        n += 1
    return (a / n, b / n, n) if n else (a, b, 0)


def _penalty(a: np.ndarray, n: int) -> float:
    """The ridge λ on the weights' spread around their mean, worth PSEUDO_SUBJECTS subjects against ``n``: along a
    unit direction d that keeps Σw (Σd = 0), the data's curvature is n·2·dᵀAd and the penalty's 2λ; λ =
    PSEUDO_SUBJECTS · (the mean of dᵀAd over such directions) makes the two PSEUDO_SUBJECTS : n. A tiny floor keeps
    identical views well posed."""
    k = len(a)
    centre = np.eye(k) - 1.0 / k
    spread = float(np.trace(centre @ a @ centre)) / (k - 1)  # mean over frames of Σ_c (p_c − p̄)², per K − 1
    return PSEUDO_SUBJECTS * spread / n + 1e-9 * (float(np.trace(a)) / k + 1e-12)


def solve(a: np.ndarray, b: np.ndarray, lam: float) -> np.ndarray:
    """The stack's weights from the views' moments: ``v = argmin_{v ≥ 0} vᵀ(A + λC)v − 2bᵀv`` normalised to
    ``w = v / Σv``, C = I − 11ᵀ/K (so λ·vᵀCv pulls v toward equal entries, whatever its sum).

    Without the penalty this is least squares of the label on a *scaled* convex combination, min over w in the
    simplex and a ≥ 0 of E(y − a·wᵀp)²: the free scale a = Σv stops a zero-mean noise view from earning weight as
    a way to shrink the prediction toward 0 (which least squares on wᵀp alone rewards, and CCC does not), and a
    view whose fit would need a negative weight (an inverted one) gets exactly 0. Solved exactly: the minimum of
    the strictly convex problem is the unconstrained minimum on the support it has, so each support is solved and
    the feasible one with the lowest objective kept (K ≤ 8 views: at most 255 small solves). Equal weights where
    no combination correlates positively with the label."""
    k = len(b)
    m = a + lam * (np.eye(k) - 1.0 / k) + 1e-12 * (float(np.trace(a)) / k + 1e-12) * np.eye(k)
    best, best_obj = np.zeros(k), 0.0  # v = 0: objective 0
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            idx = list(support)
            try:
                sol = np.linalg.solve(m[np.ix_(idx, idx)], b[idx])
            except np.linalg.LinAlgError:
                continue
            if (sol <= 0).any():
                continue
            obj = -float(b[idx] @ sol)  # vᵀMv − 2bᵀv at the support's minimum, where Mv = b
            if obj < best_obj - 1e-15:
                best, best_obj = np.zeros(k), obj
                best[idx] = sol
    return best / best.sum() if best.sum() > 0 else np.full(k, 1.0 / k)


def fit_weights(preds: Sequence[Sequence[np.ndarray]], golds: Sequence[np.ndarray]) -> np.ndarray:
    """The stack's (K,) weights from the views' predictions of the fit subjects and their labels (equal weights
    where no subject has a labelled frame)."""
    if len(preds) == 1:  # one view (a run of one modality): nothing to weigh
        return np.ones(1)
    a, b, n = moments(preds, golds)
    if n == 0:
        return np.full(len(preds), 1.0 / len(preds))
    return solve(a, b, _penalty(a, n))


def combine(weights: Sequence[float], views: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Per subject, Σ_c weights[c] · views[c][s] (float32, as every signal). One function for the run's stack task
    and for a fitted pipeline's prediction, so ``predict`` reproduces the run's outputs."""
    out = []
    for per_view in zip(*views, strict=True):
        total = np.zeros(len(per_view[0]), dtype=np.float64)
        for w, p in zip(weights, per_view, strict=True):
            total += float(w) * np.asarray(p, dtype=np.float64)
        out.append(total.astype(np.float32))
    return out


def cross_fit(preds: Sequence[Sequence[np.ndarray]], golds: Sequence[np.ndarray], fit: Sequence[int],
              folds: Sequence[Sequence[int]]) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The stack of every subject: a fit subject in ``folds[k]`` from weights fitted on the fit subjects outside
    fold k (its own label unused), every other subject from weights fitted on all ``fit`` subjects.

    ``preds[c][s]``: view c's prediction of subject s (for fit subjects, their out-of-fold predictions);
    ``fit`` and ``folds``: subject indices. Returns (the stacked signals, the all-fit weights (K,), each fold's
    weights (F, K))."""
    def weights(idx: Sequence[int]) -> np.ndarray:
        return fit_weights([[view[i] for i in idx] for view in preds], [golds[i] for i in idx])

    overall = weights(fit)
    out = combine(overall, preds)
    per_fold = []
    for held in folds:
        out_of_fold = set(held)
        w = weights([i for i in fit if i not in out_of_fold])
        per_fold.append(w)
        for i, stacked in zip(held, combine(w, [[view[i] for i in held] for view in preds]), strict=True):
            out[i] = stacked
    return out, overall, np.array(per_fold).reshape(len(folds), len(preds))
