"""``musefuse summarize``: any set of finished runs -> mean ± std over seeds, grouped by what differs.

The runs' ``config.yaml`` files are compared field by field; the fields whose values differ
between runs (other than the seed and where/how a run was executed) define the groups, and every
group's runs are its seeds. Per group × stage × modalities × target × partition the table gives the
mean CCC, the sample std (n − 1) and n. What each seed decided from data (the model it kept, e.g. 're' or
'plain') is a column, never a grouping key: seeds of one configuration that decided differently are still
one group, and their mean is the configuration's.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from musefuse.core.config import ungroup
from musefuse.core.errors import ConfigError, RunFolderError
from musefuse.core.runs import runfolder
from musefuse.lab.experiments.tables import Stat, fmt, mean_std, model_name

PARTITIONS = ("train", "devel", "test")  # what results.json scores
# Fields that do not change what a run computes (or are its seed): never a grouping field.
IGNORED = ("seed", "out", "store", "overwrite", "workers", "threads", "executor")


@dataclass
class Summary:
    fields: list[str]  # the config fields that differ between the runs (the grouping)
    groups: dict[str, list[Path]]  # group label -> its runs
    partitions: list[str]
    # group, settings, stage, modalities, target, models ({seed: model}), stats ({part: Stat}), ci95, seeds
    rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["group", *self.fields, "stage", "modalities", "target", "model", "partition", "ccc_mean", "ccc_std",
                    "n_seeds", "seeds", "ci95_lo", "ci95_hi"])
        for r in self.rows:
            for part in self.partitions:
                stat = r["stats"].get(part)
                if stat is None:
                    continue
                w.writerow([r["group"], *(r["settings"].get(f, "") for f in self.fields), r["stage"],
                            "+".join(r["modalities"]), r["target"], models_cell(r["models"]), part, f"{stat[0]:.6f}",
                            "" if stat[1] is None else f"{stat[1]:.6f}", stat[2],
                            " ".join(map(str, r["seeds"][part])),
                            *_ci_csv(r.get("ci95", {}).get(part))])
        return buf.getvalue()

    def markdown(self) -> str:
        heads = [*(self.fields or ["runs"]), "stage", "modalities", "target", "model", *self.partitions]
        lines = [f"CCC, mean ± std over seeds (n) [the runs' 95% intervals over recordings, averaged; n/a: fewer "
                 f"than 3 recordings]. Groups differ in: {', '.join(self.fields) or 'nothing'}. Model: what each "
                 f"seed kept (decisions.json), per seed where they differ. Combined: the mean of the arousal and "
                 f"valence CCC (the MuSe score).", "",
                 "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
        for r in self.rows:
            lines.append("| " + " | ".join(self.cells(r)) + " |")
        return "\n".join(lines) + "\n"

    def cells(self, r: dict[str, Any], sep: str = " ± ") -> list[str]:
        group = [str(r["settings"].get(f, "")) for f in self.fields] or [r["group"]]
        return [*group, r["stage"], "+".join(r["modalities"]), r["target"], models_cell(r["models"]),
                *(_cell(r["stats"].get(p), sep, r.get("ci95", {}).get(p)) for p in self.partitions)]


def _cell(stat: Stat | None, sep: str = " ± ", ci: list[float] | None = None) -> str:
    if stat is None:
        return "—"
    return f"{fmt(stat, sep=sep)} ({stat[2]})" + (" [n/a]" if not ci else f" [{ci[0]:.2f}, {ci[1]:.2f}]")


def models_cell(models: dict[Any, str]) -> str:
    """'re' where every seed kept the same model, else each seed's: 'seed 0 re; seed 1 plain; seed 2 re'."""
    if len(set(models.values())) <= 1:
        return next(iter(models.values()), "")
    return "; ".join(f"seed {seed} {m}" for seed, m in sorted(models.items(), key=lambda kv: _seed_order(kv[0])))


def _seed_order(seed: Any) -> tuple[int, str]:
    text = str(seed)
    return (int(text), "") if text.lstrip("-").isdigit() else (1 << 30, text)


def _ci_csv(ci: list[float] | None) -> list[str]:
    return ["", ""] if not ci else [f"{v:.6f}" for v in ci]


