"""The data a run reads when no --data is given: the dataset of a provider registered from outside core.

core knows only this slot. The package root (musefuse/__init__.py) fills it with the synthetic
Ulm-TSST-like generator of musefuse.lab.synth, so core never imports lab.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from musefuse.core.errors import ConfigError

if TYPE_CHECKING:
    from musefuse.core.config import RunConfig

# modalities a run needs -> the folder of a dataset holding (at least the ones it can make of) them
Provider = Callable[[list[str]], Path]

_provider: tuple[Provider, str] | None = None


def provide(provider: Provider, description: str) -> None:
    """Make ``provider`` the data of runs without --data; ``description`` is logged when it is used."""
    global _provider
    _provider = (provider, description)


def data_root(cfg: RunConfig, echo: Callable[[str], None] = lambda _m: None) -> Path:
    """The configured data folder, or the embedded dataset (its provider may generate it on first use)."""
    if cfg.inputs.data is not None:
        return Path(cfg.inputs.data)
    if _provider is None:
        raise ConfigError("No --data given and no embedded dataset is registered: name a data folder with --data.")
    provider, description = _provider
    echo(f"No --data given: using {description}.")
    return provider(list(cfg.inputs.modalities))
