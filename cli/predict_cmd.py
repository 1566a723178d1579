"""`musefuse predict`: apply a finished run to new data."""

from __future__ import annotations

import typing
from pathlib import Path

import typer

from musefuse.cli import options as o
from musefuse.cli.common import err, reports_errors
from musefuse.core.config import ExecutionConfig
from musefuse.core.errors import ConfigError
from musefuse.core.runs.runner import predict as predict_run

DEVICES = typing.get_args(ExecutionConfig.model_fields["device"].annotation)  # as for run: auto, cpu, cuda


@reports_errors
def predict(
    run: Path = typer.Option(..., help="A finished run folder."),
    data: Path = typer.Option(
        None, help="Folder with the run's modalities under feature_segments/ (partition file and labels optional; "
        "default: the run's own data)."),
    out: Path = typer.Option(..., help="Where to write <target>/<Id>.csv (timestamp,segment_id,value)."),
    stage: str = typer.Option("fusion", help="fusion | unimodal (then OUT/<modality>/<target>/<Id>.csv)."),
    device: o.Device = None,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace earlier predictions in a non-empty --out."),
    threads: o.Threads = None,
    debug: o.Debug = False,
) -> None:
    """Predict with a finished run's standardisation, auto-encoders and models (labels not needed)."""
    device = device or "auto"
    if device not in DEVICES:
        raise ConfigError(f"--device {device}: unknown device; allowed: {', '.join(DEVICES)}.")
    written = predict_run(run, data, out, stage=stage, device=device, overwrite=overwrite, threads=threads,
                          echo=lambda message: err.print(message, highlight=False, markup=False))
    err.print(f"Predictions written to {written}")
