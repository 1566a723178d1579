"""How well a difficulty signal flags corrupted frames: ROC AUC and mean difficulty inside vs outside.

Ground truth comes from a synthetic dataset's ``truth/<Id>.csv`` (``<mod>_corrupt`` 0/1 per step,
see docs/synthetic-data.md) or from corruptions injected by ``musefuse robustness``. Missing frames
(all-NaN feature rows) are left out of both sides: the data layer fills them, and the synthetic truth
marks them ``corrupt = 0`` although they carry nothing.

>>> roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([False, False, True, True]))
0.75
>>> roc_auc(np.array([1.0, 1.0]), np.array([True, False]))  # ties count one half
0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musefuse.core.data.dataset import Dataset, Subject
from musefuse.core.errors import DataError
from musefuse.core.method.pipeline import Fitted, Outputs

TRUTH_DIR = "truth"
TruthMasks = dict[str, dict[str, np.ndarray]]  # subject id -> modality -> (T,) bool on the subject's timeline


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Area under the ROC curve of ``scores`` for boolean ``labels`` (Mann–Whitney U / (n₊·n₋)).

    Tied scores get their average rank, so a tie between a positive and a negative counts 1/2.
    Non-finite scores are dropped. None when either class is empty (the AUC is undefined).
    """
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(labels, bool).ravel()
    keep = np.isfinite(s)
    s, y = s[keep], y[keep]
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    last = np.cumsum(counts)  # 1-based rank of the last member of each tie group
    ranks = ((last - counts + 1 + last) / 2.0)[inverse]
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def separation(scores_inside: np.ndarray, scores_outside: np.ndarray) -> dict[str, Any]:
    """AUC and means of a difficulty on corrupted (inside) vs clean (outside) frames."""
    inside = np.asarray(scores_inside, np.float64).ravel()
    outside = np.asarray(scores_outside, np.float64).ravel()
    labels = np.concatenate([np.ones(len(inside), bool), np.zeros(len(outside), bool)])
    return {
        "auc": roc_auc(np.concatenate([inside, outside]), labels),
        "mean_inside": float(np.nanmean(inside)) if len(inside) else None,
        "mean_outside": float(np.nanmean(outside)) if len(outside) else None,
        "n_corrupt": len(inside),
        "n_clean": len(outside),
    }


def read_truth_masks(root: Path, subjects: Sequence[Subject], modalities: Sequence[str]) -> TruthMasks | None:
    """``<mod>_corrupt`` of ``root/truth/<Id>.csv`` on each subject's timeline; None without a truth folder.

    A modality without a ``<mod>_corrupt`` column, or a step absent from the truth file, counts as clean.
    """
    folder = Path(root) / TRUTH_DIR
    if not folder.is_dir():
        return None
    masks: TruthMasks = {}
    wanted = {"timestamp", *(f"{m}_corrupt" for m in modalities)}
    for s in subjects:
        path = folder / f"{s.id}.csv"
        if not path.is_file():
            raise DataError(f"{path}: truth file not found, but {folder} exists (subject '{s.id}').")
        frame = pd.read_csv(path, usecols=lambda c: c in wanted)
        ts = frame["timestamp"].to_numpy(np.int64)
        pos = np.clip(np.searchsorted(ts, s.timestamps), 0, max(len(ts) - 1, 0))
        found = (ts[pos] == s.timestamps) if len(ts) else np.zeros(len(s.timestamps), bool)
        masks[s.id] = {}
        for m in modalities:
            col = f"{m}_corrupt"
            values = frame[col].to_numpy() if col in frame else np.zeros(len(ts))
            masks[s.id][m] = found & (values[pos] > 0.5) if len(ts) else found
    return masks


def difficulty_auc(
    source: Any,
    subjects: Dataset | Sequence[Subject] | None = None,
    truth: TruthMasks | Path | None = None,
    partitions: Sequence[str] | None = ("devel", "test"),
) -> dict[str, dict[str, Any]]:
    """Per modality: how well the difficulty separates truth-corrupted frames from clean ones.

    ``source`` is a :class:`~musefuse.core.method.pipeline.Fitted` (its estimators are applied to
    ``subjects``, which must be standardised with its statistics) or an
    :class:`~musefuse.core.method.pipeline.Outputs` (its own subjects and difficulties; ``subjects`` is
    ignored). ``truth`` is :func:`read_truth_masks`'s result or a data folder holding ``truth/``.
    Frames of the given ``partitions`` are pooled (None: every subject).

    Returns ``{modality: {auc, mean_inside, mean_outside, n_corrupt, n_clean}}``; ``auc`` is None
    where a side is empty. For a pipeline without a difficulty signal every AUC is 0.5.
    """
    if isinstance(source, Outputs):
        subs, difficulty = list(source.subjects), source.difficulty
    elif isinstance(source, Fitted):
        if subjects is None:
            raise ValueError("difficulty_auc(Fitted, ...) needs the subjects to apply it to")
        subs = list(subjects.subjects if isinstance(subjects, Dataset) else subjects)
        difficulty = {m.name: source.difficulty(subs, m.name) for m in source.modalities}
    else:
        raise TypeError(f"difficulty_auc expects Fitted or Outputs, not {type(source).__name__}")
    if truth is None or isinstance(truth, (str, Path)):
        if truth is None:
            raise ValueError("difficulty_auc needs truth masks or a data folder with truth/")
        root = Path(truth)
        truth = read_truth_masks(root, subs, list(difficulty))
        if truth is None:
            raise DataError(f"{root / TRUTH_DIR}: no ground-truth folder (only synthetic data carry one).")
    out: dict[str, dict[str, Any]] = {}
    for m, values in difficulty.items():
        inside, outside = [], []
        for i, s in enumerate(subs):
            if partitions is not None and s.partition not in partitions:
                continue
            present = ~np.isnan(s.features[m]).all(axis=1)
            corrupt = truth[s.id][m]
            inside.append(values[i][corrupt & present])
            outside.append(values[i][~corrupt & present])
        out[m] = separation(np.concatenate(inside) if inside else np.zeros(0),
                            np.concatenate(outside) if outside else np.zeros(0))
    return out
