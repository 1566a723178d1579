"""The hooks a musefuse plugin can implement.

Every hook receives a ``register`` callback and calls it once per thing it provides; the core
resolves names, aliases and duplicates in one place (musefuse.core.plugin_host). Built-in plugins
implement exactly these hooks, nothing more.
"""

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("musefuse")
hookimpl = pluggy.HookimplMarker("musefuse")

Register = Callable[[Any], None]


@hookspec
def register_modalities(register: Register) -> None:
    """Called once at start-up. Call ``register(Modality(...))`` for each feature set you provide."""


@hookspec
def register_estimators(register: Register) -> None:
    """Called once at start-up. Call ``register(cls)`` with each DifficultyEstimator subclass."""


@hookspec
def register_fusers(register: Register) -> None:
    """Called once at start-up. Call ``register(cls)`` with each Fuser subclass."""


@hookspec
def register_corruptions(register: Register) -> None:
    """Called once at start-up. Call ``register(cls)`` with each Corruption subclass."""
