"""registry.yaml: the built-in plugin modules and modality declarations, validated with pydantic when loaded."""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from musefuse.core.errors import PluginError
from musefuse.core.interfaces import ModelSettings


class ModalityEntry(BaseModel):
    """One built-in modality's declaration, registered by ``module``."""

    model_config = ConfigDict(extra="forbid")

    name: str
    module: str  # the plugin module whose register_modalities hook registers it
    description: str
    aliases: list[str] = []
    width: int = Field(ge=1)
    standardise: bool
    defaults: dict[str, ModelSettings] = {}


class Registry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Modules registering built-in classes (estimators, fusers, corruptions): each class carries its own
    # name and description, so the registry does not repeat them.
    modules: list[str]
    modalities: list[ModalityEntry]


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
            if len(loc) >= 2 and loc[0] == "modalities" and isinstance(loc[1], int):
                entries = (raw or {}).get("modalities") or []
                entry = entries[loc[1]] if loc[1] < len(entries) else {}
                label = entry.get("name", f"#{loc[1] + 1}") if isinstance(entry, dict) else f"#{loc[1] + 1}"
                field = ".".join(str(p) for p in loc[2:]) or "(entry)"
                where = f"entry '{label}', field '{field}'"
            problems.append(f"{where}: {e['msg']}")
        raise PluginError(f"{source} is invalid — " + "; ".join(problems)) from None
    return registry


@lru_cache(maxsize=1)
def load_registry() -> Registry:
    """The package's own registry.yaml, validated."""
    path = registry_path()
    return parse_registry(path.read_text(encoding="utf-8"), str(path))


def builtin_modules() -> list[str]:
    """Every module that registers built-ins: the modalities' modules first, then the listed ones."""
    registry = load_registry()
    return list(dict.fromkeys([*(e.module for e in registry.modalities), *registry.modules]))


def builtin_modalities(module: str | None = None) -> list[ModalityEntry]:
    """The declared modalities, optionally only those one plugin module registers."""
    return [e for e in load_registry().modalities if module is None or e.module == module]
