"""The four extension points of musefuse.

A plugin provides one or more of these through the hooks in :mod:`musefuse.core.hookspecs`.
Arrays are numpy, float32, one array per subject (sequence); ``T`` is the number of 500 ms steps
of that subject and ``D`` a modality's width.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from musefuse.core.data.table import FeatureTable

if TYPE_CHECKING:
    from musefuse.core.learning.training import FitResult

RnnType = Literal["lstm", "bilstm", "gru", "bigru"]
Tensors = dict[str, Any]  # name -> torch.Tensor; what a checkpoint stores (safetensors)


class ModelSettings(BaseModel):
    """Settings of one recurrent model: N recurrent layers then a feed-forward layer (paper, sec. 3)."""

    model_config = ConfigDict(extra="forbid")

    rnn: RnnType = "bigru"  # the paper's choice: as good as BiLSTM with fewer parameters
    layers: int = Field(4, ge=1)
    hidden: int = Field(64, ge=1)
    lr: float = Field(0.001, gt=0)  # paper grid: {0.001, 0.005, 0.0005}
    dropout: float = Field(0.2, ge=0, lt=1)  # paper grid: {0.1, 0.2, 0.5}


class Modality(BaseModel):
    """One feature set. A modality *is* its declaration; override :meth:`read` for a new file format.

    Example (a complete third-party modality)::

        Modality(name="hrv", width=4, aliases=["hrv_features"], description="Heart-rate variability")
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    width: int = Field(ge=1)  # number of feature columns
    aliases: list[str] = []  # other folder names under feature_segments/ (MuSe 2021 vs 2022 spelling)
    standardise: bool = True  # z-score with train-partition statistics
    description: str = ""
    defaults: dict[str, ModelSettings] = {}  # per target; a target not listed gets ModelSettings()

    def folders(self) -> list[str]:
        """Folder names this modality is found under, in order of preference."""
        return list(dict.fromkeys([self.name, *self.aliases]))

    def settings_for(self, target: str) -> ModelSettings:
        """Default model settings for one target."""
        return self.defaults.get(target, ModelSettings())

    def read(self, path: Path) -> FeatureTable:
        """Read one subject's feature file (MuSe CSV: timestamp, segment_id, feature columns)."""
        from musefuse.core.data.museio import read_feature_csv

        return read_feature_csv(path, width=self.width)

    # -- extraction from raw media (optional; `musefuse extract`, docs/extract.md) ----------------
    # A modality that can compute its features subclasses Modality, overrides `extract`, and may
    # declare its extraction settings as extra pydantic fields (`musefuse extract --set KEY=VALUE`).
    media: str = ""  # what `extract` reads, in words ("audio", "ECG"); shown by the CLI
    media_suffixes: list[str] = []  # file endings `extract` accepts (".wav"); empty: every file

    @property
    def can_extract(self) -> bool:
        """True when this modality overrides :meth:`extract`."""
        return type(self).extract is not Modality.extract

    def feature_names(self) -> list[str]:
        """Column names `musefuse extract` writes (default ``<name>_0`` … ``<name>_<width-1>``)."""
        return [f"{self.name}_{j}" for j in range(self.width)]

    def extract(self, media: Path) -> FeatureTable:
        """Compute one recording's features from raw media. Optional: most feature sets ship pre-extracted.

        Return one row per time step: ``timestamps`` in ms on the 500 ms grid of the labels, starting
        at the recording's start; ``values`` (T, width), NaN rows where nothing could be computed.
        Runs in a worker process, so the modality must pickle. Raise for a file that cannot be
        used: the caller reports it by name and goes on with the others.
        """
        raise NotImplementedError(f"Modality '{self.name}' cannot extract features from raw media.")


