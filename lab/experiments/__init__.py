"""Experiments: many runs' models as one task graph, trained once, scored per trial.

An experiment is a list of :class:`Trial` s — a name, a :class:`RunConfig` and what the trial
varies (``{"rnn": "lstm"}``) — over one dataset. :func:`run_experiment` plans every trial
(:func:`musefuse.core.method.plan.plan_run`), unites the tasks by key (a model two trials share is
one task), runs what the artifact store lacks on one executor (independent models concurrently),
then reads each trial's models back from the store and scores them like ``musefuse run`` does.
Models an earlier experiment or run trained are reused, and an interrupted experiment resumes
when run again. The experiment folder::

    EXP/experiment.json     kind, trials (name, variant, seed), models trained / reused, seconds
    EXP/configs/<trial>.yaml  each trial's resolved configuration
    EXP/tasks.json          every model: label, key, trained or reused, settings, fit summary
    EXP/results.csv         one row per trial x stage x modalities x target x partition
    EXP/table.md, table.csv the experiment's table (written by the command that ran it)
    EXP/log.txt             first file; ends with the error if the experiment failed
    EXP/results.json        the same records as results.csv, written last (its presence: finished)

The commands on top: :mod:`.ablations` (``musefuse ablate``), :mod:`.selection` (``musefuse
select``), :mod:`.summary` (``musefuse summarize``), :mod:`.report` (``musefuse report``).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from musefuse.core import fileio
from musefuse.core.config import RunConfig, updated
from musefuse.core.engine.executors import Reporter
from musefuse.core.engine.task import Task
from musefuse.core.errors import ConfigError, RunFolderError
from musefuse.core.method.plan import RunPlan
from musefuse.core.runs import runfolder
from musefuse.core.runs.results import score_records
from musefuse.core.runs.session import Session

# Everything an experiment writes at the top of its folder: what prepare() may clear, nothing else.
EXPERIMENT_ENTRIES = frozenset({"experiment.json", "environment.json", "configs", "tasks.json", "results.csv",
                                "results.json", "table.md", "table.csv", "log.txt", "selected.yaml", "grid.csv",
                                "report"})
RECORD_COLUMNS = ["trial", "variant", "seed", "stage", "modalities", "target", "partition", "re", "fuser", "ccc",
                  "ccc_per_subject", "pearson", "rmse", "n_frames"]


@dataclass(frozen=True)
class Trial:
    """One configuration of an experiment. ``variant``: what it changes (a table column), without the seed."""

    name: str
    config: RunConfig
    variant: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # the variant as a column heading ("BiGRU", "fusion + RE"); default from variant
    unimodal_only: bool = False  # only the regressors are compared: no fuser is trained for this trial

    @property
    def heading(self) -> str:
        return self.label or ", ".join(f"{k}={v}" for k, v in self.variant.items()) or "base"


@dataclass
class ExperimentResult:
    folder: Path
    records: list[dict[str, Any]]  # score_records of every trial, with 'trial' and 'variant' added
    trials: list[Trial]
    trained: int  # models trained by this experiment
    reused: int  # models read from the store (an earlier run, experiment, or an interrupted try)
    seconds: float
    kinds: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> {"trained": n, "reused": n}

    def counts(self) -> str:
        """'14 models: 6 trained, 8 reused (regressor 0 trained, 6 reused; fuser 6 trained, 2 reused)'."""
        parts = "; ".join(f"{k} {v['trained']} trained, {v['reused']} reused" for k, v in self.kinds.items())
        return f"{self.trained + self.reused} models: {self.trained} trained, {self.reused} reused ({parts})"


def seeds_option(text: str | int | Sequence[int] | None) -> list[int]:
    """'3' -> [0, 1, 2] (a count); '0,4,7' -> those seeds; None -> [0]."""
    if text is None:
        return [0]
    if isinstance(text, int):
        text = str(text)
    if not isinstance(text, str):
        return [int(s) for s in text]
    try:
        if "," not in text.strip():
            n = int(text)
            if n < 1:
                raise ValueError
            return list(range(n))
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected a count (3: seeds 0, 1, 2) or a list (0,4,7).") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: expected distinct seeds, e.g. 0,1,2.")
    return seeds


def slug(name: str) -> str:
    """A file-name-safe form of a trial name."""
    return re.sub(r"[^A-Za-z0-9_.+=-]+", "_", name).strip("_") or "trial"


def _unimodal(plan: RunPlan) -> RunPlan:
    """The plan without its fusers: the regressors' outputs (their decisions, candidates and what they read) and
    the difficulty signal (a run's output even where no regressor reads it)."""
    needed: set[str] = set()
    by_key = {t.key: t for t in plan.tasks}
    todo = ([key for up in plan.unimodal.values() for key, _ in up.output]
            + [key for refs in plan.difficulty.values() for key, _ in refs])
    while todo:
        key = todo.pop()
        if key not in needed:
            needed.add(key)
            todo += list(by_key[key].deps)
    return dataclasses.replace(plan, tasks=[t for t in plan.tasks if t.key in needed], fusers={},
                               fusion_decisions={}, fusion_output={})


def run_experiment(
    kind: str,
    trials: Sequence[Trial],
    out: Path | None = None,
    *,
    overwrite: bool = False,
    reporter: Reporter | None = None,
    echo: Callable[[str], None] = lambda _m: None,
    write: Callable[[Path, ExperimentResult], None] | None = None,
    keep: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> ExperimentResult:
    """Run every trial's models as one task graph; score each trial; write the experiment folder.

    All trials share the data, the device and the execution settings of the first trial's
    config (``workers``, ``threads``, ``executor``, ``store``). ``write(folder, result)`` adds the
    command's own files (its table) before ``results.json`` marks the folder finished. ``keep``
    filters the scored records before anything is written (model selection drops test scores there).
    """
    if not trials:
        raise ConfigError("The experiment has no trials.")
    names = [t.name for t in trials]
    if len(set(names)) != len(names) or len({slug(n) for n in names}) != len(names):
        raise ConfigError(f"Trial names must be distinct: {names}.")
    folder = out or Path("experiments") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    with Session.open([t.config for t in trials], folder, overwrite=overwrite, entries=EXPERIMENT_ENTRIES,
                      reporter=reporter, echo=echo) as session:
        log, folder, base = session.log, session.folder, session.configs[0]
        log(f"musefuse {kind} → {folder} | {len(trials)} trials | device {session.device} | "
            f"preset '{base.budget.preset}' | executor {base.execution.executor}: {session.par.describe()} | "
            f"artifact store {session.store.root}")
        dataset = session.load()
        configs = [updated(c, out=None) for c in session.configs]
        for trial, cfg in zip(trials, configs, strict=True):
            fileio.write_text(folder / "configs" / f"{slug(trial.name)}.yaml",
                              yaml.safe_dump(json.loads(cfg.model_dump_json()), sort_keys=False))

        plans = [_unimodal(p) if t.unimodal_only else p
                 for t, p in zip(trials, (session.plan(cfg) for cfg in configs), strict=True)]
        reused = session.train(plans)  # a model two trials share is one task
        tasks = {t.key: t for p in plans for t in p.tasks}
        n_planned = sum(len(p.tasks) for p in plans)
        log(f"{n_planned} models over {len(trials)} trials, {len(tasks)} distinct (shared models were trained once)")

        records: list[dict[str, Any]] = []
        for trial, cfg, plan in zip(trials, configs, plans, strict=True):
            fitted, outputs = session.collect(plan, cfg)
            for r in score_records(fitted, outputs, cfg.execution.seed):
                records.append({"trial": trial.name, "variant": trial.heading, **r})
        if keep is not None:
            records = keep(records)
        kinds: dict[str, dict[str, int]] = {}
        for task in tasks.values():
            entry = kinds.setdefault(task.kind, {"trained": 0, "reused": 0})
            entry["reused" if reused[task.key] else "trained"] += 1
        n_reused = sum(reused.values())
        result = ExperimentResult(folder, records, list(trials), len(tasks) - n_reused, n_reused,
                                  time.perf_counter() - session.started, kinds)
        log(result.counts())
        fileio.write_json(folder / "experiment.json", {
            "kind": kind,
            "trials": [{"name": t.name, "variant": t.variant, "heading": t.heading, "seed": c.execution.seed,
                        "unimodal_only": t.unimodal_only, "config": f"configs/{slug(t.name)}.yaml"}
                       for t, c in zip(trials, configs, strict=True)],
            "data": str(session.root.resolve()), "fingerprint": dataset.fingerprint, "device": str(session.device),
            "models": {"distinct": len(tasks), "trained": result.trained, "reused": result.reused, "by_kind": kinds},
            "seconds": round(result.seconds, 1)})
        fileio.write_text(folder / "results.csv", records_csv(records))
        if write is not None:
            write(folder, result)
        session.finish(records)
    return result


def records_csv(records: Sequence[dict[str, Any]], columns: Sequence[str] = RECORD_COLUMNS) -> str:
    """Flat records as CSV (modalities joined with '+')."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        row = []
        for c in columns:
            v = r.get(c)
            row.append("+".join(v) if isinstance(v, list) else "" if v is None else v)
        writer.writerow(row)
    return buf.getvalue()


def load_experiment(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """experiment.json and results.json of a finished experiment folder."""
    folder = runfolder.require_finished(Path(folder))
    try:
        meta = json.loads((folder / "experiment.json").read_text(encoding="utf-8"))
        records = json.loads((folder / runfolder.RESULTS).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{folder} is not a readable musefuse experiment folder ({exc}).") from None
    return meta, records


__all__ = ["Trial", "ExperimentResult", "run_experiment", "seeds_option", "records_csv", "load_experiment",
           "EXPERIMENT_ENTRIES", "Task"]
