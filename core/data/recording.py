"""Per-recording feature standardisation (``standardise: recording`` in the run config).

The MuSe 2021 baselines z-score eGeMAPS per recording: each subject's features with the subject's own
mean and standard deviation. A subject's input then no longer depends on how far its voice or face sits
from the train population's, which is between-subject variation the regressors cannot learn from a few
dozen train subjects. It needs no train statistics, so devel, test and new subjects are scaled exactly
as train subjects are (``musefuse predict`` follows the run's setting).
"""

from __future__ import annotations

import numpy as np

from musefuse.core.data.dataset import Standardiser


def standardise_recording(x: np.ndarray) -> np.ndarray:
    """One recording's features (T, D) z-scored per column with its own statistics over its observed frames.

    NaN rows (missing frames) stay NaN and do not enter the statistics. A column that is constant within
    the recording (or never observed) becomes 0, never NaN or inf. Any per-column affine scaling applied
    before (the run's train statistics, a fold model's own) cancels out: the result depends on ``x`` alone.
    """
    return Standardiser.fit([x]).transform(x)
