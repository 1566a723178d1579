"""The one type both the plugin interfaces and the CSV readers speak: a subject's features as read."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FeatureTable:
    """One subject's features as read from disk, before alignment with the labels."""

    timestamps: np.ndarray  # (T,) int64, milliseconds, strictly increasing
    segment_ids: np.ndarray  # (T,) int64
    values: np.ndarray  # (T, D) float32; a row of NaN means the modality is missing there
