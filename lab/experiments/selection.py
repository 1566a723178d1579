"""Model selection on devel: a grid over regressor settings, the winner per modality × target.

Every grid point is a trial whose regressors all take that point's settings (through
``RunConfig.model_settings``, so the auto-encoders are the same for every point and trained once).
:func:`choose` sees only devel records — it refuses any other partition — and picks, per
modality × target, the point with the highest mean devel CCC over seeds (the earlier point on a
tie). Test CCC is then reported for the selected point only; the other points' test scores are
dropped before anything is written. The winners are written as ``selected.yaml``, a run config
(``musefuse run --config selected.yaml``) whose regressors are the selected models themselves: on
the same store and data they are reused, not retrained.

A plain grid: the paper's is 36 points at most, the task graph already runs independent points
concurrently and shares what they share, and an exhaustive grid is what a search library would
do with it too.
"""

from __future__ import annotations

import csv
import io
import itertools
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from musefuse.core.config import FIELD_PATHS, RunConfig, flatten, updated
from musefuse.core.errors import ConfigError
from musefuse.core.interfaces import ModelSettings
from musefuse.lab.experiments import ExperimentResult, Trial
from musefuse.lab.experiments.tables import fmt, mean_std

AXES = ("rnn", "layers", "hidden", "lr", "dropout")  # the ModelSettings fields a grid may span
PAPER_GRID: dict[str, list[Any]] = {"rnn": ["lstm", "bilstm", "gru", "bigru"], "lr": [0.001, 0.005, 0.0005],
                                    "dropout": [0.1, 0.2, 0.5]}
Grid = dict[str, list[Any]]


def _check(axis: str, values: list[Any], source: str) -> list[Any]:
    if axis not in AXES:
        raise ConfigError(f"{source}: unknown grid axis '{axis}'. Known: {', '.join(AXES)}.")
    if not values:
        raise ConfigError(f"{source}: axis '{axis}' has no values.")
    out = []
    for v in values:
        try:
            out.append(getattr(ModelSettings.model_validate({axis: v}), axis))
        except ValidationError as exc:
            msg = exc.errors()[0]["msg"]
            raise ConfigError(f"{source}: {axis}={v!r}: {msg}.") from None
    if len(set(out)) != len(out):
        raise ConfigError(f"{source}: axis '{axis}' repeats a value: {values}.")
    return out


def parse_grid(items: Sequence[str] | None = None, file: Path | None = None) -> Grid:
    """``--grid lr=0.001,0.005 --grid rnn=gru,bigru`` and/or a YAML mapping ``axis: [values]``.

    Axes named neither way keep the paper's grid; ``--grid`` overrides the file axis by axis.
    Values are checked as model settings (``dropout=1.5`` is an error naming the axis).
    """
    grid: Grid = dict(PAPER_GRID)
    if file is not None:
        try:
            loaded = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"--grid-file {file}: cannot be read ({exc}).") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"--grid-file {file}: expected a mapping of axis: [values], e.g. lr: [0.001, 0.005].")
        for axis, values in loaded.items():
            grid[str(axis)] = _check(str(axis), values if isinstance(values, list) else [values], f"--grid-file {file}")
    for item in items or ():
        axis, sep, values = item.partition("=")
        if not sep:
            raise ConfigError(f"--grid {item!r}: expected AXIS=V1,V2,..., e.g. --grid lr=0.001,0.005.")
        parsed = [yaml.safe_load(v) for v in values.split(",") if v.strip()]
        grid[axis.strip()] = _check(axis.strip(), parsed, f"--grid {item!r}")
    return grid


def points(grid: Grid) -> list[dict[str, Any]]:
    """Every combination, the first axis varying slowest."""
    axes = list(grid)
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*(grid[a] for a in axes))]


def point_label(point: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in point.items())


def trials(base: RunConfig, grid: Grid, seeds: Sequence[int]) -> list[Trial]:
    """One unimodal-only trial per grid point × seed: every regressor of the trial takes the point."""
    out = []
    for point in points(grid):
        label = point_label(point)
        settings = {m: {t: dict(point) for t in base.inputs.targets} for m in base.inputs.modalities}
        for seed in seeds:
            cfg = updated(base, model_settings=settings, seed=seed)
            out.append(Trial(f"{label} seed={seed}", cfg, point, label, unimodal_only=True))
    return out


