"""Built-in difficulty estimators: the paper's auto-encoder reconstruction error, and none."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field

from musefuse.core import DifficultyEstimator, hookimpl
from musefuse.core.interfaces import FitContext, PluginOptions, Tensors
from musefuse.core.learning.models import SequenceModel, model_from_checkpoint, model_meta
from musefuse.core.learning.training import fit_sequence_model, predict_sequences


class AutoEncoderRE(DifficultyEstimator):
    """The paper's difficulty indicator: how badly an auto-encoder trained on train reconstructs a frame.

    The auto-encoder is the regressor's architecture (N recurrent layers, then feed-forward) with
    output width = input width. Difficulty at step t = mean over feature dimensions of the squared
    reconstruction error, optionally smoothed (``smoothing`` frames), then log1p-compressed and
    z-scored with the train subjects' RE (or the devel subjects', ``reference``) so every modality's RE is on
    one scale for the fuser.

    Options (``estimator_options`` in the run config, its ``Options``): ``bottleneck``
    and ``noise`` keep a 128-wide bidirectional state from learning to copy a 17-wide input, which
    would make the RE uninformative everywhere.
    """

    class Options(PluginOptions):
        bottleneck: int | None = Field(8, ge=1)  # narrow linear layer between the recurrent stack and the output
        noise: float = Field(0.1, ge=0)  # input-noise std while training (a denoising auto-encoder)
        smoothing: int = Field(1, ge=1)  # moving-average window over the RE, frames (1 = none)
        # Whose RE defines the z-scoring: `train` (default: the subjects it learned) or `devel` (subjects no
        # auto-encoder of the run trained on; without devel subjects, train). With out-of-fold difficulty and
        # `--difficulty-unseen all-train`, `devel` puts each fold's auto-encoder and the all-train one on one
        # footing, which removes their level difference on identity-heavy data, yet it lost devel CCC there;
        # the default fold mean removes it too (docs/results.md "Difficulty that transfers").
        reference: Literal["train", "devel"] = "train"

    name = "ae-re"
    description = "Auto-encoder reconstruction error per time step (the paper's difficulty indicator)"

    def __init__(self) -> None:
        self.model: SequenceModel | None = None
        self.device: Any = "cpu"
        self.smoothing = 1
        self.mean, self.std = 0.0, 1.0

    def fit(self, train: Sequence[np.ndarray], devel: Sequence[np.ndarray], ctx: FitContext) -> None:
        width = train[0].shape[1]
        opts = self.Options(**ctx.options)
        self.device = ctx.device
        self.smoothing = opts.smoothing
        torch.manual_seed(ctx.seed)
        self.model = SequenceModel(width, width, ctx.settings, bottleneck=opts.bottleneck)
        self.fit_result = fit_sequence_model(
            self.model, train, train, devel, devel, ctx, objective="mse", select="loss", input_noise=opts.noise,
        )
        raw = np.concatenate(self._raw(devel if opts.reference == "devel" and devel else train))
        self.mean, self.std = float(raw.mean()), float(raw.std()) or 1.0

    def _raw(self, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
        assert self.model is not None, "fit() or load() first"
        recon = predict_sequences(self.model, sequences, self.device)
        out = []
        for x, r in zip(sequences, recon, strict=True):
            err = ((r.reshape(x.shape) - x) ** 2).mean(axis=1)  # (T,)
            if self.smoothing > 1:
                kernel = np.ones(self.smoothing) / self.smoothing
                err = np.convolve(np.pad(err, (self.smoothing // 2, (self.smoothing - 1) // 2), mode="edge"),
                                  kernel, mode="valid")
            out.append(np.log1p(err).astype(np.float32))
        return out

    def difficulty(self, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [((r - self.mean) / self.std).astype(np.float32) for r in self._raw(sequences)]

    def state(self) -> tuple[Tensors, dict[str, Any]]:
        assert self.model is not None
        meta = {"model": model_meta(self.model), "smoothing": self.smoothing, "mean": self.mean, "std": self.std}
        return dict(self.model.state_dict()), meta

    @classmethod
    def load(cls, tensors: Tensors, meta: dict[str, Any], device: Any) -> AutoEncoderRE:
        est = cls()
        est.model = model_from_checkpoint(tensors, meta["model"], device)
        est.device, est.smoothing, est.mean, est.std = device, meta["smoothing"], meta["mean"], meta["std"]
        return est


class NoDifficulty(DifficultyEstimator):
    """No difficulty signal: the pipeline appends nothing to the models' inputs."""

    name = "none"
    description = "No difficulty signal (the regressors and fuser see predictions/features only)"
    gives_signal = False

    def fit(self, train: Sequence[np.ndarray], devel: Sequence[np.ndarray], ctx: FitContext) -> None:
        pass

    def difficulty(self, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.zeros(len(x), np.float32) for x in sequences]


@hookimpl
def register_estimators(register):
    register(AutoEncoderRE)
    register(NoDifficulty)
