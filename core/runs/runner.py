"""`musefuse run` and `musefuse predict` as library calls: data in, run folder out."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import yaml

from musefuse.core import fileio
from musefuse.core.config import RunConfig, is_set, updated
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.engine.executors import Reporter, apply_threads, parallelism
from musefuse.core.errors import ConfigError, DataError, RunFolderError
from musefuse.core.method.candidates import STACK
from musefuse.core.method.pipeline import Ensemble, Fitted, Outputs, average_outputs
from musefuse.core.plugin_host import PluginHost, get_host
from musefuse.core.presets import PRESET_COST
from musefuse.core.runs import runfolder
from musefuse.core.runs.checkpoints import ensemble_member, load_fitted, save_fitted
from musefuse.core.runs.drift import difficulty_drift, drift_table, drift_warnings
from musefuse.core.runs.results import score_records
from musefuse.core.runs.session import Session, resolve_device

CONFIG_HEADER = ("# Model fields left null take each modality's registry default; the values\n"
                 "# every model was trained with are listed per model in tasks.json.\n")


def _write_signals(base: Path, outputs: Outputs, series: dict[str, list]) -> None:
    for name, values in series.items():
        for s, v in zip(outputs.subjects, values, strict=True):
            runfolder.write_series(base / name / f"{s.id}.csv", s.timestamps, s.segment_ids, v)


def write_predictions(run: Path, fitted: Fitted, out: Outputs) -> None:
    """predictions/<stage>/<target>/<Id>.csv and difficulty/<modality>/<Id>.csv."""
    for (m, t), preds in out.unimodal.items():
        _write_signals(run / "predictions" / f"unimodal-{m}", out, {t: preds})
    _write_signals(run / "predictions" / "fusion", out, out.fusion)
    if fitted.gives_signal:
        _write_signals(run / "difficulty", out, out.difficulty)


def execute_run(cfg: RunConfig, reporter: Reporter | None = None, echo=lambda _m: None) -> tuple[Path, list[dict]]:
    """Train and evaluate the whole pipeline; returns the run folder and the result records."""
    default_modalities = not is_set(cfg, "modalities")
    out = cfg.output.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    with Session.open([cfg], out, overwrite=cfg.output.overwrite, reporter=reporter, echo=echo) as session:
        cfg, log, run = session.configs[0], session.log, session.folder
        budget, model, decisions = cfg.budget, cfg.model, cfg.method.decisions
        log(f"musefuse run → {run} | device {session.device} | preset '{budget.preset}' "
            f"(at most {budget.epochs} epoch{'s' * (budget.epochs != 1)}, patience {budget.patience}, lr schedule "
            f"{budget.lr_schedule}) | {model.rnn or 'bigru'} {model.layers or 4}×{model.hidden or 64}")
        if cfg.budget.preset in PRESET_COST:
            log(f"preset '{cfg.budget.preset}' {PRESET_COST[cfg.budget.preset]}")
        if default_modalities:
            log(f"modalities: {','.join(cfg.inputs.modalities)} (the default; choose with --modalities)")
        how = (session.par.describe() if cfg.execution.executor != "ray"
               else f"{session.par.threads} torch thread(s) per task")
        log(f"executor {cfg.execution.executor}: {how} | artifact store {session.store.root}")
        if "devel" in (decisions.re_unimodal, decisions.re_fusion) or decisions.unimodal_candidates:
            log("decisions: each regressor's candidates (with and without the RE"
                f"{''.join(', ' + c for c in decisions.unimodal_candidates if c != STACK)}"
                f"{', their average' * decisions.average_candidates}"
                f"{', their stack' * (STACK in decisions.unimodal_candidates)}) "
                "are scored on out-of-fold + devel predictions, each fuser's on devel; a more complex one is kept "
                "only where it wins by more than a subject-bootstrap standard error (decisions.json)")
        session.load()
        cfg = updated(session.configs[0], out=run.resolve())
        fileio.write_text(run / "config.yaml", CONFIG_HEADER + yaml.safe_dump(json.loads(cfg.model_dump_json()),
                                                                                 sort_keys=False))
        configs = [updated(cfg, seed=cfg.execution.seed + k) for k in range(cfg.method.ensemble.ensemble_seeds)]
        if len(configs) > 1:
            log(f"ensemble of {len(configs)} pipelines, seeds {', '.join(str(c.execution.seed) for c in configs)}: "
                "their predictions averaged")
        plans = [session.plan(c) for c in configs]
        session.train(plans)
        members = [session.collect(p, c) for p, c in zip(plans, configs, strict=True)]
        if len(members) == 1:
            (fitted, outputs), = members
            save_fitted(fitted, run, session.host)
        else:  # each member in a run folder layout of its own; the run's outputs are their mean
            fitted, outputs = Ensemble([f for f, _ in members]), average_outputs([o for _, o in members])
            for member, c in zip(fitted.members, configs, strict=True):
                save_fitted(member, ensemble_member(run, c.execution.seed), session.host)
        for member, _ in members:
            for decision in [*member.unimodal_decisions.values(), *member.fusion_decisions.values()]:
                for note in decision.notes:
                    log(f"warning: seed {member.config.execution.seed}: {decision.decision}: {note}")
        write_predictions(run, fitted, outputs)
        if fitted.gives_signal:
            drift = difficulty_drift(outputs.difficulty, [s.partition for s in session.dataset.subjects])
            fileio.write_json(run / "difficulty_drift.json", {m: d.as_json() for m, d in drift.items()})
            log("difficulty per partition, in train sd units (mean ± sd):\n" + drift_table(drift))
            for warning in drift_warnings(drift):
                log(f"warning: {warning}")
        records = score_records(fitted, outputs, cfg.execution.seed)
        runfolder.seal(run)  # manifest.json: checksums of what predict reads
        session.finish(records)
    return run, records


def load_run_config(run: Path, echo=lambda _m: None) -> RunConfig:
    """The configuration a finished run was trained with, once the folder is checked against its manifest
    (runfolder.verify; ``echo`` gets its note on a folder older than manifests); a damaged config.yaml is a
    RunFolderError naming the release that wrote it."""
    run = runfolder.require_finished(run)
    note = runfolder.verify(run)
    if note:
        echo(note)
    path, by = run / "config.yaml", f"(written by {runfolder.written_by(run)})"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RunFolderError(f"{path} cannot be read ({str(exc).strip().splitlines()[0]}) {by}.") from None
    if not isinstance(raw, dict):
        raise RunFolderError(f"{path} is not a musefuse config (a mapping of field: value) {by}.")
    try:
        return RunConfig.model_validate(raw)
    except Exception as exc:
        raise RunFolderError(f"{path} {by} cannot be read as a musefuse config: {exc}") from None


def predict(run: Path, data: Path | None, out: Path, stage: str = "fusion", device: str = "auto",
            overwrite: bool = False, host: PluginHost | None = None, echo=lambda _m: None,
            threads: int | None = None) -> Path:
    """Apply a finished run to a MuSe-layout folder; writes OUT/<target>/<Id>.csv (submission layout).

    New data needs only the run's modalities' feature files: a partition file is optional (any
    partition names; without one every subject with a feature file is predicted) and labels are
    not read. ``data=None`` predicts on the run's own data. With ``stage='unimodal'``, writes
    OUT/<modality>/<target>/<Id>.csv instead. ``echo`` receives one line per step (progress).
    ``threads``: torch threads (default: as for a run's workers, see executors.parallelism).
    """
    if stage not in ("fusion", "unimodal"):
        raise ConfigError(f"'stage' must be fusion or unimodal; got '{stage}'.")
    run = Path(run)
    cfg = load_run_config(run, echo)
    if data is None:
        if cfg.inputs.data is None:
            raise ConfigError(f"--data: {run / 'config.yaml'} records no data folder; pass --data.")
        data = Path(cfg.inputs.data)
        echo(f"No --data given: predicting on the run's own data, {data}")
    data = Path(data)
    if not data.is_dir():
        raise DataError(f"--data {data}: data folder not found.")
    protected = {"--run": run, "--data": data}
    runfolder.prepare_predictions(Path(out), overwrite, protected, dry_run=True)  # refuse before any work
    host = host or get_host()
    dev = resolve_device(device)
    # One process predicts: every core for it on CPU, but never more threads than cores (the GRU
    # waits at OpenMP barriers; an oversubscribed machine made predict 35x slower).
    par = parallelism(dev.type, 1, threads)
    apply_threads(par.threads)
    echo(f"device {dev} | {par.threads} torch thread{'s' * (par.threads > 1)}")
    echo(f"Loading the run {run} ({', '.join(cfg.inputs.modalities)} → {', '.join(cfg.inputs.targets)})")
    fitted = load_fitted(run, cfg, host, dev)
    echo(f"Reading {data}")
    dataset = load_dataset(data, fitted.modalities, targets=[], require_labels_for=(), for_training=False)
    for m in fitted.modalities:
        trained = int(fitted.stats[m.name].mean.shape[0])
        width = dataset.subjects[0].features[m.name].shape[1]
        if width != trained:
            raise DataError(f"{data / 'feature_segments' / dataset.folders[m.name]}: {width} feature columns, but "
                            f"the run was trained on {trained} for modality '{m.name}'.")
    for message in dataset.report.warnings[:10]:
        echo(f"data warning: {message}")
    standardise(dataset, fitted.modalities, stats=fitted.stats)
    subjects = [s for s in dataset.subjects if len(s.timestamps)]
    for s in dataset.subjects:
        if not len(s.timestamps):
            echo(f"data warning: subject '{s.id}' has no feature rows in any modality; its files will be empty.")
    steps = sum(len(s.timestamps) for s in subjects)
    echo(f"Predicting {len(subjects)} subject(s), {steps} steps ({stage})")
    outputs = fitted.apply(subjects, stage=stage) if subjects else None
    series = {} if outputs is None else (
        {("", t): v for t, v in outputs.fusion.items()} if stage == "fusion" else outputs.unimodal)
    for (m, t), values in series.items():
        for s, v in zip(subjects, values, strict=True):
            if not np.isfinite(v).all():
                raise RunFolderError(f"{run}: the {m or 'fusion'} prediction of '{t}' for subject '{s.id}' is NaN or "
                                     "inf although the data are finite; the run's models are damaged.")
    target = runfolder.prepare_predictions(Path(out), overwrite, protected)
    empty = Outputs([s for s in dataset.subjects if not len(s.timestamps)])
    for (m, t), values in series.items():
        base = target / m if m else target
        _write_signals(base, outputs, {t: values})
        _write_signals(base, empty, {t: [np.zeros(0, np.float32)] * len(empty.subjects)})
    echo(f"Wrote {len(series) * len(dataset.subjects)} file(s) under {target}")
    return target