def choose(devel: Sequence[dict[str, Any]], order: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (modality, target): the grid point (``variant``) with the highest mean devel CCC over seeds.

    Only devel records are accepted; anything else is a bug in the caller and raises. ``order``:
    the points in grid order (ties go to the earlier one).
    """
    if any(r["partition"] != "devel" for r in devel):
        raise ValueError("model selection was handed records of a partition other than devel")
    scores: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in devel:
        if r["stage"] != "unimodal" or r["target"] == "combined" or r["ccc"] is None:
            continue
        scores.setdefault((r["modalities"][0], r["target"]), {}).setdefault(r["variant"], []).append(r["ccc"])
    out = {}
    for key, by_point in scores.items():
        ranked = sorted(by_point, key=lambda p: (-statistics.fmean(by_point[p]), order.index(p)))
        best = ranked[0]
        out[key] = {"variant": best, "devel": mean_std(by_point[best]),
                    "grid": {p: mean_std(v) for p, v in by_point.items()}}
    return out


def keep_selected(records: list[dict[str, Any]], order: Sequence[str]) -> list[dict[str, Any]]:
    """Select on devel, then drop the test records of every point that was not selected (and test
    'combined' records: a modality's two targets may select different points)."""
    winners = choose([r for r in records if r["partition"] == "devel"], order)
    chosen = {(m, t, w["variant"]) for (m, t), w in winners.items()}
    return [r for r in records if r["partition"] != "test" or (r["modalities"][0], r["target"], r["variant"]) in chosen]


def selected_config(base: RunConfig, winners: dict[tuple[str, str], dict[str, Any]],
                    points_by_label: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A run config (flat, as people write one): the base's explicit fields but its data, execution and output
    settings, plus the winners as ``model_settings``."""
    skip = {"data", "model_settings", *(k for k, path in FIELD_PATHS.items() if path[0] in ("execution", "output"))}
    values = {k: v for k, v in flatten(base, explicit=True).items() if k not in skip}
    values["modalities"], values["targets"] = base.inputs.modalities, base.inputs.targets
    settings: dict[str, dict[str, Any]] = {}
    for (m, t), w in sorted(winners.items()):
        settings.setdefault(m, {})[t] = dict(points_by_label[w["variant"]])
    values["model_settings"] = settings
    RunConfig.model_validate(values)  # what we write must load
    return values


def selection_markdown(result: ExperimentResult, winners: dict, order: Sequence[str], seeds: Sequence[int]) -> str:
    test = {}
    for r in result.records:
        if r["partition"] == "test" and r["stage"] == "unimodal" and r["ccc"] is not None:
            test.setdefault((r["modalities"][0], r["target"], r["variant"]), []).append(r["ccc"])
    spread = f"mean ± std over seeds {', '.join(map(str, seeds))}" if len(seeds) > 1 else f"seed {seeds[0]}"
    lines = ["# Model selection on devel", "",
             f"Unimodal regressors, {len(order)} grid points, CCC {spread}. Selected on devel only; test is "
             "reported for the selected point alone.", "",
             "| modality | target | selected | devel CCC | test CCC |", "|---|---|---|---|---|"]
    for (m, t), w in sorted(winners.items()):
        reported = fmt(mean_std(test.get((m, t, w["variant"]), [])))
        lines.append(f"| {m} | {t} | {w['variant']} | {fmt(w['devel'])} | {reported} |")
    heads = " | ".join(f"{m} {t}" for m, t in sorted(winners))
    lines += ["", "## The whole grid, devel CCC", "", f"| grid point | {heads} |", "|---|" + "---|" * len(winners)]
    for p in order:
        cells = []
        for key in sorted(winners):
            stat = winners[key]["grid"].get(p)
            cells.append(f"**{fmt(stat)}**" if winners[key]["variant"] == p else fmt(stat))
        lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def grid_csv(winners: dict, order: Sequence[str], points_by_label: dict[str, dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    axes = list(next(iter(points_by_label.values())))
    w.writerow(["modality", "target", *axes, "devel_ccc_mean", "devel_ccc_std", "n_seeds", "selected"])
    for (m, t), win in sorted(winners.items()):
        for p in order:
            stat = win["grid"].get(p)
            if stat is None:
                continue
            w.writerow([m, t, *(points_by_label[p][a] for a in axes), f"{stat[0]:.6f}",
                        "" if stat[1] is None else f"{stat[1]:.6f}", stat[2], int(win["variant"] == p)])
    return buf.getvalue()