def _value(v: Any) -> str:
    if isinstance(v, list):
        return ",".join(map(str, v))
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return str(v)


def read_run(run: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A finished run's config (as written, by flat field names) and its result records."""
    run = runfolder.require_finished(Path(run))
    try:
        cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
        records = json.loads((run / runfolder.RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise RunFolderError(f"{run}: config.yaml or {runfolder.RESULTS} cannot be read ({exc}).") from None
    if not isinstance(cfg, dict) or not isinstance(records, list):
        raise RunFolderError(f"{run}: config.yaml or {runfolder.RESULTS} is not a musefuse run's.")
    return ungroup(cfg), records


def summarize(runs: Sequence[Path], partitions: Sequence[str] = ("devel", "test")) -> Summary:
    """Group ``runs`` by the config fields that differ between them; mean ± std over each group's seeds."""
    if not runs:
        raise ConfigError("summarize: name at least one run folder.")
    unknown = [p for p in partitions if p not in PARTITIONS]
    if unknown or not partitions or len(set(partitions)) != len(partitions):
        problem = (f"unknown partition(s) {', '.join(unknown)}" if unknown else
                   "names a partition twice" if partitions else "names no partition")
        raise ConfigError(f"--partitions {','.join(partitions)}: {problem}; allowed: {', '.join(PARTITIONS)}.")
    loaded = [(Path(r), *read_run(r)) for r in runs]
    keys = sorted({k for _, cfg, _ in loaded for k in cfg} - set(IGNORED))
    differ = [k for k in keys if len({_value(cfg.get(k)) for _, cfg, _ in loaded}) > 1]
    summary = Summary(differ, {}, list(partitions))
    cells: dict[tuple, dict[str, list[tuple[int, float]]]] = {}
    intervals: dict[tuple, dict[str, list[list[float] | None]]] = {}
    models: dict[tuple, dict[Any, str]] = {}
    settings: dict[str, dict[str, str]] = {}
    seen: dict[tuple[str, Any], Path] = {}
    for path, cfg, records in loaded:
        group = ", ".join(f"{k}={_value(cfg.get(k))}" for k in differ) or "all runs"
        settings[group] = {k: _value(cfg.get(k)) for k in differ}
        summary.groups.setdefault(group, []).append(path)
        seed = cfg.get("seed")
        if (group, seed) in seen:
            summary.warnings.append(f"{path} and {seen[(group, seed)]} have the same settings and seed {seed}; "
                                    "both are counted.")
        seen[(group, seed)] = path
        for r in records:
            if r.get("partition") not in partitions or r.get("ccc") is None:
                continue
            key = (group, r["stage"], tuple(r["modalities"]), r["target"])  # what a seed decided is no key
            models.setdefault(key, {})[seed] = model_name(r, records)
            cells.setdefault(key, {}).setdefault(r["partition"], []).append((seed, r["ccc"]))
            intervals.setdefault(key, {}).setdefault(r["partition"], []).append(r.get("ccc_ci95") or None)
    for (group, stage, mods, target), by_part in cells.items():
        summary.rows.append({
            "group": group, "settings": settings[group], "stage": stage, "modalities": list(mods), "target": target,
            "models": models[(group, stage, mods, target)],
            "stats": {p: mean_std([c for _, c in v]) for p, v in by_part.items()},
            # the runs' own 95% intervals, averaged: how sure one run's number is. Each contains its run's CCC, so
            # the averages contain the mean CCC; n/a (None) where any run's interval is, so no seed is left out.
            "ci95": {p: None if any(ci is None for ci in v) else
                     [float(np.mean([ci[0] for ci in v])), float(np.mean([ci[1] for ci in v]))]
                     for p, v in intervals.get((group, stage, mods, target), {}).items()},
            "seeds": {p: sorted(s for s, _ in v) for p, v in by_part.items()}})
    order = {"unimodal": 0, "fusion": 1}
    targets = {"arousal": 0, "valence": 1, "combined": 2}
    summary.rows.sort(key=lambda r: (order.get(r["stage"], 9), r["modalities"], targets.get(r["target"], 9),
                                     r["target"], list(summary.groups).index(r["group"])))
    return summary
