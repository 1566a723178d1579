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

from musefuse.core.runs import runfolder
from musefuse.core.config import RunConfig
from musefuse.core.data.dataset import Dataset
from musefuse.core.errors import ConfigError, DataError, RunFolderError
from musefuse.core.data.loader import load_dataset, standardise
from musefuse.core.graph.pipeline import Fitted, Outputs, Reporter, train
from musefuse.core.plugins import PluginHost, get_host
from musefuse.core.runs.results import score_records


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


def data_root(cfg: RunConfig, echo=lambda _m: None) -> Path:
    """The configured data folder, or the embedded synthetic dataset (generated on first use)."""
    if cfg.data is not None:
        return Path(cfg.data)
    from musefuse.lab.synth import MODALITIES, default_dataset

    echo("No --data given: using the embedded synthetic Ulm-TSST-like dataset (generated once, then cached).")
    # Generate only the built-in feature sets this run needs; a third-party modality has no synthetic twin.
    return default_dataset(modalities=[m for m in cfg.modalities if m in MODALITIES] or None)


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
    import torch

    host = get_host()
    # Unknown plugin names fail here, before any data is read or generated.
    modalities = [host.modality(n) for n in cfg.modalities]
    host.estimator(cfg.estimator)
    host.fuser(cfg.fuser)
    if cfg.data is not None and not Path(cfg.data).is_dir():
        raise DataError(f"--data {cfg.data}: data folder not found.")
    device = resolve_device(cfg.device)
    cfg = cfg.with_preset(cuda=device.type == "cuda")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out_dir = cfg.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    run = runfolder.prepare(out_dir, cfg.overwrite)
    log = runfolder.RunLog(run / "log.txt", echo)
    try:
        log(f"musefuse run → {run} | device {device} | preset '{cfg.preset}' "
            f"(≤{cfg.epochs} epochs, patience {cfg.patience}) | {cfg.rnn or 'bigru'} "
            f"{cfg.layers or 4}×{cfg.hidden or 64}")
        started = time.perf_counter()
        root = data_root(cfg, log)
        dataset = load_dataset(root, modalities, cfg.targets)
        cfg = cfg.model_copy(update={"data": root.resolve(), "out": run.resolve()})
        runfolder.write_text(run / "config.yaml", yaml.safe_dump(json.loads(cfg.model_dump_json()), sort_keys=False))
        for msg in dataset.report.warnings[:20]:
            log(f"data warning: {msg}")
        stats = standardise(dataset, modalities)
        log(f"data: {len(dataset.subjects)} subjects from {root} (fingerprint {dataset.fingerprint[:12]})")
        runfolder.write_json(run / "environment.json", _environment(cfg, device, dataset))

        fitted, outputs = train(cfg, dataset, stats, host, device, reporter, log)
        fitted.save(run)
        write_predictions(run, fitted, outputs)
        records = score_records(fitted, outputs, cfg.seed)
        log(f"finished in {time.perf_counter() - started:.0f}s")
        runfolder.write_json(run / runfolder.RESULTS, records)  # last: its presence means 'finished'
    finally:
        log.close()
    return run, records


def load_run_config(run: Path) -> RunConfig:
    run = runfolder.require_finished(run)
    try:
        return RunConfig.model_validate(yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")))
    except Exception as exc:
        raise RunFolderError(f"{run / 'config.yaml'} cannot be read as a musefuse config: {exc}") from None


def predict(run: Path, data: Path, out: Path, stage: str = "fusion", device: str = "auto",
            overwrite: bool = False, host: PluginHost | None = None) -> Path:
    """Apply a finished run to a MuSe-layout folder; writes OUT/<target>/<Id>.csv (submission layout).

    Only the run's modalities' feature files and a partition file are needed; labels are optional.
    With ``stage='unimodal'``, writes OUT/<modality>/<target>/<Id>.csv instead.
    """
    if stage not in ("fusion", "unimodal"):
        raise ConfigError(f"'stage' must be fusion or unimodal; got '{stage}'.")
    cfg = load_run_config(run)
    host = host or get_host()
    dev = resolve_device(device)
    fitted = Fitted.load(Path(run), cfg, host, dev)
    if not Path(data).is_dir():
        raise DataError(f"{data}: data folder not found.")
    dataset = load_dataset(Path(data), fitted.modalities, targets=[], require_labels_for=())
    standardise(dataset, fitted.modalities, stats=fitted.stats)
    outputs = fitted.apply(dataset.subjects, stage=stage)
    target = runfolder.prepare(Path(out), overwrite)
    if stage == "fusion":
        _write_signals(target, outputs, outputs.fusion)
    else:
        for (m, t), preds in outputs.unimodal.items():
            _write_signals(target / m, outputs, {t: preds})
    return target

