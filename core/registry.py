"""registry.yaml: the declaration of every built-in plugin, validated with pydantic when loaded."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from musefuse.core.errors import PluginError
from musefuse.core.interfaces import ModelSettings

Kind = Literal["modality", "estimator", "fuser", "corruption"]
KINDS: tuple[str, ...] = ("modality", "estimator", "fuser", "corruption")


class RegistryEntry(BaseModel):
    """One built-in plugin. Modality entries also carry the modality's declaration."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: Kind
    module: str  # the plugin module that implements the hook for this entry
    description: str
    # Modalities only:
    aliases: list[str] = []
    width: int | None = Field(None, ge=1)
    standardise: bool | None = None
    defaults: dict[str, ModelSettings] = {}


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plugins: list[RegistryEntry]


def registry_path() -> Path:
    """registry.yaml inside the installed package (a wheel ships it; a checkout has it at the top)."""
    return Path(str(files("musefuse").joinpath("registry.yaml")))


def parse_registry(text: str, source: str) -> Registry:
    """Validate registry text; errors name the file, the entry and the field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PluginError(f"{source} is not valid YAML: {exc}") from None
    try:
        registry = Registry.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = list(e["loc"])
            where = "top level"
            if len(loc) >= 2 and loc[0] == "plugins" and isinstance(loc[1], int):
                entries = (raw or {}).get("plugins") or []
                entry = entries[loc[1]] if loc[1] < len(entries) else {}
                label = entry.get("name", f"#{loc[1] + 1}") if isinstance(entry, dict) else f"#{loc[1] + 1}"
                field = ".".join(str(p) for p in loc[2:]) or "(entry)"
                where = f"entry '{label}', field '{field}'"
            problems.append(f"{where}: {e['msg']}")
        raise PluginError(f"{source} is invalid — " + "; ".join(problems)) from None
    for entry in registry.plugins:
        if entry.kind == "modality" and (entry.width is None or entry.standardise is None):
            raise PluginError(f"{source}: entry '{entry.name}', field 'width'/'standardise': required for modalities")
    return registry


@lru_cache(maxsize=1)
def load_registry() -> Registry:
    """The package's own registry.yaml, validated."""
    path = registry_path()
    return parse_registry(path.read_text(encoding="utf-8"), str(path))


def builtin_entries(kind: str | None = None, module: str | None = None) -> list[RegistryEntry]:
    """Registry entries, optionally of one kind and/or declared by one plugin module."""
    return [
        e
        for e in load_registry().plugins
        if (kind is None or e.kind == kind) and (module is None or e.module == module)
    ]
