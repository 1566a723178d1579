"""Built-in fusers."""

from collections.abc import Sequence

import numpy as np

from musefuse.core import Fuser, hookimpl


class MeanFuser(Fuser):
    """Non-learned baseline: the average of the unimodal predictions at each time step."""

    name = "mean"
    description = "Non-learned baseline: the average of the unimodal predictions"
    learned = False

    def fit(self, predictions, difficulties, labels, devel, ctx) -> None:
        pass

    def predict(
        self, predictions: Sequence[np.ndarray], difficulties: Sequence[np.ndarray] | None
    ) -> list[np.ndarray]:
        return [p.mean(axis=1).astype(np.float32) for p in predictions]  # (T, M) -> (T,)


@hookimpl
def register_fusers(register):
    register(MeanFuser)
