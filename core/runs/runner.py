"""`musefuse run` and `musefuse predict` as library calls: data in, run folder out."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from musefuse.core import fileio
from musefuse.core.config import PRESET_COST, RunConfig
from musefuse.core.data.dataset import Dataset
from musefuse.core.data.embedded import data_root
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.data.validate import check_settings
from musefuse.core.errors import ConfigError, DataError, MusefuseError, RunFolderError
from musefuse.core.graph.executor_registry import check_executor, make_executor
from musefuse.core.graph.executors import (
    Reporter,
    SilentReporter,
    apply_threads,
    parallelism,
    run_in_rounds,
)
from musefuse.core.graph.pipeline import Fitted, Outputs, TaskLog, collect, estimator_files, read_difficulty_inputs
from musefuse.core.graph.plan import plan_run
from musefuse.core.graph.store import ArtifactStore, default_store
from musefuse.core.plugin_host import PluginHost, get_host, resolve_aliases
from musefuse.core.runs import runfolder
from musefuse.core.runs.drift import difficulty_drift, drift_table, drift_warnings
from musefuse.core.runs.results import score_records

CONFIG_HEADER = ("# Model fields left null take each modality's registry default; the values\n"
                 "# every model was trained with are listed per model in tasks.json.\n")


def resolve_device(name: str) -> Any:
    """'auto' -> CUDA when present, else CPU; 'cuda' without a GPU is a clear error."""
    import torch

    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("'device': cuda was requested but no CUDA GPU is available (use auto or cpu).")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        torch.backends.cudnn.benchmark = False  # fixed kernels: repeatable runs (cuDNN RNNs are used)
    return torch.device(name)


def _environment(cfg: RunConfig, device: Any, dataset: Dataset) -> dict[str, Any]:
    import torch

    def ver(dist: str) -> str | None:
        try:
            return version(dist)
        except PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "musefuse": ver("musefuse"), "git_commit": commit, "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {d: ver(d) for d in ("torch", "numpy", "pandas", "pydantic", "pluggy", "safetensors")},
        "device": str(device), "cuda_device": torch.cuda.get_device_name(0) if device.type == "cuda" else None,
        "torch_threads": torch.get_num_threads(), "seed": cfg.seed,
        "dataset": {"root": str(dataset.root), "fingerprint": dataset.fingerprint, "folders": dataset.folders,
                    "subjects": {p: len(dataset.partition(p)) for p in ("train", "devel", "test")},
                    "dropped_rows": dataset.report.dropped},
    }


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
    default_modalities = "modalities" not in cfg.model_fields_set
    host = get_host()
    cfg = resolve_aliases(cfg, host)  # one name per modality from here on (run folder, task keys, predict)
    # Unknown plugin names fail here, before any data is read or generated.
    modalities = [host.modality(n) for n in cfg.modalities]
    host.estimator(cfg.estimator)
    host.fuser(cfg.fuser)
    check_executor(cfg)  # a missing extra (ray) fails before any data is read
    if cfg.data is not None and not Path(cfg.data).is_dir():
        raise DataError(f"--data {cfg.data}: data folder not found.")
    device = resolve_device(cfg.device)
    if cfg.gpus_per_task is not None and device.type != "cuda":
        raise ConfigError(f"--gpus-per-task {cfg.gpus_per_task}: the run's device is {device}; "
                          "GPU shares need --device cuda (or auto on a machine with a GPU).")
    cfg = cfg.with_preset(cuda=device.type == "cuda")
    par = parallelism(device.type, cfg.workers, cfg.threads)
    apply_threads(par.threads)
    store = ArtifactStore(cfg.store or default_store())
    out_dir = cfg.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    run = runfolder.prepare(out_dir, cfg.overwrite)
    log = runfolder.RunLog(run / "log.txt", echo)
    try:
        log(f"musefuse run → {run} | device {device} | preset '{cfg.preset}' "
            f"(at most {cfg.epochs} epoch{'s' * (cfg.epochs != 1)}, patience {cfg.patience}, lr schedule "
            f"{cfg.lr_schedule}) | {cfg.rnn or 'bigru'} {cfg.layers or 4}×{cfg.hidden or 64}")
        if cfg.preset in PRESET_COST:
            log(f"preset '{cfg.preset}' {PRESET_COST[cfg.preset]}")
        if default_modalities:
            log(f"modalities: {','.join(cfg.modalities)} (the default; choose with --modalities)")
        how = par.describe() if cfg.executor != "ray" else f"{par.threads} torch thread(s) per task"
        log(f"executor {cfg.executor}: {how} | artifact store {store.root}")
        started = time.perf_counter()
        root = data_root(cfg, log)
        dataset = load_dataset(root, modalities, cfg.targets)
        cfg = cfg.model_copy(update={"data": root.resolve(), "out": run.resolve()})
        fileio.write_text(run / "config.yaml", CONFIG_HEADER + yaml.safe_dump(json.loads(cfg.model_dump_json()),
                                                                                 sort_keys=False))
        for msg in dataset.report.warnings[:20]:
            log(f"data warning: {msg}")
        for msg in check_settings(dataset, label_shift=cfg.label_shift, window=cfg.window, folds=cfg.folds,
                                  out_of_fold="out-of-fold" in (cfg.fusion_train, cfg.difficulty_train)):
            log(f"warning: {msg}")
        stats = standardise(dataset, modalities)
        log(f"data: {len(dataset.subjects)} subjects from {root} (fingerprint {dataset.fingerprint[:12]})")
        fileio.write_json(run / "environment.json", _environment(cfg, device, dataset))

        executor = make_executor(cfg, par, dataset, host, device, store, log)
        tasks = TaskLog(reporter or SilentReporter(), log)
        resolved = cfg
        (plan,), _ = run_in_rounds(lambda decided: [plan_run(resolved, dataset, host, device.type, decided)], store,
                                   executor, tasks)
        fileio.write_json(run / "tasks.json", tasks.entries)
        fitted, outputs = collect(plan, store, cfg, dataset, stats, host, device)
        fitted.save(run)
        write_predictions(run, fitted, outputs)
        if fitted.gives_signal:
            drift = difficulty_drift(outputs.difficulty, [s.partition for s in dataset.subjects])
            fileio.write_json(run / "difficulty_drift.json", {m: d.as_json() for m, d in drift.items()})
            log("difficulty per partition, in train sd units (mean ± sd):\n" + drift_table(drift))
            for warning in drift_warnings(drift):
                log(f"warning: {warning}")
        records = score_records(fitted, outputs, cfg.seed)
        log(f"finished in {time.perf_counter() - started:.0f}s")
        fileio.write_json(run / runfolder.RESULTS, records)  # last: its presence means 'finished'
    except BaseException as exc:
        log.failed(exc)  # log.txt ends with why the run stopped; the folder can be reused as it is
        raise
    finally:
        log.close()
    return run, records


def load_run_config(run: Path) -> RunConfig:
    """The configuration a finished run was trained with; a damaged config.yaml is a RunFolderError."""
    run = runfolder.require_finished(run)
    path = run / "config.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RunFolderError(f"{path} cannot be read ({str(exc).strip().splitlines()[0]}).") from None
    if not isinstance(raw, dict):
        raise RunFolderError(f"{path} is not a musefuse config (a mapping of field: value).")
    try:
        return RunConfig.model_validate(raw)
    except Exception as exc:
        raise RunFolderError(f"{path} cannot be read as a musefuse config: {exc}") from None


def load_fitted(run: Path, cfg: RunConfig, host: PluginHost, device: Any) -> Fitted:
    """A finished run's fitted pipeline, with every checkpoint checked first.

    A damaged run folder (truncated or random safetensors, unreadable or incomplete JSON, tensors
    that do not fit their metadata or each other, NaN weights, a missing plugin) is a
    :class:`RunFolderError` naming the file, never a traceback or a silent NaN prediction.
    """
    run = Path(run)
    _check_checkpoints(run, cfg, host)
    try:
        return Fitted.load(run, cfg, host, device)
    except MusefuseError:
        raise
    except Exception as exc:  # whatever the checks above did not foresee
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise RunFolderError(f"{run}: the run's checkpoints cannot be rebuilt ({type(exc).__name__}: {detail}); "
                             "train the run again.") from None


def _check_checkpoints(run: Path, cfg: RunConfig, host: PluginHost) -> None:
    """Read every checkpoint of ``run`` and check it against the config and the other checkpoints."""
    from musefuse.core.learning.models import model_from_checkpoint

    regressor_re, fusion_re = read_difficulty_inputs(run, cfg, host)

    def part(path: Path, kind: Any = None) -> tuple[dict, dict, Any]:
        tensors, meta = fileio.load_tensors(path)  # names the file when it is unreadable
        try:
            if kind is not None:
                if not isinstance(meta.get("plugin"), str):
                    raise RunFolderError("the metadata lacks the plugin's name ('plugin').")
                kind(meta["plugin"])
            model = model_from_checkpoint(tensors, meta["model"], "cpu") if "model" in meta else None
        except MusefuseError as exc:
            raise RunFolderError(f"{path}.json / .safetensors: {exc}") from None
        return tensors, meta, model

    def expect(path: Path, model: Any, width: int, what: str) -> None:
        if model is not None and model.input_dim != width:
            raise RunFolderError(f"{path}.safetensors: the model takes {model.input_dim} inputs, but {what} "
                                 f"gives {width}; the run folder mixes files of different runs: train it again.")

    def standardisation(stem: str, width: int | None = None) -> int:
        """The width of a standardisation file (checked against ``width`` when given)."""
        path = run / "standardisation" / stem
        tensors, _, _ = part(path)
        mean, std = tensors.get("mean"), tensors.get("std")
        if (mean is None or std is None or mean.ndim != 1 or mean.shape != std.shape or not bool((std > 0).all())
                or width not in (None, mean.shape[0])):
            raise RunFolderError(f"{path}.safetensors: expected 1-D 'mean' and positive 'std' of one width"
                                 f"{'' if width is None else f' ({width}, that of the modality)'}.")
        return int(mean.shape[0])

    for name in cfg.modalities:
        features = standardisation(name)
        width = features + (1 if cfg.missing == "mask" else 0)  # the 'mask' policy adds a column
        for own, stem in estimator_files(cfg, host, name):
            if own is not None:  # a fold estimator's own input scaling
                standardisation(own, width=features)
            path = run / "checkpoints" / stem
            _, _, model = part(path, host.estimator)
            expect(path, model, width, f"modality '{name}' (standardisation/{name}.safetensors)")
        for t in cfg.targets:
            path = run / "checkpoints" / f"regressor-{name}-{t}"
            _, meta, model = part(path)
            if model is None or not isinstance(meta.get("shift"), int):
                raise RunFolderError(f"{path}.json: the metadata lacks 'model' or 'shift'.")
            expect(path, model, width + regressor_re[(name, t)].re, f"modality '{name}'")
    for t in cfg.targets:
        path = run / "checkpoints" / f"fuser-{t}"
        _, _, model = part(path, host.fuser)
        n = len(cfg.modalities)
        expect(path, model, n * (1 + fusion_re[t].re), f"the run's {n} modalities")


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
    import numpy as np

    if stage not in ("fusion", "unimodal"):
        raise ConfigError(f"'stage' must be fusion or unimodal; got '{stage}'.")
    run = Path(run)
    cfg = load_run_config(run)
    if data is None:
        if cfg.data is None:
            raise ConfigError(f"--data: {run / 'config.yaml'} records no data folder; pass --data.")
        data = Path(cfg.data)
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
    echo(f"Loading the run {run} ({', '.join(cfg.modalities)} → {', '.join(cfg.targets)})")
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
