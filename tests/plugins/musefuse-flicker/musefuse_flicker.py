"""A third-party corruption: the modality flickers off (frames go missing) on random frames."""

import numpy as np

from musefuse.core import Corruption, hookimpl


class Flicker(Corruption):
    """Each frame is lost with probability level / 2 (a loose cable); level 0 changes nothing."""

    name = "flicker"
    description = "Frames lost at random with probability level/2"

    def apply(self, features, level, rng, pool):
        mask = rng.random(len(features)) < level / 2
        out = features.astype(np.float32, copy=True)
        out[mask] = np.nan  # a missing frame: the run's missing-row policy fills it
        return out, mask


@hookimpl
def register_corruptions(register):
    register(Flicker)
