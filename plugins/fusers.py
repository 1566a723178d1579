"""Built-in fusers: the paper's recurrent late fusion, a convex combination of the modalities, and a non-learned
mean."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from musefuse.core import Fuser, hookimpl
from musefuse.core.interfaces import FitContext, Tensors
from musefuse.core.learning import stacking
from musefuse.core.learning.models import SequenceModel, model_from_checkpoint, model_meta, seeded_model
from musefuse.core.learning.training import fit_sequence_model, predict_sequences


def _inputs(predictions: Sequence[np.ndarray], difficulties: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    """Per step: every modality's prediction, then (if given) every modality's difficulty. (T, M[+M])"""
    if difficulties is None:
        return [np.asarray(p, np.float32) for p in predictions]
    return [np.concatenate([p, d], axis=1).astype(np.float32) for p, d in zip(predictions, difficulties, strict=True)]


class BiRNNFuser(Fuser):
    """The paper's late fusion: a 4-layer bidirectional RNN over predictions ⊕ difficulties per step."""

    name = "birnn"
    description = "Recurrent late fusion over unimodal predictions and their difficulties (the paper's)"

    def __init__(self) -> None:
        self.model: SequenceModel | None = None
        self.device: Any = "cpu"

    def fit(self, predictions, difficulties, labels, devel, ctx: FitContext) -> None:
        x = _inputs(predictions, difficulties)
        dx = _inputs(devel[0], devel[1])
        self.device = ctx.device
        signal = 0 if difficulties is None else difficulties[0].shape[1]  # the same network as without them
        self.model = seeded_model(x[0].shape[1], 1, ctx.settings, ctx.seed, signal)
        self.fit_result = fit_sequence_model(self.model, x, labels, dx, devel[2], ctx)

    def predict(self, predictions, difficulties) -> list[np.ndarray]:
        assert self.model is not None, "fit() or load() first"
        return predict_sequences(self.model, _inputs(predictions, difficulties), self.device)

    def state(self) -> tuple[Tensors, dict[str, Any]]:
        assert self.model is not None
        return dict(self.model.state_dict()), {"model": model_meta(self.model)}

    @classmethod
    def load(cls, tensors: Tensors, meta: dict[str, Any], device: Any) -> BiRNNFuser:
        fuser = cls()
        fuser.model = model_from_checkpoint(tensors, meta["model"], device)
        fuser.device = device
        return fuser


class ConvexFuser(Fuser):
    """The modalities' predictions weighed: ``Σ_m w_m · p_m`` with ``w ≥ 0``, ``Σ w = 1``, fitted by least squares
    (up to a free scale) on the train subjects' out-of-fold predictions, every subject counting once, and shrunk
    toward equal weights by a ridge worth 4 subjects: the ``stack`` view's fit (core/learning/stacking.py) with the
    modalities as the views. One weight per modality is what about 20–40 train subjects can set, where the
    recurrent fuser's thousands of weights are stopped on devel; a useless modality gets about no weight, so the
    fused prediction does not fall far below the best modality's. Reads no difficulty and no devel."""

    name = "convex"
    description = ("Convex combination of the unimodal predictions, weights fitted on out-of-fold train predictions "
                   "and shrunk toward equal (reads no difficulty)")

    def __init__(self) -> None:
        self.weights: np.ndarray | None = None

    def fit(self, predictions, difficulties, labels, devel, ctx) -> None:
        views = [[np.asarray(p)[:, m] for p in predictions] for m in range(np.asarray(predictions[0]).shape[1])]
        self.weights = stacking.fit_weights(views, labels)

    def predict(self, predictions, difficulties) -> list[np.ndarray]:
        assert self.weights is not None, "fit() or load() first"
        return stacking.combine(self.weights, [[np.asarray(p)[:, m] for p in predictions]
                                               for m in range(len(self.weights))])

    def state(self) -> tuple[Tensors, dict[str, Any]]:
        import torch

        assert self.weights is not None
        return {"weights": torch.from_numpy(np.asarray(self.weights, dtype=np.float64))}, {"method": stacking.METHOD}

    @classmethod
    def load(cls, tensors: Tensors, meta: dict[str, Any], device: Any) -> ConvexFuser:
        weights = tensors["weights"].double().cpu().numpy()
        if weights.ndim != 1 or not np.isfinite(weights).all() or (weights < 0).any() or abs(weights.sum() - 1) > 1e-6:
            raise ValueError(f"'weights' must be ≥ 0 and sum to 1, got {weights.tolist()}")
        fuser = cls()
        fuser.weights = weights
        return fuser


class MeanFuser(Fuser):
    """Non-learned baseline: the average of the unimodal predictions at each time step."""

    name = "mean"
    description = "Non-learned baseline: the average of the unimodal predictions"
    learned = False

    def fit(self, predictions, difficulties, labels, devel, ctx) -> None:
        pass

    def predict(self, predictions, difficulties) -> list[np.ndarray]:
        return [np.asarray(p, np.float32).mean(axis=1) for p in predictions]  # (T, M) -> (T,)


@hookimpl
def register_fusers(register):
    register(BiRNNFuser)
    register(ConvexFuser)
    register(MeanFuser)
