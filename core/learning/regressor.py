"""The unimodal regressor: one recurrent model per (modality, target), with an optional label shift."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from musefuse.core.interfaces import FitContext, Tensors
from musefuse.core.learning.models import SequenceModel, model_from_checkpoint, model_meta, seeded_model
from musefuse.core.learning.training import FitResult, fit_sequence_model, predict_sequences


def shift_labels(y: np.ndarray, steps: int) -> np.ndarray:
    """Target at step t becomes the label at t + steps (raters lag the signal); the tail is unlabelled."""
    if steps <= 0:
        return y
    out = np.full_like(y, np.nan)
    out[:-steps] = y[steps:]
    return out


def unshift_predictions(p: np.ndarray, steps: int) -> np.ndarray:
    """Back on the label timeline: the prediction for step t is the model's output at t - steps."""
    if steps <= 0:
        return p
    return np.concatenate([np.repeat(p[:1], min(steps, len(p))), p[: len(p) - steps]])[: len(p)]


class Regressor:
    """Features (⊕ difficulty) -> one target, per time step."""

    def __init__(self, model: SequenceModel, shift: int = 0, device: Any = "cpu") -> None:
        self.model, self.shift, self.device = model, shift, device

    @classmethod
    def fit(
        cls,
        train_x: Sequence[np.ndarray],
        train_y: Sequence[np.ndarray],
        devel_x: Sequence[np.ndarray],
        devel_y: Sequence[np.ndarray],
        ctx: FitContext,
        shift: int = 0,
        signal_inputs: int = 0,
    ) -> tuple[Regressor, FitResult]:
        """``signal_inputs``: how many of the last input columns are a difficulty signal (see :func:`seeded_model`)."""
        model = seeded_model(train_x[0].shape[1], 1, ctx.settings, ctx.seed, signal_inputs)
        result = fit_sequence_model(
            model,
            train_x,
            [shift_labels(y, shift) for y in train_y],
            devel_x,
            [shift_labels(y, shift) for y in devel_y],
            ctx,
            adversary=float(ctx.options.get("adversary", 0.0)),  # the adversarial candidate's (candidates.py)
        )
        return cls(model, shift, ctx.device), result

    def predict(self, xs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [unshift_predictions(p, self.shift) for p in predict_sequences(self.model, xs, self.device)]

    def state(self) -> tuple[Tensors, dict[str, Any]]:
        return dict(self.model.state_dict()), {"model": model_meta(self.model), "shift": self.shift}

    @classmethod
    def load(cls, tensors: Tensors, meta: dict[str, Any], device: Any) -> Regressor:
        return cls(model_from_checkpoint(tensors, meta["model"], device), int(meta["shift"]), device)
