"""`musefuse predict`: apply a finished run to new data."""

from __future__ import annotations

from pathlib import Path

import typer

from musefuse.cli.common import err, reports_errors
from musefuse.core.runs.runner import predict as predict_run


@reports_errors
def predict(
    run: Path = typer.Option(..., help="A finished run folder."),
    data: Path = typer.Option(
        None, help="Folder with the run's modalities under feature_segments/ (partition file and labels optional; "
        "default: the run's own data)."),
    out: Path = typer.Option(..., help="Where to write <target>/<Id>.csv (timestamp,segment_id,value)."),
    stage: str = typer.Option("fusion", help="fusion | unimodal (then OUT/<modality>/<target>/<Id>.csv)."),
    device: str = typer.Option("auto", help="auto | cpu | cuda."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace earlier predictions in a non-empty --out."),
    threads: int = typer.Option(None, help="torch CPU threads (default: the cores, printed)."),
) -> None:
    """Predict with a finished run's standardisation, auto-encoders and models (labels not needed)."""
    written = predict_run(run, data, out, stage=stage, device=device, overwrite=overwrite, threads=threads,
                          echo=lambda message: err.print(message, highlight=False, markup=False))
    err.print(f"Predictions written to {written}")
