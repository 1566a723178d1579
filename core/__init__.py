"""The musefuse core: interfaces, plugin host, data, models, training, metrics, the task engine and the method.

Plugin authors need only what is re-exported here. The re-exports load on first use, so that importing a
sub-package stays light: a worker process imports the engine's worker entry and arms its parent-death signal
before numpy, pydantic or torch are imported (musefuse.core.engine.worker).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from musefuse.core.hookspecs import hookimpl
    from musefuse.core.interfaces import Corruption, DifficultyEstimator, Fuser, Modality, ModelSettings

_HOME = {"hookimpl": "musefuse.core.hookspecs", **{name: "musefuse.core.interfaces" for name in (
    "Modality", "ModelSettings", "DifficultyEstimator", "Fuser", "Corruption")}}

__all__ = ["hookimpl", "Modality", "ModelSettings", "DifficultyEstimator", "Fuser", "Corruption"]


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'musefuse.core' has no attribute '{name}'")