class TrainingBudget(BaseModel):
    """How long, and on what pieces of the sequences, every learned model of a run trains.

    A preset (``musefuse.core.config.PRESETS``) is one of these; the defaults are the paper's budget
    (sec. 4.3). A model's task key holds its budget (:meth:`key`), so a changed budget never reuses a model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(100, ge=1)  # at most
    patience: int = Field(15, ge=1)  # early stopping: epochs without a better devel score
    window: int = Field(200, ge=2)  # training window, frames
    hop: int = Field(100, ge=1)  # training window hop, frames
    batch_size: int = Field(32, ge=1)  # windows per batch
    lr_schedule: Literal["none", "plateau"] = "none"  # plateau: halve lr from the best weights (training.py)

    def key(self) -> dict[str, Any]:
        """The budget in a task key. A plain-patience schedule is left out, so that models trained before
        ``lr_schedule`` existed keep their keys."""
        return self.model_dump(exclude=set() if self.lr_schedule != "none" else {"lr_schedule"})


@dataclass
class FitContext:
    """Everything a learned plugin needs to train, handed over by the pipeline."""

    device: Any  # torch.device
    seed: int
    settings: ModelSettings
    loss: Literal["ccc", "mse", "l1"] = "ccc"
    budget: TrainingBudget = field(default_factory=TrainingBudget)
    weight_decay: float = 0.0  # decoupled (AdamW): lr x weight_decay per step; a run gives it to regressors, fusers
    options: dict[str, Any] = field(default_factory=dict)  # the plugin's Options, validated, as a dict
    progress: Callable[[int, float], None] | None = None  # called as progress(epoch, devel_score)


class PluginOptions(BaseModel):
    """A plugin's own typed options (``estimator_options`` in the run config). Subclass to declare some."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Checkpointable(ABC):  # noqa: B024 — defaults suit plugins that learn nothing
    """A learned plugin saves tensors plus JSON metadata, and is rebuilt from them without pickle."""

    fit_result: FitResult | None = None
    """Set by :meth:`fit` of a plugin that trains (``fit_sequence_model`` returns it): the selected epoch, its
    devel score and the per-epoch history, which the task log and ``tasks.json`` record. None otherwise."""

    def state(self) -> tuple[Tensors, dict[str, Any]]:
        """Tensors and JSON-serialisable metadata that :meth:`load` rebuilds this object from."""
        return {}, {}

    @classmethod
    def load(cls, tensors: Tensors, meta: dict[str, Any], device: Any) -> _Checkpointable:
        """Rebuild a fitted instance from :meth:`state`'s output."""
        return cls()


class DifficultyEstimator(_Checkpointable):
    """Learns on the train partition of one modality; then gives a difficulty per time step.

    Implement ``name``, :meth:`fit` and :meth:`difficulty` (and :meth:`state`/:meth:`load` if it learns).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    gives_signal: ClassVar[bool] = True  # False for `none`: the pipeline then appends nothing
    Options: ClassVar[type[PluginOptions]] = PluginOptions  # its typed options; FitContext.options holds them

    @abstractmethod
    def fit(self, train: Sequence[np.ndarray], devel: Sequence[np.ndarray], ctx: FitContext) -> None:
        """Learn from standardised, gap-filled train sequences (T, D); devel is for early stopping."""

    @abstractmethod
    def difficulty(self, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
        """One (T,) float32 array per sequence: higher means the modality is less trustworthy there."""


class Fuser(_Checkpointable):
    """Combines per-modality predictions (and difficulties) into one prediction per time step."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    learned: ClassVar[bool] = True

    @abstractmethod
    def fit(
        self,
        predictions: Sequence[np.ndarray],
        difficulties: Sequence[np.ndarray] | None,
        labels: Sequence[np.ndarray],
        devel: tuple[Sequence[np.ndarray], Sequence[np.ndarray] | None, Sequence[np.ndarray]],
        ctx: FitContext,
    ) -> None:
        """Learn from train: predictions (T, M), difficulties (T, M) or None, labels (T,) with NaN = unlabelled.

        ``devel`` is the same triple for the devel partition (early stopping and selection).
        """

    @abstractmethod
    def predict(
        self, predictions: Sequence[np.ndarray], difficulties: Sequence[np.ndarray] | None
    ) -> list[np.ndarray]:
        """One fused (T,) float32 prediction per sequence."""


class Corruption(ABC):
    """Degrades one modality's standardised features at a level in [0, 1]; level 0 is the identity.

    Implement ``name`` and :meth:`apply`. Use only ``rng`` for randomness so results are seeded.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def apply(
        self, features: np.ndarray, level: float, rng: np.random.Generator, pool: Sequence[np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (corrupted copy of ``features`` (T, D), boolean (T,) mask of the frames corrupted).

        ``pool`` holds the same modality's sequences of other subjects, for on-manifold corruptions.
        A row set to NaN is a missing frame, handled like any missing frame by the data layer.
        """
