"""`musefuse summarize RUN...`: one table of mean ± std over seeds, grouped by what differs between runs."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from musefuse.cli.common import err, reports_errors, split_csv, stdout
from musefuse.core import fileio
from musefuse.lab.experiments.summary import summarize


@reports_errors
def summarize_cmd(
    runs: list[Path] = typer.Argument(..., help="Finished run folders (results.json + config.yaml); shell globs "
                                      "work: runs/re-seed*"),
    partitions: str = typer.Option("devel,test", help="Partitions to show (train, devel, test)."),
    markdown: Path = typer.Option(None, help="Also write the table as Markdown to this file."),
    csv: Path = typer.Option(None, help="Also write the table as CSV to this file (one row per partition)."),
    as_json: bool = typer.Option(False, "--json", help="Print only the rows as JSON on stdout."),
) -> None:
    """Mean ± std over seeds per stage × modalities × target × partition, one group per setting that differs."""
    summary = summarize(runs, split_csv(partitions) or [])
    for message in summary.warnings:
        err.print(f"warning: {message}", highlight=False)
    if markdown is not None:
        fileio.write_text(markdown, summary.markdown())
    if csv is not None:
        fileio.write_text(csv, summary.csv())
    if as_json:
        print(json.dumps([{**r, "stats": {p: {"mean": s[0], "std": s[1], "n": s[2]} for p, s in r["stats"].items()
                                          if s is not None}} for r in summary.rows], indent=2))
        return
    table = Table(title=f"CCC over seeds: {len(runs)} runs in {len(summary.groups)} group(s)")
    for name in [*(summary.fields or ["runs"]), "stage", "modalities", "target", "model"]:
        table.add_column(name)
    for p in summary.partitions:
        table.add_column(f"{p} (n)", justify="right")
    for r in summary.rows:
        table.add_row(*map(escape, summary.cells(r, sep="±")))  # "[n/a]" is text, not rich markup
    stdout().print(table)
    err.print(f"Groups differ in: {', '.join(summary.fields) or 'nothing (all runs are seeds of one setting)'}")
