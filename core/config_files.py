"""A ``RunConfig`` from what a user gives: a YAML file (flat or in groups) and flags on top, each checked, with
errors that name the field and where it came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from musefuse.core.config import RunConfig, describe_error, merge_nested, nest, updated
from musefuse.core.errors import ConfigError


def build_config(file: Path | None = None, **flags: Any) -> RunConfig:
    """YAML file (flat or nested) first, then every flag that was given (not None, flat names) on top; errors name
    the field."""
    values: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"Cannot read config file {file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"Config file {file} must hold a mapping of field: value.")
        values = nest(loaded)
    values = merge_nested(values, nest({k: v for k, v in flags.items() if v is not None}))
    source = str(file) if file else "command line"
    try:
        cfg = RunConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, source)) from None
    _check_together(cfg, source)
    return cfg


def override(cfg: RunConfig, source: str = "command line", **flags: Any) -> RunConfig:
    """``cfg`` with every flag that was given (not None) set, each checked as :func:`build_config` checks it."""
    try:
        return updated(cfg, **{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(describe_error(exc, source)) from None


def _check_together(cfg: RunConfig, source: str) -> None:
    """Options that mean something only with another one, refused where a user sets them (not a model
    validator: a finished run folder written before this check must still load)."""
    ex = cfg.execution
    ray_only = [k for k in ("ray_address", "gpus_per_task") if getattr(ex, k) is not None]
    if ray_only and ex.executor != "ray":
        flags = " and ".join(f"--{k.replace('_', '-')}" for k in ray_only)
        fields = " and ".join(f"'{k}'" for k in ray_only)
        raise ConfigError(f"Invalid configuration ({source}): {fields} ({flags}) apply to executor ray only, but "
                          f"'executor' (--executor) is {ex.executor}; add --executor ray (docs/ray.md) or drop "
                          f"{flags}.")
