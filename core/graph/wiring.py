"""How each stage's input is assembled from the stages before it: one place for training and applying.

The task runners (:mod:`.tasks`, training in the graph) and :meth:`musefuse.core.graph.pipeline.Fitted.apply`
(a fitted run on any data, ``musefuse predict``) both build their models' inputs here, so a model
never sees one layout in training and another in use.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from musefuse.core.data.dataset import MissingPolicy, fill_missing
from musefuse.core.data.recording import standardise_recording


def feature_input(x: np.ndarray, missing: MissingPolicy, per_recording: bool) -> np.ndarray:
    """A model's input from one subject's standardised features (T, D): z-scored again with the recording's
    own statistics when ``per_recording`` (``standardise: recording``), then gap-filled (``missing``)."""
    return fill_missing(standardise_recording(x) if per_recording else x, missing)


def regressor_input(x: list[np.ndarray], d: list[np.ndarray] | None) -> list[np.ndarray]:
    """Per subject, the features (T, F) with the difficulty (T,) appended as a last column (None: the features)."""
    if d is None:
        return x
    return [np.concatenate([xi, di[:, None]], axis=1) for xi, di in zip(x, d, strict=True)]


def fusion_input(preds: Sequence[list[np.ndarray]], difficulty: Sequence[list[np.ndarray]] | None
                 ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Per subject, (T, M) predictions and (T, M) difficulties (None: the fuser reads no difficulty);
    ``preds[j]`` / ``difficulty[j]``: modality j's signal per subject, in the run's modality order."""
    p = [np.stack(cols, axis=1) for cols in zip(*preds, strict=True)]
    if difficulty is None:
        return p, None
    return p, [np.stack(cols, axis=1) for cols in zip(*difficulty, strict=True)]


def mean_signal(members: Sequence[list[np.ndarray]]) -> list[np.ndarray]:
    """Per subject, the mean of several estimators' difficulty signals (``difficulty_unseen: fold-mean``)."""
    return [sum(d) / len(d) for d in zip(*members, strict=True)]
