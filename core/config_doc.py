"""docs/config.md, generated from `RunConfig`: every group, and every field with its type, default and
description.

After changing RunConfig, regenerate with the one command in `REGENERATE`; tests/test_docs.py fails
while the file and the model disagree.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from musefuse.core import fileio
from musefuse.core.config import RunConfig

REGENERATE = "python -m musefuse.core.config_doc docs/config.md"

_HEADER = f"""\
# Configuration reference

<!-- generated from musefuse.core.config.RunConfig; do not edit, regenerate: {REGENERATE} -->

Everything that determines a run: every field of `musefuse.core.config.RunConfig`, group by group, in the
model's order. Every field has one name: on the command line a field `some_field` is `--some-field`
(booleans `--some-field/--no-some-field`; `estimator_options` is `--estimator-option KEY=VALUE`, repeatable),
and in a YAML file given to `musefuse run --config FILE` it is `some_field: ...`, either flat, as every
release wrote it (`lr: 0.001`), or in its group (`model: {{lr: 0.001}}`); a flag overrides the file. In code
it is `cfg.<group>.some_field` (`cfg.model.lr`); `musefuse.core.config.FIELD_PATHS` maps each name to its
group. A run folder's `config.yaml` is written in groups; the flat one of an older run folder still loads.
The training-budget fields (`epochs`, `patience`, `window`, `hop`, `batch_size`, `lr_schedule`) left at
None take the preset's value (a preset is a `TrainingBudget`, `musefuse.core.presets.PRESETS`; `cpu` also sets
`threads`), and together they are the run's `cfg.budget.resolved()` ([pipeline.md](pipeline.md#presets)).
"""

_TABLE = "| field | type | default | description |\n|---|---|---|---|\n"

_BOUNDS = {annotated_types.Ge: ("ge", "≥"), annotated_types.Gt: ("gt", ">"),
           annotated_types.Le: ("le", "≤"), annotated_types.Lt: ("lt", "<")}


def type_name(annotation: object) -> str:
    """A field's type as a reader writes it: `int`, `Path | None`, `"ccc" | "mse"`, `dict[str, Any]`."""
    if annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(f'"{a}"' if isinstance(a, str) else repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    if annotation is typing.Any:
        return "Any"
    return getattr(annotation, "__name__", str(annotation))


def _bounds(info: FieldInfo) -> str:
    parts = [f"{symbol} {getattr(constraint, attr)}" for constraint in info.metadata
             for kind, (attr, symbol) in _BOUNDS.items() if isinstance(constraint, kind)]
    return f" ({', '.join(parts)})" if parts else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(model: type[BaseModel]) -> list[str]:
    """One table row per field of ``model`` (its sub-groups have sections of their own)."""
    rows = []
    for name, info in model.model_fields.items():
        if _is_group(info):
            continue
        default = info.get_default(call_default_factory=True)
        default = str(default) if isinstance(default, Path) else repr(default)
        rows.append(f"| `{name}` | `{_cell(type_name(info.annotation))}`{_bounds(info)} "
                    f"| `{_cell(default)}` | {_cell(info.description or '')} |")
    return rows


def _is_group(info: FieldInfo) -> bool:
    return isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)


def _sections(model: type[BaseModel], path: str = "") -> list[str]:
    """A section per group: its path, its docstring, its fields; then its sub-groups'."""
    out = []
    rows = _rows(model)
    if path and rows:
        doc = " ".join((model.__doc__ or "").split())
        out.append(f"## `{path}`\n\n{doc}\n\n{_TABLE}" + "\n".join(rows) + "\n")
    for name, info in model.model_fields.items():
        if _is_group(info):
            out += _sections(info.annotation, f"{path}.{name}" if path else name)
    return out


def render() -> str:
    """The whole of docs/config.md."""
    return _HEADER + "".join(f"\n{section}" for section in _sections(RunConfig))


def main(argv: list[str]) -> None:
    """No argument: print the reference. One path: write it there (atomically: all or nothing)."""
    if not argv:
        sys.stdout.write(render())
        return
    if argv[0].startswith("-") or len(argv) > 1:  # '--help' is not a path to overwrite
        sys.exit("usage: python -m musefuse.core.config_doc [PATH]  (no PATH: print the reference)")
    fileio.write_text(Path(argv[0]), render())


if __name__ == "__main__":
    main(sys.argv[1:])
