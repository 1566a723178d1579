"""The in-memory dataset every stage works on: subjects × modalities × targets, by partition."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

PARTITIONS = ("train", "devel", "test")
STEP_MS = 500  # MuSe-Stress: one label (and one feature row) every 500 ms, i.e. 2 Hz
STEP_SECONDS = STEP_MS / 1000
MissingPolicy = Literal["zero", "ffill", "mask"]


@dataclass
class Subject:
    """One subject's aligned data. Every array shares the subject's reference timeline of T steps."""

    id: str
    partition: str  # train | devel | test
    timestamps: np.ndarray  # (T,) int64 ms — label timestamps where labels exist, else the features'
    segment_ids: np.ndarray  # (T,) int64
    features: dict[str, np.ndarray]  # modality -> (T, D) float32; a NaN row is a missing frame
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # target -> (T,) float32, NaN = unlabelled

    def is_scored(self, target: str) -> bool:
        """True when this subject has at least one label value for ``target``."""
        y = self.labels.get(target)
        return y is not None and bool(np.isfinite(y).any())


@dataclass
class Standardiser:
    """Per-dimension z-scoring with train statistics, kept with the run so new data matches."""

    mean: np.ndarray  # (D,) float32
    std: np.ndarray  # (D,) float32, never 0 (constant dimensions get 1)

    @classmethod
    def fit(cls, sequences: list[np.ndarray]) -> Standardiser:
        """Statistics over every non-missing frame of the given (train) sequences.

        Two passes in float64 over the sequences one at a time (no concatenated copy of a 4096-wide
        modality): the mean, then the population variance around it.
        """
        width = sequences[0].shape[1]
        n, total = np.zeros(width), np.zeros(width)
        for x in sequences:
            ok = np.isfinite(x)
            n += ok.sum(axis=0)
            total += np.where(ok, x, 0).sum(axis=0, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
        squares = np.zeros(width)
        for x in sequences:
            d = x.astype(np.float64) - mean
            squares += np.where(np.isfinite(d), d * d, 0).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            std = np.sqrt(squares / n)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0)  # constant or empty dimensions: 1
        return cls(mean.astype(np.float32), std.astype(np.float32))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Z-score ``x`` (T, D); NaN rows stay NaN."""
        return ((x - self.mean) / self.std).astype(np.float32)

    @classmethod
    def identity(cls, width: int) -> Standardiser:
        """The no-op standardiser, for modalities declared as not standardised."""
        return cls(np.zeros(width, np.float32), np.ones(width, np.float32))


@dataclass
class LoadReport:
    """What loading did to the data: rows dropped and why, warnings (file, row, message)."""

    dropped: dict[str, int] = field(default_factory=dict)  # reason -> number of rows
    warnings: list[str] = field(default_factory=list)


@dataclass
class Dataset:
    """Subjects of one MuSe-layout folder, with the modalities and targets that were read."""

    root: Path
    modalities: list[str]
    targets: list[str]
    subjects: list[Subject]
    fingerprint: str  # hash of every file read; runs record it
    folders: dict[str, str] = field(default_factory=dict)  # modality -> folder it was found under
    report: LoadReport = field(default_factory=LoadReport)
    # The same hash per part: 'labels' (partition file and label files) and each modality's files,
    # so a model keys on what it reads, not on modalities loaded beside it (musefuse.core.method.plan).
    part_fingerprints: dict[str, str] = field(default_factory=dict)

    def partition(self, name: str) -> list[Subject]:
        """Subjects of one partition, in a stable order."""
        return [s for s in self.subjects if s.partition == name]


def fill_missing(x: np.ndarray, policy: MissingPolicy = "zero") -> np.ndarray:
    """Model input from standardised features whose missing frames are NaN rows.

    ``zero``: NaN -> 0, i.e. the train mean (the MuSe baseline's choice; the default).
    ``ffill``: carry the last observed frame forward (zeros before the first one).
    ``mask``: zero-fill, plus one extra column that is 1 where the frame was missing.
    """
    missing = np.isnan(x)
    if policy == "ffill":
        rows = ~missing.all(axis=1)
        idx = np.where(rows, np.arange(len(x)), -1)
        idx = np.maximum.accumulate(idx) if len(idx) else idx
        out = np.where(idx[:, None] >= 0, x[np.maximum(idx, 0)], 0.0)
        out = np.nan_to_num(out, nan=0.0)
    else:
        out = np.where(missing, 0.0, x)
    if policy == "mask":
        out = np.concatenate([out, missing.all(axis=1, keepdims=True)], axis=1)
    return out.astype(np.float32)
