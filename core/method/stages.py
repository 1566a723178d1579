"""Each stage of the method, applied: one place for training (the task runners, :mod:`.kinds`) and for
applying a fitted pipeline (:meth:`musefuse.core.method.pipeline.Fitted.apply`, ``musefuse predict``), so a
model never sees one layout in training and another in use.

    features ──model_input──▶ estimator ──difficulty──▶ [calibration] ──▶ regressor ──predict_unimodal──▶
        predictions of every modality ──fusion_input──▶ fuser ──fuse──▶ fused prediction
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from musefuse.core.data.dataset import MissingPolicy, Standardiser, fill_missing
from musefuse.core.data.recording import standardise_recording


def feature_input(x: np.ndarray, missing: MissingPolicy, per_recording: bool) -> np.ndarray:
    """A model's input from one subject's standardised features (T, D): z-scored again with the recording's
    own statistics when ``per_recording`` (``standardise: recording``), then gap-filled (``missing``)."""
    return fill_missing(standardise_recording(x) if per_recording else x, missing)


def model_input(features: Sequence[np.ndarray], modality: Any, missing: MissingPolicy, per_recording: bool,
                own: Standardiser | None = None) -> list[np.ndarray]:
    """Every subject's model input for one modality (its standardised features, one (T, D) array each):
    ``own``: a fold model's input scaling (None: the run's); ``per_recording`` only for a modality that is
    standardised at all."""
    per_recording = per_recording and modality.standardise
    return [feature_input(x if own is None else own.transform(x), missing, per_recording) for x in features]


def difficulty(plugin: Any, estimator: Any, x: list[np.ndarray], subjects: Sequence[Any]) -> list[np.ndarray]:
    """The estimator's (T,) difficulty per subject, its call and output checked (boundary.Plugin)."""
    return plugin.signals("difficulty()", plugin.call("difficulty()", estimator.difficulty, x), subjects)


def regressor_input(x: list[np.ndarray], d: list[np.ndarray] | None) -> list[np.ndarray]:
    """Per subject, the features (T, F) with the difficulty (T,) appended as a last column (None: the features)."""
    if d is None:
        return x
    return [np.concatenate([xi, di[:, None]], axis=1) for xi, di in zip(x, d, strict=True)]


def predict_unimodal(regressor: Any, x: list[np.ndarray], d: list[np.ndarray] | None) -> list[np.ndarray]:
    """A regressor's (T,) prediction per subject from its features and, where it reads it, the difficulty."""
    return regressor.predict(regressor_input(x, d))


def fusion_input(preds: Sequence[list[np.ndarray]], difficulty: Sequence[list[np.ndarray]] | None
                 ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Per subject, (T, M) predictions and (T, M) difficulties (None: the fuser reads no difficulty);
    ``preds[j]`` / ``difficulty[j]``: modality j's signal per subject, in the run's modality order."""
    p = [np.stack(cols, axis=1) for cols in zip(*preds, strict=True)]
    if difficulty is None:
        return p, None
    return p, [np.stack(cols, axis=1) for cols in zip(*difficulty, strict=True)]


def fuse(plugin: Any, fuser: Any, preds: list[np.ndarray], diffs: list[np.ndarray] | None,
         subjects: Sequence[Any]) -> list[np.ndarray]:
    """The fuser's (T,) prediction per subject, its call and output checked (boundary.Plugin)."""
    return plugin.signals("predict()", plugin.call("predict()", fuser.predict, preds, diffs), subjects)


def mean_signal(members: Sequence[list[np.ndarray]]) -> list[np.ndarray]:
    """Per subject, the mean of several models' signals (fold models, candidates, ensemble members)."""
    return [sum(d) / len(d) for d in zip(*members, strict=True)]
