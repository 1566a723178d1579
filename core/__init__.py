"""The musefuse core: interfaces, plugin host, data, models, training, metrics, pipeline.

Plugin authors need only what is re-exported here.
"""

from musefuse.core.hookspecs import hookimpl
from musefuse.core.interfaces import (
    Corruption,
    DifficultyEstimator,
    Fuser,
    Modality,
    ModelSettings,
)

__all__ = ["hookimpl", "Modality", "ModelSettings", "DifficultyEstimator", "Fuser", "Corruption"]
