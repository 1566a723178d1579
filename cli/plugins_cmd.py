"""`musefuse plugins`: what is installed, built-in and third-party."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from musefuse.cli.common import reports_errors, stdout
from musefuse.core.errors import ConfigError
from musefuse.core.plugin_host import KINDS, get_host


@reports_errors
def plugins(
    kind: str = typer.Option(None, "--kind", help="Only this kind: " + ", ".join(KINDS) + "."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list on stdout (nothing else)."),
) -> None:
    """List the modalities, difficulty estimators, fusers and corruptions that are available."""
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}; got '{kind}'.")
    entries = get_host().entries(kind)
    if as_json:
        # print(), not rich: JSON must not be wrapped to the terminal's width.
        print(json.dumps([e.as_json() for e in entries], indent=2))
        return
    table = Table(title="musefuse plugins")
    for column in ("name", "kind", "source", "version", "description"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(e.name, e.kind, e.source, e.version, e.description)
    stdout().print(table)
