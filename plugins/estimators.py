"""Built-in difficulty estimators."""

from collections.abc import Sequence

import numpy as np

from musefuse.core import DifficultyEstimator, hookimpl
from musefuse.core.interfaces import FitContext


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
    register(NoDifficulty)
