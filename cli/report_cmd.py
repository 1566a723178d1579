"""`musefuse report RUN_OR_EXPERIMENT`: a self-contained HTML page (and Markdown) with figures."""

from __future__ import annotations

from pathlib import Path

import typer

from musefuse.cli.common import err, reports_errors
from musefuse.lab.experiments.report import write_report


@reports_errors
def report(
    folder: Path = typer.Argument(..., help="A finished run folder or experiment folder."),
    out: Path = typer.Option(None, help="Where report.html, report.md and the PNGs go (default: FOLDER/report)."),
) -> None:
    """Write report.html (figures embedded) and report.md: traces, difficulty, CCC bars, or an experiment's table."""
    page = write_report(folder, out)
    err.print(f"Report: {page} (and report.md with its PNGs beside it)")
